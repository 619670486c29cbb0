/* Interposed path operations: stat, access, rename, unlink, mkdir, links, the
 * working directory (docs/shield.md §2, §5).
 *
 * Each function resolves its path (mount.c); an unprotected path goes to libc
 * unchanged, a protected one to the volume library. Operations that cross from a
 * volume to anywhere else (rename between two mounts, or out of one) fail with
 * EXDEV, as between two file systems. A volume stores no owners and no explicit
 * times: chown and utimes on protected paths succeed and change nothing (§5.2).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

#include "shield/shield.h"

#define LINK_HOPS 40

/* glibc declares some path arguments nonnull that the kernel accepts as NULL
 * (utimensat's is futimens); hide the pointer from the optimizer so the check
 * stays. */
static const char *opaque(const char *p)
{
	__asm__("" : "+r"(p));
	return p;
}

static int lib_fail(const struct shield_path *p, int rc, const char *what,
		    const struct shelter_err *err)
{
	errno = shield_errno(rc, what, p->m->path, p->path, err);
	return -1;
}

/* ---- umask ---- */

static _Atomic int cur_umask = -1;

mode_t shield_umask(void)
{
	int m = atomic_load(&cur_umask);

	if (m < 0) { /* the only way to read it without changing it (Linux >= 4.7) */
		FILE *f = REAL(fopen)("/proc/self/status", "re");
		char line[128];
		unsigned int v = 022;

		while (f != NULL && fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "Umask: %o", &v) == 1)
				break;
		if (f != NULL)
			fclose(f);
		m = (int)v;
		atomic_store(&cur_umask, m);
	}
	return (mode_t)m;
}

SHIELD_EXPORT mode_t umask(mode_t mask)
{
	mode_t old = REAL(umask)(mask);

	atomic_store(&cur_umask, (int)(mask & 0777));
	return old;
}

/* ---- stat ---- */

void shield_stat_fill(const struct shield_mount *m, const struct shelter_stat *s, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = m->dev;
	st->st_ino = s->ino;
	st->st_mode = (mode_t)(s->mode & 07777) |
		      (s->type == SHELTER_FT_DIR ? S_IFDIR : s->type == SHELTER_FT_LNK ? S_IFLNK : S_IFREG);
	st->st_nlink = s->nlink;
	st->st_uid = geteuid();
	st->st_gid = getegid();
	st->st_size = (off_t)s->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)s->blocks;
	st->st_mtim.tv_sec = s->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = s->mtime_ns % 1000000000;
	st->st_ctim.tv_sec = s->ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = s->ctime_ns % 1000000000;
	st->st_atim = st->st_mtim;
}

/* Follow a symbolic link in the last component of p, within its volume: a
 * relative target is taken from the link's directory, an absolute one must lie
 * in the same mount (ELOOP otherwise: the shield does not hand a volume's own
 * links to the host). Fills *st with the final node's attributes. */
int shield_follow(struct shield_path *p, int follow, struct shelter_stat *st)
{
	struct shelter_err err;
	char target[PATH_MAX], dir[PATH_MAX];
	int rc;

	for (int hop = 0;; hop++) {
		shelter_err_clear(&err);
		rc = shelter_volume_stat(p->m->vol, p->path, st, &err);
		if (rc != 0)
			return lib_fail(p, rc, "stat", &err);
		if (st->type != SHELTER_FT_LNK || !follow)
			return 0;
		if (hop == LINK_HOPS)
			return shield_fail(ELOOP);
		rc = shelter_volume_readlink(p->m->vol, p->path, target, sizeof(target), &err);
		if (rc != 0)
			return lib_fail(p, rc, "readlink", &err);
		struct shield_mount *m = p->m;
		const char *slash = strrchr(p->path, '/');
		int n = target[0] == '/'
				? snprintf(dir, sizeof(dir), "%s", target)
				: snprintf(dir, sizeof(dir), "%s/%.*s/%s", m->path,
					   slash != NULL ? (int)(slash - p->path) : 0, p->path, target);
		if (n < 0 || (size_t)n >= sizeof(dir))
			return shield_fail(ENAMETOOLONG);
		if (shield_resolve(AT_FDCWD, dir, p) < 0)
			return -1;
		if (p->m != m)
			return shield_fail(ELOOP);
	}
}

static int stat_protected(struct shield_path *p, int follow, struct stat *st)
{
	struct shelter_stat s;

	if (shield_follow(p, follow, &s) < 0)
		return -1;
	shield_stat_fill(p->m, &s, st);
	return 0;
}

static int fstat_protected(struct shield_ofd *o, struct stat *st)
{
	struct shelter_stat s;

	if (shield_ofd_stat(o, "stat", &s) < 0)
		return -1;
	shield_stat_fill(o->m, &s, st);
	return 0;
}

static int do_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	struct shield_path p;
	int r;

	if ((flags & AT_EMPTY_PATH) && path != NULL && path[0] == '\0') {
		struct shield_ofd *o = shield_fd_get(dirfd);

		if (o == NULL)
			return REAL(fstatat64)(dirfd, path, (struct stat64 *)st, flags);
		r = fstat_protected(o, st);
		shield_ofd_put(o);
		return r;
	}
	r = shield_resolve(dirfd, path, &p);
	if (r < 0)
		return -1;
	if (r == 0)
		return REAL(fstatat64)(dirfd, p.path, (struct stat64 *)st, flags);
	return stat_protected(&p, !(flags & AT_SYMLINK_NOFOLLOW), st);
}

static int do_fstat(int fd, struct stat *st)
{
	struct shield_ofd *o = shield_fd_get(fd);
	int r;

	if (o == NULL)
		return REAL(fstat64)(fd, (struct stat64 *)st);
	r = fstat_protected(o, st);
	shield_ofd_put(o);
	return r;
}

SHIELD_EXPORT int stat(const char *path, struct stat *st)
{
	return do_fstatat(AT_FDCWD, path, st, 0);
}

SHIELD_EXPORT int stat64(const char *path, struct stat64 *st)
{
	return do_fstatat(AT_FDCWD, path, (struct stat *)st, 0);
}

SHIELD_EXPORT int lstat(const char *path, struct stat *st)
{
	return do_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

SHIELD_EXPORT int lstat64(const char *path, struct stat64 *st)
{
	return do_fstatat(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW);
}

SHIELD_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	return do_fstatat(dirfd, path, st, flags);
}

SHIELD_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return do_fstatat(dirfd, path, (struct stat *)st, flags);
}

SHIELD_EXPORT int fstat(int fd, struct stat *st)
{
	return do_fstat(fd, st);
}

SHIELD_EXPORT int fstat64(int fd, struct stat64 *st)
{
	return do_fstat(fd, (struct stat *)st);
}

/* The stat functions of binaries built against glibc before 2.33. */
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat *st, int flags);

SHIELD_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	(void)ver; /* 1 (_STAT_VER_LINUX) on x86-64: the kernel's layout */
	return do_fstatat(AT_FDCWD, path, st, 0);
}

SHIELD_EXPORT int __xstat64(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return do_fstatat(AT_FDCWD, path, st, 0);
}

SHIELD_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return do_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

SHIELD_EXPORT int __lxstat64(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return do_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

SHIELD_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	(void)ver;
	return do_fstat(fd, st);
}

SHIELD_EXPORT int __fxstat64(int ver, int fd, struct stat *st)
{
	(void)ver;
	return do_fstat(fd, st);
}

SHIELD_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	(void)ver;
	return do_fstatat(dirfd, path, st, flags);
}

SHIELD_EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	(void)ver;
	return do_fstatat(dirfd, path, st, flags);
}

static void statx_ts(struct statx_timestamp *t, const struct timespec *ts)
{
	t->tv_sec = ts->tv_sec;
	t->tv_nsec = (uint32_t)ts->tv_nsec;
}

SHIELD_EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask,
			struct statx *sx)
{
	struct stat st;
	int r;

	path = opaque(path);
	if (path != NULL && path[0] == '\0' && (flags & AT_EMPTY_PATH)) {
		if (!shield_fd_is_protected(dirfd))
			return REAL(statx)(dirfd, path, flags, mask, sx);
		if (do_fstatat(dirfd, "", &st, AT_EMPTY_PATH) < 0)
			return -1;
	} else {
		struct shield_path p;

		r = shield_resolve(dirfd, path, &p);
		if (r < 0)
			return -1;
		if (r == 0)
			return REAL(statx)(dirfd, p.path, flags, mask, sx);
		if (stat_protected(&p, !(flags & AT_SYMLINK_NOFOLLOW), &st) < 0)
			return -1;
	}
	memset(sx, 0, sizeof(*sx));
	sx->stx_mask = STATX_BASIC_STATS & ~STATX_ATIME;
	sx->stx_blksize = (uint32_t)st.st_blksize;
	sx->stx_nlink = (uint32_t)st.st_nlink;
	sx->stx_uid = st.st_uid;
	sx->stx_gid = st.st_gid;
	sx->stx_mode = (uint16_t)st.st_mode;
	sx->stx_ino = st.st_ino;
	sx->stx_size = (uint64_t)st.st_size;
	sx->stx_blocks = (uint64_t)st.st_blocks;
	statx_ts(&sx->stx_atime, &st.st_atim);
	statx_ts(&sx->stx_mtime, &st.st_mtim);
	statx_ts(&sx->stx_ctime, &st.st_ctim);
	sx->stx_dev_major = major(st.st_dev);
	sx->stx_dev_minor = minor(st.st_dev);
	return 0;
}

/* ---- access ---- */

static int do_faccessat(int dirfd, const char *path, int mode, int flags, int fl_version)
{
	struct shield_path p;
	struct shelter_stat s;
	int r = shield_resolve(dirfd, path, &p);

	if (r < 0)
		return -1;
	if (r == 0)
		return fl_version ? REAL(faccessat)(dirfd, p.path, mode, flags) : REAL(access)(p.path, mode);
	if (shield_follow(&p, !(flags & AT_SYMLINK_NOFOLLOW), &s) < 0)
		return -1;
	/* The process owns every file of its volumes: the owner bits decide. */
	if (((mode & R_OK) && !(s.mode & 0400)) || ((mode & W_OK) && !(s.mode & 0200)) ||
	    ((mode & X_OK) && !(s.mode & 0100)))
		return geteuid() == 0 && !(mode & X_OK) ? 0 : shield_fail(EACCES);
	return 0;
}

SHIELD_EXPORT int access(const char *path, int mode)
{
	return do_faccessat(AT_FDCWD, path, mode, 0, 0);
}

SHIELD_EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	return do_faccessat(dirfd, path, mode, flags, 1);
}

SHIELD_EXPORT int euidaccess(const char *path, int mode)
{
	return do_faccessat(AT_FDCWD, path, mode, AT_EACCESS, 1);
}

SHIELD_EXPORT int eaccess(const char *path, int mode)
{
	return do_faccessat(AT_FDCWD, path, mode, AT_EACCESS, 1);
}

/* ---- changing the tree ---- */

static int do_truncate(const char *path, off_t size)
{
	struct shield_path p;
	struct shelter_err err;
	int r = shield_resolve(AT_FDCWD, path, &p), rc;

	if (r <= 0)
		return r < 0 ? -1 : REAL(truncate64)(p.path, size);
	if (size < 0)
		return shield_fail(EINVAL);
	shelter_err_clear(&err);
	rc = shelter_volume_truncate(p.m->vol, p.path, (uint64_t)size, &err);
	return rc != 0 ? lib_fail(&p, rc, "truncate", &err) : 0;
}

SHIELD_EXPORT int truncate(const char *path, off_t size)
{
	return do_truncate(path, size);
}

SHIELD_EXPORT int truncate64(const char *path, off_t size)
{
	return do_truncate(path, size);
}

static int do_renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags)
{
	struct shield_path a, b;
	struct shelter_stat st;
	struct shelter_err err;
	int ra = shield_resolve(fromfd, from, &a), rb, rc;

	if (ra < 0 || (rb = shield_resolve(tofd, to, &b)) < 0)
		return -1;
	if (ra == 0 && rb == 0)
		return flags ? REAL(renameat2)(fromfd, a.path, tofd, b.path, flags)
			     : REAL(renameat)(fromfd, a.path, tofd, b.path);
	if (a.m != b.m)
		return shield_fail(EXDEV);
	if (flags & ~RENAME_NOREPLACE)
		return shield_fail(EINVAL); /* RENAME_EXCHANGE and WHITEOUT have no volume operation */
	shelter_err_clear(&err);
	if ((flags & RENAME_NOREPLACE) && shelter_volume_stat(b.m->vol, b.path, &st, &err) == 0)
		return shield_fail(EEXIST);
	rc = shelter_volume_rename(a.m->vol, a.path, b.path, &err);
	return rc != 0 ? lib_fail(&a, rc, "rename", &err) : 0;
}

SHIELD_EXPORT int rename(const char *from, const char *to)
{
	return do_renameat2(AT_FDCWD, from, AT_FDCWD, to, 0);
}

SHIELD_EXPORT int renameat(int fromfd, const char *from, int tofd, const char *to)
{
	return do_renameat2(fromfd, from, tofd, to, 0);
}

SHIELD_EXPORT int renameat2(int fromfd, const char *from, int tofd, const char *to,
			    unsigned int flags)
{
	return do_renameat2(fromfd, from, tofd, to, flags);
}

static int do_unlinkat(int dirfd, const char *path, int flags, int which)
{
	struct shield_path p;
	struct shelter_err err;
	int r = shield_resolve(dirfd, path, &p), rc;

	if (r < 0)
		return -1;
	if (r == 0)
		return which == 1 ? REAL(unlink)(p.path)
		       : which == 2 ? REAL(rmdir)(p.path)
				    : REAL(unlinkat)(dirfd, p.path, flags);
	if (p.path[0] == '\0')
		return shield_fail(EBUSY); /* the mount itself */
	shelter_err_clear(&err);
	rc = (flags & AT_REMOVEDIR) ? shelter_volume_rmdir(p.m->vol, p.path, &err)
				    : shelter_volume_unlink(p.m->vol, p.path, &err);
	return rc != 0 ? lib_fail(&p, rc, (flags & AT_REMOVEDIR) ? "rmdir" : "unlink", &err) : 0;
}

SHIELD_EXPORT int unlink(const char *path)
{
	return do_unlinkat(AT_FDCWD, path, 0, 1);
}

SHIELD_EXPORT int rmdir(const char *path)
{
	return do_unlinkat(AT_FDCWD, path, AT_REMOVEDIR, 2);
}

SHIELD_EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
	return do_unlinkat(dirfd, path, flags, 0);
}

static int do_mkdirat(int dirfd, const char *path, mode_t mode)
{
	struct shield_path p;
	struct shelter_err err;
	int r = shield_resolve(dirfd, path, &p), rc;

	if (r < 0)
		return -1;
	if (r == 0)
		return REAL(mkdirat)(dirfd, p.path, mode);
	if (p.path[0] == '\0')
		return shield_fail(EEXIST);
	shelter_err_clear(&err);
	rc = shelter_volume_mkdir(p.m->vol, p.path, mode & ~shield_umask() & 07777, &err);
	return rc != 0 ? lib_fail(&p, rc, "mkdir", &err) : 0;
}

SHIELD_EXPORT int mkdir(const char *path, mode_t mode)
{
	return do_mkdirat(AT_FDCWD, path, mode);
}

SHIELD_EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
	return do_mkdirat(dirfd, path, mode);
}

static int do_symlinkat(const char *target, int dirfd, const char *path)
{
	struct shield_path p;
	struct shelter_err err;
	int r = shield_resolve(dirfd, path, &p), rc;

	if (r <= 0)
		return r < 0 ? -1 : REAL(symlinkat)(target, dirfd, p.path);
	shelter_err_clear(&err);
	rc = shelter_volume_symlink(p.m->vol, target, p.path, &err);
	return rc != 0 ? lib_fail(&p, rc, "symlink", &err) : 0;
}

SHIELD_EXPORT int symlink(const char *target, const char *path)
{
	return do_symlinkat(target, AT_FDCWD, path);
}

SHIELD_EXPORT int symlinkat(const char *target, int dirfd, const char *path)
{
	return do_symlinkat(target, dirfd, path);
}

static ssize_t do_readlinkat(int dirfd, const char *path, char *buf, size_t size)
{
	struct shield_path p;
	struct shelter_stat st;
	struct shelter_err err;
	char target[PATH_MAX];
	int r = shield_resolve(dirfd, path, &p), rc;

	if (r <= 0)
		return r < 0 ? -1 : REAL(readlinkat)(dirfd, p.path, buf, size);
	shelter_err_clear(&err);
	rc = shelter_volume_stat(p.m->vol, p.path, &st, &err);
	if (rc == 0 && st.type != SHELTER_FT_LNK)
		return shield_fail(EINVAL);
	if (rc == 0)
		rc = shelter_volume_readlink(p.m->vol, p.path, target, sizeof(target), &err);
	if (rc != 0)
		return lib_fail(&p, rc, "readlink", &err);
	size_t n = strlen(target) < size ? strlen(target) : size; /* no NUL, as readlink(2) */
	memcpy(buf, target, n);
	return (ssize_t)n;
}

SHIELD_EXPORT ssize_t readlink(const char *path, char *buf, size_t size)
{
	return do_readlinkat(AT_FDCWD, path, buf, size);
}

SHIELD_EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t size)
{
	return do_readlinkat(dirfd, path, buf, size);
}

/* Hard links and special files have no volume operation (volume.md §11). */
static int refuse_link(int fromfd, const char *from, int tofd, const char *to, int flags)
{
	struct shield_path a, b;
	int ra = shield_resolve(fromfd, from, &a), rb;

	if (ra < 0 || (rb = shield_resolve(tofd, to, &b)) < 0)
		return -1;
	if (ra == 0 && rb == 0)
		return REAL(linkat)(fromfd, a.path, tofd, b.path, flags);
	return shield_fail(a.m != b.m ? EXDEV : EPERM);
}

SHIELD_EXPORT int link(const char *from, const char *to)
{
	return refuse_link(AT_FDCWD, from, AT_FDCWD, to, 0);
}

SHIELD_EXPORT int linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
	return refuse_link(fromfd, from, tofd, to, flags);
}

SHIELD_EXPORT int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	struct shield_path p;
	int r = shield_resolve(dirfd, path, &p);

	if (r <= 0)
		return r < 0 ? -1 : REAL(mknodat)(dirfd, p.path, mode, dev);
	return shield_fail(EPERM);
}

SHIELD_EXPORT int mknod(const char *path, mode_t mode, dev_t dev)
{
	return mknodat(AT_FDCWD, path, mode, dev);
}

SHIELD_EXPORT int mkfifo(const char *path, mode_t mode)
{
	return mknodat(AT_FDCWD, path, mode | S_IFIFO, 0);
}

SHIELD_EXPORT int mkfifoat(int dirfd, const char *path, mode_t mode)
{
	return mknodat(dirfd, path, mode | S_IFIFO, 0);
}

/* ---- permissions, owners, times ---- */

static int do_fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	struct shield_path p;
	struct shelter_stat s;
	struct shelter_err err;
	int r = shield_resolve(dirfd, path, &p), rc;

	if (r <= 0)
		return r < 0 ? -1 : REAL(fchmodat)(dirfd, p.path, mode, flags);
	if (shield_follow(&p, !(flags & AT_SYMLINK_NOFOLLOW), &s) < 0)
		return -1;
	shelter_err_clear(&err);
	rc = shelter_volume_chmod(p.m->vol, p.path, mode & 07777, &err);
	return rc != 0 ? lib_fail(&p, rc, "chmod", &err) : 0;
}

SHIELD_EXPORT int chmod(const char *path, mode_t mode)
{
	return do_fchmodat(AT_FDCWD, path, mode, 0);
}

SHIELD_EXPORT int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	return do_fchmodat(dirfd, path, mode, flags);
}

SHIELD_EXPORT int fchmod(int fd, mode_t mode)
{
	struct shield_ofd *o = shield_fd_get(fd);
	struct shelter_err err;
	int rc;

	if (o == NULL)
		return REAL(fchmod)(fd, mode);
	shelter_err_clear(&err);
	rc = shelter_volume_chmod(o->m->vol, o->path, mode & 07777, &err);
	if (rc != 0)
		errno = shield_errno(rc, "chmod", o->m->path, o->path, &err);
	shield_ofd_put(o);
	return rc != 0 ? -1 : 0;
}

/* Owners and times: nothing to store, but the node must exist (§5.2). */
static int exists_or_real(int dirfd, const char *path, int *handled)
{
	struct shield_path p;
	struct shelter_stat s;
	int r = shield_resolve(dirfd, path, &p);

	*handled = r != 0;
	if (r <= 0)
		return r;
	return shield_follow(&p, 1, &s);
}

SHIELD_EXPORT int chown(const char *path, uid_t uid, gid_t gid)
{
	int handled, r = exists_or_real(AT_FDCWD, path, &handled);

	return handled ? r : REAL(chown)(path, uid, gid);
}

SHIELD_EXPORT int lchown(const char *path, uid_t uid, gid_t gid)
{
	int handled, r = exists_or_real(AT_FDCWD, path, &handled);

	return handled ? r : REAL(lchown)(path, uid, gid);
}

SHIELD_EXPORT int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	int handled, r;

	path = opaque(path);
	if ((flags & AT_EMPTY_PATH) && path != NULL && path[0] == '\0')
		return shield_fd_is_protected(dirfd) ? 0 : REAL(fchownat)(dirfd, path, uid, gid, flags);
	r = exists_or_real(dirfd, path, &handled);
	return handled ? r : REAL(fchownat)(dirfd, path, uid, gid, flags);
}

SHIELD_EXPORT int fchown(int fd, uid_t uid, gid_t gid)
{
	return shield_fd_is_protected(fd) ? 0 : REAL(fchown)(fd, uid, gid);
}

SHIELD_EXPORT int utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
	int handled, r;

	path = opaque(path);
	if (path == NULL) /* futimens */
		return shield_fd_is_protected(dirfd) ? 0 : REAL(utimensat)(dirfd, opaque(path), times, flags);
	r = exists_or_real(dirfd, path, &handled);
	return handled ? r : REAL(utimensat)(dirfd, path, times, flags);
}

SHIELD_EXPORT int futimens(int fd, const struct timespec times[2])
{
	return shield_fd_is_protected(fd) ? 0 : REAL(futimens)(fd, times);
}

SHIELD_EXPORT int utimes(const char *path, const struct timeval times[2])
{
	int handled, r = exists_or_real(AT_FDCWD, path, &handled);

	return handled ? r : REAL(utimes)(path, times);
}

SHIELD_EXPORT int utime(const char *path, const struct utimbuf *times)
{
	int handled, r = exists_or_real(AT_FDCWD, path, &handled);

	return handled ? r : REAL(utime)(path, times);
}

/* ---- file system information: the host's, where the ciphertext lives ---- */

SHIELD_EXPORT int statfs(const char *path, struct statfs *buf)
{
	struct shield_path p;
	int r = shield_resolve(AT_FDCWD, path, &p);

	return r < 0 ? -1 : REAL(statfs)(r == 1 ? p.m->host : p.path, buf);
}

SHIELD_EXPORT int statvfs(const char *path, struct statvfs *buf)
{
	struct shield_path p;
	int r = shield_resolve(AT_FDCWD, path, &p);

	return r < 0 ? -1 : REAL(statvfs)(r == 1 ? p.m->host : p.path, buf);
}

SHIELD_EXPORT int fstatfs(int fd, struct statfs *buf)
{
	struct shield_ofd *o = shield_fd_get(fd);
	int r;

	if (o == NULL)
		return REAL(fstatfs)(fd, buf);
	r = REAL(fstatfs)(o->m->placeholder_dir, buf);
	shield_ofd_put(o);
	return r;
}

SHIELD_EXPORT int fstatvfs(int fd, struct statvfs *buf)
{
	struct shield_ofd *o = shield_fd_get(fd);
	int r;

	if (o == NULL)
		return REAL(fstatvfs)(fd, buf);
	r = REAL(fstatvfs)(o->m->placeholder_dir, buf);
	shield_ofd_put(o);
	return r;
}

/* ---- the working directory ---- */

SHIELD_EXPORT int chdir(const char *path)
{
	struct shield_path p;
	struct shelter_stat s;
	int r = shield_resolve(AT_FDCWD, path, &p);

	if (r < 0)
		return -1;
	if (r == 0) {
		if (REAL(chdir)(p.path) < 0)
			return -1;
		return shield_chdir(&p);
	}
	if (shield_follow(&p, 1, &s) < 0)
		return -1;
	return s.type != SHELTER_FT_DIR ? shield_fail(ENOTDIR) : shield_chdir(&p);
}

SHIELD_EXPORT int fchdir(int fd)
{
	struct shield_ofd *o = shield_fd_get(fd);
	struct shield_path p = { 0 };
	int r;

	if (o == NULL) {
		if (REAL(fchdir)(fd) < 0)
			return -1;
		return shield_chdir(&p);
	}
	p.m = o->m;
	snprintf(p.path, sizeof(p.path), "%s", o->path);
	r = o->file != NULL ? shield_fail(ENOTDIR) : shield_chdir(&p);
	shield_ofd_put(o);
	return r;
}

SHIELD_EXPORT char *getcwd(char *buf, size_t size)
{
	char tmp[PATH_MAX];

	if (!shield_cwd_is_virtual())
		return REAL(getcwd)(buf, size);
	if (buf != NULL)
		return size == 0 ? (errno = EINVAL, NULL) : shield_getcwd_virtual(buf, size);
	if (shield_getcwd_virtual(tmp, sizeof(tmp)) == NULL)
		return NULL;
	if (size != 0 && strlen(tmp) + 1 > size)
		return errno = ERANGE, NULL;
	return strdup(tmp);
}

SHIELD_EXPORT char *get_current_dir_name(void)
{
	return shield_cwd_is_virtual() ? getcwd(NULL, 0) : REAL(get_current_dir_name)();
}

/* realpath: the kernel cannot resolve a protected path (nor a relative one from a
 * virtual working directory), so those are resolved here, links followed. */
SHIELD_EXPORT char *realpath(const char *path, char *resolved)
{
	struct shield_path p;
	struct shelter_stat s;
	char abs[PATH_MAX];
	int r = shield_resolve(AT_FDCWD, path, &p), n;

	if (r < 0)
		return NULL;
	if (r == 0)
		return REAL(realpath)(p.path, resolved);
	if (shield_follow(&p, 1, &s) < 0)
		return NULL;
	n = snprintf(abs, sizeof(abs), "%s%s%s", p.m->path, p.path[0] ? "/" : "", p.path);
	if (n < 0 || (size_t)n >= sizeof(abs))
		return errno = ENAMETOOLONG, NULL;
	if (resolved == NULL)
		return strdup(abs);
	return memcpy(resolved, abs, (size_t)n + 1);
}

SHIELD_EXPORT char *canonicalize_file_name(const char *path)
{
	return realpath(path, NULL);
}

/* ---- temporary names: glibc's mkstemp family opens with its internal open ---- */

/* Fill the 6 X's before suffixlen trailing bytes of tmpl; -1 EINVAL when absent. */
static int fill_x(char *tmpl, int suffixlen)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t len = strlen(tmpl);
	unsigned char rnd[6];
	char *x;

	if (suffixlen < 0 || len < 6 + (size_t)suffixlen)
		return shield_fail(EINVAL);
	x = tmpl + len - suffixlen - 6;
	if (memcmp(x, "XXXXXX", 6) != 0)
		return shield_fail(EINVAL);
	if (getentropy(rnd, sizeof(rnd)) < 0)
		return -1;
	for (int i = 0; i < 6; i++)
		x[i] = set[rnd[i] % (sizeof(set) - 1)];
	return 0;
}

/* 1 when the template names a protected path (the X's do not change that). */
static int tmpl_protected(const char *tmpl)
{
	struct shield_path p;

	return shield_resolve(AT_FDCWD, tmpl, &p) == 1;
}

static int make_temp(char *tmpl, int suffixlen, int flags)
{
	char saved[PATH_MAX];

	if (strlen(tmpl) >= sizeof(saved))
		return shield_fail(ENAMETOOLONG);
	memcpy(saved, tmpl, strlen(tmpl) + 1);
	for (int tries = 0; tries < 100; tries++) {
		int fd;

		memcpy(tmpl, saved, strlen(saved) + 1);
		if (fill_x(tmpl, suffixlen) < 0)
			return -1;
		fd = open(tmpl, (flags & ~O_ACCMODE) | O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return shield_fail(EEXIST);
}

SHIELD_EXPORT int mkstemp(char *tmpl)
{
	return tmpl_protected(tmpl) ? make_temp(tmpl, 0, 0) : REAL(mkstemp)(tmpl);
}

SHIELD_EXPORT int mkstemp64(char *tmpl)
{
	return mkstemp(tmpl);
}

SHIELD_EXPORT int mkostemp(char *tmpl, int flags)
{
	return tmpl_protected(tmpl) ? make_temp(tmpl, 0, flags) : REAL(mkostemp)(tmpl, flags);
}

SHIELD_EXPORT int mkostemp64(char *tmpl, int flags)
{
	return mkostemp(tmpl, flags);
}

SHIELD_EXPORT int mkstemps(char *tmpl, int suffixlen)
{
	return tmpl_protected(tmpl) ? make_temp(tmpl, suffixlen, 0) : REAL(mkstemps)(tmpl, suffixlen);
}

SHIELD_EXPORT int mkostemps(char *tmpl, int suffixlen, int flags)
{
	return tmpl_protected(tmpl) ? make_temp(tmpl, suffixlen, flags)
				    : REAL(mkostemps)(tmpl, suffixlen, flags);
}

SHIELD_EXPORT char *mkdtemp(char *tmpl)
{
	char saved[PATH_MAX];

	if (!tmpl_protected(tmpl))
		return REAL(mkdtemp)(tmpl);
	if (strlen(tmpl) >= sizeof(saved))
		return errno = ENAMETOOLONG, NULL;
	memcpy(saved, tmpl, strlen(tmpl) + 1);
	for (int tries = 0; tries < 100; tries++) {
		memcpy(tmpl, saved, strlen(saved) + 1);
		if (fill_x(tmpl, 0) < 0)
			return NULL;
		if (mkdir(tmpl, 0700) == 0)
			return tmpl;
		if (errno != EEXIST)
			return NULL;
	}
	return errno = EEXIST, NULL;
}

/* ---- _FORTIFY_SOURCE entry points: glibc's call its internal functions ---- */

char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen);
char *__getcwd_chk(char *buf, size_t size, size_t buflen);
ssize_t __readlink_chk(const char *path, char *buf, size_t size, size_t buflen);
ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t size, size_t buflen);

SHIELD_EXPORT char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen)
{
	if (resolved != NULL && resolvedlen < PATH_MAX)
		abort(); /* glibc's __chk_fail: the program's buffer is too small */
	return realpath(path, resolved);
}

SHIELD_EXPORT char *__getcwd_chk(char *buf, size_t size, size_t buflen)
{
	if (size > buflen)
		abort();
	return getcwd(buf, size);
}

SHIELD_EXPORT ssize_t __readlink_chk(const char *path, char *buf, size_t size, size_t buflen)
{
	if (size > buflen)
		abort();
	return readlink(path, buf, size);
}

SHIELD_EXPORT ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t size,
				       size_t buflen)
{
	if (size > buflen)
		abort();
	return readlinkat(dirfd, path, buf, size);
}
