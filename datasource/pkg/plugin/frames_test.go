package plugin

import (
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/datasource/pkg/framecheck"
	"github.com/provisiond/provisiond/provisioning"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func TestBucketStart(t *testing.T) {
	tests := []struct {
		t        time.Time
		interval time.Duration
		want     time.Time
	}{
		{t0.Add(90 * time.Second), time.Minute, t0.Add(time.Minute)},
		{t0, time.Hour, t0},
		// Multiples of the interval since the Unix epoch, not since the zero time.
		{time.Unix(0, 0).Add(15 * time.Minute), 7 * time.Minute, time.Unix(0, 0).Add(14 * time.Minute).UTC()},
		{time.Unix(0, 0).Add(-time.Minute), 7 * time.Minute, time.Unix(0, 0).Add(-7 * time.Minute).UTC()},
	}
	for _, tt := range tests {
		if got := bucketStart(tt.t, tt.interval); !got.Equal(tt.want) {
			t.Errorf("bucketStart(%v, %v) = %v, want %v", tt.t, tt.interval, got, tt.want)
		}
	}
}

func TestEventCountFrames(t *testing.T) {
	from, to := t0, t0.Add(5*time.Minute)
	b := func(min int, n int64, labels map[string]string) provisioning.StatsBucket {
		return provisioning.StatsBucket{Time: t0.Add(time.Duration(min) * time.Minute), Count: n, Labels: labels}
	}
	tests := []struct {
		name    string
		buckets []provisioning.StatsBucket
		groupBy []string
		pinned  map[string]string
		series  int
		noData  bool
		sum     float64
	}{
		{name: "no events, no groupBy: one zero series", series: 1},
		{name: "no events, grouped: no data", groupBy: []string{"status"}, noData: true},
		{name: "no events, grouped and pinned: the pinned series", groupBy: []string{"jobId", "status"},
			pinned: map[string]string{"jobId": "demo", "status": "failure"}, series: 1},
		{name: "partly pinned: no data", groupBy: []string{"jobId", "status"}, pinned: map[string]string{"jobId": "demo"}, noData: true},
		{name: "grouped", groupBy: []string{"status"}, series: 2, sum: 6, buckets: []provisioning.StatsBucket{
			b(0, 1, map[string]string{"status": "success"}), b(3, 2, map[string]string{"status": "success"}),
			b(3, 3, map[string]string{"status": "failure"}),
			b(9, 100, map[string]string{"status": "failure"}), // outside the range: dropped
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames := eventCountFrames(tt.buckets, tt.groupBy, tt.pinned, from, to, time.Minute)
			r, err := framecheck.Alertable(frames)
			if err != nil {
				t.Fatal(err)
			}
			if r.NoData != tt.noData || len(r.Series) != tt.series {
				t.Fatalf("result %+v", r)
			}
			var sum float64
			for _, f := range frames {
				if len(f.Fields) == 0 {
					continue
				}
				if f.Rows() != 5 {
					t.Fatalf("%d buckets, want 5", f.Rows())
				}
				for i := 0; i < f.Rows(); i++ {
					v, _ := f.Fields[1].FloatAt(i)
					sum += v
				}
			}
			if sum != tt.sum {
				t.Fatalf("sum %v, want %v", sum, tt.sum)
			}
		})
	}
}

func TestMetricValue(t *testing.T) {
	now := t0
	ended := now.Add(-2 * time.Hour)
	job := func(s provisioning.Status) client.Job {
		j := client.Job{Status: s}
		j.ID = "j"
		j.Schedule.Interval = provisioning.Duration(40 * time.Minute)
		return j
	}
	ok := &provisioning.Cycle{TimeBegan: ended.Add(-time.Minute), TimeEnded: &ended, State: provisioning.CycleSucceeded}
	quarantined := provisioning.Status{Code: provisioning.StatusQuarantine, Quarantine: &provisioning.Quarantine{
		Reason: provisioning.ReasonQuarantineException, Error: provisioning.SynchronizationErr{Code: "Unauthorized"}},
		LastSuccessfulExecution: ok, LastExecution: ok, EscrowCount: 7, StagedDeleteCount: 3, CountSuccessiveCompleteFailures: 2,
		Progress: &provisioning.Progress{CompletedUnits: 1, TotalUnits: 4}}
	tests := []struct {
		metric string
		status provisioning.Status
		want   float64
	}{
		{MetricQuarantined, quarantined, 1},
		{MetricQuarantined, provisioning.Status{Code: provisioning.StatusActive}, 0},
		{MetricCredentialFailure, quarantined, 1},
		{MetricCredentialFailure, provisioning.Status{LastError: &provisioning.SynchronizationErr{Code: "InsufficientRights"}}, 1},
		{MetricCredentialFailure, provisioning.Status{LastError: &provisioning.SynchronizationErr{Code: "Timeout"}}, 0},
		// Deprovisions are held only by the deletion breaker (quarantine TooManyDeletes).
		{MetricHeldDeletes, quarantined, 0},
		{MetricHeldDeletes, provisioning.Status{Code: provisioning.StatusQuarantine, StagedDeleteCount: 3,
			Quarantine: &provisioning.Quarantine{Reason: provisioning.ReasonTooManyDeletes}}, 3},
		{MetricEscrows, quarantined, 7},
		{MetricSinceLastSuccessSeconds, quarantined, 7200},
		{MetricIntervalsSinceLastSuccess, quarantined, 3},
		{MetricSinceLastSuccessSeconds, provisioning.Status{LastExecution: &provisioning.Cycle{TimeBegan: now.Add(-time.Minute)}}, 60},
		{MetricSinceLastSuccessSeconds, provisioning.Status{}, 0},
		{MetricSuccessiveFailures, quarantined, 2},
		{MetricProgressPercent, quarantined, 25},
	}
	for _, tt := range tests {
		if got := metricValue(tt.metric, job(tt.status), now); got != tt.want {
			t.Errorf("%s of %+v = %v, want %v", tt.metric, tt.status.Code, got, tt.want)
		}
	}
	// No jobs: the typed "no data" answer.
	r, err := framecheck.Alertable(quarantineFrames(MetricQuarantined, nil, now))
	if err != nil || !r.NoData {
		t.Fatalf("no jobs: %+v %v", r, err)
	}
}

func TestProgressFramesRunningCycle(t *testing.T) {
	ended, ended0 := t0.Add(time.Minute), t0.Add(-30*time.Second)
	j := client.Job{Status: provisioning.Status{Progress: &provisioning.Progress{CycleID: "c2", CompletedUnits: 30, TotalUnits: 120,
		ProgressObservationDateTime: t0.Add(3 * time.Minute)}}}
	j.ID = "demo"
	cycles := map[string][]provisioning.Cycle{"demo": {
		{CycleID: "c2", TimeBegan: t0.Add(2 * time.Minute)}, // running; newest first as the API lists them
		{CycleID: "c1", TimeBegan: t0, TimeEnded: &ended, CountImported: 100},
		{CycleID: "c0", TimeBegan: t0.Add(-time.Hour), TimeEnded: &ended0}, // began before the range, ended in it
	}}
	frames := progressFrames([]client.Job{j}, cycles, t0.Add(-time.Minute), t0.Add(time.Hour))
	if err := framecheck.TimeSeries(frames); err != nil {
		t.Fatal(err)
	}
	if len(frames) != 3 {
		t.Fatalf("%d frames, want progress, completed, total", len(frames))
	}
	pct := frames[0].Fields[1]
	var got []float64
	for i := 0; i < pct.Len(); i++ {
		got = append(got, pct.At(i).(float64))
	}
	// c0 (0, 100), c1 (0, 100), c2 begins (0) and is 25 % done.
	want := []float64{0, 100, 0, 100, 0, 25}
	if len(got) != len(want) {
		t.Fatalf("progress %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("progress %v, want %v", got, want)
		}
	}
	// Cycles outside the range leave no points (a running one reaches to now); none at
	// all is "no data".
	r, err := framecheck.Alertable(progressFrames([]client.Job{j}, cycles, t0.Add(-3*time.Hour), t0.Add(-2*time.Hour)))
	if err != nil || !r.NoData {
		t.Fatalf("outside the range: %+v %v", r, err)
	}
}

func TestEventBody(t *testing.T) {
	ev := provisioning.Event{Action: provisioning.ActionCreate, Status: provisioning.ResultFailure,
		SourceIdentity:   provisioning.Identity{ID: "E1", DisplayName: "Alice Smith", IdentityType: "User"},
		ErrorInformation: &provisioning.ErrorInformation{ErrorCode: "EntryConflict", Reason: "409 Conflict"}}
	if got, want := eventBody(ev), `create User "Alice Smith" (E1): failure - EntryConflict: 409 Conflict`; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	ev = provisioning.Event{Action: provisioning.ActionDelete, Status: provisioning.ResultSuccess,
		TargetIdentity: provisioning.Identity{ID: "t1", DisplayName: "Bob"}}
	if got, want := eventBody(ev), `delete object "Bob" (t1): success`; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	f := logsFrame("events", nil, "uid", "name", 10)
	if err := framecheck.LogLines(f); err != nil {
		t.Errorf("empty logs frame: %v", err)
	}
	if got := f.Meta.Custom.(map[string]any)["limit"]; got != 10 {
		t.Errorf("custom limit %v", got)
	}
	if err := framecheck.Table(data.Frames{eventsTable("events", nil, "uid", "name"), cyclesFrame(nil), topErrorsFrame(nil, "u", "n"), statusFrame(nil)}); err != nil {
		t.Errorf("empty tables: %v", err)
	}
}
