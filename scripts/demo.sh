#!/usr/bin/env bash
# Shelter's main job on embedded defaults, shown to a newcomer: a program's files kept
# in a protected volume are ciphertext on the host, read back intact, and any tampering
# or rollback by the host is detected; a program receives its secrets from the CAS
# only after it has proven what code it is and on which enrolled machine it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SHELTER:-$PWD/build/release/bin/shelter}
work=$(mktemp -d /tmp/shelter-demo.XXXXXX)
cas_pid=
trap '[ -n "$cas_pid" ] && kill "$cas_pid" 2>/dev/null; rm -rf "$work"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. A tenant's plaintext data"
mkdir -p "$work/plain/conf"
echo "customer-ledger: alice owes 1,000,000 EUR (CANARY-7f3a)" >"$work/plain/ledger.txt"
printf 'requirepass s3cret-CANARY-7f3a\n' >"$work/plain/conf/app.conf"
seq 1 20000 >"$work/plain/numbers.txt"
find "$work/plain" -type f | sed "s|$work/||"

step "2. Import it into a protected volume (the key file is created, mode 0600)"
"$S" volume import "$work/plain" "$work/vol" --key-file "$work/vol.key"
echo "host view of the volume directory:"
find "$work/vol" -type f -printf '  %P  %s bytes\n'

step "3. The host sees only ciphertext: no names, no contents"
if grep -rqa -e CANARY-7f3a -e ledger -e app.conf "$work/vol"; then
	echo "FAILED: plaintext found on disk"; exit 1
fi
echo "grep for the canary, the file names and the passwords in $work/vol: nothing found"
od -A d -t x1 "$work/vol/log/0000000000000001.seg" | sed -n '8,11p'

step "4. The tenant reads through Shelter"
"$S" volume ls "$work/vol" --key-file "$work/vol.key"
"$S" volume cat "$work/vol" ledger.txt --key-file "$work/vol.key"

step "5. The volume tag commits to the whole state; the tenant records it"
tag=$("$S" volume tag "$work/vol" --key-file "$work/vol.key")
echo "tag: $tag"
cp -a "$work/vol" "$work/vol-old"
echo "alice paid" | "$S" volume put "$work/vol" ledger.txt --key-file "$work/vol.key"
newtag=$("$S" volume tag "$work/vol" --key-file "$work/vol.key")
echo "after an update, tag: $newtag"

step "6. The host rolls the volume back to the old copy: detected"
rm -rf "$work/vol-rolled" && cp -a "$work/vol-old" "$work/vol-rolled"
"$S" volume verify "$work/vol-rolled" --key-file "$work/vol.key" --tag "$newtag" || echo "(exit $?: refused)"

step "7. The host flips one byte of ciphertext: detected, with the file named"
cp -a "$work/vol" "$work/vol-flipped"
seg="$work/vol-flipped/log/0000000000000001.seg"
printf '\xff' | dd of="$seg" bs=1 seek=2000 conv=notrunc status=none
"$S" volume verify "$work/vol-flipped" --key-file "$work/vol.key" || echo "(exit $?: refused)"

step "8. A wrong key is told apart from corruption"
head -c 32 /dev/urandom >"$work/wrong.key"; chmod 600 "$work/wrong.key"
"$S" volume verify "$work/vol" --key-file "$work/wrong.key" || echo "(exit $?: refused)"

step "9. The intact, current volume verifies, fresh against its tag"
"$S" volume verify "$work/vol" --key-file "$work/vol.key" --tag "$newtag"
step "10. A provider enrols this machine; the CAS starts (HTTPS, TLS 1.3, loopback)"
"$S" provider init "$work/provider" --name acme-cloud
"$S" platform init --dir "$work/platform" --name this-machine
"$S" provider enroll "$work/provider" "$work/platform/platform.csr" --out "$work/platform.crt"
"$S" platform install-cert --dir "$work/platform" "$work/platform.crt"
"$S" cas serve --listen 127.0.0.1:0 --data "$work/cas" --platform "$work/platform" \
	2>"$work/cas.log" &
cas_pid=$!
for _ in $(seq 100); do [ -s "$work/cas/cas.addr" ] && break; sleep 0.1; done
export SHELTER_CAS_URL=https://$(cat "$work/cas/cas.addr") SHELTER_CAS_CERT=$work/cas/cas.crt
echo "CAS listening on $SHELTER_CAS_URL; clients pin its certificate $SHELTER_CAS_CERT"

step "11. The tenant's policy: which code gets the database password"
app=(/bin/sh -c 'echo "app: connecting to the ledger with password $DB_PASSWORD"')
measurement=$("$S" measure -- "${app[@]}")
echo "measurement of the app (executable, libraries, arguments): $measurement"
"$S" session keygen "$work/owner.key" >/dev/null
{
	echo "name: ledger-app"
	echo "accept:"
	echo "  measurements: [$measurement]"
	echo "  providers:"
	echo "    - name: acme-cloud"
	echo "      ca: |"
	sed 's/^/        /' "$work/provider/ca.crt"
	echo "  allow_sim: true      # no SGX here: the sim TEE, allowed explicitly"
	echo "secrets:"
	echo "  - name: db_password"
	echo "    kind: password"
	echo "    size: 24"
	echo "launch:"
	echo "  env:"
	echo "    DB_PASSWORD: \"{{db_password}}\""
} >"$work/session.yaml"
sed -n '1,3p;/allow_sim/,$p' "$work/session.yaml"
"$S" session apply "$work/session.yaml" --owner-key "$work/owner.key"
"$S" provider publish "$work/provider"

step "12. Other code asks for the secret: refused, and the refusal is recorded"
"$S" attest --session ledger-app --platform "$work/platform" -- /bin/sh -c 'echo "$DB_PASSWORD"' ||
	echo "(exit $?: refused)"

step "13. The app attests, receives its configuration, and runs with it"
config=$("$S" attest --session ledger-app --platform "$work/platform" -- "${app[@]}")
DB_PASSWORD=$(jq -r .env.DB_PASSWORD <<<"$config") "${app[@]}"

step "14. The owner reads the audit trail; every link verifies"
"$S" session audit ledger-app --owner-key "$work/owner.key" --verify |
	jq -r '"  \(.seq) \(.event) \(.detail.code // "")"'
kill "$cas_pid"
wait "$cas_pid" || true
cas_pid=
tail -n 1 "$work/cas.log"
echo
echo "demo complete"
