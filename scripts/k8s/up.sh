#!/usr/bin/env bash
# Starts the loopback Kubernetes test control plane in the background (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, KWOK; binaries from
# scripts/k8s/build.sh) and prints the kubeconfig to use:
#
#   scripts/k8s/up.sh && export KUBECONFIG=$VIGIL_CACHE/k8s/run/kubeconfig
#   go run ./cmd/bootstrap up --chart ../shared/charts/scaffold-0.6.113.tgz
#   scripts/k8s/down.sh
#
# Nothing runs in the "pods" (there is no container runtime): Deployments roll
# out and Jobs complete, that is all.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${VIGIL_CACHE:-$HOME/.cache/vigil}"
k8s="$cache/k8s"
run="$k8s/run"
mkdir -p "$k8s"
export GOTOOLCHAIN=local

if [[ -f "$k8s/pid" ]] && kill -0 "$(cat "$k8s/pid")" 2>/dev/null; then
	echo "already running (pid $(cat "$k8s/pid")); kubeconfig: $run/kubeconfig"
	exit 0
fi
"$here/build.sh"
(cd "$root" && go build -o "$k8s/cluster" ./scripts/k8s/cluster)
nohup "$k8s/cluster" -dir "$run" >"$k8s/cluster.log" 2>&1 &
pid=$!
echo "$pid" >"$k8s/pid"
for _ in $(seq 600); do
	[[ -f "$run/ready" ]] && break
	kill -0 "$pid" 2>/dev/null || { echo "control plane failed to start:"; cat "$k8s/cluster.log"; exit 1; }
	sleep 0.2
done
[[ -f "$run/ready" ]] || { echo "control plane not ready after 120 s; see $k8s/cluster.log"; exit 1; }
cat "$k8s/cluster.log"
echo "export KUBECONFIG=$run/kubeconfig"
