#!/usr/bin/env bash
# Crash test of protected volumes (docs/formats/volume.md §8): every operation is
# atomic across a crash, and nothing acknowledged by a sync is lost.
#
# Each iteration creates a fresh volume, starts tests/helpers/crash_writer on it (a
# deterministic op stream from a seed, syncing and printing "ack N" every few ops,
# compacting now and then), kills it with SIGKILL, and runs tests/helpers/crash_check,
# which verifies the volume as the crash left it, opens it, requires its whole tree
# to equal the writer's model after some k >= the last ack, and checks that the
# volume still takes writes. A progress file the writer keeps in shared memory tells
# whether the kill landed inside an operation.
#
# Modes (each iteration picks one):
#   single    one writer, killed after a random 0-300 ms
#   fork      the writer forks a child running its own stream on the inherited
#             handle; both are killed at once (process group), or, in every other
#             fork iteration, the child first and the parent 0-100 ms later, so the
#             parent must carry on over whatever the child left half done
#   ack       one writer whose stdout is a pipe to this script, killed as soon as
#             its Nth ack (N random 1-30) is read
#
# Environment: SHELTER_BUILD (required; helpers under $SHELTER_BUILD/tests),
# SHELTER (shelter CLI; default $SHELTER_BUILD/bin/shelter), CRASH_ITERATIONS
# (default 200, a quarter of them fork, an eighth ack), CRASH_SEED (base seed;
# iteration i uses CRASH_SEED + i; random by default), CRASH_OPS (ops per stream,
# default 4000: more than a writer gets through before it is killed).
# Output: one PASS/FAIL line per mode, after a summary of what the kills hit. A FAIL
# line names the seed, the mode and the kill time, and keeps the volume as the crash
# left it (with the writer's output and the check's) in a directory it prints.
# Timing is not reproducible, so a kept volume is the reproducer: re-run the check
# on a copy with the command printed.
set -uo pipefail
cd "$(dirname "$0")/../.."

B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
S=${SHELTER:-$B/bin/shelter}
W=$B/tests/crash_writer
C=$B/tests/crash_check
N=${CRASH_ITERATIONS:-200}
OPS=${CRASH_OPS:-4000}
SEED0=${CRASH_SEED:-$(((RANDOM << 30) | (RANDOM << 15) | RANDOM))}
MAX_KEPT=5

for bin in "$S" "$W" "$C"; do
	if [ ! -x "$bin" ]; then
		echo "FAIL volume_crash (missing $bin: build it first)"
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/volume_crash.XXXXXX")
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

declare -A kills torn superseded fails lead_max finished first_fail midop applied untraced unseen
declare -A dropped lost
declare -A lead_hist # "mode:bucket" -> count
modes=(single fork ack)
for m in "${modes[@]}"; do
	kills[$m]=0 torn[$m]=0 fails[$m]=0 lead_max[$m]=0 finished[$m]=0 first_fail[$m]=""
	midop[$m]=0 applied[$m]=0 untraced[$m]=0 unseen[$m]=0 dropped[$m]=0 superseded[$m]=0 lost[$m]=0
done
kept=0

bucket() { # k - acked -> histogram bucket
	local d=$1
	if [ "$d" -eq 0 ]; then echo 0
	elif [ "$d" -eq 1 ]; then echo 1
	elif [ "$d" -le 3 ]; then echo 2-3
	elif [ "$d" -le 7 ]; then echo 4-7
	elif [ "$d" -le 15 ]; then echo 8-15
	else echo 16+
	fi
}

ms_to_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# kill_writer PID: SIGKILL the writer's whole process group (setsid made it a
# leader); if the group does not exist yet, the writer has not forked yet either.
kill_writer() {
	kill -9 -- "-$1" 2>/dev/null || kill -9 "$1" 2>/dev/null
}

last_ack() { # last_ack FILE [P|C]
	local pat='^ack [0-9]+$'
	[ $# -gt 1 ] && pat="^ack $2 [0-9]+\$"
	grep -E "$pat" "$1" | tail -n 1 | awk '{print $NF}' | grep . || echo 0
}

for ((i = 0; i < N; i++)); do
	seed=$((SEED0 + i))
	case $((i % 8)) in
	1 | 5) mode=fork ;;
	3) mode=ack ;;
	*) mode=single ;;
	esac
	vol=$work/vol
	rm -rf "$vol"
	if ! "$S" volume create "$vol" --key-file "$key" >"$work/create.log" 2>&1; then
		echo "FAIL volume_crash_$mode (volume create failed: $(head -c 300 "$work/create.log"))"
		exit 1
	fi
	: >"$work/out"
	: >"$work/err"
	head -c 32 /dev/zero >"$work/progress" # crash_writer --progress: 2 x {started, completed}
	margs=()
	[ "$mode" = fork ] && margs=(--fork)
	wargs=("${margs[@]}" --progress "$work/progress")
	delay_ms=$((RANDOM % 301))
	how="after ${delay_ms} ms"

	if [ "$mode" = ack ]; then
		target=$((1 + RANDOM % 30))
		how="right after ack #$target"
		setsid "$W" "${wargs[@]}" "$vol" "$key" "$seed" "$OPS" >"$work/pipe" 2>"$work/err" &
		wpid=$!
		seen=0
		while IFS= read -r line; do
			printf '%s\n' "$line" >>"$work/out"
			if [[ $line == ack* ]] && ((++seen == target)); then
				kill_writer "$wpid"
			fi
		done <"$work/pipe"
	else
		# stdout to a file, not the FIFO: a writer killed before its shell child opened
		# the FIFO would leave a reader blocked in open(2) for ever
		setsid "$W" "${wargs[@]}" "$vol" "$key" "$seed" "$OPS" >"$work/out" 2>"$work/err" &
		wpid=$!
		sleep "$(ms_to_s "$delay_ms")"
		if [ "$mode" = fork ] && ((i % 8 == 5)); then
			# the child (the snapshotting process) dies first; the parent goes on
			child=$(awk '$1 == "child" {print $2}' "$work/out")
			extra=$((RANDOM % 101))
			how="child after ${delay_ms} ms, parent ${extra} ms later"
			[ -n "$child" ] && kill -9 "$child" 2>/dev/null
			sleep "$(ms_to_s "$extra")"
		fi
		kill_writer "$wpid"
	fi
	wait "$wpid" 2>/dev/null
	wrc=$?
	# a SIGKILLed process may still be finishing a system call: let the whole group
	# (the fork child too) be gone before anything looks at the volume
	for ((t = 0; t < 500; t++)); do
		kill -0 -- "-$wpid" 2>/dev/null || break
		sleep 0.01
	done
	kills[$mode]=$((kills[$mode] + 1))
	grep -q '^done' "$work/out" && finished[$mode]=$((finished[$mode] + 1))

	reason=""
	if [ "$wrc" -ne 0 ] && [ "$wrc" -ne 137 ]; then
		reason="writer exited with status $wrc"
	elif grep -qE 'crash_writer:|AddressSanitizer|runtime error|LeakSanitizer' "$work/err"; then
		reason="writer reported an error: $(grep -m1 -E 'crash_writer:|Sanitizer|runtime error' "$work/err")"
	fi
	if [ "$mode" = fork ]; then
		acks=("$(last_ack "$work/out" P)" "$(last_ack "$work/out" C)")
	else
		acks=("$(last_ack "$work/out")")
	fi
	# keep the volume as the crash left it: the check repairs it and writes to it
	rm -rf "$work/crashed"
	cp -a "$vol" "$work/crashed"
	if [ -z "$reason" ]; then
		"$C" "${wargs[@]}" "$vol" "$key" "$seed" "$OPS" "${acks[@]}" >"$work/check.out" 2>&1
		crc=$?
		result=$(grep '^RESULT ' "$work/check.out" | tail -n 1)
		if [ "$crc" -ne 0 ] || [[ $result != "RESULT ok "* ]]; then
			reason="crash_check failed (exit $crc): $(grep -v '^  ' "$work/check.out" | grep -v '^RESULT' | head -n 3 | tr '\n' ';')"
			grep -q 'LOST ACKNOWLEDGED' "$work/check.out" && lost[$mode]=$((lost[$mode] + 1))
		else
			[[ $result == *" torn=1 "* ]] && torn[$mode]=$((torn[$mode] + 1))
			[[ $result == *" superseded=1 "* ]] && superseded[$mode]=$((superseded[$mode] + 1))
			for t in ${result#RESULT ok torn=? superseded=? }; do
				# stream:acked:first k:last k:op started:op completed
				IFS=: read -r _ a k kl st co <<<"$t"
				d=$((k - a))
				((d > lead_max[$mode])) && lead_max[$mode]=$d
				b="$mode:$(bucket "$d")"
				lead_hist[$b]=$((${lead_hist[$b]:-0} + 1))
				if ((st > co)); then
					midop[$mode]=$((midop[$mode] + 1))
					if ((k == st)); then
						applied[$mode]=$((applied[$mode] + 1))
					elif ((kl < st)); then
						untraced[$mode]=$((untraced[$mode] + 1))
					else
						unseen[$mode]=$((unseen[$mode] + 1))
					fi
				fi
				((kl < co)) && dropped[$mode]=$((dropped[$mode] + 1))
			done
		fi
	fi
	if [ -n "$reason" ]; then
		fails[$mode]=$((fails[$mode] + 1))
		where="(not kept: more than $MAX_KEPT failures)"
		if [ "$kept" -lt "$MAX_KEPT" ]; then
			keepdir=$(mktemp -d "${TMPDIR:-/tmp}/volume_crash_fail.XXXXXX")
			mv "$work/crashed" "$keepdir/vol"
			cp "$work/out" "$work/err" "$work/progress" "$key" "$keepdir/"
			[ -f "$work/check.out" ] && cp "$work/check.out" "$keepdir/"
			where="crashed volume, writer output and check output kept in $keepdir;"
			where+=" re-check a copy (the check repairs it): cp -a $keepdir/vol V &&"
			where+=" $C ${margs[*]} --progress $keepdir/progress V $keepdir/key $seed $OPS ${acks[*]}"
			kept=$((kept + 1))
		fi
		msg="seed $seed, killed $how, acked ${acks[*]}: $reason; $where"
		echo "FAIL volume_crash_$mode iteration $i: $msg"
		sed 's/^/  | /' "$work/check.out" 2>/dev/null | head -n 30
		[ -z "${first_fail[$mode]}" ] && first_fail[$mode]="seed $seed"
	fi
	rm -f "$work/check.out"
done

echo "volume_crash: base seed $SEED0, $N iterations, $OPS ops per stream"
status=0
for m in "${modes[@]}"; do
	[ "${kills[$m]}" -eq 0 ] && continue
	hist=""
	for b in 0 1 2-3 4-7 8-15 16+; do
		hist+=" $b:${lead_hist[$m:$b]:-0}"
	done
	echo "  $m: ${kills[$m]} kills (${finished[$m]} writers finished first);" \
		"${midop[$m]} streams killed inside an operation: ${applied[$m]} took effect," \
		"${untraced[$m]} left no trace, ${unseen[$m]} had no visible effect;" \
		"${torn[$m]} torn tails repaired; ${superseded[$m]} interrupted compactions" \
		"left superseded segments; max k-acked ${lead_max[$m]}," \
		"k-acked per stream [$hist ]; ${dropped[$m]} streams lost completed" \
		"but unacknowledged ops (allowed)"
done
for m in "${modes[@]}"; do
	[ "${kills[$m]}" -eq 0 ] && continue
	if [ "${fails[$m]}" -eq 0 ]; then
		echo "PASS volume_crash_$m (${kills[$m]} kills, 0 lost acknowledged writes)"
	else
		echo "FAIL volume_crash_$m (${fails[$m]} of ${kills[$m]} kills failed, first ${first_fail[$m]};" \
			"${lost[$m]} lost acknowledged writes)"
		status=1
	fi
done
exit $status
