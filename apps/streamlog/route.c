/* Records of other sources inside syslog messages (docs/streamlog.md
 * §3.5.3; route.h). */
#include <string.h>

#include "streamlog/route.h"
#include "streamlog/sudo.h"
#include "streamlog/tlog.h"

static int str_is(struct sl_str s, const char *lit)
{
	return s.p != NULL && s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static int starts(struct sl_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.p != NULL && s.len >= n && memcmp(s.p, lit, n) == 0;
}

enum sl_source sl_syslog_route(const struct sl_event *e)
{
	struct sl_str a = e->action, app = { NULL, 0 };
	size_t i = 0;

	/* what.action is "<facility>.<severity> <APP-NAME or TAG>[PROCID][ MSGID]"
	 * (docs/streamlog.md §3.1.4) */
	while (a.p != NULL && i < a.len && a.p[i] != ' ')
		i++;
	if (a.p != NULL && i < a.len) {
		app.p = a.p + i + 1;
		while (app.len < a.len - i - 1 && app.p[app.len] != '[' && app.p[app.len] != ' ')
			app.len++;
	}
	if (e->source != SL_SRC_SYSLOG || app.p == NULL)
		return SL_SRC_SYSLOG;
	/* `streamlog audisp`, and auditd's own audisp-syslog plugin relayed by a syslog
	 * daemon: the MSG is one audit record (docs/streamlog.md §3.2.1) */
	if ((str_is(app, "audit") || str_is(app, "audisp-syslog")) &&
	    (starts(e->message, "type=") || starts(e->message, "node=")))
		return SL_SRC_AUDIT;
	/* tlog's syslog writer: "tlog" for tlog-rec 12, the program name in others */
	if ((str_is(app, "tlog") || str_is(app, "tlog-rec") || str_is(app, "tlog-rec-session")) &&
	    starts(e->message, "{"))
		return SL_SRC_TLOG;
	/* sudo with log_format=json: "@cee:" and the event (sudoers(5) log_format) */
	if (str_is(app, "sudo") && starts(e->message, "@cee:"))
		return SL_SRC_SUDO;
	return SL_SRC_SYSLOG;
}

void sl_route_inner(enum sl_source kind, const struct sl_event *outer, struct sl_str frame,
		    struct sl_scratch *s, struct sl_event *out)
{
	struct shelter_err err;
	struct sl_str m = outer->message;
	int rc;

	if (kind == SL_SRC_TLOG) {
		rc = sl_tlog_parse(m.p, m.len, outer->received_ns, out, s, &err);
		if (rc != 0)
			sl_event_unparsed(SL_SRC_TLOG, frame.p, frame.len, outer->received_ns, out);
	} else {
		rc = sl_sudo_parse(m.p, m.len, outer->received_ns, out, s, &err);
		if (rc != 0)
			sl_event_unparsed(SL_SRC_SUDO, frame.p, frame.len, outer->received_ns, out);
	}
	out->raw = frame;
	out->source_id = outer->source_id;
	if (out->host.p == NULL || out->host.len == 0)
		out->host = outer->host;
	if (out->time_ns == SL_NONE)
		out->time_ns = outer->time_ns;
}
