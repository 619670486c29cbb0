/* Volume on-disk format, docs/formats/volume.md. Pure encode/decode: no OS calls,
 * so the library, the CLI, the tamper tools and the fuzzers share one
 * implementation (STYLE.md rule 2). Internal to libshelter. */
#ifndef SHELTER_VOLUME_FORMAT_H
#define SHELTER_VOLUME_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/crypto.h"
#include "shelter/error.h"

#define VF_VERSION 1
#define VF_CHUNK 4096u
#define VF_HDR_SIZE 128u     /* §3 */
#define VF_SEGHDR_SIZE 96u   /* §4 */
#define VF_REC_HDR 44u       /* §5 */
#define VF_REC_OVERHEAD (VF_REC_HDR + SHELTER_GCM_TAG_SIZE)
#define VF_DATA_REC_SIZE (VF_REC_OVERHEAD + VF_CHUNK)
#define VF_META_ALIGN 64u
#define VF_META_MAX 16384u
#define VF_REC_MAX (VF_REC_OVERHEAD + VF_META_MAX)
#define VF_AAD_SIZE (16u + 8u + VF_REC_HDR)
#define VF_ID_SIZE 16u
#define VF_SALT_SIZE 32u

enum vf_kind {
	VF_KIND_DATA = 1,
	VF_KIND_META = 2,
	VF_KIND_CKPT_DATA = 3, /* §10: a chunk copied into a checkpoint */
	VF_KIND_CKPT_META = 4, /* §10: NODE, INDEX and END of a checkpoint */
};

/* §4: segment header flags */
#define VF_SEG_CHECKPOINT 0x1u

/* §10: a checkpoint's END record has a fixed size and ends its segment file */
#define VF_RECENT_MAX 128u
#define VF_CKPT_END_PT 4224u
#define VF_CKPT_END_REC (VF_CKPT_END_PT + VF_REC_OVERHEAD)
#define VF_INDEX_MAX 2040u

/* §5: record flags. A group is the records of one operation; it takes effect only
 * when its last record (flag END) is present, which makes every operation atomic
 * across crashes. */
#define VF_FLAG_END 0x01u
#define VF_GROUP_MAX 300u

enum vf_op {
	VF_OP_CREATE = 1,
	VF_OP_UNLINK = 2,
	VF_OP_RENAME = 3,
	VF_OP_SETATTR = 4,
	VF_OP_SEAL = 5,
	VF_OP_NODE = 6,   /* §10.2 checkpoint only */
	VF_OP_INDEX = 7,  /* §10.2 checkpoint only */
};

struct vf_header {
	uint32_t version;
	uint32_t chunk_size;
	int64_t created_ns;
	uint8_t volume_id[VF_ID_SIZE];
	uint8_t salt[VF_SALT_SIZE];
};

struct vf_seghdr {
	uint32_t flags;
	uint64_t segno;
	uint64_t first_seq;
	uint8_t volume_id[VF_ID_SIZE];
	uint8_t salt[VF_SALT_SIZE];
};

/* Structural view of one record (§5); pointers borrow the caller's buffer. */
struct vf_rec {
	uint32_t len;
	uint8_t kind;
	uint8_t flags;
	uint64_t seq;
	uint64_t ino;
	uint64_t chunk;
	const uint8_t *hdr;   /* VF_REC_HDR bytes */
	const uint8_t *ct;    /* len - VF_REC_OVERHEAD bytes */
	const uint8_t *tag;   /* 16 bytes */
};

/* A decoded metadata operation (§5.2); names borrow the plaintext buffer. */
struct vf_meta {
	uint8_t op;
	uint8_t type;        /* CREATE: enum shelter_file_type */
	uint32_t mode;       /* CREATE, SETATTR */
	uint64_t parent;     /* CREATE, UNLINK, RENAME (source) */
	uint64_t parent2;    /* RENAME destination */
	uint64_t ino;        /* SETATTR */
	uint64_t size;       /* SETATTR */
	uint64_t next_segno; /* SEAL */
	int64_t time_ns;     /* CREATE, SETATTR; NODE mtime */
	int64_t time2_ns;    /* NODE ctime */
	uint64_t first_index; /* INDEX */
	uint32_t count;      /* INDEX: chunk numbers at `chunks`, 8 bytes each */
	const uint8_t *chunks;
	const char *name;
	uint16_t name_len;
	const char *name2;   /* RENAME destination name */
	uint16_t name2_len;
	const char *target;  /* CREATE of a symlink */
	uint16_t target_len;
};

/* Keys derived from the 32-byte volume key (§2). Lives in secret memory. */
struct vf_keys {
	uint8_t master[SHELTER_KEY_SIZE];
	uint8_t header[SHELTER_KEY_SIZE];
	uint8_t key_id[16];
};

int vf_keys_derive(const uint8_t master[SHELTER_KEY_SIZE], const uint8_t salt[VF_SALT_SIZE],
		   struct vf_keys *out, struct shelter_err *err);
int vf_segment_key(const struct vf_keys *keys, const struct vf_header *h,
		   const struct vf_seghdr *s, uint8_t out[SHELTER_KEY_SIZE],
		   struct shelter_err *err);

/* §3. encode fills out[VF_HDR_SIZE]. decode checks magic, version, key id (wrong
 * key -> SHELTER_E_BADKEY) and the MAC (-> SHELTER_E_INTEGRITY); keys must be
 * derived from the header's salt, so decode runs in two steps: peek for the salt,
 * then verify. */
void vf_header_encode(const struct vf_header *h, const struct vf_keys *keys,
		      uint8_t out[VF_HDR_SIZE]);
int vf_header_peek(const uint8_t *buf, size_t size, struct vf_header *out,
		   struct shelter_err *err);
int vf_header_verify(const uint8_t buf[VF_HDR_SIZE], const struct vf_keys *keys,
		     struct shelter_err *err);

/* §4 */
void vf_seghdr_encode(const struct vf_seghdr *s, const struct vf_keys *keys,
		      uint8_t out[VF_SEGHDR_SIZE]);
int vf_seghdr_decode(const uint8_t *buf, size_t size, const struct vf_keys *keys,
		     struct vf_seghdr *out, struct shelter_err *err);
/* 1 when buf holds a whole header with the right magic, version and flags (its MAC
 * unchecked): one of another volume, not random bytes. */
int vf_seghdr_wellformed(const uint8_t *buf, size_t size);

/* §5: parse the record header at buf (avail bytes available). Returns
 * SHELTER_E_TRUNCATED when the record runs past avail, SHELTER_E_INTEGRITY for an
 * impossible header. Does not authenticate. */
int vf_rec_parse(const uint8_t *buf, size_t avail, struct vf_rec *out);

/* §5: seal pt (ptlen bytes; VF_CHUNK for DATA, a multiple of VF_META_ALIGN for META)
 * into out (ptlen + VF_REC_OVERHEAD bytes) under nonce, which must be fresh random
 * bytes never used before (§2). */
int vf_rec_seal(struct shelter_aead *aead, const uint8_t volume_id[VF_ID_SIZE],
		uint64_t segno, uint8_t kind, uint8_t flags, uint64_t seq, uint64_t ino,
		uint64_t chunk, const uint8_t nonce[SHELTER_GCM_NONCE_SIZE], const uint8_t *pt,
		size_t ptlen, uint8_t *out, struct shelter_err *err);

/* A buffer of random nonces drawn in bulk (one RAND_bytes per 64 records). Must be
 * emptied in a fork()ed child, or parent and child would reuse nonces. */
#define VF_NONCE_POOL 64u
struct vf_nonces {
	uint8_t bytes[VF_NONCE_POOL * SHELTER_GCM_NONCE_SIZE];
	uint32_t left;
};
int vf_nonce_next(struct vf_nonces *pool, const uint8_t **out, struct shelter_err *err);

/* §5: authenticate and decrypt a parsed record into pt (rec->len - overhead bytes). */
int vf_rec_open(struct shelter_aead *aead, const uint8_t volume_id[VF_ID_SIZE],
		uint64_t segno, const struct vf_rec *rec, uint8_t *pt, struct shelter_err *err);

/* §6: the chain that makes the volume tag. */
int vf_chain_genesis(const uint8_t hdr[VF_HDR_SIZE], uint8_t out[SHELTER_SHA256_SIZE],
		     struct shelter_err *err);
int vf_chain_next(uint8_t chain[SHELTER_SHA256_SIZE], const struct vf_rec *rec,
		  struct shelter_err *err);

/* §5.2: encode a metadata operation, zero-padded to VF_META_ALIGN. Returns the padded
 * size, or 0 when it does not fit in cap or a field is out of range. */
size_t vf_meta_encode(const struct vf_meta *m, uint8_t *out, size_t cap);
/* §5.2: decode and validate (names 1..255 bytes, no '/' or NUL, not "." or "..";
 * padding all zero). Returns 0 or SHELTER_E_INTEGRITY. */
int vf_meta_decode(const uint8_t *pt, size_t len, struct vf_meta *out);

/* §10.3: the END record of a checkpoint. */
struct vf_ckpt_end {
	uint64_t data_count;
	uint64_t meta_count;
	uint64_t next_seq;
	uint8_t chain_before[SHELTER_SHA256_SIZE];
	uint32_t recent_count;
	uint8_t recent[VF_RECENT_MAX][SHELTER_SHA256_SIZE];
};

/* Encode into out[VF_CKPT_END_PT]; decode validates (0 or SHELTER_E_INTEGRITY). */
void vf_ckpt_end_encode(const struct vf_ckpt_end *e, uint8_t out[VF_CKPT_END_PT]);
int vf_ckpt_end_decode(const uint8_t *pt, size_t len, struct vf_ckpt_end *out);

/* A name as §5.2 allows it. */
int vf_name_ok(const char *name, size_t len);

#endif
