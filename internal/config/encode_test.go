package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity"
)

// What Encode writes, Read decodes back to the same configuration: for the
// good test files as decoded (no defaults) and after defaults.
func TestEncodeRoundTripFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "good", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no good test configs: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			dir := fileDir(t)
			path := writeConfig(t, dir, filepath.Join("good", name))
			read, err := config.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, read)
			loaded, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			got := roundTrip(t, loaded)
			if err := got.Validate(); err != nil {
				t.Errorf("the decoded encoding of a valid config does not validate: %v", err)
			}
		})
	}
}

// A configuration built in Go round-trips, strings that YAML would read as
// other types included, and only what is set is written.
func TestEncodeBuilt(t *testing.T) {
	dir := fileDir(t)
	c := &config.Config{
		StateDir: dir,
		Interval: config.Duration(90 * time.Second),
		Logs: []config.Log{{
			Name: "rekor", Kind: config.KindRekorV1, URL: "http://rekor-server.rekor-system.svc",
			PublicKeyFile: filepath.Join(dir, "rekor.pub"), Staleness: config.Duration(time.Hour),
		}},
		Identities: identity.Config{Watch: []identity.Rule{
			{Name: "ci", Subject: "ci@example.com", Issuer: "https://issuer.example"},
			{Name: "123", Subject: "true"},
			{Name: "quoted", Subject: "null", Fingerprint: strings.Repeat("0123456789", 6) + "0123"},
			{Name: "odd", Subject: ": # {x} - y\nz", Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": `https://github\.com/acme/.*`}},
		}},
		Scan:   config.Scan{StartAtEnd: true, MemoryBudget: 3 * config.MiB},
		Alerts: alert.Config{Sinks: []alert.SinkConfig{{Name: "hook", Type: alert.TypeWebhook, URL: "https://hooks.example", Timeout: 5 * time.Second}}},
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("encoded:\n%s", b)
	for _, absent := range []string{"listen:", "log_format:", "trust:", "schedule:", "origin:", "workers:", "outbox:", "group:", "expect:"} {
		if bytes.Contains(b, []byte(absent)) {
			t.Errorf("encoding has %s, which is not set", absent)
		}
	}
	if !strings.HasPrefix(string(b), "state_dir: ") {
		t.Errorf("encoding does not start with state_dir (the first field):\n%s", b)
	}
	got := roundTrip(t, c)
	parsed, err := config.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Parse of the encoding: %v", err)
	}
	if parsed.Logs[0].Interval != c.Interval || parsed.Scan.Workers != config.DefaultWorkers {
		t.Errorf("Parse did not fill in defaults: %+v", parsed)
	}
	if got.Identities.Watch[1].Name != "123" || got.Identities.Watch[1].Subject != "true" {
		t.Errorf("watch[1] = %+v", got.Identities.Watch[1])
	}
}

// roundTrip encodes c, decodes the result strictly with Read and checks
// that it is c again.
func roundTrip(t *testing.T, c *config.Config) *config.Config {
	t.Helper()
	b, err := c.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	path := filepath.Join(t.TempDir(), "encoded.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := config.Read(path)
	if err != nil {
		t.Fatalf("Read of the encoding: %v\n%s", err, b)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\nencoding:\n%s", diff, b)
	}
	return got
}
