package monitor_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/faultproxy"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/search"
	"github.com/vigil-tlog/vigil/internal/state"
)

// checkProof checks a search result's inclusion proof by hand, as a third
// party would: the leaf hash and the audit path give the root of the
// checkpoint text.
func checkProof(t *testing.T, r search.Result) {
	t.Helper()
	p := r.Proof
	if p == nil {
		t.Fatalf("entry %d of %s has no proof: %s", r.Index, r.Log, r.ProofError)
	}
	lines := strings.Split(p.Checkpoint, "\n")
	if len(lines) < 3 {
		t.Fatalf("checkpoint %q is not a checkpoint", p.Checkpoint)
	}
	if lines[1] != strconv.FormatUint(p.TreeSize, 10) {
		t.Errorf("proof tree size %d, checkpoint says %s", p.TreeSize, lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || hex.EncodeToString(root) != p.RootHash {
		t.Fatalf("proof root %s, checkpoint root %q (%v)", p.RootHash, lines[2], err)
	}
	leaf, _ := hex.DecodeString(r.LeafHash)
	hashes := make([][]byte, len(p.Hashes))
	for i, h := range p.Hashes {
		hashes[i], _ = hex.DecodeString(h)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.TreeSize, leaf, hashes, root); err != nil {
		t.Errorf("inclusion proof of entry %d does not verify: %v", r.Index, err)
	}
}

func indexes(rs []search.Result) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Index
	}
	return out
}

func sameIndexes(got []uint64, want ...int64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != uint64(want[i]) {
			return false
		}
	}
	return true
}

// TestIndexSearch signs entries in the real logs and finds them by
// subject, issuer and extension, digest and fingerprint, with inclusion
// proofs that verify by hand, through the Go API, the JSON API (behind a
// token) and after a restart.
func TestIndexSearch(t *testing.T) {
	ca, err := identitytest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range stackLogs(t) {
		t.Run(l.Kind, func(t *testing.T) {
			cfg := logConfig(t, l, l.URL, t.TempDir())
			cfg.Scan.Chunk = 3
			tokenFile := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg.API.TokenFile = tokenFile
			app := newApp(t, cfg)
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("first check: %v", o.Err)
			}
			// A unique subject per run: the stack's logs outlive the test.
			alice := newCertSigner(t, ca, "alice-"+strconv.FormatInt(int64(os.Getpid()), 10)+"-"+l.Kind+"@example.com", "https://issuer.example.com", identitytest.Extensions{})
			gha := newCertSigner(t, ca, "https://github.com/acme/app-"+strconv.Itoa(os.Getpid())+"/.github/workflows/release.yml@refs/heads/main",
				identitytest.GitHubActionsIssuer, identitytest.GitHubActionsExtensions("acme/app-"+strconv.Itoa(os.Getpid()), "refs/heads/main", ".github/workflows/release.yml", strings.Repeat("cd", 20)))
			key := newKeySigner(t)
			a1 := add(t, l, alice)
			g1 := add(t, l, gha)
			a2 := add(t, l, alice)
			k1 := add(t, l, key)
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("check: %v", o.Err)
			}
			name := cfg.Logs[0].Name
			aliceSAN := "alice-" + strconv.Itoa(os.Getpid()) + "-" + l.Kind + "@example.com"

			res, err := app.Search(t.Context(), index.Query{Subject: aliceSAN})
			if err != nil {
				t.Fatal(err)
			}
			if !sameIndexes(indexes(res.Results), a2, a1) {
				t.Fatalf("subject search = %v, want [%d %d] (newest first)", indexes(res.Results), a2, a1)
			}
			for _, r := range res.Results {
				checkProof(t, r)
				if r.Log != name || r.Kind != "hashedrekord:0.0.1" && r.Kind != "hashedrekord:0.0.2" {
					t.Errorf("result %d: log %q kind %q", r.Index, r.Log, r.Kind)
				}
				if len(r.Digests) != 1 || !strings.HasPrefix(r.Digests[0], "sha256:") {
					t.Errorf("result %d: digests %v, want one sha256", r.Index, r.Digests)
				}
				if (r.Time == nil) != (l.Kind == string(config.KindRekorV2)) {
					t.Errorf("result %d: time %v (Rekor v1 gives one, v2 none)", r.Index, r.Time)
				}
			}

			// By digest: the artifact of a1.
			byDigest, err := app.Search(t.Context(), index.Query{Digest: res.Results[1].Digests[0]})
			if err != nil || !sameIndexes(indexes(byDigest.Results), a1) {
				t.Errorf("digest search = %v, %v; want [%d]", indexes(byDigest.Results), err, a1)
			}
			// By key fingerprint, with the sha256: prefix.
			byKey, err := app.Search(t.Context(), index.Query{Fingerprint: "sha256:" + keyFingerprint(t, key.key)})
			if err != nil || !sameIndexes(indexes(byKey.Results), k1) {
				t.Errorf("fingerprint search = %v, %v; want [%d]", indexes(byKey.Results), err, k1)
			}
			// By issuer and a Fulcio extension (source repository URI).
			byExt, err := app.Search(t.Context(), index.Query{Issuer: identitytest.GitHubActionsIssuer,
				Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app-" + strconv.Itoa(os.Getpid())}})
			if err != nil || !sameIndexes(indexes(byExt.Results), g1) {
				t.Errorf("extension search = %v, %v; want [%d]", indexes(byExt.Results), err, g1)
			}

			// The JSON API, behind the token.
			srv := httptest.NewServer(app.APIHandler())
			defer srv.Close()
			get := func(path, token string) (int, []byte) {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, b
			}
			if code, _ := get("/api/v1/search?subject="+aliceSAN, ""); code != http.StatusUnauthorized {
				t.Errorf("search without token: HTTP %d, want 401", code)
			}
			if code, _ := get("/api/v1/search?subject="+aliceSAN, "wrong"); code != http.StatusUnauthorized {
				t.Errorf("search with a wrong token: HTTP %d, want 401", code)
			}
			code, body := get("/api/v1/search?limit=1&subject="+aliceSAN, "s3cret-token")
			var page search.Response
			if code != http.StatusOK || json.Unmarshal(body, &page) != nil || !sameIndexes(indexes(page.Results), a2) || page.Next == "" {
				t.Fatalf("API search, limit 1: HTTP %d %s; want [%d] and a cursor", code, body, a2)
			}
			code, body = get("/api/v1/search?limit=1&subject="+aliceSAN+"&cursor="+page.Next, "s3cret-token")
			if json.Unmarshal(body, &page) != nil || !sameIndexes(indexes(page.Results), a1) {
				t.Errorf("API search, second page: HTTP %d %s; want [%d]", code, body, a1)
			}
			if code, body := get("/api/v1/search?sbject=x", "s3cret-token"); code != http.StatusBadRequest || !strings.Contains(string(body), `"field": "sbject"`) {
				t.Errorf("misspelt parameter: HTTP %d %s; want 400 naming it", code, body)
			}
			code, body = get("/api/v1/entries/"+name+"/"+strconv.FormatInt(a1, 10), "s3cret-token")
			var e search.Entry
			if code != http.StatusOK || json.Unmarshal(body, &e) != nil {
				t.Fatalf("API entry: HTTP %d %s", code, body)
			}
			sum := sha256.Sum256(append([]byte{0}, e.Body...))
			if hex.EncodeToString(sum[:]) != e.LeafHash || len(e.Certificates) != 1 || e.FetchError != "" {
				t.Errorf("entry %d: leaf hash of body %x, indexed %s; %d certificates; fetch error %q", a1, sum, e.LeafHash, len(e.Certificates), e.FetchError)
			}
			checkProof(t, e.Result)
			if code, _ := get("/api/v1/entries/"+name+"/999999999", "s3cret-token"); code != http.StatusNotFound {
				t.Errorf("entry not indexed: HTTP %d, want 404", code)
			}
			app.Close()

			// Restart: the index goes on from where it was.
			a3 := add(t, l, alice)
			app = newApp(t, cfg)
			defer app.Close()
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("check after restart: %v", o.Err)
			}
			res, err = app.Search(t.Context(), index.Query{Subject: aliceSAN})
			if err != nil || !sameIndexes(indexes(res.Results), a3, a2, a1) {
				t.Fatalf("after restart: subject search = %v, %v; want [%d %d %d]", indexes(res.Results), err, a3, a2, a1)
			}
			checkProof(t, res.Results[0])
		})
	}
}

// TestIndexRebuild drops a log's index and has the monitor rebuild it from
// the log, as `monitor index rebuild` asks.
func TestIndexRebuild(t *testing.T) {
	ca, err := identitytest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range stackLogs(t) {
		t.Run(l.Kind, func(t *testing.T) {
			dir := t.TempDir()
			cfg := logConfig(t, l, l.URL, dir)
			cfg.Scan.Chunk = 2
			app := newApp(t, cfg)
			defer func() { app.Close() }()
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("first check: %v", o.Err)
			}
			san := "rebuild-" + strconv.Itoa(os.Getpid()) + "-" + l.Kind + "@example.com"
			s := newCertSigner(t, ca, san, "https://issuer.example.com", identitytest.Extensions{})
			var added []int64
			for range 5 {
				added = append(added, add(t, l, s))
			}
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("check: %v", o.Err)
			}
			want := []int64{added[4], added[3], added[2], added[1], added[0]}
			res, err := app.Search(t.Context(), index.Query{Subject: san})
			if err != nil || !sameIndexes(indexes(res.Results), want...) {
				t.Fatalf("search = %v, %v; want %v", indexes(res.Results), err, want)
			}
			app.Close()

			// Drop the index from the second entry on, behind the
			// monitor's back, then ask for a rebuild from there.
			ix, err := index.Open(t.Context(), index.Config{Path: cfg.Index.Path})
			if err != nil {
				t.Fatal(err)
			}
			if err := ix.Truncate(t.Context(), cfg.Logs[0].Name, uint64(added[1])); err != nil {
				t.Fatal(err)
			}
			ix.Close()
			if err := monitor.RequestRebuild(dir, cfg.Logs[0].Name, uint64(added[1]), time.Now()); err != nil {
				t.Fatal(err)
			}
			app = newApp(t, cfg)
			res, err = app.Search(t.Context(), index.Query{Subject: san})
			if err != nil || !sameIndexes(indexes(res.Results), added[0]) {
				t.Fatalf("after truncation: search = %v, %v; want [%d]", indexes(res.Results), err, added[0])
			}
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("check with rebuild: %v", o.Err)
			}
			res, err = app.Search(t.Context(), index.Query{Subject: san})
			if err != nil || !sameIndexes(indexes(res.Results), want...) {
				t.Fatalf("after rebuild: search = %v, %v; want %v", indexes(res.Results), err, want)
			}
			if _, err := os.Stat(filepath.Join(state.IndexRebuildDir(dir), cfg.Logs[0].Name+".json")); !os.IsNotExist(err) {
				t.Errorf("rebuild request still there after the rebuild: %v", err)
			}
			if v := gauge(t, app.Gatherer(), "vigil_index_lag_entries", "log", cfg.Logs[0].Name); v != 0 {
				t.Errorf("vigil_index_lag_entries = %v after the rebuild, want 0", v)
			}
		})
	}
}

// TestIndexNotAheadOfVerified: entries a forged log serves are never
// indexed when they do not prove (here: an entry swapped in the answer).
func TestIndexNotAheadOfVerified(t *testing.T) {
	ca, err := identitytest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range stackLogs(t) {
		t.Run(l.Kind, func(t *testing.T) {
			proxy := faultproxy.Start(t, l.URL)
			dir := t.TempDir()
			cfg := logConfig(t, l, proxy.URL, dir)
			cfg.Scan.Chunk = 50
			app := newApp(t, cfg)
			defer app.Close()
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("first check: %v", o.Err)
			}
			san := "forged-" + strconv.Itoa(os.Getpid()) + "-" + l.Kind + "@example.com"
			s := newCertSigner(t, ca, san, "https://issuer.example.com", identitytest.Extensions{})
			for range 3 {
				add(t, l, s)
			}
			proxy.Set(swapEntry(l.Kind))
			if o := checkOne(t, app); o.Result() != monitor.ResultViolation {
				t.Fatalf("check with a swapped entry = %v (%s), want an integrity violation", o.Err, o.Result())
			}
			res, err := app.Search(t.Context(), index.Query{Subject: san})
			if err != nil || len(res.Results) != 0 {
				t.Fatalf("search after a failed proof = %v, %v; want nothing indexed", indexes(res.Results), err)
			}
			if bytes.Contains(stateBytes(t, dir, cfg.Logs[0].Name), []byte(san)) {
				t.Fatal("state holds the subject") // never: state holds no identities
			}
		})
	}
}
