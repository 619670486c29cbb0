/* Syslog over TLS (docs/streamlog.md §3.1): framing of the
 * byte stream (RFC 5425 §4.3, RFC 6587) and RFC 5424 / RFC 3164 messages as events.
 *
 * Pure functions: no I/O, no globals, no allocation. Strings in the events point into
 * the message (borrowed: valid as long as its bytes are) or into the caller's scratch.
 */
#ifndef STREAMLOG_SYSLOG_H
#define STREAMLOG_SYSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

/* §3.1.1: the default largest message, the RFC 5425 §4.3.1 "MUST accept" size is 2 KiB;
 * rsyslog's default maxMessageSize is 8 KiB; 64 KiB takes any of them. */
#define SL_FRAME_MAX_DEFAULT 65536
/* MSG-LEN has at most this many digits (a length of a billion bytes is no message) */
#define SL_FRAME_LEN_DIGITS 9
/* Unread bytes a reader must be able to hold to frame messages of up to max bytes:
 * "MSG-LEN SP" and max, or max and CR LF. */
#define SL_FRAME_BUF(max) ((max) + SL_FRAME_LEN_DIGITS + 1)

/* Framing state of one connection. Set up with sl_framer_init; no resources. */
struct sl_framer {
	size_t max;      /* the largest message delivered whole, bytes */
	uint64_t skip;   /* octet-counted bytes still to discard (a message over max) */
	int skip_line;   /* discarding an LF-framed line over max up to its end */
	int cut;         /* the message sl_framer_next just returned was cut to max */
};

/* max 0 means SL_FRAME_MAX_DEFAULT; at most 999,999,999 (SL_FRAME_LEN_DIGITS). */
void sl_framer_init(struct sl_framer *f, size_t max);

/* The next message of a stream whose unread bytes are buf[0, len) (§3.1.1).
 *
 * Returns 0 with *msg pointing into buf (borrowed) and f->cut telling whether it was
 * cut to f->max bytes; 1 when buf holds no complete message; or SHELTER_E_MALFORMED
 * for a stream that cannot be framed (an MSG-LEN with a leading zero or over
 * SL_FRAME_LEN_DIGITS digits), naming the byte offset in buf. In every case the
 * caller drops the first *consumed bytes of buf before the next call (after an
 * error the connection is unusable: close it). Empty lines are skipped; a message
 * over max is delivered cut and the rest of it discarded as it arrives, so a caller
 * that can hold SL_FRAME_BUF(f->max) unread bytes always makes progress. */
int sl_framer_next(struct sl_framer *f, const char *buf, size_t len, size_t *consumed,
		   struct sl_str *msg, struct shelter_err *err);

/* Scratch bytes that always suffice for sl_syslog_parse of a len-byte message. */
#define SL_SYSLOG_SCRATCH(len) ((len) + 512)

/* The event of one syslog message (§3.1.2 RFC 5424, §3.1.3 RFC 3164, §3.1.4 the
 * mapping). received_ns is when StreamLog read it (the year of RFC 3164 timestamps
 * comes from it). *e is set on success only; strings point into msg or into s.
 * Errors: SHELTER_E_MALFORMED (a bad PRI, RFC 5424 header, timestamp or structured
 * data; the message names the field and its byte offset), SHELTER_E_VERSION (an
 * RFC 5424 VERSION other than 1), SHELTER_E_FBIG (s has less room than
 * SL_SYSLOG_SCRATCH(len)). On error s is left as it was. */
int sl_syslog_parse(const char *msg, size_t len, int64_t received_ns, struct sl_event *e,
		    struct sl_scratch *s, struct shelter_err *err);

/* A record this refuses is kept with sl_event_unparsed (event.h, §3.1.6). */

#endif
