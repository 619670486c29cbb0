/* The CAS audit trail (docs/api/cas.md §7): chains link, and a reader holding a
 * listing detects every edit, removal, reordering or cut at the front. */
#include <sqlite3.h>

#include "cas/audit.h"
#include "cas/store.h"
#include "shelter/crypto.h"
#include "../test.h"

static sqlite3 *db;

static void setup_db(void)
{
	cas_sql_cache_clear(db);
	sqlite3_close(db);
	db = NULL;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
	    sqlite3_exec(db,
			 "CREATE TABLE audit (chain TEXT NOT NULL, seq INTEGER NOT NULL,"
			 " entry TEXT NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (chain, seq));",
			 NULL, NULL, NULL) != SQLITE_OK)
		abort();
}

/* A chain "s" of n entries, interleaved with another chain that must not matter. */
static json_t *chain_of(int n)
{
	json_t *list = NULL;

	setup_db();
	for (int i = 0; i < n; i++) {
		json_t *d = json_pack("{s:i, s:s}", "i", i, "note", "x\"y\\z\n");

		if (cas_audit_append(db, "s", "test.event", d, NULL) < 0 ||
		    cas_audit_append(db, "other", "noise", NULL, NULL) < 0)
			abort();
		json_decref(d);
	}
	if (cas_audit_list(db, "s", 0, 1000, &list, NULL) < 0)
		abort();
	return list;
}

static void test_chain_verifies(void)
{
	json_t *list = chain_of(5), *first;

	CHECK(json_array_size(list) == 5);
	CHECK_OK(cas_audit_verify(list, NULL, NULL));
	first = json_loads(json_string_value(json_object_get(json_array_get(list, 0), "entry")), 0,
			   NULL);
	CHECK(json_integer_value(json_object_get(first, "seq")) == 1);
	CHECK(strcmp(json_string_value(json_object_get(first, "chain")), "s") == 0);
	CHECK(strspn(json_string_value(json_object_get(first, "prev")), "0") == 64);
	json_decref(first);
	json_decref(list);
}

static void test_edit_detected(void)
{
	json_t *list = chain_of(4), *item = json_array_get(list, 2);
	char *text = strdup(json_string_value(json_object_get(item, "entry")));
	struct shelter_err err;

	/* Change the event, keep everything else: the hash no longer matches. */
	memcpy(strstr(text, "test.event"), "best", 4);
	json_object_set_new(item, "entry", json_string(text));
	CHECK_RC(cas_audit_verify(list, NULL, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "entry 3") != NULL);
	free(text);
	json_decref(list);
}

static void test_rehashed_edit_detected(void)
{
	json_t *list = chain_of(4), *item = json_array_get(list, 1);
	char *text = strdup(json_string_value(json_object_get(item, "entry")));
	uint8_t h[32];
	char hex[65];

	/* An editor who also recomputes the entry's own hash breaks the next link. */
	memcpy(strstr(text, "test.event"), "best", 4);
	CHECK_OK(shelter_sha256(text, strlen(text), h, NULL));
	shelter_hex(h, 32, hex);
	json_object_set_new(item, "entry", json_string(text));
	json_object_set_new(item, "hash", json_string(hex));
	CHECK_RC(cas_audit_verify(list, NULL, NULL), SHELTER_E_INTEGRITY);
	free(text);
	json_decref(list);
}

static void test_removal_and_reorder_detected(void)
{
	json_t *list = chain_of(5), *moved;

	CHECK_OK(json_array_remove(list, 2));
	CHECK_RC(cas_audit_verify(list, NULL, NULL), SHELTER_E_INTEGRITY);
	json_decref(list);
	list = chain_of(5);
	moved = json_incref(json_array_get(list, 1));
	CHECK_OK(json_array_remove(list, 1));
	CHECK_OK(json_array_insert_new(list, 3, moved));
	CHECK_RC(cas_audit_verify(list, NULL, NULL), SHELTER_E_INTEGRITY);
	json_decref(list);
}

static void test_front_cut_detected(void)
{
	json_t *list = chain_of(3);

	/* A listing starting at seq 1 must link to the zero hash; one that starts later
	 * is checked against the hash the reader already holds. */
	CHECK_OK(json_array_remove(list, 0));
	CHECK_OK(cas_audit_verify(list, NULL, NULL));
	CHECK_RC(cas_audit_verify(list, "00", NULL), SHELTER_E_INTEGRITY);
	json_decref(list);
}

static void test_list_after(void)
{
	json_t *list = chain_of(6), *tail = NULL;
	const char *h2 = json_string_value(json_object_get(json_array_get(list, 1), "hash"));

	CHECK_OK(cas_audit_list(db, "s", 2, 1000, &tail, NULL));
	CHECK(json_array_size(tail) == 4);
	CHECK_OK(cas_audit_verify(tail, h2, NULL));
	json_decref(tail);
	CHECK_OK(cas_audit_list(db, "s", 0, 2, &tail, NULL));
	CHECK(json_array_size(tail) == 2);
	json_decref(tail);
	json_decref(list);
}

int main(void)
{
	test_binary = "test_cas_audit";
	RUN(test_chain_verifies);
	RUN(test_edit_detected);
	RUN(test_rehashed_edit_detected);
	RUN(test_removal_and_reorder_detected);
	RUN(test_front_cut_detected);
	RUN(test_list_after);
	cas_sql_cache_clear(db);
	sqlite3_close(db);
	return test_total_failed ? 1 : 0;
}
