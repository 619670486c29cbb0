/* Owners' sessions and providers' CRLs (docs/api/cas.md §3, §6). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cas/audit.h"
#include "cas/cas.h"
#include "shelter/crypto.h"

void cas_reply_json(struct cas_reply *r, int status, json_t *body)
{
	r->status = status;
	r->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	r->size = r->body ? strlen(r->body) : 0;
	if (body != NULL && r->body == NULL)
		r->status = 500;
	json_decref(body);
}

void cas_reply_error(struct cas_reply *r, int status, const char *code, const char *fmt, ...)
{
	char reason[SHELTER_ERR_MSG_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(r->code, sizeof(r->code), "%s", code);
	cas_reply_json(r, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "reason",
					    reason));
}

/* ---- sessions (cas.md §3) ---- */

struct put_job {
	const char *name;
	const struct cas_policy *policy;
	const char *text;
	size_t size;
	uint8_t owner[32], hash[32], pred[32];
	int has_pred;
	long long version; /* out */
	int created;       /* out */
	char current[65];  /* out on conflict: the current hash */
};

static int bind_run(sqlite3 *db, sqlite3_stmt *st, const char *what, struct shelter_err *err)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : cas_sql_fail(db, what, err);

	cas_sql_done(st);
	return rc;
}

/* The providers of a session version, for CRL routing (cas.md §6). */
static int put_providers(sqlite3 *db, const struct put_job *p, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cas_sql_prepare(db, "DELETE FROM session_providers WHERE session = ?", &st, err);

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
	rc = bind_run(db, st, "update session providers", err);
	for (size_t i = 0; rc == 0 && i < cas_policy_provider_count(p->policy); i++) {
		const struct cas_policy_provider *prov = cas_policy_provider(p->policy, i);

		rc = cas_sql_prepare(db, "INSERT OR REPLACE INTO providers (id, name, pem) VALUES (?, ?, ?)",
				     &st, err);
		if (rc < 0)
			break;
		sqlite3_bind_blob(st, 1, prov->id, 32, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, prov->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, prov->ca_pem, (int)prov->ca_pem_size, SQLITE_STATIC);
		rc = bind_run(db, st, "store provider", err);
		if (rc == 0)
			rc = cas_sql_prepare(db,
					     "INSERT OR IGNORE INTO session_providers (session, provider)"
					     " VALUES (?, ?)",
					     &st, err);
		if (rc < 0)
			break;
		sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, prov->id, 32, SQLITE_STATIC);
		rc = bind_run(db, st, "store session provider", err);
	}
	return rc;
}

/* Check ownership and predecessor; returns the current version (0 = none). */
static int put_check(sqlite3 *db, struct put_job *p, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cas_sql_prepare(db, "SELECT owner, hash, version FROM sessions WHERE name = ?",
				 &st, err);

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
	p->version = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		p->version = sqlite3_column_int64(st, 2);
		shelter_hex(sqlite3_column_blob(st, 1), 32, p->current);
		if (sqlite3_column_bytes(st, 0) != 32 ||
		    !shelter_ct_equal(sqlite3_column_blob(st, 0), p->owner, 32))
			rc = shelter_err_set(err, SHELTER_E_DENIED,
					     "session '%s' belongs to another owner", p->name);
		else if (!p->has_pred || sqlite3_column_bytes(st, 1) != 32 ||
			 !shelter_ct_equal(sqlite3_column_blob(st, 1), p->pred, 32))
			rc = shelter_err_set(err, SHELTER_E_CONFLICT,
					     "session '%s' is at version %lld with hash %s: name it"
					     " as the predecessor",
					     p->name, p->version, p->current);
	} else if (p->has_pred) {
		rc = shelter_err_set(err, SHELTER_E_CONFLICT,
				     "session '%s' does not exist: create it with no predecessor",
				     p->name);
	}
	cas_sql_done(st);
	return rc;
}

static int put_job_fn(sqlite3 *db, void *arg, struct shelter_err *err)
{
	struct put_job *p = arg;
	sqlite3_stmt *st = NULL;
	char now[40], hash[65], pred[65], owner[65];
	json_t *d;
	int rc = put_check(db, p, err);

	if (rc < 0)
		return rc;
	p->created = p->version == 0;
	p->version++;
	cas_now_rfc3339(now, sizeof(now));
	rc = cas_sql_prepare(db,
			     "INSERT OR REPLACE INTO sessions (name, owner, version, hash, policy, updated)"
			     " VALUES (?, ?, ?, ?, ?, ?)",
			     &st, err);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, p->owner, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, p->version);
	sqlite3_bind_blob(st, 4, p->hash, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, p->text, (int)p->size, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
	rc = bind_run(db, st, "store session", err);
	if (rc == 0)
		rc = cas_sql_prepare(db,
				     "INSERT INTO history (name, version, hash, predecessor, owner, policy, time)"
				     " VALUES (?, ?, ?, ?, ?, ?, ?)",
				     &st, err);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, p->version);
	sqlite3_bind_blob(st, 3, p->hash, 32, SQLITE_STATIC);
	if (p->has_pred)
		sqlite3_bind_blob(st, 4, p->pred, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, p->owner, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, p->text, (int)p->size, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
	rc = bind_run(db, st, "store session history", err);
	if (rc == 0)
		rc = put_providers(db, p, err);
	if (rc < 0)
		return rc;
	shelter_hex(p->hash, 32, hash);
	shelter_hex(p->owner, 32, owner);
	if (p->has_pred)
		shelter_hex(p->pred, 32, pred);
	d = json_pack("{s:I, s:s, s:o, s:s}", "version", (json_int_t)p->version, "hash", hash,
		      "predecessor", p->has_pred ? json_string(pred) : json_null(), "owner", owner);
	rc = cas_audit_append(db, p->name, p->created ? "session.create" : "session.update", d, err);
	json_decref(d);
	return rc;
}

static int need_owner(struct cas_conn_state *cs, struct cas_reply *r)
{
	if (cs->has_owner)
		return 1;
	cas_reply_error(r, 401, "owner-certificate-required",
			"this request needs an owner certificate in the TLS handshake");
	return 0;
}

static int code_status(int rc, const char **code)
{
	switch (rc) {
	case SHELTER_E_DENIED: *code = "not-owner"; return 403;
	case SHELTER_E_CONFLICT: *code = "conflict"; return 409;
	case SHELTER_E_NOENT: *code = "no-such-session"; return 404;
	case SHELTER_E_STALE: *code = "stale-crl"; return 409;
	case SHELTER_E_UNTRUSTED: *code = "unknown-provider"; return 403;
	case SHELTER_E_MALFORMED:
	case SHELTER_E_INVAL: *code = "bad-request"; return 400;
	default: *code = "internal"; return 500;
	}
}

void cas_handle_session_put(struct cas *cas, struct cas_conn_state *cs, const char *name,
			    const uint8_t *body, size_t size, struct cas_reply *r)
{
	struct put_job p = { .name = name };
	struct cas_policy *policy = NULL;
	struct shelter_err err;
	json_t *req = NULL, *pred;
	const char *code;
	int rc;

	shelter_err_clear(&err);
	if (!need_owner(cs, r))
		return;
	req = json_loadb((const char *)body, size, JSON_REJECT_DUPLICATES, NULL);
	p.text = json_string_value(json_object_get(req, "policy"));
	p.size = json_string_length(json_object_get(req, "policy"));
	pred = json_object_get(req, "predecessor");
	p.has_pred = pred != NULL && !json_is_null(pred);
	if (p.text == NULL ||
	    (p.has_pred && (!json_is_string(pred) ||
			    shelter_unhex(json_string_value(pred), p.pred, 32) < 0))) {
		cas_reply_error(r, 400, "bad-request",
				"body must be {\"policy\": text, \"predecessor\": hex32 or null}");
		goto out;
	}
	rc = cas_policy_parse(p.text, p.size, &policy, &err);
	if (rc == 0 && strcmp(cas_policy_name(policy), name) != 0)
		rc = shelter_err_set(&err, SHELTER_E_INVAL, "policy names session '%s', not '%s'",
				     cas_policy_name(policy), name);
	if (rc < 0) {
		cas_reply_error(r, 400, "malformed-policy", "%s", err.msg);
		goto out;
	}
	p.policy = policy;
	memcpy(p.owner, cs->owner, 32);
	rc = shelter_sha256(p.text, p.size, p.hash, &err);
	if (rc == 0)
		rc = cas_store_run(cas->store, put_job_fn, &p, &err);
	if (rc < 0) {
		int status = code_status(rc, &code);

		cas_reply_error(r, status, code, "%s", status == 500 ? "session not stored" : err.msg);
		if (status == 500)
			cas_log("error", "session=%s reason=\"%s\"", name, err.msg);
		goto out;
	}
	cas_cache_invalidate(cas);
	char hash[65], phex[65];

	shelter_hex(p.hash, 32, hash);
	shelter_hex(p.pred, 32, phex);
	cas_reply_json(r, p.created ? 201 : 200,
		       json_pack("{s:s, s:I, s:s, s:o}", "name", name, "version",
				 (json_int_t)p.version, "hash", hash, "predecessor",
				 p.has_pred ? json_string(phex) : json_null()));
out:
	snprintf(r->note, sizeof(r->note), "session=%s", name);
	cas_policy_free(policy);
	json_decref(req);
}

struct get_job {
	const char *name, *what;
	uint8_t owner[32];
	long long after;
	json_t *out;
};

static int owner_of(sqlite3 *db, struct get_job *g, json_t **row, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cas_sql_prepare(db,
				 "SELECT owner, version, hash, policy, updated FROM sessions WHERE name = ?",
				 &st, err);

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, g->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = shelter_err_set(err, SHELTER_E_NOENT, "no session '%s'", g->name);
	} else if (sqlite3_column_bytes(st, 0) != 32 ||
		   !shelter_ct_equal(sqlite3_column_blob(st, 0), g->owner, 32)) {
		rc = shelter_err_set(err, SHELTER_E_DENIED, "session '%s' belongs to another owner",
				     g->name);
	} else {
		char hash[65], owner[65];

		shelter_hex(sqlite3_column_blob(st, 2), 32, hash);
		shelter_hex(g->owner, 32, owner);
		*row = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "name", g->name, "version",
				 (json_int_t)sqlite3_column_int64(st, 1), "hash", hash, "owner", owner,
				 "policy", (const char *)sqlite3_column_text(st, 3), "updated",
				 (const char *)sqlite3_column_text(st, 4));
	}
	cas_sql_done(st);
	return rc;
}

static int list_volumes(sqlite3 *db, const char *name, json_t *row, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	json_t *vols = json_array();
	int rc = cas_sql_prepare(db, "SELECT name, tag FROM volumes WHERE session = ? ORDER BY name",
				 &st, err);

	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		char hex[65];
		int has = sqlite3_column_bytes(st, 1) == 32;

		if (has)
			shelter_hex(sqlite3_column_blob(st, 1), 32, hex);
		json_array_append_new(vols, json_pack("{s:s, s:o}", "name",
						      (const char *)sqlite3_column_text(st, 0), "tag",
						      has ? json_string(hex) : json_null()));
	}
	cas_sql_done(st);
	json_object_set_new(row, "volumes", vols);
	return rc;
}

static int list_history(sqlite3 *db, const char *name, json_t **out, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	json_t *vers = json_array();
	int rc = cas_sql_prepare(db,
				 "SELECT version, hash, predecessor, time, owner FROM history"
				 " WHERE name = ? ORDER BY version",
				 &st, err);

	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		char hash[65], pred[65], owner[65];
		int has_pred = sqlite3_column_bytes(st, 2) == 32;

		shelter_hex(sqlite3_column_blob(st, 1), 32, hash);
		if (has_pred)
			shelter_hex(sqlite3_column_blob(st, 2), 32, pred);
		shelter_hex(sqlite3_column_blob(st, 4), 32, owner);
		json_array_append_new(vers, json_pack("{s:I, s:s, s:o, s:s, s:s}", "version",
						      (json_int_t)sqlite3_column_int64(st, 0), "hash",
						      hash, "predecessor",
						      has_pred ? json_string(pred) : json_null(), "time",
						      (const char *)sqlite3_column_text(st, 3), "owner",
						      owner));
	}
	cas_sql_done(st);
	*out = json_pack("{s:o}", "versions", vers);
	return rc;
}

static int get_job_fn(sqlite3 *db, void *arg, struct shelter_err *err)
{
	struct get_job *g = arg;
	json_t *row = NULL, *entries = NULL;
	int rc = owner_of(db, g, &row, err);

	if (rc < 0)
		return rc;
	if (strcmp(g->what, "") == 0) {
		rc = list_volumes(db, g->name, row, err);
		g->out = row;
		return rc;
	}
	json_decref(row);
	if (strcmp(g->what, "history") == 0)
		return list_history(db, g->name, &g->out, err);
	rc = cas_audit_list(db, g->name, g->after, 1000, &entries, err);
	if (rc == 0)
		g->out = json_pack("{s:o}", "entries", entries);
	return rc;
}

void cas_handle_session_get(struct cas *cas, struct cas_conn_state *cs, const char *name,
			    const char *what, const char *query_after, struct cas_reply *r)
{
	struct get_job g = { .name = name, .what = what };
	struct shelter_err err;
	const char *code;
	int rc;

	shelter_err_clear(&err);
	snprintf(r->note, sizeof(r->note), "session=%s", name);
	if (!need_owner(cs, r))
		return;
	if (query_after != NULL) {
		char *end;

		g.after = strtoll(query_after, &end, 10);
		if (*end != '\0' || g.after < 0) {
			cas_reply_error(r, 400, "bad-request", "after must be a number");
			return;
		}
	}
	memcpy(g.owner, cs->owner, 32);
	rc = cas_store_run(cas->store, get_job_fn, &g, &err);
	if (rc < 0) {
		int status = code_status(rc, &code);

		json_decref(g.out);
		cas_reply_error(r, status, code, "%s", status == 500 ? "read failed" : err.msg);
		if (status == 500)
			cas_log("error", "session=%s reason=\"%s\"", name, err.msg);
		return;
	}
	cas_reply_json(r, 200, g.out);
}

/* ---- CRLs (cas.md §6) ---- */

struct crl_job {
	X509_CRL *crl;
	const char *pem;
	uint8_t provider[32]; /* out */
	char number[80];      /* out, hex */
};

static int crl_number(X509_CRL *crl, BIGNUM **out)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);

	*out = n ? ASN1_INTEGER_to_BN(n, NULL) : NULL;
	ASN1_INTEGER_free(n);
	return *out ? 0 : -1;
}

/* The provider whose CA signed crl, among those sessions list. */
static int crl_issuer(sqlite3 *db, struct crl_job *c, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cas_sql_prepare(db, "SELECT id, pem FROM providers", &st, err), found = 0;

	while (rc == 0 && !found && sqlite3_step(st) == SQLITE_ROW) {
		BIO *bio = BIO_new_mem_buf(sqlite3_column_text(st, 1), sqlite3_column_bytes(st, 1));
		X509 *ca = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		EVP_PKEY *pub = ca ? X509_get0_pubkey(ca) : NULL;

		if (pub != NULL && sqlite3_column_bytes(st, 0) == 32 &&
		    X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(c->crl)) == 0 &&
		    X509_CRL_verify(c->crl, pub) == 1) {
			memcpy(c->provider, sqlite3_column_blob(st, 0), 32);
			found = 1;
		}
		X509_free(ca);
		BIO_free(bio);
	}
	cas_sql_done(st);
	if (rc == 0 && !found)
		rc = shelter_err_set(err, SHELTER_E_UNTRUSTED,
				     "CRL not signed by a provider any session accepts");
	return rc;
}

static int crl_newer(sqlite3 *db, struct crl_job *c, BIGNUM *num, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	BIGNUM *old = NULL;
	int rc = cas_sql_prepare(db, "SELECT number FROM crls WHERE provider = ?", &st, err);

	if (rc < 0)
		return rc;
	sqlite3_bind_blob(st, 1, c->provider, 32, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    BN_hex2bn(&old, (const char *)sqlite3_column_text(st, 0)) > 0 && BN_cmp(num, old) <= 0)
		rc = shelter_err_set(err, SHELTER_E_STALE,
				     "CRL number %s is not above the held %s", c->number,
				     (const char *)sqlite3_column_text(st, 0));
	BN_free(old);
	cas_sql_done(st);
	return rc;
}

static int crl_audit(sqlite3 *db, struct crl_job *c, struct shelter_err *err)
{
	STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED(c->crl);
	json_t *serials = json_array(), *d;
	sqlite3_stmt *st = NULL;
	char prov[65];
	int rc;

	for (int i = 0; i < sk_X509_REVOKED_num(revoked); i++) {
		BIGNUM *bn = ASN1_INTEGER_to_BN(
			X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i)), NULL);
		char *hex = bn ? BN_bn2hex(bn) : NULL;

		if (hex != NULL)
			json_array_append_new(serials, json_string(hex));
		OPENSSL_free(hex);
		BN_free(bn);
	}
	shelter_hex(c->provider, 32, prov);
	d = json_pack("{s:s, s:s, s:o}", "provider", prov, "number", c->number, "revoked", serials);
	rc = cas_sql_prepare(db, "SELECT session FROM session_providers WHERE provider = ?", &st, err);
	if (rc == 0)
		sqlite3_bind_blob(st, 1, c->provider, 32, SQLITE_STATIC);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
		rc = cas_audit_append(db, (const char *)sqlite3_column_text(st, 0), "crl.install", d,
				      err);
	cas_sql_done(st);
	json_decref(d);
	return rc;
}

static int crl_job_fn(sqlite3 *db, void *arg, struct shelter_err *err)
{
	struct crl_job *c = arg;
	sqlite3_stmt *st = NULL;
	BIGNUM *num = NULL;
	char *hex = NULL, now[40];
	int rc = crl_issuer(db, c, err);

	if (rc < 0)
		return rc;
	if (crl_number(c->crl, &num) < 0 || (hex = BN_bn2hex(num)) == NULL) {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "CRL has no CRL number");
		goto out;
	}
	snprintf(c->number, sizeof(c->number), "%s", hex);
	rc = crl_newer(db, c, num, err);
	if (rc == 0)
		rc = cas_sql_prepare(db,
				     "INSERT OR REPLACE INTO crls (provider, number, pem, updated)"
				     " VALUES (?, ?, ?, ?)",
				     &st, err);
	if (rc < 0)
		goto out;
	cas_now_rfc3339(now, sizeof(now));
	sqlite3_bind_blob(st, 1, c->provider, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->number, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->pem, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
	rc = bind_run(db, st, "store CRL", err);
	if (rc == 0)
		rc = crl_audit(db, c, err);
out:
	OPENSSL_free(hex);
	BN_free(num);
	return rc;
}

void cas_handle_crl_put(struct cas *cas, const uint8_t *body, size_t size, struct cas_reply *r)
{
	struct crl_job c = { 0 };
	json_t *req = json_loadb((const char *)body, size, JSON_REJECT_DUPLICATES, NULL);
	struct shelter_err err;
	const char *code;
	BIO *bio;
	int rc;

	shelter_err_clear(&err);
	c.pem = json_string_value(json_object_get(req, "crl"));
	bio = c.pem ? BIO_new_mem_buf(c.pem, -1) : NULL;
	c.crl = bio ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (c.crl == NULL) {
		cas_reply_error(r, 400, "bad-request", "body must be {\"crl\": PEM}");
		goto out;
	}
	rc = cas_store_run(cas->store, crl_job_fn, &c, &err);
	if (rc < 0) {
		int status = code_status(rc, &code);

		cas_reply_error(r, status, code, "%s", status == 500 ? "CRL not stored" : err.msg);
		goto out;
	}
	cas_cache_invalidate(cas);
	char prov[65];

	shelter_hex(c.provider, 32, prov);
	cas_reply_json(r, 200, json_pack("{s:s, s:s}", "provider", prov, "number", c.number));
	snprintf(r->note, sizeof(r->note), "provider=%.16s number=%s", prov, c.number);
out:
	X509_CRL_free(c.crl);
	json_decref(req);
}
