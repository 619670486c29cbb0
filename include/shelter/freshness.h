/* The freshness client: rollback protection for any state, from a freshness service
 * of trusted endorsers over an untrusted store (docs/protocols/freshness.md §6).
 *
 * A handle names one chain of states. A write (create, then appends) returns only once
 * f + 1 endorsers of the current view signed the new tail, which the client computes
 * itself: then, and only then, the write is acknowledged and the caller may release
 * what depends on it. A read draws a fresh nonce, believes only f + 1 endorsers' signed
 * answers, checks the state the store returns against them and finishes a write a
 * crash left half done (§6.3); it fails rather than return anything older than the
 * latest acknowledged state. The coordinator and the store are not trusted.
 *
 * Endorsers are believed only when every view from the pinned genesis on is reached
 * through transition certificates and each member's quote verifies against the
 * providers given, with an accepted measurement (§3.3).
 *
 * Ownership: a struct shelter_freshness owns its connection; one thread at a time per
 * client (open one per thread: their writes still share the service's rounds). States
 * returned are malloc'd and owned by the caller (shelter_freshness_state_free). All
 * functions return 0 or a negative enum shelter_code and may fill the optional err. */
#ifndef SHELTER_FRESHNESS_H
#define SHELTER_FRESHNESS_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"

#define SHELTER_FRESHNESS_HASH 32
#define SHELTER_FRESHNESS_STATE_MAX (8u << 20) /* bytes of one state */

struct shelter_freshness;

/* Whom to believe (§3.3). Borrowed for the call. */
struct shelter_freshness_trust {
	const char *const *providers; /* directories holding the provider's ca.crt, crl.pem */
	size_t nproviders;            /* at least 1 */
	const uint8_t (*measurements)[SHELTER_FRESHNESS_HASH]; /* accepted endorser code */
	size_t nmeasurements;
	/* with no measurements: the endorser measurement of this shelter executable
	 * (`PROGRAM freshness endorser`, as `shelter freshness` itself uses) */
	const char *endorser_program;
	int accept_sim; /* believe sim quotes (docs/formats/quote.md): tests, never production */
};

/* Connect to the coordinator at addr (HOST:PORT) and follow the view ledger from
 * genesis (32 bytes): UNTRUSTED when the service's genesis differs. genesis NULL
 * takes the service's as it is (trust on first use: keep shelter_freshness_genesis
 * and pin it from then on). POLICY, or the quote's own error, for an endorser the
 * trust does not accept. */
SHELTER_API SHELTER_MUST_USE int shelter_freshness_open(const char *addr, const uint8_t *genesis,
							const struct shelter_freshness_trust *trust,
							struct shelter_freshness **out,
							struct shelter_err *err);
SHELTER_API void shelter_freshness_close(struct shelter_freshness *c);
SHELTER_API void shelter_freshness_genesis(const struct shelter_freshness *c,
					   uint8_t out[SHELTER_FRESHNESS_HASH]);

/* §6.1: state (any bytes, sealed by the caller: the service keeps them in the
 * untrusted store) at height 0 of a new handle, or at height = the previous height + 1
 * on the tail prev that write returned. Returns once f + 1 endorsers signed the new
 * tail (in tail when not NULL). CONFLICT when the height is taken (another writer of
 * the handle): read again. */
SHELTER_API SHELTER_MUST_USE int shelter_freshness_create(
	struct shelter_freshness *c, const uint8_t handle[SHELTER_FRESHNESS_HASH],
	const void *state, size_t len, uint8_t tail[SHELTER_FRESHNESS_HASH],
	struct shelter_err *err);
SHELTER_API SHELTER_MUST_USE int shelter_freshness_append(
	struct shelter_freshness *c, const uint8_t handle[SHELTER_FRESHNESS_HASH], uint64_t height,
	const uint8_t prev[SHELTER_FRESHNESS_HASH], const void *state, size_t len,
	uint8_t tail[SHELTER_FRESHNESS_HASH], struct shelter_err *err);

/* The latest state (§6.2, §6.3). NOENT for a handle never created; MISSING when the
 * store lost the state the endorsers vouch for (fail-stop: nothing older may replace
 * it); CONFLICT when the answers are ambiguous (read again). */
struct shelter_freshness_state {
	uint64_t height;
	uint8_t tail[SHELTER_FRESHNESS_HASH];
	uint8_t *state; /* malloc'd */
	size_t len;
};
SHELTER_API SHELTER_MUST_USE int shelter_freshness_read(
	struct shelter_freshness *c, const uint8_t handle[SHELTER_FRESHNESS_HASH],
	struct shelter_freshness_state *out, struct shelter_err *err);
SHELTER_API void shelter_freshness_state_free(struct shelter_freshness_state *s);

#endif
