// Package trust watches the Sigstore trust material of a private
// deployment: the trusted_root.json (log keys, certificate authorities,
// timestamp authorities) and the signing config, as published by a TUF
// repository, and reports what changed and whether the change was
// approved.
//
// # Model
//
// The TUF repository is the source of truth, and go-tuf v2 is the
// verifier: [TUF.Update] runs go-tuf's client workflow (root rotation,
// signature thresholds, rollback and freeze protection, target hashes)
// against one mirror and yields a [Snapshot]: the verified versions and
// expiries of the TUF roles and the raw bytes of the trust material. A
// failed update is an [UpdateError] whose [Reason] says what went wrong
// (a bad signature, an unmet threshold, a rollback, expired metadata, an
// unreachable mirror, a bad target); it never replaces the last good
// snapshot ([TUF.Last]). Verified metadata is cached on disk, so rollback
// protection survives restarts.
//
// [Diff] compares the trust material of two snapshots instance by
// instance (Rekor logs, CT logs, Fulcio CAs, TSAs, signing config
// service URLs) and returns [Change] values for trust_changed events.
//
// A change the operator expected is not an incident: `monitor trust
// approve` records the current material as the approved [Baseline]
// ([SaveBaseline]); [Baseline.Approved] tells whether a change leads to
// that approved material.
//
// # Expiry
//
// What runs out of validity (endpoint TLS certificates, the CA and TSA
// chains and log key windows of a trusted root, CA files) is listed and
// graded in expiry.go; [Snapshot.Parsed] gives it the trusted root of an
// update. The expiry of the TUF metadata itself is in [Snapshot].Roles:
// metadata that expires unrenewed fails the next update with
// [ReasonFreeze].
//
// # Files
//
//	doc.go       this documentation
//	tuf.go       TUF watcher: TUF, TUFConfig, Snapshot, Role, UpdateError, Reason
//	diff.go      Diff and Change
//	baseline.go  Baseline, SaveBaseline, LoadBaseline
//	expiry.go    expiries of certificates and log keys
//	tuftest/     a real TUF repository served on 127.0.0.1, for tests
package trust
