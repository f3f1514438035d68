package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/storetest"
)

const (
	crashEnv   = "PROVISIOND_SQLITE_CRASH_DB"
	crashJob   = "crash"
	crashBatch = 100 // events and links per batch
)

// TestCrashChild is the child process of TestCrash: it commits batches until it is killed.
// Each batch holds crashBatch events, their crashBatch links and the job state whose
// checkpoint position is the number of events committed so far (this batch included).
// After each commit it prints the position, so the parent knows what was acknowledged.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("the child process of TestCrash")
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		fmt.Println("CRASHTEST open failed:", err)
		os.Exit(3)
	}
	var pos int64
	switch st, err := s.LoadJobState(ctx, crashJob); {
	case err == nil:
		pos = st.Checkpoint.Position
	case !errors.Is(err, provisioning.ErrNotFound):
		fmt.Println("CRASHTEST load failed:", err)
		os.Exit(3)
	}
	fmt.Println("CRASHTEST ready", pos)
	r := rand.New(rand.NewPCG(uint64(pos), uint64(time.Now().UnixNano())))
	for {
		b := provisioning.Batch{JobID: crashJob}
		for i := range crashBatch {
			n := int(pos) + i
			src := fmt.Sprintf("u%08d", n)
			ev := storetest.SampleEvent(r, crashJob, "c1", fmt.Sprintf("e%08d", n), n, storetest.Base.Add(time.Duration(n)*time.Millisecond))
			ev.SourceIdentity.ID = src
			b.Events = append(b.Events, ev)
			b.Links = append(b.Links, storetest.SampleLink(crashJob, connectors.TypeUser, src, storetest.Base))
		}
		pos += crashBatch
		b.State = &provisioning.JobState{JobID: crashJob, Checkpoint: &provisioning.Checkpoint{CycleID: "c1", Position: pos}}
		if err := s.Commit(ctx, b); err != nil {
			fmt.Println("CRASHTEST commit failed:", err)
			os.Exit(3)
		}
		fmt.Println("CRASHTEST committed", pos)
	}
}

// TestCrash kills a committing process with SIGKILL at random moments and checks, each
// time, that the database opens cleanly and holds exactly the whole batches that committed:
// as many events and links as the checkpoint says, every event with its link, and at least
// everything the child saw acknowledged.
func TestCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	start := time.Now()
	var kills, acked int64
	for iter := 0; iter < 8 && time.Since(start) < 6*time.Second; iter++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1<<16)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if l := sc.Text(); strings.HasPrefix(l, "CRASHTEST ") {
					lines <- strings.TrimPrefix(l, "CRASHTEST ")
				}
			}
			close(lines)
		}()
		var delay time.Duration
		if iter == 0 {
			// The first kill may land while Open creates the schema.
			delay = time.Duration(r.IntN(30)) * time.Millisecond
		} else {
			select {
			case l := <-lines:
				if !strings.HasPrefix(l, "ready") {
					t.Fatalf("child: %s", l)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("child did not start")
			}
			delay = time.Duration(30+r.IntN(400)) * time.Millisecond
		}
		time.Sleep(delay)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		cmd.Wait()
		kills++
		var last int64 = -1 // the last position the child saw committed
		for l := range lines {
			switch {
			case strings.HasPrefix(l, "committed "):
				last, _ = strconv.ParseInt(strings.TrimPrefix(l, "committed "), 10, 64)
				acked++
			case strings.HasPrefix(l, "ready"):
			default:
				t.Fatalf("child: %s", l)
			}
		}
		pos := verifyCrashDB(t, path)
		t.Logf("kill %d after %v: %d events committed, %d acknowledged", iter, delay, pos, last)
		if last >= 0 && (pos < last || pos > last+crashBatch) {
			t.Fatalf("after the kill the checkpoint is at %d, the child had acknowledged %d", pos, last)
		}
	}
	if acked == 0 {
		t.Fatalf("no batch committed in %d runs: the test did not test anything", kills)
	}
}

// verifyCrashDB opens the database left by a killed child and checks its consistency;
// it returns the checkpoint position.
func verifyCrashDB(t *testing.T, path string) int64 {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open after kill: %v", err)
	}
	defer s.Close()
	var check string
	if err := s.reader.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check after kill: %s %v", check, err)
	}
	var pos int64
	switch st, err := s.LoadJobState(ctx, crashJob); {
	case err == nil:
		pos = st.Checkpoint.Position
	case !errors.Is(err, provisioning.ErrNotFound):
		t.Fatalf("LoadJobState: %v", err)
	}
	var events, distinct, orphans int64
	if err := s.reader.QueryRow(`SELECT count(*), count(DISTINCT id) FROM events WHERE job_id = ?`, crashJob).Scan(&events, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := s.reader.QueryRow(`SELECT count(*) FROM events e LEFT JOIN links l
		ON l.job_id = e.job_id AND l.type = 'User' AND l.source_id = e.source_id WHERE l.source_id IS NULL`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	links, err := s.CountLinks(ctx, crashJob)
	if err != nil {
		t.Fatal(err)
	}
	if pos%crashBatch != 0 || events != pos || distinct != pos || links[connectors.TypeUser] != pos || orphans != 0 {
		t.Fatalf("after kill: checkpoint %d, %d events (%d distinct), %d links, %d events without a link",
			pos, events, distinct, links[connectors.TypeUser], orphans)
	}
	// The newest events read back whole through the store.
	if pos > 0 {
		evs, err := s.QueryEvents(ctx, provisioning.EventQuery{JobID: crashJob, Limit: crashBatch})
		if err != nil || len(evs) != crashBatch || evs[0].ID != fmt.Sprintf("e%08d", pos-1) || len(evs[0].ProvisioningSteps) != 6 {
			t.Fatalf("newest events after kill: %d, %v", len(evs), err)
		}
	}
	return pos
}
