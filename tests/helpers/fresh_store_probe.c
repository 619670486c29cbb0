/* fresh_store_probe: the freshness store API (src/freshness/store.h) from the outside,
 * for tests/integration/freshness_etcd.sh. SPEC is any store spec: "sqlite:PATH" or
 * "etcd:http://HOST:PORT[,...]".
 *
 *   fresh_store_probe check SPEC            the contract of store.h, one line per
 *                                           check: "ok NAME" or "bad NAME: detail"
 *   fresh_store_probe incr SPEC KEY N       N successful compare-and-swap increments of
 *                                           the decimal counter at KEY; prints
 *                                           "incremented N conflicts C"
 *   fresh_store_probe get SPEC KEY          prints "version V value TEXT"
 *   fresh_store_probe put SPEC KEY EXPECT TEXT   prints "version V"
 *   fresh_store_probe bench SPEC N          N sequential puts of 32 bytes on one key;
 *                                           prints "median_us M p90_us P"
 * Exits 0 when everything held, 1 otherwise (the error on stderr), 2 on usage. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "freshness/store.h"

static int failed;

static void report(int ok, const char *name, const char *detail)
{
	if (ok) {
		printf("ok %s\n", name);
	} else {
		printf("bad %s: %s\n", name, detail);
		failed = 1;
	}
	fflush(stdout);
}

static struct fresh_store *open_or_die(const char *spec)
{
	struct fresh_store *s = NULL;
	struct shelter_err err;

	shelter_err_clear(&err);
	if (fresh_store_open(spec, &s, &err) < 0) {
		fprintf(stderr, "fresh_store_probe: open %s: %s\n", spec, err.msg);
		exit(1);
	}
	return s;
}

/* put val at key (expect), read it back: the same bytes at version expect + 1 */
static int round_trip(struct fresh_store *s, const char *key, const uint8_t *val, size_t len,
		      uint64_t expect, struct shelter_err *err)
{
	uint8_t *got = NULL;
	size_t glen = 0;
	uint64_t v = 0, v2 = 0;
	int rc = fresh_store_put(s, key, val, len, expect, &v, err);

	if (rc == 0)
		rc = fresh_store_get(s, key, &got, &glen, &v2, err);
	if (rc == 0 && (v != expect + 1 || v2 != v || glen != len ||
			(len > 0 && memcmp(got, val, len) != 0)))
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY, "read back %zu bytes at version %"
				     PRIu64 "/%" PRIu64 ", wrote %zu", glen, v, v2, len);
	free(got);
	return rc;
}

static void check_specs(void)
{
	static const char *bad[] = { "etcd:", "etcd:https://127.0.0.1:2379", "etcd:http://h",
				     "etcd:http://h:0", "etcd:http://h:1/v3", "etcd:http://h:1,",
				     "sqlite:", "postgres://x" };
	struct fresh_store *s = NULL;
	char detail[300] = "";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct shelter_err err;
		int rc;

		shelter_err_clear(&err);
		rc = fresh_store_open(bad[i], &s, &err);
		if (rc != SHELTER_E_INVAL || s != NULL)
			snprintf(detail, sizeof(detail), "'%s' gave %d", bad[i], rc);
		fresh_store_close(s);
		s = NULL;
	}
	report(detail[0] == '\0', "bad_specs_refused", detail);
}

static void check_cas(struct fresh_store *s, const char *pre)
{
	struct shelter_err err;
	uint8_t *val = NULL;
	size_t len = 0;
	uint64_t v = 0;
	char key[100];
	int rc;

	snprintf(key, sizeof(key), "%s/cas", pre);
	shelter_err_clear(&err);
	rc = fresh_store_get(s, key, &val, &len, &v, &err);
	report(rc == SHELTER_E_NOENT && val == NULL && v == 0, "get_absent_noent", err.msg);
	rc = fresh_store_put(s, key, (const uint8_t *)"one", 3, 0, &v, &err);
	report(rc == 0 && v == 1, "put_expect_0_gives_version_1", err.msg);
	shelter_err_clear(&err);
	rc = fresh_store_put(s, key, (const uint8_t *)"two", 3, 0, &v, &err);
	report(rc == SHELTER_E_CONFLICT && strstr(err.msg, key) != NULL,
	       "put_expect_0_again_conflicts", err.msg[0] ? err.msg : "no conflict");
	rc = fresh_store_put(s, key, (const uint8_t *)"two", 3, 1, &v, &err);
	report(rc == 0 && v == 2, "put_expect_1_gives_version_2", err.msg);
	rc = fresh_store_get(s, key, &val, &len, &v, &err);
	report(rc == 0 && v == 2 && len == 3 && memcmp(val, "two", 3) == 0, "get_value_and_version_2",
	       err.msg);
	free(val);
	shelter_err_clear(&err);
	rc = fresh_store_put(s, key, (const uint8_t *)"ahead", 5, 7, &v, &err);
	report(rc == SHELTER_E_CONFLICT, "put_expect_ahead_conflicts", err.msg);
}

static void check_values(struct fresh_store *s, const char *pre)
{
	struct shelter_err err;
	uint8_t small[256], *big = malloc(4u << 20);
	char key[100], detail[SHELTER_ERR_MSG_SIZE + 40] = "";
	int rc = 0;

	shelter_err_clear(&err);
	/* every base64 padding case (0, 1, 2 '='), with zero bytes in each */
	for (size_t n = 0; n < sizeof(small); n++)
		small[n] = (uint8_t)(n % 3 == 0 ? 0 : n * 37);
	for (size_t n = 0; n <= 7 && rc == 0; n++) {
		snprintf(key, sizeof(key), "%s/bin/%zu", pre, n);
		rc = round_trip(s, key, small, n, 0, &err);
		if (rc < 0)
			snprintf(detail, sizeof(detail), "%zu bytes: %s", n, err.msg);
	}
	snprintf(key, sizeof(key), "%s/bin/256", pre);
	if (rc == 0 && (rc = round_trip(s, key, small, sizeof(small), 0, &err)) < 0)
		snprintf(detail, sizeof(detail), "256 bytes: %s", err.msg);
	report(rc == 0, "binary_values_round_trip", detail);
	rc = big != NULL && RAND_bytes(big, 4u << 20) == 1 ? 0 : -1;
	snprintf(key, sizeof(key), "%s/big", pre);
	if (rc == 0)
		rc = round_trip(s, key, big, 4u << 20, 0, &err);
	report(rc == 0, "value_4mib_round_trips", err.msg);
	free(big);
}

/* fresh_store_put_many: each op its own swap, a conflict stopping no other, deletes
 * whatever the version (and of an absent key) */
static void check_many(struct fresh_store *s, const char *pre)
{
	struct fresh_store_op ops[4];
	struct shelter_err err;
	char keys[4][100];
	uint8_t *val = NULL;
	size_t len = 0;
	uint64_t v = 0;
	int rc;

	for (int i = 0; i < 4; i++)
		snprintf(keys[i], sizeof(keys[i]), "%s/many/%d", pre, i);
	shelter_err_clear(&err);
	rc = fresh_store_put(s, keys[1], (const uint8_t *)"x", 1, 0, NULL, &err);
	memset(ops, 0, sizeof(ops));
	ops[0] = (struct fresh_store_op){ .key = keys[0], .val = (const uint8_t *)"a", .len = 1 };
	ops[1] = (struct fresh_store_op){ .key = keys[1], .val = (const uint8_t *)"b", .len = 1 };
	ops[2] = (struct fresh_store_op){ .key = keys[2], .del = 1 }; /* absent */
	ops[3] = (struct fresh_store_op){ .key = keys[3], .val = (const uint8_t *)"d", .len = 1 };
	if (rc == 0)
		rc = fresh_store_put_many(s, ops, 4, 1, &err);
	report(rc == 0 && ops[0].rc == 0 && ops[0].version == 1 &&
	       ops[1].rc == SHELTER_E_CONFLICT && ops[2].rc == 0 && ops[3].rc == 0,
	       "put_many_conflict_stops_no_other", err.msg);
	ops[0] = (struct fresh_store_op){ .key = keys[0], .del = 1 };
	ops[1] = (struct fresh_store_op){ .key = keys[1], .del = 1 };
	rc = fresh_store_put_many(s, ops, 2, 0, &err);
	report(rc == 0 && ops[0].rc == 0 && ops[1].rc == 0 &&
	       fresh_store_get(s, keys[0], &val, &len, &v, NULL) == SHELTER_E_NOENT &&
	       fresh_store_get(s, keys[1], &val, &len, &v, NULL) == SHELTER_E_NOENT,
	       "put_many_deletes", err.msg);
	rc = fresh_store_get(s, keys[3], &val, &len, &v, &err);
	report(rc == 0 && v == 1 && len == 1 && val[0] == 'd', "put_many_kept_the_others",
	       err.msg);
	free(val);
}

/* A batch larger than one etcd txn (64 ops) that names one key twice: every op its own
 * swap still, the second put of the key a conflict, every other value readable. */
static void check_many_large(struct fresh_store *s, const char *pre)
{
	enum { N = 150, AGAIN = 100 };
	struct fresh_store_op *ops = calloc(N, sizeof(*ops));
	char(*keys)[100] = calloc(N, sizeof(*keys));
	struct shelter_err err;
	int rc = ops != NULL && keys != NULL ? 0 : -1, ok = 1;

	shelter_err_clear(&err);
	for (int i = 0; rc == 0 && i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%s/large/%d", pre, i == AGAIN ? 7 : i);
		ops[i] = (struct fresh_store_op){ .key = keys[i], .val = (const uint8_t *)keys[i],
						  .len = strlen(keys[i]) };
	}
	if (rc == 0)
		rc = fresh_store_put_many(s, ops, N, 1, &err);
	for (int i = 0; rc == 0 && i < N; i++) {
		uint8_t *val = NULL;
		size_t len = 0;
		uint64_t v = 0;

		if (i == AGAIN) {
			ok &= ops[i].rc == SHELTER_E_CONFLICT;
			continue;
		}
		ok &= ops[i].rc == 0 && ops[i].version == 1 &&
		      fresh_store_get(s, keys[i], &val, &len, &v, NULL) == 0 && v == 1 &&
		      len == strlen(keys[i]) && memcmp(val, keys[i], len) == 0;
		free(val);
	}
	report(rc == 0 && ok, "put_many_150_ops_key_twice", err.msg);
	free(ops);
	free(keys);
}

static int cmd_check(const char *spec)
{
	struct fresh_store *s = open_or_die(spec);
	char pre[64];

	/* a prefix of its own, so runs never meet in a shared store */
	snprintf(pre, sizeof(pre), "probe/%ld.%d", (long)time(NULL), (int)getpid());
	check_specs();
	check_cas(s, pre);
	check_many(s, pre);
	check_many_large(s, pre);
	check_values(s, pre);
	fresh_store_close(s);
	return failed;
}

/* the counter at key and its version; 0 and 0 when absent */
static int read_counter(struct fresh_store *s, const char *key, uint64_t *count, uint64_t *version,
			struct shelter_err *err)
{
	uint8_t *val = NULL;
	size_t len = 0;
	char text[32];
	int rc = fresh_store_get(s, key, &val, &len, version, err);

	*count = 0;
	if (rc == SHELTER_E_NOENT)
		return 0;
	if (rc == 0 && (len == 0 || len >= sizeof(text)))
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "'%s' is no counter", key);
	if (rc == 0) {
		memcpy(text, val, len);
		text[len] = '\0';
		*count = strtoull(text, NULL, 10);
	}
	free(val);
	return rc;
}

static int cmd_incr(const char *spec, const char *key, unsigned long n)
{
	struct fresh_store *s = open_or_die(spec);
	struct shelter_err err;
	unsigned long done = 0, conflicts = 0;
	int rc = 0;

	shelter_err_clear(&err);
	while (done < n && rc == 0) {
		uint64_t count, version;
		char text[32];

		rc = read_counter(s, key, &count, &version, &err);
		snprintf(text, sizeof(text), "%" PRIu64, count + 1);
		if (rc == 0)
			rc = fresh_store_put(s, key, (const uint8_t *)text, strlen(text), version, NULL,
					     &err);
		if (rc == 0)
			done++;
		if (rc == SHELTER_E_CONFLICT) {
			conflicts++;
			rc = 0;
		}
	}
	fresh_store_close(s);
	if (rc < 0) {
		fprintf(stderr, "fresh_store_probe: incr %s: %s\n", key, err.msg);
		return 1;
	}
	printf("incremented %lu conflicts %lu\n", done, conflicts);
	return 0;
}

static int cmd_get(const char *spec, const char *key)
{
	struct fresh_store *s = open_or_die(spec);
	struct shelter_err err;
	uint8_t *val = NULL;
	size_t len = 0;
	uint64_t v = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fresh_store_get(s, key, &val, &len, &v, &err);
	if (rc == 0)
		printf("version %" PRIu64 " value %.*s\n", v, (int)len, (const char *)val);
	else
		fprintf(stderr, "fresh_store_probe: get %s: %s\n", key, err.msg);
	free(val);
	fresh_store_close(s);
	return rc == 0 ? 0 : 1;
}

static int cmd_put(const char *spec, const char *key, const char *expect, const char *text)
{
	struct fresh_store *s = open_or_die(spec);
	struct shelter_err err;
	uint64_t v = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fresh_store_put(s, key, (const uint8_t *)text, strlen(text),
			     strtoull(expect, NULL, 10), &v, &err);
	if (rc == 0)
		printf("version %" PRIu64 "\n", v);
	else
		fprintf(stderr, "fresh_store_probe: put %s: %s\n", key, err.msg);
	fresh_store_close(s);
	return rc == 0 ? 0 : 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmd_bench(const char *spec, unsigned long n)
{
	struct fresh_store *s = open_or_die(spec);
	struct shelter_err err;
	uint64_t *ns = calloc(n, sizeof(*ns)), version = 0;
	uint8_t val[32] = { 0 };
	char key[64];
	int rc = ns != NULL ? 0 : SHELTER_E_NOMEM;

	shelter_err_clear(&err);
	snprintf(key, sizeof(key), "probe/bench.%d", (int)getpid());
	for (unsigned long i = 0; i < n && rc == 0; i++) {
		uint64_t t0 = now_ns();

		memcpy(val, &i, sizeof(i));
		rc = fresh_store_put(s, key, val, sizeof(val), version, &version, &err);
		ns[i] = now_ns() - t0;
	}
	if (rc == 0) {
		qsort(ns, n, sizeof(*ns), cmp_u64);
		printf("median_us %" PRIu64 " p90_us %" PRIu64 "\n", ns[n / 2] / 1000,
		       ns[n * 9 / 10] / 1000);
	} else {
		fprintf(stderr, "fresh_store_probe: bench: %s\n", err.msg);
	}
	free(ns);
	fresh_store_close(s);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 2 ? argv[1] : "";

	if (strcmp(cmd, "check") == 0 && argc == 3)
		return cmd_check(argv[2]);
	if (strcmp(cmd, "incr") == 0 && argc == 5)
		return cmd_incr(argv[2], argv[3], strtoul(argv[4], NULL, 10));
	if (strcmp(cmd, "get") == 0 && argc == 4)
		return cmd_get(argv[2], argv[3]);
	if (strcmp(cmd, "put") == 0 && argc == 6)
		return cmd_put(argv[2], argv[3], argv[4], argv[5]);
	if (strcmp(cmd, "bench") == 0 && argc == 4 && atol(argv[3]) > 0)
		return cmd_bench(argv[2], strtoul(argv[3], NULL, 10));
	fprintf(stderr, "usage: fresh_store_probe check|incr|get|put|bench SPEC ...\n");
	return 2;
}
