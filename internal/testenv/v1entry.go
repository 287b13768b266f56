package testenv

import (
	"context"

	"github.com/sigstore/rekor/pkg/generated/models"
)

// AddV1Entry submits a proposed entry of any kind (as rekor-cli upload
// does: POST /api/v1/log/entries) to the Rekor v1 log at rekorURL and
// returns its log index once Rekor has sequenced it. A rejected entry is
// a [*StatusError] carrying Rekor's answer.
func AddV1Entry(ctx context.Context, rekorURL string, entry models.ProposedEntry) (int64, error) {
	return postV1(ctx, rekorURL, entry)
}
