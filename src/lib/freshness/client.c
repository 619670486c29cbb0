/* The freshness client: docs/protocols/freshness.md §3.3 (the view ledger), §6. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "freshness/client.h"
#include "freshness/frame.h"
#include "freshness/net.h"
#include "freshness/service.h"
#include "shelter/measure.h"
#include "util/buf.h"

#define CALL_MS 30000

/* Batch signatures this process has verified. The receipts of one round share one
 * signature per endorser (§3.2), so the clients of a process whose appends share
 * rounds (threads of one program, §6.1) check each signature once. */
static pthread_mutex_t sigs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fr_sigcache sigs;

struct fresh_client {
	int fd;
	const struct fresh_policy *policy;
	uint8_t genesis[FR_HASH];
	uint8_t *view_body; /* the newest view reached from the genesis; view points here */
	struct fr_view view;
};

/* One request and its answer; FW_ERROR answers become their code and message. */
static int call(struct fresh_client *c, uint8_t type, const uint8_t *body, size_t len,
		uint8_t **ans, size_t *alen, struct shelter_err *err)
{
	char msg[FW_MESSAGE_MAX];
	uint8_t t = 0;
	int code = 0, rc = fw_send(c->fd, type, body, len, err);

	*ans = NULL;
	if (rc == 0)
		rc = fw_recv(c->fd, &t, ans, alen, err);
	if (rc == SHELTER_E_NOENT) /* fw_recv's end of stream: not an answer "not found" */
		rc = shelter_err_set(err, SHELTER_E_NET, "the coordinator closed the connection");
	if (rc == 0 && t == FW_ERROR) {
		rc = fw_error_decode(*ans, *alen, &code, msg, sizeof(msg)) == 0 ? code
									   : SHELTER_E_PROTO;
		/* The coordinator is not trusted: its "not found" is believed of a block only
		 * (fetch_block then fails closed, MISSING). That a handle was never created
		 * only f + 1 endorsers can say: fresh_client_read's NOENT, which callers take
		 * for "no state yet", must come from their receipts and nothing else. */
		if (rc == SHELTER_E_NOENT && type != FS_BLOCK)
			rc = SHELTER_E_PROTO;
		rc = shelter_err_set(err, rc, "coordinator: %s", msg);
	} else if (rc == 0 && t != (type | FW_ANSWER)) {
		rc = shelter_err_set(err, SHELTER_E_PROTO, "coordinator answered type 0x%02x", t);
	}
	if (rc < 0) {
		free(*ans);
		*ans = NULL;
	}
	return rc;
}

/* ---- the view ledger (§3.3) ---- */

/* Does rec follow view cur: numbered next, naming it, and locked for it by f + 1
 * distinct members of cur? */
static int check_transition(const struct fr_view *cur, const struct fs_view_rec *rec,
			    const struct fr_view *next, struct shelter_err *err)
{
	uint32_t seen = 0;
	unsigned have = 0;

	if (next->number != cur->number + 1 || memcmp(next->prev, cur->digest, FR_HASH) != 0)
		return shelter_err_set(err, SHELTER_E_UNTRUSTED, "view %" PRIu64 " does not follow "
				       "view %" PRIu64, next->number, cur->number);
	for (size_t i = 0; i < rec->nlocks; i++) {
		const struct fr_batch *b = &rec->locks[i];
		int m = fr_view_member(cur, b->pub);

		if (m < 0 || (seen & (1u << m)) || b->kind != FR_KIND_LOCK ||
		    memcmp(b->view, cur->digest, FR_HASH) != 0 ||
		    memcmp(b->nonce, next->digest, FR_HASH) != 0 || fr_batch_verify(b, NULL) < 0)
			continue;
		seen |= 1u << m;
		have++;
	}
	if (have < fr_view_f(cur) + 1)
		return shelter_err_set(err, SHELTER_E_UNTRUSTED, "view %" PRIu64 ": %u valid locks "
				       "of view %" PRIu64 ", %u needed", next->number, have,
				       cur->number, fr_view_f(cur) + 1);
	return 0;
}

int fresh_endorser_measurement(uint8_t out[SHELTER_MEASUREMENT_SIZE], struct shelter_err *err)
{
	return fresh_endorser_measurement_of("/proc/self/exe", out, err);
}

int fresh_endorser_measurement_of(const char *program, uint8_t out[SHELTER_MEASUREMENT_SIZE],
				  struct shelter_err *err)
{
	/* exactly what the endorser measures at start (endorser_main.c) */
	static const char *const argv[] = { "shelter", "freshness", "endorser" };
	struct shelter_measure_opts mo = { .program = program, .argv = argv, .argc = 3 };

	return shelter_measure(&mo, out, NULL, err);
}

/* §3.3: every member of v runs accepted endorser code on a trusted platform, and
 * its quote binds the key the view names. */
static int check_quotes(const struct fresh_policy *p, const struct fr_view *v,
			struct shelter_err *err)
{
	for (unsigned i = 0; i < v->n; i++) {
		struct shelter_quote_info info;
		uint8_t rd[SHELTER_REPORT_DATA_SIZE];
		int rc = shelter_quote_verify(v->quotes[i], v->quote_len[i], p->trust, &info, err);
		int known = 0;

		if (rc == 0 && (fr_endorser_report_data(v->keys[i], rd) < 0 ||
				memcmp(rd, info.report_data, sizeof(rd)) != 0))
			rc = shelter_err_set(err, SHELTER_E_UNTRUSTED, "the quote does not bind the "
					     "member's key");
		if (rc == 0 && (info.id.flags & SHELTER_TEE_FLAG_SIM) && !p->accept_sim)
			rc = shelter_err_set(err, SHELTER_E_POLICY, "a sim quote, and sim endorsers "
					     "are not accepted");
		for (size_t m = 0; rc == 0 && m < p->nmeasurements; m++)
			known |= memcmp(p->measurements[m], info.id.measurement,
					SHELTER_MEASUREMENT_SIZE) == 0;
		if (rc == 0 && !known)
			rc = shelter_err_set(err, SHELTER_E_POLICY, "not an accepted endorser "
					     "measurement");
		if (rc < 0) {
			char hex[17];

			shelter_hex(v->keys[i], 8, hex);
			return shelter_err_wrap(err, rc, "view %" PRIu64 ", endorser %s", v->number, hex);
		}
	}
	return 0;
}

/* Adopt the view record rec (its body copied). */
static int adopt(struct fresh_client *c, const struct fs_view_rec *rec, struct shelter_err *err)
{
	uint8_t *body = malloc(rec->view_len ? rec->view_len : 1);
	int rc;

	if (body == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	memcpy(body, rec->view, rec->view_len);
	rc = fr_view_decode(body, rec->view_len, &c->view, err);
	if (rc < 0) {
		free(body);
		return rc;
	}
	free(c->view_body);
	c->view_body = body;
	return 0;
}

/* Follow the ledger from the view after the one held (or from the genesis). */
static int follow(struct fresh_client *c, const uint8_t *pin, struct shelter_err *err)
{
	uint64_t from = c->view_body != NULL ? c->view.number + 1 : 0;
	uint8_t req[8], *ans = NULL;
	size_t alen = 0;
	struct shelter_rbuf r;
	uint32_t count;
	int rc;

	shelter_store_be(req, from, 8);
	rc = call(c, FS_LEDGER, req, sizeof(req), &ans, &alen, err);
	if (rc < 0)
		return rc;
	shelter_rbuf_init(&r, ans, alen);
	count = shelter_rbuf_u32(&r);
	for (uint32_t i = 0; i < count && rc == 0; i++) {
		uint32_t len = shelter_rbuf_u32(&r);
		const uint8_t *p = shelter_rbuf_take(&r, len);
		struct fs_view_rec rec;
		struct fr_view next;
		size_t used = 0;

		if (p == NULL) {
			rc = shelter_err_set(err, SHELTER_E_PROTO, "ledger answer cut short");
			break;
		}
		rc = fs_view_rec_decode(p, len, &used, &rec, err);
		if (rc == 0)
			rc = fr_view_decode(rec.view, rec.view_len, &next, err);
		if (rc == 0)
			rc = check_quotes(c->policy, &next, err);
		if (rc == 0 && c->view_body == NULL) { /* the genesis */
			if (next.number != 0 || (pin != NULL && memcmp(next.digest, pin, FR_HASH) != 0))
				rc = shelter_err_set(err, SHELTER_E_UNTRUSTED, "the service's genesis is "
						     "not the one pinned");
			else
				memcpy(c->genesis, next.digest, FR_HASH);
		} else if (rc == 0) {
			rc = check_transition(&c->view, &rec, &next, err);
		}
		if (rc == 0)
			rc = adopt(c, &rec, err);
		fs_view_rec_free(&rec);
	}
	if (rc == 0 && c->view_body == NULL)
		rc = shelter_err_set(err, SHELTER_E_NOENT, "the service has no genesis yet");
	free(ans);
	return rc;
}

int fresh_client_open(const char *addr, const uint8_t *genesis,
		      const struct fresh_policy *policy, struct fresh_client **out,
		      struct shelter_err *err)
{
	struct fresh_client *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (c == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	c->fd = -1;
	c->policy = policy;
	rc = policy != NULL && policy->trust != NULL
		     ? fresh_dial(addr, CALL_MS, &c->fd, err)
		     : shelter_err_set(err, SHELTER_E_INVAL, "no policy for endorsers");
	if (rc == 0)
		rc = follow(c, genesis, err);
	if (rc < 0) {
		fresh_client_close(c);
		return shelter_err_wrap(err, rc, "freshness service %s", addr);
	}
	*out = c;
	return 0;
}

void fresh_client_close(struct fresh_client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->view_body);
	free(c);
}

void fresh_client_genesis(const struct fresh_client *c, uint8_t out[FR_HASH])
{
	memcpy(out, c->genesis, FR_HASH);
}

uint64_t fresh_client_view(const struct fresh_client *c)
{
	return c->view.number;
}

/* ---- writes (§6.1) ---- */

/* Send a write and check that its answer certifies (handle, height, tail); follow
 * the ledger once if the receipts name a newer view. */
static int certified_write(struct fresh_client *c, uint8_t type, const struct fs_write *w,
			   const uint8_t tail[FR_HASH], struct shelter_err *err)
{
	struct fs_receipts rs = { 0 };
	uint8_t *body = NULL, *ans = NULL;
	size_t len = 0, alen = 0;
	int rc = fs_write_encode(type, w, &body, &len, err);

	for (int attempt = 0; rc == 0 && attempt < 2; attempt++) {
		rc = call(c, type, body, len, &ans, &alen, err);
		if (rc == 0)
			rc = fs_receipts_decode(ans, alen, &rs, err);
		free(ans);
		ans = NULL;
		if (rc == 0) {
			pthread_mutex_lock(&sigs_mu);
			rc = fr_cert_check_cached(&c->view, rs.r, rs.count, w->handle, w->height,
						  tail, &sigs, err);
			pthread_mutex_unlock(&sigs_mu);
		}
		if (rc == SHELTER_E_UNTRUSTED && attempt == 0 && rs.count > 0 &&
		    memcmp(rs.r[0].view, c->view.digest, FR_HASH) != 0) {
			fs_receipts_free(&rs);
			rc = follow(c, NULL, err); /* a reconfiguration happened */
			continue;
		}
		break;
	}
	fs_receipts_free(&rs);
	free(body);
	return rc;
}

static int write_state(struct fresh_client *c, uint8_t type, const uint8_t handle[FR_HASH],
		       uint64_t height, const uint8_t prev[FR_HASH], const uint8_t *state,
		       size_t len, uint8_t tail_out[FR_HASH], struct shelter_err *err)
{
	struct fs_write w = { .height = height, .blob = state, .blob_len = len };
	uint8_t tail[FR_HASH];
	int rc;

	memcpy(w.handle, handle, FR_HASH);
	if (prev != NULL)
		memcpy(w.prev, prev, FR_HASH);
	if (shelter_sha256(state, len, w.digest, NULL) < 0)
		return shelter_err_set(err, SHELTER_E_CRYPTO, "SHA-256 failed");
	rc = height == 0 ? fr_tail_genesis(handle, w.digest, tail)
			 : fr_tail_next(prev, height, w.digest, tail);
	if (rc == 0)
		rc = certified_write(c, type, &w, tail, err);
	if (rc == 0 && tail_out != NULL)
		memcpy(tail_out, tail, FR_HASH);
	return rc < 0 ? shelter_err_wrap(err, rc, "height %" PRIu64, height) : 0;
}

int fresh_client_create(struct fresh_client *c, const uint8_t handle[FR_HASH],
			const uint8_t *state, size_t len, uint8_t tail[FR_HASH],
			struct shelter_err *err)
{
	return write_state(c, FS_CREATE, handle, 0, NULL, state, len, tail, err);
}

int fresh_client_append(struct fresh_client *c, const uint8_t handle[FR_HASH], uint64_t height,
			const uint8_t prev[FR_HASH], const uint8_t *state, size_t len,
			uint8_t tail[FR_HASH], struct shelter_err *err)
{
	if (height == 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "append at height 0 (create it)");
	return write_state(c, FS_APPEND, handle, height, prev, state, len, tail, err);
}

/* ---- reads and recovery (§6.2, §6.3) ---- */

/* The READ receipts that answer this nonce for this handle, from distinct members
 * of the current view; their entries into es. */
static size_t fresh_answers(const struct fresh_client *c, const struct fs_receipts *rs,
			    const uint8_t handle[FR_HASH], const uint8_t nonce[FR_HASH],
			    const struct fr_entry **es, int *locked)
{
	uint32_t seen = 0;
	size_t n = 0;

	*locked = 0;
	for (size_t i = 0; i < rs->count; i++) {
		const struct fr_receipt *r = &rs->r[i];
		int m = fr_view_member(&c->view, r->pub);

		if (m < 0 || (seen & (1u << m)) || r->kind != FR_KIND_READ ||
		    memcmp(r->view, c->view.digest, FR_HASH) != 0 ||
		    memcmp(r->nonce, nonce, FR_HASH) != 0 ||
		    memcmp(r->entry.handle, handle, FR_HASH) != 0 || fr_receipt_verify(r, NULL) < 0)
			continue;
		seen |= 1u << m;
		*locked |= (r->entry.flags & FR_FLAG_LOCKED) != 0;
		es[n++] = &r->entry;
	}
	return n;
}

/* The latest (height, tail) per §6.2, with a fresh nonce. */
static int read_latest(struct fresh_client *c, const uint8_t handle[FR_HASH], struct fr_entry *top,
		       struct shelter_err *err)
{
	const struct fr_entry *es[FR_VIEW_MAX];
	struct fs_receipts rs = { 0 };
	uint8_t req[2 * FR_HASH], *ans = NULL;
	size_t alen = 0, n = 0;
	int rc = 0, locked = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		memcpy(req, handle, FR_HASH);
		rc = shelter_random_bytes(req + FR_HASH, FR_HASH, err);
		if (rc == 0)
			rc = call(c, FS_READ, req, sizeof(req), &ans, &alen, err);
		if (rc == 0)
			rc = fs_receipts_decode(ans, alen, &rs, err);
		free(ans);
		ans = NULL;
		if (rc < 0)
			break;
		n = fresh_answers(c, &rs, handle, req + FR_HASH, es, &locked);
		if (!locked && (n >= fr_view_f(&c->view) + 1 || attempt == 1 || rs.count == 0 ||
				memcmp(rs.r[0].view, c->view.digest, FR_HASH) == 0))
			break;
		if (attempt == 1)
			break;
		fs_receipts_free(&rs);
		/* answered from a newer view, or this one is being replaced (§6.2: a locked
		 * endorser's answers fail the read): follow the ledger and read again */
		rc = follow(c, NULL, err);
		if (rc < 0)
			break;
	}
	if (rc == 0 && locked)
		rc = shelter_err_set(err, SHELTER_E_CONFLICT, "view %" PRIu64 " is being replaced "
				     "(its endorsers are locked); read again once the new view is "
				     "in the ledger", c->view.number);
	if (rc == 0 && n < fr_view_f(&c->view) + 1)
		rc = shelter_err_set(err, SHELTER_E_NET, "%zu endorsers of view %" PRIu64 " answered, "
				     "%u needed", n, c->view.number, fr_view_f(&c->view) + 1);
	if (rc == 0) {
		const struct fr_receipt *certs[1] = { rs.cert };

		rc = fr_decide(es, n, &c->view, certs, &rs.cert_count, rs.cert_count > 0, top, err);
	}
	fs_receipts_free(&rs);
	return rc;
}

/* The block the store holds at height of handle: decoded, its digest checked against
 * its state, and the tail it makes on its own tail below into tail. */
static int check_block(const uint8_t *raw, size_t len, const uint8_t handle[FR_HASH],
		       uint64_t height, struct fs_write *w, uint8_t tail[FR_HASH],
		       struct shelter_err *err)
{
	uint8_t digest[FR_HASH];
	int rc = fs_block_decode(raw, len, w, err);

	if (rc == 0 && (shelter_sha256(w->blob, w->blob_len, digest, NULL) < 0 ||
			memcmp(digest, w->digest, FR_HASH) != 0))
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY, "the stored state at height %" PRIu64
				     " does not match its digest", height);
	if (rc == 0)
		rc = height == 0 ? fr_tail_genesis(handle, w->digest, tail)
				 : fr_tail_next(w->prev, height, w->digest, tail);
	memcpy(w->handle, handle, FR_HASH);
	w->height = height;
	return rc;
}

/* The block at height of handle as the coordinator answers it (NOENT: none). */
static int get_block(struct fresh_client *c, const uint8_t handle[FR_HASH], uint64_t height,
		     uint8_t **raw, size_t *len, struct shelter_err *err)
{
	uint8_t req[FR_HASH + 8];

	memcpy(req, handle, FR_HASH);
	shelter_store_be(req + FR_HASH, height, 8);
	return call(c, FS_BLOCK, req, sizeof(req), raw, len, err);
}

/* The block the endorsers vouch for: its digest and tail must match top. */
static int fetch_block(struct fresh_client *c, const struct fr_entry *top, uint8_t **raw,
		       struct fs_write *w, struct shelter_err *err)
{
	uint8_t tail[FR_HASH];
	size_t len = 0;
	int rc = get_block(c, top->handle, top->height, raw, &len, err);

	if (rc == SHELTER_E_NOENT)
		return shelter_err_set(err, SHELTER_E_MISSING, "the state at height %" PRIu64 " is "
				       "gone from the store; refusing any older one (§6.3)",
				       top->height);
	if (rc == 0)
		rc = check_block(*raw, len, top->handle, top->height, w, tail, err);
	if (rc == 0 && memcmp(tail, top->tail, FR_HASH) != 0)
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY, "the stored state at height %" PRIu64
				     " is not the one the endorsers signed", top->height);
	return rc;
}

/* §6.3 step 4: a block pending one above the latest *top (at 0 when the handle is
 * absent) whose tail below is top's was never acknowledged: finish it like step 3,
 * and it becomes the latest (*top, *raw and *w replaced). With none, nothing changes.
 * One step only: the writer stores a block at h + 2 only after f + 1 endorsers
 * certified h + 1 (§6.1), and then the read finds h + 1 the latest (§6.2). */
static int finish_pending(struct fresh_client *c, const uint8_t handle[FR_HASH],
			  struct fr_entry *top, uint8_t **raw, struct fs_write *w,
			  struct shelter_err *err)
{
	uint64_t height = top->height == FR_ABSENT ? 0 : top->height + 1;
	struct fs_write next;
	uint8_t *nraw = NULL, tail[FR_HASH];
	size_t len = 0;
	int rc = get_block(c, handle, height, &nraw, &len, err);

	if (rc == SHELTER_E_NOENT) /* nothing pending (a store hiding one: §6.3, out of scope) */
		return 0;
	if (rc < 0)
		return rc;
	/* A block that is corrupt or does not chain is no write of this chain's writer:
	 * left alone, not finished. The next write's put meets it at this height and
	 * fails with CONFLICT (§5: CAS on absence) instead of proposing a second tail
	 * here (§6.3 step 4). */
	if (check_block(nraw, len, handle, height, &next, tail, NULL) < 0 ||
	    (height > 0 && memcmp(next.prev, top->tail, FR_HASH) != 0)) {
		free(nraw);
		return 0;
	}
	rc = certified_write(c, height == 0 ? FS_CREATE : FS_APPEND, &next, tail, err);
	if (rc < 0) {
		free(nraw);
		return shelter_err_wrap(err, rc, "finishing the pending state at height %" PRIu64,
					height);
	}
	free(*raw);
	*raw = nraw;
	*w = next;
	memcpy(top->handle, handle, FR_HASH);
	top->height = height;
	memcpy(top->tail, tail, FR_HASH);
	top->flags = FR_FLAG_CERTIFIED;
	return 0;
}

int fresh_client_read(struct fresh_client *c, const uint8_t handle[FR_HASH],
		      struct fresh_state *out, struct shelter_err *err)
{
	struct fr_entry top;
	struct fs_write w = { 0 };
	uint8_t *raw = NULL;
	int rc = read_latest(c, handle, &top, err);
	int absent = rc == 0 && top.height == FR_ABSENT;

	memset(out, 0, sizeof(*out));
	if (rc == 0 && !absent)
		rc = fetch_block(c, &top, &raw, &w, err);
	/* §6.2: another writer of the handle may have moved on since the answers, and the
	 * store pruned the block below its newer certificate (§5). Read again: only a
	 * block missing at a height the endorsers still vouch for is MISSING. */
	for (int again = 0; rc == SHELTER_E_MISSING && again < 3; again++) {
		struct fr_entry now;
		uint64_t was = top.height;

		if (read_latest(c, handle, &now, NULL) < 0 || now.height == FR_ABSENT ||
		    now.height <= was)
			break;
		top = now;
		rc = fetch_block(c, &top, &raw, &w, err);
	}
	/* §6.3 step 3: a step that began and was not certified is finished */
	if (rc == 0 && !absent && !(top.flags & FR_FLAG_CERTIFIED))
		rc = certified_write(c, top.height == 0 ? FS_CREATE : FS_APPEND, &w, top.tail, err);
	/* step 4: so is a block pending one above it */
	if (rc == 0)
		rc = finish_pending(c, handle, &top, &raw, &w, err);
	if (rc == 0 && top.height == FR_ABSENT)
		rc = shelter_err_set(err, SHELTER_E_NOENT, "no such handle");
	if (rc == 0) {
		out->state = malloc(w.blob_len ? w.blob_len : 1);
		if (out->state == NULL)
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	}
	if (rc == 0) {
		memcpy(out->state, w.blob, w.blob_len);
		out->len = w.blob_len;
		out->height = top.height;
		memcpy(out->tail, top.tail, FR_HASH);
	}
	free(raw);
	return rc < 0 ? shelter_err_wrap(err, rc, "read") : 0;
}
