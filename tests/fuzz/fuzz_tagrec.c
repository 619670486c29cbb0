/* libFuzzer target: the tag record parser, shield_tagrec_parse (docs/shield.md
 * §6.2; STYLE.md rule 17), over arbitrary bytes as the record, with the K, host
 * realpath and mount path of tests/vectors/shield/v1-basic (README.md there).
 *
 * Properties checked with abort():
 *   - the only outcomes are MALFORMED (fewer than 8 bytes or another magic),
 *     INTEGRITY (any other size than 84, or the AEAD refuses), FOREIGN (84 bytes,
 *     the magic, another key id) and OK, each exactly when the bytes say so; a
 *     refusal leaves the state NONE, its code in err and a message;
 *   - FOREIGN and MALFORMED release nothing into the tag; INTEGRITY wipes it;
 *   - OK only for a record we sealed: sealing the parsed tag again under the
 *     record's own nonce gives back the input byte for byte;
 *   - and, from the same input, the writer's half: the record shield_tagrec_seal
 *     makes of (nonce = bytes 0..11, tag = bytes 12..43) parses back to that tag.
 *
 * Linked with tags.o and real.o only (Makefile), never launch.o.
 *
 * Seed generator: SHELTER_FUZZ_SEEDS=DIR ./fuzz_tagrec (run from the repository
 * root) writes the records of tests/vectors/shield/ and a few variants into DIR and
 * exits (tests/fuzz/corpus/fuzz_tagrec). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shield/launch.h"
#include "shield/shield.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_tagrec"
#include "fixture.h"

#define REC SHIELD_TAGREC_SIZE

/* tests/vectors/shield/README.md, v1-basic */
static const uint8_t fz_k[32] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
/* its key id (vectors.txt) */
static const uint8_t fz_key_id[16] = {
	0xd4, 0xea, 0xaf, 0x0a, 0xdd, 0x73, 0x6b, 0x57, 0xf9, 0x90, 0x3c, 0xc7, 0xd8, 0xa1, 0x97, 0x74,
};
#define FZ_HOST "/var/lib/shelter/volumes/data"
#define FZ_MOUNT "/data"

static struct shield_tagfile *g_tf;

/* tags.c's recorder logs through log.c, which is not linked: it does not build
 * with clang -Werror today (a vsnprintf of a non-literal format). Nothing here
 * records, so nothing logs. */
void shield_log(const char *fmt, ...)
{
	(void)fmt;
	abort();
}

static int all_byte(const uint8_t *p, size_t size, uint8_t v)
{
	for (size_t i = 0; i < size; i++) {
		if (p[i] != v)
			return 0;
	}
	return 1;
}

static void check_parse(const uint8_t *data, size_t size)
{
	enum shield_tagfile_state st = SHIELD_TAG_OK;
	struct shelter_err err;
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE], again[REC];
	int magic = size >= 8 && memcmp(data, "SHLTTAG1", 8) == 0;
	int ours = size == REC && magic && memcmp(data + 8, fz_key_id, 16) == 0;
	int rc;

	shelter_err_clear(&err);
	memset(tag, 0xee, sizeof(tag));
	rc = shield_tagrec_parse(g_tf, data, size, tag, &st, &err);
	if (rc < 0 && (st != SHIELD_TAG_NONE || err.code != rc || err.msg[0] == '\0'))
		fz_die("refusal %d left state %d, code %d or no message", rc, st, err.code);
	switch (rc) {
	case SHELTER_E_MALFORMED:
		if (magic)
			fz_die("a record with the magic refused as not a record");
		if (!all_byte(tag, sizeof(tag), 0xee))
			fz_die("a malformed record wrote the tag");
		return;
	case SHELTER_E_INTEGRITY:
		if (!magic || (size == REC && !ours))
			fz_die("INTEGRITY for %s", magic ? "another key's record" : "no magic");
		if (size == REC && !all_byte(tag, sizeof(tag), 0))
			fz_die("a record that does not authenticate left the tag unwiped");
		if (size != REC && !all_byte(tag, sizeof(tag), 0xee))
			fz_die("a record of the wrong size wrote the tag");
		return;
	case 0:
		break;
	default:
		fz_die("undocumented code %d (%s): %s", rc, shelter_code_str(rc), err.msg);
	}
	if (st == SHIELD_TAG_FOREIGN) {
		if (size != REC || !magic || ours || !all_byte(tag, sizeof(tag), 0xee))
			fz_die("FOREIGN for a record that is not another key's, or it wrote the tag");
		return;
	}
	if (st != SHIELD_TAG_OK || !ours)
		fz_die("rc 0 with state %d for %s", st, ours ? "our record" : "not our record");
	if (shield_tagrec_seal(g_tf, tag, data + 24, again, NULL) != 0 ||
	    memcmp(again, data, REC) != 0)
		fz_die("accepted a record that sealing its tag again does not give back");
}

/* The writer's half: what we seal, we read back. */
static void check_seal(const uint8_t *data, size_t size)
{
	enum shield_tagfile_state st;
	uint8_t rec[REC], tag[SHELTER_VOLUME_TAG_SIZE];

	if (size < 12 + SHELTER_VOLUME_TAG_SIZE)
		return;
	if (shield_tagrec_seal(g_tf, data + 12, data, rec, NULL) != 0)
		fz_die("seal failed");
	if (memcmp(rec, "SHLTTAG1", 8) != 0 || memcmp(rec + 8, fz_key_id, 16) != 0 ||
	    memcmp(rec + 24, data, 12) != 0)
		fz_die("sealed header is not magic, key id, nonce");
	if (shield_tagrec_parse(g_tf, rec, REC, tag, &st, NULL) != 0 || st != SHIELD_TAG_OK ||
	    memcmp(tag, data + 12, sizeof(tag)) != 0)
		fz_die("a sealed record does not parse back to its tag");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	check_seal(data, size);
	return 0;
}

/* ---- seeds ---- */

static void seed(const char *dir, const char *name, const uint8_t *data, size_t size)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		fz_die("write seed %s", path);
}

static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		fz_die("read %s (run from the repository root)", path);
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void generate(const char *dir)
{
	static const char *const vecs[] = { "v1-basic", "v1-paths", "v1-foreign" };
	uint8_t rec[REC + 1], basic[REC];
	char path[256];

	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		snprintf(path, sizeof(path), "tests/vectors/shield/%s.tag", vecs[i]);
		if (slurp(path, rec, sizeof(rec)) != REC)
			fz_die("%s is not %d bytes", path, REC);
		seed(dir, vecs[i], rec, REC); /* OK, FOREIGN, FOREIGN */
		if (i == 0)
			memcpy(basic, rec, REC);
	}
	memcpy(rec, basic, REC);
	rec[REC] = 0;
	seed(dir, "extended", rec, REC + 1);
	seed(dir, "truncated", rec, REC - 1);
	seed(dir, "magic-only", rec, 8);
	rec[40] ^= 1;
	seed(dir, "sealed-tag-flipped", rec, REC);
	memcpy(rec, basic, REC);
	rec[7] = '2';
	seed(dir, "version-2", rec, REC);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SHELTER_FUZZ_SEEDS");
	struct shelter_err err;
	char state[300];

	(void)argc;
	(void)argv;
	if (dir != NULL) {
		generate(dir);
		exit(0);
	}
	fz_make_base();
	snprintf(state, sizeof(state), "%s/state", fz_base);
	shelter_err_clear(&err);
	if (shield_tagfile_new_from_key(fz_k, state, FZ_HOST, FZ_MOUNT, &g_tf, &err) != 0)
		fz_die("setup: %s", err.msg);
	return 0;
}
