package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"google.golang.org/protobuf/encoding/protojson"
)

// Ops of a [Change].
const (
	OpAdded   = "added"
	OpRemoved = "removed"
	OpChanged = "changed"
)

// Instances of a [Change]: the kinds of trust material, in the order
// [Diff] reports them.
const (
	InstanceRekorLog         = "rekor_log"
	InstanceCTLog            = "ct_log"
	InstanceFulcioCA         = "fulcio_ca"
	InstanceTSA              = "tsa"
	InstanceSigningConfigURL = "signing_config_url"
)

// instanceRank orders instance kinds as the constants above.
func instanceRank(kind string) int {
	switch kind {
	case InstanceRekorLog:
		return 0
	case InstanceCTLog:
		return 1
	case InstanceFulcioCA:
		return 2
	case InstanceTSA:
		return 3
	}
	return 4
}

// Change is one difference between the trust material of two snapshots.
//
// Before and After hold the instance's fields (Before nil when added,
// After nil when removed); a field is absent when the material has no
// value for it. Times are RFC 3339 in UTC.
//
//	rekor_log, ct_log   key_id, base_url, valid_from, valid_until, operator,
//	                    public_key_sha256, checkpoint_key_id
//	fulcio_ca, tsa      subject, url, valid_from, valid_until, operator,
//	                    chain_sha256 (the certificates' SHA-256, comma-separated)
//	signing_config_url  service (ca, oidc, rekor, tsa), url, api_version,
//	                    valid_from, valid_until, operator
type Change struct {
	Op       string `json:"op"`
	Instance string `json:"instance"`
	// ID names the instance: the hex log ID (key ID) of a log; the
	// subject and the SHA-256 fingerprint of the first certificate of a
	// CA or TSA ("CN=fulcio,O=example.test sha256:9f86…"); the URL of a
	// signing config service. A second instance with the same ID in one
	// trust root gets " #2" appended, and so on.
	ID     string            `json:"id"`
	Before map[string]string `json:"before,omitempty"`
	After  map[string]string `json:"after,omitempty"`
}

// String is the change on one line, for logs and summaries:
//
//	rekor_log added 1f2e…: base_url=https://log2026.example.test valid_from=2026-01-01T00:00:00Z
//	rekor_log changed 1f2e…: valid_until "" -> "2026-06-01T00:00:00Z"
//	signing_config_url removed https://rekor.example.test: service=rekor api_version=1 …
func (c Change) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", c.Instance, c.Op, c.ID)
	switch c.Op {
	case OpChanged:
		sep := ": "
		for _, k := range unionKeys(c.Before, c.After) {
			if c.Before[k] != c.After[k] {
				fmt.Fprintf(&b, "%s%s %q -> %q", sep, k, c.Before[k], c.After[k])
				sep = "; "
			}
		}
	default:
		f := c.After
		if c.Op == OpRemoved {
			f = c.Before
		}
		sep := ": "
		for _, k := range slices.Sorted(maps.Keys(f)) {
			fmt.Fprintf(&b, "%s%s=%s", sep, k, f[k])
			sep = " "
		}
	}
	return b.String()
}

// Diff returns what changed from the trust material of prev to that of
// next: instances added, removed, or whose fields changed (validity
// window, URL, operator, key or chain). A nil snapshot has no material.
// Changes are ordered by instance kind (as the Instance constants are
// listed), then by service (signing config URLs), then by ID. It fails if either's trusted root
// or signing config does not parse.
func Diff(prev, next *Snapshot) ([]Change, error) {
	before, err := instances(prev)
	if err != nil {
		return nil, fmt.Errorf("reading the previous trust material: %w", err)
	}
	after, err := instances(next)
	if err != nil {
		return nil, fmt.Errorf("reading the new trust material: %w", err)
	}
	var changes []Change
	for k, a := range after {
		b, ok := before[k]
		switch {
		case !ok:
			changes = append(changes, Change{Op: OpAdded, Instance: a.kind, ID: a.id, After: a.fields})
		case !maps.Equal(a.fields, b.fields):
			changes = append(changes, Change{Op: OpChanged, Instance: a.kind, ID: a.id, Before: b.fields, After: a.fields})
		}
	}
	for k, b := range before {
		if _, ok := after[k]; !ok {
			changes = append(changes, Change{Op: OpRemoved, Instance: b.kind, ID: b.id, Before: b.fields})
		}
	}
	slices.SortFunc(changes, func(x, y Change) int {
		if c := instanceRank(x.Instance) - instanceRank(y.Instance); c != 0 {
			return c
		}
		if c := strings.Compare(x.service(), y.service()); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return changes, nil
}

func (c Change) service() string {
	if c.After != nil {
		return c.After["service"]
	}
	return c.Before["service"]
}

// key identifies the instance a change is about, across snapshots.
func (c Change) key() string { return instanceKey(c.Instance, c.ID, c.service()) }

func instanceKey(kind, id, service string) string { return kind + "\x00" + service + "\x00" + id }

// instance is one item of trust material.
type instance struct {
	kind, id string
	fields   map[string]string
}

// instances returns the trust material of s by instanceKey; none for nil.
func instances(s *Snapshot) (map[string]instance, error) {
	out := map[string]instance{}
	if s == nil {
		return out, nil
	}
	add := func(kind, id string, fields map[string]string) {
		base := id
		for n := 2; ; n++ {
			if _, dup := out[instanceKey(kind, id, fields["service"])]; !dup {
				break
			}
			id = base + " #" + strconv.Itoa(n)
		}
		out[instanceKey(kind, id, fields["service"])] = instance{kind: kind, id: id, fields: fields}
	}
	if len(s.TrustedRoot) > 0 {
		tr, err := root.NewTrustedRootProtobuf(s.TrustedRoot)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", TrustedRootTarget, err)
		}
		for _, l := range tr.GetTlogs() {
			id, f := logFields(l)
			add(InstanceRekorLog, id, f)
		}
		for _, l := range tr.GetCtlogs() {
			id, f := logFields(l)
			add(InstanceCTLog, id, f)
		}
		for _, ca := range tr.GetCertificateAuthorities() {
			id, f := caFields(ca)
			add(InstanceFulcioCA, id, f)
		}
		for _, ca := range tr.GetTimestampAuthorities() {
			id, f := caFields(ca)
			add(InstanceTSA, id, f)
		}
	}
	if len(s.SigningConfig) > 0 {
		sc, err := parseSigningConfig(s.SigningConfig)
		if err != nil {
			return nil, fmt.Errorf("parsing the signing config: %w", err)
		}
		for _, g := range []struct {
			service  string
			services []*prototrustroot.Service
		}{
			{"ca", sc.GetCaUrls()},
			{"oidc", sc.GetOidcUrls()},
			{"rekor", sc.GetRekorTlogUrls()},
			{"tsa", sc.GetTsaUrls()},
		} {
			for _, svc := range g.services {
				f := map[string]string{
					"service":     g.service,
					"url":         svc.GetUrl(),
					"api_version": strconv.FormatUint(uint64(svc.GetMajorApiVersion()), 10),
				}
				validity(f, svc.GetValidFor())
				set(f, "operator", svc.GetOperator())
				add(InstanceSigningConfigURL, svc.GetUrl(), f)
			}
		}
	}
	return out, nil
}

// parseSigningConfig parses a signing config as sigstore-go does, but
// accepting any media type and ignoring unknown fields, so that a newer
// or older format still yields its service URLs.
// RekorAPIVersions returns the major API version the signing config b
// gives each Rekor log URL (without a trailing slash). It reads any media
// type and ignores fields it does not know, as a monitor must: a newer
// signing config must not stop it.
func RekorAPIVersions(b []byte) (map[string]uint32, error) {
	sc, err := parseSigningConfig(b)
	if err != nil {
		return nil, err
	}
	out := map[string]uint32{}
	for _, s := range sc.GetRekorTlogUrls() {
		out[strings.TrimSuffix(s.GetUrl(), "/")] = s.GetMajorApiVersion()
	}
	return out, nil
}

func parseSigningConfig(b []byte) (*prototrustroot.SigningConfig, error) {
	sc := &prototrustroot.SigningConfig{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, sc); err != nil {
		return nil, err
	}
	return sc, nil
}

func logFields(l *prototrustroot.TransparencyLogInstance) (string, map[string]string) {
	id := hex.EncodeToString(l.GetLogId().GetKeyId())
	f := map[string]string{"key_id": id}
	set(f, "base_url", l.GetBaseUrl())
	validity(f, l.GetPublicKey().GetValidFor())
	set(f, "operator", l.GetOperator())
	if raw := l.GetPublicKey().GetRawBytes(); len(raw) > 0 {
		sum := sha256.Sum256(raw)
		f["public_key_sha256"] = hex.EncodeToString(sum[:])
	}
	if ck := l.GetCheckpointKeyId().GetKeyId(); len(ck) > 0 {
		f["checkpoint_key_id"] = hex.EncodeToString(ck)
	}
	return id, f
}

func caFields(ca *prototrustroot.CertificateAuthority) (string, map[string]string) {
	certs := ca.GetCertChain().GetCertificates()
	var sums []string
	for _, c := range certs {
		sum := sha256.Sum256(c.GetRawBytes())
		sums = append(sums, hex.EncodeToString(sum[:]))
	}
	subject := distinguishedName(ca.GetSubject())
	if subject == "" && len(certs) > 0 {
		if c, err := x509.ParseCertificate(certs[0].GetRawBytes()); err == nil {
			subject = c.Subject.String()
		}
	}
	id := subject
	if len(sums) > 0 {
		id = strings.TrimSpace(subject + " sha256:" + sums[0])
	}
	f := map[string]string{}
	set(f, "subject", subject)
	set(f, "url", ca.GetUri())
	validity(f, ca.GetValidFor())
	set(f, "operator", ca.GetOperator())
	set(f, "chain_sha256", strings.Join(sums, ","))
	return id, f
}

func distinguishedName(dn *protocommon.DistinguishedName) string {
	var parts []string
	if cn := dn.GetCommonName(); cn != "" {
		parts = append(parts, "CN="+cn)
	}
	if o := dn.GetOrganization(); o != "" {
		parts = append(parts, "O="+o)
	}
	return strings.Join(parts, ",")
}

func validity(f map[string]string, r *protocommon.TimeRange) {
	if r.GetStart() != nil {
		f["valid_from"] = r.GetStart().AsTime().UTC().Format(time.RFC3339Nano)
	}
	if r.GetEnd() != nil {
		f["valid_until"] = r.GetEnd().AsTime().UTC().Format(time.RFC3339Nano)
	}
}

func set(f map[string]string, k, v string) {
	if v != "" {
		f[k] = v
	}
}

func unionKeys(a, b map[string]string) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
