/* The freshness service's daemons (docs/protocols/freshness.md): for now the
 * endorser's network loop (endorser_main.c, §8, §10), the untrusted glue around the
 * trusted state machine of endorser.h. Used by `shelter freshness endorser`. */
#ifndef SHELTER_FRESHNESS_FRESH_H
#define SHELTER_FRESHNESS_FRESH_H

#include <signal.h>

#include "shelter/error.h"

/* Borrowed for the whole call. */
struct fresh_endorser_config {
	const char *listen;          /* HOST:PORT; port 0 picks a free one (logged) */
	const char *platform_dir;    /* the sim platform; NULL = shelter_platform_default_dir() */
	volatile sig_atomic_t *stop; /* set by the caller's SIGTERM/SIGINT handler */
	int stop_fd;                 /* readable once stop is set (self-pipe), or -1 */
};

/* Measure this executable, open the sim TEE, draw the endorser's key, quote it
 * (§3.3), listen and answer §8 requests until *cfg->stop. Logs one line per event
 * on stderr. 0 after a clean stop; a negative SHELTER_E_* code with err naming the
 * cause when it cannot start (bad address, port in use, no enrolled platform). */
int fresh_endorser_serve(const struct fresh_endorser_config *cfg, struct shelter_err *err);

#endif
