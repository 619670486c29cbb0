/* TLS 1.3 contexts, sockets and handshakes over OpenSSL 3 (net/tls.h). Message I/O
 * and post-handshake authentication are in tls_io.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "net/tls_internal.h"

#define LINGER_MAX_MS 500
#define LINGER_MAX_BYTES (64 * 1024)

int64_t tls_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tls_wait(struct tls_conn *c, int want_write, const char *what, struct shelter_err *err)
{
	struct pollfd p = { .fd = c->fd, .events = want_write ? POLLOUT : POLLIN };

	for (;;) {
		int64_t left = c->deadline_ms - tls_now_ms();
		int n;

		if (left <= 0)
			return shelter_err_set(err, SHELTER_E_EXPIRED, "%s within %d ms", what,
					       c->timeout_ms);
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 0; /* readable, writable, or an error the next call reports */
		if (n < 0 && errno != EINTR)
			return shelter_err_errno(err, errno, "poll");
	}
}

/* The last OpenSSL reason in the queue ("unsupported protocol"), queue cleared. */
static unsigned long ssl_last_error(char *buf, size_t size)
{
	unsigned long e, last = 0;
	const char *r;

	while ((e = ERR_get_error()) != 0)
		last = e;
	r = last != 0 ? ERR_reason_error_string(last) : NULL;
	snprintf(buf, size, "%s", r != NULL ? r : "TLS error");
	return last;
}

int tls_ssl_fail(struct tls_conn *c, int ssl_err, int code, const char *ctx,
		 struct shelter_err *err)
{
	int saved_errno = errno;
	char reason[256];
	unsigned long last = ssl_last_error(reason, sizeof(reason));

	switch (ssl_err) {
	case SSL_ERROR_SYSCALL:
		if (last == 0)
			snprintf(reason, sizeof(reason), "%s", saved_errno != 0 ?
				 strerror(saved_errno) : "connection closed by the peer");
		break;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(reason, sizeof(reason), "connection closed by the peer");
		break;
	case SSL_ERROR_WANT_X509_LOOKUP:
		snprintf(reason, sizeof(reason), "certificate requested but none is set");
		break;
	case SSL_ERROR_SSL:
		/* bytes that are not TLS at all: a peer outside the protocol */
		switch (ERR_GET_REASON(last)) {
		case SSL_R_HTTP_REQUEST:
		case SSL_R_HTTPS_PROXY_REQUEST:
		case SSL_R_WRONG_VERSION_NUMBER:
		case SSL_R_PACKET_LENGTH_TOO_LONG:
			code = SHELTER_E_PROTO;
			break;
		default:
			break;
		}
		break;
	default:
		break;
	}
	c->broken = 1;
	return shelter_err_set(err, code, "%s %s: %s", ctx, c->peer, reason);
}

/* ---- a socket BIO that never raises SIGPIPE ------------------------------------- */

static BIO_METHOD *nosig_method;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static int nosig_write(BIO *b, const char *data, int len)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = send(fd, data, (size_t)len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)n;
}

static int nosig_read(BIO *b, char *data, int len)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = recv(fd, data, (size_t)len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	if (n == 0)
		BIO_set_flags(b, BIO_FLAGS_IN_EOF); /* lets OpenSSL tell EOF from an error */
	return (int)n;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
	case BIO_C_GET_FD:
		if (ptr != NULL)
			*(int *)ptr = (int)(intptr_t)BIO_get_data(b);
		return (long)(intptr_t)BIO_get_data(b);
	default:
		return 0;
	}
}

static int nosig_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void nosig_make(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "shelter socket");

	if (m == NULL)
		return;
	if (BIO_meth_set_write(m, nosig_write) != 1 || BIO_meth_set_read(m, nosig_read) != 1 ||
	    BIO_meth_set_ctrl(m, nosig_ctrl) != 1 || BIO_meth_set_create(m, nosig_create) != 1) {
		BIO_meth_free(m);
		return;
	}
	nosig_method = m;
}

static BIO *nosig_bio(int fd)
{
	BIO *b;

	if (pthread_once(&nosig_once, nosig_make) != 0 || nosig_method == NULL)
		return NULL;
	b = BIO_new(nosig_method);
	if (b != NULL)
		BIO_set_data(b, (void *)(intptr_t)fd);
	return b;
}

/* ---- contexts ----------------------------------------------------------------------- */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0; /* never prompt on a terminal: encrypted keys are refused */
}

static int pem_size_ok(const char *pem, size_t size)
{
	return pem != NULL && size > 0 && size <= INT_MAX;
}

/* The leaf (then chain certificates) and its key from PEM in memory. */
static int load_cert_key(SSL_CTX *sctx, const char *cert_pem, size_t cert_size,
			 const char *key_pem, size_t key_size, const char *what,
			 struct shelter_err *err)
{
	BIO *b = NULL;
	X509 *leaf = NULL, *chain;
	EVP_PKEY *key = NULL;
	char reason[256];
	int rc = SHELTER_E_MALFORMED;

	if (!pem_size_ok(cert_pem, cert_size) || !pem_size_ok(key_pem, key_size)) {
		rc = shelter_err_set(err, SHELTER_E_INVAL, "%s: certificate and key PEM required",
				     what);
		goto out;
	}
	b = BIO_new_mem_buf(cert_pem, (int)cert_size);
	leaf = b != NULL ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;
	if (leaf == NULL || SSL_CTX_use_certificate(sctx, leaf) != 1) {
		ssl_last_error(reason, sizeof(reason));
		shelter_err_set(err, rc, "%s certificate: %s", what, reason);
		goto out;
	}
	while ((chain = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(sctx, chain) != 1) {
			X509_free(chain);
			ssl_last_error(reason, sizeof(reason));
			shelter_err_set(err, rc, "%s chain certificate: %s", what, reason);
			goto out;
		}
	}
	ERR_clear_error(); /* the end of the PEM text */
	BIO_free(b);
	b = BIO_new_mem_buf(key_pem, (int)key_size);
	key = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
	if (key == NULL) {
		ssl_last_error(reason, sizeof(reason));
		shelter_err_set(err, rc, "%s key: %s", what, reason);
		goto out;
	}
	/* SSL_CTX_use_PrivateKey refuses a key that does not match the certificate */
	if (SSL_CTX_use_PrivateKey(sctx, key) != 1 || SSL_CTX_check_private_key(sctx) != 1) {
		ERR_clear_error();
		rc = shelter_err_set(err, SHELTER_E_INVAL, "%s: certificate and key do not match",
				     what);
		goto out;
	}
	rc = 0;
out:
	BIO_free(b);
	X509_free(leaf);
	EVP_PKEY_free(key);
	return rc;
}

/* TLS 1.3 only (RFC 8446); no compression or renegotiation exist in it. libctx:
 * tls_libctx() or NULL for OpenSSL's default context. */
static int ctx_base(struct tls_ctx **out, int is_server, OSSL_LIB_CTX *libctx,
		    struct shelter_err *err)
{
	struct tls_ctx *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (t == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "TLS context");
	t->is_server = is_server;
	t->ssl_ctx = SSL_CTX_new_ex(libctx, NULL,
				    is_server ? TLS_server_method() : TLS_client_method());
	if (t->ssl_ctx == NULL ||
	    SSL_CTX_set_min_proto_version(t->ssl_ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(t->ssl_ctx, TLS1_3_VERSION) != 1) {
		char reason[256];

		ssl_last_error(reason, sizeof(reason));
		tls_ctx_free(t);
		return shelter_err_set(err, SHELTER_E_CRYPTO, "TLS context: %s", reason);
	}
	/* tls_io.c writes from a buffer that may move between retries */
	SSL_CTX_set_mode(t->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Read what the socket holds in one recv, not each record's header and body
	 * apart: a flight of several records costs one system call, not two per record.
	 * Every read here is SSL_read first and poll only on WANT_READ, so bytes held
	 * in OpenSSL's buffer are never waited for. */
	SSL_CTX_set_read_ahead(t->ssl_ctx, 1);
	*out = t;
	return 0;
}

/* The application judges client certificates (tls.h enum tls_client_auth). */
static int accept_any_cert(X509_STORE_CTX *xs, void *arg)
{
	(void)xs;
	(void)arg;
	return 1;
}

int tls_server_ctx_new(const struct tls_server_opts *opts, struct tls_ctx **out,
		       struct shelter_err *err)
{
	struct tls_ctx *t = NULL;
	int rc;

	*out = NULL;
	if (opts == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "TLS server: no options");
	rc = ctx_base(&t, 1, tls_libctx(), err);
	if (rc < 0)
		return rc;
	rc = load_cert_key(t->ssl_ctx, opts->cert_pem, opts->cert_pem_size, opts->key_pem,
			   opts->key_pem_size, "TLS server", err);
	if (rc < 0)
		goto out;
	if (!opts->session_tickets) {
		/* every connection is a full handshake: no ticket key to protect or rotate */
		SSL_CTX_set_num_tickets(t->ssl_ctx, 0);
		SSL_CTX_set_options(t->ssl_ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_session_cache_mode(t->ssl_ctx, SSL_SESS_CACHE_OFF);
	} else {
		static const unsigned char sid[] = "shelter";

		SSL_CTX_set_session_id_context(t->ssl_ctx, sid, sizeof(sid) - 1);
	}
	switch (opts->client_auth) {
	case TLS_CLIENT_AUTH_NONE:
		SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_NONE, NULL);
		break;
	case TLS_CLIENT_AUTH_OPTIONAL:
		SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER, NULL);
		break;
	case TLS_CLIENT_AUTH_POST_HANDSHAKE:
		SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER | SSL_VERIFY_POST_HANDSHAKE, NULL);
		break;
	default:
		rc = shelter_err_set(err, SHELTER_E_INVAL, "TLS server: client_auth %d",
				     (int)opts->client_auth);
		goto out;
	}
	SSL_CTX_set_cert_verify_callback(t->ssl_ctx, accept_any_cert, NULL);
	*out = t;
	t = NULL;
out:
	tls_ctx_free(t);
	return rc;
}

int tls_pin_from_pem(const char *pem, size_t size, uint8_t **der, size_t *der_size,
		     struct shelter_err *err)
{
	BIO *bio = size <= INT_MAX ? BIO_new_mem_buf(pem, (int)size) : NULL;
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	unsigned char *p = NULL;
	int n = cert ? i2d_X509(cert, &p) : -1;

	X509_free(cert);
	BIO_free(bio);
	ERR_clear_error();
	*der = n > 0 ? p : NULL;
	*der_size = n > 0 ? (size_t)n : 0;
	if (n <= 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "not a PEM certificate");
	return 0;
}

int tls_cert_spki_sha256(X509 *cert, uint8_t out[TLS_SPKI_SHA256_SIZE],
			 struct shelter_err *err)
{
	unsigned char *der = NULL;
	unsigned int md_len = 0;
	int len, rc = 0;

	len = cert != NULL ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der) : -1;
	if (len <= 0 || EVP_Digest(der, (size_t)len, out, &md_len, EVP_sha256(), NULL) != 1) {
		ERR_clear_error();
		rc = shelter_err_set(err, SHELTER_E_CRYPTO, "certificate public key digest");
	}
	OPENSSL_free(der);
	return rc;
}

/* RFC 7469-style pinning of the server leaf: the chain is not consulted, the pin is
 * the identity. */
static int pin_verify(X509_STORE_CTX *xs, void *arg)
{
	const struct tls_ctx *t = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	uint8_t md[TLS_SPKI_SHA256_SIZE];
	unsigned char *der = NULL;
	int len, ok = 0;

	if (leaf != NULL && t->verify == TLS_VERIFY_PIN_DER) {
		len = i2d_X509(leaf, &der);
		ok = len > 0 && (size_t)len == t->pin_der_size &&
		     CRYPTO_memcmp(der, t->pin_der, t->pin_der_size) == 0;
		OPENSSL_free(der);
	} else if (leaf != NULL && t->verify == TLS_VERIFY_PIN_SPKI) {
		ok = tls_cert_spki_sha256(leaf, md, NULL) == 0 &&
		     CRYPTO_memcmp(md, t->pin_spki, sizeof(md)) == 0;
	}
	if (!ok) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
		if (c != NULL)
			c->pin_mismatch = 1;
	}
	return ok;
}

static int client_verify_setup(struct tls_ctx *t, const struct tls_client_opts *o,
			       struct shelter_err *err)
{
	int modes = (o->pin_cert_der != NULL) + (o->pin_spki_sha256 != NULL) +
		    (o->ca_file != NULL) + (o->ca_pem != NULL);

	/* fail closed: there is no "do not verify" mode */
	if (modes != 1)
		return shelter_err_set(err, SHELTER_E_INVAL, "TLS client: give exactly one of "
				       "a pinned certificate, a pinned key or a CA (%d given)",
				       modes);
	SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (o->pin_cert_der != NULL) {
		if (o->pin_cert_der_size == 0)
			return shelter_err_set(err, SHELTER_E_INVAL, "TLS client: empty pin");
		t->pin_der = malloc(o->pin_cert_der_size);
		if (t->pin_der == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "TLS client pin");
		memcpy(t->pin_der, o->pin_cert_der, o->pin_cert_der_size);
		t->pin_der_size = o->pin_cert_der_size;
		t->verify = TLS_VERIFY_PIN_DER;
		SSL_CTX_set_cert_verify_callback(t->ssl_ctx, pin_verify, t);
		return 0;
	}
	if (o->pin_spki_sha256 != NULL) {
		memcpy(t->pin_spki, o->pin_spki_sha256, sizeof(t->pin_spki));
		t->verify = TLS_VERIFY_PIN_SPKI;
		SSL_CTX_set_cert_verify_callback(t->ssl_ctx, pin_verify, t);
		return 0;
	}
	t->verify = TLS_VERIFY_CA;
	if (o->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(t->ssl_ctx, o->ca_file, NULL) != 1) {
			char reason[256];

			ssl_last_error(reason, sizeof(reason));
			return shelter_err_set(err, SHELTER_E_INVAL, "CA file '%s': %s",
					       o->ca_file, reason);
		}
		return 0;
	}
	if (!pem_size_ok(o->ca_pem, o->ca_pem_size))
		return shelter_err_set(err, SHELTER_E_INVAL, "TLS client: empty CA PEM");
	{
		BIO *b = BIO_new_mem_buf(o->ca_pem, (int)o->ca_pem_size);
		X509_STORE *store = SSL_CTX_get_cert_store(t->ssl_ctx);
		X509 *x;
		int n = 0, ok = 1;

		while (ok && b != NULL && (x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL))) {
			ok = X509_STORE_add_cert(store, x) == 1;
			X509_free(x);
			n++;
		}
		BIO_free(b);
		ERR_clear_error();
		if (!ok || n == 0)
			return shelter_err_set(err, SHELTER_E_MALFORMED,
					       "CA PEM: no usable certificate");
	}
	return 0;
}

int tls_client_ctx_new(const struct tls_client_opts *opts, struct tls_ctx **out,
		       struct shelter_err *err)
{
	struct tls_ctx *t = NULL;
	int rc;

	*out = NULL;
	if (opts == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "TLS client: no options");
	/* A pinned server is Shelter's own (the CAS): its keys are among tls_libctx's.
	 * A server checked against a CA may be anyone's. */
	rc = ctx_base(&t, 0, opts->ca_file == NULL && opts->ca_pem == NULL ? tls_libctx() : NULL,
		      err);
	if (rc < 0)
		return rc;
	rc = client_verify_setup(t, opts, err);
	if (rc == 0 && (opts->cert_pem != NULL || opts->key_pem != NULL))
		rc = load_cert_key(t->ssl_ctx, opts->cert_pem, opts->cert_pem_size,
				   opts->key_pem, opts->key_pem_size, "TLS client", err);
	if (rc < 0)
		goto out;
	t->defer_client_cert = opts->defer_client_cert;
	*out = t;
	t = NULL;
out:
	tls_ctx_free(t);
	return rc;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx->pin_der);
	free(ctx);
}

/* ---- sockets -------------------------------------------------------------------- */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int tls_listen(const char *host, uint16_t port, int backlog, int *out_fd,
	       uint16_t *out_port, struct shelter_err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ps[8];
	int fd = -1, one = 1, rc, e = 0;

	*out_fd = -1;
	*out_port = 0;
	snprintf(ps, sizeof(ps), "%u", (unsigned)port);
	rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0)
		return shelter_err_set(err, SHELTER_E_NET, "listen %s:%u: %s", host,
				       (unsigned)port, gai_strerror(rc));
	for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, backlog) == 0)
			break;
		e = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return shelter_err_set(err, SHELTER_E_NET, "listen %s:%u: %s", host,
				       (unsigned)port, strerror(e));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		e = errno;
		close(fd);
		return shelter_err_set(err, SHELTER_E_NET, "listen %s: %s", host, strerror(e));
	}
	*out_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	*out_fd = fd;
	return 0;
}

static int is_ip_literal(const char *host, int *v6)
{
	unsigned char a[16];

	*v6 = inet_pton(AF_INET6, host, a) == 1;
	return *v6 || inet_pton(AF_INET, host, a) == 1;
}

static struct tls_conn *conn_new(int is_server, int timeout_ms)
{
	struct tls_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->fd = -1;
	c->is_server = is_server;
	c->timeout_ms = timeout_ms;
	c->deadline_ms = tls_now_ms() + timeout_ms;
	c->rbuf = malloc(TLS_RBUF_INITIAL);
	c->rcap = TLS_RBUF_INITIAL;
	if (c->rbuf == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

/* Non-blocking connect to each address of host in turn, within the deadline. */
static int tcp_connect(struct tls_conn *c, const char *host, uint16_t port,
		       struct shelter_err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char ps[8];
	int rc, e = ECONNREFUSED, one = 1, ok = 0, wait_rc = 0;

	snprintf(ps, sizeof(ps), "%u", (unsigned)port);
	rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0)
		return shelter_err_set(err, SHELTER_E_NET, "connect %s: %s", c->peer,
				       gai_strerror(rc));
	for (struct addrinfo *a = res; a != NULL && !ok && wait_rc == 0; a = a->ai_next) {
		socklen_t el = sizeof(e);

		c->fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (c->fd < 0) {
			e = errno;
			continue;
		}
		if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0) {
			ok = 1;
			break;
		}
		e = errno;
		if (e == EINPROGRESS) {
			wait_rc = tls_wait(c, 1, "no connection", err);
			if (wait_rc == 0 && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
				e = errno;
			ok = wait_rc == 0 && e == 0;
		}
		if (!ok) {
			close(c->fd);
			c->fd = -1;
		}
	}
	freeaddrinfo(res);
	if (wait_rc < 0)
		return shelter_err_wrap(err, wait_rc, "connect %s", c->peer);
	if (!ok)
		return shelter_err_set(err, SHELTER_E_NET, "connect %s: %s", c->peer, strerror(e));
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* Client: a CertificateRequest arrived (during or after the handshake). */
static int client_cert_cb(SSL *ssl, void *arg)
{
	struct tls_conn *c = arg;

	if (SSL_get_certificate(ssl) != NULL && SSL_get_privatekey(ssl) != NULL) {
		c->cert_pending = 0;
		c->cert_sent = 1;
		return 1;
	}
	/* during the handshake there is nothing to wait for: answer with no certificate */
	if (c->defer_cert && !c->handshaking) {
		c->cert_pending = 1;
		return -1; /* SSL_ERROR_WANT_X509_LOOKUP until a certificate is set */
	}
	return 1;
}

static int attach_ssl(struct tls_conn *c, struct tls_ctx *ctx, struct shelter_err *err)
{
	BIO *b;

	c->ssl = SSL_new(ctx->ssl_ctx);
	b = c->ssl != NULL ? nosig_bio(c->fd) : NULL;
	if (b == NULL) {
		char reason[256];

		ssl_last_error(reason, sizeof(reason));
		return shelter_err_set(err, SHELTER_E_NOMEM, "TLS connection with %s: %s",
				       c->peer, reason);
	}
	SSL_set_bio(c->ssl, b, b);
	SSL_set_app_data(c->ssl, c);
	return 0;
}

static int handshake(struct tls_conn *c, struct shelter_err *err)
{
	c->handshaking = 1;
	for (;;) {
		int r, e, rc;

		ERR_clear_error();
		r = c->is_server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
		if (r == 1)
			break;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			rc = tls_wait(c, e == SSL_ERROR_WANT_WRITE, "not complete", err);
			if (rc < 0) {
				c->broken = 1;
				return shelter_err_wrap(err, rc, "TLS handshake with %s", c->peer);
			}
			continue;
		}
		if (c->pin_mismatch) {
			ERR_clear_error();
			c->broken = 1;
			return shelter_err_set(err, SHELTER_E_UNTRUSTED, "TLS handshake with %s: "
					       "server certificate does not match the pin",
					       c->peer);
		}
		if (!c->is_server && SSL_get_verify_result(c->ssl) != X509_V_OK) {
			long v = SSL_get_verify_result(c->ssl);

			ERR_clear_error();
			c->broken = 1;
			return shelter_err_set(err, SHELTER_E_UNTRUSTED, "TLS handshake with %s: "
					       "server certificate: %s", c->peer,
					       X509_verify_cert_error_string(v));
		}
		return tls_ssl_fail(c, e, SHELTER_E_NET, "TLS handshake with", err);
	}
	c->handshaking = 0;
	c->cert_sent = 0; /* from here on it reports post-handshake answers only */
	return 0;
}

int tls_connect(struct tls_ctx *ctx, const char *host, uint16_t port, int timeout_ms,
		struct tls_conn **out, struct shelter_err *err)
{
	struct tls_conn *c = NULL;
	int v6 = 0, ip, rc;

	*out = NULL;
	if (ctx == NULL || ctx->is_server || host == NULL || host[0] == '\0' ||
	    strlen(host) > HTTP_URL_HOST_MAX || timeout_ms <= 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "tls_connect: bad arguments");
	c = conn_new(0, timeout_ms);
	if (c == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "connect %s", host);
	ip = is_ip_literal(host, &v6);
	snprintf(c->peer, sizeof(c->peer), v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
	c->defer_cert = ctx->defer_client_cert;
	rc = tcp_connect(c, host, port, err);
	if (rc == 0)
		rc = attach_ssl(c, ctx, err);
	if (rc < 0)
		goto out;
	SSL_set_post_handshake_auth(c->ssl, 1);
	SSL_set_cert_cb(c->ssl, client_cert_cb, c);
	if (!ip && SSL_set_tlsext_host_name(c->ssl, host) != 1)
		rc = shelter_err_set(err, SHELTER_E_INVAL, "connect %s: bad server name", c->peer);
	if (rc == 0 && ctx->verify == TLS_VERIFY_CA &&
	    (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host)
		: SSL_set1_host(c->ssl, host)) != 1)
		rc = shelter_err_set(err, SHELTER_E_INVAL, "connect %s: bad host for the "
				     "certificate check", c->peer);
	if (rc == 0)
		rc = handshake(c, err);
	if (rc < 0)
		goto out;
	*out = c;
	c = NULL;
out:
	ERR_clear_error();
	tls_conn_close(c);
	return rc;
}

static void peer_name(struct tls_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN] = "?";

	snprintf(c->peer, sizeof(c->peer), "fd %d", c->fd);
	if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", a, (unsigned)ntohs(s4->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", a, (unsigned)ntohs(s6->sin6_port));
	}
}

int tls_accept(struct tls_ctx *ctx, int fd, int timeout_ms, struct tls_conn **out,
	       struct shelter_err *err)
{
	struct tls_conn *c = NULL;
	int one = 1, rc;

	*out = NULL;
	if (ctx == NULL || !ctx->is_server || fd < 0 || timeout_ms <= 0) {
		if (fd >= 0)
			close(fd);
		return shelter_err_set(err, SHELTER_E_INVAL, "tls_accept: bad arguments");
	}
	c = conn_new(1, timeout_ms);
	if (c == NULL) {
		close(fd);
		return shelter_err_set(err, SHELTER_E_NOMEM, "accept");
	}
	c->fd = fd;
	peer_name(c);
	if (set_nonblock(fd) < 0) {
		rc = shelter_err_errno(err, errno, "accept %s", c->peer);
		goto out;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = attach_ssl(c, ctx, err);
	if (rc == 0)
		rc = handshake(c, err);
	if (rc < 0)
		goto out;
	*out = c;
	c = NULL;
out:
	ERR_clear_error();
	tls_conn_close(c);
	return rc;
}

void tls_conn_set_timeout(struct tls_conn *c, int timeout_ms)
{
	if (c != NULL && timeout_ms > 0)
		c->timeout_ms = timeout_ms;
}

/* Read and drop what the peer still sends until it closes, briefly, after our own
 * FIN: closing with unread input would make the kernel send a reset that can destroy
 * the answer we just wrote before the peer reads it. */
static void linger_drain(struct tls_conn *c)
{
	int64_t end = tls_now_ms() + (c->timeout_ms < LINGER_MAX_MS ? c->timeout_ms
								     : LINGER_MAX_MS);
	size_t total = 0;
	char buf[4096];

	if (shutdown(c->fd, SHUT_WR) < 0)
		return;
	while (total < LINGER_MAX_BYTES) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int64_t left = end - tls_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return;
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n <= 0 && !(n < 0 && (errno == EINTR || errno == EAGAIN)))
			return;
		if (n > 0)
			total += (size_t)n;
	}
}

/* Whether closing now could reset the connection under our last answer: input we
 * did not read (in our buffer or the kernel's), or a request we refused, whose rest
 * may still be on its way. A clean close after a whole request costs no wait. */
static int input_pending(const struct tls_conn *c)
{
	int unread = 0;

	if (c->refused || c->rlen > c->consumed)
		return 1;
	return ioctl(c->fd, FIONREAD, &unread) == 0 && unread > 0;
}

void tls_conn_close(struct tls_conn *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL && !c->broken && SSL_is_init_finished(c->ssl)) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl); /* sends close_notify; does not wait for the peer's */
	}
	if (c->fd >= 0 && c->is_server && !c->peer_eof && input_pending(c))
		linger_drain(c);
	if (c->fd >= 0)
		close(c->fd);
	SSL_free(c->ssl);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
	ERR_clear_error();
}

int tls_conn_fd(const struct tls_conn *c)
{
	return c->fd;
}

const char *tls_conn_peer(const struct tls_conn *c)
{
	return c->peer;
}

SSL *tls_conn_ssl(struct tls_conn *c)
{
	return c->ssl;
}
