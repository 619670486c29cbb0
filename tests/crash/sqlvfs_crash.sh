#!/usr/bin/env bash
# Crash test of SQLite on a protected volume (docs/formats/cas-store.md §3.6): after a
# SIGKILL at any point, the database passes integrity_check, every transaction whose
# COMMIT returned (and so every acknowledged one) is there, and no part of an
# unfinished one is.
#
# Each iteration creates a fresh volume, starts tests/helpers/sqlvfs_crash writing
# numbered transactions through the VFS (journal mode DELETE, TRUNCATE, PERSIST or
# WAL and synchronous FULL, NORMAL or OFF, from the seed; VACUUM and volume
# compaction now and then), kills it with
# SIGKILL, and runs the helper's check, which reopens the volume and the database
# and replays the writer's model. Modes (by iteration):
#   single    one writer, killed after a random 20-500 ms
#   threads   two writer threads on two connections, killed after 20-500 ms
#   ack       one writer whose stdout is a pipe to this script, killed as soon as its
#             Nth ack (N random 1-40) is read
#
# Environment: SHELTER_BUILD (required; the helper is $SHELTER_BUILD/tests/sqlvfs_crash),
# SHELTER (unused: the helper creates its volumes itself), SQLVFS_CRASH_ITERATIONS
# (default 64), CRASH_SEED (base seed; iteration i uses CRASH_SEED + i; random by
# default). Output: one PASS/FAIL line per mode after a summary. A FAIL line names the
# seed and keeps the volume as the crash left it, with the writer's output and its
# progress file, in a directory it prints, with the command that re-runs the check.
set -uo pipefail
cd "$(dirname "$0")/../.."

B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
H=${SQLVFS_CRASH_HELPER:-$B/tests/sqlvfs_crash}
N=${SQLVFS_CRASH_ITERATIONS:-64}
SEED0=${CRASH_SEED:-$(((RANDOM << 15) | RANDOM))}
MAX_KEPT=3

if [ ! -x "$H" ]; then
	echo "FAIL sqlvfs_crash (missing $H: build it first)"
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sqlvfs_crash.XXXXXX")
cleanup() {
	local p
	for p in $(jobs -p); do # writers lead their own process group (setsid)
		kill -9 -- "-$p" 2>/dev/null || kill -9 "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
key=$work/key
head -c 32 /dev/urandom >"$key"
chmod 600 "$key"
mkfifo "$work/pipe"

declare -A kills fails hot inflight unacked idle first_fail jmodes
modes=(single threads ack)
for m in "${modes[@]}"; do
	kills[$m]=0 fails[$m]=0 hot[$m]=0 inflight[$m]=0 unacked[$m]=0 idle[$m]=0 first_fail[$m]=""
done
kept=0
start=$SECONDS

last_ack() { # last_ack FILE W
	grep -E "^ack $2 [0-9]+\$" "$1" | tail -n 1 | awk '{print $3}' | grep . || echo 0
}

for ((i = 0; i < N; i++)); do
	seed=$((SEED0 + i))
	case $((i % 4)) in
	2) mode=threads writers=2 ;;
	3) mode=ack writers=1 ;;
	*) mode=single writers=1 ;;
	esac
	vol=$work/vol
	rm -rf "$vol"
	if ! "$H" create "$vol" "$key" 2>"$work/create.log"; then
		echo "FAIL sqlvfs_crash_$mode (volume create failed: $(head -c 300 "$work/create.log"))"
		exit 1
	fi
	: >"$work/out"
	: >"$work/err"
	head -c 64 /dev/zero >"$work/progress"
	wargs=("$vol" "$key" "$seed" "$writers" "$work/progress")

	if [ "$mode" = ack ]; then
		target=$((1 + RANDOM % 40))
		how="right after ack #$target"
		setsid "$H" write "${wargs[@]}" >"$work/pipe" 2>"$work/err" &
		wpid=$!
		seen=0
		while IFS= read -r line; do
			printf '%s\n' "$line" >>"$work/out"
			if [[ $line == ack* ]] && ((++seen == target)); then
				kill -9 -- "-$wpid" 2>/dev/null || kill -9 "$wpid" 2>/dev/null
			fi
		done <"$work/pipe"
	else
		delay_ms=$((20 + RANDOM % 481))
		how="after $delay_ms ms"
		# stdout to a file, not the FIFO: a writer killed before its shell child opened
		# the FIFO would leave a reader blocked in open(2) for ever
		setsid "$H" write "${wargs[@]}" >"$work/out" 2>"$work/err" &
		wpid=$!
		sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
		kill -9 -- "-$wpid" 2>/dev/null || kill -9 "$wpid" 2>/dev/null
	fi
	wait "$wpid" 2>/dev/null
	wrc=$?
	# a SIGKILLed process may still be finishing a system call: let the group go first
	for ((t = 0; t < 500; t++)); do
		kill -0 -- "-$wpid" 2>/dev/null || break
		sleep 0.01
	done
	kills[$mode]=$((kills[$mode] + 1))
	jm=$(awk '$1 == "mode" {print $2 "/" $3}' "$work/out")
	[ -n "$jm" ] && jmodes[$jm]=$((${jmodes[$jm]:-0} + 1))

	reason=""
	acks=()
	for ((w = 0; w < writers; w++)); do
		acks+=("$(last_ack "$work/out" $w)")
	done
	if [ "$wrc" -ne 137 ]; then
		reason="writer exited with status $wrc (not killed): $(head -c 300 "$work/err")"
	elif grep -qE 'sqlvfs_crash:|AddressSanitizer|runtime error|LeakSanitizer' "$work/err"; then
		reason="writer reported an error: $(grep -m1 -E 'sqlvfs_crash:|Sanitizer|runtime error' "$work/err")"
	fi
	rm -rf "$work/crashed"
	cp -a "$vol" "$work/crashed" # the check repairs and writes: keep the crash as it was
	if [ -z "$reason" ]; then
		"$H" check "${wargs[@]}" "${acks[@]}" >"$work/check.out" 2>&1
		crc=$?
		result=$(grep '^RESULT ' "$work/check.out" | tail -n 1)
		if [ "$crc" -ne 0 ] || [[ $result != "RESULT ok "* ]]; then
			reason="check failed (exit $crc): $(grep -v '^RESULT' "$work/check.out" | head -n 3 | tr '\n' ';')"
		else
			[[ $result == *" hot=1"* ]] && hot[$mode]=$((hot[$mode] + 1))
			for t in ${result#RESULT ok mode=* hot=? }; do
				IFS=: read -r _ a k fl <<<"$t" # writer:acked:k:inflight
				((fl == 1)) && inflight[$mode]=$((inflight[$mode] + 1))
				((k > a)) && unacked[$mode]=$((unacked[$mode] + 1))
				((k == 0)) && idle[$mode]=$((idle[$mode] + 1))
			done
		fi
	fi
	if [ -n "$reason" ]; then
		fails[$mode]=$((fails[$mode] + 1))
		where="(not kept: more than $MAX_KEPT failures)"
		if [ "$kept" -lt "$MAX_KEPT" ]; then
			keepdir=$(mktemp -d "${TMPDIR:-/tmp}/sqlvfs_crash_fail.XXXXXX")
			mv "$work/crashed" "$keepdir/vol"
			cp "$work/out" "$work/err" "$work/progress" "$key" "$keepdir/"
			[ -f "$work/check.out" ] && cp "$work/check.out" "$keepdir/"
			where="kept in $keepdir; re-check a copy: cp -a $keepdir/vol V &&"
			where+=" $H check V $keepdir/key $seed $writers $keepdir/progress ${acks[*]}"
			kept=$((kept + 1))
		fi
		echo "FAIL sqlvfs_crash_$mode iteration $i: seed $seed, killed $how, acked ${acks[*]}: $reason; $where"
		[ -z "${first_fail[$mode]}" ] && first_fail[$mode]="seed $seed"
	fi
	rm -f "$work/check.out"
done

jsum=""
for jm in "${!jmodes[@]}"; do
	jsum+=" $jm:${jmodes[$jm]}"
done
echo "sqlvfs_crash: base seed $SEED0, $N iterations in $((SECONDS - start)) s;" \
	"journal mode/synchronous:$jsum"
for m in "${modes[@]}"; do
	[ "${kills[$m]}" -eq 0 ] && continue
	echo "  $m: ${kills[$m]} kills; ${hot[$m]} left a hot journal or WAL to roll back or" \
		"recover; ${inflight[$m]} writers killed inside COMMIT; ${unacked[$m]} writers had" \
		"a committed transaction not yet acknowledged; ${idle[$m]} writers had not committed"
done
status=0
for m in "${modes[@]}"; do
	[ "${kills[$m]}" -eq 0 ] && continue
	if [ "${fails[$m]}" -eq 0 ]; then
		echo "PASS sqlvfs_crash_$m (${kills[$m]} kills, 0 lost acknowledged transactions)"
	else
		echo "FAIL sqlvfs_crash_$m (${fails[$m]} of ${kills[$m]} kills failed, first ${first_fail[$m]})"
		status=1
	fi
done
exit $status
