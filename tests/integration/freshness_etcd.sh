#!/usr/bin/env bash
# The freshness service's store on etcd (docs/protocols/freshness.md §5). First the
# store contract through tests/helpers/fresh_store_probe, on sqlite: and on etcd:
# (compare-and-swap versions, binary and 4 MiB values, two processes racing 200
# compare-and-swap increments each: exactly 400, none lost). Then the whole service on
# a single-member etcd: two coordinators on one etcd agree on a handle, acknowledged
# states survive kill -9 of etcd, and with etcd stopped or down an append fails within
# the store's timeout, naming the etcd endpoint.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
S=${SHELTER:?set SHELTER to the shelter binary}
SUITE=freshness_etcd
root=$(cd "$(dirname "$0")/../.." && pwd)
B=${SHELTER_BUILD:-build/asan}
[[ $B = /* ]] || B=$root/$B
PROBE=$B/tests/fresh_store_probe
for p in etcd etcdctl curl python3; do
	if ! command -v "$p" >/dev/null; then
		fail "have_$p" "$p is not installed: scripts/install-deps.sh"
		exit 1
	fi
done
[ -x "$PROBE" ] || { fail have_probe "no $PROBE: make all"; exit 1; }
w=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w" || exit 1

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
CP=$(free_port)
PP=$(free_port)
DEAD=$(free_port) # nobody listens there: the endpoint to fail over from
while [ "$PP" = "$CP" ]; do PP=$(free_port); done
while [ "$DEAD" = "$CP" ] || [ "$DEAD" = "$PP" ]; do DEAD=$(free_port); done
EP=http://127.0.0.1:$CP
ES=etcd:$EP
ETCD_PID=
# start_etcd: a single member on $w/etcd (kept across restarts); values up to ~8 MiB
# need --max-request-bytes above etcd's 1.5 MiB default
start_etcd() {
	etcd --name s1 --data-dir "$w/etcd" --listen-client-urls "$EP" --advertise-client-urls "$EP" \
		--listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls \
		"http://127.0.0.1:$PP" --initial-cluster "s1=http://127.0.0.1:$PP" \
		--max-request-bytes 10485760 >>etcd.log 2>&1 &
	ETCD_PID=$!
	pids+=($!)
	for _ in $(seq 150); do
		curl -sf "$EP/health" 2>/dev/null | grep -q '"health":"true"' && return 0
		kill -0 "$ETCD_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
kill_etcd() {
	kill -KILL "$ETCD_PID"
	wait "$ETCD_PID" 2>/dev/null
}
if start_etcd; then pass etcd_starts; else
	fail etcd_starts "$(tail -5 etcd.log)"
	exit 1
fi

# --- the store contract, on both backends ---------------------------------------------
# store_checks LABEL SPEC: the probe's checks as LABEL_NAME
store_checks() {
	local out rc st name rest
	out=$("$PROBE" check "$2" 2>&1)
	rc=$?
	while read -r st name rest; do
		case $st in
		ok) pass "$1_$name" ;;
		bad) fail "$1_${name%:}" "$rest" ;;
		*) ;;
		esac
	done <<<"$out"
	[ $rc -eq 0 ] || grep -q '^bad ' <<<"$out" || fail "$1_check" "exit $rc: $(tail -3 <<<"$out")"
}
# race LABEL SPEC: two processes, 200 successful compare-and-swap increments each
race() {
	local k=race.$RANDOM a b ra rb got
	"$PROBE" incr "$2" "$k" 200 >"$1.r1" 2>&1 &
	a=$!
	"$PROBE" incr "$2" "$k" 200 >"$1.r2" 2>&1 &
	b=$!
	wait "$a"
	ra=$?
	wait "$b"
	rb=$?
	got=$("$PROBE" get "$2" "$k" 2>&1)
	if [ $ra -eq 0 ] && [ $rb -eq 0 ] && grep -q '^incremented 200 ' "$1.r1" &&
		grep -q '^incremented 200 ' "$1.r2" && [ "$got" = "version 400 value 400" ]; then
		pass "$1_race_400_increments"
	else
		fail "$1_race_400_increments" "$(cat "$1.r1" "$1.r2"); final: $got"
	fi
}
store_checks sqlite "sqlite:$w/probe.db"
race sqlite "sqlite:$w/probe.db"
store_checks etcd "$ES"
race etcd "$ES"
expect etcd_second_endpoint_used 0 '^version 1$' "$PROBE" put \
	"etcd:http://127.0.0.1:$DEAD/,$EP" failover 0 one
expect etcd_keys_under_prefix 0 '^/shelter/fresh/failover$' etcdctl --endpoints "$EP" get \
	--prefix /shelter/fresh/ --keys-only

# --- the freshness service on etcd ------------------------------------------------------
enrolled_platform prov plat || {
	fail platform_setup
	exit 1
}
E=()
for n in 1 2 3; do
	"$S" freshness endorser --listen 127.0.0.1:0 --platform plat 2>"e$n.log" &
	pids+=($!)
	E+=(--endorser "$(wait_addr "e$n.log" $!)")
done
G=$("$S" freshness init --store "$ES" "${E[@]}" 2>init.err)
[[ $G =~ ^[0-9a-f]{64}$ ]] && pass genesis_on_etcd || { fail genesis_on_etcd "$(cat init.err)"; exit 1; }
declare -A C_ADDR C_PID
start_coord() { # start_coord NAME: a coordinator on the same etcd
	"$S" freshness serve --listen 127.0.0.1:0 --store "$ES" 2>"c$1.log" &
	pids+=($!)
	C_PID[$1]=$!
	C_ADDR[$1]=$(wait_addr "c$1.log" $!)
}
start_coord a
start_coord b
if [ -n "${C_ADDR[a]}" ] && [ -n "${C_ADDR[b]}" ]; then pass coordinators_start; else
	fail coordinators_start "$(cat ca.log cb.log)"
	exit 1
fi
A=(--service "${C_ADDR[a]}" --genesis "$G" --handle vol1 --provider prov --accept-sim)
Bc=(--service "${C_ADDR[b]}" --genesis "$G" --handle vol1 --provider prov --accept-sim)
for i in 0 1 2 3 4; do echo "state $i $RANDOM" >s$i; done
expect create 0 '^created height 0 ' "$S" freshness create "${A[@]}" s0
expect append_through_a 0 '^appended height 1 ' "$S" freshness append "${A[@]}" s1
expect read_through_b 0 '^latest height 1 ' "$S" freshness read "${Bc[@]}" --out got
cmp -s got s1 && pass b_sees_a_state || fail b_sees_a_state
expect append_through_b 0 '^appended height 2 ' "$S" freshness append "${Bc[@]}" s2
expect read_through_a 0 '^latest height 2 ' "$S" freshness read "${A[@]}" --out got
cmp -s got s2 && pass a_sees_b_state || fail a_sees_b_state

# --- kill -9 etcd: every acknowledged state is still there ---------------------------
kill_etcd
if start_etcd; then pass etcd_restarts; else fail etcd_restarts "$(tail -5 etcd.log)"; fi
expect read_after_etcd_kill 0 '^latest height 2 ' "$S" freshness read "${Bc[@]}" --out got
cmp -s got s2 && pass acknowledged_state_survives_kill || fail acknowledged_state_survives_kill
expect append_after_etcd_kill 0 '^appended height 3 ' "$S" freshness append "${A[@]}" s3
expect read_after_restart_append 0 '^latest height 3 ' "$S" freshness read "${Bc[@]}"

# --- etcd stopped, then down: a clear error within the timeout, never a hang ----------
# timed NAME MAX_S PATTERN CMD...: CMD fails with exit 1, its output matches PATTERN,
# and it took at most MAX_S seconds
timed() {
	local name=$1 max=$2 pat=$3 t0 t out rc
	shift 3
	t0=$(date +%s%N)
	out=$("$@" 2>&1)
	rc=$?
	t=$((($(date +%s%N) - t0) / 1000000))
	if [ $rc -eq 1 ] && grep -qE -- "$pat" <<<"$out" && [ $t -le $((max * 1000)) ]; then
		pass "$name"
	else
		fail "$name" "exit $rc after $t ms: $(head -c 300 <<<"$out")"
	fi
}
kill -STOP "$ETCD_PID"
timed append_etcd_stopped 15 "etcd $EP: .*no answer within" "$S" freshness append "${A[@]}" s4
kill -CONT "$ETCD_PID"
kill_etcd
timed append_etcd_down 5 "etcd $EP: connect .*refused" "$S" freshness append "${A[@]}" s4
timed read_etcd_down 5 "etcd $EP" "$S" freshness read "${Bc[@]}"

# --- the coordinators stop cleanly (under ASan: nothing of the backend leaks) ---------
ok=1
for c in a b; do
	kill -TERM "${C_PID[$c]}"
	wait "${C_PID[$c]}" || ok=0
done
[ $ok -eq 1 ] && pass coordinators_sigterm || fail coordinators_sigterm "$(tail -3 ca.log cb.log)"
[ "$fails" -eq 0 ]
