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

#define MAX_FRAMES 4096

struct frames {
	size_t n;
	int rc;                /* the last return: 1, or the refusal */
	uint8_t cut[MAX_FRAMES];
	size_t len[MAX_FRAMES];
	uint32_t hash[MAX_FRAMES];
};

static uint32_t fnv(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

static void parse_one(const char *msg, size_t len, int64_t recv)
{
	size_t cap = SL_SYSLOG_SCRATCH(len);
	char *buf = malloc(cap ? cap : 1);
	struct sl_scratch s = { buf, 0, cap };
	struct shelter_err err;
	struct sl_event e;
	int rc;

	if (buf == NULL)
		fz_die("out of memory");
	shelter_err_clear(&err);
	memset(&e, 0xa5, sizeof(e));
	rc = sl_syslog_parse(msg, len, recv, &e, &s, &err);
	if (rc != 0) {
		fz_refusal(rc, SHELTER_E_MALFORMED, SHELTER_E_VERSION, &e, s.used, &err);
		sl_event_unparsed(SL_SRC_SYSLOG, msg, len, recv, &e);
	} else {
		fz_strings_inside(&e, msg, len, &s, 0);
	}
	if (e.source != SL_SRC_SYSLOG || e.raw.p != msg || e.raw.len != len ||
	    e.received_ns != recv)
		fz_die("event source, raw or recv not the message's");
	fz_json_ok(&e);
	free(buf);
}

static void parse_all(const char *msg, size_t len)
{
	parse_one(msg, len, INT64_C(1795405201500000000));  /* 2026-11-23T03:40:01.5Z */
	parse_one(msg, len, INT64_C(1798761598000000000));  /* 2026-12-31T23:59:58Z */
	parse_one(msg, len, SL_NONE);
}

static void record(struct frames *fr, struct sl_str msg, int cut, int parse)
{
	if (fr->n == MAX_FRAMES)
		return;
	fr->cut[fr->n] = (uint8_t)cut;
	fr->len[fr->n] = msg.len;
	fr->hash[fr->n] = fnv(msg.p, msg.len);
	fr->n++;
	if (parse)
		parse_one(msg.p, msg.len, INT64_C(1795405201500000000));
}

static void check_frame(const struct sl_framer *f, const char *buf, size_t have, size_t consumed,
			struct sl_str msg, int rc)
{
	if (consumed > have)
		fz_die("framer consumed %zu of %zu bytes", consumed, have);
	if (rc == 0 && (msg.p < buf || msg.p + msg.len > buf + have || msg.len == 0 ||
			msg.len > f->max || (msg.p + msg.len > buf + consumed)))
		fz_die("framer message outside its frame or over max");
	if (rc < 0 && rc != SHELTER_E_MALFORMED)
		fz_die("framer refused with %d", rc);
	if (rc > 1)
		fz_die("framer returned %d", rc);
}

/* The whole stream in one buffer. */
static void frame_whole(const char *in, size_t len, size_t max, struct frames *fr, int parse)
{
	struct sl_framer f;
	size_t off = 0, consumed;
	struct sl_str msg;
	int rc;

	sl_framer_init(&f, max);
	do {
		rc = sl_framer_next(&f, in + off, len - off, &consumed, &msg, NULL);
		check_frame(&f, in + off, len - off, consumed, msg, rc);
		off += consumed;
		if (rc == 0)
			record(fr, msg, f.cut, parse);
	} while (rc == 0);
	fr->rc = rc;
}

/* Reads of chunk bytes into a buffer of SL_FRAME_BUF(max). */
static void frame_chunked(const char *in, size_t len, size_t max, size_t chunk, struct frames *fr)
{
	struct sl_framer f;
	size_t cap, have = 0, fed = 0;
	char *buf;

	sl_framer_init(&f, max);
	cap = SL_FRAME_BUF(f.max);
	buf = malloc(cap);
	if (buf == NULL)
		fz_die("out of memory");
	for (;;) {
		size_t take = len - fed < chunk ? len - fed : chunk, consumed;
		struct sl_str msg;
		int rc;

		if (take > cap - have)
			take = cap - have;
		memcpy(buf + have, in + fed, take);
		have += take;
		fed += take;
		rc = sl_framer_next(&f, buf, have, &consumed, &msg, NULL);
		check_frame(&f, buf, have, consumed, msg, rc);
		if (rc == 0)
			record(fr, msg, f.cut, 0);
		if (rc < 0 || (rc == 1 && consumed == 0 && take == 0)) {
			if (rc == 1 && fed < len)
				fz_die("framer stalled with %zu of %zu buffer bytes", have, cap);
			fr->rc = rc;
			break;
		}
		memmove(buf, buf + consumed, have - consumed);
		have -= consumed;
	}
	free(buf);
}

static void same(const struct frames *a, const struct frames *b, size_t max, size_t chunk)
{
	if (a->n != b->n || a->rc != b->rc ||
	    memcmp(a->cut, b->cut, a->n) != 0 || memcmp(a->len, b->len, a->n * sizeof(size_t)) ||
	    memcmp(a->hash, b->hash, a->n * sizeof(uint32_t)) != 0)
		fz_die("max %zu: reads of %zu frame %zu messages (rc %d), one read %zu (rc %d)", max,
		       chunk, b->n, b->rc, a->n, a->rc);
}

static struct frames g_whole, g_chunked;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t small = 8 + (size > 0 ? data[0] % 64 : 0), chunk = 1 + (size > 0 ? data[0] % 17 : 0);

	parse_all(in, size);
	for (int pass = 0; pass < 2; pass++) {
		/* the default max read as a TLS record layer would, the small one byte-wise */
		size_t max = pass == 0 ? 0 : small, reads = pass == 0 ? chunk * 64 : chunk;

		memset(&g_whole, 0, sizeof(g_whole));
		memset(&g_chunked, 0, sizeof(g_chunked));
		frame_whole(in, size, max, &g_whole, pass == 0);
		frame_chunked(in, size, max, reads, &g_chunked);
		same(&g_whole, &g_chunked, max, reads);
	}
	return 0;
}
