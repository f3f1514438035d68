package hrgen

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func writeBoth(t *testing.T, d *Dataset) (j, u, g []byte) {
	t.Helper()
	dir := t.TempDir()
	if err := d.WriteJSON(filepath.Join(dir, "hr.json")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteCSV(filepath.Join(dir, "u.csv"), filepath.Join(dir, "g.csv")); err != nil {
		t.Fatal(err)
	}
	read := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return read("hr.json"), read("u.csv"), read("g.csv")
}

func TestDeterministic(t *testing.T) {
	o := Options{Seed: 11, Users: 3000, Groups: 40}
	a, b := Generate(o), Generate(o)
	ja, ua, ga := writeBoth(t, a)
	jb, ub, gb := writeBoth(t, b)
	if !bytes.Equal(ja, jb) || !bytes.Equal(ua, ub) || !bytes.Equal(ga, gb) {
		t.Fatal("the same options gave different files")
	}
	for n := 1; n <= 3; n++ {
		if sa, sb := a.Step(n), b.Step(n); sa != sb {
			t.Fatalf("Step(%d): %+v vs %+v", n, sa, sb)
		}
	}
	ja, ua, ga = writeBoth(t, a)
	jb, ub, gb = writeBoth(t, b)
	if !bytes.Equal(ja, jb) || !bytes.Equal(ua, ub) || !bytes.Equal(ga, gb) {
		t.Fatal("the same steps gave different files")
	}
	c := Generate(Options{Seed: 12, Users: 3000, Groups: 40})
	if jc, _, _ := writeBoth(t, c); bytes.Equal(jc, jb) {
		t.Fatal("another seed gave the same data")
	}
}

var (
	idRE       = regexp.MustCompile(`^E\d{6,}$`)
	userNameRE = regexp.MustCompile(`^[a-z0-9]+(\.[a-z0-9]+)?\d*@contoso\.example$`)
	dateRE     = regexp.MustCompile(`^(200[89]|201\d|202[0-6])-\d\d-\d\d$`)
)

// checkDataset verifies the invariants a dataset keeps through steps.
func checkDataset(t *testing.T, d *Dataset) map[string]map[string]any {
	t.Helper()
	byID := map[string]map[string]any{}
	var prev int
	ceos := 0
	for _, u := range d.Users {
		id := u["id"].(string)
		if !idRE.MatchString(id) {
			t.Fatalf("id %q", id)
		}
		if byID[id] != nil {
			t.Fatalf("duplicate id %s", id)
		}
		if n := idNum(id); n <= prev {
			t.Fatalf("users not sorted by id: %s after %d", id, prev)
		} else {
			prev = n
		}
		byID[id] = u
		if _, ok := u["manager"]; !ok {
			ceos++
		}
	}
	if ceos != 1 {
		t.Fatalf("%d users without a manager, want 1 (the CEO)", ceos)
	}
	depts := map[string]bool{}
	for _, dp := range departments {
		depts[dp.Name] = true
	}
	for _, u := range d.Users {
		id := u["id"].(string)
		for _, f := range []string{"userName", "givenName", "surname", "mail", "department", "jobTitle", "employeeType", "costCenter", "country", "hireDate", "employeeNumber"} {
			if _, ok := u[f].(string); !ok {
				t.Fatalf("%s: %s = %#v", id, f, u[f])
			}
		}
		if _, ok := u["accountEnabled"].(bool); !ok {
			t.Fatalf("%s: accountEnabled = %#v", id, u["accountEnabled"])
		}
		if !userNameRE.MatchString(u["userName"].(string)) {
			t.Fatalf("%s: userName %q", id, u["userName"])
		}
		if !depts[u["department"].(string)] || len(u["country"].(string)) != 2 || !dateRE.MatchString(u["hireDate"].(string)) {
			t.Fatalf("%s: %v", id, u)
		}
		if et := u["employeeType"]; et != "Employee" && et != "Contractor" {
			t.Fatalf("%s: employeeType %v", id, et)
		}
		// The manager chain ends at the CEO.
		seen := 0
		for m, ok := u["manager"].(string); ok; m, ok = byID[m]["manager"].(string) {
			if byID[m] == nil {
				t.Fatalf("%s: manager %s does not exist", id, m)
			}
			if seen++; seen > len(d.Users) {
				t.Fatalf("%s: manager cycle", id)
			}
		}
	}
	names := map[string]bool{}
	gprev := ""
	for _, g := range d.Groups {
		gid, name := g["id"].(string), g["displayName"].(string)
		if !regexp.MustCompile(`^G\d{4,}$`).MatchString(gid) || gid <= gprev || names[name] || g["description"] == "" {
			t.Fatalf("group %v", g)
		}
		gprev, names[name] = gid, true
		members := g["members"].([]string)
		if len(members) > 300 {
			t.Fatalf("%s has %d members", gid, len(members))
		}
		for i, m := range members {
			if byID[m] == nil {
				t.Fatalf("%s: member %s does not exist", gid, m)
			}
			if i > 0 && idNum(m) <= idNum(members[i-1]) {
				t.Fatalf("%s: members not sorted or not unique: %v", gid, members)
			}
		}
	}
	return byID
}

func TestGenerate(t *testing.T) {
	const n = 20000
	d := Generate(Options{Seed: 1, Users: n, Groups: 120})
	if len(d.Users) != n || len(d.Groups) != 120 {
		t.Fatalf("%d users, %d groups", len(d.Users), len(d.Groups))
	}
	byID := checkDataset(t, d)
	if d.Users[0]["id"] != "E000001" || d.Users[n-1]["id"] != "E020000" {
		t.Errorf("ids %v … %v", d.Users[0]["id"], d.Users[n-1]["id"])
	}

	count := func(f func(u map[string]any) bool) int {
		c := 0
		for _, u := range d.Users {
			if f(u) {
				c++
			}
		}
		return c
	}
	within := func(what string, got int, lo, hi float64) {
		t.Helper()
		p := float64(got) / n
		t.Logf("%s: %.2f%%", what, 100*p)
		if p < lo || p > hi {
			t.Errorf("%s: %d of %d (%.2f%%), want %.1f%%–%.1f%%", what, got, n, 100*p, 100*lo, 100*hi)
		}
	}
	within("contractors", count(func(u map[string]any) bool { return u["employeeType"] == "Contractor" }), 0.085, 0.115)
	within("disabled", count(func(u map[string]any) bool { return u["accountEnabled"] == false }), 0.013, 0.027)
	within("interns", count(func(u map[string]any) bool { return u["department"] == "Interns" }), 0.02, 0.04)
	within("non-ASCII names", count(func(u map[string]any) bool {
		s := u["givenName"].(string) + u["surname"].(string)
		return strings.ContainsFunc(s, func(r rune) bool { return r > 127 })
	}), 0.05, 0.5)

	// Broken records, disjoint, in scope.
	inScope := func(u map[string]any) bool {
		return u["employeeType"] == "Employee" && u["department"] != "Interns" && u["accountEnabled"] == true
	}
	userNames := map[string]int{}
	for _, u := range d.Users {
		userNames[u["userName"].(string)]++
	}
	var noName, badMail, dup int
	for _, u := range d.Users {
		_, hasDisplay := u["displayName"]
		broken := 0
		if u["givenName"] == "" && u["surname"] == "" && !hasDisplay {
			noName++
			broken++
		} else if !hasDisplay {
			t.Fatalf("%s has names but no displayName", u["id"])
		}
		if strings.Contains(u["mail"].(string), "@@") {
			badMail++
			broken++
		}
		if userNames[u["userName"].(string)] > 1 {
			dup++
			broken++
		}
		if broken > 1 || (broken == 1 && !inScope(u)) {
			t.Fatalf("%s: broken record out of scope or broken twice: %v", u["id"], u)
		}
	}
	within("users without names", noName, 0.003, 0.005)
	within("users with an invalid mail", badMail, 0.003, 0.005)
	within("users sharing a userName", dup, 0.006, 0.01)
	within("broken users", noName+badMail+dup, 0.01, 0.02)
	for name, c := range userNames {
		if c > 2 {
			t.Errorf("userName %s used %d times, want pairs", name, c)
		}
	}

	// Managers: VPs and managers, some after some of their reports in the list.
	before, after, managers := 0, 0, map[string]bool{}
	for _, u := range d.Users {
		if m, ok := u["manager"].(string); ok {
			managers[m] = true
			if idNum(m) > idNum(u["id"].(string)) {
				after++
			} else {
				before++
			}
		}
	}
	if after < n/5 || before < n/5 {
		t.Errorf("manager listed after %d reports and before %d: want both common", after, before)
	}
	vps := 0
	for m := range managers {
		if strings.HasPrefix(byID[m]["jobTitle"].(string), "VP ") {
			vps++
		}
	}
	if vps != len(departments)-1 || len(managers) < n/10 {
		t.Errorf("%d VPs, %d managers", vps, len(managers))
	}

	// Groups: departments first, sizes from a few to a few hundred.
	if d.Groups[0]["displayName"] != "Engineering" || d.Groups[len(d.Groups)-1]["displayName"] == "" {
		t.Errorf("groups %v", d.Groups[0])
	}
	small, large := 0, 0
	for _, g := range d.Groups {
		switch m := len(g["members"].([]string)); {
		case m <= 10:
			small++
		case m >= 100:
			large++
		}
	}
	if small == 0 || large == 0 {
		t.Errorf("group sizes: %d small, %d large", small, large)
	}
}

func TestSmallDatasets(t *testing.T) {
	for _, n := range []int{0, 1, 2, 10} {
		d := Generate(Options{Seed: 5, Users: n, Groups: 3})
		if len(d.Users) != n || len(d.Groups) != 3 {
			t.Fatalf("%d: %d users %d groups", n, len(d.Users), len(d.Groups))
		}
		if n > 0 {
			checkDataset(t, d)
		}
		for s := 1; s <= 3; s++ {
			d.Step(s)
			if n > 0 {
				checkDataset(t, d)
			}
		}
		writeBoth(t, d)
	}
}

func TestStep(t *testing.T) {
	d := Generate(Options{Seed: 9, Users: 10000, Groups: 80})
	var total Summary
	for n := 1; n <= 6; n++ {
		before := map[string]map[string]any{}
		for _, u := range d.Users {
			before[u["id"].(string)] = cloneUser(u)
		}
		groupsBefore := map[string][]string{}
		for _, g := range d.Groups {
			groupsBefore[g["id"].(string)] = slices.Clone(g["members"].([]string))
		}
		s := d.Step(n)
		after := checkDataset(t, d)
		if s.Step != n || s.Hires == 0 || s.Disabled == 0 || s.Moves == 0 || s.MembersAdded == 0 {
			t.Fatalf("summary %+v", s)
		}
		if len(d.Users) != len(before)+s.Hires-s.Deleted {
			t.Fatalf("%d users after a step from %d with %+v", len(d.Users), len(before), s)
		}
		// The summary counts exactly what an incremental diff sees.
		var upserted, deleted, disabled int
		for id, u := range after {
			old, ok := before[id]
			if !ok || !reflect.DeepEqual(old, cloneUser(u)) {
				upserted++
			}
			if ok && old["accountEnabled"] == true && u["accountEnabled"] == false {
				disabled++
			}
		}
		for id := range before {
			if after[id] == nil {
				deleted++
			}
		}
		if upserted != s.UsersUpserted || deleted != s.Deleted || disabled != s.Disabled {
			t.Fatalf("step %d: diff %d upserted, %d deleted, %d disabled; summary %+v", n, upserted, deleted, disabled, s)
		}
		changed := 0
		for _, g := range d.Groups {
			if !slices.Equal(groupsBefore[g["id"].(string)], g["members"].([]string)) {
				changed++
			}
		}
		if changed != s.GroupsChanged {
			t.Fatalf("step %d: %d groups changed, summary says %d", n, changed, s.GroupsChanged)
		}
		total.Deleted += s.Deleted
		total.Reassigned += s.Reassigned
		total.MembersRemoved += s.MembersRemoved
	}
	if total.Deleted == 0 || total.Reassigned == 0 || total.MembersRemoved == 0 {
		t.Fatalf("six steps never deleted a manager or removed a member: %+v", total)
	}
	if s := d.Step(7); !strings.Contains(s.String(), "hires") {
		t.Errorf("String() = %q", s)
	}
}

func cloneUser(u map[string]any) map[string]any {
	c := make(map[string]any, len(u))
	for k, v := range u {
		c[k] = v
	}
	return c
}

func TestWriteFormats(t *testing.T) {
	d := Generate(Options{Seed: 2, Users: 500, Groups: 12})
	d.Users[3]["note"] = "has, a comma and \"quotes\"\nand a line" // an extra column
	j, u, g := writeBoth(t, d)

	var doc struct {
		Users  []map[string]any `json:"users"`
		Groups []map[string]any `json:"groups"`
	}
	if err := json.Unmarshal(j, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Users) != 500 || len(doc.Groups) != 12 {
		t.Fatalf("%d users %d groups", len(doc.Users), len(doc.Groups))
	}
	for i, want := range d.Users {
		for k, v := range want {
			got := doc.Users[i][k]
			if s, ok := v.(string); ok && got != s || v == true && got != true || v == false && got != false {
				t.Fatalf("user %d %s: %#v, want %#v", i, k, got, v)
			}
		}
	}
	if !bytes.HasPrefix(j, []byte("{\"users\":[\n{\"accountEnabled\":")) {
		t.Errorf("JSON starts %q", j[:40])
	}

	rows, err := csv.NewReader(bytes.NewReader(u)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], append(slices.Clone(userColumns), "note")) || len(rows) != 501 {
		t.Fatalf("users CSV header %v, %d rows", rows[0], len(rows))
	}
	if rows[4][len(rows[4])-1] != d.Users[3]["note"] || rows[4][0] != d.Users[3]["id"] {
		t.Errorf("row %v", rows[4])
	}
	grows, err := csv.NewReader(bytes.NewReader(g)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(grows[0], groupColumns) || grows[1][3] != strings.Join(d.Groups[0]["members"].([]string), ";") {
		t.Errorf("groups CSV %v %v", grows[0], grows[1])
	}
}

func TestWriteIsAtomic(t *testing.T) {
	dir := t.TempDir()
	d := Generate(Options{Seed: 2, Users: 50, Groups: 2})
	path := filepath.Join(dir, "hr.json")
	os.WriteFile(path, []byte("old"), 0o644)
	d.Users[0]["bad"] = complex(1, 2) // cannot be written
	if err := d.WriteJSON(path); err == nil {
		t.Fatal("WriteJSON of an unsupported value succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("a failed write changed the file: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	delete(d.Users[0], "bad")
	if err := d.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	if err := d.WriteJSON(filepath.Join(dir, "missing", "hr.json")); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestASCIIName(t *testing.T) {
	for in, want := range map[string]string{
		"Łukasz": "lukasz", "Müller": "muller", "O'Brien": "obrien", "Zoë": "zoe", "José": "jose",
		"Þórsdóttir": "thorsdottir", "Weiß": "weiss", "Van der Berg": "vanderberg", "Nuñez-López": "nunezlopez",
	} {
		if got := asciiName(in); got != want {
			t.Errorf("asciiName(%q) = %q, want %q", in, got, want)
		}
	}
	for _, n := range slices.Concat(givenNames, surnames) {
		if a := asciiName(n); a == "" || strings.ContainsFunc(a, func(r rune) bool { return r > 127 }) {
			t.Errorf("asciiName(%q) = %q", n, a)
		}
	}
}

// BenchmarkGenerate reports the cost per generated user.
func BenchmarkGenerate(b *testing.B) {
	const n = 200_000
	b.ReportAllocs()
	for b.Loop() {
		Generate(Options{Seed: 1, Users: n, Groups: 200})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/user")
}

func BenchmarkWriteJSON(b *testing.B) {
	const n = 200_000
	d := Generate(Options{Seed: 1, Users: n, Groups: 200})
	path := filepath.Join(b.TempDir(), "hr.json")
	for b.Loop() {
		if err := d.WriteJSON(path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/user")
}
