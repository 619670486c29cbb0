/* Unit tests for the tag record (docs/shield.md §6.2; src/shield/tags.c): refusals
 * first (not a record, truncated or extended, every one-bit flip, another key,
 * another host directory or mount path), then the known-answer vectors of
 * tests/vectors/shield/ (computed there with python3's cryptography module, see its
 * README.md), then a write-then-read round trip through a scratch state directory.
 *
 * The record is built with shield_tagfile_new_from_key, so no TEE is needed; tags.c
 * is linked with log.c and real.c only (Makefile), never with launch.c.
 *
 * Run from the repository root (tests/run.sh does): the vectors are read from
 * tests/vectors/shield/. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../files.h"
#include "shield/launch.h"
#include "../test.h"

#define VEC_DIR "tests/vectors/shield/"
#define REC SHIELD_TAGREC_SIZE

static char tmp[PATH_MAX];

/* The inputs of tests/vectors/shield/README.md. */
struct vec {
	const char *file;
	const char *k;
	const char *host;
	const char *mount;
	const char *nonce;
	const char *tag;
};

static const struct vec v_basic = {
	"v1-basic.tag",
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	"/var/lib/shelter/volumes/data", "/data",
	"101112131415161718191a1b",
	"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
};
static const struct vec v_paths = {
	"v1-paths.tag",
	"5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c",
	"/srv/vol umes/redis-\xc3\xbc", "/var/lib/redis",
	"ffffffffffffffffffffffff",
	"0000000000000000000000000000000000000000000000000000000000000000",
};
/* v1-basic's volume, sealed under another K */
static const struct vec v_foreign = {
	"v1-foreign.tag",
	"e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
	"/var/lib/shelter/volumes/data", "/data",
	"101112131415161718191a1b",
	"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
};

/* A tag file for v's K at (host, mount), its state directory under tmp/sub. */
static struct shield_tagfile *tagfile_at(const struct vec *v, const char *host,
					 const char *mount, const char *sub)
{
	struct shield_tagfile *t = NULL;
	uint8_t k[32];
	char state[PATH_MAX];

	test_unhex(v->k, k, sizeof(k));
	test_join(state, sizeof(state), tmp, sub);
	if (shield_tagfile_new_from_key(k, state, host, mount, &t, NULL) != 0)
		return NULL;
	return t;
}

static struct shield_tagfile *tagfile(const struct vec *v)
{
	return tagfile_at(v, v->host, v->mount, "state");
}

/* The committed record of v; exits 2 when it is missing (a broken test). */
static void load(const struct vec *v, uint8_t rec[REC])
{
	size_t size = 0;
	char *b = test_slurp_in(VEC_DIR, v->file, &size);

	if (b == NULL || size != REC) {
		fprintf(stderr, "vector %s%s missing or not %d bytes\n", VEC_DIR, v->file, REC);
		exit(2);
	}
	memcpy(rec, b, REC);
	free(b);
}

/* ---- refusals ---- */

static void parse_refuses_what_is_not_a_record(void)
{
	struct shield_tagfile *t = tagfile(&v_basic);
	enum shield_tagfile_state st = SHIELD_TAG_OK;
	struct shelter_err err;
	uint8_t rec[REC + 1], tag[32];

	CHECK(t != NULL);
	load(&v_basic, rec);
	for (size_t n = 0; n < 8; n++) { /* no whole magic */
		shelter_err_clear(&err);
		CHECK_RC(shield_tagrec_parse(t, rec, n, tag, &st, &err), SHELTER_E_MALFORMED);
		CHECK(st == SHIELD_TAG_NONE && strstr(err.msg, "is not a tag record") != NULL);
	}
	memcpy(rec, "SHLTTAG2", 8); /* another version is not a version-1 record */
	CHECK_RC(shield_tagrec_parse(t, rec, REC, tag, &st, NULL), SHELTER_E_MALFORMED);
	memset(rec, 0, sizeof(rec));
	CHECK_RC(shield_tagrec_parse(t, rec, REC, tag, &st, NULL), SHELTER_E_MALFORMED);
	CHECK(st == SHIELD_TAG_NONE);
	shield_tagfile_free(t);
}

static void parse_refuses_truncated_and_extended(void)
{
	struct shield_tagfile *t = tagfile(&v_basic);
	enum shield_tagfile_state st;
	struct shelter_err err;
	uint8_t rec[REC + 1], tag[32];

	CHECK(t != NULL);
	load(&v_basic, rec);
	rec[REC] = 0;
	for (size_t n = 8; n <= REC + 1; n++) {
		if (n == REC)
			continue;
		shelter_err_clear(&err);
		CHECK_RC(shield_tagrec_parse(t, rec, n, tag, &st, &err), SHELTER_E_INTEGRITY);
		CHECK(st == SHIELD_TAG_NONE && strstr(err.msg, "truncated or extended") != NULL);
	}
	shield_tagfile_free(t);
}

/* Every one-bit flip is refused, with the code of the field it lands in: the
 * magic is MALFORMED, the key id another key's (FOREIGN, which the launch refuses
 * as wrong key, §6.4), anything the AEAD covers INTEGRITY. Never OK. */
static void parse_refuses_every_bit_flip(void)
{
	struct shield_tagfile *t = tagfile(&v_basic);
	enum shield_tagfile_state st;
	uint8_t rec[REC], bad[REC], tag[32];

	CHECK(t != NULL);
	load(&v_basic, rec);
	for (size_t i = 0; i < REC; i++) {
		for (int b = 0; b < 8; b++) {
			int rc;

			memcpy(bad, rec, REC);
			bad[i] ^= (uint8_t)(1u << b);
			memset(tag, 0xee, sizeof(tag));
			rc = shield_tagrec_parse(t, bad, REC, tag, &st, NULL);
			CHECK(st != SHIELD_TAG_OK);
			if (i < 8) {
				CHECK_RC(rc, SHELTER_E_MALFORMED);
			} else if (i < 24) {
				CHECK_RC(rc, 0);
				CHECK(st == SHIELD_TAG_FOREIGN);
			} else {
				CHECK_RC(rc, SHELTER_E_INTEGRITY);
				CHECK(st == SHIELD_TAG_NONE);
			}
		}
	}
	shield_tagfile_free(t);
}

static void parse_reports_another_key_as_foreign(void)
{
	struct shield_tagfile *ours = tagfile(&v_basic), *theirs = tagfile(&v_foreign);
	enum shield_tagfile_state st = SHIELD_TAG_NONE;
	uint8_t rec[REC], tag[32];

	CHECK(ours != NULL && theirs != NULL);
	load(&v_foreign, rec);
	memset(tag, 0xee, sizeof(tag));
	CHECK_RC(shield_tagrec_parse(ours, rec, REC, tag, &st, NULL), 0);
	CHECK(st == SHIELD_TAG_FOREIGN);
	load(&v_basic, rec);
	CHECK_RC(shield_tagrec_parse(theirs, rec, REC, tag, &st, NULL), 0);
	CHECK(st == SHIELD_TAG_FOREIGN);
	for (size_t i = 0; i < sizeof(tag); i++)
		CHECK(tag[i] == 0xee); /* nothing released */
	shield_tagfile_free(ours);
	shield_tagfile_free(theirs);
}

/* The same K (so the same key id) at another host directory or mount path: the AAD
 * differs and the record does not authenticate. (With the real K, sealed under
 * "tag:" mount, another mount path also means another key: FOREIGN.) */
static void parse_refuses_record_copied_elsewhere(void)
{
	static const char *const places[][2] = {
		{ "/var/lib/shelter/volumes/other", "/data" },
		{ "/var/lib/shelter/volumes/data/", "/data" },
		{ "/var/lib/shelter/volumes/dat", "a/data" }, /* the NUL moved */
		{ "/var/lib/shelter/volumes/data", "/data2" },
		{ "/var/lib/shelter/volumes/data", "/dat" },
		{ "/var/lib/shelter/volumes/data", "" },
		{ "/data", "/var/lib/shelter/volumes/data" },
	};
	enum shield_tagfile_state st;
	struct shelter_err err;
	uint8_t rec[REC], tag[32];

	load(&v_basic, rec);
	for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
		struct shield_tagfile *t = tagfile_at(&v_basic, places[i][0], places[i][1], "state");

		CHECK(t != NULL);
		shelter_err_clear(&err);
		memset(tag, 0xee, sizeof(tag));
		st = SHIELD_TAG_OK;
		int rc = shield_tagrec_parse(t, rec, REC, tag, &st, &err);
		shield_tagfile_free(t);
		CHECK_RC(rc, SHELTER_E_INTEGRITY);
		CHECK(st == SHIELD_TAG_NONE && strstr(err.msg, "does not authenticate") != NULL);
		for (size_t j = 0; j < sizeof(tag); j++)
			CHECK(tag[j] == 0); /* the AEAD wiped what it did not verify */
	}
}

static void new_from_key_refuses_bad_state_dir(void)
{
	struct shield_tagfile *t = (struct shield_tagfile *)&t;
	uint8_t k[32] = { 0 };
	char file[PATH_MAX], state[PATH_MAX];
	int fd;

	test_join(file, sizeof(file), tmp, "a-file");
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	test_join(state, sizeof(state), file, "state"); /* below a regular file */
	CHECK(shield_tagfile_new_from_key(k, state, "/h", "/m", &t, NULL) < 0);
	CHECK(t == NULL);
	shield_tagfile_free(NULL);
}

/* ---- the vectors ---- */

static void check_vector(const struct vec *v)
{
	struct shield_tagfile *t = tagfile(v);
	enum shield_tagfile_state st = SHIELD_TAG_NONE;
	uint8_t rec[REC], again[REC], nonce[12], want[32], tag[32];

	CHECK(t != NULL);
	load(v, rec);
	test_unhex(v->nonce, nonce, sizeof(nonce));
	test_unhex(v->tag, want, sizeof(want));
	CHECK_RC(shield_tagrec_parse(t, rec, REC, tag, &st, NULL), 0);
	CHECK(st == SHIELD_TAG_OK);
	CHECK_MEM(tag, want, sizeof(want));
	CHECK_OK(shield_tagrec_seal(t, want, nonce, again, NULL));
	CHECK_MEM(again, rec, REC);
	shield_tagfile_free(t);
}

static void vector_v1_basic(void)
{
	check_vector(&v_basic);
}

static void vector_v1_paths(void)
{
	check_vector(&v_paths);
}

static void vector_v1_foreign_under_its_own_key(void)
{
	check_vector(&v_foreign);
}

/* ---- files: the record's name and the atomic write (§6.2) ---- */

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return d == NULL ? -1 : n;
}

static void write_then_read_round_trip(void)
{
	/* sha256sum of the host realpath "/var/lib/shelter/volumes/data" */
	static const char name[] =
		"rt/tags/f55eb531498f4ccf9e301b57e91dc551cb80f856fca496455c5cec36d534a763.tag";
	struct shield_tagfile *t = tagfile_at(&v_basic, v_basic.host, v_basic.mount, "rt");
	enum shield_tagfile_state st = SHIELD_TAG_OK;
	uint8_t tag[32], got[32], first[REC], rec[REC];
	char path[PATH_MAX], dir[PATH_MAX];
	size_t size = 0;
	struct stat sb;
	char *b;
	int fd;

	CHECK(t != NULL);
	test_join(path, sizeof(path), tmp, name);
	test_join(dir, sizeof(dir), tmp, "rt/tags");
	CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700);
	CHECK_RC(shield_tagfile_read(t, got, &st, NULL), 0); /* nothing recorded yet */
	CHECK(st == SHIELD_TAG_NONE);

	memset(tag, 0x42, sizeof(tag));
	CHECK_OK(shield_tagfile_write(t, tag, NULL));
	CHECK_RC(shield_tagfile_read(t, got, &st, NULL), 0);
	CHECK(st == SHIELD_TAG_OK);
	CHECK_MEM(got, tag, sizeof(tag));
	CHECK(stat(path, &sb) == 0 && sb.st_size == REC && (sb.st_mode & 0777) == 0600);
	b = test_slurp(path, &size);
	CHECK(b != NULL && size == REC);
	memcpy(first, b, REC);
	free(b);

	/* the same tag again: a new nonce, so other bytes, and no temporary left */
	CHECK_OK(shield_tagfile_write(t, tag, NULL));
	b = test_slurp(path, &size);
	CHECK(b != NULL && size == REC);
	memcpy(rec, b, REC);
	free(b);
	CHECK(memcmp(rec, first, 24) == 0 && memcmp(rec + 24, first + 24, 12) != 0);
	CHECK(count_entries(dir) == 1);

	/* a newer tag replaces the record */
	memset(tag, 0x43, sizeof(tag));
	CHECK_OK(shield_tagfile_write(t, tag, NULL));
	CHECK_RC(shield_tagfile_read(t, got, &st, NULL), 0);
	CHECK(st == SHIELD_TAG_OK);
	CHECK_MEM(got, tag, sizeof(tag));

	/* the committed vector, put in place, reads as written by python */
	load(&v_basic, rec);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	CHECK(fd >= 0 && write(fd, rec, REC) == REC);
	CHECK_RC(shield_tagfile_read(t, got, &st, NULL), 0);
	CHECK(st == SHIELD_TAG_OK);
	test_unhex(v_basic.tag, tag, sizeof(tag));
	CHECK_MEM(got, tag, sizeof(tag));

	/* extended on disk, then truncated, then not a record */
	CHECK(write(fd, "x", 1) == 1);
	CHECK_RC(shield_tagfile_read(t, got, &st, NULL), SHELTER_E_INTEGRITY);
	CHECK(ftruncate(fd, REC - 1) == 0);
	CHECK_RC(shield_tagfile_read(t, got, &st, NULL), SHELTER_E_INTEGRITY);
	CHECK(ftruncate(fd, 0) == 0);
	CHECK_RC(shield_tagfile_read(t, got, &st, NULL), SHELTER_E_MALFORMED);
	close(fd);

	/* a symbolic link in its place is not followed (O_NOFOLLOW) */
	CHECK(unlink(path) == 0 && symlink(VEC_DIR "v1-basic.tag", path) == 0);
	CHECK(shield_tagfile_read(t, got, &st, NULL) < 0);
	CHECK(st == SHIELD_TAG_NONE);
	shield_tagfile_free(t);
}

int main(void)
{
	test_binary = "test_shield_tags";
	snprintf(tmp, sizeof(tmp), "%s/shelter-test-shield-tags-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}

	RUN(parse_refuses_what_is_not_a_record);
	RUN(parse_refuses_truncated_and_extended);
	RUN(parse_refuses_every_bit_flip);
	RUN(parse_reports_another_key_as_foreign);
	RUN(parse_refuses_record_copied_elsewhere);
	RUN(new_from_key_refuses_bad_state_dir);

	RUN(vector_v1_basic);
	RUN(vector_v1_paths);
	RUN(vector_v1_foreign_under_its_own_key);

	RUN(write_then_read_round_trip);

	test_rm_tree(tmp);
	return test_total_failed ? 1 : 0;
}
