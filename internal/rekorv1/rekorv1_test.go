package rekorv1

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
	"strings"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

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
			l, err := New(tlog.Options{URL: u, Client: newClient(t, 0)})
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
	l, err := New(tlog.Options{URL: u, Client: newClient(t, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	err = l.Entries(t.Context(), tlog.Tree{Offset: offset}, 3, 97, tlog.EntriesOptions{Workers: 8}, func(e tlog.Entry) error {
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
	err = l.Entries(t.Context(), tlog.Tree{Offset: offset}, 0, 100, tlog.EntriesOptions{Workers: 4}, func(tlog.Entry) error { n++; return nil })
	if err == nil || n > 50 {
		t.Errorf("Entries with a failing batch = %v after %d entries, want an error before entry 50", err, n)
	}
	stop := errors.New("stop")
	if err := l.Entries(context.Background(), tlog.Tree{Offset: offset}, 0, 20, tlog.EntriesOptions{}, func(tlog.Entry) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Entries did not return fn's error: %v", err)
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
