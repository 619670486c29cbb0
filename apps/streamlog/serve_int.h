/* What serve.c lends the other parts of `streamlog serve` (follow_src.c): the append,
 * commit and loss bookkeeping that connection threads use (docs/streamlog.md §4, §5),
 * so that a record from a file goes to the log exactly as one from a connection.
 * Internal to the daemon: not an interface of libstreamlog. */
#ifndef STREAMLOG_SERVE_INT_H
#define STREAMLOG_SERVE_INT_H

#include <stdint.h>

#include "streamlog/event.h"

struct server;

/* Append e; *index its index. json is the caller's buffer of SL_EVENT_JSON_MAX bytes.
 * Not durable until sl_srv_sync covers the index. A failure stops the daemon
 * (docs/streamlog.md §6 Failure) and is returned. Thread-safe. */
int sl_srv_record(struct server *srv, const struct sl_event *e, char *json, uint64_t *index);

/* Make everything up to index durable (the log's group commit). Thread-safe. */
int sl_srv_sync(struct server *srv, uint64_t index);

/* StreamLog's own record (§4): src.kind streamlog; target is `to`, message
 * `what.message`; synced when sync is set. Thread-safe. */
int sl_srv_own(struct server *srv, const char *action, const char *result, const char *target,
	       const char *message, int sync);

/* §4 for a record about to be appended: compare its sequence number with its source's
 * last, append (not sync) a `sequence gap` or `sequence restart` event when they
 * disagree. Thread-safe. */
void sl_srv_track(struct server *srv, const struct sl_event *e);

/* 1 once an append or commit failed: the daemon is stopping. */
int sl_srv_failed(const struct server *srv);

#endif
