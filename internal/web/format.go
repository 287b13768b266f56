package web

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-tlog/vigil/internal/alert"
)

// timeOf accepts a time.Time or *time.Time; ok is false for nil and zero.
func timeOf(v any) (time.Time, bool) {
	var t time.Time
	switch v := v.(type) {
	case time.Time:
		t = v
	case *time.Time:
		if v == nil {
			return time.Time{}, false
		}
		t = *v
	default:
		return time.Time{}, false
	}
	return t, !t.IsZero()
}

// timeText is t (a time.Time or *time.Time) for reading, in UTC; "" when
// unset.
func timeText(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// timeAttr is t for a datetime attribute (RFC 3339); "" when unset.
func timeAttr(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// ago is t relative to now in the largest whole unit: "5m ago", "in 3d",
// "just now"; "" for a zero t.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute && !future:
		return "just now"
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d.Hours()))
	default:
		s = fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// pathEscape escapes s as one path segment.
func pathEscape(s string) string { return url.PathEscape(s) }

// entryURL is the entry view of index in log.
func entryURL(log string, index any) string {
	return fmt.Sprintf("/entries/%s/%v", url.PathEscape(log), index)
}

// alertURL is the view of the alert with id.
func alertURL(id string) string { return "/alerts/" + url.PathEscape(id) }

// searchURL is a search for the parameter k equal to v.
func searchURL(k, v string) string {
	return "/search?" + url.Values{k: {v}}.Encode()
}

// severityClass is the CSS class of a severity.
func severityClass(s alert.Severity) string {
	switch s {
	case alert.SeverityCritical:
		return "bad"
	case alert.SeverityWarning:
		return "warn"
	}
	return "info"
}

// kv is one row of a key/value table.
type kv struct{ K, V string }

// sortedKV is m's pairs in key order.
func sortedKV(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].K < out[j].K })
	return out
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isHex reports whether s is non-empty lower- or upper-case hex.
func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// u64 is n in decimal.
func u64(n uint64) string { return strconv.FormatUint(n, 10) }

// short abbreviates a long hash ("sha256:<64 hex>") to its first 12 and
// last 6 digits; other strings are returned as they are.
func short(s string) string {
	alg, h, ok := strings.Cut(s, ":")
	if !ok {
		alg, h = "", s
	} else {
		alg += ":"
	}
	if len(h) <= 24 || !isHex(h) {
		return s
	}
	return alg + h[:12] + "…" + h[len(h)-6:]
}
