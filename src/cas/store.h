/* CAS state: SQLite inside a protected volume, written by one committer thread.
 *
 * Layout and schema: docs/formats/cas-store.md. The database lives in the volume
 * DATA/volume (key: the CAS's sealing key) through the SQLite VFS of sqlvfs.h, so
 * every page, index and journal is encrypted and authenticated.
 *
 * All database work runs as jobs on the store's committer thread. Jobs queued
 * while a commit is in flight are run together in the next transaction, each in
 * its own savepoint (a failing job rolls back only its own changes), and the
 * transaction is committed, fsync'd, before any of them is told its result: this is
 * the group commit that keeps one durable audit entry per attestation affordable.
 * Crash guarantee: a job whose cas_store_run returned 0 is durable; a job that had
 * not returned may or may not be.
 *
 * Ownership: the store owns its volume and connection; cas_store_close stops the
 * committer after draining queued jobs.
 */
#ifndef SHELTER_CAS_STORE_H
#define SHELTER_CAS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "shelter/error.h"

struct cas_store;

/* Open (creating on first use) the store in data_dir with the 32-byte key. When
 * expected_tag is not NULL the volume must be at that tag or newer (volume.md §6). */
int cas_store_open(const char *data_dir, const uint8_t key[32], const uint8_t *expected_tag,
		   struct cas_store **out, struct shelter_err *err);
/* Drain the queue, stop the committer, close. Writes the final volume tag to *tag
 * when tag is not NULL and the close was clean (returns 0). NULL is a no-op. */
int cas_store_close(struct cas_store *st, uint8_t tag_out[32], struct shelter_err *err);

/* A unit of work run on the committer thread inside a transaction. fn returns 0 or
 * a negative code (its changes are then rolled back); it must not block on I/O
 * other than the database. */
typedef int (*cas_job_fn)(sqlite3 *db, void *ctx, struct shelter_err *err);

/* Run fn in the next group commit and wait until that commit is durable. Returns
 * fn's code, or SHELTER_E_IO (with err) when the commit itself failed. Thread-safe. */
int cas_store_run(struct cas_store *st, cas_job_fn fn, void *ctx, struct shelter_err *err);

/* Statistics for the log line at shutdown. */
struct cas_store_stats {
	uint64_t commits;
	uint64_t jobs;
	uint64_t compactions; /* of the volume, every 1,024 commits */
	uint64_t compaction_failures;
};
void cas_store_stats(struct cas_store *st, struct cas_store_stats *out);

/* --- helpers for job functions (committer thread only) --- */

/* Prepare-and-step helpers that set err with the SQL error and the statement. */
int cas_sql_exec(sqlite3 *db, const char *sql, struct shelter_err *err);
/* sql must be a string literal (statements are kept per thread by its address);
 * release the statement with cas_sql_done, never sqlite3_finalize. */
int cas_sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, struct shelter_err *err);
void cas_sql_done(sqlite3_stmt *st);
/* Finalize the statements this thread keeps for db (before closing it). */
void cas_sql_cache_clear(sqlite3 *db);
int cas_sql_fail(sqlite3 *db, const char *what, struct shelter_err *err);

/* meta table: small named blobs (the CAS's TLS key, its certificate). *val is
 * malloc'd; SHELTER_E_NOENT when absent. */
int cas_meta_get(sqlite3 *db, const char *key, uint8_t **val, size_t *size,
		 struct shelter_err *err);
int cas_meta_put(sqlite3 *db, const char *key, const void *val, size_t size,
		 struct shelter_err *err);

#endif
