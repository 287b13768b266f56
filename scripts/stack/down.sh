#!/usr/bin/env bash
# down.sh - stop the local Sigstore stack started by up.sh, strictly by the PIDs it recorded.
#
#   down.sh            stop every process (SIGTERM, then SIGKILL after $GRACE seconds), PostgreSQL last
#   down.sh --purge    also delete the stack's data (database, the Trillian tree ids of Rekor and the
#                      CT log, tiles of both Rekor v2 logs, the Vigil witness's state, static-ct
#                      storage, CT log config and roots, env file); keys (the witness key too),
#                      loadgen's test CA and binaries are kept
#
# A PID is only signalled when it still runs the binary up.sh started from $VIGIL_CACHE/bin
# (PostgreSQL: the postmaster of this stack's cluster), so a stale PID file never hits a stranger.
set -euo pipefail

VIGIL_CACHE=${VIGIL_CACHE:-$HOME/.cache/vigil}
STACK=${VIGIL_STACK_DIR:-$VIGIL_CACHE/stack}
BIN=$VIGIL_CACHE/bin
RUN=$STACK/run DATA=$STACK/data
GRACE=${GRACE:-3} # trillian_log_signer sleeps 5s+ on SIGTERM by design; its state is in the DB, SIGKILL is safe

PURGE=0
case "${1:-}" in
  --purge) PURGE=1 ;;
  "") ;;
  *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

# alive PID: PID exists and is not a zombie (an exited orphan stays one until PID 1 reaps it, which
# in some containers takes seconds).
alive() { kill -0 "$1" 2>/dev/null && [ "$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# owned PID EXE: PID is alive and runs EXE (possibly replaced on disk since: "EXE (deleted)").
owned() {
  local exe
  kill -0 "$1" 2>/dev/null || return 1
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  [ "${exe% (deleted)}" = "$2" ]
}

pids=() names=()
for n in fulcio devoidc tileserve-staticct tesseract-posix ct_server tileserve-witnessed rekor-tiles-witnessed \
  vigil-monitor tileserve rekor-tiles-posix rekor-server \
  trillian_log_signer trillian_log_server; do
  f=$RUN/$n.pid
  [ -s "$f" ] || continue
  p=$(head -n1 "$f")
  if owned "$p" "$BIN/$n"; then
    kill -TERM "$p" 2>/dev/null || true
    pids+=("$p") names+=("$n")
  fi
  rm -f "$f"
done
if [ ${#pids[@]} -gt 0 ]; then
  for _ in $(seq $((GRACE * 10))); do
    alive=0
    for p in "${pids[@]}"; do alive "$p" && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if alive "${pids[$i]}"; then
      kill -KILL "${pids[$i]}" 2>/dev/null || true
      echo "killed ${names[$i]} (pid ${pids[$i]}) after ${GRACE}s"
    else
      echo "stopped ${names[$i]} (pid ${pids[$i]})"
    fi
  done
fi

# PostgreSQL last: SIGINT is its "fast" shutdown. The cluster may live outside $DATA (see up.sh).
PGHOME=$(cat "$DATA/pg.path" 2>/dev/null || true)
if [ -n "$PGHOME" ] && [ -s "$PGHOME/cluster/postmaster.pid" ]; then
  p=$(head -n1 "$PGHOME/cluster/postmaster.pid")
  exe=$(readlink "/proc/$p/exe" 2>/dev/null || true)
  if kill -0 "$p" 2>/dev/null && [[ "$exe" == */bin/postgres* ]]; then
    kill -INT "$p"
    for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then kill -QUIT "$p" 2>/dev/null || true; echo "postgres (pid $p) did not stop in 10s; sent SIGQUIT"
    else echo "stopped postgres (pid $p)"; fi
  fi
fi
rm -f "$RUN/postgres.pid" "$RUN/fulcio-legacy.sock"

if [ "$PURGE" = 1 ]; then
  if [ -n "$PGHOME" ] && [ "$PGHOME" != "$DATA/pg" ] && [ -f "$PGHOME/cluster/PG_VERSION" ]; then
    rm -rf "$PGHOME"
  fi
  rm -rf "$DATA" "$STACK/env"
  echo "purged $DATA"
fi
