#!/usr/bin/env bash
# Tag record test vectors (docs/shield.md §6.2), computed from the spec with python3
# and its `cryptography` module (HKDF-SHA256, AES-256-GCM) and never with Shelter's
# own code, so that tests/unit/test_shield_tags.c checks tags.c against an
# independent implementation. The inputs are listed in README.md.
#
#   make-vectors.sh          write the vectors into this directory
#   make-vectors.sh --check  recompute them and compare with the committed files;
#                            also derive the two subkeys again with `openssl kdf`
#                            and with a stdlib (hmac, hashlib) HKDF, and open the
#                            committed records with AES-GCM; prints PASS/FAIL lines
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-write}
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
python3 -c 'import cryptography' 2>/dev/null || {
	echo "make-vectors.sh: needs python3 with the cryptography module" >&2
	exit 2
}

# ---- the generator: one record per vector, and vectors.txt with every value ----
python3 - "$w" <<'PY'
import sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

out = sys.argv[1]

def hkdf(k, info, n):  # RFC 5869, no salt (§6.2)
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=None, info=info).derive(k)

def record(k, host, mount, nonce, tag):
    key_id = hkdf(k, b"shelter-shield tag file v1 key id", 16)
    enc = hkdf(k, b"shelter-shield tag file v1 aead", 32)
    hdr = b"SHLTTAG1" + key_id + nonce                 # bytes 0..35
    aad = hdr + host + b"\0" + mount                   # header || realpath || NUL || mount
    sealed = AESGCM(enc).encrypt(nonce, tag, aad)      # 32 bytes || 16-byte GCM tag
    rec = hdr + sealed
    assert len(rec) == 84
    return key_id, enc, rec

K1 = bytes(range(0x00, 0x20))
K2 = bytes.fromhex("5c" * 32)
K3 = bytes(range(0xe0, 0x100))
vectors = [
    # name, K, realpath(HOSTDIR), mount path, nonce, volume tag
    ("v1-basic", K1, b"/var/lib/shelter/volumes/data", b"/data",
     bytes(range(0x10, 0x1c)), bytes(range(0x20, 0x40))),
    ("v1-paths", K2, "/srv/vol umes/redis-\u00fc".encode(), b"/var/lib/redis",
     b"\xff" * 12, b"\0" * 32),
    # sealed under another K for v1-basic's volume: FOREIGN under K1
    ("v1-foreign", K3, b"/var/lib/shelter/volumes/data", b"/data",
     bytes(range(0x10, 0x1c)), bytes(range(0x20, 0x40))),
]
with open(f"{out}/vectors.txt", "w") as f:
    f.write("# docs/shield.md §6.2 tag records; made by make-vectors.sh "
            "(python3 cryptography)\n")
    for name, k, host, mount, nonce, tag in vectors:
        key_id, enc, rec = record(k, host, mount, nonce, tag)
        with open(f"{out}/{name}.tag", "wb") as t:
            t.write(rec)
        f.write(f"\n[{name}]\n")
        for field, v in (("k", k), ("host_real", host), ("mount", mount), ("nonce", nonce),
                         ("tag", tag), ("key_id", key_id), ("aead_key", enc),
                         ("record", rec)):
            f.write(f"{field} {v.hex()}\n")
PY

files="v1-basic.tag v1-paths.tag v1-foreign.tag vectors.txt"

if [ "$mode" = write ]; then
	for f in $files; do cp "$w/$f" "$here/$f"; done
	echo "wrote $(echo $files | wc -w) files into $here"
	exit 0
fi
[ "$mode" = --check ] || { echo "usage: $0 [--check]" >&2; exit 2; }
fails=0
pass() { echo "PASS shield_vectors:$1"; }
fail() { echo "FAIL shield_vectors:$1"; fails=$((fails + 1)); }
for f in $files; do
	if cmp -s "$w/$f" "$here/$f"; then pass "$f"; else fail "$f (differs from the recomputation)"; fi
done

# the subkeys again, with two other HKDF implementations
field() { # field VECTOR NAME: a hex value of vectors.txt
	sed -n "/^\[$1\]/,/^\$/s/^$2 //p" "$here/vectors.txt"
}
hexinfo() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }
for v in v1-basic v1-paths v1-foreign; do
	k=$(field "$v" k)
	id=$(openssl kdf -keylen 16 -kdfopt digest:SHA256 -kdfopt "hexkey:$k" \
		-kdfopt "hexinfo:$(hexinfo 'shelter-shield tag file v1 key id')" HKDF | tr -d ':' |
		tr 'A-F' 'a-f')
	enc=$(openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt "hexkey:$k" \
		-kdfopt "hexinfo:$(hexinfo 'shelter-shield tag file v1 aead')" HKDF | tr -d ':' |
		tr 'A-F' 'a-f')
	if [ "$id" = "$(field "$v" key_id)" ] && [ "$enc" = "$(field "$v" aead_key)" ]; then
		pass "${v}_subkeys_openssl_kdf"
	else
		fail "${v}_subkeys_openssl_kdf"
	fi
done
if python3 - "$here/vectors.txt" <<'PY'; then pass subkeys_stdlib_hkdf; else fail subkeys_stdlib_hkdf; fi
import hashlib, hmac, sys
def hkdf(k, info, n):
    prk = hmac.new(b"\0" * 32, k, hashlib.sha256).digest()
    t, okm, i = b"", b"", 1
    while len(okm) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t
        i += 1
    return okm[:n]
v, ok = {}, True
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("["):
        v = {}
    elif line and not line.startswith("#"):
        name, val = line.split(" ", 1)
        v[name] = bytes.fromhex(val)
        if name == "record":
            ok &= hkdf(v["k"], b"shelter-shield tag file v1 key id", 16) == v["key_id"]
            ok &= hkdf(v["k"], b"shelter-shield tag file v1 aead", 32) == v["aead_key"]
sys.exit(0 if ok else 1)
PY
# the committed records open under their own key and AAD, and not once a byte changes
if python3 - "$here" <<'PY'; then pass records_open_with_aesgcm; else fail records_open_with_aesgcm; fi
import sys
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
here, v, ok = sys.argv[1], {}, True
for line in open(f"{here}/vectors.txt"):
    line = line.strip()
    if line.startswith("["):
        name, v = line[1:-1], {}
    elif line and not line.startswith("#"):
        f, val = line.split(" ", 1)
        v[f] = bytes.fromhex(val)
        if f != "record":
            continue
        rec = open(f"{here}/{name}.tag", "rb").read()
        aad = lambda r: r[:36] + v["host_real"] + b"\0" + v["mount"]
        g = AESGCM(v["aead_key"])
        ok &= rec == v["record"] and rec[8:24] == v["key_id"]
        ok &= g.decrypt(rec[24:36], rec[36:], aad(rec)) == v["tag"]
        for i in range(len(rec)):
            bad = bytearray(rec)
            bad[i] ^= 1
            try:
                g.decrypt(bytes(bad[24:36]), bytes(bad[36:]), aad(bytes(bad)))
                ok = False
            except InvalidTag:
                pass
sys.exit(0 if ok else 1)
PY
[ "$fails" -eq 0 ]
