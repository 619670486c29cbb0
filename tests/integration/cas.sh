#!/usr/bin/env bash
# The CAS end to end on loopback (docs/api/cas.md): providers and platforms, owners
# and sessions, every accept and refuse case of an attestation (§4.2), real clients
# (curl, openssl s_client), the audit trail, clean shutdown, restart, rollback and
# tampering of its store.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
S=${SHELTER:?set SHELTER to the shelter binary}
B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
PROBE=$PWD/$B/tests/cas_probe
[ -x "$PROBE" ] || PROBE=$B/tests/cas_probe
w=$(mktemp -d)
cas_pid=
cleanup() {
	[ -n "$cas_pid" ] && kill -KILL "$cas_pid" 2>/dev/null
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w"
SUITE=cas

start_cas() { # start_cas LOG [options]: background CAS on a free port
	local log=$1
	shift
	rm -f data/cas.addr
	"$S" cas serve --listen 127.0.0.1:0 --data data --platform plat1 "$@" 2>"$log" &
	cas_pid=$!
	for _ in $(seq 100); do
		[ -s data/cas.addr ] && break
		kill -0 "$cas_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -s data/cas.addr ] || return 1
	export SHELTER_CAS_URL=https://$(cat data/cas.addr) SHELTER_CAS_CERT=data/cas.crt
}
stop_cas() { # stop_cas: SIGTERM, wait; returns the CAS's exit status
	local rc
	kill -TERM "$cas_pid"
	wait "$cas_pid"
	rc=$?
	cas_pid=
	return $rc
}
probe() { "$PROBE" "$1" "$SHELTER_CAS_URL" data/cas.crt "$2" "$3" "${@:4}"; }
put_crl() { # put_crl CRL_FILE: upload as any client may (cas.md §6)
	curl -sS --tlsv1.3 --cacert data/cas.crt -X PUT -H 'Content-Type: application/json' \
		--data-binary "{\"crl\": $(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1")}" \
		"$SHELTER_CAS_URL/v1/crls"
}

# --- providers and platforms ---------------------------------------------------------
"$S" provider init acme --name acme >/dev/null &&
	"$S" provider init evil --name evil >/dev/null &&
	for p in 1 2 3; do
		"$S" platform init --dir plat$p --name node-$p >/dev/null || exit 1
	done &&
	"$S" provider enroll acme plat1/platform.csr --out p1.crt >/dev/null &&
	"$S" provider enroll evil plat2/platform.csr --out p2.crt >/dev/null &&
	"$S" provider enroll acme plat3/platform.csr --out p3.crt >/dev/null &&
	for p in 1 2 3; do "$S" platform install-cert --dir plat$p p$p.crt >/dev/null || exit 1; done
[ $? -eq 0 ] && pass setup_platforms || { fail setup_platforms; exit 1; }
cp acme/crl.pem crl-1.pem

M=$("$S" measure -- /bin/echo hello)
policy() { # policy NAME ALLOW_SIM EXTRA_SECRET_NAME
	cat <<EOF
name: $1
accept:
  measurements: [$M]
  providers:
    - name: acme
      ca: |
$(sed 's/^/        /' acme/ca.crt)
  allow_sim: $2
secrets:
  - name: pw
    kind: password
    size: 24
  - name: tls
    kind: x509
    common_name: demo.example
    dns: [demo.example]
  - name: ${3:-token}
    kind: random
    size: 16
launch:
  args: [echo, "{{pw}}"]
  host_args: false
  env:
    PW: "{{pw}}"
  host_env: [TZ]
  files:
    /run/secrets/tls.crt: "{{tls.cert}}"
    /run/secrets/token: "{{${3:-token}}}"
volumes:
  - name: data
    path: /data
EOF
}
policy demo true >demo.yaml
policy demo true token2 >demo-v2.yaml
policy strict false >strict.yaml

# --- start, real TLS clients -----------------------------------------------------------
expect refuses_without_data 2 'needs --listen' "$S" cas serve --listen 127.0.0.1:0
if start_cas cas.log; then pass starts; else
	fail starts "$(cat cas.log)"
	exit 1
fi
expect second_cas_refused 1 'in use by another CAS' \
	"$S" cas serve --listen 127.0.0.1:0 --data data --platform plat1
expect curl_health 0 '"status":"ok"' curl -sS --tlsv1.3 --cacert data/cas.crt "$SHELTER_CAS_URL/v1/health"
addr=$(cat data/cas.addr)
expect s_client_tls13 0 'TLSv1.3' sh -c "openssl s_client -connect $addr -tls1_3 </dev/null 2>&1"
expect s_client_tls12_refused 1 '' sh -c "openssl s_client -connect $addr -tls1_2 </dev/null >/dev/null 2>&1"
expect http_garbage_400 0 '^HTTP/1.1 400' sh -c \
	"printf 'GARBAGE\r\n\r\n' | openssl s_client -quiet -connect $addr 2>/dev/null | head -1"
expect still_serving 0 '"status":"ok"' curl -sS --cacert data/cas.crt "$SHELTER_CAS_URL/v1/health"

# --- owners and sessions -----------------------------------------------------------------
"$S" session keygen owner1.key >owner1.id && "$S" session keygen owner2.key >owner2.id
expect keygen_no_overwrite 1 'exist' "$S" session keygen owner1.key
expect apply_needs_owner 2 'owner-key' env -u SHELTER_OWNER_KEY "$S" session apply demo.yaml
expect apply_create 0 'session demo version 1' "$S" session apply demo.yaml --owner-key owner1.key
h1=$("$S" session show demo --owner-key owner1.key --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])')
expect apply_again_conflict 1 '409 conflict.*predecessor' "$S" session apply demo.yaml --owner-key owner1.key
expect apply_wrong_predecessor 1 '409 conflict' "$S" session apply demo-v2.yaml --owner-key owner1.key \
	--predecessor 0000000000000000000000000000000000000000000000000000000000000000
expect apply_update 0 'session demo version 2' "$S" session apply demo-v2.yaml --owner-key owner1.key \
	--predecessor "$h1"
expect history_links 0 "^2 .* replaces $h1" "$S" session history demo --owner-key owner1.key
expect other_owner_cannot_read 1 '403 not-owner' "$S" session show demo --owner-key owner2.key
expect other_owner_cannot_change 1 '403 not-owner' "$S" session apply demo.yaml --owner-key owner2.key
expect other_owner_cannot_audit 1 '403 not-owner' "$S" session audit demo --owner-key owner2.key
expect malformed_policy 1 '400 malformed-policy.*line' sh -c \
	"printf 'name: bad\naccept: [\n' >bad.yaml; '$S' session apply bad.yaml --owner-key owner1.key"
# an owner using only standard tools: an OpenSSL Ed25519 key and curl
openssl genpkey -algorithm ed25519 -out owner3.key 2>/dev/null &&
	openssl req -x509 -new -key owner3.key -subj /CN=owner3 -days 1 -out owner3.crt 2>/dev/null
python3 -c 'import json,sys; print(json.dumps({"policy": open("strict.yaml").read(), "predecessor": None}))' >strict.json
expect curl_owner_creates 0 '"version":1' curl -sS --cacert data/cas.crt --cert owner3.crt \
	--key owner3.key -X PUT -H 'Content-Type: application/json' --data-binary @strict.json \
	"$SHELTER_CAS_URL/v1/sessions/strict"
expect curl_no_owner_cert 0 'owner-certificate-required' curl -sS --cacert data/cas.crt \
	"$SHELTER_CAS_URL/v1/sessions/strict"
"$S" session apply strict.yaml --owner-key owner1.key >/dev/null 2>&1 &&
	fail owner_isolation_on_create "owner1 took over owner3's session" || pass owner_isolation_on_create

# --- attestation: accept and every refusal ------------------------------------------
expect no_crl_no_trust 1 'unknown-platform.*CRL' "$S" attest --session demo --platform plat1 -- /bin/echo hello
expect crl_upload 0 "CAS holds CRL number 01" "$S" provider publish acme
expect crl_replay_stale 0 'stale-crl' put_crl acme/crl.pem
expect crl_unknown_provider 0 'unknown-provider' put_crl evil/crl.pem
out=$("$S" attest --session demo --platform plat1 -- /bin/echo hello 2>&1)
pw=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["env"]["PW"])' "$out" 2>/dev/null)
if [ ${#pw} -eq 24 ] && grep -q '"/run/secrets/tls.crt"' <<<"$out" && grep -q '"key":"[0-9a-f]\{64\}"' <<<"$out"; then
	pass attest_accepted
else
	fail attest_accepted "$out"
fi
out2=$(TZ=Europe/Paris "$S" attest --session demo --platform plat1 --host-env TZ --host-env HOME -- /bin/echo hello 2>&1)
pw2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["env"]["PW"])' "$out2" 2>/dev/null)
[ "$pw" = "$pw2" ] && pass secret_stable || fail secret_stable "$pw vs $pw2"
grep -q '"TZ":"Europe/Paris"' <<<"$out2" && ! grep -q '"HOME"' <<<"$out2" &&
	pass host_env_filtered || fail host_env_filtered "$out2"
grep -q '"args":\["echo","'"$pw"'"\]' <<<"$out2" && pass host_args_ignored || fail host_args_ignored "$out2"
expect refuse_wrong_measurement 1 'code=measurement-not-accepted' probe ok plat1 demo /bin/echo bye
expect refuse_replayed_evidence 1 'code=replayed-evidence' probe replay plat1 demo /bin/echo hello
expect refuse_tampered_quote 1 'code=tampered-quote' probe tamper plat1 demo /bin/echo hello
expect refuse_malformed_quote 1 'code=malformed-quote' probe garbage plat1 demo /bin/echo hello
expect refuse_malformed_cert 1 'code=malformed-certificate' probe plain plat1 demo /bin/echo hello
expect refuse_key_not_bound 1 'code=key-not-bound' probe wrong-key plat1 demo /bin/echo hello
expect refuse_no_evidence 1 'code=no-evidence' probe no-nonce plat1 demo /bin/echo hello
expect refuse_unknown_platform 1 'code=unknown-platform' probe ok plat2 demo /bin/echo hello
expect refuse_no_session 1 'code=no-such-session' probe ok plat1 nosuch /bin/echo hello
"$S" session apply strict.yaml --owner-key owner3.key >/dev/null 2>&1 # may exist: owner3 made it
expect refuse_sim_not_allowed 1 'code=sim-not-allowed' probe ok plat1 strict /bin/echo hello
expect platform3_before_revocation 0 'status=200' probe ok plat3 demo /bin/echo hello
"$S" provider revoke acme node-3 --reason test >/dev/null
expect crl_newer_accepted 0 '"number"' put_crl acme/crl.pem
expect crl_rollback_refused 0 'stale-crl' put_crl crl-1.pem
expect refuse_revoked_platform 1 'code=revoked-platform' probe ok plat3 demo /bin/echo hello
expect platform1_still_accepted 0 'status=200' probe ok plat1 demo /bin/echo hello
t1=$(printf '1%.0s' $(seq 64)); t2=$(printf '2%.0s' $(seq 64))
expect tag_first 0 'tag=ok' probe "tag:data:$t1:-" plat1 demo /bin/echo hello
expect tag_needs_predecessor 1 'conflict' probe "tag:data:$t2:-" plat1 demo /bin/echo hello
expect tag_wrong_predecessor 1 'conflict' probe "tag:data:$t2:$t2" plat1 demo /bin/echo hello
expect tag_next 0 'tag=ok' probe "tag:data:$t2:$t1" plat1 demo /bin/echo hello
expect tag_unknown_volume 1 'no-such-volume' probe "tag:nope:$t1:-" plat1 demo /bin/echo hello
expect tag_in_configuration 0 "\"tag\":\"$t2\"" "$S" attest --session demo --platform plat1 -- /bin/echo hello
expect tag_refused_to_other_code 1 'measurement-not-accepted' probe "tag:data:$t1:$t2" plat1 demo /bin/echo bye
expect tag_shown_to_owner 0 "volume +data tag $t2" "$S" session show demo --owner-key owner1.key
expect bad_json_400 0 '"code":"bad-request"' sh -c "printf '{not json' | curl -sS --cacert data/cas.crt -X POST --data-binary @- $SHELTER_CAS_URL/v1/attest"

# --- audit trail ------------------------------------------------------------------------
audit=$("$S" session audit demo --owner-key owner1.key --verify 2>&1)
if [ $? -eq 0 ] && grep -q 'every link verified' <<<"$audit" && grep -q '"event":"attest.accept"' <<<"$audit" &&
	grep -q '"code":"replayed-evidence"' <<<"$audit" && grep -q '"code":"revoked-platform"' <<<"$audit" &&
	grep -q '"event":"crl.install"' <<<"$audit" && grep -q '"event":"session.update"' <<<"$audit" &&
	grep -q '"event":"platform.first-seen"' <<<"$audit"; then
	pass audit_trail
else
	fail audit_trail "$(head -c 600 <<<"$audit")"
fi
n_req=$(grep -c ' shelter-cas request ' cas.log)
[ "$n_req" -ge 30 ] && ! grep -q "$pw" cas.log && pass log_one_line_per_request_no_secrets ||
	fail log_one_line_per_request_no_secrets "requests=$n_req"

# --- shutdown, restart, rollback, tampering -------------------------------------------
if stop_cas && grep -q 'shelter-cas stopped' cas.log; then pass sigterm_clean; else fail sigterm_clean "$(tail -3 cas.log)"; fi
cp -a data/volume volume.old
start_cas cas2.log || fail restart "$(cat cas2.log)"
out3=$("$S" attest --session demo --platform plat1 -- /bin/echo hello 2>&1)
grep -q "\"PW\":\"$pw\"" <<<"$out3" && pass restart_keeps_secrets || fail restart_keeps_secrets "$out3"
"$S" session apply demo.yaml --owner-key owner1.key --predecessor \
	"$("$S" session show demo --owner-key owner1.key --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])')" >/dev/null
stop_cas
# rollback: the store of before the last change, with the tag recorded since
mv data/volume volume.new && cp -a volume.old data/volume
cas_once() { timeout 30 "$S" cas serve --listen 127.0.0.1:0 "$@"; }
expect rollback_refused 1 'stale' cas_once --data data --platform plat1
rm -rf data/volume && mv volume.new data/volume
cp -a data data.good
# tamper: flip one byte in every segment header (volume.md §4)
for seg in data/volume/log/*.seg; do
	flip "$seg" 40 7
done
expect tamper_refused 1 'open volume .*segment 1' cas_once --data data --platform plat1
expect other_platform_cannot_open 1 'sealed by another CAS' cas_once --data data.good --platform plat3
rm -rf data && mv data.good data
start_cas cas3.log && expect after_restore_attest 0 '"PW"' "$S" attest --session demo --platform plat1 -- /bin/echo hello
stop_cas || fail final_stop

[ "$fails" -eq 0 ]
