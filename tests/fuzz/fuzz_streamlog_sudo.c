/* libFuzzer target: StreamLog's sudo input (docs/streamlog.md
 * §3.3; STYLE.md rule 17). The input is sudo's JSON log file:
 *
 *   - §3.3.1 splitting: sl_sudo_next over the whole input at once, and again fed in
 *     chunks (sizes from the first byte) through a reader buffer of exactly max bytes,
 *     with the default max and a small one (so cuts happen);
 *   - §3.3.2-§3.3.3: sl_sudo_parse of every member and of the whole input (a member,
 *     an object of one event, or the @cee: syslog form) into a scratch of exactly
 *     SL_SUDO_SCRATCH(len) bytes; sl_event_unparsed of every refused one;
 *   - sl_event_json of every event.
 *
 * Properties checked with abort():
 *   - the splitter consumes at most what it was given, returns members inside the
 *     buffer that start with '"' and are at most max bytes, never stalls with a full
 *     buffer (but at the final '}', which it leaves for sudo to overwrite), and splits
 *     the same members (and cut flags, and the same refusal) however the file is read;
 *   - a refusal is MALFORMED (or NOMEM) with a message, leaves the event cleared and
 *     the scratch as it was; FBIG never happens with the documented scratch;
 *   - an event's raw is its input; every string of it points into the input, the
 *     scratch or nowhere; the result starts with the event type;
 *   - sl_event_json always succeeds and gives valid JSON of at most SL_EVENT_JSON_MAX.
 *
 * Run: build/fuzz/fuzz/fuzz_streamlog_sudo -dict=tests/fuzz/corpus/fuzz_streamlog.dict
 *      <scratch dir> tests/fuzz/corpus/fuzz_streamlog_sudo */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamlog/sudo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_streamlog_sudo"
#include "streamlog_check.h"

#define MAX_MEMBERS 2048

struct members {
	size_t n;
	int rc;
	uint8_t cut[MAX_MEMBERS];
	size_t len[MAX_MEMBERS];
	uint32_t hash[MAX_MEMBERS];
};

static uint32_t fnv(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

static int starts_with(struct sl_str s, const char *lit)
{
	return s.p != NULL && s.len >= strlen(lit) && memcmp(s.p, lit, strlen(lit)) == 0;
}

static void parse_one(const char *in, size_t len)
{
	size_t cap = SL_SUDO_SCRATCH(len);
	char *buf = malloc(cap);
	struct sl_scratch s = { buf, 0, cap };
	struct shelter_err err;
	struct sl_event e;
	int rc;

	if (buf == NULL)
		fz_die("out of memory");
	shelter_err_clear(&err);
	memset(&e, 0xa5, sizeof(e));
	rc = sl_sudo_parse(in, len, INT64_C(1795408867500000000), &e, &s, &err);
	if (rc != 0) {
		fz_refusal(rc, SHELTER_E_MALFORMED, SHELTER_E_MALFORMED, &e, s.used, &err);
		sl_event_unparsed(SL_SRC_SUDO, in, len, INT64_C(1795408867500000000), &e);
	} else {
		fz_strings_inside(&e, in, len, &s, 0);
		if (!starts_with(e.result, "accept") && !starts_with(e.result, "reject") &&
		    !starts_with(e.result, "exit") && !starts_with(e.result, "alert"))
			fz_die("result does not start with an event type");
	}
	if (e.source != SL_SRC_SUDO || e.raw.p != in || e.raw.len != len)
		fz_die("event source or raw not the input's");
	fz_json_ok(&e);
	free(buf);
}

static void record(struct members *m, struct sl_str member, int cut, int parse)
{
	if (m->n == MAX_MEMBERS)
		return;
	m->cut[m->n] = (uint8_t)cut;
	m->len[m->n] = member.len;
	m->hash[m->n] = fnv(member.p, member.len);
	m->n++;
	if (parse)
		parse_one(member.p, member.len);
}

static void check_next(const struct sl_sudo_split *sp, const char *buf, size_t have,
		       size_t consumed, struct sl_str m, int rc)
{
	if (consumed > have)
		fz_die("splitter consumed %zu of %zu bytes", consumed, have);
	if (rc == 0 && (m.p < buf || m.len > have || (size_t)(m.p - buf) > have - m.len ||
			m.len == 0 || m.p[0] != '"' || m.len > sp->max ||
			m.p + m.len != buf + consumed))
		fz_die("splitter member outside the buffer, over max or not a member");
	if (rc != 0 && rc != 1 && rc != SHELTER_E_MALFORMED)
		fz_die("splitter returned %d", rc);
}

static void split_whole(const char *in, size_t len, size_t max, struct members *m, int parse)
{
	struct sl_sudo_split sp;
	size_t off = 0, consumed;
	struct sl_str member;
	int rc;

	sl_sudo_split_init(&sp, max);
	do {
		rc = sl_sudo_next(&sp, in + off, len - off, &consumed, &member, NULL);
		check_next(&sp, in + off, len - off, consumed, member, rc);
		off += consumed;
		if (rc == 0)
			record(m, member, sp.cut, parse);
	} while (rc == 0);
	m->rc = rc;
}

static void split_chunked(const char *in, size_t len, size_t max, size_t chunk, struct members *m)
{
	struct sl_sudo_split sp;
	size_t cap, have = 0, fed = 0;
	char *buf;

	sl_sudo_split_init(&sp, max);
	cap = sp.max;
	buf = malloc(cap);
	if (buf == NULL)
		fz_die("out of memory");
	for (;;) {
		size_t take = len - fed < chunk ? len - fed : chunk, consumed;
		struct sl_str member;
		int rc;

		if (take > cap - have)
			take = cap - have;
		memcpy(buf + have, in + fed, take);
		have += take;
		fed += take;
		rc = sl_sudo_next(&sp, buf, have, &consumed, &member, NULL);
		check_next(&sp, buf, have, consumed, member, rc);
		if (rc == 0)
			record(m, member, sp.cut, 0);
		if (rc < 0 || (rc == 1 && consumed == 0 && take == 0)) {
			if (rc == 1 && fed < len && buf[0] != '}')
				fz_die("splitter stalled with %zu of %zu buffer bytes", have, cap);
			m->rc = rc;
			break;
		}
		memmove(buf, buf + consumed, have - consumed);
		have -= consumed;
	}
	free(buf);
}

static struct members g_whole, g_chunked;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t small = 8 + (size > 0 ? data[0] % 128 : 0), chunk = 1 + (size > 0 ? data[0] % 23 : 0);

	parse_one(in, size);
	for (int pass = 0; pass < 2; pass++) {
		size_t max = pass == 0 ? 0 : small, reads = pass == 0 ? chunk * 64 : chunk;

		memset(&g_whole, 0, sizeof(g_whole));
		memset(&g_chunked, 0, sizeof(g_chunked));
		split_whole(in, size, max, &g_whole, pass == 0);
		split_chunked(in, size, pass == 0 ? 65536 : max, reads, &g_chunked);
		if ((pass == 1 || size < 65536) &&
		    (g_whole.n != g_chunked.n || g_whole.rc != g_chunked.rc ||
		     memcmp(g_whole.cut, g_chunked.cut, g_whole.n) != 0 ||
		     memcmp(g_whole.len, g_chunked.len, g_whole.n * sizeof(size_t)) != 0 ||
		     memcmp(g_whole.hash, g_chunked.hash, g_whole.n * sizeof(uint32_t)) != 0))
			fz_die("max %zu: reads of %zu split %zu members (rc %d), one read %zu (rc %d)",
			       max, reads, g_chunked.n, g_chunked.rc, g_whole.n, g_whole.rc);
	}
	return 0;
}
