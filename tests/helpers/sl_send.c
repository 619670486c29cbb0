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

struct opts {
	char host[256], port[16];
	long count, seq_start, skip;
	int conns, size, lf;
	const char *name, *cert, *key;
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
