// Package pgtest gives tests a real PostgreSQL database.
//
// Tests that need one call DSN, which skips the test unless PROVISIOND_POSTGRES=1. The
// databases live on the server PROVISIOND_POSTGRES_DSN names when it is set (the role must
// be allowed to create databases), otherwise on a throwaway cluster this package starts
// once per test binary: initdb into a temporary directory, postgres on a free port with
// its Unix socket in that directory and durability off (fsync, synchronous_commit and
// full_page_writes off: the data dies with the test anyway). initdb and postgres refuse
// to run as root, so under root (CI) they run as the "postgres" user (or "nobody" when
// there is none) with the directory handed over to it. The server binaries are found
// through PROVISIOND_POSTGRES_BIN, /usr/lib/postgresql/<newest>/bin, or PATH.
//
// Each DSN call creates a new, empty database, dropped when the test ends. Test binaries
// whose TestMain runs the tests through Main share one throwaway cluster, stopped at the
// end; in others each test that calls DSN gets a cluster of its own:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables.
const (
	// EnvEnable set to 1 enables the tests that need PostgreSQL.
	EnvEnable = "PROVISIOND_POSTGRES"
	// EnvDSN names an existing server to create the test databases on (instead of a
	// throwaway cluster).
	EnvDSN = "PROVISIOND_POSTGRES_DSN"
	// EnvBin is the directory of initdb and postgres.
	EnvBin = "PROVISIOND_POSTGRES_BIN"
)

// Enabled reports whether PostgreSQL tests are enabled.
func Enabled() bool { return os.Getenv(EnvEnable) == "1" }

// Skip skips t unless PostgreSQL tests are enabled.
func Skip(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skipf("PostgreSQL tests are disabled: set %s=1 (and %s to use an existing server instead of a throwaway cluster)", EnvEnable, EnvDSN)
	}
}

var (
	mu      sync.Mutex
	shared  *Cluster
	started bool
	inMain  bool // Main runs the tests: it stops the shared cluster
	dbSeq   atomic.Int64
)

// server returns the DSN of the server to create databases on, starting the throwaway
// cluster on first use: shared by the tests of the binary when Main runs them, otherwise
// one for t, stopped when t ends.
func server(t testing.TB) (string, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn, nil
	}
	mu.Lock()
	defer mu.Unlock()
	if !inMain {
		c, err := Start(context.Background())
		if err != nil {
			return "", err
		}
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Errorf("pgtest: %v", err)
			}
		})
		return c.DSN("postgres"), nil
	}
	if shared == nil {
		if started {
			return "", errors.New("pgtest: the throwaway cluster failed to start earlier")
		}
		started = true
		c, err := Start(context.Background())
		if err != nil {
			return "", err
		}
		shared = c
	}
	return shared.DSN("postgres"), nil
}

// Main runs the tests and then stops the throwaway cluster, if one was started. It
// returns the exit code for os.Exit.
func Main(m *testing.M) int {
	mu.Lock()
	inMain = true
	mu.Unlock()
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
		shared = nil
	}
	return code
}

// DSN skips t unless PostgreSQL tests are enabled; otherwise it creates an empty
// database, drops it when t ends, and returns its connection string.
func DSN(t testing.TB) string {
	t.Helper()
	Skip(t)
	admin, err := server(t)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvDSN, err)
	}
	name := fmt.Sprintf("provisiond_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := adminExec(ctx, cfg, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := adminExec(ctx, cfg, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return connString(cfg.Host, int(cfg.Port), cfg.User, cfg.Password, name, cfg.TLSConfig == nil)
}

func adminExec(ctx context.Context, cfg *pgx.ConnConfig, sql string) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// connString writes a keyword/value connection string.
func connString(host string, port int, user, password, database string, noTLS bool) string {
	kv := map[string]string{"host": host, "port": strconv.Itoa(port), "user": user, "dbname": database}
	if password != "" {
		kv["password"] = password
	}
	if noTLS {
		kv["sslmode"] = "disable"
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := strings.ReplaceAll(strings.ReplaceAll(kv[k], `\`, `\\`), `'`, `\'`)
		fmt.Fprintf(&b, "%s='%s' ", k, v)
	}
	return strings.TrimSpace(b.String())
}

// Cluster is a throwaway PostgreSQL cluster.
type Cluster struct {
	dir  string // holds data/, the socket and the log
	port int
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the server's exit status, once done is closed
}

// BinDir finds the directory of initdb and postgres.
func BinDir() (string, error) {
	if d := os.Getenv(EnvBin); d != "" {
		return d, nil
	}
	if ds, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(ds) > 0 {
		sort.Slice(ds, func(i, j int) bool { return version(ds[i]) > version(ds[j]) })
		for _, d := range ds {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d, nil
			}
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("PostgreSQL server binaries not found: install PostgreSQL (Debian: apt-get install postgresql), set %s to the directory of initdb and postgres, or set %s to an existing server", EnvBin, EnvDSN)
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// credential returns who runs the server: nil (the current user) unless that is root,
// which PostgreSQL refuses; then the postgres user, or nobody.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("running as root, and there is no postgres or nobody user to run PostgreSQL as")
}

// Start creates and starts a throwaway cluster.
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	base := os.TempDir()
	if cred != nil {
		base = "/tmp" // a directory the server's user can reach (TMPDIR may be private)
	}
	dir, err := os.MkdirTemp(base, "provisiond-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{dir: dir, done: make(chan struct{})}
	fail := func(err error) (*Cluster, error) {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			return fail(err)
		}
		err = c.start(ctx, bin, data, cred)
		if err == nil {
			return c, nil
		}
		if attempt == 2 || !strings.Contains(err.Error(), "already in use") {
			return fail(err)
		}
	}
}

func (c *Cluster) start(ctx context.Context, bin, data string, cred *syscall.Credential) error {
	logPath := filepath.Join(c.dir, fmt.Sprintf("postgres-%d.log", c.port))
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+c.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=128MB",
		"-c", "log_min_messages=warning", "-c", "log_statement=none")
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server stops (fast shutdown) when the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd = cmd
	c.done = make(chan struct{})
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	cfg, err := pgx.ParseConfig(c.DSN("postgres"))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.ConnectConfig(pctx, cfg)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-c.done:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited (%v):\n%s", c.err, tail(log))
		default:
		}
		if time.Now().After(deadline) {
			c.Stop()
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres did not accept connections within 60s: %v\n%s", err, tail(log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DSN returns the connection string of a database of the cluster (over its Unix socket,
// as the superuser postgres).
func (c *Cluster) DSN(database string) string {
	return connString(c.dir, c.port, "postgres", "", database, true)
}

// Stop stops the server (fast shutdown, then SIGKILL after 20 s) and removes the
// cluster's directory.
func (c *Cluster) Stop() error {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	return os.RemoveAll(c.dir)
}
