/* libFuzzer target: the replay engine (docs/formats/volume.md §4-§9) on hostile
 * segment files (STYLE.md rule 17).
 *
 * Once per process, a real volume is built in a private temporary directory with
 * shelter_volume_create and a few small operations; its VOLUME file and the header
 * of segment 1 are kept. Each input then becomes log/0000000000000001.seg:
 *
 *   - first byte even (or empty input): that valid segment header followed by the
 *     input, so the fuzzer works on the record stream;
 *   - first byte odd: the input is the whole segment file (a valid segment starts
 *     with 'S', 0x53, so a committed full segment lands here).
 *
 * and the volume goes through shelter_volume_verify (read-only, on the input as
 * given), shelter_volume_open and, when it opens, a listing of the whole tree, a
 * read of every file (all of a small one, the first and last 64 KiB of a large
 * sparse one), every symlink and the tag, then close and a second verify of what
 * open left behind (it may have cut a torn tail or started the next segment). Every call must return 0 or a negative code; crashes,
 * leaks and hangs are libFuzzer's to catch. Properties checked with abort():
 *   - verify never changes the segment file;
 *   - verify says intact => open succeeds, and verify of what open left (a cut torn
 *     tail, a new segment after a seal) says intact too;
 *   - after a successful open, listing, stat, readlink and the tag succeed, and a
 *     file reads back exactly its size; when verify found the volume intact every
 *     read succeeds, otherwise a read may fail only with an integrity code (open
 *     leaves the chunks inside a checkpoint to be authenticated when read);
 *   - problems reported by verify carry a kind documented in volume.h (or 0, the
 *     torn-tail notice) and readable strings;
 *   - no file descriptor outlives an input.
 *
 * Determinism: shelter_volume_create picks a random volume id and salts, which
 * would make the committed record seeds useless in the next process. Right after
 * create (before any record exists) the harness rewrites VOLUME and the segment 1
 * header with the library's own encoders and fixed fields, so segment 1 has the same
 * key in every run. fuzz_volume_format uses the same constants.
 *
 * SHELTER_FUZZ_VERBOSE=1 prints each input's outcome (to check what a seed reaches).
 *
 * Seed generator: SHELTER_FUZZ_SEEDS=DIR ./fuzz_volume_open writes valid record
 * streams made by the library, plus damaged and hostile-but-authenticated variants,
 * into DIR and exits (tests/fuzz/corpus/fuzz_volume_open). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shelter/crypto.h"
#include "shelter/volume.h"
#include "util/buf.h"
#include "volume/format.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_volume_open"
#include "fixture.h"

#define SEG1 "0000000000000001.seg"
#define DEPTH_MAX 16
#define READ_SPAN (UINT64_C(64) << 10)

static char g_vol[300];                /* fz_base/vol: the volume each input lands in */
static uint8_t g_volhdr[VF_HDR_SIZE];  /* its VOLUME file */
static uint8_t *g_seg;                 /* segment 1 as the library wrote it */
static size_t g_seg_size;
static struct vf_keys g_keys;
static struct vf_header g_hdr;
static struct vf_seghdr g_seghdr;
static int g_verbose;                  /* SHELTER_FUZZ_VERBOSE=1: one line per input */

static void check(int rc, const struct shelter_err *err, const char *what)
{
	if (rc != 0)
		fz_die("%s: %d %s", what, rc, err->msg);
}

/* ---- building the reference volume ---- */

static void fixed_headers(void)
{
	g_hdr.version = VF_VERSION;
	g_hdr.chunk_size = VF_CHUNK;
	g_hdr.created_ns = FZ_CREATED_NS;
	memcpy(g_hdr.volume_id, fz_volume_id, VF_ID_SIZE);
	memcpy(g_hdr.salt, fz_salt, VF_SALT_SIZE);
	g_seghdr.segno = 1;
	g_seghdr.first_seq = 1;
	memcpy(g_seghdr.volume_id, fz_volume_id, VF_ID_SIZE);
	memcpy(g_seghdr.salt, fz_seg_salt, VF_SALT_SIZE);
	if (vf_keys_derive(fz_key, fz_salt, &g_keys, NULL) < 0)
		fz_die("vf_keys_derive");
}

static void put_data(struct shelter_volume *v, const char *path, const void *buf, size_t size,
		     uint64_t off)
{
	struct shelter_file *f;
	struct shelter_err err;

	check(shelter_file_open(v, path, SHELTER_O_RDWR | SHELTER_O_CREAT, 0644, &f, &err), &err,
	      path);
	check(shelter_file_pwrite(f, buf, size, off, NULL, &err), &err, path);
	shelter_file_close(f);
}

/* A real volume: create, pin the header fields (see the top of this file), then a
 * handful of small operations of every kind. */
static void build_volume(const char *dir)
{
	char path[512];
	uint8_t seghdr[VF_SEGHDR_SIZE];
	struct shelter_volume *v;
	struct shelter_err err;

	check(shelter_volume_create(dir, fz_key, &err), &err, "create");
	vf_header_encode(&g_hdr, &g_keys, g_volhdr);
	vf_seghdr_encode(&g_seghdr, &g_keys, seghdr);
	snprintf(path, sizeof(path), "%s/VOLUME", dir);
	fz_write_file(path, g_volhdr, sizeof(g_volhdr));
	snprintf(path, sizeof(path), "%s/log/" SEG1, dir);
	fz_write_file(path, seghdr, sizeof(seghdr));

	check(shelter_volume_open(dir, fz_key, NULL, &v, &err), &err, "open");
	check(shelter_volume_mkdir(v, "docs", 0750, &err), &err, "mkdir");
	put_data(v, "docs/hello.txt", "hello, shelter\n", 15, 0);
	put_data(v, "data.bin", "tail", 4, 5000); /* chunk 0 is a hole */
	check(shelter_volume_symlink(v, "docs/hello.txt", "link", &err), &err, "symlink");
	check(shelter_volume_rename(v, "docs/hello.txt", "docs/greeting.txt", &err), &err,
	      "rename");
	check(shelter_volume_chmod(v, "data.bin", 0600, &err), &err, "chmod");
	put_data(v, "gone", "", 0, 0);
	check(shelter_volume_unlink(v, "gone", &err), &err, "unlink");
	check(shelter_volume_truncate(v, "data.bin", 5002, &err), &err, "truncate");
	shelter_volume_close(v);

	snprintf(path, sizeof(path), "%s/log/" SEG1, dir);
	g_seg = fz_read_file(path, &g_seg_size);
	if (g_seg_size <= VF_SEGHDR_SIZE || memcmp(g_seg, seghdr, VF_SEGHDR_SIZE) != 0)
		fz_die("reference segment unexpected");
}

/* ---- one input ---- */

struct problems {
	unsigned count;
};

static void on_problem(void *ctx, int kind, const char *where, const char *detail)
{
	struct problems *p = ctx;

	switch (kind) {
	case 0: /* a notice: a torn tail open would cut, superseded segments */
	case SHELTER_E_INTEGRITY:
	case SHELTER_E_TRUNCATED:
	case SHELTER_E_SWAPPED:
	case SHELTER_E_MISSING:
	case SHELTER_E_UNEXPECTED:
	case SHELTER_E_STALE:
		break;
	default:
		fz_die("verify reported undocumented kind %d at '%s': %s", kind, where, detail);
	}
	if (where == NULL || detail == NULL || strlen(where) + strlen(detail) == SIZE_MAX)
		fz_die("problem without a place or a detail"); /* strlen: ASan checks both */
	p->count++;
}

struct entries {
	char **names;
	struct shelter_stat *st;
	size_t count, cap;
};

static int on_dirent(void *ctx, const char *name, const struct shelter_stat *st)
{
	struct entries *e = ctx;

	if (e->count == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 8;

		e->names = realloc(e->names, cap * sizeof(*e->names));
		e->st = realloc(e->st, cap * sizeof(*e->st));
		if (e->names == NULL || e->st == NULL)
			fz_die("out of memory");
		e->cap = cap;
	}
	e->names[e->count] = strdup(name);
	if (e->names[e->count] == NULL)
		fz_die("out of memory");
	e->st[e->count++] = *st;
	return 0;
}

/* Set per input: verify found the volume intact, so every byte must read back.
 * Otherwise a read may fail, but only with an integrity code: chunks inside a
 * checkpoint are authenticated when read, not at open (volume.h). */
static int g_intact;

static int read_failed(const char *path, uint64_t off, int rc, const struct shelter_err *err)
{
	if (g_intact || (rc != SHELTER_E_INTEGRITY && rc != SHELTER_E_TRUNCATED &&
			 rc != SHELTER_E_SWAPPED))
		fz_die("read '%s' at %" PRIu64 " after a clean open%s: %d %s", path, off,
		    g_intact ? " of a volume verify found intact" : "", rc, err->msg);
	return 1;
}

/* Read [off, end) in odd-sized pieces (they straddle chunks). */
static int read_range(struct shelter_file *f, const char *path, uint64_t off, uint64_t end)
{
	static uint8_t buf[3 * VF_CHUNK + 7];
	struct shelter_err err;
	size_t got;

	while (off < end) {
		int rc = shelter_file_pread(f, buf, sizeof(buf), off, &got, &err);

		if (rc != 0)
			return read_failed(path, off, rc, &err);
		if (got == 0)
			fz_die("'%s': end of file at %" PRIu64 ", before %" PRIu64, path, off, end);
		off += got;
	}
	return 0;
}

/* Every byte of a small file; the head and the tail of a large (sparse) one, where a
 * replayed log can put a size of up to 2^52 bytes. */
static void read_all(struct shelter_volume *v, const char *path, const struct shelter_stat *st)
{
	struct shelter_file *f;
	struct shelter_stat fst;
	struct shelter_err err;
	uint8_t byte;
	size_t got = 0;
	int failed;

	check(shelter_file_open(v, path, SHELTER_O_RDONLY, 0, &f, &err), &err, "file open");
	if (st->size <= 2 * READ_SPAN)
		failed = read_range(f, path, 0, st->size);
	else
		failed = read_range(f, path, 0, READ_SPAN) ||
			 read_range(f, path, st->size - READ_SPAN, st->size);
	if (!failed)
		check(shelter_file_pread(f, &byte, 1, st->size, &got, &err), &err, "read at end");
	check(shelter_file_stat(f, &fst, &err), &err, "file stat");
	shelter_file_close(f);
	if (got != 0 || fst.size != st->size || fst.ino != st->ino)
		fz_die("'%s': size %" PRIu64 " but a read at the end gave %zu bytes", path, st->size,
		    got);
}

static void explore(struct shelter_volume *v, const char *dir, int depth)
{
	struct entries e = { 0 };
	struct shelter_err err;
	char path[SHELTER_VOLUME_PATH_MAX], link[SHELTER_VOLUME_PATH_MAX];

	check(shelter_volume_readdir(v, dir, on_dirent, &e, &err), &err, "readdir");
	for (size_t i = 0; i < e.count; i++) {
		struct shelter_stat st;
		int n = snprintf(path, sizeof(path), "%s/%s", dir, e.names[i]);

		if (n < 0 || (size_t)n >= sizeof(path))
			goto next;
		check(shelter_volume_stat(v, path, &st, &err), &err, "stat");
		if (st.ino != e.st[i].ino || st.type != e.st[i].type)
			fz_die("'%s': stat and readdir disagree", path);
		switch (st.type) {
		case SHELTER_FT_DIR:
			if (depth < DEPTH_MAX)
				explore(v, path, depth + 1);
			break;
		case SHELTER_FT_REG:
			read_all(v, path, &st);
			break;
		case SHELTER_FT_LNK:
			check(shelter_volume_readlink(v, path, link, sizeof(link), &err), &err,
			      "readlink");
			break;
		default:
			fz_die("'%s': file type %u", path, st.type);
		}
next:
		free(e.names[i]);
	}
	free(e.names);
	free(e.st);
}

static int verify(unsigned *out_count)
{
	struct problems p = { 0 };
	struct shelter_err err;
	int rc = shelter_volume_verify(g_vol, fz_key, NULL, on_problem, &p, &err);

	if (rc > 0)
		fz_die("verify returned %d", rc);
	*out_count = p.count;
	return rc;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX;
}

/* Put the input in place as segment 1 (see the top of this file); returns the
 * segment file's size. */
static size_t land(const uint8_t *data, size_t size, const char *seg)
{
	static uint8_t *buf;
	static size_t cap;
	char path[400];
	int whole = size > 0 && (data[0] & 1);
	size_t segsize = whole ? size : VF_SEGHDR_SIZE + size;

	if (cap < segsize) {
		free(buf);
		cap = segsize;
		buf = malloc(cap);
		if (buf == NULL)
			fz_die("out of memory");
	}
	if (whole) {
		memcpy(buf, data, size);
	} else {
		memcpy(buf, g_seg, VF_SEGHDR_SIZE);
		if (size > 0)
			memcpy(buf + VF_SEGHDR_SIZE, data, size);
	}
	snprintf(path, sizeof(path), "%s/log", g_vol);
	fz_remove_tree(path, 0); /* a new segment or leftovers from the previous input */
	snprintf(path, sizeof(path), "%s/VOLUME", g_vol);
	fz_write_file(path, g_volhdr, sizeof(g_volhdr));
	fz_write_file(seg, buf, segsize);
	return segsize;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char seg[400];
	struct shelter_volume *v = NULL;
	struct shelter_err err;
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];
	unsigned nprob1, nprob2 = 0;
	int fd0 = fz_lowest_free_fd(), rc_v1, rc_o, rc_v2 = 0;
	size_t segsize;

	snprintf(seg, sizeof(seg), "%s/log/" SEG1, g_vol);
	segsize = land(data, size, seg);
	rc_v1 = verify(&nprob1);
	g_intact = rc_v1 == 0;
	if (file_size(seg) != segsize)
		fz_die("verify changed the segment file");
	rc_o = shelter_volume_open(g_vol, fz_key, NULL, &v, &err);
	if (rc_o > 0 || (rc_o == 0) != (v != NULL))
		fz_die("open returned %d with handle %p", rc_o, (void *)v);
	if (rc_v1 == 0 && rc_o != 0)
		fz_die("verify found the volume intact but open failed: %d %s", rc_o, err.msg);
	if (rc_o == 0) {
		explore(v, "", 0);
		check(shelter_volume_tag(v, tag, &err), &err, "tag");
		shelter_volume_close(v);
		rc_v2 = verify(&nprob2);
		if (rc_v1 == 0 && rc_v2 != 0)
			fz_die("verify found the volume intact, open succeeded, but verify of what "
			    "open left says %d (%u problems)", rc_v2, nprob2);
	}
	if (g_verbose)
		fprintf(stderr, "verify %d (%u problems), open %d%s%s, verify after open %d\n",
			rc_v1, nprob1, rc_o, rc_o ? ": " : "", rc_o ? err.msg : "", rc_v2);
	if (fz_lowest_free_fd() != fd0)
		fz_die("file descriptor leaked (lowest free fd %d, was %d)", fz_lowest_free_fd(), fd0);
	return 0;
}

/* ---- seed generator (SHELTER_FUZZ_SEEDS=DIR) ---- */

static struct shelter_aead *g_seal; /* segment 1 key, for crafted records */

struct stream {
	uint8_t buf[64 * 1024];
	size_t len;
	uint64_t seq;
};

static void put_seed(const char *dir, const char *name, const uint8_t *p, size_t size)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fz_write_file(path, p, size);
}

static void s_bytes(struct stream *s, const uint8_t *p, size_t size)
{
	if (s->len + size > sizeof(s->buf))
		fz_die("generator: stream full");
	memcpy(s->buf + s->len, p, size);
	s->len += size;
}

static void s_raw(struct stream *s, uint8_t kind, uint8_t flags, uint64_t ino, uint64_t chunk,
		  const uint8_t *pt, size_t n)
{
	uint8_t nonce[SHELTER_GCM_NONCE_SIZE];

	if (s->len + n + VF_REC_OVERHEAD > sizeof(s->buf) ||
	    shelter_random_bytes(nonce, sizeof(nonce), NULL) < 0 ||
	    vf_rec_seal(g_seal, fz_volume_id, 1, kind, flags, s->seq++, ino, chunk, nonce, pt, n,
			s->buf + s->len, NULL) < 0)
		fz_die("generator: seal");
	s->len += n + VF_REC_OVERHEAD;
}

static void s_kmeta(struct stream *s, uint8_t kind, const struct vf_meta *m, int last)
{
	uint8_t pt[VF_META_MAX];
	size_t n = vf_meta_encode(m, pt, sizeof(pt));

	if (n == 0)
		fz_die("generator: encode");
	s_raw(s, kind, last ? VF_FLAG_END : 0, 0, 0, pt, n);
}

static void s_kdata(struct stream *s, uint8_t kind, uint64_t ino, uint64_t chunk, int last)
{
	uint8_t pt[VF_CHUNK];

	memset(pt, 'd', sizeof(pt));
	s_raw(s, kind, last ? VF_FLAG_END : 0, ino, chunk, pt, sizeof(pt));
}

static void s_meta(struct stream *s, const struct vf_meta *m, int last)
{
	s_kmeta(s, VF_KIND_META, m, last);
}

static void s_data(struct stream *s, uint64_t ino, uint64_t chunk, int last)
{
	s_kdata(s, VF_KIND_DATA, ino, chunk, last);
}

static struct vf_meta mk_create(uint64_t parent, uint8_t type, const char *name,
				const char *target)
{
	struct vf_meta m = { .op = VF_OP_CREATE, .type = type, .parent = parent,
			     .mode = type == 2 ? 0755 : 0644, .time_ns = FZ_CREATED_NS,
			     .name = name, .name_len = (uint16_t)strlen(name) };

	if (target != NULL) {
		m.target = target;
		m.target_len = (uint16_t)strlen(target);
	}
	return m;
}

static struct vf_meta mk_setattr(uint64_t ino, uint64_t size)
{
	return (struct vf_meta){ .op = VF_OP_SETATTR, .ino = ino, .size = size, .mode = 0644,
				 .time_ns = FZ_CREATED_NS };
}

/* Hostile but authenticated streams from seq 1: what a holder of the key (or a
 * buggy writer) could put in the log. Replay must refuse or absorb each. */
static void generate_crafted(const char *dir)
{
	static struct stream s;
	static char target[2001];
	struct vf_meta m;

#define BEGIN() (s.len = 0, s.seq = 1)
#define SEED(name) put_seed(dir, name, s.buf, s.len)
	BEGIN(); /* create in a directory that does not exist */
	m = mk_create(99, 1, "orphan", NULL);
	s_meta(&s, &m, 1);
	SEED("auth-create-missing-parent");

	BEGIN(); /* data past the end of the file */
	m = mk_create(1, 1, "f", NULL);
	s_meta(&s, &m, 1);
	s_data(&s, 2, 3, 1);
	SEED("auth-data-beyond-eof");

	BEGIN(); /* data for an inode created later */
	s_data(&s, 5, 0, 1);
	SEED("auth-data-future-inode");

	BEGIN(); /* a sparse file: one chunk far into the file */
	m = mk_create(1, 1, "sparse", NULL);
	s_meta(&s, &m, 1);
	m = mk_setattr(2, (UINT64_C(1) << 16) * VF_CHUNK + 1);
	s_meta(&s, &m, 0);
	s_data(&s, 2, UINT64_C(1) << 16, 1);
	SEED("auth-sparse-chunk");

	BEGIN(); /* a chunk 1 TiB into a file: a dense chunk table took 8 GiB here */
	m = mk_create(1, 1, "far", NULL);
	s_meta(&s, &m, 1);
	m = mk_setattr(2, (UINT64_C(1) << 40) + 1);
	s_meta(&s, &m, 0);
	s_data(&s, 2, UINT64_C(1) << 28, 1);
	SEED("auth-far-chunk");

	BEGIN(); /* a directory moved under itself */
	m = mk_create(1, 2, "a", NULL);
	s_meta(&s, &m, 1);                    /* ino 2 */
	m = mk_create(2, 2, "b", NULL);
	s_meta(&s, &m, 1);                    /* ino 3 */
	m = (struct vf_meta){ .op = VF_OP_RENAME, .parent = 1, .name = "a", .name_len = 1,
			      .parent2 = 3, .name2 = "c", .name2_len = 1 };
	s_meta(&s, &m, 1);
	SEED("auth-rename-into-self");

	BEGIN(); /* unlink of a non-empty directory, then of the root's child twice */
	m = mk_create(1, 2, "a", NULL);
	s_meta(&s, &m, 1);
	m = mk_create(2, 1, "x", NULL);
	s_meta(&s, &m, 1);
	m = (struct vf_meta){ .op = VF_OP_UNLINK, .parent = 1, .name = "a", .name_len = 1 };
	s_meta(&s, &m, 1);
	SEED("auth-unlink-nonempty-dir");

	BEGIN(); /* the same name created twice in one group */
	m = mk_create(1, 1, "dup", NULL);
	s_meta(&s, &m, 0);
	s_meta(&s, &m, 1);
	SEED("auth-create-twice");

	BEGIN(); /* a seal sharing its group, then a seal naming the wrong segment */
	m = mk_create(1, 1, "f", NULL);
	s_meta(&s, &m, 0);
	m = (struct vf_meta){ .op = VF_OP_SEAL, .next_segno = 2 };
	s_meta(&s, &m, 1);
	SEED("auth-seal-not-alone");
	BEGIN();
	m = (struct vf_meta){ .op = VF_OP_SEAL, .next_segno = 7 };
	s_meta(&s, &m, 1);
	SEED("auth-seal-wrong-next");

	BEGIN(); /* size change of a directory; file written then unlinked, data after */
	m = mk_create(1, 2, "d", NULL);
	s_meta(&s, &m, 1);
	m = mk_create(1, 1, "f", NULL);
	s_meta(&s, &m, 1);                    /* ino 3 */
	m = (struct vf_meta){ .op = VF_OP_UNLINK, .parent = 1, .name = "f", .name_len = 1 };
	s_meta(&s, &m, 1);
	s_data(&s, 3, 0, 1);
	m = mk_setattr(2, 10);
	s_meta(&s, &m, 1);
	SEED("auth-unlinked-data-dir-size");

	BEGIN(); /* a long symlink target, renamed over a file, and a group with no end */
	memset(target, 't', sizeof(target) - 1);
	m = mk_create(1, 3, "l", target);
	m.mode = 0777;
	s_meta(&s, &m, 1);
	m = mk_create(1, 1, "f", NULL);
	s_meta(&s, &m, 1);
	m = (struct vf_meta){ .op = VF_OP_RENAME, .parent = 1, .name = "l", .name_len = 1,
			      .parent2 = 1, .name2 = "f", .name2_len = 1 };
	s_meta(&s, &m, 1);
	m = mk_create(1, 1, "never", NULL);
	s_meta(&s, &m, 0);
	SEED("auth-symlink-rename-open-group");
#undef BEGIN
#undef SEED
}

/* §10: a checkpoint segment as segment 1 (odd first byte: 'S'), header included. */
static void put_checkpoint(const char *dir, const char *name, const struct stream *s)
{
	static uint8_t seg[VF_SEGHDR_SIZE + sizeof(s->buf)];
	struct vf_seghdr ck = g_seghdr;

	ck.flags = VF_SEG_CHECKPOINT;
	vf_seghdr_encode(&ck, &g_keys, seg);
	memcpy(seg + VF_SEGHDR_SIZE, s->buf, s->len);
	put_seed(dir, name, seg, VF_SEGHDR_SIZE + s->len);
}

static void ck_end(struct stream *s, uint64_t data_count, uint64_t meta_count)
{
	static struct vf_ckpt_end e;
	static uint8_t pt[VF_CKPT_END_PT];

	memset(&e, 0, sizeof(e));
	e.data_count = data_count;
	e.meta_count = meta_count;
	e.next_seq = 40;
	memset(e.chain_before, 0x5c, sizeof(e.chain_before));
	e.recent_count = 2;
	memset(e.recent[0], 0x11, SHELTER_SHA256_SIZE);
	memset(e.recent[1], 0x22, SHELTER_SHA256_SIZE);
	vf_ckpt_end_encode(&e, pt);
	s_raw(s, VF_KIND_CKPT_META, VF_FLAG_END, 0, 0, pt, sizeof(pt));
}

static struct vf_meta mk_node(uint64_t ino, uint64_t parent, uint8_t type, const char *name,
			      uint64_t size)
{
	return (struct vf_meta){ .op = VF_OP_NODE, .ino = ino, .parent = parent, .type = type,
				 .mode = 0700, .size = size, .time_ns = 1, .time2_ns = 2,
				 .name = name, .name_len = (uint16_t)(name ? strlen(name) : 0) };
}

static struct vf_meta mk_index(uint64_t ino, uint64_t first, uint32_t count,
			       const uint8_t *chunks)
{
	return (struct vf_meta){ .op = VF_OP_INDEX, .ino = ino, .first_index = first,
				 .count = count, .chunks = chunks };
}

/* Hostile but authenticated checkpoints: chunks, then NODE/INDEX, then END. */
static void generate_crafted_checkpoints(const char *dir)
{
	static struct stream s;
	uint8_t chunks[16];
	struct vf_meta m;

	shelter_store_be(chunks, 0, 8);
	shelter_store_be(chunks + 8, 9, 8);
#define BEGIN() (s.len = 0, s.seq = 1)
	BEGIN(); /* a sparse file over two checkpoint chunks, a directory, a symlink */
	s_kdata(&s, VF_KIND_CKPT_DATA, 2, 0, 0);
	s_kdata(&s, VF_KIND_CKPT_DATA, 2, 9, 0);
	m = mk_node(1, 0, 2, NULL, 0);
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	m = mk_node(2, 1, 1, "f", 10 * VF_CHUNK);
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	m = mk_node(3, 1, 2, "d", 0);
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	m = mk_node(4, 3, 3, "l", 0);
	m.target = "../f";
	m.target_len = 4;
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	m = mk_index(2, 1, 2, chunks);
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	ck_end(&s, 2, 5);
	put_checkpoint(dir, "ckpt-crafted-valid", &s);

	BEGIN(); /* a node under a parent that is not there */
	m = mk_node(1, 0, 2, NULL, 0);
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	m = mk_node(5, 9, 1, "f", 0);
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	ck_end(&s, 0, 2);
	put_checkpoint(dir, "ckpt-crafted-orphan-node", &s);

	BEGIN(); /* an index past the chunks the end record counts */
	s_kdata(&s, VF_KIND_CKPT_DATA, 2, 0, 0);
	m = mk_node(2, 1, 1, "f", 10 * VF_CHUNK);
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	m = mk_index(2, 1, 2, chunks);
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	ck_end(&s, 1, 2);
	put_checkpoint(dir, "ckpt-crafted-index-range", &s);

	BEGIN(); /* an index range that wraps past 2^64 (accepted before e3ae0ad) */
	s_kdata(&s, VF_KIND_CKPT_DATA, 2, 0, 0);
	m = mk_node(2, 1, 1, "f", 10 * VF_CHUNK);
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	m = mk_index(2, UINT64_MAX, 2, chunks);
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	ck_end(&s, 1, 2);
	put_checkpoint(dir, "ckpt-crafted-index-wrap", &s);

	BEGIN(); /* an END whose counts do not match the records */
	m = mk_node(2, 1, 1, "f", 0);
	s_kmeta(&s, VF_KIND_CKPT_META, &m, 0);
	ck_end(&s, 0, 3);
	put_checkpoint(dir, "ckpt-crafted-bad-count", &s);
#undef BEGIN
}

/* Re-key a checkpoint the library wrote (segment N, its own random salt) as segment
 * 1 of the fixed volume, record for record, so it is a valid seed in every run. */
static void transplant(const uint8_t *seg, size_t size, struct stream *out)
{
	static uint8_t pt[VF_META_MAX + VF_CHUNK];
	struct shelter_aead *old;
	struct vf_seghdr sh;
	uint8_t key[SHELTER_KEY_SIZE];
	size_t off = VF_SEGHDR_SIZE;

	if (vf_seghdr_decode(seg, size, &g_keys, &sh, NULL) < 0 ||
	    vf_segment_key(&g_keys, &g_hdr, &sh, key, NULL) < 0 ||
	    shelter_aead_new(key, &old, NULL) < 0)
		fz_die("generator: checkpoint header");
	out->len = 0;
	while (off < size) {
		struct vf_rec r;

		if (vf_rec_parse(seg + off, size - off, &r) < 0 ||
		    vf_rec_open(old, fz_volume_id, sh.segno, &r, pt, NULL) < 0)
			fz_die("generator: checkpoint record at %zu", off);
		out->seq = r.seq;
		s_raw(out, r.kind, r.flags, r.ino, r.chunk, pt, r.len - VF_REC_OVERHEAD);
		off += r.len;
	}
	shelter_aead_free(old);
}

static void generate_checkpoints(const char *dir, const char *ref)
{
	static struct stream s;
	struct shelter_volume *v;
	struct shelter_err err;
	char path[512];
	uint8_t *seg = NULL;
	size_t size = 0;

	check(shelter_volume_open(ref, fz_key, NULL, &v, &err), &err, "open reference");
	check(shelter_volume_compact(v, &err), &err, "compact");
	shelter_volume_close(v);
	for (uint64_t no = 2; no < 8 && seg == NULL; no++) {
		struct vf_seghdr sh;

		snprintf(path, sizeof(path), "%s/log/%016" PRIx64 ".seg", ref, no);
		if (access(path, F_OK) != 0)
			continue;
		seg = fz_read_file(path, &size);
		if (vf_seghdr_decode(seg, size, &g_keys, &sh, NULL) < 0 ||
		    !(sh.flags & VF_SEG_CHECKPOINT)) {
			free(seg);
			seg = NULL;
		}
	}
	if (seg == NULL)
		fz_die("generator: compaction left no checkpoint");
	transplant(seg, size, &s);
	free(seg);
	put_checkpoint(dir, "ckpt-valid", &s);
	s_bytes(&s, (const uint8_t *)"xx", 2);
	put_checkpoint(dir, "ckpt-trailing-bytes", &s);
	s.len -= 2 + VF_CKPT_END_REC;
	put_checkpoint(dir, "ckpt-no-end", &s);
	s.len += VF_CKPT_END_REC;
	s.buf[s.len - VF_CKPT_END_REC - 40] ^= 0x04; /* inside the last NODE or INDEX */
	put_checkpoint(dir, "ckpt-meta-bitflip", &s);
	generate_crafted_checkpoints(dir);
}

/* Valid streams from the reference volume and damaged copies of them. */
static void generate(const char *dir, const char *ref)
{
	static struct stream s;
	const uint8_t *recs = g_seg + VF_SEGHDR_SIZE;
	size_t nrecs = g_seg_size - VF_SEGHDR_SIZE, off = 0, group2 = 0, first_data = 0;
	size_t last_rec = 0, ngroups = 0;
	uint8_t key[SHELTER_KEY_SIZE], sh[VF_SEGHDR_SIZE];
	uint64_t next_seq = 1;
	struct vf_seghdr other;
	struct vf_meta seal = { .op = VF_OP_SEAL, .next_segno = 2 };

	if (vf_segment_key(&g_keys, &g_hdr, &g_seghdr, key, NULL) < 0 ||
	    shelter_aead_new(key, &g_seal, NULL) < 0)
		fz_die("generator: segment key");
	shelter_wipe(key, sizeof(key));
	while (off < nrecs) {
		struct vf_rec r;

		if (vf_rec_parse(recs + off, nrecs - off, &r) != 0)
			fz_die("generator: reference segment does not parse");
		if (r.kind == VF_KIND_DATA && first_data == 0)
			first_data = off;
		last_rec = off;
		next_seq = r.seq + 1;
		off += r.len;
		if ((r.flags & VF_FLAG_END) && ++ngroups == 2)
			group2 = off;
	}

	put_seed(dir, "segment-valid", g_seg, g_seg_size);
	put_seed(dir, "segment-header-only", g_seg, VF_SEGHDR_SIZE);
	put_seed(dir, "records-valid", recs, nrecs);
	put_seed(dir, "records-two-groups", recs, group2);
	put_seed(dir, "records-torn-cut", recs, nrecs - 10);

	s.len = 0;
	s.seq = next_seq;
	s_bytes(&s, recs, nrecs);
	s_meta(&s, &seal, 1);
	put_seed(dir, "records-sealed", s.buf, s.len);
	s_bytes(&s, recs, group2);
	put_seed(dir, "records-sealed-then-more", s.buf, s.len);

	/* the last group again: sequence numbers repeat */
	s.len = 0;
	s_bytes(&s, recs, nrecs);
	s_bytes(&s, recs + last_rec, nrecs - last_rec);
	put_seed(dir, "records-replayed-group", s.buf, s.len);

	/* a torn record: a copy of a DATA record whose second page never reached the
	 * disk (reads as zeros), §8.1 */
	s.len = 0;
	s_bytes(&s, recs, nrecs);
	s_bytes(&s, recs + first_data, VF_DATA_REC_SIZE);
	{
		size_t zero_from = (VF_SEGHDR_SIZE + nrecs + 4095) / 4096 * 4096 - VF_SEGHDR_SIZE;

		memset(s.buf + zero_from, 0, s.len - zero_from);
	}
	put_seed(dir, "records-torn-zero-page", s.buf, s.len);

	/* one flipped bit in a DATA record, then in the first (META) record */
	memcpy(s.buf, recs, nrecs);
	s.buf[first_data + VF_REC_HDR + 100] ^= 0x10;
	put_seed(dir, "records-data-bitflip", s.buf, nrecs);
	memcpy(s.buf, recs, nrecs);
	s.buf[VF_REC_HDR + 1] ^= 0x01;
	put_seed(dir, "records-meta-bitflip", s.buf, nrecs);

	/* segment headers that name another volume, segment or first record */
	other = g_seghdr;
	other.volume_id[0] ^= 1;
	vf_seghdr_encode(&other, &g_keys, sh);
	put_seed(dir, "segment-foreign-volume", sh, sizeof(sh));
	other = g_seghdr;
	other.segno = 2;
	vf_seghdr_encode(&other, &g_keys, sh);
	put_seed(dir, "segment-wrong-segno", sh, sizeof(sh));
	other = g_seghdr;
	other.first_seq = 5;
	vf_seghdr_encode(&other, &g_keys, sh);
	memcpy(s.buf, sh, sizeof(sh));
	memcpy(s.buf + sizeof(sh), recs, nrecs);
	put_seed(dir, "segment-wrong-first-seq", s.buf, sizeof(sh) + nrecs);

	generate_crafted(dir);
	generate_checkpoints(dir, ref);
	shelter_aead_free(g_seal);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SHELTER_FUZZ_SEEDS");
	char path[400];

	(void)argc;
	(void)argv;
	g_verbose = getenv("SHELTER_FUZZ_VERBOSE") != NULL;
	fz_make_base();
	fixed_headers();
	snprintf(path, sizeof(path), "%s/ref", fz_base);
	build_volume(path);
	if (dir != NULL) {
		generate(dir, path);
		exit(0);
	}
	/* each input's volume: the reference VOLUME and lock file, and a log/ */
	snprintf(g_vol, sizeof(g_vol), "%s/vol", fz_base);
	if (rename(path, g_vol) < 0)
		fz_die("rename %s: %s", path, strerror(errno));
	return 0;
}
