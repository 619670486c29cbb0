/* The store's byte layouts: log header (docs/formats/log.md §4.1) and frames (§5).
 * Pure functions: no I/O. */
#include <string.h>

#include <openssl/crypto.h>

#include "log/internal.h"
#include "shelter/crypto.h"
#include "util/buf.h"

int lg_header_encode(const char *origin, const uint8_t pub[32], uint8_t *out,
		     size_t *out_size, struct shelter_err *err)
{
	size_t o = strlen(origin), size = 8 + 1 + o + 32;
	int rc;

	*out_size = 0;
	if ((rc = lg_origin_check(origin, err)) != 0)
		return rc;
	memcpy(out, LG_MAGIC, 8);
	out[8] = (uint8_t)o;
	memcpy(out + 9, origin, o);
	memcpy(out + 9 + o, pub, 32);
	if (shelter_sha256(out, size, out + size, err) != 0)
		return SHELTER_E_CRYPTO;
	*out_size = size + 32;
	return 0;
}

int lg_header_decode(const uint8_t *in, size_t size, char origin[SHELTER_LOG_ORIGIN_MAX + 1],
		     uint8_t pub[32], size_t *out_size, struct shelter_err *err)
{
	uint8_t h[32];
	size_t o, body;

	*out_size = 0;
	if (size < 9 || memcmp(in, LG_MAGIC, 5) != 0)
		return shelter_err_set(err, size < 9 ? SHELTER_E_TRUNCATED : SHELTER_E_NOTVOLUME,
				       "log header: %s", size < 9 ? "cut short" : "not a Shelter log");
	if (memcmp(in, LG_MAGIC, 8) != 0)
		return shelter_err_set(err, SHELTER_E_VERSION,
				       "log header: version %u, this build reads 1",
				       (unsigned)shelter_load_be(in + 5, 3));
	o = in[8];
	body = 9 + o + 32;
	if (o == 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "log header: empty origin");
	if (size < body + 32)
		return shelter_err_set(err, SHELTER_E_TRUNCATED, "log header: cut short");
	if (shelter_sha256(in, body, h, err) != 0)
		return SHELTER_E_CRYPTO;
	if (memcmp(h, in + body, 32) != 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "log header: hash mismatch");
	memcpy(origin, in + 9, o);
	origin[o] = '\0';
	if (strlen(origin) != o || lg_origin_check(origin, NULL) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "log header: bad origin");
	memcpy(pub, in + 9 + o, 32);
	*out_size = body + 32;
	return 0;
}

int lg_frame_head(const uint8_t in[LG_FRAME_HEAD], struct lg_frame *out, struct shelter_err *err)
{
	struct shelter_rbuf b;

	shelter_rbuf_init(&b, in, LG_FRAME_HEAD);
	if (shelter_rbuf_u32(&b) != LG_FRAME_MAGIC)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "frame: bad magic");
	out->count = shelter_rbuf_u32(&b);
	out->first = shelter_rbuf_u64(&b);
	out->payload = shelter_rbuf_u32(&b);
	if (out->count == 0 || out->count > LG_FRAME_COUNT_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "frame: %u entries, want 1..%u",
				       out->count, LG_FRAME_COUNT_MAX);
	if (out->payload < 2ull * out->count || out->payload > LG_FRAME_PAYLOAD_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "frame: payload of %u bytes for %u entries", out->payload,
				       out->count);
	return 0;
}

int lg_frame_check(struct lg_hasher *h, const uint8_t *frame, const struct lg_frame *f,
		   struct shelter_err *err)
{
	const uint8_t *p = frame + LG_FRAME_HEAD;
	uint8_t got[LG_HASH];
	size_t pos = 0;

	for (uint32_t i = 0; i < f->count; i++) {
		size_t size;

		if (f->payload - pos < 2)
			return shelter_err_set(err, SHELTER_E_MALFORMED,
					       "frame: entry %u of %u past the payload", i, f->count);
		size = (size_t)shelter_load_be(p + pos, 2);
		if (f->payload - pos - 2 < size)
			return shelter_err_set(err, SHELTER_E_MALFORMED,
					       "frame: entry %u of %u past the payload", i, f->count);
		pos += 2 + size;
	}
	if (pos != f->payload)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "frame: %zu bytes after its %u entries", f->payload - pos,
				       f->count);
	if (EVP_Digest(frame, LG_FRAME_HEAD + f->payload, got, NULL, h->md, NULL) != 1)
		return shelter_err_set(err, SHELTER_E_CRYPTO, "frame: SHA-256 failed");
	if (CRYPTO_memcmp(got, frame + LG_FRAME_HEAD + f->payload, LG_HASH) != 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "frame: hash mismatch");
	return 0;
}

void lg_frame_entry(const uint8_t *frame, size_t *pos, const uint8_t **entry, size_t *size)
{
	const uint8_t *p = frame + LG_FRAME_HEAD + *pos;

	*size = (size_t)shelter_load_be(p, 2);
	*entry = p + 2;
	*pos += 2 + *size;
}

void lg_frame_put_head(uint8_t *frame, uint32_t count, uint64_t first, uint32_t payload)
{
	shelter_store_be(frame, LG_FRAME_MAGIC, 4);
	shelter_store_be(frame + 4, count, 4);
	shelter_store_be(frame + 8, first, 8);
	shelter_store_be(frame + 16, payload, 4);
}

int lg_frame_seal(struct lg_hasher *h, uint8_t *frame, uint32_t payload)
{
	if (EVP_Digest(frame, LG_FRAME_HEAD + payload, frame + LG_FRAME_HEAD + payload, NULL,
		       h->md, NULL) != 1)
		return SHELTER_E_CRYPTO;
	return 0;
}
