#!/usr/bin/env bash
# Stops the control plane started by scripts/k8s/up.sh (by its PID; the cluster
# process stops its own children) and removes its data.
set -euo pipefail
cache="${VIGIL_CACHE:-$HOME/.cache/vigil}"
k8s="$cache/k8s"
[[ -f "$k8s/pid" ]] || { echo "not running"; exit 0; }
pid="$(cat "$k8s/pid")"
if kill -0 "$pid" 2>/dev/null; then
	kill -TERM "$pid"
	for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
	kill -0 "$pid" 2>/dev/null && { echo "cluster (pid $pid) did not stop within 30 s"; exit 1; }
fi
rm -f "$k8s/pid"
rm -rf "$k8s/run"
echo "stopped"
