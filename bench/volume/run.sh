#!/usr/bin/env bash
# Protected-volume benchmark: plain files vs the Shelter volume library vs gocryptfs,
# in one run on one disk. See bench/README.md.
#
#   bench/volume/run.sh            (or `make bench`, which builds build/release first)
#
# Environment:
#   BENCH_SIZE_MB   sequential file size in MiB (default 1024); smaller values also
#                   shrink the random file (to SIZE/4, at most 256 MiB), the number of
#                   random ops and appends, for quick runs
#   BENCH_RAND_OPS, BENCH_APPENDS   override those two counts
#   BENCH_REPEAT    rounds of all workloads in this run (default 1); the summary
#                   shows the median round of each workload and system
#   BENCH_DIR       parent of the scratch directory (default /var/tmp; never tmpfs)
#   BENCH_KEEP=1    keep the scratch directory (default: removed, also on error)
#   SHELTER_LIB     the static library to link (default build/release/lib/libshelter.a)
#
# Needs root (drop_caches, FUSE). Prints timings; never fails on them.
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD
source bench/lib.sh

scripts/install-deps.sh --bench

lib=${SHELTER_LIB:-build/release/lib/libshelter.a}
if [ ! -f "$lib" ]; then
	echo "run.sh: $lib not found: run 'make BUILD=release' (or 'make bench') first" >&2
	exit 1
fi
# The program goes next to the library it links, i.e. inside that build variant.
out=$(dirname "$(dirname "$lib")")/bench
mkdir -p "$out"
cc -O2 -std=c17 -D_GNU_SOURCE -Wall -Wextra -Iinclude bench/volume/volbench.c "$lib" \
	-lcrypto -lpthread -o "$out/volbench"

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: warning: not root: the page cache cannot be dropped and FUSE may fail" >&2
fi

for v in BENCH_SIZE_MB BENCH_RAND_OPS BENCH_APPENDS BENCH_REPEAT; do
	case ${!v-1} in '' | *[!0-9]* | 0*) echo "run.sh: $v must be a positive integer" >&2; exit 2 ;; esac
done
size_mb=${BENCH_SIZE_MB:-1024}
repeat=${BENCH_REPEAT:-1}
rand_mb=$((size_mb / 4 < 256 ? size_mb / 4 : 256))
[ "$rand_mb" -ge 4 ] || rand_mb=4
scale_ops=$((20000 * size_mb / 1024))
scale_app=$((2000 * size_mb / 1024))
rand_ops=${BENCH_RAND_OPS:-$((scale_ops < 20000 ? (scale_ops > 500 ? scale_ops : 500) : 20000))}
appends=${BENCH_APPENDS:-$((scale_app < 2000 ? (scale_app > 200 ? scale_app : 200) : 2000))}

bench_disk_parent

# Room for three sequential files, three random files and the volume's log growth.
# The volume's log only grows: every round rewrites the sequential file into it.
bench_need_space $((((2 + repeat) * size_mb + 4 * rand_mb + repeat * rand_ops * 5 / 1024 + 256) * 1024 * 11 / 10))

base=$(mktemp -d "$parent/shelter-bench.XXXXXX")
mnt=$base/gocryptfs.mnt
cipher=$base/gocryptfs.cipher
mounted=0
bench_pid=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	cd "$root"
	bench_stop_pid "$bench_pid"
	bench_unmount "$mnt" "$mounted"
	bench_drop_scratch
	exit "$rc"
}
bench_traps cleanup

mkdir -p "$base/plain" "$mnt" "$cipher"
gocryptfs -init -q -extpass 'echo pw' "$cipher" >/dev/null
# gocryptfs forks into the background once the mount is ready.
gocryptfs -q -nosyslog -extpass 'echo pw' "$cipher" "$mnt"
mounted=1
mountpoint -q "$mnt" || { echo "run.sh: gocryptfs did not mount $mnt" >&2; exit 1; }

echo "== Shelter volume benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
echo "scratch: $base"
echo "filesystem: $(findmnt -n -o FSTYPE,SOURCE,OPTIONS -T "$base" | head -1)"
dev=$(findmnt -n -o SOURCE -T "$base" | head -1)
diskstat=()
if [ -b "$dev" ]; then
	echo "device: $(lsblk -dn -o NAME,TYPE,SIZE,ROTA,MODEL "$dev" 2>/dev/null | head -1) (ROTA=1: rotational)"
	stat_file=/sys/class/block/$(basename "$(readlink -f "$dev")")/stat
	[ -r "$stat_file" ] && diskstat=(--diskstat "$stat_file")
fi
echo "all three systems store their bytes in $base on that filesystem:"
echo "  plain      $base/plain (POSIX calls)"
echo "  volume     $base/volume (shelter_file_*, $(basename "$lib") from $(dirname "$lib"))"
echo "  gocryptfs  $cipher mounted at $mnt ($(gocryptfs -version | head -1 | cut -d';' -f1), default options but -nosyslog), POSIX calls"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc); kernel $(uname -r)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine adds noise)"
echo

# In the background, so that a signal to this script runs cleanup at once.
"$out/volbench" --size-mb "$size_mb" --rand-mb "$rand_mb" --rand-ops "$rand_ops" \
	--appends "$appends" --repeat "$repeat" "${diskstat[@]}" \
	--plain "$base/plain" --volume "$base/volume" --gocryptfs "$mnt" &
bench_pid=$!
wait "$bench_pid"
bench_pid=

echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "space used on disk at the end:"
for d in plain volume gocryptfs.cipher; do
	printf '  %-17s %s\n' "$d" "$(du -sh "$base/$d" | cut -f1)"
done
