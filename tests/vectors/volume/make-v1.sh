#!/usr/bin/env bash
# How tests/vectors/volume/v1 was made (run once, committed; never rerun in tests:
# the golden volume freezes format version 1, so every later shelter must read it).
set -euo pipefail
S=${SHELTER:?}
here=$(cd "$(dirname "$0")" && pwd)
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
printf '%s' 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f | xxd -r -p >"$w/key"
mkdir -p "$w/src/dir/nested" "$w/src/empty"
printf 'hello, shelter\n' >"$w/src/hello.txt"
awk 'BEGIN { for (i = 0; i < 2500; i++) printf "%04d", i }' >"$w/src/dir/nested/data.txt"
ln -s dir/nested/data.txt "$w/src/link"
rm -rf "$here/v1"
"$S" volume import "$w/src" "$here/v1" --key-file "$w/key"
printf 'replaced\n' | "$S" volume put "$here/v1" hello.txt --key-file "$w/key"
printf 'gone\n' | "$S" volume put "$here/v1" tmp.txt --key-file "$w/key"
"$S" volume rm "$here/v1" tmp.txt --key-file "$w/key"
"$S" volume tag "$here/v1" --key-file "$w/key" >"$here/v1.tag"

# v1-compacted: the same history, then a checkpoint (§10) and one more operation, so
# later readers must also load checkpoints of format version 1.
rm -rf "$here/v1-compacted"
cp -a "$here/v1" "$here/v1-compacted"
"$S" volume compact "$here/v1-compacted" --key-file "$w/key"
printf 'after the checkpoint\n' | "$S" volume put "$here/v1-compacted" dir/after.txt --key-file "$w/key"
"$S" volume tag "$here/v1-compacted" --key-file "$w/key" >"$here/v1-compacted.tag"
