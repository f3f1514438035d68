package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

// writeEvent prints one event in full (logs show, provision): identities, each step with
// its status, duration, description, details and calls, the modified properties, the
// error information and the trace.
func writeEvent(w io.Writer, ev provisioning.Event, indent string) error {
	ew := &errWriter{w: w}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	kv := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "%s%s\t%s\n", indent, k, fmt.Sprintf(format, args...))
	}
	kv("Event", "%s", ev.ID)
	kv("Time", "%s", clock(ev.ActivityDateTime))
	where := "job " + ev.JobID
	if ev.CycleID != "" {
		where += ", cycle " + ev.CycleID
	}
	if ev.ChangeID != "" {
		where += ", change " + ev.ChangeID
	}
	kv("Where", "%s", where)
	kv("Result", "%s %s in %s", ev.Action, ev.Status, wholeMillis(ev.DurationInMilliseconds))
	kv("Source", "%s%s", typed(ev.SourceIdentity), in(ev.SourceSystem))
	kv("Target", "%s%s", typed(ev.TargetIdentity), in(ev.TargetSystem))
	if by := ev.InitiatedBy; by.ID != "" || by.DisplayName != "" || by.InitiatorType != "" {
		kv("Initiated by", "%s", strings.TrimSpace(orDash(by.InitiatorType)+" "+firstOf(by.DisplayName, by.ID)))
	}
	if ev.TraceID != "" {
		trace := ev.TraceID
		if ev.SpanID != "" {
			trace += " (span " + ev.SpanID + ")"
		}
		kv("Trace", "%s", trace)
	}
	tw.Flush()
	if len(ev.ProvisioningSteps) > 0 {
		fmt.Fprintf(ew, "\n%sSteps\n", indent)
		writeSteps(ew, ev.ProvisioningSteps, indent+"  ")
	}
	if len(ev.ModifiedProperties) > 0 {
		fmt.Fprintf(ew, "\n%sModified properties\n", indent)
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		for _, p := range ev.ModifiedProperties {
			fmt.Fprintf(tw, "%s  %s\t%s → %s\n", indent, p.DisplayName, value(p.OldValue), value(p.NewValue))
		}
		tw.Flush()
	}
	if e := ev.ErrorInformation; e != nil {
		fmt.Fprintf(ew, "\n%sError\n", indent)
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		code := orDash(e.ErrorCode)
		if e.ErrorCategory != "" {
			code += " (" + e.ErrorCategory + ")"
		}
		kv("  Code", "%s", code)
		kv("  Reason", "%s", orDash(e.Reason))
		if e.AdditionalDetails != "" {
			kv("  Details", "%s", e.AdditionalDetails)
		}
		kv("  Recommended", "%s", orDash(e.RecommendedAction))
		tw.Flush()
	}
	return ew.err
}

// writeSteps prints steps in the order they ran, each with its details and calls beneath.
func writeSteps(w io.Writer, steps []provisioning.Step, indent string) {
	t := table{header: []string{"#", "TYPE", "STEP", "STATUS", "DURATION", "DESCRIPTION"}, right: map[int]bool{0: true, 4: true}}
	for i, s := range steps {
		t.rows = append(t.rows, []string{strconv.Itoa(i + 1), string(s.ProvisioningStepType), s.Name, string(s.Status),
			span(millis(s.DurationInMilliseconds)), s.Description})
	}
	var b strings.Builder
	_ = t.render(&b, 0)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	// Details and calls go beneath the TYPE column, a little further in.
	sub := indent + strings.Repeat(" ", len(strconv.Itoa(len(steps)))+len(colGap)+2)
	fmt.Fprintf(w, "%s%s\n", indent, lines[0])
	for i, s := range steps {
		fmt.Fprintf(w, "%s%s\n", indent, lines[i+1])
		for _, k := range sortedKeys(s.Details) {
			fmt.Fprintf(w, "%s%s: %s\n", sub, k, firstOf(s.Details[k], "(none)"))
		}
		for _, c := range s.Calls {
			res := strconv.Itoa(c.Status)
			if c.Status == 0 {
				res = "no answer"
			}
			if c.Error != "" {
				res += ": " + c.Error
			}
			fmt.Fprintf(w, "%s%s %s → %s (%s)\n", sub, c.Method, c.Target, res, span(millis(c.DurationInMilliseconds)))
		}
	}
}

// wholeMillis prints an event's duration (whole milliseconds).
func wholeMillis(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return span(time.Duration(ms) * time.Millisecond)
}

// typed is "User Ada Lovelace (7f3c…)".
func typed(id provisioning.Identity) string {
	s := identityCell(provisioning.Identity{ID: id.ID, DisplayName: id.DisplayName})
	if id.IdentityType != "" && s != "—" {
		s = id.IdentityType + " " + s
	}
	return s
}

func in(system string) string {
	if system == "" {
		return ""
	}
	return " in " + system
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// value quotes a property value; an empty one is "(none)".
func value(v string) string {
	if v == "" {
		return "(none)"
	}
	return strconv.Quote(v)
}

// errWriter remembers the first write error, so a printer can write freely and check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
