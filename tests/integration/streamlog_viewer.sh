#!/usr/bin/env bash
# The StreamLog viewer end to end (docs/api/streamlog-viewer.md): the daemon ingests
# syslog over TLS from two hosts; `streamlog view`, a process of its own holding the
# public key only, serves the live store over HTTPS. Its JSON API is checked with
# curl against the offline commands (query, verify --checkpoint, verify --bundle),
# with its refusals (400, 404, 405) and security headers. Then headless Chromium,
# driven over WebDriver (tests/helpers/sl_view_browser.py), searches by host, opens
# an event and sees VERIFIED, sees CONSISTENT between two signed checkpoints, NOT
# VERIFIED with another key, a warning with the server's key, and a tamper alarm
# once the event's entry is changed in the store. The page's verifier is also run
# under node against the RFC 9162 vectors (tests/helpers/sl_view_verify.js).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
ROOT=$PWD
SL=$PWD/$B/bin/streamlog
SEND=$PWD/$B/tests/sl_send
SUITE=streamlog_viewer
w=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	# chromedriver and the browser it started: a process group of their own
	[ -s "$w/chromedriver.pgid" ] && kill -KILL -- "-$(cat "$w/chromedriver.pgid")" 2>/dev/null
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w"

# --- the page's verifier under node, against tests/vectors/log ---------------------
if command -v node >/dev/null; then
	node "$ROOT/tests/helpers/sl_view_verify.js" "$SUITE" || fails=$((fails + 1))
else
	fail js_verifier "node is missing"
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=streamlog.test -keyout tls.key -out tls.crt 2>/dev/null
VK=$("$SL" keygen --signing-key sign.pem --origin streamlog.test/log 2>/dev/null)
OTHER=$("$SL" keygen --signing-key other.pem --origin streamlog.test/log 2>/dev/null)

# --- the daemon, two hosts ---------------------------------------------------------
"$SL" serve --store store --signing-key sign.pem --origin streamlog.test/log \
	--listen 127.0.0.1:0 --cert tls.crt --key tls.key --anchor-ms 200 --silence-ms 0 \
	2>d.log &
D_PID=$!
pids+=($D_PID)
ADDR=$(wait_addr d.log "$D_PID")
[ -n "$ADDR" ] && pass daemon_starts || { fail daemon_starts "$(cat d.log)"; exit 1; }

covered() { # covered HOST N: the store's checkpoint covers N events of HOST
	for _ in $(seq 100); do
		[ "$("$SL" query --store store --vkey "$VK" --host "$1" --json 2>/dev/null |
			wc -l)" -eq "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
"$SEND" "$ADDR" 5 --host web-1 >/dev/null && covered web-1 5 && pass first_batch ||
	fail first_batch

# --- refusals: nothing starts on a bad configuration -------------------------------
V=(--listen 127.0.0.1:0 --cert tls.crt --key tls.key)
expect view_refuses_missing_options 2 'view needs' timeout 10 "$SL" view --store store
expect view_refuses_signing_key 2 'public key only' timeout 10 "$SL" view --store store \
	--vkey "$VK" --signing-key sign.pem "${V[@]}"
expect view_refuses_bad_vkey 1 'verifier key' timeout 10 "$SL" view --store store \
	--vkey nonsense "${V[@]}"
expect view_refuses_other_key 1 'open the store' timeout 10 "$SL" view --store store \
	--vkey "$OTHER" "${V[@]}"
expect view_refuses_missing_store 1 'open the store' timeout 10 "$SL" view --store nowhere \
	--vkey "$VK" "${V[@]}"
expect view_refuses_bad_tls_key 1 'TLS' timeout 10 "$SL" view --store store --vkey "$VK" \
	--listen 127.0.0.1:0 --cert tls.crt --key sign.pem
expect view_refuses_bad_listen 1 'listen' timeout 10 "$SL" view --store store --vkey "$VK" \
	--listen nowhere --cert tls.crt --key tls.key

# --- the viewer --------------------------------------------------------------------
echo "$VK" >vkey.txt
"$SL" view --store store --vkey-file vkey.txt "${V[@]}" 2>v.log &
V_PID=$!
pids+=($V_PID)
VADDR=$(wait_addr v.log "$V_PID")
[ -n "$VADDR" ] && pass viewer_starts || { fail viewer_starts "$(cat v.log)"; exit 1; }
URL=https://$VADDR
api() { curl -sk --max-time 10 "$URL$1"; }
code() { curl -sk --max-time 10 -o /dev/null -w '%{http_code}' "$@"; }
size1=$(api /api/checkpoint | jq -r .size)

# a second batch, and a second checkpoint the viewer takes
"$SEND" "$ADDR" 3 --host web-2 >/dev/null && covered web-2 3 && pass second_batch ||
	fail second_batch
for _ in $(seq 50); do
	[ "$(api /api/checkpoint | jq -r .size)" -gt "$size1" ] && break
	sleep 0.1
done
n_seen=$(api /api/checkpoints | jq '.checkpoints | length')
[ "$n_seen" -ge 2 ] && pass viewer_remembers_checkpoints ||
	fail viewer_remembers_checkpoints "$n_seen checkpoints"

# --- the API, against the offline commands -----------------------------------------
cp_json=$(api /api/checkpoint)
jq -j .note <<<"$cp_json" >served.note
expect api_checkpoint_note_verifies 0 '^VERIFIED' "$SL" verify --store store --vkey "$VK" \
	--checkpoint served.note
[ "$(jq -r .vkey <<<"$cp_json")" = "$VK" ] && pass api_checkpoint_vkey ||
	fail api_checkpoint_vkey "$(jq -r .vkey <<<"$cp_json")"
want=$("$SL" query --store store --vkey "$VK" --host web-2 --json 2>/dev/null |
	jq -r .index | sort -rn | paste -sd, -)
got=$(api '/api/search?host=web-2' | jq -r '.events[].index' | paste -sd, -)
[ -n "$want" ] && [ "$got" = "$want" ] && pass api_search_matches_query ||
	fail api_search_matches_query "got '$got', want '$want'"
more=$(api '/api/search?limit=2&host=web-1' | jq -c '[(.events | length), .more]')
[ "$more" = "[2,true]" ] && pass api_search_limit_and_more || fail api_search_limit_and_more "$more"
n_what=$(api '/api/search?what=message%203%3A' | jq '.events | length')
[ "$n_what" -eq 2 ] && pass api_search_what_decoded || fail api_search_what_decoded "$n_what"
N=${want%%,*}
ev=$(api "/api/event/$N")
{
	jq -c --arg v "$VK" '{bundle: "streamlog/1", checkpoint: .note, vkey: $v}' <<<"$ev"
	jq -c '{entry, index, proof}' <<<"$ev"
} >event.bundle
expect api_event_proof_verifies 0 '^VERIFIED: 1 events' "$SL" verify --bundle event.bundle \
	--vkey "$VK"
cons=$(api /api/checkpoints | jq -r '.checkpoints | "from=\(.[-1].size)&to=\(.[0].size)"')
cj=$(api "/api/consistency?$cons")
[ "$(jq -r '.proof | length' <<<"$cj")" -gt 0 ] && [ "$(jq -r '.note_to | type' <<<"$cj")" = string ] &&
	pass api_consistency || fail api_consistency "$cj"

# refusals: 4xx with a reason, never a 200
[ "$(code -X POST -d x "$URL/api/search")" = 405 ] && pass refuses_post || fail refuses_post
[ "$(code -I "$URL/")" = 405 ] && pass refuses_head || fail refuses_head
[ "$(code "$URL/nope")" = 404 ] && pass unknown_path_404 || fail unknown_path_404
[ "$(code "$URL/api/event/999999")" = 404 ] && pass event_out_of_range_404 ||
	fail event_out_of_range_404
for q in 'event/abc' 'search?limit=0' 'search?since=yesterday' 'search?bogus=1' \
	'search?host=a&host=b' 'consistency?from=5&to=2' 'consistency?from=1' 'checkpoint?x=1'; do
	c=$(code "$URL/api/$q")
	[ "$c" = 400 ] || fail "bad_request_400" "/api/$q: $c"
done
pass bad_requests_400
expect error_says_why 0 'unknown parameter .bogus.' api '/api/search?bogus=1'

# headers: a strict CSP, no sniffing, no caching of answers; nothing from elsewhere
h_page=$(curl -sk -D - -o page.html "$URL/")
h_api=$(curl -sk -D - -o /dev/null "$URL/api/checkpoint")
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" <<<"$h_page" &&
	grep -qi '^x-content-type-options: nosniff' <<<"$h_page" && pass page_headers ||
	fail page_headers "$h_page"
grep -qi '^cache-control: no-store' <<<"$h_api" && pass api_no_store || fail api_no_store
api /app.js >app.js
api /style.css >style.css
cmp -s app.js "$ROOT/apps/streamlog/www/app.js" && pass page_assets_embedded ||
	fail page_assets_embedded
! grep -qE '(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/' page.html app.js style.css &&
	! grep -qi '<script>' page.html && pass no_third_party_no_inline_script ||
	fail no_third_party_no_inline_script

# --- headless Chromium -------------------------------------------------------------
raw=$("$SL" query --store store --vkey "$VK" --host web-2 --json 2>/dev/null |
	jq -r "select(.index == $N) | .event.raw")
needle="$(cut -d' ' -f2 <<<"$raw") web-2"
off=$(grep -boaF "$needle" store/log | head -1 | cut -d: -f1)
[ -n "$off" ] && pass found_entry_offset || fail found_entry_offset "$needle"
if command -v chromedriver >/dev/null && [ -x /usr/bin/chromium ]; then
	python3 "$ROOT/tests/helpers/sl_view_browser.py" --suite "$SUITE" --url "$URL" \
		--vkey "$VK" --other-vkey "$OTHER" --host web-2 --want-indexes "$want" \
		--tamper-index "$N" --tamper-cmd "source '$ROOT/tests/lib.sh'; flip '$w/store/log' $off 3" \
		--work "$w" || fails=$((fails + 1))
	left=$(pgrep -f "$w/chromium-profile" | wc -l)
	[ "$left" -eq 0 ] && pass browser_cleaned_up || fail browser_cleaned_up "$left processes"
else
	fail browser "chromium and chromium-driver are missing (scripts/install-deps.sh)"
fi

# --- after the tamper: the API says so too -----------------------------------------
c=$(code "$URL/api/event/$N")
alarm=$(api /api/checkpoint | jq -r '.alarm // empty')
[ "$c" = 409 ] && [[ $alarm == *"changed"* ]] && pass api_tamper_alarm ||
	fail api_tamper_alarm "event $N: $c; alarm '$alarm'"
grep -q 'TAMPER ALARM' v.log && pass tamper_alarm_logged || fail tamper_alarm_logged

# --- stop ----------------------------------------------------------------------------
kill -TERM "$V_PID"
if wait "$V_PID"; then pass viewer_sigterm_clean_exit; else fail viewer_sigterm_clean_exit; fi
grep -q 'streamlog: stopped' v.log && pass viewer_logs_stop || fail viewer_logs_stop
bad_lines=$(grep -vc '^streamlog: ' v.log)
[ "$bad_lines" -eq 0 ] && pass viewer_one_line_per_event ||
	fail viewer_one_line_per_event "$bad_lines"
kill -TERM "$D_PID"
wait "$D_PID"

[ "$fails" -eq 0 ]
