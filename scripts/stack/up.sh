#!/usr/bin/env bash
# up.sh - start Vigil's local Sigstore stack on loopback for tests, the demo and benchmarks.
#
#   Rekor v1  rekor-server (sigstore/rekor)      -> Trillian log server + log signer -> PostgreSQL (Debian)
#   Rekor v2  rekor-tiles POSIX (writes tiles)   +  tools/tileserve (serves the tiles, read side)
#   witnessed a second rekor-tiles (rekor-tiles-witnessed, origin rekor-tiles-witnessed.local) with a
#   Rekor v2  witness policy naming Vigil's witness: the repo's own monitor (vigil-monitor, `monitor run`
#             with witness.listen) cosigns each checkpoint before it is published; tileserve-witnessed
#             serves its tiles
#   CT log    ct_server (RFC 6962 API)           -> the same Trillian (second tree) -> PostgreSQL
#   static-ct tesseract POSIX (static-ct-api)    +  tools/tileserve as tileserve-staticct (read side)
#   Fulcio    file CA (keys/fulcio-root.crt)     +  tools/devoidc (TEST-ONLY OIDC issuer); logs every
#             precertificate in the CT log and embeds the SCT. Both CT logs trust Fulcio's root and
#             loadgen's test CA ($VIGIL_STACK_DIR/testca, created here with loadgen -init-ca).
#
# Pinned servers are built with `go install pkg@version` into $VIGIL_CACHE/bin (stamp <name>.version,
# rebuilt only when the pinned version changes); Vigil's own tools are built from this work tree on
# every run (seconds with a warm build cache), Vigil's monitor too (vigil-monitor, the stack's witness). Data, logs, PIDs and keys live in $VIGIL_STACK_DIR.
# Keys, the database and the Trillian trees are created once and reused, so re-running after down.sh
# restarts the same logs. Idempotent: running processes are left alone, unless their binary or their
# arguments changed (then they are restarted), or the CT logs' roots file changed.
#
# Env knobs (all optional):
#   VIGIL_CACHE      tool cache (default $HOME/.cache/vigil)
#   VIGIL_STACK_DIR  stack state (default $VIGIL_CACHE/stack); env file is $VIGIL_STACK_DIR/env
#   FRESH=1          stop the stack and wipe its data (DB, trees, tiles, static-ct log) first; keys,
#                    loadgen's test CA and binaries kept
#   SMOKE=0          skip the smoke check (one v1 and one v2 entry, a Fulcio certificate whose
#                    precertificate grows the CT log, one static-ct entry; checkpoints fetched)
#   VIGIL_*_PORT     ports, see the list below; everything binds 127.0.0.1 except two metrics
#                    listeners the upstream servers hard-wire to all interfaces (see README notes):
#                    rekor-server :2112 (not configurable) and Fulcio's --metrics-port. tesseract
#                    has no metrics listener (OTel push only) and serves /debug/pprof on its port.
#   VIGIL_PG_DIR     PostgreSQL cluster directory (default $VIGIL_STACK_DIR/data/pg, or, when the
#                    postgres user cannot reach that path, e.g. under /root, a directory in
#                    /var/lib/postgresql/vigil/ recorded in $VIGIL_STACK_DIR/data/pg.path)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VIGIL_CACHE=${VIGIL_CACHE:-$HOME/.cache/vigil}
STACK=${VIGIL_STACK_DIR:-$VIGIL_CACHE/stack}
BIN=$VIGIL_CACHE/bin
DATA=$STACK/data RUN=$STACK/run LOGS=$STACK/logs KEYS=$STACK/keys

TRILLIAN_VERSION=v1.8.0
REKOR_VERSION=v1.5.4        # v1.5.5 declares go 1.27
REKOR_TILES_VERSION=v2.3.0  # v2.4.x declares go 1.27
FULCIO_VERSION=v1.8.8
CT_VERSION=v1.4.0           # certificate-transparency-go: ct_server
TESSERACT_VERSION=v0.1.1

HOST=127.0.0.1
PG_PORT=${VIGIL_PG_PORT:-31432}
TRILLIAN_RPC_PORT=${VIGIL_TRILLIAN_RPC_PORT:-31090} TRILLIAN_HTTP_PORT=${VIGIL_TRILLIAN_HTTP_PORT:-31091}
SIGNER_RPC_PORT=${VIGIL_SIGNER_RPC_PORT:-31190} SIGNER_HTTP_PORT=${VIGIL_SIGNER_HTTP_PORT:-31191}
REKOR_PORT=${VIGIL_REKOR_PORT:-31300}
TILES_HTTP_PORT=${VIGIL_TILES_HTTP_PORT:-31303} TILES_GRPC_PORT=${VIGIL_TILES_GRPC_PORT:-31301}
TILES_METRICS_PORT=${VIGIL_TILES_METRICS_PORT:-31314} TILES_READ_PORT=${VIGIL_TILES_READ_PORT:-31380}
FULCIO_HTTP_PORT=${VIGIL_FULCIO_HTTP_PORT:-31555} FULCIO_GRPC_PORT=${VIGIL_FULCIO_GRPC_PORT:-31554}
FULCIO_METRICS_PORT=${VIGIL_FULCIO_METRICS_PORT:-31513} OIDC_PORT=${VIGIL_OIDC_PORT:-31556}
CT_PORT=${VIGIL_CT_PORT:-31662} CT_METRICS_PORT=${VIGIL_CT_METRICS_PORT:-31664}
STATIC_CT_PORT=${VIGIL_STATIC_CT_PORT:-31663} STATIC_CT_READ_PORT=${VIGIL_STATIC_CT_READ_PORT:-31680}
WTILES_HTTP_PORT=${VIGIL_WTILES_HTTP_PORT:-31403} WTILES_GRPC_PORT=${VIGIL_WTILES_GRPC_PORT:-31401}
WTILES_METRICS_PORT=${VIGIL_WTILES_METRICS_PORT:-31414} WTILES_READ_PORT=${VIGIL_WTILES_READ_PORT:-31480}
WITNESS_PORT=${VIGIL_WITNESS_PORT:-31390} WITNESS_MONITOR_PORT=${VIGIL_WITNESS_MONITOR_PORT:-31392}
REKOR_HOSTNAME=rekor.local           # v1 checkpoint origin is "<hostname> - <treeID>"
REKOR_V2_ORIGIN=rekor-tiles.local    # v2 checkpoint origin
CT_PREFIX=vigil-ct                   # CT log URL: http://$HOST:$CT_PORT/$CT_PREFIX
STATIC_CT_ORIGIN=static-ct.local     # static-ct checkpoint origin (and submission prefix, sans scheme)
REKOR_V2_WITNESSED_ORIGIN=rekor-tiles-witnessed.local # the witnessed Rekor v2's origin
WITNESS_NAME=vigil-stack-witness     # the stack's Vigil witness: its key name (cosignature lines)
# Trillian's PEM key loader (ct_server's private_key) only reads a legacy-encrypted PEM, and refuses an
# empty password: keys/ct-signer.trillian.pem is keys/ct-signer.pem encrypted with this.
CT_KEY_PASS=vigil-stack

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

now() { date +%s.%N; }
T0=$(now) TSTEP=$T0
say() { local t; t=$(now); printf '[up %6.2fs +%5.2fs] %s\n' "$(awk "BEGIN{print $t - $T0}")" "$(awk "BEGIN{print $t - $TSTEP}")" "$*"; TSTEP=$t; }
die() { echo "up.sh: $*" >&2; exit 1; }

# pid_ok PID BIN: PID is alive and runs BIN (guards against a recycled PID in a stale file).
pid_ok() {
  local exe
  kill -0 "$1" 2>/dev/null || return 1
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  [ "${exe% (deleted)}" = "$2" ]
}
# alive PID: PID exists and is not a zombie (an exited orphan stays one until PID 1 reaps it, which
# in some containers takes seconds).
alive() { kill -0 "$1" 2>/dev/null && [ "$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# kill_wait PID: SIGTERM, then SIGKILL after 5 s.
kill_wait() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do alive "$1" || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}
# running NAME: the PID file of NAME names a live process running $BIN/NAME, and that binary was not
# replaced since it started (a replaced binary shows as "(deleted)": the process is restarted).
running() {
  local f=$RUN/$1.pid p exe
  [ -s "$f" ] || return 1
  p=$(head -n1 "$f")
  pid_ok "$p" "$BIN/$1" || return 1
  exe=$(readlink "/proc/$p/exe")
  if [ "$exe" != "$BIN/$1" ]; then
    say "$1: binary replaced since pid $p started; restarting"
    kill_wait "$p"
    return 1
  fi
}
# stop NAME [WHY]: stop NAME if it runs (so that start restarts it).
stop() {
  running "$1" || return 0
  local p; p=$(head -n1 "$RUN/$1.pid")
  say "$1: ${2:-stopping}; restarting pid $p"
  kill_wait "$p"
}
# same_args NAME ARGS...: the running NAME was started with exactly ARGS.
same_args() {
  local name=$1; shift
  cmp -s "/proc/$(head -n1 "$RUN/$name.pid")/cmdline" <(printf '%s\0' "$BIN/$name" "$@")
}
# start NAME ARGS...: start $BIN/NAME in the background unless already running with the same ARGS (a
# process started with other arguments is restarted); PID -> $RUN/NAME.pid
start() {
  local name=$1; shift
  if running "$name" && ! same_args "$name" "$@"; then stop "$name" "arguments changed"; fi
  if running "$name"; then echo "  $name already running (pid $(head -n1 "$RUN/$name.pid"))"; return; fi
  nohup "$BIN/$name" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}
# replace_if_changed FILE: move FILE.tmp to FILE unless their bytes are equal; true when FILE changed.
replace_if_changed() {
  if cmp -s "$1.tmp" "$1"; then rm -f "$1.tmp"; return 1; fi
  mv -f "$1.tmp" "$1"
}
# wait_http NAME URL [tries of 0.1s]: wait until URL answers 2xx; fail fast if NAME's process died.
wait_http() {
  local name=$1 url=$2 n=${3:-300} p
  p=$(head -n1 "$RUN/$name.pid" 2>/dev/null || echo 0)
  for _ in $(seq "$n"); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    kill -0 "$p" 2>/dev/null || { echo "ERROR: $name exited; tail of $LOGS/$name.log:" >&2; tail -n 15 "$LOGS/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "ERROR: timeout waiting for $url ($name); tail of $LOGS/$name.log:" >&2; tail -n 15 "$LOGS/$name.log" >&2; exit 1
}
# wait_port NAME PORT [tries of 0.1s]: wait until something accepts connections on $HOST:PORT (a
# listener with no 2xx page of its own); fail fast if NAME's process died.
wait_port() {
  local name=$1 port=$2 n=${3:-300} p
  p=$(head -n1 "$RUN/$name.pid" 2>/dev/null || echo 0)
  for _ in $(seq "$n"); do
    (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null && return 0
    kill -0 "$p" 2>/dev/null || { echo "ERROR: $name exited; tail of $LOGS/$name.log:" >&2; tail -n 15 "$LOGS/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "ERROR: timeout waiting for $HOST:$port ($name); tail of $LOGS/$name.log:" >&2; tail -n 15 "$LOGS/$name.log" >&2; exit 1
}
# port_check PORT NAME: refuse to start when a foreign process already listens on PORT.
port_check() {
  local port=$1 name=$2
  running "$name" && return 0
  if (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then die "port $port (for $name) is taken by another process; set VIGIL_*_PORT"; fi
}

# ------------------------------------------------------------------ 0. FRESH=1
if [ "${FRESH:-0}" = 1 ] && [ -d "$DATA" ]; then
  say "FRESH=1: stopping the stack and wiping its data"
  "$REPO/scripts/stack/down.sh" --purge
fi
mkdir -p "$BIN" "$DATA" "$RUN" "$LOGS" "$KEYS"

# ------------------------------------------------------------------ 1. system packages
pg_bin() { printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1; } # newest installed major version
PG_BIN=$(pg_bin)
need_apt=()
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/postgres" ] || need_apt+=(postgresql)
for t in curl openssl; do command -v "$t" >/dev/null || need_apt+=("$t"); done
if [ ${#need_apt[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${need_apt[*]}; install them (apt-get install ${need_apt[*]})"
  say "installing ${need_apt[*]} via apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  PG_BIN=$(pg_bin)
fi
command -v go >/dev/null || die "go is not on PATH"
say "prerequisites ok ($("$PG_BIN/postgres" --version), $(go env GOVERSION))"

# ------------------------------------------------------------------ 2. binaries
# build_pinned NAME PKG VERSION: go install PKG@VERSION -> $BIN/NAME unless $BIN/NAME.version says VERSION.
# From a cold cache a build takes minutes (all eight together ~25-30 min on 2 cores) and go install is
# silent, so a ticker prints "building NAME VERSION ... 2m30s" every 30 s while it runs (it stops
# with the build, or when this shell is gone).
build_pinned() {
  local name=$1 pkg=$2 ver=$3 tmp t0 ticker me=$BASHPID rc=0
  if [ -x "$BIN/$name" ] && [ "$(cat "$BIN/$name.version" 2>/dev/null)" = "$ver" ]; then return 0; fi
  tmp=$(mktemp -d "$BIN/.build-$name-XXXXXX")
  t0=$(date +%s)
  took() { local s=$(( $(date +%s) - t0 )); if [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi; }
  echo "  building $name $ver (log: $LOGS/build-$name.log) ..."
  (
    s=""
    trap '[ -n "$s" ] && kill "$s" 2>/dev/null; exit 0' TERM
    while kill -0 "$me" 2>/dev/null; do
      sleep 30 </dev/null >/dev/null 2>&1 & s=$!
      wait "$s" || true
      kill -0 "$me" 2>/dev/null || break
      echo "  building $name $ver ... $(took)"
    done
  ) &
  ticker=$!
  GOBIN=$tmp go install "$pkg@$ver" >"$LOGS/build-$name.log" 2>&1 || rc=$?
  kill "$ticker" 2>/dev/null || true; wait "$ticker" 2>/dev/null || true
  if [ "$rc" != 0 ]; then
    echo "ERROR: building $name ($pkg@$ver) failed after $(took):" >&2; tail -n 20 "$LOGS/build-$name.log" >&2; rm -rf "$tmp"; return 1
  fi
  mv -f "$tmp/$(basename "$pkg")" "$BIN/$name"
  echo "$ver" >"$BIN/$name.version"
  rm -rf "$tmp"
  echo "  built $name $ver in $(took)"
}
pids=()
build_pinned trillian_log_server github.com/google/trillian/cmd/trillian_log_server "$TRILLIAN_VERSION" & pids+=($!)
build_pinned trillian_log_signer github.com/google/trillian/cmd/trillian_log_signer "$TRILLIAN_VERSION" & pids+=($!)
build_pinned createtree github.com/google/trillian/cmd/createtree "$TRILLIAN_VERSION" & pids+=($!)
build_pinned rekor-server github.com/sigstore/rekor/cmd/rekor-server "$REKOR_VERSION" & pids+=($!)
build_pinned rekor-tiles-posix github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix "$REKOR_TILES_VERSION" & pids+=($!)
build_pinned fulcio github.com/sigstore/fulcio "$FULCIO_VERSION" & pids+=($!)
build_pinned ct_server github.com/google/certificate-transparency-go/trillian/ctfe/ct_server "$CT_VERSION" & pids+=($!)
build_pinned tesseract-posix github.com/transparency-dev/tesseract/cmd/tesseract/posix "$TESSERACT_VERSION" & pids+=($!)
fail=0; for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ "$fail" = 0 ] || die "building pinned servers failed (logs in $LOGS/build-*.log)"
say "pinned servers ready in $BIN"

# Our own tools, from the work tree; a binary is replaced only when its bytes change, so a running
# process is restarted only when its code changed. tileserve-staticct is a copy of tileserve: the
# second instance (static-ct read side) needs its own binary name, which names its PID file and is
# what running/down.sh check /proc/PID/exe against (a symlink would resolve to tileserve).
NEW=$(mktemp -d "$BIN/.build-own-XXXXXX")
(cd "$REPO" && go build -o "$NEW/" ./tools/tileserve ./tools/devoidc ./tools/loadgen && go build -o "$NEW/vigil-monitor" ./cmd/monitor) \
  || { rm -rf "$NEW"; die "building tools from $REPO failed"; }
cp "$NEW/tileserve" "$NEW/tileserve-staticct"
cp "$NEW/tileserve" "$NEW/tileserve-witnessed"
for t in tileserve tileserve-staticct tileserve-witnessed devoidc loadgen vigil-monitor; do
  cmp -s "$NEW/$t" "$BIN/$t" 2>/dev/null || mv -f "$NEW/$t" "$BIN/$t"
done
rm -rf "$NEW"
# The witnessed Rekor v2 runs the pinned rekor-tiles-posix under a name of its own (for the same
# reason as tileserve-staticct): a copy, replaced when the pinned binary is.
if ! cmp -s "$BIN/rekor-tiles-posix" "$BIN/rekor-tiles-witnessed" 2>/dev/null; then
  cp "$BIN/rekor-tiles-posix" "$BIN/.rekor-tiles-witnessed.tmp" && mv -f "$BIN/.rekor-tiles-witnessed.tmp" "$BIN/rekor-tiles-witnessed"
fi
say "built tileserve, devoidc, loadgen, vigil-monitor from $REPO"

# ------------------------------------------------------------------ 3. keys (once)
gen_keys() {
  (
    umask 077
    if [ ! -s "$KEYS/rekor-signer.pem" ]; then # Rekor v1 checkpoints: ECDSA P-256
      openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out "$KEYS/rekor-signer.pem"
      openssl ec -in "$KEYS/rekor-signer.pem" -pubout -out "$KEYS/rekor-signer.pub" 2>/dev/null
    fi
    if [ ! -s "$KEYS/tiles-signer.pem" ]; then # Rekor v2 checkpoints: Ed25519
      openssl genpkey -algorithm ed25519 -out "$KEYS/tiles-signer.pem"
      openssl pkey -in "$KEYS/tiles-signer.pem" -pubout -out "$KEYS/tiles-signer.pub"
    fi
    if [ ! -s "$KEYS/tiles-witnessed-signer.pem" ]; then # witnessed Rekor v2 checkpoints: Ed25519 (witnesses need it)
      openssl genpkey -algorithm ed25519 -out "$KEYS/tiles-witnessed-signer.pem"
      openssl pkey -in "$KEYS/tiles-witnessed-signer.pem" -pubout -out "$KEYS/tiles-witnessed-signer.pub"
    fi
    if [ ! -s "$KEYS/client.pem" ]; then # a client signing key for entries: ECDSA P-256
      openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out "$KEYS/client.pem"
      openssl ec -in "$KEYS/client.pem" -pubout -out "$KEYS/client.pub" 2>/dev/null
    fi
    if [ ! -s "$KEYS/devoidc.pem" ]; then # test OIDC issuer token key: RSA 2048
      openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$KEYS/devoidc.pem" 2>/dev/null
    fi
    if [ ! -s "$KEYS/ct-signer.pem" ]; then # CT log (ct_server) STHs and SCTs: ECDSA P-256
      openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out "$KEYS/ct-signer.pem"
      openssl ec -in "$KEYS/ct-signer.pem" -pubout -out "$KEYS/ct-signer.pub" 2>/dev/null
      rm -f "$KEYS/ct-signer.trillian.pem"
    fi
    if [ ! -s "$KEYS/ct-signer.trillian.pem" ]; then # the same key as ct_server reads it (see CT_KEY_PASS)
      openssl ec -in "$KEYS/ct-signer.pem" -aes256 -passout "pass:$CT_KEY_PASS" -out "$KEYS/ct-signer.trillian.pem" 2>/dev/null
    fi
    if [ ! -s "$KEYS/static-ct-signer.pem" ]; then # static-ct log checkpoints and SCTs: ECDSA P-256, SEC1
      openssl ecparam -genkey -name prime256v1 -noout -out "$KEYS/static-ct-signer.pem" # tesseract reads only SEC1
      openssl ec -in "$KEYS/static-ct-signer.pem" -pubout -out "$KEYS/static-ct-signer.pub" 2>/dev/null
    fi
    if [ ! -s "$KEYS/fulcio-ca.pem" ]; then # Fulcio's file CA: ECDSA P-256 (PKCS#8, unencrypted)
      openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out "$KEYS/fulcio-ca.pem"
      rm -f "$KEYS/fulcio-root.crt"
    fi
    if [ ! -s "$KEYS/fulcio-root.crt" ]; then # its self-signed root, 10 years, no extendedKeyUsage
      openssl req -x509 -new -key "$KEYS/fulcio-ca.pem" -sha256 -days 3650 \
        -subj "/O=vigil-stack/CN=vigil stack fulcio root" -extensions v3 -out "$KEYS/fulcio-root.crt" \
        -config <(printf '%s\n' '[req]' 'distinguished_name=dn' '[dn]' '[v3]' \
          'basicConstraints=critical,CA:TRUE' 'keyUsage=critical,keyCertSign,cRLSign' 'subjectKeyIdentifier=hash')
    fi
  )
  chmod 644 "$KEYS"/*.pub "$KEYS/fulcio-root.crt"
}
for k in rekor-signer.pem tiles-signer.pem tiles-witnessed-signer.pem client.pem devoidc.pem ct-signer.pem ct-signer.trillian.pem \
  static-ct-signer.pem fulcio-ca.pem fulcio-root.crt; do
  if [ ! -s "$KEYS/$k" ]; then
    gen_keys
    say "generated keys in $KEYS"
    break
  fi
done

# ------------------------------------------------------------------ 4. PostgreSQL (private cluster)
# PostgreSQL refuses to run as root: as root, run it as the Debian 'postgres' user. That user must be
# able to reach the cluster directory, which $HOME/.cache under a 0700 /root is not; then the cluster
# lives in postgres's own /var/lib/postgresql/vigil/<hash of the stack dir>.
if [ "$(id -u)" = 0 ]; then as_pg() { runuser -u postgres -- "$@"; }; else as_pg() { "$@"; }; fi
if [ -n "${VIGIL_PG_DIR:-}" ]; then PGHOME=$VIGIL_PG_DIR
elif [ -s "$DATA/pg.path" ]; then PGHOME=$(cat "$DATA/pg.path")
elif as_pg test -x "$DATA" 2>/dev/null; then PGHOME=$DATA/pg
else PGHOME=/var/lib/postgresql/vigil/$(printf %s "$STACK" | sha256sum | cut -c1-12)
fi
echo "$PGHOME" >"$DATA/pg.path"
PGDATA=$PGHOME/cluster PGSOCK=$PGHOME/run
if [ "$(id -u)" = 0 ]; then install -d -o postgres -g postgres "$(dirname "$PGHOME")" "$PGHOME" "$PGSOCK"; else mkdir -p "$PGHOME" "$PGSOCK"; fi
NEW_DB=0
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  as_pg "$PG_BIN/initdb" -D "$PGDATA" --auth=trust -U postgres -E UTF8 --no-sync >"$LOGS/initdb.log" 2>&1 \
    || { tail -n 20 "$LOGS/initdb.log" >&2; die "initdb failed"; }
  NEW_DB=1
  say "initdb $PGDATA"
fi
ln -sfn "$PGHOME/postgres.log" "$LOGS/postgres.log"
PGPID_FILE=$PGDATA/postmaster.pid
pg_running() { [ -s "$PGPID_FILE" ] && pid_ok "$(head -n1 "$PGPID_FILE")" "$PG_BIN/postgres"; }
if ! pg_running; then
  port_check "$PG_PORT" postgres
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGHOME/postgres.log" -w -t 60 start \
    -o "-c listen_addresses=$HOST -p $PG_PORT -c unix_socket_directories=$PGSOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null \
    || { tail -n 20 "$PGHOME/postgres.log" >&2; die "starting postgres failed"; }
  say "postgres started on $HOST:$PG_PORT"
fi
head -n1 "$PGPID_FILE" >"$RUN/postgres.pid"
PSQL=(psql -X -v ON_ERROR_STOP=1 -q -h "$HOST" -p "$PG_PORT")
if [ "$NEW_DB" = 1 ]; then
  SCHEMA_DIR=$(go mod download -json "github.com/google/trillian@$TRILLIAN_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  SCHEMA=$SCHEMA_DIR/storage/postgresql/schema/storage.sql
  [ -f "$SCHEMA" ] || die "trillian schema not found at $SCHEMA"
  "${PSQL[@]}" -U postgres -c "CREATE ROLE trillian LOGIN" -c "CREATE DATABASE trillian OWNER trillian"
  "${PSQL[@]}" -U trillian -d trillian -f "$SCHEMA" >/dev/null
  say "created trillian database and schema"
fi

# ------------------------------------------------------------------ 5. Trillian
PG_URI="postgresql:///trillian?host=$HOST&port=$PG_PORT&user=trillian"
port_check "$TRILLIAN_RPC_PORT" trillian_log_server; port_check "$SIGNER_RPC_PORT" trillian_log_signer
start trillian_log_server --storage_system=postgresql --quota_system=postgresql --postgresql_uri="$PG_URI" \
  --rpc_endpoint="$HOST:$TRILLIAN_RPC_PORT" --http_endpoint="$HOST:$TRILLIAN_HTTP_PORT" --alsologtostderr
# --force_master: no etcd election; the signer sleeps ~5s on SIGTERM (down.sh kills after a grace period).
start trillian_log_signer --storage_system=postgresql --quota_system=postgresql --postgresql_uri="$PG_URI" \
  --rpc_endpoint="$HOST:$SIGNER_RPC_PORT" --http_endpoint="$HOST:$SIGNER_HTTP_PORT" \
  --force_master --sequencer_interval=100ms --batch_size=1000 --alsologtostderr
wait_http trillian_log_server "http://$HOST:$TRILLIAN_HTTP_PORT/healthz"
wait_http trillian_log_signer "http://$HOST:$SIGNER_HTTP_PORT/healthz"
# rekor-server creates a NEW tree on every start unless given its id: create it once, pin it.
if [ ! -s "$DATA/tree_id" ]; then
  "$BIN/createtree" --admin_server="$HOST:$TRILLIAN_RPC_PORT" --display_name=vigil-rekor --max_root_duration=0s \
    >"$DATA/tree_id.tmp" 2>>"$LOGS/createtree.log" || die "createtree failed (see $LOGS/createtree.log)"
  mv "$DATA/tree_id.tmp" "$DATA/tree_id"
fi
TREE_ID=$(cat "$DATA/tree_id")
say "trillian up (tree $TREE_ID)"

# ------------------------------------------------------------------ 6. Rekor v1
port_check "$REKOR_PORT" rekor-server
# No Redis: the default endpoint list includes searchIndex, which turns the Redis index on.
# Its metrics listener is hard-wired to :2112 on all interfaces; a clash there only loses metrics.
start rekor-server serve \
  --rekor_server.address=$HOST --port="$REKOR_PORT" --rekor_server.hostname="$REKOR_HOSTNAME" \
  --trillian_log_server.address=$HOST --trillian_log_server.port="$TRILLIAN_RPC_PORT" \
  --trillian_log_server.tlog_id="$TREE_ID" --rekor_server.signer="$KEYS/rekor-signer.pem" \
  --enable_retrieve_api=false \
  --enabled_api_endpoints=getLogInfo,getPublicKey,getLogProof,createLogEntry,getLogEntryByIndex,getLogEntryByUUID,searchLogQuery \
  --log_type=prod
wait_http rekor-server "http://$HOST:$REKOR_PORT/api/v1/log"
say "rekor v1 up: http://$HOST:$REKOR_PORT"

# ------------------------------------------------------------------ 7. Rekor v2 (rekor-tiles POSIX) + tileserve
mkdir -p "$DATA/tiles"
port_check "$TILES_HTTP_PORT" rekor-tiles-posix; port_check "$TILES_READ_PORT" tileserve
start rekor-tiles-posix serve \
  --http-address=$HOST --http-port="$TILES_HTTP_PORT" --grpc-address=$HOST --grpc-port="$TILES_GRPC_PORT" \
  --http-metrics-port="$TILES_METRICS_PORT" --hostname="$REKOR_V2_ORIGIN" \
  --storage-dir="$DATA/tiles" --signer-filepath="$KEYS/tiles-signer.pem" \
  --checkpoint-interval=200ms --batch-max-age=50ms --persistent-antispam=true
start tileserve -addr "$HOST:$TILES_READ_PORT" -dir "$DATA/tiles"
wait_http rekor-tiles-posix "http://$HOST:$TILES_HTTP_PORT/healthz" 600
wait_http tileserve "http://$HOST:$TILES_READ_PORT/checkpoint" 600
say "rekor v2 up: write http://$HOST:$TILES_HTTP_PORT, read http://$HOST:$TILES_READ_PORT"

# ------------------------------------------------------------------ 7b. Vigil's witness + the witnessed Rekor v2
# The witness is Vigil's own monitor (vigil-monitor, built above from this work tree): `monitor run`
# with witness.listen serves C2SP tlog-witness (POST /add-checkpoint) and cosigns each checkpoint of
# rekor-v2-witnessed it can prove consistent with the last one it verified or cosigned. The second
# rekor-tiles names it in its --witness-policy-path and asks it before publishing each checkpoint.
# rekor-tiles v2.3.0 fails open (tessera WitnessOptions{FailOpen: true}, 5 s timeout): a checkpoint
# the witness refuses or does not answer is published without the cosignature. So the witness
# starts first: rekor-tiles witnesses its very first checkpoint at start-up.
# Keys: the witness key (keys/vigil-witness.key, .vkey) is made once by `monitor witness keygen`,
# whose stdout, the policy file, is kept as keys/vigil-witness.policy; data/witness-policy.txt is
# that file with the witness URL of this run (a changed VIGIL_WITNESS_PORT restarts rekor-tiles).
WITNESS_URL=http://$HOST:$WITNESS_PORT WITNESS_KEY=$KEYS/vigil-witness.key WDIR=$DATA/vigil-witness
mkdir -p "$WDIR" "$DATA/tiles-witnessed"
if [ ! -s "$WITNESS_KEY" ] || [ ! -s "$WITNESS_KEY.vkey" ]; then
  "$BIN/vigil-monitor" witness keygen --help >/dev/null 2>&1 \
    || die "$REPO's monitor has no 'witness keygen' (the stack's witness needs the witness of issue 13)"
  rm -f "$WITNESS_KEY" "$WITNESS_KEY.vkey"
  (umask 077; "$BIN/vigil-monitor" witness keygen --name "$WITNESS_NAME" --out "$WITNESS_KEY" --url "$WITNESS_URL" \
    >"$KEYS/vigil-witness.policy.tmp") || die "monitor witness keygen failed"
  mv -f "$KEYS/vigil-witness.policy.tmp" "$KEYS/vigil-witness.policy"
  say "generated the witness key $WITNESS_KEY ($(cat "$WITNESS_KEY.vkey"))"
fi
WITNESS_VKEY=$(cat "$WITNESS_KEY.vkey")
if [ ! -s "$KEYS/vigil-witness.policy" ]; then # a key from before the policy was kept: the same lines
  printf '# Vigil witness %s, verifier key (cosignature/v1): %s\nwitness %s %s %s\nquorum %s\n' \
    "$WITNESS_NAME" "$WITNESS_VKEY" "$WITNESS_NAME" "$WITNESS_VKEY" "$WITNESS_URL" "$WITNESS_NAME" >"$KEYS/vigil-witness.policy"
fi
sed -E "s#^(witness[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]+)([[:space:]].*)?\$#\1 $WITNESS_URL#" \
  "$KEYS/vigil-witness.policy" >"$DATA/witness-policy.txt.tmp"
grep -q "^witness .* $WITNESS_URL\$" "$DATA/witness-policy.txt.tmp" || die "no witness line in $KEYS/vigil-witness.policy"
POLICY_CHANGED=0; replace_if_changed "$DATA/witness-policy.txt" && POLICY_CHANGED=1
cat >"$WDIR/config.yml.tmp" <<EOF
# written by scripts/stack/up.sh: the stack's Vigil witness (vigil-monitor run --config this file)
state_dir: $WDIR/state
listen: "$HOST:$WITNESS_MONITOR_PORT"
log_format: text
interval: 5s
witness:
  listen: "$HOST:$WITNESS_PORT"
  key_file: $WITNESS_KEY
logs:
  - name: rekor-v2-witnessed
    kind: rekor-v2
    url: http://$HOST:$WTILES_READ_PORT
    public_key_file: $KEYS/tiles-witnessed-signer.pub
    origin: $REKOR_V2_WITNESSED_ORIGIN
    witness: true
scan:
  disabled: true   # a witness: checkpoints only
index:
  disabled: true
alerts:
  sinks:
    - name: log
      type: log
EOF
if replace_if_changed "$WDIR/config.yml"; then stop vigil-monitor "config changed"; fi
port_check "$WITNESS_PORT" vigil-monitor; port_check "$WITNESS_MONITOR_PORT" vigil-monitor
start vigil-monitor run --config "$WDIR/config.yml"
wait_http vigil-monitor "http://$HOST:$WITNESS_MONITOR_PORT/healthz" 600
wait_port vigil-monitor "$WITNESS_PORT"
port_check "$WTILES_HTTP_PORT" rekor-tiles-witnessed; port_check "$WTILES_READ_PORT" tileserve-witnessed
[ "$POLICY_CHANGED" = 0 ] || stop rekor-tiles-witnessed "witness policy changed"
start rekor-tiles-witnessed serve \
  --http-address=$HOST --http-port="$WTILES_HTTP_PORT" --grpc-address=$HOST --grpc-port="$WTILES_GRPC_PORT" \
  --http-metrics-port="$WTILES_METRICS_PORT" --hostname="$REKOR_V2_WITNESSED_ORIGIN" \
  --storage-dir="$DATA/tiles-witnessed" --signer-filepath="$KEYS/tiles-witnessed-signer.pem" \
  --checkpoint-interval=200ms --batch-max-age=50ms --persistent-antispam=true \
  --witness-policy-path="$DATA/witness-policy.txt"
start tileserve-witnessed -addr "$HOST:$WTILES_READ_PORT" -dir "$DATA/tiles-witnessed"
wait_http rekor-tiles-witnessed "http://$HOST:$WTILES_HTTP_PORT/healthz" 600
wait_http tileserve-witnessed "http://$HOST:$WTILES_READ_PORT/checkpoint" 600
say "witnessed rekor v2 up: write http://$HOST:$WTILES_HTTP_PORT, read http://$HOST:$WTILES_READ_PORT; Vigil witness $WITNESS_URL"

# ------------------------------------------------------------------ 8. CT logs: ct_server (RFC 6962) + tesseract (static-ct-api)
# Both trust Fulcio's root and loadgen's test CA; the roots file is rebuilt on every run and a change
# restarts both logs. loadgen creates its CA the first time it runs; here, before the env file exists.
"$BIN/loadgen" -init-ca -ca "$STACK/testca" >/dev/null || die "creating loadgen's test CA in $STACK/testca failed"
cat "$KEYS/fulcio-root.crt" "$STACK/testca/ca.crt" >"$DATA/ct-roots.pem.tmp"
ROOTS_CHANGED=0; replace_if_changed "$DATA/ct-roots.pem" && ROOTS_CHANGED=1
# The CT log is a second Trillian tree (ct_server, unlike rekor-server, never creates one).
if [ ! -s "$DATA/ct_tree_id" ]; then
  "$BIN/createtree" --admin_server="$HOST:$TRILLIAN_RPC_PORT" --display_name=vigil-ctlog --max_root_duration=0s \
    >"$DATA/ct_tree_id.tmp" 2>>"$LOGS/createtree.log" || die "createtree (CT log) failed (see $LOGS/createtree.log)"
  mv "$DATA/ct_tree_id.tmp" "$DATA/ct_tree_id"
fi
CT_TREE_ID=$(cat "$DATA/ct_tree_id")
cat >"$DATA/ct-config.textproto.tmp" <<EOF
# written by scripts/stack/up.sh: ct_server --log_config (configpb.LogConfigSet, text format)
config {
  log_id: $CT_TREE_ID
  prefix: "$CT_PREFIX"
  roots_pem_file: "$DATA/ct-roots.pem"
  private_key {
    [type.googleapis.com/keyspb.PEMKeyFile] {
      path: "$KEYS/ct-signer.trillian.pem"
      password: "$CT_KEY_PASS"
    }
  }
  ext_key_usages: "CodeSigning"
  max_merge_delay_sec: 86400
  expected_merge_delay_sec: 120
}
EOF
CONFIG_CHANGED=0; replace_if_changed "$DATA/ct-config.textproto" && CONFIG_CHANGED=1
mkdir -p "$DATA/static-ct"
port_check "$CT_PORT" ct_server; port_check "$CT_METRICS_PORT" ct_server
port_check "$STATIC_CT_PORT" tesseract-posix; port_check "$STATIC_CT_READ_PORT" tileserve-staticct
if [ "$ROOTS_CHANGED" = 1 ] || [ "$CONFIG_CHANGED" = 1 ]; then stop ct_server "log config or roots changed"; fi
[ "$ROOTS_CHANGED" = 0 ] || stop tesseract-posix "roots changed"
start ct_server --log_rpc_server="$HOST:$TRILLIAN_RPC_PORT" --log_config="$DATA/ct-config.textproto" \
  --http_endpoint="$HOST:$CT_PORT" --metrics_endpoint="$HOST:$CT_METRICS_PORT" \
  --quota_remote=false --quota_intermediate=false
# tesseract only pushes OTel metrics (to the default OTLP endpoint, localhost:4318, nothing listens
# there): export once a day rather than logging a failed export every minute. It serves
# /debug/pprof on its write port (it imports net/http/pprof).
OTEL_METRIC_EXPORT_INTERVAL=86400000 start tesseract-posix \
  --http_endpoint="$HOST:$STATIC_CT_PORT" --origin="$STATIC_CT_ORIGIN" --storage_dir="$DATA/static-ct" \
  --private_key="$KEYS/static-ct-signer.pem" --roots_pem_file="$DATA/ct-roots.pem" --ext_key_usages=CodeSigning \
  --accept_sha1_signing_algorithms=false --checkpoint_interval=200ms --batch_max_age=50ms
start tileserve-staticct -addr "$HOST:$STATIC_CT_READ_PORT" -dir "$DATA/static-ct"
# A brand new tree has its first (empty) signed root from createtree; get-sth answers 200 once the
# log server serves it.
wait_http ct_server "http://$HOST:$CT_PORT/$CT_PREFIX/ct/v1/get-sth" 600
wait_http tesseract-posix "http://$HOST:$STATIC_CT_PORT/ct/v1/get-roots" 600
wait_http tileserve-staticct "http://$HOST:$STATIC_CT_READ_PORT/checkpoint" 600
say "CT logs up: http://$HOST:$CT_PORT/$CT_PREFIX (tree $CT_TREE_ID); static-ct write http://$HOST:$STATIC_CT_PORT, read http://$HOST:$STATIC_CT_READ_PORT"

# ------------------------------------------------------------------ 9. Fulcio + test OIDC issuer
OIDC_ISSUER=http://$HOST:$OIDC_PORT
port_check "$OIDC_PORT" devoidc; port_check "$FULCIO_HTTP_PORT" fulcio
start devoidc -addr "$HOST:$OIDC_PORT" -key-file "$KEYS/devoidc.pem"
printf '{"OIDCIssuers":{"%s":{"IssuerURL":"%s","ClientID":"sigstore","Type":"email"}}}\n' \
  "$OIDC_ISSUER" "$OIDC_ISSUER" >"$DATA/fulcio-config.json"
wait_http devoidc "$OIDC_ISSUER/.well-known/openid-configuration"
# fileca: the loader parses an unencrypted PKCS#8 key and ignores the (required) password. Each
# certificate's precertificate goes to the CT log; Fulcio verifies the SCT with the log's key.
FULCIO_ARGS=(serve --ca=fileca --fileca-cert="$KEYS/fulcio-root.crt" --fileca-key="$KEYS/fulcio-ca.pem"
  --fileca-key-passwd=unused --fileca-watch=false
  --ct-log-url="http://$HOST:$CT_PORT/$CT_PREFIX" --ct-log-public-key-path="$KEYS/ct-signer.pub"
  --host=$HOST --port="$FULCIO_HTTP_PORT" --grpc-host=$HOST --grpc-port="$FULCIO_GRPC_PORT"
  --metrics-port="$FULCIO_METRICS_PORT" --log_type=prod
  --config-path="$DATA/fulcio-config.json" --legacy-unix-domain-socket="$RUN/fulcio-legacy.sock")
if running fulcio && ! same_args fulcio "${FULCIO_ARGS[@]}"; then stop fulcio "arguments changed"; fi
running fulcio || rm -f "$RUN/fulcio-legacy.sock" # a killed fulcio leaves its socket behind; bind would fail
start fulcio "${FULCIO_ARGS[@]}"
wait_http fulcio "http://$HOST:$FULCIO_HTTP_PORT/api/v2/trustBundle"
say "fulcio up: http://$HOST:$FULCIO_HTTP_PORT (issuer $OIDC_ISSUER, CT log $CT_PREFIX)"

# ------------------------------------------------------------------ 10. every process alive
sleep 0.3 # a process that lost a port race exits right after its health endpoint answered elsewhere
for n in trillian_log_server trillian_log_signer rekor-server rekor-tiles-posix tileserve vigil-monitor \
  rekor-tiles-witnessed tileserve-witnessed ct_server tesseract-posix tileserve-staticct devoidc fulcio; do
  running "$n" || { echo "ERROR: $n is not running; tail of $LOGS/$n.log:" >&2; tail -n 15 "$LOGS/$n.log" >&2; exit 1; }
done
pg_running || die "postgres is not running (see $LOGS/postgres.log)"

# ------------------------------------------------------------------ 11. env file (atomic)
cat >"$STACK/env.tmp" <<EOF
# written by scripts/stack/up.sh; KEY=VALUE, shell-safe; *KEY/*PUBKEY/*ROOT(S) are PEM file paths
# Rekor v1 checkpoint origin: "<REKOR_HOSTNAME> - <REKOR_TREE_ID>"; Rekor v2 origin: REKOR_V2_ORIGIN
STACK_DIR=$STACK
BIN_DIR=$BIN
REKOR_URL=http://$HOST:$REKOR_PORT
REKOR_TREE_ID=$TREE_ID
REKOR_HOSTNAME=$REKOR_HOSTNAME
REKOR_PUBKEY=$KEYS/rekor-signer.pub
REKOR_PRIVKEY=$KEYS/rekor-signer.pem
REKOR_V2_WRITE_URL=http://$HOST:$TILES_HTTP_PORT
REKOR_V2_READ_URL=http://$HOST:$TILES_READ_PORT
REKOR_V2_ORIGIN=$REKOR_V2_ORIGIN
REKOR_V2_PUBKEY=$KEYS/tiles-signer.pub
REKOR_V2_PRIVKEY=$KEYS/tiles-signer.pem
REKOR_V2_WITNESSED_WRITE_URL=http://$HOST:$WTILES_HTTP_PORT
REKOR_V2_WITNESSED_READ_URL=http://$HOST:$WTILES_READ_PORT
REKOR_V2_WITNESSED_ORIGIN=$REKOR_V2_WITNESSED_ORIGIN
REKOR_V2_WITNESSED_PUBKEY=$KEYS/tiles-witnessed-signer.pub
REKOR_V2_WITNESSED_PRIVKEY=$KEYS/tiles-witnessed-signer.pem
VIGIL_WITNESS_URL=$WITNESS_URL
VIGIL_WITNESS_VKEY=$WITNESS_VKEY
VIGIL_WITNESS_KEY_FILE=$WITNESS_KEY
VIGIL_WITNESS_CONFIG=$WDIR/config.yml
VIGIL_WITNESS_POLICY=$DATA/witness-policy.txt
FULCIO_URL=http://$HOST:$FULCIO_HTTP_PORT
FULCIO_ROOT=$KEYS/fulcio-root.crt
FULCIO_CA_KEY=$KEYS/fulcio-ca.pem
OIDC_ISSUER=$OIDC_ISSUER
CT_URL=http://$HOST:$CT_PORT/$CT_PREFIX
CT_TREE_ID=$CT_TREE_ID
CT_PUBKEY=$KEYS/ct-signer.pub
CT_PRIVKEY=$KEYS/ct-signer.pem
CT_ROOTS=$DATA/ct-roots.pem
STATIC_CT_WRITE_URL=http://$HOST:$STATIC_CT_PORT
STATIC_CT_READ_URL=http://$HOST:$STATIC_CT_READ_PORT
STATIC_CT_ORIGIN=$STATIC_CT_ORIGIN
STATIC_CT_PUBKEY=$KEYS/static-ct-signer.pub
STATIC_CT_PRIVKEY=$KEYS/static-ct-signer.pem
CLIENT_KEY=$KEYS/client.pem
CLIENT_PUBKEY=$KEYS/client.pub
TRILLIAN_RPC=$HOST:$TRILLIAN_RPC_PORT
PG_URI=postgresql://trillian@$HOST:$PG_PORT/trillian
EOF
mv -f "$STACK/env.tmp" "$STACK/env"
say "stack up; env in $STACK/env"

# ------------------------------------------------------------------ 12. smoke check (SMOKE=0 skips)
if [ "${SMOKE:-1}" = 1 ]; then
  ct_size() { curl -fsS --max-time 5 "http://$HOST:$CT_PORT/$CT_PREFIX/ct/v1/get-sth" | sed -n 's/.*"tree_size":\([0-9]*\).*/\1/p'; }
  ct0=$(ct_size) && [ -n "$ct0" ] || die "smoke check: fetching the CT log's STH failed"
  # v1: a key entry and a hashedrekord with a certificate from Fulcio, whose precertificate Fulcio
  # logs in the CT log; v2: a key entry; static-ct: one precertificate from the test CA.
  # witnessed v2: a key entry, whose checkpoint must carry the Vigil witness's cosignature.
  "$BIN/loadgen" -env "$STACK/env" -v1 2 -v2 1 -v2-witnessed 1 -static-ct 1 -workers 1 -mix key,fulcio -quiet \
    || die "smoke check: adding entries failed"
  v1=$(curl -fsS --max-time 5 "http://$HOST:$REKOR_PORT/api/v1/log") || die "smoke check: fetching the v1 checkpoint failed"
  v1size=$(printf %s "$v1" | sed -n 's/.*"treeSize":\([0-9]*\).*/\1/p')
  v2=$(curl -fsS --max-time 5 "http://$HOST:$TILES_READ_PORT/checkpoint") || die "smoke check: fetching the v2 checkpoint failed"
  if [ -z "$v1size" ] || [ "$v1size" -lt 1 ]; then die "smoke check: v1 tree size is '$v1size'"; fi
  [ "$(printf '%s\n' "$v2" | sed -n 1p)" = "$REKOR_V2_ORIGIN" ] || die "smoke check: v2 checkpoint origin is not $REKOR_V2_ORIGIN"
  # Fulcio's SCT promises inclusion within the MMD; Trillian's signer sequences within ~100ms.
  ct1=$ct0
  for _ in $(seq 100); do
    ct1=$(ct_size || true)
    [ -n "$ct1" ] && [ "$ct1" -gt "$ct0" ] && break
    sleep 0.1
  done
  if [ -z "$ct1" ] || [ "$ct1" -le "$ct0" ]; then die "smoke check: the CT log did not grow in 10 s (tree size '$ct0' -> '$ct1')"; fi
  sct=$(curl -fsS --max-time 5 "http://$HOST:$STATIC_CT_READ_PORT/checkpoint") || die "smoke check: fetching the static-ct checkpoint failed"
  [ "$(printf '%s\n' "$sct" | sed -n 1p)" = "$STATIC_CT_ORIGIN" ] || die "smoke check: static-ct checkpoint origin is not $STATIC_CT_ORIGIN"
  sctsize=$(printf '%s\n' "$sct" | sed -n 2p)
  if [ -z "$sctsize" ] || [ "$sctsize" -lt 1 ]; then die "smoke check: static-ct tree size is '$sctsize'"; fi
  # The witnessed checkpoint: origin, size >= 1 and a cosignature line of the witness whose key hash
  # (the signature's first 4 bytes) is the one in VIGIL_WITNESS_VKEY (the Go tests verify it).
  wcp=$(curl -fsS --max-time 5 "http://$HOST:$WTILES_READ_PORT/checkpoint") || die "smoke check: fetching the witnessed v2 checkpoint failed"
  [ "$(printf '%s\n' "$wcp" | sed -n 1p)" = "$REKOR_V2_WITNESSED_ORIGIN" ] || die "smoke check: witnessed v2 checkpoint origin is not $REKOR_V2_WITNESSED_ORIGIN"
  wsize=$(printf '%s\n' "$wcp" | sed -n 2p)
  if [ -z "$wsize" ] || [ "$wsize" -lt 1 ]; then die "smoke check: witnessed v2 tree size is '$wsize'"; fi
  wsig=$(printf '%s\n' "$wcp" | sed -n "s/^— $WITNESS_NAME //p" | head -n1)
  whash=$(printf %s "$wsig" | base64 -d 2>/dev/null | head -c4 | od -An -tx1 | tr -d ' \n')
  [ -n "$wsig" ] && [ "$whash" = "$(printf %s "$WITNESS_VKEY" | cut -d+ -f2)" ] \
    || die "smoke check: the witnessed v2 checkpoint (size $wsize) carries no cosignature of $WITNESS_NAME (see $LOGS/vigil-monitor.log, $LOGS/rekor-tiles-witnessed.log):
$wcp"
  say "smoke ok: v1 tree size $v1size, v2 tree size $(printf '%s\n' "$v2" | sed -n 2p), CT tree size $ct0 -> $ct1, static-ct tree size $sctsize, witnessed v2 tree size $wsize cosigned by $WITNESS_NAME"
fi
