package ctleaf

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	"golang.org/x/mod/sumdb/note"
)

// algRFC6962STH is the signed-note signature type of an
// RFC6962NoteSignature (C2SP static-ct-api), hashed into the key hash.
const algRFC6962STH = 0x05

// Sizes in an RFC6962NoteSignature after the key hash: the timestamp, then
// a TLS DigitallySigned (hash and signature algorithm bytes, a 2-byte
// length, the signature).
const (
	timestampSize  = 8
	minDigitallyS  = 4
	minNoteSigSize = timestampSize + minDigitallyS
)

// verifier verifies RFC6962NoteSignatures: transparency-dev/formats'
// verifier does, for ECDSA keys, once the signature is long enough for it
// to index and the text is canonical; RSA signatures are verified here
// with ct-go.
type verifier struct {
	note.Verifier                       // formats' RFC 6962 verifier: Name, KeyHash, ECDSA Verify
	rsa           *ct.SignatureVerifier // non-nil for an RSA key
}

// Verify reports whether sig (after the key hash: timestamp and TLS
// DigitallySigned) signs msg, the canonical text of a tree head under the
// verifier's name.
func (v *verifier) Verify(msg, sig []byte) bool {
	if len(sig) < minNoteSigSize {
		return false // formats' verifier reads sig[8], sig[9], sig[10:12] unchecked
	}
	origin, size, root, ok := parseBody(msg)
	if !ok || origin != v.Name() {
		return false
	}
	if v.rsa == nil {
		return v.Verifier.Verify(msg, sig)
	}
	var ds cttls.DigitallySigned
	if rest, err := cttls.Unmarshal(sig[timestampSize:], &ds); err != nil || len(rest) != 0 {
		return false
	}
	sth := ct.SignedTreeHead{
		Version:           ct.V1,
		TreeSize:          size,
		Timestamp:         binary.BigEndian.Uint64(sig),
		SHA256RootHash:    root,
		TreeHeadSignature: ct.DigitallySigned(ds),
	}
	return v.rsa.VerifySTHSignature(sth) == nil
}

// parseBody reads the text of an RFC 6962 checkpoint: exactly the origin,
// the decimal tree size and the base64 root hash, each on its line, in
// canonical encoding (the TreeHeadSignature signs size and root, not the
// text: only one text may verify).
func parseBody(msg []byte) (origin string, size uint64, root ct.SHA256Hash, ok bool) {
	lines := strings.Split(string(msg), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return "", 0, root, false
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return "", 0, root, false
	}
	b, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(b) != sha256.Size || base64.StdEncoding.EncodeToString(b) != lines[2] {
		return "", 0, root, false
	}
	copy(root[:], b)
	return lines[0], size, root, true
}

// recorder notes the timestamp of the first signature its verifier
// accepts. note.Open calls it from the caller's goroutine.
type recorder struct {
	note.Verifier
	ts   *uint64
	seen *bool
}

// Verify verifies with the wrapped verifier and records the timestamp of
// the first signature that verifies.
func (r recorder) Verify(msg, sig []byte) bool {
	if !r.Verifier.Verify(msg, sig) {
		return false
	}
	if !*r.seen && len(sig) >= timestampSize {
		*r.ts, *r.seen = binary.BigEndian.Uint64(sig), true
	}
	return true
}

// CheckOrigin rejects an origin that no signed note can carry (C2SP
// signed-note: non-empty, without whitespace or "+"), for a kind's New.
func CheckOrigin(origin string) error { return checkName(origin) }

// checkName rejects origins no signed note can carry (C2SP signed-note:
// non-empty, no whitespace, no "+").
func checkName(name string) error {
	if name == "" || strings.Contains(name, "+") || strings.IndexFunc(name, unicode.IsSpace) >= 0 || !utf8.ValidString(name) {
		return fmt.Errorf("invalid checkpoint origin %q: signed-note names are non-empty, without spaces or '+'", name)
	}
	return nil
}
