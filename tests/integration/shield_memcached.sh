#!/usr/bin/env bash
# Debian's memcached, unmodified, under the shield (issue 4 items 4 and 5): set and
# get; its restartable cache (-e FILE: the item memory is a MAP_SHARED mapping of
# FILE, kept on a protected volume) survives a graceful stop and a restart; a volume
# tampered with or rolled back while memcached is stopped is refused; after SIGKILL
# it restarts cleanly; no canary reaches the host, on disk or in a traced write.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
SUITE=shield_memcached
source "$(dirname "$0")/shield_lib.sh"
MC=/usr/bin/memcached
shield_setup "$MC" memcstat python3 strace
C=$(canary memcached)

cat >mc.py <<'EOF'
# mc.py PORT set PREFIX VALUE N: set PREFIX:i to VALUE-i, print how many were STORED
# mc.py PORT get PREFIX N: print the value of PREFIX:1..N, MISS for each one absent
# mc.py PORT fill PREFIX VALUE ACKED: set PREFIX:1, 2... until the connection drops,
#   appending each stored i to the file ACKED
import socket, sys
port, cmd, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def put(i, value):
    v = b"%s-%d" % (value.encode(), i)
    s.sendall(b"set %s:%d 0 0 %d\r\n%s\r\n" % (prefix, i, len(v), v))
    return f.readline() == b"STORED\r\n"
if cmd == "set":
    print(sum(put(i, sys.argv[4]) for i in range(1, int(sys.argv[5]) + 1)))
elif cmd == "get":
    for i in range(1, int(sys.argv[4]) + 1):
        s.sendall(b"get %s:%d\r\n" % (prefix, i))
        line = f.readline()
        if line.startswith(b"VALUE"):
            print(f.readline().decode().rstrip("\r\n"))
            f.readline()
        else:
            print("MISS")
elif cmd == "fill":
    acked, i = open(sys.argv[5], "w"), 0
    while True:
        i += 1
        try:
            if not put(i, sys.argv[4]):
                break
        except OSError:
            break
        acked.write("%d\n" % i)
        acked.flush()
EOF

# mc_start LOG VOL [TRACE]: memcached; with VOL its item memory is the file
# /data/mc.mem on volume $w/VOL; sets mpid (with TRACE: strace's pid) and mport
mc_start() {
	local log=$1 vol=$2 trace=${3:-} pre=() vols=() args
	mport=$(free_port)
	args=(-u root -l 127.0.0.1 -p "$mport" -U 0 -m 40) # -e needs 39 MB at least
	if [ -n "$vol" ]; then
		vols=(--volume "$w/$vol:/data")
		args+=(-e /data/mc.mem)
	fi
	[ -n "$trace" ] && trace_prepare "$trace" "$C" && pre=("${traced[@]}")
	start_bg "$log" "${pre[@]}" "$S" run "${vols[@]}" -- "$MC" "${args[@]}"
	mpid=$bg_pid
	wait_port "$mport" "$mpid"
}
mc() { python3 mc.py "$mport" "$@"; }
want() { for ((i = 1; i <= $2; i++)); do echo "$C-$1-$i"; done; }
# next_second: memcached refuses a warm restart in the same second as the stop
# (memcached.c: "stop_time" must lie in the past, time_delta <= 0 is refused)
next_second() { sleep 1.1; }

# --- no volume: memcached has no files of its own ----------------------------------------
mc_start nv.log '' && pass start_no_volume || fail start_no_volume "$(tail -3 nv.log)"
same set_no_volume 100 "$(mc set a "$C-a" 100)"
same get_no_volume "$(want a 100)" "$(mc get a 100)"
st=$(memcstat --servers="127.0.0.1:$mport" 2>&1)
grep -qE 'curr_items: *100$' <<<"$st" && pass memcstat || fail memcstat "$(head -c 300 <<<"$st")"
stopped stop_no_volume "$mpid" TERM

# --- the restartable cache on a volume, under strace -f -------------------------------------
mc_start m1.log mc "$w/mc.trace" && pass start_memory_file || fail start_memory_file "$(tail -3 m1.log)"
grep -q 'volume /data: created in' m1.log && pass volume_created || fail volume_created "$(head -3 m1.log)"
same set_memory_file 200 "$(mc set b "$C-b" 200)"
same get_memory_file "$(want b 200)" "$(mc get b 200)"
kill -USR1 "$(trace_pid "$mpid")" # the graceful stop, which writes FILE.meta for the restart
stopped graceful_stop "$mpid" -
grep -q 'Gracefully stopping' m1.log && pass graceful_stop_logged || fail graceful_stop_logged "$(tail -3 m1.log)"
check_trace no_plaintext_in_file_writes mc.trace "$w/mc"
next_second
mc_start m2.log mc && pass warm_restart || fail warm_restart "$(tail -3 m2.log)"
if grep -qE 'clean cache|failed|refused' m2.log; then
	fail warm_restart_used_memory_file "$(grep -E 'restart|failed|refused' m2.log | head -c 300)"
else
	pass warm_restart_used_memory_file
fi
same warm_restart_keeps_keys "$(want b 200)" "$(mc get b 200)"
same set_after_restart 50 "$(mc set c "$C-c" 50)"
stopped graceful_stop_again "$mpid" USR1
next_second
mc_start m3.log mc && pass second_warm_restart || fail second_warm_restart "$(tail -3 m3.log)"
same second_warm_restart_keeps_keys "$(want b 200; want c 50)" "$(mc get b 200; mc get c 50)"
stopped graceful_stop_third "$mpid" USR1
no_plaintext no_plaintext_on_host "$C" mc state plat

# --- tampering while stopped ------------------------------------------------------------------
cp -a mc mc.old
next_second
mc_start m4.log mc && same moves_on 10 "$(mc set d "$C-d" 10)"
stopped moves_on_stop "$mpid" USR1
mv mc mc.new && cp -a mc.old mc
mc_start r.log mc
stop_bg "$mpid" KILL 0
rc=$?
[ $rc -eq 126 ] && refused_volume r.log /data mc 'rolled back.*stale' && pass rollback_refused ||
	fail rollback_refused "exit $rc: $(tail -3 r.log)"
rm -rf mc && mv mc.new mc
# flipped bits: refused at start, or found when read (the mapping is filled from the
# file) with a security event; never a wrong value served
cp -a mc mc.good
for t in 1 2 3; do
	seg=$(biggest_segment mc)
	off=$(flip_random "$seg")
	next_second
	if ! mc_start "t$t.log" mc; then
		stop_bg "$mpid" KILL 0
		tamper_outcome "tamper_$t" $? "t$t.log" /data mc "bit at $off of $(basename "$seg")"
	else
		wrong=$({ mc get b 200; mc get c 50; mc get d 10; } | grep -v "^$C-" | grep -vc '^MISS$')
		if grep -q 'security:' "t$t.log" && [ "$wrong" -eq 0 ]; then
			pass "tamper_${t}_found_when_read"
		else
			fail "tamper_${t}_refused" "bit at $off of $(basename "$seg") undetected, $wrong wrong values: $(tail -3 "t$t.log")"
		fi
		stop_bg "$mpid" KILL
	fi
	rm -rf mc && cp -a mc.good mc
done
next_second
mc_start m5.log mc && same intact_again "$(want d 10)" "$(mc get d 10)" || fail intact_again "$(tail -3 m5.log)"

# --- SIGKILL while a client stores ------------------------------------------------------------
# memcached keeps its items in memory: natively, SIGKILL loses the whole cache even
# with -e, since the restart metadata (FILE.meta) is written only by a graceful stop
# (and the shield writes a MAP_SHARED mapping back only at msync, munmap and exit).
# So the test is only that it restarts cleanly on its volume and serves no wrong value.
start_bg fill.log python3 mc.py "$mport" fill k "$C-k" acked
fpid=$bg_pid
wait_until 20 test -s acked
sleep "0.$((RANDOM % 5 + 3))"
kill_group "$mpid"
stop_bg "$fpid" - 10
n=$(wc -l <acked)
[ "$n" -gt 0 ] && pass kill_while_storing || fail kill_while_storing "nothing stored: $(tail -3 fill.log)"
next_second
mc_start k.log mc && pass restart_after_kill || fail restart_after_kill "$(tail -3 k.log)"
wrong=$({ mc get k "$n"; mc get d 10; } | grep -v "^$C-" | grep -vc '^MISS$')
[ "$wrong" -eq 0 ] && pass no_wrong_value_after_kill || fail no_wrong_value_after_kill "$wrong wrong values"
same set_after_kill 20 "$(mc set e "$C-e" 20)"
same get_after_kill "$(want e 20)" "$(mc get e 20)"
stopped stop_after_kill "$mpid" USR1
no_plaintext kill_no_plaintext_on_host "$C" mc state
[ "$fails" -eq 0 ]
