/* The configuration and attestation service (docs/api/cas.md). Internal to the
 * shelter binary: `shelter cas serve` calls cas_serve.
 *
 * Threads: one acceptor, a bounded pool of connection workers (blocking I/O with
 * deadlines, one connection each), and the store's committer (store.h). Shared
 * state: the session cache (cache.c, a mutex) and the store queue.
 */
#ifndef SHELTER_CAS_CAS_H
#define SHELTER_CAS_CAS_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cas/policy.h"
#include "cas/store.h"
#include "shelter/error.h"
#include "shelter/tee.h"

struct cas_config {
	const char *listen;        /* HOST:PORT; port 0 picks a free one (logged, cas.addr) */
	const char *data_dir;      /* store, lock, cas.crt, cas.addr, tag */
	const char *platform_dir;  /* sim platform of the CAS itself; NULL = default */
	const char *const *hostnames; /* extra subjectAltNames of the CAS certificate */
	size_t hostname_count;
	unsigned workers;          /* connection threads; 0 = 128 */
	unsigned nonce_ttl;        /* seconds; 0 = 60 */
	volatile sig_atomic_t *stop; /* set by the signal handler */
	int stop_fd;               /* readable when stop is set (self-pipe) */
};

/* Run the CAS until *cfg->stop; 0 after a clean shutdown. Logs to stderr. */
int cas_serve(const struct cas_config *cfg, struct shelter_err *err);

/* ---- internals shared by the CAS's files ---- */

/* A session as the attestation path needs it: parsed once per version. */
struct cas_session {
	char name[CAS_POLICY_NAME_MAX + 1];
	uint8_t hash[32];
	long long version;
	struct cas_policy *policy;
	struct shelter_trust *trust; /* the policy's providers and their newest CRLs */
	/* The values this version's launch uses, loaded (generated on first use) once:
	 * secret name -> fields, volume name -> hex key. They never change for a
	 * version (secrets.h), so attestations render without the store. */
	pthread_mutex_t mu;
	json_t *secrets;
	json_t *volume_keys;
	int refs;                    /* under cache_mu */
	struct cas_session *next;    /* bucket chain */
};

#define CAS_CACHE_BUCKETS 256

struct cas {
	const struct cas_config *cfg;
	struct cas_store *store;
	pthread_mutex_t cache_mu;
	struct cas_session *cache[CAS_CACHE_BUCKETS];
	uint64_t cache_gen; /* bumped by every session change and CRL install */
	uint64_t requests, attest_ok, attest_refused; /* atomics */
};

/* One line per event on stderr: "TIME cas EVENT key=value ..." (values with spaces
 * quoted). Never pass secrets. */
void cas_log(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The session called name, from the cache or loaded from the store (a new
 * reference: cas_session_put). SHELTER_E_NOENT when there is none. */
int cas_session_get(struct cas *cas, const char *name, struct cas_session **out,
		    struct shelter_err *err);
void cas_session_put(struct cas *cas, struct cas_session *s);
/* Forget every cached session (after a session change or a CRL install). */
void cas_cache_invalidate(struct cas *cas);
void cas_cache_free(struct cas *cas);

/* Per-connection state of the attestation exchange (cas.md §4). */
struct cas_conn_state {
	uint8_t nonce[32];
	double nonce_issued;   /* CLOCK_MONOTONIC seconds; 0 = no nonce issued */
	int nonce_used;
	char attested[CAS_POLICY_NAME_MAX + 1]; /* session attested on this connection */
	uint8_t owner[32];     /* SHA-256 of the handshake client certificate's SPKI */
	int has_owner;
	char peer[64];         /* "addr:port" for logs */
};

/* A response to send: status and a JSON body (owned; sent then freed). */
struct cas_reply {
	int status;
	char *body;      /* malloc'd JSON text */
	size_t size;
	int secret;      /* body holds secrets: wipe after sending */
	char code[48];   /* error code or "" (for the log line) */
	char note[160];  /* extra log fields, e.g. "session=x" */
};

void cas_reply_json(struct cas_reply *r, int status, json_t *body); /* steals body */
void cas_reply_error(struct cas_reply *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Handlers (handlers.c, attest.c). body/size is the request body. */
struct tls_conn;
void cas_handle_attest_nonce(struct cas *cas, struct cas_conn_state *cs, struct cas_reply *r);
void cas_handle_attest(struct cas *cas, struct tls_conn *conn, struct cas_conn_state *cs,
		       const uint8_t *body, size_t size, struct cas_reply *r);
void cas_handle_volume_tag(struct cas *cas, struct cas_conn_state *cs, const char *session,
			   const char *volume, const uint8_t *body, size_t size,
			   struct cas_reply *r);
void cas_handle_session_put(struct cas *cas, struct cas_conn_state *cs, const char *name,
			    const uint8_t *body, size_t size, struct cas_reply *r);
void cas_handle_session_get(struct cas *cas, struct cas_conn_state *cs, const char *name,
			    const char *what, const char *query_after, struct cas_reply *r);
void cas_handle_crl_put(struct cas *cas, const uint8_t *body, size_t size, struct cas_reply *r);

double cas_monotonic(void);

#endif
