#!/usr/bin/env bash
# A real sender: rsyslogd from Debian, unchanged, forwards over TLS (RFC 5425, its ossl
# stream driver) to `streamlog serve` (docs/streamlog.md §3.1). `logger` writes to the
# rsyslogd instance (plain TCP on loopback, as a local relay would take it); every
# message must arrive in the store with its host, program and text, in both of
# rsyslog's TCP framings (octet counting and its "traditional" LF framing).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
SL=$PWD/$B/bin/streamlog
SUITE=streamlog_rsyslog
if ! command -v rsyslogd >/dev/null || ! command -v logger >/dev/null; then
	fail rsyslog_installed "rsyslogd or logger missing (scripts/install-deps.sh)"
	exit 1
fi
w=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=127.0.0.1 -keyout tls.key -out tls.crt 2>/dev/null
VK=$("$SL" keygen --signing-key sign.pem --origin rsyslog.test/log 2>/dev/null)
"$SL" serve --store store --signing-key sign.pem --origin rsyslog.test/log \
	--listen 127.0.0.1:0 --cert tls.crt --key tls.key 2>d.log &
d_pid=$!
pids+=($d_pid)
ADDR=$(wait_addr d.log "$d_pid")
[ -n "$ADDR" ] && pass daemon_starts || { fail daemon_starts "$(cat d.log)"; exit 1; }

relay() { # relay NAME FRAMING: an rsyslogd taking plain TCP, forwarding over TLS
	local name=$1 framing=$2 port
	port=$(free_port)
	mkdir -p "$name"
	cat >"$name/rsyslog.conf" <<CONF
global(workDirectory="$w/$name" DefaultNetstreamDriverCAFile="$w/tls.crt")
module(load="imtcp")
input(type="imtcp" port="$port" address="127.0.0.1")
action(type="omfwd" target="127.0.0.1" port="${ADDR##*:}" protocol="tcp"
       StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="anon"
       TCP_Framing="$framing" template="RSYSLOG_SyslogProtocol23Format")
CONF
	rsyslogd -n -f "$w/$name/rsyslog.conf" -i "$w/$name/pid" 2>"$name/err" &
	pids+=($!)
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	RELAY_PORT=$port
}
count() { # count TAG: events whose action names TAG
	"$SL" query --store store --vkey "$VK" --what "$1" --json 2>/dev/null | wc -l
}
wait_count() { # wait_count TAG N: until N events of TAG are in the store (10 s)
	for _ in $(seq 100); do
		[ "$(count "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

for framing in octet-counted traditional; do
	relay "r-$framing" "$framing"
	tag=rs-${framing}-$$
	for i in $(seq 20); do
		logger --tcp -n 127.0.0.1 -P "$RELAY_PORT" --rfc5424 -t "$tag" -p auth.notice \
			"admin ran command number $i"
	done
	if wait_count "$tag" 20; then pass "forwarded_$framing"; else
		fail "forwarded_$framing" "$(count "$tag") of 20; $(tail -2 "r-$framing/err")"
	fi
	line=$("$SL" query --store store --vkey "$VK" --what "$tag" --json 2>/dev/null | head -1)
	if grep -q '"action":"auth.notice '"$tag" <<<"$line" && grep -q 'admin ran command number' <<<"$line" &&
		grep -q '"kind":"syslog"' <<<"$line"; then
		pass "fields_$framing"
	else
		fail "fields_$framing" "$line"
	fi
done
kill -TERM "$d_pid"
if wait "$d_pid"; then pass clean_stop; else fail clean_stop "$(tail -3 d.log)"; fi
expect verify 0 '^VERIFIED' "$SL" verify --store store --vkey "$VK"

[ "$fails" -eq 0 ]
