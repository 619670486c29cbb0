/* The in-memory state a replay of the log builds (docs/formats/volume.md §7):
 * inodes, directories and the location of every live chunk. No I/O, no crypto.
 * Internal to libshelter. */
#ifndef SHELTER_VOLUME_STATE_H
#define SHELTER_VOLUME_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"
#include "volume/chunkmap.h"
#include "volume/format.h"

#define VS_ROOT_INO 1u


struct vs_dirent {
	char *name;
	uint64_t ino;
};

struct vs_inode {
	uint64_t ino;
	uint8_t type;          /* enum shelter_file_type */
	uint32_t mode;
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint64_t parent;       /* 0 when unlinked */
	char *name;            /* entry name in parent; NULL for root and orphans */
	struct vs_chunkmap chunks;
	struct vs_dirent *ents; /* directories: sorted by name */
	size_t nents, cap_ents;
	char *target;          /* symlinks */
	uint32_t opens;        /* handles open in this process */
};

struct vs_state {
	struct vs_inode **slots;
	size_t cap, count;
};

int vs_init(struct vs_state *s, int64_t now_ns);
void vs_free(struct vs_state *s);
struct vs_inode *vs_get(const struct vs_state *s, uint64_t ino);

/* Apply a metadata operation carried by record seq (§7.1). Fails with
 * SHELTER_E_INTEGRITY when the operation does not fit the state, which an
 * authenticated log never does. */
int vs_apply_meta(struct vs_state *s, uint64_t seq, const struct vf_meta *m,
		  struct shelter_err *err);

/* §10.4: a checkpoint NODE: create the inode, or, when this process already has it
 * (it followed the same history), check it matches and take its attributes. */
int vs_apply_node(struct vs_state *s, const struct vf_meta *m, struct shelter_err *err);

/* Record that chunk `chunk` of ino now lives at loc (§7.2). */
int vs_apply_data(struct vs_state *s, uint64_t ino, uint64_t chunk, struct vs_chunk loc,
		  struct shelter_err *err);

/* §10.4 resync: move every inode of old that this process has open into fresh,
 * keeping the objects (handles point to them) and taking fresh's contents where
 * fresh has the same inode; the rest stay as orphans. */
int vs_carry_open(struct vs_state *old, struct vs_state *fresh);

/* Drop an orphan (unlinked, no longer open) inode. */
void vs_release(struct vs_state *s, struct vs_inode *ino);

/* Resolve a path (see volume.h for the rules). On success *out is the inode; with
 * want_parent, *out is the parent directory and *leaf and *leaf_len the final name. */
int vs_lookup(const struct vs_state *s, const char *path, struct vs_inode **out,
	      struct shelter_err *err);
int vs_lookup_parent(const struct vs_state *s, const char *path, struct vs_inode **parent,
		     const char **leaf, size_t *leaf_len, struct shelter_err *err);
struct vs_dirent *vs_dir_find(const struct vs_inode *dir, const char *name, size_t len);

/* Reconstruct "a/b/c" for messages; "(unlinked file N)" for orphans. */
void vs_path(const struct vs_state *s, uint64_t ino, char *buf, size_t size);

#endif
