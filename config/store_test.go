package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestPostgresStore: store.driver postgres with its DSN inline, from the environment or in
// a file, and the replicas' leaseTTL.
func TestPostgresStore(t *testing.T) {
	const dsn = "postgres://provisiond:pg-s3cr3t@db.example.com/provisiond?sslmode=verify-full"
	cases := []struct {
		name  string
		yaml  string
		env   map[string]string
		files map[string]string
		ttl   time.Duration
	}{
		{name: "inline", yaml: "store: {driver: postgres, dsn: '" + dsn + "'}\n"},
		{name: "environment", yaml: "store: {driver: postgres, dsn: '${PG_DSN}'}\n", env: map[string]string{"PG_DSN": dsn}},
		{name: "file", yaml: "store: {driver: postgres, dsnFile: secrets/dsn, leaseTTL: 30s}\n", files: map[string]string{"secrets/dsn": dsn + "\n"},
			ttl: 30 * time.Second},
		{name: "ISO-8601 lease TTL", yaml: "store: {driver: postgres, dsn: '" + dsn + "', leaseTTL: PT1M}\n", ttl: time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err, _ := parseIn(t, c.yaml+base, c.env, c.files)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Store.Driver != DriverPostgres || cfg.Store.DSN.Value() != dsn || cfg.Store.Path != "" || cfg.Store.LeaseTTL != c.ttl {
				t.Errorf("store = %+v (ttl %v)", cfg.Store, cfg.Store.LeaseTTL)
			}
			js, err := json.Marshal(cfg.Store)
			if err != nil {
				t.Fatal(err)
			}
			want := `{"driver":"postgres","dsn":"REDACTED"}`
			if c.ttl > 0 {
				want = `{"driver":"postgres","dsn":"REDACTED","leaseTTL":"` + c.ttl.String() + `"}`
			}
			if string(js) != want {
				t.Errorf("JSON %s, want %s", js, want)
			}
			if strings.Contains(string(js), "pg-s3cr3t") {
				t.Errorf("the DSN leaks into JSON: %s", js)
			}
		})
	}
}

func TestPostgresStoreErrors(t *testing.T) {
	runErrorCases(t, []errorCase{
		{name: "lease TTL too short", yaml: "store: {driver: postgres, dsn: x, leaseTTL: 2s}\n" + base,
			want: []string{"test.yaml:1: store.leaseTTL: must be at least 3s (leases are renewed every third of it), got 2s"}},
		{name: "lease TTL not a duration", yaml: "store:\n  driver: postgres\n  dsn: x\n  leaseTTL: soon\n" + base,
			want: []string{`test.yaml:4: store.leaseTTL: invalid duration "soon": want e.g. "40m", "6h", "2d" or ISO-8601 "PT40M"`}},
		{name: "lease TTL with sqlite", yaml: "store:\n  leaseTTL: 30s\n" + base,
			want: []string{"test.yaml:2: store.leaseTTL: not used with driver sqlite"}},
		{name: "both dsn and dsnFile", yaml: "store: {driver: postgres, dsn: x, dsnFile: f}\n" + base, files: map[string]string{"f": "y"},
			want: []string{"test.yaml:1: store.dsnFile: set dsn or dsnFile, not both"}},
		{name: "empty dsn file", yaml: "store: {driver: postgres, dsnFile: f}\n" + base, files: map[string]string{"f": "\n"},
			want: []string{`test.yaml:1: store.dsnFile: secret file "$DIR/f" is empty`}},
	})
}
