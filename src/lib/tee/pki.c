/* PKI helpers shared by the TEE and the provider code: the contract is pki.h, the
 * certificate profile docs/formats/quote.md §5. Every primitive is OpenSSL's. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "shelter/crypto.h"
#include "tee/pki.h"

int pki_ossl(struct shelter_err *err, int code, const char *fmt, ...)
{
	unsigned long e = ERR_peek_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ERR_clear_error();
	if (reason != NULL)
		return shelter_err_set(err, code, "%s: OpenSSL: %s", what, reason);
	return shelter_err_set(err, code, "%s", what);
}

int pki_rewrap(struct shelter_err *err, int code, const char *what)
{
	shelter_err_wrap(err, code, "%s", what);
	if (err != NULL)
		err->code = code;
	return code;
}

int pki_name_ok(const char *name)
{
	size_t n = 0;

	if (name == NULL)
		return 0;
	for (; name[n] != '\0'; n++) {
		char c = name[n];

		if (n >= PKI_NAME_MAX - 1)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

int pki_name_check(const char *what, const char *name, struct shelter_err *err)
{
	if (pki_name_ok(name))
		return 0;
	if (name == NULL || name[0] == '\0')
		return shelter_err_set(err, SHELTER_E_INVAL, "%s: empty name: use 1-63 "
				       "characters from A-Z a-z 0-9 . _ -", what);
	/* Print the refused name only when it is short and printable: it may be
	 * anything a user typed. */
	for (const char *c = name; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e || c - name > 80)
			return shelter_err_set(err, SHELTER_E_INVAL,
					       "%s: invalid name: use 1-63 characters from "
					       "A-Z a-z 0-9 . _ -", what);
	}
	return shelter_err_set(err, SHELTER_E_INVAL,
			       "%s: invalid name '%s': use 1-63 characters from A-Z a-z 0-9 . _ -",
			       what, name);
}

int pki_key_is_p256(const EVP_PKEY *key)
{
	char group[64];
	size_t len = 0;

	if (key == NULL || !EVP_PKEY_is_a(key, "EC"))
		return 0;
	if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) {
		ERR_clear_error();
		return 0;
	}
	return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

int pki_key_id(const EVP_PKEY *key, uint8_t out[32], struct shelter_err *err)
{
	unsigned char *der = NULL;
	int len, rc;

	memset(out, 0, 32);
	len = i2d_PUBKEY(key, &der);
	if (len <= 0)
		return pki_ossl(err, SHELTER_E_CRYPTO, "key id: encode public key");
	rc = shelter_sha256(der, (size_t)len, out, err);
	OPENSSL_free(der);
	return rc;
}

int pki_cert_key_id(const X509 *cert, uint8_t out[32], struct shelter_err *err)
{
	unsigned char *der = NULL;
	int len, rc;

	memset(out, 0, 32);
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (len <= 0)
		return pki_ossl(err, SHELTER_E_MALFORMED, "key id: certificate key");
	rc = shelter_sha256(der, (size_t)len, out, err);
	OPENSSL_free(der);
	return rc;
}

int pki_keygen(EVP_PKEY **out, struct shelter_err *err)
{
	*out = EVP_EC_gen("P-256");
	if (*out == NULL)
		return pki_ossl(err, SHELTER_E_CRYPTO, "generate P-256 key");
	return 0;
}

/* The single entry of nid in name as a valid name; SHELTER_E_UNTRUSTED when it is
 * absent, repeated, not a string type or not a valid name. */
static int name_entry(const X509_NAME *name, int nid, char *buf, size_t size)
{
	int idx = X509_NAME_get_index_by_NID(name, nid, -1);
	const ASN1_STRING *s;
	int len, type;

	memset(buf, 0, size); /* callers copy whole buffers: no stale bytes after the NUL */
	if (idx < 0 || X509_NAME_get_index_by_NID(name, nid, idx) >= 0)
		return -1;
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
	if (s == NULL)
		return -1;
	type = ASN1_STRING_type(s);
	len = ASN1_STRING_length(s);
	if ((type != V_ASN1_UTF8STRING && type != V_ASN1_PRINTABLESTRING) || len <= 0 ||
	    (size_t)len >= size)
		return -1;
	memcpy(buf, ASN1_STRING_get0_data(s), (size_t)len);
	buf[len] = '\0';
	if (strlen(buf) != (size_t)len) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

int pki_subject_cn(const X509_NAME *subject, char *buf, struct shelter_err *err)
{
	if (name_entry(subject, NID_commonName, buf, PKI_NAME_MAX) < 0 || !pki_name_ok(buf)) {
		buf[0] = '\0';
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "subject must hold exactly one CN of 1-63 characters "
				       "from A-Z a-z 0-9 . _ -");
	}
	return 0;
}

void pki_display_cn(const X509 *cert, char buf[PKI_NAME_MAX])
{
	if (cert == NULL || pki_subject_cn(X509_get_subject_name(cert), buf, NULL) < 0)
		snprintf(buf, PKI_NAME_MAX, "?");
}

void pki_serial_hex(const ASN1_INTEGER *serial, char out[PKI_SERIAL_HEX_MAX])
{
	uint8_t bytes[(PKI_SERIAL_HEX_MAX - 1) / 2];
	BIGNUM *bn = serial != NULL ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
	int n = bn != NULL ? BN_num_bytes(bn) : -1;
	int width = n > PKI_SERIAL_SIZE ? n : PKI_SERIAL_SIZE;

	snprintf(out, PKI_SERIAL_HEX_MAX, "?");
	if (bn != NULL && !BN_is_negative(bn) && (size_t)width <= sizeof(bytes) &&
	    BN_bn2binpad(bn, bytes, width) == width)
		shelter_hex(bytes, (size_t)width, out);
	BN_free(bn);
	ERR_clear_error();
}

/* Exactly one subject OU equal to want. */
static int has_ou(const X509 *cert, const char *want)
{
	char ou[PKI_NAME_MAX];

	return name_entry(X509_get_subject_name(cert), NID_organizationalUnitName, ou,
			  sizeof(ou)) == 0 && strcmp(ou, want) == 0;
}

int pki_check_platform_cert(X509 *cert, char *name_out, struct shelter_err *err)
{
	uint32_t xf = X509_get_extension_flags(cert);
	uint32_t ku = X509_get_key_usage(cert);
	char name[PKI_NAME_MAX] = "";

	if (name_out != NULL)
		name_out[0] = '\0';
	if (X509_get_version(cert) != X509_VERSION_3 || (xf & EXFLAG_INVALID) != 0)
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "not an X.509 v3 certificate with valid extensions");
	if ((xf & EXFLAG_BCONS) == 0 || (xf & EXFLAG_CA) != 0)
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "not a platform certificate: basicConstraints must be "
				       "present with CA:FALSE");
	if ((xf & EXFLAG_KUSAGE) == 0 || (ku & KU_DIGITAL_SIGNATURE) == 0 ||
	    (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0)
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "not a platform certificate: keyUsage must be "
				       "digitalSignature without certificate or CRL signing");
	if (!has_ou(cert, PKI_PLATFORM_OU))
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "not a platform certificate: subject lacks the marker "
				       "OU=" PKI_PLATFORM_OU " (quote.md §5.2)");
	if (!pki_key_is_p256(X509_get0_pubkey(cert)))
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "platform key is not an ECDSA P-256 key");
	if (pki_subject_cn(X509_get_subject_name(cert), name, err) < 0)
		return pki_rewrap(err, SHELTER_E_UNTRUSTED, "platform certificate");
	if (name_out != NULL)
		memcpy(name_out, name, sizeof(name));
	return 0;
}

int pki_check_ca_cert(X509 *cert, char *name_out, struct shelter_err *err)
{
	uint32_t xf = X509_get_extension_flags(cert);
	uint32_t ku = X509_get_key_usage(cert);
	char name[PKI_NAME_MAX] = "";
	EVP_PKEY *key = X509_get0_pubkey(cert);

	if (name_out != NULL)
		name_out[0] = '\0';
	if (X509_get_version(cert) != X509_VERSION_3 || (xf & EXFLAG_INVALID) != 0)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "not an X.509 v3 certificate with valid extensions");
	if ((xf & EXFLAG_BCONS) == 0 || (xf & EXFLAG_CA) == 0)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "not a CA certificate (basicConstraints CA:TRUE)");
	if ((xf & EXFLAG_KUSAGE) == 0 || (ku & KU_KEY_CERT_SIGN) == 0 || (ku & KU_CRL_SIGN) == 0)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "CA keyUsage must include keyCertSign and cRLSign");
	if (!pki_key_is_p256(key))
		return shelter_err_set(err, SHELTER_E_INVAL, "CA key is not an ECDSA P-256 key");
	if (X509_check_issued(cert, cert) != X509_V_OK || X509_verify(cert, key) != 1) {
		ERR_clear_error();
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "not a self-signed CA certificate (self-signature does "
				       "not verify)");
	}
	if (pki_subject_cn(X509_get_subject_name(cert), name, err) < 0)
		return pki_rewrap(err, SHELTER_E_INVAL, "CA certificate");
	if (name_out != NULL)
		memcpy(name_out, name, sizeof(name));
	return 0;
}

/* ---- PEM ---- */

int pki_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static BIO *pem_bio(const char *pem, size_t size, struct shelter_err *err)
{
	BIO *bio;

	if (pem == NULL || size == 0 || size > INT_MAX) {
		shelter_err_set(err, SHELTER_E_MALFORMED, "empty or oversized PEM input");
		return NULL;
	}
	bio = BIO_new_mem_buf(pem, (int)size);
	if (bio == NULL)
		pki_ossl(err, SHELTER_E_NOMEM, "PEM buffer");
	return bio;
}

#define PEM_READER(fn, type, reader, what)                                                 \
	int fn(const char *pem, size_t size, type **out, struct shelter_err *err)          \
	{                                                                                  \
		BIO *bio = pem_bio(pem, size, err);                                        \
                                                                                           \
		*out = NULL;                                                               \
		if (bio == NULL)                                                           \
			return err != NULL ? err->code : SHELTER_E_MALFORMED;              \
		*out = reader(bio, NULL, pki_no_passphrase, NULL);                             \
		BIO_free(bio);                                                             \
		if (*out == NULL)                                                          \
			return pki_ossl(err, SHELTER_E_MALFORMED, "no valid PEM " what);   \
		return 0;                                                                  \
	}

PEM_READER(pki_cert_from_pem, X509, PEM_read_bio_X509, "certificate")
PEM_READER(pki_crl_from_pem, X509_CRL, PEM_read_bio_X509_CRL, "CRL")
PEM_READER(pki_key_from_pem, EVP_PKEY, PEM_read_bio_PrivateKey, "private key")
PEM_READER(pki_req_from_pem, X509_REQ, PEM_read_bio_X509_REQ, "certificate request")

/* Copy a memory BIO's contents into a malloc'd NUL-terminated string. */
static int bio_take(BIO *bio, char **out, size_t *size, struct shelter_err *err)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);

	if (len <= 0 || data == NULL)
		return pki_ossl(err, SHELTER_E_CRYPTO, "PEM encode");
	*out = malloc((size_t)len + 1);
	if (*out == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "PEM encode: out of memory");
	memcpy(*out, data, (size_t)len);
	(*out)[len] = '\0';
	*size = (size_t)len;
	return 0;
}

#define PEM_WRITER(fn, type, writer, what)                                                 \
	int fn(type *obj, char **out, size_t *size, struct shelter_err *err)               \
	{                                                                                  \
		BIO *bio = BIO_new(BIO_s_mem());                                           \
		int rc;                                                                    \
                                                                                           \
		*out = NULL;                                                               \
		*size = 0;                                                                 \
		if (bio == NULL || writer != 1)                                            \
			rc = pki_ossl(err, SHELTER_E_CRYPTO, "PEM encode " what);          \
		else                                                                       \
			rc = bio_take(bio, out, size, err);                                \
		BIO_free(bio); /* BUF_MEM_free clears the buffer (OPENSSL_clear_free) */   \
		return rc;                                                                 \
	}

PEM_WRITER(pki_cert_to_pem, X509, PEM_write_bio_X509(bio, obj), "certificate")
PEM_WRITER(pki_crl_to_pem, X509_CRL, PEM_write_bio_X509_CRL(bio, obj), "CRL")
PEM_WRITER(pki_req_to_pem, X509_REQ, PEM_write_bio_X509_REQ(bio, obj), "request")
PEM_WRITER(pki_key_to_pem, EVP_PKEY,
	   PEM_write_bio_PKCS8PrivateKey(bio, obj, NULL, NULL, 0, NULL, NULL), "private key")

void pki_free_secret_pem(char *pem, size_t size)
{
	if (pem == NULL)
		return;
	shelter_wipe(pem, size);
	free(pem);
}

int pki_crl_number(X509_CRL *crl, uint64_t *out, struct shelter_err *err)
{
	int crit = 0;
	ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	uint64_t v = 0;
	int rc = 0;

	*out = 0;
	if (num == NULL || ASN1_INTEGER_get_uint64(&v, num) != 1 || v > INT64_MAX)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED,
				     "CRL has no CRL number (RFC 5280 §5.2.3) in 0..2^63-1");
	else
		*out = v;
	ASN1_INTEGER_free(num);
	ERR_clear_error();
	return rc;
}

/* ---- raw ECDSA signatures (quote.md §4) ---- */

int pki_sign_raw(EVP_PKEY *key, const uint8_t *msg, size_t size, uint8_t sig[PKI_SIG_SIZE],
		 struct shelter_err *err)
{
	unsigned char der[128];
	const unsigned char *p = der;
	size_t der_size = sizeof(der);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *es = NULL;
	int rc = 0;

	memset(sig, 0, PKI_SIG_SIZE);
	if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &der_size, msg, size) != 1) {
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "ECDSA sign");
		goto out;
	}
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_size);
	if (es == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) != 32)
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "ECDSA sign: encode r || s");
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return rc;
}

int pki_verify_raw(EVP_PKEY *key, const uint8_t *msg, size_t size,
		   const uint8_t sig[PKI_SIG_SIZE], struct shelter_err *err)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int der_size = -1, rc = 0;

	if (es == NULL || r == NULL || s == NULL || md == NULL ||
	    ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		rc = pki_ossl(err, SHELTER_E_NOMEM, "ECDSA verify");
		goto out;
	}
	der_size = i2d_ECDSA_SIG(es, &der);
	if (der_size <= 0 || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) != 1) {
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "ECDSA verify");
		goto out;
	}
	if (EVP_DigestVerify(md, der, (size_t)der_size, msg, size) != 1) {
		ERR_clear_error();
		rc = shelter_err_set(err, SHELTER_E_UNTRUSTED, "signature does not verify");
	}
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(es);
	return rc;
}

int pki_set_time(ASN1_TIME *t, time_t when, struct shelter_err *err)
{
	if (ASN1_TIME_set(t, when) == NULL)
		return pki_ossl(err, SHELTER_E_INVAL, "time %lld out of range", (long long)when);
	return 0;
}

