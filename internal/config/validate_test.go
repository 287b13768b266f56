package config_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-tlog/vigil/internal/config"
)

// configYAML is a valid configuration with top appended at the top level
// and log appended to its only log (indented four spaces). The base has
// six lines, so the first line of log (or of top, when log is empty) is
// line 7.
func configYAML(t *testing.T, top, log string) string {
	t.Helper()
	dir := fileDir(t)
	return "state_dir: /s\nlogs:\n  - name: a\n    kind: rekor-v1\n    url: https://a.example\n    public_key_file: " +
		dir + "/rekor.pub\n" + log + top
}

// joined returns the errors joined in err, one level deep.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestRanges(t *testing.T) {
	for _, tc := range []struct {
		name, top, log string
		want           string // "" for valid
	}{
		// scan.chunk: the overflow in the scanner that motivated ranges.
		{"chunk max uint64", "scan:\n  chunk: 18446744073709551615\n", "", "scan.chunk: 18446744073709551615 is not between 1 and 1000000"},
		{"chunk above uint64", "scan:\n  chunk: 18446744073709551616\n", "", "scan.chunk: line 8: 18446744073709551616 is out of range"},
		{"chunk negative", "scan:\n  chunk: -1\n", "", "scan.chunk: line 8: -1 must not be negative"},
		{"chunk not a number", "scan:\n  chunk: lots\n", "", `scan.chunk: line 8: "lots" is not a whole number`},
		{"chunk a fraction", "scan:\n  chunk: 1.5\n", "", `scan.chunk: line 8: "1.5" is not a whole number`},
		{"chunk a float", "scan:\n  chunk: 1e3\n", "", `scan.chunk: line 8: "1e3" is not a whole number`},
		{"workers a bool", "scan:\n  workers: true\n", "", `scan.workers: line 8: "true" is not a whole number`},
		{"disabled not a bool", "scan:\n  disabled: maybe\n", "", `scan.disabled: line 8: "maybe" is not true or false`},
		{"start at end a list", "scan:\n  start_at_end: [true]\n", "", `scan.start_at_end: line 8: want true or false, got a list`},
		{"chunk too large", "scan:\n  chunk: 1000001\n", "", "scan.chunk: 1000001 is not between 1 and 1000000"},
		{"chunk max", "scan:\n  chunk: 1000000\n", "", ""},
		{"chunk min", "scan:\n  chunk: 1\n", "", ""},
		{"workers negative", "scan:\n  workers: -1\n", "", "scan.workers: -1 is not between 1 and 256"},
		{"workers too many", "scan:\n  workers: 257\n", "", "scan.workers: 257 is not between 1 and 256"},
		{"workers max", "scan:\n  workers: 256\n", "", ""},
		{"start index too large", "scan:\n  start_index: 9223372036854775808\n", "", "scan.start_index: 9223372036854775808 is above the maximum 9223372036854775807"},
		{"memory budget too small", "scan:\n  memory_budget: 512KiB\n", "", "scan.memory_budget: 512KiB is not between 1MiB and 4GiB"},
		{"memory budget a byte short", "scan:\n  memory_budget: 1048575\n", "", "scan.memory_budget: 1048575B is not between 1MiB and 4GiB"},
		{"memory budget too large", "scan:\n  memory_budget: 5GiB\n", "", "scan.memory_budget: 5GiB is not between 1MiB and 4GiB"},
		{"memory budget huge", "scan:\n  memory_budget: 9223372036854775807 TiB\n", "", `scan.memory_budget: line 8: "9223372036854775807 TiB" is too large`},
		{"memory budget no unit", "scan:\n  memory_budget: 64 parsecs\n", "", `scan.memory_budget: line 8: "64 parsecs" is not a size: use bytes or a unit, e.g. 64MiB, 512KiB, 1GiB`},
		{"memory budget negative", "scan:\n  memory_budget: -1\n", "", `scan.memory_budget: line 8: "-1" is not a size: use bytes or a unit, e.g. 64MiB, 512KiB, 1GiB`},
		{"memory budget min", "scan:\n  memory_budget: 1MiB\n", "", ""},
		{"memory budget max", "scan:\n  memory_budget: 4GiB\n", "", ""},
		{"memory budget bytes", "scan:\n  memory_budget: 67108864\n", "", ""},
		{"memory budget SI", "scan:\n  memory_budget: 100 MB\n", "", ""},

		{"timeout 1ns", "", "    timeout: 1ns\n", "logs[0].timeout: 1ns is below the 100ms minimum"},
		{"timeout 99ms", "", "    timeout: 99ms\n", "logs[0].timeout: 99ms is below the 100ms minimum"},
		{"timeout 100ms", "", "    timeout: 100ms\n", ""},
		{"timeout 10m", "", "    timeout: 10m\n", ""},
		{"timeout 11m", "", "    timeout: 11m\n", "logs[0].timeout: 11m0s is above the 10m maximum"},
		{"staleness too short", "", "    staleness: 5s\n", "logs[0].staleness: 5s is below the 10s minimum"},
		{"staleness too long", "", "    staleness: 721h\n", "logs[0].staleness: 721h0m0s is above the 720h maximum"},
		{"staleness not above interval", "", "    staleness: 1m\n    interval: 1m\n", "logs[0].staleness: 1m0s is not longer than the interval 1m0s: the log would turn stale between two good checks"},
		{"staleness default follows interval", "interval: 20m\n", "", ""},
		{"max unchanged too short", "", "    max_unchanged: 30s\n", "logs[0].max_unchanged: 30s is below the 1m minimum"},
		{"max unchanged too long", "", "    max_unchanged: 8761h\n", "logs[0].max_unchanged: 8761h0m0s is above the 8760h maximum"},
		{"max unchanged off", "", "    max_unchanged: 0s\n", ""},
		{"interval too long", "interval: 25h\n", "", "interval: 25h0m0s is above the 24h maximum"},
		{"log interval too long", "", "    interval: 48h\n    staleness: 72h\n", "logs[0].interval: 48h0m0s is above the 24h maximum"},
		{"interval max", "", "    interval: 24h\n    staleness: 25h\n", ""},

		{"outbox max events", "alerts:\n  outbox:\n    max_events: 1000001\n", "", "alerts.outbox.max_events: 1000001 is not between 1 and 1000000"},
		{"group max events", "alerts:\n  group:\n    max_events: 100001\n", "", "alerts.group.max_events: 100001 is not between 1 and 100000"},
		{"group max listed", "alerts:\n  group:\n    max_listed: 1001\n", "", "alerts.group.max_listed: 1001 is not between 0 and 1000"},
		{"outbox max events negative", "alerts:\n  outbox:\n    max_events: -1\n", "", "alerts.outbox.max_events: must not be negative"},
		{"outbox max age", "alerts:\n  outbox:\n    max_age: 30s\n", "", "alerts.outbox.max_age: 30s is below the 1m minimum"},
		{"retry initial 1ns", "alerts:\n  outbox:\n    retry_initial: 1ns\n", "", "alerts.outbox.retry_initial: 1ns is below the 100ms minimum"},
		{"retry initial too long", "alerts:\n  outbox:\n    retry_initial: 2h\n    retry_max: 3h\n", "", "alerts.outbox.retry_initial: 2h0m0s is above the 1h maximum"},
		{"retry max too long", "alerts:\n  outbox:\n    retry_max: 25h\n", "", "alerts.outbox.retry_max: 25h0m0s is above the 24h maximum"},
		{"retry max below default initial", "alerts:\n  outbox:\n    retry_max: 500ms\n", "", "alerts.outbox.retry_max: 500ms is less than the default retry_initial 1s"},
		{"retry fast", "alerts:\n  outbox:\n    retry_initial: 100ms\n    retry_max: 1s\n", "", ""},
		{"sink timeout 1ns", "alerts:\n  sinks:\n    - {name: l, type: log}\n    - {name: h, type: webhook, url: 'https://h.example', timeout: 1ns}\n", "",
			"alerts.sinks[1].timeout: 1ns is below the 100ms minimum"},
		{"sink resend interval", "alerts:\n  sinks:\n    - {name: am, type: alertmanager, url: 'https://am.example', resend_interval: 500ms}\n", "",
			"alerts.sinks[0].resend_interval: 500ms is below the 1s minimum"},
		{"sink one-off duration", "alerts:\n  sinks:\n    - {name: am, type: alertmanager, url: 'https://am.example', one_off_duration: 721h}\n", "",
			"alerts.sinks[0].one_off_duration: 721h0m0s is above the 720h maximum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := configYAML(t, tc.top, tc.log)
			c, err := config.Parse(strings.NewReader(in))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse(%q) = %v, want no error", in, err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Parse(%q) = %+v, %v\nwant error %q", in, c, err, tc.want)
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(tc.want, fe.Field+": ") {
				t.Errorf("Parse(%q) error %v is not a *FieldError for its field", in, err)
			}
		})
	}
}

// TestDurationFieldNames checks that a value that is not a duration is
// reported with its field path, wherever the duration is.
func TestDurationFieldNames(t *testing.T) {
	for _, tc := range []struct{ top, log, want string }{
		{"interval: 5\n", "", `interval: line 7: "5" is not a duration (use a unit, e.g. 30s)`},
		{"", "    staleness: 5\n", `logs[0].staleness: line 7: "5" is not a duration (use a unit, e.g. 30s)`},
		{"", "    timeout: 1.5\n", `logs[0].timeout: line 7: "1.5" is not a duration (use a unit, e.g. 30s)`},
		{"", "    max_unchanged: forever\n", `logs[0].max_unchanged: line 7: "forever" is not a duration (e.g. 30s, 5m, 1h30m)`},
		{"", "    interval: {s: 1}\n", `logs[0].interval: line 7: want a duration (e.g. 30s), got a mapping`},
		// alert's durations are time.Duration, not config.Duration.
		{"alerts:\n  outbox:\n    retry_max: 5\n", "", `alerts.outbox.retry_max: line 9: "5" is not a duration (use a unit, e.g. 30s)`},
		{"alerts:\n  sinks:\n    - name: h\n      type: webhook\n      url: https://h.example\n      timeout: fast\n", "",
			`alerts.sinks[0].timeout: line 12: "fast" is not a duration (e.g. 30s, 5m, 1h30m)`},
	} {
		in := configYAML(t, tc.top, tc.log)
		_, err := config.Parse(strings.NewReader(in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) = %v\nwant %q", in, err, tc.want)
		}
	}
}

// TestUnknownKeys checks unknown keys at every level of nesting: the path,
// the line and the nearest known key.
func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct{ top, log, want string }{
		{"intreval: 1m\n", "", "intreval: line 7: field intreval not found; did you mean interval?"},
		{"staleness: 1h\n", "", "staleness: line 7: field staleness not found; did you mean logs[].staleness?"},
		{"", "    public_key_fil: /k\n", "logs[0].public_key_fil: line 7: field public_key_fil not found; did you mean public_key_file?"},
		{"", "    timout: 1s\n", "logs[0].timout: line 7: field timout not found; did you mean timeout?"},
		{"", "    frobnicate: yes\n", "logs[0].frobnicate: line 7: field frobnicate not found"},
		{"scan:\n  worker: 4\n", "", "scan.worker: line 8: field worker not found; did you mean workers?"},
		{"scan:\n  memory: 1MiB\n", "", "scan.memory: line 8: field memory not found; did you mean memory_budget?"},
		{"trust:\n  tuf:\n    mirorr: https://tuf.example\n", "", "trust.tuf.mirorr: line 9: field mirorr not found; did you mean mirror?"},
		{"trust:\n  trusted_root: /r.json\n", "", "trust.trusted_root: line 8: field trusted_root not found; did you mean trusted_root_file?"},
		{"alerts:\n  outbox:\n    max_event: 5\n", "", "alerts.outbox.max_event: line 9: field max_event not found; did you mean max_events?"},
		{"alerts:\n  sinks:\n    - {name: l, type: log}\n    - name: h\n      type: webhook\n      urll: https://h.example\n", "",
			"alerts.sinks[1].urll: line 12: field urll not found; did you mean url?"},
		{"identities:\n  watch:\n    - name: w\n      subjet: a@example.com\n", "", "identities.watch[0].subjet: line 10: field subjet not found; did you mean subject?"},
		{"identities:\n  expect:\n    - {name: a, issuer: x}\n    - {name: b, isuer: y}\n", "", "identities.expect[1].isuer: line 10: field isuer not found; did you mean issuer?"},
		{"identities:\n  wach: []\n", "", "identities.wach: line 8: field wach not found; did you mean watch?"},
		// A key set twice is an error too.
		{"", "    url: https://b.example\n", "logs[0].url: line 7: key url already set at line 5"},
	} {
		in := configYAML(t, tc.top, tc.log)
		_, err := config.Parse(strings.NewReader(in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) = %v\nwant %q", in, err, tc.want)
		}
		var fe *config.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%q) = %v, want a *FieldError", in, err)
		}
	}
}

// TestMergeKeys checks that YAML merge keys are followed: their keys are
// known fields, and their typos are found.
func TestMergeKeys(t *testing.T) {
	dir := fileDir(t)
	base := "state_dir: /s\ndefaults: &d\n  kind: rekor-v1\n  public_key_file: " + dir + "/rekor.pub\n  timeout: 5s\nlogs:\n  - <<: *d\n    name: a\n    url: https://a.example\n"
	// defaults: is not a key of the config: the anchor must live elsewhere.
	_, err := config.Parse(strings.NewReader(base))
	if want := "defaults: line 2: field defaults not found"; err == nil || err.Error() != want {
		t.Errorf("Parse(anchor at top) = %v, want %q", err, want)
	}
	in := "state_dir: /s\nlogs:\n  - &d\n    name: a\n    kind: rekor-v1\n    url: https://a.example\n    public_key_file: " + dir + "/rekor.pub\n    timeout: 5s\n  - <<: *d\n    name: b\n    url: https://b.example\n"
	c, err := config.Parse(strings.NewReader(in))
	if err != nil {
		t.Fatalf("Parse(merge) = %v", err)
	}
	if c.Logs[1].Kind != "rekor-v1" || c.Logs[1].Name != "b" || c.Logs[1].Timeout != config.Duration(5e9) {
		t.Errorf("Parse(merge) logs[1] = %+v", c.Logs[1])
	}
	bad := strings.Replace(in, "    timeout: 5s", "    timeot: 5s", 1)
	_, err = config.Parse(strings.NewReader(bad))
	if err == nil || !strings.Contains(err.Error(), "logs[0].timeot: line 8: field timeot not found; did you mean timeout?") ||
		!strings.Contains(err.Error(), "logs[1].timeot: line 8: field timeot not found") {
		t.Errorf("Parse(merge with typo) = %v", err)
	}
}

// TestAllErrorsAtOnce checks that every problem is reported, each as a
// *FieldError, one per line.
func TestAllErrorsAtOnce(t *testing.T) {
	dir := fileDir(t)
	in := `log_format: xml
logs:
  - name: a
    kind: rekor-v3
    url: https://a.example
    public_key_file: ` + dir + `/missing.pub
    timeout: 1ns
  - name: a
    kind: rekor-v1
    url: ftp://b.example
    public_key_file: ` + dir + `/rekor.pub
scan:
  chunk: 18446744073709551615
identities:
  watch:
    - name: w
      subject: "a("
alerts:
  sinks:
    - name: Bad Name
      type: log
`
	_, err := config.Parse(strings.NewReader(in))
	want := []string{
		"state_dir: required",
		`log_format: "xml" is not json or text`,
		`logs[0].kind: "rekor-v3" is not rekor-v1, rekor-v2, ct or static-ct`,
		"logs[0].public_key_file: stat " + dir + "/missing.pub: no such file or directory",
		"logs[0].timeout: 1ns is below the 100ms minimum",
		`logs[1].name: duplicate log name "a"`,
		`logs[1].url: "ftp://b.example" is not an http(s) URL`,
		`alerts.sinks[0].name: "Bad Name" must be 1-64 characters of a-z, 0-9, _ and -`,
		"identities.watch[0].subject: error parsing regexp: missing closing ): `a(`",
		"scan.chunk: 18446744073709551615 is not between 1 and 1000000",
	}
	if err == nil {
		t.Fatal("Parse() = nil error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("Parse() errors mismatch (-want +got):\n%s", diff)
	}
	errs := joined(err)
	if len(errs) != len(want) {
		t.Fatalf("Parse() joined %d errors, want %d", len(errs), len(want))
	}
	for _, e := range errs {
		var fe *config.FieldError
		if !errors.As(e, &fe) || !strings.HasPrefix(e.Error(), fe.Field+": ") {
			t.Errorf("error %q is not a *FieldError naming its field", e)
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Parse() = %v, want it to wrap fs.ErrNotExist", err)
	}

	// Decoding errors are all reported too, before validation.
	_, err = config.Parse(strings.NewReader("state_dir: /s\nintervall: 1m\nlogs:\n  - name: a\n    staleness: 5\n    urll: x\n"))
	want = []string{
		"intervall: line 2: field intervall not found; did you mean interval?",
		`logs[0].staleness: line 5: "5" is not a duration (use a unit, e.g. 30s)`,
		"logs[0].urll: line 6: field urll not found; did you mean url?",
	}
	if err == nil {
		t.Fatal("Parse(decoding errors) = nil error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("Parse(decoding errors) mismatch (-want +got):\n%s", diff)
	}
}

// TestIdentityErrorsWrap checks that identity errors become FieldErrors
// and still wrap their cause.
func TestIdentityErrorsWrap(t *testing.T) {
	dir := fileDir(t)
	in := configYAML(t, "identities:\n  expect:\n    - name: e\n      ca_file: "+dir+"/missing-ca.pem\n", "")
	_, err := config.Parse(strings.NewReader(in))
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Field != "identities.expect[0].ca_file" {
		t.Fatalf("Parse() = %v, want a *FieldError for identities.expect[0].ca_file", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Parse() = %v, want it to wrap fs.ErrNotExist", err)
	}
}

func TestWarnings(t *testing.T) {
	dir := fileDir(t)
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"https only", configYAML(t, "", ""), nil},
		{"http log", "state_dir: /s\nlogs:\n  - {name: a, kind: rekor-v2, url: 'http://rekor.internal/tiles', public_key_file: " + dir + "/rekor.pub}\n",
			[]string{"logs[0].url: plain http:// — checkpoint signatures still protect the log data, but not the transport; use https"}},
		{"loopback logs", "state_dir: /s\nlogs:\n" +
			"  - {name: a, kind: rekor-v1, url: 'http://127.0.0.1:3000', public_key_file: " + dir + "/rekor.pub}\n" +
			"  - {name: b, kind: rekor-v1, url: 'http://127.8.9.10:3000', public_key_file: " + dir + "/rekor.pub}\n" +
			"  - {name: c, kind: rekor-v1, url: 'http://localhost:3000', public_key_file: " + dir + "/rekor.pub}\n" +
			"  - {name: d, kind: rekor-v1, url: 'http://[::1]:3000', public_key_file: " + dir + "/rekor.pub}\n" +
			"  - {name: e, kind: rekor-v1, url: 'http://rekor.localhost', public_key_file: " + dir + "/rekor.pub}\n", nil},
		{"not loopback", "state_dir: /s\nlogs:\n" +
			"  - {name: a, kind: rekor-v1, url: 'http://128.0.0.1', public_key_file: " + dir + "/rekor.pub}\n" +
			"  - {name: b, kind: rekor-v1, url: 'http://localhost.example.com', public_key_file: " + dir + "/rekor.pub}\n",
			[]string{
				"logs[0].url: plain http:// — checkpoint signatures still protect the log data, but not the transport; use https",
				"logs[1].url: plain http:// — checkpoint signatures still protect the log data, but not the transport; use https",
			}},
		{"tuf mirror", "state_dir: /s\nlogs:\n  - {name: a, kind: rekor-v2, url: 'https://a.example'}\ntrust:\n  tuf: {mirror: 'HTTP://tuf.internal', root_file: " + dir + "/root.json}\n",
			[]string{"trust.tuf.mirror: plain http:// — TUF metadata is signed, but an attacker on the path can hold back updates (freeze attacks up to the metadata expiry); use https"}},
		{"sinks", configYAML(t, "alerts:\n  sinks:\n"+
			"    - {name: a, type: webhook, url: 'https://hook.example'}\n"+
			"    - {name: b, type: alertmanager, url: 'http://alertmanager.monitoring:9093'}\n"+
			"    - {name: c, type: slack, url: 'http://127.0.0.1:9/slack'}\n"+
			"    - {name: d, type: webhook, url: 'http://hook.example'}\n", ""),
			[]string{
				"alerts.sinks[1].url: plain http:// — alerts and their secrets travel unencrypted",
				"alerts.sinks[3].url: plain http:// — alerts and their secrets travel unencrypted",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse(strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, c.Warnings()); diff != "" {
				t.Errorf("Warnings() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want config.ByteSize
	}{
		{"0", 0}, {"1024", 1024}, {"100B", 100}, {"512KiB", 512 << 10}, {"64MiB", 64 << 20},
		{"64 MiB", 64 << 20}, {" 4GiB ", 4 << 30}, {"1TiB", 1 << 40}, {"100kB", 100e3}, {"100KB", 100e3},
		{"3MB", 3e6}, {"2GB", 2e9}, {"1TB", 1e12}, {"9223372036854775807", 1<<63 - 1},
	} {
		got, err := config.ParseByteSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5GiB", "64mib", "64 M", "0x10", "9223372036854775808", "8388608TiB", "1 2", "64MiBs"} {
		if got, err := config.ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want error", in, got)
		}
	}
	for _, tc := range []struct {
		in   config.ByteSize
		want string
	}{{0, "0B"}, {100, "100B"}, {1536, "1536B"}, {2048, "2KiB"}, {64 << 20, "64MiB"}, {4 << 30, "4GiB"}, {1<<20 + 1, "1048577B"}} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestByteSizeYAML(t *testing.T) {
	var v struct {
		S config.ByteSize `yaml:"s"`
	}
	for in, want := range map[string]config.ByteSize{"s: 1048576\n": config.MiB, "s: 64MiB\n": 64 * config.MiB, "s: '2 GiB'\n": 2 * config.GiB} {
		if err := yaml.Unmarshal([]byte(in), &v); err != nil || v.S != want {
			t.Errorf("Unmarshal(%q) = %d, %v, want %d", in, v.S, err, want)
		}
	}
	v.S = 512 * config.KiB
	out, err := yaml.Marshal(v)
	if err != nil || string(out) != "s: 512KiB\n" {
		t.Errorf("Marshal = %q, %v", out, err)
	}
	if v.S.Int64() != 512<<10 {
		t.Errorf("Int64() = %d", v.S.Int64())
	}
	for _, in := range []string{"s: [1]\n", "s: lots\n", "s: -1\n"} {
		if err := yaml.Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("Unmarshal(%q) = nil error", in)
		}
	}
}
