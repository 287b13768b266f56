package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/config"
)

// defaultAlerts is the alerts section of a config that has none: events go
// to the monitor's own log.
var defaultAlerts = alert.Config{Sinks: []alert.SinkConfig{{Name: "log", Type: alert.TypeLog}}}

// defaultWatch is the trust.watch section of a config that has none.
var defaultWatch = config.TrustWatch{Interval: config.Duration(time.Hour), Warning: config.Duration(7 * 24 * time.Hour), Critical: config.Duration(24 * time.Hour)}

// defaultScan is the scan section of a config that has none.
var defaultScan = config.Scan{Workers: 16, Chunk: 20000, WatchSeverity: "warning", MemoryBudget: 64 * config.MiB}

// The files under testdata/bad and testdata/good are configs with ${DIR}
// standing for a directory that holds the files configs refer to (see
// fileDir). Each bad file has exactly one problem; the table below has the
// exact error it must produce, as a user sees it.

// fileDir returns a temporary directory with the files the test configs
// refer to. Validation only checks that they exist.
func fileDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"rekor.pub", "ca.crt", "start.checkpoint", "trusted_root.json", "root.json"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("test\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeConfig copies testdata file name into dir with ${DIR} replaced by
// dir and returns its path.
func writeConfig(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), "${DIR}", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBadConfigs(t *testing.T) {
	const badName = `"%s" must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit`
	tests := map[string]string{
		"empty.yml":                           "state_dir: required\nlogs: at least one log is required (or trust.follow_shards)",
		"comments_only.yml":                   "state_dir: required\nlogs: at least one log is required (or trust.follow_shards)",
		"yaml_syntax.yml":                     "decoding YAML: yaml: line 2: did not find expected '-' indicator",
		"unknown_top_key.yml":                 "intervall: line 2: field intervall not found; did you mean interval?",
		"unknown_log_key.yml":                 "logs[0].public_key: line 6: field public_key not found; did you mean public_key_file?",
		"insecure_skip_verify.yml":            "logs[0].insecure_skip_verify: line 7: field insecure_skip_verify not found; TLS verification cannot be turned off (set ca_file to trust a private CA)",
		"unknown_trust_key.yml":               "trust.trusted_root: line 3: field trusted_root not found; did you mean trusted_root_file?",
		"trust_tuf_unknown_key.yml":           "trust.tuf.insecure: line 6: field insecure not found; TLS verification cannot be turned off (set ca_file to trust a private CA)",
		"logs_not_a_list.yml":                 `logs: line 2: want a list, got "rekor"`,
		"missing_state_dir.yml":               "state_dir: required",
		"log_format.yml":                      `log_format: "xml" is not json or text`,
		"log_level.yml":                       `log_level: "trace" is not debug, info, warn or error`,
		"interval_and_schedule.yml":           "schedule: set interval or schedule, not both",
		"log_interval_and_schedule.yml":       "logs[0].schedule: set interval or schedule, not both",
		"interval_too_short.yml":              "interval: 500ms is below the 1s minimum",
		"interval_negative.yml":               "interval: -30s is below the 1s minimum",
		"log_interval_too_short.yml":          "logs[0].interval: 10ms is below the 1s minimum",
		"interval_no_unit.yml":                `interval: line 2: "30" is not a duration (use a unit, e.g. 30s)`,
		"staleness_not_duration.yml":          "logs[0].staleness: line 7: want a duration (e.g. 30s), got a list",
		"schedule_bad_cron.yml":               "schedule: expected exactly 5 fields, found 3: [every five minutes]",
		"log_schedule_bad_cron.yml":           "logs[0].schedule: end of range (61) above maximum (59): 61",
		"no_logs.yml":                         "logs: at least one log is required (or trust.follow_shards)",
		"follow_shards_no_trust.yml":          "trust.follow_shards: needs trust.trusted_root_file or trust.tuf",
		"follow_shards_no_signing_config.yml": "trust.follow_shards: with trust.trusted_root_file needs trust.signing_config_file: the signing config says which logs are Rekor v1 and which v2",
		"signing_config_without_root.yml":     "trust.signing_config_file: goes with trust.trusted_root_file (a TUF repository serves its own)",
		"log_name_missing.yml":                "logs[0].name: " + strings.Replace(badName, "%s", "", 1),
		"log_name_path.yml":                   "logs[0].name: " + strings.Replace(badName, "%s", "../etc/passwd", 1),
		"log_name_duplicate.yml":              `logs[1].name: duplicate log name "rekor"`,
		"log_kind.yml":                        `logs[0].kind: "rekor-v3" is not rekor-v1, rekor-v2, ct or static-ct`,
		"log_kind_missing.yml":                `logs[0].kind: "" is not rekor-v1, rekor-v2, ct or static-ct`,
		"log_url_scheme.yml":                  `logs[0].url: "ftp://rekor.sigstore.local" is not an http(s) URL`,
		"log_url_missing.yml":                 `logs[0].url: "" is not an http(s) URL`,
		"log_url_no_host.yml":                 `logs[0].url: "https:///api" is not an http(s) URL`,
		"log_url_port_only.yml":               "logs[0].origin: required when the URL has no host name",
		"log_public_key_required.yml":         "logs[0].public_key_file: required unless trust.trusted_root_file or trust.tuf is set",
		"ct_log_no_key.yml":                   "logs[0].public_key_file: required unless trust.trusted_root_file or trust.tuf is set",
		"reconcile_missing_log.yml":           `reconcile.pairs[0].ct: no log is named "ctlog"`,
		"witness_kind.yml":                    "logs[0].witness: kind rekor-v1 cannot be witnessed: only rekor-v2 and static-ct logs publish plain C2SP checkpoints of one tree",
		"witness_no_listen.yml":               "logs[0].witness: needs witness.listen (and witness.key_file): the log must be able to ask this monitor for cosignatures",
		"witness_key_missing.yml":             "witness.key_file: stat ${DIR}/witness.key: no such file or directory (create one with `monitor witness keygen`)",
		"peer_key.yml":                        `peers[0].key: "not-a-key" is not a cosignature/v1 verifier key (name+hash+base64): malformed verifier id`,
		"index_driver.yml":                    `index.driver: "mysql" is not sqlite or postgres`,
		"index_postgres_no_dsn.yml":           "index.dsn_file: required for driver postgres: a file holding the connection string",
		"index_dsn_missing_file.yml":          "index.dsn_file: stat /nonexistent/vigil-dsn: no such file or directory",
		"api_listen.yml":                      `api.listen: "9999" is not host:port: address 9999: missing port in address`,
		"api_token_missing_file.yml":          "api.token_file: stat /nonexistent/vigil-token: no such file or directory",
		"reconcile_kinds_swapped.yml": `reconcile.pairs[0].rekor: log "ctlog" is of kind ct, not a Rekor log` +
			"\n" + `reconcile.pairs[0].ct: log "rekor" is of kind rekor-v1, not a ct or static-ct log` +
			"\nreconcile.pairs[0].ca_files: required unless trust.trusted_root_file or trust.tuf gives the certificate authorities" +
			"\n" + `reconcile.pairs[0].unused_severity: "loud" is not info, warning or critical`,
		"log_public_key_missing_file.yml":  "logs[0].public_key_file: stat ${DIR}/missing.pub: no such file or directory",
		"log_ca_file_missing.yml":          "logs[1].ca_file: stat ${DIR}/missing-ca.crt: no such file or directory",
		"log_start_checkpoint_missing.yml": "logs[0].start_checkpoint_file: stat ${DIR}/missing.checkpoint: no such file or directory",
		"log_staleness_negative.yml":       "logs[0].staleness: -1h0m0s must not be negative",
		"log_timeout_negative.yml":         "logs[0].timeout: -1s must not be negative",
		"log_max_unchanged_negative.yml":   "logs[0].max_unchanged: -24h0m0s must not be negative",
		"trust_both.yml":                   "trust: set trusted_root_file or tuf, not both",
		"trust_root_missing_file.yml":      "trust.trusted_root_file: stat ${DIR}/missing.json: no such file or directory",
		"trust_tuf_mirror_scheme.yml":      `trust.tuf.mirror: "file:///srv/tuf" is not an http(s) URL`,
		"trust_tuf_root_required.yml":      "trust.tuf.root_file: required with trust.tuf.mirror (the initial root.json)",
		"trust_tuf_root_missing_file.yml":  "trust.tuf.root_file: stat ${DIR}/missing-root.json: no such file or directory",
		"scan_workers.yml":                 "scan.workers: 1000 is not between 1 and 256",
		"scan_watch_severity.yml":          `scan.watch_severity: "high" is not info, warning or critical`,
		"scan_start_both.yml":              "scan.start_index: set start_index or start_at_end, not both",
		"identities_unknown_key.yml":       "identities.watch[0].subjet: line 10: field subjet not found; did you mean subject?",
		"alerts_sink_type.yml":             `alerts.sinks[0].type: unknown sink type "pagerduty" (want webhook, slack, alertmanager, exec or log)`,
		"alerts_unknown_key.yml":           "alerts.sinks[0].token: line 12: field token not found",
	}

	// Every file has a case and every case a file.
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := tests[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expected error in TestBadConfigs", f)
		}
	}
	if len(files) != len(tests) {
		t.Errorf("testdata/bad has %d files, TestBadConfigs %d cases", len(files), len(tests))
	}

	for name, want := range tests {
		t.Run(strings.TrimSuffix(name, ".yml"), func(t *testing.T) {
			dir := fileDir(t)
			path := writeConfig(t, dir, filepath.Join("bad", name))
			want := "config " + path + ": " + strings.ReplaceAll(want, "${DIR}", dir)
			c, err := config.Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want error %q", name, c, want)
			}
			if err.Error() != want {
				t.Errorf("Load(%s) error:\n got %q\nwant %q", name, err, want)
			}
			if c != nil {
				t.Errorf("Load(%s) returned a config with its error", name)
			}
		})
	}
}

// TestFieldError checks that validation errors carry the field, and wrap
// the cause.
func TestFieldError(t *testing.T) {
	dir := fileDir(t)
	path := writeConfig(t, dir, "bad/log_public_key_missing_file.yml")
	_, err := config.Load(path)
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Field != "logs[0].public_key_file" {
		t.Fatalf("Load() = %v, want a *FieldError for logs[0].public_key_file", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load() = %v, want it to wrap fs.ErrNotExist", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yml")
	_, err := config.Load(path)
	if want := "reading config: open " + path + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("Load(missing) = %v, want %s", err, want)
	}
}

func TestGoodConfigs(t *testing.T) {
	tests := []struct {
		file string
		want func(dir string) *config.Config
	}{
		{
			file: "minimal.yml",
			want: func(dir string) *config.Config {
				return &config.Config{
					StateDir:  "/var/lib/vigil",
					Listen:    ":9464",
					LogFormat: "json",
					LogLevel:  "info",
					Interval:  config.Duration(30 * time.Second),
					Logs: []config.Log{{
						Name:          "rekor",
						Kind:          "rekor-v1",
						URL:           "https://rekor.sigstore.local:8443/",
						PublicKeyFile: dir + "/rekor.pub",
						Origin:        "rekor.sigstore.local", // host of the URL, without the port
						Staleness:     config.Duration(15 * time.Minute),
						Interval:      config.Duration(30 * time.Second),
						Timeout:       config.Duration(30 * time.Second),
					}},
					Trust:     config.Trust{Watch: defaultWatch},
					Scan:      defaultScan,
					Alerts:    defaultAlerts,
					Reconcile: config.Reconcile{MaxPending: config.DefaultMaxPending, ClockSkew: config.Duration(config.DefaultClockSkew)},
					Index:     config.Index{Driver: "sqlite", Path: "/var/lib/vigil/.index.sqlite"},
					Witness:   config.Witness{ArchiveMax: config.DefaultArchiveMax},
				}
			},
		},
		{
			file: "full.yml",
			want: func(dir string) *config.Config {
				return &config.Config{
					StateDir:  "/var/lib/vigil",
					Listen:    "127.0.0.1:9999",
					LogFormat: "text",
					LogLevel:  "debug",
					Schedule:  "*/5 * * * *",
					Logs: []config.Log{
						{
							Name:                "rekor",
							Kind:                "rekor-v1",
							URL:                 "https://rekor.sigstore.local",
							PublicKeyFile:       dir + "/rekor.pub",
							Origin:              "rekor.internal",
							CAFile:              dir + "/ca.crt",
							Staleness:           config.Duration(time.Hour),
							MaxUnchanged:        config.Duration(24 * time.Hour),
							StartCheckpointFile: dir + "/start.checkpoint",
							Interval:            config.Duration(45 * time.Second),
							Timeout:             config.Duration(10 * time.Second),
						},
						{
							Name:      "rekor-v2",
							Kind:      "rekor-v2",
							URL:       "http://log2025-1.rekor.sigstore.local/tiles",
							Origin:    "log2025-1.rekor.sigstore.local",
							Staleness: config.Duration(15 * time.Minute),
							Schedule:  "*/5 * * * *", // inherited
							Timeout:   config.Duration(30 * time.Second),
						},
						{
							Name:      "hourly",
							Kind:      "rekor-v2",
							URL:       "https://log2026-1.rekor.sigstore.local",
							Origin:    "log2026-1.rekor.sigstore.local",
							Staleness: config.Duration(15 * time.Minute),
							Schedule:  "@hourly",
							Timeout:   config.Duration(30 * time.Second),
						},
					},
					Trust: config.Trust{TUF: config.TUF{
						Mirror:   "https://tuf.sigstore.local",
						RootFile: dir + "/root.json",
						CacheDir: "/var/cache/vigil/tuf",
						CAFile:   dir + "/ca.crt",
					}, Watch: defaultWatch},
					Scan: config.Scan{StartAtEnd: true, Workers: 4, Chunk: 1000, WatchSeverity: "critical", MemoryBudget: 512 * config.MiB},
					Alerts: alert.Config{
						Outbox: alert.OutboxConfig{MaxEvents: 500, WhenFull: alert.Reject},
						Sinks: []alert.SinkConfig{
							{Name: "hook", Type: alert.TypeWebhook, URL: "https://hooks.internal/vigil", Timeout: 5 * time.Second},
							{Name: "pager", Type: alert.TypeExec, Command: []string{"/usr/local/bin/page", "--vigil"}},
						},
					},
					Reconcile: config.Reconcile{MaxPending: config.DefaultMaxPending, ClockSkew: config.Duration(config.DefaultClockSkew)},
					Index:     config.Index{Driver: "sqlite", Path: "/var/lib/vigil/.index.sqlite"},
					Witness:   config.Witness{ArchiveMax: config.DefaultArchiveMax},
				}
			},
		},
		{
			file: "trusted_root.yml",
			want: func(dir string) *config.Config {
				return &config.Config{
					StateDir:  "/var/lib/vigil",
					Listen:    ":9464",
					LogFormat: "json",
					LogLevel:  "info",
					Interval:  config.Duration(2 * time.Minute),
					Logs: []config.Log{{
						Name:      "rekor",
						Kind:      "rekor-v2",
						URL:       "https://log2025-1.rekor.sigstore.local",
						Origin:    "log2025-1.rekor.sigstore.local",
						Staleness: config.Duration(15 * time.Minute),
						Interval:  config.Duration(2 * time.Minute), // inherited
						Timeout:   config.Duration(30 * time.Second),
					}},
					Trust:     config.Trust{TrustedRootFile: dir + "/trusted_root.json", Watch: defaultWatch},
					Scan:      defaultScan,
					Alerts:    defaultAlerts,
					Reconcile: config.Reconcile{MaxPending: config.DefaultMaxPending, ClockSkew: config.Duration(config.DefaultClockSkew)},
					Index:     config.Index{Driver: "sqlite", Path: "/var/lib/vigil/.index.sqlite"},
					Witness:   config.Witness{ArchiveMax: config.DefaultArchiveMax},
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			dir := fileDir(t)
			got, err := config.Load(writeConfig(t, dir, filepath.Join("good", tt.file)))
			if err != nil {
				t.Fatalf("Load(%s) = %v", tt.file, err)
			}
			if diff := cmp.Diff(tt.want(dir), got); diff != "" {
				t.Errorf("Load(%s) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

func TestParseReader(t *testing.T) {
	dir := fileDir(t)
	in := "state_dir: /s\nlogs:\n  - {name: a, kind: rekor-v2, url: 'https://a.example', public_key_file: " + dir + "/rekor.pub}\n"
	c, err := config.Parse(strings.NewReader(in))
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	if c.Logs[0].Origin != "a.example" || c.Listen != config.DefaultListen {
		t.Errorf("Parse() = %+v, want defaults filled", c)
	}
	// Parse's errors have no file name.
	_, err = config.Parse(strings.NewReader("logs: []\n"))
	// Every problem is reported, one per line.
	if want := "state_dir: required\nlogs: at least one log is required (or trust.follow_shards)"; err == nil || err.Error() != want {
		t.Errorf("Parse(no state_dir) = %v, want %s", err, want)
	}
}

// TestComplete covers configurations built from flags rather than a file.
func TestComplete(t *testing.T) {
	dir := fileDir(t)
	c := &config.Config{
		StateDir: "/s",
		Logs:     []config.Log{{Name: "a", Kind: config.KindRekorV1, URL: "http://127.0.0.1:3000", PublicKeyFile: dir + "/rekor.pub"}},
	}
	if err := c.Complete(); err != nil {
		t.Fatalf("Complete() = %v", err)
	}
	l := c.Logs[0]
	if l.Origin != "127.0.0.1" || time.Duration(l.Interval) != config.DefaultInterval ||
		time.Duration(l.Staleness) != config.DefaultStaleness || time.Duration(l.Timeout) != config.DefaultTimeout {
		t.Errorf("Complete() log = %+v, want defaults", l)
	}
	// Validate alone does not fill defaults: an empty log format is an error.
	v := &config.Config{StateDir: "/s", Logs: c.Logs}
	if err := v.Validate(); err == nil || !strings.HasPrefix(err.Error(), `log_format: "" is not json or text`+"\n") {
		t.Errorf("Validate(no defaults) = %v", err)
	}
}

// TestScheduleInheritance checks which logs get the top-level interval or
// schedule: those that set neither.
func TestScheduleInheritance(t *testing.T) {
	dir := fileDir(t)
	key := dir + "/rekor.pub"
	for _, tc := range []struct {
		name                 string
		top                  string
		log                  string
		wantInterval         time.Duration
		wantSchedule         string
		wantTopInterval      time.Duration
		wantTopScheduleIsSet bool
	}{
		{"default", "", "", 30 * time.Second, "", 30 * time.Second, false},
		{"top interval", "interval: 5m\n", "", 5 * time.Minute, "", 5 * time.Minute, false},
		{"top schedule", "schedule: '@every 2m'\n", "", 0, "@every 2m", 0, true},
		{"log interval over top schedule", "schedule: '@hourly'\n", "    interval: 10s\n", 10 * time.Second, "", 0, true},
		{"log schedule over top interval", "interval: 1m\n", "    schedule: '0 * * * *'\n", 0, "0 * * * *", time.Minute, false},
		{"log schedule over default", "", "    schedule: '@daily'\n", 0, "@daily", 30 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := "state_dir: /s\n" + tc.top + "logs:\n  - name: a\n    kind: rekor-v1\n    url: https://a.example\n    public_key_file: " + key + "\n" + tc.log
			c, err := config.Parse(strings.NewReader(in))
			if err != nil {
				t.Fatalf("Parse(%q) = %v", in, err)
			}
			l := c.Logs[0]
			if time.Duration(l.Interval) != tc.wantInterval || l.Schedule != tc.wantSchedule {
				t.Errorf("log interval, schedule = %v, %q, want %v, %q", time.Duration(l.Interval), l.Schedule, tc.wantInterval, tc.wantSchedule)
			}
			if time.Duration(c.Interval) != tc.wantTopInterval || (c.Schedule != "") != tc.wantTopScheduleIsSet {
				t.Errorf("top interval, schedule = %v, %q", time.Duration(c.Interval), c.Schedule)
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	at := time.Date(2026, 11, 24, 19, 3, 30, 0, time.UTC)
	for _, tc := range []struct {
		spec string
		next time.Time
	}{
		{"*/5 * * * *", time.Date(2026, 11, 24, 19, 5, 0, 0, time.UTC)},
		{"0 * * * *", time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)},
		{"30 2 * * *", time.Date(2026, 11, 25, 2, 30, 0, 0, time.UTC)},
		{"@hourly", time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)},
		{"@every 90s", at.Add(90 * time.Second)},
		{"@every 1m", at.Add(time.Minute)},
	} {
		s, err := config.ParseSchedule(tc.spec)
		if err != nil {
			t.Errorf("ParseSchedule(%q) = %v", tc.spec, err)
			continue
		}
		if got := s.Next(at); !got.Equal(tc.next) {
			t.Errorf("ParseSchedule(%q).Next(%v) = %v, want %v", tc.spec, at, got, tc.next)
		}
	}
	for _, spec := range []string{"", "* * * *", "*/5 * * * * *", "@sometimes", "@every soon", "60 * * * *"} {
		if _, err := config.ParseSchedule(spec); err == nil {
			t.Errorf("ParseSchedule(%q) = nil error, want error", spec)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	var v struct {
		D config.Duration `yaml:"d"`
	}
	if err := yaml.Unmarshal([]byte("d: 1h30m\n"), &v); err != nil || time.Duration(v.D) != 90*time.Minute {
		t.Fatalf("Unmarshal(1h30m) = %v, %v", time.Duration(v.D), err)
	}
	out, err := yaml.Marshal(v)
	if err != nil || string(out) != "d: 1h30m0s\n" {
		t.Errorf("Marshal = %q, %v, want %q", out, err, "d: 1h30m0s\n")
	}
	for _, in := range []string{"d: fast\n", "d: {a: 1}\n", "d: 10\n"} {
		if err := yaml.Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("Unmarshal(%q) = nil error", in)
		}
	}
}
