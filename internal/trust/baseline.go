package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/vigil-tlog/vigil/internal/state"
)

// baselineFormat is the version of the baseline file format.
const baselineFormat = 1

// Baseline is the trust material an operator approved (`monitor trust
// approve`). The file is JSON:
//
//	{
//	  "format": 1,
//	  "approved_at": "2026-01-02T03:04:05Z",
//	  "roles": [{"name": "root", "version": 2, "expires": "..."}, ...],
//	  "trusted_root": "<base64 of the raw trusted_root.json>",
//	  "signing_config": "<base64 of the raw signing config>"
//	}
//
// The raw bytes are kept exactly as the TUF repository served them (their
// hashes are those its targets metadata lists). A Baseline is not modified
// after LoadBaseline returns it and is safe for concurrent use.
type Baseline struct {
	Format        int       `json:"format"`
	ApprovedAt    time.Time `json:"approved_at"`
	Roles         []Role    `json:"roles,omitempty"`
	TrustedRoot   []byte    `json:"trusted_root"`
	SigningConfig []byte    `json:"signing_config,omitempty"`

	index map[string]instance // the material by instanceKey
}

// SaveBaseline records the trust material of s, approved now, in the file
// at path, replacing it atomically (mode 0600). It fails if the material
// does not parse.
func SaveBaseline(path string, s *Snapshot) error {
	if s == nil || len(s.TrustedRoot) == 0 {
		return errors.New("saving trust baseline: no trust material")
	}
	if _, err := instances(s); err != nil {
		return fmt.Errorf("saving trust baseline: %w", err)
	}
	b := Baseline{
		Format:        baselineFormat,
		ApprovedAt:    time.Now().UTC(),
		Roles:         slices.Clone(s.Roles),
		TrustedRoot:   s.TrustedRoot,
		SigningConfig: s.SigningConfig,
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding trust baseline: %w", err)
	}
	if err := state.WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving trust baseline: %w", err)
	}
	return nil
}

// LoadBaseline reads the baseline file at path. A missing file is no
// baseline: nil, nil.
func LoadBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading trust baseline: %w", err)
	}
	var b Baseline
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("parsing trust baseline %s: %w", path, err)
	}
	if b.Format != baselineFormat {
		return nil, fmt.Errorf("trust baseline %s: unsupported format %d", path, b.Format)
	}
	if len(b.TrustedRoot) == 0 {
		return nil, fmt.Errorf("trust baseline %s: no trusted root", path)
	}
	if b.index, err = instances(b.Snapshot()); err != nil {
		return nil, fmt.Errorf("trust baseline %s: %w", path, err)
	}
	return &b, nil
}

// Snapshot returns the approved material as a Snapshot (FetchedAt is the
// approval time), e.g. to Diff it against the current one.
func (b *Baseline) Snapshot() *Snapshot {
	return &Snapshot{Roles: b.Roles, TrustedRoot: b.TrustedRoot, SigningConfig: b.SigningConfig, FetchedAt: b.ApprovedAt}
}

// Approved reports whether c leads to the approved material: for an added
// or changed instance, whether the baseline has that instance with
// exactly c.After's fields; for a removal, whether the baseline lacks the
// instance. A nil Baseline, or one whose material does not parse,
// approves nothing.
func (b *Baseline) Approved(c Change) bool {
	if b == nil {
		return false
	}
	index := b.index
	if index == nil { // not from LoadBaseline
		var err error
		if index, err = instances(b.Snapshot()); err != nil {
			return false
		}
	}
	got, ok := index[c.key()]
	switch c.Op {
	case OpAdded, OpChanged:
		return ok && maps.Equal(got.fields, c.After)
	case OpRemoved:
		return !ok
	}
	return false
}
