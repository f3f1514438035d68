package exporter

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestNamesMatchDocs fails when names.go and docs/telemetry.md disagree: every name
// defined in names.go is in the document, and every provisioning.* name in the document
// is defined in names.go.
func TestNamesMatchDocs(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "names.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, v := range vs.Values {
			if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, _ := strconv.Unquote(lit.Value)
				defined[s] = vs.Names[i].Name
			}
		}
		return true
	})
	if len(defined) < 50 {
		t.Fatalf("only %d names parsed from names.go", len(defined))
	}
	b, err := os.ReadFile("../docs/telemetry.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	quoted := map[string]bool{}
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(doc, -1) {
		quoted[m[1]] = true
	}
	for v, name := range defined {
		switch {
		case name == "AttrStepDetailPrefix":
			if !quoted[v+"<key>"] {
				t.Errorf("%s (%q) is not in docs/telemetry.md", name, v+"<key>")
			}
		case !quoted[v]:
			t.Errorf("%s (%q) is not in docs/telemetry.md", name, v)
		}
	}
	for q := range quoted {
		if strings.HasPrefix(q, "provisioning.") && !strings.Contains(q, "<") {
			if _, ok := defined[q]; !ok {
				t.Errorf("docs/telemetry.md names %q, which names.go does not define", q)
			}
		}
	}
}
