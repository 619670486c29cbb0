/* libFuzzer target: `streamlog audisp`'s input framing and output frames
 * (docs/streamlog.md §3.5.7; STYLE.md rule 17). The input, after a
 * first byte that picks a chunk size, is stdin as auditd writes it: sl_audisp_next
 * splits it into lines, fed whole and in chunks; every line becomes a frame with
 * sl_audisp_frame, which the daemon's own code reads back (sl_framer_next,
 * sl_syslog_parse, sl_syslog_route).
 *
 * Properties checked with abort():
 *   - the lines do not depend on how stdin was cut; no line holds an LF or exceeds
 *     SL_AUDISP_LINE_MAX, and only a line of exactly that size is cut;
 *   - every frame is at most SL_AUDISP_FRAME_MAX bytes and is one octet-counted frame
 *     that the daemon frames whole;
 *   - the daemon parses it as RFC 5424 with the plugin's sequence number, host,
 *     APP-NAME and PROCID, and its what.message is the line without leading BOMs and
 *     trailing CR, LF, NUL (nothing when that is empty: no frame, no number used);
 *   - sl_syslog_route sends it to the audit adapter exactly when MSG starts "type="
 *     or "node=".
 *
 * Run: build/fuzz/fuzz/fuzz_streamlog_audisp <scratch dir> tests/fuzz/corpus/fuzz_streamlog_audisp */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamlog/audisp.h"
#include "streamlog/route.h"
#include "streamlog/syslog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_streamlog_audisp"
#include "streamlog_check.h"

#define MAX_LINES 4096
#define HOST "fz-host.example"
#define PID 4242L
#define T_NS INT64_C(1795408867123456789)

struct lines {
	size_t count;
	size_t off[MAX_LINES], len[MAX_LINES]; /* offsets into the input */
	int cut[MAX_LINES];
};

/* Split in[0, n) as the plugin's reader does, handing it chunk bytes at a time and
 * keeping what it did not consume (like reader_main's buffer). */
static void split(const char *in, size_t n, size_t chunk, struct lines *out)
{
	struct sl_audisp_lines l;
	size_t start = 0, avail = 0;

	sl_audisp_lines_init(&l);
	out->count = 0;
	while (start + avail < n || avail > 0) {
		size_t add = n - (start + avail) < chunk ? n - (start + avail) : chunk;
		int progress = 0;

		avail += add;
		for (;;) {
			struct sl_str line;
			size_t used = 0;
			int rc = sl_audisp_next(&l, in + start, avail, &used, &line);

			if (used > avail)
				fz_die("consumed %zu of %zu", used, avail);
			start += used;
			avail -= used;
			progress |= used > 0;
			if (rc != 0)
				break;
			if (out->count == MAX_LINES)
				return;
			if (line.p < in || line.p + line.len > in + n)
				fz_die("a line outside the input");
			if (memchr(line.p, '\n', line.len) != NULL || line.len > SL_AUDISP_LINE_MAX ||
			    (l.cut && line.len != SL_AUDISP_LINE_MAX))
				fz_die("line of %zu bytes (cut %d)", line.len, l.cut);
			out->off[out->count] = (size_t)(line.p - in);
			out->len[out->count] = line.len;
			out->cut[out->count++] = l.cut;
		}
		if (add == 0 && !progress)
			break; /* the end: an unterminated rest stays unread */
		if (avail > SL_AUDISP_LINE_MAX && !progress)
			fz_die("no progress with %zu bytes held", avail);
	}
}

static struct sl_str normal(const char *p, size_t n)
{
	while (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3, n -= 3;
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == '\0'))
		n--;
	return (struct sl_str){ p, n };
}

static void round_trip(const char *line, size_t len, uint32_t seq)
{
	static char frame[SL_AUDISP_FRAME_MAX], scratch[SL_SYSLOG_SCRATCH(SL_AUDISP_FRAME_MAX)];
	struct sl_str want = normal(line, len), msg;
	struct sl_scratch s = { scratch, 0, sizeof(scratch) };
	struct shelter_err err;
	struct sl_framer fr;
	struct sl_event e;
	size_t size = 0, used = 0;
	char action[64];
	int rc = sl_audisp_frame((struct sl_str){ line, len }, seq, HOST, PID, T_NS, frame,
				 sizeof(frame), &size);

	if (want.len == 0) {
		if (rc != 1)
			fz_die("empty MSG framed (rc %d)", rc);
		return;
	}
	if (rc != 0 || size == 0 || size > SL_AUDISP_FRAME_MAX)
		fz_die("frame: rc %d, %zu bytes", rc, size);
	sl_framer_init(&fr, SL_AUDISP_FRAME_MAX);
	if (sl_framer_next(&fr, frame, size, &used, &msg, &err) != 0 || used != size || fr.cut)
		fz_die("the daemon does not frame it whole (%zu of %zu)", used, size);
	if (sl_syslog_parse(msg.p, msg.len, T_NS, &e, &s, &err) != 0)
		fz_die("the daemon refuses the frame: %s", err.msg);
	snprintf(action, sizeof(action), "audit.info audit[%ld]", PID);
	if (e.source_seq != (int64_t)seq || e.host.len != strlen(HOST) ||
	    memcmp(e.host.p, HOST, e.host.len) != 0 || e.action.len != strlen(action) ||
	    memcmp(e.action.p, action, e.action.len) != 0 || e.time_ns != T_NS / 1000 * 1000)
		fz_die("header fields not the plugin's");
	if (e.message.len != want.len || memcmp(e.message.p, want.p, want.len) != 0)
		fz_die("what.message is not the line");
	if ((sl_syslog_route(&e) == SL_SRC_AUDIT) !=
	    (want.len >= 5 && (memcmp(want.p, "type=", 5) == 0 || memcmp(want.p, "node=", 5) == 0)))
		fz_die("routed wrongly");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lines whole, chunked;
	const char *in = (const char *)data + 1;
	size_t n, chunk;
	uint32_t seq = SL_AUDISP_SEQ_MAX - 2; /* the wrap to 1 is exercised */

	if (size < 1)
		return 0;
	n = size - 1;
	chunk = 1 + (size_t)data[0] * 97;
	split(in, n, n > 0 ? n : 1, &whole);
	split(in, n, chunk, &chunked);
	if (whole.count != chunked.count ||
	    memcmp(whole.off, chunked.off, whole.count * sizeof(whole.off[0])) != 0 ||
	    memcmp(whole.len, chunked.len, whole.count * sizeof(whole.len[0])) != 0)
		fz_die("lines depend on the chunk size %zu", chunk);
	for (size_t i = 0; i < whole.count; i++) {
		round_trip(in + whole.off[i], whole.len[i], seq);
		seq = seq >= SL_AUDISP_SEQ_MAX ? 1 : seq + 1;
	}
	/* the daemon's route of a line as its own sequence: any line, not only framed ones */
	round_trip(in, n < SL_AUDISP_LINE_MAX ? n : SL_AUDISP_LINE_MAX, 1);
	return 0;
}
