#!/usr/bin/env bash
# StreamLog's file sources and the audisp plugin with the real programs
# (docs/streamlog.md §3.5): `streamlog serve --follow` on the JSON log
# and the I/O log directory that sudo writes for a test user, on the file tlog-rec
# writes, and on audit logs; `streamlog audisp` forwarding audit records to the
# daemon; audit, tlog and sudo records inside syslog; rotation, truncation and a
# vanished file recorded; a restart (clean, then after SIGKILL) that neither loses
# nor duplicates; a gap in a tlog recording's ids recorded; and, when no audit daemon
# runs, a private auditd (-c with a temporary configuration, no rules added) that
# starts `streamlog audisp` as its plugin.
#
# System state: a user (slt<pid>) and a sudoers drop-in (/etc/sudoers.d/zz-slt<pid>,
# checked with visudo -cf first, its Defaults for that user only) exist while the
# test runs and are removed on every exit path. The private auditd, when there is one,
# is stopped and the kernel's audit enabled flag put back on every exit path. SKIP when
# not root or sudo/visudo are missing; the tlog parts are skipped without tlog-rec, the
# plugin part when an audit daemon runs or audit cannot be used.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
SUITE=streamlog_sources
B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
SL=$PWD/$B/bin/streamlog
VEC=$PWD/tests/vectors/streamlog/audit
HOST=$(hostname)

skip() {
	echo "SKIP $SUITE: $*"
	exit 0
}
[ -x "$SL" ] || { fail build "no $SL"; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "not root: the test adds a user and a sudoers drop-in"
command -v sudo >/dev/null && command -v visudo >/dev/null ||
	skip "sudo not installed (scripts/install-deps.sh)"
have_tlog=1
command -v tlog-rec >/dev/null || have_tlog=

w=$(mktemp -d)
chmod 755 "$w"
U=slt$$
DROPIN=/etc/sudoers.d/zz-slt$$
pids=()
user_added=
own_auditd=
audit_enabled=
cleanup() {
	rm -f "$DROPIN"
	[ -n "$user_added" ] && userdel "$U" 2>/dev/null
	stop_private_auditd "$audit_enabled"
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	if [ -n "${SL_KEEP:-}" ]; then echo "kept $w"; else rm -rf "$w"; fi
}
trap cleanup EXIT
cd "$w"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=streamlog.test -addext 'subjectAltName=DNS:streamlog.test,IP:127.0.0.1' \
	-keyout tls.key -out tls.crt 2>/dev/null
VK=$("$SL" keygen --signing-key sign.pem --origin streamlog.test/log 2>/dev/null)
FOLLOW=(--follow "sudo:$w/sudo.log" --follow "sudo-io:$w/io" --follow "tlog:$w/rec.log"
	--follow "tlog:$w/t.log" --follow "audit:$w/audit.log")

start() { # start LOGFILE
	"$SL" serve --store store --signing-key sign.pem --origin streamlog.test/log \
		--listen 127.0.0.1:0 --cert tls.crt --key tls.key --silence-ms 0 "${FOLLOW[@]}" \
		2>"$1" &
	D_PID=$!
	pids+=($D_PID)
	ADDR=$(wait_addr "$1" "$D_PID")
}
stop() {
	kill -TERM "$D_PID"
	wait "$D_PID"
}
# every event of the store, one JSON object a line (what the published checkpoint covers)
events() { "$SL" query --store store --vkey "$VK" --json 2>/dev/null | jq -c .event; }
# wait_for JQ_FILTER [SECONDS]: until some event satisfies the filter
wait_for() {
	for _ in $(seq $((${2:-10} * 10))); do
		events | jq -c "select($1)" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}
# check NAME JQ_FILTER: some event satisfies it
check() {
	if wait_for "$2" 10; then pass "$1"; else fail "$1" "no event with $2"; fi
}
# count JQ_FILTER: how many events satisfy it
count() { events | jq -c "select($1)" | wc -l; }
# tlog_msg ID REC TEXT: one tlog message (format 2.3) as tlog-rec's file writer puts it
tlog_msg() {
	printf '{"ver":"2.3","host":"h1","rec":"%s","user":"alice","term":"xterm","session":7,"id":%d,"pos":0,"time":1795411000.%03d,"timing":">1","in_txt":"","in_bin":[],"out_txt":"%s","out_bin":[]}\n' \
		"$2" "$1" "$1" "$3"
}

# --- refusals --------------------------------------------------------------------------
expect follow_bad_kind 2 'bad option value' "$SL" serve --store store --signing-key sign.pem \
	--listen 127.0.0.1:0 --cert tls.crt --key tls.key --follow "nginx:$w/x"
expect audisp_needs_to 2 'audisp needs --to' "$SL" audisp
mkdir bad && printf 'streamlog follow state 1\n12 x tlog:/a\n' >bad/follow.state
expect bad_state_refused 1 'follow.state.*line 2' "$SL" serve --store bad \
	--signing-key sign.pem --listen 127.0.0.1:0 --cert tls.crt --key tls.key --follow tlog:/a
[ ! -e bad/log ] && pass bad_state_leaves_store || fail bad_state_leaves_store

# --- the daemon, with files that do not exist yet ---------------------------------------
start d1.log
[ -n "$ADDR" ] && pass daemon_starts || { fail daemon_starts "$(cat d1.log)"; exit 1; }

# --- (a) sudo: the JSON event log and the I/O log of a test user -------------------------
add_test_user "$U" || exit 1
user_added=1
cat >sudoers <<EOF
Defaults:$U log_format=json, logfile=$w/sudo.log, iolog_dir=$w/io, log_output, !use_pty
$U ALL=(nobody) NOPASSWD: /usr/bin/echo
EOF
install_sudoers sudoers "$DROPIN" || exit 1
UID_U=$(id -u "$U")
out=$(cd / && runuser -u "$U" -- sudo -n -u nobody /usr/bin/echo 'two words' sudo-marker-1 2>&1)
[ "$out" = "two words sudo-marker-1" ] && pass sudo_ran || fail sudo_ran "$out"
(cd / && runuser -u "$U" -- sudo -n -u root /usr/bin/id >/dev/null 2>&1)
check sudo_accept "(.src.kind == \"sudo\" and .src.id == \"file:$w/sudo.log\" and
	.who.user == \"$U\" and .who.uid == $UID_U and .who.run_as == \"nobody\" and
	.what.action == \"/usr/bin/echo 'two words' sudo-marker-1\" and .what.result == \"accept\"
	and .where.host == \"$HOST\" and .on == \"/\")"
check sudo_reject "(.src.kind == \"sudo\" and .who.user == \"$U\" and .who.run_as == \"root\"
	and .what.action == \"/usr/bin/id\" and (.what.result | startswith(\"reject\")))"
check sudo_iolog "(.src.kind == \"sudo\" and .src.id == \"file:$w/io\" and
	.what.result == \"iolog\" and .who.user == \"$U\" and .who.run_as == \"nobody\" and
	.what.action == \"/usr/bin/echo 'two words' sudo-marker-1\" and
	(.what.message | test(\"sudo I/O log of the session in $w/io/[0-9A-Z/]+\$\")))"

# --- (b) tlog: tlog-rec's file writer ----------------------------------------------------
if [ -n "$have_tlog" ]; then
	tlog-rec --writer=file --file-path="$w/rec.log" /bin/echo tlog-marker-1 >/dev/null 2>tlog.err
	check tlog_session_output "(.src.kind == \"tlog\" and .src.id == \"file:$w/rec.log\" and
		.what.action == \"tlog session output\" and .what.message == \"tlog-marker-1\\n\" and
		.who.user == \"root\" and .src.seq == 1 and (.who.session | length) > 0)"
else
	echo "SKIP $SUITE:tlog_session_output (no tlog-rec)"
fi

# --- (c) audit through `streamlog audisp`: the golden events of the vectors -------------
for v in captured-enriched handwritten; do
	if "$SL" audisp --to "$ADDR" --ca tls.crt <"$VEC/$v.log" 2>audisp-$v.err; then
		pass "audisp_$v sent"
	else
		fail "audisp_$v sent" "$(tail -3 audisp-$v.err)"
	fi
done
n_want=$(($(wc -l <"$VEC/captured-enriched.jsonl") + $(wc -l <"$VEC/handwritten.jsonl")))
for _ in $(seq 100); do
	[ "$(count '.src.kind == "audit" and (.src.id | startswith("tcp:"))')" -ge "$n_want" ] && break
	sleep 0.1
done
events | jq -c 'select(.src.kind == "audit" and (.src.id | startswith("tcp:"))) |
	del(.recv, .src.id)' >audisp.got
cat "$VEC/captured-enriched.jsonl" "$VEC/handwritten.jsonl" |
	jq -c --arg h "$HOST" 'del(.recv, .src.id) |
		if .where.host == "testhost" then .where.host = $h else . end' >audisp.want
if cmp -s audisp.got audisp.want; then
	pass "audisp_events_are_the_golden_ones ($n_want)"
else
	fail audisp_events_are_the_golden_ones "$(diff audisp.got audisp.want | head -c 600)"
fi
# the plugin's numbering: unbroken in each run, the second run starts again at 1
gaps=$(count '.what.action == "sequence gap"')
restarts=$(count '.what.action == "sequence restart" and
	(.what.message | endswith("numbered 1 after 157: restarted or replayed"))')
[ "$gaps" -eq 0 ] && [ "$restarts" -eq 1 ] && pass audisp_sequence_numbers ||
	fail audisp_sequence_numbers "$gaps gaps, $restarts restarts"

# --- audit, tlog and sudo records inside syslog (openssl s_client as the relay) ---------
frame() { # frame APP MSG: one octet-counted RFC 5424 message
	local m="<86>1 2026-11-23T04:40:01Z relay-1 $1 42 - - $2"
	printf '%d %s' "$(printf '%s' "$m" | wc -c)" "$m"
}
{
	frame audisp-syslog "$(sed -n 3p "$VEC/handwritten.log")"
	frame tlog "$(tlog_msg 1 syslogrec via-syslog)"
	frame sudo "@cee:{\"sudo\":{\"accept\":{\"submituser\":\"carol\",\"runuser\":\"root\",\"command\":\"/usr/bin/true\",\"runargv\":[\"true\",\"x\"],\"submithost\":\"h2\",\"submit_time\":{\"seconds\":1795411000,\"nanoseconds\":0}}}}"
	frame sshd "type=not-audit from an unrelated program"
} >frames
timeout 10 openssl s_client -quiet -no_ign_eof -connect "$ADDR" -CAfile tls.crt <frames \
	>/dev/null 2>&1
check syslog_audisp_syslog_is_audit '(.src.kind == "audit" and .where.host == "web1" and
	(.raw | startswith("node=web1 type=USER_LOGIN")))'
check syslog_tlog_is_tlog '(.src.kind == "tlog" and .who.session == "syslogrec" and
	.what.message == "via-syslog" and (.raw | startswith("<86>1 ")))'
check syslog_sudo_is_sudo '(.src.kind == "sudo" and .who.user == "carol" and
	.what.action == "/usr/bin/true x" and .where.host == "h2")'
check syslog_other_stays_syslog '(.src.kind == "syslog" and .what.action == "authpriv.info sshd[42]")'

# --- (f) tlog ids: a gap in one recording, two recordings interleaved ------------------
{
	tlog_msg 1 recA a1
	tlog_msg 1 recB b1
	tlog_msg 2 recA a2
	tlog_msg 2 recB b2
	tlog_msg 3 recA a3
	tlog_msg 5 recA a5
	tlog_msg 3 recB b3
} >>t.log
check tlog_gap_recorded "(.what.action == \"sequence gap\" and .what.result == \"loss\" and
	(.what.message | startswith(\"records 4 to 4 of file:$w/t.log|h1|recA \")))"
sleep 0.5
n=$(count '(.what.action == "sequence gap" or .what.action == "sequence restart") and
	(.what.message | contains("recB"))')
[ "$n" -eq 0 ] && pass tlog_recordings_apart || fail tlog_recordings_apart "$n for recB"

# --- (d) rotation, truncation, a vanished file (audit.log) -----------------------------
sed -n 1,4p "$VEC/handwritten.log" >>audit.log
check audit_file_events "(.src.kind == \"audit\" and .src.id == \"file:$w/audit.log\" and
	.what.action == \"USER_AUTH op=PAM:authentication acct=bob\" and .where.host == \"$HOST\")"
mv audit.log audit.log.1
sed -n 5,9p "$VEC/handwritten.log" >>audit.log.1 # written after the rename: still read
sed -n 10,11p "$VEC/handwritten.log" >audit.log   # the same event's PROCTITLE
check file_rotated "(.what.action == \"file rotated\" and .to == \"file:$w/audit.log\")"
check event_across_rotation "(.src.id == \"file:$w/audit.log\" and
	.what.action == \"sudo ls -la '/root/it'\\\\''s here'\" and
	(.what.message | startswith(\"types=SYSCALL,EXECVE,CWD,PATH,PATH,PROCTITLE \")))"
check new_file_read "(.src.id == \"file:$w/audit.log\" and
	.what.action == \"ADD_USER op=add-user acct=bob\")"
: >audit.log
sleep 0.5 # polled at 100 ms: the file is seen empty before it grows past the offset
sed -n 12,17p "$VEC/handwritten.log" >>audit.log
check file_truncated "(.what.action == \"file truncated\" and .what.result == \"loss\" and
	.to == \"file:$w/audit.log\")"
check after_truncation_read "(.src.id == \"file:$w/audit.log\" and
	.what.action == \"openat /usr/bin/vim.basic\")"
rm audit.log
check file_missing "(.what.action == \"file missing\" and .to == \"file:$w/audit.log\")"
sed -n 18,19p "$VEC/handwritten.log" >audit.log
check file_back "(.what.action == \"file opened\" and .to == \"file:$w/audit.log\" and
	(.what.message | contains(\"reading from byte 0\")))"
check idle_event_completed "(.src.id == \"file:$w/audit.log\" and
	.what.action == \"CONFIG_CHANGE op=remove_rule\")"

# --- (g) the real plugin interface: a private auditd starts `streamlog audisp` ----------
plugin_part() {
	local st
	command -v auditd >/dev/null && command -v auditctl >/dev/null || return 1
	st=$(auditctl -s 2>/dev/null) || return 1
	[ "$(sed -n 's/^pid //p' <<<"$st")" = 0 ] || return 1
	audit_enabled=$(sed -n 's/^enabled //p' <<<"$st")
	[ "$audit_enabled" = 0 ] || [ "$audit_enabled" = 1 ] || return 1
	mkdir -p "$w/ad/plugins.d"
	# auditd passes a plugin at most two arguments: a script (docs/streamlog.md §3.5.7)
	printf '#!/bin/sh\nexec %s audisp --to %s --ca %s 2>>%s\n' "$SL" "$ADDR" "$w/tls.crt" \
		"$w/plugin.err" >"$w/plugin.sh"
	chmod 755 "$w/plugin.sh"
	printf 'active = yes\ndirection = out\npath = %s\ntype = always\nformat = string\n' \
		"$w/plugin.sh" >"$w/ad/plugins.d/streamlog.conf"
	start_private_auditd "$w/ad" "$w/ad/audit.log" "$w/auditd.err" || return 2
}
plugin_part
case $? in
0)
	marker=streamlog-plugin-marker-$$
	auditctl -m "$marker" >/dev/null 2>&1
	check plugin_audit_record "(.src.kind == \"audit\" and (.src.id | startswith(\"tcp:\")) and
		.what.action == \"USER\" and (.raw | contains(\"text=$marker \")) and
		.where.host == \"$HOST\")"
	stop_private_auditd "$audit_enabled"
	check plugin_daemon_end '(.src.kind == "audit" and .what.action == "DAEMON_END op=terminate")'
	for _ in $(seq 50); do grep -q 'records, .* dropped' plugin.err && break; sleep 0.1; done
	if grep -q 'sent [1-9][0-9]* records, 0 not sent, 0 dropped' plugin.err; then
		pass plugin_exits_clean
	else
		fail plugin_exits_clean "$(tail -3 plugin.err)"
	fi
	;;
1) echo "SKIP $SUITE:plugin (an audit daemon runs, or audit cannot be used here)" ;;
*) fail plugin "private auditd did not register: $(head -c 300 auditd.err)" ;;
esac

# --- (e) restart: lines added while stopped are read once, nothing read twice -----------
for i in $(seq 1 20); do tlog_msg "$i" recR "r-$i"; done >>t.log
wait_for '.what.message == "r-20"' 10
if stop; then pass clean_stop; else fail clean_stop "$(tail -5 d1.log)"; fi
state_ok=1
while read -r ino off spec; do
	p=${spec#*:}
	case $spec in
	sudo-io:*) continue ;;
	sudo:*) want=$(($(stat -c %s "$p") - 2)) ;; # sudo's closing "}\n" stays unread
	*) want=$(stat -c %s "$p") ;;
	esac
	[ "$ino" = "$(stat -c %i "$p")" ] && [ "$off" = "$want" ] || state_ok=
done < <(tail -n +2 store/follow.state)
[ -n "$state_ok" ] && pass state_at_file_ends || fail state_at_file_ends "$(cat store/follow.state)"
for i in $(seq 21 40); do tlog_msg "$i" recR "r-$i"; done >>t.log
(cd / && runuser -u "$U" -- sudo -n -u nobody /usr/bin/echo sudo-marker-2 >/dev/null 2>&1)
sed -n 1,3p "$VEC/handwritten.log" >>audit.log
start d2.log
wait_for '.what.message == "r-40"' 10
check sudo_while_stopped "(.src.id == \"file:$w/sudo.log\" and
	.what.action == \"/usr/bin/echo sudo-marker-2\")"
check iolog_while_stopped "(.src.id == \"file:$w/io\" and
	.what.action == \"/usr/bin/echo sudo-marker-2\")"
bad=$(events | jq -r 'select(.src.kind == "tlog" and .who.session == "recR") | .what.message' |
	sort | uniq -c | awk '$1 != 1' | wc -l)
n=$(count '.src.kind == "tlog" and .who.session == "recR"')
[ "$n" -eq 40 ] && [ "$bad" -eq 0 ] && pass restart_exactly_once ||
	fail restart_exactly_once "$n events of 40, $bad not once"
for what in "file:$w/sudo.log|/usr/bin/echo 'two words' sudo-marker-1" \
	"file:$w/io|/usr/bin/echo 'two words' sudo-marker-1"; do
	n=$(count ".src.id == \"${what%%|*}\" and .what.action == \"${what#*|}\"")
	[ "$n" -eq 1 ] && pass "not_read_twice ${what%%|*}" || fail "not_read_twice ${what%%|*}" "$n"
done
n=$(count ".src.id == \"file:$w/audit.log\" and .what.action == \"USER_AUTH op=PAM:authentication acct=bob\"")
[ "$n" -eq 2 ] && pass audit_once_per_write || fail audit_once_per_write "$n, want 2 (written twice)"

# --- after SIGKILL: nothing lost (a batch may come twice) ------------------------------
for i in $(seq 41 60); do tlog_msg "$i" recR "r-$i"; done >>t.log
wait_for '.what.message == "r-60"' 10
kill -KILL "$D_PID"
wait "$D_PID" 2>/dev/null
for i in $(seq 61 80); do tlog_msg "$i" recR "r-$i"; done >>t.log
start d3.log
wait_for '.what.message == "r-80"' 10
missing=0
for i in $(seq 1 80); do
	events | jq -c --arg m "r-$i" 'select(.who.session == "recR" and .what.message == $m)' |
		grep -q . || missing=$((missing + 1))
done
[ "$missing" -eq 0 ] && pass kill_loses_nothing || fail kill_loses_nothing "$missing missing"
if stop; then pass clean_stop_again; else fail clean_stop_again "$(tail -5 d3.log)"; fi
expect verify_store 0 '^VERIFIED' "$SL" verify --store store --vkey "$VK"
bad_lines=$(cat d1.log d2.log d3.log | grep -vc '^streamlog: ')
[ "$bad_lines" -eq 0 ] && pass one_line_per_event || fail one_line_per_event "$bad_lines"

[ "$fails" -eq 0 ]
