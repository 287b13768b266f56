package monitor

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/tlog"
	"github.com/vigil-tlog/vigil/internal/trust"
)

// trustedLogs are the transparency logs of a Sigstore trusted root.
type trustedLogs map[string]*root.TransparencyLog

// logsFor returns the logs of the material that a log of kind k takes its
// keys from: the trusted root's ctlogs for CT kinds, its tlogs otherwise.
func (tm *trustMaterial) logsFor(k config.Kind) trustedLogs {
	if tm == nil {
		return nil
	}
	if k.CertificateTransparency() {
		return tm.ctLogs
	}
	return tm.logs
}

// trustMaterial is what the monitor reads from the trust material: the
// transparency logs of the trusted root, and the Rekor API version the
// signing config gives each log URL.
type trustMaterial struct {
	logs trustedLogs
	// ctLogs are the certificate transparency logs of the trusted root,
	// and cas the certificates of its Fulcio CAs (roots and
	// intermediates): the issuers of the certificates the CT logs hold.
	ctLogs trustedLogs
	cas    []*x509.Certificate
	// apiVersions maps a Rekor log URL (without a trailing slash) to the
	// major API version of the signing config's service for it (1: the
	// Rekor v1 REST API, 2: Rekor v2). Nil without a signing config.
	apiVersions map[string]uint32
}

// Names of the signing config target in Sigstore's TUF repositories,
// preferred first.
var signingConfigTargets = []string{"signing_config.v0.2.json", "signing_config.json"}

// loadTrust reads the trust material named by cfg: trusted_root.json (and
// signing_config_file) files, or the trusted_root.json and signing config
// targets of a TUF repository (verified by sigstore-go's TUF client from
// the initial root.json). It returns nil when cfg names none.
func loadTrust(cfg config.Trust, stateDir, userAgent string, logger *slog.Logger) (*trustMaterial, error) {
	var (
		tr *root.TrustedRoot
		sc []byte
	)
	switch {
	case cfg.TrustedRootFile != "":
		var err error
		tr, err = root.NewTrustedRootFromPath(cfg.TrustedRootFile)
		if err != nil {
			return nil, fmt.Errorf("trust.trusted_root_file: %w", err)
		}
		if cfg.SigningConfigFile != "" {
			if sc, err = os.ReadFile(cfg.SigningConfigFile); err != nil {
				return nil, fmt.Errorf("trust.signing_config_file: %w", err)
			}
		}
	case cfg.TUF.Mirror != "":
		rootJSON, err := os.ReadFile(cfg.TUF.RootFile)
		if err != nil {
			return nil, fmt.Errorf("trust.tuf.root_file: %w", err)
		}
		hc, err := tlog.NewHTTPClient(tlog.ClientConfig{CAFile: cfg.TUF.CAFile, UserAgent: userAgent})
		if err != nil {
			return nil, fmt.Errorf("trust.tuf.ca_file: %w", err)
		}
		f := fetcher.NewDefaultFetcher()
		f.SetHTTPClient(hc)
		f.SetHTTPUserAgent(userAgent)
		cache := cfg.TUF.CacheDir
		if cache == "" {
			cache = state.TUFCacheDir(stateDir)
		}
		opts := tuf.DefaultOptions()
		opts.Root = rootJSON
		opts.RepositoryBaseURL = cfg.TUF.Mirror
		opts.CachePath = cache
		opts.Fetcher = f
		c, err := tuf.New(opts)
		if err != nil {
			// A mirror that is down must not stop a monitor that has
			// verified metadata cached: fall back to the cache, loudly.
			opts.ForceCache = true
			cached, cerr := tuf.New(opts)
			if cerr != nil {
				return nil, &UnavailableError{Err: fmt.Errorf("updating TUF metadata from mirror %s: %w", cfg.TUF.Mirror, err)}
			}
			logger.Warn("TUF mirror unavailable; using the trust material in the local TUF cache", "mirror", cfg.TUF.Mirror, "cache", cache, "err", err)
			c = cached
		}
		b, err := c.GetTarget("trusted_root.json")
		if err != nil {
			return nil, &UnavailableError{Err: fmt.Errorf("getting trusted_root.json from TUF mirror %s: %w", cfg.TUF.Mirror, err)}
		}
		tr, err = root.NewTrustedRootFromJSON(b)
		if err != nil {
			return nil, fmt.Errorf("parsing trusted_root.json from TUF mirror %s: %w", cfg.TUF.Mirror, err)
		}
		// The signing config is optional: older repositories have none.
		for _, name := range signingConfigTargets {
			if sc, err = c.GetTarget(name); err == nil {
				break
			}
			sc = nil
		}
	default:
		return nil, nil
	}
	tm := &trustMaterial{logs: trustedLogs(tr.RekorLogs()), ctLogs: trustedLogs(tr.CTLogs())}
	for _, ca := range tr.FulcioCertificateAuthorities() {
		if f, ok := ca.(*root.FulcioCertificateAuthority); ok {
			tm.cas = append(tm.cas, f.Intermediates...)
			if f.Root != nil {
				tm.cas = append(tm.cas, f.Root)
			}
		}
	}
	if sc != nil {
		// Only follow_shards needs the signing config: one that cannot be
		// read must not stop the monitor or its key rotations.
		v, err := trust.RekorAPIVersions(sc)
		if err != nil {
			logger.Warn("cannot read the signing config; trust.follow_shards follows no log until it can", "err", err)
		} else {
			tm.apiVersions = v
		}
	}
	return tm, nil
}

// UnavailableError reports that start-up needed something from the network
// (the TUF mirror) that could not be had: no verdict, not a configuration
// mistake (monitor check exits 3, not 2).
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// keyFor finds the key of the log at logURL with checkpoint origin (or, for
// Rekor v1, signer hostname) origin among the tlogs valid at now. A tlog
// whose baseUrl equals logURL matches best, then one whose host is origin
// (the log's signed identity, so a monitor may reach the log through another
// URL), then one whose host is logURL's host. Two tlogs with different base
// URLs matching equally well are ambiguous, an error: guessing would turn a
// wrong guess into a false signature alarm. Keys of one base URL valid at
// the same time (a rotation overlap) are all returned, newest first: the log
// may sign with either until it has switched, and the signature's key hint
// says which. ended are the keys of that base URL whose validity ended: a
// checkpoint saved while one was valid still verifies with it.
func (t trustedLogs) keysFor(logURL, origin string, now time.Time) (keys, ended []crypto.PublicKey, err error) {
	norm := func(s string) string { return strings.TrimSuffix(s, "/") }
	host := func(s string) string {
		if u, err := url.Parse(s); err == nil {
			return u.Hostname()
		}
		return ""
	}
	var (
		best     *root.TransparencyLog
		bestRank int
		tie      *root.TransparencyLog
		valid    []*root.TransparencyLog // matching tlogs valid now, of every rank
		past     []*root.TransparencyLog // matching tlogs whose validity ended
		invalid  []string                // matching tlogs not valid now, for the error
	)
	for _, tl := range t {
		rank := 0
		switch h := host(tl.BaseURL); {
		case norm(tl.BaseURL) == norm(logURL):
			rank = 3
		case h != "" && strings.EqualFold(h, origin):
			rank = 2
		case h != "" && strings.EqualFold(h, host(logURL)):
			rank = 1
		}
		if rank > 0 && (now.Before(tl.ValidityPeriodStart) || (!tl.ValidityPeriodEnd.IsZero() && now.After(tl.ValidityPeriodEnd))) {
			end := "open end"
			if !tl.ValidityPeriodEnd.IsZero() {
				end = tl.ValidityPeriodEnd.UTC().Format(time.RFC3339)
			}
			invalid = append(invalid, fmt.Sprintf("%s valid %s to %s", tl.BaseURL, tl.ValidityPeriodStart.UTC().Format(time.RFC3339), end))
			if !now.Before(tl.ValidityPeriodStart) {
				past = append(past, tl)
			}
			continue
		}
		if rank > 0 {
			valid = append(valid, tl)
		}
		switch {
		case rank == 0 || rank < bestRank:
		case rank > bestRank:
			best, bestRank, tie = tl, rank, nil
		case norm(tl.BaseURL) != norm(best.BaseURL):
			tie = tl
		}
	}
	switch {
	case best == nil && len(invalid) > 0:
		slices.Sort(invalid)
		return nil, nil, fmt.Errorf("no transparency log valid now in the trusted root has base URL %s or host %s: matching tlogs are outside their validity period (%s)", logURL, origin, strings.Join(invalid, "; "))
	case best == nil:
		return nil, nil, fmt.Errorf("no transparency log valid now in the trusted root has base URL %s or host %s", logURL, origin)
	case tie != nil:
		return nil, nil, fmt.Errorf("transparency logs %s and %s of the trusted root both match log %s (origin %s): set public_key_file", best.BaseURL, tie.BaseURL, logURL, origin)
	}
	// The keys of the chosen base URL, newest first.
	of := func(tls []*root.TransparencyLog) []crypto.PublicKey {
		var same []*root.TransparencyLog
		for _, tl := range tls {
			if norm(tl.BaseURL) == norm(best.BaseURL) {
				same = append(same, tl)
			}
		}
		slices.SortStableFunc(same, func(a, b *root.TransparencyLog) int {
			return b.ValidityPeriodStart.Compare(a.ValidityPeriodStart)
		})
		keys := make([]crypto.PublicKey, 0, len(same))
		for _, tl := range same {
			keys = append(keys, tl.PublicKey)
		}
		return keys
	}
	return of(valid), of(past), nil
}

// readPublicKey reads a PEM public key file.
func readPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := cryptoutils.UnmarshalPEMToPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("parsing PEM public key %s: %w", path, err)
	}
	return k, nil
}

// shards returns a log configuration for every transparency log valid at
// now that none of the configured logs names by base URL or host, in base
// URL order: the logs trust.follow_shards follows. The kind comes from the
// signing config's API version for the log's URL, never from a guess: a log
// the signing config does not list with version 1 or 2 is not followed, and
// is returned in skipped with the reason. Names are "rekor-v1-" or
// "rekor-v2-" and the host with dots as dashes; the origin is the host.
func (tm *trustMaterial) shards(configured []config.Log, now time.Time) (follow []config.Log, skipped []string) {
	host := func(s string) string {
		if u, err := url.Parse(s); err == nil {
			return strings.ToLower(u.Hostname())
		}
		return ""
	}
	known := map[string]bool{}
	for _, l := range configured {
		known[strings.TrimSuffix(l.URL, "/")] = true
		known[host(l.URL)] = true
		known[strings.ToLower(l.Origin)] = true
	}
	seen := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(tm.logs)) {
		tl := tm.logs[id]
		h := host(tl.BaseURL)
		if h == "" || known[h] || known[strings.TrimSuffix(tl.BaseURL, "/")] || seen[h] ||
			now.Before(tl.ValidityPeriodStart) || (!tl.ValidityPeriodEnd.IsZero() && now.After(tl.ValidityPeriodEnd)) {
			continue
		}
		var kind config.Kind
		switch v, ok := tm.apiVersions[strings.TrimSuffix(tl.BaseURL, "/")]; {
		case tm.apiVersions == nil:
			skipped = append(skipped, tl.BaseURL+": no signing config says which Rekor API it serves (give trust.signing_config_file, or list it under logs)")
			continue
		case !ok:
			skipped = append(skipped, tl.BaseURL+": the signing config does not list it, so its Rekor API version is unknown (list it under logs)")
			continue
		case v == 1:
			kind = config.KindRekorV1
		case v == 2:
			kind = config.KindRekorV2
		default:
			skipped = append(skipped, fmt.Sprintf("%s: the signing config gives it Rekor API version %d, which Vigil does not read", tl.BaseURL, v))
			continue
		}
		seen[h] = true
		follow = append(follow, config.Log{Name: string(kind) + "-" + strings.ReplaceAll(h, ".", "-"), Kind: kind,
			URL: tl.BaseURL, Origin: h})
	}
	slices.SortFunc(follow, func(a, b config.Log) int { return strings.Compare(a.URL, b.URL) })
	slices.Sort(skipped)
	return follow, skipped
}
