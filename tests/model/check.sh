#!/usr/bin/env bash
# Model check of the freshness protocol (docs/protocols/freshness.md §9): spin verifies
# tests/model/freshness.pml (assertions P1, P2, P3 and the spec's own claims), then
# checks that each mutant of the model (a weakened protocol) yields a violation, which
# shows the assertions can fail.
#
#   tests/model/check.sh          small bounds, for `make check` (about 70 s)
#   tests/model/check.sh --long   larger bounds as well (about 20-25 minutes)
#
# Default: three exhaustive runs (every state stored: no bitstate, no hash compaction),
# each within -DMEMLIM=2048 (MiB): heights 0..2 with one writer crash, heights 0..1
# with two writer crashes, and the latter again with an honest store (-DHONEST_STORE,
# which adds the assertion one_digest). --long adds an exhaustive run with an honest
# store, heights 0..2 and two writer crashes, and four bitstate runs (-DBITSTATE,
# 1 GiB of bits, -k3: not exhaustive; spin prints the hash factor): the first two
# default runs with an endorser crash, heights 0..3, and heights 0..2 with 5 writes,
# two writer crashes and an endorser crash. Bounds are the model's -D macros
# (freshness.pml's header).
#
# Output: one PASS/FAIL line per run; on an error, the counterexample (the model's MSC
# lines, then the last 60 lines of `spin -t -p`). Needs spin (scripts/install-deps.sh)
# and cc. Works in a temporary directory, removed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
long=0
case "${1:-}" in
"") ;;
--long) long=1 ;;
*)
	echo "usage: $0 [--long]" >&2
	exit 2
	;;
esac

if ! command -v spin >/dev/null || ! command -v cc >/dev/null; then
	echo "FAIL model/freshness: spin or cc not installed (scripts/install-deps.sh)"
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
n=0

# build DIR DEFS CCFLAGS: spin -a and cc in a fresh DIR
build() {
	local dir=$1 defs=$2 ccf=$3
	mkdir -p "$dir"
	cp "$here/freshness.pml" "$dir/"
	# shellcheck disable=SC2086
	(cd "$dir" && spin $defs -a freshness.pml >build.log 2>&1 &&
		cc -O2 -DSAFETY $ccf -o pan pan.c >>build.log 2>&1)
}

# trail DIR DEFS: the counterexample, indented
trail() {
	local dir=$1 defs=$2
	# shellcheck disable=SC2086
	(cd "$dir" && spin $defs -t freshness.pml 2>&1 | grep -E 'MSC:|assert' | sed 's/^ *//' | tail -n 80 | sed 's/^/  | /'
		echo "  | --- spin -t -p, the last 60 lines up to the violation ---"
		spin $defs -t -p freshness.pml 2>&1 | sed '/text of failed assertion/q' | tail -n 60 |
			sed 's/^/  | /') || true
}

# field OUT: "<states> states stored, depth <d>"
stats() {
	local states depth
	states=$(awk '/states, stored/ { print $1; exit }' "$1")
	depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$1" | head -n 1)
	echo "${states:-?} states stored, depth ${depth:-?}"
}

# verify NAME DEFS CCFLAGS PANFLAGS KIND: the model must have no error
verify() {
	local name=$1 defs=$2 ccf=$3 panf=$4 kind=$5 dir t0 t1 errs bounds hf
	n=$((n + 1))
	dir=$work/run$n
	bounds=${defs//-D/}
	if ! build "$dir" "$defs" "$ccf"; then
		echo "FAIL model/$name ($bounds): build failed"
		sed 's/^/  | /' "$dir/build.log" | tail -n 20
		failed=1
		return
	fi
	t0=$(date +%s)
	# shellcheck disable=SC2086
	(cd "$dir" && ./pan $panf >out 2>&1) || true
	t1=$(date +%s)
	errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/out" | head -n 1)
	hf=$(sed -n 's/.*hash factor: \([0-9.]*\).*/, hash factor \1/p' "$dir/out" | head -n 1)
	if [ "${errs:-x}" = 0 ] && ! grep -qE 'max search depth too small|out of memory|MEMLIM|[Ss]earch not completed' "$dir/out"; then
		echo "PASS model/$name ($bounds): $(stats "$dir/out"), no errors ($kind$hf, $((t1 - t0)) s)"
	elif [ "${errs:-0}" != 0 ] && [ -n "${errs:-}" ]; then
		echo "FAIL model/$name ($bounds): $(grep -m1 -E 'pan:[0-9]*: |error' "$dir/out")"
		trail "$dir" "$defs"
		failed=1
	else
		echo "FAIL model/$name ($bounds): search incomplete ($(stats "$dir/out"))"
		grep -E 'error|MEMLIM|memory|depth' "$dir/out" | head -n 5 | sed 's/^/  | /'
		failed=1
	fi
}

# mutant NAME MACRO [DEFS]: the weakened model must give an assertion violation
mutant() {
	local name=$1 macro=$2 extra=${3:-} dir defs v
	n=$((n + 1))
	dir=$work/run$n
	defs="-DMAXH=1 -DMAXD=3 -DMAXWC=2 -DMAXEC=0 -DNOSYM -D$macro${extra:+ $extra}"
	# -O1 (the last -O wins): these searches stop early, so compile time dominates
	if ! build "$dir" "$defs" "-O1 -DMEMLIM=2048"; then
		echo "FAIL model/mutant-$name: build failed"
		sed 's/^/  | /' "$dir/build.log" | tail -n 20
		failed=1
		return
	fi
	(cd "$dir" && ./pan -m10000 -w22 >out 2>&1) || true
	v=$(grep -m1 'assertion violated' "$dir/out" || true)
	if [ -n "$v" ]; then
		echo "PASS model/mutant-$name: violation found (${v#pan:1: }, $(stats "$dir/out"))"
	else
		echo "FAIL model/mutant-$name: no violation found ($(stats "$dir/out"))"
		failed=1
	fi
}

exh="-DMEMLIM=2048"
verify freshness "-DMAXH=2 -DMAXD=4 -DMAXWC=1 -DMAXEC=0" "$exh" "-m10000 -w24" exhaustive
verify freshness "-DMAXH=1 -DMAXD=3 -DMAXWC=2 -DMAXEC=0" "$exh" "-m10000 -w24" exhaustive
verify freshness "-DMAXH=1 -DMAXD=3 -DMAXWC=2 -DMAXEC=0 -DHONEST_STORE" "$exh" "-m10000 -w24" exhaustive
if [ "$long" = 1 ]; then
	verify freshness "-DMAXH=2 -DMAXD=4 -DMAXWC=2 -DMAXEC=0 -DHONEST_STORE" "$exh" "-m10000 -w24" exhaustive
	bit="-DBITSTATE -DMEMLIM=2048"
	verify freshness "-DMAXH=2 -DMAXD=4 -DMAXWC=1 -DMAXEC=1" "$bit" "-m10000 -w33 -k3" bitstate
	verify freshness "-DMAXH=1 -DMAXD=3 -DMAXWC=2 -DMAXEC=1" "$bit" "-m10000 -w33 -k3" bitstate
	verify freshness "-DMAXH=3 -DMAXD=5 -DMAXWC=1 -DMAXEC=0" "$bit" "-m10000 -w33 -k3" bitstate
	verify freshness "-DMAXH=2 -DMAXD=5 -DMAXWC=2 -DMAXEC=1" "$bit" "-m10000 -w33 -k3" bitstate
fi

mutant no-cert-rule BUG_NO_CERT_RULE
mutant take-max BUG_TAKE_MAX
mutant ack-early BUG_ACK_EARLY
mutant locked-read BUG_LOCKED_READ
mutant stale-read BUG_STALE_READ
mutant discard-pending BUG_DISCARD_PENDING -DHONEST_STORE

exit "$failed"
