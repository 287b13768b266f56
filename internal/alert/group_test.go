package alert

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// groupEvents returns n identity-match events of one scan's group.
func groupEvents(n int) []Event {
	evs := numbered(n)
	for i := range evs {
		evs[i].Group = "identity_match/rekor/release-signer/0"
	}
	return evs
}

// TestOutboxGroupsWebhook: a scan's entry events reach a webhook in bodies
// of at most max_events, each event exactly once; an integrity violation
// and a condition that claims a group go alone.
func TestOutboxGroupsWebhook(t *testing.T) {
	r := newReceiver(t)
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeWebhook, URL: r.srv.URL}},
		Group: GroupConfig{MaxEvents: 10}}, nil)
	o, reg := openOutbox(t, t.TempDir(), sinks, fastRetry)
	stale := Event{Kind: KindStaleLog, Severity: SeverityWarning, Log: "rekor", Group: "stale_log/rekor//0"}
	stored, err := o.Enqueue(t.Context(), append(append(groupEvents(25), forkEvent()), stale)...)
	if err != nil {
		t.Fatal(err)
	}
	if stored[26].Group != "" {
		t.Errorf("stored stale_log event has Group %q, want it cleared", stored[26].Group)
	}
	run(t, o)
	eventually(t, "delivery", func() bool { return o.Stats().Queued == 0 })

	got := map[string]int{}
	var singles []Kind
	for _, req := range r.got() {
		var b GroupBody
		if err := json.Unmarshal(req.Body, &b); err != nil {
			t.Fatalf("decoding body: %v", err)
		}
		if len(b.Events) == 0 {
			singles = append(singles, b.Kind)
			got[b.ID]++
			continue
		}
		if len(b.Events) > 10 || b.Info.Count != len(b.Events) {
			t.Errorf("group body with %d events, count %d; want at most 10, count = events", len(b.Events), b.Info.Count)
		}
		if h := req.Header.Get("X-Vigil-Dedupe-Key"); h != b.DedupeKey || h != b.Info.DedupeKey || !strings.Contains(h, "/group-") {
			t.Errorf("X-Vigil-Dedupe-Key = %q, body dedupe_key %q, group_info %q", h, b.DedupeKey, b.Info.DedupeKey)
		}
		if req.Header.Get("X-Vigil-Event-Count") != itoa(len(b.Events)) {
			t.Errorf("X-Vigil-Event-Count = %q, want %d", req.Header.Get("X-Vigil-Event-Count"), len(b.Events))
		}
		first, last := b.Events[0].Evidence.Entry.Index, b.Events[len(b.Events)-1].Evidence.Entry.Index
		if b.Info.FirstIndex != first || b.Info.LastIndex != last {
			t.Errorf("group_info range %d-%d, want %d-%d", b.Info.FirstIndex, b.Info.LastIndex, first, last)
		}
		for _, e := range b.Events {
			if e.Evidence.Entry == nil || e.DedupeKey == "" {
				t.Errorf("event %s in a group lacks its evidence or dedupe key", e.ID)
			}
			got[e.ID]++
		}
	}
	for _, e := range stored {
		if got[e.ID] != 1 {
			t.Errorf("event %s (%s) delivered %d times, want 1", e.ID, e.Kind, got[e.ID])
		}
	}
	slices.Sort(singles)
	if !slices.Equal(singles, []Kind{KindIntegrityViolation, KindStaleLog}) {
		t.Errorf("single-event bodies of kinds %v, want the integrity violation and the stale log", singles)
	}
	if n := len(r.got()); n != 5 {
		t.Errorf("receiver got %d requests, want 5 (3 groups of <= 10, 2 single events)", n)
	}
	if v, _ := metricValue(t, reg, "vigil_alerts_sent_total", "sink", "hook"); v != 27 {
		t.Errorf("vigil_alerts_sent_total = %v, want 27 (events, not requests)", v)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// groupSink is a GroupSink that fails its first fail calls, after
// "delivering" half of the group (a receiver that took part of it).
type groupSink struct {
	mu    sync.Mutex
	fail  int
	calls [][]string // event IDs per call that returned nil
	seen  map[string]int
}

func (s *groupSink) Name() string    { return "group" }
func (s *groupSink) GroupLimit() int { return 100 }
func (s *groupSink) Send(ctx context.Context, e Event) error {
	return s.SendGroup(ctx, []Event{e})
}
func (s *groupSink) SendGroup(_ context.Context, evs []Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]int{}
	}
	if s.fail > 0 {
		s.fail--
		for _, e := range evs[:len(evs)/2] {
			s.seen[e.ID]++
		}
		return errors.New("receiver took part of the group and failed")
	}
	var ids []string
	for _, e := range evs {
		s.seen[e.ID]++
		ids = append(ids, e.ID)
	}
	s.calls = append(s.calls, ids)
	return nil
}

// TestOutboxGroupRetry: a failed group is retried whole; a partly
// delivered group loses nothing; the journal keeps a group delivered to one
// sink from being sent to it again after a restart.
func TestOutboxGroupRetry(t *testing.T) {
	dir := t.TempDir()
	gs := &groupSink{fail: 2}
	down := newScriptSink("down", func(Event) bool { return false })
	o, _ := openOutbox(t, dir, []Sink{gs, down}, fastRetry)
	stored, err := o.Enqueue(t.Context(), groupEvents(30)...)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, o)
	eventually(t, "delivery to the group sink", func() bool { return o.Stats().Pending["group"] == 0 })
	stop()
	gs.mu.Lock()
	if len(gs.calls) != 1 || len(gs.calls[0]) != 30 {
		t.Errorf("successful SendGroup calls %v, want one with all 30 events", gs.calls)
	}
	for _, e := range stored {
		if gs.seen[e.ID] < 1 {
			t.Errorf("event %s never reached the group sink", e.ID)
		}
	}
	gs.mu.Unlock()
	o.Close()

	gs2 := &groupSink{}
	o2, _ := openOutbox(t, dir, []Sink{gs2, down}, fastRetry)
	if st := o2.Stats(); st.Pending["group"] != 0 || st.Pending["down"] != 30 {
		t.Errorf("after reopening, pending %v, want group 0 and down 30", st.Pending)
	}
}

// TestLogSinkGroupLine: one log line per group, with the count, the range
// and the first max_listed entries; an integrity violation gets its own.
func TestLogSinkGroupLine(t *testing.T) {
	var buf logBuffer
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "log", Type: TypeLog}}, Group: GroupConfig{MaxListed: 3}}, slogTo(&buf))
	o, _ := openOutbox(t, t.TempDir(), sinks, fastRetry)
	if _, err := o.Enqueue(t.Context(), append(groupEvents(30), forkEvent())...); err != nil {
		t.Fatal(err)
	}
	run(t, o)
	eventually(t, "delivery", func() bool { return o.Stats().Queued == 0 })
	out := buf.String()
	if n := strings.Count(out, `msg="alert group"`); n != 1 {
		t.Fatalf("log has %d group lines, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, `msg=alert `); n != 1 {
		t.Errorf("log has %d single alert lines, want 1 (the fork):\n%s", n, out)
	}
	for _, want := range []string{"count=30", "first_index=0", "last_index=29", "... and 27 more", "rule=release-signer",
		`summary="30 entries (index 0-29) in log rekor signed by a watched identity (rule release-signer)"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `entries="0\n1\n2\n3`) {
		t.Errorf("log lists more than max_listed entries:\n%s", out)
	}
}

// TestAlertmanagerGroup: one alert per group, with a group dedupe label and
// the count and range in annotations.
func TestAlertmanagerGroup(t *testing.T) {
	r := newReceiver(t)
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "am", Type: TypeAlertmanager, URL: r.srv.URL}}}, nil)
	o, _ := openOutbox(t, t.TempDir(), sinks, fastRetry)
	if _, err := o.Enqueue(t.Context(), groupEvents(40)...); err != nil {
		t.Fatal(err)
	}
	run(t, o)
	eventually(t, "delivery", func() bool { return o.Stats().Queued == 0 })
	reqs := r.got()
	if len(reqs) != 1 {
		t.Fatalf("alertmanager got %d posts, want 1", len(reqs))
	}
	var alerts []amAlert
	if err := json.Unmarshal(reqs[0].Body, &alerts); err != nil || len(alerts) != 1 {
		t.Fatalf("body %s: %d alerts, err %v; want 1", reqs[0].Body, len(alerts), err)
	}
	a := alerts[0]
	if !strings.Contains(a.Labels["dedupe_key"], "/group-") || a.Labels["alertname"] != "VigilIdentityMatch" || a.Labels["rule"] != "release-signer" {
		t.Errorf("labels %v", a.Labels)
	}
	for k, v := range map[string]string{"event_count": "40", "first_index": "0", "last_index": "39"} {
		if a.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, a.Annotations[k], v)
		}
	}
	if !strings.Contains(a.Annotations["description"], "... and 30 more") {
		t.Errorf("description %q does not list 10 entries and the rest as a count", a.Annotations["description"])
	}
}

// TestSlackAndExecGroup: Slack gets one message, an exec hook one run with
// every event on stdin.
func TestSlackAndExecGroup(t *testing.T) {
	r := newReceiver(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{
		{Name: "slack", Type: TypeSlack, URL: r.srv.URL + "/services/x"},
		{Name: "hook", Type: TypeExec, Command: []string{"sh", "-c", `cat >"$1.json"; echo "$VIGIL_EVENT_COUNT $VIGIL_EVENT_FIRST_INDEX $VIGIL_EVENT_LAST_INDEX" >>"$1"`, "sh", out}},
	}}, nil)
	o, _ := openOutbox(t, t.TempDir(), sinks, fastRetry)
	if _, err := o.Enqueue(t.Context(), groupEvents(12)...); err != nil {
		t.Fatal(err)
	}
	run(t, o)
	eventually(t, "delivery", func() bool { return o.Stats().Queued == 0 })
	if n := len(r.got()); n != 1 {
		t.Errorf("slack got %d messages, want 1", n)
	} else if body := string(r.got()[0].Body); !strings.Contains(body, "12 entries (index 0-11)") {
		t.Errorf("slack message %s lacks the count and range", body)
	}
	runs, err := os.ReadFile(out)
	if err != nil || string(runs) != "12 0 11\n" {
		t.Errorf("exec runs: %q, %v; want one run with count 12, range 0-11", runs, err)
	}
	var b GroupBody
	raw, _ := os.ReadFile(out + ".json")
	if err := json.Unmarshal(raw, &b); err != nil || len(b.Events) != 12 {
		t.Errorf("exec stdin: %d events, err %v; want 12", len(b.Events), err)
	}
}

// TestSecretURLsRedacted: no error or log line of a failed delivery, or of
// test-alert, shows a URL's user info, query or a Slack path.
func TestSecretURLsRedacted(t *testing.T) {
	r := newReceiver(t)
	r.setStatus(http.StatusInternalServerError)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	host := strings.TrimPrefix(r.srv.URL, "http://")
	cfg := Config{Sinks: []SinkConfig{
		{Name: "hook", Type: TypeWebhook, URL: "http://user:pass@" + host + "/hook?token=secret#frag-secret"},
		{Name: "hook-closed", Type: TypeWebhook, URL: "http://user:pass@" + closed + "/hook?token=secret"},
		{Name: "slack", Type: TypeSlack, URL: r.srv.URL + "/services/T0/B0/slacksecret"},
		{Name: "slack-closed", Type: TypeSlack, URL: "http://" + closed + "/services/T0/B0/slacksecret"},
		{Name: "am", Type: TypeAlertmanager, URL: "http://user:pass@" + closed},
	}, Outbox: fastRetry}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var buf logBuffer
	sinks := mustSinks(t, cfg, nil)
	err = TestAlert(t.Context(), sinks)
	if err == nil {
		t.Fatal("TestAlert() = nil, want failures")
	}
	check := func(what, s string) {
		t.Helper()
		for _, secret := range []string{"pass", "secret", "slacksecret", "frag"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s leaks %q: %s", what, secret, s)
			}
		}
	}
	check("TestAlert error", err.Error())
	for _, s := range sinks {
		check(s.Name()+" Send error", s.Send(t.Context(), forkEvent()).Error())
		if gs, ok := s.(GroupSink); ok {
			check(s.Name()+" SendGroup error", gs.SendGroup(t.Context(), groupEvents(2)).Error())
		}
	}
	o, err := Open(t.TempDir(), sinks, nil, slogTo(&buf), fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.Enqueue(t.Context(), forkEvent()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	o.Run(ctx)
	if !strings.Contains(buf.String(), "alert delivery failed") {
		t.Fatalf("no delivery failure logged:\n%s", buf.String())
	}
	check("outbox log", buf.String())

	// Config errors do not repeat the URL either.
	bad := Config{Sinks: []SinkConfig{{Name: "h", Type: TypeWebhook, URL: "http://user:pass@/x?token=secret"},
		{Name: "h2", Type: TypeWebhook, URL: "http://user:pass@host:port/x?token=secret"}}}
	if err := bad.Validate(); err == nil {
		t.Error("Validate() of URLs without a valid host = nil")
	} else {
		check("Validate error", err.Error())
	}
}

func TestRedactURL(t *testing.T) {
	for _, c := range []struct {
		in         string
		secretPath bool
		want       string
	}{
		{"https://hooks.example/vigil", false, "https://hooks.example/vigil"},
		{"https://u:p@hooks.example/vigil?token=t#f", false, "https://REDACTED@hooks.example/vigil?REDACTED#REDACTED"},
		{"https://hooks.slack.com/services/T0/B0/x", true, "https://hooks.slack.com/REDACTED"},
		{"::not a url", false, "<unparsable URL, hidden>"},
	} {
		if got := redactURL(c.in, c.secretPath); got != c.want {
			t.Errorf("redactURL(%q, %v) = %q, want %q", c.in, c.secretPath, got, c.want)
		}
	}
}
