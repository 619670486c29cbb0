/* sudo's JSON event log (docs/streamlog.md §3.3): the file
 * sudoers writes with `log_format=json` and `logfile`, read as events.
 *
 * sudo 1.9 keeps that file one JSON object whose members are the events, in order,
 * each keyed by its type ("accept", "reject", "exit", "alert"); it appends an event
 * by overwriting the final "\n}\n" with "," and the new member (lib/eventlog/eventlog.c,
 * do_logfile_json). sl_sudo_next splits the file into members; sl_sudo_parse makes
 * one member an event. Pure functions: no I/O, no globals, no allocation but
 * jansson's own, freed before they return.
 */
#ifndef STREAMLOG_SUDO_H
#define STREAMLOG_SUDO_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

/* The largest event sl_sudo_parse reads, and sl_sudo_next's default max. */
#define SL_SUDO_MAX (1024 * 1024)

/* Splitting state of one log file. Set up with sl_sudo_split_init; no resources. */
struct sl_sudo_split {
	size_t max;                   /* the largest member delivered whole, bytes */
	int skipping;                 /* discarding the rest of a member over max */
	int depth, in_str, esc;       /* where the discarding is inside that member */
	int cut;                      /* the member sl_sudo_next just returned was cut */
};

/* max 0 means SL_SUDO_MAX. */
void sl_sudo_split_init(struct sl_sudo_split *sp, size_t max);

/* The next member `"type": {...}` of the file whose unread bytes are buf[0, len)
 * (§3.3.1). Returns 0 with *member pointing into buf (borrowed) and sp->cut telling
 * whether it was cut to sp->max bytes (the rest is discarded as it arrives); 1 when
 * buf holds no complete member; SHELTER_E_MALFORMED when buf is not sudo's layout
 * (naming the byte offset in buf). The caller drops the first *consumed bytes of buf
 * in every case. Whitespace, '{' and ',' between members are consumed, the final
 * '}' never is: sudo overwrites it with the next event, so the caller re-reads the
 * file from the offset *consumed leaves it at. */
int sl_sudo_next(struct sl_sudo_split *sp, const char *buf, size_t len, size_t *consumed,
		 struct sl_str *member, struct shelter_err *err);

/* Scratch bytes that always suffice for sl_sudo_parse of a len-byte input. */
#define SL_SUDO_SCRATCH(len) ((len) + 8192)

/* The event of one sudo record (§3.3.2, the mapping §3.3.3): a member as
 * sl_sudo_next gives it, an object holding one member (`{"accept": {...}}`, a file
 * of one event), or sudo's syslog form `@cee:{"sudo":{"accept": {...}}}`. *e is set
 * on success only; its strings point into json (raw) or into s (jansson's strings
 * are copied: they are freed before this returns; s->p must not be NULL).
 * Errors: SHELTER_E_MALFORMED (not JSON, not one of those forms, an unknown event
 * type, a field of the wrong JSON type or out of range; named with its byte offset
 * or key), SHELTER_E_FBIG (over SL_SUDO_MAX bytes, or s has less room than
 * SL_SUDO_SCRATCH(len)), SHELTER_E_NOMEM (jansson could not allocate). On error s
 * is left as it was. */
int sl_sudo_parse(const char *json, size_t len, int64_t received_ns, struct sl_event *e,
		  struct sl_scratch *s, struct shelter_err *err);

/* A record this refuses is kept with sl_event_unparsed (event.h, §3.1.6). */

#endif
