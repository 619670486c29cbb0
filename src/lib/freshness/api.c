/* include/shelter/freshness.h over the client of client.h. */
#include <stdlib.h>
#include <string.h>

#include "freshness/client.h"
#include "shelter/freshness.h"

struct shelter_freshness {
	struct fresh_client *client;
	struct fresh_policy_loaded policy; /* the client's policy points into it */
};

_Static_assert(SHELTER_FRESHNESS_HASH == FR_HASH, "one hash size");

int shelter_freshness_open(const char *addr, const uint8_t *genesis,
			   const struct shelter_freshness_trust *trust,
			   struct shelter_freshness **out, struct shelter_err *err)
{
	struct shelter_freshness *c;
	int rc;

	if (out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "freshness: no place for the client");
	*out = NULL;
	if (addr == NULL || trust == NULL || trust->nproviders == 0 || trust->providers == NULL ||
	    (trust->nmeasurements > 0 && trust->measurements == NULL))
		return shelter_err_set(err, SHELTER_E_INVAL, "freshness: want an address and at "
				       "least one provider");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "freshness: out of memory");
	rc = fresh_policy_load(&(struct fresh_policy_args){
				       .providers = trust->providers,
				       .nproviders = trust->nproviders,
				       .measurements = trust->measurements,
				       .nmeasurements = trust->nmeasurements,
				       .endorser_program = trust->endorser_program,
				       .accept_sim = trust->accept_sim,
			       },
			       &c->policy, err);
	if (rc == 0)
		rc = fresh_client_open(addr, genesis, &c->policy.policy, &c->client, err);
	if (rc < 0) {
		shelter_freshness_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void shelter_freshness_close(struct shelter_freshness *c)
{
	if (c == NULL)
		return;
	fresh_client_close(c->client);
	fresh_policy_unload(&c->policy);
	free(c);
}

void shelter_freshness_genesis(const struct shelter_freshness *c,
			       uint8_t out[SHELTER_FRESHNESS_HASH])
{
	fresh_client_genesis(c->client, out);
}

int shelter_freshness_create(struct shelter_freshness *c,
			     const uint8_t handle[SHELTER_FRESHNESS_HASH], const void *state,
			     size_t len, uint8_t tail[SHELTER_FRESHNESS_HASH],
			     struct shelter_err *err)
{
	if (c == NULL || handle == NULL || (state == NULL && len > 0))
		return shelter_err_set(err, SHELTER_E_INVAL, "freshness create: NULL argument");
	return fresh_client_create(c->client, handle, state, len, tail, err);
}

int shelter_freshness_append(struct shelter_freshness *c,
			     const uint8_t handle[SHELTER_FRESHNESS_HASH], uint64_t height,
			     const uint8_t prev[SHELTER_FRESHNESS_HASH], const void *state,
			     size_t len, uint8_t tail[SHELTER_FRESHNESS_HASH],
			     struct shelter_err *err)
{
	if (c == NULL || handle == NULL || prev == NULL || (state == NULL && len > 0))
		return shelter_err_set(err, SHELTER_E_INVAL, "freshness append: NULL argument");
	return fresh_client_append(c->client, handle, height, prev, state, len, tail, err);
}

int shelter_freshness_read(struct shelter_freshness *c,
			   const uint8_t handle[SHELTER_FRESHNESS_HASH],
			   struct shelter_freshness_state *out, struct shelter_err *err)
{
	struct fresh_state st = { 0 };
	int rc;

	if (c == NULL || handle == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "freshness read: NULL argument");
	memset(out, 0, sizeof(*out));
	rc = fresh_client_read(c->client, handle, &st, err);
	if (rc == 0) {
		out->height = st.height;
		memcpy(out->tail, st.tail, SHELTER_FRESHNESS_HASH);
		out->state = st.state;
		out->len = st.len;
	}
	return rc;
}

void shelter_freshness_state_free(struct shelter_freshness_state *s)
{
	if (s == NULL)
		return;
	free(s->state);
	s->state = NULL;
	s->len = 0;
}
