#!/usr/bin/env bash
# Shelter's main job on embedded defaults, shown to a newcomer: a program's files kept
# in a protected volume are ciphertext on the host, read back intact, and any tampering
# or rollback by the host is detected; an unmodified redis-server from Debian runs
# under the shield with its data in such a volume; a program receives its secrets
# from the CAS only after it has proven what code it is and on which enrolled
# machine it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SHELTER:-$PWD/build/release/bin/shelter}
work=$(mktemp -d /tmp/shelter-demo.XXXXXX)
cas_pid=
redis_pid=
trap '[ -n "$cas_pid" ] && kill "$cas_pid" 2>/dev/null; [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; rm -rf "$work"' EXIT
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

# ---- the shield: an unmodified redis-server, its data in a protected volume ----
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# --platform/--state keep the demo's sim platform and sealed tags in its work
# directory; without them `shelter run` uses this machine's defaults.
shielded_redis() {
	"$S" run --platform "$work/local-platform" --state "$work/local-state" \
		--volume "$work/redis-data:/var/lib/redis" -- /usr/bin/redis-server --port "$port" \
		--bind 127.0.0.1 --dir /var/lib/redis --appendonly yes --appendfsync always \
		--save "" --logfile "" >"$work/redis.log" 2>&1 &
	redis_pid=$!
	for _ in $(seq 100); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
		kill -0 "$redis_pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$redis_pid"
	local rc=$?
	redis_pid=
	return "$rc"
}
stop_redis() {
	redis-cli -p "$port" shutdown >/dev/null 2>&1 || true
	wait "$redis_pid" || true
	redis_pid=
}

step "10. redis-server from Debian, unmodified, starts under the shield"
echo "  shelter run --volume $work/redis-data:/var/lib/redis -- redis-server --dir /var/lib/redis --appendfsync always ..."
shielded_redis
grep -E 'shelter|Ready to accept' "$work/redis.log" | sed 's/^/  /'

step "11. Clients write; every write is in the append-only file, fsync'd, in the volume"
redis-cli -p "$port" set customer:42 "Alice Example, card 4111-1111-1111-1111"
redis-cli -p "$port" hset account:42 iban DE44500105175407324931 balance 1873.55
redis-cli -p "$port" bgsave
sleep 1
echo "  on the host:"
find "$work/redis-data" -type f -printf '  %P (%s bytes)\n'
echo "  searching the host's bytes for the card number and the IBAN:"
if grep -rqa -e 4111-1111 -e DE44500105 "$work/redis-data"; then
	echo "  FOUND: plaintext on the host"
	exit 1
fi
echo "  not found: the host holds ciphertext only"
od -An -tx1 -N 48 -j 4096 "$work/redis-data/log/0000000000000001.seg" | sed 's/^/  /'

step "12. redis restarts and reads everything back"
stop_redis
cp -a "$work/redis-data" "$work/redis-data.old"
shielded_redis
redis-cli -p "$port" get customer:42
redis-cli -p "$port" hget account:42 balance
redis-cli -p "$port" hset account:42 balance 0.00 >/dev/null
echo "  (the balance is now 0.00)"
stop_redis

step "13. The host rolls the volume back to the copy with the old balance: refused"
mv "$work/redis-data" "$work/redis-data.new"
mv "$work/redis-data.old" "$work/redis-data"
shielded_redis || echo "  (redis did not start: exit $?)"
grep 'refused' "$work/redis.log" | tail -n 1 | sed 's/^/  /'
rm -rf "$work/redis-data"
mv "$work/redis-data.new" "$work/redis-data"

step "14. The host flips one bit of the ciphertext: redis is refused its data"
seg="$work/redis-data/log/0000000000000001.seg"
byte=$(od -An -tu1 -j 5000 -N 1 "$seg")
printf "\\$(printf '%03o' $((byte ^ 1)))" | dd of="$seg" bs=1 seek=5000 conv=notrunc status=none
shielded_redis || echo "  (redis did not start: exit $?)"
grep -E "security|refused" "$work/redis.log" | tail -n 1 | sed 's/^/  /'
[ -z "$redis_pid" ] || { echo "  redis started on tampered data"; exit 1; }

step "15. A provider enrols this machine; the CAS starts (HTTPS, TLS 1.3, loopback)"
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

step "16. The tenant's policy: which code gets the database password"
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

step "17. Other code asks for the secret: refused, and the refusal is recorded"
"$S" attest --session ledger-app --platform "$work/platform" -- /bin/sh -c 'echo "$DB_PASSWORD"' ||
	echo "(exit $?: refused)"

step "18. The app attests, receives its configuration, and runs with it"
config=$("$S" attest --session ledger-app --platform "$work/platform" -- "${app[@]}")
DB_PASSWORD=$(jq -r .env.DB_PASSWORD <<<"$config") "${app[@]}"

step "19. The owner reads the audit trail; every link verifies"
"$S" session audit ledger-app --owner-key "$work/owner.key" --verify |
	jq -r '"  \(.seq) \(.event) \(.detail.code // "")"'
kill "$cas_pid"
wait "$cas_pid" || true
cas_pid=
tail -n 1 "$work/cas.log"
echo
echo "demo complete"
