//go:build mage

// Build targets for provisiond (https://magefile.org): `mage build` builds the daemon for
// this platform into bin/, `mage release` for linux, darwin and windows (amd64, arm64)
// into dist/, `mage test` runs the tests as CI does. Without mage installed:
// `go run github.com/magefile/mage@v1.17.2 build`.
package main

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	build "github.com/grafana/grafana-plugin-sdk-go/build"
	"github.com/magefile/mage/mg"
	"github.com/magefile/mage/sh"
)

// Default target.
var Default = Build

func version() string {
	if v := os.Getenv("VERSION"); v != "" {
		return v
	}
	out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(out))
}

func buildDaemon(goos, goarch, out string) error {
	env := map[string]string{"GOOS": goos, "GOARCH": goarch, "CGO_ENABLED": "0"}
	ldflags := "-s -w -X main.version=" + version()
	fmt.Printf("building %s\n", out)
	return sh.RunWith(env, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./cmd/provisiond")
}

// Build builds the daemon for this platform into bin/provisiond.
func Build() error {
	name := "provisiond"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return buildDaemon(runtime.GOOS, runtime.GOARCH, filepath.Join("bin", name))
}

// Release builds the daemon for linux, darwin and windows on amd64 and arm64 into dist/.
func Release() error {
	for _, p := range []struct{ os, arch string }{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}, {"windows", "amd64"}, {"windows", "arm64"}} {
		name := fmt.Sprintf("provisiond_%s_%s", p.os, p.arch)
		if p.os == "windows" {
			name += ".exe"
		}
		if err := buildDaemon(p.os, p.arch, filepath.Join("dist", name)); err != nil {
			return err
		}
	}
	return nil
}

// Test runs gofmt, go vet and the tests with the race detector.
func Test() error {
	mg.Deps(Vet)
	return sh.RunV("go", "test", "-race", "-count=1", "./...")
}

// Vet runs go vet.
func Vet() error { return sh.RunV("go", "vet", "./...") }

// Proto regenerates the Go code of the connector plugin protocol
// (connectors/plugin/proto/connector.proto) and records the .proto's SHA-256 beside it (a
// test fails when the .proto changed without regenerating). It needs protoc: on Debian,
// `apt-get install -y --no-install-recommends protobuf-compiler`. protoc-gen-go comes from
// the google.golang.org/protobuf version in go.mod, protoc-gen-go-grpc at a pinned version;
// both are built into a temporary directory. CI does not regenerate.
func Proto() error {
	if _, err := exec.LookPath("protoc"); err != nil {
		return fmt.Errorf("protoc not found: install it (Debian: apt-get install -y --no-install-recommends protobuf-compiler)")
	}
	tmp, err := os.MkdirTemp("", "provisiond-protoc-gen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := sh.Run("go", "build", "-o", filepath.Join(tmp, "protoc-gen-go"), "google.golang.org/protobuf/cmd/protoc-gen-go"); err != nil {
		return err
	}
	if err := sh.RunWith(map[string]string{"GOBIN": tmp}, "go", "install", "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2"); err != nil {
		return err
	}
	const dir = "connectors/plugin/proto"
	err = sh.RunV("protoc", "-I", dir,
		"--plugin=protoc-gen-go="+filepath.Join(tmp, "protoc-gen-go"),
		"--plugin=protoc-gen-go-grpc="+filepath.Join(tmp, "protoc-gen-go-grpc"),
		"--go_out="+dir, "--go_opt=paths=source_relative",
		"--go-grpc_out="+dir, "--go-grpc_opt=paths=source_relative",
		"connector.proto")
	if err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(dir, "connector.proto"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "connector.proto.sha256"), []byte(fmt.Sprintf("%x\n", sha256.Sum256(src))), 0o644)
}

// Clean removes bin/ and dist/.
func Clean() error {
	for _, d := range []string{"bin", "dist"} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return nil
}

// Plugin builds and packages the Grafana datasource plugin in datasource/
// (docs/datasource.md): `mage plugin:build`, `mage plugin:package`.
type Plugin mg.Namespace

// The plugin's folders and id (datasource/plugin.json).
const (
	pluginDir  = "datasource"
	pluginDist = "datasource/dist"
	pluginID   = "provisiond-provisioning-datasource"
)

// pluginVersion is datasource/plugin.json's info.version.
func pluginVersion() (string, error) {
	raw, err := os.ReadFile(filepath.Join(pluginDir, "plugin.json"))
	if err != nil {
		return "", err
	}
	var pj struct {
		Info struct {
			Version string `json:"version"`
		} `json:"info"`
	}
	if err := json.Unmarshal(raw, &pj); err != nil || pj.Info.Version == "" {
		return "", fmt.Errorf("%s/plugin.json: no info.version (%v)", pluginDir, err)
	}
	return pj.Info.Version, nil
}

// Build builds the plugin's backend with the SDK's build package (static, CGO off,
// arrow_json_stdlib) into datasource/dist/: gpx_provisiond_linux_amd64, _linux_arm64,
// _darwin_amd64, _darwin_arm64 and _windows_amd64.exe, plus go_plugin_build_manifest.
func (Plugin) Build() error {
	v, err := pluginVersion()
	if err != nil {
		return err
	}
	info, _ := json.Marshal(map[string]any{"time": time.Now().UnixMilli(), "pluginID": pluginID, "version": v})
	if err := build.SetBeforeBuildCallback(func(cfg build.Config) (build.Config, error) {
		cfg.PluginJSONPath, cfg.RootPackagePath, cfg.OutputBinaryPath = pluginDir, "./"+pluginDir+"/pkg", pluginDist
		cfg.CustomVars = map[string]string{
			"main.version": v,
			"github.com/provisiond/provisiond/datasource/pkg/plugin.Version":         v,
			"github.com/grafana/grafana-plugin-sdk-go/build/buildinfo.buildInfoJSON": string(info),
		}
		return cfg, nil
	}); err != nil {
		return err
	}
	b := build.Build{}
	for _, target := range []func() error{b.Linux, b.LinuxARM64, b.Darwin, b.DarwinARM64, b.Windows} {
		if err := target(); err != nil {
			return err
		}
	}
	return nil
}

// Package builds the backend and zips the plugin as
// dist/provisiond-provisioning-datasource-<version>.zip: one folder
// provisiond-provisioning-datasource/ holding
// datasource/dist/* (module.js of the frontend build, the binaries), plugin.json, img/,
// the bundled dashboards (dashboards/*.json) and LICENSE — unzipped into Grafana's plugin
// folder it loads (unsigned: allow_loading_unsigned_plugins). The frontend must be built
// first (datasource/dist/module.js: bash .ci/frontend.sh, or npm ci && npm run build in
// datasource/).
func (Plugin) Package() error {
	mg.Deps(Plugin.Build)
	if _, err := os.Stat(filepath.Join(pluginDist, "module.js")); err != nil {
		return fmt.Errorf("%s/module.js is missing: build the frontend first (bash .ci/frontend.sh, or cd datasource && npm ci && npm run build)", pluginDist)
	}
	v, err := pluginVersion()
	if err != nil {
		return err
	}
	// Archive path → source file. plugin.json, img/ and the dashboards come from their
	// sources (the frontend build copies them into dist/ too).
	files := map[string]string{}
	add := func(root, prefix string) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files[filepath.ToSlash(filepath.Join(prefix, rel))] = p
			return nil
		})
	}
	if err := add(pluginDist, ""); err != nil {
		return err
	}
	if err := add(filepath.Join(pluginDir, "img"), "img"); err != nil {
		return err
	}
	files["plugin.json"], files["LICENSE"] = filepath.Join(pluginDir, "plugin.json"), "LICENSE"
	dashboards, _ := filepath.Glob(filepath.Join("dashboards", "*.json"))
	for _, d := range dashboards {
		files["dashboards/"+filepath.Base(d)] = d
	}
	var includes struct {
		Includes []struct {
			Path string `json:"path"`
		} `json:"includes"`
	}
	raw, _ := os.ReadFile(filepath.Join(pluginDir, "plugin.json"))
	_ = json.Unmarshal(raw, &includes)
	for _, inc := range includes.Includes {
		if _, ok := files[inc.Path]; !ok {
			fmt.Printf("warning: plugin.json includes %s, which does not exist yet\n", inc.Path)
		}
	}
	out := filepath.Join("dist", pluginID+"-"+v+".zip")
	if err := os.MkdirAll("dist", 0o755); err != nil {
		return err
	}
	if err := writePluginZip(out, pluginID, files); err != nil {
		return err
	}
	fmt.Printf("packaged %s (%d files)\n", out, len(files))
	return nil
}

// writePluginZip writes files (archive path → source) under folder into a zip, keeping
// the executables' mode.
func writePluginZip(out, folder string, files map[string]string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw := zip.NewWriter(f)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		src := files[name]
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		h, err := zip.FileInfoHeader(fi)
		if err != nil {
			return err
		}
		h.Name, h.Method = folder+"/"+name, zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		r, err := os.Open(src)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, r)
		r.Close()
		if err != nil {
			return err
		}
	}
	return zw.Close()
}
