/* Talking to a CAS from the command line as an owner (docs/api/cas.md §1, §3). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "attest/ratls.h"
#include "cas/secrets.h"
#include "cli/cli.h"
#include "net/http.h"
#include "net/tls.h"
#include "shelter/crypto.h"

#define TIMEOUT_MS 10000
#define PEM_MAX (64 * 1024)

int cli_cas_defaults(struct cli_cas *c)
{
	if (c->url == NULL)
		c->url = getenv("SHELTER_CAS_URL");
	if (c->cert_file == NULL)
		c->cert_file = getenv("SHELTER_CAS_CERT");
	if (c->url == NULL || c->cert_file == NULL)
		return cli_usage("needs --cas URL and --cas-cert FILE (or SHELTER_CAS_URL and"
				 " SHELTER_CAS_CERT): the CAS certificate is pinned");
	return CLI_OK;
}

/* Client context: the pinned CAS certificate and, for owners, a self-signed
 * certificate for the owner key made on the fly (the owner is its key). */
static int client_ctx(const struct cli_cas *c, struct tls_ctx **out, struct shelter_err *err)
{
	struct tls_client_opts o = { 0 };
	char *pin = NULL, *cert_pem = NULL, *key_pem = NULL;
	size_t pin_size, der_size = 0;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	uint8_t *der = NULL;
	int rc = cli_read_file(c->cert_file, PEM_MAX, &pin, &pin_size, err);

	if (rc < 0)
		return rc;
	rc = tls_pin_from_pem(pin, pin_size, &der, &der_size, err);
	if (rc < 0) {
		rc = shelter_err_wrap(err, rc, "'%s'", c->cert_file);
		goto out;
	}
	o.pin_cert_der = der;
	o.pin_cert_der_size = der_size;
	if (c->owner_key != NULL) {
		rc = ratls_key_load_pem(c->owner_key, &key, err);
		if (rc == 0)
			rc = ratls_selfsigned_cert(key, "shelter-owner", 1, &cert, err);
		if (rc < 0)
			goto out;
		cert_pem = cas_pem_of_cert(cert);
		key_pem = cas_pem_of_key(key);
		if (cert_pem == NULL || key_pem == NULL) {
			rc = shelter_err_set(err, SHELTER_E_CRYPTO, "owner certificate");
			goto out;
		}
		o.cert_pem = cert_pem;
		o.cert_pem_size = strlen(cert_pem);
		o.key_pem = key_pem;
		o.key_pem_size = strlen(key_pem);
	}
	rc = tls_client_ctx_new(&o, out, err);
out:
	if (key_pem != NULL)
		shelter_wipe(key_pem, strlen(key_pem));
	free(key_pem);
	free(cert_pem);
	free(pin);
	OPENSSL_free(der);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

static int refusal(const struct http_response *resp, struct shelter_err *err)
{
	json_t *j = json_loadb((const char *)resp->body, resp->body_size, 0, NULL);
	json_t *e = json_object_get(j, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *reason = json_string_value(json_object_get(e, "reason"));
	int rc = resp->status == 409 ? SHELTER_E_CONFLICT
		 : resp->status == 403 ? SHELTER_E_DENIED
		 : resp->status == 404 ? SHELTER_E_NOENT
		 : resp->status == 400 ? SHELTER_E_INVAL
				       : SHELTER_E_PROTO;

	rc = shelter_err_set(err, rc, "CAS answered %d %s: %s", resp->status, code ? code : "?",
			     reason ? reason : "(no reason)");
	json_decref(j);
	return rc;
}

int cli_cas_call(const struct cli_cas *c, const char *method, const char *target,
		 json_t *body, json_t **out, struct shelter_err *err)
{
	enum http_method m = strcmp(method, "PUT") == 0 ? HTTP_PUT
			     : strcmp(method, "POST") == 0 ? HTTP_POST
							   : HTTP_GET;
	struct tls_ctx *ctx = NULL;
	struct tls_conn *conn = NULL;
	struct http_response resp;
	struct http_url url;
	char *text = NULL, path[2048];
	int rc;

	*out = NULL;
	rc = http_url_parse(c->url, &url, err);
	if (rc == 0)
		rc = client_ctx(c, &ctx, err);
	if (rc == 0)
		rc = tls_connect(ctx, url.host, url.port, TIMEOUT_MS, &conn, err);
	if (rc < 0)
		goto out;
	snprintf(path, sizeof(path), "%s%s", url.base, target);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	rc = tls_conn_write_request(conn, m, path, url.authority, text ? "application/json" : NULL,
				    text, text ? strlen(text) : 0, 0, NULL, 0, err);
	if (rc == 0)
		rc = tls_conn_read_response(conn, NULL, 0, &resp, err);
	if (rc == TLS_CONN_EOF)
		rc = shelter_err_set(err, SHELTER_E_PROTO, "the CAS closed the connection");
	if (rc < 0)
		goto out;
	if (resp.status / 100 != 2) {
		rc = refusal(&resp, err);
		goto out;
	}
	*out = json_loadb((const char *)resp.body, resp.body_size, 0, NULL);
	if (*out == NULL)
		rc = shelter_err_set(err, SHELTER_E_PROTO, "the CAS sent no JSON");
out:
	free(text);
	tls_conn_close(conn);
	tls_ctx_free(ctx);
	return rc;
}
