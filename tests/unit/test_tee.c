/* Unit tests for the TEE interface and quote verification (include/shelter/tee.h,
 * docs/formats/quote.md): backend dispatch, the sim backend, the quote wire format
 * (tamper and truncation sweeps over every byte), the verifier's trust (wrong
 * provider, revocation, CRL rollback and conflicts, validity windows, certificates
 * outside the platform profile), sealing keys, the frozen vector of
 * tests/vectors/quote/ and a throughput figure (printed, never asserted).
 *
 * Run from the repository root (tests/run.sh does): the vector is read from
 * tests/vectors/quote/. With SHELTER_QUOTE_VECTOR=DIR set, the binary instead writes
 * the vector quotes from the platforms in DIR (tests/vectors/quote/make-vectors.sh). */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "provider/internal.h"
#include "shelter/crypto.h"
#include "shelter/provider.h"
#include "shelter/tee.h"
#include "tee/internal.h"
#include "tee/pki.h"
#include "../files.h"
#include "../test.h"

#define VEC_DIR "tests/vectors/quote/"

static char root[256];
static int dir_seq;

/* ---- fixture ---- */

static void new_dir(char *out, size_t size, const char *what)
{
	char name[64];

	snprintf(name, sizeof(name), "%.20s-%d", what, ++dir_seq);
	test_join(out, size, root, name);
}

static int spit(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	int ok = f != NULL && fwrite(data, 1, size, f) == size;

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* A provider in prov. */
static int make_provider(char *prov, size_t size, const char *name)
{
	new_dir(prov, size, "prov");
	return shelter_provider_init(prov, name, NULL);
}

/* A platform in plat enrolled by prov with the validity window [nb, na]
 * (0, 0: the default) and its certificate installed. */
static int make_platform_window(const char *prov, char *plat, size_t size, const char *name,
				time_t nb, time_t na)
{
	char *csr = NULL, *cert = NULL;
	int rc;

	new_dir(plat, size, "plat");
	rc = shelter_platform_init(plat, name, &csr, NULL);
	if (rc == 0 && nb == 0)
		rc = shelter_provider_enroll(prov, csr, strlen(csr), 0, &cert, NULL);
	else if (rc == 0)
		rc = prov_enroll_window(prov, csr, strlen(csr), nb, na, &cert, NULL);
	if (rc == 0)
		rc = shelter_platform_install_cert(plat, cert, strlen(cert), NULL);
	free(csr);
	free(cert);
	return rc;
}

static int make_platform(const char *prov, char *plat, size_t size, const char *name)
{
	return make_platform_window(prov, plat, size, name, 0, 0);
}

/* A trust of prov's CA and, with with_crl, its current crl.pem. */
static struct shelter_trust *trust_of(const char *prov, int with_crl, uint8_t id[32])
{
	struct shelter_trust *t = NULL;
	char *pem;
	size_t size;
	int rc;

	if (shelter_trust_new(&t, NULL) < 0)
		return NULL;
	pem = test_slurp_in(prov, "ca.crt", &size);
	rc = pem != NULL ? shelter_trust_add_provider(t, pem, size, id, NULL) : -1;
	free(pem);
	if (rc == 0 && with_crl) {
		pem = test_slurp_in(prov, "crl.pem", &size);
		rc = pem != NULL ? shelter_trust_add_crl(t, pem, size, NULL) : -1;
		free(pem);
	}
	if (rc < 0) {
		shelter_trust_free(t);
		return NULL;
	}
	return t;
}

static void launch_identity(struct shelter_identity *id, int is_signed, uint8_t seed)
{
	memset(id, 0, sizeof(*id));
	for (int i = 0; i < SHELTER_MEASUREMENT_SIZE; i++)
		id->measurement[i] = (uint8_t)(seed + i);
	if (is_signed) {
		for (int i = 0; i < SHELTER_SIGNER_SIZE; i++)
			id->signer[i] = (uint8_t)(0xa0 + i);
		snprintf(id->product, sizeof(id->product), "redis");
		id->version = 7;
	}
}

static struct shelter_tee *tee_of(const char *plat, const struct shelter_identity *launch)
{
	struct shelter_tee_opts opts = { .backend = "sim", .platform_dir = plat, .launch = launch };
	struct shelter_tee *tee = NULL;

	return shelter_tee_open(&opts, &tee, NULL) == 0 ? tee : NULL;
}

static int quote_of(const char *plat, const struct shelter_identity *launch, uint8_t **q,
		    size_t *size)
{
	uint8_t rd[SHELTER_REPORT_DATA_SIZE];
	struct shelter_tee *tee = tee_of(plat, launch);
	int rc;

	for (int i = 0; i < SHELTER_REPORT_DATA_SIZE; i++)
		rd[i] = (uint8_t)(0x40 + i);
	rc = tee != NULL ? shelter_tee_quote(tee, rd, q, size, NULL) : -1;
	shelter_tee_close(tee);
	return rc;
}

/* One enrolled platform "node-1" of provider "acme", shared by many tests. */
static char g_prov[256], g_plat[256];
static struct shelter_identity g_launch;

static int world(void)
{
	static int made;

	if (made)
		return 0;
	launch_identity(&g_launch, 1, 0);
	if (make_provider(g_prov, sizeof(g_prov), "acme") < 0 ||
	    make_platform(g_prov, g_plat, sizeof(g_plat), "node-1") < 0)
		return -1;
	made = 1;
	return 0;
}

/* ---- backend dispatch and opening ---- */

static void open_unknown_backend(void)
{
	struct shelter_tee_opts opts = { .backend = "tpm", .launch = &g_launch };
	struct shelter_tee *tee = (struct shelter_tee *)&opts;
	struct shelter_err err;

	CHECK_RC(shelter_tee_open(&opts, &tee, &err), SHELTER_E_INVAL);
	CHECK(tee == NULL);
	CHECK(strstr(err.msg, "'tpm' is unknown (known: sim, sgx, tdx, sev-snp)") != NULL);
	CHECK_RC(shelter_tee_open(&opts, NULL, NULL), SHELTER_E_INVAL);
}

static void open_hardware_unavailable(void)
{
	static const char *const hw[] = { "sgx", "tdx", "sev-snp" };

	for (int i = 0; i < 3; i++) {
		struct shelter_tee_opts opts = { .backend = hw[i], .launch = &g_launch };
		struct shelter_tee *tee = NULL;
		struct shelter_err err;

		CHECK_RC(shelter_tee_open(&opts, &tee, &err), SHELTER_E_INVAL);
		CHECK(tee == NULL);
		CHECK(strstr(err.msg, "not available on this machine") != NULL);
	}
}

static void open_needs_launch_identity(void)
{
	struct shelter_tee_opts opts = { .backend = NULL, .platform_dir = g_plat };
	struct shelter_tee *tee = NULL;
	struct shelter_err err;

	CHECK_OK(world());
	CHECK_RC(shelter_tee_open(&opts, &tee, &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "launch identity") != NULL);
	CHECK_RC(shelter_tee_open(NULL, &tee, &err), SHELTER_E_INVAL);
}

static void open_rejects_bad_launch_identity(void)
{
	struct shelter_identity id;
	struct shelter_tee_opts opts = { .platform_dir = g_plat, .launch = &id };
	struct shelter_tee *tee = NULL;
	struct shelter_err err;

	CHECK_OK(world());
	launch_identity(&id, 1, 0);
	id.flags = 0x4; /* reserved */
	CHECK_RC(shelter_tee_open(&opts, &tee, &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "reserved flag") != NULL);
	launch_identity(&id, 1, 0);
	id.product[10] = 'x'; /* after the NUL */
	CHECK_RC(shelter_tee_open(&opts, &tee, &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "zero-padded") != NULL);
	memset(id.product, 'p', sizeof(id.product)); /* no NUL at all */
	CHECK_RC(shelter_tee_open(&opts, &tee, &err), SHELTER_E_INVAL);
	launch_identity(&id, 0, 0);
	id.version = 3; /* a version without a signer */
	CHECK_RC(shelter_tee_open(&opts, &tee, &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "without a signer") != NULL);
	CHECK(tee == NULL);
}

static void open_uninitialised_platform(void)
{
	char dir[256];
	struct shelter_tee_opts opts = { .platform_dir = dir, .launch = &g_launch };
	struct shelter_tee *tee = NULL;
	struct shelter_err err;

	new_dir(dir, sizeof(dir), "empty");
	CHECK(mkdir(dir, 0700) == 0);
	CHECK_RC(shelter_tee_open(&opts, &tee, &err), SHELTER_E_NOENT);
	CHECK(strstr(err.msg, "shelter platform init") != NULL);
	CHECK(strstr(err.msg, dir) != NULL);
}

static void open_unenrolled_platform(void)
{
	char dir[256], *csr = NULL;
	struct shelter_tee_opts opts = { .platform_dir = dir, .launch = &g_launch };
	struct shelter_tee *tee = NULL;
	struct shelter_err err;

	new_dir(dir, sizeof(dir), "plat");
	CHECK_OK(shelter_platform_init(dir, "lonely", &csr, NULL));
	free(csr);
	CHECK_RC(shelter_tee_open(&opts, &tee, &err), SHELTER_E_NOENT);
	CHECK(strstr(err.msg, "not enrolled") != NULL);
	CHECK(strstr(err.msg, "shelter provider enroll") != NULL);
	CHECK(strstr(err.msg, "shelter platform install-cert") != NULL);
}

static void open_refuses_readable_key(void)
{
	char path[512];
	struct shelter_tee_opts opts = { .platform_dir = g_plat, .launch = &g_launch };
	struct shelter_tee *tee = NULL;
	struct shelter_err err;

	CHECK_OK(world());
	test_join(path, sizeof(path), g_plat, "attestation.key");
	CHECK(chmod(path, 0640) == 0);
	CHECK_RC(shelter_tee_open(&opts, &tee, &err), SHELTER_E_PERM);
	CHECK(chmod(path, 0600) == 0);
	CHECK(strstr(err.msg, "chmod 600") != NULL);
	CHECK_OK(shelter_tee_open(&opts, &tee, &err));
	shelter_tee_close(tee);
	shelter_tee_close(NULL);
}

static void null_arguments(void)
{
	uint8_t rd[64] = { 0 }, key[32], *q = (uint8_t *)rd;
	size_t size = 1;
	struct shelter_identity id;
	struct shelter_quote_info info;
	struct shelter_tee *tee;

	CHECK_OK(world());
	tee = tee_of(g_plat, &g_launch);
	CHECK(tee != NULL);
	CHECK_RC(shelter_tee_quote(tee, NULL, &q, &size, NULL), SHELTER_E_INVAL);
	CHECK(q == NULL && size == 0);
	CHECK_RC(shelter_tee_quote(NULL, rd, &q, &size, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_tee_identity(NULL, &id, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_tee_seal_key(tee, SHELTER_SEAL_MEASUREMENT, NULL, key, NULL),
		 SHELTER_E_INVAL);
	CHECK_RC(shelter_quote_verify(rd, sizeof(rd), NULL, &info, NULL), SHELTER_E_INVAL);
	shelter_tee_close(tee);
	shelter_trust_free(NULL);
}

/* ---- quote wire format ---- */

static void quote_truncated_at_every_length(void)
{
	struct shelter_trust *t;
	struct shelter_quote_info info;
	uint8_t *q = NULL, *cut;
	size_t size = 0;

	CHECK_OK(world());
	CHECK_OK(quote_of(g_plat, &g_launch, &q, &size));
	t = trust_of(g_prov, 1, NULL);
	CHECK(t != NULL);
	cut = malloc(size + 1);
	CHECK(cut != NULL);
	for (size_t n = 0; n < size; n++) {
		memcpy(cut, q, n); /* exact-size copy: ASan catches a read past the end */
		if (shelter_quote_verify(n ? cut : NULL, n, t, &info, NULL) != SHELTER_E_MALFORMED) {
			fprintf(stderr, "  truncated to %zu bytes: not MALFORMED\n", n);
			test_failed_now = 1;
			break;
		}
	}
	memcpy(cut, q, size);
	cut[size] = 0; /* one trailing byte */
	if (!test_failed_now)
		CHECK_RC(shelter_quote_verify(cut, size + 1, t, &info, NULL), SHELTER_E_MALFORMED);
	CHECK(info.platform_name[0] == '\0'); /* nothing about a refused quote */
	CHECK_OK(shelter_quote_verify(q, size, t, &info, NULL));
	free(cut);
	free(q);
	shelter_trust_free(t);
}

/* The expected refusal for a change in each region of table 1 (quote.md §3). */
static int flip_allowed(size_t off, int rc)
{
	if (off < 4)
		return rc == SHELTER_E_MALFORMED;                      /* magic */
	if (off < 8)
		return rc == SHELTER_E_VERSION;                        /* version, TEE type */
	if (off < 12)
		return rc == SHELTER_E_MALFORMED;                      /* flags: SIM, reserved */
	if (off >= 76 && off < 140)                                    /* product */
		return rc == SHELTER_E_MALFORMED || rc == SHELTER_E_INTEGRITY;
	if (off >= 144 && off < 176)                                   /* key id */
		return rc == SHELTER_E_UNTRUSTED;
	if (off < 304)
		return rc == SHELTER_E_INTEGRITY; /* signed fields, signature: modified */
	if (off < 306)
		return rc == SHELTER_E_MALFORMED;                      /* certificate length */
	return rc == SHELTER_E_MALFORMED || rc == SHELTER_E_UNTRUSTED; /* certificate DER */
}

static void quote_every_byte_flip_refused(void)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	struct shelter_trust *t;
	struct shelter_quote_info info;
	uint8_t *q = NULL;
	size_t size = 0, refused = 0;

	CHECK_OK(world());
	CHECK_OK(quote_of(g_plat, &g_launch, &q, &size));
	t = trust_of(g_prov, 1, NULL);
	CHECK(t != NULL);
	for (size_t i = 0; i < size && !test_failed_now; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			int rc;

			q[i] ^= masks[m];
			rc = shelter_quote_verify(q, size, t, &info, NULL);
			q[i] ^= masks[m];
			if (!flip_allowed(i, rc)) {
				fprintf(stderr, "  byte %zu ^ %#x: %d (%s)\n", i, masks[m], rc,
					shelter_code_str(rc));
				test_failed_now = 1;
				break;
			}
			refused++;
		}
	}
	CHECK(refused == size * sizeof(masks));
	CHECK_OK(shelter_quote_verify(q, size, t, &info, NULL));
	free(q);
	shelter_trust_free(t);
}

static void quote_debug_flag_is_signed(void)
{
	struct shelter_trust *t;
	struct shelter_quote_info info;
	struct shelter_err err;
	uint8_t *q = NULL;
	size_t size = 0;

	CHECK_OK(world());
	CHECK_OK(quote_of(g_plat, &g_launch, &q, &size));
	t = trust_of(g_prov, 1, NULL);
	CHECK(t != NULL);
	q[11] |= SHELTER_TEE_FLAG_DEBUG; /* claim less than was quoted: still refused */
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "does not match its signature") != NULL);
	CHECK(strstr(err.msg, "platform 'node-1'") != NULL);
	free(q);
	shelter_trust_free(t);
}

static void quote_round_trip_every_field(void)
{
	struct shelter_identity launch, reported;
	struct shelter_platform_info pinfo;
	struct shelter_quote_info info;
	struct shelter_trust *t;
	struct shelter_tee *tee;
	struct tee_quote parsed;
	uint8_t rd[SHELTER_REPORT_DATA_SIZE], provider_id[32], *q = NULL;
	size_t size = 0;

	CHECK_OK(world());
	launch_identity(&launch, 1, 9);
	launch.flags = SHELTER_TEE_FLAG_DEBUG; /* SIM is forced on */
	launch.tee = 99;                       /* ignored */
	for (int i = 0; i < SHELTER_REPORT_DATA_SIZE; i++)
		rd[i] = (uint8_t)(255 - i);
	tee = tee_of(g_plat, &launch);
	CHECK(tee != NULL);
	CHECK_OK(shelter_tee_identity(tee, &reported, NULL));
	CHECK(reported.tee == SHELTER_TEE_SIM);
	CHECK(reported.flags == (SHELTER_TEE_FLAG_SIM | SHELTER_TEE_FLAG_DEBUG));
	CHECK_OK(shelter_tee_quote(tee, rd, &q, &size, NULL));
	shelter_tee_close(tee);
	t = trust_of(g_prov, 1, provider_id);
	CHECK(t != NULL);
	CHECK_OK(shelter_platform_info(g_plat, &pinfo, NULL));
	CHECK_OK(shelter_quote_verify(q, size, t, &info, NULL));
	CHECK(info.id.tee == SHELTER_TEE_SIM);
	CHECK(info.id.flags == (SHELTER_TEE_FLAG_SIM | SHELTER_TEE_FLAG_DEBUG));
	CHECK_MEM(info.id.measurement, launch.measurement, SHELTER_MEASUREMENT_SIZE);
	CHECK_MEM(info.id.signer, launch.signer, SHELTER_SIGNER_SIZE);
	CHECK_MEM(info.id.product, launch.product, SHELTER_PRODUCT_MAX);
	CHECK(strcmp(info.id.product, "redis") == 0);
	CHECK(info.id.version == 7);
	CHECK_MEM(info.report_data, rd, sizeof(rd));
	CHECK_MEM(info.provider, provider_id, 32);
	CHECK_MEM(info.platform, pinfo.key_id, 32);
	CHECK(strcmp(info.platform_name, "node-1") == 0);
	CHECK(memcmp(&info.id, &reported, sizeof(reported)) == 0);
	/* the layout of table 1, byte for byte */
	CHECK(size > TEE_QUOTE_FIXED_SIZE);
	CHECK_MEM(q, "SHQT\x00\x01\x00\x01\x00\x00\x00\x03", 12);
	CHECK_MEM(q + 12, launch.measurement, 32);
	CHECK_MEM(q + 44, launch.signer, 32);
	CHECK_MEM(q + 76, launch.product, 64);
	CHECK_MEM(q + 140, "\x00\x00\x00\x07", 4);
	CHECK_MEM(q + 144, pinfo.key_id, 32);
	CHECK_MEM(q + 176, rd, 64);
	CHECK((size_t)(q[304] << 8 | q[305]) == size - TEE_QUOTE_FIXED_SIZE);
	CHECK_OK(tee_quote_parse(q, size, &parsed, NULL));
	CHECK(parsed.cert == q + TEE_QUOTE_FIXED_SIZE);
	free(q);
	shelter_trust_free(t);
}

static void quote_unsigned_identity(void)
{
	struct shelter_identity launch;
	struct shelter_quote_info info;
	struct shelter_trust *t;
	uint8_t *q = NULL, zero[32] = { 0 };
	size_t size = 0;

	CHECK_OK(world());
	launch_identity(&launch, 0, 3);
	CHECK_OK(quote_of(g_plat, &launch, &q, &size));
	t = trust_of(g_prov, 1, NULL);
	CHECK(t != NULL);
	CHECK_OK(shelter_quote_verify(q, size, t, &info, NULL));
	CHECK_MEM(info.id.signer, zero, 32);
	CHECK(info.id.product[0] == '\0' && info.id.version == 0);
	CHECK(info.id.flags == SHELTER_TEE_FLAG_SIM);
	free(q);
	shelter_trust_free(t);
}

/* ---- trust: providers and CRLs ---- */

static void trust_add_provider_refusals(void)
{
	struct shelter_trust *t = NULL;
	struct shelter_err err;
	uint8_t id[32];
	char *pem;
	size_t size;

	CHECK_OK(world());
	CHECK_OK(shelter_trust_new(&t, NULL));
	CHECK_RC(shelter_trust_add_provider(t, "garbage", 7, id, &err), SHELTER_E_MALFORMED);
	pem = test_slurp_in(g_plat, "platform.crt", &size); /* not a CA */
	CHECK(pem != NULL);
	CHECK_RC(shelter_trust_add_provider(t, pem, size, id, &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "not a CA certificate") != NULL);
	free(pem);
	pem = test_slurp_in(g_prov, "ca.crt", &size);
	CHECK(pem != NULL);
	CHECK_OK(shelter_trust_add_provider(t, pem, size, id, NULL));
	CHECK_RC(shelter_trust_add_provider(t, pem, size, id, &err), SHELTER_E_EXIST);
	free(pem);
	shelter_trust_free(t);
}

static void verify_wrong_provider(void)
{
	char other[256];
	struct shelter_trust *t;
	struct shelter_quote_info info;
	struct shelter_err err;
	uint8_t *q = NULL;
	size_t size = 0;

	CHECK_OK(world());
	CHECK_OK(make_provider(other, sizeof(other), "globex"));
	CHECK_OK(quote_of(g_plat, &g_launch, &q, &size));
	t = trust_of(other, 1, NULL);
	CHECK(t != NULL);
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_UNTRUSTED);
	CHECK(strstr(err.msg, "platform 'node-1'") != NULL);
	CHECK(strstr(err.msg, "not enrolled by any trusted provider") != NULL);
	shelter_trust_free(t);
	/* an empty trust, too */
	CHECK_OK(shelter_trust_new(&t, NULL));
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_UNTRUSTED);
	shelter_trust_free(t);
	free(q);
}

static void verify_needs_a_crl(void)
{
	struct shelter_trust *t;
	struct shelter_quote_info info;
	struct shelter_err err;
	uint8_t *q = NULL;
	size_t size = 0;

	CHECK_OK(world());
	CHECK_OK(quote_of(g_plat, &g_launch, &q, &size));
	t = trust_of(g_prov, 0, NULL);
	CHECK(t != NULL);
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_UNTRUSTED);
	CHECK(strstr(err.msg, "no CRL of provider 'acme'") != NULL);
	free(q);
	shelter_trust_free(t);
}

static void verify_revoked_and_crl_rollback(void)
{
	char prov[256], plat[256], *old = NULL, *newer = NULL;
	struct shelter_trust *t, *t_old;
	struct shelter_quote_info info;
	struct shelter_err err;
	uint8_t *q = NULL;
	size_t old_size = 0, new_size = 0, size = 0;

	CHECK_OK(make_provider(prov, sizeof(prov), "acme"));
	CHECK_OK(make_platform(prov, plat, sizeof(plat), "node-3"));
	CHECK_OK(quote_of(plat, &g_launch, &q, &size));
	t = trust_of(prov, 1, NULL);
	t_old = trust_of(prov, 1, NULL);
	CHECK(t != NULL && t_old != NULL);
	CHECK_OK(shelter_quote_verify(q, size, t, &info, NULL));
	old = test_slurp_in(prov, "crl.pem", &old_size);
	CHECK_OK(shelter_provider_revoke(prov, "node-3", "key compromised", NULL));
	newer = test_slurp_in(prov, "crl.pem", &new_size);
	CHECK(old != NULL && newer != NULL);
	CHECK_OK(shelter_trust_add_crl(t, newer, new_size, NULL));
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_REVOKED);
	CHECK(strstr(err.msg, "quote: platform 'node-3' (serial ") != NULL);
	CHECK(strstr(err.msg, "revoked by provider 'acme'") != NULL);
	/* the same CRL again is a no-op; the older one is refused */
	CHECK_OK(shelter_trust_add_crl(t, newer, new_size, NULL));
	CHECK_RC(shelter_trust_add_crl(t, old, old_size, &err), SHELTER_E_STALE);
	CHECK(strstr(err.msg, "CRL number 1 of provider 'acme' is older than the held CRL "
			      "number 2") != NULL);
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_REVOKED);
	/* a verifier that never got the new CRL still accepts: CRLs must be delivered */
	CHECK_OK(shelter_quote_verify(q, size, t_old, &info, NULL));
	free(old);
	free(newer);
	free(q);
	shelter_trust_free(t);
	shelter_trust_free(t_old);
}

/* A chain kept from an earlier verification (quote.md §4.4) still has its validity
 * times checked at every verification. */
static void verify_kept_chain_checks_time(void)
{
	struct shelter_trust *t;
	struct shelter_quote_info info;
	struct shelter_err err;
	uint8_t *q = NULL;
	size_t size = 0;
	time_t now = time(NULL);

	CHECK_OK(world());
	CHECK_OK(quote_of(g_plat, &g_launch, &q, &size));
	t = trust_of(g_prov, 1, NULL);
	CHECK(t != NULL);
	CHECK_OK(tee_quote_verify_at(q, size, t, now, &info, NULL));
	CHECK_OK(tee_quote_verify_at(q, size, t, now + 60, &info, NULL));
	CHECK_RC(tee_quote_verify_at(q, size, t, now + 20 * 365 * 86400L, &info, &err),
		 SHELTER_E_EXPIRED);
	CHECK(strstr(err.msg, "has expired") != NULL);
	CHECK_RC(tee_quote_verify_at(q, size, t, now - 365 * 86400L, &info, &err),
		 SHELTER_E_EXPIRED);
	CHECK(strstr(err.msg, "not yet valid") != NULL);
	CHECK_OK(tee_quote_verify_at(q, size, t, now, &info, NULL));
	free(q);
	shelter_trust_free(t);
}

/* The provider's CA key and certificate, for crafting objects it never issues. */
static int load_ca(const char *prov, X509 **ca, EVP_PKEY **key)
{
	char *pem;
	size_t size;
	int rc;

	pem = test_slurp_in(prov, "ca.crt", &size);
	rc = pem != NULL ? pki_cert_from_pem(pem, size, ca, NULL) : -1;
	free(pem);
	pem = test_slurp_in(prov, "ca.key", &size);
	if (rc == 0)
		rc = pem != NULL ? pki_key_from_pem(pem, size, key, NULL) : -1;
	free(pem);
	return rc;
}

static void trust_crl_conflict_and_foreign(void)
{
	char other[256], *pem = NULL, *foreign = NULL;
	struct prov_revoked r = { .serial_hex = "4000000000000000000000000000abcd", .when = 1000 };
	struct shelter_trust *t;
	struct shelter_err err;
	X509 *ca = NULL;
	EVP_PKEY *key = NULL;
	X509_CRL *crl = NULL;
	size_t size = 0, foreign_size = 0;

	CHECK_OK(world());
	t = trust_of(g_prov, 1, NULL); /* holds CRL number 1 of acme */
	CHECK(t != NULL);
	CHECK_OK(load_ca(g_prov, &ca, &key));
	/* a second, different CRL numbered 1 */
	CHECK_OK(prov_issue_crl(ca, key, 1, time(NULL), &r, 1, &crl, NULL));
	CHECK_OK(pki_crl_to_pem(crl, &pem, &size, NULL));
	CHECK_RC(shelter_trust_add_crl(t, pem, size, &err), SHELTER_E_CONFLICT);
	CHECK(strstr(err.msg, "two different CRLs numbered 1") != NULL);
	/* a CRL of a provider the trust does not hold */
	CHECK_OK(make_provider(other, sizeof(other), "globex"));
	foreign = test_slurp_in(other, "crl.pem", &foreign_size);
	CHECK(foreign != NULL);
	CHECK_RC(shelter_trust_add_crl(t, foreign, foreign_size, &err), SHELTER_E_UNTRUSTED);
	CHECK_RC(shelter_trust_add_crl(t, "nope", 4, &err), SHELTER_E_MALFORMED);
	free(foreign);
	free(pem);
	X509_CRL_free(crl);
	X509_free(ca);
	EVP_PKEY_free(key);
	shelter_trust_free(t);
}

static void trust_crl_without_number(void)
{
	struct shelter_trust *t;
	struct shelter_err err;
	X509 *ca = NULL;
	EVP_PKEY *key = NULL;
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_new();
	char *pem = NULL;
	size_t size = 0;

	CHECK_OK(world());
	CHECK(crl != NULL && now != NULL);
	CHECK_OK(load_ca(g_prov, &ca, &key));
	ASN1_TIME_set(now, time(NULL));
	CHECK(X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1);
	CHECK(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) == 1);
	CHECK(X509_CRL_set1_lastUpdate(crl, now) == 1);
	CHECK(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	CHECK_OK(pki_crl_to_pem(crl, &pem, &size, NULL));
	t = trust_of(g_prov, 0, NULL);
	CHECK(t != NULL);
	CHECK_RC(shelter_trust_add_crl(t, pem, size, &err), SHELTER_E_MALFORMED);
	CHECK(strstr(err.msg, "CRL number") != NULL);
	shelter_trust_free(t);
	free(pem);
	ASN1_TIME_free(now);
	X509_CRL_free(crl);
	X509_free(ca);
	EVP_PKEY_free(key);
}

static void verify_expired_and_not_yet_valid(void)
{
	char prov[256], past[256], future[256];
	time_t now = time(NULL);
	struct shelter_trust *t;
	struct shelter_quote_info info;
	struct shelter_err err;
	uint8_t *q = NULL;
	size_t size = 0;

	CHECK_OK(make_provider(prov, sizeof(prov), "acme"));
	/* windows inside the provider CA's, which starts an hour before now (§5.1) */
	CHECK_OK(make_platform_window(prov, past, sizeof(past), "old-node", now - 3000,
				      now - 1800));
	CHECK_OK(make_platform_window(prov, future, sizeof(future), "new-node", now + 86400,
				      now + 10 * 86400));
	t = trust_of(prov, 1, NULL);
	CHECK(t != NULL);
	CHECK_OK(quote_of(past, &g_launch, &q, &size));
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_EXPIRED);
	CHECK(strstr(err.msg, "platform 'old-node'") != NULL);
	CHECK(strstr(err.msg, "platform certificate has expired") != NULL);
	/* inside its window it verifies */
	CHECK_OK(tee_quote_verify_at(q, size, t, now - 2400, &info, NULL));
	free(q);
	q = NULL;
	CHECK_OK(quote_of(future, &g_launch, &q, &size));
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_EXPIRED);
	CHECK(strstr(err.msg, "is not yet valid") != NULL);
	CHECK_OK(tee_quote_verify_at(q, size, t, now + 2 * 86400, &info, NULL));
	free(q);
	q = NULL;
	/* revoked and expired: the revocation is what is reported (§4.2) */
	CHECK_OK(shelter_provider_revoke(prov, "old-node", "retired", NULL));
	shelter_trust_free(t);
	t = trust_of(prov, 1, NULL);
	CHECK(t != NULL);
	CHECK_OK(quote_of(past, &g_launch, &q, &size));
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_REVOKED);
	free(q);
	shelter_trust_free(t);
}

/* A quote over launch signed by key, carrying cert (DER) and key_id. */
static uint8_t *craft_quote(EVP_PKEY *key, X509 *cert, const uint8_t key_id[32], size_t *size)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	uint8_t rd[64] = { 1 }, *q = malloc(TEE_QUOTE_FIXED_SIZE + (size_t)(len > 0 ? len : 0));
	struct shelter_identity id = g_launch;

	id.tee = SHELTER_TEE_SIM;
	id.flags = SHELTER_TEE_FLAG_SIM;
	if (q == NULL || len <= 0) {
		free(q);
		OPENSSL_free(der);
		return NULL;
	}
	tee_quote_encode_body(&id, key_id, rd, q);
	if (pki_sign_raw(key, q, TEE_QUOTE_BODY_SIZE, q + TEE_QUOTE_BODY_SIZE, NULL) < 0) {
		free(q);
		OPENSSL_free(der);
		return NULL;
	}
	q[304] = (uint8_t)(len >> 8);
	q[305] = (uint8_t)len;
	memcpy(q + TEE_QUOTE_FIXED_SIZE, der, (size_t)len);
	*size = TEE_QUOTE_FIXED_SIZE + (size_t)len;
	OPENSSL_free(der);
	return q;
}

/* A certificate the provider's CA signs for key, but without the platform OU. */
static X509 *cert_without_marker(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *key)
{
	X509 *c = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e1, *e2, *e3;

	X509_set_version(c, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 77);
	X509_set_issuer_name(c, X509_get_subject_name(ca));
	X509_NAME_add_entry_by_NID(X509_get_subject_name(c), NID_commonName, MBSTRING_UTF8,
				   (const unsigned char *)"web-server", -1, -1, 0);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	X509_set_pubkey(c, key);
	X509V3_set_ctx(&ctx, ca, c, NULL, NULL, 0);
	e1 = X509V3_EXT_nconf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:FALSE");
	e2 = X509V3_EXT_nconf_nid(NULL, &ctx, NID_key_usage, "critical,digitalSignature");
	e3 = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	X509_add_ext(c, e1, -1);
	X509_add_ext(c, e2, -1);
	X509_add_ext(c, e3, -1);
	X509_EXTENSION_free(e1);
	X509_EXTENSION_free(e2);
	X509_EXTENSION_free(e3);
	X509_sign(c, ca_key, EVP_sha256());
	return c;
}

static void verify_refuses_certificates_outside_the_profile(void)
{
	struct shelter_trust *t;
	struct shelter_quote_info info;
	struct shelter_err err;
	X509 *ca = NULL, *other_cert = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	uint8_t id[32], *q = NULL;
	size_t size = 0;

	CHECK_OK(world());
	CHECK_OK(load_ca(g_prov, &ca, &ca_key));
	CHECK_OK(pki_keygen(&key, NULL));
	t = trust_of(g_prov, 1, NULL);
	CHECK(t != NULL);
	/* a certificate from the same CA without OU=shelter-platform (§5.2) */
	other_cert = cert_without_marker(ca, ca_key, key);
	CHECK(other_cert != NULL);
	CHECK_OK(pki_key_id(key, id, NULL));
	q = craft_quote(key, other_cert, id, &size);
	CHECK(q != NULL);
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_UNTRUSTED);
	CHECK(strstr(err.msg, "OU=shelter-platform") != NULL);
	free(q);
	/* the provider CA itself signing a quote */
	CHECK_OK(pki_key_id(ca_key, id, NULL));
	q = craft_quote(ca_key, ca, id, &size);
	CHECK(q != NULL);
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_UNTRUSTED);
	CHECK(strstr(err.msg, "CA:FALSE") != NULL);
	free(q);
	X509_free(other_cert);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	shelter_trust_free(t);
}

static void verify_refuses_another_key(void)
{
	struct shelter_trust *t;
	struct shelter_quote_info info;
	struct shelter_err err;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	uint8_t cert_id[32], key_id[32], *q = NULL;
	char *pem;
	size_t size = 0, pem_size = 0;

	CHECK_OK(world());
	pem = test_slurp_in(g_plat, "platform.crt", &pem_size);
	CHECK(pem != NULL);
	CHECK_OK(pki_cert_from_pem(pem, pem_size, &cert, NULL));
	free(pem);
	CHECK_OK(pki_keygen(&key, NULL));
	CHECK_OK(pki_cert_key_id(cert, cert_id, NULL));
	CHECK_OK(pki_key_id(key, key_id, NULL));
	t = trust_of(g_prov, 1, NULL);
	CHECK(t != NULL);
	/* the enrolled certificate, a quote signed by a key it does not certify */
	q = craft_quote(key, cert, cert_id, &size);
	CHECK(q != NULL);
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "does not match its signature") != NULL);
	free(q);
	q = craft_quote(key, cert, key_id, &size);
	CHECK(q != NULL);
	CHECK_RC(shelter_quote_verify(q, size, t, &info, &err), SHELTER_E_UNTRUSTED);
	CHECK(strstr(err.msg, "key id does not match") != NULL);
	free(q);
	X509_free(cert);
	EVP_PKEY_free(key);
	shelter_trust_free(t);
}

/* ---- sealing keys (§6) ---- */

static int seal(const char *plat, const struct shelter_identity *id,
		enum shelter_seal_policy policy, const char *label, uint8_t key[32])
{
	struct shelter_tee *tee = tee_of(plat, id);
	int rc = tee != NULL ? shelter_tee_seal_key(tee, policy, label, key, NULL) : -1;

	shelter_tee_close(tee);
	return rc;
}

static void seal_key_refusals(void)
{
	struct shelter_identity unsigned_id;
	struct shelter_tee *tee;
	uint8_t key[32];
	char long_label[1100];

	CHECK_OK(world());
	launch_identity(&unsigned_id, 0, 0);
	tee = tee_of(g_plat, &unsigned_id);
	CHECK(tee != NULL);
	memset(key, 0xaa, sizeof(key));
	CHECK_RC(shelter_tee_seal_key(tee, SHELTER_SEAL_SIGNER, "x", key, NULL), SHELTER_E_INVAL);
	CHECK(key[0] == 0 && key[31] == 0);
	CHECK_RC(shelter_tee_seal_key(tee, (enum shelter_seal_policy)3, "x", key, NULL),
		 SHELTER_E_INVAL);
	memset(long_label, 'l', sizeof(long_label) - 1);
	long_label[sizeof(long_label) - 1] = '\0';
	CHECK_RC(shelter_tee_seal_key(tee, SHELTER_SEAL_MEASUREMENT, long_label, key, NULL),
		 SHELTER_E_INVAL);
	shelter_tee_close(tee);
}

static void seal_keys_separate_and_stable(void)
{
	char plat2[256];
	struct shelter_identity a, b, upgraded, other_product;
	uint8_t k[8][32], again[32];

	CHECK_OK(world());
	CHECK_OK(make_platform(g_prov, plat2, sizeof(plat2), "node-2"));
	launch_identity(&a, 1, 0);
	launch_identity(&b, 1, 100);        /* another measurement, same signer */
	upgraded = b;
	upgraded.version = 8;               /* versions do not enter signer keys */
	other_product = a;
	snprintf(other_product.product, sizeof(other_product.product), "nginx");
	CHECK_OK(seal(g_plat, &a, SHELTER_SEAL_MEASUREMENT, "db", k[0]));
	CHECK_OK(seal(g_plat, &a, SHELTER_SEAL_MEASUREMENT, "log", k[1]));
	CHECK_OK(seal(g_plat, &a, SHELTER_SEAL_SIGNER, "db", k[2]));
	CHECK_OK(seal(g_plat, &b, SHELTER_SEAL_MEASUREMENT, "db", k[3]));
	CHECK_OK(seal(plat2, &a, SHELTER_SEAL_MEASUREMENT, "db", k[4]));
	CHECK_OK(seal(g_plat, &other_product, SHELTER_SEAL_SIGNER, "db", k[5]));
	CHECK_OK(seal(plat2, &a, SHELTER_SEAL_SIGNER, "db", k[6]));
	CHECK_OK(seal(g_plat, &a, SHELTER_SEAL_MEASUREMENT, "", k[7]));
	for (int i = 0; i < 8; i++) {
		for (int j = i + 1; j < 8; j++) {
			if (memcmp(k[i], k[j], 32) == 0) {
				fprintf(stderr, "  seal keys %d and %d are equal\n", i, j);
				CHECK(0);
			}
		}
	}
	/* stable across reopen; a signed upgrade keeps its signer key */
	CHECK_OK(seal(g_plat, &a, SHELTER_SEAL_MEASUREMENT, "db", again));
	CHECK_MEM(again, k[0], 32);
	CHECK_OK(seal(g_plat, &upgraded, SHELTER_SEAL_SIGNER, "db", again));
	CHECK_MEM(again, k[2], 32);
}

/* §6.1 as written: HKDF-SHA256 over seal.secret with the documented salt and info. */
static void seal_key_matches_the_spec(void)
{
	struct shelter_identity a;
	uint8_t info[1 + 32 + 64 + 2], want[32], got[32];
	char *secret;
	size_t size = 0;

	CHECK_OK(world());
	launch_identity(&a, 1, 0);
	secret = test_slurp_in(g_plat, "seal.secret", &size);
	CHECK(secret != NULL && size == 32);
	info[0] = 1;
	memcpy(info + 1, a.measurement, 32);
	memcpy(info + 33, "db", 2);
	CHECK_OK(shelter_hkdf_sha256((uint8_t *)secret, 32, (const uint8_t *)"shelter-seal-v1", 15,
				     info, 35, want, 32, NULL));
	CHECK_OK(seal(g_plat, &a, SHELTER_SEAL_MEASUREMENT, "db", got));
	CHECK_MEM(got, want, 32);
	info[0] = 2;
	memcpy(info + 1, a.signer, 32);
	memcpy(info + 33, a.product, 64);
	memcpy(info + 97, "db", 2);
	CHECK_OK(shelter_hkdf_sha256((uint8_t *)secret, 32, (const uint8_t *)"shelter-seal-v1", 15,
				     info, 99, want, 32, NULL));
	CHECK_OK(seal(g_plat, &a, SHELTER_SEAL_SIGNER, "db", got));
	CHECK_MEM(got, want, 32);
	shelter_wipe(secret, size);
	free(secret);
}

/* ---- the frozen vector (tests/vectors/quote/, quote.md §9) ---- */

struct vec {
	char key[32];
	char value[160];
};

static const char *vec_get(const struct vec *v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].key, key) == 0)
			return v[i].value;
	}
	return NULL;
}

static int vec_hex(const struct vec *v, size_t n, const char *key, uint8_t *out, size_t size)
{
	const char *hex = vec_get(v, n, key);

	return hex != NULL && strlen(hex) == 2 * size ? shelter_unhex(hex, out, size) : -1;
}

static size_t vec_load(struct vec *v, size_t cap)
{
	FILE *f = fopen(VEC_DIR "quote.txt", "r");
	char line[256];
	size_t n = 0;

	while (f != NULL && n < cap && fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' || sscanf(line, "%31s %159s", v[n].key, v[n].value) != 2)
			continue;
		n++;
	}
	if (f != NULL)
		fclose(f);
	return n;
}

static struct shelter_trust *vec_trust(void)
{
	struct shelter_trust *t = NULL;
	char *ca, *crl;
	size_t ca_size = 0, crl_size = 0;
	int rc = shelter_trust_new(&t, NULL);

	ca = test_slurp(VEC_DIR "provider.crt", &ca_size);
	crl = test_slurp(VEC_DIR "crl.pem", &crl_size);
	if (rc == 0)
		rc = ca != NULL ? shelter_trust_add_provider(t, ca, ca_size, NULL, NULL) : -1;
	if (rc == 0)
		rc = crl != NULL ? shelter_trust_add_crl(t, crl, crl_size, NULL) : -1;
	free(ca);
	free(crl);
	if (rc < 0) {
		shelter_trust_free(t);
		return NULL;
	}
	return t;
}

static void vector_quote_decodes(void)
{
	struct vec v[32];
	size_t n = vec_load(v, 32), size = 0, rsize = 0;
	struct shelter_trust *t = vec_trust();
	struct shelter_quote_info info;
	struct tee_quote parsed;
	struct shelter_err err;
	uint8_t m[32], s[32], rd[64], prov[32], plat[32];
	uint8_t *q = (uint8_t *)test_slurp(VEC_DIR "quote.bin", &size);
	uint8_t *rq = (uint8_t *)test_slurp(VEC_DIR "quote-revoked.bin", &rsize);
	const char *at = vec_get(v, n, "verify_at"), *nb = vec_get(v, n, "not_before");
	const char *na = vec_get(v, n, "not_after");

	CHECK(n >= 12 && t != NULL && q != NULL && rq != NULL && at && nb && na);
	CHECK_OK(vec_hex(v, n, "measurement", m, 32));
	CHECK_OK(vec_hex(v, n, "signer", s, 32));
	CHECK_OK(vec_hex(v, n, "report_data", rd, 64));
	CHECK_OK(vec_hex(v, n, "provider", prov, 32));
	CHECK_OK(vec_hex(v, n, "platform", plat, 32));
	CHECK(size == strtoull(vec_get(v, n, "size"), NULL, 10));
	/* §3: the raw fields */
	CHECK_OK(tee_quote_parse(q, size, &parsed, NULL));
	CHECK(parsed.id.tee == strtoul(vec_get(v, n, "tee"), NULL, 10));
	CHECK(parsed.id.flags == strtoul(vec_get(v, n, "flags"), NULL, 10));
	CHECK_MEM(parsed.key_id, plat, 32);
	/* §4: verified at a fixed instant inside the validity window, every field */
	CHECK_OK(tee_quote_verify_at(q, size, t, (time_t)strtoll(at, NULL, 10), &info, &err));
	CHECK(info.id.tee == SHELTER_TEE_SIM);
	CHECK(info.id.flags == strtoul(vec_get(v, n, "flags"), NULL, 10));
	CHECK_MEM(info.id.measurement, m, 32);
	CHECK_MEM(info.id.signer, s, 32);
	CHECK(strcmp(info.id.product, vec_get(v, n, "product")) == 0);
	CHECK(info.id.version == strtoul(vec_get(v, n, "version"), NULL, 10));
	CHECK_MEM(info.report_data, rd, 64);
	CHECK_MEM(info.provider, prov, 32);
	CHECK_MEM(info.platform, plat, 32);
	CHECK(strcmp(info.platform_name, vec_get(v, n, "platform_name")) == 0);
	/* outside the window, and the revoked platform of the vector CRL */
	CHECK_RC(tee_quote_verify_at(q, size, t, (time_t)strtoll(nb, NULL, 10) - 1, &info, NULL),
		 SHELTER_E_EXPIRED);
	CHECK_RC(tee_quote_verify_at(q, size, t, (time_t)strtoll(na, NULL, 10) + 1, &info, NULL),
		 SHELTER_E_EXPIRED);
	CHECK_RC(tee_quote_verify_at(rq, rsize, t, (time_t)strtoll(at, NULL, 10), &info, &err),
		 SHELTER_E_REVOKED);
	CHECK(strstr(err.msg, vec_get(v, n, "revoked_name")) != NULL);
	free(q);
	free(rq);
	shelter_trust_free(t);
}

/* SHELTER_QUOTE_VECTOR=DIR: write DIR/quote.bin, DIR/quote-revoked.bin and
 * DIR/quote.txt from DIR/plat, DIR/plat-revoked and DIR/prov. */
static int make_vectors(const char *dir)
{
	struct shelter_identity id;
	struct shelter_platform_info pinfo;
	struct shelter_quote_info info;
	struct shelter_trust *t;
	struct shelter_tee *tee;
	struct shelter_err err;
	char path[512], plat[512], hex[129];
	uint8_t *q = NULL, rd[64];
	size_t size = 0;
	time_t now = time(NULL);
	FILE *f;

	memset(&id, 0, sizeof(id));
	for (int i = 0; i < 32; i++) {
		id.measurement[i] = (uint8_t)i;
		id.signer[i] = (uint8_t)(0x20 + i);
	}
	for (int i = 0; i < 64; i++)
		rd[i] = (uint8_t)(0x40 + i);
	snprintf(id.product, sizeof(id.product), "vector-product");
	id.version = 3;
	test_join(plat, sizeof(plat), dir, "plat");
	test_join(path, sizeof(path), dir, "prov");
	t = trust_of(path, 1, NULL);
	tee = tee_of(plat, &id);
	if (t == NULL || tee == NULL || shelter_tee_quote(tee, rd, &q, &size, &err) < 0 ||
	    shelter_quote_verify(q, size, t, &info, &err) < 0 ||
	    shelter_platform_info(plat, &pinfo, &err) < 0)
		return fprintf(stderr, "make vectors: %s\n", err.msg), 1;
	shelter_tee_close(tee);
	test_join(path, sizeof(path), dir, "quote.bin");
	if (spit(path, q, size) < 0)
		return 1;
	free(q);
	test_join(path, sizeof(path), dir, "quote.txt");
	f = fopen(path, "w");
	if (f == NULL)
		return 1;
	fprintf(f, "# decoded fields of quote.bin (docs/formats/quote.md §9)\n");
	fprintf(f, "size %zu\ntee %u\nflags %u\n", size, info.id.tee, info.id.flags);
	shelter_hex(info.id.measurement, 32, hex);
	fprintf(f, "measurement %s\n", hex);
	shelter_hex(info.id.signer, 32, hex);
	fprintf(f, "signer %s\nproduct %s\nversion %u\n", hex, info.id.product, info.id.version);
	shelter_hex(info.report_data, 64, hex);
	fprintf(f, "report_data %s\n", hex);
	shelter_hex(info.provider, 32, hex);
	fprintf(f, "provider %s\n", hex);
	shelter_hex(info.platform, 32, hex);
	fprintf(f, "platform %s\nplatform_name %s\n", hex, info.platform_name);
	fprintf(f, "serial %s\nnot_before %lld\nnot_after %lld\nverify_at %lld\n", pinfo.serial,
		(long long)pinfo.not_before, (long long)pinfo.not_after, (long long)now);
	test_join(plat, sizeof(plat), dir, "plat-revoked");
	if (shelter_platform_info(plat, &pinfo, &err) < 0)
		return 1;
	fprintf(f, "revoked_name %s\nrevoked_serial %s\n", pinfo.name, pinfo.serial);
	fclose(f);
	tee = tee_of(plat, &id);
	q = NULL;
	if (tee == NULL || shelter_tee_quote(tee, rd, &q, &size, &err) < 0)
		return 1;
	shelter_tee_close(tee);
	test_join(path, sizeof(path), dir, "quote-revoked.bin");
	if (spit(path, q, size) < 0)
		return 1;
	free(q);
	shelter_trust_free(t);
	return 0;
}

/* ---- concurrency and speed ---- */

struct worker {
	const uint8_t *q;
	size_t size;
	const struct shelter_trust *t;
	int failures;
};

static void *verify_worker(void *arg)
{
	struct worker *w = arg;
	struct shelter_quote_info info;

	for (int i = 0; i < 200; i++) {
		if (shelter_quote_verify(w->q, w->size, w->t, &info, NULL) != 0)
			w->failures++;
	}
	return NULL;
}

static void verify_shared_trust_from_threads(void)
{
	struct shelter_trust *t;
	struct worker w[3];
	pthread_t th[3];
	uint8_t *q = NULL;
	size_t size = 0;

	CHECK_OK(world());
	CHECK_OK(quote_of(g_plat, &g_launch, &q, &size));
	t = trust_of(g_prov, 1, NULL);
	CHECK(t != NULL);
	for (int i = 0; i < 3; i++) {
		w[i] = (struct worker){ .q = q, .size = size, .t = t, .failures = 0 };
		CHECK(pthread_create(&th[i], NULL, verify_worker, &w[i]) == 0);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 3; i++)
		CHECK(w[i].failures == 0);
	free(q);
	shelter_trust_free(t);
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Throughput of one thread, printed for the record (never asserted: timing varies).
 * CPU time is the per-core figure; wall time shows what a loaded machine gave. */
static void verify_throughput(void)
{
	struct shelter_trust *t;
	struct shelter_quote_info info;
	uint8_t *q = NULL;
	size_t size = 0;
	double wall, cpu, secs;
	int n = 0;

	CHECK_OK(world());
	CHECK_OK(quote_of(g_plat, &g_launch, &q, &size));
	t = trust_of(g_prov, 1, NULL);
	CHECK(t != NULL);
	wall = clock_s(CLOCK_MONOTONIC);
	cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);
	do {
		for (int i = 0; i < 50; i++, n++)
			CHECK_OK(shelter_quote_verify(q, size, t, &info, NULL));
		secs = clock_s(CLOCK_MONOTONIC) - wall;
	} while (secs < 1.0);
	cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu;
	printf("INFO test_tee: %d quote verifications: %.0f per CPU-second, %.0f per "
	       "wall-second (one thread, this build)\n", n, n / cpu, n / secs);
	free(q);
	shelter_trust_free(t);
}

int main(void)
{
	const char *vec = getenv("SHELTER_QUOTE_VECTOR");
	const char *tmp = getenv("TMPDIR");

	if (vec != NULL)
		return make_vectors(vec);
	test_binary = "test_tee";
	test_join(root, sizeof(root), tmp ? tmp : "/tmp", "shelter-test-tee-XXXXXX");
	if (mkdtemp(root) == NULL)
		return perror("mkdtemp"), 2;
	launch_identity(&g_launch, 1, 0);

	RUN(open_unknown_backend);
	RUN(open_hardware_unavailable);
	RUN(open_needs_launch_identity);
	RUN(open_rejects_bad_launch_identity);
	RUN(open_uninitialised_platform);
	RUN(open_unenrolled_platform);
	RUN(open_refuses_readable_key);
	RUN(null_arguments);
	RUN(quote_truncated_at_every_length);
	RUN(quote_every_byte_flip_refused);
	RUN(quote_debug_flag_is_signed);
	RUN(quote_round_trip_every_field);
	RUN(quote_unsigned_identity);
	RUN(trust_add_provider_refusals);
	RUN(verify_wrong_provider);
	RUN(verify_needs_a_crl);
	RUN(verify_revoked_and_crl_rollback);
	RUN(verify_kept_chain_checks_time);
	RUN(trust_crl_conflict_and_foreign);
	RUN(trust_crl_without_number);
	RUN(verify_expired_and_not_yet_valid);
	RUN(verify_refuses_certificates_outside_the_profile);
	RUN(verify_refuses_another_key);
	RUN(seal_key_refusals);
	RUN(seal_keys_separate_and_stable);
	RUN(seal_key_matches_the_spec);
	RUN(vector_quote_decodes);
	RUN(verify_shared_trust_from_threads);
	RUN(verify_throughput);

	test_rm_tree(root);
	return test_total_failed ? 1 : 0;
}
