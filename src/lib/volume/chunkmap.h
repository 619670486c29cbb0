/* A sparse map from chunk number (below 2^40) to where the chunk's record lives:
 * a radix tree of 256-way inner nodes over leaves of up to 256 entries that grow on
 * demand, so a one-chunk file costs 64 bytes and a write at offset 2^51 a handful
 * of nodes (docs/formats/volume.md §7.2). Internal to libshelter. */
#ifndef SHELTER_VOLUME_CHUNKMAP_H
#define SHELTER_VOLUME_CHUNKMAP_H

#include <stdint.h>

/* Where a chunk's latest record lives; seq 0 means a hole (zeros). */
struct vs_chunk {
	uint64_t seq;
	uint32_t seg;    /* index into the volume's segment table */
	uint32_t off;    /* record offset within the segment (normal segments) */
};

struct vs_chunkmap {
	void *root;
	unsigned height; /* 0: empty; h: covers chunks below 2^(8h) */
	uint64_t stored; /* entries with seq != 0 */
};

/* The entry for chunk i, or NULL for a hole. */
const struct vs_chunk *vs_cm_get(const struct vs_chunkmap *m, uint64_t i);
/* Make room for chunk i so that a following vs_cm_set cannot fail. */
int vs_cm_reserve(struct vs_chunkmap *m, uint64_t i);
/* Set chunk i (loc.seq != 0). 0 or SHELTER_E_NOMEM. */
int vs_cm_set(struct vs_chunkmap *m, uint64_t i, struct vs_chunk loc);
/* Turn every chunk >= first into a hole and free what no longer holds entries. */
void vs_cm_clear_from(struct vs_chunkmap *m, uint64_t first);
/* The first stored chunk >= from: 1 and *out, or 0 when there is none. */
int vs_cm_next(const struct vs_chunkmap *m, uint64_t from, uint64_t *out);
void vs_cm_free(struct vs_chunkmap *m);

#endif
