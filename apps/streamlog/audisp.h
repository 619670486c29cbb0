/* streamlog audisp: an auditd plugin (auditd.conf plugin_dir, auditd-plugins(5)) that
 * forwards every audit record it reads on stdin to `streamlog serve` as an RFC 5424
 * message over TLS (RFC 5425), APP-NAME "audit", numbered with its own
 * `meta sequenceId` so that the daemon sees every record that did not arrive as a gap
 * (docs/streamlog.md §3.5.7).
 *
 * The framing of stdin into lines and of each line into a message are pure functions
 * (no I/O, no allocation), fuzzed by tests/fuzz/fuzz_streamlog_audisp.c.
 */
#ifndef STREAMLOG_AUDISP_H
#define STREAMLOG_AUDISP_H

#include <stddef.h>
#include <stdint.h>

#include "streamlog/event.h"

/* A line over this many bytes (without its LF) is cut to it: auditd's records are
 * at most about 17 KiB (docs/streamlog.md §3.2.1); the daemon keeps a line over
 * SL_AUDIT_LINE_MAX unparsed. */
#define SL_AUDISP_LINE_MAX 49152
/* The largest frame sl_audisp_frame writes: "LEN SP", the header, the line. */
#define SL_AUDISP_FRAME_MAX (SL_AUDISP_LINE_MAX + 512)
/* RFC 5424 §7.3.1: sequenceId runs 1..2147483647, then starts again at 1 */
#define SL_AUDISP_SEQ_MAX 2147483647u

/* Line splitting state of stdin. No resources. */
struct sl_audisp_lines {
	int skipping; /* discarding the rest of a line over SL_AUDISP_LINE_MAX */
	int cut;      /* the line sl_audisp_next just returned was cut */
};

void sl_audisp_lines_init(struct sl_audisp_lines *l);

/* The next line of the stream whose unread bytes are buf[0, len): 0 with *line
 * pointing into buf (borrowed; without its LF; at most SL_AUDISP_LINE_MAX bytes, l->cut
 * telling whether it was cut, the rest then being discarded as it arrives), or 1 when
 * buf holds no complete line. The caller drops the first *consumed bytes in every
 * case, so a caller that holds SL_AUDISP_LINE_MAX + 1 unread bytes always makes
 * progress. */
int sl_audisp_next(struct sl_audisp_lines *l, const char *buf, size_t len, size_t *consumed,
		   struct sl_str *line);

/* One octet-counted RFC 5425 frame for line (§3.5.7):
 *   LEN SP "<110>1 " TIMESTAMP SP HOST " audit " PID " - [meta sequenceId=\"" SEQ "\"] " MSG
 * PRI 110 is facility audit (13), severity info (6); TIMESTAMP is time_ns in UTC with
 * microseconds; HOST is host when it is 1..255 printable US-ASCII bytes, else "-";
 * MSG is line without leading UTF-8 BOMs and trailing CR, LF and NUL bytes (what the
 * daemon's parser removes), so that the daemon's what.message is exactly MSG.
 * seq is 1..SL_AUDISP_SEQ_MAX, pid > 0. Writes at most SL_AUDISP_FRAME_MAX bytes.
 * Returns 0 and *out_size; 1 when MSG is empty (nothing to send); SHELTER_E_INVAL for
 * a bad seq, pid or time, or a line over SL_AUDISP_LINE_MAX; SHELTER_E_FBIG when cap
 * is too small. */
int sl_audisp_frame(struct sl_str line, uint32_t seq, const char *host, long pid,
		    int64_t time_ns, char *out, size_t cap, size_t *out_size);

struct sl_audisp_config {
	const char *to;   /* HOST:PORT of `streamlog serve` */
	const char *ca;   /* the CA that signed the daemon's certificate; NULL: the system's */
	const char *cert; /* a client certificate and its key (the daemon's --client-ca) */
	const char *key;
};

/* Run until stdin ends or SIGTERM/SIGINT; returns a process exit code (common.h). */
int sl_audisp(const struct sl_audisp_config *cfg);

#endif
