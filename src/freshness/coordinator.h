/* The coordinator (docs/protocols/freshness.md §5): untrusted and stateless. It
 * keeps blocks, certificates and the view ledger in the store, relays rounds to
 * the endorsers of the current view, and serves clients (§8.2). Any number may
 * run against one store. Also the operator's procedures that drive endorsers:
 * the genesis (§7.3) and reconfiguration (§7.1).
 *
 * Ownership: a struct fresh_coord owns its store and endorser connections. */
#ifndef SHELTER_FRESHNESS_COORDINATOR_H
#define SHELTER_FRESHNESS_COORDINATOR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "freshness/format.h"
#include "freshness/store.h"

struct fresh_coord;

/* Takes over store (closed by fresh_coord_free, also on failure). */
int fresh_coord_new(struct fresh_store *store, struct fresh_coord **out,
		    struct shelter_err *err);
void fresh_coord_free(struct fresh_coord *c);

/* §7.3: a genesis view of the endorsers at addrs (HOST:PORT), initialised and
 * recorded in an empty store; its digest in genesis. */
int fresh_coord_genesis(struct fresh_coord *c, const char *const *addrs, size_t n,
			uint8_t genesis[FR_HASH], struct shelter_err *err);
/* §7.1: a new view: the current one without the members whose public keys are in
 * drop (ndrop), plus the endorsers at add (nadd). */
int fresh_coord_reconfigure(struct fresh_coord *c, const uint8_t (*drop)[FR_PUB], size_t ndrop,
			    const char *const *add, size_t nadd, uint64_t *number,
			    struct shelter_err *err);

/* Serve clients on listen (HOST:PORT, port 0 picks one) until *stop is set (stop_fd,
 * when >= 0, becomes readable then: the caller's signal handler sets both). */
int fresh_coord_serve(struct fresh_coord *c, const char *listen,
		      const volatile sig_atomic_t *stop, int stop_fd, struct shelter_err *err);

#endif
