/* Load generator of bench/freshness/run.sh (bench/README.md): closed-loop client
 * threads against a freshness coordinator, or straight against its store.
 *
 *   freshbench --mode append|read --service HOST:PORT --genesis HEX ...
 *   freshbench --mode store --store SPEC ...
 *     --clients N --seconds S [--state-bytes B]
 *
 * append: each thread creates a handle of its own, then appends states of B bytes
 *         one after the other, each acknowledged (f+1 receipts checked) before the
 *         next: what a protected volume's fsync would do (§6.1).
 * read:   each thread reads the latest state of its handle (fresh nonce, receipts,
 *         block fetched and checked: §6.2).
 * store:  each thread does compare-and-swap puts of B bytes on a key of its own: the
 *         store alone, the floor under an append.
 * Prints one line: mode clients ops ops/s p50_ms p99_ms max_ms.
 *
 *   freshbench --mode soak --count N --service ... (one client, one handle)
 *
 * soak:   N appends one after the other on one handle (the wear an NVRAM counter
 *         would suffer): a line per twentieth of the run, "soak HEIGHT ops/s p50_ms
 *         p99_ms max_ms" of that window, then "soak-summary N first_p50 last_p50
 *         ratio", the ratio of the last window's median latency to the first's. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "freshness/client.h"
#include "latency.h"
#include "freshness/store.h"
#include "shelter/crypto.h"
#include "shelter/tee.h"

#define MAX_CLIENTS 256

struct cfg {
	const char *mode, *service, *store_spec, *provider;
	uint8_t measurement[SHELTER_MEASUREMENT_SIZE];
	struct fresh_policy policy;
	uint8_t genesis[FR_HASH];
	unsigned clients, seconds;
	size_t state_bytes;
	uint64_t count; /* soak */
	struct fresh_store *store;
	double start, stop;
};

struct worker {
	struct cfg *cfg;
	unsigned id;
	double *lat;
	size_t n, cap;
	int failed;
	char why[1200];
};

static void record(struct worker *w, double t0, double t1)
{
	if (t1 < w->cfg->start || t1 > w->cfg->stop)
		return; /* warm-up or past the end */
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 4096;
		w->lat = realloc(w->lat, w->cap * sizeof(*w->lat));
		if (w->lat == NULL)
			abort();
	}
	w->lat[w->n++] = (t1 - t0) * 1000.0;
}

static void fail(struct worker *w, const char *what, const struct shelter_err *err)
{
	w->failed = 1;
	snprintf(w->why, sizeof(w->why), "%s: %s", what, err->msg);
}

static void run_store(struct worker *w, uint8_t *state)
{
	char key[64];
	uint64_t version = 0;
	struct shelter_err err;

	snprintf(key, sizeof(key), "bench/%u/%ld", w->id, (long)time(NULL));
	while (!w->failed && bench_now() < w->cfg->stop) {
		double t0 = bench_now();

		state[0]++;
		if (fresh_store_put(w->cfg->store, key, state, w->cfg->state_bytes, version, &version,
				    &err) < 0)
			fail(w, "put", &err);
		record(w, t0, bench_now());
	}
}

/* One window of the soak: its line, and its median for the summary. */
static double soak_window(double *lat, size_t n, uint64_t height, double secs)
{
	qsort(lat, n, sizeof(*lat), bench_cmp_double);
	printf("soak %llu %.1f %.3f %.3f %.3f\n", (unsigned long long)height, (double)n / secs,
	       lat[n / 2], lat[(size_t)((double)n * 0.99)], lat[n - 1]);
	fflush(stdout);
	return lat[n / 2];
}

static void run_soak(struct worker *w, struct fresh_client *c, const uint8_t handle[FR_HASH],
		     uint8_t tail[FR_HASH], uint8_t *state)
{
	uint64_t win = w->cfg->count / 20 ? w->cfg->count / 20 : 1;
	double *lat = malloc(win * sizeof(*lat)), t_win = bench_now(), first = 0, last = 0;
	struct shelter_err err;
	size_t n = 0;

	if (lat == NULL)
		abort();
	for (uint64_t h = 1; h <= w->cfg->count && !w->failed; h++) {
		double t0 = bench_now();

		memcpy(state, &h, sizeof(h) < w->cfg->state_bytes ? sizeof(h) : 2);
		if (fresh_client_append(c, handle, h, tail, state, w->cfg->state_bytes, tail,
					&err) < 0) {
			fail(w, "append", &err);
			break;
		}
		lat[n++] = (bench_now() - t0) * 1000.0;
		if (n == win || h == w->cfg->count) {
			double t = bench_now();

			last = soak_window(lat, n, h, t - t_win);
			if (first == 0)
				first = last;
			n = 0;
			t_win = t;
		}
	}
	if (!w->failed)
		printf("soak-summary %llu %.3f %.3f %.2f\n", (unsigned long long)w->cfg->count,
		       first, last, first > 0 ? last / first : 0.0);
	free(lat);
}

static void run_client(struct worker *w, uint8_t *state)
{
	struct fresh_client *c = NULL;
	struct shelter_err err;
	uint8_t handle[FR_HASH], tail[FR_HASH];
	uint64_t height = 0;
	int reading = strcmp(w->cfg->mode, "read") == 0;

	if (shelter_random_bytes(handle, sizeof(handle), &err) < 0 ||
	    fresh_client_open(w->cfg->service, w->cfg->genesis, &w->cfg->policy, &c, &err) < 0 ||
	    fresh_client_create(c, handle, state, w->cfg->state_bytes, tail, &err) < 0) {
		fail(w, "start", &err);
		fresh_client_close(c);
		return;
	}
	if (strcmp(w->cfg->mode, "soak") == 0) {
		run_soak(w, c, handle, tail, state);
		fresh_client_close(c);
		return;
	}
	while (!w->failed && bench_now() < w->cfg->stop) {
		struct fresh_state st = { 0 };
		double t0 = bench_now();
		int rc;

		state[0]++;
		rc = reading ? fresh_client_read(c, handle, &st, &err)
			     : fresh_client_append(c, handle, height + 1, tail, state,
						   w->cfg->state_bytes, tail, &err);
		free(st.state);
		if (rc < 0)
			fail(w, reading ? "read" : "append", &err);
		else
			height += !reading;
		record(w, t0, bench_now());
	}
	fresh_client_close(c);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *state = calloc(1, w->cfg->state_bytes);

	if (state == NULL)
		abort();
	state[1] = (uint8_t)w->id;
	if (strcmp(w->cfg->mode, "store") == 0)
		run_store(w, state);
	else
		run_client(w, state);
	free(state);
	return NULL;
}

static int parse(int argc, char **argv, struct cfg *cfg)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },   { "service", required_argument, NULL, 's' },
		{ "genesis", required_argument, NULL, 'g' }, { "store", required_argument, NULL, 'S' },
		{ "clients", required_argument, NULL, 'c' }, { "seconds", required_argument, NULL, 't' },
		{ "state-bytes", required_argument, NULL, 'b' },
		{ "provider", required_argument, NULL, 'p' },
		{ "endorser-measurement", required_argument, NULL, 'M' },
		{ "count", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (o) {
		case 'm': cfg->mode = optarg; break;
		case 's': cfg->service = optarg; break;
		case 'g':
			if (shelter_unhex(optarg, cfg->genesis, FR_HASH) < 0)
				return -1;
			break;
		case 'S': cfg->store_spec = optarg; break;
		case 'c': cfg->clients = (unsigned)atoi(optarg); break;
		case 't': cfg->seconds = (unsigned)atoi(optarg); break;
		case 'b': cfg->state_bytes = (size_t)atol(optarg); break;
		case 'p': cfg->provider = optarg; break;
		case 'n': cfg->count = strtoull(optarg, NULL, 10); break;
		case 'M':
			if (shelter_unhex(optarg, cfg->measurement, SHELTER_MEASUREMENT_SIZE) < 0)
				return -1;
			break;
		default: return -1;
		}
	}
	if (cfg->mode != NULL && strcmp(cfg->mode, "soak") == 0 && (cfg->count == 0 ||
								  cfg->clients != 1))
		return -1;
	if (cfg->mode == NULL || cfg->clients == 0 || cfg->clients > MAX_CLIENTS ||
	    cfg->seconds == 0 || cfg->state_bytes < 2 ||
	    (strcmp(cfg->mode, "store") == 0 ? cfg->store_spec == NULL
					       : cfg->service == NULL || cfg->provider == NULL))
		return -1;
	return 0;
}

/* The endorsers' policy: the provider's CA and CRL, the measurement given, sim. */
static int load_policy(struct cfg *cfg, struct shelter_err *err)
{
	static struct shelter_trust *trust;
	char path[4096], buf[1 << 16];
	const char *names[2] = { "ca.crt", "crl.pem" };
	int rc = shelter_trust_new(&trust, err);

	for (int i = 0; i < 2 && rc == 0; i++) {
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "%s/%s", cfg->provider, names[i]);
		f = fopen(path, "r");
		n = f != NULL ? fread(buf, 1, sizeof(buf), f) : 0;
		if (f != NULL)
			fclose(f);
		if (n == 0)
			return shelter_err_set(err, SHELTER_E_IO, "read %s", path);
		rc = i == 0 ? shelter_trust_add_provider(trust, buf, n, NULL, err)
			    : shelter_trust_add_crl(trust, buf, n, err);
	}
	cfg->policy.trust = trust;
	cfg->policy.measurements = (const uint8_t (*)[SHELTER_MEASUREMENT_SIZE])cfg->measurement;
	cfg->policy.nmeasurements = 1;
	cfg->policy.accept_sim = 1;
	return rc;
}

int main(int argc, char **argv)
{
	struct cfg cfg = { .clients = 1, .seconds = 5, .state_bytes = 64 };
	static struct worker ws[MAX_CLIENTS];
	pthread_t th[MAX_CLIENTS];
	struct shelter_err err;
	double *all;
	size_t total = 0;

	if (parse(argc, argv, &cfg) < 0) {
		fprintf(stderr, "usage: freshbench --mode append|read|store (--service HOST:PORT "
				"--genesis HEX | --store SPEC) [--clients N] [--seconds S] "
				"[--state-bytes B]\n"
				"       freshbench --mode soak --count N --service HOST:PORT "
				"--genesis HEX ...\n");
		return 2;
	}
	if (cfg.provider != NULL && load_policy(&cfg, &err) < 0) {
		fprintf(stderr, "freshbench: %s\n", err.msg);
		return 1;
	}
	if (cfg.store_spec != NULL && fresh_store_open(cfg.store_spec, &cfg.store, &err) < 0) {
		fprintf(stderr, "freshbench: %s\n", err.msg);
		return 1;
	}
	cfg.start = bench_now() + 1.0; /* one second of warm-up */
	cfg.stop = cfg.start + cfg.seconds;
	for (unsigned i = 0; i < cfg.clients; i++) {
		ws[i] = (struct worker){ .cfg = &cfg, .id = i };
		pthread_create(&th[i], NULL, worker_main, &ws[i]);
	}
	for (unsigned i = 0; i < cfg.clients; i++) /* all of them: exit with threads running */
		pthread_join(th[i], NULL);    /* would tear OpenSSL down under them */
	for (unsigned i = 0; i < cfg.clients; i++) {
		if (ws[i].failed) {
			fprintf(stderr, "freshbench: client %u: %s\n", i, ws[i].why);
			return 1;
		}
		total += ws[i].n;
	}
	if (strcmp(cfg.mode, "soak") == 0)
		return 0;
	all = malloc((total ? total : 1) * sizeof(*all));
	total = 0;
	for (unsigned i = 0; i < cfg.clients; i++) {
		memcpy(all + total, ws[i].lat, ws[i].n * sizeof(*all));
		total += ws[i].n;
		free(ws[i].lat);
	}
	bench_print_line(cfg.mode, cfg.clients, all, total, cfg.seconds);
	free(all);
	fresh_store_close(cfg.store);
	return 0;
}
