#!/usr/bin/env bash
# StreamLog end to end (docs/streamlog.md): syslog over TLS into the daemon, every
# event durable and in the verifiable log, loss made visible (a sequence gap, a
# silent source), a clean stop on SIGTERM, then offline: verify the store with the
# public key only, query it, export a bundle with inclusion proofs and verify it, and
# catch a changed store, a changed bundle and a checkpoint of another key. Refusals:
# a misconfigured daemon does not start, a second daemon on the same store is refused.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
SL=$PWD/$B/bin/streamlog
SEND=$PWD/$B/tests/sl_send
SUITE=streamlog
w=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=streamlog.test -keyout tls.key -out tls.crt 2>/dev/null
VK=$("$SL" keygen --signing-key sign.pem --origin streamlog.test/log 2>keygen.err)
[[ $VK == streamlog.test/log+* ]] && pass keygen || fail keygen "$(cat keygen.err)"
expect keygen_refuses_overwrite 1 'sign.pem' "$SL" keygen --signing-key sign.pem
expect vkey_of_the_key 0 "^${VK//+/\\+}\$" "$SL" vkey --signing-key sign.pem --origin streamlog.test/log

start() { # start LOGFILE [extra serve options]
	local logf=$1
	shift
	"$SL" serve --store store --signing-key sign.pem --origin streamlog.test/log \
		--listen 127.0.0.1:0 --cert tls.crt --key tls.key "$@" 2>"$logf" &
	D_PID=$!
	pids+=($D_PID)
	ADDR=$(wait_addr "$logf" "$D_PID")
}
stop() { # SIGTERM, then the exit code must be 0
	kill -TERM "$D_PID"
	wait "$D_PID"
}

# --- refusals before anything runs ----------------------------------------------------
expect refuses_missing_options 2 'serve needs' "$SL" serve --store store
expect refuses_bad_tls_key 1 'TLS' "$SL" serve --store store --signing-key sign.pem \
	--listen 127.0.0.1:0 --cert tls.crt --key sign.pem
expect refuses_bad_signing_key 1 'not an unencrypted PEM Ed25519' "$SL" serve --store store \
	--signing-key tls.key --listen 127.0.0.1:0 --cert tls.crt --key tls.key
expect refuses_bad_listen 1 'listen' "$SL" serve --store store --signing-key sign.pem \
	--listen nowhere --cert tls.crt --key tls.key
[ ! -e store ] && pass refusals_leave_no_store || fail refusals_leave_no_store

# --- ingest --------------------------------------------------------------------------
start d1.log --silence-ms 1500
[ -n "$ADDR" ] && pass daemon_starts || { fail daemon_starts "$(cat d1.log)"; exit 1; }
expect second_daemon_refused 1 'another writer' "$SL" serve --store store \
	--signing-key sign.pem --origin streamlog.test/log --listen 127.0.0.1:0 \
	--cert tls.crt --key tls.key
expect send_octet_counted 0 '^sent 500 ' "$SEND" "$ADDR" 500 --host web-1
expect send_lf_framed 0 '^sent 200 ' "$SEND" "$ADDR" 200 --host web-2 --lf
expect send_four_connections 0 '^sent 2000 ' "$SEND" "$ADDR" 500 --conns 4 --host db-1
# a gap: web-3 never sends its record 5
expect send_with_a_gap 0 '^sent' "$SEND" "$ADDR" 10 --host web-3 --skip 5
# a sender that never pauses: the daemon still syncs at least every 256 KiB it reads
# (§6), so 20,000 messages of ~200 bytes (~4.5 MiB) make at least 15 durable batches
expect send_without_pause 0 '^sent 20000 ' "$SEND" "$ADDR" 20000 --host bulk-1 --size 200
for _ in $(seq 50); do grep -q 'closed after 20000 records' d1.log && break; sleep 0.1; done
batches=$(sed -n 's/.*closed after 20000 records; \([0-9]*\) batches durable after read.*/\1/p' d1.log)
[ "${batches:-0}" -ge 15 ] && pass stream_synced_every_256k ||
	fail stream_synced_every_256k "batches: ${batches:-none}: $(grep 'closed after 20000' d1.log)"
sleep 3 # web-1 and the others fall silent: the daemon records it
if stop; then pass sigterm_clean_exit; else fail sigterm_clean_exit "$(tail -5 d1.log)"; fi
grep -q 'streamlog: stopped' d1.log && pass logs_stop || fail logs_stop "$(tail -3 d1.log)"
bad_lines=$(grep -vc '^streamlog: ' d1.log)
[ "$bad_lines" -eq 0 ] && pass one_line_per_event || fail one_line_per_event "$bad_lines"

# --- offline: verify, query, export ---------------------------------------------------
expect verify_store 0 '^VERIFIED: [0-9]+ events' "$SL" verify --store store --vkey "$VK"
echo "$VK" >vkey.txt
expect verify_with_vkey_file 0 '^VERIFIED' "$SL" verify --store store --vkey-file vkey.txt
n_web1=$("$SL" query --store store --vkey "$VK" --host web-1 --json 2>/dev/null | wc -l)
[ "$n_web1" -eq 500 ] && pass query_by_host || fail query_by_host "$n_web1 events, want 500"
n_db=$("$SL" query --store store --vkey "$VK" --host db-1 --json 2>/dev/null | wc -l)
[ "$n_db" -eq 2000 ] && pass every_event_of_four_connections ||
	fail every_event_of_four_connections "$n_db, want 2000"
n_lf=$("$SL" query --store store --vkey "$VK" --host web-2 --json 2>/dev/null | wc -l)
[ "$n_lf" -eq 200 ] && pass lf_framing_kept || fail lf_framing_kept "$n_lf, want 200"
expect query_table 0 'INDEX +WHEN' "$SL" query --store store --vkey "$VK" --limit 3
expect gap_recorded 0 'sequence gap.*records 5 to 5' "$SL" query --store store --vkey "$VK" \
	--source streamlog --json
expect silence_recorded 0 'source silent' "$SL" query --store store --vkey "$VK" \
	--source streamlog --json
expect start_and_stop_recorded 0 'streamlog stopped' "$SL" query --store store --vkey "$VK" \
	--what 'streamlog'
expect export_bundle 0 'exported 9 events' "$SL" export --store store --vkey "$VK" \
	--host web-3 --out web3.bundle
expect verify_bundle 0 '^VERIFIED: 9 events' "$SL" verify --bundle web3.bundle --vkey "$VK"
expect export_refuses_overwrite 1 'must not exist' "$SL" export --store store --vkey "$VK" \
	--out web3.bundle

# --- tampering, offline ---------------------------------------------------------------
sed 's/message 3:/message 9:/' web3.bundle >forged.bundle
expect bundle_event_changed 1 '^NOT VERIFIED.*line' "$SL" verify --bundle forged.bundle \
	--vkey "$VK"
OTHER=$("$SL" keygen --signing-key other.pem --origin streamlog.test/log 2>/dev/null)
expect bundle_other_key 1 '^NOT VERIFIED.*not signed' "$SL" verify --bundle web3.bundle \
	--vkey "$OTHER"
cp -r store store.bad
size=$(stat -c %s store.bad/log)
flip store.bad/log $((size / 2)) 3
expect store_bit_flipped 1 'NOT VERIFIED.*(TAMPER|frame)' "$SL" verify --store store.bad \
	--vkey "$VK"
expect query_refuses_tampered 1 'does not verify' "$SL" query --store store.bad --vkey "$VK"

# --- restart: the store reopens and grows --------------------------------------------
start d2.log
expect send_after_restart 0 '^sent 50 ' "$SEND" "$ADDR" 50 --host web-4
if stop; then pass restart_clean_exit; else fail restart_clean_exit "$(tail -5 d2.log)"; fi
n4=$("$SL" query --store store --vkey "$VK" --host web-4 --json 2>/dev/null | wc -l)
[ "$n4" -eq 50 ] && pass events_after_restart || fail events_after_restart "$n4"
expect verify_after_restart 0 '^VERIFIED' "$SL" verify --store store --vkey "$VK"

[ "$fails" -eq 0 ]
