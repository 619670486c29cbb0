/* The plaintext chunk cache (docs/formats/volume.md §7.4).
 *
 * Direct-mapped: chunk c of inode i lives in one slot, so the chunks of a file
 * fill consecutive slots and a file smaller than the cache never evicts itself.
 * An entry is keyed by what makes a record's plaintext unique: inode, chunk,
 * sequence number and segment number. The log is append-only and a completed
 * group is never rewritten (§7.3, §8.1), so a key that matches the chunk map's
 * current location is that record's authenticated plaintext, whoever wrote it and
 * whatever happened since; a newer write or a compaction gives the chunk a new
 * location, and the old entry simply stops matching. Callers hold v->mu. */
#include <stdlib.h>
#include <string.h>

#include "volume/internal.h"

int vol_cache_init(struct vol_cache *c, uint64_t bytes)
{
	size_t n = 1;

	memset(c, 0, sizeof(*c));
	if (bytes < VF_CHUNK)
		return 0;
	if (bytes > VOL_CACHE_MAX)
		bytes = VOL_CACHE_MAX;
	while (n * 2 * VF_CHUNK <= bytes)
		n *= 2;
	c->slots = calloc(n, sizeof(*c->slots));
	/* malloc of this size maps fresh zero pages: only slots used cost memory */
	c->data = malloc(n * VF_CHUNK);
	if (c->slots == NULL || c->data == NULL) {
		vol_cache_free(c);
		return SHELTER_E_NOMEM;
	}
	c->mask = n - 1;
	return 0;
}

void vol_cache_free(struct vol_cache *c)
{
	if (c->data != NULL) {
		/* only slots ever filled hold plaintext; wipe just those */
		for (size_t i = 0; i <= c->mask; i++)
			if (c->slots[i].seq != 0)
				shelter_wipe(c->data + i * VF_CHUNK, VF_CHUNK);
	}
	free(c->data);
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

static size_t slot_of(const struct vol_cache *c, uint64_t ino, uint64_t chunk)
{
	return (size_t)((chunk + ino * UINT64_C(0x9e3779b97f4a7c15)) & c->mask);
}

static int slot_matches(const struct vol_cache_slot *s, uint64_t ino, uint64_t chunk,
			uint64_t seq, uint64_t segno)
{
	return s->seq == seq && s->ino == ino && s->chunk == chunk && s->segno == segno;
}

int vol_cache_get(struct shelter_volume *v, uint64_t ino, uint64_t chunk,
		  const struct vs_chunk *loc, uint8_t out[VF_CHUNK])
{
	struct vol_cache *c = &v->cache;
	size_t i;

	if (c->data == NULL)
		return 0;
	i = slot_of(c, ino, chunk);
	if (!slot_matches(&c->slots[i], ino, chunk, loc->seq, v->segs[loc->seg].segno)) {
		c->misses += out != NULL;
		return 0;
	}
	if (out != NULL) {
		memcpy(out, c->data + i * VF_CHUNK, VF_CHUNK);
		c->hits++;
	}
	return 1;
}

void vol_cache_put(struct shelter_volume *v, uint64_t ino, uint64_t chunk,
		   const struct vs_chunk *loc, const uint8_t pt[VF_CHUNK])
{
	struct vol_cache *c = &v->cache;
	struct vol_cache_slot *s;
	size_t i;

	if (c->data == NULL)
		return;
	i = slot_of(c, ino, chunk);
	s = &c->slots[i];
	s->seq = loc->seq;
	s->ino = ino;
	s->chunk = chunk;
	s->segno = v->segs[loc->seg].segno;
	memcpy(c->data + i * VF_CHUNK, pt, VF_CHUNK);
}
