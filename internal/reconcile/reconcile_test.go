package reconcile

import (
	"encoding/json"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func key(b byte) Key { return Key{b} }

func cfg() Config {
	return Config{MaxMergeDelay: 24 * time.Hour, UnusedWindow: time.Hour, MaxPending: 100, ClockSkew: 5 * time.Minute}
}

// started returns a pair whose scans both started at the first entry.
func started(c Config) *Pair {
	p := New(c)
	p.StartCT(0, t0)
	p.StartRekor(0, t0)
	return p
}

func TestSCTResolvedByCT(t *testing.T) {
	for _, ctFirst := range []bool{false, true} {
		p := started(cfg())
		r := RekorCert{Key: key(1), Index: 7, SCT: []byte{1}, SCTTime: t0}
		c := CTCert{Key: key(1), Index: 3, Time: t0}
		if ctFirst {
			p.ObserveCT(c, t0.Add(time.Second))
			p.ObserveRekor(r, t0.Add(2*time.Second))
		} else {
			p.ObserveRekor(r, t0.Add(time.Second))
			p.ObserveCT(c, t0.Add(2*time.Second))
		}
		p.CTScanned(t0.Add(48*time.Hour), time.Time{})
		if d := p.Due(); len(d) != 0 {
			t.Errorf("ctFirst=%v: due %v, want nothing: the CT log holds the certificate", ctFirst, d)
		}
		if sct, _ := p.Pending(); sct != 0 {
			t.Errorf("ctFirst=%v: %d pending SCTs", ctFirst, sct)
		}
	}
}

func TestSCTDueOnlyAfterMergeDelayByCTHead(t *testing.T) {
	p := started(cfg())
	p.ObserveRekor(RekorCert{Key: key(1), SCT: []byte{1}, SCTTime: t0}, t0)
	// The CT scan's horizon is what counts, not the wall clock: a monitor
	// that is behind does not blame the log.
	p.CTScanned(t0.Add(23*time.Hour), time.Time{})
	if d := p.Due(); len(d) != 0 {
		t.Fatalf("due before the merge delay passed by the CT head: %v", d)
	}
	p.CTScanned(t0.Add(24*time.Hour), time.Time{})
	d := p.Due()
	if len(d) != 1 || d[0].SCT == nil || d[0].SCT.Key != key(1) {
		t.Fatalf("due = %+v, want the SCT", d)
	}
	p.Raised(d[0])
	if len(p.Due()) != 0 {
		t.Fatal("raised SCT still due")
	}
}

func TestUnusedWatchedCertificate(t *testing.T) {
	p := started(cfg())
	p.ObserveCT(CTCert{Key: key(2), Time: t0, Watched: []string{"release"}}, t0)
	p.ObserveCT(CTCert{Key: key(3), Time: t0}, t0) // not watched: never pending
	p.RekorScanned(t0.Add(59 * time.Minute))
	if d := p.Due(); len(d) != 0 {
		t.Fatalf("due within the window: %v", d)
	}
	p.RekorScanned(t0.Add(time.Hour))
	d := p.Due()
	if len(d) != 1 || d[0].Unused == nil || d[0].Unused.Key != key(2) {
		t.Fatalf("due = %+v, want the watched certificate", d)
	}
	// Used in Rekor after all (a late scan): resolved, not raised.
	p.ObserveRekor(RekorCert{Key: key(2)}, t0.Add(time.Hour))
	if len(p.Due()) != 0 {
		t.Fatal("used certificate still due")
	}
	if c := p.Counts(); c.ResolvedUnused != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestUsedBeforeCTScanIsNotPending(t *testing.T) {
	p := started(cfg())
	p.ObserveRekor(RekorCert{Key: key(4)}, t0)
	p.ObserveCT(CTCert{Key: key(4), Time: t0, Watched: []string{"w"}}, t0.Add(time.Minute))
	if _, unused := p.Pending(); unused != 0 {
		t.Fatal("a certificate Rekor already used is pending")
	}
}

// Starting the monitor on logs with history raises nothing false: what
// the other log's scan could not have seen is skipped.
func TestHistoryIsSkipped(t *testing.T) {
	p := New(cfg())
	p.StartRekor(500, t0) // Rekor scanned from index 500 at t0
	p.StartCT(0, t0)
	p.ObserveCT(CTCert{Key: key(5), Time: t0.Add(-time.Hour), Watched: []string{"w"}}, t0)
	p.ObserveCT(CTCert{Key: key(6), Time: t0.Add(10 * time.Minute), Watched: []string{"w"}}, t0.Add(10*time.Minute))
	if _, unused := p.Pending(); unused != 1 {
		t.Fatalf("pending unused = %d, want 1 (the certificate after the Rekor scan started)", unused)
	}
	q := New(cfg())
	q.StartCT(900, t0)
	q.StartRekor(0, t0)
	q.ObserveRekor(RekorCert{Key: key(7), SCT: []byte{1}, SCTTime: t0.Add(-time.Minute)}, t0)
	if sct, _ := q.Pending(); sct != 0 {
		t.Fatal("an SCT older than the CT scan's start is pending without a lookup")
	}
	c := cfg()
	c.CTLookup = true
	q = New(c)
	q.StartCT(900, t0)
	q.ObserveRekor(RekorCert{Key: key(7), SCT: []byte{1}, SCTTime: t0.Add(-time.Minute)}, t0)
	if sct, _ := q.Pending(); sct != 1 {
		t.Fatal("with a lookup, an old SCT must be pending (the log can be asked)")
	}
}

func TestBounded(t *testing.T) {
	c := cfg()
	c.MaxPending = 3
	p := started(c)
	for i := range 10 {
		p.ObserveCT(CTCert{Key: key(byte(i)), Time: t0, Watched: []string{"w"}}, t0)
	}
	p.Prune(t0)
	if _, unused := p.Pending(); unused != 3 {
		t.Fatalf("pending %d, want the bound 3", unused)
	}
	if p.Counts().Dropped != 7 {
		t.Fatalf("dropped %d, want 7", p.Counts().Dropped)
	}
	if n := len(p.ctSeen.order); n != 3 {
		t.Fatalf("seen list holds %d, want 3", n)
	}
	// A certificate older than what the full seen list forgot cannot be
	// judged: skipped.
	p.ObserveRekor(RekorCert{Key: key(42), SCT: []byte{1}, SCTTime: t0}, t0)
	if sct, _ := p.Pending(); sct != 0 {
		t.Fatal("an SCT as old as forgotten CT keys is pending")
	}
}

func TestSaveLoad(t *testing.T) {
	p := started(cfg())
	p.ObserveRekor(RekorCert{Key: key(1), Index: 9, Cert: []byte("der"), SCT: []byte{1, 2}, SCTTime: t0, Identity: map[string]string{"subject": "a@b"}}, t0)
	p.ObserveCT(CTCert{Key: key(2), Index: 4, Time: t0, LeafHash: []byte{9}, Watched: []string{"w"}}, t0)
	p.CTScanned(t0.Add(time.Hour), time.Time{})
	p.RekorScanned(t0.Add(time.Minute))
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Load(b, cfg())
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(q)
	if string(b) != string(b2) {
		t.Fatalf("round trip differs:\n%s\n%s", b, b2)
	}
	if !q.ctSeen.has(key(2)) || !q.rekorSeen.has(key(1)) {
		t.Fatal("seen lists lost")
	}
	for _, bad := range []string{`{`, `{"version":2}`, `{"version":1,"ct_seen":"AAA="}`, `{"version":1,"scts":[{"key":"zz"}]}`} {
		if _, err := Load([]byte(bad), cfg()); err == nil {
			t.Errorf("Load(%s) = nil error", bad)
		}
	}
}

// An idle CT log keeps serving its old head: it is held to the time it
// served it (less the skew margin), so a withheld certificate still comes
// due; a monitor that is behind (an old served time) blames nothing.
func TestIdleCTLogHorizon(t *testing.T) {
	c := cfg()
	c.MaxMergeDelay = time.Minute
	p := started(c)
	p.ObserveRekor(RekorCert{Key: key(1), SCT: []byte{1}, SCTTime: t0}, t0)
	p.CTScanned(t0.Add(-time.Hour), t0.Add(5*time.Minute)) // within the skew margin
	if d := p.Due(); len(d) != 0 {
		t.Fatalf("due while the served time is within the merge delay and skew: %v", d)
	}
	p.CTScanned(t0.Add(-time.Hour), t0.Add(12*time.Minute))
	if d := p.Due(); len(d) != 1 {
		t.Fatalf("due = %v, want the SCT: the log served a head without it long after its merge delay", d)
	}
}

// Certificates near the start of the other log's scan are not judged:
// the clocks of the log and the monitor may differ.
func TestSkewMargin(t *testing.T) {
	p := New(cfg())
	p.StartRekor(10, t0)
	p.StartCT(0, t0)
	p.ObserveCT(CTCert{Key: key(1), Time: t0.Add(time.Minute), Watched: []string{"w"}}, t0.Add(time.Minute))
	p.ObserveCT(CTCert{Key: key(2), Time: t0.Add(10 * time.Minute), Watched: []string{"w"}}, t0.Add(10*time.Minute))
	if _, unused := p.Pending(); unused != 1 {
		t.Fatalf("pending unused = %d, want 1: only the certificate well after the Rekor scan's start", unused)
	}
	seen, covered := p.SeenInRekor(key(2), t0.Add(10*time.Minute))
	if seen || covered {
		t.Fatalf("SeenInRekor = %v, %v before any Rekor scan reached it", seen, covered)
	}
	p.RekorScanned(t0.Add(time.Hour))
	if _, covered := p.SeenInRekor(key(2), t0.Add(10*time.Minute)); !covered {
		t.Fatal("a Rekor scan past the certificate's time does not cover it")
	}
}
