#!/usr/bin/env bash
# make bench: measure the monitor's catch-up speed and memory (issue 3, and
# the CT logs' issue).
#
#   1. stand up the local stack (scripts/stack/up.sh, idempotent): Rekor v1
#      and v2, the CT log (ct_server) and the static-ct log (tesseract);
#   2. top the logs up with tools/loadgen to at least BENCH_V1_ENTRIES (5000)
#      and BENCH_V2_ENTRIES (20000) entries: hashedrekord with Fulcio-style
#      certificates, key-signed hashedrekord and dsse, round-robin; and the
#      CT and static-ct logs to BENCH_CT_ENTRIES (20000) each: Fulcio-style
#      certificate chains from loadgen's test CA, half precertificates;
#   3. tools/scanbench: per log, the ceiling (a plain 16-way parallel client
#      reading every entry, no verification; ct: get-entries of 256 and of
#      1000 entries, the faster; static-ct: the data tiles), a full Vigil
#      catch-up scan from index 0 with 20 identity rules (monitor.NewApp +
#      CheckOnce in a child process) and the child's peak RSS, best of
#      BENCH_RUNS (3); by default (BENCH_INDEX=both) each run scans each log
#      twice, with the search index on (the monitor's default, SQLite in the
#      state directory: the row's figures) and off (index.disabled), for
#      the index's targets: with it, at least 80% of the speed without it
#      (Rekor v1 and v2; ct and static-ct reported), and the SQLite file's
#      bytes per entry indexed (reported);
#   4. alert-heavy catch-up: BENCH_ALERT_ENTRIES (5000) entries signed by one
#      CI identity are added to each log (loadgen -mix cert -san), then
#      scanbench -alerts times the full scan + queue + delivery (log sink) of
#      them with a watch rule that matches every one, and with one that
#      matches none (target: at most 1.2x);
#   5. the parse+match Go benchmarks of internal/identity (Rekor entries,
#      and CT precertificate entries through ctleaf.EntryIdentities: target
#      >= 50,000 entries per CPU-second), and the outbox's
#      benchmarks (internal/alert): draining 10,000 events to one sink, and
#      10,000 grouped entry events to the log sink (target: >= 100,000 e/s);
#   6. tools/indexbench on generated entries: SQLite's size per entry
#      (target <= 300 bytes) and the p99 latency of subject, digest and
#      fingerprint queries at BENCH_INDEX_ENTRIES (1,000,000) entries, on
#      SQLite and on the stack's PostgreSQL (target < 50 ms);
#   7. the witness's Go benchmarks (internal/witness): add-checkpoint p99
#      latency with the proof in the request (target < 10 ms) and
#      cosignatures/s (target >= 1,000/s), and audit-bundle on 10,000
#      bundles of an in-process Rekor v2 (internal/audit): bundles/s (no
#      target: reported);
#   8. a summary table against the targets;
#   9. tools/hostilelog -measure: the peak RSS of a real monitor check against
#      logs answering with 30 MB bodies and with the largest legitimate ones.
#
# Environment: VIGIL_CACHE (default ~/.cache/vigil), VIGIL_STACK_ENV (default
# $VIGIL_CACHE/stack/env), BENCH_V1_ENTRIES, BENCH_V2_ENTRIES,
# BENCH_CT_ENTRIES (each CT log; 0 adds none), BENCH_RUNS, BENCH_LOGS (the
# logs of step 3, as scanbench -log takes them: default all, e.g.
# ct,static-ct for the CT logs alone; Rekor v1 takes minutes on a loaded
# machine),
# BENCH_ALERT_ENTRIES (0 skips step 4),
# BENCH_INDEX (on, off or both: the search index in the scans of step 3;
# default both), BENCH_LAST (scan only the last N entries of each log in
# step 3, for a shorter run; default 0: all of them), BENCH_INDEX_ENTRIES
# (entries of step 6, default 1000000; 0 skips it; it takes minutes per
# driver at a million),
# BENCH_FLAGS (extra scanbench flags, e.g. "-cpuprofile /tmp/scan.prof"),
# BENCH_STRICT=1 to exit 1 when a target is missed. Everything runs on
# 127.0.0.1. Speed depends on the machine and its load: scanbench also prints
# entries per CPU-second of the monitor, which other load affects less.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
export VIGIL_CACHE="${VIGIL_CACHE:-$HOME/.cache/vigil}"
env_file="${VIGIL_STACK_ENV:-$VIGIL_CACHE/stack/env}"
v1_min="${BENCH_V1_ENTRIES:-5000}"
v2_min="${BENCH_V2_ENTRIES:-20000}"
ct_min="${BENCH_CT_ENTRIES:-20000}"
runs="${BENCH_RUNS:-3}"
logs="${BENCH_LOGS:-all}"
alert_n="${BENCH_ALERT_ENTRIES:-5000}"
index_mode="${BENCH_INDEX:-both}"
scan_last="${BENCH_LAST:-0}"
index_n="${BENCH_INDEX_ENTRIES:-1000000}"

work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "== stack"
scripts/stack/up.sh

echo "== building loadgen and scanbench"
go build -o "$work/" ./tools/loadgen ./tools/scanbench ./tools/indexbench

echo "== loading entries"
read -r v1_now v2_now ct_now sct_now < <("$work/scanbench" -env "$env_file" -sizes |
	sed 's/v1=\([0-9]*\) v2=\([0-9]*\) ct=\([0-9]*\) static-ct=\([0-9]*\)/\1 \2 \3 \4/')
v1_add=$(( v1_now < v1_min ? v1_min - v1_now : 0 ))
v2_add=$(( v2_now < v2_min ? v2_min - v2_now : 0 ))
ct_add=$(( ct_now < ct_min ? ct_min - ct_now : 0 ))
sct_add=$(( sct_now < ct_min ? ct_min - sct_now : 0 ))
echo "Rekor v1 has $v1_now entries, adding $v1_add; Rekor v2 has $v2_now, adding $v2_add;" \
	"the CT log has $ct_now, adding $ct_add; the static-ct log has $sct_now, adding $sct_add"
if (( v1_add > 0 || v2_add > 0 || ct_add > 0 || sct_add > 0 )); then
	# All four logs fill at once (loadgen adds about 350 chains/s to each CT log).
	"$work/loadgen" -env "$env_file" -v1 "$v1_add" -v2 "$v2_add" -ct "$ct_add" -static-ct "$sct_add" -mix cert,key,dsse -quiet
fi

missed=0
echo "== catch-up scans (best of $runs, search index: $index_mode)"
# shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags.
"$work/scanbench" -env "$env_file" -log "$logs" -rules 20 -runs "$runs" -index "$index_mode" -last "$scan_last" \
	-json ${BENCH_FLAGS:-} >"$work/scan.json"

: >"$work/alerts.json"
if (( alert_n > 0 )); then
	echo "== alert-heavy catch-up: $alert_n entries that all match a watch rule vs none match (target <= 1.2x)"
	alert_start="$("$work/scanbench" -env "$env_file" -sizes)"
	"$work/loadgen" -env "$env_file" -v1 "$alert_n" -v2 "$alert_n" -mix cert -san ci-build@example.com -quiet
	"$work/scanbench" -env "$env_file" -log both -alerts "$alert_n" -alerts-start "$alert_start" -runs "$runs" -json >"$work/alerts.json"
fi

echo "== alert latency (upload -> webhook, target: poll interval + 1s)"
go run ./tools/alertlatency -env "$env_file" -interval 2s -n 5 | tee "$work/latency.txt"
grep -q 'within target: NO' "$work/latency.txt" && missed=1

echo "== parse + match Go benchmarks"
go test -run '^$' -bench . -benchmem ./internal/identity/ | tee "$work/identity.txt"

echo "== alert outbox: a 10,000-event backlog to one sink, and grouped to the log sink"
go test -run '^$' -bench 'OutboxDrain|OutboxLogSink' -benchtime 3x ./internal/alert/ | tee "$work/outbox.txt"

echo "== witness: add-checkpoint with the proof in the request (one log; 16 logs at once)"
go test -run '^$' -bench 'AddCheckpoint' -benchtime 3000x ./internal/witness/ | tee "$work/witness.txt"
echo "== audit-bundle: 10,000 bundles (signature, inclusion proof, consistency proof from tiles each)"
go test -run '^$' -bench 'AuditBundle' -benchtime 3x ./internal/audit/ | tee "$work/audit.txt"

: >"$work/index.json"
index_failed=0
if (( index_n > 0 )); then
	echo "== search index: size per entry, and query latency at $index_n generated entries (SQLite, PostgreSQL)"
	"$work/indexbench" -env "$env_file" -entries "$index_n" -size-entries $(( index_n < 100000 ? index_n : 100000 )) \
		-json >"$work/index.json" || index_failed=1
fi

echo
echo "== summary"
# jq may be missing: the flat JSON lines of scanbench are read with sed.
field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1" | tr -d '"'; }
# sfield reads a string field that may hold commas, with < and > unescaped.
sfield() { sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" <<<"$1" | sed 's/\\u003c/</g; s/\\u003e/>/g; s/\\u0026/\&/g'; }
printf '%-28s %12s %12s %12s %8s %10s  %-40s %s\n' "measurement" "entries" "ceiling e/s" "vigil e/s" "ratio" "peak RSS" "target" "met"
while IFS= read -r line; do
	log=$(field "$line" log)
	met=$(field "$line" target_met)
	if [[ $met == true ]]; then met=yes; else met=NO; missed=1; fi
	printf '%-28s %12s %12.0f %12.0f %7.1f%% %6.1f MiB  %-40s %s (%.0f entries/cpu-s, %s watch matches, %s unexpected, ceiling %s entries per request, median per-run ratio %.1f%%)\n' "catch-up scan $log" \
		"$(field "$line" entries)" "$(field "$line" ceiling_entries_per_second)" \
		"$(field "$line" vigil_entries_per_second)" "$(field "$line" ratio_percent)" \
		"$(field "$line" peak_rss_mib)" "$(field "$line" target)" "$met" \
		"$(field "$line" vigil_entries_per_cpu_second)" "$(field "$line" watch_matches)" "$(field "$line" unexpected)" \
		"$(field "$line" ceiling_batch)" "$(field "$line" paired_ratio_percent)"
	# The search index (scanbench -index both): the rate with it against
	# the rate without it, and its SQLite file's size per entry indexed.
	ratio=$(field "$line" index_ratio_percent)
	per_entry=$(field "$line" index_bytes_per_entry)
	if [[ -n $ratio ]]; then
		target="(none)"
		met=$(field "$line" index_target_met)
		case $met in
		true) met=yes target=">= 80% of the speed without the index" ;;
		false) met=NO target=">= 80% of the speed without the index" missed=1 ;;
		*) met=- ;;
		esac
		printf '%-28s %12s %12s %12.0f %7.1f%% %10s  %-40s %s (without the index %.0f e/s; %.0f vs %.0f entries/cpu-s; median per-run ratio %.1f%%; SQLite %.0f bytes/entry)\n' "catch-up with index $log" \
			"$(field "$line" index_entries)" - "$(field "$line" index_entries_per_second)" "$ratio" - "$target" "$met" \
			"$(field "$line" noindex_entries_per_second)" "$(field "$line" index_entries_per_cpu_second)" \
			"$(field "$line" noindex_entries_per_cpu_second)" "$(field "$line" index_paired_ratio_percent)" "${per_entry:-0}"
	elif [[ -n $per_entry ]]; then
		printf '%-28s %12s %12s %12.0f %8s %10s  %-40s %s (SQLite %.0f bytes/entry; BENCH_INDEX=both compares it with the index off)\n' "catch-up with index $log" \
			"$(field "$line" index_entries)" - "$(field "$line" index_entries_per_second)" - - "(none)" - "$per_entry"
	fi
done <"$work/scan.json"
# BenchmarkMatchKeySigned-2  N  ns/op  X entries/cpu-s  Y entries/s ...
bench_rate() { awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i+1) == unit) print $i }' unit="$2" "$work/identity.txt" | tail -1; }
# The Rekor targets are for Rekor v2 entries (the *V2 benchmarks) in
# entries/s; the v1 ones are held to the same figures. The CT target is for
# precertificate entries, in entries per CPU-second (target 0: no target).
for b in "BenchmarkMatchKeySignedV2 200000 v2-key entries/s" "BenchmarkMatchFulcioCertV2 50000 v2-Fulcio-cert entries/s" \
	"BenchmarkMatchKeySigned 200000 v1-key entries/s" "BenchmarkMatchFulcioCert 50000 v1-Fulcio-cert entries/s" \
	"BenchmarkMatchCTPrecert 50000 ct-precert entries/cpu-s" "BenchmarkMatchCTX509 0 ct-x509 entries/cpu-s"; do
	read -r name min what unit <<<"$b"
	target="(none)"
	if (( min > 0 )); then
		target=">= $min e/s (Go benchmark)"
		[[ $unit == entries/cpu-s ]] && target=">= $min e/CPU-s (Go benchmark)"
	fi
	rate=$(bench_rate "$name" entries/s)
	cpu_rate=$(bench_rate "$name" entries/cpu-s)
	if [[ -z $rate || -z $cpu_rate ]]; then
		printf '%-28s %12s %12s %12s %8s %10s  %-40s %s\n' "parse+match $what" - - - - - "$target" "NO (no result)"
		missed=1
		continue
	fi
	got=$rate
	[[ $unit == entries/cpu-s ]] && got=$cpu_rate
	met=$(awk -v r="$got" -v m="$min" 'BEGIN { print (r >= m) ? "yes" : "NO" }')
	(( min > 0 )) || met="-"
	[[ $met == NO ]] && missed=1
	printf '%-28s %12s %12s %12.0f %8s %10s  %-40s %s (%.0f entries/cpu-s)\n' "parse+match $what" - - "$rate" - - "$target" "$met" "$cpu_rate"
done
sed -n 's/^  /alert latency /p' "$work/latency.txt"
while IFS= read -r line; do
	met=$(field "$line" target_met)
	if [[ $met == true ]]; then met=yes; else met=NO; missed=1; fi
	printf '%-28s %12s %12s %12s %7.2fx %10s  %-40s %s (all match %.3fs, none match %.3fs, %s matches, %s delivered)\n' "alert-heavy catch-up $(field "$line" log)" \
		"$(field "$line" scanned)" - - "$(field "$line" alert_ratio)" - "<= 1.2x of no matches" "$met" \
		"$(field "$line" match_seconds)" "$(field "$line" nomatch_seconds)" "$(field "$line" alert_matches)" "$(field "$line" alerts_delivered)"
done <"$work/alerts.json"
awk '$1 ~ /^BenchmarkOutboxDrain/ { for (i = 3; i < NF; i++) if ($(i+1) == "events/s") printf "alert outbox drain: %.0f events/s to one sink (no target; a backlog of 10,000 ungrouped events)\n", $i }' "$work/outbox.txt"
log_rate=$(awk '$1 ~ /^BenchmarkOutboxLogSink/ { for (i = 3; i < NF; i++) if ($(i+1) == "events/s") print $i }' "$work/outbox.txt" | tail -1)
log_cpu=$(awk '$1 ~ /^BenchmarkOutboxLogSink/ { for (i = 3; i < NF; i++) if ($(i+1) == "events/cpu-s") print $i }' "$work/outbox.txt" | tail -1)
if [[ -n $log_rate ]]; then
	met=$(awk -v r="$log_rate" 'BEGIN { print (r >= 100000) ? "yes" : "NO" }')
	[[ $met == yes ]] || missed=1
	printf 'alert outbox to the log sink: %.0f events/s (%.0f events/cpu-s), target >= 100,000 events/s: %s\n' "$log_rate" "$log_cpu" "$met"
fi
bench_metric() { awk -v b="$1" -v u="$2" '$1 ~ "^"b"(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i+1) == u) print $i }' "$3" | tail -1; }
w_p99=$(bench_metric BenchmarkAddCheckpoint p99-ms "$work/witness.txt")
w_one=$(bench_metric BenchmarkAddCheckpoint cosignatures/s "$work/witness.txt")
w_many=$(bench_metric BenchmarkAddCheckpointLogs cosignatures/s "$work/witness.txt")
if [[ -n $w_p99 && -n $w_many ]]; then
	met=$(awk -v p="$w_p99" 'BEGIN { print (p < 10) ? "yes" : "NO" }')
	[[ $met == yes ]] || missed=1
	printf 'witness add-checkpoint latency: p99 %.2f ms (one log, each request fsyncs archive and state), target < 10 ms: %s\n' "$w_p99" "$met"
	met=$(awk -v r="$w_many" 'BEGIN { print (r >= 1000) ? "yes" : "NO" }')
	[[ $met == yes ]] || missed=1
	printf 'witness cosignatures: %.0f/s over 16 logs at once (%.0f/s for one log, whose requests are serial), target >= 1,000/s: %s\n' "$w_many" "$w_one" "$met"
else
	echo "witness benchmark: no figures, see above: NO"
	missed=1
fi
a_rate=$(bench_metric BenchmarkAuditBundle bundles/s "$work/audit.txt")
if [[ -n $a_rate ]]; then
	printf 'audit-bundle: %.0f bundles/s on 10,000 bundles (each: checkpoint signature, inclusion proof, consistency proof fetched from tiles), target (none): -\n' "$a_rate"
else
	echo "audit-bundle benchmark: no figures, see above: NO"
	missed=1
fi
# tools/indexbench: every figure with a target, and the sizes (after
# VACUUM) and insert rates without one (the other queries' latency is left
# to tools/indexbench's own table).
while IFS= read -r line; do
	m=$(sfield "$line" measurement)
	[[ $m == *"(before VACUUM)" || $m == *"(last tenth)" ]] && continue
	what="index $(field "$line" driver) $m, $(field "$line" entries) entries"
	met=$(field "$line" target_met)
	target=$(sfield "$line" target)
	case $met in
	true) met=yes ;;
	false) met=NO missed=1 ;;
	*) met=- target="(none)" ;;
	esac
	p99=$(field "$line" p99_ms)
	unit=$(field "$line" unit)
	if [[ -n $p99 && $met != - ]]; then
		printf '%s: p99 %.2f ms (p50 %.2f ms, max %.2f ms, %.2f ms CPU per query), target %s: %s\n' "$what" \
			"$p99" "$(field "$line" p50_ms)" "$(field "$line" max_ms)" "$(field "$line" cpu_ms_per_query)" "$target" "$met"
	elif [[ $met != - || $unit == bytes || $unit == entries/s ]]; then
		printf '%s: %.0f %s, target %s: %s\n' "$what" "$(field "$line" value)" "$unit" "$target" "$met"
	fi
done <"$work/index.json"
if (( index_failed )); then
	echo "index benchmark (tools/indexbench): a measurement failed, see above: NO"
	missed=1
fi
echo "== hostile log: peak RSS of a real monitor check (default settings) against answers at the limits"
go run ./tools/hostilelog -measure | tee "$work/hostile.txt"
peak=$(sed -n 's/^peak RSS against a log answering with the largest bodies it is allowed to: \([0-9]*\) MiB$/\1/p' "$work/hostile.txt")
if [[ -n $peak ]]; then
	met=$( ((peak < 256)) && echo yes || echo NO)
	[[ $met == yes ]] || missed=1
	printf 'peak RSS against a hostile log: %s MiB, target < 256 MiB (the chart'"'"'s pod limit): %s\n' "$peak" "$met"
fi
echo "cores: $(nproc), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ ${BENCH_STRICT:-} == 1 && $missed == 1 ]]; then
	echo "bench: a target was missed" >&2
	exit 1
fi
