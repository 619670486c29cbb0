/* Interposed in-kernel copies: sendfile, copy_file_range, splice (docs/shield.md
 * §4). The kernel cannot copy a protected file: it only has ciphertext. Copies
 * run through a bounce buffer with the shield's own read and write, so nginx's
 * `sendfile on` serves decrypted bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "shield/shield.h"

#define BOUNCE (256u << 10) /* bytes copied per step */

/* One bounce buffer per thread, kept: a fresh 256 KiB malloc per call is an
 * mmap, 64 page faults and a munmap (nginx calls sendfile per response). It is
 * never freed (threads of a server live as long as it does). */
static _Thread_local char *bounce_buf;

static char *bounce_buffer(void)
{
	if (bounce_buf == NULL)
		bounce_buf = malloc(BOUNCE);
	return bounce_buf;
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
	if ((buf = bounce_buffer()) == NULL)
		return shield_fail(ENOMEM);
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
	if (track && lseek(in, pos, SEEK_SET) < 0)
		return -1;
	if (total == 0 && error != 0)
		return shield_fail(error);
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
		return shield_fail(EINVAL);
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
