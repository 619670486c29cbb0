/* The untrusted store's SQLite backend (docs/protocols/freshness.md §5), and the
 * dispatch to the etcd backend (store_etcd.c) for "etcd:" specs.
 *
 * One table of (key, value, version). A put is BEGIN IMMEDIATE, a version check and
 * the write, then COMMIT: SQLite's write lock makes it one linearizable step across
 * every process sharing the file, and WAL with synchronous=FULL makes it durable at
 * COMMIT. Crash guarantee: a put that returned 0 survives a crash of the process or
 * the machine; one that did not return may or may not have happened, never half. */
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "freshness/store.h"

struct fresh_store {
	pthread_mutex_t mu;
	sqlite3 *db;
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
	return exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		       " CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL,"
		       " version INTEGER NOT NULL)", err);
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
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s->path);
	free(s);
}

/* The key's value and version; NOENT when absent. Caller holds s->mu. */
static int get_locked(struct fresh_store *s, const char *key, uint8_t **val, size_t *len,
		      uint64_t *version, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	if (sqlite3_prepare_v2(s->db, "SELECT value, version FROM kv WHERE key = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return sql_fail(s, "prepare get", err);
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
	sqlite3_finalize(st);
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
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO kv (key, value, version) "
			       "VALUES (?1, ?2, ?3)", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(s, "prepare put", err);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, len > 0 ? val : (const void *)"", (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)version);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sql_fail(s, "put", err);
	sqlite3_finalize(st);
	return rc;
}

int fresh_store_put(struct fresh_store *s, const char *key, const uint8_t *val, size_t len,
		    uint64_t expect, uint64_t *version, struct shelter_err *err)
{
	uint64_t have = 0;
	int rc;

	if (s->etcd != NULL)
		return fresh_etcd_put(s->etcd, key, val, len, expect, version, err);
	if (len > INT32_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "store: value of %zu bytes", len);
	pthread_mutex_lock(&s->mu);
	rc = exec(s, "BEGIN IMMEDIATE", err);
	if (rc == 0) {
		rc = get_locked(s, key, NULL, NULL, &have, err);
		if (rc == SHELTER_E_NOENT)
			rc = 0;
		if (rc == 0 && have != expect)
			rc = shelter_err_set(err, SHELTER_E_CONFLICT, "store: '%s' is at version %"
					     PRIu64 ", not %" PRIu64, key, have, expect);
		if (rc == 0)
			rc = write_locked(s, key, val, len, have + 1, err);
		if (rc == 0)
			rc = exec(s, "COMMIT", err);
		if (rc < 0)
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_unlock(&s->mu);
	if (rc == 0 && version != NULL)
		*version = have + 1;
	return rc;
}
