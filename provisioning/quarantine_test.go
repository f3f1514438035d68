package provisioning

import (
	"log/slog"
	"testing"
	"time"
)

// TestEscrowThresholds runs the reference's quarantine examples, at Entra's thresholds and
// scaled down by 1,000 (settings are configurable).
func TestEscrowThresholds(t *testing.T) {
	cases := []struct {
		name                  string
		failed, refFail, okay int64
		want                  QuarantineReason
	}{
		{"45,000 failed", 45000, 0, 0, ReasonEscrowProportionThreshold},
		{"30,000 failed + 5,000 ok", 30000, 0, 5000, ReasonEscrowProportionThreshold},
		{"20,000 failed + 100,000 ok", 20000, 0, 100000, ""},
		{"40,000 user + 21,000 manager failures", 61000, 21000, 200000, ReasonTotalEscrowThreshold},
		{"41,000 failed + 100,000 ok (over 40,000, under 40%)", 41000, 0, 100000, ReasonBaseEscrowThreshold},
		{"4,999 failed, below the base", 4999, 0, 0, ""},
		{"39,000 user + 20,000 reference failures: 59,000 < cap, 39,000 < 40,000, 16% ", 59000, 20000, 200000, ""},
	}
	for _, scale := range []int64{1, 1000} {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := Settings{}.Defaults()
				if scale > 1 {
					s.QuarantineBaseEscrows, s.QuarantineTotalEscrows, s.QuarantineAbsoluteCap = 5, 40, 60
				}
				e := &Engine{log: slog.New(slog.DiscardHandler), now: func() time.Time { return time.Unix(1e9, 0) }}
				j := &jobRun{e: e, job: Job{ID: "j", Settings: s}}
				j.state.Status.Code = StatusActive
				cr := &cycleRun{j: j, c: Cycle{Type: CycleIncremental, CountFailed: c.failed / scale}, refFails: c.refFail / scale, successes: c.okay / scale}
				cr.evaluateEscrowThresholds()
				got := QuarantineReason("")
				if q := j.state.Status.Quarantine; q != nil {
					got = q.Reason
				}
				if got != c.want {
					t.Errorf("scale 1/%d: got %q, want %q", scale, got, c.want)
				}
			})
		}
	}
}
