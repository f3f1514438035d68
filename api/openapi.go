package api

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the API's OpenAPI 3.0 description (api/openapi.json), served at
// GET /api/v1/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	if p := newParams(r); p.err != nil {
		WriteErr(w, p.err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(OpenAPI)
}
