/* The coordinator-endorser wire protocol: docs/protocols/freshness.md §8.
 *
 * Every decoder reads through one bounded cursor (util/buf.h) in wire order, checks a
 * count against the bytes left before it allocates for it, and refuses short input,
 * trailing bytes, unknown ops and counts above the limits of wire.h with
 * SHELTER_E_MALFORMED. The endorser's own decoders (requests) are its attack surface:
 * tests/fuzz/fuzz_fresh_wire.c runs every one of them. */
#include <stdlib.h>
#include <string.h>

#include "freshness/wire.h"
#include "util/buf.h"

/* The smallest wire forms, to bound a count by the bytes that must follow it. */
#define RECEIPT_MIN (1 + FR_HASH + FR_HASH + 4 + FR_PUB + FR_SIG + FR_ENTRY_SIZE + 4 + 1)
#define ITEM_MIN (1 + FR_HASH + 8 + FR_HASH + 1) /* with an empty cert */
#define BATCH_MIN (1 + FR_HASH + FR_HASH + 4 + FR_PUB + FR_SIG)

/* ---- certificates: u8 m || m x receipt ---- */

static size_t receipt_size(const struct fr_receipt *r)
{
	return RECEIPT_MIN + (size_t)r->path_len * FR_HASH;
}

/* Wire size of a cert of n receipts; SHELTER_E_INVAL for shapes §8 cannot carry. */
static int cert_size(const struct fr_receipt *rs, size_t n, size_t *size,
		     struct shelter_err *err)
{
	if (n > FW_CERT_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "certificate of %zu receipts (at most "
				       "%d)", n, FW_CERT_MAX);
	*size = 1;
	for (size_t i = 0; i < n; i++) {
		if (rs[i].path_len > FR_PATH_MAX)
			return shelter_err_set(err, SHELTER_E_INVAL, "receipt with a %u-step proof",
					       rs[i].path_len);
		*size += receipt_size(&rs[i]);
	}
	return 0;
}

static void put_cert(struct shelter_wbuf *w, const struct fr_receipt *rs, size_t n)
{
	uint8_t one[FR_RECEIPT_MAX];

	shelter_wbuf_u8(w, n);
	for (size_t i = 0; i < n; i++)
		shelter_wbuf_put_bytes(w, one, fr_receipt_encode(&rs[i], one));
}

/* Append one cert's receipts to *rs (grown as needed); *m gets their number. */
static int get_cert(struct shelter_rbuf *b, struct fr_receipt **rs, size_t *have, size_t *cap,
		    size_t *m, struct shelter_err *err)
{
	size_t used;
	int rc;

	*m = shelter_rbuf_u8(b);
	if (b->bad)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "certificate cut short");
	if (*m > FW_CERT_MAX || b->left / RECEIPT_MIN < *m)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "certificate of %zu receipts in %zu "
				       "bytes (at most %d)", *m, b->left, FW_CERT_MAX);
	if (*have + *m > *cap) { /* exact at first: init holds one array per cert */
		size_t ncap = *cap ? *cap * 2 : *m;
		struct fr_receipt *n;

		while (ncap < *have + *m)
			ncap *= 2;
		n = realloc(*rs, ncap * sizeof(**rs));
		if (n == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "certificate: out of memory");
		*rs = n;
		*cap = ncap;
	}
	for (size_t i = 0; i < *m; i++) {
		rc = fr_receipt_decode(b->p, b->left, &(*rs)[*have], &used, err);
		if (rc < 0)
			return shelter_err_wrap(err, rc, "certificate receipt %zu", i);
		shelter_rbuf_take(b, used);
		(*have)++;
	}
	return 0;
}

/* Check the writer filled exactly what was sized and hand the buffer out. */
static int finish(struct shelter_wbuf *w, uint8_t *buf, size_t total, uint8_t **out, size_t *len,
		  struct shelter_err *err)
{
	if (w->bad || w->used != total) {
		free(buf);
		return shelter_err_set(err, SHELTER_E_INTERNAL, "encoder sized %zu bytes, wrote %zu",
				       total, w->used);
	}
	*out = buf;
	*len = total;
	return 0;
}

static int start(size_t total, uint8_t **buf, struct shelter_wbuf *w, struct shelter_err *err)
{
	if (total > FW_FRAME_MAX - 1)
		return shelter_err_set(err, SHELTER_E_INVAL, "body of %zu bytes exceeds a frame",
				       total);
	*buf = malloc(total ? total : 1);
	if (*buf == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "encode: out of memory");
	shelter_wbuf_init(w, *buf, total);
	return 0;
}

/* ---- 0x02 init: u32 len || view || u32 len || prev || u8 k || k x batch ||
 *                 u16 c || c x cert ---- */

static int init_size(const struct fw_init_req *r, size_t *total, struct shelter_err *err)
{
	size_t one;
	int rc = 0;

	if (r->view_len == 0 || r->view_len > UINT32_MAX || r->prev_len > UINT32_MAX ||
	    r->nlocks > FR_VIEW_MAX || r->ncerts > FW_CERTS_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "init of %zu locks and %zu "
				       "certificates", r->nlocks, r->ncerts);
	*total = 4 + r->view_len + 4 + (r->prev != NULL ? r->prev_len : 0) + 1 + 2;
	for (size_t i = 0; i < r->nlocks; i++)
		*total += BATCH_MIN + (size_t)r->locks[i].count * FR_ENTRY_SIZE;
	for (size_t i = 0; i < r->ncerts && rc == 0; i++) {
		rc = cert_size(r->certs[i], r->cert_lens[i], &one, err);
		*total += one;
	}
	return rc;
}

int fw_init_encode(const struct fw_init_req *r, uint8_t **out, size_t *len,
		   struct shelter_err *err)
{
	struct shelter_wbuf w;
	uint8_t *buf = NULL, *b = NULL;
	size_t total = 0, blen;
	int rc;

	*out = NULL;
	rc = init_size(r, &total, err);
	if (rc == 0)
		rc = start(total, &buf, &w, err);
	if (rc < 0)
		return rc;
	shelter_wbuf_u32(&w, r->view_len);
	shelter_wbuf_put_bytes(&w, r->view, r->view_len);
	shelter_wbuf_u32(&w, r->prev != NULL ? r->prev_len : 0);
	if (r->prev != NULL)
		shelter_wbuf_put_bytes(&w, r->prev, r->prev_len);
	shelter_wbuf_u8(&w, r->nlocks);
	for (size_t i = 0; i < r->nlocks && rc == 0; i++) {
		rc = fr_batch_encode(&r->locks[i], &b, &blen, err);
		if (rc == 0)
			shelter_wbuf_put_bytes(&w, b, blen);
		free(b);
		b = NULL;
	}
	shelter_wbuf_u16(&w, r->ncerts);
	for (size_t i = 0; i < r->ncerts; i++)
		put_cert(&w, r->certs[i], r->cert_lens[i]);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	return finish(&w, buf, total, out, len, err);
}

void fw_init_free(struct fw_init_req *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nlocks; i++)
		fr_batch_free(&r->locks[i]);
	for (size_t i = 0; i < r->ncerts && r->certs != NULL; i++)
		free(r->certs[i]);
	free(r->locks);
	free(r->certs);
	free(r->cert_lens);
	memset(r, 0, sizeof(*r));
}

static int init_locks(struct shelter_rbuf *b, struct fw_init_req *r, struct shelter_err *err)
{
	size_t k = shelter_rbuf_u8(b), used;
	int rc;

	if (b->bad || k > FR_VIEW_MAX || b->left / BATCH_MIN < k)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "init: %zu locks in %zu bytes (at "
				       "most %d)", k, b->left, FR_VIEW_MAX);
	r->locks = calloc(k ? k : 1, sizeof(*r->locks));
	if (r->locks == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "init: out of memory");
	for (; r->nlocks < k; r->nlocks++) {
		rc = fr_batch_decode(b->p, b->left, FR_BATCH_MAX, &r->locks[r->nlocks], &used, err);
		if (rc < 0)
			return shelter_err_wrap(err, rc, "init: lock %zu", r->nlocks);
		shelter_rbuf_take(b, used);
	}
	return 0;
}

static int init_certs(struct shelter_rbuf *b, struct fw_init_req *r, struct shelter_err *err)
{
	size_t c = shelter_rbuf_u16(b), have, cap;
	int rc;

	if (b->bad || c > FW_CERTS_MAX || b->left < c)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "init: %zu certificates in %zu "
				       "bytes (at most %d)", c, b->left, FW_CERTS_MAX);
	r->certs = calloc(c ? c : 1, sizeof(*r->certs));
	r->cert_lens = calloc(c ? c : 1, sizeof(*r->cert_lens));
	if (r->certs == NULL || r->cert_lens == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "init: out of memory");
	for (; r->ncerts < c; r->ncerts++) {
		have = cap = 0;
		rc = get_cert(b, &r->certs[r->ncerts], &have, &cap, &r->cert_lens[r->ncerts], err);
		if (rc < 0) {
			r->ncerts++; /* so fw_init_free frees what this one holds */
			return shelter_err_wrap(err, rc, "init: certificate %zu", r->ncerts - 1);
		}
	}
	return 0;
}

int fw_init_decode(const uint8_t *in, size_t len, struct fw_init_req *r, struct shelter_err *err)
{
	struct shelter_rbuf b;
	size_t n;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	shelter_rbuf_init(&b, in, len);
	r->view_len = n = shelter_rbuf_u32(&b);
	r->view = shelter_rbuf_take(&b, n);
	r->prev_len = n = shelter_rbuf_u32(&b);
	r->prev = n > 0 ? shelter_rbuf_take(&b, n) : NULL; /* §8: 0 for a genesis */
	if (b.bad || r->view_len == 0)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "init: %s",
				     b.bad ? "view bodies cut short" : "empty view body");
	if (rc == 0)
		rc = init_locks(&b, r, err);
	if (rc == 0)
		rc = init_certs(&b, r, err);
	if (rc == 0 && b.left != 0)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "init: %zu trailing bytes", b.left);
	if (rc < 0)
		fw_init_free(r);
	return rc;
}

/* ---- 0x03 batch: u32 count || count x (u8 op || handle || u64 height || value ||
 *                  cert) ---- */

int fw_batch_encode(const struct endorser_item *items, size_t count, uint8_t **out, size_t *len,
		    struct shelter_err *err)
{
	struct shelter_wbuf w;
	size_t total = 4, one;
	uint8_t *buf;
	int rc = 0;

	*out = NULL;
	if (count > FR_BATCH_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "batch of %zu items", count);
	for (size_t i = 0; i < count && rc == 0; i++) {
		if (items[i].op < ENDORSER_CREATE || items[i].op > ENDORSER_CERTIFY)
			return shelter_err_set(err, SHELTER_E_INVAL, "item %zu: op %u", i,
					       items[i].op);
		rc = cert_size(items[i].cert, items[i].cert_count, &one, err);
		total += ITEM_MIN - 1 + one;
	}
	if (rc == 0)
		rc = start(total, &buf, &w, err);
	if (rc < 0)
		return rc;
	shelter_wbuf_u32(&w, count);
	for (size_t i = 0; i < count; i++) {
		shelter_wbuf_u8(&w, items[i].op);
		shelter_wbuf_put_bytes(&w, items[i].handle, FR_HASH);
		shelter_wbuf_u64(&w, items[i].height);
		shelter_wbuf_put_bytes(&w, items[i].value, FR_HASH);
		put_cert(&w, items[i].cert, items[i].cert_count);
	}
	return finish(&w, buf, total, out, len, err);
}

void fw_batch_req_free(struct fw_batch_req *r)
{
	if (r == NULL)
		return;
	free(r->items);
	free(r->receipts);
	memset(r, 0, sizeof(*r));
}

static int get_item(struct shelter_rbuf *b, struct endorser_item *it, struct fw_batch_req *r,
		    size_t *cap, struct shelter_err *err)
{
	it->op = shelter_rbuf_u8(b);
	shelter_rbuf_get_bytes(b, it->handle, FR_HASH);
	it->height = shelter_rbuf_u64(b);
	shelter_rbuf_get_bytes(b, it->value, FR_HASH);
	if (b->bad)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "cut short");
	if (it->op < ENDORSER_CREATE || it->op > ENDORSER_CERTIFY)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "unknown op %u", it->op);
	/* the receipts go to one array; item pointers are set once it stops moving */
	return get_cert(b, &r->receipts, &r->nreceipts, cap, &it->cert_count, err);
}

int fw_batch_decode(const uint8_t *in, size_t len, struct fw_batch_req *r,
		    struct shelter_err *err)
{
	struct shelter_rbuf b;
	size_t count, cap = 0, at = 0;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	shelter_rbuf_init(&b, in, len);
	count = shelter_rbuf_u32(&b);
	if (b.bad || count > FR_BATCH_MAX || b.left / ITEM_MIN < count)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "batch: %zu items in %zu bytes (at "
				       "most %u)", count, b.left, FR_BATCH_MAX);
	r->items = calloc(count ? count : 1, sizeof(*r->items));
	if (r->items == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "batch: out of memory");
	for (; r->count < count && rc == 0; r->count++) {
		rc = get_item(&b, &r->items[r->count], r, &cap, err);
		if (rc < 0)
			rc = shelter_err_wrap(err, rc, "batch: item %zu", r->count);
	}
	if (rc == 0 && b.left != 0)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "batch: %zu trailing bytes", b.left);
	if (rc < 0) {
		fw_batch_req_free(r);
		return rc;
	}
	for (size_t i = 0; i < r->count; i++) {
		r->items[i].cert = r->items[i].cert_count ? r->receipts + at : NULL;
		at += r->items[i].cert_count;
	}
	return 0;
}

/* ---- 0x04 read: nonce || u32 count || count x handle ---- */

int fw_read_encode(const uint8_t nonce[FR_HASH], const uint8_t (*handles)[FR_HASH], size_t count,
		   uint8_t **out, size_t *len, struct shelter_err *err)
{
	struct shelter_wbuf w;
	size_t total = FR_HASH + 4 + count * FR_HASH;
	uint8_t *buf;
	int rc;

	*out = NULL;
	if (count > FR_BATCH_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "read of %zu handles", count);
	rc = start(total, &buf, &w, err);
	if (rc < 0)
		return rc;
	shelter_wbuf_put_bytes(&w, nonce, FR_HASH);
	shelter_wbuf_u32(&w, count);
	for (size_t i = 0; i < count; i++)
		shelter_wbuf_put_bytes(&w, handles[i], FR_HASH);
	return finish(&w, buf, total, out, len, err);
}

static void put_head(struct shelter_wbuf *w, const struct fr_sighead *h)
{
	shelter_wbuf_put_be(w, h->kind, 1);
	shelter_wbuf_put_bytes(w, h->view, FR_HASH);
	shelter_wbuf_put_bytes(w, h->nonce, FR_HASH);
	shelter_wbuf_u32(w, h->count);
	shelter_wbuf_put_bytes(w, h->root, FR_HASH);
	shelter_wbuf_put_bytes(w, h->pub, FR_PUB);
	shelter_wbuf_put_bytes(w, h->sig, FR_SIG);
}

int fw_sigs_encode(const struct fr_sighead *heads, size_t count, uint8_t **out, size_t *len,
		   struct shelter_err *err)
{
	struct shelter_wbuf w;
	size_t total = 4 + count * FR_SIGHEAD_SIZE;
	uint8_t *buf;
	int rc;

	*out = NULL;
	if (count == 0 || count > FR_VIEW_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "sigs: %zu heads", count);
	rc = start(total, &buf, &w, err);
	if (rc < 0)
		return rc;
	shelter_wbuf_u32(&w, count);
	for (size_t i = 0; i < count; i++)
		put_head(&w, &heads[i]);
	return finish(&w, buf, total, out, len, err);
}

int fw_sigs_decode(const uint8_t *in, size_t len, struct fr_sighead **heads, size_t *count,
		   struct shelter_err *err)
{
	struct shelter_rbuf b;
	size_t n;

	*heads = NULL;
	*count = 0;
	shelter_rbuf_init(&b, in, len);
	n = shelter_rbuf_u32(&b);
	if (b.bad || n == 0 || n > FR_VIEW_MAX || b.left != n * FR_SIGHEAD_SIZE)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "sigs: %zu heads in %zu bytes (want "
				       "1 to %d of %d bytes)", n, b.left, FR_VIEW_MAX,
				       FR_SIGHEAD_SIZE);
	*heads = calloc(n, sizeof(**heads));
	if (*heads == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "sigs: out of memory");
	for (size_t i = 0; i < n; i++) {
		struct fr_sighead *h = &(*heads)[i];

		h->kind = shelter_rbuf_u8(&b);
		shelter_rbuf_get_bytes(&b, h->view, FR_HASH);
		shelter_rbuf_get_bytes(&b, h->nonce, FR_HASH);
		h->count = (uint32_t)shelter_rbuf_u32(&b);
		shelter_rbuf_get_bytes(&b, h->root, FR_HASH);
		shelter_rbuf_get_bytes(&b, h->pub, FR_PUB);
		shelter_rbuf_get_bytes(&b, h->sig, FR_SIG);
	}
	*count = n;
	return 0;
}

void fw_read_free(struct fw_read_req *r)
{
	if (r == NULL)
		return;
	free(r->handles);
	memset(r, 0, sizeof(*r));
}

int fw_read_decode(const uint8_t *in, size_t len, struct fw_read_req *r, struct shelter_err *err)
{
	struct shelter_rbuf b;
	size_t count;

	memset(r, 0, sizeof(*r));
	shelter_rbuf_init(&b, in, len);
	shelter_rbuf_get_bytes(&b, r->nonce, FR_HASH);
	count = shelter_rbuf_u32(&b);
	if (b.bad)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "read: cut short");
	if (count > FR_BATCH_MAX || b.left != count * FR_HASH)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "read of %zu handles (at most %u) "
				       "in %zu bytes (want %zu)", count, FR_BATCH_MAX, b.left,
				       count * FR_HASH);
	r->handles = malloc(count ? count * FR_HASH : 1);
	if (r->handles == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "read: out of memory");
	shelter_rbuf_get_bytes(&b, r->handles, count * FR_HASH);
	r->count = count;
	return 0;
}

/* ---- 0x81 identity: pubkey || u32 len || quote ---- */

int fw_identity_encode(const uint8_t pub[FR_PUB], const uint8_t *quote, size_t quote_len,
		       uint8_t **out, size_t *len, struct shelter_err *err)
{
	struct shelter_wbuf w;
	size_t total = FR_PUB + 4 + quote_len;
	uint8_t *buf;
	int rc;

	*out = NULL;
	if (quote_len == 0 || quote_len > FR_QUOTE_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "quote of %zu bytes (a view takes 1 "
				       "to %d)", quote_len, FR_QUOTE_MAX);
	rc = start(total, &buf, &w, err);
	if (rc < 0)
		return rc;
	shelter_wbuf_put_bytes(&w, pub, FR_PUB);
	shelter_wbuf_u32(&w, quote_len);
	shelter_wbuf_put_bytes(&w, quote, quote_len);
	return finish(&w, buf, total, out, len, err);
}

int fw_identity_decode(const uint8_t *in, size_t len, uint8_t pub[FR_PUB],
		       const uint8_t **quote, size_t *quote_len, struct shelter_err *err)
{
	struct shelter_rbuf b;
	const uint8_t *key;
	size_t n;

	*quote = NULL;
	*quote_len = 0;
	shelter_rbuf_init(&b, in, len);
	key = shelter_rbuf_take(&b, FR_PUB);
	n = shelter_rbuf_u32(&b);
	/* §3.3: a quote a view can carry, and nothing after it */
	if (b.bad || n == 0 || n > FR_QUOTE_MAX || b.left != n)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "identity: a quote of %zu bytes in "
				       "%zu", n, b.left);
	memcpy(pub, key, FR_PUB);
	*quote = shelter_rbuf_take(&b, n);
	*quote_len = n;
	return 0;
}

/* ---- 0x83 batch answer: u32 count || count x i32 status || [batch] ---- */

int fw_batch_answer_encode(const int32_t *status, size_t count, const struct fr_batch *b,
			   uint8_t **out, size_t *len, struct shelter_err *err)
{
	struct shelter_wbuf w;
	uint8_t *buf = NULL, *bb = NULL;
	size_t ok = 0, blen = 0, total;
	int rc = 0;

	*out = NULL;
	for (size_t i = 0; i < count; i++)
		ok += status[i] == 0;
	if (count > FR_BATCH_MAX || ok != (b != NULL ? b->count : 0))
		return shelter_err_set(err, SHELTER_E_INVAL, "batch answer: %zu of %zu items "
				       "succeeded, %u entries", ok, count, b != NULL ? b->count : 0);
	if (ok > 0)
		rc = fr_batch_encode(b, &bb, &blen, err);
	total = 4 + count * 4 + blen;
	if (rc == 0)
		rc = start(total, &buf, &w, err);
	if (rc == 0) {
		shelter_wbuf_u32(&w, count);
		for (size_t i = 0; i < count; i++)
			shelter_wbuf_u32(&w, (uint32_t)status[i]);
		shelter_wbuf_put_bytes(&w, bb, blen);
		rc = finish(&w, buf, total, out, len, err);
	}
	free(bb);
	return rc;
}

/* The statuses; *ok gets how many are 0. Positive codes are not codes (§8). */
static int get_status(struct shelter_rbuf *b, size_t count, int32_t *st, size_t *ok,
		      struct shelter_err *err)
{
	*ok = 0;
	for (size_t i = 0; i < count; i++) {
		st[i] = (int32_t)shelter_rbuf_u32(b);
		if (st[i] > 0)
			return shelter_err_set(err, SHELTER_E_MALFORMED, "batch answer: status %zu is "
					       "%d", i, st[i]);
		*ok += st[i] == 0;
	}
	return 0;
}

int fw_batch_answer_decode(const uint8_t *in, size_t len, int32_t **status, size_t *count,
			   struct fr_batch *b, struct shelter_err *err)
{
	struct shelter_rbuf r;
	size_t n, ok = 0, used = 0;
	int32_t *st = NULL;
	int rc = 0;

	*status = NULL;
	*count = 0;
	memset(b, 0, sizeof(*b));
	shelter_rbuf_init(&r, in, len);
	n = shelter_rbuf_u32(&r);
	if (r.bad || n > FR_BATCH_MAX || r.left / 4 < n)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "batch answer: %zu statuses in %zu "
				       "bytes", n, r.left);
	st = malloc(n ? n * sizeof(*st) : 1);
	if (st == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "batch answer: out of memory");
	rc = get_status(&r, n, st, &ok, err);
	if (rc == 0 && ok > 0)
		rc = fr_batch_decode(r.p, r.left, (uint32_t)ok, b, &used, err);
	if (rc == 0 && (r.left != used || b->count != ok))
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "batch answer: %zu items succeeded, "
				     "%u entries, %zu trailing bytes", ok, b->count, r.left - used);
	if (rc < 0) {
		fr_batch_free(b);
		free(st);
		return rc;
	}
	*status = st;
	*count = n;
	return 0;
}
