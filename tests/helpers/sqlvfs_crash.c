/* Crash-test helper for SQLite on a protected volume: docs/formats/cas-store.md §3.6.
 *
 * usage: sqlvfs_crash create VOLDIR KEYFILE
 *        sqlvfs_crash write  VOLDIR KEYFILE SEED WRITERS PROGRESS
 *        sqlvfs_crash check  VOLDIR KEYFILE SEED WRITERS PROGRESS ACKED...
 *
 * write: WRITERS threads (1 or 2), each with its own connection to /cas.db, commit
 * numbered transactions 1, 2, ... for ever; after COMMIT returns, a writer prints
 * "ack W N" (W its number). Transaction N of writer W inserts row N of W (a payload
 * of 10 B to 20 kB, some spanning overflow pages), sets W's counter to N, and makes
 * a few random inserts, updates and deletes in W's range of a "noise" table (blobs
 * of up to 40 kB); every 61st runs VACUUM after it, every 89th compacts the volume.
 * Everything is a function of SEED, W and N (tests/rng.h), so the checker can replay
 * it. The journal mode comes from SEED / 4: DELETE, TRUNCATE, PERSIST, or WAL with
 * exclusive locking (one writer only: extra ACKED arguments are then ignored);
 * the synchronous level from SEED / 16: FULL, NORMAL or OFF. A SIGKILL loses
 * nothing committed at any level (the VFS writes a transaction out before COMMIT
 * returns; only a power loss needs the syncs).
 * PROGRESS is a 64-byte file the writer keeps in a shared mapping, which survives
 * SIGKILL: per writer, the number of the transaction whose COMMIT it entered and the
 * number of the last whose COMMIT returned.
 *
 * check: after the writer was SIGKILLed, open the volume (it repairs a torn tail),
 * look whether a hot journal or WAL is left, open the database (SQLite rolls back or
 * recovers), then require
 *   - PRAGMA integrity_check = ok;
 *   - for each writer, k = its counter: rows 1..k present, exactly, with their exact
 *     payloads, and the noise rows equal the replayed model after k transactions
 *     (atomicity: no part of transaction k+1, all of k);
 *   - k >= ACKED (nothing acknowledged lost); k == the last COMMIT that returned,
 *     or that + 1 when the kill landed inside COMMIT (durable when COMMIT returns);
 *   - the database still takes a transaction, and reads back after a reopen.
 * Prints "RESULT ok mode=M hot=H W:ACKED:K:INFLIGHT ..." (H 1 when a hot journal or
 * WAL was left, INFLIGHT 1 when the kill landed inside COMMIT) or "RESULT fail" with
 * the reason above it. Exit 0 ok, 1 check failed, 2 usage or setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../rng.h"
#include "cas/sqlvfs.h"
#include "shelter/volume.h"

#define VFS_NAME "crash"
#define MAX_WRITERS 2
#define NOISE_SLOTS 64
#define MAX_PAYLOAD 20000
#define MAX_NOISE 40000
#define VACUUM_EVERY 61
#define COMPACT_EVERY 89

static const char *const modes[] = { "DELETE", "TRUNCATE", "PERSIST", "WAL" };
static const char *const syncs[] = { "FULL", "NORMAL", "OFF" };

struct progress {
	volatile uint64_t committing, committed;
};

/* One noise slot of the model: empty (size 0) or a blob of size bytes from seed. */
struct slot {
	uint32_t size;
	uint64_t seed;
};

struct writer {
	int id;
	uint64_t seed;
	struct shelter_volume *vol;
	struct progress *prog;
	int ok;
};

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *mode, *sync_level;

/* Turns between writers: SQLite's locks do not queue, so a writer that commits and
 * begins again at once would starve the other. A writer that committed last waits
 * while another has announced that it wants the lock; the transactions still
 * contend in SQLite (the other one may be inside its busy handler). */
static pthread_mutex_t turn_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cv = PTHREAD_COND_INITIALIZER;
static int turn_last = -1, turn_wanting;

static void turn_enter(int w)
{
	pthread_mutex_lock(&turn_mu);
	turn_wanting++;
	while (turn_last == w && turn_wanting > 1)
		pthread_cond_wait(&turn_cv, &turn_mu);
	pthread_mutex_unlock(&turn_mu);
}

static void turn_got_lock(void)
{
	pthread_mutex_lock(&turn_mu);
	turn_wanting--;
	pthread_mutex_unlock(&turn_mu);
}

static void turn_done(int w)
{
	pthread_mutex_lock(&turn_mu);
	turn_last = w;
	pthread_cond_broadcast(&turn_cv);
	pthread_mutex_unlock(&turn_mu);
}

/* Retry every 200 us for up to a minute (SQLite's own handler sleeps up to 100 ms
 * between tries, which would leave the lock idle). */
static int busy_retry(void *ctx, int count)
{
	struct timespec ts = { 0, 200000 };

	(void)ctx;
	if (count >= 300000)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

static void fill(uint8_t *b, size_t n, uint64_t seed)
{
	struct rng r = { seed };

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rng_next(&r);
}

static uint64_t payload_seed(uint64_t seed, int w, uint64_t n)
{
	return seed * 1000003u + (uint64_t)w * 7919u + n * 104729u;
}

static size_t payload_size(uint64_t pseed)
{
	struct rng r = { pseed };

	return 10 + (size_t)rng_below(&r, MAX_PAYLOAD);
}

/* The noise operations of transaction n of writer w: each is (slot, new size or 0
 * for delete, blob seed). Advances r, the writer's stream. */
struct noise_op {
	int slot;
	uint32_t size;
	uint64_t seed;
};

static int plan_noise(struct rng *r, struct noise_op ops[8])
{
	int count = (int)rng_below(r, 8);

	for (int i = 0; i < count; i++) {
		ops[i].slot = (int)rng_below(r, NOISE_SLOTS);
		ops[i].size = rng_below(r, 4) == 0 ? 0 : 1 + (uint32_t)rng_below(r, MAX_NOISE);
		ops[i].seed = rng_next(r);
	}
	return count;
}

static int read_key(const char *path, uint8_t key[SHELTER_VOLUME_KEY_SIZE])
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "sqlvfs_crash: key file '%s': %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(key, 1, SHELTER_VOLUME_KEY_SIZE, f);
	fclose(f);
	return n == SHELTER_VOLUME_KEY_SIZE ? 0 : -1;
}

static struct progress *map_progress(const char *path)
{
	int fd = open(path, O_RDWR);
	void *p;

	if (fd < 0)
		return NULL;
	p = mmap(NULL, MAX_WRITERS * sizeof(struct progress), PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static int exec(sqlite3 *db, const char *q)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, q, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		fprintf(stderr, "sqlvfs_crash: '%.50s': %s (%s)\n", q, msg ? msg : "?",
			cas_sqlvfs_last_error());
	sqlite3_free(msg);
	return rc;
}

static int open_db(sqlite3 **db)
{
	int rc = sqlite3_open_v2("/cas.db", db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
				 VFS_NAME);

	if (rc != SQLITE_OK) {
		fprintf(stderr, "sqlvfs_crash: open: %s (%s)\n", sqlite3_errmsg(*db),
			cas_sqlvfs_last_error());
		return rc;
	}
	sqlite3_busy_handler(*db, busy_retry, NULL);
	sqlite3_extended_result_codes(*db, 1);
	/* cas-store.md §3.5: WAL only with exclusive locking, set before first access */
	if (strcmp(mode, "WAL") == 0)
		rc = exec(*db, "PRAGMA locking_mode=EXCLUSIVE");
	if (rc == SQLITE_OK) {
		char q[64];

		snprintf(q, sizeof(q), "PRAGMA synchronous=%s", sync_level);
		rc = exec(*db, q);
	}
	return rc;
}

/* Bind a blob of size bytes from seed (size 0: NULL) to parameter i. */
static void bind_blob(sqlite3_stmt *st, int i, size_t size, uint64_t seed)
{
	static _Thread_local uint8_t buf[MAX_NOISE + MAX_PAYLOAD];

	fill(buf, size, seed);
	sqlite3_bind_blob(st, i, buf, (int)size, SQLITE_TRANSIENT);
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Transaction n of writer w (the rng r at its start), without BEGIN/COMMIT. */
static int txn_body(sqlite3 *db, struct rng *r, uint64_t seed, int w, uint64_t n)
{
	sqlite3_stmt *ins = NULL, *cnt = NULL, *put = NULL, *del = NULL;
	struct noise_op ops[8];
	uint64_t ps = payload_seed(seed, w, n);
	int count = plan_noise(r, ops), rc;

	rc = sqlite3_prepare_v2(db, "INSERT INTO acked (w, n, payload) VALUES (?, ?, ?)", -1, &ins,
				NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO counter (w, n) VALUES (?, ?)", -1,
					&cnt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO noise (k, v) VALUES (?, ?)", -1,
					&put, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "DELETE FROM noise WHERE k = ?", -1, &del, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int(ins, 1, w);
		sqlite3_bind_int64(ins, 2, (sqlite3_int64)n);
		bind_blob(ins, 3, payload_size(ps), ps);
		rc = step_done(ins);
	}
	if (rc == SQLITE_OK) {
		sqlite3_bind_int(cnt, 1, w);
		sqlite3_bind_int64(cnt, 2, (sqlite3_int64)n);
		rc = step_done(cnt);
	}
	for (int i = 0; i < count && rc == SQLITE_OK; i++) {
		int k = w * NOISE_SLOTS + ops[i].slot;

		if (ops[i].size == 0) {
			sqlite3_bind_int(del, 1, k);
			rc = step_done(del);
		} else {
			sqlite3_bind_int(put, 1, k);
			bind_blob(put, 2, ops[i].size, ops[i].seed);
			rc = step_done(put);
		}
	}
	if (rc != SQLITE_OK)
		fprintf(stderr, "sqlvfs_crash: writer %d txn %llu: %s (%s)\n", w,
			(unsigned long long)n, sqlite3_errmsg(db), cas_sqlvfs_last_error());
	sqlite3_finalize(ins);
	sqlite3_finalize(cnt);
	sqlite3_finalize(put);
	sqlite3_finalize(del);
	return rc;
}

static const char schema[] =
	"BEGIN;"
	"CREATE TABLE IF NOT EXISTS acked (w INTEGER NOT NULL, n INTEGER NOT NULL,"
	" payload BLOB NOT NULL, PRIMARY KEY (w, n));"
	"CREATE TABLE IF NOT EXISTS counter (w INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS noise (k INTEGER PRIMARY KEY, v BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS noise_len ON noise (length(v));"
	"COMMIT";

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	struct rng r = { wr->seed * 31u + (uint64_t)wr->id };
	sqlite3 *db = NULL;

	wr->ok = 0;
	if (open_db(&db) != SQLITE_OK)
		goto out;
	for (uint64_t n = 1;; n++) {
		turn_enter(wr->id);
		if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
			goto out;
		turn_got_lock();
		if (txn_body(db, &r, wr->seed, wr->id, n) != SQLITE_OK)
			goto out;
		wr->prog->committing = n;
		if (exec(db, "COMMIT") != SQLITE_OK)
			goto out;
		wr->prog->committed = n;
		turn_done(wr->id);
		pthread_mutex_lock(&out_mu);
		printf("ack %d %llu\n", wr->id, (unsigned long long)n);
		fflush(stdout);
		pthread_mutex_unlock(&out_mu);
		if (n % VACUUM_EVERY == 0 && exec(db, "VACUUM") != SQLITE_OK)
			goto out;
		if (n % COMPACT_EVERY == 0 && shelter_volume_compact(wr->vol, NULL) < 0) {
			fprintf(stderr, "sqlvfs_crash: compact failed\n");
			goto out;
		}
	}
out:
	sqlite3_close(db);
	return NULL;
}

static int do_write(struct shelter_volume *vol, uint64_t seed, int writers,
		    struct progress *prog)
{
	struct writer w[MAX_WRITERS];
	pthread_t t[MAX_WRITERS];
	sqlite3 *db = NULL;
	char q[64];

	if (open_db(&db) != SQLITE_OK)
		return 2;
	snprintf(q, sizeof(q), "PRAGMA journal_mode=%s", mode);
	if (exec(db, q) != SQLITE_OK || exec(db, schema) != SQLITE_OK)
		return 2;
	/* WAL with exclusive locking admits one connection: the writer takes it over */
	sqlite3_close(db);
	printf("mode %s %s\n", mode, sync_level);
	fflush(stdout);
	for (int i = 0; i < writers; i++) {
		w[i] = (struct writer){ .id = i, .seed = seed, .vol = vol, .prog = &prog[i] };
		if (pthread_create(&t[i], NULL, writer_main, &w[i]) != 0)
			return 2;
	}
	for (int i = 0; i < writers; i++)
		pthread_join(t[i], NULL);
	fprintf(stderr, "sqlvfs_crash: a writer stopped\n");
	return 1;
}

/* Replay writer w's model for k transactions and compare with the database. */
static int check_writer(sqlite3 *db, uint64_t seed, int w, uint64_t k)
{
	static uint8_t want[MAX_NOISE + MAX_PAYLOAD];
	struct slot slots[NOISE_SLOTS] = { 0 };
	struct rng r = { seed * 31u + (uint64_t)w };
	sqlite3_stmt *st = NULL;
	uint64_t n = 0;
	int rc, bad = 0;

	rc = sqlite3_prepare_v2(db, "SELECT n, payload FROM acked WHERE w = ? ORDER BY n", -1, &st,
				NULL);
	sqlite3_bind_int(st, 1, w);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t ps = payload_seed(seed, w, ++n);
		size_t size = payload_size(ps);

		fill(want, size, ps);
		if ((uint64_t)sqlite3_column_int64(st, 0) != n ||
		    (size_t)sqlite3_column_bytes(st, 1) != size ||
		    memcmp(sqlite3_column_blob(st, 1), want, size) != 0) {
			fprintf(stderr, "writer %d: row %lld is not transaction %llu's\n", w,
				sqlite3_column_int64(st, 0), (unsigned long long)n);
			bad = 1;
			break;
		}
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (!bad && rc != SQLITE_DONE) {
		fprintf(stderr, "writer %d: reading rows: %s\n", w, sqlite3_errmsg(db));
		return -1;
	}
	if (bad || n != k) {
		fprintf(stderr, "writer %d: %llu rows, counter says %llu\n", w,
			(unsigned long long)n, (unsigned long long)k);
		return -1;
	}
	for (uint64_t i = 1; i <= k; i++) {
		struct noise_op ops[8];
		int count = plan_noise(&r, ops);

		for (int j = 0; j < count; j++)
			slots[ops[j].slot] = (struct slot){ ops[j].size, ops[j].seed };
	}
	rc = sqlite3_prepare_v2(db, "SELECT v FROM noise WHERE k = ?", -1, &st, NULL);
	for (int s = 0; s < NOISE_SLOTS && rc == SQLITE_OK; s++) {
		sqlite3_reset(st);
		sqlite3_bind_int(st, 1, w * NOISE_SLOTS + s);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE && slots[s].size == 0) {
			rc = SQLITE_OK;
			continue;
		}
		if (rc != SQLITE_ROW)
			break;
		fill(want, slots[s].size, slots[s].seed);
		if ((uint32_t)sqlite3_column_bytes(st, 0) != slots[s].size ||
		    memcmp(sqlite3_column_blob(st, 0), want, slots[s].size) != 0)
			break;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "writer %d: noise table differs from the model after %llu (%s)\n",
			w, (unsigned long long)k, sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static int integrity_ok(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int ok = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
		 sqlite3_step(st) == SQLITE_ROW &&
		 strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;

	if (!ok)
		fprintf(stderr, "integrity_check: %s (%s)\n",
			st && sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
							 : sqlite3_errmsg(db),
			cas_sqlvfs_last_error());
	sqlite3_finalize(st);
	return ok;
}

static int counter_of(sqlite3 *db, int w, uint64_t *k)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT n FROM counter WHERE w = ?", -1, &st, NULL);

	*k = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_int(st, 1, w);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*k = (uint64_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return 0;
	fprintf(stderr, "counter of writer %d: %s (%s)\n", w, sqlite3_errmsg(db),
		cas_sqlvfs_last_error());
	return -1;
}

static int has_schema(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int n = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", -1,
			       &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (n != 0 && n != 3)
		fprintf(stderr, "schema: %d tables, want 0 or 3 (it is one transaction)\n", n);
	return n != 0;
}

/* A non-empty journal or WAL: SQLite has to roll back or recover. */
static int hot_left(struct shelter_volume *vol)
{
	struct shelter_stat st;

	if (shelter_volume_stat(vol, "/cas.db-journal", &st, NULL) == 0 && st.size > 0 &&
	    strcmp(mode, "PERSIST") != 0)
		return 1;
	return shelter_volume_stat(vol, "/cas.db-wal", &st, NULL) == 0 && st.size > 0;
}

static int do_check(struct shelter_volume *vol, uint64_t seed, int writers,
		    const struct progress *prog, char **acked)
{
	char result[512];
	sqlite3 *db = NULL;
	uint64_t k[MAX_WRITERS];
	int hot = hot_left(vol), fail = 0;
	size_t used;

	if (open_db(&db) != SQLITE_OK)
		return 1;
	if (!integrity_ok(db))
		fail = 1;
	/* killed before the schema's transaction committed: then no COMMIT of the
	 * writers can have returned either; create it and go on from k = 0 */
	if (!fail && !has_schema(db)) {
		for (int w = 0; w < writers; w++)
			if (prog[w].committing != 0) {
				fprintf(stderr, "no schema, but writer %d began a COMMIT\n", w);
				fail = 1;
			}
		fail = fail || exec(db, schema) != SQLITE_OK;
	}
	used = (size_t)snprintf(result, sizeof(result), "mode=%s/%s hot=%d", mode, sync_level,
				hot);
	for (int w = 0; w < writers && !fail; w++) {
		uint64_t a = strtoull(acked[w], NULL, 10), done = prog[w].committed;
		int inflight = prog[w].committing > done;

		if (counter_of(db, w, &k[w]) < 0 || check_writer(db, seed, w, k[w]) < 0) {
			fail = 1;
			break;
		}
		if (k[w] < a) {
			fprintf(stderr, "LOST ACKNOWLEDGED: writer %d acked %llu, has %llu\n", w,
				(unsigned long long)a, (unsigned long long)k[w]);
			fail = 1;
		} else if (k[w] != done && !(inflight && k[w] == done + 1)) {
			fprintf(stderr, "writer %d: has %llu; COMMIT returned for %llu, %s\n", w,
				(unsigned long long)k[w], (unsigned long long)done,
				inflight ? "and the next was in flight" : "none in flight");
			fail = 1;
		}
		used += (size_t)snprintf(result + used, sizeof(result) - used, " %d:%llu:%llu:%d", w,
					 (unsigned long long)a, (unsigned long long)k[w], inflight);
	}
	/* still usable: one more transaction of writer 0, then read back after reopen */
	if (!fail) {
		struct rng r = { seed * 31u };

		for (uint64_t i = 1; i <= k[0]; i++) {
			struct noise_op ops[8];

			plan_noise(&r, ops);
		}
		fail = exec(db, "BEGIN IMMEDIATE") != SQLITE_OK ||
		       txn_body(db, &r, seed, 0, k[0] + 1) != SQLITE_OK ||
		       exec(db, "COMMIT") != SQLITE_OK;
	}
	if (sqlite3_close(db) != SQLITE_OK)
		fail = 1;
	db = NULL;
	if (!fail) {
		fail = open_db(&db) != SQLITE_OK || !integrity_ok(db) ||
		       check_writer(db, seed, 0, k[0] + 1) < 0;
		sqlite3_close(db);
	}
	printf("RESULT %s %s\n", fail ? "fail" : "ok", result);
	return fail;
}

int main(int argc, char **argv)
{
	uint8_t key[SHELTER_VOLUME_KEY_SIZE];
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	struct progress *prog;
	uint64_t seed;
	int writers, rc;

	if (argc == 4 && strcmp(argv[1], "create") == 0) {
		if (read_key(argv[3], key) < 0 || shelter_volume_create(argv[2], key, &err) < 0)
			return 2;
		return 0;
	}
	if (argc < 7 || (strcmp(argv[1], "write") != 0 && strcmp(argv[1], "check") != 0)) {
		fprintf(stderr, "usage: sqlvfs_crash create VOLDIR KEYFILE\n"
				"       sqlvfs_crash write VOLDIR KEYFILE SEED WRITERS PROGRESS\n"
				"       sqlvfs_crash check VOLDIR KEYFILE SEED WRITERS PROGRESS ACKED...\n");
		return 2;
	}
	seed = strtoull(argv[4], NULL, 10);
	writers = atoi(argv[5]);
	mode = modes[(seed / 4) % 4]; /* not seed % 4: the script picks kill modes by i % 4 */
	sync_level = syncs[(seed / 16) % 3];
	if (strcmp(mode, "WAL") == 0)
		writers = 1; /* exclusive locking: one connection */
	if (writers < 1 || writers > MAX_WRITERS || (strcmp(argv[1], "check") == 0 &&
						      argc < 7 + writers))
		return 2;
	prog = map_progress(argv[6]);
	if (prog == NULL || read_key(argv[3], key) < 0)
		return 2;
	if (shelter_volume_open(argv[2], key, NULL, &vol, &err) < 0) {
		fprintf(stderr, "open volume: %s\n", err.msg);
		printf("RESULT fail volume\n");
		return 1;
	}
	if (cas_sqlvfs_register(VFS_NAME, vol, &err) < 0) {
		fprintf(stderr, "register: %s\n", err.msg);
		return 2;
	}
	if (strcmp(argv[1], "write") == 0)
		rc = do_write(vol, seed, writers, prog);
	else
		rc = do_check(vol, seed, writers, prog, argv + 7);
	if (cas_sqlvfs_unregister(VFS_NAME) != 0)
		rc = rc ? rc : 1;
	shelter_volume_close(vol);
	munmap(prog, MAX_WRITERS * sizeof(struct progress));
	return rc;
}
