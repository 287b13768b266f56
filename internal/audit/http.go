package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Path is where Handler serves the audit.
const Path = "/api/v1/audit-bundle"

// Handler serves POST /api/v1/audit-bundle: the body is one bundle (JSON,
// at most MaxBundleSize bytes; the query parameter name labels it in the
// report), the answer a Report as JSON with
//
//	200  a verdict: "consistent", or "split_view" with the evidence
//	400  an invalid bundle ("invalid"), the error naming the field
//	413  a body over MaxBundleSize
//	503  no verdict: the log could not be asked ("no_verdict")
//
// It does no authorisation: the monitor mounts it behind its API token.
func (a *Auditor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Path, a.serveAudit)
	return mux
}

func (a *Auditor) serveAudit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBundleSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, &Report{Verdict: Invalid,
				Error: fmt.Sprintf("the bundle is over the %d byte limit", MaxBundleSize)})
			return
		}
		writeJSON(w, http.StatusBadRequest, &Report{Verdict: Invalid, Error: "reading the bundle: " + err.Error()})
		return
	}
	rep := a.Audit(r.Context(), r.URL.Query().Get("name"), body)
	writeJSON(w, StatusCode(rep.Verdict), rep)
}

// StatusCode is the HTTP status Handler answers a verdict with.
func StatusCode(v Verdict) int {
	switch v {
	case Consistent, SplitView:
		return http.StatusOK
	case Invalid:
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
