/* The writer's life: open and close, append and group commit, checkpoints and
 * anchors, proofs and entries (docs/formats/log.md §6, §7). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <unistd.h>

#include "log/store.h"
#include "shelter/crypto.h"
#include "tee/pki.h"
#include "util/buf.h"

/* ---- open and close ---- */

static void log_free(struct shelter_log *log)
{
	lg_derived_close(&log->derived);
	if (log->logfd >= 0)
		close(log->logfd);
	if (log->lockfd >= 0)
		close(log->lockfd); /* releases the flock */
	if (log->dirfd >= 0)
		close(log->dirfd);
	lg_hasher_free(&log->hasher);
	lg_hasher_free(&log->read_hasher);
	shelter_secret_free(log->priv, 32);
	free(log->queue);
	free(log->spare);
	free(log->anchor_path);
	free(log->dir);
	pthread_mutex_destroy(&log->mu);
	pthread_mutex_destroy(&log->read_mu);
	pthread_mutex_destroy(&log->anchor_mu);
	pthread_cond_destroy(&log->cv);
	shelter_wipe(log, sizeof(*log));
	free(log);
}

static int log_alloc(const struct shelter_log_options *opt, struct shelter_log **out,
		     struct shelter_err *err)
{
	struct shelter_log *log = calloc(1, sizeof(*log));
	int rc;

	if (log == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "log: handle");
	log->dirfd = log->lockfd = log->logfd = log->derived.index = -1;
	for (unsigned l = 0; l < LG_LEVELS; l++)
		log->derived.tile[l] = -1;
	pthread_mutex_init(&log->mu, NULL);
	pthread_mutex_init(&log->read_mu, NULL);
	pthread_mutex_init(&log->anchor_mu, NULL);
	pthread_cond_init(&log->cv, NULL);
	*out = log;
	log->dir = strdup(opt->dir);
	log->priv = shelter_secret_alloc(32);
	if (log->dir == NULL || log->priv == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "log: handle");
	snprintf(log->origin, sizeof(log->origin), "%s", opt->origin);
	memcpy(log->priv, opt->priv, 32);
	log->create = opt->create;
	log->anchor_interval_ms = opt->anchor_interval_ms ? opt->anchor_interval_ms : 1000;
	if ((rc = shelter_ed25519_public(log->priv, log->pub, err)) != 0)
		return rc;
	if ((rc = lg_hasher_init(&log->hasher, err)) != 0)
		return rc;
	return lg_hasher_init(&log->read_hasher, err);
}

int shelter_log_open(const struct shelter_log_options *opt, struct shelter_log **out,
		     struct shelter_err *err)
{
	struct shelter_log *log = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (opt == NULL || opt->dir == NULL || opt->priv == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	if ((rc = lg_origin_check(opt->origin, err)) != 0)
		return rc;
	rc = log_alloc(opt, &log, err);
	if (rc == 0)
		rc = lg_anchor_default(log, opt, err);
	if (rc == 0)
		rc = lg_open_files(log, opt, err);
	if (rc == 0)
		rc = lg_store_scan(log, err);
	if (rc == 0 && lg_frontier_root(&log->frontier, &log->hasher, log->root) != 0)
		rc = shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
	if (rc != 0) {
		if (log != NULL)
			log_free(log);
		return rc;
	}
	log->durable = log->next = log->frontier.n;
	clock_gettime(CLOCK_MONOTONIC, &log->anchored_at);
	*out = log;
	return 0;
}

int shelter_log_close(struct shelter_log *log, struct shelter_err *err)
{
	int rc = 0;

	if (log == NULL)
		return 0;
	pthread_mutex_lock(&log->mu);
	if (!log->poisoned && log->next > log->durable) {
		uint64_t last = log->next - 1;

		pthread_mutex_unlock(&log->mu);
		rc = shelter_log_sync(log, last, err);
	} else {
		pthread_mutex_unlock(&log->mu);
	}
	if (rc == 0 && !log->poisoned)
		rc = shelter_log_anchor_now(log, err);
	log_free(log);
	return rc;
}

/* ---- append and group commit (§6.1) ---- */

int shelter_log_append(struct shelter_log *log, const void *entry, size_t size,
		       uint64_t *out_index, struct shelter_err *err)
{
	int rc = 0;

	if (out_index != NULL)
		*out_index = 0;
	if (log == NULL || (entry == NULL && size > 0) || out_index == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	if (size > SHELTER_LOG_ENTRY_MAX)
		return shelter_err_set(err, SHELTER_E_FBIG, "log: entry of %zu bytes, at most %u",
				       size, SHELTER_LOG_ENTRY_MAX);
	pthread_mutex_lock(&log->mu);
	/* A full queue is committed by the appender itself: memory stays bounded. */
	while (rc == 0 && !log->poisoned && log->queue_used + 2 + size > LG_QUEUE_MAX) {
		uint64_t last = log->next - 1;

		pthread_mutex_unlock(&log->mu);
		rc = shelter_log_sync(log, last, err);
		pthread_mutex_lock(&log->mu);
	}
	if (rc == 0 && log->poisoned)
		rc = shelter_err_set(err, SHELTER_E_IO, "log: an earlier commit failed");
	if (rc == 0 && log->queue_used + 2 + size > log->queue_cap) {
		size_t cap = log->queue_cap ? log->queue_cap : 65536;
		uint8_t *q;

		while (cap < log->queue_used + 2 + size)
			cap *= 2;
		q = realloc(log->queue, cap);
		if (q == NULL)
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "log: queue of %zu bytes", cap);
		else {
			log->queue = q;
			log->queue_cap = cap;
		}
	}
	if (rc == 0) {
		shelter_store_be(log->queue + log->queue_used, size, 2);
		if (size > 0)
			memcpy(log->queue + log->queue_used + 2, entry, size);
		log->queue_used += 2 + size;
		log->queue_count++;
		*out_index = log->next++;
	}
	pthread_mutex_unlock(&log->mu);
	return rc;
}

/* Lay the queued entries out as frames (§5) in log->spare. */
static int build_frames(struct shelter_log *log, const uint8_t *q, size_t used, uint32_t count,
			uint64_t first, size_t *out_size, struct shelter_err *err)
{
	size_t need = used + ((size_t)count / LG_FRAME_COUNT_MAX + used / LG_FRAME_PAYLOAD_MAX + 2) *
				     (LG_FRAME_HEAD + LG_FRAME_TAIL);
	size_t in = 0, out = 0;

	if (need > log->spare_cap) {
		uint8_t *p = realloc(log->spare, need);

		if (p == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "log: %zu bytes of frames", need);
		log->spare = p;
		log->spare_cap = need;
	}
	while (in < used) {
		uint8_t *frame = log->spare + out;
		size_t start = in;
		uint32_t n = 0;

		while (in < used && n < LG_FRAME_COUNT_MAX) {
			size_t e = 2 + (size_t)shelter_load_be(q + in, 2);

			if (in - start + e > LG_FRAME_PAYLOAD_MAX)
				break;
			in += e;
			n++;
		}
		memcpy(frame + LG_FRAME_HEAD, q + start, in - start);
		lg_frame_put_head(frame, n, first, (uint32_t)(in - start));
		if (lg_frame_seal(&log->hasher, frame, (uint32_t)(in - start)) != 0)
			return shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
		first += n;
		out += LG_FRAME_HEAD + (in - start) + LG_FRAME_TAIL;
	}
	*out_size = out;
	return 0;
}

/* Hash the committed entries into the tree and the derived files (§6.2). */
static int extend_tree(struct shelter_log *log, size_t size, struct shelter_err *err)
{
	size_t off = 0;
	int rc = 0;

	while (off < size && rc == 0) {
		const uint8_t *frame = log->spare + off;
		struct lg_frame f;
		size_t pos = 0;

		if ((rc = lg_frame_head(frame, &f, err)) != 0)
			break;
		for (uint32_t i = 0; i < f.count && rc == 0; i++) {
			const uint8_t *e;
			size_t esize;
			uint8_t leaf[LG_HASH];

			rc = lg_pending_offset(&log->derived.pend, log->frontier.n,
					       log->end + off + LG_FRAME_HEAD + pos, err);
			lg_frame_entry(frame, &pos, &e, &esize);
			if (rc == 0 && lg_leaf(&log->hasher, e, esize, leaf) != 0)
				rc = shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
			if (rc == 0)
				rc = lg_frontier_push(&log->frontier, &log->hasher, leaf, lg_emit,
						      &log->derived.pend, err);
		}
		off += LG_FRAME_HEAD + f.payload + LG_FRAME_TAIL;
	}
	return rc;
}

/* One commit: write, start writeback, hash while the disk works, fdatasync. */
static int commit(struct shelter_log *log, const uint8_t *q, size_t used, uint32_t count,
		  uint64_t first, uint8_t root[LG_HASH], struct shelter_err *err)
{
	size_t size = 0;
	int rc;

	rc = build_frames(log, q, used, count, first, &size, err);
	if (rc != 0)
		return rc;
	if (lg_pwrite_all(log->logfd, log->spare, size, log->end) != 0)
		return shelter_err_errno(err, errno, "log: write %zu bytes at %llu", size,
					 (unsigned long long)log->end);
	(void)sync_file_range(log->logfd, (off_t)log->end, (off_t)size, SYNC_FILE_RANGE_WRITE);
	if ((rc = extend_tree(log, size, err)) != 0)
		return rc;
	if (fdatasync(log->logfd) != 0)
		return shelter_err_errno(err, errno, "log: fdatasync");
	if ((rc = lg_pending_flush(&log->derived, err)) != 0)
		return rc;
	log->end += size;
	if (lg_frontier_root(&log->frontier, &log->hasher, root) != 0)
		return shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
	return 0;
}

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Lead one commit; called and returns with mu held. */
static int lead(struct shelter_log *log, struct shelter_err *err)
{
	uint8_t *q = log->queue, root[LG_HASH];
	size_t used = log->queue_used, cap = log->queue_cap;
	uint32_t count = log->queue_count;
	uint64_t first = log->durable;
	int rc;

	log->committing = 1;
	log->queue = NULL;
	log->queue_used = log->queue_cap = 0;
	log->queue_count = 0;
	pthread_mutex_unlock(&log->mu);
	rc = commit(log, q, used, count, first, root, err);
	pthread_mutex_lock(&log->mu);
	if (log->queue == NULL) { /* keep the buffer for the next round */
		log->queue = q;
		log->queue_cap = cap;
		q = NULL;
	}
	free(q);
	log->committing = 0;
	if (rc != 0) {
		log->poisoned = 1;
	} else {
		log->durable += count;
		memcpy(log->root, root, LG_HASH);
	}
	pthread_cond_broadcast(&log->cv);
	return rc;
}

int shelter_log_sync(struct shelter_log *log, uint64_t index, struct shelter_err *err)
{
	int rc = 0, due;

	if (log == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	pthread_mutex_lock(&log->mu);
	if (index >= log->next) {
		pthread_mutex_unlock(&log->mu);
		return shelter_err_set(err, SHELTER_E_INVAL, "log: sync of entry %llu, only %llu "
				       "appended", (unsigned long long)index,
				       (unsigned long long)log->next);
	}
	while (rc == 0 && log->durable <= index) {
		if (log->poisoned)
			rc = shelter_err_set(err, SHELTER_E_IO, "log: an earlier commit failed");
		else if (!log->committing)
			rc = lead(log, err);
		else
			pthread_cond_wait(&log->cv, &log->mu);
	}
	due = rc == 0 && log->durable > log->anchored &&
	      elapsed_ms(&log->anchored_at) >= (long)log->anchor_interval_ms;
	pthread_mutex_unlock(&log->mu);
	/* §7.1: anchoring after a commit is best effort. The entries are durable
	 * whatever happens to it; shelter_log_anchor_now and close report a failure. */
	if (due && shelter_log_anchor_now(log, NULL) != 0) {
		/* retried at the next commit past the interval, or by the owner */
	}
	return rc;
}

uint64_t shelter_log_size(struct shelter_log *log)
{
	uint64_t n;

	pthread_mutex_lock(&log->mu);
	n = log->durable;
	pthread_mutex_unlock(&log->mu);
	return n;
}

/* ---- checkpoints and anchors (§7) ---- */

static void durable_root(struct shelter_log *log, uint64_t *size, uint8_t root[LG_HASH])
{
	pthread_mutex_lock(&log->mu);
	*size = log->durable;
	memcpy(root, log->root, LG_HASH);
	pthread_mutex_unlock(&log->mu);
}

int shelter_log_checkpoint(struct shelter_log *log, char *out, size_t cap, uint64_t *out_size,
			   struct shelter_err *err)
{
	uint8_t root[LG_HASH];
	uint64_t size;
	size_t len;

	if (out_size != NULL)
		*out_size = 0;
	if (log == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	durable_root(log, &size, root);
	if (out_size != NULL)
		*out_size = size;
	return lg_checkpoint_sign(log->origin, size, root, log->priv, log->pub, out, cap, &len,
				  err);
}

/* Sign a checkpoint at the durable size, hand it to the anchor when anchor is set
 * (§7.1), and replace DIR/checkpoint, the readers' copy (§8.1). Serialized by
 * anchor_mu; skips what is already done at this size. */
static int checkpoint_out(struct shelter_log *log, int anchor, struct shelter_err *err)
{
	char *note = malloc(SHELTER_LOG_NOTE_MAX);
	uint8_t root[LG_HASH];
	uint64_t size;
	size_t len = 0;
	int rc = 0;

	if (note == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "log: checkpoint buffer");
	pthread_mutex_lock(&log->anchor_mu);
	durable_root(log, &size, root);
	if (size > 0 && size == (anchor ? log->anchored : log->published) &&
	    faccessat(log->dirfd, "checkpoint", F_OK, 0) == 0)
		goto out;
	rc = lg_checkpoint_sign(log->origin, size, root, log->priv, log->pub, note,
				SHELTER_LOG_NOTE_MAX, &len, err);
	if (rc == 0 && anchor && size != log->anchored)
		rc = log->anchor.store(log->anchor.ctx, note, len, err);
	if (rc == 0)
		rc = pki_write_atomic(log->dir, "checkpoint", 0644, note, len, err);
	if (rc != 0) {
		rc = shelter_err_wrap(err, rc, "log: %s the checkpoint of size %llu",
				      anchor ? "anchor" : "publish", (unsigned long long)size);
		goto out;
	}
	pthread_mutex_lock(&log->mu);
	log->published = size;
	if (anchor) {
		log->anchored = size;
		clock_gettime(CLOCK_MONOTONIC, &log->anchored_at);
	}
	pthread_mutex_unlock(&log->mu);
out:
	pthread_mutex_unlock(&log->anchor_mu);
	free(note);
	return rc;
}

int shelter_log_anchor_now(struct shelter_log *log, struct shelter_err *err)
{
	if (log == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	return checkpoint_out(log, 1, err);
}

int shelter_log_publish(struct shelter_log *log, struct shelter_err *err)
{
	if (log == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	return checkpoint_out(log, 0, err);
}

int shelter_log_vkey(struct shelter_log *log, char *out, size_t cap, struct shelter_err *err)
{
	if (log == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	return shelter_log_verifier_format(log->origin, log->pub, out, cap, err);
}

/* ---- proofs and entries (§6.4) ---- */

/* lg_node_fn over the hash tiles: a height-h node is one hash of tile-(h/8) or the
 * subtree of 2^(h%8) of them (§6.2). Called with read_mu held. */
static int tile_node(void *ctx, unsigned height, uint64_t k, uint8_t out[LG_HASH],
		     struct shelter_err *err)
{
	struct shelter_log *log = ctx;
	uint8_t buf[128][LG_HASH];
	unsigned level = height / 8, r = height % 8;
	size_t n = (size_t)1 << r;

	if (level >= LG_LEVELS)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "log: node of height %u", height);
	if (lg_pread_all(log->derived.tile[level], buf, n * LG_HASH, (k << r) * LG_HASH) != 0)
		return shelter_err_errno(err, errno ? errno : EIO,
					 "log: read 'tile-%u' at hash %llu", level,
					 (unsigned long long)(k << r));
	for (; n > 1; n /= 2) {
		for (size_t j = 0; j < n / 2; j++) {
			if (lg_node(&log->read_hasher, buf[2 * j], buf[2 * j + 1], buf[j]) != 0)
				return shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
		}
	}
	memcpy(out, buf[0], LG_HASH);
	return 0;
}

/* The root at m from the tiles, bound to the in-memory root at the durable size by
 * a consistency proof: the tiles are not trusted (§6.4). read_mu held. */
static int checked_root(struct shelter_log *log, uint64_t m, uint64_t durable,
			const uint8_t root_d[LG_HASH], uint8_t out[LG_HASH],
			struct shelter_err *err)
{
	struct lg_tree_src src = { tile_node, log, &log->read_hasher };
	uint8_t proof[SHELTER_LOG_PROOF_MAX][LG_HASH];
	size_t count;
	int rc;

	if (m == durable) {
		memcpy(out, root_d, LG_HASH);
		return 0;
	}
	rc = lg_root(&src, m, out, err);
	if (rc == 0)
		rc = lg_prove_consistency(&src, m, durable, proof, &count, err);
	if (rc == 0)
		rc = shelter_log_verify_consistency(m, durable, (const uint8_t (*)[LG_HASH])proof,
						    count, out, root_d, err);
	if (rc == SHELTER_E_INTEGRITY)
		rc = shelter_err_set(err, rc, "log: the hash tiles disagree with the log at size "
				     "%llu: a derived file was changed", (unsigned long long)m);
	return rc;
}

static int size_check(struct shelter_log *log, uint64_t size, uint64_t *durable,
		      uint8_t root[LG_HASH], struct shelter_err *err)
{
	durable_root(log, durable, root);
	if (size > *durable)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "log: size %llu is beyond the durable size %llu",
				       (unsigned long long)size, (unsigned long long)*durable);
	return 0;
}

int shelter_log_root(struct shelter_log *log, uint64_t m, uint8_t out[LG_HASH],
		     struct shelter_err *err)
{
	uint8_t root_d[LG_HASH];
	uint64_t durable;
	int rc;

	if (log == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	if ((rc = size_check(log, m, &durable, root_d, err)) != 0)
		return rc;
	pthread_mutex_lock(&log->read_mu);
	rc = checked_root(log, m, durable, root_d, out, err);
	pthread_mutex_unlock(&log->read_mu);
	return rc;
}

int shelter_log_prove_inclusion(struct shelter_log *log, uint64_t index, uint64_t size,
				uint8_t (*out)[LG_HASH], size_t *out_count,
				struct shelter_err *err)
{
	struct lg_tree_src src = { tile_node, log, NULL };
	uint8_t root_d[LG_HASH], root[LG_HASH], leaf[LG_HASH];
	uint64_t durable;
	int rc;

	if (out_count != NULL)
		*out_count = 0;
	if (log == NULL || out == NULL || out_count == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	if ((rc = size_check(log, size, &durable, root_d, err)) != 0)
		return rc;
	src.hasher = &log->read_hasher;
	pthread_mutex_lock(&log->read_mu);
	rc = checked_root(log, size, durable, root_d, root, err);
	if (rc == 0)
		rc = lg_prove_inclusion(&src, index, size, out, out_count, err);
	if (rc == 0)
		rc = tile_node(log, 0, index, leaf, err);
	if (rc == 0)
		rc = shelter_log_verify_inclusion(leaf, index, size,
						  (const uint8_t (*)[LG_HASH])out, *out_count,
						  root, err);
	pthread_mutex_unlock(&log->read_mu);
	if (rc != 0)
		*out_count = 0;
	return rc;
}

int shelter_log_prove_consistency(struct shelter_log *log, uint64_t m, uint64_t n,
				  uint8_t (*out)[LG_HASH], size_t *out_count,
				  struct shelter_err *err)
{
	struct lg_tree_src src = { tile_node, log, NULL };
	uint8_t root_d[LG_HASH], root_m[LG_HASH], root_n[LG_HASH];
	uint64_t durable;
	int rc;

	if (out_count != NULL)
		*out_count = 0;
	if (log == NULL || out == NULL || out_count == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	if ((rc = size_check(log, n, &durable, root_d, err)) != 0)
		return rc;
	src.hasher = &log->read_hasher;
	pthread_mutex_lock(&log->read_mu);
	rc = lg_prove_consistency(&src, m, n, out, out_count, err);
	if (rc == 0)
		rc = checked_root(log, m, durable, root_d, root_m, err);
	if (rc == 0)
		rc = checked_root(log, n, durable, root_d, root_n, err);
	if (rc == 0)
		rc = shelter_log_verify_consistency(m, n, (const uint8_t (*)[LG_HASH])out,
						    *out_count, root_m, root_n, err);
	pthread_mutex_unlock(&log->read_mu);
	if (rc != 0)
		*out_count = 0;
	return rc;
}

int shelter_log_get(struct shelter_log *log, uint64_t index, void *out, size_t cap,
		    size_t *out_size, struct shelter_err *err)
{
	uint8_t be[8], len[2], leaf[LG_HASH], proof[SHELTER_LOG_PROOF_MAX][LG_HASH];
	uint64_t off;
	size_t size, count;
	int rc;

	if (out_size != NULL)
		*out_size = 0;
	if (log == NULL || (out == NULL && cap > 0) || out_size == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	if (index >= shelter_log_size(log))
		return shelter_err_set(err, SHELTER_E_NOENT, "log: no entry %llu",
				       (unsigned long long)index);
	pthread_mutex_lock(&log->read_mu);
	rc = lg_pread_all(log->derived.index, be, 8, index * 8) != 0 ||
			     lg_pread_all(log->logfd, len, 2, shelter_load_be(be, 8)) != 0
		     ? shelter_err_errno(err, errno ? errno : EIO, "log: read entry %llu",
					 (unsigned long long)index)
		     : 0;
	off = shelter_load_be(be, 8);
	size = (size_t)shelter_load_be(len, 2);
	if (rc == 0 && size > cap)
		rc = shelter_err_set(err, SHELTER_E_INVAL, "log: entry %llu has %zu bytes, buffer "
				     "%zu", (unsigned long long)index, size, cap);
	if (rc == 0 && size > 0 && lg_pread_all(log->logfd, out, size, off + 2) != 0)
		rc = shelter_err_errno(err, errno ? errno : EIO, "log: read entry %llu",
				       (unsigned long long)index);
	if (rc == 0 && lg_leaf(&log->read_hasher, out, size, leaf) != 0)
		rc = shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
	pthread_mutex_unlock(&log->read_mu);
	/* The entry read must be the leaf the durable root includes (§6.4). */
	if (rc == 0)
		rc = shelter_log_prove_inclusion(log, index, shelter_log_size(log), proof, &count,
						 err);
	if (rc == 0) {
		uint8_t tile_leaf[LG_HASH];

		pthread_mutex_lock(&log->read_mu);
		rc = tile_node(log, 0, index, tile_leaf, err);
		pthread_mutex_unlock(&log->read_mu);
		if (rc == 0 && CRYPTO_memcmp(tile_leaf, leaf, LG_HASH) != 0)
			rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
					     "log: entry %llu at offset %llu is not the entry the "
					     "log signed", (unsigned long long)index,
					     (unsigned long long)off);
	}
	if (rc == 0)
		*out_size = size;
	else if (out != NULL && cap > 0)
		memset(out, 0, cap);
	return rc;
}
