package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/stack"
)

func writePublicKey(t *testing.T) (path, fingerprint string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "client.pub")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return path, hex.EncodeToString(sum[:])
}

func TestBenchRules(t *testing.T) {
	pub, fp := writePublicKey(t)
	env := stack.Env{"CLIENT_PUBKEY": pub, "OIDC_ISSUER": "http://127.0.0.1:31556"}
	tests := []struct {
		n, watch, expect int
		hits             bool
	}{
		{0, 0, 0, false},
		{20, 14, 6, false},
		{20, 14, 6, true},
		{45, 28, 17, false}, // twice the 20 shapes, then the 5 first (expect) ones
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/hits=%v", tt.n, tt.hits), func(t *testing.T) {
			cfg, err := benchRules(env, tt.n, tt.hits)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Watch) != tt.watch || len(cfg.Expect) != tt.expect {
				t.Errorf("got %d watch and %d expect rules, want %d and %d", len(cfg.Watch), len(cfg.Expect), tt.watch, tt.expect)
			}
			// Compile checks every regular expression and that names are unique.
			m, err := identity.Compile(cfg)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if tt.n < 20 {
				return
			}
			key := []identity.Identity{{EntryKind: "hashedrekord:0.0.1", KeyType: identity.KeyPKIX, KeyFingerprint: fp}}
			if r := m.Match(key); !r.Expected || len(r.Watched) != 0 {
				t.Errorf("client key: expected %v, watched %v; want expected and unwatched", r.Expected, r.Watched)
			}
			bot := []identity.Identity{{EntryKind: "hashedrekord:0.0.1", KeyType: identity.KeyX509,
				Emails: []string{"release-bot@example.com"}, Issuer: env["OIDC_ISSUER"]}}
			r := m.Match(bot)
			if !r.Expected {
				t.Error("release-bot@example.com is unexpected, want expected (staff)")
			}
			if got := len(r.Watched) > 0; got != tt.hits {
				t.Errorf("release-bot@example.com watched = %v, want %v", got, tt.hits)
			}
			// Each round of the 20 shapes has one evil-domain rule.
			evil := []identity.Identity{{EntryKind: "hashedrekord:0.0.1", KeyType: identity.KeyX509,
				Emails: []string{"mallory@evil.example"}, Issuer: env["OIDC_ISSUER"]}}
			if r := m.Match(evil); r.Expected || len(r.Watched) != tt.n/20 || r.Watched[0].Rule != "evil-domain" {
				t.Errorf("mallory@evil.example: expected %v, watched %+v; want unexpected and evil-domain", r.Expected, r.Watched)
			}
		})
	}
}

func TestBenchRulesBadKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client.pub")
	if err := os.WriteFile(path, []byte("not pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := benchRules(stack.Env{"CLIENT_PUBKEY": path}, 20, false); err == nil {
		t.Error("benchRules with a garbage client key succeeded")
	}
}

// bundle encodes entries as a tlog-tiles entry bundle.
func bundle(entries ...string) []byte {
	var b []byte
	for _, e := range entries {
		b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
		b = append(b, e...)
	}
	return b
}

func TestV2Bundle(t *testing.T) {
	full := make([]string, layout.EntryBundleWidth)
	for i := range full {
		full[i] = fmt.Sprintf("entry %d", i)
	}
	files := map[string][]byte{
		"/" + layout.EntriesPath(0, 0): bundle(full...),
		"/" + layout.EntriesPath(1, 3): bundle("a", "b", "c"),
		"/" + layout.EntriesPath(2, 3): bundle("a", "b"),
		"/" + layout.EntriesPath(3, 2): append(bundle("a"), 0, 9, 'x'),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	tests := []struct {
		n       uint64
		p       uint8
		want    int
		wantErr string
	}{
		{0, 0, layout.EntryBundleWidth, ""},
		{1, 3, 3, ""},
		{2, 3, 0, "has 2 entries, want 3"},
		{3, 2, 0, "truncated entry"},
		{4, 0, 0, "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(layout.EntriesPath(tt.n, tt.p), func(t *testing.T) {
			got, err := v2Bundle(t.Context(), srv.Client(), srv.URL, tt.n, tt.p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("v2Bundle error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("v2Bundle = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestV1Retrieve(t *testing.T) {
	var asked []int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/log/entries/retrieve" {
			http.NotFound(w, r)
			return
		}
		var q struct{ LogIndexes []int64 }
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		asked = q.LogIndexes
		var out []map[string]any
		for _, i := range q.LogIndexes {
			if i == 13 { // a hole: the server omits the entry
				continue
			}
			out = append(out, map[string]any{fmt.Sprintf("uuid%d", i): map[string]any{"logIndex": i}})
		}
		json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()

	n, err := v1Retrieve(t.Context(), srv.Client(), srv.URL, 0, 10)
	if err != nil || n != 10 {
		t.Fatalf("v1Retrieve(0, 10) = %d, %v; want 10", n, err)
	}
	if diff := cmp.Diff([]int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, asked); diff != "" {
		t.Errorf("asked for log indexes (-want +got):\n%s", diff)
	}
	if _, err := v1Retrieve(t.Context(), srv.Client(), srv.URL, 10, 15); err == nil || !strings.Contains(err.Error(), "got 4") {
		t.Errorf("v1Retrieve over a hole: err = %v, want one saying it got 4", err)
	}
}

func TestProcStatus(t *testing.T) {
	hwm, err := procStatus("VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	rss, err := procStatus("VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	// The two reads are apart in time: the peak may have grown since.
	if hwm == 0 || rss == 0 {
		t.Errorf("VmHWM %d kB, VmRSS %d kB: want both > 0", hwm, rss)
	}
	if _, err := procStatus("NoSuchField"); err == nil {
		t.Error("procStatus of a missing field succeeded")
	}
}

func TestParseLogs(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"both", []string{"v1", "v2"}, false},
		{"all", []string{"v1", "v2", "ct", "static-ct"}, false},
		{"ct", []string{"ct"}, false},
		{"ct,static-ct,ct", []string{"ct", "static-ct"}, false},
		{"v2, static-ct", []string{"v2", "static-ct"}, false},
		{"v3", nil, true},
		{"", nil, true},
		{"v1,", nil, true},
	}
	for _, tt := range tests {
		got, err := parseLogs(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("parseLogs(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestLogConfigCT(t *testing.T) {
	env := stack.Env{"CT_URL": "http://127.0.0.1:1/vigil-ct", "CT_PUBKEY": "/ct.pub",
		"STATIC_CT_READ_URL": "http://127.0.0.1:2", "STATIC_CT_PUBKEY": "/sct.pub", "STATIC_CT_ORIGIN": "static-ct.local"}
	for _, kind := range []string{"ct", "static-ct"} {
		lc, err := logConfig(env, kind)
		if err != nil {
			t.Fatalf("logConfig(%s): %v", kind, err)
		}
		if string(lc.Kind) != kind || lc.URL == "" || lc.PublicKeyFile == "" {
			t.Errorf("logConfig(%s) = %+v", kind, lc)
		}
		if _, err := logConfig(stack.Env{}, kind); err == nil || !strings.Contains(err.Error(), "stack env has no") {
			t.Errorf("logConfig(%s) of an empty env: %v, want a missing key", kind, err)
		}
	}
}

func TestCTEntries(t *testing.T) {
	const size = 10
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/log/ct/v1/get-sth":
			fmt.Fprintf(w, `{"tree_size":%d,"timestamp":1,"sha256_root_hash":"","tree_head_signature":""}`, size)
		case "/log/ct/v1/get-entries":
			asked = append(asked, r.URL.RawQuery)
			var start, end int
			fmt.Sscan(r.URL.Query().Get("start"), &start)
			fmt.Sscan(r.URL.Query().Get("end"), &end)
			if r.URL.Query().Get("start") == "7" { // a broken answer
				fmt.Fprint(w, `{"entries":[]}`)
				return
			}
			end = min(end, start+2, size-1) // at most 3 per answer, as ct_server caps at 1000
			var es []string
			for range end - start + 1 {
				es = append(es, `{"leaf_input":"AAA=","extra_data":""}`)
			}
			fmt.Fprintf(w, `{"entries":[%s]}`, strings.Join(es, ","))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	base := srv.URL + "/log"
	if n, err := ctSize(t.Context(), srv.Client(), base); err != nil || n != size {
		t.Fatalf("ctSize = %d, %v; want %d", n, err, size)
	}
	n, err := ctEntries(t.Context(), srv.Client(), base, 0, 7)
	if err != nil || n != 7 {
		t.Fatalf("ctEntries(0, 7) = %d, %v; want 7", n, err)
	}
	if diff := cmp.Diff([]string{"start=0&end=6", "start=3&end=6", "start=6&end=6"}, asked); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if _, err := ctEntries(t.Context(), srv.Client(), base, 7, 10); err == nil || !strings.Contains(err.Error(), "got 0") {
		t.Errorf("ctEntries over an empty answer: %v, want an error", err)
	}
	if _, err := ctSize(t.Context(), srv.Client(), srv.URL+"/nolog"); err == nil {
		t.Error("ctSize of a missing log succeeded")
	}
}

// tileLeaf encodes a static-ct-api TileLeaf with a certificate (or
// precertificate and TBSCertificate) of n bytes and k issuer fingerprints.
func tileLeaf(precert bool, n, k int) []byte {
	u24 := func(b []byte, n int) []byte { return append(b, byte(n>>16), byte(n>>8), byte(n)) }
	b := make([]byte, 8) // timestamp
	if precert {
		b = binary.BigEndian.AppendUint16(b, 1)
		b = append(b, make([]byte, 32)...)
	} else {
		b = binary.BigEndian.AppendUint16(b, 0)
	}
	b = append(u24(b, n), make([]byte, n)...)
	b = binary.BigEndian.AppendUint16(b, 2) // extensions
	b = append(b, 0, 0)
	if precert {
		b = append(u24(b, n+5), make([]byte, n+5)...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(32*k))
	return append(b, make([]byte, 32*k)...)
}

func TestStaticCTTile(t *testing.T) {
	var full []byte
	for i := range layout.EntryBundleWidth {
		full = append(full, tileLeaf(i%2 == 0, 100+i, i%3)...)
	}
	three := append(append(tileLeaf(true, 300, 1), tileLeaf(false, 70000, 2)...), tileLeaf(true, 5, 0)...)
	files := map[string][]byte{
		"/tile/data/000":     full,
		"/tile/data/001.p/3": three,
		"/tile/data/002":     full, // 002.p/5 is gone: the tree grew
		"/tile/data/003.p/3": three[:len(three)-1],
		"/tile/data/004.p/3": append(slices.Clone(three), 0, 0, 0, 0, 0, 0, 0, 0, 0, 7),
		"/tile/data/005.p/4": three,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	tests := []struct {
		n       uint64
		p       uint8
		want    int
		wantErr string
	}{
		{0, 0, layout.EntryBundleWidth, ""},
		{1, 3, 3, ""},
		{2, 5, 5, ""},
		{3, 3, 0, "truncated"},
		{4, 3, 0, "unknown entry_type 7"},
		{5, 4, 0, "has 3 entries, want 4"},
		{6, 0, 0, "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(layout.NWithSuffix(0, tt.n, tt.p), func(t *testing.T) {
			got, err := staticCTTile(t.Context(), srv.Client(), srv.URL, tt.n, tt.p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("staticCTTile error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("staticCTTile = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestParseBatches(t *testing.T) {
	if got, err := parseBatches("256, 1000"); err != nil || !slices.Equal(got, []uint64{256, 1000}) {
		t.Errorf("parseBatches(256, 1000) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "256,", "-1", "x"} {
		if got, err := parseBatches(bad); err == nil {
			t.Errorf("parseBatches(%q) = %v, want an error", bad, got)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{9, 1, 5}, 5}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(slices.Clone(tt.in)); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestCeilingFrom checks that the ceiling of -last reads the entries from
// opts.start only: of Rekor v1, those; of a tiled log, the bundles from the
// one holding it.
func TestCeilingFrom(t *testing.T) {
	const size = 600
	var (
		mu    sync.Mutex
		asked []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v1/log":
			fmt.Fprintf(w, `{"treeSize":%d}`, size)
		case r.URL.Path == "/api/v1/log/entries/retrieve":
			var q struct{ LogIndexes []int64 }
			json.NewDecoder(r.Body).Decode(&q)
			var out []map[string]any
			for _, i := range q.LogIndexes {
				mu.Lock()
				asked = append(asked, fmt.Sprint(i))
				mu.Unlock()
				out = append(out, map[string]any{fmt.Sprintf("uuid%d", i): map[string]any{"logIndex": i}})
			}
			json.NewEncoder(w).Encode(out)
		case r.URL.Path == "/checkpoint":
			fmt.Fprintf(w, "origin\n%d\nroot\n", size)
		case strings.HasPrefix(r.URL.Path, "/tile/entries/"):
			mu.Lock()
			asked = append(asked, r.URL.Path)
			mu.Unlock()
			n := layout.EntryBundleWidth
			if strings.HasSuffix(r.URL.Path, ".p/88") {
				n = size % layout.EntryBundleWidth
			}
			w.Write(bundle(slices.Repeat([]string{"e"}, n)...))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	opts := options{env: stack.Env{"REKOR_URL": srv.URL, "REKOR_V2_READ_URL": srv.URL}, ceilingWorkers: 4, start: 300}
	for _, tt := range []struct {
		kind      string
		want      uint64
		wantAsked []string
	}{
		{"v1", size - 300, nil},
		{"v2", size - layout.EntryBundleWidth, []string{"/" + layout.EntriesPath(1, 0), "/" + layout.EntriesPath(2, size%layout.EntryBundleWidth)}},
	} {
		asked = nil
		n, _, err := ceiling(t.Context(), opts, tt.kind)
		if err != nil || n != tt.want {
			t.Errorf("ceiling(%s) from 300 of %d = %d, %v; want %d", tt.kind, size, n, err, tt.want)
		}
		slices.Sort(asked)
		if tt.kind == "v1" {
			if len(asked) != size-300 || slices.Contains(asked, "299") || !slices.Contains(asked, "300") || !slices.Contains(asked, "599") {
				t.Errorf("ceiling(v1) from 300 asked for %d log indexes, from %s to %s", len(asked), asked[0], asked[len(asked)-1])
			}
			continue
		}
		if diff := cmp.Diff(tt.wantAsked, asked); diff != "" {
			t.Errorf("ceiling(%s) from 300 fetched (-want +got):\n%s", tt.kind, diff)
		}
	}
}

func TestIndexModes(t *testing.T) {
	for _, tt := range []struct {
		mode string
		want []bool
	}{{"on", []bool{false}}, {"off", []bool{true}}, {"both", []bool{false, true}}} {
		if got := indexModes(tt.mode); !slices.Equal(got, tt.want) {
			t.Errorf("indexModes(%q) = %v, want %v", tt.mode, got, tt.want)
		}
	}
}
