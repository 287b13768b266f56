package trust

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// Expiry kinds.
const (
	KindTLS         = "tls"           // certificate an endpoint serves
	KindFulcioCA    = "fulcio_ca"     // certificate of a Fulcio CA chain in the trusted root
	KindTSACA       = "tsa_ca"        // certificate of a TSA chain in the trusted root
	KindRekorLogKey = "rekor_log_key" // transparency-log key validity window
	KindCTLogKey    = "ct_log_key"    // CT-log key validity window
	KindCAFile      = "ca_file"       // certificate in a PEM file
)

// Expiry is one thing that stops being valid at NotAfter.
type Expiry struct {
	// Kind is one of the Kind* constants.
	Kind string
	// Name identifies the thing: host:port for "tls", the certificate
	// subject for CA chains, the log base URL (or key ID when the log has
	// no URL) for log keys, the file path for "ca_file".
	Name string
	// NotAfter is when it expires. For "tls" it is the earliest NotAfter of
	// the verified chain, which is the leaf's unless a CA certificate
	// expires first (Detail then says which one).
	NotAfter time.Time
	// Detail is human-readable context: subject, issuer, serial, SHA-256
	// fingerprint, chain position, or the log key ID.
	Detail string
	// NotBefore is when the certificate became valid (zero for log keys):
	// with NotAfter it gives the lifetime, which alert thresholds scale
	// to (a certificate that lives a day is not "expiring" all its life).
	NotBefore time.Time
	// WindowEnd is the end of the validity window the trusted root gives
	// the CA or log key (zero: open-ended, or not from a trusted root).
	// Once it has passed the entry is retired, kept to verify what was
	// signed while it was valid: its expiry is no news.
	WindowEnd time.Time
}

// Retired reports whether e's validity window in the trusted root ended
// before now.
func (e Expiry) Retired(now time.Time) bool { return !e.WindowEnd.IsZero() && !now.Before(e.WindowEnd) }

var (
	// ErrNotTLS is returned by EndpointCertificate for a URL that is not
	// https: there is no certificate to report.
	ErrNotTLS = errors.New("endpoint does not use TLS")
	// ErrCertificateExpired is returned by EndpointCertificate, together
	// with a filled-in Expiry, when the chain verifies except that a
	// certificate in it has expired.
	ErrCertificateExpired = errors.New("certificate has expired")
)

// EndpointCertificate connects to the host of an https URL (port 443 unless
// the URL says otherwise), verifies the certificate chain it serves against
// roots (nil: the system roots) and the URL's host name, and reports when
// that chain expires: the earliest NotAfter of the verified chain (normally
// the leaf's; if an intermediate or root expires first, Detail names it).
// When several chains verify, the one that stays valid longest is used.
//
// A chain that would verify but for an expired certificate is reported:
// the Expiry is returned along with an error matching ErrCertificateExpired.
// Any other failure (http URL: ErrNotTLS; unknown authority, host name
// mismatch, dial or handshake error) returns a zero Expiry: nothing is
// reported from a certificate that was not verified. ctx bounds the dial and
// the handshake.
func EndpointCertificate(ctx context.Context, rawURL string, roots *x509.CertPool) (Expiry, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Expiry{}, fmt.Errorf("trust: endpoint URL %q: %w", rawURL, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		return Expiry{}, fmt.Errorf("trust: %s: %w (plain http URL, no certificate to check)", u.Redacted(), ErrNotTLS)
	default:
		return Expiry{}, fmt.Errorf("trust: endpoint URL %s: unsupported scheme %q, want https", u.Redacted(), u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return Expiry{}, fmt.Errorf("trust: endpoint URL %s has no host", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	name := net.JoinHostPort(host, port)

	// Verification is done below rather than by crypto/tls so that an
	// expired chain can still be identified and its NotAfter reported. The
	// handshake itself still proves the server holds the leaf's key.
	d := tls.Dialer{Config: &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: true, //nolint:gosec // verified by verifyChain after the handshake
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", name)
	if err != nil {
		return Expiry{}, fmt.Errorf("trust: TLS dial %s: %w", name, err)
	}
	state := conn.(*tls.Conn).ConnectionState()
	_ = conn.Close()

	certs := state.PeerCertificates
	if len(certs) == 0 {
		return Expiry{}, fmt.Errorf("trust: %s presented no certificate", name)
	}
	return verifyChain(name, host, certs, roots, time.Now())
}

// verifyChain verifies the presented certificates at now and builds the
// Expiry. When verification fails at now but succeeds at an earlier time,
// the failure is an expired certificate: the Expiry is returned with an
// ErrCertificateExpired error.
func verifyChain(name, host string, certs []*x509.Certificate, roots *x509.CertPool, now time.Time) (Expiry, error) {
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{
		DNSName:       host,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	chains, verr := leaf.Verify(opts)
	if verr == nil {
		return tlsExpiry(name, leaf, bestChain(chains)), nil
	}
	if !maybeExpired(verr) {
		return Expiry{}, describeVerifyError(name, leaf, verr)
	}
	// Try again just before each presented certificate expired, and at
	// the latest NotBefore (for a root not presented by the server that
	// expired since). Success means expiry is the only problem.
	var times []time.Time
	var latestStart time.Time
	for _, c := range certs {
		if t := c.NotAfter.Add(-time.Second); t.Before(now) {
			times = append(times, t)
		}
		if c.NotBefore.After(latestStart) {
			latestStart = c.NotBefore
		}
	}
	if latestStart.Before(now) {
		times = append(times, latestStart)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return b.Compare(a) })
	var retryErr error
	for _, t := range slices.CompactFunc(times, time.Time.Equal) {
		opts.CurrentTime = t
		chains, err := leaf.Verify(opts)
		if err != nil {
			if retryErr == nil {
				retryErr = err
			}
			continue
		}
		e := tlsExpiry(name, leaf, bestChain(chains))
		return e, fmt.Errorf("trust: %s: TLS %w: %s expired at %s", name, ErrCertificateExpired,
			expiredWhich(bestChain(chains), now), e.NotAfter.UTC().Format(time.RFC3339))
	}
	if retryErr != nil && verifyErrorKind(retryErr) != verifyErrorKind(verr) {
		// Expired and something else is wrong too (host name, authority):
		// report both.
		return Expiry{}, errors.Join(describeVerifyError(name, leaf, retryErr), describeVerifyError(name, leaf, verr))
	}
	return Expiry{}, describeVerifyError(name, leaf, verr)
}

// maybeExpired reports whether a verification error could be caused by an
// expired certificate: directly for the leaf, or hidden behind an unknown
// authority error when a CA certificate has expired.
func maybeExpired(err error) bool {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		return inv.Reason == x509.Expired
	}
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

// verifyErrorKind classifies a certificate verification error.
func verifyErrorKind(err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return "unknown authority"
	case errors.As(err, &he):
		return "host name"
	case errors.As(err, &inv):
		return fmt.Sprint("invalid ", int(inv.Reason))
	default:
		return "other"
	}
}

func describeVerifyError(name string, leaf *x509.Certificate, err error) error {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("trust: %s: TLS certificate %q is not signed by a trusted certificate authority (unknown authority, issuer %q): %w",
			name, leaf.Subject.String(), leaf.Issuer.String(), err)
	case errors.As(err, &he):
		return fmt.Errorf("trust: %s: TLS certificate host name mismatch: %w", name, err)
	case errors.As(err, &inv):
		return fmt.Errorf("trust: %s: invalid TLS certificate %q: %w", name, leaf.Subject.String(), err)
	default:
		return fmt.Errorf("trust: %s: TLS certificate verification: %w", name, err)
	}
}

// bestChain returns the chain that stays valid longest.
func bestChain(chains [][]*x509.Certificate) []*x509.Certificate {
	var best []*x509.Certificate
	var bestEnd time.Time
	for _, ch := range chains {
		if end := earliest(ch).NotAfter; best == nil || end.After(bestEnd) {
			best, bestEnd = ch, end
		}
	}
	return best
}

// earliest returns the certificate of chain that expires first, preferring
// the one closest to the leaf on ties.
func earliest(chain []*x509.Certificate) *x509.Certificate {
	var e *x509.Certificate
	for _, c := range chain {
		if e == nil || c.NotAfter.Before(e.NotAfter) {
			e = c
		}
	}
	return e
}

func expiredWhich(chain []*x509.Certificate, now time.Time) string {
	var which []string
	for i, c := range chain {
		if !now.Before(c.NotAfter) {
			which = append(which, fmt.Sprintf("%s %q", chainPosition(i, len(chain)), c.Subject.String()))
		}
	}
	if len(which) == 0 {
		return "a certificate of the chain"
	}
	return strings.Join(which, ", ")
}

// chainPosition names position i of a verified chain of n certificates.
func chainPosition(i, n int) string {
	switch {
	case i == 0:
		return "leaf"
	case i == n-1:
		return "root"
	default:
		return "intermediate"
	}
}

func tlsExpiry(name string, leaf *x509.Certificate, chain []*x509.Certificate) Expiry {
	e := Expiry{Kind: KindTLS, Name: name, NotAfter: leaf.NotAfter, NotBefore: leaf.NotBefore, Detail: certDetail(leaf)}
	if len(chain) == 0 {
		return e
	}
	first := earliest(chain)
	if first.NotAfter.Before(leaf.NotAfter) {
		i := slices.Index(chain, first)
		e.NotAfter, e.NotBefore = first.NotAfter, first.NotBefore
		e.Detail = fmt.Sprintf("%s certificate expires before the leaf: %s not_after=%s; leaf: %s not_after=%s",
			chainPosition(i, len(chain)), certDetail(first), first.NotAfter.UTC().Format(time.RFC3339),
			certDetail(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return e
}

// certDetail describes a certificate: subject, issuer, serial, fingerprint.
func certDetail(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return fmt.Sprintf("subject=%q issuer=%q serial=%s sha256:%s",
		c.Subject.String(), c.Issuer.String(), c.SerialNumber.Text(16), hex.EncodeToString(sum[:]))
}

// TrustedRootExpiries lists what expires in a trusted root: every
// certificate of every Fulcio CA chain and TSA chain (in the root's order,
// each chain leaf first), then every Rekor log key and CT log key that has
// a validity end (sorted by base URL, then key ID). Log keys without a
// validity end are open-ended and left out. A certificate that appears in
// several chains of the same kind is listed once.
//
// A CA or key whose validity window in the trusted root has already ended
// (a rotated-out key) is still listed; Detail says so for CAs.
func TrustedRootExpiries(tr *root.TrustedRoot) []Expiry {
	if tr == nil {
		return nil
	}
	var out []Expiry
	seen := map[string]bool{}
	addChain := func(kind string, idx int, uri string, chain []*x509.Certificate, end time.Time) {
		for i, c := range chain {
			if c == nil {
				continue
			}
			sum := sha256.Sum256(c.Raw)
			key := kind + "/" + string(sum[:])
			if seen[key] {
				continue
			}
			seen[key] = true
			pos := "intermediate"
			switch {
			case i == len(chain)-1:
				pos = "root"
			case i == 0 && !c.IsCA:
				pos = "leaf"
			}
			d := fmt.Sprintf("%s #%d %s: %s", kind, idx, pos, certDetail(c))
			if uri != "" {
				d += " uri=" + uri
			}
			if !end.IsZero() {
				d += " valid_for_end=" + end.UTC().Format(time.RFC3339)
			}
			out = append(out, Expiry{Kind: kind, Name: subjectName(c), NotAfter: c.NotAfter, NotBefore: c.NotBefore, Detail: d, WindowEnd: end})
		}
	}
	for i, ca := range tr.FulcioCertificateAuthorities() {
		if f, ok := ca.(*root.FulcioCertificateAuthority); ok && f != nil {
			chain := append(slices.Clone(f.Intermediates), f.Root)
			addChain(KindFulcioCA, i, f.URI, chain, f.ValidityPeriodEnd)
		}
	}
	for i, ta := range tr.TimestampingAuthorities() {
		if t, ok := ta.(*root.SigstoreTimestampingAuthority); ok && t != nil {
			var chain []*x509.Certificate
			if t.Leaf != nil {
				chain = append(chain, t.Leaf)
			}
			chain = append(append(chain, t.Intermediates...), t.Root)
			addChain(KindTSACA, i, t.URI, chain, t.ValidityPeriodEnd)
		}
	}
	out = append(out, logKeyExpiries(KindRekorLogKey, tr.RekorLogs())...)
	out = append(out, logKeyExpiries(KindCTLogKey, tr.CTLogs())...)
	return out
}

func logKeyExpiries(kind string, logs map[string]*root.TransparencyLog) []Expiry {
	var out []Expiry
	for id, l := range logs {
		if l == nil || l.ValidityPeriodEnd.IsZero() {
			continue
		}
		keyID := hex.EncodeToString(l.ID)
		if keyID == "" {
			keyID = id
		}
		name := l.BaseURL
		if name == "" {
			name = keyID
		}
		d := "key_id=" + keyID
		if !l.ValidityPeriodStart.IsZero() {
			d += " valid_from=" + l.ValidityPeriodStart.UTC().Format(time.RFC3339)
		}
		out = append(out, Expiry{Kind: kind, Name: name, NotAfter: l.ValidityPeriodEnd, Detail: d, WindowEnd: l.ValidityPeriodEnd})
	}
	slices.SortFunc(out, func(a, b Expiry) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Detail, b.Detail)
	})
	return out
}

func subjectName(c *x509.Certificate) string {
	if s := c.Subject.String(); s != "" {
		return s
	}
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CertificateFile lists every certificate in a PEM file, in file order
// (Kind "ca_file", Name the path). Blocks other than CERTIFICATE are
// skipped; a file without certificates is an error.
func CertificateFile(path string) ([]Expiry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	var out []Expiry
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("trust: %s: PEM block %d: %w", path, n, err)
		}
		out = append(out, Expiry{Kind: KindCAFile, Name: path, NotAfter: c.NotAfter, NotBefore: c.NotBefore, Detail: certDetail(c)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("trust: %s: no PEM certificate found", path)
	}
	return out, nil
}

// Level is how close something is to expiry.
type Level int

const (
	LevelOK Level = iota
	LevelWarning
	LevelCritical
	LevelExpired
)

func (l Level) String() string {
	switch l {
	case LevelOK:
		return "ok"
	case LevelWarning:
		return "warning"
	case LevelCritical:
		return "critical"
	case LevelExpired:
		return "expired"
	default:
		return fmt.Sprintf("Level(%d)", int(l))
	}
}

// ClassifyLifetime is Classify with the thresholds scaled to a lifetime
// that began at notBefore (zero: not scaled): warn is at most a quarter of
// the lifetime and crit an eighth, so that something renewed as it should
// (cert-manager renews at two thirds of a certificate's life; a TUF
// timestamp that lives a week is re-signed daily) is never reported as
// expiring, while one whose renewal is late is.
func ClassifyLifetime(notBefore, notAfter, now time.Time, warn, crit time.Duration) Level {
	if !notBefore.IsZero() && notAfter.After(notBefore) {
		life := notAfter.Sub(notBefore)
		warn, crit = min(warn, life/4), min(crit, life/8)
	}
	return Classify(notAfter, now, warn, crit)
}

// Classify grades notAfter seen at now: LevelExpired once now >= notAfter,
// LevelCritical when at most crit remains, LevelWarning when at most warn
// remains, LevelOK otherwise. A zero notAfter means "never expires": OK.
func Classify(notAfter, now time.Time, warn, crit time.Duration) Level {
	if notAfter.IsZero() {
		return LevelOK
	}
	left := notAfter.Sub(now)
	switch {
	case left <= 0:
		return LevelExpired
	case left <= crit:
		return LevelCritical
	case left <= warn:
		return LevelWarning
	default:
		return LevelOK
	}
}
