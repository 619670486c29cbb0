/* Sparse chunk map: see chunkmap.h. */
#include <stdlib.h>
#include <string.h>

#include "shelter/error.h"
#include "volume/chunkmap.h"

#define FAN 256u
#define MAX_HEIGHT 5u /* 40 bits */

struct leaf {
	uint32_t cap;
	struct vs_chunk e[];
};

struct inner {
	void *child[FAN];
};

static unsigned shift(unsigned h)
{
	return 8 * (h - 1);
}

static uint64_t span(unsigned h)
{
	return h >= 8 ? UINT64_MAX : (uint64_t)1 << (8 * h);
}

const struct vs_chunk *vs_cm_get(const struct vs_chunkmap *m, uint64_t i)
{
	const void *node = m->root;
	const struct leaf *l;
	unsigned j;

	if (m->height == 0 || i >= span(m->height))
		return NULL;
	for (unsigned h = m->height; h > 1 && node != NULL; h--)
		node = ((const struct inner *)node)->child[(i >> shift(h)) & (FAN - 1)];
	l = node;
	j = (unsigned)(i & (FAN - 1));
	if (l == NULL || j >= l->cap || l->e[j].seq == 0)
		return NULL;
	return &l->e[j];
}

static int leaf_fit(void **slot, unsigned j)
{
	struct leaf *l = *slot, *n;
	uint32_t cap = l ? l->cap : 0, want = 4;

	if (j < cap)
		return 0;
	while (want <= j)
		want *= 2;
	n = realloc(l, sizeof(*n) + want * sizeof(n->e[0]));
	if (n == NULL)
		return SHELTER_E_NOMEM;
	memset(&n->e[cap], 0, (want - cap) * sizeof(n->e[0]));
	n->cap = want;
	*slot = n;
	return 0;
}

int vs_cm_reserve(struct vs_chunkmap *m, uint64_t i)
{
	void **slot;

	if (m->height == 0)
		m->height = 1;
	while (i >= span(m->height)) {
		struct inner *top;

		if (m->height == MAX_HEIGHT)
			return SHELTER_E_FBIG;
		top = calloc(1, sizeof(*top));
		if (top == NULL)
			return SHELTER_E_NOMEM;
		top->child[0] = m->root;
		m->root = top;
		m->height++;
	}
	slot = &m->root;
	for (unsigned h = m->height; h > 1; h--) {
		if (*slot == NULL && (*slot = calloc(1, sizeof(struct inner))) == NULL)
			return SHELTER_E_NOMEM;
		slot = &((struct inner *)*slot)->child[(i >> shift(h)) & (FAN - 1)];
	}
	return leaf_fit(slot, (unsigned)(i & (FAN - 1)));
}

int vs_cm_set(struct vs_chunkmap *m, uint64_t i, struct vs_chunk loc)
{
	void *node;
	struct vs_chunk *e;
	int rc = vs_cm_reserve(m, i);

	if (rc < 0)
		return rc;
	node = m->root;
	for (unsigned h = m->height; h > 1; h--)
		node = ((struct inner *)node)->child[(i >> shift(h)) & (FAN - 1)];
	e = &((struct leaf *)node)->e[i & (FAN - 1)];
	if (e->seq == 0)
		m->stored++;
	*e = loc;
	return 0;
}

/* Clear entries >= first in the subtree of height h starting at chunk base;
 * returns how many stored entries it removed and frees emptied nodes. */
static uint64_t clear(void **slot, unsigned h, uint64_t base, uint64_t first)
{
	uint64_t removed = 0;

	if (*slot == NULL || base + span(h) <= first)
		return 0;
	if (h == 1) {
		struct leaf *l = *slot;

		for (uint32_t j = 0; j < l->cap; j++) {
			if (base + j >= first && l->e[j].seq != 0) {
				l->e[j].seq = 0;
				removed++;
			}
		}
		if (base >= first) {
			free(l);
			*slot = NULL;
		}
		return removed;
	}
	for (unsigned c = 0; c < FAN; c++)
		removed += clear(&((struct inner *)*slot)->child[c], h - 1,
				 base + c * span(h - 1), first);
	if (base >= first) {
		free(*slot);
		*slot = NULL;
	}
	return removed;
}

void vs_cm_clear_from(struct vs_chunkmap *m, uint64_t first)
{
	if (m->height == 0)
		return;
	m->stored -= clear(&m->root, m->height, 0, first);
	if (m->root == NULL)
		m->height = 0;
}

static int next(const void *node, unsigned h, uint64_t base, uint64_t from, uint64_t *out)
{
	if (node == NULL || base + span(h) <= from)
		return 0;
	if (h == 1) {
		const struct leaf *l = node;

		for (uint32_t j = from > base ? (uint32_t)(from - base) : 0; j < l->cap; j++) {
			if (l->e[j].seq != 0) {
				*out = base + j;
				return 1;
			}
		}
		return 0;
	}
	for (unsigned c = 0; c < FAN; c++)
		if (next(((const struct inner *)node)->child[c], h - 1, base + c * span(h - 1),
			 from, out))
			return 1;
	return 0;
}

int vs_cm_next(const struct vs_chunkmap *m, uint64_t from, uint64_t *out)
{
	return m->height != 0 && next(m->root, m->height, 0, from, out);
}

static void free_node(void *node, unsigned h)
{
	if (node == NULL)
		return;
	for (unsigned c = 0; h > 1 && c < FAN; c++)
		free_node(((struct inner *)node)->child[c], h - 1);
	free(node);
}

void vs_cm_free(struct vs_chunkmap *m)
{
	if (m->height != 0)
		free_node(m->root, m->height);
	memset(m, 0, sizeof(*m));
}
