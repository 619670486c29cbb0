/* Secrets generated on first use, and volume keys (secrets.h; policy.md §5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cas/audit.h"
#include "cas/secrets.h"
#include "cas/store.h"
#include "shelter/crypto.h"

#define SESSION_CA_NAME "#ca" /* not a valid policy name: cannot collide (policy.md §5) */
#define SESSION_CA_DAYS 3650

static void wipe_json_strings(json_t *json)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json->refcount > 1)
		return; /* still used elsewhere: the last reference wipes it */
	if (json_is_string(json)) {
		/* jansson's strings are mutable in place through its buffer. */
		shelter_wipe((char *)json_string_value(json), json_string_length(json));
	} else if (json_is_object(json)) {
		json_object_foreach(json, key, val)
			wipe_json_strings(val);
	} else if (json_is_array(json)) {
		json_array_foreach(json, i, val)
			wipe_json_strings(val);
	}
}

void cas_json_wipe_decref(json_t *json)
{
	if (json == NULL)
		return;
	wipe_json_strings(json);
	json_decref(json);
}

/* Canonical text of a spec: a changed spec means a new value (secrets.h). */
static int spec_digest(const struct cas_secret_spec *s, uint8_t out[32], struct shelter_err *err)
{
	char head[256];
	struct shelter_iov parts[2 + 2 * CAS_POLICY_MAX_SANS * 2];
	size_t n = 0;

	snprintf(head, sizeof(head), "v1|%d|%u|%u|%s|", (int)s->kind, s->size, s->days,
		 s->common_name ? s->common_name : "");
	parts[n++] = (struct shelter_iov){ head, strlen(head) };
	for (size_t i = 0; i < s->dns_count && n + 2 < sizeof(parts) / sizeof(parts[0]); i++) {
		parts[n++] = (struct shelter_iov){ "dns:", 4 };
		parts[n++] = (struct shelter_iov){ s->dns[i], strlen(s->dns[i]) + 1 };
	}
	for (size_t i = 0; i < s->ip_count && n + 2 < sizeof(parts) / sizeof(parts[0]); i++) {
		parts[n++] = (struct shelter_iov){ "ip:", 3 };
		parts[n++] = (struct shelter_iov){ s->ip[i], strlen(s->ip[i]) + 1 };
	}
	return shelter_sha256_v(parts, n, out, err);
}

char *cas_pem_of_key(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *text = NULL, *data;
	long len;

	if (bio == NULL)
		return NULL;
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1 &&
	    (len = BIO_get_mem_data(bio, &data)) > 0 && (text = malloc((size_t)len + 1)) != NULL) {
		memcpy(text, data, (size_t)len);
		text[len] = 0;
	}
	BIO_free(bio); /* a secmem BIO wipes on free */
	return text;
}

static char *pem_of(int (*write)(BIO *, const void *), const void *obj)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *text = NULL, *data;
	long len;

	if (bio == NULL)
		return NULL;
	if (write(bio, obj) == 1 && (len = BIO_get_mem_data(bio, &data)) > 0 &&
	    (text = malloc((size_t)len + 1)) != NULL) {
		memcpy(text, data, (size_t)len);
		text[len] = 0;
	}
	BIO_free(bio);
	return text;
}

static int write_x509(BIO *b, const void *x) { return PEM_write_bio_X509(b, (X509 *)x); }
static int write_pub(BIO *b, const void *k) { return PEM_write_bio_PUBKEY(b, (EVP_PKEY *)k); }

char *cas_pem_of_cert(X509 *cert)
{
	return pem_of(write_x509, cert);
}

/* Add "name": text to obj, wiping and freeing text. */
static int put_text(json_t *obj, const char *name, char *text, struct shelter_err *err)
{
	int rc = 0;

	if (text == NULL || json_object_set_new(obj, name, json_string(text)) != 0)
		rc = shelter_err_set(err, SHELTER_E_CRYPTO, "secret field '%s'", name);
	if (text != NULL) {
		shelter_wipe(text, strlen(text));
		free(text);
	}
	return rc;
}

static int gen_random(const struct cas_secret_spec *s, json_t *f, struct shelter_err *err)
{
	size_t n = s->size ? s->size : 32;
	uint8_t *raw = malloc(n);
	char *hex = malloc(2 * n + 1), *b64 = malloc(4 * ((n + 2) / 3) + 1);
	int rc;

	if (raw == NULL || hex == NULL || b64 == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "secret '%s'", s->name);
		goto out;
	}
	rc = shelter_random_bytes(raw, n, err);
	if (rc < 0)
		goto out;
	shelter_hex(raw, n, hex);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)n);
	rc = put_text(f, "hex", hex, err);
	hex = NULL;
	if (rc == 0)
		rc = put_text(f, "base64", b64, err);
	b64 = NULL;
out:
	if (raw != NULL)
		shelter_wipe(raw, n);
	free(raw);
	free(hex);
	free(b64);
	return rc;
}

/* Unbiased: a random byte is used only below the largest multiple of 62. */
static int gen_password(const struct cas_secret_spec *s, json_t *f, struct shelter_err *err)
{
	static const char alphabet[] = CAS_PASSWORD_ALPHABET;
	const unsigned span = sizeof(alphabet) - 1, limit = 256 - 256 % span;
	size_t n = s->size ? s->size : 32, got = 0;
	char *pw = malloc(n + 1);
	uint8_t pool[64];
	int rc = 0;

	if (pw == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "secret '%s'", s->name);
	while (got < n && rc == 0) {
		rc = shelter_random_bytes(pool, sizeof(pool), err);
		for (size_t i = 0; rc == 0 && i < sizeof(pool) && got < n; i++)
			if (pool[i] < limit)
				pw[got++] = alphabet[pool[i] % span];
	}
	pw[n] = 0;
	shelter_wipe(pool, sizeof(pool));
	if (rc == 0)
		return put_text(f, "value", pw, err);
	shelter_wipe(pw, n);
	free(pw);
	return rc;
}

static int gen_ed25519(const struct cas_secret_spec *s, json_t *f, struct shelter_err *err)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	uint8_t pub[32];
	size_t publen = sizeof(pub);
	char hex[65];
	int rc;

	if (key == NULL || EVP_PKEY_get_raw_public_key(key, pub, &publen) != 1) {
		rc = shelter_err_set(err, SHELTER_E_CRYPTO, "secret '%s': Ed25519 key", s->name);
		goto out;
	}
	shelter_hex(pub, 32, hex);
	rc = put_text(f, "private_pem", cas_pem_of_key(key), err);
	if (rc == 0)
		rc = put_text(f, "public_pem", pem_of(write_pub, key), err);
	if (rc == 0 && json_object_set_new(f, "public_hex", json_string(hex)) != 0)
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "secret '%s'", s->name);
out:
	EVP_PKEY_free(key);
	return rc;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return 0;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

X509 *cas_make_cert(EVP_PKEY *key, const char *cn, unsigned days, X509 *ca, EVP_PKEY *ca_key,
		       const char *san, int is_ca)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	BIGNUM *bn = BN_new();
	int ok = cert && name && serial && bn;

	ok = ok && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
	     BN_to_ASN1_INTEGER(bn, serial) != NULL && X509_set_version(cert, 2) == 1 &&
	     X509_set_serialNumber(cert, serial) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					-1, 0) == 1 &&
	     X509_set_subject_name(cert, name) == 1 &&
	     X509_set_issuer_name(cert, ca ? X509_get_subject_name(ca) : name) == 1 &&
	     X509_gmtime_adj(X509_getm_notBefore(cert), -60) != NULL &&
	     X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0, NULL) != NULL &&
	     X509_set_pubkey(cert, key) == 1;
	if (ok && is_ca && san == NULL)
		ok = add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE") &&
		     add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") &&
		     add_ext(cert, cert, NID_subject_key_identifier, "hash");
	/* A self-signed server certificate that clients also use as its own trust
	 * anchor (curl --cacert): CA, server, and its names. */
	if (ok && is_ca && san != NULL)
		ok = add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
		     add_ext(cert, cert, NID_key_usage, "critical,digitalSignature,keyCertSign") &&
		     add_ext(cert, cert, NID_ext_key_usage, "serverAuth") &&
		     add_ext(cert, cert, NID_subject_key_identifier, "hash") &&
		     add_ext(cert, cert, NID_subject_alt_name, san);
	if (ok && !is_ca)
		ok = add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") &&
		     add_ext(cert, ca, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
		     add_ext(cert, ca, NID_ext_key_usage, "serverAuth,clientAuth") &&
		     add_ext(cert, ca, NID_authority_key_identifier, "keyid:always") &&
		     (san == NULL || add_ext(cert, ca, NID_subject_alt_name, san));
	ok = ok && X509_sign(cert, ca_key, EVP_sha256()) > 0;
	X509_NAME_free(name);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	if (!ok) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

static int store_fields(sqlite3 *db, const char *session, const char *name, const uint8_t spec[32],
			json_t *fields, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	char *text = json_dumps(fields, JSON_COMPACT), now[40];
	int rc;

	if (text == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "secret '%s'", name);
	cas_now_rfc3339(now, sizeof(now));
	rc = cas_sql_prepare(db,
			     "INSERT OR REPLACE INTO secrets (session, name, spec, value, created)"
			     " VALUES (?, ?, ?, ?, ?)",
			     &st, err);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, spec, 32, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = cas_sql_fail(db, "store secret", err);
	}
	cas_sql_done(st);
	shelter_wipe(text, strlen(text));
	free(text);
	return rc;
}

/* The stored fields of (session, name) when their spec digest is spec; NULL else. */
static int load_fields(sqlite3 *db, const char *session, const char *name, const uint8_t spec[32],
		       json_t **out, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cas_sql_prepare(db, "SELECT spec, value FROM secrets WHERE session = ? AND name = ?",
				 &st, err);

	*out = NULL;
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		if (sqlite3_column_bytes(st, 0) == 32 &&
		    shelter_ct_equal(sqlite3_column_blob(st, 0), spec, 32)) {
			*out = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
			if (*out == NULL)
				rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
						     "secret '%s' of session '%s': unreadable", name,
						     session);
		}
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = cas_sql_fail(db, "read secret", err);
	}
	cas_sql_done(st);
	return rc;
}

/* The session CA (policy.md §5): P-256, generated once per session. */
static int session_ca(sqlite3 *db, const char *session, X509 **ca, EVP_PKEY **ca_key,
		      char **ca_pem, struct shelter_err *err)
{
	static const uint8_t ca_spec[32] = { 'c', 'a', '-', 'v', '1' };
	json_t *f = NULL;
	BIO *bio = NULL;
	char cn[128];
	int rc = load_fields(db, session, SESSION_CA_NAME, ca_spec, &f, err);

	if (rc < 0)
		return rc;
	if (f == NULL) {
		EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		X509 *cert;

		snprintf(cn, sizeof(cn), "shelter session %s CA", session);
		cert = key ? cas_make_cert(key, cn, SESSION_CA_DAYS, NULL, key, NULL, 1) : NULL;
		f = json_object();
		rc = f ? put_text(f, "key", key ? cas_pem_of_key(key) : NULL, err)
		       : shelter_err_set(err, SHELTER_E_NOMEM, "session CA");
		if (rc == 0)
			rc = put_text(f, "cert", cert ? pem_of(write_x509, cert) : NULL, err);
		EVP_PKEY_free(key);
		X509_free(cert);
		if (rc == 0)
			rc = store_fields(db, session, SESSION_CA_NAME, ca_spec, f, err);
		if (rc < 0)
			goto out;
	}
	bio = BIO_new_mem_buf(json_string_value(json_object_get(f, "key")), -1);
	*ca_key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	bio = BIO_new_mem_buf(json_string_value(json_object_get(f, "cert")), -1);
	*ca = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	*ca_pem = strdup(json_string_value(json_object_get(f, "cert")));
	if (*ca_key == NULL || *ca == NULL || *ca_pem == NULL)
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY, "session '%s': CA unreadable",
				     session);
out:
	BIO_free(bio);
	cas_json_wipe_decref(f);
	return rc;
}

static int san_text(const struct cas_secret_spec *s, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = 0;
	for (size_t i = 0; i < s->dns_count; i++)
		used += (size_t)snprintf(buf + used, used < size ? size - used : 0, "%sDNS:%s",
					 used ? "," : "", s->dns[i]);
	for (size_t i = 0; i < s->ip_count; i++)
		used += (size_t)snprintf(buf + used, used < size ? size - used : 0, "%sIP:%s",
					 used ? "," : "", s->ip[i]);
	return used < size ? 0 : -1;
}

static int gen_x509(sqlite3 *db, const char *session, const struct cas_secret_spec *s, json_t *f,
		    struct shelter_err *err)
{
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	char *ca_pem = NULL, *cert_pem = NULL, *chain = NULL;
	char san[CAS_POLICY_MAX_SANS * 2 * 260];
	int rc = session_ca(db, session, &ca, &ca_key, &ca_pem, err);

	if (rc < 0)
		goto out;
	if (san_text(s, san, sizeof(san)) < 0) {
		rc = shelter_err_set(err, SHELTER_E_INVAL, "secret '%s': too many names", s->name);
		goto out;
	}
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	cert = key ? cas_make_cert(key, s->common_name ? s->common_name : s->name,
			       s->days ? s->days : 365, ca, ca_key, san[0] ? san : NULL, 0)
		   : NULL;
	cert_pem = cert ? pem_of(write_x509, cert) : NULL;
	if (cert_pem == NULL || (chain = malloc(strlen(cert_pem) + strlen(ca_pem) + 1)) == NULL) {
		rc = shelter_err_set(err, SHELTER_E_CRYPTO, "secret '%s': issue certificate",
				     s->name);
		goto out;
	}
	strcat(strcpy(chain, cert_pem), ca_pem);
	rc = put_text(f, "key", cas_pem_of_key(key), err);
	if (rc == 0)
		rc = put_text(f, "cert", cert_pem, err);
	cert_pem = NULL;
	if (rc == 0)
		rc = put_text(f, "ca", ca_pem, err);
	ca_pem = NULL;
	if (rc == 0)
		rc = put_text(f, "chain", chain, err);
	chain = NULL;
out:
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	free(ca_pem);
	free(cert_pem);
	free(chain);
	return rc;
}

int cas_secret_get(sqlite3 *db, const char *session, const struct cas_secret_spec *spec,
		   json_t **fields, struct shelter_err *err)
{
	uint8_t digest[32];
	json_t *f = NULL;
	int rc;

	*fields = NULL;
	if (spec->kind == CAS_SECRET_VALUE) {
		/* Given values live in the policy itself; nothing to generate. */
		f = json_pack("{s:s%}", "value", (const char *)spec->value, spec->value_size);
		if (f == NULL)
			return shelter_err_set(err, SHELTER_E_INVAL,
					       "secret '%s': value is not UTF-8", spec->name);
		*fields = f;
		return 0;
	}
	rc = spec_digest(spec, digest, err);
	if (rc == 0)
		rc = load_fields(db, session, spec->name, digest, &f, err);
	if (rc < 0 || f != NULL)
		goto out;
	f = json_object();
	if (f == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "secret '%s'", spec->name);
		goto out;
	}
	switch (spec->kind) {
	case CAS_SECRET_RANDOM: rc = gen_random(spec, f, err); break;
	case CAS_SECRET_PASSWORD: rc = gen_password(spec, f, err); break;
	case CAS_SECRET_ED25519: rc = gen_ed25519(spec, f, err); break;
	case CAS_SECRET_X509: rc = gen_x509(db, session, spec, f, err); break;
	default: rc = shelter_err_set(err, SHELTER_E_INTERNAL, "secret '%s': kind %d", spec->name,
				      (int)spec->kind);
	}
	if (rc == 0)
		rc = store_fields(db, session, spec->name, digest, f, err);
out:
	if (rc < 0) {
		cas_json_wipe_decref(f);
		return shelter_err_wrap(err, rc, "session '%s': secret '%s'", session, spec->name);
	}
	*fields = f;
	return 0;
}

int cas_volume_key(sqlite3 *db, const char *session, const char *volume, uint8_t key[32],
		   uint8_t tag[32], int *has_tag, struct shelter_err *err)
{
	sqlite3_stmt *st = NULL;
	char now[40];
	int rc = cas_sql_prepare(db, "SELECT key, tag FROM volumes WHERE session = ? AND name = ?",
				 &st, err);

	*has_tag = 0;
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, volume, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		if (sqlite3_column_bytes(st, 0) != 32) {
			rc = shelter_err_set(err, SHELTER_E_INTEGRITY, "volume '%s': bad key",
					     volume);
			break;
		}
		memcpy(key, sqlite3_column_blob(st, 0), 32);
		if (sqlite3_column_bytes(st, 1) == 32) {
			memcpy(tag, sqlite3_column_blob(st, 1), 32);
			*has_tag = 1;
		}
		cas_sql_done(st);
		return 0;
	case SQLITE_DONE:
		break;
	default:
		rc = cas_sql_fail(db, "read volume key", err);
	}
	cas_sql_done(st);
	st = NULL;
	if (rc < 0)
		return rc;
	rc = shelter_random_bytes(key, 32, err);
	if (rc == 0)
		rc = cas_sql_prepare(db,
				     "INSERT INTO volumes (session, name, key, tag, updated)"
				     " VALUES (?, ?, ?, NULL, ?)",
				     &st, err);
	if (rc == 0) {
		cas_now_rfc3339(now, sizeof(now));
		sqlite3_bind_text(st, 1, session, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, volume, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, key, 32, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = cas_sql_fail(db, "store volume key", err);
	}
	cas_sql_done(st);
	return rc;
}
