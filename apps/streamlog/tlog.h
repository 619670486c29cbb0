/* tlog session recordings (docs/streamlog.md §3.4): the JSON
 * messages tlog-rec and tlog-rec-session write (tlog's doc/log_format.md, format 2.x),
 * one per event.
 *
 * Pure functions: no I/O, no globals, no allocation but jansson's own, freed before
 * they return.
 */
#ifndef STREAMLOG_TLOG_H
#define STREAMLOG_TLOG_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

/* The largest message sl_tlog_parse reads (tlog's default payload is 2 KiB). */
#define SL_TLOG_MAX (1024 * 1024)

/* Scratch bytes that always suffice for sl_tlog_parse of a len-byte message. */
#define SL_TLOG_SCRATCH(len) ((len) + 64)

/* The event of one tlog message (§3.4): one JSON object, as tlog's file writer puts
 * on each line (split a file with sl_framer_next) or its syslog writer sends as MSG.
 * *e is set on success only; its strings point into json (raw) or into s (jansson's
 * strings are copied; s->p must not be NULL).
 * Errors: SHELTER_E_MALFORMED (not one JSON object; a required field — ver, host,
 * rec, user, id — missing; a field of the wrong JSON type or out of range; named by
 * key or byte offset), SHELTER_E_VERSION (a "ver" whose major number is not 2),
 * SHELTER_E_FBIG (over SL_TLOG_MAX bytes, or s has less room than
 * SL_TLOG_SCRATCH(len)), SHELTER_E_NOMEM (jansson could not allocate). On error s is
 * left as it was. */
int sl_tlog_parse(const char *json, size_t len, int64_t received_ns, struct sl_event *e,
		  struct sl_scratch *s, struct shelter_err *err);

/* A record this refuses is kept with sl_event_unparsed (event.h, §3.1.6). */

#endif
