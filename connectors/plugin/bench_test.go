package plugin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/memory"
	"github.com/provisiond/provisiond/connectors/scim"
	"github.com/provisiond/provisiond/connectors/scim/scimserver"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/provisioning/mapping"
	"github.com/provisiond/provisiond/store/sqlite"
)

// The benchmarks compare the SCIM target connector in process with the same connector in
// a plugin process (examples/scim-target-plugin), against the embedded SCIM server, per
// operation and for a whole engine cycle:
//
//	go test -run '^$' -bench 'TargetOps|RPC' -benchtime 2000x ./connectors/plugin/
//	go test -run '^$' -bench Cycle -benchtime 5x ./connectors/plugin/
//
// The Plugin/InProcess ratio is the plugin boundary's cost (goal ≤ 1.2 per operation).

const benchToken = "bench-token"

// scimServerEnv makes the test binary a SCIM server process (the benchmarks' target, in
// its own process as a real one would be): the value is the added latency ("0s", "2ms").
const scimServerEnv = "PROVISIOND_TEST_SCIMSERVER"

// runSCIMServer serves the embedded SCIM server on a loopback port, writes its base URL on
// standard output and exits when standard input closes (the parent is gone).
func runSCIMServer() {
	srv, err := scimserver.New(scimserver.Options{Token: benchToken})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if d, _ := time.ParseDuration(os.Getenv(scimServerEnv)); d > 0 {
		srv.SetFaults(scimserver.Faults{Latency: d})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("http://%s/scim/v2\n", ln.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	_ = http.Serve(ln, srv.Handler())
}

// startSCIMServer starts a SCIM server process and returns its base URL and a function
// that stops it.
func startSCIMServer(b *testing.B, latency time.Duration) (string, func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), scimServerEnv+"="+latency.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop := func() {
		stdin.Close()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		b.Fatal(err)
	}
	return strings.TrimSpace(line), stop
}

// scimTarget returns the SCIM target, in process or as a plugin, on a fresh server process,
// and a function that stops both.
func scimTarget(b *testing.B, how string, latency time.Duration) (connectors.Target, func()) {
	b.Helper()
	base, stopServer := startSCIMServer(b, latency)
	var tgt connectors.Target
	switch how {
	case "InProcess":
		c, err := scim.New(context.Background(), scim.Config{BaseURL: base, Auth: scim.AuthConfig{Token: benchToken}, MaxRequestsPerSecond: 1e9})
		if err != nil {
			stopServer()
			b.Fatal(err)
		}
		tgt = c
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := Open(ctx, Config{Path: binPath(b, "scim"), Args: []string{"-url", base, "-max-rps", "1e9"},
			Env: []string{"SCIM_TOKEN=" + benchToken, "OTEL_TRACES_EXPORTER=none"}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			stopServer()
			b.Fatal(err)
		}
		if tgt, err = conn.Target(); err != nil {
			b.Fatal(err)
		}
	}
	return tgt, func() {
		_ = tgt.Close()
		stopServer()
	}
}

func benchUser(name string) connectors.Attributes {
	return connectors.Attributes{"userName": name + "@example.com", "externalId": "src-" + name, "displayName": "User " + name,
		"name.givenName": "Given", "name.familyName": name, `emails[type eq "work"].value`: name + "@example.com", "active": true,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Engineering"}
}

func BenchmarkTargetOps(b *testing.B) {
	ctx := context.Background()
	for _, v := range []struct {
		how     string
		latency time.Duration
	}{{"InProcess", 0}, {"Plugin", 0}, {"InProcess/Latency2ms", 2 * time.Millisecond}, {"Plugin/Latency2ms", 2 * time.Millisecond}} {
		how, latency := v.how, v.latency
		b.Run("Create/"+how, func(b *testing.B) {
			tgt, stop := scimTarget(b, strings.Split(how, "/")[0], latency)
			defer stop()
			var n atomic.Int64
			b.ResetTimer()
			for b.Loop() {
				if _, err := tgt.Create(ctx, connectors.TypeUser, benchUser(fmt.Sprintf("c%07d", n.Add(1)))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Find/"+how, func(b *testing.B) {
			tgt, stop := scimTarget(b, strings.Split(how, "/")[0], latency)
			defer stop()
			if _, err := tgt.Create(ctx, connectors.TypeUser, benchUser("findme")); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if objs, err := tgt.Find(ctx, connectors.TypeUser, "userName", "findme@example.com"); err != nil || len(objs) != 1 {
					b.Fatal(err, len(objs))
				}
			}
		})
		b.Run("Update/"+how, func(b *testing.B) {
			tgt, stop := scimTarget(b, strings.Split(how, "/")[0], latency)
			defer stop()
			o, err := tgt.Create(ctx, connectors.TypeUser, benchUser("updateme"))
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			b.ResetTimer()
			for b.Loop() {
				i++
				mods := []connectors.Modification{{Name: "displayName", Op: connectors.ModReplace, Value: fmt.Sprintf("Name %d", i)}}
				if err := tgt.Update(ctx, connectors.TypeUser, o.ID, mods); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCycle runs an initial engine cycle of 500 users (SQLite store) into a fresh
// SCIM server, the target in process or as a plugin.
func BenchmarkCycle(b *testing.B) {
	const users = 500
	job := provisioning.Job{ID: "bench", Name: "bench", SourceSystem: "HR", TargetSystem: "SCIM",
		Settings: provisioning.Settings{Workers: 8, BatchSize: 100},
		Users: mapping.ObjectMapping{Attributes: []mapping.AttributeMapping{
			{Type: mapping.Direct, Source: "userName", Target: "userName", MatchingPrecedence: 1, Required: true},
			{Type: mapping.Direct, Source: "id", Target: "externalId"},
			{Type: mapping.Direct, Source: "displayName", Target: "displayName"},
			{Type: mapping.Direct, Source: "givenName", Target: "name.givenName"},
			{Type: mapping.Direct, Source: "surname", Target: "name.familyName"},
			{Type: mapping.Direct, Source: "department", Target: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
		}},
	}
	src := memory.NewSource()
	for i := range users {
		id := fmt.Sprintf("e%05d", i)
		src.Put(connectors.Object{Type: connectors.TypeUser, ID: id, Attributes: connectors.Attributes{"userName": id + "@example.com",
			"displayName": "Employee " + id, "givenName": "Given", "surname": id, "department": "Engineering", "accountEnabled": true}})
	}
	for _, how := range []string{"InProcess", "Plugin"} {
		b.Run(fmt.Sprintf("Users%d/%s", users, how), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				tgt, stop := scimTarget(b, how, 0)
				st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "p.db"))
				if err != nil {
					b.Fatal(err)
				}
				eng := provisioning.New(provisioning.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
				if err := eng.AddJob(ctx, job, src, tgt); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				c, err := eng.RunCycle(ctx, job.ID)
				if err != nil || c.CountExported != users {
					b.Fatalf("cycle: %v, %d exported", err, c.CountExported)
				}
				b.StopTimer()
				st.Close()
				stop()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRPC is the boundary's own cost: a Target.Get of a memory target through the
// plugin, against the same call in process.
func BenchmarkRPC(b *testing.B) {
	ctx := context.Background()
	for _, how := range []string{"InProcess", "Plugin"} {
		b.Run("Get/"+how, func(b *testing.B) {
			var tgt connectors.Target = memory.NewTarget()
			if how == "Plugin" {
				conn := open(b, "testplugin", Config{})
				tgt, _ = conn.Target()
			}
			o, err := tgt.Create(ctx, connectors.TypeUser, benchUser("x"))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := tgt.Get(ctx, connectors.TypeUser, o.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
