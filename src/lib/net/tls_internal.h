/* Shared between net/tls.c (contexts, sockets, handshakes) and net/tls_io.c
 * (messages, post-handshake authentication). Internal to libshelter. */
#ifndef SHELTER_NET_TLS_INTERNAL_H
#define SHELTER_NET_TLS_INTERNAL_H

#include <stdint.h>

#include "net/tls.h"

#define TLS_RBUF_INITIAL (18u * 1024u)  /* a full TLS record (16 KiB) and some */
#define TLS_WBUF_SIZE (16u * 1024u)     /* one TLS record of plaintext */
#define TLS_PEER_MAX (HTTP_URL_HOST_MAX + 10u)

enum tls_verify { TLS_VERIFY_NONE, TLS_VERIFY_PIN_DER, TLS_VERIFY_PIN_SPKI, TLS_VERIFY_CA };

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	int is_server;
	enum tls_verify verify;
	uint8_t *pin_der;
	size_t pin_der_size;
	uint8_t pin_spki[TLS_SPKI_SHA256_SIZE];
	int defer_client_cert;
};

struct tls_conn {
	SSL *ssl;
	int fd;
	int is_server;
	int timeout_ms;
	int64_t deadline_ms;        /* CLOCK_MONOTONIC, for the call in progress */
	char peer[TLS_PEER_MAX];
	uint8_t *rbuf;              /* received plaintext: [0, rlen) */
	size_t rcap;
	size_t rlen;
	size_t consumed;            /* bytes of the message last returned */
	char *wbuf;                 /* TLS_WBUF_SIZE, made on first formatted write */
	int peer_eof;               /* the peer closed (close_notify or TCP EOF) */
	int refused;                /* a read failed: what follows may be unread */
	int broken;                 /* a fatal TLS error: no close_notify */
	int pin_mismatch;           /* set by the verify callback */
	int handshaking;            /* in tls_connect / tls_accept */
	int defer_cert;             /* client: tls_client_opts.defer_client_cert */
	int cert_pending;           /* client: a CertificateRequest waits for a cert */
	int cert_sent;              /* client: answered one with a certificate */
};

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t tls_now_ms(void);

/* Wait until fd is readable (want_write 0) or writable within c->deadline_ms;
 * SHELTER_E_EXPIRED "no WHAT within N ms" when it passes. */
int tls_wait(struct tls_conn *c, int want_write, const char *what, struct shelter_err *err);

/* Translate a failed SSL_* call (ret, SSL_get_error) into "CTX: cause" with a code;
 * the OpenSSL error queue is read and cleared. */
int tls_ssl_fail(struct tls_conn *c, int ssl_err, int code, const char *ctx,
		 struct shelter_err *err);

#endif
