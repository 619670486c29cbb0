/* Model-based property test for protected volumes (include/shelter/volume.h).
 *
 * The model is a plain host directory driven with POSIX calls; the system under test
 * is a protected volume with 64 KiB segments, so the log rolls over every few
 * operations. Random sequences (splitmix64; the seed is printed on failure) are
 * applied to both. After every operation the outcome must match (both succeed, or
 * both fail with the same errno: shelter_code_to_errno of the library's code) and so
 * must the data. After each sequence the whole tree is compared, the volume is closed
 * and reopened with the tag taken before close as expected_tag, compared again and
 * verified. Where the library documents a rule that differs from Linux, the host side
 * follows the library's rule and says so where it does: symbolic links are never
 * followed (volume.h) and directories are not opened as files.
 *
 * Multi-process cases: (a) forked children sharing the inherited handle, each on its
 * own subtree, plus one shared O_APPEND file; (b) two independent opens playing
 * ping-pong on one file (the last run also compacts), and the redis BGSAVE pattern
 * (append to 'aof' while a child writes 'temp.rdb' and renames it over 'dump.rdb'),
 * with the child inheriting the handle and with the child opening the volume itself.
 *
 * Each test body runs in a child process and each random sequence in a grandchild, so
 * a crash fails one sequence (seed and last operations printed), not the binary.
 * Environment: SHELTER_MODEL_SEED=<n> runs that one property sequence; _BASE, _SEQS and
 * _OPS change the default run; _VERBOSE=1 traces every operation to stderr; _KEEP=1
 * keeps the work directories of failed runs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shelter/volume.h"
#include "../test.h"
#include "../rng.h"

#define KIB 1024u
#define SEG_SIZE (64 * KIB)
#define CHUNK 4096u
#define IO_MAX (200 * KIB)
#define BLOCK (256 * KIB)
#define MAX_SLOTS 6
#define MAX_ENTS 512
#define MAX_DEPTH 3
#define MAX_LIST 64
#define REL_MAX 1200
#define NAME_BUF 260
#define WORKERS 4

static const uint8_t g_key[SHELTER_VOLUME_KEY_SIZE] = {
	0x6d, 0x6f, 0x64, 0x65, 0x6c, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x6b, 0x65, 0x79, 0x21, 0x00,
	0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
};

static unsigned long *g_ops; /* shared with every child process: operations applied */
static int g_verbose, g_keep, g_compact; /* g_compact: multi-process runs also compact */
static uint64_t g_base = UINT64_C(0x5348454c54455221);
static unsigned g_seqs = 60, g_nops = 150;
static char g_dir[PATH_MAX];

/* ---- splitmix64 ---- */


static int rng_pct(struct rng *r, unsigned pct)
{
	return rng_below(r, 100) < pct;
}

static void rng_fill(struct rng *r, uint8_t *buf, size_t size)
{
	for (size_t i = 0; i < size; i += 8) {
		uint64_t v = rng_next(r);

		memcpy(buf + i, &v, size - i < 8 ? size - i : 8);
	}
}

static uint64_t mix_seed(uint64_t base, uint64_t i)
{
	struct rng r = { base ^ (i * UINT64_C(0xd1342543de82ef95)) };

	return rng_next(&r);
}

/* ---- host helpers ---- */

static void sfmt(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap); /* paths here are far below the buffers */
	va_end(ap);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

static void rm_rf(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int make_tmp(char *out, size_t size, const char *what)
{
	const char *base = getenv("TMPDIR");

	sfmt(out, size, "%s/shelter-model-%s-XXXXXX", base && *base ? base : "/tmp", what);
	return mkdtemp(out) == NULL ? -1 : 0;
}

/* All of size bytes through a pipe or file; -1 when the other end went away. */
static int io_full(int fd, void *buf, size_t size, int writing)
{
	uint8_t *p = buf;

	while (size > 0) {
		ssize_t n = writing ? write(fd, p, size) : read(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

static int wait_child(pid_t pid, char *why, size_t size)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			sfmt(why, size, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (WIFSIGNALED(status))
		sfmt(why, size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WEXITSTATUS(status) != 0)
		sfmt(why, size, "exit status %d", WEXITSTATUS(status));
	else
		return 0;
	return -1;
}

static void print_tail(const char *path, unsigned lines)
{
	static char buf[64 * 1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n = -1;
	unsigned seen = 0;

	if (fd >= 0 && fstat(fd, &st) == 0) {
		off_t size = st.st_size < (off_t)sizeof(buf) - 1 ? st.st_size : (off_t)sizeof(buf) - 1;

		n = pread(fd, buf, (size_t)size, st.st_size - size);
	}
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (ssize_t i = n - 1; i > 0; i--)
		if (buf[i - 1] == '\n' && ++seen == lines) {
			fprintf(stderr, "    ... last %u operations:\n%s", lines, buf + i);
			return;
		}
	fprintf(stderr, "    operations:\n%s", buf);
}

/* Run a test body in a child process: a crash fails that test, not the binary. */
static void isolated(void (*body)(void))
{
	char why[128];
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		test_failed_now = 0;
		g_dir[0] = '\0';
		body();
		if (g_dir[0] != '\0')
			rm_rf(g_dir);
		fflush(NULL);
		if (test_failed_now)
			_exit(1); /* a CHECK returned early: what it left open is not a leak */
		exit(0);
	}
	if (pid < 0 || wait_child(pid, why, sizeof(why)) < 0) {
		fprintf(stderr, "  test process: %s\n", pid < 0 ? "fork failed" : why);
		test_failed_now = 1;
	}
}

/* ---- the sequence engine: one model directory against one volume subtree ---- */

struct slot {
	int used, fd, flags;
	struct shelter_file *f;
	char path[REL_MAX];
};

struct ent {
	char path[REL_MAX];
	char type; /* 'f' regular file, 'd' directory, 'l' symbolic link */
};

struct listing {
	char names[MAX_LIST][NAME_BUF];
	uint32_t types[MAX_LIST];
	size_t count;
};

struct seq {
	struct rng rng;
	uint64_t seed;
	char name[32], vdir[PATH_MAX], mroot[PATH_MAX];
	char prefix[16]; /* this sequence's subtree of the volume; "" is the root */
	struct shelter_volume *vol;
	int solo; /* the only user of the volume: may close and reopen it */
	int toolong; /* the current operation names a component longer than NAME_MAX */
	int trace_fd;
	unsigned long opno;
	char what[800];
	struct slot slots[MAX_SLOTS];
	uint8_t *a, *b; /* BLOCK bytes each */
	struct ent ents[MAX_ENTS];
	size_t nents;
	struct listing hl, ll;
};

static void note(struct seq *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct seq *s, const char *fmt, ...)
{
	char line[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->what, sizeof(s->what), fmt, ap);
	va_end(ap);
	__atomic_fetch_add(g_ops, 1, __ATOMIC_RELAXED);
	sfmt(line, sizeof(line), "#%lu %s\n", ++s->opno, s->what);
	if (s->trace_fd >= 0 && io_full(s->trace_fd, line, strlen(line), 1) < 0)
		s->trace_fd = -1;
	if (g_verbose)
		fprintf(stderr, "  [%s] %s", s->name, line);
}

static int fail(struct seq *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct seq *s, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "  %s seed 0x%016" PRIx64 " op #%lu [%.300s]: %s\n", s->name, s->seed,
		s->opno, s->what, msg);
	return -1;
}

/* Compare a host result (errno read here, so call it right after the host call) with
 * the library's: 0 both succeeded, 1 both failed alike, -1 they disagree. */
static int outcome(struct seq *s, long hrc, int lrc, const struct shelter_err *e)
{
	int herr = errno;

	if (hrc >= 0 && lrc == 0)
		return 0;
	if (hrc < 0 && lrc < 0 && herr == shelter_code_to_errno(lrc))
		return 1;
	/* POSIX (XSH 2.3): when several errors apply, which one is reported is unspecified;
	 * a too-long name is checked early by the library and late by Linux */
	if (hrc < 0 && lrc < 0 && s->toolong &&
	    (herr == ENAMETOOLONG || lrc == SHELTER_E_NAMETOOLONG))
		return 1;
	return fail(s, "host %s, library %s%s%s", hrc >= 0 ? "succeeded" : strerror(herr),
		    lrc == 0 ? "succeeded" : shelter_code_str(lrc), lrc == 0 ? "" : ": ",
		    lrc == 0 ? "" : e->msg);
}

static void mpath(const struct seq *s, const char *rel, char *out)
{
	sfmt(out, PATH_MAX, "%s%s%s", s->mroot, rel[0] ? "/" : "", rel);
}

/* The volume path, now and then spelt differently: the library ignores a leading '/'
 * and skips empty and "." components (volume.h). */
static void vpath(struct seq *s, const char *rel, char *out)
{
	char p[PATH_MAX];
	const char *slash;

	sfmt(p, sizeof(p), "%s%s%s", s->prefix, s->prefix[0] && rel[0] ? "/" : "", rel);
	switch (rng_below(&s->rng, 40)) {
	case 0:
		sfmt(out, PATH_MAX, "/%s", p);
		return;
	case 1:
		if (p[0] != '\0') {
			sfmt(out, PATH_MAX, "./%s", p);
			return;
		}
		break;
	case 2:
	case 3:
		if ((slash = strchr(p, '/')) != NULL) {
			sfmt(out, PATH_MAX, "%.*s/%s%s", (int)(slash - p), p,
			     rng_pct(&s->rng, 50) ? "./" : "/", slash + 1);
			return;
		}
		break;
	default:
		break;
	}
	memcpy(out, p, strlen(p) + 1);
}

static void join(char *out, const char *dir, const char *name)
{
	sfmt(out, REL_MAX, "%s%s%s", dir, dir[0] ? "/" : "", name);
}

static uint32_t host_type(mode_t m)
{
	return S_ISREG(m) ? SHELTER_FT_REG : S_ISDIR(m) ? SHELTER_FT_DIR : S_ISLNK(m) ? SHELTER_FT_LNK : 0;
}

static int cmp_stat(struct seq *s, const char *what, const struct stat *hs,
		    const struct shelter_stat *ls)
{
	uint32_t type = host_type(hs->st_mode);

	if (type != ls->type)
		return fail(s, "%s: type host %u, library %u", what, type, ls->type);
	if ((hs->st_mode & 07777) != ls->mode)
		return fail(s, "%s: mode host %o, library %o", what, (unsigned)(hs->st_mode & 07777),
			    ls->mode);
	if (type != SHELTER_FT_DIR && (uint64_t)hs->st_size != ls->size)
		return fail(s, "%s: size host %lld, library %" PRIu64, what, (long long)hs->st_size,
			    ls->size);
	if (type == SHELTER_FT_REG && hs->st_nlink != ls->nlink)
		return fail(s, "%s: nlink host %lu, library %u", what, (unsigned long)hs->st_nlink,
			    ls->nlink);
	/* holes are excluded from blocks, and nothing is stored past the end of file */
	if (type == SHELTER_FT_REG && ls->blocks > (ls->size + CHUNK - 1) / CHUNK * (CHUNK / 512))
		return fail(s, "%s: %" PRIu64 " blocks for %" PRIu64 " bytes", what, ls->blocks,
			    ls->size);
	return 0;
}

/* Snapshot of the model tree, the reference for picking paths (parents first). */
static int scan_model(struct seq *s)
{
	s->nents = 1;
	s->ents[0].path[0] = '\0';
	s->ents[0].type = 'd';
	for (size_t i = 0; i < s->nents; i++) {
		char mp[PATH_MAX], cp[PATH_MAX], child[REL_MAX];
		struct dirent *d;
		DIR *dir;

		if (s->ents[i].type != 'd')
			continue;
		mpath(s, s->ents[i].path, mp);
		dir = opendir(mp);
		while (dir != NULL && (d = readdir(dir)) != NULL) {
			struct stat st;
			struct ent *e;

			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			join(child, s->ents[i].path, d->d_name);
			mpath(s, child, cp);
			if (s->nents == MAX_ENTS || lstat(cp, &st) < 0) {
				closedir(dir);
				return fail(s, "model tree: too large or unreadable at '%s'", child);
			}
			e = &s->ents[s->nents++];
			memcpy(e->path, child, sizeof(child));
			e->type = S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : 'f';
		}
		if (dir != NULL)
			closedir(dir);
	}
	return 0;
}

static int depth_of(const char *rel)
{
	int d = rel[0] != '\0';

	for (; *rel; rel++)
		d += *rel == '/';
	return d;
}

/* A random entry of the given type ('f', 'd', 'l', 0 for any), never the root unless
 * allow_root; NULL when there is none. */
static const struct ent *pick_ent(struct seq *s, char type, int allow_root)
{
	size_t idx[MAX_ENTS], n = 0;

	for (size_t i = allow_root ? 0 : 1; i < s->nents; i++)
		if (type == 0 || s->ents[i].type == type)
			idx[n++] = i;
	return n == 0 ? NULL : &s->ents[idx[rng_below(&s->rng, n)]];
}

static char g_n255[256], g_n256[257]; /* the longest name, and one byte too long */

static const char *pick_name(struct seq *s)
{
	static const char *const names[] = { "a", "b", "c", "dir", "e.txt", "f-1", "g_2", "hh",
					     "k", "z9", "sp ace", "\xc3\xbc-\xc3\xb1" };
	unsigned r = (unsigned)rng_below(&s->rng, 100);

	return r < 2 ? g_n255 : r < 3 ? g_n256 : names[rng_below(&s->rng, 12)];
}

/* A new (or colliding) name in an existing directory that is not too deep. */
static void pick_new(struct seq *s, char *out)
{
	const struct ent *d;

	do
		d = pick_ent(s, 'd', 1);
	while (depth_of(d->path) >= MAX_DEPTH && rng_pct(&s->rng, 90));
	join(out, d->path, pick_name(s));
}

/* Any path: mostly existing entries (preferring type), sometimes new names, a file
 * as parent (ENOTDIR) or a missing parent (ENOENT). */
static void pick_path(struct seq *s, char type, char *out)
{
	const struct ent *e = NULL;
	unsigned r = (unsigned)rng_below(&s->rng, 100);

	if (r < 70 && (e = pick_ent(s, type, 0)) == NULL)
		e = pick_ent(s, 0, 0);
	if (r < 70 && e != NULL)
		memcpy(out, e->path, REL_MAX);
	else if (r < 92 || (e = pick_ent(s, 'f', 0)) == NULL)
		pick_new(s, out);
	else
		join(out, r < 96 ? e->path : "nosuch", pick_name(s));
}

static size_t pick_size(struct rng *r)
{
	static const size_t sizes[] = { 0, 1, 2, 511, 4095, 4096, 4097, 8191, 8192, 8193,
					12288, 65535, 65536, 65537, IO_MAX };

	switch (rng_below(r, 4)) {
	case 0:
	case 1:
		return sizes[rng_below(r, sizeof(sizes) / sizeof(sizes[0]))];
	case 2:
		return (size_t)rng_below(r, 3 * CHUNK);
	default:
		return (size_t)rng_below(r, IO_MAX + 1);
	}
}

/* Offsets at and around EOF, on and across chunk boundaries, and far past EOF. */
static uint64_t pick_off(struct rng *r, uint64_t cur, size_t size)
{
	uint64_t k = rng_below(r, cur / CHUNK + 3), back;
	unsigned c = (unsigned)rng_below(r, 20);

	if (c == 0)
		return 0;
	if (c <= 4)
		return rng_below(r, cur + 1);
	if (c <= 7)
		return cur;
	if (c <= 9)
		return k * CHUNK + rng_below(r, 3) - (k > 0);
	if (c <= 12) { /* the write straddles a chunk boundary */
		back = rng_below(r, (uint64_t)size + 1);
		return k * CHUNK > back ? k * CHUNK - back : 0;
	}
	if (c == 13)
		return cur + rng_below(r, 2 * CHUNK);
	if (c <= 17)
		return cur + rng_below(r, 1024 * KIB); /* sparse */
	if (c == 18)
		return cur < (32u << 20) ? cur + rng_below(r, 16u << 20) : cur;
	return cur > 0 ? cur - 1 - rng_below(r, cur < CHUNK ? cur : CHUNK) : 0;
}

static uint64_t pick_truncate(struct rng *r, uint64_t cur)
{
	uint64_t v;

	switch (rng_below(r, 8)) {
	case 0:
		return 0;
	case 1:
	case 2: /* shrink into the middle of a chunk */
		v = cur > 0 ? rng_below(r, cur) : 0;
		return v % CHUNK == 0 && v + 1 < cur ? v + 1 : v;
	case 3:
		return cur;
	case 4:
		return (cur / CHUNK + rng_below(r, 3)) * CHUNK;
	case 5:
		return cur + rng_below(r, CHUNK + 2);
	default:
		return cur + rng_below(r, 256 * KIB);
	}
}

/* ---- host calls under the library's rules ---- */

/* open(2), except that a symbolic link is refused with EINVAL (the library never
 * follows one; Linux says ELOOP under O_NOFOLLOW) and a directory is never opened as a
 * file (EISDIR; Linux allows O_RDONLY). */
static int host_open(const char *p, int flags, mode_t mode)
{
	int acc = flags & SHELTER_O_ACCMODE, h;
	struct stat st;

	if (!((flags & SHELTER_O_CREAT) && (flags & SHELTER_O_EXCL)) && lstat(p, &st) == 0 &&
	    (S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode))) {
		errno = S_ISLNK(st.st_mode) ? EINVAL : EISDIR;
		return -1;
	}
	h = acc == SHELTER_O_WRONLY ? O_WRONLY : acc == SHELTER_O_RDWR ? O_RDWR : O_RDONLY;
	h |= (flags & SHELTER_O_CREAT ? O_CREAT : 0) | (flags & SHELTER_O_EXCL ? O_EXCL : 0) |
	     (flags & SHELTER_O_TRUNC ? O_TRUNC : 0) | (flags & SHELTER_O_APPEND ? O_APPEND : 0);
	return open(p, h | O_NOFOLLOW | O_CLOEXEC, mode);
}

/* truncate(2) without following a final symbolic link. */
static int host_truncate(const char *p, uint64_t size)
{
	struct stat st;

	if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	return truncate(p, (off_t)size);
}

/* POSIX lets ftruncate on a descriptor not open for writing fail with EBADF or
 * EINVAL; the library says EBADF, as read and write do, and Linux says EINVAL. */
static int host_ftruncate(const struct slot *sl, uint64_t size)
{
	if ((sl->flags & SHELTER_O_ACCMODE) == SHELTER_O_RDONLY) {
		errno = EBADF;
		return -1;
	}
	return ftruncate(sl->fd, (off_t)size);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The sorted names of a directory, without following a symbolic link. */
static int host_list(const char *mp, struct listing *l)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	l->count = 0;
	if (lstat(mp, &st) == 0 && S_ISLNK(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	if ((d = opendir(mp)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 && l->count < MAX_LIST)
			sfmt(l->names[l->count++], NAME_BUF, "%s", de->d_name);
	closedir(d);
	qsort(l->names, l->count, NAME_BUF, name_cmp);
	return 0;
}

static int list_cb(void *ctx, const char *name, const struct shelter_stat *st)
{
	struct listing *l = ctx;

	if (l->count == MAX_LIST)
		return SHELTER_E_INTERNAL; /* more entries than the model can hold */
	sfmt(l->names[l->count], NAME_BUF, "%s", name);
	l->types[l->count++] = st->type;
	return 0;
}

/* ---- operations ---- */

static struct slot *pick_slot(struct seq *s)
{
	size_t idx[MAX_SLOTS], n = 0;

	for (size_t i = 0; i < MAX_SLOTS; i++)
		if (s->slots[i].used)
			idx[n++] = i;
	return n == 0 ? NULL : &s->slots[idx[rng_below(&s->rng, n)]];
}

static void slot_close(struct seq *s, struct slot *sl, int quiet)
{
	if (!quiet)
		note(s, "close slot %d (%s)", (int)(sl - s->slots), sl->path);
	close(sl->fd);
	shelter_file_close(sl->f);
	memset(sl, 0, sizeof(*sl));
}

static void close_all(struct seq *s)
{
	for (size_t i = 0; i < MAX_SLOTS; i++)
		if (s->slots[i].used)
			slot_close(s, &s->slots[i], 1);
}

static int do_open(struct seq *s, const char *rel, int flags, uint32_t mode, struct slot **out)
{
	struct shelter_err e = { 0 };
	struct shelter_file *f = NULL;
	struct slot *sl = NULL;
	char mp[PATH_MAX], vp[PATH_MAX];
	int fd, lrc, r;

	*out = NULL;
	for (size_t i = 0; i < MAX_SLOTS && sl == NULL; i++)
		sl = s->slots[i].used ? NULL : &s->slots[i];
	if (sl == NULL)
		slot_close(s, sl = pick_slot(s), 0);
	mpath(s, rel, mp);
	vpath(s, rel, vp);
	s->toolong = strstr(rel, g_n256) != NULL;
	note(s, "open '%s' %s%s%s%s%s %o -> slot %d", rel,
	     (const char *[]){ "RDONLY", "WRONLY", "RDWR", "?" }[flags & SHELTER_O_ACCMODE],
	     flags & SHELTER_O_CREAT ? "|CREAT" : "", flags & SHELTER_O_EXCL ? "|EXCL" : "",
	     flags & SHELTER_O_TRUNC ? "|TRUNC" : "", flags & SHELTER_O_APPEND ? "|APPEND" : "",
	     mode, (int)(sl - s->slots));
	lrc = shelter_file_open(s->vol, vp, flags, mode, &f, &e);
	fd = host_open(mp, flags, mode);
	r = outcome(s, fd, lrc, &e);
	if (r != 0) {
		if (fd >= 0)
			close(fd);
		shelter_file_close(f);
		return r < 0 ? -1 : 0;
	}
	*sl = (struct slot){ .used = 1, .fd = fd, .flags = flags, .f = f };
	memcpy(sl->path, rel, REL_MAX);
	*out = sl;
	return 0;
}

static int op_open(struct seq *s)
{
	static const uint32_t modes[] = { 0600, 0644, 0640, 0755, 0700, 0666 };
	int acc = (int)rng_below(&s->rng, 3), flags = acc;
	unsigned r = (unsigned)rng_below(&s->rng, 100);
	const struct ent *e = r < 50 ? pick_ent(s, 'f', 0) : NULL;
	char rel[REL_MAX];
	struct slot *sl;

	if (e != NULL)
		memcpy(rel, e->path, REL_MAX);
	else if (r < 85)
		pick_new(s, rel);
	else
		pick_path(s, 0, rel);
	flags |= rng_pct(&s->rng, 65) ? SHELTER_O_CREAT : 0;
	flags |= rng_pct(&s->rng, (flags & SHELTER_O_CREAT) ? 25 : 3) ? SHELTER_O_EXCL : 0;
	/* O_TRUNC with O_RDONLY is unspecified by POSIX: not generated */
	flags |= acc != SHELTER_O_RDONLY && rng_pct(&s->rng, 20) ? SHELTER_O_TRUNC : 0;
	flags |= rng_pct(&s->rng, 20) ? SHELTER_O_APPEND : 0;
	return do_open(s, rel, flags, modes[rng_below(&s->rng, 6)], &sl);
}

static uint64_t host_size(const struct slot *sl)
{
	struct stat st;

	return fstat(sl->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static int check_read(struct seq *s, struct slot *sl, uint64_t off, size_t size)
{
	struct shelter_err e = { 0 };
	size_t got = 0;
	ssize_t n;
	int lrc, r;

	memset(s->a, 0xa5, size);
	memset(s->b, 0x5a, size);
	lrc = shelter_file_pread(sl->f, s->b, size, off, &got, &e);
	n = pread(sl->fd, s->a, size, (off_t)off);
	if ((r = outcome(s, n, lrc, &e)) != 0)
		return r < 0 ? -1 : 0;
	if ((size_t)n != got)
		return fail(s, "pread: %zd bytes from the host, %zu from the library", n, got);
	for (size_t i = 0; i < got; i++)
		if (s->a[i] != s->b[i])
			return fail(s, "pread: byte %" PRIu64 " is %#x on the host, %#x in the volume",
				    off + i, s->a[i], s->b[i]);
	return 0;
}

static int op_read(struct seq *s, struct slot *sl)
{
	size_t size = pick_size(&s->rng);
	uint64_t cur = host_size(sl), off;

	off = rng_pct(&s->rng, 15) ? cur + rng_below(&s->rng, 3 * CHUNK) : pick_off(&s->rng, cur, size);
	note(s, "pread slot %d (%s) off %" PRIu64 " size %zu [size %" PRIu64 "]",
	     (int)(sl - s->slots), sl->path, off, size, cur);
	return check_read(s, sl, off, size);
}

static int op_write(struct seq *s, struct slot *sl)
{
	struct shelter_err e = { 0 };
	size_t size = pick_size(&s->rng);
	uint64_t cur = host_size(sl), off = pick_off(&s->rng, cur, size), used = UINT64_MAX, want;
	ssize_t n;
	int lrc, r;

	rng_fill(&s->rng, s->a, size);
	note(s, "pwrite slot %d (%s) off %" PRIu64 " size %zu [size %" PRIu64 "]",
	     (int)(sl - s->slots), sl->path, off, size, cur);
	lrc = shelter_file_pwrite(sl->f, s->a, size, off, &used, &e);
	/* Linux pwrite(2) on an O_APPEND descriptor appends, as the library does */
	n = pwrite(sl->fd, s->a, size, (off_t)off);
	if ((r = outcome(s, n, lrc, &e)) != 0)
		return r < 0 ? -1 : 0;
	want = (sl->flags & SHELTER_O_APPEND) ? cur : off;
	if ((size_t)n != size || used != want)
		return fail(s, "pwrite: host wrote %zd; offset used %" PRIu64 ", want %" PRIu64, n,
			    used, want);
	return 0;
}

static int do_ftruncate(struct seq *s, struct slot *sl, uint64_t size)
{
	struct shelter_err e = { 0 };
	int lrc = shelter_file_truncate(sl->f, size, &e);

	return outcome(s, host_ftruncate(sl, size), lrc, &e);
}

static int op_ftruncate(struct seq *s, struct slot *sl)
{
	uint64_t cur = host_size(sl), size = pick_truncate(&s->rng, cur);

	note(s, "ftruncate slot %d (%s) to %" PRIu64 " [size %" PRIu64 "]", (int)(sl - s->slots),
	     sl->path, size, cur);
	return do_ftruncate(s, sl, size) < 0 ? -1 : 0;
}

/* Shrink into the middle of a chunk, extend again: every exposed byte must be zero. */
static int op_trunc_extend(struct seq *s, struct slot *sl)
{
	uint64_t cur = host_size(sl), lo = cur > 0 ? rng_below(&s->rng, cur) : 0, hi;
	struct shelter_err e = { 0 };
	size_t got = 0;
	int r;

	lo += lo % CHUNK == 0 && lo + 1 < cur;
	hi = lo + 1 + rng_below(&s->rng, 3 * CHUNK);
	note(s, "ftruncate slot %d (%s) to %" PRIu64 " then %" PRIu64 " [size %" PRIu64 "]",
	     (int)(sl - s->slots), sl->path, lo, hi, cur);
	if ((r = do_ftruncate(s, sl, lo)) != 0)
		return r < 0 ? -1 : 0;
	if ((r = do_ftruncate(s, sl, hi)) != 0)
		return r < 0 ? -1 : fail(s, "the extend failed on both sides");
	if ((sl->flags & SHELTER_O_ACCMODE) == SHELTER_O_WRONLY)
		return 0;
	memset(s->b, 0x77, (size_t)(hi - lo));
	r = shelter_file_pread(sl->f, s->b, (size_t)(hi - lo), lo, &got, &e);
	if (r != 0 || got != hi - lo)
		return fail(s, "read of the exposed range: %s, %zu bytes", shelter_code_str(r), got);
	for (size_t i = 0; i < got; i++)
		if (s->b[i] != 0)
			return fail(s, "byte %" PRIu64 " exposed by truncate and extend is %#x, not 0",
				    lo + i, s->b[i]);
	return check_read(s, sl, lo > CHUNK ? lo - CHUNK : 0, (size_t)(hi - lo) + 2 * CHUNK);
}

static int op_fstat(struct seq *s, struct slot *sl)
{
	struct shelter_err e = { 0 };
	struct shelter_stat ls;
	struct stat hs;
	int lrc;

	note(s, "fstat slot %d (%s)", (int)(sl - s->slots), sl->path);
	lrc = shelter_file_stat(sl->f, &ls, &e);
	if (fstat(sl->fd, &hs) < 0 || lrc != 0)
		return fail(s, "fstat: host %s, library %s", strerror(errno), shelter_code_str(lrc));
	return cmp_stat(s, "fstat", &hs, &ls);
}

/* Open an existing file, unlink it, then use the handle that outlives the name. */
static int op_unlink_open(struct seq *s)
{
	const struct ent *e = pick_ent(s, 'f', 0);
	int acc = rng_pct(&s->rng, 80) ? SHELTER_O_RDWR : SHELTER_O_WRONLY;
	int flags = acc | (rng_pct(&s->rng, 25) ? SHELTER_O_APPEND : 0);
	struct shelter_err err = { 0 };
	char rel[REL_MAX], mp[PATH_MAX], vp[PATH_MAX];
	struct slot *sl;
	int lrc, r;

	if (e == NULL)
		return 0;
	memcpy(rel, e->path, REL_MAX);
	if (do_open(s, rel, flags, 0644, &sl) < 0)
		return -1;
	if (sl == NULL)
		return 0;
	mpath(s, rel, mp);
	vpath(s, rel, vp);
	note(s, "unlink '%s' (open in slot %d)", rel, (int)(sl - s->slots));
	lrc = shelter_volume_unlink(s->vol, vp, &err);
	if ((r = outcome(s, unlink(mp), lrc, &err)) != 0)
		return r < 0 ? -1 : 0;
	if (op_write(s, sl) < 0 ||
	    (acc == SHELTER_O_RDWR && op_read(s, sl) < 0) || op_trunc_extend(s, sl) < 0)
		return -1;
	return op_fstat(s, sl);
}

static void pick_target(struct seq *s, char *out, size_t size)
{
	static const char *const fixed[] = { "a", "../x", "/abs/olute", "dir/e.txt", "." };
	unsigned r = (unsigned)rng_below(&s->rng, 10);
	/* up to SYMLINK_MAX (4095 on Linux): longer is refused, see test_symlink_too_long */
	size_t len = r < 8 ? 1 + rng_below(&s->rng, 300) : 4000 + rng_below(&s->rng, 96);

	if (r < 5) {
		sfmt(out, size, "%s", fixed[r]);
		return;
	}
	for (size_t i = 0; i < len && i + 1 < size; i++)
		out[i] = (char)('a' + rng_below(&s->rng, 26));
	out[len < size ? len : size - 1] = '\0';
}

/* Path operations: one path (two for rename), one outcome. */
enum { P_UNLINK, P_RMDIR, P_MKDIR, P_CHMOD, P_TRUNCATE, P_SYMLINK, P_READLINK, P_STAT, P_RENAME };

static int op_path(struct seq *s, int op)
{
	static const char *const names[] = { "unlink", "rmdir", "mkdir", "chmod", "truncate",
					     "symlink", "readlink", "stat", "rename" };
	char rel[REL_MAX], to[REL_MAX], mp[PATH_MAX], vp[PATH_MAX], mt[PATH_MAX], vt[PATH_MAX];
	char target[SHELTER_VOLUME_PATH_MAX + 8], hb[SHELTER_VOLUME_PATH_MAX + 8];
	struct shelter_err e = { 0 };
	const struct ent *t = NULL;
	struct shelter_stat ls;
	struct stat hs;
	uint64_t arg = 0;
	long hrc;
	int lrc = 0, r, from_dir;

	switch (op) {
	case P_MKDIR:
	case P_SYMLINK:
		if (rng_pct(&s->rng, 85))
			pick_new(s, rel);
		else
			pick_path(s, 0, rel);
		arg = 0700 | rng_below(&s->rng, 0100);
		if (op == P_SYMLINK)
			pick_target(s, target, sizeof(target));
		break;
	case P_CHMOD:
		/* chmod(2) follows symbolic links and Linux cannot change a link's own mode */
		t = pick_ent(s, rng_pct(&s->rng, 60) ? 'f' : 'd', 0);
		if (t != NULL && rng_pct(&s->rng, 90))
			memcpy(rel, t->path, REL_MAX);
		else
			join(rel, "nosuch", pick_name(s));
		arg = (t != NULL && t->type == 'd' ? 0700 : 0600) | rng_below(&s->rng, 01000);
		break;
	case P_RMDIR: /* mostly directories: non-empty ones must be refused */
		if ((t = pick_ent(s, 'd', 0)) != NULL && rng_pct(&s->rng, 75))
			memcpy(rel, t->path, REL_MAX);
		else
			pick_path(s, 0, rel);
		break;
	case P_STAT:
		if (rng_pct(&s->rng, 5))
			rel[0] = '\0';
		else
			pick_path(s, 0, rel);
		break;
	default:
		pick_path(s, op == P_READLINK ? 'l' : op == P_RENAME && rng_pct(&s->rng, 35) ? 'd' : 'f', rel);
		break;
	}
	mpath(s, rel, mp);
	vpath(s, rel, vp);
	s->toolong = strstr(rel, g_n256) != NULL;
	from_dir = lstat(mp, &hs) == 0 && S_ISDIR(hs.st_mode);
	if (op == P_TRUNCATE)
		arg = pick_truncate(&s->rng, lstat(mp, &hs) == 0 ? (uint64_t)hs.st_size : 0);
	if (op == P_RENAME) {
		unsigned k = (unsigned)rng_below(&s->rng, 100);

		if (k < 30) {
			pick_new(s, to);
		} else if (k < 55 && (t = pick_ent(s, from_dir ? 'd' : 'f', 0)) != NULL) {
			memcpy(to, t->path, REL_MAX); /* replace an existing entry */
		} else if (k < 65) {
			memcpy(to, rel, REL_MAX); /* onto itself */
		} else if (k < 85 && from_dir) {
			/* into its own subtree: below it, or below one of its subdirectories */
			size_t len = strlen(rel), n = 0, idx[MAX_ENTS];

			for (size_t i = 1; i < s->nents; i++)
				if (s->ents[i].type == 'd' && strncmp(s->ents[i].path, rel, len) == 0 &&
				    s->ents[i].path[len] == '/')
					idx[n++] = i;
			join(to, n > 0 && rng_pct(&s->rng, 50) ? s->ents[idx[rng_below(&s->rng, n)]].path : rel,
			     pick_name(s));
		} else {
			pick_path(s, 0, to);
		}
		mpath(s, to, mt);
		vpath(s, to, vt);
		s->toolong |= strstr(to, g_n256) != NULL;
		note(s, "rename '%s' -> '%s'", rel, to);
	} else if (op == P_SYMLINK) {
		note(s, "symlink '%s' -> '%.40s%s' (%zu bytes)", rel, target,
		     strlen(target) > 40 ? "..." : "", strlen(target));
	} else {
		note(s, op == P_MKDIR || op == P_CHMOD ? "%s '%s' %#" PRIo64 : "%s '%s' %" PRIu64,
		     names[op], rel, arg);
	}
	switch (op) {
	case P_UNLINK:
		lrc = shelter_volume_unlink(s->vol, vp, &e);
		hrc = unlink(mp);
		break;
	case P_RMDIR:
		lrc = shelter_volume_rmdir(s->vol, vp, &e);
		hrc = rmdir(mp);
		break;
	case P_MKDIR:
		lrc = shelter_volume_mkdir(s->vol, vp, (uint32_t)arg, &e);
		hrc = mkdir(mp, (mode_t)arg);
		break;
	case P_CHMOD:
		lrc = shelter_volume_chmod(s->vol, vp, (uint32_t)arg, &e);
		hrc = chmod(mp, (mode_t)arg);
		break;
	case P_TRUNCATE:
		lrc = shelter_volume_truncate(s->vol, vp, arg, &e);
		hrc = host_truncate(mp, arg);
		break;
	case P_SYMLINK:
		lrc = shelter_volume_symlink(s->vol, target, vp, &e);
		hrc = symlink(target, mp);
		break;
	case P_READLINK:
		lrc = shelter_volume_readlink(s->vol, vp, target, sizeof(target), &e);
		hrc = readlink(mp, hb, sizeof(hb) - 1);
		break;
	case P_STAT:
		lrc = shelter_volume_stat(s->vol, vp, &ls, &e);
		hrc = lstat(mp, &hs);
		break;
	default:
		lrc = shelter_volume_rename(s->vol, vp, vt, &e);
		hrc = rename(mp, mt);
		/* POSIX allows ENOTEMPTY (new is a non-empty directory) and EISDIR (new is a
		 * directory, old is not) when a file moves onto its own parent; Linux says
		 * the first, the library the second */
		if (hrc < 0 && errno == ENOTEMPTY && lrc == SHELTER_E_ISDIR && !from_dir)
			return 0;
		break;
	}
	if ((r = outcome(s, hrc, lrc, &e)) != 0)
		return r < 0 ? -1 : 0;
	if (op == P_STAT)
		return cmp_stat(s, "stat", &hs, &ls);
	if (op == P_READLINK) {
		hb[hrc] = '\0';
		if (strcmp(hb, target) != 0)
			return fail(s, "readlink: host '%.60s', library '%.60s'", hb, target);
	}
	return 0;
}

/* ---- whole-tree comparison ---- */

/* One directory: the same names in name order, the same types. 1 when both failed. */
static int cmp_listing(struct seq *s, const char *rel)
{
	char mp[PATH_MAX], vp[PATH_MAX];
	struct shelter_err e = { 0 };
	int lrc, r;

	mpath(s, rel, mp);
	vpath(s, rel, vp);
	s->ll.count = 0;
	lrc = shelter_volume_readdir(s->vol, vp, list_cb, &s->ll, &e);
	if ((r = outcome(s, host_list(mp, &s->hl), lrc, &e)) != 0)
		return r;
	if (s->hl.count != s->ll.count)
		return fail(s, "readdir '%s': %zu entries on the host, %zu in the volume", rel,
			    s->hl.count, s->ll.count);
	for (size_t i = 0; i < s->hl.count; i++) {
		char child[REL_MAX], cp[PATH_MAX];
		struct stat st;

		if (strcmp(s->hl.names[i], s->ll.names[i]) != 0)
			return fail(s, "readdir '%s': entry %zu is '%.40s' on the host, '%.40s' in "
				    "the volume", rel, i, s->hl.names[i], s->ll.names[i]);
		join(child, rel, s->hl.names[i]);
		mpath(s, child, cp);
		if (lstat(cp, &st) < 0 || host_type(st.st_mode) != s->ll.types[i])
			return fail(s, "readdir '%s': the type of '%.40s' differs", rel, s->hl.names[i]);
	}
	return 0;
}

static int cmp_file(struct seq *s, const char *rel)
{
	char mp[PATH_MAX], vp[PATH_MAX];
	struct shelter_err e = { 0 };
	struct shelter_file *f = NULL;
	uint64_t off = 0;
	int fd, rc;

	mpath(s, rel, mp);
	vpath(s, rel, vp);
	fd = open(mp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	rc = shelter_file_open(s->vol, vp, SHELTER_O_RDONLY, 0, &f, &e);
	if (fd < 0 || rc != 0)
		rc = fail(s, "open '%s': host %d, library %s: %s", rel, fd, shelter_code_str(rc), e.msg);
	while (rc == 0) {
		ssize_t n = pread(fd, s->a, BLOCK, (off_t)off);
		size_t got = 0, i = 0;

		rc = shelter_file_pread(f, s->b, BLOCK, off, &got, &e);
		if (n < 0 || rc != 0 || (size_t)n != got) {
			rc = fail(s, "read '%s' at %" PRIu64 ": host %zd bytes, library %zu (%s)", rel,
				  off, n, got, shelter_code_str(rc));
			break;
		}
		if (memcmp(s->a, s->b, got) != 0) {
			while (s->a[i] == s->b[i])
				i++;
			rc = fail(s, "'%s': byte %" PRIu64 " is %#x on the host, %#x in the volume",
				  rel, off + i, s->a[i], s->b[i]);
		}
		if (n == 0)
			break;
		off += got;
	}
	if (fd >= 0)
		close(fd);
	shelter_file_close(f);
	return rc;
}

static int cmp_entry(struct seq *s, const char *rel)
{
	char mp[PATH_MAX], vp[PATH_MAX], hb[SHELTER_VOLUME_PATH_MAX + 8], lb[SHELTER_VOLUME_PATH_MAX + 8];
	struct shelter_err e = { 0 };
	struct shelter_stat ls;
	struct stat hs;
	ssize_t n;
	int rc;

	mpath(s, rel, mp);
	vpath(s, rel, vp);
	rc = shelter_volume_stat(s->vol, vp, &ls, &e);
	if (lstat(mp, &hs) < 0 || rc != 0)
		return fail(s, "stat '%s': host %s, library %s: %s", rel, strerror(errno),
			    shelter_code_str(rc), e.msg);
	if (cmp_stat(s, rel, &hs, &ls) < 0)
		return -1;
	if (S_ISREG(hs.st_mode))
		return cmp_file(s, rel);
	if (!S_ISLNK(hs.st_mode))
		return 0;
	n = readlink(mp, hb, sizeof(hb) - 1);
	rc = shelter_volume_readlink(s->vol, vp, lb, sizeof(lb), &e);
	if (n < 0 || rc != 0)
		return fail(s, "readlink '%s': host %zd, library %s", rel, n, shelter_code_str(rc));
	hb[n] = '\0';
	return strcmp(hb, lb) == 0 ? 0 : fail(s, "link '%s': host '%.60s', volume '%.60s'", rel, hb, lb);
}

/* Every directory listed alike, every entry alike, every file byte for byte. */
static int cmp_tree(struct seq *s)
{
	if (scan_model(s) < 0)
		return -1;
	for (size_t i = 0; i < s->nents; i++) {
		if (s->ents[i].type == 'd' && cmp_listing(s, s->ents[i].path) != 0)
			return fail(s, "listing '%s' differs", s->ents[i].path);
		if (i > 0 && cmp_entry(s, s->ents[i].path) < 0)
			return -1;
	}
	return 0;
}

static int reopen(struct seq *s)
{
	struct shelter_volume_options opts = { .segment_size = SEG_SIZE };
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];
	struct shelter_err e = { 0 };
	int rc;

	close_all(s);
	if ((rc = shelter_volume_tag(s->vol, tag, &e)) != 0)
		return fail(s, "tag: %s: %s", shelter_code_str(rc), e.msg);
	shelter_volume_close(s->vol);
	s->vol = NULL;
	opts.expected_tag = tag;
	rc = shelter_volume_open(s->vdir, g_key, &opts, &s->vol, &e);
	return rc == 0 ? 0 : fail(s, "reopen with the tag taken before close: %s: %s",
				  shelter_code_str(rc), e.msg);
}

static void problem_cb(void *ctx, int kind, const char *where, const char *detail)
{
	fprintf(stderr, "    verify: %s at %s: %s\n", kind ? shelter_code_str(kind) : "notice", where,
		detail);
	(*(int *)ctx)++;
}

static int nonce_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 12);
}

/* §5: every record's 96-bit nonce is fresh. A repeat under one segment key (a forked
 * child drawing its parent's buffered nonces, say) would break AES-GCM while every
 * read still succeeds, so the segment files themselves are scanned: records are
 * back to back from offset 96 (§4), the length at byte 0 and the nonce at 32. */
static int nonces_unique(const char *vdir, char *why, size_t size)
{
	uint8_t *all = NULL, hdr[44];
	size_t n = 0, cap = 0;
	struct dirent *de;
	char path[PATH_MAX];
	int rc = 0;
	DIR *d;

	sfmt(path, sizeof(path), "%s/log", vdir);
	d = opendir(path);
	while (d != NULL && rc == 0 && (de = readdir(d)) != NULL) {
		int fd;

		if (strlen(de->d_name) != 20 || strcmp(de->d_name + 16, ".seg") != 0)
			continue;
		sfmt(path, sizeof(path), "%s/log/%s", vdir, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		for (off_t off = 96; fd >= 0 && rc == 0 && pread(fd, hdr, 44, off) == 44;
		     off += get_be32(hdr)) {
			if (get_be32(hdr) < 60)
				break;
			if (n == cap && (all = realloc(all, (cap = cap ? 2 * cap : 4096) * 12)) == NULL)
				rc = -1;
			else
				memcpy(all + 12 * n++, hdr + 32, 12);
		}
		if (fd >= 0)
			close(fd);
	}
	if (d != NULL)
		closedir(d);
	if (rc == 0 && n > 0)
		qsort(all, n, 12, nonce_cmp);
	for (size_t i = 1; rc == 0 && i < n; i++)
		if (memcmp(all + 12 * (i - 1), all + 12 * i, 12) == 0)
			rc = -1;
	if (rc != 0)
		sfmt(why, size, "a record nonce repeats in the log (%zu records)", n);
	free(all);
	return rc;
}

/* shelter_volume_verify must find nothing at all, not even a notice, and every
 * nonce in the log must be fresh. */
static int verify_ok(const char *vdir, const uint8_t *tag, char *why, size_t size)
{
	struct shelter_err e = { 0 };
	int problems = 0, rc = shelter_volume_verify(vdir, g_key, tag, problem_cb, &problems, &e);

	if (rc != 0 || problems != 0) {
		sfmt(why, size, "verify%s: %s, %d problems %s", tag ? " with the tag" : "",
		     shelter_code_str(rc), problems, e.msg);
		return -1;
	}
	return nonces_unique(vdir, why, size);
}

/* One random operation. */
static int step(struct seq *s)
{
	static const unsigned weights[] = { 12, 3, 18, 12, 4, 3, 4, 2, 4, 4, 6, 3, 3, 3, 3, 5, 9, 4, 1, 1 };
	/* K_UNLINK..K_RENAME in the order of P_UNLINK..P_RENAME */
	enum { K_OPEN, K_CLOSE, K_WRITE, K_READ, K_FTRUNC, K_TREXT, K_FSTAT, K_UNLINK_OPEN,
	       K_UNLINK, K_RMDIR, K_MKDIR, K_CHMOD, K_TRUNC, K_SYMLINK, K_READLINK, K_STAT,
	       K_RENAME, K_READDIR, K_REOPEN, K_COMPACT };
	struct shelter_err e = { 0 };
	unsigned total = 0, pick, op = 0;
	char rel[REL_MAX];
	struct slot *sl;
	int rc;

	for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++)
		total += weights[i];
	pick = (unsigned)rng_below(&s->rng, total);
	while (pick >= weights[op])
		pick -= weights[op++];
	s->toolong = 0;
	if (scan_model(s) < 0)
		return -1;
	if ((sl = pick_slot(s)) == NULL && op >= K_CLOSE && op <= K_FSTAT)
		op = K_OPEN;
	/* reopen only where this sequence owns the volume; compaction where the run asks
	 * for it: the other processes must follow it, open and unlinked files included */
	if ((op == K_REOPEN && !s->solo) || (op == K_COMPACT && !s->solo && !g_compact))
		op = K_STAT;
	if (!s->solo && g_compact && rng_pct(&s->rng, 3))
		op = K_COMPACT; /* often enough that a process falls behind several */
	switch (op) {
	case K_OPEN:
		return op_open(s);
	case K_CLOSE:
		slot_close(s, sl, 0);
		return 0;
	case K_WRITE:
		return op_write(s, sl);
	case K_READ:
		return op_read(s, sl);
	case K_FTRUNC:
		return op_ftruncate(s, sl);
	case K_TREXT:
		return op_trunc_extend(s, sl);
	case K_FSTAT:
		return op_fstat(s, sl);
	case K_UNLINK_OPEN:
		return op_unlink_open(s);
	case K_READDIR:
		pick_path(s, 'd', rel);
		if (rng_pct(&s->rng, 20))
			rel[0] = '\0';
		s->toolong = strstr(rel, g_n256) != NULL;
		note(s, "readdir '%s'", rel);
		return cmp_listing(s, rel) < 0 ? -1 : 0;
	case K_COMPACT: /* content-preserving: later comparisons check it, open handles too */
		note(s, "compact");
		rc = shelter_volume_compact(s->vol, &e);
		return rc == 0 ? 0 : fail(s, "compact: %s: %s", shelter_code_str(rc), e.msg);
	case K_REOPEN:
		note(s, "close every handle and the volume, reopen with the tag");
		return reopen(s);
	default:
		return op_path(s, (int)(op - K_UNLINK));
	}
}

static struct seq *seq_new(uint64_t seed, const char *name, const char *vdir,
			   struct shelter_volume *vol, const char *mroot, const char *prefix,
			   int trace_fd)
{
	struct seq *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->a = malloc(BLOCK)) == NULL || (s->b = malloc(BLOCK)) == NULL) {
		if (s != NULL)
			free(s->a);
		free(s);
		return NULL;
	}
	s->rng.s = s->seed = seed;
	sfmt(s->name, sizeof(s->name), "%s", name);
	sfmt(s->vdir, sizeof(s->vdir), "%s", vdir);
	sfmt(s->mroot, sizeof(s->mroot), "%s", mroot);
	sfmt(s->prefix, sizeof(s->prefix), "%s", prefix);
	s->vol = vol;
	s->trace_fd = trace_fd;
	return s;
}

static void seq_free(struct seq *s)
{
	if (s == NULL)
		return;
	close_all(s);
	free(s->a);
	free(s->b);
	free(s);
}

/* ---- deterministic cases (exact codes) ---- */

static struct shelter_volume *fresh_volume(void)
{
	struct shelter_volume_options opts = { .segment_size = SEG_SIZE };
	struct shelter_volume *v = NULL;

	if (make_tmp(g_dir, sizeof(g_dir), "unit") < 0 || shelter_volume_create(g_dir, g_key, NULL) != 0 ||
	    shelter_volume_open(g_dir, g_key, &opts, &v, NULL) != 0)
		return NULL;
	return v;
}

/* The refusals the model can compare only as errno (test_volume.c has the rest): a
 * directory into its own subtree at any depth, onto a symbolic link, through a file;
 * a rename onto itself changes nothing. */
static void refusals_body(void)
{
	struct shelter_volume *v = fresh_volume();
	struct shelter_file *f = NULL;
	struct shelter_stat st;
	char buf[8];

	CHECK(v != NULL);
	CHECK_OK(shelter_volume_mkdirs(v, "d/sub/deep", 0755, NULL));
	CHECK_OK(shelter_file_open(v, "d/f", SHELTER_O_CREAT | SHELTER_O_RDWR, 0644, &f, NULL));
	shelter_file_close(f);
	f = NULL;
	CHECK_OK(shelter_volume_symlink(v, "d", "l", NULL));
	CHECK_RC(shelter_volume_rename(v, "d", "d/sub", NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_volume_rename(v, "d", "d/sub/deep/x", NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_volume_rename(v, "d/sub", "d/sub/deep", NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_volume_rename(v, "d", "d/f/x", NULL), SHELTER_E_NOTDIR);
	CHECK_RC(shelter_volume_rename(v, "d", "l", NULL), SHELTER_E_NOTDIR);
	CHECK_RC(shelter_volume_rename(v, "d/f", "nosuch/x", NULL), SHELTER_E_NOENT);
	CHECK_RC(shelter_file_open(v, "d/f/x", SHELTER_O_CREAT | SHELTER_O_RDWR, 0644, &f, NULL),
		 SHELTER_E_NOTDIR);
	CHECK_RC(shelter_file_open(v, "l", SHELTER_O_CREAT | SHELTER_O_RDWR, 0644, &f, NULL),
		 SHELTER_E_INVAL);
	CHECK_RC(shelter_volume_readlink(v, "d", buf, sizeof(buf), NULL), SHELTER_E_INVAL);
	CHECK(f == NULL);
	CHECK_OK(shelter_volume_rename(v, "d", "./d", NULL));
	CHECK_OK(shelter_volume_rename(v, "d/f", "/d//f", NULL));
	CHECK_OK(shelter_volume_stat(v, "d/f", &st, NULL));
	CHECK(st.type == SHELTER_FT_REG && st.nlink == 1);
	CHECK_OK(shelter_volume_stat(v, "d/sub/deep", &st, NULL));
	shelter_volume_close(v);
	rm_rf(g_dir);
}

static void test_refusals(void)
{
	isolated(refusals_body);
}

/* POSIX symlink(2): a target longer than SYMLINK_MAX is ENAMETOOLONG, as a name longer
 * than NAME_MAX is; the volume has the code for it. */
static void symlink_too_long_body(void)
{
	struct shelter_volume *v = fresh_volume();
	static char target[SHELTER_VOLUME_PATH_MAX + 1];
	char back[SHELTER_VOLUME_PATH_MAX + 1];

	CHECK(v != NULL);
	memset(target, 't', SHELTER_VOLUME_PATH_MAX - 1);
	CHECK_OK(shelter_volume_symlink(v, target, "longest", NULL));
	CHECK_OK(shelter_volume_readlink(v, "longest", back, sizeof(back), NULL));
	CHECK(strcmp(back, target) == 0);
	target[SHELTER_VOLUME_PATH_MAX - 1] = 't';
	CHECK_RC(shelter_volume_symlink(v, target, "toolong", NULL), SHELTER_E_NAMETOOLONG);
	shelter_volume_close(v);
	rm_rf(g_dir);
}

static void test_symlink_too_long(void)
{
	isolated(symlink_too_long_body);
}

/* A handle that is a segment or more behind when another handle compacts must still
 * catch up: compaction (and a writer's open) deletes the segments a checkpoint
 * replaced, including ones the lagging handle has yet to read. Minimal reproducer of
 * the failure the compacting ping-pong run finds across processes. */
static void compact_lagging_handle_body(void)
{
	struct shelter_volume_options opts = { .segment_size = SEG_SIZE };
	struct shelter_volume *a = fresh_volume(), *b = NULL;
	static uint8_t buf[40 * KIB];
	struct shelter_file *f = NULL;
	struct shelter_stat st = { 0 };

	CHECK(a != NULL);
	CHECK_OK(shelter_volume_open(g_dir, g_key, &opts, &b, NULL));
	CHECK_OK(shelter_file_open(a, "a", SHELTER_O_CREAT | SHELTER_O_RDWR, 0644, &f, NULL));
	CHECK_OK(shelter_volume_stat(b, "a", &st, NULL)); /* b is up to date here */
	CHECK_OK(shelter_file_pwrite(f, buf, sizeof(buf), 0, NULL, NULL)); /* rolls over */
	shelter_file_close(f);
	CHECK_OK(shelter_volume_compact(a, NULL));
	CHECK_OK(shelter_volume_stat(b, "a", &st, NULL));
	CHECK(st.size == sizeof(buf));
	shelter_volume_close(b);
	shelter_volume_close(a);
	rm_rf(g_dir);
}

static void test_compact_with_lagging_handle(void)
{
	isolated(compact_lagging_handle_body);
}

/* ---- the property test: one fresh volume and model per seed ---- */

static int property_sequence(uint64_t seed, unsigned nops, const char *work, int trace_fd)
{
	struct shelter_volume_options opts = { .segment_size = SEG_SIZE };
	char vdir[PATH_MAX], mroot[PATH_MAX], why[300];
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];
	struct shelter_volume *vol = NULL;
	struct shelter_err e = { 0 };
	struct seq *s;
	int rc = 0;

	sfmt(vdir, sizeof(vdir), "%s/vol", work);
	sfmt(mroot, sizeof(mroot), "%s/model", work);
	if (mkdir(mroot, 0755) < 0 || shelter_volume_create(vdir, g_key, &e) != 0 ||
	    shelter_volume_open(vdir, g_key, &opts, &vol, &e) != 0 ||
	    (s = seq_new(seed, "sequence", vdir, vol, mroot, "", trace_fd)) == NULL) {
		fprintf(stderr, "  setup: %s\n", e.msg);
		shelter_volume_close(vol);
		return -1;
	}
	s->solo = 1;
	for (unsigned i = 0; i < nops && rc == 0; i++)
		rc = step(s);
	if (rc == 0) {
		note(s, "final: close the handles, compare the whole tree");
		close_all(s);
		rc = cmp_tree(s);
	}
	if (rc == 0) {
		note(s, "final: close, reopen with the tag, compare, verify");
		rc = reopen(s);
	}
	if (rc == 0)
		rc = cmp_tree(s);
	if (rc == 0 && shelter_volume_tag(s->vol, tag, &e) != 0)
		rc = fail(s, "tag: %s", e.msg);
	if (rc == 0 && (verify_ok(vdir, NULL, why, sizeof(why)) < 0 ||
			verify_ok(vdir, tag, why, sizeof(why)) < 0))
		rc = fail(s, "%s", why);
	close_all(s); /* files before their volume */
	shelter_volume_close(s->vol);
	s->vol = NULL;
	seq_free(s);
	return rc;
}

typedef int (*child_fn)(uint64_t seed, unsigned arg, const char *work, int trace_fd);

/* Run fn in a child process with a fresh work directory and trace file; on failure
 * print why, how to rerun it and the last operations. */
static int run_child(const char *label, uint64_t seed, child_fn fn, unsigned arg, int quiet)
{
	char work[PATH_MAX], trace[PATH_MAX + 16], why[128];
	pid_t pid;
	int tfd, rc = 0;

	if (make_tmp(work, sizeof(work), label) < 0)
		return -1;
	sfmt(trace, sizeof(trace), "%s/trace", work);
	tfd = open(trace, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		exit(fn(seed, arg, work, tfd) == 0 ? 0 : 1);
	if (tfd >= 0)
		close(tfd);
	if (pid < 0 || wait_child(pid, why, sizeof(why)) < 0) {
		fprintf(stderr, "  FAILED %s seed 0x%016" PRIx64 ": %s%s\n", label, seed,
			pid < 0 ? "fork failed" : why,
			strcmp(label, "seq") == 0 ? " (rerun: SHELTER_MODEL_SEED=<seed>)" : "");
		if (!quiet)
			print_tail(trace, 12);
		rc = -1;
	}
	if (rc == 0 || !g_keep)
		rm_rf(work);
	else
		fprintf(stderr, "    kept %s\n", work);
	return rc;
}

static void property_body(void)
{
	const char *one = getenv("SHELTER_MODEL_SEED");
	unsigned failed = 0, n = one ? 1 : g_seqs;
	unsigned long before = *g_ops;

	for (unsigned i = 0; i < n; i++)
		failed += run_child("seq", one ? strtoull(one, NULL, 0) : mix_seed(g_base, i),
				    property_sequence, g_nops, failed >= 3) < 0;
	fprintf(stderr, "  property: %u sequences, %lu operations, %u failed\n", n,
		*g_ops - before, failed);
	CHECK(failed == 0);
}

static void test_property_sequences(void)
{
	isolated(property_body);
}

/* ---- appended records: writer id, counter, payload, FNV-1a checksum ---- */

#define REC_MAGIC UINT32_C(0x52454331) /* "REC1" */
#define REC_HDR 10u /* magic 4 | writer 1 | payload length 1 | counter 4 */
#define REC_MAX (REC_HDR + 64 + 8)

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* A record is determined by (writer, counter), so a reader can rebuild and compare it. */
static size_t rec_build(uint8_t out[REC_MAX], unsigned writer, uint32_t counter)
{
	struct rng r = { (uint64_t)writer << 32 | counter };
	size_t len = 1 + (size_t)rng_below(&r, 60);
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	put_be(out, REC_MAGIC, 4);
	out[4] = (uint8_t)writer;
	out[5] = (uint8_t)len;
	put_be(out + 6, counter, 4);
	rng_fill(&r, out + REC_HDR, len);
	for (size_t i = 0; i < REC_HDR + len; i++)
		h = (h ^ out[i]) * UINT64_C(0x100000001b3);
	put_be(out + REC_HDR + len, h, 8);
	return REC_HDR + len + 8;
}

/* Every writer's records 0..want[w]-1 exactly once, in its order, each intact. */
static int check_records(struct shelter_volume *v, const char *path, unsigned writers,
			 const uint32_t *want, char *why, size_t size)
{
	uint8_t *data = NULL, expect[REC_MAX];
	uint32_t next[WORKERS] = { 0 };
	struct shelter_file *f = NULL;
	struct shelter_stat st = { 0 };
	size_t got = 0, off = 0, len = 0;
	int rc = shelter_file_open(v, path, SHELTER_O_RDONLY, 0, &f, NULL);

	if (rc == 0)
		rc = shelter_file_stat(f, &st, NULL);
	if (rc == 0 && (data = malloc(st.size + 1)) == NULL)
		rc = SHELTER_E_NOMEM;
	if (rc == 0)
		rc = shelter_file_pread(f, data, st.size + 1, 0, &got, NULL);
	shelter_file_close(f);
	if (rc != 0 || got != st.size)
		sfmt(why, size, "read '%s': %s", path, shelter_code_str(rc));
	for (; rc == 0 && got == st.size && off < got; off += len) {
		unsigned w = got - off >= REC_HDR ? data[off + 4] : WORKERS;

		if (w >= writers || get_be32(data + off) != REC_MAGIC) {
			sfmt(why, size, "'%s': no record header at offset %zu", path, off);
			rc = -1;
		} else if (len = rec_build(expect, w, next[w]),
			   got - off < len || memcmp(data + off, expect, len) != 0) {
			sfmt(why, size, "'%s' offset %zu: writer %u's record %u is damaged, lost or out "
			     "of order", path, off, w, next[w]);
			rc = -1;
		} else {
			next[w]++;
		}
	}
	for (unsigned w = 0; rc == 0 && w < writers; w++)
		if (next[w] != want[w]) {
			sfmt(why, size, "'%s': writer %u has %u records, it appended %u", path, w,
			     next[w], want[w]);
			rc = -1;
		}
	free(data);
	return rc == 0 && got == st.size ? 0 : -1;
}

/* ---- (a) forked children on one inherited handle ---- */

struct worker_report {
	uint32_t appended, ok;
};

/* One process's share: a random sequence on its own subtree, with O_APPEND records
 * to the shared file in between, then its subtree against its model. */
static int worker(struct shelter_volume *vol, const char *vdir, const char *mroot, unsigned idx,
		  uint64_t seed, unsigned nops, int trace_fd, uint32_t *appended)
{
	char prefix[16], name[32];
	struct shelter_file *af = NULL;
	struct shelter_err e = { 0 };
	uint8_t rec[REC_MAX];
	struct seq *s;
	int rc;

	*appended = 0;
	sfmt(prefix, sizeof(prefix), "w%u", idx);
	sfmt(name, sizeof(name), "worker %u", idx);
	if ((s = seq_new(seed, name, vdir, vol, mroot, prefix, trace_fd)) == NULL)
		return -1;
	rc = shelter_file_open(vol, "shared.log", SHELTER_O_WRONLY | SHELTER_O_APPEND, 0, &af, &e);
	if (rc != 0)
		rc = fail(s, "open shared.log: %s", e.msg);
	for (unsigned i = 0; i < nops && rc == 0; i++) {
		if (!rng_pct(&s->rng, 30)) {
			rc = step(s);
			continue;
		}
		note(s, "append record %u to shared.log", *appended);
		rc = shelter_file_pwrite(af, rec, rec_build(rec, idx, *appended), 0, NULL, &e);
		if (rc != 0)
			rc = fail(s, "append: %s: %s", shelter_code_str(rc), e.msg);
		else
			(*appended)++;
	}
	shelter_file_close(af);
	if (rc == 0) {
		note(s, "final: compare subtree %s", prefix);
		close_all(s);
		rc = cmp_tree(s);
	}
	seq_free(s);
	return rc;
}

/* The parent's view of every subtree against its process's model, and the records. */
static int fork_check(struct shelter_volume *vol, const char *vdir, char mroot[][PATH_MAX],
		      const uint32_t *want)
{
	char why[300], name[32], prefix[16];
	int rc = 0;

	for (unsigned i = 0; i < WORKERS && rc == 0; i++) {
		struct seq *s;

		sfmt(name, sizeof(name), "parent check of w%u", i);
		sfmt(prefix, sizeof(prefix), "w%u", i);
		s = seq_new(i, name, vdir, vol, mroot[i], prefix, -1);
		rc = s == NULL ? -1 : cmp_tree(s);
		seq_free(s);
	}
	if (rc == 0 && check_records(vol, "shared.log", WORKERS, want, why, sizeof(why)) < 0) {
		fprintf(stderr, "  shared O_APPEND file: %s\n", why);
		rc = -1;
	}
	return rc;
}

static int fork_test(uint64_t seed, unsigned nops, const char *work, int trace_fd)
{
	struct shelter_volume_options opts = { .segment_size = SEG_SIZE };
	char vdir[PATH_MAX], mroot[WORKERS][PATH_MAX], trace[WORKERS][PATH_MAX + 16], why[300];
	struct worker_report rep[WORKERS] = { { 0, 0 } };
	uint32_t want[WORKERS];
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];
	struct shelter_volume *vol = NULL;
	struct shelter_file *f = NULL;
	struct shelter_err e = { 0 };
	int pipes[WORKERS][2], rc = 0, tfd;
	pid_t pids[WORKERS] = { 0 };

	(void)trace_fd;
	sfmt(vdir, sizeof(vdir), "%s/vol", work);
	if (shelter_volume_create(vdir, g_key, &e) != 0 ||
	    shelter_volume_open(vdir, g_key, &opts, &vol, &e) != 0 ||
	    shelter_file_open(vol, "shared.log", SHELTER_O_CREAT | SHELTER_O_WRONLY, 0644, &f, &e) != 0)
		return fprintf(stderr, "  setup: %s\n", e.msg), -1;
	shelter_file_close(f);
	for (unsigned i = 0; i < WORKERS; i++) {
		sfmt(mroot[i], PATH_MAX, "%s/model%u", work, i);
		sfmt(trace[i], sizeof(trace[i]), "%s/trace%u", work, i);
		sfmt(why, sizeof(why), "w%u", i);
		if (mkdir(mroot[i], 0755) < 0 || shelter_volume_mkdir(vol, why, 0755, &e) != 0 ||
		    pipe(pipes[i]) < 0)
			return -1;
	}
	fflush(NULL);
	/* workers 1..3 are children using the handle they inherited; worker 0 is us */
	for (unsigned i = WORKERS - 1; i < WORKERS; i--) {
		if (i > 0 && (pids[i] = fork()) != 0) {
			close(pipes[i][1]);
			continue;
		}
		for (unsigned j = 1; i > 0 && j < WORKERS; j++)
			if (j != i && pids[j] == 0) { /* a child keeps its own pipe only */
				close(pipes[j][0]);
				close(pipes[j][1]);
			}
		tfd = open(trace[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		rc = worker(vol, vdir, mroot[i], i, mix_seed(seed, i), nops, tfd, &rep[i].appended);
		rep[i].ok = rc == 0;
		if (tfd >= 0)
			close(tfd);
		if (i == 0)
			break;
		rc |= io_full(pipes[i][1], &rep[i], sizeof(rep[i]), 1);
		shelter_volume_close(vol);
		exit(rc == 0 ? 0 : 1);
	}
	for (unsigned i = 0; i < WORKERS; i++) {
		if (i > 0 && (pids[i] < 0 || io_full(pipes[i][0], &rep[i], sizeof(rep[i]), 0) < 0 ||
			      wait_child(pids[i], why, sizeof(why)) < 0)) {
			fprintf(stderr, "  worker %u: %s\n", i, pids[i] < 0 ? "fork failed" : why);
			rep[i].ok = 0;
		}
		if (i > 0)
			close(pipes[i][0]);
		if (!rep[i].ok) {
			fprintf(stderr, "  worker %u failed (seed 0x%016" PRIx64 ")\n", i, mix_seed(seed, i));
			print_tail(trace[i], 8);
			rc = -1;
		}
		want[i] = rep[i].appended;
	}
	if (rc == 0)
		rc = fork_check(vol, vdir, mroot, want);
	if (rc == 0 && (rc = shelter_volume_tag(vol, tag, &e)) == 0) {
		opts.expected_tag = tag;
		shelter_volume_close(vol);
		vol = NULL;
		if ((rc = shelter_volume_open(vdir, g_key, &opts, &vol, &e)) != 0)
			fprintf(stderr, "  reopen with the tag: %s: %s\n", shelter_code_str(rc), e.msg);
	}
	if (rc == 0)
		rc = fork_check(vol, vdir, mroot, want);
	if (rc == 0 && verify_ok(vdir, tag, why, sizeof(why)) < 0) {
		fprintf(stderr, "  %s\n", why);
		rc = -1;
	}
	shelter_volume_close(vol);
	return rc;
}

static void fork_body(void)
{
	unsigned failed = 0, runs = 3;
	unsigned long before = *g_ops;

	/* compaction rewrites the log, which would hide a repeated nonce: the last run only */
	for (unsigned i = 0; i < runs; i++) {
		g_compact = i == runs - 1;
		failed += run_child(g_compact ? "fork-compact" : "fork", mix_seed(g_base ^ 0xf0f0, i),
				    fork_test, 200, 1) < 0;
	}
	fprintf(stderr, "  inherited handle: %u runs (the last also compacts) x %u processes, %lu "
		"operations, %u failed\n", runs, WORKERS, *g_ops - before, failed);
	CHECK(failed == 0);
}

static void test_fork_shared_handle(void)
{
	isolated(fork_body);
}

/* ---- (b) two independent opens: ping-pong on one file ---- */

#define PP_MAX (2048 * KIB)
#define PP_ROUNDS 240
#define PP_SIDES 4

struct pp_model {
	uint8_t *data; /* zero past size */
	uint64_t size;
	int side[PP_SIDES]; /* entries x0..x3: 0 absent, else present */
};

struct pp_op {
	int kind; /* 0 pwrite, 1 truncate, 2 append via a new handle, 3 side entry, 4 compact */
	uint64_t off, dseed;
	size_t size;
	unsigned side;
};

/* Both processes derive the same operations from the seed and their (equal) models. */
static void pp_pick(uint64_t seed, unsigned n, const struct pp_model *m, struct pp_op *op)
{
	static const int kinds[10] = { 0, 0, 0, 0, 0, 1, 2, 2, 3, 3 };
	struct rng r = { mix_seed(seed, n) };

	*op = (struct pp_op){ .kind = kinds[rng_below(&r, 10)], .dseed = rng_next(&r),
			      .side = (unsigned)rng_below(&r, PP_SIDES) };
	if (m->size > 1200 * KIB && op->kind != 3)
		op->kind = 1;
	if (op->kind == 0) {
		op->size = (size_t)rng_below(&r, 64 * KIB + 2);
		op->off = pick_off(&r, m->size, op->size);
		op->off = op->off > 800 * KIB ? rng_below(&r, 800 * KIB) : op->off;
	} else if (op->kind == 1) {
		op->off = pick_truncate(&r, m->size);
		op->off = op->off > 900 * KIB ? rng_below(&r, m->size + 1) : op->off;
	} else if (op->kind == 2) {
		op->size = (size_t)rng_below(&r, 9000);
	}
	if (g_compact && rng_pct(&r, 8))
		op->kind = 4;
}

static void pp_apply_model(struct pp_model *m, const struct pp_op *op)
{
	struct rng r = { op->dseed };
	uint64_t off = op->kind == 2 ? m->size : op->off;

	if (op->kind == 0 || op->kind == 2) {
		rng_fill(&r, m->data + off, op->size);
		m->size = op->size > 0 && off + op->size > m->size ? off + op->size : m->size;
	} else if (op->kind == 1) {
		if (op->off < m->size)
			memset(m->data + op->off, 0, (size_t)(m->size - op->off));
		m->size = op->off;
	} else if (op->kind == 3) {
		m->side[op->side] = !m->side[op->side];
	}
}

struct pp_ctx {
	struct shelter_volume *vol;
	struct shelter_file *f;
	uint8_t *buf, *tmp;
	const char *who;
	unsigned round;
};

static int pp_fail(const struct pp_ctx *c, const char *msg, int rc)
{
	fprintf(stderr, "  ping-pong %s round %u: %s (%s)\n", c->who, c->round, msg, shelter_code_str(rc));
	return -1;
}

static int pp_apply_volume(struct pp_ctx *c, const struct pp_model *m, const struct pp_op *op)
{
	struct rng r = { op->dseed };
	struct shelter_file *g = NULL;
	char name[8];
	uint64_t at = 0;
	int rc;

	sfmt(name, sizeof(name), "x%u", op->side);
	rng_fill(&r, c->tmp, op->size);
	switch (op->kind) {
	case 0:
		rc = shelter_file_pwrite(c->f, c->tmp, op->size, op->off, NULL, NULL);
		break;
	case 1:
		rc = shelter_file_truncate(c->f, op->off, NULL);
		break;
	case 2:
		rc = shelter_file_open(c->vol, "pp", SHELTER_O_WRONLY | SHELTER_O_APPEND, 0, &g, NULL);
		if (rc == 0)
			rc = shelter_file_pwrite(g, c->tmp, op->size, 0, &at, NULL);
		shelter_file_close(g);
		if (rc == 0 && at != m->size)
			return pp_fail(c, "append landed at the wrong offset", 0);
		break;
	case 3: /* odd entries are directories, even ones symbolic links */
		if (m->side[op->side])
			rc = op->side % 2 ? shelter_volume_rmdir(c->vol, name, NULL)
					  : shelter_volume_unlink(c->vol, name, NULL);
		else
			rc = op->side % 2 ? shelter_volume_mkdir(c->vol, name, 0755, NULL)
					  : shelter_volume_symlink(c->vol, "pp", name, NULL);
		break;
	default:
		rc = shelter_volume_compact(c->vol, NULL);
		break;
	}
	return rc == 0 ? 0 : pp_fail(c, op->kind == 4 ? "compact" : "write", rc);
}

/* What this process sees, at once and through its long-lived handle, is the model. */
static int pp_check(struct pp_ctx *c, const struct pp_model *m, struct listing *l)
{
	struct shelter_stat st;
	size_t got = 0, want = 1;
	int rc = shelter_file_stat(c->f, &st, NULL);

	if (rc != 0 || st.size != m->size)
		return pp_fail(c, "handle stat: not the size the other process left", rc);
	if ((rc = shelter_volume_stat(c->vol, "pp", &st, NULL)) != 0 || st.size != m->size)
		return pp_fail(c, "stat by path: not the size the other process left", rc);
	rc = shelter_file_pread(c->f, c->buf, PP_MAX, 0, &got, NULL);
	if (rc != 0 || got != m->size || memcmp(c->buf, m->data, got) != 0)
		return pp_fail(c, "contents differ from the other process's completed writes", rc);
	l->count = 0;
	rc = shelter_volume_readdir(c->vol, "", list_cb, l, NULL);
	for (unsigned i = 0; i < PP_SIDES; i++)
		want += m->side[i] != 0;
	return rc == 0 && l->count == want ? 0 : pp_fail(c, "directory listing differs", rc);
}

static int pp_process(const char *vdir, uint64_t seed, unsigned me, int rfd, int wfd,
		      uint8_t tag[SHELTER_VOLUME_TAG_SIZE])
{
	struct shelter_volume_options opts = { .segment_size = SEG_SIZE };
	struct pp_ctx c = { .who = me ? "child" : "parent" };
	struct listing *l = malloc(sizeof(*l));
	struct pp_model m = { .data = calloc(1, PP_MAX + IO_MAX) };
	struct shelter_err e = { 0 };
	int rc;

	c.buf = malloc(PP_MAX);
	c.tmp = malloc(IO_MAX);
	rc = m.data && c.buf && c.tmp && l ? 0 : SHELTER_E_NOMEM;
	/* not inherited: this process opens the volume and the file itself */
	if (rc == 0)
		rc = shelter_volume_open(vdir, g_key, &opts, &c.vol, &e);
	if (rc == 0)
		rc = shelter_file_open(c.vol, "pp", SHELTER_O_RDWR, 0, &c.f, &e);
	if (rc != 0)
		rc = pp_fail(&c, e.msg, rc);
	/* each round one process makes a burst of 1-3 changes, then the other checks */
	for (unsigned round = 0; round < PP_ROUNDS && rc == 0; round++) {
		unsigned burst = 1 + (unsigned)(mix_seed(seed ^ 0xb0, round) % 3);
		uint32_t token = round;
		struct pp_op op;

		c.round = round;
		if (round % 2 != me && (io_full(rfd, &token, sizeof(token), 0) < 0 || token != round))
			rc = pp_fail(&c, "the other process stopped", 0);
		for (unsigned k = 0; k < burst && rc == 0; k++) {
			pp_pick(seed, round * 4 + k, &m, &op);
			__atomic_fetch_add(g_ops, 1, __ATOMIC_RELAXED);
			if (round % 2 == me)
				rc = pp_apply_volume(&c, &m, &op);
			pp_apply_model(&m, &op);
		}
		if (rc == 0)
			rc = pp_check(&c, &m, l);
		if (rc == 0 && round % 2 == me && io_full(wfd, &token, sizeof(token), 1) < 0)
			rc = pp_fail(&c, "pipe write", 0);
	}
	if (rc == 0 && (rc = shelter_volume_tag(c.vol, tag, NULL)) != 0)
		rc = pp_fail(&c, "tag", rc);
	shelter_file_close(c.f);
	shelter_volume_close(c.vol);
	free(m.data);
	free(c.buf);
	free(c.tmp);
	free(l);
	return rc;
}

static int pingpong_test(uint64_t seed, unsigned arg, const char *work, int trace_fd)
{
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE], ctag[SHELTER_VOLUME_TAG_SIZE];
	char vdir[PATH_MAX], why[300];
	struct shelter_volume *vol = NULL;
	struct shelter_file *f = NULL;
	int p2c[2], c2p[2], rc;
	pid_t pid;

	(void)arg;
	(void)trace_fd;
	sfmt(vdir, sizeof(vdir), "%s/vol", work);
	if (shelter_volume_create(vdir, g_key, NULL) != 0 ||
	    shelter_volume_open(vdir, g_key, NULL, &vol, NULL) != 0 ||
	    shelter_file_open(vol, "pp", SHELTER_O_CREAT | SHELTER_O_RDWR, 0644, &f, NULL) != 0 ||
	    pipe(p2c) < 0 || pipe(c2p) < 0)
		return -1;
	shelter_file_close(f);
	shelter_volume_close(vol); /* nothing is inherited */
	fflush(NULL);
	if ((pid = fork()) == 0) {
		close(p2c[1]);
		close(c2p[0]);
		rc = pp_process(vdir, seed, 1, p2c[0], c2p[1], ctag);
		exit(rc == 0 && io_full(c2p[1], ctag, sizeof(ctag), 1) == 0 ? 0 : 1);
	}
	close(p2c[0]);
	close(c2p[1]);
	rc = pid < 0 ? -1 : pp_process(vdir, seed, 0, c2p[0], p2c[1], tag);
	close(p2c[1]);
	if (rc == 0 && (io_full(c2p[0], ctag, sizeof(ctag), 0) < 0 || memcmp(tag, ctag, sizeof(tag)) != 0)) {
		fprintf(stderr, "  ping-pong: the two processes end with different tags (or none)\n");
		rc = -1;
	}
	close(c2p[0]);
	if (pid > 0 && wait_child(pid, why, sizeof(why)) < 0) {
		fprintf(stderr, "  ping-pong child: %s\n", why);
		rc = -1;
	}
	if (rc == 0 && verify_ok(vdir, tag, why, sizeof(why)) < 0) {
		fprintf(stderr, "  ping-pong: %s\n", why);
		rc = -1;
	}
	return rc;
}

static void pingpong_body(void)
{
	unsigned failed = 0;
	unsigned long before = *g_ops;

	for (unsigned i = 0; i < 3; i++) {
		g_compact = i == 2;
		failed += run_child(g_compact ? "pingpong-compact" : "pingpong",
				    mix_seed(g_base ^ 0xb1, i), pingpong_test, 0, 1) < 0;
	}
	fprintf(stderr, "  two opens ping-pong: 3 runs (the last also compacts), %lu operations, "
		"%u failed\n", *g_ops - before, failed);
	CHECK(failed == 0);
}

static void test_two_opens_pingpong(void)
{
	isolated(pingpong_body);
}

/* ---- (b) redis BGSAVE: append to 'aof' while a child replaces 'dump.rdb' ---- */

#define RDB_OLD (100 * KIB)
#define RDB_NEW (300 * KIB)

struct bg {
	struct shelter_volume *v;
	uint8_t *img[2], *buf; /* the old and new snapshots; a read buffer */
	int rfd, wfd;
};

/* 1 when path holds exactly snapshot `which` (or either, for -1). */
static int holds(struct bg *b, const char *path, int which)
{
	static const size_t size[2] = { RDB_OLD, RDB_NEW };
	struct shelter_file *f = NULL;
	size_t got = 0;
	int rc = shelter_file_open(b->v, path, SHELTER_O_RDONLY, 0, &f, NULL);

	if (rc == 0)
		rc = shelter_file_pread(f, b->buf, RDB_NEW + 1, 0, &got, NULL);
	shelter_file_close(f);
	for (int i = 0; rc == 0 && i < 2; i++)
		if ((which < 0 || which == i) && got == size[i] && memcmp(b->buf, b->img[i], got) == 0)
			return 1;
	return 0;
}

static int bg_child(struct bg *b, const char *vdir, uint64_t seed)
{
	struct shelter_volume_options opts = { .segment_size = SEG_SIZE };
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];
	struct shelter_file *t = NULL;
	struct shelter_stat st;
	struct rng r = { seed };
	uint32_t count = 0;
	char why[300];
	size_t off = 0;
	int rc = b->v == NULL ? shelter_volume_open(vdir, g_key, &opts, &b->v, NULL) : 0;

	if (rc == 0)
		rc = shelter_file_open(b->v, "temp.rdb", SHELTER_O_CREAT | SHELTER_O_TRUNC | SHELTER_O_WRONLY,
				       0644, &t, NULL);
	for (size_t n; rc == 0 && off < RDB_NEW; off += n) {
		n = 1 + (size_t)rng_below(&r, 64 * KIB);
		n = n > RDB_NEW - off ? RDB_NEW - off : n;
		rc = shelter_file_pwrite(t, b->img[1] + off, n, off, NULL, NULL);
		__atomic_fetch_add(g_ops, 1, __ATOMIC_RELAXED);
	}
	if (rc == 0)
		rc = shelter_file_sync(t, NULL);
	shelter_file_close(t);
	if (rc == 0)
		rc = shelter_volume_rename(b->v, "temp.rdb", "dump.rdb", NULL);
	if (rc != 0 || !holds(b, "dump.rdb", 1))
		return fprintf(stderr, "  bgsave child: writing the snapshot: %s\n", shelter_code_str(rc)), -1;
	/* tell the parent, learn how many records it appended, check them and the files */
	if (io_full(b->wfd, &count, sizeof(count), 1) < 0 || io_full(b->rfd, &count, sizeof(count), 0) < 0)
		return fprintf(stderr, "  bgsave child: the parent went away\n"), -1;
	if (check_records(b->v, "aof", 1, &count, why, sizeof(why)) < 0)
		return fprintf(stderr, "  bgsave child: %s\n", why), -1;
	if (!holds(b, "dump.rdb", 1) || shelter_volume_stat(b->v, "temp.rdb", &st, NULL) != SHELTER_E_NOENT)
		return fprintf(stderr, "  bgsave child: dump.rdb or temp.rdb wrong at the end\n"), -1;
	rc = shelter_volume_tag(b->v, tag, NULL);
	return rc == 0 && io_full(b->wfd, tag, sizeof(tag), 1) == 0 ? 0 : -1;
}

static int bg_parent(struct bg *b, struct shelter_file *old)
{
	uint8_t rec[REC_MAX], tag[SHELTER_VOLUME_TAG_SIZE], ctag[SHELTER_VOLUME_TAG_SIZE];
	struct shelter_file *aof = NULL;
	uint32_t count = 0, token;
	unsigned after = 0;
	int done = 0, rc;
	char why[300];
	size_t got = 0;

	rc = shelter_file_open(b->v, "aof", SHELTER_O_WRONLY | SHELTER_O_APPEND, 0, &aof, NULL);
	while (rc == 0 && (count < 60 || !done || after < 20) && count < 20000) {
		struct pollfd p = { .fd = b->rfd, .events = POLLIN };

		rc = shelter_file_pwrite(aof, rec, rec_build(rec, 0, count), 0, NULL, NULL);
		count += rc == 0;
		__atomic_fetch_add(g_ops, 1, __ATOMIC_RELAXED);
		after += done;
		if (!done && poll(&p, 1, 0) == 1)
			done = io_full(b->rfd, &token, sizeof(token), 0) == 0 ? 1 : (rc = -1, 0);
		/* a reader by path sees the old or the new snapshot, never a mixture */
		if (rc == 0 && count % 8 == 0 && !holds(b, "dump.rdb", -1))
			return fprintf(stderr, "  bgsave: dump.rdb read by path is neither snapshot\n"), -1;
	}
	shelter_file_close(aof);
	if (rc == 0 && !done && io_full(b->rfd, &token, sizeof(token), 0) < 0)
		rc = -1;
	if (rc != 0)
		return fprintf(stderr, "  bgsave parent: appending: %s\n", shelter_code_str(rc)), -1;
	if (check_records(b->v, "aof", 1, &count, why, sizeof(why)) < 0)
		return fprintf(stderr, "  bgsave parent: %s\n", why), -1;
	if (!holds(b, "dump.rdb", 1))
		return fprintf(stderr, "  bgsave parent: dump.rdb is not the child's snapshot\n"), -1;
	/* a handle opened before the rename still reads the replaced file (rename(2)) */
	rc = shelter_file_pread(old, b->buf, RDB_NEW + 1, 0, &got, NULL);
	if (rc != 0 || got != RDB_OLD || memcmp(b->buf, b->img[0], RDB_OLD) != 0)
		return fprintf(stderr, "  bgsave parent: the handle to the replaced dump.rdb: %s, "
			       "%zu bytes\n", shelter_code_str(rc), got), -1;
	if (io_full(b->wfd, &count, sizeof(count), 1) < 0 || io_full(b->rfd, ctag, sizeof(ctag), 0) < 0)
		return fprintf(stderr, "  bgsave: the child sent no tag\n"), -1;
	if (shelter_volume_tag(b->v, tag, NULL) != 0 || memcmp(tag, ctag, sizeof(tag)) != 0)
		return fprintf(stderr, "  bgsave: parent and child end with different tags\n"), -1;
	return 0;
}

static int bgsave_test(uint64_t seed, unsigned inherit, const char *work, int trace_fd)
{
	struct shelter_volume_options opts = { .segment_size = SEG_SIZE };
	struct bg b = { .img = { malloc(RDB_OLD), malloc(RDB_NEW) }, .buf = malloc(RDB_NEW + 1) };
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];
	struct shelter_file *f = NULL, *old = NULL;
	char vdir[PATH_MAX], why[300];
	int p2c[2], c2p[2], rc = -1;
	pid_t pid;

	(void)trace_fd;
	sfmt(vdir, sizeof(vdir), "%s/vol", work);
	if (b.img[0] == NULL || b.img[1] == NULL || b.buf == NULL)
		goto out;
	rng_fill(&(struct rng){ seed }, b.img[0], RDB_OLD);
	rng_fill(&(struct rng){ ~seed }, b.img[1], RDB_NEW);
	if (shelter_volume_create(vdir, g_key, NULL) != 0 ||
	    shelter_volume_open(vdir, g_key, &opts, &b.v, NULL) != 0 ||
	    shelter_file_open(b.v, "dump.rdb", SHELTER_O_CREAT | SHELTER_O_WRONLY, 0644, &f, NULL) != 0 ||
	    shelter_file_pwrite(f, b.img[0], RDB_OLD, 0, NULL, NULL) != 0)
		goto out;
	shelter_file_close(f);
	f = NULL;
	if (shelter_file_open(b.v, "aof", SHELTER_O_CREAT | SHELTER_O_WRONLY, 0644, &f, NULL) != 0)
		goto out;
	shelter_file_close(f);
	f = NULL;
	if (shelter_file_open(b.v, "dump.rdb", SHELTER_O_RDONLY, 0, &old, NULL) != 0 ||
	    pipe(p2c) < 0 || pipe(c2p) < 0)
		goto out;
	fflush(NULL);
	if ((pid = fork()) == 0) {
		struct shelter_volume *inherited = b.v;

		close(p2c[1]);
		close(c2p[0]);
		b.rfd = p2c[0];
		b.wfd = c2p[1];
		b.v = inherit ? inherited : NULL;
		rc = bg_child(&b, vdir, seed);
		if (!inherit)
			shelter_volume_close(b.v);
		/* release the copies this child inherited, used or not */
		shelter_file_close(old);
		shelter_volume_close(inherited);
		free(b.img[0]);
		free(b.img[1]);
		free(b.buf);
		exit(rc == 0 ? 0 : 1);
	}
	close(p2c[0]);
	close(c2p[1]);
	b.rfd = c2p[0];
	b.wfd = p2c[1];
	rc = pid < 0 ? -1 : bg_parent(&b, old);
	close(p2c[1]);
	close(c2p[0]);
	if (pid > 0 && wait_child(pid, why, sizeof(why)) < 0) {
		fprintf(stderr, "  bgsave child (%s): %s\n", inherit ? "inherited handle" : "own open", why);
		rc = -1;
	}
	shelter_file_close(old);
	old = NULL;
	if (rc == 0 && shelter_volume_tag(b.v, tag, NULL) == 0) {
		opts.expected_tag = tag;
		shelter_volume_close(b.v);
		b.v = NULL;
		rc = shelter_volume_open(vdir, g_key, &opts, &b.v, NULL) == 0 && holds(&b, "dump.rdb", 1)
			     ? verify_ok(vdir, tag, why, sizeof(why)) : (sfmt(why, sizeof(why), "reopen"), -1);
		if (rc != 0)
			fprintf(stderr, "  bgsave: after reopen: %s\n", why);
	}
out:
	shelter_file_close(f);
	shelter_file_close(old);
	shelter_volume_close(b.v);
	free(b.img[0]);
	free(b.img[1]);
	free(b.buf);
	return rc;
}

static void bgsave_body(void)
{
	unsigned failed = 0;
	unsigned long before = *g_ops;

	for (unsigned i = 0; i < 4; i++)
		failed += run_child(i % 2 ? "bgsave-inherit" : "bgsave-open", mix_seed(g_base ^ 0xb65, i),
				    bgsave_test, i % 2, 1) < 0;
	fprintf(stderr, "  bgsave: 4 runs (2 with the inherited handle, 2 with their own open), "
		"%lu operations, %u failed\n", *g_ops - before, failed);
	CHECK(failed == 0);
}

static void test_bgsave_pattern(void)
{
	isolated(bgsave_body);
}

static unsigned env_uint(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 0) : dflt;
}

int main(void)
{
	const char *base = getenv("SHELTER_MODEL_BASE");

	test_binary = "test_volume_model";
	g_ops = mmap(NULL, sizeof(*g_ops), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_ops == MAP_FAILED)
		return 2;
	umask(0); /* modes are compared bit for bit with the library's */
	memset(g_n255, 'L', 255);
	memset(g_n256, 'M', 256);
	g_verbose = env_uint("SHELTER_MODEL_VERBOSE", 0) != 0;
	g_keep = env_uint("SHELTER_MODEL_KEEP", 0) != 0;
	g_seqs = env_uint("SHELTER_MODEL_SEQS", g_seqs);
	g_nops = env_uint("SHELTER_MODEL_OPS", g_nops);
	if (base != NULL && *base)
		g_base = strtoull(base, NULL, 0);

	RUN(test_refusals);
	RUN(test_symlink_too_long);
	RUN(test_compact_with_lagging_handle);
	RUN(test_property_sequences);
	RUN(test_fork_shared_handle);
	RUN(test_two_opens_pingpong);
	RUN(test_bgsave_pattern);
	printf("test_volume_model: %lu random operations in total\n", *g_ops);
	munmap(g_ops, sizeof(*g_ops));
	return test_total_failed ? 1 : 0;
}
