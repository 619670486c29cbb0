/* streamlog serve: the daemon (docs/streamlog.md §3.1, §4, §5, §6).
 *
 * One thread per TLS connection reads syslog frames, turns each into an event and
 * appends it; after each read batch it syncs, so the log's group commit (log.md §6.1)
 * gathers the batches of every connection into one fdatasync. A ticker thread makes
 * silence visible (§4) and anchors a checkpoint every interval (log.md §7). The
 * follower thread (follow_src.c) reads --follow files and every audit record, those
 * that connections receive over syslog included (docs/streamlog.md §3.5). */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "shelter/crypto.h"
#include "streamlog/common.h"
#include "streamlog/follow_src.h"
#include "streamlog/listen.h"
#include "streamlog/route.h"
#include "streamlog/serve.h"
#include "streamlog/serve_int.h"
#include "streamlog/syslog.h"

#define CONN_BUF (256u << 10)
#define SCRATCH_SIZE (256u << 10) /* a syslog message's and its MSG's (route.h) */
#define EPHEMERAL_NS (3600LL * 1000000000) /* a tlog recording's source is forgotten */
#define SOURCES_BUCKETS 1024

struct source {
	char key[512];
	int64_t last_seen; /* monotonic ns */
	int64_t last_seq;
	int silent;
	int ephemeral; /* a tlog recording or a file: never silent, forgotten when idle */
	struct source *next;
};

struct conn {
	struct server *srv;
	int fd;
	SSL *ssl;
	char peer[128]; /* address:port, for the daemon's own log lines */
	char addr[64];  /* address alone: a source reconnecting is the same source */
	char id[256];
	uint64_t messages;
	uint64_t serial; /* names the connection's audit adapters (follow_src.h) */
};

/* How long read batches waited to be durable, from their first byte read to the end of
 * their sync: the moment an acknowledgement could be sent (§6). Counts per quarter
 * octave of microseconds: bucket b holds times up to 2^(b/4) us (1 us for b < 4). */
#define DURABLE_BUCKETS 112
struct durable {
	uint64_t n[DURABLE_BUCKETS];
	uint64_t max_us;
};

struct server {
	const struct sl_serve_config *cfg;
	struct shelter_log *log;
	SSL_CTX *tls;
	int lfd;
	pthread_mutex_t mu; /* sources, counters */
	struct sl_listener conns; /* the connection threads */
	struct source *sources[SOURCES_BUCKETS];
	int failed; /* a commit failed: the log is poisoned, the daemon stops */
	struct sl_anchor *anchor; /* the freshness anchor; NULL: the local file */
	char anchor_what[512];    /* where checkpoints are anchored, for log lines */
	unsigned anchor_failures; /* failed anchors in a row (the ticker's) */
	struct sl_follow *follow; /* --follow files and every audit adapter */
	uint64_t conns_accepted;
	struct durable durable; /* every connection's, added atomically; logged at stop */
};

/* ---- time to durable ---- */

static uint64_t durable_upper_us(unsigned b)
{
	static const double q[4] = { 1.0, 1.189207, 1.414214, 1.681793 };

	return (uint64_t)((double)(UINT64_C(1) << (b / 4)) * q[b % 4]);
}

/* A batch read from since_ns on is durable now: into the connection's counts (its
 * thread's own) and the server's (shared: atomic). */
static void durable_note(struct server *srv, struct durable *own, int64_t since_ns)
{
	uint64_t us = (uint64_t)((sl_mono_ns() - since_ns) / 1000);
	uint64_t max = __atomic_load_n(&srv->durable.max_us, __ATOMIC_RELAXED);
	unsigned b = 0;

	while (b + 1 < DURABLE_BUCKETS && durable_upper_us(b) < us)
		b++;
	own->n[b]++;
	if (us > own->max_us)
		own->max_us = us;
	__atomic_fetch_add(&srv->durable.n[b], 1, __ATOMIC_RELAXED);
	while (us > max && !__atomic_compare_exchange_n(&srv->durable.max_us, &max, us, 0,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* "N batches durable after read: p50 <= X ms, p99 <= Y ms, max Z ms" (bucket upper
 * bounds: within a fifth) into out; empty when there was none. */
static void durable_text(const struct durable *d, char *out, size_t size)
{
	uint64_t total = 0, seen = 0;
	double q[2] = { 0.5, 0.99 }, at[2] = { 0, 0 };
	unsigned k = 0;

	for (unsigned b = 0; b < DURABLE_BUCKETS; b++)
		total += d->n[b];
	out[0] = '\0';
	if (total == 0)
		return;
	for (unsigned b = 0; b < DURABLE_BUCKETS && k < 2; b++) {
		seen += d->n[b];
		while (k < 2 && (double)seen >= q[k] * (double)total)
			at[k++] = (double)durable_upper_us(b) / 1000.0;
	}
	snprintf(out, size, "%llu batches durable after read: p50 <= %.3f ms, p99 <= %.3f ms, "
		 "max %.3f ms", (unsigned long long)total, at[0], at[1],
		 (double)d->max_us / 1000.0);
}

/* ---- appending events ---- */

/* Append e and return its index; the caller syncs. A failed append stops the
 * daemon: nothing may be acknowledged after the log refused something. */
static int record(struct server *srv, const struct sl_event *e, char *json, uint64_t *index)
{
	struct shelter_err err;
	size_t size;
	int rc;

	rc = sl_event_json(e, json, SL_EVENT_JSON_MAX, &size, &err);
	if (rc == 0)
		rc = shelter_log_append(srv->log, json, size, index, &err);
	if (rc != 0) {
		sl_log("append: %s", err.msg);
		srv->failed = 1;
		sl_stop = 1;
	}
	return rc;
}

static int sync_to(struct server *srv, uint64_t index)
{
	struct shelter_err err;
	int rc = shelter_log_sync(srv->log, index, &err);

	if (rc != 0) {
		sl_log("commit: %s", err.msg);
		srv->failed = 1;
		sl_stop = 1;
	}
	return rc;
}

/* StreamLog's own record (§4): what happened to a source or to the daemon. */
static int record_own(struct server *srv, const char *action, const char *result,
		      const char *target, const char *message, int sync)
{
	char *json = malloc(SL_EVENT_JSON_MAX);
	struct sl_event e;
	uint64_t index;
	int rc;

	if (json == NULL)
		return SHELTER_E_NOMEM;
	sl_event_init(&e);
	e.source = SL_SRC_STREAMLOG;
	e.source_id = sl_str_c(srv->cfg->origin);
	e.time_ns = e.received_ns = sl_now_ns();
	e.action = sl_str_c(action);
	e.result = sl_str_c(result);
	e.target = sl_str_c(target);
	e.message = sl_str_c(message);
	rc = record(srv, &e, json, &index);
	if (rc == 0 && sync)
		rc = sync_to(srv, index);
	free(json);
	return rc;
}

/* ---- loss made visible (§4) ---- */

static struct source *source_get(struct server *srv, const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a: spreads keys, nothing secret rides on it */
	struct source **b, *s;

	for (const char *p = key; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	b = &srv->sources[h % SOURCES_BUCKETS];
	for (s = *b; s != NULL; s = s->next)
		if (strcmp(s->key, key) == 0)
			return s;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	snprintf(s->key, sizeof(s->key), "%s", key);
	s->last_seq = SL_NONE;
	s->next = *b;
	*b = s;
	return s;
}

/* Note a record of a source; returns what StreamLog must record about it: 0
 * nothing, 1 a gap (*from..*to missing), 2 the numbering went back, 3 resumed. */
static int track(struct server *srv, const struct sl_event *e, char *key, size_t key_size,
		 int64_t *from, int64_t *to)
{
	struct source *s;
	int what = 0;
	/* docs/streamlog.md §3.2.6: audit serials are no loss signal */
	int64_t seq = e->source == SL_SRC_AUDIT ? SL_NONE : e->source_seq;
	/* tlog numbers the messages of each recording (docs/streamlog.md §3.4);
	 * files are not expected to be written to all the time (docs/streamlog.md §3.5.6) */
	int tlog = e->source == SL_SRC_TLOG,
	    ephemeral = tlog || (e->source_id.len >= 5 && memcmp(e->source_id.p, "file:", 5) == 0);

	snprintf(key, key_size, "%.*s|%.*s%s%.*s", (int)e->source_id.len,
		 e->source_id.p ? e->source_id.p : "", (int)e->host.len,
		 e->host.p ? e->host.p : "", tlog ? "|" : "", tlog ? (int)e->session.len : 0,
		 tlog && e->session.p ? e->session.p : "");
	pthread_mutex_lock(&srv->mu);
	s = source_get(srv, key);
	if (s != NULL) {
		s->ephemeral = ephemeral;
		if (s->silent) {
			s->silent = 0;
			what = 3;
		}
		if (seq != SL_NONE && s->last_seq != SL_NONE) {
			if (seq > s->last_seq + 1) {
				*from = s->last_seq + 1;
				*to = seq - 1;
				what = 1;
			} else if (seq <= s->last_seq) {
				*from = s->last_seq;
				*to = seq;
				what = 2;
			}
		}
		if (seq != SL_NONE)
			s->last_seq = seq;
		s->last_seen = sl_mono_ns();
	}
	pthread_mutex_unlock(&srv->mu);
	return what;
}

static void report_track(struct server *srv, int what, const char *key, int64_t from,
			 int64_t to)
{
	char msg[700];

	switch (what) {
	case 1:
		snprintf(msg, sizeof(msg), "records %lld to %lld of %s never arrived (%lld)",
			 (long long)from, (long long)to, key, (long long)(to - from + 1));
		record_own(srv, "sequence gap", "loss", key, msg, 0);
		break;
	case 2:
		snprintf(msg, sizeof(msg), "%s numbered %lld after %lld: restarted or replayed",
			 key, (long long)to, (long long)from);
		record_own(srv, "sequence restart", "warning", key, msg, 0);
		break;
	case 3:
		snprintf(msg, sizeof(msg), "%s sends again", key);
		record_own(srv, "source resumed", "ok", key, msg, 0);
		break;
	default:
		break;
	}
}

/* ---- one connection ---- */

struct conn_io {
	char *buf, *json;
	struct sl_scratch scratch;
	struct sl_framer framer;
	uint64_t last;
	int appended;
	uint64_t audit_ticket; /* audit lines queued to the follower (docs/streamlog.md §3.5.3) */
	struct durable durable; /* this connection's batches */
};

/* An audit record in a syslog message goes to the follower thread, which owns every
 * audit adapter; the batch's sync waits for it (read_batch). */
static int route_audit(struct conn *c, struct conn_io *io, const struct sl_event *e)
{
	struct sl_str host = e->host.p != NULL ? e->host : sl_str_c(c->addr);

	if (sl_follow_audit_line(c->srv->follow, c->serial, c->id, host, e->message,
				 &io->audit_ticket) != 0)
		return -1;
	c->messages++;
	return 0;
}

static int handle_message(struct conn *c, struct conn_io *io, struct sl_str msg)
{
	struct shelter_err err;
	struct sl_event e, inner;
	struct sl_scratch rest;
	char key[512];
	int64_t from = 0, to = 0;
	enum sl_source kind;
	int what;

	io->scratch.used = 0;
	sl_event_init(&e);
	if (sl_syslog_parse(msg.p, msg.len, sl_now_ns(), &e, &io->scratch, &err) != 0)
		sl_event_unparsed(SL_SRC_SYSLOG, msg.p, msg.len, sl_now_ns(), &e);
	e.source_id = sl_str_c(c->id);
	what = track(c->srv, &e, key, sizeof(key), &from, &to);
	if (what != 0)
		report_track(c->srv, what, key, from, to);
	kind = sl_syslog_route(&e);
	if (kind == SL_SRC_AUDIT)
		return route_audit(c, io, &e);
	if (kind == SL_SRC_TLOG || kind == SL_SRC_SUDO) {
		rest = (struct sl_scratch){ io->scratch.p + io->scratch.used, 0,
					    io->scratch.cap - io->scratch.used };
		sl_route_inner(kind, &e, msg, &rest, &inner);
		e = inner;
		if (kind == SL_SRC_TLOG && (what = track(c->srv, &e, key, sizeof(key), &from,
							   &to)) != 0)
			report_track(c->srv, what, key, from, to);
	}
	if (record(c->srv, &e, io->json, &io->last) != 0)
		return -1;
	io->appended = 1;
	c->messages++;
	return 0;
}

/* Frame and record what the buffer holds; keep a partial frame. */
static int drain(struct conn *c, struct conn_io *io, size_t *len)
{
	struct shelter_err err;
	size_t pos = 0;

	for (;;) {
		struct sl_str msg = { NULL, 0 };
		size_t used = 0;
		int rc = sl_framer_next(&io->framer, io->buf + pos, *len - pos, &used, &msg, &err);

		pos += used;
		if (rc == 1)
			break;
		if (rc < 0) {
			sl_log("%s: %s", c->peer, err.msg);
			return -1;
		}
		if (handle_message(c, io, msg) != 0)
			return -1;
	}
	memmove(io->buf, io->buf + pos, *len - pos);
	*len -= pos;
	return 0;
}

/* Read what is there now (one TLS record, then whatever follows without waiting, up to
 * CONN_BUF bytes in all: a sender that never pauses must not keep its messages from
 * the disk), record it, then make it durable in one sync (§6). */
static int read_batch(struct conn *c, struct conn_io *io, size_t *len)
{
	int64_t first = 0;
	size_t read = 0;
	int n;

	io->appended = 0;
	do {
		n = SSL_read(c->ssl, io->buf + *len, (int)(CONN_BUF - *len));
		if (n <= 0) /* the close is recorded with a sync (conn_run) */
			return n == 0 || SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN ? 1 : -1;
		if (first == 0)
			first = sl_mono_ns();
		*len += (size_t)n;
		read += (size_t)n;
		if (drain(c, io, len) != 0)
			return -1;
	} while (read < CONN_BUF && *len < CONN_BUF &&
		 (SSL_pending(c->ssl) > 0 || poll(&(struct pollfd){ c->fd, POLLIN, 0 }, 1, 0) > 0));
	if (io->audit_ticket != 0 && sl_follow_wait(c->srv->follow, io->audit_ticket) != 0)
		return -1;
	io->audit_ticket = 0;
	if (io->appended && sync_to(c->srv, io->last) != 0)
		return -1;
	if (io->appended)
		durable_note(c->srv, &io->durable, first);
	return 0;
}

static void conn_identity(struct conn *c)
{
	X509 *cert = SSL_get1_peer_certificate(c->ssl);
	char cn[200] = "";

	if (cert != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
					  sizeof(cn));
	X509_free(cert);
	if (cn[0] != '\0')
		snprintf(c->id, sizeof(c->id), "tls:%s", cn);
	else
		snprintf(c->id, sizeof(c->id), "tcp:%s", c->addr);
}

static void conn_run(void *arg)
{
	struct conn *c = arg;
	struct conn_io io;
	char msg[400], dur[200];
	size_t len = 0;
	int rc = -1;

	memset(&io, 0, sizeof(io));
	io.buf = malloc(CONN_BUF);
	io.json = malloc(SL_EVENT_JSON_MAX);
	io.scratch.p = malloc(SCRATCH_SIZE);
	io.scratch.cap = SCRATCH_SIZE;
	sl_framer_init(&io.framer, 0);
	if (io.buf == NULL || io.json == NULL || io.scratch.p == NULL)
		goto out;
	if (SSL_accept(c->ssl) != 1) {
		sl_log("%s: TLS handshake failed: %s", c->peer,
		       ERR_reason_error_string(ERR_peek_last_error()));
		goto out;
	}
	conn_identity(c);
	sl_log("connection from %s as %s", c->peer, c->id);
	record_own(c->srv, "source connected", "ok", c->id, c->peer, 0);
	while (!sl_stop && (rc = read_batch(c, &io, &len)) == 0)
		;
	/* the connection's audit adapters: their incomplete events are recorded first */
	if (sl_follow_audit_close(c->srv->follow, c->serial, &io.audit_ticket) == 0 &&
	    sl_follow_wait(c->srv->follow, io.audit_ticket) != 0)
		sl_log("%s: audit records of the connection not all recorded", c->peer);
	snprintf(msg, sizeof(msg), "%s closed after %llu records%s", c->peer,
		 (unsigned long long)c->messages,
		 len > 0 ? " with a partial frame pending" : "");
	if (!c->srv->failed)
		record_own(c->srv, "source disconnected", rc == 1 ? "ok" : "error", c->id, msg, 1);
	durable_text(&io.durable, dur, sizeof(dur));
	sl_log("%s%s%s", msg, dur[0] != '\0' ? "; " : "", dur);
	if (rc == 1) /* the sender closed: answer its close_notify, end the stream */
		SSL_shutdown(c->ssl);
	shutdown(c->fd, SHUT_RDWR);
out:
	free(io.buf);
	free(io.json);
	if (io.scratch.p != NULL)
		shelter_wipe(io.scratch.p, SCRATCH_SIZE);
	free(io.scratch.p);
}

/* ---- the connection threads (listen.h) ---- */

static void *conn_open(void *ctx, int fd, const struct sockaddr *sa, socklen_t sa_len)
{
	struct server *srv = ctx;
	char host[64], port[16]; /* numeric: an IPv6 address fits */
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->ssl = SSL_new(srv->tls)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		if (c != NULL)
			SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	c->srv = srv;
	c->fd = fd;
	c->serial = ++srv->conns_accepted;
	if (getnameinfo(sa, sa_len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		snprintf(c->peer, sizeof(c->peer), "%.64s:%.16s", host, port);
		snprintf(c->addr, sizeof(c->addr), "%s", host);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 300 },
		   sizeof(struct timeval));
	return c;
}

static void conn_wake(void *arg)
{
	struct conn *c = arg;

	shutdown(c->fd, SHUT_RDWR); /* wakes its SSL_read */
}

static void conn_free(void *arg, int ran)
{
	struct conn *c = arg;

	if (!ran)
		sl_log("%s: no thread for the connection", c->peer);
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
}

static const struct sl_listen_ops conn_ops = { conn_open, conn_run, conn_wake, conn_free };

/* ---- the ticker: silence and anchors ---- */

static void check_silence(struct server *srv)
{
	int64_t now = sl_mono_ns(), limit = (int64_t)srv->cfg->silence_ms * 1000000;
	char keys[16][512];
	int n = 0;

	pthread_mutex_lock(&srv->mu);
	for (unsigned b = 0; b < SOURCES_BUCKETS; b++) {
		for (struct source **p = &srv->sources[b]; *p != NULL;) {
			struct source *s = *p;

			if (!s->ephemeral || now - s->last_seen <= EPHEMERAL_NS) {
				p = &s->next;
				continue;
			}
			*p = s->next; /* a recording long over: its numbering is not checked on */
			free(s);
		}
	}
	for (unsigned b = 0; b < SOURCES_BUCKETS && n < 16; b++) {
		for (struct source *s = srv->sources[b]; s != NULL && n < 16; s = s->next) {
			if (limit > 0 && !s->ephemeral && !s->silent && now - s->last_seen > limit) {
				s->silent = 1;
				snprintf(keys[n++], sizeof(keys[0]), "%s", s->key);
			}
		}
	}
	pthread_mutex_unlock(&srv->mu);
	for (int i = 0; i < n; i++) {
		char msg[700];

		snprintf(msg, sizeof(msg), "no record from %.511s for %u ms", keys[i],
			 srv->cfg->silence_ms);
		record_own(srv, "source silent", "loss", keys[i], msg, i == n - 1);
	}
}

struct timers {
	int64_t anchor, publish, silence;
};

/* Due when at least ms have passed since *last; then *last is now. */
static int due(int64_t *last, unsigned ms)
{
	int64_t now = sl_mono_ns();

	if (now - *last < (int64_t)ms * 1000000)
		return 0;
	*last = now;
	return 1;
}

/* An anchor that fails does not stop the recorder (§5): what it records is still
 * durable. The failure is made visible once, as a log line and an event of its own
 * (§4), the anchor is tried again every interval, and its return is recorded too. */
static void anchor_tick(struct server *srv)
{
	struct shelter_err err;
	char msg[128];

	if (shelter_log_anchor_now(srv->log, &err) != 0) {
		if (srv->anchor_failures++ > 0)
			return;
		sl_log("anchor failed: %s; recording goes on, the anchor is retried every %u ms",
		       err.msg, srv->cfg->anchor_ms);
		record_own(srv, "anchor failed", "error", srv->anchor_what, err.msg, 1);
		return;
	}
	if (srv->anchor_failures == 0)
		return;
	snprintf(msg, sizeof(msg), "anchored again after %u failed attempts",
		 srv->anchor_failures);
	srv->anchor_failures = 0;
	sl_log("anchor resumed: %s", msg);
	record_own(srv, "anchor resumed", "ok", srv->anchor_what, msg, 1);
}

/* §5: publish the checkpoint often (readers see new events covered within
 * --publish-ms), anchor it every --anchor-ms, look for silent sources (§4). */
static void tick(struct server *srv, struct timers *t)
{
	struct shelter_err err;

	if (due(&t->silence, 100))
		check_silence(srv); /* also forgets tlog recordings long over */
	if (due(&t->anchor, srv->cfg->anchor_ms)) {
		t->publish = t->anchor;
		anchor_tick(srv);
	} else if (due(&t->publish, srv->cfg->publish_ms) &&
		   shelter_log_publish(srv->log, &err) != 0) {
		sl_log("publish: %s", err.msg);
	}
}

/* ---- set-up ---- */

static int tls_setup(struct server *srv, const struct sl_serve_config *cfg)
{
	srv->tls = SSL_CTX_new(TLS_server_method());
	if (srv->tls == NULL || SSL_CTX_set_min_proto_version(srv->tls, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(srv->tls, cfg->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(srv->tls, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(srv->tls) != 1) {
		sl_log("TLS: certificate '%s' or key '%s' unusable: %s", cfg->cert, cfg->tls_key,
		       ERR_reason_error_string(ERR_peek_last_error()));
		return -1;
	}
	SSL_CTX_set_options(srv->tls, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* No TLS 1.3 session tickets: a sender that never reads (syslog senders only
	 * write) would close with the tickets unread, and its kernel would answer with a
	 * reset that discards what this side has not read yet. */
	SSL_CTX_set_num_tickets(srv->tls, 0);
	SSL_CTX_set_session_cache_mode(srv->tls, SSL_SESS_CACHE_OFF);
	if (cfg->client_ca != NULL) {
		/* RFC 5425 §5.1: mutual authentication; the peer's CN names the source. */
		if (SSL_CTX_load_verify_locations(srv->tls, cfg->client_ca, NULL) != 1) {
			sl_log("TLS: client CA '%s' unusable", cfg->client_ca);
			return -1;
		}
		SSL_CTX_set_verify(srv->tls, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return 0;
}

static int listen_on(struct server *srv, const char *hostport)
{
	char host[256], *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[NI_MAXSERV], bound[NI_MAXHOST];
	int one = 1;

	snprintf(host, sizeof(host), "%s", hostport);
	colon = strrchr(host, ':');
	if (colon == NULL) {
		sl_log("--listen '%s': want HOST:PORT", hostport);
		return -1;
	}
	*colon = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || ai == NULL) {
		sl_log("--listen '%s': cannot resolve", hostport);
		return -1;
	}
	srv->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (srv->lfd < 0 || bind(srv->lfd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(srv->lfd, 128) != 0) {
		sl_log("--listen '%s': %s", hostport, strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	getsockname(srv->lfd, (struct sockaddr *)&ss, &sl);
	getnameinfo((struct sockaddr *)&ss, sl, bound, sizeof(bound), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	sl_log("listening on %s:%s (syslog over TLS, RFC 5425)", bound, port);
	return 0;
}

/* Where checkpoints are anchored (§5): in the freshness service when one is
 * configured, else in the local file. The freshness anchor is a network round: only
 * the ticker and close anchor then (the log's own anchoring after a commit is off),
 * so a slow or unreachable service never holds up a connection's commit. */
static int choose_anchor(struct server *srv, const struct sl_serve_config *cfg,
			 struct shelter_log_options *o, struct shelter_log_anchor *hooks,
			 struct shelter_err *err)
{
	int rc;

	if (cfg->fresh.addr == NULL) {
		snprintf(srv->anchor_what, sizeof(srv->anchor_what), "file '%s%s'",
			 cfg->anchor_path ? cfg->anchor_path : cfg->store,
			 cfg->anchor_path ? "" : "/anchor");
		sl_log("anchor: the local %s (log.md §7.2: it cannot tell the whole store "
		       "rolled back)", srv->anchor_what);
		return 0;
	}
	rc = sl_anchor_new(&cfg->fresh, cfg->origin, &srv->anchor, err);
	if (rc != 0)
		return rc;
	sl_anchor_hooks(srv->anchor, hooks);
	o->anchor = hooks;
	o->anchor_interval_ms = UINT_MAX;
	snprintf(srv->anchor_what, sizeof(srv->anchor_what), "%s", sl_anchor_describe(srv->anchor));
	sl_log("anchor: %s, genesis %s", srv->anchor_what, cfg->fresh.genesis);
	return 0;
}

static int open_store(struct server *srv, const struct sl_serve_config *cfg)
{
	struct shelter_log_options o = { .dir = cfg->store, .origin = cfg->origin,
					 .create = 1, .anchor_path = cfg->anchor_path,
					 .anchor_interval_ms = cfg->anchor_ms };
	struct shelter_log_anchor hooks;
	struct shelter_err err;
	uint8_t seed[32];
	char vkey[512];
	int rc = choose_anchor(srv, cfg, &o, &hooks, &err);

	if (rc == 0)
		rc = sl_key_load(cfg->signing_key, seed, &err);
	o.priv = seed;
	if (rc == 0)
		rc = shelter_log_open(&o, &srv->log, &err);
	shelter_wipe(seed, sizeof(seed));
	if (rc != 0)
		return sl_fail("open the store", &err);
	if (shelter_log_vkey(srv->log, vkey, sizeof(vkey), &err) == 0)
		sl_log("store '%s': %llu events; verifier key %s", cfg->store,
		       (unsigned long long)shelter_log_size(srv->log), vkey);
	return 0;
}

static void *ticker_main(void *arg)
{
	struct server *srv = arg;
	struct timers t = { sl_mono_ns(), sl_mono_ns(), sl_mono_ns() };

	while (!sl_stop) {
		poll(NULL, 0, 10);
		tick(srv, &t);
	}
	return NULL;
}

int sl_serve(const struct sl_serve_config *cfg)
{
	struct server srv;
	struct shelter_err err;
	pthread_t ticker;
	char dur[200];
	int rc = SL_EXIT_FAIL, ticking = 0;

	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	srv.lfd = -1;
	pthread_mutex_init(&srv.mu, NULL);
	sl_listen_init(&srv.conns, &conn_ops, &srv, SOCK_CLOEXEC, cfg->max_conns);
	/* Configuration first, the store last: a daemon that cannot serve leaves the
	 * store as it found it. */
	if (sl_stop_install() != 0 || tls_setup(&srv, cfg) != 0 ||
	    listen_on(&srv, cfg->listen) != 0)
		goto out;
	if (sl_follow_new(cfg, &srv.follow, &err) != 0) {
		sl_fail("--follow", &err);
		goto out;
	}
	if (open_store(&srv, cfg) != 0)
		goto out;
	if (record_own(&srv, "streamlog started", "ok", cfg->origin, "the daemon started", 1) != 0)
		goto out;
	if (sl_follow_start(srv.follow, &srv, &err) != 0) {
		sl_fail("--follow", &err);
		goto out;
	}
	ticking = pthread_create(&ticker, NULL, ticker_main, &srv) == 0;
	sl_listen_run(&srv.conns, srv.lfd, 500, NULL, NULL);
	sl_log("stopping");
	durable_text(&srv.durable, dur, sizeof(dur));
	if (dur[0] != '\0')
		sl_log("all connections: %s", dur);
	close(srv.lfd);
	srv.lfd = -1;
	sl_listen_stop(&srv.conns);
	if (ticking)
		pthread_join(ticker, NULL);
	/* the followed files read, the audit adapters flushed, their state written */
	if (sl_follow_stop(srv.follow) != 0 && !srv.failed)
		sl_log("follow: the last positions could not be written: a restart re-reads "
		       "the last batch (duplicates, never losses)");
	rc = srv.failed ? SL_EXIT_FAIL : SL_EXIT_OK;
	if (!srv.failed && record_own(&srv, "streamlog stopped", "ok", cfg->origin,
				      "the daemon stopped on a signal", 1) != 0)
		rc = SL_EXIT_FAIL;
out:
	sl_follow_free(srv.follow);
	if (srv.log != NULL && shelter_log_close(srv.log, &err) != 0) {
		sl_fail("close the store", &err);
		rc = SL_EXIT_FAIL;
	}
	sl_anchor_free(srv.anchor);
	if (srv.lfd >= 0)
		close(srv.lfd);
	SSL_CTX_free(srv.tls);
	for (unsigned b = 0; b < SOURCES_BUCKETS; b++) {
		while (srv.sources[b] != NULL) {
			struct source *s = srv.sources[b];

			srv.sources[b] = s->next;
			free(s);
		}
	}
	sl_listen_destroy(&srv.conns);
	pthread_mutex_destroy(&srv.mu);
	if (rc == SL_EXIT_OK)
		sl_log("stopped");
	return rc;
}

/* ---- serve_int.h: for the follower thread ---- */

int sl_srv_record(struct server *srv, const struct sl_event *e, char *json, uint64_t *index)
{
	return record(srv, e, json, index);
}

int sl_srv_sync(struct server *srv, uint64_t index)
{
	return sync_to(srv, index);
}

int sl_srv_own(struct server *srv, const char *action, const char *result, const char *target,
	       const char *message, int sync)
{
	return record_own(srv, action, result, target, message, sync);
}

void sl_srv_track(struct server *srv, const struct sl_event *e)
{
	char key[512];
	int64_t from = 0, to = 0;
	int what = track(srv, e, key, sizeof(key), &from, &to);

	if (what != 0)
		report_track(srv, what, key, from, to);
}

int sl_srv_failed(const struct server *srv)
{
	return srv->failed;
}
