package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/config"
	"github.com/provisiond/provisiond/connectors/scim/scimserver"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/postgres"
	"github.com/provisiond/provisiond/store/postgres/pgtest"
)

const postgresConfig = `dataDir: data
store: {driver: postgres, dsnFile: dsn.secret}
api: {addr: "127.0.0.1:0", readerToken: reader-token-1, adminToken: admin-token-1}
connectors:
  hr: {type: file, users: users.json}
  app: {type: scim, url: "URL", auth: {type: bearer, token: scim-token}}
jobs:
  - id: app
    source: hr
    target: app
    users:
      attributes:
        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}
        - {type: Direct, source: displayName, target: displayName}
`

func TestOpenStoreErrors(t *testing.T) {
	ctx := context.Background()
	cfg := &config.Config{File: "p.yaml", Store: config.StoreConfig{Driver: config.DriverPostgres,
		DSN: "postgres://provisiond:pg-s3cr3t@127.0.0.1:1/provisiond?sslmode=disable&connect_timeout=2"}}
	if _, _, err := openStore(ctx, cfg); err == nil || strings.Contains(err.Error(), "pg-s3cr3t") {
		t.Errorf("openStore of an unreachable server: %v (must fail without the password)", err)
	}
	cfg.Store = config.StoreConfig{Driver: "mysql"}
	var ee *exitError
	if _, _, err := openStore(ctx, cfg); !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), `store.driver "mysql"`) {
		t.Errorf("openStore of an unknown driver: %v", err)
	}
	cfg.Store = config.StoreConfig{Driver: config.DriverSQLite, Path: filepath.Join(t.TempDir(), "p.db")}
	st, leaser, err := openStore(ctx, cfg)
	if err != nil || leaser != nil {
		t.Fatalf("openStore sqlite: leaser %v, %v", leaser, err)
	}
	st.Close()
}

// TestDaemonReplicas runs two daemons on one PostgreSQL database (PROVISIOND_POSTGRES=1):
// one runs the job; an admin action sent to the other's API takes effect on it, and the
// other's API shows the job's status from the store.
func TestDaemonReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	ss, err := scimserver.New(scimserver.Options{Token: "scim-token"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ss.Handler())
	defer ts.Close()
	var users []string
	for i := range 30 {
		users = append(users, fmt.Sprintf(`{"id":"E%d","userName":"user%d@example.com","displayName":"User %d"}`, i, i, i))
	}
	files := map[string]string{
		"users.json":      "[" + strings.Join(users, ",") + "]",
		"dsn.secret":      dsn + "\n",
		"provisiond.yaml": strings.Replace(postgresConfig, "URL", ts.URL+"/scim/v2", 1),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "provisiond.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v", cfg.Store, cfg.Store); strings.Contains(s, "password") || strings.Contains(s, dir) {
		t.Errorf("the store configuration prints its DSN: %s", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func() (*daemon, chan error) {
		d, err := newDaemon(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.listen(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- d.run(ctx) }()
		return d, done
	}
	a, aDone := start()
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	synced := func() bool {
		s, err := st.LoadJobState(ctx, "app")
		return err == nil && s.Status.InitialCycleCompleted && s.Checkpoint == nil
	}
	waitDaemon(t, "the job's initial cycle on the first daemon", func() bool { return a.engine.Holds("app") && synced() })
	b, bDone := start()
	if b.engine.Replica() == a.engine.Replica() || b.engine.Replica() == "" {
		t.Fatalf("replica names %q and %q", a.engine.Replica(), b.engine.Replica())
	}
	call := func(d *daemon, method, path string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+d.listener.Addr().String()+path, nil)
		req.Header.Set("Authorization", "Bearer admin-token-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := call(b, "GET", "/api/v1/jobs/app/status"); code != 200 || !strings.Contains(body, `"code":"Active"`) {
		t.Errorf("status from the second daemon: %d %s", code, body)
	}
	if code, body := call(b, "POST", "/api/v1/jobs/app/pause"); code != http.StatusNoContent {
		t.Fatalf("pause via the second daemon: %d %s", code, body)
	}
	if s, _ := a.engine.Status(ctx, "app"); s.Code != provisioning.StatusPaused {
		t.Errorf("after pause via the second daemon, the first says %s", s.Code)
	}
	if code, body := call(b, "POST", "/api/v1/jobs/app/syncNow"); code != http.StatusConflict {
		t.Errorf("syncNow of a paused job via the second daemon: %d %s, want 409", code, body)
	}
	if code, body := call(b, "GET", "/api/v1/jobs/app/status"); code != 200 || !strings.Contains(body, `"code":"Paused"`) {
		t.Errorf("status from the second daemon after pause: %d %s", code, body)
	}
	if n := ss.Stats().Users; n != 30 {
		t.Errorf("target has %d users, want 30", n)
	}
	cancel()
	for _, done := range []chan error{aDone, bDone} {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a daemon did not stop within 30s")
		}
	}
	ls, err := st.Leases(context.Background())
	if err != nil || len(ls) != 1 || ls[0].Owner != "" {
		t.Errorf("leases after both daemons stopped: %+v, %v (want released)", ls, err)
	}
}

func waitDaemon(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
