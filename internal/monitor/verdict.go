package monitor

import (
	"errors"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
)

// This file is the one place that decides what the error of a check means:
// evidence against the log (a violation), a configuration that cannot work
// (needs a human, never evidence), or no verdict (try again later).

// Result is the verdict of one check of one log.
type Result string

const (
	// ResultVerified: the log's checkpoint verified and extends the one
	// verified before; its new entries were scanned.
	ResultVerified Result = "verified"
	// ResultViolation: the log misbehaved, and the error is a
	// *checkpoint.IntegrityError carrying the evidence.
	ResultViolation Result = "violation"
	// ResultMisconfigured: the log cannot be checked as configured (a
	// *ConfigError). It is no evidence against the log.
	ResultMisconfigured Result = "misconfigured"
	// ResultError: no verdict; the log was unreachable or answered
	// something that is not a well-formed response.
	ResultError Result = "error"
)

// metricLabel is the result label of vigil_log_checks_total: a
// misconfiguration counts as no verdict there.
func (r Result) metricLabel() string {
	if r == ResultMisconfigured {
		return string(ResultError)
	}
	return string(r)
}

// metricResults are the label values of vigil_log_checks_total.
var metricResults = []Result{ResultVerified, ResultViolation, ResultError}

// ConfigError reports a check that cannot run as configured: the saved
// checkpoint or the starting checkpoint does not verify with the configured
// key and origin (a rotated key, a changed origin, a checkpoint of another
// log), or nothing of the log was ever verified and its checkpoint does not
// verify. It is never evidence against the log, even when it wraps a
// *checkpoint.IntegrityError.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// verdict judges the error of a check. The violation is nil unless the
// result is ResultViolation.
func verdict(err error) (Result, *checkpoint.IntegrityError) {
	if err == nil {
		return ResultVerified, nil
	}
	if errors.As(err, new(*ConfigError)) {
		return ResultMisconfigured, nil
	}
	var ie *checkpoint.IntegrityError
	if errors.As(err, &ie) {
		return ResultViolation, ie
	}
	return ResultError, nil
}

// badSignature reports whether err is evidence that a note is not signed by
// the keys it was verified with: the case where a key rotation or a
// configuration mistake, not an attack, may be the cause, and the keys are
// resolved again or the error explained.
func badSignature(err error) bool {
	_, ie := verdict(err)
	return ie != nil && ie.Reason == checkpoint.ReasonSignature
}

// Outcome is the verdict of one check of one log.
type Outcome struct {
	Log string
	// Checkpoint is the verified checkpoint (nil unless Err is nil).
	Checkpoint *checkpoint.Checkpoint
	// TOFU is true when Checkpoint was trusted on first use.
	TOFU bool
	// Err is nil (verified), an *checkpoint.IntegrityError (violation), a
	// *ConfigError (misconfigured) or any other error (no verdict).
	Err error
	// Witnessed: the log is witnessed by this monitor, and Cosigned says
	// whether the verified head carried the monitor's cosignature.
	Witnessed, Cosigned bool
}

// Result judges the outcome.
func (o Outcome) Result() Result {
	r, _ := verdict(o.Err)
	return r
}

// Violation returns the evidence of a violation, or nil.
func (o Outcome) Violation() *checkpoint.IntegrityError {
	_, ie := verdict(o.Err)
	return ie
}
