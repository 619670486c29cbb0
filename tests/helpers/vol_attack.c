/* vol_attack: library-level tool for tests/attacks/volume_attacks.sh.
 *
 *   build DIR KEY               create the reference volume (64 KiB segments, so the
 *                               files spread over several segment files); prints its tag
 *   grow DIR KEY small|big      write more: "small" appends to the last segment without
 *                               rolling over, "big" rolls over into new segments; prints
 *                               the new tag
 *   compact DIR KEY             compact (a checkpoint replaces the segments before it),
 *                               then write a little more; prints the new tag
 *   map DIR KEY                 list segment files and record headers (parsed here from
 *                               the spec, independently of the library's parser), with
 *                               the plaintext path of each DATA record
 *   dump DIR KEY [TAG]          open (with expected_tag TAG) and print a manifest: the
 *                               tag, then one line per entry with type, mode, size, mtime
 *                               and SHA-256 of the content (or the link target)
 *   check DIR KEY MANIFEST [TAG]
 *                               like dump, then compare with MANIFEST and print one class:
 *                               REFUSED (open failed), PARTIAL (some reads failed, the rest
 *                               identical), IDENTICAL, SAMEDATA (content identical, tag
 *                               not), WRONG (something served differs: altered bytes)
 *   tamper DIR KEY MANIFEST flip FILE OFFSET BIT
 *   tamper DIR KEY MANIFEST copy FILE FROM TO
 *                               open the volume, then flip a bit of DIR/FILE or copy one
 *                               DATA record (4156 bytes) over another, then read
 *                               everything through the open handle and judge it (as check)
 *   verify-fds DIR KEY N        run verify N times; print the descriptors held before
 *                               and after (a failing verify must not leak)
 *   sweep DIR KEY MANIFEST TAG STRIDE FILE [FROM COUNT all]
 *                               flip one bit (bit = offset mod 8) at every STRIDE-th byte
 *                               of DIR/FILE (or of COUNT bytes from FROM; with "all", each
 *                               of the 8 bits in turn); for each flip run
 *                               shelter_volume_verify and check (as above) that no wrong
 *                               data is served; restores the volume after each flip
 *
 * Exit status: 0 done (check and sweep: see their output), 1 failure, 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shelter/crypto.h"
#include "shelter/volume.h"

#define SEG_SIZE 65536u
#define CHUNK 4096u
#define SEGHDR 96u
#define RECHDR 44u
#define MAX_LINES 512
#define MAX_FILE (UINT64_C(16) << 20)

/* ---- small utilities ----------------------------------------------------------- */

static int fail(const char *what, const struct shelter_err *err)
{
	fprintf(stderr, "vol_attack: %s: %s\n", what,
		err->msg[0] ? err->msg : shelter_code_str(err->code));
	return 1;
}

static int read_key(const char *path, uint8_t key[SHELTER_VOLUME_KEY_SIZE])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "vol_attack: key file '%s': %s\n", path, strerror(errno));
		return -1;
	}
	n = read(fd, key, SHELTER_VOLUME_KEY_SIZE);
	close(fd);
	if (n != SHELTER_VOLUME_KEY_SIZE) {
		fprintf(stderr, "vol_attack: key file '%s': need %d bytes\n", path,
			SHELTER_VOLUME_KEY_SIZE);
		return -1;
	}
	return 0;
}

static int parse_tag(const char *hex, uint8_t tag[SHELTER_VOLUME_TAG_SIZE])
{
	if (strlen(hex) != 2 * SHELTER_VOLUME_TAG_SIZE ||
	    shelter_unhex(hex, tag, SHELTER_VOLUME_TAG_SIZE) < 0) {
		fprintf(stderr, "vol_attack: a tag is %d hex characters\n",
			2 * SHELTER_VOLUME_TAG_SIZE);
		return -1;
	}
	return 0;
}

/* Deterministic, non-zero-looking content (xorshift64*), so no page of a segment is
 * accidentally all zeros. */
static void fill(uint8_t *buf, size_t size, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15u + 1;

	for (size_t i = 0; i < size; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		buf[i] = (uint8_t)((x * 0x2545f4914f6cdd1du) >> 56);
	}
}

static int write_at(struct shelter_volume *vol, const char *path, uint64_t off, size_t size,
		    uint64_t seed, struct shelter_err *err)
{
	struct shelter_file *f = NULL;
	uint8_t *buf = malloc(size);
	int rc;

	if (buf == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	fill(buf, size, seed);
	rc = shelter_file_open(vol, path, SHELTER_O_WRONLY | SHELTER_O_CREAT, 0644, &f, err);
	if (rc == 0)
		rc = shelter_file_pwrite(f, buf, size, off, NULL, err);
	shelter_file_close(f);
	free(buf);
	return rc;
}

/* Write size bytes at off one chunk per call, so each chunk is a group of its own
 * and a file spreads over segments. */
static int write_chunks(struct shelter_volume *vol, const char *path, uint64_t off,
			size_t size, uint64_t seed, struct shelter_err *err)
{
	int rc = 0;

	for (size_t done = 0; done < size && rc == 0; done += CHUNK) {
		size_t n = size - done < CHUNK ? size - done : CHUNK;

		rc = write_at(vol, path, off + done, n, seed + done, err);
	}
	return rc;
}

static int print_tag(struct shelter_volume *vol, struct shelter_err *err)
{
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];
	char hex[2 * SHELTER_VOLUME_TAG_SIZE + 1];
	int rc = shelter_volume_tag(vol, tag, err);

	if (rc == 0) {
		shelter_hex(tag, sizeof(tag), hex);
		printf("%s\n", hex);
	}
	return rc;
}

/* ---- build, grow ------------------------------------------------------------------ */

static int populate(struct shelter_volume *vol, struct shelter_err *err)
{
	int rc = shelter_volume_mkdirs(vol, "docs/notes/deep", 0755, err);

	if (rc == 0)
		rc = write_at(vol, "hello.txt", 0, 200, 1, err);
	if (rc == 0)
		rc = shelter_volume_mkdir(vol, "data", 0750, err);
	if (rc == 0)
		rc = shelter_volume_symlink(vol, "data/big.bin", "link-to-big", err);
	if (rc == 0)
		rc = write_chunks(vol, "data/big.bin", 0, 10 * CHUNK + 1234, 2, err);
	if (rc == 0)
		rc = write_at(vol, "docs/notes/deep/nested.txt", 0, 5000, 3, err);
	/* sparse: chunks 0 and 20 stored, a hole between */
	if (rc == 0)
		rc = write_at(vol, "data/sparse.bin", 0, CHUNK, 4, err);
	if (rc == 0)
		rc = write_at(vol, "data/sparse.bin", 20 * CHUNK, 3000, 5, err);
	/* one multi-chunk group */
	if (rc == 0)
		rc = write_at(vol, "data/multi.bin", 0, 5 * CHUNK + 77, 6, err);
	/* an overwrite, so superseded records exist */
	if (rc == 0)
		rc = write_at(vol, "data/big.bin", 2 * CHUNK + 100, 500, 7, err);
	if (rc == 0)
		rc = write_at(vol, "docs/readme.md", 0, 300, 8, err);
	if (rc == 0)
		rc = shelter_volume_chmod(vol, "docs/readme.md", 0600, err);
	if (rc == 0)
		rc = write_chunks(vol, "docs/notes/log.txt", 0, 2 * CHUNK + 10, 9, err);
	/* end on a metadata record, so the log's last record is a short one */
	if (rc == 0)
		rc = shelter_volume_mkdir(vol, "docs/empty", 0700, err);
	if (rc == 0)
		rc = shelter_volume_sync(vol, err);
	return rc;
}

static int cmd_build(int argc, char **argv)
{
	struct shelter_volume_options opts = { .segment_size = SEG_SIZE };
	uint8_t key[SHELTER_VOLUME_KEY_SIZE];
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	int rc;

	if (argc != 2 || read_key(argv[1], key) < 0)
		return 2;
	shelter_err_clear(&err);
	rc = shelter_volume_create(argv[0], key, &err);
	if (rc == 0)
		rc = shelter_volume_open(argv[0], key, &opts, &vol, &err);
	if (rc == 0)
		rc = populate(vol, &err);
	if (rc == 0)
		rc = print_tag(vol, &err);
	shelter_volume_close(vol);
	shelter_wipe(key, sizeof(key));
	return rc < 0 ? fail("build", &err) : 0;
}

static int cmd_grow(int argc, char **argv)
{
	struct shelter_volume_options opts = { .segment_size = SEG_SIZE };
	uint8_t key[SHELTER_VOLUME_KEY_SIZE];
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	int big, rc;

	if (argc != 3 || read_key(argv[1], key) < 0)
		return 2;
	big = strcmp(argv[2], "big") == 0;
	if (!big && strcmp(argv[2], "small") != 0)
		return 2;
	shelter_err_clear(&err);
	/* small: the default (256 MiB) segment size, so the last segment never rolls over */
	rc = shelter_volume_open(argv[0], key, big ? &opts : NULL, &vol, &err);
	if (rc == 0 && big)
		rc = write_chunks(vol, "data/grown.bin", 0, 12 * CHUNK, 10, &err);
	if (rc == 0 && !big)
		rc = write_at(vol, "docs/readme.md", 300, 100, 11, &err);
	if (rc == 0)
		rc = shelter_volume_sync(vol, &err);
	if (rc == 0)
		rc = print_tag(vol, &err);
	shelter_volume_close(vol);
	shelter_wipe(key, sizeof(key));
	return rc < 0 ? fail("grow", &err) : 0;
}

/* Compact (docs/formats/volume.md §10: a checkpoint segment replaces the log before
 * it), then log a few more operations after the checkpoint. */
static int cmd_compact(int argc, char **argv)
{
	struct shelter_volume_options opts = { .segment_size = SEG_SIZE };
	uint8_t key[SHELTER_VOLUME_KEY_SIZE];
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	int rc;

	if (argc != 2 || read_key(argv[1], key) < 0)
		return 2;
	shelter_err_clear(&err);
	rc = shelter_volume_open(argv[0], key, &opts, &vol, &err);
	if (rc == 0)
		rc = shelter_volume_compact(vol, &err);
	if (rc == 0)
		rc = write_at(vol, "after.txt", 0, 3000, 12, &err);
	if (rc == 0)
		rc = shelter_volume_mkdir(vol, "after", 0755, &err);
	if (rc == 0)
		rc = shelter_volume_sync(vol, &err);
	if (rc == 0)
		rc = print_tag(vol, &err);
	shelter_volume_close(vol);
	shelter_wipe(key, sizeof(key));
	return rc < 0 ? fail("compact", &err) : 0;
}

/* ---- manifest ------------------------------------------------------------------- */

struct lines {
	char *v[MAX_LINES];
	size_t count;
	int overflow;
};

static void lines_add(struct lines *l, const char *s)
{
	char *d;

	if (l->count == MAX_LINES || (d = strdup(s)) == NULL) {
		l->overflow = 1;
		return;
	}
	l->v[l->count++] = d;
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->v[i]);
	l->count = 0;
}

struct walk {
	struct shelter_volume *vol;
	struct lines *out;
	const char *dir;
	int errors;
};

static void hash_file(struct walk *w, const char *path, const struct shelter_stat *st)
{
	struct shelter_file *f = NULL;
	struct shelter_err err;
	uint8_t md[SHELTER_SHA256_SIZE], *buf = NULL;
	char hex[2 * SHELTER_SHA256_SIZE + 1], line[4400];
	size_t got = 0, have = 0;
	int rc;

	shelter_err_clear(&err);
	if (st->size > MAX_FILE) {
		rc = shelter_err_set(&err, SHELTER_E_FBIG, "file too large for this tool");
		goto out;
	}
	buf = malloc(st->size + 1);
	rc = buf ? shelter_file_open(w->vol, path, SHELTER_O_RDONLY, 0, &f, &err)
		 : shelter_err_set(&err, SHELTER_E_NOMEM, "out of memory");
	/* read in odd-sized pieces so partial chunks are exercised too */
	while (rc == 0) {
		size_t want = st->size + 1 - have < 5000 ? st->size + 1 - have : 5000;

		rc = shelter_file_pread(f, buf + have, want, have, &got, &err);
		if (rc < 0 || got == 0)
			break;
		have += got;
	}
	if (rc == 0 && have != st->size)
		rc = shelter_err_set(&err, SHELTER_E_INTERNAL, "read %zu bytes, size says %" PRIu64,
				     have, st->size);
	if (rc == 0)
		rc = shelter_sha256(buf, have, md, &err);
out:
	shelter_file_close(f);
	free(buf);
	if (rc < 0) {
		snprintf(line, sizeof(line), "ERR %s %s", path, shelter_code_str(rc));
		fprintf(stderr, "vol_attack: read '%s': %s\n", path, err.msg);
		w->errors++;
	} else {
		shelter_hex(md, sizeof(md), hex);
		snprintf(line, sizeof(line), "f %04o %" PRIu64 " %" PRId64 " %s %s", st->mode,
			 st->size, st->mtime_ns, hex, path);
	}
	lines_add(w->out, line);
}

static int walk_dir(struct walk *w);

static int walk_one(void *ctx, const char *name, const struct shelter_stat *st)
{
	struct walk *w = ctx, sub = *w;
	struct shelter_err err;
	char path[SHELTER_VOLUME_PATH_MAX], target[SHELTER_VOLUME_PATH_MAX], line[9000];
	int rc;

	snprintf(path, sizeof(path), "%s%s%s", w->dir, w->dir[0] ? "/" : "", name);
	shelter_err_clear(&err);
	switch (st->type) {
	case SHELTER_FT_DIR:
		snprintf(line, sizeof(line), "d %04o %" PRId64 " %s", st->mode, st->mtime_ns, path);
		lines_add(w->out, line);
		sub.dir = path;
		rc = walk_dir(&sub);
		w->errors = sub.errors;
		return rc;
	case SHELTER_FT_LNK:
		rc = shelter_volume_readlink(w->vol, path, target, sizeof(target), &err);
		if (rc < 0) {
			snprintf(line, sizeof(line), "ERR %s %s", path, shelter_code_str(rc));
			w->errors++;
		} else {
			snprintf(line, sizeof(line), "l %" PRId64 " %s -> %s", st->mtime_ns, path,
				 target);
		}
		lines_add(w->out, line);
		return 0;
	case SHELTER_FT_REG:
		hash_file(w, path, st);
		return 0;
	default:
		snprintf(line, sizeof(line), "? %u %s", st->type, path);
		lines_add(w->out, line);
		return 0;
	}
}

static int walk_dir(struct walk *w)
{
	struct shelter_err err;
	char line[SHELTER_VOLUME_PATH_MAX + 32];
	int rc;

	shelter_err_clear(&err);
	rc = shelter_volume_readdir(w->vol, w->dir, walk_one, w, &err);
	if (rc < 0 && err.code != 0) {
		snprintf(line, sizeof(line), "ERR %s/ %s", w->dir, shelter_code_str(rc));
		lines_add(w->out, line);
		w->errors++;
	}
	return 0;
}

/* The manifest of an open volume: its tag, then every entry. */
static int walk_volume(struct shelter_volume *vol, struct lines *out, struct shelter_err *err)
{
	struct walk w = { .vol = vol, .out = out, .dir = "" };
	uint8_t cur[SHELTER_VOLUME_TAG_SIZE];
	char hex[2 * SHELTER_VOLUME_TAG_SIZE + 1], line[80];
	int rc = shelter_volume_tag(vol, cur, err);

	if (rc < 0) {
		snprintf(line, sizeof(line), "ERR / %s", shelter_code_str(rc));
		lines_add(out, line);
		return 0;
	}
	shelter_hex(cur, sizeof(cur), hex);
	snprintf(line, sizeof(line), "tag %s", hex);
	lines_add(out, line);
	return walk_dir(&w);
}

/* Open the volume and fill out with its manifest. Returns 0, or the open error. */
static int manifest(const char *dir, const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
		    const uint8_t *tag, struct lines *out, struct shelter_err *err)
{
	struct shelter_volume_options opts = { .expected_tag = tag };
	struct shelter_volume *vol = NULL;
	int rc = shelter_volume_open(dir, key, &opts, &vol, err);

	if (rc == 0)
		rc = walk_volume(vol, out, err);
	shelter_volume_close(vol);
	return rc;
}

static int cmd_dump(int argc, char **argv)
{
	uint8_t key[SHELTER_VOLUME_KEY_SIZE], tag[SHELTER_VOLUME_TAG_SIZE];
	struct lines l = { 0 };
	struct shelter_err err;
	int rc, bad = 0;

	if (argc < 2 || argc > 3 || read_key(argv[1], key) < 0 ||
	    (argc == 3 && parse_tag(argv[2], tag) < 0))
		return 2;
	shelter_err_clear(&err);
	rc = manifest(argv[0], key, argc == 3 ? tag : NULL, &l, &err);
	shelter_wipe(key, sizeof(key));
	if (rc < 0) {
		lines_free(&l);
		return fail("open", &err);
	}
	for (size_t i = 0; i < l.count; i++) {
		printf("%s\n", l.v[i]);
		bad |= strncmp(l.v[i], "ERR ", 4) == 0;
	}
	lines_free(&l);
	return bad || l.overflow;
}

static int load_lines(const char *path, struct lines *l)
{
	char buf[9000];
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		fprintf(stderr, "vol_attack: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		lines_add(l, buf);
	}
	fclose(fp);
	return l->overflow ? -1 : 0;
}

/* The path a manifest line describes (its last field; for links, before " -> "). */
static void line_path(const char *line, char *out, size_t size)
{
	const char *arrow = strstr(line, " -> ");
	const char *end = arrow ? arrow : line + strlen(line);
	const char *p = end;

	if (strncmp(line, "ERR ", 4) == 0) {
		p = line + 4;
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
	} else {
		while (p > line && p[-1] != ' ')
			p--;
	}
	snprintf(out, size, "%.*s", (int)(end - p), p);
}

static int has_line(const struct lines *l, const char *s)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

/* Is path, or a directory above it, named by an ERR line of got? */
static int refused_path(const struct lines *got, const char *path)
{
	for (size_t i = 0; i < got->count; i++) {
		char p[SHELTER_VOLUME_PATH_MAX];
		size_t n;

		if (strncmp(got->v[i], "ERR ", 4) != 0)
			continue;
		line_path(got->v[i], p, sizeof(p));
		n = strlen(p);
		if (strcmp(p, path) == 0 || (n > 0 && p[n - 1] == '/' && strncmp(p, path, n) == 0) ||
		    (n > 0 && p[n - 1] == '/' && n == 1))
			return 1;
	}
	return 0;
}

enum verdict { V_REFUSED, V_PARTIAL, V_IDENTICAL, V_SAMEDATA, V_WRONG };
static const char *const verdict_name[] = { "REFUSED", "PARTIAL", "IDENTICAL", "SAMEDATA",
					    "WRONG" };

/* Compare what the library served (got) with the pristine manifest (want); print
 * every difference that is not a refusal. */
static enum verdict judge(const struct lines *want, const struct lines *got, FILE *why)
{
	int wrong = 0, partial = 0, tagdiff = 0;
	char path[SHELTER_VOLUME_PATH_MAX];

	for (size_t i = 0; i < got->count; i++) {
		const char *s = got->v[i];

		if (strncmp(s, "ERR ", 4) == 0) {
			partial = 1;
			continue;
		}
		if (strncmp(s, "tag ", 4) == 0) {
			tagdiff |= !has_line(want, s);
			continue;
		}
		if (!has_line(want, s)) {
			fprintf(why, "  served, differs from the original: %s\n", s);
			wrong = 1;
		}
	}
	for (size_t i = 0; i < want->count; i++) {
		if (strncmp(want->v[i], "tag ", 4) == 0 || has_line(got, want->v[i]))
			continue;
		line_path(want->v[i], path, sizeof(path));
		if (refused_path(got, path))
			continue;
		/* a changed line was reported above; a vanished one is reported here */
		for (size_t j = 0; j < got->count; j++) {
			char p[SHELTER_VOLUME_PATH_MAX];

			line_path(got->v[j], p, sizeof(p));
			if (strcmp(p, path) == 0)
				goto next;
		}
		fprintf(why, "  missing from what was served: %s\n", want->v[i]);
		wrong = 1;
next:;
	}
	if (got->overflow)
		wrong = 1;
	if (wrong)
		return V_WRONG;
	if (partial)
		return V_PARTIAL;
	return tagdiff ? V_SAMEDATA : V_IDENTICAL;
}

/* Open (with the expected tag), read everything, judge against want. */
static enum verdict examine(const char *dir, const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
			    const uint8_t *tag, const struct lines *want, int *out_code,
			    struct shelter_err *err, FILE *why)
{
	struct lines got = { 0 };
	enum verdict v;
	int rc = manifest(dir, key, tag, &got, err);

	*out_code = rc;
	if (rc < 0) {
		lines_free(&got);
		return V_REFUSED;
	}
	v = judge(want, &got, why);
	lines_free(&got);
	return v;
}

static int cmd_check(int argc, char **argv)
{
	uint8_t key[SHELTER_VOLUME_KEY_SIZE], tag[SHELTER_VOLUME_TAG_SIZE];
	struct lines want = { 0 };
	struct shelter_err err;
	enum verdict v;
	int code;

	if (argc < 3 || argc > 4 || read_key(argv[1], key) < 0 ||
	    (argc == 4 && parse_tag(argv[3], tag) < 0) || load_lines(argv[2], &want) < 0)
		return 2;
	shelter_err_clear(&err);
	v = examine(argv[0], key, argc == 4 ? tag : NULL, &want, &code, &err, stdout);
	shelter_wipe(key, sizeof(key));
	lines_free(&want);
	printf("%s", verdict_name[v]);
	if (v == V_REFUSED)
		printf(" (%s): %s", shelter_code_str(code), err.msg);
	printf("\n");
	return 0;
}

/* ---- map ------------------------------------------------------------------------ */

struct inomap {
	uint64_t ino[MAX_LINES];
	char *path[MAX_LINES];
	size_t count;
};

struct mapwalk {
	struct shelter_volume *vol;
	struct inomap *m;
	const char *dir;
};

static int map_one(void *ctx, const char *name, const struct shelter_stat *st)
{
	struct mapwalk *w = ctx, sub = *w;
	char path[SHELTER_VOLUME_PATH_MAX];
	struct shelter_err err;

	snprintf(path, sizeof(path), "%s%s%s", w->dir, w->dir[0] ? "/" : "", name);
	if (w->m->count < MAX_LINES) {
		w->m->ino[w->m->count] = st->ino;
		w->m->path[w->m->count++] = strdup(path);
	}
	if (st->type != SHELTER_FT_DIR)
		return 0;
	sub.dir = path;
	shelter_err_clear(&err);
	return shelter_volume_readdir(w->vol, path, map_one, &sub, &err);
}

static const char *ino_path(const struct inomap *m, uint64_t ino)
{
	for (size_t i = 0; i < m->count; i++)
		if (m->ino[i] == ino && m->path[i] != NULL)
			return m->path[i];
	return "-";
}

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* docs/formats/volume.md §4/§5: a segment is a 96-byte header, then records, each a
 * 44-byte header (len 4 | kind 1 | flags 1 | reserved 2 | seq 8 | ino 8 | chunk 8 |
 * nonce 12), ciphertext and a 16-byte tag; len counts all of it. */
static void map_segment(int logfd, const char *name, const struct inomap *m)
{
	uint8_t hdr[RECHDR];
	struct stat st;
	uint64_t off = SEGHDR, segno = 0;
	int fd = openat(logfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (pread(fd, hdr, 32, 0) == 32)
		segno = be(hdr + 16, 8);
	printf("seg %" PRIu64 " %s %lld\n", segno, name, (long long)st.st_size);
	while (off + RECHDR <= (uint64_t)st.st_size &&
	       pread(fd, hdr, RECHDR, (off_t)off) == (ssize_t)RECHDR) {
		uint64_t len = be(hdr, 4), ino = be(hdr + 16, 8);

		if (len < RECHDR + 16 || off + len > (uint64_t)st.st_size)
			break;
		printf("rec %" PRIu64 " %" PRIu64 " %" PRIu64 " %u %u %" PRIu64 " %" PRIu64
		       " %" PRIu64 " %s\n", segno, off, len, hdr[4],
		       hdr[5], be(hdr + 8, 8), ino, be(hdr + 24, 8),
		       hdr[4] == 1 || hdr[4] == 3 ? ino_path(m, ino) : "-");
		off += len;
	}
	if (off < (uint64_t)st.st_size)
		printf("tail %s %" PRIu64 " %" PRIu64 "\n", name, off, (uint64_t)st.st_size - off);
	close(fd);
}

static int seg_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_map(int argc, char **argv)
{
	uint8_t key[SHELTER_VOLUME_KEY_SIZE];
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	struct inomap m = { 0 };
	struct mapwalk w = { .m = &m, .dir = "" };
	char path[4096], *names[MAX_LINES];
	size_t count = 0;
	struct dirent *e;
	DIR *d;
	int logfd, rc;

	if (argc != 2 || read_key(argv[1], key) < 0)
		return 2;
	shelter_err_clear(&err);
	rc = shelter_volume_open(argv[0], key, NULL, &vol, &err);
	shelter_wipe(key, sizeof(key));
	if (rc == 0) {
		w.vol = vol;
		rc = shelter_volume_readdir(vol, "", map_one, &w, &err);
	}
	shelter_volume_close(vol);
	if (rc < 0)
		return fail("map", &err);
	snprintf(path, sizeof(path), "%s/log", argv[0]);
	d = opendir(path);
	logfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (d != NULL && (e = readdir(d)) != NULL && count < MAX_LINES)
		if (strlen(e->d_name) == 20 && strcmp(e->d_name + 16, ".seg") == 0)
			names[count++] = strdup(e->d_name);
	if (d != NULL)
		closedir(d);
	qsort(names, count, sizeof(names[0]), seg_cmp);
	for (size_t i = 0; i < count; i++) {
		if (names[i] != NULL && logfd >= 0) {
			map_segment(logfd, names[i], &m);
		}
		free(names[i]);
	}
	if (logfd >= 0)
		close(logfd);
	for (size_t i = 0; i < m.count; i++)
		free(m.path[i]);
	return 0;
}

/* ---- tamper while open ------------------------------------------------------------ */

static int flip_bit(const char *path, uint64_t off, unsigned bit);

static int copy_range(const char *path, uint64_t from, uint64_t to, size_t size)
{
	uint8_t *buf = malloc(size);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int ok = buf != NULL && fd >= 0 && pread(fd, buf, size, (off_t)from) == (ssize_t)size &&
		 pwrite(fd, buf, size, (off_t)to) == (ssize_t)size;

	if (fd >= 0)
		close(fd);
	free(buf);
	return ok ? 0 : -1;
}

/* tamper DIR KEY MANIFEST flip FILE OFFSET BIT | copy FILE FROM TO SIZE: open the
 * volume, then change a file under it (the host may do so at any time), then read
 * everything through the handle that is already open and judge what it served. */
static int cmd_tamper(int argc, char **argv)
{
	uint8_t key[SHELTER_VOLUME_KEY_SIZE];
	struct shelter_volume *vol = NULL;
	struct lines want = { 0 }, got = { 0 };
	struct shelter_err err;
	char path[4096];
	enum verdict v;
	int rc;

	if (argc != 7 || read_key(argv[1], key) < 0 || load_lines(argv[2], &want) < 0)
		return 2;
	shelter_err_clear(&err);
	rc = shelter_volume_open(argv[0], key, NULL, &vol, &err);
	shelter_wipe(key, sizeof(key));
	if (rc < 0)
		return fail("open", &err);
	snprintf(path, sizeof(path), "%s/%s", argv[0], argv[4]);
	if (strcmp(argv[3], "flip") == 0)
		rc = flip_bit(path, strtoull(argv[5], NULL, 10), (unsigned)atoi(argv[6]) & 7);
	else if (strcmp(argv[3], "copy") == 0)
		rc = copy_range(path, strtoull(argv[5], NULL, 10), strtoull(argv[6], NULL, 10), 4156);
	else
		rc = -1;
	if (rc < 0) {
		fprintf(stderr, "vol_attack: tamper: cannot change %s\n", path);
		shelter_volume_close(vol);
		return 2;
	}
	rc = walk_volume(vol, &got, &err);
	shelter_volume_close(vol);
	v = judge(&want, &got, stdout);
	printf("%s\n", verdict_name[v]);
	lines_free(&want);
	lines_free(&got);
	return rc < 0;
}

/* ---- resources -------------------------------------------------------------------- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return n;
}

/* verify-fds DIR KEY N: run shelter_volume_verify N times and print how many file
 * descriptors this process holds before and after; a failing verify must release
 * everything it opened, like a passing one. */
static int cmd_verify_fds(int argc, char **argv)
{
	uint8_t key[SHELTER_VOLUME_KEY_SIZE];
	struct shelter_err err;
	int before, rc = 0, n;

	if (argc != 3 || read_key(argv[1], key) < 0 || (n = atoi(argv[2])) <= 0)
		return 2;
	before = count_fds();
	for (int i = 0; i < n; i++)
		rc = shelter_volume_verify(argv[0], key, NULL, NULL, NULL, &err);
	shelter_wipe(key, sizeof(key));
	printf("verify returned %d (%s); descriptors before %d, after %d verifies %d\n", rc,
	       shelter_code_str(rc), before, n, count_fds());
	return 0;
}

/* ---- sweep ---------------------------------------------------------------------- */

struct snapfile {
	char name[300]; /* relative to the volume directory */
	uint8_t *data;
	size_t size;
};

struct snapshot {
	struct snapfile f[64];
	size_t count;
};

static int slurp(const char *path, uint8_t **out, size_t *out_size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf;

	*out = NULL;
	if (fd < 0 || fstat(fd, &st) < 0 || (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		close(fd);
		return -1;
	}
	close(fd);
	*out = buf;
	*out_size = (size_t)st.st_size;
	return 0;
}

static int spill(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok;

	if (fd < 0)
		return -1;
	ok = pwrite(fd, data, size, 0) == (ssize_t)size;
	close(fd);
	return ok ? 0 : -1;
}

static int snap_take(const char *dir, struct snapshot *s)
{
	static const char *const subdirs[] = { "", "log/" };
	char path[4096];

	s->count = 0;
	for (size_t k = 0; k < 2; k++) {
		struct dirent *e;
		DIR *d;

		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[k]);
		d = opendir(path);
		while (d != NULL && (e = readdir(d)) != NULL) {
			struct snapfile *f = &s->f[s->count];

			if (e->d_type != DT_REG || s->count == 64)
				continue;
			snprintf(f->name, sizeof(f->name), "%s%s", subdirs[k], e->d_name);
			snprintf(path, sizeof(path), "%s/%s", dir, f->name);
			if (slurp(path, &f->data, &f->size) < 0) {
				closedir(d);
				return -1;
			}
			s->count++;
		}
		if (d != NULL)
			closedir(d);
		else
			return -1;
	}
	return 0;
}

/* Put the volume back as it was: rewrite files whose size changed (open only ever
 * truncates a torn tail or creates a segment) and the one that was flipped, and
 * remove what open created. */
static int snap_restore(const char *dir, const struct snapshot *s, const char *flipped)
{
	char path[4096];
	struct dirent *e;
	DIR *d;

	for (size_t i = 0; i < s->count; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, s->f[i].name);
		if (strcmp(s->f[i].name, flipped) == 0 || stat(path, &st) < 0 ||
		    (size_t)st.st_size != s->f[i].size)
			if (spill(path, s->f[i].data, s->f[i].size) < 0)
				return -1;
	}
	snprintf(path, sizeof(path), "%s/log", dir);
	d = opendir(path);
	while (d != NULL && (e = readdir(d)) != NULL) {
		char name[300];
		size_t i;

		if (e->d_type != DT_REG)
			continue;
		snprintf(name, sizeof(name), "log/%s", e->d_name);
		for (i = 0; i < s->count && strcmp(s->f[i].name, name) != 0; i++)
			;
		if (i == s->count) {
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			unlink(path);
		}
	}
	if (d != NULL)
		closedir(d);
	return 0;
}

static void snap_free(struct snapshot *s)
{
	for (size_t i = 0; i < s->count; i++)
		free(s->f[i].data);
	s->count = 0;
}

struct problems {
	int found;   /* problems (kind != 0) */
	int notes;
	int kinds[8];
	char first[600];
};

static const int kind_codes[8] = { SHELTER_E_INTEGRITY, SHELTER_E_TRUNCATED, SHELTER_E_SWAPPED,
				   SHELTER_E_MISSING, SHELTER_E_UNEXPECTED, SHELTER_E_STALE,
				   SHELTER_E_BADKEY, 0 };
static const char *const kind_names[8] = { "modified", "truncated", "swapped", "missing",
					   "unexpected", "stale", "wrong-key", "other" };

static int kind_index(int kind)
{
	for (int i = 0; i < 7; i++)
		if (kind_codes[i] == kind)
			return i;
	return 7;
}

static void on_problem(void *ctx, int kind, const char *where, const char *detail)
{
	struct problems *p = ctx;
	int k = kind_index(kind);

	if (kind == 0) {
		p->notes++;
		if (p->first[0] == '\0')
			snprintf(p->first, sizeof(p->first), "note: %s: %s", where, detail);
		return;
	}
	if (p->found++ == 0)
		snprintf(p->first, sizeof(p->first), "%s: %s: %s", kind_names[k], where, detail);
	p->kinds[k]++;
}

struct sweep_totals {
	unsigned flips, detected, torn, undetected, wrong;
	unsigned kinds[8];
};

/* One flip: verify must report it, and open + read must not serve altered data. A
 * flip verify takes for a torn tail (§8.1: the final record of the log runs past the
 * end of the file, which a crash can leave too) must at least be stale against the
 * tag of the state before the flip, and opening with that tag must fail. */
static void sweep_one(const char *dir, const uint8_t *key, const uint8_t *tag,
		      const struct lines *want, const char *file, uint64_t off, unsigned bit,
		      struct sweep_totals *t)
{
	struct problems p = { 0 }, pt = { 0 };
	struct shelter_err err;
	enum verdict v;
	int rc, code, torn = 0;

	shelter_err_clear(&err);
	rc = shelter_volume_verify(dir, key, NULL, on_problem, &p, &err);
	t->flips++;
	if (rc < 0) {
		t->detected++;
		t->kinds[kind_index(rc)]++;
	} else {
		rc = shelter_volume_verify(dir, key, tag, on_problem, &pt, &err);
		if (p.notes > 0 && p.found == 0 && rc == SHELTER_E_STALE) {
			t->torn++;
			torn = 1;
			printf("torn-like %s offset %" PRIu64 " bit %u: verify exit 0 with '%s'; "
			       "with --tag: stale\n", file, off, bit, p.first);
		} else {
			t->undetected++;
			printf("UNDETECTED %s offset %" PRIu64 " bit %u: verify returned %d%s%s\n",
			       file, off, bit, rc, p.first[0] ? ", " : "", p.first);
		}
	}
	v = examine(dir, key, torn ? tag : NULL, want, &code, &err, stdout);
	if (v == V_WRONG || (torn && !(v == V_REFUSED && code == SHELTER_E_STALE))) {
		t->wrong++;
		printf("WRONG-DATA %s offset %" PRIu64 " bit %u: open%s and read gave %s (%s)\n",
		       file, off, bit, torn ? " with the tag" : "", verdict_name[v],
		       shelter_code_str(code));
	}
}

static int flip_bit(const char *path, uint64_t off, unsigned bit)
{
	uint8_t b;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int ok;

	if (fd < 0)
		return -1;
	ok = pread(fd, &b, 1, (off_t)off) == 1;
	b ^= (uint8_t)(1u << bit);
	ok = ok && pwrite(fd, &b, 1, (off_t)off) == 1;
	close(fd);
	return ok ? 0 : -1;
}

static int cmd_sweep(int argc, char **argv)
{
	uint8_t key[SHELTER_VOLUME_KEY_SIZE], tag[SHELTER_VOLUME_TAG_SIZE];
	struct sweep_totals t = { 0 };
	struct lines want = { 0 };
	struct snapshot s = { 0 };
	char path[4096];
	const struct snapfile *target = NULL;
	unsigned long stride;

	uint64_t from = 0, end;
	int allbits = argc == 9 && strcmp(argv[8], "all") == 0;

	if ((argc != 6 && argc != 8 && argc != 9) || read_key(argv[1], key) < 0 ||
	    load_lines(argv[2], &want) < 0 || parse_tag(argv[3], tag) < 0)
		return 2;
	stride = strtoul(argv[4], NULL, 10);
	if (stride == 0 || snap_take(argv[0], &s) < 0)
		return 2;
	for (size_t i = 0; i < s.count; i++)
		if (strcmp(s.f[i].name, argv[5]) == 0)
			target = &s.f[i];
	if (target == NULL) {
		fprintf(stderr, "vol_attack: sweep: no file '%s'\n", argv[5]);
		return 2;
	}
	end = target->size;
	if (argc >= 8) {
		from = strtoull(argv[6], NULL, 10);
		if (from + strtoull(argv[7], NULL, 10) < end)
			end = from + strtoull(argv[7], NULL, 10);
	}
	snprintf(path, sizeof(path), "%s/%s", argv[0], argv[5]);
	for (uint64_t off = from; off < end; off += stride) {
		for (unsigned bit = allbits ? 0 : (unsigned)(off % 8); bit < 8; bit++) {
			if (flip_bit(path, off, bit) < 0) {
				fprintf(stderr, "vol_attack: sweep: flip %s at %" PRIu64 " failed\n",
					path, off);
				return 1;
			}
			sweep_one(argv[0], key, tag, &want, argv[5], off, bit, &t);
			if (snap_restore(argv[0], &s, argv[5]) < 0) {
				fprintf(stderr, "vol_attack: sweep: restore failed\n");
				return 1;
			}
			if (!allbits)
				break;
		}
	}
	printf("sweep %s [%" PRIu64 ", %" PRIu64 ") stride %lu%s: %u flips: %u detected (",
	       argv[5], from, end, stride, allbits ? " all bits" : "", t.flips, t.detected);
	for (int k = 0, first = 1; k < 8; k++) {
		if (t.kinds[k] == 0)
			continue;
		printf("%s%s %u", first ? "" : ", ", kind_names[k], t.kinds[k]);
		first = 0;
	}
	printf("), %u torn-like (stale with --tag), %u undetected, %u served wrong data\n", t.torn,
	       t.undetected, t.wrong);
	shelter_wipe(key, sizeof(key));
	snap_free(&s);
	lines_free(&want);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "build", cmd_build }, { "grow", cmd_grow },	{ "map", cmd_map },
		{ "dump", cmd_dump },	{ "check", cmd_check }, { "sweep", cmd_sweep },
		{ "tamper", cmd_tamper }, { "compact", cmd_compact },
		{ "verify-fds", cmd_verify_fds },
	};

	for (size_t i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 2, argv + 2);
	fprintf(stderr, "usage: vol_attack build|grow|compact|map|dump|check|sweep|tamper|verify-fds ... (see the source)\n");
	return 2;
}
