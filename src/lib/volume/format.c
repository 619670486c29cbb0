/* Volume on-disk format: docs/formats/volume.md. No OS calls here (STYLE.md rule 2). */
#include <string.h>

#include "util/buf.h"
#include "volume/format.h"

static const char vol_magic[8] = { 'S', 'H', 'E', 'L', 'T', 'V', 'O', 'L' };
static const char seg_magic[8] = { 'S', 'H', 'E', 'L', 'T', 'S', 'E', 'G' };

#define INFO_HEADER "shelter/volume/v1/header"
#define INFO_KEYID "shelter/volume/v1/key-id"
#define INFO_SEGMENT "shelter/volume/v1/segment"
#define GENESIS_LABEL "shelter/volume/v1/genesis"

/* §2: key id = HMAC(K, label)[0..16) identifies the key without depending on any
 * header byte, so a wrong key is told apart from a modified header. */
int vf_keys_derive(const uint8_t master[SHELTER_KEY_SIZE], const uint8_t salt[VF_SALT_SIZE],
		   struct vf_keys *out, struct shelter_err *err)
{
	uint8_t id[SHELTER_SHA256_SIZE];
	int rc;

	memcpy(out->master, master, SHELTER_KEY_SIZE);
	rc = shelter_hkdf_sha256(master, SHELTER_KEY_SIZE, salt, VF_SALT_SIZE,
				 (const uint8_t *)INFO_HEADER, strlen(INFO_HEADER), out->header,
				 sizeof(out->header), err);
	if (rc < 0)
		goto out;
	rc = shelter_hmac_sha256(master, SHELTER_KEY_SIZE, INFO_KEYID, strlen(INFO_KEYID), id,
				 err);
	if (rc < 0)
		goto out;
	memcpy(out->key_id, id, sizeof(out->key_id));
out:
	shelter_wipe(id, sizeof(id));
	return rc;
}

/* §2: each segment has its own AES-256-GCM key, so the random-nonce bound of 2^32
 * records applies per segment, not per volume. */
int vf_segment_key(const struct vf_keys *keys, const struct vf_header *h,
		   const struct vf_seghdr *s, uint8_t out[SHELTER_KEY_SIZE],
		   struct shelter_err *err)
{
	uint8_t info[sizeof(INFO_SEGMENT) - 1 + VF_ID_SIZE + 8 + VF_SALT_SIZE];
	size_t n = strlen(INFO_SEGMENT);

	memcpy(info, INFO_SEGMENT, n);
	memcpy(info + n, s->volume_id, VF_ID_SIZE);
	shelter_store_be(info + n + VF_ID_SIZE, s->segno, 8);
	memcpy(info + n + VF_ID_SIZE + 8, s->salt, VF_SALT_SIZE);
	return shelter_hkdf_sha256(keys->master, SHELTER_KEY_SIZE, h->salt, VF_SALT_SIZE, info,
				   sizeof(info), out, SHELTER_KEY_SIZE, err);
}

/* §3 layout: magic 8 | version 4 | chunk 4 | flags 4 | reserved 4 | created 8 |
 * volume id 16 | salt 32 | key id 16 | mac 32 (HMAC over bytes 0..79). */
void vf_header_encode(const struct vf_header *h, const struct vf_keys *keys,
		      uint8_t out[VF_HDR_SIZE])
{
	struct shelter_wbuf w;
	uint8_t mac[SHELTER_SHA256_SIZE];

	memset(out, 0, VF_HDR_SIZE);
	shelter_wbuf_init(&w, out, VF_HDR_SIZE);
	shelter_wbuf_put_bytes(&w, vol_magic, 8);
	shelter_wbuf_u32(&w, h->version);
	shelter_wbuf_u32(&w, h->chunk_size);
	shelter_wbuf_u32(&w, 0);
	shelter_wbuf_u32(&w, 0);
	shelter_wbuf_u64(&w, (uint64_t)h->created_ns);
	shelter_wbuf_put_bytes(&w, h->volume_id, VF_ID_SIZE);
	shelter_wbuf_put_bytes(&w, h->salt, VF_SALT_SIZE);
	shelter_wbuf_put_bytes(&w, keys->key_id, 16);
	if (shelter_hmac_sha256(keys->header, SHELTER_KEY_SIZE, out, 80, mac, NULL) == 0)
		shelter_wbuf_put_bytes(&w, mac, sizeof(mac));
}

int vf_header_peek(const uint8_t *buf, size_t size, struct vf_header *out,
		   struct shelter_err *err)
{
	struct shelter_rbuf r;
	const uint8_t *magic;
	uint32_t flags, reserved;

	memset(out, 0, sizeof(*out));
	shelter_rbuf_init(&r, buf, size);
	magic = shelter_rbuf_take(&r, 8);
	if (magic == NULL || memcmp(magic, vol_magic, 8) != 0)
		return shelter_err_set(err, SHELTER_E_NOTVOLUME, "no volume header magic");
	out->version = shelter_rbuf_u32(&r);
	if (r.bad)
		return shelter_err_set(err, SHELTER_E_TRUNCATED, "volume header truncated");
	if (out->version > VF_VERSION)
		return shelter_err_set(err, SHELTER_E_VERSION,
				       "volume format version %u is newer than this shelter "
				       "supports (%u)", out->version, VF_VERSION);
	if (size < VF_HDR_SIZE)
		return shelter_err_set(err, SHELTER_E_TRUNCATED,
				       "volume header truncated (%zu of %u bytes)", size,
				       VF_HDR_SIZE);
	out->chunk_size = shelter_rbuf_u32(&r);
	flags = shelter_rbuf_u32(&r);
	reserved = shelter_rbuf_u32(&r);
	out->created_ns = (int64_t)shelter_rbuf_u64(&r);
	shelter_rbuf_get_bytes(&r, out->volume_id, VF_ID_SIZE);
	shelter_rbuf_get_bytes(&r, out->salt, VF_SALT_SIZE);
	if (out->version == 0 || out->chunk_size != VF_CHUNK || flags != 0 || reserved != 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "volume header modified (version %u, chunk size %u, "
				       "flags %u)", out->version, out->chunk_size, flags);
	return 0;
}

int vf_header_verify(const uint8_t buf[VF_HDR_SIZE], const struct vf_keys *keys,
		     struct shelter_err *err)
{
	uint8_t mac[SHELTER_SHA256_SIZE];
	int rc, id_ok;

	rc = shelter_hmac_sha256(keys->header, SHELTER_KEY_SIZE, buf, 80, mac, err);
	if (rc < 0)
		return rc;
	id_ok = shelter_ct_equal(buf + 80, keys->key_id, 16);
	if (shelter_ct_equal(buf + 96, mac, sizeof(mac)))
		return id_ok ? 0 : shelter_err_set(err, SHELTER_E_INTEGRITY,
						   "volume header key id modified");
	if (!id_ok)
		return shelter_err_set(err, SHELTER_E_BADKEY,
				       "wrong key: the volume was created with another key");
	return shelter_err_set(err, SHELTER_E_INTEGRITY, "volume header modified (MAC mismatch)");
}

/* §4 layout: magic 8 | version 4 | flags 4 | segno 8 | first seq 8 | volume id 16 |
 * salt 32 | mac 16 (HMAC over bytes 0..79, truncated). */
void vf_seghdr_encode(const struct vf_seghdr *s, const struct vf_keys *keys,
		      uint8_t out[VF_SEGHDR_SIZE])
{
	struct shelter_wbuf w;
	uint8_t mac[SHELTER_SHA256_SIZE];

	memset(out, 0, VF_SEGHDR_SIZE);
	shelter_wbuf_init(&w, out, VF_SEGHDR_SIZE);
	shelter_wbuf_put_bytes(&w, seg_magic, 8);
	shelter_wbuf_u32(&w, VF_VERSION);
	shelter_wbuf_u32(&w, s->flags);
	shelter_wbuf_u64(&w, s->segno);
	shelter_wbuf_u64(&w, s->first_seq);
	shelter_wbuf_put_bytes(&w, s->volume_id, VF_ID_SIZE);
	shelter_wbuf_put_bytes(&w, s->salt, VF_SALT_SIZE);
	if (shelter_hmac_sha256(keys->header, SHELTER_KEY_SIZE, out, 80, mac, NULL) == 0)
		shelter_wbuf_put_bytes(&w, mac, 16);
	shelter_wipe(mac, sizeof(mac));
}

int vf_seghdr_decode(const uint8_t *buf, size_t size, const struct vf_keys *keys,
		     struct vf_seghdr *out, struct shelter_err *err)
{
	struct shelter_rbuf r;
	const uint8_t *magic;
	uint8_t mac[SHELTER_SHA256_SIZE];
	uint32_t version;
	int rc;

	memset(out, 0, sizeof(*out));
	if (size < VF_SEGHDR_SIZE)
		return shelter_err_set(err, SHELTER_E_TRUNCATED,
				       "segment header truncated (%zu of %u bytes)", size,
				       VF_SEGHDR_SIZE);
	shelter_rbuf_init(&r, buf, size);
	magic = shelter_rbuf_take(&r, 8);
	version = shelter_rbuf_u32(&r);
	out->flags = shelter_rbuf_u32(&r);
	out->segno = shelter_rbuf_u64(&r);
	out->first_seq = shelter_rbuf_u64(&r);
	shelter_rbuf_get_bytes(&r, out->volume_id, VF_ID_SIZE);
	shelter_rbuf_get_bytes(&r, out->salt, VF_SALT_SIZE);
	if (memcmp(magic, seg_magic, 8) != 0 || version != VF_VERSION ||
	    (out->flags & ~VF_SEG_CHECKPOINT) != 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "segment header modified");
	rc = shelter_hmac_sha256(keys->header, SHELTER_KEY_SIZE, buf, 80, mac, err);
	if (rc < 0)
		return rc;
	if (!shelter_ct_equal(mac, buf + 80, 16))
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "segment header modified (MAC mismatch)");
	return 0;
}

int vf_seghdr_wellformed(const uint8_t *buf, size_t size)
{
	uint32_t flags;

	if (size < VF_SEGHDR_SIZE || memcmp(buf, seg_magic, 8) != 0 ||
	    shelter_load_be(buf + 8, 4) != VF_VERSION)
		return 0;
	flags = (uint32_t)shelter_load_be(buf + 12, 4);
	return (flags & ~VF_SEG_CHECKPOINT) == 0;
}

int vf_rec_parse(const uint8_t *buf, size_t avail, struct vf_rec *out)
{
	struct shelter_rbuf r;
	uint64_t reserved;
	size_t ctlen;

	memset(out, 0, sizeof(*out));
	if (avail < VF_REC_HDR)
		return SHELTER_E_TRUNCATED;
	shelter_rbuf_init(&r, buf, avail);
	out->len = shelter_rbuf_u32(&r);
	out->kind = shelter_rbuf_u8(&r);
	out->flags = shelter_rbuf_u8(&r);
	shelter_rbuf_get_be(&r, 2, &reserved);
	out->seq = shelter_rbuf_u64(&r);
	out->ino = shelter_rbuf_u64(&r);
	out->chunk = shelter_rbuf_u64(&r);
	if (reserved != 0 || (out->flags & ~VF_FLAG_END) != 0 || out->seq == 0 ||
	    out->len < VF_REC_OVERHEAD)
		return SHELTER_E_INTEGRITY;
	ctlen = out->len - VF_REC_OVERHEAD;
	switch (out->kind) {
	case VF_KIND_DATA:
	case VF_KIND_CKPT_DATA:
		if (ctlen != VF_CHUNK || out->ino == 0)
			return SHELTER_E_INTEGRITY;
		break;
	case VF_KIND_META:
	case VF_KIND_CKPT_META:
		if (ctlen == 0 || ctlen > VF_META_MAX || ctlen % VF_META_ALIGN != 0 ||
		    out->ino != 0 || out->chunk != 0)
			return SHELTER_E_INTEGRITY;
		break;
	default:
		return SHELTER_E_INTEGRITY;
	}
	if (out->len > avail)
		return SHELTER_E_TRUNCATED;
	out->hdr = buf;
	out->ct = buf + VF_REC_HDR;
	out->tag = buf + out->len - SHELTER_GCM_TAG_SIZE;
	return 0;
}

int vf_nonce_next(struct vf_nonces *pool, const uint8_t **out, struct shelter_err *err)
{
	if (pool->left == 0) {
		int rc = shelter_random_bytes(pool->bytes, sizeof(pool->bytes), err);

		if (rc < 0)
			return rc;
		pool->left = VF_NONCE_POOL;
	}
	pool->left--;
	*out = pool->bytes + (size_t)pool->left * SHELTER_GCM_NONCE_SIZE;
	return 0;
}

/* §5.1: AAD = volume id | segment number | the 44 header bytes (nonce included), so a
 * record cannot move to another volume, segment, sequence number, file or chunk. */
static void make_aad(uint8_t aad[VF_AAD_SIZE], const uint8_t volume_id[VF_ID_SIZE],
		     uint64_t segno, const uint8_t hdr[VF_REC_HDR])
{
	memcpy(aad, volume_id, VF_ID_SIZE);
	shelter_store_be(aad + VF_ID_SIZE, segno, 8);
	memcpy(aad + VF_ID_SIZE + 8, hdr, VF_REC_HDR);
}

int vf_rec_seal(struct shelter_aead *aead, const uint8_t volume_id[VF_ID_SIZE],
		uint64_t segno, uint8_t kind, uint8_t flags, uint64_t seq, uint64_t ino,
		uint64_t chunk, const uint8_t nonce[SHELTER_GCM_NONCE_SIZE], const uint8_t *pt,
		size_t ptlen, uint8_t *out, struct shelter_err *err)
{
	uint8_t aad[VF_AAD_SIZE];
	size_t len = ptlen + VF_REC_OVERHEAD;

	shelter_store_be(out, len, 4);
	out[4] = kind;
	out[5] = flags;
	out[6] = 0;
	out[7] = 0;
	shelter_store_be(out + 8, seq, 8);
	shelter_store_be(out + 16, ino, 8);
	shelter_store_be(out + 24, chunk, 8);
	memcpy(out + 32, nonce, SHELTER_GCM_NONCE_SIZE);
	make_aad(aad, volume_id, segno, out);
	return shelter_aead_seal(aead, out + 32, aad, sizeof(aad), pt, ptlen, out + VF_REC_HDR,
				 out + len - SHELTER_GCM_TAG_SIZE, err);
}

int vf_rec_open(struct shelter_aead *aead, const uint8_t volume_id[VF_ID_SIZE],
		uint64_t segno, const struct vf_rec *rec, uint8_t *pt, struct shelter_err *err)
{
	uint8_t aad[VF_AAD_SIZE];

	make_aad(aad, volume_id, segno, rec->hdr);
	return shelter_aead_open(aead, rec->hdr + 32, aad, sizeof(aad), rec->ct,
				 rec->len - VF_REC_OVERHEAD, rec->tag, pt, err);
}

/* §6: chain_0 = SHA-256(label | volume header), chain_n = SHA-256(chain_{n-1} |
 * record header | record tag). The GCM tag binds the ciphertext under the key, so
 * the chain commits to every record's content without hashing it again. */
int vf_chain_genesis(const uint8_t hdr[VF_HDR_SIZE], uint8_t out[SHELTER_SHA256_SIZE],
		     struct shelter_err *err)
{
	struct shelter_iov v[2] = { { GENESIS_LABEL, strlen(GENESIS_LABEL) },
				    { hdr, VF_HDR_SIZE } };

	return shelter_sha256_v(v, 2, out, err);
}

int vf_chain_next(uint8_t chain[SHELTER_SHA256_SIZE], const struct vf_rec *rec,
		  struct shelter_err *err)
{
	uint8_t prev[SHELTER_SHA256_SIZE];
	struct shelter_iov v[3] = { { prev, sizeof(prev) },
				    { rec->hdr, VF_REC_HDR },
				    { rec->tag, SHELTER_GCM_TAG_SIZE } };

	memcpy(prev, chain, sizeof(prev));
	return shelter_sha256_v(v, 3, chain, err);
}

int vf_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > 255)
		return 0;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	return memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL;
}

static void put_name(struct shelter_wbuf *w, const char *name, uint16_t len)
{
	shelter_wbuf_u16(w, len);
	shelter_wbuf_put_bytes(w, name, len);
}

/* §5.2 operation layouts (after the 1-byte op):
 *   CREATE  parent 8 | type 1 | mode 4 | time 8 | name | [target]  (ino = record seq)
 *   UNLINK  parent 8 | name
 *   RENAME  parent 8 | name | parent2 8 | name2
 *   SETATTR ino 8 | size 8 | mode 4 | time 8
 *   SEAL    next segment number 8
 * where name = u16 length | bytes. */
size_t vf_meta_encode(const struct vf_meta *m, uint8_t *out, size_t cap)
{
	struct shelter_wbuf w;
	size_t padded;

	shelter_wbuf_init(&w, out, cap);
	shelter_wbuf_u8(&w, m->op);
	switch (m->op) {
	case VF_OP_CREATE:
		shelter_wbuf_u64(&w, m->parent);
		shelter_wbuf_u8(&w, m->type);
		shelter_wbuf_u32(&w, m->mode);
		shelter_wbuf_u64(&w, (uint64_t)m->time_ns);
		put_name(&w, m->name, m->name_len);
		if (m->type == 3)
			put_name(&w, m->target, m->target_len);
		break;
	case VF_OP_UNLINK:
		shelter_wbuf_u64(&w, m->parent);
		put_name(&w, m->name, m->name_len);
		break;
	case VF_OP_RENAME:
		shelter_wbuf_u64(&w, m->parent);
		put_name(&w, m->name, m->name_len);
		shelter_wbuf_u64(&w, m->parent2);
		put_name(&w, m->name2, m->name2_len);
		break;
	case VF_OP_SETATTR:
		shelter_wbuf_u64(&w, m->ino);
		shelter_wbuf_u64(&w, m->size);
		shelter_wbuf_u32(&w, m->mode);
		shelter_wbuf_u64(&w, (uint64_t)m->time_ns);
		break;
	case VF_OP_SEAL:
		shelter_wbuf_u64(&w, m->next_segno);
		break;
	case VF_OP_NODE:
		shelter_wbuf_u64(&w, m->ino);
		shelter_wbuf_u64(&w, m->parent);
		shelter_wbuf_u8(&w, m->type);
		shelter_wbuf_u32(&w, m->mode);
		shelter_wbuf_u64(&w, m->size);
		shelter_wbuf_u64(&w, (uint64_t)m->time_ns);
		shelter_wbuf_u64(&w, (uint64_t)m->time2_ns);
		put_name(&w, m->name, m->name_len);
		if (m->type == 3)
			put_name(&w, m->target, m->target_len);
		break;
	case VF_OP_INDEX:
		if (m->count == 0 || m->count > VF_INDEX_MAX)
			return 0;
		shelter_wbuf_u64(&w, m->ino);
		shelter_wbuf_u64(&w, m->first_index);
		shelter_wbuf_u32(&w, m->count);
		shelter_wbuf_put_bytes(&w, m->chunks, (size_t)m->count * 8);
		break;
	default:
		return 0;
	}
	padded = (w.used + VF_META_ALIGN - 1) / VF_META_ALIGN * VF_META_ALIGN;
	if (w.bad || padded > cap || padded > VF_META_MAX)
		return 0;
	memset(out + w.used, 0, padded - w.used);
	return padded;
}

static int get_name(struct shelter_rbuf *r, const char **name, uint16_t *len)
{
	*len = shelter_rbuf_u16(r);
	*name = (const char *)shelter_rbuf_take(r, *len);
	return *name != NULL && vf_name_ok(*name, *len);
}

static int get_target(struct shelter_rbuf *r, struct vf_meta *m)
{
	m->target_len = shelter_rbuf_u16(r);
	m->target = (const char *)shelter_rbuf_take(r, m->target_len);
	return m->target != NULL && m->target_len != 0 && m->target_len < 4096 &&
	       memchr(m->target, '\0', m->target_len) == NULL;
}

/* §10.2: NODE. The root (ino 1) alone has no parent and an empty name. */
static int node_fields(struct shelter_rbuf *r, struct vf_meta *m)
{
	m->ino = shelter_rbuf_u64(r);
	m->parent = shelter_rbuf_u64(r);
	m->type = shelter_rbuf_u8(r);
	m->mode = shelter_rbuf_u32(r);
	m->size = shelter_rbuf_u64(r);
	m->time_ns = (int64_t)shelter_rbuf_u64(r);
	m->time2_ns = (int64_t)shelter_rbuf_u64(r);
	if (m->ino == 1) {
		if (shelter_rbuf_u16(r) != 0 || m->parent != 0 || m->type != 2)
			return 0;
	} else if (m->ino == 0 || m->parent == 0 || !get_name(r, &m->name, &m->name_len)) {
		return 0;
	}
	if (m->type < 1 || m->type > 3 || (m->mode & ~07777u) != 0 ||
	    m->size > (UINT64_C(1) << 52))
		return 0;
	return m->type != 3 || get_target(r, m);
}

/* §10.2: INDEX. Chunk numbers strictly ascend. */
static int index_fields(struct shelter_rbuf *r, struct vf_meta *m)
{
	uint64_t prev = 0;

	m->ino = shelter_rbuf_u64(r);
	m->first_index = shelter_rbuf_u64(r);
	m->count = shelter_rbuf_u32(r);
	if (m->ino == 0 || m->first_index == 0 || m->count == 0 || m->count > VF_INDEX_MAX)
		return 0;
	m->chunks = shelter_rbuf_take(r, (size_t)m->count * 8);
	for (uint32_t i = 0; m->chunks != NULL && i < m->count; i++) {
		uint64_t c = shelter_load_be(m->chunks + 8 * i, 8);

		if ((i > 0 && c <= prev) || c >= (UINT64_C(1) << 40))
			return 0;
		prev = c;
	}
	return m->chunks != NULL;
}

static int meta_fields(struct shelter_rbuf *r, struct vf_meta *m)
{
	switch (m->op) {
	case VF_OP_NODE:
		return node_fields(r, m);
	case VF_OP_INDEX:
		return index_fields(r, m);
	case VF_OP_CREATE:
		m->parent = shelter_rbuf_u64(r);
		m->type = shelter_rbuf_u8(r);
		m->mode = shelter_rbuf_u32(r);
		m->time_ns = (int64_t)shelter_rbuf_u64(r);
		if (!get_name(r, &m->name, &m->name_len) || m->type < 1 || m->type > 3)
			return 0;
		if (m->type == 3 && !get_target(r, m))
			return 0;
		return (m->mode & ~07777u) == 0;
	case VF_OP_UNLINK:
		m->parent = shelter_rbuf_u64(r);
		return get_name(r, &m->name, &m->name_len);
	case VF_OP_RENAME:
		m->parent = shelter_rbuf_u64(r);
		if (!get_name(r, &m->name, &m->name_len))
			return 0;
		m->parent2 = shelter_rbuf_u64(r);
		return get_name(r, &m->name2, &m->name2_len);
	case VF_OP_SETATTR:
		m->ino = shelter_rbuf_u64(r);
		m->size = shelter_rbuf_u64(r);
		m->mode = shelter_rbuf_u32(r);
		m->time_ns = (int64_t)shelter_rbuf_u64(r);
		return (m->mode & ~07777u) == 0 && m->size <= (UINT64_C(1) << 52);
	case VF_OP_SEAL:
		m->next_segno = shelter_rbuf_u64(r);
		return 1;
	default:
		return 0;
	}
}

int vf_meta_decode(const uint8_t *pt, size_t len, struct vf_meta *out)
{
	struct shelter_rbuf r;

	memset(out, 0, sizeof(*out));
	shelter_rbuf_init(&r, pt, len);
	out->op = shelter_rbuf_u8(&r);
	if (!meta_fields(&r, out) || r.bad || r.left >= VF_META_ALIGN) /* minimal padding */
		return SHELTER_E_INTEGRITY;
	for (size_t i = 0; i < r.left; i++)
		if (r.p[i] != 0)
			return SHELTER_E_INTEGRITY;
	return 0;
}

/* §10.3 END layout: op 1 (= 8) | data count 8 | meta count 8 | next seq 8 |
 * chain before 32 | recent count 4 | recent count x 32 | zeros to VF_CKPT_END_PT. */
#define VF_OP_CKPT_END 8

void vf_ckpt_end_encode(const struct vf_ckpt_end *e, uint8_t out[VF_CKPT_END_PT])
{
	struct shelter_wbuf w;

	memset(out, 0, VF_CKPT_END_PT);
	shelter_wbuf_init(&w, out, VF_CKPT_END_PT);
	shelter_wbuf_u8(&w, VF_OP_CKPT_END);
	shelter_wbuf_u64(&w, e->data_count);
	shelter_wbuf_u64(&w, e->meta_count);
	shelter_wbuf_u64(&w, e->next_seq);
	shelter_wbuf_put_bytes(&w, e->chain_before, SHELTER_SHA256_SIZE);
	shelter_wbuf_u32(&w, e->recent_count);
	shelter_wbuf_put_bytes(&w, e->recent, (size_t)e->recent_count * SHELTER_SHA256_SIZE);
}

int vf_ckpt_end_decode(const uint8_t *pt, size_t len, struct vf_ckpt_end *out)
{
	struct shelter_rbuf r;

	memset(out, 0, sizeof(*out));
	if (len != VF_CKPT_END_PT)
		return SHELTER_E_INTEGRITY;
	shelter_rbuf_init(&r, pt, len);
	if (shelter_rbuf_u8(&r) != VF_OP_CKPT_END)
		return SHELTER_E_INTEGRITY;
	out->data_count = shelter_rbuf_u64(&r);
	out->meta_count = shelter_rbuf_u64(&r);
	out->next_seq = shelter_rbuf_u64(&r);
	shelter_rbuf_get_bytes(&r, out->chain_before, SHELTER_SHA256_SIZE);
	out->recent_count = shelter_rbuf_u32(&r);
	if (out->recent_count > VF_RECENT_MAX || out->next_seq == 0 ||
	    out->data_count > (UINT64_C(1) << 40) || out->meta_count > (UINT64_C(1) << 40))
		return SHELTER_E_INTEGRITY;
	shelter_rbuf_get_bytes(&r, out->recent, (size_t)out->recent_count * SHELTER_SHA256_SIZE);
	if (r.bad)
		return SHELTER_E_INTEGRITY;
	for (size_t i = 0; i < r.left; i++)
		if (r.p[i] != 0)
			return SHELTER_E_INTEGRITY;
	return 0;
}
