/* libFuzzer target: StreamLog's syslog input (docs/streamlog.md
 * §3.1; STYLE.md rule 17). The input is a TLS byte stream:
 *
 *   - §3.1.1 framing: sl_framer_next over the whole input at once, and again fed in
 *     chunks (sizes from the first byte) through a reader buffer of exactly
 *     SL_FRAME_BUF(max), with the default max and with a small one (so cuts happen);
 *   - §3.1.2-§3.1.4: sl_syslog_parse of every framed message and of the whole input
 *     (that one with three receive times: a normal day, a new year's eve, unknown) into a
 *     scratch of exactly SL_SYSLOG_SCRATCH(len) bytes (malloc'd: ASan sees a write
 *     past it); §3.1.6 sl_event_unparsed of every refused one;
 *   - sl_event_json of every event.
 *
 * Properties checked with abort():
 *   - the framer consumes at most what it was given, returns messages inside the
 *     buffer of at most max bytes, never stalls with a full reader buffer, and frames
 *     the same messages (and cut flags, and the same refusal) however the stream is cut
 *     into reads;
 *   - a refusal is MALFORMED or VERSION with a message, leaves the event cleared and the
 *     scratch as it was; FBIG never happens with the documented scratch;
 *   - an event's raw is the message; every string of it points into the message, the
 *     scratch or nowhere;
 *   - sl_event_json always succeeds and gives valid JSON (jansson reads it back) of at
 *     most SL_EVENT_JSON_MAX bytes.
 *
 * Run: build/fuzz/fuzz/fuzz_streamlog_syslog -dict=tests/fuzz/corpus/fuzz_streamlog.dict
 *      <scratch dir> tests/fuzz/corpus/fuzz_streamlog_syslog */
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamlog/syslog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_streamlog_syslog"
#include "streamlog_check.h"

#define RECV_NS INT64_C(1795405201500000000) /* 2026-11-23T03:40:01.5Z */

static const struct fz_parser parser = {
	sl_syslog_parse, SL_SRC_SYSLOG, SHELTER_E_VERSION, 0, NULL,
};

static void parse_one(const char *msg, size_t len, int64_t recv)
{
	fz_parse_one(&parser, SL_SYSLOG_SCRATCH(len), msg, len, recv);
}

static void parse_all(const char *msg, size_t len)
{
	parse_one(msg, len, RECV_NS);
	parse_one(msg, len, INT64_C(1798761598000000000));  /* 2026-12-31T23:59:58Z */
	parse_one(msg, len, SL_NONE);
}

static void parse_framed(const char *msg, size_t len)
{
	parse_one(msg, len, RECV_NS);
}

/* the reader buffer is SL_FRAME_BUF(max) */
static void framer_init(void *st, size_t max, size_t *out_max, size_t *out_buf)
{
	struct sl_framer *f = st;

	sl_framer_init(f, max);
	*out_max = f->max;
	*out_buf = SL_FRAME_BUF(f->max);
}

static int framer_next(void *st, const char *buf, size_t have, size_t *consumed,
		       struct sl_str *msg, int *out_cut)
{
	struct sl_framer *f = st;
	int rc = sl_framer_next(f, buf, have, consumed, msg, NULL);

	*out_cut = f->cut;
	return rc;
}

static const struct fz_splitter framer = {
	"framer", framer_init, framer_next, NULL, NULL, parse_framed,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t small = 8 + (size > 0 ? data[0] % 64 : 0), chunk = 1 + (size > 0 ? data[0] % 17 : 0);
	struct sl_framer f;

	parse_all(in, size);
	for (int pass = 0; pass < 2; pass++) {
		/* the default max read as a TLS record layer would, the small one byte-wise */
		size_t max = pass == 0 ? 0 : small, reads = pass == 0 ? chunk * 64 : chunk;

		fz_split_both(&framer, &f, in, size, max, max, reads, pass == 0, 1);
	}
	return 0;
}
