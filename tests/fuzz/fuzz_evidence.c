/* libFuzzer target: the RA-TLS evidence reader (docs/formats/ra-tls.md §2-§4;
 * src/lib/attest/ratls.h; STYLE.md rule 17). Each input is used three ways:
 *
 *   1. as a raw extension value: ratls_evidence_decode. One that decodes must lie
 *      inside the input, carry a known tag and 1..16384 bytes, and re-encode with
 *      ratls_evidence_encode to exactly the input (one encoding per value, §4.1).
 *   2. as an untrusted DER certificate: ratls_cert_from_der, then on success
 *      ratls_evidence_extract (the quote must lie inside the certificate's
 *      extension value), ratls_spki_sha256, ratls_check_binding against fixed
 *      report data (only 0, UNTRUSTED or REPLAY may come back) and
 *      ratls_cert_check_time.
 *   3. as the value of an evidence extension added to a fixed certificate, so the
 *      extractor sees arbitrary values through OpenSSL's extension objects; it must
 *      agree with (1).
 *
 * Properties are checked with abort(); leaks fail the run (detect_leaks=1).
 *
 * Seed generator: SHELTER_FUZZ_SEEDS=DIR ./fuzz_evidence writes seeds made by the
 * real encoder and certificate writer into DIR and exits
 * (tests/fuzz/corpus/fuzz_evidence also holds tests/vectors/ra-tls/cert.der). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "attest/ratls.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *g_key;         /* the fixed certificate's key */
static X509 *g_template;        /* a certificate without evidence, for mode 3 */
static ASN1_OBJECT *g_oid;      /* 2.23.133.5.4.9 */

static __attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_evidence: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static int inside(const uint8_t *p, size_t n, const uint8_t *base, size_t size)
{
	return p >= base && n <= size && (size_t)(p - base) <= size - n;
}

/* Mode 1. Returns the decoder's code so mode 3 can compare. */
static int value_check(const uint8_t *data, size_t size, uint64_t *tag_out)
{
	uint8_t again[RATLS_EVIDENCE_MAX];
	const uint8_t *q = NULL;
	size_t qs = 0, n = 0;
	uint64_t tag = 0;
	int rc = ratls_evidence_decode(data, size, &tag, &q, &qs, NULL);

	*tag_out = tag;
	if (rc != 0) {
		if (rc != SHELTER_E_MALFORMED)
			die("decode returned %d, not MALFORMED", rc);
		if (tag != 0 || q != NULL || qs != 0)
			die("decode set its out-parameters on failure");
		return rc;
	}
	if (tag != RATLS_TAG_SHELTER_SIM || qs == 0 || qs > RATLS_QUOTE_MAX ||
	    !inside(q, qs, data, size))
		die("decode accepted tag %llu, %zu bytes outside the input",
		    (unsigned long long)tag, qs);
	if (ratls_evidence_encode(tag, q, qs, again, sizeof(again), &n, NULL) != 0 ||
	    n != size || memcmp(again, data, size) != 0)
		die("a decoded value does not re-encode to itself");
	return 0;
}

/* Mode 2. */
static void cert_check(const uint8_t *data, size_t size)
{
	static const uint8_t nonce[RATLS_NONCE_SIZE], report_data[RATLS_REPORT_DATA_SIZE];
	uint8_t spki[RATLS_SPKI_HASH_SIZE];
	X509 *x = NULL;
	const uint8_t *q = NULL;
	size_t qs = 0;
	uint64_t tag = 0;
	int rc = ratls_cert_from_der(data, size, &x, NULL);

	if (rc != 0) {
		if (rc != SHELTER_E_MALFORMED || x != NULL)
			die("from_der returned %d", rc);
		goto out;
	}
	rc = ratls_evidence_extract(x, &tag, &q, &qs, NULL);
	if (rc == 0) {
		int loc = X509_get_ext_by_OBJ(x, g_oid, -1);
		const ASN1_OCTET_STRING *os =
			loc >= 0 ? X509_EXTENSION_get_data(X509_get_ext(x, loc)) : NULL;

		if (os == NULL || !inside(q, qs, ASN1_STRING_get0_data(os),
					  (size_t)ASN1_STRING_length(os)))
			die("extract returned a quote outside the extension value");
	} else if (rc != SHELTER_E_MALFORMED) {
		die("extract returned %d", rc);
	}
	/* A parsed certificate may still hold a public key OpenSSL cannot re-encode;
	 * that is a CRYPTO failure, never a crash. */
	rc = ratls_spki_sha256(x, spki, NULL);
	if (rc != 0 && rc != SHELTER_E_CRYPTO)
		die("spki_sha256 returned %d", rc);
	rc = ratls_check_binding(x, report_data, nonce, NULL);
	if (rc != 0 && rc != SHELTER_E_UNTRUSTED && rc != SHELTER_E_REPLAY &&
	    rc != SHELTER_E_CRYPTO)
		die("check_binding returned %d", rc);
	rc = ratls_cert_check_time(x, 1700000000, NULL);
	if (rc != 0 && rc != SHELTER_E_EXPIRED && rc != SHELTER_E_MALFORMED)
		die("check_time returned %d", rc);
out:
	X509_free(x);
	ERR_clear_error();
}

/* Mode 3. */
static void extension_check(const uint8_t *data, size_t size, int want, uint64_t want_tag)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	const uint8_t *q = NULL;
	size_t qs = 0;
	uint64_t tag = 0;
	int rc, loc;

	if (size > INT32_MAX || os == NULL || ASN1_OCTET_STRING_set(os, data, (int)size) != 1 ||
	    (ext = X509_EXTENSION_create_by_OBJ(NULL, g_oid, 0, os)) == NULL ||
	    X509_add_ext(g_template, ext, -1) != 1)
		die("cannot add the extension");
	rc = ratls_evidence_extract(g_template, &tag, &q, &qs, NULL);
	if (rc != want || tag != want_tag)
		die("extract (%d, tag %llu) disagrees with decode (%d, tag %llu)", rc,
		    (unsigned long long)tag, want, (unsigned long long)want_tag);
	loc = X509_get_ext_by_OBJ(g_template, g_oid, -1);
	if (loc < 0)
		die("the extension vanished");
	X509_EXTENSION_free(X509_delete_ext(g_template, loc));
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
}

static void setup(void)
{
	g_oid = OBJ_txt2obj(RATLS_EVIDENCE_OID, 1);
	if (g_oid == NULL || ratls_key_new(&g_key, NULL) != 0 ||
	    ratls_selfsigned_cert(g_key, "fuzz", 1, &g_template, NULL) != 0)
		die("setup failed");
}

/* ---- seed generator (SHELTER_FUZZ_SEEDS=DIR) ---- */

static void put_seed(const char *dir, const char *name, const uint8_t *buf, size_t size)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, size) != (ssize_t)size || close(fd) < 0)
		die("write %s: %s", path, strerror(errno));
}

static void put_cert(const char *dir, const char *name, X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	if (n <= 0)
		die("generator: i2d_X509");
	put_seed(dir, name, der, (size_t)n);
	OPENSSL_free(der);
}

static void generate(const char *dir)
{
	uint8_t quote[600], value[700];
	size_t n = 0;
	X509 *x = NULL;

	for (size_t i = 0; i < sizeof(quote); i++)
		quote[i] = (uint8_t)(i * 13 + 1);
	if (ratls_evidence_encode(RATLS_TAG_SHELTER_SIM, quote, 20, value, sizeof(value), &n,
				  NULL) != 0)
		die("generator: encode");
	put_seed(dir, "value-short", value, n);
	if (ratls_evidence_encode(RATLS_TAG_SHELTER_SIM, quote, sizeof(quote), value,
				  sizeof(value), &n, NULL) != 0)
		die("generator: encode");
	put_seed(dir, "value-600", value, n);
	put_seed(dir, "value-indefinite",
		 (const uint8_t[]){ 0xda, 0x53, 0x48, 0x4c, 0x54, 0x5f, 0x42, 'a', 'b', 0x41, 'c',
				    0xff }, 12);
	put_seed(dir, "value-tag60000",
		 (const uint8_t[]){ 0xd9, 0xea, 0x60, 0x82, 0x42, 'q', 'q', 0x41, 'c' }, 9);
	if (ratls_cert_create(g_key, RATLS_TAG_SHELTER_SIM, quote, 200, &x, NULL) != 0)
		die("generator: cert");
	put_cert(dir, "cert-ratls", x);
	X509_free(x);
	put_cert(dir, "cert-no-evidence", g_template);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SHELTER_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	setup();
	if (dir != NULL) {
		generate(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t tag = 0;
	int rc = value_check(data, size, &tag);

	cert_check(data, size);
	extension_check(data, size, rc, tag);
	return 0;
}
