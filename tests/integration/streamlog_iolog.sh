#!/usr/bin/env bash
# The content of sudo I/O log sessions in StreamLog (docs/streamlog.md §3.5.4, §3.5.5,
# §7.5), with the real sudo of the host: `streamlog serve --follow sudo-io:DIR` copies
# every session's files into iolog-data events as they grow and closes each session
# with iolog-end; `streamlog iolog` puts a session back together from a verified store
# and sudoreplay replays it. Checked: the canaries are in the log; output over one
# chunk is split and put back byte for byte; files removed or edited on the host after
# the end change nothing in what comes back; a file edited or truncated during the
# session is recorded altered; a clean restart in the middle of a session copies every
# byte exactly once; after SIGKILL every byte is there (a repeated offset is allowed,
# and visible); a sudo killed mid-session leaves what it wrote in the log; a session
# with sudo's defaults (gzip streams, written at the end) replays from the log.
#
# System state: two users (slio<pid>, and slioz<pid> with sudo's default compress_io)
# and a sudoers drop-in (/etc/sudoers.d/zz-slio<pid>, checked with visudo first, its
# Defaults for those users only) exist while the test runs and are removed on every
# exit path. SKIP when not root or sudo, visudo, sudoreplay or
# jq are missing.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
SUITE=streamlog_iolog
B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
SL=$PWD/$B/bin/streamlog

skip() {
	echo "SKIP $SUITE: $*"
	exit 0
}
[ -x "$SL" ] || { fail build "no $SL"; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "not root: the test adds a user and a sudoers drop-in"
for c in sudo visudo sudoreplay jq; do
	command -v "$c" >/dev/null || skip "$c not installed (scripts/install-deps.sh)"
done

w=$(mktemp -d)
chmod 755 "$w"
U=slio$$
U2=slioz$$
DROPIN=/etc/sudoers.d/zz-slio$$
pids=()
user_added=
user2_added=
cleanup() {
	rm -f "$DROPIN"
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	[ -n "$user_added" ] && userdel "$U" 2>/dev/null
	[ -n "$user2_added" ] && userdel "$U2" 2>/dev/null
	if [ -n "${SL_KEEP:-}" ]; then echo "kept $w"; else rm -rf "$w"; fi
}
trap cleanup EXIT
cd "$w"
IO=$w/io

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=streamlog.test -addext 'subjectAltName=DNS:streamlog.test,IP:127.0.0.1' \
	-keyout tls.key -out tls.crt 2>/dev/null
VK=$("$SL" keygen --signing-key sign.pem --origin streamlog.test/log 2>/dev/null)

start() { # start LOGFILE
	"$SL" serve --store store --signing-key sign.pem --origin streamlog.test/log \
		--listen 127.0.0.1:0 --cert tls.crt --key tls.key --silence-ms 0 \
		--follow "sudo-io:$IO" 2>"$1" &
	D_PID=$!
	pids+=($D_PID)
	ADDR=$(wait_addr "$1" "$D_PID")
}
stop() {
	kill -TERM "$D_PID"
	wait "$D_PID"
}
events() { "$SL" query --store store --vkey "$VK" --json 2>/dev/null | jq -c .event; }
wait_for() { # wait_for JQ_FILTER [SECONDS]
	for _ in $(seq $((${2:-15} * 5))); do
		events | jq -c "select($1)" 2>/dev/null | grep -q . && return 0
		sleep 0.2
	done
	return 1
}
check() { if wait_for "$2" "${3:-15}"; then pass "$1"; else fail "$1" "no event with $2"; fi; }
count() { events | jq -c "select($1)" | wc -l; }
# sid CANARY: the id of the session whose command line holds CANARY (from its iolog event)
sid() {
	wait_for ".what.result == \"iolog\" and (.what.action | contains(\"$1\"))" 15 || return 1
	events | jq -r --arg c "$1" --arg p "sudo I/O log of the session in $IO/" \
		'select(.what.result == "iolog" and (.what.action | contains($c))) |
		 .what.message | ltrimstr($p)' | head -1
}
ended() { wait_for ".what.result == \"iolog-end\" and .who.session == \"$1\"" "${2:-20}"; }
# as_user CMD...: the test user runs sudo -n CMD in / (no tty: the streams are stdout/stderr)
as_user() { (cd / && runuser -u "$U" -- sudo -n "$@"); }
# chunks ID FILE: "offset length" of every iolog-data event of the file, in log order
chunks() {
	events | jq -r --arg s "$1" --arg f "$2" \
		'select(.what.result == "iolog-data" and .who.session == $s and .what.action == $f) |
		 .what.message | split(" ") | "\(.[0]) \(.[1])"'
}
extract() { # extract ID OUTDIR: streamlog iolog's exit code; its stderr in OUTDIR.err
	"$SL" iolog --store store --vkey "$VK" --session "$1" --out "$2" 2>"$2.err"
}

# --- refusals ---------------------------------------------------------------------------
expect iolog_needs_session 2 'iolog needs --store, --session and --out' "$SL" iolog \
	--store store --vkey "$VK" --out x
expect iolog_needs_vkey 2 'give --vkey or --vkey-file' "$SL" iolog --store store \
	--session 00/00/01 --out x

# --- set-up: a test user whose sudo sessions are recorded ------------------------------
add_test_user "$U" || exit 1
user_added=1
# iolog_flush: sudo writes every read through (sudoers(5)); without it, it buffers until
# the end and nothing would be there to copy during the session
cat >sudoers <<EOF
Defaults:$U iolog_dir=$IO, log_output, log_input, !use_pty, iolog_flush, !compress_io
$U ALL=(root) NOPASSWD: /usr/bin/sh
EOF
install_sudoers sudoers "$DROPIN" || exit 1

start d1.log
[ -n "$ADDR" ] && pass daemon_starts || { fail daemon_starts "$(cat d1.log)"; exit 1; }

# --- (a) a short session: content, end, extraction, replay ------------------------------
out=$(as_user /usr/bin/sh -c 'echo canary-A-out; echo canary-A-err >&2' 2>&1)
[ "$(sort <<<"$out" | tr '\n' ' ')" = "canary-A-err canary-A-out " ] && pass sudo_ran ||
	fail sudo_ran "$out"
A=$(sid canary-A-out)
[ -n "$A" ] && [ -f "$IO/$A/timing" ] && pass session_found || fail session_found "id '$A'"
check content_recorded "(.what.result == \"iolog-data\" and .who.session == \"$A\" and
	.what.action == \"stdout\" and .src.kind == \"sudo\" and .src.id == \"file:$IO\" and
	.on == \"$IO/$A/stdout\" and (.raw | @base64d) == \"canary-A-out\\n\")"
check stderr_recorded "(.what.result == \"iolog-data\" and .who.session == \"$A\" and
	.what.action == \"stderr\" and (.raw | @base64d) == \"canary-A-err\\n\")"
if ended "$A"; then pass session_ended; else fail session_ended "no iolog-end for $A"; fi
endev=$(events | jq -c --arg s "$A" 'select(.what.result == "iolog-end" and .who.session == $s)')
[ "$(jq -r .what.action <<<"$endev")" = complete ] && pass end_complete ||
	fail end_complete "$endev"
# every file sudo wrote is named, with its size and digest, and matched what was copied
ok=1
for f in "$IO/$A"/*; do
	n=$(basename "$f")
	line="$n $(stat -c %s "$f") $(sha256sum <"$f" | cut -d' ' -f1) $(stat -c %s "$f") $(sha256sum <"$f" | cut -d' ' -f1) match"
	jq -r .what.message <<<"$endev" | grep -qxF "$line" || ok=
done
[ -n "$ok" ] && pass end_names_every_file || fail end_names_every_file "$(jq -r .what.message <<<"$endev")"
if extract "$A" out1; then pass extract_ok; else fail extract_ok "$(cat out1.err)"; fi
same=1
for f in "$IO/$A"/*; do cmp -s "$f" "out1/$A/$(basename "$f")" || same=; done
[ -n "$same" ] && pass extract_same_bytes || fail extract_same_bytes "$(ls -l out1/"$A")"
rep=$(sudoreplay -d out1 "$A" 2>&1)
grep -q canary-A-out <<<"$rep" && pass sudoreplay_replays || fail sudoreplay_replays "$rep"

# --- (b) output over one chunk: split, within the entry budget, put back whole ------------
as_user /usr/bin/sh -c 'echo canary-G; seq 1 30000' >/dev/null 2>&1
G=$(sid canary-G)
ended "$G" || fail big_ended "$G"
n=$(chunks "$G" stdout | wc -l)
max=$(events | jq -r --arg s "$G" 'select(.who.session == $s and .what.result == "iolog-data") |
	(.raw | length)' | sort -n | tail -1)
[ "$n" -ge 10 ] && [ "${max:-0}" -le 16384 ] && pass big_split "$n chunks" ||
	fail big_split "$n chunks, largest raw $max"
[ "$(count '.trunc == true')" -eq 0 ] && pass nothing_cut || fail nothing_cut
extract "$G" outg && cmp -s "$IO/$G/stdout" "outg/$G/stdout" && pass big_put_back ||
	fail big_put_back "$(cat outg.err)"

# --- (c) the host's files removed and edited after the end: the log keeps the original ---
rm -f "$IO/$A/stdout" "$IO/$A/stderr"
printf 'forged' >"$IO/$A/ttyout"
sed -i 's/sh/xx/' "$IO/$A/log.json"
# a new log.json (sed -i: another inode) has a new ctime: the scan records the session
# again (§3.5.5), from byte 0 of what is left, and ends it again
for _ in $(seq 50); do
	[ "$(count ".who.session == \"$A\" and .what.result == \"iolog-end\"")" -ge 2 ] && break
	sleep 0.2
done
if extract "$A" out2; then pass extract_after_delete; else fail extract_after_delete "$(cat out2.err)"; fi
grep -q 'warning: .* after its end differ' out2.err && pass rerecording_noted ||
	fail rerecording_noted "$(cat out2.err)"
cmp -s "out1/$A/stdout" "out2/$A/stdout" && cmp -s "out1/$A/log.json" "out2/$A/log.json" &&
	pass original_kept || fail original_kept
rep=$(sudoreplay -d out2 "$A" 2>&1)
grep -q canary-A-out <<<"$rep" && pass replay_after_delete || fail replay_after_delete "$rep"

# --- (d) a file edited, and one truncated, during the session: recorded altered -----------
as_user /usr/bin/sh -c 'echo canary-B-start; sleep 4; echo canary-B-end' >/dev/null 2>&1 &
sudo_b=$!
pids+=($sudo_b)
B_ID=$(sid canary-B-start)
wait_for ".what.result == \"iolog-data\" and .who.session == \"$B_ID\" and .what.action == \"stdout\"" 10
printf 'XXXXXX' | dd of="$IO/$B_ID/stdout" conv=notrunc status=none # same size, other bytes
: >"$IO/$B_ID/stderr.x" # a new file in the session directory is copied too
wait "$sudo_b"
ended "$B_ID" || fail edited_ended "$B_ID"
check edit_recorded "(.what.result == \"iolog-altered\" and .who.session == \"$B_ID\" and
	.what.action == \"stdout\" and .on == \"$IO/$B_ID/stdout\")" 5
events | jq -r --arg s "$B_ID" 'select(.what.result == "iolog-end" and .who.session == $s) |
	.what.message' | grep -q '^stdout .* altered$' && pass end_says_altered ||
	fail end_says_altered
extract "$B_ID" outb
rc=$?
[ "$rc" -eq 1 ] && grep -q 'file stdout was altered' outb.err && pass extract_reports_altered ||
	fail extract_reports_altered "exit $rc: $(cat outb.err)"
grep -q '^canary-B-start$' "outb/$B_ID/stdout" && pass extract_has_original ||
	fail extract_has_original "$(head -c 100 "outb/$B_ID/stdout")"

as_user /usr/bin/sh -c 'echo canary-C-start; sleep 3; echo canary-C-end' >/dev/null 2>&1 &
sudo_c=$!
pids+=($sudo_c)
C_ID=$(sid canary-C-start)
wait_for ".what.result == \"iolog-data\" and .who.session == \"$C_ID\" and .what.action == \"stdout\"" 10
truncate -s 0 "$IO/$C_ID/stdout"
check shrink_recorded "(.what.result == \"iolog-altered\" and .who.session == \"$C_ID\" and
	.what.action == \"stdout\" and (.what.message | contains(\"shrank to 0 bytes\")))" 5
wait "$sudo_c"
ended "$C_ID" || fail shrunk_ended "$C_ID"
extract "$C_ID" outc
grep -q '^canary-C-start$' "outc/$C_ID/stdout" && pass shrink_keeps_copy ||
	fail shrink_keeps_copy "$(cat outc.err)"

# --- (e) a clean restart in the middle of a session: every byte exactly once -------------
long='for i in $(seq 30); do echo line$i; sleep 0.2; done'
as_user /usr/bin/sh -c "echo canary-D; $long" >/dev/null 2>&1 &
sudo_d=$!
pids+=($sudo_d)
D=$(sid canary-D)
wait_for ".what.result == \"iolog-data\" and .who.session == \"$D\" and .what.action == \"stdout\"" 10
if stop; then pass clean_stop; else fail clean_stop "$(tail -5 d1.log)"; fi
cp store/follow.state state.old # for (f): a state that lags the log
grep -q "^+ 0 [0-9]* [1-9][0-9]* [0-9a-f]\{64\} stdout $D\$" store/follow.state &&
	pass state_has_open_session || fail state_has_open_session "$(cat store/follow.state)"
sleep 1
start d2.log
wait "$sudo_d"
ended "$D" || fail restart_ended "$D"
# offsets contiguous from 0, none twice, up to the file's size
exact() { # exact ID FILE: every byte once
	chunks "$1" "$2" | awk -v size="$(stat -c %s "$IO/$1/$2")" '
		{ if ($1 != at) bad = 1; at = $1 + $2 } END { exit !(at == size && !bad) }'
}
exact "$D" stdout && pass restart_exactly_once ||
	fail restart_exactly_once "$(chunks "$D" stdout | tr '\n' ,)"
extract "$D" outd && [ "$(grep -c '^line' "outd/$D/stdout")" -eq 30 ] && pass restart_put_back ||
	fail restart_put_back "$(cat outd.err)"

# --- (f) SIGKILL in the middle of a session: every byte there, repeats visible ------------
as_user /usr/bin/sh -c "echo canary-E; $long" >/dev/null 2>&1 &
sudo_e=$!
pids+=($sudo_e)
E=$(sid canary-E)
wait_for ".what.result == \"iolog-data\" and .who.session == \"$E\" and .what.action == \"stdout\"" 10
sleep 1
kill -KILL "$D_PID"
wait "$D_PID" 2>/dev/null
# the worst a crash leaves: a state older than the log (written before the last syncs);
# here the one of the clean stop above, before this session existed
cp state.old store/follow.state
sleep 1
start d3.log
wait "$sudo_e"
ended "$E" || fail kill_ended "$E"
covered=$(chunks "$E" stdout | awk -v size="$(stat -c %s "$IO/$E/stdout")" '
	{ if ($1 > at) gap = 1; if ($1 + $2 > at) at = $1 + $2 } END { print (at == size && !gap) }')
[ "$covered" = 1 ] && pass kill_loses_nothing || fail kill_loses_nothing "$(chunks "$E" stdout | tr '\n' ,)"
reps=$(chunks "$E" stdout | awk '{ print $1 }' | sort | uniq -d | wc -l)
[ "$reps" -gt 0 ] && pass kill_repeats_visible "$reps offsets of $E/stdout twice" ||
	fail kill_repeats_visible "$(chunks "$E" stdout | tr '\n' ,)"
extract "$E" oute && [ "$(grep -c '^line' "oute/$E/stdout")" -eq 30 ] && pass kill_put_back ||
	fail kill_put_back "$(cat oute.err)"
# the session of (e), open in that old state, was copied on from its offsets and ended
# again: the repeats are the same bytes, the extraction unchanged
extract "$D" outd2 && cmp -s "outd/$D/stdout" "outd2/$D/stdout" && ! grep -q warning outd2.err &&
	pass kill_repeats_same_bytes || fail kill_repeats_same_bytes "$(cat outd2.err)"

# --- (g) sudo killed mid-session: no end, what it wrote is in the log --------------------
as_user /usr/bin/sh -c 'echo canary-F; exec sleep 60' >/dev/null 2>&1 &
sudo_f=$!
pids+=($sudo_f)
F=$(sid canary-F)
check killed_sudo_content "(.what.result == \"iolog-data\" and .who.session == \"$F\" and
	(.raw | @base64d) == \"canary-F\\n\")" 10
desc() { local p; for p in $(pgrep -P "$1"); do echo "$p"; desc "$p"; done; }
tree=$(desc "$sudo_f")
for p in $tree; do [ "$(ps -o comm= -p "$p")" = sudo ] && kill -KILL "$p"; done # sudo first
for p in $tree; do kill -KILL "$p" 2>/dev/null; done
wait "$sudo_f" 2>/dev/null
sleep 2
[ "$(count ".what.result == \"iolog-end\" and .who.session == \"$F\"")" -eq 0 ] &&
	pass killed_sudo_not_ended || fail killed_sudo_not_ended
extract "$F" outf
rc=$?
[ "$rc" -eq 1 ] && grep -q 'no iolog-end' outf.err && grep -q '^canary-F$' "outf/$F/stdout" &&
	pass killed_sudo_extract || fail killed_sudo_extract "exit $rc: $(cat outf.err)"

# --- (h) sudo's defaults (compress_io, no iolog_flush): gzip streams written at the end --
if useradd -M -N -s /bin/sh "$U2" 2>useradd.err; then
	user2_added=1
	printf 'Defaults:%s iolog_dir=%s, log_output, !use_pty\n%s ALL=(root) NOPASSWD: /usr/bin/sh\n' \
		"$U2" "$IO" "$U2" >>sudoers
	if visudo -cf sudoers >/dev/null && install -m 0440 sudoers "$DROPIN" && visudo -c >/dev/null; then
		(cd / && runuser -u "$U2" -- sudo -n /usr/bin/sh -c 'echo canary-Z') >/dev/null 2>&1
		Z=$(sid canary-Z)
		ended "$Z" || fail gzip_ended "$Z"
		extract "$Z" outz
		rc=$?
		magic=$(od -An -tx1 -N2 "outz/$Z/stdout" 2>/dev/null | tr -d ' ')
		rep=$(sudoreplay -d outz "$Z" 2>&1)
		[ "$rc" -eq 0 ] && [ "$magic" = 1f8b ] && grep -q canary-Z <<<"$rep" &&
			pass gzip_session_replays || fail gzip_session_replays "exit $rc, magic $magic: $rep"
	else
		fail "sudoers drop-in 2" "visudo refused it"
	fi
else
	fail "test user 2" "$(cat useradd.err)"
fi

# --- the end ----------------------------------------------------------------------------
if stop; then pass clean_stop_again; else fail clean_stop_again "$(tail -5 d3.log)"; fi
expect verify_store 0 '^VERIFIED' "$SL" verify --store store --vkey "$VK"
expect unknown_session 1 'no event of session' "$SL" iolog --store store --vkey "$VK" \
	--session 99/99/99 --out outx
bad_lines=$(cat d1.log d2.log d3.log | grep -vc '^streamlog: ')
[ "$bad_lines" -eq 0 ] && pass one_line_per_event || fail one_line_per_event "$bad_lines"

[ "$fails" -eq 0 ]
