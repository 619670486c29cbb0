#!/usr/bin/env bash
# Debian's sqlite3 shell, unmodified, under the shield (issue 4 items 4 and 5):
# create, insert, read back by a new process, PRAGMA integrity_check, in the default
# rollback-journal mode and in WAL mode (alone, with locking_mode=EXCLUSIVE, and with
# two processes at once, where WAL needs the -shm file mapped MAP_SHARED between
# them); a volume tampered with or rolled back while no process runs is refused;
# processes killed by SIGKILL in the middle of their transaction lose no transaction
# that an earlier process acknowledged (exit 0); no canary reaches the host.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
SUITE=shield_sqlite
source "$(dirname "$0")/shield_lib.sh"
shield_setup sqlite3 strace
C=$(canary sqlite)
Q=/usr/bin/sqlite3

# sq VOL SQL...: one shielded sqlite3 process on /db/t.db of volume $w/VOL
sq() {
	local vol=$1
	shift
	"$S" run --volume "$w/$vol:/db" -- "$Q" /db/t.db "$@"
}
# rows N: SQL inserting rows 1..N of t, each a canary
rows() {
	echo "create table t(i integer primary key, v text);
with recursive n(i) as (select 1 union all select i + 1 from n where i < $1)
insert into t select i, '$C-' || i from n;"
}
# want_rows N: what "select i, v from t order by i" prints for rows 1..N
want_rows() { for ((i = 1; i <= $1; i++)); do echo "$i|$C-$i"; done; }

# --- create, insert, read back by another process, integrity -------------------------
expect create 0 'volume /db: created in' sq j "$(rows 1000)
create table big(v text); insert into big values('$C-big-' || printf('%.*c', 3000000, 'x'));"
same read_back "$(want_rows 1000)" "$(sq j 'select i, v from t order by i')"
same read_big "$C-big-3000000" "$(sq j "select substr(v, 1, length('$C-big-')) || (length(v) - length('$C-big-')) from big")"
same integrity ok "$(sq j 'pragma integrity_check')"
expect update_delete 0 '' sq j "update t set v = v || '-u' where i % 2 = 0; delete from t where i > 900; vacuum;"
same read_after_update "$(want_rows 900 | sed -E 's/^([0-9]*[02468])\|(.*)$/\1|\2-u/')" \
	"$(sq j 'select i, v from t order by i')"
same integrity_after_vacuum ok "$(sq j 'pragma integrity_check')"
same journal_mode_delete delete "$(sq j 'pragma journal_mode')"

# --- WAL ------------------------------------------------------------------------------
# one process at a time: the -shm mapping is only ever the one process's
same wal_create wal "$(sq wal "pragma journal_mode=wal; $(rows 500)" 2>>sq.err)"
same wal_read_back "$(want_rows 500)" "$(sq wal 'select i, v from t order by i')"
same wal_integrity ok "$(sq wal 'pragma integrity_check')"
same wal_persists wal "$(sq wal 'pragma journal_mode')"
# locking_mode=EXCLUSIVE before WAL: the WAL index lives in heap memory, no -shm
same walx_create "$(printf 'exclusive\nwal')" \
	"$(sq walx "pragma locking_mode=exclusive; pragma journal_mode=wal; $(rows 500)" 2>>sq.err)"
same walx_read_back "$(want_rows 500)" "$(sq walx 'pragma locking_mode=exclusive; select i, v from t order by i' | tail -n +2)"
same walx_integrity "$(printf 'exclusive\nok')" "$(sq walx 'pragma locking_mode=exclusive; pragma integrity_check')"

# Two processes at once: A keeps the database open (statements from a fifo) while B
# commits in its own process, then A reads and commits, then B again. Every commit B
# acknowledged (exit 0) must survive and A must see it, or one of them must fail
# with an error; never a lost commit. Natively A sees B's row 2, then its own row 3,
# then B's row 4.
# concurrent VOL PRAGMAS: sets a_out (A's lines), b1 and b2 (B's exit statuses) and
# final (the rows then, and the integrity check)
concurrent() {
	local vol=$1 pre=$2 apid
	rm -f fifo && mkfifo fifo
	start_bg_in fifo "$vol.A.log" "$S" run --volume "$w/$vol:/db" -- "$Q" /db/t.db
	apid=$bg_pid
	exec 3>fifo
	echo "$pre select 'A1', count(*) from t;" >&3
	sleep 0.3
	sq "$vol" "$pre insert into t values(2, 'b');" >/dev/null 2>&1
	b1=$?
	echo "select 'A2', count(*) from t; insert into t values(3, 'a'); select 'A3', count(*) from t;" >&3
	sleep 0.3
	sq "$vol" "$pre insert into t values(4, 'b');" >/dev/null 2>&1
	b2=$?
	echo "select 'A4', count(*) from t;" >&3
	exec 3>&-
	stop_bg "$apid" - 10
	a_out=$(grep -E '^A[0-9]|rror' "$vol.A.log" | tr '\n' ' ')
	final=$(sq "$vol" "$pre select group_concat(i) from t; pragma integrity_check;" 2>&1 |
		grep -vxE 'exclusive|wal' | tr '\n' ' ')
}
# lost_commits: commits acknowledged in concurrent that are not in $final
lost_commits() {
	local lost=
	[ "$b1" = 0 ] && ! grep -qE '(^|,)2(,| )' <<<"$final" && lost="$lost B's row 2"
	grep -q 'A3|' <<<"$a_out" && ! grep -qE '(^|,)3(,| )' <<<"$final" && lost="$lost A's row 3"
	[ "$b2" = 0 ] && ! grep -qE '(^|,)4(,| )' <<<"$final" && lost="$lost B's row 4"
	echo "$lost"
}
# what a native run gives: A1 may run before or after B's first commit, but A sends
# A2 only once B committed, and A4 once B committed again
native() { [[ "$a_out|$b1 $b2|$final" =~ ^A1\|[01]\ A2\|1\ A3\|2\ A4\|3\ \|0\ 0\|2,3,4\ ok\ $ ]]; }
sq c1 "$(rows 1) delete from t;" 2>>sq.err # an empty table t
concurrent c1 ''
native && pass journal_two_processes || fail journal_two_processes "$a_out|$b1 $b2|$final"
sq c2 "pragma journal_mode=wal; $(rows 1) delete from t;" >/dev/null 2>>sq.err
concurrent c2 ''
lost=$(lost_commits)
if native; then
	pass wal_two_processes
elif [ -z "$lost" ] && { grep -q rror <<<"$a_out" || [ "$b1 $b2" != "0 0" ]; }; then
	pass wal_two_processes_refused_clearly # an error, and no acknowledged commit lost
else
	fail wal_two_processes "stale reads or lost commits ($lost) without an error: A: $a_out B: $b1 $b2, rows then: $final"
fi
# locking_mode=EXCLUSIVE: A holds the database; B is told it is locked
sq c3 "pragma locking_mode=exclusive; pragma journal_mode=wal; $(rows 1) delete from t;" >/dev/null 2>>sq.err
concurrent c3 'pragma locking_mode=exclusive;'
if [ "$b1" -ne 0 ] && [ "$b2" -ne 0 ] && [ -z "$(lost_commits)" ] && [ "$final" = "3 ok " ]; then
	pass walx_two_processes_locked
else
	fail walx_two_processes_locked "B: $b1 $b2, A: $a_out, rows then: $final"
fi

# --- no plaintext: on disk, and in any write into a file strace records -----------------
trace_prepare sq.trace "$C"
"${traced[@]}" "$S" run --volume "$w/tr:/db" -- "$Q" /db/t.db \
	"$(rows 300) select v from t where i = 7;" 2>>sq.err | cat >tr.out
same traced_run "$C-7" "$(cat tr.out)"
check_trace no_plaintext_in_file_writes sq.trace "$w/tr"
no_plaintext no_plaintext_on_host "$C" j wal walx c1 c2 c3 tr state plat

# --- tampering while stopped ----------------------------------------------------------------
cp -a j j.old
expect moves_on 0 '' sq j "insert into t values(5000, 'later')"
mv j j.new && cp -a j.old j
expect rollback_refused 126 "refused: volume /db \($w/j\): rolled back.*stale" sq j 'select count(*) from t'
rm -rf j && mv j.new j
# flipped bits: refused at start, or EIO when read and a security event; never wrong rows
cp -a j j.good
for t in 1 2 3; do
	seg=$(biggest_segment j)
	off=$(flip_random "$seg")
	sq j 'select i, v from t order by i; pragma integrity_check;' >"t$t.log" 2>&1
	tamper_outcome "tamper_$t" $? "t$t.log" /db j "bit at $off of $(basename "$seg")"
	# rows printed before an error must be right ones
	wrong=$(grep -E '^[0-9]+\|' "t$t.log" | grep -vcE "^[0-9]+\|$C-[0-9]+(-u)?\$|^5000\|later\$")
	[ "$wrong" -eq 0 ] || fail "tamper_${t}_no_wrong_rows" "$wrong wrong rows"
	rm -rf j && cp -a j.good j
done
same intact_again 5000 "$(sq j 'select max(i) from t')"

# --- SIGKILL in the middle of a transaction ----------------------------------------------------
# One shielded sqlite3 process per single-insert transaction, acknowledged by its exit
# status 0; every 8th is killed with SIGKILL after a random 0-49 ms (the shield's
# start, the open, the journal, the commit or the exit). The next process finds the
# hot journal (or WAL) and recovers. Every acknowledged row must be there, exactly.
# kill_loop NAME VOL PRAGMAS
kill_loop() {
	local name=$1 vol=$2 pre=$3 i acked=() killed=0 got want
	sq "$vol" "$pre create table k(i integer primary key, v text);" >/dev/null 2>>sq.err
	for ((i = 1; i <= 96; i++)); do
		if ((i % 8)); then
			sq "$vol" "$pre insert into k values($i, '$C-k-$i');" >/dev/null 2>"$vol.err" && acked+=("$i")
		else
			start_bg "$vol.kill.log" "$S" run --volume "$w/$vol:/db" -- "$Q" /db/t.db \
				"$pre insert into k values($i, '$C-k-$i');"
			sleep "0.0$((RANDOM % 50 / 10))$((RANDOM % 10))"
			alive "$bg_pid" && killed=$((killed + 1))
			kill_group "$bg_pid"
		fi
	done
	want=$(for i in "${acked[@]}"; do echo "$i|$C-k-$i"; done)
	# rows of the killed transactions may or may not be there, but whole
	got=$(sq "$vol" "$pre select i, v from k where i % 8 != 0 order by i" | grep -vxE 'exclusive|wal')
	if [ ${#acked[@]} -lt 80 ]; then
		fail "${name}_acked" "only ${#acked[@]} of 84 inserts acknowledged: $(head -c 300 "$vol.err")"
	else
		same "${name}_every_acked_row" "$want" "$got"
	fi
	got=$(sq "$vol" "$pre select count(*) from k where i % 8 = 0 and v != '$C-k-' || i; pragma integrity_check;" |
		grep -vxE 'exclusive|wal' | tr '\n' ' ')
	same "${name}_integrity" "0 ok " "$got"
	echo "# $name: ${#acked[@]} acknowledged, $killed of 12 killed while running"
}
kill_loop kill_journal kj ''
kill_loop kill_wal kv 'pragma journal_mode=wal;' # one process at a time: a -shm left by a crash
kill_loop kill_walx kw 'pragma locking_mode=exclusive; pragma journal_mode=wal;'
no_plaintext kill_no_plaintext_on_host "$C" kj kv kw
[ "$fails" -eq 0 ]
