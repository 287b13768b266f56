package witness

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// GenerateKey returns a new Ed25519 witness key named name: the signer key
// (note's "PRIVATE+KEY+..." form, which LoadSigner reads) and its
// cosignature/v1 verifier key, the form witness policies and peers: give.
func GenerateKey(name string) (skey, vkey string, err error) {
	skey, v, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("generating witness key %q: %w", name, err)
	}
	vkey, err = fnote.VKeyToCosignatureV1(v)
	if err != nil {
		return "", "", fmt.Errorf("converting verifier key: %w", err)
	}
	return skey, vkey, nil
}

// Key is a witness key: its cosignature/v1 signer and verifier key.
type Key struct {
	Signer *fnote.Signer
	// VKey is the cosignature/v1 verifier key ("<name>+<hash>+<key>").
	VKey string
}

// ParseKey parses a signer key as GenerateKey returns it: an Ed25519 note
// signer key ("PRIVATE+KEY+<name>+<hash>+<base64 0x01||seed>").
func ParseKey(skey string) (*Key, error) {
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, err
	}
	// The verifier key is derived from the seed: the signer does not
	// export it.
	rest, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	_, rest, _ = strings.Cut(rest, "+")   // the name
	_, key64, _ := strings.Cut(rest, "+") // the key hash
	if !ok {
		return nil, errors.New("malformed signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, errors.New("signer key is not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey := fmt.Sprintf("%s+%08x+%s", s.Name(), s.KeyHash(), base64.StdEncoding.EncodeToString(append([]byte{0x04}, pub...)))
	return &Key{Signer: s, VKey: vkey}, nil
}

// LoadKey reads a witness signer key file.
func LoadKey(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading witness key: %w", err)
	}
	k, err := ParseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("witness key %s: %w (want the PRIVATE+KEY+... line `monitor witness keygen` writes)", path, err)
	}
	return k, nil
}

// Policy is the witness policy (rekor-tiles' --witness-policy-path, in the
// format of tessera's NewWitnessGroupFromPolicy) naming the witness vkey at
// url as the only witness.
func Policy(name, vkey, url string) string {
	return fmt.Sprintf("# Vigil witness %s, verifier key (cosignature/v1): %s\nwitness %s %s %s\nquorum %s\n", name, vkey, name, vkey, url, name)
}
