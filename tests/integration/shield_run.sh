#!/usr/bin/env bash
# `shelter run` and the shield's start-up (docs/shield.md §1, §6): programs the shield
# cannot cover are refused, the local platform appears on first use, arguments and
# exit status pass through, volumes are created, reopened and refused when rolled
# back, tampered with, stripped of their record or opened by another program; CAS
# mode delivers arguments, environment, files and volume keys from a session.
# Programs run with the RELEASE shield (an ASan shield cannot be preloaded into them).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
S=${SHELTER:?set SHELTER to the shelter binary}
export SHELTER_SHIELD_LIB=${SHELTER_SHIELD_LIB:-$PWD/build/release/lib/libshelter-shield.so}
SUITE=shield_run
if [ ! -f "$SHELTER_SHIELD_LIB" ]; then
	fail shield_library "no $SHELTER_SHIELD_LIB: make BUILD=release all"
	exit 1
fi
w=$(mktemp -d)
cas_pid=
cleanup() {
	[ -n "$cas_pid" ] && kill -KILL "$cas_pid" 2>/dev/null
	rm -rf "$w"
}
trap cleanup EXIT
cd "$w"
# never the machine's own platform or state
export SHELTER_PLATFORM_DIR=$w/plat SHELTER_STATE_DIR=$w/state
unset SHELTER_CAS_URL SHELTER_CAS_CERT SHELTER_SESSION LD_PRELOAD LD_LIBRARY_PATH
CANARY=canary-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
run() { "$S" run "$@"; }
# the sealed tag record of a host directory (docs/shield.md §6.2)
tagfile() { echo "state/tags/$(realpath "$1" | tr -d '\n' | sha256sum | cut -c1-64).tag"; }

# --- usage errors (exit 2) ----------------------------------------------------------
expect no_program 2 'PROGRAM is missing' run
expect unknown_option 2 "see 'shelter run --help'" run --frobnicate -- /bin/true
expect volume_no_colon 2 'use HOSTDIR:PATH' run --volume nocolon -- /bin/true
expect volume_empty_host 2 'use HOSTDIR:PATH' run --volume :/data -- /bin/true
expect volume_relative_mount 2 "mount path 'data' is not absolute" run --volume d:data -- /bin/true
expect volume_dotdot 2 "'\.\.' is not allowed" run --volume d:/a/../b -- /bin/true
expect volume_root 2 "may not be '/'" run --volume d:/ -- /bin/true
expect volume_twice 2 'mount path /data is given twice' run --volume a:/data --volume b:/data/ -- /bin/true
expect cas_options_need_session 2 'need --session' run --cas https://127.0.0.1:1 -- /bin/true
expect env_needs_session 2 'need --session' run --env A=1 -- /bin/true
expect help 0 'usage: shelter run' run --help
expect listed_in_help 0 'run +start a program with the shield' "$S" --help

# --- programs the shield cannot cover (exit 126), or that do not exist (127) --------------
printf '#!/bin/sh\necho unprotected\n' >script.sh && chmod +x script.sh
expect non_elf_refused 126 "script.sh': the shield cannot cover it; refusing to run it unprotected: .*not an ELF" \
	run -- ./script.sh
printf 'int main(void) { return 0; }\n' >static.c
if cc -static -o static static.c 2>cc.log; then
	expect static_refused 126 "the shield cannot cover it; refusing to run it unprotected: .*static binary" \
		run -- ./static
else
	fail static_refused "cannot build a static binary: $(head -c 200 cc.log)"
fi
cp /bin/true setuid-true && chmod u+s setuid-true
expect setuid_refused 126 "set-user-ID.*would not preload the shield" run -- ./setuid-true
expect not_found 127 "program 'no-such-program-xyz' not found in PATH" run -- no-such-program-xyz
expect shield_missing 1 'shield library' env SHELTER_SHIELD_LIB=$w/none.so "$S" run -- /bin/true
[ ! -e plat ] && pass refusals_create_nothing || fail refusals_create_nothing "$(ls)"

# --- first use, arguments, exit status --------------------------------------------------
expect first_use_creates_platform 0 'created a local sim platform in .*/plat' run -- /bin/echo hello
expect platform_enrolled 0 'enrolled: +yes' "$S" platform show --dir plat
[ -d state/provider ] && pass local_provider || fail local_provider "$(ls state 2>&1)"
out=$(run -- /bin/echo hello 2>&1)
[ "$out" = hello ] && pass second_run_quiet || fail second_run_quiet "$out"
expect first_use_explicit_dirs 0 'created a local sim platform in .*/p2/plat \(provider in .*/s2/x/state/provider\)' \
	run --platform "$w/p2/plat" --state "$w/s2/x/state" -- /bin/true
expect args_pass_through 0 '^3:a b:c$' run -- sh -c 'echo "$#:$1:$3"' sh 'a b' '' c
expect exit_status_passes 7 '' run -- sh -c 'exit 7'
expect program_in_path 0 'from-path' run -- echo from-path
expect program_options_not_ours 0 '^--volume x$' run -- /bin/echo --volume x
expect loader_env_dropped 0 'LD_LIBRARY_PATH dropped' env LD_LIBRARY_PATH=$w "$S" run -- /bin/true
# the shield checks for itself: preloaded by hand, or with a library path, it refuses
expect preload_without_run 126 'refused: launch: SHELTER_SHIELD_VOLUMES is not set' \
	env LD_PRELOAD="$SHELTER_SHIELD_LIB" /bin/echo unprotected
expect preload_library_path 126 'refused: launch: LD_LIBRARY_PATH is set' \
	env LD_PRELOAD="$(realpath "$SHELTER_SHIELD_LIB")" SHELTER_SHIELD_VOLUMES= LD_LIBRARY_PATH=/tmp /bin/echo x
expect preload_extra_library 126 'refused: launch: LD_PRELOAD is' \
	env LD_PRELOAD="$(realpath "$SHELTER_SHIELD_LIB") /lib/x86_64-linux-gnu/libm.so.6" SHELTER_SHIELD_VOLUMES= /bin/echo x

# --- embedded volumes ----------------------------------------------------------------------
V=(--volume "$w/v1:/data")
expect volume_created 0 'volume /data: created in .*/v1' run "${V[@]}" -- sh -c "echo $CANARY > /data/f"
if [ -f v1/VOLUME ] && [ -d v1/log ] && [ "$(ls state/tags | wc -l)" = 1 ]; then
	pass volume_files
else
	fail volume_files "$(ls -R v1 state 2>&1 | head -c 300)"
fi
grep -rqa "$CANARY" v1 state && fail no_plaintext_on_host || pass no_plaintext_on_host
[ ! -e /data/f ] && pass nothing_at_mount_path_on_host || fail nothing_at_mount_path_on_host
expect volume_reopened 0 "^got $CANARY\$" run "${V[@]}" -- sh -c 'read l < /data/f; echo "got $l"'
# the plaintext cache's size (docs/shield.md §4): 0 turns it off, nonsense refuses
expect cache_off_reads_back 0 "^got $CANARY\$" env SHELTER_SHIELD_CACHE_MB=0 \
	"$S" run "${V[@]}" -- sh -c 'read l < /data/f; echo "got $l"'
expect cache_size_refused 126 "SHELTER_SHIELD_CACHE_MB='64M': want a whole number of MiB" \
	env SHELTER_SHIELD_CACHE_MB=64M "$S" run "${V[@]}" -- /bin/true
expect cache_size_too_big 126 "SHELTER_SHIELD_CACHE_MB='99999'" \
	env SHELTER_SHIELD_CACHE_MB=99999 "$S" run "${V[@]}" -- /bin/true
# exec: the new program starts its own shield even from an emptied environment,
# is measured as itself, and in embedded mode cannot open this volume (§1.7)
expect exec_stays_shielded 0 '^LD_PRELOAD=.*libshelter-shield' run -- sh -c 'env -i /usr/bin/env'
expect exec_other_program_refused 126 'refused: volume /data .*wrong key' \
	run "${V[@]}" -- sh -c 'exec env -i /bin/cat /data/f'
expect volume_append 0 '' run "${V[@]}" -- sh -c 'echo second >> /data/f'
expect volume_two_lines 0 "^$CANARY,second\$" run "${V[@]}" -- \
	sh -c '{ read a; read b; } < /data/f; echo "$a,$b"'
expect sqlite_create 0 '' run --volume "$w/db:/db" -- sqlite3 /db/t.db \
	"create table t(x); insert into t values('$CANARY');"
expect sqlite_read_back 0 "^$CANARY\$" run --volume "$w/db:/db" -- sqlite3 /db/t.db 'select x from t;'
expect sqlite_integrity 0 '^ok$' run --volume "$w/db:/db" -- sqlite3 /db/t.db 'pragma integrity_check;'
grep -rqa "$CANARY" db && fail sqlite_no_plaintext || pass sqlite_no_plaintext

# signer sealing (§1.4): keys bound to the tenant's signer and product, so an
# upgrade the tenant signs opens the data of the old version; nothing else does
cat >app.c <<'EOF'
#include <stdio.h>
int main(int argc, char **argv)
{
	FILE *f = fopen("/data/app", argc > 1 ? "a" : "r");
	char line[256];

	if (f == NULL) {
		perror("/data/app");
		return 1;
	}
	if (argc > 1)
		fprintf(f, "%s\n", argv[1]);
	else
		while (fgets(line, sizeof(line), f) != NULL)
			fputs(line, stdout);
	puts(VERSION);
	return fclose(f) == 0 ? 0 : 1;
}
EOF
cc -DVERSION='"v1"' -o app1 app.c && cc -DVERSION='"v2"' -o app2 app.c || fail apps_build
"$S" sign keygen tenant.key >/dev/null 2>&1 && "$S" sign keygen other.key >/dev/null 2>&1
signit() { # KEY VERSION PROGRAM OUT: the embedded measurement is of the real path
	"$S" sign --key "$1" --product app --version "$2" \
		--shield "$(realpath "$SHELTER_SHIELD_LIB")" --volume /data \
		--out "$4" -- "$(realpath "$3")" >/dev/null
}
signit tenant.key 1 app1 app1.sig && signit tenant.key 2 app2 app2.sig &&
	signit other.key 3 app2 other.sig || fail signing
SV=(--volume "$w/sv:/data")
expect signed_v1_writes 0 '^v1$' run --sigstruct app1.sig "${SV[@]}" -- ./app1 "$CANARY"
expect signed_upgrade_reads 0 "^$CANARY\$" run --sigstruct app2.sig "${SV[@]}" -- ./app2
expect unsigned_refused 126 'wrong key.*another measurement' run "${SV[@]}" -- ./app2
expect other_signer_refused 126 'wrong key.*another signer or product' \
	run --sigstruct other.sig "${SV[@]}" -- ./app2
expect sigstruct_of_other_program 126 'refused: launch: sigstruct is for measurement' \
	run --sigstruct app1.sig "${SV[@]}" -- ./app2
grep -rqa "$CANARY" sv && fail signed_no_plaintext || pass signed_no_plaintext

# a missing record is refused: deleting it is how a rollback would be hidden
mv state/tags state/tags.saved
expect no_tag_refused 126 'refused: volume /data .*no recorded tag.*--adopt-volumes' \
	run "${V[@]}" -- sh -c 'echo unreachable'
expect adopt_accepts 0 "security: volume /data .*adopted as it is" \
	run --adopt-volumes "${V[@]}" -- sh -c 'read l < /data/f; echo "got $l"'
expect adopt_recorded 0 "^got $CANARY\$" run "${V[@]}" -- sh -c 'read l < /data/f; echo "got $l"'
rm -rf state/tags && mv state/tags.saved state/tags

# rollback: an old copy of the volume put back after the program moved on
cp -a v1 v1.old
expect change_after_copy 0 '' run "${V[@]}" -- sh -c 'echo third >> /data/f'
cp -a v1 v1.new && rm -rf v1 && cp -a v1.old v1
expect rollback_refused 126 'refused: volume /data \(.*v1\): rolled back.*stale' \
	run "${V[@]}" -- sh -c 'echo unreachable'
rm -rf v1 && cp -a v1.new v1
expect newest_still_opens 0 '^third$' run "${V[@]}" -- sh -c 'while read l; do last=$l; done < /data/f; echo "$last"'

# the volume deleted while its record remains
mv v1 v1.moved
expect deleted_volume_refused 126 'refused: volume /data .*empty: the volume was deleted or rolled back' \
	run "${V[@]}" -- sh -c 'echo unreachable'
rm -rf v1 && mv v1.moved v1

# tampering: a flipped bit in the log, in the tag record
seg=$(ls v1/log/*.seg | head -1)
cp "$seg" seg.good
flip "$seg" $(($(stat -c %s "$seg") / 2)) 3
expect tampered_volume_refused 126 'refused: volume /data \(.*v1\): ' run "${V[@]}" -- sh -c 'cat </data/f'
cp seg.good "$seg"
tagf=$(tagfile v1)
cp "$tagf" tag.good
flip "$tagf" 50 0
expect tampered_tag_refused 126 'refused: volume /data .*tag file .* does not authenticate' \
	run "${V[@]}" -- sh -c 'echo unreachable'
cp tag.good "$tagf"
expect intact_again 0 '^ok$' run "${V[@]}" -- sh -c 'echo ok'

# another program, or another volume list, is another measurement: another key
if [ -x /bin/bash ]; then
	expect other_program_refused 126 'refused: volume /data .*wrong key' \
		run "${V[@]}" -- /bin/bash -c 'echo unreachable'
else
	fail other_program_refused "no /bin/bash to play the other program"
fi
expect other_volume_list_refused 126 'refused: volume /data .*wrong key' \
	run "${V[@]}" --volume "$w/v2:/other" -- sh -c 'echo unreachable'
expect same_program_still_opens 0 '^ok$' run "${V[@]}" -- sh -c 'echo ok'

# the tag is recorded on fsync too (at most once a second), not only at exit: a
# program killed after a sync leaves a record the next start accepts
P=(--volume "$w/py:/data")
expect py_created 0 '' run "${P[@]}" -- /usr/bin/python3 -c 'pass'
pytag=$(tagfile py)
before=$(od -An -tx1 "$pytag" | tr -d ' \n')
expect killed_after_sync 137 '' run "${P[@]}" -- /usr/bin/python3 -c '
import os, signal, time
time.sleep(1.2)
fd = os.open("/data/p", os.O_CREAT | os.O_WRONLY, 0o600)
os.write(fd, b"synced")
os.fsync(fd)
os.kill(os.getpid(), signal.SIGKILL)'
after=$(od -An -tx1 "$pytag" | tr -d ' \n')
[ -n "$before" ] && [ "$before" != "$after" ] && pass sync_recorded_tag || fail sync_recorded_tag
expect killed_state_opens 0 '^synced$' run "${P[@]}" -- /usr/bin/python3 -c 'print(open("/data/p").read())'

# --- CAS mode -------------------------------------------------------------------------------
mkdir cas && cd cas
start_cas() {
	rm -f data/cas.addr
	"$S" cas serve --listen 127.0.0.1:0 --data data --platform plat1 2>cas.log &
	cas_pid=$!
	for _ in $(seq 100); do
		[ -s data/cas.addr ] && break
		kill -0 "$cas_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -s data/cas.addr ] || return 1
	export SHELTER_CAS_URL=https://$(cat data/cas.addr) SHELTER_CAS_CERT=$PWD/data/cas.crt
}
if "$S" provider init acme --name acme >/dev/null && "$S" platform init --dir plat1 --name node-1 >/dev/null &&
	"$S" provider enroll acme plat1/platform.csr --out p1.crt >/dev/null 2>&1 &&
	"$S" platform install-cert --dir plat1 p1.crt >/dev/null && start_cas &&
	"$S" session keygen owner.key >/dev/null; then
	pass cas_setup
else
	fail cas_setup "$(cat cas.log 2>/dev/null)"
	exit 1
fi
PROG=(sh -c 'echo host-args-ignored')
M=$("$S" measure --shield "$SHELTER_SHIELD_LIB" --volume /data -- "${PROG[@]}")
cat >app.yaml <<EOF
name: app
accept:
  measurements: [$M]
  providers:
    - name: acme
      ca: |
$(sed 's/^/        /' acme/ca.crt)
  allow_sim: true
secrets:
  - name: pw
    kind: password
    size: 24
launch:
  args: [sh, -c, 'echo "pw=\$PW tz=\$TZ home=\$HOME n=\$#"; read t < /run/secrets/dir/token; echo "file=\$t"; echo "\$PW" >> /data/log; while read l; do n=\$((n+1)); done < /data/log; echo "lines=\$n"']
  host_env: [TZ]
  env:
    PW: "{{pw}}"
  files:
    /run/secrets/dir/token: "tok-{{pw}}"
volumes:
  - name: data
    path: /data
EOF
"$S" session apply app.yaml --owner-key owner.key >/dev/null && "$S" provider publish acme >/dev/null ||
	fail cas_session "$(tail -3 cas.log)"
C=(--session app --platform plat1 --volume "$PWD/cv:/data")
secrets_before=$(ls -d /dev/shm/shelter-secrets-* 2>/dev/null | sort)
out=$(TZ=Europe/Zurich HOME=/root run "${C[@]}" -- "${PROG[@]}" 2>&1)
pw=$(sed -n 's/^pw=\([A-Za-z0-9]*\) .*/\1/p' <<<"$out")
if [ ${#pw} -eq 24 ] && grep -q "^pw=$pw tz=Europe/Zurich home= n=0\$" <<<"$out" &&
	grep -q "^file=tok-$pw\$" <<<"$out" && grep -q '^lines=1$' <<<"$out"; then
	pass cas_env_args_file_volume
else
	fail cas_env_args_file_volume "$out"
fi
grep -rqa "$pw" cv && fail cas_no_plaintext || pass cas_no_plaintext
# only this run's directory counts: other programs on the machine may hold theirs
left=$(comm -13 <(echo "$secrets_before") <(ls -d /dev/shm/shelter-secrets-* 2>/dev/null | sort))
[ -z "$left" ] && pass cas_secrets_removed || fail cas_secrets_removed "$left"
expect cas_tag_recorded 0 'volume +data tag [0-9a-f]{64}' "$S" session show app --owner-key owner.key
cp -a cv cv.old
expect cas_second_run 0 '^lines=2$' run "${C[@]}" -- "${PROG[@]}"
rm -rf cv && cp -a cv.old cv
expect cas_rollback_refused 126 'refused: volume /data .*rolled back' run "${C[@]}" -- "${PROG[@]}"
expect cas_other_args_refused 126 'refused: attest to session app.*measurement-not-accepted' \
	run "${C[@]}" -- sh -c 'echo other'
expect cas_needs_url 2 'needs --cas URL' env -u SHELTER_CAS_URL "$S" run "${C[@]}" -- "${PROG[@]}"
kill -TERM "$cas_pid" && wait "$cas_pid"
cas_pid=
[ "$fails" -eq 0 ]
