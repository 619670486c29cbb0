/* libFuzzer target: the coordinator-endorser wire protocol (docs/protocols/freshness.md
 * §8, src/freshness/wire.c) and the signed objects under it (§3, format.c). The
 * endorser parses requests from anyone on the network: every decoder gets hostile
 * bytes, and what decodes is fed into a real endorser state machine, so the trusted
 * code (endorser.c, fr_cert_check, fr_decide) sees hostile requests too. The first
 * byte picks the target:
 *   0 init request -> endorser_init of a new endorser
 *   1 batch request -> endorser_batch of the genesis endorser below
 *   2 read request -> endorser_read
 *   3 lock (32 bytes) -> endorser_lock (then the genesis endorser is made again)
 *   4 identity answer   5 batch answer   6 error frame
 *   7 fr_batch_decode   8 fr_receipt_decode   9 fr_view_decode
 *   10 frames (fw_recv over a pipe), each request frame dispatched as 0-3
 *
 * Signatures cannot be fuzzed into validity, so the harness holds three Ed25519 keys
 * of fixed seeds (K1 K2 K3) and repairs what carries a placeholder: a receipt or LOCK
 * batch signed by a fixed key with an all-zero signature is signed for real; a view
 * digest or lock nonce of 32 x 0xDD becomes the digest the endorser under test serves
 * or will serve; a view key of 32 x 0xEE becomes the new endorser's own key. So
 * mutated entries, heights, proofs and certificates reach the endorser's checks with
 * valid signatures, and a mutated signature still tests the refusal.
 *
 * Properties checked with abort(): a refusal carries a message; what decodes
 * re-encodes to the same bytes (the encodings are canonical; error messages are
 * compared after a second decode, as control characters are replaced); an answer the
 * endorser signs verifies and has as many entries as items succeeded; nothing leaks.
 *
 * Seed generator: SHELTER_FUZZ_SEEDS=DIR ./fuzz_fresh_wire writes valid encodings of
 * every target into DIR and exits (tests/fuzz/corpus/fuzz_fresh_wire). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "freshness/endorser.h"
#include "freshness/format.h"
#include "freshness/wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NKEYS 3
#define RESET_HANDLES 4096
#define PLACE_VIEW 0xDD
#define PLACE_KEY 0xEE

static uint8_t g_priv[NKEYS][SHELTER_ED25519_PRIV_SIZE], g_pub[NKEYS][FR_PUB];
static struct endorser *g_e; /* ACTIVE in g_view, a genesis of {g_e, K1, K2} */
static uint8_t *g_body;
static size_t g_body_len;
static struct fr_view g_view;
static const uint8_t g_quote[] = "fuzz_fresh_wire: endorsers never check quotes";
static int g_verbose; /* SHELTER_FUZZ_VERBOSE=1: what the endorser said */

static __attribute__((format(printf, 1, 2))) void say(const char *fmt, ...)
{
	va_list ap;

	if (!g_verbose)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_fresh_wire: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, const char *what)
{
	if (alen != blen || memcmp(a, b, alen) != 0)
		die("%s: re-encoding differs (%zu vs %zu bytes)", what, alen, blen);
}

static void refused(int rc, const struct shelter_err *err, const char *what)
{
	if (rc >= 0 || err->msg[0] == '\0')
		die("%s: refusal %d without a message", what, rc);
}

static int all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static int fixed_key(const uint8_t pub[FR_PUB])
{
	for (int i = 0; i < NKEYS; i++)
		if (memcmp(pub, g_pub[i], FR_PUB) == 0)
			return i;
	return -1;
}

/* ---- views ---- */

/* A view of these keys (sorted here), each with the placeholder quote. */
static int make_view(uint64_t number, const uint8_t *prev, uint8_t (*keys)[FR_PUB], size_t n,
		     struct fr_view *v, uint8_t **body, size_t *len)
{
	memset(v, 0, sizeof(*v));
	for (size_t i = 1; i < n; i++) /* insertion sort: n <= 15 */
		for (size_t j = i; j > 0 && memcmp(keys[j - 1], keys[j], FR_PUB) > 0; j--) {
			uint8_t t[FR_PUB];

			memcpy(t, keys[j], FR_PUB);
			memcpy(keys[j], keys[j - 1], FR_PUB);
			memcpy(keys[j - 1], t, FR_PUB);
		}
	v->number = number;
	if (prev != NULL)
		memcpy(v->prev, prev, FR_HASH);
	v->n = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		memcpy(v->keys[i], keys[i], FR_PUB);
		v->quotes[i] = g_quote;
		v->quote_len[i] = sizeof(g_quote);
	}
	return fr_view_encode(v, body, len, NULL);
}

/* The genesis endorser, made (again) from scratch. */
static void genesis_reset(void)
{
	uint8_t keys[3][FR_PUB];
	struct fr_batch out;

	endorser_free(g_e);
	free(g_body);
	if (endorser_new(&g_e, NULL) < 0)
		die("endorser_new");
	endorser_public_key(g_e, keys[0]);
	memcpy(keys[1], g_pub[0], FR_PUB);
	memcpy(keys[2], g_pub[1], FR_PUB);
	if (make_view(0, NULL, keys, 3, &g_view, &g_body, &g_body_len) < 0)
		die("genesis view");
	{
		struct endorser_proof p = { .view = g_body, .view_len = g_body_len };

		if (endorser_init(g_e, &p, &out, NULL) < 0)
			die("genesis init");
	}
	fr_batch_free(&out);
}

/* ---- repairs (see the header) ---- */

static void sign_receipt(struct fr_receipt *r, const uint8_t view[FR_HASH])
{
	uint8_t leaf[FR_HASH], root[FR_HASH], msg[FR_MSG_SIZE];
	int k = fixed_key(r->pub);

	if (view != NULL && all(r->view, FR_HASH, PLACE_VIEW))
		memcpy(r->view, view, FR_HASH);
	if (k < 0 || !all(r->sig, FR_SIG, 0) || fr_leaf_hash(&r->entry, leaf) < 0 ||
	    fr_merkle_climb(leaf, r->index, r->count, (const uint8_t (*)[FR_HASH])r->path,
			    r->path_len, root) < 0)
		return;
	fr_receipt_msg(r->kind, r->view, r->nonce, r->count, root, msg);
	if (shelter_ed25519_sign(g_priv[k], msg, sizeof(msg), r->sig, NULL) < 0)
		die("sign");
}

static void sign_lock(struct fr_batch *b, const uint8_t next[FR_HASH])
{
	int k = fixed_key(b->pub);

	if (all(b->nonce, FR_HASH, PLACE_VIEW))
		memcpy(b->nonce, next, FR_HASH);
	if (k >= 0 && all(b->sig, FR_SIG, 0) && fr_batch_sign(b, g_priv[k], NULL) < 0)
		die("sign lock");
}

/* The view to init: the placeholder key replaced by the new endorser's own. *body
 * is malloc'd (NULL: serve the view as it came). */
static void fix_view(const uint8_t *in, size_t len, const uint8_t pub[FR_PUB], uint8_t **body,
		     size_t *blen, uint8_t digest[FR_HASH])
{
	uint8_t keys[FR_VIEW_MAX][FR_PUB];
	struct fr_view v, fixed;
	int found = 0;

	*body = NULL;
	if (fr_view_decode(in, len, &v, NULL) < 0) {
		memset(digest, 0, FR_HASH);
		return;
	}
	memcpy(digest, v.digest, FR_HASH);
	for (unsigned i = 0; i < v.n; i++) {
		found |= all(v.keys[i], FR_PUB, PLACE_KEY);
		memcpy(keys[i], all(v.keys[i], FR_PUB, PLACE_KEY) ? pub : v.keys[i], FR_PUB);
	}
	if (found && make_view(v.number, v.prev, keys, v.n, &fixed, body, blen) == 0)
		memcpy(digest, fixed.digest, FR_HASH);
}

/* ---- requests into the state machine ---- */

static void check_answer(const struct fr_batch *b, uint8_t kind, const char *what)
{
	struct shelter_err err;

	shelter_err_clear(&err);
	if (b->kind != kind || fr_batch_verify(b, &err) < 0)
		die("%s: the endorser's answer does not verify: %s", what, err.msg);
}

static void run_init(const struct fw_init_req *r)
{
	struct endorser *t = NULL;
	struct fr_batch out;
	struct shelter_err err;
	struct endorser_proof p;
	uint8_t pub[FR_PUB], next[FR_HASH], *body = NULL;
	size_t blen = 0;
	int rc;

	if (endorser_new(&t, NULL) < 0)
		die("endorser_new");
	endorser_public_key(t, pub);
	fix_view(r->view, r->view_len, pub, &body, &blen, next);
	for (size_t i = 0; i < r->nlocks; i++)
		sign_lock(&r->locks[i], next);
	for (size_t i = 0; i < r->ncerts; i++)
		for (size_t j = 0; j < r->cert_lens[i]; j++)
			sign_receipt(&r->certs[i][j], NULL);
	p = (struct endorser_proof){ .view = body ? body : r->view, .view_len = body ? blen
										    : r->view_len,
				     .prev = r->prev, .prev_len = r->prev_len, .locks = r->locks,
				     .nlocks = r->nlocks,
				     .certs = (const struct fr_receipt *const *)r->certs,
				     .cert_lens = r->cert_lens, .ncerts = r->ncerts };
	shelter_err_clear(&err);
	rc = endorser_init(t, &p, &out, &err);
	say("init: %d %s", rc, rc < 0 ? err.msg : "");
	if (rc == 0) {
		check_answer(&out, FR_KIND_INIT, "init");
		if (endorser_phase(t) != ENDORSER_ACTIVE || out.count != endorser_handles(t))
			die("init: answered for a state it does not hold");
		fr_batch_free(&out);
	} else {
		refused(rc, &err, "init");
	}
	free(body);
	endorser_free(t);
}

static void run_batch(struct fw_batch_req *r)
{
	struct fr_batch out;
	struct shelter_err err;
	int32_t *status = calloc(r->count ? r->count : 1, sizeof(*status));
	size_t ok = 0;
	int rc;

	if (status == NULL)
		die("calloc");
	for (size_t i = 0; i < r->nreceipts; i++)
		sign_receipt(&r->receipts[i], g_view.digest);
	shelter_err_clear(&err);
	rc = endorser_batch(g_e, r->items, r->count, status, &out, &err);
	say("batch: %d %s", rc, rc < 0 ? err.msg : "");
	for (size_t i = 0; rc == 0 && i < r->count; i++)
		say("  item %zu: %d", i, status[i]);
	if (rc < 0)
		refused(rc, &err, "batch");
	for (size_t i = 0; rc == 0 && i < r->count; i++) {
		if (status[i] > 0)
			die("batch: item %zu: status %d", i, status[i]);
		ok += status[i] == 0;
	}
	if (rc == 0 && ok != out.count)
		die("batch: %zu items succeeded, %u entries signed", ok, out.count);
	if (rc == 0 && ok > 0)
		check_answer(&out, FR_KIND_APPEND, "batch");
	fr_batch_free(&out);
	free(status);
	if (endorser_handles(g_e) > RESET_HANDLES)
		genesis_reset();
}

static void run_read(const struct fw_read_req *r)
{
	struct fr_batch out;
	struct shelter_err err;
	int rc;

	shelter_err_clear(&err);
	rc = endorser_read(g_e, r->nonce, (const uint8_t (*)[FR_HASH])r->handles, r->count, &out,
			   &err);
	say("read: %d %s", rc, rc < 0 ? err.msg : "");
	if (rc == 0) {
		check_answer(&out, FR_KIND_READ, "read");
		if (out.count != r->count || memcmp(out.nonce, r->nonce, FR_HASH) != 0)
			die("read: answered another question");
		fr_batch_free(&out);
	} else {
		refused(rc, &err, "read");
	}
}

static void run_lock(const uint8_t *in, size_t len)
{
	struct fr_batch out;
	struct shelter_err err;
	int rc;

	if (len != FR_HASH)
		return;
	shelter_err_clear(&err);
	rc = endorser_lock(g_e, in, &out, &err);
	say("lock: %d %s", rc, rc < 0 ? err.msg : "");
	if (rc < 0)
		refused(rc, &err, "lock");
	else
		check_answer(&out, FR_KIND_LOCK, "lock");
	fr_batch_free(&out);
	genesis_reset(); /* a locked endorser appends no more */
}

/* ---- one target per first byte ---- */

static void t_init(const uint8_t *in, size_t len)
{
	struct fw_init_req r;
	struct shelter_err err;
	uint8_t *back = NULL;
	size_t blen = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fw_init_decode(in, len, &r, &err);
	if (rc < 0)
		return refused(rc, &err, "init decode");
	if (fw_init_encode(&r, &back, &blen, &err) < 0)
		die("init: re-encode: %s", err.msg);
	same(in, len, back, blen, "init");
	free(back);
	run_init(&r);
	fw_init_free(&r);
}

static void t_batch(const uint8_t *in, size_t len)
{
	struct fw_batch_req r;
	struct shelter_err err;
	uint8_t *back = NULL;
	size_t blen = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fw_batch_decode(in, len, &r, &err);
	if (rc < 0)
		return refused(rc, &err, "batch decode");
	if (fw_batch_encode(r.items, r.count, &back, &blen, &err) < 0)
		die("batch: re-encode: %s", err.msg);
	same(in, len, back, blen, "batch");
	free(back);
	run_batch(&r);
	fw_batch_req_free(&r);
}

static void t_read(const uint8_t *in, size_t len)
{
	struct fw_read_req r;
	struct shelter_err err;
	uint8_t *back = NULL;
	size_t blen = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fw_read_decode(in, len, &r, &err);
	if (rc < 0)
		return refused(rc, &err, "read decode");
	if (fw_read_encode(r.nonce, (const uint8_t (*)[FR_HASH])r.handles, r.count, &back, &blen,
			   &err) < 0)
		die("read: re-encode: %s", err.msg);
	same(in, len, back, blen, "read");
	free(back);
	run_read(&r);
	fw_read_free(&r);
}

static void t_identity(const uint8_t *in, size_t len)
{
	struct shelter_err err;
	uint8_t pub[FR_PUB], *back = NULL;
	const uint8_t *q;
	size_t qlen, blen = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fw_identity_decode(in, len, pub, &q, &qlen, &err);
	if (rc < 0)
		return refused(rc, &err, "identity decode");
	if (q < in || q + qlen > in + len)
		die("identity: the quote is outside the input");
	if (fw_identity_encode(pub, q, qlen, &back, &blen, &err) < 0)
		die("identity: re-encode: %s", err.msg);
	same(in, len, back, blen, "identity");
	free(back);
}

static void t_batch_answer(const uint8_t *in, size_t len)
{
	struct shelter_err err;
	struct fr_batch b;
	int32_t *st = NULL;
	uint8_t *back = NULL;
	size_t n, blen = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fw_batch_answer_decode(in, len, &st, &n, &b, &err);
	if (rc < 0)
		return refused(rc, &err, "batch answer decode");
	if (fw_batch_answer_encode(st, n, b.count ? &b : NULL, &back, &blen, &err) < 0)
		die("batch answer: re-encode: %s", err.msg);
	same(in, len, back, blen, "batch answer");
	if (b.count > 0 && b.count <= 64)
		(void)fr_batch_verify(&b, NULL);
	free(back);
	free(st);
	fr_batch_free(&b);
}

static int printable(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7F)
			return 0;
	return 1;
}

static void t_error(const uint8_t *in, size_t len)
{
	char msg[FW_MESSAGE_MAX + 1], again[FW_MESSAGE_MAX + 1];
	uint8_t *back = NULL;
	size_t blen = 0;
	int code, code2;

	if (fw_error_decode(in, len, &code, msg, sizeof(msg)) < 0) {
		if (code != 0)
			die("error: a refusal left a code");
		return;
	}
	if (code >= 0 || fw_error_encode(code, msg, &back, &blen) < 0 ||
	    fw_error_decode(back, blen, &code2, again, sizeof(again)) < 0 || code2 != code ||
	    strcmp(msg, again) != 0)
		die("error: does not round-trip");
	if (printable(in + 6, len - 6)) /* nothing replaced: byte-identical */
		same(in, len, back, blen, "error");
	free(back);
}

static void t_fr_batch(const uint8_t *in, size_t len)
{
	struct shelter_err err;
	struct fr_batch b;
	uint8_t *back = NULL;
	size_t used = 0, blen = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fr_batch_decode(in, len, FR_BATCH_MAX, &b, &used, &err);
	if (rc < 0)
		return refused(rc, &err, "fr_batch_decode");
	if (used > len || fr_batch_encode(&b, &back, &blen, &err) < 0)
		die("fr_batch: re-encode");
	same(in, used, back, blen, "fr_batch");
	if (b.count <= 64)
		(void)fr_batch_verify(&b, NULL);
	if (b.count > 0 && b.count <= 64) {
		struct fr_receipt r;

		if (fr_batch_receipt(&b, b.count - 1, &r, &err) < 0)
			die("fr_batch_receipt: %s", err.msg);
	}
	free(back);
	fr_batch_free(&b);
}

static void t_receipt(const uint8_t *in, size_t len)
{
	struct shelter_err err;
	struct fr_receipt r;
	uint8_t back[FR_RECEIPT_MAX];
	size_t used = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fr_receipt_decode(in, len, &r, &used, &err);
	if (rc < 0)
		return refused(rc, &err, "fr_receipt_decode");
	if (used > len)
		die("receipt: used %zu of %zu", used, len);
	same(in, used, back, fr_receipt_encode(&r, back), "receipt");
	(void)fr_receipt_verify(&r, NULL);
	(void)fr_cert_check(&g_view, &r, 1, r.entry.handle, r.entry.height, r.entry.tail, NULL);
}

static void t_view(const uint8_t *in, size_t len)
{
	struct shelter_err err;
	struct fr_view v;
	uint8_t *back = NULL, digest[FR_HASH];
	size_t blen = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fr_view_decode(in, len, &v, &err);
	if (rc < 0)
		return refused(rc, &err, "fr_view_decode");
	memcpy(digest, v.digest, FR_HASH);
	if (fr_view_encode(&v, &back, &blen, &err) < 0)
		die("view: re-encode: %s", err.msg);
	same(in, len, back, blen, "view");
	same(digest, FR_HASH, v.digest, FR_HASH, "view digest");
	free(back);
}

/* sigs (§8): decoded, re-encoded the same; heads of the fixed keys with a zero
 * signature are signed first (over g_view when their view is the placeholder), so
 * that the endorser's checks are reached; it learns at most what it was given. */
static void t_sigs(const uint8_t *in, size_t len)
{
	struct fr_sighead *h = NULL;
	struct shelter_err err;
	uint8_t *back = NULL, msg[FR_MSG_SIZE];
	size_t n = 0, blen = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fw_sigs_decode(in, len, &h, &n, &err);
	if (rc < 0)
		return refused(rc, &err, "sigs decode");
	if (fw_sigs_encode(h, n, &back, &blen, &err) < 0)
		die("sigs: re-encode: %s", err.msg);
	same(in, len, back, blen, "sigs");
	free(back);
	for (size_t i = 0; i < n; i++) {
		int k = fixed_key(h[i].pub);

		if (all(h[i].view, FR_HASH, PLACE_VIEW))
			memcpy(h[i].view, g_view.digest, FR_HASH);
		if (k < 0 || !all(h[i].sig, FR_SIG, 0))
			continue;
		fr_receipt_msg(h[i].kind, h[i].view, h[i].nonce, h[i].count, h[i].root, msg);
		if (shelter_ed25519_sign(g_priv[k], msg, sizeof(msg), h[i].sig, NULL) < 0)
			die("sign");
	}
	if (endorser_learn(g_e, h, n) > n)
		die("sigs: learnt more than given");
	free(h);
}

static void dispatch(uint8_t sel, const uint8_t *in, size_t len);

/* The frame layer over a pipe: whatever fw_recv returns, it returns whole. */
static void t_frames(const uint8_t *in, size_t len)
{
	struct shelter_err err;
	uint8_t type, *body;
	size_t blen;
	int p[2], rc;

	if (len > 60000 || pipe(p) < 0) /* a pipe holds 64 KiB: the write never blocks */
		return;
	if (len > 0 && write(p[1], in, len) != (ssize_t)len)
		die("pipe write");
	close(p[1]);
	for (;;) {
		shelter_err_clear(&err);
		rc = fw_recv(p[0], &type, &body, &blen, &err);
		if (rc < 0) {
			refused(rc, &err, "fw_recv");
			break;
		}
		if (type >= FW_INIT && type <= FW_LOCK)
			dispatch((uint8_t)(type - FW_INIT), body, blen);
		free(body);
	}
	close(p[0]);
}

static void dispatch(uint8_t sel, const uint8_t *in, size_t len)
{
	switch (sel) {
	case 0: t_init(in, len); break;
	case 1: t_batch(in, len); break;
	case 2: t_read(in, len); break;
	case 3: run_lock(in, len); break;
	case 4: t_identity(in, len); break;
	case 5: t_batch_answer(in, len); break;
	case 6: t_error(in, len); break;
	case 7: t_fr_batch(in, len); break;
	case 8: t_receipt(in, len); break;
	case 9: t_view(in, len); break;
	case 10: t_frames(in, len); break;
	case 11: t_sigs(in, len); break;
	default: break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	dispatch(data[0] % 12, data + 1, size - 1);
	return 0;
}

/* ---- seed generator (SHELTER_FUZZ_SEEDS=DIR) ---- */

static void seed(const char *dir, const char *name, uint8_t sel, const uint8_t *data,
		 size_t size)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fputc(sel, f) == EOF || fwrite(data, 1, size, f) != size ||
	    fclose(f) != 0)
		die("write %s", path);
}

static void entry(struct fr_entry *e, uint8_t handle, uint64_t height, uint8_t tail,
		  uint8_t flags)
{
	memset(e, 0, sizeof(*e));
	memset(e->handle, handle, FR_HASH);
	e->height = height;
	memset(e->tail, tail, FR_HASH);
	e->flags = flags;
}

/* A receipt of key k for (handle, height, tail) as a one-entry batch, left for the
 * harness to sign (zero signature) in view (or the placeholder). */
static void receipt(struct fr_receipt *r, int k, const uint8_t *view, uint8_t handle,
		    uint64_t height, const uint8_t tail[FR_HASH])
{
	memset(r, 0, sizeof(*r));
	r->kind = FR_KIND_APPEND;
	if (view != NULL)
		memcpy(r->view, view, FR_HASH);
	else
		memset(r->view, PLACE_VIEW, FR_HASH);
	r->count = 1;
	memcpy(r->pub, g_pub[k], FR_PUB);
	memset(r->entry.handle, handle, FR_HASH);
	r->entry.height = height;
	memcpy(r->entry.tail, tail, FR_HASH);
}

static void seed_init(const char *dir)
{
	uint8_t keys[3][FR_PUB], *prev, *next, *req;
	struct fr_entry e1[2], e2[2];
	struct fr_batch locks[2] = { { .kind = FR_KIND_LOCK, .count = 2, .entries = e1 },
				     { .kind = FR_KIND_LOCK, .count = 2, .entries = e2 } };
	struct fr_receipt cert[2], *certs[1] = { cert };
	size_t plen, nlen, rlen, lens[1] = { 2 };
	struct fr_view pv, nv;
	struct fw_init_req r = { 0 };

	/* genesis: {K1, K2, the endorser under test} */
	memcpy(keys[0], g_pub[0], FR_PUB);
	memcpy(keys[1], g_pub[1], FR_PUB);
	memset(keys[2], PLACE_KEY, FR_PUB);
	if (make_view(0, NULL, keys, 3, &nv, &next, &nlen) < 0)
		die("seed view");
	r.view = next;
	r.view_len = nlen;
	if (fw_init_encode(&r, &req, &rlen, NULL) < 0)
		die("seed init");
	seed(dir, "init-genesis", 0, req, rlen);
	free(req);
	free(next);
	/* view 1 after {K1, K2, K3}: locks of K1 and K2 that disagree at the top of
	 * handle 0xB0, and the certificate that settles it */
	for (int i = 0; i < 3; i++)
		memcpy(keys[i], g_pub[i], FR_PUB);
	if (make_view(0, NULL, keys, 3, &pv, &prev, &plen) < 0)
		die("seed view");
	memcpy(keys[0], g_pub[0], FR_PUB);
	memcpy(keys[1], g_pub[1], FR_PUB);
	memset(keys[2], PLACE_KEY, FR_PUB);
	if (make_view(1, pv.digest, keys, 3, &nv, &next, &nlen) < 0)
		die("seed view");
	entry(&e1[0], 0xA0, 3, 0x33, FR_FLAG_CERTIFIED);
	entry(&e1[1], 0xB0, 5, 0x51, 0);
	entry(&e2[0], 0xA0, 4, 0x44, 0);
	entry(&e2[1], 0xB0, 5, 0x52, 0);
	for (int i = 0; i < 2; i++) {
		memcpy(locks[i].view, pv.digest, FR_HASH);
		memset(locks[i].nonce, PLACE_VIEW, FR_HASH);
		memcpy(locks[i].pub, g_pub[i], FR_PUB);
	}
	receipt(&cert[0], 0, pv.digest, 0xB0, 5, e2[1].tail);
	receipt(&cert[1], 2, pv.digest, 0xB0, 5, e2[1].tail);
	r = (struct fw_init_req){ .view = next, .view_len = nlen, .prev = prev, .prev_len = plen,
				  .locks = locks, .nlocks = 2, .certs = certs, .cert_lens = lens,
				  .ncerts = 1 };
	if (fw_init_encode(&r, &req, &rlen, NULL) < 0)
		die("seed init");
	seed(dir, "init-successor", 0, req, rlen);
	free(req);
	free(prev);
	free(next);
}

static void seed_batch(const char *dir)
{
	struct endorser_item it[3] = { { .op = ENDORSER_CREATE }, { .op = ENDORSER_APPEND,
								      .height = 1 },
				       { .op = ENDORSER_CERTIFY, .height = 4 } };
	struct fr_receipt c0[2], c4[2];
	uint8_t t0[FR_HASH], t4[FR_HASH], *req;
	size_t len;

	for (int i = 0; i < 3; i++)
		memset(it[i].handle, i < 2 ? 0xC0 : 0xC4, FR_HASH);
	memset(it[0].value, 0x01, FR_HASH);
	memset(it[1].value, 0x02, FR_HASH);
	memset(t4, 0x44, FR_HASH);
	memcpy(it[2].value, t4, FR_HASH);
	if (fr_tail_genesis(it[0].handle, it[0].value, t0) < 0)
		die("tail");
	for (int k = 0; k < 2; k++) {
		receipt(&c0[k], k, NULL, 0xC0, 0, t0);
		receipt(&c4[k], k, NULL, 0xC4, 4, t4);
	}
	it[1].cert = c0;
	it[1].cert_count = 2;
	it[2].cert = c4;
	it[2].cert_count = 2;
	if (fw_batch_encode(it, 3, &req, &len, NULL) < 0)
		die("seed batch");
	seed(dir, "batch-create-append-certify", 1, req, len);
	free(req);
	if (fw_batch_encode(it, 1, &req, &len, NULL) < 0)
		die("seed batch");
	seed(dir, "batch-create", 1, req, len);
	free(req);
}

/* A batch of n entries signed by K1. */
static void signed_batch(struct fr_batch *b, struct fr_entry *es, uint32_t n, uint8_t kind)
{
	memset(b, 0, sizeof(*b));
	for (uint32_t i = 0; i < n; i++)
		entry(&es[i], (uint8_t)(0x10 + i), i, (uint8_t)(0x80 + i), i & 1);
	b->kind = kind;
	b->count = n;
	b->entries = es;
	if (fr_batch_sign(b, g_priv[0], NULL) < 0)
		die("sign");
}

static void seed_answers(const char *dir)
{
	static const int32_t st[3] = { 0, SHELTER_E_CONFLICT, 0 }, none[2] = { -60, -80 };
	uint8_t handles[3][FR_HASH], nonce[FR_HASH], quote[64], *out;
	struct fr_entry es[5];
	struct fr_batch b;
	struct fr_receipt r;
	uint8_t rbuf[FR_RECEIPT_MAX];
	size_t len;

	memset(nonce, 0x4E, FR_HASH);
	for (int i = 0; i < 3; i++)
		memset(handles[i], 0xC0 + i, FR_HASH);
	if (fw_read_encode(nonce, (const uint8_t (*)[FR_HASH])handles, 3, &out, &len, NULL) < 0)
		die("seed read");
	seed(dir, "read", 2, out, len);
	free(out);
	seed(dir, "lock", 3, nonce, FR_HASH);
	memset(quote, 0x51, sizeof(quote));
	if (fw_identity_encode(g_pub[0], quote, sizeof(quote), &out, &len, NULL) < 0)
		die("seed identity");
	seed(dir, "identity", 4, out, len);
	free(out);
	signed_batch(&b, es, 2, FR_KIND_APPEND);
	if (fw_batch_answer_encode(st, 3, &b, &out, &len, NULL) < 0)
		die("seed batch answer");
	seed(dir, "batch-answer", 5, out, len);
	free(out);
	if (fw_batch_answer_encode(none, 2, NULL, &out, &len, NULL) < 0)
		die("seed batch answer");
	seed(dir, "batch-answer-none", 5, out, len);
	free(out);
	if (fw_error_encode(SHELTER_E_MALFORMED, "read: 1 handles in 33 bytes", &out, &len) < 0)
		die("seed error");
	seed(dir, "error", 6, out, len);
	free(out);
	signed_batch(&b, es, 5, FR_KIND_READ);
	if (fr_batch_encode(&b, &out, &len, NULL) < 0)
		die("seed fr_batch");
	seed(dir, "fr-batch", 7, out, len);
	free(out);
	if (fr_batch_receipt(&b, 3, &r, NULL) < 0)
		die("seed receipt");
	seed(dir, "receipt", 8, rbuf, fr_receipt_encode(&r, rbuf));
	seed(dir, "view", 9, g_body, g_body_len);
	{ /* the heads of two fixed keys, signatures left zero: the harness signs them */
		struct fr_sighead hs[2];

		for (int i = 0; i < 2; i++) {
			if (fr_batch_head(&b, &hs[i]) < 0)
				die("seed head");
			memcpy(hs[i].pub, g_pub[i], FR_PUB);
			memset(hs[i].view, PLACE_VIEW, FR_HASH);
			memset(hs[i].sig, 0, FR_SIG);
			hs[i].kind = FR_KIND_APPEND;
		}
		if (fw_sigs_encode(hs, 2, &out, &len, NULL) < 0)
			die("seed sigs");
		seed(dir, "sigs", 11, out, len);
		free(out);
	}
}

/* Frames: identity, read, lock, an unknown type, then a cut frame. */
static void seed_frames(const char *dir)
{
	uint8_t buf[512], handle[FR_HASH], *req;
	size_t n = 0, len;

	memset(handle, 0xC0, FR_HASH);
	memcpy(buf, "\0\0\0\1\1", 5);
	n = 5;
	if (fw_read_encode(handle, (const uint8_t (*)[FR_HASH])handle, 1, &req, &len, NULL) < 0)
		die("seed frames");
	buf[n + 0] = 0;
	buf[n + 1] = 0;
	buf[n + 2] = 0;
	buf[n + 3] = (uint8_t)(len + 1);
	buf[n + 4] = FW_READ;
	memcpy(buf + n + 5, req, len);
	n += 5 + len;
	free(req);
	memcpy(buf + n, "\0\0\0\x21\5", 5);
	memset(buf + n + 5, 0x4C, FR_HASH);
	n += 5 + FR_HASH;
	memcpy(buf + n, "\0\0\0\1\x77" "\0\0\1\0\3", 10);
	n += 10;
	seed(dir, "frames", 10, buf, n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SHELTER_FUZZ_SEEDS");

	g_verbose = getenv("SHELTER_FUZZ_VERBOSE") != NULL;
	(void)argc;
	(void)argv;
	for (int i = 0; i < NKEYS; i++) {
		char label[64];

		snprintf(label, sizeof(label), "fuzz_fresh_wire key %d", i + 1);
		if (shelter_sha256(label, strlen(label), g_priv[i], NULL) < 0 ||
		    shelter_ed25519_public(g_priv[i], g_pub[i], NULL) < 0)
			die("fixed keys");
	}
	genesis_reset();
	if (dir != NULL) {
		seed_init(dir);
		seed_batch(dir);
		seed_answers(dir);
		seed_frames(dir);
		exit(0);
	}
	return 0;
}
