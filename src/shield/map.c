/* Interposed memory mappings of protected files (docs/shield.md §4.1).
 *
 * The kernel cannot map a protected file: it only has ciphertext. A mapping is an
 * anonymous one filled with the plaintext.
 * - MAP_PRIVATE: exactly what it promises; the program's stores stay its own.
 * - MAP_SHARED: the stores are written back to the file by msync, by munmap and
 *   at exit (memcached's restartable cache, `-e`, works this way: it msyncs and
 *   unmaps at a graceful stop). The mapping is the process's own: another process
 *   (a forked child included) does not see its stores until they are written
 *   back, and it does not see writes made through write(2) after it was made.
 *   A store that was never written back is lost on a crash, as a store to a
 *   kernel mapping that was never synced may be.
 * Whole mapped ranges are written back (the shield cannot tell which pages are
 * dirty), never past the end of the file at the time of the write-back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shield/shield.h"

#define SHARED_MAX 256

struct shared_map {
	char *addr;
	size_t len;
	uint64_t off; /* file offset of addr */
	struct shield_ofd *o;
	int writable;
	pid_t pid; /* the process that mapped it: a forked child's copy is never
		      written back, it would overwrite the parent's newer stores */
};

static struct shared_map shared[SHARED_MAX];
static size_t nshared;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

static long page_size(void)
{
	static long ps;

	if (ps == 0)
		ps = sysconf(_SC_PAGESIZE);
	return ps;
}

/* Write [from, from+len) of map m back to its file (clipped to the file size). */
static int write_back(const struct shared_map *m, char *from, size_t len)
{
	struct shelter_stat st;
	struct shelter_err err;
	uint64_t off = m->off + (uint64_t)(from - m->addr);
	int rc;

	if (!m->writable || len == 0 || m->pid != getpid())
		return 0;
	shelter_err_clear(&err);
	rc = shelter_file_stat(m->o->file, &st, &err);
	if (rc == 0 && off < st.size) {
		if (len > st.size - off)
			len = (size_t)(st.size - off);
		rc = shelter_file_pwrite(m->o->file, from, len, off, NULL, &err);
	}
	if (rc != 0) {
		errno = shield_errno(rc, "write back mapping of", m->o->m->path, m->o->path, &err);
		return -1;
	}
	return 0;
}

/* The overlap of [a, a+alen) with map m, or len 0. */
static size_t overlap(const struct shared_map *m, char *a, size_t alen, char **start)
{
	char *lo = a > m->addr ? a : m->addr;
	char *hi = a + alen < m->addr + m->len ? a + alen : m->addr + m->len;

	*start = lo;
	return hi > lo ? (size_t)(hi - lo) : 0;
}

static void *map_anon_filled(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	size_t done = 0;
	void *p = REAL(mmap64)(addr, len, PROT_READ | PROT_WRITE,
			       (flags & ~MAP_TYPE) | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return p;
	/* Past the end of the file the pages stay zero (the kernel would raise
	 * SIGBUS beyond the last page; a zero is the kinder failure). */
	while (done < len) {
		ssize_t n = pread(fd, (char *)p + done, len - done, off + (off_t)done);

		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	if (REAL(mprotect)(p, len, prot) < 0)
		goto fail;
	return p;
fail:;
	int saved = errno;
	REAL(munmap)(p, len);
	errno = saved;
	return MAP_FAILED;
}

/* Processes cannot share memory through a protected file (each holds its own
 * copy), so a second process's shared mapping of a file is refused rather than
 * silently diverging: sqlite's WAL index in two processes would lose commits.
 * An exclusive open-file-description lock far beyond any byte a program locks
 * marks "this process has it shared-mapped"; it is inherited by forked children
 * (whose copies are never written back) and released when the file's last
 * descriptor in the process closes. */
#define MAP_MARK_OFFSET ((off_t)1 << 62)

static int mark_shared(struct shield_ofd *o)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = MAP_MARK_OFFSET,
			    .l_len = 1 };
	int lfd = shield_ofd_lockfd(o);

	if (lfd < 0)
		return -1;
	if (REAL(fcntl)(lfd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES) {
		shield_log("mmap of %s/%s: another process has a shared mapping of this file; "
			   "processes cannot share memory through a protected file (docs/shield.md §4)",
			   o->m->path, o->path);
		errno = EBUSY;
	}
	return -1;
}

static void *map_protected(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	int kind = flags & MAP_TYPE, acc;
	struct shield_ofd *o = shield_fd_get(fd);
	void *p = MAP_FAILED;

	if (o == NULL || o->file == NULL) {
		errno = o == NULL ? EBADF : ENODEV;
		goto out;
	}
	acc = o->flags & O_ACCMODE;
	if (off < 0 || (off & (page_size() - 1)) != 0 || len == 0 ||
	    (kind != MAP_PRIVATE && kind != MAP_SHARED && kind != MAP_SHARED_VALIDATE)) {
		errno = EINVAL;
		goto out;
	}
	if (acc == O_WRONLY || (kind != MAP_PRIVATE && (prot & PROT_WRITE) && acc != O_RDWR)) {
		errno = EACCES;
		goto out;
	}
	if (kind != MAP_PRIVATE && mark_shared(o) < 0)
		goto out;
	p = map_anon_filled(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED || kind == MAP_PRIVATE)
		goto out;
	pthread_mutex_lock(&shared_lock);
	if (nshared == SHARED_MAX) {
		pthread_mutex_unlock(&shared_lock);
		shield_log("mmap of %s/%s: more than %d shared mappings of protected files",
			   o->m->path, o->path, SHARED_MAX);
		REAL(munmap)(p, len);
		p = MAP_FAILED;
		errno = ENOMEM;
		goto out;
	}
	shared[nshared++] = (struct shared_map){ .addr = p, .len = len, .off = (uint64_t)off,
						 .o = o, .writable = (prot & PROT_WRITE) != 0,
						 .pid = getpid() };
	o = NULL; /* the mapping keeps the reference, as a mapping keeps its file */
	pthread_mutex_unlock(&shared_lock);
out:
	shield_ofd_put(o);
	return p;
}

SHIELD_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if ((flags & MAP_ANONYMOUS) || !shield_fd_is_protected(fd))
		return REAL(mmap64)(addr, len, prot, flags, fd, off);
	return map_protected(addr, len, prot, flags, fd, off);
}

SHIELD_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

/* Write back every shared mapping overlapping [a, a+len); with sync, make it
 * durable too. The shield's entries are checked before the kernel's answer so
 * that a failed write-back is reported. */
static int flush_range(char *a, size_t len, int sync)
{
	int r = 0;

	pthread_mutex_lock(&shared_lock);
	for (size_t i = 0; i < nshared; i++) {
		char *start;
		size_t n = overlap(&shared[i], a, len, &start);

		if (n == 0)
			continue;
		if (write_back(&shared[i], start, n) < 0) {
			r = -1;
		} else if (sync && shared[i].writable && shared[i].pid == getpid()) {
			struct shelter_err err;
			int rc;

			shelter_err_clear(&err);
			rc = shelter_file_sync(shared[i].o->file, &err);
			if (rc != 0) {
				errno = shield_errno(rc, "msync", shared[i].o->m->path, shared[i].o->path, &err);
				r = -1;
			} else if (shield_tags_note_sync(shared[i].o->m) < 0) {
				errno = EIO; /* bound, not endorsed (§6.6) */
				r = -1;
			}
		}
	}
	pthread_mutex_unlock(&shared_lock);
	return r;
}

SHIELD_EXPORT int msync(void *addr, size_t len, int flags)
{
	int r = REAL(msync)(addr, len, flags);

	if (r == 0 && nshared > 0)
		r = flush_range(addr, len, (flags & MS_SYNC) != 0);
	return r;
}

/* Forget [a, a+len) of every shared mapping, after writing it back: an entry
 * covered whole is dropped, one cut at an end shrinks, one cut in the middle is
 * split in two. */
static int forget_range(char *a, size_t len)
{
	int r = 0;

	pthread_mutex_lock(&shared_lock);
	for (size_t i = 0; i < nshared;) {
		struct shared_map *m = &shared[i];
		char *start;
		size_t n = overlap(m, a, len, &start);

		if (n == 0) {
			i++;
			continue;
		}
		if (write_back(m, start, n) < 0)
			r = -1;
		char *end = start + n, *mend = m->addr + m->len;
		if (start == m->addr && end == mend) {
			shield_ofd_put(m->o);
			shared[i] = shared[--nshared];
			continue;
		}
		if (start == m->addr) {
			m->off += n;
			m->addr = end;
			m->len -= n;
		} else if (end == mend) {
			m->len -= n;
		} else if (nshared < SHARED_MAX) {
			struct shared_map tail = *m;

			tail.off += (uint64_t)(end - m->addr);
			tail.addr = end;
			tail.len = (size_t)(mend - end);
			atomic_fetch_add(&tail.o->refs, 1);
			m->len = (size_t)(start - m->addr);
			shared[nshared++] = tail;
		} else {
			m->len = (size_t)(start - m->addr); /* the tail is no longer tracked */
			shield_log("munmap of %s/%s: the rest of a split mapping is no longer written back",
				   m->o->m->path, m->o->path);
		}
		i++;
	}
	pthread_mutex_unlock(&shared_lock);
	return r;
}

SHIELD_EXPORT int munmap(void *addr, size_t len)
{
	if (nshared > 0 && forget_range(addr, len) < 0)
		shield_log("munmap: a shared mapping could not be written back (see above)");
	return REAL(munmap)(addr, len);
}

/* At exit, the stores the program never synced reach the file, as the kernel
 * writes back a shared mapping's dirty pages when the process ends. */
__attribute__((destructor)) static void map_at_exit(void)
{
	for (size_t i = 0; i < nshared; i++)
		if (flush_range(shared[i].addr, shared[i].len, 1) < 0)
			shield_log("exit: a shared mapping of %s/%s could not be written back",
				   shared[i].o->m->path, shared[i].o->path);
}
