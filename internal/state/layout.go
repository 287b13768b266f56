package state

import "path/filepath"

// The paths below name what other packages keep in a state directory. They
// are functions of the state directory's path, not methods of [Store], so
// that commands which must not take the directory's lock (`monitor ack`)
// can find them too. Changing one moves data on disk: existing
// deployments would lose it.

// OutboxDir is the alert outbox's directory in the state directory
// stateDir (see internal/alert).
func OutboxDir(stateDir string) string { return filepath.Join(stateDir, "outbox") }

// FiringFile is the file in the state directory stateDir that keeps the
// alert conditions that fired and are not resolved. Its name starts with a
// dot, so no log's state file can have it.
func FiringFile(stateDir string) string { return filepath.Join(stateDir, ".firing.json") }

// AckDir is the directory in the state directory stateDir where `monitor
// ack` leaves acknowledgement requests for the running monitor, which moves
// each to AckDir/done once it has applied it.
func AckDir(stateDir string) string { return filepath.Join(stateDir, "acks") }

// TUFCacheDir is the TUF metadata cache in the state directory stateDir,
// used when the config names no other (trust.tuf.cache_dir).
func TUFCacheDir(stateDir string) string { return filepath.Join(stateDir, "tuf") }

// TrustBaselineFile is the approved trust material (`monitor trust
// approve`) in the state directory stateDir, used when the config names no
// other (trust.watch.baseline_file).
func TrustBaselineFile(stateDir string) string {
	return filepath.Join(stateDir, ".trust-baseline.json")
}

// TrustFiringFile keeps the trust watch's conditions that fired and are
// not resolved.
func TrustFiringFile(stateDir string) string { return filepath.Join(stateDir, ".trust-firing.json") }

// ReconcileFile is where the pair of Rekor log rekor and CT log ct keeps
// its reconciliation state (package reconcile). Log names cannot hold "+".
func ReconcileFile(stateDir, rekor, ct string) string {
	return filepath.Join(stateDir, "reconcile", rekor+"+"+ct+".json")
}

// IndexFile is the embedded SQLite search index (package index) in the
// state directory stateDir, used when the config names no other
// (index.path). SQLite keeps IndexFile-wal and IndexFile-shm beside it.
func IndexFile(stateDir string) string { return filepath.Join(stateDir, ".index.sqlite") }

// IndexRebuildDir is where `monitor index rebuild` leaves one request per
// log (<log>.json) for the monitor, which removes it once the log's index
// is rebuilt.
func IndexRebuildDir(stateDir string) string { return filepath.Join(stateDir, "index-rebuild") }

// ArchiveDir is the append-only archive of every checkpoint the monitor
// verified or cosigned, one file per log (package archive).
func ArchiveDir(stateDir string) string { return filepath.Join(stateDir, "archive") }

// WitnessKeyFile is where `monitor witness keygen` suggests the witness's
// signing key be kept when the config names no other (witness.key_file).
func WitnessKeyFile(stateDir string) string { return filepath.Join(stateDir, "witness.key") }
