/* Session cache: each session's policy parsed and its trust store built once per
 * version, shared by the attestation workers (cas.h). */
#include <stdlib.h>
#include <string.h>

#include "cas/cas.h"
#include "cas/secrets.h"
#include "shelter/crypto.h"

/* What a load job reads from the store. */
struct load_ctx {
	const char *name;
	char *policy;
	size_t policy_size;
	uint8_t hash[32];
	long long version;
	json_t *crls; /* array of {"provider": hex, "pem": text} */
};

static unsigned bucket_of(const char *name)
{
	unsigned h = 2166136261u; /* FNV-1a: names are not secret, only spread */

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h % CAS_CACHE_BUCKETS;
}

static int load_job(sqlite3 *db, void *arg, struct shelter_err *err)
{
	struct load_ctx *c = arg;
	sqlite3_stmt *st = NULL;
	int rc = cas_sql_prepare(db, "SELECT policy, hash, version FROM sessions WHERE name = ?",
				 &st, err);

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		c->policy_size = (size_t)sqlite3_column_bytes(st, 0);
		c->policy = malloc(c->policy_size + 1);
		if (c->policy == NULL || sqlite3_column_bytes(st, 1) != 32) {
			rc = shelter_err_set(err, SHELTER_E_INTEGRITY, "session '%s': bad row",
					     c->name);
			break;
		}
		memcpy(c->policy, sqlite3_column_text(st, 0), c->policy_size + 1);
		memcpy(c->hash, sqlite3_column_blob(st, 1), 32);
		c->version = sqlite3_column_int64(st, 2);
		break;
	case SQLITE_DONE:
		rc = shelter_err_set(err, SHELTER_E_NOENT, "no session '%s'", c->name);
		break;
	default:
		rc = cas_sql_fail(db, "read session", err);
	}
	cas_sql_done(st);
	st = NULL;
	if (rc < 0)
		return rc;
	c->crls = json_array();
	rc = cas_sql_prepare(db, "SELECT provider, pem FROM crls", &st, err);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		char hex[65];

		if (sqlite3_column_bytes(st, 0) != 32)
			continue;
		shelter_hex(sqlite3_column_blob(st, 0), 32, hex);
		json_array_append_new(c->crls,
				      json_pack("{s:s, s:s}", "provider", hex, "pem",
						(const char *)sqlite3_column_text(st, 1)));
	}
	cas_sql_done(st);
	return rc;
}

static void session_free(struct cas_session *s)
{
	if (s == NULL)
		return;
	cas_policy_free(s->policy);
	shelter_trust_free(s->trust);
	cas_json_wipe_decref(s->secrets);
	cas_json_wipe_decref(s->volume_keys);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Build the trust store: the policy's provider CAs and the newest CRL of each. */
static int build_trust(struct cas_session *s, json_t *crls, struct shelter_err *err)
{
	size_t n = cas_policy_provider_count(s->policy), i;
	json_t *crl;
	int rc = shelter_trust_new(&s->trust, err);

	for (size_t p = 0; rc == 0 && p < n; p++) {
		const struct cas_policy_provider *prov = cas_policy_provider(s->policy, p);
		char hex[65];

		rc = shelter_trust_add_provider(s->trust, prov->ca_pem, prov->ca_pem_size, NULL, err);
		shelter_hex(prov->id, 32, hex);
		json_array_foreach(crls, i, crl) {
			const char *pem = json_string_value(json_object_get(crl, "pem"));

			if (rc < 0 ||
			    strcmp(json_string_value(json_object_get(crl, "provider")), hex) != 0)
				continue;
			rc = shelter_trust_add_crl(s->trust, pem, strlen(pem), err);
		}
	}
	return rc;
}

static struct cas_session *cache_find(struct cas *cas, const char *name)
{
	for (struct cas_session *s = cas->cache[bucket_of(name)]; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

int cas_session_get(struct cas *cas, const char *name, struct cas_session **out,
		    struct shelter_err *err)
{
	struct load_ctx c = { .name = name };
	struct cas_session *s;
	uint64_t gen;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&cas->cache_mu);
	s = cache_find(cas, name);
	if (s != NULL)
		s->refs++;
	gen = cas->cache_gen;
	pthread_mutex_unlock(&cas->cache_mu);
	if (s != NULL) {
		*out = s;
		return 0;
	}
	if (strlen(name) > CAS_POLICY_NAME_MAX)
		return shelter_err_set(err, SHELTER_E_NOENT, "no session '%.64s...'", name);
	rc = cas_store_run(cas->store, load_job, &c, err);
	if (rc < 0)
		goto out;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "session '%s'", name);
		goto out;
	}
	pthread_mutex_init(&s->mu, NULL);
	strcpy(s->name, name);
	memcpy(s->hash, c.hash, 32);
	s->version = c.version;
	s->refs = 1;
	rc = cas_policy_parse(c.policy, c.policy_size, &s->policy, err);
	if (rc == 0)
		rc = build_trust(s, c.crls, err);
	if (rc < 0) {
		session_free(s);
		rc = shelter_err_wrap(err, rc, "session '%s'", name);
		goto out;
	}
	pthread_mutex_lock(&cas->cache_mu);
	/* Cache it only when no change happened while it was loading (cache_gen). */
	if (cas->cache_gen == gen && cache_find(cas, name) == NULL) {
		unsigned b = bucket_of(name);

		s->refs++;
		s->next = cas->cache[b];
		cas->cache[b] = s;
	}
	pthread_mutex_unlock(&cas->cache_mu);
	*out = s;
out:
	free(c.policy);
	json_decref(c.crls);
	return rc;
}

void cas_session_put(struct cas *cas, struct cas_session *s)
{
	int last;

	if (s == NULL)
		return;
	pthread_mutex_lock(&cas->cache_mu);
	last = --s->refs == 0;
	pthread_mutex_unlock(&cas->cache_mu);
	if (last)
		session_free(s);
}

void cas_cache_invalidate(struct cas *cas)
{
	struct cas_session *drop = NULL;

	pthread_mutex_lock(&cas->cache_mu);
	cas->cache_gen++;
	for (unsigned b = 0; b < CAS_CACHE_BUCKETS; b++) {
		while (cas->cache[b] != NULL) {
			struct cas_session *s = cas->cache[b];

			cas->cache[b] = s->next;
			s->next = NULL;
			if (--s->refs == 0) {
				s->next = drop;
				drop = s;
			}
		}
	}
	pthread_mutex_unlock(&cas->cache_mu);
	while (drop != NULL) {
		struct cas_session *s = drop;

		drop = s->next;
		session_free(s);
	}
}

void cas_cache_free(struct cas *cas)
{
	cas_cache_invalidate(cas);
}
