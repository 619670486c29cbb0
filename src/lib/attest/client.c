/* Attestation client (shelter/attest.h; docs/api/cas.md §4-§5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "attest/ratls.h"
#include "net/http.h"
#include "net/tls.h"
#include "shelter/attest.h"
#include "shelter/crypto.h"

#define DEFAULT_TIMEOUT_MS 10000

struct shelter_attester {
	struct http_url url;
	struct tls_ctx *tls;
	struct shelter_tee *tee;
	uint64_t evidence_tag;
	int timeout_ms;
};

struct cfg_file {
	const char *path;
	uint8_t *data;
	size_t size;
};

struct cfg_volume {
	const char *name, *path;
	uint8_t key[32], tag[32];
	int has_tag;
};

struct shelter_config {
	char *json; /* the text as received (secrets) */
	json_t *root;
	const char **args;
	size_t nargs;
	const char **env_names, **env_values;
	size_t nenv;
	struct cfg_file *files;
	size_t nfiles;
	struct cfg_volume *vols;
	size_t nvols;
};

int shelter_attester_new(const struct shelter_attester_opts *opts, struct shelter_attester **out,
			 struct shelter_err *err)
{
	struct shelter_attester *a = calloc(1, sizeof(*a));
	struct tls_client_opts to = { .defer_client_cert = 1 };
	struct shelter_identity id;
	uint8_t *der = NULL;
	size_t der_size = 0;
	int rc;

	*out = NULL;
	if (a == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "attester");
	if (opts->tee == NULL || opts->cas_url == NULL || opts->cas_cert_pem == NULL) {
		rc = shelter_err_set(err, SHELTER_E_INVAL, "attester: needs a TEE, a CAS URL and"
							   " the CAS certificate");
		goto out;
	}
	a->tee = opts->tee;
	a->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	rc = shelter_tee_identity(a->tee, &id, err);
	if (rc < 0)
		goto out;
	if (id.tee != SHELTER_TEE_SIM) {
		rc = shelter_err_set(err, SHELTER_E_INVAL, "attester: TEE type %u has no evidence"
							   " format yet (ra-tls.md §4)",
				     id.tee);
		goto out;
	}
	a->evidence_tag = RATLS_TAG_SHELTER_SIM;
	rc = http_url_parse(opts->cas_url, &a->url, err);
	if (rc == 0)
		rc = tls_pin_from_pem(opts->cas_cert_pem, opts->cas_cert_pem_size, &der, &der_size,
				      err);
	if (rc < 0)
		rc = shelter_err_wrap(err, rc, "CAS certificate");
	if (rc < 0)
		goto out;
	to.pin_cert_der = der;
	to.pin_cert_der_size = der_size;
	rc = tls_client_ctx_new(&to, &a->tls, err);
	if (rc < 0)
		goto out;
	*out = a;
	a = NULL;
out:
	OPENSSL_free(der);
	shelter_attester_free(a);
	return rc;
}

void shelter_attester_free(struct shelter_attester *a)
{
	if (a == NULL)
		return;
	tls_ctx_free(a->tls);
	free(a);
}

/* Map a CAS refusal (cas.md §2, §4.2) to a code and a message. */
static int refusal(const struct http_response *resp, const char *what, struct shelter_err *err)
{
	json_t *j = json_loadb((const char *)resp->body, resp->body_size, 0, NULL);
	const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
	const char *reason =
		json_string_value(json_object_get(json_object_get(j, "error"), "reason"));
	static const struct {
		const char *code;
		int rc;
	} map[] = {
		{ "no-such-session", SHELTER_E_NOENT },	 { "no-such-volume", SHELTER_E_NOENT },
		{ "revoked-platform", SHELTER_E_REVOKED }, { "expired-platform", SHELTER_E_EXPIRED },
		{ "nonce-expired", SHELTER_E_EXPIRED },	 { "replayed-evidence", SHELTER_E_REPLAY },
		{ "unknown-platform", SHELTER_E_UNTRUSTED },
		{ "tampered-quote", SHELTER_E_UNTRUSTED }, { "key-not-bound", SHELTER_E_UNTRUSTED },
		{ "malformed-quote", SHELTER_E_MALFORMED },
		{ "malformed-certificate", SHELTER_E_MALFORMED },
		{ "conflict", SHELTER_E_CONFLICT },	 { "not-attested", SHELTER_E_DENIED },
	};
	int rc = resp->status == 403 ? SHELTER_E_POLICY : SHELTER_E_PROTO;

	for (size_t i = 0; code != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(code, map[i].code) == 0)
			rc = map[i].rc;
	rc = shelter_err_set(err, rc, "%s: CAS answered %d %s: %s", what, resp->status,
			     code ? code : "?", reason ? reason : "(no reason given)");
	json_decref(j);
	return rc;
}

/* One request on conn; *out is the JSON body of a 2xx answer (caller decrefs). */
static int call(struct shelter_attester *a, struct tls_conn *conn, enum http_method m,
		const char *target, json_t *body, const char *what, json_t **out, char **raw,
		struct shelter_err *err)
{
	struct http_response resp;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc;

	*out = NULL;
	if (body != NULL && text == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "%s", what);
	rc = tls_conn_write_request(conn, m, target, a->url.authority, "application/json", text,
				    text ? strlen(text) : 0, 1, NULL, 0, err);
	if (text != NULL) {
		shelter_wipe(text, strlen(text));
		free(text);
	}
	if (rc == 0)
		rc = tls_conn_read_response(conn, NULL, 0, &resp, err);
	if (rc == TLS_CONN_EOF)
		rc = shelter_err_set(err, SHELTER_E_PROTO, "%s: the CAS closed the connection", what);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "%s", what);
	if (resp.status / 100 != 2)
		return refusal(&resp, what, err);
	*out = json_loadb((const char *)resp.body, resp.body_size, JSON_REJECT_DUPLICATES, NULL);
	if (*out == NULL)
		return shelter_err_set(err, SHELTER_E_PROTO, "%s: the CAS sent no JSON", what);
	if (raw != NULL) {
		*raw = malloc(resp.body_size + 1);
		if (*raw == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "%s", what);
		memcpy(*raw, resp.body, resp.body_size);
		(*raw)[resp.body_size] = 0;
	}
	return 0;
}

/* Nonce, ephemeral key, quote, evidence certificate (cas.md §4). */
static int prove(struct shelter_attester *a, struct tls_conn *conn, struct shelter_err *err)
{
	uint8_t nonce[32], report[64];
	uint8_t *quote = NULL;
	size_t quote_size = 0;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	json_t *ans = NULL, *req = json_object();
	const char *hex;
	int rc = call(a, conn, HTTP_POST, "/v1/attest/nonce", req, "attest: nonce", &ans, NULL, err);

	if (rc < 0)
		goto out;
	hex = json_string_value(json_object_get(ans, "nonce"));
	if (hex == NULL || shelter_unhex(hex, nonce, sizeof(nonce)) < 0) {
		rc = shelter_err_set(err, SHELTER_E_PROTO, "attest: the CAS sent no nonce");
		goto out;
	}
	rc = ratls_key_new(&key, err);
	if (rc == 0)
		rc = ratls_report_data(key, nonce, report, err);
	if (rc == 0)
		rc = shelter_tee_quote(a->tee, report, &quote, &quote_size, err);
	if (rc == 0)
		rc = ratls_cert_create(key, a->evidence_tag, quote, quote_size, &cert, err);
	if (rc == 0)
		rc = tls_conn_set_client_cert(conn, cert, key, err);
	if (rc == 0)
		rc = tls_conn_await_cert_request(conn, a->timeout_ms, err);
	if (rc < 0)
		rc = shelter_err_wrap(err, rc, "attest: evidence");
out:
	free(quote);
	X509_free(cert);
	EVP_PKEY_free(key);
	json_decref(ans);
	json_decref(req);
	return rc;
}

static int connect_and_prove(struct shelter_attester *a, struct tls_conn **conn,
			     struct shelter_err *err)
{
	int rc = tls_connect(a->tls, a->url.host, a->url.port, a->timeout_ms, conn, err);

	if (rc < 0)
		return shelter_err_wrap(err, rc, "attest: CAS %s", a->url.authority);
	rc = prove(a, *conn, err);
	if (rc < 0) {
		tls_conn_close(*conn);
		*conn = NULL;
	}
	return rc;
}

static json_t *host_request(const char *session, const char *const *args, size_t argc,
			    const char *const *env, size_t envc)
{
	json_t *req = json_pack("{s:s, s:[], s:{}}", "session", session, "args", "env");

	for (size_t i = 0; req && i < argc; i++)
		json_array_append_new(json_object_get(req, "args"), json_string(args[i]));
	for (size_t i = 0; req && i < envc; i++) {
		const char *eq = strchr(env[i], '=');
		char name[256];

		if (eq == NULL || (size_t)(eq - env[i]) >= sizeof(name))
			continue;
		memcpy(name, env[i], (size_t)(eq - env[i]));
		name[eq - env[i]] = 0;
		json_object_set_new(json_object_get(req, "env"), name, json_string(eq + 1));
	}
	return req;
}

static int b64_decode(const char *in, uint8_t **out, size_t *size)
{
	size_t len = strlen(in), pad = 0;
	int n;

	if (len % 4 != 0)
		return -1;
	*out = malloc(len / 4 * 3 + 1);
	if (*out == NULL)
		return -1;
	n = EVP_DecodeBlock(*out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	if (len > 0 && in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	*size = (size_t)n - pad;
	return 0;
}

static int parse_config(struct shelter_config *c, struct shelter_err *err)
{
	json_t *args = json_object_get(c->root, "args"), *env = json_object_get(c->root, "env");
	json_t *files = json_object_get(c->root, "files"), *vols = json_object_get(c->root, "volumes");
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_array(args) || !json_is_object(env) || !json_is_object(files) ||
	    !json_is_array(vols))
		return shelter_err_set(err, SHELTER_E_PROTO, "configuration: fields missing");
	c->args = calloc(json_array_size(args) + 1, sizeof(*c->args));
	c->env_names = calloc(json_object_size(env) + 1, sizeof(char *));
	c->env_values = calloc(json_object_size(env) + 1, sizeof(char *));
	c->files = calloc(json_object_size(files) + 1, sizeof(*c->files));
	c->vols = calloc(json_array_size(vols) + 1, sizeof(*c->vols));
	if (!c->args || !c->env_names || !c->env_values || !c->files || !c->vols)
		return shelter_err_set(err, SHELTER_E_NOMEM, "configuration");
	json_array_foreach(args, i, v)
		if ((c->args[c->nargs++] = json_string_value(v)) == NULL)
			return shelter_err_set(err, SHELTER_E_PROTO, "configuration: args[%zu]", i);
	json_object_foreach(env, key, v) {
		c->env_names[c->nenv] = key;
		if ((c->env_values[c->nenv++] = json_string_value(v)) == NULL)
			return shelter_err_set(err, SHELTER_E_PROTO, "configuration: env %s", key);
	}
	json_object_foreach(files, key, v) {
		struct cfg_file *f = &c->files[c->nfiles++];

		f->path = key;
		if (!json_is_string(v) || b64_decode(json_string_value(v), &f->data, &f->size) < 0)
			return shelter_err_set(err, SHELTER_E_PROTO, "configuration: file %s", key);
	}
	json_array_foreach(vols, i, v) {
		struct cfg_volume *vol = &c->vols[c->nvols++];
		const char *k = json_string_value(json_object_get(v, "key"));
		json_t *tag = json_object_get(v, "tag");

		vol->name = json_string_value(json_object_get(v, "name"));
		vol->path = json_string_value(json_object_get(v, "path"));
		vol->has_tag = json_is_string(tag);
		if (vol->name == NULL || vol->path == NULL || k == NULL ||
		    shelter_unhex(k, vol->key, 32) < 0 ||
		    (vol->has_tag && shelter_unhex(json_string_value(tag), vol->tag, 32) < 0))
			return shelter_err_set(err, SHELTER_E_PROTO, "configuration: volume %zu", i);
	}
	return 0;
}

int shelter_attester_fetch(struct shelter_attester *a, const char *session,
			   const char *const *host_args, size_t argc, const char *const *host_env,
			   size_t envc, struct shelter_config **out, struct shelter_err *err)
{
	struct shelter_config *c = calloc(1, sizeof(*c));
	struct tls_conn *conn = NULL;
	json_t *req = NULL;
	int rc;

	*out = NULL;
	if (c == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "attest");
	rc = connect_and_prove(a, &conn, err);
	if (rc < 0)
		goto out;
	req = host_request(session, host_args, argc, host_env, envc);
	if (req == NULL) {
		rc = shelter_err_set(err, SHELTER_E_INVAL, "attest: arguments are not UTF-8");
		goto out;
	}
	rc = call(a, conn, HTTP_POST, "/v1/attest", req, "attest", &c->root, &c->json, err);
	if (rc == 0)
		rc = parse_config(c, err);
	if (rc == 0) {
		*out = c;
		c = NULL;
	}
out:
	tls_conn_close(conn);
	json_decref(req);
	shelter_config_free(c);
	return rc;
}

int shelter_attester_put_tag(struct shelter_attester *a, const char *session, const char *volume,
			     const uint8_t tag[32], const uint8_t *predecessor,
			     struct shelter_err *err)
{
	struct tls_conn *conn = NULL;
	json_t *req = NULL, *ans = NULL, *tagreq = NULL;
	char target[256], hex[65], phex[65], *raw = NULL;
	int rc;

	if (snprintf(target, sizeof(target), "/v1/volumes/%s/%s/tag", session, volume) >=
	    (int)sizeof(target))
		return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "volume '%s'", volume);
	rc = connect_and_prove(a, &conn, err);
	if (rc < 0)
		goto out;
	/* The tag is accepted only on a connection attested to its session (cas.md §5);
	 * the configuration that comes with it is not needed here. */
	req = host_request(session, NULL, 0, NULL, 0);
	rc = call(a, conn, HTTP_POST, "/v1/attest", req, "attest", &ans, &raw, err);
	if (rc < 0)
		goto out;
	shelter_hex(tag, 32, hex);
	if (predecessor != NULL)
		shelter_hex(predecessor, 32, phex);
	tagreq = json_pack("{s:s, s:o}", "tag", hex, "predecessor",
			   predecessor ? json_string(phex) : json_null());
	json_decref(ans);
	ans = NULL;
	rc = call(a, conn, HTTP_PUT, target, tagreq, "volume tag", &ans, NULL, err);
out:
	if (raw != NULL) {
		shelter_wipe(raw, strlen(raw));
		free(raw);
	}
	tls_conn_close(conn);
	json_decref(ans);
	json_decref(req);
	json_decref(tagreq);
	return rc;
}

void shelter_config_free(struct shelter_config *c)
{
	if (c == NULL)
		return;
	if (c->json != NULL) {
		shelter_wipe(c->json, strlen(c->json));
		free(c->json);
	}
	for (size_t i = 0; i < c->nfiles; i++) {
		shelter_wipe(c->files[i].data, c->files[i].size);
		free(c->files[i].data);
	}
	for (size_t i = 0; i < c->nvols; i++)
		shelter_wipe(c->vols[i].key, 32);
	json_decref(c->root);
	free(c->args);
	free(c->env_names);
	free(c->env_values);
	free(c->files);
	free(c->vols);
	free(c);
}

const char *shelter_config_json(const struct shelter_config *c)
{
	return c->json;
}

size_t shelter_config_arg_count(const struct shelter_config *c)
{
	return c->nargs;
}

const char *shelter_config_arg(const struct shelter_config *c, size_t i)
{
	return i < c->nargs ? c->args[i] : NULL;
}

size_t shelter_config_env_count(const struct shelter_config *c)
{
	return c->nenv;
}

void shelter_config_env(const struct shelter_config *c, size_t i, const char **name,
			const char **value)
{
	*name = i < c->nenv ? c->env_names[i] : NULL;
	*value = i < c->nenv ? c->env_values[i] : NULL;
}

size_t shelter_config_file_count(const struct shelter_config *c)
{
	return c->nfiles;
}

void shelter_config_file(const struct shelter_config *c, size_t i, const char **path,
			 const uint8_t **data, size_t *size)
{
	*path = i < c->nfiles ? c->files[i].path : NULL;
	*data = i < c->nfiles ? c->files[i].data : NULL;
	*size = i < c->nfiles ? c->files[i].size : 0;
}

size_t shelter_config_volume_count(const struct shelter_config *c)
{
	return c->nvols;
}

int shelter_config_volume(const struct shelter_config *c, size_t i, const char **name,
			  const char **path, uint8_t key[32], uint8_t tag[32], int *has_tag)
{
	if (i >= c->nvols)
		return SHELTER_E_INVAL;
	*name = c->vols[i].name;
	*path = c->vols[i].path;
	memcpy(key, c->vols[i].key, 32);
	memcpy(tag, c->vols[i].tag, 32);
	*has_tag = c->vols[i].has_tag;
	return 0;
}
