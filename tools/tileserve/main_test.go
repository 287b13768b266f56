package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"checkpoint":           "rekor-tiles.local\n5\nroot\n\n— sig\n",
		"tile/0/000.p/5":       "partial-hash-tile",
		"tile/entries/000.p/5": "partial-bundle",
		"tile/0/x001/234":      "full-tile",
		"tile/data/000.p/5":    "partial-data-tile",
		"issuer/0a1b":          "issuer-der",
		".state/treeState":     "private",
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(handler(dir))
	defer srv.Close()

	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
		wantType   string
	}{
		{"/checkpoint", http.StatusOK, files["checkpoint"], "text/plain; charset=utf-8"},
		{"/tile/0/000.p/5", http.StatusOK, "partial-hash-tile", "application/octet-stream"},
		{"/tile/entries/000.p/5", http.StatusOK, "partial-bundle", "application/octet-stream"},
		{"/tile/0/x001/234", http.StatusOK, "full-tile", "application/octet-stream"},
		{"/tile/data/000.p/5", http.StatusOK, "partial-data-tile", "application/octet-stream"},
		{"/issuer/0a1b", http.StatusOK, "issuer-der", "application/pkix-cert"},
		{"/tile/0/000", http.StatusNotFound, "", ""},
		{"/.state/treeState", http.StatusNotFound, "", ""},
		{"/tile/../.state/treeState", http.StatusNotFound, "", ""},
		{"/tile/0/000.p", http.StatusNotFound, "", ""},
		{"/tile/", http.StatusNotFound, "", ""},
		{"/issuer/", http.StatusNotFound, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultTransport.RoundTrip(req) // no redirect following
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusOK && string(body) != tt.wantBody {
				t.Errorf("GET %s body = %q, want %q", tt.path, body, tt.wantBody)
			}
			if got := resp.Header.Get("Content-Type"); tt.wantType != "" && got != tt.wantType {
				t.Errorf("GET %s Content-Type = %q, want %q", tt.path, got, tt.wantType)
			}
		})
	}
}
