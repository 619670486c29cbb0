/* The client-coordinator protocol (docs/protocols/freshness.md §8.2): the same
 * frames as §8, request types 0x10-0x14, answers type | 0x80, errors 0xFF.
 * Ownership as in wire.h: encoders return malloc'd bodies; decoded structs own what
 * they allocate (fs_*_free) and may point into the input where noted. */
#ifndef SHELTER_FRESHNESS_SERVICE_H
#define SHELTER_FRESHNESS_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "freshness/format.h"

#define FS_BLOB_MAX (8u << 20) /* bytes of one state */
#define FS_VIEWS_MAX 64        /* views in one ledger answer */

enum fs_type {
	FS_LEDGER = 0x10,
	FS_CREATE = 0x11,
	FS_APPEND = 0x12,
	FS_READ = 0x13,
	FS_BLOCK = 0x14,
};

/* create (height 0) and append. blob points into the decoded input. */
struct fs_write {
	uint8_t handle[FR_HASH];
	uint64_t height;
	uint8_t digest[FR_HASH];
	uint8_t prev[FR_HASH]; /* the tail below (zero for a create) */
	const uint8_t *blob;
	size_t blob_len;
};
int fs_write_encode(uint8_t type, const struct fs_write *w, uint8_t **out, size_t *len,
		    struct shelter_err *err);
int fs_write_decode(uint8_t type, const uint8_t *in, size_t len, struct fs_write *w,
		    struct shelter_err *err);

/* Answers of create, append and read: receipts, and for read the newest stored
 * certificate (cert_count 0 when none). */
struct fs_receipts {
	struct fr_receipt *r;
	size_t count;
	struct fr_receipt *cert;
	size_t cert_count;
};
int fs_receipts_encode(const struct fs_receipts *a, uint8_t **out, size_t *len,
		       struct shelter_err *err);
int fs_receipts_decode(const uint8_t *in, size_t len, struct fs_receipts *a,
		       struct shelter_err *err);
void fs_receipts_free(struct fs_receipts *a);

/* read: handle || nonce. block: handle || u64 height. ledger: u64 from. */

/* The block answer and the stored value of block/<handle>/<height>:
 * digest || prev tail || u32 len || blob. Points into in. */
int fs_block_encode(const struct fs_write *w, uint8_t **out, size_t *len,
		    struct shelter_err *err);
int fs_block_decode(const uint8_t *in, size_t len, struct fs_write *w, struct shelter_err *err);

/* A view and its transition proof as stored at view/<number> and sent in ledger
 * answers: u32 len || view_body || u8 k || k x batch (LOCK of the predecessor's
 * members for this view). Decoding points view into in and allocates locks. */
struct fs_view_rec {
	const uint8_t *view;
	size_t view_len;
	struct fr_batch *locks;
	size_t nlocks;
};
int fs_view_rec_encode(const struct fs_view_rec *v, uint8_t **out, size_t *len,
		       struct shelter_err *err);
int fs_view_rec_decode(const uint8_t *in, size_t len, size_t *used, struct fs_view_rec *v,
		       struct shelter_err *err);
void fs_view_rec_free(struct fs_view_rec *v);

#endif
