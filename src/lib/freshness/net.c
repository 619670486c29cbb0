/* TCP plumbing of the freshness service (net.h). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "freshness/net.h"

int fresh_hostport(const char *spec, char *host, size_t hsz, uint16_t *port,
		   struct shelter_err *err)
{
	const char *colon = strrchr(spec, ':');
	size_t n = colon != NULL ? (size_t)(colon - spec) : 0;
	char *end;
	long p;

	if (colon == NULL || n == 0 || n >= hsz)
		return shelter_err_set(err, SHELTER_E_INVAL, "'%s': expected HOST:PORT", spec);
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
		return shelter_err_set(err, SHELTER_E_INVAL, "'%s': bad port", spec);
	if (spec[0] == '[' && n >= 2 && spec[n - 1] == ']') {
		spec++;
		n -= 2;
	}
	memcpy(host, spec, n);
	host[n] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int set_timeouts(int fd, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	int one = 1;

	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
			       setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
			       setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0
		       ? 0
		       : -1;
}

int fresh_dial(const char *spec, int timeout_ms, int *out, struct shelter_err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[256], ps[8];
	uint16_t port;
	int fd = -1, e = 0, rc = fresh_hostport(spec, host, sizeof(host), &port, err);

	*out = -1;
	if (rc < 0)
		return rc;
	snprintf(ps, sizeof(ps), "%u", (unsigned)port);
	rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0)
		return shelter_err_set(err, SHELTER_E_NET, "connect %s: %s", spec, gai_strerror(rc));
	for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		/* the send timeout also bounds connect() on Linux */
		if (fd >= 0 && (set_timeouts(fd, timeout_ms) < 0 ||
				connect(fd, a->ai_addr, a->ai_addrlen) < 0)) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return shelter_err_set(err, SHELTER_E_NET, "connect %s: %s", spec, strerror(e));
	*out = fd;
	return 0;
}

void fresh_log(const char *who, const char *event, const char *fmt, ...)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	char line[2048], now[40];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ shelter-%s %s ", now, ts.tv_nsec / 1000000,
		     who, event);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	for (char *p = line; *p != '\0'; p++) /* one line per event, whatever the fields */
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	pthread_mutex_lock(&mu);
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
	pthread_mutex_unlock(&mu);
}
