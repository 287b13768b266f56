package ctleaf_test

import (
	"bytes"
	"errors"
	"testing"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/identity"
)

// FuzzParse: a checkpoint or get-sth answer, whatever its bytes, yields a
// verified checkpoint that says what the note says, or an error of the
// documented types; never a panic.
func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	v := fx.verifier(f)
	raw, err := fx.log.Checkpoint(fx.log.Size(), ts)
	if err != nil {
		f.Fatal(err)
	}
	sthJSON, err := fx.log.STHJSON(fx.log.Size(), ts)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(sthJSON)
	f.Add(raw[:len(raw)-20])
	f.Add(bytes.Replace(raw, []byte("\n3\n"), []byte("\n4\n"), 1))
	f.Add([]byte(`{"tree_size":1,"timestamp":1,"sha256_root_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","tree_head_signature":"BAMAAA=="}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		check := func(raw []byte) {
			cp, err := ctleaf.Parse(raw, testOrigin, v)
			if err != nil {
				var ie *checkpoint.IntegrityError
				var fe *checkpoint.FormatError
				if !errors.As(err, &ie) && !errors.As(err, &fe) {
					t.Fatalf("Parse error %T: %v", err, err)
				}
				return
			}
			if cp.Origin != testOrigin || len(cp.Hash) != 32 || !bytes.Equal(cp.Raw, raw) {
				t.Fatalf("Parse = %v, raw %q", cp, cp.Raw)
			}
		}
		check(raw)
		form, err := ctleaf.FromSTH(raw, testOrigin, v.KeyHash())
		if err != nil {
			var fe *checkpoint.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("FromSTH error %T: %v", err, err)
			}
			return
		}
		check(form)
	})
}

// FuzzIdentities: a leaf and extra data, whatever their bytes, yield one
// identity or a malformed entry, and a Key or an error; never a panic.
func FuzzIdentities(f *testing.F) {
	fx := newFixture(f)
	for _, i := range []uint64{fx.issued.Index, fx.x509Index} {
		leaf, extra := fx.log.Entry(i)
		f.Add(leaf, extra)
		f.Add(leaf, []byte(nil))
		f.Add(leaf[:len(leaf)/2], extra[:len(extra)/2])
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, []byte{0, 0, 0})
	p := identity.NewParser(64)
	f.Fuzz(func(t *testing.T, leaf, extra []byte) {
		_, _, _ = ctleaf.LeafKey(leaf)
		if ids, err := ctleaf.EntryIdentities(p, leaf, extra); err != nil {
			var me *identity.MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("EntryIdentities error %T: %v", err, err)
			}
		} else if len(ids) != 1 {
			t.Fatalf("EntryIdentities returned %d identities", len(ids))
		}
		for _, chain := range [][][]byte{nil, decodeChain(extra)} {
			ids, err := ctleaf.Identities(p, leaf, chain)
			if err != nil {
				var me *identity.MalformedError
				if !errors.As(err, &me) {
					t.Fatalf("Identities error %T: %v", err, err)
				}
				continue
			}
			if len(ids) != 1 {
				t.Fatalf("Identities returned %d identities", len(ids))
			}
			_, _ = ids[0].Certificate()
			_, _ = ids[0].Intermediates()
		}
	})
}

// decodeChain reads extra data as a PrecertChainEntry, else as a
// CertificateChain; nil when it is neither.
func decodeChain(extra []byte) [][]byte {
	var pce ct.PrecertChainEntry
	if rest, err := cttls.Unmarshal(extra, &pce); err == nil && len(rest) == 0 {
		out := [][]byte{pce.PreCertificate.Data}
		for _, c := range pce.CertificateChain {
			out = append(out, c.Data)
		}
		return out
	}
	var cc ct.CertificateChain
	if rest, err := cttls.Unmarshal(extra, &cc); err == nil && len(rest) == 0 {
		out := [][]byte{}
		for _, c := range cc.Entries {
			out = append(out, c.Data)
		}
		return out
	}
	return nil
}
