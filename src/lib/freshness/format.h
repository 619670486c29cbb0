/* The freshness service's signed objects (docs/protocols/freshness.md §3): tails,
 * entries, Merkle batches, receipts, views and certificates. Pure functions over
 * caller-owned memory; nothing here allocates except fr_view_encode (caller frees).
 * Shared by the endorser, the coordinator and the client. Internal to libshelter. */
#ifndef SHELTER_FRESHNESS_FORMAT_H
#define SHELTER_FRESHNESS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/crypto.h"
#include "shelter/error.h"

#define FR_HASH 32
#define FR_PUB SHELTER_ED25519_PUB_SIZE
#define FR_SIG SHELTER_ED25519_SIG_SIZE
#define FR_ENTRY_SIZE 73
#define FR_BATCH_MAX (1u << 20)
#define FR_PATH_MAX 20 /* log2(FR_BATCH_MAX) */
#define FR_VIEW_MAX 15
#define FR_QUOTE_MAX 16384
#define FR_ABSENT UINT64_MAX /* height of a handle an endorser does not hold (§3.2) */
#define FR_FLAG_CERTIFIED 0x01u
#define FR_FLAG_LOCKED 0x02u /* READ entries of a locked endorser (§3.2): fail the read */

/* §3.2 receipt kinds */
enum fr_kind {
	FR_KIND_APPEND = 1,
	FR_KIND_READ = 2,
	FR_KIND_LOCK = 3,
	FR_KIND_INIT = 4,
};

struct fr_entry {
	uint8_t handle[FR_HASH];
	uint64_t height;
	uint8_t tail[FR_HASH];
	uint8_t flags;
};

/* §3.1 */
/* Hashing functions return 0, or SHELTER_E_INTERNAL when OpenSSL cannot hash. */
int fr_tail_genesis(const uint8_t handle[FR_HASH], const uint8_t digest[FR_HASH],
		    uint8_t out[FR_HASH]);
int fr_tail_next(const uint8_t prev[FR_HASH], uint64_t height, const uint8_t digest[FR_HASH],
		 uint8_t out[FR_HASH]);

/* §3.2: entries and the batch's RFC 9162 Merkle tree. */
void fr_entry_encode(const struct fr_entry *e, uint8_t out[FR_ENTRY_SIZE]);
/* SHELTER_E_MALFORMED for flags other than FR_FLAG_CERTIFIED and FR_FLAG_LOCKED. */
int fr_entry_decode(const uint8_t in[FR_ENTRY_SIZE], struct fr_entry *e,
		    struct shelter_err *err);
int fr_leaf_hash(const struct fr_entry *e, uint8_t out[FR_HASH]);
/* The tree hash of n (0..FR_BATCH_MAX) leaf hashes; 0 leaves hash as "". */
int fr_merkle_root(const uint8_t (*leaves)[FR_HASH], size_t n, uint8_t out[FR_HASH]);
/* The inclusion proof of leaf index in a tree of n leaves (RFC 9162 §2.1.3.1). */
int fr_merkle_path(const uint8_t (*leaves)[FR_HASH], size_t n, size_t index,
		   uint8_t path[FR_PATH_MAX][FR_HASH], size_t *path_len);
/* The root a proof leads to (RFC 9162 §2.1.3.2); SHELTER_E_MALFORMED when the path
 * length does not fit (index, n). */
int fr_merkle_climb(const uint8_t leaf[FR_HASH], size_t index, size_t n,
		    const uint8_t (*path)[FR_HASH], size_t path_len, uint8_t root[FR_HASH]);

/* The message an endorser signs for a batch (§3.2). */
#define FR_MSG_SIZE (25 + 1 + 32 + 32 + 4 + 32)
void fr_receipt_msg(uint8_t kind, const uint8_t view[FR_HASH], const uint8_t nonce[FR_HASH],
		    uint32_t count, const uint8_t root[FR_HASH], uint8_t out[FR_MSG_SIZE]);

/* One entry's receipt: the batch signature and the entry's inclusion proof. */
struct fr_receipt {
	uint8_t kind;
	uint8_t view[FR_HASH];
	uint8_t nonce[FR_HASH];
	uint32_t count;
	uint8_t pub[FR_PUB];
	uint8_t sig[FR_SIG];
	struct fr_entry entry;
	uint32_t index;
	uint8_t path[FR_PATH_MAX][FR_HASH];
	uint8_t path_len;
};
#define FR_RECEIPT_MAX (1 + 32 + 32 + 4 + FR_PUB + FR_SIG + FR_ENTRY_SIZE + 4 + 1 + \
			FR_PATH_MAX * FR_HASH)
/* Wire form (§8): returns the bytes written (at most FR_RECEIPT_MAX). */
size_t fr_receipt_encode(const struct fr_receipt *r, uint8_t out[FR_RECEIPT_MAX]);
/* Parses exactly one receipt from the front of in; *used gets its length. */
int fr_receipt_decode(const uint8_t *in, size_t size, struct fr_receipt *r, size_t *used,
		      struct shelter_err *err);
/* The signature over the root the proof leads to: 0, SHELTER_E_MALFORMED,
 * SHELTER_E_INTEGRITY. */
int fr_receipt_verify(const struct fr_receipt *r, struct shelter_err *err);

/* Signatures already verified, so that the f + 1 batch signatures behind the
 * certificates of a whole round are checked once, not once per handle: a direct-
 * mapped table of SHA-256(public key || message || signature). A hit is as good as
 * a verification (finding another input with the same hash is the collision
 * SHA-256 rules out). Owned by its user; zero-initialised is empty. */
#define FR_SIGCACHE_SLOTS 1024
struct fr_sigcache {
	uint8_t seen[FR_SIGCACHE_SLOTS][FR_HASH];
};
/* fr_receipt_verify, consulting and filling cache (may be NULL). */
int fr_receipt_verify_cached(const struct fr_receipt *r, struct fr_sigcache *cache,
			     struct shelter_err *err);
struct fr_batch;
/* Enter b's signature as verified, without verifying it: for a batch the caller
 * signed itself or has verified (fr_batch_verify). 0, or < 0 when b is malformed. */
int fr_sigcache_add_batch(struct fr_sigcache *cache, const struct fr_batch *b);

/* The signed part of a batch without its entries (§8 `sigs`): what its signature
 * covers, so that it can be checked, and remembered, before the receipts of that
 * batch arrive in a certificate. */
struct fr_sighead {
	uint8_t kind;
	uint8_t view[FR_HASH];
	uint8_t nonce[FR_HASH];
	uint32_t count;
	uint8_t root[FR_HASH];
	uint8_t pub[FR_PUB];
	uint8_t sig[FR_SIG];
};
#define FR_SIGHEAD_SIZE (1 + FR_HASH + FR_HASH + 4 + FR_HASH + FR_PUB + FR_SIG)
/* b's head: its root computed from its entries. 0, or < 0 when b is malformed. */
int fr_batch_head(const struct fr_batch *b, struct fr_sighead *h);
/* Verify h's signature and, when it holds, enter it in cache: 0, or
 * SHELTER_E_INTEGRITY for a signature that does not verify. */
int fr_sigcache_learn(struct fr_sigcache *cache, const struct fr_sighead *h,
		      struct shelter_err *err);

/* An endorser's signed answer (§8 `batch`): every entry, and the signature over
 * their root. entries is malloc'd and owned by the batch (fr_batch_free). LOCK and
 * INIT batches list the whole state in ascending handle order. */
struct fr_batch {
	uint8_t kind;
	uint8_t view[FR_HASH];
	uint8_t nonce[FR_HASH];
	uint32_t count;
	struct fr_entry *entries;
	uint8_t pub[FR_PUB];
	uint8_t sig[FR_SIG];
};
void fr_batch_free(struct fr_batch *b);
/* Sign b's entries (count 0..FR_BATCH_MAX; 0 for an empty state) with the Ed25519
 * seed priv; fills b->pub. */
int fr_batch_sign(struct fr_batch *b, const uint8_t priv[SHELTER_ED25519_PRIV_SIZE],
		  struct shelter_err *err);
/* The same with a key held ready (src/lib/crypto/signer.h): no key setup per batch. */
struct shelter_signer;
int fr_batch_sign_with(struct fr_batch *b, struct shelter_signer *key, struct shelter_err *err);
/* Root and signature check: 0, SHELTER_E_INTEGRITY. */
int fr_batch_verify(const struct fr_batch *b, struct shelter_err *err);
/* The receipt of entry index (its inclusion proof computed here). */
int fr_batch_receipt(const struct fr_batch *b, uint32_t index, struct fr_receipt *r,
		     struct shelter_err *err);
/* The receipts of every entry at once (out has b->count slots): O(n log n) where
 * calling fr_batch_receipt for each would be O(n^2). */
int fr_batch_receipts(const struct fr_batch *b, struct fr_receipt *out, struct shelter_err *err);
/* Wire form: *out malloc'd (caller frees). decode parses one batch from the front of
 * in (*used its length), with at most max entries. */
int fr_batch_encode(const struct fr_batch *b, uint8_t **out, size_t *size,
		    struct shelter_err *err);
int fr_batch_decode(const uint8_t *in, size_t size, uint32_t max, struct fr_batch *b,
		    size_t *used, struct shelter_err *err);

/* §3.3 views. Quotes point into the buffer the view was decoded from. */
struct fr_view {
	uint64_t number;
	uint8_t prev[FR_HASH];
	uint8_t n;
	uint8_t keys[FR_VIEW_MAX][FR_PUB];
	const uint8_t *quotes[FR_VIEW_MAX];
	uint32_t quote_len[FR_VIEW_MAX];
	uint8_t digest[FR_HASH];
};
/* f of a view: (n - 1) / 2; a quorum is f + 1. */
static inline unsigned fr_view_f(const struct fr_view *v)
{
	return (unsigned)(v->n - 1) / 2;
}
/* Checks n odd in 1..15, keys strictly ascending, quotes 1..FR_QUOTE_MAX bytes;
 * *out is malloc'd (caller frees); also fills v->digest. */
int fr_view_encode(struct fr_view *v, uint8_t **out, size_t *size, struct shelter_err *err);
int fr_view_decode(const uint8_t *in, size_t size, struct fr_view *v, struct shelter_err *err);
/* Index of key in v, or -1. */
int fr_view_member(const struct fr_view *v, const uint8_t key[FR_PUB]);
/* The report data an endorser's quote carries (§3.3). */
int fr_endorser_report_data(const uint8_t pub[FR_PUB], uint8_t out[64]);

/* §3.4: do these receipts certify (handle, height, tail) in view v? Each must verify,
 * be of kind APPEND or INIT, name v, come from a distinct member, and carry that
 * entry (flags ignored); f + 1 of them are needed. 0, or SHELTER_E_UNTRUSTED naming
 * what was missing. */
int fr_cert_check(const struct fr_view *v, const struct fr_receipt *rs, size_t count,
		  const uint8_t handle[FR_HASH], uint64_t height, const uint8_t tail[FR_HASH],
		  struct shelter_err *err);
/* The same with a signature cache (may be NULL). */
int fr_cert_check_cached(const struct fr_view *v, const struct fr_receipt *rs, size_t count,
			 const uint8_t handle[FR_HASH], uint64_t height,
			 const uint8_t tail[FR_HASH], struct fr_sigcache *cache,
			 struct shelter_err *err);

/* §6.2 and §7.2: what a set of entries for one handle (from distinct endorsers of
 * view v: READ answers, or LOCK states) says is the latest state. Absent entries
 * are skipped; all absent gives out->height = FR_ABSENT. certs (may be NULL) are
 * certificates (arrays of receipts, cert_lens[i] each) the caller was presented, of
 * this handle or others (those are ignored), consulted when the entries disagree at
 * the top height or one is newer than every entry. Every entry, absent ones too,
 * names the handle. 0 with *out (flags:
 * CERTIFIED when a certificate is known); SHELTER_E_CONFLICT when the top is
 * ambiguous; SHELTER_E_INTEGRITY when two tails are certified at one height (which
 * trusted endorsers never sign, §3.4). */
int fr_decide(const struct fr_entry *const *entries, size_t n, const struct fr_view *v,
	      const struct fr_receipt *const *certs, const size_t *cert_lens, size_t ncerts,
	      struct fr_entry *out, struct shelter_err *err);

#endif
