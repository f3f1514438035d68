package api

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

// Streaming exports: format=ndjson and format=csv write every event a query selects,
// reading the store streamChunk events at a time (keyset paging on activityDateTime and
// id) and flushing after each chunk, so memory stays bounded by one chunk whatever the
// export's size.

// CSV columns of each table (Entra's three downloads, joined on changeId).
var (
	csvEventColumns = []string{"id", "activityDateTime", "jobId", "cycleId", "changeId", "action", "status",
		"errorCode", "errorCategory", "reason", "recommendedAction",
		"sourceIdentityId", "sourceIdentityDisplayName", "sourceIdentityType",
		"targetIdentityId", "targetIdentityDisplayName",
		"sourceSystem", "targetSystem", "initiatedBy", "durationInMilliseconds", "traceId"}
	csvStepColumns = []string{"changeId", "eventId", "index", "name", "provisioningStepType", "status",
		"description", "details", "start", "durationInMilliseconds"}
	csvModifiedPropertyColumns = []string{"changeId", "eventId", "displayName", "oldValue", "newValue"}
)

// csvFileNames are the attachment names, Entra's.
var csvFileNames = map[string]string{
	"events":             "ProvisioningLogs.csv",
	"steps":              "ProvisioningLogs_ProvisioningSteps.csv",
	"modifiedProperties": "ProvisioningLogs_ModifiedProperties.csv",
}

// streamEvents writes every event q selects (at most limit when limit > 0) as NDJSON or
// as one CSV table. Errors before the first byte are JSON errors; a store failure later
// aborts the response, so a client sees a truncated transfer rather than a short export
// that looks complete.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, q provisioning.EventQuery, limit int, format, table string) {
	ctx := r.Context()
	// next reads the chunk after q.After; done reports that the export is complete.
	sent := 0
	next := func() (evs []provisioning.Event, done bool, err error) {
		q.Limit = streamChunk
		if limit > 0 {
			q.Limit = min(streamChunk, limit-sent)
		}
		evs, err = s.o.Store.QueryEvents(ctx, q)
		if err != nil {
			return nil, false, err
		}
		if len(evs) > 0 {
			last := evs[len(evs)-1]
			q.After = &provisioning.EventPosition{Time: last.ActivityDateTime, ID: last.ID}
		}
		sent += len(evs)
		return evs, len(evs) < q.Limit || limit > 0 && sent >= limit, nil
	}
	evs, done, err := next()
	if err != nil {
		WriteErr(w, err)
		return
	}
	// An export may take minutes: the server's write timeout is for ordinary answers.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if format == "ndjson" {
		h.Set("Content-Type", "application/x-ndjson")
	} else {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="`+csvFileNames[table]+`"`)
	}
	w.WriteHeader(http.StatusOK)
	// abort ends the response without finishing the chunked body: the client sees a
	// truncated transfer, not a short export that looks complete.
	abort := func(err error) {
		s.o.Logger.Error("provisioning log export aborted", "error", err, "events", sent)
		panic(http.ErrAbortHandler)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var write func(provisioning.Event) error
	var cw *csv.Writer
	if format == "ndjson" {
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		write = func(ev provisioning.Event) error { return enc.Encode(ev) }
	} else {
		cw = csv.NewWriter(bw)
		var header []string
		header, write = csvTable(cw, table)
		if err := cw.Write(header); err != nil {
			abort(err)
		}
	}
	for {
		for _, ev := range evs {
			if err := write(ev); err != nil {
				abort(err)
			}
		}
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				abort(err)
			}
		}
		if err := bw.Flush(); err != nil {
			abort(err)
		}
		if err := rc.Flush(); err != nil {
			abort(err)
		}
		if done {
			return
		}
		if evs, done, err = next(); err != nil {
			abort(err)
		}
	}
}

// csvTable returns the header of one CSV table and the writer of an event's rows.
func csvTable(cw *csv.Writer, table string) ([]string, func(provisioning.Event) error) {
	row := make([]string, 0, len(csvEventColumns))
	switch table {
	case "steps":
		return csvStepColumns, func(ev provisioning.Event) error {
			for i, st := range ev.ProvisioningSteps {
				details := ""
				if len(st.Details) > 0 {
					b, err := json.Marshal(st.Details) // keys sorted
					if err != nil {
						return err
					}
					details = string(b)
				}
				row = append(row[:0], cell(ev.ChangeID), cell(ev.ID), strconv.Itoa(i), cell(st.Name),
					cell(string(st.ProvisioningStepType)), cell(string(st.Status)), cell(st.Description), cell(details),
					csvTime(st.Start), strconv.FormatFloat(st.DurationInMilliseconds, 'f', -1, 64))
				if err := cw.Write(row); err != nil {
					return err
				}
			}
			return nil
		}
	case "modifiedProperties":
		return csvModifiedPropertyColumns, func(ev provisioning.Event) error {
			for _, mp := range ev.ModifiedProperties {
				row = append(row[:0], cell(ev.ChangeID), cell(ev.ID), cell(mp.DisplayName), cell(mp.OldValue), cell(mp.NewValue))
				if err := cw.Write(row); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return csvEventColumns, func(ev provisioning.Event) error {
		var ei provisioning.ErrorInformation
		if ev.ErrorInformation != nil {
			ei = *ev.ErrorInformation
		}
		initiator := ev.InitiatedBy.DisplayName
		if initiator == "" {
			initiator = ev.InitiatedBy.ID
		}
		row = append(row[:0], cell(ev.ID), csvTime(ev.ActivityDateTime), cell(ev.JobID), cell(ev.CycleID), cell(ev.ChangeID),
			cell(string(ev.Action)), cell(string(ev.Status)),
			cell(ei.ErrorCode), cell(ei.ErrorCategory), cell(ei.Reason), cell(ei.RecommendedAction),
			cell(ev.SourceIdentity.ID), cell(ev.SourceIdentity.DisplayName), cell(ev.SourceIdentity.IdentityType),
			cell(ev.TargetIdentity.ID), cell(ev.TargetIdentity.DisplayName),
			cell(ev.SourceSystem), cell(ev.TargetSystem), cell(initiator),
			strconv.FormatInt(ev.DurationInMilliseconds, 10), cell(ev.TraceID))
		return cw.Write(row)
	}
}

// cell neutralises spreadsheet formula injection (OWASP "CSV injection"): a text cell
// starting with = + - @ tab or carriage return gets a leading apostrophe, so that Excel,
// LibreOffice and Google Sheets show it as text instead of evaluating it. Numbers and
// times the server formats are written as they are.
func cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
