package connectorpb

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestGeneratedCodeIsCurrent fails when connector.proto changed after the Go code was
// generated: `mage proto` regenerates it and records the .proto's hash.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	src, err := os.ReadFile("connector.proto")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("connector.proto.sha256")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(src)); got != strings.TrimSpace(string(want)) {
		t.Fatalf("connector.proto changed since the Go code was generated: run `mage proto` (needs protoc: apt-get install -y --no-install-recommends protobuf-compiler)")
	}
}
