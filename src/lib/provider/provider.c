/* Providers (include/shelter/provider.h; docs/formats/quote.md §5, §7): create a
 * provider CA, enrol platforms, revoke them, check the inventory. Every certificate
 * and CRL is recorded in the inventory before it is written or returned. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "provider/internal.h"
#include "shelter/crypto.h"

struct prov {
	X509 *ca;
	EVP_PKEY *key; /* NULL unless loaded with the key */
	char name[PKI_NAME_MAX];
};

static void prov_free(struct prov *p)
{
	X509_free(p->ca);
	EVP_PKEY_free(p->key);
	memset(p, 0, sizeof(*p));
}

static int load_pem(const char *dir, const char *file, char **pem, size_t *size,
		    struct shelter_err *err)
{
	char path[4096];
	int rc = pki_path(path, sizeof(path), dir, file, err);

	if (rc == 0)
		rc = pki_read_file(path, PKI_FILE_MAX, pem, size, err);
	if (rc == SHELTER_E_NOENT && strcmp(file, PROV_CERT_FILE) == 0)
		return shelter_err_set(err, rc, "no provider in '%s' (no " PROV_CERT_FILE "): "
				       "run `shelter provider init`", dir);
	return rc;
}

static int load_key(const char *dir, EVP_PKEY **key, struct shelter_err *err)
{
	char path[4096], *pem = NULL;
	size_t size = 0;
	struct stat st;
	int rc = pki_path(path, sizeof(path), dir, PROV_KEY_FILE, err);

	if (rc == 0)
		rc = pki_read_file(path, PKI_FILE_MAX, &pem, &size, err);
	if (rc == 0 && stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		rc = shelter_err_set(err, SHELTER_E_PERM,
				     "'%s' can be read by other users (chmod 600 it)", path);
	if (rc == 0)
		rc = pki_key_from_pem(pem, size, key, err);
	pki_free_secret_pem(pem, size);
	return rc;
}

/* The provider in dir: its CA certificate and, with with_key, its CA key (which
 * must match the certificate). */
static int prov_load(const char *dir, int with_key, struct prov *p, struct shelter_err *err)
{
	char *pem = NULL;
	size_t size = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	rc = load_pem(dir, PROV_CERT_FILE, &pem, &size, err);
	if (rc == 0)
		rc = pki_cert_from_pem(pem, size, &p->ca, err);
	if (rc == 0)
		rc = pki_check_ca_cert(p->ca, p->name, err);
	if (rc == 0 && with_key)
		rc = load_key(dir, &p->key, err);
	if (rc == 0 && with_key && X509_check_private_key(p->ca, p->key) != 1)
		rc = pki_ossl(err, SHELTER_E_BADKEY, PROV_KEY_FILE " does not match "
			      PROV_CERT_FILE);
	free(pem);
	if (rc < 0) {
		prov_free(p);
		return shelter_err_wrap(err, rc, "provider '%s'", dir);
	}
	return 0;
}

/* dir/crl.pem, which the provider's CA must have signed. */
static int load_crl(const char *dir, const struct prov *p, X509_CRL **crl, uint64_t *number,
		    struct shelter_err *err)
{
	char *pem = NULL;
	size_t size = 0;
	int rc = load_pem(dir, PROV_CRL_FILE, &pem, &size, err);

	*crl = NULL;
	if (rc == 0)
		rc = pki_crl_from_pem(pem, size, crl, err);
	if (rc == 0 && X509_CRL_verify(*crl, X509_get0_pubkey(p->ca)) != 1)
		rc = pki_ossl(err, SHELTER_E_INTEGRITY, "not signed by the provider's CA");
	if (rc == 0)
		rc = pki_crl_number(*crl, number, err);
	free(pem);
	if (rc < 0) {
		X509_CRL_free(*crl);
		*crl = NULL;
		return shelter_err_wrap(err, rc, "provider '%s': " PROV_CRL_FILE, dir);
	}
	return 0;
}

static int write_crl(const char *dir, X509_CRL *crl, struct shelter_err *err)
{
	char *pem = NULL;
	size_t size = 0;
	int rc = pki_crl_to_pem(crl, &pem, &size, err);

	if (rc == 0)
		rc = pki_write_atomic(dir, PROV_CRL_FILE, 0644, pem, size, err);
	free(pem);
	return rc;
}

/* ---- init ---- */

static int refuse_existing(const char *dir, struct shelter_err *err)
{
	static const char *const files[] = { PROV_KEY_FILE, PROV_CERT_FILE, PROV_CRL_FILE,
					     PROV_INVENTORY_FILE };

	return pki_refuse_existing(dir, files, sizeof(files) / sizeof(files[0]), "provider", err);
}

int shelter_provider_init(const char *dir, const char *name, struct shelter_err *err)
{
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;
	X509_CRL *crl = NULL;
	char path[4096], *key_pem = NULL, *ca_pem = NULL;
	size_t key_size = 0, ca_size = 0;
	time_t now = time(NULL);
	int rc;

	if (dir == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "provider init: NULL directory");
	rc = pki_name_check("provider init: provider name", name, err);
	if (rc == 0)
		rc = pki_mkdir(dir, err);
	if (rc == 0)
		rc = refuse_existing(dir, err);
	if (rc == 0)
		rc = pki_keygen(&key, err);
	if (rc == 0)
		rc = prov_issue_ca(key, name, now, &ca, err);
	if (rc == 0)
		rc = prov_issue_crl(ca, key, 1, now, NULL, 0, &crl, err); /* §5.3: number 1 */
	if (rc == 0)
		rc = pki_key_to_pem(key, &key_pem, &key_size, err);
	if (rc == 0)
		rc = pki_cert_to_pem(ca, &ca_pem, &ca_size, err);
	if (rc < 0)
		goto out;
	/* The key first: its presence alone makes a second init refuse the directory. */
	rc = pki_path(path, sizeof(path), dir, PROV_KEY_FILE, err);
	if (rc == 0)
		rc = pki_write_new(path, 0600, key_pem, key_size, err);
	if (rc == 0)
		rc = pki_path(path, sizeof(path), dir, PROV_CERT_FILE, err);
	if (rc == 0)
		rc = pki_write_new(path, 0644, ca_pem, ca_size, err);
	if (rc == 0)
		rc = inv_create(dir, err);
	if (rc == 0)
		rc = write_crl(dir, crl, err);
	if (rc == 0)
		rc = pki_fsync_dir(dir, err);
out:
	if (rc < 0)
		shelter_err_wrap(err, rc, "provider init '%s'", dir);
	pki_free_secret_pem(key_pem, key_size);
	free(ca_pem);
	X509_CRL_free(crl);
	X509_free(ca);
	EVP_PKEY_free(key);
	return rc;
}

/* ---- enrol ---- */

/* The request's key and name, after its self-signature (§5.2). */
static int read_request(const char *csr_pem, size_t size, EVP_PKEY **key, char *name,
			struct shelter_err *err)
{
	X509_REQ *req = NULL;
	int rc = pki_req_from_pem(csr_pem, size, &req, err);

	*key = NULL;
	if (rc < 0)
		return rc;
	if (X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1) {
		rc = pki_ossl(err, SHELTER_E_UNTRUSTED,
			      "request's self-signature does not verify");
		goto out;
	}
	if (!pki_key_is_p256(X509_REQ_get0_pubkey(req))) {
		rc = shelter_err_set(err, SHELTER_E_INVAL, "request's key is not ECDSA P-256");
		goto out;
	}
	rc = pki_subject_cn(X509_REQ_get_subject_name(req), name, err);
	if (rc < 0) {
		rc = pki_rewrap(err, SHELTER_E_INVAL, "request");
		goto out;
	}
	*key = X509_REQ_get_pubkey(req);
	if (*key == NULL)
		rc = pki_ossl(err, SHELTER_E_MALFORMED, "request's key");
out:
	X509_REQ_free(req);
	return rc;
}

/* The provider enrols a key once, and a name once while it is enrolled (§7.3). */
static int refuse_enrolled(const struct inv *inv, const uint8_t key_id[32], const char *name,
			   struct shelter_err *err)
{
	for (size_t i = 0; i < inv->nplatforms; i++) {
		const struct inv_platform *p = &inv->platforms[i];

		if (memcmp(p->key_id, key_id, 32) == 0)
			return shelter_err_set(err, SHELTER_E_EXIST,
					       "this key was already enrolled as '%s' (inventory "
					       "line %llu)%s", p->name,
					       (unsigned long long)p->enroll_line,
					       p->revoke_line ? " and revoked" : "");
		if (p->revoke_line == 0 && strcmp(p->name, name) == 0)
			return shelter_err_set(err, SHELTER_E_EXIST,
					       "a platform named '%s' is already enrolled "
					       "(inventory line %llu): revoke it first", name,
					       (unsigned long long)p->enroll_line);
	}
	return 0;
}

static int cert_chain_pem(X509 *cert, X509 *ca, char **out, struct shelter_err *err)
{
	char *a = NULL, *b = NULL;
	size_t as = 0, bs = 0;
	int rc = pki_cert_to_pem(cert, &a, &as, err);

	*out = NULL;
	if (rc == 0)
		rc = pki_cert_to_pem(ca, &b, &bs, err);
	if (rc == 0) {
		*out = malloc(as + bs + 1);
		if (*out == NULL) {
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
		} else {
			memcpy(*out, a, as);
			memcpy(*out + as, b, bs + 1);
		}
	}
	free(a);
	free(b);
	return rc;
}

int prov_enroll_window(const char *dir, const char *csr_pem, size_t size, time_t not_before,
		       time_t not_after, char **cert_pem, struct shelter_err *err)
{
	struct prov p;
	struct inv inv;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	uint8_t key_id[32], serial[PKI_SERIAL_SIZE];
	char name[PKI_NAME_MAX] = "", serial_hex[PKI_SERIAL_HEX_MAX];
	int rc;

	memset(&inv, 0, sizeof(inv));
	inv.fd = -1;
	if (cert_pem != NULL)
		*cert_pem = NULL;
	if (dir == NULL || csr_pem == NULL || cert_pem == NULL || not_after <= not_before)
		return shelter_err_set(err, SHELTER_E_INVAL, "enrol: bad argument");
	rc = prov_load(dir, 1, &p, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "enrol");
	rc = read_request(csr_pem, size, &key, name, err);
	if (rc < 0) {
		shelter_err_wrap(err, rc, "enrol: request");
		goto out;
	}
	rc = pki_key_id(key, key_id, err);
	if (rc == 0)
		rc = inv_open(dir, 1, &inv, err);
	if (rc == 0)
		rc = refuse_enrolled(&inv, key_id, name, err);
	if (rc == 0)
		rc = prov_issue_platform(p.ca, p.key, key, name, not_before, not_after, &cert,
					 serial, err);
	if (rc < 0)
		goto wrap;
	shelter_hex(serial, sizeof(serial), serial_hex);
	/* §7.2: on record before it exists anywhere else */
	rc = inv_append(&inv, "enroll", name, serial_hex, key_id, "", time(NULL), err);
	if (rc == 0)
		rc = cert_chain_pem(cert, p.ca, cert_pem, err);
	if (rc == 0)
		goto out;
wrap:
	shelter_err_wrap(err, rc, "enrol '%s' with provider '%s'", name, p.name);
out:
	inv_close(&inv);
	X509_free(cert);
	EVP_PKEY_free(key);
	prov_free(&p);
	return rc;
}

int shelter_provider_enroll(const char *dir, const char *csr_pem, size_t size, unsigned days,
			    char **cert_pem, struct shelter_err *err)
{
	time_t now = time(NULL);

	if (cert_pem != NULL)
		*cert_pem = NULL;
	if (days == 0)
		days = PROV_PLATFORM_DAYS;
	if (days > PROV_DAYS_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "enrol: validity of %u days (at "
				       "most %d)", days, PROV_DAYS_MAX);
	return prov_enroll_window(dir, csr_pem, size, now - PROV_BACKDATE,
				  now + (time_t)days * 86400, cert_pem, err);
}

/* ---- revoke ---- */

static int serial_in_crl(X509_CRL *crl, const char *serial_hex)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial = NULL;
	X509_REVOKED *rev = NULL;
	int found = 0;

	if (BN_hex2bn(&bn, serial_hex) > 0 && (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL)
		found = X509_CRL_get0_by_serial(crl, &rev, serial) == 1;
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	ERR_clear_error();
	return found;
}

/* §5.3: a CRL of every revocation the inventory records. */
static int reissue_crl(const char *dir, const struct prov *p, const struct inv *inv,
		       uint64_t number, struct shelter_err *err)
{
	struct prov_revoked *list = calloc(inv->nplatforms + 1, sizeof(*list));
	X509_CRL *crl = NULL;
	size_t count = 0;
	int rc = 0;

	if (list == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "CRL: out of memory");
	for (size_t i = 0; i < inv->nplatforms; i++) {
		const struct inv_platform *q = &inv->platforms[i];

		if (q->revoke_line == 0)
			continue;
		list[count].serial_hex = q->serial;
		if (inv_parse_time(q->revoked, &list[count].when) < 0)
			list[count].when = time(NULL);
		count++;
	}
	rc = prov_issue_crl(p->ca, p->key, number, time(NULL), list, count, &crl, err);
	if (rc == 0)
		rc = write_crl(dir, crl, err);
	X509_CRL_free(crl);
	free(list);
	return rc;
}

int shelter_provider_revoke(const char *dir, const char *platform, const char *reason,
			    struct shelter_err *err)
{
	struct prov p;
	struct inv inv;
	struct inv_platform *target = NULL;
	X509_CRL *crl = NULL;
	uint64_t number = 0;
	int rc;

	memset(&inv, 0, sizeof(inv));
	inv.fd = -1;
	if (dir == NULL || platform == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "revoke: NULL argument");
	if (reason == NULL)
		reason = "";
	rc = prov_load(dir, 1, &p, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "revoke");
	rc = inv_open(dir, 1, &inv, err);
	if (rc == 0)
		rc = load_crl(dir, &p, &crl, &number, err);
	if (rc == 0)
		rc = inv_find(&inv, platform, &target, err);
	if (rc == 0 && target == NULL)
		rc = shelter_err_set(err, SHELTER_E_NOENT,
				     "no platform named '%.80s' or with that serial or key id "
				     "in the inventory", platform);
	if (rc < 0)
		goto wrap;
	if (target->revoke_line != 0 && serial_in_crl(crl, target->serial)) {
		rc = shelter_err_set(err, SHELTER_E_EXIST,
				     "platform '%s' (serial %s) is already revoked (inventory "
				     "line %llu)", target->name, target->serial,
				     (unsigned long long)target->revoke_line);
		goto wrap;
	}
	/* A revocation on record but missing from the CRL is the trace of a crash
	 * between the two writes (§7.2): issue the CRL again, add no line. */
	if (target->revoke_line == 0)
		rc = inv_append(&inv, "revoke", target->name, target->serial, target->key_id,
				reason, time(NULL), err);
	if (rc == 0 && number >= INT64_MAX)
		rc = shelter_err_set(err, SHELTER_E_INVAL, "CRL number exhausted");
	if (rc == 0)
		rc = reissue_crl(dir, &p, &inv, number + 1, err);
	if (rc == 0)
		goto out;
wrap:
	shelter_err_wrap(err, rc, "revoke '%.80s' at provider '%s'", platform, p.name);
out:
	X509_CRL_free(crl);
	inv_close(&inv);
	prov_free(&p);
	return rc;
}

/* ---- verify, list ---- */

/* §7.3 rule 6: crl.pem revokes exactly the revoked platforms of the inventory. */
static int crl_matches(const struct inv *inv, X509_CRL *crl, struct shelter_err *err)
{
	STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED(crl);
	int listed = revoked != NULL ? sk_X509_REVOKED_num(revoked) : 0, recorded = 0;

	for (size_t i = 0; i < inv->nplatforms; i++) {
		const struct inv_platform *q = &inv->platforms[i];

		if (q->revoke_line == 0)
			continue;
		recorded++;
		if (!serial_in_crl(crl, q->serial))
			return shelter_err_set(err, SHELTER_E_INTEGRITY,
					       "inventory line %llu revokes '%s' (serial %s) but "
					       PROV_CRL_FILE " does not (a crash between the two? "
					       "run `shelter provider revoke` on it again)",
					       (unsigned long long)q->revoke_line, q->name, q->serial);
	}
	for (int i = 0; i < listed; i++) {
		char hex[PKI_SERIAL_HEX_MAX];
		const struct inv_platform *q = NULL;

		pki_serial_hex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i)),
			       hex);
		for (size_t j = 0; j < inv->nplatforms && q == NULL; j++) {
			if (strcmp(inv->platforms[j].serial, hex) == 0 &&
			    inv->platforms[j].revoke_line != 0)
				q = &inv->platforms[j];
		}
		if (q == NULL)
			return shelter_err_set(err, SHELTER_E_INTEGRITY,
					       PROV_CRL_FILE " revokes serial %s, which the "
					       "inventory does not record as revoked", hex);
	}
	if (listed != recorded)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       PROV_CRL_FILE " lists %d revocations, the inventory %d",
				       listed, recorded);
	return 0;
}

int shelter_provider_verify_inventory(const char *dir, uint64_t *entries,
				      struct shelter_err *err)
{
	struct prov p;
	struct inv inv;
	X509_CRL *crl = NULL;
	uint64_t number = 0;
	int rc;

	memset(&inv, 0, sizeof(inv));
	inv.fd = -1;
	if (entries != NULL)
		*entries = 0;
	if (dir == NULL || entries == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "verify inventory: NULL argument");
	rc = prov_load(dir, 0, &p, err);
	if (rc == 0)
		rc = inv_open(dir, 0, &inv, err);
	if (rc == 0)
		rc = load_crl(dir, &p, &crl, &number, err);
	if (rc == 0)
		rc = crl_matches(&inv, crl, err);
	if (rc == 0)
		*entries = inv.count;
	else
		shelter_err_wrap(err, rc, "verify inventory of '%s'", dir);
	X509_CRL_free(crl);
	inv_close(&inv);
	prov_free(&p);
	return rc;
}

int shelter_provider_list(const char *dir, struct shelter_provider_platform **out,
			  size_t *count, struct shelter_err *err)
{
	struct shelter_provider_platform *list = NULL;
	struct inv inv;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (count != NULL)
		*count = 0;
	if (dir == NULL || out == NULL || count == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "list platforms: NULL argument");
	rc = inv_open(dir, 0, &inv, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "list platforms of '%s'", dir);
	if (inv.nplatforms > 0) {
		list = calloc(inv.nplatforms, sizeof(*list));
		if (list == NULL) {
			inv_close(&inv);
			return shelter_err_set(err, SHELTER_E_NOMEM, "list platforms: out of memory");
		}
	}
	for (size_t i = 0; i < inv.nplatforms; i++) {
		const struct inv_platform *q = &inv.platforms[i];

		memcpy(list[i].name, q->name, sizeof(list[i].name));
		memcpy(list[i].serial, q->serial, sizeof(list[i].serial));
		memcpy(list[i].key_id, q->key_id, sizeof(list[i].key_id));
		memcpy(list[i].enrolled, q->enrolled, sizeof(list[i].enrolled));
		memcpy(list[i].revoked, q->revoked, sizeof(list[i].revoked));
		memcpy(list[i].reason, q->reason, sizeof(list[i].reason));
	}
	*out = list;
	*count = inv.nplatforms;
	inv_close(&inv);
	return 0;
}
