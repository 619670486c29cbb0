/* Unit tests for providers and platforms (include/shelter/provider.h,
 * docs/formats/quote.md §5, §7): names, directory layouts and modes, enrolment
 * refusals (names and keys already enrolled, bad requests), certificate
 * installation, revocation by name, serial and key id with CRL numbers, the
 * inventory's hash chain against edits, deletions, cuts and reordering (each
 * reported with its line), the CRL cross-check and its crash repair. Negative
 * cases first in each group (STYLE.md rule 16). */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "provider/internal.h"
#include "shelter/crypto.h"
#include "shelter/provider.h"
#include "tee/pki.h"
#include "../files.h"
#include "../test.h"

static char root[256];
static int dir_seq;

/* ---- fixture ---- */

static void new_dir(char *out, size_t size, const char *what)
{
	char name[64];

	snprintf(name, sizeof(name), "%.20s-%d", what, ++dir_seq);
	test_join(out, size, root, name);
}

static int spit_in(const char *dir, const char *file, const void *data, size_t size)
{
	char path[512];
	FILE *f;
	int ok;

	test_join(path, sizeof(path), dir, file);
	f = fopen(path, "wb");
	ok = f != NULL && fwrite(data, 1, size, f) == size;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

static mode_t mode_of(const char *dir, const char *file)
{
	char path[512];
	struct stat st;

	if (file != NULL)
		test_join(path, sizeof(path), dir, file);
	else
		snprintf(path, sizeof(path), "%s", dir);
	return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

/* A platform in plat (not enrolled); its request in *csr (caller frees). */
static int new_platform(char *plat, size_t size, const char *name, char **csr)
{
	new_dir(plat, size, "plat");
	return shelter_platform_init(plat, name, csr, NULL);
}

/* A platform enrolled by prov and installed. */
static int enrolled_platform(const char *prov, char *plat, size_t size, const char *name)
{
	char *csr = NULL, *cert = NULL;
	int rc = new_platform(plat, size, name, &csr);

	if (rc == 0)
		rc = shelter_provider_enroll(prov, csr, strlen(csr), 0, &cert, NULL);
	if (rc == 0)
		rc = shelter_platform_install_cert(plat, cert, strlen(cert), NULL);
	free(csr);
	free(cert);
	return rc;
}

static int new_provider(char *prov, size_t size, const char *name)
{
	new_dir(prov, size, "prov");
	return shelter_provider_init(prov, name, NULL);
}

static int crl_number_of(const char *prov, uint64_t *number)
{
	size_t size = 0;
	char *pem = test_slurp_in(prov, "crl.pem", &size);
	X509_CRL *crl = NULL;
	int rc = pem != NULL ? pki_crl_from_pem(pem, size, &crl, NULL) : -1;

	if (rc == 0)
		rc = pki_crl_number(crl, number, NULL);
	X509_CRL_free(crl);
	free(pem);
	return rc;
}

/* A provider with platforms a, b, c enrolled and b revoked: 4 inventory lines. */
static int four_lines(char *prov, size_t size)
{
	char plat[256];
	int rc = new_provider(prov, size, "acme");

	if (rc == 0)
		rc = enrolled_platform(prov, plat, sizeof(plat), "a");
	if (rc == 0)
		rc = enrolled_platform(prov, plat, sizeof(plat), "b");
	if (rc == 0)
		rc = enrolled_platform(prov, plat, sizeof(plat), "c");
	if (rc == 0)
		rc = shelter_provider_revoke(prov, "b", "decommissioned", NULL);
	return rc;
}

/* The inventory's lines, split in place (at most 16). */
static size_t lines_of(char *text, char *lines[16])
{
	size_t n = 0;

	for (char *p = text; *p != '\0' && n < 16;) {
		char *nl = strchr(p, '\n');

		lines[n++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return n;
}

/* Write lines[order[0]], lines[order[1]], ... (-1 ends) as the inventory. */
static int rewrite(const char *prov, char *lines[16], const int *order)
{
	char buf[16384];
	size_t used = 0;

	for (int i = 0; order[i] >= 0; i++) {
		size_t n = strlen(lines[order[i]]);

		if (used + n + 1 > sizeof(buf))
			return -1;
		memcpy(buf + used, lines[order[i]], n);
		buf[used + n] = '\n';
		used += n + 1;
	}
	return spit_in(prov, "inventory.log", buf, used);
}

/* ---- names ---- */

static void names_refused(void)
{
	static const char *const bad[] = { "", "has space", "slash/name", "caf\xc3\xa9", "tab\t",
					   "x:y", "a*" };
	char dir[256], *csr = NULL, long_name[80];
	struct shelter_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		new_dir(dir, sizeof(dir), "names");
		CHECK_RC(shelter_provider_init(dir, bad[i], &err), SHELTER_E_INVAL);
		CHECK(strstr(err.msg, "A-Z a-z 0-9 . _ -") != NULL);
		CHECK_RC(shelter_platform_init(dir, bad[i], &csr, &err), SHELTER_E_INVAL);
		CHECK(csr == NULL);
	}
	CHECK_RC(shelter_provider_init(dir, NULL, &err), SHELTER_E_INVAL);
	memset(long_name, 'n', 64);
	long_name[64] = '\0';
	CHECK_RC(shelter_platform_init(dir, long_name, &csr, &err), SHELTER_E_INVAL);
	long_name[63] = '\0'; /* 63 characters: the longest name */
	CHECK_OK(shelter_platform_init(dir, long_name, &csr, &err));
	free(csr);
	CHECK_RC(pki_name_check("x", "ok.name_1-2", NULL), 0);
}

/* ---- directories ---- */

static void provider_init_layout_and_refusal(void)
{
	char prov[256];
	struct shelter_err err;
	uint64_t number = 0, entries = 9;
	size_t size = 0;
	char *inv;

	CHECK_OK(new_provider(prov, sizeof(prov), "acme"));
	CHECK(mode_of(prov, NULL) == 0700);
	CHECK(mode_of(prov, "ca.key") == 0600);
	CHECK(mode_of(prov, "ca.crt") == 0644);
	CHECK_OK(crl_number_of(prov, &number));
	CHECK(number == 1);
	inv = test_slurp_in(prov, "inventory.log", &size);
	CHECK(inv != NULL && size == 0);
	free(inv);
	CHECK_OK(shelter_provider_verify_inventory(prov, &entries, NULL));
	CHECK(entries == 0);
	CHECK_RC(shelter_provider_init(prov, "acme", &err), SHELTER_E_EXIST);
	CHECK(strstr(err.msg, "already holds a provider") != NULL);
}

static void platform_init_layout_and_refusal(void)
{
	char dir[256], parent[256], *csr = NULL, *again = NULL, *file;
	struct shelter_platform_info info;
	struct shelter_err err;
	size_t size = 0;

	/* missing parents are made, private */
	new_dir(parent, sizeof(parent), "parent");
	test_join(dir, sizeof(dir), parent, "deeper/platform");
	CHECK_OK(shelter_platform_init(dir, "node-1", &csr, NULL));
	CHECK(mode_of(parent, NULL) == 0700);
	CHECK(mode_of(dir, NULL) == 0700);
	CHECK(mode_of(dir, "attestation.key") == 0600);
	CHECK(mode_of(dir, "seal.secret") == 0600);
	file = test_slurp_in(dir, "seal.secret", &size);
	CHECK(file != NULL && size == 32);
	free(file);
	file = test_slurp_in(dir, "platform.csr", &size);
	CHECK(file != NULL && strcmp(file, csr) == 0);
	free(file);
	file = test_slurp_in(dir, "name", &size);
	CHECK(file != NULL && strcmp(file, "node-1\n") == 0);
	free(file);
	CHECK_OK(shelter_platform_info(dir, &info, NULL));
	CHECK(strcmp(info.name, "node-1") == 0 && info.enrolled == 0 && info.serial[0] == '\0');
	CHECK_RC(shelter_platform_init(dir, "node-2", &again, &err), SHELTER_E_EXIST);
	CHECK(again == NULL);
	CHECK(strstr(err.msg, "already holds a platform") != NULL);
	free(csr);
}

static void default_dir_from_environment(void)
{
	char buf[512], small[8];
	const char *saved = getenv("SHELTER_PLATFORM_DIR");

	CHECK(setenv("SHELTER_PLATFORM_DIR", "/somewhere/plat", 1) == 0);
	CHECK_OK(shelter_platform_default_dir(buf, sizeof(buf), NULL));
	CHECK(strcmp(buf, "/somewhere/plat") == 0);
	CHECK_RC(shelter_platform_default_dir(small, sizeof(small), NULL), SHELTER_E_NAMETOOLONG);
	CHECK(unsetenv("SHELTER_PLATFORM_DIR") == 0);
	CHECK_OK(shelter_platform_default_dir(buf, sizeof(buf), NULL));
	if (geteuid() == 0)
		CHECK(strcmp(buf, "/var/lib/shelter/platform") == 0);
	else
		CHECK(strstr(buf, "/shelter/platform") != NULL);
	if (saved != NULL)
		CHECK(setenv("SHELTER_PLATFORM_DIR", saved, 1) == 0);
}

/* ---- enrolment ---- */

static void enroll_refuses_bad_requests(void)
{
	char prov[256], plat[256], *csr = NULL, *cert = NULL, *bad;
	struct shelter_err err;
	EVP_PKEY *k1 = NULL, *k2 = NULL;
	X509_REQ *req = X509_REQ_new();
	size_t size = 0;

	CHECK_OK(new_provider(prov, sizeof(prov), "acme"));
	CHECK_RC(shelter_provider_enroll(prov, "junk", 4, 0, &cert, &err), SHELTER_E_MALFORMED);
	CHECK(cert == NULL);
	CHECK_OK(new_platform(plat, sizeof(plat), "node-1", &csr));
	CHECK_RC(shelter_provider_enroll(prov, csr, strlen(csr), 36501, &cert, &err),
		 SHELTER_E_INVAL);
	/* a request whose signature is not by the key it carries */
	CHECK_OK(pki_keygen(&k1, NULL));
	CHECK_OK(pki_keygen(&k2, NULL));
	CHECK(req != NULL);
	X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req), NID_commonName, MBSTRING_UTF8,
				   (const unsigned char *)"forged", -1, -1, 0);
	CHECK(X509_REQ_set_pubkey(req, k1) == 1);
	CHECK(X509_REQ_sign(req, k2, EVP_sha256()) > 0);
	CHECK_OK(pki_req_to_pem(req, &bad, &size, NULL));
	CHECK_RC(shelter_provider_enroll(prov, bad, size, 0, &cert, &err), SHELTER_E_UNTRUSTED);
	CHECK(strstr(err.msg, "self-signature") != NULL);
	free(bad);
	/* a request without a valid CN */
	X509_NAME_ENTRY_free(X509_NAME_delete_entry(X509_REQ_get_subject_name(req), 0));
	X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req), NID_commonName, MBSTRING_UTF8,
				   (const unsigned char *)"bad name", -1, -1, 0);
	CHECK(X509_REQ_sign(req, k1, EVP_sha256()) > 0);
	CHECK_OK(pki_req_to_pem(req, &bad, &size, NULL));
	CHECK_RC(shelter_provider_enroll(prov, bad, size, 0, &cert, &err), SHELTER_E_INVAL);
	free(bad);
	/* a platform is not a provider */
	CHECK_RC(shelter_provider_enroll(plat, csr, strlen(csr), 0, &cert, &err), SHELTER_E_NOENT);
	CHECK(strstr(err.msg, "shelter provider init") != NULL);
	free(csr);
	X509_REQ_free(req);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void enroll_refuses_enrolled_name_and_key(void)
{
	char prov[256], p1[256], p2[256], p3[256], *csr1 = NULL, *csr2 = NULL, *csr3 = NULL;
	char *cert = NULL;
	struct shelter_err err;
	uint64_t entries = 0;

	CHECK_OK(new_provider(prov, sizeof(prov), "acme"));
	CHECK_OK(new_platform(p1, sizeof(p1), "node-1", &csr1));
	CHECK_OK(new_platform(p2, sizeof(p2), "node-1", &csr2)); /* same name, other key */
	CHECK_OK(shelter_provider_enroll(prov, csr1, strlen(csr1), 0, &cert, NULL));
	free(cert);
	cert = NULL;
	CHECK_RC(shelter_provider_enroll(prov, csr1, strlen(csr1), 0, &cert, &err), SHELTER_E_EXIST);
	CHECK(strstr(err.msg, "already enrolled as 'node-1' (inventory line 1)") != NULL);
	CHECK_RC(shelter_provider_enroll(prov, csr2, strlen(csr2), 0, &cert, &err), SHELTER_E_EXIST);
	CHECK(strstr(err.msg, "a platform named 'node-1' is already enrolled") != NULL);
	CHECK(cert == NULL);
	/* once revoked, the name may return with a new key, the old key never */
	CHECK_OK(shelter_provider_revoke(prov, "node-1", "replaced", NULL));
	CHECK_RC(shelter_provider_enroll(prov, csr1, strlen(csr1), 0, &cert, &err), SHELTER_E_EXIST);
	CHECK(strstr(err.msg, "and revoked") != NULL);
	CHECK_OK(shelter_provider_enroll(prov, csr2, strlen(csr2), 0, &cert, NULL));
	free(cert);
	cert = NULL;
	CHECK_OK(new_platform(p3, sizeof(p3), "node-1", &csr3));
	CHECK_RC(shelter_provider_enroll(prov, csr3, strlen(csr3), 0, &cert, &err), SHELTER_E_EXIST);
	CHECK_OK(shelter_provider_verify_inventory(prov, &entries, NULL));
	CHECK(entries == 3);
	free(csr1);
	free(csr2);
	free(csr3);
}

/* The returned certificate is what the inventory records (§7.2). */
static void enroll_records_before_returning(void)
{
	char prov[256], plat[256], *csr = NULL, *cert = NULL, *ca = NULL, serial[41], key[65];
	struct shelter_provider_platform *list = NULL;
	struct shelter_platform_info info;
	X509 *c = NULL, *ca_cert = NULL;
	size_t count = 0, ca_size = 0;

	CHECK_OK(new_provider(prov, sizeof(prov), "acme"));
	CHECK_OK(new_platform(plat, sizeof(plat), "node-7", &csr));
	CHECK_OK(shelter_provider_enroll(prov, csr, strlen(csr), 30, &cert, NULL));
	CHECK_OK(pki_cert_from_pem(cert, strlen(cert), &c, NULL));
	CHECK_OK(pki_check_platform_cert(c, NULL, NULL));
	pki_serial_hex(X509_get0_serialNumber(c), serial);
	CHECK_OK(shelter_provider_list(prov, &list, &count, NULL));
	CHECK(count == 1);
	CHECK(strcmp(list[0].name, "node-7") == 0 && strcmp(list[0].serial, serial) == 0);
	CHECK(list[0].revoked[0] == '\0' && list[0].reason[0] == '\0');
	CHECK_OK(shelter_platform_info(plat, &info, NULL));
	CHECK_MEM(list[0].key_id, info.key_id, 32);
	shelter_hex(info.key_id, 32, key);
	/* 30 days, give or take the hour of backdating (§5.2) */
	CHECK(X509_cmp_time(X509_get0_notAfter(c), NULL) > 0);
	CHECK(strstr(cert, "-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----") != NULL);
	ca = test_slurp_in(prov, "ca.crt", &ca_size);
	CHECK(ca != NULL && strstr(cert, ca) != NULL); /* the CA follows the certificate */
	CHECK_OK(pki_cert_from_pem(ca, ca_size, &ca_cert, NULL));
	CHECK(X509_verify(c, X509_get0_pubkey(ca_cert)) == 1);
	free(list);
	free(ca);
	free(csr);
	free(cert);
	X509_free(c);
	X509_free(ca_cert);
}

/* ---- installing the certificate ---- */

static void install_cert_refusals(void)
{
	char prov[256], other_prov[256], a[256], b[256], *csr_a = NULL, *csr_b = NULL;
	char *cert_a = NULL, *cert_b = NULL, *ca_other = NULL, *mixed = NULL;
	struct shelter_platform_info info;
	struct shelter_err err;
	size_t n = 0;

	CHECK_OK(new_provider(prov, sizeof(prov), "acme"));
	CHECK_OK(new_provider(other_prov, sizeof(other_prov), "globex"));
	CHECK_OK(new_platform(a, sizeof(a), "node-a", &csr_a));
	CHECK_OK(new_platform(b, sizeof(b), "node-b", &csr_b));
	CHECK_OK(shelter_provider_enroll(prov, csr_a, strlen(csr_a), 0, &cert_a, NULL));
	CHECK_OK(shelter_provider_enroll(prov, csr_b, strlen(csr_b), 0, &cert_b, NULL));
	CHECK_RC(shelter_platform_install_cert(a, "junk", 4, &err), SHELTER_E_MALFORMED);
	/* a certificate for another platform's key */
	CHECK_RC(shelter_platform_install_cert(a, cert_b, strlen(cert_b), &err), SHELTER_E_BADKEY);
	CHECK(strstr(err.msg, "the certificate is for key") != NULL);
	/* the right certificate with the wrong provider behind it */
	ca_other = test_slurp_in(other_prov, "ca.crt", &n);
	CHECK(ca_other != NULL);
	mixed = malloc(strlen(cert_a) + n + 1);
	CHECK(mixed != NULL);
	memcpy(mixed, cert_a, strstr(cert_a, "-----END CERTIFICATE-----\n") - cert_a + 26);
	strcpy(mixed + (strstr(cert_a, "-----END CERTIFICATE-----\n") - cert_a + 26), ca_other);
	CHECK_RC(shelter_platform_install_cert(a, mixed, strlen(mixed), &err), SHELTER_E_UNTRUSTED);
	CHECK(strstr(err.msg, "not issued by the enclosed certificate of provider 'globex'") !=
	      NULL);
	/* the provider CA as "platform certificate" */
	CHECK_RC(shelter_platform_install_cert(a, ca_other, n, &err), SHELTER_E_UNTRUSTED);
	CHECK_OK(shelter_platform_info(a, &info, NULL));
	CHECK(info.enrolled == 0);
	/* and the right one */
	CHECK_OK(shelter_platform_install_cert(a, cert_a, strlen(cert_a), NULL));
	CHECK_OK(shelter_platform_info(a, &info, NULL));
	CHECK(info.enrolled == 1 && strcmp(info.provider, "acme") == 0);
	CHECK(info.not_after > info.not_before && strlen(info.serial) == 32);
	CHECK(mode_of(a, "provider.crt") == 0644);
	/* installing again (a renewal) replaces it */
	CHECK_OK(shelter_platform_install_cert(a, cert_a, strlen(cert_a), NULL));
	free(csr_a);
	free(csr_b);
	free(cert_a);
	free(cert_b);
	free(ca_other);
	free(mixed);
}

/* ---- revocation ---- */

static void revoke_by_name_serial_key(void)
{
	char prov[256], p1[256], p2[256], p3[256], serial_upper[41], key[65];
	struct shelter_provider_platform *list = NULL;
	struct shelter_platform_info i2, i3;
	struct shelter_err err;
	uint64_t number = 0, entries = 0;
	size_t count = 0;

	CHECK_OK(new_provider(prov, sizeof(prov), "acme"));
	CHECK_OK(enrolled_platform(prov, p1, sizeof(p1), "n1"));
	CHECK_OK(enrolled_platform(prov, p2, sizeof(p2), "n2"));
	CHECK_OK(enrolled_platform(prov, p3, sizeof(p3), "n3"));
	CHECK_OK(shelter_platform_info(p2, &i2, NULL));
	CHECK_OK(shelter_platform_info(p3, &i3, NULL));
	CHECK_RC(shelter_provider_revoke(prov, "nobody", NULL, &err), SHELTER_E_NOENT);
	CHECK(strstr(err.msg, "no platform named 'nobody'") != NULL);
	CHECK_RC(shelter_provider_revoke(prov, "n1", "bad\x01reason", &err), SHELTER_E_INVAL);
	CHECK_OK(crl_number_of(prov, &number));
	CHECK(number == 1); /* nothing happened */
	CHECK_OK(shelter_provider_revoke(prov, "n1", NULL, NULL));
	CHECK_OK(crl_number_of(prov, &number));
	CHECK(number == 2);
	for (size_t i = 0; i <= strlen(i2.serial); i++)
		serial_upper[i] = (char)(i2.serial[i] >= 'a' ? i2.serial[i] - 32 : i2.serial[i]);
	CHECK_OK(shelter_provider_revoke(prov, serial_upper, "by serial", NULL));
	shelter_hex(i3.key_id, 32, key);
	CHECK_OK(shelter_provider_revoke(prov, key, "by key id, \"quoted\"", NULL));
	CHECK_OK(crl_number_of(prov, &number));
	CHECK(number == 4);
	CHECK_RC(shelter_provider_revoke(prov, "n2", NULL, &err), SHELTER_E_EXIST);
	CHECK(strstr(err.msg, "already revoked (inventory line 5)") != NULL);
	CHECK_OK(shelter_provider_list(prov, &list, &count, NULL));
	CHECK(count == 3);
	CHECK(list[0].revoked[0] != '\0' && strcmp(list[1].reason, "by serial") == 0);
	CHECK(strcmp(list[2].reason, "by key id, \"quoted\"") == 0);
	free(list);
	CHECK_OK(shelter_provider_verify_inventory(prov, &entries, NULL));
	CHECK(entries == 6);
}

/* A crash between the inventory line and the CRL (§7.2): verify names the line,
 * revoking again issues the CRL without a second line. */
static void revoke_repairs_a_crl_lost_in_a_crash(void)
{
	char prov[256], plat[256], *old = NULL;
	struct shelter_err err;
	uint64_t entries = 0, number = 0;
	size_t size = 0;

	CHECK_OK(new_provider(prov, sizeof(prov), "acme"));
	CHECK_OK(enrolled_platform(prov, plat, sizeof(plat), "n1"));
	old = test_slurp_in(prov, "crl.pem", &size);
	CHECK(old != NULL);
	CHECK_OK(shelter_provider_revoke(prov, "n1", "lost", NULL));
	CHECK_OK(spit_in(prov, "crl.pem", old, size)); /* the CRL write "did not happen" */
	CHECK_RC(shelter_provider_verify_inventory(prov, &entries, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "inventory line 2 revokes 'n1'") != NULL);
	CHECK(strstr(err.msg, "crl.pem does not") != NULL);
	CHECK_OK(shelter_provider_revoke(prov, "n1", "again", NULL));
	CHECK_OK(shelter_provider_verify_inventory(prov, &entries, NULL));
	CHECK(entries == 2);
	CHECK_OK(crl_number_of(prov, &number));
	CHECK(number == 2);
	free(old);
}

/* ---- the inventory chain (§7.3) ---- */

static void inventory_edit_detected(void)
{
	char prov[256], *text = NULL, *lines[16], *edited, spaced[1024];
	static const int all[] = { 0, 1, 2, 3, -1 };
	struct shelter_err err;
	uint64_t entries = 0;
	size_t size = 0;

	CHECK_OK(four_lines(prov, sizeof(prov)));
	text = test_slurp_in(prov, "inventory.log", &size);
	CHECK(text != NULL);
	CHECK(lines_of(text, lines) == 4);
	/* rename platform "a" to "z" in line 1: valid JSON, broken chain at line 2 */
	edited = strstr(lines[0], "\"platform\":\"a\"");
	CHECK(edited != NULL);
	edited[12] = 'z';
	CHECK_OK(rewrite(prov, lines, all));
	CHECK_RC(shelter_provider_verify_inventory(prov, &entries, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "inventory line 2: prev does not match the hash of line 1") != NULL);
	CHECK(entries == 0);
	/* enrolment and revocation refuse to write after a broken chain */
	CHECK_RC(shelter_provider_revoke(prov, "c", NULL, &err), SHELTER_E_INTEGRITY);
	edited[12] = 'a';
	CHECK_OK(rewrite(prov, lines, all));
	CHECK_OK(shelter_provider_verify_inventory(prov, &entries, NULL));
	/* line 4 with the same content spelled differently: JSON, not canonical */
	edited = strstr(lines[3], "\"reason\":");
	CHECK(edited != NULL);
	snprintf(spaced, sizeof(spaced), "%.*s \"reason\": %s", (int)(edited - lines[3]),
		 lines[3], edited + 9);
	lines[3] = spaced;
	CHECK_OK(rewrite(prov, lines, all));
	CHECK_RC(shelter_provider_verify_inventory(prov, &entries, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "inventory line 4: not in canonical form") != NULL);
	free(text);
}

static void inventory_deletion_and_reorder_detected(void)
{
	char prov[256], *text = NULL, *lines[16];
	static const int drop_second[] = { 0, 2, 3, -1 };
	static const int drop_first[] = { 1, 2, 3, -1 };
	static const int swapped[] = { 0, 2, 1, 3, -1 };
	static const int drop_last[] = { 0, 1, 2, -1 };
	static const int all[] = { 0, 1, 2, 3, -1 };
	struct shelter_err err;
	uint64_t entries = 0;
	size_t size = 0;

	CHECK_OK(four_lines(prov, sizeof(prov)));
	text = test_slurp_in(prov, "inventory.log", &size);
	CHECK(text != NULL);
	CHECK(lines_of(text, lines) == 4);
	CHECK_OK(rewrite(prov, lines, drop_second));
	CHECK_RC(shelter_provider_verify_inventory(prov, &entries, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "inventory line 2: prev does not match the hash of line 1") != NULL);
	CHECK_OK(rewrite(prov, lines, drop_first));
	CHECK_RC(shelter_provider_verify_inventory(prov, &entries, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "inventory line 1: prev is not 64 zeros") != NULL);
	CHECK_OK(rewrite(prov, lines, swapped));
	CHECK_RC(shelter_provider_verify_inventory(prov, &entries, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "inventory line 2:") != NULL);
	/* the last line (the revocation of b) removed: the chain cannot tell, the CRL can */
	CHECK_OK(rewrite(prov, lines, drop_last));
	CHECK_RC(shelter_provider_verify_inventory(prov, &entries, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "crl.pem revokes serial") != NULL);
	CHECK_OK(rewrite(prov, lines, all));
	CHECK_OK(shelter_provider_verify_inventory(prov, &entries, NULL));
	CHECK(entries == 4);
	free(text);
}

static void inventory_cut_detected(void)
{
	char prov[256], *text = NULL;
	struct shelter_err err;
	uint64_t entries = 0;
	size_t size = 0;

	CHECK_OK(four_lines(prov, sizeof(prov)));
	text = test_slurp_in(prov, "inventory.log", &size);
	CHECK(text != NULL && size > 10);
	CHECK_OK(spit_in(prov, "inventory.log", text, size - 10)); /* a torn last append */
	CHECK_RC(shelter_provider_verify_inventory(prov, &entries, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "inventory line 4: cut short") != NULL);
	CHECK_OK(spit_in(prov, "inventory.log", "\n", 1));
	CHECK_RC(shelter_provider_verify_inventory(prov, &entries, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "inventory line 1: empty") != NULL);
	CHECK_OK(spit_in(prov, "inventory.log", "{\"seq\":1}\n", 10));
	CHECK_RC(shelter_provider_verify_inventory(prov, &entries, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "inventory line 1: not an inventory entry") != NULL);
	free(text);
}

/* A line that chains correctly but breaks a rule: a revocation of a platform that
 * was never enrolled (recomputed hashes, as someone with the file would do). */
static void inventory_rules_checked(void)
{
	char prov[256], plat[256], line[1024], prev[65], *text = NULL;
	uint8_t head[32];
	struct shelter_err err;
	uint64_t entries = 0;
	size_t size = 0;

	CHECK_OK(new_provider(prov, sizeof(prov), "acme"));
	CHECK_OK(enrolled_platform(prov, plat, sizeof(plat), "n1"));
	text = test_slurp_in(prov, "inventory.log", &size);
	CHECK(text != NULL && size > 1);
	CHECK_OK(shelter_sha256(text, size - 1, head, NULL));
	shelter_hex(head, 32, prev);
	snprintf(line, sizeof(line),
		 "%s{\"seq\":2,\"time\":\"2030-01-01T00:00:00Z\",\"event\":\"revoke\","
		 "\"platform\":\"ghost\",\"serial\":\"40000000000000000000000000000001\","
		 "\"key_id\":\"%064d\",\"reason\":\"\",\"prev\":\"%s\"}\n", text, 0, prev);
	CHECK_OK(spit_in(prov, "inventory.log", line, strlen(line)));
	CHECK_RC(shelter_provider_verify_inventory(prov, &entries, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "inventory line 2: revokes a platform no enrolment records") !=
	      NULL);
	free(text);
}

static void list_and_verify_need_a_provider(void)
{
	char dir[256];
	struct shelter_provider_platform *list = (void *)dir;
	struct shelter_err err;
	uint64_t entries = 1;
	size_t count = 1;

	new_dir(dir, sizeof(dir), "none");
	CHECK_RC(shelter_provider_list(dir, &list, &count, &err), SHELTER_E_NOENT);
	CHECK(list == NULL && count == 0);
	CHECK_RC(shelter_provider_verify_inventory(dir, &entries, &err), SHELTER_E_NOENT);
	CHECK(entries == 0);
	CHECK_RC(shelter_provider_revoke(dir, "x", NULL, &err), SHELTER_E_NOENT);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	test_binary = "test_provider";
	test_join(root, sizeof(root), tmp ? tmp : "/tmp", "shelter-test-provider-XXXXXX");
	if (mkdtemp(root) == NULL)
		return perror("mkdtemp"), 2;

	RUN(names_refused);
	RUN(provider_init_layout_and_refusal);
	RUN(platform_init_layout_and_refusal);
	RUN(default_dir_from_environment);
	RUN(enroll_refuses_bad_requests);
	RUN(enroll_refuses_enrolled_name_and_key);
	RUN(enroll_records_before_returning);
	RUN(install_cert_refusals);
	RUN(revoke_by_name_serial_key);
	RUN(revoke_repairs_a_crl_lost_in_a_crash);
	RUN(inventory_edit_detected);
	RUN(inventory_deletion_and_reorder_detected);
	RUN(inventory_cut_detected);
	RUN(inventory_rules_checked);
	RUN(list_and_verify_need_a_provider);

	test_rm_tree(root);
	return test_total_failed ? 1 : 0;
}
