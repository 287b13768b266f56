// Package checkpoint parses and verifies the signed checkpoints of a
// transparency log and checks that one checkpoint extends another.
//
// # Checkpoints
//
// A checkpoint (C2SP tlog-checkpoint) is a signed note (C2SP signed-note)
// whose text commits to the whole log at one size:
//
//	rekor.example.com - 1193050959916656506      <- origin
//	20345                                        <- tree size, decimal
//	PBzXfTlh7S4C8cJ5pQqXhk5b2oGZeyTTQpqCRBqWx0A= <- root hash, base64 RFC 6962
//	[optional extension lines]
//
//	— rekor.example.com Ak5XyjBEAiB...            <- signature line(s)
//
// Rekor v1 signs with its server key, usually ECDSA P-256 (the key hint is the
// first four bytes of the SHA-256 of the DER public key whatever the key type,
// the signature name is the server's hostname, the origin is "<hostname> -
// <tree ID>"): see [NewRekorV1Verifier]. Rekor v2 signs with Ed25519 under the
// standard signed-note key hash, and its origin is its hostname: see
// [NewVerifier].
//
// # Verifying
//
// [Parse] opens the note with golang.org/x/mod/sumdb/note, accepting it only if
// the log's key signed it, then checks that the origin is the expected one. A
// failure is an [*IntegrityError] carrying the raw note as evidence. A body
// that is not a signed note at all is a [*FormatError]: the log (or something
// in front of it) answered garbage, which says nothing about the log's honesty.
//
// [CheckConsistency] compares a new verified checkpoint with the last one the
// monitor trusted: a smaller tree is a rollback, the same size with another
// root is a fork, and a larger tree must come with a consistency proof that
// github.com/transparency-dev/merkle accepts. Each failure is an
// [*IntegrityError] with both raw notes and the proof, which is what a third
// party needs to check the claim offline.
//
// # Trust model
//
// The first checkpoint a monitor sees is trusted on first use, unless the
// operator supplies a starting checkpoint. Every later checkpoint is accepted
// only if it is consistent with the last accepted one, so a log that ever
// shows the monitor two irreconcilable views is caught.
//
// This package does no I/O and does not log.
package checkpoint

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// MaxSize bounds the size of a checkpoint note this package accepts.
const MaxSize = 16 << 10

// Checkpoint is a verified checkpoint. Raw is the signed note exactly as the
// log served it; the other fields are derived from it.
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   []byte
	// Timestamp is the time carried in a "Timestamp: <unix nanoseconds>"
	// extension line (older Rekor v1 servers write one), or in a CT
	// log's RFC6962NoteSignature (set by package ctleaf); zero when
	// absent.
	Timestamp time.Time
	Raw       []byte
}

// String formats c as "origin@size/hash" for logs.
func (c *Checkpoint) String() string {
	if c == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s@%d/%s", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash))
}

// Reason names the kind of misbehaviour an [IntegrityError] reports. The
// values are the `reason` label of vigil_log_integrity_failures_total.
type Reason string

const (
	ReasonSignature   Reason = "signature"   // not signed by the log's key
	ReasonOrigin      Reason = "origin"      // signed, but for another log
	ReasonMalformed   Reason = "malformed"   // signed text is not a checkpoint, or contradicts the API response
	ReasonRollback    Reason = "rollback"    // tree smaller than one the log signed before
	ReasonFork        Reason = "fork"        // same size, different root
	ReasonConsistency Reason = "consistency" // consistency proof does not verify
	ReasonInclusion   Reason = "inclusion"   // entries served do not hash to the signed root
	// ReasonSplitView: two checkpoints the log signed (one the monitor
	// verified or cosigned, one shown to someone else: a client's bundle, a
	// peer) that no single append-only history explains.
	ReasonSplitView Reason = "split_view"
)

// Reasons lists every Reason, for initialising metrics.
var Reasons = []Reason{ReasonSignature, ReasonOrigin, ReasonMalformed, ReasonRollback, ReasonFork, ReasonConsistency, ReasonInclusion, ReasonSplitView}

// IntegrityError reports that the log served something a correct log never
// serves. It is the evidence: Old is the last trusted checkpoint (nil when the
// failure concerns a single note), New the offending note, Proof the hashes
// the log supplied.
type IntegrityError struct {
	Reason Reason
	Old    []byte
	New    []byte
	Proof  [][]byte
	Err    error
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("log integrity violation (%s): %v", e.Reason, e.Err)
}

func (e *IntegrityError) Unwrap() error { return e.Err }

// ProofHex returns the proof hashes hex-encoded, for evidence.
func (e *IntegrityError) ProofHex() []string {
	out := make([]string, len(e.Proof))
	for i, h := range e.Proof {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

// FormatError reports a body that is not a signed note at all. It is not
// evidence against the log: proxies, truncation and misconfiguration produce
// it too.
type FormatError struct{ Err error }

func (e *FormatError) Error() string { return "not a signed note: " + e.Err.Error() }
func (e *FormatError) Unwrap() error { return e.Err }

// NewVerifier returns a note verifier for a Rekor v2 (signed-note) log key.
// name is the name in the note's signature lines: the log's origin. Ed25519
// keys use the standard signed-note key hash; RSA keys the signed-note hash
// of signature type 0xFF "PKIX-RSA-PKCS#1v1.5" over the DER key (PKCS #1
// v1.5 signatures over the SHA-256 of the note text); ECDSA keys the
// SHA-256 of the DER public key. These are rekor-tiles' choices (its
// pkg/note); the key hash is the first four bytes of [NoteKeyID].
func NewVerifier(name string, pub crypto.PublicKey) (note.Verifier, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return NewRekorV1Verifier(name, k)
	case ed25519.PublicKey:
		vkey, err := note.NewEd25519VerifierKey(name, k)
		if err != nil {
			return nil, fmt.Errorf("building Ed25519 verifier key for %q: %w", name, err)
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, fmt.Errorf("building Ed25519 note verifier for %q: %w", name, err)
		}
		return v, nil
	case *rsa.PublicKey:
		id, err := noteKeyID(name, k)
		if err != nil {
			return nil, err
		}
		return &verifier{name: name, hash: binary.BigEndian.Uint32(id), verify: func(msg, sig []byte) bool {
			d := sha256.Sum256(msg)
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil
		}}, nil
	default:
		return nil, fmt.Errorf("unsupported log key type %T (want ECDSA, Ed25519 or RSA)", pub)
	}
}

// Signed-note signature types (C2SP signed-note): Ed25519, and the
// "undefined" type that rekor-tiles follows with an identifier for RSA.
const (
	sigTypeEd25519 = 0x01
	sigTypeUndef   = 0xff
	rsaSigID       = "PKIX-RSA-PKCS#1v1.5"
)

// NoteKeyID returns the hex ID of a signed-note (Rekor v2) log key named
// name: the log ID Sigstore's trusted_root.json gives a Rekor v2 log (its
// checkpoint key ID) and that bundles carry. For Ed25519 and RSA keys it is
// the C2SP signed-note key ID, SHA-256(name || 0x0A || signature type ||
// key), over the raw key for Ed25519 (type 0x01) and the DER key for RSA
// (type 0xFF followed by "PKIX-RSA-PKCS#1v1.5"); for ECDSA keys it is the
// SHA-256 of the DER key, as for Rekor v1 ([KeyID]).
func NoteKeyID(name string, pub crypto.PublicKey) (string, error) {
	id, err := noteKeyID(name, pub)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(id), nil
}

func noteKeyID(name string, pub crypto.PublicKey) ([]byte, error) {
	var typ, key []byte
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("encoding public key: %w", err)
		}
		sum := sha256.Sum256(der)
		return sum[:], nil
	case ed25519.PublicKey:
		typ, key = []byte{sigTypeEd25519}, k
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("encoding public key: %w", err)
		}
		typ, key = append([]byte{sigTypeUndef}, rsaSigID...), der
	default:
		return nil, fmt.Errorf("unsupported log key type %T (want ECDSA, Ed25519 or RSA)", pub)
	}
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n'})
	h.Write(typ)
	h.Write(key)
	return h.Sum(nil), nil
}

// NewRekorV1Verifier returns a note verifier for a Rekor v1 log key. name is
// the server's hostname (the origin is "<hostname> - <treeID>"). Rekor v1
// hints every key type with the first four bytes of the SHA-256 of the DER
// public key and signs ECDSA and RSA over the SHA-256 of the note text,
// Ed25519 over the text itself (sigstore/rekor pkg/util/signed_note.go).
func NewRekorV1Verifier(name string, pub crypto.PublicKey) (note.Verifier, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding log public key: %w", err)
	}
	sum := sha256.Sum256(der)
	v := &verifier{name: name, hash: binary.BigEndian.Uint32(sum[:])}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		v.verify = func(msg, sig []byte) bool {
			d := sha256.Sum256(msg)
			return ecdsa.VerifyASN1(k, d[:], sig)
		}
	case ed25519.PublicKey:
		v.verify = func(msg, sig []byte) bool { return ed25519.Verify(k, msg, sig) }
	case *rsa.PublicKey:
		v.verify = func(msg, sig []byte) bool {
			d := sha256.Sum256(msg)
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil
		}
	default:
		return nil, fmt.Errorf("unsupported log key type %T (want ECDSA, Ed25519 or RSA)", pub)
	}
	return v, nil
}

// checkName rejects key names no signed note can carry (SPEC signed-note:
// non-empty, no whitespace, no "+").
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "+") || strings.IndexFunc(name, unicode.IsSpace) >= 0 || !utf8.ValidString(name) {
		return fmt.Errorf("invalid key name %q: signed-note names are non-empty, without spaces or '+'", name)
	}
	return nil
}

// verifier is a note.Verifier with a Rekor-style key hint.
type verifier struct {
	name   string
	hash   uint32
	verify func(msg, sig []byte) bool
}

func (v *verifier) Name() string                { return v.name }
func (v *verifier) KeyHash() uint32             { return v.hash }
func (v *verifier) Verify(msg, sig []byte) bool { return v.verify(msg, sig) }

// KeyID returns the hex SHA-256 of the DER public key: the log ID Sigstore
// gives a Rekor v1 log in trusted roots and bundles, and the key ID given in
// its evidence. Rekor v2 logs use [NoteKeyID].
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// Parse verifies raw as a checkpoint for origin signed by one of the log's
// keys vs (several during a key rotation; their name and key hash pairs must
// differ) and returns it.
//
// It returns a [*FormatError] when raw is not a signed note, and an
// [*IntegrityError] with reason signature, origin or malformed when the note
// is not a valid checkpoint of this log.
func Parse(raw []byte, origin string, vs ...note.Verifier) (*Checkpoint, error) {
	if len(vs) == 0 {
		return nil, errors.New("parsing checkpoint: no log key to verify it with")
	}
	return parse(raw, note.VerifierList(vs...), describeKeys(vs, true), func(o string) error {
		if o != origin {
			return fmt.Errorf("checkpoint origin is %q, want %q", o, origin)
		}
		return nil
	})
}

// ParseRekorV1 verifies raw as a checkpoint of Rekor v1 tree treeID signed
// by one of the log's keys vs (see [NewRekorV1Verifier]) and returns it.
//
// Rekor v1 signs as its --rekor_server.hostname, whose default is the
// machine's hostname: in Kubernetes the pod name, new at every restart and
// rollout. So, as Rekor's own client does, a signature is matched by its
// key hint and verified with the key, whatever name it carries; the origin
// must be "<hostname> - <treeID>" for some hostname ([RekorV1Hostname]
// returns it), so the tree ID stays bound to the signature.
//
// Errors are as for [Parse].
func ParseRekorV1(raw []byte, treeID string, vs ...note.Verifier) (*Checkpoint, error) {
	if len(vs) == 0 {
		return nil, errors.New("parsing checkpoint: no log key to verify it with")
	}
	return parse(raw, anyName(vs), describeKeys(vs, false), func(o string) error {
		if host := RekorV1Hostname(o, treeID); host == "" {
			return fmt.Errorf("checkpoint origin is %q, want \"<hostname> - %s\"", o, treeID)
		}
		return nil
	})
}

// RekorV1Hostname returns the hostname of a Rekor v1 origin "<hostname> -
// <treeID>", or "" when origin is not of that form for treeID.
func RekorV1Hostname(origin, treeID string) string {
	host, ok := strings.CutSuffix(origin, " - "+treeID)
	if !ok || host == "" || checkName(host) != nil {
		return ""
	}
	return host
}

// anyName finds a Rekor v1 verifier by key hint alone, under the name the
// signature line gives.
type anyName []note.Verifier

func (a anyName) Verifier(name string, hash uint32) (note.Verifier, error) {
	for _, v := range a {
		if v.KeyHash() == hash {
			return renamed{Verifier: v, name: name}, nil
		}
	}
	return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
}

type renamed struct {
	note.Verifier
	name string
}

func (r renamed) Name() string { return r.name }

// describeKeys names vs for an error: "name key 0a1b2c3d or ...", or only
// the key hints when names do not count.
func describeKeys(vs []note.Verifier, withName bool) string {
	keys := make([]string, len(vs))
	for i, v := range vs {
		keys[i] = fmt.Sprintf("key %08x", v.KeyHash())
		if withName {
			keys[i] = v.Name() + " " + keys[i]
		}
	}
	return strings.Join(keys, " or ")
}

func parse(raw []byte, vs note.Verifiers, keys string, checkOrigin func(string) error) (*Checkpoint, error) {
	if len(raw) > MaxSize {
		return nil, &FormatError{Err: fmt.Errorf("%d bytes exceeds the %d byte limit", len(raw), MaxSize)}
	}
	raw = bytes.Clone(raw)
	n, err := note.Open(raw, vs)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &invalid):
			// SPEC (signed-note): a signature by a known key that does not
			// verify is an error, never skipped.
			return nil, &IntegrityError{Reason: ReasonSignature, New: raw, Err: fmt.Errorf("verifying checkpoint signature: %w", err)}
		case errors.As(err, &unverified):
			return nil, &IntegrityError{Reason: ReasonSignature, New: raw,
				Err: fmt.Errorf("checkpoint has no signature by %s: %w", keys, err)}
		default:
			return nil, &FormatError{Err: err}
		}
	}
	var c log.Checkpoint
	rest, err := c.Unmarshal([]byte(n.Text))
	if err != nil {
		return nil, &IntegrityError{Reason: ReasonMalformed, New: raw, Err: fmt.Errorf("parsing signed checkpoint text: %w", err)}
	}
	if len(c.Hash) != sha256.Size {
		return nil, &IntegrityError{Reason: ReasonMalformed, New: raw,
			Err: fmt.Errorf("root hash has %d bytes, want %d", len(c.Hash), sha256.Size)}
	}
	if err := checkOrigin(c.Origin); err != nil {
		return nil, &IntegrityError{Reason: ReasonOrigin, New: raw, Err: err}
	}
	cp := &Checkpoint{Origin: c.Origin, Size: c.Size, Hash: c.Hash, Raw: raw}
	for _, line := range strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n") {
		if ts, ok := strings.CutPrefix(line, "Timestamp: "); ok {
			ns, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return nil, &IntegrityError{Reason: ReasonMalformed, New: raw, Err: fmt.Errorf("parsing timestamp line %q: %w", line, err)}
			}
			cp.Timestamp = time.Unix(0, ns)
		}
	}
	return cp, nil
}

// Signature is one signature line of a signed note, unverified.
type Signature struct {
	Name    string
	KeyHash uint32
}

// Signatures lists the signature lines of the signed note raw without
// verifying any, and the note's first line (the origin of a checkpoint),
// for explaining why a note did not verify. It returns nil when raw is not
// a signed note.
func Signatures(raw []byte) (origin string, sigs []Signature) {
	s := string(raw)
	i := strings.LastIndex(s, "\n\n")
	if i < 0 {
		return "", nil
	}
	origin, _, _ = strings.Cut(s, "\n")
	for _, line := range strings.Split(strings.TrimSuffix(s[i+2:], "\n"), "\n") {
		name, b64, ok := strings.Cut(strings.TrimPrefix(line, "— "), " ")
		if !ok || !strings.HasPrefix(line, "— ") {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) < 5 {
			continue
		}
		sigs = append(sigs, Signature{Name: name, KeyHash: binary.BigEndian.Uint32(sig)})
	}
	return origin, sigs
}

// SignedText returns the signed text of the note raw: everything before the
// blank line that starts its signatures (all of raw when there is none). It
// does not verify anything: the same tree head signed again (Rekor v1
// signs afresh on every request) has the same signed text.
func SignedText(raw []byte) string {
	s := string(raw)
	if i := strings.LastIndex(s, "\n\n"); i >= 0 {
		return s[:i+1]
	}
	return s
}

// CheckConsistency checks that newer extends older, given the log's
// consistency proof from older.Size to newer.Size. It returns nil or an
// [*IntegrityError] with reason rollback, fork or consistency. An older
// checkpoint of size 0 is extended by every tree.
func CheckConsistency(older, newer *Checkpoint, p [][]byte) error {
	fail := func(r Reason, err error) error {
		return &IntegrityError{Reason: r, Old: older.Raw, New: newer.Raw, Proof: p, Err: err}
	}
	switch {
	case newer.Size < older.Size:
		return fail(ReasonRollback, fmt.Errorf("tree shrank from %d to %d entries", older.Size, newer.Size))
	case newer.Size == older.Size:
		if !bytes.Equal(newer.Hash, older.Hash) {
			return fail(ReasonFork, fmt.Errorf("two roots for tree size %d: %x and %x", newer.Size, older.Hash, newer.Hash))
		}
		return nil
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, older.Size, newer.Size, p, older.Hash, newer.Hash); err != nil {
		return fail(ReasonConsistency, fmt.Errorf("verifying consistency proof from size %d to %d: %w", older.Size, newer.Size, err))
	}
	return nil
}
