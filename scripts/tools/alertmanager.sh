#!/usr/bin/env bash
# Builds Alertmanager from its Go module at a pinned version into
# $VIGIL_CACHE/bin/alertmanager, with an alertmanager.version stamp next to it.
# Rebuilds only when the stamp differs.
#
# Used by internal/alert tests, which start it on a loopback port with
# clustering disabled and read GET /api/v2/alerts.
#
# The module zip does not contain the compiled web UI (ui/app/dist is a build
# output that `//go:embed app/dist` expects), so `go install pkg@version` cannot
# build it. We copy the module source into a scratch module under
# $VIGIL_CACHE/src/alertmanager-<version>, put a one-page placeholder in
# ui/app/dist (the API does not use the UI), and build there: Alertmanager is
# then the main module, so its own go.mod, replace directives included, decides
# every dependency version.
set -euo pipefail
# shellcheck source=progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/progress.sh"

ALERTMANAGER_VERSION="${ALERTMANAGER_VERSION:-v0.34.2}"
module="github.com/prometheus/alertmanager"

cache="${VIGIL_CACHE:-$HOME/.cache/vigil}"
bin="$cache/bin/alertmanager"
stamp="$bin.version"
want="$module/cmd/alertmanager@$ALERTMANAGER_VERSION $(go env GOVERSION)"

if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	echo "alertmanager $ALERTMANAGER_VERSION is up to date: $bin"
	exit 0
fi

export GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$cache/bin" "$cache/src"

echo "downloading $module@$ALERTMANAGER_VERSION ..."
dir="$(cd "$cache/src" && go mod download -json "$module@$ALERTMANAGER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "$dir" || ! -f "$dir/go.mod" ]]; then
	echo "alertmanager.sh: go mod download gave no source directory" >&2
	exit 1
fi

src="$cache/src/alertmanager-$ALERTMANAGER_VERSION"
rm -rf "$src"
cp -R "$dir" "$src"
chmod -R u+w "$src"
mkdir -p "$src/ui/app/dist"
cat >"$src/ui/app/dist/index.html" <<'HTML'
<!DOCTYPE html><title>Alertmanager</title><p>Built without the web UI; use the API under /api/v2/.</p>
HTML

echo "building alertmanager $ALERTMANAGER_VERSION ..."
(
	cd "$src"
	with_progress "[tools] building alertmanager $ALERTMANAGER_VERSION" go build -trimpath -mod=mod \
		-ldflags "-s -w -X github.com/prometheus/common/version.Version=${ALERTMANAGER_VERSION#v}" \
		-o "$bin.tmp" ./cmd/alertmanager
)
mv -f "$bin.tmp" "$bin"
printf '%s\n' "$want" >"$stamp.tmp"
mv -f "$stamp.tmp" "$stamp"
"$bin" --version 2>&1 | head -1
echo "installed $bin"
