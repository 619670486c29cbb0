/* The connection threads of StreamLog's servers (listen.h). */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "streamlog/common.h"
#include "streamlog/listen.h"

struct sl_listen_conn {
	struct sl_listener *l;
	void *conn; /* the server's */
	pthread_t thread;
	int done;
	struct sl_listen_conn *next;
};

void sl_listen_init(struct sl_listener *l, const struct sl_listen_ops *ops, void *ctx,
		    int accept_flags, unsigned max_conns)
{
	memset(l, 0, sizeof(*l));
	l->ops = ops;
	l->ctx = ctx;
	l->lfd = -1;
	l->accept_flags = accept_flags;
	l->max_conns = max_conns;
	pthread_mutex_init(&l->mu, NULL);
}

static void *conn_main(void *arg)
{
	struct sl_listen_conn *c = arg;

	c->l->ops->run(c->conn);
	pthread_mutex_lock(&c->l->mu);
	c->done = 1;
	c->l->open--;
	pthread_mutex_unlock(&c->l->mu);
	return NULL;
}

/* Join finished connections; all: wake and join every one. */
static void reap(struct sl_listener *l, int all)
{
	struct sl_listen_conn **p = &l->conns;

	pthread_mutex_lock(&l->mu);
	while (*p != NULL) {
		struct sl_listen_conn *c = *p;

		if (!c->done && !all) {
			p = &c->next;
			continue;
		}
		if (!c->done)
			l->ops->wake(c->conn);
		*p = c->next;
		pthread_mutex_unlock(&l->mu);
		pthread_join(c->thread, NULL);
		l->ops->free(c->conn, 1);
		free(c);
		pthread_mutex_lock(&l->mu);
	}
	pthread_mutex_unlock(&l->mu);
}

static void accept_one(struct sl_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct sl_listen_conn *c;
	int fd = accept4(l->lfd, (struct sockaddr *)&ss, &sl, l->accept_flags);

	if (fd < 0)
		return;
	if (l->open >= l->max_conns) {
		sl_log("refused a connection: %u open (the limit)", l->open);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->conn = l->ops->open(l->ctx, fd, (struct sockaddr *)&ss, sl)) == NULL) {
		free(c);
		close(fd);
		return;
	}
	c->l = l;
	pthread_mutex_lock(&l->mu);
	l->open++;
	c->next = l->conns;
	l->conns = c;
	pthread_mutex_unlock(&l->mu);
	if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
		pthread_mutex_lock(&l->mu); /* only this thread adds: c is still the head */
		l->conns = c->next;
		l->open--;
		pthread_mutex_unlock(&l->mu);
		l->ops->free(c->conn, 0);
		free(c);
	}
}

void sl_listen_run(struct sl_listener *l, int lfd, int poll_ms, void (*idle)(void *),
		   void *idle_ctx)
{
	struct pollfd p[2] = { { lfd, POLLIN, 0 }, { sl_stop_fd, POLLIN, 0 } };

	l->lfd = lfd;
	while (!sl_stop) {
		if (poll(p, 2, poll_ms) > 0 && (p[0].revents & POLLIN))
			accept_one(l);
		reap(l, 0);
		if (idle != NULL)
			idle(idle_ctx);
	}
}

void sl_listen_stop(struct sl_listener *l)
{
	reap(l, 1);
}

void sl_listen_destroy(struct sl_listener *l)
{
	pthread_mutex_destroy(&l->mu);
}
