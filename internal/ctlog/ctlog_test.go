package ctlog_test

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/ctleaf/ctleaftest"
	"github.com/vigil-tlog/vigil/internal/ctlog"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// newLog returns an in-memory CT log of n entries: Fulcio-style
// precertificates and their final certificates, alternately.
func newLog(t testing.TB, n int) *ctleaftest.Log {
	t.Helper()
	l, err := ctleaftest.NewLog("unused.example.com")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ctleaftest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ctleaftest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; uint64(i) < uint64(n); i += 2 {
		is, err := ca.Issue(l, k.Public(), fmt.Sprintf("user%d@example.com", i), "https://issuer.example.com", uint64(1_700_000_000_000+i))
		if err != nil {
			t.Fatal(err)
		}
		if i+1 < n {
			if _, _, err := l.AddChain([][]byte{is.Final, is.Issuer}, false, uint64(1_700_000_000_000+i+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return l
}

func verifier(t testing.TB, l *ctlog.Log, pub crypto.PublicKey) note.Verifier {
	t.Helper()
	v, err := l.Verifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// head fetches and verifies the log's tree head.
func head(t testing.TB, l *ctlog.Log, pub crypto.PublicKey) *checkpoint.Checkpoint {
	t.Helper()
	h, err := l.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(h.Note, "", []note.Verifier{verifier(t, l, pub)})
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestHeadAndCheckpoint(t *testing.T) {
	mem := newLog(t, 5)
	s := newServer(t, mem)
	l := s.open(t)
	wantOrigin := strings.TrimPrefix(s.url(), "http://")
	if l.Origin() != wantOrigin {
		t.Errorf("default origin = %q, want %q", l.Origin(), wantOrigin)
	}
	served, _ := mem.STHJSON(5, sthTime)
	s.set(func(s *server) { s.sth = served })
	h, err := l.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Note, served) || h.HasClaims || h.TreeID != "" {
		t.Errorf("Head = %+v, want the get-sth answer %s as served", h, served)
	}
	v := verifier(t, l, mem.Public())
	cp, err := l.Checkpoint(h.Note, "", []note.Verifier{v})
	if err != nil {
		t.Fatal(err)
	}
	if cp.Origin != wantOrigin || cp.Size != 5 || !bytes.Equal(cp.Hash, mem.Root(5)) || cp.Timestamp.UnixMilli() != int64(sthTime) {
		t.Errorf("Checkpoint = %v at %v", cp, cp.Timestamp)
	}
	if !bytes.HasPrefix(cp.Raw, []byte(wantOrigin+"\n5\n")) {
		t.Errorf("Checkpoint.Raw = %q, want the checkpoint form", cp.Raw)
	}
	// The checkpoint form, as saved, verifies again: also during a key
	// rotation, and by the static-ct parser.
	other, _ := ctleaftest.NewLog("x")
	for _, vs := range [][]note.Verifier{{v}, {verifier(t, l, other.Public()), v}} {
		again, err := l.Checkpoint(cp.Raw, "", vs)
		if err != nil || again.Size != 5 || !bytes.Equal(again.Raw, cp.Raw) {
			t.Errorf("Checkpoint(saved form) = %v, %v", again, err)
		}
		if rot, err := l.Checkpoint(h.Note, "", vs); err != nil || rot.Size != 5 {
			t.Errorf("Checkpoint(get-sth) with %d keys = %v, %v", len(vs), rot, err)
		}
	}
	if _, err := ctleaf.Parse(cp.Raw, wantOrigin, v); err != nil {
		t.Errorf("ctleaf.Parse of the checkpoint form: %v", err)
	}
	if _, err := l.Checkpoint(h.Note, "", nil); err == nil {
		t.Error("Checkpoint without keys succeeded")
	}
	if id, err := l.KeyID(mem.Public()); err != nil || id != fmt.Sprintf("%x", mem.LogID) {
		t.Errorf("KeyID = %s, %v; want %x", id, err, mem.LogID)
	}
}

func TestCheckpointBadSignature(t *testing.T) {
	mem := newLog(t, 3)
	s := newServer(t, mem)
	l := s.open(t)
	other, err := ctleaftest.NewLog("x")
	if err != nil {
		t.Fatal(err)
	}
	h, err := l.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Checkpoint(h.Note, "", []note.Verifier{verifier(t, l, other.Public())})
	var ie *checkpoint.IntegrityError
	if !errors.As(err, &ie) || ie.Reason != checkpoint.ReasonSignature {
		t.Fatalf("Checkpoint with another key = %v, want a signature IntegrityError", err)
	}
	if !bytes.HasPrefix(ie.New, []byte(l.Origin()+"\n3\n")) {
		t.Errorf("evidence = %q, want the checkpoint form", ie.New)
	}
	if hint := l.ExplainSignature(h.Note, []crypto.PublicKey{other.Public()}); !strings.Contains(hint, fmt.Sprintf("%x", other.LogID)) {
		t.Errorf("ExplainSignature = %q, want the configured log ID", hint)
	}
	// A checkpoint form under another origin is explained as such.
	cp := head(t, l, mem.Public())
	c, _ := tlog.NewHTTPClient(tlog.ClientConfig{})
	renamed, err := ctlog.New(tlog.Options{URL: s.url(), Origin: "other.example.com", Client: c})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := renamed.Checkpoint(cp.Raw, "", []note.Verifier{verifier(t, renamed, mem.Public())}); !errors.As(err, &ie) {
		t.Errorf("Checkpoint under another origin = %v, want an IntegrityError", err)
	}
	if hint := renamed.ExplainSignature(cp.Raw, []crypto.PublicKey{mem.Public()}); !strings.Contains(hint, l.Origin()) {
		t.Errorf("ExplainSignature of a renamed checkpoint = %q", hint)
	}
}

func TestCheckpointGarbage(t *testing.T) {
	mem := newLog(t, 3)
	s := newServer(t, mem)
	l := s.open(t)
	v := verifier(t, l, mem.Public())
	good, _ := mem.STH(3, sthTime)
	short := *good
	short.SHA256RootHash = short.SHA256RootHash[:20]
	shortJSON, _ := jsonMarshal(short)
	for name, body := range map[string]string{
		"html":            "<html><body>502 Bad Gateway</body></html>",
		"truncated":       `{"tree_size":3,"timestamp":`,
		"short root":      string(shortJSON),
		"empty object":    "{}",
		"wrong types":     `{"tree_size":"3"}`,
		"signature junk":  `{"tree_size":3,"timestamp":1,"sha256_root_hash":"` + b64(make([]byte, 32)) + `","tree_head_signature":"AAAA"}`,
		"empty":           "",
		"checkpoint junk": "not a note",
	} {
		s.set(func(s *server) { s.sth = []byte(body) })
		h, err := l.Head(t.Context())
		if err != nil {
			t.Fatalf("%s: Head: %v", name, err)
		}
		var fe *checkpoint.FormatError
		if _, err := l.Checkpoint(h.Note, "", []note.Verifier{v}); !errors.As(err, &fe) {
			t.Errorf("%s: Checkpoint = %v, want a FormatError", name, err)
		}
	}
}

func TestConsistencyProof(t *testing.T) {
	mem := newLog(t, 40)
	s := newServer(t, mem)
	l := s.open(t)
	var cps []*checkpoint.Checkpoint
	for _, size := range []uint64{1, 7, 8, 23, 40} {
		s.set(func(s *server) { s.size = size })
		cps = append(cps, head(t, l, mem.Public()))
	}
	for i := range cps {
		for j := i; j < len(cps); j++ {
			p, err := l.ConsistencyProof(t.Context(), "", cps[i].Size, cps[j].Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkpoint.CheckConsistency(cps[i], cps[j], p); err != nil {
				t.Errorf("consistency %d -> %d: %v", cps[i].Size, cps[j].Size, err)
			}
		}
	}
	before := s.requests.Load()
	for _, c := range [][2]uint64{{0, 40}, {23, 23}} {
		if p, err := l.ConsistencyProof(t.Context(), "", c[0], c[1]); err != nil || len(p) != 0 {
			t.Errorf("ConsistencyProof(%d, %d) = %x, %v; want an empty proof", c[0], c[1], p, err)
		}
	}
	if n := s.requests.Load() - before; n != 0 {
		t.Errorf("empty proofs took %d requests", n)
	}
	s.set(func(s *server) {
		s.extra = map[string]string{prefix + "/ct/v1/get-sth-consistency": `{"consistency":["AAAA"]}`}
	})
	if _, err := l.ConsistencyProof(t.Context(), "", 7, 40); err == nil {
		t.Error("a proof with a 3-byte hash was accepted")
	}
}

// collect reads entries [from, to) of a tree of size.
func collect(t testing.TB, l *ctlog.Log, size, from, to uint64, opts tlog.EntriesOptions) ([]tlog.Entry, error) {
	t.Helper()
	var out []tlog.Entry
	err := l.Entries(t.Context(), tlog.Tree{Size: size}, from, to, opts, func(e tlog.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// root builds the root of leaf hashes, as the monitor does.
func root(t testing.TB, hashes [][]byte) []byte {
	t.Helper()
	r := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for _, h := range hashes {
		if err := r.Append(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	h, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestEntries(t *testing.T) {
	const n = 600
	mem := newLog(t, n)
	s := newServer(t, mem)
	l := s.open(t)
	p := identity.NewParser(64)
	for _, tc := range []struct {
		name     string
		cap      int
		from, to uint64
		workers  int
	}{
		{"whole log", 0, 0, n, 4},
		{"short answers", 100, 0, n, 4},
		{"odd caps and range", 37, 3, 517, 3},
		{"one worker, one entry per answer", 1, 250, 262, 1},
		{"one entry", 0, 599, 600, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.set(func(s *server) { s.maxEntries = tc.cap })
			es, err := collect(t, l, n, tc.from, tc.to, tlog.EntriesOptions{Workers: tc.workers})
			if err != nil {
				t.Fatal(err)
			}
			if uint64(len(es)) != tc.to-tc.from {
				t.Fatalf("got %d entries, want %d", len(es), tc.to-tc.from)
			}
			var hashes [][]byte
			for i, e := range es {
				idx := tc.from + uint64(i)
				leaf, extra := mem.Entry(idx)
				if e.Index != idx || e.LogIndex != idx || !bytes.Equal(e.Data, leaf) || !bytes.Equal(e.Extra, extra) || !bytes.Equal(e.LeafHash, mem.LeafHash(idx)) {
					t.Fatalf("entry %d = {%d %d}, data or hash differ", idx, e.Index, e.LogIndex)
				}
				if want := time.UnixMilli(int64(1_700_000_000_000 + idx)).UTC(); !e.Time.Equal(want) || e.Time.Location() != time.UTC {
					t.Fatalf("entry %d: Time = %v, want the leaf's timestamp %v", idx, e.Time, want)
				}
				hashes = append(hashes, e.LeafHash)
				ids, err := l.Identities(p, e)
				if err != nil {
					t.Fatalf("entry %d: %v", idx, err)
				}
				want := identity.KindCTPrecert
				if idx%2 == 1 {
					want = identity.KindCTX509
				}
				if len(ids) != 1 || ids[0].EntryKind != want || ids[0].Emails[0] != fmt.Sprintf("user%d@example.com", idx/2*2) {
					t.Fatalf("entry %d: identities %+v", idx, ids)
				}
			}
			if tc.from == 0 && tc.to == n && !bytes.Equal(root(t, hashes), mem.Root(n)) {
				t.Error("the entries do not build the signed root")
			}
		})
	}
	if _, err := collect(t, l, n, 10, n+1, tlog.EntriesOptions{}); err == nil {
		t.Error("Entries past the tree size succeeded")
	}
}

func TestEntriesMisbehaving(t *testing.T) {
	const n = 40
	mem := newLog(t, n)
	s := newServer(t, mem)
	l := s.open(t)
	for _, tc := range []struct {
		name  string
		edit  func(start uint64, es []ct.LeafEntry) []ct.LeafEntry
		extra map[string]string
		err   string
	}{
		{"too many", func(start uint64, es []ct.LeafEntry) []ct.LeafEntry { return append(es, es[0]) }, nil, "more than"},
		{"none", func(uint64, []ct.LeafEntry) []ct.LeafEntry { return []ct.LeafEntry{} }, nil, "no entries"},
		{"no leaf", func(start uint64, es []ct.LeafEntry) []ct.LeafEntry {
			es[0].LeafInput = nil
			return es
		}, nil, "leaf_input is a JSON null"},
		{"leaf missing", nil, map[string]string{prefix + "/ct/v1/get-entries": `{"entries":[{"extra_data":""}]}`}, "no leaf_input"},
		{"not json", nil, map[string]string{prefix + "/ct/v1/get-entries": `<html>`}, "decoding entries"},
		{"not base64", nil, map[string]string{prefix + "/ct/v1/get-entries": `{"entries":[{"leaf_input":"!!!!","extra_data":""}]}`}, "base64"},
		{"trailing data", nil, map[string]string{prefix + "/ct/v1/get-entries": `{"entries":[{"leaf_input":"AAAA"}]} {}`}, "after the JSON"},
		{"entries twice", nil, map[string]string{prefix + "/ct/v1/get-entries": `{"entries":[{"leaf_input":"AAAA"}],"entries":[]}`}, "duplicate"},
		{"leaf twice", nil, map[string]string{prefix + "/ct/v1/get-entries": `{"entries":[{"leaf_input":"AAAA","leaf_input":"AAAA"}]}`}, "duplicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.set(func(s *server) { s.entries, s.extra = tc.edit, tc.extra })
			_, err := collect(t, l, n, 0, n, tlog.EntriesOptions{Workers: 2})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Entries = %v, want an error with %q", err, tc.err)
			}
		})
	}
	// Swapped or replaced entries are served as they come, and do not
	// build the signed root: the monitor's inclusion check catches them.
	for name, edit := range map[string]func(uint64, []ct.LeafEntry) []ct.LeafEntry{
		"swapped": func(start uint64, es []ct.LeafEntry) []ct.LeafEntry {
			if start == 0 {
				es[3], es[4] = es[4], es[3]
			}
			return es
		},
		"replaced": func(start uint64, es []ct.LeafEntry) []ct.LeafEntry {
			es[len(es)-1] = es[0]
			return es
		},
	} {
		s.set(func(s *server) { s.entries, s.extra = edit, nil })
		es, err := collect(t, l, n, 0, n, tlog.EntriesOptions{Workers: 2})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var hashes [][]byte
		for _, e := range es {
			hashes = append(hashes, e.LeafHash)
		}
		if bytes.Equal(root(t, hashes), mem.Root(n)) {
			t.Errorf("%s entries build the signed root", name)
		}
	}
}

func TestEntriesOversize(t *testing.T) {
	const n = 300
	mem := newLog(t, n)
	s := newServer(t, mem)
	l := s.open(t)
	// 4 MiB per answer (the default budget over 16 workers): 100 KB of
	// padding per entry puts a batch of 256 over it, and halves of 32
	// under it.
	opts := tlog.EntriesOptions{Workers: 16, Budget: tlog.NewBudget(64 << 20)}
	s.set(func(s *server) { s.pad = 100_000 })
	before := s.requests.Load()
	es, err := collect(t, l, n, 0, n, opts)
	if err != nil {
		t.Fatal(err)
	}
	// 256 -> 3 answers over the limit, then 8 of 32; 44 -> 1 over, 2 of 22.
	if got := s.requests.Load() - before; got != 14 {
		t.Errorf("%d requests, want 14", got)
	}
	if len(es) != n || !bytes.Equal(es[n-1].LeafHash, mem.LeafHash(n-1)) {
		t.Fatalf("got %d entries", len(es))
	}
	if used := opts.Budget.InUse(); used != 0 {
		t.Errorf("%d bytes of the budget still in use", used)
	}
	// One entry over the limit is an error.
	s.set(func(s *server) { s.pad = 5 << 20 })
	_, err = collect(t, l, n, 0, 3, opts)
	if !errors.Is(err, tlog.ErrBodyTooLarge) {
		t.Fatalf("Entries with a 5 MiB entry = %v, want ErrBodyTooLarge", err)
	}
}

func TestRangeNodes(t *testing.T) {
	const n = 300
	mem := newLog(t, n)
	s := newServer(t, mem)
	l := s.open(t)
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	for _, noEAP := range []bool{false, true} {
		s.set(func(s *server) { s.noEntryAndProof = noEAP })
		for _, size := range []uint64{0, 1, 2, 3, 7, 8, 9, 255, 256, 257, 299, 300} {
			got, err := l.RangeNodes(t.Context(), tlog.Tree{Size: n}, size)
			if err != nil {
				t.Fatalf("RangeNodes(%d), get-entry-and-proof off %v: %v", size, noEAP, err)
			}
			r := rf.NewEmptyRange(0)
			for i := range size {
				if err := r.Append(mem.LeafHash(i), nil); err != nil {
					t.Fatal(err)
				}
			}
			want := r.Hashes()
			if len(got) != len(want) {
				t.Fatalf("RangeNodes(%d) has %d nodes, want %d", size, len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("RangeNodes(%d), get-entry-and-proof off %v: node %d differs", size, noEAP, i)
				}
			}
		}
	}
	if _, err := l.RangeNodes(t.Context(), tlog.Tree{Size: n}, n+1); err == nil {
		t.Error("RangeNodes past the tree size succeeded")
	}
}

func TestInclusionByHash(t *testing.T) {
	const n = 20
	mem := newLog(t, n)
	s := newServer(t, mem)
	l := s.open(t)
	cp := head(t, l, mem.Public())
	tree := tlog.Tree{Size: n}
	for _, i := range []uint64{0, 7, n - 1} {
		idx, p, err := l.InclusionByHash(t.Context(), tree, mem.LeafHash(i))
		if err != nil {
			t.Fatal(err)
		}
		if idx != i {
			t.Errorf("index = %d, want %d", idx, i)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, n, mem.LeafHash(i), p, cp.Hash); err != nil {
			t.Errorf("proof of %d: %v", i, err)
		}
	}
	unknown := make([]byte, 32)
	for _, code := range []int{http.StatusNotFound, http.StatusBadRequest} {
		s.set(func(s *server) { s.notFound = code })
		if _, _, err := l.InclusionByHash(t.Context(), tree, unknown); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("unknown hash with HTTP %d: %v, want os.ErrNotExist", code, err)
		}
	}
	if _, _, err := l.InclusionByHash(t.Context(), tlog.Tree{}, mem.LeafHash(0)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("hash in an empty tree: %v, want os.ErrNotExist", err)
	}
	if _, _, err := l.InclusionByHash(t.Context(), tree, []byte{1}); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("a short hash: %v", err)
	}
	s.set(func(s *server) {
		s.extra = map[string]string{prefix + "/ct/v1/get-proof-by-hash": `{"leaf_index":99,"audit_path":[]}`}
	})
	if _, _, err := l.InclusionByHash(t.Context(), tree, mem.LeafHash(0)); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("an index outside the tree: %v", err)
	}
}

func TestRoots(t *testing.T) {
	s := newServer(t, newLog(t, 1))
	roots, err := s.open(t).Roots(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 2 || string(roots[0]) != "root-1" || string(roots[1]) != "root-2" {
		t.Errorf("Roots = %q", roots)
	}
}

func TestExplainNotFound(t *testing.T) {
	s := newServer(t, newLog(t, 1))
	c, _ := tlog.NewHTTPClient(tlog.ClientConfig{})
	open := func(u string) *ctlog.Log {
		l, err := ctlog.New(tlog.Options{URL: u, Client: c})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, tc := range []struct {
		name  string
		url   string
		extra map[string]string
		want  string
	}{
		{"with /ct/v1", s.url() + "/ct/v1/", nil, "without it (" + s.url() + ")"},
		{"static-ct", s.srv.URL + "/static", map[string]string{"/static/checkpoint": "origin\n1\nAAAA\n"}, "set kind: static-ct"},
		{"rekor", s.srv.URL, map[string]string{"/api/v1/log": "{}"}, "set kind: rekor-v1"},
		{"path after the prefix", s.url() + "/extra", nil, "set the URL to " + s.url()},
		{"no prefix", s.srv.URL, nil, "add the log's prefix"},
		{"nothing", s.srv.URL + "/nothing", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.set(func(s *server) { s.extra = tc.extra })
			got := open(tc.url).ExplainNotFound(context.Background())
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("ExplainNotFound = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		url, origin, want string
	}{
		{"https://CTFE.example.com/2025/", "", "ctfe.example.com/2025"},
		{"http://127.0.0.1:31662/vigil-ct", "", "127.0.0.1:31662/vigil-ct"},
		{"https://ctfe.example.com/2025", "custom.example/log", "custom.example/log"},
	} {
		l, err := ctlog.New(tlog.Options{URL: tc.url, Origin: tc.origin})
		if err != nil {
			t.Errorf("New(%q, %q): %v", tc.url, tc.origin, err)
		} else if l.Origin() != tc.want {
			t.Errorf("New(%q, %q): origin %q, want %q", tc.url, tc.origin, l.Origin(), tc.want)
		}
	}
	for _, u := range []string{"ftp://x/y", "not a url", "https://x/log?q=1"} {
		if _, err := ctlog.New(tlog.Options{URL: u}); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
	if _, err := ctlog.New(tlog.Options{URL: "https://x/log", Origin: "two words"}); err == nil {
		t.Error("New with an origin with a space succeeded")
	}
}

// A 404 that is not the log saying it holds no such leaf (a replica
// behind the asked size, an ingress's default backend) is no answer:
// never os.ErrNotExist, which would make a pair report an SCT unhonored.
func TestInclusionByHashOther404(t *testing.T) {
	for _, body := range []string{
		"log returned tree size: 5 but we expected: 20",
		"default backend - 404",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, body, http.StatusNotFound)
		}))
		l, err := ctlog.New(tlog.Options{URL: srv.URL + "/log", Client: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = l.InclusionByHash(t.Context(), tlog.Tree{Size: 20}, make([]byte, 32))
		if err == nil || errors.Is(err, os.ErrNotExist) {
			t.Errorf("404 %q: err = %v, want an error that is not os.ErrNotExist", body, err)
		}
		srv.Close()
	}
}
