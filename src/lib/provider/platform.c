/* Platforms (include/shelter/provider.h; docs/formats/quote.md §5.4): this
 * machine's attestation key, sealing secret, enrolment request and, once a
 * provider enrolled it, its platform certificate. The sim backend (src/lib/tee/
 * sim.c) reads what this file writes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "provider/internal.h"
#include "shelter/crypto.h"
#include "tee/sim.h"

/* buf = a followed by b. */
static int set_dir(char *buf, size_t size, const char *a, const char *b,
		   struct shelter_err *err)
{
	int n = snprintf(buf, size, "%s%s", a, b);

	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return shelter_err_set(err, SHELTER_E_NAMETOOLONG,
				       "platform directory: path too long");
	}
	return 0;
}

int shelter_platform_default_dir(char *buf, size_t size, struct shelter_err *err)
{
	const char *env = secure_getenv("SHELTER_PLATFORM_DIR");
	const char *data = secure_getenv("XDG_DATA_HOME");
	const char *home = secure_getenv("HOME");

	if (buf == NULL || size == 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "platform directory: no buffer");
	buf[0] = '\0';
	if (env != NULL && env[0] != '\0')
		return set_dir(buf, size, env, "", err);
	if (geteuid() == 0)
		return set_dir(buf, size, "/var/lib/shelter/platform", "", err);
	if (data != NULL && data[0] == '/')
		return set_dir(buf, size, data, "/shelter/platform", err);
	if (home != NULL && home[0] == '/')
		return set_dir(buf, size, home, "/.local/share/shelter/platform", err);
	return shelter_err_set(err, SHELTER_E_NOENT,
			       "platform directory: neither SHELTER_PLATFORM_DIR, XDG_DATA_HOME "
			       "nor HOME is set");
}

/* ---- init ---- */

static const char *const platform_files[] = { SIM_KEY_FILE, SIM_SEAL_FILE, SIM_CSR_FILE,
					      SIM_CERT_FILE, SIM_NAME_FILE };

static int refuse_existing(const char *dir, struct shelter_err *err)
{
	return pki_refuse_existing(dir, platform_files,
				   sizeof(platform_files) / sizeof(platform_files[0]), "platform",
				   err);
}

/* §5.4: a PKCS#10 request, subject CN = name, signed by the attestation key. */
static int make_request(EVP_PKEY *key, const char *name, char **pem, size_t *size,
			struct shelter_err *err)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *subject = X509_NAME_new();
	int rc = 0;

	if (req == NULL || subject == NULL || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)name, -1, -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, subject) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "enrolment request");
	else
		rc = pki_req_to_pem(req, pem, size, err);
	X509_NAME_free(subject);
	X509_REQ_free(req);
	return rc;
}

static int write_file(const char *dir, const char *file, mode_t mode, const void *data,
		      size_t size, struct shelter_err *err)
{
	char path[4096];
	int rc = pki_path(path, sizeof(path), dir, file, err);

	return rc < 0 ? rc : pki_write_new(path, mode, data, size, err);
}

int shelter_platform_init(const char *dir, const char *name, char **csr_pem,
			  struct shelter_err *err)
{
	EVP_PKEY *key = NULL;
	uint8_t *seal = shelter_secret_alloc(SIM_SEAL_SIZE);
	char *key_pem = NULL, *req_pem = NULL, line[PKI_NAME_MAX + 1];
	size_t key_size = 0, req_size = 0;
	int rc;

	if (csr_pem != NULL)
		*csr_pem = NULL;
	if (seal == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "platform init: out of memory");
	if (dir == NULL || csr_pem == NULL) {
		rc = shelter_err_set(err, SHELTER_E_INVAL, "platform init: NULL argument");
		goto out;
	}
	rc = pki_name_check("platform init: platform name", name, err);
	if (rc == 0)
		rc = pki_mkdir(dir, err);
	if (rc == 0)
		rc = refuse_existing(dir, err);
	if (rc == 0)
		rc = pki_keygen(&key, err);
	if (rc == 0)
		rc = shelter_random_bytes(seal, SIM_SEAL_SIZE, err);
	if (rc == 0)
		rc = pki_key_to_pem(key, &key_pem, &key_size, err);
	if (rc == 0)
		rc = make_request(key, name, &req_pem, &req_size, err);
	/* The key first: its presence alone makes a second init refuse the directory. */
	if (rc == 0)
		rc = write_file(dir, SIM_KEY_FILE, 0600, key_pem, key_size, err);
	if (rc == 0)
		rc = write_file(dir, SIM_SEAL_FILE, 0600, seal, SIM_SEAL_SIZE, err);
	if (rc == 0)
		rc = write_file(dir, SIM_CSR_FILE, 0644, req_pem, req_size, err);
	if (rc == 0) {
		snprintf(line, sizeof(line), "%s\n", name);
		rc = write_file(dir, SIM_NAME_FILE, 0644, line, strlen(line), err);
	}
	if (rc == 0)
		rc = pki_fsync_dir(dir, err);
	if (rc < 0) {
		shelter_err_wrap(err, rc, "platform init '%s'", dir);
		goto out;
	}
	*csr_pem = req_pem;
	req_pem = NULL;
out:
	free(req_pem);
	pki_free_secret_pem(key_pem, key_size);
	shelter_secret_free(seal, SIM_SEAL_SIZE);
	EVP_PKEY_free(key);
	return rc;
}

/* ---- install-cert ---- */

/* The platform certificate and, when present, the provider certificate after it;
 * anything else in the input is refused. */
static int read_bundle(const char *pem, size_t size, X509 **cert, X509 **ca,
		       struct shelter_err *err)
{
	BIO *bio = NULL;
	X509 *extra = NULL;
	int rc = 0;

	*cert = *ca = NULL;
	if (pem == NULL || size == 0 || size > INT_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "empty certificate input");
	bio = BIO_new_mem_buf(pem, (int)size);
	if (bio == NULL)
		return pki_ossl(err, SHELTER_E_NOMEM, "certificate input");
	*cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (*cert == NULL) {
		rc = pki_ossl(err, SHELTER_E_MALFORMED, "no PEM certificate");
		goto out;
	}
	*ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (*ca != NULL && (extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		rc = shelter_err_set(err, SHELTER_E_INVAL,
				     "more than two certificates (expected the platform's, then "
				     "optionally the provider's)");
	ERR_clear_error();
out:
	X509_free(extra);
	BIO_free(bio);
	if (rc < 0) {
		X509_free(*cert);
		X509_free(*ca);
		*cert = *ca = NULL;
	}
	return rc;
}

static int check_issuer(X509 *cert, X509 *ca, struct shelter_err *err)
{
	char provider[PKI_NAME_MAX];
	int rc = pki_check_ca_cert(ca, provider, err);

	if (rc < 0)
		return shelter_err_wrap(err, rc, "provider certificate");
	if (X509_check_issued(ca, cert) != X509_V_OK ||
	    X509_verify(cert, X509_get0_pubkey(ca)) != 1) {
		ERR_clear_error();
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "the platform certificate was not issued by the enclosed "
				       "certificate of provider '%s'", provider);
	}
	return 0;
}

static int write_cert(const char *dir, const char *file, X509 *cert, struct shelter_err *err)
{
	char *pem = NULL;
	size_t size = 0;
	int rc = pki_cert_to_pem(cert, &pem, &size, err);

	if (rc == 0)
		rc = pki_write_atomic(dir, file, 0644, pem, size, err);
	free(pem);
	return rc;
}

int shelter_platform_install_cert(const char *dir, const char *cert_pem, size_t size,
				  struct shelter_err *err)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *ca = NULL;
	uint8_t key_id[32], cert_id[32];
	char name[PKI_NAME_MAX], cert_name[PKI_NAME_MAX], a[65], b[65];
	int rc;

	if (dir == NULL || cert_pem == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "install certificate: NULL argument");
	rc = sim_load_key(dir, &key, err);
	if (rc == 0)
		rc = pki_key_id(key, key_id, err);
	if (rc == 0)
		rc = sim_load_name(dir, name, err);
	if (rc == 0)
		rc = read_bundle(cert_pem, size, &cert, &ca, err);
	if (rc == 0)
		rc = pki_check_platform_cert(cert, cert_name, err);
	if (rc == 0)
		rc = pki_cert_key_id(cert, cert_id, err);
	if (rc < 0)
		goto out;
	if (memcmp(cert_id, key_id, sizeof(key_id)) != 0) {
		shelter_hex(cert_id, 8, a);
		shelter_hex(key_id, 8, b);
		rc = shelter_err_set(err, SHELTER_E_BADKEY,
				     "the certificate is for key %s..., this platform's key is "
				     "%s...", a, b);
		goto out;
	}
	if (strcmp(cert_name, name) != 0) {
		rc = shelter_err_set(err, SHELTER_E_INVAL,
				     "the certificate names platform '%s', this platform is '%s'",
				     cert_name, name);
		goto out;
	}
	if (ca != NULL)
		rc = check_issuer(cert, ca, err);
	/* The provider's certificate first: platform.crt is what makes the platform
	 * enrolled, and it should find its provider next to it. */
	if (rc == 0 && ca != NULL)
		rc = write_cert(dir, SIM_PROVIDER_FILE, ca, err);
	if (rc == 0)
		rc = write_cert(dir, SIM_CERT_FILE, cert, err);
out:
	if (rc < 0)
		shelter_err_wrap(err, rc, "install certificate in '%s'", dir);
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* ---- info ---- */

static int64_t unix_time(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

int shelter_platform_info(const char *dir, struct shelter_platform_info *out,
			  struct shelter_err *err)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char path[4096], *pem = NULL;
	size_t size = 0;
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (dir == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "platform info: NULL argument");
	rc = sim_load_key(dir, &key, err);
	if (rc == 0)
		rc = pki_key_id(key, out->key_id, err);
	if (rc == 0)
		rc = sim_load_name(dir, out->name, err);
	if (rc == 0)
		rc = pki_path(path, sizeof(path), dir, SIM_CERT_FILE, err);
	if (rc == 0) {
		rc = pki_read_file(path, PKI_FILE_MAX, &pem, &size, err);
		if (rc == SHELTER_E_NOENT) {
			rc = 0; /* not enrolled yet */
			goto out;
		}
	}
	if (rc == 0)
		rc = pki_cert_from_pem(pem, size, &cert, err);
	if (rc < 0)
		goto out;
	out->enrolled = 1;
	if (pki_subject_cn(X509_get_issuer_name(cert), out->provider, NULL) < 0)
		snprintf(out->provider, sizeof(out->provider), "?");
	pki_serial_hex(X509_get0_serialNumber(cert), out->serial);
	out->not_before = unix_time(X509_get0_notBefore(cert));
	out->not_after = unix_time(X509_get0_notAfter(cert));
out:
	if (rc < 0)
		shelter_err_wrap(err, rc, "platform '%s'", dir);
	free(pem);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}
