package staticct

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// TestFixtureSignature checks the test log's checkpoints with
// transparency-dev/formats' RFC 6962 note verifier, so that the tests
// below check this package (and ctleaf) against the format, not against
// the fixture.
func TestFixtureSignature(t *testing.T) {
	tl := newTestLog(t, 10)
	vs, err := fnote.RFC6962VerifierString(tl.origin, &tl.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := fnote.NewRFC6962Verifier(vs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(tl.cp, note.VerifierList(v)); err != nil {
		t.Fatalf("formats' verifier rejects the fixture's checkpoint: %v\n%s", err, tl.cp)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct{ url, origin, want, base string }{
		{"https://Rome.ct.example.com/2024h1/", "", "rome.ct.example.com/2024h1", "https://Rome.ct.example.com/2024h1/"},
		{"http://127.0.0.1:8080", "", "127.0.0.1:8080", "http://127.0.0.1:8080/"},
		{"https://read.example.org/bucket", "ct.example.com/log", "ct.example.com/log", "https://read.example.org/bucket/"},
	} {
		l, err := New(tlog.Options{URL: tc.url, Origin: tc.origin})
		if err != nil {
			t.Fatalf("New(%q): %v", tc.url, err)
		}
		if l.Origin() != tc.want || l.base != tc.base {
			t.Errorf("New(%q, %q): origin %q base %q, want %q %q", tc.url, tc.origin, l.Origin(), l.base, tc.want, tc.base)
		}
	}
	for _, u := range []string{"", "ftp://x/", "ct.example.com/log", "https:///x"} {
		if _, err := New(tlog.Options{URL: u}); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}

func TestHeadCheckpoint(t *testing.T) {
	ctx := t.Context()
	tl := newTestLog(t, 300)
	l := tl.newLog(t)
	h, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := l.Verifier(&tl.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(h.Note, "", []note.Verifier{v})
	if err != nil {
		t.Fatalf("Checkpoint: %v\n%s", err, h.Note)
	}
	if cp.Origin != tl.origin || cp.Size != 300 || !bytes.Equal(cp.Hash, tl.tree.HashAt(300)) {
		t.Errorf("checkpoint %v, want %s@300/%x", cp, tl.origin, tl.tree.HashAt(300))
	}
	spki, err := x509.MarshalPKIXPublicKey(&tl.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	logID := sha256.Sum256(spki)
	if id, err := l.KeyID(&tl.key.PublicKey); err != nil || id != hex.EncodeToString(logID[:]) {
		t.Errorf("KeyID = %q, %v; want %x", id, err, logID)
	}

	// Another key: no signature by it.
	other, err := l.Verifier(&newKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var ie *checkpoint.IntegrityError
	if _, err := l.Checkpoint(h.Note, "", []note.Verifier{other}); !errors.As(err, &ie) || ie.Reason != checkpoint.ReasonSignature {
		t.Errorf("Checkpoint with another key = %v, want an integrity error (signature)", err)
	}
	// A tampered size: the signature does not verify.
	bad := bytes.Replace(h.Note, []byte("\n300\n"), []byte("\n301\n"), 1)
	if _, err := l.Checkpoint(bad, "", []note.Verifier{v}); !errors.As(err, &ie) {
		t.Errorf("Checkpoint of a tampered note = %v, want an integrity error", err)
	}
	// Not a note.
	var fe *checkpoint.FormatError
	if _, err := l.Checkpoint([]byte("<html>hello</html>"), "", []note.Verifier{v}); !errors.As(err, &fe) {
		t.Errorf("Checkpoint of garbage = %v, want a format error", err)
	}
}

// collect reads the entries [from, to) of a tree of size size.
func collect(t *testing.T, l *Log, size, from, to uint64, opts tlog.EntriesOptions) []tlog.Entry {
	t.Helper()
	var es []tlog.Entry
	err := l.Entries(t.Context(), tlog.Tree{Size: size}, from, to, opts, func(e tlog.Entry) error {
		// Keep copies: the entries' arrays are the budget's.
		e.Data, e.Extra, e.LeafHash = bytes.Clone(e.Data), bytes.Clone(e.Extra), bytes.Clone(e.LeafHash)
		es = append(es, e)
		return nil
	})
	if err != nil {
		t.Fatalf("Entries(%d, %d) of %d: %v", from, to, size, err)
	}
	return es
}

// checkEntries checks es against the test log's entries from from.
func checkEntries(t *testing.T, tl *testLog, es []tlog.Entry, from uint64) {
	t.Helper()
	for i, e := range es {
		want := tl.entries[from+uint64(i)]
		idx := from + uint64(i)
		if e.Index != idx || e.LogIndex != idx {
			t.Fatalf("entry %d: index %d, log index %d", idx, e.Index, e.LogIndex)
		}
		if !bytes.Equal(e.Data, want.leaf) {
			t.Fatalf("entry %d: Data\n%x\nwant the MerkleTreeLeaf\n%x", idx, e.Data, want.leaf)
		}
		if !bytes.Equal(e.Extra, want.extra) {
			t.Fatalf("entry %d: Extra %x, want %x", idx, e.Extra, want.extra)
		}
		if !bytes.Equal(e.LeafHash, tl.tree.LeafHash(idx)) || !bytes.Equal(e.LeafHash, rfc6962.DefaultHasher.HashLeaf(e.Data)) {
			t.Fatalf("entry %d: leaf hash %x, want %x", idx, e.LeafHash, tl.tree.LeafHash(idx))
		}
		if ts := time.UnixMilli(int64(1_700_000_000_000 + idx)).UTC(); !e.Time.Equal(ts) || e.Time.Location() != time.UTC {
			t.Fatalf("entry %d: Time = %v, want its timestamp %v", idx, e.Time, ts)
		}
	}
}

func TestEntries(t *testing.T) {
	const size = 600 // tiles 0 and 1 full, tile 2 partial (88)
	tl := newTestLog(t, size, 1, 255, 256, 300, 512, 599)
	l := tl.newLog(t)
	for _, r := range []struct{ from, to uint64 }{{0, size}, {250, 520}, {599, 600}, {512, 513}, {0, 1}, {256, 512}} {
		for _, opts := range []tlog.EntriesOptions{{}, {Workers: 1}, {Workers: 3, Budget: tlog.NewBudget(1 << 20)}} {
			t.Run(fmt.Sprintf("%d-%d/%d", r.from, r.to, opts.Workers), func(t *testing.T) {
				es := collect(t, l, size, r.from, r.to, opts)
				if uint64(len(es)) != r.to-r.from {
					t.Fatalf("got %d entries, want %d", len(es), r.to-r.from)
				}
				checkEntries(t, tl, es, r.from)
			})
		}
	}
	if !slices.Contains(tl.paths(), "tile/data/002.p/88") {
		t.Errorf("the partial data tile was not read: %q", tl.paths())
	}

	// The leaf hashes build the checkpoint's root, from nothing and from
	// the compact range the log's tiles give for any prefix.
	es := collect(t, l, size, 0, size, tlog.EntriesOptions{})
	for _, k := range []uint64{0, 1, 255, 256, 300, 512, 599, 600} {
		nodes, err := l.RangeNodes(t.Context(), tlog.Tree{Size: size}, k)
		if err != nil {
			t.Fatalf("RangeNodes(%d): %v", k, err)
		}
		rng, err := rangeFactory.NewRange(0, k, nodes)
		if err != nil {
			t.Fatalf("RangeNodes(%d): %v", k, err)
		}
		for _, e := range es[k:] {
			if err := rng.Append(e.LeafHash, nil); err != nil {
				t.Fatal(err)
			}
		}
		root, err := rng.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := tl.tree.HashAt(size); !bytes.Equal(root, want) {
			t.Errorf("compact range of %d and the leaf hashes after it: root %x, want %x", k, root, want)
		}
	}
}

// TestEntriesPartialGone reads a tree whose partial data tile has gone
// since: the log grew past it, so the full tile is read instead.
func TestEntriesPartialGone(t *testing.T) {
	tl := newTestLog(t, 300)
	l := tl.newLog(t)
	tl.grow(600)
	es := collect(t, l, 300, 200, 300, tlog.EntriesOptions{})
	if len(es) != 100 {
		t.Fatalf("got %d entries, want 100", len(es))
	}
	checkEntries(t, tl, es, 200)
	paths := tl.paths()
	if !slices.Contains(paths, "tile/data/001.p/44") || !slices.Contains(paths, "tile/data/001") {
		t.Errorf("want the partial tile tried, then the full one: %q", paths)
	}
	// Consistency and compact ranges of the old size, from the new tiles.
	nodes, err := l.RangeNodes(t.Context(), tlog.Tree{Size: 300}, 300)
	if err != nil {
		t.Fatal(err)
	}
	rng, err := rangeFactory.NewRange(0, 300, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if root, err := rng.GetRootHash(nil); err != nil || !bytes.Equal(root, tl.tree.HashAt(300)) {
		t.Errorf("compact range of 300 after growth: root %x, %v; want %x", root, err, tl.tree.HashAt(300))
	}
}

func TestEntriesGzip(t *testing.T) {
	tl := newTestLog(t, 300)
	tl.set(func() { tl.gzip = true })
	l := tl.newLog(t)
	es := collect(t, l, 300, 0, 300, tlog.EntriesOptions{Workers: 2})
	if len(es) != 300 {
		t.Fatalf("got %d entries, want 300", len(es))
	}
	checkEntries(t, tl, es, 0)
}

func TestEntriesTooLarge(t *testing.T) {
	for _, announce := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", announce), func(t *testing.T) {
			tl := newTestLog(t, 300)
			tl.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/tile/data/000" {
					return false
				}
				const n = maxDataTile + 1<<20
				if announce {
					w.Header().Set("Content-Length", fmt.Sprint(n))
				}
				chunk := make([]byte, 64<<10)
				for sent := 0; sent < n; sent += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						break
					}
				}
				return true
			})
			l := tl.newLog(t)
			// 16 workers: a share of the default budget is below maxDataTile.
			err := l.Entries(t.Context(), tlog.Tree{Size: 300}, 0, 300, tlog.EntriesOptions{Workers: 16}, func(tlog.Entry) error { return nil })
			if !errors.Is(err, tlog.ErrBodyTooLarge) {
				t.Fatalf("Entries = %v, want an error wrapping ErrBodyTooLarge", err)
			}
			if !strings.Contains(err.Error(), tlog.MemoryBudgetSetting) {
				t.Errorf("error %q does not name %s", err, tlog.MemoryBudgetSetting)
			}
		})
	}
}

func TestEntriesMalformed(t *testing.T) {
	tl := newTestLog(t, 300)
	var tile0 []byte
	for _, e := range tl.entries[:256] {
		tile0 = append(tile0, e.tileLeaf...)
	}
	last := len(tile0) - len(tl.entries[255].tileLeaf)
	garbage := bytes.Clone(tile0)
	garbage[last+9] = 7 // entry 255's entry_type
	for _, tc := range []struct {
		name string
		body []byte
		want []string
	}{
		{"truncated", tile0[:len(tile0)-5], []string{"data tile 0", fmt.Sprintf("entry 255 at offset %d", last), "certificate_chain"}},
		{"garbage", garbage, []string{"data tile 0", fmt.Sprintf("entry 255 at offset %d", last), "unknown entry_type 7"}},
		{"short", tile0[:last], []string{"data tile 0 has 255 entries"}},
		{"extra", append(bytes.Clone(tile0), tl.entries[0].tileLeaf...), []string{"more than 256 entries"}},
		{"html", []byte("<html>not found</html>"), []string{"data tile 0: entry 0 at offset 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/tile/data/000" {
					return false
				}
				w.Write(tc.body)
				return true
			})
			l := tl.newLog(t)
			n := 0
			err := l.Entries(t.Context(), tlog.Tree{Size: 300}, 0, 300, tlog.EntriesOptions{}, func(tlog.Entry) error { n++; return nil })
			if err == nil {
				t.Fatal("Entries succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if n != 0 {
				t.Errorf("fn saw %d entries of a bad tile", n)
			}
		})
	}
}

func TestConsistencyProof(t *testing.T) {
	const size = 70_000 / 100 // tiles at two levels: partial level 1
	tl := newTestLog(t, size)
	l := tl.newLog(t)
	newer := &checkpoint.Checkpoint{Size: size, Hash: tl.tree.HashAt(size), Raw: tl.cp}
	for _, from := range []uint64{1, 2, 100, 255, 256, 257, 300, 511, 512, 600, size - 1} {
		p, err := l.ConsistencyProof(t.Context(), "", from, size)
		if err != nil {
			t.Fatalf("ConsistencyProof(%d, %d): %v", from, size, err)
		}
		older := &checkpoint.Checkpoint{Size: from, Hash: tl.tree.HashAt(from)}
		if err := checkpoint.CheckConsistency(older, newer, p); err != nil {
			t.Errorf("proof %d->%d: %v", from, size, err)
		}
	}
	if p, err := l.ConsistencyProof(t.Context(), "", 0, size); err != nil || len(p) != 0 {
		t.Errorf("ConsistencyProof(0, %d) = %x, %v; want none", size, p, err)
	}
}

// issuerRequests counts the requests for issuers.
func issuerRequests(tl *testLog) int {
	n := 0
	for _, p := range tl.paths() {
		if strings.HasPrefix(p, "issuer/") {
			n++
		}
	}
	return n
}

func TestIdentities(t *testing.T) {
	tl := newTestLog(t, 300)
	l := tl.newLog(t)
	es := collect(t, l, 300, 0, 300, tlog.EntriesOptions{})
	p := identity.NewParser(16)
	var wg sync.WaitGroup
	for _, i := range []int{0, 1, 3, 4, 255, 299} {
		wg.Go(func() {
			e := es[i]
			ids, err := l.Identities(p, e)
			if err != nil {
				t.Errorf("entry %d: Identities: %v", i, err)
				return
			}
			want := "alice@example.com"
			if i%3 == 0 {
				want = "bob@example.com"
			}
			if len(ids) != 1 || !slices.Equal(ids[0].Emails, []string{want}) || ids[0].Issuer != testOIDCIssuer {
				t.Errorf("entry %d (precert %v): identities %v, want %s issued by %s", i, i%3 == 0, ids, want, testOIDCIssuer)
				return
			}
			if ids[0].Extensions[fulcioIssuerOID] != testOIDCIssuer {
				t.Errorf("entry %d: Fulcio extensions %v", i, ids[0].Extensions)
			}
			if !strings.HasPrefix(ids[0].EntryKind, "ct:") {
				t.Errorf("entry %d: entry kind %q", i, ids[0].EntryKind)
			}
		})
	}
	wg.Wait()
	// Two issuers, each fetched once.
	if n := issuerRequests(tl); n != 2 {
		t.Errorf("%d issuer requests, want 2 (cached): %q", n, tl.paths())
	}
}

func TestIdentitiesBadIssuer(t *testing.T) {
	tl := newTestLog(t, 10)
	fp := sha256.Sum256(tl.ca.inter.Raw)
	name := hex.EncodeToString(fp[:])
	tl.set(func() { tl.issuers[name] = tl.ca.root.Raw }) // the wrong certificate
	l := tl.newLog(t)
	es := collect(t, l, 10, 0, 10, tlog.EntriesOptions{})
	_, err := l.Identities(nil, es[1])
	var ie *IssuerError
	if !errors.As(err, &ie) || ie.Fingerprint != name || !strings.Contains(err.Error(), "not to the fingerprint") {
		t.Fatalf("Identities with a bad issuer = %v, want an *IssuerError for %s", err, name)
	}
	// A failure is remembered for a while: no new request.
	n := issuerRequests(tl)
	if _, err := l.Identities(nil, es[2]); !errors.As(err, &ie) {
		t.Fatalf("Identities again = %v, want an *IssuerError", err)
	}
	if m := issuerRequests(tl); m != n {
		t.Errorf("%d issuer requests after a remembered failure, want %d", m, n)
	}

	// An issuer the log does not serve.
	tl.set(func() { delete(tl.issuers, name) })
	l = tl.newLog(t)
	if _, err := l.Identities(nil, es[1]); !errors.As(err, &ie) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Identities with a missing issuer = %v, want an *IssuerError (404)", err)
	}
}

func TestIdentitiesBadExtra(t *testing.T) {
	tl := newTestLog(t, 10)
	l := tl.newLog(t)
	es := collect(t, l, 10, 0, 10, tlog.EntriesOptions{})
	long := es[1]
	long.Extra = []byte{0x01, 0x60} // 11 fingerprints
	long.Extra = append(long.Extra, make([]byte, 11*32)...)
	for name, e := range map[string]tlog.Entry{
		"no extra":      {Data: es[1].Data},
		"cut extra":     {Data: es[0].Data, Extra: es[0].Extra[:10]},
		"not a leaf":    {Data: []byte("hello"), Extra: es[1].Extra},
		"many issuers":  long,
		"trailing junk": {Data: es[1].Data, Extra: append(bytes.Clone(es[1].Extra), 0)},
	} {
		if _, err := l.Identities(nil, e); err == nil {
			t.Errorf("%s: Identities succeeded", name)
		}
	}
	if n := issuerRequests(tl); n != 0 {
		t.Errorf("%d issuer requests for bad entries", n)
	}
}

func TestExplainNotFound(t *testing.T) {
	tl := newTestLog(t, 1)
	l := tl.newLog(t)
	for _, tc := range []struct{ serve, want string }{
		{"", ""},
		{"/ct/v1/get-sth", "kind: ct"},
		{"/ct/v1/get-roots", "submission API"},
		{"/api/v1/log", "kind: rekor-v1"},
	} {
		tl.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == tc.serve {
				w.Write([]byte("{}"))
				return true
			}
			http.NotFound(w, r)
			return true
		})
		got := l.ExplainNotFound(t.Context())
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("serving %q: ExplainNotFound = %q, want %q", tc.serve, got, tc.want)
		}
	}
}

func TestExplainSignature(t *testing.T) {
	tl := newTestLog(t, 5)
	l := tl.newLog(t)
	keys := []crypto.PublicKey{&tl.key.PublicKey}
	if got := l.ExplainSignature(tl.cp, keys); got != "" {
		t.Errorf("ExplainSignature of a good checkpoint = %q", got)
	}
	other := tl.sign("ct.example.com/2025", 5)
	if got := l.ExplainSignature(other, keys); !strings.Contains(got, `"ct.example.com/2025"`) {
		t.Errorf("ExplainSignature under another origin = %q, want the origin to set", got)
	}
	if got := l.ExplainSignature(other, []crypto.PublicKey{&newKey(t).PublicKey}); got != "" {
		t.Errorf("ExplainSignature with another key = %q", got)
	}
}

// Budget: a scan holds nothing of the budget when it ends.
func TestEntriesBudgetReleased(t *testing.T) {
	tl := newTestLog(t, 600)
	l := tl.newLog(t)
	b := tlog.NewBudget(4 << 20)
	stop := errors.New("stop")
	n := 0
	err := l.Entries(t.Context(), tlog.Tree{Size: 600}, 0, 600, tlog.EntriesOptions{Workers: 3, Budget: b}, func(tlog.Entry) error {
		if n++; n == 300 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Entries = %v, want %v", err, stop)
	}
	if b.InUse() != 0 {
		t.Errorf("budget holds %d bytes after the scan", b.InUse())
	}
}
