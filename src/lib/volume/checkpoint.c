/* Checkpoints and compaction: docs/formats/volume.md §10.
 *
 * A checkpoint is a segment holding the whole live state (chunks, then NODE and
 * INDEX records, then a fixed-size END) that stands in for every segment before it.
 * Its END binds it to the chain value at the seal before it, which stays the tag
 * until the next operation. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shelter/crypto.h"
#include "util/buf.h"
#include "volume/internal.h"

#define COMPACT_MIN_BYTES (UINT64_C(64) << 20)

int vol_parse_seg_name(const char *name, uint64_t *segno)
{
	char *end;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
		return 0;
	for (int i = 0; i < 16; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	*segno = strtoull(name, &end, 16);
	return end == name + 16 && *segno != 0;
}

/* Segment numbers present in log/, unsorted. *out is malloc'd. */
static int list_segments(struct shelter_volume *v, uint64_t **out, size_t *count,
			 struct shelter_err *err)
{
	int fd = openat(v->logfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	uint64_t *list = NULL, no;
	size_t n = 0, cap = 0;
	struct dirent *e;

	*out = NULL;
	*count = 0;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return shelter_err_errno(err, errno, "list log/");
	}
	while ((e = readdir(d)) != NULL) {
		if (!vol_parse_seg_name(e->d_name, &no))
			continue;
		if (n == cap) {
			uint64_t *l = realloc(list, (cap = cap ? cap * 2 : 16) * sizeof(*l));

			if (l == NULL) {
				free(list);
				closedir(d);
				return shelter_err_set(err, SHELTER_E_NOMEM, "list log/: out of memory");
			}
			list = l;
		}
		list[n++] = no;
	}
	closedir(d);
	*out = list;
	*count = n;
	return 0;
}

int vol_higher_segment_exists(struct shelter_volume *v, uint64_t segno)
{
	uint64_t *list;
	size_t n;
	int found = 0;

	if (list_segments(v, &list, &n, NULL) < 0)
		return 1; /* cannot tell: fail closed */
	for (size_t i = 0; i < n; i++)
		found |= list[i] > segno;
	free(list);
	return found;
}

static int desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* The newest checkpoint segment (*out = 0 when there is none); *lowest the lowest
 * segment present. */
static int newest_checkpoint(struct shelter_volume *v, uint64_t *out, uint64_t *lowest,
			     struct shelter_err *err)
{
	uint8_t buf[VF_SEGHDR_SIZE];
	uint64_t *list;
	size_t n, got;
	int rc = list_segments(v, &list, &n, err);

	*out = 0;
	*lowest = 0;
	if (rc < 0)
		return rc;
	qsort(list, n, sizeof(*list), desc);
	if (n > 0)
		*lowest = list[n - 1];
	for (size_t i = 0; i < n && *out == 0; i++) {
		struct vf_seghdr sh;
		char name[64];
		int fd;

		vol_seg_name(name, sizeof(name), list[i]);
		fd = openat(v->logfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		got = 0;
		if (fd >= 0) {
			(void)vol_pread_full(fd, buf, sizeof(buf), 0, &got);
			close(fd);
		}
		/* headers appear only whole (temp file + rename), so one that does not
		 * decode above the start of the live log is damage */
		rc = vol_seghdr_check(v, buf, got, &sh, err);
		if (rc < 0) {
			rc = shelter_err_wrap(err, rc, "segment %" PRIu64 " (log/%s) header", list[i],
					      name);
			break;
		}
		if (sh.flags & VF_SEG_CHECKPOINT)
			*out = list[i];
	}
	free(list);
	return rc;
}

/* §10.4: the live log starts at the newest checkpoint, or at segment 1. */
int vol_find_start(struct shelter_volume *v, struct shelter_err *err)
{
	uint64_t start, lowest;
	int rc = newest_checkpoint(v, &start, &lowest, err);

	if (rc < 0)
		return rc;
	if (start == 0 && lowest > 1)
		return shelter_err_set(err, SHELTER_E_MISSING, "the start of the log is missing: no "
				       "checkpoint and no segment 1 (lowest present: %" PRIu64 ")",
				       lowest);
	v->base_segno = start ? start : 1;
	v->adopt_fresh = 1;
	rc = vol_load_segment(v, v->base_segno, err);
	v->adopt_fresh = 0;
	return rc;
}

static int read_end(struct shelter_volume *v, struct vol_seg *s, uint64_t size,
		    struct vf_ckpt_end *end, struct shelter_err *err)
{
	uint8_t buf[VF_CKPT_END_REC], pt[VF_CKPT_END_PT];
	struct vf_rec rec;
	size_t got = 0;
	int rc;

	if (size < VF_SEGHDR_SIZE + VF_CKPT_END_REC)
		return shelter_err_set(err, SHELTER_E_TRUNCATED, "checkpoint truncated");
	rc = vol_pread_full(s->fd, buf, sizeof(buf), size - VF_CKPT_END_REC, &got);
	if (rc < 0)
		return shelter_err_errno(err, -rc, "read checkpoint end");
	rc = vf_rec_parse(buf, got, &rec);
	if (rc == 0 && (rec.kind != VF_KIND_CKPT_META || rec.len != VF_CKPT_END_REC ||
			!(rec.flags & VF_FLAG_END)))
		rc = SHELTER_E_INTEGRITY;
	if (rc == 0)
		rc = vf_rec_open(s->aead, v->hdr.volume_id, s->segno, &rec, pt, NULL);
	if (rc == 0)
		rc = vf_ckpt_end_decode(pt, sizeof(pt), end);
	if (rc == 0 && rec.seq != end->data_count + end->meta_count + 1)
		rc = SHELTER_E_INTEGRITY;
	if (rc == 0 && VF_SEGHDR_SIZE + end->data_count * VF_DATA_REC_SIZE +
			       end->meta_count * (VF_REC_OVERHEAD + VF_META_ALIGN) + VF_CKPT_END_REC >
		       size)
		rc = SHELTER_E_TRUNCATED;
	if (rc < 0)
		return shelter_err_set(err, rc == SHELTER_E_TRUNCATED ? rc : SHELTER_E_INTEGRITY,
				       "checkpoint end record %s", shelter_code_str(rc));
	return 0;
}

static int apply_ckpt_meta(struct shelter_volume *v, uint32_t segidx, const uint8_t *pt,
			   size_t len, uint64_t data_count, struct shelter_err *err)
{
	struct vf_meta m;
	int rc = vf_meta_decode(pt, len, &m);

	if (rc < 0 || (m.op != VF_OP_NODE && m.op != VF_OP_INDEX))
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "malformed checkpoint record");
	if (m.op == VF_OP_NODE)
		return vs_apply_node(&v->st, &m, err);
	if (m.first_index > data_count || m.count > data_count - m.first_index + 1)
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "checkpoint index out of range");
	if (vs_get(&v->st, m.ino) == NULL)
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "checkpoint index for no file");
	for (uint32_t i = 0; i < m.count; i++) {
		struct vs_chunk loc = { m.first_index + i, segidx, 0 };

		rc = vs_apply_data(&v->st, m.ino, shelter_load_be(m.chunks + 8 * i, 8), loc, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* §10.4: NODE and INDEX records between the chunks and END, in index order. */
static int load_meta(struct shelter_volume *v, uint32_t segidx, uint64_t pos, uint64_t stop,
		     const struct vf_ckpt_end *end, struct shelter_err *err)
{
	struct vol_seg *s = &v->segs[segidx];
	uint64_t index = end->data_count + 1, seen = 0;
	int rc = 0;

	while (pos < stop && rc == 0) {
		size_t have = 0, off = 0;
		uint64_t want = stop - pos < VOL_WINDOW ? stop - pos : VOL_WINDOW;

		rc = vol_pread_full(s->fd, v->window, want, pos, &have);
		if (rc < 0)
			return shelter_err_errno(err, -rc, "read checkpoint");
		while (off < have && rc == 0) {
			struct vf_rec rec;

			rc = vf_rec_parse(v->window + off, have - off, &rec);
			if (rc == SHELTER_E_TRUNCATED && off > 0 && pos + have < stop) {
				rc = 0;
				break; /* refill from this record */
			}
			if (rc == 0 && (rec.kind != VF_KIND_CKPT_META || rec.seq != index ||
					rec.flags != 0))
				rc = SHELTER_E_INTEGRITY;
			if (rc == 0)
				rc = vf_rec_open(s->aead, v->hdr.volume_id, s->segno, &rec, v->scratch,
						 NULL);
			if (rc < 0)
				return shelter_err_set(err, rc == SHELTER_E_TRUNCATED ? rc : SHELTER_E_INTEGRITY,
						       "checkpoint record %" PRIu64 " %s", index,
						       shelter_code_str(rc));
			rc = apply_ckpt_meta(v, segidx, v->scratch, rec.len - VF_REC_OVERHEAD,
					     end->data_count, err);
			off += rec.len;
			index++;
			seen++;
		}
		pos += off;
	}
	if (rc == 0 && (seen != end->meta_count || pos != stop))
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY, "checkpoint has %" PRIu64
				     " records, its end says %" PRIu64, seen, end->meta_count);
	return rc;
}

/* Full verification also authenticates every chunk of the checkpoint (§9). */
static void verify_data(struct shelter_volume *v, uint32_t segidx, uint64_t count)
{
	struct vol_seg *s = &v->segs[segidx];
	uint8_t buf[VF_DATA_REC_SIZE];

	for (uint64_t i = 1; i <= count; i++) {
		uint64_t off = VF_SEGHDR_SIZE + (i - 1) * (uint64_t)VF_DATA_REC_SIZE;
		struct vf_rec rec;
		char where[512];
		size_t got = 0;
		int rc = vol_pread_full(s->fd, buf, sizeof(buf), off, &got);

		if (rc == 0)
			rc = vf_rec_parse(buf, got, &rec);
		if (rc == 0 && (rec.kind != VF_KIND_CKPT_DATA || rec.seq != i))
			rc = SHELTER_E_SWAPPED;
		if (rc == 0)
			rc = vf_rec_open(s->aead, v->hdr.volume_id, s->segno, &rec, v->scratch, NULL);
		if (rc == 0)
			continue;
		if (got >= VF_REC_HDR)
			vs_path(&v->st, shelter_load_be(buf + 16, 8), where, sizeof(where));
		else
			snprintf(where, sizeof(where), "log");
		vol_problem(v, rc == SHELTER_E_SWAPPED ? rc : SHELTER_E_INTEGRITY, where,
			    "checkpoint segment %" PRIu64 " chunk record %" PRIu64 " %s", s->segno, i,
			    rc == SHELTER_E_SWAPPED ? "swapped" : "modified");
	}
}

/* Close segments that no chunk of this process refers to any more (§10.5). */
static void release_old(struct shelter_volume *v, uint32_t below)
{
	uint8_t *used = calloc(below ? below : 1, 1);

	if (used == NULL)
		return;
	for (size_t i = 0; i < v->st.cap; i++) {
		struct vs_inode *n = v->st.slots[i];

		uint64_t c = 0;

		while (n != NULL && vs_cm_next(&n->chunks, c, &c)) {
			uint32_t seg = vs_cm_get(&n->chunks, c)->seg;

			if (seg < below)
				used[seg] = 1;
			c++;
		}
	}
	for (uint32_t i = 0; i < below; i++) {
		if (used[i] || v->segs[i].fd < 0)
			continue;
		close(v->segs[i].fd);
		v->segs[i].fd = -1;
		shelter_aead_free(v->segs[i].aead);
		v->segs[i].aead = NULL;
	}
	free(used);
}

static void take_end(struct shelter_volume *v, const struct vf_ckpt_end *end)
{
	memcpy(v->chain, end->chain_before, sizeof(v->chain));
	v->next_seq = end->next_seq;
	v->recent_count = 0;
	v->recent_head = 0;
	for (uint32_t i = 0; i < end->recent_count; i++)
		vol_recent_push(v, end->recent[i]);
	vol_recent_push(v, end->chain_before);
}

int vol_ckpt_load(struct shelter_volume *v, uint32_t segidx, struct shelter_err *err)
{
	struct vol_seg *s = &v->segs[segidx];
	struct vf_ckpt_end *end = malloc(sizeof(*end));
	int fresh = v->adopt_fresh;
	struct stat st;
	uint64_t meta;
	int rc = end == NULL ? shelter_err_set(err, SHELTER_E_NOMEM, "out of memory") : 0;

	if (rc == 0 && fstat(s->fd, &st) < 0)
		rc = shelter_err_errno(err, errno, "stat checkpoint");
	if (rc == 0)
		rc = read_end(v, s, (uint64_t)st.st_size, end, err);
	if (rc == 0 && !fresh && (memcmp(end->chain_before, v->chain, sizeof(v->chain)) != 0 ||
				  end->next_seq != v->next_seq))
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
				     "checkpoint does not continue this volume's history");
	meta = VF_SEGHDR_SIZE + (rc == 0 ? end->data_count : 0) * VF_DATA_REC_SIZE;
	if (rc == 0)
		rc = load_meta(v, segidx, meta, (uint64_t)st.st_size - VF_CKPT_END_REC, end, err);
	if (rc == 0 && v->report != NULL)
		verify_data(v, segidx, end->data_count);
	if (rc == 0) {
		if (fresh)
			take_end(v, end);
		s->end = (uint64_t)st.st_size;
		s->sealed = 1;
		if (!fresh) /* a resync releases once it has carried its open files over */
			release_old(v, segidx);
	}
	free(end);
	return rc;
}

/* §10.4: this process fell behind by more than one compaction, so the segments it
 * needs next are gone. Rebuild from the newest checkpoint, carrying over the inodes
 * that open handles point to. */
int vol_resync(struct shelter_volume *v, struct shelter_err *err)
{
	struct vs_state old = v->st;
	uint64_t start, lowest;
	int rc = newest_checkpoint(v, &start, &lowest, err);

	if (rc < 0)
		return rc;
	if (start <= v->segs[v->nsegs - 1].segno)
		return shelter_err_set(err, SHELTER_E_MISSING, "segment %" PRIu64 " missing",
				       v->segs[v->nsegs - 1].segno + 1);
	if (vs_init(&v->st, 0) < 0) {
		v->st = old;
		return shelter_err_set(err, SHELTER_E_NOMEM, "resync: out of memory");
	}
	v->adopt_fresh = 1;
	rc = vol_load_segment(v, start, err);
	v->adopt_fresh = 0;
	if (rc == 0)
		rc = vs_carry_open(&old, &v->st);
	if (rc < 0) {
		vs_free(&v->st);
		v->st = old;
		return rc;
	}
	vs_free(&old);
	v->base_segno = start;
	release_old(v, (uint32_t)(v->nsegs - 1));
	return 0;
}

/* ---- writing ------------------------------------------------------------------ */

struct ckw {
	struct shelter_volume *v;
	int fd;
	uint64_t segno;
	struct shelter_aead *aead;
	uint8_t *buf;
	size_t len, cap;
	uint64_t off;
	uint64_t index;
	struct vf_nonces nonces;
	int sealed;
};

static int ckw_flush(struct ckw *w, struct shelter_err *err)
{
	int e = vol_write_all(w->fd, w->buf, w->len, w->off);

	if (e != 0)
		return shelter_err_errno(err, e, "write checkpoint");
	w->off += w->len;
	w->len = 0;
	return 0;
}

static int ckw_put(struct ckw *w, uint8_t kind, uint8_t flags, uint64_t ino, uint64_t chunk,
		   const uint8_t *pt, size_t ptlen, struct shelter_err *err)
{
	int rc = 0;

	const uint8_t *nonce;

	if (w->len + ptlen + VF_REC_OVERHEAD > w->cap)
		rc = ckw_flush(w, err);
	if (rc == 0)
		rc = vf_nonce_next(&w->nonces, &nonce, err);
	if (rc == 0)
		rc = vf_rec_seal(w->aead, w->v->hdr.volume_id, w->segno, kind, flags, ++w->index, ino,
				 chunk, nonce, pt, ptlen, w->buf + w->len, err);
	if (rc == 0)
		w->len += ptlen + VF_REC_OVERHEAD;
	return rc;
}

/* Live inodes in breadth-first order from the root, so parents precede children. */
static int collect(struct shelter_volume *v, struct vs_inode ***out, size_t *count)
{
	struct vs_inode **q = malloc(sizeof(*q) * (v->st.count + 1));
	size_t head = 0, tail = 0;

	if (q == NULL)
		return SHELTER_E_NOMEM;
	q[tail++] = vs_get(&v->st, VS_ROOT_INO);
	while (head < tail) {
		struct vs_inode *d = q[head++];

		for (size_t i = 0; d->type == SHELTER_FT_DIR && i < d->nents; i++)
			q[tail++] = vs_get(&v->st, d->ents[i].ino);
	}
	*out = q;
	*count = tail;
	return 0;
}

static int put_chunks(struct ckw *w, struct vs_inode **nodes, size_t count, uint64_t *first,
		      struct shelter_err *err)
{
	uint8_t pt[VF_CHUNK];
	int rc = 0;

	for (size_t i = 0; i < count && rc == 0; i++) {
		struct vs_inode *n = nodes[i];

		uint64_t c = 0;

		first[i] = w->index + 1;
		for (; rc == 0 && vs_cm_next(&n->chunks, c, &c); c++) {
			rc = vol_read_chunk(w->v, n, c, pt, err);
			if (rc == 0)
				rc = ckw_put(w, VF_KIND_CKPT_DATA, 0, n->ino, c, pt, VF_CHUNK, err);
		}
	}
	shelter_wipe(pt, sizeof(pt));
	return rc;
}

static int put_node(struct ckw *w, const struct vs_inode *n, struct shelter_err *err)
{
	uint8_t pt[VF_META_MAX];
	struct vf_meta m = { .op = VF_OP_NODE, .ino = n->ino, .parent = n->parent,
			     .type = n->type, .mode = n->mode, .size = n->size,
			     .time_ns = n->mtime_ns, .time2_ns = n->ctime_ns };
	size_t len;

	if (n->ino != VS_ROOT_INO) {
		m.name = n->name;
		m.name_len = (uint16_t)strlen(n->name);
	}
	if (n->type == SHELTER_FT_LNK) {
		m.target = n->target;
		m.target_len = (uint16_t)strlen(n->target);
	}
	len = vf_meta_encode(&m, pt, sizeof(pt));
	if (len == 0)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "checkpoint node too large");
	return ckw_put(w, VF_KIND_CKPT_META, 0, 0, 0, pt, len, err);
}

static int put_index(struct ckw *w, const struct vs_inode *n, uint64_t first,
		     struct shelter_err *err)
{
	uint8_t pt[VF_META_MAX], list[VF_INDEX_MAX * 8];
	struct vf_meta m = { .op = VF_OP_INDEX, .ino = n->ino, .chunks = list };
	uint64_t c = 0;
	int rc = 0;

	while (rc == 0) {
		size_t len;

		m.first_index = first;
		m.count = 0;
		for (; m.count < VF_INDEX_MAX && vs_cm_next(&n->chunks, c, &c); c++)
			shelter_store_be(list + 8 * m.count++, c, 8);
		if (m.count == 0)
			break;
		len = vf_meta_encode(&m, pt, sizeof(pt));
		rc = len == 0 ? shelter_err_set(err, SHELTER_E_INTERNAL, "index too large")
			      : ckw_put(w, VF_KIND_CKPT_META, 0, 0, 0, pt, len, err);
		first += m.count;
	}
	return rc;
}

static int put_end(struct ckw *w, uint64_t data_count, struct shelter_err *err)
{
	struct shelter_volume *v = w->v;
	struct vf_ckpt_end *e = calloc(1, sizeof(*e));
	uint8_t *pt = malloc(VF_CKPT_END_PT);
	uint32_t start;
	int rc;

	if (e == NULL || pt == NULL) {
		free(e);
		free(pt);
		return shelter_err_set(err, SHELTER_E_NOMEM, "checkpoint: out of memory");
	}
	e->data_count = data_count;
	e->meta_count = w->index - data_count;
	e->next_seq = v->next_seq;
	memcpy(e->chain_before, v->chain, sizeof(v->chain));
	e->recent_count = v->recent_count;
	start = (v->recent_head + VF_RECENT_MAX - v->recent_count) % VF_RECENT_MAX;
	for (uint32_t i = 0; i < v->recent_count; i++)
		memcpy(e->recent[i], v->recent[(start + i) % VF_RECENT_MAX], SHELTER_SHA256_SIZE);
	vf_ckpt_end_encode(e, pt);
	rc = ckw_put(w, VF_KIND_CKPT_META, VF_FLAG_END, 0, 0, pt, VF_CKPT_END_PT, err);
	free(e);
	free(pt);
	return rc;
}

static int write_body(struct ckw *w, struct shelter_err *err)
{
	struct vs_inode **nodes = NULL;
	uint64_t *first = NULL, data_count;
	size_t count = 0;
	int rc = collect(w->v, &nodes, &count);

	if (rc == 0 && (first = calloc(count, sizeof(*first))) == NULL)
		rc = SHELTER_E_NOMEM;
	if (rc < 0) {
		free(nodes);
		return shelter_err_set(err, rc, "checkpoint: out of memory");
	}
	rc = put_chunks(w, nodes, count, first, err);
	data_count = w->index;
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = put_node(w, nodes[i], err);
	for (size_t i = 0; i < count && rc == 0; i++)
		if (nodes[i]->type == SHELTER_FT_REG)
			rc = put_index(w, nodes[i], first[i], err);
	/* §10.5: seal only once every chunk has been read back and copied, so a volume
	 * that cannot be compacted (a damaged chunk) is left exactly as it was */
	if (rc == 0) {
		rc = vol_seal(w->v, 0, err);
		w->sealed = rc == 0;
	}
	if (rc == 0)
		rc = put_end(w, data_count, err);
	if (rc == 0)
		rc = ckw_flush(w, err);
	free(first);
	free(nodes);
	return rc;
}

/* §10.5: the checkpoint appears under its name only once complete and durable.
 * *sealed tells whether the current segment was sealed on the way. */
static int write_checkpoint(struct shelter_volume *v, uint64_t segno, int *sealed,
			    struct shelter_err *err)
{
	struct vf_seghdr sh = { .flags = VF_SEG_CHECKPOINT, .segno = segno, .first_seq = 1 };
	struct ckw w = { .v = v, .segno = segno, .off = VF_SEGHDR_SIZE, .cap = UINT64_C(1) << 20 };
	uint8_t hdr[VF_SEGHDR_SIZE], key[SHELTER_KEY_SIZE];
	char name[64], tmp[96];
	int rc;

	memcpy(sh.volume_id, v->hdr.volume_id, VF_ID_SIZE);
	vol_seg_name(name, sizeof(name), segno);
	snprintf(tmp, sizeof(tmp), ".tmp-%s-%ld", name, (long)getpid());
	rc = shelter_random_bytes(sh.salt, sizeof(sh.salt), err);
	if (rc == 0)
		rc = vf_segment_key(v->keys, &v->hdr, &sh, key, err);
	if (rc == 0)
		rc = shelter_aead_new(key, &w.aead, err);
	shelter_wipe(key, sizeof(key));
	w.buf = malloc(w.cap);
	w.fd = openat(v->logfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (rc == 0 && (w.buf == NULL || w.fd < 0))
		rc = shelter_err_errno(err, w.buf == NULL ? ENOMEM : errno, "create checkpoint");
	vf_seghdr_encode(&sh, v->keys, hdr);
	if (rc == 0 && pwrite(w.fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		rc = shelter_err_errno(err, errno, "write checkpoint");
	if (rc == 0)
		rc = write_body(&w, err);
	if (rc == 0 && (fdatasync(w.fd) < 0 || renameat(v->logfd, tmp, v->logfd, name) < 0 ||
			fsync(v->logfd) < 0))
		rc = shelter_err_errno(err, errno, "install checkpoint");
	if (w.fd >= 0)
		close(w.fd);
	if (rc < 0)
		(void)unlinkat(v->logfd, tmp, 0);
	shelter_aead_free(w.aead);
	free(w.buf);
	*sealed = w.sealed;
	return rc;
}

/* §10.5: segments below the live log's first segment, and leftovers of interrupted
 * creates, are garbage once a writer holds the lock. */
int vol_cleanup(struct shelter_volume *v, struct shelter_err *err)
{
	int fd = openat(v->logfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int removed = 0;
	uint64_t no;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return shelter_err_errno(err, errno, "list log/");
	}
	while ((e = readdir(d)) != NULL) {
		int garbage = strncmp(e->d_name, ".tmp-", 5) == 0 ||
			      (vol_parse_seg_name(e->d_name, &no) && no < v->base_segno);

		if (garbage && unlinkat(v->logfd, e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (removed > 0 && fsync(v->logfd) < 0)
		return shelter_err_errno(err, errno, "sync log/");
	return 0;
}

int vol_should_compact(const struct shelter_volume *v)
{
	uint64_t total = 0, live = 0;

	for (size_t i = 0; i < v->nsegs; i++)
		if (v->segs[i].fd >= 0)
			total += v->segs[i].end;
	for (size_t i = 0; i < v->st.cap; i++)
		if (v->st.slots[i] != NULL)
			live += v->st.slots[i]->chunks.stored * VF_DATA_REC_SIZE + 2 * VF_META_ALIGN;
	return total > COMPACT_MIN_BYTES && total - live > live;
}

/* §10.5: copy the live state, seal, finish and install the checkpoint, open the
 * segment after it, adopt the checkpoint as replay would, then drop what it
 * replaces. */
int vol_compact(struct shelter_volume *v, struct shelter_err *err)
{
	uint64_t segno;
	int sealed = 0;
	int rc = vol_begin(v, 0, err); /* a tail that can take the seal */

	segno = v->segs[v->nsegs - 1].segno;
	if (rc == 0) {
		rc = write_checkpoint(v, segno + 1, &sealed, err);
		if (rc < 0 && sealed)
			(void)vol_catch_up(v, 1, NULL); /* give the sealed log its next segment */
	}
	if (rc == 0)
		rc = vol_new_segment(v, segno + 2, v->next_seq, v->logfd, err);
	if (rc == 0)
		rc = vol_catch_up(v, 1, err);
	if (rc == 0) {
		v->base_segno = segno + 1;
		rc = vol_cleanup(v, err);
	}
	return rc < 0 ? shelter_err_wrap(err, rc, "compact volume '%s'", v->dir) : 0;
}
