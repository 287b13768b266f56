#!/usr/bin/env bash
# demo.sh - `make demo`: stand up a real Rekor v1, Rekor v2 and CT logs on 127.0.0.1, sign a few
# entries into them, and watch both with the Vigil monitor: one-shot `monitor check`,
# then `monitor run` with metrics, while a watched identity and an unexpected one sign. A second
# Rekor v2 is witnessed by Vigil: its checkpoints carry Vigil's cosignature (verified here with openssl).
#
# The stack's trust material (trusted_root.json, signing config) is published in a local TUF
# repository (tools/tufrepo) that the monitor's trust watch polls; before the monitor run (step 5) a changed
# trusted_root.json is published, and the monitor reports it.
#
# Env: DEMO_SECONDS (default 45; 0 = keep the monitor running until Ctrl-C),
#      DEMO_LISTEN (default 127.0.0.1:9464), DEMO_TUF_LISTEN (the TUF repository's address;
#      default 127.0.0.1:0, a free port), VIGIL_CACHE.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
export VIGIL_CACHE="${VIGIL_CACHE:-$HOME/.cache/vigil}"
DEMO=$VIGIL_CACHE/demo
LISTEN=${DEMO_LISTEN:-127.0.0.1:9464}
TUF_LISTEN=${DEMO_TUF_LISTEN:-127.0.0.1:0}
SECONDS_TO_RUN=${DEMO_SECONDS:-45}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# alert_lines: the monitor's text log made readable. An alert becomes one line: kind, severity,
# log, the signer (when the evidence names it) and the summary; a burst of entries by one watched
# identity comes as one "alert group" line whose summary names the rule. Root hashes are shortened,
# and any other log line (time=...) wider than 240 columns is shortened at a word boundary, marked
# " ...", rather than cut mid-word. Other lines pass through unchanged.
alert_lines() {
	sed -u -E \
		-e 's/.*msg=alert sink=[^ ]+ (kind=[^ ]+ severity=[^ ]+ log=[^ ]+).*summary="([^"]*)".*identity subject: ([^\\"]*).*/\1 subject=\3: \2/; t' \
		-e 's/.*msg="?alert( group)?"? sink=[^ ]+ (kind=[^ ]+ severity=[^ ]+ log=[^ ]+).*summary="([^"]*)".*/\2: \3/; t' \
		-e 's/(root=[0-9a-f]{16})[0-9a-f]+/\1.../' \
		-e '/^time=.{241}/ s/^(.{1,240}) .*$/\1 .../'
}

# verify_note_sig NOTE NAME PUBPEM COSIG: verify the Ed25519 signature line of NAME in the signed note
# file NOTE with the public key PUBPEM, with openssl; COSIG=1: a C2SP cosignature/v1 line (4-byte key
# hash, 8-byte big-endian timestamp, then the signature over "cosignature/v1\ntime T\n" + the note text).
verify_note_sig() {
	local note=$1 name=$2 pub=$3 cosig=$4 d b64 ts rc
	d=$(mktemp -d)
	sed '/^$/q' "$note" | sed '$d' >"$d/text"
	b64=$(sed -n "s/^— $name //p" "$note" | head -n1)
	[[ -n $b64 ]] || { echo "no signature line of $name"; rm -rf "$d"; return 1; }
	printf %s "$b64" | base64 -d >"$d/sig.raw"
	if [[ $cosig == 1 ]]; then
		ts=$((16#$(tail -c +5 "$d/sig.raw" | head -c 8 | od -An -tx1 | tr -d ' \n')))
		{ printf 'cosignature/v1\ntime %d\n' "$ts"; cat "$d/text"; } >"$d/msg"
		tail -c +13 "$d/sig.raw" >"$d/sig"
		echo -n "$name, cosigned at $(date -u -d "@$ts" +%Y-%m-%dT%H:%M:%SZ): "
	else
		cp "$d/text" "$d/msg"
		tail -c +5 "$d/sig.raw" >"$d/sig"
		echo -n "$name: "
	fi
	openssl pkeyutl -verify -pubin -inkey "$pub" -rawin -in "$d/msg" -sigfile "$d/sig"
	rc=$?
	rm -rf "$d"
	return $rc
}
# vkey_pem VKEY: the Ed25519 public key of a cosignature/v1 verifier key (name+hash+base64(0x04||key)), PEM.
vkey_pem() {
	{ printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; printf %s "$1" | cut -d+ -f3- | base64 -d | tail -c 32; } |
		openssl pkey -pubin -inform DER -outform PEM
}

# The processes the demo starts in the background: stopped when it exits, however it exits.
MON='' TUF_PID=''
cleanup() {
	[[ -z $MON ]] || kill "$MON" 2>/dev/null || true
	[[ -z $TUF_PID ]] || kill "$TUF_PID" 2>/dev/null || true
}
trap cleanup EXIT

say "1/8 standing up Rekor v1 (rekor-server + Trillian + PostgreSQL), Rekor v2 (rekor-tiles) and a witnessed one (with Vigil as its witness), Fulcio and its CT log (ct_server), and a static-ct log (tesseract) on 127.0.0.1"
scripts/stack/up.sh
ENV=$VIGIL_CACHE/stack/env
# shellcheck disable=SC1090
source "$ENV"

say "2/8 building the monitor, the load generator and the TUF repository tool"
mkdir -p "$DEMO" bin
go build -o bin/ ./cmd/monitor ./tools/loadgen ./tools/tufrepo

say "3/8 adding signed entries (keys and Fulcio-style certificates)"
bin/loadgen -env "$ENV" -v1 20 -v2 20 -quiet

# A TUF repository (fresh keys each run) publishing the stack's trusted_root.json (its Rekor v1
# and v2 logs and Fulcio's CA) and signing config, served on 127.0.0.1 for the trust watch.
echo "--- TUF repository for the stack's trust material (tools/tufrepo):"
TUF=$DEMO/tuf
rm -rf "$TUF" "$DEMO/tuf.url"
bin/tufrepo -dir "$TUF" -from-stack-env "$ENV" -serve "$TUF_LISTEN" -url-file "$DEMO/tuf.url" >"$DEMO/tufrepo.log" 2>&1 &
TUF_PID=$!
for _ in $(seq 50); do [[ -s $DEMO/tuf.url ]] && break; kill -0 "$TUF_PID" 2>/dev/null || break; sleep 0.2; done
[[ -s $DEMO/tuf.url ]] || { cat "$DEMO/tufrepo.log"; echo "tufrepo did not start serving" >&2; exit 1; }
TUF_URL=$(cat "$DEMO/tuf.url")
sed -n '/^serving /q; p' "$DEMO/tufrepo.log"
echo "mirror $TUF_URL (pinned root $TUF/1.root.json)"

rm -rf "$DEMO/state"
cat >"$DEMO/config.yml" <<YAML
# Vigil demo configuration (written by scripts/demo.sh)
state_dir: $DEMO/state
listen: "$LISTEN"
log_format: text
interval: 5s
logs:
  - name: rekor-v1
    kind: rekor-v1
    url: $REKOR_URL
    public_key_file: $REKOR_PUBKEY
    origin: $REKOR_HOSTNAME
    staleness: 2m
  - name: rekor-v2
    kind: rekor-v2
    url: $REKOR_V2_READ_URL
    public_key_file: $REKOR_V2_PUBKEY
    origin: $REKOR_V2_ORIGIN
    staleness: 2m
  - name: ctlog          # the CT log Fulcio writes to (certificate-transparency-go's ct_server)
    kind: ct
    url: $CT_URL
    public_key_file: $CT_PUBKEY
    staleness: 2m
  - name: static-ct      # a static-ct-api log (tesseract), read from its tiles
    kind: static-ct
    url: $STATIC_CT_READ_URL
    public_key_file: $STATIC_CT_PUBKEY
    origin: $STATIC_CT_ORIGIN
    staleness: 2m
reconcile:               # hold the CT log against Rekor v1: SCTs honoured, watched certificates used
  clock_skew: 1s         # (default 10s) the stack's logs share the monitor's clock
  pairs:
    - rekor: rekor-v1
      ct: ctlog
      ca_files: [$FULCIO_ROOT]
      unused_window: 10s # (default 1h) a watched identity's certificate nobody signs with
scan:
  start_at_end: true     # watch what is signed from now on
identities:
  watch:
    - name: alice
      subject: 'alice@example\.com'
  expect:
    - name: example-staff
      subject: '.*@example\.(com|org)'
    - name: ci-workflows
      subject: 'https://github\.com/.*'
trust:
  tuf:                   # the trust material, from the TUF repository above (verified from the pinned root)
    mirror: $TUF_URL
    root_file: $TUF/1.root.json
  watch:                 # what expires: the TUF metadata, the material's CAs, and the stack's test CA
    interval: 1m         # (default 1h; 1m is the shortest)
    ca_files: [$STACK_DIR/testca/ca.crt]
alerts:
  sinks:
    - name: log
      type: log
YAML
echo "config: $DEMO/config.yml"
bin/monitor check --config "$DEMO/config.yml" --check-config

say "4/8 one-shot integrity check (monitor check): fetch, verify, persist"
bin/monitor check --config "$DEMO/config.yml" 2>"$DEMO/check.log" || { cat "$DEMO/check.log"; exit 1; }

say "5/8 the witnessed Rekor v2: a second rekor-tiles asks Vigil (the stack's witness, monitor run with witness.listen) to cosign each checkpoint before publishing it"
echo "--- its witness policy ($VIGIL_WITNESS_POLICY):"
grep -v '^#' "$VIGIL_WITNESS_POLICY"
bin/loadgen -env "$ENV" -v2-witnessed 3 -quiet
echo "--- $REKOR_V2_WITNESSED_READ_URL/checkpoint (the log's signature, then Vigil's cosignature):"
curl -fsS "$REKOR_V2_WITNESSED_READ_URL/checkpoint" >"$DEMO/witnessed-checkpoint"
cat "$DEMO/witnessed-checkpoint"
echo "--- verified with openssl: the log's key ($REKOR_V2_WITNESSED_PUBKEY) and the witness's (VIGIL_WITNESS_VKEY $VIGIL_WITNESS_VKEY)"
vkey_pem "$VIGIL_WITNESS_VKEY" >"$DEMO/witness.pub"
verify_note_sig "$DEMO/witnessed-checkpoint" "$REKOR_V2_WITNESSED_ORIGIN" "$REKOR_V2_WITNESSED_PUBKEY" 0
verify_note_sig "$DEMO/witnessed-checkpoint" vigil-stack-witness "$DEMO/witness.pub" 1
# The log fails open: a checkpoint Vigil refuses is published without the cosignature (docs/witness.md).

say "6/8 monitor run: watching both logs and the TUF repository; metrics at http://$LISTEN/metrics"
# An unreviewed change of the trust material: the TUF repository publishes a trusted_root.json
# that lists one more log (key: the stack's client key). monitor check recorded the material it
# saw as the approved baseline, so the trust watch's first check reports trust_changed, critical.
echo "publishing a changed trusted_root.json (one more log, not approved) in the TUF repository:"
bin/tufrepo -dir "$TUF" -publish -from-stack-env "$ENV" -extra-tlog "http://127.0.0.1:31399=$CLIENT_PUBKEY" | grep -E '^(targets|timestamp) ' ||
	echo "(publishing failed; the trust watch has nothing new to report)"
bin/monitor run --config "$DEMO/config.yml" >"$DEMO/monitor.log" 2>&1 &
MON=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://$LISTEN/readyz" 2>/dev/null && break; sleep 0.2; done
curl -fsS "http://$LISTEN/readyz"

say "7/8 alice (watched) and mallory@evil.test (unexpected) sign; the monitor reports both"
bin/loadgen -env "$ENV" -v1 2 -v2 2 -mix cert -san alice@example.com -quiet
bin/loadgen -env "$ENV" -v1 1 -v2 1 -mix cert -san mallory@evil.test -quiet
# A certificate for alice appears in both CT logs, and nobody signs with it in Rekor: the CT
# entries match the watch rule, and after the pair's 10s window the monitor reports it unused
# (what a stolen OIDC token looks like).
bin/loadgen -env "$ENV" -ct 1 -static-ct 1 -san alice@example.com -quiet
sleep 18
# The monitor logs "checkpoint verified" for each log at every check (every 5s), also when the
# log has not grown, so its last lines are the same tree heads again: show each distinct
# checkpoint (log, size, root) once, the last two of each log, oldest first.
echo "--- monitor log: verified checkpoints, each tree head once (last 2 per log; root hashes shortened)"
grep -E 'checkpoint verified' "$DEMO/monitor.log" | sed -E 's/^time=[^ ]+ //; s/(root=[0-9a-f]{16})[0-9a-f]+/\1.../' |
	awk '!seen[$0]++ {
		lg = $0; sub(/.* log=/, "", lg); sub(/ .*/, "", lg)
		if (!(lg in n)) order[++k] = lg
		line[lg, ++n[lg]] = $0
	}
	END { for (i = 1; i <= k; i++) { lg = order[i]; for (j = (n[lg] > 2 ? n[lg] - 1 : 1); j <= n[lg]; j++) print line[lg, j] } }' || true
echo "--- alerts delivered (full evidence in $DEMO/monitor.log):"
grep -E 'msg=(alert|"alert group") ' "$DEMO/monitor.log" | grep -E 'alice|evil|kind=trust_changed' | grep -vE 'log=(ctlog|static-ct)' | tail -n 9 | alert_lines || true
echo "--- CT logs: a certificate for alice in both, and reported unused in Rekor v1 (the pair rekor-v1+ctlog):"
grep -E 'msg=(alert|"alert group") ' "$DEMO/monitor.log" | grep -E 'log=(ctlog|static-ct)' | tail -n 4 | alert_lines || true
# The trust watch: the TUF roles as last verified, then what expires (levels: 0 ok, 1 warning,
# 2 critical, 3 expired).
METRICS=$(curl -fsS "http://$LISTEN/metrics" || true)
metric() { awk -v s="$1" '$1 == s { print $2 }' <<<"$METRICS"; }
utc() { [[ -n $1 ]] && date -u -d "@$(printf '%.0f' "$1")" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo "${1:-?}"; }
echo "--- trust watch: TUF repository $TUF_URL as the monitor verified it (vigil_trust_*):"
echo "vigil_trust_update_up $(metric vigil_trust_update_up) (1: the last update verified), vigil_trust_unapproved_changes $(metric vigil_trust_unapproved_changes)"
for role in root targets snapshot timestamp; do
	printf 'role %-9s version %-3s expires %s  level %s\n' "$role" "$(metric "vigil_trust_role_version{role=\"$role\"}")" \
		"$(utc "$(metric "vigil_trust_role_expiry_timestamp_seconds{role=\"$role\"}")")" "$(metric "vigil_trust_role_expiry_level{role=\"$role\"}")"
done
echo "--- trust watch: what expires (vigil_certificate_expiry_*):"
# A series' labels may hold spaces (a CA's subject): the value is what follows the last one.
grep -E '^vigil_certificate_expiry_(timestamp_seconds|level)' <<<"$METRICS" |
	while IFS= read -r line; do
		series=${line% *} value=${line##* }
		case $series in
		*timestamp_seconds*) echo "$series not after $(utc "$value")" ;;
		*) echo "$series $value (0 ok, 1 warning, 2 critical, 3 expired)" ;;
		esac
	done || true
echo "--- metrics:"
curl -fsS "http://$LISTEN/metrics" | grep -E '^vigil_(log_tree_size|log_last_verified|log_entries_scanned_total|identity_matches_total|unexpected_identities_total|log_integrity_failures_total\{[^}]*reason="fork")|index_entries_added_total)' || true
# The index: what did alice sign, in which logs (Rekor v2 has no search of its own). Each
# result carries an inclusion proof in the log's latest verified checkpoint.
echo "--- search: what did alice@example.com sign? (monitor search; the page: http://$LISTEN/search?subject=alice%40example.com)"
bin/monitor search --server "http://$LISTEN" --subject alice@example.com --limit 6 || true

say "8/8 sign a test image keyless (Fulcio + Rekor), verify it (bootstrap and cosign), and see the monitor's alert"
# demo-sign.sh prints the monitor's whole alert line; alert_lines turns it into
# one readable line. stderr (the monitor's log) goes through too, so that the order stays.
# bootstrap verify --monitor: the running monitor audits the signature's bundle (split views).
DEMO_MONITOR_URL="http://$LISTEN" scripts/k8s/demo-sign.sh 2>&1 | alert_lines
# Keyless signing put the certificate's precertificate in the CT log (Fulcio) and the certificate,
# with the CT log's SCT, in Rekor v1: the pair sees both and reconciles them.
sleep 6
echo "--- the pair rekor-v1+ctlog after keyless signing (vigil_reconcile_*: sct = SCTs the CT log honoured):"
curl -fsS "http://$LISTEN/metrics" | grep -E '^vigil_reconcile_(pending_certificates|resolved_total|dropped_total)' || true

if [[ "$SECONDS_TO_RUN" == 0 ]]; then
	say "monitor keeps running (pid $MON): http://$LISTEN/metrics, log $DEMO/monitor.log; Ctrl-C stops it"
	wait $MON
else
	say "monitor keeps running for ${SECONDS_TO_RUN}s (DEMO_SECONDS=0 keeps it up): http://$LISTEN/metrics"
	sleep "$SECONDS_TO_RUN"
fi
echo "demo done; the stack stays up (make stack-down stops it)"
