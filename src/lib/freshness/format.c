/* The freshness service's signed objects: docs/protocols/freshness.md §3. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/signer.h"
#include "freshness/format.h"
#include "util/buf.h"

#define RECEIPT_DOMAIN "shelter-fresh-receipt-v1" /* and its NUL: 25 bytes */
#define VIEW_DOMAIN "shelter-fresh-view-v1"       /* and its NUL: 22 bytes */
#define ENDORSER_DOMAIN "shelter-fresh-endorser-v1"

/* SHA-256 of the bytes of a small stack buffer. */
static int hash(const uint8_t *buf, size_t size, uint8_t out[FR_HASH])
{
	static const uint8_t empty;

	return shelter_sha256(buf != NULL ? buf : &empty, size, out, NULL) == 0 ? 0
										: SHELTER_E_INTERNAL;
}

/* ---- §3.1 tails ---- */

int fr_tail_genesis(const uint8_t handle[FR_HASH], const uint8_t digest[FR_HASH],
		    uint8_t out[FR_HASH])
{
	uint8_t m[1 + 2 * FR_HASH];

	m[0] = 0x02;
	memcpy(m + 1, handle, FR_HASH);
	memcpy(m + 1 + FR_HASH, digest, FR_HASH);
	return hash(m, sizeof(m), out);
}

int fr_tail_next(const uint8_t prev[FR_HASH], uint64_t height, const uint8_t digest[FR_HASH],
		 uint8_t out[FR_HASH])
{
	uint8_t m[1 + FR_HASH + 8 + FR_HASH];

	m[0] = 0x03;
	memcpy(m + 1, prev, FR_HASH);
	shelter_store_be(m + 1 + FR_HASH, height, 8);
	memcpy(m + 1 + FR_HASH + 8, digest, FR_HASH);
	return hash(m, sizeof(m), out);
}

/* ---- §3.2 entries and batches ---- */

void fr_entry_encode(const struct fr_entry *e, uint8_t out[FR_ENTRY_SIZE])
{
	memcpy(out, e->handle, FR_HASH);
	shelter_store_be(out + FR_HASH, e->height, 8);
	memcpy(out + FR_HASH + 8, e->tail, FR_HASH);
	out[FR_ENTRY_SIZE - 1] = e->flags;
}

int fr_entry_decode(const uint8_t in[FR_ENTRY_SIZE], struct fr_entry *e, struct shelter_err *err)
{
	memcpy(e->handle, in, FR_HASH);
	e->height = shelter_load_be(in + FR_HASH, 8);
	memcpy(e->tail, in + FR_HASH + 8, FR_HASH);
	e->flags = in[FR_ENTRY_SIZE - 1];
	if ((e->flags & ~(FR_FLAG_CERTIFIED | FR_FLAG_LOCKED)) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "entry: unknown flags 0x%02x",
				       e->flags);
	return 0;
}

int fr_leaf_hash(const struct fr_entry *e, uint8_t out[FR_HASH])
{
	uint8_t m[1 + FR_ENTRY_SIZE];

	m[0] = 0x00;
	fr_entry_encode(e, m + 1);
	return hash(m, sizeof(m), out);
}

static int node_hash(const uint8_t l[FR_HASH], const uint8_t r[FR_HASH], uint8_t out[FR_HASH])
{
	uint8_t m[1 + 2 * FR_HASH];

	m[0] = 0x01;
	memcpy(m + 1, l, FR_HASH);
	memcpy(m + 1 + FR_HASH, r, FR_HASH);
	return hash(m, sizeof(m), out);
}

/* The largest power of two below n (n >= 2): RFC 9162 §2.1.1's k. */
static size_t split_point(size_t n)
{
	size_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

int fr_merkle_root(const uint8_t (*leaves)[FR_HASH], size_t n, uint8_t out[FR_HASH])
{
	uint8_t l[FR_HASH], r[FR_HASH];
	size_t k;
	int rc;

	if (n > FR_BATCH_MAX)
		return SHELTER_E_INTERNAL;
	if (n == 0) /* RFC 9162 §2.1.1: the hash of the empty string */
		return hash(NULL, 0, out);
	if (n == 1) {
		memcpy(out, leaves[0], FR_HASH);
		return 0;
	}
	k = split_point(n);
	rc = fr_merkle_root(leaves, k, l);
	if (rc == 0)
		rc = fr_merkle_root(leaves + k, n - k, r);
	return rc == 0 ? node_hash(l, r, out) : rc;
}

int fr_merkle_path(const uint8_t (*leaves)[FR_HASH], size_t n, size_t index,
		   uint8_t path[FR_PATH_MAX][FR_HASH], size_t *path_len)
{
	size_t k;
	int rc;

	if (n == 0 || n > FR_BATCH_MAX || index >= n)
		return SHELTER_E_INTERNAL;
	if (n == 1) {
		*path_len = 0;
		return 0;
	}
	/* PATH(m, D[n]) is the sub-path in the half holding m, then the other half's
	 * root: siblings from the leaf upwards */
	k = split_point(n);
	if (index < k) {
		rc = fr_merkle_path(leaves, k, index, path, path_len);
		if (rc == 0)
			rc = fr_merkle_root(leaves + k, n - k, path[*path_len]);
	} else {
		rc = fr_merkle_path(leaves + k, n - k, index - k, path, path_len);
		if (rc == 0)
			rc = fr_merkle_root(leaves, k, path[*path_len]);
	}
	if (rc == 0)
		(*path_len)++;
	return rc;
}

int fr_merkle_climb(const uint8_t leaf[FR_HASH], size_t index, size_t n,
		    const uint8_t (*path)[FR_HASH], size_t path_len, uint8_t root[FR_HASH])
{
	size_t fn = index, sn = n - 1;
	uint8_t r[FR_HASH];
	int rc = 0;

	if (n == 0 || n > FR_BATCH_MAX || index >= n || path_len > FR_PATH_MAX)
		return SHELTER_E_MALFORMED;
	memcpy(r, leaf, FR_HASH);
	/* RFC 9162 §2.1.3.2 */
	for (size_t i = 0; i < path_len && rc == 0; i++) {
		if (sn == 0)
			return SHELTER_E_MALFORMED;
		if ((fn & 1) || fn == sn) {
			rc = node_hash(path[i], r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			rc = node_hash(r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (rc == 0 && sn != 0)
		rc = SHELTER_E_MALFORMED;
	if (rc == 0)
		memcpy(root, r, FR_HASH);
	return rc;
}

void fr_receipt_msg(uint8_t kind, const uint8_t view[FR_HASH], const uint8_t nonce[FR_HASH],
		    uint32_t count, const uint8_t root[FR_HASH], uint8_t out[FR_MSG_SIZE])
{
	uint8_t *p = out;

	memcpy(p, RECEIPT_DOMAIN, sizeof(RECEIPT_DOMAIN)); /* with its NUL */
	p += sizeof(RECEIPT_DOMAIN);
	*p++ = kind;
	memcpy(p, view, FR_HASH);
	p += FR_HASH;
	memcpy(p, nonce, FR_HASH);
	p += FR_HASH;
	shelter_store_be(p, count, 4);
	memcpy(p + 4, root, FR_HASH);
}

/* ---- receipts on the wire (§8) ---- */

size_t fr_receipt_encode(const struct fr_receipt *r, uint8_t out[FR_RECEIPT_MAX])
{
	size_t path = r->path_len <= FR_PATH_MAX ? r->path_len : FR_PATH_MAX;
	uint8_t *p = out;

	*p++ = r->kind;
	memcpy(p, r->view, FR_HASH);
	p += FR_HASH;
	memcpy(p, r->nonce, FR_HASH);
	p += FR_HASH;
	shelter_store_be(p, r->count, 4);
	p += 4;
	memcpy(p, r->pub, FR_PUB);
	p += FR_PUB;
	memcpy(p, r->sig, FR_SIG);
	p += FR_SIG;
	fr_entry_encode(&r->entry, p);
	p += FR_ENTRY_SIZE;
	shelter_store_be(p, r->index, 4);
	p += 4;
	*p++ = (uint8_t)path;
	memcpy(p, r->path, path * FR_HASH);
	return (size_t)(p - out) + path * FR_HASH;
}

int fr_receipt_decode(const uint8_t *in, size_t size, struct fr_receipt *r, size_t *used,
		      struct shelter_err *err)
{
	struct shelter_rbuf b;
	const uint8_t *entry;
	int rc;

	memset(r, 0, sizeof(*r));
	shelter_rbuf_init(&b, in, size);
	r->kind = shelter_rbuf_u8(&b);
	shelter_rbuf_get_bytes(&b, r->view, FR_HASH);
	shelter_rbuf_get_bytes(&b, r->nonce, FR_HASH);
	r->count = shelter_rbuf_u32(&b);
	shelter_rbuf_get_bytes(&b, r->pub, FR_PUB);
	shelter_rbuf_get_bytes(&b, r->sig, FR_SIG);
	entry = shelter_rbuf_take(&b, FR_ENTRY_SIZE);
	r->index = shelter_rbuf_u32(&b);
	r->path_len = shelter_rbuf_u8(&b);
	if (b.bad)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "receipt: cut short (%zu bytes)",
				       size);
	if (r->kind < FR_KIND_APPEND || r->kind > FR_KIND_INIT)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "receipt: unknown kind %u",
				       r->kind);
	if (r->count == 0 || r->count > FR_BATCH_MAX || r->index >= r->count ||
	    r->path_len > FR_PATH_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "receipt: entry %u of a batch of "
				       "%u with a %u-step proof", r->index, r->count, r->path_len);
	for (size_t i = 0; i < r->path_len; i++)
		shelter_rbuf_get_bytes(&b, r->path[i], FR_HASH);
	if (b.bad)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "receipt: proof cut short");
	rc = fr_entry_decode(entry, &r->entry, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "receipt");
	*used = size - b.left;
	return 0;
}

int fr_receipt_verify(const struct fr_receipt *r, struct shelter_err *err)
{
	return fr_receipt_verify_cached(r, NULL, err);
}

/* The cache key of a signature check, and its slot. */
static int sig_key(const uint8_t pub[FR_PUB], const uint8_t msg[FR_MSG_SIZE],
		   const uint8_t sig[FR_SIG], uint8_t key[FR_HASH], size_t *slot)
{
	uint8_t m[FR_PUB + FR_MSG_SIZE + FR_SIG];

	memcpy(m, pub, FR_PUB);
	memcpy(m + FR_PUB, msg, FR_MSG_SIZE);
	memcpy(m + FR_PUB + FR_MSG_SIZE, sig, FR_SIG);
	if (hash(m, sizeof(m), key) < 0)
		return SHELTER_E_INTERNAL;
	*slot = (size_t)(shelter_load_be(key, 4) % FR_SIGCACHE_SLOTS);
	return 0;
}

/* The message a receipt's signature covers: its batch's root climbed from the entry. */
static int receipt_signed_msg(const struct fr_receipt *r, uint8_t msg[FR_MSG_SIZE],
			      struct shelter_err *err)
{
	uint8_t leaf[FR_HASH], root[FR_HASH];
	int rc = fr_leaf_hash(&r->entry, leaf);

	if (rc == 0)
		rc = fr_merkle_climb(leaf, r->index, r->count, (const uint8_t (*)[FR_HASH])r->path,
				     r->path_len, root);
	if (rc == SHELTER_E_MALFORMED)
		return shelter_err_set(err, rc, "receipt: the inclusion proof does not fit entry "
				       "%u of %u", r->index, r->count);
	if (rc < 0)
		return shelter_err_set(err, rc, "receipt: hashing failed");
	fr_receipt_msg(r->kind, r->view, r->nonce, r->count, root, msg);
	return 0;
}

static int batch_root(const struct fr_batch *b, uint8_t root[FR_HASH]);

/* Whether cache already holds r's signature (no verification otherwise). */
static int receipt_cached(const struct fr_receipt *r, const struct fr_sigcache *cache)
{
	uint8_t msg[FR_MSG_SIZE], key[FR_HASH];
	size_t slot = 0;

	return cache != NULL && receipt_signed_msg(r, msg, NULL) == 0 &&
	       sig_key(r->pub, msg, r->sig, key, &slot) == 0 &&
	       memcmp(cache->seen[slot], key, FR_HASH) == 0;
}

int fr_batch_head(const struct fr_batch *b, struct fr_sighead *h)
{
	int rc = batch_root(b, h->root);

	h->kind = b->kind;
	memcpy(h->view, b->view, FR_HASH);
	memcpy(h->nonce, b->nonce, FR_HASH);
	h->count = b->count;
	memcpy(h->pub, b->pub, FR_PUB);
	memcpy(h->sig, b->sig, FR_SIG);
	return rc;
}

int fr_sigcache_learn(struct fr_sigcache *cache, const struct fr_sighead *h,
		      struct shelter_err *err)
{
	uint8_t msg[FR_MSG_SIZE], key[FR_HASH];
	size_t slot = 0;

	fr_receipt_msg(h->kind, h->view, h->nonce, h->count, h->root, msg);
	if (shelter_ed25519_verify(h->pub, msg, sizeof(msg), h->sig, NULL) < 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "batch head: bad signature");
	if (sig_key(h->pub, msg, h->sig, key, &slot) < 0)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "batch head: hashing failed");
	memcpy(cache->seen[slot], key, FR_HASH);
	return 0;
}

int fr_sigcache_add_batch(struct fr_sigcache *cache, const struct fr_batch *b)
{
	uint8_t root[FR_HASH], msg[FR_MSG_SIZE], key[FR_HASH];
	size_t slot = 0;
	int rc = batch_root(b, root);

	if (rc == 0) {
		fr_receipt_msg(b->kind, b->view, b->nonce, b->count, root, msg);
		rc = sig_key(b->pub, msg, b->sig, key, &slot);
	}
	if (rc == 0)
		memcpy(cache->seen[slot], key, FR_HASH);
	return rc;
}

int fr_receipt_verify_cached(const struct fr_receipt *r, struct fr_sigcache *cache,
			     struct shelter_err *err)
{
	uint8_t msg[FR_MSG_SIZE], key[FR_HASH];
	size_t slot = 0;
	int rc = receipt_signed_msg(r, msg, err);

	if (rc < 0)
		return rc;
	if (cache != NULL && sig_key(r->pub, msg, r->sig, key, &slot) == 0 &&
	    memcmp(cache->seen[slot], key, FR_HASH) == 0)
		return 0;
	rc = shelter_ed25519_verify(r->pub, msg, sizeof(msg), r->sig, NULL);
	if (rc < 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "receipt: bad signature");
	if (cache != NULL && sig_key(r->pub, msg, r->sig, key, &slot) == 0)
		memcpy(cache->seen[slot], key, FR_HASH);
	return 0;
}

/* ---- §3.3 views ---- */

static int view_check(const struct fr_view *v, struct shelter_err *err)
{
	uint8_t any = 0;

	if (v->n == 0 || v->n > FR_VIEW_MAX || v->n % 2 == 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "view %" PRIu64 ": %u endorsers "
				       "(want an odd number from 1 to %d)", v->number, v->n,
				       FR_VIEW_MAX);
	for (unsigned i = 0; i < v->n; i++) {
		if (i > 0 && memcmp(v->keys[i - 1], v->keys[i], FR_PUB) >= 0)
			return shelter_err_set(err, SHELTER_E_MALFORMED, "view %" PRIu64 ": endorser "
					       "keys not in ascending order at %u", v->number, i);
		if (v->quote_len[i] == 0 || v->quote_len[i] > FR_QUOTE_MAX)
			return shelter_err_set(err, SHELTER_E_MALFORMED, "view %" PRIu64 ": quote %u "
					       "is %u bytes", v->number, i, v->quote_len[i]);
	}
	for (size_t i = 0; i < FR_HASH; i++)
		any |= v->prev[i];
	if ((v->number == 0) != (any == 0))
		return shelter_err_set(err, SHELTER_E_MALFORMED, "view %" PRIu64 ": %s", v->number,
				       v->number == 0 ? "the genesis names a predecessor"
						      : "no predecessor named");
	return 0;
}

int fr_view_encode(struct fr_view *v, uint8_t **out, size_t *size, struct shelter_err *err)
{
	size_t total = sizeof(VIEW_DOMAIN) + 8 + FR_HASH + 1;
	struct shelter_wbuf w;
	uint8_t *buf;
	int rc = view_check(v, err);

	*out = NULL;
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < v->n; i++)
		total += FR_PUB + 4 + v->quote_len[i];
	buf = malloc(total);
	if (buf == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "view: out of memory");
	shelter_wbuf_init(&w, buf, total);
	shelter_wbuf_put_bytes(&w, VIEW_DOMAIN, sizeof(VIEW_DOMAIN));
	shelter_wbuf_put_be(&w, v->number, 8);
	shelter_wbuf_put_bytes(&w, v->prev, FR_HASH);
	shelter_wbuf_put_be(&w, v->n, 1);
	for (unsigned i = 0; i < v->n; i++) {
		shelter_wbuf_put_bytes(&w, v->keys[i], FR_PUB);
		shelter_wbuf_put_be(&w, v->quote_len[i], 4);
		shelter_wbuf_put_bytes(&w, v->quotes[i], v->quote_len[i]);
	}
	if (hash(buf, total, v->digest) < 0) {
		free(buf);
		return shelter_err_set(err, SHELTER_E_INTERNAL, "view: hashing failed");
	}
	*out = buf;
	*size = total;
	return 0;
}

int fr_view_decode(const uint8_t *in, size_t size, struct fr_view *v, struct shelter_err *err)
{
	struct shelter_rbuf b;
	const uint8_t *domain;

	memset(v, 0, sizeof(*v));
	shelter_rbuf_init(&b, in, size);
	domain = shelter_rbuf_take(&b, sizeof(VIEW_DOMAIN));
	if (domain == NULL || memcmp(domain, VIEW_DOMAIN, sizeof(VIEW_DOMAIN)) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "not a view (bad domain string)");
	v->number = shelter_rbuf_u64(&b);
	shelter_rbuf_get_bytes(&b, v->prev, FR_HASH);
	v->n = shelter_rbuf_u8(&b);
	for (unsigned i = 0; i < v->n && i < FR_VIEW_MAX && !b.bad; i++) {
		shelter_rbuf_get_bytes(&b, v->keys[i], FR_PUB);
		v->quote_len[i] = shelter_rbuf_u32(&b);
		v->quotes[i] = v->quote_len[i] <= FR_QUOTE_MAX
				       ? shelter_rbuf_take(&b, v->quote_len[i]) : NULL;
		if (v->quotes[i] == NULL)
			b.bad = 1;
	}
	if (b.bad || (v->n <= FR_VIEW_MAX && b.left != 0))
		return shelter_err_set(err, SHELTER_E_MALFORMED, "view: %s", b.bad ? "cut short"
										   : "trailing bytes");
	if (view_check(v, err) < 0)
		return SHELTER_E_MALFORMED;
	if (hash(in, size, v->digest) < 0)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "view: hashing failed");
	return 0;
}

int fr_view_member(const struct fr_view *v, const uint8_t key[FR_PUB])
{
	for (unsigned i = 0; i < v->n && i < FR_VIEW_MAX; i++)
		if (memcmp(v->keys[i], key, FR_PUB) == 0)
			return (int)i;
	return -1;
}

int fr_endorser_report_data(const uint8_t pub[FR_PUB], uint8_t out[64])
{
	uint8_t m[sizeof(ENDORSER_DOMAIN) + FR_PUB];

	memcpy(m, ENDORSER_DOMAIN, sizeof(ENDORSER_DOMAIN));
	memcpy(m + sizeof(ENDORSER_DOMAIN), pub, FR_PUB);
	memset(out + FR_HASH, 0, 64 - FR_HASH);
	return hash(m, sizeof(m), out);
}

/* ---- §3.4 certificates ---- */

int fr_cert_check(const struct fr_view *v, const struct fr_receipt *rs, size_t count,
		  const uint8_t handle[FR_HASH], uint64_t height, const uint8_t tail[FR_HASH],
		  struct shelter_err *err)
{
	return fr_cert_check_cached(v, rs, count, handle, height, tail, NULL, err);
}

int fr_cert_check_cached(const struct fr_view *v, const struct fr_receipt *rs, size_t count,
			 const uint8_t handle[FR_HASH], uint64_t height,
			 const uint8_t tail[FR_HASH], struct fr_sigcache *cache,
			 struct shelter_err *err)
{
	uint32_t seen = 0; /* members already counted, by index */
	unsigned have = 0, need = fr_view_f(v) + 1;

	/* two passes: signatures the cache holds first (free), then the others verified,
	 * so an endorser checking a certificate that holds its own receipt verifies f */
	for (int pass = cache == NULL; pass < 2; pass++) {
		for (size_t i = 0; i < count && have < need; i++) {
			const struct fr_receipt *r = &rs[i];
			int m = fr_view_member(v, r->pub);

			if (m < 0 || (seen & (1u << m)) ||
			    (r->kind != FR_KIND_APPEND && r->kind != FR_KIND_INIT) ||
			    memcmp(r->view, v->digest, FR_HASH) != 0 || r->entry.height != height ||
			    memcmp(r->entry.handle, handle, FR_HASH) != 0 ||
			    memcmp(r->entry.tail, tail, FR_HASH) != 0 ||
			    (pass == 0 ? !receipt_cached(r, cache)
				       : fr_receipt_verify_cached(r, cache, NULL) < 0))
				continue;
			seen |= 1u << m;
			have++;
		}
	}
	if (have < need)
		return shelter_err_set(err, SHELTER_E_UNTRUSTED, "certificate of height %" PRIu64
				       ": %u of the %u receipts view %" PRIu64 " needs", height,
				       have, need, v->number);
	return 0;
}

/* ---- §8 batches ---- */

void fr_batch_free(struct fr_batch *b)
{
	if (b == NULL)
		return;
	free(b->entries);
	b->entries = NULL;
	b->count = 0;
}

/* The root of a batch's entries; leaves hashed into a malloc'd array. */
static int batch_root(const struct fr_batch *b, uint8_t root[FR_HASH])
{
	uint8_t (*leaves)[FR_HASH];
	int rc = 0;

	if (b->count > FR_BATCH_MAX)
		return SHELTER_E_MALFORMED;
	leaves = malloc((size_t)(b->count ? b->count : 1) * FR_HASH);
	if (leaves == NULL)
		return SHELTER_E_NOMEM;
	for (uint32_t i = 0; i < b->count && rc == 0; i++)
		rc = fr_leaf_hash(&b->entries[i], leaves[i]);
	if (rc == 0)
		rc = fr_merkle_root((const uint8_t (*)[FR_HASH])leaves, b->count, root);
	free(leaves);
	return rc;
}

int fr_batch_sign_with(struct fr_batch *b, struct shelter_signer *key, struct shelter_err *err)
{
	uint8_t root[FR_HASH], msg[FR_MSG_SIZE];
	int rc = batch_root(b, root);

	if (rc < 0)
		return shelter_err_set(err, rc, "sign a batch of %u entries", b->count);
	fr_receipt_msg(b->kind, b->view, b->nonce, b->count, root, msg);
	shelter_signer_public(key, b->pub);
	return shelter_signer_sign(key, msg, sizeof(msg), b->sig, err);
}

int fr_batch_sign(struct fr_batch *b, const uint8_t priv[SHELTER_ED25519_PRIV_SIZE],
		  struct shelter_err *err)
{
	struct shelter_signer *key = NULL;
	int rc = shelter_signer_new(priv, &key, err);

	if (rc == 0)
		rc = fr_batch_sign_with(b, key, err);
	shelter_signer_free(key);
	return rc;
}

int fr_batch_verify(const struct fr_batch *b, struct shelter_err *err)
{
	uint8_t root[FR_HASH], msg[FR_MSG_SIZE];
	int rc = batch_root(b, root);

	if (rc < 0)
		return shelter_err_set(err, rc, "batch of %u entries", b->count);
	fr_receipt_msg(b->kind, b->view, b->nonce, b->count, root, msg);
	if (shelter_ed25519_verify(b->pub, msg, sizeof(msg), b->sig, NULL) < 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "batch: bad signature");
	return 0;
}

/* Everything of entry index's receipt but its proof. */
static void receipt_of(const struct fr_batch *b, uint32_t index, struct fr_receipt *r)
{
	r->kind = b->kind;
	memcpy(r->view, b->view, FR_HASH);
	memcpy(r->nonce, b->nonce, FR_HASH);
	r->count = b->count;
	memcpy(r->pub, b->pub, FR_PUB);
	memcpy(r->sig, b->sig, FR_SIG);
	r->entry = b->entries[index];
	r->index = index;
}

int fr_batch_receipt(const struct fr_batch *b, uint32_t index, struct fr_receipt *r,
		     struct shelter_err *err)
{
	uint8_t (*leaves)[FR_HASH];
	size_t len = 0;
	int rc = 0;

	if (index >= b->count || b->count > FR_BATCH_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "receipt %u of a batch of %u", index,
				       b->count);
	leaves = malloc((size_t)b->count * FR_HASH);
	if (leaves == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "receipt: out of memory");
	for (uint32_t i = 0; i < b->count && rc == 0; i++)
		rc = fr_leaf_hash(&b->entries[i], leaves[i]);
	memset(r, 0, sizeof(*r));
	if (rc == 0)
		rc = fr_merkle_path((const uint8_t (*)[FR_HASH])leaves, b->count, index, r->path,
				    &len);
	free(leaves);
	if (rc < 0)
		return shelter_err_set(err, rc, "receipt %u: hashing failed", index);
	receipt_of(b, index, r);
	r->path_len = (uint8_t)len;
	return 0;
}

/* Fill the proofs of leaves [lo, hi) bottom-up, RFC 9162 §2.1.3.1 for every leaf at
 * once: each subtree appends its sibling's root to the paths below it. */
static int all_paths(const uint8_t (*leaves)[FR_HASH], size_t lo, size_t hi,
		     struct fr_receipt *r, uint8_t root[FR_HASH])
{
	uint8_t l[FR_HASH], rr[FR_HASH];
	size_t k;
	int rc;

	if (hi - lo == 1) {
		memcpy(root, leaves[lo], FR_HASH);
		return 0;
	}
	k = split_point(hi - lo);
	rc = all_paths(leaves, lo, lo + k, r, l);
	if (rc == 0)
		rc = all_paths(leaves, lo + k, hi, r, rr);
	for (size_t i = lo; i < hi && rc == 0; i++) {
		if (r[i].path_len >= FR_PATH_MAX)
			return SHELTER_E_INTERNAL;
		memcpy(r[i].path[r[i].path_len++], i < lo + k ? rr : l, FR_HASH);
	}
	return rc == 0 ? node_hash(l, rr, root) : rc;
}

int fr_batch_receipts(const struct fr_batch *b, struct fr_receipt *out, struct shelter_err *err)
{
	uint8_t (*leaves)[FR_HASH], root[FR_HASH];
	int rc = 0;

	if (b->count == 0 || b->count > FR_BATCH_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "receipts of a batch of %u", b->count);
	leaves = malloc((size_t)b->count * FR_HASH);
	if (leaves == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "receipts: out of memory");
	for (uint32_t i = 0; i < b->count && rc == 0; i++) {
		rc = fr_leaf_hash(&b->entries[i], leaves[i]);
		receipt_of(b, i, &out[i]);
		out[i].path_len = 0;
	}
	if (rc == 0)
		rc = all_paths((const uint8_t (*)[FR_HASH])leaves, 0, b->count, out, root);
	free(leaves);
	return rc < 0 ? shelter_err_set(err, rc, "receipts: hashing failed") : 0;
}

#define BATCH_FIXED (1 + FR_HASH + FR_HASH + 4 + FR_PUB + FR_SIG)

int fr_batch_encode(const struct fr_batch *b, uint8_t **out, size_t *size,
		    struct shelter_err *err)
{
	size_t total = BATCH_FIXED + (size_t)b->count * FR_ENTRY_SIZE;
	struct shelter_wbuf w;
	uint8_t *buf = malloc(total);

	*out = NULL;
	if (buf == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "batch: out of memory");
	shelter_wbuf_init(&w, buf, total);
	shelter_wbuf_put_be(&w, b->kind, 1);
	shelter_wbuf_put_bytes(&w, b->view, FR_HASH);
	shelter_wbuf_put_bytes(&w, b->nonce, FR_HASH);
	shelter_wbuf_put_be(&w, b->count, 4);
	for (uint32_t i = 0; i < b->count; i++)
		fr_entry_encode(&b->entries[i], shelter_wbuf_take(&w, FR_ENTRY_SIZE));
	shelter_wbuf_put_bytes(&w, b->pub, FR_PUB);
	shelter_wbuf_put_bytes(&w, b->sig, FR_SIG);
	*out = buf;
	*size = total;
	return 0;
}

int fr_batch_decode(const uint8_t *in, size_t size, uint32_t max, struct fr_batch *b,
		    size_t *used, struct shelter_err *err)
{
	struct shelter_rbuf r;
	int rc = 0;

	memset(b, 0, sizeof(*b));
	shelter_rbuf_init(&r, in, size);
	b->kind = shelter_rbuf_u8(&r);
	shelter_rbuf_get_bytes(&r, b->view, FR_HASH);
	shelter_rbuf_get_bytes(&r, b->nonce, FR_HASH);
	b->count = shelter_rbuf_u32(&r);
	if (r.bad)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "batch: cut short");
	if (b->kind < FR_KIND_APPEND || b->kind > FR_KIND_INIT)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "batch: unknown kind %u", b->kind);
	if (b->count > max || b->count > FR_BATCH_MAX || r.left / FR_ENTRY_SIZE < b->count)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "batch: %u entries (%zu bytes "
				       "left, at most %u)", b->count, r.left, max);
	b->entries = malloc((size_t)(b->count ? b->count : 1) * sizeof(*b->entries));
	if (b->entries == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "batch: out of memory");
	for (uint32_t i = 0; i < b->count && rc == 0; i++)
		rc = fr_entry_decode(shelter_rbuf_take(&r, FR_ENTRY_SIZE), &b->entries[i], err);
	shelter_rbuf_get_bytes(&r, b->pub, FR_PUB);
	shelter_rbuf_get_bytes(&r, b->sig, FR_SIG);
	if (rc == 0 && r.bad)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "batch: signature cut short");
	if (rc < 0) {
		fr_batch_free(b);
		return rc;
	}
	*used = size - r.left;
	return 0;
}
