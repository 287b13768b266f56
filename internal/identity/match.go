package identity

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Rule selects identities. Every field that is set must match (AND); a
// rule must set at least one of Subject, Issuer, Fingerprint, Extensions
// or CAFile.
//
// Subject, Issuer and the Extensions values are Go regular expressions
// (RE2 syntax) matched against the whole value: they are anchored as
// ^(?:expr)$, so write `.*@example\.com` for "any address at example.com".
type Rule struct {
	// Name identifies the rule in alerts and in the "rule" metric label.
	// Required, unique within its list.
	Name string `yaml:"name"`
	// Subject matches any e-mail, URI, DNS or Fulcio username SAN of the
	// certificate, or any e-mail user ID of a PGP key.
	Subject string `yaml:"subject,omitempty"`
	// Issuer matches the Fulcio OIDC issuer. An identity without an
	// issuer (a bare key) never matches a rule that sets Issuer.
	Issuer string `yaml:"issuer,omitempty"`
	// Fingerprint matches the certificate or key fingerprint exactly (see
	// [Identity.KeyFingerprint]): hex, case-insensitive, optionally with a
	// "sha256:" prefix; OpenSSH's "SHA256:<base64>" form is accepted too.
	Fingerprint string `yaml:"fingerprint,omitempty"`
	// Extensions maps Fulcio extension OIDs (1.3.6.1.4.1.57264.1.N) to a
	// regular expression the extension's value must match, e.g.
	// "1.3.6.1.4.1.57264.1.12": "https://github\.com/acme/.*" (source
	// repository URI). An absent extension does not match.
	Extensions map[string]string `yaml:"extensions,omitempty"`
	// CAFile is a PEM bundle; only certificates chaining to one of its
	// certificates match. The chain is verified at the certificate's
	// NotBefore, so short-lived Fulcio certificates stay valid after they
	// expire; the bundle may hold roots and intermediates. Key-only
	// identities never match a rule with a CAFile.
	CAFile string `yaml:"ca_file,omitempty"`
}

// Config is the "identities" section of the monitor configuration.
type Config struct {
	// Watch rules raise an alert whenever a matching identity signs.
	Watch []Rule `yaml:"watch,omitempty"`
	// Expect rules list the legitimate signers of a private log: an entry
	// none of whose identities matches one is an unexpected_identity.
	// Empty means every entry is expected.
	Expect []Rule `yaml:"expect,omitempty"`
}

// Validate checks the configuration as [Compile] does, including reading
// CA files. Errors name the field, e.g.
//
//	identities.watch[2].subject: error parsing regexp: missing closing ): `a(b`
func (c Config) Validate() error {
	_, err := Compile(c)
	return err
}

// Matcher matches identities against compiled rules. It is safe for
// concurrent use.
type Matcher struct {
	watch, expect []*rule
	// verified caches chain verification results by certificate
	// fingerprint and rule; nil when no rule has a CA file.
	verified *lru.Cache[verifyKey, bool]
}

type verifyKey struct {
	certFP string
	rule   *rule
}

// Hit is one watch rule matching one identity.
type Hit struct {
	// Rule is the rule's name.
	Rule string
	// Identity points into the slice passed to Match.
	Identity *Identity
	// Fields holds what matched, keyed by rule field: "subject" (the
	// matching name), "issuer", "fingerprint", "ca_file" (the verified
	// certificate's fingerprint) and each extension OID.
	Fields map[string]string
}

// Result is the outcome of matching one entry's identities.
type Result struct {
	// Watched lists the watch-rule hits, in identity then rule order.
	Watched []Hit
	// Expected is true when no expect rules are configured or when at
	// least one identity of the entry matches an expect rule. Rekor
	// verified every signature on upload, so one expected signer proves
	// that signer signed the entry.
	Expected bool
	// ExpectedBy names the first expect rule that matched ("" otherwise).
	ExpectedBy string
}

// Match matches the identities of one entry (as returned by ParseV1 or
// ParseV2). An entry with no identities matches no rule and is expected
// only when no expect rules are configured. Match does not allocate unless
// a watch rule hits.
func (m *Matcher) Match(ids []Identity) Result {
	res := Result{Expected: len(m.expect) == 0}
	for i := range ids {
		id := &ids[i]
		for _, r := range m.watch {
			if m.matches(r, id) {
				res.Watched = append(res.Watched, Hit{Rule: r.name, Identity: id, Fields: r.fields(id)})
			}
		}
		if !res.Expected {
			for _, r := range m.expect {
				if m.matches(r, id) {
					res.Expected, res.ExpectedBy = true, r.name
					break
				}
			}
		}
	}
	return res
}

// WatchRules returns the names of the watch rules in configuration order,
// e.g. to initialise per-rule metrics.
func (m *Matcher) WatchRules() []string {
	names := make([]string, len(m.watch))
	for i, r := range m.watch {
		names[i] = r.name
	}
	return names
}

// rule is a compiled Rule.
type rule struct {
	name        string
	subject     *stringMatcher
	issuer      *stringMatcher
	fingerprint string // lower-case hex
	exts        []extMatcher
	roots       *x509.CertPool
}

type extMatcher struct {
	oid string
	m   *stringMatcher
}

// stringMatcher is an anchored regexp, with a fast path for literals.
type stringMatcher struct {
	literal   string
	isLiteral bool
	re        *regexp.Regexp
}

func (s *stringMatcher) match(v string) bool {
	if s.isLiteral {
		return v == s.literal
	}
	return s.re.MatchString(v)
}

func (m *Matcher) matches(r *rule, id *Identity) bool {
	if r.fingerprint != "" && r.fingerprint != id.KeyFingerprint && r.fingerprint != id.CertFingerprint {
		return false
	}
	if r.issuer != nil && (id.Issuer == "" || !r.issuer.match(id.Issuer)) {
		return false
	}
	for _, e := range r.exts {
		v, ok := id.Extensions[e.oid]
		if !ok || !e.m.match(v) {
			return false
		}
	}
	if r.subject != nil && matchSubject(r.subject, id) == "" {
		return false
	}
	if r.roots != nil && !m.chains(r, id) {
		return false
	}
	return true
}

// matchSubject returns the first subject of id that s matches, or "".
func matchSubject(s *stringMatcher, id *Identity) string {
	var got string
	id.Subjects(func(v string) bool {
		if v != "" && s.match(v) {
			got = v
			return false
		}
		return true
	})
	return got
}

func (r *rule) fields(id *Identity) map[string]string {
	f := make(map[string]string, 2+len(r.exts))
	if r.subject != nil {
		f["subject"] = matchSubject(r.subject, id)
	}
	if r.issuer != nil {
		f["issuer"] = id.Issuer
	}
	if r.fingerprint != "" {
		f["fingerprint"] = r.fingerprint
	}
	for _, e := range r.exts {
		f[e.oid] = id.Extensions[e.oid]
	}
	if r.roots != nil {
		f["ca_file"] = id.CertFingerprint
	}
	return f
}

// chains reports whether id's certificate chains to r's CA bundle at the
// certificate's NotBefore.
func (m *Matcher) chains(r *rule, id *Identity) bool {
	cert, err := id.Certificate()
	if cert == nil || err != nil {
		return false
	}
	key := verifyKey{certFP: id.CertFingerprint, rule: r}
	if ok, hit := m.verified.Get(key); hit {
		return ok
	}
	opts := x509.VerifyOptions{
		Roots: r.roots,
		// Short-lived Fulcio certificates have long expired when the
		// monitor sees them; the log vouches for when they were used.
		CurrentTime: cert.NotBefore,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	intermediates, err := id.Intermediates()
	if err != nil {
		return false
	}
	if len(intermediates) > 0 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range intermediates {
			opts.Intermediates.AddCert(c)
		}
	}
	_, err = cert.Verify(opts)
	ok := err == nil
	m.verified.Add(key, ok)
	return ok
}

// verifyCacheSize bounds the chain-verification cache.
const verifyCacheSize = 4096

// Compile validates cfg, reads its CA files and compiles its rules. Errors
// name the offending field ("identities.expect[0].ca_file: ..."); all
// problems are reported, joined with errors.Join.
func Compile(cfg Config) (*Matcher, error) {
	m := &Matcher{}
	var errs []error
	var err error
	m.watch, err = compileRules("identities.watch", cfg.Watch)
	errs = append(errs, err)
	m.expect, err = compileRules("identities.expect", cfg.Expect)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if slices.ContainsFunc(slices.Concat(m.watch, m.expect), func(r *rule) bool { return r.roots != nil }) {
		m.verified, err = lru.New[verifyKey, bool](verifyCacheSize)
		if err != nil {
			return nil, fmt.Errorf("creating verification cache: %w", err)
		}
	}
	return m, nil
}

func compileRules(path string, rules []Rule) ([]*rule, error) {
	var errs []error
	out := make([]*rule, 0, len(rules))
	seen := make(map[string]int, len(rules))
	for i, r := range rules {
		p := fmt.Sprintf("%s[%d]", path, i)
		c, err := compileRule(p, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if j, dup := seen[r.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: duplicate rule name %q (also %s[%d])", p, r.Name, path, j))
			continue
		}
		seen[r.Name] = i
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

func compileRule(path string, r Rule) (*rule, error) {
	var errs []error
	fail := func(field string, err error) { errs = append(errs, fmt.Errorf("%s.%s: %w", path, field, err)) }
	c := &rule{name: r.Name}
	if strings.TrimSpace(r.Name) == "" {
		fail("name", errors.New("required"))
	}
	if r.Subject == "" && r.Issuer == "" && r.Fingerprint == "" && len(r.Extensions) == 0 && r.CAFile == "" {
		errs = append(errs, fmt.Errorf("%s: rule matches every identity: set at least one of subject, issuer, fingerprint, extensions, ca_file", path))
	}
	var err error
	if r.Subject != "" {
		if c.subject, err = compileAnchored(r.Subject); err != nil {
			fail("subject", err)
		}
	}
	if r.Issuer != "" {
		if c.issuer, err = compileAnchored(r.Issuer); err != nil {
			fail("issuer", err)
		}
	}
	if r.Fingerprint != "" {
		if c.fingerprint, err = normalizeFingerprint(r.Fingerprint); err != nil {
			fail("fingerprint", err)
		}
	}
	oids := make([]string, 0, len(r.Extensions))
	for oid := range r.Extensions {
		oids = append(oids, oid)
	}
	slices.Sort(oids) // deterministic errors and evaluation order
	for _, oid := range oids {
		field := fmt.Sprintf("extensions[%q]", oid)
		if !validFulcioOID(oid) {
			fail(field, fmt.Errorf("not a Fulcio extension OID %sN", OIDPrefix))
			continue
		}
		m, err := compileAnchored(r.Extensions[oid])
		if err != nil {
			fail(field, err)
			continue
		}
		c.exts = append(c.exts, extMatcher{oid: oid, m: m})
	}
	if r.CAFile != "" {
		if c.roots, err = loadCAFile(r.CAFile); err != nil {
			fail("ca_file", err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// compileAnchored compiles expr to match whole values only.
func compileAnchored(expr string) (*stringMatcher, error) {
	// Compile the user's expression alone first so that errors quote
	// what the user wrote.
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	if prefix, complete := re.LiteralPrefix(); complete {
		return &stringMatcher{literal: prefix, isLiteral: true}, nil
	}
	anchored, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, err
	}
	return &stringMatcher{re: anchored}, nil
}

func validFulcioOID(oid string) bool {
	rest, ok := strings.CutPrefix(oid, OIDPrefix)
	if !ok || rest == "" || rest[0] == '0' || rest[0] == '+' {
		return false
	}
	n, err := strconv.Atoi(rest)
	return err == nil && n > 0 && n != 7
}

var errFingerprint = errors.New(`want 64 hex digits (SHA-256, optionally prefixed "sha256:"), 40 or 64 hex digits (PGP), or an OpenSSH "SHA256:<base64>" fingerprint`)

// normalizeFingerprint returns fp as lower-case hex.
func normalizeFingerprint(fp string) (string, error) {
	fp = strings.TrimSpace(fp)
	if b64, ok := strings.CutPrefix(fp, "SHA256:"); ok && len(b64) == 43 {
		sum, err := base64.RawStdEncoding.DecodeString(b64)
		if err != nil || len(sum) != 32 {
			return "", errFingerprint
		}
		return hex.EncodeToString(sum), nil
	}
	if len(fp) > 7 && strings.EqualFold(fp[:7], "sha256:") {
		fp = fp[7:]
		if len(fp) != 64 {
			return "", errFingerprint
		}
	}
	if len(fp) != 64 && len(fp) != 40 {
		return "", errFingerprint
	}
	if _, err := hex.DecodeString(fp); err != nil {
		return "", errFingerprint
	}
	return strings.ToLower(fp), nil
}

func loadCAFile(name string) (*x509.CertPool, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate %d of %s: %w", n, name, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no PEM certificates in %s", name)
	}
	return pool, nil
}
