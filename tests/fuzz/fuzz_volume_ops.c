/* libFuzzer target: the volume API driven by a program of operations, so that the
 * code that only runs on authenticated input (state.c's apply logic, group handling,
 * multi-segment replay, checkpoints and compaction) is fuzzed (STYLE.md rule 17).
 *
 * Each input is a program. A fresh volume is created per input in a private
 * temporary directory (under /dev/shm when writable) and opened with the minimum
 * segment size (64 KiB) so the log rolls over often. Then, byte by byte, an opcode
 * and its argument bytes (missing bytes read as 0) pick one of a small fixed set of
 * operations on a small fixed set of names ("a", "b", "d/c", "d/e/f", dirs "d",
 * "d/e", ...): file open with flags, pwrite/pread at offsets from a fixed set (0,
 * 4095, 4096, 1 MiB - 1, 2^40, ...) with 0..9000 bytes of a pattern, truncate,
 * unlink, rename, mkdir, rmdir, symlink, chmod, compact, close and reopen, a second
 * handle on the same volume in this process, tag. At most OPS_MAX operations and
 * about 1 MB of data per input.
 *
 * Every call must return 0 or a negative code; crashes, leaks and hangs are
 * libFuzzer's to catch. Properties checked with abort() (only what is cheap and
 * certain):
 *   - no call returns a positive code, and nothing on this undamaged volume fails
 *     with an integrity, format, stale or internal code (<= SHELTER_E_INTEGRITY);
 *   - a successful pwrite on a read-write handle reads back at once;
 *   - both handles report the same tag and the same stat of every name;
 *   - on reopen: verify with the tag before close as expected tag says intact (and
 *     reports no problem of a non-zero kind), the open with that expected tag (or an
 *     earlier tag seen in this input) succeeds, the tag after it is the tag before
 *     close, and every name stats the same (type, size, mode, ino);
 *   - no file descriptor outlives an input.
 *
 * SHELTER_FUZZ_VERBOSE=1 prints each operation and its result. */
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

#include "shelter/volume.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_volume_ops"
#include "fixture.h"

#define OPS_MAX 64
#define WRITE_MAX 9000
#define BYTES_MAX (UINT64_C(1) << 20) /* written per input */
#define NVOL 2
#define NFILE 4 /* open file slots */
#define NTAGS (OPS_MAX + 4)

static const char *const g_names[] = { "a", "b", "d/c", "d/e/f", "d", "d/e", "d/e/g", "x" };
#define NNAMES (sizeof(g_names) / sizeof(g_names[0]))

static const uint64_t g_offs[] = {
	0, 1, 4095, 4096, 65535, (UINT64_C(1) << 20) - 1, UINT64_C(1) << 20, UINT64_C(1) << 40,
};
static const size_t g_sizes[] = { 0, 1, 7, 4095, 4096, 4097, 8192, WRITE_MAX };

static char g_vol[300];
static int g_verbose;

struct fslot {
	struct shelter_file *f;
	int vol;   /* owning volume handle */
	int flags; /* open flags */
};

static struct shelter_volume *g_v[NVOL];
static struct fslot g_f[NFILE];
static uint8_t g_tags[NTAGS][SHELTER_VOLUME_TAG_SIZE]; /* tags seen in this input */
static size_t g_ntags;
static uint64_t g_written;

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
	va_list ap;

	if (!g_verbose)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Every library result: 0 or negative, and never a damage/format/internal code on
 * a volume nobody tampered with. */
static int res(int rc, const struct shelter_err *err, const char *what)
{
	trace("  %s -> %d%s%s", what, rc, rc ? " " : "", rc ? err->msg : "");
	if (rc > 0)
		fz_die("%s returned %d", what, rc);
	if (rc <= SHELTER_E_INTEGRITY)
		fz_die("%s on an undamaged volume: %d %s", what, rc, err->msg);
	return rc;
}

static void check(int rc, const struct shelter_err *err, const char *what)
{
	if (res(rc, err, what) != 0)
		fz_die("%s: %d %s", what, rc, err->msg);
}

/* ---- directory ---- */

/* ---- input cursor ---- */

struct prog {
	const uint8_t *p;
	size_t left;
};

static uint8_t next(struct prog *pr)
{
	if (pr->left == 0)
		return 0;
	pr->left--;
	return *pr->p++;
}

/* ---- model helpers ---- */

struct snap {
	int rc;
	struct shelter_stat st;
};

static void snapshot(struct shelter_volume *v, struct snap out[NNAMES])
{
	struct shelter_err err;

	for (size_t i = 0; i < NNAMES; i++) {
		memset(&out[i].st, 0, sizeof(out[i].st));
		out[i].rc = res(shelter_volume_stat(v, g_names[i], &out[i].st, &err), &err, "stat");
	}
}

static void same_snap(const struct snap *a, const struct snap *b, const char *when)
{
	for (size_t i = 0; i < NNAMES; i++) {
		if (a[i].rc != b[i].rc)
			fz_die("%s: stat '%s' gave %d, then %d", when, g_names[i], a[i].rc, b[i].rc);
		if (a[i].rc != 0)
			continue;
		if (a[i].st.type != b[i].st.type || a[i].st.size != b[i].st.size ||
		    a[i].st.mode != b[i].st.mode || a[i].st.ino != b[i].st.ino ||
		    a[i].st.nlink != b[i].st.nlink)
			fz_die("%s: '%s' type %u size %" PRIu64 " mode %o ino %" PRIu64
			    ", then type %u size %" PRIu64 " mode %o ino %" PRIu64,
			    when, g_names[i], a[i].st.type, a[i].st.size, a[i].st.mode, a[i].st.ino,
			    b[i].st.type, b[i].st.size, b[i].st.mode, b[i].st.ino);
	}
}

static void get_tag(struct shelter_volume *v, uint8_t out[SHELTER_VOLUME_TAG_SIZE])
{
	struct shelter_err err;

	check(shelter_volume_tag(v, out, &err), &err, "tag");
	if (g_ntags < NTAGS &&
	    (g_ntags == 0 || memcmp(g_tags[g_ntags - 1], out, SHELTER_VOLUME_TAG_SIZE) != 0))
		memcpy(g_tags[g_ntags++], out, SHELTER_VOLUME_TAG_SIZE);
}

/* Both handles agree on the tag and on every name. */
static void cross_check(void)
{
	uint8_t t0[SHELTER_VOLUME_TAG_SIZE], t1[SHELTER_VOLUME_TAG_SIZE];
	struct snap s0[NNAMES], s1[NNAMES];

	if (g_v[0] == NULL || g_v[1] == NULL)
		return;
	get_tag(g_v[0], t0);
	get_tag(g_v[1], t1);
	if (memcmp(t0, t1, sizeof(t0)) != 0)
		fz_die("two handles of one volume report different tags");
	snapshot(g_v[0], s0);
	snapshot(g_v[1], s1);
	same_snap(s0, s1, "handle 0 vs handle 1");
}

static void on_problem(void *ctx, int kind, const char *where, const char *detail)
{
	(void)ctx;
	if (kind != 0)
		fz_die("verify of an undamaged volume: kind %d at '%s': %s", kind,
		    where ? where : "(null)", detail ? detail : "(null)");
	trace("  verify notice at '%s': %s", where ? where : "(null)", detail ? detail : "(null)");
}

static int open_vol(const uint8_t *expected, struct shelter_volume **out)
{
	/* a tiny plaintext cache (volume.md §7.4): 8 slots, so chunks collide and evict */
	struct shelter_volume_options opts = { .segment_size = 65536, .expected_tag = expected,
						.cache_bytes = 8 * 4096 };
	struct shelter_err err;
	int rc;

	*out = NULL;
	rc = res(shelter_volume_open(g_vol, fz_key, &opts, out, &err), &err, "open volume");
	if (rc != 0)
		fprintf(stderr, "fuzz_volume_ops: open volume: %d %s\n", rc, err.msg);
	if ((rc == 0) != (*out != NULL))
		fz_die("open returned %d with handle %p", rc, (void *)*out);
	return rc;
}

static void close_files_of(int vi)
{
	for (int i = 0; i < NFILE; i++) {
		if (g_f[i].f != NULL && (vi < 0 || g_f[i].vol == vi)) {
			shelter_file_close(g_f[i].f);
			g_f[i].f = NULL;
		}
	}
}

/* Close everything, verify, reopen handle 0 with an expected tag. */
static void reopen(uint8_t arg)
{
	uint8_t before[SHELTER_VOLUME_TAG_SIZE], after[SHELTER_VOLUME_TAG_SIZE];
	const uint8_t *expected;
	struct snap s0[NNAMES], s1[NNAMES];
	struct shelter_err err;
	int lead = g_v[0] != NULL ? 0 : 1;

	close_files_of(-1);
	get_tag(g_v[lead], before);
	snapshot(g_v[lead], s0);
	for (int i = 0; i < NVOL; i++) {
		shelter_volume_close(g_v[i]);
		g_v[i] = NULL;
	}
	if (res(shelter_volume_verify(g_vol, fz_key, before, on_problem, NULL, &err), &err,
		"verify") != 0)
		fz_die("verify of an undamaged volume with its own tag: %s", err.msg);
	/* the current tag, none, or one seen earlier in this input (§6: an earlier point
	 * of the history stays a valid expected tag) */
	switch (arg % 4) {
	case 0:
	case 1:
		expected = before;
		break;
	case 2:
		expected = NULL;
		break;
	default:
		expected = g_tags[(arg >> 2) % g_ntags];
		break;
	}
	if (open_vol(expected, &g_v[0]) != 0)
		fz_die("reopen with %s failed", expected == before ? "the tag before close"
					     : expected	   ? "an earlier tag"
							   : "no expected tag");
	get_tag(g_v[0], after);
	if (memcmp(before, after, sizeof(before)) != 0)
		fz_die("the tag after reopen differs from the tag before close");
	snapshot(g_v[0], s1);
	same_snap(s0, s1, "across reopen");
}

static void pattern(uint8_t *buf, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(seed + i * 31 + (i >> 9));
}

static struct shelter_volume *pick_vol(uint8_t b)
{
	struct shelter_volume *v = g_v[b & 1];

	return v != NULL ? v : g_v[(b & 1) ^ 1];
}

/* ---- operations ---- */

enum {
	OP_OPEN,
	OP_WRITE,
	OP_READ,
	OP_TRUNC,
	OP_FTRUNC,
	OP_UNLINK,
	OP_RENAME,
	OP_MKDIR,
	OP_RMDIR,
	OP_SYMLINK,
	OP_CHMOD,
	OP_COMPACT,
	OP_REOPEN,
	OP_HANDLE2,
	OP_TAG,
	OP_FCLOSE,
	OP_LIST,
	OP_SYNC,
	OP_MKDIRS,
	OP_COUNT
};

static int on_dirent(void *ctx, const char *name, const struct shelter_stat *st)
{
	(void)ctx;
	if (name == NULL || strlen(name) == 0 || st->type < SHELTER_FT_REG ||
	    st->type > SHELTER_FT_LNK)
		fz_die("readdir entry '%s' type %u", name ? name : "(null)", st->type);
	return 0;
}

static void op_open(struct prog *pr)
{
	static const int acc[4] = { SHELTER_O_RDONLY, SHELTER_O_WRONLY, SHELTER_O_RDWR,
				    SHELTER_O_RDWR };
	uint8_t a = next(pr), b = next(pr);
	int slot = a % NFILE, vi = (a >> 2) & 1;
	const char *name = g_names[(a >> 3) % NNAMES];
	int flags = acc[b & 3] | (b & 4 ? SHELTER_O_CREAT : 0) | (b & 8 ? SHELTER_O_EXCL : 0) |
		    (b & 16 ? SHELTER_O_TRUNC : 0) | (b & 32 ? SHELTER_O_APPEND : 0);
	struct shelter_volume *v = pick_vol((uint8_t)vi);
	struct shelter_file *f = NULL;
	struct shelter_err err;
	int rc;

	if (g_f[slot].f != NULL) {
		shelter_file_close(g_f[slot].f);
		g_f[slot].f = NULL;
	}
	vi = v == g_v[0] ? 0 : 1;
	trace("open '%s' flags %#x slot %d vol %d", name, flags, slot, vi);
	rc = res(shelter_file_open(v, name, flags, b & 64 ? 0600 : 0644, &f, &err), &err,
		 "file open");
	if ((rc == 0) != (f != NULL))
		fz_die("file open returned %d with handle %p", rc, (void *)f);
	if (rc == 0)
		g_f[slot] = (struct fslot){ .f = f, .vol = vi, .flags = flags };
}

static void op_write(struct prog *pr)
{
	static uint8_t buf[WRITE_MAX], back[WRITE_MAX];
	uint8_t a = next(pr), b = next(pr), seed = next(pr);
	struct fslot *s = &g_f[a % NFILE];
	uint64_t off = g_offs[(a >> 2) & 7], used = UINT64_MAX;
	size_t n = (b & 0x80) ? (size_t)(b & 0x7f) * 70 : g_sizes[b & 7], got = 0;
	struct shelter_err err;
	int rc;

	if (s->f == NULL) {
		/* an empty slot writes to its own name ("a", "b", "d/c", "d/e/f") */
		struct shelter_volume *v = pick_vol(seed);
		int rc2;

		trace("open '%s' for a write in slot %d", g_names[a % NFILE], (int)(a % NFILE));
		rc2 = res(shelter_file_open(v, g_names[a % NFILE], SHELTER_O_RDWR | SHELTER_O_CREAT,
					    0644, &s->f, &err),
			  &err, "file open");
		if ((rc2 == 0) != (s->f != NULL))
			fz_die("file open returned %d with handle %p", rc2, (void *)s->f);
		if (rc2 != 0)
			return;
		s->vol = v == g_v[0] ? 0 : 1;
		s->flags = SHELTER_O_RDWR | SHELTER_O_CREAT;
	}
	if (n > WRITE_MAX)
		n = WRITE_MAX;
	if (g_written + n > BYTES_MAX)
		return;
	g_written += n;
	if (a & 0x20)
		off += a >> 6; /* unaligned neighbours */
	pattern(buf, n, seed);
	trace("pwrite slot %d off %" PRIu64 " size %zu", (int)(a % NFILE), off, n);
	rc = res(shelter_file_pwrite(s->f, buf, n, off, &used, &err), &err, "pwrite");
	if (rc != 0 || (s->flags & SHELTER_O_ACCMODE) != SHELTER_O_RDWR)
		return;
	if (s->flags & SHELTER_O_APPEND)
		off = used;
	else if (used != UINT64_MAX && used != off)
		fz_die("pwrite at %" PRIu64 " reported offset %" PRIu64, off, used);
	check(shelter_file_pread(s->f, back, n, off, &got, &err), &err, "pread after pwrite");
	if (got != n || memcmp(buf, back, n) != 0)
		fz_die("pwrite of %zu bytes at %" PRIu64 " read back %zu bytes%s", n, off, got,
		    got == n ? " that differ" : "");
}

static void op_read(struct prog *pr)
{
	static uint8_t buf[WRITE_MAX + 4096];
	uint8_t a = next(pr), b = next(pr);
	struct fslot *s = &g_f[a % NFILE];
	uint64_t off = g_offs[(a >> 2) & 7] + (a >> 5);
	size_t n = (size_t)b * 50, got = 0;
	struct shelter_stat st;
	struct shelter_err err;
	int rc;

	if (s->f == NULL)
		return;
	trace("pread slot %d off %" PRIu64 " size %zu", (int)(a % NFILE), off, n);
	rc = res(shelter_file_pread(s->f, buf, n, off, &got, &err), &err, "pread");
	if (rc != 0)
		return;
	if (got > n)
		fz_die("pread of %zu bytes gave %zu", n, got);
	check(shelter_file_stat(s->f, &st, &err), &err, "file stat");
	if (off >= st.size ? got != 0 : got > st.size - off || (n > 0 && got == 0))
		fz_die("pread of %zu at %" PRIu64 " gave %zu bytes of a %" PRIu64 "-byte file", n,
		    off, got, st.size);
}

static void op_trunc(struct prog *pr, int by_handle)
{
	uint8_t a = next(pr), b = next(pr);
	uint64_t size = g_offs[b & 7] + (b >> 3) * 1000;
	struct shelter_err err;

	if (by_handle) {
		struct fslot *s = &g_f[a % NFILE];

		if (s->f == NULL)
			return;
		trace("ftruncate slot %d to %" PRIu64, (int)(a % NFILE), size);
		(void)res(shelter_file_truncate(s->f, size, &err), &err, "file truncate");
		return;
	}
	trace("truncate '%s' to %" PRIu64, g_names[a % NNAMES], size);
	(void)res(shelter_volume_truncate(pick_vol(a >> 4), g_names[a % NNAMES], size, &err),
		  &err, "truncate");
}

static void op_list(struct prog *pr)
{
	static const char *const dirs[] = { "", "d", "d/e", "a" };
	uint8_t a = next(pr);
	struct shelter_volume *v = pick_vol(a >> 4);
	struct shelter_err err;
	char link[64];

	(void)res(shelter_volume_readdir(v, dirs[a & 3], on_dirent, NULL, &err), &err,
		  "readdir");
	if (res(shelter_volume_readlink(v, g_names[(a >> 2) % NNAMES], link, (a & 0x80) ? 3 :
					sizeof(link), &err), &err, "readlink") == 0 &&
	    strlen(link) >= sizeof(link))
		fz_die("readlink not terminated");
	cross_check();
}

static void op_handle2(struct prog *pr)
{
	uint8_t a = next(pr), tag[SHELTER_VOLUME_TAG_SIZE];

	if (g_v[1] != NULL && g_v[0] != NULL) {
		trace("close handle %d", a & 1);
		close_files_of(a & 1);
		shelter_volume_close(g_v[a & 1]);
		g_v[a & 1] = NULL;
		return;
	}
	get_tag(pick_vol(0), tag);
	trace("open second handle");
	if (open_vol((a & 2) ? tag : NULL, &g_v[g_v[0] == NULL ? 0 : 1]) != 0)
		fz_die("second open of a healthy volume failed");
	cross_check();
}

static void run_op(struct prog *pr)
{
	uint8_t op = next(pr) % OP_COUNT, a, b;
	struct shelter_err err;
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];

	switch (op) {
	case OP_OPEN:
		op_open(pr);
		break;
	case OP_WRITE:
		op_write(pr);
		break;
	case OP_READ:
		op_read(pr);
		break;
	case OP_TRUNC:
	case OP_FTRUNC:
		op_trunc(pr, op == OP_FTRUNC);
		break;
	case OP_UNLINK:
		a = next(pr);
		trace("unlink '%s'", g_names[a % NNAMES]);
		(void)res(shelter_volume_unlink(pick_vol(a >> 4), g_names[a % NNAMES], &err), &err,
			  "unlink");
		break;
	case OP_RENAME:
		a = next(pr);
		b = next(pr);
		trace("rename '%s' '%s'", g_names[a % NNAMES], g_names[b % NNAMES]);
		(void)res(shelter_volume_rename(pick_vol(b >> 4), g_names[a % NNAMES],
						g_names[b % NNAMES], &err),
			  &err, "rename");
		break;
	case OP_MKDIR:
	case OP_MKDIRS:
		a = next(pr);
		trace("mkdir%s '%s'", op == OP_MKDIRS ? "s" : "", g_names[a % NNAMES]);
		if (op == OP_MKDIR)
			(void)res(shelter_volume_mkdir(pick_vol(a >> 4), g_names[a % NNAMES],
						       (a & 0x80) ? 0700 : 0755, &err),
				  &err, "mkdir");
		else
			(void)res(shelter_volume_mkdirs(pick_vol(a >> 4), g_names[a % NNAMES],
							0755, &err),
				  &err, "mkdirs");
		break;
	case OP_RMDIR:
		a = next(pr);
		trace("rmdir '%s'", g_names[a % NNAMES]);
		(void)res(shelter_volume_rmdir(pick_vol(a >> 4), g_names[a % NNAMES], &err), &err,
			  "rmdir");
		break;
	case OP_SYMLINK:
		a = next(pr);
		b = next(pr);
		trace("symlink '%s' '%s'", g_names[a % NNAMES], g_names[b % NNAMES]);
		(void)res(shelter_volume_symlink(pick_vol(b >> 4), (a & 0x80) ? "../x/./y" :
						 g_names[a % NNAMES], g_names[b % NNAMES], &err),
			  &err, "symlink");
		break;
	case OP_CHMOD:
		a = next(pr);
		b = next(pr);
		trace("chmod '%s' %o", g_names[a % NNAMES], (unsigned)b * 16u);
		(void)res(shelter_volume_chmod(pick_vol(a >> 4), g_names[a % NNAMES],
					       (uint32_t)b * 16u, &err),
			  &err, "chmod");
		break;
	case OP_COMPACT:
		a = next(pr);
		trace("compact");
		check(shelter_volume_compact(pick_vol(a), &err), &err, "compact");
		break;
	case OP_REOPEN:
		a = next(pr);
		trace("reopen (%u)", a);
		reopen(a);
		break;
	case OP_HANDLE2:
		op_handle2(pr);
		break;
	case OP_TAG:
		a = next(pr);
		trace("tag");
		get_tag(pick_vol(a), tag);
		cross_check();
		break;
	case OP_FCLOSE:
		a = next(pr);
		trace("close slot %d", a % NFILE);
		shelter_file_close(g_f[a % NFILE].f);
		g_f[a % NFILE].f = NULL;
		break;
	case OP_LIST:
		trace("list");
		op_list(pr);
		break;
	case OP_SYNC:
		a = next(pr);
		trace("sync");
		check(shelter_volume_sync(pick_vol(a), &err), &err, "sync");
		if (g_f[a % NFILE].f != NULL)
			(void)res(shelter_file_sync(g_f[a % NFILE].f, &err), &err, "file sync");
		break;
	default:
		fz_die("opcode %u", op);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prog pr = { data, size };
	struct shelter_err err;
	int fd0 = fz_lowest_free_fd();

	fz_remove_tree(g_vol, 1);
	check(shelter_volume_create(g_vol, fz_key, &err), &err, "create");
	g_ntags = 0;
	g_written = 0;
	memset(g_f, 0, sizeof(g_f));
	if (open_vol(NULL, &g_v[0]) != 0)
		fz_die("open of a new volume failed");
	get_tag(g_v[0], g_tags[0]);
	for (int n = 0; n < OPS_MAX && pr.left > 0; n++)
		run_op(&pr);
	/* a final reopen: replay of everything this input wrote */
	reopen(0);
	close_files_of(-1);
	for (int i = 0; i < NVOL; i++) {
		shelter_volume_close(g_v[i]);
		g_v[i] = NULL;
	}
	if (fz_lowest_free_fd() != fd0)
		fz_die("a file descriptor outlived the input (%d, was %d)", fz_lowest_free_fd(), fd0);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_verbose = getenv("SHELTER_FUZZ_VERBOSE") != NULL;
	fz_make_base();
	snprintf(g_vol, sizeof(g_vol), "%s/vol", fz_base);
	return 0;
}
