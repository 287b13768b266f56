package monitor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/reconcile"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Reconciliation: a CT log held against a Rekor log
//
// A Pair joins the scans of a Rekor log and of the CT log its Fulcio
// writes to (package reconcile keeps the books). The scanners hand it what
// they observed once a chunk is proven and its events are queued, and it
// saves itself before the log's state moves past the chunk. After each
// complete scan it judges what is due:
//
//	Rekor entry's certificate, SCT from the CT log --> pending until the CT scan shows it
//	      due (CT head timestamp >= SCT + max merge delay) --> ask the log by leaf hash (ct kind),
//	      verify the SCT against its issuer --> sct_unhonored
//	CT entry of a watched identity --> pending until a Rekor entry uses it
//	      due (a full Rekor scan started after its window) --> certificate_unused

// sctExtension is the DER of the embedded SCT list extension's OID
// (1.3.6.1.4.1.11129.2.4.2): a certificate without it carries no SCT, so
// the Rekor side skips parsing it.
var sctExtension = []byte{0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02}

// inclusionByHash is implemented by CT kinds that can find a leaf by its
// hash (RFC 6962 get-proof-by-hash). A leaf the log does not hold is an
// error matching os.ErrNotExist.
type inclusionByHash interface {
	InclusionByHash(ctx context.Context, t tlog.Tree, leafHash []byte) (uint64, [][]byte, error)
}

// Pair is a Rekor log and the CT log holding the certificates its entries
// use.
type Pair struct {
	Rekor, CT *Log
	Cfg       reconcile.Config
	// UnusedSeverity is the severity of certificate_unused.
	UnusedSeverity alert.Severity
	// CAs are the certificate authorities whose certificates the CT log
	// holds: an SCT is verified against its certificate's issuer.
	CAs []*x509.Certificate
	// File keeps the pair's books (state.ReconcileFile).
	File string

	name   string
	lookup inclusionByHash
	// siblings are the pairs of the same CT log, this one included: a
	// watched certificate is unused only if none of their Rekor logs used
	// it.
	siblings []*Pair

	mu      sync.Mutex
	books   *reconcile.Pair
	judging map[reconcile.Key]bool // due certificates a check is judging: the other log's check skips them
	ctHead  *checkpoint.Checkpoint // latest verified and scanned CT head
	ctTree  tlog.Tree
	rekorCP []byte // latest verified Rekor checkpoint, for evidence
	synced  reconcile.Counts
	m       pairMetrics
}

// Name is "<rekor>+<ct>".
func (p *Pair) Name() string { return p.Rekor.Name + "+" + p.CT.Name }

// open loads the pair's books.
func (p *Pair) open(m *metrics) error {
	p.name = p.Name()
	p.judging = map[reconcile.Key]bool{}
	p.lookup, _ = p.CT.Source.(inclusionByHash)
	p.Cfg.CTLookup = p.lookup != nil
	p.m = m.forPair(p.name)
	b, err := os.ReadFile(p.File)
	switch {
	case errors.Is(err, os.ErrNotExist):
		p.books = reconcile.New(p.Cfg)
		return nil
	case err != nil:
		return fmt.Errorf("reading reconciliation state of %s: %w", p.name, err)
	}
	if p.books, err = reconcile.Load(b, p.Cfg); err != nil {
		return fmt.Errorf("%s: %w", p.File, err)
	}
	p.syncMetrics()
	return nil
}

// save writes the books when they changed. Called with mu held.
func (p *Pair) save() error {
	if !p.books.Dirty() {
		return nil
	}
	b, err := json.Marshal(p.books)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.File), 0o700); err != nil {
		return err
	}
	if err := state.WriteFileAtomic(p.File, b, 0o600); err != nil {
		return fmt.Errorf("saving reconciliation state of %s: %w", p.name, err)
	}
	p.books.Saved()
	return nil
}

// syncMetrics brings the counters up to the books' counts. Called with mu
// held.
func (p *Pair) syncMetrics() {
	c := p.books.Counts()
	add := func(cv prometheus.Counter, now, was uint64) {
		if now > was {
			cv.Add(float64(now - was))
		}
	}
	add(p.m.resolvedSCT, c.ResolvedSCT, p.synced.ResolvedSCT)
	add(p.m.resolvedUnused, c.ResolvedUnused, p.synced.ResolvedUnused)
	add(p.m.skippedSCT, c.SkippedSCT, p.synced.SkippedSCT)
	add(p.m.skippedUnused, c.SkippedUnused, p.synced.SkippedUnused)
	add(p.m.dropped, c.Dropped, p.synced.Dropped)
	p.synced = c
	sct, unused := p.books.Pending()
	p.m.pendingSCT.Set(float64(sct))
	p.m.pendingUnused.Set(float64(unused))
}

// observation is what one entry shows a pair: a CT entry's certificate, or
// the certificates of a Rekor entry that carry SCTs.
type observation struct {
	ct *reconcile.CTCert
	// issuer identifies a watched CT certificate's issuer (see
	// leafIssuer), to tell the pair's CAs' certificates from others the
	// CT log accepts.
	issuer issuerID
	rekor  []rekorCert
}

// issuerID is what a CT leaf says of its issuer: a precertificate names
// the SHA-256 of its issuer's public key; an X.509 entry is the whole
// certificate, whose issuer name the CA's subject must be.
type issuerID struct {
	keyHash [32]byte
	cert    []byte
}

// leafIssuer reads the issuer of a CT leaf.
func leafIssuer(leaf []byte) issuerID {
	l, err := ctleaf.DecodeLeaf(leaf)
	if err != nil || l.TimestampedEntry == nil {
		return issuerID{}
	}
	te := l.TimestampedEntry
	if te.PrecertEntry != nil {
		return issuerID{keyHash: te.PrecertEntry.IssuerKeyHash}
	}
	if te.X509Entry != nil {
		return issuerID{cert: te.X509Entry.Data}
	}
	return issuerID{}
}

// issuedBy reports whether the CT certificate with issuer id is of one of
// cas: a cheap filter (key hashes, names), not a signature check.
func (id issuerID) issuedBy(cas []*x509.Certificate) bool {
	for _, ca := range cas {
		if id.cert != nil && bytes.Contains(id.cert, ca.RawSubject) {
			return true
		}
		if id.cert == nil && id.keyHash == sha256.Sum256(ca.RawSubjectPublicKeyInfo) {
			return true
		}
	}
	return false
}

// mayBeIssuedBy is the same cheap filter for a certificate (DER) in a
// Rekor entry: its issuer name and authority key ID are a CA's. It keeps
// certificates anyone can make up out of the pending list; the signature
// is checked before a finding.
func mayBeIssuedBy(der []byte, cas []*x509.Certificate) bool {
	for _, ca := range cas {
		if bytes.Contains(der, ca.RawSubject) && (len(ca.SubjectKeyId) == 0 || bytes.Contains(der, ca.SubjectKeyId)) {
			return true
		}
	}
	return false
}

type rekorCert struct {
	key      reconcile.Key
	index    uint64
	der      []byte
	scts     []*ct.SignedCertificateTimestamp
	identity map[string]string
}

// observer is a log's part in its pairs.
type observer struct {
	ct    bool // the log is the CT side
	pairs []*Pair
}

// extract is what an entry shows the log's pairs; nil for nothing. It is
// called by the match workers, concurrently.
func (o *observer) extract(e tlog.Entry, leaf []byte, ids []identity.Identity, hits []identity.Hit) *observation {
	if o.ct {
		// From the leaf alone, so that an entry whose identities do not
		// parse (reported malformed) is still seen.
		key, ts, err := ctleaf.LeafKey(e.Data)
		if err != nil {
			return nil
		}
		c := &reconcile.CTCert{Key: reconcile.Key(key), Index: e.LogIndex, Time: ts, LeafHash: bytes.Clone(leaf)}
		for _, h := range hits {
			c.Watched = append(c.Watched, h.Rule)
			if c.Identity == nil {
				c.Identity = identityFields(h.Identity)
			}
		}
		ob := &observation{ct: c}
		if len(c.Watched) > 0 {
			ob.issuer = leafIssuer(e.Data)
		}
		return ob
	}
	var out []rekorCert
	for i := range ids {
		der := ids[i].CertDER()
		if der == nil {
			continue
		}
		key, err := ctleaf.CertKey(der)
		if err != nil {
			continue
		}
		rc := rekorCert{key: reconcile.Key(key), index: e.LogIndex}
		// Only a certificate with embedded SCTs can be pending (see
		// observe): keep its bytes and SCTs.
		if bytes.Contains(der, sctExtension) {
			rc.scts, _ = ctleaf.EmbeddedSCTs(der)
			rc.der, rc.identity = bytes.Clone(der), identityFields(&ids[i])
		}
		out = append(out, rc)
	}
	if out == nil {
		return nil
	}
	return &observation{rekor: out}
}

// observe hands the observations of a proven chunk, which started at index
// from, to the log's pairs and saves them.
func (o *observer) observe(from uint64, obs []*observation, now time.Time) error {
	var errs []error
	for _, p := range o.pairs {
		errs = append(errs, p.observe(o.ct, from, obs, now))
	}
	return errors.Join(errs...)
}

func (p *Pair) observe(isCT bool, from uint64, obs []*observation, now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.books
	if isCT {
		b.StartCT(from, now)
	} else {
		b.StartRekor(from, now)
	}
	var ctIDs [][32]byte
	if !isCT {
		ctIDs = p.ctLogIDs()
	}
	for _, ob := range obs {
		switch {
		case ob == nil:
		case ob.ct != nil:
			c := *ob.ct
			if len(c.Watched) > 0 && !ob.issuer.issuedBy(p.CAs) {
				// Another CA's certificate (CT logs accept several
				// roots): not one Sigstore would accept for signing.
				c.Watched = nil
			}
			b.ObserveCT(c, now)
		default:
			for _, rc := range ob.rekor {
				r := reconcile.RekorCert{Key: rc.key, Index: rc.index, Identity: rc.identity}
				if sct := sctFrom(rc.scts, ctIDs); sct != nil && mayBeIssuedBy(rc.der, p.CAs) {
					raw, err := cttls.Marshal(*sct)
					if err == nil {
						r.Cert, r.SCT, r.SCTTime = rc.der, raw, time.UnixMilli(int64(sct.Timestamp))
					}
				}
				b.ObserveRekor(r, now)
			}
		}
	}
	b.Prune(now)
	err := p.save()
	p.syncMetrics()
	return err
}

// ctLogIDs returns the log IDs of the CT log's keys.
func (p *Pair) ctLogIDs() [][32]byte {
	var ids [][32]byte
	for _, k := range p.CT.Keys().Public {
		if id, err := ctleaf.LogID(k); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// sctFrom returns the SCT of scts issued by one of the logs ids.
func sctFrom(scts []*ct.SignedCertificateTimestamp, ids [][32]byte) *ct.SignedCertificateTimestamp {
	for _, s := range scts {
		for _, id := range ids {
			if s.LogID.KeyID == id {
				return s
			}
		}
	}
	return nil
}

// scanned tells the log's pairs that a check which started at start
// scanned the log up to cp, its verified head of tree t, and judges what
// is due. Failures are logged: the log's own check verified.
func (o *observer) scanned(ctx context.Context, cp *checkpoint.Checkpoint, t tlog.Tree, start time.Time, events Notifier, logger *slog.Logger) {
	for _, p := range o.pairs {
		if err := p.scanned(ctx, o.ct, cp, t, start, events, logger); err != nil {
			logger.WarnContext(ctx, "reconciling CT and Rekor logs; will try again after the next check", "pair", p.name, "err", err)
		}
	}
}

func (p *Pair) scanned(ctx context.Context, isCT bool, cp *checkpoint.Checkpoint, t tlog.Tree, start time.Time, events Notifier, logger *slog.Logger) error {
	p.mu.Lock()
	if isCT {
		p.books.StartCT(cp.Size, start)
		p.ctHead, p.ctTree = cp, t
		p.books.CTScanned(cp.Timestamp, start)
	} else {
		p.books.StartRekor(cp.Size, start)
		p.rekorCP = cp.Raw
		p.books.RekorScanned(start)
	}
	var due []reconcile.Due
	for _, d := range p.books.Due() {
		if len(due) == maxJudge {
			break // the rest at the next check
		}
		if k := d.Key(); !p.judging[k] {
			p.judging[k] = true
			due = append(due, d)
		}
	}
	defer func() {
		p.mu.Lock()
		for _, d := range due {
			delete(p.judging, d.Key())
		}
		p.mu.Unlock()
	}()
	ctHead, ctTree, rekorCP := p.ctHead, p.ctTree, p.rekorCP
	err := p.save()
	p.syncMetrics()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range due {
		v, ev, err := p.judge(ctx, d, ctHead, ctTree, rekorCP, logger)
		if err != nil {
			// No verdict on this one: it stays pending; the others go on.
			errs = append(errs, err)
			continue
		}
		if ev != nil {
			if events != nil {
				if _, err := events.Enqueue(ctx, *ev); err != nil {
					errs = append(errs, fmt.Errorf("queueing %s: %w", ev.Kind, err))
					continue
				}
			}
			logger.WarnContext(ctx, ev.Summary, "pair", p.name, "kind", string(ev.Kind))
		}
		p.mu.Lock()
		switch v {
		case resolved:
			p.books.Resolve(d, time.Now())
		case raised:
			p.books.Raised(d)
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	if err := p.save(); err != nil {
		errs = append(errs, err)
	}
	p.syncMetrics()
	p.mu.Unlock()
	return errors.Join(errs...)
}

// maxJudge bounds the due certificates one check judges (each may ask the
// CT log): a backlog is judged over several checks, not inside one.
const maxJudge = 100

// judgement is what became of a due certificate.
type judgement int

const (
	pending  judgement = iota // no verdict yet: judged again later
	resolved                  // the other log shows it after all
	raised                    // a finding, or no finding to be had: off the list
)

// judge decides a due certificate: resolved (the other log shows it after
// all), a finding, or pending (no verdict yet). An error is no verdict.
func (p *Pair) judge(ctx context.Context, d reconcile.Due, ctHead *checkpoint.Checkpoint, ctTree tlog.Tree, rekorCP []byte, logger *slog.Logger) (judgement, *alert.Event, error) {
	now := time.Now()
	if c := d.Unused; c != nil {
		// A CT log paired with several Rekor logs: used in any is used.
		for _, sib := range p.siblings {
			sib.mu.Lock()
			seen, covered := sib.books.SeenInRekor(c.Key, c.Time.Add(p.Cfg.UnusedWindow))
			sib.mu.Unlock()
			switch {
			case seen:
				return resolved, nil, nil
			case !covered:
				return pending, nil, nil // that Rekor log's scan is behind
			}
		}
		e := unusedEvent(p, c, rekorCP, now)
		return raised, &e, nil
	}
	r := d.SCT
	if ctHead == nil {
		// Not yet checked the CT log in this process (a restart): its head
		// is needed to ask it and as evidence.
		return pending, nil, nil
	}
	var sct ct.SignedCertificateTimestamp
	if rest, err := cttls.Unmarshal(r.SCT, &sct); err != nil || len(rest) > 0 {
		logger.WarnContext(ctx, "dropping a pending SCT that does not decode", "pair", p.name, "rekor_index", r.Index, "err", err)
		return raised, nil, nil
	}
	issuer := p.issuerOf(r.Cert)
	if issuer == nil {
		// Named like the deployment's CA but not signed by it: its SCT
		// proves nothing about the CT log. Or the CA rotated, or only
		// its root is configured while an intermediate issues: say so.
		logger.WarnContext(ctx, "a certificate with an SCT from the CT log is not signed by the pair's CAs; not reconciled (check reconcile.pairs[].ca_files or the trust material's CAs)",
			"pair", p.name, "rekor_index", r.Index)
		p.m.skippedSCT.Inc()
		return raised, nil, nil
	}
	leafHash, err := ctleaf.PrecertLeafHash(r.Cert, issuer.Raw, &sct)
	if err != nil {
		logger.WarnContext(ctx, "cannot compute the CT leaf of a certificate; not reconciled", "pair", p.name, "rekor_index", r.Index, "err", err)
		p.m.skippedSCT.Inc()
		return raised, nil, nil
	}
	if p.lookup != nil {
		idx, path, err := p.lookup.InclusionByHash(ctx, ctTree, leafHash)
		switch {
		case err == nil:
			if verr := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, ctHead.Size, leafHash, path, ctHead.Hash); verr != nil {
				return pending, nil, fmt.Errorf("the CT log's inclusion proof for leaf %x does not verify against its verified head: %w", leafHash, verr)
			}
			return resolved, nil, nil
		case !errors.Is(err, os.ErrNotExist):
			return pending, nil, fmt.Errorf("asking the CT log %s for leaf %x: %w", p.CT.Name, leafHash, err)
		}
	}
	var verified bool
	for _, k := range p.CT.Keys().Public {
		if ctleaf.VerifySCT(k, r.Cert, issuer.Raw, &sct) == nil {
			verified = true
			break
		}
	}
	if !verified {
		logger.WarnContext(ctx, "a certificate carries an SCT with the CT log's ID that its key does not verify; not a promise of the log", "pair", p.name, "rekor_index", r.Index)
		p.m.skippedSCT.Inc()
		return raised, nil, nil
	}
	e := sctEvent(p, r, leafHash, ctHead, now)
	return raised, &e, nil
}

// issuerOf returns the CA that issued der, or nil.
func (p *Pair) issuerOf(der []byte) *x509.Certificate {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	for _, ca := range p.CAs {
		if bytes.Equal(c.RawIssuer, ca.RawSubject) && c.CheckSignatureFrom(ca) == nil {
			return ca
		}
	}
	return nil
}

// sctEvent: a certificate used in Rekor carries an SCT of the CT log, and
// the log did not include it within its maximum merge delay.
func sctEvent(p *Pair, r *reconcile.RekorCert, leafHash []byte, ctHead *checkpoint.Checkpoint, now time.Time) alert.Event {
	fields := map[string]string{}
	for k, v := range r.Identity {
		fields[k] = v
	}
	fields["certificate"] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Cert}))
	fields["sct"] = base64.StdEncoding.EncodeToString(r.SCT)
	fields["sct_timestamp"] = r.SCTTime.UTC().Format(time.RFC3339Nano)
	fields["rekor_log"] = p.Rekor.Name
	fields["rekor_index"] = strconv.FormatUint(r.Index, 10)
	fields["ct_leaf_hash"] = hex.EncodeToString(leafHash)
	ev := alert.Evidence{KeyID: p.CT.Keys().KeyID, Identity: fields,
		Detail: fmt.Sprintf("Rekor log %s entry %d uses a certificate with an SCT from CT log %s dated %s; the log's verified tree heads up to %s do not include it, though its maximum merge delay is %s",
			p.Rekor.Name, r.Index, p.CT.Name, r.SCTTime.UTC().Format(time.RFC3339), headTime(ctHead), p.Cfg.MaxMergeDelay)}
	if ctHead != nil {
		ev.NewCheckpoint = string(ctHead.Raw)
	}
	return alert.Event{Kind: alert.KindSCTUnhonored, Severity: alert.SeverityCritical, Log: p.CT.Name, Time: now,
		DedupeKey: alert.Key(alert.KindSCTUnhonored, p.CT.Name, hex.EncodeToString(r.Key[:16])),
		Summary:   fmt.Sprintf("CT log %s did not include a certificate it promised (SCT of %s) to log, used in %s entry %d", p.CT.Name, r.SCTTime.UTC().Format(time.RFC3339), p.Rekor.Name, r.Index),
		Evidence:  ev}
}

func headTime(cp *checkpoint.Checkpoint) string {
	if cp == nil || cp.Timestamp.IsZero() {
		return "now"
	}
	return cp.Timestamp.UTC().Format(time.RFC3339)
}

// unusedEvent: a watched identity's certificate is in the CT log and no
// Rekor entry used it within the window.
func unusedEvent(p *Pair, c *reconcile.CTCert, rekorCP []byte, now time.Time) alert.Event {
	rule := ""
	if len(c.Watched) > 0 {
		rule = c.Watched[0]
	}
	sev := p.UnusedSeverity
	if sev == "" {
		sev = alert.SeverityWarning
	}
	ev := alert.Evidence{KeyID: p.CT.Keys().KeyID, Identity: c.Identity, Rule: rule, NewCheckpoint: string(rekorCP),
		Entry: &alert.Entry{Index: int64(c.Index), LeafHash: hex.EncodeToString(c.LeafHash)},
		Detail: fmt.Sprintf("CT log %s entry %d (%s) holds a certificate of a watched identity; no entry of Rekor log %s used it within %s (checked up to the Rekor checkpoint in new_checkpoint)",
			p.CT.Name, c.Index, c.Time.UTC().Format(time.RFC3339), p.Rekor.Name, p.Cfg.UnusedWindow)}
	return alert.Event{Kind: alert.KindCertificateUnused, Severity: sev, Log: p.CT.Name, Time: now,
		DedupeKey: alert.Key(alert.KindCertificateUnused, p.CT.Name, hex.EncodeToString(c.Key[:16])),
		Summary:   fmt.Sprintf("a certificate for %s (rule %s) is in CT log %s but no entry of %s used it within %s", subjectOf(c.Identity), rule, p.CT.Name, p.Rekor.Name, p.Cfg.UnusedWindow),
		Evidence:  ev}
}

func subjectOf(f map[string]string) string {
	if s := f["subject"]; s != "" {
		return s
	}
	return "an identity"
}

// newPairs resolves the configured pairs, or without any, pairs each Rekor
// log with each CT log when both take their keys from the trust material
// (one deployment), with its CAs.
func newPairs(cfg *config.Config, logs []*Log, tm *trustMaterial, logger *slog.Logger) ([]*Pair, error) {
	if cfg.Reconcile.Disabled {
		return nil, nil
	}
	byName := map[string]*Log{}
	for _, l := range logs {
		byName[l.Name] = l
	}
	pcs := cfg.Reconcile.Pairs
	auto := len(pcs) == 0
	if auto && tm != nil {
		for _, r := range cfg.Logs {
			if r.Kind.CertificateTransparency() || r.PublicKeyFile != "" {
				continue
			}
			for _, c := range cfg.Logs {
				if c.Kind.CertificateTransparency() && c.PublicKeyFile == "" {
					pcs = append(pcs, config.PairDefaults(config.Pair{Rekor: r.Name, CT: c.Name}))
				}
			}
		}
	}
	var pairs []*Pair
	for i, pc := range pcs {
		field := fmt.Sprintf("reconcile.pairs[%d]", i)
		r, c := byName[pc.Rekor], byName[pc.CT]
		if r == nil || c == nil {
			return nil, &ConfigError{Err: fmt.Errorf("%s: logs %q and %q are not both configured", field, pc.Rekor, pc.CT)}
		}
		if r.Scan == nil || c.Scan == nil {
			if auto {
				continue
			}
			return nil, &ConfigError{Err: fmt.Errorf("%s: reconciling needs entry scanning, which scan.disabled turns off", field)}
		}
		var cas []*x509.Certificate
		for j, f := range pc.CAFiles {
			certs, err := readCerts(f)
			if err != nil {
				return nil, &ConfigError{Err: fmt.Errorf("%s.ca_files[%d]: %w", field, j, err)}
			}
			cas = append(cas, certs...)
		}
		if len(pc.CAFiles) == 0 && tm != nil {
			cas = tm.cas
		}
		if len(cas) == 0 {
			if auto {
				logger.Warn("not reconciling a CT log with a Rekor log of the same trust material: it lists no Fulcio CA to verify SCTs with (add a pair under reconcile.pairs with ca_files)",
					"rekor", r.Name, "ct", c.Name)
				continue
			}
			return nil, &ConfigError{Err: fmt.Errorf("%s.ca_files: no certificate authority to verify SCTs with (set ca_files, or give trust material with Fulcio CAs)", field)}
		}
		p := &Pair{Rekor: r, CT: c, CAs: cas, UnusedSeverity: pc.UnusedSeverity,
			File: state.ReconcileFile(cfg.StateDir, r.Name, c.Name),
			Cfg: reconcile.Config{MaxMergeDelay: time.Duration(pc.MaxMergeDelay), UnusedWindow: time.Duration(pc.UnusedWindow),
				MaxPending: cfg.Reconcile.MaxPending, ClockSkew: time.Duration(cfg.Reconcile.ClockSkew)}}
		if auto {
			logger.Info("reconciling a CT log with a Rekor log of the same trust material", "rekor", r.Name, "ct", c.Name)
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

// readCerts reads the PEM certificates of a file.
func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing a certificate in %s: %w", path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return certs, nil
}
