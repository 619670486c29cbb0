/* The certificates a coordinator keeps (docs/protocols/freshness.md §5): the newest
 * of each handle it wrote, in memory for the handle's next append, and in the store
 * for other coordinators, clients and restarts, written by a thread of its own after
 * the writers were answered (checked first, not flushed). Untrusted like the rest of
 * the coordinator: endorsers and clients check every certificate they are given.
 *
 * Ownership: struct fresh_certs borrows the store (it must outlive it); certificates
 * handed to it are taken; those returned are malloc'd in an fs_receipts the caller
 * frees. Thread-safe. */
#ifndef SHELTER_FRESHNESS_CERTS_H
#define SHELTER_FRESHNESS_CERTS_H

#include <stddef.h>
#include <stdint.h>

#include "freshness/format.h"
#include "freshness/service.h"
#include "freshness/store.h"

struct fresh_certs;

/* The store key of a block: "block/<handle hex>/<height>" (§5). */
#define FRESH_BLOCK_KEY 120
void fresh_block_key(char out[FRESH_BLOCK_KEY], const uint8_t handle[FR_HASH], uint64_t height);
/* "below/<handle hex>": the certificate the handle's latest round was built on, stored
 * with that round's blocks when not in the store yet (§5). */
void fresh_below_key(char out[FRESH_BLOCK_KEY], const uint8_t handle[FR_HASH]);

/* A certificate: n receipts (of one handle, height and tail). */
struct fresh_cert {
	struct fresh_cert *next; /* the saver's queue */
	size_t n;
	struct fr_receipt r[]; /* n */
};

int fresh_certs_new(struct fresh_store *store, struct fresh_certs **out, struct shelter_err *err);
/* Stores what is still queued, then frees. */
void fresh_certs_free(struct fresh_certs *cs);

/* A round's certificate of view v, unchecked: remembered at once, and queued for the
 * store, which gets it only if it certifies (§3.4). Takes p. */
void fresh_certs_keep(struct fresh_certs *cs, const struct fr_view *v, struct fresh_cert *p);
/* INIT certificates of a reconfiguration, checked by the caller: stored now and
 * flushed. Borrows ps. */
void fresh_certs_save_now(struct fresh_certs *cs, struct fresh_cert *const *ps, size_t n);

/* The certificate of (handle, height) to send with the append above it: the newest
 * kept in memory or queued, when of view, else the store's at that height (a
 * reconfiguration stored the new view's INIT certificates there), else the one stored
 * below a round (fresh_below_key). 0 with *out filled, and *stored 0 when the store
 * may not have it yet; SHELTER_E_NOENT when none is known. */
int fresh_certs_find(struct fresh_certs *cs, const uint8_t handle[FR_HASH], uint64_t height,
		     const uint8_t view[FR_HASH], struct fs_receipts *out, int *stored);
/* The store's certificate of handle, whatever its height (reads, §6.2); *version its
 * store version. */
int fresh_certs_load(struct fresh_certs *cs, const uint8_t handle[FR_HASH],
		     struct fs_receipts *out, uint64_t *version);

/* The certificate stored under key (fresh_below_key), whatever its height. */
int fresh_certs_load_key(struct fresh_certs *cs, const char *key, struct fs_receipts *out,
			 uint64_t *version);
#endif
