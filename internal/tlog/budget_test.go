package rekor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
)

// patientClient is a client for answers of many megabytes, on a machine
// that may be busy (and under the race detector).
func patientClient(t *testing.T) *http.Client {
	t.Helper()
	c, err := NewHTTPClient(ClientConfig{Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// entryData is entry i of the test logs: size bytes that depend on i.
func entryData(i uint64, size int) []byte {
	b := bytes.Repeat([]byte(fmt.Sprintf("%08d", i)), size/8+1)
	return b[:size]
}

// v1Server serves POST /api/v1/log/entries/retrieve for a log whose entry i
// is entryData(i, size), streamed without a Content-Length, like
// rekor-server. With huge > 0 every answer is padded to huge bytes.
func v1Server(t *testing.T, size, huge int) string {
	return serve(t, func(w http.ResponseWriter, r *http.Request) {
		var q struct{ LogIndexes []uint64 }
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		bw := bufio.NewWriter(w)
		defer bw.Flush()
		bw.WriteString("[")
		for k, i := range q.LogIndexes {
			if k > 0 {
				bw.WriteString(",")
			}
			data := entryData(i, size)
			if huge > 0 {
				data = bytes.Repeat([]byte{1}, huge/len(q.LogIndexes))
			}
			fmt.Fprintf(bw, `{"%064x":{"logIndex":%d,"integratedTime":1,"body":"%s","verification":{}}}`, i, i, base64.StdEncoding.EncodeToString(data))
		}
		bw.WriteString("]")
	})
}

// v2Server serves the entry bundles of a log of n entries of size bytes.
// With huge > 0 every bundle is huge bytes of 65535-byte entries.
func v2Server(t *testing.T, n uint64, size, huge int) string {
	return serve(t, func(w http.ResponseWriter, r *http.Request) {
		var idx uint64
		if _, err := fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/tile/entries/"), "%03d", &idx); err != nil || idx*256 >= n {
			http.NotFound(w, r)
			return
		}
		bw := bufio.NewWriter(w)
		defer bw.Flush()
		if huge > 0 {
			e := bytes.Repeat([]byte{1}, 0xffff)
			for done := 0; done < huge; done += 2 + len(e) {
				bw.Write(binary.BigEndian.AppendUint16(nil, uint16(len(e))))
				bw.Write(e)
			}
			return
		}
		for i := idx * 256; i < min(idx*256+256, n); i++ {
			bw.Write(binary.BigEndian.AppendUint16(nil, uint16(size)))
			bw.Write(entryData(i, size))
		}
	})
}

// consume returns an fn for Entries that checks each entry's data, keeps it
// (Retain) and releases it later from another goroutine, slowly, while
// checking that the budget is never overdrawn.
func consume(t *testing.T, b *Budget, size int, got *atomic.Uint64) (fn func(Entry) error, wait func()) {
	ch := make(chan Entry, 1000)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for e := range ch {
			if !bytes.Equal(e.Data, entryData(e.Index, size)) {
				t.Errorf("entry %d: wrong data", e.Index)
			}
			time.Sleep(10 * time.Microsecond)
			e.Release()
		}
	}()
	fn = func(e Entry) error {
		if u := b.InUse(); u > b.Size() {
			t.Errorf("budget in use %d, over its size %d", u, b.Size())
		}
		got.Add(1)
		ch <- e
		return nil
	}
	return fn, func() { close(ch); wg.Wait() }
}

// TestEntriesBudget: the largest legitimate answers are read under budgets
// from generous to smaller than one answer, all entries arrive in order,
// and the whole budget is free afterwards.
func TestEntriesBudget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    string
		budget  int64
		workers int
	}{
		{"v1 default", "v1", 0, 16},
		{"v1 one entry at a time", "v1", 1 << 20, 4},
		{"v2 default", "v2", 0, 16},
		{"v2 less than one bundle", "v2", 1 << 20, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			b := NewBudget(tc.budget)
			var got atomic.Uint64
			var err error
			var want uint64
			switch tc.kind {
			case "v1":
				// 3 MiB entries: a retrieve of 10 is 40 MB and must
				// be split down to single entries.
				const size = 3 << 20
				l, _ := NewV1(v1Server(t, size, 0), patientClient(t))
				want = 14
				fn, wait := consume(t, b, size, &got)
				err = l.Entries(ctx, 0, 0, want, EntriesOptions{Workers: tc.workers, Budget: b, Retain: true}, fn)
				wait()
			case "v2":
				// Bundles of 256 maximal entries: 16 MiB each.
				const size = 0xffff
				want = 4*256 + 17
				l, _ := NewV2(v2Server(t, want, size, 0), patientClient(t))
				fn, wait := consume(t, b, size, &got)
				err = l.Entries(ctx, want, 0, want, EntriesOptions{Workers: tc.workers, Budget: b, Retain: true}, fn)
				wait()
			}
			if err != nil {
				t.Fatalf("Entries: %v", err)
			}
			if got.Load() != want {
				t.Errorf("got %d entries, want %d", got.Load(), want)
			}
			if u := b.InUse(); u != 0 {
				t.Errorf("budget in use after the scan: %d bytes", u)
			}
		})
	}
}

// TestEntriesTooLarge: an answer over its limit is a no-verdict error that
// names the URL, the limit and the setting to raise, and leaves the budget
// free.
func TestEntriesTooLarge(t *testing.T) {
	const huge = 30_000_000
	for _, kind := range []string{"v1", "v2"} {
		t.Run(kind, func(t *testing.T) {
			b := NewBudget(0)
			var err error
			var path string
			limit := b.limit(16, maxV1Entry)
			if kind == "v1" {
				l, _ := NewV1(v1Server(t, 10, huge), patientClient(t))
				err = l.Entries(t.Context(), 0, 0, 100, EntriesOptions{Budget: b}, func(Entry) error { return nil })
				path = retrievePath
			} else {
				limit = b.limit(16, maxBundle)
				l, _ := NewV2(v2Server(t, 1000, 10, huge), patientClient(t))
				err = l.Entries(t.Context(), 1000, 0, 1000, EntriesOptions{Budget: b}, func(Entry) error { return nil })
				path = "/tile/entries/000"
			}
			var be *BodyTooLargeError
			if !errors.As(err, &be) || !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("Entries = %v, want a *BodyTooLargeError", err)
			}
			msg := err.Error()
			for _, want := range []string{path, fmt.Sprint(limit), "raise scan.memory_budget"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not name %q", msg, want)
				}
			}
			if u := b.InUse(); u != 0 {
				t.Errorf("budget in use after the error: %d bytes", u)
			}
		})
	}
}

// TestEntriesStopEarly: a consumer that stops part way gets its error back
// and the budget is free when Entries returns.
func TestEntriesStopEarly(t *testing.T) {
	b := NewBudget(8 << 20)
	l, _ := NewV2(v2Server(t, 4096, 1000, 0), patientClient(t))
	stop := errors.New("stop")
	n := 0
	err := l.Entries(t.Context(), 4096, 0, 4096, EntriesOptions{Workers: 8, Budget: b}, func(e Entry) error {
		if n++; n == 700 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Entries = %v, want %v", err, stop)
	}
	if u := b.InUse(); u != 0 {
		t.Errorf("budget in use after stopping: %d bytes", u)
	}
}

func TestParseRetrieve(t *testing.T) {
	body := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, in string
		want     []string // bodies, or nil for an error
		err      string
	}{
		{"two", `[{"u1":{"logIndex":5,"body":"` + body("five") + `"}},{"u2":{"body":"` + body("six") + `","logIndex":6,"x":[1,{"y":null}]}}]`, []string{"five", "six"}, ""},
		{"one object, two entries", `[{"u2":{"logIndex":6,"body":"` + body("six") + `"},"u1":{"logIndex":5,"body":"` + body("five") + `"}}]`, []string{"five", "six"}, ""},
		{"escaped base64", `[{"u1":{"logIndex":5,"body":"` + strings.ReplaceAll(body("five?>"), "/", `\/`) + `"}},{"u2":{"logIndex":6,"body":"\u0041\u0041\u003d\u003d"}}]`, []string{"five?>", "\x00"}, ""},
		{"missing entry", `[{"u1":{"logIndex":5,"body":""}}]`, nil, "did not return entry 6"},
		{"twice", `[{"u1":{"logIndex":5,"body":""}},{"u1":{"logIndex":5,"body":""}}]`, nil, "twice"},
		{"out of range", `[{"u1":{"logIndex":7,"body":""}}]`, nil, "log index 7, want 5 to 6"},
		{"negative", `[{"u1":{"logIndex":-1,"body":""}}]`, nil, "not an index"},
		{"float index", `[{"u1":{"logIndex":5.0,"body":""}}]`, nil, "not an index"},
		{"body not a string", `[{"u1":{"logIndex":5,"body":{}}}]`, nil, "want a base64 string"},
		{"no body", `[{"u1":{"logIndex":5}}]`, nil, "no body"},
		{"padding inside", `[{"u1":{"logIndex":5,"body":"AA==AAAA"}}]`, nil, "not standard base64"},
		{"duplicate key", `[{"u1":{"logIndex":5,"logIndex":6,"body":""}}]`, nil, "duplicate"},
		{"trailing", `[] []`, nil, "after the JSON array"},
		{"not an array", `{}`, nil, "where [ was due"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRetrieve([]byte(tc.in), 1, 4, 2)
			if tc.want == nil {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseRetrieve = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRetrieve: %v", err)
			}
			for i, e := range got {
				if string(e.Data) != tc.want[i] || e.Index != 4+uint64(i) || e.LogIndex != 5+uint64(i) {
					t.Errorf("entry %d = {%d %d %q}, want {%d %d %q}", i, e.Index, e.LogIndex, e.Data, 4+i, 5+i, tc.want[i])
				}
			}
		})
	}
}

func TestParseBundle(t *testing.T) {
	bundle := func(n int) []byte {
		var b []byte
		for i := range n {
			b = binary.BigEndian.AppendUint16(b, 1)
			b = append(b, byte(i))
		}
		return b
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		ri   layout.RangeInfo
		err  string
	}{
		{"full", bundle(256), layout.RangeInfo{Index: 1, First: 10, N: 5}, ""},
		{"partial", bundle(20), layout.RangeInfo{Index: 1, First: 10, N: 10, Partial: 20}, ""},
		{"too short", bundle(19), layout.RangeInfo{Index: 1, First: 10, N: 10, Partial: 20}, "has 19 entries"},
		{"too many", bundle(257), layout.RangeInfo{Index: 1, First: 10, N: 5}, "more than 256"},
		{"dangling", append(bundle(20), 0), layout.RangeInfo{Index: 1, First: 0, N: 5}, "dangling"},
		{"cut", append(bundle(20), 0, 9), layout.RangeInfo{Index: 1, First: 0, N: 5}, "needs 9 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := parseBundle(tc.raw, tc.ri)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseBundle = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range es {
				want := uint64(256 + tc.ri.First + uint(i))
				if e.Index != want || len(e.Data) != 1 || e.Data[0] != byte(want-256) || cap(e.Data) != 1 {
					t.Errorf("entry %d = {%d %x cap %d}, want {%d %x cap 1}", i, e.Index, e.Data, cap(e.Data), want, byte(want-256))
				}
			}
		})
	}
}
