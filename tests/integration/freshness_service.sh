#!/usr/bin/env bash
# The freshness service end to end (docs/protocols/freshness.md): endorsers, a
# genesis, a coordinator on SQLite, the client's create/append/read; a rolled-back
# store refused (fail-stop, §6.3), a wrong genesis refused, appends through a minority
# crash, a reconfiguration that replaces the crashed endorser without losing an
# acknowledged append, a killed coordinator, and a lost majority; a write's pending
# block finished by recovery (§6.3 step 4); a hung endorser dropped as late, and
# brought up to date once back.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
S=${SHELTER:?set SHELTER to the shelter binary}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SUITE=freshness_service
w=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w"

enrolled_platform prov plat || {
	fail platform_setup
	exit 1
}

declare -A E_PID E_ADDR
start_endorser() { # start_endorser NAME
	"$S" freshness endorser --listen 127.0.0.1:0 --platform plat 2>"e$1.log" &
	E_PID[$1]=$!
	pids+=($!)
	E_ADDR[$1]=$(wait_addr "e$1.log" "${E_PID[$1]}")
}
pubkey_of() { grep -m1 -oE '(pubkey|key)=[0-9a-f]{64}' "e$1.log" | cut -d= -f2; }
C_PID=
C_RUNS=0
start_coord() { # a coordinator with a log of its own, so its address is its own
	C_RUNS=$((C_RUNS + 1))
	"$S" freshness serve --listen 127.0.0.1:0 --store sqlite:store.db 2>"coord$C_RUNS.log" &
	C_PID=$!
	pids+=($!)
	C_ADDR=
	for _ in $(seq 100); do
		C_ADDR=$(grep -m1 -oE 'listening addr=127\.0\.0\.1:[0-9]+' "coord$C_RUNS.log" | cut -d= -f2)
		[ -n "$C_ADDR" ] && break
		sleep 0.1
	done
	F=(--service "$C_ADDR" --genesis "$G" --handle vol1 --provider prov --accept-sim)
}
for n in 1 2 3 4; do start_endorser $n; done
if [ -n "${E_ADDR[1]}" ] && [ -n "${E_ADDR[4]}" ]; then pass endorsers_start; else
	fail endorsers_start "$(cat e1.log)"
	exit 1
fi

# --- genesis and the first states ------------------------------------------------------
G=$("$S" freshness init --store sqlite:store.db --endorser "${E_ADDR[1]}" \
	--endorser "${E_ADDR[2]}" --endorser "${E_ADDR[3]}" 2>init.err)
[[ $G =~ ^[0-9a-f]{64}$ ]] && pass genesis || fail genesis "$(cat init.err)"
expect genesis_once 1 'already holds a service' "$S" freshness init --store sqlite:store.db \
	--endorser "${E_ADDR[4]}"
start_coord
[ -n "$C_ADDR" ] && pass coordinator_start || fail coordinator_start "$(cat coord1.log)"
for i in 0 1 2 3; do echo "state $i $RANDOM" >s$i; done
expect create 0 '^created height 0 tail [0-9a-f]{64}$' "$S" freshness create "${F[@]}" s0
expect append_1 0 '^appended height 1 ' "$S" freshness append "${F[@]}" s1
expect append_2 0 '^appended height 2 ' "$S" freshness append "${F[@]}" s2
expect read_latest 0 '^latest height 2 ' "$S" freshness read "${F[@]}" --out got
cmp -s got s2 && pass read_returns_the_state || fail read_returns_the_state
P=(--provider prov --accept-sim)
expect unknown_handle 1 'no such handle' "$S" freshness read --service "$C_ADDR" --genesis "$G" \
	--handle nobody "${P[@]}"
other=$(printf '%064d' 7)
expect wrong_genesis 1 'genesis is not the one pinned' "$S" freshness read --service "$C_ADDR" \
	--genesis "$other" --handle vol1 "${P[@]}"
expect tofu_warns 0 'trusting the service.s genesis' "$S" freshness read --service "$C_ADDR" \
	--handle vol1 "${P[@]}"
# §3.3: endorsers are believed only on quotes the client's policy accepts
expect sim_refused_by_default 1 'sim quote, and sim endorsers are not accepted' \
	"$S" freshness read --service "$C_ADDR" --genesis "$G" --handle vol1 --provider prov
expect other_measurement_refused 1 'not an accepted endorser measurement' \
	"$S" freshness read --service "$C_ADDR" --genesis "$G" --handle vol1 "${P[@]}" \
	--endorser-measurement "$other"
"$S" provider init other >/dev/null 2>&1 || "$S" provider init other --name other >/dev/null
expect other_provider_refused 1 'endorser [0-9a-f]{16}' "$S" freshness read --service "$C_ADDR" \
	--genesis "$G" --handle vol1 --provider other --accept-sim
expect provider_needed 2 'at least one --provider' "$S" freshness read --service "$C_ADDR" \
	--handle vol1

# --- the public client (include/shelter/freshness.h), through public headers only ------
A=$ROOT/${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}/tests/fresh_api
[ -x "$A" ] || A=$SHELTER_BUILD/tests/fresh_api
M=$(grep -m1 -oE 'measurement=[0-9a-f]{64}' e1.log | cut -d= -f2)
expect public_api 0 '^ok 5 [0-9a-f]{64}$' "$A" "$C_ADDR" "$G" prov "$M" 5
expect public_api_wrong_genesis 1 'genesis is not the one pinned' "$A" "$C_ADDR" "$other" \
	prov "$M" 1
expect public_api_wrong_measurement 1 'not an accepted endorser measurement' "$A" "$C_ADDR" \
	"$G" prov "$other" 1

# --- the store rolled back: the endorsers' tail has no state; fail-stop (§6.3) --------
kill -TERM "$C_PID"
wait "$C_PID"
cp store.db snap.db
[ -f store.db-wal ] && cp store.db-wal snap.db-wal
start_coord
expect append_3 0 '^appended height 3 ' "$S" freshness append "${F[@]}" s3
kill -TERM "$C_PID"
wait "$C_PID"
mv store.db good.db
[ -f store.db-wal ] && mv store.db-wal good.db-wal
rm -f store.db-shm
cp snap.db store.db
[ -f snap.db-wal ] && cp snap.db-wal store.db-wal
start_coord
expect rolled_back_store_refused 1 'height 3 is gone from the store; refusing any older one' \
	"$S" freshness read "${F[@]}"
expect no_append_on_rolled_back_store 1 'gone from the store' "$S" freshness append "${F[@]}" s3
kill -TERM "$C_PID"
wait "$C_PID"
rm -f store.db-wal store.db-shm
mv good.db store.db
[ -f good.db-wal ] && mv good.db-wal store.db-wal
start_coord
expect store_back 0 '^latest height 3 ' "$S" freshness read "${F[@]}"

# --- a write that crashed after storing its block: recovery finishes it (§6.3 step 4) ----
# put_block HANDLE HEIGHT PREV FILE [DIGEST]: the block as §6.1 step 1 leaves it in the
# store (§5, §8.2: digest || tail below || u32 len || state), its append never sent.
put_block() {
	local digest=${5:-$(sha256sum <"$4" | cut -c1-64)} len state
	len=$(printf '%08x' "$(stat -c %s "$4")")
	state=$(od -An -v -tx1 "$4" | tr -d ' \n')
	sqlite3 store.db "INSERT INTO kv VALUES('block/$1/$2', X'$digest$3$len$state', 1)"
}
created_tail() { "$S" freshness create "$@" 2>&1 | sed -n 's/^created height 0 tail //p'; }
zero=$(printf '%064d' 0)
for x in a0 a1 a2 b0 c0 c1 c2 d0 d1 e0; do echo "pending $x $RANDOM" >p$x; done
FA=(--service "$C_ADDR" --genesis "$G" --handle "$(printf '%064d' 11)" "${P[@]}")
put_block "$(printf '%064d' 11)" 1 "$(created_tail "${FA[@]}" pa0)" pa1
expect pending_append_finished 0 '^latest height 1 ' "$S" freshness read "${FA[@]}" --out got
cmp -s got pa1 && pass pending_append_state || fail pending_append_state
expect append_after_pending 0 '^appended height 2 ' "$S" freshness append "${FA[@]}" pa2
FB=(--service "$C_ADDR" --genesis "$G" --handle "$(printf '%064d' 12)" "${P[@]}")
put_block "$(printf '%064d' 12)" 0 "$zero" pb0
expect pending_create_finished 0 '^latest height 0 ' "$S" freshness read "${FB[@]}" --out got
cmp -s got pb0 && pass pending_create_state || fail pending_create_state
# a block that does not chain is left alone, and the next write meets it in the store
FC=(--service "$C_ADDR" --genesis "$G" --handle "$(printf '%064d' 13)" "${P[@]}")
created_tail "${FC[@]}" pc0 >/dev/null
put_block "$(printf '%064d' 13)" 1 "$other" pc1
expect unchained_pending_ignored 0 '^latest height 0 ' "$S" freshness read "${FC[@]}"
expect unchained_pending_stops_the_next_write 1 'height 1 already holds another state' \
	"$S" freshness append "${FC[@]}" pc2
# so is a corrupt one (its digest not that of its state), also at height 0
FD=(--service "$C_ADDR" --genesis "$G" --handle "$(printf '%064d' 14)" "${P[@]}")
put_block "$(printf '%064d' 14)" 1 "$(created_tail "${FD[@]}" pd0)" pd1 "$other"
expect corrupt_pending_ignored 0 '^latest height 0 ' "$S" freshness read "${FD[@]}"
FE=(--service "$C_ADDR" --genesis "$G" --handle "$(printf '%064d' 15)" "${P[@]}")
put_block "$(printf '%064d' 15)" 0 "$zero" pe0 "$other"
expect corrupt_pending_create_ignored 1 'no such handle' "$S" freshness read "${FE[@]}"

# --- a hung endorser (no reset, no answer) does not hold rounds up; once back it lags
# behind and is brought up to date (§5: STALE, then certify and append) ----------------
FH=(--service "$C_ADDR" --genesis "$G" --handle hung "${P[@]}")
echo "hung 0" >h0
expect hung_create 0 '^created height 0 ' "$S" freshness create "${FH[@]}" h0
kill -STOP "${E_PID[3]}"
for i in 1 2 3 4; do
	echo "hung $i" >h$i
	expect hung_append_$i 0 "^appended height $i " "$S" freshness append "${FH[@]}" h$i
done
if grep -q "late endorser=${E_ADDR[3]} " "coord$C_RUNS.log"; then pass hung_endorser_dropped_as_late
else
	fail hung_endorser_dropped_as_late "$(tail -5 "coord$C_RUNS.log")"
fi
kill -CONT "${E_PID[3]}"
kill -STOP "${E_PID[1]}" # now the lagging one is needed for every quorum
for i in 5 6 7; do
	echo "hung $i" >h$i
	expect lagging_endorser_catches_up_$i 0 "^appended height $i " "$S" freshness append \
		"${FH[@]}" h$i
done
kill -CONT "${E_PID[1]}"
# each member stopped once: a write round asks f+1 of them, so one of these stops takes
# an asked member away and the spare, behind, must be brought up (certify) to answer
kill -STOP "${E_PID[2]}"
for i in 8 9 10; do
	echo "hung $i" >h$i
	expect spare_brought_up_$i 0 "^appended height $i " "$S" freshness append "${FH[@]}" h$i
done
kill -CONT "${E_PID[2]}"
expect hung_read 0 '^latest height 10 ' "$S" freshness read "${FH[@]}" --out got
cmp -s got h10 && pass hung_read_state || fail hung_read_state

# --- blocks a stored certificate supersedes are deleted (§5): the store keeps the latest
PH=$(printf '%064d' 21)
FP=(--service "$C_ADDR" --genesis "$G" --handle "$PH" "${P[@]}")
echo "pruned 0" >q0
expect prune_create 0 '^created height 0 ' "$S" freshness create "${FP[@]}" q0
for i in 1 2 3 4 5 6; do
	echo "pruned $i" >q$i
	"$S" freshness append "${FP[@]}" q$i >/dev/null 2>&1 || fail prune_append_$i
done
sleep 0.5 # the coordinator stores certificates a few milliseconds after answering
blocks=$(sqlite3 store.db "SELECT group_concat(substr(key, 72), ',') FROM kv WHERE key LIKE 'block/$PH/%'")
[ "$blocks" = 6 ] && pass superseded_blocks_deleted || fail superseded_blocks_deleted "left: $blocks"
expect pruned_read 0 '^latest height 6 ' "$S" freshness read "${FP[@]}"

# --- a minority crash, then its replacement (§7) ---------------------------------------
kill -KILL "${E_PID[3]}"
wait "${E_PID[3]}" 2>/dev/null
echo "state 4" >s4
expect append_with_one_down 0 '^appended height 4 ' "$S" freshness append "${F[@]}" s4
P3=$(pubkey_of 3)
expect reconfigure 0 '^view 1$' "$S" freshness reconfigure --store sqlite:store.db \
	--remove "$P3" --add "${E_ADDR[4]}"
expect read_after_reconfigure 0 '^latest height 4 ' "$S" freshness read "${F[@]}" --out got
cmp -s got s4 && pass acknowledged_state_survives || fail acknowledged_state_survives
# the locks disagree on the hung handle (stopped members missed heights): its certificate
# from the store decides it, and decides no other handle (§7.2)
expect hung_after_reconfigure 0 '^latest height 10 ' "$S" freshness read "${FH[@]}"
echo "state 5" >s5
expect append_in_new_view 0 '^appended height 5 ' "$S" freshness append "${F[@]}" s5

# --- the coordinator killed during appends: every acknowledged append stays ---------------
acked=5
declare -A at=([5]=s5) # height -> the file acknowledged there
for i in $(seq 6 25); do
	echo "state $i" >s$i
	if out=$("$S" freshness append "${F[@]}" s$i 2>&1); then
		acked=$(sed -n 's/^appended height \([0-9]*\) .*/\1/p' <<<"$out")
		at[$acked]=s$i
	fi
	[ "$i" = 12 ] && kill -KILL "$C_PID"
	[ "$i" = 14 ] && start_coord
done
out=$("$S" freshness read "${F[@]}" --out got 2>&1)
h=$(sed -n 's/^latest height \([0-9]*\) .*/\1/p' <<<"$out")
if [ -n "$h" ] && [ "$h" -ge "$acked" ] && cmp -s got "${at[$h]:-none}"; then
	pass coordinator_kill_loses_nothing
else
	fail coordinator_kill_loses_nothing "acked $acked, read: $out"
fi

# --- a lost majority: no progress, nothing stale ----------------------------------------
kill -KILL "${E_PID[1]}" "${E_PID[2]}"
wait "${E_PID[1]}" "${E_PID[2]}" 2>/dev/null
expect majority_lost_no_append 1 'endorsers of view 1 answered' "$S" freshness append "${F[@]}" s5
expect majority_lost_no_read 1 'endorsers of view 1 answered' "$S" freshness read "${F[@]}"

# --- clean shutdown and refusals ---------------------------------------------------------
kill -TERM "$C_PID"
if wait "$C_PID" && grep -q 'stopped' "coord$C_RUNS.log"; then pass coordinator_sigterm; else
	fail coordinator_sigterm
fi
expect serve_bad_store 2 'needs --listen' "$S" freshness serve --store sqlite:x.db
expect serve_unknown_store 1 'want sqlite:PATH' "$S" freshness serve --listen 127.0.0.1:0 \
	--store postgres://x
[ "$fails" -eq 0 ]
