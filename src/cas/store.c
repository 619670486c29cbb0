/* CAS state store: SQLite on a protected volume, one committer thread with group
 * commit (store.h; docs/formats/cas-store.md). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cas/sqlvfs.h"
#include "cas/store.h"
#include "shelter/crypto.h"
#include "shelter/volume.h"

/* Every this many group commits the committer compacts the volume (volume.md §10):
 * SQLite rewrites its WAL and pages in place, so most of the log soon holds dead
 * bytes (about 8 KiB per attestation), and the live state is only the database. */
#define COMPACT_EVERY_COMMITS 1024

/* Schema version 1 (cas-store.md §2). Every statement is idempotent so that
 * opening an existing store re-runs it harmlessly. */
static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sessions (name TEXT PRIMARY KEY, owner BLOB NOT NULL,"
	" version INTEGER NOT NULL, hash BLOB NOT NULL, policy TEXT NOT NULL,"
	" updated TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS history (name TEXT NOT NULL, version INTEGER NOT NULL,"
	" hash BLOB NOT NULL, predecessor BLOB, owner BLOB NOT NULL, policy TEXT NOT NULL,"
	" time TEXT NOT NULL, PRIMARY KEY (name, version));"
	"CREATE TABLE IF NOT EXISTS secrets (session TEXT NOT NULL, name TEXT NOT NULL,"
	" spec BLOB NOT NULL, value TEXT NOT NULL, created TEXT NOT NULL,"
	" PRIMARY KEY (session, name));"
	"CREATE TABLE IF NOT EXISTS volumes (session TEXT NOT NULL, name TEXT NOT NULL,"
	" key BLOB NOT NULL, tag BLOB, updated TEXT NOT NULL, PRIMARY KEY (session, name));"
	"CREATE TABLE IF NOT EXISTS providers (id BLOB PRIMARY KEY, name TEXT NOT NULL,"
	" pem TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS session_providers (session TEXT NOT NULL,"
	" provider BLOB NOT NULL, PRIMARY KEY (session, provider));"
	"CREATE TABLE IF NOT EXISTS crls (provider BLOB PRIMARY KEY, number TEXT NOT NULL,"
	" pem TEXT NOT NULL, updated TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS platforms (id BLOB PRIMARY KEY, name TEXT NOT NULL,"
	" provider BLOB NOT NULL, first_seen TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS audit (chain TEXT NOT NULL, seq INTEGER NOT NULL,"
	" entry TEXT NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (chain, seq));"
	"INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', CAST('1' AS BLOB));";

struct job {
	cas_job_fn fn;
	void *ctx;
	struct shelter_err *err;
	int rc;
	int done;
	/* Its waiter's own: a batch wakes the threads whose jobs it settled, not every
	 * thread waiting for a later batch (at 64 clients most of them, every batch). */
	pthread_cond_t settled;
	struct job *next;
};

struct cas_store {
	struct shelter_volume *vol;
	sqlite3 *db;
	char vfs_name[48];
	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t queued;  /* a job was queued or stop was asked */
	struct job *head, **tail;
	int stop;
	struct cas_store_stats stats;
};

int cas_sql_fail(sqlite3 *db, const char *what, struct shelter_err *err)
{
	const char *vfs_msg = cas_sqlvfs_last_error();
	int vfs_code = cas_sqlvfs_last_code();

	/* The volume's own verdict (integrity, no space, I/O) when it caused the error. */
	if (vfs_code < 0 && vfs_msg != NULL && vfs_msg[0] != '\0')
		return shelter_err_set(err, vfs_code, "%s: %s (%s)", what, sqlite3_errmsg(db),
				       vfs_msg);
	return shelter_err_set(err, SHELTER_E_IO, "%s: %s", what, sqlite3_errmsg(db));
}

int cas_sql_exec(sqlite3 *db, const char *sql, struct shelter_err *err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return cas_sql_fail(db, "database", err);
	return 0;
}

/* Prepared statements kept per thread (the committer runs every job), keyed by the
 * address of their static SQL text: parsing SQL costs more than running these. */
#define SQL_CACHE_SLOTS 48
static __thread struct sql_slot {
	sqlite3 *db;
	const char *sql;
	sqlite3_stmt *st;
	int in_use;
} sql_cache[SQL_CACHE_SLOTS];

int cas_sql_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, struct shelter_err *err)
{
	struct sql_slot *free_slot = NULL;

	for (size_t i = 0; i < SQL_CACHE_SLOTS; i++) {
		struct sql_slot *s = &sql_cache[i];

		if (s->st != NULL && s->db == db && s->sql == sql && !s->in_use) {
			s->in_use = 1;
			*out = s->st;
			return 0;
		}
		if (s->st == NULL && free_slot == NULL)
			free_slot = s;
	}
	if (sqlite3_prepare_v3(db, sql, -1, free_slot ? SQLITE_PREPARE_PERSISTENT : 0, out,
			       NULL) != SQLITE_OK)
		return cas_sql_fail(db, "prepare statement", err);
	if (free_slot != NULL)
		*free_slot = (struct sql_slot){ .db = db, .sql = sql, .st = *out, .in_use = 1 };
	return 0;
}

void cas_sql_done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < SQL_CACHE_SLOTS; i++) {
		if (sql_cache[i].st == st) {
			/* Kept for the next use; its bindings may point to freed memory. */
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			sql_cache[i].in_use = 0;
			return;
		}
	}
	sqlite3_finalize(st);
}

void cas_sql_cache_clear(sqlite3 *db)
{
	for (size_t i = 0; i < SQL_CACHE_SLOTS; i++) {
		if (sql_cache[i].st != NULL && sql_cache[i].db == db) {
			sqlite3_finalize(sql_cache[i].st);
			sql_cache[i] = (struct sql_slot){ 0 };
		}
	}
}

int cas_meta_get(sqlite3 *db, const char *key, uint8_t **val, size_t *size,
		 struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cas_sql_prepare(db, "SELECT value FROM meta WHERE key = ?", &st, err);

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW: {
		int n = sqlite3_column_bytes(st, 0);

		*val = malloc((size_t)n + 1);
		if (*val == NULL) {
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "meta '%s'", key);
			break;
		}
		memcpy(*val, sqlite3_column_blob(st, 0), (size_t)n);
		(*val)[n] = 0;
		*size = (size_t)n;
		break;
	}
	case SQLITE_DONE:
		rc = shelter_err_set(err, SHELTER_E_NOENT, "meta '%s': not set", key);
		break;
	default:
		rc = cas_sql_fail(db, "read meta", err);
	}
	cas_sql_done(st);
	return rc;
}

int cas_meta_put(sqlite3 *db, const char *key, const void *val, size_t size,
		 struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cas_sql_prepare(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
				 &st, err);

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, val, (int)size, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = cas_sql_fail(db, "write meta", err);
	cas_sql_done(st);
	return rc;
}

/* Run one batch: every job in its own savepoint, one commit for all. */
static void run_batch(struct cas_store *st, struct job *batch)
{
	struct shelter_err cerr;
	int commit_rc = 0;

	shelter_err_clear(&cerr);
	if (cas_sql_exec(st->db, "BEGIN IMMEDIATE", &cerr) < 0) {
		commit_rc = cerr.code;
		goto settle;
	}
	for (struct job *j = batch; j != NULL; j = j->next) {
		if (cas_sql_exec(st->db, "SAVEPOINT job", j->err) < 0) {
			j->rc = j->err ? j->err->code : SHELTER_E_IO;
			continue;
		}
		j->rc = j->fn(st->db, j->ctx, j->err);
		if (j->rc < 0)
			(void)cas_sql_exec(st->db, "ROLLBACK TO job", NULL);
		(void)cas_sql_exec(st->db, "RELEASE job", NULL);
	}
	if (cas_sql_exec(st->db, "COMMIT", &cerr) < 0) {
		commit_rc = cerr.code;
		(void)cas_sql_exec(st->db, "ROLLBACK", NULL);
	}
settle:
	pthread_mutex_lock(&st->mu);
	st->stats.commits++;
	for (struct job *j = batch; j != NULL; j = j->next) {
		st->stats.jobs++;
		if (commit_rc < 0) {
			/* Nothing of this batch is durable: every job fails (store.h). */
			j->rc = commit_rc;
			if (j->err != NULL)
				*j->err = cerr;
		}
		j->done = 1;
		/* Under st->mu, which the waiter needs before it can return and free j. */
		pthread_cond_signal(&j->settled);
	}
	pthread_mutex_unlock(&st->mu);
}

/* Between batches the committer is the volume's only writer, so compaction blocks
 * nothing but the next batch. A failure is not fatal (the log only stays longer);
 * it is counted for the shutdown line. */
static void compact_now_and_then(struct cas_store *st)
{
	struct shelter_err err;
	uint64_t commits;
	int rc;

	pthread_mutex_lock(&st->mu);
	commits = st->stats.commits;
	pthread_mutex_unlock(&st->mu);
	if (commits % COMPACT_EVERY_COMMITS != 0)
		return;
	shelter_err_clear(&err);
	rc = shelter_volume_compact(st->vol, &err);
	pthread_mutex_lock(&st->mu);
	if (rc == 0)
		st->stats.compactions++;
	else
		st->stats.compaction_failures++;
	pthread_mutex_unlock(&st->mu);
}

static void *committer(void *arg)
{
	struct cas_store *st = arg;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		struct job *batch;

		while (st->head == NULL && !st->stop)
			pthread_cond_wait(&st->queued, &st->mu);
		if (st->head == NULL)
			break;
		batch = st->head;
		st->head = NULL;
		st->tail = &st->head;
		pthread_mutex_unlock(&st->mu);
		run_batch(st, batch);
		compact_now_and_then(st);
		pthread_mutex_lock(&st->mu);
	}
	pthread_mutex_unlock(&st->mu);
	cas_sql_cache_clear(st->db);
	return NULL;
}

int cas_store_run(struct cas_store *st, cas_job_fn fn, void *ctx, struct shelter_err *err)
{
	struct job j = { .fn = fn, .ctx = ctx, .err = err };

	pthread_mutex_lock(&st->mu);
	if (st->stop) {
		pthread_mutex_unlock(&st->mu);
		return shelter_err_set(err, SHELTER_E_INVAL, "store: shutting down");
	}
	pthread_cond_init(&j.settled, NULL);
	*st->tail = &j;
	st->tail = &j.next;
	pthread_cond_signal(&st->queued);
	while (!j.done)
		pthread_cond_wait(&j.settled, &st->mu);
	pthread_mutex_unlock(&st->mu);
	pthread_cond_destroy(&j.settled);
	return j.rc;
}

void cas_store_stats(struct cas_store *st, struct cas_store_stats *out)
{
	pthread_mutex_lock(&st->mu);
	*out = st->stats;
	pthread_mutex_unlock(&st->mu);
}

static int open_volume(struct cas_store *st, const char *data_dir, const uint8_t key[32],
		       const uint8_t *expected_tag, struct shelter_err *err)
{
	struct shelter_volume_options opts = { .expected_tag = expected_tag };
	char path[4096];
	struct stat sb;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/volume", data_dir) >= sizeof(path))
		return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "data directory '%s'",
				       data_dir);
	if (stat(path, &sb) != 0) {
		if (errno != ENOENT)
			return shelter_err_errno(err, errno, "store '%s'", path);
		if (expected_tag != NULL)
			return shelter_err_set(err, SHELTER_E_MISSING,
					       "store '%s': missing, but a tag was recorded for it",
					       path);
		rc = shelter_volume_create(path, key, err);
		if (rc < 0)
			return shelter_err_wrap(err, rc, "create store");
	}
	rc = shelter_volume_open(path, key, &opts, &st->vol, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "open store");
	return 0;
}

int cas_store_open(const char *data_dir, const uint8_t key[32], const uint8_t *expected_tag,
		   struct cas_store **out, struct shelter_err *err)
{
	struct cas_store *st = calloc(1, sizeof(*st));
	int rc;

	*out = NULL;
	if (st == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "store");
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->queued, NULL);
	st->tail = &st->head;
	rc = open_volume(st, data_dir, key, expected_tag, err);
	if (rc < 0)
		goto out;
	snprintf(st->vfs_name, sizeof(st->vfs_name), "shelter-cas-%p", (void *)st);
	rc = cas_sqlvfs_register(st->vfs_name, st->vol, err);
	if (rc < 0)
		goto out;
	if (sqlite3_open_v2("/cas.db", &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    st->vfs_name) != SQLITE_OK) {
		rc = cas_sql_fail(st->db, "open database", err);
		goto out;
	}
	/* One connection, one process (the data directory is locked): WAL in exclusive
	 * locking mode with full syncs, one fdatasync per group commit (cas-store.md
	 * §2.1, §3.6). locking_mode must come first, before the first access. */
	sqlite3_extended_result_codes(st->db, 1);
	rc = cas_sql_exec(st->db, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
				  " PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;", err);
	if (rc < 0)
		goto out;
	rc = cas_sql_exec(st->db, "BEGIN IMMEDIATE", err);
	if (rc == 0)
		rc = cas_sql_exec(st->db, schema_sql, err);
	if (rc == 0)
		rc = cas_sql_exec(st->db, "COMMIT", err);
	if (rc < 0)
		goto out;
	if (pthread_create(&st->thread, NULL, committer, st) != 0) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "store: start committer thread");
		goto out;
	}
	st->thread_started = 1;
	*out = st;
	st = NULL;
out:
	if (st != NULL)
		(void)cas_store_close(st, NULL, NULL);
	return rc;
}

int cas_store_close(struct cas_store *st, uint8_t tag_out[32], struct shelter_err *err)
{
	int rc = 0;

	if (st == NULL)
		return 0;
	pthread_mutex_lock(&st->mu);
	st->stop = 1;
	pthread_cond_broadcast(&st->queued);
	pthread_mutex_unlock(&st->mu);
	if (st->thread_started)
		pthread_join(st->thread, NULL);
	if (st->db != NULL && sqlite3_close(st->db) != SQLITE_OK)
		rc = cas_sql_fail(st->db, "close database", err);
	if (st->vfs_name[0] != '\0')
		cas_sqlvfs_unregister(st->vfs_name);
	if (st->vol != NULL) {
		if (rc == 0)
			rc = shelter_volume_sync(st->vol, err);
		if (rc == 0 && tag_out != NULL)
			rc = shelter_volume_tag(st->vol, tag_out, err);
		shelter_volume_close(st->vol);
	}
	pthread_cond_destroy(&st->queued);
	pthread_mutex_destroy(&st->mu);
	free(st);
	return rc;
}
