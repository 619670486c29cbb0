/* log_tool: the verifiable log (include/shelter/log.h) from the outside, for the crash
 * and attack tests (tests/crash/log_crash.sh, tests/attacks/log_attacks.sh) and
 * bench/log. Uses a fixed test key: never a real log's.
 *
 *   log_tool append DIR COUNT THREADS [SYNC_EVERY]
 *                     THREADS threads append COUNT entries each ("t<T> n<K> <pid>"),
 *                     syncing every SYNC_EVERY (default 1) appends; after each sync
 *                     returns, prints "ack INDEX ENTRY" for every entry it covered
 *   log_tool check DIR ACKS
 *                     opens the log (cutting a torn tail) and checks every "ack" line
 *                     of the file ACKS: that index holds that entry; prints "size N"
 *   log_tool audit DIR [NOTE]   shelter_log_audit with the test key's verifier
 *   log_tool vkey               the test key's verifier key
 *   log_tool checkpoint DIR     a signed checkpoint of the log, on stdout
 *   log_tool bench DIR COUNT THREADS SIZE
 *                     COUNT appends of SIZE bytes per thread, each thread syncing
 *                     after every append; prints "entries N seconds S per_second R
 *                     sync_p50_us A sync_p99_us B"
 *   log_tool proofs DIR N       N inclusion proofs at the durable size, generated and
 *                     verified; prints "prove_us A verify_us B bytes C"
 * Exit: 0 success, 1 a check or call failed (the message on stderr), 2 usage. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shelter/crypto.h"
#include "shelter/log.h"

#define ORIGIN "test.shelter.example/log"
static const uint8_t SEED[32] = { 0x5e, 0x1f, 0x7e, 0x57 };

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static int fail(const char *what, const struct shelter_err *err)
{
	fprintf(stderr, "log_tool: %s: %s\n", what, err->msg);
	return 1;
}

static int open_log(const char *dir, struct shelter_log **log, struct shelter_err *err)
{
	struct shelter_log_options o = { .dir = dir, .origin = ORIGIN, .priv = SEED, .create = 1 };

	return shelter_log_open(&o, log, err);
}

static int verifier(struct shelter_log_verifier *v, struct shelter_err *err)
{
	uint8_t pub[32];
	char vk[512];
	int rc = shelter_ed25519_public(SEED, pub, err);

	if (rc == 0)
		rc = shelter_log_verifier_format(ORIGIN, pub, vk, sizeof(vk), err);
	if (rc == 0)
		rc = shelter_log_verifier_parse(vk, strlen(vk), v, err);
	return rc;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct job {
	struct shelter_log *log;
	int id, count, sync_every;
	size_t size; /* bench: entry size; 0: the append command's entries */
	double *lat;
	int rc;
	struct shelter_err err;
};

static void *append_job(void *p)
{
	struct job *j = p;
	char e[64], pending[1024][64];
	uint64_t idx[1024];
	int n = 0;

	for (int k = 0; k < j->count && j->rc == 0; k++) {
		snprintf(e, sizeof(e), "t%d n%d %d", j->id, k, (int)getpid());
		j->rc = shelter_log_append(j->log, e, strlen(e), &idx[n], &j->err);
		if (j->rc != 0)
			break;
		memcpy(pending[n++], e, sizeof(e));
		if (n < j->sync_every && k + 1 < j->count)
			continue;
		j->rc = shelter_log_sync(j->log, idx[n - 1], &j->err);
		if (j->rc != 0)
			break;
		pthread_mutex_lock(&out_mu);
		for (int i = 0; i < n; i++)
			printf("ack %" PRIu64 " %s\n", idx[i], pending[i]);
		fflush(stdout);
		pthread_mutex_unlock(&out_mu);
		n = 0;
	}
	return NULL;
}

static void *bench_job(void *p)
{
	struct job *j = p;
	uint8_t *e = malloc(j->size + 1);
	uint64_t idx;

	if (e == NULL) {
		j->rc = 1;
		return NULL;
	}
	memset(e, 'a' + j->id % 26, j->size);
	for (int k = 0; k < j->count && j->rc == 0; k++) {
		double t0 = now_s();

		j->rc = shelter_log_append(j->log, e, j->size, &idx, &j->err);
		if (j->rc == 0)
			j->rc = shelter_log_sync(j->log, idx, &j->err);
		j->lat[k] = now_s() - t0;
	}
	free(e);
	return NULL;
}

static int run_jobs(struct shelter_log *log, int threads, int count, int sync_every,
		    size_t size, double *lat)
{
	pthread_t t[64];
	struct job *j = calloc((size_t)threads, sizeof(*j));
	int rc = 0;

	if (j == NULL || threads < 1 || threads > 64)
		return 2;
	for (int i = 0; i < threads; i++) {
		j[i] = (struct job){ .log = log, .id = i, .count = count, .sync_every = sync_every,
				     .size = size, .lat = lat ? lat + (size_t)i * (size_t)count : NULL };
		pthread_create(&t[i], NULL, lat ? bench_job : append_job, &j[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		if (j[i].rc != 0 && rc == 0)
			rc = fail("append", &j[i].err);
	}
	free(j);
	return rc;
}

static int cmd_append(char **argv, int argc)
{
	struct shelter_log *log = NULL;
	struct shelter_err err;
	int every = argc > 5 ? atoi(argv[5]) : 1, rc;

	if (open_log(argv[2], &log, &err) != 0)
		return fail("open", &err);
	rc = run_jobs(log, atoi(argv[4]), atoi(argv[3]), every < 1 ? 1 : every > 1024 ? 1024 : every, 0,
		      NULL);
	if (shelter_log_close(log, &err) != 0 && rc == 0)
		rc = fail("close", &err);
	return rc;
}

static int cmd_check(char **argv)
{
	struct shelter_log *log = NULL;
	struct shelter_err err;
	char line[256], buf[SHELTER_LOG_ENTRY_MAX];
	FILE *f = fopen(argv[3], "r");
	size_t size;
	int rc = 0;

	if (f == NULL) {
		perror(argv[3]);
		return 2;
	}
	if (open_log(argv[2], &log, &err) != 0) {
		fclose(f);
		return fail("open", &err);
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		unsigned long long index;
		int at = 0;

		if (sscanf(line, "ack %llu %n", &index, &at) != 1 || at == 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (shelter_log_get(log, index, buf, sizeof(buf), &size, &err) != 0) {
			rc = fail("acknowledged entry lost", &err);
		} else if (size != strlen(line + at) || memcmp(buf, line + at, size) != 0) {
			fprintf(stderr, "log_tool: entry %llu is '%.*s', acknowledged '%s'\n", index,
				(int)size, buf, line + at);
			rc = 1;
		}
	}
	fclose(f);
	printf("size %" PRIu64 "\n", shelter_log_size(log));
	if (shelter_log_close(log, &err) != 0 && rc == 0)
		rc = fail("close", &err);
	return rc;
}

static int cmd_audit(char **argv, int argc)
{
	struct shelter_log_verifier v;
	struct shelter_log_checkpoint cp;
	struct shelter_err err;
	char *note = NULL;
	size_t len = 0;
	uint64_t n;
	int rc;

	if (verifier(&v, &err) != 0)
		return fail("verifier", &err);
	if (argc > 3) {
		FILE *f = fopen(argv[3], "r");

		note = calloc(1, SHELTER_LOG_NOTE_MAX + 1);
		if (f == NULL || note == NULL) {
			free(note);
			return 2;
		}
		len = fread(note, 1, SHELTER_LOG_NOTE_MAX + 1, f);
		fclose(f);
	}
	rc = shelter_log_audit(argv[2], &v, note, len, &n, &cp, &err);
	free(note);
	if (rc != 0)
		return fail("audit", &err);
	printf("entries %" PRIu64 " checkpoint %" PRIu64 "\n", n, cp.size);
	return 0;
}

static int cmd_checkpoint(char **argv)
{
	struct shelter_log *log = NULL;
	struct shelter_err err;
	char note[SHELTER_LOG_NOTE_MAX];
	uint64_t size;
	int rc = 0;

	if (open_log(argv[2], &log, &err) != 0)
		return fail("open", &err);
	if (shelter_log_checkpoint(log, note, sizeof(note), &size, &err) != 0)
		rc = fail("checkpoint", &err);
	else
		fputs(note, stdout);
	shelter_log_close(log, NULL);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_bench(char **argv)
{
	struct shelter_log *log = NULL;
	struct shelter_err err;
	int count = atoi(argv[3]), threads = atoi(argv[4]), rc;
	size_t total = (size_t)count * (size_t)threads;
	double *lat = calloc(total ? total : 1, sizeof(double)), t0, dt;

	if (lat == NULL || count < 1)
		return 2;
	if (open_log(argv[2], &log, &err) != 0) {
		free(lat);
		return fail("open", &err);
	}
	t0 = now_s();
	rc = run_jobs(log, threads, count, 1, (size_t)atoi(argv[5]), lat);
	dt = now_s() - t0;
	if (shelter_log_close(log, &err) != 0 && rc == 0)
		rc = fail("close", &err);
	qsort(lat, total, sizeof(double), cmp_double);
	if (rc == 0)
		printf("entries %zu seconds %.3f per_second %.0f sync_p50_us %.0f sync_p99_us %.0f\n",
		       total, dt, (double)total / dt, lat[total / 2] * 1e6,
		       lat[total * 99 / 100] * 1e6);
	free(lat);
	return rc;
}

static int cmd_proofs(char **argv)
{
	struct shelter_log *log = NULL;
	struct shelter_err err;
	uint8_t proof[SHELTER_LOG_PROOF_MAX][SHELTER_LOG_HASH], root[SHELTER_LOG_HASH];
	uint8_t leaf[SHELTER_LOG_HASH], buf[SHELTER_LOG_ENTRY_MAX];
	int n = atoi(argv[3]), rc = 0;
	double prove = 0, verify = 0;
	size_t count = 0, size;
	uint64_t total;

	if (open_log(argv[2], &log, &err) != 0)
		return fail("open", &err);
	total = shelter_log_size(log);
	if (total == 0 || n < 1 || shelter_log_root(log, total, root, &err) != 0) {
		shelter_log_close(log, NULL);
		return total == 0 || n < 1 ? 2 : fail("root", &err);
	}
	for (int i = 0; i < n && rc == 0; i++) {
		uint64_t index = ((uint64_t)i * 2654435761u) % total;
		double t0 = now_s(), t1;

		if (shelter_log_prove_inclusion(log, index, total, proof, &count, &err) != 0 ||
		    shelter_log_get(log, index, buf, sizeof(buf), &size, &err) != 0 ||
		    shelter_log_leaf_hash(buf, size, leaf) != 0) {
			rc = fail("prove", &err);
			break;
		}
		t1 = now_s();
		prove += t1 - t0;
		if (shelter_log_verify_inclusion(leaf, index, total,
						 (const uint8_t (*)[SHELTER_LOG_HASH])proof, count,
						 root, &err) != 0)
			rc = fail("verify", &err);
		verify += now_s() - t1;
	}
	shelter_log_close(log, NULL);
	if (rc == 0)
		printf("prove_us %.1f verify_us %.1f bytes %zu\n", prove / n * 1e6, verify / n * 1e6,
		       count * SHELTER_LOG_HASH);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (strcmp(cmd, "append") == 0 && argc >= 5)
		return cmd_append(argv, argc);
	if (strcmp(cmd, "check") == 0 && argc == 4)
		return cmd_check(argv);
	if (strcmp(cmd, "audit") == 0 && argc >= 3)
		return cmd_audit(argv, argc);
	if (strcmp(cmd, "checkpoint") == 0 && argc == 3)
		return cmd_checkpoint(argv);
	if (strcmp(cmd, "bench") == 0 && argc == 6)
		return cmd_bench(argv);
	if (strcmp(cmd, "proofs") == 0 && argc == 4)
		return cmd_proofs(argv);
	if (strcmp(cmd, "vkey") == 0) {
		struct shelter_log_verifier v;
		struct shelter_err err;
		uint8_t pub[32];
		char vk[512];

		if (verifier(&v, &err) != 0 || shelter_ed25519_public(SEED, pub, &err) != 0 ||
		    shelter_log_verifier_format(ORIGIN, pub, vk, sizeof(vk), &err) != 0)
			return fail("vkey", &err);
		printf("%s\n", vk);
		return 0;
	}
	fprintf(stderr, "usage: log_tool append|check|audit|vkey|checkpoint|bench|proofs ...\n");
	return 2;
}
