/* The CAS store (src/cas/store.h; docs/formats/cas-store.md §2): jobs, their
 * savepoints, group commit from several threads, compaction every 1,024 commits,
 * reopening at the tag written at close, and refusing an older store. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cas/store.h"
#include "shelter/crypto.h"
#include "../files.h"
#include "../test.h"

static char dir[256];
static uint8_t key[32];

static int put_job(sqlite3 *db, void *arg, struct shelter_err *err)
{
	char name[32];

	snprintf(name, sizeof(name), "k%d", *(int *)arg);
	return cas_meta_put(db, name, name, strlen(name), err);
}

/* Writes, then fails: its savepoint must roll its write back, and only its own. */
static int failing_job(sqlite3 *db, void *arg, struct shelter_err *err)
{
	(void)arg;
	if (cas_meta_put(db, "doomed", "x", 1, err) < 0)
		return -1;
	return shelter_err_set(err, SHELTER_E_CONFLICT, "this job fails on purpose");
}

struct get {
	const char *name;
	char value[64];
};

static int get_job(sqlite3 *db, void *arg, struct shelter_err *err)
{
	struct get *g = arg;
	uint8_t *v = NULL;
	size_t n = 0;
	int rc = cas_meta_get(db, g->name, &v, &n, err);

	if (rc == 0)
		snprintf(g->value, sizeof(g->value), "%.*s", (int)n, (const char *)v);
	free(v);
	return rc;
}

static void *writer(void *arg)
{
	struct cas_store *st = arg;

	for (int i = 0; i < 300; i++) {
		int id = 10000 + i;

		if (cas_store_run(st, put_job, &id, NULL) < 0)
			return (void *)1;
	}
	return NULL;
}

static void store_jobs_commit_compact_reopen(void)
{
	struct cas_store *st = NULL;
	struct cas_store_stats stats;
	struct shelter_err err;
	struct get g = { .name = "k1099" };
	uint8_t tag[32], old_tag[32];
	pthread_t t[3];
	void *ret;
	int id;

	CHECK_OK(cas_store_open(dir, key, NULL, &st, NULL));
	CHECK_RC(cas_store_run(st, failing_job, NULL, &err), SHELTER_E_CONFLICT);
	for (id = 0; id < 1100; id++)
		CHECK_OK(cas_store_run(st, put_job, &id, NULL));
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&t[i], NULL, writer, st) == 0);
	for (int i = 0; i < 3; i++) {
		CHECK(pthread_join(t[i], &ret) == 0);
		CHECK(ret == NULL);
	}
	cas_store_stats(st, &stats);
	CHECK(stats.jobs == 1 + 1100 + 900);
	/* three writers shared commits; one compaction at commit 1,024 at least */
	CHECK(stats.commits <= stats.jobs);
	CHECK(stats.compactions >= 1 && stats.compaction_failures == 0);
	CHECK_OK(cas_store_close(st, old_tag, NULL));
	CHECK(system("cp -a \"$SHELTER_TEST_STORE/volume\" \"$SHELTER_TEST_STORE/volume.old\"") == 0);

	/* reopen at the tag written at close: every acknowledged job is there */
	CHECK_OK(cas_store_open(dir, key, old_tag, &st, NULL));
	CHECK_OK(cas_store_run(st, get_job, &g, NULL));
	CHECK(strcmp(g.value, "k1099") == 0);
	g.name = "k10299";
	CHECK_OK(cas_store_run(st, get_job, &g, NULL));
	g.name = "doomed";
	CHECK_RC(cas_store_run(st, get_job, &g, NULL), SHELTER_E_NOENT);
	id = 5;
	CHECK_OK(cas_store_run(st, put_job, &id, NULL));
	CHECK_OK(cas_store_close(st, tag, NULL));

	/* the store of before that last write, opened against the newer tag: stale */
	CHECK(system("rm -rf \"$SHELTER_TEST_STORE/volume\" && mv \"$SHELTER_TEST_STORE/volume.old\" "
		     "\"$SHELTER_TEST_STORE/volume\"") == 0);
	CHECK_RC(cas_store_open(dir, key, tag, &st, &err), SHELTER_E_STALE);
	CHECK(st == NULL);
	/* and a wrong key is told apart */
	key[0] ^= 1;
	CHECK_RC(cas_store_open(dir, key, NULL, &st, &err), SHELTER_E_BADKEY);
	key[0] ^= 1;
	CHECK_OK(cas_store_open(dir, key, old_tag, &st, NULL));
	CHECK_OK(cas_store_close(st, NULL, NULL));
}

static void store_missing_with_tag_refused(void)
{
	struct cas_store *st = NULL;
	char empty[300];
	uint8_t tag[32] = { 1 };

	test_join(empty, sizeof(empty), dir, "nothing-here");
	CHECK_RC(cas_store_open(empty, key, tag, &st, NULL), SHELTER_E_MISSING);
	CHECK(st == NULL);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	test_binary = "test_cas_store";
	snprintf(dir, sizeof(dir), "%s/shelter-test-store-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL || shelter_random_bytes(key, sizeof(key), NULL) < 0)
		return 2;
	setenv("SHELTER_TEST_STORE", dir, 1);
	RUN(store_missing_with_tag_refused);
	RUN(store_jobs_commit_compact_reopen);
	test_rm_tree(dir);
	return test_total_failed ? 1 : 0;
}
