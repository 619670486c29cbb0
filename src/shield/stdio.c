/* glibc stdio on protected files (docs/shield.md §4).
 *
 * glibc's fopen, freopen, fdopen, tmpfile, remove and dprintf reach the kernel
 * through internal calls (__open, __read, __write, __unlink) that no preloaded
 * library can interpose, so a FILE that glibc builds itself would hand a protected
 * path to the host's own directory, or a placeholder descriptor to the kernel
 * (EBADF). For a protected file the shield builds the FILE with fopencookie(3)
 * instead: glibc still does the buffering, formatting and locking, and the
 * cookie's read/write/seek/close call the shield's interposed read/write/lseek/
 * close on a descriptor from the shield's interposed open. Everything else goes
 * to libc unchanged.
 *
 * fileno() of a cookie stream is -1 in glibc; programs do
 * `fflush(fp); fsync(fileno(fp))` (redis saving an RDB), so the registry
 * (stdio.h) maps each stream the shield made to its descriptor.
 *
 * stdin, stdout and stderr are glibc's streams on descriptors 0-2; when one of
 * those descriptors is made protected (dup2, or close and open), the variable is
 * pointed at a cookie stream over it (shield_stdio_std_protected, stdio.h).
 *
 * Refused:
 * - freopen of a protected path, and freopen of any stream made here: ENOTSUP,
 *   the stream is left open and unchanged. freopen must return the same FILE *;
 *   a glibc file stream cannot become a cookie stream in place, and glibc 2.36
 *   cannot reopen a cookie stream at all (its _fileno is -2, so freopen's dup3
 *   fails and closes the new file).
 * - wide-character streams (",ccs=" in the mode) on protected files: EINVAL.
 */

/* This file defines dprintf and vdprintf, which _FORTIFY_SOURCE turns into inline
 * wrappers in <stdio.h>; the fortified entry points are interposed below. */
#undef _FORTIFY_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "shield/shield.h"
#include "shield/stdio.h"

/* glibc's fortified dprintf entry points (debug/dprintf_chk.c); the headers only
 * declare them under _FORTIFY_SOURCE. */
int __dprintf_chk(int fd, int flag, const char *fmt, ...);
int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap);

/* ---- pointer registry (stdio.h) ------------------------------------------------ */

struct shield_ptrmap_node {
	const void *key;
	void *val;
	struct shield_ptrmap_node *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;

/* A fork() while another thread holds the lock would leave the child's copy held
 * forever: take it around fork like glibc takes its own stream-list lock. */
static void registry_prefork(void)
{
	pthread_mutex_lock(&registry_lock);
}

static void registry_postfork(void)
{
	pthread_mutex_unlock(&registry_lock);
}

static void registry_init(void)
{
	if (pthread_atfork(registry_prefork, registry_postfork, registry_postfork) != 0)
		shield_log("stdio: pthread_atfork failed; fork() from a thread racing a stream "
			   "open may deadlock the child");
}

static size_t ptr_bucket(const void *key)
{
	/* Fibonacci hashing of the address: heap pointers differ in their middle bits. */
	return (size_t)((((uintptr_t)key >> 4) * UINT64_C(0x9E3779B97F4A7C15)) >> 56) %
	       SHIELD_PTRMAP_BUCKETS;
}

int shield_ptrmap_put(struct shield_ptrmap *map, const void *key, void *val)
{
	struct shield_ptrmap_node *n = malloc(sizeof(*n));
	size_t b = ptr_bucket(key);

	if (n == NULL) {
		errno = ENOMEM;
		return -1;
	}
	pthread_once(&registry_once, registry_init);
	n->key = key;
	n->val = val;
	pthread_mutex_lock(&registry_lock);
	n->next = map->buckets[b];
	map->buckets[b] = n;
	atomic_fetch_add(&map->count, 1);
	pthread_mutex_unlock(&registry_lock);
	return 0;
}

void *shield_ptrmap_get(struct shield_ptrmap *map, const void *key)
{
	void *val = NULL;

	if (atomic_load(&map->count) == 0)
		return NULL;
	pthread_mutex_lock(&registry_lock);
	for (struct shield_ptrmap_node *n = map->buckets[ptr_bucket(key)]; n; n = n->next) {
		if (n->key == key) {
			val = n->val;
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return val;
}

void *shield_ptrmap_take(struct shield_ptrmap *map, const void *key)
{
	struct shield_ptrmap_node *found = NULL;
	void *val = NULL;

	if (atomic_load(&map->count) == 0)
		return NULL;
	pthread_mutex_lock(&registry_lock);
	for (struct shield_ptrmap_node **pp = &map->buckets[ptr_bucket(key)]; *pp;
	     pp = &(*pp)->next) {
		if ((*pp)->key == key) {
			found = *pp;
			*pp = found->next;
			atomic_fetch_sub(&map->count, 1);
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	if (found != NULL) {
		val = found->val;
		free(found);
	}
	return val;
}

/* ---- cookie streams ------------------------------------------------------------ */

/* One per stream the shield made; owned by the stream, freed by its close. */
struct stream {
	int fd;   /* the stream's descriptor; -1 when the stream must not close it */
	FILE *fp; /* registry key */
};

static struct shield_ptrmap streams;

static ssize_t stream_read(void *cookie, char *buf, size_t size)
{
	struct stream *s = cookie;

	return read(s->fd, buf, size);
}

/* fopencookie(3): the count written, short or 0 on error (glibc then sets the
 * stream's error indicator; errno stays from write). */
static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
	struct stream *s = cookie;
	size_t done = 0;

	while (done < size) {
		ssize_t n = write(s->fd, buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int stream_seek(void *cookie, off64_t *off, int whence)
{
	struct stream *s = cookie;
	off_t pos = lseek(s->fd, (off_t)*off, whence);

	if (pos < 0)
		return -1;
	*off = pos;
	return 0;
}

/* Called by fclose (after glibc flushed the buffer) and by fcloseall. */
static int stream_close(void *cookie)
{
	struct stream *s = cookie;
	int rc = 0;

	(void)shield_ptrmap_take(&streams, s->fp);
	if (s->fd >= 0)
		rc = close(s->fd);
	free(s);
	return rc;
}

/* A cookie stream over fd with fopencookie mode cmode ("r", "w+", ...). The
 * stream owns fd once this succeeds; on failure fd is left open (errno set). */
static FILE *stream_new(int fd, const char *cmode)
{
	static const cookie_io_functions_t io = {
		.read = stream_read,
		.write = stream_write,
		.seek = stream_seek,
		.close = stream_close,
	};
	struct stream *s = malloc(sizeof(*s));
	FILE *fp = NULL;

	if (s == NULL) {
		errno = ENOMEM;
		goto out;
	}
	s->fd = fd;
	s->fp = NULL;
	fp = fopencookie(s, cmode, io);
	if (fp == NULL)
		goto out;
	s->fp = fp;
	if (shield_ptrmap_put(&streams, fp, s) != 0) {
		s->fd = -1;       /* the caller keeps fd */
		(void)fclose(fp); /* frees s through stream_close */
		errno = ENOMEM;
		fp = NULL;
	}
	s = NULL; /* the stream owns it (or freed it) */
out:
	free(s);
	return fp;
}

/* ---- modes --------------------------------------------------------------------- */

struct fmode {
	int flags;      /* open(2) flags */
	int plus;       /* '+': read and write */
	char cookie[3]; /* the access part again, for fopencookie */
};

static void fmode_cookie(struct fmode *fm, char access)
{
	fm->cookie[0] = access;
	fm->cookie[1] = fm->plus ? '+' : '\0';
	fm->cookie[2] = '\0';
}

/* As glibc's _IO_new_file_fopen (libio/fileops.c): the first character chooses
 * the access; up to six more are scanned until '\0' or ','; 'b', 'm' (mmap: a
 * cookie stream never maps), 'c' and unknown characters are ignored. */
static int parse_fopen_mode(const char *mode, struct fmode *out)
{
	int extra = 0;

	memset(out, 0, sizeof(*out));
	switch (mode[0]) {
	case 'r':
		out->flags = O_RDONLY;
		break;
	case 'w':
		out->flags = O_WRONLY;
		extra = O_CREAT | O_TRUNC;
		break;
	case 'a':
		out->flags = O_WRONLY;
		extra = O_CREAT | O_APPEND;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	for (int i = 1; i < 7 && mode[i] != '\0' && mode[i] != ','; i++) {
		switch (mode[i]) {
		case '+':
			out->plus = 1;
			break;
		case 'x':
			extra |= O_EXCL;
			break;
		case 'e':
			extra |= O_CLOEXEC;
			break;
		default:
			break;
		}
	}
	/* A wide stream converts through iconv over glibc's own file jumps, which a
	 * cookie stream does not have. */
	if (strstr(mode, ",ccs=") != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (out->plus)
		out->flags = O_RDWR;
	out->flags |= extra;
	fmode_cookie(out, mode[0]);
	return 0;
}

/* As glibc's _IO_new_fdopen (libio/iofdopen.c): up to four characters after the
 * first; '+' ends the scan; 'e' and 'x' are ignored. */
static int parse_fdopen_mode(const char *mode, struct fmode *out)
{
	memset(out, 0, sizeof(*out));
	if (mode[0] != 'r' && mode[0] != 'w' && mode[0] != 'a') {
		errno = EINVAL;
		return -1;
	}
	for (int i = 1; i < 5 && mode[i] != '\0'; i++) {
		if (mode[i] == '+') {
			out->plus = 1;
			break;
		}
	}
	fmode_cookie(out, mode[0]);
	return 0;
}

/* ---- opening streams ------------------------------------------------------------ */

static void close_keep_errno(int fd)
{
	int saved = errno;

	(void)close(fd);
	errno = saved;
}

static FILE *fopen_protected(const char *path, const char *mode)
{
	struct fmode fm;
	FILE *fp = NULL;
	int fd = -1;

	if (parse_fopen_mode(mode, &fm) != 0)
		goto out;
	fd = open(path, fm.flags, 0666);
	if (fd < 0)
		goto out;
	/* glibc puts a write-only append stream at the end, so that ftell reports
	 * the size (libio/fileops.c _IO_file_open); "a+" stays at 0 for reading. */
	if (mode[0] == 'a' && !fm.plus && lseek(fd, 0, SEEK_END) < 0)
		goto out;
	fp = stream_new(fd, fm.cookie);
	if (fp != NULL)
		fd = -1;
out:
	if (fd >= 0)
		close_keep_errno(fd);
	return fp;
}

static FILE *open_stream(const char *path, const char *mode, __typeof__(&fopen) real)
{
	struct shield_path p;
	int r;

	if (path == NULL || mode == NULL)
		return real(path, mode); /* libc's own EFAULT or EINVAL */
	r = shield_resolve(AT_FDCWD, path, &p);
	if (r < 0)
		return NULL;
	if (r == 0)
		return real(p.path, mode);
	return fopen_protected(path, mode);
}

SHIELD_EXPORT FILE *fopen(const char *path, const char *mode)
{
	return open_stream(path, mode, REAL(fopen));
}

SHIELD_EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return open_stream(path, mode, REAL(fopen64));
}

/* As glibc's fdopen: the stream may do no more than the descriptor allows, and
 * "a" sets O_APPEND on a descriptor that lacks it and then starts at the end. */
static FILE *fdopen_protected(int fd, const char *mode)
{
	struct fmode fm;
	int fl, acc;

	if (parse_fdopen_mode(mode, &fm) != 0)
		return NULL;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return NULL;
	acc = fl & O_ACCMODE;
	if ((acc == O_RDONLY && (mode[0] != 'r' || fm.plus)) ||
	    (acc == O_WRONLY && (mode[0] == 'r' || fm.plus))) {
		errno = EINVAL;
		return NULL;
	}
	if (mode[0] == 'a' && !(fl & O_APPEND)) {
		if (fcntl(fd, F_SETFL, fl | O_APPEND) < 0)
			return NULL;
		if (!fm.plus && lseek(fd, 0, SEEK_END) < 0)
			return NULL;
	}
	return stream_new(fd, fm.cookie);
}

SHIELD_EXPORT FILE *fdopen(int fd, const char *mode)
{
	if (mode == NULL || !shield_fd_is_protected(fd))
		return REAL(fdopen)(fd, mode);
	return fdopen_protected(fd, mode);
}

/* The descriptor of a stream the shield made, or -1. */
static int stream_fd(FILE *fp)
{
	struct stream *s = shield_ptrmap_get(&streams, fp);

	return s != NULL ? s->fd : -1;
}

SHIELD_EXPORT int fileno(FILE *fp)
{
	int fd = stream_fd(fp);

	return fd >= 0 ? fd : REAL(fileno)(fp);
}

SHIELD_EXPORT int fileno_unlocked(FILE *fp)
{
	int fd = stream_fd(fp);

	return fd >= 0 ? fd : REAL(fileno_unlocked)(fp);
}

static FILE *refuse_reopen(const char *path)
{
	shield_log("freopen(\"%s\") refused: a stream on a protected file cannot be "
		   "reopened in place (docs/shield.md §4)", path != NULL ? path : "(null)");
	errno = ENOTSUP;
	return NULL;
}

/* The stream is left open when refused: see the top of this file. */
static FILE *reopen_stream(const char *path, const char *mode, FILE *fp,
			   __typeof__(&freopen) real)
{
	struct shield_path p;
	int r;

	if (fp != NULL && shield_ptrmap_get(&streams, fp) != NULL)
		return refuse_reopen(path);
	if (path == NULL || mode == NULL)
		return real(path, mode, fp);
	r = shield_resolve(AT_FDCWD, path, &p);
	if (r < 0)
		return real(path, mode, fp); /* libc closes fp and reports the same error */
	if (r == 1)
		return refuse_reopen(path);
	return real(p.path, mode, fp);
}

SHIELD_EXPORT FILE *freopen(const char *path, const char *mode, FILE *fp)
{
	return reopen_stream(path, mode, fp, REAL(freopen));
}

SHIELD_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *fp)
{
	return reopen_stream(path, mode, fp, REAL(freopen64));
}

/* glibc's tmpfile always uses P_tmpdir ("/tmp", never $TMPDIR). When a volume is
 * mounted there, create, unlink and wrap a protected file instead of leaving
 * plaintext in the host's /tmp. */
static FILE *tmpfile_protected(void)
{
	static atomic_uint seq;
	char name[64];
	FILE *fp = NULL;
	int fd = -1;

	for (int tries = 0; tries < 100 && fd < 0; tries++) {
		snprintf(name, sizeof(name), "%s/tmpf.%ld.%u", P_tmpdir, (long)getpid(),
			 atomic_fetch_add(&seq, 1));
		fd = open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0 && errno != EEXIST)
			goto out;
	}
	if (fd < 0)
		goto out;
	(void)unlink(name); /* as glibc: a name left behind is clutter, not a leak */
	fp = stream_new(fd, "w+");
	if (fp != NULL)
		fd = -1;
out:
	if (fd >= 0)
		close_keep_errno(fd);
	return fp;
}

static int tmpdir_protected(void)
{
	struct shield_path p;

	return shield_resolve(AT_FDCWD, P_tmpdir, &p) == 1;
}

SHIELD_EXPORT FILE *tmpfile(void)
{
	return tmpdir_protected() ? tmpfile_protected() : REAL(tmpfile)();
}

SHIELD_EXPORT FILE *tmpfile64(void)
{
	return tmpdir_protected() ? tmpfile_protected() : REAL(tmpfile64)();
}

/* glibc's remove unlinks through internal calls; as it does, try unlink and fall
 * back to rmdir on EISDIR (the shield's interposed unlink and rmdir). */
SHIELD_EXPORT int remove(const char *path)
{
	struct shield_path p;
	int r;

	if (path == NULL)
		return REAL(remove)(path);
	r = shield_resolve(AT_FDCWD, path, &p);
	if (r < 0)
		return -1;
	if (r == 0)
		return REAL(remove)(p.path);
	if (unlink(path) == 0)
		return 0;
	if (errno != EISDIR)
		return -1;
	return rmdir(path);
}

/* ---- the standard streams on a protected descriptor ----------------------------- */

static pthread_mutex_t std_lock = PTHREAD_MUTEX_INITIALIZER;

/* Move what old still holds for writing into fp (glibc's FILE fields are public:
 * <bits/types/struct_FILE.h>), then drop it from old. */
static void std_move_pending(FILE *old, FILE *fp)
{
	size_t n = __fpending(old);

	if (n > 0 && fwrite(old->_IO_write_base, 1, n, fp) != n)
		shield_log("stdio: %zu bytes of buffered output were lost in a redirect", n);
	__fpurge(old);
}

static void std_switch(FILE **var, int fd, const char *cmode)
{
	FILE *old = *var, *fp;

	/* the program's own stream (assigned by it, or already ours) stays */
	if (old == NULL || shield_ptrmap_get(&streams, old) != NULL ||
	    REAL(fileno)(old) != fd)
		return;
	fp = stream_new(fd, cmode);
	if (fp == NULL) {
		shield_log("stdio: cannot redirect the stream on descriptor %d: %s", fd,
			   strerror(errno));
		return;
	}
	if (fd == 2)
		setvbuf(fp, NULL, _IONBF, 0); /* stderr stays unbuffered */
	else if (fd == 1 && __flbf(old))
		setvbuf(fp, NULL, _IOLBF, 0);
	if (fd != 0)
		std_move_pending(old, fp);
	*var = fp;
}

void shield_stdio_std_protected(int fd)
{
	int saved = errno;

	pthread_mutex_lock(&std_lock);
	switch (fd) {
	case 0:
		std_switch(&stdin, fd, "r");
		break;
	case 1:
		std_switch(&stdout, fd, "w");
		break;
	case 2:
		std_switch(&stderr, fd, "w");
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&std_lock);
	errno = saved;
}

/* ---- dprintf: glibc formats into a FILE of its own over fd -------------------- */

__attribute__((format(printf, 2, 0))) static int print_protected(int fd, const char *fmt,
								  va_list ap)
{
	char *buf = NULL;
	int n = vasprintf(&buf, fmt, ap);
	size_t done = 0;

	if (n < 0)
		return -1;
	while (done < (size_t)n) {
		ssize_t w = write(fd, buf + done, (size_t)n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			n = -1;
			break;
		}
		done += (size_t)w;
	}
	free(buf);
	return n;
}

__attribute__((format(printf, 2, 0))) static int print_fd(int fd, const char *fmt, va_list ap)
{
	if (shield_fd_is_protected(fd))
		return print_protected(fd, fmt, ap);
	return REAL(vdprintf)(fd, fmt, ap);
}

/* Programs built with _FORTIFY_SOURCE call these; flag only adds %n checks. */
__attribute__((format(printf, 3, 0))) static int print_fd_chk(int fd, int flag, const char *fmt,
								va_list ap)
{
	if (shield_fd_is_protected(fd))
		return print_protected(fd, fmt, ap);
	return REAL(__vdprintf_chk)(fd, flag, fmt, ap);
}

SHIELD_EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
	return print_fd(fd, fmt, ap);
}

SHIELD_EXPORT int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = print_fd(fd, fmt, ap);
	va_end(ap);
	return n;
}

__attribute__((format(printf, 3, 0))) SHIELD_EXPORT int __vdprintf_chk(int fd, int flag,
									const char *fmt, va_list ap)
{
	return print_fd_chk(fd, flag, fmt, ap);
}

__attribute__((format(printf, 3, 4))) SHIELD_EXPORT int __dprintf_chk(int fd, int flag,
								       const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = print_fd_chk(fd, flag, fmt, ap);
	va_end(ap);
	return n;
}
