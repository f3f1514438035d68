//go:build mage

// Build targets for provisiond (https://magefile.org): `mage build` builds the daemon for
// this platform into bin/, `mage release` for linux, darwin and windows (amd64, arm64)
// into dist/, `mage test` runs the tests as CI does. Without mage installed:
// `go run github.com/magefile/mage@v1.17.2 build`.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

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

// Clean removes bin/ and dist/.
func Clean() error {
	for _, d := range []string{"bin", "dist"} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return nil
}
