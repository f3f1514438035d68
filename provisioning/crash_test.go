package provisioning_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/file"
	"github.com/provisiond/provisiond/connectors/scim"
	"github.com/provisiond/provisiond/connectors/scim/scimserver"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/provisioning/mapping"
	"github.com/provisiond/provisiond/store/sqlite"
)

const crashUsers = 3000

func crashJob() provisioning.Job {
	return provisioning.Job{ID: "crash", Name: "crash", SourceSystem: "HR", TargetSystem: "SCIM",
		Settings: provisioning.Settings{BatchSize: 100, Workers: 4},
		Users: mapping.ObjectMapping{Attributes: []mapping.AttributeMapping{
			{Type: mapping.Direct, Source: "userName", Target: "userName", MatchingPrecedence: 1},
			{Type: mapping.Direct, Source: "id", Target: "externalId"},
			{Type: mapping.Direct, Source: "displayName", Target: "displayName"},
			{Type: mapping.Direct, Source: "manager", Target: ent + "manager", Reference: true},
		}},
		Groups: &mapping.ObjectMapping{Attributes: []mapping.AttributeMapping{
			{Type: mapping.Direct, Source: "displayName", Target: "displayName", MatchingPrecedence: 1},
			{Type: mapping.Direct, Source: "members", Target: "members", Reference: true},
		}},
	}
}

// TestCrashChild is the child process of TestCrashResume: it runs one cycle to completion
// (resuming an interrupted one) and exits. It is skipped unless run as that child.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("PROVISIOND_CRASH_DIR")
	if dir == "" {
		t.Skip("only runs as the child of TestCrashResume")
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hr := filepath.Join(dir, "hr.json")
	src, err := file.New(file.Config{Users: hr, Groups: hr, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := scim.New(ctx, scim.Config{BaseURL: os.Getenv("PROVISIOND_CRASH_SCIM"), Auth: scim.AuthConfig{Type: "bearer", Token: "crash-token"}, MaxRequestsPerSecond: 100000})
	if err != nil {
		t.Fatal(err)
	}
	eng := provisioning.New(provisioning.Options{Store: st})
	if err := eng.AddJob(ctx, crashJob(), src, tgt); err != nil {
		t.Fatal(err)
	}
	c, err := eng.RunCycle(ctx, "crash")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "child: cycle %s %s imported %d\n", c.Type, c.State, c.CountImported)
}

func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir := t.TempDir()
	// The HR export: users (managers listed after reports) and groups.
	var users, groups []map[string]any
	for i := 0; i < crashUsers; i++ {
		u := map[string]any{"id": fmt.Sprintf("E%05d", i), "userName": fmt.Sprintf("user%05d@example.com", i), "displayName": fmt.Sprintf("User %d", i)}
		if i%10 != 9 {
			u["manager"] = fmt.Sprintf("E%05d", i-i%10+9)
		}
		users = append(users, u)
	}
	for g := 0; g < 10; g++ {
		var m []string
		for i := g; i < crashUsers; i += 10 {
			m = append(m, fmt.Sprintf("E%05d", i))
		}
		groups = append(groups, map[string]any{"id": fmt.Sprintf("G%02d", g), "displayName": fmt.Sprintf("Group %d", g), "members": m})
	}
	b, _ := json.Marshal(map[string]any{"users": users, "groups": groups})
	if err := os.WriteFile(filepath.Join(dir, "hr.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	ss, err := scimserver.New(scimserver.Options{Token: "crash-token"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ss.Handler())
	defer ts.Close()

	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "PROVISIOND_CRASH_DIR="+dir, "PROVISIOND_CRASH_SCIM="+ts.URL+"/scim/v2")
		return cmd
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := 0
	for i := 0; i < 4; i++ {
		cmd := child()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of requests into this run: always mid-cycle.
		base := ss.Stats().Requests
		after := int64(100 + rng.IntN(1500))
		deadline := time.Now().Add(30 * time.Second)
		for ss.Stats().Requests-base < after && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
			kills++
		}
		_ = cmd.Wait()
		st := ss.Stats()
		t.Logf("kill %d after %d requests: target has %d users, %d groups", i+1, st.Requests-base, st.Users, st.Groups)
		if st.Users == crashUsers && st.Groups == 10 && i == 0 {
			t.Fatalf("the first kill came after the cycle created everything; it must land mid-cycle")
		}
	}
	// Let it finish.
	cmd := child()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("final child: %v\n%s", err, out)
	}
	t.Logf("after %d kills: %s", kills, strings.TrimSpace(string(out)))

	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// No object twice: the target has exactly one user per source user.
	stats := ss.Stats()
	if stats.Users != crashUsers || stats.Groups != 10 {
		t.Fatalf("target has %d users and %d groups, want %d and 10", stats.Users, stats.Groups, crashUsers)
	}
	// Everything linked; every linked object has a successful event; no failure at all.
	links := map[string]provisioning.Link{}
	if err := st.ScanLinks(ctx, "crash", connectors.TypeUser, func(l provisioning.Link) error { links[l.SourceID] = l; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(links) != crashUsers {
		t.Fatalf("%d user links, want %d", len(links), crashUsers)
	}
	seenTarget := map[string]string{}
	for id, l := range links {
		if other, dup := seenTarget[l.TargetID]; dup {
			t.Fatalf("target %s linked from %s and %s", l.TargetID, id, other)
		}
		seenTarget[l.TargetID] = id
	}
	success := map[string]bool{}
	var after *provisioning.EventPosition
	total := 0
	for {
		evs, err := st.QueryEvents(ctx, provisioning.EventQuery{JobID: "crash", Ascending: true, Limit: 5000, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			total++
			if ev.Status == provisioning.ResultFailure {
				t.Errorf("failure event: %s %s %+v", ev.SourceIdentity.ID, ev.Action, ev.ErrorInformation)
			}
			if ev.Status != provisioning.ResultFailure {
				success[ev.SourceIdentity.ID] = true
			}
		}
		last := evs[len(evs)-1]
		after = &provisioning.EventPosition{Time: last.ActivityDateTime, ID: last.ID}
	}
	for id := range links {
		if !success[id] {
			t.Errorf("user %s is linked but has no successful event", id)
		}
	}
	// Every manager reference resolved in the target.
	for i := 0; i < crashUsers; i++ {
		if i%10 == 9 {
			continue
		}
		u, ok := ss.UserByUserName(fmt.Sprintf("user%05d@example.com", i))
		if !ok {
			t.Fatalf("user %d missing", i)
		}
		ext, _ := u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
		mgr, _ := ext["manager"].(map[string]any)
		want := links[fmt.Sprintf("E%05d", i-i%10+9)].TargetID
		if mgr == nil || mgr["value"] != want {
			t.Fatalf("user %d manager %v, want %s", i, mgr, want)
		}
	}
	t.Logf("%d kills, %d events, %d users and 10 groups, all linked once", kills, total, crashUsers)
}
