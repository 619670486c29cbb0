/* The X.509 objects a provider issues (docs/formats/quote.md §5.1-§5.3): its CA
 * certificate, platform certificates and CRLs. Built and signed with OpenSSL; no
 * I/O here. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "provider/internal.h"
#include "shelter/crypto.h"

static int add_ext(X509 *cert, X509_CRL *crl, X509V3_CTX *ctx, int nid, const char *value,
		   struct shelter_err *err)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok = ext != NULL && (cert != NULL ? X509_add_ext(cert, ext, -1)
					       : X509_CRL_add_ext(crl, ext, -1)) == 1;

	X509_EXTENSION_free(ext);
	if (!ok)
		return pki_ossl(err, SHELTER_E_CRYPTO, "extension %s = %s", OBJ_nid2sn(nid),
				value);
	return 0;
}

/* OU = ou, CN = name (§5.1, §5.2). */
static int set_subject(X509 *cert, const char *ou, const char *name, struct shelter_err *err)
{
	X509_NAME *subject = X509_get_subject_name(cert);

	if (X509_NAME_add_entry_by_NID(subject, NID_organizationalUnitName, MBSTRING_UTF8,
				       (const unsigned char *)ou, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)name, -1, -1, 0) != 1)
		return pki_ossl(err, SHELTER_E_CRYPTO, "certificate subject");
	return 0;
}

/* §5.1: 16 random bytes, first byte in 0x40..0x7f, so the serial is positive and
 * always exactly 16 bytes of DER content. */
static int set_serial(X509 *cert, uint8_t serial[PKI_SERIAL_SIZE], struct shelter_err *err)
{
	BIGNUM *bn = NULL;
	int rc = shelter_random_bytes(serial, PKI_SERIAL_SIZE, err);

	if (rc < 0)
		return rc;
	serial[0] = (uint8_t)((serial[0] & 0x3f) | 0x40);
	bn = BN_bin2bn(serial, PKI_SERIAL_SIZE, NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL)
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "certificate serial");
	BN_free(bn);
	return rc;
}

static int set_validity(X509 *cert, time_t not_before, time_t not_after,
			struct shelter_err *err)
{
	int rc = pki_set_time(X509_getm_notBefore(cert), not_before, err);

	if (rc == 0)
		rc = pki_set_time(X509_getm_notAfter(cert), not_after, err);
	return rc;
}

static int sign_cert(X509 *cert, EVP_PKEY *key, struct shelter_err *err)
{
	if (X509_sign(cert, key, EVP_sha256()) <= 0)
		return pki_ossl(err, SHELTER_E_CRYPTO, "sign certificate");
	return 0;
}

int prov_issue_ca(EVP_PKEY *key, const char *name, time_t now, X509 **out,
		  struct shelter_err *err)
{
	X509 *cert = X509_new();
	X509V3_CTX ctx;
	uint8_t serial[PKI_SERIAL_SIZE];
	int rc = 0;

	*out = NULL;
	if (cert == NULL || X509_set_version(cert, X509_VERSION_3) != 1 ||
	    X509_set_pubkey(cert, key) != 1) {
		rc = pki_ossl(err, SHELTER_E_NOMEM, "CA certificate");
		goto out;
	}
	rc = set_serial(cert, serial, err);
	if (rc == 0)
		rc = set_subject(cert, PKI_PROVIDER_OU, name, err);
	if (rc == 0 && X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1)
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "CA issuer name");
	if (rc == 0)
		rc = set_validity(cert, now - PROV_BACKDATE,
				  now + (time_t)PROV_CA_DAYS * 86400, err);
	if (rc < 0)
		goto out;
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	rc = add_ext(cert, NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE", err);
	if (rc == 0)
		rc = add_ext(cert, NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign", err);
	if (rc == 0)
		rc = add_ext(cert, NULL, &ctx, NID_subject_key_identifier, "hash", err);
	if (rc == 0)
		rc = add_ext(cert, NULL, &ctx, NID_authority_key_identifier, "keyid:always", err);
	if (rc == 0)
		rc = sign_cert(cert, key, err);
	if (rc == 0) {
		*out = cert;
		cert = NULL;
	}
out:
	X509_free(cert);
	return rc;
}

int prov_issue_platform(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *key, const char *name,
			time_t not_before, time_t not_after, X509 **out,
			uint8_t serial_out[PKI_SERIAL_SIZE], struct shelter_err *err)
{
	X509 *cert = X509_new();
	X509V3_CTX ctx;
	int rc = 0;

	*out = NULL;
	if (cert == NULL || X509_set_version(cert, X509_VERSION_3) != 1 ||
	    X509_set_pubkey(cert, key) != 1 ||
	    X509_set_issuer_name(cert, X509_get_subject_name(ca)) != 1) {
		rc = pki_ossl(err, SHELTER_E_NOMEM, "platform certificate");
		goto out;
	}
	rc = set_serial(cert, serial_out, err);
	if (rc == 0)
		rc = set_subject(cert, PKI_PLATFORM_OU, name, err);
	if (rc == 0)
		rc = set_validity(cert, not_before, not_after, err);
	if (rc < 0)
		goto out;
	X509V3_set_ctx(&ctx, ca, cert, NULL, NULL, 0);
	rc = add_ext(cert, NULL, &ctx, NID_basic_constraints, "critical,CA:FALSE", err);
	if (rc == 0)
		rc = add_ext(cert, NULL, &ctx, NID_key_usage, "critical,digitalSignature", err);
	if (rc == 0)
		rc = add_ext(cert, NULL, &ctx, NID_subject_key_identifier, "hash", err);
	if (rc == 0)
		rc = add_ext(cert, NULL, &ctx, NID_authority_key_identifier, "keyid:always", err);
	if (rc == 0)
		rc = sign_cert(cert, ca_key, err);
	if (rc == 0) {
		*out = cert;
		cert = NULL;
	}
out:
	X509_free(cert);
	return rc;
}

static int add_revoked(X509_CRL *crl, const struct prov_revoked *r, struct shelter_err *err)
{
	X509_REVOKED *rev = X509_REVOKED_new();
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *when = ASN1_TIME_new();
	BIGNUM *bn = NULL;
	int rc = 0;

	if (rev == NULL || when == NULL || BN_hex2bn(&bn, r->serial_hex) <= 0 ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    X509_REVOKED_set_serialNumber(rev, serial) != 1) {
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "CRL entry for serial %s", r->serial_hex);
		goto out;
	}
	rc = pki_set_time(when, r->when, err);
	if (rc < 0)
		goto out;
	if (X509_REVOKED_set_revocationDate(rev, when) != 1 || X509_CRL_add0_revoked(crl, rev) != 1) {
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "CRL entry for serial %s", r->serial_hex);
		goto out;
	}
	rev = NULL; /* owned by the CRL */
out:
	X509_REVOKED_free(rev);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(when);
	BN_free(bn);
	return rc;
}

int prov_issue_crl(X509 *ca, EVP_PKEY *ca_key, uint64_t number, time_t now,
		   const struct prov_revoked *revoked, size_t count, X509_CRL **out,
		   struct shelter_err *err)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *this_update = ASN1_TIME_new();
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509V3_CTX ctx;
	int rc = 0;

	*out = NULL;
	if (crl == NULL || this_update == NULL || num == NULL ||
	    X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
	    ASN1_INTEGER_set_uint64(num, number) != 1) {
		rc = pki_ossl(err, SHELTER_E_NOMEM, "CRL");
		goto out;
	}
	/* §5.3: no nextUpdate. Freshness comes from the CRL number a verifier holds,
	 * and an expiring CRL would stop every quote of an idle provider. */
	rc = pki_set_time(this_update, now, err);
	if (rc < 0)
		goto out;
	if (X509_CRL_set1_lastUpdate(crl, this_update) != 1) {
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "CRL thisUpdate");
		goto out;
	}
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = add_revoked(crl, &revoked[i], err);
	if (rc < 0)
		goto out;
	if (X509_CRL_sort(crl) != 1 || X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1) {
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "CRL number");
		goto out;
	}
	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	rc = add_ext(NULL, crl, &ctx, NID_authority_key_identifier, "keyid:always", err);
	if (rc < 0)
		goto out;
	if (X509_CRL_sign(crl, ca_key, EVP_sha256()) <= 0) {
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "sign CRL");
		goto out;
	}
	*out = crl;
	crl = NULL;
out:
	X509_CRL_free(crl);
	ASN1_TIME_free(this_update);
	ASN1_INTEGER_free(num);
	return rc;
}
