/* The endorser's state machine (docs/protocols/freshness.md §4): the trusted part
 * of the freshness service. Memory only, one serial state per endorser; a new
 * Ed25519 key at every start. The network loop around it (endorser_main.c) only
 * decodes frames and calls these. Batches returned are owned by the caller
 * (fr_batch_free). Not thread-safe: one caller at a time. */
#ifndef SHELTER_FRESHNESS_ENDORSER_H
#define SHELTER_FRESHNESS_ENDORSER_H

#include "freshness/format.h"

struct endorser;

enum endorser_phase {
	ENDORSER_UNINIT = 0,
	ENDORSER_ACTIVE = 1,
	ENDORSER_LOCKED = 2,
};

/* One item of a batch request (§4.2, §8). cert points at cert_count receipts
 * (borrowed for the call). */
enum endorser_op {
	ENDORSER_CREATE = 1,
	ENDORSER_APPEND = 2,
	ENDORSER_CERTIFY = 3,
};
struct endorser_item {
	uint8_t op;
	uint8_t handle[FR_HASH];
	uint64_t height;
	uint8_t value[FR_HASH]; /* create/append: the digest; certify: the tail */
	const struct fr_receipt *cert;
	size_t cert_count;
};

/* init's proof (§7.1 step 4). Everything borrowed for the call. */
struct endorser_proof {
	const uint8_t *view;      /* view_body of the view to serve */
	size_t view_len;
	const uint8_t *prev;      /* view_body of its predecessor; NULL for a genesis */
	size_t prev_len;
	const struct fr_batch *locks; /* LOCK batches of the predecessor's members */
	size_t nlocks;
	const struct fr_receipt *const *certs; /* certificates for ambiguous handles */
	const size_t *cert_lens;
	size_t ncerts;
};

int endorser_new(struct endorser **out, struct shelter_err *err);
void endorser_free(struct endorser *e);
void endorser_public_key(const struct endorser *e, uint8_t pub[FR_PUB]);
enum endorser_phase endorser_phase(const struct endorser *e);
/* Handles held (for logs and tests). */
size_t endorser_handles(const struct endorser *e);

int endorser_init(struct endorser *e, const struct endorser_proof *p, struct fr_batch *out,
		  struct shelter_err *err);
/* status[i] gets 0 or a negative code per item; out holds the entries of the items
 * that succeeded, in order. Fails as a whole only when not ACTIVE or out of memory;
 * when no item succeeded, out->count is 0 and nothing is signed. */
int endorser_batch(struct endorser *e, const struct endorser_item *items, size_t n,
		   int32_t *status, struct fr_batch *out, struct shelter_err *err);
int endorser_read(struct endorser *e, const uint8_t nonce[FR_HASH],
		  const uint8_t (*handles)[FR_HASH], size_t n, struct fr_batch *out,
		  struct shelter_err *err);
int endorser_lock(struct endorser *e, const uint8_t next[FR_HASH], struct fr_batch *out,
		  struct shelter_err *err);
/* §8 sigs: the APPEND batch signatures of other members of the current view, each
 * checked here and remembered, so that the receipts of those batches in the next
 * round's certificates need no check then. Heads of another view or kind, of a
 * non-member, or that do not verify are ignored; returns how many were learnt. */
size_t endorser_learn(struct endorser *e, const struct fr_sighead *heads, size_t n);

#endif
