/* Interposed mappings and in-kernel copies: mmap, sendfile, copy_file_range,
 * splice (docs/shield.md §4.3, §4.4).
 *
 * The kernel cannot map or copy a protected file: it only has ciphertext. A
 * private mapping is a private anonymous mapping filled with the plaintext (what
 * MAP_PRIVATE promises: the program's changes stay its own). A shared mapping would
 * need every store written back and other processes' writes seen: it is refused
 * with ENODEV and a log line. Copies run through a bounce buffer with the shield's
 * own read and write, so nginx's `sendfile on` serves decrypted bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "shield/shield.h"

#define BOUNCE (256u << 10) /* bytes copied per step */

static int fail(int e)
{
	errno = e;
	return -1;
}

static void *map_protected(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	int kind = flags & MAP_TYPE;
	size_t done = 0;
	void *p;

	if (kind != MAP_PRIVATE) {
		struct shield_ofd *o = shield_fd_get(fd);

		shield_log("mmap of %s/%s: shared mappings of protected files are refused",
			   o != NULL ? o->m->path : "?", o != NULL ? o->path : "?");
		shield_ofd_put(o);
		errno = ENODEV;
		return MAP_FAILED;
	}
	if (off < 0 || (off & 4095) != 0 || len == 0) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	p = REAL(mmap64)(addr, len, PROT_READ | PROT_WRITE, (flags & ~MAP_TYPE) | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return p;
	/* Past the end of file a mapping reads zeros (SIGBUS beyond the last page is
	 * the kernel's; here the anonymous pages simply stay zero). */
	while (done < len) {
		ssize_t n = pread(fd, (char *)p + done, len - done, off + (off_t)done);

		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	if (mprotect(p, len, prot) < 0)
		goto fail;
	return p;
fail:
	{
		int saved = errno;

		munmap(p, len);
		errno = saved;
	}
	return MAP_FAILED;
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

/* Write all of buf (at *off when off is not NULL); the bytes written, which are
 * fewer than n only when a write failed or would block (errno says which). */
static size_t write_all(int out, off_t *off, const char *buf, size_t n)
{
	size_t put = 0;

	while (put < n) {
		ssize_t w = off != NULL ? pwrite(out, buf + put, n - put, *off + (off_t)put)
					: write(out, buf + put, n - put);
		if (w <= 0)
			break;
		put += (size_t)w;
	}
	return put;
}

/* Copy up to count bytes from in (at *in_off, or its offset when in_off is NULL)
 * to out (likewise), through the shield's own read and write. A protected input
 * read at its own offset is read positionally and its offset set afterwards to
 * what was written, so bytes a non-blocking socket did not take are sent again
 * next time. Stops at end of input or at a short write; returns the bytes moved,
 * or -1 (errno) when an error came before any progress. */
static ssize_t bounce(int in, off_t *in_off, int out, off_t *out_off, size_t count)
{
	off_t pos = 0;
	int track = in_off == NULL && shield_fd_is_protected(in);
	size_t total = 0;
	int error = 0;
	char *buf;

	if (track && (pos = lseek(in, 0, SEEK_CUR)) < 0)
		return -1;
	if ((buf = malloc(count < BOUNCE ? (count ? count : 1) : BOUNCE)) == NULL)
		return fail(ENOMEM);
	while (total < count) {
		size_t want = count - total < BOUNCE ? count - total : BOUNCE;
		ssize_t got = in_off != NULL ? pread(in, buf, want, *in_off)
			      : track	     ? pread(in, buf, want, pos)
					     : read(in, buf, want);
		size_t put;

		if (got <= 0) {
			error = got < 0 ? errno : 0;
			break;
		}
		put = write_all(out, out_off, buf, (size_t)got);
		if (in_off != NULL)
			*in_off += (off_t)put;
		pos += (off_t)put;
		if (out_off != NULL)
			*out_off += (off_t)put;
		total += put;
		if (put < (size_t)got) {
			error = errno;
			break;
		}
	}
	free(buf);
	if (track && lseek(in, pos, SEEK_SET) < 0)
		return -1;
	if (total == 0 && error != 0)
		return fail(error);
	return (ssize_t)total;
}

static ssize_t do_sendfile(int out, int in, off_t *off, size_t count)
{
	if (!shield_fd_is_protected(in) && !shield_fd_is_protected(out))
		return REAL(sendfile64)(out, in, off, count);
	return bounce(in, off, out, NULL, count);
}

SHIELD_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	return do_sendfile(out, in, off, count);
}

SHIELD_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
	return do_sendfile(out, in, off, count);
}

SHIELD_EXPORT ssize_t copy_file_range(int in, off_t *in_off, int out, off_t *out_off, size_t len,
				      unsigned int flags)
{
	if (!shield_fd_is_protected(in) && !shield_fd_is_protected(out))
		return REAL(copy_file_range)(in, in_off, out, out_off, len, flags);
	if (flags != 0)
		return fail(EINVAL);
	return bounce(in, in_off, out, out_off, len);
}

/* splice needs a pipe on one side; the protected side is read or written here.
 * SPLICE_F_MOVE/MORE are hints; SPLICE_F_NONBLOCK is the pipe's business. */
SHIELD_EXPORT ssize_t splice(int in, off_t *in_off, int out, off_t *out_off, size_t len,
			     unsigned int flags)
{
	if (!shield_fd_is_protected(in) && !shield_fd_is_protected(out))
		return REAL(splice)(in, in_off, out, out_off, len, flags);
	return bounce(in, in_off, out, out_off, len < BOUNCE ? len : BOUNCE);
}
