#!/usr/bin/env bash
# The endorser daemon on loopback (docs/protocols/freshness.md §8, §10), driven by
# tests/helpers/fresh_client, which checks every answer with the library: identities
# whose quotes bind their keys, a genesis of three, create and append with
# certificates, reads bound to fresh nonces, the certified-predecessor rule (§4.3),
# lock and reconfiguration to a replacement endorser carrying the state (§7), a
# restarted endorser being a new identity, malformed frames, clean shutdown,
# refused misconfiguration, and the RELEASE daemon under valgrind.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
S=${SHELTER:?set SHELTER to the shelter binary}
B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
root=$(cd "$(dirname "$0")/../.." && pwd)
C=$root/$B/tests/fresh_client
[ -x "$C" ] || C=$B/tests/fresh_client
REL=${SHELTER_RELEASE:-$root/build/release/bin/shelter}
SUITE=freshness_endorser
w=$(mktemp -d)
declare -A PID ADDR KEY
cleanup() {
	for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w"
# never the machine's own platform
export SHELTER_PLATFORM_DIR=$w/plat
unset SHELTER_CAS_URL SHELTER_CAS_CERT LD_PRELOAD

# start NAME [BINARY [WRAPPER...]]: an endorser on a free port of 127.0.0.1; its
# address and key are read from its start line (§10)
start() {
	local name=$1 bin=${2:-$S} line
	shift 2 2>/dev/null || shift
	"$@" "$bin" freshness endorser --listen 127.0.0.1:0 2>"$name.log" &
	PID[$name]=$!
	for _ in $(seq 600); do
		grep -q ' shelter-endorser start ' "$name.log" && break
		kill -0 "${PID[$name]}" 2>/dev/null || break
		sleep 0.05
	done
	line=$(grep ' shelter-endorser start ' "$name.log")
	ADDR[$name]=$(sed -n 's/.* listening on \(127\.0\.0\.1:[0-9][0-9]*\)$/\1/p' <<<"$line")
	KEY[$name]=$(sed -n 's/.* pubkey=\([0-9a-f]\{64\}\) .*/\1/p' <<<"$line")
	[ -n "${ADDR[$name]}" ] && [ -n "${KEY[$name]}" ]
}
# stop NAME: SIGTERM; returns the daemon's exit status
stop() {
	local rc
	kill -TERM "${PID[$1]}"
	wait "${PID[$1]}"
	rc=$?
	unset "PID[$1]"
	return $rc
}
fc() { "$C" "$@"; }
# own_fds LOG: descriptors open at exit that valgrind did not see inherited
own_fds() {
	awk '/== Open / { open = 1; next }
	     open && /inherited from parent/ { open = 0; next }
	     open { n++; open = 0 }
	     END { print n + 0 }' "$1"
}

# --- a provider and an enrolled sim platform ------------------------------------------
"$S" provider init prov --name acme >/dev/null 2>&1 &&
	"$S" platform init --dir plat --name node-1 >/dev/null 2>&1 &&
	"$S" provider enroll prov plat/platform.csr --out p.crt >/dev/null 2>&1 &&
	"$S" platform install-cert --dir plat p.crt >/dev/null 2>&1 || {
	fail setup "provider and platform"
	exit 1
}
export FRESH_CA=$w/prov/ca.crt FRESH_CRL=$w/prov/crl.pem

# --- the command line -------------------------------------------------------------------
expect help_top 0 'freshness +the freshness service' "$S" --help
expect help_freshness 0 'endorser +run one endorser' "$S" freshness --help
expect help_endorser 0 'usage: shelter freshness endorser --listen HOST:PORT' \
	"$S" freshness endorser --help
expect no_subcommand 2 'usage: shelter freshness' "$S" freshness
expect unknown_subcommand 2 "unknown freshness command 'frob'" "$S" freshness frob
expect no_listen 2 'needs --listen HOST:PORT' "$S" freshness endorser
expect unknown_option 2 "see 'shelter freshness endorser --help'" \
	"$S" freshness endorser --listen 127.0.0.1:0 --frob
expect bad_address 1 "'127.0.0.1': expected HOST:PORT" \
	"$S" freshness endorser --listen 127.0.0.1
expect bad_port 1 "'127.0.0.1:70000': bad port" \
	"$S" freshness endorser --listen 127.0.0.1:70000
expect no_platform 1 "endorser platform: sim: no platform in '$w/none'" \
	env SHELTER_PLATFORM_DIR="$w/none" "$S" freshness endorser --listen 127.0.0.1:0
expect unenrolled_platform 1 'endorser platform: sim' \
	"$S" freshness endorser --listen 127.0.0.1:0 --platform "$w/prov"

# --- three endorsers start, each with its own key ---------------------------------------
if start e1 && start e2 && start e3 && start e4 &&
	[ "$(printf '%s\n' "${KEY[@]}" | sort -u | wc -l)" -eq 4 ] &&
	grep -q 'phase=uninit listening on' e1.log; then
	pass start_logs_key_and_address
else
	fail start_logs_key_and_address "$(cat e1.log e2.log e3.log e4.log | head -c 600)"
	exit 1
fi
expect port_in_use 1 "listen 127.0.0.1:${ADDR[e1]##*:}: Address already in use" \
	"$S" freshness endorser --listen "${ADDR[e1]}"

# --- identities: the quote verifies and binds the logged key (§3.3) ---------------------
ok=1
for e in e1 e2 e3 e4; do
	out=$(fc identity "${ADDR[$e]}") || ok=0
	m=$(sed -n 's/.* measurement=\([0-9a-f]\{64\}\) .*/\1/p' "$e.log" | head -1)
	grep -q "^pubkey=${KEY[$e]} measurement=$m quote=[0-9]* verified report_data=bound$" \
		<<<"$out" || ok=0
done
[ $ok -eq 1 ] && pass identity_quote_binds_key || fail identity_quote_binds_key "$out"

# --- an endorser in no view refuses batches and reads -------------------------------------
expect uninit_refuses_batch 0 '^error=-1 msg=endorser is not initialised' fc probe "${ADDR[e4]}" batch
expect uninit_refuses_read 0 '^error=-1 msg=endorser is not initialised' fc probe "${ADDR[e4]}" read
expect uninit_refuses_lock 0 '^error=-1 msg=endorser is not initialised' fc probe "${ADDR[e4]}" lock

# --- genesis, create, append with certificates (§6.1, §7.3) -------------------------------
mkdir st
expect genesis 0 '^view=0 digest=[0-9a-f]{64} members=3$' fc genesis st "${ADDR[e1]}" "${ADDR[e2]}" "${ADDR[e3]}"
if grep -q 'shelter-endorser init view=0 .* members=3 handles=0 phase=active genesis' e1.log; then
	pass genesis_logged
else
	fail genesis_logged "$(tail -3 e1.log)"
fi
mkdir st-again
expect genesis_again_refused 1 'error -11: init: endorser is active' \
	fc genesis st-again "${ADDR[e1]}" "${ADDR[e2]}" "${ADDR[e3]}"
out=$(fc create st vol d0)
tail0=$(sed -n 's/^height=0 tail=\([0-9a-f]*\) receipts=3 certified$/\1/p' <<<"$out")
[ -n "$tail0" ] && pass create || fail create "$out"
# the same create again is the same state (a lost answer, §6.3); another is refused
expect create_again_same_receipt 0 "^height=0 tail=$tail0 receipts=3 certified$" fc create st vol d0
expect create_other_refused 1 'status=-3 ' fc create st vol other
# §4.3: the created state is not certified on the endorsers; without its certificate
# every endorser refuses to build on it
out=$(fc append st vol d1 --no-cert)
rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c 'status=-80 (untrusted)' <<<"$out")" -eq 3 ]; then
	pass append_without_certificate_refused
else
	fail append_without_certificate_refused "exit $rc: $out"
fi
expect append_1 0 '^height=1 tail=[0-9a-f]{64} receipts=3 certified$' fc append st vol d1
out=$(fc append st vol d2)
tail2=$(sed -n 's/^height=2 tail=\([0-9a-f]*\) receipts=3 certified$/\1/p' <<<"$out")
[ -n "$tail2" ] && pass append_2 || fail append_2 "$out"

# --- reads: a fresh nonce each time, an old answer does not verify under a new one ------
expect read_latest 0 "^height=2 tail=$tail2 certified=0 replay=refused$" fc read st vol
expect read_again 0 "^height=2 tail=$tail2 certified=0 replay=refused$" fc read st vol
expect read_absent 0 '^absent replay=refused$' fc read st never-created

# --- reconfiguration: lock two, a view with a replacement (§7) ----------------------------
expect reconfigure 0 '^view=1 digest=[0-9a-f]{64} members=3 handles=1 locks=2$' \
	fc reconfig st "${ADDR[e1]},${ADDR[e2]}" "${ADDR[e1]},${ADDR[e2]},${ADDR[e4]}"
if grep -q 'shelter-endorser lock next=[0-9a-f]\{64\} handles=1 phase=locked' e1.log &&
	grep -q 'shelter-endorser init view=1 .* handles=1 phase=active$' e1.log &&
	grep -q 'shelter-endorser init view=1 .* handles=1 phase=active$' e4.log; then
	pass phase_changes_logged
else
	fail phase_changes_logged "$(tail -2 e1.log e4.log)"
fi
expect new_view_carries_state 0 "^height=2 tail=$tail2 certified=1 replay=refused$" fc read st vol
expect append_in_new_view 0 '^height=3 tail=[0-9a-f]{64} receipts=3 certified$' fc append st vol d3
# e3 was left out: lock it for some view; it then refuses appends and still reads
expect lock_old_member 0 '^ok$' fc probe "${ADDR[e3]}" lock
expect locked_refuses_batch 0 '^error=-1 msg=endorser is locked' fc probe "${ADDR[e3]}" batch
expect locked_still_reads 0 '^ok$' fc probe "${ADDR[e3]}" read

# --- kill -9 and restart: a new identity, uninitialised ------------------------------------
kill -KILL "${PID[e4]}"
wait "${PID[e4]}" 2>/dev/null
unset "PID[e4]"
old=${KEY[e4]}
if start e4b && [ "${KEY[e4b]}" != "$old" ] && grep -q 'phase=uninit' e4b.log; then
	pass restart_is_new_identity
else
	fail restart_is_new_identity "${KEY[e4b]:-none} vs $old"
fi
expect restarted_refuses_batch 0 '^error=-1 msg=endorser is not initialised' fc probe "${ADDR[e4b]}" batch
expect restarted_refuses_read 0 '^error=-1 msg=endorser is not initialised' fc probe "${ADDR[e4b]}" read
# the view keeps its majority: reads and appends go on with two of three
expect read_with_one_member_down 0 '^height=3 tail=[0-9a-f]{64} certified=0 replay=refused$' fc read st vol
expect append_with_one_member_down 0 '^height=4 tail=[0-9a-f]{64} receipts=2 certified$' fc append st vol d4

# --- malformed frames: an error frame or a close; the daemon serves others --------------
for m in garbage huge zero unknown trailing; do
	expect "malformed_$m" 0 '^error=-48 msg=.* closed other=ok$' fc raw "${ADDR[e1]}" "$m"
done
expect malformed_truncated 0 '^no-answer .* closed other=ok$' fc raw "${ADDR[e1]}" truncated
if grep -q 'shelter-endorser conn peer=127.0.0.1:[0-9]* what="malformed frame; closed" reason="unknown frame type 0x77"' e1.log; then
	pass connection_errors_logged
else
	fail connection_errors_logged "$(grep conn e1.log | head -3)"
fi
expect serves_after_malformed 0 '^ok$' fc probe "${ADDR[e1]}" identity

# --- SIGTERM: exit 0 and "stopped" -----------------------------------------------------
ok=1
for e in e1 e2 e3 e4b; do
	stop "$e" || ok=0
	grep -q ' shelter-endorser stopped requests=' "$e.log" || ok=0
done
[ $ok -eq 1 ] && pass sigterm_clean_exit || fail sigterm_clean_exit "$(tail -2 e1.log)"
if ! grep -qi 'secret\|private' e1.log e2.log e3.log e4.log e4b.log; then
	pass logs_name_no_secret
else
	fail logs_name_no_secret
fi

# --- the release daemon under valgrind: a short session, then SIGTERM ------------------
if [ ! -x "$REL" ] || ! command -v valgrind >/dev/null; then
	fail valgrind "needs $REL (make BUILD=release) and valgrind"
	exit 1
fi
if start vg "$REL" valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --track-fds=yes --error-exitcode=99; then
	pass valgrind_starts
else
	fail valgrind_starts "$(tail -5 vg.log)"
	exit 1
fi
mkdir vst
fc genesis vst "${ADDR[vg]}" >/dev/null &&
	fc create vst h d0 >/dev/null && fc append vst h d1 >/dev/null &&
	fc read vst h >/dev/null && fc probe "${ADDR[vg]}" lock >/dev/null &&
	fc raw "${ADDR[vg]}" unknown >/dev/null && fc raw "${ADDR[vg]}" truncated >/dev/null &&
	fc probe "${ADDR[vg]}" read >/dev/null
[ $? -eq 0 ] && pass valgrind_session || fail valgrind_session "$(tail -5 vg.log)"
stop vg
rc=$?
if [ $rc -eq 0 ] && grep -q 'ERROR SUMMARY: 0 errors' vg.log &&
	grep -qE 'All heap blocks were freed|definitely lost: 0 bytes' vg.log &&
	! grep -qE '(definitely|indirectly|possibly) lost: [1-9]' vg.log &&
	[ "$(own_fds vg.log)" -eq 0 ] && grep -q ' shelter-endorser stopped ' vg.log; then
	pass valgrind_no_leak_no_error
else
	fail valgrind_no_leak_no_error "exit $rc; $(grep -E 'lost:|ERROR SUMMARY|Invalid|FILE DESC' vg.log | head -6)"
fi
[ "$fails" -eq 0 ]
