package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind says what happened. The string values appear in JSON bodies, in the
// VIGIL_EVENT_KIND variable of exec hooks and (via [Kind.AlertName]) in
// Alertmanager's alertname label, so they never change once released.
type Kind string

const (
	// KindIntegrityViolation: the log misbehaved (bad signature, wrong
	// origin, rollback, fork, failed consistency or inclusion proof, malformed
	// checkpoint). Event.Reason names which, using the reason label values of
	// vigil_log_integrity_failures_total. A condition: it holds until a
	// KindRecovered event resolves it.
	KindIntegrityViolation Kind = "integrity_violation"
	// KindStaleLog: no checkpoint was verified within the log's staleness
	// limit. A condition.
	KindStaleLog Kind = "stale_log"
	// KindIdentityMatch: a watched identity signed an entry. One-off.
	KindIdentityMatch Kind = "identity_match"
	// KindUnexpectedIdentity: an entry was signed by an identity outside the
	// expected set. One-off.
	KindUnexpectedIdentity Kind = "unexpected_identity"
	// KindMalformedEntry: an entry could not be parsed. One-off.
	KindMalformedEntry Kind = "malformed_entry"
	// KindRecovered: a condition cleared. Event.Resolves names it.
	KindRecovered Kind = "recovered"
	// KindTest: the sample event of `monitor test-alert` ([SampleEvent]).
	KindTest Kind = "test"
	// KindTrustChanged: the distributed trust material (trusted_root.json,
	// signing config) changed: a log, CT log, CA or TSA added or removed, a
	// validity window or URL changed. Evidence.Before and After hold the
	// instance; critical unless the approved baseline has the change.
	// One-off.
	KindTrustChanged Kind = "trust_changed"
	// KindTrustExpiring: TUF metadata of a role expires soon or expired.
	// Event.Reason is the role. A condition.
	KindTrustExpiring Kind = "trust_expiring"
	// KindTrustUpdateFailed: updating the trust material from the TUF
	// mirror failed; Event.Reason says why (signature, threshold,
	// rollback, freeze, unreachable, target). The logs are still verified
	// with the last good material. A condition.
	KindTrustUpdateFailed Kind = "trust_update_failed"
	// KindCertificateExpiring: a certificate or key Vigil watches (an
	// endpoint's TLS certificate, a CA of the trust material, a log key's
	// validity, a CA file) expires soon or expired. A condition.
	KindCertificateExpiring Kind = "certificate_expiring"
	// KindSCTUnhonored: a certificate used in a Rekor entry carries an SCT
	// from the paired CT log, and that log did not include it within its
	// maximum merge delay. Evidence: the certificate, the SCT and the CT
	// log's latest verified head. One-off.
	KindSCTUnhonored Kind = "sct_unhonored"
	// KindCertificateUnused: a certificate of a watched identity is in the
	// CT log and no entry of the paired Rekor log used it within the
	// window. One-off.
	KindCertificateUnused Kind = "certificate_unused"
	// KindUncosignedCheckpoint: a log configured as witnessed by this
	// monitor published a checkpoint without the monitor's cosignature (the
	// log's witness policy fails open, so a refused or unreachable witness
	// does not stop publication). Evidence.New is the checkpoint. A
	// condition: it clears when a checkpoint carrying the cosignature is
	// seen.
	KindUncosignedCheckpoint Kind = "uncosigned_checkpoint"
)

var kinds = []Kind{KindIntegrityViolation, KindStaleLog, KindIdentityMatch,
	KindUnexpectedIdentity, KindMalformedEntry, KindRecovered, KindTest,
	KindTrustChanged, KindTrustExpiring, KindTrustUpdateFailed, KindCertificateExpiring,
	KindSCTUnhonored, KindCertificateUnused, KindUncosignedCheckpoint}

// Valid reports whether k is one of the Kind constants.
func (k Kind) Valid() bool {
	for _, v := range kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Condition reports whether events of kind k describe a state that holds
// until it clears (integrity violation, stale log) rather than a one-off
// occurrence. Alertmanager re-sends conditions until they are resolved.
func (k Kind) Condition() bool {
	switch k {
	case KindIntegrityViolation, KindStaleLog, KindTrustExpiring, KindTrustUpdateFailed, KindCertificateExpiring, KindUncosignedCheckpoint:
		return true
	}
	return false
}

// AlertName is the alertname label Vigil gives events of kind k in
// Alertmanager: "Vigil" followed by the kind in CamelCase, for example
// VigilIntegrityViolation. These names differ from the Prometheus rule names
// in manifests/prometheus so that the two paths never merge into one alert.
func (k Kind) AlertName() string {
	var b strings.Builder
	b.WriteString("Vigil")
	for _, part := range strings.Split(string(k), "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]))
		b.WriteString(part[1:])
	}
	return b.String()
}

// Severity orders events for routing and for choosing what to drop from a
// full outbox. The string values match the severity label of the Prometheus
// rules.
type Severity string

// The severities, lowest first.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Rank is 0 for info, 1 for warning, 2 for critical and -1 for anything else.
func (s Severity) Rank() int {
	switch s {
	case SeverityInfo:
		return 0
	case SeverityWarning:
		return 1
	case SeverityCritical:
		return 2
	}
	return -1
}

// Event is one thing on-call must be told about. It is what the outbox stores
// (as JSON, in the shape of its field tags) and what every sink sends.
//
// Events carry evidence, not only a message: an integrity violation holds both
// raw signed checkpoints and the proof, so whoever receives it can check the
// claim offline (docs/runbooks.md shows how).
type Event struct {
	// ID is unique per event. [Outbox.Enqueue] assigns it when empty; it sorts
	// by enqueue time.
	ID string `json:"id"`
	// Kind says what happened; required.
	Kind Kind `json:"kind"`
	// Severity is required.
	Severity Severity `json:"severity"`
	// Log is the log's configured name (the log label of the metrics).
	// Required except for KindTest.
	Log string `json:"log"`
	// Reason refines the kind: for integrity violations one of signature,
	// origin, malformed, rollback, fork, consistency, inclusion.
	Reason string `json:"reason,omitempty"`
	// Time is when the monitor observed it; Enqueue sets it when zero.
	Time time.Time `json:"time"`
	// DedupeKey is stable across re-sends of the same notification and across
	// restarts: receivers drop repeats by it (delivery is at-least-once).
	// Events describing the same condition share it, so a KindRecovered event
	// resolves the firing event with the same key (see Resolves). Enqueue
	// computes it with [DefaultDedupeKey] when empty.
	DedupeKey string `json:"dedupe_key"`
	// Summary is one human-readable line. Enqueue fills a default when empty.
	Summary string `json:"summary"`
	// Resolves is set on KindRecovered events only: the condition that
	// cleared. Build such events with [Recovered].
	Resolves *Condition `json:"resolves,omitempty"`
	// Evidence is what a third party needs to check the event by hand.
	Evidence Evidence `json:"evidence"`
	// Group names the notification the event belongs to: sinks that group
	// ([GroupSink]) deliver the queued events of one Group together, as one
	// notification that names their count and index range ([Group]). Only
	// entry events (identity match, unexpected identity, malformed entry;
	// [Kind.Groupable]) are grouped: Enqueue clears Group on every other
	// kind, so an integrity violation is always delivered on its own. Each
	// event is still stored, deduplicated and retried on its own. The
	// monitor sets it to "<kind>/<log>/<rule>/<scan>" for the events of one
	// scan; empty means deliver alone. It is not part of DedupeKey.
	Group string `json:"group,omitempty"`
}

// Groupable reports whether events of kind k may be delivered in groups
// (see Event.Group): the one-off entry events, of which a catch-up scan may
// find thousands. Conditions, recoveries and test events never are.
func (k Kind) Groupable() bool {
	return k == KindIdentityMatch || k == KindUnexpectedIdentity || k == KindMalformedEntry
}

// Condition identifies a firing event for its resolution.
type Condition struct {
	Kind      Kind     `json:"kind"`
	Severity  Severity `json:"severity"`
	Reason    string   `json:"reason,omitempty"`
	Rule      string   `json:"rule,omitempty"`
	DedupeKey string   `json:"dedupe_key"`
}

// Evidence is the material behind an event. Every field is optional; which
// ones are set depends on the kind:
//
//   - integrity violation: KeyID, OldCheckpoint/NewCheckpoint (raw signed
//     notes, verbatim), Proof, and Entry for inclusion failures;
//   - stale log: OldCheckpoint (the last verified one), Detail (last error);
//   - identity match / unexpected identity: Entry, Identity, Rule;
//   - malformed entry: Entry, Detail.
type Evidence struct {
	// KeyID is the log's public key id (hex SHA-256 of the DER key, the
	// log ID of trusted roots); during a key rotation, the ids of every key
	// the log may sign with, comma-separated.
	KeyID string `json:"key_id,omitempty"`
	// OldCheckpoint is the raw signed note the monitor had verified before.
	OldCheckpoint string `json:"old_checkpoint,omitempty"`
	// NewCheckpoint is the raw signed note that conflicts with it or failed.
	NewCheckpoint string `json:"new_checkpoint,omitempty"`
	// Proof holds the consistency or inclusion proof hashes, hex encoded, in
	// the order the log served them.
	Proof []string `json:"proof,omitempty"`
	// Entry is the log entry concerned, if any.
	Entry *Entry `json:"entry,omitempty"`
	// Identity holds the identity fields that matched (subject, issuer,
	// fingerprint, extension OIDs ...).
	Identity map[string]string `json:"identity,omitempty"`
	// Rule is the name of the identity rule that matched.
	Rule string `json:"rule,omitempty"`
	// Detail is free text: the verification error, the parse error.
	Detail string `json:"detail,omitempty"`
	// Before and After are an instance of the trust material as it was
	// and as it is (key_id, url, valid_from, valid_until, ...), for
	// trust_changed events; one is empty for an addition or a removal.
	Before map[string]string `json:"before,omitempty"`
	After  map[string]string `json:"after,omitempty"`
}

// Entry identifies one log entry.
type Entry struct {
	Index int64 `json:"index"`
	// UUID is the Rekor v1 entry UUID; empty for Rekor v2.
	UUID string `json:"uuid,omitempty"`
	// LeafHash is the RFC 6962 leaf hash, hex encoded.
	LeafHash string `json:"leaf_hash,omitempty"`
	// BodySize is the size of the entry body when Body holds only its
	// first MaxEvidenceBody bytes (zero when Body is whole): the log index
	// and leaf hash still name the entry, to fetch it whole from the log.
	BodySize int64 `json:"body_size,omitempty"`
	// Body is the canonicalized entry body as the log served it (base64 in
	// JSON). It must stay the last field: see decodeRecord.
	Body []byte `json:"body,omitempty"`
}

// MaxEvidenceBody bounds the entry body an event carries, so that a log
// serving huge entries cannot make every queued event huge.
const MaxEvidenceBody = 64 << 10

// Condition returns the condition e describes, for [Recovered].
func (e Event) Condition() Condition {
	return Condition{Kind: e.Kind, Severity: e.Severity, Reason: e.Reason,
		Rule: e.Evidence.Rule, DedupeKey: e.DedupeKey}
}

// Recovered returns the KindRecovered event that resolves firing at time at.
// firing must have its DedupeKey set (as Enqueue leaves it). The result has
// severity info and a DedupeKey of its own, firing.DedupeKey + "/recovered", so
// receivers that drop repeats by key do not drop the recovery.
func Recovered(firing Event, at time.Time, summary string) Event {
	c := firing.Condition()
	if summary == "" {
		summary = fmt.Sprintf("%s on log %s cleared", firing.Kind, firing.Log)
	}
	return Event{
		Kind:      KindRecovered,
		Severity:  SeverityInfo,
		Log:       firing.Log,
		Reason:    firing.Reason,
		Time:      at,
		DedupeKey: c.DedupeKey + "/recovered",
		Summary:   summary,
		Resolves:  &c,
		Evidence:  Evidence{Rule: firing.Evidence.Rule},
	}
}

// Check reports whether e is complete enough to deliver: a known kind, a known
// severity, a log name (except for test events) and, for recovered events, the
// condition they resolve. It does not look at the evidence.
func (e Event) Check() error {
	switch {
	case !e.Kind.Valid():
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidEvent, e.Kind)
	case e.Severity.Rank() < 0:
		return fmt.Errorf("%w: unknown severity %q", ErrInvalidEvent, e.Severity)
	case e.Log == "" && e.Kind != KindTest:
		return fmt.Errorf("%w: no log name", ErrInvalidEvent)
	case e.Kind == KindRecovered && (e.Resolves == nil || e.Resolves.DedupeKey == ""):
		return fmt.Errorf("%w: recovered event without the condition it resolves", ErrInvalidEvent)
	case e.Kind != KindRecovered && e.Resolves != nil:
		return fmt.Errorf("%w: resolves set on a %s event", ErrInvalidEvent, e.Kind)
	}
	return nil
}

// ErrInvalidEvent is returned (wrapped) by [Event.Check] and [Outbox.Enqueue]
// for events that cannot be delivered as they are.
var ErrInvalidEvent = errors.New("invalid alert event")

// DefaultDedupeKey derives a dedupe key from what identifies the notification:
// kind, log, reason, rule, entry index and UUID, and the hashes of both
// checkpoints. The result reads "<kind>/<log>/<32 hex digits>". Two events
// that agree on all of these get the same key, so a stale log re-detected after
// a restart keeps its key, and a second fork at another checkpoint gets a new
// one.
func DefaultDedupeKey(e Event) string {
	h := sha256.New()
	field := func(s string) {
		fmt.Fprintf(h, "%d:%s\n", len(s), s)
	}
	field(string(e.Kind))
	field(e.Log)
	field(e.Reason)
	field(e.Evidence.Rule)
	if en := e.Evidence.Entry; en != nil {
		field(strconv.FormatInt(en.Index, 10))
		field(en.UUID)
	} else {
		field("")
		field("")
	}
	if e.Kind == KindStaleLog {
		// A stale log is one condition per log, whatever checkpoint it is
		// stuck on.
		field("")
		field("")
	} else {
		field(hashHex(e.Evidence.OldCheckpoint))
		field(hashHex(e.Evidence.NewCheckpoint))
	}
	return Key(e.Kind, e.Log, hex.EncodeToString(h.Sum(nil)[:16]))
}

func hashHex(s string) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// DefaultSummary is the one-line summary Enqueue gives events without one.
func DefaultSummary(e Event) string {
	switch e.Kind {
	case KindIntegrityViolation:
		return fmt.Sprintf("log %s failed verification (%s)", e.Log, orDash(e.Reason))
	case KindStaleLog:
		return fmt.Sprintf("log %s has no verified checkpoint within its staleness limit", e.Log)
	case KindIdentityMatch:
		return fmt.Sprintf("watched identity (rule %s) signed entry %s in log %s", orDash(e.Evidence.Rule), entryRef(e.Evidence.Entry), e.Log)
	case KindUnexpectedIdentity:
		return fmt.Sprintf("unexpected identity signed entry %s in log %s", entryRef(e.Evidence.Entry), e.Log)
	case KindMalformedEntry:
		return fmt.Sprintf("malformed entry %s in log %s", entryRef(e.Evidence.Entry), e.Log)
	case KindRecovered:
		if e.Resolves != nil {
			return fmt.Sprintf("%s on log %s cleared", e.Resolves.Kind, e.Log)
		}
		return fmt.Sprintf("condition on log %s cleared", e.Log)
	case KindTest:
		return "Vigil test alert: delivery works"
	}
	return fmt.Sprintf("%s on log %s", e.Kind, e.Log)
}

func entryRef(en *Entry) string {
	if en == nil {
		return "-"
	}
	if en.UUID != "" {
		return fmt.Sprintf("%d (%s)", en.Index, en.UUID)
	}
	return strconv.FormatInt(en.Index, 10)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Describe renders the evidence as plain text lines for humans: Slack
// messages, Alertmanager's description annotation, the log sink. Raw
// checkpoints are included verbatim (they are short), entry bodies are not
// (the JSON body of webhooks and exec hooks carries them).
func (e Event) Describe() string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	line("kind", string(e.Kind))
	line("severity", string(e.Severity))
	line("log", e.Log)
	line("reason", e.Reason)
	if !e.Time.IsZero() {
		line("time", e.Time.UTC().Format(time.RFC3339))
	}
	line("dedupe key", e.DedupeKey)
	if r := e.Resolves; r != nil {
		line("resolves", fmt.Sprintf("%s (%s)", r.Kind, r.DedupeKey))
	}
	ev := e.Evidence
	line("rule", ev.Rule)
	line("key id", ev.KeyID)
	if en := ev.Entry; en != nil {
		line("entry index", strconv.FormatInt(en.Index, 10))
		line("entry uuid", en.UUID)
		line("leaf hash", en.LeafHash)
	}
	if len(ev.Identity) > 0 {
		keys := make([]string, 0, len(ev.Identity))
		for k := range ev.Identity {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			line("identity "+k, ev.Identity[k])
		}
	}
	line("detail", ev.Detail)
	for _, side := range []struct {
		name string
		m    map[string]string
	}{{"before", ev.Before}, {"after", ev.After}} {
		keys := make([]string, 0, len(side.m))
		for k := range side.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			line(side.name+" "+k, side.m[k])
		}
	}
	if len(ev.Proof) > 0 {
		line("proof", strings.Join(ev.Proof, " "))
	}
	if ev.OldCheckpoint != "" {
		fmt.Fprintf(&b, "old checkpoint:\n%s", withNewline(ev.OldCheckpoint))
	}
	if ev.NewCheckpoint != "" {
		fmt.Fprintf(&b, "new checkpoint:\n%s", withNewline(ev.NewCheckpoint))
	}
	return strings.TrimRight(b.String(), "\n")
}

func withNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// SampleEvent is the event `monitor test-alert` sends: kind test, severity
// info, clearly marked as a test in its summary and detail, with a fake
// checkpoint so receivers can see how evidence is laid out.
func SampleEvent(now time.Time) Event {
	e := Event{
		Kind:     KindTest,
		Severity: SeverityInfo,
		Log:      "test",
		Time:     now.UTC(),
		Summary:  "Vigil test alert: if you can read this, delivery through this sink works",
		Evidence: Evidence{
			KeyID:         "00000000",
			NewCheckpoint: "vigil.test/sample\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— vigil.test/sample AAAAAAAAAAAA\n",
			Detail:        "sent by monitor test-alert; no log is affected",
		},
	}
	e.ID = newID(now)
	e.DedupeKey = "test/" + e.ID
	return e
}
