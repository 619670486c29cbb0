/* The volume log: segments, replay, crash repair and group append.
 * docs/formats/volume.md §4-§8. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shelter/crypto.h"
#include "util/buf.h"
#include "volume/internal.h"

int vol_problem(struct shelter_volume *v, int kind, const char *where, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	if (v->report == NULL)
		return kind;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (kind != 0 && v->report->first == 0)
		v->report->first = kind;
	if (v->report->fn != NULL)
		v->report->fn(v->report->ctx, kind, where, detail);
	return kind;
}

void vol_seg_name(char *buf, size_t size, uint64_t segno)
{
	snprintf(buf, size, "%016" PRIx64 ".seg", segno);
}

void vol_segs_free(struct shelter_volume *v)
{
	for (size_t i = 0; i < v->nsegs; i++) {
		if (v->segs[i].fd >= 0)
			close(v->segs[i].fd);
		shelter_aead_free(v->segs[i].aead);
	}
	free(v->segs);
	v->segs = NULL;
	v->nsegs = v->cap_segs = 0;
}

int vol_pread_full(int fd, void *buf, size_t size, uint64_t off, size_t *out_got)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, size - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*out_got = got;
	return 0;
}

static int seg_attach(struct shelter_volume *v, const struct vf_seghdr *sh, int fd,
		      struct shelter_err *err)
{
	uint8_t key[SHELTER_KEY_SIZE];
	struct vol_seg *s;
	int rc;

	if (v->nsegs == v->cap_segs) {
		size_t cap = v->cap_segs ? v->cap_segs * 2 : 8;
		struct vol_seg *n = realloc(v->segs, cap * sizeof(*n));

		if (n == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "segment table: out of memory");
		v->segs = n;
		v->cap_segs = cap;
	}
	s = &v->segs[v->nsegs];
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->segno = sh->segno;
	s->first_seq = sh->first_seq;
	s->end = VF_SEGHDR_SIZE;
	rc = vf_segment_key(v->keys, &v->hdr, sh, key, err);
	if (rc == 0)
		rc = shelter_aead_new(key, &s->aead, err);
	shelter_wipe(key, sizeof(key));
	if (rc == 0)
		v->nsegs++;
	return rc;
}

/* §4: decode a segment header of this volume; one from another volume (even under
 * the same key, where its MAC fails) is reported as swapped. */
int vol_seghdr_check(struct shelter_volume *v, const uint8_t *buf, size_t got,
		     struct vf_seghdr *sh, struct shelter_err *err)
{
	int rc = vf_seghdr_decode(buf, got, v->keys, sh, err);

	/* only a well-formed header (magic, version, flags) can belong to another volume */
	if ((rc == 0 || (rc == SHELTER_E_INTEGRITY && vf_seghdr_wellformed(buf, got))) &&
	    memcmp(sh->volume_id, v->hdr.volume_id, VF_ID_SIZE) != 0)
		return shelter_err_set(err, SHELTER_E_SWAPPED, "segment belongs to another volume");
	return rc;
}

/* §4: a segment must name itself, this volume, and continue the sequence. */
static int seg_check(struct shelter_volume *v, uint64_t segno, const uint8_t *buf, size_t got,
		     struct vf_seghdr *sh, struct shelter_err *err)
{
	int rc = vol_seghdr_check(v, buf, got, sh, err);

	if (rc < 0)
		return rc;
	if (sh->segno != segno)
		return shelter_err_set(err, SHELTER_E_SWAPPED,
				       "file holds segment %" PRIu64 ", not %" PRIu64, sh->segno,
				       segno);
	if ((sh->flags & VF_SEG_CHECKPOINT) != 0 && sh->first_seq != 1)
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "checkpoint header modified");
	if ((sh->flags & VF_SEG_CHECKPOINT) == 0 && sh->first_seq != v->next_seq)
		return shelter_err_set(err, SHELTER_E_SWAPPED,
				       "segment starts at record %" PRIu64 ", expected %" PRIu64,
				       sh->first_seq, v->next_seq);
	return 0;
}

int vol_load_segment(struct shelter_volume *v, uint64_t segno, struct shelter_err *err)
{
	char name[64];
	uint8_t buf[VF_SEGHDR_SIZE];
	struct vf_seghdr sh;
	size_t got = 0;
	int fd, rc;

	vol_seg_name(name, sizeof(name), segno);
	fd = openat(v->logfd, name, (v->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = shelter_err_errno(err, errno, "segment %" PRIu64 " (log/%s)", segno, name);
		return rc == SHELTER_E_NOENT ? shelter_err_set(err, SHELTER_E_MISSING,
								"segment %" PRIu64 " (log/%s) missing",
								segno, name)
					     : rc;
	}
	rc = vol_pread_full(fd, buf, sizeof(buf), 0, &got);
	if (rc < 0)
		rc = shelter_err_errno(err, -rc, "read segment header");
	else
		rc = seg_check(v, segno, buf, got, &sh, err);
	if (rc == 0)
		rc = seg_attach(v, &sh, fd, err);
	else
		close(fd);
	if (rc == 0 && (sh.flags & VF_SEG_CHECKPOINT) != 0) {
		v->segs[v->nsegs - 1].checkpoint = 1;
		rc = vol_ckpt_load(v, (uint32_t)(v->nsegs - 1), err);
	}
	if (rc < 0)
		return shelter_err_wrap(err, rc, "segment %" PRIu64 " (log/%s)", segno, name);
	return 0;
}

int vol_new_segment(struct shelter_volume *v, uint64_t segno, uint64_t first_seq, int dirfd,
		    struct shelter_err *err)
{
	struct vf_seghdr sh = { .segno = segno, .first_seq = first_seq };
	uint8_t buf[VF_SEGHDR_SIZE];
	char name[64], tmp[96];
	int fd, rc;

	memcpy(sh.volume_id, v->hdr.volume_id, VF_ID_SIZE);
	rc = shelter_random_bytes(sh.salt, sizeof(sh.salt), err);
	if (rc < 0)
		return rc;
	vf_seghdr_encode(&sh, v->keys, buf);
	vol_seg_name(name, sizeof(name), segno);
	snprintf(tmp, sizeof(tmp), ".tmp-%s-%ld", name, (long)getpid());
	(void)unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return shelter_err_errno(err, errno, "create segment %" PRIu64, segno);
	/* §8.2: the header is durable before the name appears, and the name is durable
	 * before any record is appended to it. */
	if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) || fdatasync(fd) < 0 ||
	    renameat(dirfd, tmp, dirfd, name) < 0 || fsync(dirfd) < 0) {
		rc = shelter_err_errno(err, errno, "write segment %" PRIu64, segno);
		(void)unlinkat(dirfd, tmp, 0);
	}
	close(fd);
	return rc;
}

/* §8.1: damage a crash can leave: a record cut by the end of the file, or one with a
 * 512-byte sector the disk never wrote (reads as zeros). Anything else is tampering. */
#define SECTOR 512u
static int looks_torn(int fd, uint64_t pos, uint64_t size, int parse_rc, uint32_t len)
{
	uint8_t page[SECTOR];
	uint64_t end, p;

	if (parse_rc == SHELTER_E_TRUNCATED)
		return 1;
	end = pos + (len >= VF_REC_HDR && len <= VF_REC_MAX ? len : VF_REC_HDR);
	if (end > size)
		end = size;
	for (p = pos / SECTOR * SECTOR; p < end; p += SECTOR) {
		size_t got = 0, i;

		if (vol_pread_full(fd, page, sizeof(page), p, &got) < 0)
			return 0;
		for (i = 0; i < got && page[i] == 0; i++)
			;
		if (got > 0 && i == got)
			return 1;
	}
	return 0;
}

static int seg_exists(struct shelter_volume *v, uint64_t segno)
{
	char name[64];
	struct stat st;

	vol_seg_name(name, sizeof(name), segno);
	return fstatat(v->logfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

void vol_recent_push(struct shelter_volume *v, const uint8_t chain[SHELTER_SHA256_SIZE])
{
	memcpy(v->recent[v->recent_head], chain, SHELTER_SHA256_SIZE);
	v->recent_head = (v->recent_head + 1) % VF_RECENT_MAX;
	if (v->recent_count < VF_RECENT_MAX)
		v->recent_count++;
	if (v->expect != NULL && memcmp(chain, v->expect, SHELTER_SHA256_SIZE) == 0)
		v->expect_seen = 1;
}

static void group_reset(struct shelter_volume *v)
{
	v->grp->count = 0;
	v->grp->meta_used = 0;
}

static int group_add(struct shelter_volume *v, const struct vf_rec *rec, uint32_t off,
		     const uint8_t *pt)
{
	struct vol_group *g = v->grp;
	struct vol_item *it;
	size_t mlen = rec->len - VF_REC_OVERHEAD;

	if (g->count == VF_GROUP_MAX ||
	    (rec->kind == VF_KIND_META && g->meta_used + mlen > sizeof(g->meta)))
		return SHELTER_E_INTEGRITY;
	it = &g->items[g->count++];
	it->kind = rec->kind;
	it->seq = rec->seq;
	it->ino = rec->ino;
	it->chunk = rec->chunk;
	it->off = off;
	if (rec->kind == VF_KIND_META) {
		it->meta_off = (uint32_t)g->meta_used;
		it->meta_len = (uint32_t)mlen;
		memcpy(g->meta + g->meta_used, pt, mlen);
		g->meta_used += mlen;
	}
	return 0;
}

/* §7: a complete group takes effect; returns 1 when it sealed the segment. */
static int group_apply(struct shelter_volume *v, uint32_t segidx, struct shelter_err *err)
{
	struct vol_group *g = v->grp;
	int sealed = 0;

	for (size_t i = 0; i < g->count; i++) {
		struct vol_item *it = &g->items[i];
		struct vf_meta m;
		int rc;

		if (it->kind == VF_KIND_DATA) {
			struct vs_chunk loc = { it->seq, segidx, it->off };

			rc = vs_apply_data(&v->st, it->ino, it->chunk, loc, err);
		} else {
			rc = vf_meta_decode(g->meta + it->meta_off, it->meta_len, &m);
			if (rc < 0)
				rc = shelter_err_set(err, rc, "record %" PRIu64 ": malformed operation",
						     it->seq);
			else if (m.op == VF_OP_SEAL && (g->count != 1 ||
							m.next_segno != v->segs[segidx].segno + 1))
				rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
						     "record %" PRIu64 ": misplaced seal", it->seq);
			else
				rc = vs_apply_meta(&v->st, it->seq, &m, err);
			sealed |= m.op == VF_OP_SEAL;
		}
		if (rc < 0)
			return rc;
	}
	return sealed;
}

struct scan {
	uint32_t segidx;
	uint64_t size;      /* file size at the start of the scan */
	uint64_t pos;       /* absolute offset of the window */
	size_t have;        /* bytes in the window */
	uint8_t chain[SHELTER_SHA256_SIZE];
};

/* §9: a later record that authenticates proves the damage is not a crash's torn
 * tail (verify only; open must still recover from a power cut). */
static int later_valid_record(struct shelter_volume *v, struct vol_seg *s, uint64_t from,
			      uint64_t size, uint64_t min_seq)
{
	uint8_t *buf = malloc(VOL_WINDOW + VF_REC_MAX), *pt = malloc(VF_REC_MAX);
	uint64_t pos = from + 1;
	int found = 0;

	while (buf != NULL && pt != NULL && !found && pos + VF_REC_OVERHEAD <= size) {
		size_t got = 0;

		if (vol_pread_full(s->fd, buf, VOL_WINDOW + VF_REC_MAX, pos, &got) < 0)
			break;
		for (size_t i = 0; !found && i + VF_REC_OVERHEAD <= got && i < VOL_WINDOW; i++) {
			struct vf_rec rec;

			found = vf_rec_parse(buf + i, got - i, &rec) == 0 &&
				(rec.kind == VF_KIND_DATA || rec.kind == VF_KIND_META) &&
				rec.seq >= min_seq && rec.seq < min_seq + (UINT64_C(1) << 24) &&
				vf_rec_open(s->aead, v->hdr.volume_id, s->segno, &rec, pt, NULL) == 0;
		}
		pos += VOL_WINDOW;
	}
	free(buf);
	if (pt != NULL)
		shelter_wipe(pt, VF_REC_MAX);
	free(pt);
	return found;
}

/* Name the file a damaged record belongs to (§9): from an authenticated header;
 * from an unauthenticated one only when it names a regular file, and then saying
 * so. (Its size may not cover the chunk yet: the group's SETATTR is pending.) */
static void damage_where(struct shelter_volume *v, const struct vf_rec *rec, int trusted,
			 int authfail, char *where, size_t wsize, char *note, size_t nsize)
{
	const struct vs_inode *n = vs_get(&v->st, rec->ino);
	int plausible = n != NULL && n->type == SHELTER_FT_REG;

	snprintf(where, wsize, "log");
	note[0] = '\0';
	if (rec->kind != VF_KIND_DATA || !(trusted || (authfail && plausible)))
		return;
	vs_path(&v->st, rec->ino, where, wsize);
	if (!trusted)
		snprintf(note, nsize, " (file named by the record's unauthenticated header)");
}

/* A record that does not verify at abs (§8.1): a torn tail is cut off, anything
 * else is reported. Returns 0 to stop scanning quietly, 1 to continue past a
 * damaged data record (verify only), or a negative code. */
static int on_damage(struct shelter_volume *v, struct scan *sc, uint64_t abs, int rc,
		     int authfail, int trusted, const struct vf_rec *rec, int writable,
		     struct shelter_err *err)
{
	struct vol_seg *s = &v->segs[sc->segidx];
	char where[600], note[80];
	int kind = rc == SHELTER_E_SWAPPED ? SHELTER_E_SWAPPED : SHELTER_E_INTEGRITY;

	if (looks_torn(s->fd, abs, sc->size, rc, rec->len) &&
	    !vol_higher_segment_exists(v, s->segno)) {
		v->torn_bytes = sc->size - s->end;
		/* records past the ones staged (and past the damaged one, if any) */
		uint64_t min_seq = v->next_seq + v->grp->count + (rc == SHELTER_E_TRUNCATED ? 0 : 1);

		if (v->report != NULL && later_valid_record(v, s, abs, sc->size, min_seq))
			vol_problem(v, SHELTER_E_TRUNCATED, "log", "segment %" PRIu64 " offset %"
				    PRIu64 ": a damaged or unwritten region is followed by valid "
				    "records; opening would discard %" PRIu64 " bytes", s->segno, abs,
				    v->torn_bytes);
		else
			vol_problem(v, 0, "log", "%" PRIu64 " bytes of unsynced writes discarded at "
				    "segment %" PRIu64 " offset %" PRIu64 " (crash)", v->torn_bytes,
				    s->segno, s->end);
		if (writable && ftruncate(s->fd, (off_t)s->end) < 0)
			return shelter_err_errno(err, errno, "cut torn tail of segment %" PRIu64,
						 s->segno);
		return 0;
	}
	if (rc == SHELTER_E_TRUNCATED)
		kind = SHELTER_E_TRUNCATED;
	damage_where(v, rec, trusted, authfail, where, sizeof(where), note, sizeof(note));
	vol_problem(v, kind, where, "segment %" PRIu64 " offset %" PRIu64 ": %s record %s%s",
		    s->segno, abs, rec->kind == VF_KIND_DATA ? "file data" : "log",
		    shelter_code_str(kind), note);
	if (v->report != NULL && authfail && rec->kind == VF_KIND_DATA)
		return 1;
	if (v->report != NULL)
		v->report->error_reported = 1;
	return shelter_err_set(err, kind, "%s: segment %" PRIu64 " offset %" PRIu64 ": record %s%s",
			       where, s->segno, abs, shelter_code_str(kind), note);
}

static int window_fill(struct shelter_volume *v, struct scan *sc, struct shelter_err *err)
{
	struct vol_seg *s = &v->segs[sc->segidx];
	uint64_t want = sc->size - s->end;
	size_t got = 0;
	int rc;

	if (want > VOL_WINDOW)
		want = VOL_WINDOW;
	sc->pos = s->end;
	rc = vol_pread_full(s->fd, v->window, want, sc->pos, &got);
	if (rc < 0)
		return shelter_err_errno(err, -rc, "read segment %" PRIu64, s->segno);
	sc->have = got;
	if (got < want)
		sc->size = sc->pos + got;
	return 0;
}

/* One record at window offset off: parse, authenticate, check order, stage.
 * *authfail is set when a well-formed record's tag fails; *trusted when it
 * authenticated, so its header (file and chunk) can be believed in a report. */
static int scan_record(struct shelter_volume *v, struct scan *sc, size_t off,
		       struct vf_rec *rec, int *authfail, int *trusted)
{
	struct vol_seg *s = &v->segs[sc->segidx];
	int rc = vf_rec_parse(v->window + off, sc->have - off, rec);

	*authfail = 0;
	*trusted = 0;
	if (rc < 0)
		return rc;
	if (rec->kind != VF_KIND_DATA && rec->kind != VF_KIND_META)
		return SHELTER_E_INTEGRITY;
	rc = vf_rec_open(s->aead, v->hdr.volume_id, s->segno, rec, v->scratch, NULL);
	if (rc == SHELTER_E_INTEGRITY)
		*authfail = 1;
	if (rc < 0)
		return rc;
	*trusted = 1;
	if (rec->seq != v->next_seq + v->grp->count)
		return SHELTER_E_SWAPPED;
	return group_add(v, rec, (uint32_t)(sc->pos + off), v->scratch);
}

static int group_done(struct shelter_volume *v, struct scan *sc, uint64_t end,
		      struct shelter_err *err)
{
	int sealed = group_apply(v, sc->segidx, err);

	if (sealed < 0)
		return sealed;
	v->segs[sc->segidx].end = end;
	v->segs[sc->segidx].sealed = sealed;
	v->next_seq += v->grp->count;
	memcpy(v->chain, sc->chain, sizeof(sc->chain));
	vol_recent_push(v, v->chain);
	group_reset(v);
	return sealed;
}

/* Scan one window: returns 1 when progress was made, 0 at a quiet stop. */
static int scan_window(struct shelter_volume *v, struct scan *sc, int writable,
		       struct shelter_err *err)
{
	size_t off = 0;
	int progress = 0;

	memcpy(sc->chain, v->chain, sizeof(sc->chain));
	group_reset(v);
	while (off < sc->have) {
		struct vf_rec rec;
		int authfail, trusted;
		int rc = scan_record(v, sc, off, &rec, &authfail, &trusted);

		if (rc == SHELTER_E_TRUNCATED && sc->pos + sc->have < sc->size) {
			if (progress)
				return 1; /* the group continues past the window: refill */
			rc = SHELTER_E_INTEGRITY; /* no group is larger than a window */
		}
		if (rc == SHELTER_E_NOMEM || rc == SHELTER_E_CRYPTO)
			return shelter_err_set(err, rc, "replay: %s", shelter_code_str(rc));
		if (rc < 0) {
			rc = on_damage(v, sc, sc->pos + off, rc, authfail, trusted, &rec, writable,
				       err);
			if (rc <= 0)
				return rc;
			if (group_add(v, &rec, (uint32_t)(sc->pos + off), v->scratch) < 0)
				return shelter_err_set(err, SHELTER_E_INTEGRITY, "oversized group");
		}
		vf_chain_next(sc->chain, &rec, NULL);
		off += rec.len;
		if (rec.flags & VF_FLAG_END) {
			rc = group_done(v, sc, sc->pos + off, err);
			if (rc != 0)
				return rc < 0 ? rc : 0;
			progress = 1;
		}
	}
	if (v->grp->count > 0 && sc->pos + sc->have >= sc->size) {
		struct vf_rec none = { 0 };

		/* §8.1: an operation cut short at the end of the log never happened */
		int rc = on_damage(v, sc, v->segs[sc->segidx].end, SHELTER_E_TRUNCATED, 0, 0,
				   &none, writable, err);

		return rc < 0 ? rc : 0;
	}
	return progress;
}

static int scan_segment(struct shelter_volume *v, uint32_t segidx, int writable,
			struct shelter_err *err)
{
	struct vol_seg *s = &v->segs[segidx];
	struct scan sc = { .segidx = segidx };
	struct stat st;
	int rc;

	if (fstat(s->fd, &st) < 0)
		return shelter_err_errno(err, errno, "stat segment %" PRIu64, s->segno);
	sc.size = (uint64_t)st.st_size;
	while (!s->sealed && s->end < sc.size) {
		rc = window_fill(v, &sc, err);
		if (rc == 0)
			rc = scan_window(v, &sc, writable, err);
		group_reset(v);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
	}
	if (s->sealed && s->end < sc.size)
		return shelter_err_set(err, SHELTER_E_UNEXPECTED,
				       "segment %" PRIu64 ": %" PRIu64 " bytes after its seal",
				       s->segno, sc.size - s->end);
	return 0;
}

/* §7.3: bring this process's state up to the end of the log. */
int vol_catch_up(struct shelter_volume *v, int writable, struct shelter_err *err)
{
	int rc;

	for (;;) {
		struct vol_seg *s = &v->segs[v->nsegs - 1];

		rc = scan_segment(v, (uint32_t)(v->nsegs - 1), writable, err);
		if (rc < 0)
			break;
		if (!s->sealed)
			return 0;
		if (!seg_exists(v, s->segno + 1) && vol_higher_segment_exists(v, s->segno + 1)) {
			/* compacted past us (§10.4), or a segment was deleted */
			rc = vol_resync(v, err);
			if (rc < 0)
				break;
			continue;
		}
		if (!seg_exists(v, s->segno + 1) && writable) {
			/* crash between the seal and the next segment (§8.2): make the seal
			 * durable first, or a power cut could keep the new segment only */
			if (fdatasync(s->fd) < 0) {
				rc = shelter_err_errno(err, errno, "sync segment %" PRIu64, s->segno);
				break;
			}
			rc = vol_new_segment(v, s->segno + 1, v->next_seq, v->logfd, err);
			if (rc < 0)
				break;
		}
		if (!seg_exists(v, s->segno + 1))
			return 0;
		rc = vol_load_segment(v, s->segno + 1, err);
		if (rc < 0)
			break;
	}
	/* damage poisons the handle; an I/O error (say ENOSPC) leaves it usable */
	v->poisoned = v->report == NULL && rc != SHELTER_E_IO && rc != SHELTER_E_NOSPC &&
		      rc != SHELTER_E_NOMEM && rc != SHELTER_E_PERM;
	return rc;
}

static int ensure_wbuf(struct shelter_volume *v, size_t need, struct shelter_err *err)
{
	uint8_t *n;

	if (v->wcap >= need)
		return 0;
	n = realloc(v->wbuf, need);
	if (n == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "append buffer: out of memory");
	v->wbuf = n;
	v->wcap = need;
	return 0;
}

int vol_seal(struct shelter_volume *v, int open_next, struct shelter_err *err)
{
	struct vol_seg *s = &v->segs[v->nsegs - 1];
	struct vf_meta m = { .op = VF_OP_SEAL, .next_segno = s->segno + 1 };
	int rc;

	rc = ensure_wbuf(v, 2 * VF_REC_MAX, err);
	v->wlen = 0;
	group_reset(v);
	if (rc == 0)
		rc = vol_emit_meta(v, &m, 1, err);
	if (rc == 0)
		rc = vol_commit(v, err);
	if (rc == 0 && fdatasync(s->fd) < 0)
		rc = shelter_err_errno(err, errno, "sync segment %" PRIu64, s->segno);
	if (rc == 0 && open_next)
		rc = vol_new_segment(v, s->segno + 1, v->next_seq, v->logfd, err);
	if (rc == 0 && open_next)
		rc = vol_load_segment(v, s->segno + 1, err);
	return rc;
}

/* Start a group of at most `records` records, rolling the segment over first when
 * the group would not fit (a group never spans segments, §5.3). */
int vol_begin(struct shelter_volume *v, size_t records, struct shelter_err *err)
{
	size_t need = records * (VF_CHUNK + VF_REC_OVERHEAD) + 2 * VF_REC_MAX;
	struct vol_seg *s = &v->segs[v->nsegs - 1];
	int rc;

	if (records > VF_GROUP_MAX)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "group too large");
	rc = ensure_wbuf(v, need, err);
	/* a seal whose next segment could not be made (§8.2): make it now, never
	 * append after a seal */
	if (rc == 0 && s->sealed) {
		rc = vol_catch_up(v, 1, err);
		s = &v->segs[v->nsegs - 1];
		if (rc == 0 && s->sealed)
			rc = shelter_err_set(err, SHELTER_E_IO, "no segment to append to");
	}
	if (rc == 0 && s->end + need > v->segment_size && s->end > VF_SEGHDR_SIZE)
		rc = vol_seal(v, 1, err);
	v->wlen = 0;
	group_reset(v);
	return rc;
}

static int emit(struct shelter_volume *v, uint8_t kind, uint64_t ino, uint64_t chunk,
		const uint8_t *pt, size_t ptlen, int last, struct shelter_err *err)
{
	struct vol_seg *s = &v->segs[v->nsegs - 1];
	uint64_t seq = v->next_seq + v->grp->count;
	const uint8_t *nonce;
	struct vf_rec rec;
	int rc;

	if (v->wlen + ptlen + VF_REC_OVERHEAD > v->wcap)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "group overflows its buffer");
	rc = vf_nonce_next(&v->nonces, &nonce, err);
	if (rc == 0)
		rc = vf_rec_seal(s->aead, v->hdr.volume_id, s->segno, kind,
				 last ? VF_FLAG_END : 0, seq, ino, chunk, nonce, pt, ptlen,
				 v->wbuf + v->wlen, err);
	if (rc < 0)
		return rc;
	rc = vf_rec_parse(v->wbuf + v->wlen, ptlen + VF_REC_OVERHEAD, &rec);
	if (rc == 0)
		rc = group_add(v, &rec, (uint32_t)(s->end + v->wlen), pt);
	if (rc < 0)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "group staging failed");
	v->wlen += rec.len;
	return 0;
}

int vol_emit_meta(struct shelter_volume *v, const struct vf_meta *m, int last,
		  struct shelter_err *err)
{
	uint8_t pt[VF_META_MAX];
	size_t n = vf_meta_encode(m, pt, sizeof(pt));

	if (n == 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "metadata operation too large");
	return emit(v, VF_KIND_META, 0, 0, pt, n, last, err);
}

int vol_emit_data(struct shelter_volume *v, uint64_t ino, uint64_t chunk, const uint8_t *pt,
		  int last, struct shelter_err *err)
{
	return emit(v, VF_KIND_DATA, ino, chunk, pt, VF_CHUNK, last, err);
}

int vol_write_all(int fd, const uint8_t *buf, size_t size, uint64_t off)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = pwrite(fd, buf + done, size - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Append the staged group in one write, then apply it exactly as replay would. */
int vol_commit(struct shelter_volume *v, struct shelter_err *err)
{
	struct vol_seg *s = &v->segs[v->nsegs - 1];
	struct scan sc = { .segidx = (uint32_t)(v->nsegs - 1) };
	size_t off = 0;
	int e, rc;

	e = vol_write_all(s->fd, v->wbuf, v->wlen, s->end);
	if (e != 0) {
		/* leave no partial group behind; if even that fails, stop writing */
		if (ftruncate(s->fd, (off_t)s->end) < 0)
			v->poisoned = 1;
		group_reset(v);
		return shelter_err_errno(err, e, "append to segment %" PRIu64, s->segno);
	}
	memcpy(sc.chain, v->chain, sizeof(sc.chain));
	while (off < v->wlen) {
		struct vf_rec rec;

		if (vf_rec_parse(v->wbuf + off, v->wlen - off, &rec) < 0)
			break;
		vf_chain_next(sc.chain, &rec, NULL);
		off += rec.len;
	}
	rc = group_done(v, &sc, s->end + v->wlen, err);
	v->wlen = 0;
	if (rc < 0) {
		v->poisoned = 1;
		return rc;
	}
	return 0;
}

/* §10.1: checkpoint chunks sit at fixed places, in index order */
static uint64_t chunk_offset(const struct vol_seg *s, const struct vs_chunk *loc)
{
	return s->checkpoint ? VF_SEGHDR_SIZE + (loc->seq - 1) * (uint64_t)VF_DATA_REC_SIZE
			     : loc->off;
}

/* Authenticate the record bytes read for chunk `chunk` of n and decrypt into out. */
static int open_chunk(struct shelter_volume *v, const struct vs_inode *n, uint64_t chunk,
		      const struct vs_chunk *loc, const uint8_t *buf, size_t got,
		      uint8_t out[VF_CHUNK], struct shelter_err *err)
{
	struct vol_seg *s = &v->segs[loc->seg];
	struct vf_rec rec;
	char path[512];
	int rc = vf_rec_parse(buf, got, &rec);

	if (rc == 0 && (rec.kind != (s->checkpoint ? VF_KIND_CKPT_DATA : VF_KIND_DATA) ||
			rec.seq != loc->seq || rec.ino != n->ino || rec.chunk != chunk))
		rc = SHELTER_E_SWAPPED;
	if (rc == 0)
		rc = vf_rec_open(s->aead, v->hdr.volume_id, s->segno, &rec, out, NULL);
	if (rc == 0)
		return 0;
	vs_path(&v->st, n->ino, path, sizeof(path));
	return shelter_err_set(err, rc == SHELTER_E_TRUNCATED ? rc : SHELTER_E_INTEGRITY,
			       "chunk %" PRIu64 " of '%s' (segment %" PRIu64 " offset %" PRIu64
			       "): %s", chunk, path, s->segno, chunk_offset(s, loc),
			       rc == SHELTER_E_TRUNCATED ? "truncated"
			       : rc == SHELTER_E_SWAPPED ? "record swapped"
							 : "MAC mismatch");
}

/* How many chunks from first on (at most max) lie back to back in one segment. */
static size_t run_length(struct shelter_volume *v, const struct vs_inode *n,
			 uint64_t first, size_t max)
{
	const struct vs_chunk *a = vs_cm_get(&n->chunks, first), *b;
	uint64_t start = chunk_offset(&v->segs[a->seg], a);
	size_t len = 1;

	while (len < max && (b = vs_cm_get(&n->chunks, first + len)) != NULL &&
	       b->seg == a->seg &&
	       chunk_offset(&v->segs[b->seg], b) == start + len * (uint64_t)VF_DATA_REC_SIZE &&
	       !vol_cache_get(v, n->ino, first + len, b, NULL))
		len++;
	return len;
}

/* Read count consecutive chunks of n into out (count * VF_CHUNK bytes) with one
 * pread per run of records that sit back to back, as sequential writes leave them. */
int vol_read_chunks(struct shelter_volume *v, const struct vs_inode *n, uint64_t first,
		    size_t count, uint8_t *out, struct shelter_err *err)
{
	size_t i = 0, max = VOL_WINDOW / VF_DATA_REC_SIZE;
	int rc = 0;

	while (i < count && rc == 0) {
		const struct vs_chunk *loc = vs_cm_get(&n->chunks, first + i);
		size_t len, got = 0;

		if (loc == NULL) {
			memset(out + i * VF_CHUNK, 0, VF_CHUNK);
			i++;
			continue;
		}
		if (vol_cache_get(v, n->ino, first + i, loc, out + i * VF_CHUNK)) {
			i++;
			continue;
		}
		len = run_length(v, n, first + i, count - i < max ? count - i : max);
		rc = vol_pread_full(v->segs[loc->seg].fd, v->window, len * VF_DATA_REC_SIZE,
				    chunk_offset(&v->segs[loc->seg], loc), &got);
		if (rc < 0)
			return shelter_err_errno(err, -rc, "read chunk %" PRIu64, first + i);
		for (size_t k = 0; k < len && rc == 0; k++) {
			const struct vs_chunk *kl = vs_cm_get(&n->chunks, first + i + k);
			size_t at = k * VF_DATA_REC_SIZE;
			uint8_t *pt = out + (i + k) * VF_CHUNK;

			rc = open_chunk(v, n, first + i + k, kl, v->window + at,
					got > at ? got - at : 0, pt, err);
			if (rc == 0)
				vol_cache_put(v, n->ino, first + i + k, kl, pt);
		}
		i += len;
	}
	return rc;
}

int vol_read_chunk(struct shelter_volume *v, const struct vs_inode *n, uint64_t chunk,
		   uint8_t out[VF_CHUNK], struct shelter_err *err)
{
	return vol_read_chunks(v, n, chunk, 1, out, err);
}
