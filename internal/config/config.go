// Package config reads the monitor's YAML configuration.
//
// Decoding is strict: an unknown key is an error, so a typo stops start-up
// instead of being ignored. Errors name the field path and line, and an
// unknown key comes with the nearest known one:
//
//	logs[0].public_key_fil: line 6: field public_key_fil not found; did you mean public_key_file?
//	logs[0].staleness: line 7: "5" is not a duration (use a unit, e.g. 30s)
//
// Defaults are filled in one place ([Config.applyDefaults]), and
// [Config.Validate] reports every problem at once, one [*FieldError] per
// field joined with errors.Join, e.g.
// `logs[1].public_key_file: stat /x: no such file or directory`. Every
// numeric setting has a range (see [MinInterval] and the table above it);
// a value outside it is an error, never clamped. [Config.Warnings] lists
// what is valid but unwise, such as plain http:// URLs.
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
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/state"
)

// Kind is a kind of log: the protocol it is read with. Each kind is a
// package implementing tlog.Log, registered in package monitor.
type Kind string

// Log kinds.
const (
	KindRekorV1  Kind = "rekor-v1"
	KindRekorV2  Kind = "rekor-v2"
	KindCT       Kind = "ct"        // certificate transparency, RFC 6962 API
	KindStaticCT Kind = "static-ct" // certificate transparency, C2SP static-ct-api
)

// Kinds lists the log kinds, in the order error messages name them.
var Kinds = []Kind{KindRekorV1, KindRekorV2, KindCT, KindStaticCT}

// CertificateTransparency reports whether k is a certificate transparency
// log (its keys are the trusted root's ctlogs, its entries certificates),
// rather than a Rekor log.
func (k Kind) CertificateTransparency() bool { return k == KindCT || k == KindStaticCT }

// Defaults.
const (
	DefaultListen    = ":9464"
	DefaultInterval  = 30 * time.Second
	DefaultStaleness = 15 * time.Minute
	DefaultTimeout   = 30 * time.Second

	DefaultWorkers      = 16
	DefaultChunk        = 20000
	DefaultMemoryBudget = 64 * MiB

	DefaultWatchSeverity = alert.SeverityWarning

	// DefaultMaxMergeDelay is how long a CT log may take to include a
	// certificate it gave an SCT for (RFC 6962's MMD; 24h is what public
	// and scaffold-deployed logs announce).
	DefaultMaxMergeDelay = 24 * time.Hour
	// DefaultUnusedWindow is how long a watched identity's certificate may
	// stay unused in Rekor after it appeared in the CT log.
	DefaultUnusedWindow   = time.Hour
	DefaultUnusedSeverity = alert.SeverityWarning
	// DefaultMaxPending bounds the certificates a pair keeps, pending and
	// recently seen, per list.
	DefaultMaxPending = 100000
	// DefaultClockSkew is the margin for the clocks of the monitor and of
	// a CT log.
	DefaultClockSkew = 10 * time.Second

	DefaultTrustInterval = time.Hour
	DefaultTrustWarning  = 7 * 24 * time.Hour
	DefaultTrustCritical = 24 * time.Hour
	// DefaultProgressEvery is the interval of catch-up progress log lines.
	DefaultProgressEvery = 10 * time.Second
	// DefaultRekeyEvery is how often, at most, a log's keys are resolved
	// again after a signature failure.
	DefaultRekeyEvery = 10 * time.Minute
	// DefaultArchiveMax is how many checkpoints the archive keeps per log.
	DefaultArchiveMax = 100000
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
	// Reconcile holds CT logs against the Rekor logs whose certificates
	// they log.
	Reconcile Reconcile `yaml:"reconcile"`
	// Index keeps every scanned entry's signers and digests for search
	// (package index).
	Index Index `yaml:"index"`
	// API configures the search API and the web page.
	API API `yaml:"api"`
	// Witness makes the monitor a C2SP witness of the logs marked
	// witness: true (package witness).
	Witness Witness `yaml:"witness"`
	// Peers are other monitors or C2SP witnesses whose latest checkpoints
	// of the same logs must be consistent with this monitor's.
	Peers []Peer `yaml:"peers"`
}

// Witness configures the C2SP tlog-witness API: POST /add-checkpoint
// cosigns checkpoints of the logs marked witness: true, and
// GET /<hex(sha256(origin))>/checkpoint serves the latest checkpoint the
// monitor verified or cosigned of every log, cosigned.
type Witness struct {
	// Listen is the witness's own listen address (the log reaches it; the
	// metrics and API listeners need not be reachable from the log).
	// Empty: no witness API.
	Listen string `yaml:"listen"`
	// KeyFile holds the witness's note signing key, as `monitor witness
	// keygen` writes it ("PRIVATE+KEY+<name>+<hash>+<key>").
	KeyFile string `yaml:"key_file"`
	// ArchiveMax bounds the checkpoints kept per log in the archive
	// (<state_dir>/archive; default 100000, range 100 to 100000000).
	ArchiveMax int `yaml:"archive_max"`
}

// Peer is another monitor or witness: its latest checkpoint of each log is
// fetched from URL/<hex(sha256(origin))>/checkpoint, its cosignature
// verified with Key, and proven consistent with this monitor's view.
type Peer struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Key is the peer's cosignature/v1 verifier key
	// ("<name>+<hash>+<key>").
	Key string `yaml:"key"`
	// CAFile verifies the peer's TLS certificate.
	CAFile string `yaml:"ca_file"`
	// Interval between fetches (default: the config's interval).
	Interval Duration `yaml:"interval"`
	// Timeout bounds one request (default 30s).
	Timeout Duration `yaml:"timeout"`
}

// Index configures the search index of scanned entries. It is on by
// default: SQLite in the state directory, no set-up.
type Index struct {
	// Disabled turns the index off (and with it search and the entry
	// view of the page).
	Disabled bool `yaml:"disabled"`
	// Driver is sqlite (the default) or postgres.
	Driver string `yaml:"driver"`
	// Path is the SQLite file (default <state_dir>/.index.sqlite).
	Path string `yaml:"path"`
	// DSNFile holds the PostgreSQL connection string (a URL or key=value
	// list), for driver postgres. A file, so that the password stays out
	// of the config (a Kubernetes Secret mounted as a file).
	DSNFile string `yaml:"dsn_file"`
}

// API configures GET /api/v1/search, /api/v1/entries and the web page.
type API struct {
	// Listen is a listen address of their own; empty (the default) serves
	// them where the metrics are (listen).
	Listen string `yaml:"listen"`
	// TokenFile holds a bearer token: when set, the API requires
	// "Authorization: Bearer <token>" and the page the token as the
	// password of HTTP basic authentication (any user name).
	TokenFile string `yaml:"token_file"`
	// Proofs: each search result carries an inclusion proof against the
	// latest verified checkpoint, fetched from the log (default true).
	// Turning them off saves log requests for large pages.
	Proofs *bool `yaml:"proofs"`
}

// ProofsOn reports whether search results carry inclusion proofs.
func (a API) ProofsOn() bool { return a.Proofs == nil || *a.Proofs }

// Reconcile configures the pairs of a Rekor log and the CT log its Fulcio
// writes to. Without pairs, each Rekor log and each CT log whose keys both
// come from the trust material (one deployment) are paired, with the
// trust material's certificate authorities.
type Reconcile struct {
	// Disabled turns reconciliation off, including the pairs from the
	// trust material.
	Disabled bool   `yaml:"disabled"`
	Pairs    []Pair `yaml:"pairs"`
	// MaxPending bounds each list a pair keeps in the state directory:
	// certificates awaiting their CT entry or their use in Rekor, and the
	// recently seen ones (default 100000, range 100 to 10000000). What does
	// not fit is not reconciled: counted (vigil_reconcile_dropped_total,
	// rule VigilReconcileDropping), never a finding.
	MaxPending int `yaml:"max_pending"`
	// ClockSkew is how far the clocks of the monitor and the CT log may
	// differ (default 10s, range 1ms to 1h): certificates within it of the
	// start of a log's scan are not judged, and a CT log is held to the
	// heads it served this much earlier.
	ClockSkew Duration `yaml:"clock_skew"`
}

// Pair is a Rekor log and the CT log holding the certificates its entries
// use.
type Pair struct {
	// Rekor and CT name logs[] entries (or followed shards).
	Rekor string `yaml:"rekor"`
	CT    string `yaml:"ct"`
	// CAFiles are PEM files of the certificate authorities (Fulcio) whose
	// certificates the CT log holds: an SCT is verified against its issuer.
	// Default: the trust material's certificate authorities.
	CAFiles []string `yaml:"ca_files"`
	// MaxMergeDelay: a certificate with an SCT from the CT log must be in
	// the log this long after the SCT's timestamp (default 24h), else
	// sct_unhonored.
	MaxMergeDelay Duration `yaml:"max_merge_delay"`
	// UnusedWindow: a certificate of a watched identity in the CT log that
	// no Rekor entry uses within this time of its timestamp raises
	// certificate_unused (default 1h), of severity UnusedSeverity
	// (default warning).
	UnusedWindow   Duration       `yaml:"unused_window"`
	UnusedSeverity alert.Severity `yaml:"unused_severity"`
}

// Log is one log to watch.
type Log struct {
	// Name labels the log in metrics, logs, alerts and the state file name.
	Name string `yaml:"name"`
	Kind Kind   `yaml:"kind"`
	// URL is the Rekor v1 API base, the Rekor v2 read (tiles) base, the CT
	// log's base with its prefix (ct: <url>/ct/v1/get-sth), or the
	// static-ct read base (static-ct: <url>/checkpoint).
	URL string `yaml:"url"`
	// PublicKeyFile is the log's PEM public key. When empty the key comes
	// from the trust material (trust:) by matching URL.
	PublicKeyFile string `yaml:"public_key_file"`
	// Origin is the checkpoint origin (Rekor v2, static-ct) or the signer
	// hostname whose "<hostname> - <treeID>" is the origin (Rekor v1).
	// Default: URL's host; for CT kinds the URL without its scheme, as
	// C2SP static-ct-api names a log by its submission prefix (for ct, the
	// origin only names the checkpoint form of its tree heads).
	Origin string `yaml:"origin"`
	// CAFile is a PEM bundle to verify the log's TLS certificate with.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify would be the only way to turn TLS verification
	// off; it is deliberately not offered.

	// Staleness: a log not verified for this long is stale (alert, /readyz).
	// Default 15m or twice the interval, whichever is longer; it must be
	// longer than the interval.
	Staleness Duration `yaml:"staleness"`
	// MaxUnchanged: a log whose checkpoint does not grow for this long is
	// stale too. 0 turns this off (the default: idle private logs are normal).
	MaxUnchanged Duration `yaml:"max_unchanged"`
	// StartCheckpointFile holds a signed checkpoint to trust instead of
	// trusting the first one fetched.
	StartCheckpointFile string   `yaml:"start_checkpoint_file"`
	Interval            Duration `yaml:"interval"`
	Schedule            string   `yaml:"schedule"`
	// Timeout bounds one request to the log (default 30s, range 100ms to 10m).
	Timeout Duration `yaml:"timeout"`
	// Witness: this monitor cosigns the log's checkpoints (witness.listen
	// must be set, and the log's witness policy name this monitor's key),
	// and a checkpoint the log publishes without that cosignature is an
	// uncosigned_checkpoint finding. Rekor v2 and static-ct logs only:
	// their checkpoints are plain C2SP checkpoints of one tree.
	Witness bool `yaml:"witness"`
	// WitnessSeverity is the severity of uncosigned_checkpoint: info,
	// warning (the default) or critical.
	WitnessSeverity alert.Severity `yaml:"witness_severity"`
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
	// Workers bounds parallel entry requests per log (default 16, range 1 to 256).
	Workers int `yaml:"workers"`
	// Chunk is the number of entries scanned between state saves (default
	// 20000, range 1 to 1000000).
	Chunk uint64 `yaml:"chunk"`
	// WatchSeverity is the severity of watch-rule matches: info, warning
	// (default) or critical.
	WatchSeverity alert.Severity `yaml:"watch_severity"`
	// MemoryBudget bounds the bytes of log answers the entry scans of all
	// logs hold in memory at once (default 64MiB, range 1MiB to 4GiB).
	MemoryBudget ByteSize `yaml:"memory_budget"`
}

// Trust is where log keys come from when a log has no public_key_file: a
// Sigstore trusted_root.json, or a TUF repository serving one (what
// `cosign initialize --mirror --root` uses for a private deployment).
type Trust struct {
	TrustedRootFile string `yaml:"trusted_root_file"`
	// SigningConfigFile is the signing config beside trusted_root_file
	// (a TUF repository serves it as a target): follow_shards reads the
	// Rekor API version of each log from it.
	SigningConfigFile string `yaml:"signing_config_file"`
	TUF               TUF    `yaml:"tuf"`
	// FollowShards watches every transparency log of the trust material
	// valid now that no logs[] entry names (by base URL or host): a new
	// Rekor v2 shard is a new origin, and this follows what the trust
	// material lists. Its kind is the Rekor API version the signing config
	// gives its URL (a log the signing config does not list is not
	// followed: Vigil never guesses); its origin is its base URL's host.
	FollowShards bool `yaml:"follow_shards"`
	// Watch configures the watch of the trust material and of what
	// expires: on whenever trust material, endpoints or CA files are given.
	Watch TrustWatch `yaml:"watch"`
}

// TrustWatch configures the watch of the trust material (TUF metadata,
// changes of trusted_root.json and the signing config) and of the
// certificates and keys that expire.
type TrustWatch struct {
	// Disabled turns the watch off.
	Disabled bool `yaml:"disabled"`
	// Interval between updates and expiry checks (default 1h).
	Interval Duration `yaml:"interval"`
	// Warning and Critical: how long before an expiry its alert is a
	// warning, and critical (defaults 168h and 24h).
	Warning  Duration `yaml:"warning"`
	Critical Duration `yaml:"critical"`
	// Endpoints are more https URLs whose TLS certificates to watch,
	// beside those of the logs, the TUF mirror and the services the trust
	// material names.
	Endpoints []string `yaml:"endpoints"`
	// CAFiles are PEM files of certificates to watch, such as the CA that
	// bootstrap up creates.
	CAFiles []string `yaml:"ca_files"`
	// BaselineFile is the approved trust material (monitor trust approve);
	// default <state_dir>/.trust-baseline.json.
	BaselineFile string `yaml:"baseline_file"`
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
		return fmt.Errorf("line %d: %s", n.Line, durationMessage(s))
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
		c.Scan.Workers = DefaultWorkers
	}
	if c.Scan.Chunk == 0 {
		c.Scan.Chunk = DefaultChunk
	}
	if c.Scan.WatchSeverity == "" {
		c.Scan.WatchSeverity = DefaultWatchSeverity
	}
	if c.Scan.MemoryBudget == 0 {
		c.Scan.MemoryBudget = DefaultMemoryBudget
	}
	{
		w := &c.Trust.Watch
		if w.Interval == 0 {
			w.Interval = Duration(DefaultTrustInterval)
		}
		if w.Warning == 0 {
			w.Warning = Duration(DefaultTrustWarning)
		}
		if w.Critical == 0 {
			w.Critical = Duration(DefaultTrustCritical)
		}
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
			// A log checked less often than every DefaultStaleness/2 would
			// turn stale between two good checks.
			l.Staleness = Duration(max(DefaultStaleness, 2*time.Duration(l.Interval)))
		}
		if l.Timeout == 0 {
			l.Timeout = Duration(DefaultTimeout)
		}
		if l.Witness && l.WitnessSeverity == "" {
			l.WitnessSeverity = alert.SeverityWarning
		}
		if l.Origin == "" {
			if u, err := url.Parse(l.URL); err == nil {
				l.Origin = u.Hostname()
				if l.Kind.CertificateTransparency() && u.Hostname() != "" {
					l.Origin = strings.ToLower(strings.TrimSuffix(u.Host+u.Path, "/"))
				}
			}
		}
	}
	if c.Witness.ArchiveMax == 0 {
		c.Witness.ArchiveMax = DefaultArchiveMax
	}
	for i := range c.Peers {
		p := &c.Peers[i]
		if p.Interval == 0 {
			p.Interval = c.Interval
			if p.Interval == 0 {
				p.Interval = Duration(DefaultInterval)
			}
		}
		if p.Timeout == 0 {
			p.Timeout = Duration(DefaultTimeout)
		}
	}
	if !c.Index.Disabled {
		if c.Index.Driver == "" {
			c.Index.Driver = "sqlite"
		}
		if c.Index.Driver == "sqlite" && c.Index.Path == "" && c.StateDir != "" {
			c.Index.Path = state.IndexFile(c.StateDir)
		}
	}
	if c.Reconcile.MaxPending == 0 {
		c.Reconcile.MaxPending = DefaultMaxPending
	}
	if c.Reconcile.ClockSkew == 0 {
		c.Reconcile.ClockSkew = Duration(DefaultClockSkew)
	}
	for i := range c.Reconcile.Pairs {
		p := &c.Reconcile.Pairs[i]
		if p.MaxMergeDelay == 0 {
			p.MaxMergeDelay = Duration(DefaultMaxMergeDelay)
		}
		if p.UnusedWindow == 0 {
			p.UnusedWindow = Duration(DefaultUnusedWindow)
		}
		if p.UnusedSeverity == "" {
			p.UnusedSeverity = DefaultUnusedSeverity
		}
	}
}

// PairDefaults returns p with its defaults filled in, for pairs made from
// the trust material.
func PairDefaults(p Pair) Pair {
	c := Config{Reconcile: Reconcile{Pairs: []Pair{p}}}
	c.applyDefaults()
	return c.Reconcile.Pairs[0]
}

// ParseSchedule parses a cron spec (5 fields) or descriptor (@every 1m,
// @hourly) with robfig/cron/v3.
func ParseSchedule(spec string) (cron.Schedule, error) {
	return cron.ParseStandard(spec)
}
