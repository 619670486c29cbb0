/* RFC 9162 §2.1 Merkle tree hashing, proofs and their verification
 * (docs/formats/log.md §2). Proofs are built from complete-subtree hashes that the
 * caller supplies (the store reads them from its hash tiles, §6.2). */
#include <string.h>

#include <openssl/crypto.h>

#include "log/internal.h"
#include "shelter/crypto.h"

int lg_hasher_init(struct lg_hasher *h, struct shelter_err *err)
{
	h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	h->ctx = EVP_MD_CTX_new();
	if (h->md == NULL || h->ctx == NULL) {
		lg_hasher_free(h);
		return shelter_err_set(err, SHELTER_E_CRYPTO, "log: cannot set up SHA-256");
	}
	return 0;
}

void lg_hasher_free(struct lg_hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
	h->ctx = NULL;
	h->md = NULL;
}

static int hash2(struct lg_hasher *h, uint8_t prefix, const void *a, size_t a_size,
		 const void *b, size_t b_size, uint8_t out[LG_HASH])
{
	if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1 ||
	    EVP_DigestUpdate(h->ctx, &prefix, 1) != 1 ||
	    (a_size > 0 && EVP_DigestUpdate(h->ctx, a, a_size) != 1) ||
	    (b_size > 0 && EVP_DigestUpdate(h->ctx, b, b_size) != 1) ||
	    EVP_DigestFinal_ex(h->ctx, out, NULL) != 1)
		return SHELTER_E_CRYPTO;
	return 0;
}

int lg_leaf(struct lg_hasher *h, const void *entry, size_t size, uint8_t out[LG_HASH])
{
	return hash2(h, 0x00, entry, size, NULL, 0, out);
}

int lg_node(struct lg_hasher *h, const uint8_t l[LG_HASH], const uint8_t r[LG_HASH],
	    uint8_t out[LG_HASH])
{
	return hash2(h, 0x01, l, LG_HASH, r, LG_HASH, out);
}

/* The largest power of two strictly below n (n >= 2). */
static uint64_t split(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

static int is_pow2(uint64_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

static unsigned log2u(uint64_t n)
{
	return 63u - (unsigned)__builtin_clzll(n);
}

/* MTH(D[start:end]); start is a multiple of every power of two the split makes,
 * which holds for every range PATH and PROOF recurse into (RFC 9162 §2.1.1). */
static int range_hash(const struct lg_tree_src *src, uint64_t start, uint64_t end,
		      uint8_t out[LG_HASH], struct shelter_err *err)
{
	uint64_t n = end - start, k;
	uint8_t l[LG_HASH], r[LG_HASH];
	int rc;

	if (is_pow2(n) && start % n == 0)
		return src->node(src->ctx, log2u(n), start / n, out, err);
	k = split(n);
	rc = range_hash(src, start, start + k, l, err);
	if (rc == 0)
		rc = range_hash(src, start + k, end, r, err);
	if (rc == 0 && lg_node(src->hasher, l, r, out) != 0)
		rc = shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
	return rc;
}

int lg_root(const struct lg_tree_src *src, uint64_t n, uint8_t out[LG_HASH],
	    struct shelter_err *err)
{
	if (n == 0) {
		if (EVP_Digest("", 0, out, NULL, src->hasher->md, NULL) != 1)
			return shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
		return 0;
	}
	return range_hash(src, 0, n, out, err);
}

/* RFC 9162 §2.1.3.1 PATH(m, D[start:end]), sub-paths first. */
static int path(const struct lg_tree_src *src, uint64_t m, uint64_t start, uint64_t end,
		uint8_t (*out)[LG_HASH], size_t *count, struct shelter_err *err)
{
	uint64_t n = end - start, k;
	int rc;

	if (n <= 1)
		return 0;
	k = split(n);
	if (m < k) {
		rc = path(src, m, start, start + k, out, count, err);
		if (rc == 0)
			rc = range_hash(src, start + k, end, out[(*count)++], err);
	} else {
		rc = path(src, m - k, start + k, end, out, count, err);
		if (rc == 0)
			rc = range_hash(src, start, start + k, out[(*count)++], err);
	}
	return rc;
}

int lg_prove_inclusion(const struct lg_tree_src *src, uint64_t index, uint64_t size,
		       uint8_t (*out)[LG_HASH], size_t *out_count, struct shelter_err *err)
{
	*out_count = 0;
	if (index >= size)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "log: inclusion of index %llu in a tree of %llu",
				       (unsigned long long)index, (unsigned long long)size);
	return path(src, index, 0, size, out, out_count, err);
}

/* RFC 9162 §2.1.4.1 SUBPROOF(m, D[start:end], b). */
static int subproof(const struct lg_tree_src *src, uint64_t m, uint64_t start, uint64_t end,
		    int b, uint8_t (*out)[LG_HASH], size_t *count, struct shelter_err *err)
{
	uint64_t n = end - start, k;
	int rc;

	if (m == n)
		return b ? 0 : range_hash(src, start, end, out[(*count)++], err);
	k = split(n);
	if (m <= k) {
		rc = subproof(src, m, start, start + k, b, out, count, err);
		if (rc == 0)
			rc = range_hash(src, start + k, end, out[(*count)++], err);
	} else {
		rc = subproof(src, m - k, start + k, end, 0, out, count, err);
		if (rc == 0)
			rc = range_hash(src, start, start + k, out[(*count)++], err);
	}
	return rc;
}

int lg_prove_consistency(const struct lg_tree_src *src, uint64_t m, uint64_t n,
			 uint8_t (*out)[LG_HASH], size_t *out_count, struct shelter_err *err)
{
	*out_count = 0;
	if (m > n)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "log: consistency from size %llu to the smaller %llu",
				       (unsigned long long)m, (unsigned long long)n);
	if (m == 0 || m == n)
		return 0;
	return subproof(src, m, 0, n, 1, out, out_count, err);
}

/* ---- the compact range (§6.2) ---- */

int lg_frontier_push(struct lg_frontier *f, struct lg_hasher *h, const uint8_t leaf[LG_HASH],
		     lg_emit_fn emit, void *ctx, struct shelter_err *err)
{
	uint64_t index = f->n;
	unsigned height = 0;
	int rc;

	if (f->count >= 64)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "log: tree full");
	memcpy(f->hash[f->count], leaf, LG_HASH);
	f->height[f->count++] = 0;
	if (emit != NULL && (rc = emit(ctx, 0, index, leaf, err)) != 0)
		return rc;
	/* Each carry of the binary counter n completes one subtree. */
	while (f->count >= 2 && f->height[f->count - 2] == f->height[f->count - 1]) {
		uint8_t *l = f->hash[f->count - 2];

		if (lg_node(h, l, f->hash[f->count - 1], l) != 0)
			return shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
		f->count--;
		height = ++f->height[f->count - 1];
		if (emit != NULL && (rc = emit(ctx, height, index >> height, l, err)) != 0)
			return rc;
	}
	f->n++;
	return 0;
}

int lg_frontier_root(const struct lg_frontier *f, struct lg_hasher *h, uint8_t out[LG_HASH])
{
	if (f->count == 0)
		return EVP_Digest("", 0, out, NULL, h->md, NULL) == 1 ? 0 : SHELTER_E_CRYPTO;
	memcpy(out, f->hash[f->count - 1], LG_HASH);
	for (unsigned i = f->count - 1; i > 0; i--) {
		if (lg_node(h, f->hash[i - 1], out, out) != 0)
			return SHELTER_E_CRYPTO;
	}
	return 0;
}

/* ---- verification (RFC 9162 §2.1.3.2, §2.1.4.2) ---- */

static size_t inclusion_len(uint64_t index, uint64_t size)
{
	size_t len = 0;

	while (size > 1) {
		uint64_t k = split(size);

		if (index < k) {
			size = k;
		} else {
			index -= k;
			size -= k;
		}
		len++;
	}
	return len;
}

static size_t consistency_len(uint64_t m, uint64_t n, int b)
{
	uint64_t k;

	if (m == n)
		return b ? 0 : 1;
	k = split(n);
	if (m <= k)
		return consistency_len(m, k, b) + 1;
	return consistency_len(m - k, n - k, 0) + 1;
}

int shelter_log_leaf_hash(const void *entry, size_t size, uint8_t out[SHELTER_LOG_HASH])
{
	struct lg_hasher h;
	int rc;

	if ((entry == NULL && size > 0) || out == NULL)
		return SHELTER_E_INVAL;
	if ((rc = lg_hasher_init(&h, NULL)) != 0)
		return rc;
	rc = lg_leaf(&h, entry, size, out);
	lg_hasher_free(&h);
	return rc;
}

int shelter_log_verify_inclusion(const uint8_t leaf[SHELTER_LOG_HASH], uint64_t index,
				 uint64_t size, const uint8_t (*proof)[SHELTER_LOG_HASH],
				 size_t count, const uint8_t root[SHELTER_LOG_HASH],
				 struct shelter_err *err)
{
	struct lg_hasher h;
	uint64_t fn = index, sn = size - 1;
	uint8_t r[LG_HASH];
	int rc;

	if (leaf == NULL || root == NULL || (proof == NULL && count > 0))
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	if (index >= size)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "log: inclusion of index %llu in a tree of %llu",
				       (unsigned long long)index, (unsigned long long)size);
	if (count != inclusion_len(index, size))
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "log: inclusion proof of %zu hashes, index %llu of %llu "
				       "needs %zu", count, (unsigned long long)index,
				       (unsigned long long)size, inclusion_len(index, size));
	if ((rc = lg_hasher_init(&h, err)) != 0)
		return rc;
	memcpy(r, leaf, LG_HASH);
	for (size_t i = 0; i < count && rc == 0; i++) {
		if (sn == 0) { /* a hash too many: fail, never skip it */
			sn = UINT64_MAX;
			break;
		}
		if ((fn & 1) || fn == sn) {
			rc = lg_node(&h, proof[i], r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			rc = lg_node(&h, r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	lg_hasher_free(&h);
	if (rc != 0)
		return shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
	if (sn != 0 || CRYPTO_memcmp(r, root, LG_HASH) != 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "log: inclusion proof of index %llu does not lead to the "
				       "root of size %llu", (unsigned long long)index,
				       (unsigned long long)size);
	return 0;
}

/* §2.1.4.2 steps 3 to 6, with fr and fs climbing from the proof's first hash. */
static int consistency_climb(struct lg_hasher *h, uint64_t m, uint64_t n,
			     const uint8_t (*proof)[LG_HASH], size_t count, uint8_t fr[LG_HASH],
			     uint8_t fs[LG_HASH], uint64_t *out_sn)
{
	uint64_t fn = m - 1, sn = n - 1;
	int rc = 0;

	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (size_t i = 0; i < count && rc == 0; i++) {
		if (sn == 0) { /* a hash too many: fail, never skip it */
			*out_sn = UINT64_MAX;
			return 0;
		}
		if ((fn & 1) || fn == sn) {
			rc = lg_node(h, proof[i], fr, fr);
			if (rc == 0)
				rc = lg_node(h, proof[i], fs, fs);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			rc = lg_node(h, fs, proof[i], fs);
		}
		fn >>= 1;
		sn >>= 1;
	}
	*out_sn = sn;
	return rc;
}

int shelter_log_verify_consistency(uint64_t m, uint64_t n,
				   const uint8_t (*proof)[SHELTER_LOG_HASH], size_t count,
				   const uint8_t root_m[SHELTER_LOG_HASH],
				   const uint8_t root_n[SHELTER_LOG_HASH], struct shelter_err *err)
{
	struct lg_hasher h;
	uint8_t fr[LG_HASH], fs[LG_HASH];
	uint64_t sn = 0;
	size_t want, skip;
	int rc;

	if (root_m == NULL || root_n == NULL || (proof == NULL && count > 0))
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	if (m > n)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "log: consistency from size %llu to the smaller %llu",
				       (unsigned long long)m, (unsigned long long)n);
	want = (m == 0 || m == n) ? 0 : consistency_len(m, n, 1);
	if (count != want)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "log: consistency proof of %zu hashes, %llu to %llu needs "
				       "%zu", count, (unsigned long long)m, (unsigned long long)n,
				       want);
	if (m == 0)
		return 0;
	if (m == n)
		return CRYPTO_memcmp(root_m, root_n, LG_HASH) == 0
			       ? 0
			       : shelter_err_set(err, SHELTER_E_INTEGRITY,
						 "log: two different roots at size %llu",
						 (unsigned long long)m);
	/* A power-of-two m is a complete subtree: its root starts the climb. */
	skip = is_pow2(m) ? 0 : 1;
	memcpy(fr, skip ? proof[0] : root_m, LG_HASH);
	memcpy(fs, fr, LG_HASH);
	if ((rc = lg_hasher_init(&h, err)) != 0)
		return rc;
	rc = consistency_climb(&h, m, n, proof + skip, count - skip, fr, fs, &sn);
	lg_hasher_free(&h);
	if (rc != 0)
		return shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
	if (sn != 0 || CRYPTO_memcmp(fr, root_m, LG_HASH) != 0 ||
	    CRYPTO_memcmp(fs, root_n, LG_HASH) != 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "log: the tree of size %llu does not extend the one of "
				       "size %llu", (unsigned long long)n, (unsigned long long)m);
	return 0;
}
