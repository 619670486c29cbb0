#!/usr/bin/env bash
# How tests/vectors/quote/ was made (run once, committed; never rerun in tests: the
# files freeze sim quote format version 1, docs/formats/quote.md §9).
#
#   SHELTER=build/asan/bin/shelter TEST_TEE=build/asan/tests/test_tee \
#       tests/vectors/quote/make-vectors.sh
#
# A provider "vector-provider" enrols two platforms with a validity of 100 years,
# revokes one (so crl.pem is number 2 with one entry), and test_tee, in its vector
# mode, writes one quote from each platform over a fixed identity and report data,
# with the decoded fields and the validity window in quote.txt.
set -euo pipefail
S=${SHELTER:?set SHELTER to the shelter binary}
T=${TEST_TEE:?set TEST_TEE to the test_tee binary}
here=$(cd "$(dirname "$0")" && pwd)
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT

"$S" provider init "$w/prov" --name vector-provider
for p in plat:node-vector plat-revoked:node-revoked; do
	dir=${p%%:*}
	name=${p#*:}
	"$S" platform init --dir "$w/$dir" --name "$name"
	"$S" provider enroll "$w/prov" "$w/$dir/platform.csr" --out "$w/$dir.pem" --days 36500
	"$S" platform install-cert --dir "$w/$dir" "$w/$dir.pem"
done
"$S" provider revoke "$w/prov" node-revoked --reason "vector: a revoked platform"
SHELTER_QUOTE_VECTOR=$w "$T"

cp "$w/prov/ca.crt" "$here/provider.crt"
cp "$w/prov/crl.pem" "$here/crl.pem"
cp "$w/plat/platform.crt" "$here/platform.crt"
cp "$w/quote.bin" "$w/quote-revoked.bin" "$w/quote.txt" "$here/"
