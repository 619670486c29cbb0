#!/usr/bin/env bash
# The StreamLog audit source on this machine's kernel (docs/streamlog.md
# §3.2): a temporary execve rule, two marker commands (one as root, one as nobody
# under login uid 4242), the new part of the audit log through the adapter
# (tests/helpers/sl_audit_feed), and the markers' events checked: uid, auid, exe,
# argv, on, serial.
#
# The audit subsystem is global: the rule is this run's own (its key names the
# shell's pid) and is removed on every exit path, and `auditctl -l` is compared
# with what it was before. A running auditd is used as it is (its log file read from
# its auditd.conf); with none running, a private auditd (-c with a config in a
# temporary directory, its log there, no plugins) is started and stopped, and the
# kernel's enabled flag put back as it was. SKIP only when audit cannot be used at
# all (not root, no kernel audit, configuration locked, no auditd).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
SUITE=streamlog_audit
B=${SHELTER_BUILD:-build/asan}
FEED=$PWD/$B/tests/sl_audit_feed
[ -x "$FEED" ] || FEED=$B/tests/sl_audit_feed

skip() {
	echo "SKIP $SUITE: $*"
	exit 0
}

[ -x "$FEED" ] || { fail build "no $FEED: make BUILD=asan first"; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "not root: adding an audit rule needs CAP_AUDIT_CONTROL"
command -v auditctl >/dev/null || skip "auditctl not installed (Debian package auditd)"
status=$(auditctl -s 2>&1) || skip "no kernel audit here (auditctl -s: $status)"
enabled=$(sed -n 's/^enabled //p' <<<"$status")
daemon=$(sed -n 's/^pid //p' <<<"$status")
[ "$enabled" = 2 ] && skip "audit rules are locked (enabled 2) until reboot"
[ "$daemon" != 0 ] || command -v auditd >/dev/null ||
	skip "no audit daemon running and auditd not installed"

w=$(mktemp -d)
chmod 700 "$w"
rules_before=$(auditctl -l)
key=streamlog-it-$$
true_exe=$(readlink -f /bin/true)
rule=(always,exit -F arch=b64 -S execve -F "exe=$true_exe" -F "key=$key")
own_auditd=
rule_added=
restored=

# Put the kernel back as it was: our rule out, our auditd stopped, enabled flag.
restore() {
	[ -n "$restored" ] && return
	restored=1
	[ -n "$rule_added" ] && auditctl -d "${rule[@]}" >/dev/null 2>&1
	stop_private_auditd "$enabled"
	rm -rf "$w"
}
trap restore EXIT

# The log file a running auditd writes: log_file= of its -c directory's auditd.conf.
running_log() {
	local dir=/etc/audit conf i
	local -a args=()
	[ -r "/proc/$daemon/cmdline" ] && mapfile -d '' args <"/proc/$daemon/cmdline"
	for ((i = 0; i < ${#args[@]}; i++)); do
		[ "${args[$i]}" = -c ] && dir=${args[$((i + 1))]:-$dir}
	done
	conf=$dir/auditd.conf
	grep -qiE '^\s*write_logs\s*=\s*no' "$conf" 2>/dev/null && return 1
	sed -n 's/^\s*log_file\s*=\s*//p' "$conf" 2>/dev/null | tail -n 1 | grep . ||
		echo /var/log/audit/audit.log
}

if [ "$daemon" != 0 ] && kill -0 "$daemon" 2>/dev/null; then
	log=$(running_log) || skip "the running auditd (pid $daemon) writes no log file"
	[ -r "$log" ] || skip "cannot read $log of the running auditd (pid $daemon)"
	pass "auditd (running, pid $daemon, $log)"
	[ "$enabled" = 1 ] || auditctl -e 1 >/dev/null
else
	log=$w/audit.log
	if start_private_auditd "$w/conf" "$w/audit.log" "$w/auditd.err"; then
		pass "auditd (private, pid $own_auditd)"
	else
		fail auditd "private auditd did not register: $(head -c 300 "$w/auditd.err")"
		exit 1
	fi
fi
offset=$(stat -c %s "$log" 2>/dev/null || echo 0)

if auditctl -a "${rule[@]}" >"$w/rule.err" 2>&1; then
	rule_added=1
	pass "rule added"
else
	fail "rule added" "$(head -c 300 "$w/rule.err")"
	exit 1
fi

m1=streamlog-marker-$RANDOM$RANDOM
m2=streamlog-marker-$RANDOM$RANDOM
/bin/true "$m1"
# the second as nobody, under login uid 4242 where the kernel lets a root shell set it
want2_auid=4242
sh -c "echo 4242 >/proc/self/loginuid" 2>/dev/null || want2_auid=$(cat /proc/self/loginuid)
sh -c "echo $want2_auid >/proc/self/loginuid 2>/dev/null; exec setpriv --reuid=65534 \
	--regid=65534 --clear-groups /bin/true '$m2'"
for _ in $(seq 100); do
	tail -c +"$((offset + 1))" "$log" 2>/dev/null | grep -q "$m2" && break
	sleep 0.1
done
sleep 0.5 # the rest of the event's records
if tail -c +"$((offset + 1))" "$log" | grep -q "$m1"; then
	pass "markers logged"
else
	fail "markers logged" "no $m1 in $log after 10 s"
fi
restore_rules_now() { auditctl -d "${rule[@]}" >/dev/null 2>&1 && rule_added=; }
restore_rules_now

tail -c +"$((offset + 1))" "$log" >"$w/new.log"
if "$FEED" -H "$(hostname)" <"$w/new.log" >"$w/events.jsonl" 2>"$w/feed.err"; then
	pass "driver"
else
	fail driver "exit $?: $(tail -c 300 "$w/feed.err")"
fi
if jq -e . "$w/events.jsonl" >/dev/null 2>&1; then
	pass "events are JSON"
else
	fail "events are JSON"
fi

# check_marker NAME MARKER UID AUID: its event, by its argv
check_marker() {
	local name=$1 marker=$2 uid=$3 auid=$4 ev seq
	ev=$(jq -c --arg a "/bin/true $marker" 'select(.what.action == $a)' "$w/events.jsonl")
	if [ "$(grep -c . <<<"$ev")" -ne 1 ]; then
		fail "$name event" "want one event with action '/bin/true $marker', got: $ev"
		return
	fi
	pass "$name event"
	expect_jq "$name uid" "$ev" ".who.uid == $uid"
	expect_jq "$name auid" "$ev" ".who.auid == $auid"
	expect_jq "$name exe" "$ev" ".what.message | contains(\" exe=$true_exe \")"
	expect_jq "$name key" "$ev" ".what.message | contains(\" key=$key\")"
	expect_jq "$name on" "$ev" '.on == "/bin/true"'
	expect_jq "$name result" "$ev" '.what.result == "success" and .src.kind == "audit"'
	seq=$(jq -r .raw <<<"$ev" | head -n 1 | sed -n 's/.*msg=audit([0-9.]*:\([0-9]*\)).*/\1/p')
	expect_jq "$name seq" "$ev" ".src.seq == ${seq:-0}"
}
expect_jq() { # expect_jq NAME JSON FILTER
	if jq -e "$3" <<<"$2" >/dev/null; then
		pass "$1"
	else
		fail "$1" "$3 is false for $(head -c 400 <<<"$2")"
	fi
}
check_marker marker1 "$m1" "$(id -u)" "$(cat /proc/self/loginuid)"
check_marker marker2 "$m2" 65534 "$want2_auid"

restore
if auditctl -l | grep -q -- "$key"; then
	fail "rules restored" "$key still in auditctl -l"
elif [ "$(auditctl -l)" = "$rules_before" ]; then
	pass "rules restored"
else
	pass "rules restored (ours removed; others changed the list meanwhile)"
fi
after=$(auditctl -s)
if [ "$(sed -n 's/^enabled //p' <<<"$after")" = "$enabled" ] &&
	[ "$(sed -n 's/^pid //p' <<<"$after")" = "$daemon" ]; then
	pass "kernel audit state restored"
else
	fail "kernel audit state restored" "enabled/pid $(sed -n 's/^\(enabled\|pid\) //p' <<<"$after" | tr '\n' /), before $enabled/$daemon"
fi
[ "$fails" -eq 0 ]
