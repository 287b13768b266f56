#!/usr/bin/env bash
# all.sh - build every pinned tool the tests need into $VIGIL_CACHE/bin (each script
# skips what its version stamp says is already built).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export GOTOOLCHAIN=local
t0=$(date +%s)
step() { local s=$(date +%s); "$@"; echo "[tools] $* done in $(( $(date +%s) - s ))s"; }
step "$here/promtool.sh"
step "$here/alertmanager.sh"
step "$here/cosign.sh"
step "$repo/scripts/k8s/build.sh"
echo "[tools] all tools ready in $(( $(date +%s) - t0 ))s"
