package alert

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Log writes each event to the monitor's structured log: level ERROR for
// critical events, WARN for warnings, INFO otherwise, with the message
// "alert" and the event's fields (the evidence under "evidence" as text).
// It never fails, so it is a safe last resort next to the other sinks.
//
// A [Group] of events is one line, message "alert group": the group's kind,
// severity, log, rule, dedupe key and summary, count, first_index and
// last_index, and under "entries" the first max_listed entries, one per
// line ([EntryLine]). The other events' evidence is in the outbox until every
// sink has them, and in the JSON bodies of webhook and exec sinks.
type Log struct {
	name   string
	logger *slog.Logger
	filter
	grouping
}

// Name implements [Sink].
func (l *Log) Name() string { return l.name }

// Send implements [Sink].
func (l *Log) Send(ctx context.Context, e Event) error {
	level := levelOf(e.Severity)
	l.logger.LogAttrs(ctx, level, "alert",
		slog.String("sink", l.name),
		slog.String("kind", string(e.Kind)),
		slog.String("severity", string(e.Severity)),
		slog.String("log", e.Log),
		slog.String("reason", e.Reason),
		slog.String("id", e.ID),
		slog.String("dedupe_key", e.DedupeKey),
		slog.String("summary", e.Summary),
		slog.String("evidence", e.Describe()),
	)
	return nil
}

// SendGroup implements [GroupSink].
func (l *Log) SendGroup(ctx context.Context, events []Event) error {
	return l.sendText(ctx, NewGroup(events))
}

func (l *Log) sendText(ctx context.Context, g Group) error {
	level := levelOf(g.Severity)
	if !l.logger.Enabled(ctx, level) {
		return nil
	}
	var b strings.Builder
	for i, e := range g.Listed(l.group.MaxListed) {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(EntryLine(e))
	}
	if more := g.Count - min(len(g.Events), l.group.MaxListed); more > 0 {
		fmt.Fprintf(&b, "\n... and %d more", more)
	}
	l.logger.LogAttrs(ctx, level, "alert group",
		slog.String("sink", l.name),
		slog.String("kind", string(g.Kind)),
		slog.String("severity", string(g.Severity)),
		slog.String("log", g.Log),
		slog.String("rule", g.Rule),
		slog.String("group", g.Key),
		slog.Int("count", g.Count),
		slog.Int64("first_index", g.FirstIndex),
		slog.Int64("last_index", g.LastIndex),
		slog.String("first_id", g.Events[0].ID),
		slog.String("dedupe_key", g.DedupeKey),
		slog.String("summary", g.Summary()),
		slog.String("entries", b.String()),
	)
	return nil
}

func levelOf(s Severity) slog.Level {
	switch s {
	case SeverityCritical:
		return slog.LevelError
	case SeverityWarning:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
