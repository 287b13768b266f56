package ctlog_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	ct "github.com/google/certificate-transparency-go"

	"github.com/vigil-tlog/vigil/internal/ctleaf/ctleaftest"
	"github.com/vigil-tlog/vigil/internal/ctlog"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// prefix is the log's prefix under the server, as ct_server's.
const prefix = "/vigil-ct"

// sthTime is the timestamp the server signs tree heads at (Unix ms).
const sthTime = uint64(1_700_000_000_456)

// server serves a ctleaftest.Log through the RFC 6962 API, with knobs to
// make it misbehave.
type server struct {
	t   testing.TB
	log *ctleaftest.Log
	srv *httptest.Server

	mu sync.Mutex
	// size is the tree size get-sth serves (default: the whole log).
	size uint64
	// maxEntries caps a get-entries answer (0: no cap).
	maxEntries int
	// sth replaces the get-sth answer when non-nil.
	sth []byte
	// entries edits a get-entries answer before it is served.
	entries func(start uint64, es []ct.LeafEntry) []ct.LeafEntry
	// pad adds a member of this many bytes to each entry of an answer.
	pad int
	// noEntryAndProof makes get-entry-and-proof answer 404.
	noEntryAndProof bool
	// notFound is the status of get-proof-by-hash for an unknown hash.
	notFound int
	// extra serves more paths.
	extra map[string]string

	requests atomic.Int64
}

func newServer(t testing.TB, l *ctleaftest.Log) *server {
	s := &server{t: t, log: l, notFound: http.StatusNotFound}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// url is the log's base URL.
func (s *server) url() string { return s.srv.URL + prefix }

// open returns a ctlog.Log reading the server with the default origin.
func (s *server) open(t testing.TB) *ctlog.Log {
	t.Helper()
	c, err := tlog.NewHTTPClient(tlog.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ctlog.New(tlog.Options{URL: s.url(), Client: c})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (s *server) set(f func(*server)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *server) writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Errorf("encoding answer: %v", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	size, maxEntries, sth, edit, pad, noEAP, notFound := s.size, s.maxEntries, s.sth, s.entries, s.pad, s.noEntryAndProof, s.notFound
	body, extra := s.extra[r.URL.Path]
	s.mu.Unlock()
	if extra {
		_, _ = w.Write([]byte(body))
		return
	}
	if size == 0 {
		size = s.log.Size()
	}
	q := r.URL.Query()
	num := func(name string) (uint64, bool) {
		v, err := strconv.ParseUint(q.Get(name), 10, 64)
		if err != nil {
			http.Error(w, "bad "+name, http.StatusBadRequest)
			return 0, false
		}
		return v, true
	}
	path, ok := strings.CutPrefix(r.URL.Path, prefix+"/ct/v1/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch path {
	case "get-sth":
		if sth != nil {
			_, _ = w.Write(sth)
			return
		}
		b, err := s.log.STHJSON(size, sthTime)
		if err != nil {
			s.t.Error(err)
		}
		_, _ = w.Write(b)
	case "get-sth-consistency":
		first, ok1 := num("first")
		second, ok2 := num("second")
		if !ok1 || !ok2 {
			return
		}
		p, err := s.log.ConsistencyProof(first, second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.writeJSON(w, ct.GetSTHConsistencyResponse{Consistency: p})
	case "get-entries":
		start, ok1 := num("start")
		end, ok2 := num("end")
		if !ok1 || !ok2 {
			return
		}
		if start > end || start >= size {
			http.Error(w, "bad range", http.StatusBadRequest)
			return
		}
		end = min(end, size-1)
		if maxEntries > 0 {
			end = min(end, start+uint64(maxEntries)-1)
		}
		var es []ct.LeafEntry
		for i := start; i <= end; i++ {
			leaf, extra := s.log.Entry(i)
			es = append(es, ct.LeafEntry{LeafInput: leaf, ExtraData: extra})
		}
		if edit != nil {
			es = edit(start, es)
		}
		if pad == 0 {
			s.writeJSON(w, ct.GetEntriesResponse{Entries: es})
			return
		}
		type padded struct {
			ct.LeafEntry
			Pad string `json:"pad"`
		}
		ps := make([]padded, len(es))
		for i, e := range es {
			ps[i] = padded{e, strings.Repeat("x", pad)}
		}
		s.writeJSON(w, map[string]any{"entries": ps})
	case "get-entry-and-proof":
		if noEAP {
			http.NotFound(w, r)
			return
		}
		index, ok1 := num("leaf_index")
		treeSize, ok2 := num("tree_size")
		if !ok1 || !ok2 {
			return
		}
		p, err := s.log.InclusionProof(index, treeSize)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		leaf, extra := s.log.Entry(index)
		s.writeJSON(w, ct.GetEntryAndProofResponse{LeafInput: leaf, ExtraData: extra, AuditPath: p})
	case "get-proof-by-hash":
		h, err := base64.StdEncoding.DecodeString(q.Get("hash"))
		treeSize, ok := num("tree_size")
		if err != nil || !ok {
			http.Error(w, "bad hash", http.StatusBadRequest)
			return
		}
		for i := range treeSize {
			if bytes.Equal(s.log.LeafHash(i), h) {
				p, err := s.log.InclusionProof(i, treeSize)
				if err != nil {
					s.t.Error(err)
				}
				s.writeJSON(w, ct.GetProofByHashResponse{LeafIndex: int64(i), AuditPath: p})
				return
			}
		}
		http.Error(w, "get-proof-by-hash: backend GetInclusionProofByHash request failed: rpc error: code = NotFound desc = not found", notFound)
	case "get-roots":
		s.writeJSON(w, map[string][]string{"certificates": {base64.StdEncoding.EncodeToString([]byte("root-1")), base64.StdEncoding.EncodeToString([]byte("root-2"))}})
	default:
		http.NotFound(w, r)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
