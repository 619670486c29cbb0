/* The log store: open with its tamper checks, the scan shared with audit, and the
 * derived files (docs/formats/log.md §4, §6.2, §6.3, §8). Commits, proofs and anchors
 * are in commit.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/store.h"
#include "shelter/crypto.h"
#include "tee/pki.h"
#include "util/buf.h"

int lg_pread_all(int fd, void *buf, size_t size, uint64_t off)
{
	uint8_t *p = buf;

	while (size > 0) {
		ssize_t n = pread(fd, p, size, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = 0; /* end of file */
			return -1;
		}
		p += n;
		size -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int lg_pwrite_all(int fd, const void *buf, size_t size, uint64_t off)
{
	const uint8_t *p = buf;

	while (size > 0) {
		ssize_t n = pwrite(fd, p, size, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		size -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* ---- derived files (§6.2) ---- */

static int derived_open(struct lg_derived *d, int dirfd, struct shelter_err *err)
{
	char name[16];

	for (unsigned l = 0; l < LG_LEVELS; l++)
		d->tile[l] = -1;
	d->index = openat(dirfd, "index", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (d->index < 0)
		return shelter_err_errno(err, errno, "log: create 'index'");
	for (unsigned l = 0; l < LG_LEVELS; l++) {
		snprintf(name, sizeof(name), "tile-%u", l);
		d->tile[l] = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (d->tile[l] < 0)
			return shelter_err_errno(err, errno, "log: create '%s'", name);
	}
	return 0;
}

void lg_derived_close(struct lg_derived *d)
{
	if (d->index >= 0)
		close(d->index);
	for (unsigned l = 0; l < LG_LEVELS; l++)
		if (d->tile[l] >= 0)
			close(d->tile[l]);
	lg_pending_free(&d->pend);
}

void lg_pending_free(struct lg_pending *p)
{
	free(p->index);
	for (unsigned l = 0; l < LG_LEVELS; l++)
		free(p->tile[l].buf);
	memset(p, 0, sizeof(*p));
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 4096;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = realloc(*buf, c);
	if (p == NULL)
		return -1;
	*buf = p;
	*cap = c;
	return 0;
}

/* lg_emit_fn: hashes of heights 0, 8, 16 ... go to tile-(h/8) (§6.2). */
int lg_emit(void *ctx, unsigned height, uint64_t k, const uint8_t h[LG_HASH],
	    struct shelter_err *err)
{
	struct lg_pending *p = ctx;
	struct lg_tilebuf *t;

	if (height % 8 != 0)
		return 0;
	t = &p->tile[height / 8];
	if (t->used == 0)
		t->first = k;
	if (grow(&t->buf, &t->cap, t->used + LG_HASH) != 0)
		return shelter_err_set(err, SHELTER_E_NOMEM, "log: hash tile buffer");
	memcpy(t->buf + t->used, h, LG_HASH);
	t->used += LG_HASH;
	return 0;
}

int lg_pending_offset(struct lg_pending *p, uint64_t index, uint64_t off,
		      struct shelter_err *err)
{
	if (p->index_used == 0)
		p->index_first = index;
	if (p->index_used == p->index_cap) {
		size_t cap = p->index_cap ? p->index_cap * 2 : 1024;
		uint64_t *n = realloc(p->index, cap * sizeof(*n));

		if (n == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "log: index buffer");
		p->index = n;
		p->index_cap = cap;
	}
	p->index[p->index_used++] = off;
	return 0;
}

int lg_pending_flush(struct lg_derived *d, struct shelter_err *err)
{
	struct lg_pending *p = &d->pend;

	for (size_t i = 0; i < p->index_used; i++) {
		uint8_t be[8];

		shelter_store_be(be, p->index[i], 8);
		memcpy(&p->index[i], be, 8);
	}
	if (p->index_used > 0 &&
	    lg_pwrite_all(d->index, p->index, p->index_used * 8, p->index_first * 8) != 0)
		return shelter_err_errno(err, errno, "log: write 'index'");
	p->index_used = 0;
	for (unsigned l = 0; l < LG_LEVELS; l++) {
		struct lg_tilebuf *t = &p->tile[l];

		if (t->used > 0 &&
		    lg_pwrite_all(d->tile[l], t->buf, t->used, t->first * LG_HASH) != 0)
			return shelter_err_errno(err, errno, "log: write 'tile-%u'", l);
		t->used = 0;
	}
	return 0;
}

/* ---- the scan (§6.3 steps 3 to 5, §8) ---- */

/* Check the root when the tree reaches the anchored size (§6.3 step 5). */
static int scan_at_anchor(struct lg_scan *s, struct shelter_err *err)
{
	uint8_t root[LG_HASH];

	if (s->want_size == 0 || s->frontier.n != s->want_size)
		return 0;
	if (lg_frontier_root(&s->frontier, s->hasher, root) != 0)
		return shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
	if (CRYPTO_memcmp(root, s->want_root, LG_HASH) != 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "TAMPER ALARM: the entries below the %s checkpoint "
				       "(size %llu) are not the ones it signed: changed, "
				       "reordered or replaced", s->what,
				       (unsigned long long)s->want_size);
	s->matched = 1;
	return 0;
}

static int scan_entries(struct lg_scan *s, const uint8_t *frame, const struct lg_frame *f,
			uint64_t off, struct shelter_err *err)
{
	size_t pos = 0;
	int rc;

	for (uint32_t i = 0; i < f->count; i++) {
		const uint8_t *e;
		size_t size;
		uint8_t leaf[LG_HASH];

		if (s->derived != NULL &&
		    (rc = lg_pending_offset(&s->derived->pend, s->frontier.n,
					    off + LG_FRAME_HEAD + pos, err)) != 0)
			return rc;
		lg_frame_entry(frame, &pos, &e, &size);
		if (lg_leaf(s->hasher, e, size, leaf) != 0)
			return shelter_err_set(err, SHELTER_E_CRYPTO, "log: SHA-256 failed");
		if (s->cb != NULL && (rc = s->cb(s->cb_ctx, s->frontier.n, e, size)) != 0)
			return shelter_err_set(err, rc, "stopped by the reader at entry %llu",
					       (unsigned long long)s->frontier.n);
		if (s->at != NULL &&
		    (rc = s->at(s->cb_ctx, s->frontier.n, off + LG_FRAME_HEAD + pos - size - 2,
				leaf, err)) != 0)
			return rc;
		rc = lg_frontier_push(&s->frontier, s->hasher, leaf,
				      s->derived != NULL ? lg_emit : NULL,
				      s->derived != NULL ? &s->derived->pend : NULL, err);
		if (rc == 0)
			rc = scan_at_anchor(s, err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* One frame at off, or a reason it is not valid (*bad set, err filled). */
static int scan_frame(struct lg_scan *s, int fd, uint64_t off, uint64_t file_size,
		      uint64_t *next, int *bad, struct shelter_err *err)
{
	uint8_t head[LG_FRAME_HEAD];
	struct lg_frame f;
	size_t total;
	uint8_t *p;

	*bad = 1;
	if (file_size - off < LG_FRAME_HEAD)
		return shelter_err_set(err, SHELTER_E_TRUNCATED, "frame head cut short");
	if (lg_pread_all(fd, head, LG_FRAME_HEAD, off) != 0)
		return shelter_err_errno(err, errno ? errno : EIO, "read the log at %llu",
					 (unsigned long long)off);
	if (lg_frame_head(head, &f, err) != 0)
		return SHELTER_E_MALFORMED;
	if (f.first != s->frontier.n)
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "frame starts at entry %llu",
				       (unsigned long long)f.first);
	total = LG_FRAME_HEAD + (size_t)f.payload + LG_FRAME_TAIL;
	if (file_size - off < total)
		return shelter_err_set(err, SHELTER_E_TRUNCATED, "frame of %zu bytes cut short",
				       total);
	if (total > s->buf_cap) {
		p = realloc(s->buf, total);
		if (p == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "frame of %zu bytes", total);
		s->buf = p;
		s->buf_cap = total;
	}
	if (lg_pread_all(fd, s->buf, total, off) != 0)
		return shelter_err_errno(err, errno ? errno : EIO, "read the log at %llu",
					 (unsigned long long)off);
	if (lg_frame_check(s->hasher, s->buf, &f, err) != 0)
		return SHELTER_E_INTEGRITY;
	*bad = 0;
	*next = off + total;
	return scan_entries(s, s->buf, &f, off, err);
}

int lg_scan_run(struct lg_scan *s, int fd, uint64_t start, uint64_t file_size,
		struct shelter_err *err)
{
	struct shelter_err why;
	uint64_t off = start, next = 0;
	int rc = 0, bad = 0;

	while (off < file_size) {
		shelter_err_clear(&why);
		rc = scan_frame(s, fd, off, file_size, &next, &bad, &why);
		if (rc != 0 && !bad)
			return shelter_err_set(err, rc, "log: %s", why.msg);
		if (bad)
			break;
		off = next;
		if (s->derived != NULL && s->derived->pend.index_used >= LG_FLUSH_ENTRIES &&
		    (rc = lg_pending_flush(s->derived, err)) != 0)
			return rc;
	}
	s->end = off;
	if (bad && s->frontier.n < s->want_size)
		return shelter_err_set(err, SHELTER_E_TRUNCATED,
				       "log: TAMPER ALARM: frame at offset %llu (entry %llu) is "
				       "not valid (%s), but the %s checkpoint names %llu entries",
				       (unsigned long long)off, (unsigned long long)s->frontier.n,
				       why.msg, s->what, (unsigned long long)s->want_size);
	if (bad)
		s->torn = file_size - off;
	if (s->frontier.n < s->want_size)
		return shelter_err_set(err, SHELTER_E_TRUNCATED,
				       "log: TAMPER ALARM: %llu entries, but the %s checkpoint "
				       "names %llu: entries were removed or the store was rolled "
				       "back", (unsigned long long)s->frontier.n, s->what,
				       (unsigned long long)s->want_size);
	if (s->derived != NULL)
		return lg_pending_flush(s->derived, err);
	return 0;
}

/* ---- open (§6.3) ---- */

static int file_anchor_load(void *ctx, char **out, size_t *len, struct shelter_err *err)
{
	int rc = pki_read_file(ctx, SHELTER_LOG_NOTE_MAX, out, len, err);

	if (rc == SHELTER_E_NOENT) {
		shelter_err_clear(err);
		*out = NULL;
		*len = 0;
		return 0;
	}
	return rc;
}

static int file_anchor_store(void *ctx, const char *note, size_t len, struct shelter_err *err)
{
	char dir[4096];
	const char *path = ctx, *slash = strrchr(path, '/');

	if (slash == NULL)
		return pki_write_atomic(".", path, 0600, note, len, err);
	if ((size_t)(slash - path) >= sizeof(dir))
		return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "anchor path too long");
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return pki_write_atomic(slash == path ? "/" : dir, slash + 1, 0600, note, len, err);
}

/* §6.3 step 2: the anchored checkpoint, checked with the log's own key. */
static int load_anchor(struct shelter_log *log, struct shelter_log_checkpoint *cp,
		       struct shelter_err *err)
{
	struct shelter_log_verifier v;
	char *note = NULL;
	size_t len = 0;
	int rc;

	memset(cp, 0, sizeof(*cp));
	rc = log->anchor.load(log->anchor.ctx, &note, &len, err);
	if (rc != 0 || note == NULL)
		goto out;
	memset(&v, 0, sizeof(v));
	snprintf(v.name, sizeof(v.name), "%s", log->origin);
	memcpy(v.pub, log->pub, 32);
	lg_key_id(v.name, v.pub, v.id);
	rc = shelter_log_checkpoint_open(note, len, &v, cp, err);
	if (rc != 0)
		rc = shelter_err_wrap(err, rc, "log: the anchored checkpoint");
out:
	free(note);
	return rc;
}

static int open_dir(struct shelter_log *log, const struct shelter_log_options *opt,
		    struct shelter_err *err)
{
	if (opt->create && pki_mkdir(opt->dir, err) != 0)
		return SHELTER_E_IO;
	log->dirfd = open(opt->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dirfd < 0)
		return shelter_err_errno(err, errno, "log: open directory '%s'", opt->dir);
	log->lockfd = openat(log->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (log->lockfd < 0)
		return shelter_err_errno(err, errno, "log: open '%s/lock'", opt->dir);
	if (flock(log->lockfd, LOCK_EX | LOCK_NB) != 0)
		return errno == EWOULDBLOCK
			       ? shelter_err_set(err, SHELTER_E_CONFLICT,
						 "log: another writer holds '%s'", opt->dir)
			       : shelter_err_errno(err, errno, "log: lock '%s'", opt->dir);
	return 0;
}

static int create_log(struct shelter_log *log, uint64_t anchored, struct shelter_err *err)
{
	uint8_t head[LG_HEADER_MAX];
	size_t size;
	int rc;

	if (!log->create || anchored > 0)
		return shelter_err_set(err, SHELTER_E_MISSING,
				       "log: '%s/log' is missing%s", log->dir,
				       anchored > 0 ? " but a checkpoint was anchored: TAMPER ALARM"
						    : " (create it with the create option)");
	if ((rc = lg_header_encode(log->origin, log->pub, head, &size, err)) != 0)
		return rc;
	/* §6.3: the header reaches "log" whole or not at all (a temporary file, synced,
	 * then renamed): a crash during creation leaves no log, never a short one. */
	log->logfd = openat(log->dirfd, "log.new", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log->logfd < 0)
		return shelter_err_errno(err, errno, "log: create '%s/log.new'", log->dir);
	if (lg_pwrite_all(log->logfd, head, size, 0) != 0 || fdatasync(log->logfd) != 0 ||
	    renameat(log->dirfd, "log.new", log->dirfd, "log") != 0 || fsync(log->dirfd) != 0)
		return shelter_err_errno(err, errno, "log: create '%s/log'", log->dir);
	log->end = size;
	return 0;
}

/* §4.1: the header must name this log's origin and key. */
static int check_header(struct shelter_log *log, uint64_t *out_start, struct shelter_err *err)
{
	uint8_t head[LG_HEADER_MAX], pub[32];
	char origin[SHELTER_LOG_ORIGIN_MAX + 1];
	struct stat st;
	size_t got;
	ssize_t n;
	int rc;

	if (fstat(log->logfd, &st) != 0)
		return shelter_err_errno(err, errno, "log: stat '%s/log'", log->dir);
	n = pread(log->logfd, head, sizeof(head), 0);
	if (n < 0)
		return shelter_err_errno(err, errno, "log: read '%s/log'", log->dir);
	rc = lg_header_decode(head, (size_t)n, origin, pub, &got, err);
	if (rc != 0)
		return shelter_err_wrap(err, rc, "log: '%s/log'", log->dir);
	if (strcmp(origin, log->origin) != 0 || memcmp(pub, log->pub, 32) != 0)
		return shelter_err_set(err, SHELTER_E_POLICY,
				       "log: '%s/log' belongs to '%s'%s, not to '%s' with this key",
				       log->dir, origin,
				       memcmp(pub, log->pub, 32) != 0 ? " with another key" : "",
				       log->origin);
	*out_start = got;
	log->end = (uint64_t)st.st_size;
	return 0;
}

int lg_store_scan(struct shelter_log *log, struct shelter_err *err)
{
	struct shelter_log_checkpoint cp;
	struct lg_scan s;
	uint64_t start = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	s.hasher = &log->hasher;
	s.derived = &log->derived;
	s.what = "anchored";
	if ((rc = load_anchor(log, &cp, err)) != 0)
		return rc;
	s.want_size = cp.size;
	memcpy(s.want_root, cp.root, LG_HASH);
	log->anchored = cp.size;
	log->logfd = openat(log->dirfd, "log", O_RDWR | O_CLOEXEC);
	if (log->logfd < 0 && errno != ENOENT)
		return shelter_err_errno(err, errno, "log: open '%s/log'", log->dir);
	rc = log->logfd < 0 ? create_log(log, cp.size, err) : check_header(log, &start, err);
	if (rc == 0)
		rc = derived_open(&log->derived, log->dirfd, err);
	if (rc == 0 && start > 0)
		rc = lg_scan_run(&s, log->logfd, start, log->end, err);
	if (rc == 0 && s.torn > 0) { /* §6.3 step 4: a torn tail above the anchor */
		if (ftruncate(log->logfd, (off_t)s.end) != 0 || fdatasync(log->logfd) != 0)
			rc = shelter_err_errno(err, errno, "log: cut the torn tail");
		log->torn = s.torn;
	}
	if (rc == 0 && start > 0)
		log->end = s.end;
	log->frontier = s.frontier;
	free(s.buf);
	return rc;
}

int lg_anchor_default(struct shelter_log *log, const struct shelter_log_options *opt,
		      struct shelter_err *err)
{
	if (opt->anchor != NULL) {
		log->anchor = *opt->anchor;
		return 0;
	}
	if (opt->anchor_path != NULL)
		log->anchor_path = strdup(opt->anchor_path);
	else if (asprintf(&log->anchor_path, "%s/anchor", opt->dir) < 0)
		log->anchor_path = NULL;
	if (log->anchor_path == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "log: anchor path");
	log->anchor.load = file_anchor_load;
	log->anchor.store = file_anchor_store;
	log->anchor.ctx = log->anchor_path;
	return 0;
}

int lg_open_files(struct shelter_log *log, const struct shelter_log_options *opt,
		  struct shelter_err *err)
{
	return open_dir(log, opt, err);
}

/* ---- audit (§8) ---- */

static int audit_checkpoint(int dirfd, const struct shelter_log_verifier *v, const char *note,
			    size_t len, struct shelter_log_checkpoint *cp, struct shelter_err *err)
{
	char *own = NULL;
	size_t own_len = 0;
	int rc, fd;

	if (note != NULL)
		return shelter_log_checkpoint_open(note, len, v, cp, err);
	fd = openat(dirfd, "checkpoint", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return shelter_err_errno(err, errno, "audit: open the store's checkpoint");
	own = malloc(SHELTER_LOG_NOTE_MAX + 1);
	if (own == NULL) {
		close(fd);
		return shelter_err_set(err, SHELTER_E_NOMEM, "audit: checkpoint buffer");
	}
	for (ssize_t n; (n = read(fd, own + own_len, SHELTER_LOG_NOTE_MAX + 1 - own_len)) > 0;)
		own_len += (size_t)n;
	close(fd);
	rc = shelter_log_checkpoint_open(own, own_len, v, cp, err);
	free(own);
	return rc;
}

int shelter_log_audit(const char *dir, const struct shelter_log_verifier *v, const char *note,
		      size_t note_len, uint64_t *out_entries,
		      struct shelter_log_checkpoint *out_checked, struct shelter_err *err)
{
	return shelter_log_read(dir, v, note, note_len, NULL, NULL, out_entries, out_checked,
				err);
}

int shelter_log_read(const char *dir, const struct shelter_log_verifier *v, const char *note,
		     size_t note_len, shelter_log_entry_fn cb, void *ctx, uint64_t *out_entries,
		     struct shelter_log_checkpoint *out_checked, struct shelter_err *err)
{
	struct shelter_log_checkpoint cp;
	struct lg_hasher h = { 0 };
	struct lg_scan s;
	uint8_t head[LG_HEADER_MAX], pub[32];
	char origin[SHELTER_LOG_ORIGIN_MAX + 1];
	struct stat st;
	size_t start;
	ssize_t n;
	int rc, dirfd = -1, fd = -1;

	memset(&s, 0, sizeof(s));
	if (out_entries != NULL)
		*out_entries = 0;
	if (dir == NULL || v == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "audit: NULL argument");
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return shelter_err_errno(err, errno, "audit: open '%s'", dir);
	if ((rc = audit_checkpoint(dirfd, v, note, note_len, &cp, err)) != 0)
		goto out;
	fd = openat(dirfd, "log", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = shelter_err_errno(err, errno, "audit: open '%s/log'", dir);
		goto out;
	}
	n = pread(fd, head, sizeof(head), 0);
	rc = n < 0 ? shelter_err_errno(err, errno, "audit: read '%s/log'", dir)
		   : lg_header_decode(head, (size_t)n, origin, pub, &start, err);
	if (rc != 0)
		goto out;
	if (strcmp(origin, v->name) != 0 || memcmp(pub, v->pub, 32) != 0) {
		rc = shelter_err_set(err, SHELTER_E_POLICY, "audit: '%s/log' is the log of '%s'%s",
				     dir, origin, memcmp(pub, v->pub, 32) ? " with another key" : "");
		goto out;
	}
	if ((rc = lg_hasher_init(&h, err)) != 0)
		goto out;
	s.hasher = &h;
	s.cb = cb;
	s.cb_ctx = ctx;
	s.what = "given";
	s.want_size = cp.size;
	memcpy(s.want_root, cp.root, LG_HASH);
	rc = lg_scan_run(&s, fd, start, (uint64_t)st.st_size, err);
	if (rc == 0 && cp.size == 0)
		s.matched = 1; /* the empty tree: nothing to compare */
	if (rc == 0 && !s.matched)
		rc = shelter_err_set(err, SHELTER_E_INTERNAL, "audit: root at %llu never checked",
				     (unsigned long long)cp.size);
	if (rc == 0 && out_entries != NULL)
		*out_entries = s.frontier.n;
	if (rc == 0 && out_checked != NULL)
		*out_checked = cp;
out:
	free(s.buf);
	if (h.ctx != NULL)
		lg_hasher_free(&h);
	if (fd >= 0)
		close(fd);
	close(dirfd);
	return rc;
}
