/* The untrusted store's SQLite backend (docs/protocols/freshness.md §5), and the
 * dispatch to the etcd backend (store_etcd.c) for "etcd:" specs.
 *
 * One table of (key, value, version). A put is BEGIN IMMEDIATE, a version check and
 * the write, then COMMIT: SQLite's write lock makes it one linearizable step across
 * every process sharing the file, and WAL with synchronous=FULL makes it durable at
 * COMMIT. Crash guarantee: a put that returned 0 survives a crash of the process or
 * the machine; one that did not return may or may not have happened, never half.
 * Several puts may share a transaction (fresh_store_put_many): one fsync for all. */
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "freshness/store.h"

enum { ST_GET, ST_PUT, ST_DEL, ST_BEGIN, ST_COMMIT, ST_NORMAL, ST_FULL, ST_COUNT };
static const char *const stmt_sql[ST_COUNT] = {
	[ST_GET] = "SELECT value, version FROM kv WHERE key = ?1",
	[ST_PUT] = "INSERT OR REPLACE INTO kv (key, value, version) VALUES (?1, ?2, ?3)",
	[ST_DEL] = "DELETE FROM kv WHERE key = ?1",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_NORMAL] = "PRAGMA synchronous=NORMAL",
	[ST_FULL] = "PRAGMA synchronous=FULL",
};

struct fresh_store {
	pthread_mutex_t mu;
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT]; /* prepared once: a put is a few steps, no parsing */
	char *path;
	struct fresh_etcd *etcd; /* when not NULL, the store is etcd and db is unused */
};

static int sql_fail(struct fresh_store *s, const char *what, struct shelter_err *err)
{
	return shelter_err_set(err, SHELTER_E_IO, "store '%s': %s: %s", s->path, what,
			       sqlite3_errmsg(s->db));
}

static int exec(struct fresh_store *s, const char *sql, struct shelter_err *err)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : sql_fail(s, sql, err);
}

/* Run a prepared statement without results. Caller holds s->mu. */
static int run(struct fresh_store *s, int which, struct shelter_err *err)
{
	int rc = sqlite3_step(s->st[which]) == SQLITE_DONE ? 0 : sql_fail(s, stmt_sql[which], err);

	sqlite3_reset(s->st[which]);
	return rc;
}

static int open_sqlite(struct fresh_store *s, const char *path, struct shelter_err *err)
{
	s->path = strdup(path);
	if (s->path == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "store: out of memory");
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
						  SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK)
		return sql_fail(s, "open", err);
	/* other coordinators may hold the write lock for one put: wait, do not fail */
	sqlite3_busy_timeout(s->db, 10000);
	if (exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		    " CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL,"
		    " version INTEGER NOT NULL)", err) < 0)
		return SHELTER_E_IO;
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
				       NULL) != SQLITE_OK)
			return sql_fail(s, stmt_sql[i], err);
	return 0;
}

int fresh_store_open(const char *spec, struct fresh_store **out, struct shelter_err *err)
{
	int etcd = strncmp(spec, "etcd:", 5) == 0;
	struct fresh_store *s;
	int rc;

	*out = NULL;
	if (!etcd && (strncmp(spec, "sqlite:", 7) != 0 || spec[7] == '\0'))
		return shelter_err_set(err, SHELTER_E_INVAL, "store '%s': want sqlite:PATH or "
				       "etcd:http://HOST:PORT", spec);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "store: out of memory");
	pthread_mutex_init(&s->mu, NULL);
	rc = etcd ? fresh_etcd_open(spec + 5, &s->etcd, err) : open_sqlite(s, spec + 7, err);
	if (rc < 0) {
		fresh_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void fresh_store_close(struct fresh_store *s)
{
	if (s == NULL)
		return;
	fresh_etcd_close(s->etcd);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s->path);
	free(s);
}

/* The key's value and version; NOENT when absent. Caller holds s->mu. */
static int get_locked(struct fresh_store *s, const char *key, uint8_t **val, size_t *len,
		      uint64_t *version, struct shelter_err *err)
{
	sqlite3_stmt *st = s->st[ST_GET];
	int rc, step;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = shelter_err_set(err, SHELTER_E_NOENT, "store: no '%s'", key);
	} else if (step != SQLITE_ROW) {
		rc = sql_fail(s, "get", err);
	} else {
		int n = sqlite3_column_bytes(st, 0);
		const void *p = sqlite3_column_blob(st, 0);

		rc = 0;
		*version = (uint64_t)sqlite3_column_int64(st, 1);
		if (val != NULL) {
			*val = malloc(n > 0 ? (size_t)n : 1);
			if (*val == NULL)
				rc = shelter_err_set(err, SHELTER_E_NOMEM, "store: out of memory");
			else if (n > 0)
				memcpy(*val, p, (size_t)n);
			*len = (size_t)n;
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int fresh_store_get(struct fresh_store *s, const char *key, uint8_t **val, size_t *len,
		    uint64_t *version, struct shelter_err *err)
{
	int rc;

	*val = NULL;
	*len = 0;
	*version = 0;
	if (s->etcd != NULL)
		return fresh_etcd_get(s->etcd, key, val, len, version, err);
	pthread_mutex_lock(&s->mu);
	rc = get_locked(s, key, val, len, version, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int write_locked(struct fresh_store *s, const char *key, const uint8_t *val, size_t len,
			uint64_t version, struct shelter_err *err)
{
	sqlite3_stmt *st = s->st[ST_PUT];
	int rc = 0;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, len > 0 ? val : (const void *)"", (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)version);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sql_fail(s, "put", err);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* One op's swap inside the caller's transaction: its rc is 0 or CONFLICT; the return
 * value is < 0 only when SQLite failed. Caller holds s->mu. */
static int swap_locked(struct fresh_store *s, struct fresh_store_op *op, struct shelter_err *err)
{
	uint64_t have = 0;
	int rc;

	if (op->del) {
		sqlite3_bind_text(s->st[ST_DEL], 1, op->key, -1, SQLITE_STATIC);
		rc = run(s, ST_DEL, err);
		sqlite3_clear_bindings(s->st[ST_DEL]);
		op->rc = rc;
		return rc;
	}
	rc = get_locked(s, op->key, NULL, NULL, &have, err);

	if (rc == SHELTER_E_NOENT)
		rc = 0;
	if (rc < 0)
		return rc;
	if (!op->any && have != op->expect) {
		op->rc = shelter_err_set(err, SHELTER_E_CONFLICT, "store: '%s' is at version %"
					 PRIu64 ", not %" PRIu64, op->key, have, op->expect);
		return 0;
	}
	rc = write_locked(s, op->key, op->val, op->len, have + 1, err);
	if (rc == 0) {
		op->rc = 0;
		op->version = have + 1;
	}
	return rc;
}

/* durable = 0: WAL with synchronous=NORMAL writes the commit to the log without
 * fsync; the next synchronous=FULL commit flushes it with its own. */
static int put_many_sqlite(struct fresh_store *s, struct fresh_store_op *ops, size_t n,
			   int durable, struct shelter_err *err)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = durable ? 0 : run(s, ST_NORMAL, err);
	if (rc == 0)
		rc = run(s, ST_BEGIN, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = swap_locked(s, &ops[i], err);
	if (rc == 0)
		rc = run(s, ST_COMMIT, err);
	if (rc < 0 && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	if (!durable && run(s, ST_FULL, rc < 0 ? NULL : err) < 0 && rc == 0)
		rc = SHELTER_E_IO; /* never leave later puts undurable */
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int fresh_store_put_many(struct fresh_store *s, struct fresh_store_op *ops, size_t n, int durable,
			 struct shelter_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		ops[i].rc = SHELTER_E_IO;
		ops[i].version = 0;
		if (ops[i].len > INT32_MAX)
			return shelter_err_set(err, SHELTER_E_INVAL, "store: value of %zu bytes for "
					       "'%s'", ops[i].len, ops[i].key);
	}
	if (s->etcd != NULL)
		return fresh_etcd_put_many(s->etcd, ops, n, err);
	rc = put_many_sqlite(s, ops, n, durable, err);
	for (size_t i = 0; rc < 0 && i < n; i++)
		ops[i].rc = rc;
	return rc;
}

int fresh_store_put(struct fresh_store *s, const char *key, const uint8_t *val, size_t len,
		    uint64_t expect, uint64_t *version, struct shelter_err *err)
{
	struct fresh_store_op op = { .key = key, .val = val, .len = len, .expect = expect };
	int rc;

	if (s->etcd != NULL)
		return fresh_etcd_put(s->etcd, key, val, len, expect, version, err);
	rc = fresh_store_put_many(s, &op, 1, 1, err);
	if (rc == 0)
		rc = op.rc;
	if (rc == 0 && version != NULL)
		*version = op.version;
	return rc;
}
