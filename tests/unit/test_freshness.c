/* The freshness service's objects and endorser: docs/protocols/freshness.md §3, §4,
 * §6.2, §7. Negative cases assert the exact error code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "freshness/endorser.h"
#include "freshness/format.h"
#include "freshness/wire.h"

static const uint8_t QUOTE[] = "sim quote placeholder: endorsers never check quotes";

/* ---- Merkle batches (§3.2, RFC 9162) ---- */

static void merkle_paths_climb_to_the_root(void)
{
	uint8_t leaves[40][FR_HASH], root[FR_HASH], got[FR_HASH], path[FR_PATH_MAX][FR_HASH];
	size_t len;

	for (size_t i = 0; i < 40; i++)
		for (size_t j = 0; j < FR_HASH; j++)
			leaves[i][j] = (uint8_t)(i * 31 + j);
	for (size_t n = 1; n <= 40; n++) {
		CHECK_OK(fr_merkle_root((const uint8_t (*)[FR_HASH])leaves, n, root));
		for (size_t i = 0; i < n; i++) {
			CHECK_OK(fr_merkle_path((const uint8_t (*)[FR_HASH])leaves, n, i, path, &len));
			CHECK_OK(fr_merkle_climb(leaves[i], i, n, (const uint8_t (*)[FR_HASH])path,
						 len, got));
			CHECK_MEM(got, root, FR_HASH);
			if (len > 0) { /* one step too few or too many is refused */
				CHECK_RC(fr_merkle_climb(leaves[i], i, n,
							 (const uint8_t (*)[FR_HASH])path, len - 1,
							 got),
					 SHELTER_E_MALFORMED);
				path[0][3] ^= 0x20;
				CHECK_OK(fr_merkle_climb(leaves[i], i, n,
							 (const uint8_t (*)[FR_HASH])path, len, got));
				CHECK(memcmp(got, root, FR_HASH) != 0);
			}
		}
	}
	CHECK_RC(fr_merkle_climb(leaves[0], 5, 5, NULL, 0, got), SHELTER_E_MALFORMED);
}

/* All receipts of a batch at once equal the ones made one by one, and verify. */
static void batch_receipts_match_one_by_one(void)
{
	struct fr_entry es[37];
	struct fr_receipt all[37], one;
	uint8_t pub[FR_PUB], priv[32];

	CHECK_OK(shelter_ed25519_keygen(pub, priv, NULL));
	for (size_t n = 1; n <= 37; n += 3) {
		struct fr_batch b = { .kind = FR_KIND_APPEND, .count = (uint32_t)n, .entries = es };

		for (size_t i = 0; i < n; i++) {
			memset(&es[i], 0, sizeof(es[i]));
			es[i].handle[0] = (uint8_t)i;
			es[i].height = i * 3;
		}
		CHECK_OK(fr_batch_sign(&b, priv, NULL));
		CHECK_OK(fr_batch_receipts(&b, all, NULL));
		for (uint32_t i = 0; i < n; i++) {
			CHECK_OK(fr_batch_receipt(&b, i, &one, NULL));
			CHECK(one.path_len == all[i].path_len);
			CHECK_MEM(one.path, all[i].path, (size_t)one.path_len * FR_HASH);
			CHECK_OK(fr_receipt_verify(&all[i], NULL));
		}
	}
}

/* ---- views (§3.3) ---- */

struct member {
	struct endorser *e;
	uint8_t pub[FR_PUB];
};

static int by_pub(const void *a, const void *b)
{
	return memcmp(((const struct member *)a)->pub, ((const struct member *)b)->pub, FR_PUB);
}

/* A view of the given members (sorted here); *body malloc'd. */
static int make_view(uint64_t number, const uint8_t prev[FR_HASH], struct member *m, size_t n,
		     struct fr_view *v, uint8_t **body, size_t *len)
{
	struct member sorted[FR_VIEW_MAX];

	memcpy(sorted, m, n * sizeof(*m));
	qsort(sorted, n, sizeof(*sorted), by_pub);
	memset(v, 0, sizeof(*v));
	v->number = number;
	if (prev != NULL)
		memcpy(v->prev, prev, FR_HASH);
	v->n = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		memcpy(v->keys[i], sorted[i].pub, FR_PUB);
		v->quotes[i] = QUOTE;
		v->quote_len[i] = sizeof(QUOTE);
	}
	return fr_view_encode(v, body, len, NULL);
}

static void views_encode_and_refuse_bad_shapes(void)
{
	struct member m[3];
	struct fr_view v, back;
	uint8_t *body = NULL, zero[FR_HASH] = { 0 };
	size_t len;

	for (int i = 0; i < 3; i++) {
		CHECK_OK(endorser_new(&m[i].e, NULL));
		endorser_public_key(m[i].e, m[i].pub);
	}
	CHECK_OK(make_view(0, NULL, m, 3, &v, &body, &len));
	CHECK_OK(fr_view_decode(body, len, &back, NULL));
	CHECK(back.n == 3 && back.number == 0);
	CHECK_MEM(back.digest, v.digest, FR_HASH);
	CHECK(fr_view_member(&back, m[1].pub) >= 0);
	CHECK_RC(fr_view_decode(body, len - 1, &back, NULL), SHELTER_E_MALFORMED);
	body[0] ^= 1;
	CHECK_RC(fr_view_decode(body, len, &back, NULL), SHELTER_E_MALFORMED);
	free(body);
	/* an even number, a genesis naming a predecessor, a successor naming none */
	CHECK_RC(make_view(0, NULL, m, 2, &v, &body, &len), SHELTER_E_MALFORMED);
	zero[5] = 1;
	CHECK_RC(make_view(0, zero, m, 3, &v, &body, &len), SHELTER_E_MALFORMED);
	CHECK_RC(make_view(1, NULL, m, 3, &v, &body, &len), SHELTER_E_MALFORMED);
	/* keys out of order */
	CHECK_OK(make_view(0, NULL, m, 3, &v, &body, &len));
	free(body);
	memcpy(v.keys[0], v.keys[2], FR_PUB);
	CHECK_RC(fr_view_encode(&v, &body, &len, NULL), SHELTER_E_MALFORMED);
	for (int i = 0; i < 3; i++)
		endorser_free(m[i].e);
}

/* ---- the endorser (§4) and reconfiguration (§7) ---- */

struct world {
	struct member m[4];
	struct fr_view v0, v1;
	uint8_t *b0, *b1;
	size_t l0, l1;
	uint8_t handle[FR_HASH];
	struct fr_receipt created[3];
};

static void digest_of(uint8_t d[FR_HASH], uint8_t tag)
{
	memset(d, tag, FR_HASH);
}

/* One item for one endorser; res gets its entry. */
static int one(struct endorser *e, uint8_t op, const uint8_t handle[FR_HASH], uint64_t height,
	       const uint8_t value[FR_HASH], const struct fr_receipt *cert, size_t cert_count,
	       struct fr_batch *res)
{
	struct endorser_item it = { .op = op, .height = height, .cert = cert,
				    .cert_count = cert_count };
	int32_t status = 0;
	int rc;

	memcpy(it.handle, handle, FR_HASH);
	memcpy(it.value, value, FR_HASH);
	rc = endorser_batch(e, &it, 1, &status, res, NULL);
	if (rc == 0 && status != 0)
		fr_batch_free(res);
	return rc < 0 ? rc : status;
}

/* Receipt of the single entry of b, into r; frees b. */
static int receipt_of(struct fr_batch *b, struct fr_receipt *r)
{
	int rc = fr_batch_receipt(b, 0, r, NULL);

	if (rc == 0)
		rc = fr_receipt_verify(r, NULL);
	fr_batch_free(b);
	return rc;
}

static void receipts_round_trip_and_refuse_tampering(void)
{
	struct member m;
	struct fr_view v;
	struct fr_batch b;
	struct fr_receipt r, back;
	uint8_t *body, h[FR_HASH], d[FR_HASH], wire[FR_RECEIPT_MAX];
	size_t len, used;

	CHECK_OK(endorser_new(&m.e, NULL));
	endorser_public_key(m.e, m.pub);
	CHECK_OK(make_view(0, NULL, &m, 1, &v, &body, &len));
	{
		struct endorser_proof p = { .view = body, .view_len = len };

		CHECK_OK(endorser_init(m.e, &p, &b, NULL));
		CHECK(b.count == 0 && b.kind == FR_KIND_INIT);
		CHECK_OK(fr_batch_verify(&b, NULL)); /* an empty state signs the empty root */
		fr_batch_free(&b);
	}
	digest_of(h, 0x11);
	digest_of(d, 0x22);
	CHECK_OK(one(m.e, ENDORSER_CREATE, h, 0, d, NULL, 0, &b));
	CHECK_OK(receipt_of(&b, &r));
	len = fr_receipt_encode(&r, wire);
	CHECK_OK(fr_receipt_decode(wire, len, &back, &used, NULL));
	CHECK(used == len);
	CHECK_OK(fr_receipt_verify(&back, NULL));
	CHECK_RC(fr_receipt_decode(wire, len - 1, &back, &used, NULL), SHELTER_E_MALFORMED);
	wire[0] = 9; /* unknown kind */
	CHECK_RC(fr_receipt_decode(wire, len, &back, &used, NULL), SHELTER_E_MALFORMED);
	back = r;
	back.entry.height = 1; /* the entry, the signature, the nonce: each is covered */
	CHECK_RC(fr_receipt_verify(&back, NULL), SHELTER_E_INTEGRITY);
	back = r;
	back.sig[10] ^= 0x01;
	CHECK_RC(fr_receipt_verify(&back, NULL), SHELTER_E_INTEGRITY);
	back = r;
	back.nonce[0] ^= 0x80;
	CHECK_RC(fr_receipt_verify(&back, NULL), SHELTER_E_INTEGRITY);
	/* a signature cache remembers what verified, never what did not */
	{
		static struct fr_sigcache cache;

		CHECK_OK(fr_receipt_verify_cached(&r, &cache, NULL));
		CHECK_OK(fr_receipt_verify_cached(&r, &cache, NULL));
		back = r;
		back.sig[3] ^= 0x40;
		CHECK_RC(fr_receipt_verify_cached(&back, &cache, NULL), SHELTER_E_INTEGRITY);
		back = r;
		back.entry.tail[0] ^= 1;
		CHECK_RC(fr_receipt_verify_cached(&back, &cache, NULL), SHELTER_E_INTEGRITY);
	}
	free(body);
	endorser_free(m.e);
}

/* Three endorsers in a genesis view, the handle created on all of them; their
 * create receipts in w->created. The fourth endorser is started but in no view. */
static int world_start(struct world *w)
{
	struct fr_batch b;
	uint8_t d[FR_HASH];
	int rc = 0;

	memset(w, 0, sizeof(*w));
	for (int i = 0; i < 4 && rc == 0; i++) {
		rc = endorser_new(&w->m[i].e, NULL);
		if (rc == 0)
			endorser_public_key(w->m[i].e, w->m[i].pub);
	}
	if (rc == 0)
		rc = make_view(0, NULL, w->m, 3, &w->v0, &w->b0, &w->l0);
	for (int i = 0; i < 3 && rc == 0; i++) {
		struct endorser_proof p = { .view = w->b0, .view_len = w->l0 };

		rc = endorser_init(w->m[i].e, &p, &b, NULL);
		fr_batch_free(&b);
	}
	digest_of(w->handle, 0xAA);
	digest_of(d, 0x00);
	for (int i = 0; i < 3 && rc == 0; i++) {
		rc = one(w->m[i].e, ENDORSER_CREATE, w->handle, 0, d, NULL, 0, &b);
		if (rc == 0)
			rc = receipt_of(&b, &w->created[i]);
	}
	return rc;
}

static void world_end(struct world *w)
{
	for (int i = 0; i < 4; i++)
		endorser_free(w->m[i].e);
	free(w->b0);
	free(w->b1);
}

/* Append (h, digest tag) on endorser i; its receipt into r. */
static int append_on(struct world *w, int i, uint64_t h, uint8_t tag,
		     const struct fr_receipt *cert, size_t n, struct fr_receipt *r)
{
	struct fr_batch b;
	uint8_t d[FR_HASH];
	int rc;

	digest_of(d, tag);
	rc = one(w->m[i].e, ENDORSER_APPEND, w->handle, h, d, cert, n, &b);
	return rc == 0 ? receipt_of(&b, r) : rc;
}

/* Read the handle from endorser i with a nonce; the entry into *e. */
static int read_on(struct world *w, int i, struct fr_entry *e)
{
	struct fr_batch b;
	uint8_t nonce[FR_HASH];
	int rc;

	digest_of(nonce, (uint8_t)(0x70 + i));
	rc = endorser_read(w->m[i].e, nonce, (const uint8_t (*)[FR_HASH])w->handle, 1, &b, NULL);
	if (rc == 0 && (fr_batch_verify(&b, NULL) < 0 || memcmp(b.nonce, nonce, FR_HASH) != 0 ||
			b.kind != FR_KIND_READ))
		rc = -100;
	if (rc == 0)
		*e = b.entries[0];
	fr_batch_free(&b);
	return rc;
}

static void endorser_appends_only_on_certified_states(void)
{
	struct world w;
	struct fr_receipt r1[3], reads[2], r;
	struct fr_entry e;
	struct fr_batch b;
	uint8_t t0[FR_HASH], d[FR_HASH];

	CHECK_OK(world_start(&w));
	digest_of(d, 0x00);
	CHECK_OK(fr_tail_genesis(w.handle, d, t0));
	CHECK_MEM(w.created[0].entry.tail, t0, FR_HASH);
	/* §4.3: the created state is not certified yet; READ receipts do not certify */
	CHECK_RC(append_on(&w, 0, 1, 0x01, NULL, 0, &r), SHELTER_E_UNTRUSTED);
	for (int i = 0; i < 2; i++) {
		CHECK_OK(endorser_read(w.m[i].e, d, (const uint8_t (*)[FR_HASH])w.handle, 1, &b,
				       NULL));
		CHECK_OK(receipt_of(&b, &reads[i]));
	}
	CHECK_RC(append_on(&w, 0, 1, 0x01, reads, 2, &r), SHELTER_E_UNTRUSTED);
	/* one member twice is not a quorum of two; two members are */
	CHECK_RC(append_on(&w, 0, 1, 0x01, (struct fr_receipt[]){ w.created[1], w.created[1] },
			   2, &r),
		 SHELTER_E_UNTRUSTED);
	CHECK_OK(append_on(&w, 0, 1, 0x01, w.created, 2, &r1[0]));
	CHECK_OK(append_on(&w, 1, 1, 0x01, w.created + 1, 2, &r1[1]));
	/* the same append again is the same receipt; another digest at that height, or
	 * a height skipped, is refused */
	CHECK_OK(append_on(&w, 0, 1, 0x01, NULL, 0, &r));
	CHECK_MEM(r.sig, r1[0].sig, FR_SIG);
	CHECK_RC(append_on(&w, 0, 1, 0x05, NULL, 0, &r), SHELTER_E_CONFLICT);
	CHECK_RC(append_on(&w, 2, 2, 0x02, w.created, 2, &r), SHELTER_E_STALE);
	/* the lagging third endorser jumps to the certified height 1 */
	{
		struct fr_batch cb;

		CHECK_RC(one(w.m[2].e, ENDORSER_CERTIFY, w.handle, 1, r1[0].entry.tail, r1, 1, &cb),
			 SHELTER_E_UNTRUSTED);
		CHECK_OK(one(w.m[2].e, ENDORSER_CERTIFY, w.handle, 1, r1[0].entry.tail, r1, 2, &cb));
		fr_batch_free(&cb);
	}
	CHECK_OK(read_on(&w, 2, &e));
	CHECK(e.height == 1 && (e.flags & FR_FLAG_CERTIFIED));
	CHECK_MEM(e.tail, r1[0].entry.tail, FR_HASH);
	/* the same append again on a state it was given (certify, init): it knows no tail
	 * below, so only the append's certificate of the height below, hashing with the
	 * digest to its tail, makes it the same append (§4.2); then it keeps that tail */
	CHECK_RC(append_on(&w, 2, 1, 0x01, NULL, 0, &r), SHELTER_E_CONFLICT);
	CHECK_RC(append_on(&w, 2, 1, 0x05, w.created, 2, &r), SHELTER_E_CONFLICT);
	CHECK_OK(append_on(&w, 2, 1, 0x01, w.created, 2, &r));
	CHECK(r.entry.height == 1);
	CHECK_MEM(r.entry.tail, r1[0].entry.tail, FR_HASH);
	CHECK_OK(append_on(&w, 2, 1, 0x01, NULL, 0, &r));
	/* ... and appends without a certificate: it holds one */
	CHECK_OK(append_on(&w, 2, 2, 0x02, NULL, 0, &r));
	CHECK_OK(read_on(&w, 0, &e));
	CHECK(e.height == 1 && !(e.flags & FR_FLAG_CERTIFIED));
	/* a create again: the same digest answers the same, another is refused, and so
	 * is a create of a handle that has moved on */
	CHECK_RC(one(w.m[1].e, ENDORSER_CREATE, w.handle, 0, d, NULL, 0, &b), SHELTER_E_EXIST);
	{
		uint8_t d2[FR_HASH];
		uint8_t h3[FR_HASH];

		digest_of(d2, 0x31);
		digest_of(h3, 0xCC);
		CHECK_OK(one(w.m[1].e, ENDORSER_CREATE, h3, 0, d2, NULL, 0, &b));
		fr_batch_free(&b);
		CHECK_OK(one(w.m[1].e, ENDORSER_CREATE, h3, 0, d2, NULL, 0, &b));
		fr_batch_free(&b);
		CHECK_RC(one(w.m[1].e, ENDORSER_CREATE, h3, 0, d, NULL, 0, &b), SHELTER_E_EXIST);
	}
	/* an absent handle reads as absent */
	{
		uint8_t other[FR_HASH];

		digest_of(other, 0x99);
		CHECK_OK(endorser_read(w.m[0].e, d, (const uint8_t (*)[FR_HASH])other, 1, &b, NULL));
		CHECK(b.count == 1 && b.entries[0].height == FR_ABSENT);
		fr_batch_free(&b);
	}
	/* an endorser not in the view refuses everything until a view names it */
	CHECK_RC(append_on(&w, 3, 1, 0x01, w.created, 2, &r), SHELTER_E_INVAL);
	CHECK_RC(read_on(&w, 3, &e), SHELTER_E_INVAL);
	world_end(&w);
}

/* §8 sigs: an endorser learns the APPEND batch signatures of the other members of its
 * view, checked; its own, a non-member's, another kind's or view's, a forged one and
 * a malformed frame body are not learnt. */
static void endorser_learns_checked_signatures(void)
{
	struct world w;
	struct fr_batch b;
	struct fr_sighead h[6], *back = NULL;
	uint8_t d[FR_HASH], other[FR_HASH], *body = NULL;
	size_t len = 0, n = 0;

	CHECK_OK(world_start(&w));
	digest_of(d, 0x41);
	digest_of(other, 0x42);
	CHECK_OK(one(w.m[1].e, ENDORSER_CREATE, other, 0, d, NULL, 0, &b));
	CHECK_OK(fr_batch_head(&b, &h[0]));
	fr_batch_free(&b);
	h[1] = h[0];
	h[1].sig[5] ^= 0x20; /* forged */
	h[2] = h[0];
	h[2].kind = FR_KIND_READ; /* the signature no longer covers it, nor is it an APPEND */
	h[3] = h[0];
	h[3].view[0] ^= 1;
	h[4] = h[0];
	memcpy(h[4].pub, w.m[3].pub, FR_PUB); /* not a member */
	h[5] = h[0];
	CHECK(endorser_learn(w.m[0].e, h, 4) == 1);
	CHECK(endorser_learn(w.m[0].e, h + 4, 1) == 0);
	CHECK(endorser_learn(w.m[1].e, h, 1) == 0); /* its own */
	CHECK(endorser_learn(w.m[2].e, h + 5, 1) == 1);
	/* the frame: round trip, and refusals of a bad count or length */
	CHECK_OK(fw_sigs_encode(h, 2, &body, &len, NULL));
	CHECK(len == 4 + 2 * FR_SIGHEAD_SIZE);
	CHECK_OK(fw_sigs_decode(body, len, &back, &n, NULL));
	CHECK(n == 2 && memcmp(&back[1], &h[1], sizeof(h[1])) == 0);
	free(back);
	CHECK_RC(fw_sigs_decode(body, len - 1, &back, &n, NULL), SHELTER_E_MALFORMED);
	body[3] = 0; /* count 0 */
	CHECK_RC(fw_sigs_decode(body, len, &back, &n, NULL), SHELTER_E_MALFORMED);
	free(body);
	CHECK_RC(fw_sigs_encode(h, 0, &body, &len, NULL), SHELTER_E_INVAL);
	world_end(&w);
}

/* §7: lock two of three, derive, init a new view with a replacement. */
static int lock_on(struct world *w, int i, struct fr_batch *b)
{
	return endorser_lock(w->m[i].e, w->v1.digest, b, NULL);
}

static int init_on(struct world *w, int i, struct fr_batch *locks, size_t nlocks,
		   const struct fr_receipt *const *certs, const size_t *lens, size_t ncerts,
		   struct fr_batch *out)
{
	struct endorser_proof p = { .view = w->b1, .view_len = w->l1, .prev = w->b0,
				    .prev_len = w->l0, .locks = locks, .nlocks = nlocks,
				    .certs = certs, .cert_lens = lens, .ncerts = ncerts };

	return endorser_init(w->m[i].e, &p, out, NULL);
}

static void reconfiguration_keeps_the_certified_state(void)
{
	struct world w;
	struct fr_receipt rx, ry[2], r;
	struct fr_batch locks[3], out;
	struct fr_entry e;
	struct member next[3];
	const struct fr_receipt *certs[1];
	size_t lens[1] = { 2 };

	CHECK_OK(world_start(&w));
	/* equivocation at height 1: x to endorser 0, y to endorsers 1 and 2, so y is
	 * certified (acknowledged) and x is not */
	CHECK_OK(append_on(&w, 0, 1, 0x0E, w.created, 2, &rx));
	CHECK_OK(append_on(&w, 1, 1, 0x0F, w.created, 2, &ry[0]));
	CHECK_OK(append_on(&w, 2, 1, 0x0F, w.created, 2, &ry[1]));
	/* view 1: endorsers 0 and 1 stay, 3 replaces 2 */
	next[0] = w.m[0];
	next[1] = w.m[1];
	next[2] = w.m[3];
	CHECK_OK(make_view(1, w.v0.digest, next, 3, &w.v1, &w.b1, &w.l1));
	CHECK_OK(lock_on(&w, 0, &locks[0]));
	CHECK_OK(lock_on(&w, 1, &locks[1]));
	CHECK(locks[0].kind == FR_KIND_LOCK && locks[0].count == 1);
	/* locked: no more appends; a lock for another successor is refused */
	CHECK_RC(append_on(&w, 0, 2, 0x10, NULL, 0, &r), SHELTER_E_INVAL);
	{
		struct fr_batch again;
		uint8_t other[FR_HASH];

		digest_of(other, 0x42);
		CHECK_RC(endorser_lock(w.m[0].e, other, &again, NULL), SHELTER_E_CONFLICT);
		CHECK_OK(lock_on(&w, 0, &again)); /* the same lock again: the same answer */
		CHECK_MEM(again.sig, locks[0].sig, FR_SIG);
		fr_batch_free(&again);
	}
	/* §6.2: a locked endorser still answers reads, flagged LOCKED */
	{
		struct fr_batch rb;
		uint8_t nonce[FR_HASH] = { 7 };

		CHECK_OK(endorser_read(w.m[0].e, nonce, (const uint8_t (*)[FR_HASH])w.handle, 1,
				       &rb, NULL));
		CHECK(rb.entries[0].flags & FR_FLAG_LOCKED);
		CHECK_OK(fr_batch_verify(&rb, NULL));
		fr_batch_free(&rb);
	}
	/* §7.2: the two locked states disagree at the top and no certificate is given */
	CHECK_RC(init_on(&w, 3, locks, 2, NULL, NULL, 0, &out), SHELTER_E_CONFLICT);
	/* one lock is not a quorum; a lock twice is refused; a forged lock is refused */
	CHECK_RC(init_on(&w, 3, locks, 1, NULL, NULL, 0, &out), SHELTER_E_UNTRUSTED);
	{
		struct fr_batch twice[2] = { locks[0], locks[0] };

		CHECK_RC(init_on(&w, 3, twice, 2, NULL, NULL, 0, &out), SHELTER_E_UNTRUSTED);
		locks[1].entries[0].height ^= 4;
		CHECK_RC(init_on(&w, 3, locks, 2, NULL, NULL, 0, &out), SHELTER_E_UNTRUSTED);
		locks[1].entries[0].height ^= 4;
	}
	/* with y's certificate, y is derived: the acknowledged state survives */
	certs[0] = ry;
	CHECK_OK(init_on(&w, 3, locks, 2, certs, lens, 1, &out));
	CHECK(out.kind == FR_KIND_INIT && out.count == 1 && out.entries[0].height == 1);
	CHECK_MEM(out.entries[0].tail, ry[0].entry.tail, FR_HASH);
	fr_batch_free(&out);
	/* an x certificate cannot exist: rx alone does not make one */
	certs[0] = &rx;
	lens[0] = 1;
	CHECK_RC(init_on(&w, 1, locks, 2, certs, lens, 1, &out), SHELTER_E_CONFLICT);
	certs[0] = ry;
	lens[0] = 2;
	CHECK_OK(init_on(&w, 0, locks, 2, certs, lens, 1, &out));
	fr_batch_free(&out);
	CHECK_OK(init_on(&w, 1, locks, 2, certs, lens, 1, &out));
	fr_batch_free(&out);
	/* a locked endorser never restarts as a genesis, even one it was locked for */
	{
		struct member solo = w.m[2];
		struct fr_view g2;
		uint8_t *b2 = NULL;
		size_t l2 = 0;
		struct fr_batch lk;
		struct endorser_proof p = { 0 };

		CHECK_OK(make_view(0, NULL, &solo, 1, &g2, &b2, &l2));
		CHECK_OK(endorser_lock(w.m[2].e, g2.digest, &lk, NULL));
		fr_batch_free(&lk);
		p.view = b2;
		p.view_len = l2;
		CHECK_RC(endorser_init(w.m[2].e, &p, &out, NULL), SHELTER_E_CONFLICT);
		free(b2);
	}
	/* the old view is over: its third member never joins the new one */
	CHECK_RC(init_on(&w, 2, locks, 2, certs, lens, 1, &out), SHELTER_E_INVAL);
	/* view 1 goes on from y */
	CHECK_OK(read_on(&w, 0, &e));
	CHECK(e.height == 1 && (e.flags & FR_FLAG_CERTIFIED));
	CHECK_MEM(e.tail, ry[0].entry.tail, FR_HASH);
	CHECK_OK(append_on(&w, 3, 2, 0x20, NULL, 0, &r));
	CHECK(memcmp(r.view, w.v1.digest, FR_HASH) == 0);
	for (int i = 0; i < 2; i++)
		fr_batch_free(&locks[i]);
	world_end(&w);
}

/* §6.2 / §7.2 as a table. */
static void decide_follows_the_rule(void)
{
	struct fr_entry a = { .height = 4, .flags = FR_FLAG_CERTIFIED }, b = { .height = 5 },
			c = { .height = 5 }, d = { .height = 7 }, absent = { .height = FR_ABSENT },
			out;
	const struct fr_entry *set[3];

	memset(a.tail, 1, FR_HASH);
	memset(b.tail, 2, FR_HASH);
	memset(c.tail, 3, FR_HASH);
	set[0] = &absent;
	CHECK_OK(fr_decide(set, 1, NULL, NULL, NULL, 0, &out, NULL));
	CHECK(out.height == FR_ABSENT);
	set[1] = &a; /* certified top */
	CHECK_OK(fr_decide(set, 2, NULL, NULL, NULL, 0, &out, NULL));
	CHECK(out.height == 4 && out.flags == FR_FLAG_CERTIFIED);
	set[2] = &b; /* one uncertified step above it, taken */
	CHECK_OK(fr_decide(set, 3, NULL, NULL, NULL, 0, &out, NULL));
	CHECK(out.height == 5 && out.flags == 0 && out.tail[0] == 2);
	set[0] = &c; /* two different steps: ambiguous */
	CHECK_RC(fr_decide(set, 3, NULL, NULL, NULL, 0, &out, NULL), SHELTER_E_CONFLICT);
	set[0] = &d; /* a step vouches for the height below it: the highest step wins */
	CHECK_OK(fr_decide(set, 3, NULL, NULL, NULL, 0, &out, NULL));
	CHECK(out.height == 7 && out.flags == 0);
	{	/* U < C: a certificate newer than every answer names the latest state */
		struct world w;
		struct fr_receipt r1[2];
		const struct fr_receipt *certs[1] = { r1 };
		size_t lens[1] = { 2 };
		const struct fr_entry *old[1];

		CHECK_OK(world_start(&w));
		CHECK_OK(append_on(&w, 0, 1, 0x01, w.created, 2, &r1[0]));
		CHECK_OK(append_on(&w, 1, 1, 0x01, w.created, 2, &r1[1]));
		old[0] = &w.created[2].entry;
		CHECK_OK(fr_decide(old, 1, &w.v0, certs, lens, 1, &out, NULL));
		CHECK(out.height == 1 && out.flags == FR_FLAG_CERTIFIED);
		lens[0] = 1; /* not a certificate: the answers decide */
		CHECK_OK(fr_decide(old, 1, &w.v0, certs, lens, 1, &out, NULL));
		CHECK(out.height == 0);
		{	/* a certificate of another handle says nothing about this one (§7.2
			 * passes every handle's certificates) */
			struct fr_entry other = w.created[2].entry;
			const struct fr_entry *one[1] = { &other };

			memset(other.handle, 0x77, FR_HASH);
			lens[0] = 2;
			CHECK_OK(fr_decide(one, 1, &w.v0, certs, lens, 1, &out, NULL));
			CHECK(out.height == 0 && memcmp(out.handle, other.handle, FR_HASH) == 0);
		}
		world_end(&w);
	}
	b.flags = c.flags = FR_FLAG_CERTIFIED; /* two certified tails at one height */
	set[0] = &c;
	CHECK_RC(fr_decide(set, 3, NULL, NULL, NULL, 0, &out, NULL), SHELTER_E_INTEGRITY);
}

int main(void)
{
	test_binary = "test_freshness";
	RUN(merkle_paths_climb_to_the_root);
	RUN(batch_receipts_match_one_by_one);
	RUN(views_encode_and_refuse_bad_shapes);
	RUN(receipts_round_trip_and_refuse_tampering);
	RUN(endorser_appends_only_on_certified_states);
	RUN(endorser_learns_checked_signatures);
	RUN(reconfiguration_keeps_the_certified_state);
	RUN(decide_follows_the_rule);
	return test_total_failed ? 1 : 0;
}
