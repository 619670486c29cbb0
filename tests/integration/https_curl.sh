#!/usr/bin/env bash
# Real clients against the HTTPS server code of the CAS (src/lib/net, through
# tests/helpers/https_echo): curl and openssl s_client negotiate TLS 1.3 and are refused
# TLS 1.2; keep-alive reuses the connection; curl's SPKI pin matches ours; HEAD and
# HTTP/1.0; Expect: 100-continue; a malformed request gets 400 and the connection is
# closed (a request behind it is not served); a too-large body gets 413; a client that
# stalls in the middle of a request gets 408 and is cut off; s_client answers a TLS 1.3
# post-handshake certificate request. docs/api/http.md.
#
# Needs SHELTER_BUILD (the build directory holding tests/https_echo). Safety bounds of
# 10-20 s only matter when something hangs; no check depends on how fast things run.
set -uo pipefail
B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
case $B in /*) ;; *) B=$PWD/$B ;; esac
ECHO=$B/tests/https_echo
w=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w" || exit 1
fails=0

pass() { echo "PASS https_curl:$1"; }
fail() {
	echo "FAIL https_curl:$1 ($2)"
	fails=$((fails + 1))
}
# check NAME PATTERN TEXT: TEXT matches PATTERN (grep -E)
check() {
	if grep -qE -- "$2" <<<"$3"; then pass "$1"; else fail "$1" "no '$2' in: $(head -c 400 <<<"$3" | tr '\r\n' '  ')"; fi
}
# check_not NAME PATTERN TEXT
check_not() {
	if grep -qE -- "$2" <<<"$3"; then fail "$1" "'$2' in: $(head -c 400 <<<"$3" | tr '\r\n' '  ')"; else pass "$1"; fi
}

if [ ! -x "$ECHO" ] || ! command -v curl >/dev/null || ! command -v openssl >/dev/null; then
	fail setup "needs $ECHO, curl and openssl"
	exit 1
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
	-out cert.pem -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
	-days 1 2>/dev/null
openssl req -x509 -newkey ed25519 -nodes -keyout ckey.pem -out ccert.pem \
	-subj /CN=pha-client -days 1 2>/dev/null
"$ECHO" cert.pem key.pem port --timeout-ms 1500 --max-body 65536 2>server.log &
pid=$!
# (the server above keeps the default SIGPIPE action: the library must not raise it)
trap '' PIPE # writing to an s_client that already left fails, without killing us
for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
read -r port pin <port || { fail setup "no port file; $(cat server.log)"; exit 1; }
url=https://127.0.0.1:$port
C=(curl -sS --max-time 20 --cacert cert.pem)

# Start s_client (extra options in "$@") as a coprocess; its stdin is fd $sc_w, its
# output fd $sc_r. Own copies of the descriptors and the pid: bash drops SC and
# SC_PID as soon as the coprocess ends, which may be before we are done reading.
sc_start() {
	coproc SC { exec openssl s_client -connect "127.0.0.1:$port" -CAfile cert.pem \
		-verify_return_error -quiet "$@" 2>&1; }
	sc_pid=${SC_PID:-0}
	if [ -n "${SC[1]:-}" ]; then
		exec {sc_w}>&"${SC[1]}" {sc_r}<&"${SC[0]}"
	else # it ended at once: the checks on its (empty) output fail
		exec {sc_w}>/dev/null {sc_r}</dev/null
	fi
}
sc_stop() {
	exec {sc_w}>&- {sc_r}<&-
	kill "$sc_pid" 2>/dev/null
	wait "$sc_pid" 2>/dev/null
}
# sc_read [PATTERN]: append s_client's output to sc_out until a line matches PATTERN,
# or else until the server closes (EOF: sc_closed=1) or 10 s pass.
sc_read() {
	local line st
	while :; do
		IFS= read -t 10 -r line <&"$sc_r"
		st=$?
		[ "$st" -eq 0 ] || { [ -n "$line" ] && sc_out+=$line; break; }
		sc_out+=$line$'\n'
		[ -n "${1:-}" ] && [[ $line == *$1* ]] && return 0
	done
	# read's status is 1 at EOF, above 128 on the 10 s bound
	[ "$st" -eq 1 ] && sc_closed=1
	return 0
}
# sclient: write REQUEST, read until the server closes. Sets sc_out and sc_closed.
sclient() {
	sc_out=
	sc_closed=0
	sc_start
	printf '%b' "$REQUEST" >&"$sc_w"
	sc_read
	sc_stop
}

# --- negative cases first -------------------------------------------------------------
out=$("${C[@]}" --tls-max 1.2 "$url/x" 2>&1)
rc=$?
if [ "$rc" -eq 35 ]; then pass curl_tls12_refused; else fail curl_tls12_refused "exit $rc: $out"; fi
check curl_tls12_alert 'alert protocol version' "$out"
out=$(openssl s_client -connect "127.0.0.1:$port" -tls1_2 </dev/null 2>&1)
rc=$?
if [ "$rc" -ne 0 ]; then pass s_client_tls12_refused; else fail s_client_tls12_refused "exit 0"; fi
check s_client_tls12_alert 'alert protocol version' "$out"
check server_logs_tls12 'TLS handshake with 127\.0\.0\.1:[0-9]+: unsupported protocol' \
	"$(cat server.log)"

out=$("${C[@]}" --pinnedpubkey "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" "$url/x" 2>&1)
rc=$?
if [ "$rc" -eq 90 ]; then pass curl_wrong_pin_refused; else fail curl_wrong_pin_refused "exit $rc"; fi

out=$("${C[@]}" --request-target '/a b' -o /dev/null -w '%{http_code}' "$url/" 2>&1)
check malformed_target_400 '^400$' "$out"
out=$("${C[@]}" -H 'Bad Header: x' -o /dev/null -w '%{http_code}' "$url/" 2>&1)
check space_before_colon_400 '^400$' "$out"

# 400 closes the connection: the request sent right behind the bad one is not served
REQUEST='GET / HTTP/1.1\r\nHost: x\r\nX\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n'
sclient
check malformed_400 'HTTP/1.1 400 Bad Request' "$sc_out"
check malformed_says_close 'Connection: close' "$sc_out"
check_not malformed_next_not_served 'path=/second' "$sc_out"
if [ "$sc_closed" = 1 ]; then pass malformed_closed; else fail malformed_closed "still open"; fi

head -c 65537 /dev/zero >big
out=$("${C[@]}" -H 'Expect:' --data-binary @big -o /dev/null -w '%{http_code}' "$url/up" 2>&1)
check body_too_large_413 '^413$' "$out"
# decided from the head: with Expect: 100-continue the body is never sent
out=$("${C[@]}" -v --data-binary @big -H 'Expect: 100-continue' "$url/up" 2>&1)
check body_too_large_413_before_body 'HTTP/1.1 413 Content Too Large' "$out"
check_not body_too_large_no_continue 'HTTP/1.1 100 Continue' "$out"
REQUEST='POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
sclient
check chunked_501 'HTTP/1.1 501 Not Implemented' "$sc_out"
REQUEST='POST /x HTTP/1.1\r\nHost: x\r\n\r\n'
sclient
check no_length_411 'HTTP/1.1 411 Length Required' "$sc_out"
REQUEST='GET / HTTP/2.0\r\nHost: x\r\n\r\n'
sclient
check version_505 'HTTP/1.1 505 HTTP Version Not Supported' "$sc_out"

# a client that stops in the middle of its request is answered 408 and cut off
REQUEST='GET /slow HTTP/1.1\r\nHost: x\r\n'
sclient
check slow_client_408 'HTTP/1.1 408 Request Timeout' "$sc_out"
if [ "$sc_closed" = 1 ]; then pass slow_client_closed; else fail slow_client_closed "still open"; fi
check server_logs_timeout 'no complete request within 1500 ms' "$(cat server.log)"

# --- what works ------------------------------------------------------------------------
out=$("${C[@]}" -v "$url/hello?x=1" 2>&1)
check curl_tls13 'SSL connection using TLSv1\.3' "$out"
check curl_get 'method=GET path=/hello query=x=1 body=0 seq=1 peer-cert=none' "$out"
out=$(openssl s_client -connect "127.0.0.1:$port" -CAfile cert.pem -verify_return_error \
	-brief </dev/null 2>&1)
check s_client_tls13 'Protocol version: TLSv1\.3' "$out"
check s_client_verified 'Verification: OK' "$out"

# the SPKI pin computed by tls_cert_spki_sha256 is the one curl computes
out=$("${C[@]}" --pinnedpubkey "sha256//$pin" "$url/pinned" 2>&1)
check curl_pin_matches 'path=/pinned' "$out"

out=$("${C[@]}" -v "$url/one" "$url/two" 2>&1)
check keep_alive_reused 'Re-using existing connection' "$out"
check keep_alive_second_on_same 'path=/two query= body=0 seq=2' "$out"

out=$("${C[@]}" -i --http1.0 "$url/old" 2>&1)
check http10_closes 'Connection: close' "$out"
check http10_served 'path=/old' "$out"
out=$("${C[@]}" -I "$url/head" 2>&1)
check head_has_length '[Cc]ontent-[Ll]ength: [1-9]' "$out"
check_not head_no_body 'method=' "$out"

head -c 3000 /dev/zero >mid
out=$("${C[@]}" -v -H 'Expect: 100-continue' --data-binary @mid "$url/up" 2>&1)
check expect_100_continue 'HTTP/1.1 100 Continue' "$out"
check expect_body_received 'method=POST path=/up query= body=3000' "$out"

# TLS 1.3 post-handshake authentication with OpenSSL's own client: the certificate
# s_client sends when asked shows on the next request
sc_out=
sc_start -enable_pha -cert ccert.pem -key ckey.pem
printf 'GET /pha HTTP/1.1\r\nHost: x\r\n\r\n' >&"$sc_w"
sc_read pha-requested
printf 'GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$sc_w"
sc_read
sc_stop
check pha_requested 'pha-requested' "$sc_out"
check pha_cert_received 'path=/whoami query= body=0 seq=2 peer-cert=pha-client' "$sc_out"

# the server leaves cleanly on SIGTERM (under ASan: no leak)
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
if [ "$rc" -eq 0 ]; then pass server_clean_exit; else fail server_clean_exit "exit $rc: $(tail -n 20 server.log)"; fi

[ "$fails" -eq 0 ]
