package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/provisiond/provisiond/api/client"
)

// CheckHealth is the datasource settings' "Save & test": it calls the API's /healthz (the
// API's major version must be the client's) and one authenticated call (the job list),
// and explains what to fix when either fails.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	fail := func(format string, args ...any) (*backend.CheckHealthResult, error) {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: fmt.Sprintf(format, args...)}, nil
	}
	if d.settingsErr != nil {
		return fail("%s", settingsMessage(d.settingsErr))
	}
	url := d.settings.APIURL
	h, err := d.api.Health(ctx)
	if err != nil {
		if st := client.StatusOf(err); st != 0 {
			return fail("provisiond at %s answered /healthz with HTTP %d (%v): is this the provisiond API URL?", url, st, err)
		}
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		if errors.As(err, &se) || errors.As(err, &te) {
			return fail("%s answered /healthz with something other than provisiond's health JSON (%v): is this the provisiond API URL?", url, err)
		}
		return fail("Cannot reach the provisiond API at %s: %v. Check the API URL and that provisiond is running and reachable from the Grafana server.", url, rootCause(err))
	}
	if h.APIVersion == "" {
		return fail("provisiond at %s (version %s) does not report an API version: it predates API %s; upgrade provisiond.", url, orUnknown(h.Version), client.APIVersion)
	}
	if major(h.APIVersion) != major(client.APIVersion) {
		return fail("provisiond at %s speaks API version %s, but this plugin needs API %s.x: upgrade the older of provisiond (%s) and the plugin (%s).",
			url, h.APIVersion, major(client.APIVersion), orUnknown(h.Version), Version)
	}
	jobs, err := d.api.Jobs(ctx)
	if err != nil {
		switch client.StatusOf(err) {
		case http.StatusUnauthorized:
			return fail("provisiond at %s rejected the API token (HTTP 401): the token in the datasource settings (API token) is not provisiond's reader or admin token. Paste the reader token (PROVISIOND_READER_TOKEN of the daemon).", url)
		case http.StatusForbidden:
			return fail("provisiond at %s refused the API token (HTTP 403): the token in the datasource settings may not read jobs; use provisiond's reader token.", url)
		case 0:
			return fail("Cannot reach the provisiond API at %s: %v.", url, rootCause(err))
		}
		return fail("provisiond at %s failed to list jobs: %v", url, err)
	}
	details, _ := json.Marshal(map[string]any{"version": h.Version, "apiVersion": h.APIVersion, "jobs": len(jobs)})
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk, JSONDetails: details,
		Message: fmt.Sprintf("Connected to provisiond %s (API %s) at %s: %d job(s).", orUnknown(h.Version), h.APIVersion, url, len(jobs))}, nil
}

// major is the major part of a version ("1.0" → "1").
func major(v string) string {
	m, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".")
	return m
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown version)"
	}
	return s
}

// rootCause strips the client's "provisiond API at URL unreachable:" prefix (the message
// names the URL already).
func rootCause(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}
