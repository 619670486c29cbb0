/* The certificates a coordinator keeps: certs.h, docs/protocols/freshness.md §5. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "freshness/certs.h"
#include "util/buf.h"

#define CERTMEM_SLOTS 1024

struct fresh_certs {
	struct fresh_store *store; /* borrowed */
	/* the newest certificate of recently written handles, so that the next append
	 * of a handle needs no store read (a short probe; the store stays the truth) */
	pthread_mutex_t cmu;
	struct certmem {
		uint8_t handle[FR_HASH];
		struct fr_receipt *r; /* NULL: empty */
		size_t n;
		int saved; /* in the store too: may be evicted */
	} mem[CERTMEM_SLOTS];
	/* certificates waiting for the saver thread (save_certs): written to the store
	 * after their writers were answered, a round's worth in one transaction */
	pthread_mutex_t smu;
	pthread_cond_t scond;
	struct fresh_cert *pending;
	pthread_t saver;
	int saver_running, closing;
	struct fr_view sview; /* the view certificates are checked against (keys, digest) */
	struct fr_sigcache *sigs; /* batch signatures the saver verified (its own) */
};

static void cert_key(char out[100], const uint8_t handle[FR_HASH])
{
	char hex[2 * FR_HASH + 1];

	shelter_hex(handle, FR_HASH, hex);
	snprintf(out, 100, "cert/%s", hex);
}

void fresh_below_key(char out[FRESH_BLOCK_KEY], const uint8_t handle[FR_HASH])
{
	char hex[2 * FR_HASH + 1];

	shelter_hex(handle, FR_HASH, hex);
	snprintf(out, FRESH_BLOCK_KEY, "below/%s", hex);
}

#define CERTMEM_PROBE 8

/* The slot of handle among CERTMEM_PROBE neighbours, or NULL. Caller holds cmu. */
static struct certmem *certmem_find(struct fresh_certs *c, const uint8_t handle[FR_HASH])
{
	size_t at = (size_t)(shelter_load_be(handle, 8) % CERTMEM_SLOTS);

	for (size_t i = 0; i < CERTMEM_PROBE; i++) {
		struct certmem *m = &c->mem[(at + i) % CERTMEM_SLOTS];

		if (m->r != NULL && memcmp(m->handle, handle, FR_HASH) == 0)
			return m;
	}
	return NULL;
}

/* A copy of the remembered certificate of handle into out; 0 when there is one. */
static int certmem_get(struct fresh_certs *c, const uint8_t handle[FR_HASH],
		       struct fs_receipts *out, int *saved)
{
	struct certmem *m;
	int rc = SHELTER_E_NOENT;

	pthread_mutex_lock(&c->cmu);
	m = certmem_find(c, handle);
	if (m != NULL && (out->r = malloc(m->n * sizeof(*m->r))) != NULL) {
		memcpy(out->r, m->r, m->n * sizeof(*m->r));
		out->count = m->n;
		*saved = m->saved;
		rc = 0;
	}
	pthread_mutex_unlock(&c->cmu);
	return rc;
}

/* Remember a certificate not yet in the store (saved = 0) or mark it stored. An
 * unsaved one is never evicted, so the handle's next append finds it here before
 * the store has it; a saved one makes room for others. */
static void certmem_put(struct fresh_certs *c, const struct fr_receipt *r, size_t n, int saved)
{
	size_t at = (size_t)(shelter_load_be(r[0].entry.handle, 8) % CERTMEM_SLOTS);
	struct fr_receipt *copy = malloc(n * sizeof(*r));
	struct certmem *m;

	if (copy == NULL)
		return;
	memcpy(copy, r, n * sizeof(*r));
	pthread_mutex_lock(&c->cmu);
	m = certmem_find(c, r[0].entry.handle);
	for (size_t i = 0; m == NULL && i < CERTMEM_PROBE; i++) {
		struct certmem *x = &c->mem[(at + i) % CERTMEM_SLOTS];

		if (x->r == NULL || x->saved)
			m = x;
	}
	if (m != NULL && (m->r == NULL || memcmp(m->handle, r[0].entry.handle, FR_HASH) != 0 ||
			  m->r[0].entry.height <= r[0].entry.height)) {
		free(m->r);
		memcpy(m->handle, r[0].entry.handle, FR_HASH);
		m->r = copy;
		m->n = n;
		m->saved = saved;
		copy = NULL;
	}
	pthread_mutex_unlock(&c->cmu);
	free(copy);
}

static int load_key(struct fresh_certs *c, const char *key, struct fs_receipts *out,
		    uint64_t *version)
{
	uint8_t *val = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	*version = 0;
	rc = fresh_store_get(c->store, key, &val, &len, version, NULL);
	if (rc == 0)
		rc = fs_receipts_decode(val, len, out, NULL);
	free(val);
	if (rc < 0)
		fs_receipts_free(out);
	return rc;
}

static int load_cert(struct fresh_certs *c, const uint8_t handle[FR_HASH], struct fs_receipts *out,
		     uint64_t *version)
{
	char key[100];

	cert_key(key, handle);
	return load_key(c, key, out, version);
}

/* Whether the stored certificate old is to be kept rather than replaced by r: it is
 * newer, or as new and of the same view (a certificate of the current view replaces
 * one of an earlier view at the same height: only the current view's endorsers
 * accept it, §3.4). */
static int keep_stored(const struct fs_receipts *old, const struct fr_receipt *r)
{
	return old->count > 0 && (old->r[0].entry.height > r->entry.height ||
				  (old->r[0].entry.height == r->entry.height &&
				   memcmp(old->r[0].view, r->view, FR_HASH) == 0));
}

static int by_handle_newest(const void *a, const void *b)
{
	const struct fresh_cert *x = *(struct fresh_cert *const *)a,
				  *y = *(struct fresh_cert *const *)b;
	int d = memcmp(x->r[0].entry.handle, y->r[0].entry.handle, FR_HASH);

	if (d != 0)
		return d;
	return x->r[0].entry.height < y->r[0].entry.height ? 1
	       : x->r[0].entry.height > y->r[0].entry.height ? -1 : 0;
}

void fresh_block_key(char out[FRESH_BLOCK_KEY], const uint8_t handle[FR_HASH], uint64_t height)
{
	char hex[2 * FR_HASH + 1];

	shelter_hex(handle, FR_HASH, hex);
	snprintf(out, FRESH_BLOCK_KEY, "block/%s/%" PRIu64, hex, height);
}

/* What one stored certificate brings: its put, and the deletes of the blocks it
 * supersedes (heights from .. to - 1). */
struct save_plan {
	struct fresh_cert *cert;
	uint8_t *val;
	size_t len;
	uint64_t version, from, to;
};

/* The blocks a stored certificate of (handle, h) supersedes: below h down to the
 * height of the certificate it replaces (whose own older blocks went when it was
 * stored), at most PRUNE_MAX (§5: a crash can leave some behind). */
#define PRUNE_MAX 1024
static void prune_range(const struct fs_receipts *old, uint64_t h, struct save_plan *p)
{
	p->to = h;
	p->from = old->count > 0 && old->r[0].entry.height < h ? old->r[0].entry.height : h;
	if (old->count == 0)
		p->from = h > PRUNE_MAX ? h - PRUNE_MAX : 0;
	if (p->to - p->from > PRUNE_MAX)
		p->from = p->to - PRUNE_MAX;
}

/* Store the newest certificate of each handle among ps (n), and delete the blocks it
 * supersedes, in one transaction, flushed only when durable (§5: a lost certificate
 * costs a round, never safety; the next block's flush carries it). With view, each is
 * checked first (§3.4; a round's batch signatures are verified once, through c->sigs)
 * and one that does not certify is neither stored nor prunes anything. A lost race
 * with another coordinator is fine: it stored one at least as new. Then the memory
 * may evict them. */
static void save_certs(struct fresh_certs *c, struct fresh_cert **ps, size_t n, int durable,
		       const struct fr_view *view)
{
	struct save_plan *plan = calloc(n ? n : 1, sizeof(*plan));
	struct fresh_store_op *ops = NULL;
	char (*keys)[FRESH_BLOCK_KEY] = NULL;
	size_t k = 0, nops = 0;

	if (plan == NULL)
		return;
	qsort(ps, n, sizeof(*ps), by_handle_newest);
	for (size_t i = 0; i < n; i++) {
		struct fs_receipts old, now = { .r = ps[i]->r, .count = ps[i]->n };
		const struct fr_entry *e = &ps[i]->r[0].entry;
		int keep;

		if (i > 0 && memcmp(ps[i - 1]->r[0].entry.handle, e->handle, FR_HASH) == 0)
			continue; /* an older one of a handle already taken */
		if (view != NULL && fr_cert_check_cached(view, ps[i]->r, ps[i]->n, e->handle,
							 e->height, e->tail, c->sigs, NULL) < 0)
			continue;
		keep = load_cert(c, e->handle, &old, &plan[k].version) == 0 &&
		       keep_stored(&old, &ps[i]->r[0]);
		if (!keep && fs_receipts_encode(&now, &plan[k].val, &plan[k].len, NULL) == 0) {
			prune_range(&old, e->height, &plan[k]);
			plan[k].cert = ps[i];
			nops += 1 + (size_t)(plan[k].to - plan[k].from);
			k++;
		}
		fs_receipts_free(&old);
	}
	ops = calloc(nops ? nops : 1, sizeof(*ops));
	keys = calloc(nops ? nops : 1, sizeof(*keys));
	nops = 0;
	for (size_t i = 0; ops != NULL && keys != NULL && i < k; i++) {
		const uint8_t *handle = plan[i].cert->r[0].entry.handle;

		cert_key(keys[nops], handle);
		ops[nops] = (struct fresh_store_op){ .key = keys[nops], .val = plan[i].val,
						     .len = plan[i].len, .expect = plan[i].version };
		nops++;
		for (uint64_t h = plan[i].from; h < plan[i].to; h++, nops++) {
			fresh_block_key(keys[nops], handle, h);
			ops[nops] = (struct fresh_store_op){ .key = keys[nops], .del = 1 };
		}
	}
	if (nops > 0)
		(void)fresh_store_put_many(c->store, ops, nops, durable, NULL);
	for (size_t i = 0, at = 0; ops != NULL && keys != NULL && i < k; i++) {
		if (ops[at].rc == 0)
			certmem_put(c, plan[i].cert->r, plan[i].cert->n, 1);
		at += 1 + (size_t)(plan[i].to - plan[i].from);
	}
	for (size_t i = 0; i < k; i++)
		free(plan[i].val);
	free(plan);
	free(ops);
	free(keys);
}

/* The saver: takes every pending certificate at once and stores them; on close it
 * drains what is left. It lets certificates gather for SAVE_EVERY_MS first: of a
 * handle written again meanwhile only the newest is checked and stored, and the
 * checks stay off the CPUs a lone writer's rounds need. */
#define SAVE_EVERY_MS 5
static void *saver_thread(void *arg)
{
	struct fresh_certs *c = arg;

	pthread_mutex_lock(&c->smu);
	for (;;) {
		struct fresh_cert *list = c->pending, **ps;
		struct fr_view view;
		size_t n = 0;

		if (list == NULL && c->closing)
			break;
		if (list == NULL) {
			pthread_cond_wait(&c->scond, &c->smu);
			continue;
		}
		if (!c->closing) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += SAVE_EVERY_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (!c->closing &&
			       pthread_cond_timedwait(&c->scond, &c->smu, &until) == 0)
				; /* new certificates signal too: keep gathering until then */
		}
		list = c->pending;
		c->pending = NULL;
		view = c->sview;
		pthread_mutex_unlock(&c->smu);
		for (struct fresh_cert *p = list; p != NULL; p = p->next)
			n++;
		ps = malloc(n * sizeof(*ps));
		n = 0;
		for (struct fresh_cert *p = list; ps != NULL && p != NULL; p = p->next)
			ps[n++] = p;
		if (ps != NULL)
			save_certs(c, ps, n, 0, &view);
		free(ps);
		while (list != NULL) {
			struct fresh_cert *next = list->next;

			free(list);
			list = next;
		}
		pthread_mutex_lock(&c->smu);
	}
	pthread_mutex_unlock(&c->smu);
	return NULL;
}

void fresh_certs_keep(struct fresh_certs *c, const struct fr_view *v, struct fresh_cert *p)
{
	certmem_put(c, p->r, p->n, 0);
	pthread_mutex_lock(&c->smu);
	if (memcmp(c->sview.digest, v->digest, FR_HASH) != 0)
		c->sview = *v; /* its quotes are not used: they point into the caller's */
	if (!c->saver_running && pthread_create(&c->saver, NULL, saver_thread, c) == 0)
		c->saver_running = 1;
	if (c->saver_running) {
		p->next = c->pending;
		c->pending = p;
		p = NULL;
		pthread_cond_signal(&c->scond);
	}
	pthread_mutex_unlock(&c->smu);
	free(p);
}

/* The newest pending certificate of handle, copied into out; 0 when there is one.
 * For an append that comes before the saver stored its predecessor's and after
 * the memory evicted it. */
static int pending_get(struct fresh_certs *c, const uint8_t handle[FR_HASH],
		       struct fs_receipts *out)
{
	const struct fresh_cert *best = NULL;
	int rc = SHELTER_E_NOENT;

	pthread_mutex_lock(&c->smu);
	for (const struct fresh_cert *p = c->pending; p != NULL; p = p->next)
		if (memcmp(p->r[0].entry.handle, handle, FR_HASH) == 0 &&
		    (best == NULL || p->r[0].entry.height > best->r[0].entry.height))
			best = p;
	if (best != NULL && (out->r = malloc(best->n * sizeof(*best->r))) != NULL) {
		memcpy(out->r, best->r, best->n * sizeof(*best->r));
		out->count = best->n;
		rc = 0;
	}
	pthread_mutex_unlock(&c->smu);
	return rc;
}

/* Keep *out only when it is of (height, view): else empty it. */
static void only_of(struct fs_receipts *out, uint64_t height, const uint8_t *view)
{
	if (out->count > 0 && (out->r[0].entry.height != height ||
			       (view != NULL && memcmp(out->r[0].view, view, FR_HASH) != 0)))
		fs_receipts_free(out);
}

int fresh_certs_find(struct fresh_certs *c, const uint8_t handle[FR_HASH], uint64_t height,
		     const uint8_t view[FR_HASH], struct fs_receipts *out, int *stored)
{
	char key[FRESH_BLOCK_KEY];
	uint64_t version;
	int saved = 0;

	memset(out, 0, sizeof(*out));
	*stored = 0;
	if (certmem_get(c, handle, out, &saved) == 0)
		only_of(out, height, view);
	if (out->count > 0) {
		*stored = saved;
		return 0;
	}
	if (pending_get(c, handle, out) == 0)
		only_of(out, height, view);
	if (out->count > 0)
		return 0;
	*stored = 1;
	if (load_cert(c, handle, out, &version) == 0)
		only_of(out, height, NULL);
	fresh_below_key(key, handle);
	if (out->count == 0 && load_key(c, key, out, &version) == 0)
		only_of(out, height, NULL);
	return out->count > 0 ? 0 : SHELTER_E_NOENT;
}

int fresh_certs_load_key(struct fresh_certs *c, const char *key, struct fs_receipts *out,
			 uint64_t *version)
{
	return load_key(c, key, out, version);
}

int fresh_certs_load(struct fresh_certs *c, const uint8_t handle[FR_HASH],
		     struct fs_receipts *out, uint64_t *version)
{
	return load_cert(c, handle, out, version);
}

void fresh_certs_save_now(struct fresh_certs *c, struct fresh_cert *const *ps, size_t n)
{
	struct fresh_cert **copy = malloc((n ? n : 1) * sizeof(*copy));

	if (copy == NULL)
		return;
	memcpy(copy, ps, n * sizeof(*copy)); /* save_certs sorts its array */
	save_certs(c, copy, n, 1, NULL);
	free(copy);
}

int fresh_certs_new(struct fresh_store *store, struct fresh_certs **out, struct shelter_err *err)
{
	struct fresh_certs *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL || (c->sigs = calloc(1, sizeof(*c->sigs))) == NULL) {
		free(c);
		return shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	}
	c->store = store;
	pthread_mutex_init(&c->cmu, NULL);
	pthread_mutex_init(&c->smu, NULL);
	pthread_cond_init(&c->scond, NULL);
	*out = c;
	return 0;
}

void fresh_certs_free(struct fresh_certs *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->smu); /* the saver stores what is pending, then ends */
	c->closing = 1;
	pthread_cond_signal(&c->scond);
	pthread_mutex_unlock(&c->smu);
	if (c->saver_running)
		pthread_join(c->saver, NULL);
	pthread_mutex_destroy(&c->cmu);
	pthread_mutex_destroy(&c->smu);
	pthread_cond_destroy(&c->scond);
	for (size_t i = 0; i < CERTMEM_SLOTS; i++)
		free(c->mem[i].r);
	free(c->sigs);
	free(c);
}
