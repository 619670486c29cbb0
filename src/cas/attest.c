/* The attestation exchange of the CAS (docs/api/cas.md §4-§5). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/ratls.h"
#include "cas/audit.h"
#include "cas/cas.h"
#include "cas/secrets.h"
#include "net/tls.h"
#include "shelter/crypto.h"

double cas_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cas_handle_attest_nonce(struct cas *cas, struct cas_conn_state *cs, struct cas_reply *r)
{
	struct shelter_err err;
	char hex[65];

	shelter_err_clear(&err);
	if (shelter_random_bytes(cs->nonce, sizeof(cs->nonce), &err) < 0) {
		cas_reply_error(r, 500, "internal", "nonce: %s", err.msg);
		return;
	}
	cs->nonce_issued = cas_monotonic();
	cs->nonce_used = 0;
	shelter_hex(cs->nonce, sizeof(cs->nonce), hex);
	cas_reply_json(r, 200, json_pack("{s:s, s:i}", "nonce", hex, "expires_in",
					 (int)(cas->cfg->nonce_ttl ? cas->cfg->nonce_ttl : 60)));
}

/* What one attestation asks and what the committer gives back. */
struct attest_job {
	struct cas_session *session;
	const struct shelter_quote_info *qi;
	const char *peer;
	/* acceptance: names released, and the volumes whose tags to read */
	json_t *released_secrets, *volumes;
	json_t *tags; /* out: volume name -> hex tag or null */
	/* refusal to record instead (code != NULL) */
	const char *code;
	const char *reason;
	int changed; /* out: the session changed while this attestation was checked */
};

static const char *field_key(enum cas_secret_field f)
{
	switch (f) {
	case CAS_FIELD_HEX: return "hex";
	case CAS_FIELD_BASE64: return "base64";
	case CAS_FIELD_VALUE: return "value";
	case CAS_FIELD_PRIVATE_PEM: return "private_pem";
	case CAS_FIELD_PUBLIC_PEM: return "public_pem";
	case CAS_FIELD_PUBLIC_HEX: return "public_hex";
	case CAS_FIELD_CERT: return "cert";
	case CAS_FIELD_KEY: return "key";
	case CAS_FIELD_CA: return "ca";
	case CAS_FIELD_CHAIN: return "chain";
	default: return "?";
	}
}

/* ---- the values a session version launches with (cas.h) ---- */

struct prepare_job {
	const struct cas_session *session;
	json_t *secrets, *volume_keys; /* out */
};

/* Committer: read, or generate and store, every secret the launch uses and every
 * volume key. */
static int prepare_job(sqlite3 *db, void *arg, struct shelter_err *err)
{
	struct prepare_job *j = arg;
	const struct cas_policy *p = j->session->policy;
	int rc = 0;

	j->secrets = json_object();
	j->volume_keys = json_object();
	for (size_t i = 0; rc == 0 && i < cas_policy_secret_count(p); i++) {
		const struct cas_secret_spec *spec = cas_policy_secret(p, i);
		json_t *fields = NULL;

		if (cas_policy_secret_fields(p, i) == 0)
			continue;
		rc = cas_secret_get(db, j->session->name, spec, &fields, err);
		if (rc == 0)
			json_object_set_new(j->secrets, spec->name, fields);
	}
	for (size_t i = 0; rc == 0 && i < cas_policy_volume_count(p); i++) {
		const char *name = cas_policy_volume(p, i)->name;
		uint8_t key[32], tag[32];
		char hex[65];
		int has_tag;

		rc = cas_volume_key(db, j->session->name, name, key, tag, &has_tag, err);
		shelter_hex(key, 32, hex);
		shelter_wipe(key, sizeof(key));
		if (rc == 0)
			json_object_set_new(j->volume_keys, name, json_string(hex));
		shelter_wipe(hex, sizeof(hex));
	}
	return rc;
}

static int session_prepare(struct cas *cas, struct cas_session *s, struct shelter_err *err)
{
	struct prepare_job j = { .session = s };
	int ready, rc;

	pthread_mutex_lock(&s->mu);
	ready = s->secrets != NULL;
	pthread_mutex_unlock(&s->mu);
	if (ready)
		return 0;
	rc = cas_store_run(cas->store, prepare_job, &j, err);
	pthread_mutex_lock(&s->mu);
	if (rc == 0 && s->secrets == NULL) {
		s->secrets = j.secrets;
		s->volume_keys = j.volume_keys;
		j.secrets = j.volume_keys = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	cas_json_wipe_decref(j.secrets);
	cas_json_wipe_decref(j.volume_keys);
	return rc;
}

struct lookup_ctx {
	const struct cas_session *session;
	json_t *released; /* names of secrets released, for the audit entry */
};

/* cas_secret_lookup_fn over the session's prepared values (immutable once set). */
static int lookup(void *arg, const struct cas_secret_spec *spec, enum cas_secret_field field,
		  uint8_t **out, size_t *size, struct shelter_err *err)
{
	struct lookup_ctx *c = arg;
	const char *val = json_string_value(json_object_get(
		json_object_get(c->session->secrets, spec->name), field_key(field)));

	if (spec->kind == CAS_SECRET_VALUE)
		val = (const char *)spec->value;
	if (val == NULL)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "secret '%s' has no field '%s'",
				       spec->name, field_key(field));
	*size = spec->kind == CAS_SECRET_VALUE ? spec->value_size : strlen(val);
	*out = malloc(*size + 1);
	if (*out == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "secret '%s'", spec->name);
	memcpy(*out, val, *size);
	(*out)[*size] = 0;
	json_array_append_new(c->released, json_string(spec->name));
	return 0;
}

static int session_hash_is(sqlite3 *db, const struct cas_session *s, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cas_sql_prepare(db, "SELECT hash FROM sessions WHERE name = ?", &st, err), same = 0;

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32)
		same = shelter_ct_equal(sqlite3_column_blob(st, 0), s->hash, 32);
	cas_sql_done(st);
	return same;
}

/* Record a platform the first time it attests (audit "platform.first-seen"). */
static int note_platform(sqlite3 *db, const char *chain, const struct shelter_quote_info *qi,
			 struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	char now[40], id[65], prov[65];
	json_t *d;
	int rc = cas_sql_prepare(db,
				 "INSERT OR IGNORE INTO platforms (id, name, provider, first_seen)"
				 " VALUES (?, ?, ?, ?)",
				 &st, err);

	if (rc < 0)
		return rc;
	cas_now_rfc3339(now, sizeof(now));
	sqlite3_bind_blob(st, 1, qi->platform, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, qi->platform_name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, qi->provider, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = cas_sql_fail(db, "record platform", err);
	cas_sql_done(st);
	if (rc < 0 || sqlite3_changes(db) == 0)
		return rc;
	shelter_hex(qi->platform, 32, id);
	shelter_hex(qi->provider, 32, prov);
	d = json_pack("{s:s, s:s, s:s}", "platform", id, "name", qi->platform_name, "provider",
		      prov);
	rc = cas_audit_append(db, chain, "platform.first-seen", d, err);
	json_decref(d);
	return rc;
}

static json_t *identity_json(const struct shelter_quote_info *qi)
{
	char m[65], sg[65], pl[65], pv[65];

	shelter_hex(qi->id.measurement, 32, m);
	shelter_hex(qi->id.signer, 32, sg);
	shelter_hex(qi->platform, 32, pl);
	shelter_hex(qi->provider, 32, pv);
	return json_pack("{s:s, s:s, s:s, s:i, s:b, s:b, s:s, s:s, s:s}", "measurement", m,
			 "signer", sg, "product", qi->id.product, "version", (int)qi->id.version,
			 "sim", (qi->id.flags & SHELTER_TEE_FLAG_SIM) != 0, "debug",
			 (qi->id.flags & SHELTER_TEE_FLAG_DEBUG) != 0, "platform", pl,
			 "platform_name", qi->platform_name, "provider", pv);
}

/* The current tags of the volumes released (they change at run time, cas.md §5). */
static int read_tags(sqlite3 *db, struct attest_job *j, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	json_t *v;
	int rc = cas_sql_prepare(db, "SELECT tag FROM volumes WHERE session = ? AND name = ?", &st,
				 err);

	j->tags = json_object();
	json_array_foreach(j->volumes, i, v) {
		char hex[65];
		int has;

		if (rc < 0)
			break;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, j->session->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, json_string_value(v), -1, SQLITE_STATIC);
		has = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32;
		if (has)
			shelter_hex(sqlite3_column_blob(st, 0), 32, hex);
		json_object_set_new(j->tags, json_string_value(v), has ? json_string(hex) : json_null());
	}
	cas_sql_done(st);
	return rc;
}

/* Committer: the session is still the version checked; record the release. */
static int accept_job(sqlite3 *db, void *arg, struct shelter_err *err)
{
	struct attest_job *j = arg;
	json_t *detail = NULL;
	int rc = session_hash_is(db, j->session, err);

	if (rc <= 0) {
		j->changed = rc == 0;
		if (rc == 0)
			rc = shelter_err_set(err, SHELTER_E_CONFLICT,
					     "session '%s' changed during the attestation; retry",
					     j->session->name);
		return rc;
	}
	rc = note_platform(db, j->session->name, j->qi, err);
	if (rc == 0)
		rc = read_tags(db, j, err);
	if (rc < 0)
		return rc;
	detail = identity_json(j->qi);
	json_object_set_new(detail, "peer", json_string(j->peer));
	json_object_set_new(detail, "policy_version", json_integer(j->session->version));
	json_object_set(detail, "secrets", j->released_secrets);
	json_object_set(detail, "volumes", j->volumes);
	/* The release is recorded in this transaction, durable before the answer. */
	rc = cas_audit_append(db, j->session->name, "attest.accept", detail, err);
	json_decref(detail);
	return rc;
}

static int refuse_job(sqlite3 *db, void *arg, struct shelter_err *err)
{
	struct attest_job *j = arg;
	json_t *detail = j->qi ? identity_json(j->qi) : json_object();
	int rc;

	json_object_set_new(detail, "code", json_string(j->code));
	json_object_set_new(detail, "reason", json_string(j->reason));
	json_object_set_new(detail, "peer", json_string(j->peer));
	rc = cas_audit_append(db, j->session ? j->session->name : "", "attest.refuse", detail, err);
	json_decref(detail);
	return rc;
}

/* Record the refusal, then answer 403 with the same code and reason (cas.md §4.2). */
static void refuse(struct cas *cas, struct cas_conn_state *cs, struct cas_session *s,
		   const struct shelter_quote_info *qi, const char *code, const char *reason,
		   struct cas_reply *r)
{
	struct attest_job j = { .session = s, .qi = qi, .peer = cs->peer, .code = code,
				.reason = reason };
	struct shelter_err err;

	shelter_err_clear(&err);
	if (cas_store_run(cas->store, refuse_job, &j, &err) < 0) {
		cas_reply_error(r, 500, "internal", "attestation refused (%s) but not recorded",
				code);
		cas_log("error", "what=\"audit refusal\" reason=\"%s\"", err.msg);
		return;
	}
	__atomic_add_fetch(&cas->attest_refused, 1, __ATOMIC_RELAXED);
	cas_reply_error(r, 403, code, "%s", reason);
	snprintf(r->note, sizeof(r->note), "session=%s", s ? s->name : "-");
}

static const char *verify_code(int rc)
{
	switch (rc) {
	case SHELTER_E_MALFORMED:
	case SHELTER_E_VERSION: return "malformed-quote";
	case SHELTER_E_INTEGRITY: return "tampered-quote";
	case SHELTER_E_REVOKED: return "revoked-platform";
	case SHELTER_E_EXPIRED: return "expired-platform";
	default: return "unknown-platform";
	}
}

/* The refusal code of each accept rule (policy.md §4, cas.md §4.2). */
static const char *policy_code(enum cas_accept_rule rule)
{
	switch (rule) {
	case CAS_ACCEPT_SIM: return "sim-not-allowed";
	case CAS_ACCEPT_DEBUG: return "debug-not-allowed";
	case CAS_ACCEPT_PROVIDER: return "provider-not-accepted";
	case CAS_ACCEPT_VERSION: return "version-too-low";
	case CAS_ACCEPT_SIGNER: return "signer-not-accepted";
	case CAS_ACCEPT_FLAGS: return "unknown-flags";
	default: return "measurement-not-accepted";
	}
}

/* Checks of cas.md §4.2 up to the policy; 0 or a refusal in *code/err. */
static int check_cert(struct cas *cas, X509 *cert, struct cas_conn_state *cs,
		      struct cas_session *s, struct shelter_quote_info *qi, const char **code,
		      struct shelter_err *err)
{
	const uint8_t *quote;
	size_t quote_size;
	uint64_t tag;
	double ttl = cas->cfg->nonce_ttl ? cas->cfg->nonce_ttl : 60;
	int rc;

	*code = "no-evidence";
	if (cs->nonce_issued == 0 || cert == NULL) {
		return shelter_err_set(err, SHELTER_E_PROTO,
				       "no evidence certificate on this connection: request a"
				       " nonce first and answer the certificate request");
	}
	*code = "malformed-certificate";
	rc = ratls_evidence_extract(cert, &tag, &quote, &quote_size, err);
	if (rc == 0 && tag != RATLS_TAG_SHELTER_SIM)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "evidence format %llu not supported",
				     (unsigned long long)tag);
	if (rc < 0)
		return rc;
	rc = shelter_quote_verify(quote, quote_size, s->trust, qi, err);
	if (rc < 0) {
		*code = verify_code(rc);
		return rc;
	}
	rc = ratls_check_binding(cert, qi->report_data, cs->nonce, err);
	if (rc < 0) {
		*code = rc == SHELTER_E_REPLAY ? "replayed-evidence" : "key-not-bound";
		return rc;
	}
	if (cs->nonce_used) {
		*code = "replayed-evidence";
		return shelter_err_set(err, SHELTER_E_REPLAY, "nonce already used");
	}
	if (cas_monotonic() - cs->nonce_issued > ttl) {
		*code = "nonce-expired";
		return shelter_err_set(err, SHELTER_E_EXPIRED, "nonce older than %.0f s", ttl);
	}
	cs->nonce_used = 1;
	enum cas_accept_rule rule = CAS_ACCEPT_OK;

	rc = cas_policy_check(s->policy, qi, &rule, err);
	if (rc < 0)
		*code = policy_code(rule);
	return rc;
}

static int check_evidence(struct cas *cas, struct tls_conn *conn, struct cas_conn_state *cs,
			  struct cas_session *s, struct shelter_quote_info *qi, const char **code,
			  struct shelter_err *err)
{
	X509 *cert = tls_conn_peer_cert(conn);
	int rc = check_cert(cas, cert, cs, s, qi, code, err);

	X509_free(cert);
	return rc;
}

/* 1 when every element of an array or value of an object is a string. */
static int all_strings(json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if (!json_is_string(v))
				return 0;
	} else if (json_is_object(j)) {
		json_object_foreach(j, key, v)
			if (!json_is_string(v))
				return 0;
	}
	return 1;
}

/* Host argv and "NAME=VALUE" strings for the renderer; both borrow from, or are
 * built from, the request (host_env entries are malloc'd: free_env). */
static int host_strings(json_t *args, json_t *env, const char ***argv, size_t *argc,
			char ***envv, size_t *envc)
{
	const char *key;
	json_t *v;
	size_t i;

	*argc = json_array_size(args);
	*envc = 0;
	*argv = calloc(*argc + 1, sizeof(**argv));
	*envv = calloc(json_object_size(env) + 1, sizeof(**envv));
	if (*argv == NULL || *envv == NULL)
		return -1;
	json_array_foreach(args, i, v)
		(*argv)[i] = json_string_value(v);
	json_object_foreach(env, key, v) {
		if (asprintf(&(*envv)[*envc], "%s=%s", key, json_string_value(v)) < 0)
			return -1;
		(*envc)++;
	}
	return 0;
}

static void free_env(char **envv, size_t envc)
{
	for (size_t i = 0; envv != NULL && i < envc; i++)
		free(envv[i]);
	free(envv);
}

/* Render the launch on this worker from the prepared values (cas.md §4.4); the
 * volume tags are added once the committer has read them. */
static int render(struct cas_session *s, json_t *host_args, json_t *host_env, json_t *released,
		  json_t *volumes, json_t **config, struct shelter_err *err)
{
	struct lookup_ctx lc = { .session = s, .released = released };
	struct cas_launch *launch = NULL;
	const char **argv = NULL;
	char **envv = NULL;
	size_t argc = 0, envc = 0, i;
	json_t *v;
	int rc;

	*config = NULL;
	if (host_strings(host_args, host_env, &argv, &argc, &envv, &envc) < 0) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "attestation");
		goto out;
	}
	rc = cas_policy_render(s->policy, argv, argc, (const char *const *)envv, envc, lookup,
			       &lc, &launch, err);
	if (rc == 0)
		rc = cas_launch_to_json(launch, config, err);
	if (rc < 0)
		goto out;
	json_object_set_new(*config, "version", json_integer(s->version));
	json_array_foreach(json_object_get(*config, "volumes"), i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));

		json_object_set_new(v, "key", json_string(json_string_value(
						      json_object_get(s->volume_keys, name))));
		json_array_append_new(volumes, json_string(name));
	}
out:
	free(argv);
	free_env(envv, envc);
	cas_launch_free(launch);
	return rc;
}

static void release_config(struct cas *cas, struct cas_conn_state *cs, struct cas_session *s,
			   const struct shelter_quote_info *qi, json_t *req, struct cas_reply *r)
{
	struct attest_job j = { .session = s, .qi = qi, .peer = cs->peer,
				.released_secrets = json_array(), .volumes = json_array() };
	struct shelter_err err;
	json_t *config = NULL, *v;
	size_t i;
	int rc;

	shelter_err_clear(&err);
	rc = session_prepare(cas, s, &err);
	if (rc == 0)
		rc = render(s, json_object_get(req, "args"), json_object_get(req, "env"),
			    j.released_secrets, j.volumes, &config, &err);
	if (rc == 0)
		rc = cas_store_run(cas->store, accept_job, &j, &err);
	if (rc < 0) {
		if (j.changed)
			cas_reply_error(r, 409, "conflict", "%s", err.msg);
		else
			cas_reply_error(r, 500, "internal", "session '%s': configuration failed",
					s->name);
		cas_log("error", "session=%s reason=\"%s\"", s->name, err.msg);
		goto out;
	}
	json_array_foreach(json_object_get(config, "volumes"), i, v)
		json_object_set(v, "tag", json_object_get(j.tags, json_string_value(json_object_get(v, "name"))));
	r->body = json_dumps(config, JSON_COMPACT);
	if (r->body == NULL) {
		cas_reply_error(r, 500, "internal", "configuration");
		goto out;
	}
	r->status = 200;
	r->size = strlen(r->body);
	r->secret = 1;
	snprintf(cs->attested, sizeof(cs->attested), "%s", s->name);
	__atomic_add_fetch(&cas->attest_ok, 1, __ATOMIC_RELAXED);
out:
	snprintf(r->note, sizeof(r->note), "session=%s", s->name);
	cas_json_wipe_decref(config);
	json_decref(j.released_secrets);
	json_decref(j.volumes);
	json_decref(j.tags);
}

void cas_handle_attest(struct cas *cas, struct tls_conn *conn, struct cas_conn_state *cs,
		       const uint8_t *body, size_t size, struct cas_reply *r)
{
	struct shelter_quote_info qi;
	struct cas_session *s = NULL;
	struct shelter_err err;
	const char *code = NULL, *name;
	json_t *req = json_loadb((const char *)body, size, JSON_REJECT_DUPLICATES, NULL);
	json_t *args = json_object_get(req, "args"), *env = json_object_get(req, "env");
	int rc;

	shelter_err_clear(&err);
	memset(&qi, 0, sizeof(qi));
	name = json_string_value(json_object_get(req, "session"));
	if (name == NULL || (args && !json_is_array(args)) || (env && !json_is_object(env)) ||
	    !all_strings(args) || !all_strings(env)) {
		cas_reply_error(r, 400, "bad-request",
				"attest: body must be {\"session\": name, \"args\": [strings],"
				" \"env\": {name: string}}");
		goto out;
	}
	rc = cas_session_get(cas, name, &s, &err);
	if (rc == SHELTER_E_NOENT) {
		refuse(cas, cs, NULL, NULL, "no-such-session", err.msg, r);
		goto out;
	} else if (rc < 0) {
		cas_reply_error(r, 500, "internal", "session '%s' unavailable", name);
		cas_log("error", "session=%s reason=\"%s\"", name, err.msg);
		goto out;
	}
	rc = check_evidence(cas, conn, cs, s, &qi, &code, &err);
	if (rc < 0)
		refuse(cas, cs, s, qi.id.tee ? &qi : NULL, code, err.msg, r);
	else
		release_config(cas, cs, s, &qi, req, r);
out:
	cas_session_put(cas, s);
	json_decref(req);
	shelter_wipe(&qi, sizeof(qi));
}

/* ---- volume tags (cas.md §5) ---- */

struct tag_job {
	const char *session, *volume;
	uint8_t tag[32], pred[32];
	int has_pred;
	const char *peer;
};

static int tag_job(sqlite3 *db, void *arg, struct shelter_err *err)
{
	struct tag_job *t = arg;
	sqlite3_stmt *st = NULL;
	char now[40], hex[65], phex[65];
	json_t *d;
	int rc = cas_sql_prepare(db, "SELECT tag FROM volumes WHERE session = ? AND name = ?", &st,
				 err);

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, t->session, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->volume, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = shelter_err_set(err, SHELTER_E_NOENT, "session '%s' has no volume '%s'",
				     t->session, t->volume);
	} else if (sqlite3_column_bytes(st, 0) == 32
			   ? !t->has_pred || !shelter_ct_equal(sqlite3_column_blob(st, 0), t->pred, 32)
			   : t->has_pred) {
		rc = shelter_err_set(err, SHELTER_E_CONFLICT,
				     "volume '%s': predecessor is not the current tag", t->volume);
	}
	cas_sql_done(st);
	st = NULL;
	if (rc < 0)
		return rc;
	rc = cas_sql_prepare(db, "UPDATE volumes SET tag = ?, updated = ? WHERE session = ? AND name = ?",
			     &st, err);
	if (rc < 0)
		return rc;
	cas_now_rfc3339(now, sizeof(now));
	sqlite3_bind_blob(st, 1, t->tag, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->session, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, t->volume, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = cas_sql_fail(db, "update volume tag", err);
	cas_sql_done(st);
	if (rc < 0)
		return rc;
	shelter_hex(t->tag, 32, hex);
	if (t->has_pred)
		shelter_hex(t->pred, 32, phex);
	d = json_pack("{s:s, s:s, s:s, s:s}", "volume", t->volume, "tag", hex, "predecessor",
		      t->has_pred ? phex : "", "peer", t->peer);
	rc = cas_audit_append(db, t->session, "volume.tag", d, err);
	json_decref(d);
	return rc;
}

void cas_handle_volume_tag(struct cas *cas, struct cas_conn_state *cs, const char *session,
			   const char *volume, const uint8_t *body, size_t size,
			   struct cas_reply *r)
{
	struct tag_job t = { .session = session, .volume = volume, .peer = cs->peer };
	json_t *req = json_loadb((const char *)body, size, JSON_REJECT_DUPLICATES, NULL);
	const char *tag = json_string_value(json_object_get(req, "tag"));
	json_t *pred = json_object_get(req, "predecessor");
	struct shelter_err err;
	int rc;

	shelter_err_clear(&err);
	if (cs->attested[0] == '\0' || strcmp(cs->attested, session) != 0) {
		cas_reply_error(r, 403, "not-attested",
				"volume tags of session '%s' need a connection attested to it",
				session);
		goto out;
	}
	t.has_pred = pred != NULL && !json_is_null(pred);
	if (tag == NULL || shelter_unhex(tag, t.tag, 32) < 0 ||
	    (t.has_pred && (!json_is_string(pred) ||
			    shelter_unhex(json_string_value(pred), t.pred, 32) < 0))) {
		cas_reply_error(r, 400, "bad-request",
				"body must be {\"tag\": hex32, \"predecessor\": hex32 or null}");
		goto out;
	}
	rc = cas_store_run(cas->store, tag_job, &t, &err);
	if (rc == SHELTER_E_CONFLICT)
		cas_reply_error(r, 409, "conflict", "%s", err.msg);
	else if (rc == SHELTER_E_NOENT)
		cas_reply_error(r, 404, "no-such-volume", "%s", err.msg);
	else if (rc < 0)
		cas_reply_error(r, 500, "internal", "volume tag not stored");
	else
		cas_reply_json(r, 200, json_pack("{s:s}", "tag", tag));
	snprintf(r->note, sizeof(r->note), "session=%s volume=%s", session, volume);
out:
	json_decref(req);
}
