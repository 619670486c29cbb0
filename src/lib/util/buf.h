/* Bounded cursor over untrusted bytes (STYLE.md rule 15). Internal to libshelter.
 *
 * Readers take fields in wire order; every get fails (returns -1 and latches
 * `bad`) instead of reading past the end, so a parser checks once at the end. All
 * integers on disk and on the wire are big-endian.
 */
#ifndef SHELTER_UTIL_BUF_H
#define SHELTER_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct shelter_rbuf {
	const uint8_t *p;
	size_t left;
	int bad;
};

struct shelter_wbuf {
	uint8_t *p;
	size_t left;
	size_t used;
	int bad;
};

static inline void shelter_rbuf_init(struct shelter_rbuf *b, const void *p, size_t size)
{
	b->p = p;
	b->left = size;
	b->bad = 0;
}

static inline const uint8_t *shelter_rbuf_take(struct shelter_rbuf *b, size_t size)
{
	const uint8_t *r;

	if (b->bad || b->left < size) {
		b->bad = 1;
		return NULL;
	}
	r = b->p;
	b->p += size;
	b->left -= size;
	return r;
}

static inline int shelter_rbuf_get_bytes(struct shelter_rbuf *b, void *out, size_t size)
{
	const uint8_t *r = shelter_rbuf_take(b, size);

	if (r == NULL)
		return -1;
	if (size > 0)
		memcpy(out, r, size);
	return 0;
}

static inline uint64_t shelter_load_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline void shelter_store_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = n; i > 0; i--) {
		p[i - 1] = (uint8_t)v;
		v >>= 8;
	}
}

static inline int shelter_rbuf_get_be(struct shelter_rbuf *b, size_t n, uint64_t *out)
{
	const uint8_t *r = shelter_rbuf_take(b, n);

	*out = 0;
	if (r == NULL)
		return -1;
	*out = shelter_load_be(r, n);
	return 0;
}

static inline uint8_t shelter_rbuf_u8(struct shelter_rbuf *b)
{
	uint64_t v;

	shelter_rbuf_get_be(b, 1, &v);
	return (uint8_t)v;
}

static inline uint16_t shelter_rbuf_u16(struct shelter_rbuf *b)
{
	uint64_t v;

	shelter_rbuf_get_be(b, 2, &v);
	return (uint16_t)v;
}

static inline uint32_t shelter_rbuf_u32(struct shelter_rbuf *b)
{
	uint64_t v;

	shelter_rbuf_get_be(b, 4, &v);
	return (uint32_t)v;
}

static inline uint64_t shelter_rbuf_u64(struct shelter_rbuf *b)
{
	uint64_t v;

	shelter_rbuf_get_be(b, 8, &v);
	return v;
}

static inline void shelter_wbuf_init(struct shelter_wbuf *b, void *p, size_t size)
{
	b->p = p;
	b->left = size;
	b->used = 0;
	b->bad = 0;
}

static inline uint8_t *shelter_wbuf_take(struct shelter_wbuf *b, size_t size)
{
	uint8_t *r;

	if (b->bad || b->left < size) {
		b->bad = 1;
		return NULL;
	}
	r = b->p;
	b->p += size;
	b->left -= size;
	b->used += size;
	return r;
}

static inline void shelter_wbuf_put_bytes(struct shelter_wbuf *b, const void *d, size_t size)
{
	uint8_t *w = shelter_wbuf_take(b, size);

	if (w != NULL && size > 0)
		memcpy(w, d, size);
}

static inline void shelter_wbuf_put_be(struct shelter_wbuf *b, uint64_t v, size_t n)
{
	uint8_t *w = shelter_wbuf_take(b, n);

	if (w != NULL)
		shelter_store_be(w, v, n);
}

#define shelter_wbuf_u8(b, v) shelter_wbuf_put_be((b), (v), 1)
#define shelter_wbuf_u16(b, v) shelter_wbuf_put_be((b), (v), 2)
#define shelter_wbuf_u32(b, v) shelter_wbuf_put_be((b), (v), 4)
#define shelter_wbuf_u64(b, v) shelter_wbuf_put_be((b), (v), 8)

#endif
