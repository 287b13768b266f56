package identitytest

import (
	"bytes"
	"crypto/x509"
	"slices"
	"testing"
)

func TestTestCAIssueChain(t *testing.T) {
	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	key, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	for _, precert := range []bool{false, true} {
		chain, err := ca.IssueChain(key.Public(), "alice@example.com", "https://issuer.example", Extensions{}, precert)
		if err != nil {
			t.Fatal(err)
		}
		if len(chain) != 2 || !bytes.Equal(chain[1], ca.Root.Raw) {
			t.Fatalf("precert=%v: chain has %d certificates, want the leaf and the root", precert, len(chain))
		}
		leaf, err := x509.ParseCertificate(chain[0])
		if err != nil {
			t.Fatal(err)
		}
		var poison, critical bool
		for _, e := range leaf.Extensions {
			if e.Id.String() == OIDCTPoison {
				poison, critical = true, e.Critical
				if !bytes.Equal(e.Value, []byte{0x05, 0x00}) {
					t.Errorf("poison extension value = %x, want ASN.1 NULL", e.Value)
				}
			}
		}
		if poison != precert || poison && !critical {
			t.Errorf("precert=%v: poison extension present %v, critical %v", precert, poison, critical)
		}
		if !slices.Equal(leaf.EmailAddresses, []string{"alice@example.com"}) {
			t.Errorf("email SANs = %v", leaf.EmailAddresses)
		}
		if precert {
			continue // crypto/x509 refuses the unhandled critical poison extension
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
			t.Errorf("final certificate does not verify with the CA root: %v", err)
		}
	}
	if _, err := ca.IssueChain(key.Public(), "", "https://issuer.example", Extensions{}, false); err == nil {
		t.Error("IssueChain without a SAN succeeded")
	}
}
