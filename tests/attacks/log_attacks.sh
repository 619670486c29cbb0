#!/usr/bin/env bash
# Attack suite for the verifiable log: the table of docs/formats/log.md §7.3 from the
# outside, with tests/helpers/log_tool (the host may edit, cut, splice, reorder,
# replace and roll back any file of the store).
#
# A reference store is built in two runs of `log_tool append` (2 threads syncing every
# 10 appends: 100 entries, a copy of the whole store kept as "old", then 300 more),
# so its anchor and DIR/checkpoint name 400 entries. Every attack runs on a fresh
# copy and checks both sides:
#   (a) the writer: `log_tool check DIR ACKS` (open, then every acknowledged entry at
#       its index) must fail with the error the table names, or pass when the table
#       says the change is harmless or undetectable with a local anchor;
#   (b) the auditor: `log_tool audit DIR` (against DIR/checkpoint) likewise.
# Frames are edited either bluntly (their torn-write hash then fails, §5) or, where
# the table row is about the tree, with the frame hash recomputed, as anyone can
# (§5: the hash is not a security mechanism), so that only the tree (§2) and the
# anchor (§7) can catch the change.
#
# Environment: SHELTER_BUILD (default build/asan; log_tool under $SHELTER_BUILD/tests),
# TMPDIR. Prints "PASS log_attacks:<case>" or "FAIL log_attacks:<case>" with the
# reasons; exits 1 if any failed. LOG_ATTACKS_VERBOSE=1 also shows every answer.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
SUITE=log_attacks
source tests/lib.sh # flip

B=${SHELTER_BUILD:-build/asan}
T=$B/tests/log_tool
case $T in /*) ;; *) T=$PWD/$T ;; esac
if [ ! -x "$T" ]; then
	echo "FAIL log_attacks:setup (helper $T not built)"
	exit 1
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/log_attacks.XXXXXX")
trap 'rm -rf "$W"' EXIT
failures=0
A=400 # the anchored size of the reference store

# ---- small tools (bash and coreutils only) -------------------------------------------

# u FILE OFFSET SIZE: an unsigned big-endian integer of the file
u() {
	local v=0 b
	for b in $(od -An -tu1 -j "$2" -N "$3" "$1"); do
		v=$((v * 256 + b))
	done
	echo "$v"
}

# unhex HEXBYTES: the bytes to stdout
unhex() {
	local hex=$1 esc=''
	while [ -n "$hex" ]; do
		esc+="\\x${hex:0:2}"
		hex=${hex:2}
	done
	printf "$esc"
}

# put FILE OFFSET HEXBYTES: overwrite bytes in place
put() {
	unhex "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# b64_change FILE OFFSET: another base64 letter at OFFSET (a signature stays base64)
b64_change() {
	local c
	c=$(bytes "$1" "$2" 1)
	if [ "$c" = A ]; then put "$1" "$2" 42; else put "$1" "$2" 41; fi
}

# bytes FILE OFFSET COUNT: a byte range to stdout
bytes() {
	tail -c +$(($2 + 1)) "$1" | head -c "$3"
}

# The frames of a log (§5), from its header on: FOFF[k] FSIZE[k] FFIRST[k] FCOUNT[k].
frames() {
	local f=$1 off size
	FOFF=() FSIZE=() FFIRST=() FCOUNT=()
	off=$((9 + $(u "$f" 8 1) + 64))
	size=$(stat -c %s "$f")
	while ((off + 20 <= size)); do
		FOFF+=("$off")
		FCOUNT+=("$(u "$f" $((off + 4)) 4)")
		FFIRST+=("$(u "$f" $((off + 8)) 8)")
		FSIZE+=($((20 + $(u "$f" $((off + 16)) 4) + 32)))
		off=$((off + ${FSIZE[-1]}))
	done
}

# rehash FILE OFFSET: recompute the hash of the frame at OFFSET (anyone can, §5)
rehash() {
	local p
	p=$(u "$1" $(($2 + 16)) 4)
	put "$1" $(($2 + 20 + p)) "$(bytes "$1" "$2" $((20 + p)) | sha256sum | cut -c1-64)"
}

# set_first FILE OFFSET INDEX: the frame's first-index field, rehashed
set_first() {
	put "$1" $(($2 + 8)) "$(printf '%016x' "$3")"
	rehash "$1" "$2"
}

fresh() { # fresh NAME [BASE]: a new copy of the reference store (or of BASE) in $V
	V=$W/a/$1
	rm -rf "$V"
	cp -a "${2:-$W/ref}" "$V"
}

# ---- outcome checks ------------------------------------------------------------------

why='' trace=''
note() {
	local line
	while IFS= read -r line; do
		why+="    $line"$'\n'
	done <<<"$*"
}

result() {
	if [ -z "$why" ]; then
		echo "PASS $SUITE:$1"
	else
		echo "FAIL $SUITE:$1"
		printf '%s' "$why"
		failures=$((failures + 1))
	fi
	[ -n "${LOG_ATTACKS_VERBOSE:-}" ] && printf '%s' "$trace"
	why='' trace=''
}

# run WHAT CMD...: sets out (stdout+stderr) and rc
run() {
	local what=$1
	shift
	out=$("$@" 2>&1)
	rc=$?
	trace+="    | $what -> exit $rc: $(head -c 300 <<<"$out" | tr '\n' ' ')"$'\n'
}

# expect_check REGEX [ACKS]: the writer refuses to open with a message matching REGEX
expect_check() {
	run check "$T" check "$V" "${2:-$W/acks}"
	if [ "$rc" -ne 1 ] || ! grep -qE -- "log_tool: open: .*($1)" <<<"$out"; then
		note "check: exit $rc, wanted 1 and an open error matching /$1/; output:"
		note "$(head -c 600 <<<"$out")"
	fi
}

# expect_check_ok [ACKS] [SIZE]: the writer opens and every acknowledged entry is there
expect_check_ok() {
	run check "$T" check "$V" "${1:-$W/acks}"
	if [ "$rc" -ne 0 ] || ! grep -qx "size ${2:-$A}" <<<"$out"; then
		note "check: exit $rc, wanted 0 and size ${2:-$A}; output:"
		note "$(head -c 600 <<<"$out")"
	fi
}

# expect_audit REGEX: the audit (against DIR/checkpoint) fails with REGEX
expect_audit() {
	run audit "$T" audit "$V"
	if [ "$rc" -ne 1 ] || ! grep -qE -- "log_tool: audit: .*($1)" <<<"$out"; then
		note "audit: exit $rc, wanted 1 and an error matching /$1/; output:"
		note "$(head -c 600 <<<"$out")"
	fi
}

# expect_audit_ok ENTRIES CHECKPOINT
expect_audit_ok() {
	run audit "$T" audit "$V"
	if [ "$rc" -ne 0 ] || ! grep -qx "entries $1 checkpoint $2" <<<"$out"; then
		note "audit: exit $rc, wanted 0 and 'entries $1 checkpoint $2'; output:"
		note "$(head -c 600 <<<"$out")"
	fi
}

# The answers of §7.3 and §6.3, as log_tool prints them ("anchored" for open, "given"
# for the audit's checkpoint).
ALTERED='TAMPER ALARM: the entries below the (anchored|given) checkpoint \(size 400\) are not the ones it signed'
INVALID="TAMPER ALARM: frame at offset [0-9]+ \\(entry [0-9]+\\) is not valid .* but the (anchored|given) checkpoint names $A entries"
FEWER="TAMPER ALARM: [0-9]+ entries, but the (anchored|given) checkpoint names $A"

# ---- the reference store ---------------------------------------------------------------

mkdir -p "$W/a"
if ! "$T" append "$W/ref" 50 2 10 >"$W/old.acks" 2>"$W/build.err" ||
	! cp -a "$W/ref" "$W/old" ||
	! "$T" append "$W/ref" 150 2 10 >"$W/new.acks" 2>>"$W/build.err"; then
	echo "FAIL log_attacks:setup (could not build the reference store: $(head -c 300 "$W/build.err"))"
	exit 1
fi
cat "$W/old.acks" "$W/new.acks" >"$W/acks"
L=log
frames "$W/ref/$L"
NF=${#FOFF[@]}
MID=$((NF / 2))
if [ "$(wc -l <"$W/acks")" -ne $A ] || [ "$NF" -lt 8 ] ||
	[ $((FFIRST[NF - 1] + FCOUNT[NF - 1])) -ne $A ]; then
	echo "FAIL log_attacks:setup (reference store unexpected: $(wc -l <"$W/acks") acks, $NF frames)"
	exit 1
fi
# another log's checkpoint (tests/vectors/log: another origin and key)
grep -v '^#' tests/vectors/log/checkpoint.txt | tail -n +2 >"$W/foreign.note"

fresh reference
expect_check_ok
expect_audit_ok $A $A
result reference-store-intact

# ---- entries below the anchor edited ---------------------------------------------------

# A flipped bit in an entry: the frame's hash fails, so the frame reads as torn,
# below the anchor (a frame damaged below A: TRUNCATED).
fresh flip-entry
flip "$V/$L" $((FOFF[MID] + 20 + 4)) 1
expect_check "$INVALID"
expect_audit "$INVALID"
result flip-entry-below-anchor

# The same with the frame hash recomputed: only the root at A catches it (INTEGRITY).
fresh edit-entry
flip "$V/$L" $((FOFF[MID] + 20 + 4)) 1
rehash "$V/$L" "${FOFF[MID]}"
expect_check "$ALTERED"
expect_audit "$ALTERED"
result edit-entry-below-anchor-rehashed

# the first and the last entry of the log, rehashed
fresh edit-first-entry
flip "$V/$L" $((FOFF[0] + 20 + 2)) 0
rehash "$V/$L" "${FOFF[0]}"
expect_check "$ALTERED"
expect_audit "$ALTERED"
result edit-first-entry-rehashed

fresh edit-last-entry
flip "$V/$L" $((FOFF[NF - 1] + FSIZE[NF - 1] - 32 - 1)) 2
rehash "$V/$L" "${FOFF[NF - 1]}"
expect_check "$ALTERED"
expect_audit "$ALTERED"
result edit-last-entry-rehashed

# a frame's length fields damaged below A (§7.3): count, payload size, magic, hash
for field in count:7 payload:19 magic:1 hash:-5 first:15; do
	fresh "damage-${field%%:*}"
	at=${field#*:}
	((at < 0)) && at=$((FSIZE[MID] + at))
	flip "$V/$L" $((FOFF[MID] + at)) 0
	expect_check "$INVALID"
	expect_audit "$INVALID"
	result "damage-frame-${field%%:*}-below-anchor"
done

# ---- entries removed, the log cut ------------------------------------------------------

fresh cut-boundary
truncate -s "${FOFF[MID]}" "$V/$L"
expect_check "$FEWER"
expect_audit "$FEWER"
result cut-log-at-frame-boundary

fresh cut-mid-frame
truncate -s $((FOFF[MID] + FSIZE[MID] / 2)) "$V/$L"
expect_check "$INVALID"
expect_audit "$INVALID"
result cut-log-mid-frame

fresh cut-header-only
truncate -s "${FOFF[0]}" "$V/$L"
expect_check "$FEWER"
expect_audit "$FEWER"
result cut-log-to-its-header

fresh cut-last-frame
truncate -s "${FOFF[NF - 1]}" "$V/$L"
expect_check "$FEWER"
expect_audit "$FEWER"
result cut-last-frame-below-anchor

# delete a middle frame: the next one starts at the wrong index
splice_out() { # splice_out K: remove frame K from $V/$L
	{
		head -c "${FOFF[$1]}" "$W/ref/$L"
		tail -c +$((FOFF[$1] + FSIZE[$1] + 1)) "$W/ref/$L"
	} >"$V/$L"
}
fresh delete-frame
splice_out $MID
expect_check "$INVALID"
expect_audit "$INVALID"
result delete-middle-frame

# ... and with every later frame renumbered and rehashed: fewer entries than A
fresh delete-frame-renumbered
splice_out $MID
for ((k = MID + 1; k < NF; k++)); do
	set_first "$V/$L" $((FOFF[k] - FSIZE[MID])) $((FFIRST[k] - FCOUNT[MID]))
done
expect_check "$FEWER"
expect_audit "$FEWER"
result delete-middle-frame-renumbered

# ---- entries swapped or reordered ------------------------------------------------------

swap_frames() { # swap_frames K: frames K and K+1 change places, as they are
	local a=$1 b=$(($1 + 1))
	{
		head -c "${FOFF[a]}" "$W/ref/$L"
		bytes "$W/ref/$L" "${FOFF[b]}" "${FSIZE[b]}"
		bytes "$W/ref/$L" "${FOFF[a]}" "${FSIZE[a]}"
		tail -c +$((FOFF[b] + FSIZE[b] + 1)) "$W/ref/$L"
	} >"$V/$L"
}
fresh swap-frames
swap_frames $MID
expect_check "$INVALID"
expect_audit "$INVALID"
result swap-two-frames

# renumbered and rehashed: every frame is valid, the order of entries is not
fresh swap-frames-renumbered
swap_frames $MID
set_first "$V/$L" "${FOFF[MID]}" "${FFIRST[MID]}"
set_first "$V/$L" $((FOFF[MID] + FSIZE[MID + 1])) $((FFIRST[MID] + FCOUNT[MID + 1]))
expect_check "$ALTERED"
expect_audit "$ALTERED"
result swap-two-frames-renumbered

# two entries of the same length inside one frame, rehashed ("t0 n51 P", "t0 n52 P")
fresh swap-entries
f='' s1=0
for ((k = MID; k < NF; k++)); do
	s1=$(u "$V/$L" $((FOFF[k] + 20)) 2)
	if [ "${FCOUNT[k]}" -ge 2 ] && [ "$(u "$V/$L" $((FOFF[k] + 22 + s1)) 2)" -eq "$s1" ]; then
		f=${FOFF[k]}
		break
	fi
done
if [ -z "$f" ]; then
	note "no frame from $MID on starts with two entries of the same size"
else
	e1=$(bytes "$V/$L" $((f + 22)) "$s1" | od -An -tx1 | tr -d ' \n')
	e2=$(bytes "$V/$L" $((f + 24 + s1)) "$s1" | od -An -tx1 | tr -d ' \n')
	put "$V/$L" $((f + 22)) "$e2"
	put "$V/$L" $((f + 24 + s1)) "$e1"
	rehash "$V/$L" "$f"
	expect_check "$ALTERED"
	expect_audit "$ALTERED"
fi
result swap-two-entries-rehashed

# ---- older copies, forged notes ----------------------------------------------------------

fresh older-log
cp "$W/old/$L" "$V/$L"
expect_check "$FEWER"
expect_audit "$FEWER"
result log-replaced-by-older-copy

# DIR/checkpoint is for readers: open never reads it, the audit refuses a note the
# log's key did not sign (UNTRUSTED) or whose signature is bad (INTEGRITY).
fresh foreign-checkpoint
cp "$W/foreign.note" "$V/checkpoint"
expect_check_ok
expect_audit 'note: not signed by test.shelter.example/log'
result checkpoint-replaced-by-another-keys

fresh forged-checkpoint
b64_change "$V/checkpoint" $(($(stat -c %s "$V/checkpoint") - 20))
expect_check_ok
expect_audit 'note: the signature of test.shelter.example/log does not verify'
result checkpoint-signature-forged

# the anchor replaced by a forged note: open refuses (UNTRUSTED, INTEGRITY)
fresh foreign-anchor
cp "$W/foreign.note" "$V/anchor"
expect_check 'the anchored checkpoint: note: not signed by test.shelter.example/log'
expect_audit_ok $A $A
result anchor-replaced-by-another-keys

fresh forged-anchor
b64_change "$V/anchor" $(($(stat -c %s "$V/anchor") - 20))
expect_check 'the anchored checkpoint: note: the signature of test.shelter.example/log does not verify'
result anchor-signature-forged

fresh edited-anchor
sed -i '2s/^400$/399/' "$V/anchor" # the size line, under the old signature
expect_check 'the anchored checkpoint: note: the signature of test.shelter.example/log does not verify'
result anchor-size-edited

# The anchor alone replaced by an older genuine note: the log still extends it, and
# only a freshness anchor can say it is stale (§7.2, §7.3). Accepted here.
fresh older-anchor
cp "$W/old/anchor" "$V/anchor"
expect_check_ok
expect_audit_ok $A $A
result older-anchor-alone-is-accepted-local-anchor-limitation

# The documented limitation of the local anchor (§7.2): the log and the anchor (and
# the derived files and DIR/checkpoint) rolled back together are a consistent older
# store. Accepted: the writer opens it at 100 entries, the audit passes. Only a
# freshness anchor, or a client holding a later checkpoint, detects this.
fresh rollback-together
rm -rf "$V"
cp -a "$W/old" "$V"
expect_check_ok "$W/old.acks" 100
expect_audit_ok 100 100
run check-new "$T" check "$V" "$W/new.acks"
if [ "$rc" -eq 0 ]; then
	note "the rolled-back store holds the entries acknowledged after the snapshot?"
fi
result rollback-log-and-anchor-together-is-accepted-documented-limitation

# ... but a client holding a later checkpoint (given with an inclusion proof, say)
# catches it (§7.3: entries above the anchor cut or edited): the audit against the
# client's note finds too few entries, or, after the host appended others in their
# place (a fork), other entries.
fresh client-view "$W/ref"
"$T" checkpoint "$V" >"$W/client.note" 2>&1 || note "checkpoint: $(cat "$W/client.note")"
rm -rf "$V"
cp -a "$W/old" "$V"
run audit-client "$T" audit "$V" "$W/client.note"
if [ "$rc" -ne 1 ] || ! grep -qE -- "$FEWER" <<<"$out"; then
	note "audit against the client's checkpoint: exit $rc, wanted 1 and /$FEWER/: $out"
fi
result rollback-together-caught-by-a-clients-later-checkpoint

fresh client-fork "$W/old"
if ! "$T" append "$V" 150 2 10 >/dev/null 2>&1; then
	note "could not append to the rolled-back copy"
fi
run audit-client "$T" audit "$V" "$W/client.note"
if [ "$rc" -ne 1 ] || ! grep -qE -- "$ALTERED" <<<"$out"; then
	note "audit of a fork against the client's checkpoint: exit $rc, wanted 1 and /$ALTERED/: $out"
fi
expect_audit_ok $A $A # the fork is consistent with its own checkpoint
result fork-after-rollback-caught-by-a-clients-later-checkpoint

# the log removed while the anchor stays
fresh delete-log
rm "$V/$L"
expect_check 'is missing but a checkpoint was anchored: TAMPER ALARM'
result delete-log-with-anchor

# ---- the header (§4.1) -------------------------------------------------------------------

fresh header-hash
flip "$V/$L" $((FOFF[0] - 3)) 4
expect_check 'log header: hash mismatch'
expect_audit 'log header: hash mismatch'
result flip-header-hash

fresh header-origin
flip "$V/$L" 12 0
expect_check 'log header: hash mismatch'
expect_audit 'log header: hash mismatch'
result flip-header-origin

fresh header-foreign
o=$(u "$V/$L" 8 1)
# another origin with a correct header hash: anyone can write one
{
	printf 'SHLOG\x00\x00\x01\x11other.example/log'
	bytes "$W/ref/$L" $((9 + o)) 32
} >"$W/hdr"
{
	cat "$W/hdr"
	unhex "$(sha256sum <"$W/hdr" | cut -c1-64)"
	tail -c +$((FOFF[0] + 1)) "$W/ref/$L"
} >"$V/$L"
expect_check "belongs to 'other.example/log'"
expect_audit "is the log of 'other.example/log'"
result header-of-another-log

# ---- derived files: rebuilt by every writer open (§4, §6.3) -------------------------------

derived_same() { # the repaired derived files equal the reference's
	local f
	for f in index tile-0 tile-1; do
		cmp -s "$V/$f" "$W/ref/$f" || note "'$f' not rebuilt as the reference's"
	done
}
fresh tile0-truncated
truncate -s 100 "$V/tile-0"
expect_check_ok
derived_same
expect_audit_ok $A $A
result tile-0-truncated-is-repaired

fresh index-garbled
head -c "$(stat -c %s "$V/index")" /dev/urandom >"$V/index"
expect_check_ok
derived_same
result index-garbled-is-repaired

fresh derived-deleted
rm -f "$V/index" "$V"/tile-*
expect_check_ok
derived_same
result derived-files-deleted-are-repaired

fresh tile1-garbled
printf 'not a hash tile' >"$V/tile-1"
expect_check_ok
derived_same
result tile-1-garbled-is-repaired

[ "$failures" -eq 0 ]
