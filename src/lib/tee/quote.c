/* The sim quote, version 1: wire format and verification (docs/formats/quote.md
 * §3-§5). The parser reads untrusted bytes through the bounded cursor in wire order
 * (STYLE.md rule 15); verification runs the checks of §4.2 in order, each with its
 * own error code, and returns nothing about a quote that fails any of them. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "shelter/crypto.h"
#include "tee/internal.h"
#include "tee/pki.h"
#include "util/buf.h"

_Static_assert(PKI_NAME_MAX == SHELTER_PLATFORM_NAME_MAX, "one name limit");

static int all_zero(const uint8_t *p, size_t size)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < size; i++)
		acc |= p[i];
	return acc == 0;
}

int tee_identity_check(const struct shelter_identity *id, struct shelter_err *err)
{
	const uint8_t *product = (const uint8_t *)id->product;
	const uint8_t *nul = memchr(product, 0, SHELTER_PRODUCT_MAX);

	if ((id->flags & ~TEE_FLAGS_KNOWN) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "reserved flag bits set (flags %#x)", id->flags);
	/* §3.1: the product is NUL-padded so that one name has one encoding. */
	if (nul == NULL || !all_zero(nul, SHELTER_PRODUCT_MAX - (size_t)(nul - product)))
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "product is not a NUL-terminated, zero-padded string");
	/* §3.1: product and version are meaningful only under a signer; an unsigned
	 * identity carrying them could be mistaken for a signed one. */
	if (all_zero(id->signer, sizeof(id->signer)) && (product[0] != 0 || id->version != 0))
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "product or version set without a signer");
	return 0;
}

void tee_quote_encode_body(const struct shelter_identity *id, const uint8_t key_id[32],
			   const uint8_t report_data[SHELTER_REPORT_DATA_SIZE],
			   uint8_t body[TEE_QUOTE_BODY_SIZE])
{
	/* quote.md §3, table 1: the offsets are the table's */
	memcpy(body + 0, TEE_QUOTE_MAGIC, 4);
	shelter_store_be(body + 4, TEE_QUOTE_VERSION, 2);
	shelter_store_be(body + 6, id->tee, 2);
	shelter_store_be(body + 8, id->flags, 4);
	memcpy(body + 12, id->measurement, SHELTER_MEASUREMENT_SIZE);
	memcpy(body + 44, id->signer, SHELTER_SIGNER_SIZE);
	memcpy(body + 76, id->product, SHELTER_PRODUCT_MAX);
	shelter_store_be(body + 140, id->version, 4);
	memcpy(body + 144, key_id, 32);
	memcpy(body + 176, report_data, SHELTER_REPORT_DATA_SIZE);
}

int tee_quote_parse(const uint8_t *quote, size_t size, struct tee_quote *q,
		    struct shelter_err *err)
{
	struct shelter_rbuf r;
	uint8_t magic[4];
	uint16_t version, cert_size;

	memset(q, 0, sizeof(*q));
	if (quote == NULL || size < TEE_QUOTE_FIXED_SIZE)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "%zu bytes, shorter than the %d-byte fixed part", size,
				       TEE_QUOTE_FIXED_SIZE);
	/* quote.md §3, table 1 */
	shelter_rbuf_init(&r, quote, size);
	shelter_rbuf_get_bytes(&r, magic, sizeof(magic));
	version = shelter_rbuf_u16(&r);
	q->id.tee = shelter_rbuf_u16(&r);
	q->id.flags = shelter_rbuf_u32(&r);
	shelter_rbuf_get_bytes(&r, q->id.measurement, SHELTER_MEASUREMENT_SIZE);
	shelter_rbuf_get_bytes(&r, q->id.signer, SHELTER_SIGNER_SIZE);
	shelter_rbuf_get_bytes(&r, q->id.product, SHELTER_PRODUCT_MAX);
	q->id.version = shelter_rbuf_u32(&r);
	shelter_rbuf_get_bytes(&r, q->key_id, sizeof(q->key_id));
	shelter_rbuf_get_bytes(&r, q->report_data, sizeof(q->report_data));
	shelter_rbuf_get_bytes(&r, q->sig, sizeof(q->sig));
	cert_size = shelter_rbuf_u16(&r);
	if (r.bad)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "quote parser overran");
	if (memcmp(magic, TEE_QUOTE_MAGIC, 4) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "bad magic (not a Shelter quote)");
	if (version != TEE_QUOTE_VERSION)
		return shelter_err_set(err, SHELTER_E_VERSION,
				       "quote format version %u (this verifier reads %d)", version,
				       TEE_QUOTE_VERSION);
	/* §2: version 1 defines the sim TEE only; hardware evidence gets its own
	 * layout under a new TEE type. */
	if (q->id.tee != SHELTER_TEE_SIM)
		return shelter_err_set(err, SHELTER_E_VERSION,
				       "TEE type %u not supported by this verifier", q->id.tee);
	if ((q->id.flags & SHELTER_TEE_FLAG_SIM) == 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "sim quote without the SIM flag (flags %#x)", q->id.flags);
	if (tee_identity_check(&q->id, err) < 0)
		return SHELTER_E_MALFORMED;
	if (cert_size == 0 || cert_size > TEE_QUOTE_CERT_MAX || r.left != cert_size)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "certificate length %u does not match the %zu bytes left "
				       "(1..%d allowed)", cert_size, r.left, TEE_QUOTE_CERT_MAX);
	q->cert = shelter_rbuf_take(&r, cert_size);
	q->cert_size = cert_size;
	return 0;
}

/* ---- verification (quote.md §4.2) ---- */

struct vstate {
	const struct shelter_trust *trust;
	int revoked;
	int expired_depth; /* -1: none */
	int expired_error;
};

/* Revocation and validity-time failures are noted and the walk goes on, so that
 * a forged certificate reports its bad signature rather than a copied revoked
 * serial, and a revoked, expired one reports the revocation (§4.2 order). Every
 * other failure stops the walk. */
static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
	struct vstate *v = X509_STORE_CTX_get_app_data(ctx);
	int e = X509_STORE_CTX_get_error(ctx);

	if (ok)
		return 1;
	switch (e) {
	case X509_V_ERR_CERT_REVOKED:
		v->revoked = 1;
		return 1;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		if (v->expired_depth < 0) {
			v->expired_depth = X509_STORE_CTX_get_error_depth(ctx);
			v->expired_error = e;
		}
		return 1;
	default:
		return 0;
	}
}

/* Replaces OpenSSL's per-call CRL signature check (§4.3): the trust only holds CRLs
 * whose signature and number it checked when they were added, so accept exactly
 * the CRL held for the provider that issued the certificate, and nothing else. */
int tee_check_crl(X509_STORE_CTX *ctx, X509_CRL *crl)
{
	struct vstate *v = X509_STORE_CTX_get_app_data(ctx);
	const struct tee_provider *p = tee_trust_find(v->trust,
						       X509_STORE_CTX_get0_current_issuer(ctx));

	if (p == NULL || p->crl == NULL || p->crl != crl) {
		X509_STORE_CTX_set_error(ctx, X509_V_ERR_CRL_SIGNATURE_FAILURE);
		return 0;
	}
	return 1;
}

static int chain_error(X509_STORE_CTX *ctx, const char *who, struct shelter_err *err)
{
	int e = X509_STORE_CTX_get_error(ctx);
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	char provider[PKI_NAME_MAX] = "?";

	ERR_clear_error();
	if (chain != NULL && sk_X509_num(chain) > 1)
		pki_display_cn(sk_X509_value(chain, 1), provider);
	switch (e) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "%s: not enrolled by any trusted provider", who);
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "%s: no CRL of provider '%s' is held (add its crl.pem "
				       "to the trust)", who, provider);
	default:
		return shelter_err_set(err, SHELTER_E_UNTRUSTED, "%s: provider '%s': %s", who,
				       provider, X509_verify_cert_error_string(e));
	}
}

/* §4.2 steps 5-7: chain, revocation, validity time. *provider is the enrolling
 * provider on success. */
static int check_chain(X509 *cert, const struct shelter_trust *trust, time_t at,
		       const char *who, const struct tee_provider **provider,
		       struct shelter_err *err)
{
	struct vstate v = { .trust = trust, .revoked = 0, .expired_depth = -1 };
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain;
	const struct tee_provider *p = NULL;
	int rc = 0;

	if (ctx == NULL || X509_STORE_CTX_init(ctx, trust->store, cert, NULL) != 1) {
		rc = pki_ossl(err, SHELTER_E_NOMEM, "%s: verification context", who);
		goto out;
	}
	X509_STORE_CTX_set0_crls(ctx, trust->crls);
	X509_STORE_CTX_set_app_data(ctx, &v);
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_X509_STRICT);
	if (at != 0)
		X509_STORE_CTX_set_time(ctx, 0, at);
	if (X509_verify_cert(ctx) != 1) {
		rc = chain_error(ctx, who, err);
		goto out;
	}
	chain = X509_STORE_CTX_get0_chain(ctx);
	if (chain == NULL || sk_X509_num(chain) != 2 ||
	    (p = tee_trust_find(trust, sk_X509_value(chain, 1))) == NULL) {
		rc = shelter_err_set(err, SHELTER_E_UNTRUSTED,
				     "%s: not issued directly by a trusted provider CA", who);
		goto out;
	}
	if (v.revoked) {
		rc = shelter_err_set(err, SHELTER_E_REVOKED, "%s: revoked by provider '%s'", who,
				     p->name);
		goto out;
	}
	if (v.expired_depth >= 0) {
		const char *when = v.expired_error == X509_V_ERR_CERT_NOT_YET_VALID
					   ? "is not yet valid"
					   : "has expired";

		if (v.expired_depth == 0)
			rc = shelter_err_set(err, SHELTER_E_EXPIRED,
					     "%s: platform certificate %s", who, when);
		else
			rc = shelter_err_set(err, SHELTER_E_EXPIRED,
					     "%s: certificate of provider '%s' %s", who, p->name,
					     when);
		goto out;
	}
	*provider = p;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	return rc;
}

/* §4.4: revocation and validity of a certificate whose chain to provider verified
 * under this trust: the newest CRL must not list it, and neither it nor the CA may
 * be outside its validity. */
static int check_cached_chain(X509 *cert, const struct tee_provider *p, time_t at,
			      const char *who, struct shelter_err *err)
{
	X509_REVOKED *rev = NULL;
	time_t now = at != 0 ? at : time(NULL);

	if (p->crl == NULL)
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "%s: no CRL of provider '%s' is held", who, p->name);
	if (X509_CRL_get0_by_cert(p->crl, &rev, cert) == 1)
		return shelter_err_set(err, SHELTER_E_REVOKED, "%s: revoked by provider '%s'", who,
				       p->name);
	if (X509_cmp_time(X509_get0_notBefore(cert), &now) > 0 ||
	    X509_cmp_time(X509_get0_notAfter(cert), &now) < 0)
		return shelter_err_set(err, SHELTER_E_EXPIRED,
				       "%s: platform certificate %s", who,
				       X509_cmp_time(X509_get0_notBefore(cert), &now) > 0
					       ? "is not yet valid"
					       : "has expired");
	if (X509_cmp_time(X509_get0_notBefore(p->ca), &now) > 0 ||
	    X509_cmp_time(X509_get0_notAfter(p->ca), &now) < 0)
		return shelter_err_set(err, SHELTER_E_EXPIRED,
				       "%s: certificate of provider '%s' is outside its validity",
				       who, p->name);
	return 0;
}

/* §4.2 steps 2-3: the quote's certificate, parsed, with its key id and name, from
 * the trust's cache when these bytes verified before (§4.4). */
static int quote_cert(const struct tee_quote *q, const struct shelter_trust *trust, X509 **cert,
		      uint8_t key_id[32], char *name, int *cached,
		      const struct tee_provider **chained, struct shelter_err *err)
{
	const unsigned char *p = q->cert;

	*cached = tee_cert_cache_get(trust, q->cert, q->cert_size, cert, key_id, name, chained);
	if (*cached)
		return 0;
	*cert = d2i_X509(NULL, &p, (long)q->cert_size);
	if (*cert == NULL || p != q->cert + q->cert_size)
		return pki_ossl(err, SHELTER_E_MALFORMED,
				"quote: platform certificate is not %zu bytes of DER",
				q->cert_size);
	if (X509_get0_pubkey(*cert) == NULL)
		return pki_ossl(err, SHELTER_E_MALFORMED,
				"quote: platform certificate's key does not decode");
	pki_display_cn(*cert, name);
	return pki_cert_key_id(*cert, key_id, err);
}

int tee_quote_verify_at(const uint8_t *quote, size_t size, const struct shelter_trust *trust,
			time_t at, struct shelter_quote_info *out, struct shelter_err *err)
{
	const struct tee_provider *provider = NULL, *chained = NULL;
	struct tee_quote q;
	X509 *cert = NULL;
	uint8_t key_id[32];
	char name[PKI_NAME_MAX] = "?", serial[PKI_SERIAL_HEX_MAX] = "?", who[160];
	int rc, cached = 0;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (out == NULL || trust == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "quote: NULL argument");
	/* §4.2 step 1: structure */
	rc = tee_quote_parse(quote, size, &q, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "quote");
	/* step 2: the certificate is DER, exactly cert_size bytes */
	rc = quote_cert(&q, trust, &cert, key_id, name, &cached, &chained, err);
	if (rc < 0)
		goto out;
	pki_serial_hex(X509_get0_serialNumber(cert), serial);
	snprintf(who, sizeof(who), "quote: platform '%s' (serial %s)", name, serial);
	/* step 3: a platform certificate, whose key the key id names */
	if (!cached) {
		rc = pki_check_platform_cert(cert, name, err);
		if (rc < 0)
			goto wrap;
	}
	if (!shelter_ct_equal(key_id, q.key_id, sizeof(key_id))) {
		rc = shelter_err_set(err, SHELTER_E_UNTRUSTED,
				     "%s: key id does not match the certificate's key", who);
		goto out;
	}
	/* step 4: the platform key signed the body */
	rc = pki_verify_raw(X509_get0_pubkey(cert), quote, TEE_QUOTE_BODY_SIZE, q.sig, err);
	if (rc == SHELTER_E_UNTRUSTED)
		/* The key is the certificate's: the body or signature was changed. */
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
				     "the quote does not match its signature (modified)");
	if (rc < 0)
		goto wrap;
	/* steps 5-7: chain to a trusted provider, not revoked, within validity; for
	 * bytes whose chain verified under this trust, steps 6-7 only (§4.4) */
	if (chained != NULL)
		rc = check_cached_chain(cert, chained, at, who, err);
	else
		rc = check_chain(cert, trust, at, who, &chained, err);
	if (rc < 0)
		goto out;
	provider = chained;
	tee_cert_cache_put(trust, q.cert, q.cert_size, cert, key_id, name, provider);
	out->id = q.id;
	memcpy(out->report_data, q.report_data, sizeof(out->report_data));
	memcpy(out->provider, provider->id, sizeof(out->provider));
	memcpy(out->platform, key_id, sizeof(out->platform));
	memcpy(out->platform_name, name, sizeof(out->platform_name));
	goto out;
wrap:
	shelter_err_wrap(err, rc, "%s", who);
out:
	X509_free(cert);
	return rc;
}

int shelter_quote_verify(const uint8_t *quote, size_t size, const struct shelter_trust *trust,
			 struct shelter_quote_info *out, struct shelter_err *err)
{
	return tee_quote_verify_at(quote, size, trust, 0, out, err);
}
