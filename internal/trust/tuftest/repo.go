// Package tuftest is a real TUF repository for tests: metadata built and
// signed with go-tuf v2's metadata API and Ed25519 keys, laid out as
// Sigstore's TUF mirrors are (consistent snapshots: <v>.root.json,
// timestamp.json, <v>.snapshot.json, <v>.targets.json and
// targets/<sha256>.<name>), and served over HTTP on 127.0.0.1 by an
// httptest server. Its operations publish what a repository owner would
// (new targets, root key rotations, threshold changes) and what an
// attacker or a broken mirror would (expired, rolled back or wrongly
// signed metadata, garbage, nothing at all).
//
// The sample trust material ([NewTrustedRoot], [NewSigningConfig]) is
// generated in memory; nothing is read from disk or the network.
package tuftest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Target names of Sigstore's TUF repositories.
const (
	TrustedRootTarget   = "trusted_root.json"
	SigningConfigTarget = "signing_config.v0.2.json"
)

// key is a TUF signing key.
type key struct {
	id     string
	tuf    *metadata.Key
	signer signature.Signer
}

// Repo is a TUF repository served over HTTP. Its methods fail the test on
// error. It is safe for concurrent use (the server reads while the test
// publishes).
type Repo struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex // guards the fields below
	keys       map[string][]*key
	root       *metadata.Metadata[metadata.RootType]
	targets    *metadata.Metadata[metadata.TargetsType]
	snapshot   *metadata.Metadata[metadata.SnapshotType]
	timestamp  *metadata.Metadata[metadata.TimestampType]
	rootJSON   []byte            // version 1 of root.json
	tr         *TrustedRoot      // the sample trusted root of New
	sc         *SigningConfig    // the sample signing config of New
	data       map[string][]byte // target name -> content
	files      map[string][]byte // URL path (without "/") -> body
	timestamps map[int64][]byte  // every timestamp.json published, by version
	serveTS    int64             // the timestamp version served; 0: the newest
	tsExpires  time.Time         // expiry of the timestamps published next
	overrides  map[string][]byte // URL path -> body served instead
	hidden     map[string]bool   // URL paths answered with 404
	down       bool
	requests   []string
}

// New builds a repository with one Ed25519 key per top-level role
// (threshold 1), root version 1, and targets, snapshot and timestamp
// version 1 holding the sample [TrustedRootTarget] and
// [SigningConfigTarget], and serves it on 127.0.0.1 until the test ends.
// Expiries are relative to now: root a year, targets 90 days, snapshot 30
// days, timestamp 7 days.
func New(t testing.TB) *Repo {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	r := &Repo{
		t:          t,
		keys:       map[string][]*key{},
		data:       map[string][]byte{},
		files:      map[string][]byte{},
		timestamps: map[int64][]byte{},
		overrides:  map[string][]byte{},
		hidden:     map[string]bool{},
		tsExpires:  now.Add(7 * 24 * time.Hour),
	}
	r.root = metadata.Root(now.AddDate(1, 0, 0))
	r.root.Signed.ConsistentSnapshot = true
	for _, role := range []string{metadata.ROOT, metadata.TIMESTAMP, metadata.SNAPSHOT, metadata.TARGETS} {
		k := r.newKey()
		r.keys[role] = []*key{k}
		if err := r.root.Signed.AddKey(k.tuf, role); err != nil {
			t.Fatalf("tuftest: adding %s key: %v", role, err)
		}
	}
	r.rootJSON = r.publishRootLocked(nil)

	r.targets = metadata.Targets(now.AddDate(0, 0, 90))
	r.targets.Signed.Version = 0
	r.snapshot = metadata.Snapshot(now.AddDate(0, 0, 30))
	r.snapshot.Signed.Version = 0
	r.timestamp = metadata.Timestamp(r.tsExpires)
	r.timestamp.Signed.Version = 0

	r.tr, r.sc = NewTrustedRoot(t), NewSigningConfig(t)
	r.data[TrustedRootTarget] = r.tr.JSON()
	r.data[SigningConfigTarget] = r.sc.JSON()
	r.publishLocked()

	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is the mirror's base URL (metadata at the top, targets under
// /targets).
func (r *Repo) URL() string { return r.srv.URL }

// RootJSON is version 1 of root.json, the root to pin.
func (r *Repo) RootJSON() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.rootJSON)
}

// TrustedRoot is the builder of the sample trusted root New published.
// After changing it, publish its JSON with SetTarget and Publish.
func (r *Repo) TrustedRoot() *TrustedRoot { return r.tr }

// SigningConfig is the builder of the sample signing config New published.
func (r *Repo) SigningConfig() *SigningConfig { return r.sc }

// Target returns the content of target name as last set (nil if none).
func (r *Repo) Target(name string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.data[name])
}

// SetTarget sets (or, with nil data, removes) target name. It takes effect
// at the next Publish.
func (r *Repo) SetTarget(name string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if data == nil {
		delete(r.data, name)
		return
	}
	r.data[name] = slices.Clone(data)
}

// Publish signs and serves new versions of targets, snapshot and
// timestamp, and stops serving an old timestamp (ServeOld).
func (r *Repo) Publish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publishLocked()
}

// Versions returns the versions of root, timestamp, snapshot and targets
// last published.
func (r *Repo) Versions() (rootV, timestampV, snapshotV, targetsV int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.root.Signed.Version, r.timestamp.Signed.Version, r.snapshot.Signed.Version, r.targets.Signed.Version
}

// RotateRootKey replaces the root key with a fresh one: it publishes the
// next root version, signed by the old and the new key, as a client
// following the chain requires.
func (r *Repo) RotateRootKey() {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.keys[metadata.ROOT]
	for _, k := range old {
		if err := r.root.Signed.RevokeKey(k.id, metadata.ROOT); err != nil {
			r.t.Fatalf("tuftest: revoking root key: %v", err)
		}
	}
	k := r.newKey()
	if err := r.root.Signed.AddKey(k.tuf, metadata.ROOT); err != nil {
		r.t.Fatalf("tuftest: adding root key: %v", err)
	}
	r.keys[metadata.ROOT] = []*key{k}
	r.root.Signed.Version++
	r.publishRootLocked(old)
}

// PublishForgedRoot serves a next root version, unchanged but signed
// only by a fresh key that the current root does not trust: a forged root
// rotation. The repository's own root stays as it was.
func (r *Repo) PublishForgedRoot() {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.newKey()
	r.root.Signed.Version++
	b := sign(r.t, r.root, k)
	r.root.Signed.Version--
	r.files[fmt.Sprintf("%d.root.json", r.root.Signed.Version+1)] = b
}

// SetRootExpiry publishes the next root version, expiring at expires (in
// the past: an expired root that was never renewed).
func (r *Repo) SetRootExpiry(expires time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.root.Signed.Expires = expires.UTC().Truncate(time.Second)
	r.root.Signed.Version++
	r.publishRootLocked(nil)
}

// SetTimestampThreshold publishes the next root version in which the
// timestamp role has n fresh keys and threshold n, and a new timestamp
// signed by all of them.
func (r *Repo) SetTimestampThreshold(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n < 1 {
		r.t.Fatalf("tuftest: threshold %d < 1", n)
	}
	for _, k := range r.keys[metadata.TIMESTAMP] {
		if err := r.root.Signed.RevokeKey(k.id, metadata.TIMESTAMP); err != nil {
			r.t.Fatalf("tuftest: revoking timestamp key: %v", err)
		}
	}
	var keys []*key
	for range n {
		k := r.newKey()
		if err := r.root.Signed.AddKey(k.tuf, metadata.TIMESTAMP); err != nil {
			r.t.Fatalf("tuftest: adding timestamp key: %v", err)
		}
		keys = append(keys, k)
	}
	r.keys[metadata.TIMESTAMP] = keys
	r.root.Signed.Roles[metadata.TIMESTAMP].Threshold = n
	r.root.Signed.Version++
	r.publishRootLocked(nil)
	r.publishTimestampLocked(r.snapshot.Signed.Version, keys...)
}

// SignTimestampBelowThreshold publishes a new timestamp signed by one key
// fewer than the threshold (set by SetTimestampThreshold, at least 2).
func (r *Repo) SignTimestampBelowThreshold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := r.keys[metadata.TIMESTAMP]
	th := r.root.Signed.Roles[metadata.TIMESTAMP].Threshold
	if th < 2 {
		r.t.Fatalf("tuftest: timestamp threshold is %d; call SetTimestampThreshold(2) or more first", th)
	}
	r.publishTimestampLocked(r.snapshot.Signed.Version, keys[:th-1]...)
}

// SignTimestampWithWrongKey publishes a new timestamp (the next version,
// otherwise valid) signed by a fresh key the root does not trust. Publish
// or SetTimestampExpiry publish a good one again.
func (r *Repo) SignTimestampWithWrongKey() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publishTimestampLocked(r.snapshot.Signed.Version, r.newKey())
}

// SetTimestampExpiry publishes a new timestamp version expiring at
// expires (in the past: an expired, frozen timestamp); later timestamps
// expire then too.
func (r *Repo) SetTimestampExpiry(expires time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tsExpires = expires.UTC().Truncate(time.Second)
	r.publishTimestampLocked(r.snapshot.Signed.Version, r.keys[metadata.TIMESTAMP]...)
}

// ServeOld serves the timestamp of version as timestamp.json (and so, by
// consistent snapshots, that version's snapshot and targets): a rollback.
// ServeOld(0) and Publish serve the newest again.
func (r *Repo) ServeOld(version int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.timestamps[version]; !ok && version != 0 {
		r.t.Fatalf("tuftest: no timestamp version %d was published", version)
	}
	r.serveTS = version
}

// RollbackSnapshot publishes a new, validly signed timestamp that points
// at the older snapshot version: a rollback of the snapshot.
func (r *Repo) RollbackSnapshot(version int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.files[fmt.Sprintf("%d.snapshot.json", version)]; !ok {
		r.t.Fatalf("tuftest: no snapshot version %d was published", version)
	}
	r.publishTimestampLocked(version, r.keys[metadata.TIMESTAMP]...)
}

// Override serves body at path (relative to URL, e.g. "timestamp.json")
// instead of the repository's file, until Restore.
func (r *Repo) Override(path string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.overrides[path] = slices.Clone(body)
	delete(r.hidden, path)
}

// Hide answers 404 Not Found for path (relative to URL), until Restore.
func (r *Repo) Hide(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hidden[path] = true
	delete(r.overrides, path)
}

// Restore serves the repository's file at path again, ending Override or
// Hide.
func (r *Repo) Restore(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.overrides, path)
	delete(r.hidden, path)
}

// TargetPath is the path (relative to URL) at which the current content
// of target name is served.
func (r *Repo) TargetPath(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return targetPath(name, r.data[name])
}

// Down makes the mirror unreachable (every connection is closed without a
// response) or reachable again.
func (r *Repo) Down(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// Requests returns the paths requested so far, in order, and forgets them.
func (r *Repo) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs := r.requests
	r.requests = nil
	return reqs
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	path := strings.TrimPrefix(req.URL.Path, "/")
	r.mu.Lock()
	r.requests = append(r.requests, path)
	down := r.down
	body, ok := r.overrides[path]
	switch {
	case r.hidden[path]:
		ok = false
	case ok:
	case path == "timestamp.json":
		v := r.serveTS
		if v == 0 {
			v = r.timestamp.Signed.Version
		}
		body, ok = r.timestamps[v]
	default:
		body, ok = r.files[path]
	}
	r.mu.Unlock()
	if down {
		hj, isHJ := w.(http.Hijacker)
		if !isHJ {
			http.Error(w, "mirror down", http.StatusServiceUnavailable)
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if !ok || req.Method != http.MethodGet {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func (r *Repo) newKey() *key {
	r.t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		r.t.Fatalf("tuftest: generating key: %v", err)
	}
	s, err := signature.LoadED25519Signer(priv)
	if err != nil {
		r.t.Fatalf("tuftest: loading signer: %v", err)
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		r.t.Fatalf("tuftest: TUF key: %v", err)
	}
	id, err := k.ID()
	if err != nil {
		r.t.Fatalf("tuftest: TUF key ID: %v", err)
	}
	return &key{id: id, tuf: k, signer: s}
}

// publishRootLocked signs the current root with its root keys and extra
// (the previous root's keys, for a rotation) and serves it.
func (r *Repo) publishRootLocked(extra []*key) []byte {
	b := sign(r.t, r.root, append(slices.Clone(r.keys[metadata.ROOT]), extra...)...)
	r.files[fmt.Sprintf("%d.root.json", r.root.Signed.Version)] = b
	r.files["root.json"] = b
	return b
}

func (r *Repo) publishLocked() {
	r.targets.Signed.Version++
	r.targets.Signed.Targets = map[string]*metadata.TargetFiles{}
	for name, data := range r.data {
		tf, err := metadata.TargetFile().FromBytes(name, data, "sha256")
		if err != nil {
			r.t.Fatalf("tuftest: target %s: %v", name, err)
		}
		r.targets.Signed.Targets[name] = tf
		r.files[targetPath(name, data)] = data
	}
	tb := sign(r.t, r.targets, r.keys[metadata.TARGETS]...)
	r.files[fmt.Sprintf("%d.targets.json", r.targets.Signed.Version)] = tb

	r.snapshot.Signed.Version++
	r.snapshot.Signed.Meta["targets.json"] = metaFile(r.targets.Signed.Version, tb)
	sb := sign(r.t, r.snapshot, r.keys[metadata.SNAPSHOT]...)
	r.files[fmt.Sprintf("%d.snapshot.json", r.snapshot.Signed.Version)] = sb

	r.publishTimestampLocked(r.snapshot.Signed.Version, r.keys[metadata.TIMESTAMP]...)
}

// publishTimestampLocked publishes the next timestamp version, pointing at
// snapshot version snapshotV and signed by keys.
func (r *Repo) publishTimestampLocked(snapshotV int64, keys ...*key) {
	sb, ok := r.files[fmt.Sprintf("%d.snapshot.json", snapshotV)]
	if !ok {
		r.t.Fatalf("tuftest: no snapshot version %d", snapshotV)
	}
	r.timestamp.Signed.Version++
	r.timestamp.Signed.Expires = r.tsExpires
	r.timestamp.Signed.Meta["snapshot.json"] = metaFile(snapshotV, sb)
	r.timestamps[r.timestamp.Signed.Version] = sign(r.t, r.timestamp, keys...)
	r.serveTS = 0
}

func metaFile(version int64, data []byte) *metadata.MetaFiles {
	sum := sha256.Sum256(data)
	return &metadata.MetaFiles{
		Version: version,
		Length:  int64(len(data)),
		Hashes:  metadata.Hashes{"sha256": sum[:]},
	}
}

func targetPath(name string, data []byte) string {
	sum := sha256.Sum256(data)
	return "targets/" + hex.EncodeToString(sum[:]) + "." + name
}

// sign replaces md's signatures with ones by keys and returns its JSON.
func sign[T metadata.Roles](t testing.TB, md *metadata.Metadata[T], keys ...*key) []byte {
	t.Helper()
	md.ClearSignatures()
	for _, k := range keys {
		if _, err := md.Sign(k.signer); err != nil {
			t.Fatalf("tuftest: signing: %v", err)
		}
	}
	b, err := md.ToBytes(false)
	if err != nil {
		t.Fatalf("tuftest: marshalling metadata: %v", err)
	}
	return b
}
