package search

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/vigil-tlog/vigil/internal/index"
)

// Handler serves the JSON API:
//
//	GET /api/v1/search?...             a Response (see ParseQuery)
//	GET /api/v1/entries/{log}/{index}  an Entry
//
// Errors are JSON too, {"error": "...", "field": "..."}: 400 for a
// malformed query (field names the parameter), 404 for an entry the index
// does not hold or a monitor without an index, 500 otherwise.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/search", s.handleSearch)
	mux.HandleFunc("GET /api/v1/entries/{log}/{index}", s.handleEntry)
	return mux
}

func (s *Service) handleSearch(w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.Search(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Service) handleEntry(w http.ResponseWriter, r *http.Request) {
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 63)
	if err != nil {
		s.writeError(w, r, &index.QueryError{Field: "index", Value: r.PathValue("index"), Reason: "not an entry index"})
		return
	}
	e, err := s.Entry(r.Context(), r.PathValue("log"), idx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var qe *index.QueryError
	switch {
	case errors.As(err, &qe):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error(), Field: qe.Field})
	case errors.Is(err, ErrNoIndex), errors.Is(err, os.ErrNotExist):
		writeJSON(w, http.StatusNotFound, errorBody{Error: err.Error()})
	case r.Context().Err() != nil:
		// The client went away: nobody reads the answer.
	default:
		s.logger.ErrorContext(r.Context(), "search failed", "url", r.URL.String(), "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: err.Error()})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may have gone
}

// Authorize requires token on h when it is not empty: API requests (paths
// under /api/) as "Authorization: Bearer <token>", and pages as the
// password of HTTP basic authentication (any user name), which browsers
// ask for. The token is compared in constant time.
func Authorize(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got string
		if strings.HasPrefix(r.URL.Path, "/api/") {
			if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
				got = strings.TrimSpace(a[7:])
			}
			if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
				writeJSON(w, http.StatusUnauthorized, errorBody{Error: "a bearer token is required (Authorization: Bearer <api.token_file>)"})
				return
			}
		} else {
			_, got, _ = r.BasicAuth()
			if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="vigil", charset="UTF-8"`)
				http.Error(w, "the page needs the API token as the password (any user name)", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// ReadToken reads a bearer token from a file: its content without
// surrounding white space, which must not be empty.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", errors.New(path + " is empty: the API token must not be")
	}
	if strings.ContainsAny(t, " \t\r\n") {
		return "", errors.New(path + " holds white space inside the token: one line, the token alone")
	}
	return t, nil
}
