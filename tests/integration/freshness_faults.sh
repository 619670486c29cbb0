#!/usr/bin/env bash
# Fault tests of the freshness service (docs/protocols/freshness.md §12): under a
# steady load of appends from 8 clients (tests/helpers/fresh_load), an endorser is
# partitioned and healed (a network namespace whose veth link goes down; SIGSTOP when
# namespaces are not available), a random endorser is killed with SIGKILL, a new one
# started and the view reconfigured, three times; the coordinator is killed and
# restarted three times; the store is rolled back to two older copies (the reads meanwhile
# must all be refused) and put back. Then every client's handle is read: zero
# acknowledged appends lost, zero stale or wrong states accepted; the counts are
# printed.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
S=${SHELTER:?set SHELTER to the shelter binary}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$(cd "$ROOT" && realpath -m "${SHELTER_BUILD:-build/asan}")
LOAD=$B/tests/fresh_load
SUITE=freshness_faults
w=$(mktemp -d)
pids=()
ns=
cleanup() {
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
	[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	[ -n "${KEEP:-}" ] && echo "kept $w" >&2 || rm -rf "$w"
}
trap cleanup EXIT
cd "$w"
[ -x "$LOAD" ] || { fail have_fresh_load "no $LOAD: make all"; exit 1; }
enrolled_platform prov plat || {
	fail platform_setup
	exit 1
}

# the endorser "p" lives in a network namespace of its own, reached over a veth pair,
# so that taking the link down partitions it (its TCP connections hang, no reset)
veth=shfz$$
net=10.213.$(($$ % 250 + 1))
if ip netns add "shfz$$" 2>/dev/null; then
	ns=shfz$$
	if ip link add "${veth}h" type veth peer name "${veth}n" &&
		ip link set "${veth}n" netns "$ns" &&
		ip addr add "$net.1/30" dev "${veth}h" && ip link set "${veth}h" up &&
		ip -n "$ns" addr add "$net.2/30" dev "${veth}n" &&
		ip -n "$ns" link set "${veth}n" up && ip -n "$ns" link set lo up; then
		:
	else
		ip netns del "$ns" 2>/dev/null
		ns=
	fi
fi

declare -A E_PID E_ADDR
addr_in() { # addr_in LOG PID: the HOST:PORT a daemon logged it listens on
	local a
	for _ in $(seq 100); do
		a=$(grep -m1 -oE 'listening[^ ]* .*[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+' "$1" |
			grep -oE '[0-9.]+:[0-9]+$')
		[ -n "$a" ] && { echo "$a"; return 0; }
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
start_endorser() { # start_endorser NAME [in-namespace]
	if [ -n "${2:-}" ]; then
		ip netns exec "$ns" "$S" freshness endorser --listen "$net.2:0" --platform plat \
			2>"e$1.log" &
	else
		"$S" freshness endorser --listen 127.0.0.1:0 --platform plat 2>"e$1.log" &
	fi
	E_PID[$1]=$!
	pids+=($!)
	E_ADDR[$1]=$(addr_in "e$1.log" "${E_PID[$1]}")
}
pubkey_of() { grep -m1 -oE 'pubkey=[0-9a-f]{64}' "e$1.log" | cut -d= -f2; }
C_RUNS=0

start_endorser p ${ns:+ns}
start_endorser 2
start_endorser 3
members=(p 2 3)
G=$("$S" freshness init --store sqlite:fstore.db --endorser "${E_ADDR[p]}" \
	--endorser "${E_ADDR[2]}" --endorser "${E_ADDR[3]}" 2>init.err)
[[ $G =~ ^[0-9a-f]{64}$ ]] && pass genesis || { fail genesis "$(cat init.err)"; exit 1; }
M=$(grep -m1 -oE 'measurement=[0-9a-f]{64}' e2.log | cut -d= -f2)
start_coord
[ -n "$C_ADDR" ] && pass coordinator_start || { fail coordinator_start; exit 1; }
ADDR=$C_ADDR
L=(--service "$ADDR" --genesis "$G" --provider prov --measurement "$M" --clients 8 --dir ctl)
mkdir ctl
"$LOAD" run "${L[@]}" >load.out 2>load.err &
LOAD_PID=$!
pids+=($LOAD_PID)
sleep 2

# --- a partition of one endorser, healed ------------------------------------------------
if [ -n "$ns" ]; then
	ip link set "${veth}h" down && sleep 1.5 && ip link set "${veth}h" up &&
		pass partition_netns_down_and_up || fail partition_netns_down_and_up
else
	echo "freshness_faults: no network namespace here: SIGSTOP stands in for a partition"
	kill -STOP "${E_PID[p]}" && sleep 1.5 && kill -CONT "${E_PID[p]}" &&
		pass partition_sigstop || fail partition_sigstop
fi
sleep 1.5
sqlite3 fstore.db ".backup old0.db" && pass store_copy_0 || fail store_copy_0

# --- a random member killed, a new one in its place, three times ---------------------------
for r in 1 2 3; do
	k=${members[RANDOM % 3]}
	kill -KILL "${E_PID[$k]}"
	wait "${E_PID[$k]}" 2>/dev/null
	sleep 1
	start_endorser "n$r"
	out=$("$S" freshness reconfigure --store sqlite:fstore.db --remove "$(pubkey_of "$k")" \
		--add "${E_ADDR[n$r]}" 2>"reconfigure$r.err")
	if [[ $out =~ ^view\ $r$ ]]; then
		pass "reconfigure_$r"
	else
		fail "reconfigure_$r" "removed $k: $out $(tail -2 "reconfigure$r.err")"
	fi
	for i in 0 1 2; do [ "${members[i]}" = "$k" ] && members[i]=n$r; done
	sleep 1.5
done
sqlite3 fstore.db ".backup old1.db" && pass store_copy_1 || fail store_copy_1

# --- the coordinator killed and restarted, three times (each kill may catch a round half
# sent: one member ahead on a certificate only this coordinator held, §5) ------------------
for r in 1 2 3; do
	kill -KILL "$C_PID"
	wait "$C_PID" 2>/dev/null
	sleep 0.5
	start_coord "$ADDR"
	[ "$C_ADDR" = "$ADDR" ] && pass "coordinator_restart_$r" || fail "coordinator_restart_$r"
	sleep 1.5
done

# --- the store rolled back to an older copy: reads only, every one refused --------------------
touch ctl/pause
sleep 1
for old in old1 old0; do
	kill -KILL "$C_PID"
	wait "$C_PID" 2>/dev/null
	mkdir -p cur
	mv fstore.db* cur/
	cp "$old.db" fstore.db
	start_coord "$ADDR"
	sleep 1.5
	kill -KILL "$C_PID"
	wait "$C_PID" 2>/dev/null
	rm -f fstore.db*
	mv cur/fstore.db* .
	start_coord "$ADDR"
	[ "$C_ADDR" = "$ADDR" ] && pass "store_put_back_after_$old" ||
		fail "store_put_back_after_$old"
done
rm ctl/pause
sleep 2

# --- the counts ------------------------------------------------------------------------------
touch ctl/stop
if wait "$LOAD_PID"; then pass load_no_stale_no_wrong; else
	fail load_no_stale_no_wrong "$(tail -5 load.err)"
fi
counts=$(cat load.out)
echo "freshness_faults: under load: $counts"
acked=$(grep -oE 'acked=[0-9]+' <<<"$counts" | cut -d= -f2)
refused=$(grep -oE 'refused_paused=[0-9]+' <<<"$counts" | cut -d= -f2)
[ "${acked:-0}" -gt 100 ] && pass appends_acknowledged || fail appends_acknowledged "$counts"
# the rolled-back store was noticed, not believed
[ "${refused:-0}" -gt 0 ] && pass rolled_back_reads_refused || fail rolled_back_reads_refused "$counts"
if grep -q STALE load.err; then fail no_stale_read "$(grep -m3 STALE load.err)"; else
	pass no_stale_read
fi
out=$("$LOAD" verify "${L[@]}" 2>&1)
echo "freshness_faults: after the faults: $out"
[[ $out =~ verified=8\ lost=0\ wrong=0 ]] && pass no_acknowledged_append_lost ||
	fail no_acknowledged_append_lost "$out"

kill -TERM "$C_PID"
wait "$C_PID" && pass coordinator_sigterm || fail coordinator_sigterm
[ "$fails" -eq 0 ]
