package checkpoint_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	rekorutil "github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
)

const (
	v1Host   = "rekor.example.com"
	v1TreeID = 1193050959916656506
	v2Origin = "log2025-1.rekor.example.com"
)

var v1Origin = fmt.Sprintf("%s - %d", v1Host, v1TreeID)

// flipSigBit flips one bit of the signature proper (not the key hash) of the
// first signature line of msg.
func flipSigBit(t *testing.T, msg []byte) []byte {
	t.Helper()
	i := bytes.LastIndex(msg, []byte("\n\n— "))
	if i < 0 {
		t.Fatalf("no signature block in %q", msg)
	}
	text, sigs := msg[:i+2], string(msg[i+2:])
	line, rest, _ := strings.Cut(sigs, "\n")
	name, sig64, ok := strings.Cut(strings.TrimPrefix(line, "— "), " ")
	if !ok {
		t.Fatalf("bad signature line %q", line)
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil {
		t.Fatalf("decoding signature %q: %v", sig64, err)
	}
	sig[4+len(sig[4:])/2] ^= 0x01
	out := slices.Clone(text)
	out = fmt.Appendf(out, "— %s %s\n%s", name, base64.StdEncoding.EncodeToString(sig), rest)
	return out
}

func TestParse(t *testing.T) {
	v1 := newRekorV1Log(t, v1Host, v1TreeID, testECDSAKey(t))
	v1.grow(20)
	v2 := newRekorV2Log(t, v2Origin, ed25519Seed)
	v2.grow(20)

	// The same hostname and origins, other keys.
	otherV1 := newRekorV1Log(t, v1Host, v1TreeID, newECDSAKey(t))
	otherV1.grow(20)
	otherV2 := newRekorV2Log(t, v2Origin, bytes.Repeat([]byte{0x99}, ed25519.SeedSize))
	otherV2.grow(20)
	// The right key, signing under another name.
	renamed := newRekorV1Log(t, "evil.example.com", v1TreeID, testECDSAKey(t))
	renamed.origin = v1Origin
	renamed.grow(20)

	hash := func(l *testLog, size uint64) string {
		return base64.StdEncoding.EncodeToString(l.tree.HashAt(size))
	}
	const ts = 1700000000123456789

	type want struct {
		// format: want a *FormatError; reason: want an *IntegrityError
		// with this Reason; otherwise want cp.
		format bool
		reason checkpoint.Reason
		cp     *checkpoint.Checkpoint
	}
	tests := []struct {
		name   string
		raw    []byte
		origin string
		v      note.Verifier
		want   want
	}{
		{
			name: "valid v1", raw: v1.note(7), origin: v1Origin, v: v1.verifier,
			want: want{cp: &checkpoint.Checkpoint{Origin: v1Origin, Size: 7, Hash: v1.tree.HashAt(7)}},
		},
		{
			name: "valid v2", raw: v2.note(20), origin: v2Origin, v: v2.verifier,
			want: want{cp: &checkpoint.Checkpoint{Origin: v2Origin, Size: 20, Hash: v2.tree.HashAt(20)}},
		},
		{
			name: "valid empty tree", raw: v1.note(0), origin: v1Origin, v: v1.verifier,
			want: want{cp: &checkpoint.Checkpoint{Origin: v1Origin, Size: 0, Hash: rfc6962.DefaultHasher.EmptyRoot()}},
		},
		{
			name: "timestamp extension line", raw: v1.note(3, fmt.Sprintf("Timestamp: %d", ts)), origin: v1Origin, v: v1.verifier,
			want: want{cp: &checkpoint.Checkpoint{Origin: v1Origin, Size: 3, Hash: v1.tree.HashAt(3), Timestamp: time.Unix(0, ts)}},
		},
		{
			name: "other extension lines ignored", raw: v2.note(3, "Color: blue", "x"), origin: v2Origin, v: v2.verifier,
			want: want{cp: &checkpoint.Checkpoint{Origin: v2Origin, Size: 3, Hash: v2.tree.HashAt(3)}},
		},
		{
			name: "extra signature by an unknown key", origin: v2Origin, v: v2.verifier,
			raw: func() []byte {
				s, _ := ed25519Signer(t, "witness.example.com", bytes.Repeat([]byte{1}, 32))
				m, err := note.Sign(&note.Note{Text: v2.text(4)}, v2.signer, s)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}(),
			want: want{cp: &checkpoint.Checkpoint{Origin: v2Origin, Size: 4, Hash: v2.tree.HashAt(4)}},
		},

		// Signature failures.
		{name: "v1 flipped signature bit", raw: flipSigBit(t, v1.note(7)), origin: v1Origin, v: v1.verifier, want: want{reason: checkpoint.ReasonSignature}},
		{name: "v2 flipped signature bit", raw: flipSigBit(t, v2.note(7)), origin: v2Origin, v: v2.verifier, want: want{reason: checkpoint.ReasonSignature}},
		{
			name: "text changed after signing", origin: v1Origin, v: v1.verifier,
			raw:  bytes.Replace(v1.note(7), []byte("\n7\n"), []byte("\n8\n"), 1),
			want: want{reason: checkpoint.ReasonSignature},
		},
		{name: "v1 signed by another key", raw: otherV1.note(7), origin: v1Origin, v: v1.verifier, want: want{reason: checkpoint.ReasonSignature}},
		{name: "v2 signed by another key", raw: otherV2.note(7), origin: v2Origin, v: v2.verifier, want: want{reason: checkpoint.ReasonSignature}},
		{name: "right key under another name", raw: renamed.note(7), origin: v1Origin, v: v1.verifier, want: want{reason: checkpoint.ReasonSignature}},
		{name: "v2 note given the v1 key", raw: v2.note(7), origin: v2Origin, v: v1.verifier, want: want{reason: checkpoint.ReasonSignature}},

		// Origin.
		{
			name: "v1 wrong tree ID", origin: v1Origin, v: v1.verifier,
			raw:  v1.sign(fmt.Sprintf("%s - 42\n7\n%s\n", v1Host, hash(v1, 7))),
			want: want{reason: checkpoint.ReasonOrigin},
		},
		{name: "v2 wrong origin", raw: v2.note(7), origin: "log2026-1.rekor.example.com", v: v2.verifier, want: want{reason: checkpoint.ReasonOrigin}},
		{name: "v1 origin expected for v2", raw: v1.note(7), origin: v1Host, v: v1.verifier, want: want{reason: checkpoint.ReasonOrigin}},

		// Signed by the key but not a checkpoint.
		{name: "size not a number", raw: v1.sign(fmt.Sprintf("%s\nseven\n%s\n", v1Origin, hash(v1, 7))), origin: v1Origin, v: v1.verifier, want: want{reason: checkpoint.ReasonMalformed}},
		{name: "negative size", raw: v1.sign(fmt.Sprintf("%s\n-7\n%s\n", v1Origin, hash(v1, 7))), origin: v1Origin, v: v1.verifier, want: want{reason: checkpoint.ReasonMalformed}},
		{name: "size overflows", raw: v1.sign(fmt.Sprintf("%s\n18446744073709551616\n%s\n", v1Origin, hash(v1, 7))), origin: v1Origin, v: v1.verifier, want: want{reason: checkpoint.ReasonMalformed}},
		{name: "bad base64 hash", raw: v1.sign(fmt.Sprintf("%s\n7\nnot*base64!\n", v1Origin)), origin: v1Origin, v: v1.verifier, want: want{reason: checkpoint.ReasonMalformed}},
		{
			name: "short hash", origin: v1Origin, v: v1.verifier,
			raw:  v1.sign(fmt.Sprintf("%s\n7\n%s\n", v1Origin, base64.StdEncoding.EncodeToString(v1.tree.HashAt(7)[:16]))),
			want: want{reason: checkpoint.ReasonMalformed},
		},
		{
			name: "long hash", origin: v2Origin, v: v2.verifier,
			raw:  v2.sign(fmt.Sprintf("%s\n7\n%s\n", v2Origin, base64.StdEncoding.EncodeToString(append(v2.tree.HashAt(7), 0)))),
			want: want{reason: checkpoint.ReasonMalformed},
		},
		{name: "empty hash", raw: v2.sign(fmt.Sprintf("%s\n7\n\n", v2Origin)), origin: v2Origin, v: v2.verifier, want: want{reason: checkpoint.ReasonMalformed}},
		{name: "missing hash line", raw: v2.sign(fmt.Sprintf("%s\n7\n", v2Origin)), origin: v2Origin, v: v2.verifier, want: want{reason: checkpoint.ReasonMalformed}},
		{name: "empty origin", raw: v2.sign(fmt.Sprintf("\n7\n%s\n", hash(v2, 7))), origin: v2Origin, v: v2.verifier, want: want{reason: checkpoint.ReasonMalformed}},
		{name: "bad timestamp", raw: v1.note(7, "Timestamp: yesterday"), origin: v1Origin, v: v1.verifier, want: want{reason: checkpoint.ReasonMalformed}},

		// Not a signed note at all.
		{name: "empty body", raw: nil, origin: v1Origin, v: v1.verifier, want: want{format: true}},
		{name: "HTML error page", raw: []byte("<html><body>502 Bad Gateway</body></html>\n"), origin: v1Origin, v: v1.verifier, want: want{format: true}},
		{name: "JSON", raw: []byte(`{"code":404,"message":"not found"}`), origin: v1Origin, v: v1.verifier, want: want{format: true}},
		{name: "unsigned checkpoint text", raw: []byte(v1.text(7)), origin: v1Origin, v: v1.verifier, want: want{format: true}},
		{name: "truncated", raw: v1.note(7)[:len(v1.note(7))-10], origin: v1Origin, v: v1.verifier, want: want{format: true}},
		{name: "signature not base64", raw: []byte(v1.text(7) + "\n— rekor.example.com ***\n"), origin: v1Origin, v: v1.verifier, want: want{format: true}},
		{name: "control character", raw: append([]byte("a\x00b\n"), v1.note(7)...), origin: v1Origin, v: v1.verifier, want: want{format: true}},
		{name: "invalid UTF-8", raw: append([]byte("\xff\n"), v1.note(7)...), origin: v1Origin, v: v1.verifier, want: want{format: true}},
		{
			name: "oversized", origin: v2Origin, v: v2.verifier,
			raw:  v2.note(7, strings.Repeat("x", checkpoint.MaxSize)),
			want: want{format: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.raw)
			got, err := checkpoint.Parse(tt.raw, tt.origin, tt.v)
			if !bytes.Equal(in, tt.raw) {
				t.Errorf("Parse modified its input")
			}
			var ie *checkpoint.IntegrityError
			var fe *checkpoint.FormatError
			switch {
			case tt.want.format:
				if !errors.As(err, &fe) || errors.As(err, &ie) {
					t.Fatalf("Parse() = %v, %v (%T), want *FormatError", got, err, err)
				}
			case tt.want.reason != "":
				if !errors.As(err, &ie) {
					t.Fatalf("Parse() = %v, %v (%T), want *IntegrityError", got, err, err)
				}
				if ie.Reason != tt.want.reason {
					t.Errorf("Parse() reason = %q (%v), want %q", ie.Reason, err, tt.want.reason)
				}
				if !bytes.Equal(ie.New, tt.raw) || ie.Old != nil || ie.Proof != nil {
					t.Errorf("Parse() evidence = New %q, Old %q, Proof %x; want New = input, no Old or Proof", ie.New, ie.Old, ie.Proof)
				}
				if !strings.HasPrefix(err.Error(), fmt.Sprintf("log integrity violation (%s): ", tt.want.reason)) {
					t.Errorf("Parse() error = %q, want the reason in it", err)
				}
			default:
				if err != nil {
					t.Fatalf("Parse() = %v", err)
				}
				want := *tt.want.cp
				want.Raw = tt.raw
				if diff := cmp.Diff(&want, got); diff != "" {
					t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestParseMaxSize checks the size limit at its boundary: a valid note of
// exactly MaxSize bytes is accepted, one byte more is not.
func TestParseMaxSize(t *testing.T) {
	l := newRekorV2Log(t, v2Origin, ed25519Seed)
	l.grow(3)
	// Ed25519 signature lines have a fixed length, so each byte of an
	// extension line adds one byte to the note.
	pad := checkpoint.MaxSize - len(l.note(3, "p")) + 1
	for _, tc := range []struct {
		pad     int
		wantErr bool
	}{{pad, false}, {pad + 1, true}} {
		raw := l.note(3, strings.Repeat("p", tc.pad))
		_, err := checkpoint.Parse(raw, v2Origin, l.verifier)
		var fe *checkpoint.FormatError
		if tc.wantErr != errors.As(err, &fe) || (!tc.wantErr && err != nil) {
			t.Errorf("Parse(%d byte note) = %v, want error %v", len(raw), err, tc.wantErr)
		}
	}
}

// TestParseKeepsOwnCopy checks that Checkpoint.Raw, the evidence, does not
// alias the caller's buffer, which a caller may reuse for the next fetch.
func TestParseKeepsOwnCopy(t *testing.T) {
	l := newRekorV2Log(t, v2Origin, ed25519Seed)
	l.grow(2)
	buf := l.note(2)
	want := slices.Clone(buf)
	c, err := checkpoint.Parse(buf, v2Origin, l.verifier)
	if err != nil {
		t.Fatal(err)
	}
	clear(buf)
	if !bytes.Equal(c.Raw, want) {
		t.Errorf("Checkpoint.Raw changed with the caller's buffer: %q", c.Raw)
	}
	_, err = checkpoint.Parse(want, "other", l.verifier)
	var ie *checkpoint.IntegrityError
	if !errors.As(err, &ie) {
		t.Fatal(err)
	}
	clear(want)
	if !bytes.Equal(ie.New, c.Raw) {
		t.Errorf("IntegrityError.New changed with the caller's buffer: %q", ie.New)
	}
}

// TestParseRotation: during a key rotation Parse takes the log's keys, and
// a note signed by either verifies; one signed by neither names both.
func TestParseRotation(t *testing.T) {
	oldKey := newRekorV1Log(t, v1Host, v1TreeID, testECDSAKey(t))
	newKey := newRekorV1Log(t, v1Host, v1TreeID, newECDSAKey(t))
	stranger := newRekorV1Log(t, v1Host, v1TreeID, newECDSAKey(t))
	for _, l := range []*testLog{oldKey, newKey, stranger} {
		l.grow(3)
	}
	for name, l := range map[string]*testLog{"old key": oldKey, "new key": newKey} {
		if _, err := checkpoint.Parse(l.note(3), v1Origin, newKey.verifier, oldKey.verifier); err != nil {
			t.Errorf("Parse(note by the %s) = %v", name, err)
		}
	}
	_, err := checkpoint.Parse(stranger.note(3), v1Origin, newKey.verifier, oldKey.verifier)
	var ie *checkpoint.IntegrityError
	if !errors.As(err, &ie) || ie.Reason != checkpoint.ReasonSignature {
		t.Fatalf("Parse(note by another key) = %v, want a signature violation", err)
	}
	for _, v := range []note.Verifier{newKey.verifier, oldKey.verifier} {
		if want := fmt.Sprintf("key %08x", v.KeyHash()); !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(note by another key) = %q, want it to name %s", err, want)
		}
	}
	if _, err := checkpoint.Parse(oldKey.note(3), v1Origin); err == nil {
		t.Error("Parse() with no key succeeded")
	}
}

// TestParseErrorChain checks what callers can unwrap from Parse's errors.
func TestParseErrorChain(t *testing.T) {
	l := newRekorV1Log(t, v1Host, v1TreeID, testECDSAKey(t))
	l.grow(2)

	_, err := checkpoint.Parse(flipSigBit(t, l.note(2)), v1Origin, l.verifier)
	var inv *note.InvalidSignatureError
	if !errors.As(err, &inv) {
		t.Errorf("Parse(bad signature) = %v, want it to wrap *note.InvalidSignatureError", err)
	}

	other := newRekorV1Log(t, v1Host, v1TreeID, newECDSAKey(t))
	other.grow(2)
	_, err = checkpoint.Parse(other.note(2), v1Origin, l.verifier)
	var unv *note.UnverifiedNoteError
	if !errors.As(err, &unv) {
		t.Errorf("Parse(other key) = %v, want it to wrap *note.UnverifiedNoteError", err)
	}

	_, err = checkpoint.Parse(l.note(2), "rekor.example.com - 42", l.verifier)
	want := fmt.Sprintf(`log integrity violation (origin): checkpoint origin is %q, want "rekor.example.com - 42"`, v1Origin)
	if err == nil || err.Error() != want {
		t.Errorf("Parse(wrong origin) = %v, want %s", err, want)
	}

	_, err = checkpoint.Parse([]byte("garbage"), v1Origin, l.verifier)
	if want := "not a signed note: malformed note"; err == nil || err.Error() != want {
		t.Errorf("Parse(garbage) = %v, want %s", err, want)
	}
}

// TestRekorV1Compatibility checks that checkpoints signed by Rekor's own code
// (sigstore/rekor pkg/util) verify, and that the test log's Rekor v1 signer
// writes what Rekor's own verifier accepts, so the tests above test the
// real format.
func TestRekorV1Compatibility(t *testing.T) {
	key := newECDSAKey(t)
	sv, err := signature.LoadECDSASignerVerifier(key, crypto.SHA256)
	if err != nil {
		t.Fatalf("LoadECDSASignerVerifier: %v", err)
	}
	l := newRekorV1Log(t, v1Host, v1TreeID, key)
	l.grow(9)

	for _, size := range []uint64{0, 1, 9} {
		raw, err := rekorutil.CreateAndSignCheckpoint(t.Context(), v1Host, v1TreeID, size, l.tree.HashAt(size), sv)
		if err != nil {
			t.Fatalf("CreateAndSignCheckpoint: %v", err)
		}
		got, err := checkpoint.Parse(raw, v1Origin, l.verifier)
		if err != nil {
			t.Fatalf("Parse(rekor checkpoint %q) = %v", raw, err)
		}
		if got.Origin != v1Origin || got.Size != size || !bytes.Equal(got.Hash, l.tree.HashAt(size)) {
			t.Errorf("Parse(rekor checkpoint) = %v, want %s@%d/%x", got, v1Origin, size, l.tree.HashAt(size))
		}

		// And the other way round.
		var sc rekorutil.SignedCheckpoint
		ours := l.note(size)
		if err := sc.UnmarshalText(ours); err != nil {
			t.Fatalf("rekor UnmarshalText(%q) = %v", ours, err)
		}
		if !sc.Verify(sv) {
			t.Errorf("rekor SignedCheckpoint.Verify(test log note %q) = false", ours)
		}
		if sc.Origin != v1Origin || sc.Size != size {
			t.Errorf("rekor parsed test log note as %s@%d, want %s@%d", sc.Origin, sc.Size, v1Origin, size)
		}
	}
}

func TestNewVerifier(t *testing.T) {
	ec := testECDSAKey(t)
	der, err := x509.MarshalPKIXPublicKey(ec.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	v, err := checkpoint.NewVerifier(v1Host, ec.Public())
	if err != nil {
		t.Fatalf("NewVerifier(ECDSA) = %v", err)
	}
	if v.Name() != v1Host || v.KeyHash() != binary.BigEndian.Uint32(sum[:4]) {
		t.Errorf("NewVerifier(ECDSA) = %s+%08x, want %s+%x (Rekor key hint)", v.Name(), v.KeyHash(), v1Host, sum[:4])
	}

	_, pub := ed25519Signer(t, v2Origin, ed25519Seed)
	vkey, err := note.NewEd25519VerifierKey(v2Origin, pub)
	if err != nil {
		t.Fatal(err)
	}
	std, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	v, err = checkpoint.NewVerifier(v2Origin, pub)
	if err != nil {
		t.Fatalf("NewVerifier(Ed25519) = %v", err)
	}
	if v.Name() != std.Name() || v.KeyHash() != std.KeyHash() {
		t.Errorf("NewVerifier(Ed25519) = %s+%08x, want %s+%08x", v.Name(), v.KeyHash(), std.Name(), std.KeyHash())
	}

	for _, tc := range []struct {
		name string
		pub  crypto.PublicKey
	}{
		{"ed25519 pointer", &pub},
		{"nil", nil},
	} {
		if v, err := checkpoint.NewVerifier(v1Host, tc.pub); err == nil {
			t.Errorf("NewVerifier(%q, %s) = %v, want error", v1Host, tc.name, v)
		}
	}
}

// rsaNoteSigner signs notes as rekor-tiles does with an RSA key: PKCS #1
// v1.5 over the SHA-256 of the text, under the key hash of NoteKeyID.
type rsaNoteSigner struct {
	name string
	key  *rsa.PrivateKey
}

func (s rsaNoteSigner) Name() string { return s.name }
func (s rsaNoteSigner) KeyHash() uint32 {
	id, err := checkpoint.NoteKeyID(s.name, s.key.Public())
	if err != nil {
		panic(err)
	}
	b, _ := hex.DecodeString(id)
	return binary.BigEndian.Uint32(b)
}
func (s rsaNoteSigner) Sign(msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	return rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, d[:])
}

// TestNewVerifierRSA: Rekor v2 logs may sign with RSA keys (rekor-tiles
// supports them): a checkpoint so signed verifies, and one signed by
// another RSA key does not.
func TestNewVerifierRSA(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	text := v2Origin + "\n3\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"
	raw, err := note.Sign(&note.Note{Text: text}, rsaNoteSigner{v2Origin, key})
	if err != nil {
		t.Fatal(err)
	}
	v, err := checkpoint.NewVerifier(v2Origin, key.Public())
	if err != nil {
		t.Fatalf("NewVerifier(RSA) = %v", err)
	}
	if cp, err := checkpoint.Parse(raw, v2Origin, v); err != nil || cp.Size != 3 {
		t.Fatalf("Parse of an RSA-signed checkpoint = %v, %v; want size 3", cp, err)
	}
	forged, err := note.Sign(&note.Note{Text: text}, rsaNoteSigner{v2Origin, other})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.Parse(forged, v2Origin, v); err == nil {
		t.Fatal("a checkpoint signed by another RSA key verified")
	}
}

// Sigstore's public-good logs as its trusted_root.json lists them: the key
// (DER, base64) and the log ID (checkpoint key ID for the Rekor v2 log).
const (
	publicRekorV1Key  = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw=="
	publicRekorV1ID   = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
	publicLog20251Key = "MCowBQYDK2VwAyEAt8rlp1knGwjfbcXAYPYAkn0XiLz1x8O4t0YkEhie244="
	publicLog20251ID  = "cf1199155bddd051268d1f16ac5c0c75c009f6fb5a63f4177f8e18d7051e3fa0"
)

// TestNoteKeyIDPublicGood: the key IDs of the public-good logs are the log
// IDs their trusted root gives: SHA-256 of the DER key for the ECDSA Rekor
// v1 log, the C2SP checkpoint key ID (not the DER hash, b54813cb...) for the
// Ed25519 Rekor v2 log log2025-1.
func TestNoteKeyIDPublicGood(t *testing.T) {
	parse := func(b64 string) crypto.PublicKey {
		der, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatal(err)
		}
		return pub
	}
	v1, v2 := parse(publicRekorV1Key), parse(publicLog20251Key)
	if got, err := checkpoint.KeyID(v1); err != nil || got != publicRekorV1ID {
		t.Errorf("KeyID(rekor.sigstore.dev) = %s, %v, want %s", got, err, publicRekorV1ID)
	}
	if got, err := checkpoint.NoteKeyID("rekor.sigstore.dev", v1); err != nil || got != publicRekorV1ID {
		t.Errorf("NoteKeyID(ECDSA) = %s, %v, want the DER hash %s", got, err, publicRekorV1ID)
	}
	got, err := checkpoint.NoteKeyID("log2025-1.rekor.sigstore.dev", v2)
	if err != nil || got != publicLog20251ID {
		t.Errorf("NoteKeyID(log2025-1) = %s, %v, want %s", got, err, publicLog20251ID)
	}
	// The note key hash is the ID's first four bytes.
	v, err := checkpoint.NewVerifier("log2025-1.rekor.sigstore.dev", v2)
	if err != nil {
		t.Fatal(err)
	}
	if want := "cf119915"; fmt.Sprintf("%08x", v.KeyHash()) != want {
		t.Errorf("key hash of log2025-1 = %08x, want %s", v.KeyHash(), want)
	}
	if _, err := checkpoint.NoteKeyID("x", struct{}{}); err == nil {
		t.Error("NoteKeyID accepted an unsupported key type")
	}
}

func TestKeyID(t *testing.T) {
	ec := testECDSAKey(t)
	der, err := x509.MarshalPKIXPublicKey(ec.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	got, err := checkpoint.KeyID(ec.Public())
	if want := hex.EncodeToString(sum[:]); err != nil || got != want {
		t.Errorf("KeyID(ECDSA) = %q, %v, want %q", got, err, want)
	}
	_, pub := ed25519Signer(t, v2Origin, ed25519Seed)
	der, err = x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum = sha256.Sum256(der)
	got, err = checkpoint.KeyID(pub)
	if want := hex.EncodeToString(sum[:]); err != nil || got != want {
		t.Errorf("KeyID(Ed25519) = %q, %v, want %q", got, err, want)
	}
	if got, err := checkpoint.KeyID(struct{}{}); err == nil {
		t.Errorf("KeyID(struct{}{}) = %q, want error", got)
	}
}

// checkEvidence checks that err is an *IntegrityError with reason and the
// evidence a third party needs: both notes and the proof as given.
func checkEvidence(t *testing.T, err error, reason checkpoint.Reason, older, newer *checkpoint.Checkpoint, p [][]byte) {
	t.Helper()
	var ie *checkpoint.IntegrityError
	if !errors.As(err, &ie) {
		t.Fatalf("CheckConsistency(%v, %v) = %v (%T), want *IntegrityError", older, newer, err, err)
	}
	if ie.Reason != reason {
		t.Errorf("CheckConsistency(%v, %v) reason = %q (%v), want %q", older, newer, ie.Reason, err, reason)
	}
	if !bytes.Equal(ie.Old, older.Raw) || !bytes.Equal(ie.New, newer.Raw) {
		t.Errorf("CheckConsistency evidence Old/New = %q, %q, want the two notes %q, %q", ie.Old, ie.New, older.Raw, newer.Raw)
	}
	if !cmp.Equal(ie.Proof, p) {
		t.Errorf("CheckConsistency evidence Proof = %x, want %x", ie.Proof, p)
	}
	if len(ie.ProofHex()) != len(p) {
		t.Errorf("ProofHex() has %d hashes, want %d", len(ie.ProofHex()), len(p))
	}
}

func TestCheckConsistencyValid(t *testing.T) {
	for _, l := range []*testLog{
		newRekorV1Log(t, v1Host, v1TreeID, testECDSAKey(t)),
		newRekorV2Log(t, v2Origin, ed25519Seed),
	} {
		const n = 130
		l.grow(n)
		var sizes []uint64
		for s := range uint64(21) {
			sizes = append(sizes, s)
		}
		sizes = append(sizes, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 130)
		cps := map[uint64]*checkpoint.Checkpoint{}
		for _, s := range sizes {
			cps[s] = l.checkpoint(s)
		}
		for _, s1 := range sizes {
			for _, s2 := range sizes {
				if s1 > s2 {
					continue
				}
				p := l.proof(s1, s2)
				if err := checkpoint.CheckConsistency(cps[s1], cps[s2], p); err != nil {
					t.Errorf("%s: CheckConsistency(%d, %d, honest proof) = %v", l.origin, s1, s2, err)
				}
			}
		}
	}
}

func TestCheckConsistencyAttacks(t *testing.T) {
	l := newRekorV1Log(t, v1Host, v1TreeID, testECDSAKey(t))
	l.grow(40)
	// forked shares the first 20 entries with l, then diverges.
	forked := l.fork(20)
	forked.grow(40)

	cp := func(l *testLog, size uint64) *checkpoint.Checkpoint { return l.checkpoint(size) }
	flip := func(p [][]byte, i int) [][]byte {
		q := make([][]byte, len(p))
		for j := range p {
			q[j] = slices.Clone(p[j])
		}
		q[i][len(q[i])-1] ^= 0x80
		return q
	}

	tests := []struct {
		name   string
		older  *checkpoint.Checkpoint
		newer  *checkpoint.Checkpoint
		proof  [][]byte
		reason checkpoint.Reason
	}{
		{"rollback", cp(l, 30), cp(l, 29), nil, checkpoint.ReasonRollback},
		{"rollback to empty", cp(l, 1), cp(l, 0), nil, checkpoint.ReasonRollback},
		{"rollback with a proof", cp(l, 30), cp(l, 10), l.proof(10, 30), checkpoint.ReasonRollback},
		{"fork at same size", cp(l, 30), cp(forked, 30), nil, checkpoint.ReasonFork},
		{"fork at empty size", cp(l, 0), &checkpoint.Checkpoint{Origin: v1Origin, Size: 0, Hash: l.tree.HashAt(1), Raw: []byte("bogus")}, nil, checkpoint.ReasonFork},
		{"forked log with its own proof", cp(l, 25), cp(forked, 35), forked.proof(25, 35), checkpoint.ReasonConsistency},
		{"forked log with the honest proof", cp(l, 25), cp(forked, 35), l.proof(25, 35), checkpoint.ReasonConsistency},
		{"forked log from power of two", cp(l, 32), cp(forked, 40), forked.proof(32, 40), checkpoint.ReasonConsistency},
		{"no proof", cp(l, 10), cp(l, 20), nil, checkpoint.ReasonConsistency},
		{"proof for other sizes", cp(l, 10), cp(l, 20), l.proof(11, 20), checkpoint.ReasonConsistency},
		{"proof for a larger new size", cp(l, 10), cp(l, 20), l.proof(10, 21), checkpoint.ReasonConsistency},
		{"proof for swapped sizes", cp(l, 3), cp(l, 5), l.proof(3, 7), checkpoint.ReasonConsistency},
		{"proof one hash short", cp(l, 13), cp(l, 37), l.proof(13, 37)[1:], checkpoint.ReasonConsistency},
		{"proof one hash long", cp(l, 13), cp(l, 37), append(l.proof(13, 37), l.tree.HashAt(1)), checkpoint.ReasonConsistency},
		{"proof from empty tree not empty", cp(l, 0), cp(l, 5), [][]byte{l.tree.HashAt(5)}, checkpoint.ReasonConsistency},
		{"proof with truncated hash", cp(l, 13), cp(l, 37), func() [][]byte { p := l.proof(13, 37); p[0] = p[0][:31]; return p }(), checkpoint.ReasonConsistency},
		{"root hash as proof", cp(l, 16), cp(l, 17), [][]byte{l.tree.HashAt(17)}, checkpoint.ReasonConsistency},
	}
	// Every hash of a proof matters.
	for _, sizes := range [][2]uint64{{13, 37}, {16, 40}, {1, 2}, {7, 8}, {39, 40}} {
		p := l.proof(sizes[0], sizes[1])
		for i := range p {
			tests = append(tests, struct {
				name   string
				older  *checkpoint.Checkpoint
				newer  *checkpoint.Checkpoint
				proof  [][]byte
				reason checkpoint.Reason
			}{fmt.Sprintf("hash %d of proof %d-%d flipped", i, sizes[0], sizes[1]), cp(l, sizes[0]), cp(l, sizes[1]), flip(p, i), checkpoint.ReasonConsistency})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkpoint.CheckConsistency(tt.older, tt.newer, tt.proof)
			checkEvidence(t, err, tt.reason, tt.older, tt.newer, tt.proof)
		})
	}
}

// TestSplitView follows x/mod's TestClientFork: a log shows one client view A
// and, later, view B, which shares a prefix with A but rewrites what came
// after. The monitor's chain of checks must catch it whichever way the
// sizes fall, and the evidence must stand on its own: both notes verify
// under the log's key and contradict each other.
func TestSplitView(t *testing.T) {
	for _, tc := range []struct {
		name           string
		common         uint64 // shared prefix
		sizeA, sizeB   uint64 // size of each view when fetched
		reason         checkpoint.Reason
		proofFromViewB bool
	}{
		{"B larger", 10, 15, 25, checkpoint.ReasonConsistency, true},
		{"B same size", 10, 15, 15, checkpoint.ReasonFork, false},
		{"B smaller", 10, 15, 12, checkpoint.ReasonRollback, false},
		{"A at the fork point, B larger", 10, 10, 20, "", true},
		{"A empty", 0, 0, 20, "", true},
		{"fork at first entry", 0, 1, 20, checkpoint.ReasonConsistency, true},
		{"A at a power of two", 16, 32, 33, checkpoint.ReasonConsistency, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newRekorV2Log(t, v2Origin, ed25519Seed)
			a.grow(tc.common)
			b := a.fork(tc.common)
			a.grow(tc.sizeA)
			b.grow(tc.sizeB)

			// First fetch: view A, trusted on first use (or after an honest
			// step from the shared prefix).
			trusted := a.checkpoint(tc.sizeA)
			// Second fetch: view B, with B's proof (B answers the monitor's
			// proof request from its own tree).
			got := b.checkpoint(tc.sizeB)
			var p [][]byte
			if tc.proofFromViewB {
				p = b.proof(tc.sizeA, tc.sizeB)
			}
			err := checkpoint.CheckConsistency(trusted, got, p)
			if tc.reason == "" {
				// B is a legitimate extension of what the monitor saw.
				if err != nil {
					t.Fatalf("CheckConsistency(A@%d, B@%d) = %v, want nil: B extends A's prefix", tc.sizeA, tc.sizeB, err)
				}
				return
			}
			checkEvidence(t, err, tc.reason, trusted, got, p)

			// The evidence verifies offline with only the log's public key.
			var ie *checkpoint.IntegrityError
			errors.As(err, &ie)
			v, err := checkpoint.NewVerifier(v2Origin, a.pub)
			if err != nil {
				t.Fatal(err)
			}
			oldCP, err := checkpoint.Parse(ie.Old, v2Origin, v)
			if err != nil {
				t.Fatalf("Parse(evidence Old) = %v", err)
			}
			newCP, err := checkpoint.Parse(ie.New, v2Origin, v)
			if err != nil {
				t.Fatalf("Parse(evidence New) = %v", err)
			}
			if err := checkpoint.CheckConsistency(oldCP, newCP, ie.Proof); err == nil {
				t.Errorf("re-checking the evidence = nil, want the same violation")
			}
		})
	}
}

func TestCheckpointString(t *testing.T) {
	var nilCP *checkpoint.Checkpoint
	if got := nilCP.String(); got != "<none>" {
		t.Errorf("(*Checkpoint)(nil).String() = %q, want <none>", got)
	}
	c := &checkpoint.Checkpoint{Origin: "o", Size: 3, Hash: []byte{0xff, 0xee}}
	if got, want := c.String(), "o@3//+4="; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestIntegrityErrorFormat(t *testing.T) {
	inner := errors.New("tree shrank")
	e := &checkpoint.IntegrityError{Reason: checkpoint.ReasonRollback, Proof: [][]byte{{0x01, 0xab}, {}}, Err: inner}
	if got, want := e.Error(), "log integrity violation (rollback): tree shrank"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, inner) {
		t.Errorf("errors.Is(IntegrityError, inner) = false")
	}
	if got, want := e.ProofHex(), []string{"01ab", ""}; !slices.Equal(got, want) {
		t.Errorf("ProofHex() = %q, want %q", got, want)
	}
	if got := len(checkpoint.Reasons); got != 8 {
		t.Errorf("len(Reasons) = %d, want 8", got)
	}
}

// TestParseRekorV1AnyHostname: rekor-server signs as its hostname (a pod's
// name in Kubernetes, new at every restart). A signature by the log's key
// verifies whatever hostname it carries; the tree ID in the origin still
// counts, and a signature by another key is still a violation.
func TestParseRekorV1AnyHostname(t *testing.T) {
	key := testECDSAKey(t)
	configured := newRekorV1Log(t, v1Host, v1TreeID, key)
	configured.grow(5)
	tree := fmt.Sprint(v1TreeID)
	for _, host := range []string{v1Host, "rekor-server-7d9f4c-x2kq1", "rekor.local"} {
		pod := newRekorV1Log(t, host, v1TreeID, key)
		pod.grow(5)
		c, err := checkpoint.ParseRekorV1(pod.note(5), tree, configured.verifier)
		if err != nil {
			t.Errorf("ParseRekorV1(signed as %s) = %v, want verified", host, err)
			continue
		}
		if got := checkpoint.RekorV1Hostname(c.Origin, tree); got != host {
			t.Errorf("RekorV1Hostname(%q) = %q, want %q", c.Origin, got, host)
		}
		if _, err := checkpoint.Parse(pod.note(5), v1Origin, configured.verifier); host != v1Host && err == nil {
			t.Errorf("Parse (name-bound) accepted a note signed as %s", host)
		}
	}

	var ie *checkpoint.IntegrityError
	otherTree := newRekorV1Log(t, v1Host, 42, key)
	otherTree.grow(5)
	_, err := checkpoint.ParseRekorV1(otherTree.note(5), tree, configured.verifier)
	if !errors.As(err, &ie) || ie.Reason != checkpoint.ReasonOrigin {
		t.Errorf("ParseRekorV1(note of tree 42) = %v, want an origin violation", err)
	}
	stranger := newRekorV1Log(t, "rekor-server-7d9f4c-x2kq1", v1TreeID, newECDSAKey(t))
	stranger.grow(5)
	_, err = checkpoint.ParseRekorV1(stranger.note(5), tree, configured.verifier)
	if !errors.As(err, &ie) || ie.Reason != checkpoint.ReasonSignature {
		t.Errorf("ParseRekorV1(note by another key) = %v, want a signature violation", err)
	}
	_, err = checkpoint.ParseRekorV1(flipSigBit(t, configured.note(5)), tree, configured.verifier)
	if !errors.As(err, &ie) || ie.Reason != checkpoint.ReasonSignature {
		t.Errorf("ParseRekorV1(bad signature) = %v, want a signature violation", err)
	}
	if _, err := checkpoint.ParseRekorV1([]byte("<html>"), tree, configured.verifier); !errors.As(err, new(*checkpoint.FormatError)) {
		t.Errorf("ParseRekorV1(garbage) = %v, want a FormatError", err)
	}
	for _, origin := range []string{" - " + tree, "a b - " + tree, "rekor.local - " + tree + "0", "rekor.local"} {
		if h := checkpoint.RekorV1Hostname(origin, tree); h != "" {
			t.Errorf("RekorV1Hostname(%q) = %q, want none", origin, h)
		}
	}
}

// TestSignatures lists a note's signature lines without verifying them.
func TestSignatures(t *testing.T) {
	l := newRekorV1Log(t, "rekor-server-7d9f4c-x2kq1", v1TreeID, testECDSAKey(t))
	l.grow(1)
	origin, sigs := checkpoint.Signatures(l.note(1))
	want := []checkpoint.Signature{{Name: "rekor-server-7d9f4c-x2kq1", KeyHash: l.verifier.KeyHash()}}
	if origin != "rekor-server-7d9f4c-x2kq1 - 1193050959916656506" || !slices.Equal(sigs, want) {
		t.Errorf("Signatures() = %q, %v; want %v", origin, sigs, want)
	}
	if o, s := checkpoint.Signatures([]byte("garbage")); o != "" || s != nil {
		t.Errorf("Signatures(garbage) = %q, %v", o, s)
	}
}
