package trust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sigstoretuf "github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigil-tlog/vigil/internal/trust/tuftest"
)

func newWatcher(t *testing.T, repo *tuftest.Repo, cacheDir string) *TUF {
	t.Helper()
	w, err := NewTUF(TUFConfig{Mirror: repo.URL(), Root: repo.RootJSON(), CacheDir: cacheDir, UserAgent: "vigil-test"})
	if err != nil {
		t.Fatalf("NewTUF: %v", err)
	}
	return w
}

func mustUpdate(t *testing.T, w *TUF) *Snapshot {
	t.Helper()
	s, err := w.Update(t.Context())
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if w.Last() != s {
		t.Fatalf("Last() is not the snapshot Update returned")
	}
	return s
}

// wantFailure runs an Update that must fail with reason at role, and
// leave Last as it was.
func wantFailure(t *testing.T, w *TUF, reason Reason, role string) *UpdateError {
	t.Helper()
	before := w.Last()
	s, err := w.Update(t.Context())
	if err == nil {
		t.Fatalf("Update succeeded (roles %+v), want %s failure", s.Roles, reason)
	}
	if s != nil {
		t.Errorf("Update returned a snapshot with error %v", err)
	}
	var ue *UpdateError
	if !errors.As(err, &ue) {
		t.Fatalf("Update error %T %v is not an *UpdateError", err, err)
	}
	if ue.Reason != reason || ue.Role != role {
		t.Errorf("Update error reason, role = %s, %q, want %s, %q (%v)", ue.Reason, ue.Role, reason, role, err)
	}
	for _, want := range []string{string(reason), "role " + role, w.mirror} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Update error %q does not name %q", err, want)
		}
	}
	if w.Last() != before {
		t.Errorf("a failed Update changed Last()")
	}
	return ue
}

func roleVersions(s *Snapshot) string {
	var b strings.Builder
	for _, r := range s.Roles {
		fmt.Fprintf(&b, "%s=%d ", r.Name, r.Version)
	}
	return strings.TrimSpace(b.String())
}

func TestTUFFirstUpdate(t *testing.T) {
	repo := tuftest.New(t)
	w := newWatcher(t, repo, t.TempDir())
	if w.Last() != nil {
		t.Fatalf("Last() before any update = %+v, want nil", w.Last())
	}
	s := mustUpdate(t, w)
	if got, want := roleVersions(s), "root=1 timestamp=1 snapshot=1 targets=1"; got != want {
		t.Errorf("roles = %s, want %s", got, want)
	}
	for _, r := range s.Roles {
		if !r.Expires.After(time.Now()) || r.Expires.Location() != time.UTC {
			t.Errorf("role %s expires %v, want a future UTC time", r.Name, r.Expires)
		}
	}
	if !bytes.Equal(s.TrustedRoot, repo.Target(tuftest.TrustedRootTarget)) {
		t.Errorf("TrustedRoot is not the published target")
	}
	if !bytes.Equal(s.SigningConfig, repo.Target(tuftest.SigningConfigTarget)) {
		t.Errorf("SigningConfig is not the published target")
	}
	if s.FetchedAt.IsZero() {
		t.Errorf("FetchedAt is zero")
	}
	tr, err := s.Parsed()
	if err != nil {
		t.Fatalf("Parsed: %v", err)
	}
	if got := len(tr.RekorLogs()); got != 2 {
		t.Errorf("parsed trusted root has %d Rekor logs, want 2", got)
	}
	if got := len(tr.FulcioCertificateAuthorities()); got != 1 {
		t.Errorf("parsed trusted root has %d CAs, want 1", got)
	}

	// Nothing new: the targets come from the cache.
	repo.Requests()
	s2 := mustUpdate(t, w)
	for _, p := range repo.Requests() {
		if strings.HasPrefix(p, "targets/") {
			t.Errorf("second update fetched %s again; want it from the cache", p)
		}
	}
	if !bytes.Equal(s2.TrustedRoot, s.TrustedRoot) || roleVersions(s2) != roleVersions(s) {
		t.Errorf("second update of an unchanged repository differs")
	}
}

func TestTUFRootRotation(t *testing.T) {
	repo := tuftest.New(t)
	cache := t.TempDir()
	w := newWatcher(t, repo, cache)
	mustUpdate(t, w)

	repo.RotateRootKey()
	repo.Publish()
	s := mustUpdate(t, w)
	if got, want := roleVersions(s), "root=2 timestamp=2 snapshot=2 targets=2"; got != want {
		t.Errorf("after one rotation roles = %s, want %s", got, want)
	}
	repo.RotateRootKey()
	repo.RotateRootKey()
	s = mustUpdate(t, w)
	if got := s.Role(metadata.ROOT).Version; got != 4 {
		t.Errorf("after three rotations root version = %d, want 4", got)
	}

	// A new watcher on the same cache starts from the cached root (version
	// 4), not the pinned version 1.
	repo.Requests()
	w2 := newWatcher(t, repo, cache)
	if s := mustUpdate(t, w2); s.Role(metadata.ROOT).Version != 4 {
		t.Errorf("new watcher root version = %d, want 4", s.Role(metadata.ROOT).Version)
	}
	if reqs := repo.Requests(); len(reqs) == 0 || reqs[0] != "5.root.json" {
		t.Errorf("new watcher's requests = %v, want 5.root.json first", reqs)
	}
}

func TestTUFForgedRoot(t *testing.T) {
	repo := tuftest.New(t)
	w := newWatcher(t, repo, t.TempDir())
	mustUpdate(t, w)
	repo.PublishForgedRoot()
	wantFailure(t, w, ReasonSignature, metadata.ROOT)
}

func TestTUFTimestampNearExpiry(t *testing.T) {
	repo := tuftest.New(t)
	w := newWatcher(t, repo, t.TempDir())
	mustUpdate(t, w)
	expires := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second)
	repo.SetTimestampExpiry(expires)
	s := mustUpdate(t, w)
	ts := s.Role(metadata.TIMESTAMP)
	if ts == nil || ts.Version != 2 || !ts.Expires.Equal(expires) {
		t.Errorf("timestamp role = %+v, want version 2 expiring %v", ts, expires)
	}
}

func TestTUFFreeze(t *testing.T) {
	repo := tuftest.New(t)
	w := newWatcher(t, repo, t.TempDir())
	good := mustUpdate(t, w)

	repo.SetTimestampExpiry(time.Now().Add(-time.Minute))
	wantFailure(t, w, ReasonFreeze, metadata.TIMESTAMP)
	wantFailure(t, w, ReasonFreeze, metadata.TIMESTAMP) // and again: no wedged state
	if w.Last() != good {
		t.Fatalf("Last() changed")
	}

	// The mirror is fixed.
	repo.SetTimestampExpiry(time.Now().Add(time.Hour))
	s := mustUpdate(t, w)
	if got := s.Role(metadata.TIMESTAMP).Version; got != 3 {
		t.Errorf("timestamp version after recovery = %d, want 3", got)
	}
}

func TestTUFExpiredRoot(t *testing.T) {
	repo := tuftest.New(t)
	w := newWatcher(t, repo, t.TempDir())
	mustUpdate(t, w)
	repo.SetRootExpiry(time.Now().Add(-time.Minute))
	wantFailure(t, w, ReasonFreeze, metadata.ROOT)
	repo.SetRootExpiry(time.Now().AddDate(1, 0, 0))
	if s := mustUpdate(t, w); s.Role(metadata.ROOT).Version != 3 {
		t.Errorf("root version after recovery = %d, want 3", s.Role(metadata.ROOT).Version)
	}
}

func TestTUFRollback(t *testing.T) {
	t.Run("old timestamp", func(t *testing.T) {
		repo := tuftest.New(t)
		w := newWatcher(t, repo, t.TempDir())
		repo.Publish()
		mustUpdate(t, w) // timestamp 2
		repo.ServeOld(1)
		wantFailure(t, w, ReasonRollback, metadata.TIMESTAMP)
		repo.Publish()
		if s := mustUpdate(t, w); s.Role(metadata.TIMESTAMP).Version != 3 {
			t.Errorf("timestamp version after recovery = %d, want 3", s.Role(metadata.TIMESTAMP).Version)
		}
	})
	t.Run("old snapshot under a new timestamp", func(t *testing.T) {
		repo := tuftest.New(t)
		w := newWatcher(t, repo, t.TempDir())
		repo.Publish()
		mustUpdate(t, w) // snapshot 2
		repo.RollbackSnapshot(1)
		wantFailure(t, w, ReasonRollback, metadata.TIMESTAMP)
		repo.Publish()
		if s := mustUpdate(t, w); s.Role(metadata.SNAPSHOT).Version != 3 {
			t.Errorf("snapshot version after recovery = %d, want 3", s.Role(metadata.SNAPSHOT).Version)
		}
	})
	t.Run("lost cache", func(t *testing.T) {
		// go-tuf cannot see a rollback without its cache; the watcher
		// still remembers its last good versions.
		repo := tuftest.New(t)
		cache := t.TempDir()
		w := newWatcher(t, repo, cache)
		repo.Publish()
		mustUpdate(t, w)
		if err := os.RemoveAll(cache); err != nil {
			t.Fatal(err)
		}
		repo.ServeOld(1)
		wantFailure(t, w, ReasonRollback, metadata.TIMESTAMP)
	})
}

func TestTUFWrongKey(t *testing.T) {
	repo := tuftest.New(t)
	w := newWatcher(t, repo, t.TempDir())
	mustUpdate(t, w)

	repo.SignTimestampWithWrongKey()
	wantFailure(t, w, ReasonSignature, metadata.TIMESTAMP)
	repo.Publish()
	mustUpdate(t, w)

	repo.SetTimestampThreshold(2)
	if s := mustUpdate(t, w); s.Role(metadata.ROOT).Version != 2 {
		t.Fatalf("root version after the threshold change = %d, want 2", s.Role(metadata.ROOT).Version)
	}
	repo.SignTimestampBelowThreshold()
	wantFailure(t, w, ReasonThreshold, metadata.TIMESTAMP)
	repo.Publish()
	mustUpdate(t, w)
}

func TestTUFUnreachable(t *testing.T) {
	repo := tuftest.New(t)
	w := newWatcher(t, repo, t.TempDir())
	good := mustUpdate(t, w)

	repo.Down(true)
	wantFailure(t, w, ReasonUnreachable, metadata.ROOT)
	repo.Down(false)

	repo.Hide("timestamp.json")
	wantFailure(t, w, ReasonUnreachable, metadata.TIMESTAMP)
	repo.Restore("timestamp.json")

	repo.Publish()
	repo.Hide("2.snapshot.json")
	wantFailure(t, w, ReasonUnreachable, metadata.SNAPSHOT)
	repo.Restore("2.snapshot.json")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := w.Update(ctx)
	var ue *UpdateError
	if !errors.As(err, &ue) || ue.Reason != ReasonUnreachable || !errors.Is(err, context.Canceled) {
		t.Errorf("Update(cancelled) = %v, want unreachable wrapping context.Canceled", err)
	}
	if w.Last() != good {
		t.Errorf("failed Updates changed Last()")
	}

	if s := mustUpdate(t, w); s.Role(metadata.TIMESTAMP).Version != 2 {
		t.Errorf("timestamp version after recovery = %d, want 2", s.Role(metadata.TIMESTAMP).Version)
	}
}

func TestTUFFirstUpdateFails(t *testing.T) {
	repo := tuftest.New(t)
	w := newWatcher(t, repo, t.TempDir())
	repo.Down(true)
	wantFailure(t, w, ReasonUnreachable, metadata.ROOT)
	if w.Last() != nil {
		t.Errorf("Last() after a failed first update = %+v, want nil", w.Last())
	}
	repo.Down(false)
	mustUpdate(t, w)
}

func TestTUFGarbage(t *testing.T) {
	repo := tuftest.New(t)
	w := newWatcher(t, repo, t.TempDir())
	mustUpdate(t, w)
	for _, body := range [][]byte{
		[]byte("<html>not found</html>"),
		[]byte(`{"signed":{"_type":"root"},"signatures":[]}`),
		bytes.Repeat([]byte("x"), 20000), // longer than a timestamp may be
	} {
		repo.Override("timestamp.json", body)
		wantFailure(t, w, ReasonOther, metadata.TIMESTAMP)
	}
	repo.Restore("timestamp.json")
	mustUpdate(t, w)
}

func TestTUFTargets(t *testing.T) {
	t.Run("trusted root does not match its hash", func(t *testing.T) {
		repo := tuftest.New(t)
		repo.Override(repo.TargetPath(tuftest.TrustedRootTarget), []byte(`{"mediaType":"tampered"}`))
		w := newWatcher(t, repo, t.TempDir())
		ue := wantFailure(t, w, ReasonTarget, metadata.TARGETS)
		if ue.Target != tuftest.TrustedRootTarget {
			t.Errorf("Target = %q, want %s", ue.Target, tuftest.TrustedRootTarget)
		}
	})
	t.Run("trusted root not served", func(t *testing.T) {
		repo := tuftest.New(t)
		repo.Hide(repo.TargetPath(tuftest.TrustedRootTarget))
		w := newWatcher(t, repo, t.TempDir())
		wantFailure(t, w, ReasonTarget, metadata.TARGETS)
		repo.Restore(repo.TargetPath(tuftest.TrustedRootTarget))
		mustUpdate(t, w)
	})
	t.Run("trusted root unparseable", func(t *testing.T) {
		repo := tuftest.New(t)
		w := newWatcher(t, repo, t.TempDir())
		good := mustUpdate(t, w)
		repo.SetTarget(tuftest.TrustedRootTarget, []byte(`{"tlogs": 7}`))
		repo.Publish()
		wantFailure(t, w, ReasonTarget, metadata.TARGETS)
		if w.Last() != good {
			t.Errorf("Last() changed")
		}
	})
	t.Run("trusted root missing", func(t *testing.T) {
		repo := tuftest.New(t)
		w := newWatcher(t, repo, t.TempDir())
		mustUpdate(t, w)
		repo.SetTarget(tuftest.TrustedRootTarget, nil)
		repo.Publish()
		ue := wantFailure(t, w, ReasonTarget, metadata.TARGETS)
		if !strings.Contains(ue.Error(), "target "+tuftest.TrustedRootTarget) {
			t.Errorf("error %q does not name the target", ue)
		}
	})
	t.Run("signing config optional and legacy name", func(t *testing.T) {
		repo := tuftest.New(t)
		w := newWatcher(t, repo, t.TempDir())
		sc := repo.Target(tuftest.SigningConfigTarget)
		repo.SetTarget(tuftest.SigningConfigTarget, nil)
		repo.Publish()
		if s := mustUpdate(t, w); s.SigningConfig != nil {
			t.Errorf("SigningConfig = %s, want nil without the target", s.SigningConfig)
		}
		repo.SetTarget("signing_config.json", sc)
		repo.Publish()
		if s := mustUpdate(t, w); !bytes.Equal(s.SigningConfig, sc) {
			t.Errorf("SigningConfig from signing_config.json = %s, want %s", s.SigningConfig, sc)
		}
	})
	t.Run("signing config unparseable", func(t *testing.T) {
		repo := tuftest.New(t)
		w := newWatcher(t, repo, t.TempDir())
		repo.SetTarget(tuftest.SigningConfigTarget, []byte("not json"))
		repo.Publish()
		ue := wantFailure(t, w, ReasonTarget, metadata.TARGETS)
		if ue.Target != tuftest.SigningConfigTarget {
			t.Errorf("Target = %q, want %s", ue.Target, tuftest.SigningConfigTarget)
		}
	})
}

func TestNewTUFErrors(t *testing.T) {
	repo := tuftest.New(t)
	for _, tc := range []struct {
		name string
		cfg  TUFConfig
	}{
		{"no mirror", TUFConfig{Root: repo.RootJSON(), CacheDir: t.TempDir()}},
		{"not http", TUFConfig{Mirror: "file:///tmp/repo", Root: repo.RootJSON(), CacheDir: t.TempDir()}},
		{"no root", TUFConfig{Mirror: repo.URL(), CacheDir: t.TempDir()}},
		{"bad root", TUFConfig{Mirror: repo.URL(), Root: []byte("{}"), CacheDir: t.TempDir()}},
		{"no cache", TUFConfig{Mirror: repo.URL(), Root: repo.RootJSON()}},
	} {
		if _, err := NewTUF(tc.cfg); err == nil {
			t.Errorf("%s: NewTUF succeeded, want error", tc.name)
		}
	}
}

func TestTUFCorruptCachedRoot(t *testing.T) {
	repo := tuftest.New(t)
	cache := t.TempDir()
	w := newWatcher(t, repo, cache)
	mustUpdate(t, w)
	repo.RotateRootKey()
	mustUpdate(t, w)
	// The cached root is damaged: start again from the pinned root.
	if err := os.WriteFile(w.dir+"/root.json", []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := mustUpdate(t, w); s.Role(metadata.ROOT).Version != 2 {
		t.Errorf("root version = %d, want 2", s.Role(metadata.ROOT).Version)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err                  error
		role                 string
		inTarget, targetFile bool
		want                 Reason
	}{
		{&metadata.ErrUnsignedMetadata{Msg: "Verifying timestamp failed, not enough signatures, got 0, want 1"}, "timestamp", false, false, ReasonSignature},
		{&metadata.ErrUnsignedMetadata{Msg: "Verifying timestamp failed, not enough signatures, got 1, want 2"}, "timestamp", false, false, ReasonThreshold},
		{&metadata.ErrUnsignedMetadata{Msg: "something else"}, "timestamp", false, false, ReasonSignature},
		{&metadata.ErrBadVersionNumber{Msg: "new timestamp version 1 must be >= 2"}, "timestamp", false, false, ReasonRollback},
		{&metadata.ErrEqualVersionNumber{Msg: "equal"}, "timestamp", false, false, ReasonRollback},
		{&metadata.ErrExpiredMetadata{Msg: "timestamp.json is expired"}, "snapshot", false, false, ReasonFreeze},
		{&metadata.ErrDownloadHTTP{StatusCode: 404, URL: "u"}, "timestamp", false, false, ReasonUnreachable},
		{&metadata.ErrDownloadHTTP{StatusCode: 503, URL: "u"}, "targets", true, true, ReasonUnreachable},
		{&metadata.ErrDownloadHTTP{StatusCode: 404, URL: "u"}, "targets", true, true, ReasonTarget},
		{&downloadError{url: "u", err: errors.New("connection refused")}, "root", false, false, ReasonUnreachable},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "root", false, false, ReasonUnreachable},
		{&metadata.ErrLengthOrHashMismatch{Msg: "m"}, "snapshot", false, false, ReasonSignature},
		{&metadata.ErrLengthOrHashMismatch{Msg: "m"}, "targets", true, true, ReasonTarget},
		{&metadata.ErrDownloadLengthMismatch{Msg: "m"}, "timestamp", false, false, ReasonOther},
		{&metadata.ErrDownloadLengthMismatch{Msg: "m"}, "snapshot", false, false, ReasonSignature},
		{&metadata.ErrValue{Msg: "m"}, "timestamp", false, false, ReasonOther},
		{errors.New("no target"), "targets", true, false, ReasonTarget},
		{&metadata.ErrRepository{Msg: "expected timestamp, got root"}, "timestamp", false, false, ReasonOther},
	} {
		wrapped := fmt.Errorf("refreshing TUF metadata: %w", tc.err)
		if got := classify(wrapped, tc.role, tc.inTarget, tc.targetFile); got != tc.want {
			t.Errorf("classify(%v, %s, %v, %v) = %s, want %s", tc.err, tc.role, tc.inTarget, tc.targetFile, got, tc.want)
		}
	}
}

func TestMetadataRole(t *testing.T) {
	const m = "http://127.0.0.1:1/repo"
	for _, tc := range []struct{ url, want string }{
		{m + "/3.root.json", "root"},
		{m + "/timestamp.json", "timestamp"},
		{m + "/12.snapshot.json", "snapshot"},
		{m + "/4.targets.json", "targets"},
		{m + "/2.team%2Fa.json", "team/a"},
		{m + "/targets/abcd.trusted_root.json", ""},
		{"http://elsewhere/timestamp.json", ""},
	} {
		if got := metadataRole(m+"/", tc.url); got != tc.want {
			t.Errorf("metadataRole(%s) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestUpdateErrorMessage(t *testing.T) {
	cause := errors.New("boom")
	e := &UpdateError{Reason: ReasonFreeze, Mirror: "https://tuf.example", Role: "timestamp", Err: cause}
	if got, want := e.Error(), "TUF update from https://tuf.example failed: freeze (role timestamp): boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, cause) {
		t.Errorf("UpdateError does not unwrap to its cause")
	}
	e = &UpdateError{Reason: ReasonTarget, Mirror: "m", Role: "targets", Target: "trusted_root.json", Err: cause}
	if got := e.Error(); !strings.Contains(got, "(role targets, target trusted_root.json)") {
		t.Errorf("Error() = %q, want the role and target", got)
	}
	if !slices.Contains([]Reason{ReasonSignature, ReasonThreshold, ReasonRollback, ReasonFreeze, ReasonUnreachable, ReasonTarget, ReasonOther}, e.Reason) {
		t.Errorf("unknown reason")
	}
}

func TestTUFConcurrent(t *testing.T) {
	repo := tuftest.New(t)
	w := newWatcher(t, repo, t.TempDir())
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 4 {
		wg.Go(func() {
			for range 3 {
				if _, err := w.Update(t.Context()); err != nil {
					errs <- err
				}
				_ = w.Last()
			}
		})
	}
	for range 3 {
		repo.Publish()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Update: %v", err)
	}
	if s := mustUpdate(t, w); s.Role(metadata.TIMESTAMP).Version != 4 {
		t.Errorf("timestamp version = %d, want 4", s.Role(metadata.TIMESTAMP).Version)
	}
}

// TestTUFSharedCache checks that the watcher's cache layout is sigstore-go's:
// its TUF client reads the same repository from the same cache.
func TestTUFSharedCache(t *testing.T) {
	repo := tuftest.New(t)
	cache := t.TempDir()
	w := newWatcher(t, repo, cache)
	repo.RotateRootKey()
	repo.Publish()
	s := mustUpdate(t, w)

	opts := sigstoretuf.DefaultOptions()
	opts.Root = repo.RootJSON()
	opts.RepositoryBaseURL = repo.URL()
	opts.CachePath = cache
	opts.DisableLocalCache = false
	c, err := sigstoretuf.New(opts)
	if err != nil {
		t.Fatalf("sigstore-go TUF client: %v", err)
	}
	b, err := c.GetTarget(tuftest.TrustedRootTarget)
	if err != nil {
		t.Fatalf("sigstore-go GetTarget: %v", err)
	}
	if !bytes.Equal(b, s.TrustedRoot) {
		t.Errorf("sigstore-go read another trusted root")
	}
	repo.Publish()
	mustUpdate(t, w)
}
