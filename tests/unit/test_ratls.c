/* Unit tests for RA-TLS evidence certificates (src/lib/attest/ratls.h,
 * docs/formats/ra-tls.md): the strict CBOR decoder of the evidence value, the
 * certificate reader, the report-data binding, owners' self-signed certificates and
 * PEM key files, and the vectors of tests/vectors/ra-tls/ made by the openssl
 * command line. Negative cases first in each group, asserting the exact code
 * (STYLE.md rule 16). Run from the repository root (the vectors are read by
 * relative path). Prints keygen and certificate timings as "# " lines; never
 * asserts on them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "attest/ratls.h"
#include "shelter/crypto.h"
#include "../test.h"

#define VEC "tests/vectors/ra-tls/"

static const uint8_t sim_head[5] = { 0xda, 0x53, 0x48, 0x4c, 0x54 }; /* tag 0x53484c54 */

static uint8_t g_quote[300]; /* a fake quote: only its bytes matter here */

static void fill_quote(uint8_t *q, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		q[i] = (uint8_t)(i * 7 + seed);
}

/* Encode tag(bytes(quote)) with our encoder into buf; returns the size. */
static size_t good_value(uint8_t *buf, size_t cap, const uint8_t *q, size_t n)
{
	size_t size = 0;

	if (ratls_evidence_encode(RATLS_TAG_SHELTER_SIM, q, n, buf, cap, &size, NULL) != 0)
		return 0;
	return size;
}

static int decode(const uint8_t *v, size_t n, struct shelter_err *err)
{
	uint64_t tag = 1;
	const uint8_t *q = (const uint8_t *)"x";
	size_t qs = 1;
	int rc = ratls_evidence_decode(v, n, &tag, &q, &qs, err);

	/* out-parameters are cleared on entry and set on success only */
	if (rc != 0 && (tag != 0 || q != NULL || qs != 0))
		return SHELTER_E_INTERNAL;
	return rc;
}

static int msg_has(const struct shelter_err *err, const char *needle)
{
	if (strstr(err->msg, needle) != NULL)
		return 1;
	fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err->msg, needle);
	return 0;
}

/* ---- the evidence value (§4) ---- */

static void decode_rejects_empty_and_truncated(void)
{
	uint8_t v[400];
	size_t n = good_value(v, sizeof(v), g_quote, sizeof(g_quote));

	CHECK(n == 5 + 3 + sizeof(g_quote));
	CHECK_RC(decode(v, 0, NULL), SHELTER_E_MALFORMED);
	for (size_t i = 1; i < n; i++)
		CHECK_RC(decode(v, i, NULL), SHELTER_E_MALFORMED);
	CHECK_OK(decode(v, n, NULL));
}

static void decode_rejects_trailing_bytes(void)
{
	uint8_t v[400];
	size_t n = good_value(v, sizeof(v), g_quote, sizeof(g_quote));
	struct shelter_err err = { 0 };

	v[n] = 0x00;
	CHECK_RC(decode(v, n + 1, &err), SHELTER_E_MALFORMED);
	CHECK(msg_has(&err, "1 trailing bytes"));
	/* two complete items back to back are trailing bytes too */
	memcpy(v + n, v, 10);
	CHECK_RC(decode(v, n + 10, NULL), SHELTER_E_MALFORMED);
}

static void decode_rejects_indefinite_length(void)
{
	/* tag, then a byte string of two chunks ending in a break (RFC 8949 §3.2.3) */
	uint8_t v[] = { 0xda, 0x53, 0x48, 0x4c, 0x54, 0x5f, 0x42, 'a', 'b', 0x41, 'c', 0xff };
	struct shelter_err err = { 0 };

	CHECK_RC(decode(v, sizeof(v), &err), SHELTER_E_MALFORMED);
	CHECK(msg_has(&err, "indefinite-length byte string"));
}

static void decode_rejects_non_bytestring(void)
{
	static const struct {
		uint8_t item[8];
		size_t size;
		const char *what;
	} cases[] = {
		{ { 0x63, 'a', 'b', 'c' }, 4, "a text string" },
		{ { 0x82, 0x41, 'q', 0x41, 'c' }, 5, "an array" },
		{ { 0x9f, 0x41, 'q', 0xff }, 4, "an indefinite-length array" },
		{ { 0xa1, 0x01, 0x02 }, 3, "a map" },
		{ { 0x18, 0x2a }, 2, "an unsigned integer" },
		{ { 0x20 }, 1, "a negative integer" },
		{ { 0xf6 }, 1, "null" },
		{ { 0xf5 }, 1, "a boolean" },
		{ { 0xfb, 0, 0, 0, 0, 0, 0, 0 }, 8, "a float" }, /* cut: truncated */
		{ { 0xda, 0x53, 0x48, 0x4c, 0x54, 0x41, 'q' }, 7, "a tag" },
	};
	uint8_t v[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct shelter_err err = { 0 };

		memcpy(v, sim_head, sizeof(sim_head));
		memcpy(v + sizeof(sim_head), cases[i].item, cases[i].size);
		CHECK_RC(decode(v, sizeof(sim_head) + cases[i].size, &err), SHELTER_E_MALFORMED);
		if (cases[i].item[0] != 0xfb)
			CHECK(msg_has(&err, cases[i].what));
	}
	/* and an untagged byte string */
	v[0] = 0x41;
	v[1] = 'q';
	CHECK_RC(decode(v, 2, NULL), SHELTER_E_MALFORMED);
}

static void decode_rejects_wrong_tag(void)
{
	uint8_t v[16] = { 0xd9, 0xea, 0x60, 0x41, 'q' }; /* 60000: Interoperable RA-TLS */
	struct shelter_err err = { 0 };

	CHECK_RC(decode(v, 5, &err), SHELTER_E_MALFORMED);
	CHECK(msg_has(&err, "tag 60000"));
	/* tag 0x53484c55: one more than Shelter's */
	memcpy(v, (uint8_t[]){ 0xda, 0x53, 0x48, 0x4c, 0x55, 0x41, 'q' }, 7);
	shelter_err_clear(&err);
	CHECK_RC(decode(v, 7, &err), SHELTER_E_MALFORMED);
	CHECK(msg_has(&err, "unknown tag 1397247061"));
	memcpy(v, (uint8_t[]){ 0xc2, 0x41, 'q' }, 3); /* tag 2, a bignum */
	CHECK_RC(decode(v, 3, NULL), SHELTER_E_MALFORMED);
}

static void decode_rejects_non_shortest_heads(void)
{
	/* the tag in an 8-byte head */
	uint8_t a[] = { 0xdb, 0, 0, 0, 0, 0x53, 0x48, 0x4c, 0x54, 0x41, 'q' };
	/* the length 1 in a 1-byte extra head (0x58 0x01) */
	uint8_t b[] = { 0xda, 0x53, 0x48, 0x4c, 0x54, 0x58, 0x01, 'q' };
	struct shelter_err err = { 0 };

	CHECK_RC(decode(a, sizeof(a), &err), SHELTER_E_MALFORMED);
	CHECK(msg_has(&err, "not the shortest"));
	CHECK_RC(decode(b, sizeof(b), NULL), SHELTER_E_MALFORMED);
	b[5] = 0x41;
	b[6] = 'q';
	CHECK_OK(decode(b, 7, NULL));
}

static void decode_rejects_oversized(void)
{
	size_t cap = RATLS_EVIDENCE_MAX + 64;
	uint8_t *v = calloc(1, cap);
	struct shelter_err err = { 0 };
	int rc1, rc2, rc3, rc4;

	CHECK(v != NULL);
	memcpy(v, sim_head, sizeof(sim_head));
	/* a byte string of RATLS_QUOTE_MAX + 1 bytes, head 0x59 */
	v[5] = 0x59;
	v[6] = (uint8_t)((RATLS_QUOTE_MAX + 1) >> 8);
	v[7] = (uint8_t)(RATLS_QUOTE_MAX + 1);
	rc1 = decode(v, 8 + RATLS_QUOTE_MAX + 1, &err);
	rc2 = msg_has(&err, "quote of 16385 bytes");
	/* exactly the maximum is fine */
	v[6] = (uint8_t)(RATLS_QUOTE_MAX >> 8);
	v[7] = (uint8_t)RATLS_QUOTE_MAX;
	rc3 = decode(v, 8 + RATLS_QUOTE_MAX, NULL);
	/* a value over the bound is refused before decoding */
	rc4 = decode(v, RATLS_EVIDENCE_MAX + 1, NULL);
	free(v);
	CHECK_RC(rc1, SHELTER_E_MALFORMED);
	CHECK(rc2);
	CHECK_OK(rc3);
	CHECK_RC(rc4, SHELTER_E_MALFORMED);
}

static void decode_rejects_empty_quote(void)
{
	uint8_t v[] = { 0xda, 0x53, 0x48, 0x4c, 0x54, 0x40 };

	CHECK_RC(decode(v, sizeof(v), NULL), SHELTER_E_MALFORMED);
}

/* 13 bytes that make libcbor 0.8's cbor_load try to allocate 32 GiB (a definite
 * array of 2^32 items): the streaming decoder must refuse them without allocating. */
static void decode_rejects_allocation_bomb(void)
{
	uint8_t v[] = { 0xda, 0x53, 0x48, 0x4c, 0x54, 0x9b, 0, 0, 0, 1, 0, 0, 0, 0 };
	struct shelter_err err = { 0 };

	CHECK_RC(decode(v, sizeof(v), &err), SHELTER_E_MALFORMED);
	CHECK(msg_has(&err, "an array"));
}

/* Every single-bit flip of a good value is refused or decodes within its buffer. */
static void decode_bit_flip_sweep(void)
{
	uint8_t v[64], q[40];
	size_t n;

	fill_quote(q, sizeof(q), 3);
	n = good_value(v, sizeof(v), q, sizeof(q));
	CHECK(n == 5 + 2 + sizeof(q));
	for (size_t i = 0; i < n * 8; i++) {
		uint64_t tag;
		const uint8_t *out;
		size_t size;
		int rc;

		v[i / 8] ^= (uint8_t)(1u << (i % 8));
		rc = ratls_evidence_decode(v, n, &tag, &out, &size, NULL);
		if (i < 7 * 8) /* a flip in a head changes the structure */
			CHECK_RC(rc, SHELTER_E_MALFORMED);
		else
			CHECK(rc == 0 && out == v + 7 && size == sizeof(q));
		v[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
}

static void encode_checks_arguments(void)
{
	uint8_t v[400];
	size_t n = 9;

	CHECK_RC(ratls_evidence_encode(RATLS_TAG_INTEL_TEE_QUOTE, g_quote, 10, v, sizeof(v),
				       &n, NULL), SHELTER_E_INVAL);
	CHECK(n == 0);
	CHECK_RC(ratls_evidence_encode(12345, g_quote, 10, v, sizeof(v), &n, NULL),
		 SHELTER_E_INVAL);
	CHECK_RC(ratls_evidence_encode(RATLS_TAG_SHELTER_SIM, g_quote, 0, v, sizeof(v), &n,
				       NULL), SHELTER_E_INVAL);
	CHECK_RC(ratls_evidence_encode(RATLS_TAG_SHELTER_SIM, g_quote, RATLS_QUOTE_MAX + 1, v,
				       sizeof(v), &n, NULL), SHELTER_E_INVAL);
	CHECK_RC(ratls_evidence_encode(RATLS_TAG_SHELTER_SIM, g_quote, 300, v, 307, &n, NULL),
		 SHELTER_E_INVAL);
	CHECK_OK(ratls_evidence_encode(RATLS_TAG_SHELTER_SIM, g_quote, 300, v, 308, &n, NULL));
	CHECK(n == 308);
	CHECK_MEM(v, sim_head, 5);
	CHECK(v[5] == 0x59 && v[6] == 0x01 && v[7] == 0x2c);
	CHECK_MEM(v + 8, g_quote, 300);
	/* the shortest heads at every boundary */
	CHECK(ratls_evidence_size(RATLS_TAG_SHELTER_SIM, 23) == 5 + 1 + 23);
	CHECK(ratls_evidence_size(RATLS_TAG_SHELTER_SIM, 24) == 5 + 2 + 24);
	CHECK(ratls_evidence_size(RATLS_TAG_SHELTER_SIM, 256) == 5 + 3 + 256);
	for (size_t s = 1; s <= 300; s++) {
		uint64_t tag;
		const uint8_t *q;
		size_t qs;

		CHECK_OK(ratls_evidence_encode(RATLS_TAG_SHELTER_SIM, g_quote, s, v, sizeof(v), &n,
					       NULL));
		CHECK(n == ratls_evidence_size(RATLS_TAG_SHELTER_SIM, s));
		CHECK_OK(ratls_evidence_decode(v, n, &tag, &q, &qs, NULL));
		CHECK(tag == RATLS_TAG_SHELTER_SIM && qs == s && q == v + n - s);
	}
}

/* ---- certificates (§2) ---- */

/* A P-256-signed certificate with the given raw evidence extension values (count
 * may be 0 or 2), built with OpenSSL alone, then sent through DER and
 * ratls_cert_from_der as the CAS would receive it. */
static X509 *cert_with_values(EVP_PKEY *key, const uint8_t *const *values,
			      const size_t *sizes, int count)
{
	X509 *x = NULL, *back = NULL;
	unsigned char *der = NULL;
	int n;

	if (ratls_selfsigned_cert(key, RATLS_CN, 1, &x, NULL) != 0)
		return NULL;
	for (int i = 0; i < count; i++) {
		ASN1_OBJECT *oid = OBJ_txt2obj(RATLS_EVIDENCE_OID, 1);
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		X509_EXTENSION *ext = NULL;

		if (oid != NULL && os != NULL &&
		    ASN1_OCTET_STRING_set(os, values[i], (int)sizes[i]) == 1)
			ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
		if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
			count = -1;
		X509_EXTENSION_free(ext);
		ASN1_OCTET_STRING_free(os);
		ASN1_OBJECT_free(oid);
	}
	if (count >= 0 && X509_sign(x, key, EVP_sha256()) > 0 && (n = i2d_X509(x, &der)) > 0 &&
	    ratls_cert_from_der(der, (size_t)n, &back, NULL) != 0)
		back = NULL;
	OPENSSL_free(der);
	X509_free(x);
	return back;
}

static int extract(const X509 *cert, struct shelter_err *err)
{
	uint64_t tag;
	const uint8_t *q;
	size_t qs;

	return ratls_evidence_extract(cert, &tag, &q, &qs, err);
}

static void extract_rejects_missing_extension(void)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	struct shelter_err err = { 0 };
	int rc;

	CHECK_OK(ratls_key_new(&key, NULL));
	x = cert_with_values(key, NULL, NULL, 0);
	rc = x != NULL ? extract(x, &err) : SHELTER_E_INTERNAL;
	X509_free(x);
	EVP_PKEY_free(key);
	CHECK_RC(rc, SHELTER_E_MALFORMED);
	CHECK(msg_has(&err, "0 evidence extensions"));
}

static void extract_rejects_two_extensions(void)
{
	uint8_t v[400];
	size_t n = good_value(v, sizeof(v), g_quote, sizeof(g_quote));
	const uint8_t *values[2] = { v, v };
	size_t sizes[2] = { n, n };
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	struct shelter_err err = { 0 };
	int rc1, rc2;

	CHECK_OK(ratls_key_new(&key, NULL));
	x = cert_with_values(key, values, sizes, 2);
	rc1 = x != NULL ? extract(x, &err) : SHELTER_E_INTERNAL;
	X509_free(x);
	/* the same value once is fine: the refusal is about the count */
	x = cert_with_values(key, values, sizes, 1);
	rc2 = x != NULL ? extract(x, NULL) : SHELTER_E_INTERNAL;
	X509_free(x);
	EVP_PKEY_free(key);
	CHECK_RC(rc1, SHELTER_E_MALFORMED);
	CHECK(msg_has(&err, "2 evidence extensions"));
	CHECK_OK(rc2);
}

/* Every bad value of the decoder tests, inside a real certificate. */
static void extract_rejects_bad_values(void)
{
	static const uint8_t indefinite[] = { 0xda, 0x53, 0x48, 0x4c, 0x54, 0x5f, 0x41, 'q', 0xff };
	static const uint8_t trailing[] = { 0xda, 0x53, 0x48, 0x4c, 0x54, 0x41, 'q', 0x00 };
	static const uint8_t text[] = { 0xda, 0x53, 0x48, 0x4c, 0x54, 0x61, 'q' };
	static const uint8_t tag60000[] = { 0xd9, 0xea, 0x60, 0x41, 'q' };
	static const uint8_t empty[] = { 0 };
	static const uint8_t *const values[] = { indefinite, trailing, text, tag60000, empty };
	static const size_t sizes[] = { sizeof(indefinite), sizeof(trailing), sizeof(text),
					sizeof(tag60000), 0 };
	EVP_PKEY *key = NULL;
	int rc[5];

	CHECK_OK(ratls_key_new(&key, NULL));
	for (int i = 0; i < 5; i++) {
		struct shelter_err err = { 0 };
		X509 *x = cert_with_values(key, &values[i], &sizes[i], 1);

		rc[i] = x != NULL ? extract(x, &err) : SHELTER_E_INTERNAL;
		if (rc[i] == SHELTER_E_MALFORMED && strstr(err.msg, RATLS_EVIDENCE_OID) == NULL)
			rc[i] = SHELTER_E_INTERNAL; /* the message must name the extension */
		X509_free(x);
	}
	EVP_PKEY_free(key);
	for (int i = 0; i < 5; i++)
		CHECK_RC(rc[i], SHELTER_E_MALFORMED);
}

static void from_der_rejects_bad_input(void)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL, *back = (X509 *)1;
	unsigned char *der = NULL, *buf = NULL;
	int n = 0, fails = 0;
	struct shelter_err err = { 0 };

	CHECK_OK(ratls_key_new(&key, NULL));
	CHECK_OK(ratls_cert_create(key, RATLS_TAG_SHELTER_SIM, g_quote, sizeof(g_quote), &x,
				   NULL));
	n = i2d_X509(x, &der);
	buf = malloc((size_t)n + 1);
	if (buf != NULL && n > 0) {
		memcpy(buf, der, (size_t)n);
		buf[n] = 0;
		if (ratls_cert_from_der(buf, (size_t)n + 1, &back, &err) != SHELTER_E_MALFORMED ||
		    back != NULL || strstr(err.msg, "1 trailing bytes") == NULL)
			fails++;
		/* every truncation */
		for (int i = 0; i < n; i++) {
			int rc = ratls_cert_from_der(buf, (size_t)i, &back, NULL);

			if (rc != SHELTER_E_MALFORMED || back != NULL)
				fails++;
		}
		if (ratls_cert_from_der(buf, (size_t)n, &back, NULL) != 0)
			fails++;
		X509_free(back);
	}
	if (ratls_cert_from_der((const uint8_t *)"garbage", 7, &back, NULL) != SHELTER_E_MALFORMED)
		fails++;
	if (ratls_cert_from_der(buf, RATLS_CERT_MAX + 1, &back, NULL) != SHELTER_E_MALFORMED)
		fails++;
	free(buf);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(key);
	CHECK(n > 0);
	CHECK(fails == 0);
	CHECK(ERR_peek_error() == 0); /* the OpenSSL error queue is left empty */
}

static void create_checks_arguments(void)
{
	EVP_PKEY *key = NULL, *p384 = EVP_EC_gen("P-384");
	X509 *x = (X509 *)1;
	int rc[5];

	CHECK_OK(ratls_key_new(&key, NULL));
	rc[0] = ratls_cert_create(key, RATLS_TAG_SHELTER_SIM, g_quote, 0, &x, NULL);
	rc[1] = ratls_cert_create(key, RATLS_TAG_SHELTER_SIM, g_quote, RATLS_QUOTE_MAX + 1, &x,
				  NULL);
	rc[2] = ratls_cert_create(key, RATLS_TAG_INTEL_TEE_QUOTE, g_quote, 10, &x, NULL);
	rc[3] = ratls_cert_create(p384, RATLS_TAG_SHELTER_SIM, g_quote, 10, &x, NULL);
	rc[4] = ratls_cert_create(NULL, RATLS_TAG_SHELTER_SIM, g_quote, 10, &x, NULL);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(key);
	for (int i = 0; i < 5; i++)
		CHECK_RC(rc[i], SHELTER_E_INVAL);
	CHECK(x == NULL);
}

/* ---- binding (§3) ---- */

static void binding_rejects_other_key_and_nonce(void)
{
	uint8_t nonce[RATLS_NONCE_SIZE], rd[RATLS_REPORT_DATA_SIZE];
	EVP_PKEY *key = NULL, *other = NULL;
	X509 *x = NULL;
	struct shelter_err err = { 0 };
	int bad_key, bad_nonce, sweep_ok = 1, good;

	CHECK_OK(shelter_random_bytes(nonce, sizeof(nonce), NULL));
	CHECK_OK(ratls_key_new(&key, NULL));
	CHECK_OK(ratls_key_new(&other, NULL));
	CHECK_OK(ratls_cert_create(key, RATLS_TAG_SHELTER_SIM, g_quote, sizeof(g_quote), &x,
				   NULL));
	/* a quote made for another key (evidence lifted into a new certificate) */
	bad_key = ratls_report_data(other, nonce, rd, NULL);
	if (bad_key == 0)
		bad_key = ratls_check_binding(x, rd, nonce, &err);
	/* a quote for this key and another nonce (an old certificate replayed) */
	good = ratls_report_data(key, nonce, rd, NULL);
	nonce[0] ^= 1;
	bad_nonce = ratls_check_binding(x, rd, nonce, NULL);
	nonce[0] ^= 1;
	if (good == 0)
		good = ratls_check_binding(x, rd, nonce, NULL);
	/* every bit of the report data matters, and says which half is wrong */
	for (size_t i = 0; i < sizeof(rd) * 8; i++) {
		int want = i < 256 ? SHELTER_E_UNTRUSTED : SHELTER_E_REPLAY;

		rd[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (ratls_check_binding(x, rd, nonce, NULL) != want)
			sweep_ok = 0;
		rd[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	X509_free(x);
	EVP_PKEY_free(other);
	EVP_PKEY_free(key);
	CHECK_RC(bad_key, SHELTER_E_UNTRUSTED);
	CHECK(msg_has(&err, "public key"));
	CHECK_RC(bad_nonce, SHELTER_E_REPLAY);
	CHECK_OK(good);
	CHECK(sweep_ok);
}

static void report_data_layout(void)
{
	uint8_t nonce[RATLS_NONCE_SIZE], rd[RATLS_REPORT_DATA_SIZE], want[32];
	unsigned char *der = NULL;
	EVP_PKEY *key = NULL;
	int n, rc;

	for (size_t i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)i;
	CHECK_OK(ratls_key_new(&key, NULL));
	rc = ratls_report_data(key, nonce, rd, NULL);
	n = i2d_PUBKEY(key, &der);
	if (n > 0)
		rc = rc != 0 ? rc : shelter_sha256(der, (size_t)n, want, NULL);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	CHECK(n == 91); /* P-256 SPKI: 26-byte header + 65-byte point */
	CHECK_OK(rc);
	CHECK_MEM(rd, want, 32);
	CHECK_MEM(rd + 32, nonce, 32);
}

/* ratls.c writes the SubjectPublicKeyInfo of P-256 and Ed25519 keys itself (§3, to
 * skip OpenSSL 3.0's encoder framework): its hash and the certificates' keys must
 * be exactly OpenSSL's, for those forms and for the forms it leaves to OpenSSL (a
 * compressed P-256 point, P-384). */
static int spki_like_openssl(EVP_PKEY *key)
{
	uint8_t ours[32], want[32], in_cert[32];
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(key, &der);
	X509 *certs[2] = { NULL, NULL };
	int rc = n > 0 && SHA256(der, (size_t)n, want) != NULL ? 0 : SHELTER_E_INTERNAL;

	OPENSSL_free(der);
	if (rc == 0)
		rc = ratls_key_spki_sha256(key, ours, NULL);
	if (rc == 0 && memcmp(ours, want, 32) != 0)
		rc = SHELTER_E_INTEGRITY;
	if (rc == 0)
		rc = ratls_cert_create(key, RATLS_TAG_SHELTER_SIM, g_quote, 100, &certs[0], NULL);
	if (rc == 0)
		rc = ratls_selfsigned_cert(key, "owner", 1, &certs[1], NULL);
	for (int i = 0; rc == 0 && i < 2; i++) {
		rc = ratls_spki_sha256(certs[i], in_cert, NULL);
		if (rc == 0 && (memcmp(in_cert, want, 32) != 0 ||
				EVP_PKEY_eq(X509_get0_pubkey(certs[i]), key) != 1 ||
				X509_verify(certs[i], key) != 1))
			rc = SHELTER_E_INTEGRITY;
	}
	X509_free(certs[0]);
	X509_free(certs[1]);
	return rc;
}

static void spki_matches_openssl(void)
{
	EVP_PKEY *p256 = NULL, *compressed = NULL, *explicit = NULL;
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *p384 = EVP_EC_gen("P-384");
	uint8_t a[32], b[32];

	CHECK(ed != NULL && p384 != NULL);
	CHECK_OK(ratls_key_new(&p256, NULL));
	CHECK_OK(ratls_key_new(&compressed, NULL));
	CHECK_OK(ratls_key_new(&explicit, NULL));
	CHECK(EVP_PKEY_set_utf8_string_param(compressed, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					     OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED) == 1);
	CHECK(EVP_PKEY_set_utf8_string_param(explicit, OSSL_PKEY_PARAM_EC_ENCODING,
					     OSSL_PKEY_EC_ENCODING_EXPLICIT) == 1);
	CHECK_OK(spki_like_openssl(p256));
	CHECK_OK(spki_like_openssl(ed));
	CHECK_OK(spki_like_openssl(compressed));
	CHECK_OK(spki_like_openssl(explicit));
	/* another encoding of the same key is another SPKI, so another hash */
	CHECK_OK(ratls_key_spki_sha256(p256, a, NULL));
	CHECK_OK(ratls_key_spki_sha256(compressed, b, NULL));
	CHECK(memcmp(a, b, 32) != 0);
	/* certificates refuse keys other than P-256 and Ed25519; the hash takes any */
	CHECK_OK(ratls_key_spki_sha256(p384, a, NULL));
	CHECK_RC(ratls_selfsigned_cert(p384, "owner", 1, &(X509 *){ NULL }, NULL), SHELTER_E_INVAL);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(compressed);
	EVP_PKEY_free(explicit);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(p384);
}

/* ---- the whole path: attester makes, verifier reads ---- */

static void round_trip(void)
{
	uint8_t nonce[RATLS_NONCE_SIZE], quote[200], spki[32], spki2[32];
	EVP_PKEY *key = NULL;
	X509 *x = NULL, *back = NULL, *x2 = NULL;
	unsigned char *der = NULL;
	const uint8_t *q = NULL;
	uint64_t tag = 0;
	size_t qs = 0;
	int n = 0, crit = -1, verified = 0, rc;
	long span = 0;
	const ASN1_INTEGER *s1 = NULL, *s2 = NULL;
	char cn[64] = "";

	CHECK_OK(shelter_random_bytes(nonce, sizeof(nonce), NULL));
	fill_quote(quote, sizeof(quote), 9);
	CHECK_OK(ratls_key_new(&key, NULL));
	/* the fake quote carries the report data in its first 64 bytes */
	rc = ratls_report_data(key, nonce, quote, NULL);
	if (rc == 0)
		rc = ratls_cert_create(key, RATLS_TAG_SHELTER_SIM, quote, sizeof(quote), &x, NULL);
	if (rc == 0 && (n = i2d_X509(x, &der)) > 0)
		rc = ratls_cert_from_der(der, (size_t)n, &back, NULL);
	if (rc == 0)
		rc = ratls_evidence_extract(back, &tag, &q, &qs, NULL);
	if (rc == 0 && qs == sizeof(quote) && memcmp(q, quote, qs) == 0)
		rc = ratls_check_binding(back, q, nonce, NULL);
	if (rc == 0)
		rc = ratls_spki_sha256(back, spki, NULL);
	if (rc == 0)
		rc = ratls_key_spki_sha256(key, spki2, NULL);
	if (rc == 0) {
		ASN1_OBJECT *oid = OBJ_txt2obj(RATLS_EVIDENCE_OID, 1);
		int loc = X509_get_ext_by_OBJ(back, oid, -1);

		crit = loc >= 0 ? X509_EXTENSION_get_critical(X509_get_ext(back, loc)) : -1;
		ASN1_OBJECT_free(oid);
		verified = X509_verify(back, key);
		{
			int days = 0, secs = 0;

			if (ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(back),
					   X509_get0_notAfter(back)) == 1)
				span = days * 86400L + secs;
		}
		X509_NAME_get_text_by_NID(X509_get_subject_name(back), NID_commonName, cn,
					  sizeof(cn));
		rc = ratls_cert_create(key, RATLS_TAG_SHELTER_SIM, quote, sizeof(quote), &x2, NULL);
		s1 = X509_get0_serialNumber(back);
		s2 = x2 != NULL ? X509_get0_serialNumber(x2) : NULL;
	}
	CHECK_OK(rc);
	CHECK(tag == RATLS_TAG_SHELTER_SIM);
	CHECK(qs == sizeof(quote) && memcmp(q, quote, qs) == 0);
	CHECK_MEM(spki, quote, 32);
	CHECK_MEM(spki, spki2, 32);
	CHECK(crit == 0);
	CHECK(verified == 1);
	CHECK(span == 11 * 60);
	CHECK(strcmp(cn, RATLS_CN) == 0);
	CHECK(X509_get_version(back) == X509_VERSION_3);
	CHECK(X509_NAME_cmp(X509_get_subject_name(back), X509_get_issuer_name(back)) == 0);
	CHECK(X509_get_signature_nid(back) == NID_ecdsa_with_SHA256);
	CHECK(X509_get_ext_count(back) == 1);
	CHECK(s1 != NULL && s2 != NULL && ASN1_STRING_length(s1) == 16 &&
	      ASN1_INTEGER_cmp(s1, s2) != 0);
	CHECK_OK(ratls_cert_check_time(back, time(NULL), NULL));
	X509_free(x2);
	X509_free(back);
	X509_free(x);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

static void check_time_window(void)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	time_t now;
	int rc[4];

	CHECK_OK(ratls_key_new(&key, NULL));
	CHECK_OK(ratls_cert_create(key, RATLS_TAG_SHELTER_SIM, g_quote, 10, &x, NULL));
	/* after creation: notBefore <= now - 60 and now + 540 <= notAfter hold as long
	 * as these two statements run less than a minute apart */
	now = time(NULL);
	rc[0] = ratls_cert_check_time(x, now - 5 * 60, NULL);
	rc[1] = ratls_cert_check_time(x, now + 11 * 60 + 5, NULL);
	rc[2] = ratls_cert_check_time(x, now + 9 * 60, NULL);
	rc[3] = ratls_cert_check_time(x, now - 30, NULL);
	X509_free(x);
	EVP_PKEY_free(key);
	CHECK_RC(rc[0], SHELTER_E_EXPIRED);
	CHECK_RC(rc[1], SHELTER_E_EXPIRED);
	CHECK_OK(rc[2]);
	CHECK_OK(rc[3]);
}

/* ---- the vectors made by the openssl command line (§7) ---- */

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "  cannot open %s (run from the repository root)\n", path);
		return 0;
	}
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static X509 *read_pem_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL) {
		fprintf(stderr, "  cannot open %s (run from the repository root)\n", path);
		return NULL;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static void vector_bad_certs_refused(void)
{
	static const char *const names[] = { VEC "bad-indefinite.pem", VEC "bad-tag60000.pem",
					     VEC "bad-none.pem" };
	static const char *const why[] = { "indefinite-length byte string", "tag 60000",
					   "0 evidence extensions" };

	for (int i = 0; i < 3; i++) {
		struct shelter_err err = { 0 };
		X509 *x = read_pem_cert(names[i]);
		int rc = x != NULL ? extract(x, &err) : SHELTER_E_NOENT;

		X509_free(x);
		CHECK_RC(rc, SHELTER_E_MALFORMED);
		CHECK(msg_has(&err, why[i]));
	}
}

static void vector_openssl_cert_parses_like_ours(void)
{
	uint8_t der[4096], want_quote[400], want_value[400], ours[400], nonce[32];
	char hex[80] = "";
	uint8_t want_spki[32], spki[32];
	size_t der_size, quote_size, value_size, ours_size = 0;
	X509 *pem = read_pem_cert(VEC "cert.pem"), *x = NULL;
	const uint8_t *q = NULL, *q2 = NULL;
	uint64_t tag = 0, tag2 = 0;
	size_t qs = 0, qs2 = 0;
	int rc = pem != NULL ? 0 : SHELTER_E_NOENT;

	for (size_t i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)i;
	der_size = read_file(VEC "cert.der", der, sizeof(der));
	quote_size = read_file(VEC "quote.bin", want_quote, sizeof(want_quote));
	value_size = read_file(VEC "evidence.cbor", want_value, sizeof(want_value));
	if (read_file(VEC "spki.sha256", (uint8_t *)hex, 64) != 64 ||
	    shelter_unhex(hex, want_spki, 32) != 0)
		rc = SHELTER_E_MALFORMED;
	if (rc == 0)
		rc = ratls_cert_from_der(der, der_size, &x, NULL);
	if (rc == 0)
		rc = ratls_evidence_extract(x, &tag, &q, &qs, NULL);
	if (rc == 0)
		rc = ratls_evidence_extract(pem, &tag2, &q2, &qs2, NULL);
	if (rc == 0)
		rc = ratls_spki_sha256(x, spki, NULL);
	/* the fake quote starts with the report data the script computed */
	if (rc == 0)
		rc = ratls_check_binding(x, want_quote, nonce, NULL);
	/* our encoder makes the very bytes the script made with printf */
	if (rc == 0)
		rc = ratls_evidence_encode(RATLS_TAG_SHELTER_SIM, want_quote, quote_size, ours,
					   sizeof(ours), &ours_size, NULL);
	CHECK_OK(rc);
	CHECK(quote_size == 300 && value_size == 308);
	CHECK(tag == RATLS_TAG_SHELTER_SIM && tag2 == RATLS_TAG_SHELTER_SIM);
	CHECK(qs == quote_size && memcmp(q, want_quote, qs) == 0);
	CHECK(qs2 == quote_size && memcmp(q2, want_quote, qs2) == 0);
	CHECK_MEM(spki, want_spki, 32);
	CHECK(ours_size == value_size && memcmp(ours, want_value, value_size) == 0);
	X509_free(x);
	X509_free(pem);
}

/* ---- owners: self-signed certificates and PEM key files ---- */

static void selfsigned_both_key_types(void)
{
	EVP_PKEY *keys[2] = { EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), NULL };
	int nids[2] = { NID_ED25519, NID_ecdsa_with_SHA256 };
	X509 *x = (X509 *)1;
	int rc;

	CHECK(keys[0] != NULL);
	CHECK_OK(ratls_key_new(&keys[1], NULL));
	for (int i = 0; i < 2; i++) {
		uint8_t a[32], b[32];
		char cn[64] = "";

		rc = ratls_selfsigned_cert(keys[i], "owner alice", 30, &x, NULL);
		if (rc == 0)
			rc = ratls_spki_sha256(x, a, NULL);
		if (rc == 0)
			rc = ratls_key_spki_sha256(keys[i], b, NULL);
		if (rc == 0) {
			X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
						  sizeof(cn));
			if (X509_verify(x, keys[i]) != 1 || X509_get_signature_nid(x) != nids[i] ||
			    memcmp(a, b, 32) != 0 || strcmp(cn, "owner alice") != 0 ||
			    ratls_cert_check_time(x, time(NULL) + 29 * 86400, NULL) != 0 ||
			    ratls_cert_check_time(x, time(NULL) + 31 * 86400, NULL) !=
				    SHELTER_E_EXPIRED)
				rc = SHELTER_E_INTERNAL;
		}
		X509_free(x);
		x = NULL;
		if (rc != 0)
			break;
	}
	if (rc == 0) {
		EVP_PKEY *p384 = EVP_EC_gen("P-384");
		int bad[4];

		bad[0] = ratls_selfsigned_cert(keys[0], "", 30, &x, NULL);
		bad[1] = ratls_selfsigned_cert(keys[0], "owner", 0, &x, NULL);
		bad[2] = ratls_selfsigned_cert(keys[0], "owner", 36501, &x, NULL);
		bad[3] = ratls_selfsigned_cert(p384, "owner", 30, &x, NULL);
		EVP_PKEY_free(p384);
		for (int i = 0; i < 4; i++)
			if (bad[i] != SHELTER_E_INVAL)
				rc = SHELTER_E_INTERNAL;
	}
	EVP_PKEY_free(keys[0]);
	EVP_PKEY_free(keys[1]);
	CHECK_OK(rc);
	CHECK(x == NULL);
}

static char g_dir[256];

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	if (d != NULL)
		closedir(d);
	return n;
}

static void key_files_refuse_bad_input(void)
{
	char path[512];
	EVP_PKEY *k = (EVP_PKEY *)1, *p384 = EVP_EC_gen("P-384");
	FILE *f;
	int rc[7];

	snprintf(path, sizeof(path), "%s/missing.pem", g_dir);
	rc[0] = ratls_key_load_pem(path, &k, NULL);
	/* a P-384 key: not a type owners use */
	snprintf(path, sizeof(path), "%s/p384.pem", g_dir);
	f = fopen(path, "w");
	if (f != NULL) {
		PEM_write_PrivateKey(f, p384, NULL, NULL, 0, NULL, NULL);
		fclose(f);
	}
	chmod(path, 0600);
	rc[1] = ratls_key_load_pem(path, &k, NULL);
	/* readable by others */
	chmod(path, 0644);
	rc[2] = ratls_key_load_pem(path, &k, NULL);
	/* encrypted: must not prompt */
	snprintf(path, sizeof(path), "%s/enc.pem", g_dir);
	f = fopen(path, "w");
	if (f != NULL) {
		PEM_write_PrivateKey(f, p384, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"pass");
		fclose(f);
	}
	chmod(path, 0600);
	rc[3] = ratls_key_load_pem(path, &k, NULL);
	/* not PEM */
	snprintf(path, sizeof(path), "%s/junk.pem", g_dir);
	f = fopen(path, "w");
	if (f != NULL) {
		fputs("-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n", f);
		fclose(f);
	}
	chmod(path, 0600);
	rc[4] = ratls_key_load_pem(path, &k, NULL);
	snprintf(path, sizeof(path), "%s/p384-save.pem", g_dir);
	rc[5] = ratls_key_save_pem(p384, path, NULL);
	rc[6] = access(path, F_OK) == 0 ? 1 : 0;
	EVP_PKEY_free(p384);
	CHECK_RC(rc[0], SHELTER_E_NOENT);
	CHECK_RC(rc[1], SHELTER_E_BADKEY);
	CHECK_RC(rc[2], SHELTER_E_PERM);
	CHECK_RC(rc[3], SHELTER_E_MALFORMED);
	CHECK_RC(rc[4], SHELTER_E_MALFORMED);
	CHECK_RC(rc[5], SHELTER_E_INVAL);
	CHECK(rc[6] == 0);
	CHECK(k == NULL);
	CHECK(ERR_peek_error() == 0);
}

static void key_files_round_trip(void)
{
	EVP_PKEY *keys[2] = { EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), NULL };
	const char *names[2] = { "ed25519.pem", "p256.pem" };
	char sub[300];
	int before, rc = 0;

	CHECK(keys[0] != NULL);
	CHECK_OK(ratls_key_new(&keys[1], NULL));
	snprintf(sub, sizeof(sub), "%s/keys", g_dir);
	CHECK(mkdir(sub, 0700) == 0);
	for (int i = 0; i < 2 && rc == 0; i++) {
		char path[512];
		struct stat st;
		EVP_PKEY *back = NULL, *other = NULL;
		uint8_t a[32], b[32];

		snprintf(path, sizeof(path), "%s/%s", sub, names[i]);
		rc = ratls_key_save_pem(keys[i], path, NULL);
		if (rc == 0 && (stat(path, &st) != 0 || (st.st_mode & 0777) != 0600))
			rc = SHELTER_E_INTERNAL;
		if (rc == 0)
			rc = ratls_key_load_pem(path, &back, NULL);
		if (rc == 0 && EVP_PKEY_eq(keys[i], back) != 1)
			rc = SHELTER_E_INTERNAL;
		/* the private half came back too: a certificate signed with it verifies */
		if (rc == 0) {
			X509 *x = NULL;

			rc = ratls_selfsigned_cert(back, "reloaded", 1, &x, NULL);
			if (rc == 0 && X509_verify(x, keys[i]) != 1)
				rc = SHELTER_E_INTERNAL;
			X509_free(x);
		}
		/* never overwrite: the file still holds the first key */
		if (rc == 0) {
			other = i == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
				       : EVP_EC_gen("P-256");
			if (ratls_key_save_pem(other, path, NULL) != SHELTER_E_EXIST)
				rc = SHELTER_E_INTERNAL;
		}
		EVP_PKEY_free(back);
		back = NULL;
		if (rc == 0)
			rc = ratls_key_load_pem(path, &back, NULL);
		if (rc == 0 && (ratls_key_spki_sha256(back, a, NULL) != 0 ||
				ratls_key_spki_sha256(keys[i], b, NULL) != 0 ||
				memcmp(a, b, 32) != 0))
			rc = SHELTER_E_INTERNAL;
		EVP_PKEY_free(back);
		EVP_PKEY_free(other);
	}
	before = count_entries(sub);
	EVP_PKEY_free(keys[0]);
	EVP_PKEY_free(keys[1]);
	CHECK_OK(rc);
	CHECK(before == 2); /* no temporary file left behind */
}

/* ---- cost (§6): printed, never asserted ---- */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void timing_report(void)
{
	enum { ROUNDS = 200 };
	uint8_t nonce[32] = { 0 }, quote[1200];
	double t0, t_key = 0, t_cert = 0, t_verify = 0;
	int rc = 0;

	fill_quote(quote, sizeof(quote), 1);
	for (int i = 0; i < ROUNDS && rc == 0; i++) {
		EVP_PKEY *key = NULL;
		X509 *x = NULL, *back = NULL;
		unsigned char *der = NULL;
		const uint8_t *q;
		uint64_t tag;
		size_t qs;
		int n;

		t0 = now_us();
		rc = ratls_key_new(&key, NULL);
		t_key += now_us() - t0;
		if (rc == 0)
			rc = ratls_report_data(key, nonce, quote, NULL);
		t0 = now_us();
		if (rc == 0)
			rc = ratls_cert_create(key, RATLS_TAG_SHELTER_SIM, quote, sizeof(quote), &x,
					       NULL);
		t_cert += now_us() - t0;
		n = rc == 0 ? i2d_X509(x, &der) : 0;
		t0 = now_us();
		if (rc == 0)
			rc = ratls_cert_from_der(der, (size_t)n, &back, NULL);
		if (rc == 0)
			rc = ratls_evidence_extract(back, &tag, &q, &qs, NULL);
		if (rc == 0)
			rc = ratls_check_binding(back, q, nonce, NULL);
		t_verify += now_us() - t0;
		OPENSSL_free(der);
		X509_free(back);
		X509_free(x);
		EVP_PKEY_free(key);
	}
	CHECK_OK(rc);
	printf("# ratls timing (%d rounds, 1200-byte quote, this build): keygen %.1f us, "
	       "cert create %.1f us, parse+extract+binding %.1f us\n", ROUNDS, t_key / ROUNDS,
	       t_cert / ROUNDS, t_verify / ROUNDS);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	test_binary = "test_ratls";
	fill_quote(g_quote, sizeof(g_quote), 0);
	snprintf(g_dir, sizeof(g_dir), "%s/shelter-test-ratls-XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(g_dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}

	RUN(decode_rejects_empty_and_truncated);
	RUN(decode_rejects_trailing_bytes);
	RUN(decode_rejects_indefinite_length);
	RUN(decode_rejects_non_bytestring);
	RUN(decode_rejects_wrong_tag);
	RUN(decode_rejects_non_shortest_heads);
	RUN(decode_rejects_oversized);
	RUN(decode_rejects_empty_quote);
	RUN(decode_rejects_allocation_bomb);
	RUN(decode_bit_flip_sweep);
	RUN(encode_checks_arguments);
	RUN(extract_rejects_missing_extension);
	RUN(extract_rejects_two_extensions);
	RUN(extract_rejects_bad_values);
	RUN(from_der_rejects_bad_input);
	RUN(create_checks_arguments);
	RUN(binding_rejects_other_key_and_nonce);
	RUN(report_data_layout);
	RUN(spki_matches_openssl);
	RUN(round_trip);
	RUN(check_time_window);
	RUN(vector_bad_certs_refused);
	RUN(vector_openssl_cert_parses_like_ours);
	RUN(selfsigned_both_key_types);
	RUN(key_files_refuse_bad_input);
	RUN(key_files_round_trip);
	RUN(timing_report);

	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", g_dir);
	}
	return test_total_failed == 0 ? 0 : 1;
}
