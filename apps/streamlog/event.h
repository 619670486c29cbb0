/* StreamLog events: what administrators did, in the seven Ws (docs/streamlog.md §2).
 *
 * A parser fills a struct sl_event whose strings point into the bytes it parsed
 * (borrowed: valid as long as those bytes are) or into the event's own scratch
 * buffer; sl_event_json writes the canonical JSON that becomes the log entry
 * (docs/streamlog.md §2.2). Nothing here allocates.
 */
#ifndef STREAMLOG_EVENT_H
#define STREAMLOG_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shelter/error.h"

/* A borrowed string: len bytes at p, not NUL-terminated; p NULL means absent. */
struct sl_str {
	const char *p;
	size_t len;
};

enum sl_source {
	SL_SRC_SYSLOG = 1, /* RFC 5424/3164 over TLS (RFC 5425) */
	SL_SRC_AUDIT,      /* Linux audit records (auditd log, audisp) */
	SL_SRC_SUDO,       /* sudo JSON event log */
	SL_SRC_TLOG,       /* tlog session recording messages */
	SL_SRC_STREAMLOG,  /* StreamLog's own records: gaps, silences, starts, stops */
};

#define SL_NONE INT64_MIN /* an absent number */

struct sl_event {
	/* source: where the record came from, and its own sequence number if it has one */
	enum sl_source source;
	struct sl_str source_id; /* e.g. the TLS peer's certificate subject, a file */
	int64_t source_seq;      /* SL_NONE when the source numbers nothing */
	/* who */
	struct sl_str user;      /* the acting account's name */
	int64_t uid;             /* its uid, SL_NONE when unknown */
	int64_t auid;            /* the login uid (audit), SL_NONE when unknown */
	struct sl_str session;   /* audit ses, sudo session, tlog rec id */
	struct sl_str run_as;    /* sudo: the target user; audit: euid name */
	/* what */
	struct sl_str action;    /* the command line, syscall name or record type */
	struct sl_str result;    /* "success", "failure", an exit status, a denial */
	/* when */
	int64_t time_ns;         /* the source's timestamp, ns since the epoch; SL_NONE */
	int64_t received_ns;     /* when StreamLog read it */
	/* where: the host the action ran on */
	struct sl_str host;
	/* where from */
	struct sl_str tty;
	struct sl_str from_addr; /* remote address of the session */
	/* where to: the target host or service */
	struct sl_str target;
	/* on what: a file or other object */
	struct sl_str object;
	/* free text: the syslog MSG, the audit record's remaining fields */
	struct sl_str message;
	/* the record as received, for forensics (capped, docs/streamlog.md §2.2) */
	struct sl_str raw;
};

/* Set every field to absent (strings NULL, numbers SL_NONE). */
void sl_event_init(struct sl_event *e);

/* The event of a record a parser refused (docs/streamlog.md §3.1.6): kept, with
 * raw = the record (borrowed), result "unparsed", nothing else interpreted. */
void sl_event_unparsed(enum sl_source source, const char *raw, size_t len, int64_t received_ns,
		       struct sl_event *e);

/* The canonical JSON of e (docs/streamlog.md §2.2) into out (cap bytes); *out_size
 * its size. SHELTER_E_FBIG when it does not fit (long strings are cut to their caps
 * first, so this means cap is below SL_EVENT_JSON_MAX). */
#define SL_EVENT_JSON_MAX 65535
int sl_event_json(const struct sl_event *e, char *out, size_t cap, size_t *out_size,
		  struct shelter_err *err);

/* Room for strings a parser builds or copies (decoded escapes, jansson's strings):
 * caller-owned bytes, reset per event. */
struct sl_scratch {
	char *p;
	size_t used, cap;
};

/* A source parser's start: *e cleared (what a refusal leaves) and *ev cleared but for
 * the record's source, receive time and raw (the record, borrowed), to be filled. */
void sl_event_begin(enum sl_source source, const char *raw, size_t len, int64_t received_ns,
		    struct sl_event *e, struct sl_event *ev);

/* A source parser's end: rc 0: *e = *ev; otherwise s goes back to the scratch_at bytes
 * it held at the start (a refusal leaves the scratch as it was) and *e stays cleared.
 * Returns rc. */
int sl_event_end(int rc, const struct sl_event *ev, struct sl_scratch *s, size_t scratch_at,
		 struct sl_event *e);

/* Copy len bytes into the scratch; an absent string (p NULL) when it is full. */
static inline struct sl_str sl_scratch_put(struct sl_scratch *s, const char *p, size_t len)
{
	struct sl_str r = { NULL, 0 };

	if (p == NULL || s->cap - s->used < len)
		return r;
	if (len > 0)
		memcpy(s->p + s->used, p, len);
	r.p = s->p + s->used;
	r.len = len;
	s->used += len;
	return r;
}

static inline struct sl_str sl_str_c(const char *s)
{
	struct sl_str r = { s, 0 };

	while (s != NULL && s[r.len] != '\0')
		r.len++;
	return r;
}

#endif
