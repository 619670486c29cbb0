/* The endorser daemon: docs/protocols/freshness.md §8 (wire) and §10 (running one).
 *
 * Untrusted glue around the trusted state machine of endorser.c (STYLE.md rule 4):
 * threads receive frames, wire.c decodes them into typed requests, and only those
 * typed requests reach endorser_* calls, one at a time under one mutex (§8: "one
 * serial state machine"). The signing key never leaves endorser.c; nothing here
 * sees it, and nothing is written to disk. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "freshness/client.h"
#include "freshness/fresh.h"
#include "freshness/net.h"
#include "freshness/wire.h"
#include "net/tls.h"
#include "shelter/crypto.h"
#include "shelter/measure.h"
#include "shelter/tee.h"

#define MAX_CONNS 256
#define RECV_TIMEOUT_S 120 /* idle or stalled connections are closed */
#define SEND_TIMEOUT_S 30
#define STATS_EVERY_S 10
#define THREAD_STACK (1u << 20)

/* ---- logging: one line per event (net.h) ---- */

#define endorser_log(...) fresh_log("endorser", __VA_ARGS__)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *phase_name(enum endorser_phase p)
{
	switch (p) {
	case ENDORSER_UNINIT: return "uninit";
	case ENDORSER_ACTIVE: return "active";
	case ENDORSER_LOCKED: return "locked";
	default: return "?";
	}
}

/* ---- the daemon ---- */

enum slot_state { SLOT_FREE, SLOT_RUNNING, SLOT_DONE };

struct daemon;

struct conn {
	struct daemon *d;
	pthread_t tid;
	enum slot_state state; /* under conns_mu */
	int fd;                /* under conns_mu; -1 once closed */
	char peer[64];
};

struct daemon {
	const struct fresh_endorser_config *cfg;
	uint8_t measurement[SHELTER_MEASUREMENT_SIZE];
	uint8_t pub[FR_PUB];
	uint8_t *identity; /* the 0x81 answer, made once at start */
	size_t identity_len;
	int listen_fd;
	char addr[300];
	int stopping; /* atomic */
	/* the state machine and the request counters: one request at a time (§8) */
	pthread_mutex_t mu;
	struct endorser *e;
	uint64_t requests, refused, malformed;
	/* connections, and the acceptor's own stats bookkeeping */
	pthread_mutex_t conns_mu;
	struct conn conns[MAX_CONNS];
	uint64_t accepted, logged_requests;
	double last_stats;
};

/* What a request is answered with. */
struct answer {
	uint8_t type;
	uint8_t *body; /* owned */
	size_t len;
};

/* ---- requests (§8), each under d->mu ---- */

static int on_identity(struct daemon *d, size_t len, struct answer *a, int *bad,
		       struct shelter_err *err)
{
	if (len != 0) {
		*bad = 1;
		return shelter_err_set(err, SHELTER_E_MALFORMED, "identity: a body of %zu bytes "
				       "(want none)", len);
	}
	a->body = malloc(d->identity_len);
	if (a->body == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "identity: out of memory");
	memcpy(a->body, d->identity, d->identity_len);
	a->len = d->identity_len;
	a->type = FW_IDENTITY | FW_ANSWER;
	return 0;
}

static void log_init(const struct fw_init_req *r, const struct fr_batch *out)
{
	char hex[2 * FR_HASH + 1];
	struct fr_view v;

	/* the endorser accepted this body, so it decodes */
	if (fr_view_decode(r->view, r->view_len, &v, NULL) < 0)
		return;
	shelter_hex(v.digest, FR_HASH, hex);
	endorser_log("init", "view=%" PRIu64 " digest=%s members=%u handles=%u phase=active%s",
		  v.number, hex, v.n, out->count, r->prev == NULL ? " genesis" : "");
}

static int on_init(struct daemon *d, const uint8_t *body, size_t len, struct answer *a,
		   int *bad, struct shelter_err *err)
{
	struct fw_init_req r;
	struct fr_batch out = { 0 };
	struct endorser_proof p;
	int rc = fw_init_decode(body, len, &r, err);

	if (rc < 0) {
		*bad = 1;
		return rc;
	}
	p = (struct endorser_proof){ .view = r.view, .view_len = r.view_len, .prev = r.prev,
				     .prev_len = r.prev_len, .locks = r.locks, .nlocks = r.nlocks,
				     .certs = (const struct fr_receipt *const *)r.certs,
				     .cert_lens = r.cert_lens, .ncerts = r.ncerts };
	rc = endorser_init(d->e, &p, &out, err);
	if (rc == 0) {
		log_init(&r, &out);
		rc = fr_batch_encode(&out, &a->body, &a->len, err);
	}
	a->type = FW_INIT | FW_ANSWER;
	fr_batch_free(&out);
	fw_init_free(&r);
	return rc;
}

static int on_batch(struct daemon *d, const uint8_t *body, size_t len, struct answer *a,
		    int *bad, struct shelter_err *err)
{
	struct fw_batch_req r;
	struct fr_batch out = { 0 };
	int32_t *status = NULL;
	int rc = fw_batch_decode(body, len, &r, err);

	if (rc < 0) {
		*bad = 1;
		return rc;
	}
	status = calloc(r.count ? r.count : 1, sizeof(*status));
	if (status == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "batch: out of memory");
		goto out;
	}
	rc = endorser_batch(d->e, r.items, r.count, status, &out, err);
	if (rc == 0)
		rc = fw_batch_answer_encode(status, r.count, out.count ? &out : NULL, &a->body,
					    &a->len, err);
	a->type = FW_BATCH | FW_ANSWER;
out:
	fr_batch_free(&out);
	free(status);
	fw_batch_req_free(&r);
	return rc;
}

static int on_read(struct daemon *d, const uint8_t *body, size_t len, struct answer *a, int *bad,
		   struct shelter_err *err)
{
	struct fw_read_req r;
	struct fr_batch out = { 0 };
	int rc = fw_read_decode(body, len, &r, err);

	if (rc < 0) {
		*bad = 1;
		return rc;
	}
	rc = endorser_read(d->e, r.nonce, (const uint8_t (*)[FR_HASH])r.handles, r.count, &out,
			   err);
	if (rc == 0)
		rc = fr_batch_encode(&out, &a->body, &a->len, err);
	a->type = FW_READ | FW_ANSWER;
	fr_batch_free(&out);
	fw_read_free(&r);
	return rc;
}

static int on_lock(struct daemon *d, const uint8_t *body, size_t len, struct answer *a, int *bad,
		   struct shelter_err *err)
{
	enum endorser_phase before = endorser_phase(d->e);
	struct fr_batch out = { 0 };
	char hex[2 * FR_HASH + 1];
	int rc;

	if (len != FR_HASH) { /* §8: the body is the successor view's digest */
		*bad = 1;
		return shelter_err_set(err, SHELTER_E_MALFORMED, "lock: a body of %zu bytes (want "
				       "%d)", len, FR_HASH);
	}
	rc = endorser_lock(d->e, body, &out, err);
	if (rc == 0 && before != ENDORSER_LOCKED) {
		shelter_hex(body, FR_HASH, hex);
		endorser_log("lock", "next=%s handles=%u phase=locked", hex, out.count);
	}
	if (rc == 0)
		rc = fr_batch_encode(&out, &a->body, &a->len, err);
	a->type = FW_LOCK | FW_ANSWER;
	fr_batch_free(&out);
	return rc;
}

/* One request: 0 with *a, or a code for an error frame; *bad when the frame itself
 * is malformed (§8: then the connection is closed). */
static int handle(struct daemon *d, uint8_t type, const uint8_t *body, size_t len,
		  struct answer *a, int *bad, struct shelter_err *err)
{
	switch (type) {
	case FW_IDENTITY: return on_identity(d, len, a, bad, err);
	case FW_INIT: return on_init(d, body, len, a, bad, err);
	case FW_BATCH: return on_batch(d, body, len, a, bad, err);
	case FW_READ: return on_read(d, body, len, a, bad, err);
	case FW_LOCK: return on_lock(d, body, len, a, bad, err);
	default:
		*bad = 1;
		return shelter_err_set(err, SHELTER_E_MALFORMED, "unknown frame type 0x%02x", type);
	}
}

/* ---- connections ---- */

/* The answer, or an error frame with the code and the message chain (§8 0xFF). */
static int reply(int fd, int rc, const struct answer *a, const struct shelter_err *why,
		 struct shelter_err *err)
{
	uint8_t *e = NULL;
	size_t elen = 0;

	if (rc == 0)
		return fw_send(fd, a->type, a->body, a->len, err);
	if (fw_error_encode(rc, why->msg[0] ? why->msg : shelter_code_str(rc), &e, &elen) < 0)
		return shelter_err_set(err, SHELTER_E_NOMEM, "error frame: out of memory");
	rc = fw_send(fd, FW_ERROR, e, elen, err);
	free(e);
	return rc;
}

static void conn_error(struct conn *c, const char *what, const struct shelter_err *err)
{
	if (!__atomic_load_n(&c->d->stopping, __ATOMIC_RELAXED))
		endorser_log("conn", "peer=%s what=\"%s\" reason=\"%s\"", c->peer, what, err->msg);
}

/* §8 sigs: learnt, never answered (the coordinator reads no answer to it, so not
 * even an error frame: a malformed one closes the connection). 0 or -1. */
static int serve_sigs(struct conn *c, const uint8_t *body, size_t len)
{
	struct daemon *d = c->d;
	struct fr_sighead *heads = NULL;
	struct shelter_err err;
	size_t n = 0;
	int rc = fw_sigs_decode(body, len, &heads, &n, &err);

	pthread_mutex_lock(&d->mu);
	if (rc == 0)
		(void)endorser_learn(d->e, heads, n);
	d->requests++;
	d->malformed += rc < 0;
	pthread_mutex_unlock(&d->mu);
	free(heads);
	if (rc < 0)
		conn_error(c, "malformed sigs; closed", &err);
	return rc < 0 ? -1 : 0;
}

/* One frame in, one frame out; 0 to go on, -1 to close, -2 to close after a
 * malformed frame (§8). */
static int serve_one(struct conn *c)
{
	struct daemon *d = c->d;
	struct shelter_err err, serr;
	struct answer a = { 0 };
	uint8_t type, *body = NULL;
	size_t len;
	int bad = 0, rc;

	shelter_err_clear(&err);
	shelter_err_clear(&serr);
	rc = fw_recv(c->fd, &type, &body, &len, &err);
	if (rc == SHELTER_E_NOENT)
		return -1; /* the peer closed between frames */
	if (rc < 0 && rc != SHELTER_E_MALFORMED) {
		conn_error(c, "receive", &err);
		return -1;
	}
	if (rc == 0 && type == FW_SIGS) {
		rc = serve_sigs(c, body, len);
		free(body);
		return rc;
	}
	pthread_mutex_lock(&d->mu);
	if (rc == 0)
		rc = handle(d, type, body, len, &a, &bad, &err);
	else
		bad = 1;
	d->requests++;
	d->refused += rc < 0;
	d->malformed += bad;
	pthread_mutex_unlock(&d->mu);
	free(body);
	if (reply(c->fd, rc, &a, &err, &serr) < 0)
		conn_error(c, "send", &serr);
	else if (bad)
		conn_error(c, "malformed frame; closed", &err);
	free(a.body);
	return serr.code != 0 ? -1 : bad ? -2 : 0;
}

/* After an error frame for a malformed frame, close without losing it: a close
 * with unread bytes sends a TCP reset, which may discard the error frame before the
 * peer reads it. So end our side, and read what the peer still sends (bounded). */
static void linger_close(int fd)
{
	struct timeval tv = { .tv_sec = 1 };
	uint8_t sink[4096];
	size_t total = 0;
	ssize_t r;

	shutdown(fd, SHUT_WR);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (total < (1u << 20) && (r = read(fd, sink, sizeof(sink))) > 0)
		total += (size_t)r;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	int rc;

	while ((rc = serve_one(c)) == 0)
		;
	if (rc == -2)
		linger_close(c->fd);
	pthread_mutex_lock(&c->d->conns_mu);
	close(c->fd);
	c->fd = -1;
	c->state = SLOT_DONE;
	pthread_mutex_unlock(&c->d->conns_mu);
	return NULL;
}

static void peer_name(int fd, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		snprintf(out, size, "[%s]:%u", ip, port);
		return;
	}
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	snprintf(out, size, "%s:%u", ip, port);
}

static void socket_options(int fd)
{
	struct timeval rt = { .tv_sec = RECV_TIMEOUT_S }, st = { .tv_sec = SEND_TIMEOUT_S };
	int one = 1;

	/* best effort: without them a connection is only slower to time out */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &st, sizeof(st));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Join the threads of closed connections so their slots can be reused. */
static void reap(struct daemon *d)
{
	for (size_t i = 0; i < MAX_CONNS; i++) {
		enum slot_state s;

		pthread_mutex_lock(&d->conns_mu);
		s = d->conns[i].state;
		pthread_mutex_unlock(&d->conns_mu);
		if (s != SLOT_DONE)
			continue;
		pthread_join(d->conns[i].tid, NULL);
		pthread_mutex_lock(&d->conns_mu);
		d->conns[i].state = SLOT_FREE;
		pthread_mutex_unlock(&d->conns_mu);
	}
}

static struct conn *free_slot(struct daemon *d)
{
	struct conn *c = NULL;

	pthread_mutex_lock(&d->conns_mu);
	for (size_t i = 0; i < MAX_CONNS && c == NULL; i++)
		if (d->conns[i].state == SLOT_FREE)
			c = &d->conns[i];
	pthread_mutex_unlock(&d->conns_mu);
	return c;
}

static void refuse_busy(int fd, const char *peer)
{
	struct shelter_err err;
	uint8_t *e = NULL;
	size_t elen;

	shelter_err_clear(&err);
	endorser_log("conn", "peer=%s what=\"accept\" reason=\"%d connections open\"", peer,
		  MAX_CONNS);
	if (fw_error_encode(SHELTER_E_NOMEM, "endorser: too many connections; try again later",
			    &e, &elen) == 0)
		(void)fw_send(fd, FW_ERROR, e, elen, &err);
	free(e);
	close(fd);
}

static void accept_one(struct daemon *d, const pthread_attr_t *attr)
{
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	struct conn *c;
	char peer[64];

	if (fd < 0)
		return;
	socket_options(fd);
	peer_name(fd, peer, sizeof(peer));
	c = free_slot(d);
	if (c == NULL)
		return refuse_busy(fd, peer);
	d->accepted++;
	pthread_mutex_lock(&d->conns_mu);
	c->d = d;
	c->fd = fd;
	c->state = SLOT_RUNNING;
	memcpy(c->peer, peer, sizeof(peer));
	pthread_mutex_unlock(&d->conns_mu);
	if (pthread_create(&c->tid, attr, conn_main, c) != 0) {
		endorser_log("conn", "peer=%s what=\"accept\" reason=\"no thread\"", peer);
		pthread_mutex_lock(&d->conns_mu);
		close(fd);
		c->fd = -1;
		c->state = SLOT_FREE;
		pthread_mutex_unlock(&d->conns_mu);
	}
}

static unsigned open_conns(struct daemon *d)
{
	unsigned n = 0;

	pthread_mutex_lock(&d->conns_mu);
	for (size_t i = 0; i < MAX_CONNS; i++)
		n += d->conns[i].state == SLOT_RUNNING;
	pthread_mutex_unlock(&d->conns_mu);
	return n;
}

/* At most every STATS_EVERY_S, and only when requests were served since the last. */
static void stats(struct daemon *d)
{
	uint64_t req, refused, malformed;
	enum endorser_phase phase;
	size_t handles;
	double t = now_s();

	if (t - d->last_stats < STATS_EVERY_S)
		return;
	pthread_mutex_lock(&d->mu);
	req = d->requests;
	refused = d->refused;
	malformed = d->malformed;
	phase = endorser_phase(d->e);
	handles = endorser_handles(d->e);
	pthread_mutex_unlock(&d->mu);
	if (req == d->logged_requests)
		return;
	endorser_log("stats", "requests=%" PRIu64 " total=%" PRIu64 " refused=%" PRIu64
		  " malformed=%" PRIu64 " open=%u phase=%s handles=%zu",
		  req - d->logged_requests, req, refused, malformed, open_conns(d),
		  phase_name(phase), handles);
	d->logged_requests = req;
	d->last_stats = t;
}

static void accept_loop(struct daemon *d)
{
	static volatile sig_atomic_t never;
	volatile sig_atomic_t *stop = d->cfg->stop != NULL ? d->cfg->stop : &never;
	struct pollfd pfd[2] = { { .fd = d->listen_fd, .events = POLLIN },
				 { .fd = d->cfg->stop_fd, .events = POLLIN } };
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	d->last_stats = now_s();
	while (!*stop) {
		int n = poll(pfd, 2, 1000);

		reap(d);
		stats(d);
		if (n > 0 && (pfd[0].revents & POLLIN) && !*stop)
			accept_one(d, &attr);
	}
	pthread_attr_destroy(&attr);
}

/* Cut every connection (a thread waiting for a frame sees its end) and join all. */
static void stop_conns(struct daemon *d)
{
	__atomic_store_n(&d->stopping, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&d->conns_mu);
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (d->conns[i].state == SLOT_RUNNING && d->conns[i].fd >= 0)
			shutdown(d->conns[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&d->conns_mu);
	for (size_t i = 0; i < MAX_CONNS; i++) {
		enum slot_state s;

		pthread_mutex_lock(&d->conns_mu);
		s = d->conns[i].state;
		pthread_mutex_unlock(&d->conns_mu);
		if (s != SLOT_FREE)
			pthread_join(d->conns[i].tid, NULL);
		d->conns[i].state = SLOT_FREE;
	}
}

/* ---- start-up ---- */

/* The endorser's code identity, quoted over its key (§3.3): measured like the CAS
 * (src/cas/server.c open_tee), on the sim platform. The TEE is needed only for
 * this one quote. */
static int make_identity(struct daemon *d, struct shelter_err *err)
{
	struct shelter_tee_opts to = { .backend = "sim", .platform_dir = d->cfg->platform_dir };
	uint8_t rd[SHELTER_REPORT_DATA_SIZE], *quote = NULL;
	struct shelter_tee *tee = NULL;
	struct shelter_identity id;
	size_t qlen = 0;
	int rc = fresh_endorser_measurement(d->measurement, err);

	if (rc == 0)
		rc = shelter_measure_identity(d->measurement, NULL, 0, &id, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "measure the endorser");
	to.launch = &id;
	rc = shelter_tee_open(&to, &tee, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "endorser platform");
	rc = endorser_new(&d->e, err); /* §4.1: a key of its own, drawn now */
	if (rc == 0) {
		endorser_public_key(d->e, d->pub);
		rc = fr_endorser_report_data(d->pub, rd) < 0
			     ? shelter_err_set(err, SHELTER_E_INTERNAL, "report data: hashing failed")
			     : shelter_tee_quote(tee, rd, &quote, &qlen, err);
	}
	if (rc == 0)
		rc = fw_identity_encode(d->pub, quote, qlen, &d->identity, &d->identity_len, err);
	free(quote);
	shelter_tee_close(tee);
	return rc < 0 ? shelter_err_wrap(err, rc, "endorser identity") : 0;
}

static int start_listen(struct daemon *d, const char *host, uint16_t port,
			struct shelter_err *err)
{
	uint16_t actual;
	int rc = tls_listen(host, port, 128, &d->listen_fd, &actual, err);

	if (rc < 0)
		return rc;
	snprintf(d->addr, sizeof(d->addr), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
		 (unsigned)actual);
	return 0;
}

static void log_start(const struct daemon *d)
{
	char pub[2 * FR_PUB + 1], m[2 * SHELTER_MEASUREMENT_SIZE + 1];

	shelter_hex(d->pub, FR_PUB, pub);
	shelter_hex(d->measurement, sizeof(d->measurement), m);
	endorser_log("start", "pubkey=%s measurement=%s phase=uninit listening on %s", pub, m,
		  d->addr);
}

static void serve(struct daemon *d)
{
	log_start(d);
	accept_loop(d);
	endorser_log("stopping", "reason=signal");
	close(d->listen_fd);
	d->listen_fd = -1;
	stop_conns(d);
	reap(d);
	endorser_log("stopped", "requests=%" PRIu64 " refused=%" PRIu64 " malformed=%" PRIu64
		  " connections=%" PRIu64 " phase=%s handles=%zu", d->requests, d->refused,
		  d->malformed, d->accepted, phase_name(endorser_phase(d->e)),
		  endorser_handles(d->e));
}

int fresh_endorser_serve(const struct fresh_endorser_config *cfg, struct shelter_err *err)
{
	struct daemon *d = calloc(1, sizeof(*d));
	char host[256];
	uint16_t port = 0;
	int rc;

	if (d == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "endorser: out of memory");
	d->cfg = cfg;
	d->listen_fd = -1;
	pthread_mutex_init(&d->mu, NULL);
	pthread_mutex_init(&d->conns_mu, NULL);
	for (size_t i = 0; i < MAX_CONNS; i++)
		d->conns[i].fd = -1;
	/* the address first: a typo should not wait for a measurement */
	rc = fresh_hostport(cfg->listen != NULL ? cfg->listen : "", host, sizeof(host), &port, err);
	if (rc == 0)
		rc = make_identity(d, err);
	if (rc == 0)
		rc = start_listen(d, host, port, err);
	if (rc == 0)
		serve(d);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	endorser_free(d->e); /* wipes the key (shelter_secret_free) */
	free(d->identity);
	pthread_mutex_destroy(&d->mu);
	pthread_mutex_destroy(&d->conns_mu);
	free(d);
	return rc;
}
