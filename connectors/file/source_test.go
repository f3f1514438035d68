package file_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/file"
	"github.com/provisiond/provisiond/connectors/file/hrgen"
)

var ctx = context.Background()

func write(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// replace writes content to path through a rename, as exports should be written.
func replace(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".new"
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func newSource(t testing.TB, cfg file.Config) *file.Source {
	t.Helper()
	s, err := file.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func read(t testing.TB, s *file.Source, typ connectors.ObjectType, wm string) ([]connectors.Change, connectors.ReadResult) {
	t.Helper()
	var changes []connectors.Change
	res, err := s.Read(ctx, connectors.ReadRequest{Type: typ, Watermark: wm}, func(c connectors.Change) error {
		changes = append(changes, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Read(%s, %q): %v", typ, wm, err)
	}
	return changes, res
}

// summary spells changes as "+id" (upsert) and "-id(name)" (delete).
func summary(changes []connectors.Change) []string {
	var out []string
	for _, c := range changes {
		if c.Kind == connectors.ChangeDelete {
			name, _ := c.Object.Attributes[connectors.AttrDisplayName].(string)
			out = append(out, fmt.Sprintf("-%s(%s)", c.Object.ID, name))
		} else {
			out = append(out, "+"+c.Object.ID)
		}
	}
	return out
}

var wmRE = regexp.MustCompile(`^(users|groups)-[0-9a-f]{16}$`)

func snapshots(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".snap"); ok {
			out = append(out, name)
		}
	}
	return out
}

func TestJSONValues(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, "users.json"), "\xef\xbb\xbf"+`[
 {"id":"E2","displayName":"Zoë Müller","age":41,"score":2.5,"big":1e3,"ok":true,"no":false,
  "tags":["a","b"],"mixed":[1,"x",null],"addr":{"city":"Kraków","zip":null,"geo":{"lat":50.06}},
  "gone":null,"esc":"tab\there \"q\" \u00e9\ud83d\ude00","empty":[],"manager":7},
 {"id":7,"displayName":"Seven"}
]`)
	s := newSource(t, file.Config{Users: path})
	got, err := s.Get(ctx, connectors.TypeUser, "E2")
	if err != nil {
		t.Fatal(err)
	}
	want := connectors.Attributes{
		"id": "E2", "displayName": "Zoë Müller", "age": int64(41), "score": 2.5, "big": int64(1000),
		"ok": true, "no": false, "tags": []string{"a", "b"}, "mixed": []any{int64(1), "x", nil},
		"addr":    map[string]any{"city": "Kraków", "geo": map[string]any{"lat": 50.06}},
		"esc":     "tab\there \"q\" é😀",
		"empty":   []string{},
		"manager": "7", // a reference: integral numbers become anchors (strings)
	}
	if got.Type != connectors.TypeUser || got.ID != "E2" || !reflect.DeepEqual(got.Attributes, want) {
		t.Errorf("Get(E2) = %s %s %#v\nwant %#v", got.Type, got.ID, got.Attributes, want)
	}
	seven, err := s.Get(ctx, connectors.TypeUser, "7")
	if err != nil || seven.ID != "7" || seven.Attributes["id"] != int64(7) {
		t.Errorf("Get(7) = %+v, %v", seven, err)
	}
}

func TestCSVValues(t *testing.T) {
	dir := t.TempDir()
	users := write(t, filepath.Join(dir, "users.csv"), "\xef\xbb\xbfid,displayName,accountEnabled,proxyAddresses,note,manager\r\n"+
		"E1,\"Doe, Jane\",TRUE,smtp:a@x; smtp:b@x ;,\"said \"\"hi\"\"\nthen left\",E2\r\n"+
		"E2,Boss,false,,,\r\n"+
		"\r\n"+
		"E3,Ünï,True,,,E2")
	groups := write(t, filepath.Join(dir, "groups.csv"), "id,displayName,members\nG1,Team,E1;E3\nG2,Empty,\nG3,Sep,;\n")
	s := newSource(t, file.Config{Users: users, Groups: groups, MultiValued: []string{"proxyAddresses"}})
	for _, tc := range []struct {
		typ  connectors.ObjectType
		id   string
		want connectors.Attributes
	}{
		{connectors.TypeUser, "E1", connectors.Attributes{"id": "E1", "displayName": "Doe, Jane", "accountEnabled": true,
			"proxyAddresses": []string{"smtp:a@x", "smtp:b@x"}, "note": "said \"hi\"\nthen left", "manager": "E2"}},
		{connectors.TypeUser, "E2", connectors.Attributes{"id": "E2", "displayName": "Boss", "accountEnabled": false}},
		{connectors.TypeUser, "E3", connectors.Attributes{"id": "E3", "displayName": "Ünï", "accountEnabled": true, "manager": "E2"}},
		{connectors.TypeGroup, "G1", connectors.Attributes{"id": "G1", "displayName": "Team", "members": []string{"E1", "E3"}}},
		{connectors.TypeGroup, "G2", connectors.Attributes{"id": "G2", "displayName": "Empty"}},
		{connectors.TypeGroup, "G3", connectors.Attributes{"id": "G3", "displayName": "Sep"}},
	} {
		got, err := s.Get(ctx, tc.typ, tc.id)
		if err != nil {
			t.Fatalf("Get(%s, %s): %v", tc.typ, tc.id, err)
		}
		if !reflect.DeepEqual(got.Attributes, tc.want) {
			t.Errorf("Get(%s, %s) = %#v\nwant %#v", tc.typ, tc.id, got.Attributes, tc.want)
		}
	}
	changes, _ := read(t, s, connectors.TypeUser, "")
	// E2 manages E1 and E3: a full read emits it first.
	if got := summary(changes); !slices.Equal(got, []string{"+E2", "+E1", "+E3"}) {
		t.Errorf("read %v", got)
	}
}

// TestFullReadManagerOrder: a full read emits users level by level of the manager tree,
// by anchor within a level; incremental reads stay in anchor order.
func TestFullReadManagerOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		users string // JSON array
		want  []string
	}{
		{"no managers: anchor order", `[{"id":"b"},{"id":"a"},{"id":"c"}]`, []string{"+a", "+b", "+c"}},
		{"chain sorted against it", `[{"id":"a","manager":"b"},{"id":"b","manager":"c"},{"id":"c"}]`, []string{"+c", "+b", "+a"}},
		{"levels, anchor order within", `[{"id":"a","manager":"z"},{"id":"b","manager":"m"},{"id":"m","manager":"z"},{"id":"c","manager":"z"},{"id":"z"}]`,
			[]string{"+z", "+a", "+c", "+m", "+b"}},
		{"manager not in the file: a root", `[{"id":"a","manager":"gone"},{"id":"b","manager":"a"}]`, []string{"+a", "+b"}},
		{"own manager: a root", `[{"id":"b","manager":"b"},{"id":"a","manager":"b"}]`, []string{"+b", "+a"}},
		{"integral anchors", `[{"id":1,"manager":2},{"id":2}]`, []string{"+2", "+1"}},
		{"not an anchor: ignored", `[{"id":"a","manager":{"value":"b"}},{"id":"b"}]`, []string{"+a", "+b"}},
		{"a cycle is cut, every user once", `[{"id":"a","manager":"c"},{"id":"b","manager":"a"},{"id":"c","manager":"b"},{"id":"d","manager":"a"}]`,
			[]string{"+b", "+c", "+a", "+d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			users := write(t, filepath.Join(dir, "users.json"), tc.users)
			s := newSource(t, file.Config{Users: users, StateDir: filepath.Join(dir, "state")})
			changes, res := read(t, s, connectors.TypeUser, "")
			if got := summary(changes); !slices.Equal(got, tc.want) {
				t.Errorf("full read %v, want %v", got, tc.want)
			}
			// An incremental read of a changed file: anchor order.
			write(t, users, strings.ReplaceAll(tc.users, "}", `,"x":1}`))
			changes, _ = read(t, s, connectors.TypeUser, res.Watermark)
			got := summary(changes)
			if !slices.IsSorted(got) || len(got) != len(tc.want) {
				t.Errorf("incremental read %v, want every user in anchor order", got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		file     string // users file name
		content  string
		combined bool // the file is also the groups file
		want     string
	}{
		// JSON
		{"missing anchor", "users.json", "[\n{\"id\":\"a\"},\n  {\"name\":\"x\"}\n]", false, `users.json:3:3: missing anchor: no "id"`},
		{"empty anchor", "users.json", "[\n{\"id\":\"  \"}]", false, `users.json:2:1: missing anchor: "id" is empty`},
		{"null anchor", "users.json", "[{\"id\":\"a\",\"id\":null}]", false, `users.json:1:2: missing anchor: no "id"`},
		{"anchor type", "users.json", "[\n\n{\"id\":true}]", false, `users.json:3:1: anchor "id" is a boolean, want a string`},
		{"fractional anchor", "users.json", "[{\"id\":1.5}]", false, `users.json:1:2: anchor "id" is a fractional number`},
		{"duplicate anchor", "users.json", "[\n{\"id\":\"a\"},\n{\"id\":\"b\"},\n{\"id\":\"a\"}\n]", false, `users.json:4:1: duplicate anchor id "a" (first on line 2)`},
		{"duplicate numeric anchor", "users.json", "[{\"id\":\"5\"},\n{\"id\":5}]", false, `users.json:2:1: duplicate anchor id "5" (first on line 1)`},
		{"line break in a string", "users.json", "[\n{\"id\":\"a}\n]", false, `users.json:2:10: malformed JSON: invalid control character 0x0a in string literal`},
		{"truncated in a string", "users.json", "[{\"id\":\"a", false, `users.json:1:10: malformed JSON: unexpected end of input`},
		{"trailing comma", "users.json", "[\n{\"id\":\"a\",}]", false, `users.json:2:11: malformed JSON: invalid character '}' looking for the beginning of an object key`},
		{"bad literal", "users.json", "[{\"id\":\"a\",\n\"x\":tru}]", false, `users.json:2:8: malformed JSON: invalid character '}' in literal true`},
		{"bad escape", "users.json", "[\n  {\n    \"id\": \"a\",\n    \"x\": \"\\q\"\n  }\n]", false, `users.json:4:11: malformed JSON: invalid escape 'q' in string literal`},
		{"control character", "users.json", "[{\"id\":\"a\x01\"}]", false, `users.json:1:10: malformed JSON: invalid control character 0x01 in string literal`},
		{"missing comma", "users.json", "[{\"id\":\"a\"}\n{\"id\":\"b\"}]", false, `users.json:2:1: malformed JSON: invalid character '{' after an array element`},
		{"element not an object", "users.json", "[\n{\"id\":\"a\"},\n\"b\"\n]", false, `users.json:3:1: element 2 of the users array is a string, want an object`},
		{"trailing data", "users.json", "[]\n[]", false, `users.json:2:1: malformed JSON: data after the end of the top-level value`},
		{"empty file", "users.json", "  \n", false, `users.json:2:1: empty file, want a JSON array or object`},
		{"top-level string", "users.json", `"x"`, false, `users.json:1:1: the file holds a string, want a JSON array or object`},
		{"truncated", "users.json", "[{\"id\":\"a\"},", false, `users.json:1:13: malformed JSON: unexpected end of input`},
		{"no users section", "hr.json", "{\"groups\":[],\n\"meta\":{\"x\":[1,{\"y\":\"]\"}]}}", true, `hr.json:1:1: no "users" array in the object`},
		{"users not an array", "hr.json", "{\"users\":{}}", true, `hr.json:1:10: "users" is an object, want an array of objects`},
		{"second users section", "hr.json", "{\"users\":[],\n\"users\":[]}", true, `hr.json:2:1: a second "users" section`},
		{"array for both types", "hr.json", "[]", true, `hr.json:1:1: a file read for both users and groups must hold an object`},
		{"group without anchor", "hr.json", "{\"users\":[],\"groups\":[\n{\"displayName\":\"g\"}]}", true, `hr.json:2:1: missing anchor: no "id"`},
		// CSV
		{"csv no anchor column", "users.csv", "name,mail\nx,y\n", false, `users.csv:1: no "id" (anchor) column in the header`},
		{"csv missing anchor", "users.csv", "id,name\na,x\n,y\n", false, `users.csv:3: missing anchor: "id" is empty`},
		{"csv duplicate anchor", "users.csv", "id,name\na,x\nb,y\na,z\n", false, `users.csv:4: duplicate anchor id "a" (first on line 2)`},
		{"csv wrong column count", "users.csv", "id,name\na,x\nb,y,z\n", false, `users.csv:3: wrong number of fields: 3, the header has 2`},
		{"csv too few columns", "users.csv", "id,name\r\na\r\n", false, `users.csv:2: wrong number of fields: 1, the header has 2`},
		{"csv bare quote", "users.csv", "id,name\na,x\"y\n", false, `users.csv:2: bare " in an unquoted field`},
		{"csv unterminated quote", "users.csv", "id,name\na,x\nb,\"y\nc,z\n", false, `users.csv:3: quoted field is not terminated`},
		{"csv text after quote", "users.csv", "id,name\na,\"x\"y\n", false, `users.csv:2: extraneous 'y' after a quoted field`},
		{"csv bad boolean", "users.csv", "id,accountEnabled\na,true\nb,yes\n", false, `users.csv:3: accountEnabled is "yes", want true or false`},
		{"csv duplicate column", "users.csv", "id,name,name\n", false, `users.csv:1: duplicate column "name" in the header`},
		{"csv empty column name", "users.csv", "id,,x\n", false, `users.csv:1: empty column name in the header (column 2)`},
		{"csv empty file", "users.csv", "\n\n", false, `users.csv:1: empty file, want a header row`},
		{"csv line after multi-line field", "users.csv", "id,note\na,\"line1\nline2\"\nb,x,y\n", false, `users.csv:4: wrong number of fields`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := write(t, filepath.Join(dir, tc.file), tc.content)
			cfg := file.Config{Users: path, StateDir: filepath.Join(dir, "state")}
			if tc.combined {
				cfg.Groups = path
			}
			s := newSource(t, cfg)
			check := func(op string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error, want %q", op, tc.want)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%s: %v\nwant %q", op, err, tc.want)
				}
				if !strings.Contains(err.Error(), path+":") {
					t.Fatalf("%s: %v does not name the file %s", op, err, path)
				}
				if connectors.ClassOf(err) != connectors.ClassInvalid {
					t.Fatalf("%s: class %s, want invalid", op, connectors.ClassOf(err))
				}
			}
			_, err := s.Read(ctx, connectors.ReadRequest{Type: connectors.TypeUser}, func(connectors.Change) error { return nil })
			check("Read", err)
			check("Test", s.Test(ctx))
			_, err = s.Get(ctx, connectors.TypeUser, "a")
			check("Get", err)
			_, err = s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser})
			check("Estimate", err)
			if tc.combined && strings.Contains(tc.want, "group") {
				_, err := s.Read(ctx, connectors.ReadRequest{Type: connectors.TypeGroup}, func(connectors.Change) error { return nil })
				check("Read groups", err)
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  file.Config
		want string
	}{
		{file.Config{}, "users: a path is required"},
		{file.Config{Users: "hr.xml"}, `users: "hr.xml": unsupported file type, want .json or .csv`},
		{file.Config{Users: "dir.json/users"}, "unsupported file type"},
		{file.Config{Users: "u.json", Groups: "g.txt"}, `groups: "g.txt": unsupported file type`},
		{file.Config{Users: "u.csv", Groups: "./u.csv"}, "only a JSON file can hold both"},
		{file.Config{Users: "u.csv", MultiValueSeparator: "\n"}, "must not contain quotes or line breaks"},
		{file.Config{Users: "u.csv", MultiValued: []string{" "}}, "multiValued: empty column name"},
	} {
		_, err := file.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	for _, cfg := range []file.Config{
		{Users: "u.JSON"},
		{Users: "u.csv", Groups: "g.csv", IDAttribute: "employeeId", MultiValueSeparator: "|"},
		{Users: "hr.json", Groups: "./hr.json"},
	} {
		if _, err := file.New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

const usersV1 = `[
{"id":"c","displayName":"Carol","department":"Sales"},
{"id":"a","displayName":"Alice","department":"Engineering"},
{"id":"b","displayName":"Bob","department":"Sales"}
]`

// usersV2: a unchanged (keys reordered, other whitespace), b changed, c deleted, d and e
// added.
const usersV2 = `[
  { "department" : "Engineering", "displayName" : "Alice", "id" : "a" },
  {"id":"e","displayName":"Eve"},
  {"id":"b","displayName":"Bob","department":"Marketing"},
  {"id":"d","displayName":"Dan"}
]`

func TestReadFullThenIncremental(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, "users.json"), usersV1)
	state := filepath.Join(dir, "state")
	s := newSource(t, file.Config{Users: path, StateDir: state})

	changes, res := read(t, s, connectors.TypeUser, "")
	if !res.Full || !wmRE.MatchString(res.Watermark) || !strings.HasPrefix(res.Watermark, "users-") {
		t.Fatalf("full read result %+v", res)
	}
	if got := summary(changes); !slices.Equal(got, []string{"+a", "+b", "+c"}) {
		t.Fatalf("full read %v, want sorted upserts", got)
	}
	if changes[1].Object.Attributes["department"] != "Sales" || changes[1].Object.Type != connectors.TypeUser {
		t.Errorf("object b = %+v", changes[1].Object)
	}

	// Nothing changed: no changes, the same watermark.
	changes, same := read(t, s, connectors.TypeUser, res.Watermark)
	if len(changes) != 0 || same.Full || same.Watermark != res.Watermark {
		t.Fatalf("unchanged file: %v, %+v", summary(changes), same)
	}

	replace(t, path, usersV2)
	changes, res2 := read(t, s, connectors.TypeUser, res.Watermark)
	if res2.Full || res2.Watermark == res.Watermark || !wmRE.MatchString(res2.Watermark) {
		t.Fatalf("incremental result %+v", res2)
	}
	if got, want := summary(changes), []string{"+b", "+d", "+e", "-c(Carol)"}; !slices.Equal(got, want) {
		t.Fatalf("incremental read %v, want %v", got, want)
	}
	if changes[0].Object.Attributes["department"] != "Marketing" {
		t.Errorf("changed b = %+v", changes[0].Object)
	}
	if del := changes[3].Object; del.Type != connectors.TypeUser || del.ID != "c" {
		t.Errorf("delete = %+v", del)
	}
}

func TestDeterminism(t *testing.T) {
	dir := t.TempDir()
	p1 := write(t, filepath.Join(dir, "a.json"), usersV2)
	// The same content spelled differently: key order, whitespace, escapes, number form.
	p2 := write(t, filepath.Join(dir, "b.json"), `[{"id":"d","displayName":"Dan"},{"displayName":"Bob","id":"b","department":"Marketing"},
	{"id":"\u0065","displayName":"Eve"},{"displayName":"Alice","department":"Engineering","id":"a"}]`)
	var first []connectors.Change
	var firstWM string
	for i, p := range []string{p1, p1, p2} {
		s := newSource(t, file.Config{Users: p, StateDir: filepath.Join(dir, fmt.Sprint("state", i))})
		changes, res := read(t, s, connectors.TypeUser, "")
		if i == 0 {
			first, firstWM = changes, res.Watermark
			continue
		}
		if !reflect.DeepEqual(changes, first) || res.Watermark != firstWM {
			t.Errorf("read %d: %v %s, want %v %s", i, summary(changes), res.Watermark, summary(first), firstWM)
		}
	}
}

// TestCrashResume: the engine persists a watermark only after applying the changes; after
// a crash it reads again with the old watermark and must get the same changes.
func TestCrashResume(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, "users.json"), usersV1)
	state := filepath.Join(dir, "state")
	s := newSource(t, file.Config{Users: path, StateDir: state})
	_, r1 := read(t, s, connectors.TypeUser, "")
	w1 := r1.Watermark

	replace(t, path, usersV2)
	c2, r2 := read(t, s, connectors.TypeUser, w1)
	// Crash before W2 is persisted: the same request again, then from a new process.
	again, r2b := read(t, s, connectors.TypeUser, w1)
	if !reflect.DeepEqual(again, c2) || r2b != r2 {
		t.Fatalf("second Read(W1) = %v %+v, want %v %+v", summary(again), r2b, summary(c2), r2)
	}
	s2 := newSource(t, file.Config{Users: path, StateDir: state})
	again, r2c := read(t, s2, connectors.TypeUser, w1)
	if !reflect.DeepEqual(again, c2) || r2c != r2 {
		t.Fatalf("Read(W1) after restart = %v %+v, want %v", summary(again), r2c, summary(c2))
	}
	// Estimate agrees.
	if n, err := s2.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser, Watermark: w1}); err != nil || n != int64(len(c2)) {
		t.Fatalf("Estimate(W1) = %d, %v, want %d", n, err, len(c2))
	}
	if got := snapshots(t, state); !slices.Equal(got, sorted(w1, r2.Watermark)) {
		t.Fatalf("snapshots %v, want W1 and W2", got)
	}

	// W2 is persisted; the next read (new content) may drop W1 but never W2.
	replace(t, path, `[{"id":"a","displayName":"Alice"}]`)
	c3, r3 := read(t, s2, connectors.TypeUser, r2.Watermark)
	if got, want := summary(c3), []string{"+a", "-b(Bob)", "-d(Dan)", "-e(Eve)"}; !slices.Equal(got, want) {
		t.Fatalf("Read(W2) = %v, want %v", got, want)
	}
	if got := snapshots(t, state); !slices.Equal(got, sorted(r2.Watermark, r3.Watermark)) {
		t.Fatalf("snapshots %v, want W2 and W3", got)
	}
	again, r3b := read(t, s2, connectors.TypeUser, r2.Watermark)
	if !reflect.DeepEqual(again, c3) || r3b != r3 {
		t.Fatalf("second Read(W2) = %v, want %v", summary(again), summary(c3))
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// TestRetentionOnFullReads: full reads (no watermark) keep the new snapshot and the newest
// other one.
func TestRetentionOnFullReads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.json")
	state := filepath.Join(dir, "state")
	s := newSource(t, file.Config{Users: path, StateDir: state})
	var wms []string
	for i := range 4 {
		replace(t, path, fmt.Sprintf(`[{"id":"u%d"}]`, i))
		_, res := read(t, s, connectors.TypeUser, "")
		wms = append(wms, res.Watermark)
		if got := len(snapshots(t, state)); got > 2 {
			t.Fatalf("after read %d: %d snapshots", i, got)
		}
	}
	if got := snapshots(t, state); !slices.Equal(got, sorted(wms[2], wms[3])) {
		t.Fatalf("snapshots %v, want the last two of %v", got, wms)
	}
	// Reverting to older content reuses its watermark (and file).
	replace(t, path, `[{"id":"u2"}]`)
	if _, res := read(t, s, connectors.TypeUser, wms[3]); res.Watermark != wms[2] {
		t.Fatalf("watermark %s, want %s", res.Watermark, wms[2])
	}
	if got := snapshots(t, state); !slices.Equal(got, sorted(wms[2], wms[3])) {
		t.Fatalf("snapshots %v", got)
	}
}

func TestCorruptOrUnknownSnapshotMeansFullRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, state, wm string) string // returns the watermark to read with
	}{
		{"missing", func(t *testing.T, state, wm string) string {
			os.Remove(filepath.Join(state, wm+".snap"))
			return wm
		}},
		{"truncated", func(t *testing.T, state, wm string) string {
			os.Truncate(filepath.Join(state, wm+".snap"), 20)
			return wm
		}},
		{"empty", func(t *testing.T, state, wm string) string {
			os.Truncate(filepath.Join(state, wm+".snap"), 0)
			return wm
		}},
		{"flipped byte", func(t *testing.T, state, wm string) string {
			p := filepath.Join(state, wm+".snap")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x40
			os.WriteFile(p, b, 0o644)
			return wm
		}},
		{"renamed to another watermark", func(t *testing.T, state, wm string) string {
			other := "users-0123456789abcdef"
			os.Rename(filepath.Join(state, wm+".snap"), filepath.Join(state, other+".snap"))
			return other
		}},
		{"garbage watermark", func(t *testing.T, state, wm string) string { return "../../etc/passwd" }},
		{"other type's watermark", func(t *testing.T, state, wm string) string {
			return "groups-" + strings.TrimPrefix(wm, "users-")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := write(t, filepath.Join(dir, "users.json"), usersV1)
			state := filepath.Join(dir, "state")
			s := newSource(t, file.Config{Users: path, StateDir: state})
			_, res := read(t, s, connectors.TypeUser, "")
			wm := tc.damage(t, state, res.Watermark)
			replace(t, path, usersV2)
			n, err := s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser, Watermark: wm})
			if err != nil || n != 4 {
				t.Errorf("Estimate = %d, %v, want 4 (full)", n, err)
			}
			changes, res2 := read(t, s, connectors.TypeUser, wm)
			if !res2.Full || !slices.Equal(summary(changes), []string{"+a", "+b", "+d", "+e"}) {
				t.Fatalf("read %v %+v, want a full read", summary(changes), res2)
			}
			// The new watermark works.
			if changes, res3 := read(t, s, connectors.TypeUser, res2.Watermark); res3.Full || len(changes) != 0 {
				t.Fatalf("read after recovery %v %+v", summary(changes), res3)
			}
		})
	}
}

// TestDamagedCurrentSnapshotIsRewritten: when the file's content has the watermark of a
// damaged snapshot, the full read that follows stores it again.
func TestDamagedCurrentSnapshotIsRewritten(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, "users.json"), usersV1)
	state := filepath.Join(dir, "state")
	s := newSource(t, file.Config{Users: path, StateDir: state})
	_, res := read(t, s, connectors.TypeUser, "")
	snap := filepath.Join(state, res.Watermark+".snap")
	if err := os.Truncate(snap, 40); err != nil {
		t.Fatal(err)
	}
	changes, again := read(t, s, connectors.TypeUser, res.Watermark)
	if !again.Full || len(changes) != 3 || again.Watermark != res.Watermark {
		t.Fatalf("read with a damaged snapshot: %v %+v", summary(changes), again)
	}
	if changes, inc := read(t, s, connectors.TypeUser, res.Watermark); inc.Full || len(changes) != 0 {
		t.Fatalf("the snapshot was not rewritten: %v %+v", summary(changes), inc)
	}
}

func TestCombinedFileAndGroups(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, "hr.json"), `{
  "generated": "2026-11-24", "meta": {"skip": ["me", {"deep": "]}"}], "n": -1.5e3},
  "groups": [
    {"id": "G2", "displayName": "Sales", "members": ["u1"]},
    {"id": "G1", "displayName": "Engineering", "members": ["u2", "u1"], "description": null}
  ],
  "Users": [{"id": "u2", "displayName": "Two", "manager": "u1"}, {"id": "u1", "displayName": "One"}],
  "trailer": true
}`)
	state := filepath.Join(dir, "state")
	s := newSource(t, file.Config{Users: path, Groups: path, StateDir: state})
	if err := s.Test(ctx); err != nil {
		t.Fatal(err)
	}
	uc, ur := read(t, s, connectors.TypeUser, "")
	gc, gr := read(t, s, connectors.TypeGroup, "")
	if !slices.Equal(summary(uc), []string{"+u1", "+u2"}) || !slices.Equal(summary(gc), []string{"+G1", "+G2"}) {
		t.Fatalf("users %v groups %v", summary(uc), summary(gc))
	}
	if !strings.HasPrefix(gr.Watermark, "groups-") || !strings.HasPrefix(ur.Watermark, "users-") {
		t.Errorf("watermarks %s %s", ur.Watermark, gr.Watermark)
	}
	if g := gc[0].Object; g.Type != connectors.TypeGroup || !reflect.DeepEqual(g.Attributes["members"], []string{"u2", "u1"}) {
		t.Errorf("G1 = %+v", g)
	}
	// A group loses a member, a user leaves: each type sees only its own changes.
	replace(t, path, `{"users":[{"id":"u1","displayName":"One"}],
"groups":[{"id":"G1","displayName":"Engineering","members":["u1"]},{"id":"G2","displayName":"Sales","members":["u1"]}]}`)
	uc, _ = read(t, s, connectors.TypeUser, ur.Watermark)
	gc, _ = read(t, s, connectors.TypeGroup, gr.Watermark)
	if !slices.Equal(summary(uc), []string{"-u2(Two)"}) || !slices.Equal(summary(gc), []string{"+G1"}) {
		t.Fatalf("users %v groups %v", summary(uc), summary(gc))
	}
	if got := len(snapshots(t, state)); got != 4 {
		t.Errorf("%d snapshots, want 2 per type", got)
	}
}

func TestGetAndNotFound(t *testing.T) {
	dir := t.TempDir()
	users := write(t, filepath.Join(dir, "users.json"), usersV1)
	groups := write(t, filepath.Join(dir, "groups.json"), `[{"id":"G1","displayName":"All","members":["a","b","c"]}]`)
	s := newSource(t, file.Config{Users: users, Groups: groups})
	g, err := s.Get(ctx, connectors.TypeGroup, "G1")
	if err != nil || g.Type != connectors.TypeGroup || g.DisplayName() != "All" {
		t.Fatalf("Get(G1) = %+v, %v", g, err)
	}
	for _, m := range g.Attributes["members"].([]string) {
		u, err := s.Get(ctx, connectors.TypeUser, m)
		if err != nil || u.ID != m {
			t.Fatalf("Get(%s) = %+v, %v", m, u, err)
		}
	}
	for _, tc := range []struct {
		typ connectors.ObjectType
		id  string
	}{{connectors.TypeUser, "zz"}, {connectors.TypeUser, "G1"}, {connectors.TypeGroup, "a"}, {connectors.TypeUser, ""}} {
		_, err := s.Get(ctx, tc.typ, tc.id)
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Class != connectors.ClassNotFound || !strings.Contains(ce.Message, "not found") {
			t.Errorf("Get(%s, %q) = %v, want not found", tc.typ, tc.id, err)
		}
	}
	if _, err := s.Get(ctx, "Device", "x"); connectors.ClassOf(err) != connectors.ClassInvalid {
		t.Errorf("Get(Device) = %v, want invalid", err)
	}
}

func TestNoGroupsFile(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, file.Config{Users: write(t, filepath.Join(dir, "u.json"), usersV1), StateDir: filepath.Join(dir, "s")})
	changes, res := read(t, s, connectors.TypeGroup, "")
	if len(changes) != 0 || !res.Full || !strings.HasPrefix(res.Watermark, "groups-") {
		t.Fatalf("groups read %v %+v", summary(changes), res)
	}
	if _, err := s.Get(ctx, connectors.TypeGroup, "G1"); !connectors.IsNotFound(err) {
		t.Fatalf("Get group: %v", err)
	}
	if n, err := s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeGroup}); n != 0 || err != nil {
		t.Fatalf("Estimate groups = %d, %v", n, err)
	}
}

func TestWithoutStateDirEveryReadIsFull(t *testing.T) {
	dir := t.TempDir()
	s := newSource(t, file.Config{Users: write(t, filepath.Join(dir, "u.json"), usersV1)})
	for range 2 {
		changes, res := read(t, s, connectors.TypeUser, "users-0123456789abcdef")
		if len(changes) != 3 || !res.Full || res.Watermark != "" {
			t.Fatalf("read %v %+v", summary(changes), res)
		}
	}
}

func TestEstimate(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, "users.csv"), "id,displayName\nc,Carol\na,Alice\nb,Bob\n")
	s := newSource(t, file.Config{Users: path, StateDir: filepath.Join(dir, "state")})
	if n, err := s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser}); n != 3 || err != nil {
		t.Fatalf("Estimate(full) = %d, %v", n, err)
	}
	_, res := read(t, s, connectors.TypeUser, "")
	replace(t, path, "id,displayName\na,Alice\nb,Robert\nd,Dan\n")
	n, err := s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser, Watermark: res.Watermark})
	changes, _ := read(t, s, connectors.TypeUser, res.Watermark)
	if err != nil || n != 3 || len(changes) != 3 || !slices.Equal(summary(changes), []string{"+b", "+d", "-c(Carol)"}) {
		t.Fatalf("Estimate = %d, %v; read %v", n, err, summary(changes))
	}
}

func TestTestConnection(t *testing.T) {
	dir := t.TempDir()
	good := write(t, filepath.Join(dir, "u.json"), usersV1)
	for _, tc := range []struct {
		name  string
		cfg   file.Config
		class connectors.ErrorClass
		want  string
	}{
		{"ok", file.Config{Users: good, StateDir: filepath.Join(dir, "new", "state")}, "", ""},
		{"missing users", file.Config{Users: filepath.Join(dir, "nope.json")}, connectors.ClassConnection, "no such file"},
		{"missing groups", file.Config{Users: good, Groups: filepath.Join(dir, "g.csv")}, connectors.ClassConnection, "g.csv"},
		{"directory", file.Config{Users: good, Groups: mkdir(t, filepath.Join(dir, "d.json"))}, connectors.ClassConnection, "d.json is a directory"},
		{"malformed", file.Config{Users: write(t, filepath.Join(dir, "bad.json"), "[{]")}, connectors.ClassInvalid, "bad.json:1:3"},
		{"state dir is a file", file.Config{Users: good, StateDir: good}, connectors.ClassConnection, "state directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSource(t, tc.cfg)
			err := s.Test(ctx)
			if connectors.ClassOf(err) != tc.class || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Test = %v, want class %q containing %q", err, tc.class, tc.want)
			}
		})
	}
}

func mkdir(t testing.TB, path string) string {
	t.Helper()
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadStopsOnEmitErrorAndCancel(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("[")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"u%05d"}`, i)
	}
	b.WriteString("]")
	s := newSource(t, file.Config{Users: write(t, filepath.Join(dir, "u.json"), b.String()), StateDir: filepath.Join(dir, "s")})
	stop := errors.New("stop")
	n := 0
	_, err := s.Read(ctx, connectors.ReadRequest{Type: connectors.TypeUser}, func(connectors.Change) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if err != stop || n != 10 {
		t.Fatalf("Read = %v after %d, want stop after 10", err, n)
	}
	cctx, cancel := context.WithCancel(ctx)
	n = 0
	_, err = s.Read(cctx, connectors.ReadRequest{Type: connectors.TypeUser}, func(connectors.Change) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 2000 {
		t.Fatalf("Read = %v after %d, want canceled", err, n)
	}
}

// TestFileRewrittenInPlace: a file changed without a new size or mtime is caught when its
// objects are read again (their bytes no longer match the index).
func TestFileRewrittenInPlace(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, "u.json"), usersV1)
	s := newSource(t, file.Config{Users: path, StateDir: filepath.Join(dir, "s")})
	if _, err := s.Get(ctx, connectors.TypeUser, "b"); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	write(t, path, strings.Replace(usersV1, `"Bob"`, `"Rob"`, 1))
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	_, err := s.Get(ctx, connectors.TypeUser, "b")
	if connectors.ClassOf(err) != connectors.ClassRetryable || !strings.Contains(err.Error(), "changed while it was read") {
		t.Fatalf("Get after in-place rewrite = %v, want a retryable error", err)
	}
	// The index was dropped: the next call sees the new content.
	u, err := s.Get(ctx, connectors.TypeUser, "b")
	if err != nil || u.DisplayName() != "Rob" {
		t.Fatalf("Get = %+v, %v", u, err)
	}
}

func TestReplacedFileIsReindexed(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, "u.json"), usersV1)
	s := newSource(t, file.Config{Users: path})
	if _, err := s.Get(ctx, connectors.TypeUser, "c"); err != nil {
		t.Fatal(err)
	}
	replace(t, path, usersV2)
	if _, err := s.Get(ctx, connectors.TypeUser, "c"); !connectors.IsNotFound(err) {
		t.Fatalf("Get(c) after replace = %v", err)
	}
	if u, err := s.Get(ctx, connectors.TypeUser, "e"); err != nil || u.DisplayName() != "Eve" {
		t.Fatalf("Get(e) = %+v, %v", u, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, connectors.TypeUser, "e"); err == nil {
		t.Fatal("Get after Close succeeded")
	}
}

// TestLargeObjectsAcrossBuffers: objects straddle the 1 MiB read window, and one object is
// larger than the window.
func TestLargeObjectsAcrossBuffers(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("é", 1<<20) // 2 MiB
	var j, c strings.Builder
	j.WriteString("[\n")
	c.WriteString("id,displayName,note\n")
	const n = 30000
	for i := range n {
		if i > 0 {
			j.WriteString(",\n")
		}
		note := fmt.Sprintf("note %d with \\\"escapes\\\"", i)
		cnote := fmt.Sprintf("\"note %d with \"\"quotes\"\",\nand a line break\"", i)
		if i == n/2 {
			note, cnote = big, big
		}
		fmt.Fprintf(&j, `{"id":"u%06d","displayName":"User %d","note":"%s"}`, n-i, i, note)
		fmt.Fprintf(&c, "u%06d,User %d,%s\r\n", n-i, i, cnote)
	}
	j.WriteString("\n]")
	for _, p := range []string{write(t, filepath.Join(dir, "u.json"), j.String()), write(t, filepath.Join(dir, "u.csv"), c.String())} {
		s := newSource(t, file.Config{Users: p, StateDir: filepath.Join(dir, filepath.Base(p)+".state")})
		changes, res := read(t, s, connectors.TypeUser, "")
		if len(changes) != n || !res.Full {
			t.Fatalf("%s: %d changes", p, len(changes))
		}
		for i, ch := range changes {
			if want := fmt.Sprintf("u%06d", i+1); ch.Object.ID != want {
				t.Fatalf("%s: change %d is %s, want %s", p, i, ch.Object.ID, want)
			}
		}
		u, err := s.Get(ctx, connectors.TypeUser, fmt.Sprintf("u%06d", n-n/2))
		if err != nil || u.Attributes["note"] != big {
			t.Fatalf("%s: big object: %v", p, err)
		}
		if u, _ := s.Get(ctx, connectors.TypeUser, "u000007"); !strings.Contains(u.Attributes["note"].(string), `with "`) {
			t.Fatalf("%s: %v", p, u.Attributes["note"])
		}
		if changes, _ := read(t, s, connectors.TypeUser, res.Watermark); len(changes) != 0 {
			t.Fatalf("%s: unchanged file gave %d changes", p, len(changes))
		}
	}
}

// TestHRGenChurn: a generated export and a day of churn, through both formats: the
// incremental read reports exactly what the generator changed.
func TestHRGenChurn(t *testing.T) {
	for _, format := range []string{"json", "csv"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			d := hrgen.Generate(hrgen.Options{Seed: 7, Users: 3000, Groups: 60})
			cfg := file.Config{StateDir: filepath.Join(dir, "state")}
			writeOut := func() {
				var err error
				if format == "json" {
					cfg.Users = filepath.Join(dir, "hr.json")
					cfg.Groups = cfg.Users
					err = d.WriteJSON(cfg.Users)
				} else {
					cfg.Users, cfg.Groups = filepath.Join(dir, "users.csv"), filepath.Join(dir, "groups.csv")
					err = d.WriteCSV(cfg.Users, cfg.Groups)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			writeOut()
			s := newSource(t, cfg)
			users, ur := read(t, s, connectors.TypeUser, "")
			groups, gr := read(t, s, connectors.TypeGroup, "")
			if len(users) != 3000 || len(groups) != 60 {
				t.Fatalf("%d users, %d groups", len(users), len(groups))
			}
			u := users[0].Object.Attributes
			if _, ok := u["accountEnabled"].(bool); !ok {
				t.Errorf("accountEnabled = %#v, want a bool", u["accountEnabled"])
			}
			if _, ok := groups[0].Object.Attributes["members"].([]string); !ok {
				t.Errorf("members = %#v", groups[0].Object.Attributes["members"])
			}
			sum := d.Step(1)
			writeOut()
			est, err := s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser, Watermark: ur.Watermark})
			if err != nil {
				t.Fatal(err)
			}
			changes, _ := read(t, s, connectors.TypeUser, ur.Watermark)
			var ups, dels int
			for _, c := range changes {
				if c.Kind == connectors.ChangeDelete {
					dels++
				} else {
					ups++
				}
			}
			if ups != sum.UsersUpserted || dels != sum.Deleted || est != int64(len(changes)) {
				t.Fatalf("read %d upserts, %d deletes (estimate %d); step %+v", ups, dels, est, sum)
			}
			gchanges, _ := read(t, s, connectors.TypeGroup, gr.Watermark)
			if len(gchanges) != sum.GroupsChanged {
				t.Fatalf("%d group changes, step changed %d groups", len(gchanges), sum.GroupsChanged)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	d := hrgen.Generate(hrgen.Options{Seed: 3, Users: 500, Groups: 20})
	path := filepath.Join(dir, "hr.json")
	if err := d.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, file.Config{Users: path, Groups: path, StateDir: filepath.Join(dir, "state")})
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			typ := connectors.TypeUser
			if i%2 == 1 {
				typ = connectors.TypeGroup
			}
			_, err := s.Read(ctx, connectors.ReadRequest{Type: typ}, func(c connectors.Change) error {
				if c.Object.Type == connectors.TypeGroup {
					for _, m := range c.Object.Attributes["members"].([]string)[:1] {
						if _, err := s.Get(ctx, connectors.TypeUser, m); err != nil {
							return err
						}
					}
				}
				return nil
			})
			done <- err
		}()
	}
	timeout := time.After(time.Minute)
	for range 8 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("concurrent reads did not finish")
		}
	}
}
