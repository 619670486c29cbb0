/* Shared by the StreamLog source-parser harnesses (fuzz_streamlog_syslog, _sudo,
 * _tlog, _audit, _audisp): the properties every parser of docs/streamlog.md
 * keeps, checked with abort() so libFuzzer keeps the input, and the drivers the
 * harnesses share (one parse; a splitter run whole and in chunks). */
#ifndef SHELTER_FUZZ_STREAMLOG_CHECK_H
#define SHELTER_FUZZ_STREAMLOG_CHECK_H

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamlog/event.h"

#ifndef FZ_NAME
#error "define FZ_NAME before including streamlog_check.h"
#endif

static inline __attribute__((format(printf, 1, 2), noreturn)) void fz_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, FZ_NAME ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* A refusal: one of the documented codes, with a message, nothing left behind. */
static inline void fz_refusal(int rc, int code1, int code2, const struct sl_event *e,
			      size_t scratch_used, const struct shelter_err *err)
{
	struct sl_event z;

	sl_event_init(&z);
	if (rc != code1 && rc != code2 && rc != SHELTER_E_NOMEM)
		fz_die("refused with undocumented code %d: %s", rc, err->msg);
	if (err->msg[0] == '\0')
		fz_die("refused (%d) without a message", rc);
	if (memcmp(&z, e, sizeof(z)) != 0 || scratch_used != 0)
		fz_die("refusal (%d) left an event or used scratch", rc);
}

static inline int fz_inside(struct sl_str v, const char *p, size_t n)
{
	return v.p >= p && v.len <= n && (size_t)(v.p - p) <= n - v.len;
}

/* Every string of e points into in[0, len), the used scratch, or nowhere (the
 * action is skipped when skip_action: tlog's is a constant). */
static inline void fz_strings_inside(const struct sl_event *e, const char *in, size_t len,
				     const struct sl_scratch *s, int skip_action)
{
	const struct sl_str all[] = {
		e->source_id, e->user, e->session, e->run_as, e->action, e->result, e->host,
		e->tty,       e->from_addr, e->target, e->object, e->message, e->raw,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (all[i].p == NULL || (skip_action && i == 4))
			continue;
		if (!fz_inside(all[i], in, len) && !fz_inside(all[i], s->p, s->used))
			fz_die("event string %zu (%zu bytes) outside the input and the scratch", i,
			       all[i].len);
	}
}

/* The canonical JSON (§2.2): always made, valid JSON (read with json_flags), an object
 * with "v":1, within the limit. Returns the JSON, valid until the next call. */
static char fz_json_out[SL_EVENT_JSON_MAX]; /* a global: ASan sees a write past it */

static inline const char *fz_json_check(const struct sl_event *e, size_t json_flags,
					size_t *out_size)
{
	char *out = fz_json_out;
	struct shelter_err err;
	json_error_t jerr;
	json_t *j;
	size_t n = 0;
	int rc;

	rc = sl_event_json(e, out, SL_EVENT_JSON_MAX, &n, &err);
	if (rc != 0)
		fz_die("sl_event_json: %d %s", rc, err.msg);
	if (n > SL_EVENT_JSON_MAX)
		fz_die("entry of %zu bytes", n);
	j = json_loadb(out, n, JSON_REJECT_DUPLICATES | json_flags, &jerr);
	if (j == NULL)
		fz_die("entry is not JSON (%s at %d): %.*s", jerr.text, jerr.position, (int)n, out);
	if (!json_is_object(j) || json_integer_value(json_object_get(j, "v")) != 1)
		fz_die("entry is not an object with \"v\":1");
	json_decref(j);
	*out_size = n;
	return out;
}

static inline void fz_json_ok(const struct sl_event *e)
{
	size_t n;

	(void)fz_json_check(e, JSON_ALLOW_NUL, &n);
}

static inline uint32_t fz_fnv(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

/* One source parser (sl_syslog_parse, sl_sudo_parse, sl_tlog_parse) as the harnesses
 * drive it. */
struct fz_parser {
	int (*parse)(const char *in, size_t len, int64_t received_ns, struct sl_event *e,
		     struct sl_scratch *s, struct shelter_err *err);
	enum sl_source source;
	int code2;       /* the documented refusal besides MALFORMED (and NOMEM) */
	int skip_action; /* as fz_strings_inside's */
	/* more checks of an accepted event, or NULL */
	void (*accepted)(const struct sl_event *e);
};

/* in[0, len) through p into a scratch of exactly cap bytes (malloc'd: ASan sees a
 * write past it): a refusal is checked and becomes sl_event_unparsed's event, an
 * accepted event's strings are inside; either way the event is the input's (source,
 * raw, receive time) and its JSON is valid. */
static inline void fz_parse_one(const struct fz_parser *p, size_t cap, const char *in,
				size_t len, int64_t recv)
{
	char *buf = malloc(cap ? cap : 1);
	struct sl_scratch s = { buf, 0, cap };
	struct shelter_err err;
	struct sl_event e;
	int rc;

	if (buf == NULL)
		fz_die("out of memory");
	shelter_err_clear(&err);
	memset(&e, 0xa5, sizeof(e));
	rc = p->parse(in, len, recv, &e, &s, &err);
	if (rc != 0) {
		fz_refusal(rc, SHELTER_E_MALFORMED, p->code2, &e, s.used, &err);
		sl_event_unparsed(p->source, in, len, recv, &e);
	} else {
		fz_strings_inside(&e, in, len, &s, p->skip_action);
		if (p->accepted != NULL)
			p->accepted(&e);
	}
	if (e.source != p->source || e.raw.p != in || e.raw.len != len || e.received_ns != recv)
		fz_die("event source, raw or recv not the input's");
	fz_json_ok(&e);
	free(buf);
}

/* A splitter of a stream into pieces (syslog's framer §3.1.1, sudo's member splitter
 * §3.3.1), run over the whole input and again fed in chunks through a reader buffer:
 * both runs must give the same pieces, cut flags and last return. */
#ifndef FZ_MAX_PIECES
#define FZ_MAX_PIECES 4096
#endif

struct fz_pieces {
	size_t n;
	int rc; /* the last return: 1, or the refusal */
	uint8_t cut[FZ_MAX_PIECES];
	size_t len[FZ_MAX_PIECES];
	uint32_t hash[FZ_MAX_PIECES];
};

struct fz_splitter {
	const char *what; /* "framer", "splitter": for messages */
	/* st fresh for max (0: the default); out_max: the most a piece may hold, out_buf:
	 * the chunked run's reader buffer size */
	void (*init)(void *st, size_t max, size_t *out_max, size_t *out_buf);
	/* returns 0 (a piece, *out_cut its cut flag), 1 (more bytes wanted) or a refusal */
	int (*next)(void *st, const char *buf, size_t have, size_t *consumed,
		    struct sl_str *piece, int *out_cut);
	/* more checks of a piece that ends at or before buf + consumed, or NULL */
	void (*check)(const char *buf, size_t consumed, struct sl_str piece);
	/* whether a full reader buffer that starts so may stall, or NULL: never */
	int (*may_stall)(const char *buf);
	void (*parse)(const char *p, size_t n); /* of every piece of a parsed run */
};

static inline void fz_split_step(const struct fz_splitter *sp, size_t max, const char *buf,
				 size_t have, size_t consumed, struct sl_str piece, int rc)
{
	if (consumed > have)
		fz_die("%s consumed %zu of %zu bytes", sp->what, consumed, have);
	if (rc == 0 && (piece.p < buf || piece.len == 0 || piece.len > max ||
			piece.len > consumed || (size_t)(piece.p - buf) > consumed - piece.len))
		fz_die("%s piece outside the buffer or over max", sp->what);
	if (rc == 0 && sp->check != NULL)
		sp->check(buf, consumed, piece);
	if (rc != 0 && rc != 1 && rc != SHELTER_E_MALFORMED)
		fz_die("%s returned %d", sp->what, rc);
}

static inline void fz_record(const struct fz_splitter *sp, struct fz_pieces *m,
			     struct sl_str piece, int cut, int parse)
{
	if (m->n == FZ_MAX_PIECES)
		return;
	m->cut[m->n] = (uint8_t)cut;
	m->len[m->n] = piece.len;
	m->hash[m->n] = fz_fnv(piece.p, piece.len);
	m->n++;
	if (parse)
		sp->parse(piece.p, piece.len);
}

/* The whole input in one buffer. */
static inline void fz_split_whole(const struct fz_splitter *sp, void *st, const char *in,
				  size_t len, size_t max, struct fz_pieces *m, int parse)
{
	size_t off = 0, consumed, piece_max, buf_size;
	struct sl_str piece;
	int rc, cut;

	sp->init(st, max, &piece_max, &buf_size);
	do {
		cut = 0;
		rc = sp->next(st, in + off, len - off, &consumed, &piece, &cut);
		fz_split_step(sp, piece_max, in + off, len - off, consumed, piece, rc);
		off += consumed;
		if (rc == 0)
			fz_record(sp, m, piece, cut, parse);
	} while (rc == 0);
	m->rc = rc;
}

/* Reads of chunk bytes into the splitter's reader buffer. */
static inline void fz_split_chunked(const struct fz_splitter *sp, void *st, const char *in,
				    size_t len, size_t max, size_t chunk, struct fz_pieces *m)
{
	size_t cap, piece_max, have = 0, fed = 0;
	char *buf;

	sp->init(st, max, &piece_max, &cap);
	buf = malloc(cap);
	if (buf == NULL)
		fz_die("out of memory");
	for (;;) {
		size_t take = len - fed < chunk ? len - fed : chunk, consumed;
		struct sl_str piece;
		int rc, cut = 0;

		if (take > cap - have)
			take = cap - have;
		memcpy(buf + have, in + fed, take);
		have += take;
		fed += take;
		rc = sp->next(st, buf, have, &consumed, &piece, &cut);
		fz_split_step(sp, piece_max, buf, have, consumed, piece, rc);
		if (rc == 0)
			fz_record(sp, m, piece, cut, 0);
		if (rc < 0 || (rc == 1 && consumed == 0 && take == 0)) {
			if (rc == 1 && fed < len && (sp->may_stall == NULL || !sp->may_stall(buf)))
				fz_die("%s stalled with %zu of %zu buffer bytes", sp->what, have, cap);
			m->rc = rc;
			break;
		}
		memmove(buf, buf + consumed, have - consumed);
		have -= consumed;
	}
	free(buf);
}

/* in split whole with max (its pieces parsed when parse) and in reads of chunk bytes
 * with chunked_max; when compare, both runs must give the same pieces. */
static inline void fz_split_both(const struct fz_splitter *sp, void *st, const char *in,
				 size_t len, size_t max, size_t chunked_max, size_t chunk,
				 int parse, int compare)
{
	static struct fz_pieces whole, chunked; /* large: not on the stack */

	memset(&whole, 0, sizeof(whole));
	memset(&chunked, 0, sizeof(chunked));
	fz_split_whole(sp, st, in, len, max, &whole, parse);
	fz_split_chunked(sp, st, in, len, chunked_max, chunk, &chunked);
	if (compare &&
	    (whole.n != chunked.n || whole.rc != chunked.rc ||
	     memcmp(whole.cut, chunked.cut, whole.n) != 0 ||
	     memcmp(whole.len, chunked.len, whole.n * sizeof(size_t)) != 0 ||
	     memcmp(whole.hash, chunked.hash, whole.n * sizeof(uint32_t)) != 0))
		fz_die("%s max %zu: reads of %zu give %zu pieces (rc %d), one read %zu (rc %d)",
		       sp->what, max, chunk, chunked.n, chunked.rc, whole.n, whole.rc);
}

#endif
