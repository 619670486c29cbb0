/* Records of other sources carried by syslog (docs/streamlog.md §3.5.3):
 * audit records that `streamlog audisp` or audisp-syslog send, tlog's syslog writer,
 * sudo's JSON events. Which parser a message belongs to is decided in one place,
 * sl_syslog_route. Pure functions: no I/O, no allocation but the parsers' own. */
#ifndef STREAMLOG_ROUTE_H
#define STREAMLOG_ROUTE_H

#include "streamlog/event.h"

/* §3.5.3: the parser a syslog message's MSG belongs to, from its APP-NAME (or RFC 3164
 * TAG, the program part of e->action) and how MSG starts: SL_SRC_AUDIT, SL_SRC_TLOG,
 * SL_SRC_SUDO, or SL_SRC_SYSLOG (a plain syslog message). e is a parsed syslog event. */
enum sl_source sl_syslog_route(const struct sl_event *e);

/* §3.5.3 for tlog and sudo: the event of outer's MSG read by that parser (kind is
 * SL_SRC_TLOG or SL_SRC_SUDO), or its unparsed record (§3.1.6) when the parser refuses
 * it. raw is frame, the whole syslog message; src.id, where.host and when are outer's
 * when the inner record has none. Strings point into frame, outer's strings or s
 * (which must have room for SL_SUDO_SCRATCH of the MSG). Never fails. */
void sl_route_inner(enum sl_source kind, const struct sl_event *outer, struct sl_str frame,
		    struct sl_scratch *s, struct sl_event *out);

#endif
