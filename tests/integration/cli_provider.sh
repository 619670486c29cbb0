#!/usr/bin/env bash
# `shelter provider` and `shelter platform` as a contract: arguments, outputs, exit
# codes (0 ok, 1 failure, 2 usage) and the files they leave (docs/formats/quote.md
# §5, §7), end to end: provider init, platform init, enroll, install-cert, show,
# list, revoke, verify, and the inventory's tamper evidence.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
S=${SHELTER:?set SHELTER to the shelter binary}
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w"
SUITE=cli_provider

# check NAME CONDITION...: a test of the files left behind
check() {
	local name=$1
	shift
	if "$@"; then
		echo "PASS cli_provider:$name"
	else
		echo "FAIL cli_provider:$name"
		fails=$((fails + 1))
	fi
}

# --- usage errors first -------------------------------------------------------------
expect provider_no_verb 2 'usage: shelter provider' "$S" provider
expect provider_unknown_verb 2 "unknown verb 'explode'" "$S" provider explode p
expect provider_init_no_name 2 '--name NAME is required by init' "$S" provider init p
expect provider_name_elsewhere 2 '--name NAME is required by init and applies to it only' \
	"$S" provider list p --name x
expect provider_init_two_dirs 2 'usage: shelter provider init DIR --name NAME' \
	"$S" provider init p q --name acme
expect provider_bad_days 2 '--days takes a number of days from 1 to 36500' \
	"$S" provider enroll p r.csr --days 0
expect provider_huge_days 2 '--days takes' "$S" provider enroll p r.csr --days 99999
expect provider_days_elsewhere 2 '--out and --days apply to enroll only' \
	"$S" provider revoke p x --days 3
expect provider_reason_elsewhere 2 '--reason applies to revoke only' "$S" provider list p --reason x
expect provider_enroll_no_csr 2 'usage: shelter provider enroll DIR REQ.csr' "$S" provider enroll p
expect provider_unknown_option 2 'usage: shelter provider list' "$S" provider list p --frob
expect provider_help 0 'shelter provider <verb> DIR' "$S" provider --help
expect platform_no_verb 2 'usage: shelter platform' "$S" platform
expect platform_init_no_name 2 'usage: shelter platform init \[--dir DIR\] --name NAME' \
	"$S" platform init --dir plat
expect platform_unknown_verb 2 "unknown verb 'fly'" "$S" platform fly --dir plat
expect platform_install_no_cert 2 'usage: shelter platform install-cert' \
	"$S" platform install-cert --dir plat
expect platform_name_elsewhere 2 '--name applies to init only' "$S" platform show --dir plat --name x
expect platform_help 0 'install-cert CERT.pem' "$S" platform --help

# --- failures on missing things -----------------------------------------------------
expect provider_list_missing 1 'inventory.log.*No such file' "$S" provider list nowhere
expect provider_verify_missing 1 "no provider in 'nowhere'" "$S" provider verify nowhere
expect platform_show_missing 1 "no platform in 'nowhere'.*shelter platform init" \
	"$S" platform show --dir nowhere
expect provider_bad_name 1 "invalid name 'bad name'" "$S" provider init p0 --name 'bad name'

# --- a provider and two platforms ------------------------------------------------------
expect provider_init 0 "provider 'acme' created in prov" "$S" provider init prov --name acme
expect provider_init_again 1 'already holds a provider' "$S" provider init prov --name acme
check provider_modes test "$(stat -c %a prov)/$(stat -c %a prov/ca.key)" = 700/600
check crl_number_1 test "$(openssl crl -in prov/crl.pem -noout -crlnumber)" = crlNumber=0x01
expect platform_bad_name 1 'invalid name' "$S" platform init --dir bad --name 'a/b'
expect platform_init 0 "enrolment request written to p1/platform.csr" \
	"$S" platform init --dir p1 --name node-1
expect platform_init_again 1 'already holds a platform' "$S" platform init --dir p1 --name node-1
check platform_modes test "$(stat -c %a p1)/$(stat -c %a p1/attestation.key)/$(stat -c %a p1/seal.secret)" = 700/600/600
expect platform_show_unenrolled 0 'enrolled: +no' "$S" platform show --dir p1
SHELTER_PLATFORM_DIR=$w/p2 expect platform_init_env 0 "platform 'node-2' created" \
	"$S" platform init --name node-2
check platform_env_dir test -f p2/platform.csr

expect enroll_out 0 "enrolled platform 'node-1' \(serial [0-9a-f]{32}\): certificate written to c1.pem" \
	"$S" provider enroll prov p1/platform.csr --out c1.pem --days 30
check enroll_out_is_chain test "$(grep -c 'BEGIN CERTIFICATE' c1.pem)" = 2
check enroll_cert_profile sh -c "openssl x509 -in c1.pem -noout -subject | grep -q 'OU = shelter-platform, CN = node-1'"
expect enroll_same_key 1 "this key was already enrolled as 'node-1' \(inventory line 1\)" \
	"$S" provider enroll prov p1/platform.csr --out again.pem
check enroll_refused_writes_nothing test ! -e again.pem
"$S" provider enroll prov p2/platform.csr >c2.pem 2>/dev/null
check enroll_stdout grep -q 'BEGIN CERTIFICATE' c2.pem
expect enroll_garbage 1 'no valid PEM certificate request' "$S" provider enroll prov c1.pem

expect install_other_key 1 'the certificate is for key' "$S" platform install-cert --dir p1 c2.pem
expect install_garbage 1 'no PEM certificate' "$S" platform install-cert --dir p1 p1/platform.csr
expect install 0 "installed the certificate of platform 'node-1' \(provider 'acme'" \
	"$S" platform install-cert --dir p1 c1.pem
expect show_enrolled 0 'enrolled: +yes' "$S" platform show --dir p1
expect show_provider 0 'provider: +acme' "$S" platform show --dir p1
SHELTER_PLATFORM_DIR=$w/p2 expect install_env 0 "platform 'node-2'" "$S" platform install-cert c2.pem

# --- list, revoke, verify ---------------------------------------------------------------
expect list 0 '^node-2 +enrolled +[0-9a-f]{32} +[0-9a-f]{64} ' "$S" provider list prov
expect list_header 0 '^NAME +STATUS +SERIAL +KEY ID +ENROLLED +REVOKED +REASON' "$S" provider list prov
expect verify_clean 0 'inventory: 2 entries, chain intact' "$S" provider verify prov
expect revoke_unknown 1 "no platform named 'ghost'" "$S" provider revoke prov ghost
expect revoke 0 "revoked 'node-2'" "$S" provider revoke prov node-2 --reason 'disk "stolen"'
expect revoke_again 1 'already revoked \(inventory line 3\)' "$S" provider revoke prov node-2
check crl_number_2 test "$(openssl crl -in prov/crl.pem -noout -crlnumber)" = crlNumber=0x02
serial2=$(openssl x509 -in c2.pem -noout -serial | cut -d= -f2)
check crl_lists_serial sh -c "openssl crl -in prov/crl.pem -noout -text | grep -q 'Serial Number: $serial2'"
expect list_revoked 0 '^node-2 +revoked .* disk "stolen"$' "$S" provider list prov
expect list_still_enrolled 0 '^node-1 +enrolled ' "$S" provider list prov
expect verify_after_revoke 0 'inventory: 3 entries' "$S" provider verify prov
key1=$("$S" platform show --dir p1 | sed -n 's/^key id: *//p')
expect revoke_by_key_id 0 'revoked' "$S" provider revoke prov "$key1"
expect verify_after_key_revoke 0 'inventory: 4 entries' "$S" provider verify prov

# --- tamper evidence ----------------------------------------------------------------------
cp prov/inventory.log inventory.orig
sed -i '1s/"node-1"/"node-9"/' prov/inventory.log
expect tamper_edit 1 'inventory line 2: prev does not match the hash of line 1' \
	"$S" provider verify prov
expect tamper_blocks_revoke 1 'inventory line 2' "$S" provider revoke prov node-1
cp inventory.orig prov/inventory.log
sed -i '2d' prov/inventory.log
expect tamper_delete 1 'inventory line 2: prev does not match the hash of line 1' \
	"$S" provider verify prov
cp inventory.orig prov/inventory.log
sed -i '$d' prov/inventory.log
expect tamper_drop_last 1 'crl.pem revokes serial' "$S" provider verify prov
cp inventory.orig prov/inventory.log
head -c -5 inventory.orig >prov/inventory.log
expect tamper_cut 1 'inventory line 4: cut short' "$S" provider verify prov
cp inventory.orig prov/inventory.log
expect verify_restored 0 'inventory: 4 entries' "$S" provider verify prov

if [ "$fails" -ne 0 ]; then
	exit 1
fi
