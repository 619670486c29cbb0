/* casbench: attestations with configuration fetch against plain TLS 1.3 handshakes,
 * on the same CAS, in the same run (issue 3 item 6, bench/README.md).
 *
 *   casbench --cas URL --cas-cert FILE [--session NAME --platform DIR]
 *            [--modes tls,attest] [--clients 1,64] [--seconds S | --ops N]
 *            [--warmup S] [--repeat N] [--server-pid PID] [--server-log FILE]
 *            [--program PATH] [--rate OPS_PER_SECOND]
 *   casbench --print-measurement [--program PATH]
 *
 * Modes, one operation each:
 *   tls     a new TCP connection, a full TLS 1.3 handshake (the CAS issues no session
 *           tickets and keeps no session cache, so nothing can be resumed), GET
 *           /v1/health, close: the cheapest request the CAS serves.
 *   attest  shelter_attester_fetch: a new TLS 1.3 connection, POST /v1/attest/nonce,
 *           a fresh P-256 key, a sim quote over it and the nonce, an RA-TLS
 *           certificate sent through post-handshake authentication, POST /v1/attest,
 *           and the session's configuration parsed (docs/api/cas.md §4). Every
 *           answer must carry at least one environment entry and one volume, so the
 *           secret and volume-key paths of the CAS run.
 *
 * The identity attested is that of --program (default /bin/true) measured with its
 * path as argv and no manifest entries; --print-measurement prints it, for the
 * session's policy. One sim TEE (opened once on --platform with that identity) and
 * one attester are shared by all client threads (attest.h and tee.h say both are
 * thread-safe).
 *
 * Each (mode, clients) pair runs --warmup seconds untimed, then --seconds timed (or
 * until --ops operations completed). An operation counts when it completes inside
 * the timed window; its latency is from its start to its end. With --server-pid the
 * CAS's CPU time over the window (utime+stime from /proc/PID/stat) is divided by the
 * operations; with --server-log, the CAS's own per-request times (the "ms=" of its
 * log lines written during the window) are summarised per path. --repeat runs
 * every pair N times, rounds interleaved (the order of tls and attest alternates
 * each round); the summary shows, for each pair, the round with the median ops/s.
 *
 * By default every client runs closed loop (the next operation starts when the last
 * ends), which measures the most the CAS can do; then latency is the queue (Little's
 * law: 64 clients at N ops/s wait about 64/N s). --rate R runs open loop instead:
 * the clients together start R operations per second on a fixed schedule, and each
 * latency counts from the scheduled start (no coordinated omission), which measures
 * the latency a client sees under a given load.
 *
 * Nothing here asserts a timing: the exit status reports errors only (a failed
 * operation makes the run invalid: exit 1). Built by bench/cas/run.sh.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "net/http.h"
#include "net/tls.h"
#include "shelter/attest.h"
#include "shelter/crypto.h"
#include "shelter/error.h"
#include "shelter/measure.h"
#include "shelter/tee.h"

#define MAX_CLIENT_COUNTS 8
#define MAX_ROUNDS 16
#define MAX_CLIENTS 1024
#define PEM_MAX (64 * 1024)
#define TIMEOUT_MS 30000
#define NPATHS 3

enum { M_TLS, M_ATTEST, NMODES };
static const char *const mode_name[NMODES] = { "tls", "attest" };
static const char *const path_name[NPATHS] = { "/v1/health", "/v1/attest/nonce", "/v1/attest" };

/* Targets from issue 3, "Done when", on 2 cores. */
#define TARGET_ATTEST_PER_S 1000.0
#define TARGET_HANDSHAKES_PER_ATTEST 2.0
#define TARGET_P99_MS 20.0
#define TARGET_P99_CLIENTS 64u

struct server_paths {
	uint64_t count[NPATHS];
	double sum_ms[NPATHS];
	double max_ms[NPATHS];
};

struct result {
	int done;
	uint64_t ops;
	double secs;
	double ops_per_s;
	double p50_ms, p99_ms, max_ms, mean_ms;
	double client_cpu_s;
	double server_cpu_s; /* < 0: not measured */
	struct server_paths sp;
	int have_sp;
};

/* ---- options and shared state ---- */

static const char *cas_url, *cas_cert_file, *session = "bench", *platform_dir;
static const char *program = "/bin/true";
static const char *server_log;
static int server_pid;
static int modes[NMODES] = { 1, 1 };
static unsigned client_counts[MAX_CLIENT_COUNTS] = { 1, 64 };
static size_t nclient_counts = 2;
static double seconds = 10, warmup = 1;
static uint64_t op_target; /* 0: timed by seconds */
static int nrounds = 1;
static double rate; /* --rate: offered operations per second over all clients (open loop) */
static long ncpus = 1;

static struct result rounds[MAX_ROUNDS][NMODES][MAX_CLIENT_COUNTS];

static struct http_url url;
static struct tls_ctx *plain_ctx;     /* tls mode: pinned CAS certificate, no client cert */
static struct shelter_tee *tee;
static struct shelter_attester *attester;
static char *cas_pem;
static size_t cas_pem_size;

/* One measurement in progress. */
enum { PH_WARMUP, PH_TIMED, PH_STOP };
static _Atomic int phase;
static _Atomic uint64_t tickets;   /* --ops: operations started in the timed phase */
static _Atomic uint64_t completed; /* --ops: operations counted */
static _Atomic int failed;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static char first_error[SHELTER_ERR_MSG_SIZE + 64];
static double t_start, t_end; /* the timed window (CLOCK_MONOTONIC seconds) */
static pthread_mutex_t end_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t end_cond = PTHREAD_COND_INITIALIZER;

struct client {
	pthread_t thread;
	int mode;
	double next;  /* --rate: when this client's next operation is due */
	double every; /* --rate: seconds between its operations */
	double *start_at, *end_at; /* each op that ended after the warm-up */
	size_t n, cap;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "casbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_self(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* utime + stime of a process, seconds (proc(5): fields 14 and 15, after the
 * parenthesised command name, which may itself hold spaces and parentheses). */
static double cpu_of(int pid)
{
	char path[64], buf[2048], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* after ")": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
	 * cmajflt utime stime */
	if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&ut, &st) != 2)
		die("%s: cannot parse", path);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static off_t file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		die("%s: %s", path, strerror(errno));
	return st.st_size;
}

/* The CAS's request lines in bytes [from, to) of its log: "... request ... path=P
 * status=S ms=X ...". Lines cut at either end are skipped. */
static void read_server_log(off_t from, off_t to, struct server_paths *sp)
{
	FILE *f = fopen(server_log, "r");
	char line[4096];
	off_t pos = from;

	memset(sp, 0, sizeof(*sp));
	if (f == NULL)
		die("%s: %s", server_log, strerror(errno));
	if (from > 0) {
		/* Start at a line boundary: skip the rest of a line begun before from. */
		if (fseeko(f, from - 1, SEEK_SET) != 0 || fgets(line, sizeof(line), f) == NULL) {
			fclose(f);
			return;
		}
		pos = ftello(f);
	}
	while (pos < to && fgets(line, sizeof(line), f) != NULL) {
		const char *path = strstr(line, " path="), *ms = strstr(line, " ms=");
		size_t len = strlen(line);

		pos += (off_t)len;
		if (pos > to || len == 0 || line[len - 1] != '\n' || path == NULL || ms == NULL ||
		    strstr(line, " request ") == NULL)
			continue;
		for (int i = 0; i < NPATHS; i++) {
			size_t pl = strlen(path_name[i]);

			if (strncmp(path + 6, path_name[i], pl) == 0 && path[6 + pl] == ' ') {
				double v = strtod(ms + 4, NULL);

				sp->count[i]++;
				sp->sum_ms[i] += v;
				if (v > sp->max_ms[i])
					sp->max_ms[i] = v;
			}
		}
	}
	fclose(f);
}

static void record_error(const char *what, const struct shelter_err *err)
{
	atomic_store(&failed, 1);
	pthread_mutex_lock(&err_mu);
	if (first_error[0] == 0)
		snprintf(first_error, sizeof(first_error), "%s: %s", what, err->msg);
	pthread_mutex_unlock(&err_mu);
}

/* ---- operations ---- */

static int op_tls(struct shelter_err *err)
{
	struct tls_conn *conn = NULL;
	struct http_response resp;
	int rc = tls_connect(plain_ctx, url.host, url.port, TIMEOUT_MS, &conn, err);

	if (rc == 0)
		rc = tls_conn_write_request(conn, HTTP_GET, "/v1/health", url.authority, NULL,
					    NULL, 0, 0, NULL, 0, err);
	if (rc == 0)
		rc = tls_conn_read_response(conn, NULL, 0, &resp, err);
	if (rc == TLS_CONN_EOF)
		rc = shelter_err_set(err, SHELTER_E_PROTO, "the CAS closed the connection");
	if (rc == 0 && resp.status != 200)
		rc = shelter_err_set(err, SHELTER_E_PROTO, "GET /v1/health: status %d",
				     resp.status);
	tls_conn_close(conn);
	return rc;
}

static int op_attest(struct shelter_err *err)
{
	struct shelter_config *cfg = NULL;
	int rc = shelter_attester_fetch(attester, session, NULL, 0, NULL, 0, &cfg, err);

	/* The policy of run.sh has a password in the environment and a volume: if
	 * either is missing, the CAS did not run the path this benchmark is about. */
	if (rc == 0 && (shelter_config_env_count(cfg) == 0 || shelter_config_volume_count(cfg) == 0))
		rc = shelter_err_set(err, SHELTER_E_PROTO,
				     "configuration of '%s' has %zu environment entries and %zu "
				     "volumes: the policy needs at least one of each",
				     session, shelter_config_env_count(cfg),
				     shelter_config_volume_count(cfg));
	shelter_config_free(cfg);
	return rc;
}

static int run_op(int mode, struct shelter_err *err)
{
	return mode == M_TLS ? op_tls(err) : op_attest(err);
}

static void sleep_until(double t);

static void push(struct client *c, double start, double end)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 4096;

		c->start_at = realloc(c->start_at, cap * sizeof(double));
		c->end_at = realloc(c->end_at, cap * sizeof(double));
		if (c->start_at == NULL || c->end_at == NULL)
			die("out of memory");
		c->cap = cap;
	}
	c->start_at[c->n] = start;
	c->end_at[c->n] = end;
	c->n++;
}

static void *run_client(void *arg)
{
	struct client *c = arg;
	struct shelter_err err;

	for (;;) {
		int ph = atomic_load(&phase);
		double t0, t1;

		if (ph == PH_STOP || atomic_load(&failed))
			break;
		if (op_target != 0 && ph == PH_TIMED &&
		    atomic_fetch_add(&tickets, 1) >= op_target)
			break;
		shelter_err_clear(&err);
		t0 = now();
		if (rate > 0) {
			/* Open loop: start on schedule, and count the latency from the
			 * scheduled start, so a late server cannot hide its queue. */
			if (c->next > t0)
				sleep_until(c->next);
			t0 = c->next;
			c->next += c->every;
		}
		if (run_op(c->mode, &err) < 0) {
			record_error(mode_name[c->mode], &err);
			break;
		}
		t1 = now();
		/* Warm-up ops are dropped here; the window's end is applied later, when
		 * it is known. With --ops, only ops started in the timed phase count. */
		if (op_target != 0) {
			if (ph == PH_TIMED) {
				push(c, t0, t1);
				if (atomic_fetch_add(&completed, 1) + 1 == op_target) {
					pthread_mutex_lock(&end_mu);
					t_end = t1;
					pthread_cond_signal(&end_cond);
					pthread_mutex_unlock(&end_mu);
				}
			}
		} else if (atomic_load(&phase) != PH_WARMUP) {
			push(c, t0, t1);
		}
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct(const double *v, size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);

	if (n == 0)
		return 0;
	if (k < 1)
		k = 1;
	return v[(k > n ? n : k) - 1];
}

static void sleep_until(double t)
{
	for (;;) {
		double d = t - now();
		struct timespec ts;

		if (d <= 0 || atomic_load(&failed))
			return;
		ts.tv_sec = (time_t)d;
		ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

static void measure_pair(int mode, unsigned nclients, struct result *r)
{
	struct client *cl = calloc(nclients, sizeof(*cl));
	double cpu0, cpu1, scpu0 = 0, scpu1 = 0, *lat;
	off_t log0 = 0, log1 = 0;
	size_t total = 0, n = 0;

	if (cl == NULL)
		die("out of memory");
	atomic_store(&phase, PH_WARMUP);
	atomic_store(&tickets, 0);
	atomic_store(&completed, 0);
	for (unsigned i = 0; i < nclients; i++) {
		cl[i].mode = mode;
		if (rate > 0) {
			cl[i].every = nclients / rate;
			cl[i].next = now() + cl[i].every * i / nclients;
		}
		if (pthread_create(&cl[i].thread, NULL, run_client, &cl[i]) != 0)
			die("pthread_create: %s", strerror(errno));
	}
	sleep_until(now() + warmup);

	if (server_log != NULL)
		log0 = file_size(server_log);
	if (server_pid > 0)
		scpu0 = cpu_of(server_pid);
	cpu0 = cpu_self();
	t_start = now();
	t_end = 0;
	atomic_store(&phase, PH_TIMED);
	if (op_target == 0) {
		sleep_until(t_start + seconds);
		t_end = now();
	} else {
		pthread_mutex_lock(&end_mu);
		while (t_end == 0 && !atomic_load(&failed)) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&end_cond, &end_mu, &ts);
		}
		pthread_mutex_unlock(&end_mu);
	}
	if (server_pid > 0)
		scpu1 = cpu_of(server_pid);
	cpu1 = cpu_self();
	if (server_log != NULL)
		log1 = file_size(server_log);
	atomic_store(&phase, PH_STOP);
	for (unsigned i = 0; i < nclients; i++)
		pthread_join(cl[i].thread, NULL);
	if (atomic_load(&failed))
		die("%s with %u clients: %s", mode_name[mode], nclients, first_error);

	for (unsigned i = 0; i < nclients; i++)
		total += cl[i].n;
	lat = malloc((total ? total : 1) * sizeof(*lat));
	if (lat == NULL)
		die("out of memory");
	for (unsigned i = 0; i < nclients; i++) {
		for (size_t k = 0; k < cl[i].n; k++) {
			/* Timed by seconds: ops that ended inside [t_start, t_end]. */
			if (op_target == 0 && (cl[i].end_at[k] < t_start || cl[i].end_at[k] > t_end))
				continue;
			lat[n++] = (cl[i].end_at[k] - cl[i].start_at[k]) * 1e3;
		}
		free(cl[i].start_at);
		free(cl[i].end_at);
	}
	free(cl);
	qsort(lat, n, sizeof(*lat), cmp_double);

	memset(r, 0, sizeof(*r));
	r->done = 1;
	r->ops = n;
	r->secs = t_end - t_start;
	r->ops_per_s = r->secs > 0 ? (double)n / r->secs : 0;
	r->p50_ms = pct(lat, n, 50);
	r->p99_ms = pct(lat, n, 99);
	r->max_ms = n ? lat[n - 1] : 0;
	for (size_t k = 0; k < n; k++)
		r->mean_ms += lat[k];
	r->mean_ms = n ? r->mean_ms / (double)n : 0;
	r->client_cpu_s = cpu1 - cpu0;
	r->server_cpu_s = server_pid > 0 ? scpu1 - scpu0 : -1;
	if (server_log != NULL) {
		read_server_log(log0, log1, &r->sp);
		r->have_sp = 1;
	}
	free(lat);
}

/* ---- output ---- */

static void print_result(int round, int mode, unsigned nclients, const struct result *r)
{
	printf("round %d  %-6s clients=%-3u ops=%-6" PRIu64 " %6.2f s  %8.1f ops/s  "
	       "p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  client cpu %.2f ms/op",
	       round + 1, mode_name[mode], nclients, r->ops, r->secs, r->ops_per_s, r->p50_ms,
	       r->p99_ms, r->max_ms, r->ops ? r->client_cpu_s * 1e3 / (double)r->ops : 0);
	if (r->server_cpu_s >= 0)
		printf("  CAS cpu %.2f ms/op", r->ops ? r->server_cpu_s * 1e3 / (double)r->ops : 0);
	putchar('\n');
	/* Client and CAS share the CPUs: what they used together says whether the run
	 * was CPU-bound, or waited (on the disk, on locks, on other work here). */
	if (r->server_cpu_s >= 0 && r->secs > 0)
		printf("        cpus busy with this run: CAS %.2f + casbench %.2f = %.2f of %ld\n",
		       r->server_cpu_s / r->secs, r->client_cpu_s / r->secs,
		       (r->server_cpu_s + r->client_cpu_s) / r->secs, ncpus);
	if (r->have_sp) {
		printf("        CAS log:");
		for (int i = 0; i < NPATHS; i++)
			if (r->sp.count[i] != 0)
				printf("  %s %" PRIu64 " req, mean %.2f ms, max %.2f ms", path_name[i],
				       r->sp.count[i], r->sp.sum_ms[i] / (double)r->sp.count[i],
				       r->sp.max_ms[i]);
		putchar('\n');
	}
	fflush(stdout);
}

static int cmp_ops(const void *a, const void *b)
{
	const struct result *x = *(const struct result *const *)a;
	const struct result *y = *(const struct result *const *)b;

	return x->ops_per_s < y->ops_per_s ? -1 : x->ops_per_s > y->ops_per_s;
}

/* The round with the median ops/s (the lower middle one for an even count). */
static const struct result *median(int mode, size_t ci)
{
	const struct result *v[MAX_ROUNDS];

	for (int i = 0; i < nrounds; i++)
		v[i] = &rounds[i][mode][ci];
	qsort(v, (size_t)nrounds, sizeof(v[0]), cmp_ops);
	return v[(nrounds - 1) / 2];
}

/* Median of v[0..n) (sorts v; the mean of the two middle values for an even n). */
static double median_of(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *verdict(int met)
{
	return met ? "met" : "MISSED";
}

static double per_op_ms(double secs, uint64_t ops)
{
	return ops ? secs * 1e3 / (double)ops : 0;
}

static void summary(void)
{
	const struct result *best_attest = NULL;
	unsigned best_clients = 0;

	printf("\n== summary (%s; the round with the median ops/s of each line)\n",
	       nrounds > 1 ? "several rounds" : "one round");
	printf("%-7s %7s %10s %9s %9s %9s %12s %12s\n", "mode", "clients", "ops/s", "p50 ms",
	       "p99 ms", "max ms", "CAS cpu/op", "client cpu/op");
	for (size_t ci = 0; ci < nclient_counts; ci++)
		for (int m = 0; m < NMODES; m++) {
			const struct result *r;
			char scpu[32];

			if (!modes[m])
				continue;
			r = median(m, ci);
			if (r->server_cpu_s >= 0)
				snprintf(scpu, sizeof(scpu), "%.2f ms",
					 per_op_ms(r->server_cpu_s, r->ops));
			else
				snprintf(scpu, sizeof(scpu), "-");
			printf("%-7s %7u %10.1f %9.2f %9.2f %9.2f %12s %9.2f ms\n", mode_name[m],
			       client_counts[ci], r->ops_per_s, r->p50_ms, r->p99_ms, r->max_ms,
			       scpu, per_op_ms(r->client_cpu_s, r->ops));
			if (m == M_ATTEST && (best_attest == NULL ||
					      r->ops_per_s > best_attest->ops_per_s)) {
				best_attest = r;
				best_clients = client_counts[ci];
			}
		}
	if (!modes[M_ATTEST])
		return;

	if (modes[M_TLS]) {
		printf("\nattest vs tls      %13s %18s %22s   target: 1 attestation <= %.0f handshakes\n",
		       "throughput", "1 attest costs", "CAS cpu: 1 attest =", TARGET_HANDSHAKES_PER_ATTEST);
		for (size_t ci = 0; ci < nclient_counts; ci++) {
			double thr[MAX_ROUNDS], cost[MAX_ROUNDS], cpu[MAX_ROUNDS];
			char cpus[48] = "-";
			int ncpu = 0;

			/* Ratios pair tls and attest of the same round, then take the median
			 * over rounds. */
			for (int i = 0; i < nrounds; i++) {
				const struct result *t = &rounds[i][M_TLS][ci];
				const struct result *a = &rounds[i][M_ATTEST][ci];

				thr[i] = t->ops_per_s > 0 ? a->ops_per_s / t->ops_per_s : 0;
				cost[i] = a->ops_per_s > 0 ? t->ops_per_s / a->ops_per_s : 0;
				if (a->server_cpu_s >= 0 && t->server_cpu_s > 0 && t->ops && a->ops)
					cpu[ncpu++] = per_op_ms(a->server_cpu_s, a->ops) /
						      per_op_ms(t->server_cpu_s, t->ops);
			}
			if (ncpu == nrounds)
				snprintf(cpus, sizeof(cpus), "%.2f handshakes", median_of(cpu, ncpu));
			printf("  %4u clients     %10.3fx %11.2f handshakes %22s   %s\n",
			       client_counts[ci], median_of(thr, nrounds), median_of(cost, nrounds),
			       cpus,
			       verdict(median_of(cost, nrounds) > 0 &&
				       median_of(cost, nrounds) <= TARGET_HANDSHAKES_PER_ATTEST));
		}
		printf("  (throughput = attest ops/s / tls ops/s; \"costs\" = tls ops/s / attest ops/s;\n"
		       "   \"CAS cpu\" = the CAS's CPU per attestation / its CPU per handshake+GET;\n"
		       "   each the median over rounds of the ratio within a round)\n");
	}
	printf("\ntargets (issue 3, on 2 cores)\n");
	printf("  attestations/s: %.1f (best, at %u clients)   target >= %.0f   %s\n",
	       best_attest->ops_per_s, best_clients, TARGET_ATTEST_PER_S,
	       verdict(best_attest->ops_per_s >= TARGET_ATTEST_PER_S));
	for (size_t ci = 0; ci < nclient_counts; ci++)
		if (client_counts[ci] == TARGET_P99_CLIENTS) {
			const struct result *a = median(M_ATTEST, ci);

			printf("  attest p99 at %u clients: %.2f ms   target <= %.0f ms   %s\n",
			       TARGET_P99_CLIENTS, a->p99_ms, TARGET_P99_MS,
			       verdict(a->p99_ms <= TARGET_P99_MS));
		}
	if (best_attest->server_cpu_s > 0 && best_attest->ops != 0)
		printf("  estimate: with all %ld cpus to itself (load generator elsewhere), the CAS's"
		       " %.2f ms of CPU per\n  attestation would allow about %.0f attestations/s"
		       " (CPU alone; ignores the disk and lock waits)\n",
		       ncpus, per_op_ms(best_attest->server_cpu_s, best_attest->ops),
		       (double)ncpus * 1e3 / per_op_ms(best_attest->server_cpu_s, best_attest->ops));
	printf("  (\"met\"/\"MISSED\" describe this run only; the load generator shares the CPUs"
	       " with the CAS)\n");
}

/* ---- set-up ---- */

static void read_file(const char *path, char **out, size_t *size)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(PEM_MAX + 1);
	size_t n;

	if (f == NULL || buf == NULL)
		die("%s: %s", path, strerror(errno));
	n = fread(buf, 1, PEM_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > PEM_MAX)
		die("%s: empty or larger than %d bytes", path, PEM_MAX);
	buf[n] = 0;
	*out = buf;
	*size = n;
}

static void measure_program(struct shelter_identity *id, uint8_t m[SHELTER_MEASUREMENT_SIZE])
{
	const char *argv[] = { program };
	struct shelter_measure_opts mo = { .program = program, .argv = argv, .argc = 1 };
	struct shelter_err err;

	shelter_err_clear(&err);
	if (shelter_measure(&mo, m, NULL, &err) < 0)
		die("measure %s: %s", program, err.msg);
	if (id != NULL && shelter_measure_identity(m, NULL, 0, id, &err) < 0)
		die("identity of %s: %s", program, err.msg);
}

static void setup_tls(void)
{
	BIO *bio = BIO_new_mem_buf(cas_pem, (int)cas_pem_size);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	int n = cert ? i2d_X509(cert, &der) : -1;
	struct tls_client_opts o = { 0 };
	struct shelter_err err;

	if (n <= 0)
		die("%s: not a PEM certificate", cas_cert_file);
	o.pin_cert_der = der;
	o.pin_cert_der_size = (size_t)n;
	shelter_err_clear(&err);
	if (tls_client_ctx_new(&o, &plain_ctx, &err) < 0)
		die("TLS context: %s", err.msg);
	OPENSSL_free(der);
	X509_free(cert);
	BIO_free(bio);
}

static void setup_attest(void)
{
	struct shelter_identity id;
	uint8_t m[SHELTER_MEASUREMENT_SIZE];
	char hex[2 * SHELTER_MEASUREMENT_SIZE + 1];
	struct shelter_tee_opts to = { .backend = "sim", .platform_dir = platform_dir,
				       .launch = &id };
	struct shelter_attester_opts ao = { .cas_url = cas_url, .cas_cert_pem = cas_pem,
					    .cas_cert_pem_size = cas_pem_size,
					    .timeout_ms = TIMEOUT_MS };
	struct shelter_config *cfg = NULL;
	struct shelter_err err;

	measure_program(&id, m);
	shelter_hex(m, sizeof(m), hex);
	shelter_err_clear(&err);
	if (shelter_tee_open(&to, &tee, &err) < 0)
		die("open the sim TEE on %s: %s", platform_dir ? platform_dir : "(default)",
		    err.msg);
	ao.tee = tee;
	if (shelter_attester_new(&ao, &attester, &err) < 0)
		die("attester: %s", err.msg);
	/* One attestation before any timing: a clear error if the session is wrong,
	 * and the secrets are generated (first use) outside the measurements. */
	if (shelter_attester_fetch(attester, session, NULL, 0, NULL, 0, &cfg, &err) < 0)
		die("probe attestation of %s (measurement %s) to session '%s': %s", program, hex,
		    session, err.msg);
	printf("attest: %s, measurement %s, session '%s': the CAS releases %zu args, "
	       "%zu env, %zu files, %zu volumes\n",
	       program, hex, session, shelter_config_arg_count(cfg), shelter_config_env_count(cfg),
	       shelter_config_file_count(cfg), shelter_config_volume_count(cfg));
	shelter_config_free(cfg);
}

static unsigned long parse_uint(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != 0 || v == 0 || v > max || s[0] == '-')
		die("%s: '%s' is not an integer in 1..%lu", what, s, max);
	return v;
}

static double parse_secs(const char *s, const char *what, double min)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != 0 || !(v >= min) || v > 3600)
		die("%s: '%s' is not a number of seconds in %g..3600", what, s, min);
	return v;
}

static void parse_modes(const char *s)
{
	char *copy = strdup(s), *save = NULL;

	if (copy == NULL)
		die("out of memory");
	modes[M_TLS] = modes[M_ATTEST] = 0;
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		int m;

		for (m = 0; m < NMODES && strcmp(t, mode_name[m]) != 0; m++)
			;
		if (m == NMODES)
			die("--modes: unknown mode '%s' (tls, attest)", t);
		modes[m] = 1;
	}
	free(copy);
}

static void parse_clients(const char *s)
{
	char *copy = strdup(s), *save = NULL;

	if (copy == NULL)
		die("out of memory");
	nclient_counts = 0;
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (nclient_counts == MAX_CLIENT_COUNTS)
			die("--clients: at most %d values", MAX_CLIENT_COUNTS);
		client_counts[nclient_counts++] =
			(unsigned)parse_uint(t, "--clients", MAX_CLIENTS);
	}
	if (nclient_counts == 0)
		die("--clients: no value");
	free(copy);
}

static const char usage[] =
	"usage: casbench --cas URL --cas-cert FILE [--session NAME] [--platform DIR]\n"
	"                [--modes tls,attest] [--clients 1,64] [--seconds S | --ops N]\n"
	"                [--warmup S] [--repeat N] [--server-pid PID] [--server-log FILE]\n"
	"                [--program PATH] [--rate OPS_PER_SECOND]\n"
	"       casbench --print-measurement [--program PATH]\n";

int main(int argc, char **argv)
{
	enum { O_CAS = 0x100, O_CERT, O_SESSION, O_PLATFORM, O_MODES, O_CLIENTS, O_SECONDS,
	       O_OPS, O_WARMUP, O_REPEAT, O_PID, O_LOG, O_PROGRAM, O_PRINT, O_RATE };
	static const struct option longopts[] = {
		{ "cas", required_argument, NULL, O_CAS },
		{ "cas-cert", required_argument, NULL, O_CERT },
		{ "session", required_argument, NULL, O_SESSION },
		{ "platform", required_argument, NULL, O_PLATFORM },
		{ "modes", required_argument, NULL, O_MODES },
		{ "clients", required_argument, NULL, O_CLIENTS },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "ops", required_argument, NULL, O_OPS },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "repeat", required_argument, NULL, O_REPEAT },
		{ "server-pid", required_argument, NULL, O_PID },
		{ "server-log", required_argument, NULL, O_LOG },
		{ "program", required_argument, NULL, O_PROGRAM },
		{ "rate", required_argument, NULL, O_RATE },
		{ "print-measurement", no_argument, NULL, O_PRINT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, print_only = 0;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_CAS: cas_url = optarg; break;
		case O_CERT: cas_cert_file = optarg; break;
		case O_SESSION: session = optarg; break;
		case O_PLATFORM: platform_dir = optarg; break;
		case O_MODES: parse_modes(optarg); break;
		case O_CLIENTS: parse_clients(optarg); break;
		case O_SECONDS: seconds = parse_secs(optarg, "--seconds", 0.1); break;
		case O_OPS: op_target = parse_uint(optarg, "--ops", 100000000); break;
		case O_WARMUP: warmup = parse_secs(optarg, "--warmup", 0); break;
		case O_REPEAT: nrounds = (int)parse_uint(optarg, "--repeat", MAX_ROUNDS); break;
		case O_PID: server_pid = (int)parse_uint(optarg, "--server-pid", 1u << 22); break;
		case O_LOG: server_log = optarg; break;
		case O_PROGRAM: program = optarg; break;
		case O_RATE:
			rate = strtod(optarg, NULL);
			if (!(rate >= 1 && rate <= 1e6))
				die("--rate: '%s' is not a number of operations per second in 1..1e6",
				    optarg);
			break;
		case O_PRINT: print_only = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (print_only) {
		uint8_t m[SHELTER_MEASUREMENT_SIZE];
		char hex[2 * SHELTER_MEASUREMENT_SIZE + 1];

		measure_program(NULL, m);
		shelter_hex(m, sizeof(m), hex);
		puts(hex);
		return 0;
	}
	if (cas_url == NULL || cas_cert_file == NULL) {
		fputs(usage, stderr);
		return 2;
	}
	if (!modes[M_TLS] && !modes[M_ATTEST])
		die("--modes: nothing to run");

	{
		struct shelter_err err;

		shelter_err_clear(&err);
		if (http_url_parse(cas_url, &url, &err) < 0)
			die("--cas: %s", err.msg);
	}
	ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpus < 1)
		ncpus = 1;
	read_file(cas_cert_file, &cas_pem, &cas_pem_size);
	setup_tls();
	if (modes[M_ATTEST])
		setup_attest();
	printf("each measurement: %.1f s warm-up (not counted), then %s; %d round%s\n", warmup,
	       op_target ? "a fixed number of operations" : "a timed window", nrounds,
	       nrounds > 1 ? "s" : "");
	if (op_target != 0)
		printf("  (%" PRIu64 " operations per measurement)\n", op_target);
	else
		printf("  (%.1f s per measurement)\n", seconds);
	fflush(stdout);

	for (int round = 0; round < nrounds; round++)
		for (size_t ci = 0; ci < nclient_counts; ci++)
			for (int k = 0; k < NMODES; k++) {
				/* tls first in odd rounds, attest first in even ones */
				int m = (k + round) % NMODES;

				if (!modes[m])
					continue;
				measure_pair(m, client_counts[ci], &rounds[round][m][ci]);
				print_result(round, m, client_counts[ci], &rounds[round][m][ci]);
			}
	summary();

	shelter_attester_free(attester);
	shelter_tee_close(tee);
	tls_ctx_free(plain_ctx);
	free(cas_pem);
	return 0;
}
