package alert

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

const exampleConfig = `
outbox:
  max_events: 500
  when_full: reject
  max_age: 24h
  retry_initial: 2s
  retry_max: 1m
sinks:
  - name: security-hook
    type: webhook
    url: https://hooks.internal/vigil
    bearer_token_file: /etc/vigil/secrets/hook-token
    hmac_secret_file: /etc/vigil/secrets/hook-hmac
    headers: {X-Team: security}
  - name: slack
    type: slack
    url_file: /etc/vigil/secrets/slack-url
    min_severity: warning
  - name: alertmanager
    type: alertmanager
    url: http://alertmanager.monitoring:9093
    labels: {team: security}
    resend_interval: 30s
  - name: pager
    type: exec
    command: [/usr/local/bin/page-oncall, --vigil]
    timeout: 30s
    kinds: [integrity_violation, unexpected_identity]
  - name: log
    type: log
`

func decodeConfig(t *testing.T, s string) (Config, error) {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(s)))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	return c, err
}

func TestConfigDecode(t *testing.T) {
	c, err := decodeConfig(t, exampleConfig)
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	want := OutboxConfig{MaxEvents: 500, WhenFull: Reject, MaxAge: 24 * time.Hour, RetryInitial: 2 * time.Second, RetryMax: time.Minute}
	if diff := cmp.Diff(want, c.Outbox); diff != "" {
		t.Errorf("outbox (-want +got):\n%s", diff)
	}
	if got := len(c.Sinks); got != 5 {
		t.Fatalf("%d sinks, want 5", got)
	}
	if s := c.Sinks[3]; s.Timeout != 30*time.Second || !cmp.Equal(s.Kinds, []Kind{KindIntegrityViolation, KindUnexpectedIdentity}) {
		t.Errorf("exec sink = %+v", s)
	}
	if _, err := decodeConfig(t, "sinks:\n  - name: x\n    type: log\n    colour: red\n"); err == nil {
		t.Error("unknown key accepted; want strict decoding to reject it")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // the error lines, in order
	}{
		{"empty", Config{}, nil},
		{"missing type", Config{Sinks: []SinkConfig{{Name: "a"}}},
			[]string{"alerts.sinks[0].type: required (webhook, slack, alertmanager, exec or log)"}},
		{"bad name and duplicate", Config{Sinks: []SinkConfig{{Name: "A b", Type: TypeLog}, {Name: "x", Type: TypeLog}, {Name: "x", Type: TypeLog}}},
			[]string{`alerts.sinks[0].name: "A b" must be 1-64 characters of a-z, 0-9, _ and -`, `alerts.sinks[2].name: "x" already used by sinks[1]`}},
		{"webhook without url", Config{Sinks: []SinkConfig{{Name: "w", Type: TypeWebhook}}},
			[]string{"alerts.sinks[0].url: one of url or url_file is required for type webhook"}},
		{"webhook bad scheme", Config{Sinks: []SinkConfig{{Name: "w", Type: TypeWebhook, URL: "ftp://x"}}},
			[]string{`alerts.sinks[0].url: scheme must be http or https, not "ftp"`}},
		{"slack url and url_file", Config{Sinks: []SinkConfig{{Name: "s", Type: TypeSlack, URL: "https://x", URLFile: "/f"}}},
			[]string{"alerts.sinks[0].url_file: set either url or url_file, not both"}},
		{"field of another type", Config{Sinks: []SinkConfig{{Name: "l", Type: TypeLog, Command: []string{"x"}}, {Name: "w", Type: TypeWebhook, URL: "http://h", Labels: map[string]string{"a": "b"}}}},
			[]string{"alerts.sinks[0].command: not used by sink type log", "alerts.sinks[1].labels: not used by sink type webhook"}},
		{"alertmanager", Config{Sinks: []SinkConfig{{Name: "am", Type: TypeAlertmanager, Labels: map[string]string{"severity": "x", "1a": "y"}}}},
			[]string{"alerts.sinks[0].url: required for type alertmanager", `alerts.sinks[0].labels: "1a" is not a valid label name`, `alerts.sinks[0].labels: "severity" is set by vigil`}},
		{"exec without command", Config{Sinks: []SinkConfig{{Name: "x", Type: TypeExec}}},
			[]string{"alerts.sinks[0].command: required for type exec"}},
		{"filters", Config{Sinks: []SinkConfig{{Name: "l", Type: TypeLog, MinSeverity: "high", Kinds: []Kind{KindStaleLog, "fork", KindRecovered}}}},
			[]string{`alerts.sinks[0].min_severity: unknown severity "high" (want info, warning or critical)`, `alerts.sinks[0].kinds[1]: unknown kind "fork"`, `alerts.sinks[0].kinds[2]: unknown kind "recovered"`}},
		{"outbox", Config{Outbox: OutboxConfig{MaxEvents: -1, WhenFull: "block", RetryInitial: time.Minute, RetryMax: time.Second}},
			[]string{"alerts.outbox.max_events: must not be negative", `alerts.outbox.when_full: unknown policy "block" (want drop_oldest or reject)`, "alerts.outbox.retry_max: 1s is less than retry_initial 1m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Errorf("Validate() = %v, not a *FieldError", err)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewSinksChecksFiles(t *testing.T) {
	_, err := NewSinks(Config{Sinks: []SinkConfig{{Name: "w", Type: TypeWebhook, URL: "http://127.0.0.1:1", BearerTokenFile: "/nonexistent/token"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "alerts.sinks[0] (w): reading secret file") {
		t.Errorf("NewSinks with a missing token file = %v, want a reading secret file error naming the sink", err)
	}
	empty := writeSecret(t, "empty", "\n")
	_, err = NewSinks(Config{Sinks: []SinkConfig{{Name: "w", Type: TypeWebhook, URL: "http://127.0.0.1:1", HMACSecretFile: empty}}}, nil)
	if !errors.Is(err, ErrEmptySecret) {
		t.Errorf("NewSinks with an empty HMAC file = %v, want ErrEmptySecret", err)
	}
	_, err = NewSinks(Config{Sinks: []SinkConfig{{Name: "w", Type: TypeWebhook, URL: "http://127.0.0.1:1", CAFile: empty}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "no PEM certificates") {
		t.Errorf("NewSinks with a bad CA file = %v", err)
	}
}
