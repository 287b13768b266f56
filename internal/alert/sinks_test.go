package alert

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// seen is what a receiver got, reduced to what every sink must carry.
type seen struct {
	ID, DedupeKey, Kind, Text string
}

// sinkUnderTest builds one sink against its real receiver and reads back what
// the receiver got. fail makes the receiver refuse deliveries from now on
// (nil for sinks that cannot fail).
type sinkUnderTest struct {
	sink Sink
	got  func(t *testing.T) []seen
	fail func()
}

type sinkFactory func(t *testing.T) sinkUnderTest

func webhookUnderTest(t *testing.T) sinkUnderTest {
	r := newReceiver(t)
	s := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeWebhook, URL: r.srv.URL + "/hook"}}}, nil)[0]
	return sinkUnderTest{sink: s, fail: func() { r.setStatus(http.StatusServiceUnavailable) }, got: func(t *testing.T) []seen {
		var out []seen
		for _, e := range r.events() {
			out = append(out, seen{e.ID, e.DedupeKey, string(e.Kind), e.Summary + "\n" + e.Describe()})
		}
		return out
	}}
}

func slackUnderTest(t *testing.T) sinkUnderTest {
	r := newReceiver(t)
	urlFile := writeSecret(t, "slack-url", r.srv.URL+"/services/T000/B000/secret\n")
	s := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "slack", Type: TypeSlack, URLFile: urlFile}}}, nil)[0]
	return sinkUnderTest{sink: s, fail: func() { r.setStatus(http.StatusInternalServerError) }, got: func(t *testing.T) []seen {
		var out []seen
		for _, req := range r.got() {
			if req.Path != "/services/T000/B000/secret" {
				t.Errorf("slack message posted to %s", req.Path)
			}
			var m struct {
				Text   string            `json:"text"`
				Blocks []json.RawMessage `json:"blocks"`
			}
			if err := json.Unmarshal(req.Body, &m); err != nil {
				t.Fatalf("decoding slack body: %v", err)
			}
			if len(m.Blocks) != 4 {
				t.Errorf("slack message has %d blocks, want 4", len(m.Blocks))
			}
			out = append(out, seen{ID: between(string(req.Body), "event `", "`"), DedupeKey: between(string(req.Body), "dedupe key `", "`"),
				Kind: between(m.Text, "kind: ", "\n"), Text: m.Text})
		}
		return out
	}}
}

func alertmanagerFakeUnderTest(t *testing.T) sinkUnderTest {
	r := newReceiver(t)
	s := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "am", Type: TypeAlertmanager, URL: r.srv.URL}}}, nil)[0]
	return sinkUnderTest{sink: s, fail: func() { r.setStatus(http.StatusBadGateway) }, got: func(t *testing.T) []seen {
		var out []seen
		for _, req := range r.got() {
			if req.Path != "/api/v2/alerts" {
				t.Errorf("alerts posted to %s", req.Path)
			}
			var alerts []amAlert
			if err := json.Unmarshal(req.Body, &alerts); err != nil {
				t.Fatalf("decoding alertmanager body: %v", err)
			}
			for _, a := range alerts {
				out = append(out, seen{a.Annotations["event_id"], a.Labels["dedupe_key"], between(a.Annotations["description"], "kind: ", "\n"),
					a.Annotations["summary"] + "\n" + a.Annotations["description"]})
			}
		}
		return out
	}}
}

func execUnderTest(t *testing.T) sinkUnderTest {
	dir := t.TempDir()
	flag := filepath.Join(dir, "fail")
	script := `if [ -e "$FLAG" ]; then echo receiver down >&2; exit 3; fi
cat > "$OUT/$VIGIL_EVENT_ID.json"
printf '%s\n%s\n%s\n' "$VIGIL_EVENT_ID" "$VIGIL_EVENT_DEDUPE_KEY" "$VIGIL_EVENT_KIND" > "$OUT/$VIGIL_EVENT_ID.env"
printf '%s\n' "$VIGIL_EVENT_DESCRIPTION" >> "$OUT/$VIGIL_EVENT_ID.env"`
	t.Setenv("OUT", dir)
	t.Setenv("FLAG", flag)
	s := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeExec, Command: []string{"/bin/sh", "-c", script}}}}, nil)[0]
	return sinkUnderTest{sink: s, fail: func() { os.WriteFile(flag, nil, 0o600) }, got: func(t *testing.T) []seen {
		envs, _ := filepath.Glob(filepath.Join(dir, "*.env"))
		var out []seen
		for _, f := range envs {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitN(string(b), "\n", 4)
			var e Event
			body, err := os.ReadFile(strings.TrimSuffix(f, ".env") + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("stdin of the hook was not the event JSON: %v", err)
			}
			if e.ID != lines[0] {
				t.Errorf("stdin event %s, env event %s", e.ID, lines[0])
			}
			out = append(out, seen{lines[0], lines[1], lines[2], e.Summary + "\n" + lines[3]})
		}
		return out
	}}
}

func logUnderTest(t *testing.T) sinkUnderTest {
	var buf logBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	s := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "log", Type: TypeLog}}}, logger)[0]
	return sinkUnderTest{sink: s, got: func(t *testing.T) []seen {
		var out []seen
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]string
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("decoding log line %q: %v", line, err)
			}
			out = append(out, seen{m["id"], m["dedupe_key"], m["kind"], m["summary"] + "\n" + m["evidence"]})
		}
		return out
	}}
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	before, _, _ := strings.Cut(after, end)
	return before
}

var sinkFactories = []struct {
	name string
	new  sinkFactory
	// io is false for the log sink, which has no receiver that can fail
	// and nothing to cancel.
	io bool
}{
	{"webhook", webhookUnderTest, true},
	{"slack", slackUnderTest, true},
	{"alertmanager", alertmanagerFakeUnderTest, true},
	{"exec", execUnderTest, true},
	{"log", logUnderTest, false},
}

// TestSinkConformance runs the same checks against every sink type, each
// with a real receiver.
func TestSinkConformance(t *testing.T) {
	for _, f := range sinkFactories {
		t.Run(f.name, func(t *testing.T) {
			t.Run("delivers evidence", func(t *testing.T) {
				st := f.new(t)
				e := forkEvent()
				e.ID = newID(e.Time)
				e.DedupeKey = DefaultDedupeKey(e)
				e.Summary = DefaultSummary(e)
				if err := st.sink.Send(t.Context(), e); err != nil {
					t.Fatalf("Send() = %v", err)
				}
				got := st.got(t)
				if len(got) != 1 {
					t.Fatalf("receiver got %d events, want 1", len(got))
				}
				g := got[0]
				if g.ID != e.ID || g.DedupeKey != e.DedupeKey || g.Kind != string(e.Kind) {
					t.Errorf("receiver got id %q key %q kind %q, want %q %q %q", g.ID, g.DedupeKey, g.Kind, e.ID, e.DedupeKey, e.Kind)
				}
				for _, want := range []string{e.Summary, "reason: fork", "proof: 5f4d1c a1b2c3", strings.TrimSuffix(e.Evidence.OldCheckpoint, "\n"), strings.TrimSuffix(e.Evidence.NewCheckpoint, "\n")} {
					if !strings.Contains(g.Text, want) {
						t.Errorf("receiver text lacks %q:\n%s", want, g.Text)
					}
				}
			})
			if !f.io {
				return
			}
			t.Run("reports receiver failure", func(t *testing.T) {
				st := f.new(t)
				st.fail()
				e := SampleEvent(time.Now())
				if err := st.sink.Send(t.Context(), e); err == nil {
					t.Fatal("Send() to a failing receiver = nil, want an error")
				}
			})
			t.Run("honours cancellation", func(t *testing.T) {
				st := f.new(t)
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				if err := st.sink.Send(ctx, SampleEvent(time.Now())); err == nil {
					t.Fatal("Send() with a cancelled context = nil, want an error")
				}
			})
		})
	}
}

func TestWebhookSignatureAndToken(t *testing.T) {
	r := newReceiver(t)
	key := "hmac-key-123"
	cfg := SinkConfig{Name: "hook", Type: TypeWebhook, URL: r.srv.URL,
		HMACSecretFile:  writeSecret(t, "hmac", key+"\n"),
		BearerTokenFile: writeSecret(t, "token", "tok-1\n"),
		Headers:         map[string]string{"X-Team": "security"}}
	s := mustSinks(t, Config{Sinks: []SinkConfig{cfg}}, nil)[0]
	e := forkEvent()
	e.ID, e.DedupeKey = "id-1", "key-1"
	if err := s.Send(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	// The token file is re-read on every send: rotate it.
	if err := os.WriteFile(cfg.BearerTokenFile, []byte("tok-2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	got := r.got()
	for i, want := range []string{"Bearer tok-1", "Bearer tok-2"} {
		h := got[i].Header
		if a := h.Get("Authorization"); a != want {
			t.Errorf("request %d Authorization = %q, want %q", i, a, want)
		}
		if !CheckSignature([]byte(key), got[i].Body, h.Get(SignatureHeader)) {
			t.Errorf("request %d: signature %q does not verify", i, h.Get(SignatureHeader))
		}
		if CheckSignature([]byte("other key"), got[i].Body, h.Get(SignatureHeader)) {
			t.Errorf("request %d: signature verifies under the wrong key", i)
		}
		for k, v := range map[string]string{"X-Vigil-Dedupe-Key": "key-1", "X-Vigil-Event-Id": "id-1", "Content-Type": "application/json", "X-Team": "security"} {
			if h.Get(k) != v {
				t.Errorf("request %d header %s = %q, want %q", i, k, h.Get(k), v)
			}
		}
	}
}

func TestSlackURLFileNotLeaked(t *testing.T) {
	r := newReceiver(t)
	r.setStatus(http.StatusForbidden)
	secretURL := r.srv.URL + "/services/T000/B000/very-secret"
	s := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "slack", Type: TypeSlack, URLFile: writeSecret(t, "u", secretURL)}}}, nil)[0]
	err := s.Send(t.Context(), SampleEvent(time.Now()))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusForbidden {
		t.Fatalf("Send() = %v, want a *StatusError with 403", err)
	}
	if strings.Contains(err.Error(), "very-secret") {
		t.Errorf("error %q leaks the secret URL", err)
	}
	// Unreachable: the transport error must not leak it either.
	r.srv.Close()
	err = s.Send(t.Context(), SampleEvent(time.Now()))
	if err == nil || strings.Contains(err.Error(), "very-secret") {
		t.Errorf("Send() to a closed server = %v, want an error without the URL", err)
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	// The shell starts a child that would outlive it; the timeout must kill
	// both.
	script := `sleep 300 & echo $! > "` + pidFile + `"; wait`
	s := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "slow", Type: TypeExec, Timeout: 200 * time.Millisecond, Command: []string{"/bin/sh", "-c", script}}}}, nil)[0]
	err := s.Send(t.Context(), SampleEvent(time.Now()))
	var xe *ExecError
	if !errors.As(err, &xe) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send() = %v, want an *ExecError wrapping context.DeadlineExceeded", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	// The child was killed with the group: /proc shows it gone or a zombie
	// waiting for init.
	deadline := time.Now().Add(30 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %s of the timed-out hook is still running: %s", pid, stat)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestExecFailureCarriesStderr(t *testing.T) {
	s := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "x", Type: TypeExec, Command: []string{"/bin/sh", "-c", "echo pager API refused >&2; exit 7"}}}}, nil)[0]
	err := s.Send(t.Context(), SampleEvent(time.Now()))
	var xe *ExecError
	if !errors.As(err, &xe) || xe.Stderr != "pager API refused" {
		t.Fatalf("Send() = %v, want an *ExecError with the hook's stderr", err)
	}
}

func TestSinkFilters(t *testing.T) {
	f := filter{min: SeverityWarning, kinds: []Kind{KindIntegrityViolation, KindStaleLog}}
	fork := forkEvent()
	fork.DedupeKey = "k"
	stale := Event{Kind: KindStaleLog, Severity: SeverityInfo, Log: "rekor", DedupeKey: "s"}
	tests := []struct {
		name string
		e    Event
		want bool
	}{
		{"critical fork", fork, true},
		{"info stale is below min", stale, false},
		{"identity match kind not listed", Event{Kind: KindIdentityMatch, Severity: SeverityCritical, Log: "r"}, false},
		{"recovery of a fork, judged by the fork", Recovered(fork, time.Now(), ""), true},
		{"recovery of an info stale log", Recovered(stale, time.Now(), ""), false},
		{"test always", SampleEvent(time.Now()), true},
	}
	for _, tt := range tests {
		if got := f.Accepts(tt.e); got != tt.want {
			t.Errorf("%s: Accepts() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTestAlert(t *testing.T) {
	good := newReceiver(t)
	bad := newReceiver(t)
	bad.setStatus(http.StatusInternalServerError)
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{
		{Name: "good", Type: TypeWebhook, URL: good.srv.URL},
		{Name: "bad", Type: TypeWebhook, URL: bad.srv.URL},
		{Name: "log", Type: TypeLog, MinSeverity: SeverityCritical},
	}}, nil)
	err := TestAlert(t.Context(), sinks)
	var se *SinkError
	if !errors.As(err, &se) || se.Sink != "bad" {
		t.Fatalf("TestAlert() = %v, want a *SinkError for sink bad", err)
	}
	if strings.Contains(err.Error(), "good") {
		t.Errorf("TestAlert() = %v, blames the good sink", err)
	}
	evs := good.events()
	if len(evs) != 1 || evs[0].Kind != KindTest {
		t.Fatalf("good receiver got %+v, want one test event", evs)
	}
}

func TestWebhookCAFile(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Header.Get("X-Vigil-Event-Id"))
	}))
	defer srv.Close()
	caFile := writeSecret(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))

	untrusting := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "w", Type: TypeWebhook, URL: srv.URL}}}, nil)[0]
	if err := untrusting.Send(t.Context(), SampleEvent(time.Now())); err == nil {
		t.Error("Send() to a server with an unknown CA = nil, want a TLS error")
	}
	trusting := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "w", Type: TypeWebhook, URL: srv.URL, CAFile: caFile}}}, nil)[0]
	e := SampleEvent(time.Now())
	if err := trusting.Send(t.Context(), e); err != nil {
		t.Fatalf("Send() with ca_file = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != e.ID {
		t.Errorf("TLS receiver got %v, want [%s]", got, e.ID)
	}
}
