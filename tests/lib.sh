# Shared by the shell tests (tests/{integration,attacks,crash}/*.sh): PASS/FAIL lines
# that tests/run.sh counts. Set SUITE before sourcing; the caller exits with
# [ "$fails" -eq 0 ].
fails=0

pass() { echo "PASS $SUITE:$1"; }
# fail NAME [DETAIL]
fail() {
	echo "FAIL $SUITE:$1${2:+ ($2)}"
	fails=$((fails + 1))
}

# expect NAME WANT_EXIT PATTERN CMD...: run CMD; its exit code must be WANT_EXIT and
# its stdout+stderr must match PATTERN (grep -E); PATTERN '' skips the output check.
expect() {
	local name=$1 want=$2 pat=$3 out rc
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -ne "$want" ] || { [ -n "$pat" ] && ! grep -qE -- "$pat" <<<"$out"; }; then
		fail "$name" "exit $rc, want $want; output: $(head -c 400 <<<"$out")"
	else
		pass "$name"
	fi
}

# flip FILE OFFSET BIT: invert one bit in place. A tamper must change the byte: writing a
# fixed value leaves the file as it was when the byte already held it (1 run in 256).
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1")
	b=$((${b// /} ^ (1 << $3)))
	printf "\\$(printf '%03o' "$b")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# enrolled_platform PROV PLAT: a provider in PROV and a sim platform in PLAT it enrolled,
# with its certificate installed (docs/formats/quote.md §1); returns non-zero on failure.
enrolled_platform() {
	"$S" provider init "$1" --name acme >/dev/null 2>&1 &&
		"$S" platform init --dir "$2" --name node-1 >/dev/null 2>&1 &&
		"$S" provider enroll "$1" "$2/platform.csr" --out "$2.crt" >/dev/null 2>&1 &&
		"$S" platform install-cert --dir "$2" "$2.crt" >/dev/null 2>&1
}

# wait_addr LOG PID: the 127.0.0.1:PORT a daemon logged it listens on ("listening ...")
wait_addr() {
	local a
	for _ in $(seq 100); do
		a=$(grep -m1 -oE 'listening[^ ]* .*127\.0\.0\.1:[0-9]+' "$1" | grep -oE '127\.0\.0\.1:[0-9]+$')
		[ -n "$a" ] && { echo "$a"; return 0; }
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# add_test_user NAME: a user without a home for the test's sudo sessions, removed by
# the caller's cleanup; passes "test user NAME" or fails and returns 1.
add_test_user() {
	if useradd -M -N -s /bin/sh "$1" 2>useradd.err; then
		pass "test user $1"
	else
		fail "test user" "$(cat useradd.err)"
		return 1
	fi
}

# install_sudoers FILE DROPIN: FILE checked with visudo -cf, installed as DROPIN (mode
# 0440), the whole configuration checked again; DROPIN is removed when any of it
# fails. Passes or fails "sudoers drop-in"; returns 1 on failure.
install_sudoers() {
	if visudo -cf "$1" >/dev/null && install -m 0440 "$1" "$2" && visudo -c >/dev/null; then
		pass "sudoers drop-in (visudo -c)"
	else
		rm -f "$2"
		fail "sudoers drop-in" "visudo refused it"
		return 1
	fi
}

# fresh_service_start: the freshness service (docs/protocols/freshness.md) of a test,
# in the current directory: a provider and its enrolled platform (prov, plat), three
# endorsers (logs e1.log..e3.log; E_PID, and E their --endorser arguments), a genesis
# on sqlite:fstore.db (G), the endorsers' measurement (M) and a coordinator started
# with start_coord (below). Background pids go to the array pids. Passes or fails
# genesis and coordinator_start; returns 1 when the service could not start.
fresh_service_start() {
	local n
	enrolled_platform prov plat || {
		fail platform_setup
		return 1
	}
	E=()
	E_PID=()
	for n in 1 2 3; do
		"$S" freshness endorser --listen 127.0.0.1:0 --platform plat 2>"e$n.log" &
		E_PID+=($!)
		pids+=($!)
		E+=(--endorser "$(wait_addr "e$n.log" $!)")
	done
	G=$("$S" freshness init --store sqlite:fstore.db "${E[@]}" 2>init.err)
	[[ $G =~ ^[0-9a-f]{64}$ ]] && pass genesis || { fail genesis "$(cat init.err)"; return 1; }
	M=$(grep -m1 -oE 'measurement=[0-9a-f]{64}' e1.log | cut -d= -f2)
	C_RUNS=0
	start_coord
	[ -n "$C_ADDR" ] && pass coordinator_start || {
		fail coordinator_start "$(cat coord1.log)"
		return 1
	}
}

# start_coord [HOST:PORT]: a coordinator on sqlite:fstore.db (C_PID, C_ADDR), with a
# log of its own (coordN.log), so the address read is its own.
start_coord() {
	C_RUNS=$((C_RUNS + 1))
	"$S" freshness serve --listen "${1:-127.0.0.1:0}" --store sqlite:fstore.db \
		2>"coord$C_RUNS.log" &
	C_PID=$!
	pids+=($C_PID)
	C_ADDR=$(wait_addr "coord$C_RUNS.log" "$C_PID")
}

# start_private_auditd DIR LOG ERR: an audit daemon of the test's own, for when none
# runs: `auditd -n -c DIR` with DIR/auditd.conf written here (its log LOG, ENRICHED,
# rotated at 8 MB, never halting the machine when the disk fills) and its plugins read
# from DIR/plugins.d (made here; a caller puts its plugin there first), stderr to ERR.
# Sets own_auditd to its pid, which the caller's EXIT trap ends with
# stop_private_auditd. Returns 0 once the kernel names it its audit daemon, 1 when it
# does not within 10 s.
start_private_auditd() {
	local dir=$1
	mkdir -p "$dir/plugins.d" || return 1
	cat >"$dir/auditd.conf" <<-EOF
		local_events = yes
		write_logs = yes
		log_file = $2
		log_format = ENRICHED
		flush = INCREMENTAL_ASYNC
		freq = 1
		max_log_file = 8
		num_logs = 2
		max_log_file_action = ROTATE
		space_left = 10
		space_left_action = SYSLOG
		admin_space_left = 5
		admin_space_left_action = SYSLOG
		disk_full_action = SYSLOG
		disk_error_action = SYSLOG
		plugin_dir = $dir/plugins.d
		end_of_event_timeout = 2
	EOF
	chmod 600 "$dir/auditd.conf"
	auditd -n -c "$dir" 2>"$3" &
	own_auditd=$!
	for _ in $(seq 100); do
		[ "$(auditctl -s | sed -n 's/^pid //p')" = "$own_auditd" ] && return 0
		kill -0 "$own_auditd" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

# stop_private_auditd [ENABLED]: stop the auditd start_private_auditd started, if it
# runs, and put the kernel's audit enabled flag back to ENABLED when one is given and
# the flag is not that now. Audit state is global: every exit path calls this.
stop_private_auditd() {
	if [ -n "${own_auditd:-}" ]; then
		kill -TERM "$own_auditd" 2>/dev/null
		wait "$own_auditd" 2>/dev/null
		own_auditd=
	fi
	[ -n "${1:-}" ] || return 0
	[ "$(auditctl -s 2>/dev/null | sed -n 's/^enabled //p')" = "$1" ] ||
		auditctl -e "$1" >/dev/null 2>&1
}
