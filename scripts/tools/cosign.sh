#!/usr/bin/env bash
# Builds cosign from its Go module at a pinned version into
# $VIGIL_CACHE/bin/cosign, with a cosign.version stamp next to it. Rebuilds only
# when the stamp differs.
#
# Used by the bootstrap sign/verify tests (internal/deploy) to check that a
# signature made by `bootstrap sign` verifies with a real cosign given the
# private trust root (cosign verify --trusted-root ...).
#
# The version must build with the project's Go (go1.26.8, GOTOOLCHAIN=local):
# cosign v3.1.x declares go 1.26.0. cosign v3 verifies signatures in the
# Sigstore bundle format (an OCI referrer of the image) by default.
set -euo pipefail
# shellcheck source=progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/progress.sh"

COSIGN_VERSION="${COSIGN_VERSION:-v3.1.3}"
module="github.com/sigstore/cosign/v3"

cache="${VIGIL_CACHE:-$HOME/.cache/vigil}"
bin="$cache/bin/cosign"
stamp="$bin.version"
want="$module/cmd/cosign@$COSIGN_VERSION $(go env GOVERSION)"

if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	echo "cosign $COSIGN_VERSION is up to date: $bin"
	exit 0
fi

export GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$cache/bin" "$cache/src"
work="$(mktemp -d "$cache/src/cosign-$COSIGN_VERSION.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "building cosign $COSIGN_VERSION ..."
cd "$work"
with_progress "[tools] building cosign $COSIGN_VERSION" env GOBIN="$work" go install -trimpath \
	-ldflags "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION" \
	"$module/cmd/cosign@$COSIGN_VERSION"
mv -f "$work/cosign" "$bin.tmp"
mv -f "$bin.tmp" "$bin"
printf '%s\n' "$want" >"$stamp.tmp"
mv -f "$stamp.tmp" "$stamp"
"$bin" version 2>/dev/null | grep -i gitversion || true
echo "installed $bin"
