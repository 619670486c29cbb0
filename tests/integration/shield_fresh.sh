#!/usr/bin/env bash
# A protected volume bound to the freshness service (docs/shield.md §6.6,
# docs/protocols/freshness.md §11): three endorsers, a coordinator on SQLite and a
# genesis; tests/helpers/shield_syncer writes and fsyncs under `shelter run
# --freshness`. Checked: synced writes survive a restart; the volume and every local
# file of the run (state and platform directories) restored together from an earlier
# copy is refused as rolled back, while the same restore of an unbound volume is
# accepted (the limit of §6.5 that binding closes); `shelter sign` with the same
# binding gives the measurement the shield computes, without it another one; another
# binding opens nothing; a service that is down refuses the start; one endorser of
# three down changes nothing; a service that goes down makes fsync fail with EIO;
# concurrent syncs of many threads, and of a forked child and its parent (CONFLICTs
# answered by a read); and kill -9 at a random point loses no record whose fsync
# returned. Programs run with the RELEASE shield and its own helper.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
S=${SHELTER:?set SHELTER to the shelter binary}
export SHELTER_SHIELD_LIB=${SHELTER_SHIELD_LIB:-$PWD/build/release/lib/libshelter-shield.so}
SY=$(dirname "$SHELTER_SHIELD_LIB")/../tests/shield_syncer
SUITE=shield_fresh
if [ ! -f "$SHELTER_SHIELD_LIB" ] || [ ! -x "$SY" ]; then
	fail shield_library "no $SHELTER_SHIELD_LIB or $SY: make BUILD=release all"
	exit 1
fi
SY=$(realpath "$SY")
w=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w"
unset SHELTER_CAS_URL SHELTER_CAS_CERT SHELTER_SESSION LD_PRELOAD LD_LIBRARY_PATH \
	SHELTER_PLATFORM_DIR SHELTER_STATE_DIR

# --- the freshness service: three endorsers, a genesis, a coordinator ------------------
fresh_service_start || exit 1
# stop the coordinator and start another on the same address (the binding does not
# name it, but the launches below do)
restart_coord() {
	local a=$C_ADDR
	kill -KILL "$C_PID" 2>/dev/null
	wait "$C_PID" 2>/dev/null
	for _ in $(seq 50); do
		start_coord "$a"
		[ -n "$C_ADDR" ] && return 0
		sleep 0.2
	done
	return 1
}

# the binding: measured (genesis, provider, endorser measurement, sim accepted)
BIND=(--freshness-genesis "$G" --freshness-provider prov --freshness-endorser-measurement "$M"
	--freshness-accept-sim)
mkdir -p h-a h-u h-s

# --- usage ----------------------------------------------------------------------------
expect addr_needs_binding 2 'go together' "$S" run --volume v-x:/data --freshness "$C_ADDR" \
	-- "$SY" check /data
expect binding_needs_addr 2 'go together' "$S" run --volume v-x:/data "${BIND[@]}" \
	-- "$SY" check /data
expect binding_needs_provider 1 'needs --freshness-genesis HEX and --freshness-provider' \
	"$S" run --volume v-x:/data --freshness "$C_ADDR" --freshness-genesis "$G" \
	-- "$SY" check /data
expect not_with_session 2 'with --session the CAS' "$S" run --session s --cas https://127.0.0.1:1 \
	--cas-cert /dev/null --volume v-x:/data --freshness "$C_ADDR" "${BIND[@]}" -- "$SY" check /data
expect bad_genesis 1 'want 64 hex digits' "$S" run --volume v-x:/data --freshness "$C_ADDR" \
	--freshness-genesis abc --freshness-provider prov -- "$SY" check /data

# --- synced writes come back ------------------------------------------------------------
# sw MODE [ARGS]: the syncer on /data, bound; uw the same unbound (its own host files)
sw() { "$S" run --platform h-a/plat --state h-a/state --volume v-a:/data --freshness "$C_ADDR" \
	"${BIND[@]}" -- "$SY" "$1" /data "${@:2}"; }
SW=("$S" run --platform h-a/plat --state h-a/state --volume v-a:/data --freshness "$C_ADDR"
	"${BIND[@]}" -- "$SY")
expect first_writes 0 '^acked 3$' sw write 3
expect restart_reads_back 0 '^records 3$' sw check

# --- the whole host rolled back: volume, state and platform from an earlier copy -------
cp -a v-a snap-v && cp -a h-a snap-h
expect more_writes 0 '^acked 6$' sw write 6
mv v-a good-v && mv h-a good-h && cp -a snap-v v-a && cp -a snap-h h-a
expect whole_host_rollback_refused 126 'rolled back' sw check
rm -rf v-a h-a && mv good-v v-a && mv good-h h-a
expect back_to_the_latest 0 '^records 6$' sw check

# the same restore of an unbound volume starts (docs/shield.md §6.5: what binding closes)
uw() { "$S" run --platform h-u/plat --state h-u/state --volume v-u:/data -- "$SY" "$1" /data \
	"${@:2}"; }
expect unbound_writes 0 '^acked 3$' uw write 3
cp -a v-u snap-uv && cp -a h-u snap-uh
expect unbound_more_writes 0 '^acked 6$' uw write 6
rm -rf v-u h-u && cp -a snap-uv v-u && cp -a snap-uh h-u
expect unbound_whole_host_rollback_accepted 0 '^records 3$' uw check

# --- the binding is measured ------------------------------------------------------------
other=$(printf '%064d' 7)
expect other_genesis_opens_nothing 126 'wrong key' "$S" run --platform h-a/plat \
	--state h-a/state --volume v-a:/data --freshness "$C_ADDR" --freshness-genesis "$other" \
	--freshness-provider prov --freshness-endorser-measurement "$M" --freshness-accept-sim \
	-- "$SY" check /data
expect sim_flag_is_measured 126 'wrong key' "$S" run --platform h-a/plat --state h-a/state \
	--volume v-a:/data --freshness "$C_ADDR" --freshness-genesis "$G" --freshness-provider prov \
	--freshness-endorser-measurement "$M" -- "$SY" check /data
"$S" sign keygen key >/dev/null 2>&1
SIGN=(--key key --product syncer --version 1 --shield "$(realpath "$SHELTER_SHIELD_LIB")"
	--volume /data)
"$S" sign "${SIGN[@]}" --out bound.sig "${BIND[@]}" -- "$SY" >sign.out 2>&1
"$S" sign "${SIGN[@]}" --out plain.sig -- "$SY" >>sign.out 2>&1
expect sign_matches_run 0 '^acked 2$' "$S" run --platform h-s/plat --state h-s/state \
	--volume v-s:/data --sigstruct bound.sig --freshness "$C_ADDR" "${BIND[@]}" \
	-- "$SY" write /data 2
expect unbound_sign_refused 126 'not for this program.s measurement' "$S" run \
	--platform h-s/plat --state h-s/state --volume v-s:/data --sigstruct plain.sig \
	--freshness "$C_ADDR" "${BIND[@]}" -- "$SY" check /data
# the record measure prints: genesis, then the provider's CA certificate (DER) digest
val=$("$S" measure --shield "$(realpath "$SHELTER_SHIELD_LIB")" --volume /data "${BIND[@]}" \
	--verbose -- "$SY" 2>&1 | awk -F'\t' '$1 == "freshness" { print $2 }')
pid=$(openssl x509 -in prov/ca.crt -outform DER | sha256sum | cut -c1-64)
if [ "${val:0:64}" = "$G" ] && [ "${val:64:64}" = "$pid" ] &&
	[ "${val:128}" = "000000010001$M" ]; then
	pass measure_prints_the_binding
else
	fail measure_prints_the_binding "record '$val', provider id $pid"
fi

# --- the service down at start, one endorser of three down ------------------------------
kill -KILL "$C_PID"
wait "$C_PID" 2>/dev/null
expect service_down_refused 126 'freshness service .*refusing to start' sw check
restart_coord && pass coordinator_back || fail coordinator_back "$(tail -3 coord$C_RUNS.log)"
kill -KILL "${E_PID[0]}"
wait "${E_PID[0]}" 2>/dev/null
expect minority_down_writes 0 '^acked 8$' sw write 8
expect minority_down_reads 0 '^records 8$' sw check

# --- many threads syncing share appends (group commit) ----------------------------------
blocks() { sqlite3 fstore.db "SELECT count(*) FROM kv WHERE key LIKE 'block/%'" 2>/dev/null; }
b0=$(blocks)
expect threads_sync 0 '^threads ok$' sw threads 8 25
b1=$(blocks)
echo "  info: 8 threads x 25 fsyncs made $((b1 - b0)) appends"

# --- a forked child and its parent append to one handle: CONFLICTs are read and retried --
expect fork_both_sync 0 '^fork ok$' sw fork 20
expect after_fork_reads 0 '^records 8$' sw check

# --- kill -9 at a random point: no acknowledged record lost -----------------------------
for round in 1 2 3; do
	# not through sw: $! must be the program (`shelter run` execs it), not a subshell
	"${SW[@]}" write /data 100000 >"kill$round.out" 2>"kill$round.err" &
	p=$!
	pids+=($p)
	for _ in $(seq 200); do
		grep -q '^acked' "kill$round.out" && break
		sleep 0.05
	done
	sleep "0.$((RANDOM % 9 + 1))"
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	last=$(grep -oE '^acked [0-9]+' "kill$round.out" | tail -1 | cut -d' ' -f2)
	out=$(sw check 2>&1)
	got=$(sed -n 's/^records //p' <<<"$out")
	if [ -n "$last" ] && [ -n "$got" ] && [ "$got" -ge "$last" ]; then
		pass "kill9_round$round"
		echo "  info: round $round: acked $last, found $got"
	else
		fail "kill9_round$round" "acked ${last:-none}, check said: $(head -c 300 <<<"$out")"
	fi
done

# --- the service goes down while the program syncs: fsync fails with EIO ------------------
"${SW[@]}" write /data 100000 >eio.out 2>eio.err &
p=$!
pids+=($p)
for _ in $(seq 200); do
	grep -q '^acked' eio.out && break
	sleep 0.05
done
kill -KILL "$C_PID"
wait "$p"
rc=$?
last=$(grep -oE '^acked [0-9]+' eio.out | tail -1 | cut -d' ' -f2)
if [ "$rc" = 3 ] && grep -q '^fsync failed: EIO$' eio.out &&
	grep -q 'security: volume /data: sync not endorsed' eio.err; then
	pass fsync_eio_when_service_down
else
	fail fsync_eio_when_service_down "exit $rc: $(tail -2 eio.out) $(tail -2 eio.err)"
fi
restart_coord
out=$(sw check 2>&1)
got=$(sed -n 's/^records //p' <<<"$out")
if [ -n "$last" ] && [ -n "$got" ] && [ "$got" -ge "$last" ]; then
	pass after_outage_nothing_acked_lost
else
	fail after_outage_nothing_acked_lost "acked ${last:-none}, check: $(head -c 300 <<<"$out")"
fi

[ "$fails" -eq 0 ]
