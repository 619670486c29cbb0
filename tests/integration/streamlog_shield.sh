#!/usr/bin/env bash
# StreamLog under the shield (docs/streamlog.md §5, docs/shield.md): the daemon runs
# with `shelter run` and its store on a protected volume; events arrive over TLS, the
# host's bytes hold none of them in clear, verify and query run shielded on the same
# volume, and a volume rolled back to an earlier copy is refused at the next start.
# CAS mode: the CAS provisions the signing key and the TLS certificate into
# /run/secrets after attestation; the key never exists outside the shielded process.
# Programs run with the RELEASE shield (an ASan shield cannot be preloaded into them).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
S=${SHELTER:?set SHELTER to the shelter binary}
R=${SHELTER_RELEASE_BUILD:-build/release}
SL=$PWD/$R/bin/streamlog
SEND=$PWD/${SHELTER_BUILD:-build/asan}/tests/sl_send
export SHELTER_SHIELD_LIB=${SHELTER_SHIELD_LIB:-$PWD/$R/lib/libshelter-shield.so}
SUITE=streamlog_shield
if [ ! -f "$SHELTER_SHIELD_LIB" ] || [ ! -x "$SL" ]; then
	fail release_build "no $SHELTER_SHIELD_LIB or $SL: make BUILD=release all"
	exit 1
fi
w=$(mktemp -d)
d_pid=
cas_pid=
cleanup() {
	[ -n "$d_pid" ] && kill -KILL "$d_pid" 2>/dev/null
	[ -n "$cas_pid" ] && kill -KILL "$cas_pid" 2>/dev/null
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w"
export SHELTER_PLATFORM_DIR=$w/plat SHELTER_STATE_DIR=$w/state
unset SHELTER_CAS_URL SHELTER_CAS_CERT SHELTER_SESSION LD_PRELOAD LD_LIBRARY_PATH
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=streamlog.test -keyout tls.key -out tls.crt 2>/dev/null
VK=$("$SL" keygen --signing-key sign.pem --origin shielded.test/log 2>/dev/null)
MARK=secret-command-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')

start() { # start LOG: the daemon, shielded, its store on the volume
	"$S" run --volume "$w/vol:/data" -- "$SL" serve --store /data/store \
		--signing-key "$w/sign.pem" --origin shielded.test/log --listen 127.0.0.1:0 \
		--cert "$w/tls.crt" --key "$w/tls.key" 2>"$1" &
	d_pid=$!
	ADDR=$(wait_addr "$1" "$d_pid")
}
stop() {
	kill -TERM "$d_pid"
	wait "$d_pid"
	local rc=$?
	d_pid=
	return $rc
}
shielded() { "$S" run --volume "$w/vol:/data" -- "$SL" "$@"; }

start d1.log
[ -n "$ADDR" ] && pass starts_shielded || { fail starts_shielded "$(cat d1.log)"; exit 1; }
expect events_arrive 0 '^sent 300 ' "$SEND" "$ADDR" 300 --host "$MARK"
if stop; then pass clean_stop; else fail clean_stop "$(tail -3 d1.log)"; fi
if grep -rqa -- "$MARK" vol; then fail host_sees_no_event; else pass host_sees_no_event; fi
[ ! -e vol/store ] && pass store_only_inside_the_volume || fail store_only_inside_the_volume
expect verify_shielded 0 '^VERIFIED: 30[0-9] events' shielded verify --store /data/store \
	--vkey "$VK"
n=$(shielded query --store /data/store --vkey "$VK" --host "$MARK" --json 2>/dev/null | wc -l)
[ "$n" -eq 300 ] && pass query_shielded || fail query_shielded "$n events, want 300"

# an older copy of the whole volume: the shield's freshness refuses it (shield.md §6)
cp -a vol vol.old
start d2.log
expect more_events 0 '^sent 50 ' "$SEND" "$ADDR" 50 --host "$MARK"
if stop; then pass second_run; else fail second_run "$(tail -3 d2.log)"; fi
rm -rf vol && mv vol.old vol
start d3.log
if [ -z "$ADDR" ] && grep -qiE 'rolled back|stale' d3.log; then pass rolled_back_volume_refused
else fail rolled_back_volume_refused "$(tail -3 d3.log)"; fi
[ -n "$d_pid" ] && { kill -KILL "$d_pid" 2>/dev/null; d_pid=; }

# --- CAS mode: keys from the CAS, after attestation -------------------------------------
mkdir cas && cd cas
"$S" provider init acme --name acme >/dev/null && "$S" platform init --dir plat1 --name n1 >/dev/null &&
	"$S" provider enroll acme plat1/platform.csr --out p1.crt >/dev/null 2>&1 &&
	"$S" platform install-cert --dir plat1 p1.crt >/dev/null && "$S" session keygen owner.key >/dev/null
"$S" cas serve --listen 127.0.0.1:0 --data data --platform plat1 2>cas.log &
cas_pid=$!
for _ in $(seq 100); do [ -s data/cas.addr ] && break; sleep 0.1; done
export SHELTER_CAS_URL=https://$(cat data/cas.addr) SHELTER_CAS_CERT=$PWD/data/cas.crt
M=$("$S" measure --shield "$SHELTER_SHIELD_LIB" --volume /data -- "$SL")
cat >sl.yaml <<YAML
name: streamlog
accept:
  measurements: [$M]
  providers:
    - name: acme
      ca: |
$(sed 's/^/        /' acme/ca.crt)
  allow_sim: true
secrets:
  - name: sign
    kind: ed25519
  - name: tls
    kind: x509
    common_name: streamlog.test
    ip: [127.0.0.1]
launch:
  args: [streamlog, serve, --store, /data/store, --origin, cas.test/log, --signing-key,
         /run/secrets/sign.pem, --cert, /run/secrets/tls.pem, --key, /run/secrets/tls.key,
         --listen, '127.0.0.1:0']
  files:
    /run/secrets/sign.pem: "{{sign.private_pem}}"
    /run/secrets/tls.pem: "{{tls.chain}}"
    /run/secrets/tls.key: "{{tls.key}}"
volumes:
  - name: data
    path: /data
YAML
if "$S" session apply sl.yaml --owner-key owner.key >/dev/null && "$S" provider publish acme >/dev/null; then
	pass cas_session
else
	fail cas_session "$(tail -3 cas.log)"
fi
secrets_before=$(ls -d /dev/shm/shelter-secrets-* 2>/dev/null | sort)
"$S" run --session streamlog --platform plat1 --volume "$PWD/cv:/data" -- "$SL" 2>c1.log &
d_pid=$!
ADDR=$(wait_addr c1.log "$d_pid")
CVK=$(grep -oE 'verifier key cas\.test/log\+[^ ]+' c1.log | cut -d' ' -f3)
if [ -n "$ADDR" ] && [ -n "$CVK" ]; then pass cas_provisioned_daemon; else
	fail cas_provisioned_daemon "$(tail -5 c1.log)"
fi
expect cas_events_arrive 0 '^sent 40 ' "$SEND" "$ADDR" 40 --host cas-host
if stop; then pass cas_clean_stop; else fail cas_clean_stop "$(tail -3 c1.log)"; fi
# the in-memory /run/secrets of this run is gone with it (docs/shield.md §1)
left=$(comm -13 <(echo "$secrets_before") <(ls -d /dev/shm/shelter-secrets-* 2>/dev/null | sort))
[ -z "$left" ] && pass cas_secrets_removed || fail cas_secrets_removed "$left"
kill -TERM "$cas_pid" && wait "$cas_pid"
cas_pid=

[ "$fails" -eq 0 ]
