package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/datasource/pkg/framecheck"
	"github.com/provisiond/provisiond/datasource/pkg/plugin"
)

// executable is the plugin's binary for this platform (plugin.json executable + _os_arch).
var executable = "gpx_provisiond_" + runtime.GOOS + "_" + runtime.GOARCH

// pluginBinary is the plugin executable: the one in $PROVISIOND_PLUGIN_ZIP (mage
// plugin:package's zip, unzipped into a plugins folder as an admin would),
// $PROVISIOND_PLUGIN_BINARY (mage plugin:build's datasource/dist/gpx_provisiond_<os>_<arch>),
// or built here as the SDK's build package builds it (static, arrow_json_stdlib).
func pluginBinary(t *testing.T) string {
	t.Helper()
	if z := os.Getenv("PROVISIOND_PLUGIN_ZIP"); z != "" {
		dir := filepath.Join(t.TempDir(), "plugins")
		if err := unzip(z, dir); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, plugin.ID, executable)
	}
	if p := os.Getenv("PROVISIOND_PLUGIN_BINARY"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	out := filepath.Join(t.TempDir(), executable)
	cmd := exec.Command("go", "build", "-tags", "arrow_json_stdlib", "-ldflags", "-w -s", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// lockedBuffer collects the plugin's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// grafanaClient starts the plugin exactly as Grafana's plugin loader does
// (grafana/grafana pkg/plugins/backendplugin/grpcplugin client.go): the SDK's handshake
// (protocol 2, magic cookie grafana_plugin_type=datasource, set in the child's environment
// by go-plugin), the v2 plugin set, gRPC only, and Grafana's environment variables.
func grafanaClient(t *testing.T, bin string, stderr io.Writer) *goplugin.Client {
	t.Helper()
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		// Grafana runs a plugin standalone only when this is set; it never is here.
		if !strings.HasPrefix(kv, "GF_PLUGIN_GRPC_ADDRESS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GF_VERSION=12.3.0", "GF_EDITION=oss", "GF_APP_URL=http://localhost:3000/",
		"GF_PLUGIN_VERSION=0.1.0", "GF_INSTANCE_OTLP_ADDRESS=")
	c := goplugin.NewClient(&goplugin.ClientConfig{
		Cmd: cmd,
		HandshakeConfig: goplugin.HandshakeConfig{ProtocolVersion: grpcplugin.ProtocolVersion,
			MagicCookieKey: grpcplugin.MagicCookieKey, MagicCookieValue: grpcplugin.MagicCookieValue},
		VersionedPlugins: map[int]goplugin.PluginSet{grpcplugin.ProtocolVersion: {
			"diagnostics": &grpcplugin.DiagnosticsGRPCPlugin{},
			"resource":    &grpcplugin.ResourceGRPCPlugin{},
			"data":        &grpcplugin.DataGRPCPlugin{},
			"stream":      &grpcplugin.StreamGRPCPlugin{},
		}},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Output: stderr, Level: hclog.Debug, Name: "grafana"}),
		Stderr:           stderr,
		StartTimeout:     time.Minute,
	})
	t.Cleanup(c.Kill)
	return c
}

// TestHandshake builds the real plugin binary and drives it through Grafana's go-plugin
// handshake against a provisiond stack with demo data: CheckHealth, CallResource and
// QueryData of every query type. PROVISIOND_PLUGIN_E2E=1 runs it (.ci/datasource.sh).
func TestHandshake(t *testing.T) {
	if os.Getenv("PROVISIOND_PLUGIN_E2E") == "" {
		t.Skip("set PROVISIOND_PLUGIN_E2E=1 to build the plugin binary and drive it through the go-plugin handshake")
	}
	bin := pluginBinary(t)
	s := apitest.Start(t, apitest.Options{})
	s.Churn(t, "demo")
	s.Quarantine(t, "sales")

	var stderr lockedBuffer
	start := time.Now()
	c := grafanaClient(t, bin, &stderr)
	rpc, err := c.Client()
	if err != nil {
		t.Fatalf("handshake: %v\nplugin stderr:\n%s", err, stderr.String())
	}
	if c.NegotiatedVersion() != grpcplugin.ProtocolVersion || c.Protocol() != goplugin.ProtocolGRPC {
		t.Fatalf("negotiated protocol %s version %d", c.Protocol(), c.NegotiatedVersion())
	}
	dispense := func(name string) any {
		raw, err := rpc.Dispense(name)
		if err != nil {
			t.Fatalf("dispense %s: %v", name, err)
		}
		return raw
	}
	diag := dispense("diagnostics").(grpcplugin.DiagnosticsClient)
	res := dispense("resource").(grpcplugin.ResourceClient)
	dataClient := dispense("data").(grpcplugin.DataClient)
	handshake := time.Since(start)

	raw, _ := json.Marshal(map[string]any{"apiUrl": s.URL})
	settings := backend.DataSourceInstanceSettings{ID: 7, UID: "ds-e2e", Name: "provisiond", JSONData: raw,
		DecryptedSecureJSONData: map[string]string{"apiToken": apitest.ReaderToken}, Updated: time.Now()}
	pc := backend.PluginContext{OrgID: 1, PluginID: plugin.ID, DataSourceInstanceSettings: &settings,
		GrafanaConfig: backend.NewGrafanaCfg(map[string]string{})}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// CheckHealth.
	calls := time.Now()
	hr, err := diag.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: backend.ToProto().PluginContext(pc)})
	if err != nil {
		t.Fatal(err)
	}
	health := backend.FromProto().CheckHealthResponse(hr)
	if health.Status != backend.HealthStatusOk || !strings.Contains(health.Message, "2 job(s)") {
		t.Fatalf("health: %s %s", health.Status, health.Message)
	}

	// CallResource.
	for path, want := range map[string]string{"jobs": `"id":"demo"`, "identities?query=E00000&jobId=demo": `"label":`} {
		u, _, _ := strings.Cut(path, "?")
		stream, err := res.CallResource(ctx, &pluginv2.CallResourceRequest{PluginContext: backend.ToProto().PluginContext(pc),
			Path: u, Method: "GET", Url: path})
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		status := 0
		for {
			r, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Code != 0 {
				status = int(r.Code)
			}
			body = append(body, r.Body...)
		}
		if status != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
	}

	// QueryData: every query type in one request, as a dashboard sends it.
	panels := map[string]string{
		plugin.TypeStatus: "table", plugin.TypeQuarantine: "stat", plugin.TypeProgress: "timeseries",
		plugin.TypeEventCounts: "timeseries", plugin.TypeEvents: "logs", plugin.TypeTopErrors: "table",
		plugin.TypeCycles: "table", plugin.TypeUserPath: "traces", plugin.TypeHistory: "logs",
		plugin.TypeJobs: "table", plugin.TypeIdentities: "table", plugin.TypeStatusChanges: "table",
		plugin.TypeStatusTimeline: "state-timeline", plugin.TypeProperties: "table",
	}
	models := map[string]string{
		plugin.TypeEventCounts: `,"groupBy":["jobId","status"]`, plugin.TypeEvents: `,"limit":200`,
		plugin.TypeUserPath: `,"identity":"E000001","jobId":"demo"`, plugin.TypeHistory: `,"identity":"E000001"`,
		plugin.TypeIdentities: `,"query":"E0000"`, plugin.TypeProperties: `,"identity":"E000001"`,
	}
	now := time.Now()
	req := &backend.QueryDataRequest{PluginContext: pc}
	for _, qt := range plugin.QueryTypes {
		req.Queries = append(req.Queries, backend.DataQuery{RefID: qt, QueryType: qt, Interval: time.Minute, MaxDataPoints: 500,
			TimeRange: backend.TimeRange{From: now.Add(-time.Hour), To: now},
			JSON:      json.RawMessage(`{"queryType":"` + qt + `"` + models[qt] + `}`)})
	}
	start = time.Now()
	qr, err := dataClient.QueryData(ctx, backend.ToProto().QueryDataRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := backend.FromProto().QueryDataResponse(qr)
	if err != nil {
		t.Fatal(err)
	}
	queryTime := time.Since(start)
	for _, qt := range plugin.QueryTypes {
		r := resp.Responses[qt]
		if r.Error != nil {
			t.Fatalf("%s: %v", qt, r.Error)
		}
		if err := framecheck.ForPanel(panels[qt], r.Frames); err != nil {
			t.Fatalf("%s: %v", qt, err)
		}
		if qt == plugin.TypeQuarantine || qt == plugin.TypeEventCounts {
			if _, err := framecheck.Alertable(r.Frames); err != nil {
				t.Fatalf("%s: %v", qt, err)
			}
		}
	}
	t.Logf("handshake %v; CheckHealth, 2 resource calls and %d queries %v (the queries %v)", handshake.Round(time.Millisecond),
		len(req.Queries), time.Since(calls).Round(time.Millisecond), queryTime.Round(time.Millisecond))

	c.Kill()
	if strings.Contains(stderr.String(), apitest.ReaderToken) {
		t.Fatal("the plugin logged the API token")
	}
}

// unzip extracts a zip into dir, keeping file modes (as unzip(1) does).
func unzip(zipPath, dir string) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("zip entry %q leaves the folder", f.Name)
		}
		if f.FileInfo().IsDir() {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		r, err := f.Open()
		if err != nil {
			return err
		}
		w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, f.Mode().Perm())
		if err == nil {
			_, err = io.Copy(w, r)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// TestPackage checks the zip of mage plugin:package ($PROVISIOND_PLUGIN_ZIP): one folder
// named after the plugin id holding plugin.json (this plugin's id and executable),
// module.js, the logo, an executable binary per platform and every bundled dashboard whose
// source exists (dashboards/*.json).
func TestPackage(t *testing.T) {
	z := os.Getenv("PROVISIOND_PLUGIN_ZIP")
	if z == "" {
		t.Skip("set PROVISIOND_PLUGIN_ZIP to the zip of mage plugin:package")
	}
	zr, err := zip.OpenReader(z)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		name, ok := strings.CutPrefix(f.Name, plugin.ID+"/")
		if !ok {
			t.Fatalf("zip entry %q is outside the folder %s/", f.Name, plugin.ID)
		}
		entries[name] = f
	}
	for _, name := range []string{"plugin.json", "module.js", "img/logo.svg", "LICENSE"} {
		if entries[name] == nil {
			t.Errorf("the zip lacks %s", name)
		}
	}
	for _, p := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64", "windows_amd64.exe"} {
		f := entries["gpx_provisiond_"+p]
		if f == nil {
			t.Errorf("the zip lacks gpx_provisiond_%s", p)
		} else if f.Mode().Perm()&0o111 == 0 {
			t.Errorf("gpx_provisiond_%s is not executable (%v)", p, f.Mode())
		}
	}
	r, err := entries["plugin.json"].Open()
	if err != nil {
		t.Fatal(err)
	}
	var pj struct {
		ID, Type, Executable    string
		Backend, Alerting, Logs bool
		Tracing                 bool
		Includes                []struct{ Type, Name, Path string }
		Info                    struct{ Version string }
		Dependencies            struct{ GrafanaDependency string }
	}
	err = json.NewDecoder(r).Decode(&pj)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if pj.ID != plugin.ID || pj.Type != "datasource" || pj.Executable != "gpx_provisiond" || !pj.Backend || !pj.Alerting ||
		!pj.Logs || !pj.Tracing || pj.Dependencies.GrafanaDependency == "" {
		t.Errorf("plugin.json: %+v", pj)
	}
	if !strings.HasSuffix(z, plugin.ID+"-"+pj.Info.Version+".zip") {
		t.Errorf("zip %s is not named after version %s", z, pj.Info.Version)
	}
	for _, inc := range pj.Includes {
		src := filepath.Join("..", "..", filepath.FromSlash(inc.Path))
		if _, err := os.Stat(src); err != nil {
			t.Logf("bundled dashboard %s is not written yet (%s)", inc.Path, src)
			continue
		}
		if entries[inc.Path] == nil {
			t.Errorf("the zip lacks the bundled dashboard %s", inc.Path)
		}
	}
}

// TestPluginJSON checks datasource/plugin.json against the backend: the id Manage serves,
// the executable the build names, the capabilities the handlers implement, the logo and
// the includes' form.
func TestPluginJSON(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "plugin.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pj struct {
		ID, Type, Name, Executable                string
		Backend, Alerting, Logs, Tracing, Metrics bool
		Info                                      struct {
			Version, Updated string
			Logos            struct{ Small, Large string }
			Author           struct{ Name string }
		}
		Includes     []struct{ Type, Name, Path string }
		Dependencies struct{ GrafanaDependency string }
	}
	if err := json.Unmarshal(raw, &pj); err != nil {
		t.Fatal(err)
	}
	if pj.ID != plugin.ID || pj.Type != "datasource" || pj.Name != "provisiond" || pj.Executable != "gpx_provisiond" {
		t.Errorf("plugin.json id/type/name/executable: %q %q %q %q", pj.ID, pj.Type, pj.Name, pj.Executable)
	}
	if !pj.Backend || !pj.Alerting || !pj.Logs || !pj.Tracing || !pj.Metrics {
		t.Errorf("plugin.json capabilities: %+v", pj)
	}
	if pj.Info.Version == "" || pj.Info.Author.Name == "" || pj.Dependencies.GrafanaDependency == "" {
		t.Errorf("plugin.json info: %+v, grafanaDependency %q", pj.Info, pj.Dependencies.GrafanaDependency)
	}
	if _, err := time.Parse(time.DateOnly, pj.Info.Updated); err != nil {
		t.Errorf("info.updated: %v", err)
	}
	for _, logo := range []string{pj.Info.Logos.Small, pj.Info.Logos.Large} {
		if logo != "img/logo.svg" {
			t.Errorf("logo %q", logo)
		}
	}
	want := []string{"dashboards/overview.json", "dashboards/quarantine.json", "dashboards/troubleshooting.json", "dashboards/prometheus-overview.json"}
	if len(pj.Includes) != len(want) {
		t.Fatalf("includes: %+v", pj.Includes)
	}
	for i, inc := range pj.Includes {
		if inc.Type != "dashboard" || inc.Name == "" || inc.Path != want[i] {
			t.Errorf("include %d: %+v, want a dashboard at %s", i, inc, want[i])
		}
	}
}
