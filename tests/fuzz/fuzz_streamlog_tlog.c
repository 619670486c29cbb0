/* libFuzzer target: StreamLog's tlog input (docs/streamlog.md
 * §3.4; STYLE.md rule 17): sl_tlog_parse of the whole input and of each of its lines
 * (tlog's file writer puts a message per line; split with sl_framer_next as the daemon
 * does), into a scratch of exactly SL_TLOG_SCRATCH(len) bytes; sl_event_unparsed of
 * every refused one; sl_event_json of every event.
 *
 * Properties checked with abort():
 *   - a refusal is MALFORMED or VERSION (or NOMEM) with a message, leaves the event
 *     cleared and the scratch as it was; FBIG never happens with the documented scratch;
 *   - an accepted message has a host, a recording (session), a user and a sequence
 *     number >= 1; its action is one of the three of §3.4, and the message is there
 *     exactly when the action says text is; every string points into the input, the
 *     scratch or nowhere;
 *   - sl_event_json always succeeds and gives valid JSON of at most SL_EVENT_JSON_MAX.
 *
 * Run: build/fuzz/fuzz/fuzz_streamlog_tlog -dict=tests/fuzz/corpus/fuzz_streamlog.dict
 *      <scratch dir> tests/fuzz/corpus/fuzz_streamlog_tlog */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamlog/syslog.h"
#include "streamlog/tlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_streamlog_tlog"
#include "streamlog_check.h"

static int is(struct sl_str s, const char *lit)
{
	return s.p != NULL && s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static void check_event(const struct sl_event *e)
{
	if (e->host.p == NULL || e->session.p == NULL || e->user.p == NULL || e->source_seq < 1)
		fz_die("accepted a message without host, rec, user or id");
	if (is(e->action, "tlog session output")) {
		if (e->message.p != NULL && e->message.len == 0)
			fz_die("an empty message present");
	} else if (is(e->action, "tlog session input")) {
		if (e->message.p == NULL || e->message.len == 0)
			fz_die("input without a message");
	} else if (is(e->action, "tlog session input and output")) {
		if (e->message.len < 10 || memcmp(e->message.p, "in: ", 4) != 0)
			fz_die("input and output without its labels");
	} else {
		fz_die("action '%.*s'", (int)e->action.len, e->action.p);
	}
}

/* the action is a constant, not in the input */
static const struct fz_parser parser = {
	sl_tlog_parse, SL_SRC_TLOG, SHELTER_E_VERSION, 1, check_event,
};

static void parse_one(const char *in, size_t len)
{
	fz_parse_one(&parser, SL_TLOG_SCRATCH(len), in, len, INT64_C(1795408867600000000));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct sl_framer f;
	struct sl_str line;
	size_t off = 0, consumed;

	parse_one(in, size);
	sl_framer_init(&f, 0);
	while (sl_framer_next(&f, in + off, size - off, &consumed, &line, NULL) == 0) {
		off += consumed;
		if (line.len != size)
			parse_one(line.p, line.len);
	}
	return 0;
}
