#!/usr/bin/env bash
# Crash test of the verifiable log (docs/formats/log.md §6.1): when shelter_log_sync
# returns, the entries it covered survive any crash of the process, and the next open
# cuts whatever torn tail the crash left above the anchor (§6.3 step 4).
#
# Each iteration starts `log_tool append DIR 100000 T S` (T threads, random 1..4, each
# syncing every S appends, S random in {1, 7, 64}; after each sync it prints
# "ack INDEX ENTRY" for the entries the sync covered), kills it with SIGKILL, and runs
# `log_tool check DIR ACKS`, which opens the store (cutting a torn tail) and requires
# every acknowledged entry at its index with its exact content. A store is kept for
# LOG_CRASH_PER_STORE iterations (default 5), so later kills land on a store that
# earlier crashes and checks (which anchor at close) left behind, then a fresh one
# starts. Every third iteration `log_tool audit DIR` must pass too: on the store as
# the crash left it (against the last DIR/checkpoint, when there is one yet) and
# after the check.
#
# Modes (each iteration picks one):
#   timed     killed after a random 0-300 ms
#   ack       stdout is a pipe to this script; killed as soon as the Nth ack line
#             (N random 1-50) is read
#   torn      as timed, then 1-100 random bytes are appended to DIR/log (one time in
#             three after a plausible "SLF1" frame head): a torn tail open must cut
#   anchored  killed after 1.15-1.4 s, so the writer has anchored a checkpoint of its
#             own (anchor interval 1 s, §7.1) before the crash
#
# Which acknowledgements are checked: under ASan a shelter_log_get costs about
# 0.4 ms and a run syncing every 64 appends acknowledges some 50,000 entries in
# 300 ms, so each check covers every acknowledged entry within 250 of the highest
# index acknowledged so far (where a crash or a wrong cut loses entries first) plus
# an even sample of about 250 over all the store's acknowledgements; LOG_CRASH_FULL=1
# checks every one (slow). Only complete lines count: a SIGKILL can cut the writer's
# last write to the acks file.
#
# Environment: SHELTER_BUILD (default build/asan; log_tool under $SHELTER_BUILD/tests),
# LOG_CRASH_ITERATIONS (default 60), LOG_CRASH_SEED (the random choices; random by
# default), LOG_CRASH_PER_STORE (default 5), LOG_CRASH_FULL, TMPDIR.
# Output: one PASS/FAIL line per mode after a summary. A FAIL line names the seed, the
# mode, the threads, the sync interval and the kill, and keeps the store as the crash
# left it (with the acks and the outputs) in a directory it prints, with the command
# that re-runs the check on a copy (the check repairs what it opens).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

B=${SHELTER_BUILD:-build/asan}
T=$B/tests/log_tool
N=${LOG_CRASH_ITERATIONS:-60}
PER_STORE=${LOG_CRASH_PER_STORE:-5}
SEED=${LOG_CRASH_SEED:-$(((RANDOM << 15) | RANDOM))}
RECENT=250
SAMPLE=250
MAX_KEPT=3
RANDOM=$SEED

if [ ! -x "$T" ]; then
	echo "FAIL log_crash (missing $T: build it first)"
	exit 1
fi
case $T in /*) ;; *) T=$PWD/$T ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/log_crash.XXXXXX")
wpid=
cleanup() {
	[ -n "$wpid" ] && kill -9 "$wpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkfifo "$work/pipe"

modes=(timed ack torn anchored)
declare -A kills fails acked checked audits cut first_fail finished anchored
for m in "${modes[@]}"; do
	kills[$m]=0 fails[$m]=0 acked[$m]=0 checked[$m]=0 audits[$m]=0 cut[$m]=0
	finished[$m]=0 first_fail[$m]="" anchored[$m]=0
done
kept=0
t_start=$(date +%s%N)

ms_to_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# complete_lines FILE: the newline-terminated lines of FILE (a cut last line dropped)
complete_lines() {
	head -n "$(wc -l <"$1")" "$1"
}

# anchored_size: the size DIR/anchor names (its second line), 0 without one
anchored_size() {
	sed -n 2p "$dir/anchor" 2>/dev/null | grep -E '^[0-9]+$' || echo 0
}

# select_acks: the acknowledgements the check covers (see the top of this file)
select_acks() {
	if [ -n "${LOG_CRASH_FULL:-}" ]; then
		cat "$work/acks"
		return
	fi
	awk -v recent=$RECENT -v sample=$SAMPLE '
		$1 == "ack" { line[NR] = $0; idx[NR] = $2 + 0; if ($2 + 0 > max) max = $2 + 0; n = NR }
		END {
			step = int(n / sample); if (step < 1) step = 1
			for (i = 1; i <= n; i++)
				if ((i in line) && (idx[i] + recent > max || i % step == 0)) print line[i]
		}' "$work/acks"
}

# audit WHEN: log_tool audit of the store; appends to $reason on failure
audit() {
	local out rc
	out=$("$T" audit "$dir" 2>&1)
	rc=$?
	audits[$mode]=$((audits[$mode] + 1))
	if [ "$rc" -ne 0 ]; then
		reason+="audit $1 failed (exit $rc): $(head -c 400 <<<"$out"); "
	fi
}

# keep: a copy of the store as the crash left it; sets $where for the FAIL line
keep() {
	local keepdir
	if [ "$kept" -ge "$MAX_KEPT" ]; then
		where="(not kept: more than $MAX_KEPT failures)"
		return
	fi
	keepdir=$(mktemp -d "${TMPDIR:-/tmp}/log_crash_fail.XXXXXX")
	cp -a "$work/crashed" "$keepdir/store"
	cp "$work/acks" "$work/check.acks" "$work/run.out" "$work/run.err" "$keepdir/" 2>/dev/null
	[ -f "$work/check.out" ] && cp "$work/check.out" "$keepdir/"
	kept=$((kept + 1))
	where="store as the crash left it, acks and outputs kept in $keepdir; re-check a copy:"
	where+=" cp -a $keepdir/store S && $T check S $keepdir/check.acks"
}

dir=
for ((i = 0; i < N; i++)); do
	if ((i % PER_STORE == 0)); then
		dir=$work/store
		rm -rf "$dir"
		: >"$work/acks"
	fi
	case $((i % 10)) in
	1 | 4 | 7) mode=ack ;;
	2 | 5 | 8) mode=torn ;;
	9) mode=anchored ;;
	*) mode=timed ;;
	esac
	threads=$((1 + RANDOM % 4))
	syncs=(1 7 64)
	every=${syncs[RANDOM % 3]}
	[ "$mode" = anchored ] && every=1
	: >"$work/run.out"
	: >"$work/run.err"
	reason=""
	anchor_before=$(anchored_size)

	if [ "$mode" = ack ]; then
		target=$((1 + RANDOM % 50))
		how="right after ack line #$target"
		"$T" append "$dir" 100000 "$threads" "$every" >"$work/pipe" 2>"$work/run.err" &
		wpid=$!
		seen=0
		while IFS= read -r line; do
			printf '%s\n' "$line" >>"$work/run.out"
			if [[ $line == ack* ]] && ((++seen == target)); then
				kill -9 "$wpid" 2>/dev/null
			fi
		done <"$work/pipe"
	else
		if [ "$mode" = anchored ]; then
			delay_ms=$((1150 + RANDOM % 251))
		else
			delay_ms=$((RANDOM % 301))
		fi
		how="after $delay_ms ms"
		"$T" append "$dir" 100000 "$threads" "$every" >"$work/run.out" 2>"$work/run.err" &
		wpid=$!
		sleep "$(ms_to_s "$delay_ms")"
		kill -9 "$wpid" 2>/dev/null
	fi
	wait "$wpid" 2>/dev/null
	wrc=$?
	wpid=
	kills[$mode]=$((kills[$mode] + 1))
	(($(anchored_size) > anchor_before)) && anchored[$mode]=$((anchored[$mode] + 1))
	[ "$wrc" -eq 0 ] && finished[$mode]=$((finished[$mode] + 1))
	if [ "$wrc" -ne 0 ] && [ "$wrc" -ne 137 ]; then
		reason+="writer exited with status $wrc: $(head -c 300 "$work/run.err"); "
	elif grep -qE 'log_tool:|Sanitizer|runtime error' "$work/run.err"; then
		reason+="writer reported an error: $(grep -m1 -E 'log_tool:|Sanitizer|runtime error' "$work/run.err"); "
	fi
	complete_lines "$work/run.out" | grep '^ack ' >>"$work/acks"
	acked[$mode]=$((acked[$mode] + $(grep -c '^ack ' "$work/run.out")))

	if [ "$mode" = torn ] && [ -f "$dir/log" ]; then
		junk=$((1 + RANDOM % 100))
		if ((RANDOM % 3 == 0)); then
			# "SLF1", count 1, a first index, a small payload size: then noise
			slf=$(printf '\\x%02x' 0x53 0x4c 0x46 0x31 0 0 0 1 0 0 0 0 0 0 \
				$((RANDOM % 256)) $((RANDOM % 256)) 0 0 0 $((2 + RANDOM % 60)))
			printf "$slf" >>"$dir/log"
		fi
		head -c "$junk" /dev/urandom >>"$dir/log"
		how+=", then $junk bytes of junk"
	fi
	rm -rf "$work/crashed"
	[ -d "$dir" ] && cp -a "$dir" "$work/crashed"
	size_before=$(stat -c %s "$dir/log" 2>/dev/null || echo 0)

	if [ -z "$reason" ]; then
		((i % 3 == 0)) && [ -f "$dir/checkpoint" ] && audit "of the crashed store"
		select_acks >"$work/check.acks"
		if "$T" check "$dir" "$work/check.acks" >"$work/check.out" 2>&1; then
			checked[$mode]=$((checked[$mode] + $(grep -c '^ack ' "$work/check.acks")))
			size_after=$(stat -c %s "$dir/log")
			((size_after < size_before)) && cut[$mode]=$((cut[$mode] + 1))
			((i % 3 == 0)) && audit "after the check"
		else
			reason+="check failed: $(grep -v '^size ' "$work/check.out" | head -n 3 | tr '\n' ';')"
		fi
	fi
	if [ -n "$reason" ]; then
		fails[$mode]=$((fails[$mode] + 1))
		keep
		echo "FAIL log_crash_$mode iteration $i: seed $SEED, $threads threads syncing every" \
			"$every, killed $how, $(grep -c '^ack ' "$work/acks") acks on this store: $reason $where"
		[ -z "${first_fail[$mode]}" ] && first_fail[$mode]="iteration $i"
		# the store may be unusable now: the next iteration starts a fresh one
		rm -rf "$dir"
		: >"$work/acks"
	fi
	rm -f "$work/check.out"
done

elapsed_ms=$((($(date +%s%N) - t_start) / 1000000))
echo "log_crash: seed $SEED, $N iterations, $PER_STORE per store, $(ms_to_s $elapsed_ms) s"
status=0
for m in "${modes[@]}"; do
	[ "${kills[$m]}" -eq 0 ] && continue
	echo "  $m: ${kills[$m]} kills (${finished[$m]} writers finished first), ${acked[$m]} new acknowledgements," \
		"${checked[$m]} checked (sampled), ${anchored[$m]} writers anchored before the kill," \
		"${cut[$m]} torn tails cut at open, ${audits[$m]} audits"
done
for m in "${modes[@]}"; do
	[ "${kills[$m]}" -eq 0 ] && continue
	if [ "${fails[$m]}" -eq 0 ]; then
		echo "PASS log_crash_$m (${kills[$m]} kills, ${checked[$m]} acknowledged entries" \
			"checked, 0 lost; ${audits[$m]} audits)"
	else
		echo "FAIL log_crash_$m (${fails[$m]} of ${kills[$m]} kills failed, first ${first_fail[$m]})"
		status=1
	fi
done
exit $status
