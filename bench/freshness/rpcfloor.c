/* The floor under any request/answer service on this machine (bench/README.md,
 * bench/freshness/run.sh): N closed-loop client threads, each sending a request of
 * REQ bytes over its own loopback TCP connection and waiting for an answer of ANS
 * bytes from a server process that does nothing else (one thread, epoll). An append
 * through the freshness service is at least one such exchange between the client and
 * the coordinator, so its rate at N clients cannot exceed this one.
 *
 *   rpcfloor --clients N --seconds S [--request B] [--answer B]
 *
 * Prints one line like freshbench: "rpc-floor N ops ops/s p50_ms p99_ms max_ms".
 * Exit 1 with a message naming the call on any failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "latency.h"

#define MAX_CLIENTS 256
#define MAX_MSG 65536

static size_t req_bytes = 150, ans_bytes = 900;
static double t_start, t_stop;

struct worker {
	uint16_t port;
	double *lat;
	size_t n, cap;
	int failed;
};

static int xfer(int fd, char *buf, size_t len, int out)
{
	for (size_t done = 0; done < len;) {
		ssize_t r = out ? write(fd, buf + done, len - done) : read(fd, buf + done, len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* The server: every readable connection gets ans_bytes back per req_bytes read. */
static void serve(int lfd)
{
	int ep = epoll_create1(0), one = 1;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd }, evs[MAX_CLIENTS];
	static char buf[MAX_MSG];
	static size_t have[65536];

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		_exit(1);
	for (;;) {
		int k = epoll_wait(ep, evs, MAX_CLIENTS, -1);

		for (int i = 0; i < k; i++) {
			int fd = evs[i].data.fd;
			ssize_t r;

			if (fd == lfd) {
				int c = accept(lfd, NULL, NULL);

				if (c < 0 || c >= 65536)
					_exit(1);
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = c };
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r <= 0) {
				close(fd);
				continue;
			}
			for (have[fd] += (size_t)r; have[fd] >= req_bytes; have[fd] -= req_bytes)
				if (xfer(fd, buf, ans_bytes, 1) < 0)
					break;
		}
	}
}

static void *run_client(void *arg)
{
	struct worker *w = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(w->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static char pattern[MAX_MSG];
	char *buf = malloc(MAX_MSG);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (buf == NULL || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		w->failed = 1;
		goto out;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (double t0 = bench_now(); t0 < t_stop; t0 = bench_now()) {
		double t1;

		if (xfer(fd, pattern, req_bytes, 1) < 0 || xfer(fd, buf, ans_bytes, 0) < 0) {
			w->failed = 1;
			break;
		}
		t1 = bench_now();
		if (t1 < t_start || t1 > t_stop)
			continue;
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 4096;
			if ((w->lat = realloc(w->lat, w->cap * sizeof(*w->lat))) == NULL) {
				w->failed = 1;
				break;
			}
		}
		w->lat[w->n++] = (t1 - t0) * 1000.0;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "clients", 1, 0, 'c' }, { "seconds", 1, 0, 's' },
					      { "request", 1, 0, 'q' }, { "answer", 1, 0, 'a' },
					      { 0, 0, 0, 0 } };
	static struct worker ws[MAX_CLIENTS];
	pthread_t ts[MAX_CLIENTS];
	unsigned clients = 64, seconds = 5;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	double *all = NULL;
	size_t total = 0, at = 0;
	int lfd, opt, rc = 1;
	pid_t server;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'c')
			clients = (unsigned)strtoul(optarg, NULL, 10);
		else if (opt == 's')
			seconds = (unsigned)strtoul(optarg, NULL, 10);
		else if (opt == 'q')
			req_bytes = strtoul(optarg, NULL, 10);
		else if (opt == 'a')
			ans_bytes = strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (clients == 0 || clients > MAX_CLIENTS || seconds == 0 || req_bytes == 0 ||
	    req_bytes > MAX_MSG || ans_bytes == 0 || ans_bytes > MAX_MSG) {
		fprintf(stderr, "usage: rpcfloor --clients 1..%d --seconds S [--request B] "
				"[--answer B] (B 1..%d)\n", MAX_CLIENTS, MAX_MSG);
		return 2;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, MAX_CLIENTS) < 0 || getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
		perror("rpcfloor: listen");
		return 1;
	}
	server = fork();
	if (server < 0) {
		perror("rpcfloor: fork");
		return 1;
	}
	if (server == 0)
		serve(lfd);
	close(lfd);
	t_start = bench_now() + 1.0;
	t_stop = t_start + seconds;
	for (unsigned i = 0; i < clients; i++) {
		ws[i].port = ntohs(sa.sin_port);
		if (pthread_create(&ts[i], NULL, run_client, &ws[i]) != 0) {
			fprintf(stderr, "rpcfloor: cannot start thread %u\n", i);
			goto out;
		}
	}
	for (unsigned i = 0; i < clients; i++)
		pthread_join(ts[i], NULL);
	for (unsigned i = 0; i < clients; i++) {
		if (ws[i].failed) {
			fprintf(stderr, "rpcfloor: client %u: exchange failed\n", i);
			goto out;
		}
		total += ws[i].n;
	}
	if (total == 0 || (all = malloc(total * sizeof(*all))) == NULL) {
		fprintf(stderr, "rpcfloor: no exchange finished in the timed window\n");
		goto out;
	}
	for (unsigned i = 0; i < clients; i++) {
		memcpy(all + at, ws[i].lat, ws[i].n * sizeof(*all));
		at += ws[i].n;
	}
	bench_print_line("rpc-floor", clients, all, total, seconds);
	rc = 0;
out:
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	for (unsigned i = 0; i < clients; i++)
		free(ws[i].lat);
	free(all);
	return rc;
}
