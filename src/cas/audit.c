/* CAS audit trail: per-chain hash-linked entries (audit.h; docs/api/cas.md §7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cas/audit.h"
#include "cas/store.h"
#include "shelter/crypto.h"

#define ZERO_HASH_HEX "0000000000000000000000000000000000000000000000000000000000000000"

void cas_now_rfc3339(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

/* Head of chain: last seq and hash (seq 0 and the zero hash for an empty chain). */
static int chain_head(sqlite3 *db, const char *chain, long long *seq, uint8_t hash[32],
		      struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cas_sql_prepare(db,
				 "SELECT seq, hash FROM audit WHERE chain = ? ORDER BY seq DESC LIMIT 1",
				 &st, err);

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, chain, -1, SQLITE_STATIC);
	*seq = 0;
	memset(hash, 0, 32);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*seq = sqlite3_column_int64(st, 0);
		if (sqlite3_column_bytes(st, 1) != 32) {
			rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
					     "audit chain '%s': entry %lld has a bad hash", chain, *seq);
			break;
		}
		memcpy(hash, sqlite3_column_blob(st, 1), 32);
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = cas_sql_fail(db, "read audit chain", err);
	}
	cas_sql_done(st);
	return rc;
}

int cas_audit_append(sqlite3 *db, const char *chain, const char *event, json_t *detail,
		     struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	json_t *entry = NULL;
	char *text = NULL, prev_hex[65], now[40];
	uint8_t prev[32], hash[32];
	long long seq;
	int rc;

	rc = chain_head(db, chain, &seq, prev, err);
	if (rc < 0)
		return rc;
	shelter_hex(prev, 32, prev_hex);
	cas_now_rfc3339(now, sizeof(now));
	/* The hashed text is the compact, key-sorted JSON: one canonical form that any
	 * reader can recompute (cas.md §7). */
	entry = json_pack("{s:I, s:s, s:s, s:s, s:O, s:s}", "seq", (json_int_t)(seq + 1),
			  "time", now, "chain", chain, "event", event, "detail",
			  detail ? detail : json_null(), "prev", prev_hex);
	if (entry == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "audit entry");
		goto out;
	}
	text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	if (text == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "audit entry");
		goto out;
	}
	rc = shelter_sha256(text, strlen(text), hash, err);
	if (rc < 0)
		goto out;
	rc = cas_sql_prepare(db, "INSERT INTO audit (chain, seq, entry, hash) VALUES (?, ?, ?, ?)",
			     &st, err);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, chain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq + 1);
	sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, hash, 32, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = cas_sql_fail(db, "append audit entry", err);
out:
	cas_sql_done(st);
	free(text);
	json_decref(entry);
	return rc;
}

int cas_audit_list(sqlite3 *db, const char *chain, long long after, int limit, json_t **out,
		   struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array();
	int rc, step;

	*out = NULL;
	if (arr == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "audit list");
	rc = cas_sql_prepare(db,
			     "SELECT seq, entry, hash FROM audit WHERE chain = ? AND seq > ?"
			     " ORDER BY seq LIMIT ?",
			     &st, err);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, chain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int(st, 3, limit);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		char hex[65];

		if (sqlite3_column_bytes(st, 2) != 32) {
			rc = shelter_err_set(err, SHELTER_E_INTEGRITY, "audit chain '%s': bad hash",
					     chain);
			goto out;
		}
		shelter_hex(sqlite3_column_blob(st, 2), 32, hex);
		if (json_array_append_new(arr, json_pack("{s:I, s:s, s:s}", "seq",
							 (json_int_t)sqlite3_column_int64(st, 0),
							 "entry", (const char *)sqlite3_column_text(st, 1),
							 "hash", hex)) != 0) {
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "audit list");
			goto out;
		}
	}
	if (step != SQLITE_DONE) {
		rc = cas_sql_fail(db, "read audit chain", err);
		goto out;
	}
	*out = arr;
	arr = NULL;
out:
	cas_sql_done(st);
	json_decref(arr);
	return rc;
}

/* One entry of a listing: the hash must be SHA-256 of the text, the text's prev
 * the previous hash, its seq the listed seq. */
static int verify_one(json_t *item, const char *want_prev, char prev_out[65],
		      struct shelter_err *err)
{
	const char *text = json_string_value(json_object_get(item, "entry"));
	const char *hash_hex = json_string_value(json_object_get(item, "hash"));
	json_int_t seq = json_integer_value(json_object_get(item, "seq"));
	json_t *entry = NULL;
	uint8_t hash[32];
	char hex[65];
	int rc = 0;

	if (text == NULL || hash_hex == NULL)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "audit entry %lld: fields missing",
				       (long long)seq);
	rc = shelter_sha256(text, strlen(text), hash, err);
	if (rc < 0)
		return rc;
	shelter_hex(hash, 32, hex);
	if (strcmp(hex, hash_hex) != 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "audit entry %lld: hash does not match its text",
				       (long long)seq);
	entry = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (entry == NULL || json_integer_value(json_object_get(entry, "seq")) != seq ||
	    json_string_value(json_object_get(entry, "prev")) == NULL) {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "audit entry %lld: bad text",
				     (long long)seq);
		goto out;
	}
	if (want_prev != NULL &&
	    strcmp(json_string_value(json_object_get(entry, "prev")), want_prev) != 0) {
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
				     "audit entry %lld: does not follow the entry before it",
				     (long long)seq);
		goto out;
	}
	memcpy(prev_out, hex, 65);
out:
	json_decref(entry);
	return rc;
}

int cas_audit_verify(json_t *entries, const char *first_prev_hex, struct shelter_err *err)
{
	char prev[65];
	const char *want = first_prev_hex;
	size_t i;
	json_t *item;

	if (!json_is_array(entries))
		return shelter_err_set(err, SHELTER_E_MALFORMED, "audit: not a list");
	json_array_foreach(entries, i, item) {
		int rc = verify_one(item, i == 0 && want == NULL ? NULL : want, prev, err);

		if (rc < 0)
			return rc;
		if (i == 0 && want == NULL &&
		    json_integer_value(json_object_get(item, "seq")) == 1) {
			/* The first entry of a chain must link to the zero hash. */
			rc = verify_one(item, ZERO_HASH_HEX, prev, err);
			if (rc < 0)
				return rc;
		}
		want = prev;
	}
	return 0;
}
