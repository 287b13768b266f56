#!/usr/bin/env bash
# Builds promtool (Prometheus rule checker and rule unit-test runner) from the
# Prometheus Go module at a pinned version into $VIGIL_CACHE/bin/promtool, with a
# promtool.version stamp next to it. Rebuilds only when the stamp differs.
#
# Used by internal/alert/assets_test.go (promtool check rules / test rules) and CI.
#
# Prometheus publishes its Go module as v0.3XX.Y for release 3.XX.Y. Its go.mod
# has no replace or exclude directives, so `go install pkg@version` builds it
# with exactly the dependency versions the release pins; the module cache is the
# only scratch space it needs.
set -euo pipefail
# shellcheck source=progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/progress.sh"

PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.316.0}"

cache="${VIGIL_CACHE:-$HOME/.cache/vigil}"
bin="$cache/bin/promtool"
stamp="$bin.version"
want="github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION $(go env GOVERSION)"

if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	echo "promtool $PROMETHEUS_MODULE_VERSION is up to date: $bin"
	exit 0
fi

export GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$cache/bin" "$cache/src"
work="$(mktemp -d "$cache/src/promtool-$PROMETHEUS_MODULE_VERSION.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# 0.316.0 -> 3.16.0, for `promtool --version`.
release="${PROMETHEUS_MODULE_VERSION#v0.}"
release="3.$((10#${release%%.*} - 300)).${release#*.}"

echo "building promtool $PROMETHEUS_MODULE_VERSION (Prometheus $release) ..."
cd "$work"
with_progress "[tools] building promtool $PROMETHEUS_MODULE_VERSION" env GOBIN="$work" go install -trimpath \
	-ldflags "-s -w -X github.com/prometheus/common/version.Version=$release" \
	"github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
mv -f "$work/promtool" "$bin.tmp"
mv -f "$bin.tmp" "$bin"
printf '%s\n' "$want" >"$stamp.tmp"
mv -f "$stamp.tmp" "$stamp"
"$bin" --version | head -1
echo "installed $bin"
