package checkpoint_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
)

func ExampleParse() {
	// A Rekor v2 log: an Ed25519 key and a checkpoint of its three entries.
	// (A fixed test key, so that the output below does not change.)
	const origin = "log2025-1.rekor.example.com"
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x17}, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	tree := testonly.New(rfc6962.DefaultHasher)
	tree.AppendData([]byte("a"), []byte("b"), []byte("c"))
	raw := signForExample(origin, priv, fmt.Sprintf("%s\n%d\n%s\n",
		origin, tree.Size(), base64.StdEncoding.EncodeToString(tree.Hash())))

	// The monitor knows the log's public key and origin.
	v, err := checkpoint.NewVerifier(origin, pub)
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := checkpoint.Parse(raw, origin, v)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Origin)
	fmt.Println(c.Size)
	fmt.Printf("%x\n", c.Hash)

	// The same note, expected from another log: evidence of misbehaviour,
	// with a reason for the metric label.
	_, err = checkpoint.Parse(raw, "log2026-1.rekor.example.com", v)
	if ie := (*checkpoint.IntegrityError)(nil); errors.As(err, &ie) {
		fmt.Println(ie.Reason)
	}

	// Something that is not a signed note says nothing about the log.
	_, err = checkpoint.Parse([]byte("<html>502 Bad Gateway</html>"), origin, v)
	if fe := (*checkpoint.FormatError)(nil); errors.As(err, &fe) {
		fmt.Println(err)
	}
	// Output:
	// log2025-1.rekor.example.com
	// 3
	// 36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1
	// origin
	// not a signed note: malformed note
}

// signForExample signs text as a Rekor v2 log does.
func signForExample(name string, priv ed25519.PrivateKey, text string) []byte {
	vkey, err := note.NewEd25519VerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		panic(err)
	}
	s, err := note.NewSigner(fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, v.KeyHash(),
		base64.StdEncoding.EncodeToString(append([]byte{1}, priv.Seed()...))))
	if err != nil {
		panic(err)
	}
	msg, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		panic(err)
	}
	return msg
}
