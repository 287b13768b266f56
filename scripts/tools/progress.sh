# progress.sh - sourced by the tool build scripts (scripts/tools/*.sh,
# scripts/k8s/build.sh): shows that a long build is alive. A pinned tool built
# from a cold module and build cache takes minutes (promtool ~24 min on 2
# cores), and `go install` prints nothing while it compiles.
#
#   with_progress LABEL CMD [ARG...]
#
# runs CMD in the foreground and, while it runs, prints "LABEL ... 2m30s" every
# $VIGIL_PROGRESS_SECONDS seconds (default 30); when it ends, "LABEL: done in
# 4m10s" (stdout) or "LABEL: failed after 4m10s (exit N)" (stderr). It returns
# CMD's exit status and leaves CMD's own output alone.

# elapsed_since T0: the time since T0 (seconds since the epoch), as 45s or 2m30s.
elapsed_since() {
	local s=$(($(date +%s) - $1))
	if ((s >= 60)); then
		printf '%dm%02ds' $((s / 60)) $((s % 60))
	else
		printf '%ds' "$s"
	fi
}

with_progress() {
	local label=$1 t0 parent=$BASHPID ticker rc=0
	shift
	t0=$(date +%s)
	# The ticker stops when told (TERM) or when the shell that started it is
	# gone, so it never outlives the build. Its sleep does not hold stdout, so
	# a pipe reading this script's output is not kept open by it.
	(
		s=""
		trap '[[ -n "$s" ]] && kill "$s" 2>/dev/null; exit 0' TERM
		while kill -0 "$parent" 2>/dev/null; do
			sleep "${VIGIL_PROGRESS_SECONDS:-30}" </dev/null >/dev/null 2>&1 &
			s=$!
			wait "$s" || true
			kill -0 "$parent" 2>/dev/null || break
			echo "$label ... $(elapsed_since "$t0")"
		done
	) &
	ticker=$!
	"$@" || rc=$?
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	if ((rc == 0)); then
		echo "$label: done in $(elapsed_since "$t0")"
	else
		echo "$label: failed after $(elapsed_since "$t0") (exit $rc)" >&2
	fi
	return "$rc"
}
