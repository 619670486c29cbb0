#!/usr/bin/env bash
# `shelter measure` and `shelter sign` end to end (docs/formats/measurement.md): exit
# codes and messages for bad input, the digest's sensitivity to libraries, arguments,
# environment, volumes and the shield, its insensitivity to library paths and to
# option order, tenant keys and sigstructs, and the independent recomputation of the
# committed vectors (tests/vectors/measurement/make-vectors.sh --check).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
S=${SHELTER:?set SHELTER to the shelter binary}
root=$(cd "$(dirname "$0")/../.." && pwd)
w=$(mktemp -d)
trap 'chmod -R u+rwx "$w" 2>/dev/null; rm -rf "$w"' EXIT
cd "$w"
SUITE=cli_measure
T=$SUITE
# check NAME CONDITION-EXIT-STATUS [DETAIL]
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "${3:-}"; fi; }

# m ARGS...: the digest alone (first line of stdout), "" on failure
m() { "$S" measure "$@" 2>/dev/null | head -n 1; }

# ---- fixtures: a program linked to a library found through $ORIGIN ----------------
mkdir app
printf 'int fix_value(void) { return 1; }\n' >lib1.c
printf 'int fix_value(void) { return 2; }\n' >lib2.c
printf 'int fix_value(void);\nint main(void) { return fix_value() - 1; }\n' >prog.c
built=0
if cc -shared -fPIC -o app/libmeasfix.so lib1.c 2>/dev/null &&
	cc -shared -fPIC -o lib2.so lib2.c 2>/dev/null && cp app/libmeasfix.so lib1.so &&
	cc -o app/prog prog.c -Lapp -lmeasfix -Wl,--enable-new-dtags,-rpath,'$ORIGIN' 2>/dev/null; then
	built=1
fi
check fixtures_build $((1 - built)) "(cc could not build the fixture program)"
# a hand-made static ELF64: header + one PT_LOAD, no PT_INTERP
{
	printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000'
	printf '\002\000\076\000\001\000\000\000'              # ET_EXEC, x86-64, version
	printf '\000\000\000\000\000\000\000\000'              # e_entry
	printf '\100\000\000\000\000\000\000\000'              # e_phoff 64
	printf '\000\000\000\000\000\000\000\000'              # e_shoff
	printf '\000\000\000\000\100\000\070\000\001\000\000\000\000\000\000\000' # sizes, 1 phdr
	printf '\001\000\000\000\005\000\000\000'              # PT_LOAD, R+X
	head -c 48 /dev/zero
} >static-handmade
chmod +x static-handmade
printf '#!/bin/sh\necho hi\n' >script.sh
chmod +x script.sh

# --- negative cases first ----------------------------------------------------------
expect measure_no_program 2 'PROGRAM is missing' "$S" measure
expect measure_unknown_option 2 'usage: shelter measure' "$S" measure --frobnicate -- true
expect measure_not_in_path 1 "program 'no-such-prog-xyz' not found in PATH" \
	"$S" measure -- no-such-prog-xyz
expect measure_missing_file 1 "No such file" "$S" measure -- ./nothing-here
expect measure_script_refused 1 "not an ELF file" "$S" measure -- ./script.sh
expect measure_static_handmade_refused 1 "static binary.*shield" "$S" measure -- ./static-handmade
printf 'int main(void) { return 0; }\n' >static.c
if cc -static -o static-cc static.c 2>/dev/null; then
	expect measure_static_cc_refused 1 "no ELF interpreter \(PT_INTERP\): a static binary" \
		"$S" measure -- ./static-cc
fi
expect measure_relative_volume 1 "volume path 'data' is not absolute" \
	"$S" measure --volume data -- true
expect measure_dotdot_volume 1 "'\.\.' is not allowed" "$S" measure --volume /a/../b -- true
expect measure_env_conflict 1 "'TZ' is both fixed and allowed" \
	"$S" measure --env TZ=UTC --env-allow TZ -- true
expect measure_env_twice 1 "'TZ' is fixed to two values" \
	"$S" measure --env TZ=UTC --env TZ=CET -- true
expect measure_env_not_pair 1 "not NAME=VALUE" "$S" measure --env TZ -- true
expect measure_shield_not_elf 1 "shield.*not an ELF file" "$S" measure --shield ./script.sh -- true
expect measure_shield_missing 1 "shield './none.so'.*No such file" \
	"$S" measure --shield ./none.so -- true
if [ "$built" = 1 ]; then
	mv app/libmeasfix.so app/libmeasfix.so.away
	expect measure_missing_library 1 "library 'libmeasfix.so': not found by the dynamic loader" \
		"$S" measure -- app/prog
	mv app/libmeasfix.so.away app/libmeasfix.so
	if [ "$(id -u)" != 0 ]; then # root reads every file: the case cannot be made
		chmod 000 app/libmeasfix.so
		expect measure_unreadable_library 1 "libmeasfix.so.*(Permission denied|cannot open)" \
			"$S" measure -- app/prog
		chmod 644 app/libmeasfix.so
	fi
fi

# --- measure: stable, and sensitive to what matters ---------------------------------
d1=$(m -- true)
d2=$(m -- true)
[[ $d1 =~ ^[0-9a-f]{64}$ ]] && [ "$d1" = "$d2" ]
check true_stable_across_runs $? "($d1 / $d2)"
v=$("$S" measure --verbose -- true 2>&1)
[ "$(head -n 1 <<<"$v")" = "$d1" ] && grep -qE $'^library\tlibc\\.so\\.6\t/[^\t]+\t[0-9a-f]{64}$' <<<"$v" &&
	grep -qE $'^interpreter\t/' <<<"$v" && grep -qE $'^shield\tabsent\t-\t-$' <<<"$v" &&
	grep -qE $'^arg\ttrue\t-\t-$' <<<"$v" && ! grep -q vdso <<<"$v"
check verbose_lists_components $? "($(head -c 400 <<<"$v"))"
j=$("$S" measure --json -- true 2>&1)
grep -q "\"measurement\": \"$d1\"" <<<"$j" && grep -q '"kind": "library"' <<<"$j"
check json_output $? "($(head -c 300 <<<"$j"))"
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["components"]) >= 5' <<<"$j"
	check json_parses $?
fi
[ "$(m -- true x)" != "$d1" ] && [ "$(m -- /bin/true)" != "$d1" ]
check args_change_digest $?
[ "$(m --env-allow HOME -- true)" != "$d1" ] && [ "$(m --env HOME=/ -- true)" != "$d1" ] &&
	[ "$(m --env-allow HOME -- true)" != "$(m --env HOME= -- true)" ]
check env_changes_digest $?
[ "$(m --volume /data -- true)" != "$d1" ] && [ "$(m --volume /data -- true)" != "$(m --volume /dat -- true)" ]
check volume_changes_digest $?
a=$(m --env-allow A --env-allow B --env X=1 --env Y=2 --volume /b --volume /a/x -- true)
b=$(m --volume //a/./x/ --env Y=2 --env-allow B --volume /b/ --env X=1 --env-allow A --env-allow A -- true)
[ -n "$a" ] && [ "$a" = "$b" ]
check manifest_order_and_spelling_ignored $? "($a / $b)"
[ "$(m -- true a b)" != "$(m -- true b a)" ]
check argument_order_matters $?
shield=$(ldd "$(command -v openssl)" 2>/dev/null | sed -n 's/.*libcrypto[^ ]* => \([^ ]*\) .*/\1/p' | head -n 1)
if [ -n "$shield" ] && [ -f "$shield" ]; then
	cp "$shield" shield1.so && cp "$shield" shield2.so && printf '!' >>shield2.so
	s1=$(m --shield ./shield1.so -- true)
	s2=$(m --shield ./shield2.so -- true)
	[ -n "$s1" ] && [ "$s1" != "$d1" ] && [ -n "$s2" ] && [ "$s2" != "$s1" ] &&
		[ "$(m --shield "$w/shield1.so" -- true)" = "$s1" ]
	check shield_changes_digest $? "($d1 / $s1 / $s2)"
else
	fail shield_changes_digest "(no libcrypto found to stand in for a shield)"
fi
if [ "$built" = 1 ]; then
	p1=$(m -- app/prog)
	cp lib2.so app/libmeasfix.so
	p2=$(m -- app/prog)
	cp lib1.so app/libmeasfix.so
	p3=$(m -- app/prog)
	[ -n "$p1" ] && [ -n "$p2" ] && [ "$p1" != "$p2" ] && [ "$p1" = "$p3" ]
	check library_content_changes_digest $? "($p1 / $p2 / $p3)"
	out=$("$S" measure --verbose -- app/prog 2>&1) # (no pipe into grep -q: pipefail)
	grep -qE $'^library\tlibmeasfix\\.so\t'"$w"$'/app/libmeasfix\\.so\t[0-9a-f]{64}$' <<<"$out"
	check library_listed_by_requested_name $? "($(grep libmeasfix <<<"$out"))"
	# the same files in another directory: library paths are not measured (argv[0]
	# is measured as written, so both are measured as ./prog)
	mkdir moved grown && cp app/prog app/libmeasfix.so moved/ && cp app/prog app/libmeasfix.so grown/
	a=$(cd app && m -- ./prog x)
	[ -n "$a" ] && [ "$(cd moved && m -- ./prog x)" = "$a" ] && [ "$(m -- moved/prog x)" != "$a" ]
	check library_paths_not_measured $?
	# one more byte at the end of the program keeps it loadable
	printf '!' >>grown/prog
	[ "$(cd grown && m -- ./prog x)" != "$a" ]
	check program_byte_changes_digest $?
	# the caller's LD_LIBRARY_PATH does not leak into the loader (with DT_RUNPATH, as
	# built above, it would take precedence over $ORIGIN)
	mkdir evil && cp lib2.so evil/libmeasfix.so
	[ "$(LD_LIBRARY_PATH=$w/evil m -- app/prog)" = "$p1" ]
	check clean_loader_environment $?
fi

# --- sign -------------------------------------------------------------------------
expect sign_no_args 2 'usage: shelter sign' "$S" sign
expect keygen_no_file 2 'usage: shelter sign keygen KEYFILE' "$S" sign keygen
expect keygen_ok 0 '^[0-9a-f]{64}$' "$S" sign keygen tenant.key
[ "$(stat -c %a tenant.key)" = 600 ] && [ "$(stat -c %s tenant.key)" = 32 ]
check key_file_mode_and_size $? "($(stat -c '%a %s' tenant.key))"
cp tenant.key tenant.key.orig
expect keygen_refuses_overwrite 1 "create 'tenant.key': File exists" "$S" sign keygen tenant.key
cmp -s tenant.key tenant.key.orig
check keygen_left_key_alone $?
signer=$("$S" sign keygen other.key 2>/dev/null)
expect sign_missing_options 2 '--key, --product, --version and --out are required' \
	"$S" sign --key tenant.key --product p -- true
expect sign_bad_product 2 'product is 1-63 characters' \
	"$S" sign --key tenant.key --product 'a b' --version 1 --out x.sig -- true
expect sign_long_product 2 'product is 1-63' "$S" sign --key tenant.key \
	--product "$(printf 'p%.0s' $(seq 64))" --version 1 --out x.sig -- true
expect sign_bad_version 2 'version takes a number' \
	"$S" sign --key tenant.key --product p --version 4294967296 --out x.sig -- true
expect sign_bad_measurement 2 'measurement takes 64 hex' \
	"$S" sign --key tenant.key --product p --version 1 --out x.sig --measurement abc
expect sign_both_sources 2 'not both' \
	"$S" sign --key tenant.key --product p --version 1 --out x.sig --measurement "$d1" -- true
expect sign_no_source 2 'give --measurement HEX or -- PROGRAM' \
	"$S" sign --key tenant.key --product p --version 1 --out x.sig
expect sign_missing_key 1 "key file 'none.key'" \
	"$S" sign --key none.key --product p --version 1 --out x.sig -- true
expect sign_program 0 "signed redis version 3 for measurement $d1" \
	"$S" sign --key tenant.key --product redis --version 3 --out a.sig -- true
expect sign_hex_debug 0 "signed redis version 4 \(debug\) for measurement $d1" \
	"$S" sign --debug --key tenant.key --product redis --version 4 --out b.sig --measurement "$d1"
expect sign_measure_options 0 "" "$S" sign --key tenant.key --product redis --version 3 \
	--out c.sig --env-allow HOME -- true
[ "$(stat -c %s a.sig)" = 220 ]
check sigstruct_size $?
expect show_fields 0 "measurement: $d1" "$S" sign show a.sig
out=$("$S" sign show b.sig)
grep -q '^product: *redis$' <<<"$out" && grep -q '^version: *4$' <<<"$out" &&
	grep -q '^debug: *yes$' <<<"$out" && grep -q '^signature: *valid$' <<<"$out"
check show_debug_and_version $? "($out)"
out=$("$S" sign show c.sig 2>&1)
grep -q "measurement: $(m --env-allow HOME -- true)" <<<"$out"
check sign_uses_measure_options $?
tsigner=$("$S" sign show a.sig | sed -n 's/^signer: *//p')
[ "$tsigner" != "$signer" ] && [ -n "$tsigner" ]
check signer_is_per_key $?
cp a.sig t.sig && flip t.sig 200 0
expect show_tampered_signature 1 "signature: INVALID.*does not verify|does not verify" "$S" sign show t.sig
cp a.sig t.sig && flip t.sig 20 0
expect show_tampered_measurement 1 "does not verify" "$S" sign show t.sig
head -c 219 a.sig >t.sig
expect show_truncated 1 "219 bytes" "$S" sign show t.sig
expect show_not_sigstruct 1 "bad magic" "$S" sign show script.sh
expect show_missing 1 "No such file" "$S" sign show none.sig

# --- the committed vectors, recomputed with standard tools --------------------------
"$root/tests/vectors/measurement/make-vectors.sh" --check
check vectors_script_exit $?
g="$root/tests/vectors/measurement/sigstruct-v1.bin"
out=$("$S" sign show "$g")
grep -q "^measurement: $(cat "$root/tests/vectors/measurement/v1-basic.sha256")$" <<<"$out" &&
	grep -q '^product: *redis$' <<<"$out" && grep -q '^version: *7$' <<<"$out" &&
	grep -q '^created: .*(1700000000)$' <<<"$out" &&
	grep -q '^public key: *d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a$' <<<"$out" &&
	grep -q "^signer: *$(printf '%b' "$(printf d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a | sed 's/../\\x&/g')" | sha256sum | cut -c1-64)$" <<<"$out"
check golden_sigstruct_shows $? "($out)"

[ "$fails" -eq 0 ]
