/* StreamLog's freshness anchor (docs/streamlog.md §5, docs/formats/log.md §7.2): the
 * log's anchored checkpoint kept as the state of a freshness handle
 * (docs/protocols/freshness.md §6), so that rolling the whole store back is caught
 * at the next start. */
#ifndef STREAMLOG_ANCHOR_H
#define STREAMLOG_ANCHOR_H

#include <stdint.h>

#include "shelter/error.h"
#include "shelter/log.h"

/* The handle of a log: H("shelter-streamlog-anchor-v1" || 0x00 || origin). */
#define SL_ANCHOR_LABEL "shelter-streamlog-anchor-v1"

/* The --freshness options of `streamlog serve`. Borrowed (argv) for the daemon's life. */
struct sl_fresh_config {
	const char *addr;        /* the coordinator, HOST:PORT; NULL: no freshness anchor */
	const char *genesis;     /* the service's genesis digest, 64 hex digits: pinned */
	const char *provider;    /* the provider of the endorsers' platforms (ca.crt, crl.pem) */
	const char *measurement; /* the endorsers' code, 64 hex digits; NULL: that of
				  * `shelter freshness endorser` of the shelter beside streamlog */
	int accept_sim;          /* believe endorsers on sim quotes (tests, no TEE) */
};

/* NULL when the options fit together (anchor_path: --anchor-file, or NULL); else
 * why not, for a usage message (exit code 2). */
const char *sl_fresh_config_check(const struct sl_fresh_config *cfg, const char *anchor_path);

/* The freshness handle of the log named origin (SL_ANCHOR_LABEL). */
void sl_anchor_handle(const char *origin, uint8_t out[32]);

struct sl_anchor;

/* Build the endorser policy (reads the provider's files; measures the shelter beside
 * streamlog when no measurement is given), then connect: follow the service's view
 * ledger from the pinned genesis (freshness.md §3.3). A failure is the refusal to
 * start, before the store is touched. *out owned by the caller: sl_anchor_free (NULL
 * is a no-op), after the log that uses it is closed. */
int sl_anchor_new(const struct sl_fresh_config *cfg, const char *origin, struct sl_anchor **out,
		  struct shelter_err *err);
void sl_anchor_free(struct sl_anchor *a);

/* For shelter_log_options.anchor; ctx borrowed: valid while a lives. A connection
 * lost or broken is dropped and opened again at the next call.
 *   load:  the latest state of the handle (the service's read, §6.2), or none when
 *          f + 1 endorsers say the handle was never created; any other failure
 *          (unreachable, MISSING, CONFLICT, a pinned genesis that differs) fails the
 *          log's open: StreamLog refuses to start rather than run unanchored.
 *   store: create the handle at the first store, else append at height + 1; after a
 *          network error it reconnects once. A note whose write failed is written
 *          again, first, at the next store (its outcome is unknown). */
void sl_anchor_hooks(struct sl_anchor *a, struct shelter_log_anchor *out);

/* "freshness service ADDR, handle HEX", for the daemon's log lines. */
const char *sl_anchor_describe(const struct sl_anchor *a);

#endif
