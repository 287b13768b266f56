#!/usr/bin/env bash
# lint.sh - the house checks: gofmt, go vet, staticcheck, go mod tidy is a no-op.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export GOTOOLCHAIN=local
bad=$(gofmt -l $(git ls-files '*.go'))
if [[ -n "$bad" ]]; then
	echo "gofmt would change:" >&2
	echo "$bad" >&2
	exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
cp go.mod /tmp/vigil-go.mod.$$; cp go.sum /tmp/vigil-go.sum.$$
go mod tidy
if ! cmp -s go.mod /tmp/vigil-go.mod.$$ || ! cmp -s go.sum /tmp/vigil-go.sum.$$; then
	echo "go mod tidy changed go.mod/go.sum; commit the result" >&2
	exit 1
fi
rm -f /tmp/vigil-go.mod.$$ /tmp/vigil-go.sum.$$
echo "lint ok"
