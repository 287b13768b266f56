package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vigil-tlog/vigil/internal/audit"
	"github.com/vigil-tlog/vigil/internal/faultproxy"
	"github.com/vigil-tlog/vigil/internal/search"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// signBlob signs a fresh artifact keyless against the stack (a devoidc
// token, a Fulcio certificate) and logs it in Rekor v1 or v2, with
// sigstore-go as internal/deploy signs: it returns the bundle (v0.3) as
// sigstore-go writes it.
func signBlob(t *testing.T, env testenv.Env, rekorVersion uint32) *protobundle.Bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tok := get(t, env.Get(t, "OIDC_ISSUER")+"/token?"+url.Values{"email": {"audit@example.com"}}.Encode())
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	rekorURL := env.Get(t, "REKOR_URL")
	if rekorVersion == 2 {
		rekorURL = env.Get(t, "REKOR_V2_WRITE_URL")
	}
	pb, err := sign.Bundle(&sign.PlainData{Data: []byte("audit-bundle test " + rand.Text())}, kp, sign.BundleOptions{
		Context:                    ctx,
		CertificateProvider:        sign.NewFulcio(&sign.FulcioOptions{BaseURL: env.Get(t, "FULCIO_URL"), Timeout: 30 * time.Second}),
		CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: strings.TrimSpace(string(tok))},
		TransparencyLogs:           []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: rekorURL, Timeout: 30 * time.Second, Version: rekorVersion})},
	})
	if err != nil {
		t.Fatalf("signing with Rekor v%d: %v", rekorVersion, err)
	}
	return pb
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", u, resp.StatusCode, b)
	}
	return b
}

func writeBundle(t *testing.T, dir, name string, pb *protobundle.Bundle) string {
	t.Helper()
	b, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// forkBundle returns a copy of pb whose checkpoint is a fork of size
// size, signed with the log's private key keyFile as signer name: a tree
// whose leaf at the entry's index (or the last, in a smaller tree) is the
// entry and whose other leaves are not the log's, with the entry's
// inclusion proof in it.
func forkBundle(t *testing.T, pb *protobundle.Bundle, keyFile, name, origin string, size uint64) *protobundle.Bundle {
	t.Helper()
	if size == 0 || size > 1<<20 {
		t.Fatalf("forkBundle: tree size %d out of range", size)
	}
	pb = cloneBundle(t, pb)
	e := pb.VerificationMaterial.TlogEntries[0]
	idx := min(uint64(e.InclusionProof.LogIndex), size-1)
	tree := testonly.New(rfc6962.DefaultHasher)
	filler := rfc6962.DefaultHasher.HashLeaf([]byte("forked " + rand.Text()))
	for i := range size {
		if i == idx {
			tree.AppendData(e.CanonicalizedBody)
		} else {
			tree.Append(filler)
		}
	}
	proof, err := tree.InclusionProof(idx, size)
	if err != nil {
		t.Fatal(err)
	}
	s, err := faultproxy.LoadSigner(keyFile, name)
	if err != nil {
		t.Fatal(err)
	}
	e.InclusionProof.LogIndex, e.InclusionProof.TreeSize, e.InclusionProof.RootHash, e.InclusionProof.Hashes = int64(idx), int64(size), tree.Hash(), proof
	e.InclusionProof.Checkpoint.Envelope = string(s.Checkpoint(origin, size, tree.Hash()))
	return pb
}

func cloneBundle(t *testing.T, pb *protobundle.Bundle) *protobundle.Bundle {
	t.Helper()
	b, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	out := new(protobundle.Bundle)
	if err := protojson.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func auditCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := auditBundleMain(t.Context(), args, &out, &errb)
	return code, out.String() + errb.String()
}

// TestAuditBundleStack audits bundles of real Rekor v1 and v2 entries,
// signed keyless against the local stack, with `monitor audit-bundle`
// after `monitor check` verified the logs; then forks signed with the
// logs' keys, a bundle of a log not watched, a truncated bundle, and the
// same through a monitor's HTTP endpoint (--server).
func TestAuditBundleStack(t *testing.T) {
	env := testenv.Stack(t)
	dir := t.TempDir()
	v1Origin := env.Get(t, "REKOR_HOSTNAME") + " - " + env.Get(t, "REKOR_TREE_ID")
	v1Log := "  - {name: rekor-v1, kind: rekor-v1, url: '" + env.Get(t, "REKOR_URL") + "', public_key_file: " + env.Get(t, "REKOR_PUBKEY") + "}\n"
	v2Log := "  - {name: rekor-v2, kind: rekor-v2, url: '" + env.Get(t, "REKOR_V2_READ_URL") + "', public_key_file: " + env.Get(t, "REKOR_V2_PUBKEY") +
		", origin: " + env.Get(t, "REKOR_V2_ORIGIN") + "}\n"
	head := "state_dir: " + filepath.Join(dir, "state") + "\nlog_format: text\nscan: {disabled: true}\nindex: {disabled: true}\nlogs:\n"
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(head+v1Log+v2Log), 0o600); err != nil {
		t.Fatal(err)
	}
	onlyV2 := filepath.Join(dir, "only-v2.yml")
	if err := os.WriteFile(onlyV2, []byte(head+v2Log), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		var out bytes.Buffer
		if code := run([]string{"check", "--config", cfg}, &out, &out); code != exitOK {
			t.Fatalf("monitor check: exit %d\n%s", code, out.String())
		}
	}

	// Signed before the monitor's check: proven to (or equal to) the
	// checkpoint it verified.
	pb1, pb2 := signBlob(t, env, 1), signBlob(t, env, 2)
	v1, v2 := writeBundle(t, dir, "v1.json", pb1), writeBundle(t, dir, "v2.json", pb2)
	check()
	code, out := auditCmd(t, "--config", cfg, v1, v2)
	if code != exitOK || strings.Count(out, ": consistent") != 2 {
		t.Fatalf("audit-bundle of bundles older than the check: exit %d\n%s", code, out)
	}
	t.Logf("older bundles:\n%s", out)

	// Signed after it: the log proves the verified tree a prefix.
	n1, n2 := writeBundle(t, dir, "v1-new.json", signBlob(t, env, 1)), writeBundle(t, dir, "v2-new.json", signBlob(t, env, 2))
	code, out = auditCmd(t, "--config", cfg, n1, n2)
	if code != exitOK || strings.Count(out, "with the state checkpoint") != 2 {
		t.Fatalf("audit-bundle of bundles newer than the check: exit %d\n%s", code, out)
	}
	t.Logf("newer bundles:\n%s", out)

	// Forks signed with the logs' keys: at the first bundles' size, which
	// the monitor archived (the roots differ, the log is not asked); at
	// half that size, below anything verified (the log's consistency proof to the
	// verified tree fails); and beyond the log's tree (the log's checkpoint
	// is smaller).
	check()
	// Each tree holds the smoke test's entries and the bundle's: size >= 2.
	size1, size2 := uint64(pb1.VerificationMaterial.TlogEntries[0].InclusionProof.TreeSize), uint64(pb2.VerificationMaterial.TlogEntries[0].InclusionProof.TreeSize)
	if size1 < 2 || size2 < 2 {
		t.Fatalf("tree sizes %d and %d: want at least 2 (the stack's smoke test writes to each log)", size1, size2)
	}
	forks := map[string]*protobundle.Bundle{
		"v1-fork.json":       forkBundle(t, pb1, env.Get(t, "REKOR_PRIVKEY"), env.Get(t, "REKOR_HOSTNAME"), v1Origin, size1),
		"v2-fork.json":       forkBundle(t, pb2, env.Get(t, "REKOR_V2_PRIVKEY"), env.Get(t, "REKOR_V2_ORIGIN"), env.Get(t, "REKOR_V2_ORIGIN"), size2),
		"v1-fork-below.json": forkBundle(t, pb1, env.Get(t, "REKOR_PRIVKEY"), env.Get(t, "REKOR_HOSTNAME"), v1Origin, size1/2),
		"v2-fork-below.json": forkBundle(t, pb2, env.Get(t, "REKOR_V2_PRIVKEY"), env.Get(t, "REKOR_V2_ORIGIN"), env.Get(t, "REKOR_V2_ORIGIN"), size2/2),
		"v1-fork-ahead.json": forkBundle(t, pb1, env.Get(t, "REKOR_PRIVKEY"), env.Get(t, "REKOR_HOSTNAME"), v1Origin, size1+100_000),
		"v2-fork-ahead.json": forkBundle(t, pb2, env.Get(t, "REKOR_V2_PRIVKEY"), env.Get(t, "REKOR_V2_ORIGIN"), env.Get(t, "REKOR_V2_ORIGIN"), size2+100_000),
	}
	for name, pb := range forks {
		t.Run(name, func(t *testing.T) {
			code, out := auditCmd(t, "--config", cfg, writeBundle(t, dir, name, pb))
			if code != exitViolation || !strings.Contains(out, "SPLIT VIEW") ||
				!strings.Contains(out, "checkpoint the monitor verified:") || !strings.Contains(out, "checkpoint in the bundle:") {
				t.Fatalf("exit %d, want 1 with both checkpoints:\n%s", code, out)
			}
			switch {
			case strings.Contains(name, "below") && !strings.Contains(out, "consistency proof from the log:"):
				t.Errorf("a fork below the verified tree: want the log's failed proof as evidence:\n%s", out)
			case strings.HasSuffix(name, "-fork.json") && !strings.Contains(out, "(verified, archive)"):
				t.Errorf("a fork of an archived size: want the archive to decide:\n%s", out)
			}
			t.Logf("%s", out)
		})
	}

	// A bundle of a log the monitor does not watch.
	code, out = auditCmd(t, "--config", onlyV2, v1)
	if code != exitUsage || !strings.Contains(out, "verificationMaterial.tlogEntries[0].logId.keyId: log ID ") ||
		!strings.Contains(out, "is not a log this monitor watches") {
		t.Errorf("bundle of another log: exit %d, want 2 naming the log ID:\n%s", code, out)
	}

	// Truncated and garbage bundles name the field.
	raw, _ := os.ReadFile(v1)
	cut := filepath.Join(dir, "truncated.json")
	os.WriteFile(cut, raw[:bytes.Index(raw, []byte(`"checkpoint"`))+30], 0o600)
	garbage := filepath.Join(dir, "garbage.json")
	os.WriteFile(garbage, []byte("this is not a bundle"), 0o600)
	code, out = auditCmd(t, "--config", cfg, cut, garbage)
	if code != exitUsage || !strings.Contains(out, "truncated.json: verificationMaterial.tlogEntries[0].inclusionProof.checkpoint.envelope: truncated") ||
		!strings.Contains(out, "garbage.json: not valid JSON at byte ") {
		t.Errorf("truncated and garbage bundles: exit %d, want 2 naming the field:\n%s", code, out)
	}

	// The same through a monitor's API (as the lead mounts it: behind the
	// API token).
	a, err := localAuditor(t.Context(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(search.Authorize("s3cret", a.Handler()))
	defer srv.Close()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	code, out = auditCmd(t, "--server", srv.URL, "--token-file", tokenFile, "--json", v1, n2, filepath.Join(dir, "v2-fork.json"))
	var res struct {
		Verdict audit.Verdict
		Bundles []audit.Report
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--server --json: %v\n%s", err, out)
	}
	if code != exitViolation || res.Verdict != audit.SplitView || len(res.Bundles) != 3 ||
		res.Bundles[0].Verdict != audit.Consistent || res.Bundles[2].Verdict != audit.SplitView {
		t.Errorf("--server: exit %d, want 1 (consistent, consistent, split_view):\n%s", code, out)
	}
	os.WriteFile(tokenFile, []byte("wrong\n"), 0o600)
	if code, out := auditCmd(t, "--server", srv.URL, "--token-file", tokenFile, v1); code != exitUsage {
		t.Errorf("--server with a wrong token: exit %d, want 2:\n%s", code, out)
	}
}

func TestAuditBundleUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"b.json"},
		{"--token-file", "x", "--config", "c.yml", "b.json"},
		{"--config", filepath.Join(t.TempDir(), "missing.yml"), "b.json"},
	} {
		if code, out := auditCmd(t, args...); code != exitUsage {
			t.Errorf("audit-bundle %q: exit %d, want 2:\n%s", args, code, out)
		}
	}
	if code, _ := auditCmd(t, "-h"); code != exitOK {
		t.Errorf("-h: exit %d", code)
	}
}
