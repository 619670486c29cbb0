/* File sources of `streamlog serve`, and audit, tlog and sudo records inside syslog
 * (docs/streamlog.md §3.5; follow_src.h).
 *
 * One thread does all of it: it polls every followed file every 100 ms, reads what was
 * added (at most one batch of FILE_BUF bytes per file per pass), appends one event per
 * record, syncs once per pass, and only then writes the positions it reached to
 * STORE/follow.state. The same thread owns every audit adapter (libauparse's
 * process-wide state, docs/streamlog.md §3.2.5), those of followed audit files and those
 * of connections, whose threads queue their audit lines here. The content of the sudo
 * I/O log sessions a sudo-io scan finds is copied by iolog.c, on this thread too, its
 * open sessions kept in the same state file (docs/streamlog.md §3.5.4, §3.5.5). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shelter/crypto.h"
#include "streamlog/audit.h"
#include "streamlog/common.h"
#include "streamlog/follow_src.h"
#include "streamlog/iolog.h"
#include "streamlog/serve_int.h"
#include "streamlog/sudo.h"
#include "streamlog/tlog.h"
#include "tee/pki.h"

/* One read: the largest record of any kind (SL_SUDO_MAX, SL_TLOG_MAX) and its framing. */
#define FILE_BUF (SL_SUDO_MAX + 4096)
#define SCRATCH_SIZE (FILE_BUF + 16384) /* SL_SUDO_SCRATCH, SL_TLOG_SCRATCH of a batch */
#define POLL_NS 100000000LL             /* §3.5.2: files are polled every 100 ms */
#define TICK_NS 500000000LL             /* docs/streamlog.md §3.2.2: sl_audit_tick */
#define SCAN_NS 1000000000LL            /* §3.5.4: I/O log directories every second */
#define GONE_NS 1000000000LL            /* §3.5.2: a path missing this long is gone */
#define IOLOG_SETTLE_NS 1000000000LL    /* §3.5.5: ctime granularity and clock slack */
#define IOLOG_YOUNG_NS 10000000000LL    /* a log.json that does not parse yet is retried */
#define IOLOG_DEPTH 6
#define IOLOG_MAX_ENTRIES 200000
#define QUEUE_MAX_BYTES (8u << 20)
#define ADAPTERS_MAX 256
#define STOP_PASSES 64
#define STATE_NAME "follow.state"
#define STATE_HEAD "streamlog follow state 2" /* 1: without "+" lines (§3.5.5) */
#define STATE_HEAD_V1 "streamlog follow state 1"
#define SPEC_PATH_MAX 4000

enum kind { K_AUDIT, K_SUDO, K_TLOG, K_SUDO_IO };
static const char *const KIND_NAMES[] = { "audit", "sudo", "tlog", "sudo-io" };

struct io_seen { /* an I/O log session recorded in this run, newer than the watermark */
	int64_t t;
	char *dir;
};

struct fsrc { /* one --follow */
	enum kind kind;
	const char *spec;     /* KIND:PATH as given: the key in the state file */
	const char *path;     /* inside spec */
	char *source_id;      /* "file:PATH" */
	int started;          /* the first open (against the state file) was done */
	/* the open file (audit, sudo, tlog) */
	int fd;
	uint64_t ino, dev, off;      /* off: the next byte to read */
	int64_t stall_size, stall_mtime; /* a partial record at the end: skip until changed */
	int skipping;                /* discarding the rest of a line over FILE_BUF */
	int waiting, failing;        /* reported once */
	int64_t gone_since;          /* the path was first seen missing (monotonic ns) */
	struct sl_audit *audit;
	struct sl_sudo_split split;
	/* positions (§3.5.5): in the state file, and ready to go there after the next sync */
	int have_state;
	uint64_t st_ino, st_off, ready_ino, ready_off;
	/* sudo-io: sessions recorded above the watermark (ready_off) */
	struct io_seen *seen;
	size_t seen_count, seen_cap;
	int64_t next_scan;
	int scan_warned, open_warned;
	struct sl_iolog *iolog; /* the content of the open sessions (iolog.c) */
};

struct adapter { /* the audit adapter of one connection and sending host */
	uint64_t conn;
	char host[256];
	struct sl_audit *a;
	struct adapter *next;
};

struct qitem { /* an audit line from a connection, or its end */
	struct qitem *next;
	uint64_t conn, ticket;
	int close;
	char source_id[256], host[256];
	size_t len;
	char line[];
};

struct sl_follow {
	char store[PATH_MAX];
	char hostname[256];
	struct fsrc *src;
	unsigned count;
	struct server *srv;
	pthread_t thread;
	int running;
	pthread_mutex_t mu; /* the queue, tickets, stopping, dead */
	pthread_cond_t work, done;
	struct qitem *qhead, **qtail;
	size_t qbytes;
	uint64_t next_ticket, done_ticket;
	int stopping, dead;
	/* the follower thread's own */
	struct adapter *adapters;
	unsigned adapter_count;
	int adapters_warned;
	char *buf, *json, *scratch;
	uint64_t last;
	int appended;
};

/* ---- options ---- */

static int kind_of(const char *spec, size_t *out_len)
{
	for (int k = K_AUDIT; k <= K_SUDO_IO; k++) {
		size_t n = strlen(KIND_NAMES[k]);

		if (strncmp(spec, KIND_NAMES[k], n) == 0 && spec[n] == ':') {
			*out_len = n + 1;
			return k;
		}
	}
	return -1;
}

const char *sl_follow_spec_check(const char *spec)
{
	size_t n = 0;

	if (kind_of(spec, &n) < 0)
		return "--follow wants KIND:PATH, KIND one of audit, sudo, tlog, sudo-io";
	if (spec[n] == '\0' || strlen(spec + n) > SPEC_PATH_MAX || strchr(spec, '\n') != NULL)
		return "--follow: PATH must be 1..4000 bytes without a newline";
	return NULL;
}

/* ---- recording ---- */

static int append(struct sl_follow *f, const struct sl_event *e)
{
	if (sl_srv_record(f->srv, e, f->json, &f->last) != 0)
		return -1;
	f->appended = 1;
	return 0;
}

/* Sync what this thread appended since the last call. */
static int commit(struct sl_follow *f)
{
	if (!f->appended)
		return 0;
	f->appended = 0;
	return sl_srv_sync(f->srv, f->last);
}

/* §4: what happened to a followed file, as StreamLog's own event (synced). */
static void own(struct sl_follow *f, const struct fsrc *s, const char *action,
		const char *result, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void own(struct sl_follow *f, const struct fsrc *s, const char *action,
		const char *result, const char *fmt, ...)
{
	char msg[5000];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sl_log("%s: %s", action, msg);
	(void)sl_srv_own(f->srv, action, result, s->source_id, msg, 1);
}

/* A record no parser took (docs/streamlog.md §3.1.6): kept as it was read. */
static int unparsed(struct sl_follow *f, enum sl_source kind, const char *source_id,
		    const char *host, const char *p, size_t n)
{
	struct sl_event e;

	sl_event_init(&e);
	e.source = kind;
	e.source_id = sl_str_c(source_id);
	e.host = sl_str_c(host);
	e.received_ns = sl_now_ns();
	e.raw = (struct sl_str){ p, n };
	e.result = sl_str_c("unparsed");
	return append(f, &e);
}

/* The daemon's side of an event read from file s: its src.id; the machine's host name
 * when the record names no host (§3.5.2). */
static void from_file(struct sl_follow *f, const struct fsrc *s, struct sl_event *e)
{
	e->source_id = sl_str_c(s->source_id);
	if (e->host.p == NULL || e->host.len == 0)
		e->host = sl_str_c(f->hostname);
}

/* docs/streamlog.md §3.2.5: emit of every adapter, on this thread. */
static int emit(void *ctx, const struct sl_event *e, struct shelter_err *err)
{
	struct sl_follow *f = ctx;
	struct sl_event ev = *e;

	ev.received_ns = sl_now_ns();
	if (append(f, &ev) != 0)
		return shelter_err_set(err, SHELTER_E_IO, "the log refused the event");
	return 0;
}

/* One audit line (no LF) through adapter a; a line it skips is recorded unparsed. */
static int audit_line(struct sl_follow *f, struct sl_audit *a, const char *source_id,
		      const char *host, const char *p, size_t n)
{
	struct shelter_err err;
	int rc = sl_audit_feed(a, p, n, &err);

	if (rc == 0)
		rc = sl_audit_feed(a, "\n", 1, &err);
	if (rc == SHELTER_E_MALFORMED)
		return unparsed(f, SL_SRC_AUDIT, source_id, host, p, n);
	if (rc != 0 && !sl_srv_failed(f->srv))
		sl_log("%s: %s", source_id, err.msg);
	return sl_srv_failed(f->srv) ? -1 : 0;
}

static int audit_end(struct sl_follow *f, struct sl_audit *a, const char *source_id)
{
	struct shelter_err err;

	if (sl_audit_flush(a, &err) != 0 && !sl_srv_failed(f->srv))
		sl_log("%s: %s", source_id, err.msg);
	return sl_srv_failed(f->srv) ? -1 : 0;
}

static int tlog_line(struct sl_follow *f, const struct fsrc *s, const char *p, size_t n)
{
	struct sl_scratch sc = { f->scratch, 0, SCRATCH_SIZE };
	struct shelter_err err;
	struct sl_event e;
	int64_t now = sl_now_ns();

	if (n == 0)
		return 0;
	if (sl_tlog_parse(p, n, now, &e, &sc, &err) != 0)
		sl_event_unparsed(SL_SRC_TLOG, p, n, now, &e);
	from_file(f, s, &e);
	sl_srv_track(f->srv, &e); /* §4: tlog ids per recording (§3.5.6) */
	return append(f, &e);
}

static int sudo_member(struct sl_follow *f, const struct fsrc *s, struct sl_str m, int cut)
{
	struct sl_scratch sc = { f->scratch, 0, SCRATCH_SIZE };
	struct shelter_err err;
	struct sl_event e;
	int64_t now = sl_now_ns();

	if (cut || sl_sudo_parse(m.p, m.len, now, &e, &sc, &err) != 0)
		sl_event_unparsed(SL_SRC_SUDO, m.p, m.len, now, &e);
	from_file(f, s, &e);
	return append(f, &e);
}

/* ---- one file's bytes ---- */

/* The records of buf[0, len), read at s->off; *used: the bytes fully taken. final:
 * the file is left (rotated, gone), a last partial record is recorded as it is. */
static int take_lines(struct sl_follow *f, struct fsrc *s, const char *buf, size_t len,
		      int final, size_t *used)
{
	size_t pos = 0;
	int rc = 0;

	while (rc == 0 && pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;

		if (s->skipping || (nl == NULL && (final || (pos == 0 && len == FILE_BUF)))) {
			/* the rest of a line over FILE_BUF, or a line that will not end */
			if (!s->skipping)
				rc = unparsed(f, s->kind == K_AUDIT ? SL_SRC_AUDIT : SL_SRC_TLOG,
					      s->source_id, f->hostname, buf + pos, n);
			s->skipping = nl == NULL && !final;
			pos += n + (nl != NULL);
			continue;
		}
		if (nl == NULL)
			break;
		rc = s->kind == K_AUDIT ? audit_line(f, s->audit, s->source_id, f->hostname,
						     buf + pos, n)
					: tlog_line(f, s, buf + pos, n);
		pos += n + 1;
	}
	*used = pos;
	return rc;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* sudo's one-object file (docs/streamlog.md §3.3.1) split into members. */
static int take_members(struct sl_follow *f, struct fsrc *s, const char *buf, size_t len,
			int final, size_t *used)
{
	struct shelter_err err;
	size_t pos = 0;
	int rc = 0;

	while (rc == 0 && pos < len) {
		const char *nl;
		struct sl_str m;
		size_t c = 0, n;
		int r = sl_sudo_next(&s->split, buf + pos, len - pos, &c, &m, &err);

		pos += c;
		if (r == 0) {
			rc = sudo_member(f, s, m, s->split.cut);
			continue;
		}
		if (r == 1 && pos < len && buf[pos] == '}') {
			/* sudo's closing '}', never taken: sudo overwrites it with the next
			 * event. Only more than whitespace after it (a second document
			 * appended) is read on. */
			size_t i = pos + 1;

			while (i < len && is_ws(buf[i]))
				i++;
			if (i < len) {
				pos = i;
				continue;
			}
			if (final)
				pos = len;
			break;
		}
		if (r == 1 && !final)
			break; /* a member still being written */
		/* not sudo's layout, or the unfinished end of a file left: the bytes up to
		 * the next line are one unparsed record */
		nl = memchr(buf + pos, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - (buf + pos)) + 1 : len - pos;
		if (nl == NULL && !final && !(pos == 0 && len == FILE_BUF))
			break;
		rc = unparsed(f, SL_SRC_SUDO, s->source_id, f->hostname, buf + pos, n);
		pos += n;
		sl_sudo_split_init(&s->split, 0);
	}
	*used = pos;
	return rc;
}

static int take(struct sl_follow *f, struct fsrc *s, const char *buf, size_t len, int final,
		size_t *used)
{
	return s->kind == K_SUDO ? take_members(f, s, buf, len, final, used)
				 : take_lines(f, s, buf, len, final, used);
}

/* ---- following a file like tail -F (§3.5.2) ---- */

static void close_file(struct fsrc *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->stall_size = s->stall_mtime = -1;
}

/* Start reading at byte from of the file at path (the followed path, or its .1 after a
 * rotation while stopped). New parsers: nothing carries over between files. */
static int open_at(struct sl_follow *f, struct fsrc *s, const char *path, uint64_t from)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		int e = fd < 0 ? errno : EINVAL;

		if (fd >= 0)
			close(fd);
		if (e == ENOENT && !s->waiting)
			sl_log("follow %s: no such file yet: waiting for it", s->spec);
		else if (e != ENOENT && !s->failing)
			own(f, s, "file error", "error", "%s: cannot open: %s", s->path,
			    e == EINVAL ? "not a regular file" : strerror(e));
		s->waiting = e == ENOENT;
		s->failing = e != ENOENT;
		return -1;
	}
	s->fd = fd;
	s->ino = (uint64_t)st.st_ino;
	s->dev = (uint64_t)st.st_dev;
	s->off = from;
	s->skipping = 0;
	s->waiting = s->failing = 0;
	s->stall_size = s->stall_mtime = -1;
	sl_sudo_split_init(&s->split, 0);
	own(f, s, "file opened", "ok", "%s: inode %" PRIu64 ", %lld bytes: reading from byte %" PRIu64,
	    path, s->ino, (long long)st.st_size, from);
	return 0;
}

/* §3.5.5: the first open of a run, against the position the state file kept. */
static void first_open(struct sl_follow *f, struct fsrc *s)
{
	char p1[PATH_MAX];
	struct stat st, old;
	int here = stat(s->path, &st) == 0;

	s->started = 1;
	if (!s->have_state || s->st_ino == 0) {
		(void)open_at(f, s, s->path, 0);
		return;
	}
	if (here && (uint64_t)st.st_ino == s->st_ino) {
		if ((uint64_t)st.st_size >= s->st_off) {
			(void)open_at(f, s, s->path, s->st_off);
			return;
		}
		own(f, s, "file truncated", "loss",
		    "%s shrank to %lld bytes while StreamLog was stopped, below byte %" PRIu64
		    " it had read: records may have been lost; reading from byte 0",
		    s->path, (long long)st.st_size, s->st_off);
		(void)open_at(f, s, s->path, 0);
		return;
	}
	snprintf(p1, sizeof(p1), "%s.1", s->path);
	if (stat(p1, &old) == 0 && (uint64_t)old.st_ino == s->st_ino &&
	    (uint64_t)old.st_size >= s->st_off) {
		own(f, s, "file rotated", "ok",
		    "%s was rotated while StreamLog was stopped: reading the rest of %s (inode %"
		    PRIu64 ") from byte %" PRIu64 " first", s->path, p1, s->st_ino, s->st_off);
		(void)open_at(f, s, p1, s->st_off);
		return;
	}
	own(f, s, "file replaced", "loss",
	    "%s is no longer the file StreamLog read up to byte %" PRIu64 " (inode %" PRIu64
	    "), and %s is not that file either: records written to it after that byte may not "
	    "have been read", s->path, s->st_off, s->st_ino, p1);
	s->ready_ino = s->ready_off = 0;
	if (here)
		(void)open_at(f, s, s->path, 0);
}

/* Leave the open file: what is left of it after s->off is its last record(s); a last
 * line without its LF is recorded unparsed (docs/streamlog.md §3.2.1). */
static int leave(struct sl_follow *f, struct fsrc *s)
{
	struct stat st;
	int64_t size = fstat(s->fd, &st) == 0 ? (int64_t)st.st_size : 0;
	int rc = 0;

	while (rc == 0 && (int64_t)s->off < size) {
		size_t want = (size_t)(size - (int64_t)s->off) < FILE_BUF ?
				      (size_t)(size - (int64_t)s->off) : FILE_BUF;
		ssize_t n = pread(s->fd, f->buf, want, (off_t)s->off);
		size_t used = 0;

		if (n <= 0)
			break;
		rc = take(f, s, f->buf, (size_t)n, 1, &used);
		s->off += used > 0 ? used : (size_t)n;
	}
	/* an audit event may go on in the next file (auditd rotates between records, not
	 * between events): the adapter keeps what it holds, its idle tick completes it */
	close_file(s);
	return rc;
}

/* Nothing new in the open file: was it rotated, or is it gone? A rotation renames
 * the file and creates a new one: a path missing for less than GONE_NS is the moment
 * in between, and the open file is read on meanwhile. */
static int check_path(struct sl_follow *f, struct fsrc *s)
{
	struct stat st;
	uint64_t ino = s->ino;
	int rc;

	if (stat(s->path, &st) != 0) {
		if (errno != ENOENT)
			return 0; /* cannot tell now: keep reading the open file */
		if (s->gone_since == 0)
			s->gone_since = sl_mono_ns();
		if (sl_mono_ns() - s->gone_since < GONE_NS)
			return 0;
		s->gone_since = 0;
		rc = leave(f, s);
		own(f, s, "file missing", "warning",
		    "%s is gone after byte %" PRIu64 " of inode %" PRIu64 " (read to its end): "
		    "waiting for it to come back", s->path, s->off, ino);
		/* whatever comes next is read from its start; records an audit adapter still
		 * holds keep the old position until they are recorded (ready_positions) */
		if (s->audit == NULL || !sl_audit_holding(s->audit))
			s->ready_ino = s->ready_off = 0;
		s->waiting = 1;
		return rc;
	}
	s->gone_since = 0;
	if ((uint64_t)st.st_ino == s->ino && (uint64_t)st.st_dev == s->dev)
		return 0;
	rc = leave(f, s);
	own(f, s, "file rotated", "ok",
	    "%s: inode %" PRIu64 " read to its end (byte %" PRIu64 "); now inode %" PRIu64,
	    s->path, ino, s->off, (uint64_t)st.st_ino);
	if (rc == 0)
		(void)open_at(f, s, s->path, 0);
	return rc;
}

/* One pass over file s: open it, read one batch. 1 when it has more to read now. */
static int poll_file(struct sl_follow *f, struct fsrc *s)
{
	struct stat st;
	size_t want, used = 0;
	ssize_t n;
	int64_t mtime;

	if (!s->started)
		first_open(f, s);
	else if (s->fd < 0)
		(void)open_at(f, s, s->path, 0);
	if (s->fd < 0)
		return 0;
	if (fstat(s->fd, &st) != 0)
		return 0;
	mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if ((uint64_t)st.st_size < s->off) {
		own(f, s, "file truncated", "loss",
		    "%s shrank to %lld bytes, below byte %" PRIu64 " StreamLog had read: records "
		    "written before the truncation and not yet read are lost; reading from byte 0",
		    s->path, (long long)st.st_size, s->off);
		s->off = 0;
		s->skipping = 0;
		s->stall_size = s->stall_mtime = -1;
		sl_sudo_split_init(&s->split, 0);
	}
	if ((uint64_t)st.st_size == s->off ||
	    (st.st_size == s->stall_size && mtime == s->stall_mtime)) {
		(void)check_path(f, s);
		return 0;
	}
	want = (uint64_t)st.st_size - s->off < FILE_BUF ? (size_t)((uint64_t)st.st_size - s->off)
							 : FILE_BUF;
	n = pread(s->fd, f->buf, want, (off_t)s->off);
	if (n <= 0) {
		if (n < 0 && !s->failing)
			own(f, s, "file error", "error", "%s: read: %s", s->path, strerror(errno));
		s->failing = n < 0;
		return 0;
	}
	s->failing = 0;
	if (take(f, s, f->buf, (size_t)n, 0, &used) != 0)
		return 0;
	s->off += used;
	if (s->off + ((size_t)n - used) >= (uint64_t)st.st_size && used < (size_t)n) {
		s->stall_size = st.st_size; /* a partial record: wait until the file changes */
		s->stall_mtime = mtime;
	}
	return s->off < (uint64_t)st.st_size && used > 0;
}

/* ---- sudo I/O log directories (§3.5.4) ---- */

struct io_cand {
	int64_t t;     /* ctime of log.json (or log) */
	int json;      /* log.json, else the legacy log */
	char *dir;
};

struct io_list {
	struct io_cand *c;
	size_t count, cap, entries;
};

static int64_t ctime_ns(const struct stat *st)
{
	return (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* A session directory holds "timing" and "log.json" or "log" (sudoers(5) "I/O log
 * format"); record those newer than wm. */
static void io_consider(int dfd, const char *dir, int64_t wm, struct io_list *l)
{
	struct stat st;
	int json = 1;

	if (fstatat(dfd, "timing", &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
		return;
	if (fstatat(dfd, "log.json", &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
		json = 0;
		if (fstatat(dfd, "log", &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
			return;
	}
	if (ctime_ns(&st) <= wm)
		return;
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct io_cand *c = realloc(l->c, cap * sizeof(*c));

		if (c == NULL)
			return;
		l->c = c;
		l->cap = cap;
	}
	l->c[l->count].dir = strdup(dir);
	if (l->c[l->count].dir == NULL)
		return;
	l->c[l->count].t = ctime_ns(&st);
	l->c[l->count].json = json;
	l->count++;
}

static void io_walk(const char *dir, int depth, int64_t wm, struct io_list *l)
{
	DIR *d;
	struct dirent *de;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (dfd < 0)
		return;
	io_consider(dfd, dir, wm, l);
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return;
	}
	while (depth < IOLOG_DEPTH && (de = readdir(d)) != NULL && l->entries < IOLOG_MAX_ENTRIES) {
		char sub[PATH_MAX];
		struct stat st;

		l->entries++;
		if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		if (de->d_type == DT_UNKNOWN &&
		    (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= sizeof(sub))
			continue;
		io_walk(sub, depth + 1, wm, l);
	}
	closedir(d);
}

static int cand_cmp(const void *a, const void *b)
{
	const struct io_cand *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return strcmp(x->dir, y->dir);
}

static int io_seen(const struct fsrc *s, const struct io_cand *c)
{
	for (size_t i = 0; i < s->seen_count; i++)
		if (s->seen[i].t == c->t && strcmp(s->seen[i].dir, c->dir) == 0)
			return 1;
	return 0;
}

/* Read dir/name (at most max bytes) into buf; its size, or -1. */
static ssize_t read_small(const char *dir, const char *name, char *buf, size_t max)
{
	char path[PATH_MAX];
	ssize_t n, got = 0;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	while ((size_t)got < max && (n = read(fd, buf + got, max - (size_t)got)) > 0)
		got += n;
	close(fd);
	return got;
}

/* sudo < 1.9.4 wrote only "log": "time:user:runas:rungroup:tty:lines:cols", then the
 * working directory and the command line (sudoers(5)). */
static void io_legacy(const char *p, size_t n, struct sl_event *e)
{
	struct sl_str line[3] = { { NULL, 0 }, { NULL, 0 }, { NULL, 0 } }, fld[7];
	size_t at = 0, k = 0;

	for (int i = 0; i < 3 && at < n; i++) {
		const char *nl = memchr(p + at, '\n', n - at);
		size_t len = nl != NULL ? (size_t)(nl - (p + at)) : n - at;

		line[i] = (struct sl_str){ p + at, len };
		at += len + 1;
	}
	memset(fld, 0, sizeof(fld));
	for (size_t i = 0, start = 0; line[0].p != NULL && i <= line[0].len && k < 7; i++) {
		if (i == line[0].len || line[0].p[i] == ':') {
			fld[k++] = (struct sl_str){ line[0].p + start, i - start };
			start = i + 1;
		}
	}
	if (k >= 5) {
		int64_t t = 0;
		size_t i;

		for (i = 0; i < fld[0].len && i < 12 && fld[0].p[i] >= '0' && fld[0].p[i] <= '9'; i++)
			t = t * 10 + (fld[0].p[i] - '0');
		if (i > 0 && i == fld[0].len)
			e->time_ns = t * 1000000000;
		e->user = fld[1];
		e->run_as = fld[2];
		if (fld[4].len > 0 && !(fld[4].len == 7 && memcmp(fld[4].p, "unknown", 7) == 0))
			e->tty = fld[4];
	}
	if (line[1].len > 0)
		e->object = line[1];
	if (line[2].len > 0)
		e->action = line[2];
}

/* One session's event: 0 recorded, 1 not ready yet (its log.json does not parse). */
static int io_record(struct sl_follow *f, struct fsrc *s, const struct io_cand *c)
{
	static const char head[] = "\"accept\":";
	struct sl_scratch sc = { f->scratch, 0, SCRATCH_SIZE };
	struct shelter_err err;
	struct sl_event e;
	char *body = f->buf + sizeof(head) - 1;
	int64_t now = sl_now_ns();
	ssize_t n = read_small(c->dir, c->json ? "log.json" : "log", body,
			       FILE_BUF - sizeof(head) - 1);
	char msg[PATH_MAX + 64];

	/* §3.5.4: no room for its content yet: recorded when a session closes, the
	 * watermark waiting for it */
	if (n < 0 || sl_iolog_full(s->iolog))
		return 1;
	memcpy(f->buf, head, sizeof(head) - 1);
	sl_event_init(&e);
	if (c->json) {
		/* log.json is the accept event's object: read it as the member "accept" */
		if (sl_sudo_parse(f->buf, sizeof(head) - 1 + (size_t)n, now, &e, &sc, &err) != 0) {
			if (now - c->t < IOLOG_YOUNG_NS)
				return 1;
			sl_event_unparsed(SL_SRC_SUDO, body, (size_t)n, now, &e);
		}
	} else {
		sl_event_unparsed(SL_SRC_SUDO, body, (size_t)n, now, &e);
		io_legacy(body, (size_t)n, &e);
	}
	snprintf(msg, sizeof(msg), "sudo I/O log of the session in %s", c->dir);
	e.source = SL_SRC_SUDO;
	e.raw = (struct sl_str){ body, (size_t)n };
	e.result = sl_str_c("iolog");
	e.message = sl_str_c(msg);
	from_file(f, s, &e);
	if (append(f, &e) != 0)
		return -1;
	/* §3.5.4: its content from now on, after the event that names it */
	n = sl_iolog_open(s->iolog, c->dir);
	if (n != 0 && !s->open_warned++)
		sl_log("follow %s: the content of %s is not copied: %s", s->spec, c->dir,
		       n == SHELTER_E_NOMEM ? "out of memory" : "a newline in its path");
	return 0;
}

/* One scan of an I/O log directory. The watermark moves past a session only when
 * every session up to it is recorded and it is older than IOLOG_SETTLE_NS (§3.5.5). */
static void scan_iolog(struct sl_follow *f, struct fsrc *s, int64_t mono)
{
	struct io_list l = { NULL, 0, 0, 0 };
	int64_t settled = sl_now_ns() - IOLOG_SETTLE_NS, wm = (int64_t)s->ready_off;
	int blocked = 0;
	size_t keep = 0;

	if (mono < s->next_scan)
		return;
	s->next_scan = mono + SCAN_NS;
	if (!s->started) {
		s->started = 1;
		s->ready_off = s->have_state ? s->st_off : 0;
		wm = (int64_t)s->ready_off;
		own(f, s, "file opened", "ok", "%s: sudo I/O log sessions newer than %" PRId64
		    " ns since the epoch (ctime of their log.json)", s->path, wm);
	}
	io_walk(s->path, 0, wm, &l);
	if (l.entries >= IOLOG_MAX_ENTRIES && !s->scan_warned) {
		s->scan_warned = 1;
		sl_log("follow %s: over %d entries: the scan stops there", s->spec, IOLOG_MAX_ENTRIES);
	}
	if (l.count > 1)
		qsort(l.c, l.count, sizeof(*l.c), cand_cmp);
	for (size_t i = 0; i < l.count; i++) {
		int rc = 0;

		if (!io_seen(s, &l.c[i])) {
			rc = io_record(f, s, &l.c[i]);
			if (rc < 0)
				break;
			if (rc == 0 && s->seen_count == s->seen_cap) {
				size_t cap = s->seen_cap ? s->seen_cap * 2 : 64;
				struct io_seen *n = realloc(s->seen, cap * sizeof(*n));

				if (n == NULL)
					break; /* seen again next scan: a duplicate, not a loss */
				s->seen = n;
				s->seen_cap = cap;
			}
			if (rc == 0) {
				s->seen[s->seen_count].t = l.c[i].t;
				s->seen[s->seen_count++].dir = l.c[i].dir;
				l.c[i].dir = NULL;
			}
		}
		blocked |= rc != 0 || l.c[i].t >= settled;
		if (!blocked)
			wm = l.c[i].t;
	}
	for (size_t i = 0; i < l.count; i++)
		free(l.c[i].dir);
	free(l.c);
	for (size_t i = 0; i < s->seen_count; i++) {
		if (s->seen[i].t <= wm)
			free(s->seen[i].dir);
		else
			s->seen[keep++] = s->seen[i];
	}
	s->seen_count = keep;
	s->ready_off = (uint64_t)wm;
}

static int iolog_append(void *ctx, const struct sl_event *e)
{
	return append(ctx, e);
}

/* The scan when due, then the content of the open sessions (iolog.c) when due or
 * force. 1 when a session has more to copy right away. */
static int poll_iolog(struct sl_follow *f, struct fsrc *s, int64_t mono, int force)
{
	struct sl_iolog_sink k = { iolog_append, f, s->source_id, f->hostname };

	scan_iolog(f, s, mono);
	if (sl_srv_failed(f->srv))
		return 0;
	return sl_iolog_poll(s->iolog, &k, mono, force) > 0;
}

/* ---- the state file (§3.5.5) ---- */

static int state_load(struct sl_follow *f, struct shelter_err *err)
{
	char path[PATH_MAX + 32], *text = NULL, *line, *next;
	size_t size = 0, klen = 0;
	unsigned no = 1;
	struct fsrc *prev = NULL; /* the source of the last line, when followed */
	int rc, prev_kind = -1;

	snprintf(path, sizeof(path), "%s/%s", f->store, STATE_NAME);
	rc = sl_read_file(path, 16u << 20, &text, &size, err); /* "+" lines: §3.5.5 */
	if (rc == SHELTER_E_NOENT)
		return 0;
	if (rc != 0)
		return rc;
	if (strlen(text) != size || (strncmp(text, STATE_HEAD "\n", sizeof(STATE_HEAD)) != 0 &&
				     strncmp(text, STATE_HEAD_V1 "\n", sizeof(STATE_HEAD_V1)) != 0)) {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "'%s': not a follow state file", path);
		goto out;
	}
	for (line = text + sizeof(STATE_HEAD); *line != '\0'; line = next) {
		uint64_t ino = 0, off = 0;
		const char *spec = line;
		struct shelter_err lerr;

		no++;
		next = strchr(line, '\n');
		if (next == NULL) {
			rc = shelter_err_set(err, SHELTER_E_MALFORMED, "'%s' line %u: no newline",
					     path, no);
			goto out;
		}
		*next++ = '\0';
		if (line[0] == '+' && line[1] == ' ' && prev_kind == K_SUDO_IO) {
			/* an open session's file, of the sudo-io line before (§3.5.5) */
			if (prev != NULL && sl_iolog_state_load(prev->iolog, line + 2, &lerr) != 0) {
				rc = shelter_err_set(err, lerr.code, "'%s' line %u: %s", path, no,
						     lerr.msg);
				goto out;
			}
			continue;
		}
		if (sl_u64_sp(&spec, &ino) != 0 || sl_u64_sp(&spec, &off) != 0 ||
		    sl_follow_spec_check(spec) != NULL) {
			rc = shelter_err_set(err, SHELTER_E_MALFORMED,
					     "'%s' line %u: want INODE OFFSET KIND:PATH", path, no);
			goto out;
		}
		prev = NULL;
		prev_kind = kind_of(spec, &klen);
		for (unsigned i = 0; i < f->count; i++) {
			if (strcmp(f->src[i].spec, spec) != 0)
				continue;
			prev = &f->src[i];
			if (f->src[i].have_state) {
				rc = shelter_err_set(err, SHELTER_E_MALFORMED,
						     "'%s' line %u: %s twice", path, no, spec);
				goto out;
			}
			f->src[i].have_state = 1;
			f->src[i].st_ino = f->src[i].ready_ino = ino;
			f->src[i].st_off = f->src[i].ready_off = off;
		}
	}
out:
	free(text);
	return rc;
}

/* Write the positions made ready, when they moved; called only after the sync that
 * made their events durable. */
static int state_write(struct sl_follow *f)
{
	struct shelter_err err;
	size_t cap = 64, len;
	char *buf, **io = calloc(f->count + 1, sizeof(*io));
	size_t *io_len = calloc(f->count + 1, sizeof(*io_len));
	int changed = 0, rc = -1;

	if (io == NULL || io_len == NULL)
		goto out;
	for (unsigned i = 0; i < f->count; i++) {
		struct fsrc *s = &f->src[i];

		changed |= !s->have_state || s->ready_ino != s->st_ino || s->ready_off != s->st_off;
		changed |= s->iolog != NULL && sl_iolog_state_dirty(s->iolog);
		cap += strlen(s->spec) + 48;
	}
	if (!changed || f->count == 0) {
		rc = 0;
		goto out;
	}
	/* §3.5.5: the open sessions' files after their sudo-io line */
	for (unsigned i = 0; i < f->count; i++) {
		if (f->src[i].iolog != NULL &&
		    sl_iolog_state_text(f->src[i].iolog, &io[i], &io_len[i]) != 0)
			goto out;
		cap += io_len[i];
	}
	buf = malloc(cap);
	if (buf == NULL)
		goto out;
	len = (size_t)snprintf(buf, cap, "%s\n", STATE_HEAD);
	for (unsigned i = 0; i < f->count; i++) {
		len += (size_t)snprintf(buf + len, cap - len, "%" PRIu64 " %" PRIu64 " %s\n",
					f->src[i].ready_ino, f->src[i].ready_off, f->src[i].spec);
		if (io_len[i] > 0) {
			memcpy(buf + len, io[i], io_len[i]);
			len += io_len[i];
		}
	}
	rc = pki_write_atomic(f->store, STATE_NAME, 0600, buf, len, &err);
	free(buf);
	if (rc != 0) {
		sl_log("follow state: %s", err.msg);
		rc = -1;
		goto out;
	}
	for (unsigned i = 0; i < f->count; i++) {
		f->src[i].have_state = 1;
		f->src[i].st_ino = f->src[i].ready_ino;
		f->src[i].st_off = f->src[i].ready_off;
		if (f->src[i].iolog != NULL)
			sl_iolog_state_saved(f->src[i].iolog);
	}
out:
	for (unsigned i = 0; io != NULL && i < f->count; i++)
		free(io[i]);
	free(io);
	free(io_len);
	return rc;
}

/* After a pass: the positions whose events are all appended. An audit file's only when
 * its adapter holds nothing (docs/streamlog.md §3.2.2: records wait for their event). */
static void ready_positions(struct sl_follow *f)
{
	for (unsigned i = 0; i < f->count; i++) {
		struct fsrc *s = &f->src[i];

		if (s->kind == K_SUDO_IO)
			continue;
		if (s->audit != NULL && sl_audit_holding(s->audit))
			continue;
		if (s->fd < 0) { /* gone: what comes back is read from its start */
			if (s->started && s->waiting)
				s->ready_ino = s->ready_off = 0;
			continue;
		}
		s->ready_ino = s->ino;
		s->ready_off = s->off;
	}
}

/* ---- audit lines from connections ---- */

static struct adapter *adapter_for(struct sl_follow *f, const struct qitem *q)
{
	struct shelter_err err;
	struct adapter *ad;

	for (ad = f->adapters; ad != NULL; ad = ad->next)
		if (ad->conn == q->conn && strcmp(ad->host, q->host) == 0)
			return ad;
	if (f->adapter_count >= ADAPTERS_MAX) {
		if (!f->adapters_warned++)
			sl_log("audit over syslog: %d adapters (connection and host pairs) in use: "
			       "further records are kept unparsed", ADAPTERS_MAX);
		return NULL;
	}
	ad = calloc(1, sizeof(*ad));
	if (ad == NULL)
		return NULL;
	snprintf(ad->host, sizeof(ad->host), "%s", q->host);
	if (sl_audit_new(ad->host, q->source_id, emit, f, &ad->a, &err) != 0) {
		sl_log("audit over syslog: %s", err.msg);
		free(ad);
		return NULL;
	}
	ad->conn = q->conn;
	ad->next = f->adapters;
	f->adapters = ad;
	f->adapter_count++;
	return ad;
}

static void take_item(struct sl_follow *f, struct qitem *q)
{
	struct adapter **p = &f->adapters, *ad;

	if (!q->close) {
		ad = adapter_for(f, q);
		if (ad == NULL)
			(void)unparsed(f, SL_SRC_AUDIT, q->source_id, q->host, q->line, q->len);
		else
			(void)audit_line(f, ad->a, q->source_id, q->host, q->line, q->len);
		return;
	}
	while ((ad = *p) != NULL) {
		if (ad->conn != q->conn) {
			p = &ad->next;
			continue;
		}
		(void)audit_end(f, ad->a, q->source_id);
		*p = ad->next;
		sl_audit_free(ad->a);
		free(ad);
		f->adapter_count--;
	}
}

static int enqueue(struct sl_follow *f, struct qitem *q, uint64_t *ticket)
{
	pthread_mutex_lock(&f->mu);
	while (f->qbytes > QUEUE_MAX_BYTES && !f->dead)
		pthread_cond_wait(&f->done, &f->mu);
	if (f->dead) {
		pthread_mutex_unlock(&f->mu);
		free(q);
		return SHELTER_E_IO;
	}
	q->ticket = *ticket = ++f->next_ticket;
	f->qbytes += sizeof(*q) + q->len;
	*f->qtail = q;
	f->qtail = &q->next;
	pthread_cond_signal(&f->work);
	pthread_mutex_unlock(&f->mu);
	return 0;
}

int sl_follow_audit_line(struct sl_follow *f, uint64_t conn, const char *source_id,
			 struct sl_str host, struct sl_str line, uint64_t *ticket)
{
	struct qitem *q = calloc(1, sizeof(*q) + line.len + 1);

	*ticket = 0;
	if (q == NULL)
		return SHELTER_E_NOMEM;
	q->conn = conn;
	snprintf(q->source_id, sizeof(q->source_id), "%s", source_id);
	snprintf(q->host, sizeof(q->host), "%.*s", (int)(host.len < 255 ? host.len : 255),
		 host.p != NULL ? host.p : "");
	if (q->host[0] == '\0')
		snprintf(q->host, sizeof(q->host), "unknown");
	if (line.len > 0)
		memcpy(q->line, line.p, line.len);
	q->len = line.len;
	return enqueue(f, q, ticket);
}

int sl_follow_audit_close(struct sl_follow *f, uint64_t conn, uint64_t *ticket)
{
	struct qitem *q = calloc(1, sizeof(*q));

	*ticket = 0;
	if (q == NULL)
		return SHELTER_E_NOMEM;
	q->conn = conn;
	q->close = 1;
	return enqueue(f, q, ticket);
}

int sl_follow_wait(struct sl_follow *f, uint64_t ticket)
{
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	while (f->done_ticket < ticket && !f->dead)
		pthread_cond_wait(&f->done, &f->mu);
	if (f->done_ticket < ticket)
		rc = SHELTER_E_IO;
	pthread_mutex_unlock(&f->mu);
	return rc;
}

/* ---- the thread ---- */

/* The queued items, waiting at most until deadline (monotonic ns) for one. */
static struct qitem *dequeue(struct sl_follow *f, int64_t deadline, uint64_t *out_last,
			     int *out_stopping)
{
	struct qitem *q;

	pthread_mutex_lock(&f->mu);
	while (f->qhead == NULL && !f->stopping) {
		int64_t wait = deadline - sl_mono_ns();
		struct timespec ts;

		if (wait <= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait / 1000000000;
		ts.tv_nsec += wait % 1000000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&f->work, &f->mu, &ts);
	}
	q = f->qhead;
	f->qhead = NULL;
	f->qtail = &f->qhead;
	f->qbytes = 0;
	*out_last = f->next_ticket;
	*out_stopping = f->stopping;
	pthread_mutex_unlock(&f->mu);
	return q;
}

static void tick_all(struct sl_follow *f)
{
	struct shelter_err err;
	int64_t now = sl_mono_ns();

	for (unsigned i = 0; i < f->count; i++)
		if (f->src[i].audit != NULL && sl_audit_tick(f->src[i].audit, now, &err) != 0)
			sl_log("%s: %s", f->src[i].source_id, err.msg);
	for (struct adapter *ad = f->adapters; ad != NULL; ad = ad->next)
		if (sl_audit_tick(ad->a, now, &err) != 0)
			sl_log("audit over syslog: %s", err.msg);
}

/* One pass over the files; 1 when one of them has more to read right away. */
static int poll_files(struct sl_follow *f)
{
	int more = 0;

	for (unsigned i = 0; i < f->count && !sl_srv_failed(f->srv); i++) {
		if (f->src[i].kind == K_SUDO_IO)
			more |= poll_iolog(f, &f->src[i], sl_mono_ns(), 0);
		else
			more |= poll_file(f, &f->src[i]);
	}
	return more;
}

static void finish_pass(struct sl_follow *f, uint64_t ticket)
{
	ready_positions(f);
	if (commit(f) != 0 || sl_srv_failed(f->srv))
		return;
	pthread_mutex_lock(&f->mu);
	if (ticket > f->done_ticket)
		f->done_ticket = ticket;
	pthread_cond_broadcast(&f->done);
	pthread_mutex_unlock(&f->mu);
	(void)state_write(f);
}

/* At stop: what the files hold now, every audit adapter flushed, the last state. */
static void final_pass(struct sl_follow *f)
{
	for (int i = 0; i < STOP_PASSES && poll_files(f); i++)
		;
	for (unsigned i = 0; i < f->count; i++) {
		struct fsrc *s = &f->src[i];

		/* sessions recorded in the last second are settled, so that a clean restart
		 * does not record them again (§3.5.5); a busy host gets three tries */
		for (int k = 0; s->kind == K_SUDO_IO && k < 3; k++) {
			s->next_scan = 0;
			(void)poll_iolog(f, s, sl_mono_ns(), 1);
			if (s->seen_count == 0)
				break;
			poll(NULL, 0, (int)(IOLOG_SETTLE_NS / 1000000) + 100);
		}
		/* §3.5.5: every open session's content copied up to what its files hold */
		for (int k = 0; s->kind == K_SUDO_IO && k < STOP_PASSES && !sl_srv_failed(f->srv) &&
				sl_iolog_poll(s->iolog, &(struct sl_iolog_sink){ iolog_append, f,
					s->source_id, f->hostname }, sl_mono_ns(), 1) > 0; k++)
			;
		if (s->audit != NULL)
			(void)audit_end(f, s->audit, s->source_id);
	}
	for (struct adapter *ad = f->adapters; ad != NULL; ad = ad->next)
		(void)audit_end(f, ad->a, "audit over syslog");
}

static void *follow_main(void *arg)
{
	struct sl_follow *f = arg;
	int64_t next_poll = 0, next_tick = sl_mono_ns() + TICK_NS;

	while (!sl_srv_failed(f->srv)) {
		uint64_t ticket = 0;
		int stopping = 0, more = 0;
		struct qitem *q = dequeue(f, next_poll, &ticket, &stopping);

		while (q != NULL) {
			struct qitem *next = q->next;

			take_item(f, q);
			free(q);
			q = next;
		}
		if (stopping) {
			final_pass(f);
			finish_pass(f, ticket);
			break;
		}
		if (sl_mono_ns() >= next_poll) {
			more = poll_files(f);
			next_poll = more ? 0 : sl_mono_ns() + POLL_NS;
		}
		if (sl_mono_ns() >= next_tick) {
			tick_all(f);
			next_tick = sl_mono_ns() + TICK_NS;
		}
		finish_pass(f, ticket);
	}
	pthread_mutex_lock(&f->mu);
	f->dead = 1;
	pthread_cond_broadcast(&f->done);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* ---- set-up ---- */

int sl_follow_new(const struct sl_serve_config *cfg, struct sl_follow **out,
		  struct shelter_err *err)
{
	struct shelter_err aerr;
	struct sl_follow *f = calloc(1, sizeof(*f));
	int rc = 0;

	*out = NULL;
	if (f == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "follow: out of memory");
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->work, NULL);
	{
		pthread_condattr_t ca;

		/* dequeue waits on the monotonic clock */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_destroy(&f->work);
		pthread_cond_init(&f->work, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_cond_init(&f->done, NULL);
	f->qtail = &f->qhead;
	snprintf(f->store, sizeof(f->store), "%s", cfg->store);
	if (gethostname(f->hostname, sizeof(f->hostname) - 1) != 0 || f->hostname[0] == '\0')
		snprintf(f->hostname, sizeof(f->hostname), "localhost");
	f->buf = malloc(FILE_BUF);
	f->json = malloc(SL_EVENT_JSON_MAX);
	f->scratch = malloc(SCRATCH_SIZE);
	f->src = calloc(cfg->follow_count + 1, sizeof(*f->src));
	if (f->buf == NULL || f->json == NULL || f->scratch == NULL || f->src == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "follow: out of memory");
		goto out;
	}
	for (unsigned i = 0; i < cfg->follow_count && rc == 0; i++) {
		struct fsrc *s = &f->src[f->count];
		const char *why = sl_follow_spec_check(cfg->follow[i]);
		size_t n = 0, idlen;

		if (why != NULL) {
			rc = shelter_err_set(err, SHELTER_E_INVAL, "%s: '%s'", why, cfg->follow[i]);
			break;
		}
		for (unsigned j = 0; j < f->count; j++)
			if (strcmp(f->src[j].spec, cfg->follow[i]) == 0)
				rc = shelter_err_set(err, SHELTER_E_INVAL, "--follow %s given twice",
						     cfg->follow[i]);
		s->kind = (enum kind)kind_of(cfg->follow[i], &n);
		s->spec = cfg->follow[i];
		s->path = cfg->follow[i] + n;
		s->fd = -1;
		idlen = strlen(s->path) + 6;
		s->source_id = malloc(idlen);
		if (s->source_id == NULL) {
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "follow: out of memory");
			break;
		}
		snprintf(s->source_id, idlen, "file:%s", s->path);
		f->count++;
		if (rc == 0 && s->kind == K_AUDIT &&
		    sl_audit_new(f->hostname, s->source_id, emit, f, &s->audit, &aerr) != 0)
			rc = shelter_err_set(err, aerr.code, "%s", aerr.msg);
		if (rc == 0 && s->kind == K_SUDO_IO && sl_iolog_new(s->path, &s->iolog, &aerr) != 0)
			rc = shelter_err_set(err, aerr.code, "%s", aerr.msg);
	}
	if (rc == 0)
		rc = state_load(f, err);
out:
	if (rc != 0) {
		sl_follow_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

int sl_follow_start(struct sl_follow *f, struct server *srv, struct shelter_err *err)
{
	f->srv = srv;
	if (pthread_create(&f->thread, NULL, follow_main, f) != 0)
		return shelter_err_set(err, SHELTER_E_NOMEM, "follow: no thread");
	f->running = 1;
	return 0;
}

int sl_follow_stop(struct sl_follow *f)
{
	int ok;

	if (f == NULL || !f->running)
		return 0;
	pthread_mutex_lock(&f->mu);
	f->stopping = 1;
	pthread_cond_signal(&f->work);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	f->running = 0;
	ok = !sl_srv_failed(f->srv);
	for (unsigned i = 0; i < f->count; i++)
		ok &= f->src[i].ready_ino == f->src[i].st_ino &&
		      f->src[i].ready_off == f->src[i].st_off &&
		      (f->src[i].iolog == NULL || !sl_iolog_state_dirty(f->src[i].iolog));
	return ok ? 0 : -1;
}

void sl_follow_free(struct sl_follow *f)
{
	if (f == NULL)
		return;
	(void)sl_follow_stop(f);
	for (unsigned i = 0; f->src != NULL && i < f->count; i++) {
		struct fsrc *s = &f->src[i];

		close_file(s);
		sl_audit_free(s->audit);
		sl_iolog_free(s->iolog);
		free(s->source_id);
		for (size_t j = 0; j < s->seen_count; j++)
			free(s->seen[j].dir);
		free(s->seen);
	}
	while (f->adapters != NULL) {
		struct adapter *ad = f->adapters;

		f->adapters = ad->next;
		sl_audit_free(ad->a);
		free(ad);
	}
	while (f->qhead != NULL) {
		struct qitem *q = f->qhead;

		f->qhead = q->next;
		free(q);
	}
	free(f->src);
	free(f->buf);
	free(f->json);
	if (f->scratch != NULL)
		shelter_wipe(f->scratch, SCRATCH_SIZE);
	free(f->scratch);
	pthread_cond_destroy(&f->work);
	pthread_cond_destroy(&f->done);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
