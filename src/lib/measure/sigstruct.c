/* Sigstructs: a tenant's Ed25519 signature over a measurement, a product name and a
 * security version (docs/formats/measurement.md §6), and the identity they give.
 *
 * The parser reads the fixed layout field by field through the bounded cursor, in
 * wire order, and checks everything that has a single valid value (length, magic,
 * reserved bytes, unknown flags, the product's charset and zero padding) before the
 * signature, so that exactly one byte string is accepted for each set of fields.
 */
#include <string.h>

#include "measure/internal.h"
#include "shelter/crypto.h"
#include "util/buf.h"

/* §6.1 layout */
#define SIG_MAGIC "SHELTSIG"
#define SIG_MAGIC_SIZE 8
#define SIG_VERSION 1
#define SIG_PRODUCT_FIELD 63
#define SIG_SIGNED_SIZE 156 /* every byte before the signature */
/* §6.2 the signature's domain separation */
#define SIG_DOMAIN "shelter-sigstruct-v1"

_Static_assert(SIG_SIGNED_SIZE + SHELTER_ED25519_SIG_SIZE == SHELTER_SIGSTRUCT_SIZE,
	       "sigstruct layout");
_Static_assert(SIG_PRODUCT_FIELD + 1 == SHELTER_PRODUCT_MAX, "product field");

static int product_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-';
}

/* §6.1: 1-63 characters of [A-Za-z0-9._-]. */
static int product_ok(const char *p, size_t n)
{
	if (n == 0 || n > SIG_PRODUCT_FIELD)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!product_char(p[i]))
			return 0;
	}
	return 1;
}

/* §6.2: the signed message is the domain string followed by bytes [0, 156). */
static void signed_message(const uint8_t *bytes, uint8_t msg[sizeof(SIG_DOMAIN) - 1 +
							    SIG_SIGNED_SIZE])
{
	memcpy(msg, SIG_DOMAIN, sizeof(SIG_DOMAIN) - 1);
	memcpy(msg + sizeof(SIG_DOMAIN) - 1, bytes, SIG_SIGNED_SIZE);
}

int shelter_sigstruct_sign(const uint8_t key[32], const struct shelter_sigstruct *fields,
			   uint8_t out[SHELTER_SIGSTRUCT_SIZE], struct shelter_err *err)
{
	uint8_t msg[sizeof(SIG_DOMAIN) - 1 + SIG_SIGNED_SIZE], pub[SHELTER_ED25519_PUB_SIZE];
	uint8_t product[SIG_PRODUCT_FIELD] = { 0 };
	struct shelter_wbuf w;
	size_t n;
	int rc;

	if (out != NULL)
		memset(out, 0, SHELTER_SIGSTRUCT_SIZE);
	if (key == NULL || fields == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "sign: NULL argument");
	n = strnlen(fields->product, sizeof(fields->product));
	if (!product_ok(fields->product, n))
		return shelter_err_set(err, SHELTER_E_INVAL, "sign: product name must be 1-%d "
				       "characters of A-Z a-z 0-9 . _ -", SIG_PRODUCT_FIELD);
	if ((fields->flags & ~SHELTER_SIGSTRUCT_DEBUG) != 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "sign: unknown flags 0x%x",
				       fields->flags & ~SHELTER_SIGSTRUCT_DEBUG);
	rc = shelter_ed25519_public(key, pub, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "sign: tenant key");
	memcpy(product, fields->product, n);
	shelter_wbuf_init(&w, out, SHELTER_SIGSTRUCT_SIZE);
	shelter_wbuf_put_bytes(&w, SIG_MAGIC, SIG_MAGIC_SIZE);
	shelter_wbuf_u16(&w, SIG_VERSION);
	shelter_wbuf_u16(&w, 0); /* reserved */
	shelter_wbuf_u32(&w, fields->flags);
	shelter_wbuf_put_bytes(&w, fields->measurement, SHELTER_MEASUREMENT_SIZE);
	shelter_wbuf_u32(&w, fields->version);
	shelter_wbuf_u64(&w, fields->created);
	shelter_wbuf_u8(&w, (uint8_t)n);
	shelter_wbuf_put_bytes(&w, product, sizeof(product));
	shelter_wbuf_put_bytes(&w, pub, sizeof(pub));
	if (w.bad || w.used != SIG_SIGNED_SIZE) {
		memset(out, 0, SHELTER_SIGSTRUCT_SIZE);
		return shelter_err_set(err, SHELTER_E_INTERNAL, "sign: layout mismatch");
	}
	signed_message(out, msg);
	rc = shelter_ed25519_sign(key, msg, sizeof(msg), out + SIG_SIGNED_SIZE, err);
	if (rc < 0) {
		memset(out, 0, SHELTER_SIGSTRUCT_SIZE);
		return shelter_err_wrap(err, rc, "sign");
	}
	return 0;
}

/* §6.1 in wire order; the signature is checked by the caller. */
static int parse_fields(const uint8_t *bytes, size_t size, struct shelter_sigstruct *s,
			struct shelter_err *err)
{
	struct shelter_rbuf b;
	const uint8_t *magic, *product;
	uint16_t version, reserved;
	uint8_t n;

	shelter_rbuf_init(&b, bytes, size);
	magic = shelter_rbuf_take(&b, SIG_MAGIC_SIZE);
	version = shelter_rbuf_u16(&b);
	if (magic == NULL || b.bad)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "sigstruct: %zu bytes is too "
				       "short", size);
	if (memcmp(magic, SIG_MAGIC, SIG_MAGIC_SIZE) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "not a sigstruct (bad magic)");
	if (version != SIG_VERSION)
		return shelter_err_set(err, SHELTER_E_VERSION, "sigstruct version %u is not "
				       "supported (this reader knows %u)", version, SIG_VERSION);
	if (size != SHELTER_SIGSTRUCT_SIZE)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "sigstruct is %zu bytes, version "
				       "%u is exactly %d", size, SIG_VERSION,
				       SHELTER_SIGSTRUCT_SIZE);
	reserved = shelter_rbuf_u16(&b);
	s->flags = shelter_rbuf_u32(&b);
	shelter_rbuf_get_bytes(&b, s->measurement, sizeof(s->measurement));
	s->version = shelter_rbuf_u32(&b);
	s->created = shelter_rbuf_u64(&b);
	n = shelter_rbuf_u8(&b);
	product = shelter_rbuf_take(&b, SIG_PRODUCT_FIELD);
	shelter_rbuf_get_bytes(&b, s->public_key, sizeof(s->public_key));
	shelter_rbuf_take(&b, SHELTER_ED25519_SIG_SIZE);
	if (b.bad || b.left != 0)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "sigstruct: layout mismatch");
	if (reserved != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "sigstruct: reserved field is "
				       "not zero");
	if ((s->flags & ~SHELTER_SIGSTRUCT_DEBUG) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "sigstruct: unknown flags 0x%x",
				       s->flags & ~SHELTER_SIGSTRUCT_DEBUG);
	if (!product_ok((const char *)product, n))
		return shelter_err_set(err, SHELTER_E_MALFORMED, "sigstruct: product name is "
				       "not 1-%d characters of A-Z a-z 0-9 . _ -",
				       SIG_PRODUCT_FIELD);
	for (size_t i = n; i < SIG_PRODUCT_FIELD; i++) {
		if (product[i] != 0)
			return shelter_err_set(err, SHELTER_E_MALFORMED, "sigstruct: product "
					       "padding is not zero");
	}
	memcpy(s->product, product, n);
	s->product[n] = '\0';
	return 0;
}

int shelter_sigstruct_parse_verify(const uint8_t *bytes, size_t size,
				   struct shelter_sigstruct *out, struct shelter_err *err)
{
	uint8_t msg[sizeof(SIG_DOMAIN) - 1 + SIG_SIGNED_SIZE];
	struct shelter_sigstruct s;
	char hex[2 * SHELTER_SIGNER_SIZE + 1];
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (out == NULL || (bytes == NULL && size != 0))
		return shelter_err_set(err, SHELTER_E_INVAL, "sigstruct: NULL argument");
	memset(&s, 0, sizeof(s));
	rc = parse_fields(bytes, size, &s, err);
	if (rc < 0)
		return rc;
	rc = shelter_sha256(s.public_key, sizeof(s.public_key), s.signer, err);
	if (rc < 0)
		return rc;
	signed_message(bytes, msg);
	/* §6.2: any failure to verify, including a public key that is not a curve
	 * point, is the same refusal */
	if (shelter_ed25519_verify(s.public_key, msg, sizeof(msg), bytes + SIG_SIGNED_SIZE,
				   NULL) != 0) {
		shelter_hex(s.signer, sizeof(s.signer), hex);
		return shelter_err_set(err, SHELTER_E_UNTRUSTED, "sigstruct: signature does not "
				       "verify under its public key (signer %s)", hex);
	}
	*out = s;
	return 0;
}

int shelter_measure_identity(const uint8_t measurement[SHELTER_MEASUREMENT_SIZE],
			     const uint8_t *sigstruct, size_t size, struct shelter_identity *out,
			     struct shelter_err *err)
{
	char want[2 * SHELTER_MEASUREMENT_SIZE + 1], got[2 * SHELTER_MEASUREMENT_SIZE + 1];
	struct shelter_sigstruct s;
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (measurement == NULL || out == NULL || (sigstruct == NULL && size != 0))
		return shelter_err_set(err, SHELTER_E_INVAL, "identity: NULL argument");
	if (sigstruct == NULL) {
		memcpy(out->measurement, measurement, SHELTER_MEASUREMENT_SIZE);
		return 0;
	}
	rc = shelter_sigstruct_parse_verify(sigstruct, size, &s, err);
	if (rc < 0)
		return rc;
	/* §6.3: a signature vouches for one measurement only */
	if (!shelter_ct_equal(s.measurement, measurement, SHELTER_MEASUREMENT_SIZE)) {
		shelter_hex(s.measurement, SHELTER_MEASUREMENT_SIZE, got);
		shelter_hex(measurement, SHELTER_MEASUREMENT_SIZE, want);
		return shelter_err_set(err, SHELTER_E_POLICY, "sigstruct is for measurement %s, "
				       "not for this program's measurement %s", got, want);
	}
	memcpy(out->measurement, measurement, SHELTER_MEASUREMENT_SIZE);
	memcpy(out->signer, s.signer, SHELTER_SIGNER_SIZE);
	memcpy(out->product, s.product, sizeof(out->product));
	out->version = s.version;
	out->flags = (s.flags & SHELTER_SIGSTRUCT_DEBUG) ? SHELTER_TEE_FLAG_DEBUG : 0;
	return 0;
}
