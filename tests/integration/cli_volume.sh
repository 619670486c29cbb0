#!/usr/bin/env bash
# The `shelter volume` command line as a contract: arguments, outputs, exit codes and
# error messages for bad input (README "Using protected volumes").
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
S=${SHELTER:?set SHELTER to the shelter binary}
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w"
SUITE=cli_volume

# --- negative cases first ---------------------------------------------------------
expect no_args 2 'usage' "$S"
expect unknown_command 2 "unknown command 'frobnicate'" "$S" frobnicate
expect volume_no_verb 2 'usage: shelter volume' "$S" volume
expect unknown_verb 2 "unknown verb 'explode'" "$S" volume explode v --key-file k
expect missing_key_option 2 '--key-file KEY is required' "$S" volume create v
expect too_many_args 2 'usage: shelter volume create DIR' "$S" volume create a b --key-file k
expect tag_option_misplaced 2 '--tag applies to verify only' "$S" volume tag v --key-file k --tag 00
expect missing_key_file 1 "key file 'nokey'.*No such file" "$S" volume ls v --key-file nokey
head -c 31 /dev/urandom >short.key
expect short_key_file 1 "key file 'short.key' is 31 bytes, expected exactly 32" \
	"$S" volume create v0 --key-file short.key
head -c 33 /dev/urandom >long.key
expect long_key_file 1 "longer than 32 bytes" "$S" volume create v0 --key-file long.key
expect key_is_directory 1 "not a regular file" "$S" volume create v0 --key-file "$w"
mkdir notvol
head -c 32 /dev/urandom >k && chmod 600 k
expect not_a_volume_dir 1 "no VOLUME file: not a volume" "$S" volume ls notvol --key-file k
expect nonexistent_dir 1 "No such file or directory" "$S" volume ls nowhere --key-file k
mkdir full && touch full/x
expect create_nonempty_dir 1 "directory is not empty" "$S" volume create full --key-file k
expect verify_bad_tag 2 '--tag takes 64 hex characters' "$S" volume verify v --key-file k --tag xyz

# --- create, key generation --------------------------------------------------------
expect create_makes_key 0 "created key file 'new.key'" "$S" volume create v --key-file new.key
if [ "$(stat -c %a new.key)" = 600 ] && [ "$(stat -c %s new.key)" = 32 ]; then
	echo "PASS cli_volume:key_file_mode_and_size"
else
	echo "FAIL cli_volume:key_file_mode_and_size ($(stat -c '%a %s' new.key))"; fails=$((fails + 1))
fi
expect create_existing_volume 1 "not empty" "$S" volume create v --key-file new.key
expect wrong_key 1 "wrong key" "$S" volume ls v --key-file k
expect verify_wrong_key 1 "wrong key" "$S" volume verify v --key-file k
chmod 644 new.key
expect key_mode_warning 0 "readable by other users" "$S" volume ls v --key-file new.key
chmod 600 new.key

# --- put, cat, ls, mkdir, rm --------------------------------------------------------
printf 'hello\n' | "$S" volume put v docs/a/hello.txt --key-file new.key
expect cat_roundtrip 0 '^hello$' "$S" volume cat v docs/a/hello.txt --key-file new.key
expect cat_missing 1 "'nope.txt': no such file" "$S" volume cat v nope.txt --key-file new.key
expect cat_directory 1 "is a directory" "$S" volume cat v docs --key-file new.key
expect ls_root 0 '^drwxr-xr-x +0 .* docs/$' "$S" volume ls v --key-file new.key
expect ls_file 0 '^-rw-r--r-- +6 .*hello.txt' "$S" volume ls v docs/a/hello.txt --key-file new.key
expect ls_dotdot_refused 1 "'\.\.' in volume path" "$S" volume ls v docs/../x --key-file new.key
head -c 3000000 /dev/urandom >big
"$S" volume put v big --key-file new.key <big
"$S" volume cat v big --key-file new.key >big.out
if cmp -s big big.out; then echo "PASS cli_volume:big_roundtrip"; else echo "FAIL cli_volume:big_roundtrip"; fails=$((fails + 1)); fi
: | "$S" volume put v empty --key-file new.key
expect empty_file 0 '^-rw-r--r-- +0 ' "$S" volume ls v empty --key-file new.key
expect mkdir_p 0 '' "$S" volume mkdir v x/y/z --key-file new.key
expect mkdir_over_file 1 "not a directory" "$S" volume mkdir v big/sub --key-file new.key
expect rm_nonempty 1 "not empty" "$S" volume rm v x/y --key-file new.key
expect rm_dir 0 '' "$S" volume rm v x/y/z --key-file new.key
expect rm_file 0 '' "$S" volume rm v big --key-file new.key
expect rm_gone 1 "no such file" "$S" volume cat v big --key-file new.key

# --- tag and verify -----------------------------------------------------------------
tag=$("$S" volume tag v --key-file new.key)
if [[ $tag =~ ^[0-9a-f]{64}$ ]]; then echo "PASS cli_volume:tag_format"; else echo "FAIL cli_volume:tag_format ($tag)"; fails=$((fails + 1)); fi
expect tag_stable 0 "^$tag\$" "$S" volume tag v --key-file new.key
expect verify_ok 0 '^ok: volume intact$' "$S" volume verify v --key-file new.key
expect verify_fresh 0 '^ok: volume intact and fresh$' "$S" volume verify v --key-file new.key --tag "$tag"
cp -a v v.old
printf 'more\n' | "$S" volume put v more.txt --key-file new.key
tag2=$("$S" volume tag v --key-file new.key)
[ "$tag" != "$tag2" ] && echo "PASS cli_volume:tag_changes" || { echo "FAIL cli_volume:tag_changes"; fails=$((fails + 1)); }
expect verify_newer_than_tag 0 'note: volume: newer than the expected tag' \
	"$S" volume verify v --key-file new.key --tag "$tag"
expect verify_stale 1 '^stale: ' "$S" volume verify v.old --key-file new.key --tag "$tag2"
expect verify_unknown_tag 1 '^stale: ' "$S" volume verify v --key-file new.key --tag "$(printf '%064d' 0)"
printf '\x02' | dd of=v.old/VOLUME bs=1 seek=11 conv=notrunc status=none
expect newer_version 1 "format version 2 is newer" "$S" volume ls v.old --key-file new.key
expect newer_version_verify 1 "format version 2 is newer" "$S" volume verify v.old --key-file new.key

# --- compact ------------------------------------------------------------------------
for i in 1 2 3 4 5; do "$S" volume put v churn --key-file new.key <big; done
tag3=$("$S" volume tag v --key-file new.key)
expect compact 0 'compact: log [0-9.]+ MiB -> [0-9.]+ MiB' "$S" volume compact v --key-file new.key
expect compact_keeps_content 0 '^hello$' "$S" volume cat v docs/a/hello.txt --key-file new.key
expect compact_old_tag_ok 0 '^ok: volume intact' "$S" volume verify v --key-file new.key --tag "$tag3"
if [ "$(find v/log -name '*.seg' | wc -l)" -eq 2 ] && [ "$(cat v/log/*.seg | wc -c)" -lt 4000000 ]; then
	echo "PASS cli_volume:compact_reclaims"
else
	echo "FAIL cli_volume:compact_reclaims ($(ls -l v/log))"; fails=$((fails + 1))
fi

# --- import and export --------------------------------------------------------------
mkdir -p src/d1/d2 src/empty
seq 1 50000 >src/d1/nums
printf 'x' >src/d1/d2/one
ln -s d1/nums src/link
head -c 10000 /dev/urandom >src/rand && chmod 640 src/rand
expect import 0 'import: 7 files and directories' "$S" volume import src imp --key-file imp.key
expect import_into_existing 1 "not empty" "$S" volume import src imp --key-file imp.key
expect import_not_dir 1 "is not a directory" "$S" volume import src/rand imp2 --key-file imp.key
expect export 0 '' "$S" volume export imp out --key-file imp.key
if diff -r src out >/dev/null && [ "$(readlink out/link)" = d1/nums ] && [ "$(stat -c %a out/rand)" = 640 ]; then
	echo "PASS cli_volume:export_matches_import"
else
	echo "FAIL cli_volume:export_matches_import"; fails=$((fails + 1))
fi
expect export_existing_dest 1 "must not exist yet" "$S" volume export imp out --key-file imp.key
printf 'CANARY-b7e1-plaintext\n' >canary-name-9d2f && "$S" volume put imp canary-name-9d2f --key-file imp.key <canary-name-9d2f
if grep -rqa -e CANARY-b7e1 -e canary-name-9d2f -e $'49999\n50000' imp; then
	echo "FAIL cli_volume:no_plaintext_on_disk"; fails=$((fails + 1))
else
	echo "PASS cli_volume:no_plaintext_on_disk"
fi
[ "$fails" -eq 0 ]
