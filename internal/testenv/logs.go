package testenv

import (
	"context"
	"testing"

	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/stack"
)

// Log is one log of the local Rekor stack, as a monitor under test sees it.
type Log struct {
	Kind    string // "rekor-v1" or "rekor-v2"
	URL     string // read URL: the v1 API base, or the v2 tiles base
	PubKey  string // PEM file of the log's public key
	PrivKey string // PEM file of the log's signing key, for forging in tests
	// Origin is what the monitor is configured with: the signer hostname
	// for Rekor v1 (origin "<hostname> - <treeID>"), the origin for v2.
	Origin string
	// Add appends one key-signed hashedrekord entry with a fresh artifact.
	Add func(ctx context.Context) error
}

// Name is a log name for configurations: "test-rekor-v1".
func (l Log) Name() string { return "test-" + l.Kind }

// AddN appends n entries in parallel, failing t on the first error.
func (l Log) AddN(t testing.TB, n int) {
	t.Helper()
	errs := make(chan error, n)
	for range n {
		go func() { errs <- l.Add(context.Background()) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("adding entry to %s: %v", l.Kind, err)
		}
	}
}

// Logs returns the real Rekor v1 and v2 logs of the running local stack,
// stopping the test through [Unavailable] when it is not up.
func Logs(t testing.TB) []Log {
	t.Helper()
	env := Stack(t)
	signer, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := identitytest.PublicKeyPEM(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	v1URL, v2Write := env.Get(t, "REKOR_URL"), env.Get(t, "REKOR_V2_WRITE_URL")
	return []Log{
		{
			Kind: "rekor-v1", URL: v1URL, PubKey: env.Get(t, "REKOR_PUBKEY"), PrivKey: env.Get(t, "REKOR_PRIVKEY"),
			Origin: env.Get(t, "REKOR_HOSTNAME"),
			Add: func(ctx context.Context) error {
				_, err := stack.AddV1HashedRekord(ctx, v1URL, signer, pubPEM, identitytest.Artifact())
				return err
			},
		},
		{
			Kind: "rekor-v2", URL: env.Get(t, "REKOR_V2_READ_URL"), PubKey: env.Get(t, "REKOR_V2_PUBKEY"),
			PrivKey: env.Get(t, "REKOR_V2_PRIVKEY"), Origin: env.Get(t, "REKOR_V2_ORIGIN"),
			Add: func(ctx context.Context) error {
				_, err := stack.AddV2HashedRekord(ctx, v2Write, signer, pubPEM, identitytest.Artifact())
				return err
			},
		},
	}
}
