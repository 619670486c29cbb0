/* Unit tests for TLS 1.3 connections (src/lib/net/tls.h) on loopback, with
 * certificates made here (self-signed P-256 and Ed25519): server authentication by
 * pinned certificate, pinned key and CA (accepted and refused), TLS 1.2 refused,
 * HTTP over TLS (keep-alive, pipelining, a body larger than the first buffer, 413,
 * Expect: 100-continue), the post-handshake client certificate flow of attestation
 * (a certificate the client makes after the handshake from the server's nonce),
 * client certificates in the handshake (Ed25519), and every timeout. Negative cases
 * first in each group (STYLE.md rule 16).
 *
 * Each test runs a server in a thread on a port picked at run time; the thread's
 * outcome is collected after pthread_join, so a failed CHECK never leaves it behind
 * (every wait in it is bounded). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/tls.h"
#include "net/tls_internal.h" /* TLS_RBUF_INITIAL */
#include "../test.h"

#define T_MS 5000 /* generous: only reached when something is broken */

/* ---- certificates -------------------------------------------------------------------- */

struct cert {
	EVP_PKEY *key;
	X509 *x509;
	char *cert_pem;
	size_t cert_pem_size;
	char *key_pem;
	size_t key_pem_size;
	uint8_t *der;
	size_t der_size;
};

static char *bio_text(BIO *b, size_t *size)
{
	char *p, *out;
	long n = BIO_get_mem_data(b, &p);

	out = malloc((size_t)n + 1);
	if (out == NULL)
		exit(2);
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	*size = (size_t)n;
	return out;
}

/* Self-signed certificate; ed25519 (1), P-256 (0) or RSA-2048 (2); san like
 * "IP:127.0.0.1,DNS:localhost". */
static void cert_make(struct cert *c, int ed25519, const char *cn, const char *san)
{
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	BIO *b;
	unsigned char *der = NULL;
	int n;

	memset(c, 0, sizeof(*c));
	c->key = ed25519 == 1	? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
		 : ed25519 == 2 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
				: EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	c->x509 = X509_new();
	if (c->key == NULL || c->x509 == NULL)
		exit(2);
	X509_set_version(c->x509, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c->x509), (long)(random() & 0x7fffffff));
	X509_gmtime_adj(X509_getm_notBefore(c->x509), -60);
	X509_gmtime_adj(X509_getm_notAfter(c->x509), 3600);
	X509_set_pubkey(c->x509, c->key);
	name = X509_get_subject_name(c->x509);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
				   0);
	X509_set_issuer_name(c->x509, name);
	if (san != NULL) {
		X509V3_set_ctx(&v3, c->x509, c->x509, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
		if (ext == NULL || !X509_add_ext(c->x509, ext, -1))
			exit(2);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(c->x509, c->key, ed25519 == 1 ? NULL : EVP_sha256()) <= 0)
		exit(2);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, c->x509);
	c->cert_pem = bio_text(b, &c->cert_pem_size);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, c->key, NULL, NULL, 0, NULL, NULL);
	c->key_pem = bio_text(b, &c->key_pem_size);
	BIO_free(b);
	n = i2d_X509(c->x509, &der);
	if (n <= 0)
		exit(2);
	c->der = der;
	c->der_size = (size_t)n;
}

static void cert_free(struct cert *c)
{
	EVP_PKEY_free(c->key);
	X509_free(c->x509);
	free(c->cert_pem);
	free(c->key_pem);
	OPENSSL_free(c->der);
}

static struct cert srv_a;   /* P-256, SAN IP:127.0.0.1 */
static struct cert srv_b;   /* P-256, SAN DNS:other.example only */
static struct cert owner;   /* Ed25519, a client certificate */

static void cn_of(X509 *x, char *out, size_t size)
{
	out[0] = '\0';
	if (x != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out,
					  (int)size);
}

/* ---- the test server --------------------------------------------------------------------- */

enum srv_mode {
	SRV_HANDSHAKE,    /* accept, record the outcome, close */
	SRV_ECHO,         /* answer requests "METHOD PATH body=N seq=K" until EOF */
	SRV_READ_ONE,     /* read one request, record rc and status */
	SRV_PHA,          /* GET /nonce, then ask for a certificate, then POST /attest */
	SRV_PEER_CN,      /* answer one request with the handshake client certificate CN */
	SRV_PHA_FIRST,    /* as SRV_PHA, but ask for the certificate before answering */
	SRV_FLOOD,        /* answer one request with 8 MiB, whoever still listens */
};

struct srv {
	enum srv_mode mode;
	struct tls_ctx *ctx;
	int lfd;
	uint16_t port;
	int accept_timeout_ms;
	int read_timeout_ms;
	struct http_limits lim;
	pthread_t th;
	/* outcome */
	int rc_accept;
	int rc;
	int status;
	int requests;
	int eof;
	char msg[SHELTER_ERR_MSG_SIZE];
	char cn[128];
};

static int accept_fd(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	if (poll(&p, 1, T_MS) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static void srv_echo(struct srv *s, struct tls_conn *c, struct shelter_err *err)
{
	for (;;) {
		struct http_request req;
		char body[256];
		int n, rc = tls_conn_read_request(c, &s->lim, &req, err);

		if (rc == TLS_CONN_EOF) {
			s->eof = 1;
			return;
		}
		if (rc < 0) {
			s->rc = rc;
			s->status = req.status;
			snprintf(s->msg, sizeof(s->msg), "%s", err->msg);
			/* the answer to a refused request; its own failure changes nothing */
			if (req.status != 0 &&
			    tls_conn_write_response(c, req.status, NULL, NULL, 0, 0, NULL, 0,
						    NULL) < 0)
				s->status = -req.status;
			return;
		}
		s->requests++;
		n = snprintf(body, sizeof(body), "%s %.*s body=%zu seq=%d",
			     http_method_name(req.method), (int)req.path.len, req.path.p,
			     req.body_size, s->requests);
		if (req.body_size > 0 && req.body[req.body_size - 1] != 'z')
			n = snprintf(body, sizeof(body), "bad body end");
		if (tls_conn_write_response(c, 200, "text/plain", body, (size_t)n,
					    req.h.keep_alive, NULL, 0, err) < 0 ||
		    !req.h.keep_alive)
			return;
	}
}

/* docs/api/http.md "post-handshake certificate": the server answers the nonce, asks
 * for a certificate, and judges the request that follows by it. */
static void srv_pha(struct srv *s, struct tls_conn *c, struct shelter_err *err)
{
	struct http_request req;
	X509 *peer;
	char body[160];
	int n;

	s->rc = tls_conn_read_request(c, &s->lim, &req, err);
	if (s->rc == 0 && s->mode == SRV_PHA_FIRST)
		s->rc = tls_conn_request_client_cert(c, err);
	if (s->rc != 0)
		goto fail;
	s->rc = tls_conn_write_response(c, 200, "text/plain", "nonce-4711", 10, 1, NULL, 0, err);
	if (s->rc == 0 && s->mode == SRV_PHA)
		s->rc = tls_conn_request_client_cert(c, err);
	if (s->rc == 0)
		s->rc = tls_conn_read_request(c, &s->lim, &req, err);
	if (s->rc != 0)
		goto fail;
	s->requests = 2;
	peer = tls_conn_peer_cert(c);
	cn_of(peer, s->cn, sizeof(s->cn));
	X509_free(peer);
	n = snprintf(body, sizeof(body), "attest cn=%s", s->cn[0] ? s->cn : "(none)");
	s->rc = tls_conn_write_response(c, 200, "text/plain", body, (size_t)n, 0, NULL, 0, err);
	if (s->rc == 0)
		return;
fail:
	snprintf(s->msg, sizeof(s->msg), "%s", err->msg);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	struct tls_conn *c = NULL;
	struct shelter_err err;
	int fd = accept_fd(s->lfd);

	shelter_err_clear(&err);
	if (fd < 0) {
		s->rc_accept = SHELTER_E_NET;
		snprintf(s->msg, sizeof(s->msg), "no connection");
		return NULL;
	}
	s->rc_accept = tls_accept(s->ctx, fd, s->accept_timeout_ms ? s->accept_timeout_ms : T_MS,
				  &c, &err);
	if (s->rc_accept < 0) {
		snprintf(s->msg, sizeof(s->msg), "%s", err.msg);
		return NULL;
	}
	if (s->read_timeout_ms > 0)
		tls_conn_set_timeout(c, s->read_timeout_ms);
	switch (s->mode) {
	case SRV_ECHO:
		srv_echo(s, c, &err);
		break;
	case SRV_READ_ONE: {
		struct http_request req;

		s->rc = tls_conn_read_request(c, &s->lim, &req, &err);
		s->status = req.status;
		snprintf(s->msg, sizeof(s->msg), "%s", err.msg);
		break;
	}
	case SRV_PHA:
	case SRV_PHA_FIRST:
		srv_pha(s, c, &err);
		break;
	case SRV_PEER_CN: {
		struct http_request req;
		X509 *peer = tls_conn_peer_cert(c);

		cn_of(peer, s->cn, sizeof(s->cn));
		X509_free(peer);
		s->rc = tls_conn_read_request(c, &s->lim, &req, &err);
		if (s->rc == 0)
			s->rc = tls_conn_write_response(c, 200, NULL, s->cn, strlen(s->cn), 0,
							NULL, 0, &err);
		break;
	}
	case SRV_FLOOD: {
		struct http_request req;
		size_t big = 8u << 20;
		char *body = calloc(1, big);

		s->rc = body != NULL ? tls_conn_read_request(c, &s->lim, &req, &err) : -1;
		if (s->rc == 0)
			s->rc = tls_conn_write_response(c, 200, NULL, body, big, 1, NULL, 0, &err);
		snprintf(s->msg, sizeof(s->msg), "%s", err.msg);
		free(body);
		break;
	}
	case SRV_HANDSHAKE:
	default:
		break;
	}
	tls_conn_close(c);
	return NULL;
}

/* Start a server with cert and client_auth in mode; 0 or exits the binary. */
static void srv_start(struct srv *s, enum srv_mode mode, const struct cert *cert,
		      enum tls_client_auth auth)
{
	struct tls_server_opts o = {
		.cert_pem = cert->cert_pem, .cert_pem_size = cert->cert_pem_size,
		.key_pem = cert->key_pem, .key_pem_size = cert->key_pem_size,
		.client_auth = auth,
	};
	struct shelter_err err;

	if (tls_server_ctx_new(&o, &s->ctx, &err) < 0 ||
	    tls_listen("127.0.0.1", 0, 8, &s->lfd, &s->port, &err) < 0) {
		fprintf(stderr, "server setup: %s\n", err.msg);
		exit(2);
	}
	s->mode = mode;
	if (pthread_create(&s->th, NULL, srv_main, s) != 0)
		exit(2);
}

static void srv_join(struct srv *s)
{
	pthread_join(s->th, NULL);
	close(s->lfd);
	tls_ctx_free(s->ctx);
	s->ctx = NULL;
}

static struct tls_ctx *client_pinned(const struct cert *pin, int defer)
{
	struct tls_client_opts o = { .pin_cert_der = pin->der,
				     .pin_cert_der_size = pin->der_size,
				     .defer_client_cert = defer };
	struct tls_ctx *ctx = NULL;
	struct shelter_err err;

	if (tls_client_ctx_new(&o, &ctx, &err) < 0) {
		fprintf(stderr, "client setup: %s\n", err.msg);
		exit(2);
	}
	return ctx;
}

/* One GET over c; 0 and the body in out (NUL-terminated) or a code. */
static int get(struct tls_conn *c, const char *target, int keep_alive, char *out, size_t size)
{
	struct http_response resp;
	int rc = tls_conn_write_request(c, HTTP_GET, target, "127.0.0.1", NULL, NULL, 0,
					keep_alive, NULL, 0, NULL);

	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &resp, NULL);
	if (rc != 0)
		return rc;
	snprintf(out, size, "%d %.*s", resp.status, (int)resp.body_size,
		 (const char *)resp.body);
	return 0;
}

/* ---- server authentication ----------------------------------------------------------- */

static void client_opts_need_exactly_one_check(void)
{
	uint8_t spki[TLS_SPKI_SHA256_SIZE] = { 0 };
	struct tls_client_opts none = { 0 };
	struct tls_client_opts two = { .pin_spki_sha256 = spki, .ca_file = "/etc/hostname" };
	struct tls_client_opts bad_ca = { .ca_pem = "junk", .ca_pem_size = 4 };
	struct tls_server_opts no_key = { .cert_pem = srv_a.cert_pem,
					  .cert_pem_size = srv_a.cert_pem_size };
	struct tls_server_opts wrong_key = {
		.cert_pem = srv_a.cert_pem, .cert_pem_size = srv_a.cert_pem_size,
		.key_pem = srv_b.key_pem, .key_pem_size = srv_b.key_pem_size };
	struct tls_server_opts junk = { .cert_pem = "x", .cert_pem_size = 1,
					.key_pem = "y", .key_pem_size = 1 };
	struct tls_ctx *ctx = (struct tls_ctx *)&ctx;
	struct shelter_err err;

	CHECK_RC(tls_client_ctx_new(&none, &ctx, &err), SHELTER_E_INVAL);
	CHECK(ctx == NULL && strstr(err.msg, "exactly one") != NULL);
	CHECK_RC(tls_client_ctx_new(&two, &ctx, &err), SHELTER_E_INVAL);
	CHECK_RC(tls_client_ctx_new(&bad_ca, &ctx, &err), SHELTER_E_MALFORMED);
	CHECK_RC(tls_server_ctx_new(&no_key, &ctx, &err), SHELTER_E_INVAL);
	CHECK_RC(tls_server_ctx_new(&wrong_key, &ctx, &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "do not match") != NULL);
	CHECK_RC(tls_server_ctx_new(&junk, &ctx, &err), SHELTER_E_MALFORMED);
	CHECK(ctx == NULL);
}

static void pin_der_refuses_other_server(void)
{
	struct srv s = { 0 };
	struct tls_ctx *cctx;
	struct tls_conn *c = (struct tls_conn *)&c;
	struct shelter_err err;
	int rc;

	srv_start(&s, SRV_HANDSHAKE, &srv_b, TLS_CLIENT_AUTH_NONE);
	cctx = client_pinned(&srv_a, 0);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, &err);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_RC(rc, SHELTER_E_UNTRUSTED);
	CHECK(c == NULL);
	CHECK(strstr(err.msg, "TLS handshake with 127.0.0.1:") != NULL);
	CHECK(strstr(err.msg, "does not match the pin") != NULL);
	CHECK_RC(s.rc_accept, SHELTER_E_NET); /* the server saw the client's alert */
}

static void pin_spki_refuses_and_accepts(void)
{
	uint8_t pin[TLS_SPKI_SHA256_SIZE];
	struct tls_client_opts o = { .pin_spki_sha256 = pin };
	struct srv s = { 0 };
	struct tls_ctx *cctx = NULL;
	struct tls_conn *c = NULL;
	struct shelter_err err;
	char out[128];
	int rc;

	CHECK_OK(tls_cert_spki_sha256(srv_a.x509, pin, NULL));
	CHECK_RC(tls_cert_spki_sha256(NULL, pin, NULL), SHELTER_E_CRYPTO);
	CHECK_OK(tls_client_ctx_new(&o, &cctx, NULL));
	srv_start(&s, SRV_HANDSHAKE, &srv_b, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, &err);
	srv_join(&s);
	CHECK_RC(rc, SHELTER_E_UNTRUSTED);

	srv_start(&s, SRV_ECHO, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, &err);
	if (rc == 0)
		rc = get(c, "/spki", 0, out, sizeof(out));
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_OK(rc);
	CHECK(strcmp(out, "200 GET /spki body=0 seq=1") == 0);
}

static void pin_der_accepts_tls13_only(void)
{
	struct srv s = { 0 };
	struct tls_ctx *cctx = client_pinned(&srv_a, 0);
	struct tls_conn *c = NULL;
	struct shelter_err err;
	char out[128] = "";
	int rc, version = 0;

	srv_start(&s, SRV_ECHO, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, &err);
	if (rc == 0) {
		version = SSL_version(tls_conn_ssl(c));
		rc = get(c, "/hello?x=1", 0, out, sizeof(out));
	}
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_OK(rc);
	CHECK(version == TLS1_3_VERSION);
	CHECK(strcmp(out, "200 GET /hello body=0 seq=1") == 0);
}

static void ca_refuses_wrong_name_accepts_right_one(void)
{
	struct tls_client_opts ob = { .ca_pem = srv_b.cert_pem, .ca_pem_size = srv_b.cert_pem_size };
	struct tls_client_opts oa = { .ca_pem = srv_a.cert_pem, .ca_pem_size = srv_a.cert_pem_size };
	struct srv s = { 0 };
	struct tls_ctx *cctx = NULL;
	struct tls_conn *c = NULL;
	struct shelter_err err;
	char out[128] = "";
	int rc;

	/* srv_b chains to the CA but names other.example, not 127.0.0.1 */
	CHECK_OK(tls_client_ctx_new(&ob, &cctx, NULL));
	srv_start(&s, SRV_HANDSHAKE, &srv_b, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, &err);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_RC(rc, SHELTER_E_UNTRUSTED);
	CHECK(strstr(err.msg, "server certificate: ") != NULL);
	/* an unknown CA */
	CHECK_OK(tls_client_ctx_new(&ob, &cctx, NULL));
	srv_start(&s, SRV_HANDSHAKE, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, &err);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_RC(rc, SHELTER_E_UNTRUSTED);

	CHECK_OK(tls_client_ctx_new(&oa, &cctx, NULL));
	srv_start(&s, SRV_ECHO, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, &err);
	if (rc == 0)
		rc = get(c, "/ca", 0, out, sizeof(out));
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_OK(rc);
	CHECK(strcmp(out, "200 GET /ca body=0 seq=1") == 0);
}

/* A client that offers at most TLS 1.2 (plain OpenSSL, blocking). */
static void tls12_client_refused(void)
{
	struct srv s = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	SSL_CTX *sctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	int fd, r;

	CHECK(sctx != NULL);
	SSL_CTX_set_max_proto_version(sctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(sctx, SSL_VERIFY_NONE, NULL);
	srv_start(&s, SRV_HANDSHAKE, &srv_a, TLS_CLIENT_AUTH_NONE);
	sa.sin_port = htons(s.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	ssl = SSL_new(sctx);
	SSL_set_fd(ssl, fd);
	if (r == 0)
		r = SSL_connect(ssl);
	srv_join(&s);
	SSL_free(ssl);
	SSL_CTX_free(sctx);
	close(fd);
	ERR_clear_error();
	CHECK(r != 1);
	CHECK_RC(s.rc_accept, SHELTER_E_NET);
	CHECK(strstr(s.msg, "TLS handshake with 127.0.0.1:") != NULL);
	CHECK(strstr(s.msg, "unsupported protocol") != NULL);
}

/* ---- connections and timeouts -------------------------------------------------------- */

static void connect_refused_names_peer(void)
{
	struct tls_ctx *cctx = client_pinned(&srv_a, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct tls_conn *c = NULL;
	struct shelter_err err;
	char want[64];
	int fd, rc;

	/* a bound socket that does not listen: connections to it are refused, and no one
	 * else can take the port while we hold it */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	rc = tls_connect(cctx, "127.0.0.1", ntohs(sa.sin_port), T_MS, &c, &err);
	close(fd);
	tls_ctx_free(cctx);
	CHECK_RC(rc, SHELTER_E_NET);
	snprintf(want, sizeof(want), "connect 127.0.0.1:%u: Connection refused",
		 (unsigned)ntohs(sa.sin_port));
	CHECK(strcmp(err.msg, want) == 0);
	CHECK_RC(tls_connect(NULL, "127.0.0.1", 1, T_MS, &c, NULL), SHELTER_E_INVAL);
}

/* A server that accepts TCP (the kernel does) but never speaks TLS. */
static void connect_handshake_timeout(void)
{
	struct tls_ctx *cctx = client_pinned(&srv_a, 0);
	struct tls_conn *c = NULL;
	struct shelter_err err;
	uint16_t port;
	int lfd, rc;
	char want[96];

	CHECK_OK(tls_listen("127.0.0.1", 0, 4, &lfd, &port, NULL));
	rc = tls_connect(cctx, "127.0.0.1", port, 200, &c, &err);
	close(lfd);
	tls_ctx_free(cctx);
	CHECK_RC(rc, SHELTER_E_EXPIRED);
	snprintf(want, sizeof(want), "TLS handshake with 127.0.0.1:%u: not complete within 200 ms",
		 (unsigned)port);
	CHECK(strcmp(err.msg, want) == 0);
}

/* A client that connects and says nothing: the server's handshake times out. */
static void accept_handshake_timeout(void)
{
	struct srv s = { .accept_timeout_ms = 200 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd;

	srv_start(&s, SRV_HANDSHAKE, &srv_a, TLS_CLIENT_AUTH_NONE);
	sa.sin_port = htons(s.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	(void)connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	srv_join(&s);
	close(fd);
	CHECK_RC(s.rc_accept, SHELTER_E_EXPIRED);
	CHECK(strstr(s.msg, "not complete within 200 ms") != NULL);
}

/* A request that arrives too slowly is cut off with 408; an idle connection is
 * closed without an answer. */
static void read_timeouts(void)
{
	struct srv s = { .read_timeout_ms = 200 };
	struct tls_ctx *cctx = client_pinned(&srv_a, 0);
	struct tls_conn *c = NULL;
	struct http_response resp;
	int rc, rc_resp = 1;

	srv_start(&s, SRV_ECHO, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0)
		rc = tls_conn_write_all(c, "GET / HTTP/1.1\r\nHost:", 21, NULL);
	if (rc == 0)
		rc_resp = tls_conn_read_response(c, NULL, 0, &resp, NULL);
	tls_conn_close(c);
	srv_join(&s);
	CHECK_OK(rc);
	CHECK_RC(s.rc, SHELTER_E_EXPIRED);
	CHECK(s.status == 408);
	CHECK(strstr(s.msg, "read request from 127.0.0.1:") != NULL);
	CHECK(strstr(s.msg, "no complete request within 200 ms") != NULL);
	CHECK_OK(rc_resp);
	CHECK(resp.status == 408 && !resp.h.keep_alive);

	s = (struct srv){ .read_timeout_ms = 200 };
	srv_start(&s, SRV_READ_ONE, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0) {
		/* the server gives up first: our read sees it close */
		tls_conn_set_timeout(c, T_MS);
		rc_resp = tls_conn_read_response(c, NULL, 0, &resp, NULL);
	}
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_OK(rc);
	CHECK_RC(s.rc, SHELTER_E_EXPIRED);
	CHECK(s.status == 0);
	CHECK(rc_resp == TLS_CONN_EOF);
}

/* ---- HTTP over TLS ------------------------------------------------------------------------ */

static void keep_alive_and_pipelining(void)
{
	static const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
				  "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz";
	struct srv s = { 0 };
	struct tls_ctx *cctx = client_pinned(&srv_a, 0);
	struct tls_conn *c = NULL;
	struct http_response r1, r2;
	char b1[64] = "", b2[64] = "", b3[64] = "";
	int rc;

	srv_start(&s, SRV_ECHO, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	/* two requests in one write; the server must answer both, in order */
	if (rc == 0)
		rc = tls_conn_write_all(c, two, sizeof(two) - 1, NULL);
	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &r1, NULL);
	if (rc == 0)
		snprintf(b1, sizeof(b1), "%.*s", (int)r1.body_size, (const char *)r1.body);
	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &r2, NULL);
	if (rc == 0)
		snprintf(b2, sizeof(b2), "%.*s", (int)r2.body_size, (const char *)r2.body);
	if (rc == 0)
		rc = get(c, "/c", 1, b3, sizeof(b3));
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_OK(rc);
	CHECK(strcmp(b1, "GET /a body=0 seq=1") == 0);
	CHECK(strcmp(b2, "POST /b body=3 seq=2") == 0);
	CHECK(strcmp(b3, "200 GET /c body=0 seq=3") == 0);
	CHECK(s.eof == 1 && s.rc == 0); /* our close between messages is a clean EOF */
}

/* A body many TLS records long (the buffer grows), then one over the limit (413,
 * decided from the head, answered before the body is sent). */
static void large_body_and_413(void)
{
	static const char over[] = "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 307201\r\n\r\n";
	size_t big = 300 * 1024;
	char *body = malloc(big);
	struct srv s = { 0 };
	struct tls_ctx *cctx = client_pinned(&srv_a, 0);
	struct tls_conn *c = NULL;
	struct http_response r;
	char got[64] = "";
	int rc, status = 0;

	CHECK(body != NULL);
	memset(body, 'a', big);
	body[big - 1] = 'z';
	s.lim.max_body = big;
	srv_start(&s, SRV_ECHO, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0)
		rc = tls_conn_write_request(c, HTTP_PUT, "/big", "x", NULL, body, big, 1, NULL, 0,
					    NULL);
	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &r, NULL);
	if (rc == 0)
		snprintf(got, sizeof(got), "%.*s", (int)r.body_size, (const char *)r.body);
	if (rc == 0)
		rc = tls_conn_write_request(c, HTTP_PUT, "/bigger", "x", NULL, NULL, 0, 1, NULL, 0,
					    NULL);
	/* the head above claims 0 bytes; now one that claims too many */
	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &r, NULL);
	if (rc == 0)
		rc = tls_conn_write_all(c, over, sizeof(over) - 1, NULL);
	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &r, NULL);
	if (rc == 0)
		status = r.status;
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	free(body);
	CHECK_OK(rc);
	CHECK(strcmp(got, "PUT /big body=307200 seq=1") == 0);
	CHECK(status == 413);
	CHECK_RC(s.rc, SHELTER_E_FBIG);
	CHECK(s.status == 413);
}

/* RFC 9110 §10.1.1: the server says 100 Continue once the head is acceptable. Run
 * with head_size bytes of head (padded with a field); -1: the shortest head. */
static int continue_round(long head_size, char *got, size_t size)
{
	static const char head0[] = "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
				    "Content-Length: 2\r\n";
	struct srv s = { 0 };
	struct tls_ctx *cctx = client_pinned(&srv_a, 0);
	struct tls_conn *c = NULL;
	struct http_response r;
	size_t len = sizeof(head0) - 1;
	char *head = malloc(head_size > 0 ? (size_t)head_size : sizeof(head0) + 2);
	int rc, n = 0;

	if (head == NULL)
		return -1;
	memcpy(head, head0, len);
	if (head_size > 0) {
		/* "X: aaa...\r\n" so that the head ends exactly at head_size */
		memcpy(head + len, "X: ", 3);
		memset(head + len + 3, 'a', (size_t)head_size - len - 7);
		len = (size_t)head_size - 4;
		memcpy(head + len, "\r\n", 2);
		len += 2;
	}
	memcpy(head + len, "\r\n", 2);
	len += 2;
	s.lim.max_head = 64 * 1024;
	srv_start(&s, SRV_ECHO, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0)
		rc = tls_conn_write_all(c, head, len, NULL);
	/* read the interim answer raw: the response parser refuses 1xx by design */
	while (rc == 0 && n < 25) {
		int k = SSL_read(tls_conn_ssl(c), got + n, 25 - n);

		if (k > 0)
			n += k;
		else if (SSL_get_error(tls_conn_ssl(c), k) == SSL_ERROR_WANT_READ) {
			struct pollfd p = { .fd = tls_conn_fd(c), .events = POLLIN };

			if (poll(&p, 1, T_MS) != 1)
				rc = -1;
		} else {
			rc = -1;
		}
	}
	if (rc == 0)
		rc = tls_conn_write_all(c, "az", 2, NULL);
	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &r, NULL);
	if (rc == 0)
		snprintf(got + 25, size - 25, "|%.*s", (int)r.body_size, (const char *)r.body);
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	free(head);
	return rc;
}

static void expect_continue(void)
{
	char got[200] = "";

	CHECK_OK(continue_round(-1, got, sizeof(got)));
	CHECK(strcmp(got, "HTTP/1.1 100 Continue\r\n\r\n|POST /e body=2 seq=1") == 0);
	/* a head that fills the first read buffer exactly: the buffer must still grow
	 * for the body after the 100 Continue */
	memset(got, 0, sizeof(got));
	CHECK_OK(continue_round(TLS_RBUF_INITIAL, got, sizeof(got)));
	CHECK(strcmp(got, "HTTP/1.1 100 Continue\r\n\r\n|POST /e body=2 seq=1") == 0);
}

/* A peer that resets the connection while we write: an error naming it. */
static void write_to_vanished_peer(void)
{
	struct srv s = { 0 };
	struct tls_ctx *cctx = client_pinned(&srv_a, 0);
	struct tls_conn *c = NULL;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char byte;
	int rc, n = 0;

	srv_start(&s, SRV_FLOOD, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0)
		rc = tls_conn_write_request(c, HTTP_GET, "/flood", "x", NULL, NULL, 0, 1, NULL, 0,
					    NULL);
	/* wait until the answer is flowing, then reset the connection */
	while (rc == 0 && n <= 0) {
		struct pollfd p = { .fd = tls_conn_fd(c), .events = POLLIN };

		n = SSL_read(tls_conn_ssl(c), &byte, 1);
		if (n <= 0 && poll(&p, 1, T_MS) != 1)
			rc = -1;
	}
	if (c != NULL)
		setsockopt(tls_conn_fd(c), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_OK(rc);
	CHECK_RC(s.rc, SHELTER_E_NET);
	CHECK(strstr(s.msg, "write to 127.0.0.1:") != NULL);
	CHECK(strstr(s.msg, "Broken pipe") != NULL || strstr(s.msg, "reset by peer") != NULL);
}

/* A send the kernel answers with EPIPE (here: our own write side is shut) is an
 * error, not a SIGPIPE: this binary keeps the default action, which would kill it,
 * as it would kill a program under the shield. */
static void write_epipe_no_sigpipe(void)
{
	struct srv s = { 0 };
	struct tls_ctx *cctx = client_pinned(&srv_a, 0);
	struct tls_conn *c = NULL;
	struct shelter_err err;
	int rc;

	srv_start(&s, SRV_HANDSHAKE, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0 && shutdown(tls_conn_fd(c), SHUT_WR) < 0)
		rc = -1;
	if (rc == 0)
		rc = tls_conn_write_all(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, &err);
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_RC(rc, SHELTER_E_NET);
	CHECK(strstr(err.msg, "write to 127.0.0.1:") != NULL);
	CHECK(strstr(err.msg, "Broken pipe") != NULL);
}

/* ---- client certificates ------------------------------------------------------------------ */

/* An owner's Ed25519 certificate in the handshake; the server reads it unverified. */
static void handshake_client_cert_ed25519(void)
{
	struct tls_client_opts o = { .pin_cert_der = srv_a.der, .pin_cert_der_size = srv_a.der_size,
				     .cert_pem = owner.cert_pem, .cert_pem_size = owner.cert_pem_size,
				     .key_pem = owner.key_pem, .key_pem_size = owner.key_pem_size };
	struct srv s = { 0 };
	struct tls_ctx *cctx = NULL;
	struct tls_conn *c = NULL;
	char out[128] = "";
	int rc;

	CHECK_OK(tls_client_ctx_new(&o, &cctx, NULL));
	srv_start(&s, SRV_PEER_CN, &srv_a, TLS_CLIENT_AUTH_OPTIONAL);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0)
		rc = get(c, "/who", 0, out, sizeof(out));
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_OK(rc);
	CHECK(strcmp(out, "200 owner-ed25519") == 0);

	/* without a certificate the same server sees none */
	cctx = client_pinned(&srv_a, 0);
	s = (struct srv){ 0 };
	srv_start(&s, SRV_PEER_CN, &srv_a, TLS_CLIENT_AUTH_OPTIONAL);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0)
		rc = get(c, "/who", 0, out, sizeof(out));
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_OK(rc);
	CHECK(strcmp(out, "200 ") == 0);
}

/* The client's part of the attestation flow: GET the nonce, make a fresh key and a
 * certificate naming the nonce, hand it over, have it sent, POST. */
static int pha_client(struct tls_ctx *cctx, uint16_t port, int make_cert, char *out,
		      size_t size, int *requested, struct shelter_err *err)
{
	struct tls_conn *c = NULL;
	struct http_response r;
	struct cert mine = { 0 };
	char cn[64];
	int rc;

	rc = tls_connect(cctx, "127.0.0.1", port, T_MS, &c, err);
	if (rc == 0)
		rc = tls_conn_write_request(c, HTTP_GET, "/nonce", "x", NULL, NULL, 0, 1, NULL, 0,
					    err);
	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &r, err);
	if (rc == 0 && make_cert) {
		/* only now, after the handshake, does the client know what to certify */
		snprintf(cn, sizeof(cn), "attested %.*s", (int)r.body_size, (const char *)r.body);
		cert_make(&mine, 0, cn, NULL);
		rc = tls_conn_set_client_cert(c, mine.x509, mine.key, err);
		if (rc == 0)
			rc = tls_conn_await_cert_request(c, T_MS, err);
	}
	*requested = c != NULL ? tls_conn_cert_requested(c) : -1;
	if (rc == 0)
		rc = tls_conn_write_request(c, HTTP_POST, "/attest", "x", NULL, NULL, 0, 1, NULL, 0,
					    err);
	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &r, err);
	if (rc == 0)
		snprintf(out, size, "%.*s", (int)r.body_size, (const char *)r.body);
	tls_conn_close(c);
	if (make_cert)
		cert_free(&mine);
	return rc;
}

static void post_handshake_cert_refusals(void)
{
	struct srv s = { 0 };
	struct tls_ctx *cctx = client_pinned(&srv_a, 1);
	struct tls_conn *c = NULL;
	struct shelter_err err;
	char out[128];
	int requested, rc;

	/* no certificate set: nothing to wait for */
	srv_start(&s, SRV_ECHO, &srv_a, TLS_CLIENT_AUTH_POST_HANDSHAKE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0)
		rc = tls_conn_await_cert_request(c, 100, &err);
	tls_conn_close(c);
	srv_join(&s);
	CHECK_RC(rc, SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "no client certificate set") != NULL);

	/* a server that never asks: the wait is bounded */
	srv_start(&s, SRV_ECHO, &srv_a, TLS_CLIENT_AUTH_POST_HANDSHAKE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0)
		rc = tls_conn_set_client_cert(c, owner.x509, owner.key, NULL);
	if (rc == 0)
		rc = tls_conn_await_cert_request(c, 200, &err);
	tls_conn_close(c);
	srv_join(&s);
	CHECK_RC(rc, SHELTER_E_EXPIRED);
	CHECK(strstr(err.msg, "await certificate request from 127.0.0.1:") != NULL);
	CHECK(strstr(err.msg, "no certificate request within 200 ms") != NULL);

	/* certificate and key that do not belong together */
	srv_start(&s, SRV_ECHO, &srv_a, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0)
		rc = tls_conn_set_client_cert(c, owner.x509, srv_a.key, &err);
	tls_conn_close(c);
	srv_join(&s);
	CHECK_RC(rc, SHELTER_E_INVAL);

	/* a client that sets no certificate and goes on: the server sees none (and must
	 * refuse, which is its business) */
	tls_ctx_free(cctx);
	cctx = client_pinned(&srv_a, 0);
	s = (struct srv){ 0 };
	srv_start(&s, SRV_PHA, &srv_a, TLS_CLIENT_AUTH_POST_HANDSHAKE);
	rc = pha_client(cctx, s.port, 0, out, sizeof(out), &requested, &err);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_OK(rc);
	CHECK_OK(s.rc);
	CHECK(strcmp(out, "attest cn=(none)") == 0);
}

/* The attestation flow on one connection (docs/api/http.md): the certificate the
 * client makes after reading the nonce reaches the server before the next request. */
static void post_handshake_cert_flow(void)
{
	struct srv s = { 0 };
	struct tls_ctx *cctx = client_pinned(&srv_a, 1);
	struct shelter_err err;
	char out[128] = "";
	int requested = -1, rc;

	for (int round = 0; round < 2; round++) {
		/* round 1: the server also asked during the handshake (OPTIONAL); the deferring
		 * client answers that one with nothing */
		s = (struct srv){ 0 };
		srv_start(&s, SRV_PHA, &srv_a, round == 0 ? TLS_CLIENT_AUTH_POST_HANDSHAKE
							  : TLS_CLIENT_AUTH_OPTIONAL);
		shelter_err_clear(&err);
		rc = pha_client(cctx, s.port, 1, out, sizeof(out), &requested, &err);
		srv_join(&s);
		if (rc != 0 || s.rc != 0)
			fprintf(stderr, "  round %d: client '%s' server '%s'\n", round, err.msg,
				s.msg);
		CHECK_OK(rc);
		CHECK_OK(s.rc);
		CHECK(strcmp(out, "attest cn=attested nonce-4711") == 0);
		CHECK(requested == 0);
	}
	tls_ctx_free(cctx);
}

/* A server that asks before it answers: the deferring client's read stops at the
 * request (it cannot read past it without answering), says so, and goes on once the
 * certificate is set and sent. */
static void post_handshake_cert_before_answer(void)
{
	struct srv s = { 0 };
	struct tls_ctx *cctx = client_pinned(&srv_a, 1);
	struct tls_conn *c = NULL;
	struct http_response r;
	struct shelter_err err;
	struct cert mine = { 0 };
	char out[128] = "";
	int rc, rc_first = 1, requested = -1;

	cert_make(&mine, 0, "made-late", NULL);
	srv_start(&s, SRV_PHA_FIRST, &srv_a, TLS_CLIENT_AUTH_POST_HANDSHAKE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0)
		rc = tls_conn_write_request(c, HTTP_GET, "/nonce", "x", NULL, NULL, 0, 1, NULL, 0,
					    NULL);
	if (rc == 0) {
		rc_first = tls_conn_read_response(c, NULL, 0, &r, &err);
		requested = tls_conn_cert_requested(c);
		rc = tls_conn_set_client_cert(c, mine.x509, mine.key, NULL);
	}
	if (rc == 0)
		rc = tls_conn_await_cert_request(c, T_MS, NULL);
	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &r, NULL);
	if (rc == 0 && !(r.body_size == 10 && memcmp(r.body, "nonce-4711", 10) == 0))
		rc = -1;
	if (rc == 0)
		rc = tls_conn_write_request(c, HTTP_POST, "/attest", "x", NULL, NULL, 0, 1, NULL, 0,
					    NULL);
	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &r, NULL);
	if (rc == 0)
		snprintf(out, sizeof(out), "%.*s", (int)r.body_size, (const char *)r.body);
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	cert_free(&mine);
	CHECK_RC(rc_first, SHELTER_E_PROTO);
	CHECK(strstr(err.msg, "asked for a client certificate before its answer") != NULL);
	CHECK(requested == 1);
	CHECK_OK(rc);
	CHECK_OK(s.rc);
	CHECK(strcmp(out, "attest cn=made-late") == 0);
}

/* The server refuses to ask when the client already sent its next request: that
 * request could not be bound to the certificate. */
static void post_handshake_cert_after_pipelined_data(void)
{
	static const char two[] = "GET /nonce HTTP/1.1\r\nHost: x\r\n\r\n"
				  "POST /attest HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
	struct srv s = { 0 };
	struct tls_ctx *cctx = client_pinned(&srv_a, 1);
	struct tls_conn *c = NULL;
	struct http_response r;
	int rc;

	srv_start(&s, SRV_PHA, &srv_a, TLS_CLIENT_AUTH_POST_HANDSHAKE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, NULL);
	if (rc == 0)
		rc = tls_conn_write_all(c, two, sizeof(two) - 1, NULL);
	if (rc == 0)
		rc = tls_conn_read_response(c, NULL, 0, &r, NULL);
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	CHECK_OK(rc);
	CHECK_RC(s.rc, SHELTER_E_PROTO);
	CHECK(strstr(s.msg, "sent data before it was asked") != NULL);
}

/* ---- the library context of pinned and server connections (tls_libctx.c) ---- */

static void libctx_offers_tls13_and_its_keys_only(void)
{
	OSSL_LIB_CTX *lc = tls_libctx();
	EVP_PKEY *ec = NULL, *back = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_CIPHER *gcm = NULL, *cbc128 = NULL;
	EVP_MD *sha256 = NULL, *md5 = NULL;
	EVP_KEYMGMT *dsa = NULL;
	int n = 0, ok;

	CHECK(lc != NULL);
	CHECK(tls_libctx() == lc); /* made once */
	ec = EVP_PKEY_Q_keygen(lc, NULL, "EC", "P-256");
	if (ec != NULL && (n = i2d_PUBKEY(ec, &der)) > 0) {
		p = der;
		back = d2i_PUBKEY_ex(NULL, &p, n, lc, NULL);
	}
	gcm = EVP_CIPHER_fetch(lc, "AES-128-GCM", NULL);
	sha256 = EVP_MD_fetch(lc, "SHA256", NULL);
	/* what TLS 1.3 does not use is not there */
	cbc128 = EVP_CIPHER_fetch(lc, "AES-128-CBC", NULL);
	md5 = EVP_MD_fetch(lc, "MD5", NULL);
	dsa = EVP_KEYMGMT_fetch(lc, "DSA", NULL);
	ERR_clear_error();
	ok = ec != NULL && back != NULL && EVP_PKEY_eq(ec, back) == 1 && gcm != NULL &&
	     sha256 != NULL && cbc128 == NULL && md5 == NULL && dsa == NULL;
	OPENSSL_free(der);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(back);
	EVP_CIPHER_free(gcm);
	EVP_CIPHER_free(cbc128);
	EVP_MD_free(sha256);
	EVP_MD_free(md5);
	EVP_KEYMGMT_free(dsa);
	CHECK(ok);
}

/* Keys made elsewhere (PEM in the default context) sign there: P-256 and Ed25519
 * above; an RSA server key too (tls.h allows it). */
static void libctx_rsa_server_key(void)
{
	struct cert rsa;
	struct srv s = { 0 };
	struct tls_ctx *cctx;
	struct tls_conn *c = NULL;
	struct shelter_err err;
	char out[128] = "";
	int rc;

	cert_make(&rsa, 2, "server-rsa", "IP:127.0.0.1");
	cctx = client_pinned(&rsa, 0);
	srv_start(&s, SRV_ECHO, &rsa, TLS_CLIENT_AUTH_NONE);
	rc = tls_connect(cctx, "127.0.0.1", s.port, T_MS, &c, &err);
	if (rc == 0)
		rc = get(c, "/rsa", 0, out, sizeof(out));
	tls_conn_close(c);
	srv_join(&s);
	tls_ctx_free(cctx);
	cert_free(&rsa);
	CHECK_OK(rc);
	CHECK(strcmp(out, "200 GET /rsa body=0 seq=1") == 0);
}

static int fds_at_start;

/* Count the open descriptors: every test closed what it opened, including the
 * connections that failed half way. */
static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

static void no_descriptor_leaked(void)
{
	CHECK(open_fds() == fds_at_start);
}

int main(void)
{
	test_binary = "test_tls";
	fds_at_start = open_fds();
	srandom((unsigned)time(NULL));
	cert_make(&srv_a, 0, "server-a", "IP:127.0.0.1,DNS:localhost");
	cert_make(&srv_b, 0, "server-b", "DNS:other.example");
	cert_make(&owner, 1, "owner-ed25519", NULL);

	RUN(client_opts_need_exactly_one_check);
	RUN(pin_der_refuses_other_server);
	RUN(pin_spki_refuses_and_accepts);
	RUN(pin_der_accepts_tls13_only);
	RUN(ca_refuses_wrong_name_accepts_right_one);
	RUN(tls12_client_refused);
	RUN(connect_refused_names_peer);
	RUN(connect_handshake_timeout);
	RUN(accept_handshake_timeout);
	RUN(read_timeouts);
	RUN(keep_alive_and_pipelining);
	RUN(large_body_and_413);
	RUN(expect_continue);
	RUN(write_to_vanished_peer);
	RUN(write_epipe_no_sigpipe);
	RUN(handshake_client_cert_ed25519);
	RUN(post_handshake_cert_refusals);
	RUN(post_handshake_cert_flow);
	RUN(post_handshake_cert_before_answer);
	RUN(post_handshake_cert_after_pipelined_data);
	RUN(libctx_offers_tls13_and_its_keys_only);
	RUN(libctx_rsa_server_key);
	RUN(no_descriptor_leaked);

	cert_free(&srv_a);
	cert_free(&srv_b);
	cert_free(&owner);
	return test_total_failed == 0 ? 0 : 1;
}
