/* streamlog view: a read-only web viewer over HTTPS (docs/api/streamlog-viewer.md).
 *
 * Two halves: sl_view runs the HTTPS server (view.c); the viewer proper (view_api.c)
 * turns one request into one reply from a follower of the store (log.h §8.1),
 * without the network, so that tests can call it directly. The viewer holds the
 * log's public key only: nothing it serves needs a secret but the TLS key, which
 * is for transport only.
 */
#ifndef STREAMLOG_VIEW_H
#define STREAMLOG_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "net/http.h"
#include "shelter/error.h"
#include "shelter/log.h"

struct sl_view_config {
	const char *store;     /* the store directory, read only */
	const char *vkey;      /* verifier key string, or */
	const char *vkey_file; /* a file whose first line is one */
	const char *listen;    /* HOST:PORT; port 0 picks one (logged) */
	const char *cert;      /* TLS certificate chain (PEM): transport only */
	const char *tls_key;   /* its private key (PEM) */
	unsigned max_conns;    /* connections served at once */
};

/* Run until SIGTERM or SIGINT; returns a process exit code (common.h). */
int sl_view(const struct sl_view_config *cfg);

/* ---- the viewer proper (view_api.c) ---- */

#define SL_VIEW_REFRESH_MS 200   /* re-read the store at most this often */
#define SL_VIEW_HISTORY 1000     /* checkpoints remembered (docs/api/streamlog-viewer.md §3.5) */
#define SL_VIEW_SEARCH_MAX 200   /* events in one search answer */
#define SL_VIEW_SEARCH_DEFAULT 50

struct sl_viewer;

/* Open a follower of dir and take the store's checkpoint (log.h: TRUNCATED,
 * INTEGRITY, STALE are tamper alarms; POLICY another log). vkey is the verifier key
 * string v was parsed from. *out owned by the caller: sl_viewer_close (NULL is a
 * no-op). Thread-safe once open: every call takes the viewer's lock. */
int sl_viewer_open(const char *dir, const struct shelter_log_verifier *v,
		   struct sl_viewer **out, struct shelter_err *err);
void sl_viewer_close(struct sl_viewer *vw);

/* Read what the store gained, unless it was read less than SL_VIEW_REFRESH_MS ago
 * (force: now). Failures become the viewer's alarm (streamlog-viewer.md §4), not errors. */
void sl_viewer_refresh(struct sl_viewer *vw, int force);

/* The size of the checkpoint in force (0 before the first). */
uint64_t sl_viewer_size(struct sl_viewer *vw);

struct sl_view_reply {
	int status;
	const char *type;   /* Content-Type */
	const char *body;   /* size bytes: a static asset, or own */
	size_t size;
	char *own;          /* malloc'd body, or NULL */
	int api;            /* 1: an API answer (Cache-Control: no-store) */
	int alarm;          /* 1: the answer reports a tamper alarm */
};

/* The answer to one request: method, path and query as received (still percent-
 * encoded). Never fails: errors are replies ({"error": "..."} with 400, 404, 405,
 * 409, 500 or 503). Release with sl_view_reply_free. */
void sl_viewer_answer(struct sl_viewer *vw, enum http_method method, struct http_str path,
		      struct http_str query, struct sl_view_reply *out);
void sl_view_reply_free(struct sl_view_reply *r);
/* A reply {"error": msg} (msg ASCII) with that status: for what never reaches
 * sl_viewer_answer, e.g. a request the HTTP layer refused. */
void sl_view_reply_error(struct sl_view_reply *r, int status, const char *msg);

/* The response header fields every answer carries (streamlog-viewer.md §2), for a reply. */
size_t sl_view_headers(const struct sl_view_reply *r, struct http_header *out, size_t cap);

#endif
