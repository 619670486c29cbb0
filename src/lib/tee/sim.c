/* The sim TEE backend (docs/formats/quote.md §2, §6): the whole protocol with the
 * platform's attestation key held in a file. Quotes carry SHELTER_TEE_FLAG_SIM so a
 * verifier's policy must opt in to accept them. It proves code identity and where
 * the code runs to anyone who trusts the provider, but gives no memory isolation:
 * root on the platform can read the attestation key and the sealing secret. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509.h>

#include "shelter/crypto.h"
#include "shelter/provider.h"
#include "tee/internal.h"
#include "tee/pki.h"
#include "tee/sim.h"

#define SIM_LABEL_MAX 1024
#define SEAL_SALT "shelter-seal-v1"

struct sim {
	EVP_PKEY *ak;
	uint8_t key_id[32];
	uint8_t *cert;      /* platform certificate DER */
	size_t cert_size;
	uint8_t *seal;      /* SIM_SEAL_SIZE bytes of secret memory */
	struct shelter_identity id;
};

/* Refuse key material other users can read: a sim platform key is only as secret
 * as its file (quote.md §6.2). */
static int private_file(const char *path, struct shelter_err *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return shelter_err_errno(err, errno, "stat '%s'", path);
	if ((st.st_mode & 077) != 0)
		return shelter_err_set(err, SHELTER_E_PERM,
				       "'%s' can be read by other users (chmod 600 it)", path);
	return 0;
}

int sim_load_key(const char *dir, EVP_PKEY **out, struct shelter_err *err)
{
	char path[4096], *pem = NULL;
	size_t size = 0;
	int rc;

	*out = NULL;
	rc = pki_path(path, sizeof(path), dir, SIM_KEY_FILE, err);
	if (rc < 0)
		return rc;
	rc = pki_read_file(path, PKI_FILE_MAX, &pem, &size, err);
	if (rc == SHELTER_E_NOENT)
		return shelter_err_set(err, rc,
				       "no platform in '%s' (no " SIM_KEY_FILE "): run `shelter "
				       "platform init`", dir);
	if (rc == 0)
		rc = private_file(path, err);
	if (rc == 0)
		rc = pki_key_from_pem(pem, size, out, err);
	if (rc == 0 && !pki_key_is_p256(*out)) {
		EVP_PKEY_free(*out);
		*out = NULL;
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "not an ECDSA P-256 key");
	}
	if (rc < 0)
		shelter_err_wrap(err, rc, "platform key '%s'", path);
	pki_free_secret_pem(pem, size);
	return rc;
}

int sim_load_name(const char *dir, char *name, struct shelter_err *err)
{
	char path[4096], *text = NULL;
	size_t size = 0;
	int rc;

	name[0] = '\0';
	rc = pki_path(path, sizeof(path), dir, SIM_NAME_FILE, err);
	if (rc == 0)
		rc = pki_read_file(path, PKI_NAME_MAX, &text, &size, err);
	if (rc < 0)
		return rc;
	if (size > 0 && text[size - 1] == '\n')
		text[--size] = '\0';
	if (!pki_name_ok(text))
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "'%s' holds no valid name", path);
	else
		memcpy(name, text, size + 1);
	free(text);
	return rc;
}

static int load_seal(const char *dir, uint8_t *seal, struct shelter_err *err)
{
	char path[4096], *data = NULL;
	size_t size = 0;
	int rc = pki_path(path, sizeof(path), dir, SIM_SEAL_FILE, err);

	if (rc == 0)
		rc = pki_read_file(path, SIM_SEAL_SIZE, &data, &size, err);
	if (rc == 0)
		rc = private_file(path, err);
	if (rc == 0 && size != SIM_SEAL_SIZE)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "'%s' is %zu bytes, not %d", path,
				     size, SIM_SEAL_SIZE);
	if (rc == 0)
		memcpy(seal, data, SIM_SEAL_SIZE);
	if (data != NULL) {
		shelter_wipe(data, size);
		free(data);
	}
	return rc;
}

/* The platform certificate, which must certify the attestation key. */
static int load_cert(const char *dir, struct sim *s, struct shelter_err *err)
{
	char path[4096], *pem = NULL;
	uint8_t cert_id[32];
	unsigned char *der = NULL;
	size_t size = 0;
	X509 *cert = NULL;
	int len, rc = pki_path(path, sizeof(path), dir, SIM_CERT_FILE, err);

	if (rc == 0)
		rc = pki_read_file(path, PKI_FILE_MAX, &pem, &size, err);
	if (rc == SHELTER_E_NOENT) {
		rc = shelter_err_set(err, rc,
				     "platform in '%s' is not enrolled (no " SIM_CERT_FILE "): "
				     "have the provider run `shelter provider enroll` on "
				     SIM_CSR_FILE ", then run `shelter platform install-cert`", dir);
		goto out;
	}
	if (rc == 0)
		rc = pki_cert_from_pem(pem, size, &cert, err);
	if (rc == 0)
		rc = pki_check_platform_cert(cert, NULL, err);
	if (rc == 0)
		rc = pki_cert_key_id(cert, cert_id, err);
	if (rc < 0)
		goto wrap;
	if (!shelter_ct_equal(cert_id, s->key_id, sizeof(cert_id))) {
		rc = shelter_err_set(err, SHELTER_E_BADKEY,
				     "certifies another key than " SIM_KEY_FILE);
		goto wrap;
	}
	len = i2d_X509(cert, &der);
	if (len <= 0 || len > TEE_QUOTE_CERT_MAX) {
		rc = pki_ossl(err, SHELTER_E_MALFORMED, "DER encoding of %d bytes (at most %d)",
			      len, TEE_QUOTE_CERT_MAX);
		goto wrap;
	}
	s->cert = malloc((size_t)len);
	if (s->cert == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
		goto wrap;
	}
	memcpy(s->cert, der, (size_t)len);
	s->cert_size = (size_t)len;
	goto out;
wrap:
	shelter_err_wrap(err, rc, "platform certificate '%s'", path);
out:
	OPENSSL_free(der);
	X509_free(cert);
	free(pem);
	return rc;
}

static void sim_close(void *state)
{
	struct sim *s = state;

	if (s == NULL)
		return;
	EVP_PKEY_free(s->ak);
	free(s->cert);
	shelter_secret_free(s->seal, SIM_SEAL_SIZE);
	shelter_wipe(s, sizeof(*s));
	free(s);
}

static int sim_open(const struct shelter_tee_opts *opts, void **state, struct shelter_err *err)
{
	char dir[4096];
	struct sim *s = NULL;
	int rc = 0;

	*state = NULL;
	if (opts == NULL || opts->launch == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "sim: no launch identity (opts->launch): the sim backend "
				       "reports what the loader measured");
	if (opts->platform_dir == NULL)
		rc = shelter_platform_default_dir(dir, sizeof(dir), err);
	else if (strlen(opts->platform_dir) >= sizeof(dir))
		rc = shelter_err_set(err, SHELTER_E_NAMETOOLONG, "sim: platform directory name "
				     "is too long");
	else
		strcpy(dir, opts->platform_dir);
	if (rc < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "sim: out of memory");
	s->id = *opts->launch;
	s->id.tee = SHELTER_TEE_SIM;
	s->id.flags |= SHELTER_TEE_FLAG_SIM; /* tee.h: forced on */
	rc = tee_identity_check(&s->id, err);
	if (rc < 0) {
		rc = pki_rewrap(err, SHELTER_E_INVAL, "sim: launch identity");
		goto out;
	}
	s->seal = shelter_secret_alloc(SIM_SEAL_SIZE);
	if (s->seal == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "sim: out of secret memory");
		goto out;
	}
	rc = sim_load_key(dir, &s->ak, err);
	if (rc == 0)
		rc = pki_key_id(s->ak, s->key_id, err);
	if (rc == 0)
		rc = load_cert(dir, s, err);
	if (rc == 0)
		rc = load_seal(dir, s->seal, err);
	if (rc < 0) {
		shelter_err_wrap(err, rc, "sim");
		goto out;
	}
	*state = s;
	s = NULL;
out:
	sim_close(s);
	return rc;
}

static int sim_identity(const void *state, struct shelter_identity *out,
			struct shelter_err *err)
{
	const struct sim *s = state;

	(void)err;
	*out = s->id;
	return 0;
}

static int sim_quote(void *state, const uint8_t report_data[SHELTER_REPORT_DATA_SIZE],
		     uint8_t **quote, size_t *size, struct shelter_err *err)
{
	struct sim *s = state;
	size_t total = TEE_QUOTE_FIXED_SIZE + s->cert_size;
	uint8_t *q = malloc(total);
	int rc;

	if (q == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "sim quote: out of memory");
	/* quote.md §3: body, raw signature over it, certificate length and DER */
	tee_quote_encode_body(&s->id, s->key_id, report_data, q);
	rc = pki_sign_raw(s->ak, q, TEE_QUOTE_BODY_SIZE, q + TEE_QUOTE_BODY_SIZE, err);
	if (rc < 0) {
		free(q);
		return shelter_err_wrap(err, rc, "sim quote");
	}
	q[TEE_QUOTE_BODY_SIZE + 64] = (uint8_t)(s->cert_size >> 8);
	q[TEE_QUOTE_BODY_SIZE + 65] = (uint8_t)s->cert_size;
	memcpy(q + TEE_QUOTE_FIXED_SIZE, s->cert, s->cert_size);
	*quote = q;
	*size = total;
	return 0;
}

/* quote.md §6.1: HKDF-SHA256(ikm = seal.secret, salt = "shelter-seal-v1",
 * info = policy || measurement, or policy || signer || product[64], then label). */
static int sim_seal_key(void *state, enum shelter_seal_policy policy, const char *label,
			uint8_t key[32], struct shelter_err *err)
{
	struct sim *s = state;
	uint8_t info[1 + SHELTER_SIGNER_SIZE + SHELTER_PRODUCT_MAX + SIM_LABEL_MAX];
	size_t n = 0, label_size = label != NULL ? strnlen(label, SIM_LABEL_MAX + 1) : 0;
	int rc;

	if (label == NULL || label_size > SIM_LABEL_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "seal key: label must be a string of at most %d bytes",
				       SIM_LABEL_MAX);
	info[n++] = (uint8_t)policy;
	switch (policy) {
	case SHELTER_SEAL_MEASUREMENT:
		memcpy(info + n, s->id.measurement, SHELTER_MEASUREMENT_SIZE);
		n += SHELTER_MEASUREMENT_SIZE;
		break;
	case SHELTER_SEAL_SIGNER: {
		static const uint8_t zero[SHELTER_SIGNER_SIZE];

		if (memcmp(s->id.signer, zero, sizeof(zero)) == 0)
			return shelter_err_set(err, SHELTER_E_INVAL,
					       "seal key: signer policy for an unsigned identity");
		memcpy(info + n, s->id.signer, SHELTER_SIGNER_SIZE);
		n += SHELTER_SIGNER_SIZE;
		/* the whole padded field, so signer || product || label is unambiguous */
		memcpy(info + n, s->id.product, SHELTER_PRODUCT_MAX);
		n += SHELTER_PRODUCT_MAX;
		break;
	}
	default:
		return shelter_err_set(err, SHELTER_E_INVAL, "seal key: unknown policy %d",
				       (int)policy);
	}
	memcpy(info + n, label, label_size);
	n += label_size;
	rc = shelter_hkdf_sha256(s->seal, SIM_SEAL_SIZE, (const uint8_t *)SEAL_SALT,
				 strlen(SEAL_SALT), info, n, key, 32, err);
	shelter_wipe(info, sizeof(info));
	return rc;
}

const struct tee_backend tee_backend_sim = {
	.name = "sim",
	.tee = SHELTER_TEE_SIM,
	.unavailable = NULL,
	.open = sim_open,
	.close = sim_close,
	.identity = sim_identity,
	.quote = sim_quote,
	.seal_key = sim_seal_key,
};
