/* streamlog view: the HTTPS server of the read-only web viewer (streamlog-viewer.md §1, §2).
 *
 * A process of its own, apart from the daemon: it holds the log's public key and a
 * TLS key for transport, nothing that could sign. It speaks the project's strict
 * HTTP/1.1 over TLS 1.3 (src/lib/net, docs/api/http.md), one thread per connection,
 * GET only; view_api.c makes every answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/tls.h"
#include "shelter/crypto.h"
#include "streamlog/common.h"
#include "streamlog/listen.h"
#include "streamlog/view.h"

#define HANDSHAKE_MS 5000
#define IDLE_MS 15000        /* a whole request, or the wait for the next one */
#define PEM_MAX (1u << 20)
#define MAX_HEADERS 8

struct vconn {
	struct vserver *srv;
	int fd;                  /* handed to tls_accept, which owns it from then on */
	int shut_fd;             /* a dup the server owns: shutdown() wakes the thread */
};

struct vserver {
	const struct sl_view_config *cfg;
	struct sl_viewer *vw;
	struct tls_ctx *tls;
	int lfd;
	struct sl_listener conns;
};

/* ---- one connection ---- */

static void send_reply(struct tls_conn *conn, const struct sl_view_reply *r, int keep)
{
	struct http_header extra[MAX_HEADERS];
	struct shelter_err err;
	size_t n = sl_view_headers(r, extra, MAX_HEADERS);

	shelter_err_clear(&err);
	if (tls_conn_write_response(conn, r->status, r->type, r->body, r->size, keep, extra, n,
				    &err) != 0)
		sl_log("%s: write the answer: %s", tls_conn_peer(conn), err.msg);
}

/* Requests until the peer closes, idles past IDLE_MS, errs, or the viewer stops.
 * The log line names the path, never the query: searches name people. */
static void serve_conn(struct vserver *srv, struct tls_conn *conn)
{
	struct http_limits lim;
	struct shelter_err err;

	http_limits_default(&lim);
	lim.max_body = 1024; /* GET only: a body is never needed */
	for (;;) {
		struct http_request req;
		struct sl_view_reply r;
		int rc, keep;

		shelter_err_clear(&err);
		rc = tls_conn_read_request(conn, &lim, &req, &err);
		if (rc == TLS_CONN_EOF || (rc < 0 && sl_stop))
			break;
		if (rc < 0) {
			if (req.status != 0) {
				sl_view_reply_error(&r, req.status, err.msg);
				send_reply(conn, &r, 0);
				sl_view_reply_free(&r);
			}
			sl_log("%s: refused: %d %s", tls_conn_peer(conn), req.status, err.msg);
			break;
		}
		sl_viewer_answer(srv->vw, req.method, req.path, req.query, &r);
		keep = req.h.keep_alive && !sl_stop;
		send_reply(conn, &r, keep);
		sl_log("%s: %s %.*s %d%s", tls_conn_peer(conn), http_method_name(req.method),
		       (int)(req.path.len < 200 ? req.path.len : 200), req.path.p, r.status,
		       r.alarm ? " TAMPER ALARM" : "");
		sl_view_reply_free(&r);
		if (!keep)
			break;
	}
}

/* ---- the connection threads (listen.h) ---- */

static void conn_run(void *arg)
{
	struct vconn *c = arg;
	struct tls_conn *conn = NULL;
	struct shelter_err err;

	shelter_err_clear(&err);
	if (tls_accept(c->srv->tls, c->fd, HANDSHAKE_MS, &conn, &err) == 0) {
		tls_conn_set_timeout(conn, IDLE_MS);
		serve_conn(c->srv, conn);
		tls_conn_close(conn);
	} else if (!sl_stop) {
		sl_log("TLS handshake failed: %s", err.msg);
	}
}

static void *conn_open(void *ctx, int fd, const struct sockaddr *sa, socklen_t sa_len)
{
	struct vconn *c = calloc(1, sizeof(*c));

	(void)sa;
	(void)sa_len;
	if (c == NULL || (c->shut_fd = dup(fd)) < 0) {
		free(c);
		return NULL;
	}
	c->srv = ctx;
	c->fd = fd;
	return c;
}

static void conn_wake(void *arg)
{
	struct vconn *c = arg;

	shutdown(c->shut_fd, SHUT_RDWR); /* its read returns at once */
}

/* After the thread, tls_accept has closed fd; without one, fd is still here. */
static void conn_free(void *arg, int ran)
{
	struct vconn *c = arg;

	if (!ran) {
		sl_log("no thread for a connection");
		close(c->fd);
	}
	close(c->shut_fd);
	free(c);
}

static const struct sl_listen_ops conn_ops = { conn_open, conn_run, conn_wake, conn_free };

/* ---- set-up ---- */

static int tls_setup(struct vserver *srv, const struct sl_view_config *cfg)
{
	struct tls_server_opts o = { .client_auth = TLS_CLIENT_AUTH_NONE };
	struct shelter_err err;
	char *cert = NULL, *key = NULL;
	size_t cert_size = 0, key_size = 0;
	int rc;

	shelter_err_clear(&err);
	rc = sl_read_file(cfg->cert, PEM_MAX, &cert, &cert_size, &err);
	if (rc == 0)
		rc = sl_read_file(cfg->tls_key, PEM_MAX, &key, &key_size, &err);
	if (rc == 0) {
		o.cert_pem = cert;
		o.cert_pem_size = cert_size;
		o.key_pem = key;
		o.key_pem_size = key_size;
		rc = tls_server_ctx_new(&o, &srv->tls, &err);
	}
	if (rc != 0)
		sl_log("TLS: certificate '%s' or key '%s' unusable: %s", cfg->cert, cfg->tls_key,
		       err.msg);
	if (key != NULL)
		shelter_wipe(key, key_size);
	free(key);
	free(cert);
	return rc;
}

/* HOST:PORT, [V6]:PORT; port 0 picks a free one. Logs the bound address. */
static int listen_on(struct vserver *srv, const char *spec)
{
	const char *colon = strrchr(spec, ':');
	struct shelter_err err;
	char host[256], *end;
	uint16_t port;
	long p;

	if (colon == NULL || colon == spec || (size_t)(colon - spec) >= sizeof(host)) {
		sl_log("--listen '%s': want HOST:PORT", spec);
		return -1;
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 0 || p > 65535) {
		sl_log("--listen '%s': bad port", spec);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	shelter_err_clear(&err);
	if (tls_listen(host, (uint16_t)p, 128, &srv->lfd, &port, &err) != 0) {
		sl_log("--listen '%s': %s", spec, err.msg);
		return -1;
	}
	sl_log(strchr(host, ':') ? "listening on [%s]:%u (HTTPS, read-only viewer)"
				 : "listening on %s:%u (HTTPS, read-only viewer)", host, port);
	return 0;
}

static int open_viewer(struct vserver *srv, const struct sl_view_config *cfg)
{
	struct shelter_log_verifier v;
	struct shelter_err err;
	char vkey[512];

	shelter_err_clear(&err);
	if (sl_verifier_load(cfg->vkey, cfg->vkey_file, &v, &err) != 0 ||
	    shelter_log_verifier_format(v.name, v.pub, vkey, sizeof(vkey), &err) != 0)
		return sl_fail("verifier key", &err);
	if (sl_viewer_open(cfg->store, &v, &srv->vw, &err) != 0)
		return sl_fail("open the store", &err);
	sl_log("store '%s': checkpoint at size %llu; verifier key %s", cfg->store,
	       (unsigned long long)sl_viewer_size(srv->vw), vkey);
	return 0;
}

/* keep up even when nobody asks: every checkpoint seen is remembered */
static void refresh(void *arg)
{
	struct vserver *srv = arg;

	sl_viewer_refresh(srv->vw, 0);
}

int sl_view(const struct sl_view_config *cfg)
{
	struct vserver srv;
	int rc = SL_EXIT_FAIL;

	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	srv.lfd = -1;
	sl_listen_init(&srv.conns, &conn_ops, &srv, SOCK_CLOEXEC | SOCK_NONBLOCK, cfg->max_conns);
	if (sl_stop_install() != 0) {
		sl_log("cannot install the stop signals: %s", strerror(errno));
		goto out;
	}
	/* everything checked before the port opens: a viewer that answers is whole */
	if (open_viewer(&srv, cfg) != 0 || tls_setup(&srv, cfg) != 0 ||
	    listen_on(&srv, cfg->listen) != 0)
		goto out;
	sl_listen_run(&srv.conns, srv.lfd, 1000, refresh, &srv);
	sl_log("stopping");
	close(srv.lfd);
	srv.lfd = -1;
	sl_listen_stop(&srv.conns);
	rc = SL_EXIT_OK;
	sl_log("stopped");
out:
	if (srv.lfd >= 0)
		close(srv.lfd);
	tls_ctx_free(srv.tls);
	sl_viewer_close(srv.vw);
	sl_listen_destroy(&srv.conns);
	return rc;
}
