package alert

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/testenv"
)

// TestAlertmanagerForkFiresAndResolves sends a forged fork through the outbox
// to a real Alertmanager, reads it back from its API with the evidence, then
// resolves it.
func TestAlertmanagerForkFiresAndResolves(t *testing.T) {
	base := testenv.Alertmanager(t)
	dir := t.TempDir()
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "am", Type: TypeAlertmanager, URL: base,
		Labels: map[string]string{"team": "security"}, RunbookURL: "https://docs.internal/runbooks.md"}}}, nil)
	o, reg := openOutbox(t, dir, sinks, fastRetry)
	stop := run(t, o)

	stored, err := o.Enqueue(t.Context(), forkEvent())
	if err != nil {
		t.Fatal(err)
	}
	fork := stored[0]
	var got []testenv.AlertmanagerAlert
	eventually(t, "the fork alert in alertmanager", func() bool {
		got = testenv.AlertmanagerAlerts(t, base, "VigilIntegrityViolation")
		return len(got) == 1
	})
	a := got[0]
	for k, v := range map[string]string{"alertname": "VigilIntegrityViolation", "severity": "critical", "log": "rekor",
		"reason": "fork", "dedupe_key": fork.DedupeKey, "team": "security"} {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
		}
	}
	for k, v := range map[string]string{
		"new_checkpoint": fork.Evidence.NewCheckpoint, "old_checkpoint": fork.Evidence.OldCheckpoint,
		"proof": "5f4d1c a1b2c3", "key_id": "c0d23d6a", "event_id": fork.ID, "summary": fork.Summary,
		"runbook_url": "https://docs.internal/runbooks.md#integrity_violation",
	} {
		if a.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, a.Annotations[k], v)
		}
	}
	if !strings.Contains(a.Annotations["description"], "same tree size 8, different root hash") {
		t.Errorf("description annotation lacks the detail: %q", a.Annotations["description"])
	}
	if a.Status.State != "active" {
		t.Errorf("alert state %q, want active", a.Status.State)
	}
	eventually(t, "the delivery counted", func() bool {
		v, _ := metricValue(t, reg, "vigil_alerts_sent_total", "sink", "am")
		return v >= 1
	})

	// The firing condition survives a restart of the monitor.
	stop()
	o.Close()
	sinks = mustSinks(t, Config{Sinks: []SinkConfig{{Name: "am", Type: TypeAlertmanager, URL: base,
		Labels: map[string]string{"team": "security"}}}}, nil)
	o2, _ := openOutbox(t, dir, sinks, fastRetry)
	if f := sinks[0].(*Alertmanager).Firing(); !slices.Equal(f, []string{fork.DedupeKey}) {
		t.Fatalf("after restart the sink keeps %v firing, want [%s]", f, fork.DedupeKey)
	}
	run(t, o2)

	if _, err := o2.Enqueue(t.Context(), Recovered(fork, time.Now(), "")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fork alert to resolve", func() bool {
		return len(testenv.AlertmanagerAlerts(t, base, "VigilIntegrityViolation")) == 0
	})
	eventually(t, "the sink to drop the resolved condition", func() bool {
		return len(sinks[0].(*Alertmanager).Firing()) == 0
	})
}

// TestAlertmanagerOneOffAndTest checks the labels of a one-off event and
// that test-alert reaches a real Alertmanager.
func TestAlertmanagerOneOffAndTest(t *testing.T) {
	base := testenv.Alertmanager(t)
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "am", Type: TypeAlertmanager, URL: base}}}, nil)
	if err := TestAlert(t.Context(), sinks); err != nil {
		t.Fatalf("TestAlert() = %v", err)
	}
	m := Event{ID: "id-m", Kind: KindIdentityMatch, Severity: SeverityWarning, Log: "rekor", Time: time.Now(), DedupeKey: "match-1",
		Summary: "watched identity signed", Evidence: Evidence{Rule: "release-signer", Entry: &Entry{Index: 7, UUID: "24296fb2"},
			Identity: map[string]string{"subject": "release@example.com"}}}
	if err := sinks[0].Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the test alert", func() bool { return len(testenv.AlertmanagerAlerts(t, base, "VigilTest")) == 1 })
	var got []testenv.AlertmanagerAlert
	eventually(t, "the identity alert", func() bool {
		got = testenv.AlertmanagerAlerts(t, base, "VigilIdentityMatch")
		return len(got) == 1
	})
	if got[0].Labels["rule"] != "release-signer" || got[0].Annotations["entry_uuid"] != "24296fb2" || got[0].Annotations["entry_index"] != "7" {
		t.Errorf("identity alert = %+v", got[0])
	}
	if !strings.Contains(got[0].Annotations["description"], "identity subject: release@example.com") {
		t.Errorf("description lacks the identity: %q", got[0].Annotations["description"])
	}
	if d := got[0].EndsAt.Sub(got[0].StartsAt); d < 30*time.Minute {
		t.Errorf("one-off alert lasts %v, want about one_off_duration (1h)", d)
	}
}

// TestAlertmanagerResends checks the re-send loop against a recording
// receiver: firing conditions are re-posted with endsAt moved ahead.
func TestAlertmanagerResends(t *testing.T) {
	r := newReceiver(t)
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "am", Type: TypeAlertmanager, URL: r.srv.URL, ResendInterval: 20 * time.Millisecond}}}, nil)
	o, reg := openOutbox(t, t.TempDir(), sinks, fastRetry)
	run(t, o)
	stale := Event{Kind: KindStaleLog, Severity: SeverityWarning, Log: "rekor"}
	if _, err := o.Enqueue(t.Context(), stale); err != nil {
		t.Fatal(err)
	}
	reqs := r.waitFor(3)
	var first, last []amAlert
	json.Unmarshal(reqs[0].Body, &first)
	json.Unmarshal(reqs[len(reqs)-1].Body, &last)
	if len(first) != 1 || len(last) != 1 || first[0].Labels["dedupe_key"] != last[0].Labels["dedupe_key"] {
		t.Fatalf("re-sends differ: %+v then %+v", first, last)
	}
	if !last[0].EndsAt.After(first[0].EndsAt) || !last[0].StartsAt.Equal(first[0].StartsAt) {
		t.Errorf("re-send keeps startsAt %v and moves endsAt %v -> %v; want same start, later end", last[0].StartsAt, first[0].EndsAt, last[0].EndsAt)
	}
	eventually(t, "re-sends counted", func() bool {
		v, _ := metricValue(t, reg, "vigil_alerts_sent_total", "sink", "am")
		return v >= 3
	})
}
