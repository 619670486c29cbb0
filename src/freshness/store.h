/* The freshness service's untrusted store (docs/protocols/freshness.md §5): keys to
 * versioned values with a linearizable compare-and-swap, in an existing
 * crash-fault-tolerant store. Nothing in it is trusted: every value a client
 * relies on is signed by endorsers or sealed by the client itself.
 *
 * Backends: "sqlite:PATH" (the embedded default; several coordinators on one
 * machine may share the file) and "etcd:http://HOST:PORT" (etcd v3's JSON gateway;
 * several comma-separated endpoints are tried in order).
 * Ownership: the store is owned by its opener (fresh_store_close); values returned
 * are malloc'd and owned by the caller. Thread-safe. */
#ifndef SHELTER_FRESHNESS_STORE_H
#define SHELTER_FRESHNESS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"

#define FRESH_KEY_MAX 200

struct fresh_store;

int fresh_store_open(const char *spec, struct fresh_store **out, struct shelter_err *err);
void fresh_store_close(struct fresh_store *s);
/* The value and its version (>= 1); SHELTER_E_NOENT when absent. */
int fresh_store_get(struct fresh_store *s, const char *key, uint8_t **val, size_t *len,
		    uint64_t *version, struct shelter_err *err);
/* Write val if the key's version is still expect (0: the key must be absent), as
 * one linearizable step, durable when it returns 0; *version gets the new version
 * (may be NULL). SHELTER_E_CONFLICT when the version moved. */
int fresh_store_put(struct fresh_store *s, const char *key, const uint8_t *val, size_t len,
		    uint64_t expect, uint64_t *version, struct shelter_err *err);

/* Several compare-and-swaps written together (§5: the blocks of one round, the
 * certificates of a round, the blocks they supersede deleted). Each op is its own
 * swap, or a delete (del: whatever the version; an absent key is fine): op->rc gets 0
 * (op->version the new version) or SHELTER_E_CONFLICT, and one op's conflict does not
 * stop the others.
 * On SQLite they share one transaction, hence one fsync. durable = 0 lets the
 * backend skip the flush: such writes survive a crash of the process but may be lost
 * with the machine until a later durable put (SQLite WAL: the next fsync of the log
 * carries them); etcd's puts are always durable. Returns < 0 (every op->rc set to it)
 * when the store failed; then any op may or may not have happened. */
struct fresh_store_op {
	const char *key;
	const uint8_t *val;
	size_t len;
	uint64_t expect;
	int del;	  /* delete the key whatever its version (absent is fine) */
	int any;	  /* put whatever the version (absent or not): no compare */
	uint64_t version; /* out */
	int rc;		  /* out */
};
int fresh_store_put_many(struct fresh_store *s, struct fresh_store_op *ops, size_t n, int durable,
			 struct shelter_err *err);

/* The etcd backend (store_etcd.c), behind the functions above and internal to them:
 * endpoints is the spec after "etcd:", "http://HOST:PORT[,http://HOST:PORT...]".
 * Each function keeps the contract of its fresh_store_ counterpart. */
struct fresh_etcd;
int fresh_etcd_open(const char *endpoints, struct fresh_etcd **out, struct shelter_err *err);
void fresh_etcd_close(struct fresh_etcd *e);
int fresh_etcd_get(struct fresh_etcd *e, const char *key, uint8_t **val, size_t *len,
		   uint64_t *version, struct shelter_err *err);
int fresh_etcd_put(struct fresh_etcd *e, const char *key, const uint8_t *val, size_t len,
		   uint64_t expect, uint64_t *version, struct shelter_err *err);
int fresh_etcd_delete(struct fresh_etcd *e, const char *key, struct shelter_err *err);
/* Up to 64 ops (and 768 KiB of values) in one txn, all or nothing; when a compare
 * fails, that txn's ops are done again one by one to tell which conflicted. */
int fresh_etcd_put_many(struct fresh_etcd *e, struct fresh_store_op *ops, size_t n,
			struct shelter_err *err);

#endif
