/* Canonical JSON of an event (docs/streamlog.md §2.2): keys sorted, no whitespace,
 * absent fields left out, strings valid UTF-8 with the RFC 8785 escapes, integers
 * only, every string within a budget of output bytes so an entry always fits. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "event.h"

/* Output budgets (escaped bytes, quotes excluded): the sum stays below 64 KiB. */
#define BUDGET_RAW 16384
#define BUDGET_MESSAGE 24576
#define BUDGET_FIELD 1024

void sl_event_init(struct sl_event *e)
{
	memset(e, 0, sizeof(*e));
	e->source_seq = e->uid = e->auid = e->time_ns = e->received_ns = SL_NONE;
}

/* A cleared event of one record: its source, receive time and raw bytes. */
static void event_of(enum sl_source source, const char *raw, size_t len, int64_t received_ns,
		     struct sl_event *e)
{
	sl_event_init(e);
	e->source = source;
	e->received_ns = received_ns;
	e->raw = (struct sl_str){ raw, len };
}

void sl_event_unparsed(enum sl_source source, const char *raw, size_t len, int64_t received_ns,
		       struct sl_event *e)
{
	event_of(source, raw, len, received_ns, e);
	e->result = sl_str_c("unparsed");
}

void sl_event_begin(enum sl_source source, const char *raw, size_t len, int64_t received_ns,
		    struct sl_event *e, struct sl_event *ev)
{
	sl_event_init(e);
	event_of(source, raw, len, received_ns, ev);
}

int sl_event_end(int rc, const struct sl_event *ev, struct sl_scratch *s, size_t scratch_at,
		 struct sl_event *e)
{
	if (rc != 0) {
		s->used = scratch_at;
		return rc;
	}
	*e = *ev;
	return 0;
}

struct jw {
	char *p;
	size_t used, cap;
	int full, cut;
};

static void put(struct jw *w, const char *s, size_t n)
{
	if (w->full || w->cap - w->used < n) {
		w->full = 1;
		return;
	}
	memcpy(w->p + w->used, s, n);
	w->used += n;
}

static void puts_(struct jw *w, const char *s)
{
	put(w, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	uint32_t c;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return len;
}

/* Bytes from p that go out as they are: printable ASCII but '"' and '\\', and
 * valid UTF-8 sequences. */
static size_t plain_run(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t u;

		if (p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\') {
			i++;
			continue;
		}
		if (p[i] < 0x80 || (u = utf8_len(p + i, n - i)) == 0)
			break;
		i += u;
	}
	return i;
}

/* The escape of the byte (or invalid sequence) at p into esc; its length. */
static size_t escape(const unsigned char *p, char esc[8])
{
	static const char short_esc[] = "btn\0fr"; /* \b \t \n _ \f \r */

	if (*p == '"' || *p == '\\') {
		esc[0] = '\\';
		esc[1] = (char)*p;
		return 2;
	}
	if (*p >= 0x80) { /* not UTF-8: replaced, so the entry stays JSON */
		memcpy(esc, "\\ufffd", 6);
		return 6;
	}
	if (*p >= 8 && *p <= 13 && *p != 11)
		return (size_t)snprintf(esc, 8, "\\%c", short_esc[*p - 8]);
	return (size_t)snprintf(esc, 8, "\\u%04x", *p);
}

/* One string value, quoted and escaped, at most budget bytes between the quotes;
 * a cut never splits a UTF-8 sequence or an escape. */
static void put_str(struct jw *w, struct sl_str s, size_t budget)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t used = 0, i = 0;

	put(w, "\"", 1);
	while (i < s.len) {
		size_t run = plain_run(p + i, s.len - i), n;
		char esc[8];

		if (run > 0) {
			if (used + run > budget) { /* back off to a sequence boundary */
				run = budget - used;
				while (run > 0 && (p[i + run] & 0xc0) == 0x80)
					run--;
				put(w, (const char *)p + i, run);
				w->cut = 1;
				break;
			}
			put(w, (const char *)p + i, run);
			used += run;
			i += run;
			continue;
		}
		n = escape(p + i, esc);
		if (used + n > budget) {
			w->cut = 1;
			break;
		}
		put(w, esc, n);
		used += n;
		i++;
	}
	put(w, "\"", 1);
}

/* A member "key":value after an optional comma; *first tracks the comma. */
static void key(struct jw *w, int *first, const char *k)
{
	if (!*first)
		put(w, ",", 1);
	*first = 0;
	put(w, "\"", 1);
	puts_(w, k);
	put(w, "\":", 2);
}

static void mem_str(struct jw *w, int *first, const char *k, struct sl_str s, size_t budget)
{
	if (s.p == NULL)
		return;
	key(w, first, k);
	put_str(w, s, budget);
}

static void mem_int(struct jw *w, int *first, const char *k, int64_t v)
{
	char num[24];

	if (v == SL_NONE)
		return;
	key(w, first, k);
	snprintf(num, sizeof(num), "%" PRId64, v);
	puts_(w, num);
}

static const char *source_name(enum sl_source s)
{
	switch (s) {
	case SL_SRC_SYSLOG:
		return "syslog";
	case SL_SRC_AUDIT:
		return "audit";
	case SL_SRC_SUDO:
		return "sudo";
	case SL_SRC_TLOG:
		return "tlog";
	case SL_SRC_STREAMLOG:
		return "streamlog";
	default:
		return NULL;
	}
}

/* Open an object member lazily: only when one of its fields is present. */
#define HAS(s) ((s).p != NULL)

static void obj_from(struct jw *w, int *first, const struct sl_event *e)
{
	int f = 1;

	if (!HAS(e->from_addr) && !HAS(e->tty))
		return;
	key(w, first, "from");
	put(w, "{", 1);
	mem_str(w, &f, "addr", e->from_addr, BUDGET_FIELD);
	mem_str(w, &f, "tty", e->tty, BUDGET_FIELD);
	put(w, "}", 1);
}

static void obj_src(struct jw *w, int *first, const struct sl_event *e)
{
	int f = 1;

	key(w, first, "src");
	put(w, "{", 1);
	mem_str(w, &f, "id", e->source_id, BUDGET_FIELD);
	mem_str(w, &f, "kind", sl_str_c(source_name(e->source)), BUDGET_FIELD);
	mem_int(w, &f, "seq", e->source_seq);
	put(w, "}", 1);
}

static void obj_what(struct jw *w, int *first, const struct sl_event *e)
{
	int f = 1;

	if (!HAS(e->action) && !HAS(e->message) && !HAS(e->result))
		return;
	key(w, first, "what");
	put(w, "{", 1);
	mem_str(w, &f, "action", e->action, BUDGET_FIELD);
	mem_str(w, &f, "message", e->message, BUDGET_MESSAGE);
	mem_str(w, &f, "result", e->result, BUDGET_FIELD);
	put(w, "}", 1);
}

static void obj_who(struct jw *w, int *first, const struct sl_event *e)
{
	int f = 1;

	if (e->auid == SL_NONE && !HAS(e->run_as) && !HAS(e->session) && e->uid == SL_NONE &&
	    !HAS(e->user))
		return;
	key(w, first, "who");
	put(w, "{", 1);
	mem_int(w, &f, "auid", e->auid);
	mem_str(w, &f, "run_as", e->run_as, BUDGET_FIELD);
	mem_str(w, &f, "session", e->session, BUDGET_FIELD);
	mem_int(w, &f, "uid", e->uid);
	mem_str(w, &f, "user", e->user, BUDGET_FIELD);
	put(w, "}", 1);
}

/* One pass; trunc forces the "trunc" member, which must precede fields that may be
 * cut after it in key order, so a cut found late costs a second pass. */
static void serialize(struct jw *w, const struct sl_event *e, int trunc)
{
	int first = 1, f = 1;

	/* §2.2: members in byte order of their keys */
	put(w, "{", 1);
	obj_from(w, &first, e);
	mem_str(w, &first, "on", e->object, BUDGET_FIELD);
	mem_str(w, &first, "raw", e->raw, BUDGET_RAW);
	mem_int(w, &first, "recv", e->received_ns);
	obj_src(w, &first, e);
	mem_str(w, &first, "to", e->target, BUDGET_FIELD);
	if (trunc || w->cut) {
		key(w, &first, "trunc");
		puts_(w, "true");
		trunc = 1;
	}
	key(w, &first, "v");
	puts_(w, "1");
	obj_what(w, &first, e);
	mem_int(w, &first, "when", e->time_ns);
	if (HAS(e->host)) {
		key(w, &first, "where");
		put(w, "{", 1);
		mem_str(w, &f, "host", e->host, BUDGET_FIELD);
		put(w, "}", 1);
	}
	obj_who(w, &first, e);
	put(w, "}", 1);
	if (w->cut && !trunc)
		w->cut = 2; /* cut after "trunc" had its place: do it again */
}

int sl_event_json(const struct sl_event *e, char *out, size_t cap, size_t *out_size,
		  struct shelter_err *err)
{
	struct jw w = { out, 0, cap, 0, 0 };

	*out_size = 0;
	if (source_name(e->source) == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "event: source kind %d", e->source);
	serialize(&w, e, 0);
	if (w.cut == 2) {
		w = (struct jw){ out, 0, cap, 0, 0 };
		serialize(&w, e, 1);
	}
	if (w.full)
		return shelter_err_set(err, SHELTER_E_FBIG, "event: JSON over %zu bytes", cap);
	*out_size = w.used;
	return 0;
}
