/* TCP plumbing shared by the freshness daemons and their clients: HOST:PORT
 * parsing, a dial with a timeout, and one-line-per-event logging. */
#ifndef SHELTER_FRESHNESS_NET_H
#define SHELTER_FRESHNESS_NET_H

#include <stdint.h>

#include "shelter/error.h"

/* "HOST:PORT", "[V6]:PORT"; host copied into host (size hsz). */
int fresh_hostport(const char *spec, char *host, size_t hsz, uint16_t *port,
		   struct shelter_err *err);
/* A connected, blocking TCP socket with TCP_NODELAY whose reads and writes time out
 * after timeout_ms (SHELTER_E_IO then). *fd owned by the caller. */
int fresh_dial(const char *spec, int timeout_ms, int *fd, struct shelter_err *err);

/* "<RFC 3339 time> shelter-<who> <event> <fields>" on stderr, one write per line. */
void fresh_log(const char *who, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
