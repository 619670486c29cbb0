/* Verifiable log: an append-only RFC 9162 Merkle tree with C2SP signed checkpoints,
 * durable group commit and anchored checkpoints. Spec: docs/formats/log.md.
 *
 * Two halves: the verifier functions (proofs, notes) need only public data and no
 * store; the writer (struct shelter_log) owns one store directory. All functions
 * return 0 or a negative enum shelter_code and may fill the optional err.
 */
#ifndef SHELTER_LOG_H
#define SHELTER_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"

#define SHELTER_LOG_HASH 32
#define SHELTER_LOG_ENTRY_MAX 65535u
#define SHELTER_LOG_PROOF_MAX 64
#define SHELTER_LOG_ORIGIN_MAX 255
#define SHELTER_LOG_NOTE_MAX 65536

/* ---- Verifying (§2, §3): public data only ---- */

/* H(0x00 || entry), §2. */
SHELTER_API SHELTER_MUST_USE int shelter_log_leaf_hash(const void *entry, size_t size,
						       uint8_t out[SHELTER_LOG_HASH]);

/* RFC 9162 §2.1.3.2: 0 when `proof` (count hashes) places leaf at index in the tree
 * of `size` leaves with root `root`; INTEGRITY when it leads elsewhere, MALFORMED when
 * count is not the length (index, size) implies, INVAL when index >= size. */
SHELTER_API SHELTER_MUST_USE int shelter_log_verify_inclusion(
	const uint8_t leaf[SHELTER_LOG_HASH], uint64_t index, uint64_t size,
	const uint8_t (*proof)[SHELTER_LOG_HASH], size_t count,
	const uint8_t root[SHELTER_LOG_HASH], struct shelter_err *err);

/* RFC 9162 §2.1.4.2: 0 when the tree (n, root_n) extends (m, root_m); as above. */
SHELTER_API SHELTER_MUST_USE int shelter_log_verify_consistency(
	uint64_t m, uint64_t n, const uint8_t (*proof)[SHELTER_LOG_HASH], size_t count,
	const uint8_t root_m[SHELTER_LOG_HASH], const uint8_t root_n[SHELTER_LOG_HASH],
	struct shelter_err *err);

/* A checkpoint (§3.1) after its note verified. */
struct shelter_log_checkpoint {
	char origin[SHELTER_LOG_ORIGIN_MAX + 1];
	uint64_t size;
	uint8_t root[SHELTER_LOG_HASH];
};

/* A C2SP verifier key "<name>+<hex id>+<base64(0x01 || pub)>" (§3.2). */
struct shelter_log_verifier {
	char name[SHELTER_LOG_ORIGIN_MAX + 1];
	uint8_t id[4];
	uint8_t pub[32];
};

/* Parse a verifier key string of `len` bytes (no trailing newline). MALFORMED with
 * the part that is wrong; the id must match the key (INTEGRITY otherwise). */
SHELTER_API SHELTER_MUST_USE int shelter_log_verifier_parse(const char *text, size_t len,
							    struct shelter_log_verifier *out,
							    struct shelter_err *err);

/* The verifier key string for (origin, pub) into out (cap bytes, NUL-terminated). */
SHELTER_API SHELTER_MUST_USE int shelter_log_verifier_format(const char *origin,
							     const uint8_t pub[32], char *out,
							     size_t cap, struct shelter_err *err);

/* Verify a signed note (§3.2) of len bytes with v, then parse its body as a
 * checkpoint (§3.1) whose origin must be v->name. Errors: MALFORMED (layout),
 * UNTRUSTED (no signature by v), INTEGRITY (v's signature is bad), POLICY (origin). */
SHELTER_API SHELTER_MUST_USE int shelter_log_checkpoint_open(
	const char *note, size_t len, const struct shelter_log_verifier *v,
	struct shelter_log_checkpoint *out, struct shelter_err *err);

/* ---- An in-memory tree (§2) ---- */

/* Every complete subtree's hash in memory (64 bytes per leaf): for readers that
 * rebuild a tree from entries, e.g. to export events with proofs. Not thread-safe. */
struct shelter_log_tree;

/* *out owned by the caller: shelter_log_tree_free (NULL is a no-op). */
SHELTER_API SHELTER_MUST_USE int shelter_log_tree_new(struct shelter_log_tree **out,
						      struct shelter_err *err);
SHELTER_API void shelter_log_tree_free(struct shelter_log_tree *t);
/* Append a leaf hash (shelter_log_leaf_hash of the entry). */
SHELTER_API SHELTER_MUST_USE int shelter_log_tree_add(struct shelter_log_tree *t,
						      const uint8_t leaf[SHELTER_LOG_HASH],
						      struct shelter_err *err);
SHELTER_API uint64_t shelter_log_tree_size(const struct shelter_log_tree *t);
/* As shelter_log_root and the prove functions, for sizes up to the tree's size. */
SHELTER_API SHELTER_MUST_USE int shelter_log_tree_root(struct shelter_log_tree *t, uint64_t size,
						       uint8_t out[SHELTER_LOG_HASH],
						       struct shelter_err *err);
SHELTER_API SHELTER_MUST_USE int shelter_log_tree_prove_inclusion(
	struct shelter_log_tree *t, uint64_t index, uint64_t size,
	uint8_t (*out)[SHELTER_LOG_HASH], size_t *out_count, struct shelter_err *err);
SHELTER_API SHELTER_MUST_USE int shelter_log_tree_prove_consistency(
	struct shelter_log_tree *t, uint64_t m, uint64_t n, uint8_t (*out)[SHELTER_LOG_HASH],
	size_t *out_count, struct shelter_err *err);

/* ---- Anchors (§7) ---- */

/* Where the writer keeps its last checkpoint beyond the store. load returns the
 * stored note in a malloc'ed buffer the log frees (*out = NULL, *len = 0 when none
 * was ever stored); store must be durable when it returns 0. Both are called with
 * no log lock held, from one thread at a time. */
struct shelter_log_anchor {
	int (*load)(void *ctx, char **out, size_t *len, struct shelter_err *err);
	int (*store)(void *ctx, const char *note, size_t len, struct shelter_err *err);
	void *ctx;
};

/* ---- Writing: one store directory (§4 to §7) ---- */

struct shelter_log;

struct shelter_log_options {
	const char *dir;             /* the store directory (created when create is set) */
	const char *origin;          /* the log's name (§3.1) */
	const uint8_t *priv;         /* 32-byte Ed25519 seed; copied into locked memory */
	int create;                  /* create an empty log when there is none (§6.3) */
	/* NULL: the local anchor file (anchor_path, default DIR/anchor, §7.2). */
	const struct shelter_log_anchor *anchor;
	const char *anchor_path;
	unsigned anchor_interval_ms; /* 0: 1000 */
};

/* Open or create (§6.3). *out is set on success only; close with shelter_log_close.
 * Tamper alarms: TRUNCATED (entries missing below the anchored checkpoint),
 * INTEGRITY (entries changed below it); CONFLICT when another writer holds it. */
SHELTER_API SHELTER_MUST_USE int shelter_log_open(const struct shelter_log_options *opt,
						  struct shelter_log **out,
						  struct shelter_err *err);

/* Anchors the durable size (§7.1), then frees; NULL is a no-op. Returns the anchor's
 * error, if any (the handle is freed either way). */
SHELTER_API int shelter_log_close(struct shelter_log *log, struct shelter_err *err);

/* Queue one entry (at most SHELTER_LOG_ENTRY_MAX bytes); *out_index is its index.
 * Not durable until shelter_log_sync covers it. Thread-safe. */
SHELTER_API SHELTER_MUST_USE int shelter_log_append(struct shelter_log *log, const void *entry,
						    size_t size, uint64_t *out_index,
						    struct shelter_err *err);

/* Return once entries 0..index are durable (§6.1 crash guarantee), leading or
 * joining a group commit. Thread-safe. IO once a commit failed (the handle is then
 * poisoned). Anchors when the interval is due (§7.1), best effort: a failure there
 * does not fail the sync; shelter_log_anchor_now and shelter_log_close report it. */
SHELTER_API SHELTER_MUST_USE int shelter_log_sync(struct shelter_log *log, uint64_t index,
						  struct shelter_err *err);

/* The durable size: entries 0..size-1 are synced. */
SHELTER_API uint64_t shelter_log_size(struct shelter_log *log);

/* The tree root at size m (m <= durable size). */
SHELTER_API SHELTER_MUST_USE int shelter_log_root(struct shelter_log *log, uint64_t m,
						  uint8_t out[SHELTER_LOG_HASH],
						  struct shelter_err *err);

/* A signed checkpoint note at the durable size, NUL-terminated in out (cap bytes;
 * SHELTER_LOG_NOTE_MAX is always enough); *out_size gets its size. */
SHELTER_API SHELTER_MUST_USE int shelter_log_checkpoint(struct shelter_log *log, char *out,
							size_t cap, uint64_t *out_size,
							struct shelter_err *err);

/* Anchor the durable size now (§7.1), whatever the interval. */
SHELTER_API SHELTER_MUST_USE int shelter_log_anchor_now(struct shelter_log *log,
							struct shelter_err *err);

/* Replace DIR/checkpoint, the readers' copy (§8.1), with a checkpoint at the
 * durable size, without anchoring it: cheap enough to call every few ms, so that
 * readers see new entries covered soon after they are durable. */
SHELTER_API SHELTER_MUST_USE int shelter_log_publish(struct shelter_log *log,
						     struct shelter_err *err);

/* The inclusion proof of index at size (index < size <= durable size), checked
 * (§6.4) before it is returned; *out_count hashes. */
SHELTER_API SHELTER_MUST_USE int shelter_log_prove_inclusion(
	struct shelter_log *log, uint64_t index, uint64_t size,
	uint8_t (*out)[SHELTER_LOG_HASH], size_t *out_count, struct shelter_err *err);

/* The consistency proof from size m to size n (m <= n <= durable size), checked. */
SHELTER_API SHELTER_MUST_USE int shelter_log_prove_consistency(
	struct shelter_log *log, uint64_t m, uint64_t n, uint8_t (*out)[SHELTER_LOG_HASH],
	size_t *out_count, struct shelter_err *err);

/* Entry index (< durable size) into out (cap bytes); *out_size its size. Checked
 * against its leaf hash (§6.4). */
SHELTER_API SHELTER_MUST_USE int shelter_log_get(struct shelter_log *log, uint64_t index,
						 void *out, size_t cap, size_t *out_size,
						 struct shelter_err *err);

/* The log's verifier key string (§3.2) into out. */
SHELTER_API SHELTER_MUST_USE int shelter_log_vkey(struct shelter_log *log, char *out,
						  size_t cap, struct shelter_err *err);

/* ---- Audit (§8): offline, read-only, public key only ---- */

/* Check the store in dir against the signed checkpoint note (or, note NULL, the
 * store's own DIR/checkpoint). *out_entries (optional) gets the entries present and
 * *out_checked the checkpoint that verified. Errors name the offset and index. */
SHELTER_API SHELTER_MUST_USE int shelter_log_audit(const char *dir,
						   const struct shelter_log_verifier *v,
						   const char *note, size_t note_len,
						   uint64_t *out_entries,
						   struct shelter_log_checkpoint *out_checked,
						   struct shelter_err *err);

/* ---- Following a live store (§8.1): read-only, public key only ---- */

/* A reader that keeps up with a store its writer is still appending to: what a
 * viewer serves from. It holds the tree in memory (64 bytes per entry) and every
 * entry's offset (8 bytes). One thread at a time. */
struct shelter_log_follower;

/* Open dir/log (its header must name v's origin and key: POLICY otherwise). *out
 * owned by the caller: shelter_log_follower_close (NULL is a no-op). */
SHELTER_API SHELTER_MUST_USE int shelter_log_follower_open(const char *dir,
							   const struct shelter_log_verifier *v,
							   struct shelter_log_follower **out,
							   struct shelter_err *err);
SHELTER_API void shelter_log_follower_close(struct shelter_log_follower *f);
/* Read the frames appended since the last call and the store's checkpoint; take the
 * checkpoint when its signature verifies and its root matches the entries read
 * (TRUNCATED or INTEGRITY: a tamper alarm; STALE: the checkpoint went back).
 * *out (optional) gets the checkpoint in force (size 0 before the first). */
SHELTER_API SHELTER_MUST_USE int shelter_log_follower_update(
	struct shelter_log_follower *f, struct shelter_log_checkpoint *out,
	struct shelter_err *err);
/* Entries read so far (some may be above the checkpoint: not vouched for yet). */
SHELTER_API uint64_t shelter_log_follower_size(const struct shelter_log_follower *f);
/* The signed note of the checkpoint in force, NUL-terminated. */
SHELTER_API SHELTER_MUST_USE int shelter_log_follower_note(const struct shelter_log_follower *f,
							   char *out, size_t cap);
/* The in-memory tree (borrowed, valid until the next update or close): roots and
 * proofs at any size up to shelter_log_follower_size. */
SHELTER_API struct shelter_log_tree *shelter_log_follower_tree(struct shelter_log_follower *f);
/* Entry index, checked against the leaf hashed when it was read (INTEGRITY if the
 * file changed since). */
SHELTER_API SHELTER_MUST_USE int shelter_log_follower_get(struct shelter_log_follower *f,
							  uint64_t index, void *out, size_t cap,
							  size_t *out_size, struct shelter_err *err);

/* Called with each entry, in order, while shelter_log_read checks the log; a
 * non-zero return stops the read, which then returns that value. The entry is
 * borrowed for the call. Entries are handed over before the check of the root at
 * the checkpoint's size: only a read that returns 0 vouches for what it handed. */
typedef int (*shelter_log_entry_fn)(void *ctx, uint64_t index, const void *entry, size_t size);

/* shelter_log_audit that also hands every entry present to cb (NULL: none). */
SHELTER_API SHELTER_MUST_USE int shelter_log_read(const char *dir,
						  const struct shelter_log_verifier *v,
						  const char *note, size_t note_len,
						  shelter_log_entry_fn cb, void *ctx,
						  uint64_t *out_entries,
						  struct shelter_log_checkpoint *out_checked,
						  struct shelter_err *err);

#endif
