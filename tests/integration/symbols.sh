#!/usr/bin/env bash
# STYLE.md rule 7: libshelter exports exactly the list in src/lib/libshelter.sym, and
# that list is exactly the functions the public headers mark SHELTER_API.
set -uo pipefail
cd "$(dirname "$0")/../.."
so=${SHELTER_SO:-build/release/lib/libshelter.so}
fails=0
check() { # check NAME DIFF-OUTPUT
	if [ -z "$2" ]; then echo "PASS symbols:$1"; else echo "FAIL symbols:$1"; echo "$2" | sed 's/^/  /'; fails=$((fails + 1)); fi
}
exported=$(nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' | sort)
declared=$(sed -n 's/.*SHELTER_API[^(]*[ *]\(shelter_[a-z0-9_]*\)(.*/\1/p' include/shelter/*.h | sort)
check exported_matches_list "$(diff <(echo "$exported") src/lib/libshelter.sym)"
check list_matches_headers "$(diff <(echo "$declared") src/lib/libshelter.sym)"
check all_prefixed "$(echo "$exported" | grep -v '^shelter_')"
[ "$fails" -eq 0 ]
