/* The connection threads of StreamLog's servers: `streamlog serve` (syslog over TLS,
 * docs/streamlog.md §6) and `streamlog view` (HTTPS, docs/api/streamlog-viewer.md §2).
 * Both accept on one listening socket up to a limit of open connections, give each
 * connection a thread of its own, join finished threads as they go, and on SIGTERM or
 * SIGINT (common.h sl_stop) wake and join every one. What a connection is and does
 * stays with the server, through sl_listen_ops. */
#ifndef STREAMLOG_LISTEN_H
#define STREAMLOG_LISTEN_H

#include <pthread.h>
#include <sys/socket.h>

struct sl_listen_ops {
	/* A connection for the accepted fd (sa, sa_len: the peer), which it owns from
	 * then on; NULL: none could be made, and the caller closes fd. */
	void *(*open)(void *ctx, int fd, const struct sockaddr *sa, socklen_t sa_len);
	/* The connection's thread: returns when it is over. */
	void (*run)(void *conn);
	/* Make a running connection's blocking reads return at once (at the stop). */
	void (*wake)(void *conn);
	/* Free the connection and close its fd. ran is 0 when no thread could be made for
	 * it (run never ran): free logs that. */
	void (*free)(void *conn, int ran);
};

struct sl_listen_conn;

/* Fields are the listener's own; the struct is public so that a server embeds it. */
struct sl_listener {
	const struct sl_listen_ops *ops;
	void *ctx;           /* open's */
	int lfd;             /* borrowed: the server opens and closes it */
	int accept_flags;    /* for accept4: SOCK_CLOEXEC and maybe SOCK_NONBLOCK */
	unsigned max_conns;  /* open connections at most; more are refused and logged */
	pthread_mutex_t mu;  /* conns, open */
	struct sl_listen_conn *conns;
	unsigned open;
};

void sl_listen_init(struct sl_listener *l, const struct sl_listen_ops *ops, void *ctx,
		    int accept_flags, unsigned max_conns);

/* Accept on lfd until sl_stop, waking at least every poll_ms to join finished
 * connections and call idle(idle_ctx) when idle is not NULL. Returns with the
 * connections still running: sl_listen_stop joins them. */
void sl_listen_run(struct sl_listener *l, int lfd, int poll_ms, void (*idle)(void *),
		   void *idle_ctx);

/* Wake every connection and join its thread (close the listening socket first). */
void sl_listen_stop(struct sl_listener *l);

/* After sl_listen_stop, or when sl_listen_run never ran. */
void sl_listen_destroy(struct sl_listener *l);

#endif
