package alert

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEventCheck(t *testing.T) {
	ok := forkEvent()
	rec := Recovered(Event{Kind: KindStaleLog, Severity: SeverityWarning, Log: "rekor", DedupeKey: "k"}, time.Now(), "")
	tests := []struct {
		name string
		mod  func(*Event)
		base Event
		want string // "" for valid
	}{
		{"fork", func(*Event) {}, ok, ""},
		{"recovered", func(*Event) {}, rec, ""},
		{"test without log", func(e *Event) { e.Kind, e.Log = KindTest, "" }, ok, ""},
		{"unknown kind", func(e *Event) { e.Kind = "fork" }, ok, `unknown kind "fork"`},
		{"unknown severity", func(e *Event) { e.Severity = "high" }, ok, `unknown severity "high"`},
		{"no log", func(e *Event) { e.Log = "" }, ok, "no log name"},
		{"recovered without resolves", func(e *Event) { e.Resolves = nil }, rec, "without the condition"},
		{"resolves on firing event", func(e *Event) { e.Resolves = &Condition{DedupeKey: "x"} }, ok, "resolves set on a integrity_violation event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.base
			tt.mod(&e)
			err := e.Check()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Check() = %v, want error containing %q", err, tt.want)
			case tt.want != "" && !errors.Is(err, ErrInvalidEvent):
				t.Fatalf("Check() = %v, not ErrInvalidEvent", err)
			}
		})
	}
}

func TestDefaultDedupeKey(t *testing.T) {
	a := forkEvent()
	b := forkEvent()
	b.Time = b.Time.Add(time.Hour) // time is not part of the key
	b.Summary = "other words"
	if ka, kb := DefaultDedupeKey(a), DefaultDedupeKey(b); ka != kb {
		t.Errorf("same fork at different times: keys %q and %q differ", ka, kb)
	}
	if k := DefaultDedupeKey(a); !strings.HasPrefix(k, "integrity_violation/rekor/") || len(k) != len("integrity_violation/rekor/")+32 {
		t.Errorf("DefaultDedupeKey = %q, want integrity_violation/rekor/<32 hex>", k)
	}
	c := forkEvent()
	c.Evidence.NewCheckpoint += "x"
	if DefaultDedupeKey(a) == DefaultDedupeKey(c) {
		t.Error("forks at different checkpoints share a key")
	}
	s1 := Event{Kind: KindStaleLog, Log: "rekor", Evidence: Evidence{OldCheckpoint: "one"}}
	s2 := Event{Kind: KindStaleLog, Log: "rekor", Evidence: Evidence{OldCheckpoint: "two"}}
	if DefaultDedupeKey(s1) != DefaultDedupeKey(s2) {
		t.Error("stale log keys depend on the checkpoint; want one condition per log")
	}
	m1 := Event{Kind: KindIdentityMatch, Log: "rekor", Evidence: Evidence{Rule: "r", Entry: &Entry{Index: 1}}}
	m2 := Event{Kind: KindIdentityMatch, Log: "rekor", Evidence: Evidence{Rule: "r", Entry: &Entry{Index: 2}}}
	if DefaultDedupeKey(m1) == DefaultDedupeKey(m2) {
		t.Error("matches of different entries share a key")
	}
}

func TestRecovered(t *testing.T) {
	f := forkEvent()
	f.DedupeKey = DefaultDedupeKey(f)
	f.Evidence.Rule = "r1"
	at := f.Time.Add(time.Hour)
	r := Recovered(f, at, "")
	want := Event{
		Kind: KindRecovered, Severity: SeverityInfo, Log: "rekor", Reason: "fork", Time: at,
		DedupeKey: f.DedupeKey + "/recovered",
		Summary:   "integrity_violation on log rekor cleared",
		Resolves:  &Condition{Kind: KindIntegrityViolation, Severity: SeverityCritical, Reason: "fork", Rule: "r1", DedupeKey: f.DedupeKey},
		Evidence:  Evidence{Rule: "r1"},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("Recovered() mismatch (-want +got):\n%s", diff)
	}
	if err := r.Check(); err != nil {
		t.Errorf("Recovered().Check() = %v", err)
	}
}

func TestKindAlertName(t *testing.T) {
	for _, tt := range []struct {
		k    Kind
		want string
	}{
		{KindIntegrityViolation, "VigilIntegrityViolation"},
		{KindStaleLog, "VigilStaleLog"},
		{KindIdentityMatch, "VigilIdentityMatch"},
		{KindUnexpectedIdentity, "VigilUnexpectedIdentity"},
		{KindMalformedEntry, "VigilMalformedEntry"},
		{KindRecovered, "VigilRecovered"},
		{KindTest, "VigilTest"},
	} {
		if got := tt.k.AlertName(); got != tt.want {
			t.Errorf("%q.AlertName() = %q, want %q", tt.k, got, tt.want)
		}
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	e := forkEvent()
	e.ID = newID(e.Time)
	e.DedupeKey = DefaultDedupeKey(e)
	e.Evidence.Entry = &Entry{Index: 42, UUID: "24296fb2", LeafHash: "ab", Body: []byte{0, 1, 2, 0xff}}
	e.Evidence.Identity = map[string]string{"subject": "ci@example.com", "issuer": "https://issuer.local"}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var got Event
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
	for _, key := range []string{`"kind":"integrity_violation"`, `"dedupe_key":`, `"old_checkpoint":`, `"proof":["5f4d1c","a1b2c3"]`, `"body":"AAEC/w=="`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
}

func TestDescribe(t *testing.T) {
	e := forkEvent()
	e.DedupeKey = "k1"
	d := e.Describe()
	for _, want := range []string{"reason: fork", "dedupe key: k1", "key id: c0d23d6a", "proof: 5f4d1c a1b2c3",
		"old checkpoint:\nrekor.local - 1\n8\n", "new checkpoint:\nrekor.local - 1\n8\nZmFr"} {
		if !strings.Contains(d, want) {
			t.Errorf("Describe() lacks %q:\n%s", want, d)
		}
	}
}
