package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/provisioning"
)

var update = flag.Bool("update", false, "rewrite the golden files of the CLI tests (testdata/cli)")

// cliResult is what one in-process run of the CLI produced.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the root command in-process with args, as main does: the error goes to
// stderr as "provisiond: …" and becomes the exit code.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	r := cliResult{stdout: out.String()}
	if err != nil {
		errb.WriteString("provisiond: " + err.Error() + "\n")
		r.code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			r.code = ee.code
		}
	}
	r.stderr = errb.String()
	return r
}

// cliEnv sets the client's environment for one run; every variable not given is unset.
func cliEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range []string{"PROVISIOND_SERVER", "PROVISIOND_TOKEN", "PROVISIOND_READER_TOKEN", "PROVISIOND_ADMIN_TOKEN"} {
		t.Setenv(k, env[k])
	}
}

// Volatile parts of the output, normalised before comparing with a golden file.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`http://127\.0\.0\.1:\d+`), "<server>"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<id>"},
	{regexp.MustCompile(`\b[0-9a-f]{32}\b`), "<trace-id>"},
	{regexp.MustCompile(`\b[0-9a-f]{16}\b`), "<span-id>"},
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}`), "<time>"},
	{regexp.MustCompile(`\b\d+(d\d+h|h\d{2}m|m\d{2}s|s) ago\b|\bin \d+(d\d+h|h\d{2}m|m\d{2}s|s)\b|\bjust now\b`), "<when>"},
	{regexp.MustCompile(`\b\d+(\.\d+)?(ms|s)\b`), "<dur>"},
	{regexp.MustCompile(`\b\d+ objects/s\b`), "<rate> objects/s"},
	{regexp.MustCompile(`  +`), "  "},
}

func normalise(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// golden compares r (normalised) with testdata/cli/name.golden, or rewrites it with -update.
func golden(t *testing.T, name string, r cliResult) {
	t.Helper()
	got := normalise(r.stdout) + "--- stderr\n" + normalise(r.stderr) + "--- exit " + string(rune('0'+r.code)) + "\n"
	path := filepath.Join("testdata", "cli", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update with PROVISIOND_CLI_TEST=1 to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// closedPort returns a loopback URL nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// silentServer returns a loopback URL whose server accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestClientUsageAndUnreachable needs no daemon: flag and argument errors exit 2 before
// any request, and a server nobody listens on exits 5.
func TestClientUsageAndUnreachable(t *testing.T) {
	cliEnv(t, map[string]string{"PROVISIOND_SERVER": closedPort(t), "PROVISIOND_TOKEN": "t0ken-never-printed"})
	silent := silentServer(t)
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unknown flag", []string{"status", "--bogus"}, codeUsage, "unknown flag: --bogus (see provisiond status --help)"},
		{"bad output", []string{"status", "-o", "yaml"}, codeUsage, `-o "yaml": want one of table, json`},
		{"stray argument", []string{"cycles", "demo"}, codeUsage, "takes no arguments"},
		{"cycles without job", []string{"cycles"}, codeUsage, "needs --job ID"},
		{"restart unknown scope", []string{"restart", "--job", "demo", "--scope", "Escrows,Bogus"}, codeUsage, `unknown resetScope "Bogus"`},
		{"provision without object", []string{"provision", "--job", "demo"}, codeUsage, "exactly one of --user SOURCE_ID and --group SOURCE_ID"},
		{"provision user and group", []string{"provision", "--job", "demo", "--user", "a", "--group", "b"}, codeUsage, "exactly one of"},
		{"since and from", []string{"logs", "--since", "1h", "--from", "2026-11-24T09:00:00Z"}, codeUsage, "--since and --from"},
		{"bad from", []string{"logs", "--from", "yesterday"}, codeUsage, "want an RFC 3339 time"},
		{"bad since", []string{"logs", "--since", "1 hour"}, codeUsage, "invalid argument"},
		{"bad action", []string{"logs", "--action", "frobnicate"}, codeUsage, "--action \"frobnicate\": want one of create, update"},
		{"table without csv", []string{"logs", "--table", "steps"}, codeUsage, "--table applies to -o csv only"},
		{"csv with limit", []string{"logs", "-o", "csv", "--limit", "5"}, codeUsage, "exports every matching event"},
		{"prefix without identity", []string{"logs", "--prefix"}, codeUsage, "--prefix needs --identity"},
		{"show without id", []string{"logs", "show"}, codeUsage, "needs one EVENT_ID"},
		{"bad server", []string{"status", "--server", "ftp://x"}, codeUsage, "want http(s)://host[:port]"},
		{"unreachable status", []string{"status"}, codeUnreachable, "unreachable"},
		{"unreachable restart", []string{"restart", "--job", "demo"}, codeUnreachable, "is the daemon running?"},
		{"unreachable logs", []string{"logs", "--all", "-o", "ndjson"}, codeUnreachable, "unreachable"},
		{"no answer", []string{"status", "--server", silent, "--timeout", "100ms"}, codeUnreachable, "no answer from the provisiond API at " + silent + " within 100ms"},
		{"no answer streaming", []string{"logs", "--all", "-o", "ndjson", "--server", silent, "--timeout", "100ms"}, codeUnreachable, "within 100ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.stderr)
			}
			if strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			if strings.Contains(r.stderr+r.stdout, "t0ken-never-printed") {
				t.Error("the token was printed")
			}
		})
	}
}

// TestClientHelp checks that every client command documents its exit codes and the
// token variables.
func TestClientHelp(t *testing.T) {
	for _, c := range newClientCmds() {
		cmds := append([]string{c.Name()}, "")
		if c.Name() == "logs" {
			cmds = append(cmds, "logs show")
		}
		for _, name := range cmds {
			if name == "" {
				continue
			}
			r := runCLI(t, append(strings.Fields(name), "--help")...)
			for _, want := range []string{"Exit codes:", "5  server unreachable", "PROVISIOND_TOKEN", "--server", "--timeout"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("%s --help lacks %q", name, want)
				}
			}
		}
	}
}

func TestTable(t *testing.T) {
	tb := table{
		header: []string{"NAME", "N", "NOTE"},
		rows:   [][]string{{"Ada Lovelace (E000042)", "7", "first"}, {"Åsa Öberg (E000100)", "1234", "a much longer note than the rest"}},
		right:  map[int]bool{1: true},
		shrink: []int{2, 0},
	}
	cases := []struct {
		width int
		want  string
	}{
		{0, "NAME                       N  NOTE\n" +
			"Ada Lovelace (E000042)     7  first\n" +
			"Åsa Öberg (E000100)     1234  a much longer note than the rest\n"},
		{40, "NAME                 N  NOTE\n" +
			"Ada Lovelace (E…     7  first\n" +
			"Åsa Öberg (E000…  1234  a much longer n…\n"},
		{30, "NAME            N  NOTE\n" +
			"Ada Lovela…     7  first\n" +
			"Åsa Öberg …  1234  a much lon…\n"},
		// Narrower than the shrinkable columns allow: they stop at minShrunk.
		{10, "NAME         N  NOTE\n" +
			"Ada Lov…     7  first\n" +
			"Åsa Öbe…  1234  a much …\n"},
	}
	for _, tc := range cases {
		var b strings.Builder
		if err := tb.render(&b, tc.width); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("width %d:\n%s\nwant\n%s", tc.width, b.String(), tc.want)
		}
	}
}

func TestDurations(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	cases := []struct{ got, want string }{
		{ago(now.Add(-45*time.Second), now), "45s ago"},
		{ago(now.Add(-192*time.Second), now), "3m12s ago"},
		{ago(now.Add(5*time.Hour+59*time.Minute), now), "in 5h59m"},
		{ago(now.Add(-76*time.Hour), now), "3d4h ago"},
		{ago(now, now), "just now"},
		{ago(time.Time{}, now), "—"},
		{span(40 * time.Microsecond), "0.04ms"},
		{span(12300 * time.Microsecond), "12.3ms"},
		{span(1200 * time.Millisecond), "1.20s"},
		{span(192 * time.Second), "3m12s"},
		{wholeMillis(7), "7ms"},
		{wholeMillis(2500), "2.50s"},
		{percent(1450, 2060), "1450/2060 (70%)"},
		{percent(0, 0), "0/0"},
		{truncate("Åsa Öberg", 5), "Åsa …"},
		{plural(1, "event"), "1 event"},
		{plural(3, "event"), "3 events"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestClientCommands runs every client command against a real stack (engine, SQLite,
// embedded SCIM servers, the API on loopback): output against golden files, JSON that
// decodes, and exit codes. Set PROVISIOND_CLI_TEST=1 (.ci/cli.sh does).
func TestClientCommands(t *testing.T) {
	if os.Getenv("PROVISIOND_CLI_TEST") == "" {
		t.Skip("set PROVISIOND_CLI_TEST=1 to run the CLI against a real stack")
	}
	s := apitest.Start(t, apitest.Options{Users: 200, Groups: 10})
	s.Quarantine(t, "sales")
	ctx := context.Background()
	rc, err := client.New(s.URL, apitest.ReaderToken)
	if err != nil {
		t.Fatal(err)
	}
	// The first user of the demo job without a name (sorted, so the golden files are
	// stable; it fails again on demand) and a group with members.
	fails, err := rc.Logs(ctx, client.LogsQuery{JobID: "demo", Status: "failure", IdentityType: "User", ErrorCode: "MandatoryFieldsMissing", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(fails.Value) == 0 {
		t.Fatal("the demo job has no user without a name: the golden files expect one")
	}
	slices.SortFunc(fails.Value, func(a, b provisioning.Event) int { return strings.Compare(a.SourceIdentity.ID, b.SourceIdentity.ID) })
	failed := fails.Value[0]
	okUser := s.HR["demo"].Users[0]["id"].(string)
	var group string
	fewest := 0
	for _, g := range s.HR["demo"].Groups {
		if m, _ := g["members"].([]string); len(m) > 0 && (group == "" || len(m) < fewest) {
			group, fewest = g["id"].(string), len(m)
		}
	}
	if group == "" {
		t.Fatal("no group with members in the demo job's HR data")
	}

	reader := map[string]string{"PROVISIOND_SERVER": s.URL, "PROVISIOND_READER_TOKEN": apitest.ReaderToken}
	admin := map[string]string{"PROVISIOND_SERVER": s.URL, "PROVISIOND_ADMIN_TOKEN": apitest.AdminToken}
	both := map[string]string{"PROVISIOND_SERVER": s.URL, "PROVISIOND_READER_TOKEN": apitest.ReaderToken, "PROVISIOND_ADMIN_TOKEN": apitest.AdminToken}
	readerAsToken := map[string]string{"PROVISIOND_SERVER": s.URL, "PROVISIOND_TOKEN": apitest.ReaderToken}
	wrong := map[string]string{"PROVISIOND_SERVER": s.URL, "PROVISIOND_TOKEN": "wrong-token"}
	none := map[string]string{"PROVISIOND_SERVER": s.URL}

	decode := func(v any) func(t *testing.T, r cliResult) {
		return func(t *testing.T, r cliResult) {
			t.Helper()
			if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
				t.Fatalf("stdout is not the JSON expected: %v\n%s", err, r.stdout)
			}
		}
	}
	var (
		jobs     []client.Job
		job      client.Job
		cycles   []provisioning.Cycle
		failures []provisioning.Event
		allJSON  []provisioning.Event
		event    provisioning.Event
		onDemand provisioning.OnDemandResult
		paged    int
	)
	// Small pages, so --limit reads several and follows the cursor.
	defer func(n int) { maxPage = n }(maxPage)
	maxPage = 40
	cases := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		golden bool
		check  func(t *testing.T, r cliResult)
	}{
		// status
		{name: "status", env: reader, args: []string{"status"}, golden: true},
		{name: "status-job-quarantined", env: reader, args: []string{"status", "--job", "sales"}, golden: true},
		{name: "status-job", env: reader, args: []string{"status", "--job", "demo"}, golden: true},
		{name: "status-json", env: reader, args: []string{"status", "-o", "json"}, check: func(t *testing.T, r cliResult) {
			decode(&jobs)(t, r)
			if len(jobs) != 2 || jobs[1].Status.Quarantine == nil || jobs[1].Status.Quarantine.FailingRequest == "" {
				t.Fatalf("jobs = %d; the second should be quarantined with its failing request", len(jobs))
			}
		}},
		{name: "status-job-json", env: readerAsToken, args: []string{"status", "--job", "demo", "-o", "json"}, check: func(t *testing.T, r cliResult) {
			decode(&job)(t, r)
			if job.ID != "demo" || !job.Status.InitialCycleCompleted {
				t.Fatalf("job = %s, initial cycle completed %v", job.ID, job.Status.InitialCycleCompleted)
			}
		}},
		{name: "status-unknown-job", env: reader, args: []string{"status", "--job", "nope"}, code: codeNotFound, golden: true},
		{name: "status-no-token", env: none, args: []string{"status"}, code: codeAuth, golden: true},
		{name: "status-wrong-token", env: wrong, args: []string{"status"}, code: codeAuth, golden: true},
		{name: "status-admin-token-reads", env: admin, args: []string{"status", "--job", "demo"}},

		// cycles
		{name: "cycles", env: reader, args: []string{"cycles", "--job", "demo"}, golden: true},
		{name: "cycles-json", env: reader, args: []string{"cycles", "--job", "sales", "-o", "json"}, check: func(t *testing.T, r cliResult) {
			decode(&cycles)(t, r)
			if len(cycles) != 2 || cycles[0].State != provisioning.CycleFailed || cycles[1].Type != provisioning.CycleInitial {
				t.Fatalf("cycles of sales: %+v", cycles)
			}
		}},
		{name: "cycles-unknown-job", env: reader, args: []string{"cycles", "--job", "nope"}, code: codeNotFound},

		// logs
		{name: "logs-identity", env: reader, args: []string{"logs", "--identity", failed.SourceIdentity.ID}, golden: true},
		{name: "logs-identity-prefix", env: reader, args: []string{"logs", "--job", "demo", "--identity", failed.SourceIdentity.DisplayName[:3], "--prefix", "--since", "1h", "-o", "json"},
			check: func(t *testing.T, r cliResult) {
				var evs []provisioning.Event
				decode(&evs)(t, r)
				if len(evs) == 0 {
					t.Fatal("no event matches the prefix of a known display name")
				}
				for _, ev := range evs {
					if !strings.HasPrefix(ev.SourceIdentity.DisplayName, failed.SourceIdentity.DisplayName[:3]) &&
						!strings.HasPrefix(ev.SourceIdentity.ID, failed.SourceIdentity.DisplayName[:3]) {
						t.Errorf("event of %q does not match the prefix", ev.SourceIdentity.DisplayName)
					}
				}
			}},
		{name: "logs-failures-json", env: reader, args: []string{"logs", "--job", "demo", "--status", "failure", "--type", "user", "--error-code", "MandatoryFieldsMissing", "-o", "json"}, check: func(t *testing.T, r cliResult) {
			decode(&failures)(t, r)
			if len(failures) != len(fails.Value) {
				t.Fatalf("%d failures, the API has %d", len(failures), len(fails.Value))
			}
			for _, ev := range failures {
				if ev.Status != provisioning.ResultFailure || ev.ErrorInformation == nil {
					t.Fatalf("event %s: status %s, error %v", ev.ID, ev.Status, ev.ErrorInformation)
				}
			}
		}},
		{name: "logs-limit", env: reader, args: []string{"logs", "--job", "demo", "--limit", "3"}, check: func(t *testing.T, r cliResult) {
			if lines := strings.Count(r.stdout, "\n"); lines != 4 {
				t.Fatalf("%d lines, want a header and 3 events:\n%s", lines, r.stdout)
			}
			if !strings.Contains(r.stderr, "showing the 3 newest matching events; more match") {
				t.Fatalf("stderr %q lacks the hint", r.stderr)
			}
		}},
		{name: "logs-limit-pages", env: reader, args: []string{"logs", "--job", "demo", "--limit", "100000", "-o", "ndjson", "--asc"}, check: func(t *testing.T, r cliResult) {
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			var prev time.Time
			for i, l := range lines {
				var ev provisioning.Event
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				if ev.ActivityDateTime.Before(prev) {
					t.Fatalf("line %d is older than the line before with --asc", i+1)
				}
				prev = ev.ActivityDateTime
			}
			if len(lines) <= 3*maxPage {
				t.Fatalf("%d events: the demo job should have more than three pages of %d", len(lines), maxPage)
			}
			paged = len(lines)
		}},
		{name: "logs-all-json", env: reader, args: []string{"logs", "--job", "demo", "--all", "-o", "json"}, check: func(t *testing.T, r cliResult) {
			decode(&allJSON)(t, r)
			if len(allJSON) != paged {
				t.Fatalf("--all gave %d events, the pages %d", len(allJSON), paged)
			}
		}},
		{name: "logs-all-ndjson", env: reader, args: []string{"logs", "--job", "demo", "--all", "-o", "ndjson"}, check: func(t *testing.T, r cliResult) {
			if n := strings.Count(r.stdout, "\n"); n != len(allJSON) {
				t.Fatalf("ndjson has %d lines, json %d events", n, len(allJSON))
			}
			// A limit that fits exactly, over several pages: every event, and no "more" hint.
			exact := runCLI(t, "logs", "--job", "demo", "--limit", strconv.Itoa(len(allJSON)), "-o", "ndjson")
			if n := strings.Count(exact.stdout, "\n"); n != len(allJSON) || exact.stderr != "" {
				t.Fatalf("--limit %d: %d lines, stderr %q", len(allJSON), n, exact.stderr)
			}
		}},
		{name: "logs-csv-steps", env: reader, args: []string{"logs", "--job", "demo", "--status", "failure", "-o", "csv", "--table", "steps"}, check: func(t *testing.T, r cliResult) {
			rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
			if err != nil {
				t.Fatalf("not CSV: %v", err)
			}
			if len(rows) < 1+len(failures) || !slices.Contains(rows[0], "changeId") {
				t.Fatalf("%d rows, header %v", len(rows), rows[0])
			}
		}},
		{name: "logs-none", env: reader, args: []string{"logs", "--job", "nope"}, golden: true},
		{name: "logs-show", env: reader, args: []string{"logs", "show", failed.ID}, golden: true},
		{name: "logs-show-json", env: reader, args: []string{"logs", "show", failed.ID, "-o", "json"}, check: func(t *testing.T, r cliResult) {
			decode(&event)(t, r)
			if event.ID != failed.ID || len(event.ProvisioningSteps) == 0 {
				t.Fatalf("event %s with %d steps", event.ID, len(event.ProvisioningSteps))
			}
		}},
		{name: "logs-show-unknown", env: reader, args: []string{"logs", "show", "no-such-event"}, code: codeNotFound},

		// provision
		{name: "provision-failure", env: admin, args: []string{"provision", "--job", "demo", "--user", failed.SourceIdentity.ID}, code: codeProvisionFailed, golden: true},
		{name: "provision-user", env: admin, args: []string{"provision", "--job", "demo", "--user", okUser}, golden: true},
		{name: "provision-group-json", env: admin, args: []string{"provision", "--job", "demo", "--group", group, "-o", "json"}, check: func(t *testing.T, r cliResult) {
			decode(&onDemand)(t, r)
			n := len(onDemand.Events)
			if n < 2 || onDemand.Events[n-1].SourceIdentity.IdentityType != "Group" {
				t.Fatalf("%d events; want the members, then the group", n)
			}
		}},
		{name: "provision-unknown-user", env: admin, args: []string{"provision", "--job", "demo", "--user", "E999999"}, code: codeNotFound, golden: true},
		{name: "provision-reader", env: reader, args: []string{"provision", "--job", "demo", "--user", okUser}, code: codeAuth},

		// actions
		{name: "restart-reader", env: readerAsToken, args: []string{"restart", "--job", "demo"}, code: codeAuth, golden: true},
		{name: "restart-only-reader-set", env: reader, args: []string{"restart", "--job", "demo"}, code: codeAuth},
		{name: "restart-unknown-job", env: admin, args: []string{"restart", "--job", "nope"}, code: codeNotFound},
		{name: "restart", env: both, args: []string{"restart", "--job", "demo", "--scope", "Escrows,Watermark"}, golden: true},
		{name: "restart-quarantined", env: admin, args: []string{"restart", "--job", "sales", "--scope", "QuarantineState"}, golden: true},
		{name: "pause", env: admin, args: []string{"pause", "--job", "demo"}, golden: true},
		{name: "sync-paused", env: admin, args: []string{"sync", "--job", "demo"}, code: codeError, golden: true},
		{name: "start", env: admin, args: []string{"start", "--job", "demo"}, golden: true},
		{name: "sync", env: admin, args: []string{"sync", "--job", "demo"}, golden: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cliEnv(t, tc.env)
			r := runCLI(t, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			if tc.code != 0 && strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			for _, tok := range []string{apitest.ReaderToken, apitest.AdminToken, "wrong-token"} {
				if strings.Contains(r.stdout+r.stderr, tok) {
					t.Errorf("a token was printed")
				}
			}
			if tc.golden {
				golden(t, tc.name, r)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}
