/* The client-coordinator protocol's encodings: docs/protocols/freshness.md §8.2. */
#include <stdlib.h>
#include <string.h>

#include "freshness/service.h"
#include "util/buf.h"

static int nomem(struct shelter_err *err)
{
	return shelter_err_set(err, SHELTER_E_NOMEM, "freshness: out of memory");
}

static int malformed(struct shelter_err *err, const char *what)
{
	return shelter_err_set(err, SHELTER_E_MALFORMED, "freshness: %s", what);
}

/* ---- create and append ---- */

int fs_write_encode(uint8_t type, const struct fs_write *w, uint8_t **out, size_t *len,
		    struct shelter_err *err)
{
	size_t total = FR_HASH + (type == FS_APPEND ? 8 + FR_HASH : 0) + FR_HASH + 4 + w->blob_len;
	struct shelter_wbuf b;

	*out = malloc(total);
	if (*out == NULL)
		return nomem(err);
	shelter_wbuf_init(&b, *out, total);
	shelter_wbuf_put_bytes(&b, w->handle, FR_HASH);
	if (type == FS_APPEND) {
		shelter_wbuf_put_be(&b, w->height, 8);
		shelter_wbuf_put_bytes(&b, w->prev, FR_HASH);
	}
	shelter_wbuf_put_bytes(&b, w->digest, FR_HASH);
	shelter_wbuf_put_be(&b, w->blob_len, 4);
	shelter_wbuf_put_bytes(&b, w->blob, w->blob_len);
	*len = total;
	return 0;
}

int fs_write_decode(uint8_t type, const uint8_t *in, size_t len, struct fs_write *w,
		    struct shelter_err *err)
{
	struct shelter_rbuf b;

	memset(w, 0, sizeof(*w));
	shelter_rbuf_init(&b, in, len);
	shelter_rbuf_get_bytes(&b, w->handle, FR_HASH);
	if (type == FS_APPEND) {
		w->height = shelter_rbuf_u64(&b);
		shelter_rbuf_get_bytes(&b, w->prev, FR_HASH);
	}
	shelter_rbuf_get_bytes(&b, w->digest, FR_HASH);
	w->blob_len = shelter_rbuf_u32(&b);
	if (b.bad || w->blob_len > FS_BLOB_MAX || b.left != w->blob_len)
		return malformed(err, "write request: bad length");
	w->blob = shelter_rbuf_take(&b, w->blob_len);
	if (type == FS_APPEND && w->height == 0)
		return malformed(err, "append at height 0 (use create)");
	return 0;
}

/* ---- receipts answers ---- */

static int put_receipts(struct shelter_wbuf *b, const struct fr_receipt *r, size_t n)
{
	uint8_t one[FR_RECEIPT_MAX];

	shelter_wbuf_put_be(b, n, 4);
	for (size_t i = 0; i < n; i++) {
		size_t k = fr_receipt_encode(&r[i], one);

		shelter_wbuf_put_be(b, k, 2);
		shelter_wbuf_put_bytes(b, one, k);
	}
	return b->bad ? SHELTER_E_INTERNAL : 0;
}

int fs_receipts_encode(const struct fs_receipts *a, uint8_t **out, size_t *len,
		       struct shelter_err *err)
{
	size_t total = 8 + (a->count + a->cert_count) * (FR_RECEIPT_MAX + 2);
	struct shelter_wbuf b;
	int rc;

	*out = malloc(total);
	if (*out == NULL)
		return nomem(err);
	shelter_wbuf_init(&b, *out, total);
	rc = put_receipts(&b, a->r, a->count);
	if (rc == 0)
		rc = put_receipts(&b, a->cert, a->cert_count);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		return shelter_err_set(err, rc, "freshness: receipts do not fit");
	}
	*len = b.used;
	return 0;
}

static int get_receipts(struct shelter_rbuf *b, struct fr_receipt **r, size_t *n,
			struct shelter_err *err)
{
	uint32_t count = shelter_rbuf_u32(b);

	*r = NULL;
	*n = 0;
	if (b->bad || count > FR_VIEW_MAX * 4)
		return malformed(err, "receipts: bad count");
	*r = calloc(count ? count : 1, sizeof(**r));
	if (*r == NULL)
		return nomem(err);
	for (uint32_t i = 0; i < count; i++) {
		size_t k = shelter_rbuf_u16(b), used = 0;
		const uint8_t *p = shelter_rbuf_take(b, k);
		int rc;

		if (p == NULL)
			return malformed(err, "receipts: cut short");
		rc = fr_receipt_decode(p, k, &(*r)[i], &used, err);
		if (rc < 0 || used != k)
			return rc < 0 ? rc : malformed(err, "receipts: trailing bytes");
		(*n)++;
	}
	return 0;
}

int fs_receipts_decode(const uint8_t *in, size_t len, struct fs_receipts *a,
		       struct shelter_err *err)
{
	struct shelter_rbuf b;
	int rc;

	memset(a, 0, sizeof(*a));
	shelter_rbuf_init(&b, in, len);
	rc = get_receipts(&b, &a->r, &a->count, err);
	if (rc == 0)
		rc = get_receipts(&b, &a->cert, &a->cert_count, err);
	if (rc == 0 && b.left != 0)
		rc = malformed(err, "receipts: trailing bytes");
	return rc;
}

void fs_receipts_free(struct fs_receipts *a)
{
	free(a->r);
	free(a->cert);
	memset(a, 0, sizeof(*a));
}

/* ---- blocks ---- */

int fs_block_encode(const struct fs_write *w, uint8_t **out, size_t *len,
		    struct shelter_err *err)
{
	size_t total = 2 * FR_HASH + 4 + w->blob_len;
	struct shelter_wbuf b;

	*out = malloc(total);
	if (*out == NULL)
		return nomem(err);
	shelter_wbuf_init(&b, *out, total);
	shelter_wbuf_put_bytes(&b, w->digest, FR_HASH);
	shelter_wbuf_put_bytes(&b, w->prev, FR_HASH);
	shelter_wbuf_put_be(&b, w->blob_len, 4);
	shelter_wbuf_put_bytes(&b, w->blob, w->blob_len);
	*len = total;
	return 0;
}

int fs_block_decode(const uint8_t *in, size_t len, struct fs_write *w, struct shelter_err *err)
{
	struct shelter_rbuf b;

	memset(w, 0, sizeof(*w));
	shelter_rbuf_init(&b, in, len);
	shelter_rbuf_get_bytes(&b, w->digest, FR_HASH);
	shelter_rbuf_get_bytes(&b, w->prev, FR_HASH);
	w->blob_len = shelter_rbuf_u32(&b);
	if (b.bad || w->blob_len > FS_BLOB_MAX || b.left != w->blob_len)
		return malformed(err, "block: bad length");
	w->blob = shelter_rbuf_take(&b, w->blob_len);
	return 0;
}

/* ---- view records ---- */

int fs_view_rec_encode(const struct fs_view_rec *v, uint8_t **out, size_t *len,
		       struct shelter_err *err)
{
	uint8_t **parts = calloc(v->nlocks ? v->nlocks : 1, sizeof(*parts));
	size_t *sizes = calloc(v->nlocks ? v->nlocks : 1, sizeof(*sizes));
	size_t total = 4 + v->view_len + 1;
	struct shelter_wbuf b;
	int rc = parts && sizes ? 0 : nomem(err);

	*out = NULL;
	for (size_t i = 0; i < v->nlocks && rc == 0; i++) {
		rc = fr_batch_encode(&v->locks[i], &parts[i], &sizes[i], err);
		total += sizes[i];
	}
	if (rc == 0 && (*out = malloc(total)) == NULL)
		rc = nomem(err);
	if (rc == 0) {
		shelter_wbuf_init(&b, *out, total);
		shelter_wbuf_put_be(&b, v->view_len, 4);
		shelter_wbuf_put_bytes(&b, v->view, v->view_len);
		shelter_wbuf_put_be(&b, v->nlocks, 1);
		for (size_t i = 0; i < v->nlocks; i++)
			shelter_wbuf_put_bytes(&b, parts[i], sizes[i]);
		*len = total;
	}
	for (size_t i = 0; parts != NULL && i < v->nlocks; i++)
		free(parts[i]);
	free(parts);
	free(sizes);
	return rc;
}

int fs_view_rec_decode(const uint8_t *in, size_t len, size_t *used, struct fs_view_rec *v,
		       struct shelter_err *err)
{
	struct shelter_rbuf b;
	int rc = 0;

	memset(v, 0, sizeof(*v));
	shelter_rbuf_init(&b, in, len);
	v->view_len = shelter_rbuf_u32(&b);
	v->view = shelter_rbuf_take(&b, v->view_len);
	v->nlocks = shelter_rbuf_u8(&b);
	if (b.bad || v->nlocks > FR_VIEW_MAX)
		return malformed(err, "view record: cut short");
	v->locks = calloc(v->nlocks ? v->nlocks : 1, sizeof(*v->locks));
	if (v->locks == NULL)
		return nomem(err);
	for (size_t i = 0; i < v->nlocks && rc == 0; i++) {
		size_t k = 0;

		rc = fr_batch_decode(b.p, b.left, FR_BATCH_MAX, &v->locks[i], &k, err);
		if (rc == 0)
			shelter_rbuf_take(&b, k);
	}
	if (rc < 0)
		return rc;
	*used = len - b.left;
	return 0;
}

void fs_view_rec_free(struct fs_view_rec *v)
{
	for (size_t i = 0; v->locks != NULL && i < v->nlocks; i++)
		fr_batch_free(&v->locks[i]);
	free(v->locks);
	memset(v, 0, sizeof(*v));
}
