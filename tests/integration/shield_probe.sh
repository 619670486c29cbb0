#!/usr/bin/env bash
# The file shield under a real launch: tests/helpers/shield_probe exercises every
# interposed call on a protected mount (docs/shield.md §2-§5) and prints one
# PASS/FAIL line per check. It runs twice: on a plain directory without the
# shield (the checks are plain POSIX, so this proves the probe itself), and under
# `shelter run` with the release shield (an ASan shield cannot be preloaded into
# other programs; the probe of the same release build is used).
set -uo pipefail
SUITE=shield_probe
source "$(dirname "$0")/../lib.sh"

S=${SHELTER:?set SHELTER to the shelter binary}
LIB=${SHELTER_SHIELD_LIB:-$PWD/build/release/lib/libshelter-shield.so}
PROBE=$(dirname "$LIB")/../tests/shield_probe
export SHELTER_SHIELD_LIB=$LIB
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT

# prefix the probe's own lines with this suite, and count its failures
relay() {
	local line
	while IFS= read -r line; do
		case $line in
		"PASS probe:"*) pass "$2:${line#PASS probe:}" ;;
		"FAIL probe:"*) fail "$2:${line#FAIL probe:}" ;;
		*) echo "  $line" ;;
		esac
	done <"$1"
}

mkdir "$w/plain"
"$PROBE" "$w/plain" >"$w/plain.out" 2>&1
echo "probe exit $?" >>"$w/plain.out"
relay "$w/plain.out" plain
grep -q '^probe exit 0$' "$w/plain.out" || fail plain_exit "$(tail -1 "$w/plain.out")"

"$S" run --platform "$w/plat" --state "$w/state" --volume "$w/vol:/data" -- \
	"$PROBE" --shielded /data >"$w/shielded.out" 2>&1
echo "probe exit $?" >>"$w/shielded.out"
relay "$w/shielded.out" shielded
grep -q '^probe exit 0$' "$w/shielded.out" || fail shielded_exit "$(tail -1 "$w/shielded.out")"
[ "$fails" -eq 0 ]
