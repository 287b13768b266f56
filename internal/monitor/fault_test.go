package monitor_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/faultproxy"
)

// forger serves forged answers for one real log through a fault proxy.
type forger struct {
	t      *testing.T
	l      stackLog
	signer *faultproxy.Signer
}

func newForger(t *testing.T, l stackLog) *forger {
	t.Helper()
	s, err := faultproxy.LoadSigner(l.PrivKey, l.Origin)
	if err != nil {
		t.Fatal(err)
	}
	return &forger{t: t, l: l, signer: s}
}

// checkpointPath is the path of the log's checkpoint endpoint.
func (f *forger) checkpointPath() string {
	if f.l.Kind == string(config.KindRekorV1) {
		return "/api/v1/log"
	}
	return "/checkpoint"
}

// serveNote replaces the checkpoint the log serves with note. For Rekor v1
// the API's unsigned claims are rewritten to agree with the note unless
// keepClaims, so the only thing wrong is what the test forged.
func (f *forger) serveNote(note func(real []byte, origin string, size uint64, root []byte) []byte, keepClaims bool) faultproxy.Fault {
	return faultproxy.OnPath(f.checkpointPath(), func(r *http.Request, real []byte) (int, []byte, bool) {
		if f.l.Kind != string(config.KindRekorV1) {
			origin, size, root, err := faultproxy.ParseNote(real)
			if err != nil {
				return 0, nil, false
			}
			return http.StatusOK, note(real, origin, size, root), true
		}
		var info map[string]any
		if err := json.Unmarshal(real, &info); err != nil {
			return 0, nil, false
		}
		sth, _ := info["signedTreeHead"].(string)
		origin, size, root, err := faultproxy.ParseNote([]byte(sth))
		if err != nil {
			return 0, nil, false
		}
		forged := note([]byte(sth), origin, size, root)
		info["signedTreeHead"] = string(forged)
		if !keepClaims {
			if _, fs, fr, err := faultproxy.ParseNote(forged); err == nil {
				info["treeSize"], info["rootHash"] = fs, hex.EncodeToString(fr)
			}
		}
		b, _ := json.Marshal(info)
		return http.StatusOK, b, true
	})
}

// faultCase is one way a log (or the network) can fail.
type faultCase struct {
	name  string
	kinds string // "" both, else only this kind
	// install sets the fault; saved is the monitor's last verified
	// checkpoint.
	install func(t *testing.T, p *faultproxy.Proxy, f *forger, saved *checkpoint.Checkpoint)
	reason  checkpoint.Reason // "" for no verdict
}

func faultCases() []faultCase {
	return []faultCase{
		{name: "fork", reason: checkpoint.ReasonFork,
			install: func(t *testing.T, p *faultproxy.Proxy, f *forger, saved *checkpoint.Checkpoint) {
				p.Set(f.serveNote(func(_ []byte, origin string, _ uint64, _ []byte) []byte {
					return f.signer.Checkpoint(origin, saved.Size, faultproxy.RandomHash())
				}, false))
			}},
		{name: "rollback", reason: checkpoint.ReasonRollback,
			install: func(t *testing.T, p *faultproxy.Proxy, f *forger, saved *checkpoint.Checkpoint) {
				p.Set(f.serveNote(func(_ []byte, origin string, _ uint64, _ []byte) []byte {
					return f.signer.Checkpoint(origin, saved.Size-1, faultproxy.RandomHash())
				}, false))
			}},
		{name: "bad-signature", reason: checkpoint.ReasonSignature,
			install: func(t *testing.T, p *faultproxy.Proxy, f *forger, _ *checkpoint.Checkpoint) {
				p.Set(f.serveNote(func(real []byte, _ string, _ uint64, _ []byte) []byte {
					return faultproxy.FlipSignature(real)
				}, true))
			}},
		{name: "wrong-origin", reason: checkpoint.ReasonOrigin,
			install: func(t *testing.T, p *faultproxy.Proxy, f *forger, _ *checkpoint.Checkpoint) {
				p.Set(f.serveNote(func(_ []byte, origin string, size uint64, root []byte) []byte {
					// Rekor v1 signs under any hostname (a pod's name);
					// its origin binds the tree ID: sign for another tree.
					if host, tree, ok := strings.Cut(origin, " - "); ok {
						return f.signer.Checkpoint(host+" - "+tree+"7", size, root)
					}
					return f.signer.Checkpoint("evil."+origin, size, root)
				}, true))
			}},
		{name: "signed-garbage", reason: checkpoint.ReasonMalformed,
			install: func(t *testing.T, p *faultproxy.Proxy, f *forger, _ *checkpoint.Checkpoint) {
				p.Set(f.serveNote(func(_ []byte, origin string, _ uint64, _ []byte) []byte {
					return f.signer.Text(origin + "\nnot-a-number\nAAAA\n")
				}, true))
			}},
		{name: "claims-disagree-with-note", kinds: string(config.KindRekorV1), reason: checkpoint.ReasonMalformed,
			install: func(t *testing.T, p *faultproxy.Proxy, f *forger, _ *checkpoint.Checkpoint) {
				p.Set(faultproxy.OnPath("/api/v1/log", func(_ *http.Request, real []byte) (int, []byte, bool) {
					var info map[string]any
					if err := json.Unmarshal(real, &info); err != nil {
						return 0, nil, false
					}
					info["rootHash"] = hex.EncodeToString(faultproxy.RandomHash())
					b, _ := json.Marshal(info)
					return http.StatusOK, b, true
				}))
			}},
		{name: "bad-proof-forged-root", reason: checkpoint.ReasonConsistency,
			install: func(t *testing.T, p *faultproxy.Proxy, f *forger, saved *checkpoint.Checkpoint) {
				addEntries(t, f.l, 2) // the real log grows, so a proof exists
				p.Set(f.serveNote(func(_ []byte, origin string, size uint64, _ []byte) []byte {
					return f.signer.Checkpoint(origin, size, faultproxy.RandomHash())
				}, false))
			}},
		{name: "bad-proof-corrupted-hashes", kinds: string(config.KindRekorV1), reason: checkpoint.ReasonConsistency,
			install: func(t *testing.T, p *faultproxy.Proxy, f *forger, _ *checkpoint.Checkpoint) {
				addEntries(t, f.l, 2)
				p.Set(faultproxy.OnPath("/api/v1/log/proof", func(_ *http.Request, real []byte) (int, []byte, bool) {
					var pr map[string]any
					if err := json.Unmarshal(real, &pr); err != nil {
						return 0, nil, false
					}
					hs, _ := pr["hashes"].([]any)
					if len(hs) == 0 {
						return 0, nil, false
					}
					hs[0] = hex.EncodeToString(faultproxy.RandomHash())
					b, _ := json.Marshal(pr)
					return http.StatusOK, b, true
				}))
			}},
		{name: "bad-proof-corrupted-tiles", kinds: string(config.KindRekorV2), reason: checkpoint.ReasonConsistency,
			install: func(t *testing.T, p *faultproxy.Proxy, f *forger, _ *checkpoint.Checkpoint) {
				addEntries(t, f.l, 2)
				p.Set(func(r *http.Request, real []byte) (int, []byte, bool) {
					if !strings.Contains(r.URL.Path, "/tile/") || strings.Contains(r.URL.Path, "/tile/entries/") || len(real) < 32 {
						return 0, nil, false
					}
					b := bytes.Clone(real)
					for i := range b {
						b[i] ^= 0xff
					}
					return http.StatusOK, b, true
				})
			}},
		{name: "server-error", install: func(t *testing.T, p *faultproxy.Proxy, f *forger, _ *checkpoint.Checkpoint) {
			p.Set(faultproxy.Status(http.StatusServiceUnavailable))
		}},
		{name: "garbage", install: func(t *testing.T, p *faultproxy.Proxy, f *forger, _ *checkpoint.Checkpoint) {
			p.Set(faultproxy.Body([]byte("<html><body>Welcome to nginx!</body></html>")))
		}},
		{name: "truncated", install: func(t *testing.T, p *faultproxy.Proxy, f *forger, _ *checkpoint.Checkpoint) {
			p.Truncate(func(string) bool { return true })
		}},
		{name: "oversized", install: func(t *testing.T, p *faultproxy.Proxy, f *forger, _ *checkpoint.Checkpoint) {
			p.Set(faultproxy.Body(bytes.Repeat([]byte("A"), 40<<20)))
		}},
		{name: "hang", install: func(t *testing.T, p *faultproxy.Proxy, f *forger, _ *checkpoint.Checkpoint) {
			p.Hang(func(string) bool { return true })
		}},
	}
}

// TestFaults puts a fault-injecting proxy in front of the real logs and
// checks, for each fault: the verdict and reason, the metric, that the saved
// state is unchanged, and that the next check after the fault clears
// verifies again.
func TestFaults(t *testing.T) {
	for _, l := range stackLogs(t) {
		t.Run(l.Kind, func(t *testing.T) {
			proxy := faultproxy.Start(t, l.URL)
			dir := t.TempDir()
			cfg := logConfig(t, l, proxy.URL, dir)
			name := cfg.Logs[0].Name
			app := newApp(t, cfg)
			defer app.Close()
			f := newForger(t, l)
			addEntries(t, l, 2) // rollback needs a tree of at least 2

			for _, fc := range faultCases() {
				if fc.kinds != "" && fc.kinds != l.Kind {
					continue
				}
				t.Run(fc.name, func(t *testing.T) {
					proxy.Clear()
					good := checkOne(t, app)
					if good.Err != nil {
						t.Fatalf("check without fault: %v", good.Err)
					}
					before := stateBytes(t, dir, name)
					fetchErrs, _ := metricValue(t, app.Gatherer(), "vigil_log_fetch_errors_total", "log", name)
					failures, _ := metricValue(t, app.Gatherer(), "vigil_log_integrity_failures_total", "log", name, "reason", string(fc.reason))

					fc.install(t, proxy, f, good.Checkpoint)
					o := checkOne(t, app)
					proxy.Clear()

					var ie *checkpoint.IntegrityError
					if fc.reason == "" {
						if o.Result() != "error" {
							t.Fatalf("check = %s (%v), want no verdict", o.Result(), o.Err)
						}
						if got, _ := metricValue(t, app.Gatherer(), "vigil_log_fetch_errors_total", "log", name); got != fetchErrs+1 {
							t.Errorf("vigil_log_fetch_errors_total = %v, want %v", got, fetchErrs+1)
						}
					} else {
						if !errors.As(o.Err, &ie) || ie.Reason != fc.reason {
							t.Fatalf("check = %v, want integrity violation %q", o.Err, fc.reason)
						}
						if len(ie.New) == 0 {
							t.Errorf("violation carries no offending checkpoint as evidence")
						}
						if got := gauge(t, app.Gatherer(), "vigil_log_integrity_failures_total", "log", name, "reason", string(fc.reason)); got != failures+1 {
							t.Errorf("vigil_log_integrity_failures_total{reason=%q} = %v, want %v", fc.reason, got, failures+1)
						}
					}
					if after := stateBytes(t, dir, name); !bytes.Equal(before, after) {
						t.Errorf("state changed by a failed check:\nbefore %s\nafter  %s", before, after)
					}
					if o := checkOne(t, app); o.Err != nil {
						t.Errorf("check after the fault cleared = %v, want verified", o.Err)
					}
				})
			}
		})
	}
}
