package staticct

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

// IssuerError is a failure to get an issuer certificate that an entry's
// chain names: the log did not serve it, served it slowly, or served bytes
// that do not hash to its fingerprint. The entry itself may be fine.
type IssuerError struct {
	// Fingerprint is the issuer's SHA-256 fingerprint, lower-case hex.
	Fingerprint string
	Err         error
}

func (e *IssuerError) Error() string {
	return fmt.Sprintf("issuer %s: %v", e.Fingerprint, e.Err)
}

func (e *IssuerError) Unwrap() error { return e.Err }

// issuerEntry is a cached issuer, or a remembered failure to fetch it.
type issuerEntry struct {
	der   []byte
	err   error
	retry time.Time // when a failure is forgotten
}

// issuer returns the certificate (DER) whose SHA-256 is fp, from the cache
// or from GET <base>/issuer/<hex fp>. Concurrent requests for one issuer
// share one fetch, bounded by the client's timeout whatever ctx says; ctx
// bounds the wait for it.
func (l *Log) issuer(ctx context.Context, fp [fingerprintSize]byte) ([]byte, error) {
	if v, ok := l.issuers.Get(fp); ok && (v.err == nil || time.Now().Before(v.retry)) {
		return v.der, v.err
	}
	name := hex.EncodeToString(fp[:])
	ch := l.flight.DoChan(name, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		defer cancel()
		der, err := l.fetchIssuer(fctx, fp, name)
		if err != nil {
			l.issuers.Add(fp, issuerEntry{err: err, retry: time.Now().Add(issuerRetry)})
			return nil, err
		}
		l.issuers.Add(fp, issuerEntry{der: der})
		return der, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]byte), nil
	case <-ctx.Done():
		return nil, &IssuerError{Fingerprint: name, Err: fmt.Errorf("waiting for GET issuer/%s: %w", name, ctx.Err())}
	}
}

// fetchIssuer fetches one issuer and checks that it hashes to fp.
func (l *Log) fetchIssuer(ctx context.Context, fp [fingerprintSize]byte, name string) ([]byte, error) {
	der, err := tlog.Get(ctx, l.c, l.base+"issuer/"+name, maxIssuer)
	if err != nil {
		return nil, &IssuerError{Fingerprint: name, Err: err}
	}
	if sum := sha256.Sum256(der); !bytes.Equal(sum[:], fp[:]) {
		return nil, &IssuerError{Fingerprint: name,
			Err: fmt.Errorf("the log serves %d bytes at issuer/%s that hash to %x, not to the fingerprint", len(der), name, sum)}
	}
	return der, nil
}
