/* Interposed descriptor I/O (docs/shield.md §3, §4).
 *
 * Every function first asks whether its descriptor (or path) is protected; when it
 * is not, it calls libc's own function with the same arguments and nothing else
 * happens. A protected descriptor's data goes through the volume library at the
 * offset kept in its ofd; the lock of the ofd makes read/write/lseek on one open
 * file description atomic with respect to each other, as the kernel does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shield/shield.h"

/* O_LARGEFILE as F_GETFL reports it on x86-64 (the userspace headers define it 0). */
#define KERNEL_O_LARGEFILE 0100000
#define GATHER_MAX (64u << 20) /* writev: gathered into one atomic write up to this */

static int lib_fail(const struct shield_ofd *o, int code, const char *what,
		    const struct shelter_err *err)
{
	errno = shield_errno(code, what, o->m->path, o->path, err);
	return -1;
}

/* ---- open ---- */

static int lib_flags(int flags)
{
	int lflags = flags & (O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND);

	return (flags & O_ACCMODE) == O_RDONLY ? lflags & ~O_TRUNC : lflags;
}

/* The common case in one volume call: a regular file opened (or created) by its
 * own name. 1 when it does not apply (a directory, a symbolic link, O_PATH or
 * O_DIRECTORY): open_general decides those. */
static int open_direct(const struct shield_path *p, int flags, mode_t mode,
		       struct shelter_file **file, struct shelter_stat *st, struct shelter_err *err)
{
	int rc;

	if (flags & (O_PATH | O_DIRECTORY))
		return 1;
	rc = shelter_file_open(p->m->vol, p->path, lib_flags(flags),
			       mode & ~shield_umask() & 07777, file, err);
	if (rc == SHELTER_E_ISDIR || rc == SHELTER_E_INVAL) {
		shelter_err_clear(err);
		return 1;
	}
	if (rc == 0) {
		memset(st, 0, sizeof(*st));
		st->ino = shelter_file_ino(*file);
	}
	return rc;
}

/* Everything else: links followed within the volume, directories, O_PATH. 0 or a
 * library code (*file set for a regular file), or -1 with errno. */
static int open_general(struct shield_path *p, int flags, mode_t mode,
			struct shelter_file **file, struct shelter_stat *st,
			struct shelter_err *err)
{
	int rc;

	/* O_CREAT|O_EXCL and O_NOFOLLOW look at the link itself (open(2)) */
	if (shield_follow(p, !(flags & O_NOFOLLOW) && !((flags & O_CREAT) && (flags & O_EXCL)), st) == 0)
		rc = 0;
	else if (errno == ENOENT)
		rc = SHELTER_E_NOENT;
	else
		return -1;
	if (rc == 0 && (flags & O_CREAT) && (flags & O_EXCL))
		return shield_fail(EEXIST);
	if (rc == 0 && (st->type == SHELTER_FT_DIR || (flags & O_PATH))) {
		if (st->type == SHELTER_FT_DIR && (flags & O_ACCMODE) != O_RDONLY && !(flags & O_PATH))
			return shield_fail(EISDIR);
		return 0;
	}
	if (rc == 0 && (flags & O_DIRECTORY))
		return shield_fail(ENOTDIR);
	if (rc == 0 && st->type == SHELTER_FT_LNK && (flags & O_NOFOLLOW))
		return shield_fail(ELOOP);
	rc = shelter_file_open(p->m->vol, p->path, lib_flags(flags), mode & ~shield_umask() & 07777,
			       file, err);
	if (rc == 0)
		rc = shelter_file_stat(*file, st, err);
	return rc;
}

/* Open a protected path: a directory (or O_PATH) gets an ofd without a file. */
static int open_protected(struct shield_path *p, int flags, mode_t mode)
{
	struct shelter_file *file = NULL;
	struct shield_ofd *o = NULL;
	struct shelter_stat st;
	struct shelter_err err;
	int rc, fd = -1, saved;

	shelter_err_clear(&err);
	if ((flags & O_TMPFILE) == O_TMPFILE)
		return shield_fail(EOPNOTSUPP);
	rc = open_direct(p, flags, mode, &file, &st, &err);
	if (rc == 1)
		rc = open_general(p, flags, mode, &file, &st, &err);
	if (rc == -1)
		return -1; /* errno set */
	if (rc != 0) {
		errno = shield_errno(rc, "open", p->m->path, p->path, &err);
		goto out;
	}
	o = shield_ofd_new(p->m, file, p->path, st.ino,
			   flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_PATH | O_DIRECTORY));
	if (o == NULL)
		goto out;
	file = NULL;
	fd = shield_placeholder(p->m, (flags & O_CLOEXEC) != 0);
	if (fd >= 0)
		shield_fd_set(fd, o);
out:
	saved = errno;
	shelter_file_close(file);
	shield_ofd_put(o);
	errno = saved;
	return fd;
}

static int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	struct shield_path p;
	int r = shield_resolve(dirfd, path, &p);

	if (r < 0)
		return -1;
	if (r == 1)
		return open_protected(&p, flags, mode);
	return REAL(openat)(dirfd, p.path, flags, mode);
}

/* The mode argument exists only with O_CREAT or O_TMPFILE (open(2)). */
#define MODE_ARG(flags, mode)                                                           \
	do {                                                                            \
		if ((flags) & (O_CREAT | O_TMPFILE)) {                                  \
			va_list ap_;                                                    \
			va_start(ap_, flags);                                           \
			mode = (mode_t)va_arg(ap_, int);                                \
			va_end(ap_);                                                    \
		}                                                                       \
	} while (0)

SHIELD_EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return do_openat(AT_FDCWD, path, flags, mode);
}

SHIELD_EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return do_openat(AT_FDCWD, path, flags | O_LARGEFILE, mode);
}

SHIELD_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return do_openat(dirfd, path, flags, mode);
}

SHIELD_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return do_openat(dirfd, path, flags | O_LARGEFILE, mode);
}

/* _FORTIFY_SOURCE's checked variants (called when no mode is needed). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

SHIELD_EXPORT int __open_2(const char *path, int flags)
{
	return do_openat(AT_FDCWD, path, flags, 0);
}

SHIELD_EXPORT int __open64_2(const char *path, int flags)
{
	return do_openat(AT_FDCWD, path, flags | O_LARGEFILE, 0);
}

SHIELD_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return do_openat(dirfd, path, flags, 0);
}

SHIELD_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return do_openat(dirfd, path, flags | O_LARGEFILE, 0);
}

SHIELD_EXPORT int creat(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

SHIELD_EXPORT int creat64(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC | O_LARGEFILE, mode);
}

/* ---- read and write ---- */

/* The ofd of fd if it is a protected file open for reading (want O_RDONLY) or
 * writing (O_WRONLY); NULL with errno EBADF/EISDIR otherwise. */
static struct shield_ofd *usable(struct shield_ofd *o, int want)
{
	int acc = o->flags & O_ACCMODE;

	if (o->file == NULL) {
		errno = (o->flags & O_PATH) ? EBADF : EISDIR;
	} else if ((want == O_RDONLY && acc == O_WRONLY) || (want == O_WRONLY && acc == O_RDONLY)) {
		errno = EBADF;
	} else {
		return o;
	}
	shield_ofd_put(o);
	return NULL;
}

static ssize_t ofd_pread(struct shield_ofd *o, void *buf, size_t n, uint64_t off)
{
	struct shelter_err err;
	size_t got = 0;
	int rc;

	shelter_err_clear(&err);
	rc = shelter_file_pread(o->file, buf, n, off, &got, &err);
	return rc != 0 ? lib_fail(o, rc, "read", &err) : (ssize_t)got;
}

/* Write at off, or at the end for O_APPEND (where *end receives the new end). */
static ssize_t ofd_pwrite(struct shield_ofd *o, const void *buf, size_t n, uint64_t off,
			  uint64_t *end)
{
	struct shelter_err err;
	uint64_t used = off;
	int rc;

	if (n == 0) {
		*end = off;
		return 0;
	}
	shelter_err_clear(&err);
	rc = shelter_file_pwrite(o->file, buf, n, off, &used, &err);
	if (rc != 0)
		return lib_fail(o, rc, "write", &err);
	*end = ((o->flags & O_APPEND) ? used : off) + n;
	return (ssize_t)n;
}

static ssize_t ofd_read(struct shield_ofd *o, void *buf, size_t n)
{
	ssize_t r;

	pthread_mutex_lock(&o->lock);
	uint64_t off = shield_ofd_off(o);

	r = ofd_pread(o, buf, n, off);
	if (r > 0)
		shield_ofd_set_off(o, off + (uint64_t)r);
	pthread_mutex_unlock(&o->lock);
	return r;
}

static ssize_t ofd_write(struct shield_ofd *o, const void *buf, size_t n)
{
	uint64_t end = 0;
	ssize_t r;

	pthread_mutex_lock(&o->lock);
	r = ofd_pwrite(o, buf, n, shield_ofd_off(o), &end);
	if (r >= 0)
		shield_ofd_set_off(o, end);
	pthread_mutex_unlock(&o->lock);
	return r;
}

SHIELD_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	struct shield_ofd *o = shield_fd_get(fd);
	ssize_t r;

	if (o == NULL)
		return REAL(read)(fd, buf, n);
	if ((o = usable(o, O_RDONLY)) == NULL)
		return -1;
	r = ofd_read(o, buf, n);
	shield_ofd_put(o);
	return r;
}

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
SHIELD_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		abort(); /* what glibc's __chk_fail does: a buffer overflow in the program */
	return read(fd, buf, n);
}

SHIELD_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	struct shield_ofd *o = shield_fd_get(fd);
	ssize_t r;

	if (o == NULL)
		return REAL(write)(fd, buf, n);
	if ((o = usable(o, O_WRONLY)) == NULL)
		return -1;
	r = ofd_write(o, buf, n);
	shield_ofd_put(o);
	return r;
}

static ssize_t do_pread(int fd, void *buf, size_t n, off_t off)
{
	struct shield_ofd *o = shield_fd_get(fd);
	ssize_t r;

	if (o == NULL)
		return REAL(pread64)(fd, buf, n, off);
	if ((o = usable(o, O_RDONLY)) == NULL)
		return -1;
	r = off < 0 ? shield_fail(EINVAL) : ofd_pread(o, buf, n, (uint64_t)off);
	shield_ofd_put(o);
	return r;
}

static ssize_t do_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	struct shield_ofd *o = shield_fd_get(fd);
	uint64_t end;
	ssize_t r;

	if (o == NULL)
		return REAL(pwrite64)(fd, buf, n, off);
	if ((o = usable(o, O_WRONLY)) == NULL)
		return -1;
	/* Like Linux, an O_APPEND descriptor appends whatever offset is given. */
	r = off < 0 ? shield_fail(EINVAL) : ofd_pwrite(o, buf, n, (uint64_t)off, &end);
	shield_ofd_put(o);
	return r;
}

SHIELD_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	return do_pread(fd, buf, n, off);
}

SHIELD_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
	return do_pread(fd, buf, n, off);
}

ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
SHIELD_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (n > buflen)
		abort();
	return do_pread(fd, buf, n, off);
}

SHIELD_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (n > buflen)
		abort();
	return do_pread(fd, buf, n, off);
}

SHIELD_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return do_pwrite(fd, buf, n, off);
}

SHIELD_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return do_pwrite(fd, buf, n, off);
}

/* ---- vectored I/O: gathered, so that a writev stays one atomic write ---- */

static ssize_t iov_total(const struct iovec *iov, int cnt)
{
	size_t total = 0;

	if (cnt < 0 || cnt > IOV_MAX)
		return shield_fail(EINVAL);
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - total)
			return shield_fail(EINVAL);
		total += iov[i].iov_len;
	}
	return (ssize_t)total;
}

/* off < 0: at (and advancing) the ofd's offset. */
static ssize_t ofd_readv(struct shield_ofd *o, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t total = iov_total(iov, cnt), r;
	char *buf;

	if (total < 0)
		return -1;
	if ((buf = malloc(total > 0 ? (size_t)total : 1)) == NULL)
		return shield_fail(ENOMEM);
	r = off < 0 ? ofd_read(o, buf, (size_t)total) : ofd_pread(o, buf, (size_t)total, (uint64_t)off);
	for (int i = 0, done = 0; r > 0 && i < cnt && done < r; i++) {
		size_t n = iov[i].iov_len < (size_t)(r - done) ? iov[i].iov_len : (size_t)(r - done);

		memcpy(iov[i].iov_base, buf + done, n);
		done += (int)n;
	}
	free(buf);
	return r;
}

static ssize_t ofd_writev(struct shield_ofd *o, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t total = iov_total(iov, cnt), r;
	uint64_t end;
	char *buf;
	size_t at = 0;

	if (total < 0)
		return -1;
	if ((size_t)total > GATHER_MAX)
		total = GATHER_MAX; /* a short write, as the kernel may do */
	if ((buf = malloc(total > 0 ? (size_t)total : 1)) == NULL)
		return shield_fail(ENOMEM);
	for (int i = 0; i < cnt && at < (size_t)total; i++) {
		size_t n = iov[i].iov_len < (size_t)total - at ? iov[i].iov_len : (size_t)total - at;

		memcpy(buf + at, iov[i].iov_base, n);
		at += n;
	}
	r = off < 0 ? ofd_write(o, buf, (size_t)total) : ofd_pwrite(o, buf, (size_t)total, (uint64_t)off, &end);
	free(buf);
	return r;
}

static ssize_t do_readv(int fd, const struct iovec *iov, int cnt, off_t off, int positional)
{
	struct shield_ofd *o = shield_fd_get(fd);
	ssize_t r;

	if (o == NULL)
		return positional ? REAL(preadv64)(fd, iov, cnt, off) : REAL(readv)(fd, iov, cnt);
	if ((o = usable(o, O_RDONLY)) == NULL)
		return -1;
	r = positional && off < 0 ? shield_fail(EINVAL) : ofd_readv(o, iov, cnt, positional ? off : -1);
	shield_ofd_put(o);
	return r;
}

static ssize_t do_writev(int fd, const struct iovec *iov, int cnt, off_t off, int positional)
{
	struct shield_ofd *o = shield_fd_get(fd);
	ssize_t r;

	if (o == NULL)
		return positional ? REAL(pwritev64)(fd, iov, cnt, off) : REAL(writev)(fd, iov, cnt);
	if ((o = usable(o, O_WRONLY)) == NULL)
		return -1;
	r = positional && off < 0 ? shield_fail(EINVAL) : ofd_writev(o, iov, cnt, positional ? off : -1);
	shield_ofd_put(o);
	return r;
}

SHIELD_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	return do_readv(fd, iov, cnt, 0, 0);
}

SHIELD_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	return do_writev(fd, iov, cnt, 0, 0);
}

SHIELD_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return do_readv(fd, iov, cnt, off, 1);
}

SHIELD_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return do_readv(fd, iov, cnt, off, 1);
}

SHIELD_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return do_writev(fd, iov, cnt, off, 1);
}

SHIELD_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return do_writev(fd, iov, cnt, off, 1);
}

/* preadv2/pwritev2: offset -1 means the current offset; the RWF_ hints change
 * nothing for a volume (RWF_DSYNC/RWF_SYNC are honoured by a sync after it). */
static ssize_t rw2(int fd, const struct iovec *iov, int cnt, off_t off, int flags, int writing)
{
	ssize_t r;

	if (!shield_fd_is_protected(fd))
		return writing ? REAL(pwritev64v2)(fd, iov, cnt, off, flags)
			       : REAL(preadv64v2)(fd, iov, cnt, off, flags);
	r = writing ? do_writev(fd, iov, cnt, off, off != -1) : do_readv(fd, iov, cnt, off, off != -1);
	if (r > 0 && writing && (flags & (RWF_DSYNC | RWF_SYNC)) && fdatasync(fd) < 0)
		return -1;
	return r;
}

SHIELD_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return rw2(fd, iov, cnt, off, flags, 0);
}

SHIELD_EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return rw2(fd, iov, cnt, off, flags, 0);
}

SHIELD_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return rw2(fd, iov, cnt, off, flags, 1);
}

SHIELD_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return rw2(fd, iov, cnt, off, flags, 1);
}

/* ---- offset, size, sync ---- */

static int ofd_size(struct shield_ofd *o, uint64_t *size)
{
	struct shelter_stat st;

	if (shield_ofd_stat(o, "stat", &st) < 0)
		return -1;
	*size = st.size;
	return 0;
}

static off_t ofd_seek(struct shield_ofd *o, off_t off, int whence)
{
	uint64_t size = 0, base;
	off_t r = -1;

	pthread_mutex_lock(&o->lock);
	if (whence == SEEK_SET) {
		base = 0;
	} else if (whence == SEEK_CUR) {
		base = shield_ofd_off(o);
	} else if (whence == SEEK_END || whence == SEEK_DATA || whence == SEEK_HOLE) {
		if (ofd_size(o, &size) < 0)
			goto out;
		base = whence == SEEK_END ? size : 0;
	} else {
		errno = EINVAL;
		goto out;
	}
	if ((off < 0 && (uint64_t)-off > base) || (off > 0 && base > (uint64_t)INT64_MAX - (uint64_t)off)) {
		errno = off < 0 ? EINVAL : EOVERFLOW;
		goto out;
	}
	/* A volume stores no holes it could report: all of a file is data (§4.3). */
	if ((whence == SEEK_DATA || whence == SEEK_HOLE) && (uint64_t)off >= size) {
		errno = ENXIO;
		goto out;
	}
	base = whence == SEEK_HOLE ? size : base + (uint64_t)off;
	shield_ofd_set_off(o, base);
	r = (off_t)base;
out:
	pthread_mutex_unlock(&o->lock);
	return r;
}

SHIELD_EXPORT off_t lseek(int fd, off_t off, int whence)
{
	struct shield_ofd *o = shield_fd_get(fd);
	off_t r;

	if (o == NULL)
		return REAL(lseek64)(fd, off, whence);
	r = (o->flags & O_PATH) ? shield_fail(EBADF) : ofd_seek(o, off, whence);
	shield_ofd_put(o);
	return r;
}

SHIELD_EXPORT off_t lseek64(int fd, off_t off, int whence)
{
	return lseek(fd, off, whence);
}

static int do_ftruncate(int fd, off_t size)
{
	struct shield_ofd *o = shield_fd_get(fd);
	struct shelter_err err;
	int rc, r = 0;

	if (o == NULL)
		return REAL(ftruncate64)(fd, size);
	if (o->file == NULL || (o->flags & O_ACCMODE) == O_RDONLY || size < 0) {
		r = shield_fail(o->file == NULL && (o->flags & O_PATH) ? EBADF : EINVAL);
	} else {
		shelter_err_clear(&err);
		rc = shelter_file_truncate(o->file, (uint64_t)size, &err);
		if (rc != 0)
			r = lib_fail(o, rc, "truncate", &err);
	}
	shield_ofd_put(o);
	return r;
}

SHIELD_EXPORT int ftruncate(int fd, off_t size)
{
	return do_ftruncate(fd, size);
}

SHIELD_EXPORT int ftruncate64(int fd, off_t size)
{
	return do_ftruncate(fd, size);
}

static int do_sync(int fd, int data_only)
{
	struct shield_ofd *o = shield_fd_get(fd);
	struct shelter_err err;
	int rc, r = 0;

	if (o == NULL)
		return data_only ? REAL(fdatasync)(fd) : REAL(fsync)(fd);
	shelter_err_clear(&err);
	/* A directory's entries are in the same log: syncing the volume covers them. */
	rc = o->file != NULL ? shelter_file_sync(o->file, &err) : shelter_volume_sync(o->m->vol, &err);
	if (rc != 0)
		r = lib_fail(o, rc, "sync", &err);
	else if (shield_tags_note_sync(o->m) < 0) /* bound, not endorsed (§6.6) */
		r = shield_fail(EIO);
	shield_ofd_put(o);
	return r;
}

SHIELD_EXPORT int fsync(int fd)
{
	return do_sync(fd, 0);
}

SHIELD_EXPORT int fdatasync(int fd)
{
	return do_sync(fd, 1);
}

/* sync_file_range starts or waits for writeback of a range: no durability
 * promise, and the volume's log has no per-file ranges. A protected file's
 * writes are already in the log; the call succeeds and does nothing (redis calls
 * it every 4 MiB while writing a snapshot). */
SHIELD_EXPORT int sync_file_range(int fd, off_t off, off_t len, unsigned int flags)
{
	if (!shield_fd_is_protected(fd))
		return REAL(sync_file_range)(fd, off, len, flags);
	return off < 0 || len < 0 ? shield_fail(EINVAL) : 0;
}

/* syncfs on a protected descriptor syncs its volume. */
SHIELD_EXPORT int syncfs(int fd)
{
	struct shield_ofd *o = shield_fd_get(fd);
	struct shelter_err err;
	int rc;

	if (o == NULL)
		return REAL(syncfs)(fd);
	shelter_err_clear(&err);
	rc = shelter_volume_sync(o->m->vol, &err);
	if (rc != 0) {
		errno = shield_errno(rc, "syncfs", o->m->path, o->path, &err);
	} else if (shield_tags_note_sync(o->m) < 0) { /* bound, not endorsed (§6.6) */
		errno = EIO;
		rc = SHELTER_E_IO;
	}
	shield_ofd_put(o);
	return rc == 0 ? 0 : -1;
}

SHIELD_EXPORT int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
	if (shield_fd_is_protected(fd))
		return 0; /* advice only; the volume reads what it needs */
	return REAL(posix_fadvise64)(fd, off, len, advice);
}

SHIELD_EXPORT int posix_fadvise64(int fd, off_t off, off_t len, int advice)
{
	return posix_fadvise(fd, off, len, advice);
}

/* Allocation is extension with zeros: a volume has no preallocated space. */
static int extend(int fd, off_t off, off_t len)
{
	struct shield_ofd *o = shield_fd_get(fd);
	uint64_t size = 0;
	int r = 0;

	if (o == NULL)
		return -2;
	if (off < 0 || len <= 0 || off > INT64_MAX - len)
		r = shield_fail(EINVAL);
	else if (ofd_size(o, &size) < 0)
		r = -1;
	shield_ofd_put(o);
	if (r == 0 && (uint64_t)(off + len) > size)
		r = do_ftruncate(fd, off + len);
	return r;
}

SHIELD_EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
	int r = extend(fd, off, len);

	if (r == -2)
		return REAL(posix_fallocate64)(fd, off, len);
	return r < 0 ? errno : 0; /* posix_fallocate returns the error */
}

SHIELD_EXPORT int posix_fallocate64(int fd, off_t off, off_t len)
{
	return posix_fallocate(fd, off, len);
}

SHIELD_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	if (!shield_fd_is_protected(fd))
		return REAL(fallocate64)(fd, mode, off, len);
	if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE)
		return shield_fail(EOPNOTSUPP);
	return mode == FALLOC_FL_KEEP_SIZE ? 0 : extend(fd, off, len);
}

SHIELD_EXPORT int fallocate64(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len);
}

/* ---- close and duplicate ---- */

SHIELD_EXPORT int close(int fd)
{
	shield_fd_clear(fd); /* before the number can be reused */
	return REAL(close)(fd);
}

SHIELD_EXPORT int dup(int fd)
{
	struct shield_ofd *o = shield_fd_get(fd);
	int r = REAL(dup)(fd);

	if (r >= 0 && o != NULL)
		shield_fd_set(r, o);
	shield_ofd_put(o);
	return r;
}

static int do_dup3(int fd, int to, int flags, int is_dup2)
{
	struct shield_ofd *o;
	int r;

	if (fd == to) /* dup2 returns it, dup3 refuses; either way nothing moves */
		return is_dup2 ? REAL(dup2)(fd, to) : REAL(dup3)(fd, to, flags);
	o = shield_fd_get(fd);
	if (o == NULL && !shield_fd_is_protected(to))
		return is_dup2 ? REAL(dup2)(fd, to) : REAL(dup3)(fd, to, flags);
	shield_fd_clear(to); /* the kernel closes it */
	r = is_dup2 ? REAL(dup2)(fd, to) : REAL(dup3)(fd, to, flags);
	if (r >= 0 && o != NULL)
		shield_fd_set(r, o);
	shield_ofd_put(o);
	return r;
}

SHIELD_EXPORT int dup2(int fd, int to)
{
	return do_dup3(fd, to, 0, 1);
}

SHIELD_EXPORT int dup3(int fd, int to, int flags)
{
	return do_dup3(fd, to, flags, 0);
}
