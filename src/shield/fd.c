/* Interposed descriptor control: fcntl, record locks, flock, close_range
 * (docs/shield.md §3.2, §3.3).
 *
 * Record locks. A placeholder cannot hold a POSIX lock that another process would
 * see, so the locks of a protected file are taken on a lock file of its own,
 * RUNTIME/<host dev>-<host ino>/<file ino>, shared by every process that opens
 * the same file of the same volume. The lock file holds no data. Locks keep their
 * POSIX semantics: per process, and dropped when the process closes the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shield/shield.h"

/* Where lock files live: $SHELTER_RUNTIME_DIR, else /run/shelter for root, else
 * $XDG_RUNTIME_DIR/shelter, else /tmp/shelter-UID. */
static int runtime_dir(char *buf, size_t size)
{
	const char *env = getenv("SHELTER_RUNTIME_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (env != NULL && env[0] == '/')
		n = snprintf(buf, size, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, size, "/run/shelter");
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, size, "%s/shelter", xdg);
	else
		n = snprintf(buf, size, "/tmp/shelter-%lu", (unsigned long)geteuid());
	return n < 0 || (size_t)n >= size ? shield_fail(ENAMETOOLONG) : 0;
}

static int mkdir_private(const char *dir)
{
	struct stat st;

	if (REAL(mkdir)(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	/* An existing directory must be ours and private: another user's could let
	 * them hold our locks (denial of service only, but refuse it). */
	if (REAL(lstat)(dir, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return shield_fail(EACCES);
	return 0;
}

/* The lock file descriptor of o, opened on first use. */
int shield_ofd_lockfd(struct shield_ofd *o)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	struct stat host;
	int fd = -1;

	pthread_mutex_lock(&o->lock);
	if (o->lockfd >= 0) {
		fd = o->lockfd;
		goto out;
	}
	if (runtime_dir(dir, sizeof(dir) - 48) < 0 || mkdir_private(dir) < 0 ||
	    fstat(o->m->placeholder_dir, &host) < 0)
		goto fail;
	size_t n = strlen(dir);
	snprintf(dir + n, sizeof(dir) - n, "/%lx-%lx", (unsigned long)host.st_dev,
		 (unsigned long)host.st_ino);
	if (mkdir_private(dir) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/%llu", dir, (unsigned long long)o->ino);
	fd = REAL(open)(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		goto fail;
	o->lockfd = fd;
	goto out;
fail:
	shield_log("record lock for %s/%s: runtime directory %s: %s", o->m->path, o->path, dir,
		   strerror(errno));
	errno = ENOLCK;
out:
	pthread_mutex_unlock(&o->lock);
	return fd;
}

/* Forward a record-lock command, with SEEK_CUR/SEEK_END made absolute (the lock
 * file's own offset and size mean nothing). F_GETLK answers in SEEK_SET terms,
 * as the kernel does. */
static int lock_cmd(struct shield_ofd *o, int cmd, struct flock *fl)
{
	struct flock copy = *fl;
	struct shelter_stat st;
	int lfd, r;

	if (o->file == NULL)
		return shield_fail(EBADF);
	if (copy.l_whence == SEEK_CUR) {
		copy.l_start += (off_t)shield_ofd_off(o);
	} else if (copy.l_whence == SEEK_END) {
		if (shield_ofd_stat(o, "lock", &st) < 0)
			return -1;
		copy.l_start += (off_t)st.size;
	} else if (copy.l_whence != SEEK_SET) {
		return shield_fail(EINVAL);
	}
	copy.l_whence = SEEK_SET;
	if (copy.l_start < 0)
		return shield_fail(EINVAL);
	lfd = shield_ofd_lockfd(o);
	if (lfd < 0)
		return -1;
	r = REAL(fcntl)(lfd, cmd, &copy);
	if (r == 0 && (cmd == F_GETLK || cmd == F_OFD_GETLK))
		*fl = copy;
	return r;
}

static int ofd_fcntl(int fd, struct shield_ofd *o, int cmd, void *arg)
{
	int r;

	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		r = REAL(fcntl)(fd, cmd, arg);
		if (r >= 0)
			shield_fd_set(r, o);
		return r;
	case F_GETFL:
		return (o->flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_PATH | O_DIRECTORY)) |
		       0100000; /* O_LARGEFILE as the kernel reports it on 64-bit */
	case F_SETFL:
		pthread_mutex_lock(&o->lock);
		o->flags = (o->flags & ~(O_APPEND | O_NONBLOCK)) |
			   ((int)(intptr_t)arg & (O_APPEND | O_NONBLOCK));
		if (o->file != NULL) /* the volume decides the end of file for appends */
			shelter_file_set_append(o->file, (o->flags & O_APPEND) != 0);
		pthread_mutex_unlock(&o->lock);
		return 0;
	case F_GETLK:
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_GETLK:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		return lock_cmd(o, cmd, arg);
	case F_GETFD:
	case F_SETFD:
		return REAL(fcntl)(fd, cmd, arg); /* close-on-exec belongs to the descriptor */
	default:
		/* leases, notifications, pipe sizes, seals: not for a volume's files */
		return shield_fail(EINVAL);
	}
}

/* fcntl's third argument is an int or a pointer depending on cmd; both travel in
 * one register on the ABIs glibc supports, which is how glibc reads it too. */
SHIELD_EXPORT int fcntl(int fd, int cmd, ...)
{
	struct shield_ofd *o;
	va_list ap;
	void *arg;
	int r;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	o = shield_fd_get(fd);
	if (o == NULL)
		return REAL(fcntl)(fd, cmd, arg);
	r = ofd_fcntl(fd, o, cmd, arg);
	shield_ofd_put(o);
	return r;
}

SHIELD_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}

SHIELD_EXPORT int flock(int fd, int op)
{
	struct shield_ofd *o = shield_fd_get(fd);
	int lfd, r;

	if (o == NULL)
		return REAL(flock)(fd, op);
	lfd = o->file != NULL ? shield_ofd_lockfd(o) : shield_fail(EBADF);
	r = lfd < 0 ? -1 : REAL(flock)(lfd, op);
	shield_ofd_put(o);
	return r;
}

/* glibc's lockf calls its internal fcntl, which the shield cannot see. */
static int do_lockf(int fd, int cmd, off_t len)
{
	struct flock fl = { .l_whence = SEEK_CUR, .l_start = 0, .l_len = len };

	if (!shield_fd_is_protected(fd))
		return REAL(lockf64)(fd, cmd, len);
	switch (cmd) {
	case F_TEST:
		fl.l_type = F_RDLCK;
		if (fcntl(fd, F_GETLK, &fl) < 0)
			return -1;
		return fl.l_type == F_UNLCK || fl.l_pid == getpid() ? 0 : shield_fail(EACCES);
	case F_ULOCK:
		fl.l_type = F_UNLCK;
		return fcntl(fd, F_SETLK, &fl);
	case F_LOCK:
		fl.l_type = F_WRLCK;
		return fcntl(fd, F_SETLKW, &fl);
	case F_TLOCK:
		fl.l_type = F_WRLCK;
		return fcntl(fd, F_SETLK, &fl);
	default:
		return shield_fail(EINVAL);
	}
}

SHIELD_EXPORT int lockf(int fd, int cmd, off_t len)
{
	return do_lockf(fd, cmd, len);
}

SHIELD_EXPORT int lockf64(int fd, int cmd, off_t len)
{
	return do_lockf(fd, cmd, len);
}

/* ---- closing many ---- */

SHIELD_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		shield_fd_clear_range(first, last);
	return REAL(close_range)(first, last, flags);
}

SHIELD_EXPORT void closefrom(int lowfd)
{
	if (lowfd >= 0)
		shield_fd_clear_range((unsigned int)lowfd, ~0u);
	REAL(closefrom)(lowfd);
}
