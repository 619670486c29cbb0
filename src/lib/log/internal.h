/* Internal interface of the verifiable log (docs/formats/log.md). Not installed.
 *
 * merkle.c: RFC 9162 tree hashing and proofs over any source of complete-subtree
 * hashes (§2); note.c: signed notes and checkpoints (§3); frame.c: the store's byte
 * layouts (§4.1, §5), pure functions; store.c: the writer and audit (§6 to §8).
 */
#ifndef SHELTER_LOG_INTERNAL_H
#define SHELTER_LOG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "shelter/log.h"

#define LG_HASH SHELTER_LOG_HASH

/* ---- merkle.c (§2) ---- */

/* A SHA-256 context reused across hashes (one EVP_MD fetch, one EVP_MD_CTX). Not
 * thread-safe: one per thread. */
struct lg_hasher {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

int lg_hasher_init(struct lg_hasher *h, struct shelter_err *err);
void lg_hasher_free(struct lg_hasher *h);
int lg_leaf(struct lg_hasher *h, const void *entry, size_t size, uint8_t out[LG_HASH]);
int lg_node(struct lg_hasher *h, const uint8_t l[LG_HASH], const uint8_t r[LG_HASH],
	    uint8_t out[LG_HASH]);

/* The hash of the complete subtree of height `height` whose leaves are
 * k*2^height .. (k+1)*2^height - 1. */
typedef int (*lg_node_fn)(void *ctx, unsigned height, uint64_t k, uint8_t out[LG_HASH],
			  struct shelter_err *err);

struct lg_tree_src {
	lg_node_fn node;
	void *ctx;
	struct lg_hasher *hasher;
};

/* MTH(D[0:n]) (H("") for n = 0). */
int lg_root(const struct lg_tree_src *src, uint64_t n, uint8_t out[LG_HASH],
	    struct shelter_err *err);
/* PATH(index, D[0:size]) into out (SHELTER_LOG_PROOF_MAX hashes). */
int lg_prove_inclusion(const struct lg_tree_src *src, uint64_t index, uint64_t size,
		       uint8_t (*out)[LG_HASH], size_t *out_count, struct shelter_err *err);
/* PROOF(m, D[0:n]). */
int lg_prove_consistency(const struct lg_tree_src *src, uint64_t m, uint64_t n,
			 uint8_t (*out)[LG_HASH], size_t *out_count, struct shelter_err *err);

/* The compact range of D[0:n]: the roots of its complete subtrees, largest first,
 * which is all a writer needs to add leaves and compute the root (§6.2). */
struct lg_frontier {
	uint64_t n;
	unsigned count;
	uint8_t hash[64][LG_HASH];
	unsigned height[64];
};

/* Called for every complete subtree a new leaf completes, in order of height. */
typedef int (*lg_emit_fn)(void *ctx, unsigned height, uint64_t k, const uint8_t h[LG_HASH],
			  struct shelter_err *err);

int lg_frontier_push(struct lg_frontier *f, struct lg_hasher *h, const uint8_t leaf[LG_HASH],
		     lg_emit_fn emit, void *ctx, struct shelter_err *err);
int lg_frontier_root(const struct lg_frontier *f, struct lg_hasher *h, uint8_t out[LG_HASH]);

/* tree.c: leaf index of an in-memory tree (SHELTER_E_INVAL past its size). */
int lg_tree_leaf(const struct shelter_log_tree *t, uint64_t index, uint8_t out[LG_HASH]);

/* ---- note.c (§3) ---- */

int lg_origin_check(const char *origin, struct shelter_err *err);
void lg_key_id(const char *name, const uint8_t pub[32], uint8_t out[4]);
/* Sign the checkpoint (origin, size, root) into out (cap bytes, NUL-terminated). */
int lg_checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[LG_HASH],
		       const uint8_t priv[32], const uint8_t pub[32], char *out, size_t cap,
		       size_t *out_len, struct shelter_err *err);

/* ---- frame.c (§4.1, §5) ---- */

#define LG_MAGIC "SHLOG\0\0\1"
#define LG_FRAME_MAGIC 0x534c4631u /* "SLF1" */
#define LG_FRAME_HEAD 20
#define LG_FRAME_TAIL 32
#define LG_FRAME_COUNT_MAX 65536u
#define LG_FRAME_PAYLOAD_MAX (16u << 20)
#define LG_HEADER_MAX (8 + 1 + SHELTER_LOG_ORIGIN_MAX + 32 + 32)

/* Encode the log header into out (LG_HEADER_MAX bytes); *out_size its size. */
int lg_header_encode(const char *origin, const uint8_t pub[32], uint8_t *out,
		     size_t *out_size, struct shelter_err *err);
/* Parse a header from the first `size` bytes of a log. NOTVOLUME, VERSION,
 * TRUNCATED, MALFORMED or INTEGRITY; *out_size is the header's size. */
int lg_header_decode(const uint8_t *in, size_t size, char origin[SHELTER_LOG_ORIGIN_MAX + 1],
		     uint8_t pub[32], size_t *out_size, struct shelter_err *err);

/* A frame's fixed part, parsed (§5). */
struct lg_frame {
	uint32_t count;
	uint64_t first;
	uint32_t payload;
};

/* Parse the 20-byte head; MALFORMED when magic, count or payload size are out of
 * range. */
int lg_frame_head(const uint8_t in[LG_FRAME_HEAD], struct lg_frame *out, struct shelter_err *err);
/* Check a whole frame (head, payload, hash) of LG_FRAME_HEAD + payload + 32 bytes
 * whose head is f: each entry lies within the payload and they fill it exactly
 * (MALFORMED), the hash matches (INTEGRITY). */
int lg_frame_check(struct lg_hasher *h, const uint8_t *frame, const struct lg_frame *f,
		   struct shelter_err *err);
/* Walk the entries of a checked frame: *pos starts at 0; each call gives the next
 * entry's bytes and offset in the payload. */
void lg_frame_entry(const uint8_t *frame, size_t *pos, const uint8_t **entry, size_t *size);
/* Write a frame's head (count, first, payload size) and, once the payload is in
 * place after it, its hash. */
void lg_frame_put_head(uint8_t *frame, uint32_t count, uint64_t first, uint32_t payload);
int lg_frame_seal(struct lg_hasher *h, uint8_t *frame, uint32_t payload);

#endif
