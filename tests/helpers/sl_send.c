/* sl_send: a syslog-over-TLS sender (RFC 5425 octet counting, RFC 5424 messages) for
 * the StreamLog tests and bench/streamlog.
 *
 *   sl_send HOST:PORT COUNT [options]
 *     --conns N        N connections, COUNT messages each (default 1)
 *     --size BYTES     pad each MSG to about BYTES (default: a short text)
 *     --host NAME      the HOSTNAME field (default "sl-send")
 *     --seq-start N    number messages from N in [meta sequenceId] (default 1)
 *     --skip K         leave sequence number K out (a gap StreamLog must record)
 *     --cert F --key F a client certificate
 *     --lf             LF framing (rsyslog's "traditional") instead of octet counting
 *     --rate N         at most N messages per second per connection (default: as fast
 *                      as TLS goes)
 *     --probe STORE VKEY   time to inclusion proof (docs/streamlog.md §5): send the
 *                      COUNT messages one at a time, each time following STORE (the
 *                      daemon's) until a checkpoint covers the message and its inclusion
 *                      proof verifies; prints "probes N p50_ms A p99_ms B max_ms C"
 *   Prints "sent N seconds S per_second R". Exit 0, or 1 with the error on stderr.
 * The server is not authenticated: this is a test tool. */
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "shelter/log.h"

struct opts {
	char host[256], port[16];
	long count, seq_start, skip, rate;
	int conns, size, lf;
	const char *name, *cert, *key, *probe_store, *probe_vkey;
};

struct job {
	const struct opts *o;
	int id, rc;
	SSL_CTX *ctx;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int dial(const struct opts *o)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int fd = -1;

	if (getaddrinfo(o->host, o->port, &hints, &ai) != 0 || ai == NULL)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* One RFC 5424 message, framed, into out; returns its size. */
static int message(const struct opts *o, int id, long k, char *out, size_t cap)
{
	char ts[64], body[70000];
	struct timespec t;
	struct tm tm;
	int n, pad;

	clock_gettime(CLOCK_REALTIME, &t);
	gmtime_r(&t.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(body, sizeof(body),
		     "<86>1 %s.%06ldZ %s sudo %d - [meta sequenceId=\"%ld\"] conn %d message %ld: "
		     "alice : TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/usr/bin/systemctl "
		     "restart nginx",
		     ts, t.tv_nsec / 1000, o->name, 4000 + id, k, id, k);
	for (pad = n; pad < o->size && pad < (int)sizeof(body) - 1; pad++)
		body[pad] = 'x';
	body[pad] = '\0';
	if (o->lf)
		return snprintf(out, cap, "%s\n", body);
	return snprintf(out, cap, "%d %s", pad, body);
}

static void *sender(void *arg)
{
	struct job *j = arg;
	const struct opts *o = j->o;
	char *buf = malloc(1 << 20);
	size_t used = 0;
	double t0 = now_s();
	int fd = dial(o);
	SSL *ssl = fd >= 0 ? SSL_new(j->ctx) : NULL;

	j->rc = 1;
	if (buf == NULL || ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
		fprintf(stderr, "sl_send: connect %s:%s: %s\n", o->host, o->port,
			fd < 0 ? "refused" : ERR_reason_error_string(ERR_get_error()));
		goto out;
	}
	for (long k = o->seq_start; k < o->seq_start + o->count; k++) {
		if (k == o->skip)
			continue;
		used += (size_t)message(o, j->id, k, buf + used, (1 << 20) - used);
		if (o->rate > 0 && (k - o->seq_start) % 100 == 99) { /* pace: 100 at a time */
			double due = t0 + (double)(k - o->seq_start + 1) / (double)o->rate;

			if (SSL_write(ssl, buf, (int)used) != (int)used)
				goto out;
			used = 0;
			while (now_s() < due)
				usleep(1000);
		}
		if (used > (1 << 20) - 80000 || k + 1 == o->seq_start + o->count) {
			if (SSL_write(ssl, buf, (int)used) != (int)used)
				goto out;
			used = 0;
		}
	}
	if (used > 0 && SSL_write(ssl, buf, (int)used) != (int)used)
		goto out;
	/* Close cleanly: close_notify, then wait for the server's EOF, so no unread byte
	 * turns our close into a reset that discards what the server has not read. */
	SSL_shutdown(ssl);
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, 4096) > 0)
		;
	j->rc = 0;
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* Does entry i of the follower hold the marker? */
static int holds(struct shelter_log_follower *f, uint64_t i, const char *marker)
{
	static char buf[SHELTER_LOG_ENTRY_MAX + 1];
	size_t size;

	if (shelter_log_follower_get(f, i, buf, sizeof(buf) - 1, &size, NULL) != 0)
		return 0;
	buf[size] = '\0';
	return strstr(buf, marker) != NULL;
}

/* Wait until a checkpoint covers the entry holding marker (at or after *from), then
 * prove and verify its inclusion. */
static int covered(struct shelter_log_follower *f, uint64_t *from, const char *marker)
{
	uint8_t proof[SHELTER_LOG_PROOF_MAX][SHELTER_LOG_HASH], leaf[SHELTER_LOG_HASH];
	static char buf[SHELTER_LOG_ENTRY_MAX];
	struct shelter_log_checkpoint cp;
	struct shelter_err err;
	size_t count, size;
	double t0 = now_s();

	while (now_s() - t0 < 10) {
		if (shelter_log_follower_update(f, &cp, &err) != 0) {
			fprintf(stderr, "sl_send: follow: %s\n", err.msg);
			return -1;
		}
		for (uint64_t i = *from; i < cp.size; i++) {
			if (!holds(f, i, marker))
				continue;
			if (shelter_log_follower_get(f, i, buf, sizeof(buf), &size, &err) != 0 ||
			    shelter_log_tree_prove_inclusion(shelter_log_follower_tree(f), i, cp.size,
							     proof, &count, &err) != 0 ||
			    shelter_log_leaf_hash(buf, size, leaf) != 0 ||
			    shelter_log_verify_inclusion(leaf, i, cp.size,
							 (const uint8_t (*)[SHELTER_LOG_HASH])proof,
							 count, cp.root, &err) != 0) {
				fprintf(stderr, "sl_send: proof: %s\n", err.msg);
				return -1;
			}
			*from = i + 1;
			return 0;
		}
		usleep(200);
	}
	fprintf(stderr, "sl_send: '%s' not covered within 10 s\n", marker);
	return -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int probe(struct opts *o, SSL_CTX *ctx)
{
	struct shelter_log_verifier v;
	struct shelter_log_follower *f = NULL;
	struct shelter_err err;
	double *lat = calloc((size_t)o->count, sizeof(double));
	char buf[70100], marker[64], needle[96];
	uint64_t from = 0;
	int fd = dial(o), rc = 1;
	SSL *ssl = fd >= 0 ? SSL_new(ctx) : NULL;

	if (lat == NULL || ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1 ||
	    shelter_log_verifier_parse(o->probe_vkey, strlen(o->probe_vkey), &v, &err) != 0 ||
	    shelter_log_follower_open(o->probe_store, &v, &f, &err) != 0 ||
	    shelter_log_follower_update(f, NULL, &err) != 0) {
		fprintf(stderr, "sl_send: probe set-up failed\n");
		goto out;
	}
	from = shelter_log_follower_size(f);
	for (long k = 0; k < o->count; k++) {
		double t0 = now_s();
		int n;

		snprintf(marker, sizeof(marker), "probe-%d-%ld", (int)getpid(), k);
		snprintf(needle, sizeof(needle), "\"host\":\"%s\"", marker);
		o->name = marker;
		n = message(o, 0, k + 1, buf, sizeof(buf));
		if (SSL_write(ssl, buf, n) != n || covered(f, &from, needle) != 0)
			goto out;
		lat[k] = now_s() - t0;
		usleep(20000);
	}
	qsort(lat, (size_t)o->count, sizeof(double), cmp_double);
	printf("probes %ld p50_ms %.2f p99_ms %.2f max_ms %.2f\n", o->count,
	       lat[o->count / 2] * 1e3, lat[o->count * 99 / 100] * 1e3, lat[o->count - 1] * 1e3);
	rc = 0;
out:
	shelter_log_follower_close(f);
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	free(lat);
	return rc;
}

static int parse(int argc, char **argv, struct opts *o)
{
	char *colon;

	memset(o, 0, sizeof(*o));
	o->conns = 1;
	o->seq_start = 1;
	o->skip = -1;
	o->name = "sl-send";
	if (argc < 3 || (colon = strrchr(argv[1], ':')) == NULL)
		return -1;
	snprintf(o->host, sizeof(o->host), "%.*s", (int)(colon - argv[1]), argv[1]);
	snprintf(o->port, sizeof(o->port), "%s", colon + 1);
	o->count = atol(argv[2]);
	for (int i = 3; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--lf") == 0) {
			o->lf = 1;
			continue;
		}
		if (strcmp(argv[i], "--probe") == 0 && i + 2 < argc) {
			o->probe_store = argv[++i];
			o->probe_vkey = argv[++i];
			continue;
		}
		if (v == NULL)
			return -1;
		if (strcmp(argv[i], "--conns") == 0)
			o->conns = atoi(v);
		else if (strcmp(argv[i], "--size") == 0)
			o->size = atoi(v);
		else if (strcmp(argv[i], "--host") == 0)
			o->name = v;
		else if (strcmp(argv[i], "--seq-start") == 0)
			o->seq_start = atol(v);
		else if (strcmp(argv[i], "--rate") == 0)
			o->rate = atol(v);
		else if (strcmp(argv[i], "--skip") == 0)
			o->skip = atol(v);
		else if (strcmp(argv[i], "--cert") == 0)
			o->cert = v;
		else if (strcmp(argv[i], "--key") == 0)
			o->key = v;
		else
			return -1;
		i++;
	}
	return o->count > 0 && o->conns > 0 && o->conns <= 256 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct job jobs[256];
	pthread_t t[256];
	SSL_CTX *ctx;
	double t0, dt;
	int rc = 0;

	if (parse(argc, argv, &o) != 0) {
		fprintf(stderr, "usage: sl_send HOST:PORT COUNT [--conns N] [--size B] [--host H] "
				"[--seq-start N] [--skip K] [--cert F --key F] [--lf]\n");
		return 2;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || (o.cert != NULL &&
			    (SSL_CTX_use_certificate_chain_file(ctx, o.cert) != 1 ||
			     SSL_CTX_use_PrivateKey_file(ctx, o.key, SSL_FILETYPE_PEM) != 1))) {
		fprintf(stderr, "sl_send: TLS set-up failed\n");
		return 1;
	}
	if (o.probe_store != NULL) {
		rc = probe(&o, ctx);
		SSL_CTX_free(ctx);
		return rc;
	}
	t0 = now_s();
	for (int i = 0; i < o.conns; i++) {
		jobs[i] = (struct job){ &o, i, 1, ctx };
		pthread_create(&t[i], NULL, sender, &jobs[i]);
	}
	for (int i = 0; i < o.conns; i++) {
		pthread_join(t[i], NULL);
		rc |= jobs[i].rc;
	}
	dt = now_s() - t0;
	SSL_CTX_free(ctx);
	if (rc == 0) {
		long sent = (o.count - (o.skip >= o.seq_start && o.skip < o.seq_start + o.count)) *
			    o.conns;

		printf("sent %ld seconds %.3f per_second %.0f\n", sent, dt, (double)sent / dt);
	}
	return rc;
}
