#!/usr/bin/env bash
# Debian's redis-server, unmodified, under the shield (issue 4 items 4 and 5): RDB
# snapshots by SAVE and BGSAVE (a forked child writes the snapshot), AOF with
# appendfsync always and its rewrite, each read back by a restart; a volume tampered
# with or rolled back while redis is stopped is refused; SIGKILL in the middle of
# acknowledged writes loses none of them; no canary value reaches the host, neither
# on disk nor in any write into a file that strace records.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
SUITE=shield_redis
source "$(dirname "$0")/shield_lib.sh"
RS=/usr/bin/redis-server
shield_setup "$RS" redis-cli strace python3
C=$(canary redis)
rextra=() # more redis-server options for redis_start

# settled: redis answers PING (it loaded its data), or it has exited
settled() { ! alive "$rpid" || [ "$(redis-cli -p "$rport" PING 2>/dev/null)" = PONG ]; }
# redis_start LOG VOL MODE [TRACE]: redis on volume $w/VOL mounted at /data, MODE rdb
# (snapshots only) or aof (appendfsync always); sets rpid (with TRACE: strace's pid);
# succeeds once redis has loaded its data and answers
redis_start() {
	local log=$1 vol=$2 mode=$3 trace=${4:-} pre=()
	local args=(--port "$(free_port)" --bind 127.0.0.1 --dir /data --save "" --logfile "" "${rextra[@]}")
	if [ "$mode" = aof ]; then
		args+=(--appendonly yes --appendfsync always)
	else
		args+=(--appendonly no)
	fi
	rport=${args[1]}
	[ -n "$trace" ] && trace_prepare "$trace" "$C" && pre=("${traced[@]}")
	start_bg "$log" "${pre[@]}" "$S" run --volume "$w/$vol:/data" -- "$RS" "${args[@]}"
	rpid=$bg_pid
	wait_port "$rport" "$rpid" && wait_until 60 settled && alive "$rpid"
}
cli() { redis-cli -p "$rport" "$@"; }
# set_keys PREFIX FROM TO: SET PREFIX:i to $C-PREFIX-i; all must be acknowledged
set_keys() {
	local n
	n=$(for ((i = $2; i <= $3; i++)); do echo "SET $1:$i $C-$1-$i"; done | cli | grep -c '^OK$')
	[ "$n" -eq $(($3 - $2 + 1)) ]
}
# check_keys NAME PREFIX FROM TO: every key holds its value
check_keys() {
	local name=$1 p=$2 keys=() want=() i got
	for ((i = $3; i <= $4; i++)); do
		keys+=("$p:$i")
		want+=("$C-$p-$i")
	done
	got=$(cli MGET "${keys[@]}")
	if [ "$got" = "$(printf '%s\n' "${want[@]}")" ]; then
		pass "$name"
	else
		fail "$name" "$(diff <(printf '%s\n' "${want[@]}") <(echo "$got") | head -5)"
	fi
}
info_has() { # info_has SECTION LINE...: INFO SECTION holds every LINE
	local info l
	info=$(cli INFO "$1" | tr -d '\r')
	shift
	for l in "$@"; do
		grep -qx -- "$l" <<<"$info" || return 1
	done
}
bgsave_done() { info_has persistence rdb_bgsave_in_progress:0 rdb_last_bgsave_status:ok; }
rewrite_done() { info_has persistence aof_rewrite_in_progress:0 aof_last_bgrewrite_status:ok; }
rewrite_over() { info_has persistence aof_rewrite_in_progress:0; }

# --- RDB: SAVE, then BGSAVE, each read back by a restart -----------------------------
if redis_start r1.log rdb rdb && set_keys a 1 200 && [ "$(cli SAVE)" = OK ]; then
	pass rdb_save
else
	fail rdb_save "$(tail -5 r1.log)"
fi
grep -q 'volume /data: created in' r1.log && pass rdb_volume_created || fail rdb_volume_created "$(head -3 r1.log)"
cli SHUTDOWN NOSAVE >/dev/null 2>&1
stopped rdb_shutdown "$rpid" -
redis_start r2.log rdb rdb && pass rdb_restart || fail rdb_restart "$(tail -5 r2.log)"
check_keys rdb_save_read_back a 1 200
if set_keys b 1 200 && [ "$(cli BGSAVE)" = "Background saving started" ] &&
	wait_until 30 bgsave_done && info_has persistence rdb_changes_since_last_save:0; then
	pass rdb_bgsave
else
	fail rdb_bgsave "$(cli INFO persistence | grep -E 'bgsave|changes')"
fi
grep -q 'Background saving terminated with success' r2.log && pass rdb_bgsave_child_ok ||
	fail rdb_bgsave_child_ok "$(tail -5 r2.log)"
cli SHUTDOWN NOSAVE >/dev/null 2>&1
stopped rdb_shutdown_after_bgsave "$rpid" -
redis_start r3.log rdb rdb && pass rdb_restart_after_bgsave || fail rdb_restart_after_bgsave "$(tail -5 r3.log)"
[ "$(cli DBSIZE)" = 400 ] && pass rdb_dbsize || fail rdb_dbsize "$(cli DBSIZE)"
check_keys rdb_bgsave_read_back_a a 1 200
check_keys rdb_bgsave_read_back_b b 1 200
stopped rdb_sigterm "$rpid" TERM

# --- AOF with appendfsync always, BGSAVE and BGREWRITEAOF while the parent appends;
# the whole run under strace -f, which follows the forked children -----------------
redis_start a1.log aof aof "$w/aof.trace" && pass aof_start_traced || fail aof_start_traced "$(tail -5 a1.log)"
set_keys c 1 200 && pass aof_set || fail aof_set
# the child snapshots while the parent keeps appending to the AOF
if [ "$(cli BGSAVE)" = "Background saving started" ] && set_keys d 1 200 && wait_until 30 bgsave_done; then
	pass aof_bgsave_while_appending
else
	fail aof_bgsave_while_appending "$(tail -5 a1.log)"
fi
if [[ $(cli BGREWRITEAOF) == *'rewriting started'* ]] && set_keys e 1 200 && wait_until 30 rewrite_done; then
	pass aof_rewrite_while_appending
else
	fail aof_rewrite_while_appending "$(tail -5 a1.log)"
fi
set_keys f 1 100 && [ "$(cli GET f:7)" = "$C-f-7" ] && pass aof_get || fail aof_get
kill -TERM "$(trace_pid "$rpid")"
stopped aof_sigterm "$rpid" -
check_trace aof_no_plaintext_in_file_writes aof.trace "$w/aof"
# strace followed the forked children: more than one process wrote into the volume
n=$(grep -F "<$w/aof/" aof.trace.files | awk '{print $1}' | sort -u | wc -l)
[ "$n" -ge 2 ] && pass trace_follows_children || fail trace_follows_children "$n writer processes"
redis_start a2.log aof aof && pass aof_restart || fail aof_restart "$(tail -5 a2.log)"
[ "$(cli DBSIZE)" = 700 ] && pass aof_dbsize || fail aof_dbsize "$(cli DBSIZE)"
for p in c d e; do check_keys "aof_read_back_$p" $p 1 200; done
check_keys aof_read_back_f f 1 100
stopped aof_sigterm_again "$rpid" TERM
no_plaintext no_plaintext_on_host "$C" rdb aof state plat

# --- tampering while stopped -------------------------------------------------------------
# rollback: an older copy of the volume put back after redis moved on
cp -a rdb rdb.old
redis_start r4.log rdb rdb && set_keys g 1 10 && [ "$(cli SAVE)" = OK ] && pass rdb_moves_on || fail rdb_moves_on
stopped rdb_moves_on_stop "$rpid" TERM
mv rdb rdb.new && cp -a rdb.old rdb
expect rollback_refused 126 "refused: volume /data \($w/rdb\): rolled back.*stale" \
	timeout -s KILL 30 "$S" run --volume "$w/rdb:/data" -- "$RS" --port "$(free_port)" --dir /data --save ""
rm -rf rdb && mv rdb.new rdb

# flipped bits: refused at start (shelter-shield refuses the volume), or found when read
# (EIO to redis and a security event); never wrong data served. Three random bits.
cp -a aof aof.good
for t in 1 2 3; do
	seg=$(biggest_segment aof)
	off=$(flip_random "$seg")
	kind=segment
	is_checkpoint "$seg" && kind=checkpoint
	redis_start "t$t.log" aof aof
	if ! alive "$rpid"; then
		stop_bg "$rpid" -
		tamper_outcome "tamper_$t" $? "t$t.log" /data aof "bit at $off of $kind $(basename "$seg")"
	else # redis runs on a tampered volume: it must have logged the finding and serve no wrong value
		wrong=$(for p in c d e; do
			for ((i = 1; i <= 200; i++)); do echo "GET $p:$i"; done
		done | cli | grep -v "^$C-" | grep -vc '^$')
		if grep -q 'security:' "t$t.log" && [ "$wrong" -eq 0 ]; then
			pass "tamper_${t}_found_when_read"
		else
			fail "tamper_${t}_refused" "bit at $off of $kind $(basename "$seg") undetected; $wrong wrong values: $(tail -3 "t$t.log")"
		fi
		stop_bg "$rpid" KILL
	fi
	rm -rf aof && cp -a aof.good aof
done
# A bit flipped in a checkpoint chunk is found only when the chunk is read: the open
# authenticates every record of the normal segments, but a checkpoint's chunks only
# when read (docs/formats/volume.md §7). Five SAVEs of 24 MiB leave most of the log
# dead, and the next open compacts it into a checkpoint (at least 64 MiB of log,
# COMPACT_MIN_BYTES); redis reads the whole snapshot at start.
rextra=(--rdbcompression no --rdbchecksum no)
redis_start b1.log big rdb
for ((i = 1; i <= 24; i++)); do
	python3 -c 'import sys
p, n = sys.argv[1], int(sys.argv[2])
for i in range(n * 1024, (n + 1) * 1024):
    v = ("%s-big-%d-" % (p, i)).ljust(1024, "x")
    sys.stdout.write("*3\r\n$3\r\nSET\r\n$%d\r\nbig:%d\r\n$%d\r\n%s\r\n" % (len("big:%d" % i), i, len(v), v))' "$C" "$i"
done | cli --pipe >pipe.log 2>&1
[ "$(cli DBSIZE)" = 24576 ] && pass big_set || fail big_set "$(cli DBSIZE) keys; $(tail -2 pipe.log)"
# Snapshots and rewrites over 4 MiB call sync_file_range every 4 MiB by default
# (rdb-save-incremental-fsync, aof-rewrite-incremental-fsync)
[ "$(cli SAVE)" = OK ] && pass rdb_save_over_4mib || fail rdb_save_over_4mib "$(grep -m1 -i error b1.log)"
n=0
for i in 1 2 3 4 5; do [ "$(cli SAVE)" = OK ] && n=$((n + 1)); done
[ $n = 5 ] && pass big_saved || fail big_saved "$n of 5 SAVEs: $(tail -1 b1.log)"
stopped big_stop "$rpid" TERM
redis_start b2.log big rdb
stopped big_reopen "$rpid" TERM
seg=$(ls big/log/*.seg | head -1)
if is_checkpoint "$seg"; then
	pass big_compacted_to_checkpoint
	# the intact volume is kept aside and used again below. It holds only the
	# snapshot here, so whichever chunk the bit lands in, redis reads it at start.
	cp -a big big.good
	off=$(flip_random "$seg")
	redis_start b3.log big rdb
	if ! alive "$rpid"; then
		stop_bg "$rpid" -
		tamper_outcome checkpoint_tamper $? b3.log /data big "bit at $off of the checkpoint"
	else
		fail checkpoint_tamper_found "bit at $off: redis serves: $(tail -3 b3.log)"
		stop_bg "$rpid" KILL
	fi
else
	fail big_compacted_to_checkpoint "$(ls -l big/log)"
fi
[ -d big.good ] && rm -rf big && mv big.good big
# A rewrite of the append-only file over 4 MiB (sync_file_range every 4 MiB too)
redis_start b4.log big rdb
if [ "$(cli CONFIG SET appendonly yes)" = OK ] && wait_until 30 rewrite_over && rewrite_done &&
	info_has persistence aof_rewrite_scheduled:0 &&
	info_has persistence aof_enabled:1; then
	pass aof_rewrite_over_4mib
else
	fail aof_rewrite_over_4mib "$(grep -i error b4.log | grep -v rdbSaveRio | head -2)"
fi
stopped big_aof_stop "$rpid" TERM
rextra=()

redis_start t4.log aof aof && [ "$(cli DBSIZE)" = 700 ] && pass intact_volume_opens || fail intact_volume_opens "$(tail -3 t4.log)"
stopped intact_volume_stop "$rpid" TERM

# --- SIGKILL in the middle of acknowledged writes ------------------------------------
# A client SETs w:1, w:2, ... one at a time and records each +OK; with appendfsync
# always an acknowledged SET is on disk. The second round kills during BGREWRITEAOF.
cat >writer.py <<'EOF'
import socket, sys
port, value, acked = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "w")
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
i = 0
while True:
    i += 1
    v = "%s-w-%d" % (value, i)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\nw:%d\r\n$%d\r\n%s\r\n" % (len("w:%d" % i), i, len(v), v.encode()))
    if f.readline() != b"+OK\r\n":
        sys.exit(0)
    acked.write("%d\n" % i)
    acked.flush()
EOF
for round in 1 2; do
	redis_start "k$round.log" kill aof || fail "kill_${round}_start" "$(tail -3 "k$round.log")"
	start_bg "writer$round.log" python3 writer.py "$rport" "$C" "acked$round"
	wpid=$bg_pid
	wait_until 20 test -s "acked$round"
	sleep "0.$((RANDOM % 5 + 3))"
	[ $round -eq 2 ] && cli BGREWRITEAOF >/dev/null && sleep "0.0$((RANDOM % 10))"
	kill_group "$rpid"
	stop_bg "$wpid" - 10
	n=$(wc -l <"acked$round")
	redis_start "k${round}r.log" kill aof
	if [ "$n" -lt 10 ]; then
		fail "kill_${round}_acked_writes" "only $n writes acknowledged before the kill: $(tail -3 "writer$round.log")"
	elif [ "$(cli INFO persistence | tr -d '\r' | grep -c '^loading:0$')" -ne 1 ]; then
		fail "kill_${round}_restart" "$(tail -5 "k${round}r.log")"
	else
		check_keys "kill_${round}_every_acked_write" w 1 "$n"
	fi
	stopped "kill_${round}_clean_stop" "$rpid" TERM
done
no_plaintext late_no_plaintext_on_host "$C" kill big state
[ "$fails" -eq 0 ]
