package alert

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Config is the alerts: section of the monitor's config file:
//
//	alerts:
//	  outbox:                     # all optional; zero means the default
//	    max_events: 10000
//	    when_full: drop_oldest    # drop_oldest | reject
//	    max_age: 168h
//	    retry_initial: 1s
//	    retry_max: 5m
//	  group:                      # entry events of one scan, one notification
//	    max_events: 1000          # events per notification; 1 turns grouping off
//	    max_listed: 10            # entries named in texts (log, Slack, Alertmanager)
//	  sinks:
//	    - name: security-hook
//	      type: webhook
//	      url: https://hooks.internal/vigil
//	      bearer_token_file: /etc/vigil/secrets/hook-token
//	      hmac_secret_file: /etc/vigil/secrets/hook-hmac
//	    - name: slack
//	      type: slack
//	      url_file: /etc/vigil/secrets/slack-url
//	      min_severity: warning
//	    - name: alertmanager
//	      type: alertmanager
//	      url: http://alertmanager.monitoring:9093
//	      labels: {team: security}
//	    - name: pager
//	      type: exec
//	      command: [/usr/local/bin/page-oncall, --vigil]
//	      timeout: 30s
//	      kinds: [integrity_violation, unexpected_identity]
//	    - name: log
//	      type: log
//
// With no sinks configured, events still go through the outbox and are
// dropped as delivered; the monitor should configure at least a log sink.
type Config struct {
	Sinks  []SinkConfig `yaml:"sinks"`
	Outbox OutboxConfig `yaml:"outbox"`
	Group  GroupConfig  `yaml:"group"`
}

// GroupConfig bounds the notifications of grouped events (see [Group]).
// Zero values mean the defaults.
type GroupConfig struct {
	// MaxEvents bounds the events of one notification (default 1000), so
	// that JSON bodies stay bounded; a larger group becomes several
	// notifications. 1 sends every event on its own.
	MaxEvents int `yaml:"max_events"`
	// MaxListed is how many entries the texts of a group name (log line,
	// Slack message, Alertmanager description; default 10). JSON bodies
	// carry every event regardless.
	MaxListed int `yaml:"max_listed"`
}

// Defaults of GroupConfig.
const (
	DefaultGroupMaxEvents = 1000
	DefaultGroupMaxListed = 10
)

func (c GroupConfig) withDefaults() GroupConfig {
	if c.MaxEvents <= 0 {
		c.MaxEvents = DefaultGroupMaxEvents
	}
	if c.MaxListed <= 0 {
		c.MaxListed = DefaultGroupMaxListed
	}
	return c
}

// OutboxConfig tunes the durable queue. Zero values mean the defaults below.
type OutboxConfig struct {
	// MaxEvents bounds the number of queued events (default 10000).
	MaxEvents int `yaml:"max_events"`
	// WhenFull is what Enqueue does when MaxEvents are queued: drop_oldest
	// (default) removes the oldest event of the lowest severity queued and
	// counts it in vigil_alerts_dropped_total{reason="queue_full"}; reject
	// returns [ErrOutboxFull] and stores nothing. Neither ever blocks.
	WhenFull FullPolicy `yaml:"when_full"`
	// MaxAge drops an event still undelivered after this long (default
	// 168h), counted in vigil_alerts_dropped_total{reason="expired"}.
	MaxAge time.Duration `yaml:"max_age"`
	// RetryInitial and RetryMax bound the jittered exponential backoff
	// between delivery attempts to one sink (defaults 1s and 5m).
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
}

// FullPolicy is OutboxConfig.WhenFull.
type FullPolicy string

// The values of when_full.
const (
	DropOldest FullPolicy = "drop_oldest"
	Reject     FullPolicy = "reject"
)

// Defaults of OutboxConfig and SinkConfig.
const (
	DefaultMaxEvents      = 10000
	DefaultMaxAge         = 7 * 24 * time.Hour
	DefaultRetryInitial   = time.Second
	DefaultRetryMax       = 5 * time.Minute
	DefaultSinkTimeout    = 10 * time.Second
	DefaultResendInterval = time.Minute
	DefaultOneOffDuration = time.Hour
)

func (c OutboxConfig) withDefaults() OutboxConfig {
	if c.MaxEvents <= 0 {
		c.MaxEvents = DefaultMaxEvents
	}
	if c.WhenFull == "" {
		c.WhenFull = DropOldest
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.RetryInitial <= 0 {
		c.RetryInitial = DefaultRetryInitial
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.RetryMax < c.RetryInitial {
		c.RetryMax = c.RetryInitial
	}
	return c
}

// SinkType selects a sink implementation.
type SinkType string

// The sink types: the type key of a sink in the config.
const (
	TypeWebhook      SinkType = "webhook"
	TypeSlack        SinkType = "slack"
	TypeAlertmanager SinkType = "alertmanager"
	TypeExec         SinkType = "exec"
	TypeLog          SinkType = "log"
)

// SinkConfig configures one sink. Which fields apply depends on Type; setting
// a field the type does not use is a validation error, so a misplaced key is
// caught at startup. Secrets (tokens, HMAC keys, Slack URLs) are read from
// files, re-read on every send so a rotated Kubernetes Secret takes effect
// without a restart.
type SinkConfig struct {
	// Name identifies the sink in metrics (the sink label), logs and the
	// outbox's delivery journal: 1-64 characters of [a-z0-9_-], unique.
	// Renaming a sink makes queued events count as undelivered to it.
	Name string   `yaml:"name"`
	Type SinkType `yaml:"type"`

	// URL (webhook, slack, alertmanager). For alertmanager it is the base
	// URL; events are POSTed to URL/api/v2/alerts.
	URL string `yaml:"url"`
	// URLFile holds the URL instead (webhook, slack): Slack webhook URLs are
	// secrets.
	URLFile string `yaml:"url_file"`
	// BearerTokenFile holds a token sent as "Authorization: Bearer <token>"
	// (webhook, alertmanager).
	BearerTokenFile string `yaml:"bearer_token_file"`
	// HMACSecretFile holds a key; the webhook body is signed with
	// HMAC-SHA256 and sent as "X-Vigil-Signature-256: sha256=<hex>".
	HMACSecretFile string `yaml:"hmac_secret_file"`
	// Headers are extra HTTP headers (webhook).
	Headers map[string]string `yaml:"headers"`
	// CAFile is a PEM bundle to trust instead of the system roots (HTTP sinks).
	CAFile string `yaml:"ca_file"`

	// Timeout bounds one delivery attempt (default 10s; exec: the command's
	// run time, after which it is killed).
	Timeout time.Duration `yaml:"timeout"`

	// MinSeverity drops events below it for this sink (default: all). A
	// recovered event is judged by the severity of what it resolves.
	MinSeverity Severity `yaml:"min_severity"`
	// Kinds, when set, limits the sink to these kinds (recovered events by
	// the kind they resolve).
	Kinds []Kind `yaml:"kinds"`

	// Labels are added to every alert (alertmanager).
	Labels map[string]string `yaml:"labels"`
	// ResendInterval is how often firing conditions are re-sent
	// (alertmanager; default 1m). Each alert's endsAt is 4 intervals ahead,
	// as Prometheus does, so a dead monitor's alerts expire.
	ResendInterval time.Duration `yaml:"resend_interval"`
	// OneOffDuration is how long a one-off event (identity match, unexpected
	// identity, malformed entry, test) stays active in Alertmanager
	// (alertmanager; default 1h).
	OneOffDuration time.Duration `yaml:"one_off_duration"`
	// RunbookURL is the base of the runbook_url annotation (alertmanager,
	// slack); "#<kind>" is appended.
	RunbookURL string `yaml:"runbook_url"`

	// Command is the program and its arguments (exec). It gets the event as
	// JSON on stdin and as VIGIL_EVENT_* environment variables.
	Command []string `yaml:"command"`
}

// FieldError is a configuration error in one field. Field is the path of the
// field in the monitor's config file, e.g. "alerts.sinks[1].url".
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

var sinkNameRE = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// Validate checks c without touching the file system (NewSinks reads the
// files). It returns nil or the errors.Join of one [*FieldError] per problem,
// each naming its field under "alerts.".
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, &FieldError{Field: "alerts." + field, Err: fmt.Errorf(format, args...)})
	}
	o := c.Outbox
	if o.MaxEvents < 0 {
		bad("outbox.max_events", "must not be negative")
	}
	if o.WhenFull != "" && o.WhenFull != DropOldest && o.WhenFull != Reject {
		bad("outbox.when_full", "unknown policy %q (want %s or %s)", o.WhenFull, DropOldest, Reject)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"max_age", o.MaxAge}, {"retry_initial", o.RetryInitial}, {"retry_max", o.RetryMax}} {
		if d.v < 0 {
			bad("outbox."+d.name, "must not be negative")
		}
	}
	if o.RetryInitial > 0 && o.RetryMax > 0 && o.RetryMax < o.RetryInitial {
		bad("outbox.retry_max", "%v is less than retry_initial %v", o.RetryMax, o.RetryInitial)
	}
	if c.Group.MaxEvents < 0 {
		bad("group.max_events", "must not be negative")
	}
	if c.Group.MaxListed < 0 {
		bad("group.max_listed", "must not be negative")
	}

	seen := map[string]int{}
	for i, s := range c.Sinks {
		p := fmt.Sprintf("sinks[%d].", i)
		if !sinkNameRE.MatchString(s.Name) {
			bad(p+"name", "%q must be 1-64 characters of a-z, 0-9, _ and -", s.Name)
		} else if j, dup := seen[s.Name]; dup {
			bad(p+"name", "%q already used by sinks[%d]", s.Name, j)
		} else {
			seen[s.Name] = i
		}
		if s.Timeout < 0 {
			bad(p+"timeout", "must not be negative")
		}
		if s.MinSeverity != "" && s.MinSeverity.Rank() < 0 {
			bad(p+"min_severity", "unknown severity %q (want info, warning or critical)", s.MinSeverity)
		}
		for j, k := range s.Kinds {
			if !k.Valid() || k == KindRecovered {
				bad(fmt.Sprintf("%skinds[%d]", p, j), "unknown kind %q", k)
			}
		}

		// used lists the type-specific fields set, so that each type can
		// reject the ones it ignores.
		used := map[string]bool{
			"url": s.URL != "", "url_file": s.URLFile != "",
			"bearer_token_file": s.BearerTokenFile != "", "hmac_secret_file": s.HMACSecretFile != "",
			"headers": len(s.Headers) > 0, "ca_file": s.CAFile != "",
			"labels": len(s.Labels) > 0, "resend_interval": s.ResendInterval != 0,
			"one_off_duration": s.OneOffDuration != 0, "runbook_url": s.RunbookURL != "",
			"command": len(s.Command) > 0,
		}
		var allowed []string
		switch s.Type {
		case TypeWebhook:
			allowed = []string{"url", "url_file", "bearer_token_file", "hmac_secret_file", "headers", "ca_file"}
			checkURLChoice(s, p, bad)
		case TypeSlack:
			allowed = []string{"url", "url_file", "ca_file", "runbook_url"}
			checkURLChoice(s, p, bad)
		case TypeAlertmanager:
			allowed = []string{"url", "bearer_token_file", "ca_file", "labels", "resend_interval", "one_off_duration", "runbook_url"}
			if s.URL == "" {
				bad(p+"url", "required for type alertmanager")
			} else {
				checkURL(s.URL, p+"url", bad)
			}
			if s.ResendInterval < 0 {
				bad(p+"resend_interval", "must not be negative")
			}
			if s.OneOffDuration < 0 {
				bad(p+"one_off_duration", "must not be negative")
			}
			for _, k := range sortedKeys(s.Labels) {
				if !labelNameRE.MatchString(k) {
					bad(p+"labels", "%q is not a valid label name", k)
				} else if reservedLabels[k] {
					bad(p+"labels", "%q is set by vigil", k)
				}
			}
		case TypeExec:
			allowed = []string{"command"}
			if len(s.Command) == 0 || s.Command[0] == "" {
				bad(p+"command", "required for type exec")
			}
		case TypeLog:
		case "":
			bad(p+"type", "required (webhook, slack, alertmanager, exec or log)")
		default:
			bad(p+"type", "unknown sink type %q (want webhook, slack, alertmanager, exec or log)", s.Type)
		}
		if s.Type != "" {
			ok := map[string]bool{}
			for _, f := range allowed {
				ok[f] = true
			}
			for _, f := range sortedKeys(used) {
				if used[f] && !ok[f] {
					bad(p+f, "not used by sink type %s", s.Type)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func checkURLChoice(s SinkConfig, p string, bad func(string, string, ...any)) {
	switch {
	case s.URL == "" && s.URLFile == "":
		bad(p+"url", "one of url or url_file is required for type %s", s.Type)
	case s.URL != "" && s.URLFile != "":
		bad(p+"url_file", "set either url or url_file, not both")
	case s.URL != "":
		checkURL(s.URL, p+"url", bad)
	}
}

func checkURL(raw, field string, bad func(string, string, ...any)) {
	// The URL may hold a secret (user info, a token in the query): the
	// messages do not repeat it.
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		bad(field, "not a valid URL: %w", err)
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		bad(field, "scheme must be http or https, not %q", u.Scheme)
	} else if u.Host == "" {
		bad(field, "no host in the URL")
	}
}
