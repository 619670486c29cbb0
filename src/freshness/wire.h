/* The coordinator-endorser wire protocol (docs/protocols/freshness.md §8): frames
 * on a stream socket, and the encoding of every request and answer. Both sides use
 * these; the endorser's decoders are its attack surface (fuzz_fresh_wire).
 *
 * Ownership: every *_encode returns a malloc'd body (caller frees). Every *_decode
 * fills a caller-owned struct whose arrays it allocates; the matching *_free releases
 * them (also after a failed decode, and on a zeroed struct). Decoded structs never
 * point into the input buffer, except fw_init_req's view and prev, which do. */
#ifndef SHELTER_FRESHNESS_WIRE_H
#define SHELTER_FRESHNESS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "freshness/endorser.h"
#include "freshness/format.h"
#include "freshness/frame.h" /* frames, error frames: src/lib/freshness/frame.h */

#define FW_CERT_MAX FR_VIEW_MAX  /* receipts in one certificate */
#define FW_CERTS_MAX 4096        /* certificates in one init */

enum fw_type {
	FW_IDENTITY = 0x01,
	FW_INIT = 0x02,
	FW_BATCH = 0x03,
	FW_READ = 0x04,
	FW_LOCK = 0x05,
	FW_SIGS = 0x06, /* no answer */
};

/* ---- requests ---- */

struct fw_init_req {
	const uint8_t *view; /* into the decoded buffer */
	size_t view_len;
	const uint8_t *prev; /* NULL when absent (length 0) */
	size_t prev_len;
	struct fr_batch *locks;
	size_t nlocks;
	struct fr_receipt **certs; /* certs[i] has cert_lens[i] receipts */
	size_t *cert_lens;
	size_t ncerts;
};
int fw_init_encode(const struct fw_init_req *r, uint8_t **out, size_t *len,
		   struct shelter_err *err);
int fw_init_decode(const uint8_t *in, size_t len, struct fw_init_req *r, struct shelter_err *err);
void fw_init_free(struct fw_init_req *r);

struct fw_batch_req {
	struct endorser_item *items; /* items[i].cert points into receipts */
	size_t count;
	struct fr_receipt *receipts; /* every item's cert, in item order; owned here */
	size_t nreceipts;
};
int fw_batch_encode(const struct endorser_item *items, size_t count, uint8_t **out, size_t *len,
		    struct shelter_err *err);
int fw_batch_decode(const uint8_t *in, size_t len, struct fw_batch_req *r,
		    struct shelter_err *err);
void fw_batch_req_free(struct fw_batch_req *r);

struct fw_read_req {
	uint8_t nonce[FR_HASH];
	uint8_t (*handles)[FR_HASH];
	size_t count;
};
int fw_read_encode(const uint8_t nonce[FR_HASH], const uint8_t (*handles)[FR_HASH], size_t count,
		   uint8_t **out, size_t *len, struct shelter_err *err);
int fw_read_decode(const uint8_t *in, size_t len, struct fw_read_req *r, struct shelter_err *err);
void fw_read_free(struct fw_read_req *r);

/* lock: the body is the successor view's digest, exactly FR_HASH bytes. */

/* sigs: u32 count || count × head (§8; count 1..FR_VIEW_MAX): other members' batch
 * signatures of the round just over, for the endorser to check and remember before
 * the next round carries their receipts. Never answered. *heads malloc'd. */
int fw_sigs_encode(const struct fr_sighead *heads, size_t count, uint8_t **out, size_t *len,
		   struct shelter_err *err);
int fw_sigs_decode(const uint8_t *in, size_t len, struct fr_sighead **heads, size_t *count,
		   struct shelter_err *err);

/* ---- answers ---- */

/* identity: pubkey || u32 len || quote; *quote points into in. */
int fw_identity_encode(const uint8_t pub[FR_PUB], const uint8_t *quote, size_t quote_len,
		       uint8_t **out, size_t *len, struct shelter_err *err);
int fw_identity_decode(const uint8_t *in, size_t len, uint8_t pub[FR_PUB],
		       const uint8_t **quote, size_t *quote_len, struct shelter_err *err);

/* init, read and lock answers are one fr_batch (fr_batch_encode/decode, which must
 * consume the whole body). The batch answer: u32 count || count x i32 status || batch
 * (the batch is absent when no item succeeded). */
int fw_batch_answer_encode(const int32_t *status, size_t count, const struct fr_batch *b,
			   uint8_t **out, size_t *len, struct shelter_err *err);
int fw_batch_answer_decode(const uint8_t *in, size_t len, int32_t **status, size_t *count,
			   struct fr_batch *b, struct shelter_err *err);

#endif
