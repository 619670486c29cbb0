/* Buffered HTTP/1.1 message I/O over a TLS 1.3 connection, and TLS 1.3
 * post-handshake client authentication (RFC 8446 §4.6.2) for the attestation flow
 * (net/tls.h, docs/api/http.md). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "net/tls_internal.h"

/* Make the free space of the read buffer at least want bytes, the whole buffer at
 * most limit bytes; it grows at least twofold so a large body costs few copies. */
static int rbuf_reserve(struct tls_conn *c, size_t want, size_t limit, struct shelter_err *err)
{
	size_t need = c->rlen + want, cap;
	uint8_t *p;

	if (need <= c->rcap)
		return 0;
	if (need > limit)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "read buffer limit");
	cap = c->rcap * 2 > need ? c->rcap * 2 : need;
	if (cap > limit)
		cap = limit;
	p = realloc(c->rbuf, cap);
	if (p == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "read buffer of %zu bytes", cap);
	c->rbuf = p;
	c->rcap = cap;
	return 0;
}

/* EOF from the peer: close_notify, or TCP FIN without it (OpenSSL 3 reports the
 * latter as "unexpected eof while reading"; between messages nothing is truncated). */
static int is_eof(int ssl_err)
{
	unsigned long e;

	if (ssl_err == SSL_ERROR_ZERO_RETURN)
		return 1;
	e = ERR_peek_last_error();
	if (ssl_err == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		return 1;
	return ssl_err == SSL_ERROR_SYSCALL && e == 0 && errno == 0;
}

/* One SSL_read into the free space of the buffer, waiting within the deadline.
 * Returns the byte count, 0 at EOF, or a negative code ("WHAT within N ms" on a
 * timeout, the TLS cause otherwise). */
static int read_some(struct tls_conn *c, const char *what, struct shelter_err *err)
{
	for (;;) {
		size_t room = c->rcap - c->rlen;
		int n, e, rc;

		if (room == 0) /* SSL_read of 0 bytes would look like EOF */
			return shelter_err_set(err, SHELTER_E_INTERNAL, "read buffer full");
		ERR_clear_error();
		errno = 0;
		n = SSL_read(c->ssl, c->rbuf + c->rlen, room > INT_MAX ? INT_MAX : (int)room);
		if (n > 0) {
			c->rlen += (size_t)n;
			return n;
		}
		e = SSL_get_error(c->ssl, n);
		switch (e) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			rc = tls_wait(c, e == SSL_ERROR_WANT_WRITE, what, err);
			if (rc < 0)
				return rc;
			continue;
		case SSL_ERROR_WANT_X509_LOOKUP:
			ERR_clear_error();
			return shelter_err_set(err, SHELTER_E_PROTO, "%s asked for a client "
					       "certificate before its answer was complete",
					       c->peer);
		default:
			if (is_eof(e)) {
				ERR_clear_error();
				c->peer_eof = 1;
				return 0;
			}
			return tls_ssl_fail(c, e, e == SSL_ERROR_SSL ? SHELTER_E_PROTO :
					    SHELTER_E_NET, "TLS read from", err);
		}
	}
}

static void limits_resolve(const struct http_limits *in, struct http_limits *out)
{
	http_limits_default(out);
	if (in != NULL && in->max_head != 0)
		out->max_head = in->max_head;
	if (in != NULL && in->max_headers != 0)
		out->max_headers = in->max_headers;
	if (in != NULL && in->max_body != 0)
		out->max_body = in->max_body;
}

static int write_raw(struct tls_conn *c, const void *buf, size_t size,
		     struct shelter_err *err)
{
	const uint8_t *p = buf;

	while (size > 0) {
		int n, e, rc;

		ERR_clear_error();
		errno = 0;
		n = SSL_write(c->ssl, p, size > INT_MAX ? INT_MAX : (int)size);
		if (n > 0) {
			p += n;
			size -= (size_t)n;
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
			rc = tls_wait(c, e == SSL_ERROR_WANT_WRITE, "no write progress", err);
			if (rc < 0)
				return shelter_err_wrap(err, rc, "write to %s", c->peer);
			continue;
		}
		return tls_ssl_fail(c, e, SHELTER_E_NET, "write to", err);
	}
	return 0;
}

static void start_call(struct tls_conn *c)
{
	c->deadline_ms = tls_now_ms() + c->timeout_ms;
}

/* RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for this before
 * the body (curl does, for a second, for large bodies). */
static int send_continue(struct tls_conn *c, struct shelter_err *err)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	return write_raw(c, cont, sizeof(cont) - 1, err);
}

enum msg_kind { MSG_REQUEST, MSG_RESPONSE };

struct msg_out {
	enum msg_kind kind;
	int head_request;
	struct http_request *req;
	struct http_response *resp;
};

static int parse_buffered(struct tls_conn *c, const struct http_limits *lim,
			  const struct msg_out *m, size_t *used, struct shelter_err *err)
{
	if (m->kind == MSG_REQUEST)
		return http_parse_request(c->rbuf, c->rlen, lim, m->req, used, err);
	return http_parse_response(c->rbuf, c->rlen, lim, m->head_request, m->resp, used, err);
}

/* Read until one whole message is buffered; bytes after it stay for the next call. */
static int read_message(struct tls_conn *c, const struct http_limits *lim_in,
			const struct msg_out *m, struct shelter_err *err)
{
	const char *what = m->kind == MSG_REQUEST ? "no complete request" : "no response";
	struct http_limits lim;
	size_t used = 0;
	int rc, continued = 0;

	limits_resolve(lim_in, &lim);
	if (c->consumed > 0) {
		memmove(c->rbuf, c->rbuf + c->consumed, c->rlen - c->consumed);
		c->rlen -= c->consumed;
		c->consumed = 0;
	}
	start_call(c);
	for (;;) {
		int need = parse_buffered(c, &lim, m, &used, err);

		rc = need;
		if (need <= 0)
			break;
		if (m->kind == MSG_REQUEST && m->req->head_size != 0 &&
		    m->req->h.expect_continue && !continued) {
			continued = 1;
			rc = send_continue(c, err);
			if (rc < 0)
				break;
		}
		rc = rbuf_reserve(c, (size_t)need, lim.max_head + lim.max_body, err);
		if (rc < 0)
			break;
		rc = read_some(c, what, err);
		if (rc == 0 && c->rlen == 0)
			return TLS_CONN_EOF;
		if (rc == 0)
			rc = shelter_err_set(err, SHELTER_E_NET, "connection closed after %zu "
					     "bytes of a message", c->rlen);
		if (rc < 0)
			break;
	}
	if (rc == 0) {
		c->consumed = used;
		return 0;
	}
	return rc;
}

int tls_conn_read_request(struct tls_conn *c, const struct http_limits *lim,
			  struct http_request *req, struct shelter_err *err)
{
	struct msg_out m = { .kind = MSG_REQUEST, .req = req };
	int rc;

	memset(req, 0, sizeof(*req));
	rc = read_message(c, lim, &m, err);
	if (rc >= 0)
		return rc;
	/* an idle connection that timed out left nothing unread: no need to linger */
	c->refused = c->rlen > 0 || req->status != 0;
	if (req->status == 0 && rc == SHELTER_E_EXPIRED && c->rlen > 0)
		req->status = 408; /* RFC 9110 §15.5.9: part of a request came, too slowly */
	{
		int status = req->status;

		memset(req, 0, sizeof(*req));
		req->status = status;
	}
	return shelter_err_wrap(err, rc, "read request from %s", c->peer);
}

int tls_conn_read_response(struct tls_conn *c, const struct http_limits *lim,
			   int head_request, struct http_response *resp, struct shelter_err *err)
{
	struct msg_out m = { .kind = MSG_RESPONSE, .head_request = head_request,
			     .resp = resp };
	int rc;

	memset(resp, 0, sizeof(*resp));
	rc = read_message(c, lim, &m, err);
	if (rc >= 0)
		return rc;
	memset(resp, 0, sizeof(*resp));
	return shelter_err_wrap(err, rc, "read response from %s", c->peer);
}

int tls_conn_write_all(struct tls_conn *c, const void *buf, size_t size,
		       struct shelter_err *err)
{
	start_call(c);
	return write_raw(c, buf, size, err);
}

/* Head in c->wbuf; the body joins it in one record when both fit. */
static int write_head_body(struct tls_conn *c, size_t head_len, const void *body,
			   size_t body_size, struct shelter_err *err)
{
	int rc;

	start_call(c);
	if (body_size <= TLS_WBUF_SIZE - head_len) {
		if (body_size > 0)
			memcpy(c->wbuf + head_len, body, body_size);
		return write_raw(c, c->wbuf, head_len + body_size, err);
	}
	rc = write_raw(c, c->wbuf, head_len, err);
	if (rc == 0)
		rc = write_raw(c, body, body_size, err);
	return rc;
}

static int wbuf_get(struct tls_conn *c, struct shelter_err *err)
{
	if (c->wbuf == NULL)
		c->wbuf = malloc(TLS_WBUF_SIZE);
	if (c->wbuf == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "write buffer");
	return 0;
}

int tls_conn_write_response(struct tls_conn *c, int status, const char *content_type,
			    const void *body, size_t body_size, int keep_alive,
			    const struct http_header *extra, size_t extra_count,
			    struct shelter_err *err)
{
	size_t head_len = 0;
	int rc;

	if (body_size > 0 && body == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "response body missing");
	rc = wbuf_get(c, err);
	if (rc == 0)
		rc = http_format_response(status, content_type, body_size, keep_alive, extra,
					  extra_count, c->wbuf, TLS_WBUF_SIZE, &head_len, err);
	if (rc == 0)
		rc = write_head_body(c, head_len, body, body_size, err);
	return rc;
}

int tls_conn_write_request(struct tls_conn *c, enum http_method method, const char *target,
			   const char *host, const char *content_type, const void *body,
			   size_t body_size, int keep_alive, const struct http_header *extra,
			   size_t extra_count, struct shelter_err *err)
{
	size_t head_len = 0;
	int rc;

	if (body_size > 0 && body == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "request body missing");
	rc = wbuf_get(c, err);
	if (rc == 0)
		rc = http_format_request(method, target, host, content_type, body_size,
					 keep_alive, extra, extra_count, c->wbuf, TLS_WBUF_SIZE,
					 &head_len, err);
	if (rc == 0)
		rc = write_head_body(c, head_len, body, body_size, err);
	return rc;
}

/* ---- post-handshake client authentication ----------------------------------------- */

int tls_conn_request_client_cert(struct tls_conn *c, struct shelter_err *err)
{
	char reason[256];

	if (!c->is_server)
		return shelter_err_set(err, SHELTER_E_INVAL, "only a server asks for certificates");
	/* a request already sent could not be bound to the certificate that follows it;
	 * SSL_has_pending also sees records read ahead but not yet decrypted */
	if (c->rlen > c->consumed || SSL_has_pending(c->ssl))
		return shelter_err_set(err, SHELTER_E_PROTO, "request a certificate from %s: "
				       "it sent data before it was asked", c->peer);
	ERR_clear_error();
	if (SSL_verify_client_post_handshake(c->ssl) != 1) {
		unsigned long e = ERR_get_error();
		const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

		snprintf(reason, sizeof(reason), "%s", r != NULL ? r : "refused");
		ERR_clear_error();
		return shelter_err_set(err, SHELTER_E_PROTO, "request a certificate from %s: %s "
				       "(no post-handshake authentication offered?)", c->peer,
				       reason);
	}
	start_call(c);
	for (;;) {
		int r, e, rc;

		ERR_clear_error();
		r = SSL_do_handshake(c->ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(c->ssl, r);
		if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
			return tls_ssl_fail(c, e, SHELTER_E_NET, "request a certificate from", err);
		rc = tls_wait(c, e == SSL_ERROR_WANT_WRITE, "not sent", err);
		if (rc < 0)
			return shelter_err_wrap(err, rc, "request a certificate from %s", c->peer);
	}
}

X509 *tls_conn_peer_cert(struct tls_conn *c)
{
	return SSL_get1_peer_certificate(c->ssl);
}

int tls_conn_set_client_cert(struct tls_conn *c, X509 *cert, EVP_PKEY *key,
			     struct shelter_err *err)
{
	char reason[256] = "certificate and key do not match";

	if (c->is_server || cert == NULL || key == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "client certificate: bad arguments");
	ERR_clear_error();
	if (SSL_use_certificate(c->ssl, cert) != 1 || SSL_use_PrivateKey(c->ssl, key) != 1 ||
	    SSL_check_private_key(c->ssl) != 1) {
		unsigned long e = ERR_peek_last_error();

		if (e != 0 && ERR_reason_error_string(e) != NULL)
			snprintf(reason, sizeof(reason), "%s", ERR_reason_error_string(e));
		ERR_clear_error();
		return shelter_err_set(err, SHELTER_E_INVAL, "client certificate: %s", reason);
	}
	return 0;
}

int tls_conn_cert_requested(const struct tls_conn *c)
{
	return c->cert_pending;
}

/* Drive the connection until a CertificateRequest has been answered: the answer is
 * written inside SSL_read (OpenSSL handles post-handshake messages there), so read
 * into the message buffer, keeping any application data for the next read. */
int tls_conn_await_cert_request(struct tls_conn *c, int timeout_ms, struct shelter_err *err)
{
	int rc = 0;

	if (c->is_server || SSL_get_certificate(c->ssl) == NULL ||
	    SSL_get_privatekey(c->ssl) == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "await certificate request from %s: "
				       "no client certificate set", c->peer);
	c->deadline_ms = tls_now_ms() + (timeout_ms > 0 ? timeout_ms : c->timeout_ms);
	for (;;) {
		int n, e, saved = c->timeout_ms;

		if (c->cert_sent && !SSL_in_init(c->ssl)) {
			c->cert_sent = 0;
			return 0;
		}
		if (c->rcap == c->rlen) {
			rc = shelter_err_set(err, SHELTER_E_PROTO, "%zu bytes of data instead of "
					     "a certificate request", c->rlen);
			break;
		}
		ERR_clear_error();
		errno = 0;
		n = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(c->rcap - c->rlen > INT_MAX ?
							       INT_MAX : c->rcap - c->rlen));
		if (n > 0) {
			c->rlen += (size_t)n;
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			if (is_eof(e)) {
				ERR_clear_error();
				c->peer_eof = 1;
				rc = shelter_err_set(err, SHELTER_E_NET, "connection closed");
				break;
			}
			return tls_ssl_fail(c, e, SHELTER_E_NET, "await certificate request from",
					    err);
		}
		if (e == SSL_ERROR_WANT_READ && c->cert_sent && !SSL_in_init(c->ssl))
			continue;
		if (timeout_ms > 0)
			c->timeout_ms = timeout_ms; /* for the message only */
		rc = tls_wait(c, e == SSL_ERROR_WANT_WRITE, "no certificate request", err);
		c->timeout_ms = saved;
		if (rc < 0)
			break;
	}
	return shelter_err_wrap(err, rc, "await certificate request from %s", c->peer);
}
