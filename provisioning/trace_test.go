package provisioning

import (
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

func TestOperationTrace(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	ev := Event{ID: "0193a1b2-0000-7000-8000-000000000001", ActivityDateTime: t0, JobID: "demo", CycleID: "c1", ChangeID: "ch1",
		Action: ActionCreate, Status: ResultFailure, DurationInMilliseconds: 40,
		SourceIdentity:   Identity{ID: "E1", DisplayName: "Alice", IdentityType: "User"},
		ErrorInformation: &ErrorInformation{ErrorCode: "SystemForCrossDomainIdentityManagementBadRequest", ErrorCategory: "NonServiceFailure", Reason: "bad"},
		ProvisioningSteps: []Step{
			{Name: "EntryImport", ProvisioningStepType: StepImport, Status: ResultSuccess, Start: t0, DurationInMilliseconds: 1},
			{Name: "EntryExport", ProvisioningStepType: StepExport, Status: ResultFailure, Description: "bad", Start: t0.Add(2 * time.Millisecond), DurationInMilliseconds: 60,
				Calls: []connectors.Call{{Method: "POST", Target: "/scim/v2/Users?x=1", Status: 400, Start: t0.Add(3 * time.Millisecond), DurationInMilliseconds: 5}}},
		}}
	a, b := OperationTrace(ev, "provisiond"), OperationTrace(ev, "provisiond")
	if len(a) != 4 {
		t.Fatalf("spans = %d, want root, 2 steps, 1 call", len(a))
	}
	for i := range a {
		if a[i].SpanID != b[i].SpanID || a[i].TraceID != b[i].TraceID {
			t.Fatal("derived ids must be stable")
		}
	}
	root, exp, call := a[0], a[2], a[3]
	if len(root.TraceID) != 32 || len(root.SpanID) != 16 || root.ParentSpanID != "" || root.Name != "provision user" {
		t.Errorf("root = %+v", root)
	}
	// The root covers its steps even when the event's duration is shorter.
	if root.DurationInMilliseconds < 62 {
		t.Errorf("root duration = %v, want >= 62 (covers the export step)", root.DurationInMilliseconds)
	}
	if root.Status != "error" || root.Attributes["error.type"] != ev.ErrorInformation.ErrorCode {
		t.Errorf("root status/attributes = %s %v", root.Status, root.Attributes)
	}
	if exp.ParentSpanID != root.SpanID || exp.Name != "export" || exp.Status != "error" {
		t.Errorf("export step = %+v", exp)
	}
	if call.ParentSpanID != exp.SpanID || call.Kind != "client" || call.Name != "HTTP POST" || call.Status != "error" ||
		call.Attributes["url.path"] != "/scim/v2/Users" || call.Attributes["url.query"] != "x=1" || call.Attributes["http.response.status_code"] != "400" {
		t.Errorf("call = %+v", call)
	}
	// Recorded ids win over derived ones.
	ev.TraceID, ev.SpanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ev.ProvisioningSteps[1].SpanID = "b7ad6b7169203331"
	ev.ProvisioningSteps[1].Calls[0].SpanID = "c7ad6b7169203331"
	s := OperationTrace(ev, "provisiond")
	if s[0].TraceID != ev.TraceID || s[0].SpanID != ev.SpanID || s[2].SpanID != "b7ad6b7169203331" || s[3].SpanID != "c7ad6b7169203331" || s[3].ParentSpanID != "b7ad6b7169203331" {
		t.Errorf("recorded ids not used: %+v", s)
	}
}
