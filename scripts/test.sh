#!/usr/bin/env bash
# test.sh - what `make test` and CI run: build the pinned tools, stand up the local
# Rekor v1/v2 + Fulcio stack on 127.0.0.1, lint, and run every test with the race
# detector. Integration tests FAIL (not skip) under CI=true when a server is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
export VIGIL_CACHE="${VIGIL_CACHE:-$HOME/.cache/vigil}"
t0=$(date +%s)
scripts/tools/all.sh
scripts/stack/up.sh
scripts/lint.sh
echo "[test] go test -race ./... (setup took $(( $(date +%s) - t0 ))s)"
go test -race -count=1 -timeout 30m ./...
echo "[test] done in $(( $(date +%s) - t0 ))s; the stack stays up for re-runs (make stack-down stops it)"
