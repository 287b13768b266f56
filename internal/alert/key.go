package alert

import "strings"

// Key is the one scheme of dedupe keys (and group keys) Vigil makes:
// "<kind>/<log>" followed by the parts that tell one condition of the log
// from another, each after a slash, e.g.
//
//	integrity_violation/rekor/fork/<hash of the trusted checkpoint>
//	identity_match/rekor/<entry index>/<leaf hash prefix>/<rule>
//	stale_log/rekor
//
// Receivers drop repeats by it; it must stay stable across restarts and
// re-sends of the same condition.
func Key(kind Kind, log string, parts ...string) string {
	var b strings.Builder
	b.WriteString(string(kind))
	b.WriteByte('/')
	b.WriteString(log)
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(p)
	}
	return b.String()
}
