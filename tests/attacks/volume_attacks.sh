#!/usr/bin/env bash
# Attack suite for protected volumes (docs/formats/volume.md; threat model in
# The threat model (docs/threat-model.md): the host may modify, delete, replay, reorder, roll back and swap anything
# on disk). Every attack runs on a fresh copy of a reference volume that holds small,
# multi-chunk and sparse files, a symlink and nested directories spread over five
# 64 KiB segments, and checks both sides:
#   (a) `shelter volume verify` exits 1 with a problem line of the expected kind
#       (naming the plaintext path for file-data damage), and
#   (b) the library does not serve wrong data: `vol_attack check` opens the volume
#       (with the expected tag where freshness is the point), reads every file and
#       compares with the original; it must be refused (REFUSED, or PARTIAL: the
#       damaged files fail to read) and never WRONG (altered bytes served).
# Attacks that provably change nothing a program reads assert exactly that instead:
# verify passes and the content (and tag) is identical.
# Also: bit-flip sweeps over whole files (tests/helpers/vol_attack.c runs the
# library's verify, which the CLI prints, and an open + full read for every flip),
# changes made while the volume is open, and the same attacks on a compacted volume
# (a checkpoint segment, §10).
# Prints PASS/FAIL <name> per attack; exits 1 if any failed. VOLUME_ATTACKS_VERBOSE=1
# also shows what verify and the library answered for every attack.
set -uo pipefail
SUITE=volume_attacks
source "$(dirname "$0")/../lib.sh" # flip

S=${SHELTER:?set SHELTER to the shelter binary}
B=${SHELTER_BUILD:?set SHELTER_BUILD to the build directory}
H=$B/tests/vol_attack
case $H in /*) ;; *) H=$PWD/$H ;; esac
if [ ! -x "$H" ]; then
	echo "FAIL volume_attacks:setup (helper $H not built)"
	exit 1
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
failures=0

# ---- small tools (bash and coreutils only) -------------------------------------------

seg() { printf '%s/log/%016x.seg' "$1" "$2"; }

# put FILE OFFSET HEXBYTES: overwrite bytes in place
put() {
	local hex=$3 esc=''
	while [ -n "$hex" ]; do
		esc+="\\x${hex:0:2}"
		hex=${hex:2}
	done
	printf "$esc" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# copy_bytes SRC SOFF DST DOFF COUNT: copy a byte range between (or within) files
copy_bytes() {
	dd if="$1" of="$W/bytes" bs=1 skip="$2" count="$5" status=none &&
		dd if="$W/bytes" of="$3" bs=1 seek="$4" conv=notrunc status=none
}

fresh() { # fresh NAME [BASE]: a new copy of the reference volume (or of BASE) in $V
	V=$W/a/$1
	rm -rf "$V"
	cp -a "${2:-$W/ref}" "$V"
}

# ---- outcome checks ------------------------------------------------------------------
# Each attack collects reasons in $why; result prints PASS or FAIL with them.

why='' trace=''
note() { # every line of the arguments, indented
	local line
	while IFS= read -r line; do
		why+="    $line"$'\n'
	done <<<"$*"
}

result() {
	if [ -z "$why" ]; then
		echo "PASS volume_attacks:$1"
	else
		echo "FAIL volume_attacks:$1"
		printf '%s' "$why"
		failures=$((failures + 1))
	fi
	# VOLUME_ATTACKS_VERBOSE=1 shows what verify and the library answered
	[ -n "${VOLUME_ATTACKS_VERBOSE:-}" ] && printf '%s' "$trace"
	why='' trace=''
	MANIFEST=$W/ref.manifest PLAIN=$W/plain
}

# run_verify V [KEY] [TAG]: sets vout (stdout+stderr) and vrc
run_verify() {
	local k=${2:-$W/key}
	if [ -n "${3:-}" ]; then
		vout=$("$S" volume verify "$1" --key-file "$k" --tag "$3" 2>&1)
	else
		vout=$("$S" volume verify "$1" --key-file "$k" 2>&1)
	fi
	vrc=$?
	trace+="    | verify${3:+ --tag}$([ "$k" = "$W/key" ] || echo " (key $(basename "$k"))") -> exit $vrc"$'\n'
	trace+=$(while IFS= read -r l; do echo "    |   $l"; done <<<"$vout")$'\n'
}

# has_line REGEX TEXT: some line of TEXT matches the extended regex
has_line() {
	local line
	while IFS= read -r line; do
		[[ $line =~ $1 ]] && return 0
	done <<<"$2"
	return 1
}

# expect_verify REGEX [TAG]: verify exits 1 and prints a line matching REGEX
expect_verify() {
	run_verify "$V" "$W/key" "${2:-}"
	if [ "$vrc" -ne 1 ] || ! has_line "$1" "$vout"; then
		note "verify${2:+ --tag} exit $vrc, wanted 1 and a line matching /$1/; output:"
		note "$(head -c 600 <<<"$vout")"
	fi
}

# expect_clean_verify [TAG]: verify exits 0 and reports no problem
expect_clean_verify() {
	run_verify "$V" "$W/key" "${1:-}"
	if [ "$vrc" -ne 0 ] || has_line '^(modified|truncated|swapped|missing|unexpected|stale): ' "$vout"; then
		note "verify${1:+ --tag} exit $vrc, wanted 0 without problems; output:"
		note "$(head -c 600 <<<"$vout")"
	fi
}

# expect_lib CLASSES [TAG] [CODE]: the library's answer (vol_attack check against
# $MANIFEST, the content the volume held before the attack) is one of CLASSES (a regex
# such as 'REFUSED|PARTIAL'); a REFUSED answer must carry CODE (a regex over the error
# name) when given.
MANIFEST=$W/ref.manifest
expect_lib() {
	local out class
	out=$("$H" check "$V" "$W/key" "$MANIFEST" ${2:+"$2"} 2>"$W/check.err")
	class=${out##*$'\n'}
	trace+="    | library${2:+ (expected tag)} -> $class"$'\n'
	if ! [[ ${class%% *} =~ ^($1)$ ]] || { [ -n "${3:-}" ] && [[ $class == REFUSED* ]] &&
		! [[ $class =~ ^REFUSED\ \(($3)\) ]]; }; then
		note "library${2:+ (expected tag)}: wanted ${1}${3:+ ($3)}, got:"
		note "$(head -c 1500 <<<"$out")"
	fi
}

# expect_cat_refused PATH: `shelter volume cat` fails and writes nothing that is not a
# prefix of the original file
expect_cat_refused() {
	local n
	if [ ! -f "${PLAIN:-$W/plain}/$1" ]; then
		note "no plaintext copy of '$1' to compare with"
		return
	fi
	"$S" volume cat "$V" "$1" --key-file "$W/key" >"$W/cat.out" 2>"$W/cat.err"
	local rc=$?
	n=$(stat -c %s "$W/cat.out")
	if [ "$rc" -eq 0 ]; then
		note "cat '$1' succeeded on damaged data"
	fi
	if [ "$(head -c "$n" "${PLAIN:-$W/plain}/$1" | sha256sum)" != "$(sha256sum <"$W/cat.out")" ]; then
		note "cat '$1' wrote $n bytes that differ from the original"
	fi
}

# ---- the reference volume, and its relatives -------------------------------------------

head -c 32 /dev/urandom >"$W/key"
head -c 32 /dev/urandom >"$W/key2"
chmod 600 "$W/key" "$W/key2"
mkdir -p "$W/a" "$W/plain/data" "$W/plain/docs/notes/deep"
if ! REFTAG=$("$H" build "$W/ref" "$W/key") ||
	! "$H" dump "$W/ref" "$W/key" >"$W/ref.manifest" ||
	! "$H" map "$W/ref" "$W/key" >"$W/ref.map" ||
	! OTHERTAG=$("$H" build "$W/other" "$W/key") ||
	! cp -a "$W/ref" "$W/big" || ! BIGTAG=$("$H" grow "$W/big" "$W/key" big) ||
	! cp -a "$W/ref" "$W/small" || ! SMALLTAG=$("$H" grow "$W/small" "$W/key" small) ||
	! "$H" dump "$W/big" "$W/key" >"$W/big.manifest" ||
	! "$H" dump "$W/small" "$W/key" >"$W/small.manifest" ||
	! cp -a "$W/ref" "$W/ckpt" || ! CKPTTAG=$("$H" compact "$W/ckpt" "$W/key") ||
	! "$H" dump "$W/ckpt" "$W/key" >"$W/ckpt.manifest" ||
	! "$H" map "$W/ckpt" "$W/key" >"$W/ckpt.map"; then
	echo "FAIL volume_attacks:setup (could not build the reference volumes)"
	exit 1
fi
for f in hello.txt data/big.bin data/multi.bin data/sparse.bin docs/notes/deep/nested.txt \
	docs/notes/log.txt docs/readme.md; do
	"$S" volume cat "$W/ref" "$f" --key-file "$W/key" >"$W/plain/$f" 2>/dev/null
done

# The layout, from the map: "seg N FILE SIZE" and
# "rec SEG OFF LEN KIND FLAGS SEQ INO CHUNK PATH" (kind 1 DATA, 2 META; flags 1 END).
declare -A first_data second_data first_meta data_path
LASTSEG=0
while read -r t sn off len kind flags _ _ _ path; do
	case $t in
	seg)
		LASTSEG=$sn
		PREV_END=96 LAST_END=96
		;;
	rec)
		if [ "$kind" = 1 ] && [ -z "${first_data[$sn]:-}" ]; then
			first_data[$sn]=$off
			data_path[$sn]=$path
		elif [ "$kind" = 1 ] && [ -z "${second_data[$sn]:-}" ]; then
			second_data[$sn]=$off
		elif [ "$kind" = 2 ] && [ -z "${first_meta[$sn]:-}" ]; then
			first_meta[$sn]=$off
		fi
		LASTREC=$off LASTLEN=$len
		if [ "$flags" = 1 ]; then # group boundaries of the current (finally: last) segment
			PREV_END=$LAST_END
			LAST_END=$((off + len))
		fi
		;;
	esac
done <"$W/ref.map"
MID=2
DOFF=${first_data[$MID]}         # a DATA record of a middle segment
DOFF2=${second_data[$MID]}       # another one, same length
DPATH=${data_path[$MID]}         # its file
MOFF=${first_meta[$MID]}         # a META record of the same segment
DATALEN=4156
PATHRE="/?${DPATH//./\\.}"

if [ "$LASTSEG" -lt 4 ] || [ -z "$DOFF2" ] || [ "$DPATH" = - ] || [ "$DOFF" = "$DOFF2" ]; then
	echo "FAIL volume_attacks:setup (reference layout unexpected: $LASTSEG segments)"
	exit 1
fi

# The reference itself: intact, fresh against its tag, identical when read back; and
# the tag of an older state is accepted (history), which the stale checks rely on.
V=$W/ref
expect_clean_verify "$REFTAG"
expect_lib IDENTICAL
fresh history "$W/big"
expect_clean_verify "$REFTAG"
result reference-volume-intact

# ---- 1. single bit flips in every region -----------------------------------------------

# header_flip NAME OFFSET BIT REGEX: flip a bit of the VOLUME file
header_flip() {
	fresh "header-$1"
	flip "$V/VOLUME" "$2" "$3"
	expect_verify "$4"
	expect_lib 'REFUSED'
	result "flip-volume-header-$1"
}
# §3: magic 0 | version 8 | chunk size 12 | flags 16 | reserved 20 | created 24 |
# volume id 32 | salt 48 | key id 80 | MAC 96
# A damaged magic leaves nothing that says "volume": verify names the missing magic.
header_flip magic 3 2 '^modified: |no volume header magic'
header_flip version 11 0 '^modified: .*header'      # 1 -> 0 (a flip upwards reads as "newer": see below)
header_flip chunk-size 14 4 '^modified: .*header'
header_flip flags 19 0 '^modified: .*header'
header_flip reserved 23 1 '^modified: .*header'
header_flip created 29 5 '^modified: .*header'
header_flip volume-id 40 3 '^modified: .*header'
header_flip salt 60 6 '^modified: .*header'
header_flip key-id 88 1 '^modified: .*header'
header_flip mac 110 7 '^modified: .*header'

# VOLUME is exactly 128 bytes (§3)
fresh volume-file-extended
printf 'x' >>"$V/VOLUME"
expect_verify '^(modified|truncated|unexpected): .*VOLUME|^modified: .*header'
expect_lib 'REFUSED'
result volume-header-extended

fresh volume-file-truncated
truncate -s 100 "$V/VOLUME"
expect_verify '^(modified|truncated): '
expect_lib 'REFUSED'
result volume-header-truncated

# seghdr_flip NAME OFFSET BIT REGEX: flip a bit of a middle segment's header
seghdr_flip() {
	fresh "seghdr-$1"
	flip "$(seg "$V" $MID)" "$2" "$3"
	expect_verify "$4"
	expect_lib 'REFUSED'
	result "flip-segment-header-$1"
}
# §4: magic 0 | version 8 | flags 12 | segno 16 | first seq 24 | volume id 32 |
# salt 48 | MAC 80
seghdr_flip magic 2 1 '^modified: .*segment'
seghdr_flip version 11 1 '^modified: .*segment'
seghdr_flip flags 14 0 '^modified: .*segment'
seghdr_flip segno 23 0 '^modified: .*segment'
seghdr_flip first-seq 31 2 '^modified: .*segment'
# A flipped volume id is indistinguishable from a segment of another volume (the MAC
# key is unknown either way), so "swapped" is an accurate answer too.
seghdr_flip volume-id 40 0 '^(modified|swapped): .*segment'
seghdr_flip salt 70 4 '^modified: .*segment'
seghdr_flip mac 90 3 '^modified: .*segment'

# rec_flip NAME OFFSET BIT REGEX [PATH]: flip a bit at OFFSET inside the middle
# segment's first DATA record; with PATH, also `shelter volume cat PATH` must fail
rec_flip() {
	fresh "rec-$1"
	flip "$(seg "$V" $MID)" $((DOFF + $2)) "$3"
	expect_verify "$4"
	expect_lib 'REFUSED|PARTIAL'
	[ -n "${5:-}" ] && expect_cat_refused "$5"
	result "flip-record-$1"
}
# §5: len 0 | kind 4 | flags 5 | reserved 6 | seq 8 | ino 16 | chunk 24 | nonce 32 |
# ciphertext 44 | GCM tag (last 16)
rec_flip len 3 0 '^modified: '
rec_flip kind 4 1 '^modified: '
rec_flip flags-end 5 0 "^modified: $PATHRE: " "$DPATH"
rec_flip flags-other 5 3 '^modified: '
rec_flip reserved 7 0 '^modified: '
# a record whose seq is off is out of order: "swapped" is accurate too
rec_flip seq 15 0 '^(modified|swapped): '
rec_flip chunk-index 31 0 "^modified: $PATHRE: " "$DPATH"
rec_flip nonce 37 2 "^modified: $PATHRE: " "$DPATH"
rec_flip data-ciphertext 2000 5 "^modified: $PATHRE: " "$DPATH"
rec_flip gcm-tag $((DATALEN - 9)) 6 "^modified: $PATHRE: " "$DPATH"

# The ino field: the path cannot be recovered from a record whose header is damaged,
# but verify must not blame another entry of the volume (volume.h: "with the plaintext
# path when it can be recovered"). 10 -> 2 with bit 3 makes it claim a directory.
fresh rec-ino
flip "$(seg "$V" $MID)" $((DOFF + 23)) 3
expect_verify '^modified: '
while IFS= read -r line; do
	[[ $line =~ ^modified:\ /?([^:]*): ]] || continue
	blamed=${BASH_REMATCH[1]}
	[ "$blamed" = "$DPATH" ] && continue
	while IFS= read -r m; do
		case $m in
		l\ *) m=${m% -> *} ;;
		d\ * | f\ *) ;;
		*) continue ;;
		esac
		if [ "${m##* }" = "$blamed" ]; then
			note "verify blames '$blamed', another entry of the volume, for a damaged record of '$DPATH': $line"
		fi
	done <"$W/ref.manifest"
done <<<"$vout"
expect_lib 'REFUSED|PARTIAL'
expect_cat_refused "$DPATH"
result flip-record-ino

fresh meta-ciphertext
flip "$(seg "$V" $MID)" $((MOFF + 44 + 5)) 1
expect_verify '^modified: '
expect_lib 'REFUSED|PARTIAL'
result flip-record-meta-ciphertext

fresh meta-tag
flip "$(seg "$V" $MID)" $((MOFF + 124 - 3)) 0
expect_verify '^modified: '
expect_lib 'REFUSED|PARTIAL'
result flip-record-meta-gcm-tag

# sweep NAME FILE STRIDE [FROM COUNT all]: the helper flips each bit in turn, runs the
# library's verify (what the CLI prints) and an open + full read; every flip must be
# reported, except a flip that verify takes for a crash's torn tail (§8.1: the last
# record of the log then claims more bytes than the file holds, exactly what a crash
# leaves), which must be caught as stale with the tag of the state before the flip.
SWEEP_BASE=$W/ref SWEEP_TAG=$REFTAG
sweep() {
	local name=$1 out last t0
	t0=$(date +%s%N)
	shift
	fresh "sweep-$name" "$SWEEP_BASE"
	out=$("$H" sweep "$V" "$W/key" "$SWEEP_BASE.manifest" "$SWEEP_TAG" "$@" 2>&1)
	last=${out##*$'\n'}
	while IFS= read -r line; do
		case $line in
		torn-like*) echo "    $line" ;;
		UNDETECTED* | WRONG-DATA*) note "$line" ;;
		esac
	done <<<"$out"
	if ! [[ $last =~ ^sweep\ .*\ 0\ undetected,\ 0\ served\ wrong\ data$ ]]; then
		note "sweep: $last"
	fi
	echo "    $last ($((($(date +%s%N) - t0) / 1000000)) ms)"
	result "sweep-$name"
}
sweep volume-header-every-bit 1 VOLUME 0 128 all
sweep middle-segment-header-every-bit 1 log/$(printf '%016x' $MID).seg 0 96 all
sweep last-record-header-every-bit 1 log/$(printf '%016x' "$LASTSEG").seg "$LASTREC" 44 all
for ((n = 1; n <= LASTSEG; n++)); do
	sweep "segment-$n-every-97th-byte" 97 log/$(printf '%016x' $n).seg
done

# ---- 2. truncation and extension ---------------------------------------------------------

fresh truncate-middle-mid-record
truncate -s $((DOFF + 1000)) "$(seg "$V" $MID)"
expect_verify '^truncated: '
expect_lib 'REFUSED|PARTIAL'
result truncate-middle-segment-mid-record

# Cut a middle segment at a record boundary (after its first group): the segment has
# no seal but later segments exist, which no crash leaves (§8.2: a segment is created
# only after the previous one's seal is durable).
fresh truncate-middle-boundary
truncate -s $((DOFF + DATALEN)) "$(seg "$V" $MID)"
expect_verify '^(truncated|missing|unexpected): '
expect_lib 'REFUSED|PARTIAL'
result truncate-middle-segment-at-record-boundary

# Rollback: the last segment cut at a group boundary is a valid older state; only the
# tag can tell (verify without it reports nothing, by design).
fresh truncate-last-boundary
truncate -s "$PREV_END" "$(seg "$V" "$LASTSEG")"
expect_verify '^stale: ' "$REFTAG"
expect_lib 'REFUSED' "$REFTAG" stale
result truncate-last-segment-at-record-boundary-is-stale

# Torn tail: a crash's partial record is discarded with a note (exit 0); the tag of
# the newer state makes it stale.
fresh truncate-last-mid-record
truncate -s $((LASTREC + 50)) "$(seg "$V" "$LASTSEG")"
run_verify "$V"
if [ "$vrc" -ne 0 ] || ! has_line '^note: ' "$vout" ||
	has_line '^(modified|truncated|swapped|missing|unexpected|stale): ' "$vout"; then
	note "verify (torn tail, no tag): exit $vrc, wanted 0 with only a note: $vout"
fi
expect_verify '^stale: ' "$REFTAG"
expect_lib 'REFUSED' "$REFTAG" stale
result truncate-last-segment-mid-record-torn-tail

fresh extend-garbage
printf '\xa5%.0s' {1..100} >>"$(seg "$V" "$LASTSEG")"
expect_verify '^modified: '
expect_lib 'REFUSED|PARTIAL'
result extend-last-segment-garbage

fresh extend-garbage-middle
printf '\xa5%.0s' {1..100} >>"$(seg "$V" $MID)"
expect_verify '^(unexpected|modified): '
expect_lib 'REFUSED|PARTIAL'
result extend-middle-segment-garbage

# Zeros at the end of the log are what a crash leaves when the size reached the disk
# and the data did not (§8.1); they carry nothing. Accept either a report (exit 1) or
# a torn-tail note (exit 0) — never silence — and the content must be unchanged.
fresh extend-zeros
head -c 4096 /dev/zero >>"$(seg "$V" "$LASTSEG")"
run_verify "$V"
if ! { [ "$vrc" -eq 1 ] && has_line '^(modified|truncated|unexpected): ' "$vout"; } &&
	! { [ "$vrc" -eq 0 ] && has_line '^note: ' "$vout"; }; then
	note "verify: exit $vrc, wanted a problem (exit 1) or a torn-tail note (exit 0): $vout"
fi
expect_lib 'REFUSED|IDENTICAL'
result extend-last-segment-zeros

fresh extend-zeros-middle
head -c 4096 /dev/zero >>"$(seg "$V" $MID)"
expect_verify '^(unexpected|modified): '
expect_lib 'REFUSED|PARTIAL|IDENTICAL'
result extend-middle-segment-zeros

# A page of zeros inside the last segment, with complete groups after it: §8.1 takes a
# zero page in the last segment for one a crash never wrote, so everything from that
# group on may be discarded as a torn tail (a rollback to that point, which only the
# tag can tell); it must never be served as data.
fresh zero-page-last
dd if=/dev/zero of="$(seg "$V" "$LASTSEG")" bs=4096 seek=2 count=1 conv=notrunc status=none
run_verify "$V"
if ! { [ "$vrc" -eq 1 ] && has_line '^(modified|truncated): ' "$vout"; } &&
	! { [ "$vrc" -eq 0 ] && has_line '^note: ' "$vout"; }; then
	note "verify: exit $vrc, wanted a problem (exit 1) or a torn-tail note (exit 0): $vout"
fi
expect_verify '^(stale|modified|truncated): ' "$REFTAG"
expect_lib 'REFUSED' "$REFTAG" 'stale|modified|truncated'
result zero-page-inside-last-segment

fresh zero-page-middle
dd if=/dev/zero of="$(seg "$V" $MID)" bs=4096 seek=2 count=1 conv=notrunc status=none
expect_verify '^modified: '
expect_lib 'REFUSED|PARTIAL'
result zero-page-inside-middle-segment

# The host changes a segment while the volume is open: replay is over, so each read
# must authenticate the record it fetches.
# tamper_open NAME ARGS...: vol_attack tamper ... must answer PARTIAL (the damaged file
# fails to read, everything else is intact)
tamper_open() {
	local name=$1 out
	shift
	fresh "$name"
	out=$("$H" tamper "$V" "$W/key" "$W/ref.manifest" "$@" 2>"$W/tamper.err")
	trace+="    | library (open before the change) -> ${out##*$'\n'}"$'\n'
	if [ "${out##*$'\n'}" != PARTIAL ]; then
		note "library, volume open during the change: wanted PARTIAL, got:"
		note "$out"
	fi
	result "$name"
}
tamper_open flip-data-while-open flip "log/$(printf '%016x' $MID).seg" $((DOFF + 2000)) 5
tamper_open copy-record-while-open copy "log/$(printf '%016x' $MID).seg" "$DOFF" "$DOFF2"

# ---- 3. swapped files ---------------------------------------------------------------------

fresh swap-segments
mv "$(seg "$V" 2)" "$W/tmpseg" && mv "$(seg "$V" 3)" "$(seg "$V" 2)" && mv "$W/tmpseg" "$(seg "$V" 3)"
expect_verify '^swapped: '
expect_lib 'REFUSED|PARTIAL'
result swap-two-segment-files

fresh segment-from-other-volume
cp "$(seg "$W/other" 3)" "$(seg "$V" 3)"
expect_verify '^swapped: '
expect_lib 'REFUSED|PARTIAL'
result segment-from-another-volume-same-key

fresh volume-file-from-other-volume
cp "$W/other/VOLUME" "$V/VOLUME"
expect_verify '^swapped: '
expect_lib 'REFUSED|PARTIAL'
result volume-header-from-another-volume-same-key

# ---- 4. swapped chunks ----------------------------------------------------------------------
# Both records are intact, so the file they belong to can be recovered and named.

fresh swap-records
f=$(seg "$V" $MID)
copy_bytes "$f" "$DOFF" "$W/recA" 0 $DATALEN
copy_bytes "$f" "$DOFF2" "$f" "$DOFF" $DATALEN
copy_bytes "$W/recA" 0 "$f" "$DOFF2" $DATALEN
expect_verify "^swapped: $PATHRE: "
expect_lib 'REFUSED|PARTIAL'
expect_cat_refused "$DPATH"
result swap-two-data-records-in-place

fresh copy-record
f=$(seg "$V" $MID)
copy_bytes "$f" "$DOFF" "$f" "$DOFF2" $DATALEN
expect_verify "^swapped: $PATHRE: "
expect_lib 'REFUSED|PARTIAL'
expect_cat_refused "$DPATH"
result copy-data-record-over-another

# a record moved to the same place of another segment (same offset, same length)
fresh move-record-across-segments
copy_bytes "$(seg "$V" 3)" "${first_data[3]}" "$(seg "$V" $MID)" "${first_data[3]}" $DATALEN
expect_verify '^(swapped|modified): '
expect_lib 'REFUSED|PARTIAL'
result data-record-from-another-segment

# ---- 5. older copies ------------------------------------------------------------------------
# $W/big is the reference plus more writes that sealed the last segment and went on to
# new ones; $W/small the reference plus a write appended to its last segment.

# The old copy of a segment that has since been sealed and followed by newer segments:
# nothing but tampering leaves an unsealed segment before others.
fresh older-segment-middle "$W/big"
cp "$(seg "$W/ref" "$LASTSEG")" "$(seg "$V" "$LASTSEG")"
MANIFEST=$W/big.manifest
expect_verify '^(stale|truncated|missing|unexpected|swapped): '
# with the tag, the structural damage may be named instead of staleness
expect_verify '^(stale|truncated): ' "$BIGTAG"
expect_lib 'REFUSED|PARTIAL'
expect_lib 'REFUSED' "$BIGTAG" 'stale|truncated'
result older-copy-of-a-segment

# The old copy of the last segment: a rollback, caught with the tag.
fresh older-segment-last "$W/small"
cp "$(seg "$W/ref" "$LASTSEG")" "$(seg "$V" "$LASTSEG")"
MANIFEST=$W/small.manifest
expect_verify '^stale: ' "$SMALLTAG"
expect_lib 'REFUSED' "$SMALLTAG" stale
result older-copy-of-the-last-segment-is-stale

fresh older-volume
MANIFEST=$W/big.manifest
expect_verify '^stale: ' "$BIGTAG"
expect_lib 'REFUSED' "$BIGTAG" stale
result older-copy-of-the-whole-volume-is-stale

# Another whole volume under the same key is a valid volume, but not this one's history.
fresh whole-volume-swapped "$W/other"
expect_clean_verify "$OTHERTAG"
expect_verify '^stale: ' "$REFTAG"
expect_lib 'REFUSED' "$REFTAG" stale
result whole-volume-from-another-volume-is-stale

# ---- 6. deleted files -----------------------------------------------------------------------

fresh delete-volume-file
rm "$V/VOLUME"
expect_verify '^missing: .*VOLUME|no VOLUME file'
expect_lib 'REFUSED'
result delete-volume-header

fresh delete-middle-segment
rm "$(seg "$V" 3)"
expect_verify '^missing: '
expect_lib 'REFUSED|PARTIAL'
# the open above must not have repaired the evidence away
expect_verify '^missing: '
result delete-middle-segment

# A missing last segment after a sealed one is what a crash between the seal and the
# creation of the next segment leaves (§8.2): a rollback, caught with the tag.
fresh delete-last-segment
rm "$(seg "$V" "$LASTSEG")"
expect_verify '^stale: ' "$REFTAG"
expect_lib 'REFUSED' "$REFTAG" stale
result delete-last-segment-is-stale

fresh delete-log
rm -rf "$V/log"
expect_verify '^missing: '
expect_lib 'REFUSED'
result delete-log-directory

fresh delete-lock
rm "$V/lock"
expect_clean_verify "$REFTAG"
expect_lib IDENTICAL
expect_clean_verify "$REFTAG"
result delete-lock-file-is-harmless

fresh modify-lock
printf 'not a lock' >"$V/lock"
expect_clean_verify "$REFTAG"
expect_lib IDENTICAL
result modify-lock-file-is-harmless

# ---- 7. added files -------------------------------------------------------------------------

fresh stray-top
printf 'x' >"$V/stray"
expect_verify '^unexpected: stray'
expect_lib 'IDENTICAL|REFUSED'
result stray-file-at-top-level

fresh stray-log
printf 'x' >"$V/log/notes.txt"
expect_verify '^unexpected: log/notes.txt'
expect_lib 'IDENTICAL|REFUSED'
result stray-file-in-log

fresh stray-dir
mkdir "$V/log/0000000000000099.seg.d"
expect_verify '^unexpected: log/'
expect_lib 'IDENTICAL|REFUSED'
result stray-directory-in-log

# An unsealed segment followed by another is either an extra segment or a truncated
# one: the library cannot tell which, so "truncated" is an accurate answer too.
fresh extra-segment
cp "$(seg "$V" "$LASTSEG")" "$(seg "$V" $((LASTSEG + 1)))"
expect_verify '^(unexpected|swapped|truncated): '
expect_lib 'IDENTICAL|REFUSED'
result extra-segment-after-the-last

fresh extra-far-segment
cp "$(seg "$V" 1)" "$(seg "$V" 40)"
expect_verify '^(unexpected|missing|swapped|truncated): '
expect_lib 'IDENTICAL|REFUSED'
result extra-segment-far-after-the-last

# A segment name that points elsewhere: never followed (the target could change
# between two reads).
fresh segment-symlink
mv "$(seg "$V" 3)" "$W/a/elsewhere.seg"
ln -s "$W/a/elsewhere.seg" "$(seg "$V" 3)"
run_verify "$V"
[ "$vrc" -eq 1 ] || note "verify of a symlinked segment: exit $vrc, wanted 1: $vout"
expect_lib 'REFUSED'
# a verify that fails on this (an I/O error) must release what it opened
out=$("$H" verify-fds "$V" "$W/key" 10 2>&1)
if ! [[ $out =~ before\ ([0-9]+),\ after\ 10\ verifies\ ([0-9]+) ]] ||
	[ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ]; then
	note "shelter_volume_verify leaks file descriptors on this error: $out"
fi
result segment-replaced-by-a-symlink

fresh tmp-files
printf 'x' >"$V/.tmp-x"
cp "$(seg "$V" 1)" "$V/log/.tmp-x"
expect_clean_verify "$REFTAG"
expect_lib IDENTICAL
result tmp-files-are-harmless

# ---- 8. checkpoints (§10) ---------------------------------------------------------------
# $W/ckpt is the reference compacted: segment CK holds a checkpoint (chunk records at
# fixed places, then NODE/INDEX records, then a fixed-size END) that replaces segments
# 1..CK-1, which are gone; a few operations follow in the next segment.

CK=0 CKD1='' CKD2='' CKPATH='' CK_META=0 CK_END=0 CK_ENDLEN=0
while read -r t sn off len kind _ _ _ _ path; do
	[ "$t" = rec ] || continue
	if [ "$kind" = 3 ] && [ -z "$CKD1" ]; then
		CK=$sn CKD1=$off CKPATH=$path
	elif [ "$kind" = 3 ] && [ -z "$CKD2" ]; then
		CKD2=$off
	elif [ "$kind" = 4 ]; then
		[ "$CK_META" = 0 ] && CK_META=$off
		CK_END=$off CK_ENDLEN=$len
	fi
done <"$W/ckpt.map"
if [ "$CK" = 0 ] || [ -z "$CKD2" ] || [ "$CKPATH" = - ]; then
	echo "FAIL volume_attacks:checkpoint-setup (no checkpoint in the compacted volume)"
	failures=$((failures + 1))
else
CKSEG=log/$(printf '%016x' "$CK").seg
mkdir -p "$W/plainck"
[[ $CKPATH == */* ]] && mkdir -p "$W/plainck/${CKPATH%/*}"
"$S" volume cat "$W/ckpt" "$CKPATH" --key-file "$W/key" >"$W/plainck/$CKPATH" 2>/dev/null
CKPATHRE="/?${CKPATH//./\\.}"

# The compacted volume is intact, and tags from before the compaction are still
# history (volume.h: the last 128 operations before it).
V=$W/ckpt
expect_clean_verify "$CKPTTAG"
expect_clean_verify "$REFTAG"
result checkpoint-volume-intact

ck_attack() { # ck_attack NAME: fresh copy of the compacted volume, its manifest
	fresh "$1" "$W/ckpt"
	MANIFEST=$W/ckpt.manifest PLAIN=$W/plainck
}

ck_attack ckpt-data-ciphertext
flip "$V/$CKSEG" $((CKD1 + 44 + 100)) 3
expect_verify "^modified: $CKPATHRE: "
expect_lib 'REFUSED|PARTIAL'
expect_cat_refused "$CKPATH"
result checkpoint-flip-chunk-ciphertext

ck_attack ckpt-data-header
flip "$V/$CKSEG" $((CKD1 + 31)) 0
expect_verify '^(modified|swapped): '
expect_lib 'REFUSED|PARTIAL'
expect_cat_refused "$CKPATH"
result checkpoint-flip-chunk-index

ck_attack ckpt-swap-data
copy_bytes "$V/$CKSEG" "$CKD1" "$W/recA" 0 $DATALEN
copy_bytes "$V/$CKSEG" "$CKD2" "$V/$CKSEG" "$CKD1" $DATALEN
copy_bytes "$W/recA" 0 "$V/$CKSEG" "$CKD2" $DATALEN
expect_verify "^swapped: $CKPATHRE: "
expect_lib 'REFUSED|PARTIAL'
expect_cat_refused "$CKPATH"
result checkpoint-swap-two-chunk-records

# A damaged checkpoint header: the damage is in segment CK, which verify must name
# (segment 1 is gone by design after a compaction).
ck_attack ckpt-seghdr
flip "$V/$CKSEG" 85 1
expect_verify "^modified: .*segment $CK"
expect_lib 'REFUSED'
result checkpoint-flip-segment-header-mac

ck_attack ckpt-seghdr-next
flip "$V/log/$(printf '%016x' $((CK + 1))).seg" 40 0
expect_verify "^(modified|swapped): .*segment $((CK + 1))"
expect_lib 'REFUSED'
result segment-after-checkpoint-flip-header-volume-id

ck_attack ckpt-node
flip "$V/$CKSEG" $((CK_META + 44 + 7)) 2
expect_verify '^modified: '
expect_lib 'REFUSED'
result checkpoint-flip-node-record

ck_attack ckpt-end
flip "$V/$CKSEG" $((CK_END + 44 + 2000)) 4
expect_verify '^modified: '
expect_lib 'REFUSED'
result checkpoint-flip-end-record

ck_attack ckpt-truncate
truncate -s "$CK_END" "$V/$CKSEG"
expect_verify '^(truncated|modified): '
expect_lib 'REFUSED'
result checkpoint-without-its-end-record

ck_attack ckpt-extend
copy_bytes "$V/$CKSEG" "$CK_END" "$V/$CKSEG" $((CK_END + CK_ENDLEN)) "$CK_ENDLEN"
expect_verify '^(modified|unexpected|truncated): '
expect_lib 'REFUSED'
result checkpoint-with-its-end-record-appended-twice

ck_attack ckpt-delete
rm "$V/$CKSEG"
expect_verify '^(missing|truncated): '
expect_lib 'REFUSED'
result checkpoint-deleted

# The segments a checkpoint replaced, put back: superseded, ignored, removed by the
# next writer; nothing a program reads changes.
ck_attack ckpt-superseded-back
for ((n = 1; n < CK; n++)); do cp "$(seg "$W/ref" $n)" "$(seg "$V" $n)"; done
run_verify "$V" "$W/key" "$CKPTTAG"
if [ "$vrc" -ne 0 ] || ! has_line '^note: .*superseded' "$vout"; then
	note "verify: exit $vrc, wanted 0 with a note on superseded segments: $vout"
fi
expect_lib IDENTICAL
expect_clean_verify "$CKPTTAG"
result checkpoint-superseded-segments-restored-are-harmless

# ... and with the checkpoint gone, they are not a way back to the old log
ck_attack ckpt-superseded-instead
for ((n = 1; n < CK; n++)); do cp "$(seg "$W/ref" $n)" "$(seg "$V" $n)"; done
rm "$V/$CKSEG"
expect_verify '^(missing|truncated|swapped|stale): '
expect_lib 'REFUSED|PARTIAL'
result checkpoint-replaced-by-the-segments-it-superseded

# The volume before compaction, presented with the tag from after it.
fresh ckpt-older "$W/ref"
MANIFEST=$W/ckpt.manifest
expect_verify '^stale: ' "$CKPTTAG"
expect_lib 'REFUSED' "$CKPTTAG" stale
result checkpoint-older-volume-is-stale

SWEEP_BASE=$W/ckpt SWEEP_TAG=$CKPTTAG
sweep checkpoint-every-397th-byte 397 "$CKSEG"
sweep checkpoint-end-record-every-29th-byte 29 "$CKSEG" "$CK_END" "$CK_ENDLEN"
sweep segment-after-checkpoint-every-17th-byte 17 log/$(printf '%016x' $((CK + 1))).seg
fi

# ---- 9. wrong key, newer format ---------------------------------------------------------------

fresh wrong-key
run_verify "$V" "$W/key2"
if [ "$vrc" -ne 1 ] || ! has_line 'wrong key' "$vout" ||
	has_line '^(modified|truncated|swapped|missing|unexpected|stale): ' "$vout"; then
	note "verify with another key: exit $vrc, wanted 1 and 'wrong key' only: $vout"
fi
out=$("$S" volume cat "$V" hello.txt --key-file "$W/key2" 2>&1)
rc=$?
if [ "$rc" -ne 1 ] || ! has_line 'wrong key' "$out"; then
	note "cat with another key: exit $rc, wanted 1 and 'wrong key': $out"
fi
out=$("$H" check "$V" "$W/key2" "$W/ref.manifest" 2>/dev/null)
[[ ${out##*$'\n'} == "REFUSED (wrong key)"* ]] || note "library with another key: $out"
result wrong-key-is-reported-as-such

fresh newer-version
put "$V/VOLUME" 8 00000002
run_verify "$V"
if [ "$vrc" -eq 0 ] || ! has_line 'newer' "$vout"; then
	note "verify of a version 2 volume: exit $vrc, wanted non-zero and 'newer': $vout"
fi
out=$("$S" volume ls "$V" --key-file "$W/key" 2>&1)
rc=$?
if [ "$rc" -eq 0 ] || ! has_line 'newer' "$out"; then
	note "ls of a version 2 volume: exit $rc, wanted non-zero and 'newer': $out"
fi
expect_lib REFUSED '' 'unsupported format version'
result newer-format-version

[ "$failures" -eq 0 ]
