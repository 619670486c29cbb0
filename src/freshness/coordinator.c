/* The coordinator: docs/protocols/freshness.md §5, §7, §8.2. Untrusted: it may lose,
 * repeat or reorder anything, and clients and endorsers check all that matters. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "freshness/certs.h"
#include "freshness/coordinator.h"
#include "freshness/net.h"
#include "freshness/service.h"
#include "freshness/wire.h"
#include "net/tls.h"
#include "util/buf.h"

#define DIAL_MS 3000
#define ANSWER_MS 1000 /* a client's answer sent, or its connection cut */
#define CONN_WRITES_MAX 64 /* unanswered writes of one connection */
#define KEY_VIEW "view/%" PRIu64
#define KEY_CURRENT "current"
#define FRESH_ROUND_MAX 1024 /* writes in one round */

/* A round ends GRACE_US after f + 1 members answered (§5 "Waiting for endorsers"):
 * the writers need f + 1 receipts, and the last member, which on a loaded machine is
 * still computing, must not hold every round up. Its answer comes later on its
 * connection and is read and dropped in a later round (it owes it); a member that
 * owes OWED_MAX answers, or one owed for LATE_MS, is hung or partitioned (no reset):
 * it is dropped and left alone for BACKOFF_MS, and catches up later (STALE, then
 * certify). A round without a quorum waits up to DIAL_MS. */
#define GRACE_US 200
#define OWED_MAX 8
/* A write round asks only f + 1 members, the quickest lately: the others' work would
 * only slow the round on shared CPUs. The spares are asked when the round has no
 * quorum after FALLBACK_MS (or four times the members' usual answer time, whichever
 * is longer), or at once when a member fails; a spare that fell behind answers STALE
 * and is brought up to date in the same round (certify, then append). */
#define FALLBACK_MS 20
/* Under load (the round thread leads), a round waits up to GATHER_US for the queue to
 * hold three quarters of the previous round's writes: each round costs a signature
 * at each endorser and f + 1 verifications at the endorsers, the saver and every
 * client process, so fuller rounds are what buys throughput on shared CPUs. A lone
 * writer never waits: its own thread leads at once. */
#define GATHER_US 500
#define LATE_MS 50
#define BACKOFF_MS 500
#define REDIAL_MS 5000 /* after a failed dial: a dead host costs a connect timeout */

struct peer {
	uint8_t pub[FR_PUB];
	char addr[128];
	int fd;
	int64_t retry_at;   /* us (monotonic): no dial before, after a failure */
	unsigned owed;      /* answers of earlier rounds still to come on fd */
	int64_t owed_since; /* us: when the oldest of them was asked */
	int64_t answer_us;  /* how long its answers took lately (moving average) */
};

struct fresh_coord {
	struct fresh_store *store;
	pthread_mutex_t mu; /* one round at a time; guards everything below */
	uint64_t current_version;
	uint8_t *view_body;
	size_t view_len;
	struct fr_view view;
	struct peer peers[FR_VIEW_MAX];
	uint64_t rounds, batches, appends, reads;
	const volatile sig_atomic_t *stop; /* serving: set when it should stop */
	/* group commit (§5): writes waiting for a round, in arrival order; whether a
	 * round runs (leading); the round thread, asked to take over (handoff) */
	pthread_mutex_t qmu;
	struct wreq *queue, **qtail;
	int leading, handoff, round_stop, round_started;
	unsigned inflight;	   /* writes queued or in a round, not yet answered */
	size_t queued, last_round; /* writes in the queue; in the round before */
	size_t gather;		   /* the round thread waits for this many queued */
	pthread_cond_t round_cv;   /* with qmu: handoff or round_stop set */
	pthread_cond_t settled_cv; /* with qmu: inflight dropped */
	pthread_t round_thread;
	struct wreq **rs;	   /* the round thread's and leaders' scratch (under leading) */
	/* the batch signatures of the round just over, for the other members (§8 sigs) */
	struct fr_sighead heads[FR_VIEW_MAX];
	int have_head[FR_VIEW_MAX];
	struct fresh_certs *certs; /* kept certificates (certs.c) */
};

/* ---- store keys ---- */

static void hex_key(char *out, size_t size, const char *prefix, const uint8_t id[FR_HASH])
{
	char hex[2 * FR_HASH + 1];

	shelter_hex(id, FR_HASH, hex);
	snprintf(out, size, "%s%s", prefix, hex);
}

/* ---- endorser connections ---- */

static void peer_close(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->owed = 0;
	p->answer_us = 0;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Drop a peer's connection and leave it alone for a while. */
static void peer_fail(struct peer *p)
{
	peer_close(p);
	p->retry_at = mono_us() + BACKOFF_MS * 1000;
}

/* Whether a peer without a connection is still left alone after a failure. */
static int backing_off(const struct peer *p)
{
	return p->fd < 0 && mono_us() < p->retry_at;
}

/* Send body to peer i (dialled when needed); 1 when sent. */
static int send_one(struct fresh_coord *c, unsigned i, uint8_t type, const uint8_t *body,
		    size_t len)
{
	struct peer *p = &c->peers[i];

	if (p->fd < 0 && fresh_dial(p->addr, DIAL_MS, &p->fd, NULL) < 0) {
		p->retry_at = mono_us() + REDIAL_MS * 1000;
		return 0;
	}
	if (fw_send(p->fd, type, body, len, NULL) < 0) {
		peer_fail(p);
		return 0;
	}
	return 1;
}

/* Read and drop an answer peer i owed from an earlier round; 0, or -1 when the peer
 * failed (then dropped). */
static int drop_owed(struct fresh_coord *c, unsigned i)
{
	struct peer *p = &c->peers[i];
	uint8_t t = 0, *body = NULL;
	size_t len = 0;

	if (fw_recv(p->fd, &t, &body, &len, NULL) < 0) {
		peer_fail(p);
		return -1;
	}
	free(body);
	p->owed--;
	p->owed_since = mono_us(); /* the next owed answer was asked no earlier */
	return 0;
}

/* Read peer i's answer into ans/alen/codes; 1 when it is a success. */
static int read_one(struct fresh_coord *c, unsigned i, uint8_t type, uint8_t **ans, size_t *alen,
		    int *codes)
{
	char msg[FW_MESSAGE_MAX];
	uint8_t t = 0;

	if (fw_recv(c->peers[i].fd, &t, &ans[i], &alen[i], NULL) < 0) {
		peer_fail(&c->peers[i]);
		return 0;
	}
	if (t == (type | FW_ANSWER)) {
		codes[i] = 0;
		return 1;
	}
	if (t != FW_ERROR || fw_error_decode(ans[i], alen[i], &codes[i], msg, sizeof(msg)) < 0)
		codes[i] = SHELTER_E_MALFORMED;
	free(ans[i]);
	ans[i] = NULL;
	return 0;
}

/* Read answers as they come (dropping those owed from earlier rounds first) until
 * none is pending, the deadline, or *end: GRACE_US after f + 1 successes (us). */
static void wait_answers(struct fresh_coord *c, uint8_t type, int *waiting, int *npending,
			 int *ok, int64_t start, int64_t deadline, int64_t *end, uint8_t **ans,
			 size_t *alen, int *codes)
{
	while (*npending > 0) {
		struct pollfd pf[FR_VIEW_MAX];
		unsigned idx[FR_VIEW_MAX], m = 0;
		int64_t now = mono_us(), until = *end >= 0 ? *end : deadline;

		if (now >= until)
			break;
		for (unsigned i = 0; i < c->view.n; i++)
			if (waiting[i]) {
				pf[m] = (struct pollfd){ .fd = c->peers[i].fd, .events = POLLIN };
				idx[m++] = i;
			}
		if (poll(pf, m, (int)((until - now + 999) / 1000)) < 0 && errno != EINTR)
			break;
		for (unsigned k = 0; k < m; k++) {
			unsigned i = idx[k];

			if (pf[k].revents == 0 ||
			    (c->peers[i].owed > 0 && drop_owed(c, i) == 0))
				continue;
			waiting[i] = 0;
			(*npending)--;
			if (c->peers[i].fd < 0)
				continue;
			*ok += read_one(c, i, type, ans, alen, codes);
			c->peers[i].answer_us += (mono_us() - start - c->peers[i].answer_us) / 4;
		}
		if (*end < 0 && *ok >= (int)fr_view_f(&c->view) + 1)
			*end = mono_us() + GRACE_US;
	}
}

/* A member that did not answer before the round ended owes its answer; one that owes
 * too many, or for too long, is dropped. */
static void owe(struct fresh_coord *c, unsigned i, int64_t start)
{
	struct peer *p = &c->peers[i];
	int64_t now = mono_us();

	if (p->owed == 0)
		p->owed_since = start;
	if (++p->owed < OWED_MAX && now - p->owed_since < LATE_MS * 1000)
		return;
	fresh_log("coordinator", "late", "endorser=%s owed=%u waited_ms=%" PRId64 " retry_ms=%d",
		  p->addr, p->owed, (now - p->owed_since) / 1000, BACKOFF_MS);
	peer_fail(p);
}

/* The members a write round leaves out at first (spare[i] = 1): all but the f + 1
 * usable ones (connected or not backing off, owing nothing) that answered quickest
 * lately. Returns how long the round waits before it asks them (us). */
static int64_t pick_spares(const struct fresh_coord *c, int *spare)
{
	unsigned need = fr_view_f(&c->view) + 1, taken = 0;
	int64_t slowest = 0;

	for (unsigned i = 0; i < c->view.n; i++)
		spare[i] = 1;
	while (taken < need) {
		int best = -1;

		for (unsigned i = 0; i < c->view.n; i++) {
			const struct peer *p = &c->peers[i];

			if (!spare[i] || backing_off(p) || p->owed > 0)
				continue;
			if (best < 0 || p->answer_us < c->peers[best].answer_us)
				best = (int)i;
		}
		if (best < 0)
			break;
		spare[best] = 0;
		if (c->peers[best].answer_us > slowest)
			slowest = c->peers[best].answer_us;
		taken++;
	}
	if (taken < need) /* not enough quick ones: ask every member at once */
		for (unsigned i = 0; i < c->view.n; i++)
			spare[i] = 0;
	return 4 * slowest > FALLBACK_MS * 1000 ? 4 * slowest : FALLBACK_MS * 1000;
}

/* Send a request to the members, then read the answers as they come: one round trip,
 * over when every member asked answered, or GRACE_US after f + 1 did. A write round
 * (thrifty) asks f + 1 members first (pick_spares); members backing off are asked
 * only when the others gave no quorum. ans[i] NULL where a member was not asked,
 * failed or was late (it then owes its answer). Caller holds c->mu. */
static void round_trip(struct fresh_coord *c, uint8_t type, uint8_t *const *bodies,
		       const size_t *lens, int thrifty, uint8_t **ans, size_t *alen, int *codes)
{
	int waiting[FR_VIEW_MAX] = { 0 }, asked[FR_VIEW_MAX] = { 0 }, spare[FR_VIEW_MAX] = { 0 };
	int npending = 0, ok = 0;
	int64_t start = mono_us(), end = -1, fallback = 4 * LATE_MS * 1000;

	c->rounds++;
	if (thrifty)
		fallback = pick_spares(c, spare);
	for (unsigned i = 0; i < c->view.n; i++) {
		ans[i] = NULL;
		alen[i] = 0;
		codes[i] = SHELTER_E_NET;
	}
	for (int patient = 1; patient >= 0; patient--) {
		int skipped = 0;

		for (unsigned i = 0; i < c->view.n; i++) {
			if (bodies[i] == NULL || asked[i])
				continue;
			if (patient && (spare[i] || backing_off(&c->peers[i]))) {
				skipped++;
				continue;
			}
			asked[i] = 1;
			if (send_one(c, i, type, bodies[i], lens[i])) {
				waiting[i] = 1;
				npending++;
			}
		}
		/* with members left out, the others get a short while before they are asked */
		wait_answers(c, type, waiting, &npending, &ok, start,
			     mono_us() + (patient && skipped > 0 ? fallback : DIAL_MS * 1000), &end,
			     ans, alen, codes);
		if (ok >= (int)fr_view_f(&c->view) + 1 || skipped == 0)
			break;
	}
	for (unsigned i = 0; i < c->view.n; i++)
		if (waiting[i])
			owe(c, i, start);
}

/* ---- the current view ---- */

/* The members' addresses, addr/<pubkey hex> (untrusted, like everything here). */
static int load_addrs(struct fresh_coord *c, struct shelter_err *err)
{
	for (unsigned i = 0; i < c->view.n; i++) {
		uint8_t *val = NULL;
		size_t len = 0;
		uint64_t version;
		char key[100];
		int rc;

		hex_key(key, sizeof(key), "addr/", c->view.keys[i]);
		memcpy(c->peers[i].pub, c->view.keys[i], FR_PUB);
		c->peers[i].fd = -1;
		c->peers[i].retry_at = 0;
		rc = fresh_store_get(c->store, key, &val, &len, &version, err);
		if (rc == 0 && (len == 0 || len >= sizeof(c->peers[i].addr)))
			rc = shelter_err_set(err, SHELTER_E_MALFORMED, "store: bad %s", key);
		if (rc == 0) {
			memcpy(c->peers[i].addr, val, len);
			c->peers[i].addr[len] = '\0';
		}
		free(val);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Reload the view when another coordinator (or a reconfiguration) moved it. */
static int refresh_view(struct fresh_coord *c, struct shelter_err *err)
{
	uint8_t *cur = NULL, *rec = NULL;
	size_t len = 0, rlen = 0, used = 0;
	uint64_t version = 0, number = 0, v2 = 0;
	struct fs_view_rec vr = { 0 };
	char key[64];
	int rc = fresh_store_get(c->store, KEY_CURRENT, &cur, &len, &version, err);

	if (rc == 0 && version == c->current_version)
		goto out;
	if (rc == 0 && len != 8)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "store: 'current' is %zu bytes", len);
	if (rc == 0) {
		number = shelter_load_be(cur, 8);
		snprintf(key, sizeof(key), KEY_VIEW, number);
		rc = fresh_store_get(c->store, key, &rec, &rlen, &v2, err);
	}
	if (rc == 0)
		rc = fs_view_rec_decode(rec, rlen, &used, &vr, err);
	if (rc == 0) {
		uint8_t *body = malloc(vr.view_len);

		rc = body != NULL ? 0 : SHELTER_E_NOMEM;
		if (body != NULL)
			memcpy(body, vr.view, vr.view_len);
		if (rc == 0 && (rc = fr_view_decode(body, vr.view_len, &c->view, err)) == 0) {
			for (unsigned i = 0; i < FR_VIEW_MAX; i++)
				peer_close(&c->peers[i]);
			free(c->view_body);
			c->view_body = body;
			c->view_len = vr.view_len;
			c->current_version = version;
			rc = load_addrs(c, err);
		} else {
			free(body);
		}
	}
out:
	fs_view_rec_free(&vr);
	free(cur);
	free(rec);
	return rc;
}

/* ---- writes (§6.1) ---- */

/* A client connection: read by its own thread; written by it and by the round that
 * answers its writes (under mu). Freed, and its fd closed, when refs drops to 0. */
struct conn {
	struct fresh_coord *c;
	int fd;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* with mu: writes dropped */
	unsigned refs;	   /* its thread, and each of its writes not answered yet */
	unsigned writes;   /* queued or in a round */
};

/* One client's write inside a shared round (§3.2: one signature per endorser for
 * every write of the round). */
struct wreq {
	uint8_t type;
	struct conn *conn; /* to answer on; holds a reference */
	uint8_t *in;	   /* the request frame's body: wv points into it */
	struct fs_write wv;
	const struct fs_write *w; /* &wv */
	uint8_t *block; /* the encoded block, stored by the round's leader */
	size_t block_len;
	int rc; /* < 0: the write failed, err says why */
	struct shelter_err err;
	struct fs_receipts prev; /* the certificate of the height below, when known */
	int prev_stored;	 /* ... and already in the store */
	struct fr_receipt got[FR_VIEW_MAX];
	int ok[FR_VIEW_MAX];
	int status[FR_VIEW_MAX];
	int in_pass[FR_VIEW_MAX]; /* in the pass running: sent to that endorser */
	int pair[FR_VIEW_MAX];	  /* ... preceded by a certify (PASS_STALE) */
	unsigned n, quorum;	  /* of the view its round ran in */
	struct wreq *next;
};

static void fill_item(struct endorser_item *it, const struct wreq *r)
{
	memset(it, 0, sizeof(*it));
	it->op = r->type == FS_CREATE ? ENDORSER_CREATE : ENDORSER_APPEND;
	memcpy(it->handle, r->w->handle, FR_HASH);
	it->height = r->w->height;
	memcpy(it->value, r->w->digest, FR_HASH);
	it->cert = r->prev.count > 0 ? r->prev.r : NULL;
	it->cert_count = r->prev.count;
}

static void fill_certify(struct endorser_item *it, const struct wreq *r)
{
	memset(it, 0, sizeof(*it));
	it->op = ENDORSER_CERTIFY;
	memcpy(it->handle, r->w->handle, FR_HASH);
	it->height = r->w->height - 1;
	memcpy(it->value, r->prev.r[0].entry.tail, FR_HASH);
	it->cert = r->prev.r;
	it->cert_count = r->prev.count;
}

/* The passes of a round (§5): every write to the quickest f + 1 endorsers (FIRST);
 * then the writes still short of f + 1 receipts to the endorsers not asked yet (FILL:
 * they were spares, or failed); then, to the endorsers that answered STALE or NOENT
 * (behind: a spare misses rounds), a certify to the certificate below and the write
 * again (STALE). */
enum pass { PASS_FIRST, PASS_FILL, PASS_STALE };

static unsigned receipts_of(const struct wreq *r)
{
	unsigned k = 0;

	for (unsigned i = 0; i < r->n; i++)
		k += r->ok[i] != 0;
	return k;
}

/* The items of one endorser for a pass (see enum pass). */
static size_t items_for(struct wreq *const *rs, size_t n, unsigned peer, enum pass pass,
			struct endorser_item *items)
{
	size_t k = 0;

	for (size_t j = 0; j < n; j++) {
		struct wreq *r = rs[j];
		int behind = r->status[peer] == SHELTER_E_STALE || r->status[peer] == SHELTER_E_NOENT;

		r->pair[peer] = pass == PASS_STALE && !r->ok[peer] && behind && r->prev.count > 0;
		r->in_pass[peer] = pass == PASS_FIRST || r->pair[peer] ||
			      (pass == PASS_FILL && !r->ok[peer] && r->status[peer] == SHELTER_E_NET &&
			       receipts_of(r) < r->quorum);
		if (!r->in_pass[peer])
			continue;
		if (r->pair[peer])
			fill_certify(&items[k++], r);
		fill_item(&items[k++], r);
	}
	return k;
}

/* Give each write its result from one endorser's answer: statuses in item order,
 * one entry per successful item. */
static void spread(struct wreq *const *rs, size_t n, unsigned peer, const int32_t *status,
		   size_t count, const struct fr_receipt *receipts)
{
	size_t item = 0, entry = 0;

	for (size_t j = 0; j < n && item < count; j++) {
		struct wreq *r = rs[j];

		if (!r->in_pass[peer])
			continue;
		if (r->pair[peer] && status[item++] == 0)
			entry++; /* the certify's own entry */
		if (item >= count)
			break;
		r->status[peer] = status[item];
		if (status[item++] == 0) {
			r->got[peer] = receipts[entry++];
			r->ok[peer] = 1;
		}
	}
}

/* One pass of batch requests for the writes rs (none when no endorser has items). */
static void batch_round(struct fresh_coord *c, struct wreq *const *rs, size_t n, enum pass pass)
{
	uint8_t *bodies[FR_VIEW_MAX] = { 0 }, *ans[FR_VIEW_MAX];
	size_t lens[FR_VIEW_MAX] = { 0 }, alen[FR_VIEW_MAX], nitems[FR_VIEW_MAX] = { 0 };
	struct endorser_item *items = malloc(2 * n * sizeof(*items));
	int codes[FR_VIEW_MAX], any = 0;

	for (unsigned i = 0; i < c->view.n && items != NULL; i++) {
		nitems[i] = items_for(rs, n, i, pass, items);
		if (nitems[i] > 0 && fw_batch_encode(items, nitems[i], &bodies[i], &lens[i], NULL) < 0)
			bodies[i] = NULL;
		any |= bodies[i] != NULL;
	}
	free(items);
	if (!any)
		return;
	round_trip(c, FW_BATCH, bodies, lens, pass == PASS_FIRST, ans, alen, codes);
	for (unsigned i = 0; i < c->view.n; i++) {
		struct fr_receipt *receipts = NULL;
		struct fr_batch b = { 0 };
		int32_t *status = NULL;
		size_t count = 0;

		/* not verified here: the writers check their receipts themselves, and a
		 * certificate is checked before it is kept (keep_certs) */
		if (ans[i] != NULL &&
		    fw_batch_answer_decode(ans[i], alen[i], &status, &count, &b, NULL) == 0 &&
		    count == nitems[i] &&
		    (receipts = calloc(b.count ? b.count : 1, sizeof(*receipts))) != NULL &&
		    (b.count == 0 || fr_batch_receipts(&b, receipts, NULL) == 0)) {
			spread(rs, n, i, status, count, receipts);
			if (b.count > 0)
				c->have_head[i] = fr_batch_head(&b, &c->heads[i]) == 0;
		}
		free(receipts);
		free(status);
		fr_batch_free(&b);
		free(ans[i]);
		free(bodies[i]);
	}
}

/* The tail that f + 1 of the receipts agree on, if any: then they are a certificate. */
static size_t quorum(const struct fresh_coord *c, const struct wreq *r, struct fr_receipt *cert)
{
	for (unsigned i = 0; i < c->view.n; i++) {
		size_t n = 0;

		for (unsigned j = 0; j < c->view.n && r->ok[i]; j++)
			if (r->ok[j] && memcmp(r->got[j].entry.tail, r->got[i].entry.tail, FR_HASH) == 0)
				cert[n++] = r->got[j];
		if (n >= fr_view_f(&c->view) + 1)
			return n;
	}
	return 0;
}

/* §6.1 step 1 for every write of a round: each block put on absence, all in one
 * durable transaction (one flush for the round). The same block again is a client's
 * retry and fine; another one at that height fails that write (r->rc, r->err).
 * With them, each certificate the round builds on that the store may not have yet
 * (below/<handle>, whatever was there): once an endorser extends it, a crash of this
 * coordinator must not take the only copy, or the endorsers it did not reach could
 * never catch up (§5 "What must be durable"). The writes whose block is stored go to
 * ok[]; returns how many. */
static size_t put_blocks(struct fresh_coord *c, struct wreq *const *rs, size_t n,
			 struct wreq **ok)
{
	struct fresh_store_op *ops = calloc(2 * n, sizeof(*ops));
	char (*keys)[FRESH_BLOCK_KEY] = calloc(2 * n, sizeof(*keys));
	uint8_t **below = calloc(n, sizeof(*below));
	struct shelter_err err;
	size_t k = 0, nops = n;
	int rc = ops != NULL && keys != NULL && below != NULL
			 ? 0
			 : shelter_err_set(&err, SHELTER_E_NOMEM, "out of memory");

	for (size_t j = 0; rc == 0 && j < n; j++) {
		struct wreq *r = rs[j];
		size_t len = 0;

		fresh_block_key(keys[j], r->w->handle, r->w->height);
		ops[j] = (struct fresh_store_op){ .key = keys[j], .val = r->block,
						  .len = r->block_len };
		if (r->prev.count == 0 || r->prev_stored ||
		    fs_receipts_encode(&r->prev, &below[j], &len, NULL) < 0)
			continue;
		fresh_below_key(keys[nops], r->w->handle);
		ops[nops] = (struct fresh_store_op){ .key = keys[nops], .val = below[j], .len = len,
						     .any = 1 };
		nops++;
	}
	if (rc == 0)
		rc = fresh_store_put_many(c->store, ops, nops, 1, &err);
	for (size_t j = 0; j < n; j++) {
		struct wreq *r = rs[j];
		uint8_t *old = NULL;
		size_t olen = 0;
		uint64_t version;

		r->rc = rc < 0 ? rc : ops[j].rc;
		if (rc < 0)
			r->err = err;
		else if (r->rc == SHELTER_E_CONFLICT &&
			 fresh_store_get(c->store, keys[j], &old, &olen, &version, NULL) == 0 &&
			 olen == r->block_len && memcmp(old, r->block, olen) == 0)
			r->rc = 0;
		else if (r->rc == SHELTER_E_CONFLICT)
			r->rc = shelter_err_set(&r->err, SHELTER_E_CONFLICT, "height %" PRIu64
						" already holds another state", r->w->height);
		else if (r->rc < 0)
			shelter_err_set(&r->err, r->rc, "store: block '%s'", keys[j]);
		free(old);
		if (below != NULL)
			free(below[j]);
		if (r->rc == 0)
			ok[k++] = r;
	}
	free(below);
	free(ops);
	free(keys);
	return k;
}

/* The certificate of the height below an append, for endorsers that need it (§4.3).
 * Caller holds c->mu: the rounds before have kept theirs. */
static void find_prev(struct fresh_coord *c, struct wreq *r)
{
	if (r->type == FS_APPEND)
		(void)fresh_certs_find(c->certs, r->w->handle, r->w->height - 1, c->view.digest,
				       &r->prev, &r->prev_stored);
}

/* Rounds for the writes rs (distinct handles, blocks stored); each write's receipts
 * end in r->got. The tails f + 1 endorsers agree on are copied out, unverified, as
 * candidate certificates: *made (malloc'd, count returned) for keep_certs. Caller
 * holds c->mu, has refreshed the view and found each write's prev. */
static size_t run_writes(struct fresh_coord *c, struct wreq *const *rs, size_t n,
			 struct fresh_cert ***made)
{
	size_t k = 0;

	for (size_t j = 0; j < n; j++) {
		for (unsigned i = 0; i < c->view.n; i++) {
			rs[j]->ok[i] = 0;
			rs[j]->status[i] = SHELTER_E_NET;
		}
		rs[j]->n = c->view.n;
		rs[j]->quorum = fr_view_f(&c->view) + 1;
	}
	memset(c->have_head, 0, sizeof(c->have_head));
	batch_round(c, rs, n, PASS_FIRST);
	batch_round(c, rs, n, PASS_FILL);
	batch_round(c, rs, n, PASS_STALE);
	c->batches++;
	c->appends += n;
	*made = calloc(n, sizeof(**made));
	for (size_t j = 0; *made != NULL && j < n; j++) {
		struct fr_receipt cert[FR_VIEW_MAX];
		size_t m = quorum(c, rs[j], cert);
		struct fresh_cert *p = m > 0 ? malloc(sizeof(*p) + m * sizeof(cert[0])) : NULL;

		if (p == NULL)
			continue;
		memcpy(p->r, cert, m * sizeof(cert[0]));
		p->n = m;
		(*made)[k++] = p;
	}
	return k;
}

/* Each candidate certificate remembered for the handle's next append (unchecked: the
 * endorsers check what they are given, §4.3) and queued for the saver, which checks
 * it before the store gets it: the store's copy serves other coordinators and
 * restarts, not this round's acknowledgement. Checking here would make the round's
 * leader, itself a writer, answer its client only after it. Takes made. Caller holds
 * c->mu. */
static void keep_certs(struct fresh_coord *c, struct fresh_cert **made, size_t n)
{
	for (size_t j = 0; j < n; j++)
		fresh_certs_keep(c->certs, &c->view, made[j]);
	free(made);
}

/* Take writes off the queue for one round, oldest first: one per handle (a second
 * write of a handle needs the first certified, so it waits for the next round). */
static size_t take_round(struct fresh_coord *c, struct wreq **rs, size_t max)
{
	struct wreq **pp = &c->queue;
	size_t n = 0;

	while (*pp != NULL && n < max) {
		struct wreq *r = *pp;
		int dup = 0;

		for (size_t j = 0; j < n && !dup; j++)
			dup = memcmp(rs[j]->w->handle, r->w->handle, FR_HASH) == 0;
		if (dup) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		rs[n++] = r;
	}
	c->queued -= n;
	c->last_round = n;
	c->qtail = pp;
	while (*c->qtail != NULL)
		c->qtail = &(*c->qtail)->next;
	return n;
}

/* A write that can have no quorum because endorsers hold another state at its height
 * (another writer of the handle moved on, §6.3) is a CONFLICT for the client to read
 * again, not a bare lack of receipts. */
static int taken_elsewhere(const struct wreq *r, struct shelter_err *err)
{
	unsigned ok = 0, taken = 0;

	for (unsigned i = 0; i < r->n; i++) {
		ok += r->ok[i] != 0;
		taken += !r->ok[i] && r->status[i] == SHELTER_E_CONFLICT;
	}
	if (ok >= r->quorum || taken == 0 || r->n - taken >= r->quorum)
		return 0;
	return shelter_err_set(err, SHELTER_E_CONFLICT, "height %" PRIu64 " is taken at %u of "
			       "%u endorsers: another state is there; read the latest", r->w->height,
			       taken, r->n);
}

static void conn_put(struct conn *cl)
{
	unsigned left;

	pthread_mutex_lock(&cl->mu);
	left = --cl->refs;
	pthread_mutex_unlock(&cl->mu);
	if (left > 0)
		return;
	close(cl->fd);
	pthread_mutex_destroy(&cl->mu);
	pthread_cond_destroy(&cl->cv);
	free(cl);
}

/* Send a request's answer: out (rc 0) or rc's error. A failed send shuts the
 * connection down (its thread then ends): the client sees no answer, never a wrong
 * one. */
static void conn_answer(struct conn *cl, uint8_t type, int rc, const uint8_t *out, size_t olen,
			const struct shelter_err *why)
{
	uint8_t *eout = NULL;
	size_t elen = 0;
	int sent = -1;

	if (rc < 0) {
		fresh_log("coordinator", "error", "request=0x%02x code=%d reason=\"%s\"", type, rc,
			  why->msg);
		if (fw_error_encode(rc, why->msg, &eout, &elen) == 0) {
			out = eout;
			olen = elen;
		} else {
			out = NULL;
		}
	}
	pthread_mutex_lock(&cl->mu);
	if (out != NULL)
		sent = fw_send(cl->fd, rc < 0 ? FW_ERROR : (uint8_t)(type | FW_ANSWER), out, olen,
			       NULL);
	if (sent < 0)
		shutdown(cl->fd, SHUT_RDWR);
	pthread_mutex_unlock(&cl->mu);
	free(eout);
}

/* Answer a write the round is done with, and let it go. */
static void finish_write(struct fresh_coord *c, struct wreq *r)
{
	struct fs_receipts rs = { 0 };
	uint8_t *out = NULL;
	size_t olen = 0;
	int rc = r->rc;
	struct shelter_err err = r->err;

	if (rc == 0)
		rc = taken_elsewhere(r, &err);
	if (rc == 0 && (rs.r = calloc(FR_VIEW_MAX, sizeof(*rs.r))) == NULL)
		rc = shelter_err_set(&err, SHELTER_E_NOMEM, "out of memory");
	for (unsigned i = 0; rc == 0 && i < FR_VIEW_MAX; i++)
		if (r->ok[i])
			rs.r[rs.count++] = r->got[i];
	if (rc == 0)
		rc = fs_receipts_encode(&rs, &out, &olen, &err);
	conn_answer(r->conn, r->type, rc, out, olen, &err);
	free(out);
	fs_receipts_free(&rs);
	fs_receipts_free(&r->prev);
	pthread_mutex_lock(&r->conn->mu);
	r->conn->writes--;
	pthread_cond_signal(&r->conn->cv);
	pthread_mutex_unlock(&r->conn->mu);
	conn_put(r->conn);
	free(r->block);
	free(r->in);
	free(r);
	pthread_mutex_lock(&c->qmu);
	if (--c->inflight == 0)
		pthread_cond_broadcast(&c->settled_cv);
	pthread_mutex_unlock(&c->qmu);
}

/* §8 sigs: each member that answered the round just over gets the others' batch
 * signatures, to check while the writers check their receipts; the next round's
 * certificates then find them checked (§5 "Group commit"). No answer comes back.
 * Caller holds c->mu. */
static void share_heads(struct fresh_coord *c)
{
	for (unsigned i = 0; i < c->view.n; i++) {
		struct fr_sighead others[FR_VIEW_MAX];
		uint8_t *body = NULL;
		size_t k = 0, len = 0;

		if (!c->have_head[i] || c->peers[i].fd < 0)
			continue;
		for (unsigned j = 0; j < c->view.n; j++)
			if (j != i && c->have_head[j])
				others[k++] = c->heads[j];
		if (k > 0 && fw_sigs_encode(others, k, &body, &len, NULL) == 0)
			(void)send_one(c, i, FW_SIGS, body, len);
		free(body);
	}
	memset(c->have_head, 0, sizeof(c->have_head));
}

/* One round for the writes queued (§5: the blocks in one transaction, then one batch
 * per endorser), each answered on its connection as soon as its round is done. Caller
 * holds qmu and leads; returns with qmu held. */
static void one_round(struct fresh_coord *c)
{
	struct wreq **rs = c->rs, **ok = c->rs + FRESH_ROUND_MAX;
	struct fresh_cert **made = NULL;
	struct shelter_err err;
	size_t n = take_round(c, rs, FRESH_ROUND_MAX), k, nmade = 0;
	int rc;

	pthread_mutex_unlock(&c->qmu);
	pthread_mutex_lock(&c->mu);
	rc = refresh_view(c, &err);
	for (size_t j = 0; j < n; j++) {
		if (rc == 0) {
			find_prev(c, rs[j]);
			continue;
		}
		rs[j]->rc = rc;
		shelter_err_set(&rs[j]->err, rc, "no current view: %s", err.msg);
	}
	k = rc == 0 ? put_blocks(c, rs, n, ok) : 0;
	if (k > 0)
		nmade = run_writes(c, ok, k, &made);
	/* keep the certificates before the next round, which needs them; then answer
	 * (their clients check the receipts themselves) */
	keep_certs(c, made, nmade);
	pthread_mutex_unlock(&c->mu);
	for (size_t j = 0; j < n; j++)
		finish_write(c, rs[j]);
	pthread_mutex_lock(&c->mu);
	share_heads(c);
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_lock(&c->qmu);
}

/* Wait (qmu held) up to GATHER_US for the queue to hold 3/4 of the last round. */
static void gather(struct fresh_coord *c)
{
	size_t want = c->last_round * 3 / 4;
	struct timespec until;

	if (c->queued >= want)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += GATHER_US * 1000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	c->gather = want;
	while (c->queued < want && !c->round_stop &&
	       pthread_cond_timedwait(&c->round_cv, &c->qmu, &until) == 0)
		;
	c->gather = 0;
}

/* The round thread: takes over leading from a client's thread while writes keep
 * coming, so that thread goes back to its client. */
static void *round_thread(void *arg)
{
	struct fresh_coord *c = arg;

	pthread_mutex_lock(&c->qmu);
	for (;;) {
		while (!c->handoff && !c->round_stop)
			pthread_cond_wait(&c->round_cv, &c->qmu);
		if (!c->handoff)
			break;
		c->handoff = 0;
		while (c->queue != NULL) {
			gather(c);
			one_round(c);
		}
		c->leading = 0;
	}
	pthread_mutex_unlock(&c->qmu);
	return NULL;
}

/* Queue a write for the next round (§5, group commit). The client's thread that finds
 * no round running runs one itself (no thread switch for a lone writer) and, if more
 * writes queued meanwhile, hands the lead to the round thread. Takes *in (the write
 * points into it) on success; the answer comes from the round. */
static int queue_write(struct fresh_coord *c, struct conn *cl, uint8_t type, uint8_t **in,
		       size_t len, struct shelter_err *err)
{
	struct wreq *r = calloc(1, sizeof(*r));
	uint8_t digest[FR_HASH];
	int rc = r != NULL ? 0 : shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");

	if (rc == 0)
		rc = fs_write_decode(type, *in, len, &r->wv, err);
	if (rc == 0 && (shelter_sha256(r->wv.blob, r->wv.blob_len, digest, NULL) < 0 ||
			memcmp(digest, r->wv.digest, FR_HASH) != 0))
		rc = shelter_err_set(err, SHELTER_E_INVAL, "the digest is not SHA-256 of the "
				     "state (§6.1)");
	if (rc == 0)
		rc = fs_block_encode(&r->wv, &r->block, &r->block_len, err);
	if (rc < 0) {
		if (r != NULL)
			free(r->block);
		free(r);
		return rc;
	}
	r->type = type;
	r->w = &r->wv;
	r->in = *in;
	*in = NULL;
	r->conn = cl;
	pthread_mutex_lock(&cl->mu);
	cl->refs++;
	cl->writes++;
	pthread_mutex_unlock(&cl->mu);
	pthread_mutex_lock(&c->qmu);
	c->inflight++;
	c->queued++;
	*c->qtail = r;
	c->qtail = &r->next;
	if (c->gather > 0 && c->queued >= c->gather)
		pthread_cond_signal(&c->round_cv);
	if (!c->leading) {
		c->leading = 1;
		one_round(c);
		if (c->queue != NULL) {
			c->handoff = 1;
			pthread_cond_signal(&c->round_cv);
		} else {
			c->leading = 0;
		}
	}
	pthread_mutex_unlock(&c->qmu);
	return 0;
}

/* ---- reads (§6.2) ---- */

/* The receipt of entry index of an answer batch, verified. */
static int answer_receipt(const struct fr_batch *b, uint32_t index, struct fr_receipt *r)
{
	if (fr_batch_verify(b, NULL) < 0)
		return SHELTER_E_INTEGRITY;
	return fr_batch_receipt(b, index, r, NULL);
}

static int do_read(struct fresh_coord *c, const uint8_t handle[FR_HASH],
		   const uint8_t nonce[FR_HASH], struct fs_receipts *out, struct shelter_err *err)
{
	uint8_t *bodies[FR_VIEW_MAX], *ans[FR_VIEW_MAX], *body = NULL;
	size_t lens[FR_VIEW_MAX], alen[FR_VIEW_MAX], len = 0;
	int codes[FR_VIEW_MAX];
	uint64_t version;
	int rc = fw_read_encode(nonce, (const uint8_t (*)[FR_HASH])handle, 1, &body, &len, err);

	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < c->view.n; i++) {
		bodies[i] = body;
		lens[i] = len;
	}
	round_trip(c, FW_READ, bodies, lens, 0, ans, alen, codes);
	free(body);
	out->r = calloc(c->view.n, sizeof(*out->r));
	for (unsigned i = 0; i < c->view.n; i++) {
		struct fr_batch b;
		size_t used = 0;

		if (ans[i] != NULL && out->r != NULL &&
		    fr_batch_decode(ans[i], alen[i], 1, &b, &used, NULL) == 0) {
			if (used == alen[i] && b.count == 1 &&
			    answer_receipt(&b, 0, &out->r[out->count]) == 0)
				out->count++;
			fr_batch_free(&b);
		}
		free(ans[i]);
	}
	if (out->r == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	{
		struct fs_receipts cert;

		if (fresh_certs_load(c->certs, handle, &cert, &version) == 0) {
			out->cert = cert.r;
			out->cert_count = cert.count;
			free(cert.cert);
		}
	}
	c->reads++;
	return 0;
}

/* ---- blocks and the ledger ---- */

static int do_block(struct fresh_coord *c, const uint8_t *in, size_t len, uint8_t **out,
		    size_t *olen, struct shelter_err *err)
{
	char key[FRESH_BLOCK_KEY];
	uint64_t version;

	if (len != FR_HASH + 8)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "block request of %zu bytes", len);
	fresh_block_key(key, in, shelter_load_be(in + FR_HASH, 8));
	return fresh_store_get(c->store, key, out, olen, &version, err);
}

/* u32 count || count x (u32 len || view record), from view `from` on. */
static int do_ledger(struct fresh_coord *c, const uint8_t *in, size_t len, uint8_t **out,
		     size_t *olen, struct shelter_err *err)
{
	struct shelter_wbuf w;
	uint8_t *recs[FS_VIEWS_MAX];
	size_t rlens[FS_VIEWS_MAX], n = 0, total = 4;
	uint64_t from, version;
	int rc = 0;

	if (len != 8)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "ledger request of %zu bytes", len);
	from = shelter_load_be(in, 8);
	while (n < FS_VIEWS_MAX) {
		char key[64];

		snprintf(key, sizeof(key), KEY_VIEW, from + n);
		if (fresh_store_get(c->store, key, &recs[n], &rlens[n], &version, NULL) < 0)
			break;
		total += 4 + rlens[n++];
	}
	*out = malloc(total);
	if (*out == NULL)
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	if (rc == 0) {
		shelter_wbuf_init(&w, *out, total);
		shelter_wbuf_put_be(&w, n, 4);
		for (size_t i = 0; i < n; i++) {
			shelter_wbuf_put_be(&w, rlens[i], 4);
			shelter_wbuf_put_bytes(&w, recs[i], rlens[i]);
		}
		*olen = total;
	}
	for (size_t i = 0; i < n; i++)
		free(recs[i]);
	return rc;
}

/* ---- serving clients (§8.2) ---- */

/* Every request but the writes, answered by the client's thread (§8.2). */
static int handle_request(struct fresh_coord *c, uint8_t type, const uint8_t *in, size_t len,
			  uint8_t **out, size_t *olen, struct shelter_err *err)
{
	struct fs_receipts rs = { 0 };
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = refresh_view(c, err);
	if (rc < 0) {
		pthread_mutex_unlock(&c->mu);
		return shelter_err_wrap(err, rc, "no current view");
	}
	switch (type) {
	case FS_READ:
		rc = len == 2 * FR_HASH ? do_read(c, in, in + FR_HASH, &rs, err)
					: shelter_err_set(err, SHELTER_E_MALFORMED, "read request "
							  "of %zu bytes", len);
		break;
	case FS_BLOCK:
		rc = do_block(c, in, len, out, olen, err);
		break;
	case FS_LEDGER:
		rc = do_ledger(c, in, len, out, olen, err);
		break;
	default:
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "unknown request type 0x%02x", type);
	}
	pthread_mutex_unlock(&c->mu);
	if (rc == 0 && type == FS_READ)
		rc = fs_receipts_encode(&rs, out, olen, err);
	fs_receipts_free(&rs);
	return rc;
}

static pthread_mutex_t clients_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t clients_gone = PTHREAD_COND_INITIALIZER;
static int client_fds[256];
static unsigned nclients;

/* Writes go to the round that answers them; the thread reads on meanwhile (a client
 * may send several), up to CONN_WRITES_MAX unanswered. */
static void *client_thread(void *arg)
{
	struct conn *cl = arg;
	uint8_t type, *in = NULL, *out = NULL;
	size_t len, olen;

	while (!*cl->c->stop && fw_recv(cl->fd, &type, &in, &len, NULL) == 0) {
		struct shelter_err err;
		int rc;

		shelter_err_clear(&err);
		out = NULL;
		olen = 0;
		if (type == FS_CREATE || type == FS_APPEND) {
			pthread_mutex_lock(&cl->mu);
			while (cl->writes >= CONN_WRITES_MAX)
				pthread_cond_wait(&cl->cv, &cl->mu);
			pthread_mutex_unlock(&cl->mu);
			rc = queue_write(cl->c, cl, type, &in, len, &err);
		} else {
			rc = handle_request(cl->c, type, in, len, &out, &olen, &err);
		}
		if (in != NULL || rc < 0) /* not queued: answered here */
			conn_answer(cl, type, rc, out, olen, &err);
		free(in);
		free(out);
		in = out = NULL;
	}
	free(in);
	pthread_mutex_lock(&clients_mu);
	for (unsigned i = 0; i < nclients; i++)
		if (client_fds[i] == cl->fd)
			client_fds[i] = client_fds[--nclients];
	pthread_cond_broadcast(&clients_gone);
	pthread_mutex_unlock(&clients_mu);
	conn_put(cl); /* its writes still queued keep the connection to answer on */
	return NULL;
}

static void start_client(struct fresh_coord *c, int fd)
{
	struct conn *cl = calloc(1, sizeof(*cl));
	struct timeval tv = { .tv_sec = ANSWER_MS / 1000, .tv_usec = ANSWER_MS % 1000 * 1000 };
	pthread_attr_t attr;
	pthread_t t;
	int ok = 0, taken = 0;

	pthread_mutex_lock(&clients_mu);
	if (cl != NULL && nclients < sizeof(client_fds) / sizeof(client_fds[0])) {
		cl->c = c;
		cl->fd = fd;
		cl->refs = 1;
		pthread_mutex_init(&cl->mu, NULL);
		pthread_cond_init(&cl->cv, NULL);
		/* a client that stops reading its answers must not hold up the rounds */
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		ok = pthread_create(&t, &attr, client_thread, cl) == 0;
		pthread_attr_destroy(&attr);
		if (ok)
			client_fds[nclients++] = fd;
		taken = 1;
	}
	pthread_mutex_unlock(&clients_mu);
	if (taken && !ok)
		conn_put(cl); /* closes fd */
	if (!taken) {
		free(cl);
		close(fd);
	}
	if (!ok)
		fresh_log("coordinator", "refused", "reason=\"too many clients\"");
}

static int start_round_thread(struct fresh_coord *c, struct shelter_err *err)
{
	if (c->round_started)
		return 0;
	if (pthread_create(&c->round_thread, NULL, round_thread, c) != 0)
		return shelter_err_set(err, SHELTER_E_NOMEM, "cannot start the round thread");
	c->round_started = 1;
	return 0;
}

int fresh_coord_serve(struct fresh_coord *c, const char *listen_spec,
		      const volatile sig_atomic_t *stop, int stop_fd, struct shelter_err *err)
{
	char host[256];
	uint16_t port, bound;
	int lfd = -1, rc = fresh_hostport(listen_spec, host, sizeof(host), &port, err);

	if (rc == 0)
		rc = tls_listen(host, port, 128, &lfd, &bound, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "--listen");
	rc = start_round_thread(c, err);
	if (rc < 0) {
		close(lfd);
		return rc;
	}
	c->stop = stop;
	fresh_log("coordinator", "listening", "addr=%s:%u", host, (unsigned)bound);
	while (!*stop) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
				       { .fd = stop_fd, .events = POLLIN } };
		int fd;

		if (poll(p, stop_fd >= 0 ? 2 : 1, 1000) <= 0 || !(p[0].revents & POLLIN))
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			start_client(c, fd);
	}
	close(lfd);
	/* wake the client threads and wait for them and for the writes they queued:
	 * nothing half-answered is left */
	pthread_mutex_lock(&clients_mu);
	for (unsigned i = 0; i < nclients; i++)
		shutdown(client_fds[i], SHUT_RDWR);
	while (nclients > 0)
		pthread_cond_wait(&clients_gone, &clients_mu);
	pthread_mutex_unlock(&clients_mu);
	pthread_mutex_lock(&c->qmu);
	while (c->inflight > 0)
		pthread_cond_wait(&c->settled_cv, &c->qmu);
	pthread_mutex_unlock(&c->qmu);
	fresh_log("coordinator", "stopped", "rounds=%" PRIu64 " write-rounds=%" PRIu64 " appends=%"
		  PRIu64 " reads=%" PRIu64, c->rounds, c->batches, c->appends, c->reads);
	return 0;
}

/* ---- life cycle ---- */

int fresh_coord_new(struct fresh_store *store, struct fresh_coord **out, struct shelter_err *err)
{
	struct fresh_coord *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL) {
		fresh_store_close(store);
		return shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	}
	c->store = store;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->qmu, NULL);
	pthread_cond_init(&c->round_cv, NULL);
	pthread_cond_init(&c->settled_cv, NULL);
	c->qtail = &c->queue;
	c->rs = malloc(2 * FRESH_ROUND_MAX * sizeof(*c->rs));
	if (c->rs == NULL) {
		fresh_coord_free(c);
		return shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	}
	for (unsigned i = 0; i < FR_VIEW_MAX; i++)
		c->peers[i].fd = -1;
	if (fresh_certs_new(store, &c->certs, err) < 0) {
		fresh_coord_free(c);
		return SHELTER_E_NOMEM;
	}
	*out = c;
	return 0;
}

void fresh_coord_free(struct fresh_coord *c)
{
	if (c == NULL)
		return;
	if (c->round_started) {
		pthread_mutex_lock(&c->qmu);
		c->round_stop = 1;
		pthread_cond_signal(&c->round_cv);
		pthread_mutex_unlock(&c->qmu);
		pthread_join(c->round_thread, NULL);
	}
	fresh_certs_free(c->certs); /* stores what is queued: before the store closes */
	for (unsigned i = 0; i < FR_VIEW_MAX; i++)
		peer_close(&c->peers[i]);
	fresh_store_close(c->store);
	free(c->view_body);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->qmu);
	pthread_cond_destroy(&c->round_cv);
	pthread_cond_destroy(&c->settled_cv);
	free(c->rs);
	free(c);
}

/* ---- operator procedures: genesis (§7.3) and reconfiguration (§7.1) ---- */

struct joiner {
	char addr[128];
	uint8_t pub[FR_PUB];
	uint8_t *answer; /* the identity answer; quote points into it */
	const uint8_t *quote;
	size_t quote_len;
};

/* One request to one endorser, outside any view (dialled for this call). */
static int call_one(const char *addr, uint8_t type, const uint8_t *body, size_t len,
		    uint8_t **ans, size_t *alen, struct shelter_err *err)
{
	uint8_t t = 0;
	int fd = -1, code = 0, rc = fresh_dial(addr, DIAL_MS, &fd, err);
	char msg[FW_MESSAGE_MAX];

	*ans = NULL;
	if (rc == 0)
		rc = fw_send(fd, type, body, len, err);
	if (rc == 0)
		rc = fw_recv(fd, &t, ans, alen, err);
	if (fd >= 0)
		close(fd);
	if (rc == 0 && t == FW_ERROR) {
		rc = fw_error_decode(*ans, *alen, &code, msg, sizeof(msg)) == 0 ? code
									   : SHELTER_E_MALFORMED;
		shelter_err_set(err, rc, "%s", msg);
	} else if (rc == 0 && t != (type | FW_ANSWER)) {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "answer of type 0x%02x", t);
	}
	if (rc < 0) {
		free(*ans);
		*ans = NULL;
		return shelter_err_wrap(err, rc, "endorser %s", addr);
	}
	return 0;
}

static int identify(struct joiner *j, struct shelter_err *err)
{
	size_t len = 0;
	int rc = call_one(j->addr, FW_IDENTITY, NULL, 0, &j->answer, &len, err);

	if (rc == 0)
		rc = fw_identity_decode(j->answer, len, j->pub, &j->quote, &j->quote_len, err);
	return rc;
}

static int by_joiner_pub(const void *a, const void *b)
{
	return memcmp(((const struct joiner *)a)->pub, ((const struct joiner *)b)->pub, FR_PUB);
}

/* The view of the joiners (sorted here), numbered number after prev. */
static int build_view(struct joiner *js, size_t n, uint64_t number, const uint8_t *prev,
		      struct fr_view *v, uint8_t **body, size_t *len, struct shelter_err *err)
{
	qsort(js, n, sizeof(*js), by_joiner_pub);
	memset(v, 0, sizeof(*v));
	v->number = number;
	if (prev != NULL)
		memcpy(v->prev, prev, FR_HASH);
	v->n = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && memcmp(js[i - 1].pub, js[i].pub, FR_PUB) == 0)
			return shelter_err_set(err, SHELTER_E_INVAL, "%s and %s are one endorser",
					       js[i - 1].addr, js[i].addr);
		memcpy(v->keys[i], js[i].pub, FR_PUB);
		v->quotes[i] = js[i].quote;
		v->quote_len[i] = (uint32_t)js[i].quote_len;
	}
	return fr_view_encode(v, body, len, err);
}

/* init every joiner with req; each answer must be its signed INIT batch, kept in
 * inits[i] (caller frees). */
static int init_all(struct joiner *js, size_t n, const struct fw_init_req *req,
		    const struct fr_view *v, struct fr_batch *inits, struct shelter_err *err)
{
	uint8_t *body = NULL;
	size_t len = 0;
	int rc = fw_init_encode(req, &body, &len, err);

	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t *ans = NULL;
		size_t alen = 0, used = 0;
		struct fr_batch *b = &inits[i];

		rc = call_one(js[i].addr, FW_INIT, body, len, &ans, &alen, err);
		if (rc == 0)
			rc = fr_batch_decode(ans, alen, FR_BATCH_MAX, b, &used, err);
		if (rc == 0 && (b->kind != FR_KIND_INIT || memcmp(b->view, v->digest, FR_HASH) != 0 ||
				memcmp(b->pub, js[i].pub, FR_PUB) != 0 || fr_batch_verify(b, NULL) < 0))
			rc = shelter_err_set(err, SHELTER_E_INTEGRITY, "endorser %s: not its INIT of "
					     "view %" PRIu64, js[i].addr, v->number);
		free(ans);
	}
	free(body);
	return rc;
}

/* The new view's INIT batches certify every handle of the derived state in it
 * (§3.4): store those certificates, so that reads and the next appends find them.
 * All members derived the same state, so their batches list the same entries. */
static void save_init_certs(struct fresh_coord *c, const struct fr_batch *inits, size_t n,
			    unsigned quorum)
{
	struct fresh_cert **ps;
	size_t m = 0;

	if (n < quorum || inits[0].count == 0)
		return;
	ps = calloc(inits[0].count, sizeof(*ps));
	for (uint32_t e = 0; ps != NULL && e < inits[0].count; e++) {
		struct fresh_cert *p = malloc(sizeof(*p) + quorum * sizeof(p->r[0]));

		if (p == NULL)
			break;
		p->n = 0;
		for (size_t i = 0; i < n && p->n < quorum; i++)
			if (inits[i].count == inits[0].count &&
			    fr_batch_receipt(&inits[i], e, &p->r[p->n], NULL) == 0)
				p->n++;
		if (p->n == quorum)
			ps[m++] = p;
		else
			free(p);
	}
	if (m > 0)
		fresh_certs_save_now(c->certs, ps, m); /* init_all checked the INIT batches */
	for (size_t i = 0; i < m; i++)
		free(ps[i]);
	free(ps);
}

static int put_view(struct fresh_coord *c, const struct fs_view_rec *vr, uint64_t number,
		    const struct joiner *js, size_t n, uint64_t expect_current,
		    struct shelter_err *err)
{
	uint8_t *val = NULL, num[8];
	size_t len = 0;
	char key[100];
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		uint64_t version = 0;
		uint8_t *old = NULL;
		size_t olen = 0;

		hex_key(key, sizeof(key), "addr/", js[i].pub);
		(void)fresh_store_get(c->store, key, &old, &olen, &version, NULL);
		free(old);
		rc = fresh_store_put(c->store, key, (const uint8_t *)js[i].addr, strlen(js[i].addr),
				     version, NULL, err);
	}
	if (rc == 0)
		rc = fs_view_rec_encode(vr, &val, &len, err);
	snprintf(key, sizeof(key), KEY_VIEW, number);
	if (rc == 0)
		rc = fresh_store_put(c->store, key, val, len, 0, NULL, err);
	shelter_store_be(num, number, 8);
	if (rc == 0)
		rc = fresh_store_put(c->store, KEY_CURRENT, num, 8, expect_current, NULL, err);
	free(val);
	return rc;
}

static void joiners_free(struct joiner *js, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(js[i].answer);
}

int fresh_coord_genesis(struct fresh_coord *c, const char *const *addrs, size_t n,
			uint8_t genesis[FR_HASH], struct shelter_err *err)
{
	struct joiner js[FR_VIEW_MAX] = { 0 };
	struct fr_view v;
	struct fs_view_rec vr = { 0 };
	uint8_t *body = NULL, *cur = NULL;
	size_t len = 0, clen = 0;
	uint64_t version = 0;
	int rc = 0;

	if (n == 0 || n > FR_VIEW_MAX || n % 2 == 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "%zu endorsers: want an odd number "
				       "from 1 to %d", n, FR_VIEW_MAX);
	if (fresh_store_get(c->store, KEY_CURRENT, &cur, &clen, &version, NULL) == 0) {
		free(cur);
		return shelter_err_set(err, SHELTER_E_EXIST, "the store already holds a service");
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		snprintf(js[i].addr, sizeof(js[i].addr), "%s", addrs[i]);
		rc = identify(&js[i], err);
	}
	if (rc == 0)
		rc = build_view(js, n, 0, NULL, &v, &body, &len, err);
	if (rc == 0) {
		struct fw_init_req req = { .view = body, .view_len = len };
		struct fr_batch inits[FR_VIEW_MAX] = { 0 };

		rc = init_all(js, n, &req, &v, inits, err);
		for (size_t i = 0; i < n; i++)
			fr_batch_free(&inits[i]);
	}
	vr.view = body;
	vr.view_len = len;
	if (rc == 0)
		rc = put_view(c, &vr, 0, js, n, 0, err);
	if (rc == 0) {
		memcpy(genesis, v.digest, FR_HASH);
		fresh_log("coordinator", "genesis", "endorsers=%zu", n);
	}
	free(body);
	joiners_free(js, n);
	return rc < 0 ? shelter_err_wrap(err, rc, "genesis") : 0;
}

/* §7.1 step 2: LOCK batches from the current members, valid ones only. */
static size_t lock_members(struct fresh_coord *c, const uint8_t next[FR_HASH],
			   struct fr_batch *locks)
{
	size_t k = 0;

	for (unsigned i = 0; i < c->view.n; i++) {
		uint8_t *ans = NULL;
		size_t alen = 0, used = 0;
		struct shelter_err err;

		shelter_err_clear(&err);
		if (call_one(c->peers[i].addr, FW_LOCK, next, FR_HASH, &ans, &alen, &err) < 0) {
			fresh_log("coordinator", "lock-failed", "endorser=%s reason=\"%s\"",
				  c->peers[i].addr, err.msg);
			continue;
		}
		if (fr_batch_decode(ans, alen, FR_BATCH_MAX, &locks[k], &used, NULL) == 0 &&
		    locks[k].kind == FR_KIND_LOCK && memcmp(locks[k].pub, c->view.keys[i], FR_PUB) == 0 &&
		    memcmp(locks[k].nonce, next, FR_HASH) == 0 && fr_batch_verify(&locks[k], NULL) == 0)
			k++;
		else
			fr_batch_free(&locks[k]);
		free(ans);
	}
	return k;
}

static int by_entry(const void *a, const void *b)
{
	const struct fr_entry *x = a, *y = b;
	int d = memcmp(x->handle, y->handle, FR_HASH);

	return d != 0 ? d : memcmp(x->tail, y->tail, FR_HASH);
}

/* The stored certificates of one handle (cert/ and below/, §5) into req. */
static void add_certs(struct fresh_coord *c, const uint8_t handle[FR_HASH],
		      struct fw_init_req *req, size_t cap)
{
	struct fs_receipts cert;
	uint64_t version;
	char key[FRESH_BLOCK_KEY];

	if (req->ncerts < cap && fresh_certs_load(c->certs, handle, &cert, &version) == 0 &&
	    cert.count > 0) {
		req->certs[req->ncerts] = cert.r;
		req->cert_lens[req->ncerts++] = cert.count;
		free(cert.cert);
	}
	fresh_below_key(key, handle);
	if (req->ncerts < cap && fresh_certs_load_key(c->certs, key, &cert, &version) == 0 &&
	    cert.count > 0) {
		req->certs[req->ncerts] = cert.r;
		req->cert_lens[req->ncerts++] = cert.count;
		free(cert.cert);
	}
}

/* §7.2 needs a certificate where the locked states disagree, and one of an uncertified
 * state the locks agree on is welcome: with it the new view holds that state
 * certified, where otherwise its members, which were given it and never appended it,
 * could answer the client finishing it (§6.3) only when told the tail below (§4.2).
 * The stored ones: the newest certificate and the one below the last round (§5). */
static int certs_for(struct fresh_coord *c, const struct fr_batch *locks, size_t nlocks,
		     struct fw_init_req *req)
{
	size_t total = 0, k = 0, cap;
	struct fr_entry *all;
	int rc = 0;

	for (size_t i = 0; i < nlocks; i++)
		total += locks[i].count;
	cap = 2 * total < FW_CERTS_MAX ? 2 * total : FW_CERTS_MAX;
	all = malloc((total ? total : 1) * sizeof(*all));
	req->certs = calloc(cap ? cap : 1, sizeof(*req->certs));
	req->cert_lens = calloc(cap ? cap : 1, sizeof(*req->cert_lens));
	if (all == NULL || req->certs == NULL || req->cert_lens == NULL)
		rc = SHELTER_E_NOMEM;
	for (size_t i = 0; i < nlocks && rc == 0; i++)
		for (uint32_t j = 0; j < locks[i].count; j++)
			all[k++] = locks[i].entries[j];
	if (rc == 0)
		qsort(all, total, sizeof(*all), by_entry);
	for (size_t i = 0; i < total && rc == 0;) {
		size_t j = i + 1;
		int want = !(all[i].flags & FR_FLAG_CERTIFIED);

		for (; j < total && memcmp(all[j].handle, all[i].handle, FR_HASH) == 0; j++)
			want |= !(all[j].flags & FR_FLAG_CERTIFIED) || all[j].height != all[i].height ||
				memcmp(all[j].tail, all[i].tail, FR_HASH) != 0;
		if (want)
			add_certs(c, all[i].handle, req, cap);
		i = j;
	}
	free(all);
	return rc;
}

int fresh_coord_reconfigure(struct fresh_coord *c, const uint8_t (*drop)[FR_PUB], size_t ndrop,
			    const char *const *add, size_t nadd, uint64_t *number,
			    struct shelter_err *err)
{
	struct joiner js[FR_VIEW_MAX] = { 0 };
	struct fr_batch locks[FR_VIEW_MAX] = { 0 }, inits[FR_VIEW_MAX] = { 0 };
	struct fw_init_req req = { 0 };
	struct fs_view_rec vr = { 0 };
	struct fr_view v;
	uint8_t *body = NULL;
	size_t n = 0, nlocks = 0, len = 0;
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = refresh_view(c, err);
	for (unsigned i = 0; i < c->view.n && rc == 0; i++) {
		int gone = 0;

		for (size_t j = 0; j < ndrop; j++)
			gone |= memcmp(drop[j], c->view.keys[i], FR_PUB) == 0;
		if (!gone)
			snprintf(js[n++].addr, sizeof(js[0].addr), "%s", c->peers[i].addr);
	}
	for (size_t j = 0; j < nadd && rc == 0; j++) {
		if (n == FR_VIEW_MAX)
			rc = shelter_err_set(err, SHELTER_E_INVAL, "more than %d endorsers", FR_VIEW_MAX);
		else
			snprintf(js[n++].addr, sizeof(js[0].addr), "%s", add[j]);
	}
	if (rc == 0 && (n == 0 || n % 2 == 0))
		rc = shelter_err_set(err, SHELTER_E_INVAL, "the new view would have %zu endorsers: "
				     "want an odd number", n);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = identify(&js[i], err);
	if (rc == 0)
		rc = build_view(js, n, c->view.number + 1, c->view.digest, &v, &body, &len, err);
	if (rc == 0) {
		nlocks = lock_members(c, v.digest, locks);
		if (nlocks < fr_view_f(&c->view) + 1)
			rc = shelter_err_set(err, SHELTER_E_NET, "%zu of the %u locks view %" PRIu64
					     " needs: more than f of its endorsers are lost (§7.4)",
					     nlocks, fr_view_f(&c->view) + 1, c->view.number);
	}
	req.view = body;
	req.view_len = len;
	req.prev = c->view_body;
	req.prev_len = c->view_len;
	req.locks = locks;
	req.nlocks = nlocks;
	if (rc == 0 && certs_for(c, locks, nlocks, &req) < 0)
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	if (rc == 0)
		rc = init_all(js, n, &req, &v, inits, err);
	vr.view = body;
	vr.view_len = len;
	vr.locks = locks;
	vr.nlocks = nlocks;
	if (rc == 0)
		rc = put_view(c, &vr, v.number, js, n, c->current_version, err);
	if (rc == 0)
		save_init_certs(c, inits, n, fr_view_f(&v) + 1);
	if (rc == 0) {
		*number = v.number;
		fresh_log("coordinator", "reconfigured", "view=%" PRIu64 " endorsers=%zu locks=%zu "
			  "certificates=%zu", v.number, n, nlocks, req.ncerts);
	}
	pthread_mutex_unlock(&c->mu);
	for (size_t i = 0; i < req.ncerts; i++)
		free(req.certs[i]);
	free(req.certs);
	free(req.cert_lens);
	for (size_t i = 0; i < nlocks; i++)
		fr_batch_free(&locks[i]);
	for (size_t i = 0; i < n; i++)
		fr_batch_free(&inits[i]);
	free(body);
	joiners_free(js, n);
	return rc < 0 ? shelter_err_wrap(err, rc, "reconfigure") : 0;
}
