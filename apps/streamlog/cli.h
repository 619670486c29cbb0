/* streamlog's offline commands (docs/streamlog.md §7): query, export, verify, iolog. */
#ifndef STREAMLOG_CLI_H
#define STREAMLOG_CLI_H

#include <stddef.h>
#include <stdint.h>

struct sl_filter {
	const char *store;      /* the store directory */
	const char *vkey;       /* verifier key string, or */
	const char *vkey_file;  /* a file whose first line is one */
	const char *checkpoint; /* a checkpoint note file; NULL: the store's own */
	const char *who, *what, *host, *source;
	int64_t since, until;   /* ns since the epoch; INT64_MIN: open */
	size_t limit;           /* 0: no limit */
	int json;
};

int sl_query(const struct sl_filter *f);
/* 1 when entry (size bytes) is an event, a JSON object, that every filter of f
 * given selects (docs/streamlog.md §7.1); 0 otherwise. Shared by query, export and
 * the viewer (view_api.c). */
int sl_filter_match(const struct sl_filter *f, const void *entry, size_t size);
/* A --since/--until value: RFC 3339 UTC ("2026-11-23T04:00:00Z") or seconds since
 * the epoch, to ns since the epoch; -1 when it is neither or out of range. */
int sl_time_parse(const char *s, int64_t *out);
int sl_export(const struct sl_filter *f, const char *out_path);
/* verify a store (f->store) or a bundle file */
int sl_verify_store(const struct sl_filter *f);
int sl_verify_bundle(const struct sl_filter *f, const char *bundle);
/* streamlog iolog (docs/streamlog.md §7.5): the sudo I/O log session named by session
 * (its id or directory) out of the verified store f->store, into outdir/ID. */
int sl_iolog_extract(const struct sl_filter *f, const char *session, const char *outdir);

/* The checkpoint note the filter names (its file, or STORE/checkpoint), and the
 * verifier key string; 0 or SL_EXIT_FAIL after a message. */
int sl_checkpoint_text(const struct sl_filter *f, char *out, size_t cap);
int sl_vkey_text(const struct sl_filter *f, char *out, size_t cap);

#endif
