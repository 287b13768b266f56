// Package reconcile holds a certificate transparency log against a Rekor
// log: the bookkeeping of one pair, without I/O.
//
// Fulcio logs a precertificate in its CT log before it issues a
// certificate, and embeds the log's SCT (its promise to include the
// precertificate within the maximum merge delay) in the certificate that a
// Rekor entry then uses. The two logs see the same certificate, matched by
// its [Key] (the TBSCertificate without the CT poison and SCT extensions).
// Two findings come from holding them against each other:
//
//   - sct_unhonored: a Rekor entry uses a certificate carrying an SCT from
//     the paired CT log, and that log did not include the certificate
//     within its maximum merge delay (by the timestamp of a tree head the
//     monitor verified and scanned completely).
//   - certificate_unused: a certificate of a watched identity appears in
//     the CT log and no Rekor entry uses it within a window (by the time of
//     a Rekor check that scanned the log completely): what a stolen OIDC
//     token looks like.
//
// A [Pair] keeps what each log showed recently (the keys "seen", bounded
// by count and age) and what is pending (bounded by count), and is saved
// in the state directory beside the logs' state: observations are handed
// to it only after the entries they come from were proven part of the
// signed tree, and it is saved before the log's state moves past them, so
// a crash re-observes (idempotently) rather than forgets.
//
// Only what the monitor could have seen is judged: a certificate older
// than the point where the other log's scan started, or than what the seen
// lists remember, is not pending (it is counted as skipped), so starting
// the monitor on a log with history raises nothing false.
package reconcile

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Key identifies a certificate across logs (ctleaf.Key).
type Key [32]byte

// MarshalText writes the key in hex.
func (k Key) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(k[:])), nil }

// UnmarshalText reads a key in hex.
func (k *Key) UnmarshalText(b []byte) error {
	if len(b) != 2*len(k) {
		return fmt.Errorf("key %q: want %d hex digits", b, 2*len(k))
	}
	_, err := hex.Decode(k[:], b)
	return err
}

// Config tunes a pair.
type Config struct {
	// MaxMergeDelay: how long after an SCT's timestamp the CT log must
	// include the certificate.
	MaxMergeDelay time.Duration
	// UnusedWindow: how long after its CT timestamp a watched certificate
	// must be used in Rekor.
	UnusedWindow time.Duration
	// MaxPending bounds each list (pending and seen).
	MaxPending int
	// ClockSkew is the margin for clocks that differ: the monitor's, and
	// the CT log's that timestamps certificates. A certificate within it
	// of the start of the other log's scan, or of what a full seen list
	// forgot, is not judged.
	ClockSkew time.Duration
	// CTLookup says the CT log can be asked for a certificate by leaf hash
	// (RFC 6962 get-proof-by-hash): a pending SCT then does not depend on
	// the CT scan having seen the certificate, whatever its age.
	CTLookup bool
}

// after reports whether t is later than ref by more than the clock skew
// (true for a zero ref: no bound).
func (c Config) after(t, ref time.Time) bool { return ref.IsZero() || t.After(ref.Add(c.ClockSkew)) }

// retention is how long seen keys are kept: long enough for the other log
// to show the same certificate (an SCT may be honoured up to the maximum
// merge delay late; a certificate used up to the window late), with an
// hour's slack for scans that lag.
func (c Config) retention() time.Duration { return max(c.MaxMergeDelay, c.UnusedWindow) + time.Hour }

// CTCert is a certificate the CT log holds, as its scan observed it.
type CTCert struct {
	Key   Key       `json:"key"`
	Index uint64    `json:"index"`
	Time  time.Time `json:"time"` // the entry's timestamp
	// LeafHash is the entry's Merkle leaf hash.
	LeafHash []byte `json:"leaf_hash"`
	// Watched are the watch rules it matched; only watched certificates
	// can be unused.
	Watched []string `json:"watched,omitempty"`
	// Identity is the identity for evidence.
	Identity map[string]string `json:"identity,omitempty"`
}

// RekorCert is a certificate a Rekor entry used.
type RekorCert struct {
	Key   Key    `json:"key"`
	Index uint64 `json:"index"`
	// Cert is the certificate (DER) and SCT the TLS-encoded SCT from the
	// paired CT log it carries, if any, with its timestamp.
	Cert    []byte    `json:"cert,omitempty"`
	SCT     []byte    `json:"sct,omitempty"`
	SCTTime time.Time `json:"sct_time,omitzero"`
	// Identity is the identity for evidence.
	Identity map[string]string `json:"identity,omitempty"`
}

// Due is a pending certificate whose time is up.
type Due struct {
	// SCT is set for a certificate awaiting its CT entry, Unused for one
	// awaiting its use in Rekor.
	SCT    *RekorCert
	Unused *CTCert
}

// Counts are what a pair did, for metrics: resolved and skipped by list,
// dropped when a list was full.
type Counts struct {
	// ResolvedSCT counts certificates with an SCT from the CT log that the
	// CT log showed; ResolvedUnused watched certificates a Rekor entry
	// used: whichever log showed them first.
	ResolvedSCT, ResolvedUnused uint64
	// SkippedSCT counts certificates with an SCT that were not held
	// pending because the CT log's scan could not have seen them (older
	// than its start or than what the seen list remembers) and the log
	// cannot be asked; SkippedUnused likewise for Rekor.
	SkippedSCT, SkippedUnused uint64
	// Dropped counts certificates a full pending list turned away.
	Dropped uint64
}

// seen is a bounded list of keys observed at a time, oldest first.
type seen struct {
	at    map[Key]time.Time
	order []Key
}

func (s *seen) add(k Key, t time.Time) {
	if s.at == nil {
		s.at = map[Key]time.Time{}
	}
	if _, ok := s.at[k]; !ok {
		s.order = append(s.order, k)
	}
	s.at[k] = t
}

func (s *seen) has(k Key) bool { _, ok := s.at[k]; return ok }

// prune drops keys observed before cutoff and the oldest beyond limit; it
// returns the latest observation time it dropped for the limit (zero if
// none): a certificate older than that may have been seen and forgotten.
func (s *seen) prune(cutoff time.Time, limit int) (forgot time.Time) {
	i := 0
	for i < len(s.order) && (s.at[s.order[i]].Before(cutoff) || len(s.order)-i > limit) {
		if t := s.at[s.order[i]]; !t.Before(cutoff) && t.After(forgot) {
			forgot = t
		}
		delete(s.at, s.order[i])
		i++
	}
	if i > 0 {
		s.order = slices.Delete(s.order, 0, i)
	}
	return forgot
}

// Pair is the bookkeeping of one Rekor log and one CT log. It is not safe
// for concurrent use.
type Pair struct {
	cfg Config

	ctSeen, rekorSeen seen
	scts              map[Key]*RekorCert // awaiting their CT entry
	unused            map[Key]*CTCert    // awaiting their use in Rekor

	// ctFrom and rekorFrom: the earliest time each log's scan covers
	// (zero: from the log's first entry); set at the first observation.
	ctFrom, rekorFrom       time.Time
	ctStarted, rekorStarted bool
	ctHorizon, rekorHorizon time.Time
	// ctForgot and rekorForgot: the latest observation time a full seen
	// list pushed out.
	ctForgot, rekorForgot time.Time
	counts                Counts
	dirty                 bool
}

// New returns an empty pair.
func New(cfg Config) *Pair {
	return &Pair{cfg: cfg, scts: map[Key]*RekorCert{}, unused: map[Key]*CTCert{}}
}

// Counts returns what the pair did since it was created or loaded.
func (p *Pair) Counts() Counts { return p.counts }

// Pending returns the number of certificates awaiting their CT entry and
// awaiting their use in Rekor.
func (p *Pair) Pending() (sct, unused int) { return len(p.scts), len(p.unused) }

// Dirty reports whether the pair changed since it was last encoded.
func (p *Pair) Dirty() bool { return p.dirty }

// StartCT records where the CT log's scan starts, at its first
// observation: index 0 covers everything; otherwise certificates older
// than at are beyond what it saw.
func (p *Pair) StartCT(index uint64, at time.Time) {
	if p.ctStarted {
		return
	}
	p.ctStarted, p.dirty = true, true
	if index > 0 {
		p.ctFrom = at
	}
}

// StartRekor is StartCT for the Rekor log.
func (p *Pair) StartRekor(index uint64, at time.Time) {
	if p.rekorStarted {
		return
	}
	p.rekorStarted, p.dirty = true, true
	if index > 0 {
		p.rekorFrom = at
	}
}

// ObserveCT records a certificate of the CT log, seen at now.
func (p *Pair) ObserveCT(c CTCert, now time.Time) {
	p.dirty = true
	p.ctSeen.add(c.Key, now)
	if _, ok := p.scts[c.Key]; ok {
		delete(p.scts, c.Key)
		p.counts.ResolvedSCT++
	}
	if len(c.Watched) == 0 {
		return
	}
	if p.rekorSeen.has(c.Key) {
		p.counts.ResolvedUnused++ // used before the CT scan got to it
		return
	}
	if _, ok := p.unused[c.Key]; ok {
		return
	}
	// The Rekor scan must have been able to see a use: it started before
	// the certificate, and still remembers what it saw since.
	if !p.rekorStarted || !p.cfg.after(c.Time, p.rekorFrom) || !p.cfg.after(c.Time, p.rekorForgot) || now.Sub(c.Time) > p.cfg.retention()-p.cfg.UnusedWindow {
		p.counts.SkippedUnused++
		return
	}
	if len(p.unused) >= p.cfg.MaxPending {
		p.counts.Dropped++
		return
	}
	cc := c
	p.unused[c.Key] = &cc
}

// ObserveRekor records a certificate a Rekor entry used, seen at now. A
// certificate with an SCT from the CT log (r.SCT set) is pending until the
// CT log shows it.
func (p *Pair) ObserveRekor(r RekorCert, now time.Time) {
	p.dirty = true
	p.rekorSeen.add(r.Key, now)
	if _, ok := p.unused[r.Key]; ok {
		delete(p.unused, r.Key)
		p.counts.ResolvedUnused++
	}
	if len(r.SCT) == 0 {
		return
	}
	if p.ctSeen.has(r.Key) {
		p.counts.ResolvedSCT++ // the CT scan showed it first
		return
	}
	if _, ok := p.scts[r.Key]; ok {
		return
	}
	// Only a live SCT is held: one older than the merge delay and an hour
	// when its certificate is used is history (a catch-up), which the
	// pending list is not sized for. Without a lookup, the CT scan must
	// also have been able to see the certificate.
	if now.Sub(r.SCTTime) > p.cfg.retention() ||
		(!p.cfg.CTLookup && (!p.ctStarted || !p.cfg.after(r.SCTTime, p.ctFrom) || !p.cfg.after(r.SCTTime, p.ctForgot))) {
		p.counts.SkippedSCT++
		return
	}
	if len(p.scts) >= p.cfg.MaxPending {
		p.counts.Dropped++
		return
	}
	rc := r
	p.scts[r.Key] = &rc
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// CTScanned records that the CT log's scan reached the size of a verified
// tree head with timestamp sth, which the log served as its newest at
// served: every certificate it had to include by the later of the two is
// seen. A log must include what it promised within its merge delay, and
// then serve a head that includes it: a log that keeps serving an old
// head (an idle Trillian log re-signs only when it grows) is held to the
// time it served it, less twice the clock skew.
func (p *Pair) CTScanned(sth, served time.Time) {
	h := latest(sth, served.Add(-2*p.cfg.ClockSkew))
	if h.After(p.ctHorizon) {
		p.ctHorizon, p.dirty = h, true
	}
}

// RekorScanned records that a Rekor check that started at start scanned
// the log up to the tree head it fetched: every entry added before start
// is seen.
func (p *Pair) RekorScanned(start time.Time) {
	if start.After(p.rekorHorizon) {
		p.rekorHorizon, p.dirty = start, true
	}
}

// Prune forgets seen keys older than the retention, or beyond the limit.
func (p *Pair) Prune(now time.Time) {
	cut := now.Add(-p.cfg.retention())
	if t := p.ctSeen.prune(cut, p.cfg.MaxPending); t.After(p.ctForgot) {
		p.ctForgot = t
	}
	if t := p.rekorSeen.prune(cut, p.cfg.MaxPending); t.After(p.rekorForgot) {
		p.rekorForgot = t
	}
	p.dirty = true
}

// SeenInRekor reports whether a Rekor entry of the pair used the
// certificate key (as far as the seen list remembers), and whether the
// Rekor scan covers time t: a scan that started before t and reached past
// it. A CT log paired with several Rekor logs (a v1 and a v2 during a
// migration) asks each before it calls a certificate unused.
func (p *Pair) SeenInRekor(k Key, t time.Time) (seen, covered bool) {
	return p.rekorSeen.has(k), p.rekorStarted && p.cfg.after(t, p.rekorFrom) && !p.rekorHorizon.Before(t)
}

// Due returns the pending certificates whose time is up, oldest first: an
// SCT whose maximum merge delay passed by the CT log's scanned horizon,
// and a watched certificate whose window passed by the Rekor log's. They
// stay pending until Resolve or Raised.
func (p *Pair) Due() []Due {
	var out []Due
	for _, r := range p.scts {
		if !p.ctHorizon.IsZero() && !p.ctHorizon.Before(r.SCTTime.Add(p.cfg.MaxMergeDelay)) {
			out = append(out, Due{SCT: r})
		}
	}
	for _, c := range p.unused {
		if !p.rekorHorizon.IsZero() && !p.rekorHorizon.Before(c.Time.Add(p.cfg.UnusedWindow)) {
			out = append(out, Due{Unused: c})
		}
	}
	slices.SortFunc(out, func(a, b Due) int { return a.time().Compare(b.time()) })
	return out
}

// Key is the due certificate's key.
func (d Due) Key() Key {
	if d.SCT != nil {
		return d.SCT.Key
	}
	return d.Unused.Key
}

func (d Due) time() time.Time {
	if d.SCT != nil {
		return d.SCT.SCTTime
	}
	return d.Unused.Time
}

// Resolve takes a due certificate off its list as seen after all (the CT
// log, asked at now, holds it).
func (p *Pair) Resolve(d Due, now time.Time) {
	p.dirty = true
	if d.SCT != nil {
		if _, ok := p.scts[d.SCT.Key]; ok {
			delete(p.scts, d.SCT.Key)
			p.counts.ResolvedSCT++
		}
		p.ctSeen.add(d.SCT.Key, now)
		return
	}
	if _, ok := p.unused[d.Unused.Key]; ok {
		delete(p.unused, d.Unused.Key)
		p.counts.ResolvedUnused++
	}
}

// Raised takes a due certificate off its list once its finding is queued
// (or when it is no finding: an SCT that does not verify).
func (p *Pair) Raised(d Due) {
	p.dirty = true
	if d.SCT != nil {
		delete(p.scts, d.SCT.Key)
		return
	}
	delete(p.unused, d.Unused.Key)
}

// stateVersion is the version of the encoded pair.
const stateVersion = 1

// encoded is the pair as saved. Seen lists are packed: per key, 32 bytes
// of key and 8 of Unix seconds, base64 in JSON.
type encoded struct {
	Version      int          `json:"version"`
	CTStarted    bool         `json:"ct_started,omitempty"`
	RekorStarted bool         `json:"rekor_started,omitempty"`
	CTFrom       time.Time    `json:"ct_from,omitzero"`
	RekorFrom    time.Time    `json:"rekor_from,omitzero"`
	CTHorizon    time.Time    `json:"ct_horizon,omitzero"`
	RekorHorizon time.Time    `json:"rekor_horizon,omitzero"`
	CTForgot     time.Time    `json:"ct_forgot,omitzero"`
	RekorForgot  time.Time    `json:"rekor_forgot,omitzero"`
	CTSeen       string       `json:"ct_seen,omitempty"`
	RekorSeen    string       `json:"rekor_seen,omitempty"`
	SCTs         []*RekorCert `json:"scts,omitempty"`
	Unused       []*CTCert    `json:"unused,omitempty"`
}

const packed = 32 + 8

func pack(s *seen) string {
	b := make([]byte, 0, len(s.order)*packed)
	for _, k := range s.order {
		b = append(b, k[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(s.at[k].Unix()))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func unpack(str string) (seen, error) {
	var s seen
	b, err := base64.StdEncoding.DecodeString(str)
	if err != nil {
		return s, err
	}
	if len(b)%packed != 0 {
		return s, fmt.Errorf("%d bytes is not a whole number of %d-byte items", len(b), packed)
	}
	for ; len(b) > 0; b = b[packed:] {
		s.add(Key(b[:32]), time.Unix(int64(binary.BigEndian.Uint64(b[32:packed])), 0))
	}
	return s, nil
}

// Saved clears Dirty, once the pair's encoding is written.
func (p *Pair) Saved() { p.dirty = false }

// MarshalJSON encodes the pair for its state file.
func (p *Pair) MarshalJSON() ([]byte, error) {
	e := encoded{Version: stateVersion, CTStarted: p.ctStarted, RekorStarted: p.rekorStarted,
		CTFrom: p.ctFrom, RekorFrom: p.rekorFrom, CTHorizon: p.ctHorizon, RekorHorizon: p.rekorHorizon,
		CTForgot: p.ctForgot, RekorForgot: p.rekorForgot,
		CTSeen: pack(&p.ctSeen), RekorSeen: pack(&p.rekorSeen)}
	for _, r := range p.scts {
		e.SCTs = append(e.SCTs, r)
	}
	for _, c := range p.unused {
		e.Unused = append(e.Unused, c)
	}
	slices.SortFunc(e.SCTs, func(a, b *RekorCert) int { return a.SCTTime.Compare(b.SCTTime) })
	slices.SortFunc(e.Unused, func(a, b *CTCert) int { return a.Time.Compare(b.Time) })
	return json.Marshal(e)
}

// Load decodes a pair saved by MarshalJSON, with cfg.
func Load(b []byte, cfg Config) (*Pair, error) {
	var e encoded
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decoding reconciliation state: %w", err)
	}
	if e.Version != stateVersion {
		return nil, fmt.Errorf("reconciliation state has version %d, want %d", e.Version, stateVersion)
	}
	p := New(cfg)
	p.ctStarted, p.rekorStarted, p.ctFrom, p.rekorFrom = e.CTStarted, e.RekorStarted, e.CTFrom, e.RekorFrom
	p.ctHorizon, p.rekorHorizon = e.CTHorizon, e.RekorHorizon
	p.ctForgot, p.rekorForgot = e.CTForgot, e.RekorForgot
	var err1, err2 error
	p.ctSeen, err1 = unpack(e.CTSeen)
	p.rekorSeen, err2 = unpack(e.RekorSeen)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("decoding reconciliation state's seen lists: %w", err)
	}
	for _, r := range e.SCTs {
		if r != nil {
			p.scts[r.Key] = r
		}
	}
	for _, c := range e.Unused {
		if c != nil {
			p.unused[c.Key] = c
		}
	}
	return p, nil
}
