package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sigstoretuf "github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// Target names of a Sigstore TUF repository.
const (
	// TrustedRootTarget is the trusted root; an update without it fails.
	TrustedRootTarget = "trusted_root.json"
	// SigningConfigTarget is the signing config; it is optional, and
	// legacySigningConfigTarget is tried when it is missing.
	SigningConfigTarget       = "signing_config.v0.2.json"
	legacySigningConfigTarget = "signing_config.json"
)

// defaultHTTPTimeout bounds each request when TUFConfig.Client is nil.
const defaultHTTPTimeout = time.Minute

// TUFConfig configures a [TUF] watcher.
type TUFConfig struct {
	// Mirror is the base URL of the TUF repository: metadata at the top
	// (<v>.root.json, timestamp.json, ...), targets under /targets.
	Mirror string
	// Root is the pinned initial root.json, the trust anchor.
	Root []byte
	// CacheDir holds the verified metadata and targets, in
	// CacheDir/<mirror as a path>/ as sigstore-go's pkg/tuf client lays
	// them out (so the two may share it). Required: it carries the
	// rollback protection across updates and restarts.
	CacheDir string
	// Client makes the requests; nil means a client with a one minute
	// timeout.
	Client *http.Client
	// UserAgent, if set, is sent with every request.
	UserAgent string
}

// TUF watches the trust material published by one TUF mirror. Each
// [TUF.Update] is one run of go-tuf's client workflow. It is safe for
// concurrent use; updates run one at a time.
type TUF struct {
	mirror        string
	pinned        []byte
	pinnedVersion int64
	dir           string
	client        *http.Client
	userAgent     string

	updateMu sync.Mutex // held for a whole Update: one go-tuf updater owns the cache at a time

	mu    sync.Mutex // guards last and floor
	last  *Snapshot
	floor []Role // versions no update may go below (SetFloor)
}

// NewTUF checks cfg and returns a watcher. It does no I/O; the first
// Update does.
func NewTUF(cfg TUFConfig) (*TUF, error) {
	u, err := url.Parse(cfg.Mirror)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("TUF mirror %q is not an http(s) URL", cfg.Mirror)
	}
	if len(cfg.Root) == 0 {
		return nil, errors.New("no pinned TUF root")
	}
	pinned, err := metadata.Root().FromBytes(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("parsing pinned TUF root: %w", err)
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("no TUF cache directory")
	}
	hc := cfg.Client
	if hc == nil {
		hc = &http.Client{Timeout: defaultHTTPTimeout}
	}
	return &TUF{
		mirror:        cfg.Mirror,
		pinned:        append([]byte(nil), cfg.Root...),
		pinnedVersion: pinned.Signed.Version,
		dir:           filepath.Join(cfg.CacheDir, sigstoretuf.URLToPath(cfg.Mirror)),
		client:        hc,
		userAgent:     cfg.UserAgent,
	}, nil
}

// Snapshot is the trust material of one successful update. It is not
// modified after Update returns it.
type Snapshot struct {
	// Roles are the verified TUF roles: root, timestamp, snapshot,
	// targets, then any delegated targets roles loaded, by name.
	Roles []Role
	// TrustedRoot is the raw trusted_root.json target.
	TrustedRoot []byte
	// SigningConfig is the raw signing config target, nil if the
	// repository has none.
	SigningConfig []byte
	// FetchedAt is when the update completed.
	FetchedAt time.Time
}

// Role is the version and expiry of one verified TUF role.
type Role struct {
	Name    string    `json:"name"`
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
}

// Role returns the role called name, or nil.
func (s *Snapshot) Role(name string) *Role {
	for i := range s.Roles {
		if s.Roles[i].Name == name {
			return &s.Roles[i]
		}
	}
	return nil
}

// Parsed parses the trusted root with sigstore-go.
func (s *Snapshot) Parsed() (*root.TrustedRoot, error) {
	tr, err := root.NewTrustedRootFromJSON(s.TrustedRoot)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", TrustedRootTarget, err)
	}
	return tr, nil
}

// Reason classifies a failed update.
type Reason string

// Reasons of an [UpdateError], from go-tuf's error types.
const (
	// ReasonSignature: metadata not validly signed by any key its
	// delegator trusts (go-tuf ErrUnsignedMetadata with no valid
	// signature), or metadata bytes that do not match the length and
	// hashes its signed parent records for them (snapshot or targets:
	// ErrLengthOrHashMismatch, ErrDownloadLengthMismatch).
	ReasonSignature Reason = "signature"
	// ReasonThreshold: some but fewer valid signatures than the role's
	// threshold (ErrUnsignedMetadata with at least one valid signature).
	// go-tuf reports both this and ReasonSignature as
	// ErrUnsignedMetadata; they are told apart by its message's count
	// ("got N, want M"), and an unreadable count is ReasonSignature.
	ReasonThreshold Reason = "threshold"
	// ReasonRollback: a version older than one already trusted, or not
	// the version the signed parent names (ErrBadVersionNumber), or older
	// than the last good Snapshot of this watcher.
	ReasonRollback Reason = "rollback"
	// ReasonFreeze: the newest metadata the mirror offers is expired
	// (ErrExpiredMetadata).
	ReasonFreeze Reason = "freeze"
	// ReasonUnreachable: network errors, HTTP errors (a 404 of
	// timestamp.json included), timeouts and cancellation (ErrDownload,
	// ErrDownloadHTTP).
	ReasonUnreachable Reason = "unreachable"
	// ReasonTarget: trusted_root.json is not listed, not served (404),
	// does not match its length and hashes, or does not parse; or the
	// signing config does not parse.
	ReasonTarget Reason = "target"
	// ReasonOther: anything else, such as metadata that is not TUF JSON
	// at all (garbage) or of the wrong type, or a local I/O error.
	ReasonOther Reason = "other"
)

// UpdateError is a failed [TUF.Update].
type UpdateError struct {
	Reason Reason
	// Mirror is the mirror's base URL.
	Mirror string
	// Role is the TUF role being updated when the update failed (root,
	// timestamp, snapshot, targets or a delegated role), "" if none.
	Role string
	// Target is the target file being fetched, for ReasonTarget.
	Target string
	Err    error
}

func (e *UpdateError) Error() string {
	where := "role " + e.Role
	if e.Role == "" {
		where = "no role"
	}
	if e.Target != "" {
		where += ", target " + e.Target
	}
	return fmt.Sprintf("TUF update from %s failed: %s (%s): %v", e.Mirror, e.Reason, where, e.Err)
}

func (e *UpdateError) Unwrap() error { return e.Err }

// SetFloor sets role versions that no update may go below, as a rollback:
// those of material verified before a restart (kept by the caller), so
// that losing the TUF cache does not lose rollback protection.
func (t *TUF) SetFloor(roles []Role) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.floor = slices.Clone(roles)
}

// Last returns the snapshot of the last successful update, nil before the
// first.
func (t *TUF) Last() *Snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// Update refreshes the TUF metadata from the mirror and fetches (or takes
// from the cache, when the hashes match) the trust material targets:
// trusted_root.json, required, and the signing config, optional
// (signing_config.v0.2.json, else signing_config.json). On success it
// returns the new snapshot, which Last returns from then on. On failure
// it returns an *UpdateError and Last is unchanged.
//
// Each Update starts a fresh go-tuf updater from the cached root (or the
// pinned root when there is none, or it is older or unusable), so an
// update after a failure starts clean and succeeds once the mirror is
// fixed. Cancelling ctx aborts the requests in flight.
func (t *TUF) Update(ctx context.Context) (*Snapshot, error) {
	t.updateMu.Lock()
	defer t.updateMu.Unlock()

	a := &attempt{fetcher: &fetcher{ctx: ctx, client: t.client, userAgent: t.userAgent, mirror: t.mirror}}
	s, err := t.update(a)
	if err != nil {
		role := a.fetcher.role
		if r := roleInMessage(err); r != "" {
			role = r
		}
		reason := classify(err, role, a.target != "", a.fetcher.targetFile)
		return nil, &UpdateError{Reason: reason, Mirror: t.mirror, Role: role, Target: a.target, Err: err}
	}
	// go-tuf's rollback protection is only as good as its cache. Versions
	// below those this watcher already accepted are a rollback even if the
	// cache was lost.
	t.mu.Lock()
	floor := slices.Clone(t.floor)
	if t.last != nil {
		floor = append(floor, t.last.Roles...)
	}
	t.mu.Unlock()
	for _, r := range s.Roles {
		for _, p := range floor {
			if p.Name == r.Name && r.Version < p.Version {
				return nil, &UpdateError{Reason: ReasonRollback, Mirror: t.mirror, Role: r.Name,
					Err: fmt.Errorf("%s version %d is older than version %d already verified", r.Name, r.Version, p.Version)}
			}
		}
	}
	t.mu.Lock()
	t.last = s
	t.mu.Unlock()
	return s, nil
}

// attempt is the state of one Update, for classifying its failure.
type attempt struct {
	fetcher *fetcher
	target  string // the target being fetched, "" while refreshing metadata
}

func (t *TUF) update(a *attempt) (*Snapshot, error) {
	up, err := t.newUpdater(a.fetcher)
	if err != nil {
		return nil, err
	}
	if err := up.Refresh(); err != nil {
		return nil, fmt.Errorf("refreshing TUF metadata: %w", err)
	}
	tm := up.GetTrustedMetadataSet()
	s := &Snapshot{Roles: []Role{
		{Name: metadata.ROOT, Version: tm.Root.Signed.Version, Expires: tm.Root.Signed.Expires},
		{Name: metadata.TIMESTAMP, Version: tm.Timestamp.Signed.Version, Expires: tm.Timestamp.Signed.Expires},
		{Name: metadata.SNAPSHOT, Version: tm.Snapshot.Signed.Version, Expires: tm.Snapshot.Signed.Expires},
		{Name: metadata.TARGETS, Version: tm.Targets[metadata.TARGETS].Signed.Version, Expires: tm.Targets[metadata.TARGETS].Signed.Expires},
	}}

	b, err := a.fetch(up, TrustedRootTarget)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("no target %s in the TUF repository", TrustedRootTarget)
	}
	s.TrustedRoot = b
	if _, err := s.Parsed(); err != nil {
		return nil, err
	}

	for _, name := range []string{SigningConfigTarget, legacySigningConfigTarget} {
		b, err := a.fetch(up, name)
		if err != nil {
			return nil, err
		}
		if b == nil {
			continue
		}
		if _, err := parseSigningConfig(b); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", name, err)
		}
		s.SigningConfig = b
		break
	}
	a.target = ""

	// Delegated targets roles are loaded while looking targets up.
	tm = up.GetTrustedMetadataSet()
	var delegated []Role
	for name, md := range tm.Targets {
		if name != metadata.TARGETS {
			delegated = append(delegated, Role{Name: name, Version: md.Signed.Version, Expires: md.Signed.Expires})
		}
	}
	slices.SortFunc(delegated, func(a, b Role) int { return strings.Compare(a.Name, b.Name) })
	s.Roles = append(s.Roles, delegated...)
	for i := range s.Roles {
		s.Roles[i].Expires = s.Roles[i].Expires.UTC()
	}
	s.FetchedAt = time.Now().UTC()
	return s, nil
}

// newUpdater returns a go-tuf updater starting from the cached root when
// it loads and is not older than the pinned one, else from the pinned
// root. (go-tuf wrote the cached root only after verifying it; starting
// from the pinned root and walking the chain again is always safe.)
func (t *TUF) newUpdater(f *fetcher) (*updater.Updater, error) {
	cfg := func(rootJSON []byte) (*config.UpdaterConfig, error) {
		c, err := config.New(t.mirror, rootJSON)
		if err != nil {
			return nil, fmt.Errorf("configuring TUF updater: %w", err)
		}
		c.LocalMetadataDir = t.dir
		c.LocalTargetsDir = filepath.Join(t.dir, "targets")
		c.Fetcher = f
		c.PrefixTargetsWithHash = true
		return c, nil
	}
	if cached, err := os.ReadFile(filepath.Join(t.dir, metadata.ROOT+".json")); err == nil {
		if md, err := metadata.Root().FromBytes(cached); err == nil && md.Signed.Version >= t.pinnedVersion {
			c, err := cfg(cached)
			if err != nil {
				return nil, err
			}
			if up, err := updater.New(c); err == nil {
				return up, nil
			}
		}
	}
	c, err := cfg(t.pinned)
	if err != nil {
		return nil, err
	}
	up, err := updater.New(c)
	if err != nil {
		return nil, fmt.Errorf("starting TUF updater from the pinned root: %w", err)
	}
	return up, nil
}

// fetch returns target name, from the cache if its hashes match, else
// from the mirror; nil if the repository does not list it.
func (a *attempt) fetch(up *updater.Updater, name string) ([]byte, error) {
	a.target = name
	info, err := up.GetTargetInfo(name)
	if err != nil {
		// go-tuf reports an unlisted target with this plain error.
		if err.Error() == fmt.Sprintf("target %s not found", name) {
			return nil, nil
		}
		return nil, fmt.Errorf("looking up target %s: %w", name, err)
	}
	if path, b, err := up.FindCachedTarget(info, ""); err == nil && path != "" {
		return b, nil
	}
	_, b, err := up.DownloadTarget(info, "", "")
	if err != nil {
		return nil, fmt.Errorf("downloading target %s: %w", name, err)
	}
	return b, nil
}

// classify maps an update error to a Reason. role is the TUF role being
// updated; inTarget is true while looking up or fetching a target, and
// targetFile when the last request was for a target file.
func classify(err error, role string, inTarget, targetFile bool) Reason {
	var (
		httpErr  *metadata.ErrDownloadHTTP
		unsigned *metadata.ErrUnsignedMetadata
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ReasonUnreachable
	case errors.Is(err, &metadata.ErrDownloadLengthMismatch{}), errors.Is(err, &metadata.ErrLengthOrHashMismatch{}):
		switch {
		case targetFile:
			return ReasonTarget
		case role == metadata.ROOT || role == metadata.TIMESTAMP:
			// Nothing signed vouches for their length: an oversized file.
			return ReasonOther
		}
		return ReasonSignature
	case errors.As(err, &httpErr):
		if targetFile && httpErr.StatusCode == http.StatusNotFound {
			return ReasonTarget
		}
		return ReasonUnreachable
	case errors.Is(err, &metadata.ErrDownload{}):
		return ReasonUnreachable
	case errors.Is(err, &metadata.ErrExpiredMetadata{}):
		return ReasonFreeze
	case errors.Is(err, &metadata.ErrBadVersionNumber{}):
		return ReasonRollback
	case errors.As(err, &unsigned):
		if got, ok := validSignatures(unsigned.Msg); ok && got > 0 {
			return ReasonThreshold
		}
		return ReasonSignature
	case inTarget:
		return ReasonTarget
	}
	return ReasonOther
}

// validSignatures reads the count of valid signatures from go-tuf's
// "Verifying <role> failed, not enough signatures, got N, want M".
func validSignatures(msg string) (int, bool) {
	_, rest, ok := strings.Cut(msg, "not enough signatures, got ")
	if !ok {
		return 0, false
	}
	n, _, _ := strings.Cut(rest, ",")
	got, err := strconv.Atoi(strings.TrimSpace(n))
	return got, err == nil
}

// roleInMessage returns the role a go-tuf expiry or signature error names,
// "" for others. These can name a role other than the one being fetched:
// an expired timestamp is found while loading the snapshot, an expired
// root while loading the timestamp.
func roleInMessage(err error) string {
	var (
		expired  *metadata.ErrExpiredMetadata
		unsigned *metadata.ErrUnsignedMetadata
	)
	switch {
	case errors.As(err, &expired):
		msg := expired.Msg
		for _, r := range []string{metadata.ROOT, metadata.TIMESTAMP, metadata.SNAPSHOT} {
			if strings.Contains(msg, r+".json is expired") {
				return r
			}
		}
		if _, rest, ok := strings.Cut(msg, "new "); ok {
			if r, _, ok := strings.Cut(rest, " is expired"); ok {
				return r
			}
		}
	case errors.As(err, &unsigned):
		if _, rest, ok := strings.Cut(unsigned.Msg, "Verifying "); ok {
			if r, _, ok := strings.Cut(rest, " failed"); ok {
				return r
			}
		}
	}
	return ""
}

// fetcher is go-tuf's Fetcher for one Update: requests carry the
// Update's context, and it records the role of the metadata requested
// last, the role being updated if the update fails.
type fetcher struct {
	ctx        context.Context
	client     *http.Client
	userAgent  string
	mirror     string
	role       string // role of the last metadata requested
	targetFile bool   // the last request was for a target file
}

// downloadError is a failed request: go-tuf's ErrDownload, with the cause
// kept for errors.Is (context.Canceled, net errors).
type downloadError struct {
	url string
	err error
}

func (e *downloadError) Error() string { return fmt.Sprintf("fetching %s: %v", e.url, e.err) }
func (e *downloadError) Unwrap() error { return e.err }

// Is makes a downloadError a go-tuf ErrDownload.
func (e *downloadError) Is(target error) bool {
	_, ok := target.(*metadata.ErrDownload)
	return ok
}

func (f *fetcher) DownloadFile(urlPath string, maxLength int64, _ time.Duration) ([]byte, error) {
	r := metadataRole(f.mirror, urlPath)
	if r != "" {
		f.role = r
	}
	f.targetFile = r == ""
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, urlPath, nil)
	if err != nil {
		return nil, &downloadError{url: urlPath, err: err}
	}
	if f.userAgent != "" {
		req.Header.Set("User-Agent", f.userAgent)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, &downloadError{url: urlPath, err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// go-tuf ends the root walk on this error's 404.
		return nil, &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: urlPath}
	}
	if resp.ContentLength > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is %d bytes, more than the %d expected", urlPath, resp.ContentLength, maxLength)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLength+1))
	if err != nil {
		return nil, &downloadError{url: urlPath, err: err}
	}
	if int64(len(b)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is more than the %d bytes expected", urlPath, maxLength)}
	}
	return b, nil
}

// metadataRole returns the role of a metadata URL under mirror
// ("<mirror>/3.root.json", "<mirror>/timestamp.json"), "" for targets and
// other URLs.
func metadataRole(mirror, u string) string {
	rel, ok := strings.CutPrefix(u, strings.TrimSuffix(mirror, "/")+"/")
	if !ok || strings.Contains(rel, "/") {
		return ""
	}
	name, ok := strings.CutSuffix(rel, ".json")
	if !ok {
		return ""
	}
	if v, rest, ok := strings.Cut(name, "."); ok {
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			name = rest
		}
	}
	if r, err := url.PathUnescape(name); err == nil {
		return r
	}
	return name
}
