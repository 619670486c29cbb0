/* SQLite VFS over protected volumes: src/cas/sqlvfs.h, docs/formats/cas-store.md §3.
 * Negative cases first, each asserting the exact error; then the SQL workload in
 * every journal mode, tampering, locks and threads; last, a side-by-side timing
 * against SQLite on a plain file (printed, never asserted). */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../rng.h"
#include "../test.h"
#include "cas/sqlvfs.h"
#include "shelter/volume.h"

static uint8_t key[32];
static char root[256];
static int counter;

struct fx {
	char dir[300];
	char vfs[32];
	struct shelter_volume *vol;
};

/* Create (when create) and open a volume, and register a VFS over it. */
static int fx_open(struct fx *fx, int create)
{
	struct shelter_err err;

	if (create) {
		snprintf(fx->dir, sizeof(fx->dir), "%s/v%d", root, counter);
		snprintf(fx->vfs, sizeof(fx->vfs), "test-vfs-%d", counter);
		counter++;
		if (shelter_volume_create(fx->dir, key, &err) < 0)
			goto fail;
	}
	if (shelter_volume_open(fx->dir, key, NULL, &fx->vol, &err) < 0)
		goto fail;
	if (cas_sqlvfs_register(fx->vfs, fx->vol, &err) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "  fixture: %s\n", err.msg);
	return -1;
}

static int fx_close(struct fx *fx)
{
	int rc = cas_sqlvfs_unregister(fx->vfs);

	shelter_volume_close(fx->vol);
	fx->vol = NULL;
	return rc;
}

/* Retry every 200 us for up to a minute: SQLite's own handler sleeps up to 100 ms
 * between tries, so readers would mostly miss the moments between commits. */
static int busy_retry(void *ctx, int count)
{
	struct timespec ts = { 0, 200000 };

	(void)ctx;
	if (count >= 300000)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

static int db_open(struct fx *fx, const char *path, sqlite3 **db)
{
	int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, fx->vfs);

	if (rc != SQLITE_OK)
		fprintf(stderr, "  open %s: %s (%s)\n", path, sqlite3_errmsg(*db),
			cas_sqlvfs_last_error());
	else
		sqlite3_busy_handler(*db, busy_retry, NULL);
	sqlite3_extended_result_codes(*db, 1);
	return rc;
}

static int sql(sqlite3 *db, const char *q)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, q, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		fprintf(stderr, "  sql '%.60s': %s\n", q, msg ? msg : "?");
	sqlite3_free(msg);
	return rc;
}

/* First column of the first row as text into buf; returns the step result code
 * (SQLITE_ROW on success) or the prepare error. */
static int sql_text(sqlite3 *db, const char *q, char *buf, size_t size)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);

	buf[0] = '\0';
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
			snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return rc;
}

static int sql_int(sqlite3 *db, const char *q, long long *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);

	*out = -1;
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*out = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return rc;
}

static int integrity_ok(sqlite3 *db)
{
	char buf[200];

	if (sql_text(db, "PRAGMA integrity_check", buf, sizeof(buf)) != SQLITE_ROW ||
	    strcmp(buf, "ok") != 0) {
		fprintf(stderr, "  integrity_check: %s\n", buf);
		return 0;
	}
	return 1;
}

static void fill(uint8_t *b, size_t n, uint64_t seed)
{
	struct rng r = { seed * 0x9e3779b97f4a7c15u + 1 };

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rng_next(&r);
}

static void flip_byte(const char *path, long off)
{
	uint8_t b;
	int fd = open(path, O_RDWR);

	if (fd < 0 || pread(fd, &b, 1, off) != 1)
		exit(3);
	b ^= 0x20;
	if (pwrite(fd, &b, 1, off) != 1)
		exit(3);
	close(fd);
}

struct names {
	char list[512];
};

static int collect_name(void *ctx, const char *name, const struct shelter_stat *st)
{
	struct names *n = ctx;
	size_t used = strlen(n->list);

	(void)st;
	snprintf(n->list + used, sizeof(n->list) - used, "%s%s", used ? " " : "", name);
	return 0;
}

/* Names in the volume's root, space-separated, in name order. */
static const char *root_names(struct shelter_volume *vol)
{
	static struct names n;

	n.list[0] = '\0';
	if (shelter_volume_readdir(vol, "/", collect_name, &n, NULL) < 0)
		return "(readdir failed)";
	return n.list;
}

/* ---- the workload's model ------------------------------------------------------- */

#define ROWS 500
#define BIG 300000

static size_t row_size(int k)
{
	return k > 1000 ? BIG : (size_t)((k * 37) % 3000 + 1);
}

static int row_updated(int k)
{
	return k <= ROWS && k % 3 == 0;
}

static int row_present(int k)
{
	return k > 1000 ? k != 1003 : k % 7 != 0;
}

static int put_row(sqlite3_stmt *st, int k, const char *name, uint64_t seed)
{
	static uint8_t buf[BIG];
	size_t n = row_size(k);
	int rc;

	fill(buf, n, seed);
	sqlite3_reset(st);
	sqlite3_bind_int(st, 1, k);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, buf, (int)n, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Create, insert (one transaction of ROWS rows, then five 300 kB blobs spanning
 * overflow pages in autocommit), update, delete, VACUUM, and a temp table. */
static int run_workload(sqlite3 *db)
{
	sqlite3_stmt *ins = NULL, *upd = NULL;
	char name[32];
	int rc;

	rc = sql(db, "CREATE TABLE kv (k INTEGER PRIMARY KEY, name TEXT NOT NULL, v BLOB NOT NULL);"
		     "CREATE INDEX kv_name ON kv(name);");
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO kv (k, name, v) VALUES (?, ?, ?)", -1,
					&ins, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "UPDATE kv SET k = ?1, name = ?2, v = ?3 WHERE k = ?1",
					-1, &upd, NULL);
	if (rc == SQLITE_OK)
		rc = sql(db, "BEGIN");
	for (int k = 1; k <= ROWS && rc == SQLITE_OK; k++) {
		snprintf(name, sizeof(name), "n%d", k);
		rc = put_row(ins, k, name, (uint64_t)k);
	}
	if (rc == SQLITE_OK)
		rc = sql(db, "COMMIT");
	for (int k = 1001; k <= 1005 && rc == SQLITE_OK; k++) {
		snprintf(name, sizeof(name), "big%d", k);
		rc = put_row(ins, k, name, (uint64_t)k);
	}
	if (rc == SQLITE_OK)
		rc = sql(db, "BEGIN");
	for (int k = 3; k <= ROWS && rc == SQLITE_OK; k += 3) {
		snprintf(name, sizeof(name), "u%d", k);
		rc = put_row(upd, k, name, (uint64_t)k + 1000);
	}
	if (rc == SQLITE_OK)
		rc = sql(db, "COMMIT");
	if (rc == SQLITE_OK)
		rc = sql(db, "DELETE FROM kv WHERE k % 7 = 0 AND k <= 500; DELETE FROM kv WHERE k = 1003;"
			     "PRAGMA temp_store = FILE;"
			     "CREATE TEMP TABLE t AS SELECT k, v FROM kv ORDER BY length(v), k;"
			     "VACUUM;");
	if (rc != SQLITE_OK)
		fprintf(stderr, "  workload: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(ins);
	sqlite3_finalize(upd);
	return rc;
}

/* Every row equals the model, in order, the index answers, integrity_check is ok. */
static int check_workload(sqlite3 *db)
{
	static uint8_t want[BIG];
	sqlite3_stmt *st = NULL;
	int k = 0, rc;
	long long got;
	char name[32];

	rc = sqlite3_prepare_v2(db, "SELECT k, name, v FROM kv ORDER BY k", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int row = sqlite3_column_int(st, 0);
		size_t n = row_size(row);

		do
			k = k == ROWS ? 1001 : k + 1;
		while (!row_present(k));
		snprintf(name, sizeof(name), "%s%d", k > 1000 ? "big" : row_updated(k) ? "u" : "n",
			 k);
		fill(want, n, row_updated(k) ? (uint64_t)k + 1000 : (uint64_t)k);
		if (row != k || strcmp((const char *)sqlite3_column_text(st, 1), name) != 0 ||
		    (size_t)sqlite3_column_bytes(st, 2) != n ||
		    memcmp(sqlite3_column_blob(st, 2), want, n) != 0) {
			fprintf(stderr, "  row %d differs from the model (want %d)\n", row, k);
			rc = SQLITE_MISMATCH;
		} else {
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "  reading rows: %s\n", sqlite3_errmsg(db));
		return rc == SQLITE_OK ? SQLITE_ERROR : rc;
	}
	if (k != 1005) {
		fprintf(stderr, "  rows end at %d, want 1005\n", k);
		return SQLITE_MISMATCH;
	}
	if (sql_int(db, "SELECT k FROM kv WHERE name = 'u300'", &got) != SQLITE_ROW || got != 300) {
		fprintf(stderr, "  index lookup: %lld (%s)\n", got, sqlite3_errmsg(db));
		return SQLITE_MISMATCH;
	}
	return integrity_ok(db) ? SQLITE_OK : SQLITE_CORRUPT;
}

/* ---- negative cases -------------------------------------------------------------- */

static void register_refuses_bad_names(void)
{
	struct fx fx;
	struct shelter_err err;
	char longname[80];

	CHECK(fx_open(&fx, 1) == 0);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_RC(cas_sqlvfs_register("", fx.vol, &err), SHELTER_E_INVAL);
	CHECK_RC(cas_sqlvfs_register(longname, fx.vol, &err), SHELTER_E_INVAL);
	CHECK_RC(cas_sqlvfs_register("other", NULL, &err), SHELTER_E_INVAL);
	CHECK_RC(cas_sqlvfs_register(fx.vfs, fx.vol, &err), SHELTER_E_EXIST);
	CHECK(strstr(err.msg, fx.vfs) != NULL);
	/* SQLite's own VFS is not ours to unregister */
	CHECK_RC(cas_sqlvfs_unregister("unix"), SHELTER_E_NOENT);
	CHECK(sqlite3_vfs_find("unix") != NULL);
	CHECK_RC(cas_sqlvfs_unregister("no-such-vfs"), SHELTER_E_NOENT);
	CHECK(sqlite3_vfs_find(NULL) != sqlite3_vfs_find(fx.vfs)); /* not the default */
	CHECK_OK(fx_close(&fx));
	CHECK(sqlite3_vfs_find(fx.vfs) == NULL);
}

static void open_errors_name_the_path(void)
{
	struct fx fx;
	sqlite3 *db = NULL;

	CHECK(fx_open(&fx, 1) == 0);
	/* without SQLITE_OPEN_CREATE a missing database is SQLITE_CANTOPEN */
	CHECK(sqlite3_open_v2("/absent.db", &db, SQLITE_OPEN_READWRITE, fx.vfs) ==
	      SQLITE_CANTOPEN);
	CHECK(strstr(cas_sqlvfs_last_error(), "open '/absent.db'") != NULL);
	CHECK(cas_sqlvfs_last_code() == SHELTER_E_NOENT);
	sqlite3_close(db);
	db = NULL;
	/* ".." leaves the volume: refused by xFullPathname */
	CHECK(sqlite3_open_v2("../escape.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			      fx.vfs) == SQLITE_CANTOPEN);
	CHECK(strstr(cas_sqlvfs_last_error(), "not a volume path") != NULL);
	sqlite3_close(db);
	db = NULL;
	/* a missing directory is not created behind the caller's back */
	CHECK(sqlite3_open_v2("/no/such/dir.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			      fx.vfs) == SQLITE_CANTOPEN);
	sqlite3_close(db);
	cas_sqlvfs_clear_error();
	CHECK(cas_sqlvfs_last_error()[0] == '\0' && cas_sqlvfs_last_code() == 0);
	CHECK_OK(fx_close(&fx));
}

static void unregister_refused_while_files_open(void)
{
	struct fx fx;
	sqlite3 *db = NULL;

	CHECK(fx_open(&fx, 1) == 0);
	CHECK(db_open(&fx, "/cas.db", &db) == SQLITE_OK);
	CHECK(sql(db, "CREATE TABLE t (x)") == SQLITE_OK);
	CHECK_RC(cas_sqlvfs_unregister(fx.vfs), SHELTER_E_INVAL);
	CHECK(sqlite3_vfs_find(fx.vfs) != NULL);
	CHECK(sqlite3_close(db) == SQLITE_OK);
	CHECK_OK(fx_close(&fx));
}

/* A flipped byte in a page of the database, in the checkpoint the volume reads it
 * from: the query fails with SQLITE_IOERR_DATA and the VFS's record names the file
 * and the cause; no row of wrong data comes back. Checked with the volume still
 * open (a new connection, cold cache) and after reopening it. */
static void tampered_page_fails_with_integrity_error(void)
{
	struct fx fx;
	sqlite3 *db = NULL, *db2 = NULL;
	char seg[400], text[256];
	long long page = -1, v;
	struct stat sb;
	uint64_t segno;

	CHECK(fx_open(&fx, 1) == 0);
	CHECK(db_open(&fx, "/cas.db", &db) == SQLITE_OK);
	CHECK(sql(db, "PRAGMA journal_mode=DELETE") == SQLITE_OK);
	CHECK(run_workload(db) == SQLITE_OK);
	CHECK(sql_int(db, "SELECT max(pageno) FROM dbstat WHERE name = 'kv' AND pagetype = 'leaf'",
		      &page) == SQLITE_ROW);
	CHECK(page > 10);
	CHECK(sqlite3_close(db) == SQLITE_OK);
	db = NULL;
	CHECK_OK(shelter_volume_compact(fx.vol, NULL));
	/* volume.md §10.1: after a compaction with one file holding data, chunk record i
	 * of the checkpoint is that file's chunk i-1, at 96 + (i-1) * 4156 */
	seg[0] = '\0';
	for (segno = 1; segno < 64; segno++) {
		snprintf(seg, sizeof(seg), "%s/log/%016llx.seg", fx.dir, (unsigned long long)segno);
		if (stat(seg, &sb) == 0 && sb.st_size > 96 + page * 4156)
			break;
	}
	CHECK(segno < 64);
	flip_byte(seg, 96 + (page - 1) * 4156 + 200);

	CHECK(db_open(&fx, "/cas.db", &db2) == SQLITE_OK);
	CHECK(sql(db2, "CREATE TABLE clean (x); INSERT INTO clean VALUES (1)") == SQLITE_OK);
	CHECK(sql_int(db2, "SELECT sum(length(v)) FROM kv", &v) == SQLITE_IOERR_DATA);
	CHECK(v == -1);
	CHECK(cas_sqlvfs_last_code() == SHELTER_E_INTEGRITY);
	CHECK(strstr(cas_sqlvfs_last_error(), "read '/cas.db'") != NULL);
	CHECK(strstr(cas_sqlvfs_last_error(), "of '/cas.db'") != NULL);
	CHECK(strstr(cas_sqlvfs_last_error(), "MAC mismatch") != NULL);
	CHECK(strstr(cas_sqlvfs_last_error(), fx.vfs) != NULL);
	/* not papered over: integrity_check reports the page, never "ok" */
	CHECK(sql_text(db2, "PRAGMA integrity_check", text, sizeof(text)) == SQLITE_ROW);
	CHECK(strcmp(text, "ok") != 0);
	CHECK(cas_sqlvfs_last_code() == SHELTER_E_INTEGRITY);
	/* pages that are intact still read, and a new transaction clears the record */
	CHECK(sql_int(db2, "SELECT count(*) FROM clean", &v) == SQLITE_ROW && v == 1);
	CHECK(cas_sqlvfs_last_error()[0] == '\0');
	CHECK(sqlite3_close(db2) == SQLITE_OK);
	CHECK_OK(fx_close(&fx));

	/* after a reopen (chunks in a checkpoint are checked when read, volume.md §10.4) */
	CHECK(fx_open(&fx, 0) == 0);
	CHECK(db_open(&fx, "/cas.db", &db) == SQLITE_OK);
	CHECK(sql_int(db, "SELECT sum(length(v)) FROM kv", &v) == SQLITE_IOERR_DATA);
	CHECK(strstr(cas_sqlvfs_last_error(), "MAC mismatch") != NULL);
	CHECK(sqlite3_close(db) == SQLITE_OK);
	CHECK_OK(fx_close(&fx));
}

/* Leave a hot journal: a child process spills an uncommitted transaction into the
 * database (tiny cache) and dies without committing or rolling back. */
static int leave_hot_journal(struct fx *fx)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		sqlite3 *db = NULL;

		if (fx_open(fx, 0) < 0 || db_open(fx, "/cas.db", &db) != SQLITE_OK ||
		    sql(db, "PRAGMA journal_mode=DELETE; PRAGMA cache_size=5; BEGIN;"
			    "UPDATE kv SET v = zeroblob(length(v)), name = 'x' || name") != SQLITE_OK)
			_exit(1);
		_exit(0); /* a crash: no COMMIT, no ROLLBACK, no close */
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

/* A hot journal is rolled back on the next open; the same journal with one flipped
 * byte fails the open's rollback with SQLITE_IOERR_DATA naming the journal, and the
 * half-written transaction is never presented as data. */
static void hot_journal_rolls_back_and_tamper_is_refused(void)
{
	struct fx fx, copy;
	sqlite3 *db = NULL;
	struct shelter_stat st, jst;
	char cmd[700], seg[400];
	long long v;
	uint64_t segno, dbchunks;
	struct stat sb;

	CHECK(fx_open(&fx, 1) == 0);
	CHECK(db_open(&fx, "/cas.db", &db) == SQLITE_OK);
	CHECK(sql(db, "PRAGMA journal_mode=DELETE") == SQLITE_OK);
	CHECK(run_workload(db) == SQLITE_OK);
	CHECK(sqlite3_close(db) == SQLITE_OK);
	db = NULL;
	CHECK_OK(fx_close(&fx));
	CHECK(leave_hot_journal(&fx) == 0);

	copy = fx;
	CHECK(snprintf(copy.dir, sizeof(copy.dir), "%s-copy", fx.dir) < (int)sizeof(copy.dir));
	CHECK(snprintf(copy.vfs, sizeof(copy.vfs), "%s-copy", fx.vfs) < (int)sizeof(copy.vfs));
	snprintf(cmd, sizeof(cmd), "cp -a %s %s", fx.dir, copy.dir);
	CHECK(system(cmd) == 0);

	/* the original: rolled back to the committed state */
	CHECK(fx_open(&fx, 0) == 0);
	CHECK_OK(shelter_volume_stat(fx.vol, "/cas.db-journal", &jst, NULL));
	CHECK(jst.size > 0);
	CHECK(db_open(&fx, "/cas.db", &db) == SQLITE_OK);
	CHECK(check_workload(db) == SQLITE_OK);
	CHECK(sqlite3_close(db) == SQLITE_OK);
	db = NULL;
	CHECK_RC(shelter_volume_stat(fx.vol, "/cas.db-journal", &jst, NULL), SHELTER_E_NOENT);
	CHECK_OK(fx_close(&fx));

	/* the copy: compact so the journal's chunks follow the database's in the
	 * checkpoint (names in order, volume.md §10.1), then flip a journal byte */
	CHECK(fx_open(&copy, 0) == 0);
	CHECK_OK(shelter_volume_stat(copy.vol, "/cas.db", &st, NULL));
	CHECK_OK(shelter_volume_compact(copy.vol, NULL));
	CHECK_OK(fx_close(&copy));
	dbchunks = st.blocks / 8; /* stored chunks: the database may have holes */
	for (segno = 1; segno < 64; segno++) {
		snprintf(seg, sizeof(seg), "%s/log/%016llx.seg", copy.dir,
			 (unsigned long long)segno);
		if (stat(seg, &sb) == 0 && (uint64_t)sb.st_size > 96 + (dbchunks + 1) * 4156)
			break;
	}
	CHECK(segno < 64);
	flip_byte(seg, (long)(96 + dbchunks * 4156 + 100));
	CHECK(fx_open(&copy, 0) == 0);
	CHECK(db_open(&copy, "/cas.db", &db) == SQLITE_OK);
	CHECK(sql_int(db, "SELECT count(*) FROM kv WHERE name LIKE 'x%'", &v) == SQLITE_IOERR_DATA);
	CHECK(strstr(cas_sqlvfs_last_error(), "'/cas.db-journal'") != NULL);
	CHECK(cas_sqlvfs_last_code() == SHELTER_E_INTEGRITY);
	/* still refused on a second try: the journal stays hot, nothing is rolled back */
	CHECK(sql_int(db, "SELECT count(*) FROM kv", &v) == SQLITE_IOERR_DATA);
	CHECK(sqlite3_close(db) == SQLITE_OK);
	CHECK_OK(shelter_volume_stat(copy.vol, "/cas.db-journal", &jst, NULL));
	CHECK(jst.size > 0);
	CHECK_OK(fx_close(&copy));
}

/* ---- the io methods, called directly ---------------------------------------------- */

static void io_methods_follow_the_contract(void)
{
	struct fx fx;
	sqlite3_vfs *pv;
	sqlite3_file *f = NULL, *t = NULL;
	uint8_t buf[100], pat[10];
	char path[600], *vname = NULL;
	sqlite3_int64 size, now;
	struct shelter_stat st;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_DB, out, lvl;

	CHECK(fx_open(&fx, 1) == 0);
	pv = sqlite3_vfs_find(fx.vfs);
	CHECK(pv != NULL);
	f = calloc(1, (size_t)pv->szOsFile);
	t = calloc(1, (size_t)pv->szOsFile);
	CHECK(f != NULL && t != NULL);

	/* paths */
	CHECK(pv->xFullPathname(pv, "a//b/./c.db", (int)sizeof(path), path) == SQLITE_OK);
	CHECK(strcmp(path, "/a/b/c.db") == 0);
	CHECK(pv->xFullPathname(pv, "/a/../c.db", (int)sizeof(path), path) == SQLITE_CANTOPEN);
	CHECK(pv->xFullPathname(pv, "/", (int)sizeof(path), path) == SQLITE_CANTOPEN);
	CHECK(pv->xFullPathname(pv, "abcdef", 4, path) == SQLITE_CANTOPEN);

	/* a file that does not exist cannot be opened without CREATE */
	CHECK(pv->xOpen(pv, "/direct.bin", f, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_DB,
			&out) == SQLITE_CANTOPEN);
	CHECK(f->pMethods == NULL);
	CHECK(pv->xGetLastError(pv, (int)sizeof(path), path) != 0);
	CHECK(strstr(path, "/direct.bin") != NULL);

	CHECK(pv->xOpen(pv, "/direct.bin", f, flags, &out) == SQLITE_OK);
	CHECK(out == flags && f->pMethods != NULL);
	for (int i = 0; i < 10; i++)
		pat[i] = (uint8_t)(i + 1);
	CHECK(f->pMethods->xWrite(f, pat, 10, 0) == SQLITE_OK);
	CHECK(f->pMethods->xFileSize(f, &size) == SQLITE_OK && size == 10);
	/* short read: the rest zeroed, SQLITE_IOERR_SHORT_READ */
	memset(buf, 0xAA, sizeof(buf));
	CHECK(f->pMethods->xRead(f, buf, 100, 0) == SQLITE_IOERR_SHORT_READ);
	CHECK_MEM(buf, pat, 10);
	for (int i = 10; i < 100; i++)
		CHECK(buf[i] == 0);
	memset(buf, 0xAA, sizeof(buf));
	CHECK(f->pMethods->xRead(f, buf, 10, 5000) == SQLITE_IOERR_SHORT_READ);
	for (int i = 0; i < 10; i++)
		CHECK(buf[i] == 0);
	CHECK(f->pMethods->xRead(f, buf, 4, 2) == SQLITE_OK);
	CHECK_MEM(buf, pat + 2, 4);
	CHECK(f->pMethods->xTruncate(f, 4) == SQLITE_OK);
	CHECK(f->pMethods->xFileSize(f, &size) == SQLITE_OK && size == 4);
	CHECK(f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) == SQLITE_OK);
	CHECK(f->pMethods->xSync(f, SQLITE_SYNC_FULL | SQLITE_SYNC_DATAONLY) == SQLITE_OK);

	/* file controls, sector size, device characteristics (cas-store.md §3.4) */
	CHECK(f->pMethods->xFileControl(f, 0x7fff0000, NULL) == SQLITE_NOTFOUND);
	CHECK(f->pMethods->xFileControl(f, SQLITE_FCNTL_LOCKSTATE, &lvl) == SQLITE_OK);
	CHECK(lvl == SQLITE_LOCK_NONE);
	CHECK(f->pMethods->xFileControl(f, SQLITE_FCNTL_VFSNAME, &vname) == SQLITE_OK);
	CHECK(vname != NULL && strcmp(vname, fx.vfs) == 0);
	sqlite3_free(vname);
	CHECK(f->pMethods->xSectorSize(f) == 512);
	CHECK(f->pMethods->xDeviceCharacteristics(f) ==
	      (SQLITE_IOCAP_ATOMIC512 | SQLITE_IOCAP_ATOMIC1K | SQLITE_IOCAP_ATOMIC2K |
	       SQLITE_IOCAP_ATOMIC4K | SQLITE_IOCAP_ATOMIC8K | SQLITE_IOCAP_ATOMIC16K |
	       SQLITE_IOCAP_ATOMIC32K | SQLITE_IOCAP_ATOMIC64K | SQLITE_IOCAP_SAFE_APPEND |
	       SQLITE_IOCAP_SEQUENTIAL | SQLITE_IOCAP_POWERSAFE_OVERWRITE));
	CHECK(f->pMethods->xFileControl(f, SQLITE_FCNTL_HAS_MOVED, &lvl) == SQLITE_OK && lvl == 0);

	/* access: an empty file does not "exist" (as in os_unix.c); delete */
	CHECK(pv->xAccess(pv, "/direct.bin", SQLITE_ACCESS_EXISTS, &out) == SQLITE_OK && out == 1);
	CHECK(pv->xAccess(pv, "/direct.bin", SQLITE_ACCESS_READWRITE, &out) == SQLITE_OK &&
	      out == 1);
	CHECK(f->pMethods->xTruncate(f, 0) == SQLITE_OK);
	CHECK(pv->xAccess(pv, "/direct.bin", SQLITE_ACCESS_EXISTS, &out) == SQLITE_OK && out == 0);
	CHECK(pv->xAccess(pv, "/nothing", SQLITE_ACCESS_EXISTS, &out) == SQLITE_OK && out == 0);
	CHECK(pv->xDelete(pv, "/direct.bin", 1) == SQLITE_OK);
	CHECK(f->pMethods->xFileControl(f, SQLITE_FCNTL_HAS_MOVED, &lvl) == SQLITE_OK && lvl == 1);
	CHECK(pv->xDelete(pv, "/direct.bin", 0) == SQLITE_IOERR_DELETE_NOENT);
	CHECK(f->pMethods->xClose(f) == SQLITE_OK);

	/* a named delete-on-close file is gone after close */
	CHECK(pv->xOpen(pv, "/scratch", f, flags | SQLITE_OPEN_DELETEONCLOSE, &out) == SQLITE_OK);
	CHECK(f->pMethods->xWrite(f, pat, 10, 0) == SQLITE_OK);
	CHECK_OK(shelter_volume_stat(fx.vol, "/scratch", &st, NULL));
	CHECK(f->pMethods->xClose(f) == SQLITE_OK);
	CHECK_RC(shelter_volume_stat(fx.vol, "/scratch", &st, NULL), SHELTER_E_NOENT);

	/* a nameless temp file lives in memory: nothing appears in the volume */
	CHECK(pv->xOpen(pv, NULL, t, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
		      SQLITE_OPEN_DELETEONCLOSE | SQLITE_OPEN_TEMP_JOURNAL, &out) == SQLITE_OK);
	CHECK(t->pMethods->xWrite(t, pat, 10, 70000) == SQLITE_OK);
	CHECK(t->pMethods->xFileSize(t, &size) == SQLITE_OK && size == 70010);
	memset(buf, 0xAA, sizeof(buf));
	CHECK(t->pMethods->xRead(t, buf, 15, 69995) == SQLITE_OK);
	for (int i = 0; i < 5; i++)
		CHECK(buf[i] == 0);
	CHECK_MEM(buf + 5, pat, 10);
	CHECK(t->pMethods->xTruncate(t, 70002) == SQLITE_OK);
	CHECK(t->pMethods->xTruncate(t, 70010) == SQLITE_OK); /* grows back with zeros */
	CHECK(t->pMethods->xRead(t, buf, 20, 70000) == SQLITE_IOERR_SHORT_READ);
	CHECK_MEM(buf, pat, 2);
	for (int i = 2; i < 20; i++)
		CHECK(buf[i] == 0);
	CHECK(t->pMethods->xLock(t, SQLITE_LOCK_EXCLUSIVE) == SQLITE_OK);
	CHECK(t->pMethods->xUnlock(t, SQLITE_LOCK_NONE) == SQLITE_OK);
	CHECK(strcmp(root_names(fx.vol), "") == 0);
	CHECK(t->pMethods->xClose(t) == SQLITE_OK);

	/* randomness and time */
	memset(buf, 0, sizeof(buf));
	CHECK(pv->xRandomness(pv, 32, (char *)buf) == 32);
	CHECK(memcmp(buf, buf + 32, 32) != 0);
	CHECK(pv->xCurrentTimeInt64(pv, &now) == SQLITE_OK);
	CHECK(llabs(now - (210866760000000LL + (long long)time(NULL) * 1000)) < 60000);
	CHECK(pv->xSleep(pv, 1000) == 1000);
	free(f);
	free(t);
	CHECK_OK(fx_close(&fx));
}

/* The write-behind run (cas-store.md §3.4): consecutive writes wait in memory,
 * but every other change, a read of the same path, a sync and the end of a commit
 * put them in the volume first, in order; a run that cannot be written fails its
 * file closed. */
static void write_behind_keeps_order_and_fails_closed(void)
{
	struct fx fx;
	sqlite3_vfs *pv;
	sqlite3_file *a = NULL, *a2 = NULL, *b = NULL;
	struct shelter_stat st;
	uint8_t page[4096], got[4096];
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_DB, out;

	CHECK(fx_open(&fx, 1) == 0);
	pv = sqlite3_vfs_find(fx.vfs);
	a = calloc(1, (size_t)pv->szOsFile);
	a2 = calloc(1, (size_t)pv->szOsFile);
	b = calloc(1, (size_t)pv->szOsFile);
	CHECK(a != NULL && a2 != NULL && b != NULL);
	CHECK(pv->xOpen(pv, "/a.db", a, flags, &out) == SQLITE_OK);
	CHECK(pv->xOpen(pv, "/a.db", a2, flags, &out) == SQLITE_OK);
	CHECK(pv->xOpen(pv, "/b.db", b, flags, &out) == SQLITE_OK);
	fill(page, sizeof(page), 7);

	/* three consecutive writes are held back together */
	CHECK(a->pMethods->xWrite(a, page, 4096, 0) == SQLITE_OK);
	CHECK(a->pMethods->xWrite(a, page, 24, 4096) == SQLITE_OK);
	CHECK(a->pMethods->xWrite(a, page, 4096, 4120) == SQLITE_OK);
	CHECK_OK(shelter_volume_stat(fx.vol, "/a.db", &st, NULL));
	CHECK(st.size == 0);
	/* a write to another file puts them in the volume first */
	CHECK(b->pMethods->xWrite(b, page, 100, 0) == SQLITE_OK);
	CHECK_OK(shelter_volume_stat(fx.vol, "/a.db", &st, NULL));
	CHECK(st.size == 8216);
	CHECK_OK(shelter_volume_stat(fx.vol, "/b.db", &st, NULL));
	CHECK(st.size == 0);
	/* a read elsewhere leaves the run alone */
	CHECK(a2->pMethods->xRead(a2, got, 100, 0) == SQLITE_OK);
	CHECK_MEM(got, page, 100);
	CHECK_OK(shelter_volume_stat(fx.vol, "/b.db", &st, NULL));
	CHECK(st.size == 0);
	/* a read of the same path, through another handle, sees the pending bytes */
	CHECK(a->pMethods->xWrite(a, page, 4096, 8216) == SQLITE_OK);
	CHECK_OK(shelter_volume_stat(fx.vol, "/b.db", &st, NULL));
	CHECK(st.size == 100);
	CHECK(a2->pMethods->xRead(a2, got, 4096, 8216) == SQLITE_OK);
	CHECK_MEM(got, page, 4096);
	/* an overwrite inside the run joins it; the end of a commit writes it out */
	CHECK(a->pMethods->xWrite(a, page, 4096, 12312) == SQLITE_OK);
	CHECK(a->pMethods->xWrite(a, page + 1, 10, 12312) == SQLITE_OK);
	CHECK_OK(shelter_volume_stat(fx.vol, "/a.db", &st, NULL));
	CHECK(st.size == 12312);
	CHECK(a->pMethods->xFileControl(a, SQLITE_FCNTL_COMMIT_PHASETWO, NULL) == SQLITE_OK);
	CHECK_OK(shelter_volume_stat(fx.vol, "/a.db", &st, NULL));
	CHECK(st.size == 16408);
	CHECK(a2->pMethods->xRead(a2, got, 10, 12312) == SQLITE_OK);
	CHECK_MEM(got, page + 1, 10);
	/* so does a sync, and the unlock that lets another connection in */
	CHECK(a->pMethods->xWrite(a, page, 8, 16408) == SQLITE_OK);
	CHECK(a->pMethods->xSync(a, SQLITE_SYNC_NORMAL) == SQLITE_OK);
	CHECK_OK(shelter_volume_stat(fx.vol, "/a.db", &st, NULL));
	CHECK(st.size == 16416);
	CHECK(a->pMethods->xLock(a, SQLITE_LOCK_SHARED) == SQLITE_OK);
	CHECK(a->pMethods->xWrite(a, page, 8, 16416) == SQLITE_OK);
	CHECK(a->pMethods->xUnlock(a, SQLITE_LOCK_NONE) == SQLITE_OK);
	CHECK_OK(shelter_volume_stat(fx.vol, "/a.db", &st, NULL));
	CHECK(st.size == 16424);

	/* a run the volume refuses (past its 2^52-byte file limit): the sync that
	 * flushes it fails, names the file, and the handle stays failed */
	CHECK(b->pMethods->xWrite(b, page, 100, ((sqlite3_int64)1 << 52) - 10) == SQLITE_OK);
	CHECK(b->pMethods->xSync(b, SQLITE_SYNC_NORMAL) == SQLITE_IOERR_WRITE);
	CHECK(cas_sqlvfs_last_code() == SHELTER_E_FBIG);
	CHECK(strstr(cas_sqlvfs_last_error(), "write '/b.db'") != NULL);
	CHECK(b->pMethods->xRead(b, got, 10, 0) == SQLITE_IOERR_WRITE);
	CHECK(b->pMethods->xSync(b, SQLITE_SYNC_NORMAL) == SQLITE_IOERR_WRITE);
	CHECK(b->pMethods->xWrite(b, page, 10, 0) == SQLITE_IOERR_WRITE);
	/* a read-only handle refuses writes at once */
	CHECK(a2->pMethods->xClose(a2) == SQLITE_OK);
	CHECK(pv->xOpen(pv, "/a.db", a2, SQLITE_OPEN_READONLY | SQLITE_OPEN_MAIN_DB, &out) ==
	      SQLITE_OK);
	CHECK(a2->pMethods->xWrite(a2, page, 10, 0) == SQLITE_IOERR_WRITE);
	CHECK(cas_sqlvfs_last_code() == SHELTER_E_BADF);
	CHECK(a->pMethods->xClose(a) == SQLITE_OK);
	CHECK(a2->pMethods->xClose(a2) == SQLITE_OK);
	CHECK(b->pMethods->xClose(b) == SQLITE_OK);
	free(a);
	free(a2);
	free(b);
	CHECK_OK(fx_close(&fx));
}

/* SQLite's lock levels between connections of one process (cas-store.md §3.3),
 * with the exact outcome of each step. */
static void locks_follow_sqlite_levels(void)
{
	struct fx fx;
	struct shelter_err err;
	sqlite3_vfs *pv, *pv2;
	sqlite3_file *h[4];
	char vfs2[48];
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_DB, res, lvl;

	CHECK(fx_open(&fx, 1) == 0);
	snprintf(vfs2, sizeof(vfs2), "%s-second", fx.vfs);
	CHECK_OK(cas_sqlvfs_register(vfs2, fx.vol, &err));
	pv = sqlite3_vfs_find(fx.vfs);
	pv2 = sqlite3_vfs_find(vfs2);
	for (int i = 0; i < 4; i++) {
		h[i] = calloc(1, (size_t)pv->szOsFile);
		CHECK(h[i] != NULL);
		/* the fourth through the second VFS name: same volume, same locks */
		CHECK((i < 3 ? pv : pv2)->xOpen(i < 3 ? pv : pv2, "/lock.db", h[i], flags, NULL) ==
		      SQLITE_OK);
	}
#define LOCK(i, l) h[i]->pMethods->xLock(h[i], SQLITE_LOCK_##l)
#define UNLOCK(i, l) h[i]->pMethods->xUnlock(h[i], SQLITE_LOCK_##l)
#define LEVEL(i) (h[i]->pMethods->xFileControl(h[i], SQLITE_FCNTL_LOCKSTATE, &lvl), lvl)
	CHECK(LOCK(0, SHARED) == SQLITE_OK);
	CHECK(LOCK(1, SHARED) == SQLITE_OK);
	CHECK(LOCK(0, RESERVED) == SQLITE_OK);
	CHECK(LOCK(1, RESERVED) == SQLITE_BUSY);
	CHECK(h[1]->pMethods->xCheckReservedLock(h[1], &res) == SQLITE_OK && res == 1);
	CHECK(LOCK(2, SHARED) == SQLITE_OK); /* RESERVED lets readers in */
	CHECK(UNLOCK(2, NONE) == SQLITE_OK);
	CHECK(LOCK(0, EXCLUSIVE) == SQLITE_BUSY); /* a reader remains */
	CHECK(LEVEL(0) == SQLITE_LOCK_PENDING);
	CHECK(LOCK(2, SHARED) == SQLITE_BUSY); /* PENDING keeps new readers out */
	CHECK(LOCK(3, SHARED) == SQLITE_BUSY); /* through the other VFS name as well */
	CHECK(UNLOCK(1, NONE) == SQLITE_OK);
	CHECK(LOCK(0, EXCLUSIVE) == SQLITE_OK);
	CHECK(LEVEL(0) == SQLITE_LOCK_EXCLUSIVE);
	CHECK(LOCK(1, SHARED) == SQLITE_BUSY);
	CHECK(UNLOCK(0, SHARED) == SQLITE_OK);
	CHECK(LEVEL(0) == SQLITE_LOCK_SHARED);
	CHECK(LOCK(1, SHARED) == SQLITE_OK);
	CHECK(h[1]->pMethods->xCheckReservedLock(h[1], &res) == SQLITE_OK && res == 0);
	/* straight from SHARED to EXCLUSIVE, waiting for the other reader */
	CHECK(LOCK(1, EXCLUSIVE) == SQLITE_BUSY);
	CHECK(LEVEL(1) == SQLITE_LOCK_PENDING);
	CHECK(LOCK(0, RESERVED) == SQLITE_BUSY);
	CHECK(LOCK(0, EXCLUSIVE) == SQLITE_BUSY);
	CHECK(UNLOCK(0, NONE) == SQLITE_OK);
	CHECK(LOCK(1, EXCLUSIVE) == SQLITE_OK);
	/* giving up a PENDING lock lets readers back in */
	CHECK(UNLOCK(1, SHARED) == SQLITE_OK);
	CHECK(LOCK(3, SHARED) == SQLITE_OK);
	CHECK(LOCK(1, EXCLUSIVE) == SQLITE_BUSY);
	CHECK(UNLOCK(1, SHARED) == SQLITE_OK);
	CHECK(LOCK(2, SHARED) == SQLITE_OK);
	CHECK(UNLOCK(1, NONE) == SQLITE_OK);
	CHECK(UNLOCK(2, NONE) == SQLITE_OK);
	CHECK(LOCK(3, RESERVED) == SQLITE_OK);
	CHECK(LOCK(3, EXCLUSIVE) == SQLITE_OK);
	/* closing a handle drops its locks */
	CHECK(h[3]->pMethods->xClose(h[3]) == SQLITE_OK);
	CHECK(LOCK(0, SHARED) == SQLITE_OK);
	CHECK(LOCK(0, EXCLUSIVE) == SQLITE_OK);
#undef LOCK
#undef UNLOCK
#undef LEVEL
	for (int i = 0; i < 3; i++)
		CHECK(h[i]->pMethods->xClose(h[i]) == SQLITE_OK);
	for (int i = 0; i < 4; i++)
		free(h[i]);
	CHECK_OK(cas_sqlvfs_unregister(vfs2));
	CHECK_OK(fx_close(&fx));
}

/* ---- the SQL workload --------------------------------------------------------------- */

/* One journal mode: the workload, then close, reopen the volume (after verifying it)
 * and read everything back; temp files never reach the volume. */
static int workload_in_mode(const char *mode, const char *expect_files)
{
	struct fx fx;
	sqlite3 *db = NULL;
	char got[32], pragma[96];
	int ok = 0;

	if (fx_open(&fx, 1) < 0)
		return 0;
	if (db_open(&fx, "/cas.db", &db) != SQLITE_OK)
		goto out;
	if (strcmp(mode, "WAL") == 0 && sql(db, "PRAGMA locking_mode=EXCLUSIVE") != SQLITE_OK)
		goto out;
	snprintf(pragma, sizeof(pragma), "PRAGMA journal_mode=%s", mode);
	if (sql_text(db, pragma, got, sizeof(got)) != SQLITE_ROW || strcasecmp(got, mode) != 0) {
		fprintf(stderr, "  journal_mode=%s gave '%s'\n", mode, got);
		goto out;
	}
	if (sql(db, "PRAGMA synchronous=FULL") != SQLITE_OK || run_workload(db) != SQLITE_OK ||
	    check_workload(db) != SQLITE_OK)
		goto out;
	if (sqlite3_close(db) != SQLITE_OK)
		goto out;
	db = NULL;
	if (strcmp(root_names(fx.vol), expect_files) != 0) {
		fprintf(stderr, "  %s: files '%s', want '%s'\n", mode, root_names(fx.vol),
			expect_files);
		goto out;
	}
	if (fx_close(&fx) != 0 || shelter_volume_verify(fx.dir, key, NULL, NULL, NULL, NULL) != 0) {
		fprintf(stderr, "  %s: close or verify failed\n", mode);
		goto out;
	}
	if (fx_open(&fx, 0) < 0)
		return 0;
	if (db_open(&fx, "/cas.db", &db) != SQLITE_OK)
		goto out;
	if (strcmp(mode, "WAL") == 0) {
		/* §3.5: a WAL database opens only with exclusive locking; without it,
		 * SQLite cannot build a shared wal-index here and refuses cleanly */
		if (sql_text(db, "SELECT count(*) FROM kv", got, sizeof(got)) != SQLITE_CANTOPEN) {
			fprintf(stderr, "  WAL database opened without exclusive locking\n");
			goto out;
		}
		sqlite3_close(db);
		if (db_open(&fx, "/cas.db", &db) != SQLITE_OK ||
		    sql(db, "PRAGMA locking_mode=EXCLUSIVE") != SQLITE_OK)
			goto out;
	}
	if (check_workload(db) != SQLITE_OK)
		goto out;
	ok = 1;
out:
	sqlite3_close(db);
	if (fx.vol != NULL)
		(void)fx_close(&fx);
	return ok;
}

static void workload_delete_journal(void)
{
	CHECK(workload_in_mode("DELETE", "cas.db"));
}

static void workload_truncate_journal(void)
{
	CHECK(workload_in_mode("TRUNCATE", "cas.db cas.db-journal"));
}

static void workload_persist_journal(void)
{
	CHECK(workload_in_mode("PERSIST", "cas.db cas.db-journal"));
}

static void workload_wal_exclusive(void)
{
	CHECK(workload_in_mode("WAL", "cas.db"));
}

/* Without exclusive locking SQLite cannot have WAL here (no shared-memory methods)
 * and says so by keeping the rollback journal: cas-store.md §3.5. */
static void wal_needs_exclusive_locking(void)
{
	struct fx fx;
	sqlite3 *db = NULL;
	char got[32];

	CHECK(fx_open(&fx, 1) == 0);
	CHECK(db_open(&fx, "/cas.db", &db) == SQLITE_OK);
	CHECK(sql(db, "CREATE TABLE t (x)") == SQLITE_OK);
	CHECK(sql_text(db, "PRAGMA journal_mode=WAL", got, sizeof(got)) == SQLITE_ROW);
	CHECK(strcmp(got, "delete") == 0);
	CHECK(sqlite3_close(db) == SQLITE_OK);
	CHECK_OK(fx_close(&fx));
}

/* ---- connections in threads ---------------------------------------------------------- */

#define ACCOUNTS 10
#define WRITERS 2
#define READERS 2
#define TXNS 150

struct worker {
	struct fx *fx;
	int id;
	pthread_mutex_t *mu;
	int *done;
	long long reads, mid; /* reads, and reads that saw a state between start and end */
	int ok;
};

/* A transfer between two accounts plus a log row, in one transaction. */
static void *writer_main(void *arg)
{
	struct worker *w = arg;
	sqlite3 *db = NULL;
	struct rng r = { (uint64_t)w->id * 77 + 5 };
	char q[256];

	w->ok = db_open(w->fx, "/cas.db", &db) == SQLITE_OK;
	for (int i = 0; i < TXNS && w->ok; i++) {
		int a = (int)rng_below(&r, ACCOUNTS), b = (int)rng_below(&r, ACCOUNTS);
		int x = (int)rng_below(&r, 50);

		snprintf(q, sizeof(q),
			 "BEGIN IMMEDIATE; UPDATE acct SET bal = bal - %d WHERE id = %d;"
			 "UPDATE acct SET bal = bal + %d WHERE id = %d;"
			 "INSERT INTO log (writer, n) VALUES (%d, %d); COMMIT", x, a, x, b, w->id, i);
		w->ok = sql(db, q) == SQLITE_OK;
	}
	w->ok = sqlite3_close(db) == SQLITE_OK && w->ok;
	pthread_mutex_lock(w->mu);
	(*w->done)++;
	pthread_mutex_unlock(w->mu);
	return NULL;
}

/* Reads see whole transactions only: the balances always sum to the start total,
 * and the log only grows. Runs until the writers are done, then once more. */
static void *reader_main(void *arg)
{
	struct worker *w = arg;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long last = 0;
	int finished = 0;

	w->ok = db_open(w->fx, "/cas.db", &db) == SQLITE_OK &&
		sqlite3_prepare_v2(db, "SELECT (SELECT sum(bal) FROM acct), (SELECT count(*) FROM log)",
				   -1, &st, NULL) == SQLITE_OK;
	while (w->ok && !finished) {
		pthread_mutex_lock(w->mu);
		finished = *w->done == WRITERS;
		pthread_mutex_unlock(w->mu);
		sqlite3_reset(st);
		if (sqlite3_step(st) != SQLITE_ROW) {
			fprintf(stderr, "  reader: %s\n", sqlite3_errmsg(db));
			w->ok = 0;
			break;
		}
		if (sqlite3_column_int64(st, 0) != ACCOUNTS * 100 || sqlite3_column_int64(st, 1) < last) {
			fprintf(stderr, "  reader saw sum %lld, count %lld after %lld\n",
				sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), last);
			w->ok = 0;
		}
		last = sqlite3_column_int64(st, 1);
		w->reads++;
		w->mid += last > 0 && last < WRITERS * TXNS;
	}
	if (w->ok && last != WRITERS * TXNS) {
		fprintf(stderr, "  reader's last count %lld, want %d\n", last, WRITERS * TXNS);
		w->ok = 0;
	}
	sqlite3_finalize(st);
	w->ok = sqlite3_close(db) == SQLITE_OK && w->ok;
	return NULL;
}

static void connections_in_threads_see_whole_transactions(void)
{
	struct fx fx;
	sqlite3 *db = NULL;
	struct worker w[WRITERS + READERS];
	pthread_t t[WRITERS + READERS];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	int done = 0;
	long long v;
	char q[128];

	CHECK(fx_open(&fx, 1) == 0);
	CHECK(db_open(&fx, "/cas.db", &db) == SQLITE_OK);
	CHECK(sql(db, "PRAGMA journal_mode=TRUNCATE; PRAGMA synchronous=FULL;"
		      "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER NOT NULL);"
		      "CREATE TABLE log (writer INTEGER, n INTEGER, PRIMARY KEY (writer, n))") ==
	      SQLITE_OK);
	for (int i = 0; i < ACCOUNTS; i++) {
		snprintf(q, sizeof(q), "INSERT INTO acct VALUES (%d, 100)", i);
		CHECK(sql(db, q) == SQLITE_OK);
	}
	for (int i = 0; i < WRITERS + READERS; i++) {
		w[i] = (struct worker){ .fx = &fx, .id = i, .mu = &mu, .done = &done };
		CHECK(pthread_create(&t[i], NULL, i < WRITERS ? writer_main : reader_main, &w[i]) ==
		      0);
	}
	for (int i = 0; i < WRITERS + READERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < WRITERS + READERS; i++)
		CHECK(w[i].ok);
	CHECK(sql_int(db, "SELECT count(*) FROM log", &v) == SQLITE_ROW && v == WRITERS * TXNS);
	CHECK(sql_int(db, "SELECT sum(bal) FROM acct", &v) == SQLITE_ROW && v == ACCOUNTS * 100);
	CHECK(integrity_ok(db));
	CHECK(sqlite3_close(db) == SQLITE_OK);
	CHECK_OK(fx_close(&fx));
	printf("  threads: %d writers x %d transactions; readers made %lld and %lld reads, "
	       "%lld and %lld of them between the first and last commit\n", WRITERS, TXNS,
	       w[WRITERS].reads, w[WRITERS + 1].reads, w[WRITERS].mid, w[WRITERS + 1].mid);
}

/* ---- side-by-side timing (printed, never asserted) -------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Rows per second for txns transactions of rows rows each (a 200-byte payload). */
static double insert_rate(sqlite3 *db, int txns, int rows)
{
	sqlite3_stmt *st = NULL;
	uint8_t payload[200];
	double t0;
	int ok = 1;

	fill(payload, sizeof(payload), 42);
	if (sqlite3_prepare_v2(db, "INSERT INTO audit (entry) VALUES (?)", -1, &st, NULL) != SQLITE_OK)
		return 0;
	t0 = now_s();
	for (int i = 0; i < txns && ok; i++) {
		ok = sql(db, "BEGIN") == SQLITE_OK;
		for (int j = 0; j < rows && ok; j++) {
			sqlite3_reset(st);
			sqlite3_bind_blob(st, 1, payload, (int)sizeof(payload), SQLITE_STATIC);
			ok = sqlite3_step(st) == SQLITE_DONE;
		}
		ok = ok && sql(db, "COMMIT") == SQLITE_OK;
	}
	sqlite3_finalize(st);
	return ok ? (double)txns * rows / (now_s() - t0) : 0;
}

static int bench_db(sqlite3 *db, const char *setup, double *single, double *batch)
{
	if (sql(db, setup) != SQLITE_OK ||
	    sql(db, "CREATE TABLE audit (seq INTEGER PRIMARY KEY, entry BLOB NOT NULL)") != SQLITE_OK)
		return -1;
	*single = insert_rate(db, 100, 1);
	*batch = insert_rate(db, 10, 100);
	return *single > 0 && *batch > 0 ? 0 : -1;
}

static void timing_against_a_plain_file(void)
{
	static const char *const setups[][2] = {
		{ "TRUNCATE", "PRAGMA journal_mode=TRUNCATE; PRAGMA synchronous=FULL" },
		{ "WAL+EXCL", "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
			      " PRAGMA synchronous=FULL" },
	};
	char plain[400];

	for (size_t i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
		struct fx fx;
		sqlite3 *db = NULL;
		double vs = 0, vb = 0, ps = 0, pb = 0;

		CHECK(fx_open(&fx, 1) == 0);
		CHECK(db_open(&fx, "/bench.db", &db) == SQLITE_OK);
		CHECK(bench_db(db, setups[i][1], &vs, &vb) == 0);
		CHECK(sqlite3_close(db) == SQLITE_OK);
		CHECK_OK(fx_close(&fx));
		snprintf(plain, sizeof(plain), "%s/plain-%zu.db", root, i);
		CHECK(sqlite3_open_v2(plain, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ==
		      SQLITE_OK);
		CHECK(bench_db(db, setups[i][1], &ps, &pb) == 0);
		CHECK(sqlite3_close(db) == SQLITE_OK);
		printf("  timing %s synchronous=FULL: 1-row txns %.0f/s on the volume, %.0f/s on a "
		       "plain file (ratio %.2f); 100-row txns %.0f rows/s vs %.0f (ratio %.2f)\n",
		       setups[i][0], vs, ps, vs / ps, vb, pb, vb / pb);
	}
}

int main(void)
{
	test_binary = "test_sqlvfs";
	snprintf(root, sizeof(root), "/tmp/shelter-test-sqlvfs.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 2;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x30 + i);
	RUN(register_refuses_bad_names);
	RUN(open_errors_name_the_path);
	RUN(unregister_refused_while_files_open);
	RUN(tampered_page_fails_with_integrity_error);
	RUN(hot_journal_rolls_back_and_tamper_is_refused);
	RUN(io_methods_follow_the_contract);
	RUN(write_behind_keeps_order_and_fails_closed);
	RUN(locks_follow_sqlite_levels);
	RUN(workload_delete_journal);
	RUN(workload_truncate_journal);
	RUN(workload_persist_journal);
	RUN(workload_wal_exclusive);
	RUN(wal_needs_exclusive_locking);
	RUN(connections_in_threads_see_whole_transactions);
	RUN(timing_against_a_plain_file);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd) != 0)
			return 2;
	}
	return test_total_failed ? 1 : 0;
}
