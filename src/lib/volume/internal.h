/* Shared between the volume library's files; not installed. */
#ifndef SHELTER_VOLUME_INTERNAL_H
#define SHELTER_VOLUME_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "shelter/volume.h"
#include "volume/format.h"
#include "volume/state.h"

#define VOL_HEADER_NAME "VOLUME"
#define VOL_LOCK_NAME "lock"
#define VOL_LOG_DIR "log"
#define VOL_SEG_DEFAULT (UINT64_C(256) << 20)
#define VOL_SEG_MIN (UINT64_C(64) << 10)
#define VOL_SEG_MAX (UINT64_C(1) << 30) /* record offsets are 32-bit (§4) */
#define VOL_WRITE_GROUP (1u << 20) /* bytes of one atomic write group, any alignment */
#define VOL_WINDOW (UINT64_C(4) << 20)
#define VOL_CACHE_MAX (UINT64_C(1) << 34) /* plaintext cache bytes (§7.4) */

struct vol_seg {
	uint64_t segno;
	uint64_t first_seq;
	int fd;
	struct shelter_aead *aead;
	uint64_t end;   /* bytes of complete groups (§5.3) */
	int sealed;
	int checkpoint; /* §10: holds a checkpoint, not records of the chain */
};

/* One record of a group, as replay and append both hand it to apply (§7). */
struct vol_item {
	uint8_t kind;
	uint64_t seq;
	uint64_t ino;
	uint64_t chunk;
	uint32_t off;
	uint32_t meta_off;  /* META: plaintext offset in the group's meta buffer */
	uint32_t meta_len;
};

struct vol_group {
	struct vol_item items[VF_GROUP_MAX];
	size_t count;
	uint8_t meta[VF_META_MAX * 4];
	size_t meta_used;
};

/* Problem reporting during verification (§9). */
struct vol_report {
	shelter_volume_problem_fn fn;
	void *ctx;
	int first;   /* kind of the first problem, 0 if none */
	int error_reported; /* the error open returns has been reported already */
};

/* §7.4: one slot of the plaintext chunk cache; seq 0 marks an empty slot. */
struct vol_cache_slot {
	uint64_t ino, chunk, seq, segno;
};

struct vol_cache {
	struct vol_cache_slot *slots; /* NULL: no cache */
	uint8_t *data;                /* (mask + 1) * VF_CHUNK bytes of plaintext */
	size_t mask;
	uint64_t hits, misses;        /* reads served from the cache or the log */
};

struct shelter_volume {
	pthread_mutex_t mu;
	char *dir;
	int dirfd;
	int logfd;
	struct vol_lockref *lref; /* shared by this process's handles (lock.c) */
	int readonly;    /* verify: never writes, never repairs */
	int poisoned;    /* the log no longer matches memory: refuse everything */
	int unlocked;    /* this operation runs without the record lock (§7.3) */
	struct vf_keys *keys;
	struct vf_header hdr;
	uint8_t hdr_raw[VF_HDR_SIZE];
	struct vol_seg *segs;
	size_t nsegs, cap_segs;
	uint64_t next_seq;
	uint8_t chain[SHELTER_SHA256_SIZE];
	uint64_t segment_size;
	struct vs_state st;
	struct vf_nonces nonces;  /* emptied in fork()ed children (lock.c) */
	/* append staging */
	uint8_t *wbuf;
	size_t wlen, wcap;
	struct vol_group *grp;
	struct vol_cache cache;
	/* replay scratch */
	uint8_t *window;
	uint8_t *scratch;
	/* open with an expected tag, and verify */
	const uint8_t *expect;
	int expect_seen;
	struct vol_report *report;
	uint64_t torn_bytes;
	/* §10.3: chain values at the latest group ends, oldest first from recent_head */
	uint8_t recent[VF_RECENT_MAX][SHELTER_SHA256_SIZE];
	uint32_t recent_count, recent_head;
	uint64_t base_segno;  /* first segment of the live log (1 or a checkpoint) */
	int adopt_fresh;      /* the checkpoint being loaded starts a new state (§10.4) */
};

int64_t vol_now_ns(void);

/* lock.c */
struct vol_lockref;
int vol_lock_attach(struct shelter_volume *v, int fd, struct shelter_err *err);
void vol_lock_detach(struct shelter_volume *v);
int vol_lock(struct shelter_volume *v, int exclusive, struct shelter_err *err);
void vol_unlock(struct shelter_volume *v);

/* log.c */
int vol_catch_up(struct shelter_volume *v, int writable, struct shelter_err *err);
int vol_load_segment(struct shelter_volume *v, uint64_t segno, struct shelter_err *err);
int vol_new_segment(struct shelter_volume *v, uint64_t segno, uint64_t first_seq,
		    int dirfd, struct shelter_err *err);
void vol_segs_free(struct shelter_volume *v);
int vol_begin(struct shelter_volume *v, size_t records, struct shelter_err *err);
int vol_emit_meta(struct shelter_volume *v, const struct vf_meta *m, int last,
		  struct shelter_err *err);
int vol_emit_data(struct shelter_volume *v, uint64_t ino, uint64_t chunk,
		  const uint8_t *pt, int last, struct shelter_err *err);
int vol_commit(struct shelter_volume *v, struct shelter_err *err);
int vol_read_chunk(struct shelter_volume *v, const struct vs_inode *n, uint64_t chunk,
		   uint8_t out[VF_CHUNK], struct shelter_err *err);
int vol_read_chunks(struct shelter_volume *v, const struct vs_inode *n, uint64_t first,
		    size_t count, uint8_t *out, struct shelter_err *err);
int vol_problem(struct shelter_volume *v, int kind, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void vol_seg_name(char *buf, size_t size, uint64_t segno);
int vol_seghdr_check(struct shelter_volume *v, const uint8_t *buf, size_t got,
		     struct vf_seghdr *sh, struct shelter_err *err);
int vol_pread_full(int fd, void *buf, size_t size, uint64_t off, size_t *out_got);
int vol_write_all(int fd, const uint8_t *buf, size_t size, uint64_t off);
int vol_seal(struct shelter_volume *v, int open_next, struct shelter_err *err);
void vol_recent_push(struct shelter_volume *v, const uint8_t chain[SHELTER_SHA256_SIZE]);

/* cache.c (§7.4): all under v->mu */
int vol_cache_init(struct vol_cache *c, uint64_t bytes);
void vol_cache_free(struct vol_cache *c);
/* 1 and the plaintext in out (NULL: only probe) when loc's record is cached. */
int vol_cache_get(struct shelter_volume *v, uint64_t ino, uint64_t chunk,
		  const struct vs_chunk *loc, uint8_t out[VF_CHUNK]);
/* Remember pt, just authenticated and decrypted from loc's record. */
void vol_cache_put(struct shelter_volume *v, uint64_t ino, uint64_t chunk,
		   const struct vs_chunk *loc, const uint8_t pt[VF_CHUNK]);

/* checkpoint.c */
int vol_find_start(struct shelter_volume *v, struct shelter_err *err);
int vol_resync(struct shelter_volume *v, struct shelter_err *err);
int vol_ckpt_load(struct shelter_volume *v, uint32_t segidx, struct shelter_err *err);
int vol_compact(struct shelter_volume *v, struct shelter_err *err);
int vol_cleanup(struct shelter_volume *v, struct shelter_err *err);
int vol_should_compact(const struct shelter_volume *v);
int vol_higher_segment_exists(struct shelter_volume *v, uint64_t segno);
/* "<16 lowercase hex>.seg" with a non-zero number */
int vol_parse_seg_name(const char *name, uint64_t *segno);

/* volume.c */
int vol_enter(struct shelter_volume *v, int exclusive, struct shelter_err *err);
void vol_leave(struct shelter_volume *v);
void vol_fill_stat(const struct vs_inode *n, struct shelter_stat *st);
int vol_set_size(struct shelter_volume *v, struct vs_inode *n, uint64_t size,
		 struct shelter_err *err);
int vol_create_node(struct shelter_volume *v, const char *path, uint8_t type, uint32_t mode,
		    const char *target, uint64_t *out_ino, struct shelter_err *err);
int vol_open_common(const char *dir, const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
		    const struct shelter_volume_options *opts, int readonly,
		    struct vol_report *report, struct shelter_volume **out,
		    struct shelter_err *err);

#endif
