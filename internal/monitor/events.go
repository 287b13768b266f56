package monitor

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// This file builds every event the monitor raises. Dedupe and group keys
// follow alert.Key: "<kind>/<log>/<what tells the condition apart>".

// integrityEvent is the event of an integrity violation. Its dedupe key is
// the log, the reason and the signed text of the last trusted checkpoint
// (not signatures: Rekor v1 signs afresh on every request; not the
// offending note: a forked log that keeps growing would otherwise page at
// every check). Saved state does not move during a violation, so one
// condition is one alert, carrying the evidence first seen.
func integrityEvent(log, keyID string, ie *checkpoint.IntegrityError, now time.Time) alert.Event {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%q\n", ie.Reason, checkpoint.SignedText(ie.Old))
	return alert.Event{
		Kind: alert.KindIntegrityViolation, Severity: alert.SeverityCritical, Log: log, Reason: string(ie.Reason), Time: now,
		DedupeKey: alert.Key(alert.KindIntegrityViolation, log, string(ie.Reason), hex.EncodeToString(h.Sum(nil)[:16])),
		Summary:   fmt.Sprintf("log %s integrity violation (%s): %v", log, ie.Reason, ie.Err),
		Evidence: alert.Evidence{KeyID: keyID, OldCheckpoint: string(ie.Old), NewCheckpoint: string(ie.New),
			Proof: ie.ProofHex(), Detail: ie.Err.Error()},
	}
}

// staleKey is the dedupe key of a log's stale condition: one per log,
// whatever checkpoint it is stuck on.
func staleKey(log string) string { return alert.Key(alert.KindStaleLog, log) }

// staleEvent is the event of a log that is stale for the reason why.
func staleEvent(log, keyID, why string, lastErr error, now time.Time) alert.Event {
	detail := why
	if lastErr != nil {
		detail += "; last error: " + lastErr.Error()
	}
	return alert.Event{Kind: alert.KindStaleLog, Severity: alert.SeverityWarning, Log: log, Time: now, DedupeKey: staleKey(log),
		Summary: fmt.Sprintf("log %s is stale: %s", log, why), Evidence: alert.Evidence{KeyID: keyID, Detail: detail}}
}

// verifiedAgain resolves a log's stale condition.
func verifiedAgain(firing alert.Event, now time.Time) alert.Event {
	return alert.Recovered(firing, now, fmt.Sprintf("log %s is verified again", firing.Log))
}

// uncosignedKey is the dedupe key of a witnessed log's uncosigned
// condition: one per log, whatever checkpoints it published meanwhile.
func uncosignedKey(log string) string { return alert.Key(alert.KindUncosignedCheckpoint, log) }

// uncosignedEvents raises a witnessed log's uncosigned_checkpoint condition
// when its verified head lacks the monitor's cosignature, and resolves it
// when a head carries one again.
func uncosignedEvents(st *logStatus, out Outcome, now time.Time) []alert.Event {
	l := st.log
	firing, fired := st.firing[uncosignedKey(l.Name)]
	switch {
	case out.Cosigned && fired:
		return []alert.Event{alert.Recovered(firing, now, fmt.Sprintf("log %s publishes checkpoints cosigned by this monitor again", l.Name))}
	case !out.Cosigned && !fired:
		cp := out.Checkpoint
		return []alert.Event{{Kind: alert.KindUncosignedCheckpoint, Severity: l.WitnessSeverity, Log: l.Name, Time: now,
			DedupeKey: uncosignedKey(l.Name),
			Summary:   fmt.Sprintf("log %s published checkpoint %d without this monitor's cosignature", l.Name, cp.Size),
			Evidence: alert.Evidence{KeyID: l.Keys().KeyID, NewCheckpoint: string(cp.Raw),
				Detail: "the log is configured as witnessed by this monitor; its published checkpoint carries no valid cosignature by the monitor's witness key (the log's witness policy fails open: the witness refused, was unreachable, or is not in the policy)"}}}
	}
	return nil
}

// acknowledged resolves a condition an operator acknowledged.
func acknowledged(firing alert.Event, now time.Time, summary string) alert.Event {
	return alert.Recovered(firing, now, summary)
}

// entryEvents builds the events of one scanned entry. The evidence is built
// only for entries that cause events, which are few, and once per entry.
// Its Body is a copy, of at most alert.MaxEvidenceBody bytes: the entry's
// data may share its array with the whole response it came in, which queued
// events must not keep alive.
type entryEvents struct {
	log   string
	keyID string
	from  uint64 // where the scan started: events of one scan share a group
	now   time.Time
	entry tlog.Entry
	leaf  []byte

	evidence *alert.Entry
}

func (ee *entryEvents) entryEvidence() *alert.Entry {
	if ee.evidence == nil {
		e := ee.entry
		body, size := e.Data, int64(0)
		if len(body) > alert.MaxEvidenceBody {
			body, size = body[:alert.MaxEvidenceBody], int64(len(body))
		}
		ee.evidence = &alert.Entry{Index: int64(e.LogIndex), UUID: e.UUID, LeafHash: hex.EncodeToString(ee.leaf), BodySize: size, Body: bytes.Clone(body)}
	}
	return ee.evidence
}

// event is an entry event of kind (for rule, "" for none).
func (ee *entryEvents) event(kind alert.Kind, sev alert.Severity, rule string, ev alert.Evidence) alert.Event {
	ev.KeyID, ev.Entry, ev.Rule = ee.keyID, ee.entryEvidence(), rule
	parts := []string{strconv.FormatUint(ee.entry.LogIndex, 10), ev.Entry.LeafHash[:16]}
	if rule != "" {
		parts = append(parts, rule)
	}
	return alert.Event{Kind: kind, Severity: sev, Log: ee.log, Time: ee.now,
		DedupeKey: alert.Key(kind, ee.log, parts...),
		Group:     alert.Key(kind, ee.log, rule, strconv.FormatUint(ee.from, 10)),
		Evidence:  ev}
}

// malformed: the entry is in the signed tree but cannot be parsed.
func (ee *entryEvents) malformed(err error) alert.Event {
	return ee.event(alert.KindMalformedEntry, alert.SeverityWarning, "", alert.Evidence{Detail: err.Error()})
}

// watched: a watch rule matched the entry.
func (ee *entryEvents) watched(h identity.Hit, sev alert.Severity) alert.Event {
	fields := identityFields(h.Identity)
	for k, v := range h.Fields {
		fields["matched."+k] = v
	}
	e := ee.event(alert.KindIdentityMatch, sev, h.Rule, alert.Evidence{Identity: fields})
	if isCTEntry(h.Identity.EntryKind) {
		// Nobody signed anything yet: a CA issued a certificate.
		e.Summary = fmt.Sprintf("a certificate for a watched identity (rule %s) is in entry %d of CT log %s", h.Rule, ee.entry.LogIndex, ee.log)
	}
	return e
}

// isCTEntry reports whether an identity's entry kind is a CT log's
// certificate (ct:x509, ct:precert).
func isCTEntry(kind string) bool { return strings.HasPrefix(kind, "ct:") }

// unexpected: no expect rule covers the entry's identities.
func (ee *entryEvents) unexpected(ids []identity.Identity) alert.Event {
	fields := map[string]string{}
	for i := range ids {
		for k, v := range identityFields(&ids[i]) {
			if len(ids) > 1 {
				k = fmt.Sprintf("%d.%s", i, k)
			}
			fields[k] = v
		}
	}
	e := ee.event(alert.KindUnexpectedIdentity, alert.SeverityCritical, "", alert.Evidence{Identity: fields})
	if len(ids) > 0 && isCTEntry(ids[0].EntryKind) {
		e.Summary = fmt.Sprintf("a certificate for an unexpected identity is in entry %d of CT log %s", ee.entry.LogIndex, ee.log)
	}
	return e
}

// identityFields flattens an identity for alert evidence.
func identityFields(id *identity.Identity) map[string]string {
	f := map[string]string{"entry_kind": id.EntryKind, "key_type": string(id.KeyType)}
	set := func(k, v string) {
		if v != "" {
			f[k] = v
		}
	}
	var subjects []string
	id.Subjects(func(s string) bool { subjects = append(subjects, s); return true })
	if len(subjects) > 0 {
		set("subject", subjects[0])
		for i, s := range subjects[1:] {
			set(fmt.Sprintf("subject.%d", i+1), s)
		}
	}
	set("issuer", id.Issuer)
	set("cert_fingerprint", id.CertFingerprint)
	set("key_fingerprint", id.KeyFingerprint)
	for oid, v := range id.Extensions {
		set(oid, v)
	}
	return f
}
