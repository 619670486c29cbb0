#!/usr/bin/env bash
# Freshness service benchmark (bench/README.md): acknowledged appends and checked
# reads through a coordinator and three endorsers on loopback, on each store (SQLite
# and a three-member etcd cluster), against that store's own compare-and-swap puts
# and a TPM 2.0 NV counter increment (swtpm through libtss2) in the same run, and
# the floor under all of it: bare loopback request/answer exchanges (rpcfloor.c).
#
#   bench/freshness/run.sh      (against build/release: make BUILD=release)
#
# Environment: BENCH_SECONDS (default 5), BENCH_CLIENTS (default 1,16,64),
# BENCH_DIR (default /var/tmp; not tmpfs: the store fsyncs), BENCH_KEEP=1,
# SHELTER_LIB (default build/release/lib/libshelter.a; libshelter-fresh.a next to it),
# SHELTER_BIN (default bin/shelter of the same build), BENCH_SOAK=N (default 0: none):
# then N appends on one handle through the SQLite service, latency per twentieth of
# the run (the issue's soak is 10^7: hours). BENCH_BOUND_WRITES (default 1000; 0:
# none): that many 4 KiB writes, each followed by fsync, under `shelter run` (the
# shield of the same build) on a plain directory, an unbound protected volume and a
# volume bound to the SQLite service (docs/shield.md §6.6). Never fails on timings.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
scripts/install-deps.sh --bench

lib=${SHELTER_LIB:-build/release/lib/libshelter.a}
variant=$(dirname "$(dirname "$lib")")
shelter=$(realpath "${SHELTER_BIN:-$variant/bin/shelter}")
seconds=${BENCH_SECONDS:-5}
clients=${BENCH_CLIENTS:-1,16,64}
out=$variant/bench
mkdir -p "$out"
cc -O2 -g -std=c17 -D_GNU_SOURCE -Wall -Wextra -Isrc/lib -Isrc -Iinclude \
	bench/freshness/freshbench.c "$variant/lib/libshelter-fresh.a" "$lib" \
	-lssl -lcrypto -lcbor -ljansson -lsqlite3 -lpthread -o "$out/freshbench"
cc -O2 -g -std=c17 -D_GNU_SOURCE -Wall -Wextra bench/freshness/tpmcount.c \
	-ltss2-esys -ltss2-tctildr -ltss2-rc -o "$out/tpmcount"
cc -O2 -g -std=c17 -D_GNU_SOURCE -Wall -Wextra bench/freshness/rpcfloor.c -lpthread \
	-o "$out/rpcfloor"
fb=$(realpath "$out/freshbench")
tpmcount=$(realpath "$out/tpmcount")
rpcfloor=$(realpath "$out/rpcfloor")
sy=$(realpath -m "$variant/tests/shield_syncer")
shield=$(realpath -m "$variant/lib/libshelter-shield.so")

bench_disk_parent
base=$(mktemp -d "$parent/shelter-freshbench.XXXXXX")
pids=()
trap bench_cleanup_pids EXIT INT TERM
cd "$base"
"$shelter" provider init prov --name bench >/dev/null
"$shelter" platform init --dir plat --name bench-1 >/dev/null
"$shelter" provider enroll prov plat/platform.csr --out p.crt >/dev/null 2>&1
"$shelter" platform install-cert --dir plat p.crt >/dev/null

addr_of() { # addr_of LOG PID
	for _ in $(seq 100); do
		a=$(grep -m1 -oE '127\.0\.0\.1:[0-9]+' "$1" || true)
		[ -n "$a" ] && { echo "$a"; return; }
		sleep 0.1
	done
	echo "run.sh: no address in $1" >&2
	exit 1
}
# a three-member etcd cluster on this disk: the peer store (Debian's etcd-server);
# every member fsyncs its own write-ahead log on the same disk
read -r -a ports <<<"$(free_ports 6)"
cluster=
etcd_url=
for m in 1 2 3; do
	cluster+="${cluster:+,}b$m=http://127.0.0.1:${ports[m + 2]}"
	etcd_url+="${etcd_url:+,}http://127.0.0.1:${ports[m - 1]}"
done
for m in 1 2 3; do
	etcd --name "b$m" --data-dir "$base/etcd$m" \
		--listen-client-urls "http://127.0.0.1:${ports[m - 1]}" \
		--advertise-client-urls "http://127.0.0.1:${ports[m - 1]}" \
		--listen-peer-urls "http://127.0.0.1:${ports[m + 2]}" \
		--initial-advertise-peer-urls "http://127.0.0.1:${ports[m + 2]}" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--max-request-bytes 10485760 >"etcd$m.log" 2>&1 &
	pids+=($!)
done
for _ in $(seq 300); do
	curl -sf "http://127.0.0.1:${ports[0]}/health" 2>/dev/null | grep -q '"health":"true"' && break
	sleep 0.1
done
members=$(ETCDCTL_API=3 etcdctl --endpoints "$etcd_url" endpoint health 2>&1 | grep -c 'is healthy' || true)
[ "$members" = 3 ] || { echo "run.sh: etcd cluster: $members of 3 members healthy" >&2; exit 1; }

# a software TPM (Debian's swtpm) for the NV counter peer: its control port is its
# server port + 1, so both must be free (a port in TIME_WAIT is not)
start_swtpm() {
	local p
	mkdir -p "$base/tpm"
	for _ in $(seq 10); do
		p=$(python3 -c '
import socket
for _ in range(100):
    a, b = socket.socket(), socket.socket()
    a.bind(("127.0.0.1", 0))
    try:
        b.bind(("127.0.0.1", a.getsockname()[1] + 1))
    except OSError:
        continue
    print(a.getsockname()[1]); break')
		swtpm socket --tpm2 --tpmstate "dir=$base/tpm" \
			--server "type=tcp,port=$p,bindaddr=127.0.0.1" \
			--ctrl "type=tcp,port=$((p + 1)),bindaddr=127.0.0.1" \
			--flags not-need-init,startup-clear >swtpm.log 2>&1 &
		pids+=($!)
		for _ in $(seq 50); do
			if ss -ltn | grep -q "127.0.0.1:$p "; then
				tpm_port=$p
				return 0
			fi
			kill -0 "${pids[-1]}" 2>/dev/null || break
			sleep 0.1
		done
	done
	echo "run.sh: swtpm did not start: $(tail -1 swtpm.log)" >&2
	return 1
}
start_swtpm

# one service per store: three endorsers each (an endorser serves one view)
declare -A service genesis
for st in sqlite etcd; do
	eps=()
	for i in 1 2 3; do
		"$shelter" freshness endorser --listen 127.0.0.1:0 --platform plat 2>"e$st$i.log" &
		pids+=($!)
		eps+=(--endorser "$(addr_of "e$st$i.log")")
	done
	spec=sqlite:$base/store.db
	[ "$st" = etcd ] && spec=etcd:$etcd_url
	genesis[$st]=$("$shelter" freshness init --store "$spec" "${eps[@]}")
	"$shelter" freshness serve --listen 127.0.0.1:0 --store "$spec" 2>"coord-$st.log" &
	pids+=($!)
	service[$st]=$(addr_of "coord-$st.log")
done
measurement=$(grep -m1 -oE 'measurement=[0-9a-f]{64}' esqlite1.log | cut -d= -f2)

echo "== freshness bench: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), ${seconds}s per line"
printf '%-7s %-8s %8s %9s %10s %8s %8s %8s\n' store mode clients ops ops/s p50_ms p99_ms max_ms
declare -A rate p50s
for n in ${clients//,/ }; do
	for st in sqlite etcd; do
		for mode in store append read; do
			if [ "$mode" = store ]; then
				spec=sqlite:$base/raw.db
				[ "$st" = etcd ] && spec=etcd:$etcd_url
				line=$("$fb" --mode store --store "$spec" --clients "$n" --seconds "$seconds")
			else
				line=$("$fb" --mode "$mode" --service "${service[$st]}" \
					--genesis "${genesis[$st]}" --provider prov \
					--endorser-measurement "$measurement" --clients "$n" --seconds "$seconds")
			fi
			read -r m c ops r p50 p99 mx <<<"$line"
			rate[$st.$mode.$n]=$r
			p50s[$st.$mode.$n]=$p50
			printf '%-7s %-8s %8s %9s %10s %8s %8s %8s\n' "$st" "$m" "$c" "$ops" "$r" "$p50" \
				"$p99" "$mx"
		done
	done
done
line=$("$tpmcount" --tcti "swtpm:host=127.0.0.1,port=$tpm_port" --seconds "$seconds")
read -r m c ops r p50 p99 mx <<<"$line"
printf '%-7s %-8s %8s %9s %10s %8s %8s %8s\n' swtpm "$m" "$c" "$ops" "$r" "$p50" "$p99" "$mx"
tpm_rate=$r
tpm_p50=$p50
# the floor: a bare request/answer of an append's sizes, to a server doing nothing
for n in ${clients//,/ }; do
	line=$("$rpcfloor" --clients "$n" --seconds "$seconds")
	read -r m c ops r p50 p99 mx <<<"$line"
	rate[rpc.$n]=$r
	printf '%-7s %-8s %8s %9s %10s %8s %8s %8s\n' loop "$m" "$c" "$ops" "$r" "$p50" "$p99" "$mx"
done
echo
ratio() { python3 -c 'import sys; print(f"{float(sys.argv[1]) / float(sys.argv[2]):.2f}x")' "$1" "$2"; }
for n in ${clients//,/ }; do
	for st in sqlite etcd; do
		printf '%-6s clients %3s: append / store put = %s' "$st" "$n" \
			"$(ratio "${rate[$st.append.$n]}" "${rate[$st.store.$n]}")"
		printf ', append / TPM NV increment = %s' "$(ratio "${rate[$st.append.$n]}" "$tpm_rate")"
		printf ', append / RPC floor = %s\n' "$(ratio "${rate[$st.append.$n]}" "${rate[rpc.$n]}")"
	done
done
[ -n "${p50s[sqlite.append.1]:-}" ] &&
	echo "one client, median latency: append (SQLite) / TPM NV increment = $(ratio "${p50s[sqlite.append.1]}" "$tpm_p50")"
bound=${BENCH_BOUND_WRITES:-1000}
if [ "$bound" -gt 0 ] && [ -x "$sy" ] && [ -f "$shield" ]; then
	echo
	echo "== fsync: $bound writes of 4 KiB, each followed by fsync (shield_syncer bench)"
	run_sy() { # run_sy LABEL [shelter run options]: the mean per write+fsync
		local label=$1 line
		shift
		if [ "$label" = plain ]; then
			mkdir -p plain
			line=$("$sy" bench plain "$bound" 4096)
		else
			line=$("$shelter" run --platform plat --state "st-${label%%,*}" "$@" -- \
				"$sy" bench /data "$bound" 4096)
		fi
		awk -v l="$label" '/^fsync_us/ { printf "%-32s %8.3f ms per write+fsync\n", l, $3 / $2 / 1000 }' <<<"$line"
	}
	run_sy plain
	run_sy "volume, unbound" --volume v-unbound:/data
	run_sy "volume, bound (SQLite service)" --volume v-bound:/data \
		--freshness "${service[sqlite]}" --freshness-genesis "${genesis[sqlite]}" \
		--freshness-provider prov --freshness-endorser-measurement "$measurement" \
		--freshness-accept-sim
fi

if [ "${BENCH_SOAK:-0}" -gt 0 ]; then
	echo
	echo "== soak: ${BENCH_SOAK} appends on one handle (SQLite): window-end height, ops/s, p50/p99/max ms"
	"$fb" --mode soak --count "$BENCH_SOAK" --service "${service[sqlite]}" \
		--genesis "${genesis[sqlite]}" --provider prov --endorser-measurement "$measurement"
	du -sh "$base/store.db"* 2>/dev/null | sed 's/^/store: /'
fi
for st in sqlite etcd; do
	kill -TERM "$(pgrep -f "serve --listen 127.0.0.1:0 --store .*$st" | head -1)" 2>/dev/null || true
done
sleep 0.5
tail -qn1 coord-sqlite.log coord-etcd.log
