#!/usr/bin/env bash
# Run every test of `make check` and close with "N passed, N failed".
# Unit tests, integration, attack and crash suites run on the ASan+UBSan build;
# fuzzers get a short run on their committed corpora.
set -uo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export SHELTER_BUILD=${SHELTER_BUILD:-build/asan}
export SHELTER=$PWD/$SHELTER_BUILD/bin/shelter
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() { # run NAME CMD...: a test binary or script printing PASS/FAIL lines
	local name=$1
	shift
	echo "== $name"
	if "$@" >"$log.out" 2>"$log.err"; then status=0; else status=$?; fi
	cat "$log.out"
	grep -E '^(PASS|FAIL) ' "$log.out" >>"$log" || true
	if [ "$status" -ne 0 ]; then
		if ! grep -q '^FAIL ' "$log.out"; then
			echo "FAIL $name (exit $status)" | tee -a "$log"
		fi
		sed 's/^/  | /' "$log.err" | tail -n 40
	fi
	rm -f "$log.out" "$log.err"
}

for t in "$SHELTER_BUILD"/tests/test_*; do
	[ -x "$t" ] && run "unit/$(basename "$t")" "$t"
done
for dir in integration attacks crash model; do
	for t in tests/$dir/*.sh; do
		[ -x "$t" ] && run "$dir/$(basename "$t" .sh)" "$t"
	done
done
if [ -x tests/fuzz/run.sh ]; then
	run "fuzz (${FUZZ_SECONDS}s each)" tests/fuzz/run.sh "$FUZZ_SECONDS"
fi

passed=$(grep -c '^PASS ' "$log" || true)
failed=$(grep -c '^FAIL ' "$log" || true)
echo
grep '^FAIL ' "$log" || true
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
