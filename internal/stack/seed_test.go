package stack

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

func TestParallel(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		n        int
		workers  int
		failAt   int // -1: never
		wantDone func(int) bool
		wantErr  error
	}{
		{"all", 100, 7, -1, func(d int) bool { return d == 100 }, nil},
		{"more workers than work", 3, 50, -1, func(d int) bool { return d == 3 }, nil},
		{"nothing", 0, 4, -1, func(d int) bool { return d == 0 }, nil},
		{"stops at error", 1000, 4, 10, func(d int) bool { return d < 1000 }, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls, inFlight, maxInFlight atomic.Int64
			done, err := Parallel(t.Context(), tt.n, tt.workers, func(ctx context.Context, i int) error {
				calls.Add(1)
				cur := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := maxInFlight.Load(); cur > m && !maxInFlight.CompareAndSwap(m, cur); m = maxInFlight.Load() {
				}
				if i == tt.failAt {
					return boom
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Parallel() error = %v, want %v", err, tt.wantErr)
			}
			if !tt.wantDone(done) {
				t.Errorf("Parallel() done = %d (calls %d)", done, calls.Load())
			}
			if m := maxInFlight.Load(); m > int64(tt.workers) {
				t.Errorf("%d calls in flight, want at most %d", m, tt.workers)
			}
		})
	}
}

func TestParallelCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	done, err := Parallel(ctx, 10, 2, func(context.Context, int) error { return nil })
	if !errors.Is(err, context.Canceled) || done != 0 {
		t.Errorf("Parallel(canceled) = %d, %v; want 0, context.Canceled", done, err)
	}
}

func TestStatusError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"code":409,"message":"an equivalent entry already exists in the transparency log"}`, http.StatusConflict)
	}))
	defer srv.Close()
	key, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := identitytest.PublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	_, err = AddV1HashedRekord(t.Context(), srv.URL, key, pub, []byte("x"))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusConflict || !errors.Is(err, ErrEntryExists) {
		t.Errorf("AddV1HashedRekord(409 server) error = %v, want a StatusError matching ErrEntryExists", err)
	}
}

func TestReadEnv(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env, err := ReadEnv(write("env", "# stack\nREKOR_URL=http://127.0.0.1:3000\n\nEMPTY=\nA=b=c\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Env{"REKOR_URL": "http://127.0.0.1:3000", "EMPTY": "", "A": "b=c"}
	if !maps.Equal(env, want) {
		t.Errorf("ReadEnv = %v, want %v", env, want)
	}
	for name, content := range map[string]string{"no-equals": "A=b\nnot a pair\n", "empty": "# nothing\n"} {
		if _, err := ReadEnv(write(name, content)); err == nil {
			t.Errorf("ReadEnv(%s) accepted %q", name, content)
		}
	}
	if _, err := ReadEnv(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadEnv accepted a missing file")
	}
}
