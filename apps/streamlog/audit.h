/* Linux audit records as events (docs/streamlog.md §3.2): the text of
 * /var/log/audit/audit.log or of an audisp plugin's stdin, in any byte split, is
 * grouped into events by libauparse (auparse_init(AUSOURCE_FEED)) and each event is
 * handed to the caller as one struct sl_event.
 *
 * Threads: libauparse keeps process-wide state (the interpretation list of the
 * record under its cursor, the end-of-event timeout), so every sl_audit of a
 * process must be used from one thread at a time.
 */
#ifndef STREAMLOG_AUDIT_H
#define STREAMLOG_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

/* §3.2.1: a line longer than this (without its LF) is skipped: auditd takes at
 * most 8,970 bytes of a record from the kernel (MAX_AUDIT_MESSAGE_LENGTH), its
 * enriched format and node= prefix add under 8 KiB. */
#define SL_AUDIT_LINE_MAX 32768
/* §3.2.2: an event whose records stopped arriving is complete after this long */
#define SL_AUDIT_IDLE_NS 2000000000LL
/* §3.2.2: records held in incomplete events beyond either bound complete them all */
#define SL_AUDIT_PENDING_BYTES (8u << 20)
#define SL_AUDIT_PENDING_LINES 4096u

struct sl_audit;

/* Called once per complete event, in the order libauparse completes them. e and
 * every string in it are valid during the call only (the adapter's scratch): copy
 * what is kept. e->received_ns is SL_NONE; e->source is SL_SRC_AUDIT. emit must not
 * call sl_audit_* on the same adapter. A non-zero return is reported by the
 * sl_audit_* call that completed the event; the adapter goes on with the next event
 * (the event is the caller's to keep or lose: the adapter cannot replay it). */
typedef int (*sl_audit_emit_fn)(void *ctx, const struct sl_event *e, struct shelter_err *err);

/* Counters since sl_audit_new (§3.2.5). */
struct sl_audit_stats {
	uint64_t lines;       /* complete lines read, empty ones included */
	uint64_t events;      /* events passed to emit */
	uint64_t emit_failed; /* of those, refused by emit */
	uint64_t malformed;   /* lines skipped: no audit header, a NUL byte */
	uint64_t too_long;    /* lines skipped: over SL_AUDIT_LINE_MAX */
	uint64_t truncated;   /* unterminated last lines skipped by sl_audit_flush */
	uint64_t forced;      /* completions forced by SL_AUDIT_PENDING_* */
};

/* A new adapter. host: where.host of events without node= (the machine the records
 * came from, normally the daemon's own host name), 1..255 bytes; source_id: src.id
 * of every event, or NULL. Both are copied. *out is set on success only; free it
 * with sl_audit_free. Errors: SHELTER_E_INVAL (bad host, NULL emit),
 * SHELTER_E_NOMEM (including libauparse's own initialisation failing). */
int sl_audit_new(const char *host, const char *source_id, sl_audit_emit_fn emit, void *ctx,
		 struct sl_audit **out, struct shelter_err *err) SHELTER_MUST_USE;

/* Free a (NULL is a no-op). Events still incomplete are dropped: call
 * sl_audit_flush first to emit them. */
void sl_audit_free(struct sl_audit *a);

/* Take the next len bytes of the stream. Every complete event is emitted before
 * this returns; a line may be split anywhere between calls. Returns 0;
 * SHELTER_E_MALFORMED when lines were skipped (§3.2.1; err names the first one,
 * everything else was read and the adapter goes on); the first error of emit
 * (err prefixed "audit: event SEC.MS:SERIAL: "), which takes precedence; or
 * SHELTER_E_NOMEM (a line may be lost). SHELTER_E_INVAL when called from emit. */
int sl_audit_feed(struct sl_audit *a, const char *buf, size_t len,
		  struct shelter_err *err) SHELTER_MUST_USE;

/* End of input (EOF, or a restart of the source): an unterminated last line is
 * skipped (SHELTER_E_TRUNCATED: it may be cut inside a value), then every
 * incomplete event is emitted as it is. Errors as sl_audit_feed. The adapter may
 * be fed again afterwards. */
int sl_audit_flush(struct sl_audit *a, struct shelter_err *err) SHELTER_MUST_USE;

/* The caller's clock (any monotonic ns count), called periodically, say every
 * 500 ms: when no complete line arrived for SL_AUDIT_IDLE_NS and libauparse still
 * holds records, their events are completed and emitted (§3.2.2: libauparse waits
 * for the next serial or a record 2 s newer, which may never come). A partial line
 * is left alone. Errors: emit's, as sl_audit_feed. */
int sl_audit_tick(struct sl_audit *a, int64_t now_ns, struct shelter_err *err) SHELTER_MUST_USE;

/* The counters (a is not changed). */
void sl_audit_stats(const struct sl_audit *a, struct sl_audit_stats *out);

/* 1 when a holds input that is in no emitted event yet (records of incomplete events,
 * part of a line), else 0. A reader that keeps its position in the input (a file's
 * offset, docs/streamlog.md §3.5.5) takes a position as done only when this is 0. */
int sl_audit_holding(struct sl_audit *a);

#endif
