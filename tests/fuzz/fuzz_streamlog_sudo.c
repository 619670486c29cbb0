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
#define FZ_MAX_PIECES 2048
#include "streamlog_check.h"

#define RECV_NS INT64_C(1795408867500000000)

static int starts_with(struct sl_str s, const char *lit)
{
	return s.p != NULL && s.len >= strlen(lit) && memcmp(s.p, lit, strlen(lit)) == 0;
}

static void check_event(const struct sl_event *e)
{
	if (!starts_with(e->result, "accept") && !starts_with(e->result, "reject") &&
	    !starts_with(e->result, "exit") && !starts_with(e->result, "alert"))
		fz_die("result does not start with an event type");
}

static const struct fz_parser parser = {
	sl_sudo_parse, SL_SRC_SUDO, SHELTER_E_MALFORMED, 0, check_event,
};

static void parse_one(const char *in, size_t len)
{
	fz_parse_one(&parser, SL_SUDO_SCRATCH(len), in, len, RECV_NS);
}

static void split_init(void *st, size_t max, size_t *out_max, size_t *out_buf)
{
	struct sl_sudo_split *sp = st;

	sl_sudo_split_init(sp, max);
	*out_max = *out_buf = sp->max;
}

static int split_next(void *st, const char *buf, size_t have, size_t *consumed,
		      struct sl_str *member, int *out_cut)
{
	struct sl_sudo_split *sp = st;
	int rc = sl_sudo_next(sp, buf, have, consumed, member, NULL);

	*out_cut = sp->cut;
	return rc;
}

/* a member starts with '"' and ends where the splitter stopped */
static void check_member(const char *buf, size_t consumed, struct sl_str m)
{
	if (m.p[0] != '"' || m.p + m.len != buf + consumed)
		fz_die("splitter member is not a member");
}

/* the final '}' stays in the buffer for sudo to overwrite */
static int may_stall(const char *buf)
{
	return buf[0] == '}';
}

static const struct fz_splitter splitter = {
	"splitter", split_init, split_next, check_member, may_stall, parse_one,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t small = 8 + (size > 0 ? data[0] % 128 : 0), chunk = 1 + (size > 0 ? data[0] % 23 : 0);
	struct sl_sudo_split sp;

	parse_one(in, size);
	for (int pass = 0; pass < 2; pass++) {
		size_t max = pass == 0 ? 0 : small, reads = pass == 0 ? chunk * 64 : chunk;

		fz_split_both(&splitter, &sp, in, size, max, pass == 0 ? 65536 : max, reads,
			      pass == 0, pass == 1 || size < 65536);
	}
	return 0;
}
