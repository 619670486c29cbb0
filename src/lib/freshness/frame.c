/* Frames on a stream socket, shared by every party of the freshness service
 * (docs/protocols/freshness.md §8): u32 length || u8 type || body, the length
 * counting type and body, at most FW_FRAME_MAX; and the error frame (0xFF) any
 * request may get. The coordinator-endorser encodings are in src/freshness/wire.h,
 * the client-coordinator ones in service.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "freshness/frame.h"
#include "util/buf.h"

#define RECV_CHUNK (64u << 10)

/* ---- frames ---- */

/* One writev/sendmsg loop over the iovecs; MSG_NOSIGNAL on sockets so a peer that
 * went away is an error here, not a SIGPIPE for the whole daemon. */
static int write_all(int fd, struct iovec *iov, int n, struct shelter_err *err)
{
	size_t done;
	int sock = 1;

	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sock ? sendmsg(fd, &mh, MSG_NOSIGNAL) : writev(fd, iov, n);

		if (w < 0 && errno == ENOTSOCK && sock) {
			sock = 0;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return shelter_err_errno(err, errno, "send frame");
		done = (size_t)w;
		while (n > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

int fw_send(int fd, uint8_t type, const uint8_t *body, size_t len, struct shelter_err *err)
{
	uint8_t hdr[5];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)body, len } };

	if (len > FW_FRAME_MAX - 1)
		return shelter_err_set(err, SHELTER_E_INVAL, "frame of %zu bytes exceeds %u", len + 1,
				       FW_FRAME_MAX);
	shelter_store_be(hdr, len + 1, 4); /* §8: the length counts the type */
	hdr[4] = type;
	return write_all(fd, iov, len > 0 ? 2 : 1, err);
}

/* Read at least min and at most max bytes (one read() when they are there); *got says
 * how many arrived, fewer than min only at an end of stream. */
static int read_full(int fd, uint8_t *buf, size_t min, size_t max, size_t *got,
		     struct shelter_err *err)
{
	*got = 0;
	while (*got < min) {
		ssize_t r = read(fd, buf + *got, max - *got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return shelter_err_set(err, SHELTER_E_IO, "receive frame: timed out");
		if (r < 0)
			return shelter_err_errno(err, errno, "receive frame");
		if (r == 0)
			return 0;
		*got += (size_t)r;
	}
	return 0;
}

/* The body, in buffers that grow only as bytes arrive: a peer that declares 16 MiB
 * and sends nothing costs one chunk, never the declared length. */
static int recv_body(int fd, size_t len, uint8_t **out, struct shelter_err *err)
{
	size_t have = 0, cap = 0, got;
	uint8_t *buf = NULL;
	int rc = 0;

	while (rc == 0 && have < len) {
		if (have == cap) {
			size_t ncap = cap == 0 ? (len < RECV_CHUNK ? len : RECV_CHUNK)
					       : (len - cap < cap ? len : cap * 2);
			uint8_t *nb = realloc(buf, ncap);

			if (nb == NULL) {
				rc = shelter_err_set(err, SHELTER_E_NOMEM, "frame of %zu bytes", len);
				break;
			}
			buf = nb;
			cap = ncap;
		}
		rc = read_full(fd, buf + have, cap - have, cap - have, &got, err);
		have += got;
		if (rc == 0 && have < cap)
			rc = shelter_err_set(err, SHELTER_E_IO, "frame cut short after %zu of %zu "
					     "bytes", have, len);
	}
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

int fw_recv(int fd, uint8_t *type, uint8_t **body, size_t *len, struct shelter_err *err)
{
	uint8_t hdr[5];
	size_t got;
	uint32_t n;
	int rc;

	*type = 0;
	*body = NULL;
	*len = 0;
	/* the length and, in the same read when it is there, the type (§8) */
	rc = read_full(fd, hdr, 4, sizeof(hdr), &got, err);
	if (rc == 0 && got == 0)
		return shelter_err_set(err, SHELTER_E_NOENT, "end of stream");
	if (rc == 0 && got < 4)
		rc = shelter_err_set(err, SHELTER_E_IO, "frame header cut short");
	if (rc < 0)
		return rc;
	n = (uint32_t)shelter_load_be(hdr, 4);
	if (n == 0 || n > FW_FRAME_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "frame length %u (want 1 to %u)",
				       n, FW_FRAME_MAX);
	if (got < sizeof(hdr)) {
		rc = read_full(fd, hdr + 4, 1, 1, &got, err);
		if (rc == 0 && got == 0)
			rc = shelter_err_set(err, SHELTER_E_IO, "frame cut short before its type");
	}
	if (rc == 0 && n > 1)
		rc = recv_body(fd, n - 1, body, err);
	if (rc < 0)
		return rc;
	*type = hdr[4];
	*len = n - 1;
	return 0;
}

/* ---- 0xFF error: i32 code || u16 len || message ---- */

int fw_error_encode(int code, const char *msg, uint8_t **out, size_t *len)
{
	size_t n = msg != NULL ? strlen(msg) : 0;
	struct shelter_wbuf w;
	uint8_t *buf;

	*out = NULL;
	if (code >= 0) /* §8: an error frame carries a negative SHELTER_E_* code */
		return SHELTER_E_INVAL;
	if (n > FW_MESSAGE_MAX) { /* cut at a UTF-8 character boundary */
		n = FW_MESSAGE_MAX;
		while (n > 0 && ((uint8_t)msg[n] & 0xC0) == 0x80)
			n--;
	}
	buf = malloc(4 + 2 + n);
	if (buf == NULL)
		return SHELTER_E_NOMEM;
	shelter_wbuf_init(&w, buf, 4 + 2 + n);
	shelter_wbuf_u32(&w, (uint32_t)(int32_t)code);
	shelter_wbuf_u16(&w, n);
	shelter_wbuf_put_bytes(&w, msg, n);
	*out = buf;
	*len = w.used;
	return 0;
}

int fw_error_decode(const uint8_t *in, size_t len, int *code, char *msg, size_t msg_size)
{
	struct shelter_rbuf b;
	const uint8_t *text;
	size_t n, keep;

	*code = 0;
	if (msg_size > 0)
		msg[0] = '\0';
	shelter_rbuf_init(&b, in, len);
	*code = (int32_t)shelter_rbuf_u32(&b);
	n = shelter_rbuf_u16(&b);
	text = shelter_rbuf_take(&b, n);
	if (b.bad || b.left != 0 || n > FW_MESSAGE_MAX || *code >= 0) {
		*code = 0;
		return SHELTER_E_MALFORMED;
	}
	keep = msg_size > 0 ? (n < msg_size - 1 ? n : msg_size - 1) : 0;
	/* the peer's text ends up in logs and terminals: no control characters */
	for (size_t i = 0; i < keep; i++)
		msg[i] = text[i] < 0x20 || text[i] == 0x7F ? '?' : (char)text[i];
	if (msg_size > 0)
		msg[keep] = '\0';
	return 0;
}
