/* The shield's file probe: run under the shield by the integration tests (issue 4
 * §2, docs/shield.md), it exercises every file operation the shield interposes on
 * files under a protected mount path and checks the results.
 *
 * usage: shield_probe [--shielded] DIR
 *        shield_probe --expect PATH CONTENT   (the exec check's child)
 *
 * DIR is a protected mount path (e.g. /data). Everything happens in DIR/probe.PID,
 * removed at the end. Every check prints one line, "PASS probe:NAME" or
 * "FAIL probe:NAME (line N: what failed)", and sets up its own files, so one
 * failure does not hide the others. Exit 1 when any check failed, 2 on usage.
 *
 * Plain POSIX: without the shield, on an ordinary directory, every check passes
 * too (that is how the probe itself is tested). --shielded adds the checks that
 * only hold under the shield: the kernel (raw system calls, which the shield does
 * not see) finds no plaintext at the protected path, and the documented refusals
 * (docs/shield.md §stdio): freopen of a protected path fails with ENOTSUP and
 * leaves the stream usable, a wide stream (",ccs=") on a protected file EINVAL.
 *
 * Other files outside DIR go in a fresh directory under $TMPDIR (or /tmp) and
 * are checked through raw system calls: the shield must leave them alone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPATHS 16

static char base[PATH_MAX / 2]; /* DIR/probe.PID: short enough to join names to */
static char self_exe[PATH_MAX];
static int shielded;
static int failures;
static const char *check_name;
static int check_failed;

/* ---- reporting ------------------------------------------------------------------- */

static void fail_at(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail_at(int line, const char *fmt, ...)
{
	va_list ap;

	if (check_failed)
		return;
	check_failed = 1;
	printf("FAIL probe:%s (line %d: ", check_name, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(")\n");
}

static const char *errname(int e)
{
	const char *s = strerrorname_np(e);

	return s != NULL ? s : "0";
}

/* On failure: report, then leave through the check's out: label. errno is
 * cleared first so the report shows what the condition's own calls set. */
#define REQUIRE(cond)                                                                    \
	do {                                                                             \
		errno = 0;                                                               \
		if (!(cond)) {                                                           \
			fail_at(__LINE__, "%s; errno %s", #cond, errname(errno));        \
			goto out;                                                        \
		}                                                                        \
	} while (0)

#define REQUIRE_EQ(a, b)                                                                 \
	do {                                                                             \
		errno = 0;                                                               \
		long long a_ = (long long)(a), b_ = (long long)(b);                      \
		if (a_ != b_) {                                                          \
			fail_at(__LINE__, "%s == %s: got %lld, want %lld; errno %s", #a, \
				#b, a_, b_, errname(errno));                             \
			goto out;                                                        \
		}                                                                        \
	} while (0)

/* The call must fail with exactly this errno. */
#define REQUIRE_ERR(expr, want)                                                          \
	do {                                                                             \
		errno = 0;                                                               \
		long long r_ = (long long)(expr);                                        \
		if (r_ != -1 || errno != (want)) {                                       \
			fail_at(__LINE__, "%s: got %lld errno %s, want -1 errno %s", #expr, \
				r_, errname(errno), errname(want));                      \
			goto out;                                                        \
		}                                                                        \
	} while (0)

/* Close inside a check: the variable is cleared first, so out: never closes twice. */
#define FCLOSE(f)                                                                        \
	do {                                                                             \
		FILE *f_ = (f);                                                          \
		(f) = NULL;                                                              \
		REQUIRE(fclose(f_) == 0);                                                \
	} while (0)

#define CLOSE(fd)                                                                        \
	do {                                                                             \
		int fd_ = (fd);                                                          \
		(fd) = -1;                                                               \
		REQUIRE(close(fd_) == 0);                                                \
	} while (0)

static void run(const char *name, void (*fn)(void))
{
	check_name = name;
	check_failed = 0;
	fn();
	if (check_failed)
		failures++;
	else
		printf("PASS probe:%s\n", name);
	fflush(stdout);
}

/* ---- helpers --------------------------------------------------------------------- */

/* base + "/" + rel, in one of NPATHS rotating buffers (main thread only). */
static const char *P(const char *rel)
{
	static char bufs[NPATHS][PATH_MAX];
	static int next;
	char *b = bufs[next++ % NPATHS];

	snprintf(b, PATH_MAX, "%s/%s", base, rel);
	return b;
}

static int write_all(int fd, const void *buf, size_t size)
{
	const char *p = buf;

	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

/* Create (or truncate) path with exactly these bytes. */
static int put_file(const char *path, const void *buf, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc;

	if (fd < 0)
		return -1;
	rc = write_all(fd, buf, size);
	if (close(fd) != 0)
		rc = -1;
	return rc;
}

static int put_str(const char *path, const char *s)
{
	return put_file(path, s, strlen(s));
}

/* Read all of path (up to size-1 bytes) into buf, NUL-terminated; the length or -1. */
static ssize_t get_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -1;
	while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (n < 0)
		return -1;
	buf[got] = '\0';
	return (ssize_t)got;
}

/* 1 when path holds exactly s. */
static int file_is(const char *path, const char *s)
{
	static char buf[65536];
	ssize_t n = get_file(path, buf, sizeof(buf));

	return n >= 0 && (size_t)n == strlen(s) && memcmp(buf, s, (size_t)n) == 0;
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static long long size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The kernel's own view (raw system calls: no interposed libc function runs). */
static ssize_t raw_read_file(const char *path, char *buf, size_t size)
{
	long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	long n = 0;

	if (fd < 0)
		return -1;
	while (got < size && (n = syscall(SYS_read, (int)fd, buf + got, size - got)) > 0)
		got += (size_t)n;
	syscall(SYS_close, (int)fd);
	return n < 0 ? -1 : (ssize_t)got;
}

/* A fresh directory under $TMPDIR or /tmp into out; 0 or -1. */
static int make_outside_dir(char *out, size_t size)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(out, size, "%s/shield_probe.XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	return mkdtemp(out) != NULL ? 0 : -1;
}

static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- open, read, write ------------------------------------------------------------- */

static void t_open_creat_excl(void)
{
	int fd = open(P("excl"), O_RDWR | O_CREAT | O_EXCL, 0600);

	REQUIRE(fd >= 0);
	REQUIRE_ERR(open(P("excl"), O_RDWR | O_CREAT | O_EXCL, 0600), EEXIST);
out:
	if (fd >= 0)
		close(fd);
}

static void t_open_errors(void)
{
	int fd = -1;

	REQUIRE(mkdir(P("oe.dir"), 0755) == 0);
	REQUIRE(put_str(P("oe.file"), "x") == 0);
	REQUIRE_ERR(fd = open(P("oe.missing"), O_RDONLY), ENOENT);
	REQUIRE_ERR(fd = open(P("oe.nodir/x"), O_RDWR | O_CREAT, 0600), ENOENT);
	REQUIRE_ERR(fd = open(P("oe.file"), O_RDONLY | O_DIRECTORY), ENOTDIR);
	REQUIRE_ERR(fd = open(P("oe.dir"), O_WRONLY), EISDIR);
out:
	if (fd >= 0)
		close(fd);
}

static void t_write_read(void)
{
	char buf[64] = { 0 };
	int fd = open(P("wr"), O_RDWR | O_CREAT | O_TRUNC, 0600);

	REQUIRE(fd >= 0);
	REQUIRE_EQ(write(fd, "hello world", 11), 11);
	REQUIRE_EQ(lseek(fd, 0, SEEK_SET), 0);
	REQUIRE_EQ(read(fd, buf, sizeof(buf)), 11);
	REQUIRE(memcmp(buf, "hello world", 11) == 0);
	REQUIRE_EQ(read(fd, buf, sizeof(buf)), 0); /* end of file */
out:
	if (fd >= 0)
		close(fd);
}

static void t_large_io(void)
{
	size_t size = 3 * 1024 * 1024 + 123;
	unsigned char *a = malloc(size), *b = malloc(size);
	int fd = open(P("large"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	size_t got = 0;
	ssize_t n;

	REQUIRE(a != NULL && b != NULL && fd >= 0);
	for (size_t i = 0; i < size; i++)
		a[i] = (unsigned char)(i * 7 + (i >> 13));
	REQUIRE(write_all(fd, a, size) == 0);
	REQUIRE_EQ(pwrite(fd, "PATCH", 5, 1048573), 5); /* across a 1 MiB boundary */
	memcpy(a + 1048573, "PATCH", 5);
	REQUIRE_EQ(lseek(fd, 0, SEEK_SET), 0);
	while (got < size && (n = read(fd, b + got, size - got)) > 0)
		got += (size_t)n;
	REQUIRE_EQ(got, size);
	REQUIRE(memcmp(a, b, size) == 0);
	REQUIRE_EQ(size_of(P("large")), size);
out:
	if (fd >= 0)
		close(fd);
	free(a);
	free(b);
}

static void t_pread_pwrite(void)
{
	char buf[16] = { 0 };
	int fd = open(P("pp"), O_RDWR | O_CREAT | O_TRUNC, 0600);

	REQUIRE(fd >= 0);
	REQUIRE_EQ(write(fd, "0123456789", 10), 10);
	REQUIRE_EQ(pwrite(fd, "AB", 2, 3), 2);
	REQUIRE_EQ(lseek(fd, 0, SEEK_CUR), 10); /* pwrite leaves the offset */
	REQUIRE_EQ(pread(fd, buf, 5, 1), 5);
	REQUIRE(memcmp(buf, "12AB5", 5) == 0);
	REQUIRE_EQ(lseek(fd, 0, SEEK_CUR), 10);
	REQUIRE_EQ(pread(fd, buf, 5, 100), 0);
	REQUIRE_EQ(pwrite(fd, "Z", 1, 20), 1); /* past the end: a hole */
	REQUIRE_EQ(pread(fd, buf, 16, 10), 11);
	for (int i = 0; i < 10; i++)
		REQUIRE(buf[i] == '\0');
	REQUIRE(buf[10] == 'Z');
out:
	if (fd >= 0)
		close(fd);
}

static void t_readv_writev(void)
{
	char a[4], b[8];
	struct iovec wv[3] = { { "abc", 3 }, { "", 0 }, { "defghij", 7 } };
	struct iovec rv[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	int fd = open(P("iov"), O_RDWR | O_CREAT | O_TRUNC, 0600);

	REQUIRE(fd >= 0);
	REQUIRE_EQ(writev(fd, wv, 3), 10);
	REQUIRE_EQ(lseek(fd, 0, SEEK_SET), 0);
	memset(b, 0, sizeof(b));
	REQUIRE_EQ(readv(fd, rv, 2), 10);
	REQUIRE(memcmp(a, "abcd", 4) == 0 && memcmp(b, "efghij", 6) == 0);
out:
	if (fd >= 0)
		close(fd);
}

static void t_lseek_whence(void)
{
	int fd = open(P("seek"), O_RDWR | O_CREAT | O_TRUNC, 0600);

	REQUIRE(fd >= 0);
	REQUIRE_EQ(write(fd, "0123456789", 10), 10);
	REQUIRE_EQ(lseek(fd, 3, SEEK_SET), 3);
	REQUIRE_EQ(lseek(fd, 2, SEEK_CUR), 5);
	REQUIRE_EQ(lseek(fd, -4, SEEK_END), 6);
	REQUIRE_EQ(lseek(fd, 0, SEEK_END), 10);
	REQUIRE_ERR(lseek(fd, -11, SEEK_END), EINVAL);
	REQUIRE_ERR(lseek(fd, 0, 12345), EINVAL);
out:
	if (fd >= 0)
		close(fd);
}

static void t_lseek_hole(void)
{
	char buf[4200];
	int fd = open(P("hole"), O_RDWR | O_CREAT | O_TRUNC, 0600);

	REQUIRE(fd >= 0);
	REQUIRE_EQ(write(fd, "start", 5), 5);
	REQUIRE_EQ(lseek(fd, 4096 + 5, SEEK_END), 4106);
	REQUIRE_EQ(size_of(P("hole")), 5); /* seeking alone does not extend */
	REQUIRE_EQ(write(fd, "X", 1), 1);
	REQUIRE_EQ(size_of(P("hole")), 4107);
	REQUIRE_EQ(pread(fd, buf, sizeof(buf), 0), 4107);
	REQUIRE(memcmp(buf, "start", 5) == 0 && buf[4106] == 'X');
	for (int i = 5; i < 4106; i++)
		REQUIRE(buf[i] == '\0');
out:
	if (fd >= 0)
		close(fd);
}

static void t_open_trunc(void)
{
	int fd = -1;

	REQUIRE(put_str(P("trunc"), "some old content") == 0);
	fd = open(P("trunc"), O_WRONLY | O_TRUNC);
	REQUIRE(fd >= 0);
	REQUIRE_EQ(size_of(P("trunc")), 0);
	REQUIRE_EQ(write(fd, "new", 3), 3);
	REQUIRE(file_is(P("trunc"), "new"));
out:
	if (fd >= 0)
		close(fd);
}

static void t_open_append(void)
{
	int fd = -1;

	REQUIRE(put_str(P("append"), "one\n") == 0);
	fd = open(P("append"), O_WRONLY | O_APPEND);
	REQUIRE(fd >= 0);
	REQUIRE_EQ(lseek(fd, 0, SEEK_SET), 0);
	REQUIRE_EQ(write(fd, "two\n", 4), 4);
	REQUIRE_EQ(lseek(fd, 0, SEEK_CUR), 8); /* the offset follows the append */
	REQUIRE(file_is(P("append"), "one\ntwo\n"));
out:
	if (fd >= 0)
		close(fd);
}

static void t_creat(void)
{
	char c;
	int fd = -1;

	REQUIRE(put_str(P("creat"), "previous") == 0);
	fd = creat(P("creat"), 0644);
	REQUIRE(fd >= 0);
	REQUIRE_EQ(size_of(P("creat")), 0);
	REQUIRE_EQ(write(fd, "c", 1), 1);
	REQUIRE_ERR(read(fd, &c, 1), EBADF); /* creat opens write-only */
	REQUIRE(file_is(P("creat"), "c"));
out:
	if (fd >= 0)
		close(fd);
}

static void t_openat(void)
{
	int dfd = -1, fd = -1;

	REQUIRE(mkdir(P("at"), 0755) == 0);
	dfd = open(P("at"), O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd >= 0);
	fd = openat(dfd, "inner", O_WRONLY | O_CREAT | O_EXCL, 0600);
	REQUIRE(fd >= 0);
	REQUIRE_EQ(write(fd, "in", 2), 2);
	CLOSE(fd);
	REQUIRE(file_is(P("at/inner"), "in"));
	fd = openat(dfd, "../at/./inner", O_RDONLY); /* ".." from a directory fd */
	REQUIRE(fd >= 0);
	CLOSE(fd);
	fd = openat(AT_FDCWD, P("at/inner"), O_RDONLY);
	REQUIRE(fd >= 0);
	CLOSE(fd);
	fd = openat(dfd, P("at/inner"), O_RDONLY); /* absolute path: dirfd ignored */
	REQUIRE(fd >= 0);
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
}

/* ---- metadata ---------------------------------------------------------------------- */

static void t_fstat(void)
{
	struct stat st;
	int fd = -1;

	REQUIRE(put_str(P("st"), "eleven byte") == 0);
	fd = open(P("st"), O_RDONLY);
	REQUIRE(fd >= 0);
	REQUIRE(fstat(fd, &st) == 0);
	REQUIRE(S_ISREG(st.st_mode));
	REQUIRE_EQ(st.st_size, 11);
out:
	if (fd >= 0)
		close(fd);
}

static void t_stat(void)
{
	struct stat st, st2;

	REQUIRE(put_str(P("st2"), "abc") == 0);
	REQUIRE(mkdir(P("st2.dir"), 0755) == 0);
	REQUIRE(stat(P("st2"), &st) == 0);
	REQUIRE(S_ISREG(st.st_mode));
	REQUIRE_EQ(st.st_size, 3);
	REQUIRE(stat(P("st2.dir"), &st) == 0);
	REQUIRE(S_ISDIR(st.st_mode));
	REQUIRE(stat(base, &st) == 0 && S_ISDIR(st.st_mode));
	REQUIRE(stat(P("st2.dir/.."), &st2) == 0 && S_ISDIR(st2.st_mode));
	REQUIRE(stat(P("."), &st) == 0 && st.st_ino == st2.st_ino);
	REQUIRE_ERR(stat(P("st2.missing"), &st), ENOENT);
	REQUIRE_ERR(stat(P("st2/x"), &st), ENOTDIR);
out:
	return;
}

static void t_lstat(void)
{
	struct stat st;

	REQUIRE(put_str(P("lst"), "abcd") == 0);
	REQUIRE(lstat(P("lst"), &st) == 0);
	REQUIRE(S_ISREG(st.st_mode));
	REQUIRE_EQ(st.st_size, 4);
	REQUIRE(lstat(base, &st) == 0 && S_ISDIR(st.st_mode));
	REQUIRE_ERR(lstat(P("lst.missing"), &st), ENOENT);
out:
	return;
}

static void t_fstatat(void)
{
	struct stat st;
	int dfd = -1;

	REQUIRE(mkdir(P("fsa"), 0755) == 0);
	REQUIRE(put_str(P("fsa/f"), "12345") == 0);
	dfd = open(P("fsa"), O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd >= 0);
	REQUIRE(fstatat(dfd, "f", &st, 0) == 0);
	REQUIRE(S_ISREG(st.st_mode) && st.st_size == 5);
	REQUIRE(fstatat(dfd, "f", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size == 5);
	REQUIRE(fstatat(dfd, "", &st, AT_EMPTY_PATH) == 0 && S_ISDIR(st.st_mode));
	REQUIRE(fstatat(AT_FDCWD, P("fsa/f"), &st, 0) == 0 && st.st_size == 5);
	REQUIRE_ERR(fstatat(dfd, "missing", &st, 0), ENOENT);
out:
	if (dfd >= 0)
		close(dfd);
}

static void t_statx(void)
{
	struct statx sx;
	int fd = -1;

	REQUIRE(put_str(P("sx"), "123456") == 0);
	REQUIRE(statx(AT_FDCWD, P("sx"), 0, STATX_BASIC_STATS, &sx) == 0);
	REQUIRE((sx.stx_mask & (STATX_SIZE | STATX_TYPE)) == (STATX_SIZE | STATX_TYPE));
	REQUIRE(S_ISREG(sx.stx_mode));
	REQUIRE_EQ(sx.stx_size, 6);
	fd = open(P("sx"), O_RDONLY);
	REQUIRE(fd >= 0);
	REQUIRE(statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &sx) == 0 && sx.stx_size == 6);
	REQUIRE(statx(AT_FDCWD, base, 0, STATX_TYPE, &sx) == 0 && S_ISDIR(sx.stx_mode));
	REQUIRE_ERR(statx(AT_FDCWD, P("sx.missing"), 0, STATX_SIZE, &sx), ENOENT);
out:
	if (fd >= 0)
		close(fd);
}

static void t_access(void)
{
	REQUIRE(put_str(P("acc"), "a") == 0);
	REQUIRE(access(P("acc"), F_OK) == 0);
	REQUIRE(access(P("acc"), R_OK | W_OK) == 0);
	REQUIRE(access(base, R_OK | W_OK | X_OK) == 0);
	REQUIRE_ERR(access(P("acc.missing"), F_OK), ENOENT);
	REQUIRE(faccessat(AT_FDCWD, P("acc"), R_OK, 0) == 0);
out:
	return;
}

static void t_ftruncate(void)
{
	char buf[128];
	int fd = open(P("ftr"), O_RDWR | O_CREAT | O_TRUNC, 0600);

	REQUIRE(fd >= 0);
	REQUIRE_EQ(write(fd, "0123456789", 10), 10);
	REQUIRE(ftruncate(fd, 5) == 0);
	REQUIRE_EQ(size_of(P("ftr")), 5);
	REQUIRE(ftruncate(fd, 100) == 0);
	REQUIRE_EQ(pread(fd, buf, sizeof(buf), 0), 100);
	REQUIRE(memcmp(buf, "01234", 5) == 0);
	for (int i = 5; i < 100; i++)
		REQUIRE(buf[i] == '\0');
	REQUIRE_EQ(lseek(fd, 0, SEEK_CUR), 10); /* the offset stays */
	REQUIRE_ERR(ftruncate(fd, -1), EINVAL);
out:
	if (fd >= 0)
		close(fd);
}

static void t_truncate(void)
{
	REQUIRE(put_str(P("tr"), "abcdefgh") == 0);
	REQUIRE(truncate(P("tr"), 3) == 0);
	REQUIRE(file_is(P("tr"), "abc"));
	REQUIRE(truncate(P("tr"), 6) == 0);
	REQUIRE_EQ(size_of(P("tr")), 6);
	REQUIRE_ERR(truncate(P("tr.missing"), 0), ENOENT);
out:
	return;
}

static void t_fsync(void)
{
	int fd = open(P("sync"), O_RDWR | O_CREAT | O_TRUNC, 0600);

	REQUIRE(fd >= 0);
	REQUIRE_EQ(write(fd, "durable", 7), 7);
	REQUIRE(fsync(fd) == 0);
	REQUIRE_EQ(write(fd, "!", 1), 1);
	REQUIRE(fdatasync(fd) == 0);
	REQUIRE(file_is(P("sync"), "durable!"));
out:
	if (fd >= 0)
		close(fd);
}

/* redis and sqlite fsync the directory after a rename. */
static void t_fsync_dir(void)
{
	int fd = open(base, O_RDONLY | O_DIRECTORY);

	REQUIRE(fd >= 0);
	REQUIRE(fsync(fd) == 0);
out:
	if (fd >= 0)
		close(fd);
}

/* ---- names ------------------------------------------------------------------------- */

static void t_rename(void)
{
	REQUIRE(put_str(P("rn.a"), "from a") == 0);
	REQUIRE(put_str(P("rn.b"), "old b") == 0);
	REQUIRE(rename(P("rn.a"), P("rn.b")) == 0); /* replaces b */
	REQUIRE(file_is(P("rn.b"), "from a"));
	REQUIRE(!exists(P("rn.a")));
	REQUIRE(mkdir(P("rn.d"), 0755) == 0);
	REQUIRE(rename(P("rn.b"), P("rn.d/moved")) == 0);
	REQUIRE(file_is(P("rn.d/moved"), "from a"));
	REQUIRE(rename(P("rn.d"), P("rn.d2")) == 0);
	REQUIRE(file_is(P("rn.d2/moved"), "from a"));
	REQUIRE_ERR(rename(P("rn.missing"), P("rn.x")), ENOENT);
out:
	return;
}

static void t_renameat(void)
{
	int dfd = -1, dfd2 = -1;

	REQUIRE(mkdir(P("rna"), 0755) == 0);
	REQUIRE(mkdir(P("rna2"), 0755) == 0);
	REQUIRE(put_str(P("rna/x"), "xx") == 0);
	REQUIRE(put_str(P("rna2/y"), "yy") == 0);
	dfd = open(P("rna"), O_RDONLY | O_DIRECTORY);
	dfd2 = open(P("rna2"), O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd >= 0 && dfd2 >= 0);
	REQUIRE(renameat(dfd, "x", dfd2, "y") == 0);
	REQUIRE(file_is(P("rna2/y"), "xx"));
	REQUIRE(!exists(P("rna/x")));
	REQUIRE(renameat(dfd2, "y", AT_FDCWD, P("rna/z")) == 0);
	REQUIRE(file_is(P("rna/z"), "xx"));
out:
	if (dfd >= 0)
		close(dfd);
	if (dfd2 >= 0)
		close(dfd2);
}

static void t_unlink(void)
{
	char buf[8] = { 0 };
	int fd = -1;

	REQUIRE(put_str(P("ul"), "gone") == 0);
	fd = open(P("ul"), O_RDONLY);
	REQUIRE(fd >= 0);
	REQUIRE(unlink(P("ul")) == 0);
	REQUIRE(!exists(P("ul")));
	REQUIRE_EQ(read(fd, buf, sizeof(buf)), 4); /* an open file outlives its name */
	REQUIRE_ERR(unlink(P("ul")), ENOENT);
	REQUIRE(mkdir(P("ul.dir"), 0755) == 0);
	REQUIRE_ERR(unlink(P("ul.dir")), EISDIR);
out:
	if (fd >= 0)
		close(fd);
}

static void t_unlinkat(void)
{
	int dfd = -1;

	REQUIRE(mkdir(P("ua"), 0755) == 0);
	REQUIRE(mkdir(P("ua/sub"), 0755) == 0);
	REQUIRE(mkdir(P("ua/full"), 0755) == 0);
	REQUIRE(put_str(P("ua/f"), "f") == 0);
	REQUIRE(put_str(P("ua/full/f"), "f") == 0);
	dfd = open(P("ua"), O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd >= 0);
	REQUIRE(unlinkat(dfd, "f", 0) == 0);
	REQUIRE(!exists(P("ua/f")));
	REQUIRE(unlinkat(dfd, "sub", AT_REMOVEDIR) == 0);
	REQUIRE(!exists(P("ua/sub")));
	REQUIRE_ERR(unlinkat(dfd, "full", AT_REMOVEDIR), ENOTEMPTY);
	REQUIRE_ERR(unlinkat(dfd, "full", 0), EISDIR);
	REQUIRE(unlinkat(AT_FDCWD, P("ua/full/f"), 0) == 0);
	REQUIRE(unlinkat(dfd, "full", AT_REMOVEDIR) == 0);
out:
	if (dfd >= 0)
		close(dfd);
}

static void t_mkdir_rmdir(void)
{
	struct stat st;

	REQUIRE(mkdir(P("md"), 0755) == 0);
	REQUIRE(stat(P("md"), &st) == 0 && S_ISDIR(st.st_mode));
	REQUIRE_ERR(mkdir(P("md"), 0755), EEXIST);
	REQUIRE_ERR(mkdir(P("md.missing/x"), 0755), ENOENT);
	REQUIRE(mkdir(P("md/a"), 0755) == 0);
	REQUIRE_ERR(rmdir(P("md")), ENOTEMPTY);
	REQUIRE(put_str(P("md.file"), "f") == 0);
	REQUIRE_ERR(rmdir(P("md.file")), ENOTDIR);
	REQUIRE(rmdir(P("md/a")) == 0);
	REQUIRE(rmdir(P("md")) == 0);
	REQUIRE(!exists(P("md")));
	REQUIRE(mkdirat(AT_FDCWD, P("md"), 0700) == 0);
out:
	return;
}

/* ---- directories ------------------------------------------------------------------- */

/* DIR/list with a, b, c and the directory d. */
static int make_list(const char *name)
{
	char path[PATH_MAX];

	if (mkdir(P(name), 0755) != 0)
		return -1;
	for (const char *n = "abc"; *n != '\0'; n++) {
		snprintf(path, sizeof(path), "%s/%s/%c", base, name, *n);
		if (put_str(path, n) != 0)
			return -1;
	}
	snprintf(path, sizeof(path), "%s/%s/d", base, name);
	return mkdir(path, 0755);
}

/* Bit i set for each of ".", "..", "a", "b", "c", "d", "e" seen; 1 << 7 for others. */
static unsigned name_bit(const char *name)
{
	static const char *const names[] = { ".", "..", "a", "b", "c", "d", "e" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return 1u << i;
	return 1u << 7;
}

static void t_readdir(void)
{
	struct stat st_dir, st_a;
	struct dirent *e;
	unsigned seen = 0;
	int count = 0, end_errno;
	DIR *d = NULL;

	REQUIRE(make_list("rd") == 0);
	REQUIRE(stat(P("rd"), &st_dir) == 0 && stat(P("rd/a"), &st_a) == 0);
	d = opendir(P("rd"));
	REQUIRE(d != NULL);
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		count++;
		seen |= name_bit(e->d_name);
		if (strcmp(e->d_name, "a") == 0) {
			REQUIRE_EQ(e->d_type, DT_REG);
			REQUIRE_EQ(e->d_ino, st_a.st_ino);
		}
		if (strcmp(e->d_name, "d") == 0)
			REQUIRE_EQ(e->d_type, DT_DIR);
		if (strcmp(e->d_name, ".") == 0)
			REQUIRE_EQ(e->d_ino, st_dir.st_ino);
	}
	end_errno = errno;
	REQUIRE_EQ(end_errno, 0); /* the end is not an error */
	REQUIRE_EQ(count, 6);
	REQUIRE_EQ(seen, 0x3f);
	REQUIRE_ERR((opendir(P("rd.missing")) == NULL) ? -1 : 0, ENOENT);
	REQUIRE_ERR((opendir(P("rd/a")) == NULL) ? -1 : 0, ENOTDIR);
out:
	if (d != NULL)
		closedir(d);
}

static void t_readdir64(void)
{
	struct dirent64 *e;
	unsigned seen = 0;
	DIR *d = NULL;

	REQUIRE(make_list("rd64") == 0);
	d = opendir(P("rd64"));
	REQUIRE(d != NULL);
	while ((e = readdir64(d)) != NULL)
		seen |= name_bit(e->d_name);
	REQUIRE_EQ(seen, 0x3f);
out:
	if (d != NULL)
		closedir(d);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void t_readdir_r(void)
{
	struct dirent ent, *res = NULL;
	unsigned seen = 0;
	DIR *d = NULL;

	REQUIRE(make_list("rdr") == 0);
	d = opendir(P("rdr"));
	REQUIRE(d != NULL);
	for (;;) {
		REQUIRE(readdir_r(d, &ent, &res) == 0);
		if (res == NULL)
			break;
		REQUIRE(res == &ent);
		seen |= name_bit(ent.d_name);
	}
	REQUIRE_EQ(seen, 0x3f);
out:
	if (d != NULL)
		closedir(d);
}
#pragma GCC diagnostic pop

static void t_seekdir(void)
{
	char second[256];
	struct dirent *e;
	long pos;
	int count = 0;
	DIR *d = NULL;

	REQUIRE(make_list("sd") == 0);
	d = opendir(P("sd"));
	REQUIRE(d != NULL);
	REQUIRE(readdir(d) != NULL);
	pos = telldir(d);
	REQUIRE(pos != -1);
	e = readdir(d);
	REQUIRE(e != NULL);
	snprintf(second, sizeof(second), "%s", e->d_name);
	while (readdir(d) != NULL)
		;
	seekdir(d, pos);
	e = readdir(d);
	REQUIRE(e != NULL && strcmp(e->d_name, second) == 0);
	REQUIRE(put_str(P("sd/e"), "e") == 0); /* rewinddir shows the current state */
	rewinddir(d);
	while (readdir(d) != NULL)
		count++;
	REQUIRE_EQ(count, 7);
out:
	if (d != NULL)
		closedir(d);
}

static int no_dots(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

static void t_scandir(void)
{
	struct dirent **list = NULL;
	int n = -1;

	REQUIRE(make_list("scan") == 0);
	n = scandir(P("scan"), &list, no_dots, alphasort);
	REQUIRE_EQ(n, 4);
	REQUIRE(strcmp(list[0]->d_name, "a") == 0 && strcmp(list[1]->d_name, "b") == 0 &&
		strcmp(list[2]->d_name, "c") == 0 && strcmp(list[3]->d_name, "d") == 0);
	REQUIRE_EQ(list[3]->d_type, DT_DIR);
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	list = NULL;
	n = scandir(P("scan"), &list, NULL, NULL);
	REQUIRE_EQ(n, 6);
	REQUIRE_ERR(scandir(P("scan.missing"), &list, NULL, NULL), ENOENT);
out:
	for (int i = 0; list != NULL && i < n; i++)
		free(list[i]);
	free(list);
}

static void t_fdopendir(void)
{
	int fd = -1, count = 0, ffd = -1, dirfd_was;
	DIR *d = NULL;

	REQUIRE(make_list("fdo") == 0);
	fd = open(P("fdo"), O_RDONLY | O_DIRECTORY);
	REQUIRE(fd >= 0);
	dirfd_was = fd;
	d = fdopendir(fd);
	REQUIRE(d != NULL);
	REQUIRE_EQ(dirfd(d), fd);
	while (readdir(d) != NULL)
		count++;
	REQUIRE_EQ(count, 6);
	{
		DIR *d_ = d;

		d = NULL;
		fd = -1;
		REQUIRE(closedir(d_) == 0);
	}
	REQUIRE_ERR(fcntl(dirfd_was, F_GETFD), EBADF); /* closedir closed it */
	ffd = open(P("fdo/a"), O_RDONLY);
	REQUIRE(ffd >= 0);
	REQUIRE_ERR(fdopendir(ffd) == NULL ? -1 : 0, ENOTDIR);
out:
	if (d != NULL)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	if (ffd >= 0)
		close(ffd);
}

static void t_getdents64(void)
{
	char buf[4096];
	unsigned seen = 0;
	ssize_t n;
	int fd = -1;

	REQUIRE(make_list("gd") == 0);
	fd = open(P("gd"), O_RDONLY | O_DIRECTORY);
	REQUIRE(fd >= 0);
	while ((n = getdents64(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			struct dirent64 e;

			memcpy(&e, buf + off, offsetof(struct dirent64, d_name));
			REQUIRE(e.d_reclen > 0 && off + e.d_reclen <= n);
			seen |= name_bit(buf + off + offsetof(struct dirent64, d_name));
			off += e.d_reclen;
		}
	}
	REQUIRE_EQ(n, 0);
	REQUIRE_EQ(seen, 0x3f);
	REQUIRE_EQ(lseek(fd, 0, SEEK_SET), 0); /* starts again */
	REQUIRE_ERR(getdents64(fd, buf, 8), EINVAL); /* too small for one record */
	REQUIRE(getdents64(fd, buf, sizeof(buf)) > 0);
out:
	if (fd >= 0)
		close(fd);
}

static int count_dirent64(const struct dirent64 *e)
{
	return e->d_name[0] != '.';
}

/* Many entries: every interface sees each name once, in small pieces too. */
static void t_dir_large(void)
{
	enum { N = 300 };
	static unsigned char seen[N];
	struct dirent64 **list = NULL;
	char name[PATH_MAX], buf[64];
	int n = -1, fd = -1, count = 0;
	ssize_t got;
	DIR *d = NULL;

	REQUIRE(mkdir(P("big"), 0755) == 0);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "%s/big/entry-%03d", base, i);
		REQUIRE(put_str(name, "") == 0);
	}
	d = opendir(P("big"));
	REQUIRE(d != NULL);
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		count += e->d_name[0] != '.';
	REQUIRE_EQ(count, N);
	n = scandir64(P("big"), &list, count_dirent64, alphasort64);
	REQUIRE_EQ(n, N);
	REQUIRE(strcmp(list[0]->d_name, "entry-000") == 0);
	REQUIRE(strcmp(list[N - 1]->d_name, "entry-299") == 0);
	fd = open(P("big"), O_RDONLY | O_DIRECTORY);
	REQUIRE(fd >= 0);
	memset(seen, 0, sizeof(seen));
	while ((got = getdents64(fd, buf, sizeof(buf))) > 0) { /* a record or two a call */
		for (ssize_t off = 0; off < got;) {
			const char *nm = buf + off + offsetof(struct dirent64, d_name);
			struct dirent64 h;

			memcpy(&h, buf + off, offsetof(struct dirent64, d_name));
			REQUIRE(h.d_reclen > 0 && off + h.d_reclen <= got);
			if (strncmp(nm, "entry-", 6) == 0)
				seen[atoi(nm + 6) % N]++;
			off += h.d_reclen;
		}
	}
	REQUIRE_EQ(got, 0);
	for (int i = 0; i < N; i++)
		REQUIRE_EQ(seen[i], 1);
out:
	for (int i = 0; list != NULL && i < n; i++)
		free(list[i]);
	free(list);
	if (d != NULL)
		closedir(d);
	if (fd >= 0)
		close(fd);
}

/* ---- working directory ------------------------------------------------------------- */

static char start_cwd[PATH_MAX];

static void t_chdir_relative(void)
{
	char cwd[PATH_MAX];
	struct stat st;
	FILE *f = NULL;
	int fd = -1;

	REQUIRE(mkdir(P("cd"), 0755) == 0);
	REQUIRE(put_str(P("top"), "top file") == 0);
	REQUIRE(chdir(P("cd")) == 0);
	REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	REQUIRE(strcmp(cwd, P("cd")) == 0);
	f = fopen("rel", "w");
	REQUIRE(f != NULL);
	REQUIRE(fputs("relative\n", f) >= 0);
	FCLOSE(f);
	REQUIRE(file_is(P("cd/rel"), "relative\n"));
	fd = open("rel", O_RDONLY);
	REQUIRE(fd >= 0);
	CLOSE(fd);
	REQUIRE(file_is("../top", "top file"));
	REQUIRE(file_is("./../cd/rel", "relative\n"));
	REQUIRE(stat(".", &st) == 0 && S_ISDIR(st.st_mode));
	REQUIRE(access("rel", R_OK) == 0);
	REQUIRE(mkdir("reldir", 0755) == 0);
	REQUIRE(rename("rel", "reldir/rel2") == 0);
	REQUIRE(file_is(P("cd/reldir/rel2"), "relative\n"));
	REQUIRE(unlink("reldir/rel2") == 0 && rmdir("reldir") == 0);
	REQUIRE(chdir("..") == 0);
	REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, base) == 0);
	REQUIRE(chdir(start_cwd) == 0);
	REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, start_cwd) == 0);
out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (chdir(start_cwd) != 0)
		fail_at(__LINE__, "chdir back to %s; errno %s", start_cwd, errname(errno));
}

static void t_fchdir(void)
{
	char cwd[PATH_MAX];
	int dfd = -1, back = -1;

	REQUIRE(mkdir(P("fcd"), 0755) == 0);
	REQUIRE(put_str(P("fcd/x"), "fchdir") == 0);
	back = open(".", O_RDONLY | O_DIRECTORY);
	dfd = open(P("fcd"), O_RDONLY | O_DIRECTORY);
	REQUIRE(back >= 0 && dfd >= 0);
	REQUIRE(chdir("/") == 0);
	REQUIRE(fchdir(dfd) == 0);
	REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, P("fcd")) == 0);
	REQUIRE(file_is("x", "fchdir"));
	REQUIRE(fchdir(back) == 0); /* back out of the mount through a host descriptor */
	REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, start_cwd) == 0);
out:
	if (dfd >= 0)
		close(dfd);
	if (back >= 0)
		close(back);
	if (chdir(start_cwd) != 0)
		fail_at(__LINE__, "chdir back to %s; errno %s", start_cwd, errname(errno));
}

/* ---- descriptors ------------------------------------------------------------------- */

static void t_dup(void)
{
	char buf[8] = { 0 };
	int fd = open(P("dup"), O_RDWR | O_CREAT | O_TRUNC, 0600), fd2 = -1;

	REQUIRE(fd >= 0);
	fd2 = dup(fd);
	REQUIRE(fd2 >= 0 && fd2 != fd);
	REQUIRE_EQ(write(fd, "abcd", 4), 4);
	REQUIRE_EQ(lseek(fd2, 0, SEEK_CUR), 4); /* one open file description */
	CLOSE(fd);
	REQUIRE_EQ(pread(fd2, buf, sizeof(buf), 0), 4);
	REQUIRE(memcmp(buf, "abcd", 4) == 0);
out:
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
}

static void t_dup2(void)
{
	struct stat st;
	int fd = open(P("dup2"), O_RDWR | O_CREAT | O_TRUNC, 0600), other = -1, target = 150;

	REQUIRE(fd >= 0);
	REQUIRE_EQ(dup2(fd, target), target);
	REQUIRE_EQ(write(target, "xyz", 3), 3);
	REQUIRE(fstat(fd, &st) == 0 && st.st_size == 3);
	REQUIRE_EQ(dup2(fd, fd), fd);
	other = open(P("dup2.other"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	REQUIRE(other >= 0);
	REQUIRE_EQ(dup2(other, target), target); /* replaces the open target */
	REQUIRE_EQ(write(target, "o", 1), 1);
	REQUIRE(file_is(P("dup2.other"), "o"));
	REQUIRE(file_is(P("dup2"), "xyz"));
	REQUIRE_ERR(dup2(fd, -1), EBADF);
out:
	close(target);
	if (fd >= 0)
		close(fd);
	if (other >= 0)
		close(other);
}

static void t_dup3(void)
{
	int fd = open(P("dup3"), O_RDWR | O_CREAT | O_TRUNC, 0600), target = 151;

	REQUIRE(fd >= 0);
	REQUIRE_EQ(dup3(fd, target, O_CLOEXEC), target);
	REQUIRE_EQ(fcntl(target, F_GETFD), FD_CLOEXEC);
	REQUIRE_EQ(write(target, "3", 1), 1);
	REQUIRE(file_is(P("dup3"), "3"));
	REQUIRE_ERR(dup3(fd, fd, 0), EINVAL);
out:
	close(target);
	if (fd >= 0)
		close(fd);
}

static void t_fcntl_dupfd(void)
{
	int fd = open(P("dupfd"), O_RDWR | O_CREAT | O_TRUNC, 0600), a = -1, b = -1;

	REQUIRE(fd >= 0);
	a = fcntl(fd, F_DUPFD, 200);
	REQUIRE(a >= 200);
	REQUIRE_EQ(fcntl(a, F_GETFD), 0);
	b = fcntl(fd, F_DUPFD_CLOEXEC, 200);
	REQUIRE(b >= 200 && b != a);
	REQUIRE_EQ(fcntl(b, F_GETFD), FD_CLOEXEC);
	REQUIRE_EQ(write(a, "ab", 2), 2);
	REQUIRE_EQ(lseek(b, 0, SEEK_CUR), 2);
out:
	if (fd >= 0)
		close(fd);
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
}

static void t_fcntl_fl(void)
{
	int fd = -1, fl;

	REQUIRE(put_str(P("fl"), "base") == 0);
	fd = open(P("fl"), O_RDWR);
	REQUIRE(fd >= 0);
	fl = fcntl(fd, F_GETFL);
	REQUIRE(fl >= 0);
	REQUIRE_EQ(fl & O_ACCMODE, O_RDWR);
	REQUIRE((fl & O_APPEND) == 0);
	REQUIRE(fcntl(fd, F_SETFL, fl | O_APPEND) == 0);
	REQUIRE((fcntl(fd, F_GETFL) & O_APPEND) != 0);
	REQUIRE_EQ(lseek(fd, 0, SEEK_SET), 0);
	REQUIRE_EQ(write(fd, "+", 1), 1);
	REQUIRE(file_is(P("fl"), "base+"));
	REQUIRE(fcntl(fd, F_SETFL, fl & ~O_APPEND) == 0);
	REQUIRE_EQ(pwrite(fd, "B", 1, 0), 1);
	REQUIRE(file_is(P("fl"), "Base+"));
	close(fd);
	fd = open(P("fl"), O_WRONLY | O_APPEND);
	REQUIRE(fd >= 0);
	REQUIRE_EQ(fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND), O_WRONLY | O_APPEND);
out:
	if (fd >= 0)
		close(fd);
}

static void t_fcntl_fd(void)
{
	int fd = open(P("cloexec"), O_RDWR | O_CREAT | O_TRUNC, 0600), fd2 = -1;

	REQUIRE(fd >= 0);
	REQUIRE_EQ(fcntl(fd, F_GETFD), 0);
	REQUIRE(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0);
	REQUIRE_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
	REQUIRE(fcntl(fd, F_SETFD, 0) == 0);
	REQUIRE_EQ(fcntl(fd, F_GETFD), 0);
	fd2 = open(P("cloexec"), O_RDONLY | O_CLOEXEC);
	REQUIRE(fd2 >= 0);
	REQUIRE_EQ(fcntl(fd2, F_GETFD), FD_CLOEXEC);
out:
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
}

/* Exit codes of the lock check's child: 0 ok, else the step that failed. */
static int lock_child(const char *path, pid_t parent)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	int fd = open(path, O_RDWR);

	if (fd < 0)
		return 10;
	if (fcntl(fd, F_GETLK, &fl) != 0)
		return 11;
	if (fl.l_type != F_WRLCK || fl.l_pid != parent)
		return 12;
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1 };
	if (fcntl(fd, F_SETLK, &fl) != -1 || (errno != EAGAIN && errno != EACCES))
		return 13;
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 5 };
	if (fcntl(fd, F_SETLK, &fl) != 0) /* a range nobody holds */
		return 14;
	return 0;
}

static void t_fcntl_lock(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	int fd = open(P("lock"), O_RDWR | O_CREAT | O_TRUNC, 0600), rc;
	pid_t pid;

	REQUIRE(fd >= 0);
	REQUIRE(fcntl(fd, F_SETLK, &fl) == 0);
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	REQUIRE(fcntl(fd, F_GETLK, &fl) == 0);
	REQUIRE_EQ(fl.l_type, F_UNLCK); /* a process never conflicts with itself */
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(lock_child(P("lock"), getppid()));
	rc = wait_child(pid);
	REQUIRE_EQ(rc, 0);
	fl = (struct flock){ .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	REQUIRE(fcntl(fd, F_SETLK, &fl) == 0);
out:
	if (fd >= 0)
		close(fd);
}

static void t_close(void)
{
	char c;
	int fd = open(P("close"), O_RDWR | O_CREAT | O_TRUNC, 0600);

	REQUIRE(fd >= 0);
	CLOSE(fd);
	REQUIRE_ERR(close(fd), EBADF);
	REQUIRE_ERR(read(fd, &c, 1), EBADF);
	REQUIRE_ERR(write(fd, "x", 1), EBADF);
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
}

/* ---- stdio ------------------------------------------------------------------------- */

static void t_stdio_write_read(void)
{
	char line[128], *gl = NULL;
	size_t cap = 0;
	FILE *f = fopen(P("stdio"), "w");

	REQUIRE(f != NULL);
	REQUIRE_EQ(fprintf(f, "line %d\n", 1), 7);
	REQUIRE_EQ(fwrite("line 2\n", 1, 7, f), 7);
	REQUIRE(fputs("line 3\n", f) >= 0);
	REQUIRE(fputc('Z', f) == 'Z');
	REQUIRE(fflush(f) == 0);
	REQUIRE_EQ(size_of(P("stdio")), 22); /* fflush reached the file */
	FCLOSE(f);
	f = fopen(P("stdio"), "r");
	REQUIRE(f != NULL);
	REQUIRE(fgets(line, sizeof(line), f) != NULL && strcmp(line, "line 1\n") == 0);
	REQUIRE_EQ(getline(&gl, &cap, f), 7);
	REQUIRE(strcmp(gl, "line 2\n") == 0);
	REQUIRE_EQ(fread(line, 1, sizeof(line), f), 8);
	REQUIRE(memcmp(line, "line 3\nZ", 8) == 0);
	REQUIRE(feof(f) && !ferror(f));
	REQUIRE(fputs("no", f) == EOF); /* "r" does not write */
out:
	free(gl);
	if (f != NULL)
		fclose(f);
}

static void t_stdio_big(void)
{
	char buf[100];
	FILE *f = fopen(P("stdio.big"), "wb");
	long long n = 0;

	REQUIRE(f != NULL);
	for (int i = 0; i < 20000; i++)
		REQUIRE(fprintf(f, "%08d\n", i) == 9);
	FCLOSE(f);
	REQUIRE_EQ(size_of(P("stdio.big")), 180000);
	f = fopen(P("stdio.big"), "rb");
	REQUIRE(f != NULL);
	while (fgets(buf, sizeof(buf), f) != NULL) {
		REQUIRE_EQ(atoll(buf), n);
		n++;
	}
	REQUIRE_EQ(n, 20000);
out:
	if (f != NULL)
		fclose(f);
}

static void t_stdio_append(void)
{
	FILE *f = NULL;

	REQUIRE(put_str(P("sa"), "12345") == 0);
	f = fopen(P("sa"), "a");
	REQUIRE(f != NULL);
	REQUIRE_EQ(ftell(f), 5); /* "a" starts at the end */
	REQUIRE(fputs("67", f) >= 0);
	REQUIRE(fseek(f, 0, SEEK_SET) == 0);
	REQUIRE(fputs("89", f) >= 0); /* still appends */
	FCLOSE(f);
	REQUIRE(file_is(P("sa"), "123456789"));
	f = fopen(P("sa"), "a+");
	REQUIRE(f != NULL);
	REQUIRE(fputs("0", f) >= 0);
	REQUIRE(fseek(f, 0, SEEK_SET) == 0);
	REQUIRE(fgetc(f) == '1');
	FCLOSE(f);
	REQUIRE(file_is(P("sa"), "1234567890"));
	f = fopen(P("sa.new"), "ae"); /* creates */
	REQUIRE(f != NULL);
	REQUIRE_EQ(fcntl(fileno(f), F_GETFD), FD_CLOEXEC);
out:
	if (f != NULL)
		fclose(f);
}

static void t_stdio_rplus_wplus(void)
{
	char buf[32] = { 0 };
	FILE *f = NULL;

	REQUIRE(put_str(P("srw"), "abcdefgh") == 0);
	f = fopen(P("srw"), "r+");
	REQUIRE(f != NULL);
	REQUIRE(fseek(f, 2, SEEK_SET) == 0);
	REQUIRE(fputs("XY", f) >= 0);
	REQUIRE(fseek(f, 0, SEEK_CUR) == 0);
	REQUIRE(fgetc(f) == 'e');
	REQUIRE_EQ(ftell(f), 5);
	FCLOSE(f);
	REQUIRE(file_is(P("srw"), "abXYefgh"));
	REQUIRE_ERR(fopen(P("srw.missing"), "r+") == NULL ? -1 : 0, ENOENT);
	f = fopen(P("srw"), "w+");
	REQUIRE(f != NULL);
	REQUIRE_EQ(size_of(P("srw")), 0);
	REQUIRE(fputs("fresh", f) >= 0);
	rewind(f);
	REQUIRE_EQ(fread(buf, 1, sizeof(buf), f), 5);
	REQUIRE(memcmp(buf, "fresh", 5) == 0);
	REQUIRE(fseek(f, 0, SEEK_END) == 0 && ftell(f) == 5);
out:
	if (f != NULL)
		fclose(f);
}

static void t_stdio_modes(void)
{
	FILE *f = NULL;

	REQUIRE(put_str(P("sm"), "x") == 0);
	REQUIRE_ERR(fopen(P("sm"), "wx") == NULL ? -1 : 0, EEXIST);
	f = fopen(P("sm.x"), "wx");
	REQUIRE(f != NULL);
	FCLOSE(f);
	REQUIRE_ERR(fopen(P("sm.missing"), "r") == NULL ? -1 : 0, ENOENT);
	REQUIRE_ERR(fopen(P("sm"), "q") == NULL ? -1 : 0, EINVAL);
	f = fopen(P("sm"), "rb");
	REQUIRE(f != NULL);
	REQUIRE(fgetc(f) == 'x');
out:
	if (f != NULL)
		fclose(f);
}

/* redis saves an RDB with fflush(fp); fsync(fileno(fp)). */
static void t_stdio_fileno_fsync(void)
{
	struct stat st;
	FILE *f = fopen(P("sfs"), "w");
	int fd;

	REQUIRE(f != NULL);
	REQUIRE_EQ(fprintf(f, "%s", "snapshot-bytes"), 14);
	REQUIRE(fflush(f) == 0);
	fd = fileno(f);
	REQUIRE(fd >= 0);
	REQUIRE_EQ(fileno_unlocked(f), fd);
	REQUIRE(fsync(fd) == 0);
	REQUIRE(fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
	REQUIRE_EQ(st.st_size, 14);
	FCLOSE(f);
	REQUIRE_ERR(fcntl(fd, F_GETFD), EBADF); /* fclose closed the descriptor */
	REQUIRE(file_is(P("sfs"), "snapshot-bytes"));
out:
	if (f != NULL)
		fclose(f);
}

static void t_stdio_fdopen(void)
{
	char buf[16] = { 0 };
	int fd = -1, wfd = -1;
	FILE *f = NULL;

	REQUIRE(put_str(P("sfd"), "fdopen-data") == 0);
	fd = open(P("sfd"), O_RDONLY);
	REQUIRE(fd >= 0);
	REQUIRE_ERR(fdopen(fd, "w") == NULL ? -1 : 0, EINVAL); /* more than fd allows */
	f = fdopen(fd, "r");
	REQUIRE(f != NULL);
	REQUIRE_EQ(fileno(f), fd);
	REQUIRE_EQ(fread(buf, 1, sizeof(buf), f), 11);
	REQUIRE(memcmp(buf, "fdopen-data", 11) == 0);
	FCLOSE(f);
	REQUIRE_ERR(fcntl(fd, F_GETFD), EBADF);
	fd = -1;
	wfd = open(P("sfd"), O_WRONLY);
	REQUIRE(wfd >= 0);
	f = fdopen(wfd, "a"); /* sets O_APPEND and starts at the end */
	REQUIRE(f != NULL);
	REQUIRE((fcntl(wfd, F_GETFL) & O_APPEND) != 0);
	REQUIRE(fputs("+more", f) >= 0);
	FCLOSE(f);
	wfd = -1;
	REQUIRE(file_is(P("sfd"), "fdopen-data+more"));
out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (wfd >= 0)
		close(wfd);
}

static void t_stdio_setvbuf(void)
{
	char big[3000];
	FILE *f = fopen(P("svb"), "w");

	REQUIRE(f != NULL);
	REQUIRE(setvbuf(f, NULL, _IOFBF, 64) == 0);
	memset(big, 'v', sizeof(big));
	REQUIRE_EQ(fwrite(big, 1, sizeof(big), f), sizeof(big));
	REQUIRE(fputs("tail", f) >= 0);
	REQUIRE(fflush(f) == 0);
	REQUIRE_EQ(size_of(P("svb")), 3004);
	FCLOSE(f);
	f = fopen(P("svb.nb"), "w");
	REQUIRE(f != NULL);
	REQUIRE(setvbuf(f, NULL, _IONBF, 0) == 0);
	REQUIRE(fputs("unbuffered", f) >= 0);
	REQUIRE_EQ(size_of(P("svb.nb")), 10); /* no fflush needed */
out:
	if (f != NULL)
		fclose(f);
}

static void t_stdio_dprintf_remove(void)
{
	int fd = open(P("sdp"), O_WRONLY | O_CREAT | O_TRUNC, 0600);

	REQUIRE(fd >= 0);
	REQUIRE_EQ(dprintf(fd, "dprintf %d", 42), 10);
	CLOSE(fd);
	REQUIRE(file_is(P("sdp"), "dprintf 42"));
	REQUIRE(remove(P("sdp")) == 0);
	REQUIRE(!exists(P("sdp")));
	REQUIRE(mkdir(P("sdp.dir"), 0755) == 0);
	REQUIRE(remove(P("sdp.dir")) == 0);
	REQUIRE(!exists(P("sdp.dir")));
	REQUIRE_ERR(remove(P("sdp")), ENOENT);
out:
	if (fd >= 0)
		close(fd);
}

/* Shielded: refused with ENOTSUP, the stream left usable; plain: works. */
static void t_stdio_freopen(void)
{
	FILE *f = fopen(P("sfr.a"), "w"), *r;
	int e;

	REQUIRE(f != NULL);
	REQUIRE(fputs("before", f) >= 0);
	errno = 0;
	r = freopen(P("sfr.b"), "w", f);
	e = errno;
	if (shielded) {
		REQUIRE(r == NULL && e == ENOTSUP);
		REQUIRE(fputs("+after", f) >= 0);
		FCLOSE(f);
		REQUIRE(file_is(P("sfr.a"), "before+after"));
	} else {
		REQUIRE(r == f);
		REQUIRE(fputs("after", f) >= 0);
		FCLOSE(f);
		REQUIRE(file_is(P("sfr.a"), "before"));
		REQUIRE(file_is(P("sfr.b"), "after"));
	}
out:
	if (f != NULL)
		fclose(f);
}

/* --shielded: a wide stream on a protected file is refused with EINVAL. */
static void t_stdio_wide(void)
{
	FILE *f = NULL;
	int e;

	REQUIRE(put_str(P("wide"), "w") == 0);
	errno = 0;
	f = fopen(P("wide"), "r,ccs=UTF-8");
	e = errno;
	REQUIRE(f == NULL && e == EINVAL);
out:
	if (f != NULL)
		fclose(f);
}

/* The child of stdio_std_redirect: its standard streams onto protected files,
 * the way `sort -o` and daemons redirect theirs. Exit: 0 ok, else the step. */
static int redirect_child(void)
{
	char line[64];
	int fd;

	printf("pending "); /* still buffered when the descriptor changes */
	fd = open(P("redir.out"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || dup2(fd, STDOUT_FILENO) != STDOUT_FILENO || close(fd) != 0)
		return 10;
	if (printf("after %d\n", 1) != 8 || fflush(stdout) != 0 || fsync(fileno(stdout)) != 0)
		return 11;
	close(STDERR_FILENO);
	if (open(P("redir.err"), O_WRONLY | O_CREAT | O_TRUNC, 0600) != STDERR_FILENO)
		return 12;
	if (fprintf(stderr, "to stderr\n") != 10)
		return 13;
	if (put_str(P("redir.in"), "from stdin\n") != 0)
		return 14;
	fd = open(P("redir.in"), O_RDONLY);
	if (fd < 0 || dup2(fd, STDIN_FILENO) != STDIN_FILENO || close(fd) != 0)
		return 15;
	if (fgets(line, sizeof(line), stdin) == NULL || strcmp(line, "from stdin\n") != 0)
		return 16;
	return printf("at exit\n") == 8 ? 0 : 17; /* flushed by exit() */
}

static void t_stdio_std_redirect(void)
{
	int rc;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		exit(redirect_child());
	rc = wait_child(pid);
	REQUIRE_EQ(rc, 0);
	REQUIRE(file_is(P("redir.out"), "pending after 1\nat exit\n"));
	REQUIRE(file_is(P("redir.err"), "to stderr\n"));
out:
	return;
}

/* ---- outside the mount ------------------------------------------------------------- */

static void t_outside_untouched(void)
{
	char dir[PATH_MAX / 2], a[PATH_MAX], b[PATH_MAX], raw[64];
	FILE *f = NULL;
	int made = 0;

	REQUIRE(make_outside_dir(dir, sizeof(dir)) == 0);
	made = 1;
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	REQUIRE(put_str(a, "outside bytes 0123\n") == 0);
	REQUIRE(file_is(a, "outside bytes 0123\n"));
	f = fopen(b, "w");
	REQUIRE(f != NULL);
	REQUIRE(fprintf(f, "outside %s\n", "stdio") > 0);
	FCLOSE(f);
	/* the kernel holds exactly these bytes */
	memset(raw, 0, sizeof(raw));
	REQUIRE_EQ(raw_read_file(a, raw, sizeof(raw)), 19);
	REQUIRE(memcmp(raw, "outside bytes 0123\n", 19) == 0);
	memset(raw, 0, sizeof(raw));
	REQUIRE_EQ(raw_read_file(b, raw, sizeof(raw)), 14);
	REQUIRE(memcmp(raw, "outside stdio\n", 14) == 0);
	REQUIRE_EQ(size_of(b), 14);
out:
	if (f != NULL)
		fclose(f);
	if (made) {
		unlink(a);
		unlink(b);
		rmdir(dir);
	}
}

/* Host streams and directories work while protected ones are open. */
static void t_outside_mixed(void)
{
	char dir[PATH_MAX / 2], a[PATH_MAX], raw[32] = { 0 };
	FILE *pf = NULL, *hf = NULL;
	DIR *pd = NULL, *hd = NULL;
	int made = 0, count = 0;

	REQUIRE(make_outside_dir(dir, sizeof(dir)) == 0);
	made = 1;
	snprintf(a, sizeof(a), "%s/a", dir);
	pf = fopen(P("mixed"), "w");
	pd = opendir(base);
	REQUIRE(pf != NULL && pd != NULL);
	hf = fopen(a, "w");
	REQUIRE(hf != NULL);
	REQUIRE(fileno(hf) >= 0 && fileno(hf) != fileno(pf));
	REQUIRE(fputs("host", hf) >= 0 && fputs("prot", pf) >= 0);
	REQUIRE(dprintf(fileno(hf), "!") == 1); /* "host" is still buffered */
	hf = freopen(a, "a", hf); /* a host stream may be reopened */
	REQUIRE(hf != NULL);
	REQUIRE(fputs("+", hf) >= 0);
	FCLOSE(hf);
	REQUIRE_EQ(raw_read_file(a, raw, sizeof(raw)), 6);
	REQUIRE(memcmp(raw, "!host+", 6) == 0);
	hd = opendir(dir);
	REQUIRE(hd != NULL);
	REQUIRE(dirfd(hd) >= 0);
	for (struct dirent *e; (e = readdir(hd)) != NULL;)
		count++;
	REQUIRE_EQ(count, 3);
	REQUIRE(remove(a) == 0);
	made = 2;
out:
	if (hd != NULL)
		closedir(hd);
	if (pd != NULL)
		closedir(pd);
	if (hf != NULL)
		fclose(hf);
	if (pf != NULL)
		fclose(pf);
	if (made == 1)
		unlink(a);
	if (made)
		rmdir(dir);
}

/* From a working directory inside the mount, ".." leads back out to the host. */
static void t_chdir_escape(void)
{
	char dir[PATH_MAX / 2], rel[PATH_MAX], raw[16] = { 0 };
	size_t len = 0;
	FILE *f = NULL;
	DIR *d = NULL;
	int made = 0, found = 0;

	REQUIRE(make_outside_dir(dir, sizeof(dir)) == 0);
	made = 1;
	for (const char *c = base; *c != '\0'; c++) /* one ".." per component of base */
		if (*c == '/')
			len += (size_t)snprintf(rel + len, sizeof(rel) - len, "../");
	snprintf(rel + len, sizeof(rel) - len, "%s/esc", dir + 1);
	REQUIRE(chdir(base) == 0);
	f = fopen(rel, "w");
	REQUIRE(f != NULL);
	REQUIRE(fputs("escaped", f) >= 0);
	FCLOSE(f);
	rel[strlen(rel) - 4] = '\0'; /* the directory itself */
	d = opendir(rel);
	REQUIRE(d != NULL);
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		found |= strcmp(e->d_name, "esc") == 0;
	REQUIRE(found);
	REQUIRE(chdir(start_cwd) == 0);
	snprintf(rel, sizeof(rel), "%s/esc", dir);
	REQUIRE_EQ(raw_read_file(rel, raw, sizeof(raw)), 7);
	REQUIRE(memcmp(raw, "escaped", 7) == 0);
	REQUIRE(unlink(rel) == 0);
	made = 2;
out:
	if (d != NULL)
		closedir(d);
	if (f != NULL)
		fclose(f);
	if (chdir(start_cwd) != 0)
		fail_at(__LINE__, "chdir back to %s; errno %s", start_cwd, errname(errno));
	if (made == 1) {
		snprintf(rel, sizeof(rel), "%s/esc", dir);
		unlink(rel);
	}
	if (made)
		rmdir(dir);
}

/* --shielded: what the program wrote under DIR is nowhere the kernel finds it at
 * that path (the volume keeps ciphertext in its host directory). */
static void t_no_plaintext_at_path(void)
{
	static const char secret[] = "probe-canary-4f1c9e2b";
	char raw[64];
	ssize_t n;

	REQUIRE(put_str(P("canary"), secret) == 0);
	REQUIRE(file_is(P("canary"), secret));
	n = raw_read_file(P("canary"), raw, sizeof(raw));
	REQUIRE(n < 0 || memmem(raw, (size_t)n, secret, sizeof(secret) - 1) == NULL);
out:
	return;
}

/* ---- processes and threads --------------------------------------------------------- */

/* The child of fork_child_writes: a stream of lines, like a BGSAVE child. */
static int child_writer(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return 10;
	for (int i = 0; i < 500; i++)
		if (fprintf(f, "child %d\n", i) < 0)
			return 11;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		return 12;
	return fclose(f) == 0 ? 0 : 13;
}

static void t_fork_child_writes(void)
{
	static char expect[16384];
	size_t len = 0;
	int fd = -1, rc;
	pid_t pid;

	REQUIRE(put_str(P("fk.parent"), "") == 0);
	fd = open(P("fk.parent"), O_WRONLY | O_APPEND);
	REQUIRE(fd >= 0);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(child_writer(P("fk.child")));
	for (int i = 0; i < 500; i++) {
		char line[32];
		int n = snprintf(line, sizeof(line), "parent %d\n", i);

		REQUIRE(write_all(fd, line, (size_t)n) == 0);
	}
	rc = wait_child(pid);
	REQUIRE_EQ(rc, 0);
	for (int i = 0; i < 500; i++)
		len += (size_t)snprintf(expect + len, sizeof(expect) - len, "child %d\n", i);
	REQUIRE(file_is(P("fk.child"), expect));
	len = 0;
	for (int i = 0; i < 500; i++)
		len += (size_t)snprintf(expect + len, sizeof(expect) - len, "parent %d\n", i);
	REQUIRE(file_is(P("fk.parent"), expect));
out:
	if (fd >= 0)
		close(fd);
}

/* POSIX: a forked child shares its parent's open file descriptions, offsets too. */
static void t_fork_shared_offset(void)
{
	int fd = open(P("fk.off"), O_RDWR | O_CREAT | O_TRUNC, 0600), rc;
	pid_t pid;

	REQUIRE(fd >= 0);
	REQUIRE_EQ(write(fd, "AAAA", 4), 4);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(write(fd, "BBBB", 4) == 4 ? 0 : 1);
	rc = wait_child(pid);
	REQUIRE_EQ(rc, 0);
	REQUIRE_EQ(lseek(fd, 0, SEEK_CUR), 8);
	REQUIRE_EQ(write(fd, "CCCC", 4), 4);
	REQUIRE(file_is(P("fk.off"), "AAAABBBBCCCC"));
out:
	if (fd >= 0)
		close(fd);
}

/* The child reads through a descriptor and a stream the parent opened. */
static void t_fork_inherit(void)
{
	FILE *f = NULL;
	int fd = -1, rc;
	pid_t pid;

	REQUIRE(put_str(P("fk.in"), "inherited\n") == 0);
	fd = open(P("fk.in"), O_RDONLY);
	f = fopen(P("fk.in"), "r");
	REQUIRE(fd >= 0 && f != NULL);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		char buf[32] = { 0 }, line[32];

		if (pread(fd, buf, sizeof(buf), 0) != 10 || strcmp(buf, "inherited\n") != 0)
			_exit(1);
		if (fgets(line, sizeof(line), f) == NULL || strcmp(line, "inherited\n") != 0)
			_exit(2);
		_exit(0);
	}
	rc = wait_child(pid);
	REQUIRE_EQ(rc, 0);
out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
}

/* An exec'd program stays shielded: it reads what this one wrote. */
static void t_exec(void)
{
	int rc;
	pid_t pid;

	REQUIRE(put_str(P("exec"), "exec-content") == 0);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		execl(self_exe, self_exe, "--expect", P("exec"), "exec-content", (char *)NULL);
		_exit(127);
	}
	rc = wait_child(pid);
	REQUIRE_EQ(rc, 0);
out:
	return;
}

#define NTHREADS 4
#define NRECORDS 400

struct worker {
	int id;
	char raw[PATH_MAX];
	char text[PATH_MAX];
	int rc;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char rec[64];
	int fd = open(w->raw, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FILE *f = fopen(w->text, "w");

	w->rc = 1;
	if (fd < 0 || f == NULL)
		goto out;
	for (int i = 0; i < NRECORDS; i++) {
		memset(rec, 'a' + w->id, sizeof(rec));
		snprintf(rec, sizeof(rec), "%d:%d", w->id, i);
		if (write_all(fd, rec, sizeof(rec)) != 0 || fprintf(f, "%d %d\n", w->id, i) < 0)
			goto out;
	}
	w->rc = fsync(fd) == 0 && fflush(f) == 0 ? 0 : 2;
out:
	if (fd >= 0 && close(fd) != 0)
		w->rc = 3;
	if (f != NULL && fclose(f) != 0)
		w->rc = 4;
	return NULL;
}

static int worker_check(const struct worker *w)
{
	char rec[64], want[64], line[64];
	int fd = open(w->raw, O_RDONLY), ok = 1;
	FILE *f = fopen(w->text, "r");

	for (int i = 0; ok && fd >= 0 && f != NULL && i < NRECORDS; i++) {
		memset(want, 'a' + w->id, sizeof(want));
		snprintf(want, sizeof(want), "%d:%d", w->id, i);
		ok = read(fd, rec, sizeof(rec)) == (ssize_t)sizeof(rec) &&
		     memcmp(rec, want, sizeof(rec)) == 0;
		snprintf(want, sizeof(want), "%d %d\n", w->id, i);
		ok = ok && fgets(line, sizeof(line), f) != NULL && strcmp(line, want) == 0;
	}
	ok = ok && fd >= 0 && f != NULL && read(fd, rec, 1) == 0 && fgetc(f) == EOF;
	if (fd >= 0)
		close(fd);
	if (f != NULL)
		fclose(f);
	return ok;
}

static void t_threads(void)
{
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	int started = 0;

	for (int i = 0; i < NTHREADS; i++) {
		w[i].id = i;
		w[i].rc = -1;
		snprintf(w[i].raw, sizeof(w[i].raw), "%s/th.%d.bin", base, i);
		snprintf(w[i].text, sizeof(w[i].text), "%s/th.%d.txt", base, i);
	}
	for (; started < NTHREADS; started++)
		REQUIRE(pthread_create(&th[started], NULL, worker_main, &w[started]) == 0);
out:
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < started && !check_failed; i++) {
		if (w[i].rc != 0)
			fail_at(__LINE__, "thread %d failed at step %d; errno %s", i, w[i].rc,
				errname(errno));
		else if (!worker_check(&w[i]))
			fail_at(__LINE__, "thread %d: files do not hold what it wrote", i);
	}
}

/* ---- clean-up ---------------------------------------------------------------------- */

static int remove_tree(const char *path)
{
	char child[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int rc = 0;

	if (lstat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		if (remove_tree(child) != 0)
			rc = -1;
	}
	closedir(d);
	return rc == 0 ? rmdir(path) : -1;
}

static void t_cleanup(void)
{
	REQUIRE(remove_tree(base) == 0);
	REQUIRE(!exists(base));
out:
	return;
}

/* ---- main -------------------------------------------------------------------------- */

static int expect_main(const char *path, const char *content)
{
	return file_is(path, content) ? 0 : 1;
}

int main(int argc, char **argv)
{
	char real[PATH_MAX];
	ssize_t n;
	int i = 1;

	if (argc == 4 && strcmp(argv[1], "--expect") == 0)
		return expect_main(argv[2], argv[3]);
	if (argc > i && strcmp(argv[i], "--shielded") == 0) {
		shielded = 1;
		i++;
	}
	if (argc != i + 1) {
		fprintf(stderr, "usage: shield_probe [--shielded] DIR\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0 || getcwd(start_cwd, sizeof(start_cwd)) == NULL) {
		fprintf(stderr, "shield_probe: /proc/self/exe or getcwd: %s\n", strerror(errno));
		return 2;
	}
	self_exe[n] = '\0';
	if (snprintf(base, sizeof(base), "%s/probe.%ld",
		     realpath(argv[i], real) != NULL ? real : argv[i],
		     (long)getpid()) >= (int)sizeof(base)) {
		fprintf(stderr, "shield_probe: DIR is too long\n");
		return 2;
	}
	if (mkdir(base, 0755) != 0) {
		printf("FAIL probe:setup (mkdir %s: %s)\n", base, strerror(errno));
		return 1;
	}

	run("open_creat_excl", t_open_creat_excl);
	run("open_errors", t_open_errors);
	run("write_read", t_write_read);
	run("large_io", t_large_io);
	run("pread_pwrite", t_pread_pwrite);
	run("readv_writev", t_readv_writev);
	run("lseek_whence", t_lseek_whence);
	run("lseek_hole", t_lseek_hole);
	run("open_trunc", t_open_trunc);
	run("open_append", t_open_append);
	run("creat", t_creat);
	run("openat", t_openat);
	run("fstat", t_fstat);
	run("stat", t_stat);
	run("lstat", t_lstat);
	run("fstatat", t_fstatat);
	run("statx", t_statx);
	run("access", t_access);
	run("ftruncate", t_ftruncate);
	run("truncate", t_truncate);
	run("fsync", t_fsync);
	run("fsync_dir", t_fsync_dir);
	run("rename", t_rename);
	run("renameat", t_renameat);
	run("unlink", t_unlink);
	run("unlinkat", t_unlinkat);
	run("mkdir_rmdir", t_mkdir_rmdir);
	run("readdir", t_readdir);
	run("readdir64", t_readdir64);
	run("readdir_r", t_readdir_r);
	run("seekdir_rewinddir", t_seekdir);
	run("scandir", t_scandir);
	run("fdopendir", t_fdopendir);
	run("getdents64", t_getdents64);
	run("dir_large", t_dir_large);
	run("chdir_relative", t_chdir_relative);
	run("fchdir", t_fchdir);
	run("dup", t_dup);
	run("dup2", t_dup2);
	run("dup3", t_dup3);
	run("fcntl_dupfd", t_fcntl_dupfd);
	run("fcntl_getfl_setfl", t_fcntl_fl);
	run("fcntl_getfd_setfd", t_fcntl_fd);
	run("fcntl_locks", t_fcntl_lock);
	run("close", t_close);
	run("stdio_write_read", t_stdio_write_read);
	run("stdio_big", t_stdio_big);
	run("stdio_append", t_stdio_append);
	run("stdio_rplus_wplus", t_stdio_rplus_wplus);
	run("stdio_modes", t_stdio_modes);
	run("stdio_fileno_fsync", t_stdio_fileno_fsync);
	run("stdio_fdopen", t_stdio_fdopen);
	run("stdio_setvbuf", t_stdio_setvbuf);
	run("stdio_dprintf_remove", t_stdio_dprintf_remove);
	run("stdio_freopen", t_stdio_freopen);
	run("stdio_std_redirect", t_stdio_std_redirect);
	if (shielded)
		run("stdio_wide", t_stdio_wide);
	run("outside_untouched", t_outside_untouched);
	run("outside_mixed", t_outside_mixed);
	run("chdir_escape", t_chdir_escape);
	if (shielded)
		run("no_plaintext_at_path", t_no_plaintext_at_path);
	run("fork_child_writes", t_fork_child_writes);
	run("fork_shared_offset", t_fork_shared_offset);
	run("fork_inherit", t_fork_inherit);
	run("exec", t_exec);
	run("threads", t_threads);
	run("cleanup", t_cleanup);
	return failures != 0 ? 1 : 0;
}
