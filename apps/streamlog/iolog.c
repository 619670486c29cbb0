/* The content of sudo I/O log sessions, follower side (docs/streamlog.md §3.5.4,
 * §3.5.5; iolog.h).
 *
 * sudo 1.9.13 writes a session's files as append-only streams and, when the session
 * ends, closes them and clears the write bits of `timing` (sudoreplay's follow mode
 * waits for exactly that; observed on Debian 12). Each pass here opens every file of
 * every open session by name, without following symbolic links, copies what it gained
 * past the offset copied, and checks what it can see: a file shorter than that offset,
 * another inode, a file gone. The copied prefix itself is checked at the end (and at a
 * restart) against the running SHA-256 of the bytes copied. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "streamlog/common.h"
#include "streamlog/iolog.h"
#include "util/b64.h"

#define PASS_NS 1000000000LL           /* §3.5.4: every second */
#define DORMANT_PASS_NS 60000000000LL  /* an idle session is looked at every minute */
#define IDLE_NS 600000000000LL         /* §3.5.4: 10 minutes without growth */
#define FORGET_NS 86400000000000LL     /* and forgotten after a day without growth */
#define PASS_BYTES (1u << 20)          /* per file and pass; more: another pass at once */
#define SESSIONS_MAX 4096

enum { F_ALTERED = 1, F_DORMANT = 2 };

struct io_file {
	char name[SL_IOLOG_NAME_MAX + 1];
	uint64_t ino, off;     /* off: the bytes copied */
	EVP_MD_CTX *md;        /* SHA-256 of the bytes copied, [0, off) */
	char want[SL_IOLOG_HEX + 1]; /* from the state: the digest the file's [0, off) must have */
	int altered;           /* an iolog-altered was recorded for it */
	int shrunk, gone;      /* the alteration now seen, reported once */
};

struct io_sess {
	char *dir, *id;        /* the directory; the path below the followed one */
	struct io_file *f;
	size_t count;
	int64_t last_growth;   /* monotonic ns */
	int64_t next;          /* the next pass that looks at it */
	int dormant;           /* ended idle: looked at every minute */
};

struct sl_iolog {
	const char *dir;
	struct io_sess *s;
	size_t count, cap;
	int64_t next;
	int dirty;
	uint8_t buf[SL_IOLOG_CHUNK];
	char b64[SHELTER_B64_SIZE(SL_IOLOG_CHUNK) + 1];
};

int sl_iolog_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > SL_IOLOG_NAME_MAX || (len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static void hexify(const uint8_t *d, size_t n, char *out)
{
	static const char x[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = x[d[i] >> 4];
		out[2 * i + 1] = x[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The digest md holds now, md left going on. */
static int md_hex(const EVP_MD_CTX *md, char out[SL_IOLOG_HEX + 1])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t d[32];
	unsigned n = 0;
	int ok = c != NULL && EVP_MD_CTX_copy_ex(c, md) == 1 && EVP_DigestFinal_ex(c, d, &n) == 1 &&
		 n == 32;

	EVP_MD_CTX_free(c);
	if (!ok)
		return -1;
	hexify(d, 32, out);
	return 0;
}

/* The digest of the bytes copied of f: the state's until the file was checked. */
static int copied_hex(const struct io_file *f, char out[SL_IOLOG_HEX + 1])
{
	if (f->want[0] != '\0') {
		memcpy(out, f->want, SL_IOLOG_HEX + 1);
		return 0;
	}
	return md_hex(f->md, out);
}

static EVP_MD_CTX *md_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		md = NULL;
	}
	return md;
}

/* Hash fd's bytes [0, size) into md (fresh); the bytes read (fewer when it shrank). */
static uint64_t md_file(EVP_MD_CTX *md, int fd, uint64_t size, uint8_t *buf)
{
	uint64_t at = 0;

	while (at < size) {
		size_t want = size - at < SL_IOLOG_CHUNK ? (size_t)(size - at) : SL_IOLOG_CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)at);

		if (n <= 0)
			break;
		(void)EVP_DigestUpdate(md, buf, (size_t)n);
		at += (uint64_t)n;
	}
	return at;
}

int sl_iolog_new(const char *dir, struct sl_iolog **out, struct shelter_err *err)
{
	struct sl_iolog *io = calloc(1, sizeof(*io));

	*out = NULL;
	if (io == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "sudo-io: out of memory");
	io->dir = dir;
	*out = io;
	return 0;
}

static void sess_free(struct io_sess *s)
{
	for (size_t i = 0; i < s->count; i++)
		EVP_MD_CTX_free(s->f[i].md);
	free(s->f);
	free(s->dir);
	free(s->id);
}

void sl_iolog_free(struct sl_iolog *io)
{
	if (io == NULL)
		return;
	for (size_t i = 0; i < io->count; i++)
		sess_free(&io->s[i]);
	free(io->s);
	free(io);
}

size_t sl_iolog_open_count(const struct sl_iolog *io)
{
	return io->count;
}

int sl_iolog_full(const struct sl_iolog *io)
{
	return io->count >= SESSIONS_MAX;
}

static struct io_sess *find(struct sl_iolog *io, const char *id)
{
	for (size_t i = 0; i < io->count; i++)
		if (strcmp(io->s[i].id, id) == 0)
			return &io->s[i];
	return NULL;
}

/* A new session id (checked by the caller), empty; NULL when out of memory or full. */
static struct io_sess *sess_add(struct sl_iolog *io, const char *id)
{
	struct io_sess *s;
	size_t dl = strlen(io->dir), il = strlen(id);

	if (io->count >= SESSIONS_MAX)
		return NULL;
	if (io->count == io->cap) {
		size_t cap = io->cap ? io->cap * 2 : 16;
		struct io_sess *n = realloc(io->s, cap * sizeof(*n));

		if (n == NULL)
			return NULL;
		io->s = n;
		io->cap = cap;
	}
	s = &io->s[io->count];
	memset(s, 0, sizeof(*s));
	s->id = strdup(id);
	s->dir = malloc(dl + il + 2);
	if (s->id == NULL || s->dir == NULL) {
		sess_free(s);
		return NULL;
	}
	snprintf(s->dir, dl + il + 2, "%s/%s", io->dir, id);
	s->last_growth = sl_mono_ns();
	io->count++;
	io->dirty = 1;
	return s;
}

static struct io_file *file_add(struct io_sess *s, const char *name, size_t len)
{
	struct io_file *n, *f;

	if (s->count >= SL_IOLOG_FILES_MAX)
		return NULL;
	n = realloc(s->f, (s->count + 1) * sizeof(*n));
	if (n == NULL)
		return NULL;
	s->f = n;
	f = &s->f[s->count];
	memset(f, 0, sizeof(*f));
	memcpy(f->name, name, len);
	f->md = md_new();
	if (f->md == NULL)
		return NULL;
	s->count++;
	return f;
}

/* The id of session_dir below dir: what follows dir and its slashes ("." for dir). */
static const char *id_of(const char *dir, const char *session_dir)
{
	size_t n = strlen(dir);
	const char *p;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (strncmp(session_dir, dir, n) != 0 || (session_dir[n] != '/' && session_dir[n] != '\0'))
		return NULL;
	p = session_dir + n;
	while (*p == '/')
		p++;
	return *p == '\0' ? "." : p;
}

int sl_iolog_open(struct sl_iolog *io, const char *session_dir)
{
	const char *id = id_of(io->dir, session_dir);

	if (id == NULL || strchr(id, '\n') != NULL || strlen(id) > PATH_MAX)
		return SHELTER_E_INVAL;
	if (find(io, id) != NULL)
		return 0;
	return sess_add(io, id) != NULL ? 0 : SHELTER_E_NOMEM;
}

/* ---- events ---- */

static void ev_init(const struct sl_iolog_sink *k, const struct io_sess *s, const char *result,
		    struct sl_event *e)
{
	sl_event_init(e);
	e->source = SL_SRC_SUDO;
	e->source_id = sl_str_c(k->source_id);
	e->host = sl_str_c(k->host);
	e->received_ns = sl_now_ns();
	e->session = sl_str_c(s->id);
	e->result = sl_str_c(result);
}

/* §3.5.4 iolog-altered: what happened to file f, once per alteration. */
static int altered(struct sl_iolog *io, const struct sl_iolog_sink *k, const struct io_sess *s,
		   struct io_file *f, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int altered(struct sl_iolog *io, const struct sl_iolog_sink *k, const struct io_sess *s,
		   struct io_file *f, const char *fmt, ...)
{
	char on[PATH_MAX + 80], msg[1024];
	struct sl_event e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(on, sizeof(on), "%s/%s", s->dir, f->name);
	sl_log("sudo I/O log %s altered: %s", on, msg);
	ev_init(k, s, "iolog-altered", &e);
	e.object = sl_str_c(on);
	e.action = sl_str_c(f->name);
	e.message = sl_str_c(msg);
	f->altered = 1;
	io->dirty = 1;
	return k->append(k->ctx, &e);
}

/* iolog-data: n bytes of f at f->off (appended to its digest first). */
static int data(struct sl_iolog *io, const struct sl_iolog_sink *k, const struct io_sess *s,
		struct io_file *f, size_t n)
{
	char on[PATH_MAX + 80], msg[128], hex[SL_IOLOG_HEX + 1];
	struct sl_event e;
	size_t b;

	if (EVP_DigestUpdate(f->md, io->buf, n) != 1 || md_hex(f->md, hex) != 0)
		return -1;
	b = shelter_b64_encode(io->buf, n, io->b64);
	snprintf(on, sizeof(on), "%s/%s", s->dir, f->name);
	snprintf(msg, sizeof(msg), "%" PRIu64 " %zu %s", f->off, n, hex);
	ev_init(k, s, "iolog-data", &e);
	e.object = sl_str_c(on);
	e.action = sl_str_c(f->name);
	e.message = sl_str_c(msg);
	e.raw = (struct sl_str){ io->b64, b };
	if (k->append(k->ctx, &e) != 0)
		return -1;
	f->off += n;
	io->dirty = 1;
	return 0;
}

/* ---- one session ---- */

/* Files of the directory not followed yet (regular files with a name we copy). */
static void discover(struct io_sess *s, int dfd)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct stat st;
		int known = 0;

		if (!sl_iolog_name_ok(de->d_name, len))
			continue;
		for (size_t i = 0; i < s->count && !known; i++)
			known = strcmp(s->f[i].name, de->d_name) == 0;
		if (known || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		(void)file_add(s, de->d_name, len);
	}
	closedir(d);
}

/* At the first pass after a restart: does the file still hold the prefix the state
 * says was copied? Either way md is then the digest of what the file holds there. */
static int check_prefix(struct sl_iolog *io, const struct sl_iolog_sink *k, struct io_sess *s,
			struct io_file *f, int fd)
{
	char hex[SL_IOLOG_HEX + 1];
	uint64_t got;

	EVP_MD_CTX_free(f->md);
	f->md = md_new();
	if (f->md == NULL)
		return -1;
	got = md_file(f->md, fd, f->off, io->buf);
	if (md_hex(f->md, hex) != 0)
		return -1;
	if (got == f->off && CRYPTO_memcmp(hex, f->want, SL_IOLOG_HEX) == 0) {
		f->want[0] = '\0';
		return 0;
	}
	f->want[0] = '\0';
	if (got < f->off)
		f->shrunk = 1;
	return altered(io, k, s, f, "%s: at restart, the file's first %" PRIu64 " bytes are not "
		       "those StreamLog copied before it stopped (%" PRIu64 " bytes there now); later "
		       "chunks' digests are of the file as read now", f->name, f->off, got);
}

/* One file: check it, copy what it gained (at most PASS_BYTES). 1 when more is left. */
static int copy_file(struct sl_iolog *io, const struct sl_iolog_sink *k, struct io_sess *s,
		     struct io_file *f, int dfd, int *grew)
{
	uint64_t budget = PASS_BYTES;
	struct stat st;
	int fd, rc = 0, gone = fstatat(dfd, f->name, &st, AT_SYMLINK_NOFOLLOW) != 0;

	if (gone && errno != ENOENT)
		return 0; /* cannot tell now */
	if (gone || !S_ISREG(st.st_mode)) {
		/* removed, or a symbolic link, FIFO, device in its place: never opened */
		if (f->gone)
			return 0;
		f->gone = 1;
		return altered(io, k, s, f, "%s was %s after StreamLog copied %" PRIu64 " bytes of "
			       "it", f->name, gone ? "removed" : S_ISLNK(st.st_mode)
			       ? "replaced by a symbolic link" : "replaced by a file that is not "
			       "a regular file", f->off);
	}
	fd = openat(dfd, f->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	f->gone = 0;
	if (f->ino != 0 && f->ino != (uint64_t)st.st_ino)
		rc = altered(io, k, s, f, "%s was replaced: inode %" PRIu64 ", now %" PRIu64
			     " (StreamLog had copied %" PRIu64 " bytes)", f->name, f->ino,
			     (uint64_t)st.st_ino, f->off);
	if (f->ino != (uint64_t)st.st_ino)
		io->dirty = 1;
	f->ino = (uint64_t)st.st_ino;
	if (rc == 0 && f->want[0] != '\0')
		rc = check_prefix(io, k, s, f, fd);
	if (rc == 0 && (uint64_t)st.st_size < f->off && !f->shrunk) {
		f->shrunk = 1;
		rc = altered(io, k, s, f, "%s shrank to %lld bytes, below the %" PRIu64
			     " bytes StreamLog copied", f->name, (long long)st.st_size, f->off);
	}
	if ((uint64_t)st.st_size >= f->off)
		f->shrunk = 0;
	while (rc == 0 && budget > 0 && (uint64_t)st.st_size > f->off) {
		uint64_t left = (uint64_t)st.st_size - f->off;
		size_t want = left < SL_IOLOG_CHUNK ? (size_t)left : SL_IOLOG_CHUNK;
		ssize_t n = pread(fd, io->buf, want, (off_t)f->off);

		if (n <= 0)
			break;
		rc = data(io, k, s, f, (size_t)n);
		budget -= budget < (uint64_t)n ? budget : (uint64_t)n;
		*grew = 1;
	}
	close(fd);
	if (rc != 0)
		return -1;
	return (uint64_t)st.st_size > f->off && budget == 0;
}

/* The end line of file f: "NAME COPIED COPIED_SHA SIZE SHA STATUS" (§3.5.4). */
static int end_line(struct sl_iolog *io, const struct sl_iolog_sink *k, struct io_sess *s,
		    struct io_file *f, int dfd, char *out, size_t cap)
{
	char copied[SL_IOLOG_HEX + 1], now[SL_IOLOG_HEX + 1] = "-";
	struct stat st;
	int fd = fstatat(dfd, f->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)
			 ? openat(dfd, f->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
			 : -1;
	uint64_t size = 0;
	const char *status = "missing";
	int rc = 0;

	if (copied_hex(f, copied) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		EVP_MD_CTX *md = md_new();

		if (md == NULL) {
			close(fd);
			return -1;
		}
		size = md_file(md, fd, (uint64_t)st.st_size, io->buf);
		rc = md_hex(md, now);
		EVP_MD_CTX_free(md);
		status = size == f->off && CRYPTO_memcmp(now, copied, SL_IOLOG_HEX) == 0 ? "match"
											  : "altered";
		if (rc == 0 && strcmp(status, "altered") == 0)
			rc = altered(io, k, s, f, "%s: the file (%" PRIu64 " bytes, SHA-256 %s) is not "
				     "the %" PRIu64 " bytes StreamLog copied (SHA-256 %s)", f->name,
				     size, now, f->off, copied);
	}
	if (fd >= 0)
		close(fd);
	if (rc == 0 && f->altered)
		status = "altered";
	snprintf(out, cap, "%s %" PRIu64 " %s %" PRIu64 " %s %s\n", f->name, f->off, copied, size,
		 now, status);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct io_file *)a)->name, ((const struct io_file *)b)->name);
}

/* iolog-end (§3.5.4); how: complete, idle, removed. dfd -1 when the directory is gone. */
static int end(struct sl_iolog *io, const struct sl_iolog_sink *k, struct io_sess *s, int dfd,
	       const char *how)
{
	size_t cap = s->count * (SL_IOLOG_NAME_MAX + 2 * SL_IOLOG_HEX + 64) + 1, len = 0;
	char *msg = malloc(cap);
	struct sl_event e;
	int rc = 0;

	if (msg == NULL)
		return -1;
	msg[0] = '\0';
	qsort(s->f, s->count, sizeof(*s->f), name_cmp);
	for (size_t i = 0; i < s->count && rc == 0; i++) {
		if (dfd < 0) {
			char copied[SL_IOLOG_HEX + 1];

			if (!s->f[i].gone && !s->f[i].altered)
				rc = altered(io, k, s, &s->f[i], "%s was removed with its session "
					     "directory after StreamLog copied %" PRIu64 " bytes of it",
					     s->f[i].name, s->f[i].off);
			if (rc == 0)
				rc = copied_hex(&s->f[i], copied);
			snprintf(msg + len, cap - len, "%s %" PRIu64 " %s 0 - missing\n", s->f[i].name,
				 s->f[i].off, copied);
		} else {
			rc = end_line(io, k, s, &s->f[i], dfd, msg + len, cap - len);
		}
		len += strlen(msg + len);
	}
	if (rc == 0) {
		if (len > 0)
			msg[--len] = '\0';
		ev_init(k, s, "iolog-end", &e);
		e.object = sl_str_c(s->dir);
		e.action = sl_str_c(how);
		e.message = (struct sl_str){ msg, len };
		rc = k->append(k->ctx, &e);
	}
	free(msg);
	io->dirty = 1;
	return rc;
}

/* One session's pass: -1 when an event was not recorded, 1 more to copy, 2 closed. */
static int sess_poll(struct sl_iolog *io, const struct sl_iolog_sink *k, struct io_sess *s,
		     int64_t mono)
{
	int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int more = 0, grew = 0, rc = 0, complete;
	struct stat st;

	if (dfd < 0) {
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			return 0;
		return end(io, k, s, -1, "removed") == 0 ? 2 : -1;
	}
	/* sudo clears the write bits of timing when the session ends (sudoreplay -f), after
	 * it closed every file: looked at before the copy, so the copy has their last bytes */
	complete = fstatat(dfd, "timing", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		   (st.st_mode & 0222) == 0;
	discover(s, dfd);
	for (size_t i = 0; i < s->count && rc >= 0; i++) {
		rc = copy_file(io, k, s, &s->f[i], dfd, &grew);
		more |= rc == 1;
	}
	if (rc >= 0 && grew) {
		s->last_growth = mono;
		if (s->dormant)
			io->dirty = 1;
		s->dormant = 0;
	}
	if (rc >= 0 && !more) {
		if (complete)
			rc = end(io, k, s, dfd, "complete") == 0 ? 2 : -1;
		else if (!s->dormant && mono - s->last_growth >= IDLE_NS) {
			rc = end(io, k, s, dfd, "idle");
			s->dormant = 1;
		} else if (s->dormant && mono - s->last_growth >= FORGET_NS) {
			sl_log("sudo I/O log %s: no growth for a day after it ended idle: no longer "
			       "followed", s->dir);
			rc = 2;
		}
	}
	close(dfd);
	if (rc < 0)
		return -1;
	s->next = more ? mono : mono + (s->dormant ? DORMANT_PASS_NS : PASS_NS);
	return rc == 2 ? 2 : more;
}

int sl_iolog_poll(struct sl_iolog *io, const struct sl_iolog_sink *sink, int64_t mono, int force)
{
	int more = 0;
	size_t keep = 0;

	if (!force && mono < io->next)
		return 0;
	io->next = mono + PASS_NS;
	for (size_t i = 0; i < io->count; i++) {
		struct io_sess *s = &io->s[i];
		int rc = force || mono >= s->next ? sess_poll(io, sink, s, mono) : 0;

		if (rc < 0) {
			/* the log failed: the daemon stops; keep every session as it is */
			for (; i < io->count; i++)
				io->s[keep++] = io->s[i];
			io->count = keep;
			return -1;
		}
		if (rc == 2) {
			sess_free(s);
			io->dirty = 1;
			continue;
		}
		more |= rc;
		io->s[keep++] = *s;
	}
	io->count = keep;
	if (more)
		io->next = mono;
	return more;
}

/* ---- the state file (§3.5.5) ---- */

int sl_iolog_state_load(struct sl_iolog *io, const char *line, struct shelter_err *err)
{
	uint64_t flags = 0, ino = 0, off = 0;
	const char *p = line, *name, *sp;
	struct io_sess *s;
	struct io_file *f;

	if (sl_u64_sp(&p, &flags) != 0 || flags > 3 || sl_u64_sp(&p, &ino) != 0 ||
	    sl_u64_sp(&p, &off) != 0)
		goto bad;
	for (int i = 0; i < SL_IOLOG_HEX; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			goto bad;
	if (p[SL_IOLOG_HEX] != ' ')
		goto bad;
	name = p + SL_IOLOG_HEX + 1;
	sp = strchr(name, ' ');
	if (sp == NULL || !sl_iolog_name_ok(name, (size_t)(sp - name)) || sp[1] == '\0' ||
	    strlen(sp + 1) > PATH_MAX || off > INT64_MAX)
		goto bad;
	s = find(io, sp + 1);
	if (s == NULL && (s = sess_add(io, sp + 1)) == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "sudo-io state: out of memory");
	for (size_t i = 0; i < s->count; i++)
		if (strncmp(s->f[i].name, name, (size_t)(sp - name)) == 0 &&
		    s->f[i].name[sp - name] == '\0')
			return shelter_err_set(err, SHELTER_E_MALFORMED, "file %.*s of session %s twice",
					       (int)(sp - name), name, sp + 1);
	f = file_add(s, name, (size_t)(sp - name));
	if (f == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "sudo-io state: out of memory");
	f->ino = ino;
	f->off = off;
	f->altered = (flags & F_ALTERED) != 0;
	s->dormant |= (flags & F_DORMANT) != 0;
	memcpy(f->want, p, SL_IOLOG_HEX);
	f->want[SL_IOLOG_HEX] = '\0';
	io->dirty = 0;
	return 0;
bad:
	return shelter_err_set(err, SHELTER_E_MALFORMED,
			       "want + FLAGS INODE OFFSET SHA256 NAME SESSION");
}

int sl_iolog_state_text(const struct sl_iolog *io, char **out, size_t *out_size)
{
	size_t cap = 1, len = 0;
	char *buf;

	*out = NULL;
	*out_size = 0;
	for (size_t i = 0; i < io->count; i++)
		cap += io->s[i].count * (strlen(io->s[i].id) + SL_IOLOG_NAME_MAX + SL_IOLOG_HEX + 80);
	if (cap == 1)
		return 0;
	buf = malloc(cap);
	if (buf == NULL)
		return SHELTER_E_NOMEM;
	for (size_t i = 0; i < io->count; i++) {
		const struct io_sess *s = &io->s[i];

		for (size_t j = 0; j < s->count; j++) {
			const struct io_file *f = &s->f[j];
			char hex[SL_IOLOG_HEX + 1];

			if (copied_hex(f, hex) != 0) {
				free(buf);
				return SHELTER_E_NOMEM;
			}
			len += (size_t)snprintf(buf + len, cap - len,
						"+ %d %" PRIu64 " %" PRIu64 " %s %s %s\n",
						(f->altered ? F_ALTERED : 0) |
							(s->dormant ? F_DORMANT : 0),
						f->ino, f->off, hex, f->name, s->id);
		}
	}
	*out = buf;
	*out_size = len;
	return 0;
}

int sl_iolog_state_dirty(const struct sl_iolog *io)
{
	return io->dirty;
}

void sl_iolog_state_saved(struct sl_iolog *io)
{
	io->dirty = 0;
}
