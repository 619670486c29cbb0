/* Volumes bound to a freshness service (docs/shield.md §6.6, docs/protocols/
 * freshness.md §11).
 *
 * The volume's handle is HKDF-SHA256(K, "shelter-shield freshness handle v1") of its
 * sealed tag key K (tags.c), so it names the volume without saying which one; the
 * state kept is the 84-byte sealed tag record of §6.2, so the service never learns
 * the tag and a state of another volume does not authenticate. The client is the
 * freshness client of src/lib/freshness/client.h as StreamLog's anchor uses it: pinned
 * genesis, endorsers believed only under the measured policy.
 *
 * Calls on one struct shield_bound come from one thread at a time (tags.c holds the
 * volume's recording lock around them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "freshness/client.h"
#include "shelter/crypto.h"
#include "shelter/measure.h"
#include "shield/launch.h"
#include "shield/shield.h"

/* tries per put when other writers of the volume keep winning the height, and per
 * read when their pending blocks are in flight */
#define PUT_ATTEMPTS 10
#define READ_ATTEMPTS 10

struct shield_binding {
	char addr[256];
	uint8_t genesis[FR_HASH];
	struct fresh_policy_loaded policy;
};

struct shield_bound {
	struct shield_binding *b;
	const struct shield_tagfile *t; /* borrowed: the volume's tag record keys */
	uint8_t handle[FR_HASH];
	struct fresh_client *client;    /* NULL until used, and after a failure */
	int have;                       /* the handle holds a state: height, tail known */
	int stale;                      /* read the latest before the next write */
	uint64_t height;
	uint8_t tail[FR_HASH];
};

/* The provider named by the binding is the one in dir: the measured binding says
 * which provider vouches for the endorsers' platforms; the directory is only where
 * this host keeps its certificate. */
int shield_binding_new(const char *addr, const struct shelter_measure_freshness *f,
		       const char *provider_dir, struct shield_binding **out,
		       struct shelter_err *err)
{
	const char *providers[1] = { provider_dir };
	struct fresh_policy_args in = {
		.providers = providers, .nproviders = 1,
		.measurements = (const uint8_t (*)[SHELTER_MEASUREMENT_SIZE])f->endorsers,
		.nmeasurements = f->endorser_count,
		.accept_sim = (f->flags & SHELTER_MEASURE_FRESH_ACCEPT_SIM) != 0,
	};
	struct shield_binding *b = calloc(1, sizeof(*b));
	uint8_t id[32];
	int rc;

	*out = NULL;
	if (b == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "freshness binding: out of memory");
	if (snprintf(b->addr, sizeof(b->addr), "%s", addr) >= (int)sizeof(b->addr)) {
		free(b);
		return shelter_err_set(err, SHELTER_E_INVAL, "freshness service address too long");
	}
	memcpy(b->genesis, f->genesis, FR_HASH);
	rc = shelter_measure_freshness_provider(provider_dir, id, err);
	if (rc == 0 && !shelter_ct_equal(id, f->provider, sizeof(id)))
		rc = shelter_err_set(err, SHELTER_E_POLICY, "provider '%s' is not the one the "
				     "measured binding names", provider_dir);
	if (rc == 0)
		rc = fresh_policy_load(&in, &b->policy, err);
	if (rc < 0) {
		fresh_policy_unload(&b->policy);
		free(b);
		return shelter_err_wrap(err, rc, "freshness binding");
	}
	*out = b;
	return 0;
}

const char *shield_binding_addr(const struct shield_binding *b)
{
	return b->addr;
}

/* ---- one volume ---- */

static int connected(struct shield_bound *v, struct shelter_err *err)
{
	if (v->client != NULL)
		return 0;
	return fresh_client_open(v->b->addr, v->b->genesis, &v->b->policy.policy, &v->client,
				 err);
}

/* A failed call leaves the connection in an unknown state (an answer half read):
 * dropped, and the next write starts from a fresh read (a write that failed may
 * have got through in part: the read finishes it, freshness.md §6.3 step 4). */
static void drop(struct shield_bound *v)
{
	fresh_client_close(v->client);
	v->client = NULL;
	v->stale = 1;
}

/* Whether a read that failed with rc on attempt is worth another: a dropped
 * connection once; an ambiguous answer (§6.2: CONFLICT), or a pending block of
 * another writer of the volume that the read tried to finish while that writer was
 * still certifying it (UNTRUSTED: no certificate came back), a few times with a
 * growing pause. Nothing is believed without f + 1 receipts: a retry only asks
 * again, and an attacker who keeps answering badly gets a failure, not a state. */
static int read_again(int rc, int attempt)
{
	if (rc == SHELTER_E_NET || rc == SHELTER_E_IO)
		return attempt == 0;
	if ((rc != SHELTER_E_CONFLICT && rc != SHELTER_E_UNTRUSTED) || attempt + 1 >= READ_ATTEMPTS)
		return 0;
	usleep((useconds_t)(1000 * (attempt + 1)));
	return 1;
}

/* The latest state of the handle into *st (NOENT from f + 1 endorsers: *absent). */
static int read_latest(struct shield_bound *v, struct fresh_state *st, int *absent,
		       struct shelter_err *err)
{
	int rc;

	*absent = 0;
	memset(st, 0, sizeof(*st));
	for (int attempt = 0;; attempt++) {
		rc = connected(v, err);
		if (rc == 0)
			rc = fresh_client_read(v->client, v->handle, st, err);
		if (rc == SHELTER_E_NOENT) {
			shelter_err_clear(err);
			*absent = 1;
			rc = 0;
		}
		if (rc == 0)
			break;
		drop(v);
		if (!read_again(rc, attempt))
			return rc;
		shelter_err_clear(err);
	}
	v->have = !*absent;
	v->stale = 0;
	if (v->have) {
		v->height = st->height;
		memcpy(v->tail, st->tail, FR_HASH);
	}
	return 0;
}

int shield_bound_open(struct shield_binding *b, const struct shield_tagfile *t,
		      struct shield_bound **out, uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
		      enum shield_tagfile_state *state, struct shelter_err *err)
{
	struct shield_bound *v = calloc(1, sizeof(*v));
	struct fresh_state st;
	int absent = 0, rc;

	*out = NULL;
	*state = SHIELD_TAG_NONE;
	if (v == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "freshness binding: out of memory");
	v->b = b;
	v->t = t;
	shield_tagfile_handle(t, v->handle);
	rc = read_latest(v, &st, &absent, err);
	/* the state is a sealed tag record of this volume, or it is not ours */
	if (rc == 0 && !absent)
		rc = shield_tagrec_parse(t, st.state, st.len, tag, state, err);
	free(st.state);
	if (rc < 0) {
		shield_bound_free(v);
		return shelter_err_wrap(err, rc, "freshness service %s", b->addr);
	}
	*out = v;
	return 0;
}

/* §6.1: create at the first state, else append at height + 1 on the tail. */
static int write_state(struct shield_bound *v, const uint8_t rec[SHIELD_TAGREC_SIZE],
		       struct shelter_err *err)
{
	uint8_t tail[FR_HASH];
	int rc;

	if (v->have)
		rc = fresh_client_append(v->client, v->handle, v->height + 1, v->tail, rec,
					 SHIELD_TAGREC_SIZE, tail, err);
	else
		rc = fresh_client_create(v->client, v->handle, rec, SHIELD_TAGREC_SIZE, tail, err);
	if (rc < 0)
		return rc;
	v->height = v->have ? v->height + 1 : 0;
	v->have = 1;
	memcpy(v->tail, tail, FR_HASH);
	return 0;
}

/* After a CONFLICT, whether rc is worth another read and write: another CONFLICT,
 * or the read meeting the other writer's block while that writer is still
 * certifying it (the read's finishing step then gets no certificate: UNTRUSTED).
 * Nothing is believed without f + 1 receipts either way; the retry only asks again. */
static int racing(int rc, int conflicted)
{
	return rc == SHELTER_E_CONFLICT || (conflicted && rc == SHELTER_E_UNTRUSTED);
}

/* A CONFLICT means another process of the volume (a forked child, a daemon's parent)
 * wrote at that height: read its state and write ours on top (as the CAS mode's
 * compare-and-swap does, §6.3), a few times, with a growing pause so the other
 * writer can finish. A network failure gets one new connection. */
int shield_bound_put(struct shield_bound *v, const uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
		     struct shelter_err *err)
{
	uint8_t rec[SHIELD_TAGREC_SIZE], nonce[SHELTER_GCM_NONCE_SIZE];
	struct fresh_state st;
	int rc = shelter_random_bytes(nonce, sizeof(nonce), err), absent = 0, nets = 0, done = 0;
	int conflicted = 0;

	if (rc == 0)
		rc = shield_tagrec_seal(v->t, tag, nonce, rec, err);
	for (int attempt = 0; rc == 0 && !done && attempt < PUT_ATTEMPTS; attempt++) {
		rc = connected(v, err);
		if (rc == 0 && v->stale) {
			rc = read_latest(v, &st, &absent, err);
			free(st.state);
		}
		if (rc == 0)
			rc = write_state(v, rec, err);
		if (rc == 0) {
			done = 1;
			break;
		}
		drop(v);
		if (racing(rc, conflicted) && attempt + 1 < PUT_ATTEMPTS) {
			conflicted = 1;
			shelter_err_clear(err);
			rc = 0;
			usleep((useconds_t)(1000 * (attempt + 1)));
			continue;
		}
		if ((rc == SHELTER_E_NET || rc == SHELTER_E_IO) && nets++ == 0) {
			shelter_err_clear(err);
			rc = 0;
			continue;
		}
		break;
	}
	if (rc == 0 && !done)
		rc = shelter_err_set(err, SHELTER_E_CONFLICT, "the handle kept changing under "
				     "other writers");
	OPENSSL_cleanse(rec, sizeof(rec));
	return rc < 0 ? shelter_err_wrap(err, rc, "freshness service %s", v->b->addr) : 0;
}

/* A forked child must not speak on its parent's connection: it opens its own. */
void shield_bound_after_fork(struct shield_bound *v)
{
	if (v == NULL)
		return;
	drop(v);
}

void shield_bound_free(struct shield_bound *v)
{
	if (v == NULL)
		return;
	fresh_client_close(v->client);
	free(v);
}
