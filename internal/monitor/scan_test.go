package monitor_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/faultproxy"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// signer is a test signer with the verifier material stored in its entries.
type signer struct {
	key      crypto.Signer
	material []byte // PEM public key or certificate
}

func newKeySigner(t *testing.T) signer {
	t.Helper()
	k, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := identitytest.PublicKeyPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return signer{k, pub}
}

func newCertSigner(t *testing.T, ca *identitytest.TestCA, san, issuer string, ext identitytest.Extensions) signer {
	t.Helper()
	k, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(k.Public(), san, issuer, ext)
	if err != nil {
		t.Fatal(err)
	}
	return signer{k, cert}
}

func keyFingerprint(t *testing.T, k crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// add signs a fresh artifact as a hashedrekord in the log and returns its index.
func add(t *testing.T, l testenv.Log, s signer) int64 {
	t.Helper()
	env := testenv.Stack(t)
	var (
		idx int64
		err error
	)
	if l.Kind == string(config.KindRekorV1) {
		idx, err = stack.AddV1HashedRekord(t.Context(), l.URL, s.key, s.material, identitytest.Artifact())
	} else {
		idx, err = stack.AddV2HashedRekord(t.Context(), env.Get(t, "REKOR_V2_WRITE_URL"), s.key, s.material, identitytest.Artifact())
	}
	if err != nil {
		t.Fatalf("adding entry to %s: %v", l.Kind, err)
	}
	return idx
}

// eventsAt returns the kinds/rules of the events received for entry index.
func (r *receiver) eventsAt(index int64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Evidence.Entry != nil && e.Evidence.Entry.Index == index {
			out = append(out, string(e.Kind)+":"+e.Evidence.Rule)
		}
	}
	return out
}

// scanConfig returns a configuration that scans l with rules and sends
// events to rcv.
func scanConfig(t *testing.T, l testenv.Log, url string, rcv *receiver, ids identity.Config) *config.Config {
	t.Helper()
	cfg := logConfig(t, l, url, t.TempDir())
	cfg.Identities = ids
	cfg.Scan.Chunk = 4
	cfg.Alerts = alert.Config{Sinks: []alert.SinkConfig{{Name: "hook", Type: alert.TypeWebhook, URL: rcv.srv.URL}},
		Outbox: alert.OutboxConfig{RetryInitial: 100 * time.Millisecond, RetryMax: time.Second}}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestScanIdentities signs entries in the real logs with watched,
// expected and unexpected identities (keys, and short-lived certificates
// from a test CA shaped like Fulcio's, with its extensions) and checks the
// monitor reports exactly the right ones, with the identity as evidence.
func TestScanIdentities(t *testing.T) {
	ca, err := identitytest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://issuer.example.com"
	ciKey := newKeySigner(t)
	ids := identity.Config{
		Watch: []identity.Rule{
			{Name: "alice", Subject: `alice@example\.com`, Issuer: `https://issuer\.example\.com`},
			{Name: "acme-release", Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": `https://github\.com/acme/.*`}},
		},
		Expect: []identity.Rule{
			{Name: "staff", Subject: `.*@example\.com`, Issuer: `https://issuer\.example\.com`},
			{Name: "ci-key", Fingerprint: keyFingerprint(t, ciKey.key)},
		},
	}
	for _, l := range stackLogs(t) {
		t.Run(l.Kind, func(t *testing.T) {
			rcv := newReceiver(t)
			cfg := scanConfig(t, l, l.URL, rcv, ids)
			app := newApp(t, cfg)
			defer app.Close()
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("first check: %v", o.Err)
			}

			alice := newCertSigner(t, ca, "alice@example.com", issuer, identitytest.Extensions{})
			bob := newCertSigner(t, ca, "bob@example.com", issuer, identitytest.Extensions{})
			// Not anchored would match: the rule must not fire for malice.
			malice := newCertSigner(t, ca, "malice@example.com.evil.test", issuer, identitytest.Extensions{})
			workflow := newCertSigner(t, ca, "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
				identitytest.GitHubActionsIssuer, identitytest.GitHubActionsExtensions("acme/app", "refs/heads/main", ".github/workflows/release.yml", strings.Repeat("ab", 20)))
			stranger := newKeySigner(t)

			want := map[int64][]string{
				add(t, l, alice):    {"identity_match:alice"},
				add(t, l, bob):      nil,
				add(t, l, ciKey):    nil,
				add(t, l, malice):   {"unexpected_identity:"},
				add(t, l, workflow): {"identity_match:acme-release", "unexpected_identity:"},
				add(t, l, stranger): {"unexpected_identity:"},
			}
			if l.Kind == string(config.KindRekorV1) {
				idx, err := stack.AddV1DSSE(t.Context(), l.URL, alice.key, alice.material, identitytest.Artifact())
				if err != nil {
					t.Fatal(err)
				}
				want[idx] = []string{"identity_match:alice"}
				idx, err = stack.AddV1InToto(t.Context(), l.URL, alice.key, alice.material, identitytest.Artifact())
				if err != nil {
					t.Fatal(err)
				}
				want[idx] = []string{"identity_match:alice"}
			}
			o := checkOne(t, app)
			if o.Err != nil {
				t.Fatalf("scan: %v", o.Err)
			}
			app.Check(t.Context(), 10*time.Second) // flush the outbox
			// The outbox may deliver the events of one entry in any order
			// (the more severe first).
			for idx, w := range want {
				got := slices.Sorted(slices.Values(rcv.eventsAt(idx)))
				if w = slices.Sorted(slices.Values(w)); strings.Join(got, ",") != strings.Join(w, ",") {
					t.Errorf("entry %d: events %q, want %q", idx, got, w)
				}
			}
			// The watch hit carries the identity as evidence.
			rcv.mu.Lock()
			for _, e := range rcv.events {
				if e.Kind == alert.KindIdentityMatch && e.Evidence.Rule == "alice" {
					if e.Evidence.Identity["subject"] != "alice@example.com" || e.Evidence.Identity["issuer"] != issuer || len(e.Evidence.Entry.Body) == 0 {
						t.Errorf("alice event evidence = %v, want subject, issuer and the entry body", e.Evidence.Identity)
					}
				}
				if e.Kind == alert.KindIdentityMatch && e.Evidence.Rule == "acme-release" &&
					e.Evidence.Identity["1.3.6.1.4.1.57264.1.12"] != "https://github.com/acme/app" {
					t.Errorf("workflow event evidence lacks the source repository extension: %v", e.Evidence.Identity)
				}
			}
			rcv.mu.Unlock()
			if got := gauge(t, app.Gatherer(), "vigil_identity_matches_total", "log", cfg.Logs[0].Name, "rule", "alice"); got < 1 {
				t.Errorf("vigil_identity_matches_total{rule=alice} = %v, want >= 1", got)
			}
			if got := gauge(t, app.Gatherer(), "vigil_log_entries_scanned_total", "log", cfg.Logs[0].Name); got < float64(len(want)) {
				t.Errorf("vigil_log_entries_scanned_total = %v, want >= %d", got, len(want))
			}
		})
	}
}

// TestScanRestartMidScan interrupts a scan (the log stops serving entries
// after the first chunk), restarts the monitor and checks that every entry
// is reported, and none of the first, committed chunk twice.
func TestScanRestartMidScan(t *testing.T) {
	ids := identity.Config{Watch: []identity.Rule{{Name: "everyone", Subject: `.*`}}}
	ca, err := identitytest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range stackLogs(t) {
		t.Run(l.Kind, func(t *testing.T) {
			proxy := faultproxy.Start(t, l.URL)
			rcv := newReceiver(t)
			cfg := scanConfig(t, l, proxy.URL, rcv, ids)
			app := newApp(t, cfg)
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("first check: %v", o.Err)
			}
			s := newCertSigner(t, ca, "someone@example.com", "https://issuer.example.com", identitytest.Extensions{})
			var added []int64
			for range 10 {
				added = append(added, add(t, l, s))
			}
			// Serve the first request for entries, then fail the rest.
			served := 0
			proxy.Set(func(r *http.Request, real []byte) (int, []byte, bool) {
				if !strings.Contains(r.URL.Path, "/entries") {
					return 0, nil, false
				}
				if served++; served <= 1 {
					return 0, nil, false
				}
				return http.StatusServiceUnavailable, []byte("down\n"), true
			})
			if o := checkOne(t, app); o.Result() != "error" {
				t.Fatalf("check with entries failing = %v, want no verdict", o.Err)
			}
			app.Check(t.Context(), 10*time.Second)
			app.Close()
			firstRound := map[int64]int{}
			for _, idx := range added {
				firstRound[idx] = len(rcv.eventsAt(idx))
			}

			proxy.Clear()
			app = newApp(t, cfg)
			defer app.Close()
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("check after restart: %v", o.Err)
			}
			app.Check(t.Context(), 10*time.Second)
			for _, idx := range added {
				n := len(rcv.eventsAt(idx))
				switch {
				case n == 0:
					t.Errorf("entry %d was never reported", idx)
				case firstRound[idx] > 0 && n != firstRound[idx]:
					t.Errorf("entry %d of the committed chunk was reported again after the restart (%d times)", idx, n)
				}
			}
		})
	}
}

// TestScanSplitView: a proxy shows the monitor an entry that is not the one
// in the tree (another entry's body). The compact range no longer hashes to
// the signed root: an inclusion violation, no events for the range, state
// unchanged.
func TestScanSplitView(t *testing.T) {
	ids := identity.Config{Watch: []identity.Rule{{Name: "everyone", Subject: `.*`}}}
	for _, l := range stackLogs(t) {
		t.Run(l.Kind, func(t *testing.T) {
			proxy := faultproxy.Start(t, l.URL)
			rcv := newReceiver(t)
			cfg := scanConfig(t, l, proxy.URL, rcv, ids)
			cfg.Scan.Chunk = 1000
			app := newApp(t, cfg)
			defer app.Close()
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("first check: %v", o.Err)
			}
			before := stateBytes(t, cfg.StateDir, cfg.Logs[0].Name)
			l.AddN(t, 3)
			proxy.Set(swapEntry(l.Kind))
			o := checkOne(t, app)
			var ie *checkpoint.IntegrityError
			if !errors.As(o.Err, &ie) || ie.Reason != checkpoint.ReasonInclusion {
				t.Fatalf("check with a swapped entry = %v, want an inclusion violation", o.Err)
			}
			if after := stateBytes(t, cfg.StateDir, cfg.Logs[0].Name); !bytes.Equal(before, after) {
				t.Errorf("state changed by a failed scan")
			}
			app.Check(t.Context(), 5*time.Second)
			for _, k := range rcv.kinds() {
				if strings.HasPrefix(k, "identity_match") {
					t.Errorf("identity events sent for a range that did not verify: %v", rcv.kinds())
					break
				}
			}
			proxy.Clear()
			if o := checkOne(t, app); o.Err != nil {
				t.Errorf("check after the proxy stopped lying: %v", o.Err)
			}
		})
	}
}

// swapEntry rewrites entry responses so the last entry served carries the
// body of the first: every entry is well-formed, but one is not the tree's.
func swapEntry(kind string) faultproxy.Fault {
	return func(r *http.Request, real []byte) (int, []byte, bool) {
		if kind == string(config.KindRekorV1) {
			if !strings.HasSuffix(r.URL.Path, "/entries/retrieve") {
				return 0, nil, false
			}
			var entries []map[string]map[string]any
			if err := json.Unmarshal(real, &entries); err != nil || len(entries) < 2 {
				return 0, nil, false
			}
			var first any
			for _, e := range entries[0] {
				first = e["body"]
			}
			for _, e := range entries[len(entries)-1] {
				e["body"] = first
			}
			b, _ := json.Marshal(entries)
			return http.StatusOK, b, true
		}
		if !strings.Contains(r.URL.Path, "/tile/entries/") {
			return 0, nil, false
		}
		// Bundle: repeated uint16 length + data; replace the last entry
		// with a copy of the first.
		var parts [][]byte
		for i := 0; i+2 <= len(real); {
			n := int(real[i])<<8 | int(real[i+1])
			if i+2+n > len(real) {
				return 0, nil, false
			}
			parts = append(parts, real[i:i+2+n])
			i += 2 + n
		}
		if len(parts) < 2 {
			return 0, nil, false
		}
		parts[len(parts)-1] = parts[0]
		return http.StatusOK, bytes.Join(parts, nil), true
	}
}
