#!/usr/bin/env bash
# Freshness service benchmark (bench/README.md): acknowledged appends and checked
# reads through a coordinator and three endorsers on loopback, against the store's
# own compare-and-swap puts in the same run.
#
#   bench/freshness/run.sh      (against build/release: make BUILD=release)
#
# Environment: BENCH_SECONDS (default 5), BENCH_CLIENTS (default 1,16,64),
# BENCH_DIR (default /var/tmp; not tmpfs: the store fsyncs), BENCH_KEEP=1,
# SHELTER_LIB (default build/release/lib/libshelter.a; libshelter-fresh.a next to it),
# SHELTER_BIN (default bin/shelter of the same build). Never fails on timings.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/install-deps.sh

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
fb=$(realpath "$out/freshbench")

parent=${BENCH_DIR:-/var/tmp}
if [ "$(stat -f -c %T "$parent")" = tmpfs ]; then
	echo "run.sh: $parent is tmpfs; set BENCH_DIR to a directory on a disk" >&2
	exit 2
fi
base=$(mktemp -d "$parent/shelter-freshbench.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$base"
}
trap cleanup EXIT INT TERM
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
eps=()
for i in 1 2 3; do
	"$shelter" freshness endorser --listen 127.0.0.1:0 --platform plat 2>"e$i.log" &
	pids+=($!)
	eps+=(--endorser "$(addr_of "e$i.log")")
done
genesis=$("$shelter" freshness init --store "sqlite:$base/store.db" "${eps[@]}")
"$shelter" freshness serve --listen 127.0.0.1:0 --store "sqlite:$base/store.db" 2>coord.log &
pids+=($!)
service=$(addr_of coord.log)
measurement=$(grep -m1 -oE 'measurement=[0-9a-f]{64}' e1.log | cut -d= -f2)

echo "== freshness bench: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), ${seconds}s per line"
printf '%-8s %8s %9s %10s %8s %8s %8s\n' mode clients ops ops/s p50_ms p99_ms max_ms
declare -A rate
for n in ${clients//,/ }; do
	for mode in store append read; do
		if [ "$mode" = store ]; then
			line=$("$fb" --mode store --store "sqlite:$base/raw.db" --clients "$n" --seconds "$seconds")
		else
			line=$("$fb" --mode "$mode" --service "$service" --genesis "$genesis" \
				--provider prov --endorser-measurement "$measurement" \
				--clients "$n" --seconds "$seconds")
		fi
		read -r m c ops r p50 p99 mx <<<"$line"
		rate[$mode.$n]=$r
		printf '%-8s %8s %9s %10s %8s %8s %8s\n' "$m" "$c" "$ops" "$r" "$p50" "$p99" "$mx"
	done
done
echo
for n in ${clients//,/ }; do
	python3 -c "import sys; a,s=float(sys.argv[1]),float(sys.argv[2]); print(f'clients {sys.argv[3]}: append/store-put = {a/s:.2f}x')" \
		"${rate[append.$n]}" "${rate[store.$n]}" "$n"
done
kill -TERM "${pids[-1]}" && wait "${pids[-1]}" 2>/dev/null || true
tail -n1 coord.log
