# Shared by the real-program shield suites (shield_{redis,sqlite,nginx,memcached}.sh,
# issue 4 items 4 and 5): Debian's own binaries, unmodified, run under `shelter run`
# with the RELEASE shield (an ASan shield cannot be preloaded into a non-ASan
# program). Source after tests/lib.sh with SUITE set, then call shield_setup.
# Never the machine's platform or state: everything lives in a private temp dir.
# SHIELD_KEEP=1 keeps the temp dir for a look after a failure.
# Daemons lead their own process group (setsid) so that a forked child (redis's
# BGSAVE, nginx's workers) is stopped, or killed, with them.

S=${SHELTER:?set SHELTER to the shelter binary}
export SHELTER_SHIELD_LIB=${SHELTER_SHIELD_LIB:-$PWD/build/release/lib/libshelter-shield.so}
# the write-family system calls traced for plaintext (issue 4 item 4)
STRACE_CALLS=write,pwrite64,writev,pwritev,pwritev2,sendfile,sendto,sendmsg,copy_file_range,splice
w=
bg_groups=() # process groups still to be killed at exit

shield_cleanup() {
	local p
	for p in "${bg_groups[@]}"; do
		kill -KILL -- "-$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ -n "${SHIELD_KEEP:-}" ]; then
		echo "kept $w" >&2
	elif [ -n "$w" ]; then
		rm -rf "$w"
	fi
}

# shield_setup PROGRAM...: check the shield and the programs, make and enter the
# suite's temp dir ($w), with private platform and state dirs
shield_setup() {
	local p
	if [ ! -f "$SHELTER_SHIELD_LIB" ]; then
		fail shield_library "no $SHELTER_SHIELD_LIB: make BUILD=release all"
		exit 1
	fi
	for p in "$@"; do
		if ! command -v "$p" >/dev/null; then
			fail "have_$(basename "$p")" "$p is not installed: scripts/install-deps.sh"
			exit 1
		fi
	done
	w=$(mktemp -d)
	trap shield_cleanup EXIT
	cd "$w" || exit 1
	export SHELTER_PLATFORM_DIR=$w/plat SHELTER_STATE_DIR=$w/state
	unset SHELTER_CAS_URL SHELTER_CAS_CERT SHELTER_SESSION LD_PRELOAD LD_LIBRARY_PATH
}

# free_port: a TCP port on 127.0.0.1 nobody listens on right now
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# canary TEXT: a value that cannot appear anywhere by chance
canary() { echo "canary-$1-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }

# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds
wait_until() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# alive PID: running, not a zombie waiting to be reaped
alive() {
	local st
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

port_open() { (: >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_bg LOG CMD...: CMD in the background as the leader of its own process group,
# stdout and stderr to LOG; sets bg_pid
start_bg() {
	local log=$1
	shift
	setsid "$@" >"$log" 2>&1 &
	bg_pid=$!
	bg_groups+=("$bg_pid")
}

# start_bg_in IN LOG CMD...: start_bg with stdin from IN (a fifo: opened by the child)
start_bg_in() {
	local in=$1 log=$2
	shift 2
	setsid "$@" <"$in" >"$log" 2>&1 &
	bg_pid=$!
	bg_groups+=("$bg_pid")
}

# wait_port PORT PID [SECONDS]: PORT accepts connections while PID still runs
wait_port() {
	local n=$((${3:-30} * 10))
	while [ "$n" -gt 0 ]; do
		alive "$2" || return 1
		port_open "$1" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

forget() { # forget PID: reaped, no longer to be killed at exit
	local p keep=()
	for p in "${bg_groups[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	bg_groups=("${keep[@]}")
}

# stop_bg PID [SIGNAL [SECONDS]]: send SIGNAL (TERM; '-' sends none) to PID, wait for
# it (30 s, then its group is killed), kill what is left of its group, reap it;
# returns its exit status
stop_bg() {
	local pid=$1 sig=${2:-TERM} n=$((${3:-30} * 10)) rc
	[ "$sig" = - ] || kill -"$sig" "$pid" 2>/dev/null
	while [ "$n" -gt 0 ] && alive "$pid"; do
		sleep 0.1
		n=$((n - 1))
	done
	kill -KILL -- "-$pid" 2>/dev/null # stragglers; the leader is reaped only below
	wait "$pid"
	rc=$?
	forget "$pid"
	return $rc
}

# kill_group PID: SIGKILL the whole process group PID leads, as a crash would; reap it
kill_group() {
	kill -KILL -- "-$1" 2>/dev/null
	wait "$1" 2>/dev/null
	forget "$1"
}

# trace_prepare TRACE CANARY: sets the array traced, a command prefix that runs the
# command under strace following every fork and recording the write-family calls
# with the path behind each descriptor (-y) and their whole buffers. The trace goes
# through a filter that keeps whole each line holding CANARY (TRACE.canary) and the
# start of every line (TRACE.short): a full trace of memcached writing back its
# 40 MiB mapping alone is over 200 MiB.
trace_prepare() {
	rm -f "$1.fifo" "$1.canary" "$1.short"
	mkfifo "$1.fifo"
	setsid awk -v c="$2" -v full="$1.canary" -v short="$1.short" \
		'index($0, c) { print > full } { print substr($0, 1, 300) > short }' <"$1.fifo" &
	trace_filter=$!
	bg_groups+=("$trace_filter")
	traced=(strace -f -qq -y -s 4194304 -e "trace=$STRACE_CALLS" -o "$1.fifo")
}

# trace_pid TRACE_PID: the pid of the program strace started (its only child)
trace_pid() {
	local c
	c=$(cat "/proc/$1/task/$1/children" 2>/dev/null)
	c=${c%% *}
	[ -n "$c" ] && echo "$c"
}

# file_writes: of the trace lines on stdin, the calls that write into a file: the
# descriptor written to (the first argument) is named by a path, not socket:[...]
# or pipe:[...]
file_writes() {
	grep -E "^[0-9]+ +($(tr , '|' <<<"$STRACE_CALLS"))\([0-9]+</"
}

# check_trace NAME TRACE HOSTDIR: once the traced command has exited, the trace saw
# writes into the volume's host dir and no canary in any write into any file; the
# canary must appear elsewhere in the trace (replies to clients), which proves that
# the trace holds the buffers
check_trace() {
	local name=$1 trace=$2 host=$3
	wait "$trace_filter"
	forget "$trace_filter"
	touch "$trace.canary"
	file_writes <"$trace.short" >"$trace.files"
	if ! grep -qF "<$host/" "$trace.files"; then
		fail "$name" "no write into $host recorded: $(head -c 300 "$trace.short")"
	elif file_writes <"$trace.canary" >"$trace.leaks"; then
		fail "$name" "plaintext written to a file: $(head -c 300 "$trace.leaks")"
	elif [ ! -s "$trace.canary" ]; then
		fail "$name" "the canary is in no traced buffer: the check proves nothing"
	else
		pass "$name"
	fi
}

# no_plaintext NAME CANARY DIR...: no byte of CANARY under the host dirs
no_plaintext() {
	local name=$1 c=$2
	shift 2
	if grep -rqaF -- "$c" "$@"; then
		fail "$name" "$(grep -rlaF -- "$c" "$@" | head -3)"
	else
		pass "$name"
	fi
}

# same NAME WANT GOT: pass when GOT is WANT, else fail with the difference
same() {
	[ "$2" = "$3" ] && pass "$1" || fail "$1" "$(diff <(echo "$2") <(echo "$3") | head -5)"
}

# stopped NAME PID SIGNAL: PID exits 0 after SIGNAL ('-' sends none: stop_bg)
stopped() {
	local rc
	stop_bg "$2" "$3"
	rc=$?
	[ $rc -eq 0 ] && pass "$1" || fail "$1" "exit $rc"
}

# tamper_outcome NAME RC LOG MOUNT HOSTDIR WHAT: a program started on a tampered
# volume exited with RC, its output in LOG. Passes when the shield refused the volume
# (exit 126, docs/shield.md §1.6), or when the program failed after the shield logged
# a security event (EIO on a damaged chunk, found only when read); WHAT says where the
# bit was, for the failure message.
tamper_outcome() {
	if [ "$2" -eq 126 ] && refused_volume "$3" "$4" "$5" "$TAMPER_WORDS"; then
		pass "${1}_refused"
	elif [ "$2" -ne 0 ] && grep -q 'security:' "$3"; then
		pass "${1}_found_when_read"
	else
		fail "${1}_refused" "$6: exit $2: $(tail -3 "$3")"
	fi
}

# biggest_segment HOSTDIR: the volume's largest log segment
biggest_segment() { ls -S "$1"/log/*.seg | head -1; }

# is_checkpoint SEGMENT: flags bit 0 of its header (docs/formats/volume.md §4)
is_checkpoint() { [ "$(od -An -tu1 -j 15 -N1 "$1" | tr -d ' ')" = 1 ]; }

# flip_random FILE [FROM]: invert one random bit at an offset >= FROM (default: past
# the 96-byte segment header, docs/formats/volume.md §4); prints the offset
flip_random() {
	local f=$1 from=${2:-96} size off
	size=$(stat -c %s "$f")
	off=$((from + (RANDOM * 32768 + RANDOM) % (size - from)))
	flip "$f" "$off" $((RANDOM % 8))
	echo "$off"
}

# refused_volume LOG MOUNT HOSTDIR WORDS: LOG holds the shield's refusal of that
# volume, naming it and the problem (an extended regexp)
refused_volume() {
	grep -qE "shelter-shield\[[0-9]+\]: refused: volume $2 \($(realpath "$3")\): .*($4)" "$1"
}

# the words the shield uses for a modified volume (docs/shield.md §1.6)
TAMPER_WORDS='modified|truncated|MAC mismatch|rolled back|stale|swapped|missing|unexpected'
