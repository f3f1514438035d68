package postgres_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/file"
	"github.com/provisiond/provisiond/connectors/scim"
	"github.com/provisiond/provisiond/connectors/scim/scimserver"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/provisioning/mapping"
	"github.com/provisiond/provisiond/store/postgres"
	"github.com/provisiond/provisiond/store/postgres/pgtest"
)

// The replica test: three provisiond processes (replicas) on one PostgreSQL database run
// four jobs, each from an HR file to its own embedded SCIM server; one replica is killed
// (SIGKILL) in the middle of a cycle. The others take its jobs over once its leases
// expire and resume their cycles from the last committed checkpoints.
const (
	replicaJobs   = 4
	replicaUsers  = 1200
	replicaGroups = 6
	replicaToken  = "replica-token"
	replicaTTL    = 2 * time.Second
	ent           = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
)

func replicaJob(i int) provisioning.Job {
	return provisioning.Job{ID: fmt.Sprintf("job-%d", i), Name: fmt.Sprintf("replica job %d", i), SourceSystem: "HR", TargetSystem: "SCIM",
		Settings: provisioning.Settings{BatchSize: 50, Workers: 4},
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

// endObserver prints a line per ended cycle ("ENDED job cycle state") for the parent.
type endObserver struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *endObserver) CycleStarted(context.Context, *provisioning.Job, provisioning.Cycle) {}
func (o *endObserver) CycleEnded(_ context.Context, j *provisioning.Job, c provisioning.Cycle) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "ENDED %s %s %s\n", j.ID, c.CycleID, c.State)
}
func (o *endObserver) Events(context.Context, *provisioning.Job, []provisioning.Event) {}
func (o *endObserver) StatusChanged(context.Context, *provisioning.Job, provisioning.StatusChange, provisioning.Status) {
}
func (o *endObserver) AdminAction(context.Context, provisioning.AuditEntry) {}

// TestReplicaChild is one replica of TestReplicasKilled: it runs every job until SIGTERM
// (or SIGKILL). It is skipped unless run as that child.
func TestReplicaChild(t *testing.T) {
	dir := os.Getenv("PROVISIOND_REPLICA_DIR")
	if dir == "" {
		t.Skip("only runs as a child of TestReplicasKilled")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	st, err := postgres.Open(ctx, os.Getenv("PROVISIOND_REPLICA_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	name := os.Getenv("PROVISIOND_REPLICA_NAME")
	eng := provisioning.New(provisioning.Options{Store: st, Leaser: st, Replica: name, LeaseTTL: replicaTTL,
		CommandPoll: 100 * time.Millisecond, Observer: &endObserver{w: os.Stdout}})
	urls := strings.Split(os.Getenv("PROVISIOND_REPLICA_SCIM"), ",")
	for i := range replicaJobs {
		hr := filepath.Join(dir, fmt.Sprintf("hr-%d.json", i))
		src, err := file.New(file.Config{Users: hr, Groups: hr, StateDir: filepath.Join(dir, fmt.Sprintf("state-%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		tgt, err := scim.New(ctx, scim.Config{BaseURL: urls[i], Auth: scim.AuthConfig{Type: "bearer", Token: replicaToken}, MaxRequestsPerSecond: 100000})
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.AddJob(ctx, replicaJob(i), src, tgt); err != nil {
			t.Fatal(err)
		}
	}
	if err := eng.Run(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("STOPPED", name)
}

// child is a running replica process and what it printed.
type child struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  []string
	done chan struct{}
}

func (c *child) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.out...)
}

func startChild(t *testing.T, name, dir, dsn string, urls []string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReplicaChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "PROVISIOND_REPLICA_DIR="+dir, "PROVISIOND_REPLICA_DSN="+dsn,
		"PROVISIOND_REPLICA_NAME="+name, "PROVISIOND_REPLICA_SCIM="+strings.Join(urls, ","))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // one stream: the log lines help when the test fails
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.out = append(c.out, sc.Text())
			c.mu.Unlock()
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
	})
	return c
}

func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplicasKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns replica processes")
	}
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn) // migrates before the replicas start
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	var servers []*scimserver.Server
	var urls []string
	for i := range replicaJobs {
		writeHR(t, filepath.Join(dir, fmt.Sprintf("hr-%d.json", i)), i)
		ss, err := scimserver.New(scimserver.Options{Token: replicaToken})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(ss.Handler())
		defer ts.Close()
		servers, urls = append(servers, ss), append(urls, ts.URL+"/scim/v2")
	}
	children := map[string]*child{}
	for _, name := range []string{"r1", "r2", "r3"} {
		children[name] = startChild(t, name, dir, dsn, urls)
	}

	// Kill the replica running a cycle, once the cycle is well under way.
	state := func(job string) (provisioning.JobState, bool) {
		s, err := st.LoadJobState(ctx, job)
		return s, err == nil
	}
	owner := func(job string) (string, int64) {
		ls, err := st.Leases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if l.JobID == job && l.Expires.After(time.Now().Add(-time.Hour)) {
				return l.Owner, l.Epoch
			}
		}
		return "", 0
	}
	var victim, victimJob, cycleID string
	var victimEpoch int64
	waitUntil(t, "a cycle under way", 2*time.Minute, func() bool {
		for i := range replicaJobs {
			job := replicaJob(i).ID
			s, ok := state(job)
			if !ok || s.Checkpoint == nil || s.Checkpoint.Phase != "users" || s.Checkpoint.Position < 300 {
				continue
			}
			if o, epoch := owner(job); o != "" {
				victim, victimJob, cycleID, victimEpoch = o, job, s.Checkpoint.CycleID, epoch
				return true
			}
		}
		return false
	})
	if err := children[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-children[victim].done
	killedAt := time.Now()
	t.Logf("killed %s running %s (cycle %s, epoch %d)", victim, victimJob, cycleID, victimEpoch)
	if c, err := st.GetCycle(ctx, victimJob, cycleID); err != nil || c.State != provisioning.CycleRunning {
		t.Fatalf("the victim's cycle was not running when killed: %+v, %v", c, err)
	}

	waitUntil(t, "a survivor to take the victim's job over", time.Minute, func() bool {
		_, epoch := owner(victimJob)
		return epoch > victimEpoch
	})
	t.Logf("%s taken over %v after the kill (lease TTL %v)", victimJob, time.Since(killedAt).Round(time.Millisecond), replicaTTL)
	waitUntil(t, "every job's initial cycle", 3*time.Minute, func() bool {
		for i := range replicaJobs {
			if s, ok := state(replicaJob(i).ID); !ok || !s.Status.InitialCycleCompleted || s.Checkpoint != nil {
				return false
			}
		}
		return true
	})
	newOwner, epoch := owner(victimJob)
	t.Logf("%s taken over by %s (epoch %d); all cycles done %v after the kill", victimJob, newOwner, epoch, time.Since(killedAt).Round(time.Millisecond))
	if newOwner == victim || newOwner == "" || epoch <= victimEpoch {
		t.Errorf("%s is leased to %q in epoch %d after %s (epoch %d) was killed", victimJob, newOwner, epoch, victim, victimEpoch)
	}
	// Stop the survivors gracefully.
	for name, c := range children {
		if name != victim {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for name, c := range children {
		select {
		case <-c.done:
		case <-time.After(time.Minute):
			t.Fatalf("replica %s did not stop within a minute of SIGTERM", name)
		}
	}

	// Each cycle ended once, on one replica; the victim's (resumed) on a survivor.
	ended := map[string][]string{}
	for name, c := range children {
		for _, l := range c.lines() {
			if f := strings.Fields(l); len(f) == 4 && f[0] == "ENDED" {
				ended[f[2]] = append(ended[f[2]], name+":"+f[3])
			}
		}
	}
	for i := range replicaJobs {
		job := replicaJob(i).ID
		cycles, err := st.ListCycles(ctx, job, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(cycles) != 1 || cycles[0].State != provisioning.CycleSucceeded || cycles[0].TimeEnded == nil {
			t.Errorf("%s: cycles %+v, want one that succeeded", job, cycles)
			continue
		}
		e := ended[cycles[0].CycleID]
		switch {
		case len(e) != 1:
			t.Errorf("%s: cycle %s ended %d times (%v), want once", job, cycles[0].CycleID, len(e), e)
		case job == victimJob && (cycles[0].CycleID != cycleID || strings.HasPrefix(e[0], victim+":")):
			t.Errorf("%s: cycle %s ended on %v, want cycle %s, resumed and ended on a survivor", job, cycles[0].CycleID, e, cycleID)
		}
		checkProvisioned(t, st, servers[i], job)
	}
	if t.Failed() {
		for name, c := range children {
			t.Logf("--- %s:\n%s", name, strings.Join(c.lines(), "\n"))
		}
	}
}

// writeHR writes job i's HR export: users (managers listed after their reports) and groups.
func writeHR(t *testing.T, path string, job int) {
	t.Helper()
	var users, groups []map[string]any
	for i := range replicaUsers {
		u := map[string]any{"id": fmt.Sprintf("E%05d", i), "userName": fmt.Sprintf("j%d.user%05d@example.com", job, i),
			"displayName": fmt.Sprintf("User %d", i)}
		if i%10 != 9 {
			u["manager"] = fmt.Sprintf("E%05d", i-i%10+9)
		}
		users = append(users, u)
	}
	for g := range replicaGroups {
		var m []string
		for i := g; i < replicaUsers; i += replicaGroups {
			m = append(m, fmt.Sprintf("E%05d", i))
		}
		groups = append(groups, map[string]any{"id": fmt.Sprintf("G%02d", g), "displayName": fmt.Sprintf("Group %d", g), "members": m})
	}
	b, err := json.Marshal(map[string]any{"users": users, "groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkProvisioned checks a job's target and store: every object created exactly once
// (201s, no 409), linked once, with a successful event and no failure; every manager
// reference resolved.
func checkProvisioned(t *testing.T, st *postgres.Store, ss *scimserver.Server, job string) {
	t.Helper()
	ctx := context.Background()
	stats := ss.Stats()
	if stats.Users != replicaUsers || stats.Groups != replicaGroups {
		t.Errorf("%s: target has %d users and %d groups, want %d and %d", job, stats.Users, stats.Groups, replicaUsers, replicaGroups)
	}
	if created := stats.ByStatus[201]; created != replicaUsers+replicaGroups || stats.ByStatus[409] != 0 {
		t.Errorf("%s: %d creates (201) and %d conflicts (409), want %d and 0", job, created, stats.ByStatus[409], replicaUsers+replicaGroups)
	}
	links := map[string]provisioning.Link{}
	if err := st.ScanLinks(ctx, job, connectors.TypeUser, func(l provisioning.Link) error { links[l.SourceID] = l; return nil }); err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, l := range links {
		targets[l.TargetID] = true
	}
	if len(links) != replicaUsers || len(targets) != replicaUsers {
		t.Errorf("%s: %d user links to %d target objects, want %d", job, len(links), len(targets), replicaUsers)
	}
	success := map[string]bool{}
	var after *provisioning.EventPosition
	failures := 0
	for {
		evs, err := st.QueryEvents(ctx, provisioning.EventQuery{JobID: job, Ascending: true, Limit: 5000, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if ev.Status == provisioning.ResultFailure {
				failures++
				if failures <= 5 {
					t.Errorf("%s: failure event %s %s %+v", job, ev.SourceIdentity.ID, ev.Action, ev.ErrorInformation)
				}
			} else {
				success[ev.SourceIdentity.ID] = true
			}
		}
		last := evs[len(evs)-1]
		after = &provisioning.EventPosition{Time: last.ActivityDateTime, ID: last.ID}
	}
	for id := range links {
		if !success[id] {
			t.Errorf("%s: user %s is linked but has no successful event", job, id)
			break
		}
	}
	for i := 0; i < replicaUsers; i += 7 {
		if i%10 == 9 {
			continue
		}
		u, ok := ss.UserByUserName(fmt.Sprintf("%s.user%05d@example.com", strings.Replace(job, "job-", "j", 1), i))
		if !ok {
			t.Errorf("%s: user %d missing", job, i)
			continue
		}
		ext, _ := u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
		mgr, _ := ext["manager"].(map[string]any)
		if want := links[fmt.Sprintf("E%05d", i-i%10+9)].TargetID; mgr == nil || mgr["value"] != want {
			t.Errorf("%s: user %d manager %v, want %s", job, i, mgr, want)
		}
	}
}
