#!/usr/bin/env bash
# Measurement and sigstruct test vectors (docs/formats/measurement.md §8), computed
# from the spec with standard tools only (printf, od, sha256sum, openssl) and never
# with Shelter's own code, so that tests/unit/test_measure.c checks the C encoder
# against an independent implementation.
#
#   make-vectors.sh          write the vectors into this directory
#   make-vectors.sh --check  recompute them and compare with the committed files;
#                            also verify the committed sigstruct's signature with
#                            openssl; prints PASS/FAIL lines
set -euo pipefail
export LC_ALL=C # ${#s} counts bytes, sort and cmp compare bytes
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-write}
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/inputs"

# ---- fixture files: their content is all the encoder sees (§4.1) ----
printf '\177ELF fixture program\n' >"$w/inputs/program.bin"
printf 'fixture interpreter\n' >"$w/inputs/interp.bin"
printf 'fixture libfoo\n' >"$w/inputs/libfoo.bin"
printf 'fixture libc\n' >"$w/inputs/libc.bin"
printf 'fixture shield\n' >"$w/inputs/shield.bin"

sha() { sha256sum "$1" | cut -c1-64; }
hexbytes() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')"; } # hex -> bytes
be() { # be NBYTES VALUE: big-endian unsigned integer
	local n=$1 v=$2 hex
	hex=$(printf "%0$((2 * n))x" "$v")
	hexbytes "$hex"
}
# §4: record = type u16 || length u32 || value
rec_str() { # rec_str TYPE STRING
	be 2 "$1"
	be 4 "${#2}"
	printf '%s' "$2"
}
rec_file() { # rec_file TYPE FILE [NAME]: digest, then the name for INTERP/LIBRARY
	local name=${3:-}
	be 2 "$1"
	be 4 $((32 + ${#name}))
	hexbytes "$(sha "$2")"
	printf '%s' "$name"
}
PROGRAM=1 INTERP=2 LIBRARY=3 SHIELD=4 ARG=16 ENV_ALLOW=17 ENV_FIXED=18 VOLUME=19 FRESHNESS=20
fill() { printf "$1%.0s" $(seq "$2"); } # fill HEXBYTE COUNT: that byte COUNT times, in hex
in=$w/inputs

# v1-basic: libraries in load order, no shield, the manifest in canonical order
# (the unit test feeds it unsorted, duplicated and unnormalised; see test_measure.c)
{
	printf 'shelter-measurement-v1'
	rec_file $PROGRAM "$in/program.bin"
	rec_file $INTERP "$in/interp.bin" /lib64/ld-linux-x86-64.so.2
	rec_file $LIBRARY "$in/libfoo.bin" libfoo.so.1
	rec_file $LIBRARY "$in/libc.bin" libc.so.6
	be 2 $SHIELD; be 4 0 # absent
	rec_str $ARG redis-server
	rec_str $ARG --port
	rec_str $ARG 6379
	rec_str $ARG ''
	rec_str $ENV_ALLOW HOME
	rec_str $ENV_ALLOW LANG
	rec_str $ENV_FIXED A=1      # sorted by name: "A" < "A-B" < "TZ"
	rec_str $ENV_FIXED A-B=2
	rec_str $ENV_FIXED TZ=UTC
	rec_str $VOLUME /data
	rec_str $VOLUME /var/lib/redis
} >"$w/v1-basic.stream"
sha "$w/v1-basic.stream" >"$w/v1-basic.sha256"

# v1-shield: no libraries, a shield, argv[0] only
{
	printf 'shelter-measurement-v1'
	rec_file $PROGRAM "$in/program.bin"
	rec_file $INTERP "$in/interp.bin" /lib64/ld-linux-x86-64.so.2
	rec_file $SHIELD "$in/shield.bin"
	rec_str $ARG /usr/bin/prog
} >"$w/v1-shield.stream"
sha "$w/v1-shield.stream" >"$w/v1-shield.sha256"

# v1-fresh (§4.2): v1-shield with a volume bound to a freshness service; the binding's
# two endorser measurements sorted (the unit test gives them unsorted, one twice)
{
	printf 'shelter-measurement-v1'
	rec_file $PROGRAM "$in/program.bin"
	rec_file $INTERP "$in/interp.bin" /lib64/ld-linux-x86-64.so.2
	rec_file $SHIELD "$in/shield.bin"
	rec_str $ARG /usr/bin/prog
	rec_str $VOLUME /data
	be 2 $FRESHNESS
	be 4 $((70 + 2 * 32))
	hexbytes "$(fill 11 32)"     # genesis
	hexbytes "$(fill 22 32)"     # provider: SHA-256 of its CA certificate (DER)
	be 4 1                       # flags: ACCEPT_SIM
	be 2 2                       # endorser measurements
	hexbytes "$(fill aa 32)"
	hexbytes "$(fill bb 32)"
} >"$w/v1-fresh.stream"
sha "$w/v1-fresh.stream" >"$w/v1-fresh.sha256"

# sigstruct-v1 (§6): RFC 8032 test 1 key, over the v1-basic measurement
seed=9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60
{ hexbytes 302e020100300506032b657004220420; hexbytes "$seed"; } >"$w/key.der"
openssl pkey -inform DER -in "$w/key.der" -pubout -outform DER 2>/dev/null | tail -c 32 >"$w/pub.bin"
product=redis
{
	printf 'SHELTSIG'
	be 2 1                       # version
	be 2 0                       # reserved
	be 4 0                       # flags
	hexbytes "$(cat "$w/v1-basic.sha256")"
	be 4 7                       # security version
	be 8 1700000000              # created
	be 1 ${#product}
	printf '%s' "$product"
	head -c $((63 - ${#product})) /dev/zero
	cat "$w/pub.bin"
} >"$w/signed.bin"
{ printf 'shelter-sigstruct-v1'; cat "$w/signed.bin"; } >"$w/msg.bin"
openssl pkeyutl -sign -inkey "$w/key.der" -keyform DER -rawin -in "$w/msg.bin" -out "$w/sig.bin"
cat "$w/signed.bin" "$w/sig.bin" >"$w/sigstruct-v1.bin"
printf '%s\n' "$seed" >"$w/sigstruct-v1.key.hex"
[ "$(stat -c %s "$w/sigstruct-v1.bin")" = 220 ] || { echo "sigstruct size" >&2; exit 1; }

files="inputs/program.bin inputs/interp.bin inputs/libfoo.bin inputs/libc.bin
inputs/shield.bin v1-basic.stream v1-basic.sha256 v1-shield.stream v1-shield.sha256
v1-fresh.stream v1-fresh.sha256 sigstruct-v1.bin sigstruct-v1.key.hex"

if [ "$mode" = write ]; then
	mkdir -p "$here/inputs"
	for f in $files; do cp "$w/$f" "$here/$f"; done
	echo "wrote $(echo $files | wc -w) files into $here"
	exit 0
fi
[ "$mode" = --check ] || { echo "usage: $0 [--check]" >&2; exit 2; }
fails=0
for f in $files; do
	if cmp -s "$w/$f" "$here/$f"; then
		echo "PASS measurement_vectors:${f//\//_}"
	else
		echo "FAIL measurement_vectors:${f//\//_} (committed file differs from the recomputation)"
		fails=$((fails + 1))
	fi
done
# the committed signature verifies under the committed public key (bytes 124..156)
tail -c +125 "$here/sigstruct-v1.bin" | head -c 32 >"$w/cpub.bin"
{ hexbytes 302a300506032b6570032100; cat "$w/cpub.bin"; } >"$w/cpub.der"
{ printf 'shelter-sigstruct-v1'; head -c 156 "$here/sigstruct-v1.bin"; } >"$w/cmsg.bin"
tail -c 64 "$here/sigstruct-v1.bin" >"$w/csig.bin"
if openssl pkeyutl -verify -pubin -inkey "$w/cpub.der" -keyform DER -rawin -in "$w/cmsg.bin" \
	-sigfile "$w/csig.bin" >/dev/null 2>&1; then
	echo "PASS measurement_vectors:sigstruct_verifies_with_openssl"
else
	echo "FAIL measurement_vectors:sigstruct_verifies_with_openssl"
	fails=$((fails + 1))
fi
# and fails once one signed byte changes (the check above can fail)
printf 'X' | dd of="$w/cmsg.bin" bs=1 seek=40 conv=notrunc 2>/dev/null
if openssl pkeyutl -verify -pubin -inkey "$w/cpub.der" -keyform DER -rawin -in "$w/cmsg.bin" \
	-sigfile "$w/csig.bin" >/dev/null 2>&1; then
	echo "FAIL measurement_vectors:sigstruct_tamper_detected_by_openssl"
	fails=$((fails + 1))
else
	echo "PASS measurement_vectors:sigstruct_tamper_detected_by_openssl"
fi
[ "$fails" -eq 0 ]
