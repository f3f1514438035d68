package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocExamples parses the example configurations of docs/configuration.md, so that the
// operator's reference stays true.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for rest := string(doc); ; {
		_, after, ok := strings.Cut(rest, "```yaml\n")
		if !ok {
			break
		}
		block, after, ok := strings.Cut(after, "```\n")
		if !ok {
			t.Fatal("unterminated yaml block")
		}
		rest = after
		if strings.Contains("\n"+block, "\nconnectors:") {
			// A whole configuration, not a snippet.
			blocks = append(blocks, block)
		}
	}
	if len(blocks) != 2 {
		t.Fatalf("%d whole configurations, want 2 (the complete and the smallest example)", len(blocks))
	}
	env := func(name string) (string, bool) {
		if name == "APP_TOKEN" {
			return "app-token", true
		}
		return validEnv(name)
	}
	for i, block := range blocks {
		path := layout(t, block)
		cfg, err := Parse(path, []byte(block), env)
		if err != nil {
			t.Errorf("example %d:\n%v", i+1, err)
			continue
		}
		if len(cfg.Jobs) == 0 {
			t.Errorf("example %d has no jobs", i+1)
		}
	}
}
