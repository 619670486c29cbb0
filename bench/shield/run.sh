#!/usr/bin/env bash
# Shield benchmark: unmodified Debian programs natively and under `shelter run`, side
# by side in one run: redis (redis-benchmark), memcached (memaslap), nginx (wrk) and
# the file I/O of fio (natively, shielded, and on gocryptfs). See bench/README.md.
#
#   bench/shield/run.sh        (against an existing build/release: make BUILD=release all)
#
# Environment:
#   BENCH_SECONDS   timed seconds of each load-generator measurement (default 5)
#   BENCH_REPEAT    rounds of every measurement in this run (default 3); the order of
#                   the systems rotates each round; the summary shows medians
#   BENCH_SIZE_MB   fio's sequential file in MiB (default 1024); the random file is
#                   SIZE/4, at most 256 MiB
#   BENCH_RAND_OPS  fio's random 4 KiB reads and writes per measurement (default 20000)
#   BENCH_ONLY      comma-separated subset of redis,memcached,nginx,fio (default all)
#   BENCH_QUICK=1   smoke test: 1 round, 2 s, 64 MiB, 2000 random ops
#   BENCH_DIR       parent of the scratch directory (default /var/tmp; never tmpfs)
#   BENCH_KEEP=1    keep the scratch directory (default: removed, also on error)
#   SHELTER_BIN     the shelter binary (default build/release/bin/shelter); the shield
#                   is the libshelter-shield.so of its build, as `shelter run` finds it
#
# Needs root (drop_caches, FUSE). Prints numbers; never fails on them (only on errors).
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD
source bench/lib.sh

scripts/install-deps.sh --bench

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	: "${BENCH_SECONDS:=2}" "${BENCH_REPEAT:=1}" "${BENCH_SIZE_MB:=64}" "${BENCH_RAND_OPS:=2000}"
fi
for v in BENCH_SECONDS BENCH_REPEAT BENCH_SIZE_MB BENCH_RAND_OPS; do
	case ${!v-1} in '' | *[!0-9]* | 0*) echo "run.sh: $v must be a positive integer" >&2; exit 2 ;; esac
done
seconds=${BENCH_SECONDS:-5}
repeat=${BENCH_REPEAT:-3}
size_mb=${BENCH_SIZE_MB:-1024}
rand_ops=${BENCH_RAND_OPS:-20000}
rand_mb=$((size_mb / 4 < 256 ? size_mb / 4 : 256))
[ "$rand_mb" -ge 4 ] || rand_mb=4
only=${BENCH_ONLY:-redis,memcached,nginx,fio}
want() { [[ ",$only," == *",$1,"* ]]; }
[ "$repeat" -le 16 ] || { echo "run.sh: BENCH_REPEAT must be 1..16" >&2; exit 2; }

shelter=${SHELTER_BIN:-build/release/bin/shelter}
if [ ! -x "$shelter" ] || [ ! -f "$(dirname "$shelter")/../lib/libshelter-shield.so" ]; then
	echo "run.sh: $shelter or the shield next to it not found: make BUILD=release all" \
		"(or set SHELTER_BIN)" >&2
	exit 1
fi
shelter=$(realpath "$shelter")
shield_lib=$(realpath "$(dirname "$shelter")/../lib/libshelter-shield.so")
unset SHELTER_SHIELD_LIB SHELTER_CAS_URL SHELTER_CAS_CERT SHELTER_SESSION LD_PRELOAD LD_LIBRARY_PATH

redis_server=/usr/bin/redis-server
memcached=/usr/bin/memcached
nginx=/usr/sbin/nginx
fio=/usr/bin/fio
for p in "$redis_server" redis-benchmark "$memcached" memcaslap "$nginx" wrk "$fio" gocryptfs curl python3; do
	command -v "$p" >/dev/null || { echo "run.sh: $p is not installed (scripts/install-deps.sh --bench)" >&2; exit 1; }
done

is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1
[ "$is_root" = 1 ] || echo "run.sh: warning: not root: the page cache cannot be dropped and FUSE may fail" >&2

bench_disk_parent
if want fio; then
	# three sequential files, three random ones, and the volume's log growth (it only
	# grows between compactions: every round writes the sequential file again)
	bench_need_space $((((2 + 2 * repeat) * size_mb + 4 * rand_mb + repeat * rand_ops * 5 / 1024 + 512) * 1024))
fi

base=$(mktemp -d "$parent/shelter-shieldbench.XXXXXX")
results=$base/results.tsv
: >"$results"
mnt=$base/gocryptfs.mnt
mounted=0
bg_pids=() # process groups (setsid leaders) to kill at exit
cur_pid=   # a load generator or fio running in the background

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	cd "$root"
	bench_stop_pid "$cur_pid"
	for p in "${bg_pids[@]}"; do
		kill -KILL -- "-$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	bench_unmount "$mnt" "$mounted"
	bench_drop_scratch
	exit "$rc"
}
bench_traps cleanup

die() {
	echo "run.sh: $*" >&2
	exit 1
}

# ---- helpers --------------------------------------------------------------------------
plat=$base/platform
state=$base/state
# shielded HOSTDIR MOUNT: sets sh, the command prefix that runs a program under the
# shield with that one volume, on this run's own platform and state
shielded() {
	sh=("$shelter" run --platform "$plat" --state "$state" --volume "$1:$2" --)
}


alive() {
	local st
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}
port_open() { (: >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_server NAME PORT LOG CMD...: CMD in the background as the leader of its own
# process group (nginx's workers, redis's children go with it); waits for PORT; sets
# srv_pid and prints the start-up time (launch to port open) into the results
start_server() {
	local name=$1 port=$2 log=$3 t0 n=600
	shift 3
	t0=$(date +%s%N)
	setsid "$@" >"$log" 2>&1 &
	srv_pid=$!
	bg_pids+=("$srv_pid")
	while ! port_open "$port"; do
		alive "$srv_pid" || { cat "$log" >&2; die "$name did not start: $*"; }
		n=$((n - 1))
		[ "$n" -gt 0 ] || die "$name did not open port $port within 60 s"
		sleep 0.05
	done
	printf 'info\t%s\tstartup_ms\t%d\n' "$name" $((($(date +%s%N) - t0) / 1000000)) >>"$results"
}

# stop_server PID [SIGNAL]: stop it and whatever is left of its process group
stop_server() {
	local pid=$1 sig=${2:-TERM} n=300 p keep=()
	kill -"$sig" "$pid" 2>/dev/null || true
	while [ "$n" -gt 0 ] && alive "$pid"; do
		sleep 0.1
		n=$((n - 1))
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for p in "${bg_pids[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	bg_pids=("${keep[@]}")
}

# cpu_ticks PID: utime+stime of PID and of its child processes (nginx's workers)
cpu_ticks() {
	local total=0 p f
	for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		read -r -a f < <(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		[ "${#f[@]}" -gt 12 ] && total=$((total + f[11] + f[12]))
	done
	echo "$total"
}
hz=$(getconf CLK_TCK)

# in_bg CMD...: run CMD in the background and wait for it, so that a signal to this
# script runs cleanup at once
in_bg() {
	"$@" &
	cur_pid=$!
	wait "$cur_pid"
	local rc=$?
	cur_pid=
	return $rc
}

# result ROUND CASE SYSTEM VALUE UNIT P50_MS P99_MS CPU_US_PER_OP
result() {
	printf 'res\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"
	printf '  round %s  %-28s %-9s %12.1f %-6s p50 %6s ms  p99 %6s ms  cpu %s us/op\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8"
}

# order ROUND SYSTEM...: the systems rotated by ROUND
order() {
	local r=$1
	shift
	local a=("$@") n=$# i
	for ((i = 0; i < n; i++)); do echo "${a[(i + r) % n]}"; done
}

drop_caches() {
	[ "$is_root" = 1 ] || return 0
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# ---- the world -------------------------------------------------------------------------
echo "== Shelter shield benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
echo "scratch: $base ($(findmnt -n -o FSTYPE,SOURCE -T "$base" | head -1))"
echo "shelter: $shelter; shield $shield_lib"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc); kernel $(uname -r)"
echo "load generators and servers share these $(nproc) CPUs: the client's cost is in every figure"
echo "versions: $(redis-server --version | cut -d' ' -f3); memcached $(memcached -V | cut -d' ' -f2);" \
	"$(nginx -v 2>&1 | cut -d' ' -f3); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); $(fio --version);" \
	"$(gocryptfs -version | head -1 | cut -d';' -f1)"
echo "rounds: $repeat (system order rotated each round), $seconds s per measurement;" \
	"fio: ${size_mb} MiB sequential, ${rand_mb} MiB random file, $rand_ops random ops"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine adds noise)"
echo

# The local sim platform, created by the first `shelter run` (docs/shield.md §1.4).
"$shelter" run --platform "$plat" --state "$state" -- /bin/true 2>"$base/platform.log" ||
	{ cat "$base/platform.log" >&2; die "shelter run cannot create its platform"; }

# ---- redis ---------------------------------------------------------------------------------
declare -A redis_n
bench_redis() {
	local r=$1 mode port_n port_s pid_n pid_s persist sys p t port pid n c0 c1 line rps p50 p99
	for mode in off always; do
		case $mode in
		off) persist=(--save '' --appendonly no) ;;
		always) persist=(--save '' --appendonly yes --appendfsync always) ;;
		esac
		read -r port_n port_s < <(free_ports 2)
		mkdir -p "$base/redis-$mode-r$r-native"
		local common=(--bind 127.0.0.1 --daemonize no --logfile '' "${persist[@]}")
		start_server "redis-native" "$port_n" "$base/redis-$mode-r$r-native.log" \
			"$redis_server" --port "$port_n" --dir "$base/redis-$mode-r$r-native" "${common[@]}"
		pid_n=$srv_pid
		shielded "$base/redis-$mode-r$r-shielded" /data
		start_server "redis-shielded" "$port_s" "$base/redis-$mode-r$r-shielded.log" \
			"${sh[@]}" "$redis_server" \
			--port "$port_s" --dir /data "${common[@]}"
		pid_s=$srv_pid
		for p in 1 16; do
			# warm up both; the first round's native warm-up sizes the runs
			for sys in native shielded; do
				port=$port_n && [ "$sys" = shielded ] && port=$port_s
				line=$(redis-benchmark -p "$port" -c 50 -P "$p" -n $((p == 1 ? 10000 : 100000)) \
					-t set,get --csv | tr -d '"' | grep -E '^(SET|GET),')
				if [ "$sys" = native ] && [ -z "${redis_n[$mode-$p-SET]:-}" ]; then
					for t in SET GET; do
						rps=$(grep "^$t," <<<"$line" | cut -d, -f2)
						n=$(awk -v r="$rps" -v s="$seconds" 'BEGIN { n = int(r * s); print n < 10000 ? 10000 : n }')
						redis_n[$mode-$p-$t]=$n
					done
				fi
			done
			for t in SET GET; do
				n=${redis_n[$mode-$p-$t]}
				for sys in $(order "$r" native shielded); do
					port=$port_n pid=$pid_n
					[ "$sys" = shielded ] && port=$port_s pid=$pid_s
					c0=$(cpu_ticks "$pid")
					line=$(in_bg redis-benchmark -p "$port" -c 50 -P "$p" -n "$n" -t "${t,,}" --csv |
						tr -d '"' | grep "^$t,") || die "redis-benchmark $t against $sys failed"
					c1=$(cpu_ticks "$pid")
					IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"$line"
					result "$r" "redis:$mode:P$p:$t" "$sys" "$rps" req/s "$p50" "$p99" \
						"$(awk -v c=$((c1 - c0)) -v n="$n" -v hz="$hz" 'BEGIN { printf "%.2f", c / hz * 1e6 / n }')"
				done
			done
		done
		stop_server "$pid_n"
		stop_server "$pid_s"
	done
}

# ---- memcached ----------------------------------------------------------------------------
# memaslap (memcaslap in Debian): 2 threads, 50 concurrent connections, its default
# mix of 90% get / 10% set over its default key and value sizes, for BENCH_SECONDS.
bench_memcached() {
	local r=$1 port_n port_s pid_n pid_s sys port pid c0 c1 out ops tps
	read -r port_n port_s < <(free_ports 2)
	local common=(-u "$(id -un)" -l 127.0.0.1 -t 2 -m 1024 -c 1024)
	start_server memcached-native "$port_n" "$base/memcached-r$r-native.log" "$memcached" -p "$port_n" "${common[@]}"
	pid_n=$srv_pid
	shielded "$base/memcached-r$r-shielded" /data
	start_server memcached-shielded "$port_s" "$base/memcached-r$r-shielded.log" \
		"${sh[@]}" "$memcached" -p "$port_s" "${common[@]}"
	pid_s=$srv_pid
	for port in $port_n $port_s; do
		memcaslap -s "127.0.0.1:$port" -T 2 -c 50 -t 1s >/dev/null 2>&1 || die "memcaslap warm-up failed"
	done
	for sys in $(order "$r" native shielded); do
		port=$port_n pid=$pid_n
		[ "$sys" = shielded ] && port=$port_s pid=$pid_s
		c0=$(cpu_ticks "$pid")
		out=$(in_bg memcaslap -s "127.0.0.1:$port" -T 2 -c 50 -t "${seconds}s" 2>&1) ||
			die "memcaslap against $sys failed: $out"
		c1=$(cpu_ticks "$pid")
		read -r ops tps < <(sed -n 's/^Run time: .* Ops: \([0-9]*\) TPS: \([0-9]*\).*/\1 \2/p' <<<"$out" | tail -1)
		[ -n "$tps" ] || die "memcaslap printed no TPS: $out"
		result "$r" "memcached:get90/set10" "$sys" "$tps" ops/s - - \
			"$(awk -v c=$((c1 - c0)) -v n="$ops" -v hz="$hz" 'BEGIN { printf "%.2f", c / hz * 1e6 / n }')"
	done
	stop_server "$pid_n"
	stop_server "$pid_s"
}

# ---- nginx --------------------------------------------------------------------------------
# nginx_conf ROOT PORT [put]: the configuration; "put" adds WebDAV PUT (populating)
nginx_conf() {
	cat <<EOF
user $(id -un);
worker_processes 2;
daemon off;
error_log stderr warn;
pid nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $1/.upload;
    client_max_body_size 64m;
    server {
        listen 127.0.0.1:$2;
        root $1;
        location / { ${3:+dav_methods PUT;} }
    }
}
EOF
}

nginx_setup() {
	local port pid f
	mkdir -p "$base/www-native" "$base/nginx-native" "$base/nginx-shielded" "$base/nginx-put"
	head -c 4096 /dev/urandom >"$base/www-native/4k.bin"
	head -c 1048576 /dev/urandom >"$base/www-native/1m.bin"
	# The shielded nginx's files must be in its volume, whose key is sealed to nginx's
	# measurement (program, libraries, shield, volume list; not its arguments or
	# configuration): nginx itself puts them there, started once with WebDAV PUT.
	read -r port < <(free_ports 1)
	nginx_conf /www "$port" put >"$base/nginx-put/nginx.conf"
	shielded "$base/www-shielded" /www
	start_server nginx-populate "$port" "$base/nginx-put.log" \
		"${sh[@]}" "$nginx" -p "$base/nginx-put" -c nginx.conf
	pid=$srv_pid
	for f in 4k.bin 1m.bin; do
		curl -sSf -T "$base/www-native/$f" "http://127.0.0.1:$port/$f" -o /dev/null ||
			die "could not PUT $f into the shielded nginx"
	done
	stop_server "$pid" QUIT
}

bench_nginx() {
	local r=$1 port_n port_s pid_n pid_s f sys port pid c0 c1 out rps reqs p50 p99
	read -r port_n port_s < <(free_ports 2)
	nginx_conf "$base/www-native" "$port_n" >"$base/nginx-native/nginx.conf"
	nginx_conf /www "$port_s" >"$base/nginx-shielded/nginx.conf"
	start_server nginx-native "$port_n" "$base/nginx-r$r-native.log" \
		"$nginx" -p "$base/nginx-native" -c nginx.conf
	pid_n=$srv_pid
	shielded "$base/www-shielded" /www
	start_server nginx-shielded "$port_s" "$base/nginx-r$r-shielded.log" \
		"${sh[@]}" "$nginx" -p "$base/nginx-shielded" -c nginx.conf
	pid_s=$srv_pid
	for f in 4k 1m; do
		for port in $port_n $port_s; do
			curl -sSf "http://127.0.0.1:$port/$f.bin" | cmp -s - "$base/www-native/$f.bin" ||
				die "nginx on port $port does not serve $f.bin as it was written"
			wrk -t 2 -c 50 -d 1s "http://127.0.0.1:$port/$f.bin" >/dev/null
		done
		for sys in $(order "$r" native shielded); do
			port=$port_n pid=$pid_n
			[ "$sys" = shielded ] && port=$port_s pid=$pid_s
			c0=$(cpu_ticks "$pid")
			out=$(in_bg wrk -t 2 -c 50 -d "${seconds}s" --latency "http://127.0.0.1:$port/$f.bin") ||
				die "wrk against $sys failed: $out"
			c1=$(cpu_ticks "$pid")
			if grep -q 'Non-2xx' <<<"$out"; then die "nginx $sys answered errors: $out"; fi
			rps=$(sed -n 's/^Requests\/sec: *//p' <<<"$out")
			reqs=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' <<<"$out")
			p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
			p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
			result "$r" "nginx:$f" "$sys" "$rps" req/s "$(ms "$p50")" "$(ms "$p99")" \
				"$(awk -v c=$((c1 - c0)) -v n="$reqs" -v hz="$hz" 'BEGIN { printf "%.2f", c / hz * 1e6 / n }')"
		done
	done
	stop_server "$pid_n" QUIT
	stop_server "$pid_s" QUIT
}

# ms 1.23ms|456.00us|1.02s: milliseconds
ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) printf "%.3f", v / 1000; else if (v ~ /ms$/) printf "%.3f", v + 0;
		else if (v ~ /s$/) printf "%.3f", v * 1000; else print "-" }'
}

# ---- fio ----------------------------------------------------------------------------------
# Every fio run has two jobs: "gate" writes a 4 KiB marker file outside every volume,
# "timed" (stonewall, startdelay 2 s) is the measurement. The page cache is dropped
# when the marker appears, i.e. after the shield has opened its volume (an open
# replays and authenticates the log, reading it into the page cache) and before the
# timed job starts, so "cold" means cold for every system.
fio_delay=2
fio_cmd() { # fio_cmd SYSTEM: the command prefix and directory of a system
	case $1 in
	native) fio_dir=$base/fio-native fio_prefix=() ;;
	gocryptfs) fio_dir=$mnt fio_prefix=() ;;
	shielded)
		fio_dir=/data
		shielded "$base/fio-shielded" /data
		fio_prefix=("${sh[@]}")
		;;
	esac
}

# run_fio ROUND NAME SYSTEM JOB-OPTIONS...: one measurement; records the result
run_fio() {
	local r=$1 name=$2 sys=$3 gate=$base/fio-gate t0 t1 t2 out rc g0=0 g1=0
	shift 3
	fio_cmd "$sys"
	rm -f "$gate"
	[ "$sys" = gocryptfs ] && g0=$(cpu_ticks "$gocryptfs_pid")
	t0=$(date +%s%N)
	"${fio_prefix[@]}" "$fio" --output-format=json --ioengine=psync \
		--name=gate --filename="$gate" --rw=write --size=4k --bs=4k \
		--name=timed --stonewall --startdelay=$fio_delay --directory="$fio_dir" "$@" \
		>"$base/fio.json" 2>"$base/fio.err" &
	cur_pid=$!
	while [ ! -s "$gate" ]; do
		alive "$cur_pid" || break
		sleep 0.02
	done
	t1=$(date +%s%N)
	drop_caches
	t2=$(date +%s%N)
	rc=0
	wait "$cur_pid" || rc=$?
	cur_pid=
	[ "$rc" -eq 0 ] || { cat "$base/fio.err" >&2; die "fio $name on $sys failed (exit $rc)"; }
	if [ $((t2 - t1)) -gt $((fio_delay * 750000000)) ]; then
		echo "run.sh: warning: dropping the page cache took $(((t2 - t1) / 1000000)) ms: it may" \
			"have overlapped the timed job" >&2
	fi
	[ "$sys" = gocryptfs ] && g1=$(cpu_ticks "$gocryptfs_pid")
	printf 'info\tfio-%s\tstartup_ms\t%d\n' "$sys" $(((t1 - t0) / 1000000)) >>"$results"
	# MiB/s, ops/s, p50/p99 completion latency, CPU (fio's usr+sys, plus the gocryptfs
	# daemon's) per op
	out=$(python3 - "$base/fio.json" $((g1 - g0)) "$hz" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
j = [j for j in d["jobs"] if j["jobname"] == "timed"][0]
dd = j["write"] if j["write"]["io_bytes"] > 0 else j["read"]
ios = dd["total_ios"] or 1
cpu = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * j["job_runtime"] / 1000.0 + int(sys.argv[2]) / int(sys.argv[3])
pct = dd["clat_ns"].get("percentile", {})
p = lambda k: "%.3f" % (pct[k] / 1e6) if k in pct else "-"
print("%.1f %.0f %s %s %.2f" % (dd["bw_bytes"] / 2**20, dd["iops"], p("50.000000"), p("99.000000"), cpu * 1e6 / ios))
EOF
)
	local mibs iops p50 p99 cpu
	read -r mibs iops p50 p99 cpu <<<"$out"
	result "$r" "fio:$name" "$sys" "$mibs" MiB/s "$p50" "$p99" "$cpu"
	printf 'res\t%s\t%s\t%s\t%s\t%s\t-\t-\t-\n' "$r" "fio:$name:iops" "$sys" "$iops" ops/s >>"$results"
}

gocryptfs_pid=
fio_setup() {
	local sys
	mkdir -p "$base/fio-native" "$mnt" "$base/gocryptfs.cipher"
	gocryptfs -init -q -extpass 'echo pw' "$base/gocryptfs.cipher" >/dev/null
	# gocryptfs forks into the background once the mount is ready
	gocryptfs -q -nosyslog -extpass 'echo pw' "$base/gocryptfs.cipher" "$mnt"
	mounted=1
	mountpoint -q "$mnt" || die "gocryptfs did not mount $mnt"
	gocryptfs_pid=$(pgrep -nf "gocryptfs .*$base/gocryptfs.cipher" || true)
	[ -n "$gocryptfs_pid" ] || die "cannot find the gocryptfs daemon"
	# the random file, written once, untimed
	for sys in native shielded gocryptfs; do
		fio_cmd "$sys"
		"${fio_prefix[@]}" "$fio" --name=layout --ioengine=psync --directory="$fio_dir" \
			--filename=rnd --rw=write --bs=1M --size="${rand_mb}M" --end_fsync=1 \
			>/dev/null 2>"$base/fio.err" || { cat "$base/fio.err" >&2; die "fio layout on $sys failed"; }
	done
}

bench_fio() {
	local r=$1 sys systems=(native shielded gocryptfs)
	for sys in $(order "$r" "${systems[@]}"); do
		run_fio "$r" seqwrite "$sys" --filename=seq --rw=write --bs=1M --size="${size_mb}M" --end_fsync=1
	done
	for sys in $(order "$r" "${systems[@]}"); do
		run_fio "$r" seqread "$sys" --filename=seq --rw=read --bs=1M --size="${size_mb}M" --unlink=1
	done
	for sys in $(order "$r" "${systems[@]}"); do
		run_fio "$r" randread "$sys" --filename=rnd --rw=randread --bs=4k --size="${rand_mb}M" \
			--number_ios="$rand_ops" --randrepeat=1
	done
	for sys in $(order "$r" "${systems[@]}"); do
		run_fio "$r" randwrite "$sys" --filename=rnd --rw=randwrite --bs=4k --size="${rand_mb}M" \
			--number_ios="$rand_ops" --randrepeat=1 --end_fsync=1
	done
}

# ---- the rounds ---------------------------------------------------------------------------
want nginx && nginx_setup
want fio && fio_setup
start=$(date +%s)
for ((r = 0; r < repeat; r++)); do
	echo "== round $((r + 1)) of $repeat"
	want redis && bench_redis "$r"
	want memcached && bench_memcached "$r"
	want nginx && bench_nginx "$r"
	want fio && bench_fio "$r"
done

echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); measurements took $(($(date +%s) - start)) s"
[ "$is_root" = 1 ] || echo "WARNING: not root: the page cache was not dropped; fio reads are warm"
python3 bench/shield/summary.py "$results" "$(nproc)"
