// Package alert tells on-call engineers what the monitor found: once,
// reliably, and with the evidence to act on it and to prove it.
//
// # Model
//
// An [Event] is one thing to report: its [Kind] (integrity violation with a
// reason, stale log, identity match, unexpected identity, malformed entry,
// recovered, test), a [Severity], the log's name, the time, a stable
// DedupeKey, a one-line Summary and [Evidence]: the raw signed checkpoints
// verbatim, proof hashes, the entry (index, UUID, leaf hash, body), the
// identity fields that matched and the rule's name. The package knows nothing
// about checkpoints beyond these strings; internal/monitor fills them in.
//
// Integrity violations and stale logs are conditions: they hold until the
// monitor reports a KindRecovered event built with [Recovered], which names
// the condition's DedupeKey in Event.Resolves. Alertmanager uses that to
// resolve the alert; other sinks just deliver the recovery as a message.
//
// A [Sink] delivers events to one receiver. [NewSinks] builds them from the
// alerts: section of the monitor's config ([Config], [SinkConfig]):
//
//   - webhook ([Webhook]): the Event as JSON, optionally signed with
//     HMAC-SHA256 (X-Vigil-Signature-256) and with a bearer token;
//   - slack ([Slack]): a Slack-compatible incoming webhook message;
//   - alertmanager ([Alertmanager]): Alertmanager's v2 API, with conditions
//     re-sent while they hold and resolved when they clear;
//   - exec ([Exec]): a command with the event in VIGIL_EVENT_* variables and
//     JSON on stdin, killed after a timeout;
//   - log ([Log]): the monitor's own structured log.
//
// # Delivery: the outbox
//
// The monitor never sends directly. It calls [Outbox.Enqueue], which returns
// only when the events are durable on disk, and only then records in its own
// state that it has moved past what caused them. [Outbox.Run] delivers in the
// background: one goroutine per sink, oldest event first, with capped,
// jittered exponential backoff after failures (per sink, and per event). A
// sink that fails or hangs delays only itself; the others go on. Within one
// sink, an event that keeps failing is retried while newer, unrelated events
// go past it (of the events due, the most severe goes first, and of those the
// one waiting longest: since it was enqueued, or since its retry came due),
// but events of the same condition (same DedupeKey, or a
// recovery and the event it resolves) are delivered in enqueue order, so a
// recovery never overtakes its firing event. Delivery is at-least-once: receivers
// drop repeats by DedupeKey (webhook header X-Vigil-Dedupe-Key, Alertmanager
// label dedupe_key, exec variable VIGIL_EVENT_DEDUPE_KEY).
//
// The outbox is bounded (max_events). When it is full, Enqueue never blocks:
// under when_full: drop_oldest (the default) it drops the oldest queued event
// of the lowest severity, under when_full: reject it returns [ErrOutboxFull]
// and stores nothing, so the monitor keeps its state where it was and tries
// again on its next pass. Both are counted in vigil_alerts_dropped_total.
//
// # On-disk layout
//
// The outbox is a directory, normally <state-dir>/outbox (state.OutboxDir):
//
//	lock                                flock held by the open Outbox (state.LockFile)
//	1732476000123456789-9f86d081.jsonl  the events of one Enqueue, one JSON record a line:
//	                                    {"version":1,"enqueued":...,"event":{...}}
//	delivered.log                       the delivery journal, one line per delivery that
//	                                    does not finish its file:
//	                                    "sent <id> <sink>" (delivered to that sink) or
//	                                    "done <id>" (delivered everywhere, or dropped)
//	sinks/alertmanager/firing.json      the Alertmanager sink's firing conditions
//	*.corrupt                           damaged event files set aside (see below)
//
// Event IDs are the enqueue time in unix nanoseconds plus a random suffix, so
// they sort in enqueue order; an event file is named after its first event
// and is never written over. A scan that queues thousands of events writes
// one file, not thousands. Files are written with state.WriteFileAtomic: a
// temp file (".<name>.tmp-*"), fsynced, then put in place; an event file is
// linked into place (failing if the name exists), and the directory is
// fsynced before Enqueue returns. Journal lines are appended without fsync:
// losing one to a power failure costs a duplicate, never an event. Once every
// event of a file is finished, the file goes; the journal is rewritten
// without the lines of files that are gone at Open and when it has grown,
// and emptied when nothing is queued.
//
// # Crash semantics
//
// A crash (SIGKILL, power loss) at any point loses no acknowledged event and
// at worst sends one again:
//
//   - during Enqueue: a leftover temp file is deleted by the next [Open];
//     the caller never saw success, so it never moved its state past the
//     cause, and it re-detects and re-enqueues the events after the restart;
//   - after a send, before its journal line is on disk (a power failure):
//     the event is sent to that sink again after the restart (a duplicate
//     with the same DedupeKey);
//   - after the last event of a file is finished, before the file is
//     removed: that event is sent again.
//
// Damage from outside is logged and set aside, and the rest of the queue goes
// on: an event file that cannot be read at all is renamed to *.corrupt; of a
// file with some damaged records, the others are queued and a copy of the
// file is kept as *.corrupt. A file with a record of a later version is left
// alone, with the journal lines that may be its, for the release that wrote
// it.
//
// On Open, each event is queued again for every configured sink that accepts
// it and, by the journal, has not had it. A sink added since gets the old
// events too (those still on disk); a sink removed from the config stops
// holding events back.
//
// # Metrics
//
// Registered on the Registerer passed to [Open]:
// vigil_alerts_sent_total{sink}, vigil_alert_failures_total{sink},
// vigil_alert_queue_depth, vigil_alert_oldest_queued_timestamp_seconds and
// vigil_alerts_dropped_total{reason}.
//
// # Wiring (internal/monitor, cmd/monitor)
//
//	sinks, err := alert.NewSinks(cfg.Alerts, logger)          // cfg.Alerts is an alert.Config
//	ob, err := alert.Open(state.OutboxDir(stateDir), sinks, reg, logger, cfg.Alerts.Outbox)
//	defer ob.Close()
//	go ob.Run(ctx)                                            // in the errgroup; returns nil when ctx ends
//	...
//	stored, err := ob.Enqueue(ctx, alert.Event{Kind: alert.KindIntegrityViolation,
//		Severity: alert.SeverityCritical, Log: "rekor", Reason: "fork",
//		Evidence: alert.Evidence{OldCheckpoint: oldRaw, NewCheckpoint: newRaw, Proof: hexProof, KeyID: keyID}})
//	if err != nil { /* do not save state; retry next pass */ }
//	// later, when the condition clears:
//	ob.Enqueue(ctx, alert.Recovered(stored[0], time.Now(), ""))
//
// `monitor test-alert` calls [TestAlert] with the sinks from NewSinks.
package alert
