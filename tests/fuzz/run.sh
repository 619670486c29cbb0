#!/usr/bin/env bash
# Run every built libFuzzer target for SECONDS each (STYLE.md rule 17).
#
#   tests/fuzz/run.sh SECONDS
#
# Builds nothing: runs $SHELTER_FUZZ_BUILD/fuzz/fuzz_* (default build/fuzz). Each
# target gets a scratch directory as its first corpus (libFuzzer writes new inputs
# only there) and tests/fuzz/corpus/<target> as the second, so the committed corpus
# is read, never written. Crash, leak and timeout inputs are kept under
# $SHELTER_FUZZ_ARTIFACTS (default $SHELTER_FUZZ_BUILD/fuzz/artifacts/<target>/).
# Prints "PASS fuzz_x (N execs in S s)" or "FAIL fuzz_x: <crash file>" per target and
# exits non-zero when any target failed or none was found.
set -uo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: $0 SECONDS" >&2
	exit 2
fi
build=${SHELTER_FUZZ_BUILD:-build/fuzz}
artifacts=${SHELTER_FUZZ_ARTIFACTS:-$build/fuzz/artifacts}
# run.sh may run under tests/run.sh's ASAN_OPTIONS; leaks must fail either way
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

found=0
failed=0
for bin in "$build"/fuzz/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	name=$(basename "$bin")
	found=$((found + 1))
	work=$scratch/$name
	mkdir -p "$work/corpus" "$artifacts/$name"
	dirs=("$work/corpus")
	[ -d "tests/fuzz/corpus/$name" ] && dirs+=("tests/fuzz/corpus/$name")
	start=$(date +%s)
	"$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$artifacts/$name/" "${dirs[@]}" >"$work/log" 2>&1
	status=$?
	elapsed=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
	crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log" | tail -n 1)
	if [ "$status" -eq 0 ] && [ -z "$crash" ]; then
		echo "PASS $name (${execs:-?} execs in $elapsed s)"
		continue
	fi
	failed=$((failed + 1))
	echo "FAIL $name: ${crash:-no crash file (exit $status)}"
	{
		echo "== $name (exit $status); reproduce with: $bin ${crash:-<input>}"
		grep -E '^fuzz_[a-z_]+: |ERROR|SUMMARY|^ *#[0-9]+ .* in ' "$work/log" | head -n 40 ||
			tail -n 20 "$work/log"
	} >&2
done

if [ "$found" -eq 0 ]; then
	echo "FAIL fuzz: no fuzz targets in $build/fuzz (build with: make BUILD=fuzz)"
	exit 1
fi
[ "$failed" -eq 0 ]
