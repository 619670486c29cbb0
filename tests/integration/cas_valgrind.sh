#!/usr/bin/env bash
# The CAS daemon under valgrind (release build): sessions, attestations accepted and
# refused, a CRL, SIGTERM; no memory error and nothing definitely lost at exit. The
# ASan build of tests/integration/cas.sh checks the same paths with LeakSanitizer;
# this checks the binary users run.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
SUITE=cas_valgrind
root=$(cd "$(dirname "$0")/../.." && pwd)
S=${SHELTER_RELEASE:-$root/build/release/bin/shelter}
if [ ! -x "$S" ] || ! command -v valgrind >/dev/null; then
	fail setup "needs $S (make BUILD=release) and valgrind"
	exit 1
fi
w=$(mktemp -d)
vg_pid=
trap '[ -n "$vg_pid" ] && kill -KILL "$vg_pid" 2>/dev/null; rm -rf "$w"' EXIT
cd "$w"

enrolled_platform prov plat || {
	fail setup "provider and platform"
	exit 1
}
valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9 \
	"$S" cas serve --listen 127.0.0.1:0 --data data --platform plat --workers 4 \
	>vg.log 2>&1 &
vg_pid=$!
for _ in $(seq 240); do
	[ -s data/cas.addr ] && break
	kill -0 "$vg_pid" 2>/dev/null || break
	sleep 0.25
done
if [ -s data/cas.addr ]; then pass starts_under_valgrind; else
	fail starts_under_valgrind "$(tail -5 vg.log)"
	exit 1
fi
export SHELTER_CAS_URL=https://$(cat data/cas.addr) SHELTER_CAS_CERT=data/cas.crt
"$S" session keygen owner.key >/dev/null
m=$("$S" measure -- /bin/echo hi)
{
	echo "name: vg"
	echo "accept:"
	echo "  measurements: [$m]"
	echo "  providers:"
	echo "    - name: acme"
	echo "      ca: |"
	sed 's/^/        /' prov/ca.crt
	echo "  allow_sim: true"
	echo "secrets:"
	echo "  - name: pw"
	echo "    kind: password"
	echo "  - name: tls"
	echo "    kind: x509"
	echo "    common_name: vg.example"
	echo "launch:"
	echo "  env:"
	echo "    PW: \"{{pw}}\""
	echo "  files:"
	echo "    /run/tls.crt: \"{{tls.chain}}\""
	echo "volumes:"
	echo "  - name: data"
	echo "    path: /data"
} >vg.yaml
expect session_apply 0 'version 1' "$S" session apply vg.yaml --owner-key owner.key
expect crl_publish 0 'CRL number' "$S" provider publish prov
expect attest_accepted 0 '"PW"' "$S" attest --session vg --platform plat -- /bin/echo hi
expect attest_again 0 '"PW"' "$S" attest --session vg --platform plat -- /bin/echo hi
expect attest_refused 1 'measurement-not-accepted' "$S" attest --session vg --platform plat -- /bin/echo no
expect audit_verifies 0 'every link verified' "$S" session audit vg --owner-key owner.key --verify
kill -TERM "$vg_pid"
wait "$vg_pid"
rc=$?
vg_pid=
# --error-exitcode: any memory error or definite leak makes valgrind exit 9
if [ "$rc" -eq 0 ] && grep -q 'ERROR SUMMARY: 0 errors' vg.log &&
	! grep -qE 'definitely lost: [1-9]' vg.log && grep -q 'shelter-cas stopped' vg.log; then
	pass clean_exit_no_leak
else
	fail clean_exit_no_leak "exit $rc; $(grep -E 'definitely|ERROR SUMMARY|Invalid' vg.log | head -5)"
fi
[ "$fails" -eq 0 ]
