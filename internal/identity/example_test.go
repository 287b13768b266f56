package identity_test

import (
	"fmt"
	"os"

	"github.com/vigil-tlog/vigil/internal/identity"
)

// A scanner parses each entry body and matches its identities against
// the configured rules.
func Example() {
	body, err := os.ReadFile("testdata/entries/hashedrekord-fulcio.json")
	if err != nil {
		panic(err)
	}
	m, err := identity.Compile(identity.Config{
		Watch: []identity.Rule{{
			Name:    "acme-releases",
			Subject: `https://github\.com/acme/.*/\.github/workflows/release\.yml@refs/tags/v.*`,
			Issuer:  `https://token\.actions\.githubusercontent\.com`,
		}},
		Expect: []identity.Rule{{
			Name:   "our-fulcio",
			CAFile: "testdata/entries/example-ca.pem",
		}},
	})
	if err != nil {
		panic(err)
	}
	p := identity.NewParser(1024)
	ids, err := p.ParseV1(body)
	if err != nil {
		panic(err) // a *identity.MalformedError: report a "malformed" entry
	}
	fmt.Println(ids[0].EntryKind, ids[0].KeyType, ids[0].URIs[0])
	fmt.Println("source repository:", ids[0].Extensions["1.3.6.1.4.1.57264.1.12"])
	res := m.Match(ids)
	for _, h := range res.Watched {
		fmt.Println("watched:", h.Rule, h.Fields["subject"])
	}
	fmt.Println("expected:", res.Expected, res.ExpectedBy)
	// Output:
	// hashedrekord:0.0.1 x509 https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3
	// source repository: https://github.com/acme/app
	// watched: acme-releases https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3
	// expected: true our-fulcio
}

// A malformed entry is an error the scanner turns into an event.
func ExampleMalformedError() {
	_, err := identity.ParseV1([]byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"publicKey":{"content":"!"}}}}`))
	fmt.Println(err)
	// Output:
	// malformed hashedrekord:0.0.1 entry: spec.signature.publicKey.content: decoding base64: illegal base64 data at input byte 0
}

func ExampleIdentity_String() {
	id := identity.Identity{
		EntryKind:      "rekord:0.0.1",
		KeyType:        identity.KeyPGP,
		Emails:         []string{"release@example.org"},
		KeyFingerprint: "0123456789abcdef0123456789abcdef01234567",
	}
	fmt.Println(id.String())
	// Output:
	// rekord:0.0.1 pgp subject=release@example.org key=0123456789abcdef0123456789abcdef01234567
}
