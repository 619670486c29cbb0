/* streamlog serve (docs/streamlog.md §6). */
#ifndef STREAMLOG_SERVE_H
#define STREAMLOG_SERVE_H

#include "streamlog/anchor.h"

/* the most --follow options one daemon takes */
#define SL_FOLLOW_MAX 64

struct sl_serve_config {
	const char *store;       /* the log's directory */
	const char *origin;      /* the log's name (log.md §3.1) */
	const char *signing_key; /* PEM Ed25519 private key */
	const char *listen;      /* HOST:PORT for syslog over TLS; port 0 picks one */
	const char *cert;        /* TLS certificate chain (PEM) */
	const char *tls_key;     /* its private key (PEM) */
	const char *client_ca;   /* NULL: any client; else clients must present a cert */
	const char *anchor_path; /* NULL: DIR/anchor */
	struct sl_fresh_config fresh; /* fresh.addr set: anchor in the freshness service */
	unsigned anchor_ms;      /* anchor interval */
	unsigned publish_ms;     /* DIR/checkpoint interval (readers' copy) */
	unsigned silence_ms;     /* a source silent this long is recorded (§4); 0 off */
	unsigned max_conns;
	/* --follow KIND:PATH, in order (docs/streamlog.md §3.5.1) */
	const char *follow[SL_FOLLOW_MAX];
	unsigned follow_count;
};

/* Run until SIGTERM or SIGINT; returns a process exit code (common.h). */
int sl_serve(const struct sl_serve_config *cfg);

#endif
