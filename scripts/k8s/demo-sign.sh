#!/usr/bin/env bash
# Demo: sign and verify a test image against the local Sigstore stack
# (scripts/stack/up.sh: Rekor v1, Fulcio, test OIDC issuer) and show the Vigil
# monitor's alert for it.
#
#   1. start an in-memory OCI registry on loopback
#   2. monitor check: trust the log's current checkpoint, watching the signer
#   3. bootstrap sign: build, push and keyless-sign a test image
#   4. bootstrap trust + bootstrap verify (and cosign verify, if built); with
#      DEMO_MONITOR_URL (a running monitor's API, as make demo sets it),
#      bootstrap verify --monitor also has that monitor audit the bundle
#      (split views)
#   5. monitor check: the new entry is scanned, the identity alert fires
#
# Everything listens on 127.0.0.1; the registry is stopped by its PID at exit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${VIGIL_CACHE:-$HOME/.cache/vigil}"
envfile="${VIGIL_STACK_ENV:-$cache/stack/env}"
[[ -f "$envfile" ]] || { echo "no $envfile: run scripts/stack/up.sh (make stack-up) first" >&2; exit 1; }
# shellcheck disable=SC1090
source "$envfile"
export GOTOOLCHAIN=local

work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-demo-sign.XXXXXX")"
regpid=""
cleanup() {
	[[ -n "$regpid" ]] && kill "$regpid" 2>/dev/null && wait "$regpid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "building bootstrap, monitor and a loopback registry"
(cd "$root" && go build -o "$work/bootstrap" ./cmd/bootstrap && go build -o "$work/monitor" ./cmd/monitor &&
	go build -o "$work/registry" ./scripts/k8s/registry)

"$work/registry" >"$work/registry.out" 2>&1 &
regpid=$!
for _ in $(seq 50); do [[ -s "$work/registry.out" ]] && break; sleep 0.1; done
registry="$(head -1 "$work/registry.out")"
echo "registry at $registry (pid $regpid)"

email="demo-$(date +%s)@example.com"
cat >"$work/monitor.yaml" <<YAML
state_dir: $work/state
log_format: text
logs:
  - name: rekor
    kind: rekor-v1
    url: $REKOR_URL
    public_key_file: $REKOR_PUBKEY
    origin: $REKOR_HOSTNAME
scan:
  start_at_end: true
identities:
  watch:
    - name: demo-signer
      subject: $email
      issuer: $OIDC_ISSUER
alerts:
  sinks:
    - name: log
      type: log
YAML

step "monitor check: trust the current checkpoint of $REKOR_URL, watch $email"
"$work/monitor" check --config "$work/monitor.yaml"

step "bootstrap sign as $email"
curl -fsS "$OIDC_ISSUER/token?email=$email" >"$work/token"
"$work/bootstrap" sign --registry "$registry" --allow-http-registry \
	--fulcio-url "$FULCIO_URL" --rekor-url "$REKOR_URL" --identity-token "$work/token" | tee "$work/sign.out"
image="$(grep -o "$registry/vigil/bootstrap-test@sha256:[0-9a-f]*" "$work/sign.out" | head -1)"

step "bootstrap verify $image"
"$work/bootstrap" trust --fulcio-url "$FULCIO_URL" --rekor-url "$REKOR_URL" --out "$work/trust"
monitor_args=()
[[ -n ${DEMO_MONITOR_URL:-} ]] && monitor_args=(--monitor "$DEMO_MONITOR_URL")
"$work/bootstrap" verify --image "$image" --allow-http-registry --trusted-root "$work/trust/trusted_root.json" \
	--certificate-identity "$email" --certificate-oidc-issuer "$OIDC_ISSUER" "${monitor_args[@]}"
if [[ -x "$cache/bin/cosign" ]]; then
	step "cosign verify (cosign $(cat "$cache/bin/cosign.version" | cut -d@ -f2 | cut -d' ' -f1))"
	HOME="$work" "$cache/bin/cosign" verify --trusted-root "$work/trust/trusted_root.json" \
		--certificate-identity "$email" --certificate-oidc-issuer "$OIDC_ISSUER" \
		--allow-http-registry --insecure-ignore-sct "$image" >/dev/null && echo "cosign verify: OK"
fi

step "monitor check: the signature's log entry raises the watched-identity alert"
# Rekor integrates entries asynchronously: check again until the checkpoint
# covers the new entry (at most 10 times).
for i in $(seq 10); do
	"$work/monitor" check --config "$work/monitor.yaml" >"$work/check.out" 2>&1 || true
	if grep -q 'kind=identity_match' "$work/check.out"; then
		# Whole lines: the alert line carries its evidence; callers shorten it (demo.sh's alert_lines).
		grep -E 'watched identity|kind=identity_match|verified' "$work/check.out"
		exit 0
	fi
	sleep 1
done
cat "$work/check.out"
echo "the monitor did not report $email" >&2
exit 1
