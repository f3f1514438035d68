package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// Secret values of the valid configuration; none may show in its JSON or printed forms.
var validSecrets = map[string]string{
	"PROVISIOND_READER_TOKEN":         "reader-7f3a9c1e",
	"SF_TOKEN":                        "sf-bearer-0b5d2e8a",
	"ZD_PASSWORD":                     "zd-pass-91c4f0d2",
	"LDAP_PASSWORD":                   "ldap-bind-3c9e71f4",
	"secrets/admin-token":             "admin-3e8b7d10",
	"secrets/workday-client-secret":   "wd-client-5a6f2c77",
	"tls/client-key.pem (never read)": "",
}

// validDir lays out the files valid.yaml refers to in a temporary directory and returns
// the path of valid.yaml there.
func validDir(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return layout(t, string(data))
}

// layout writes config as valid.yaml into a temporary directory, with the secret, TLS and
// plugin files valid.yaml refers to, and returns its path.
func layout(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"valid.yaml":                    config,
		"secrets/admin-token":           validSecrets["secrets/admin-token"] + "\n",
		"secrets/workday-client-secret": "  " + validSecrets["secrets/workday-client-secret"] + "\n\n",
		"tls/ca.pem":                    "ca\n",
		"tls/client.pem":                "cert\n",
		"tls/client-key.pem":            "key\n",
		"plugins/provisiond-ldap":       "#!/bin/sh\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "plugins/provisiond-ldap"), 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "valid.yaml")
}

func validEnv(name string) (string, bool) {
	if strings.Contains(name, "/") {
		return "", false
	}
	v, ok := validSecrets[name]
	return v, ok
}

// TestValidGolden parses the complete example and compares its JSON with the golden file
// (go test ./config -run TestValidGolden -update rewrites it).
func TestValidGolden(t *testing.T) {
	path := validDir(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(path, data, validEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = bytes.ReplaceAll(got, []byte(filepath.Dir(path)), []byte("$DIR"))
	got = append(got, '\n')
	golden := "testdata/valid.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("parsed configuration differs from %s (run with -update after checking the change):\n%s", golden, got)
	}
}
