package rekor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func newClient(t *testing.T, maxBody int64) *http.Client {
	t.Helper()
	c, err := NewHTTPClient(ClientConfig{Timeout: 2 * time.Second, MaxBody: maxBody, UserAgent: "vigil-test"})
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

func TestV1HeadDecoding(t *testing.T) {
	const note = "rekor.local - 1\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— rekor.local abc=\n"
	good := map[string]any{"treeID": "1", "treeSize": 2, "rootHash": strings.Repeat("00", 32), "signedTreeHead": note,
		"inactiveShards": []any{map[string]any{"treeID": "0", "treeSize": 1, "rootHash": strings.Repeat("11", 32), "signedTreeHead": note}}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		body any
		want string // "" for success
	}{
		{"good", good, ""},
		{"no treeID", with("treeID", nil), "missing treeID"},
		{"treeID not a number", with("treeID", "x1"), `treeID "x1" is not a number`},
		{"no signed tree head", with("signedTreeHead", nil), "missing signedTreeHead"},
		{"negative size", with("treeSize", -1), "missing or negative treeSize"},
		{"root not hex", with("rootHash", "zz"), "rootHash is not hex"},
		{"null shard", with("inactiveShards", []any{nil}), "inactiveShards[0] is null"},
		{"not json", "<html>", "decoding log info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/v1/log" || r.Header.Get("User-Agent") != "vigil-test" {
					http.NotFound(w, r)
					return
				}
				if s, ok := tc.body.(string); ok {
					io.WriteString(w, s)
					return
				}
				json.NewEncoder(w).Encode(tc.body)
			})
			l, err := NewV1(u, newClient(t, 0))
			if err != nil {
				t.Fatal(err)
			}
			h, err := l.Head(t.Context())
			if tc.want == "" {
				if err != nil || h.TreeID != "1" || h.Size != 2 || !h.HasClaims || len(h.Inactive) != 1 || h.Inactive[0].TreeID != "0" {
					t.Fatalf("Head = %+v, %v; want tree 1 size 2 with one inactive shard", h, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Head error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
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
	l, err := NewV2(u, newClient(t, 16<<10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Head(t.Context()); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("Head of a 100 KiB checkpoint = %v, want ErrBodyTooLarge", err)
	}
	if _, err := l.ReadTile(t.Context(), 0, 0, 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadTile of a missing tile = %v, want os.ErrNotExist", err)
	}
	v1, _ := NewV1(u, newClient(t, 0))
	_, err = v1.Head(t.Context())
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusInternalServerError || !strings.Contains(se.Body, "boom") {
		t.Errorf("Head of a failing server = %v, want a StatusError 500 with the body", err)
	}
}

func TestNewURLValidation(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "not a url"} {
		if _, err := NewV1(u, http.DefaultClient); err == nil {
			t.Errorf("NewV1(%q) succeeded", u)
		}
		if _, err := NewV2(u, http.DefaultClient); err == nil {
			t.Errorf("NewV2(%q) succeeded", u)
		}
	}
}

// TestV1EntriesOrdered serves retrieve requests in random order and with
// random delays; Entries must hand them to fn in index order, and stop at
// an error.
func TestV1EntriesOrdered(t *testing.T) {
	const offset = 1000
	fail := -1
	u := serve(t, func(w http.ResponseWriter, r *http.Request) {
		var q struct{ LogIndexes []int64 }
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil || len(q.LogIndexes) > 10 {
			http.Error(w, "bad query", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
		var out []map[string]any
		for _, i := range q.LogIndexes {
			if int(i) == fail {
				http.Error(w, "gone", http.StatusInternalServerError)
				return
			}
			out = append(out, map[string]any{fmt.Sprintf("%064x", i): map[string]any{
				"logIndex": i, "body": base64.StdEncoding.EncodeToString([]byte(fmt.Sprint(i))), "integratedTime": 1,
				"logID": "00", "verification": map[string]any{}}})
		}
		rand.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
		json.NewEncoder(w).Encode(out)
	})
	l, err := NewV1(u, newClient(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	err = l.Entries(t.Context(), offset, 3, 97, EntriesOptions{Workers: 8}, func(e Entry) error {
		if string(e.Data) != fmt.Sprint(e.LogIndex) || e.LogIndex != e.Index+offset {
			return fmt.Errorf("entry %d carries %q (log index %d)", e.Index, e.Data, e.LogIndex)
		}
		got = append(got, e.Index)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, idx := range got {
		if idx != uint64(3+i) {
			t.Fatalf("entry %d handed over as number %d: out of order", idx, i)
		}
	}
	if len(got) != 94 {
		t.Fatalf("got %d entries, want 94", len(got))
	}

	fail = offset + 50
	n := 0
	err = l.Entries(t.Context(), offset, 0, 100, EntriesOptions{Workers: 4}, func(Entry) error { n++; return nil })
	if err == nil || n > 50 {
		t.Errorf("Entries with a failing batch = %v after %d entries, want an error before entry 50", err, n)
	}
	stop := errors.New("stop")
	if err := l.Entries(context.Background(), offset, 0, 20, EntriesOptions{}, func(Entry) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Entries did not return fn's error: %v", err)
	}
}
