/* The freshness client (docs/protocols/freshness.md §6): trusted, it believes only
 * what endorsers of a view reachable from its pinned genesis signed. It speaks to a
 * coordinator (§8.2), which it does not trust.
 *
 * Ownership: a struct fresh_client owns its connection; blobs returned are
 * malloc'd and owned by the caller. One thread at a time per client. */
#ifndef SHELTER_FRESHNESS_CLIENT_H
#define SHELTER_FRESHNESS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "freshness/format.h"
#include "shelter/tee.h"

struct fresh_client;
struct shelter_trust;

/* Which endorsers a client believes (§3.3): every member of every view it follows
 * must present a quote that verifies against trust (its providers and CRLs), binds
 * the member's key, shows one of the accepted measurements, and is a sim quote only
 * when accept_sim is set. Borrowed for the client's lifetime. */
struct fresh_policy {
	const struct shelter_trust *trust;
	const uint8_t (*measurements)[SHELTER_MEASUREMENT_SIZE];
	size_t nmeasurements;
	int accept_sim;
};

/* The measurement `shelter freshness endorser` of this very shelter build has: the
 * default policy of the command line (the endorsers run the same release). */
int fresh_endorser_measurement(uint8_t out[SHELTER_MEASUREMENT_SIZE], struct shelter_err *err);
/* The same for the shelter executable at program (a path; paths are not measured,
 * docs/formats/measurement.md §1): for programs other than shelter itself. */
int fresh_endorser_measurement_of(const char *program, uint8_t out[SHELTER_MEASUREMENT_SIZE],
				  struct shelter_err *err);

/* What a policy is built from: the inputs of `shelter freshness ... --provider DIR
 * --endorser-measurement HEX --accept-sim` and of StreamLog's freshness anchor.
 * Borrowed for the call. */
struct fresh_policy_args {
	const char *const *providers; /* directories holding ca.crt and crl.pem */
	size_t nproviders;
	const uint8_t (*measurements)[SHELTER_MEASUREMENT_SIZE];
	size_t nmeasurements; /* 0: the measurement of `shelter freshness endorser` ... */
	const char *endorser_program; /* ... of this shelter executable; NULL: this one */
	int accept_sim;
};

/* A policy and what it points to, owned together (policy.c). */
struct fresh_policy_loaded {
	struct fresh_policy policy; /* what fresh_client_open takes */
	struct shelter_trust *trust;
	uint8_t (*measurements)[SHELTER_MEASUREMENT_SIZE];
};

/* Build a policy: a new trust holding every provider directory's ca.crt and crl.pem
 * (docs/formats/quote.md §4.3), the measurements given or the default. out is
 * cleared first and owned by the caller: fresh_policy_unload (also after a failure;
 * a cleared one is a no-op). Errors name the provider directory or the file. */
int fresh_policy_load(const struct fresh_policy_args *in, struct fresh_policy_loaded *out,
		      struct shelter_err *err);
void fresh_policy_unload(struct fresh_policy_loaded *p);

/* Connect to the coordinator at addr (HOST:PORT) and follow the view ledger from
 * the genesis: pinned when genesis is not NULL (SHELTER_E_UNTRUSTED when the
 * service's differs), else taken as it is (trust on first use: the caller must
 * keep fresh_client_genesis and pin it from then on). Every view's quotes are
 * checked against policy (SHELTER_E_POLICY, or the quote's own error). */
int fresh_client_open(const char *addr, const uint8_t *genesis,
		      const struct fresh_policy *policy, struct fresh_client **out,
		      struct shelter_err *err);
void fresh_client_close(struct fresh_client *c);
void fresh_client_genesis(const struct fresh_client *c, uint8_t out[FR_HASH]);
uint64_t fresh_client_view(const struct fresh_client *c);

/* §6.1: store state (any bytes, sealed by the caller) at height 0 or h = prev height
 * + 1 on the tail prev, and return only once f + 1 endorsers of the current view
 * signed the new tail (written to tail when not NULL): then it is acknowledged. */
int fresh_client_create(struct fresh_client *c, const uint8_t handle[FR_HASH],
			const uint8_t *state, size_t len, uint8_t tail[FR_HASH],
			struct shelter_err *err);
int fresh_client_append(struct fresh_client *c, const uint8_t handle[FR_HASH], uint64_t height,
			const uint8_t prev[FR_HASH], const uint8_t *state, size_t len,
			uint8_t tail[FR_HASH], struct shelter_err *err);

/* §6.2 and §6.3: the latest state with a fresh nonce, its block fetched and checked
 * against the endorsers' tail, an uncertified latest step finished; then a block the
 * store holds pending one above it (at height 0 for a handle absent) whose tail below
 * is the latest tail is finished too (appended, or created, until f + 1 endorsers
 * certify it) and returned as the latest (§6.3 step 4); a pending block that is
 * corrupt or does not chain is left alone. SHELTER_E_NOENT for a handle never created
 * and with no pending create; SHELTER_E_MISSING when the store lost the state the
 * endorsers vouch for (fail-stop: nothing older may replace it); SHELTER_E_CONFLICT
 * when the answers are ambiguous (§6.2). */
struct fresh_state {
	uint64_t height;
	uint8_t tail[FR_HASH];
	uint8_t *state; /* malloc'd */
	size_t len;
};
int fresh_client_read(struct fresh_client *c, const uint8_t handle[FR_HASH],
		      struct fresh_state *out, struct shelter_err *err);

#endif
