/* A steady load of appends for the freshness fault tests
 * (tests/integration/freshness_faults.sh, docs/protocols/freshness.md §12), through the
 * public client (include/shelter/freshness.h), counting what the fault tests
 * must show to be zero: acknowledged appends lost and stale reads accepted.
 *
 *   fresh_load run --service ADDR --genesis HEX --provider DIR --measurement HEX
 *                  --clients N --dir D
 *   fresh_load verify (same options)
 *
 * run: N threads, each on a handle of its own (SHA-256 of "fresh_load" and its
 * number), append states one after the other. The state at height h of thread i is
 * always "load i h", so any state read back can be checked whatever attempt wrote it.
 * A failed append (a coordinator killed, endorsers locked by a reconfiguration, a
 * partition) closes the client, opens a new one and reads the latest state, then goes
 * on from there. Every 8th append a read checks the handle. While D/pause exists the
 * threads only read (the store may be rolled back then: every read must be refused or
 * at least as new as the last acknowledged append); D/stop ends the run. Then the last
 * acknowledged height of each handle goes to D/acked (one "i height" line each) and one
 * line of counts to stdout:
 *   acked=A failed=F reads=R refused=X refused_paused=P stale=S wrong=W
 * (refused_paused: the reads refused while paused, of the X refused in all)
 * stale: a read older than an acknowledged append; wrong: a state that is not the one
 * written at its height. Exit 0 when both are 0 and every thread acknowledged at least
 * one append.
 *
 * verify: reads every handle once (with retries while the service recovers) and
 * prints "verified=N lost=L wrong=W": lost counts handles whose latest state is older
 * than D/acked says. Exit 0 when L and W are 0. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shelter/crypto.h"
#include "shelter/freshness.h"

#define MAX_CLIENTS 64
#define READ_EVERY 8
#define RETRY_MS 20

struct cfg {
	const char *service, *provider, *dir;
	uint8_t genesis[SHELTER_FRESHNESS_HASH], measurement[SHELTER_FRESHNESS_HASH];
	unsigned clients;
};

static atomic_ulong n_acked, n_failed, n_reads, n_refused, n_paused_refused, n_stale, n_wrong;

struct worker {
	const struct cfg *cfg;
	unsigned id;
	uint8_t handle[SHELTER_FRESHNESS_HASH];
	uint64_t acked; /* the last acknowledged height */
	int any;	/* acknowledged at least one */
};

static void pause_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int exists(const struct cfg *cfg, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", cfg->dir, name);
	return stat(path, &st) == 0;
}

static int open_client(const struct cfg *cfg, struct shelter_freshness **c)
{
	const char *provs[1] = { cfg->provider };
	struct shelter_freshness_trust trust = {
		.providers = provs,
		.nproviders = 1,
		.measurements = (const uint8_t(*)[SHELTER_FRESHNESS_HASH])cfg->measurement,
		.nmeasurements = 1,
		.accept_sim = 1,
	};

	return shelter_freshness_open(cfg->service, cfg->genesis, &trust, c, NULL);
}

static size_t state_of(unsigned id, uint64_t h, char *buf, size_t size)
{
	return (size_t)snprintf(buf, size, "load %u %" PRIu64, id, h);
}

static void handle_of(unsigned id, uint8_t out[SHELTER_FRESHNESS_HASH])
{
	char name[64];
	int n = snprintf(name, sizeof(name), "fresh_load %u", id);

	if (shelter_sha256(name, (size_t)n, out, NULL) < 0)
		abort();
}

/* Check a state read back: the one written at its height, never older than the last
 * acknowledged. */
static void check_read(struct worker *w, const struct shelter_freshness_state *s)
{
	char want[64];
	size_t n = state_of(w->id, s->height, want, sizeof(want));

	atomic_fetch_add(&n_reads, 1);
	if (w->any && s->height < w->acked) {
		atomic_fetch_add(&n_stale, 1);
		fprintf(stderr, "fresh_load: STALE: client %u read height %" PRIu64
			" after height %" PRIu64 " was acknowledged\n", w->id, s->height, w->acked);
	}
	if (s->len != n || memcmp(s->state, want, n) != 0) {
		atomic_fetch_add(&n_wrong, 1);
		fprintf(stderr, "fresh_load: WRONG: client %u height %" PRIu64 " holds '%.*s'\n",
			w->id, s->height, (int)(s->len < 60 ? s->len : 60), (const char *)s->state);
	}
}

/* Read the latest state into (*h, tail): 0, or < 0 when the read failed or was refused
 * (counted). NOENT is a handle not created yet: *h stays UINT64_MAX. */
static int resync(struct worker *w, struct shelter_freshness *c, uint64_t *h,
		  uint8_t tail[SHELTER_FRESHNESS_HASH])
{
	struct shelter_freshness_state s = { 0 };
	int rc = shelter_freshness_read(c, w->handle, &s, NULL);

	if (rc == SHELTER_E_NOENT && !w->any) {
		*h = UINT64_MAX;
		return 0;
	}
	if (rc < 0) {
		atomic_fetch_add(&n_refused, 1);
		return rc;
	}
	check_read(w, &s);
	*h = s.height;
	memcpy(tail, s.tail, SHELTER_FRESHNESS_HASH);
	shelter_freshness_state_free(&s);
	return 0;
}

/* One write at height h + 1 (a create when h is UINT64_MAX); 0 when acknowledged. */
static int write_next(struct worker *w, struct shelter_freshness *c, uint64_t *h,
		      uint8_t tail[SHELTER_FRESHNESS_HASH])
{
	uint64_t next = *h == UINT64_MAX ? 0 : *h + 1;
	char state[64];
	size_t n = state_of(w->id, next, state, sizeof(state));
	int rc = next == 0 ? shelter_freshness_create(c, w->handle, state, n, tail, NULL)
			   : shelter_freshness_append(c, w->handle, next, tail, state, n, tail,
						      NULL);

	if (rc < 0) {
		atomic_fetch_add(&n_failed, 1);
		return rc;
	}
	*h = next;
	w->acked = next;
	w->any = 1;
	atomic_fetch_add(&n_acked, 1);
	return 0;
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	struct shelter_freshness *c = NULL;
	uint8_t tail[SHELTER_FRESHNESS_HASH];
	uint64_t h = UINT64_MAX, ops = 0;
	int synced = 0;

	while (!exists(w->cfg, "stop")) {
		if (c == NULL && open_client(w->cfg, &c) < 0) {
			c = NULL;
			pause_ms(RETRY_MS);
			continue;
		}
		if (exists(w->cfg, "pause")) { /* reads only: the store may be rolled back */
			if (resync(w, c, &h, tail) < 0)
				atomic_fetch_add(&n_paused_refused, 1);
			synced = 0; /* read again before the next write */
			pause_ms(RETRY_MS);
			continue;
		}
		if (!synced || ++ops % READ_EVERY == 0) {
			synced = resync(w, c, &h, tail) == 0;
			if (!synced) {
				shelter_freshness_close(c);
				c = NULL;
				pause_ms(RETRY_MS);
			}
			continue;
		}
		if (write_next(w, c, &h, tail) < 0) {
			/* the write may or may not have landed: learn the latest afresh */
			shelter_freshness_close(c);
			c = NULL;
			synced = 0;
			pause_ms(RETRY_MS);
		}
	}
	shelter_freshness_close(c);
	return NULL;
}

static int cmd_run(const struct cfg *cfg)
{
	struct worker ws[MAX_CLIENTS];
	pthread_t ts[MAX_CLIENTS];
	char path[4096];
	FILE *f;
	int ok = 1;

	for (unsigned i = 0; i < cfg->clients; i++) {
		ws[i] = (struct worker){ .cfg = cfg, .id = i };
		handle_of(i, ws[i].handle);
		if (pthread_create(&ts[i], NULL, run_worker, &ws[i]) != 0) {
			fprintf(stderr, "fresh_load: cannot start thread %u\n", i);
			return 1;
		}
	}
	for (unsigned i = 0; i < cfg->clients; i++)
		pthread_join(ts[i], NULL);
	snprintf(path, sizeof(path), "%s/acked", cfg->dir);
	f = fopen(path, "w");
	for (unsigned i = 0; f != NULL && i < cfg->clients; i++) {
		fprintf(f, "%u %" PRIu64 "\n", i, ws[i].any ? ws[i].acked : UINT64_MAX);
		ok &= ws[i].any;
	}
	if (f == NULL || fclose(f) != 0) {
		fprintf(stderr, "fresh_load: %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("acked=%lu failed=%lu reads=%lu refused=%lu refused_paused=%lu stale=%lu "
	       "wrong=%lu\n",
	       atomic_load(&n_acked), atomic_load(&n_failed), atomic_load(&n_reads),
	       atomic_load(&n_refused), atomic_load(&n_paused_refused), atomic_load(&n_stale),
	       atomic_load(&n_wrong));
	if (!ok)
		fprintf(stderr, "fresh_load: a client acknowledged nothing\n");
	return ok && atomic_load(&n_stale) == 0 && atomic_load(&n_wrong) == 0 ? 0 : 1;
}

static int cmd_verify(const struct cfg *cfg)
{
	struct shelter_freshness *c = NULL;
	char path[4096], why[sizeof(((struct shelter_err *)0)->msg)] = "";
	unsigned verified = 0, lost = 0;
	unsigned id;
	uint64_t acked;
	FILE *f;

	snprintf(path, sizeof(path), "%s/acked", cfg->dir);
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "fresh_load: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (fscanf(f, "%u %" SCNu64, &id, &acked) == 2) {
		struct worker w = { .cfg = cfg, .id = id, .acked = acked, .any = 1 };
		uint64_t h = 0;
		int rc = -1;

		if (acked == UINT64_MAX)
			continue; /* never acknowledged: run already failed */
		handle_of(id, w.handle);
		for (int tries = 0; rc < 0 && tries < 100; tries++) {
			struct shelter_err err;

			if (c == NULL && open_client(cfg, &c) < 0)
				c = NULL;
			if (c != NULL) {
				struct shelter_freshness_state s = { 0 };

				rc = shelter_freshness_read(c, w.handle, &s, &err);
				if (rc == 0) {
					check_read(&w, &s);
					h = s.height;
					shelter_freshness_state_free(&s);
				} else {
					snprintf(why, sizeof(why), "%s", err.msg);
				}
			}
			if (rc < 0)
				pause_ms(50);
		}
		if (rc < 0) {
			fprintf(stderr, "fresh_load: client %u: no read: %s\n", id, why);
			lost++;
		} else if (h < acked) {
			lost++;
		} else {
			verified++;
		}
	}
	fclose(f);
	shelter_freshness_close(c);
	printf("verified=%u lost=%u wrong=%lu\n", verified, lost, atomic_load(&n_wrong));
	return verified > 0 && lost == 0 && atomic_load(&n_wrong) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "service", 1, 0, 's' },     { "genesis", 1, 0, 'g' }, { "provider", 1, 0, 'p' },
		{ "measurement", 1, 0, 'm' }, { "clients", 1, 0, 'n' }, { "dir", 1, 0, 'd' },
		{ 0, 0, 0, 0 },
	};
	struct cfg cfg = { .clients = 4 };
	const char *genesis = NULL, *measurement = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's': cfg.service = optarg; break;
		case 'g': genesis = optarg; break;
		case 'p': cfg.provider = optarg; break;
		case 'm': measurement = optarg; break;
		case 'n': cfg.clients = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': cfg.dir = optarg; break;
		default: return 2;
		}
	}
	if (optind != argc - 1 || cfg.service == NULL || cfg.provider == NULL ||
	    cfg.dir == NULL || genesis == NULL || measurement == NULL ||
	    shelter_unhex(genesis, cfg.genesis, sizeof(cfg.genesis)) < 0 ||
	    shelter_unhex(measurement, cfg.measurement, sizeof(cfg.measurement)) < 0 ||
	    cfg.clients == 0 || cfg.clients > MAX_CLIENTS) {
		fprintf(stderr, "usage: fresh_load run|verify --service ADDR --genesis HEX "
				"--provider DIR --measurement HEX --clients 1..%d --dir D\n",
			MAX_CLIENTS);
		return 2;
	}
	if (strcmp(argv[optind], "run") == 0)
		return cmd_run(&cfg);
	if (strcmp(argv[optind], "verify") == 0)
		return cmd_verify(&cfg);
	fprintf(stderr, "fresh_load: unknown command '%s'\n", argv[optind]);
	return 2;
}
