# Shared by the bench/*/run.sh scripts (bench/README.md): the scratch directory on a
# disk, its removal at exit, stopping what runs in the background, free ports.
# Sourced after `cd` to the repository root; every message starts "run.sh: " as the
# scripts' own do.

# bench_disk_parent: sets parent, where the scratch directory goes: BENCH_DIR (default
# /var/tmp), made if missing. Exits 1 when it is not on a disk (tmpfs, ramfs, overlayfs):
# the stores under test fsync, and a figure from memory would say nothing of them.
bench_disk_parent() {
	local fstype
	parent=${BENCH_DIR:-/var/tmp}
	mkdir -p "$parent"
	fstype=$(stat -f -c %T "$parent")
	case $fstype in
	tmpfs | ramfs | overlayfs)
		echo "run.sh: $parent is on $fstype, not a disk: set BENCH_DIR to a directory on a disk" >&2
		exit 1
		;;
	esac
}

# bench_need_space KB: exits 1 when $parent has less than KB KiB free.
bench_need_space() {
	local avail_kb
	avail_kb=$(df -Pk "$parent" | awk 'NR == 2 { print $4 }')
	if [ "$avail_kb" -lt "$1" ]; then
		echo "run.sh: $parent has $((avail_kb / 1024)) MiB free, about $(($1 / 1024)) MiB needed" >&2
		exit 1
	fi
}

# bench_drop_scratch: remove $base, or keep it (and say so) with BENCH_KEEP=1.
bench_drop_scratch() {
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "run.sh: kept $base"
	else
		rm -rf "$base"
	fi
}

# bench_stop_pid PID: SIGTERM to PID (when set and running) and wait for it.
bench_stop_pid() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# bench_unmount MNT MOUNTED: unmount the FUSE mount MNT when MOUNTED is 1 or it is
# mounted, lazily as a last resort.
bench_unmount() {
	if [ "$2" = 1 ] || mountpoint -q "$1" 2>/dev/null; then
		fusermount3 -u "$1" 2>/dev/null || umount "$1" 2>/dev/null ||
			umount -l "$1" 2>/dev/null || echo "run.sh: could not unmount $1" >&2
	fi
}

# bench_traps FUNC: FUNC at exit; SIGINT and SIGTERM exit (130, 143) through it. FUNC
# starts with `local rc=$?; trap - EXIT INT TERM` and ends with `exit "$rc"`.
bench_traps() {
	trap "$1" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# bench_cleanup_pids: the whole cleanup of a script whose background processes are all
# in the array pids: each gets SIGTERM, all are waited for, $base goes (bench_drop_scratch).
# Installed with `trap bench_cleanup_pids EXIT INT TERM`.
bench_cleanup_pids() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	bench_drop_scratch
}

# free_ports N: N distinct TCP ports on 127.0.0.1 nobody listens on right now.
free_ports() {
	python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
free_port() { free_ports 1; }
