package plugin

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/provisiond/provisiond/api/client"
)

// Resource answers of CallResource (the query editors' pickers).
type (
	// JobResource is one job of GET jobs.
	JobResource struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	// IdentityResource is one identity of GET identities.
	IdentityResource struct {
		Value        string `json:"value"`
		Label        string `json:"label"`
		JobID        string `json:"jobId"`
		IdentityType string `json:"identityType"`
	}
)

// CallResource serves GET jobs and GET identities?query=&jobId=&limit=.
func (d *Datasource) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	return d.resources.CallResource(ctx, req, sender)
}

func (d *Datasource) resourceMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /jobs", func(w http.ResponseWriter, r *http.Request) {
		if !d.resourceReady(w) {
			return
		}
		jobs, err := d.api.Jobs(r.Context())
		if err != nil {
			writeResourceError(w, err)
			return
		}
		out := make([]JobResource, 0, len(jobs))
		for _, j := range matchJobs(jobs, r.URL.Query().Get("query")) {
			out = append(out, JobResource{ID: j.ID, Name: j.Name})
		}
		writeResource(w, http.StatusOK, out)
	})
	m.HandleFunc("GET /identities", func(w http.ResponseWriter, r *http.Request) {
		if !d.resourceReady(w) {
			return
		}
		v := r.URL.Query()
		limit := 100
		if s := v.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000 {
				writeResource(w, http.StatusBadRequest, map[string]string{"error": `parameter "limit": want a whole number from 1 to 1000`})
				return
			}
			limit = n
		}
		ids, err := d.api.SearchIdentities(r.Context(), v.Get("query"), v.Get("jobId"), limit)
		if err != nil {
			writeResourceError(w, err)
			return
		}
		out := make([]IdentityResource, 0, len(ids))
		for _, id := range ids {
			out = append(out, IdentityResource{Value: id.ID, Label: identityLabel(id), JobID: id.JobID, IdentityType: id.IdentityType})
		}
		writeResource(w, http.StatusOK, out)
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeResource(w, http.StatusNotFound, map[string]string{"error": "no resource " + r.Method + " " + r.URL.Path + "; the datasource serves GET jobs and GET identities"})
	})
	return m
}

func (d *Datasource) resourceReady(w http.ResponseWriter) bool {
	if d.settingsErr != nil {
		writeResource(w, http.StatusBadRequest, map[string]string{"error": settingsMessage(d.settingsErr)})
		return false
	}
	return true
}

func writeResourceError(w http.ResponseWriter, err error) {
	status := client.StatusOf(err)
	if status == 0 || status >= 500 {
		status = http.StatusBadGateway
	}
	writeResource(w, status, map[string]string{"error": err.Error()})
}

func writeResource(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
