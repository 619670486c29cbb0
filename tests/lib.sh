# Shared by the shell tests (tests/{integration,attacks,crash}/*.sh): PASS/FAIL lines
# that tests/run.sh counts. Set SUITE before sourcing; the caller exits with
# [ "$fails" -eq 0 ].
fails=0

pass() { echo "PASS $SUITE:$1"; }
# fail NAME [DETAIL]
fail() {
	echo "FAIL $SUITE:$1${2:+ ($2)}"
	fails=$((fails + 1))
}

# expect NAME WANT_EXIT PATTERN CMD...: run CMD; its exit code must be WANT_EXIT and
# its stdout+stderr must match PATTERN (grep -E); PATTERN '' skips the output check.
expect() {
	local name=$1 want=$2 pat=$3 out rc
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -ne "$want" ] || { [ -n "$pat" ] && ! grep -qE -- "$pat" <<<"$out"; }; then
		fail "$name" "exit $rc, want $want; output: $(head -c 400 <<<"$out")"
	else
		pass "$name"
	fi
}

# flip FILE OFFSET BIT: invert one bit in place. A tamper must change the byte: writing a
# fixed value leaves the file as it was when the byte already held it (1 run in 256).
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1")
	b=$((${b// /} ^ (1 << $3)))
	printf "\\$(printf '%03o' "$b")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# enrolled_platform PROV PLAT: a provider in PROV and a sim platform in PLAT it enrolled,
# with its certificate installed (docs/formats/quote.md §1); returns non-zero on failure.
enrolled_platform() {
	"$S" provider init "$1" --name acme >/dev/null 2>&1 &&
		"$S" platform init --dir "$2" --name node-1 >/dev/null 2>&1 &&
		"$S" provider enroll "$1" "$2/platform.csr" --out "$2.crt" >/dev/null 2>&1 &&
		"$S" platform install-cert --dir "$2" "$2.crt" >/dev/null 2>&1
}

# wait_addr LOG PID: the 127.0.0.1:PORT a daemon logged it listens on ("listening ...")
wait_addr() {
	local a
	for _ in $(seq 100); do
		a=$(grep -m1 -oE 'listening[^ ]* .*127\.0\.0\.1:[0-9]+' "$1" | grep -oE '127\.0\.0\.1:[0-9]+$')
		[ -n "$a" ] && { echo "$a"; return 0; }
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
