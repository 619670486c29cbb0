#!/usr/bin/env bash
# StreamLog anchored in the freshness service (docs/streamlog.md §5, docs/formats/log.md
# §7.2): three endorsers, a coordinator on SQLite and a genesis, then the daemon with
# --freshness. The whole store (log, derived files, DIR/anchor, DIR/checkpoint) rolled
# back to an earlier copy is refused at start (TAMPER ALARM, exit 1); the same rollback
# with the local anchor file starts, the documented limitation of log.md §7.2. Also: a
# service that is down refuses the start, an outage while running is recorded and
# outlived, and the options are checked before anything runs.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
S=${SHELTER:?set SHELTER to the shelter binary}
SL=$PWD/$B/bin/streamlog
SEND=$PWD/$B/tests/sl_send
SUITE=streamlog_fresh
ORIGIN=streamlog.test/log
w=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w"

# --- the freshness service: three endorsers, a genesis, a coordinator ------------------
fresh_service_start || exit 1

# --- the daemon -----------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=streamlog.test -keyout tls.key -out tls.crt 2>/dev/null
VK=$("$SL" keygen --signing-key sign.pem --origin "$ORIGIN" 2>keygen.err)
[[ $VK == "$ORIGIN"+* ]] && pass keygen || fail keygen "$(cat keygen.err)"
F=(--freshness "$C_ADDR" --freshness-genesis "$G" --freshness-provider prov --freshness-accept-sim)
SERVE=(serve --signing-key sign.pem --origin "$ORIGIN" --listen 127.0.0.1:0 --cert tls.crt
	--key tls.key --silence-ms 0)
start() { # start STORE LOGFILE [serve options]
	local store=$1 logf=$2
	shift 2
	"$SL" "${SERVE[@]}" --store "$store" "$@" 2>"$logf" &
	D_PID=$!
	pids+=($D_PID)
	ADDR=$(wait_addr "$logf" "$D_PID")
}
stop() { # SIGTERM; the exit code must be 0
	kill -TERM "$D_PID"
	wait "$D_PID"
}
events() { # events STORE LOGFILE: the count a start logged ("store 'S': N events")
	grep -m1 -oE "store '$1': [0-9]+ events" "$2" | grep -oE '[0-9]+ events' | cut -d' ' -f1
}

# --- options, checked before anything runs (exit code 2) ------------------------------
expect needs_genesis 2 'needs --freshness-genesis' "$SL" "${SERVE[@]}" --store store \
	--freshness "$C_ADDR" --freshness-provider prov
expect needs_provider 2 'freshness-provider DIR' "$SL" "${SERVE[@]}" --store store \
	--freshness "$C_ADDR" --freshness-genesis "$G"
expect bad_genesis 2 'want 64 hex digits' "$SL" "${SERVE[@]}" --store store \
	--freshness "$C_ADDR" --freshness-genesis abc --freshness-provider prov
expect fresh_options_need_freshness 2 'need --freshness HOST:PORT' "$SL" "${SERVE[@]}" \
	--store store --freshness-genesis "$G"
expect not_with_anchor_file 2 'exclude each other' "$SL" "${SERVE[@]}" --store store "${F[@]}" \
	--anchor-file a.note
[ ! -e store ] && pass usage_errors_leave_no_store || fail usage_errors_leave_no_store

# --- anchored in the service; two runs; the store verifies ----------------------------
start store d1.log "${F[@]}"
[ -n "$ADDR" ] && pass daemon_starts || { fail daemon_starts "$(cat d1.log)"; exit 1; }
grep -q "anchor: freshness service $C_ADDR, handle [0-9a-f]\{64\}" d1.log &&
	pass logs_the_anchor || fail logs_the_anchor "$(head -5 d1.log)"
H=$(grep -m1 -oE 'handle [0-9a-f]{64}' d1.log | cut -d' ' -f2)
want=$(printf 'shelter-streamlog-anchor-v1\0%s' "$ORIGIN" | sha256sum | cut -d' ' -f1)
[ "$H" = "$want" ] && pass handle_is_the_documented_hash || fail handle_is_the_documented_hash \
	"$H, want $want"
expect send_1 0 '^sent 200 ' "$SEND" "$ADDR" 200 --host web-1
if stop; then pass sigterm_clean_exit; else fail sigterm_clean_exit "$(tail -5 d1.log)"; fi
FR=(--service "$C_ADDR" --genesis "$G" --handle "$H" --provider prov --accept-sim)
expect anchored_state_created 0 '^latest height [0-9]+ ' "$S" freshness read "${FR[@]}" \
	--out anchored.note
cmp -s anchored.note store/checkpoint && pass anchored_state_is_the_checkpoint_note ||
	fail anchored_state_is_the_checkpoint_note "$(cat anchored.note)"
cp -a store snap
n_snap=$(sed -n 2p snap/checkpoint)

# the second run names the endorsers' measurement itself (the first used the default:
# that of `shelter freshness endorser` of the shelter beside streamlog)
start store d2.log "${F[@]}" --freshness-measurement "$M"
[ "$(events store d2.log)" = "$n_snap" ] && pass reopens_at_the_anchored_size ||
	fail reopens_at_the_anchored_size "$(events store d2.log), want $n_snap; $(tail -3 d2.log)"
expect send_2 0 '^sent 100 ' "$SEND" "$ADDR" 100 --host web-2
if stop; then pass second_run_clean_exit; else fail second_run_clean_exit "$(tail -5 d2.log)"; fi
n_good=$(sed -n 2p store/checkpoint)
expect anchored_state_moved_on 0 "^latest height [1-9][0-9]* " "$S" freshness read "${FR[@]}" \
	--out anchored2.note
[ "$(sed -n 2p anchored2.note)" = "$n_good" ] && [ "$n_good" -gt "$n_snap" ] &&
	pass anchor_follows_the_store || fail anchor_follows_the_store "$n_good vs $n_snap"
expect verify_good_store 0 "^VERIFIED: $n_good events" "$SL" verify --store store --vkey "$VK"

# --- the whole store rolled back: refused ---------------------------------------------
mv store good
cp -a snap store
expect whole_store_rollback_refused 1 "TAMPER ALARM: $n_snap entries, but the anchored checkpoint names $n_good" \
	timeout 60 "$SL" "${SERVE[@]}" --store store "${F[@]}"
# offline, the old store is a consistent older log: only the anchor can tell
expect rolled_back_store_verifies_offline 0 "^VERIFIED: $n_snap events" "$SL" verify \
	--store store --vkey "$VK"
rm -rf store
mv good store

# --- the same with the local anchor file: not detected (log.md §7.2) -------------------
start local l1.log
expect local_send_1 0 '^sent 50 ' "$SEND" "$ADDR" 50 --host web-3
stop || fail local_run_1 "$(tail -3 l1.log)"
grep -q "anchor: the local file 'local/anchor'" l1.log && pass logs_the_local_anchor ||
	fail logs_the_local_anchor "$(head -5 l1.log)"
cp -a local local.snap
n_lsnap=$(sed -n 2p local.snap/checkpoint)
start local l2.log
expect local_send_2 0 '^sent 50 ' "$SEND" "$ADDR" 50 --host web-3
stop || fail local_run_2 "$(tail -3 l2.log)"
rm -rf local
cp -a local.snap local
start local l3.log
if [ -n "$ADDR" ] && [ "$(events local l3.log)" = "$n_lsnap" ]; then
	pass local_anchor_rollback_undetected_documented_limitation_log_md_7_2
else
	fail local_anchor_rollback_undetected_documented_limitation_log_md_7_2 "$(tail -3 l3.log)"
fi
stop || fail local_run_3 "$(tail -3 l3.log)"

# --- an outage while running: recorded, outlived --------------------------------------
start store d3.log "${F[@]}" --anchor-ms 200
expect send_3 0 '^sent 20 ' "$SEND" "$ADDR" 20 --host web-4
kill -TERM "$C_PID"
wait "$C_PID"
cp fstore.db fsnap.db # the service's own store, for its rollback below
[ -f fstore.db-wal ] && cp fstore.db-wal fsnap.db-wal
expect send_during_outage 0 '^sent 20 ' "$SEND" "$ADDR" 20 --host web-4
for _ in $(seq 50); do grep -q 'anchor failed' d3.log && break; sleep 0.1; done
grep -q 'anchor failed: .*recording goes on' d3.log && pass outage_logged ||
	fail outage_logged "$(tail -3 d3.log)"
expect keeps_recording 0 '^sent 20 ' "$SEND" "$ADDR" 20 --host web-4
start_coord "$C_ADDR"
for _ in $(seq 100); do grep -q 'anchor resumed' d3.log && break; sleep 0.1; done
grep -qE 'anchor resumed: anchored again after [0-9]+ failed attempts' d3.log &&
	pass anchor_resumes || fail anchor_resumes "$(tail -3 d3.log)"
if stop; then pass outage_run_clean_exit; else fail outage_run_clean_exit "$(tail -5 d3.log)"; fi
expect outage_recorded 0 '"action":"anchor failed"' "$SL" query --store store --vkey "$VK" \
	--source streamlog --json
expect resumption_recorded 0 '"action":"anchor resumed"' "$SL" query --store store --vkey "$VK" \
	--source streamlog --json
n_web4=$("$SL" query --store store --vkey "$VK" --host web-4 --json 2>/dev/null | wc -l)
[ "$n_web4" -eq 60 ] && pass no_event_lost_in_the_outage || fail no_event_lost_in_the_outage \
	"$n_web4, want 60"
expect anchored_after_outage 0 '^latest height ' "$S" freshness read "${FR[@]}" --out a3.note
cmp -s a3.note store/checkpoint && pass anchored_up_to_the_stop || fail anchored_up_to_the_stop
expect verify_after_outage 0 '^VERIFIED' "$SL" verify --store store --vkey "$VK"

# --- the service down at start: refused, the store left as it was -----------------------
kill -TERM "$C_PID"
wait "$C_PID"
cp -a store before
expect service_down_refused 1 'freshness anchor: refusing to start unanchored: .*connect' \
	timeout 120 "$SL" "${SERVE[@]}" --store store "${F[@]}"
diff -r before store >/dev/null && pass refusal_leaves_the_store ||
	fail refusal_leaves_the_store
# the service's own store rolled back under an honest coordinator: the endorsers vouch
# for a later state, which is gone (freshness.md §6.3, fail-stop)
mv fstore.db fgood.db
[ -f fstore.db-wal ] && mv fstore.db-wal fgood.db-wal
rm -f fstore.db-shm
cp fsnap.db fstore.db
[ -f fsnap.db-wal ] && cp fsnap.db-wal fstore.db-wal
start_coord "$C_ADDR"
expect service_store_rollback_refused 1 'refusing to start unanchored: read: the state at height [0-9]+ is gone from the store' \
	timeout 60 "$SL" "${SERVE[@]}" --store store "${F[@]}"
diff -r before store >/dev/null && pass refusal_leaves_the_store_2 ||
	fail refusal_leaves_the_store_2
kill -TERM "$C_PID"
wait "$C_PID"
rm -f fstore.db fstore.db-wal fstore.db-shm
mv fgood.db fstore.db
[ -f fgood.db-wal ] && mv fgood.db-wal fstore.db-wal
other=$(printf '%064d' 7)
start_coord "$C_ADDR"
expect other_genesis_refused 1 'genesis is not the one pinned' timeout 60 "$SL" "${SERVE[@]}" \
	--store store --freshness "$C_ADDR" --freshness-genesis "$other" --freshness-provider prov \
	--freshness-accept-sim
expect sim_endorsers_refused_by_default 1 'sim endorsers are not accepted' timeout 60 "$SL" \
	"${SERVE[@]}" --store store --freshness "$C_ADDR" --freshness-genesis "$G" \
	--freshness-provider prov
expect back_to_the_latest 0 '^latest height ' "$S" freshness read "${FR[@]}" --out a4.note
cmp -s a4.note store/checkpoint && pass service_store_restored || fail service_store_restored
kill -TERM "$C_PID"
wait "$C_PID" && pass coordinator_sigterm || fail coordinator_sigterm
[ "$fails" -eq 0 ]
