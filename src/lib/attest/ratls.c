/* RA-TLS evidence certificates: docs/formats/ra-tls.md. Contracts in ratls.h.
 *
 * Cost (ra-tls.md §6): the CAS must take >= 1,000 attestations per second on two
 * cores, so the verifier side never builds a CBOR item tree and never copies the
 * quote: it walks the two CBOR heads with libcbor's allocation-free streaming
 * decoder and hands back a pointer into the certificate. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cbor.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "attest/ratls.h"
#include "net/tls.h"
#include "tee/pki.h"

/* The DER content octets of OID 2.23.133.5.4.9 (X.690 §8.19: 2*40+23 = 0x67,
 * 133 = 0x81 0x05, then 5, 4, 9). Extensions are matched on these bytes, which is
 * exact and needs no ASN1_OBJECT per certificate. */
static const uint8_t evidence_oid_der[] = { 0x67, 0x81, 0x05, 0x05, 0x04, 0x09 };

#define KEY_FILE_MAX 16384 /* a PEM Ed25519 or P-256 private key is under 300 bytes */
#define CN_MAX 64          /* RFC 5280 ub-common-name */
#define DAYS_MAX 36500u

enum key_kind { KEY_NONE = 0, KEY_P256 = 1, KEY_ED25519 = 2 };

/* Translate the oldest queued OpenSSL error and drain the queue, so a later caller
 * never sees a stale error (same rule as crypto.c). */
static int ossl_fail(struct shelter_err *err, int code, const char *what)
{
	unsigned long e = ERR_get_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	if (reason != NULL)
		return shelter_err_set(err, code, "%s: OpenSSL: %s", what, reason);
	return shelter_err_set(err, code, "%s: OpenSSL failed", what);
}

static enum key_kind key_kind(const EVP_PKEY *key)
{
	char group[32];
	size_t n = 0;

	if (key == NULL)
		return KEY_NONE;
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_ED25519:
		return KEY_ED25519;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(key, group, sizeof(group), &n) == 1 &&
		    strcmp(group, SN_X9_62_prime256v1) == 0)
			return KEY_P256;
		return KEY_NONE;
	default:
		return KEY_NONE;
	}
}

/* ---- SPKI hashes and report data (ra-tls.md §3) ---- */

/* The two SubjectPublicKeyInfo forms of the keys this file makes, as DER: a fixed
 * prefix (SEQUENCE, AlgorithmIdentifier, BIT STRING head with 0 unused bits) and
 * the raw public key. P-256: id-ecPublicKey with the named curve prime256v1 and
 * the 65-byte uncompressed point (RFC 5480 §2); Ed25519: id-Ed25519 without
 * parameters and the 32-byte key (RFC 8410 §4). These are the bytes i2d_PUBKEY
 * writes for such keys (test_ratls compares them), without its cost: OpenSSL 3.0
 * encodes a provider key through its encoder framework, whose set-up on every call
 * costs far more than the encoding (bench/README.md, bench/cas). */
static const uint8_t spki_prefix_p256[] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};
static const uint8_t spki_prefix_ed25519[] = {
	0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
};
#define P256_POINT_SIZE 65
#define ED25519_KEY_SIZE 32
#define SPKI_DER_MAX (sizeof(spki_prefix_p256) + P256_POINT_SIZE)

/* 1 when the EC key's string parameter name is want. */
static int ec_param_is(const EVP_PKEY *key, const char *name, const char *want)
{
	char v[32];
	size_t n = 0;

	return EVP_PKEY_get_utf8_string_param(key, name, v, sizeof(v), &n) == 1 &&
	       strcmp(v, want) == 0;
}

/* The raw public key of a P-256 or Ed25519 key into out (P256_POINT_SIZE bytes of
 * room); its size, or 0 for any other key or form. A P-256 key's SPKI follows its
 * own settings (a compressed point, explicit curve parameters): only the default
 * ones, named curve and uncompressed point, give the prefix form above. */
static size_t raw_public_key(const EVP_PKEY *key, enum key_kind kind, uint8_t *out)
{
	size_t n = 0;

	if (kind == KEY_P256 &&
	    ec_param_is(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
			OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) &&
	    ec_param_is(key, OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_GROUP) &&
	    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out,
					    P256_POINT_SIZE, &n) == 1 &&
	    n == P256_POINT_SIZE && out[0] == POINT_CONVERSION_UNCOMPRESSED)
		return n;
	if (kind == KEY_ED25519 &&
	    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, out, ED25519_KEY_SIZE,
					    &n) == 1 &&
	    n == ED25519_KEY_SIZE)
		return n;
	ERR_clear_error();
	return 0;
}

/* The SubjectPublicKeyInfo DER of key into out; its size, or 0 when key is not of
 * the two forms above (the caller then asks i2d_PUBKEY). */
static size_t spki_der(const EVP_PKEY *key, uint8_t out[SPKI_DER_MAX])
{
	enum key_kind kind = key_kind(key);
	const uint8_t *prefix = kind == KEY_P256 ? spki_prefix_p256 : spki_prefix_ed25519;
	size_t plen = kind == KEY_P256 ? sizeof(spki_prefix_p256) : sizeof(spki_prefix_ed25519);
	size_t n = kind != KEY_NONE ? raw_public_key(key, kind, out + plen) : 0;

	if (n == 0)
		return 0;
	memcpy(out, prefix, plen);
	return plen + n;
}

int ratls_key_new(EVP_PKEY **out, struct shelter_err *err)
{
	EVP_PKEY *key;

	if (out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "RA-TLS key: NULL argument");
	*out = NULL;
	/* In the context of the TLS connection that will use it (net/tls.h), so that
	 * signing there needs no copy of the key into another context. */
	key = EVP_PKEY_Q_keygen(tls_libctx(), NULL, "EC", SN_X9_62_prime256v1);
	if (key == NULL)
		return ossl_fail(err, SHELTER_E_CRYPTO, "RA-TLS key: generate P-256");
	*out = key;
	return 0;
}

/* SHA-256 over DER the caller allocated with OpenSSL; frees it. */
static int hash_der(unsigned char *der, int n, uint8_t out[RATLS_SPKI_HASH_SIZE],
		    struct shelter_err *err, const char *what)
{
	int rc = 0;

	if (n <= 0 || der == NULL)
		rc = ossl_fail(err, SHELTER_E_CRYPTO, what);
	else if (SHA256(der, (size_t)n, out) == NULL)
		rc = ossl_fail(err, SHELTER_E_CRYPTO, what);
	OPENSSL_free(der);
	return rc;
}

int ratls_key_spki_sha256(const EVP_PKEY *key, uint8_t out[RATLS_SPKI_HASH_SIZE],
			  struct shelter_err *err)
{
	uint8_t spki[SPKI_DER_MAX];
	unsigned char *der = NULL;
	size_t size;
	int n;

	if (key == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "SPKI hash: NULL argument");
	size = spki_der(key, spki);
	if (size != 0) {
		if (SHA256(spki, size, out) == NULL)
			return ossl_fail(err, SHELTER_E_CRYPTO, "SPKI hash");
		return 0;
	}
	n = i2d_PUBKEY(key, &der);
	return hash_der(der, n, out, err, "SPKI hash: encode public key");
}

int ratls_spki_sha256(const X509 *cert, uint8_t out[RATLS_SPKI_HASH_SIZE],
		      struct shelter_err *err)
{
	unsigned char *der = NULL;
	int n;

	if (cert == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "SPKI hash: NULL argument");
	/* The DER of the parsed SubjectPublicKeyInfo, as the attester encoded it
	 * (ratls_key_spki_sha256): both sides hash the same canonical encoding (§3). */
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	return hash_der(der, n, out, err, "SPKI hash: encode certificate public key");
}

int ratls_report_data(const EVP_PKEY *key, const uint8_t nonce[RATLS_NONCE_SIZE],
		      uint8_t out[RATLS_REPORT_DATA_SIZE], struct shelter_err *err)
{
	int rc;

	if (key == NULL || nonce == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "report data: NULL argument");
	rc = ratls_key_spki_sha256(key, out, err);
	if (rc != 0)
		return shelter_err_wrap(err, rc, "report data");
	memcpy(out + RATLS_SPKI_HASH_SIZE, nonce, RATLS_NONCE_SIZE);
	return 0;
}

int ratls_check_binding(const X509 *cert, const uint8_t report_data[RATLS_REPORT_DATA_SIZE],
			const uint8_t nonce[RATLS_NONCE_SIZE], struct shelter_err *err)
{
	uint8_t spki[RATLS_SPKI_HASH_SIZE];
	int rc;

	if (cert == NULL || report_data == NULL || nonce == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "RA-TLS binding: NULL argument");
	rc = ratls_spki_sha256(cert, spki, err);
	if (rc != 0)
		return shelter_err_wrap(err, rc, "RA-TLS binding");
	/* §3: the key first, so evidence lifted into a certificate for another key is
	 * "untrusted" whatever its nonce; only evidence for this very key with another
	 * nonce (an old certificate replayed whole) is a replay. */
	if (CRYPTO_memcmp(report_data, spki, sizeof(spki)) != 0)
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "RA-TLS binding: the quote's report data does not bind "
				       "this certificate's public key");
	if (CRYPTO_memcmp(report_data + RATLS_SPKI_HASH_SIZE, nonce, RATLS_NONCE_SIZE) != 0)
		return shelter_err_set(err, SHELTER_E_REPLAY,
				       "RA-TLS binding: the quote's report data carries another "
				       "nonce than this connection's");
	return 0;
}

/* ---- the evidence value (ra-tls.md §4) ---- */

/* The formats this version decodes. */
static const char *tag_name(uint64_t tag)
{
	return tag == RATLS_TAG_SHELTER_SIM ? "Shelter sim quote" : NULL;
}

/* Bytes of the shortest CBOR head carrying value (RFC 8949 §4.2.1). */
static size_t head_size(uint64_t value)
{
	if (value < 24)
		return 1;
	if (value <= UINT8_MAX)
		return 2;
	if (value <= UINT16_MAX)
		return 3;
	if (value <= UINT32_MAX)
		return 5;
	return 9;
}

size_t ratls_evidence_size(uint64_t evidence_tag, size_t quote_size)
{
	return head_size(evidence_tag) + head_size(quote_size) + quote_size;
}

int ratls_evidence_encode(uint64_t evidence_tag, const uint8_t *quote, size_t quote_size,
			  uint8_t *out, size_t cap, size_t *out_size, struct shelter_err *err)
{
	size_t n, m;

	if (out_size != NULL)
		*out_size = 0;
	if (quote == NULL || out == NULL || out_size == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "encode evidence: NULL argument");
	if (tag_name(evidence_tag) == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "encode evidence: tag %" PRIu64 " is not a format this "
				       "version can verify", evidence_tag);
	if (quote_size == 0 || quote_size > RATLS_QUOTE_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "encode evidence: quote of %zu bytes (want 1..%u)",
				       quote_size, RATLS_QUOTE_MAX);
	if (cap < ratls_evidence_size(evidence_tag, quote_size))
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "encode evidence: %zu-byte buffer, need %zu", cap,
				       ratls_evidence_size(evidence_tag, quote_size));
	/* libcbor's head encoders always choose the shortest head, which the decoder
	 * requires; no item tree, no second copy of the quote. */
	n = cbor_encode_tag(evidence_tag, out, cap);
	m = n != 0 ? cbor_encode_bytestring_start(quote_size, out + n, cap - n) : 0;
	if (n == 0 || m == 0 || n + m + quote_size > cap)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "encode evidence: libcbor");
	memcpy(out + n + m, quote, quote_size);
	*out_size = n + m + quote_size;
	return 0;
}

/* What one cbor_stream_decode call saw: the decoder invokes exactly one callback
 * per head it reads. Every callback is set, so no item goes unnoticed. */
enum ev_kind { EV_NONE = 0, EV_TAG, EV_BYTES, EV_OTHER };
struct ev_seen {
	enum ev_kind kind;
	const char *what; /* EV_OTHER: the item, for the error message */
	uint64_t value;   /* EV_TAG */
	const uint8_t *data;
	size_t size; /* EV_BYTES */
};

static void seen_other(void *ctx, const char *what)
{
	struct ev_seen *s = ctx;

	s->kind = EV_OTHER;
	s->what = what;
}

static void cb_tag(void *ctx, uint64_t value)
{
	struct ev_seen *s = ctx;

	s->kind = EV_TAG;
	s->value = value;
}

static void cb_bytes(void *ctx, cbor_data data, size_t size)
{
	struct ev_seen *s = ctx;

	s->kind = EV_BYTES;
	s->data = data;
	s->size = size;
}

static void cb_uint8(void *c, uint8_t v) { (void)v; seen_other(c, "an unsigned integer"); }
static void cb_uint16(void *c, uint16_t v) { (void)v; seen_other(c, "an unsigned integer"); }
static void cb_uint32(void *c, uint32_t v) { (void)v; seen_other(c, "an unsigned integer"); }
static void cb_uint64(void *c, uint64_t v) { (void)v; seen_other(c, "an unsigned integer"); }
static void cb_neg8(void *c, uint8_t v) { (void)v; seen_other(c, "a negative integer"); }
static void cb_neg16(void *c, uint16_t v) { (void)v; seen_other(c, "a negative integer"); }
static void cb_neg32(void *c, uint32_t v) { (void)v; seen_other(c, "a negative integer"); }
static void cb_neg64(void *c, uint64_t v) { (void)v; seen_other(c, "a negative integer"); }
static void cb_bytes_indef(void *c) { seen_other(c, "an indefinite-length byte string"); }
static void cb_text(void *c, cbor_data d, size_t n)
{
	(void)d;
	(void)n;
	seen_other(c, "a text string");
}
static void cb_text_indef(void *c) { seen_other(c, "an indefinite-length text string"); }
static void cb_array(void *c, size_t n) { (void)n; seen_other(c, "an array"); }
static void cb_array_indef(void *c) { seen_other(c, "an indefinite-length array"); }
static void cb_map(void *c, size_t n) { (void)n; seen_other(c, "a map"); }
static void cb_map_indef(void *c) { seen_other(c, "an indefinite-length map"); }
static void cb_float(void *c, float v) { (void)v; seen_other(c, "a float"); }
static void cb_double(void *c, double v) { (void)v; seen_other(c, "a float"); }
static void cb_undef(void *c) { seen_other(c, "undefined"); }
static void cb_null(void *c) { seen_other(c, "null"); }
static void cb_bool(void *c, bool v) { (void)v; seen_other(c, "a boolean"); }
static void cb_break(void *c) { seen_other(c, "a break"); }

static const struct cbor_callbacks ev_callbacks = {
	.uint8 = cb_uint8, .uint16 = cb_uint16, .uint32 = cb_uint32, .uint64 = cb_uint64,
	.negint8 = cb_neg8, .negint16 = cb_neg16, .negint32 = cb_neg32, .negint64 = cb_neg64,
	.byte_string_start = cb_bytes_indef, .byte_string = cb_bytes,
	.string = cb_text, .string_start = cb_text_indef,
	.indef_array_start = cb_array_indef, .array_start = cb_array,
	.indef_map_start = cb_map_indef, .map_start = cb_map,
	.tag = cb_tag,
	.float2 = cb_float, .float4 = cb_float, .float8 = cb_double,
	.undefined = cb_undef, .null = cb_null, .boolean = cb_bool,
	.indef_break = cb_break,
};

/* Read one head at p (left bytes) and require kind `want`; *used gets the bytes it
 * took (for a byte string, head and content). `where` names the item. */
static int ev_next(const uint8_t *p, size_t left, enum ev_kind want, const char *where,
		   struct ev_seen *seen, size_t *used, struct shelter_err *err)
{
	struct cbor_decoder_result r;

	memset(seen, 0, sizeof(*seen));
	*used = 0;
	if (left == 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "evidence: %s missing", where);
	r = cbor_stream_decode(p, left, &ev_callbacks, seen);
	switch (r.status) {
	case CBOR_DECODER_FINISHED:
		break;
	case CBOR_DECODER_NEDATA:
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "evidence: %s truncated (%zu of %zu bytes)", where, left,
				       r.required);
	case CBOR_DECODER_ERROR:
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "evidence: %s: not well-formed CBOR (initial byte %#04x)",
				       where, p[0]);
	default:
		return shelter_err_set(err, SHELTER_E_MALFORMED, "evidence: %s: CBOR decoder "
				       "status %d", where, (int)r.status);
	}
	if (seen->kind != want)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "evidence: %s is %s", where,
				       seen->kind == EV_OTHER ? seen->what :
				       seen->kind == EV_TAG ? "a tag" :
				       seen->kind == EV_BYTES ? "a byte string" : "nothing");
	if (r.read == 0 || r.read > left)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "evidence: CBOR decoder read "
				       "%zu of %zu bytes", r.read, left);
	*used = r.read;
	return 0;
}

int ratls_evidence_decode(const uint8_t *value, size_t size, uint64_t *tag,
			  const uint8_t **quote, size_t *quote_size, struct shelter_err *err)
{
	struct ev_seen t, b;
	size_t used_tag = 0, used_bytes = 0;
	int rc;

	if (tag != NULL)
		*tag = 0;
	if (quote != NULL)
		*quote = NULL;
	if (quote_size != NULL)
		*quote_size = 0;
	if ((value == NULL && size != 0) || tag == NULL || quote == NULL || quote_size == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "evidence: NULL argument");
	/* §4.1: bound the whole value first, so nothing below sees an oversized input. */
	if (size > RATLS_EVIDENCE_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "evidence: %zu bytes, more than the %u a %u-byte quote "
				       "needs", size, RATLS_EVIDENCE_MAX, RATLS_QUOTE_MAX);
	rc = ev_next(value, size, EV_TAG, "the outer item", &t, &used_tag, err);
	if (rc != 0)
		return rc;
	if (used_tag != head_size(t.value))
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "evidence: tag %" PRIu64 " in a %zu-byte head, not the "
				       "shortest (%zu)", t.value, used_tag, head_size(t.value));
	/* §4.2: verifiers refuse every format they do not know. */
	if (t.value == RATLS_TAG_INTEL_TEE_QUOTE)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "evidence: tag 60000 (Intel TEE quote, Interoperable "
				       "RA-TLS) is not supported by this version");
	if (tag_name(t.value) == NULL)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "evidence: unknown tag %" PRIu64,
				       t.value);
	rc = ev_next(value + used_tag, size - used_tag, EV_BYTES, "the tagged item", &b,
		     &used_bytes, err);
	if (rc != 0)
		return rc;
	if (used_bytes - b.size != head_size(b.size))
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "evidence: byte string length %zu in a %zu-byte head, not "
				       "the shortest (%zu)", b.size, used_bytes - b.size,
				       head_size(b.size));
	if (b.size == 0 || b.size > RATLS_QUOTE_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "evidence: quote of %zu bytes (want 1..%u)", b.size,
				       RATLS_QUOTE_MAX);
	if (used_tag + used_bytes != size)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "evidence: %zu trailing bytes after the tagged quote",
				       size - used_tag - used_bytes);
	*tag = t.value;
	*quote = b.data;
	*quote_size = b.size;
	return 0;
}

/* ---- certificates (ra-tls.md §2) ---- */

/* The certificate's subjectPublicKeyInfo, from the raw public key for the two
 * forms of spki_der (*raw = 1: the certificate holds no EVP_PKEY yet, cert_sign
 * attaches one by parsing the signed certificate), else X509_set_pubkey. In OpenSSL
 * 3.0 X509_set_pubkey encodes a provider key through the encoder framework and
 * decodes the result through the decoder framework, each paying a set-up that costs
 * more than the work; parsing the finished certificate decodes the key once. */
static int set_pubkey(X509 *x, EVP_PKEY *key, int *raw)
{
	uint8_t point[P256_POINT_SIZE], *bits;
	enum key_kind kind = key_kind(key);
	size_t n = raw_public_key(key, kind, point);
	int p256 = kind == KEY_P256;

	*raw = 0;
	if (n == 0)
		return X509_set_pubkey(x, key);
	bits = OPENSSL_memdup(point, n);
	if (bits == NULL)
		return 0;
	/* X509_PUBKEY_set0_param takes bits only when it succeeds. */
	if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x),
				   OBJ_nid2obj(p256 ? NID_X9_62_id_ecPublicKey : NID_ED25519),
				   p256 ? V_ASN1_OBJECT : V_ASN1_UNDEF,
				   p256 ? OBJ_nid2obj(NID_X9_62_prime256v1) : NULL, bits,
				   (int)n) != 1) {
		OPENSSL_free(bits);
		return 0;
	}
	*raw = 1;
	return 1;
}

/* Subject = issuer = CN cn, random positive 16-byte serial, v3, the public key,
 * validity [now - 60 s, now + days * 86400 + secs]. *raw as set_pubkey. */
static int cert_skeleton(EVP_PKEY *key, const char *cn, int days, long secs, X509 **out,
			 int *raw, struct shelter_err *err)
{
	uint8_t serial[16];
	X509 *x = X509_new_ex(tls_libctx(), NULL); /* signed and used there (net/tls.h) */
	X509_NAME *name;
	int rc = 0;

	*out = NULL;
	if (x == NULL) {
		rc = ossl_fail(err, SHELTER_E_NOMEM, "certificate");
		goto out;
	}
	/* RFC 5280 §4.1.2.2: positive, at most 20 octets; the set top bit keeps all
	 * 16 octets, so the encoding is the same length every time. */
	if (RAND_bytes(serial, sizeof(serial)) != 1) {
		rc = ossl_fail(err, SHELTER_E_CRYPTO, "certificate: random serial");
		goto out;
	}
	serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40);
	name = X509_get_subject_name(x);
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_STRING_set(X509_get_serialNumber(x), serial, sizeof(serial)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -60) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, secs, NULL) == NULL ||
	    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || set_pubkey(x, key, raw) != 1) {
		rc = ossl_fail(err, SHELTER_E_CRYPTO, "certificate: fill fields");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return rc;
}

/* Self-sign: Ed25519 takes no digest (RFC 8410 §6), P-256 signs with SHA-256. With
 * raw (set_pubkey), *x is replaced by the signed certificate parsed back from its
 * DER, as a peer reads it, whose key must be this key. */
static int cert_sign(X509 **x, EVP_PKEY *key, enum key_kind kind, int raw,
		     struct shelter_err *err)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	const EVP_PKEY *pub;
	X509 *parsed = NULL;
	int n, rc = 0;

	if (X509_sign(*x, key, kind == KEY_ED25519 ? NULL : EVP_sha256()) <= 0)
		return ossl_fail(err, SHELTER_E_CRYPTO, "certificate: sign");
	if (!raw)
		return 0;
	n = i2d_X509(*x, &der);
	p = der;
	/* parsed in tls_libctx, where decoding the key is cheap; d2i frees it on failure */
	parsed = n > 0 ? X509_new_ex(tls_libctx(), NULL) : NULL;
	if (parsed != NULL && d2i_X509(&parsed, &p, n) == NULL)
		parsed = NULL;
	pub = parsed != NULL ? X509_get0_pubkey(parsed) : NULL;
	if (pub == NULL || p != der + n || EVP_PKEY_eq(pub, key) != 1) {
		rc = ossl_fail(err, SHELTER_E_CRYPTO, "certificate: parse the signed certificate");
		X509_free(parsed);
	} else {
		X509_free(*x);
		*x = parsed;
	}
	OPENSSL_free(der);
	return rc;
}

/* The non-critical evidence extension holding value (§2, §4). Takes value
 * (OPENSSL_malloc'd) in every case: the octet string adopts it without a copy. */
static int add_evidence(X509 *x, uint8_t *value, size_t size, struct shelter_err *err)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(RATLS_EVIDENCE_OID, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int rc = 0;

	if (oid == NULL || os == NULL) {
		OPENSSL_free(value);
		rc = ossl_fail(err, SHELTER_E_NOMEM, "evidence extension");
		goto out;
	}
	ASN1_STRING_set0(os, value, (int)size);
	ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
		rc = ossl_fail(err, SHELTER_E_CRYPTO, "evidence extension");
out:
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(oid);
	return rc;
}

int ratls_cert_create(EVP_PKEY *key, uint64_t evidence_tag, const uint8_t *quote,
		      size_t quote_size, X509 **out, struct shelter_err *err)
{
	uint8_t *value = NULL;
	size_t cap, size = 0;
	enum key_kind kind = key_kind(key);
	X509 *x = NULL;
	int raw = 0, rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || quote == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "RA-TLS certificate: NULL argument");
	if (kind == KEY_NONE)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "RA-TLS certificate: key is not P-256 or Ed25519");
	if (quote_size == 0 || quote_size > RATLS_QUOTE_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "RA-TLS certificate: quote of %zu bytes (want 1..%u)",
				       quote_size, RATLS_QUOTE_MAX);
	cap = ratls_evidence_size(evidence_tag, quote_size);
	value = OPENSSL_malloc(cap);
	if (value == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "RA-TLS certificate: evidence");
		goto out;
	}
	rc = ratls_evidence_encode(evidence_tag, quote, quote_size, value, cap, &size, err);
	if (rc == 0)
		rc = cert_skeleton(key, RATLS_CN, 0, 10 * 60, &x, &raw, err);
	if (rc == 0) {
		rc = add_evidence(x, value, size, err);
		value = NULL;
	}
	if (rc == 0)
		rc = cert_sign(&x, key, kind, raw, err);
	if (rc != 0) {
		rc = shelter_err_wrap(err, rc, "RA-TLS certificate");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	OPENSSL_free(value);
	return rc;
}

int ratls_cert_from_der(const uint8_t *der, size_t size, X509 **out, struct shelter_err *err)
{
	const unsigned char *p = der;
	X509 *x;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || (der == NULL && size != 0))
		return shelter_err_set(err, SHELTER_E_INVAL, "certificate: NULL argument");
	if (size == 0 || size > RATLS_CERT_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "certificate: %zu bytes of DER (want 1..%u)", size,
				       RATLS_CERT_MAX);
	/* In the library context libssl parses client certificates in (net/tls.h); on
	 * failure d2i frees x and sets it to NULL. */
	x = X509_new_ex(tls_libctx(), NULL);
	if (x == NULL)
		return ossl_fail(err, SHELTER_E_NOMEM, "certificate");
	if (d2i_X509(&x, &p, (long)size) == NULL)
		return ossl_fail(err, SHELTER_E_MALFORMED, "certificate: not one DER X.509 "
				 "certificate");
	if (p != der + size) {
		X509_free(x);
		ERR_clear_error();
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "certificate: %zu trailing bytes after the certificate",
				       (size_t)(der + size - p));
	}
	*out = x;
	return 0;
}

int ratls_evidence_extract(const X509 *cert, uint64_t *tag, const uint8_t **quote,
			   size_t *quote_size, struct shelter_err *err)
{
	X509_EXTENSION *found = NULL;
	const ASN1_OCTET_STRING *os;
	int count, matches = 0, rc;

	if (tag != NULL)
		*tag = 0;
	if (quote != NULL)
		*quote = NULL;
	if (quote_size != NULL)
		*quote_size = 0;
	if (cert == NULL || tag == NULL || quote == NULL || quote_size == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "RA-TLS certificate: NULL argument");
	count = X509_get_ext_count(cert);
	for (int i = 0; i < count; i++) {
		X509_EXTENSION *ext = X509_get_ext(cert, i);
		const ASN1_OBJECT *obj = ext != NULL ? X509_EXTENSION_get_object(ext) : NULL;

		if (obj != NULL && OBJ_length(obj) == sizeof(evidence_oid_der) &&
		    memcmp(OBJ_get0_data(obj), evidence_oid_der, sizeof(evidence_oid_der)) == 0) {
			found = ext;
			matches++;
		}
	}
	/* §2: exactly one, so no verifier can be shown evidence another one ignores. */
	if (matches != 1)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "RA-TLS certificate: %d evidence extensions (%s), want "
				       "exactly one", matches, RATLS_EVIDENCE_OID);
	os = X509_EXTENSION_get_data(found);
	if (os == NULL || ASN1_STRING_length(os) < 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "RA-TLS certificate: evidence extension without a value");
	rc = ratls_evidence_decode(ASN1_STRING_get0_data(os), (size_t)ASN1_STRING_length(os),
				   tag, quote, quote_size, err);
	if (rc != 0)
		return shelter_err_wrap(err, rc, "RA-TLS certificate: extension %s",
					RATLS_EVIDENCE_OID);
	return 0;
}

int ratls_cert_check_time(const X509 *cert, time_t now, struct shelter_err *err)
{
	const ASN1_TIME *nb, *na;
	int c;

	if (cert == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "certificate: NULL argument");
	nb = X509_get0_notBefore(cert);
	na = X509_get0_notAfter(cert);
	/* X509_cmp_time: -1 when the time is before now, 1 after, 0 unreadable. */
	c = nb != NULL ? X509_cmp_time(nb, &now) : 0;
	if (c == 0)
		return ossl_fail(err, SHELTER_E_MALFORMED, "certificate: unreadable notBefore");
	if (c > 0)
		return shelter_err_set(err, SHELTER_E_EXPIRED, "certificate: not valid yet");
	c = na != NULL ? X509_cmp_time(na, &now) : 0;
	if (c == 0)
		return ossl_fail(err, SHELTER_E_MALFORMED, "certificate: unreadable notAfter");
	if (c < 0)
		return shelter_err_set(err, SHELTER_E_EXPIRED, "certificate: expired");
	return 0;
}

int ratls_selfsigned_cert(EVP_PKEY *key, const char *cn, unsigned days, X509 **out,
			  struct shelter_err *err)
{
	enum key_kind kind = key_kind(key);
	size_t cn_len = cn != NULL ? strlen(cn) : 0;
	X509 *x = NULL;
	int raw = 0, rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || cn == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "self-signed certificate: NULL "
				       "argument");
	if (kind == KEY_NONE)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "self-signed certificate: key is not Ed25519 or P-256");
	if (cn_len == 0 || cn_len > CN_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "self-signed certificate: CN of %zu bytes (want 1..%d)",
				       cn_len, CN_MAX);
	if (days == 0 || days > DAYS_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "self-signed certificate: %u days (want 1..%u)", days,
				       DAYS_MAX);
	rc = cert_skeleton(key, cn, (int)days, 0, &x, &raw, err);
	if (rc == 0)
		rc = cert_sign(&x, key, kind, raw, err);
	if (rc != 0) {
		rc = shelter_err_wrap(err, rc, "self-signed certificate '%s'", cn);
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return rc;
}

/* ---- PEM key files ---- */

static int write_all(int fd, const char *buf, size_t size)
{
	while (size > 0) {
		ssize_t n = write(fd, buf, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		buf += n;
		size -= (size_t)n;
	}
	return 0;
}

/* fsync the directory holding path, so the new name survives a crash. */
static int sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, e = 0;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fsync(fd) < 0)
		e = errno;
	close(fd);
	return e;
}

int ratls_key_save_pem(const EVP_PKEY *key, const char *path, struct shelter_err *err)
{
	char tmp[PATH_MAX];
	const char *slash, *base;
	BIO *mem = NULL;
	BUF_MEM *pem = NULL;
	int fd = -1, e, rc = 0, made = 0;

	if (key == NULL || path == NULL || path[0] == '\0')
		return shelter_err_set(err, SHELTER_E_INVAL, "save key: NULL argument");
	if (key_kind(key) == KEY_NONE)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "save key '%s': not an Ed25519 or P-256 key", path);
	slash = strrchr(path, '/');
	base = slash != NULL ? slash + 1 : path;
	if (snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp-XXXXXX", (int)(base - path), path, base) >=
	    (int)sizeof(tmp))
		return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "save key '%s'", path);
	/* A secure-memory BIO: its buffer is cleansed when freed (OpenSSL BUF_MEM
	 * secure flag), so the PEM text of the key does not linger on the heap. */
	mem = BIO_new(BIO_s_secmem());
	if (mem == NULL || PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    BIO_get_mem_ptr(mem, &pem) != 1 || pem == NULL) {
		rc = ossl_fail(err, SHELTER_E_CRYPTO, "save key: encode PEM");
		goto out;
	}
	/* mkostemp creates the file 0600 whatever the umask; fchmod states it. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = shelter_err_errno(err, errno, "save key: create '%s'", tmp);
		goto out;
	}
	made = 1;
	e = fchmod(fd, 0600) < 0 ? errno : write_all(fd, pem->data, pem->length);
	if (e == 0 && fsync(fd) < 0)
		e = errno;
	if (e != 0) {
		rc = shelter_err_errno(err, e, "save key: write '%s'", tmp);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = shelter_err_errno(err, errno, "save key: close '%s'", tmp);
		goto out;
	}
	fd = -1;
	/* link(2) fails with EEXIST instead of replacing: never overwrite a key. */
	if (link(tmp, path) < 0) {
		e = errno;
		if (e == EEXIST)
			rc = shelter_err_set(err, SHELTER_E_EXIST,
					     "save key '%s': already exists; refusing to overwrite",
					     path);
		else
			rc = shelter_err_errno(err, e, "save key: link '%s'", path);
		goto out;
	}
	e = sync_parent(path);
	if (e != 0)
		rc = shelter_err_errno(err, e, "save key: sync the directory of '%s'", path);
out:
	if (fd >= 0)
		close(fd);
	if (made)
		(void)unlink(tmp);
	BIO_free(mem);
	return rc;
}

int ratls_key_load_pem(const char *path, EVP_PKEY **out, struct shelter_err *err)
{
	struct stat st = { 0 };
	char what[PATH_MAX + 64];
	char *buf = NULL;
	size_t size = 0;
	BIO *mem = NULL;
	EVP_PKEY *key = NULL;
	int fd = -1, rc = 0;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "load key: NULL argument");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = shelter_err_errno(err, errno, "load key '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > KEY_FILE_MAX) {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED,
				     "load key '%s': not a regular file of 1..%d bytes", path,
				     KEY_FILE_MAX);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		rc = shelter_err_set(err, SHELTER_E_PERM,
				     "load key '%s': permissions %04o are too open; the key must "
				     "be readable by its owner only (chmod 600)", path,
				     (unsigned)(st.st_mode & 07777));
		goto out;
	}
	buf = OPENSSL_secure_malloc((size_t)st.st_size);
	if (buf == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "load key '%s'", path);
		goto out;
	}
	while (size < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + size, (size_t)st.st_size - size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? shelter_err_errno(err, errno, "load key '%s'", path)
				   : shelter_err_set(err, SHELTER_E_TRUNCATED,
						     "load key '%s': file shrank while read", path);
			goto out;
		}
		size += (size_t)n;
	}
	mem = BIO_new_mem_buf(buf, (int)size);
	key = mem != NULL ? PEM_read_bio_PrivateKey(mem, NULL, pki_no_passphrase, NULL) : NULL;
	if (key == NULL) {
		snprintf(what, sizeof(what), "load key '%s': not an unencrypted PEM private key",
			 path);
		rc = ossl_fail(err, SHELTER_E_MALFORMED, what);
		goto out;
	}
	if (key_kind(key) == KEY_NONE) {
		rc = shelter_err_set(err, SHELTER_E_BADKEY,
				     "load key '%s': a %s key; want Ed25519 or P-256", path,
				     EVP_PKEY_get0_type_name(key) != NULL ?
				     EVP_PKEY_get0_type_name(key) : "unknown");
		goto out;
	}
	*out = key;
	key = NULL;
out:
	EVP_PKEY_free(key);
	BIO_free(mem);
	if (buf != NULL)
		OPENSSL_secure_clear_free(buf, (size_t)st.st_size);
	if (fd >= 0)
		close(fd);
	return rc;
}
