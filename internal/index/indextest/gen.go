// Package indextest generates realistic index records for tests and
// benchmarks (internal/index, tools/indexbench): a few hundred repeated
// signers, issuers and repositories, unique leaf hashes, digests and
// certificate and key fingerprints. Record i of a [Generator] is always the
// same, so a benchmark can pick values to query without keeping what it
// generated.
package indextest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/vigil-tlog/vigil/internal/index"
)

// Profile is a mix of entries.
type Profile int

const (
	// Mixed is a private Sigstore's mix: 50% hashedrekord/dsse entries
	// signed by GitHub-Actions-style workflow certificates (URI SAN,
	// issuer, 6 repeated Fulcio extensions, a per-commit source digest and
	// a per-run invocation URI), 35% by e-mail certificates (issuer and its
	// two extensions), 15% by bare keys (a few dozen, each signing many
	// entries). One dsse entry in five has a second signature, by an
	// e-mail signer. About 5% of digests repeat a recent one.
	Mixed Profile = iota
	// FulcioEmail is the size target's entry: a hashedrekord with a
	// Fulcio certificate, 1 digest, 1 e-mail SAN, an issuer and 5 Fulcio
	// extensions with repeated values, unique certificate and key
	// fingerprints.
	FulcioEmail
	// GitHubActions is a hashedrekord signed by a GitHub Actions
	// certificate as Fulcio issues it: a workflow URI SAN, the issuer and
	// 15 extensions, of which 4 change with every commit or run.
	GitHubActions
)

// Fulcio extension OIDs.
const (
	OIDIssuerV1         = "1.3.6.1.4.1.57264.1.1"
	OIDIssuer           = "1.3.6.1.4.1.57264.1.8"
	OIDBuildSignerURI   = "1.3.6.1.4.1.57264.1.9"
	OIDRunnerEnv        = "1.3.6.1.4.1.57264.1.11"
	OIDSourceRepoURI    = "1.3.6.1.4.1.57264.1.12"
	OIDSourceRepoRef    = "1.3.6.1.4.1.57264.1.14"
	OIDBuildConfigURI   = "1.3.6.1.4.1.57264.1.18"
	OIDBuildTrigger     = "1.3.6.1.4.1.57264.1.20"
	OIDBuildSignerHash  = "1.3.6.1.4.1.57264.1.10"
	OIDSourceRepoDigest = "1.3.6.1.4.1.57264.1.13"
	OIDSourceRepoID     = "1.3.6.1.4.1.57264.1.15"
	OIDSourceOwnerURI   = "1.3.6.1.4.1.57264.1.16"
	OIDSourceOwnerID    = "1.3.6.1.4.1.57264.1.17"
	OIDBuildConfigHash  = "1.3.6.1.4.1.57264.1.19"
	OIDRunInvocationURI = "1.3.6.1.4.1.57264.1.21"
	OIDVisibility       = "1.3.6.1.4.1.57264.1.22"
	GitHubActionsIssuer = "https://token.actions.githubusercontent.com"
)

var (
	emailIssuers = []string{"https://accounts.google.com", "https://github.com/login/oauth", "https://dex.sigstore.internal"}
	refs         = []string{"refs/heads/main", "refs/heads/release", "refs/tags/v1.2.3", "refs/tags/v2.0.0"}
	triggers     = []string{"push", "release", "workflow_dispatch"}
)

// Generator makes records. The zero value generates a Mixed log named
// "rekor" without times; set the fields before the first call and do not
// change them after.
type Generator struct {
	// Log names the log.
	Log string
	// Seed varies the unique values.
	Seed uint64
	// Profile is the mix of entries.
	Profile Profile
	// Subjects is the number of distinct signers (default 300); Keys the
	// number of distinct bare keys (default 50).
	Subjects, Keys int
	// Start is the time of entry 0, Step the time between entries
	// (default 1s). A zero Start gives no times (Rekor v2).
	Start time.Time
	Step  time.Duration
}

func (g *Generator) subjects() int {
	if g.Subjects > 0 {
		return g.Subjects
	}
	return 300
}

func (g *Generator) keys() int {
	if g.Keys > 0 {
		return g.Keys
	}
	return 50
}

func (g *Generator) log() string {
	if g.Log != "" {
		return g.Log
	}
	return "rekor"
}

// sum is the SHA-256 of the seed, a label and n: the unique values.
func (g *Generator) sum(label string, n uint64) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], g.Seed)
	binary.BigEndian.PutUint64(b[8:], n)
	h := sha256.New()
	h.Write(b[:])
	h.Write([]byte(label))
	return h.Sum(nil)
}

// rnd is a pseudo-random number for entry i and a label.
func (g *Generator) rnd(label string, i uint64) uint64 {
	return binary.BigEndian.Uint64(g.sum(label, i))
}

// WorkflowSubject is the SAN of workflow signer s.
func WorkflowSubject(s int) string {
	return fmt.Sprintf("https://github.com/org%d/repo%d/.github/workflows/release.yml@refs/heads/main", s%40, s)
}

// Repo is the repository of signer s.
func Repo(s int) string { return fmt.Sprintf("https://github.com/org%d/repo%d", s%40, s) }

// Email is the SAN of e-mail signer s.
func Email(s int) string { return fmt.Sprintf("user%d@example%d.com", s, s%7) }

// EmailIssuer is the issuer of e-mail signer s.
func EmailIssuer(s int) string { return emailIssuers[s%len(emailIssuers)] }

// Commit is the source repository digest of entry i, signed by signer s:
// one commit per signer per 5000 entries.
func (g *Generator) Commit(s int, i uint64) string {
	return hex.EncodeToString(g.sum("commit", uint64(s)<<32|i/5000)[:20])
}

// RunURI is the run invocation URI of entry i, signed by signer s: a run
// per entry.
func (g *Generator) RunURI(s int, i uint64) string {
	return fmt.Sprintf("https://github.com/org%d/repo%d/actions/runs/%d/attempts/1", s%40, s, 9000000000+g.rnd("run", i)%1000000000)
}

// Key is the fingerprint of bare key k.
func (g *Generator) Key(k int) string { return hex.EncodeToString(g.sum("key", uint64(k))) }

// Digest is the digest of entry i ("sha256:<hex>").
func (g *Generator) Digest(i uint64) string {
	n := i
	if r := g.rnd("reuse", i); g.Profile == Mixed && r%20 == 0 && i > 0 {
		n = i - 1 - (r>>8)%min(i, 100) // the same artifact, signed again
	}
	return "sha256:" + hex.EncodeToString(g.sum("digest", n))
}

// CertFingerprint and KeyFingerprint are those of entry i's certificate
// ("" when it was signed by a bare key).
func (g *Generator) CertFingerprint(i uint64) string {
	return g.Record(i).Identities[0].CertFingerprint
}

// Record returns entry i.
func (g *Generator) Record(i uint64) index.Record {
	r := index.Record{
		Log:      g.log(),
		Index:    i,
		Kind:     "hashedrekord:0.0.1",
		Digests:  []string{g.Digest(i)},
		LeafHash: g.sum("leaf", i),
	}
	if !g.Start.IsZero() {
		step := g.Step
		if step == 0 {
			step = time.Second
		}
		r.Time = g.Start.Add(time.Duration(i) * step).UTC()
	}
	u := g.rnd("kind", i)
	s := int(g.rnd("signer", i) % uint64(g.subjects()))
	ref := refs[(u>>8)%uint64(len(refs))]
	trigger := triggers[(u>>16)%uint64(len(triggers))]
	cert := hex.EncodeToString(g.sum("cert", i))
	key := hex.EncodeToString(g.sum("ephemeral", i))
	if g.Profile == FulcioEmail {
		iss := EmailIssuer(s)
		r.Identities = []index.Identity{{
			Subjects: []string{Email(s)},
			Issuer:   iss,
			Extensions: map[string]string{
				OIDIssuer:         iss,
				OIDSourceRepoURI:  Repo(s),
				OIDSourceRepoRef:  ref,
				OIDBuildConfigURI: WorkflowSubject(s),
				OIDBuildTrigger:   trigger,
			},
			CertFingerprint: cert,
			KeyFingerprint:  key,
		}}
		return r
	}
	if g.Profile == GitHubActions {
		subj := WorkflowSubject(s)
		commit := g.Commit(s, i)
		r.Identities = []index.Identity{{
			Subjects: []string{subj},
			Issuer:   GitHubActionsIssuer,
			Extensions: map[string]string{
				OIDIssuer:           GitHubActionsIssuer,
				OIDBuildSignerURI:   subj,
				OIDBuildSignerHash:  commit,
				OIDRunnerEnv:        "github-hosted",
				OIDSourceRepoURI:    Repo(s),
				OIDSourceRepoDigest: commit,
				OIDSourceRepoRef:    ref,
				OIDSourceRepoID:     fmt.Sprint(100000 + s),
				OIDSourceOwnerURI:   fmt.Sprintf("https://github.com/org%d", s%40),
				OIDSourceOwnerID:    fmt.Sprint(2000 + s%40),
				OIDBuildConfigURI:   subj,
				OIDBuildConfigHash:  commit,
				OIDBuildTrigger:     trigger,
				OIDRunInvocationURI: g.RunURI(s, i),
				OIDVisibility:       "private",
			},
			CertFingerprint: cert,
			KeyFingerprint:  key,
		}}
		return r
	}
	switch p := u % 100; {
	case p < 15:
		r.Kind = "dsse:0.0.1"
	case p < 20:
		r.Kind = "intoto:0.0.2"
	}
	switch p := (u >> 24) % 100; {
	case p < 50:
		subj := WorkflowSubject(s)
		r.Identities = []index.Identity{{
			Subjects: []string{subj},
			Issuer:   GitHubActionsIssuer,
			Extensions: map[string]string{
				OIDIssuer:           GitHubActionsIssuer,
				OIDBuildSignerURI:   subj,
				OIDRunnerEnv:        "github-hosted",
				OIDSourceRepoURI:    Repo(s),
				OIDSourceRepoRef:    ref,
				OIDBuildTrigger:     trigger,
				OIDSourceRepoDigest: g.Commit(s, i),
				OIDRunInvocationURI: g.RunURI(s, i),
			},
			CertFingerprint: cert,
			KeyFingerprint:  key,
		}}
	case p < 85:
		iss := EmailIssuer(s)
		r.Identities = []index.Identity{{
			Subjects:        []string{Email(s)},
			Issuer:          iss,
			Extensions:      map[string]string{OIDIssuer: iss, OIDIssuerV1: iss},
			CertFingerprint: cert,
			KeyFingerprint:  key,
		}}
	default:
		k := int(g.rnd("keyof", i) % uint64(g.keys()))
		r.Identities = []index.Identity{{KeyFingerprint: g.Key(k)}}
	}
	if r.Kind == "dsse:0.0.1" && (u>>40)%5 == 0 {
		// A second signature, by an e-mail signer with the issuer of
		// signer s.
		s2 := (s + 3) % g.subjects()
		iss := EmailIssuer(s2)
		r.Identities = append(r.Identities, index.Identity{
			Subjects:        []string{Email(s2)},
			Issuer:          iss,
			Extensions:      map[string]string{OIDIssuer: iss, OIDIssuerV1: iss},
			CertFingerprint: hex.EncodeToString(g.sum("cert2", i)),
			KeyFingerprint:  hex.EncodeToString(g.sum("ephemeral2", i)),
		})
	}
	return r
}

// Records returns entries [from, from+n).
func (g *Generator) Records(from uint64, n int) []index.Record {
	rs := make([]index.Record, n)
	for j := range rs {
		rs[j] = g.Record(from + uint64(j))
	}
	return rs
}
