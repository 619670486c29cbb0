#!/usr/bin/env bash
# How tests/vectors/ra-tls/ was made (run once, committed; tests never rerun it).
# Everything here comes from the openssl command line and printf, not from Shelter,
# so tests/unit/test_ratls.c checks Shelter's reader and writer against an
# independent producer (docs/formats/ra-tls.md §7).
#
#   key.pem         a fixed P-256 test key (made once; reused when present). TEST ONLY.
#   spki.sha256     hex SHA-256 of the key's SubjectPublicKeyInfo DER (ra-tls.md §3)
#   quote.bin       the fixed fake quote, 300 bytes: report data (64) || ASCII text,
#                   padded with '.'; report data = spki.sha256 || nonce 00 01 .. 1f.
#                   It is not a valid Shelter quote: only its bytes matter here.
#   evidence.cbor   the extension value: tag 0x53484c54 (head da 53 48 4c 54) around
#                   a 300-byte byte string (head 59 01 2c), then quote.bin
#   cert.pem/.der   openssl req -x509 with that value added as extension 2.23.133.5.4.9
#   bad-indefinite.pem  the same, with the quote in an indefinite-length byte string
#   bad-tag60000.pem    the same, under tag 60000 (Interoperable RA-TLS), refused in v1
#   bad-none.pem        no evidence extension at all
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
umask 077

[ -f key.pem ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem
openssl pkey -in key.pem -pubout -outform DER | openssl dgst -sha256 -binary | xxd -p -c 64 >spki.sha256

nonce=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
text=$(printf '%s' 'shelter ra-tls test vector: a fake quote, not signed by any platform' | xxd -p -c 1000)
quote=$(cat spki.sha256)$nonce$text
while [ ${#quote} -lt 600 ]; do quote=${quote}2e; done
printf '%s' "$quote" | xxd -r -p >quote.bin
[ "$(stat -c %s quote.bin)" = 300 ]

evidence=da53484c5459012c$quote
printf '%s' "$evidence" | xxd -r -p >evidence.cbor

mkcert() { # mkcert OUT [EXTENSION-VALUE-HEX]
	local out=$1 ext=()
	[ $# -gt 1 ] && ext=(-addext "2.23.133.5.4.9=DER:$2")
	openssl req -x509 -new -key key.pem -subj /CN=shelter-ratls -days 36500 -sha256 \
		"${ext[@]}" -out "$out"
}
mkcert cert.pem "$evidence"
openssl x509 -in cert.pem -outform DER -out cert.der
mkcert bad-indefinite.pem "da53484c545f59012c${quote}ff"
mkcert bad-tag60000.pem "d9ea6059012c$quote"
mkcert bad-none.pem
chmod 644 ./*.pem ./*.der ./*.bin ./*.cbor spki.sha256
chmod 600 key.pem
