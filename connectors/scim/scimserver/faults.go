package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Faults are injected into requests under /scim/v2 (not into /admin/faults, so faults can
// always be switched off again). In order: Latency is added to every request; then an
// Unauthorized server answers 401; then, for authenticated requests, a ThrottleRate fraction
// is answered 429 with a Retry-After header and an ErrorRate fraction 500, both with a SCIM
// error body.
//
// JSON (GET/PUT /admin/faults): durations are written as Go duration strings ("250ms", "2s")
// and read from such strings or from JSON numbers, which count nanoseconds (what
// encoding/json does with a time.Duration). Example:
//
//	{"latency":"50ms","errorRate":0.1,"throttleRate":0.2,"retryAfter":"2s","unauthorized":false}
type Faults struct {
	Latency      time.Duration `json:"latency"`      // added to every request
	ErrorRate    float64       `json:"errorRate"`    // 0..1, fraction answered 500
	ThrottleRate float64       `json:"throttleRate"` // 0..1, fraction answered 429
	RetryAfter   time.Duration `json:"retryAfter"`   // Retry-After on 429 (whole seconds, min 1s)
	Unauthorized bool          `json:"unauthorized"` // every call 401
}

type faultsJSON struct {
	Latency      jsonDuration `json:"latency"`
	ErrorRate    float64      `json:"errorRate"`
	ThrottleRate float64      `json:"throttleRate"`
	RetryAfter   jsonDuration `json:"retryAfter"`
	Unauthorized bool         `json:"unauthorized"`
}

// MarshalJSON writes durations as Go duration strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Latency:      jsonDuration(f.Latency),
		ErrorRate:    f.ErrorRate,
		ThrottleRate: f.ThrottleRate,
		RetryAfter:   jsonDuration(f.RetryAfter),
		Unauthorized: f.Unauthorized,
	})
}

// UnmarshalJSON reads durations from Go duration strings or numbers of nanoseconds. Unknown
// fields are rejected.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return err
	}
	*f = Faults{
		Latency:      time.Duration(j.Latency),
		ErrorRate:    j.ErrorRate,
		ThrottleRate: j.ThrottleRate,
		RetryAfter:   time.Duration(j.RetryAfter),
		Unauthorized: j.Unauthorized,
	}
	return nil
}

// Validate reports an error if a rate is outside 0..1 or a duration is negative.
func (f Faults) Validate() error {
	var errs []error
	for name, r := range map[string]float64{"errorRate": f.ErrorRate, "throttleRate": f.ThrottleRate} {
		if math.IsNaN(r) || r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("%s must be between 0 and 1, got %v", name, r))
		}
	}
	if f.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency must not be negative, got %s", f.Latency))
	}
	if f.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("retryAfter must not be negative, got %s", f.RetryAfter))
	}
	return errors.Join(errs...)
}

// retryAfterSeconds is the Retry-After header value: whole seconds, rounded up, at least 1.
func (f Faults) retryAfterSeconds() int {
	return max(1, int(math.Ceil(f.RetryAfter.Seconds())))
}

type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = jsonDuration(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string such as \"250ms\" or a number of nanoseconds: %w", err)
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return fmt.Errorf("duration must be a string such as \"250ms\" or a whole number of nanoseconds: %w", err)
	}
	*d = jsonDuration(v)
	return nil
}

// SetFaults replaces the injected faults. Invalid values are clamped: rates to 0..1,
// negative durations to 0.
func (s *Server) SetFaults(f Faults) {
	f.ErrorRate = clamp01(f.ErrorRate)
	f.ThrottleRate = clamp01(f.ThrottleRate)
	f.Latency = max(0, f.Latency)
	f.RetryAfter = max(0, f.RetryAfter)
	s.faults.Store(&f)
	s.log.Info("scim server faults set", "latency", f.Latency, "errorRate", f.ErrorRate,
		"throttleRate", f.ThrottleRate, "retryAfter", f.RetryAfter, "unauthorized", f.Unauthorized)
}

// Faults returns the injected faults.
func (s *Server) Faults() Faults { return *s.faults.Load() }

func clamp01(r float64) float64 {
	if math.IsNaN(r) || r < 0 {
		return 0
	}
	return min(r, 1)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// hit reports whether a request falls in a fraction rate of requests.
func hit(rate float64) bool {
	return rate > 0 && (rate >= 1 || rand.Float64() < rate)
}

// serveFaults answers GET and PUT /admin/faults.
func (s *Server) serveFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		var f Faults
		body := http.MaxBytesReader(w, r.Body, 64<<10)
		if err := json.NewDecoder(body).Decode(&f); err != nil {
			writeError(w, http.StatusBadRequest, "invalidSyntax", "invalid faults JSON: "+err.Error())
			return
		}
		if err := f.Validate(); err != nil {
			writeError(w, http.StatusBadRequest, "invalidValue", err.Error())
			return
		}
		s.SetFaults(f)
	default:
		w.Header().Set("Allow", "GET, PUT")
		writeError(w, http.StatusMethodNotAllowed, "", "use GET or PUT")
		return
	}
	b, _ := json.Marshal(s.Faults())
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
