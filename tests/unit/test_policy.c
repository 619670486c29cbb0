/* Unit tests for CAS policies (src/cas/policy.h, docs/policy.md): every example
 * parses and renders, and docs/policy.md shows exactly those files; every
 * strictness rule fails with its exact code and the line and column in the message;
 * the acceptance matrix (§4); rendering (§6): host arguments and environment,
 * placeholders with escapes and every x509 field, limits, and the configuration
 * JSON. Negative cases come first in each group (STYLE.md rule 16).
 *
 * Run from the repository root (tests/run.sh does): the examples are read from
 * docs/examples/policies and docs/policy.md. */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cas/policy.h"
#include "shelter/crypto.h"
#include "../test.h"

#define EXAMPLES "docs/examples/policies"
#define POLICY_MD "docs/policy.md"

/* ---- fixtures ---- */

static char *g_ca;          /* a provider CA (PEM) made at start */
static uint8_t g_ca_id[32]; /* SHA-256 of its SPKI DER, computed independently */
static char *g_ca2;
static uint8_t g_ca2_id[32];
static char *g_leaf;        /* CA:FALSE */
static char *g_ca_no_ku;    /* CA:TRUE but keyUsage without keyCertSign */
static unsigned g_ca_lines; /* lines of g_ca: a signature's DER size varies */

static const char *M1 = "1111111111111111111111111111111111111111111111111111111111111111";
static const char *M2 = "2222222222222222222222222222222222222222222222222222222222222222";
static const char *S1 = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
static const char *S2 = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A self-signed P-256 certificate; id_out gets SHA-256 of the SPKI DER. */
static char *make_cert(const char *cn, const char *bc, const char *ku, uint8_t id_out[32])
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	BIO *bio = BIO_new(BIO_s_mem());
	unsigned char *der = NULL;
	char *pem = NULL, *data;
	long len;
	int der_size;

	if (key == NULL || x == NULL || bio == NULL)
		exit(2);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	if (!add_ext(x, NID_basic_constraints, bc) || (ku != NULL && !add_ext(x, NID_key_usage, ku)) ||
	    X509_sign(x, key, EVP_sha256()) <= 0 || PEM_write_bio_X509(bio, x) != 1)
		exit(2);
	len = BIO_get_mem_data(bio, &data);
	pem = calloc(1, (size_t)len + 1);
	memcpy(pem, data, (size_t)len);
	der_size = i2d_PUBKEY(key, &der);
	if (der_size <= 0)
		exit(2);
	if (id_out != NULL)
		SHA256(der, (size_t)der_size, id_out);
	OPENSSL_free(der);
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(key);
	return pem;
}

static void setup(void)
{
	g_ca = make_cert("test CA", "critical,CA:TRUE", "critical,keyCertSign,cRLSign", g_ca_id);
	g_ca2 = make_cert("test CA 2", "critical,CA:TRUE", NULL, g_ca2_id);
	g_leaf = make_cert("leaf", "critical,CA:FALSE", "critical,digitalSignature", NULL);
	g_ca_no_ku = make_cert("odd CA", "critical,CA:TRUE", "critical,digitalSignature", NULL);
	for (const char *c = g_ca; *c != '\0'; c++)
		g_ca_lines += *c == '\n';
}

static void teardown(void)
{
	free(g_ca);
	free(g_ca2);
	free(g_leaf);
	free(g_ca_no_ku);
}

/* Grow-only string builder. */
struct sb {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (b->s == NULL)
			exit(2);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_addf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(struct sb *b, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		exit(2);
	sb_add(b, buf, (size_t)n);
}

/* pem indented by `indent` spaces, one line each */
static void sb_pem(struct sb *b, const char *pem, int indent)
{
	while (*pem != '\0') {
		const char *nl = strchr(pem, '\n');
		size_t n = nl != NULL ? (size_t)(nl - pem) + 1 : strlen(pem);

		sb_addf(b, "%*s", indent, "");
		sb_add(b, pem, n);
		pem += n;
	}
}

/* Expand a test document: each line "%CA%" (or %CA2%, %LEAF%, %CANOKU%) becomes the
 * matching PEM indented by 8 spaces, and "%ACCEPT%" a valid accept section that
 * accepts M1 from g_ca (it goes last, so lines above keep their numbers). */
static char *doc(const char *tmpl)
{
	struct sb b = { 0 };

	sb_add(&b, "", 0);
	while (*tmpl != '\0') {
		const char *nl = strchr(tmpl, '\n');
		size_t n = nl != NULL ? (size_t)(nl - tmpl) + 1 : strlen(tmpl);

		if (strncmp(tmpl, "%CA%", 4) == 0) {
			sb_pem(&b, g_ca, 8);
		} else if (strncmp(tmpl, "%CA2%", 5) == 0) {
			sb_pem(&b, g_ca2, 8);
		} else if (strncmp(tmpl, "%LEAF%", 6) == 0) {
			sb_pem(&b, g_leaf, 8);
		} else if (strncmp(tmpl, "%CANOKU%", 8) == 0) {
			sb_pem(&b, g_ca_no_ku, 8);
		} else if (strncmp(tmpl, "%ACCEPT%", 8) == 0) {
			sb_addf(&b, "accept:\n  measurements: [%s]\n  providers:\n"
				    "    - name: p1\n      ca: |\n", M1);
			sb_pem(&b, g_ca, 8);
		} else {
			sb_add(&b, tmpl, n);
		}
		tmpl += n;
	}
	return b.s;
}

static int parse_doc(const char *tmpl, struct cas_policy **p, struct shelter_err *err)
{
	char *yaml = doc(tmpl);
	int rc;

	shelter_err_clear(err);
	rc = cas_policy_parse(yaml, strlen(yaml), p, err);
	free(yaml);
	return rc;
}

/* 1 when parsing tmpl fails with code, "policy line L col C:" and containing what. */
static int refused(const char *tmpl, int code, unsigned line, unsigned col, const char *what)
{
	struct cas_policy *p = (struct cas_policy *)&p; /* must be reset to NULL */
	struct shelter_err err;
	char where[64];
	int rc = parse_doc(tmpl, &p, &err);

	snprintf(where, sizeof(where), "policy line %u col %u: ", line, col);
	if (rc != code || p != NULL || err.code != code || strncmp(err.msg, where, strlen(where)) != 0 ||
	    strstr(err.msg, what) == NULL) {
		fprintf(stderr, "  got %d (%s) \"%s\"\n  want %d, \"%s...%s\"\n", rc,
			shelter_code_str(rc), err.msg, code, where, what);
		if (rc == 0)
			cas_policy_free(p);
		return 0;
	}
	return 1;
}

/* Same, for errors that have no position (size limit, empty document). */
static int refused_nopos(const char *yaml, size_t size, int code, const char *what)
{
	struct cas_policy *p = NULL;
	struct shelter_err err;
	int rc;

	shelter_err_clear(&err);
	rc = cas_policy_parse(yaml, size, &p, &err);
	if (rc != code || p != NULL || strstr(err.msg, what) == NULL) {
		fprintf(stderr, "  got %d (%s) \"%s\", want %d \"%s\"\n", rc, shelter_code_str(rc),
			err.msg, code, what);
		cas_policy_free(p);
		return 0;
	}
	return 1;
}

static char *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = calloc(1, (size_t)n + 1)) != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf != NULL)
		*size = (size_t)n;
	fclose(f);
	return buf;
}

/* ---- a fake secret store for render ---- */

struct fake {
	const struct cas_policy *p;
	int calls[CAS_POLICY_MAX_SECRETS][CAS_FIELD_COUNT];
	int fail;           /* return this code */
	const char *nul_in; /* secret whose values contain a NUL byte */
	size_t big;         /* when non-zero, every value is this many 'x' */
};

/* "<NAME.FIELD>" (or the configured variants), malloc'd */
static int fake_lookup(void *ctx, const struct cas_secret_spec *s, enum cas_secret_field field,
		       uint8_t **out, size_t *size, struct shelter_err *err)
{
	struct fake *f = ctx;
	char buf[200];
	size_t i, n;

	for (i = 0; i < cas_policy_secret_count(f->p); i++) {
		if (cas_policy_secret(f->p, i) == s)
			break;
	}
	if (i == cas_policy_secret_count(f->p))
		return shelter_err_set(err, SHELTER_E_INTERNAL, "lookup: spec not from the policy");
	f->calls[i][field]++;
	if (f->fail != 0)
		return shelter_err_set(err, f->fail, "store unavailable");
	if (f->big > 0) {
		*out = malloc(f->big);
		memset(*out, 'x', f->big);
		*size = f->big;
		return 0;
	}
	n = (size_t)snprintf(buf, sizeof(buf), "<%s.%s>", s->name, cas_secret_field_name(field));
	if (f->nul_in != NULL && strcmp(f->nul_in, s->name) == 0)
		buf[1] = '\0';
	*out = malloc(n);
	memcpy(*out, buf, n);
	*size = n;
	return 0;
}

static int render(const struct cas_policy *p, const char *const *args, size_t n,
		  const char *const *env, size_t m, struct fake *f, struct cas_launch **out,
		  struct shelter_err *err)
{
	memset(f->calls, 0, sizeof(f->calls));
	f->p = p;
	shelter_err_clear(err);
	return cas_policy_render(p, args, n, env, m, fake_lookup, f, out, err);
}

static const char *env_get(const struct cas_launch *l, const char *name)
{
	for (size_t i = 0; i < l->env_count; i++) {
		if (strcmp(l->env[i].name, name) == 0)
			return l->env[i].value;
	}
	return NULL;
}

static const struct cas_launch_file *file_get(const struct cas_launch *l, const char *path)
{
	for (size_t i = 0; i < l->files_count; i++) {
		if (strcmp(l->files[i].path, path) == 0)
			return &l->files[i];
	}
	return NULL;
}

/* ---- YAML-level strictness (§2) ---- */

static void refuses_yaml_syntax(void)
{
	CHECK(refused("name: t\naccept: [unclosed\n", SHELTER_E_MALFORMED, 3, 1,
		      "did not find expected"));
	CHECK(refused("name: t\n  bad: indent\n", SHELTER_E_MALFORMED, 2, 6, "mapping values"));
}

static void refuses_invalid_utf8(void)
{
	CHECK(refused("name: t\nx: \"a\xff\"\n", SHELTER_E_MALFORMED, 2, 6, "invalid"));
}

static void refuses_anchors_and_aliases(void)
{
	/* the billion-laughs shape: refused at the first anchor, nothing expands */
	CHECK(refused("name: t\nlol: &a [x, x, x]\nlol2: [*a, *a, *a]\n", SHELTER_E_MALFORMED, 2,
		      6, "anchors (&) are not allowed"));
	CHECK(refused("name: t\nlol: *a\n", SHELTER_E_MALFORMED, 2, 6,
		      "aliases (*) are not allowed"));
}

static void refuses_tags(void)
{
	CHECK(refused("name: !!str t\n", SHELTER_E_MALFORMED, 1, 7, "tags (!) are not allowed"));
	CHECK(refused("name: t\naccept: !custom {}\n", SHELTER_E_MALFORMED, 2, 9,
		      "tags (!) are not allowed"));
	CHECK(refused("%TAG !e! tag:example.com,2000:\n---\nname: t\n", SHELTER_E_MALFORMED, 1, 1,
		      "%TAG directives are not allowed"));
}

static void refuses_second_document(void)
{
	CHECK(refused("name: t\n---\nname: u\n", SHELTER_E_MALFORMED, 2, 1,
		      "more than one document"));
	CHECK(refused("---\nname: t\n...\n---\nname: u\n", SHELTER_E_MALFORMED, 4, 1,
		      "more than one document"));
}

static void refuses_duplicate_keys(void)
{
	CHECK(refused("name: t\nsecrets: []\nname: u\n", SHELTER_E_MALFORMED, 3, 1,
		      "duplicate key 'name' (first at line 1)"));
	CHECK(refused("name: t\nlaunch:\n  env: {A: x, \"A\": y}\n", SHELTER_E_MALFORMED, 3, 15,
		      "duplicate key 'A'"));
}

static void refuses_complex_keys(void)
{
	CHECK(refused("name: t\n? [a, b]\n: c\n", SHELTER_E_MALFORMED, 2, 3,
		      "mapping keys must be strings"));
}

static void refuses_nul_in_value(void)
{
	CHECK(refused("name: \"a\\0b\"\n", SHELTER_E_MALFORMED, 1, 7, "NUL byte"));
}

static void refuses_over_limits(void)
{
	struct sb b = { 0 };
	char *big;

	/* document size */
	big = malloc(CAS_POLICY_MAX_SIZE + 1);
	memset(big, '#', CAS_POLICY_MAX_SIZE + 1);
	CHECK(refused_nopos(big, CAS_POLICY_MAX_SIZE + 1, SHELTER_E_MALFORMED,
			    "more than the limit of 262144"));
	free(big);
	/* one value */
	sb_add(&b, "name: t\nx: ", 11);
	for (size_t i = 0; i <= CAS_POLICY_MAX_SCALAR; i++)
		sb_add(&b, "a", 1);
	sb_add(&b, "\n", 1);
	CHECK(refused(b.s, SHELTER_E_MALFORMED, 2, 4, "value of 65537 bytes, more than 65536"));
	free(b.s);
	/* nesting */
	CHECK(refused("name: t\nx: [[[[[[[[1]]]]]]]]\n", SHELTER_E_MALFORMED, 2, 11,
		      "nested deeper than 8 levels"));
	/* entries of one collection: 257 secrets */
	memset(&b, 0, sizeof(b));
	sb_add(&b, "name: t\nsecrets:\n", 17);
	for (int i = 0; i <= CAS_POLICY_MAX_ITEMS; i++)
		sb_addf(&b, "  - {name: s%d, kind: random}\n", i);
	CHECK(refused(b.s, SHELTER_E_MALFORMED, 259, 5, "more than 256 entries in one sequence"));
	free(b.s);
}

static void refuses_empty(void)
{
	CHECK(refused_nopos("", 0, SHELTER_E_INVAL, "empty document"));
	CHECK(refused_nopos("# only a comment\n", 17, SHELTER_E_INVAL, "empty document"));
	CHECK(refused("- a\n- b\n", SHELTER_E_INVAL, 1, 1, "policy: expected a mapping"));
}

/* ---- schema strictness (§3-§7) ---- */

static void refuses_unknown_keys(void)
{
	CHECK(refused("name: t\nnmae: u\n%ACCEPT%", SHELTER_E_INVAL, 2, 1,
		      "policy: unknown key 'nmae' (expected name, accept, secrets, launch, volumes)"));
	CHECK(refused("name: t\naccept:\n  allow_simm: true\n", SHELTER_E_INVAL, 3, 3,
		      "accept: unknown key 'allow_simm'"));
	CHECK(refused("name: t\nsecrets:\n  - name: k\n    kind: x509\n    common_name: a\n"
		      "    size: 3\n%ACCEPT%", SHELTER_E_INVAL, 6, 5,
		      "secret 'k' (kind x509): unknown key 'size'"));
	CHECK(refused("name: t\nlaunch:\n  argz: [a]\n%ACCEPT%", SHELTER_E_INVAL, 3, 3,
		      "launch: unknown key 'argz'"));
}

static void refuses_missing_keys(void)
{
	CHECK(refused("%ACCEPT%", SHELTER_E_INVAL, 1, 1, "policy: missing key 'name'"));
	CHECK(refused("name: t\n", SHELTER_E_INVAL, 1, 1, "policy: missing key 'accept'"));
	CHECK(refused("name: t\naccept:\n  measurements: []\n  providers: []\n", SHELTER_E_INVAL,
		      3, 3, "accept: needs at least one measurement or signer"));
	CHECK(refused("name: t\naccept:\n  measurements: [" "1111111111111111111111111111111111111111111111111111111111111111" "]\n",
		      SHELTER_E_INVAL, 3, 3, "accept: missing key 'providers'"));
	CHECK(refused("name: t\naccept:\n  providers: []\n  measurements:\n    - "
		      "1111111111111111111111111111111111111111111111111111111111111111\n",
		      SHELTER_E_INVAL, 3, 14, "accept.providers: expected 1 to 16 providers"));
	CHECK(refused("name: t\naccept:\n  signers:\n    - signer: "
		      "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1\n"
		      "      product: redis\n", SHELTER_E_INVAL, 4, 7,
		      "accept.signers[0]: missing key 'min_version'"));
}

static void refuses_wrong_types(void)
{
	CHECK(refused("name: [t]\n%ACCEPT%", SHELTER_E_INVAL, 1, 7,
		      "name: expected a string, got a sequence"));
	CHECK(refused("name: t\naccept: []\n", SHELTER_E_INVAL, 2, 9,
		      "accept: expected a mapping, got a sequence"));
	CHECK(refused("name: t\naccept:\n  allow_sim: yes\n  measurements: [" "1111111111111111111111111111111111111111111111111111111111111111" "]\n"
		      "  providers:\n    - name: p\n      ca: |\n%CA%", SHELTER_E_INVAL, 3, 14,
		      "accept.allow_sim: expected true or false"));
	CHECK(refused("name: t\naccept:\n  allow_debug: \"true\"\n  measurements: [" "1111111111111111111111111111111111111111111111111111111111111111" "]\n"
		      "  providers:\n    - name: p\n      ca: |\n%CA%", SHELTER_E_INVAL, 3, 16,
		      "accept.allow_debug: expected true or false"));
	CHECK(refused("name: t\nsecrets:\n  - {name: r, kind: random, size: \"32\"}\n%ACCEPT%",
		      SHELTER_E_INVAL, 3, 35, "secret 'r'.size: expected an unquoted integer 1 to 4096"));
	CHECK(refused("name: t\nsecrets:\n  - {name: r, kind: random, size: 0x20}\n%ACCEPT%",
		      SHELTER_E_INVAL, 3, 35, "expected an unquoted integer"));
	CHECK(refused("name: t\nsecrets:\n  - {name: r, kind: random, size: 032}\n%ACCEPT%",
		      SHELTER_E_INVAL, 3, 35, "expected an unquoted integer"));
	/* unquoted YAML null and booleans are not strings (§2.2) */
	CHECK(refused("name: t\nlaunch:\n  env: {DEBUG: yes}\n%ACCEPT%", SHELTER_E_INVAL, 3, 16,
		      "launch.env.DEBUG: expected a string, got an unquoted boolean"));
	CHECK(refused("name: t\nlaunch:\n  args: [a, ~]\n%ACCEPT%", SHELTER_E_INVAL, 3, 13,
		      "launch.args[1]: expected a string, got an unquoted null"));
	CHECK(refused("name: t\nlaunch:\n  env:\n    EMPTY:\n%ACCEPT%", SHELTER_E_INVAL, 4, 11,
		      "got an unquoted null"));
}

static void refuses_bad_values(void)
{
	CHECK(refused("name: -t\n%ACCEPT%", SHELTER_E_INVAL, 1, 7, "name: a name is 1 to 63"));
	CHECK(refused("name: a/b\n%ACCEPT%", SHELTER_E_INVAL, 1, 7, "name: a name is"));
	CHECK(refused("name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n%ACCEPT%",
		      SHELTER_E_INVAL, 1, 7, "name: length 64, expected 1 to 63"));
	CHECK(refused("name: t\naccept:\n  measurements: [abc]\n", SHELTER_E_INVAL, 3, 18,
		      "accept.measurements[0]: expected 64 hex digits"));
	CHECK(refused("name: t\naccept:\n  measurements:\n    - "
		      "111111111111111111111111111111111111111111111111111111111111111g\n",
		      SHELTER_E_INVAL, 4, 7, "expected 64 hex digits"));
	CHECK(refused("name: t\naccept:\n  measurements:\n"
		      "    - 1111111111111111111111111111111111111111111111111111111111111111\n"
		      "    - 1111111111111111111111111111111111111111111111111111111111111111\n",
		      SHELTER_E_INVAL, 5, 7, "accept.measurements[1]: duplicate measurement"));
	CHECK(refused("name: t\naccept:\n  signers:\n    - signer: "
		      "0000000000000000000000000000000000000000000000000000000000000000\n"
		      "      product: redis\n      min_version: 1\n", SHELTER_E_INVAL, 4, 15,
		      "the all-zero signer means unsigned"));
	CHECK(refused("name: t\naccept:\n  signers:\n    - signer: "
		      "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1\n"
		      "      product: redis\n      min_version: -1\n", SHELTER_E_INVAL, 6, 20,
		      "min_version: expected an unquoted integer 0 to 4294967295"));
	CHECK(refused("name: t\naccept:\n  signers:\n    - signer: "
		      "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1\n"
		      "      product: redis\n      min_version: 4294967296\n", SHELTER_E_INVAL, 6,
		      20, "expected an unquoted integer"));
}

static void refuses_bad_provider_ca(void)
{
	CHECK(refused("name: t\naccept:\n  measurements: [" "1111111111111111111111111111111111111111111111111111111111111111" "]\n"
		      "  providers:\n    - name: p\n      ca: not a certificate\n", SHELTER_E_INVAL,
		      6, 11, "accept.providers[0].ca: expected a PEM certificate"));
	CHECK(refused("name: t\naccept:\n  measurements: [" "1111111111111111111111111111111111111111111111111111111111111111" "]\n"
		      "  providers:\n    - name: p\n      ca: |\n        -----BEGIN CERTIFICATE-----\n"
		      "        AAAA\n        -----END CERTIFICATE-----\n", SHELTER_E_INVAL, 6, 11,
		      "not a valid PEM certificate"));
	CHECK(refused("name: t\naccept:\n  measurements: [" "1111111111111111111111111111111111111111111111111111111111111111" "]\n"
		      "  providers:\n    - name: p\n      ca: |\n%LEAF%", SHELTER_E_INVAL, 6, 11,
		      "not a CA certificate (basicConstraints CA:TRUE missing)"));
	CHECK(refused("name: t\naccept:\n  measurements: [" "1111111111111111111111111111111111111111111111111111111111111111" "]\n"
		      "  providers:\n    - name: p\n      ca: |\n%CANOKU%", SHELTER_E_INVAL, 6, 11,
		      "without keyCertSign"));
	CHECK(refused("name: t\naccept:\n  measurements: [" "1111111111111111111111111111111111111111111111111111111111111111" "]\n"
		      "  providers:\n    - name: p\n      ca: |\n%CA%\n%CA2%", SHELTER_E_INVAL, 6, 11,
		      "text after the certificate"));
	CHECK(refused("name: t\naccept:\n  measurements: [" "1111111111111111111111111111111111111111111111111111111111111111" "]\n"
		      "  providers:\n    - name: p\n      ca: |\n%CA%\n    - name: p\n      ca: |\n%CA2%",
		      SHELTER_E_INVAL, 7 + g_ca_lines, 7, "accept.providers[1]: duplicate provider name 'p'"));
	CHECK(refused("name: t\naccept:\n  measurements: [" "1111111111111111111111111111111111111111111111111111111111111111" "]\n"
		      "  providers:\n    - name: p\n      ca: |\n%CA%\n    - name: q\n      ca: |\n%CA%",
		      SHELTER_E_INVAL, 7 + g_ca_lines, 7, "same CA key as provider 'p'"));
}

static void refuses_bad_secrets(void)
{
	CHECK(refused("name: t\nsecrets:\n  - {name: a.b, kind: random}\n%ACCEPT%", SHELTER_E_INVAL,
		      3, 12, "secrets[0].name: a secret name is"));
	CHECK(refused("name: t\nsecrets:\n  - {name: k, kind: rsa}\n%ACCEPT%", SHELTER_E_INVAL, 3,
		      21, "secret 'k'.kind: unknown kind 'rsa'"));
	CHECK(refused("name: t\nsecrets:\n  - {name: k, kind: random}\n  - {name: k, kind: password}\n"
		      "%ACCEPT%", SHELTER_E_INVAL, 4, 5, "secrets[1]: duplicate secret name 'k'"));
	CHECK(refused("name: t\nsecrets:\n  - {name: k, kind: password, size: 7}\n%ACCEPT%",
		      SHELTER_E_INVAL, 3, 37, "expected an unquoted integer 8 to 1024"));
	CHECK(refused("name: t\nsecrets:\n  - {name: k, kind: random, size: 4097}\n%ACCEPT%",
		      SHELTER_E_INVAL, 3, 35, "1 to 4096"));
	CHECK(refused("name: t\nsecrets:\n  - {name: k, kind: value}\n%ACCEPT%", SHELTER_E_INVAL,
		      3, 5, "secret 'k': missing key 'value'"));
	CHECK(refused("name: t\nsecrets:\n  - {name: k, kind: x509}\n%ACCEPT%", SHELTER_E_INVAL,
		      3, 5, "secret 'k': missing key 'common_name'"));
	CHECK(refused("name: t\nsecrets:\n  - {name: k, kind: x509, common_name: a, dns: [a..b]}\n"
		      "%ACCEPT%", SHELTER_E_INVAL, 3, 49, "secret 'k'.dns[0]: not a DNS name"));
	CHECK(refused("name: t\nsecrets:\n  - {name: k, kind: x509, common_name: a, dns: [-a.b]}\n"
		      "%ACCEPT%", SHELTER_E_INVAL, 3, 49, "not a DNS name"));
	CHECK(refused("name: t\nsecrets:\n  - {name: k, kind: x509, common_name: a, ip: [1.2.3]}\n"
		      "%ACCEPT%", SHELTER_E_INVAL, 3, 48, "secret 'k'.ip[0]: not an IPv4 or IPv6"));
	CHECK(refused("name: t\nsecrets:\n  - {name: k, kind: x509, common_name: a, days: 3651}\n"
		      "%ACCEPT%", SHELTER_E_INVAL, 3, 49, "secret 'k'.days: expected an unquoted "
		      "integer 1 to 3650"));
}

static void refuses_bad_launch(void)
{
	CHECK(refused("name: t\nlaunch:\n  env: {1A: x}\n%ACCEPT%", SHELTER_E_INVAL, 3, 9,
		      "launch.env: '1A' is not an environment name"));
	CHECK(refused("name: t\nlaunch:\n  host_env: [TZ, TZ]\n%ACCEPT%", SHELTER_E_INVAL, 3, 18,
		      "launch.host_env[1]: duplicate name 'TZ'"));
	CHECK(refused("name: t\nlaunch:\n  host_env: [A=B]\n%ACCEPT%", SHELTER_E_INVAL, 3, 14,
		      "not an environment name"));
	CHECK(refused("name: t\nlaunch:\n  files: {etc/x: a}\n%ACCEPT%", SHELTER_E_INVAL, 3, 11,
		      "launch.files: a path must be absolute and normalised"));
	CHECK(refused("name: t\nlaunch:\n  files: {/etc/../x: a}\n%ACCEPT%", SHELTER_E_INVAL, 3, 11,
		      "a path must be absolute"));
	CHECK(refused("name: t\nlaunch:\n  files: {/etc//x: a}\n%ACCEPT%", SHELTER_E_INVAL, 3, 11,
		      "a path must be absolute"));
	CHECK(refused("name: t\nlaunch:\n  files: {/etc/x/: a}\n%ACCEPT%", SHELTER_E_INVAL, 3, 11,
		      "a path must be absolute"));
	CHECK(refused("name: t\nlaunch:\n  files: {/etc/./x: a}\n%ACCEPT%", SHELTER_E_INVAL, 3, 11,
		      "a path must be absolute"));
	CHECK(refused("name: t\nlaunch:\n  files: {/etc/x: a, /etc/x/y: b}\n%ACCEPT%",
		      SHELTER_E_INVAL, 3, 22, "a file cannot lie under another file"));
	CHECK(refused("name: t\nlaunch:\n  host_args: 1\n%ACCEPT%", SHELTER_E_INVAL, 3, 14,
		      "launch.host_args: expected true or false"));
}

static void refuses_bad_volumes(void)
{
	CHECK(refused("name: t\nvolumes:\n  - {name: d, path: /}\n%ACCEPT%", SHELTER_E_INVAL, 3,
		      21, "volumes[0].path: a path must be absolute"));
	CHECK(refused("name: t\nvolumes:\n  - {name: d, path: /a}\n  - {name: d, path: /b}\n"
		      "%ACCEPT%", SHELTER_E_INVAL, 4, 5, "volumes[1]: duplicate volume name 'd'"));
	CHECK(refused("name: t\nvolumes:\n  - {name: d, path: /a/b}\n  - {name: e, path: /a}\n"
		      "%ACCEPT%", SHELTER_E_INVAL, 4, 5, "volumes[1]: path overlaps volume 'd'"));
	CHECK(refused("name: t\nvolumes:\n  - {name: d}\n%ACCEPT%", SHELTER_E_INVAL, 3, 5,
		      "volumes[0]: missing key 'path'"));
}

static void refuses_bad_placeholders(void)
{
	const char *head = "name: t\nsecrets:\n  - {name: pw, kind: password}\n"
			   "  - {name: k, kind: ed25519}\n  - {name: tls, kind: x509, common_name: a}\n"
			   "launch:\n";
	char buf[512];

#define PH(line, col, what)                                                                  \
	do {                                                                                 \
		snprintf(buf, sizeof(buf), "%s%s\n%%ACCEPT%%", head, line);                  \
		CHECK(refused(buf, SHELTER_E_INVAL, 7, col, what));                          \
	} while (0)
	PH("  args: [\"{{nope}}\"]", 10, "launch.args[0]: placeholder {{nope}}: unknown secret 'nope'");
	PH("  args: [\"{{pw.hex}}\"]", 10, "a password secret has no field 'hex' (fields: value)");
	PH("  env: {A: \"{{k}}\"}", 12, "placeholder {{k}}: a ed25519 secret needs a field: "
	   "private_pem, public_pem, public_hex");
	PH("  env: {A: \"{{tls}}\"}", 12, "needs a field: cert, key, ca, chain");
	PH("  files: {/x: \"abc {{pw\"}", 15, "launch.files./x: byte 4: '{{' without '}}'");
	PH("  args: [\"{{ pw }}\"]", 10, "byte 0: '{{' must start a placeholder");
	PH("  args: [\"{{pw.}}\"]", 10, "empty or overlong placeholder name");
	PH("  args: [\"{{}}\"]", 10, "empty or overlong placeholder name");
	PH("  args: [\"{{{pw}}\"]", 10, "'{{' must start a placeholder");
	PH("  args: [\"{{tls.cert.x}}\"]", 10, "'{{' must start a placeholder");
#undef PH
}

/* §9: a message names keys and positions, never a value that may be a secret */
static void errors_never_echo_values(void)
{
	struct cas_policy *p = NULL;
	struct shelter_err err;

	CHECK_RC(parse_doc("name: t\nsecrets:\n  - {name: k, kind: random, value: hunter2}\n%ACCEPT%",
			   &p, &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "unknown key 'value'") != NULL);
	CHECK(strstr(err.msg, "hunter2") == NULL);
	CHECK_RC(parse_doc("name: t\nlaunch:\n  args: [\"{{hunter2 x}}\"]\n%ACCEPT%", &p, &err),
		 SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "hunter2") == NULL);
	CHECK_RC(parse_doc("name: t\nsecrets:\n  - {name: k, kind: \"hunter 2\"}\n%ACCEPT%", &p,
			   &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "hunter") == NULL);
	CHECK(strstr(err.msg, "unknown kind '(value)'") != NULL);
	CHECK_RC(parse_doc("name: t\n\"hunter2 x\": 1\n%ACCEPT%", &p, &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "hunter2") == NULL);
	CHECK(p == NULL);
}

/* ---- the examples, and docs/policy.md showing exactly them ---- */

static int render_ok(const struct cas_policy *p)
{
	static const char *const args[] = { "/bin/prog", "--extra" };
	static const char *const env[] = { "TZ=UTC", "LANG=C" };
	struct fake f = { 0 };
	struct shelter_err err;
	struct cas_launch *l = NULL;
	json_t *j = NULL;
	int ok;

	ok = render(p, args, 2, env, 2, &f, &l, &err) == 0 && cas_launch_to_json(l, &j, &err) == 0;
	if (!ok)
		fprintf(stderr, "  render: %s\n", err.msg);
	json_decref(j);
	cas_launch_free(l);
	return ok;
}

static void examples_parse_and_render(void)
{
	DIR *d = opendir(EXAMPLES);
	struct dirent *e;
	int count = 0, ok = 1;

	CHECK(d != NULL);
	while ((e = readdir(d)) != NULL) {
		struct cas_policy *p = NULL;
		struct shelter_err err;
		char path[512];
		size_t size = 0;
		char *yaml;
		size_t len = strlen(e->d_name);

		if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", EXAMPLES, e->d_name);
		yaml = read_file(path, &size);
		if (yaml == NULL || cas_policy_parse(yaml, size, &p, &err) != 0) {
			fprintf(stderr, "  %s: %s\n", path, yaml ? err.msg : "unreadable");
			ok = 0;
		} else if (!render_ok(p)) {
			fprintf(stderr, "  %s: render failed\n", path);
			ok = 0;
		}
		cas_policy_free(p);
		free(yaml);
		count++;
	}
	closedir(d);
	CHECK(ok);
	CHECK(count >= 3);
}

static void example_redis(void)
{
	static const char *const args[] = { "/usr/bin/redis-server", "--port", "1" };
	static const char *const env[] = { "TZ=Europe/Zurich", "PATH=/evil" };
	struct cas_policy *p = NULL;
	struct cas_launch *l = NULL;
	struct shelter_err err;
	struct fake f = { 0 };
	const struct cas_launch_file *conf;
	size_t size;
	char *yaml = read_file(EXAMPLES "/redis.yaml", &size);

	CHECK(yaml != NULL);
	CHECK_OK(cas_policy_parse(yaml, size, &p, &err));
	free(yaml);
	CHECK(strcmp(cas_policy_name(p), "redis-prod") == 0);
	CHECK(cas_policy_secret_count(p) == 1);
	CHECK(cas_policy_secret(p, 0)->kind == CAS_SECRET_PASSWORD);
	CHECK(cas_policy_secret(p, 0)->size == 32);
	CHECK(cas_policy_secret_fields(p, 0) == CAS_FIELD_BIT(CAS_FIELD_VALUE));
	CHECK(cas_policy_volume_count(p) == 1);
	CHECK(strcmp(cas_policy_volume(p, 0)->path, "/var/lib/redis") == 0);
	CHECK_OK(render(p, args, 3, env, 2, &f, &l, &err));
	CHECK(l->args_count == 2 && strcmp(l->args[0], "redis-server") == 0);
	CHECK(l->env_count == 1 && strcmp(env_get(l, "TZ"), "Europe/Zurich") == 0);
	conf = file_get(l, "/etc/redis/redis.conf");
	CHECK(conf != NULL);
	CHECK(strstr((const char *)conf->data, "requirepass <redis_password.value>\n") != NULL);
	cas_launch_free(l);
	cas_policy_free(p);
}

static void example_nginx(void)
{
	struct cas_policy *p = NULL;
	struct cas_launch *l = NULL;
	struct shelter_err err;
	struct fake f = { 0 };
	const struct cas_secret_spec *tls;
	size_t size;
	char *yaml = read_file(EXAMPLES "/nginx.yaml", &size);

	CHECK(yaml != NULL);
	CHECK_OK(cas_policy_parse(yaml, size, &p, &err));
	free(yaml);
	tls = cas_policy_secret_find(p, "tls");
	CHECK(tls != NULL && tls->kind == CAS_SECRET_X509);
	CHECK(strcmp(tls->common_name, "www.example.com") == 0 && tls->days == 90);
	CHECK(tls->dns_count == 2 && strcmp(tls->dns[1], "example.com") == 0);
	CHECK(tls->ip_count == 2 && strcmp(tls->ip[1], "::1") == 0);
	CHECK(cas_policy_secret_fields(p, 0) ==
	      (CAS_FIELD_BIT(CAS_FIELD_CHAIN) | CAS_FIELD_BIT(CAS_FIELD_KEY)));
	CHECK_OK(render(p, NULL, 0, NULL, 0, &f, &l, &err));
	CHECK(strcmp((const char *)file_get(l, "/etc/nginx/tls/server.crt")->data,
		     "<tls.chain>") == 0);
	CHECK(strcmp(l->args[4], "daemon off;") == 0);
	cas_launch_free(l);
	cas_policy_free(p);
}

static void example_signed(void)
{
	struct cas_policy *p = NULL;
	struct cas_launch *l = NULL;
	struct shelter_err err;
	struct fake f = { 0 };
	static const char *const args[] = { "/usr/bin/billing-api", "--log-level", "debug" };
	size_t size;
	char *yaml = read_file(EXAMPLES "/signed-api.yaml", &size);

	CHECK(yaml != NULL);
	CHECK_OK(cas_policy_parse(yaml, size, &p, &err));
	free(yaml);
	CHECK(cas_policy_provider_count(p) == 2);
	CHECK(cas_policy_secret(p, 2)->kind == CAS_SECRET_VALUE);
	CHECK_OK(render(p, args, 3, NULL, 0, &f, &l, &err));
	CHECK(l->args_count == 5 && strcmp(l->args[3], "--log-level") == 0);
	CHECK(strcmp(env_get(l, "BANNER"), "templates use {{ and }} literally") == 0);
	CHECK(strcmp(env_get(l, "SESSION_SECRET"), "<session_secret.base64>") == 0);
	cas_launch_free(l);
	cas_policy_free(p);
}

/* Each example file appears verbatim as a ```yaml block of docs/policy.md, and
 * every complete policy shown there (a block with top-level name: and accept:) is
 * one of the files, so the reference cannot drift from what is tested. A block
 * that starts with "# sketch" is a schema outline, exempt by its own label. */
static void policy_md_shows_the_examples(void)
{
	const char *names[] = { "redis.yaml", "nginx.yaml", "signed-api.yaml" };
	char *files[3] = { NULL, NULL, NULL };
	size_t md_size = 0, sizes[3], blocks = 0, full = 0;
	int shown[3] = { 0, 0, 0 }, ok = 1;
	char *md = read_file(POLICY_MD, &md_size);
	char *at;

	CHECK(md != NULL);
	for (int i = 0; i < 3; i++) {
		char path[256];

		snprintf(path, sizeof(path), "%s/%s", EXAMPLES, names[i]);
		files[i] = read_file(path, &sizes[i]);
		if (files[i] == NULL)
			ok = 0;
	}
	for (at = md; ok && (at = strstr(at, "\n```yaml\n")) != NULL;) {
		char *body = at + 9, *end = strstr(body, "\n```\n");
		size_t len;
		int match = -1;

		if (end == NULL) {
			ok = 0;
			break;
		}
		len = (size_t)(end - body) + 1; /* with the last newline */
		for (int i = 0; i < 3; i++) {
			if (sizes[i] == len && memcmp(files[i], body, len) == 0)
				match = i;
		}
		if (match >= 0)
			shown[match] = 1;
		end[1] = '\0'; /* look inside this block only; restored below */
		if (strncmp(body, "# sketch", 8) != 0 &&
		    (strncmp(body, "name:", 5) == 0 || strstr(body, "\nname:") != NULL) &&
		    strstr(body, "\naccept:") != NULL) {
			full++;
			if (match < 0) {
				fprintf(stderr, "  a complete policy in %s is not an example file: "
					"%.60s...\n", POLICY_MD, body);
				ok = 0;
			}
		}
		end[1] = '`';
		blocks++;
		at = end + 1;
	}
	for (int i = 0; i < 3; i++) {
		if (!shown[i]) {
			fprintf(stderr, "  %s does not show %s verbatim\n", POLICY_MD, names[i]);
			ok = 0;
		}
		free(files[i]);
	}
	free(md);
	CHECK(ok);
	CHECK(full == 3 && blocks > 3);
}

/* ---- accepts (§4) ---- */

static struct cas_policy *matrix_policy(int allow_sim, int allow_debug)
{
	struct cas_policy *p = NULL;
	struct shelter_err err;
	char head[1024];

	snprintf(head, sizeof(head),
		 "name: m\naccept:\n  measurements: [%s]\n  signers:\n"
		 "    - {signer: %s, product: redis, min_version: 3}\n"
		 "    - {signer: %s, product: other, min_version: 0}\n"
		 "  allow_sim: %s\n  allow_debug: %s\n  providers:\n    - name: p1\n      ca: |\n"
		 "%%CA%%",
		 M1, S1, S1, allow_sim ? "true" : "false", allow_debug ? "true" : "false");
	if (parse_doc(head, &p, &err) != 0) {
		fprintf(stderr, "  matrix policy: %s\n", err.msg);
		return NULL;
	}
	return p;
}

static void quote_for(struct shelter_quote_info *qi, const char *m, const char *signer,
		      const char *product, uint32_t version)
{
	memset(qi, 0, sizeof(*qi));
	qi->id.tee = SHELTER_TEE_SGX_DCAP;
	test_unhex(m, qi->id.measurement, 32);
	if (signer != NULL)
		test_unhex(signer, qi->id.signer, 32);
	snprintf(qi->id.product, sizeof(qi->id.product), "%s", product);
	qi->id.version = version;
	memcpy(qi->provider, g_ca_id, 32);
}

/* 1 when qi is refused with SHELTER_E_POLICY, the rule and a message holding what. */
static int refused_by(const struct cas_policy *p, const struct shelter_quote_info *qi,
		      enum cas_accept_rule want_rule, const char *what)
{
	enum cas_accept_rule rule = CAS_ACCEPT_OK;
	struct shelter_err err, err2;
	int rc, rc2;

	shelter_err_clear(&err);
	shelter_err_clear(&err2);
	rc = cas_policy_check(p, qi, &rule, &err);
	rc2 = cas_policy_accepts(p, qi, &err2);
	if (rc != SHELTER_E_POLICY || rc2 != rc || rule != want_rule ||
	    strcmp(err.msg, err2.msg) != 0 || strstr(err.msg, what) == NULL) {
		fprintf(stderr, "  got %d rule %d \"%s\", want POLICY rule %d \"%s\"\n", rc,
			(int)rule, err.msg, (int)want_rule, what);
		return 0;
	}
	return 1;
}

static int accepted(const struct cas_policy *p, const struct shelter_quote_info *qi)
{
	enum cas_accept_rule rule = CAS_ACCEPT_SIGNER;

	return cas_policy_check(p, qi, &rule, NULL) == 0 && rule == CAS_ACCEPT_OK &&
	       cas_policy_accepts(p, qi, NULL) == 0;
}

static void accept_measurement(void)
{
	struct cas_policy *p = matrix_policy(0, 0);
	struct shelter_quote_info qi;
	char want[160];

	CHECK(p != NULL);
	/* provider id: the policy computes what tee.h reports */
	CHECK_MEM(cas_policy_provider(p, 0)->id, g_ca_id, 32);
	quote_for(&qi, M2, NULL, "", 0);
	snprintf(want, sizeof(want), "session 'm': measurement %s not accepted", M2);
	CHECK(refused_by(p, &qi, CAS_ACCEPT_MEASUREMENT, want));
	quote_for(&qi, M1, NULL, "", 0);
	CHECK(accepted(p, &qi));
	/* an exact measurement needs no signer rule, whatever is signed */
	quote_for(&qi, M1, S2, "x", 0);
	CHECK(accepted(p, &qi));
	cas_policy_free(p);
}

static void accept_signer(void)
{
	struct cas_policy *p = matrix_policy(0, 0);
	struct shelter_quote_info qi;
	char want[256];

	CHECK(p != NULL);
	quote_for(&qi, M2, S1, "redis", 2);
	snprintf(want, sizeof(want), "session 'm': signer %s product 'redis' version 2 below "
		 "minimum 3", S1);
	CHECK(refused_by(p, &qi, CAS_ACCEPT_VERSION, want));
	quote_for(&qi, M2, S1, "redis", 0);
	CHECK(refused_by(p, &qi, CAS_ACCEPT_VERSION, "version 0 below minimum 3"));
	quote_for(&qi, M2, S1, "redis", 3); /* boundary: min_version itself is accepted */
	CHECK(accepted(p, &qi));
	quote_for(&qi, M2, S1, "redis", UINT32_MAX);
	CHECK(accepted(p, &qi));
	quote_for(&qi, M2, S1, "other", 0);
	CHECK(accepted(p, &qi));
	/* product must match exactly */
	quote_for(&qi, M2, S1, "redis2", 9);
	snprintf(want, sizeof(want), "measurement %s not accepted and signer %s product 'redis2' "
		 "not accepted", M2, S1);
	CHECK(refused_by(p, &qi, CAS_ACCEPT_SIGNER, want));
	quote_for(&qi, M2, S1, "Redis", 9);
	CHECK(refused_by(p, &qi, CAS_ACCEPT_SIGNER, "product 'Redis' not accepted"));
	/* another key with the same product */
	quote_for(&qi, M2, S2, "redis", 9);
	CHECK(refused_by(p, &qi, CAS_ACCEPT_SIGNER, "not accepted"));
	/* unsigned: the signer rules never apply */
	quote_for(&qi, M2, NULL, "redis", 9);
	snprintf(want, sizeof(want), "measurement %s not accepted", M2);
	CHECK(refused_by(p, &qi, CAS_ACCEPT_MEASUREMENT, want));
	/* a product filling all 64 bytes, unterminated, never matches */
	quote_for(&qi, M2, S1, "", 9);
	memset(qi.id.product, 'r', sizeof(qi.id.product));
	CHECK(refused_by(p, &qi, CAS_ACCEPT_SIGNER, "not accepted"));
	cas_policy_free(p);
}

static void accept_sim_and_debug(void)
{
	struct cas_policy *strict = matrix_policy(0, 0), *sim = matrix_policy(1, 0),
			  *dbg = matrix_policy(0, 1);
	struct shelter_quote_info qi;

	CHECK(strict != NULL && sim != NULL && dbg != NULL);
	quote_for(&qi, M1, NULL, "", 0);
	qi.id.flags = SHELTER_TEE_FLAG_SIM;
	CHECK(refused_by(strict, &qi, CAS_ACCEPT_SIM, "sim quotes not allowed by session 'm'"));
	CHECK(refused_by(dbg, &qi, CAS_ACCEPT_SIM, "sim quotes not allowed"));
	CHECK(accepted(sim, &qi));
	/* the tee type alone also counts as sim: fail closed */
	qi.id.flags = 0;
	qi.id.tee = SHELTER_TEE_SIM;
	CHECK(refused_by(strict, &qi, CAS_ACCEPT_SIM, "sim quotes not allowed"));
	CHECK(accepted(sim, &qi));
	/* sim accepted still needs the measurement */
	quote_for(&qi, M2, NULL, "", 0);
	qi.id.flags = SHELTER_TEE_FLAG_SIM;
	CHECK(refused_by(sim, &qi, CAS_ACCEPT_MEASUREMENT, "measurement"));

	quote_for(&qi, M1, NULL, "", 0);
	qi.id.flags = SHELTER_TEE_FLAG_DEBUG;
	CHECK(refused_by(strict, &qi, CAS_ACCEPT_DEBUG, "debug not allowed by session 'm'"));
	CHECK(refused_by(sim, &qi, CAS_ACCEPT_DEBUG, "debug not allowed"));
	CHECK(accepted(dbg, &qi));
	qi.id.flags = SHELTER_TEE_FLAG_DEBUG | SHELTER_TEE_FLAG_SIM;
	CHECK(refused_by(dbg, &qi, CAS_ACCEPT_SIM, "sim quotes not allowed"));
	/* flags this code does not know */
	qi.id.flags = 0x4;
	CHECK(refused_by(dbg, &qi, CAS_ACCEPT_FLAGS, "unknown identity flags 0x4"));
	cas_policy_free(strict);
	cas_policy_free(sim);
	cas_policy_free(dbg);
}

static void accept_provider(void)
{
	struct cas_policy *p = matrix_policy(0, 0), *two = NULL;
	struct shelter_quote_info qi;
	struct shelter_err err;
	char want[160], hex[65];

	CHECK(p != NULL);
	quote_for(&qi, M1, NULL, "", 0);
	memcpy(qi.provider, g_ca2_id, 32);
	shelter_hex(g_ca2_id, 32, hex);
	snprintf(want, sizeof(want), "session 'm': provider %s not accepted", hex);
	CHECK(refused_by(p, &qi, CAS_ACCEPT_PROVIDER, want));
	qi.provider[31] = g_ca_id[31];
	memcpy(qi.provider, g_ca_id, 31);
	qi.provider[31] ^= 1;
	CHECK(refused_by(p, &qi, CAS_ACCEPT_PROVIDER, "provider"));
	/* a session listing both providers takes either */
	CHECK_OK(parse_doc("name: two\n%ACCEPT%\n    - name: p2\n      ca: |\n%CA2%", &two, &err));
	CHECK(cas_policy_provider_count(two) == 2);
	CHECK_MEM(cas_policy_provider(two, 1)->id, g_ca2_id, 32);
	CHECK(strncmp(cas_policy_provider(two, 1)->ca_pem, g_ca2, strlen(g_ca2)) == 0);
	memcpy(qi.provider, g_ca2_id, 32);
	CHECK(accepted(two, &qi));
	memcpy(qi.provider, g_ca_id, 32);
	CHECK(accepted(two, &qi));
	CHECK_RC(cas_policy_accepts(NULL, &qi, NULL), SHELTER_E_INVAL);
	CHECK_RC(cas_policy_accepts(two, NULL, NULL), SHELTER_E_INVAL);
	cas_policy_free(two);
	cas_policy_free(p);
}

/* ---- render (§6) ---- */

static const char *render_doc =
	"name: r\n"
	"secrets:\n"
	"  - {name: pw, kind: password}\n"
	"  - {name: rnd, kind: random, size: 16}\n"
	"  - {name: tls, kind: x509, common_name: a.example, dns: [a.example], ip: [10.0.0.1]}\n"
	"  - {name: unused, kind: ed25519}\n"
	"  - {name: given, kind: value, value: \"v {{x}}\"}\n"
	"launch:\n"
	"  args: [srv, \"--pw={{pw}}\", \"{{rnd}}/{{rnd.base64}}\", \"a{{{{b}}c\", \"{{given}}\"]\n"
	"  env:\n"
	"    PW: \"{{pw.value}}\"\n"
	"    TZ: policy-tz\n"
	"    PLAIN: \"}} {x} {{{{\"\n"
	"  host_env: [TZ, LANG, EXTRA]\n"
	"  files:\n"
	"    /tls/cert.pem: \"{{tls.cert}}\"\n"
	"    /tls/key.pem: \"{{tls.key}}\"\n"
	"    /tls/ca.pem: \"{{tls.ca}}\"\n"
	"    /tls/chain.pem: \"{{tls.chain}}{{tls.cert}}\"\n"
	"    /empty: \"\"\n"
	"volumes:\n"
	"  - {name: data, path: /data}\n"
	"%ACCEPT%";

static void render_substitutes(void)
{
	struct cas_policy *p = NULL;
	struct cas_launch *l = NULL;
	struct shelter_err err;
	struct fake f = { 0 };

	CHECK_OK(parse_doc(render_doc, &p, &err));
	CHECK(cas_policy_secret_fields(p, 0) == CAS_FIELD_BIT(CAS_FIELD_VALUE));
	CHECK(cas_policy_secret_fields(p, 1) ==
	      (CAS_FIELD_BIT(CAS_FIELD_HEX) | CAS_FIELD_BIT(CAS_FIELD_BASE64)));
	CHECK(cas_policy_secret_fields(p, 2) ==
	      (CAS_FIELD_BIT(CAS_FIELD_CERT) | CAS_FIELD_BIT(CAS_FIELD_KEY) |
	       CAS_FIELD_BIT(CAS_FIELD_CA) | CAS_FIELD_BIT(CAS_FIELD_CHAIN)));
	CHECK(cas_policy_secret_fields(p, 3) == 0);
	CHECK(cas_policy_secret_fields(p, 99) == 0);
	CHECK_OK(render(p, NULL, 0, NULL, 0, &f, &l, &err));
	CHECK(strcmp(l->session, "r") == 0);
	CHECK(l->args_count == 5);
	CHECK(strcmp(l->args[0], "srv") == 0);
	CHECK(strcmp(l->args[1], "--pw=<pw.value>") == 0);
	CHECK(strcmp(l->args[2], "<rnd.hex>/<rnd.base64>") == 0);
	CHECK(strcmp(l->args[3], "a{{b}}c") == 0);        /* {{{{ is a literal {{ */
	CHECK(strcmp(l->args[4], "<given.value>") == 0);  /* a value's own text is not a template */
	CHECK(strcmp(env_get(l, "PW"), "<pw.value>") == 0);
	CHECK(strcmp(env_get(l, "PLAIN"), "}} {x} {{") == 0);
	CHECK(strcmp((char *)file_get(l, "/tls/cert.pem")->data, "<tls.cert>") == 0);
	CHECK(strcmp((char *)file_get(l, "/tls/key.pem")->data, "<tls.key>") == 0);
	CHECK(strcmp((char *)file_get(l, "/tls/ca.pem")->data, "<tls.ca>") == 0);
	CHECK(strcmp((char *)file_get(l, "/tls/chain.pem")->data, "<tls.chain><tls.cert>") == 0);
	CHECK(file_get(l, "/tls/chain.pem")->size == strlen("<tls.chain><tls.cert>"));
	CHECK(file_get(l, "/empty")->size == 0);
	CHECK(l->volumes_count == 1 && strcmp(l->volumes[0].name, "data") == 0 &&
	      strcmp(l->volumes[0].path, "/data") == 0);
	/* one lookup per (secret, field), however often it is used; unused never */
	CHECK(f.calls[0][CAS_FIELD_VALUE] == 1);
	CHECK(f.calls[2][CAS_FIELD_CERT] == 1);
	for (int i = 0; i < CAS_FIELD_COUNT; i++)
		CHECK(f.calls[3][i] == 0);
	CHECK(cas_policy_secret(p, 4)->value_size == 7);
	CHECK(memcmp(cas_policy_secret(p, 4)->value, "v {{x}}", 8) == 0);
	cas_launch_free(l);
	cas_policy_free(p);
}

static void render_host_args(void)
{
	static const char *const host[] = { "/usr/bin/srv", "--evil", "{{pw}}" };
	struct cas_policy *off = NULL, *on = NULL, *none = NULL, *none_on = NULL;
	struct cas_launch *l = NULL;
	struct shelter_err err;
	struct fake f = { 0 };

	CHECK_OK(parse_doc("name: a\nsecrets: [{name: pw, kind: password}]\n"
			   "launch: {args: [srv, \"{{pw}}\"]}\n%ACCEPT%", &off, &err));
	CHECK_OK(parse_doc("name: a\nsecrets: [{name: pw, kind: password}]\n"
			   "launch: {args: [srv, \"{{pw}}\"], host_args: true}\n%ACCEPT%", &on, &err));
	CHECK_OK(parse_doc("name: a\n%ACCEPT%", &none, &err));
	CHECK_OK(parse_doc("name: a\nlaunch: {host_args: true}\n%ACCEPT%", &none_on, &err));

	/* ignored unless allowed */
	CHECK_OK(render(off, host, 3, NULL, 0, &f, &l, &err));
	CHECK(l->args_count == 2 && strcmp(l->args[1], "<pw.value>") == 0);
	cas_launch_free(l);
	/* allowed: appended after the policy's, and never expanded */
	CHECK_OK(render(on, host, 3, NULL, 0, &f, &l, &err));
	CHECK(l->args_count == 4);
	CHECK(strcmp(l->args[0], "srv") == 0 && strcmp(l->args[2], "--evil") == 0);
	CHECK(strcmp(l->args[3], "{{pw}}") == 0);
	CHECK(f.calls[0][CAS_FIELD_VALUE] == 1);
	cas_launch_free(l);
	/* no policy args: the host's argv[0] only, or all of it when allowed */
	CHECK_OK(render(none, host, 3, NULL, 0, &f, &l, &err));
	CHECK(l->args_count == 1 && strcmp(l->args[0], "/usr/bin/srv") == 0);
	cas_launch_free(l);
	CHECK_OK(render(none_on, host, 3, NULL, 0, &f, &l, &err));
	CHECK(l->args_count == 3 && strcmp(l->args[2], "{{pw}}") == 0);
	cas_launch_free(l);
	CHECK_OK(render(none, NULL, 0, NULL, 0, &f, &l, &err));
	CHECK(l->args_count == 0 && l->args == NULL);
	cas_launch_free(l);
	l = NULL;
	CHECK_RC(render(off, NULL, 1, NULL, 0, &f, &l, &err), SHELTER_E_INVAL);
	CHECK(l == NULL);
	CHECK_RC(render(none_on, host, CAS_LAUNCH_MAX_HOST_ARGS + 1, NULL, 0, &f, &l, &err),
		 SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "at most 4096") != NULL);
	cas_policy_free(off);
	cas_policy_free(on);
	cas_policy_free(none);
	cas_policy_free(none_on);
}

static void render_host_env(void)
{
	static const char *const env[] = { "TZ=UTC", "PATH=/evil", "LANG=C.UTF-8", "LANG=second",
					   "NOEQUALS", "EXTRA=", "LD_PRELOAD=/evil.so",
					   "PW={{pw}}", "TZ2=x", "=empty" };
	struct cas_policy *p = NULL;
	struct cas_launch *l = NULL;
	struct shelter_err err;
	struct fake f = { 0 };

	CHECK_OK(parse_doc(render_doc, &p, &err));
	CHECK_OK(render(p, NULL, 0, env, sizeof(env) / sizeof(env[0]), &f, &l, &err));
	/* policy entries first, then allowed host names; the policy wins */
	CHECK(l->env_count == 5);
	CHECK(strcmp(l->env[0].name, "PW") == 0 && strcmp(l->env[0].value, "<pw.value>") == 0);
	CHECK(strcmp(env_get(l, "TZ"), "policy-tz") == 0);
	CHECK(strcmp(env_get(l, "LANG"), "C.UTF-8") == 0); /* the first entry wins */
	CHECK(strcmp(env_get(l, "EXTRA"), "") == 0);
	CHECK(env_get(l, "PATH") == NULL && env_get(l, "LD_PRELOAD") == NULL);
	CHECK(env_get(l, "TZ2") == NULL && env_get(l, "NOEQUALS") == NULL);
	cas_launch_free(l);
	cas_policy_free(p);
}

static void render_refuses(void)
{
	struct cas_policy *p = NULL;
	struct cas_launch *l = (struct cas_launch *)&l;
	struct shelter_err err;
	struct fake f = { 0 };

	CHECK_OK(parse_doc(render_doc, &p, &err));
	/* the lookup's error is kept and named */
	f.fail = SHELTER_E_IO;
	CHECK_RC(render(p, NULL, 0, NULL, 0, &f, &l, &err), SHELTER_E_IO);
	CHECK(l == NULL);
	CHECK(strstr(err.msg, "render session 'r': args[1]: secret 'pw' field 'value': store "
			      "unavailable") != NULL);
	f.fail = 0;
	/* a NUL byte cannot go into argv */
	f.nul_in = "pw";
	CHECK_RC(render(p, NULL, 0, NULL, 0, &f, &l, &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "args[1]: secret 'pw' field 'value' holds a NUL byte") != NULL);
	f.nul_in = NULL;
	/* no lookup */
	CHECK_RC(cas_policy_render(p, NULL, 0, NULL, 0, NULL, NULL, &l, &err), SHELTER_E_INVAL);
	/* the configuration size limit: 1 MiB values used 5 times */
	f.big = 1024 * 1024;
	CHECK_RC(render(p, NULL, 0, NULL, 0, &f, &l, &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "exceeds 4194304 bytes") != NULL);
	CHECK(l == NULL);
	CHECK_RC(cas_policy_render(NULL, NULL, 0, NULL, 0, fake_lookup, &f, &l, &err),
		 SHELTER_E_INVAL);
	cas_policy_free(p);
}

static void render_nul_in_file_is_kept(void)
{
	struct cas_policy *p = NULL;
	struct cas_launch *l = NULL;
	struct shelter_err err;
	struct fake f = { 0 };

	CHECK_OK(parse_doc("name: a\nsecrets: [{name: k, kind: random}]\n"
			   "launch: {files: {/k: \"[{{k}}]\"}}\n%ACCEPT%", &p, &err));
	f.nul_in = "k";
	CHECK_OK(render(p, NULL, 0, NULL, 0, &f, &l, &err));
	CHECK(l->files[0].size == strlen("[<k.hex>]"));
	CHECK(memcmp(l->files[0].data, "[<\0.hex>]", l->files[0].size) == 0);
	cas_launch_free(l);
	cas_policy_free(p);
}

/* ---- the configuration JSON (§6.2) ---- */

static void json_configuration(void)
{
	static const char *const host[] = { "/bin/x", "h\xc3\xa9" };
	static const char *const env[] = { "LANG=C" };
	struct cas_policy *p = NULL;
	struct cas_launch *l = NULL;
	struct shelter_err err;
	struct fake f = { 0 };
	json_t *j = NULL, *v;
	unsigned char decoded[64];
	const char *b64;
	int n;

	CHECK_OK(parse_doc(render_doc, &p, &err));
	CHECK_OK(render(p, host, 2, env, 1, &f, &l, &err));
	CHECK_OK(cas_launch_to_json(l, &j, &err));
	CHECK(strcmp(json_string_value(json_object_get(j, "session")), "r") == 0);
	v = json_object_get(j, "args");
	CHECK(json_array_size(v) == 5);
	CHECK(strcmp(json_string_value(json_array_get(v, 1)), "--pw=<pw.value>") == 0);
	v = json_object_get(j, "env");
	CHECK(json_object_size(v) == 4);
	CHECK(strcmp(json_string_value(json_object_get(v, "LANG")), "C") == 0);
	v = json_object_get(j, "files");
	CHECK(json_object_size(v) == 5);
	b64 = json_string_value(json_object_get(v, "/tls/chain.pem"));
	CHECK(b64 != NULL);
	n = EVP_DecodeBlock(decoded, (const unsigned char *)b64, (int)strlen(b64));
	CHECK(n >= 21 && memcmp(decoded, "<tls.chain><tls.cert>", 21) == 0);
	CHECK(strcmp(json_string_value(json_object_get(v, "/empty")), "") == 0);
	v = json_object_get(j, "volumes");
	CHECK(json_array_size(v) == 1);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(v, 0), "path")), "/data") == 0);
	json_decref(j);
	cas_launch_free(l);
	cas_policy_free(p);
}

static void json_refuses_non_utf8(void)
{
	static const char *const host[] = { "/bin/x", "ok", "bad\xff" };
	static const char *const h2[] = { "/bin/x", "\xc0\xaf" };
	static const char *const h3[] = { "/bin/x", "\xed\xa0\x80" };
	struct cas_policy *p = NULL;
	struct cas_launch *l = NULL;
	struct shelter_err err;
	struct fake f = { 0 };
	json_t *j = (json_t *)&j;

	CHECK_OK(parse_doc("name: a\nlaunch: {host_args: true}\n%ACCEPT%", &p, &err));
	CHECK_OK(render(p, host, 3, NULL, 0, &f, &l, &err));
	CHECK_RC(cas_launch_to_json(l, &j, &err), SHELTER_E_INVAL);
	CHECK(j == NULL);
	CHECK(strstr(err.msg, "args[2] is not valid UTF-8") != NULL);
	cas_launch_free(l);
	/* overlong and surrogate encodings too */
	CHECK_OK(render(p, h2, 2, NULL, 0, &f, &l, &err));
	CHECK_RC(cas_launch_to_json(l, &j, &err), SHELTER_E_INVAL);
	cas_launch_free(l);
	CHECK_OK(render(p, h3, 2, NULL, 0, &f, &l, &err));
	CHECK_RC(cas_launch_to_json(l, &j, &err), SHELTER_E_INVAL);
	cas_launch_free(l);
	CHECK_RC(cas_launch_to_json(NULL, &j, &err), SHELTER_E_INVAL);
	cas_policy_free(p);
}

static void free_null_is_noop(void)
{
	cas_policy_free(NULL);
	cas_launch_free(NULL);
	CHECK(cas_policy_name(NULL) == NULL);
	CHECK(cas_policy_secret(NULL, 0) == NULL);
	CHECK(cas_policy_provider(NULL, 0) == NULL);
	CHECK(strcmp(cas_secret_kind_name(CAS_SECRET_X509), "x509") == 0);
	CHECK(strcmp(cas_secret_field_name(CAS_FIELD_PUBLIC_HEX), "public_hex") == 0);
	CHECK(strcmp(cas_secret_field_name(CAS_FIELD_COUNT), "?") == 0);
}

int main(void)
{
	test_binary = "test_policy";
	setup();

	RUN(refuses_yaml_syntax);
	RUN(refuses_invalid_utf8);
	RUN(refuses_anchors_and_aliases);
	RUN(refuses_tags);
	RUN(refuses_second_document);
	RUN(refuses_duplicate_keys);
	RUN(refuses_complex_keys);
	RUN(refuses_nul_in_value);
	RUN(refuses_over_limits);
	RUN(refuses_empty);

	RUN(refuses_unknown_keys);
	RUN(refuses_missing_keys);
	RUN(refuses_wrong_types);
	RUN(refuses_bad_values);
	RUN(refuses_bad_provider_ca);
	RUN(refuses_bad_secrets);
	RUN(refuses_bad_launch);
	RUN(refuses_bad_volumes);
	RUN(refuses_bad_placeholders);
	RUN(errors_never_echo_values);

	RUN(examples_parse_and_render);
	RUN(example_redis);
	RUN(example_nginx);
	RUN(example_signed);
	RUN(policy_md_shows_the_examples);

	RUN(accept_measurement);
	RUN(accept_signer);
	RUN(accept_sim_and_debug);
	RUN(accept_provider);

	RUN(render_substitutes);
	RUN(render_host_args);
	RUN(render_host_env);
	RUN(render_refuses);
	RUN(render_nul_in_file_is_kept);

	RUN(json_configuration);
	RUN(json_refuses_non_utf8);
	RUN(free_null_is_noop);

	teardown();
	return test_total_failed == 0 ? 0 : 1;
}
