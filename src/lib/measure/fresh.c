/* The FRESHNESS record of a measurement (docs/formats/measurement.md §4.2): which
 * freshness service a program's protected volumes are bound to.
 *
 * The binding is part of the launch manifest because the host must not choose it:
 * a host that could start the program against a service of its own (another
 * genesis) or with a looser endorser policy could present an old state as the
 * latest (docs/protocols/freshness.md §11). Volume keys are sealed to the
 * measurement, so a start with another binding opens nothing.
 *
 * value = genesis 32 || provider 32 || flags u32 || count u16 || count x measurement 32
 * with the measurements sorted bytewise and distinct: one encoding per binding.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "measure/internal.h"
#include "shelter/crypto.h"
#include "tee/pki.h"
#include "util/buf.h"

#define FRESH_HDR 70 /* genesis, provider, flags, count */
#define CA_MAX ((size_t)1 << 16)

static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

int shelter_measure_freshness_encode(const struct shelter_measure_freshness *in, uint8_t *out,
				     size_t cap, size_t *size, struct shelter_err *err)
{
	uint8_t sorted[SHELTER_MEASURE_FRESH_ENDORSERS_MAX][32];
	size_t n = 0, need;
	struct shelter_wbuf w;

	*size = 0;
	if (in->endorser_count == 0 || in->endorser_count > SHELTER_MEASURE_FRESH_ENDORSERS_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "freshness binding: %zu endorser "
				       "measurements, want 1 to %d", in->endorser_count,
				       SHELTER_MEASURE_FRESH_ENDORSERS_MAX);
	if ((in->flags & ~SHELTER_MEASURE_FRESH_ACCEPT_SIM) != 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "freshness binding: unknown flags "
				       "0x%x", in->flags);
	memcpy(sorted, in->endorsers, in->endorser_count * 32);
	qsort(sorted, in->endorser_count, 32, cmp32);
	for (size_t i = 0; i < in->endorser_count; i++)
		if (n == 0 || memcmp(sorted[i], sorted[n - 1], 32) != 0)
			memmove(sorted[n++], sorted[i], 32);
	need = FRESH_HDR + 32 * n;
	if (cap < need)
		return shelter_err_set(err, SHELTER_E_INVAL, "freshness binding: %zu bytes of "
				       "room, %zu needed", cap, need);
	shelter_wbuf_init(&w, out, cap);
	shelter_wbuf_put_bytes(&w, in->genesis, 32);
	shelter_wbuf_put_bytes(&w, in->provider, 32);
	shelter_wbuf_u32(&w, in->flags);
	shelter_wbuf_u16(&w, (uint16_t)n);
	shelter_wbuf_put_bytes(&w, sorted, 32 * n);
	if (w.bad || w.used != need)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "freshness binding: encoding size");
	*size = need;
	return 0;
}

/* §4.2, in wire order; only the canonical encoding is accepted, so a binding has one
 * record and one measurement. */
int shelter_measure_freshness_parse(const uint8_t *buf, size_t size,
				    struct shelter_measure_freshness *out, struct shelter_err *err)
{
	struct shelter_rbuf r;
	const uint8_t *p;
	uint16_t count;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	shelter_rbuf_init(&r, buf, size);
	p = shelter_rbuf_take(&r, 64);
	if (p == NULL || size < FRESH_HDR)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "freshness binding: %zu bytes, "
				       "shorter than its %d-byte header", size, FRESH_HDR);
	memcpy(out->genesis, p, 32);
	memcpy(out->provider, p + 32, 32);
	out->flags = shelter_rbuf_u32(&r);
	count = shelter_rbuf_u16(&r);
	if ((out->flags & ~SHELTER_MEASURE_FRESH_ACCEPT_SIM) != 0)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "freshness binding: unknown flags "
				     "0x%x", out->flags);
	else if (count == 0 || count > SHELTER_MEASURE_FRESH_ENDORSERS_MAX)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "freshness binding: %u endorser "
				     "measurements, want 1 to %d", count,
				     SHELTER_MEASURE_FRESH_ENDORSERS_MAX);
	else if (size != FRESH_HDR + 32 * (size_t)count)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "freshness binding: %zu bytes for "
				     "%u measurements, want %zu", size, count,
				     FRESH_HDR + 32 * (size_t)count);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		p = shelter_rbuf_take(&r, 32);
		if (p == NULL || (i > 0 && memcmp(p, out->endorsers[i - 1], 32) <= 0))
			rc = shelter_err_set(err, SHELTER_E_MALFORMED, "freshness binding: endorser "
					     "measurement %zu is not after the one before (sorted, "
					     "distinct)", i);
		else
			memcpy(out->endorsers[i], p, 32);
	}
	if (rc < 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	out->endorser_count = count;
	return 0;
}

int shelter_measure_freshness_provider(const char *dir, uint8_t out[32], struct shelter_err *err)
{
	char path[4096], *pem = NULL;
	size_t len = 0;
	unsigned char *der = NULL;
	X509 *cert = NULL;
	BIO *bio = NULL;
	int n, rc;

	memset(out, 0, 32);
	rc = pki_path(path, sizeof(path), dir, "ca.crt", err);
	if (rc == 0)
		rc = pki_read_file(path, CA_MAX, &pem, &len, err);
	if (rc == 0 && ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
			(cert = PEM_read_bio_X509(bio, NULL, pki_no_passphrase, NULL)) == NULL))
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "'%s' holds no PEM certificate",
				     path);
	if (rc == 0 && (n = i2d_X509(cert, &der)) <= 0)
		rc = shelter_err_set(err, SHELTER_E_CRYPTO, "'%s': cannot encode the certificate",
				     path);
	if (rc == 0)
		rc = shelter_sha256(der, (size_t)n, out, err);
	OPENSSL_free(der);
	X509_free(cert);
	BIO_free(bio);
	free(pem);
	return rc;
}
