package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exec runs a command per event. The event is written to its stdin as JSON
// (the webhook body) and described by environment variables, added to the
// monitor's own environment:
//
//	VIGIL_EVENT_ID, VIGIL_EVENT_KIND, VIGIL_EVENT_SEVERITY, VIGIL_EVENT_LOG,
//	VIGIL_EVENT_REASON, VIGIL_EVENT_TIME (RFC 3339), VIGIL_EVENT_DEDUPE_KEY,
//	VIGIL_EVENT_SUMMARY, VIGIL_EVENT_RESOLVED ("true" for recovered events),
//	VIGIL_EVENT_RESOLVES_KIND, VIGIL_EVENT_RESOLVES_DEDUPE_KEY,
//	VIGIL_EVENT_RULE, VIGIL_EVENT_KEY_ID, VIGIL_EVENT_ENTRY_INDEX,
//	VIGIL_EVENT_ENTRY_UUID, VIGIL_EVENT_DESCRIPTION (the evidence as text)
//
// Exit status 0 means delivered. The command runs in its own process group;
// when the timeout passes the whole group is killed, and the outbox retries.
//
// A [Group] of events is one run: stdin is its [GroupBody] (every event,
// with its evidence), the VIGIL_EVENT_* variables describe the group's
// summary event ([Group.Event]: VIGIL_EVENT_DEDUPE_KEY is the group's,
// VIGIL_EVENT_DESCRIPTION names the first entries), and VIGIL_EVENT_COUNT,
// VIGIL_EVENT_GROUP, VIGIL_EVENT_FIRST_INDEX and VIGIL_EVENT_LAST_INDEX are
// added. For a single event VIGIL_EVENT_COUNT is 1.
type Exec struct {
	cfg SinkConfig
	filter
	grouping
}

// Name implements [Sink].
func (x *Exec) Name() string { return x.cfg.Name }

// ExecError is returned when the command fails: it exited non-zero, was
// killed, or could not start. Stderr holds the end of its standard error.
type ExecError struct {
	Command string
	Err     error
	Stderr  string
}

func (e *ExecError) Error() string {
	msg := fmt.Sprintf("running %s: %v", e.Command, e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}
func (e *ExecError) Unwrap() error { return e.Err }

// Send implements [Sink].
func (x *Exec) Send(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding event %s: %w", e.ID, err)
	}
	return x.run(ctx, body, append(EventEnv(e), "VIGIL_EVENT_COUNT=1"))
}

// SendGroup implements [GroupSink].
func (x *Exec) SendGroup(ctx context.Context, events []Event) error {
	g := NewGroup(events)
	body, err := json.Marshal(g.Body())
	if err != nil {
		return fmt.Errorf("encoding group of %d events from %s: %w", len(events), events[0].ID, err)
	}
	ge := g.Event()
	env := EventEnv(ge)
	for i, v := range env {
		if strings.HasPrefix(v, "VIGIL_EVENT_DESCRIPTION=") {
			env[i] = "VIGIL_EVENT_DESCRIPTION=" + g.Describe(x.group.MaxListed)
		}
	}
	env = append(env, "VIGIL_EVENT_COUNT="+strconv.Itoa(len(events)), "VIGIL_EVENT_GROUP="+g.Key,
		"VIGIL_EVENT_FIRST_INDEX="+strconv.FormatInt(g.FirstIndex, 10), "VIGIL_EVENT_LAST_INDEX="+strconv.FormatInt(g.LastIndex, 10))
	return x.run(ctx, body, env)
}

// run runs the command with body on stdin and env added to the environment.
func (x *Exec) run(ctx context.Context, body []byte, env []string) error {
	ctx, cancel := withTimeout(ctx, x.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, x.cfg.Command[0], x.cfg.Command[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(body)
	var stderr tailBuffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Kill the process group, so a shell script's children die too.
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return &ExecError{Command: x.cfg.Command[0], Err: err, Stderr: strings.TrimSpace(stderr.String())}
	}
	return nil
}

// EventEnv returns the VIGIL_EVENT_* variables for e, as KEY=VALUE.
func EventEnv(e Event) []string {
	env := []string{
		"VIGIL_EVENT_ID=" + e.ID,
		"VIGIL_EVENT_KIND=" + string(e.Kind),
		"VIGIL_EVENT_SEVERITY=" + string(e.Severity),
		"VIGIL_EVENT_LOG=" + e.Log,
		"VIGIL_EVENT_REASON=" + e.Reason,
		"VIGIL_EVENT_TIME=" + rfc3339(e.Time),
		"VIGIL_EVENT_DEDUPE_KEY=" + e.DedupeKey,
		"VIGIL_EVENT_SUMMARY=" + e.Summary,
		"VIGIL_EVENT_RESOLVED=" + strconv.FormatBool(e.Kind == KindRecovered),
		"VIGIL_EVENT_RULE=" + e.Evidence.Rule,
		"VIGIL_EVENT_KEY_ID=" + e.Evidence.KeyID,
		"VIGIL_EVENT_DESCRIPTION=" + e.Describe(),
	}
	if r := e.Resolves; r != nil {
		env = append(env, "VIGIL_EVENT_RESOLVES_KIND="+string(r.Kind), "VIGIL_EVENT_RESOLVES_DEDUPE_KEY="+r.DedupeKey)
	}
	if en := e.Evidence.Entry; en != nil {
		env = append(env, "VIGIL_EVENT_ENTRY_INDEX="+strconv.FormatInt(en.Index, 10), "VIGIL_EVENT_ENTRY_UUID="+en.UUID)
	}
	return env
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct{ b []byte }

const tailMax = 2048

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailMax {
		t.b = append(t.b[:0], t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
