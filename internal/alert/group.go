package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Group is one notification for events delivered together: the queued
// events of a sink that share a non-empty [Event.Group], in enqueue order,
// at most [GroupConfig.MaxEvents] of them. A catch-up scan that meets
// thousands of entries signed by a watched identity so makes a handful of
// notifications, not thousands, while every event keeps its own record,
// dedupe key and delivery state in the outbox.
//
// How each sink renders a group:
//
//   - webhook, exec: one JSON body, [GroupBody]: the group's summary event
//     (the fields of an [Event], so a receiver that reads single events
//     still gets a sensible one) plus "group_info" (count, index range) and
//     "events", every event of the group with its full evidence;
//   - alertmanager: one alert, dedupe_key label [Group.DedupeKey], with the
//     count, the index range and the first entries in annotations;
//   - slack: one message with the count, the range and the first entries;
//   - log: one line with the count, the range and the first entries.
type Group struct {
	// Key is the events' Event.Group.
	Key string
	// DedupeKey identifies the notification: "<kind>/<log>/group-<32 hex>",
	// derived from Key and the first event's DedupeKey, so a retry of the
	// same group keeps it.
	DedupeKey string
	Kind      Kind
	// Severity is the highest severity of the events.
	Severity Severity
	Log      string
	// Rule is the rule that matched, for identity matches.
	Rule string
	// FirstIndex and LastIndex are the lowest and highest entry index among
	// the events; both -1 when no event names an entry.
	FirstIndex, LastIndex int64
	// Count is the number of events in the group.
	Count int
	// Events are the events of the group, in enqueue order: all of them
	// for SendGroup; for the text sinks (log, Slack, Alertmanager), which
	// name only the first entries, the outbox reads only the first
	// max_listed (at least one), and Count says how many there are.
	Events []Event
}

// NewGroup returns the group of events (at least one, of one Event.Group).
func NewGroup(events []Event) Group {
	first := events[0]
	g := Group{Key: first.Group, Kind: first.Kind, Severity: first.Severity, Log: first.Log,
		Rule: first.Evidence.Rule, FirstIndex: -1, LastIndex: -1, Count: len(events), Events: events}
	for _, e := range events {
		if e.Severity.Rank() > g.Severity.Rank() {
			g.Severity = e.Severity
		}
		if en := e.Evidence.Entry; en != nil {
			if g.FirstIndex < 0 || en.Index < g.FirstIndex {
				g.FirstIndex = en.Index
			}
			if en.Index > g.LastIndex {
				g.LastIndex = en.Index
			}
		}
	}
	g.DedupeKey = groupDedupeKey(first)
	return g
}

func groupDedupeKey(first Event) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s\n%d:%s\n", len(first.Group), first.Group, len(first.DedupeKey), first.DedupeKey)
	return Key(first.Kind, first.Log, "group-"+hex.EncodeToString(h.Sum(nil)[:16]))
}

// Range renders the index range: "17", "17-4016", or "-" without entries.
func (g Group) Range() string {
	switch {
	case g.FirstIndex < 0:
		return "-"
	case g.FirstIndex == g.LastIndex:
		return strconv.FormatInt(g.FirstIndex, 10)
	}
	return fmt.Sprintf("%d-%d", g.FirstIndex, g.LastIndex)
}

// Summary is the group's one-line summary, e.g. "5000 entries (index
// 0-4999) in log rekor signed by a watched identity (rule ci)".
func (g Group) Summary() string {
	n := g.Count
	what := "entries"
	if n == 1 {
		what = "entry"
	}
	switch g.Kind {
	case KindIdentityMatch:
		return fmt.Sprintf("%d %s (index %s) in log %s signed by a watched identity (rule %s)", n, what, g.Range(), g.Log, orDash(g.Rule))
	case KindUnexpectedIdentity:
		return fmt.Sprintf("%d %s (index %s) in log %s signed by unexpected identities", n, what, g.Range(), g.Log)
	case KindMalformedEntry:
		return fmt.Sprintf("%d malformed %s (index %s) in log %s", n, what, g.Range(), g.Log)
	}
	return fmt.Sprintf("%d %s events (index %s) in log %s", n, g.Kind, g.Range(), g.Log)
}

// Event returns the group's summary event: the first event's ID, time and
// key id, the group's kind, severity, log, dedupe key, summary and rule, and
// no entry. Sinks use it where one event is expected (headers, exec
// variables, the top level of the JSON body).
func (g Group) Event() Event {
	first := g.Events[0]
	return Event{ID: first.ID, Kind: g.Kind, Severity: g.Severity, Log: g.Log, Time: first.Time,
		DedupeKey: g.DedupeKey, Summary: g.Summary(), Group: g.Key,
		Evidence: Evidence{KeyID: first.Evidence.KeyID, Rule: g.Rule}}
}

// Listed returns the first max events of the group (all of them when max
// is negative).
func (g Group) Listed(max int) []Event {
	if max < 0 || max >= len(g.Events) {
		return g.Events
	}
	return g.Events[:max]
}

// EntryLine renders one event of a group on one line: entry index, UUID,
// and the identity's subject and issuer when known, or the detail.
func EntryLine(e Event) string {
	var b strings.Builder
	b.WriteString(entryRef(e.Evidence.Entry))
	id := e.Evidence.Identity
	for _, k := range []string{"subject", "issuer"} {
		if v := id[k]; v != "" {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	if len(id) > 0 && id["subject"] == "" && id["issuer"] == "" {
		// Several identities ("0.subject" ...) or a bare key.
		keys := make([]string, 0, len(id))
		for k := range id {
			if strings.HasSuffix(k, "subject") || strings.HasSuffix(k, "fingerprint") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", k, id[k])
		}
	}
	if e.Evidence.Detail != "" {
		fmt.Fprintf(&b, " detail=%s", e.Evidence.Detail)
	}
	return b.String()
}

// Describe renders the group as plain text lines for humans: its fields,
// the count and index range, and the first maxListed entries, one a line
// ([EntryLine]), then how many more there are. Entry bodies and the other
// entries' evidence travel in the JSON bodies of webhooks and exec hooks.
func (g Group) Describe(maxListed int) string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	line("kind", string(g.Kind))
	line("severity", string(g.Severity))
	line("log", g.Log)
	line("rule", g.Rule)
	line("events", strconv.Itoa(g.Count))
	line("entry indexes", g.Range())
	line("dedupe key", g.DedupeKey)
	line("group", g.Key)
	if first := g.Events[0]; !first.Time.IsZero() {
		line("time", first.Time.UTC().Format("2006-01-02T15:04:05Z07:00"))
	}
	listed := g.Listed(maxListed)
	if len(listed) > 0 {
		b.WriteString("entries:\n")
		for _, e := range listed {
			fmt.Fprintf(&b, "  %s\n", EntryLine(e))
		}
	}
	if more := g.Count - len(listed); more > 0 {
		fmt.Fprintf(&b, "  ... and %d more (every entry's evidence is in the webhook and exec bodies, and in the outbox until delivered)\n", more)
	}
	return strings.TrimRight(b.String(), "\n")
}

// GroupBody is the JSON body of a group for webhooks and exec hooks: the
// summary event's fields ([Group.Event]) at the top level ("group" is its
// Event.Group key), then
//
//	"group_info": {"key": ..., "dedupe_key": ..., "count": 5000, "first_index": 0, "last_index": 4999}
//	"events":     [every event of the group, as single-event bodies are]
//
// A single event (a group of one, or an event without Group) is sent as the
// [Event] itself, as before.
type GroupBody struct {
	Event
	Info   GroupInfo `json:"group_info"`
	Events []Event   `json:"events"`
}

// GroupInfo describes a group in [GroupBody].
type GroupInfo struct {
	Key        string `json:"key"`
	DedupeKey  string `json:"dedupe_key"`
	Count      int    `json:"count"`
	FirstIndex int64  `json:"first_index"`
	LastIndex  int64  `json:"last_index"`
}

// Body returns the group's [GroupBody].
func (g Group) Body() GroupBody {
	return GroupBody{Event: g.Event(),
		Info:   GroupInfo{Key: g.Key, DedupeKey: g.DedupeKey, Count: g.Count, FirstIndex: g.FirstIndex, LastIndex: g.LastIndex},
		Events: g.Events}
}
