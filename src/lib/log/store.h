/* The writer's state, shared by store.c (open, scan, audit) and commit.c (group
 * commit, proofs, anchors). Internal. docs/formats/log.md §4 to §8. */
#ifndef SHELTER_LOG_STORE_H
#define SHELTER_LOG_STORE_H

#include <pthread.h>
#include <time.h>

#include "log/internal.h"

/* tile-0 .. tile-7 cover heights 0, 8, ..., 56 (§6.2). */
#define LG_LEVELS 8
/* Entries between flushes of the derived files during a scan. */
#define LG_FLUSH_ENTRIES 65536
/* Queued bytes that make an append lead a commit itself (§6.1). */
#define LG_QUEUE_MAX (8u << 20)

struct lg_tilebuf {
	uint64_t first; /* index of the first hash in buf within its tile file */
	uint8_t *buf;
	size_t used, cap;
};

/* Derived-file writes not yet flushed. */
struct lg_pending {
	uint64_t index_first;
	uint64_t *index;
	size_t index_used, index_cap;
	struct lg_tilebuf tile[LG_LEVELS];
};

struct lg_derived {
	int index;
	int tile[LG_LEVELS];
	struct lg_pending pend;
};

/* A pass over the frames of a log (§6.3, §8). */
struct lg_scan {
	struct lg_hasher *hasher;
	struct lg_derived *derived; /* NULL: audit, nothing written */
	const char *what;           /* "anchored" or "given": for messages */
	shelter_log_entry_fn cb;    /* shelter_log_read's reader, or NULL */
	/* the follower's: each entry's offset (of its size field) and leaf hash */
	int (*at)(void *ctx, uint64_t index, uint64_t off, const uint8_t leaf[LG_HASH],
		  struct shelter_err *err);
	void *cb_ctx;
	uint64_t want_size;         /* the checkpoint the log must reach and match */
	uint8_t want_root[LG_HASH];
	int matched;
	struct lg_frontier frontier;
	uint64_t end;  /* offset after the last valid frame */
	uint64_t torn; /* bytes after it */
	uint8_t *buf;
	size_t buf_cap;
};

struct shelter_log {
	char *dir;
	char origin[SHELTER_LOG_ORIGIN_MAX + 1];
	uint8_t *priv; /* shelter_secret_alloc(32) */
	uint8_t pub[32];
	int create;
	int dirfd, lockfd, logfd;
	struct lg_derived derived;
	uint64_t torn; /* bytes cut at open (§6.3 step 4) */

	struct shelter_log_anchor anchor;
	char *anchor_path;
	unsigned anchor_interval_ms;

	/* mu guards the queue and the published state below. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *queue; /* entries in frame encoding (§5): u16 size || bytes */
	size_t queue_used, queue_cap;
	uint32_t queue_count;
	uint64_t next;    /* index the next append gets */
	uint64_t durable; /* entries 0..durable-1 are synced */
	uint8_t root[LG_HASH]; /* MTH at durable */
	int committing, poisoned;

	/* The commit leader's own (one leader at a time, committing = 1). */
	struct lg_hasher hasher;
	struct lg_frontier frontier;
	uint64_t end; /* size of the log file */
	uint8_t *spare; size_t spare_cap;

	/* Proofs and entries: one reader at a time over the derived files. */
	pthread_mutex_t read_mu;
	struct lg_hasher read_hasher;

	/* Anchoring (§7.1). */
	pthread_mutex_t anchor_mu;
	uint64_t anchored;  /* size of the last checkpoint the anchor holds */
	uint64_t published; /* size of DIR/checkpoint */
	struct timespec anchored_at;
};

int lg_pread_all(int fd, void *buf, size_t size, uint64_t off);
int lg_pwrite_all(int fd, const void *buf, size_t size, uint64_t off);

int lg_emit(void *ctx, unsigned height, uint64_t k, const uint8_t h[LG_HASH],
	    struct shelter_err *err);
int lg_pending_offset(struct lg_pending *p, uint64_t index, uint64_t off,
		      struct shelter_err *err);
int lg_pending_flush(struct lg_derived *d, struct shelter_err *err);
void lg_pending_free(struct lg_pending *p);
void lg_derived_close(struct lg_derived *d);

int lg_scan_run(struct lg_scan *s, int fd, uint64_t start, uint64_t file_size,
		struct shelter_err *err);

/* open: lock the directory; set up the anchor; scan (§6.3). */
int lg_open_files(struct shelter_log *log, const struct shelter_log_options *opt,
		  struct shelter_err *err);
int lg_anchor_default(struct shelter_log *log, const struct shelter_log_options *opt,
		      struct shelter_err *err);
int lg_store_scan(struct shelter_log *log, struct shelter_err *err);

#endif
