package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	const cfg = `connectors:
  hr: {type: file, users: users.json}
  app: {type: scim, url: "http://127.0.0.1:1/scim/v2", auth: {type: bearer, token: t0ken}}
jobs:
  - id: app
    source: hr
    target: app
    schedule: {interval: %s}
    users:
      attributes:
        - {type: Direct, source: userName, target: userName, matchingPrecedence: 1}
`
	if err := os.WriteFile(good, []byte(strings.Replace(cfg, "%s", "40m", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(cfg, "%s", "40 min", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "validate", "--config", good)
	if err != nil || !strings.Contains(out, "OK (2 connectors, 1 jobs)") {
		t.Fatalf("good config: %v %s", err, out)
	}
	_, err = run(t, "validate", "--config", bad)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("bad config: %v, want exit code 2", err)
	}
	if want := "bad.yaml:8: jobs[0].schedule.interval: invalid duration"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "provisiond ") {
		t.Fatalf("%v %q", err, out)
	}
}
