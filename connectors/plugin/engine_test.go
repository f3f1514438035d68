package plugin

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/memory"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/provisioning/mapping"
	"github.com/provisiond/provisiond/store/sqlite"
)

// clock is the engine's settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// eventLog records the engine's events.
type eventLog struct {
	provisioning.NopObserver
	mu     sync.Mutex
	events []provisioning.Event
}

func (l *eventLog) Events(_ context.Context, _ *provisioning.Job, ev []provisioning.Event) {
	l.mu.Lock()
	l.events = append(l.events, ev...)
	l.mu.Unlock()
}

func (l *eventLog) take() []provisioning.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.events
	l.events = nil
	return ev
}

func csvJob() provisioning.Job {
	return provisioning.Job{ID: "csv", Name: "HR to CSV", SourceSystem: "HR", TargetSystem: "CSV",
		Settings: provisioning.Settings{Workers: 2, BatchSize: 4, EscrowRetryBase: provisioning.Duration(time.Hour)},
		Users: mapping.ObjectMapping{Attributes: []mapping.AttributeMapping{
			{Type: mapping.Direct, Source: "userName", Target: "userName", MatchingPrecedence: 1, Required: true},
			{Type: mapping.Direct, Source: "displayName", Target: "displayName"},
			{Type: mapping.Direct, Source: "department", Target: "department"},
			{Type: mapping.Direct, Source: "employeeNumber", Target: "employeeNumber"},
		}},
		Groups: &mapping.ObjectMapping{Attributes: []mapping.AttributeMapping{
			{Type: mapping.Direct, Source: "displayName", Target: "displayName", MatchingPrecedence: 1},
			{Type: mapping.Direct, Source: "members", Target: "members", Reference: true},
		}},
	}
}

func hrUser(n int, dept string, enabled bool) connectors.Object {
	id := fmt.Sprintf("e%03d", n)
	return connectors.Object{Type: connectors.TypeUser, ID: id, Attributes: connectors.Attributes{
		"userName": id + "@example.com", "displayName": fmt.Sprintf("Employee %d", n), "department": dept,
		"employeeNumber": int64(n), connectors.AttrAccountEnabled: enabled}}
}

// engineEnv is an engine over the real SQLite store with a memory source and the CSV
// plugin as target.
type engineEnv struct {
	t    *testing.T
	ctx  context.Context
	clk  *clock
	src  *memory.Source
	conn *Conn
	eng  *provisioning.Engine
	obs  *eventLog
	dir  string
}

func newEngineEnv(t *testing.T, src connectors.Source, cfg Config) *engineEnv {
	t.Helper()
	e := &engineEnv{t: t, ctx: context.Background(), clk: &clock{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)},
		obs: &eventLog{}, dir: filepath.Join(t.TempDir(), "csv")}
	st, err := sqlite.Open(e.ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Args = []string{"-dir", e.dir}
	e.conn = open(t, "csv", cfg)
	tgt, err := e.conn.Target()
	if err != nil {
		t.Fatal(err)
	}
	e.eng = provisioning.New(provisioning.Options{Store: st, Observer: e.obs, Now: e.clk.Now})
	if err := e.eng.AddJob(e.ctx, csvJob(), src, tgt); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *engineEnv) cycle() provisioning.Cycle {
	e.t.Helper()
	c, err := e.eng.RunCycle(e.ctx, "csv")
	if err != nil {
		e.t.Fatalf("cycle: %v", err)
	}
	return c
}

// readCSV returns a CSV file's rows as maps by header, keyed by the first column.
func (e *engineEnv) readCSV(name string) map[string]map[string]string {
	e.t.Helper()
	f, err := os.Open(filepath.Join(e.dir, name))
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out[r[0]] = m
	}
	return out
}

// usersByName returns users.csv by userName.
func (e *engineEnv) usersByName() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, u := range e.readCSV("users.csv") {
		out[u["userName"]] = u
	}
	return out
}

// members returns the member userNames of the group named name.
func (e *engineEnv) members(name string) []string {
	e.t.Helper()
	var gid string
	for id, g := range e.readCSV("groups.csv") {
		if g["displayName"] == name {
			gid = id
		}
	}
	users := e.readCSV("users.csv")
	f, err := os.Open(filepath.Join(e.dir, "members.csv"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	rows, _ := csv.NewReader(f).ReadAll()
	var out []string
	for _, r := range rows[1:] {
		if r[0] == gid {
			out = append(out, users[r[1]]["userName"])
		}
	}
	sort.Strings(out)
	return out
}

// TestEngineCycleWithCSVPlugin: a full engine cycle through the real store creates users
// and a group with its members in the CSV plugin; the next cycles update, disable and
// change membership.
func TestEngineCycleWithCSVPlugin(t *testing.T) {
	src := memory.NewSource()
	for i := 1; i <= 6; i++ {
		src.Put(hrUser(i, "Sales", true))
	}
	src.Put(connectors.Object{Type: connectors.TypeGroup, ID: "g1", Attributes: connectors.Attributes{
		"displayName": "Sales team", "members": []string{"e001", "e002"}}})
	e := newEngineEnv(t, src, Config{})

	c := e.cycle()
	if c.State != provisioning.CycleSucceeded || c.CountExported != 7 {
		t.Fatalf("first cycle: %s, %d exported (%+v)", c.State, c.CountExported, c)
	}
	users := e.usersByName()
	if len(users) != 6 || users["e003@example.com"]["displayName"] != "Employee 3" || users["e003@example.com"]["employeeNumber:int"] != "3" {
		t.Fatalf("users.csv after the first cycle: %v", users)
	}
	if m := e.members("Sales team"); fmt.Sprint(m) != "[e001@example.com e002@example.com]" {
		t.Fatalf("members: %v", m)
	}
	for _, ev := range e.obs.take() {
		if ev.Status != provisioning.ResultSuccess || ev.Action != provisioning.ActionCreate {
			t.Errorf("event %s %s: %s %s", ev.SourceIdentity.ID, ev.TargetIdentity.ID, ev.Action, ev.Status)
		}
	}

	src.Put(hrUser(1, "Marketing", true))
	src.Put(hrUser(2, "Sales", false))
	src.Put(connectors.Object{Type: connectors.TypeGroup, ID: "g1", Attributes: connectors.Attributes{
		"displayName": "Sales team", "members": []string{"e001", "e003"}}})
	e.clk.Advance(time.Hour)
	c = e.cycle()
	if c.State != provisioning.CycleSucceeded {
		t.Fatalf("second cycle: %+v", c)
	}
	users = e.usersByName()
	if users["e001@example.com"]["department"] != "Marketing" {
		t.Errorf("update: %v", users["e001@example.com"])
	}
	if users["e002@example.com"]["active:bool"] != "false" {
		t.Errorf("disable: %v", users["e002@example.com"])
	}
	if m := e.members("Sales team"); fmt.Sprint(m) != "[e001@example.com e003@example.com]" {
		t.Errorf("members after the change: %v", m)
	}
	actions := map[provisioning.Action]int{}
	for _, ev := range e.obs.take() {
		if ev.Status == provisioning.ResultFailure {
			t.Errorf("event %s failed: %+v", ev.SourceIdentity.ID, ev.ErrorInformation)
		}
		actions[ev.Action]++
	}
	if actions[provisioning.ActionUpdate] < 2 || actions[provisioning.ActionDisable] != 1 {
		t.Errorf("second cycle actions: %v", actions)
	}
}

// killingSource kills the plugin's process when the source emits its nth change.
type killingSource struct {
	*memory.Source
	mu   sync.Mutex
	at   int
	pid  func() int
	done bool
}

func (s *killingSource) Read(ctx context.Context, req connectors.ReadRequest, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	n := 0
	return s.Source.Read(ctx, req, func(c connectors.Change) error {
		n++
		s.mu.Lock()
		if !s.done && req.Type == connectors.TypeUser && n == s.at {
			s.done = true
			_ = killPid(s.pid())
		}
		s.mu.Unlock()
		return emit(c)
	})
}

// TestPluginCrashMidCycle: the plugin is killed during a cycle: the operations that fail
// escrow with a connection error (and the job is quarantined as for an unreachable
// target); once the plugin is restarted the next cycle succeeds and provisions everyone.
func TestPluginCrashMidCycle(t *testing.T) {
	mem := memory.NewSource()
	for i := 1; i <= 12; i++ {
		mem.Put(hrUser(i, "Ops", true))
	}
	src := &killingSource{Source: mem, at: 6}
	e := newEngineEnv(t, src, Config{MinRestartDelay: 500 * time.Millisecond})
	pid := e.conn.Pid()
	src.pid = func() int { return pid }

	c := e.cycle()
	var failed int
	for _, ev := range e.obs.take() {
		if ev.Status == provisioning.ResultFailure {
			failed++
			if ev.ErrorInformation == nil || ev.ErrorInformation.ErrorCode != "ConnectionFailed" {
				t.Errorf("failure of %s: %+v", ev.SourceIdentity.ID, ev.ErrorInformation)
			}
		}
	}
	if failed == 0 || c.CountEscrowed == 0 {
		t.Fatalf("crash cycle: %d failed events, %d escrowed (%+v)", failed, c.CountEscrowed, c)
	}
	st, err := e.eng.Status(e.ctx, "csv")
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != provisioning.StatusQuarantine || st.Quarantine == nil || st.Quarantine.Error.Code != "ConnectionFailed" {
		t.Errorf("status after the crash: %+v %+v", st.Code, st.Quarantine)
	}

	waitFor(t, "the plugin's restart", 15*time.Second, func() bool { return e.conn.Pid() != 0 && e.conn.Pid() != pid })
	e.clk.Advance(2 * time.Hour) // past the escrows' next attempt
	c = e.cycle()
	if c.State != provisioning.CycleSucceeded {
		t.Fatalf("cycle after the restart: %+v", c)
	}
	if users := e.usersByName(); len(users) != 12 {
		t.Fatalf("%d users in users.csv, want 12", len(users))
	}
	for _, ev := range e.obs.take() {
		if ev.Status == provisioning.ResultFailure {
			t.Errorf("event %s failed after the restart: %+v", ev.SourceIdentity.ID, ev.ErrorInformation)
		}
	}
}
