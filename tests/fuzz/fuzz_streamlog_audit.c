/* libFuzzer target: the StreamLog audit adapter (docs/streamlog.md
 * §3.2; STYLE.md rule 17) and, under it, libauparse's feed parser.
 *
 * Input: two bytes choosing a split point (little-endian, modulo the rest's size
 * plus one), then audit log text. The text goes through one adapter whole and
 * through another in two pieces cut at the split point; both are flushed.
 *
 * Properties checked with abort():
 *   - every event emitted serializes with sl_event_json (docs/streamlog.md §2.2) into
 *     at most SL_EVENT_JSON_MAX bytes that jansson reads back as one JSON object,
 *     with no \u0000 in it (jansson's default: no string holds a NUL, §3.2.4);
 *   - feed and flush return only 0, SHELTER_E_MALFORMED or SHELTER_E_TRUNCATED
 *     (§3.2.5), with a message when not 0;
 *   - both runs emit the same events byte for byte (§3.2.1: lines in any split).
 *
 * Seeds: tests/fuzz/corpus/fuzz_streamlog_audit/ (two split bytes, then records taken
 * from tests/vectors/streamlog/audit/ and damaged ones). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamlog/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_streamlog_audit"
#include "streamlog_check.h"

/* What one run emitted: a count, a byte count and an FNV-1a hash of the JSON. */
struct seen {
	uint64_t count, bytes, hash;
};

/* jansson's default flags: no string may hold a NUL (§3.2.4) */
static int check_event(void *ctx, const struct sl_event *e, struct shelter_err *err)
{
	struct seen *s = ctx;
	size_t n;
	const char *json = fz_json_check(e, 0, &n);

	(void)err;
	for (size_t i = 0; i < n; i++)
		s->hash = (s->hash ^ (uint8_t)json[i]) * 0x100000001b3ull;
	s->hash = (s->hash ^ '\n') * 0x100000001b3ull;
	s->count++;
	s->bytes += n;
	return 0;
}

static void check_rc(const char *what, int rc, const struct shelter_err *err)
{
	if (rc == 0)
		return;
	if (rc != SHELTER_E_MALFORMED && rc != SHELTER_E_TRUNCATED)
		fz_die("%s returned %d: %s", what, rc, err->msg);
	if (err->msg[0] == '\0')
		fz_die("%s returned %d without a message", what, rc);
}

/* text through a fresh adapter, cut at split (split == size: whole) */
static struct seen run(const char *text, size_t size, size_t split)
{
	struct seen s = { 0, 0, 0xcbf29ce484222325ull };
	struct sl_audit *a = NULL;
	struct shelter_err err;

	shelter_err_clear(&err);
	if (sl_audit_new("fuzzhost", NULL, check_event, &s, &a, &err) != 0)
		fz_die("sl_audit_new: %s", err.msg);
	check_rc("feed", sl_audit_feed(a, text, split, &err), &err);
	if (split < size)
		check_rc("feed", sl_audit_feed(a, text + split, size - split, &err), &err);
	check_rc("flush", sl_audit_flush(a, &err), &err);
	sl_audit_free(a);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen whole, cut;
	size_t split;

	if (size < 2)
		return 0;
	split = (size_t)(data[0] | data[1] << 8) % (size - 2 + 1);
	whole = run((const char *)data + 2, size - 2, size - 2);
	cut = run((const char *)data + 2, size - 2, split);
	if (whole.count != cut.count || whole.bytes != cut.bytes || whole.hash != cut.hash)
		fz_die("split at %zu: %llu events (%llu bytes), whole: %llu (%llu bytes)", split,
		       (unsigned long long)cut.count, (unsigned long long)cut.bytes,
		       (unsigned long long)whole.count, (unsigned long long)whole.bytes);
	return 0;
}
