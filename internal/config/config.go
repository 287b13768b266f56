// Package config reads the monitor's YAML configuration.
//
// Decoding is strict: an unknown key is an error, so a typo stops start-up
// instead of being ignored. Defaults are filled in one place ([Config.applyDefaults]),
// and [Config.Validate] reports the first problem with the path of the field
// that has it, e.g. `logs[1].public_key_file: open /x: no such file or directory`.
//
// A minimal file:
//
//	state_dir: /var/lib/vigil
//	logs:
//	  - name: rekor
//	    kind: rekor-v1
//	    url: https://rekor.sigstore.local
//	    public_key_file: /etc/vigil/rekor.pub
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/state"
)

// Log kinds.
const (
	KindRekorV1 = "rekor-v1"
	KindRekorV2 = "rekor-v2"
)

// Defaults.
const (
	DefaultListen    = ":9464"
	DefaultInterval  = 30 * time.Second
	DefaultStaleness = 15 * time.Minute
	DefaultTimeout   = 30 * time.Second
)

// Config is the whole monitor configuration.
type Config struct {
	StateDir  string `yaml:"state_dir"`
	Listen    string `yaml:"listen"`
	LogFormat string `yaml:"log_format"` // json | text
	LogLevel  string `yaml:"log_level"`  // debug | info | warn | error
	// Interval and Schedule are the default for logs that set neither.
	Interval Duration `yaml:"interval"`
	Schedule string   `yaml:"schedule"`
	Logs     []Log    `yaml:"logs"`
	Trust    Trust    `yaml:"trust"`
	// Identities are the watch and expect rules entries are matched against.
	Identities identity.Config `yaml:"identities"`
	// Scan tunes entry scanning.
	Scan Scan `yaml:"scan"`
	// Alerts configures the alert sinks and the durable outbox
	// (<state_dir>/outbox); see package alert.
	Alerts alert.Config `yaml:"alerts"`
}

// Log is one log to watch.
type Log struct {
	// Name labels the log in metrics, logs, alerts and the state file name.
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// URL is the Rekor v1 API base, or the Rekor v2 read (tiles) base.
	URL string `yaml:"url"`
	// PublicKeyFile is the log's PEM public key. When empty the key comes
	// from the trust material (trust:) by matching URL.
	PublicKeyFile string `yaml:"public_key_file"`
	// Origin is the checkpoint origin (Rekor v2) or the signer hostname whose
	// "<hostname> - <treeID>" is the origin (Rekor v1). Default: URL's host.
	Origin string `yaml:"origin"`
	// CAFile is a PEM bundle to verify the log's TLS certificate with.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify would be the only way to turn TLS verification
	// off; it is deliberately not offered.

	// Staleness: a log not verified for this long is stale (alert, /readyz).
	Staleness Duration `yaml:"staleness"`
	// MaxUnchanged: a log whose checkpoint does not grow for this long is
	// stale too. 0 turns this off (the default: idle private logs are normal).
	MaxUnchanged Duration `yaml:"max_unchanged"`
	// StartCheckpointFile holds a signed checkpoint to trust instead of
	// trusting the first one fetched.
	StartCheckpointFile string   `yaml:"start_checkpoint_file"`
	Interval            Duration `yaml:"interval"`
	Schedule            string   `yaml:"schedule"`
	Timeout             Duration `yaml:"timeout"`
}

// Scan tunes entry scanning. Scanning proves every entry part of the signed
// tree and matches it against the identity rules; it is on unless disabled.
type Scan struct {
	// Disabled turns scanning off: only checkpoints are verified.
	Disabled bool `yaml:"disabled"`
	// StartIndex: at first contact with a tree, start scanning at this index.
	StartIndex uint64 `yaml:"start_index"`
	// StartAtEnd: at first contact, start at the tree's current end.
	StartAtEnd bool `yaml:"start_at_end"`
	// Workers bounds parallel entry requests per log (default 16).
	Workers int `yaml:"workers"`
	// Chunk is the number of entries scanned between state saves (default 20000).
	Chunk uint64 `yaml:"chunk"`
	// WatchSeverity is the severity of watch-rule matches: info, warning
	// (default) or critical.
	WatchSeverity string `yaml:"watch_severity"`
}

// Trust is where log keys come from when a log has no public_key_file: a
// Sigstore trusted_root.json, or a TUF repository serving one (what
// `cosign initialize --mirror --root` uses for a private deployment).
type Trust struct {
	TrustedRootFile string `yaml:"trusted_root_file"`
	TUF             TUF    `yaml:"tuf"`
	// FollowShards watches, as a Rekor v2 log, every transparency log of
	// the trust material valid now that no logs[] entry names (by base URL
	// or host): a new Rekor v2 shard is a new origin, and this follows
	// what the trust material lists. Its origin is its base URL's host.
	// List Rekor v1 logs under logs[] explicitly.
	FollowShards bool `yaml:"follow_shards"`
}

// TUF locates a TUF repository whose trusted_root.json target lists the logs.
type TUF struct {
	Mirror   string `yaml:"mirror"`
	RootFile string `yaml:"root_file"` // initial root.json
	CacheDir string `yaml:"cache_dir"` // default <state_dir>/tuf
	CAFile   string `yaml:"ca_file"`
}

// Duration is a time.Duration written as "30s", "5m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// FieldError is a configuration error at one field.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	c, err := Read(path)
	if err != nil {
		return nil, err
	}
	if err := c.Complete(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Read decodes the configuration file at path strictly, without defaults
// or validation: for callers that override fields (command-line flags)
// before calling Complete.
func Read(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	c, err := decode(f)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a configuration strictly, fills in defaults and validates it.
func Parse(r io.Reader) (*Config, error) {
	c, err := decode(r)
	if err != nil {
		return nil, err
	}
	if err := c.Complete(); err != nil {
		return nil, err
	}
	return c, nil
}

func decode(r io.Reader) (*Config, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding YAML: %w", err)
	}
	return &c, nil
}

// Complete fills in defaults and validates c: what Parse does after
// decoding, for configurations built from flags.
func (c *Config) Complete() error {
	c.applyDefaults()
	return c.Validate()
}

// applyDefaults fills every default in one place.
func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.LogFormat == "" {
		c.LogFormat = "json"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.Interval == 0 && c.Schedule == "" {
		c.Interval = Duration(DefaultInterval)
	}
	if c.Scan.Workers == 0 {
		c.Scan.Workers = 16
	}
	if c.Scan.Chunk == 0 {
		c.Scan.Chunk = 20000
	}
	if c.Scan.WatchSeverity == "" {
		c.Scan.WatchSeverity = "warning"
	}
	if len(c.Alerts.Sinks) == 0 {
		// Events are never dropped silently: without sinks they go to the
		// monitor's own log.
		c.Alerts.Sinks = []alert.SinkConfig{{Name: "log", Type: alert.TypeLog}}
	}
	for i := range c.Logs {
		l := &c.Logs[i]
		if l.Interval == 0 && l.Schedule == "" {
			l.Interval, l.Schedule = c.Interval, c.Schedule
		}
		if l.Staleness == 0 {
			l.Staleness = Duration(DefaultStaleness)
		}
		if l.Timeout == 0 {
			l.Timeout = Duration(DefaultTimeout)
		}
		if l.Origin == "" {
			if u, err := url.Parse(l.URL); err == nil {
				l.Origin = u.Hostname()
			}
		}
	}
}

// Validate checks the configuration; the error names the offending field.
func (c *Config) Validate() error {
	if c.StateDir == "" {
		return fieldErr("state_dir", "required")
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		return fieldErr("log_format", "%q is not json or text", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fieldErr("log_level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if err := validateSchedule("", c.Interval, c.Schedule); err != nil {
		return err
	}
	if len(c.Logs) == 0 && !c.Trust.FollowShards {
		return fieldErr("logs", "at least one log is required (or trust.follow_shards)")
	}
	if c.Trust.FollowShards && c.Trust.TrustedRootFile == "" && c.Trust.TUF.Mirror == "" {
		return fieldErr("trust.follow_shards", "needs trust.trusted_root_file or trust.tuf")
	}
	seen := map[string]bool{}
	for i, l := range c.Logs {
		p := fmt.Sprintf("logs[%d].", i)
		if !state.ValidName(l.Name) {
			return fieldErr(p+"name", "%q must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit", l.Name)
		}
		if seen[l.Name] {
			return fieldErr(p+"name", "duplicate log name %q", l.Name)
		}
		seen[l.Name] = true
		if l.Kind != KindRekorV1 && l.Kind != KindRekorV2 {
			return fieldErr(p+"kind", "%q is not %s or %s", l.Kind, KindRekorV1, KindRekorV2)
		}
		u, err := url.Parse(l.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fieldErr(p+"url", "%q is not an http(s) URL", l.URL)
		}
		if l.Origin == "" {
			return fieldErr(p+"origin", "required when the URL has no host name")
		}
		if l.PublicKeyFile == "" && c.Trust.TrustedRootFile == "" && c.Trust.TUF.Mirror == "" {
			return fieldErr(p+"public_key_file", "required unless trust.trusted_root_file or trust.tuf is set")
		}
		for _, f := range []struct{ name, path string }{
			{"public_key_file", l.PublicKeyFile}, {"ca_file", l.CAFile}, {"start_checkpoint_file", l.StartCheckpointFile},
		} {
			if f.path == "" {
				continue
			}
			if _, err := os.Stat(f.path); err != nil {
				return &FieldError{Field: p + f.name, Err: err}
			}
		}
		for _, d := range []struct {
			name string
			v    Duration
		}{{"staleness", l.Staleness}, {"max_unchanged", l.MaxUnchanged}, {"timeout", l.Timeout}} {
			if d.v < 0 {
				return fieldErr(p+d.name, "%s must not be negative", time.Duration(d.v))
			}
		}
		if err := validateSchedule(p, l.Interval, l.Schedule); err != nil {
			return err
		}
	}
	if err := c.Alerts.Validate(); err != nil {
		return err
	}
	if err := c.Identities.Validate(); err != nil {
		return err
	}
	switch c.Scan.WatchSeverity {
	case "info", "warning", "critical":
	default:
		return fieldErr("scan.watch_severity", "%q is not info, warning or critical", c.Scan.WatchSeverity)
	}
	if c.Scan.Workers < 0 || c.Scan.Workers > 256 {
		return fieldErr("scan.workers", "%d is not between 1 and 256", c.Scan.Workers)
	}
	if c.Scan.StartAtEnd && c.Scan.StartIndex > 0 {
		return fieldErr("scan.start_index", "set start_index or start_at_end, not both")
	}
	t := c.Trust
	if t.TrustedRootFile != "" && t.TUF.Mirror != "" {
		return fieldErr("trust", "set trusted_root_file or tuf, not both")
	}
	if t.TrustedRootFile != "" {
		if _, err := os.Stat(t.TrustedRootFile); err != nil {
			return &FieldError{Field: "trust.trusted_root_file", Err: err}
		}
	}
	if t.TUF.Mirror != "" {
		if u, err := url.Parse(t.TUF.Mirror); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return fieldErr("trust.tuf.mirror", "%q is not an http(s) URL", t.TUF.Mirror)
		}
		if t.TUF.RootFile == "" {
			return fieldErr("trust.tuf.root_file", "required with trust.tuf.mirror (the initial root.json)")
		}
		if _, err := os.Stat(t.TUF.RootFile); err != nil {
			return &FieldError{Field: "trust.tuf.root_file", Err: err}
		}
	}
	return nil
}

func validateSchedule(prefix string, interval Duration, schedule string) error {
	if interval != 0 && schedule != "" {
		return fieldErr(prefix+"schedule", "set interval or schedule, not both")
	}
	if interval < 0 || (interval > 0 && time.Duration(interval) < time.Second) {
		return fieldErr(prefix+"interval", "%s is below the 1s minimum", time.Duration(interval))
	}
	if schedule != "" {
		if _, err := ParseSchedule(schedule); err != nil {
			return &FieldError{Field: prefix + "schedule", Err: err}
		}
	}
	return nil
}

// ParseSchedule parses a cron spec (5 fields) or descriptor (@every 1m,
// @hourly) with robfig/cron/v3.
func ParseSchedule(spec string) (cron.Schedule, error) {
	return cron.ParseStandard(spec)
}
