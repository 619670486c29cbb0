/* sl_audit_feed: audit log text on stdin through the StreamLog audit adapter
 * (apps/streamlog/audit.h, docs/streamlog.md §3.2), one event's canonical JSON
 * (docs/streamlog.md §2.2) per line on stdout. For tests/integration/streamlog_audit.sh
 * and for making the golden files of tests/vectors/streamlog/audit/.
 *
 *   sl_audit_feed [-H HOST] [-s SOURCE_ID] [-c CHUNK]
 *     -H  where.host of events without node= (default: "testhost")
 *     -s  src.id of every event (default: none)
 *     -c  feed stdin in pieces of CHUNK bytes (default 65536), to exercise splits
 *
 * Skipped lines (SHELTER_E_MALFORMED, SHELTER_E_TRUNCATED) are reported on stderr
 * and counted in the closing "sl_audit_feed: lines N events N ..." line there.
 * Exit: 0 done (lines may have been skipped), 1 any other error, 2 usage. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "streamlog/audit.h"

static char json[SL_EVENT_JSON_MAX];

static int print_event(void *ctx, const struct sl_event *e, struct shelter_err *err)
{
	size_t n;
	int rc;

	(void)ctx;
	rc = sl_event_json(e, json, sizeof(json), &n, err);
	if (rc != 0)
		return rc;
	fwrite(json, 1, n, stdout);
	putchar('\n');
	return 0;
}

/* 0 when rc is 0 or a skipped line (reported); 1 otherwise */
static int report(const char *what, int rc, const struct shelter_err *err)
{
	if (rc == 0)
		return 0;
	fprintf(stderr, "sl_audit_feed: %s: %s\n", what, err->msg);
	return rc == SHELTER_E_MALFORMED || rc == SHELTER_E_TRUNCATED ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *host = "testhost", *source_id = NULL;
	size_t chunk = 65536;
	struct sl_audit *a = NULL;
	struct sl_audit_stats st;
	struct shelter_err err;
	char *buf = NULL;
	int opt, failed = 0;

	while ((opt = getopt(argc, argv, "H:s:c:")) != -1) {
		switch (opt) {
		case 'H':
			host = optarg;
			break;
		case 's':
			source_id = optarg;
			break;
		case 'c':
			chunk = strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: sl_audit_feed [-H HOST] [-s SOURCE_ID] [-c CHUNK]\n");
			return 2;
		}
	}
	if (chunk == 0 || chunk > (1u << 24) || (buf = malloc(chunk)) == NULL) {
		fprintf(stderr, "sl_audit_feed: bad chunk size\n");
		return 2;
	}
	shelter_err_clear(&err);
	if (sl_audit_new(host, source_id, print_event, NULL, &a, &err) != 0) {
		fprintf(stderr, "sl_audit_feed: %s\n", err.msg);
		free(buf);
		return 1;
	}
	for (;;) {
		ssize_t n = read(0, buf, chunk);

		if (n <= 0)
			break;
		failed |= report("feed", sl_audit_feed(a, buf, (size_t)n, &err), &err);
	}
	failed |= report("flush", sl_audit_flush(a, &err), &err);
	sl_audit_stats(a, &st);
	fprintf(stderr,
		"sl_audit_feed: lines %" PRIu64 " events %" PRIu64 " malformed %" PRIu64
		" too_long %" PRIu64 " truncated %" PRIu64 " forced %" PRIu64 "\n",
		st.lines, st.events, st.malformed, st.too_long, st.truncated, st.forced);
	sl_audit_free(a);
	free(buf);
	return fflush(stdout) != 0 || failed ? 1 : 0;
}
