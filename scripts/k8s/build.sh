#!/usr/bin/env bash
# Builds the binaries of the loopback Kubernetes test control plane from the Go
# module proxy at pinned versions into $VIGIL_CACHE/bin:
#
#   etcd                     go.etcd.io/etcd/server/v3   $ETCD_VERSION
#   kube-apiserver, kube-controller-manager, kube-scheduler
#                            k8s.io/kubernetes           $K8S_VERSION
#   kwok                     sigs.k8s.io/kwok            $KWOK_VERSION
#
# Each binary gets a <name>.version stamp; a binary is rebuilt only when its
# stamp differs. The scratch modules that pin the dependency graphs are kept as
# text in scripts/k8s/modules/<name>/go.{mod,sum}.txt (so the project's go.mod
# and `go mod tidy` never see them) and are copied to
# $VIGIL_CACHE/src/<name>-<version> at build time.
#
# Kubernetes from an empty build cache takes ~6-9 minutes on 2 cores and ~3 GB of
# memory; etcd ~40 s; kwok ~70 s. While a binary builds, a line with the time
# so far is printed every 30 s (scripts/tools/progress.sh).
#
# Usage: scripts/k8s/build.sh [etcd|k8s|kwok ...]   (default: all)
set -euo pipefail

ETCD_VERSION=v3.7.3
K8S_VERSION=v1.37.2
KWOK_VERSION=v0.8.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../tools/progress.sh
source "$here/../tools/progress.sh"
cache="${VIGIL_CACHE:-$HOME/.cache/vigil}"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
mkdir -p "$cache/bin" "$cache/src"
gover="$(go env GOVERSION)"

# uptodate NAME STAMP: whether $cache/bin/NAME exists with stamp STAMP.
uptodate() {
	[[ -x "$cache/bin/$1" && -f "$cache/bin/$1.version" && "$(cat "$cache/bin/$1.version")" == "$2" ]]
}

# install NAME STAMP FILE: atomically moves FILE to $cache/bin/NAME and stamps it.
install_bin() {
	mv -f "$3" "$cache/bin/$1.tmp"
	mv -f "$cache/bin/$1.tmp" "$cache/bin/$1"
	printf '%s\n' "$2" >"$cache/bin/$1.version.tmp"
	mv -f "$cache/bin/$1.version.tmp" "$cache/bin/$1.version"
	echo "installed $cache/bin/$1 ($2)"
}

# srcdir NAME VERSION: a fresh scratch module dir from modules/NAME.
srcdir() {
	local d="$cache/src/$1-$2"
	mkdir -p "$d"
	cp "$here/modules/$1/go.mod.txt" "$d/go.mod"
	cp "$here/modules/$1/go.sum.txt" "$d/go.sum"
	echo "$d"
}

build_etcd() {
	local stamp="go.etcd.io/etcd/server/v3@$ETCD_VERSION $gover"
	uptodate etcd "$stamp" && { echo "etcd $ETCD_VERSION is up to date"; return; }
	local d t0=$SECONDS
	d="$(srcdir etcd "$ETCD_VERSION")"
	echo "building etcd $ETCD_VERSION in $d ..."
	(cd "$d" && with_progress "[k8s] building etcd $ETCD_VERSION" go build -trimpath -ldflags "-s -w" -o "$d/etcd" go.etcd.io/etcd/server/v3)
	install_bin etcd "$stamp" "$d/etcd"
	echo "etcd built in $((SECONDS - t0)) s"
}

build_k8s() {
	local stamp="k8s.io/kubernetes@$K8S_VERSION $gover" need=0 c
	for c in kube-apiserver kube-controller-manager kube-scheduler; do
		uptodate "$c" "$stamp" || need=1
	done
	[[ $need == 0 ]] && { echo "kubernetes $K8S_VERSION is up to date"; return; }
	local d t0=$SECONDS minor
	d="$(srcdir k8s "$K8S_VERSION")"
	minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
	local ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
	ld+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
	echo "building kubernetes $K8S_VERSION in $d (6-9 min from a cold cache) ..."
	for c in kube-apiserver kube-controller-manager kube-scheduler; do
		(cd "$d" && with_progress "[k8s] building $c $K8S_VERSION" go build -trimpath -ldflags "$ld" -o "$d/$c" "k8s.io/kubernetes/cmd/$c")
		install_bin "$c" "$stamp" "$d/$c"
		echo "$c done after $((SECONDS - t0)) s"
	done
}

build_kwok() {
	local stamp="sigs.k8s.io/kwok@$KWOK_VERSION $gover"
	uptodate kwok "$stamp" && { echo "kwok $KWOK_VERSION is up to date"; return; }
	local d t0=$SECONDS
	d="$(srcdir kwok "$KWOK_VERSION")"
	echo "building kwok $KWOK_VERSION in $d ..."
	(cd "$d" && with_progress "[k8s] building kwok $KWOK_VERSION" go build -trimpath -ldflags "-s -w" -o "$d/kwok" sigs.k8s.io/kwok/cmd/kwok)
	install_bin kwok "$stamp" "$d/kwok"
	echo "kwok built in $((SECONDS - t0)) s"
}

targets=("$@")
[[ ${#targets[@]} == 0 ]] && targets=(etcd kwok k8s)
for t in "${targets[@]}"; do
	case "$t" in
	etcd) build_etcd ;;
	k8s) build_k8s ;;
	kwok) build_kwok ;;
	*) echo "unknown target $t (etcd|k8s|kwok)" >&2; exit 2 ;;
	esac
done
