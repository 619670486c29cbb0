/* File sources of `streamlog serve` and audit records inside syslog
 * (docs/streamlog.md §3.5).
 *
 * One thread, the follower, reads every `--follow KIND:PATH` like `tail -F` (polled
 * every 100 ms: rotation by inode change, truncation, a file that does not exist yet),
 * turns what it reads into events through the parsers (audit.c, sudo.c, tlog.c),
 * appends them and syncs per batch, then writes each file's position to
 * DIR/follow.state. The same thread drives every audit adapter of the process
 * (libauparse has process-wide state, docs/streamlog.md §3.2.5): connection threads
 * hand it the audit records they receive over syslog (sl_follow_audit_line) and wait
 * for them to be recorded before they sync their own batch.
 */
#ifndef STREAMLOG_FOLLOW_SRC_H
#define STREAMLOG_FOLLOW_SRC_H

#include <stdint.h>

#include "shelter/error.h"
#include "streamlog/event.h"
#include "streamlog/serve.h"

struct server;
struct sl_follow;

/* NULL when spec is a valid `--follow` value, KIND:PATH with KIND one of audit, sudo,
 * tlog, sudo-io and PATH 1..4000 bytes without a newline; else why not (static). */
const char *sl_follow_spec_check(const char *spec);

/* Set up the followers of cfg->follow and read their positions from
 * STORE/follow.state (§3.5.5). Opens nothing in the store, so that a refused start
 * leaves it as it was. *out is set on success only; free with sl_follow_free.
 * Errors: SHELTER_E_INVAL (a bad spec, the same spec twice), SHELTER_E_MALFORMED (a
 * state file that does not parse: err names the line), SHELTER_E_NOMEM, I/O. */
int sl_follow_new(const struct sl_serve_config *cfg, struct sl_follow **out,
		  struct shelter_err *err) SHELTER_MUST_USE;

/* Start the follower thread, recording through srv (borrowed until sl_follow_stop).
 * Errors: SHELTER_E_NOMEM (no thread). */
int sl_follow_start(struct sl_follow *f, struct server *srv,
		    struct shelter_err *err) SHELTER_MUST_USE;

/* Stop after the connections are closed: read what the files hold now, flush every
 * audit adapter (their incomplete events are recorded as they are), sync, write the
 * state, join the thread. Returns 0, or -1 when something could not be recorded or
 * the state not written (logged). */
int sl_follow_stop(struct sl_follow *f);

/* Free f (NULL is a no-op); stops it first when it runs. */
void sl_follow_free(struct sl_follow *f);

/* §3.5.3 for audit: queue one record line (the MSG, without its LF) received on
 * connection conn (a number no other connection of this run has), from source_id,
 * sent by host (where.host of events without node=). *ticket names it for
 * sl_follow_wait. Blocks while the queue is full (8 MiB). Thread-safe.
 * Errors: SHELTER_E_NOMEM, SHELTER_E_IO (the follower has stopped). */
int sl_follow_audit_line(struct sl_follow *f, uint64_t conn, const char *source_id,
			 struct sl_str host, struct sl_str line, uint64_t *ticket) SHELTER_MUST_USE;

/* Connection conn has ended: its adapters are flushed (their incomplete events
 * recorded) and freed. *ticket as above. */
int sl_follow_audit_close(struct sl_follow *f, uint64_t conn, uint64_t *ticket) SHELTER_MUST_USE;

/* Wait until everything queued up to ticket has been read and what it completed is
 * durable. 0, or SHELTER_E_IO when the follower stopped first. */
int sl_follow_wait(struct sl_follow *f, uint64_t ticket) SHELTER_MUST_USE;

#endif
