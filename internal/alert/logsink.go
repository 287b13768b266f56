package alert

import (
	"context"
	"log/slog"
)

// Log writes each event to the monitor's structured log: level ERROR for
// critical events, WARN for warnings, INFO otherwise, with the message
// "alert" and the event's fields (the evidence under "evidence" as text).
// It never fails, so it is a safe last resort next to the other sinks.
type Log struct {
	name   string
	logger *slog.Logger
	filter
}

// Name implements [Sink].
func (l *Log) Name() string { return l.name }

// Send implements [Sink].
func (l *Log) Send(ctx context.Context, e Event) error {
	level := slog.LevelInfo
	switch e.Severity {
	case SeverityCritical:
		level = slog.LevelError
	case SeverityWarning:
		level = slog.LevelWarn
	}
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
