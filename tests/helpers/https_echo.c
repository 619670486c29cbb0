/* https_echo: a tiny HTTPS server over src/lib/net (tls.h, http.h) for
 * tests/integration/https_curl.sh, so that real clients (curl, openssl s_client) can
 * be held against the server code the CAS uses.
 *
 *   https_echo CERT.pem KEY.pem PORTFILE [--timeout-ms N] [--max-body N]
 *
 * --timeout-ms bounds the reading of each request (default 5000); handshakes get 10 s.
 *
 * Listens on 127.0.0.1, port chosen by the kernel; writes "PORT PIN" to PORTFILE (PIN:
 * base64 SHA-256 of the certificate's SubjectPublicKeyInfo, computed by
 * tls_cert_spki_sha256, for curl --pinnedpubkey sha256//PIN). Serves one connection
 * at a time until SIGTERM, then exits 0. Client certificates: never in the
 * handshake, on request after it (post-handshake authentication).
 *
 * Every request is answered 200 text/plain with one line
 *   method=GET path=/x query=a=1 body=N seq=K peer-cert=CN|none
 * (seq counts requests on the connection, so a client can see keep-alive), except:
 *   /pha   first asks the client for a certificate (TLS 1.3 post-handshake), then
 *          answers "pha-requested"; the CN shows in the next request's peer-cert
 *   HEAD   the same head without the body
 * A refused request gets its status (400, 408, 413 ...) and the connection closes.
 * One line per connection and per refusal goes to stderr.
 *
 * Exit status: 0 after SIGTERM, 1 on a setup failure, 2 usage.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "net/tls.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static char *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "https_echo: cannot read '%s'\n", path);
		free(buf);
		buf = NULL;
	}
	if (f != NULL)
		fclose(f);
	*size = buf != NULL ? (size_t)n : 0;
	return buf;
}

static int write_portfile(const char *path, uint16_t port, const char *cert_pem,
			  size_t cert_size)
{
	uint8_t pin[TLS_SPKI_SHA256_SIZE];
	unsigned char b64[64];
	char tmp[4096];
	BIO *b = BIO_new_mem_buf(cert_pem, (int)cert_size);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	FILE *f;
	int rc = -1;

	BIO_free(b);
	if (x == NULL || tls_cert_spki_sha256(x, pin, NULL) < 0)
		goto out;
	EVP_EncodeBlock(b64, pin, sizeof(pin));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		goto out;
	fprintf(f, "%u %s\n", (unsigned)port, b64);
	/* renamed into place whole, so the test never reads half a line */
	if (fclose(f) == 0 && rename(tmp, path) == 0)
		rc = 0;
out:
	X509_free(x);
	return rc;
}

static void peer_cn(struct tls_conn *c, char *out, size_t size)
{
	X509 *x = tls_conn_peer_cert(c);

	snprintf(out, size, "none");
	if (x != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out,
					  (int)size);
	X509_free(x);
}

static int answer(struct tls_conn *c, const struct http_request *req, int seq,
		  struct shelter_err *err)
{
	char body[1600], cn[128], head[512];
	size_t head_len;
	int n, rc;

	if (http_str_eq(req->path, "/pha")) {
		rc = tls_conn_request_client_cert(c, err);
		if (rc < 0)
			return rc;
		return tls_conn_write_response(c, 200, "text/plain", "pha-requested\n", 14,
					       req->h.keep_alive, NULL, 0, err);
	}
	peer_cn(c, cn, sizeof(cn));
	n = snprintf(body, sizeof(body), "method=%s path=%.*s query=%.*s body=%zu seq=%d "
		     "peer-cert=%s\n", http_method_name(req->method), (int)req->path.len,
		     req->path.p, (int)req->query.len, req->query.p != NULL ? req->query.p : "",
		     req->body_size, seq, cn);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = snprintf(body, sizeof(body), "too long\n");
	if (req->method != HTTP_HEAD)
		return tls_conn_write_response(c, 200, "text/plain", body, (size_t)n,
					       req->h.keep_alive, NULL, 0, err);
	rc = http_format_response(200, "text/plain", (size_t)n, req->h.keep_alive, NULL, 0,
				  head, sizeof(head), &head_len, err);
	return rc < 0 ? rc : tls_conn_write_all(c, head, head_len, err);
}

static void serve(struct tls_conn *c, const struct http_limits *lim)
{
	struct shelter_err err;

	for (int seq = 1;; seq++) {
		struct http_request req;
		int rc;

		shelter_err_clear(&err);
		rc = tls_conn_read_request(c, lim, &req, &err);
		if (rc == TLS_CONN_EOF)
			return;
		if (rc < 0) {
			fprintf(stderr, "https_echo: refused %d: %s\n", req.status, err.msg);
			if (req.status != 0 &&
			    tls_conn_write_response(c, req.status, NULL, NULL, 0, 0, NULL, 0,
						    &err) < 0)
				fprintf(stderr, "https_echo: %s\n", err.msg);
			return;
		}
		rc = answer(c, &req, seq, &err);
		if (rc < 0)
			fprintf(stderr, "https_echo: %s\n", err.msg);
		if (rc < 0 || !req.h.keep_alive)
			return;
	}
}

static int run(struct tls_ctx *ctx, int lfd, int timeout_ms, const struct http_limits *lim)
{
	sigset_t block, old;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term; /* no SA_RESTART: ppoll returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!stop) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		struct tls_conn *c = NULL;
		struct shelter_err err;
		int fd;

		/* SIGTERM is only let in while waiting, so it cannot slip in unnoticed */
		if (ppoll(&p, 1, NULL, &old) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		shelter_err_clear(&err);
		/* a generous handshake bound; the short one applies to requests */
		if (tls_accept(ctx, fd, 10000, &c, &err) < 0) {
			fprintf(stderr, "https_echo: %s\n", err.msg);
			continue;
		}
		tls_conn_set_timeout(c, timeout_ms);
		fprintf(stderr, "https_echo: connection from %s\n", tls_conn_peer(c));
		serve(c, lim);
		tls_conn_close(c);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tls_server_opts o = { .client_auth = TLS_CLIENT_AUTH_POST_HANDSHAKE };
	struct http_limits lim = { 0 };
	struct tls_ctx *ctx = NULL;
	struct shelter_err err;
	char *cert = NULL, *key = NULL;
	int timeout_ms = 5000, lfd = -1, rc = 1;
	uint16_t port = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: https_echo CERT KEY PORTFILE [--timeout-ms N] "
			"[--max-body N]\n");
		return 2;
	}
	for (int i = 4; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--timeout-ms") == 0)
			timeout_ms = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--max-body") == 0)
			lim.max_body = (size_t)strtoul(argv[i + 1], NULL, 10);
		else
			return 2;
	}
	cert = slurp(argv[1], &o.cert_pem_size);
	key = slurp(argv[2], &o.key_pem_size);
	o.cert_pem = cert;
	o.key_pem = key;
	shelter_err_clear(&err);
	if (cert == NULL || key == NULL || timeout_ms <= 0)
		goto out;
	if (tls_server_ctx_new(&o, &ctx, &err) < 0 ||
	    tls_listen("127.0.0.1", 0, 16, &lfd, &port, &err) < 0) {
		fprintf(stderr, "https_echo: %s\n", err.msg);
		goto out;
	}
	if (write_portfile(argv[3], port, cert, o.cert_pem_size) < 0) {
		fprintf(stderr, "https_echo: cannot write '%s'\n", argv[3]);
		goto out;
	}
	rc = run(ctx, lfd, timeout_ms, &lim);
out:
	if (lfd >= 0)
		close(lfd);
	tls_ctx_free(ctx);
	free(cert);
	if (key != NULL)
		OPENSSL_cleanse(key, o.key_pem_size);
	free(key);
	return rc;
}
