/* cas_probe: a misbehaving attestation client for tests/integration/cas.sh.
 *
 *   cas_probe MODE URL CAS_CERT PLATFORM_DIR SESSION PROGRAM [ARGS...]
 *
 * Runs the attestation exchange of docs/api/cas.md §4 for PROGRAM (measured as
 * `shelter measure -- PROGRAM ARGS` would), bending one step per MODE:
 *   ok           as the real client does
 *   replay       present the evidence certificate made for an earlier connection
 *   tamper       flip one byte of the quote's measurement after signing
 *   garbage      an evidence extension whose quote is not a quote
 *   plain        a certificate with no evidence at all
 *   wrong-key    a quote bound to another key than the certificate's
 *   no-nonce     ask for the configuration without a nonce or certificate
 *   late=SECS    wait SECS seconds between the nonce and the evidence
 *   tag:VOLUME:TAG:PRED  as the real client, then record VOLUME's tag (cas.md §5)
 *                with predecessor PRED ("-" for none); prints "tag=ok" or the error
 * Prints "status=N code=C" (C is the error code, or "-") and exits 0 on a 200.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "attest/ratls.h"
#include "net/http.h"
#include "net/tls.h"
#include "shelter/attest.h"
#include "shelter/crypto.h"
#include "shelter/measure.h"
#include "shelter/tee.h"

#define TIMEOUT_MS 10000
#define QUOTE_MEASUREMENT_OFFSET 12 /* quote.md: magic, version, type, flags */

struct probe {
	const char *mode;
	struct http_url url;
	struct tls_ctx *ctx;
	struct shelter_tee *tee;
	const char *session;
};

static void die(const char *what, const struct shelter_err *err)
{
	fprintf(stderr, "cas_probe: %s: %s\n", what, err ? err->msg : "failed");
	exit(2);
}

static int request(struct probe *p, struct tls_conn *c, const char *target, const char *body,
		   struct http_response *resp, json_t **json)
{
	struct shelter_err err;

	shelter_err_clear(&err);
	if (tls_conn_write_request(c, HTTP_POST, target, p->url.authority, "application/json", body,
				   strlen(body), 1, NULL, 0, &err) < 0 ||
	    tls_conn_read_response(c, NULL, 0, resp, &err) != 0)
		die(target, &err);
	*json = json_loadb((const char *)resp->body, resp->body_size, 0, NULL);
	return resp->status;
}

/* Nonce, key, quote, certificate for this connection (with the MODE's bend). */
static void evidence(struct probe *p, struct tls_conn *c, X509 **cert_out, EVP_PKEY **key_out)
{
	struct http_response resp;
	struct shelter_err err;
	uint8_t nonce[32], report[64];
	uint8_t *quote = NULL;
	size_t qsize;
	EVP_PKEY *key = NULL, *other = NULL;
	json_t *j = NULL;

	shelter_err_clear(&err);
	if (request(p, c, "/v1/attest/nonce", "{}", &resp, &j) != 200 ||
	    shelter_unhex(json_string_value(json_object_get(j, "nonce")), nonce, 32) < 0)
		die("nonce", NULL);
	json_decref(j);
	if (strncmp(p->mode, "late=", 5) == 0)
		sleep((unsigned)atoi(p->mode + 5));
	if (ratls_key_new(&key, &err) < 0 || ratls_key_new(&other, &err) < 0 ||
	    ratls_report_data(strcmp(p->mode, "wrong-key") == 0 ? other : key, nonce, report,
			      &err) < 0 ||
	    shelter_tee_quote(p->tee, report, &quote, &qsize, &err) < 0)
		die("quote", &err);
	if (strcmp(p->mode, "tamper") == 0)
		quote[QUOTE_MEASUREMENT_OFFSET] ^= 0x01;
	if (strcmp(p->mode, "garbage") == 0)
		memset(quote, 0x5a, qsize);
	if (strcmp(p->mode, "plain") == 0) {
		if (ratls_selfsigned_cert(key, "not-evidence", 1, cert_out, &err) < 0)
			die("plain certificate", &err);
	} else if (ratls_cert_create(key, RATLS_TAG_SHELTER_SIM, quote, qsize, cert_out, &err) < 0) {
		die("evidence certificate", &err);
	}
	free(quote);
	EVP_PKEY_free(other);
	*key_out = key;
}

static struct tls_conn *connect_cas(struct probe *p)
{
	struct tls_conn *c = NULL;
	struct shelter_err err;

	shelter_err_clear(&err);
	if (tls_connect(p->ctx, p->url.host, p->url.port, TIMEOUT_MS, &c, &err) < 0)
		die("connect", &err);
	return c;
}

static int run(struct probe *p)
{
	struct tls_conn *c = connect_cas(p), *c1 = NULL;
	struct http_response resp;
	struct shelter_err err;
	X509 *cert = NULL, *old = NULL;
	EVP_PKEY *key = NULL, *oldkey = NULL;
	char body[256];
	json_t *j = NULL;
	int status;

	shelter_err_clear(&err);
	snprintf(body, sizeof(body), "{\"session\": \"%s\"}", p->session);
	if (strcmp(p->mode, "replay") == 0) {
		/* Evidence made for connection 1, shown on connection 2 after its nonce. */
		c1 = connect_cas(p);
		evidence(p, c1, &old, &oldkey);
		evidence(p, c, &cert, &key);
		X509_free(cert);
		EVP_PKEY_free(key);
		cert = old;
		key = oldkey;
	} else if (strcmp(p->mode, "no-nonce") != 0) {
		evidence(p, c, &cert, &key);
	}
	if (cert != NULL && (tls_conn_set_client_cert(c, cert, key, &err) < 0 ||
			     tls_conn_await_cert_request(c, TIMEOUT_MS, &err) < 0))
		die("present evidence", &err);
	status = request(p, c, "/v1/attest", body, &resp, &j);
	printf("status=%d code=%s\n", status,
	       status == 200 ? "-"
			     : json_string_value(json_object_get(json_object_get(j, "error"), "code")));
	json_decref(j);
	X509_free(cert);
	EVP_PKEY_free(key);
	tls_conn_close(c);
	tls_conn_close(c1);
	return status == 200 ? 0 : 1;
}

/* The library's own client (shelter/attest.h) recording a volume tag. */
static int put_tag(struct probe *p, const char *url, const char *cert_file)
{
	struct shelter_attester_opts o = { .cas_url = url, .tee = p->tee };
	struct shelter_attester *a = NULL;
	struct shelter_err err;
	char vol[64], tag_hex[65], pred_hex[65];
	uint8_t tag[32], pred[32];
	static char pem[65536];
	FILE *f = fopen(cert_file, "r");
	int rc;

	shelter_err_clear(&err);
	if (f == NULL)
		die(cert_file, NULL);
	o.cas_cert_pem = pem;
	o.cas_cert_pem_size = fread(pem, 1, sizeof(pem) - 1, f);
	fclose(f);
	if (sscanf(p->mode, "tag:%63[^:]:%64[0-9a-f]:%64[-0-9a-f]", vol, tag_hex, pred_hex) != 3 ||
	    shelter_unhex(tag_hex, tag, 32) < 0 ||
	    (strcmp(pred_hex, "-") != 0 && shelter_unhex(pred_hex, pred, 32) < 0))
		die("tag mode: tag:VOLUME:HEX:HEX|-", NULL);
	rc = shelter_attester_new(&o, &a, &err);
	if (rc == 0)
		rc = shelter_attester_put_tag(a, p->session, vol, tag,
					      strcmp(pred_hex, "-") == 0 ? NULL : pred, &err);
	printf("tag=%s\n", rc == 0 ? "ok" : err.msg);
	shelter_attester_free(a);
	return rc == 0 ? 0 : 1;
}

static void setup(struct probe *p, char **argv, int argc)
{
	struct tls_client_opts o = { .defer_client_cert = 1 };
	struct shelter_measure_opts mo = { .program = argv[5], .argv = (const char *const *)argv + 5,
					   .argc = (size_t)argc - 5 };
	struct shelter_tee_opts to = { .backend = "sim", .platform_dir = argv[3] };
	struct shelter_identity id;
	struct shelter_err err;
	unsigned char *der = NULL;
	uint8_t m[32];
	FILE *f = fopen(argv[2], "r");
	X509 *pin = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	int n = pin ? i2d_X509(pin, &der) : -1;

	shelter_err_clear(&err);
	if (f != NULL)
		fclose(f);
	if (n <= 0)
		die("CAS certificate", NULL);
	o.pin_cert_der = der;
	o.pin_cert_der_size = (size_t)n;
	if (http_url_parse(argv[1], &p->url, &err) < 0 || tls_client_ctx_new(&o, &p->ctx, &err) < 0)
		die("client", &err);
	if (shelter_measure(&mo, m, NULL, &err) < 0 ||
	    shelter_measure_identity(m, NULL, 0, &id, &err) < 0)
		die("measure", &err);
	to.launch = &id;
	if (shelter_tee_open(&to, &p->tee, &err) < 0)
		die("TEE", &err);
	p->session = argv[4];
	OPENSSL_free(der);
	X509_free(pin);
}

int main(int argc, char **argv)
{
	struct probe p = { 0 };
	int rc;

	if (argc < 7) {
		fprintf(stderr, "usage: cas_probe MODE URL CAS_CERT PLATFORM_DIR SESSION PROGRAM [ARGS...]\n");
		return 2;
	}
	p.mode = argv[1];
	setup(&p, argv + 1, argc - 1);
	rc = strncmp(p.mode, "tag:", 4) == 0 ? put_tag(&p, argv[2], argv[3]) : run(&p);
	tls_ctx_free(p.ctx);
	shelter_tee_close(p.tee);
	return rc;
}
