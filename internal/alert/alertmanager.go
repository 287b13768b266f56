package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-tlog/vigil/internal/state"
)

// Alertmanager posts events to Alertmanager's v2 API (POST
// <url>/api/v2/alerts) and keeps firing conditions alive there.
//
// Labels of every alert: alertname ([Kind.AlertName], e.g.
// VigilIntegrityViolation), severity, log, dedupe_key, plus reason and rule
// when set, plus the sink's configured labels. Annotations: summary,
// description (the evidence as text, [Event.Describe]), runbook_url, event_id,
// and when present key_id, old_checkpoint, new_checkpoint, proof, entry_index,
// entry_uuid, leaf_hash.
//
// Conditions (integrity violation, stale log) are re-sent every
// resend_interval with endsAt four intervals ahead, so they stay active while
// they hold, and expire on their own if the monitor dies (Prometheus' absent
// and up rules cover that case). A recovered event re-posts the firing alert
// with endsAt set to the recovery time, which resolves it. One-off events get
// endsAt = send time + one_off_duration and are not re-sent.
//
// The set of firing conditions is saved in the outbox (sinks/<name>/firing.json)
// after every change, so re-sending resumes after a restart.
//
// A [Group] of events is one one-off alert: labels as for its summary event
// ([Group.Event]), so dedupe_key is the group's (stable across retries of
// the group), and annotations summary ("5000 entries (index 0-4999) in log
// ..."), description (the first max_listed entries, [Group.Describe]),
// event_id (the first event's), event_count, first_index, last_index,
// group and key_id.
type Alertmanager struct {
	cfg    SinkConfig
	client *http.Client
	filter
	grouping
	now func() time.Time

	mu     sync.Mutex         // guards firing and file
	firing map[string]amAlert // by dedupe key: conditions sent and not resolved
	file   string             // where firing is saved; "" until openState
}

// amAlert is one element of the postableAlerts body.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func newAlertmanager(sc SinkConfig, client *http.Client, f filter) *Alertmanager {
	if sc.ResendInterval <= 0 {
		sc.ResendInterval = DefaultResendInterval
	}
	if sc.OneOffDuration <= 0 {
		sc.OneOffDuration = DefaultOneOffDuration
	}
	return &Alertmanager{cfg: sc, client: client, filter: f, now: time.Now, firing: map[string]amAlert{}}
}

// Name implements [Sink].
func (a *Alertmanager) Name() string { return a.cfg.Name }

// Send implements [Sink].
func (a *Alertmanager) Send(ctx context.Context, e Event) error {
	now := a.now()
	switch {
	case e.Kind == KindRecovered:
		if e.Resolves == nil {
			return fmt.Errorf("sending event %s: %w: recovered event without resolves", e.ID, ErrInvalidEvent)
		}
		a.mu.Lock()
		al, ok := a.firing[e.Resolves.DedupeKey]
		a.mu.Unlock()
		if !ok {
			// Not sent by this sink (or lost with its state): rebuild the
			// labels from the condition; Alertmanager matches by labels.
			al = a.alertFor(Event{Kind: e.Resolves.Kind, Severity: e.Resolves.Severity, Log: e.Log,
				Reason: e.Resolves.Reason, DedupeKey: e.Resolves.DedupeKey, Time: e.Time,
				Summary: e.Summary, Evidence: Evidence{Rule: e.Resolves.Rule}})
		}
		al.EndsAt = e.Time
		if al.EndsAt.IsZero() || al.EndsAt.After(now) {
			al.EndsAt = now
		}
		// The stored alert shares its map with the firing set, which resend
		// marshals concurrently: write to a copy.
		al.Annotations = maps.Clone(al.Annotations)
		al.Annotations["resolved_by"] = e.ID
		if err := a.post(ctx, []amAlert{al}); err != nil {
			return err
		}
		return a.update(func(m map[string]amAlert) { delete(m, e.Resolves.DedupeKey) })
	case e.Kind.Condition():
		al := a.alertFor(e)
		al.EndsAt = now.Add(4 * a.cfg.ResendInterval)
		if err := a.post(ctx, []amAlert{al}); err != nil {
			return err
		}
		return a.update(func(m map[string]amAlert) { m[e.DedupeKey] = al })
	default:
		al := a.alertFor(e)
		al.EndsAt = now.Add(a.cfg.OneOffDuration)
		return a.post(ctx, []amAlert{al})
	}
}

// SendGroup implements [GroupSink].
func (a *Alertmanager) SendGroup(ctx context.Context, events []Event) error {
	return a.sendText(ctx, NewGroup(events))
}

func (a *Alertmanager) sendText(ctx context.Context, g Group) error {
	al := a.alertFor(g.Event())
	al.Annotations["description"] = g.Describe(a.group.MaxListed)
	al.Annotations["event_count"] = strconv.Itoa(g.Count)
	al.Annotations["group"] = g.Key
	if g.FirstIndex >= 0 {
		al.Annotations["first_index"] = strconv.FormatInt(g.FirstIndex, 10)
		al.Annotations["last_index"] = strconv.FormatInt(g.LastIndex, 10)
	}
	al.EndsAt = a.now().Add(a.cfg.OneOffDuration)
	return a.post(ctx, []amAlert{al})
}

// alertFor builds the labels and annotations of e.
func (a *Alertmanager) alertFor(e Event) amAlert {
	labels := map[string]string{}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	labels["alertname"] = e.Kind.AlertName()
	labels["severity"] = string(e.Severity)
	labels["dedupe_key"] = e.DedupeKey
	if e.Log != "" {
		labels["log"] = e.Log
	}
	if e.Reason != "" {
		labels["reason"] = e.Reason
	}
	if e.Evidence.Rule != "" {
		labels["rule"] = e.Evidence.Rule
	}
	ann := map[string]string{
		"summary":     e.Summary,
		"description": e.Describe(),
		"event_id":    e.ID,
	}
	if a.cfg.RunbookURL != "" {
		ann["runbook_url"] = a.cfg.RunbookURL + "#" + string(e.Kind)
	}
	ev := e.Evidence
	set := func(k, v string) {
		if v != "" {
			ann[k] = v
		}
	}
	set("key_id", ev.KeyID)
	set("old_checkpoint", ev.OldCheckpoint)
	set("new_checkpoint", ev.NewCheckpoint)
	set("proof", strings.Join(ev.Proof, " "))
	if en := ev.Entry; en != nil {
		set("entry_index", strconv.FormatInt(en.Index, 10))
		set("entry_uuid", en.UUID)
		set("leaf_hash", en.LeafHash)
	}
	start := e.Time
	if start.IsZero() {
		start = a.now()
	}
	return amAlert{Labels: labels, Annotations: ann, StartsAt: start.UTC()}
}

func (a *Alertmanager) post(ctx context.Context, alerts []amAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("encoding alerts: %w", err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "vigil-monitor")
	if err := setBearer(h, a.cfg.BearerTokenFile); err != nil {
		return err
	}
	u := strings.TrimRight(a.cfg.URL, "/") + "/api/v2/alerts"
	ctx, cancel := withTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	return post(ctx, a.client, u, redactURL(u, false), body, h)
}

// Run implements [Runner]: every resend_interval it re-posts the firing
// conditions with endsAt moved ahead.
func (a *Alertmanager) Run(ctx context.Context, report func(error)) {
	t := time.NewTicker(a.cfg.ResendInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent, err := a.resend(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			report(fmt.Errorf("re-sending firing alerts: %w", err))
		case sent:
			report(nil)
		}
	}
}

// resend re-posts the firing conditions; sent is false when there were none.
func (a *Alertmanager) resend(ctx context.Context) (sent bool, err error) {
	a.mu.Lock()
	alerts := make([]amAlert, 0, len(a.firing))
	ends := a.now().Add(4 * a.cfg.ResendInterval)
	for _, k := range sortedKeys(a.firing) {
		al := a.firing[k]
		al.EndsAt = ends
		alerts = append(alerts, al)
	}
	a.mu.Unlock()
	if len(alerts) == 0 {
		return false, nil
	}
	return true, a.post(ctx, alerts)
}

// Firing returns the dedupe keys of the conditions the sink keeps alive, in
// order.
func (a *Alertmanager) Firing() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return sortedKeys(a.firing)
}

// openState implements stateful: it loads the firing set saved in dir.
func (a *Alertmanager) openState(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating sink state directory: %w", err)
	}
	file := filepath.Join(dir, "firing.json")
	b, err := os.ReadFile(file)
	m := map[string]amAlert{}
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading firing alerts: %w", err)
	default:
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("parsing firing alerts in %s: %w", file, err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, v := range m {
		a.firing[k] = v
	}
	a.file = file
	return nil
}

// update applies f to the firing set and saves it.
func (a *Alertmanager) update(f func(map[string]amAlert)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a.firing)
	if a.file == "" {
		return nil
	}
	b, err := json.MarshalIndent(a.firing, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding firing alerts: %w", err)
	}
	if err := state.WriteFileAtomic(a.file, b, 0o600); err != nil {
		return fmt.Errorf("saving firing alerts: %w", err)
	}
	return nil
}
