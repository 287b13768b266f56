// Package witness makes the monitor a C2SP witness (c2sp.org/tlog-witness)
// of the logs it verifies: a log asks it to cosign each new checkpoint
// before publishing it, and it cosigns only checkpoints consistent with
// everything it verified or cosigned of that log before.
//
// One source of truth: the witness's record of a log is the monitor's
// verified state of that log (package state), not a second copy. A
// cosigned checkpoint becomes the log's saved checkpoint, from which the
// monitor's next check proves the log's published head; a checkpoint the
// monitor verified is what the next add-checkpoint must extend.
// state.Store.Update serialises the two per log, so a check and a
// cosignature never both start from the same state and write diverging
// successors (the monitor re-proves a state that moved under its check,
// see package monitor), and a request's check of the old size and its
// write of the new checkpoint are one atomic step, as the spec requires.
// Every cosigned checkpoint is archived (package archive) before it is
// cosigned.
//
// The HTTP API, on a listener of its own:
//
//	POST /add-checkpoint                   c2sp.org/tlog-witness
//	GET  /<hex(sha256(origin))>/checkpoint the latest checkpoint of the log
//	                                       with that origin that the monitor
//	                                       verified or cosigned, cosigned now
//
// add-checkpoint answers as the spec says: 200 with the cosignature line;
// 400 for a malformed request; 404 for an origin this witness does not
// witness; 403 when no signature by the log's key verifies; 409 with the
// size it knows (text/x.tlog.size) when the old size is not that size; a
// plain 409 (text/plain, no size: there is nothing to retry from) when the
// sizes are equal and the roots differ, a fork, as the reference witness
// (transparency-dev/witness) answers it; 422 when the consistency proof
// does not verify.
package witness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/state"
)

// MaxBody bounds an add-checkpoint request: 63 proof lines and a
// checkpoint with a few dozen signatures fit many times over.
const MaxBody = 64 << 10

// maxProof is the spec's limit on consistency proof lines.
const maxProof = 63

// Log is one log the witness knows.
type Log struct {
	// Name is the configured log name, which names its state.
	Name string
	// Origin is the log's checkpoint origin.
	Origin string
	// Witnessed: add-checkpoint cosigns the log's checkpoints. A log that
	// is not witnessed is only served on the read path.
	Witnessed bool
	// Verify verifies a note the log signed with its current keys.
	Verify func(raw []byte) (*checkpoint.Checkpoint, error)
	// VerifySaved verifies the saved checkpoint: the current keys and
	// those whose validity ended (a key rotation). Nil: Verify.
	VerifySaved func(raw []byte) (*checkpoint.Checkpoint, error)
}

// Config wires a Witness.
type Config struct {
	Store   *state.Store
	Archive *archive.Archive
	// Key makes the cosignatures (LoadKey).
	Key     *Key
	Logs    []Log
	Metrics *Metrics
	Logger  *slog.Logger
	Now     func() time.Time
	// OnFork, when set, is told of a log that asked for a cosignature of
	// a second root at a size this witness verified or cosigned: both
	// checkpoints signed by the log (Old the known one), a fork. The
	// request is refused (409) whatever OnFork does.
	OnFork func(ctx context.Context, log string, ie *checkpoint.IntegrityError)
}

// Witness verifies and cosigns checkpoints.
type Witness struct {
	cfg      Config
	byOrigin map[string]*Log
	byHash   map[string]*Log
}

// New returns a witness of cfg.Logs.
func New(cfg Config) (*Witness, error) {
	if cfg.Store == nil || cfg.Key == nil {
		return nil, errors.New("witness: a state store and a key are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	w := &Witness{cfg: cfg, byOrigin: map[string]*Log{}, byHash: map[string]*Log{}}
	for i := range cfg.Logs {
		l := &w.cfg.Logs[i]
		if l.VerifySaved == nil {
			l.VerifySaved = l.Verify
		}
		if prev := w.byOrigin[l.Origin]; prev != nil {
			return nil, fmt.Errorf("witness: logs %s and %s have the same origin %q", prev.Name, l.Name, l.Origin)
		}
		w.byOrigin[l.Origin] = l
		w.byHash[OriginHash(l.Origin)] = l
		if l.Witnessed {
			cfg.Metrics.init(l.Name)
		}
	}
	return w, nil
}

// OriginHash is the path segment that names a log on the read path: the
// lower-case hex SHA-256 of its origin.
func OriginHash(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return hex.EncodeToString(h[:])
}

// VerifierKey returns the witness's cosignature/v1 verifier key, the form
// witness policies and peers take.
func (w *Witness) VerifierKey() string { return w.cfg.Key.VKey }

// Verifier returns the verifier of the witness's cosignatures.
func (w *Witness) Verifier() note.Verifier { return w.cfg.Key.Signer.Verifier() }

// Request is a parsed add-checkpoint request.
type Request struct {
	OldSize uint64
	Proof   [][]byte
	// Checkpoint is the signed note as submitted.
	Checkpoint []byte
}

// ParseRequest parses an add-checkpoint body. Errors name what is wrong.
func ParseRequest(body []byte) (*Request, error) {
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return nil, errors.New("no old size line")
	}
	num, ok := bytes.CutPrefix(line, []byte("old "))
	if !ok {
		return nil, fmt.Errorf("first line %q is not \"old <size>\"", trunc(line))
	}
	if len(num) == 0 || (num[0] == '0' && len(num) > 1) {
		return nil, fmt.Errorf("old size %q is not a decimal without leading zeroes", trunc(num))
	}
	old, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("old size %q: %w", trunc(num), err)
	}
	r := &Request{OldSize: old}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, errors.New("no empty line between the proof and the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(r.Proof) == maxProof {
			return nil, fmt.Errorf("more than %d consistency proof lines", maxProof)
		}
		h, err := base64.StdEncoding.DecodeString(string(line))
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("consistency proof line %d %q is not a base64 SHA-256 hash", len(r.Proof)+1, trunc(line))
		}
		r.Proof = append(r.Proof, h)
	}
	if len(rest) == 0 {
		return nil, errors.New("no checkpoint after the empty line")
	}
	r.Checkpoint = rest
	return r, nil
}

func trunc(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// Error is a refused add-checkpoint: Status is the HTTP status the spec
// gives, Reason the metric label.
type Error struct {
	Status int
	Reason string
	// Known is the size the witness knows, for 409.
	Known uint64
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Refusal reasons: the result label of vigil_witness_requests_total.
const (
	ReasonBadRequest = "bad_request"
	ReasonUnknownLog = "unknown_log"
	ReasonSignature  = "signature"
	ReasonConflict   = "conflict"
	ReasonFork       = "fork"
	ReasonProof      = "proof"
	ReasonError      = "error"
	ResultCosigned   = "cosigned"
)

func refuse(status int, reason string, format string, args ...any) *Error {
	return &Error{Status: status, Reason: reason, Err: fmt.Errorf(format, args...)}
}

// Add verifies a request and, when it holds, records its checkpoint as the
// log's state, archives it and returns the cosignature lines. A refusal is
// an *Error.
func (w *Witness) Add(ctx context.Context, body []byte) ([]byte, error) {
	req, err := ParseRequest(body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, ReasonBadRequest, "malformed add-checkpoint request: %w", err)
	}
	origin, _, _ := bytes.Cut(req.Checkpoint, []byte("\n"))
	l := w.byOrigin[string(origin)]
	if l == nil || !l.Witnessed {
		return nil, refuse(http.StatusNotFound, ReasonUnknownLog, "this witness does not witness a log with origin %q", trunc(origin))
	}
	cp, err := l.Verify(req.Checkpoint)
	if err != nil {
		var ie *checkpoint.IntegrityError
		if errors.As(err, &ie) && ie.Reason == checkpoint.ReasonSignature {
			return nil, &Error{Status: http.StatusForbidden, Reason: ReasonSignature, Err: fmt.Errorf("checkpoint of %s: %w", l.Name, err)}
		}
		return nil, &Error{Status: http.StatusBadRequest, Reason: ReasonBadRequest, Err: fmt.Errorf("checkpoint of %s: %w", l.Name, err)}
	}
	if req.OldSize > cp.Size {
		return nil, refuse(http.StatusBadRequest, ReasonBadRequest, "old size %d is larger than the checkpoint's size %d", req.OldSize, cp.Size)
	}
	if req.OldSize == 0 && len(req.Proof) > 0 {
		return nil, refuse(http.StatusBadRequest, ReasonBadRequest, "old size 0 with a consistency proof: the proof must be empty")
	}
	now := w.cfg.Now()
	err = w.cfg.Store.Update(l.Name, func(prev *state.State) (*state.State, error) {
		var known *checkpoint.Checkpoint
		if prev != nil {
			if prev.TreeID != "" {
				return nil, refuse(http.StatusInternalServerError, ReasonError, "state of %s is of tree %q: a witnessed log has one tree", l.Name, prev.TreeID)
			}
			k, err := l.VerifySaved(prev.Checkpoint)
			if err != nil {
				return nil, refuse(http.StatusInternalServerError, ReasonError, "saved checkpoint of %s no longer verifies: %w", l.Name, err)
			}
			known = k
		}
		var size uint64
		if known != nil {
			size = known.Size
		}
		if req.OldSize != size {
			return nil, &Error{Status: http.StatusConflict, Reason: ReasonConflict, Known: size,
				Err: fmt.Errorf("old size %d is not %d, the size of the latest checkpoint of %s this monitor verified or cosigned", req.OldSize, size, l.Name)}
		}
		if known != nil && cp.Size == size && !bytes.Equal(cp.Hash, known.Hash) {
			err := fmt.Errorf("checkpoint of %s at size %d has root %x, but the one this monitor verified has %x", l.Name, size, cp.Hash, known.Hash)
			w.fork(ctx, l.Name, known.Raw, req.Checkpoint, err)
			return nil, &Error{Status: http.StatusConflict, Reason: ReasonFork, Known: size, Err: err}
		}
		if known != nil && cp.Size > size && size > 0 {
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size, cp.Size, req.Proof, known.Hash, cp.Hash); err != nil {
				w.cfg.Logger.WarnContext(ctx, "witness: consistency proof does not verify; not cosigning",
					"log", l.Name, "old", size, "size", cp.Size, "err", err, "submitted", string(req.Checkpoint))
				return nil, refuse(http.StatusUnprocessableEntity, ReasonProof, "consistency proof from %d to %d of %s does not verify: %w", size, cp.Size, l.Name, err)
			}
		}
		if w.cfg.Archive != nil {
			if err := w.cfg.Archive.Add(l.Name, archive.Entry{Size: cp.Size, Root: cp.Hash, Note: req.Checkpoint, Time: now}); err != nil {
				var ce *archive.ConflictError
				if errors.As(err, &ce) {
					w.fork(ctx, l.Name, ce.Existing.Note, req.Checkpoint, err)
					return nil, &Error{Status: http.StatusConflict, Reason: ReasonFork, Known: size, Err: err}
				}
				return nil, refuse(http.StatusInternalServerError, ReasonError, "archiving checkpoint of %s: %w", l.Name, err)
			}
		}
		next := &state.State{Origin: cp.Origin, Checkpoint: req.Checkpoint, VerifiedAt: now, AdvancedAt: now}
		if prev != nil {
			next.Scan = prev.Scan
			if cp.Size == size {
				// The same tree head: keep the saved note (and when the log
				// last grew).
				next.Checkpoint, next.AdvancedAt = prev.Checkpoint, prev.AdvancedAt
			}
		}
		return next, nil
	})
	if err != nil {
		var we *Error
		if !errors.As(err, &we) {
			we = refuse(http.StatusInternalServerError, ReasonError, "recording checkpoint of %s: %w", l.Name, err)
		}
		w.cfg.Metrics.refused(l.Name, we.Reason)
		return nil, we
	}
	sig, err := w.cosign(req.Checkpoint)
	if err != nil {
		w.cfg.Metrics.refused(l.Name, ReasonError)
		return nil, refuse(http.StatusInternalServerError, ReasonError, "cosigning checkpoint of %s: %w", l.Name, err)
	}
	w.cfg.Metrics.cosigned(l.Name, cp.Size)
	if w.cfg.Archive != nil {
		if n, err := w.cfg.Archive.Len(l.Name); err == nil {
			w.cfg.Metrics.archived(l.Name, n)
		}
	}
	return sig, nil
}

// cosign returns the cosignature line of the witness on the checkpoint
// whose signed note is raw.
func (w *Witness) cosign(raw []byte) ([]byte, error) {
	text := checkpoint.SignedText(raw)
	signed, err := note.Sign(&note.Note{Text: text}, w.cfg.Key.Signer)
	if err != nil {
		return nil, err
	}
	return signed[len(text)+1:], nil
}

// Cosigned returns raw, a signed note, with a fresh cosignature of the
// witness in place of any earlier one.
func (w *Witness) Cosigned(raw []byte) ([]byte, error) {
	sig, err := w.cosign(raw)
	if err != nil {
		return nil, err
	}
	text := checkpoint.SignedText(raw)
	out := []byte(text + "\n")
	mine := fmt.Sprintf("— %s ", w.cfg.Key.Signer.Name())
	for _, line := range strings.SplitAfter(strings.TrimPrefix(string(raw), text+"\n"), "\n") {
		if line == "" || strings.HasPrefix(line, mine) {
			continue
		}
		out = append(out, line...)
	}
	return append(out, sig...), nil
}

// HasCosignature reports whether the signed note raw carries a valid
// cosignature of this witness.
func (w *Witness) HasCosignature(raw []byte) bool {
	return HasCosignature(raw, w.Verifier())
}

// HasCosignature reports whether the signed note raw carries a valid
// signature by v.
func HasCosignature(raw []byte, v note.Verifier) bool {
	_, err := note.Open(raw, note.VerifierList(v))
	return err == nil
}

// Latest returns the latest checkpoint the monitor verified or cosigned of
// the log whose origin hashes to hash (OriginHash), cosigned now; nil for
// an unknown log or one with nothing verified yet.
func (w *Witness) Latest(hash string) ([]byte, *Log, error) {
	l := w.byHash[hash]
	if l == nil {
		return nil, nil, nil
	}
	st, err := w.cfg.Store.Load(l.Name)
	if err != nil || st == nil {
		return nil, l, err
	}
	if _, err := l.VerifySaved(st.Checkpoint); err != nil {
		return nil, l, fmt.Errorf("saved checkpoint of %s no longer verifies: %w", l.Name, err)
	}
	out, err := w.Cosigned(st.Checkpoint)
	return out, l, err
}

// Handler serves the witness API.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", w.serveAdd)
	mux.HandleFunc("GET /{hash}/checkpoint", w.serveLatest)
	return mux
}

func (w *Witness) serveAdd(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { w.cfg.Metrics.duration.Observe(time.Since(start).Seconds()) }()
	body, err := readBody(rw, r)
	if err != nil {
		w.cfg.Metrics.refused("", ReasonBadRequest)
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	sig, err := w.Add(r.Context(), body)
	var we *Error
	switch {
	case err == nil:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Write(sig)
	case errors.As(err, &we) && we.Status == http.StatusConflict && we.Reason == ReasonFork:
		// A second root at a size this witness knows: no size to retry
		// from. With text/x.tlog.size the log's witness client would
		// retry the same request at once (tessera before v1.0.4: without
		// limit), flooding the witness until its timeout.
		http.Error(rw, we.Error(), http.StatusConflict)
	case errors.As(err, &we) && we.Status == http.StatusConflict:
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", we.Known)
	case errors.As(err, &we):
		if we.Status >= 500 {
			w.cfg.Logger.ErrorContext(r.Context(), "witness request failed", "err", err)
		}
		http.Error(rw, we.Error(), we.Status)
	default:
		http.Error(rw, err.Error(), http.StatusInternalServerError)
	}
}

func readBody(rw http.ResponseWriter, r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(rw, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, fmt.Errorf("request body exceeds %d bytes", MaxBody)
	}
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	return buf.Bytes(), nil
}

func (w *Witness) serveLatest(rw http.ResponseWriter, r *http.Request) {
	cp, l, err := w.Latest(r.PathValue("hash"))
	switch {
	case err != nil:
		w.cfg.Logger.ErrorContext(r.Context(), "witness: serving the latest checkpoint", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
	case l == nil:
		http.Error(rw, "unknown log: the path is /<lower-case hex SHA-256 of the log's origin>/checkpoint", http.StatusNotFound)
	case cp == nil:
		http.Error(rw, fmt.Sprintf("nothing of log %s verified yet", l.Name), http.StatusNotFound)
	default:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Header().Set("Cache-Control", "no-store")
		rw.Write(cp)
	}
}

// fork reports a log's request to cosign a second root at a known size:
// logged with both checkpoints, and passed to Config.OnFork.
func (w *Witness) fork(ctx context.Context, log string, known, submitted []byte, err error) {
	w.cfg.Logger.ErrorContext(ctx, "LOG INTEGRITY VIOLATION: a log asked for a cosignature of a second root at a size this monitor verified or cosigned",
		"log", log, "err", err, "known", string(known), "submitted", string(submitted))
	if w.cfg.OnFork != nil {
		w.cfg.OnFork(ctx, log, &checkpoint.IntegrityError{Reason: checkpoint.ReasonFork, Old: known, New: submitted,
			Err: fmt.Errorf("the log asked this witness to cosign it: %w", err)})
	}
}
