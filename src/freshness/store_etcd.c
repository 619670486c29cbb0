/* The untrusted store's etcd backend (docs/protocols/freshness.md §5), spoken through
 * etcd v3's JSON gateway (grpc-gateway: POST /v3/kv/range and /v3/kv/txn; keys and
 * values in base64, 64-bit integers as JSON strings).
 *
 * Every key lives under "/shelter/fresh/". A get is one range request; the version is
 * etcd's per-key version (modifications since the key was created: 1 for a new key,
 * 0 for an absent one). A put is one txn: compare the key's version with expect, put
 * on success, nothing on failure. etcd orders every txn through Raft, so this is a
 * linearizable compare-and-swap, and a successful put leaves the version at expect + 1.
 *
 * Crash guarantee: etcd answers a txn only once it is committed, that is written to
 * the fsync'd write-ahead log of a quorum of members (etcd's default; the member's
 * --unsafe-no-fsync must stay off; a single-member cluster keeps this from 3.4.21 on,
 * etcd-io/etcd#14370, and Debian 12 has 3.4.23). So a put that returned 0 survives a
 * crash of the coordinator, of any minority of members, or of every machine; one that
 * did not return 0 may or may not have happened, never half.
 *
 * Transport: HTTP/1.1 over plain TCP, one kept-alive connection per store under a
 * mutex; the endpoints are tried in order when one does not connect. The answers are
 * read here rather than by net/http.h, whose parser refuses Transfer-Encoding: the
 * gateway sends every answer over 2 KiB chunked. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "freshness/net.h"
#include "freshness/store.h"
#include "net/http.h"

#define ETCD_PREFIX "/shelter/fresh/"
#define ETCD_CALL_MS 5000                 /* one request: connect, send, answer */
#define ETCD_ENDPOINTS_MAX 8
#define ETCD_LINE_MAX 8192u               /* a status, field or chunk-size line */
#define ETCD_HEAD_MAX 16384u
#define ETCD_VALUE_MAX (16u << 20)        /* above the ~8 MiB the coordinator writes */
#define ETCD_BODY_MAX (ETCD_VALUE_MAX / 3 * 4 + (64u << 10)) /* base64 value + JSON */
#define ETCD_READ_STEP (64u << 10)

struct etcd_endpoint {
	char addr[272]; /* HOST:PORT, for fresh_dial and Host */
	char url[280];  /* http://HOST:PORT, for messages */
};

struct fresh_etcd {
	pthread_mutex_t mu; /* one request at a time on fd and rbuf */
	struct etcd_endpoint ep[ETCD_ENDPOINTS_MAX];
	size_t count;
	size_t cur;    /* the endpoint fd is connected to, else the first to try */
	int fd;        /* -1 when not connected */
	int timed_out; /* the last exchange ran out of time */
	uint8_t *rbuf; /* the answer being read */
	size_t rlen, rcap;
};

/* One answer: status and body (pointing into rbuf until the next request). */
struct answer {
	int status;
	int keep;      /* the connection may carry the next request */
	const uint8_t *body;
	size_t body_size;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- endpoints and the connection ---- */

/* "http://HOST:PORT" with an optional "/" (no path: the gateway lives at the root). */
static int parse_endpoint(const char *s, size_t n, struct etcd_endpoint *ep,
			  struct shelter_err *err)
{
	char host[256];
	uint16_t port = 0;
	size_t alen;

	if (n > 7 && strncmp(s, "http://", 7) == 0) {
		alen = n - 7 - (s[n - 1] == '/');
		if (alen > 0 && alen < sizeof(ep->addr)) {
			memcpy(ep->addr, s + 7, alen);
			ep->addr[alen] = '\0';
			if (strchr(ep->addr, '/') == NULL &&
			    fresh_hostport(ep->addr, host, sizeof(host), &port, NULL) == 0 && port != 0) {
				snprintf(ep->url, sizeof(ep->url), "http://%s", ep->addr);
				return 0;
			}
		}
	}
	return shelter_err_set(err, SHELTER_E_INVAL, "etcd endpoint '%.*s': want http://HOST:PORT",
			       (int)(n > 200 ? 200 : n), s);
}

static void drop(struct fresh_etcd *e)
{
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
}

/* A kept connection is usable only while nothing is readable on it: between answers,
 * readable means etcd closed it (restart, idle close) or sent bytes out of turn.
 * Checking before sending keeps a stale connection from making a put ambiguous. */
static int still_open(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) == 0;
}

/* Connect to the first endpoint that answers, from the current one on. */
static int connect_any(struct fresh_etcd *e, struct shelter_err *err)
{
	char why[SHELTER_ERR_MSG_SIZE] = "";
	size_t used = 0;

	for (size_t i = 0; i < e->count; i++) {
		size_t k = (e->cur + i) % e->count;
		struct shelter_err one;
		int n;

		shelter_err_clear(&one);
		if (fresh_dial(e->ep[k].addr, ETCD_CALL_MS, &e->fd, &one) == 0) {
			e->cur = k;
			return 0;
		}
		n = snprintf(why + used, sizeof(why) - used, "%s%s: %s", i > 0 ? "; " : "",
			     e->ep[k].url, one.msg);
		if (n > 0)
			used = (size_t)n >= sizeof(why) - used ? sizeof(why) - 1 : used + (size_t)n;
	}
	return shelter_err_set(err, SHELTER_E_NET, "etcd %s", why);
}

/* ---- HTTP/1.1 (RFC 9112) client: one POST, one answer ---- */

static int wait_fd(struct fresh_etcd *e, short events, int64_t deadline,
		   struct shelter_err *err)
{
	for (;;) {
		struct pollfd p = { .fd = e->fd, .events = events };
		int64_t left = deadline - now_ms();
		int n;

		e->timed_out = left <= 0;
		if (left <= 0)
			return shelter_err_set(err, SHELTER_E_NET, "no answer within %d ms",
					       ETCD_CALL_MS);
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return shelter_err_errno(err, errno, "poll");
	}
}

static int send_all(struct fresh_etcd *e, struct iovec *iov, int n, int64_t deadline,
		    struct shelter_err *err)
{
	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w;
		size_t done;
		int rc = wait_fd(e, POLLOUT, deadline, err);

		if (rc < 0)
			return rc;
		/* MSG_NOSIGNAL: etcd gone is an error here, not a SIGPIPE for the daemon */
		w = sendmsg(e->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0)
			return shelter_err_set(err, SHELTER_E_NET, "send: %s", strerror(errno));
		for (done = (size_t)w; n > 0 && done >= iov->iov_len; iov++, n--)
			done -= iov->iov_len;
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

/* Read more of the answer into rbuf, which may hold at most limit bytes. */
static int read_more(struct fresh_etcd *e, size_t limit, int64_t deadline,
		     struct shelter_err *err)
{
	if (e->rlen >= limit)
		return shelter_err_set(err, SHELTER_E_PROTO, "answer over %zu bytes", limit);
	if (e->rcap - e->rlen < ETCD_READ_STEP && e->rcap < limit) {
		size_t cap = e->rcap * 2 > e->rlen + ETCD_READ_STEP ? e->rcap * 2
								     : e->rlen + ETCD_READ_STEP;
		uint8_t *p = realloc(e->rbuf, cap < limit ? cap : limit);

		if (p == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "answer buffer");
		e->rbuf = p;
		e->rcap = cap < limit ? cap : limit;
	}
	for (;;) {
		size_t room = (e->rcap < limit ? e->rcap : limit) - e->rlen;
		int rc = wait_fd(e, POLLIN, deadline, err);
		ssize_t n;

		if (rc < 0)
			return rc;
		n = recv(e->fd, e->rbuf + e->rlen, room, MSG_DONTWAIT);
		if (n > 0) {
			e->rlen += (size_t)n;
			return 0;
		}
		if (n == 0)
			return shelter_err_set(err, SHELTER_E_NET, "connection closed");
		if (errno != EINTR && errno != EAGAIN)
			return shelter_err_set(err, SHELTER_E_NET, "receive: %s", strerror(errno));
	}
}

/* *eol = the offset of the CRLF ending the line that starts at pos. */
static int get_line(struct fresh_etcd *e, size_t pos, size_t limit, int64_t deadline,
		    size_t *eol, struct shelter_err *err)
{
	size_t scan = pos;

	for (;;) {
		const uint8_t *p = memmem(e->rbuf + scan, e->rlen - scan, "\r\n", 2);
		int rc;

		if (p != NULL) {
			*eol = (size_t)(p - e->rbuf);
			return 0;
		}
		if (e->rlen - pos > ETCD_LINE_MAX)
			return shelter_err_set(err, SHELTER_E_PROTO, "line over %u bytes",
					       ETCD_LINE_MAX);
		scan = e->rlen > pos ? e->rlen - 1 : pos;
		rc = read_more(e, limit, deadline, err);
		if (rc < 0)
			return rc;
	}
}

/* a field "Name: value" of the head, RFC 9112 §5 */
static int head_field(struct answer *a, const char *line, size_t len, int *chunked,
		      int64_t *clen, struct shelter_err *err)
{
	const char *colon = memchr(line, ':', len), *v, *end = line + len;
	size_t nlen, vlen;

	if (colon == NULL || colon == line)
		return shelter_err_set(err, SHELTER_E_PROTO, "bad header field");
	nlen = (size_t)(colon - line);
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	vlen = (size_t)(end - v);
	if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		uint64_t n = 0;

		if (vlen == 0 || vlen > 12 || *clen >= 0)
			return shelter_err_set(err, SHELTER_E_PROTO, "bad Content-Length");
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return shelter_err_set(err, SHELTER_E_PROTO, "bad Content-Length");
			n = n * 10 + (uint64_t)(v[i] - '0');
		}
		*clen = (int64_t)n;
	} else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
		if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
			return shelter_err_set(err, SHELTER_E_PROTO, "Transfer-Encoding %.*s",
					       (int)(vlen > 40 ? 40 : vlen), v);
		*chunked = 1;
	} else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0 && vlen == 5 &&
		   strncasecmp(v, "close", 5) == 0) {
		a->keep = 0;
	}
	return 0;
}

/* Status line and fields; *pos = the offset of the body. */
static int read_head(struct fresh_etcd *e, int64_t deadline, struct answer *a, int *chunked,
		     int64_t *clen, size_t *pos, struct shelter_err *err)
{
	size_t eol;
	int rc = get_line(e, 0, ETCD_HEAD_MAX, deadline, &eol, err);
	const char *l = (const char *)e->rbuf;

	if (rc < 0)
		return rc;
	if (eol < 12 || strncmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') ||
	    l[8] != ' ' || l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' ||
	    l[11] < '0' || l[11] > '9' || (eol > 12 && l[12] != ' '))
		return shelter_err_set(err, SHELTER_E_PROTO, "not an HTTP/1.1 answer");
	a->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	a->keep = l[7] == '1';
	for (*pos = eol + 2;; *pos = eol + 2) {
		rc = get_line(e, *pos, ETCD_HEAD_MAX, deadline, &eol, err);
		if (rc < 0)
			return rc;
		if (eol == *pos)
			break;
		rc = head_field(a, (const char *)e->rbuf + *pos, eol - *pos, chunked, clen, err);
		if (rc < 0)
			return rc;
	}
	*pos = eol + 2;
	return 0;
}

/* The size in a chunk-size line (RFC 9112 §7.1); extensions after ';' are ignored. */
static int chunk_size(const uint8_t *line, size_t len, size_t *out, struct shelter_err *err)
{
	size_t n = 0, i;

	for (i = 0; i < len && isxdigit(line[i]); i++) {
		if (i == 7) /* a chunk over 256 MiB is over every limit here */
			return shelter_err_set(err, SHELTER_E_PROTO, "chunk too large");
		n = n * 16 + (size_t)(line[i] <= '9' ? line[i] - '0' : (line[i] | 0x20) - 'a' + 10);
	}
	if (i == 0 || (i < len && line[i] != ';'))
		return shelter_err_set(err, SHELTER_E_PROTO, "bad chunk size");
	*out = n;
	return 0;
}

/* RFC 9112 §7.1: chunks are copied down over their framing as they arrive, so rbuf
 * ends up holding head + body and never much more. */
static int read_chunked(struct fresh_etcd *e, size_t at, int64_t deadline, size_t *size,
			struct shelter_err *err)
{
	const size_t limit = at + ETCD_BODY_MAX + ETCD_LINE_MAX + 2;
	size_t w = at, eol = 0, n = 0;
	int rc;

	for (;;) {
		rc = get_line(e, w, limit, deadline, &eol, err);
		if (rc == 0)
			rc = chunk_size(e->rbuf + w, eol - w, &n, err);
		if (rc < 0)
			return rc;
		/* drop the size line: the chunk data now starts at w */
		memmove(e->rbuf + w, e->rbuf + eol + 2, e->rlen - eol - 2);
		e->rlen -= eol + 2 - w;
		if (n == 0)
			break;
		if (w - at + n > ETCD_BODY_MAX)
			return shelter_err_set(err, SHELTER_E_PROTO, "answer over %u bytes",
					       ETCD_BODY_MAX);
		while (e->rlen < w + n + 2)
			if ((rc = read_more(e, limit, deadline, err)) < 0)
				return rc;
		if (memcmp(e->rbuf + w + n, "\r\n", 2) != 0)
			return shelter_err_set(err, SHELTER_E_PROTO, "bad chunk end");
		w += n;
		memmove(e->rbuf + w, e->rbuf + w + 2, e->rlen - w - 2);
		e->rlen -= 2;
	}
	/* trailer fields, skipped, to the empty line */
	for (;;) {
		rc = get_line(e, w, limit, deadline, &eol, err);
		if (rc < 0)
			return rc;
		memmove(e->rbuf + w, e->rbuf + eol + 2, e->rlen - eol - 2);
		e->rlen -= eol + 2 - w;
		if (eol == w)
			break;
	}
	*size = w - at;
	return 0;
}

static int read_answer(struct fresh_etcd *e, int64_t deadline, struct answer *a,
		       struct shelter_err *err)
{
	int64_t clen = -1;
	int chunked = 0, rc;
	size_t at = 0, size = 0;

	e->rlen = 0;
	rc = read_head(e, deadline, a, &chunked, &clen, &at, err);
	if (rc == 0 && chunked) {
		rc = read_chunked(e, at, deadline, &size, err);
	} else if (rc == 0 && clen >= 0 && (uint64_t)clen <= ETCD_BODY_MAX) {
		size = (size_t)clen;
		while (rc == 0 && e->rlen < at + size)
			rc = read_more(e, at + size, deadline, err);
	} else if (rc == 0) {
		rc = shelter_err_set(err, SHELTER_E_PROTO, clen < 0 ? "answer without a length"
								    : "answer over the size limit");
	}
	if (rc < 0)
		return rc;
	if (e->rlen != at + size) /* bytes nobody asked for: the framing is lost */
		a->keep = 0;
	a->body = e->rbuf + at;
	a->body_size = size;
	return 0;
}

/* How far one exchange got, to tell whether etcd may have acted on the request. */
enum stage { NOT_CONNECTED, CONNECTED, SENT };

static int exchange(struct fresh_etcd *e, const char *path, const char *body, size_t size,
		    struct answer *a, enum stage *stage, struct shelter_err *err)
{
	int64_t deadline = now_ms() + ETCD_CALL_MS;
	char head[640];
	size_t hlen = 0;
	struct iovec iov[2];
	int rc = 0;

	*stage = NOT_CONNECTED;
	e->timed_out = 0;
	if (e->fd >= 0 && !still_open(e->fd))
		drop(e);
	if (e->fd < 0)
		rc = connect_any(e, err);
	if (rc < 0)
		return rc;
	*stage = CONNECTED;
	rc = http_format_request(HTTP_POST, path, e->ep[e->cur].addr, "application/json", size,
				 1, NULL, 0, head, sizeof(head), &hlen, err);
	iov[0] = (struct iovec){ .iov_base = head, .iov_len = hlen };
	iov[1] = (struct iovec){ .iov_base = (void *)body, .iov_len = size };
	if (rc == 0)
		rc = send_all(e, iov, 2, deadline, err);
	if (rc == 0) {
		*stage = SENT;
		rc = read_answer(e, deadline, a, err);
	}
	if (rc < 0 || !a->keep)
		drop(e);
	if (rc < 0)
		rc = shelter_err_wrap(err, rc, "etcd %s: %s", e->ep[e->cur].url, path);
	/* a member that does not answer in time may be cut off or stuck: the next
	 * request starts at the next endpoint */
	if (rc < 0 && e->timed_out)
		e->cur = (e->cur + 1) % e->count;
	return rc;
}

/* The message etcd gave with an error status ({"error": ..., "message": ...}). */
static int answer_error(const struct fresh_etcd *e, const char *path, const struct answer *a,
			struct shelter_err *err)
{
	json_t *j = json_loadb((const char *)a->body, a->body_size, 0, NULL);
	const char *m = json_string_value(json_object_get(j, "message"));
	char text[201];
	size_t n = a->body_size < 200 ? a->body_size : 200;
	int rc;

	if (m == NULL)
		m = json_string_value(json_object_get(j, "error"));
	if (m == NULL) { /* not etcd's JSON: its first printable bytes */
		for (size_t i = 0; i < n; i++)
			text[i] = a->body[i] >= 0x20 && a->body[i] < 0x7f ? (char)a->body[i] : ' ';
		text[n] = '\0';
		m = text;
	}
	rc = shelter_err_set(err, SHELTER_E_PROTO, "etcd %s: %s: HTTP %d: %s", e->ep[e->cur].url,
			     path, a->status, m);
	json_decref(j);
	return rc;
}

/* One JSON request and its answer, reconnecting once when the connection fails (not
 * when etcd ran out of time: one timeout is all a caller waits). *ambiguous: the
 * first try failed after the whole request was sent, so etcd may have acted on it
 * although the answer came from the second. Caller holds e->mu. */
static int call(struct fresh_etcd *e, const char *path, json_t *req, json_t **resp,
		int *ambiguous, struct shelter_err *err)
{
	char *body = json_dumps(req, JSON_COMPACT);
	struct answer a = { 0 };
	enum stage stage = NOT_CONNECTED;
	json_error_t jerr;
	int rc;

	*resp = NULL;
	*ambiguous = 0;
	if (body == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "etcd: encode request");
	rc = exchange(e, path, body, strlen(body), &a, &stage, err);
	if (rc == SHELTER_E_NET && stage != NOT_CONNECTED && !e->timed_out) {
		*ambiguous = stage == SENT;
		rc = exchange(e, path, body, strlen(body), &a, &stage, err);
	}
	if (rc == 0 && a.status != 200)
		rc = answer_error(e, path, &a, err);
	if (rc == 0) {
		*resp = json_loadb((const char *)a.body, a.body_size, 0, &jerr);
		if (!json_is_object(*resp))
			rc = shelter_err_set(err, SHELTER_E_PROTO, "etcd %s: %s: answer is not a "
					     "JSON object: %s", e->ep[e->cur].url, path, jerr.text);
	}
	if (rc < 0) {
		json_decref(*resp);
		*resp = NULL;
	}
	free(body);
	return rc;
}

/* ---- keys, values and versions in the gateway's JSON ---- */

static int b64_encode(const uint8_t *in, size_t len, char **out, struct shelter_err *err)
{
	*out = malloc((len + 2) / 3 * 4 + 1);
	if (*out == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "etcd: %zu bytes of base64", len);
	EVP_EncodeBlock((unsigned char *)*out, in, (int)len);
	return 0;
}

/* Strict base64: EVP_DecodeBlock counts padding as zero bytes and skips whitespace,
 * so the alphabet is checked here and the real length comes from the '=' count. */
static int b64_decode(const char *in, uint8_t **out, size_t *len, struct shelter_err *err)
{
	size_t n = strlen(in), pad = 0;
	int got;

	*out = NULL;
	*len = 0;
	if (n % 4 != 0 || n > ETCD_BODY_MAX)
		return shelter_err_set(err, SHELTER_E_PROTO, "etcd: bad base64 length %zu", n);
	while (pad < 2 && pad < n && in[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!((in[i] >= 'A' && in[i] <= 'Z') || (in[i] >= 'a' && in[i] <= 'z') ||
		      (in[i] >= '0' && in[i] <= '9') || in[i] == '+' || in[i] == '/'))
			return shelter_err_set(err, SHELTER_E_PROTO, "etcd: bad base64 at %zu", i);
	*out = malloc(n / 4 * 3 + 1);
	if (*out == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "etcd: value of %zu bytes", n / 4 * 3);
	got = n > 0 ? EVP_DecodeBlock(*out, (const unsigned char *)in, (int)n) : 0;
	if (got < 0 || (size_t)got != n / 4 * 3) {
		free(*out);
		*out = NULL;
		return shelter_err_set(err, SHELTER_E_PROTO, "etcd: bad base64");
	}
	*len = (size_t)got - pad;
	return 0;
}

/* base64 of ETCD_PREFIX + key into out */
static int etcd_key(const char *key, char *out, size_t size, struct shelter_err *err)
{
	char full[sizeof(ETCD_PREFIX) + FRESH_KEY_MAX];
	int n = snprintf(full, sizeof(full), "%s%s", ETCD_PREFIX, key);

	if (n < 0 || (size_t)n >= sizeof(full) || ((size_t)n + 2) / 3 * 4 >= size)
		return shelter_err_set(err, SHELTER_E_INVAL, "store: key of %zu bytes", strlen(key));
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)full, n);
	return 0;
}

/* A JSON int64 as the gateway writes it ("12"), or as a number. */
static int json_u64(const json_t *j, uint64_t *out)
{
	const char *s = json_string_value(j);
	char *end;

	if (json_is_integer(j) && json_integer_value(j) >= 0) {
		*out = (uint64_t)json_integer_value(j);
		return 0;
	}
	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' ? 0 : -1;
}

/* ---- the backend ---- */

int fresh_etcd_open(const char *endpoints, struct fresh_etcd **out, struct shelter_err *err)
{
	struct fresh_etcd *e = calloc(1, sizeof(*e));
	const char *p = endpoints;
	int rc = 0;

	*out = NULL;
	if (e == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "store: out of memory");
	pthread_mutex_init(&e->mu, NULL);
	e->fd = -1;
	e->rcap = ETCD_READ_STEP;
	e->rbuf = malloc(e->rcap);
	if (e->rbuf == NULL)
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "store: out of memory");
	while (rc == 0) {
		size_t n = strcspn(p, ",");

		if (e->count == ETCD_ENDPOINTS_MAX)
			rc = shelter_err_set(err, SHELTER_E_INVAL, "store: more than %d etcd "
					     "endpoints", ETCD_ENDPOINTS_MAX);
		else
			rc = parse_endpoint(p, n, &e->ep[e->count++], err);
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	if (rc < 0) {
		fresh_etcd_close(e);
		return rc;
	}
	*out = e;
	return 0;
}

void fresh_etcd_close(struct fresh_etcd *e)
{
	if (e == NULL)
		return;
	drop(e);
	pthread_mutex_destroy(&e->mu);
	free(e->rbuf);
	free(e);
}

/* The first (only) kv of a range answer; NOENT when there is none. */
static int range_kv(const json_t *resp, const char *key, uint8_t **val, size_t *len,
		    uint64_t *version, struct shelter_err *err)
{
	const json_t *kv = json_array_get(json_object_get(resp, "kvs"), 0);
	const json_t *v = json_object_get(kv, "value");
	int rc;

	if (kv == NULL)
		return shelter_err_set(err, SHELTER_E_NOENT, "store: no '%s'", key);
	if (json_u64(json_object_get(kv, "version"), version) < 0 || *version == 0 ||
	    (v != NULL && !json_is_string(v)))
		return shelter_err_set(err, SHELTER_E_PROTO, "etcd: range of '%s': bad kv", key);
	/* the gateway leaves out an empty value (proto3 JSON omits defaults) */
	rc = b64_decode(v != NULL ? json_string_value(v) : "", val, len, err);
	return rc < 0 ? shelter_err_wrap(err, rc, "store: '%s'", key) : 0;
}

int fresh_etcd_get(struct fresh_etcd *e, const char *key, uint8_t **val, size_t *len,
		   uint64_t *version, struct shelter_err *err)
{
	char k[(sizeof(ETCD_PREFIX) + FRESH_KEY_MAX + 2) / 3 * 4 + 1];
	json_t *req = NULL, *resp = NULL;
	int ambiguous, rc;

	*val = NULL;
	*len = 0;
	*version = 0;
	rc = etcd_key(key, k, sizeof(k), err);
	if (rc < 0)
		goto out;
	req = json_pack("{s:s}", "key", k);
	if (req == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "etcd: range request");
		goto out;
	}
	pthread_mutex_lock(&e->mu);
	rc = call(e, "/v3/kv/range", req, &resp, &ambiguous, err);
	pthread_mutex_unlock(&e->mu);
	if (rc == 0)
		rc = range_kv(resp, key, val, len, version, err);
	if (rc < 0)
		*version = 0;
out:
	json_decref(req);
	json_decref(resp);
	return rc;
}

int fresh_etcd_delete(struct fresh_etcd *e, const char *key, struct shelter_err *err)
{
	char k[(sizeof(ETCD_PREFIX) + FRESH_KEY_MAX + 2) / 3 * 4 + 1];
	json_t *req = NULL, *resp = NULL;
	int ambiguous, rc = etcd_key(key, k, sizeof(k), err);

	if (rc < 0)
		return rc;
	req = json_pack("{s:s}", "key", k);
	if (req == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "etcd: delete request");
	pthread_mutex_lock(&e->mu);
	rc = call(e, "/v3/kv/deleterange", req, &resp, &ambiguous, err);
	pthread_mutex_unlock(&e->mu);
	json_decref(req);
	json_decref(resp);
	return rc;
}

/* One txn: the compare-and-swap of docs/protocols/freshness.md §5. etcd's version of
 * an absent key is 0, so expect 0 ("must be absent") is the same compare. */
static json_t *cas_txn(const char *k, const char *v, uint64_t expect)
{
	char ver[24];

	snprintf(ver, sizeof(ver), "%" PRIu64, expect);
	return json_pack("{s:[{s:s,s:s,s:s,s:s}],s:[{s:{s:s,s:s}}],s:[]}",
			 "compare", "key", k, "target", "VERSION", "result", "EQUAL", "version", ver,
			 "success", "request_put", "key", k, "value", v, "failure");
}

/* The txn's outcome. Caller holds e->mu. */
static int txn_result(const struct fresh_etcd *e, const json_t *resp, const char *key,
		      uint64_t expect, int ambiguous, struct shelter_err *err)
{
	if (json_is_true(json_object_get(resp, "succeeded")))
		return 0;
	/* a failed compare after a first try that may have landed: that try may be what
	 * moved the version, so the outcome is unknown, not a conflict */
	if (ambiguous)
		return shelter_err_set(err, SHELTER_E_NET, "etcd %s: the connection failed "
				       "after the txn on '%s' was sent and the retry found the "
				       "version moved: outcome unknown", e->ep[e->cur].url, key);
	return shelter_err_set(err, SHELTER_E_CONFLICT, "store: '%s' is not at version %" PRIu64,
			       key, expect);
}

int fresh_etcd_put(struct fresh_etcd *e, const char *key, const uint8_t *val, size_t len,
		   uint64_t expect, uint64_t *version, struct shelter_err *err)
{
	char k[(sizeof(ETCD_PREFIX) + FRESH_KEY_MAX + 2) / 3 * 4 + 1];
	char *v = NULL;
	json_t *req = NULL, *resp = NULL;
	int ambiguous = 0, rc;

	if (len > ETCD_VALUE_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "store: value of %zu bytes", len);
	rc = etcd_key(key, k, sizeof(k), err);
	if (rc == 0)
		rc = b64_encode(val, len, &v, err);
	if (rc < 0)
		goto out;
	req = cas_txn(k, v, expect);
	free(v); /* the request holds its own copy */
	if (req == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "etcd: txn request");
		goto out;
	}
	pthread_mutex_lock(&e->mu);
	rc = call(e, "/v3/kv/txn", req, &resp, &ambiguous, err);
	if (rc == 0)
		rc = txn_result(e, resp, key, expect, ambiguous, err);
	pthread_mutex_unlock(&e->mu);
	if (rc == 0 && version != NULL)
		*version = expect + 1;
out:
	json_decref(req);
	json_decref(resp);
	return rc;
}

/* ---- several ops in one txn (§5: a round's blocks, a batch of certificates) ---- */

#define ETCD_TXN_OPS 64            /* etcd refuses more than --max-txn-ops, 128 by default */
#define ETCD_TXN_BYTES (768u << 10) /* base64'd, under etcd's default 1.5 MiB request */

/* How many ops from ops[0] go in one txn: within the budgets above, and no key twice
 * (etcd refuses a txn that names a key twice). At least one. */
static size_t txn_chunk(const struct fresh_store_op *ops, size_t n)
{
	size_t k = 0, bytes = 0;

	while (k < n && k < ETCD_TXN_OPS) {
		int twice = 0;

		for (size_t j = 0; j < k && !twice; j++)
			twice = strcmp(ops[j].key, ops[k].key) == 0;
		if (twice || (k > 0 && bytes + ops[k].len > ETCD_TXN_BYTES))
			break;
		bytes += ops[k++].len;
	}
	return k > 0 ? k : 1;
}

/* One op's compare (puts only) and request, appended to the txn's arrays. */
static int txn_add(json_t *cmp, json_t *succ, const struct fresh_store_op *op,
		   struct shelter_err *err)
{
	char k[(sizeof(ETCD_PREFIX) + FRESH_KEY_MAX + 2) / 3 * 4 + 1], ver[24], *v = NULL;
	int bad = 0, rc = etcd_key(op->key, k, sizeof(k), err);

	if (rc == 0 && op->del)
		bad = json_array_append_new(succ, json_pack("{s:{s:s}}", "request_delete_range",
							    "key", k));
	else if (rc == 0 && (rc = b64_encode(op->val, op->len, &v, err)) == 0) {
		snprintf(ver, sizeof(ver), "%" PRIu64, op->expect);
		bad = (!op->any && json_array_append_new(cmp, json_pack("{s:s,s:s,s:s,s:s}", "key", k, "target",
							   "VERSION", "result", "EQUAL", "version",
							   ver)) < 0) ||
		      json_array_append_new(succ, json_pack("{s:{s:s,s:s}}", "request_put", "key",
							    k, "value", v)) < 0;
		free(v);
	}
	if (bad)
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "etcd: txn request");
	return rc;
}

/* The ops in one txn, all or nothing: *settled = 1 when every op->rc is set (the txn
 * went through, or may have: then each op's outcome is unknown, SHELTER_E_NET); 0 when
 * a compare failed and nothing was written: the caller sorts it out op by op. */
static int txn_many(struct fresh_etcd *e, struct fresh_store_op *ops, size_t n, int *settled,
		    struct shelter_err *err)
{
	json_t *cmp = json_array(), *succ = json_array(), *req = NULL, *resp = NULL;
	int ambiguous = 0, rc = cmp != NULL && succ != NULL
					? 0
					: shelter_err_set(err, SHELTER_E_NOMEM, "etcd: txn request");

	*settled = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = txn_add(cmp, succ, &ops[i], err);
	if (rc == 0 && (req = json_pack("{s:o,s:o,s:[]}", "compare", cmp, "success", succ,
					"failure")) == NULL)
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "etcd: txn request");
	cmp = succ = NULL; /* json_pack "o" took them, even when it failed */
	if (rc == 0) {
		pthread_mutex_lock(&e->mu);
		rc = call(e, "/v3/kv/txn", req, &resp, &ambiguous, err);
		pthread_mutex_unlock(&e->mu);
	}
	if (rc == 0 && json_is_true(json_object_get(resp, "succeeded"))) {
		for (size_t i = 0; i < n; i++) {
			ops[i].rc = 0;
			ops[i].version = ops[i].del || ops[i].any ? 0 : ops[i].expect + 1;
		}
		*settled = 1;
	} else if (rc == 0 && ambiguous) { /* as txn_result: the first try may have landed */
		rc = shelter_err_set(err, SHELTER_E_NET, "etcd %s: the connection failed after a "
				     "txn of %zu ops was sent and the retry found a version moved: "
				     "outcome unknown", e->ep[e->cur].url, n);
		for (size_t i = 0; i < n; i++)
			ops[i].rc = rc;
		*settled = 1;
	}
	json_decref(cmp);
	json_decref(succ);
	json_decref(req);
	json_decref(resp);
	return rc;
}

int fresh_etcd_put_many(struct fresh_etcd *e, struct fresh_store_op *ops, size_t n,
			struct shelter_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < n;) {
		size_t k = txn_chunk(ops + i, n - i);
		int settled = 0, r = 0;

		/* the common case is one txn: one Raft commit for the lot */
		if (k > 1)
			r = txn_many(e, ops + i, k, &settled, rc < 0 ? NULL : err);
		for (size_t j = i; r == 0 && !settled && j < i + k; j++) {
			struct shelter_err *e1 = rc < 0 ? NULL : err;
			int one = 0;

			if (ops[j].any) /* no compare: a txn of its own cannot fail one */
				ops[j].rc = txn_many(e, &ops[j], 1, &one, e1);
			else
				ops[j].rc = ops[j].del ? fresh_etcd_delete(e, ops[j].key, e1)
						       : fresh_etcd_put(e, ops[j].key, ops[j].val,
									ops[j].len, ops[j].expect,
									&ops[j].version, e1);
			if (ops[j].rc < 0 && ops[j].rc != SHELTER_E_CONFLICT && rc == 0)
				rc = ops[j].rc;
		}
		if (r < 0) {
			for (size_t j = i; j < i + k; j++)
				ops[j].rc = r;
			if (rc == 0)
				rc = r;
		}
		i += k;
	}
	return rc;
}
