package search_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/search"
)

// prover proves every entry but those of log "broken".
type prover struct{}

func (prover) Prove(_ context.Context, log string, idx uint64, leaf []byte) (*search.Proof, error) {
	if log == "broken" {
		return nil, errors.New("the log is down")
	}
	return &search.Proof{LeafIndex: idx, TreeSize: idx + 1, RootHash: fmt.Sprintf("%x", leaf), Checkpoint: "origin\n1\n"}, nil
}

func (prover) Fetch(_ context.Context, log string, idx uint64, leaf []byte) ([]byte, [][]byte, error) {
	return []byte("body"), nil, nil
}

func leaf(i int) []byte {
	h := sha256.Sum256([]byte(fmt.Sprint(i)))
	return h[:]
}

func newStore(t *testing.T) *index.Store {
	t.Helper()
	ix, err := index.Open(t.Context(), index.Config{Path: filepath.Join(t.TempDir(), "ix.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	var recs []index.Record
	for i := range 3 {
		for _, log := range []string{"rekor", "broken"} {
			recs = append(recs, index.Record{Log: log, Index: uint64(i), Kind: "hashedrekord:0.0.2", LeafHash: leaf(i),
				Time:       time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC),
				Identities: []index.Identity{{Subjects: []string{"alice@example.com"}, Issuer: "https://issuer.example.com"}}})
		}
	}
	if err := ix.Add(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestSearchProvesEachResult(t *testing.T) {
	s := search.New(newStore(t), prover{}, nil)
	resp, err := s.Search(t.Context(), index.Query{Subject: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 6 {
		t.Fatalf("%d results, want 6", len(resp.Results))
	}
	for _, r := range resp.Results {
		switch {
		case r.Log == "broken" && (r.Proof != nil || !strings.Contains(r.ProofError, "the log is down")):
			t.Errorf("%s/%d: proof %v, error %q; want the prover's error, and the result kept", r.Log, r.Index, r.Proof, r.ProofError)
		case r.Log == "rekor" && (r.Proof == nil || r.Proof.LeafIndex != r.Index):
			t.Errorf("%s/%d: proof %+v (%s)", r.Log, r.Index, r.Proof, r.ProofError)
		}
		if r.Time == nil || len(r.Identities) != 1 || r.Identities[0].Issuer != "https://issuer.example.com" {
			t.Errorf("%s/%d: %+v", r.Log, r.Index, r)
		}
	}
	off := search.New(newStore(t), nil, nil)
	resp, err = off.Search(t.Context(), index.Query{Log: "rekor"})
	if err != nil || len(resp.Results) != 3 || resp.Results[0].Proof != nil || !strings.Contains(resp.Results[0].ProofError, "api.proofs") {
		t.Errorf("without a prover: %+v, %v", resp, err)
	}
}

func TestAPI(t *testing.T) {
	s := search.New(newStore(t), prover{}, nil)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) (int, map[string]any) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: not JSON: %s", path, b)
		}
		return resp.StatusCode, m
	}
	for _, c := range []struct {
		path  string
		code  int
		field string
	}{
		{"/api/v1/search?subject=alice@example.com&log=rekor", 200, ""},
		{"/api/v1/search?digest=zz", 400, "digest"},
		{"/api/v1/search?limit=501", 400, "limit"},
		{"/api/v1/search?limit=0", 400, "limit"},
		{"/api/v1/search?subjet=x", 400, "subjet"},
		{"/api/v1/search?since=2026-13-01", 400, "since"},
		{"/api/v1/search?since=2026-01-03&until=2026-01-02", 400, "until"},
		{"/api/v1/search?cursor=garbage", 400, "cursor"},
		{"/api/v1/search?extension.1.3.6.1.4.1.57264.1.12=x&extension.not-an-oid=y", 400, "extension.not-an-oid"},
		{"/api/v1/entries/rekor/1", 200, ""},
		{"/api/v1/entries/rekor/99", 404, ""},
		{"/api/v1/entries/rekor/-1", 400, "index"},
	} {
		code, m := get(c.path)
		if code != c.code || (c.field != "" && m["field"] != c.field) {
			t.Errorf("GET %s = %d %v, want %d naming %q", c.path, code, m, c.code, c.field)
		}
	}
	_, m := get("/api/v1/search?subject=alice@example.com&log=rekor&since=2026-01-02")
	if rs, _ := m["results"].([]any); len(rs) != 2 {
		t.Errorf("since 2026-01-02: %d results, want 2 (%v)", len(rs), m)
	}
	noIndex := httptest.NewServer(search.New(nil, nil, nil).Handler())
	defer noIndex.Close()
	resp, err := http.Get(noIndex.URL + "/api/v1/search?subject=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("without an index: HTTP %d, want 404", resp.StatusCode)
	}
}

func TestAuthorize(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	srv := httptest.NewServer(search.Authorize("tok", ok))
	defer srv.Close()
	do := func(path string, set func(*http.Request)) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	none := func(*http.Request) {}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	basic := func(pw string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth("anyone", pw) } }
	for _, c := range []struct {
		path string
		set  func(*http.Request)
		want int
	}{
		{"/api/v1/search", none, 401},
		{"/api/v1/search", bearer("nope"), 401},
		{"/api/v1/search", bearer("tok"), 200},
		{"/api/v1/search", basic("tok"), 401},
		{"/", none, 401},
		{"/", basic("nope"), 401},
		{"/", basic("tok"), 200},
		{"/search", bearer("tok"), 401},
	} {
		if got := do(c.path, c.set); got != c.want {
			t.Errorf("GET %s: HTTP %d, want %d", c.path, got, c.want)
		}
	}
	if search.Authorize("", ok) == nil {
		t.Fatal("no handler")
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		content, want, err string
	}{
		{"tok\n", "tok", ""},
		{"  \n", "", "is empty"},
		{"two words", "", "white space"},
	} {
		p := filepath.Join(dir, "t")
		if err := os.WriteFile(p, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := search.ReadToken(p)
		if got != c.want || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("ReadToken(%q) = %q, %v; want %q, %q", c.content, got, err, c.want, c.err)
		}
	}
	if _, err := search.ReadToken(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
