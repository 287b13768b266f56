package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Slack posts to a Slack-compatible incoming webhook (Slack, Mattermost,
// Rocket.Chat accept the same shape): a "text" fallback plus Block Kit blocks
// with a header, the summary, the main fields, and the evidence as
// preformatted text. Mattermost ignores the blocks and shows the text, which
// therefore carries the evidence too. A [Group] of events is one message
// ([SlackGroupMessage]) with the count, the index range and the first
// entries.
type Slack struct {
	cfg    SinkConfig
	client *http.Client
	filter
	grouping
}

// Name implements [Sink].
func (s *Slack) Name() string { return s.cfg.Name }

// Send implements [Sink].
func (s *Slack) Send(ctx context.Context, e Event) error {
	body, err := json.Marshal(SlackMessage(e, s.cfg.RunbookURL))
	if err != nil {
		return fmt.Errorf("encoding slack message for %s: %w", e.ID, err)
	}
	return s.post(ctx, body)
}

// SendGroup implements [GroupSink].
func (s *Slack) SendGroup(ctx context.Context, events []Event) error {
	return s.sendText(ctx, NewGroup(events))
}

func (s *Slack) sendText(ctx context.Context, g Group) error {
	body, err := json.Marshal(SlackGroupMessage(g, s.group.MaxListed, s.cfg.RunbookURL))
	if err != nil {
		return fmt.Errorf("encoding slack message for the group of %s: %w", g.Events[0].ID, err)
	}
	return s.post(ctx, body)
}

func (s *Slack) post(ctx context.Context, body []byte) error {
	target, shown, err := sinkURL(s.cfg, true)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "vigil-monitor")
	ctx, cancel := withTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	return post(ctx, s.client, target, shown, body, h)
}

// slackTextLimit keeps blocks under Slack's 3000-character limit per text
// object.
const slackTextLimit = 2900

// SlackMessage builds the incoming-webhook payload for e. runbook, when set,
// is linked as runbook#<kind>.
func SlackMessage(e Event, runbook string) map[string]any {
	return slackMessage(e, e.Describe(), runbook)
}

// SlackGroupMessage builds the payload for a group: the summary event's
// header and summary ("5000 entries (index 0-4999) in log ..."), and as
// evidence the group's description with its first maxListed entries.
func SlackGroupMessage(g Group, maxListed int, runbook string) map[string]any {
	return slackMessage(g.Event(), g.Describe(maxListed), runbook)
}

func slackMessage(e Event, describe, runbook string) map[string]any {
	icon := map[Severity]string{SeverityCritical: ":rotating_light:", SeverityWarning: ":warning:", SeverityInfo: ":information_source:"}[e.Severity]
	if e.Kind == KindRecovered {
		icon = ":white_check_mark:"
	}
	title := fmt.Sprintf("%s %s", strings.ToUpper(string(e.Severity)), e.Kind.AlertName())
	if e.Log != "" {
		title += " (log " + e.Log + ")"
	}
	evidence := truncate(describe, slackTextLimit-8)
	text := fmt.Sprintf("%s %s: %s\n```\n%s\n```", icon, title, e.Summary, evidence)
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(title, 150)}},
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": truncate(icon+" "+e.Summary, slackTextLimit)}},
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "```\n" + evidence + "\n```"}},
	}
	ctx := "dedupe key `" + e.DedupeKey + "` · event `" + e.ID + "`"
	if runbook != "" {
		kind := e.Kind
		if e.Resolves != nil {
			kind = e.Resolves.Kind
		}
		ctx += fmt.Sprintf(" · <%s#%s|runbook>", runbook, kind)
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{{"type": "mrkdwn", "text": truncate(ctx, slackTextLimit)}}})
	return map[string]any{"text": text, "blocks": blocks}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…(truncated)")
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(truncated)"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
