package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/state"
)

// Ranges of the numeric settings. Validate rejects a value outside its
// range with an error naming the field; zero means "the default" where a
// setting has one, and is checked after defaults are filled in.
//
//	setting                          default        range
//	interval, logs[].interval        30s            1s .. 24h
//	logs[].staleness                 max(15m, 2×interval)  10s .. 720h, and longer than the interval
//	logs[].max_unchanged             0 (off)        0, or 1m .. 8760h
//	logs[].timeout                   30s            100ms .. 10m
//	scan.workers                     16             1 .. 256
//	scan.chunk                       20000          1 .. 1000000
//	scan.start_index                 0              0 .. 2^63-1
//	scan.memory_budget               64MiB          1MiB .. 4GiB
//	alerts.outbox.max_events         10000          1 .. 1000000
//	alerts.outbox.max_age            168h           1m .. 8760h
//	alerts.outbox.retry_initial      1s             100ms .. 1h
//	alerts.outbox.retry_max          5m             100ms .. 24h, and >= retry_initial
//	alerts.sinks[].timeout           10s            100ms .. 10m
//	alerts.sinks[].resend_interval   1m             1s .. 24h
//	alerts.sinks[].one_off_duration  1h             1m .. 720h
//	reconcile.max_pending            100000         100 .. 10000000
//	reconcile.pairs[].max_merge_delay 24h           1s .. 720h
//	reconcile.pairs[].unused_window  1h             1s .. 720h
//	witness.archive_max              100000         100 .. 100000000
//	peers[].interval                 interval       1s ..
//	peers[].timeout                  30s            100ms .. 10m
//	reconcile.clock_skew             10s            1ms .. 1h
const (
	MinInterval       = time.Second
	MaxInterval       = 24 * time.Hour
	MinStaleness      = 10 * time.Second
	MaxStaleness      = 30 * 24 * time.Hour
	MinMaxUnchanged   = time.Minute
	MaxMaxUnchanged   = 365 * 24 * time.Hour
	MinTimeout        = 100 * time.Millisecond
	MaxTimeout        = 10 * time.Minute
	MaxWorkers        = 256
	MaxChunk          = 1000000
	MaxStartIndex     = math.MaxInt64
	MinMemoryBudget   = 1 * MiB
	MaxMemoryBudget   = 4 * GiB
	MaxOutboxEvents   = 1000000
	MaxGroupEvents    = 100000 // alerts.group.max_events
	MaxGroupListed    = 1000   // alerts.group.max_listed
	MinOutboxMaxAge   = time.Minute
	MaxOutboxMaxAge   = 365 * 24 * time.Hour
	MinRetry          = 100 * time.Millisecond
	MaxRetryInitial   = time.Hour
	MaxRetryMax       = 24 * time.Hour
	MinResendInterval = time.Second
	MaxResendInterval = 24 * time.Hour
	MinOneOffDuration = time.Minute
	MaxOneOffDuration = 30 * 24 * time.Hour
	MinMaxPending     = 100
	MaxMaxPending     = 10000000
	MinMaxMergeDelay  = time.Second
	MaxMaxMergeDelay  = 30 * 24 * time.Hour
	MinClockSkew      = time.Millisecond
	MaxClockSkew      = time.Hour
	MinUnusedWindow   = time.Second
	MaxUnusedWindow   = 30 * 24 * time.Hour
	MinArchiveMax     = 100
	MaxArchiveMax     = 100000000
)

// errorList collects the errors of one validation.
type errorList []error

func (errs *errorList) add(field, format string, args ...any) {
	*errs = append(*errs, fieldErr(field, format, args...))
}

// duration checks v against [lo, hi]. Negative values keep their own
// message: they are never a matter of range.
func (errs *errorList) duration(field string, v, lo, hi time.Duration) {
	switch {
	case v < 0:
		errs.add(field, "%s must not be negative", v)
	case v < lo:
		errs.add(field, "%s is below the %s minimum", v, formatDuration(lo))
	case v > hi:
		errs.add(field, "%s is above the %s maximum", v, formatDuration(hi))
	}
}

// formatDuration is d.String() without zero trailing units: 24h, not 24h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Validate checks the configuration. It returns nil or the errors.Join of
// one [*FieldError] per problem, each naming its field, in the order of
// the file; the message lists them one per line. Validate does not fill in
// defaults ([Config.Complete] does), so zero values that mean "the
// default" are errors here.
func (c *Config) Validate() error {
	var errs errorList
	if c.StateDir == "" {
		errs.add("state_dir", "required")
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs.add("log_format", "%q is not json or text", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs.add("log_level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	errs.schedule("", c.Interval, c.Schedule)
	if len(c.Logs) == 0 && !c.Trust.FollowShards {
		errs.add("logs", "at least one log is required (or trust.follow_shards)")
	}
	if c.Trust.FollowShards && c.Trust.TrustedRootFile == "" && c.Trust.TUF.Mirror == "" {
		errs.add("trust.follow_shards", "needs trust.trusted_root_file or trust.tuf")
	}
	if c.Trust.FollowShards && c.Trust.TrustedRootFile != "" && c.Trust.SigningConfigFile == "" {
		errs.add("trust.follow_shards", "with trust.trusted_root_file needs trust.signing_config_file: the signing config says which logs are Rekor v1 and which v2")
	}
	if c.Trust.SigningConfigFile != "" && c.Trust.TrustedRootFile == "" {
		errs.add("trust.signing_config_file", "goes with trust.trusted_root_file (a TUF repository serves its own)")
	}
	seen := map[string]bool{}
	for i, l := range c.Logs {
		errs.log(c, i, l, seen)
	}
	errs.alerts(c.Alerts)
	if err := c.Identities.Validate(); err != nil {
		errs = append(errs, identityErrors(err)...)
	}
	errs.scan(c.Scan)
	errs.trust(c.Trust)
	errs.reconcile(c)
	errs.index(c)
	errs.witness(c)
	return errors.Join(errs...)
}

func (errs *errorList) witness(c *Config) {
	w := c.Witness
	if w.Listen != "" {
		if _, _, err := net.SplitHostPort(w.Listen); err != nil {
			errs.add("witness.listen", "%q is not host:port: %v", w.Listen, err)
		} else if w.Listen == c.Listen || w.Listen == c.API.Listen {
			errs.add("witness.listen", "%q is already the metrics or API address: the witness needs a listener of its own", w.Listen)
		}
		if w.KeyFile == "" {
			errs.add("witness.key_file", "required with witness.listen: create one with `monitor witness keygen`")
		}
	}
	if w.KeyFile != "" {
		if _, err := os.Stat(w.KeyFile); err != nil {
			*errs = append(*errs, &FieldError{Field: "witness.key_file", Err: fmt.Errorf("%w (create one with `monitor witness keygen`)", err)})
		}
	}
	if w.ArchiveMax < MinArchiveMax || w.ArchiveMax > MaxArchiveMax {
		errs.add("witness.archive_max", "%d is not between %d and %d", w.ArchiveMax, MinArchiveMax, MaxArchiveMax)
	}
	for i, l := range c.Logs {
		p := fmt.Sprintf("logs[%d].", i)
		if !l.Witness {
			if l.WitnessSeverity != "" {
				errs.add(p+"witness_severity", "is for witness: true")
			}
			continue
		}
		if l.Kind != KindRekorV2 && l.Kind != KindStaticCT {
			errs.add(p+"witness", "kind %s cannot be witnessed: only rekor-v2 and static-ct logs publish plain C2SP checkpoints of one tree", l.Kind)
		}
		if w.Listen == "" {
			errs.add(p+"witness", "needs witness.listen (and witness.key_file): the log must be able to ask this monitor for cosignatures")
		}
		if l.WitnessSeverity.Rank() < 0 {
			errs.add(p+"witness_severity", "%q is not info, warning or critical", l.WitnessSeverity)
		}
	}
	names := map[string]bool{}
	for i, pr := range c.Peers {
		p := fmt.Sprintf("peers[%d].", i)
		if pr.Name == "" || !state.ValidName(pr.Name) {
			errs.add(p+"name", "%q must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit", pr.Name)
		} else if names[pr.Name] {
			errs.add(p+"name", "duplicate peer name %q", pr.Name)
		}
		names[pr.Name] = true
		if u, err := url.Parse(pr.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.add(p+"url", "%q is not an http(s) URL", pr.URL)
		}
		if pr.Key == "" {
			errs.add(p+"key", "required: the peer's cosignature/v1 verifier key")
		} else if _, err := fnote.NewVerifierForCosignatureV1(pr.Key); err != nil {
			errs.add(p+"key", "%q is not a cosignature/v1 verifier key (name+hash+base64): %v", pr.Key, err)
		}
		if pr.CAFile != "" {
			if _, err := os.Stat(pr.CAFile); err != nil {
				*errs = append(*errs, &FieldError{Field: p + "ca_file", Err: err})
			}
		}
		if d := time.Duration(pr.Interval); d < MinInterval {
			errs.add(p+"interval", "%s is below the minimum %s", d, MinInterval)
		}
		if d := time.Duration(pr.Timeout); d < MinTimeout || d > MaxTimeout {
			errs.add(p+"timeout", "%s is not between %s and %s", d, MinTimeout, MaxTimeout)
		}
	}
}

func (errs *errorList) index(c *Config) {
	ix := c.Index
	if !ix.Disabled {
		switch ix.Driver {
		case "sqlite":
			if ix.Path == "" && c.StateDir != "" {
				errs.add("index.path", "required for driver sqlite")
			}
			if ix.DSNFile != "" {
				errs.add("index.dsn_file", "is for driver postgres, not sqlite")
			}
		case "postgres":
			if ix.DSNFile == "" {
				errs.add("index.dsn_file", "required for driver postgres: a file holding the connection string")
			} else if _, err := os.Stat(ix.DSNFile); err != nil {
				*errs = append(*errs, &FieldError{Field: "index.dsn_file", Err: err})
			}
			if ix.Path != "" {
				errs.add("index.path", "is for driver sqlite, not postgres")
			}
		default:
			errs.add("index.driver", "%q is not sqlite or postgres", ix.Driver)
		}
	}
	if c.API.Listen != "" {
		if _, _, err := net.SplitHostPort(c.API.Listen); err != nil {
			errs.add("api.listen", "%q is not host:port: %v", c.API.Listen, err)
		} else if c.API.Listen == c.Listen {
			errs.add("api.listen", "is the metrics address %q: leave it empty to share that listener", c.Listen)
		}
	}
	if c.API.TokenFile != "" {
		if _, err := os.Stat(c.API.TokenFile); err != nil {
			*errs = append(*errs, &FieldError{Field: "api.token_file", Err: err})
		}
	}
}

func (errs *errorList) reconcile(c *Config) {
	r := c.Reconcile
	if r.MaxPending < MinMaxPending || r.MaxPending > MaxMaxPending {
		errs.add("reconcile.max_pending", "%d is not between %d and %d", r.MaxPending, MinMaxPending, MaxMaxPending)
	}
	errs.duration("reconcile.clock_skew", time.Duration(r.ClockSkew), MinClockSkew, MaxClockSkew)
	kinds := map[string]Kind{}
	for _, l := range c.Logs {
		kinds[l.Name] = l.Kind
	}
	hasTrust := c.Trust.TrustedRootFile != "" || c.Trust.TUF.Mirror != ""
	seen := map[[2]string]bool{}
	for i, p := range r.Pairs {
		f := fmt.Sprintf("reconcile.pairs[%d].", i)
		switch k, ok := kinds[p.Rekor]; {
		case p.Rekor == "":
			errs.add(f+"rekor", "required: the name of a rekor-v1 or rekor-v2 log")
		case !ok && !c.Trust.FollowShards:
			errs.add(f+"rekor", "no log is named %q", p.Rekor)
		case ok && k.CertificateTransparency():
			errs.add(f+"rekor", "log %q is of kind %s, not a Rekor log", p.Rekor, k)
		}
		switch k, ok := kinds[p.CT]; {
		case p.CT == "":
			errs.add(f+"ct", "required: the name of a ct or static-ct log")
		case !ok:
			errs.add(f+"ct", "no log is named %q", p.CT)
		case !k.CertificateTransparency():
			errs.add(f+"ct", "log %q is of kind %s, not a ct or static-ct log", p.CT, k)
		}
		if seen[[2]string{p.Rekor, p.CT}] {
			errs.add(f+"ct", "the pair %s and %s is listed twice", p.Rekor, p.CT)
		}
		seen[[2]string{p.Rekor, p.CT}] = true
		if len(p.CAFiles) == 0 && !hasTrust {
			errs.add(f+"ca_files", "required unless trust.trusted_root_file or trust.tuf gives the certificate authorities")
		}
		for j, path := range p.CAFiles {
			if _, err := os.Stat(path); err != nil {
				*errs = append(*errs, &FieldError{Field: fmt.Sprintf("%sca_files[%d]", f, j), Err: err})
			}
		}
		errs.duration(f+"max_merge_delay", time.Duration(p.MaxMergeDelay), MinMaxMergeDelay, MaxMaxMergeDelay)
		errs.duration(f+"unused_window", time.Duration(p.UnusedWindow), MinUnusedWindow, MaxUnusedWindow)
		switch p.UnusedSeverity {
		case alert.SeverityInfo, alert.SeverityWarning, alert.SeverityCritical:
		default:
			errs.add(f+"unused_severity", "%q is not info, warning or critical", p.UnusedSeverity)
		}
	}
}

func (errs *errorList) log(c *Config, i int, l Log, seen map[string]bool) {
	p := fmt.Sprintf("logs[%d].", i)
	if !state.ValidName(l.Name) {
		errs.add(p+"name", "%q must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit", l.Name)
	} else if seen[l.Name] {
		errs.add(p+"name", "duplicate log name %q", l.Name)
	}
	seen[l.Name] = true
	if !slices.Contains(Kinds, l.Kind) {
		names := make([]string, len(Kinds))
		for i, k := range Kinds {
			names[i] = string(k)
		}
		errs.add(p+"kind", "%q is not %s or %s", l.Kind, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
	}
	if u, err := url.Parse(l.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs.add(p+"url", "%q is not an http(s) URL", l.URL)
	} else if l.Origin == "" {
		errs.add(p+"origin", "required when the URL has no host name")
	}
	if l.PublicKeyFile == "" && c.Trust.TrustedRootFile == "" && c.Trust.TUF.Mirror == "" {
		errs.add(p+"public_key_file", "required unless trust.trusted_root_file or trust.tuf is set")
	}
	for _, f := range []struct{ name, path string }{
		{"public_key_file", l.PublicKeyFile}, {"ca_file", l.CAFile}, {"start_checkpoint_file", l.StartCheckpointFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			*errs = append(*errs, &FieldError{Field: p + f.name, Err: err})
		}
	}
	errs.duration(p+"staleness", time.Duration(l.Staleness), MinStaleness, MaxStaleness)
	if l.MaxUnchanged != 0 {
		errs.duration(p+"max_unchanged", time.Duration(l.MaxUnchanged), MinMaxUnchanged, MaxMaxUnchanged)
	}
	errs.duration(p+"timeout", time.Duration(l.Timeout), MinTimeout, MaxTimeout)
	// A log that inherited the top-level interval or schedule had it
	// checked there already.
	if l.Interval != c.Interval || l.Schedule != c.Schedule {
		errs.schedule(p, l.Interval, l.Schedule)
	}
	if l.Interval > 0 && time.Duration(l.Staleness) >= MinStaleness && l.Staleness <= l.Interval {
		errs.add(p+"staleness", "%s is not longer than the interval %s: the log would turn stale between two good checks",
			time.Duration(l.Staleness), time.Duration(l.Interval))
	}
}

func (errs *errorList) schedule(prefix string, interval Duration, schedule string) {
	if interval != 0 && schedule != "" {
		errs.add(prefix+"schedule", "set interval or schedule, not both")
	}
	if interval < 0 || (interval > 0 && time.Duration(interval) < MinInterval) {
		errs.add(prefix+"interval", "%s is below the %s minimum", time.Duration(interval), formatDuration(MinInterval))
	} else if time.Duration(interval) > MaxInterval {
		errs.add(prefix+"interval", "%s is above the %s maximum", time.Duration(interval), formatDuration(MaxInterval))
	}
	if schedule != "" {
		if _, err := ParseSchedule(schedule); err != nil {
			*errs = append(*errs, &FieldError{Field: prefix + "schedule", Err: err})
		}
	}
}

func (errs *errorList) scan(s Scan) {
	switch s.WatchSeverity {
	case alert.SeverityInfo, alert.SeverityWarning, alert.SeverityCritical:
	default:
		errs.add("scan.watch_severity", "%q is not info, warning or critical", s.WatchSeverity)
	}
	if s.Workers < 1 || s.Workers > MaxWorkers {
		errs.add("scan.workers", "%d is not between 1 and %d", s.Workers, MaxWorkers)
	}
	if s.Chunk < 1 || s.Chunk > MaxChunk {
		errs.add("scan.chunk", "%d is not between 1 and %d", s.Chunk, MaxChunk)
	}
	if s.StartIndex > MaxStartIndex {
		errs.add("scan.start_index", "%d is above the maximum %d", s.StartIndex, uint64(MaxStartIndex))
	}
	if s.StartAtEnd && s.StartIndex > 0 {
		errs.add("scan.start_index", "set start_index or start_at_end, not both")
	}
	if s.MemoryBudget < MinMemoryBudget || s.MemoryBudget > MaxMemoryBudget {
		errs.add("scan.memory_budget", "%s is not between %s and %s", s.MemoryBudget, MinMemoryBudget, MaxMemoryBudget)
	}
}

func (errs *errorList) trust(t Trust) {
	if t.TrustedRootFile != "" && t.TUF.Mirror != "" {
		errs.add("trust", "set trusted_root_file or tuf, not both")
	}
	if t.TrustedRootFile != "" {
		if _, err := os.Stat(t.TrustedRootFile); err != nil {
			*errs = append(*errs, &FieldError{Field: "trust.trusted_root_file", Err: err})
		}
	}
	if t.SigningConfigFile != "" {
		if _, err := os.Stat(t.SigningConfigFile); err != nil {
			*errs = append(*errs, &FieldError{Field: "trust.signing_config_file", Err: err})
		}
	}
	w := t.Watch
	if time.Duration(w.Interval) < time.Minute || time.Duration(w.Interval) > 24*time.Hour {
		errs.add("trust.watch.interval", "%s is not between 1m and 24h", time.Duration(w.Interval))
	}
	if w.Critical <= 0 || w.Warning < w.Critical {
		errs.add("trust.watch", "want 0 < critical (%s) <= warning (%s)", time.Duration(w.Critical), time.Duration(w.Warning))
	}
	for i, e := range w.Endpoints {
		if u, err := url.Parse(e); err != nil || u.Scheme != "https" || u.Host == "" {
			errs.add(fmt.Sprintf("trust.watch.endpoints[%d]", i), "%q is not an https URL", e)
		}
	}
	for i, f := range w.CAFiles {
		if _, err := os.Stat(f); err != nil {
			*errs = append(*errs, &FieldError{Field: fmt.Sprintf("trust.watch.ca_files[%d]", i), Err: err})
		}
	}
	if t.TUF.Mirror != "" {
		if u, err := url.Parse(t.TUF.Mirror); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			errs.add("trust.tuf.mirror", "%q is not an http(s) URL", t.TUF.Mirror)
		}
		if t.TUF.RootFile == "" {
			errs.add("trust.tuf.root_file", "required with trust.tuf.mirror (the initial root.json)")
		} else if _, err := os.Stat(t.TUF.RootFile); err != nil {
			*errs = append(*errs, &FieldError{Field: "trust.tuf.root_file", Err: err})
		}
	}
}

// alerts checks the alerts: section: package alert's own checks (types,
// names, URLs, negative values), then the ranges, which package alert
// leaves to its caller. Zero values mean alert's defaults and are not
// range-checked.
func (errs *errorList) alerts(a alert.Config) {
	if err := a.Validate(); err != nil {
		*errs = append(*errs, alertErrors(err)...)
	}
	o := a.Outbox
	if o.MaxEvents > MaxOutboxEvents {
		errs.add("alerts.outbox.max_events", "%d is not between 1 and %d", o.MaxEvents, MaxOutboxEvents)
	}
	if g := a.Group; g.MaxEvents > MaxGroupEvents {
		errs.add("alerts.group.max_events", "%d is not between 1 and %d", g.MaxEvents, MaxGroupEvents)
	}
	if g := a.Group; g.MaxListed > MaxGroupListed {
		errs.add("alerts.group.max_listed", "%d is not between 0 and %d", g.MaxListed, MaxGroupListed)
	}
	// Negative values are reported by alert.Config.Validate.
	inRange := func(field string, v, lo, hi time.Duration) {
		if v > 0 {
			errs.duration(field, v, lo, hi)
		}
	}
	inRange("alerts.outbox.max_age", o.MaxAge, MinOutboxMaxAge, MaxOutboxMaxAge)
	inRange("alerts.outbox.retry_initial", o.RetryInitial, MinRetry, MaxRetryInitial)
	inRange("alerts.outbox.retry_max", o.RetryMax, MinRetry, MaxRetryMax)
	if o.RetryInitial <= 0 && o.RetryMax > 0 && o.RetryMax < alert.DefaultRetryInitial {
		errs.add("alerts.outbox.retry_max", "%v is less than the default retry_initial %v", o.RetryMax, alert.DefaultRetryInitial)
	}
	for i, s := range a.Sinks {
		p := fmt.Sprintf("alerts.sinks[%d].", i)
		inRange(p+"timeout", s.Timeout, MinTimeout, MaxTimeout)
		inRange(p+"resend_interval", s.ResendInterval, MinResendInterval, MaxResendInterval)
		inRange(p+"one_off_duration", s.OneOffDuration, MinOneOffDuration, MaxOneOffDuration)
	}
}

// alertErrors turns the errors of alert.Config.Validate into FieldErrors of
// this package, so that callers need to know only one error type.
func alertErrors(err error) []error {
	var out []error
	for _, e := range Errors(err) {
		var fe *alert.FieldError
		if errors.As(e, &fe) {
			out = append(out, &FieldError{Field: fe.Field, Err: fe.Err})
		} else {
			out = append(out, &FieldError{Field: "alerts", Err: e})
		}
	}
	return out
}

// identityErrors turns the errors of identity.Config.Validate, plain errors
// whose message starts with the field path ("identities.watch[2].subject:
// ..."), into FieldErrors that still wrap the cause.
func identityErrors(err error) []error {
	var out []error
	for _, e := range Errors(err) {
		field, msg, ok := strings.Cut(e.Error(), ": ")
		if !ok || !strings.HasPrefix(field, "identities") {
			out = append(out, &FieldError{Field: "identities", Err: e})
			continue
		}
		out = append(out, &FieldError{Field: field, Err: &trimmedError{msg: msg, err: e}})
	}
	return out
}

// trimmedError is err with the field path cut off its message. It unwraps
// to what err wraps.
type trimmedError struct {
	msg string
	err error
}

func (e *trimmedError) Error() string { return e.msg }
func (e *trimmedError) Unwrap() error { return errors.Unwrap(e.err) }

// Errors returns the errors joined in err (errors.Join, as Validate and
// Load return several at once), or err alone.
func Errors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	return []error{err}
}

// Warnings returns advice about a valid configuration that does not stop
// start-up: today, plain http:// URLs of logs, TUF mirrors and alert sinks.
// URLs whose host is a loopback address (localhost, 127.0.0.0/8, ::1) are
// not reported: that traffic does not leave the machine (or the pod).
// Call it after [Config.Complete]; the result is nil when there is nothing
// to say.
func (c *Config) Warnings() []string {
	var w []string
	for i, l := range c.Logs {
		if plainHTTP(l.URL) {
			w = append(w, fmt.Sprintf("logs[%d].url: plain http:// — checkpoint signatures still protect the log data, but not the transport; use https", i))
		}
	}
	if plainHTTP(c.Trust.TUF.Mirror) {
		w = append(w, "trust.tuf.mirror: plain http:// — TUF metadata is signed, but an attacker on the path can hold back updates (freeze attacks up to the metadata expiry); use https")
	}
	for i, s := range c.Alerts.Sinks {
		if plainHTTP(s.URL) {
			w = append(w, fmt.Sprintf("alerts.sinks[%d].url: plain http:// — alerts and their secrets travel unencrypted", i))
		}
	}
	return w
}

// plainHTTP reports whether raw is an http:// URL to a host that is not
// a loopback address.
func plainHTTP(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return false
	}
	return true
}
