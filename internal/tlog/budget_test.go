package tlog_test

// The tests of the shared fetching machinery run it through the two Rekor
// kinds, against test servers that give the largest answers each may.

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
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/rekorv1"
	"github.com/vigil-tlog/vigil/internal/rekorv2"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Largest legitimate answers of the kinds (rekorv1's maxV1Entry, rekorv2's
// maxBundle), below which no per-response limit goes.
const (
	maxV1Entry = 6 << 20
	maxBundle  = 256 * (2 + 0xffff)
)

// patientClient is a client for answers of many megabytes, on a machine
// that may be busy (and under the race detector).
func patientClient(t *testing.T) *http.Client {
	t.Helper()
	c, err := tlog.NewHTTPClient(tlog.ClientConfig{Timeout: 2 * time.Minute})
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
func consume(t *testing.T, b *tlog.Budget, size int, got *atomic.Uint64) (fn func(tlog.Entry) error, wait func()) {
	ch := make(chan tlog.Entry, 1000)
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
	fn = func(e tlog.Entry) error {
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
			b := tlog.NewBudget(tc.budget)
			var got atomic.Uint64
			var err error
			var want uint64
			switch tc.kind {
			case "v1":
				// 3 MiB entries: a retrieve of 10 is 40 MB and must
				// be split down to single entries.
				const size = 3 << 20
				l, _ := rekorv1.New(tlog.Options{URL: v1Server(t, size, 0), Client: patientClient(t)})
				want = 14
				fn, wait := consume(t, b, size, &got)
				err = l.Entries(ctx, tlog.Tree{}, 0, want, tlog.EntriesOptions{Workers: tc.workers, Budget: b, Retain: true}, fn)
				wait()
			case "v2":
				// Bundles of 256 maximal entries: 16 MiB each.
				const size = 0xffff
				want = 4*256 + 17
				l, _ := rekorv2.New(tlog.Options{URL: v2Server(t, want, size, 0), Client: patientClient(t)})
				fn, wait := consume(t, b, size, &got)
				err = l.Entries(ctx, tlog.Tree{Size: want}, 0, want, tlog.EntriesOptions{Workers: tc.workers, Budget: b, Retain: true}, fn)
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
			b := tlog.NewBudget(0)
			var err error
			var path string
			limit, _ := tlog.EntriesOptions{Budget: b}.Limit(maxV1Entry)
			if kind == "v1" {
				l, _ := rekorv1.New(tlog.Options{URL: v1Server(t, 10, huge), Client: patientClient(t)})
				err = l.Entries(t.Context(), tlog.Tree{}, 0, 100, tlog.EntriesOptions{Budget: b}, func(tlog.Entry) error { return nil })
				path = "/api/v1/log/entries/retrieve"
			} else {
				limit, _ = tlog.EntriesOptions{Budget: b}.Limit(maxBundle)
				l, _ := rekorv2.New(tlog.Options{URL: v2Server(t, 1000, 10, huge), Client: patientClient(t)})
				err = l.Entries(t.Context(), tlog.Tree{Size: 1000}, 0, 1000, tlog.EntriesOptions{Budget: b}, func(tlog.Entry) error { return nil })
				path = "/tile/entries/000"
			}
			var be *tlog.BodyTooLargeError
			if !errors.As(err, &be) || !errors.Is(err, tlog.ErrBodyTooLarge) {
				t.Fatalf("Entries = %v, want a *tlog.BodyTooLargeError", err)
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
	b := tlog.NewBudget(8 << 20)
	l, _ := rekorv2.New(tlog.Options{URL: v2Server(t, 4096, 1000, 0), Client: patientClient(t)})
	stop := errors.New("stop")
	n := 0
	err := l.Entries(t.Context(), tlog.Tree{Size: 4096}, 0, 4096, tlog.EntriesOptions{Workers: 8, Budget: b}, func(e tlog.Entry) error {
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

func newClient(t *testing.T, maxBody int64) *http.Client {
	t.Helper()
	c, err := tlog.NewHTTPClient(tlog.ClientConfig{Timeout: 2 * time.Second, MaxBody: maxBody, UserAgent: "vigil-test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestLimitsAndStatus(t *testing.T) {
	u := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/checkpoint":
			// No Content-Length: the limit must hold while streaming.
			w.(http.Flusher).Flush()
			for range 100 {
				w.Write([]byte(strings.Repeat("x", 1024)))
			}
		case "/tile/0/000":
			http.NotFound(w, r)
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	})
	l, err := rekorv2.New(tlog.Options{URL: u, Client: newClient(t, 16<<10)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Head(t.Context()); !errors.Is(err, tlog.ErrBodyTooLarge) {
		t.Errorf("Head of a 100 KiB checkpoint = %v, want tlog.ErrBodyTooLarge", err)
	}
	if _, err := l.ReadTile(t.Context(), 0, 0, 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadTile of a missing tile = %v, want os.ErrNotExist", err)
	}
	v1, _ := rekorv1.New(tlog.Options{URL: u, Client: newClient(t, 0)})
	_, err = v1.Head(t.Context())
	var se *tlog.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusInternalServerError || !strings.Contains(se.Body, "boom") {
		t.Errorf("Head of a failing server = %v, want a StatusError 500 with the body", err)
	}
}

func TestNewURLValidation(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "not a url"} {
		if _, err := rekorv1.New(tlog.Options{URL: u, Client: http.DefaultClient}); err == nil {
			t.Errorf("rekorv1.New(%q) succeeded", u)
		}
		if _, err := rekorv2.New(tlog.Options{URL: u, Client: http.DefaultClient}); err == nil {
			t.Errorf("rekorv2.New(%q) succeeded", u)
		}
	}
}
