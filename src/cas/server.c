/* The CAS daemon: start-up, connections, routing, shutdown (cas.h; cas.md). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "attest/ratls.h"
#include "cas/audit.h"
#include "cas/cas.h"
#include "cas/secrets.h"
#include "net/tls.h"
#include "shelter/crypto.h"
#include "shelter/measure.h"
#include "shelter/provider.h"

#define HANDSHAKE_MS 5000
#define IDLE_MS 10000
#define QUEUE_SIZE 1024
#define SEAL_LABEL_STORE "cas-store-v1"
#define SEAL_LABEL_TAG "cas-tag-v1"

void cas_log(const char *event, const char *fmt, ...)
{
	char now[40], line[2048];
	size_t len, done = 0;
	va_list ap;
	int n;

	cas_now_rfc3339(now, sizeof(now));
	n = snprintf(line, sizeof(line), "%s shelter-cas %s ", now, event);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if (*p == '\n')
			*p = ' ';
	len = strlen(line);
	line[len++] = '\n'; /* vsnprintf left this byte free */
	/* One write(2) per event, so concurrent lines never interleave (a regular file
	 * serialises writes on its offset; a pipe keeps writes of up to PIPE_BUF, 4096
	 * bytes, whole), without a lock: under load every request logs, and a shared
	 * lock around stdio made the workers queue for it. */
	while (done < len) {
		ssize_t w = write(STDERR_FILENO, line + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a log that cannot be written is not the request's failure */
		done += (size_t)w;
	}
}

struct server {
	struct cas cas;
	struct tls_ctx *tls;
	int listen_fd;
	pthread_t *threads;
	unsigned nthreads;
	pthread_mutex_t mu;
	pthread_cond_t work;  /* a connection was queued, or stopping */
	pthread_cond_t space; /* the full queue has room again */
	int queue[QUEUE_SIZE];
	unsigned qhead, qcount;
	int *active; /* fd of each worker's connection, -1 when idle */
	int stopping;
};

/* ---- routing ---- */

/* Split "/v1/sessions/NAME[/WHAT]": 0 when it matches. Names are the policy
 * charset, so no percent-decoding is needed; anything else does not match. */
static int path_parts(struct http_str path, const char *prefix, char *a, size_t asz, char *b,
		      size_t bsz)
{
	size_t plen = strlen(prefix), i = plen, ai = 0, bi = 0;
	int part = 0;

	if (path.len <= plen || strncmp(path.p, prefix, plen) != 0)
		return -1;
	a[0] = b[0] = 0;
	for (; i < path.len; i++) {
		char c = path.p[i];

		if (c == '/') {
			if (++part > 1 || ai == 0)
				return -1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return -1;
		if (part == 0 && ai + 1 < asz)
			a[ai++] = c, a[ai] = 0;
		else if (part == 1 && bi + 1 < bsz)
			b[bi++] = c, b[bi] = 0;
		else
			return -1;
	}
	return ai > 0 && (part == 0 || bi > 0) ? 0 : -1;
}

static void route(struct server *sv, struct tls_conn *conn, struct cas_conn_state *cs,
		  const struct http_request *req, struct cas_reply *r, int *nonce)
{
	struct cas *cas = &sv->cas;
	char a[CAS_POLICY_NAME_MAX + 2], b[CAS_POLICY_NAME_MAX + 2], after[24];
	struct http_str q;
	int get = req->method == HTTP_GET, post = req->method == HTTP_POST,
	    put = req->method == HTTP_PUT;

	*nonce = 0;
	if (http_str_eq(req->path, "/v1/health")) {
		if (get)
			return cas_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
	} else if (http_str_eq(req->path, "/v1/attest/nonce")) {
		if (post) {
			cas_handle_attest_nonce(cas, cs, r);
			*nonce = r->status == 200;
			return;
		}
	} else if (http_str_eq(req->path, "/v1/attest")) {
		if (post)
			return cas_handle_attest(cas, conn, cs, req->body, req->body_size, r);
	} else if (http_str_eq(req->path, "/v1/crls")) {
		if (put)
			return cas_handle_crl_put(cas, req->body, req->body_size, r);
	} else if (path_parts(req->path, "/v1/sessions/", a, sizeof(a), b, sizeof(b)) == 0) {
		if (put && b[0] == 0)
			return cas_handle_session_put(cas, cs, a, req->body, req->body_size, r);
		if (get && (b[0] == 0 || strcmp(b, "history") == 0 || strcmp(b, "audit") == 0)) {
			after[0] = 0;
			if (http_query_get(req->query, "after", &q) == 0)
				snprintf(after, sizeof(after), "%.*s", (int)q.len, q.p);
			return cas_handle_session_get(cas, cs, a, b, after[0] ? after : NULL, r);
		}
		if (b[0] != 0 && strcmp(b, "history") != 0 && strcmp(b, "audit") != 0)
			return cas_reply_error(r, 404, "not-found", "no such resource");
	} else if (req->path.len > 12 && strncmp(req->path.p, "/v1/volumes/", 12) == 0) {
		/* /v1/volumes/SESSION/VOLUME/tag */
		char vol[CAS_POLICY_NAME_MAX + 8];
		struct http_str rest = req->path;

		if (rest.len > 4 && strncmp(rest.p + rest.len - 4, "/tag", 4) == 0) {
			rest.len -= 4;
			if (path_parts(rest, "/v1/volumes/", a, sizeof(a), vol, sizeof(vol)) == 0 &&
			    vol[0] != 0) {
				if (put)
					return cas_handle_volume_tag(cas, cs, a, vol, req->body,
								     req->body_size, r);
				return cas_reply_error(r, 405, "method-not-allowed",
						       "use PUT");
			}
		}
		return cas_reply_error(r, 404, "not-found", "no such resource");
	} else {
		return cas_reply_error(r, 404, "not-found", "no such resource");
	}
	cas_reply_error(r, 405, "method-not-allowed", "method not allowed here");
}

/* ---- connections ---- */

static void owner_of_handshake(struct tls_conn *conn, struct cas_conn_state *cs)
{
	X509 *cert = tls_conn_peer_cert(conn);
	const uint8_t *q;
	size_t qs;
	uint64_t tag;

	/* An owner certificate is any certificate sent in the handshake that carries no
	 * evidence (evidence comes only after a nonce, cas.md §1). */
	if (cert != NULL && ratls_evidence_extract(cert, &tag, &q, &qs, NULL) < 0 &&
	    ratls_spki_sha256(cert, cs->owner, NULL) == 0)
		cs->has_owner = 1;
	X509_free(cert);
}

static void send_reply(struct tls_conn *conn, struct cas_reply *r, int keep_alive)
{
	struct shelter_err err;

	shelter_err_clear(&err);
	if (tls_conn_write_response(conn, r->status, r->body ? "application/json" : NULL,
				    r->body, r->size, keep_alive, NULL, 0, &err) < 0)
		cas_log("error", "what=\"write response\" reason=\"%s\"", err.msg);
}

static void reply_done(struct cas_reply *r)
{
	if (r->body != NULL && r->secret)
		shelter_wipe(r->body, r->size);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static void serve_conn(struct server *sv, struct tls_conn *conn)
{
	struct cas_conn_state cs;
	struct http_limits lim;
	struct shelter_err err;

	memset(&cs, 0, sizeof(cs));
	snprintf(cs.peer, sizeof(cs.peer), "%s", tls_conn_peer(conn));
	owner_of_handshake(conn, &cs);
	http_limits_default(&lim);
	tls_conn_set_timeout(conn, IDLE_MS);
	for (;;) {
		struct http_request req;
		struct cas_reply r = { 0 };
		double t0;
		int rc, keep, nonce = 0;

		shelter_err_clear(&err);
		rc = tls_conn_read_request(conn, &lim, &req, &err);
		if (rc == TLS_CONN_EOF)
			break;
		t0 = cas_monotonic();
		if (rc < 0) {
			if (req.status != 0) {
				cas_reply_error(&r, req.status, "bad-request", "%s", err.msg);
				send_reply(conn, &r, 0);
			}
			cas_log("request", "peer=%s status=%d reason=\"%s\"", cs.peer, req.status,
				err.msg);
			reply_done(&r);
			break;
		}
		route(sv, conn, &cs, &req, &r, &nonce);
		if (req.method == HTTP_HEAD && r.body != NULL) {
			/* A HEAD answer carries no body (RFC 9110 §9.3.2). */
			free(r.body);
			r.body = NULL;
			r.size = 0;
		}
		keep = req.h.keep_alive && !__atomic_load_n(&sv->stopping, __ATOMIC_RELAXED);
		send_reply(conn, &r, keep);
		__atomic_add_fetch(&sv->cas.requests, 1, __ATOMIC_RELAXED);
		cas_log("request", "peer=%s method=%s path=%.*s status=%d ms=%.2f%s%s%s%s", cs.peer,
			http_method_name(req.method), (int)req.path.len, req.path.p, r.status,
			(cas_monotonic() - t0) * 1e3, r.code[0] ? " code=" : "", r.code,
			r.note[0] ? " " : "", r.note);
		reply_done(&r);
		/* The certificate request follows the nonce it answers (cas.md §4). */
		if (nonce && keep && tls_conn_request_client_cert(conn, &err) < 0) {
			cas_log("request", "peer=%s what=\"certificate request\" reason=\"%s\"",
				cs.peer, err.msg);
			break;
		}
		if (!keep)
			break;
	}
	shelter_wipe(&cs, sizeof(cs));
}

static void *worker(void *arg)
{
	struct server *sv = arg;
	unsigned me;

	pthread_mutex_lock(&sv->mu);
	for (me = 0; me < sv->nthreads && !pthread_equal(sv->threads[me], pthread_self()); me++)
		;
	for (;;) {
		struct tls_conn *conn = NULL;
		struct shelter_err err;
		int fd;

		while (sv->qcount == 0 && !sv->stopping)
			pthread_cond_wait(&sv->work, &sv->mu);
		if (sv->qcount == 0)
			break;
		fd = sv->queue[sv->qhead];
		sv->qhead = (sv->qhead + 1) % QUEUE_SIZE;
		/* Wake the acceptor only when it may be waiting for room (one waiter). */
		if (sv->qcount-- == QUEUE_SIZE)
			pthread_cond_signal(&sv->space);
		if (me < sv->nthreads)
			sv->active[me] = fd;
		pthread_mutex_unlock(&sv->mu);

		shelter_err_clear(&err);
		if (tls_accept(sv->tls, fd, HANDSHAKE_MS, &conn, &err) == 0) {
			serve_conn(sv, conn);
			tls_conn_close(conn);
		} else {
			cas_log("handshake", "reason=\"%s\"", err.msg);
		}
		pthread_mutex_lock(&sv->mu);
		if (me < sv->nthreads)
			sv->active[me] = -1;
	}
	pthread_mutex_unlock(&sv->mu);
	return NULL;
}

/* ---- start-up ---- */

static int lock_data_dir(const char *dir, int *fd, struct shelter_err *err)
{
	char path[4096];

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return shelter_err_errno(err, errno, "data directory '%s'", dir);
	snprintf(path, sizeof(path), "%s/lock", dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return shelter_err_errno(err, errno, "lock '%s'", path);
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0)
		return shelter_err_set(err, SHELTER_E_EXIST,
				       "data directory '%s' is in use by another CAS", dir);
	return 0;
}

/* The CAS's own identity: the shelter executable and its libraries, measured like
 * any program (measurement.md), on the sim platform. */
static int open_tee(const struct cas_config *cfg, struct shelter_tee **tee,
		    struct shelter_err *err)
{
	static const char *const argv[] = { "shelter", "cas", "serve" };
	struct shelter_measure_opts mo = { .program = "/proc/self/exe", .argv = argv, .argc = 3 };
	struct shelter_tee_opts to = { .backend = "sim", .platform_dir = cfg->platform_dir };
	struct shelter_identity id;
	uint8_t m[32];
	int rc = shelter_measure(&mo, m, NULL, err);

	if (rc == 0)
		rc = shelter_measure_identity(m, NULL, 0, &id, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "measure the CAS");
	to.launch = &id;
	rc = shelter_tee_open(&to, tee, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "CAS platform");
	char hex[65];

	shelter_hex(m, 32, hex);
	cas_log("identity", "measurement=%s", hex);
	return 0;
}

/* DATA/tag: the store's last clean tag, sealed (AES-256-GCM, nonce || ct || tag). */
static int tag_file(const char *dir, const uint8_t key[32], uint8_t tag[32], int write,
		    int *have, struct shelter_err *err)
{
	struct shelter_aead *aead = NULL;
	uint8_t blob[12 + 32 + 16];
	char path[4096], tmp[4200];
	FILE *f = NULL;
	int rc;

	*have = 0;
	snprintf(path, sizeof(path), "%s/tag", dir);
	rc = shelter_aead_new(key, &aead, err);
	if (rc < 0)
		return rc;
	if (write) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		rc = shelter_random_bytes(blob, 12, err);
		if (rc == 0)
			rc = shelter_aead_seal(aead, blob, "cas-tag", 7, tag, 32, blob + 12, blob + 44,
					       err);
		if (rc == 0 && ((f = fopen(tmp, "wb")) == NULL ||
				fwrite(blob, sizeof(blob), 1, f) != 1 || fflush(f) != 0 ||
				fsync(fileno(f)) != 0))
			rc = shelter_err_errno(err, errno, "write '%s'", tmp);
		if (f != NULL)
			fclose(f);
		if (rc == 0 && rename(tmp, path) != 0)
			rc = shelter_err_errno(err, errno, "rename '%s'", tmp);
		*have = rc == 0;
	} else if ((f = fopen(path, "rb")) != NULL) {
		if (fread(blob, sizeof(blob), 1, f) != 1)
			rc = shelter_err_set(err, SHELTER_E_TRUNCATED, "tag file '%s'", path);
		else
			rc = shelter_aead_open(aead, blob, "cas-tag", 7, blob + 12, 32, blob + 44, tag,
					       err);
		if (rc == SHELTER_E_INTEGRITY)
			rc = shelter_err_set(err, SHELTER_E_BADKEY,
					     "'%s' was sealed by another CAS: its state opens only"
					     " for the same shelter build on the same platform"
					     " (docs/formats/cas-store.md)",
					     dir);
		else if (rc < 0)
			rc = shelter_err_wrap(err, rc, "tag file '%s'", path);
		*have = rc == 0;
		fclose(f);
	} else if (errno != ENOENT) {
		rc = shelter_err_errno(err, errno, "read '%s'", path);
	}
	shelter_aead_free(aead);
	return rc;
}

struct tls_material {
	const struct cas_config *cfg;
	char *key_pem, *cert_pem;
};

static int tls_job(sqlite3 *db, void *arg, struct shelter_err *err)
{
	struct tls_material *t = arg;
	size_t ks, cs;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char san[2048];
	size_t used;
	int rc = cas_meta_get(db, "tls.key", (uint8_t **)&t->key_pem, &ks, err);

	if (rc == 0)
		return cas_meta_get(db, "tls.cert", (uint8_t **)&t->cert_pem, &cs, err);
	if (rc != SHELTER_E_NOENT)
		return rc;
	used = (size_t)snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1");
	for (size_t i = 0; i < t->cfg->hostname_count && used < sizeof(san); i++)
		used += (size_t)snprintf(san + used, sizeof(san) - used, ",%s:%s",
					 strspn(t->cfg->hostnames[i], "0123456789.:") ==
							 strlen(t->cfg->hostnames[i])
						 ? "IP"
						 : "DNS",
					 t->cfg->hostnames[i]);
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	cert = key ? cas_make_cert(key, "shelter-cas", 3650, NULL, key, san, 1) : NULL;
	t->key_pem = cert ? cas_pem_of_key(key) : NULL;
	t->cert_pem = cert ? cas_pem_of_cert(cert) : NULL;
	EVP_PKEY_free(key);
	X509_free(cert);
	if (t->key_pem == NULL || t->cert_pem == NULL)
		return shelter_err_set(err, SHELTER_E_CRYPTO, "make the CAS certificate");
	rc = cas_meta_put(db, "tls.key", t->key_pem, strlen(t->key_pem), err);
	if (rc == 0)
		rc = cas_meta_put(db, "tls.cert", t->cert_pem, strlen(t->cert_pem), err);
	return rc;
}

static int write_public(const char *dir, const char *name, const char *text,
			struct shelter_err *err)
{
	char path[4096], tmp[4200];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL || fputs(text, f) < 0 || fflush(f) != 0)
		rc = shelter_err_errno(err, errno, "write '%s'", tmp);
	if (f != NULL)
		fclose(f);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = shelter_err_errno(err, errno, "rename '%s'", tmp);
	return rc;
}

static int start_tls(struct server *sv, struct shelter_err *err)
{
	struct tls_material t = { .cfg = sv->cas.cfg };
	struct tls_server_opts so = { .client_auth = TLS_CLIENT_AUTH_OPTIONAL };
	int rc = cas_store_run(sv->cas.store, tls_job, &t, err);

	if (rc == 0)
		rc = write_public(sv->cas.cfg->data_dir, "cas.crt", t.cert_pem, err);
	if (rc == 0) {
		so.cert_pem = t.cert_pem;
		so.cert_pem_size = strlen(t.cert_pem);
		so.key_pem = t.key_pem;
		so.key_pem_size = strlen(t.key_pem);
		rc = tls_server_ctx_new(&so, &sv->tls, err);
	}
	if (t.key_pem != NULL)
		shelter_wipe(t.key_pem, strlen(t.key_pem));
	free(t.key_pem);
	free(t.cert_pem);
	return rc;
}

static int start_listen(struct server *sv, struct shelter_err *err)
{
	const char *spec = sv->cas.cfg->listen, *colon = strrchr(spec, ':');
	char host[256], addr[300];
	uint16_t port;
	char *end;
	long p;
	int rc;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host) || colon == spec)
		return shelter_err_set(err, SHELTER_E_INVAL, "--listen '%s': expected HOST:PORT",
				       spec);
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || p < 0 || p > 65535)
		return shelter_err_set(err, SHELTER_E_INVAL, "--listen '%s': bad port", spec);
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	rc = tls_listen(host, (uint16_t)p, 512, &sv->listen_fd, &port, err);
	if (rc < 0)
		return rc;
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%u\n" : "%s:%u\n", host, port);
	rc = write_public(sv->cas.cfg->data_dir, "cas.addr", addr, err);
	addr[strlen(addr) - 1] = 0;
	cas_log("listening", "addr=%s workers=%u", addr, sv->nthreads);
	return rc;
}

static int start_workers(struct server *sv, struct shelter_err *err)
{
	sv->nthreads = sv->cas.cfg->workers ? sv->cas.cfg->workers : 128;
	sv->threads = calloc(sv->nthreads, sizeof(*sv->threads));
	sv->active = malloc(sv->nthreads * sizeof(*sv->active));
	if (sv->threads == NULL || sv->active == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "workers");
	for (unsigned i = 0; i < sv->nthreads; i++)
		sv->active[i] = -1;
	pthread_mutex_lock(&sv->mu);
	for (unsigned i = 0; i < sv->nthreads; i++) {
		if (pthread_create(&sv->threads[i], NULL, worker, sv) != 0) {
			sv->nthreads = i;
			pthread_mutex_unlock(&sv->mu);
			return shelter_err_set(err, SHELTER_E_NOMEM, "start worker %u", i);
		}
	}
	pthread_mutex_unlock(&sv->mu);
	return 0;
}

/* Accept until stop; connections queue for the workers (bounded: the acceptor waits
 * when the queue is full rather than dropping). */
static void accept_loop(struct server *sv)
{
	const struct cas_config *cfg = sv->cas.cfg;
	struct pollfd pfd[2] = { { .fd = sv->listen_fd, .events = POLLIN },
				 { .fd = cfg->stop_fd, .events = POLLIN } };

	while (!*cfg->stop) {
		int fd;

		if (poll(pfd, 2, 1000) <= 0 || !(pfd[0].revents & POLLIN))
			continue;
		fd = accept4(sv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&sv->mu);
		while (sv->qcount == QUEUE_SIZE && !*cfg->stop)
			pthread_cond_wait(&sv->space, &sv->mu);
		sv->queue[(sv->qhead + sv->qcount) % QUEUE_SIZE] = fd;
		sv->qcount++;
		pthread_cond_signal(&sv->work);
		pthread_mutex_unlock(&sv->mu);
	}
}

static void stop_workers(struct server *sv)
{
	pthread_mutex_lock(&sv->mu);
	__atomic_store_n(&sv->stopping, 1, __ATOMIC_RELAXED);
	/* Wake idle workers and cut connections waiting for a next request. */
	for (unsigned i = 0; i < sv->nthreads; i++)
		if (sv->active[i] >= 0)
			shutdown(sv->active[i], SHUT_RD);
	while (sv->qcount > 0) {
		close(sv->queue[sv->qhead]);
		sv->qhead = (sv->qhead + 1) % QUEUE_SIZE;
		sv->qcount--;
	}
	pthread_cond_broadcast(&sv->work);
	pthread_mutex_unlock(&sv->mu);
	for (unsigned i = 0; i < sv->nthreads; i++)
		pthread_join(sv->threads[i], NULL);
}

int cas_serve(const struct cas_config *cfg, struct shelter_err *err)
{
	struct server *sv = calloc(1, sizeof(*sv));
	struct shelter_tee *tee = NULL;
	uint8_t store_key[32], tag_key[32], tag[32];
	int lock_fd = -1, have_tag = 0, rc;

	if (sv == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "CAS");
	sv->listen_fd = -1;
	sv->cas.cfg = cfg;
	pthread_mutex_init(&sv->mu, NULL);
	pthread_cond_init(&sv->work, NULL);
	pthread_cond_init(&sv->space, NULL);
	pthread_mutex_init(&sv->cas.cache_mu, NULL);
	rc = lock_data_dir(cfg->data_dir, &lock_fd, err);
	if (rc == 0)
		rc = open_tee(cfg, &tee, err);
	if (rc == 0)
		rc = shelter_tee_seal_key(tee, SHELTER_SEAL_MEASUREMENT, SEAL_LABEL_STORE, store_key,
					  err);
	if (rc == 0)
		rc = shelter_tee_seal_key(tee, SHELTER_SEAL_MEASUREMENT, SEAL_LABEL_TAG, tag_key, err);
	if (rc == 0)
		rc = tag_file(cfg->data_dir, tag_key, tag, 0, &have_tag, err);
	if (rc == 0)
		rc = cas_store_open(cfg->data_dir, store_key, have_tag ? tag : NULL, &sv->cas.store,
				    err);
	shelter_wipe(store_key, sizeof(store_key));
	if (rc == 0)
		rc = start_tls(sv, err);
	if (rc == 0)
		rc = start_workers(sv, err);
	if (rc == 0)
		rc = start_listen(sv, err);
	if (rc == 0) {
		accept_loop(sv);
		cas_log("stopping", "reason=signal");
	}
	if (sv->listen_fd >= 0)
		close(sv->listen_fd);
	if (sv->threads != NULL)
		stop_workers(sv);
	if (sv->cas.store != NULL) {
		struct cas_store_stats st;
		struct shelter_err cerr;

		shelter_err_clear(&cerr);
		cas_store_stats(sv->cas.store, &st);
		if (cas_store_close(sv->cas.store, tag, &cerr) == 0)
			(void)tag_file(cfg->data_dir, tag_key, tag, 1, &have_tag, &cerr);
		else if (rc == 0)
			rc = shelter_err_set(err, cerr.code, "%s", cerr.msg);
		cas_log("stopped", "requests=%llu attest_ok=%llu attest_refused=%llu commits=%llu"
				   " jobs=%llu compactions=%llu compaction_failures=%llu",
			(unsigned long long)sv->cas.requests,
			(unsigned long long)sv->cas.attest_ok,
			(unsigned long long)sv->cas.attest_refused, (unsigned long long)st.commits,
			(unsigned long long)st.jobs, (unsigned long long)st.compactions,
			(unsigned long long)st.compaction_failures);
	}
	shelter_wipe(tag_key, sizeof(tag_key));
	cas_cache_free(&sv->cas);
	tls_ctx_free(sv->tls);
	shelter_tee_close(tee);
	if (lock_fd >= 0)
		close(lock_fd);
	free(sv->threads);
	free(sv->active);
	pthread_mutex_destroy(&sv->mu);
	pthread_cond_destroy(&sv->work);
	pthread_cond_destroy(&sv->space);
	pthread_mutex_destroy(&sv->cas.cache_mu);
	free(sv);
	return rc;
}
