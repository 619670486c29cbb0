/* The shield's internal interfaces (docs/shield.md).
 *
 * The shield is a shared library preloaded into an unmodified, dynamically linked
 * program (`shelter run`). Before main() it attests or unseals, opens the program's
 * protected volumes and registers each under its mount path (launch.c); from then
 * on, the libc functions it interposes send every operation on a path under a mount
 * path, or on a descriptor opened there, to the volume library, and pass everything
 * else to libc unchanged.
 *
 * Layers: launch.c (start-up, keys, tags) -> mount.c (mount table, path
 * resolution, virtual working directory) -> fdtab.c (descriptors that stand for
 * protected files) -> io.c, fs.c, dir.c, stdio.c (the interposed functions).
 *
 * Descriptors. A protected file open in the program is a real descriptor of the
 * process (a "placeholder": an O_PATH descriptor of the volume's host directory),
 * so numbers are allocated, inherited and closed by the kernel exactly as for any
 * file, and a call the shield does not interpose fails with EBADF instead of
 * touching ciphertext. The fd table maps the number to a struct shield_ofd, the open
 * file description: offset, flags and the volume handle, shared by dup'ed
 * descriptors as POSIX shares it.
 *
 * Ownership: mounts live until exit (never freed: the program may use them from
 * any thread at any time, and atexit handlers of the program run after ours). An
 * ofd is reference-counted: shield_fd_get returns a reference the caller drops
 * with shield_ofd_put.
 * Thread safety: every function here may be called from any thread; the fast path
 * (a descriptor or path that is not protected) takes no lock.
 */
#ifndef SHELTER_SHIELD_H
#define SHELTER_SHIELD_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "shelter/error.h"
#include "shelter/volume.h"

/* Functions the shield exports to the program (the interposed libc symbols). */
#define SHIELD_EXPORT __attribute__((visibility("default")))

/* ---- log.c: one line per event on stderr (docs/shield.md §Logging) ---- */

/* "shelter-shield[PID]: MESSAGE". Never logs key material. */
void shield_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A security event ("security: ..."): a failed integrity check, a refusal. */
void shield_security(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Fail closed before main(): log the reason and _exit(SHIELD_EXIT_REFUSED). */
_Noreturn void shield_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define SHIELD_EXIT_REFUSED 126

/* errno = e; -1: the return of a libc function that failed. */
static inline int shield_fail(int e)
{
	errno = e;
	return -1;
}

/* errno for a library code; logs a security event for integrity codes, naming
 * the mount and path (what = "read", "open", ...). Returns the errno value. */
int shield_errno(int code, const char *what, const char *mount, const char *path,
		 const struct shelter_err *err);

/* ---- real.c: libc's own definition of every interposed function ---- */

/* REAL(open)(path, flags, mode) calls the next definition of open after the
 * shield's (dlsym(RTLD_NEXT)), looked up once and cached. A failed lookup aborts:
 * the shield cannot work without libc. */
void *shield_real_lookup(void *_Atomic *slot, const char *name);
#define REAL(name)                                                                      \
	(__extension__({                                                                \
		static void *_Atomic shield_slot_;                                      \
		void *fn_ = atomic_load_explicit(&shield_slot_, memory_order_acquire);  \
		(__typeof__(&name))(fn_ ? fn_ : shield_real_lookup(&shield_slot_, #name)); \
	}))

/* ---- mount.c: mounts, paths, working directory ---- */

struct shield_mount {
	char *path;            /* mount path as the program sees it: absolute,
				  normalised, no trailing '/' */
	size_t len;            /* strlen(path) */
	char *name;            /* volume name (CAS) or the mount path (embedded) */
	char *host;            /* host directory holding the ciphertext */
	struct shelter_volume *vol;
	dev_t dev;             /* st_dev reported for its files: the host dir's */
	int placeholder_dir;   /* O_PATH descriptor of host, dup'ed for placeholders */
};

/* Register a volume under path (absolute; normalised here). Takes ownership of
 * vol. Only before main() (launch.c): the table is read without locks later. */
int shield_mount_add(const char *path, const char *name, const char *host,
		     struct shelter_volume *vol, struct shelter_err *err);
size_t shield_mount_count(void);
struct shield_mount *shield_mount_get(size_t i);

/* A path as the program named it, resolved. */
struct shield_path {
	struct shield_mount *m; /* NULL: not protected */
	/* protected: the path inside the volume ("" for its root);
	   not protected: the path to give the kernel (the caller's own path when the
	   working directory is the kernel's, else made absolute) */
	char path[PATH_MAX];
};

/* Resolve path relative to dirfd (AT_FDCWD or a descriptor) the way the kernel
 * would, with "." and ".." applied lexically. Returns 1 when the path is under a
 * mount, 0 when it is not, -1 with errno set (ENAMETOOLONG, ENOENT for "",
 * EBADF). A protected directory descriptor as dirfd makes the path protected. */
int shield_resolve(int dirfd, const char *path, struct shield_path *out);

/* The virtual working directory: set when the program chdir()s into a mount
 * (the kernel's stays where it was), cleared when it leaves. */
int shield_chdir(const struct shield_path *p);
/* Copy the working directory into buf as getcwd(3) would; NULL and errno when
 * the working directory is not virtual (ENOENT) or buf is too small (ERANGE). */
char *shield_getcwd_virtual(char *buf, size_t size);
int shield_cwd_is_virtual(void);

/* ---- fdtab.c: descriptors of protected files and directories ---- */

struct shield_ofd {
	atomic_int refs;
	pthread_mutex_t lock;      /* offset, dir state */
	struct shield_mount *m;
	struct shelter_file *file; /* NULL for a directory */
	char *path;                /* inside the volume, as opened (fchdir, locks) */
	uint64_t ino;
	int flags;                 /* open(2) flags, O_APPEND|O_NONBLOCK changeable */
	int lockfd;                /* record locks forwarded here; -1 until needed */
	int slot;                  /* the offset's slot in the shared pool (fdtab.c) */
	struct shield_ofd *prev, *next; /* every live ofd of the process (fork) */
};

/* The file offset of an open file description. It lives in memory shared with
 * forked children, as the kernel shares an inherited description's offset:
 * a child's write moves the parent's offset too (§3). Read and set it under
 * o->lock; another process may move it between the two. */
uint64_t shield_ofd_off(const struct shield_ofd *o);
void shield_ofd_set_off(struct shield_ofd *o, uint64_t off);

/* A new ofd for an opened file (file may be NULL for a directory), one ref;
 * NULL with errno (ENOMEM, ENFILE when the offset pool is full). */
struct shield_ofd *shield_ofd_new(struct shield_mount *m, struct shelter_file *file,
				  const char *path, uint64_t ino, int flags);
void shield_ofd_put(struct shield_ofd *o);

/* The attributes of o's node (its file, or its directory), as what ("stat",
 * "lock"...) names the call in the errors it logs; -1 with errno. */
int shield_ofd_stat(struct shield_ofd *o, const char *what, struct shelter_stat *out);

/* The descriptor of o's lock file (fd.c, §4), opened on first use; -1 with errno
 * ENOLCK when the runtime directory cannot be used. Closed with the ofd. */
int shield_ofd_lockfd(struct shield_ofd *o);

/* A placeholder descriptor for m (O_CLOEXEC when cloexec), -1 with errno. */
int shield_placeholder(struct shield_mount *m, int cloexec);
/* Make fd stand for o (takes a new reference). */
void shield_fd_set(int fd, struct shield_ofd *o);
/* The ofd behind fd with a reference, or NULL when fd is not protected. The
 * unprotected case is one atomic load. */
struct shield_ofd *shield_fd_get(int fd);
/* Forget fd (before the kernel closes it); drops the table's reference. */
void shield_fd_clear(int fd);
/* Forget every protected descriptor in [first, last] (close_range, closefrom). */
void shield_fd_clear_range(unsigned int first, unsigned int last);
/* 1 when fd is protected (no reference taken). */
int shield_fd_is_protected(int fd);

/* ---- shared by the interposed functions ---- */

struct stat;
/* Fill a struct stat for a protected node as the kernel would for a file of
 * the program's own (fs.c): st_dev of the host directory, uid/gid the process's
 * effective ones, atime = mtime. */
void shield_stat_fill(const struct shield_mount *m, const struct shelter_stat *s,
		      struct stat *st);
/* Stat the protected p into *st; with follow, a symbolic link in its last
 * component is followed within the volume and p updated to the target (fs.c).
 * -1 with errno. */
int shield_follow(struct shield_path *p, int follow, struct shelter_stat *st);
/* The process's umask, tracked by the interposed umask() (fs.c). */
mode_t shield_umask(void);
/* The program synced a file of m (fsync, fdatasync): launch.c records m's tag
 * when it is due (§6). For a volume bound to a freshness service (§6.6) it returns
 * only once the service endorsed the volume's tag: -1 (logged as a security event)
 * when it could not, and the sync must then fail with EIO; 0 otherwise. */
int shield_tags_note_sync(struct shield_mount *m);

#endif
