/* libFuzzer target: shelter_quote_verify (docs/formats/quote.md §3-§4; STYLE.md
 * rule 17) over arbitrary bytes, with a trust built from the provider CA and CRL of
 * tests/vectors/quote/ (copied below), so inputs derived from the vector quotes reach
 * certificate parsing, the key id and profile checks, both signatures, the chain,
 * the CRL and the parsed-certificate cache (§4.4).
 *
 * Verification runs at the vector's fixed instant (tee_quote_verify_at, the function
 * shelter_quote_verify wraps), so a run does not depend on the clock.
 *
 * Properties checked with abort(): every refusal is one of the codes §4.2 allows
 * (MALFORMED, VERSION, UNTRUSTED, REVOKED, EXPIRED), never an internal, crypto or
 * memory error; a refusal leaves the output zeroed; an accepted quote decodes to
 * what its bytes say (§3) and names the vector provider; verifying it twice gives
 * the same answer (the second time from the cache).
 *
 * Seed generator: SHELTER_FUZZ_SEEDS=DIR ./fuzz_quote (run from the repository root)
 * writes seeds derived from tests/vectors/quote/quote*.bin into DIR and exits
 * (tests/fuzz/corpus/fuzz_quote). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelter/tee.h"
#include "tee/internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* tests/vectors/quote/provider.crt */
static const char vector_ca[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIByzCCAXGgAwIBAgIQRXZT3dBeTFDee363Z6CdtDAKBggqhkjOPQQDAjA1MRkw\n"
	"FwYDVQQLDBBzaGVsdGVyLXByb3ZpZGVyMRgwFgYDVQQDDA92ZWN0b3ItcHJvdmlk\n"
	"ZXIwHhcNMjYxMTIyMTk1OTI1WhcNNDYxMTE3MjA1OTI1WjA1MRkwFwYDVQQLDBBz\n"
	"aGVsdGVyLXByb3ZpZGVyMRgwFgYDVQQDDA92ZWN0b3ItcHJvdmlkZXIwWTATBgcq\n"
	"hkjOPQIBBggqhkjOPQMBBwNCAAQlDzMrcInj29+yZOhOGYOTz2Yur1aN/DbizuGC\n"
	"TFkpGk7dE7DufBeVBaq2UiWJQU6tRRF1vmKUWxlVaZIpGyZuo2MwYTAPBgNVHRMB\n"
	"Af8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQUUCkrhsapWG9SeLqJ\n"
	"VyTlRJO2FigwHwYDVR0jBBgwFoAUUCkrhsapWG9SeLqJVyTlRJO2FigwCgYIKoZI\n"
	"zj0EAwIDSAAwRQIhAJQTcVMdhCpfE4LbPmCGY11C0THSxdRQ/s2pHcatR/gIAiAh\n"
	"B8uOJv3nizG/E0GJPa+Whcio4o/suOHAwuyYmTEO6w==\n"
	"-----END CERTIFICATE-----\n";

/* tests/vectors/quote/crl.pem (number 2, revokes node-revoked) */
static const char vector_crl[] =
	"-----BEGIN X509 CRL-----\n"
	"MIIBAzCBqwIBATAKBggqhkjOPQQDAjA1MRkwFwYDVQQLDBBzaGVsdGVyLXByb3Zp\n"
	"ZGVyMRgwFgYDVQQDDA92ZWN0b3ItcHJvdmlkZXIXDTI2MTEyMjIwNTkyNlowIzAh\n"
	"AhBNuFWA22nNv5xszJCCH8B3Fw0yNjExMjIyMDU5MjZaoC8wLTAKBgNVHRQEAwIB\n"
	"AjAfBgNVHSMEGDAWgBRQKSuGxqlYb1J4uolXJOVEk7YWKDAKBggqhkjOPQQDAgNH\n"
	"ADBEAiAnBtKJd/KuXacs5cjTWf5W2ILDXbtVF7OKp7F2CXrzpAIgYgvefIEoU9Md\n"
	"NOEecgHAu8cI1gdVAZHO7T2MB5Gy9mk=\n"
	"-----END X509 CRL-----\n";

#define VECTOR_AT ((time_t)1795381166LL) /* quote.txt: verify_at */

static struct shelter_trust *g_trust;

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_quote: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static int all_zero(const void *p, size_t size)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < size; i++) {
		if (b[i] != 0)
			return 0;
	}
	return 1;
}

static void check_accepted(const uint8_t *data, size_t size,
			   const struct shelter_quote_info *info)
{
	struct shelter_quote_info again;
	struct tee_quote q;

	if (tee_quote_parse(data, size, &q, NULL) != 0)
		die("accepted a quote that does not parse");
	if (memcmp(&q.id, &info->id, sizeof(q.id)) != 0 ||
	    memcmp(q.report_data, info->report_data, sizeof(q.report_data)) != 0 ||
	    memcmp(q.key_id, info->platform, sizeof(q.key_id)) != 0)
		die("accepted quote decodes to other fields than its bytes");
	if (memcmp(info->provider, g_trust->providers[0].id, 32) != 0 ||
	    info->platform_name[0] == '\0')
		die("accepted quote names no provider or platform");
	if (tee_quote_verify_at(data, size, g_trust, VECTOR_AT, &again, NULL) != 0 ||
	    memcmp(&again, info, sizeof(again)) != 0)
		die("second verification differs");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shelter_quote_info info;
	struct shelter_err err;
	int rc;

	shelter_err_clear(&err);
	rc = tee_quote_verify_at(data, size, g_trust, VECTOR_AT, &info, &err);

	switch (rc) {
	case 0:
		check_accepted(data, size, &info);
		break;
	case SHELTER_E_MALFORMED:
	case SHELTER_E_VERSION:
	case SHELTER_E_INTEGRITY:
	case SHELTER_E_UNTRUSTED:
	case SHELTER_E_REVOKED:
	case SHELTER_E_EXPIRED:
		if (!all_zero(&info, sizeof(info)))
			die("a refused quote left output behind");
		if (err.msg[0] == '\0' || err.code != rc)
			die("refusal %d without its message or code", rc);
		break;
	default:
		die("unexpected code %d (%s): %s", rc, shelter_code_str(rc), err.msg);
	}
	return 0;
}

/* ---- seed generator (SHELTER_FUZZ_SEEDS=DIR) ---- */

static uint8_t *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(TEE_QUOTE_MAX + 1);

	*size = 0;
	if (f == NULL || buf == NULL)
		die("read %s", path);
	*size = fread(buf, 1, TEE_QUOTE_MAX + 1, f);
	fclose(f);
	return buf;
}

static void seed(const char *dir, const char *name, const uint8_t *data, size_t size)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		die("write %s", path);
}

static void generate(const char *dir)
{
	size_t size = 0, rsize = 0;
	uint8_t *q = slurp("tests/vectors/quote/quote.bin", &size);
	uint8_t *r = slurp("tests/vectors/quote/quote-revoked.bin", &rsize);
	uint8_t *m = malloc(size);

	if (m == NULL || size <= TEE_QUOTE_FIXED_SIZE)
		die("vector quote");
	seed(dir, "valid", q, size);                   /* accepted */
	seed(dir, "revoked", r, rsize);                /* REVOKED */
	seed(dir, "fixed-part-only", q, TEE_QUOTE_FIXED_SIZE); /* certificate missing */
	memcpy(m, q, size);
	m[5] = 2;                                      /* format version 2 */
	seed(dir, "version-2", m, size);
	memcpy(m, q, size);
	m[7] = 2;                                      /* TEE type SGX */
	seed(dir, "tee-sgx", m, size);
	memcpy(m, q, size);
	m[11] = 3;                                     /* DEBUG claimed after signing */
	seed(dir, "flags-debug", m, size);
	memcpy(m, q, size);
	m[200] ^= 1;                                   /* report data changed */
	seed(dir, "report-data-flipped", m, size);
	memcpy(m, q, size);
	m[TEE_QUOTE_FIXED_SIZE + 40] ^= 1;             /* certificate bytes changed */
	seed(dir, "cert-flipped", m, size);
	free(m);
	free(q);
	free(r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SHELTER_FUZZ_SEEDS");
	struct shelter_err err;

	(void)argc;
	(void)argv;
	if (shelter_trust_new(&g_trust, &err) < 0 ||
	    shelter_trust_add_provider(g_trust, vector_ca, sizeof(vector_ca) - 1, NULL, &err) < 0 ||
	    shelter_trust_add_crl(g_trust, vector_crl, sizeof(vector_crl) - 1, &err) < 0)
		die("trust: %s", err.msg);
	if (dir != NULL) {
		generate(dir);
		exit(0);
	}
	return 0;
}
