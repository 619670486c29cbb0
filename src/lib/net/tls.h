/* TLS 1.3 connections over OpenSSL 3 carrying HTTP/1.1 (net/http.h), for the CAS
 * daemon and the attestation client. Internal to libshelter; docs/api/http.md.
 *
 * Only TLS 1.3 is spoken (a TLS 1.2 peer fails the handshake). Sockets are
 * non-blocking and every wait is a poll() bounded by the connection's timeout, taken
 * afresh at the start of each call that waits: a whole message must arrive within it
 * (so a client trickling bytes is cut off), a whole write must finish within it.
 *
 * Threads: a tls_ctx is read-only once made and may be shared by any number of
 * threads; a tls_conn belongs to one thread at a time. There is no global state but
 * one immutable BIO method made once (the socket BIO sends with MSG_NOSIGNAL, so a
 * peer that went away never raises SIGPIPE in the host program) and one OpenSSL
 * library context made once (tls_libctx).
 *
 * Errors: SHELTER_E_NET names the peer and the cause ("connect 127.0.0.1:8443:
 * Connection refused", "TLS handshake with 127.0.0.1:51000: unsupported protocol"),
 * SHELTER_E_EXPIRED a timeout ("read request from 127.0.0.1:51000: no complete
 * request within 5000 ms"), SHELTER_E_PROTO a peer outside TLS or HTTP,
 * SHELTER_E_UNTRUSTED a server certificate that fails the pin or the CA check.
 */
#ifndef SHELTER_NET_TLS_H
#define SHELTER_NET_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/http.h"
#include "shelter/error.h"

#define TLS_SPKI_SHA256_SIZE 32
#define TLS_CONN_EOF 1   /* tls_conn_read_*: the peer closed between messages */

struct tls_ctx;
struct tls_conn;

enum tls_client_auth {
	TLS_CLIENT_AUTH_NONE = 0,        /* never ask for a client certificate */
	/* Ask during the handshake; a client may send none. OpenSSL does not verify the
	 * chain: the application judges the certificate (owner keys are self-signed
	 * Ed25519 certificates, RA-TLS ones self-signed P-256 carrying evidence). TLS
	 * still proves the client holds the key (CertificateVerify). */
	TLS_CLIENT_AUTH_OPTIONAL,
	/* Do not ask during the handshake; tls_conn_request_client_cert asks later
	 * (TLS 1.3 post-handshake authentication, RFC 8446 §4.6.2). Same checks. */
	TLS_CLIENT_AUTH_POST_HANDSHAKE,
};

struct tls_server_opts {
	const char *cert_pem;     /* the leaf first, then any chain certificates */
	size_t cert_pem_size;
	const char *key_pem;      /* unencrypted PEM private key (P-256, Ed25519, RSA) */
	size_t key_pem_size;
	enum tls_client_auth client_auth;
	int session_tickets;      /* 0 (default): no tickets, no session cache */
};

/* Server context. Copies what it needs from opts (the caller may wipe the key PEM
 * afterwards). *out owned by the caller: tls_ctx_free. */
SHELTER_MUST_USE int tls_server_ctx_new(const struct tls_server_opts *opts,
					struct tls_ctx **out, struct shelter_err *err);

struct tls_client_opts {
	/* How to authenticate the server: exactly one of the four. */
	const uint8_t *pin_cert_der;        /* the leaf certificate, exact DER */
	size_t pin_cert_der_size;
	const uint8_t *pin_spki_sha256;     /* SHA-256 of the leaf's DER SubjectPublicKeyInfo
					     * (TLS_SPKI_SHA256_SIZE bytes; curl's
					     * --pinnedpubkey sha256//) */
	const char *ca_file;                /* PEM CA file; the host name is checked */
	const char *ca_pem;                 /* PEM CA certificates in memory; same */
	size_t ca_pem_size;
	/* Optional client certificate for every connection (e.g. an owner key). */
	const char *cert_pem;
	size_t cert_pem_size;
	const char *key_pem;
	size_t key_pem_size;
	/* When the server asks for a certificate after the handshake and none is set on
	 * the connection, wait for tls_conn_set_client_cert + tls_conn_await_cert_request
	 * instead of answering with no certificate. */
	int defer_client_cert;
};

/* Client context; copies what it needs. Every connection offers post-handshake
 * authentication. *out owned by the caller: tls_ctx_free. */
SHELTER_MUST_USE int tls_client_ctx_new(const struct tls_client_opts *opts,
					struct tls_ctx **out, struct shelter_err *err);

/* NULL is a no-op. Connections made from ctx must be closed first. */
void tls_ctx_free(struct tls_ctx *ctx);

/* The OpenSSL library context in which server contexts and pinned client contexts
 * run (tls_libctx.c): OpenSSL's default provider offering the key types of P-256,
 * Ed25519, X25519 (and X448, Ed448, RSA) only, so that parsing a certificate does
 * not pay OpenSSL 3.0's decoder set-up over every key type it knows. Certificates
 * and keys made for such connections (ratls.c) are best made in it too. Made on
 * first use, shared, never freed; NULL (the default context) if it cannot be made.
 * Client contexts checking a CA use the default context. */
OSSL_LIB_CTX *tls_libctx(void);

/* A listening TCP socket on host:port (port 0: any free port), close-on-exec and
 * non-blocking; *out_port is the bound port. The caller owns *out_fd. */
SHELTER_MUST_USE int tls_listen(const char *host, uint16_t port, int backlog, int *out_fd,
				uint16_t *out_port, struct shelter_err *err);

/* Resolve host (getaddrinfo: a DNS lookup is not bounded by the timeout; IP literals
 * need none), connect without blocking, TCP_NODELAY, SNI = host unless it is an IP
 * literal, TLS 1.3 handshake: all within timeout_ms, which also becomes the
 * connection's timeout. *out owned by the caller: tls_conn_close. */
SHELTER_MUST_USE int tls_connect(struct tls_ctx *ctx, const char *host, uint16_t port,
				 int timeout_ms, struct tls_conn **out,
				 struct shelter_err *err);

/* Server side of an accepted socket: TCP_NODELAY, handshake within timeout_ms (also
 * the connection's timeout). Takes ownership of fd in every case (closed on
 * failure). *out owned by the caller: tls_conn_close. */
SHELTER_MUST_USE int tls_accept(struct tls_ctx *ctx, int fd, int timeout_ms,
				struct tls_conn **out, struct shelter_err *err);

/* Timeout for each later call that waits, in ms (> 0). */
void tls_conn_set_timeout(struct tls_conn *c, int timeout_ms);

/* Read one whole request. Returns 0 with *req filled; TLS_CONN_EOF when the peer
 * closed before sending a byte of a new request; or a negative code with
 * req->status the status to answer before closing (400 ... 505 as
 * http_parse_request, 408 when the timeout struck in the middle of a request, 0 when
 * nothing should be answered). Answers "Expect: 100-continue" with 100 Continue.
 *
 * req's strings and body point into the connection's buffer: valid until the next
 * tls_conn_read_*, tls_conn_await_cert_request or tls_conn_close on c. Bytes after
 * the request (pipelining) stay buffered for the next call. */
SHELTER_MUST_USE int tls_conn_read_request(struct tls_conn *c, const struct http_limits *lim,
					   struct http_request *req, struct shelter_err *err);

/* Read one whole response (head_request: the request was HEAD). As above, without
 * the status answers; TLS_CONN_EOF when the server closed before a byte of it.
 * SHELTER_E_PROTO when a deferred CertificateRequest (defer_client_cert) stands before
 * the rest of the response: tls_conn_cert_requested is then 1, and the read may be
 * repeated after tls_conn_set_client_cert and tls_conn_await_cert_request. */
SHELTER_MUST_USE int tls_conn_read_response(struct tls_conn *c, const struct http_limits *lim,
					    int head_request, struct http_response *resp,
					    struct shelter_err *err);

/* Write all size bytes. */
SHELTER_MUST_USE int tls_conn_write_all(struct tls_conn *c, const void *buf, size_t size,
					struct shelter_err *err);

/* Format (http_format_response / http_format_request) and write a message; head and
 * body go out in one TLS record when they fit in 16 KiB, else the body is written
 * from the caller's buffer without a copy. */
SHELTER_MUST_USE int tls_conn_write_response(struct tls_conn *c, int status,
					     const char *content_type, const void *body,
					     size_t body_size, int keep_alive,
					     const struct http_header *extra,
					     size_t extra_count, struct shelter_err *err);
SHELTER_MUST_USE int tls_conn_write_request(struct tls_conn *c, enum http_method method,
					    const char *target, const char *host,
					    const char *content_type, const void *body,
					    size_t body_size, int keep_alive,
					    const struct http_header *extra, size_t extra_count,
					    struct shelter_err *err);

/* Server: send a post-handshake CertificateRequest now (the connection's client_auth
 * must not be NONE). The client's Certificate, CertificateVerify and Finished are
 * read by the next tls_conn_read_request, before the request after them; then
 * tls_conn_peer_cert returns the certificate. SHELTER_E_PROTO when the client did
 * not offer post-handshake authentication or already sent bytes that are still
 * unread (a request sent before it was asked could not be bound to the answer). */
SHELTER_MUST_USE int tls_conn_request_client_cert(struct tls_conn *c,
						  struct shelter_err *err);

/* The peer's certificate as a new reference (caller: X509_free), or NULL when it
 * sent none. On a server, reflects a post-handshake answer once it was read. */
X509 *tls_conn_peer_cert(struct tls_conn *c);

/* Client: use cert and key for any CertificateRequest from now on, on this
 * connection only. Takes its own references. SHELTER_E_INVAL when they do not
 * match. */
SHELTER_MUST_USE int tls_conn_set_client_cert(struct tls_conn *c, X509 *cert, EVP_PKEY *key,
					      struct shelter_err *err);

/* Client, attestation flow (docs/api/http.md "post-handshake certificate"): after
 * reading the response that announced the server will ask, process its
 * CertificateRequest and send the Certificate, CertificateVerify and Finished made
 * with the certificate set by tls_conn_set_client_cert, before the caller writes
 * anything else. Application data arriving meanwhile stays buffered for the next
 * read. 0 once sent; SHELTER_E_INVAL without a certificate; SHELTER_E_EXPIRED when
 * no request came within timeout_ms. */
SHELTER_MUST_USE int tls_conn_await_cert_request(struct tls_conn *c, int timeout_ms,
						 struct shelter_err *err);

/* Client: 1 when the server asked for a certificate that is being held back
 * (defer_client_cert) until tls_conn_await_cert_request. */
int tls_conn_cert_requested(const struct tls_conn *c);

/* close_notify (best effort, without waiting), then close. A server connection
 * with input left unread (a refused request, bytes still buffered) whose peer has
 * not closed first shuts its write side and drains input for a moment (at most
 * 500 ms and 64 KiB), so that the last answer (400, 413) is not lost to a TCP
 * reset. NULL is a no-op. */
void tls_conn_close(struct tls_conn *c);

int tls_conn_fd(const struct tls_conn *c);

/* "127.0.0.1:51000", "[::1]:8443", "cas.example:8443"; valid until close. */
const char *tls_conn_peer(const struct tls_conn *c);

/* The OpenSSL connection, for what this module does not wrap (e.g. keying material
 * exporters). Do not do I/O on it. Valid until close. */
SSL *tls_conn_ssl(struct tls_conn *c);

/* The DER of the first certificate in pem (the pin_cert_der value); *der is
 * OPENSSL_malloc'd (caller: OPENSSL_free). SHELTER_E_MALFORMED when pem holds no
 * certificate. */
SHELTER_MUST_USE int tls_pin_from_pem(const char *pem, size_t size, uint8_t **der,
				      size_t *der_size, struct shelter_err *err);

/* SHA-256 of cert's DER SubjectPublicKeyInfo (the pin_spki_sha256 value). */
SHELTER_MUST_USE int tls_cert_spki_sha256(X509 *cert, uint8_t out[TLS_SPKI_SHA256_SIZE],
					  struct shelter_err *err);

#endif
