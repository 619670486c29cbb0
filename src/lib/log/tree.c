/* An in-memory RFC 9162 tree (docs/formats/log.md §2): every complete subtree's hash
 * kept, 64 bytes per leaf in all, so roots and proofs at any size cost O(log n). For
 * readers that rebuild a tree from entries (audit, export), not for the store. */
#include <stdlib.h>
#include <string.h>

#include "log/internal.h"

struct shelter_log_tree {
	struct lg_hasher h;
	struct lg_frontier f;
	uint8_t (*level[64])[LG_HASH]; /* level[h][k]: MTH of leaves k*2^h .. (k+1)*2^h-1 */
	uint64_t cap[64];
};

int shelter_log_tree_new(struct shelter_log_tree **out, struct shelter_err *err)
{
	struct shelter_log_tree *t;
	int rc;

	if (out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log tree: NULL argument");
	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "log tree");
	if ((rc = lg_hasher_init(&t->h, err)) != 0) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void shelter_log_tree_free(struct shelter_log_tree *t)
{
	if (t == NULL)
		return;
	for (unsigned i = 0; i < 64; i++)
		free(t->level[i]);
	lg_hasher_free(&t->h);
	free(t);
}

static int keep(void *ctx, unsigned height, uint64_t k, const uint8_t h[LG_HASH],
		struct shelter_err *err)
{
	struct shelter_log_tree *t = ctx;

	if (k >= t->cap[height]) {
		uint64_t cap = t->cap[height] ? t->cap[height] * 2 : 1024;
		void *p = realloc(t->level[height], cap * LG_HASH);

		if (p == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "log tree: %llu hashes",
					       (unsigned long long)cap);
		t->level[height] = p;
		t->cap[height] = cap;
	}
	memcpy(t->level[height][k], h, LG_HASH);
	return 0;
}

int shelter_log_tree_add(struct shelter_log_tree *t, const uint8_t leaf[SHELTER_LOG_HASH],
			 struct shelter_err *err)
{
	if (t == NULL || leaf == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log tree: NULL argument");
	return lg_frontier_push(&t->f, &t->h, leaf, keep, t, err);
}

uint64_t shelter_log_tree_size(const struct shelter_log_tree *t)
{
	return t != NULL ? t->f.n : 0;
}

static int node(void *ctx, unsigned height, uint64_t k, uint8_t out[LG_HASH],
		struct shelter_err *err)
{
	struct shelter_log_tree *t = ctx;

	if (height >= 64 || ((k + 1) << height) > t->f.n)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "log tree: no node %u/%llu",
				       height, (unsigned long long)k);
	memcpy(out, t->level[height][k], LG_HASH);
	return 0;
}

static int size_ok(const struct shelter_log_tree *t, uint64_t size, struct shelter_err *err)
{
	if (t == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log tree: NULL argument");
	if (size > t->f.n)
		return shelter_err_set(err, SHELTER_E_INVAL, "log tree: size %llu of %llu leaves",
				       (unsigned long long)size, (unsigned long long)t->f.n);
	return 0;
}

int shelter_log_tree_root(struct shelter_log_tree *t, uint64_t size,
			  uint8_t out[SHELTER_LOG_HASH], struct shelter_err *err)
{
	struct lg_tree_src src = { node, t, t != NULL ? &t->h : NULL };
	int rc = size_ok(t, size, err);

	return rc != 0 ? rc : lg_root(&src, size, out, err);
}

int shelter_log_tree_prove_inclusion(struct shelter_log_tree *t, uint64_t index, uint64_t size,
				     uint8_t (*out)[SHELTER_LOG_HASH], size_t *out_count,
				     struct shelter_err *err)
{
	struct lg_tree_src src = { node, t, t != NULL ? &t->h : NULL };
	int rc = size_ok(t, size, err);

	if (out_count != NULL)
		*out_count = 0;
	if (rc == 0 && (out == NULL || out_count == NULL))
		rc = shelter_err_set(err, SHELTER_E_INVAL, "log tree: NULL argument");
	return rc != 0 ? rc : lg_prove_inclusion(&src, index, size, out, out_count, err);
}

int shelter_log_tree_prove_consistency(struct shelter_log_tree *t, uint64_t m, uint64_t n,
				       uint8_t (*out)[SHELTER_LOG_HASH], size_t *out_count,
				       struct shelter_err *err)
{
	struct lg_tree_src src = { node, t, t != NULL ? &t->h : NULL };
	int rc = size_ok(t, n, err);

	if (out_count != NULL)
		*out_count = 0;
	if (rc == 0 && (out == NULL || out_count == NULL))
		rc = shelter_err_set(err, SHELTER_E_INVAL, "log tree: NULL argument");
	return rc != 0 ? rc : lg_prove_consistency(&src, m, n, out, out_count, err);
}

int lg_tree_leaf(const struct shelter_log_tree *t, uint64_t index, uint8_t out[LG_HASH])
{
	if (index >= t->f.n)
		return SHELTER_E_INVAL;
	memcpy(out, t->level[0][index], LG_HASH);
	return 0;
}
