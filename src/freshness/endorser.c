/* The endorser: docs/protocols/freshness.md §4. Trusted code; keep it small.
 *
 * State is one view, a phase and a table of handles, all in memory. Every change
 * follows a check that the endorser itself can make: its own state, a certificate
 * of the current view (§3.4), or, at init, LOCK batches of the predecessor's
 * members (§7.1). Nothing a caller says is believed without one of these. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/signer.h"
#include "freshness/endorser.h"
#include "util/buf.h"

struct slot {
	struct fr_entry e; /* flags: FR_FLAG_CERTIFIED */
	uint8_t prev[FR_HASH]; /* the tail below e.tail when e came from an append */
	int has_prev;
	int used;
};

struct endorser {
	struct shelter_signer *key; /* Ed25519, drawn at start; secret memory */
	uint8_t pub[FR_PUB];
	enum endorser_phase phase;
	uint8_t *view_body; /* owned; view.quotes point into it */
	struct fr_view view;
	uint8_t next[FR_HASH]; /* LOCKED: the successor view */
	struct slot *slots;
	size_t cap, count;
	uint64_t hash_key[2]; /* against handles chosen to collide in the table */
	struct fr_sigcache *sigs; /* batch signatures verified: one check per round */
};

/* ---- the handle table: open addressing, linear probing, never shrinks ---- */

static size_t slot_index(const struct endorser *e, const uint8_t handle[FR_HASH])
{
	uint64_t x = shelter_load_be(handle, 8) ^ e->hash_key[0];

	x *= UINT64_C(0x9e3779b97f4a7c15);
	x ^= shelter_load_be(handle + 8, 8) ^ e->hash_key[1];
	x *= UINT64_C(0xc2b2ae3d27d4eb4f);
	return (size_t)(x ^ (x >> 29)) & (e->cap - 1);
}

static struct slot *find(const struct endorser *e, const uint8_t handle[FR_HASH])
{
	for (size_t i = slot_index(e, handle);; i = (i + 1) & (e->cap - 1)) {
		struct slot *s = &e->slots[i];

		if (!s->used || memcmp(s->e.handle, handle, FR_HASH) == 0)
			return s;
	}
}

static int grow(struct endorser *e)
{
	struct slot *old = e->slots;
	size_t old_cap = e->cap;

	e->slots = calloc(old_cap * 2, sizeof(*e->slots));
	if (e->slots == NULL) {
		e->slots = old;
		return SHELTER_E_NOMEM;
	}
	e->cap = old_cap * 2;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].used)
			*find(e, old[i].e.handle) = old[i];
	free(old);
	return 0;
}

/* The slot for handle, made (unused) room for when absent; NULL without memory. */
static struct slot *slot_for(struct endorser *e, const uint8_t handle[FR_HASH])
{
	if ((e->count + 1) * 2 > e->cap && grow(e) < 0)
		return NULL;
	return find(e, handle);
}

static void set_slot(struct endorser *e, struct slot *s, const uint8_t handle[FR_HASH],
		     uint64_t height, const uint8_t tail[FR_HASH], uint8_t flags)
{
	if (!s->used)
		e->count++;
	s->used = 1;
	s->has_prev = 0;
	memcpy(s->e.handle, handle, FR_HASH);
	s->e.height = height;
	memcpy(s->e.tail, tail, FR_HASH);
	s->e.flags = flags;
}

static void clear_table(struct endorser *e)
{
	memset(e->slots, 0, e->cap * sizeof(*e->slots));
	e->count = 0;
}

/* ---- life cycle ---- */

int endorser_new(struct endorser **out, struct shelter_err *err)
{
	struct endorser *e = calloc(1, sizeof(*e));
	uint8_t *priv = NULL;
	int rc = SHELTER_E_NOMEM;

	*out = NULL;
	if (e == NULL)
		return shelter_err_set(err, rc, "endorser: out of memory");
	e->cap = 64;
	e->slots = calloc(e->cap, sizeof(*e->slots));
	priv = shelter_secret_alloc(SHELTER_ED25519_PRIV_SIZE);
	e->sigs = calloc(1, sizeof(*e->sigs));
	if (e->slots == NULL || priv == NULL || e->sigs == NULL) {
		shelter_err_set(err, rc, "endorser: out of memory");
		goto out;
	}
	/* §4.1: a key of its own at every start, so a restart is a new identity; held
	 * ready to sign (the seed is wiped here) */
	rc = shelter_ed25519_keygen(e->pub, priv, err);
	if (rc == 0)
		rc = shelter_signer_new(priv, &e->key, err);
	if (rc == 0)
		rc = shelter_random_bytes(e->hash_key, sizeof(e->hash_key), err);
out:
	if (priv != NULL)
		shelter_secret_free(priv, SHELTER_ED25519_PRIV_SIZE);
	if (rc < 0) {
		endorser_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

void endorser_free(struct endorser *e)
{
	if (e == NULL)
		return;
	shelter_signer_free(e->key);
	free(e->view_body);
	free(e->slots);
	free(e->sigs);
	free(e);
}

void endorser_public_key(const struct endorser *e, uint8_t pub[FR_PUB])
{
	memcpy(pub, e->pub, FR_PUB);
}

enum endorser_phase endorser_phase(const struct endorser *e)
{
	return e->phase;
}

size_t endorser_handles(const struct endorser *e)
{
	return e->count;
}

/* ---- answers ---- */

static int sign(struct endorser *e, uint8_t kind, const uint8_t nonce[FR_HASH],
		struct fr_batch *out, struct shelter_err *err)
{
	static const uint8_t zero[FR_HASH];
	int rc;

	out->kind = kind;
	memcpy(out->view, e->view.digest, FR_HASH);
	memcpy(out->nonce, nonce != NULL ? nonce : zero, FR_HASH);
	rc = fr_batch_sign_with(out, e->key, err);
	if (rc < 0)
		return rc;
	/* its own signature needs no check when a certificate brings it back (§4.3) */
	if (kind == FR_KIND_APPEND || kind == FR_KIND_INIT)
		(void)fr_sigcache_add_batch(e->sigs, out);
	return 0;
}

static int by_handle(const void *a, const void *b)
{
	return memcmp(((const struct fr_entry *)a)->handle, ((const struct fr_entry *)b)->handle,
		      FR_HASH);
}

/* The whole state as a LOCK or INIT batch, in ascending handle order (§8). */
static int sign_state(struct endorser *e, uint8_t kind, const uint8_t nonce[FR_HASH],
		      struct fr_batch *out, struct shelter_err *err)
{
	size_t k = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (e->count > FR_BATCH_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "state of %zu handles exceeds a batch "
				       "of %u", e->count, FR_BATCH_MAX);
	out->entries = malloc((e->count ? e->count : 1) * sizeof(*out->entries));
	if (out->entries == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "endorser: out of memory");
	for (size_t i = 0; i < e->cap; i++)
		if (e->slots[i].used)
			out->entries[k++] = e->slots[i].e;
	qsort(out->entries, k, sizeof(*out->entries), by_handle);
	out->count = (uint32_t)k;
	rc = sign(e, kind, nonce, out, err);
	if (rc < 0)
		fr_batch_free(out);
	return rc;
}

/* ---- §4.2 create, append, certify ---- */

static int do_create(struct endorser *e, const struct endorser_item *it, struct fr_entry *res)
{
	struct slot *s = slot_for(e, it->handle);
	uint8_t tail[FR_HASH];

	if (s == NULL)
		return SHELTER_E_NOMEM;
	if (it->height != 0)
		return SHELTER_E_INVAL;
	if (fr_tail_genesis(it->handle, it->value, tail) < 0)
		return SHELTER_E_INTERNAL;
	if (s->used && s->e.height == 0 && memcmp(s->e.tail, tail, FR_HASH) == 0) {
		*res = s->e; /* the same create again */
		return 0;
	}
	if (s->used)
		return SHELTER_E_EXIST;
	set_slot(e, s, it->handle, 0, tail, 0);
	*res = s->e;
	return 0;
}

/* Is it the append that made s's state (§4.2)? The tail below comes from this
 * endorser's own append or, for a state it was given (init, certify: §7.1, §4.3),
 * from the certificate the append carries: untrusted, but only the real tail below
 * hashes to s's tail (§3.1), and then it is kept for the next retry. */
static int same_append(struct slot *s, const struct endorser_item *it)
{
	const uint8_t *prev = s->has_prev ? s->prev : NULL;
	uint8_t tail[FR_HASH];

	if (prev == NULL && it->cert_count > 0 && it->cert[0].entry.height == it->height - 1 &&
	    memcmp(it->cert[0].entry.handle, it->handle, FR_HASH) == 0)
		prev = it->cert[0].entry.tail;
	if (prev == NULL || fr_tail_next(prev, it->height, it->value, tail) < 0 ||
	    memcmp(tail, s->e.tail, FR_HASH) != 0)
		return 0;
	if (!s->has_prev) {
		memcpy(s->prev, prev, FR_HASH);
		s->has_prev = 1;
	}
	return 1;
}

/* §4.3: extend only a certified state; a certificate given here also marks it. */
static int do_append(struct endorser *e, const struct endorser_item *it, struct fr_entry *res)
{
	struct slot *s = find(e, it->handle);
	uint8_t tail[FR_HASH];

	if (!s->used)
		return SHELTER_E_NOENT;
	/* the same append again (a lost answer, a client finishing a step after a
	 * crash, §6.3): the same receipt, nothing changes */
	if (it->height != 0 && s->e.height == it->height && same_append(s, it)) {
		*res = s->e;
		return 0;
	}
	if (it->height == 0 || s->e.height >= it->height)
		return SHELTER_E_CONFLICT; /* that height is taken here */
	if (s->e.height != it->height - 1)
		return SHELTER_E_STALE; /* this endorser is behind: certify first */
	if (!(s->e.flags & FR_FLAG_CERTIFIED)) {
		if (fr_cert_check_cached(&e->view, it->cert, it->cert_count, it->handle,
					 s->e.height, s->e.tail, e->sigs, NULL) < 0)
			return SHELTER_E_UNTRUSTED;
		s->e.flags |= FR_FLAG_CERTIFIED;
	}
	if (fr_tail_next(s->e.tail, it->height, it->value, tail) < 0)
		return SHELTER_E_INTERNAL;
	memcpy(s->prev, s->e.tail, FR_HASH);
	set_slot(e, s, it->handle, it->height, tail, 0);
	s->has_prev = 1;
	*res = s->e;
	return 0;
}

/* Jump to a certified state: a lagging endorser, or one whose uncertified step lost
 * to another tail at its height (§4.3). */
static int do_certify(struct endorser *e, const struct endorser_item *it, struct fr_entry *res)
{
	struct slot *s = slot_for(e, it->handle);

	if (s == NULL)
		return SHELTER_E_NOMEM;
	if (fr_cert_check_cached(&e->view, it->cert, it->cert_count, it->handle, it->height,
				 it->value, e->sigs, NULL) < 0)
		return SHELTER_E_UNTRUSTED;
	if (s->used && s->e.height > it->height)
		return SHELTER_E_STALE; /* already past it */
	if (s->used && s->e.height == it->height && (s->e.flags & FR_FLAG_CERTIFIED) &&
	    memcmp(s->e.tail, it->value, FR_HASH) != 0)
		return SHELTER_E_INTEGRITY; /* two certified tails: §3.4 says impossible */
	set_slot(e, s, it->handle, it->height, it->value, FR_FLAG_CERTIFIED);
	*res = s->e;
	return 0;
}

int endorser_batch(struct endorser *e, const struct endorser_item *items, size_t n,
		   int32_t *status, struct fr_batch *out, struct shelter_err *err)
{
	size_t k = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (e->phase != ENDORSER_ACTIVE)
		return shelter_err_set(err, SHELTER_E_INVAL, "endorser is %s",
				       e->phase == ENDORSER_LOCKED ? "locked" : "not initialised");
	if (n == 0 || n > FR_BATCH_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "batch of %zu items", n);
	out->entries = malloc(n * sizeof(*out->entries));
	if (out->entries == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "endorser: out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct endorser_item *it = &items[i];

		/* items apply in order: a certify then an append of one handle is a
		 * lagging endorser's catch-up and next step in one round */
		status[i] = it->op == ENDORSER_CREATE    ? do_create(e, it, &out->entries[k])
			    : it->op == ENDORSER_APPEND  ? do_append(e, it, &out->entries[k])
			    : it->op == ENDORSER_CERTIFY ? do_certify(e, it, &out->entries[k])
							 : SHELTER_E_INVAL;
		if (status[i] == 0)
			k++;
	}
	out->count = (uint32_t)k;
	if (k == 0)
		return 0;
	rc = sign(e, FR_KIND_APPEND, NULL, out, err);
	if (rc < 0)
		fr_batch_free(out);
	return rc;
}

/* ---- read and lock ---- */

size_t endorser_learn(struct endorser *e, const struct fr_sighead *heads, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; e->phase == ENDORSER_ACTIVE && i < n; i++) {
		const struct fr_sighead *h = &heads[i];

		if (h->kind != FR_KIND_APPEND || memcmp(h->view, e->view.digest, FR_HASH) != 0 ||
		    memcmp(h->pub, e->pub, FR_PUB) == 0 || fr_view_member(&e->view, h->pub) < 0)
			continue;
		k += fr_sigcache_learn(e->sigs, h, NULL) == 0;
	}
	return k;
}

int endorser_read(struct endorser *e, const uint8_t nonce[FR_HASH],
		  const uint8_t (*handles)[FR_HASH], size_t n, struct fr_batch *out,
		  struct shelter_err *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (e->phase == ENDORSER_UNINIT)
		return shelter_err_set(err, SHELTER_E_INVAL, "endorser is not initialised");
	if (n == 0 || n > FR_BATCH_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "read of %zu handles", n);
	out->entries = calloc(n, sizeof(*out->entries));
	if (out->entries == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "endorser: out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct slot *s = find(e, handles[i]);

		if (s->used) {
			out->entries[i] = s->e;
		} else { /* §3.2 "absent" */
			memcpy(out->entries[i].handle, handles[i], FR_HASH);
			out->entries[i].height = FR_ABSENT;
		}
		/* §6.2: a view being replaced answers, but no read may succeed on it */
		if (e->phase == ENDORSER_LOCKED)
			out->entries[i].flags |= FR_FLAG_LOCKED;
	}
	out->count = (uint32_t)n;
	rc = sign(e, FR_KIND_READ, nonce, out, err);
	if (rc < 0)
		fr_batch_free(out);
	return rc;
}

int endorser_lock(struct endorser *e, const uint8_t next[FR_HASH], struct fr_batch *out,
		  struct shelter_err *err)
{
	memset(out, 0, sizeof(*out));
	if (e->phase == ENDORSER_UNINIT)
		return shelter_err_set(err, SHELTER_E_INVAL, "endorser is not initialised");
	if (e->phase == ENDORSER_LOCKED && memcmp(e->next, next, FR_HASH) != 0)
		return shelter_err_set(err, SHELTER_E_CONFLICT, "already locked for another "
				       "successor view");
	/* §7.1 step 2: from here on no append; the same answer to a repeated lock */
	e->phase = ENDORSER_LOCKED;
	memcpy(e->next, next, FR_HASH);
	return sign_state(e, FR_KIND_LOCK, next, out, err);
}

/* ---- §7.1 init ---- */

/* The LOCK batches: of distinct members of prev, for successor next, each sorted
 * by handle and correctly signed; f + 1 of them. */
static int check_locks(const struct fr_view *prev, const uint8_t next[FR_HASH],
		       const struct fr_batch *locks, size_t n, struct shelter_err *err)
{
	uint32_t seen = 0;

	for (size_t i = 0; i < n; i++) {
		const struct fr_batch *b = &locks[i];
		int m = fr_view_member(prev, b->pub);

		if (m < 0 || (seen & (1u << m)))
			return shelter_err_set(err, SHELTER_E_UNTRUSTED, "lock %zu: %s", i,
					       m < 0 ? "not from a member of the previous view"
						     : "a second lock of one member");
		seen |= 1u << m;
		if (b->kind != FR_KIND_LOCK || memcmp(b->view, prev->digest, FR_HASH) != 0 ||
		    memcmp(b->nonce, next, FR_HASH) != 0)
			return shelter_err_set(err, SHELTER_E_UNTRUSTED, "lock %zu: not a lock of "
					       "the previous view for this one", i);
		for (uint32_t j = 1; j < b->count; j++)
			if (memcmp(b->entries[j - 1].handle, b->entries[j].handle, FR_HASH) >= 0)
				return shelter_err_set(err, SHELTER_E_MALFORMED, "lock %zu: handles "
						       "not in ascending order", i);
		if (fr_batch_verify(b, err) < 0)
			return shelter_err_wrap(err, SHELTER_E_UNTRUSTED, "lock %zu", i);
	}
	if (n < fr_view_f(prev) + 1)
		return shelter_err_set(err, SHELTER_E_UNTRUSTED, "%zu locks; the previous view "
				       "needs %u", n, fr_view_f(prev) + 1);
	return 0;
}

/* §7.2 over sorted lock states: a merge, one handle at a time, into e's table
 * (empty on entry). */
static int derive(struct endorser *e, const struct fr_view *prev, const struct endorser_proof *p,
		  struct shelter_err *err)
{
	size_t pos[FR_VIEW_MAX] = { 0 };
	const struct fr_entry *col[FR_VIEW_MAX];
	struct fr_entry absent = { .height = FR_ABSENT }, got;
	int rc = 0;

	for (;;) {
		const uint8_t *low = NULL;
		struct slot *s;

		for (size_t i = 0; i < p->nlocks; i++)
			if (pos[i] < p->locks[i].count &&
			    (low == NULL ||
			     memcmp(p->locks[i].entries[pos[i]].handle, low, FR_HASH) < 0))
				low = p->locks[i].entries[pos[i]].handle;
		if (low == NULL)
			return 0;
		memcpy(absent.handle, low, FR_HASH);
		for (size_t i = 0; i < p->nlocks; i++) {
			const struct fr_entry *x = pos[i] < p->locks[i].count
							   ? &p->locks[i].entries[pos[i]] : NULL;

			col[i] = x != NULL && memcmp(x->handle, absent.handle, FR_HASH) == 0 ? x
											      : &absent;
			if (col[i] != &absent)
				pos[i]++;
		}
		rc = fr_decide(col, p->nlocks, prev, p->certs, p->cert_lens, p->ncerts, &got, err);
		if (rc < 0) {
			char hex[2 * FR_HASH + 1];

			shelter_hex(absent.handle, FR_HASH, hex);
			return shelter_err_wrap(err, rc, "handle %s", hex);
		}
		if (got.height == FR_ABSENT)
			continue;
		s = slot_for(e, got.handle);
		if (s == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "endorser: out of memory");
		set_slot(e, s, got.handle, got.height, got.tail, got.flags);
	}
}

/* Derive into a new table and take it only when the whole derivation succeeds: a
 * locked endorser whose init fails still answers reads with its true state. */
static int derive_swap(struct endorser *e, const struct fr_view *prev,
		       const struct endorser_proof *p, struct shelter_err *err)
{
	struct endorser tmp = *e;
	int rc;

	tmp.cap = 64;
	tmp.count = 0;
	tmp.slots = calloc(tmp.cap, sizeof(*tmp.slots));
	if (tmp.slots == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "endorser: out of memory");
	rc = derive(&tmp, prev, p, err);
	if (rc < 0) {
		free(tmp.slots);
		return rc;
	}
	free(e->slots);
	e->slots = tmp.slots;
	e->cap = tmp.cap;
	e->count = tmp.count;
	return 0;
}

int endorser_init(struct endorser *e, const struct endorser_proof *p, struct fr_batch *out,
		  struct shelter_err *err)
{
	struct fr_view view, prev;
	uint8_t *body = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = fr_view_decode(p->view, p->view_len, &view, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "init");
	if (fr_view_member(&view, e->pub) < 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "init: this endorser is not in view %"
				       PRIu64, view.number);
	if (e->phase == ENDORSER_ACTIVE ||
	    (e->phase == ENDORSER_LOCKED && memcmp(e->next, view.digest, FR_HASH) != 0))
		return shelter_err_set(err, SHELTER_E_CONFLICT, "init: endorser is %s",
				       e->phase == ENDORSER_ACTIVE ? "active"
								   : "locked for another view");
	/* a locked endorser moves only to the successor of its own view, never to a
	 * genesis (§7.1, §7.3), whatever digest it was asked to lock for */
	if (e->phase == ENDORSER_LOCKED &&
	    (view.number == 0 || view.number != e->view.number + 1 ||
	     memcmp(view.prev, e->view.digest, FR_HASH) != 0))
		return shelter_err_set(err, SHELTER_E_CONFLICT, "init: view %" PRIu64 " does not "
				       "follow this endorser's view %" PRIu64, view.number,
				       e->view.number);
	if (view.number == 0) {
		if (p->prev != NULL || p->nlocks != 0)
			return shelter_err_set(err, SHELTER_E_INVAL, "init: a genesis has no proof");
		clear_table(e);
	} else {
		if (p->prev == NULL)
			return shelter_err_set(err, SHELTER_E_INVAL, "init: view %" PRIu64 " needs "
					       "its predecessor's locks", view.number);
		rc = fr_view_decode(p->prev, p->prev_len, &prev, err);
		if (rc == 0 && (memcmp(view.prev, prev.digest, FR_HASH) != 0 ||
				prev.number + 1 != view.number))
			rc = shelter_err_set(err, SHELTER_E_UNTRUSTED, "init: view %" PRIu64
					     " does not follow the view given", view.number);
		if (rc == 0)
			rc = check_locks(&prev, view.digest, p->locks, p->nlocks, err);
		if (rc == 0)
			rc = derive_swap(e, &prev, p, err);
		if (rc < 0)
			return shelter_err_wrap(err, rc, "init of view %" PRIu64, view.number);
	}
	body = malloc(p->view_len);
	if (body == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "endorser: out of memory");
	memcpy(body, p->view, p->view_len);
	free(e->view_body);
	e->view_body = body;
	rc = fr_view_decode(body, p->view_len, &e->view, err); /* quotes into our copy */
	if (rc < 0)
		return rc;
	e->phase = ENDORSER_ACTIVE;
	return sign_state(e, FR_KIND_INIT, NULL, out, err);
}
