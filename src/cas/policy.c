/* CAS sessions: the policy schema (docs/policy.md §3-§5, §7), accessors, and the
 * accept rules (§4). The YAML subset is read by policy_yaml.c; placeholders and the
 * launch configuration live in policy_render.c.
 *
 * Every check an owner can fail happens here, at parse time, with the line and
 * column of the offending value, so a policy that parses can always be rendered
 * (given secret values) and a mistake never surfaces first at attestation.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cas/policy_internal.h"
#include "shelter/crypto.h"

#define WHERE_MAX 160

/* "where.key" for messages; a long path is cut, never overflowed. */
static void key_path(char out[WHERE_MAX], const char *where, const char *key)
{
	if (snprintf(out, WHERE_MAX, "%s.%s", where, key) >= WHERE_MAX)
		out[WHERE_MAX - 1] = '\0';
}

/* ---- scalar typing (§2.2) ---- */

static const char *type_name(const struct pnode *n)
{
	switch (n->type) {
	case PNODE_SCALAR:
		return "a scalar";
	case PNODE_SEQ:
		return "a sequence";
	case PNODE_MAP:
		return "a mapping";
	default:
		return "?";
	}
}

static int scalar_is(const struct pnode *n, const char *const *words)
{
	for (size_t i = 0; words[i] != NULL; i++) {
		if (strcmp(n->str, words[i]) == 0)
			return 1;
	}
	return 0;
}

static const char *const null_words[] = { "", "~", "null", "Null", "NULL", NULL };
static const char *const true_words[] = { "true", "True", "TRUE", NULL };
static const char *const false_words[] = { "false", "False", "FALSE", NULL };
/* YAML 1.1 booleans (libyaml is a 1.1 parser; other tools read these as booleans) */
static const char *const yaml11_bool_words[] = { "yes", "Yes", "YES", "no", "No", "NO",
						 "on", "On", "ON", "off", "Off", "OFF", NULL };

static int want(const struct pnode *n, enum pnode_type type, const char *where,
		struct shelter_err *err)
{
	static const char *const names[] = { "?", "a string", "a sequence", "a mapping" };

	if (n->type == type)
		return 0;
	return cas_policy_err(err, n, SHELTER_E_INVAL, "%s: expected %s, got %s", where,
			      names[type], type_name(n));
}

/* A string: any scalar except an unquoted null or boolean, which YAML readers
 * disagree on (§2.2: quote it to mean the text). */
static int check_str(const struct pnode *n, const char *where, size_t min, size_t max,
		     struct shelter_err *err)
{
	int rc = want(n, PNODE_SCALAR, where, err);

	if (rc < 0)
		return rc;
	if (n->plain && (scalar_is(n, null_words) || scalar_is(n, true_words) ||
			 scalar_is(n, false_words) || scalar_is(n, yaml11_bool_words)))
		return cas_policy_err(err, n, SHELTER_E_INVAL,
				      "%s: expected a string, got an unquoted %s (quote it to "
				      "mean the text)", where,
				      scalar_is(n, null_words) ? "null" : "boolean");
	if (n->size < min || n->size > max)
		return cas_policy_err(err, n, SHELTER_E_INVAL, "%s: length %zu, expected %zu to %zu",
				      where, n->size, min, max);
	return 0;
}

static int get_str(const struct pnode *n, const char *where, size_t min, size_t max, char **out,
		   struct shelter_err *err)
{
	int rc = check_str(n, where, min, max, err);

	*out = NULL;
	if (rc < 0)
		return rc;
	*out = strdup(n->str);
	if (*out == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	return 0;
}

static int get_bool(const struct pnode *n, const char *where, int *out, struct shelter_err *err)
{
	int rc = want(n, PNODE_SCALAR, where, err);

	if (rc < 0)
		return rc;
	if (n->plain && scalar_is(n, true_words)) {
		*out = 1;
		return 0;
	}
	if (n->plain && scalar_is(n, false_words)) {
		*out = 0;
		return 0;
	}
	return cas_policy_err(err, n, SHELTER_E_INVAL, "%s: expected true or false (unquoted)",
			      where);
}

static int get_uint(const struct pnode *n, const char *where, uint32_t min, uint32_t max,
		    uint32_t *out, struct shelter_err *err)
{
	uint64_t v = 0;
	int rc = want(n, PNODE_SCALAR, where, err);

	if (rc < 0)
		return rc;
	/* decimal digits only, no sign, no leading zero: one spelling per number */
	if (!n->plain || n->size == 0 || n->size > 10 || (n->size > 1 && n->str[0] == '0'))
		goto bad;
	for (size_t i = 0; i < n->size; i++) {
		if (n->str[i] < '0' || n->str[i] > '9')
			goto bad;
		v = v * 10 + (uint64_t)(n->str[i] - '0');
	}
	if (v < min || v > max)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	return cas_policy_err(err, n, SHELTER_E_INVAL, "%s: expected an unquoted integer %u to %u",
			      where, min, max);
}

/* 64 hex digits (either case) into 32 bytes. */
static int get_hex32(const struct pnode *n, const char *where, uint8_t out[32],
		     struct shelter_err *err)
{
	int rc = want(n, PNODE_SCALAR, where, err);

	if (rc < 0)
		return rc;
	if (n->size != 64 || shelter_unhex(n->str, out, 32) != 0)
		return cas_policy_err(err, n, SHELTER_E_INVAL, "%s: expected 64 hex digits", where);
	return 0;
}

/* ---- mappings ---- */

static const struct pnode *map_get(const struct pnode *map, const char *key)
{
	for (size_t i = 0; i + 1 < map->kids_count; i += 2) {
		if (strcmp(map->kids[i]->str, key) == 0)
			return map->kids[i + 1];
	}
	return NULL;
}

/* §2.1: an unknown key is an error, not ignored: a misspelt "allow_sim" must not
 * silently keep its default. */
static int check_keys(const struct pnode *map, const char *where, const char *const *keys,
		      struct shelter_err *err)
{
	char expected[256] = "";
	size_t used = 0;

	for (size_t i = 0; i + 1 < map->kids_count; i += 2) {
		const struct pnode *k = map->kids[i];

		if (scalar_is(k, keys))
			continue;
		for (size_t j = 0; keys[j] != NULL && used < sizeof(expected); j++)
			used += (size_t)snprintf(expected + used, sizeof(expected) - used, "%s%s",
						 j > 0 ? ", " : "", keys[j]);
		return cas_policy_err(err, k, SHELTER_E_INVAL, "%s: unknown key '%s' (expected %s)",
				      where, cas_policy_token(k), expected);
	}
	return 0;
}

static int need(const struct pnode *map, const char *key, const char *where,
		const struct pnode **out, struct shelter_err *err)
{
	*out = map_get(map, key);
	if (*out == NULL)
		return cas_policy_err(err, map, SHELTER_E_INVAL, "%s: missing key '%s'", where, key);
	return 0;
}

/* ---- names and paths (§3) ---- */

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Session, volume and provider names: 1-63 of [A-Za-z0-9._-], first alphanumeric
 * (so a name is never an option nor a hidden or parent path). */
static int get_name(const struct pnode *n, const char *where, char **out, struct shelter_err *err)
{
	int rc = get_str(n, where, 1, CAS_POLICY_NAME_MAX, out, err);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n->size; i++) {
		char c = n->str[i];

		if (is_alnum(c) || (i > 0 && (c == '.' || c == '_' || c == '-')))
			continue;
		free(*out);
		*out = NULL;
		return cas_policy_err(err, n, SHELTER_E_INVAL,
				      "%s: a name is 1 to %u of A-Z a-z 0-9 . _ - starting with a "
				      "letter or digit", where, CAS_POLICY_NAME_MAX);
	}
	return 0;
}

/* Secret names: [A-Za-z_][A-Za-z0-9_-]*, no dot, which separates NAME.FIELD. */
static int get_secret_name(const struct pnode *n, const char *where, char **out,
			   struct shelter_err *err)
{
	int rc = get_str(n, where, 1, CAS_POLICY_NAME_MAX, out, err);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n->size; i++) {
		char c = n->str[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		    (i > 0 && ((c >= '0' && c <= '9') || c == '-')))
			continue;
		free(*out);
		*out = NULL;
		return cas_policy_err(err, n, SHELTER_E_INVAL,
				      "%s: a secret name is 1 to %u of A-Z a-z 0-9 _ - starting "
				      "with a letter or _", where, CAS_POLICY_NAME_MAX);
	}
	return 0;
}

static int env_name_ok(const char *s, size_t size)
{
	if (size == 0 || size > 255 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < size; i++) {
		if (!is_alnum(s[i]) && s[i] != '_')
			return 0;
	}
	return 1;
}

/* Absolute, normalised: no empty, "." or ".." component, no trailing slash, not "/". */
static int path_ok(const char *s, size_t size)
{
	if (size < 2 || size > CAS_POLICY_PATH_MAX || s[0] != '/' || s[size - 1] == '/')
		return 0;
	for (size_t i = 0; i < size;) {
		size_t j = i + 1;

		while (j < size && s[j] != '/')
			j++;
		/* component is s[i+1, j) */
		if (j == i + 1 || (j == i + 2 && s[i + 1] == '.') ||
		    (j == i + 3 && s[i + 1] == '.' && s[i + 2] == '.'))
			return 0;
		i = j;
	}
	return 1;
}

static int get_path(const struct pnode *n, const char *where, char **out, struct shelter_err *err)
{
	int rc = get_str(n, where, 1, CAS_POLICY_PATH_MAX, out, err);

	if (rc < 0)
		return rc;
	if (!path_ok(n->str, n->size)) {
		free(*out);
		*out = NULL;
		return cas_policy_err(err, n, SHELTER_E_INVAL,
				      "%s: a path must be absolute and normalised (no //, . or .. "
				      "components, no trailing /, not /)", where);
	}
	return 0;
}

/* 1 when a is b or lies under b (or the reverse): "/a" and "/a/b" overlap. */
static int paths_overlap(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), n = na < nb ? na : nb;

	if (memcmp(a, b, n) != 0)
		return 0;
	return na == nb || (na > nb ? a[nb] : b[na]) == '/';
}

static int dns_name_ok(const char *s, size_t size)
{
	size_t label = 0;

	/* RFC 1123 host names; one leading "*." wildcard label (RFC 6125 §6.4.3) */
	if (size > 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		size -= 2;
	}
	if (size == 0 || size > 253)
		return 0;
	for (size_t i = 0; i <= size; i++) {
		char c = i < size ? s[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			label = 0;
		} else if (is_alnum(c) || (c == '-' && label > 0)) {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

static int printable_ok(const char *s, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	}
	return 1;
}

/* ---- accept (§4) ---- */

static int parse_measurements(struct cas_policy *p, const struct pnode *n,
			      struct shelter_err *err)
{
	char where[WHERE_MAX];
	int rc = want(n, PNODE_SEQ, "accept.measurements", err);

	if (rc < 0 || n->kids_count == 0)
		return rc;
	p->measurements = calloc(n->kids_count, sizeof(*p->measurements));
	if (p->measurements == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	for (size_t i = 0; i < n->kids_count; i++) {
		snprintf(where, sizeof(where), "accept.measurements[%zu]", i);
		rc = get_hex32(n->kids[i], where, p->measurements[i], err);
		if (rc < 0)
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (memcmp(p->measurements[j], p->measurements[i], 32) == 0)
				return cas_policy_err(err, n->kids[i], SHELTER_E_INVAL,
						      "%s: duplicate measurement", where);
		}
		p->measurements_count++;
	}
	return 0;
}

static int parse_signer(struct pol_signer *s, const struct pnode *n, const char *where,
			struct shelter_err *err)
{
	static const char *const keys[] = { "signer", "product", "min_version", NULL };
	static const uint8_t zero[SHELTER_SIGNER_SIZE];
	char sub[WHERE_MAX];
	const struct pnode *v;
	int rc = want(n, PNODE_MAP, where, err);

	if (rc < 0 || (rc = check_keys(n, where, keys, err)) < 0)
		return rc;
	key_path(sub, where, "signer");
	if ((rc = need(n, "signer", where, &v, err)) < 0 ||
	    (rc = get_hex32(v, sub, s->signer, err)) < 0)
		return rc;
	/* tee.h: an all-zero signer means "unsigned"; it must never match a rule */
	if (memcmp(s->signer, zero, sizeof(zero)) == 0)
		return cas_policy_err(err, v, SHELTER_E_INVAL, "%s: the all-zero signer means "
				      "unsigned and cannot be accepted", sub);
	key_path(sub, where, "product");
	if ((rc = need(n, "product", where, &v, err)) < 0 ||
	    (rc = get_str(v, sub, 1, SHELTER_PRODUCT_MAX - 1, &s->product, err)) < 0)
		return rc;
	if (!printable_ok(v->str, v->size))
		return cas_policy_err(err, v, SHELTER_E_INVAL,
				      "%s: a product is printable ASCII", sub);
	/* §4.2: required, so forgetting it cannot silently accept every old version */
	key_path(sub, where, "min_version");
	if ((rc = need(n, "min_version", where, &v, err)) < 0 ||
	    (rc = get_uint(v, sub, 0, UINT32_MAX, &s->min_version, err)) < 0)
		return rc;
	return 0;
}

static int parse_signers(struct cas_policy *p, const struct pnode *n, struct shelter_err *err)
{
	char where[WHERE_MAX];
	int rc = want(n, PNODE_SEQ, "accept.signers", err);

	if (rc < 0 || n->kids_count == 0)
		return rc;
	p->signers = calloc(n->kids_count, sizeof(*p->signers));
	if (p->signers == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	for (size_t i = 0; i < n->kids_count; i++) {
		struct pol_signer *s = &p->signers[i];

		snprintf(where, sizeof(where), "accept.signers[%zu]", i);
		p->signers_count++; /* so free() sees a half-filled entry */
		rc = parse_signer(s, n->kids[i], where, err);
		if (rc < 0)
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (memcmp(p->signers[j].signer, s->signer, 32) == 0 &&
			    strcmp(p->signers[j].product, s->product) == 0)
				return cas_policy_err(err, n->kids[i], SHELTER_E_INVAL,
						      "%s: duplicate signer and product", where);
		}
	}
	return 0;
}

/* §4.3: the provider CA must be one PEM certificate with basicConstraints CA:TRUE
 * (and keyCertSign when keyUsage is present); its id is what tee.h reports as
 * shelter_quote_info.provider: SHA-256 of the SubjectPublicKeyInfo DER. */
static int parse_ca(const struct pnode *n, const char *where, uint8_t id[32],
		    struct shelter_err *err)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	const char *s = n->str, *rest = NULL;
	BIO *bio = NULL;
	X509 *x = NULL;
	BASIC_CONSTRAINTS *bc = NULL;
	unsigned char *der = NULL;
	long rest_size;
	int der_size, rc = 0;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	if (strncmp(s, begin, sizeof(begin) - 1) != 0) {
		rc = cas_policy_err(err, n, SHELTER_E_INVAL,
				    "%s: expected a PEM certificate (-----BEGIN CERTIFICATE-----)",
				    where);
		goto out;
	}
	bio = BIO_new_mem_buf(s, (int)(n->size - (size_t)(s - n->str)));
	if (bio == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
		goto out;
	}
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (x == NULL) {
		rc = cas_policy_err(err, n, SHELTER_E_INVAL, "%s: not a valid PEM certificate",
				    where);
		goto out;
	}
	rest_size = BIO_get_mem_data(bio, &rest);
	for (long i = 0; i < rest_size; i++) {
		if (rest[i] != ' ' && rest[i] != '\t' && rest[i] != '\r' && rest[i] != '\n') {
			rc = cas_policy_err(err, n, SHELTER_E_INVAL,
					    "%s: text after the certificate (one CA per provider)",
					    where);
			goto out;
		}
	}
	if (X509_get_extension_flags(x) & EXFLAG_INVALID) {
		rc = cas_policy_err(err, n, SHELTER_E_INVAL, "%s: certificate has invalid "
				    "extensions", where);
		goto out;
	}
	bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	if (bc == NULL || !bc->ca) {
		rc = cas_policy_err(err, n, SHELTER_E_INVAL, "%s: not a CA certificate "
				    "(basicConstraints CA:TRUE missing)", where);
		goto out;
	}
	if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN)) {
		rc = cas_policy_err(err, n, SHELTER_E_INVAL, "%s: CA certificate without "
				    "keyCertSign in keyUsage", where);
		goto out;
	}
	der_size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if (der_size <= 0) {
		rc = cas_policy_err(err, n, SHELTER_E_INVAL, "%s: cannot encode the public key",
				    where);
		goto out;
	}
	rc = shelter_sha256(der, (size_t)der_size, id, err);
out:
	ERR_clear_error(); /* leave no queued OpenSSL errors to confuse a later caller */
	OPENSSL_free(der);
	BASIC_CONSTRAINTS_free(bc);
	X509_free(x);
	BIO_free(bio);
	return rc;
}

static int parse_provider(struct pol_provider *pv, const struct pnode *n, const char *where,
			  struct shelter_err *err)
{
	static const char *const keys[] = { "name", "ca", NULL };
	char sub[WHERE_MAX];
	const struct pnode *v;
	int rc = want(n, PNODE_MAP, where, err);

	if (rc < 0 || (rc = check_keys(n, where, keys, err)) < 0)
		return rc;
	key_path(sub, where, "name");
	if ((rc = need(n, "name", where, &v, err)) < 0 || (rc = get_name(v, sub, &pv->name, err)) < 0)
		return rc;
	key_path(sub, where, "ca");
	if ((rc = need(n, "ca", where, &v, err)) < 0 ||
	    (rc = get_str(v, sub, 1, CAS_POLICY_MAX_SCALAR, &pv->pem, err)) < 0 ||
	    (rc = parse_ca(v, sub, pv->pub.id, err)) < 0)
		return rc;
	pv->pub.name = pv->name;
	pv->pub.ca_pem = pv->pem;
	pv->pub.ca_pem_size = v->size;
	return 0;
}

static int parse_providers(struct cas_policy *p, const struct pnode *n, struct shelter_err *err)
{
	char where[WHERE_MAX];
	int rc = want(n, PNODE_SEQ, "accept.providers", err);

	if (rc < 0)
		return rc;
	if (n->kids_count == 0 || n->kids_count > CAS_POLICY_MAX_PROVIDERS)
		return cas_policy_err(err, n, SHELTER_E_INVAL,
				      "accept.providers: expected 1 to %u providers",
				      CAS_POLICY_MAX_PROVIDERS);
	p->providers = calloc(n->kids_count, sizeof(*p->providers));
	if (p->providers == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	for (size_t i = 0; i < n->kids_count; i++) {
		struct pol_provider *pv = &p->providers[i];

		snprintf(where, sizeof(where), "accept.providers[%zu]", i);
		p->providers_count++;
		rc = parse_provider(pv, n->kids[i], where, err);
		if (rc < 0)
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(p->providers[j].name, pv->name) == 0)
				return cas_policy_err(err, n->kids[i], SHELTER_E_INVAL,
						      "%s: duplicate provider name '%s'", where,
						      pv->name);
			if (memcmp(p->providers[j].pub.id, pv->pub.id, 32) == 0)
				return cas_policy_err(err, n->kids[i], SHELTER_E_INVAL,
						      "%s: same CA key as provider '%s'", where,
						      p->providers[j].name);
		}
	}
	return 0;
}

static int parse_accept(struct cas_policy *p, const struct pnode *n, struct shelter_err *err)
{
	static const char *const keys[] = { "measurements", "signers", "providers", "allow_sim",
					    "allow_debug", NULL };
	const struct pnode *v;
	int rc = want(n, PNODE_MAP, "accept", err);

	if (rc < 0 || (rc = check_keys(n, "accept", keys, err)) < 0)
		return rc;
	if ((v = map_get(n, "measurements")) != NULL && (rc = parse_measurements(p, v, err)) < 0)
		return rc;
	if ((v = map_get(n, "signers")) != NULL && (rc = parse_signers(p, v, err)) < 0)
		return rc;
	if (p->measurements_count == 0 && p->signers_count == 0)
		return cas_policy_err(err, n, SHELTER_E_INVAL,
				      "accept: needs at least one measurement or signer");
	if ((rc = need(n, "providers", "accept", &v, err)) < 0 ||
	    (rc = parse_providers(p, v, err)) < 0)
		return rc;
	if ((v = map_get(n, "allow_sim")) != NULL &&
	    (rc = get_bool(v, "accept.allow_sim", &p->allow_sim, err)) < 0)
		return rc;
	if ((v = map_get(n, "allow_debug")) != NULL &&
	    (rc = get_bool(v, "accept.allow_debug", &p->allow_debug, err)) < 0)
		return rc;
	return 0;
}

/* ---- secrets (§5) ---- */

struct kind_info {
	const char *name;
	enum cas_secret_kind kind;
	const char *const *keys;
};

static const char *const random_keys[] = { "name", "kind", "size", NULL };
static const char *const ed25519_keys[] = { "name", "kind", NULL };
static const char *const x509_keys[] = { "name", "kind", "common_name", "dns", "ip", "days",
					 NULL };
static const char *const value_keys[] = { "name", "kind", "value", NULL };

static const struct kind_info kinds[] = {
	{ "random", CAS_SECRET_RANDOM, random_keys },
	{ "password", CAS_SECRET_PASSWORD, random_keys },
	{ "ed25519", CAS_SECRET_ED25519, ed25519_keys },
	{ "x509", CAS_SECRET_X509, x509_keys },
	{ "value", CAS_SECRET_VALUE, value_keys },
};

const char *cas_secret_kind_name(enum cas_secret_kind kind)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (kinds[i].kind == kind)
			return kinds[i].name;
	}
	return "?";
}

/* dns or ip: a sequence of strings, each checked by ok(). */
static int parse_sans(const struct pnode *n, const char *where, int (*ok)(const char *, size_t),
		      const char *what, char ***out, size_t *out_count, struct shelter_err *err)
{
	char sub[WHERE_MAX];
	int rc = want(n, PNODE_SEQ, where, err);

	if (rc < 0)
		return rc;
	if (n->kids_count > CAS_POLICY_MAX_SANS)
		return cas_policy_err(err, n, SHELTER_E_INVAL, "%s: more than %u entries", where,
				      CAS_POLICY_MAX_SANS);
	if (n->kids_count == 0)
		return 0;
	*out = calloc(n->kids_count, sizeof(**out));
	if (*out == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	for (size_t i = 0; i < n->kids_count; i++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
		rc = get_str(n->kids[i], sub, 1, 253, &(*out)[i], err);
		if (rc < 0)
			return rc;
		(*out_count)++;
		if (!ok(n->kids[i]->str, n->kids[i]->size))
			return cas_policy_err(err, n->kids[i], SHELTER_E_INVAL, "%s: not %s", sub,
					      what);
	}
	return 0;
}

static int ip_ok(const char *s, size_t size)
{
	unsigned char buf[16];

	(void)size;
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int parse_x509(struct pol_secret *s, const struct pnode *n, const char *where,
		      struct shelter_err *err)
{
	char sub[WHERE_MAX];
	const struct pnode *v;
	int rc;

	key_path(sub, where, "common_name");
	/* RFC 5280 ub-common-name: 64 */
	if ((rc = need(n, "common_name", where, &v, err)) < 0 ||
	    (rc = get_str(v, sub, 1, 64, &s->common_name, err)) < 0)
		return rc;
	if (!printable_ok(v->str, v->size))
		return cas_policy_err(err, v, SHELTER_E_INVAL, "%s: printable ASCII only", sub);
	key_path(sub, where, "dns");
	if ((v = map_get(n, "dns")) != NULL &&
	    (rc = parse_sans(v, sub, dns_name_ok, "a DNS name", &s->dns, &s->spec.dns_count,
			     err)) < 0)
		return rc;
	key_path(sub, where, "ip");
	if ((v = map_get(n, "ip")) != NULL &&
	    (rc = parse_sans(v, sub, ip_ok, "an IPv4 or IPv6 address", &s->ip, &s->spec.ip_count,
			     err)) < 0)
		return rc;
	s->spec.days = 365;
	key_path(sub, where, "days");
	if ((v = map_get(n, "days")) != NULL &&
	    (rc = get_uint(v, sub, 1, 3650, &s->spec.days, err)) < 0)
		return rc;
	return 0;
}

static int parse_secret(struct pol_secret *s, const struct pnode *n, const char *where,
			struct shelter_err *err)
{
	static const char *const first_keys[] = { "name", "kind", "size", "common_name", "dns",
						  "ip", "days", "value", NULL };
	const struct kind_info *ki = NULL;
	char sub[WHERE_MAX], self[WHERE_MAX];
	const struct pnode *v;
	int rc = want(n, PNODE_MAP, where, err);

	if (rc < 0 || (rc = check_keys(n, where, first_keys, err)) < 0)
		return rc;
	key_path(sub, where, "name");
	if ((rc = need(n, "name", where, &v, err)) < 0 ||
	    (rc = get_secret_name(v, sub, &s->name, err)) < 0)
		return rc;
	snprintf(sub, sizeof(sub), "secret '%s'.kind", s->name);
	if ((rc = need(n, "kind", where, &v, err)) < 0 || (rc = want(v, PNODE_SCALAR, sub, err)) < 0)
		return rc;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(v->str, kinds[i].name) == 0)
			ki = &kinds[i];
	}
	if (ki == NULL)
		return cas_policy_err(err, v, SHELTER_E_INVAL, "%s: unknown kind '%s' (expected "
				      "random, password, ed25519, x509 or value)", sub,
				      cas_policy_token(v));
	s->spec.kind = ki->kind;
	snprintf(sub, sizeof(sub), "secret '%s' (kind %s)", s->name, ki->name);
	if ((rc = check_keys(n, sub, ki->keys, err)) < 0)
		return rc;
	snprintf(self, sizeof(self), "secret '%s'", s->name);
	key_path(sub, self, ki->kind == CAS_SECRET_VALUE ? "value" : "size");
	switch (ki->kind) {
	case CAS_SECRET_RANDOM:
		s->spec.size = 32;
		if ((v = map_get(n, "size")) != NULL)
			rc = get_uint(v, sub, 1, 4096, &s->spec.size, err);
		return rc;
	case CAS_SECRET_PASSWORD:
		s->spec.size = 32;
		if ((v = map_get(n, "size")) != NULL)
			rc = get_uint(v, sub, 8, 1024, &s->spec.size, err);
		return rc;
	case CAS_SECRET_ED25519:
		return 0;
	case CAS_SECRET_X509:
		return parse_x509(s, n, self, err);
	case CAS_SECRET_VALUE: {
		char *value = NULL;

		if ((rc = need(n, "value", self, &v, err)) < 0 ||
		    (rc = get_str(v, sub, 0, CAS_POLICY_MAX_SCALAR, &value, err)) < 0)
			return rc;
		s->value = (uint8_t *)value;
		s->spec.value_size = v->size;
		return 0;
	}
	default:
		return shelter_err_set(err, SHELTER_E_INTERNAL, "policy: secret kind %d", ki->kind);
	}
}

static int parse_secrets(struct cas_policy *p, const struct pnode *n, struct shelter_err *err)
{
	char where[WHERE_MAX];
	int rc = want(n, PNODE_SEQ, "secrets", err);

	if (rc < 0 || n->kids_count == 0)
		return rc;
	if (n->kids_count > CAS_POLICY_MAX_SECRETS)
		return cas_policy_err(err, n, SHELTER_E_INVAL, "secrets: more than %u",
				      CAS_POLICY_MAX_SECRETS);
	p->secrets = calloc(n->kids_count, sizeof(*p->secrets));
	if (p->secrets == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	for (size_t i = 0; i < n->kids_count; i++) {
		struct pol_secret *s = &p->secrets[i];

		snprintf(where, sizeof(where), "secrets[%zu]", i);
		p->secrets_count++;
		rc = parse_secret(s, n->kids[i], where, err);
		if (rc < 0)
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(p->secrets[j].name, s->name) == 0)
				return cas_policy_err(err, n->kids[i], SHELTER_E_INVAL,
						      "%s: duplicate secret name '%s'", where,
						      s->name);
		}
		s->spec.name = s->name;
		s->spec.value = s->value;
		s->spec.common_name = s->common_name;
		s->spec.dns = (const char *const *)s->dns;
		s->spec.ip = (const char *const *)s->ip;
	}
	return 0;
}

/* ---- launch (§6) and volumes (§7) ---- */

static int parse_args(struct cas_policy *p, const struct pnode *n, struct shelter_err *err)
{
	char where[WHERE_MAX];
	int rc = want(n, PNODE_SEQ, "launch.args", err);

	if (rc < 0 || n->kids_count == 0)
		return rc;
	p->args = calloc(n->kids_count, sizeof(*p->args));
	if (p->args == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	for (size_t i = 0; i < n->kids_count; i++) {
		snprintf(where, sizeof(where), "launch.args[%zu]", i);
		rc = check_str(n->kids[i], where, 0, CAS_POLICY_MAX_SCALAR, err);
		if (rc < 0)
			return rc;
		p->args_count++;
		rc = cas_policy_tmpl_parse(p, n->kids[i], where, &p->args[i], err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_env(struct cas_policy *p, const struct pnode *n, struct shelter_err *err)
{
	char where[WHERE_MAX];
	int rc = want(n, PNODE_MAP, "launch.env", err);

	if (rc < 0 || n->kids_count == 0)
		return rc;
	p->env = calloc(n->kids_count / 2, sizeof(*p->env));
	if (p->env == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	for (size_t i = 0; i < n->kids_count; i += 2) {
		const struct pnode *k = n->kids[i], *v = n->kids[i + 1];
		struct pol_env *e = &p->env[p->env_count];

		if (!env_name_ok(k->str, k->size))
			return cas_policy_err(err, k, SHELTER_E_INVAL, "launch.env: '%s' is not an "
					      "environment name ([A-Za-z_][A-Za-z0-9_]*)",
					      cas_policy_token(k));
		snprintf(where, sizeof(where), "launch.env.%s", k->str);
		rc = check_str(v, where, 0, CAS_POLICY_MAX_SCALAR, err);
		if (rc < 0)
			return rc;
		p->env_count++;
		e->name = strdup(k->str);
		if (e->name == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
		rc = cas_policy_tmpl_parse(p, v, where, &e->value, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_host_env(struct cas_policy *p, const struct pnode *n, struct shelter_err *err)
{
	char where[WHERE_MAX];
	int rc = want(n, PNODE_SEQ, "launch.host_env", err);

	if (rc < 0 || n->kids_count == 0)
		return rc;
	p->host_env = calloc(n->kids_count, sizeof(*p->host_env));
	if (p->host_env == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	for (size_t i = 0; i < n->kids_count; i++) {
		const struct pnode *v = n->kids[i];

		snprintf(where, sizeof(where), "launch.host_env[%zu]", i);
		rc = get_str(v, where, 1, 255, &p->host_env[i], err);
		if (rc < 0)
			return rc;
		p->host_env_count++;
		if (!env_name_ok(v->str, v->size))
			return cas_policy_err(err, v, SHELTER_E_INVAL, "%s: not an environment "
					      "name ([A-Za-z_][A-Za-z0-9_]*)", where);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(p->host_env[j], v->str) == 0)
				return cas_policy_err(err, v, SHELTER_E_INVAL, "%s: duplicate name "
						      "'%s'", where, v->str);
		}
	}
	return 0;
}

static int parse_files(struct cas_policy *p, const struct pnode *n, struct shelter_err *err)
{
	char where[WHERE_MAX];
	int rc = want(n, PNODE_MAP, "launch.files", err);

	if (rc < 0 || n->kids_count == 0)
		return rc;
	p->files = calloc(n->kids_count / 2, sizeof(*p->files));
	if (p->files == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	for (size_t i = 0; i < n->kids_count; i += 2) {
		const struct pnode *k = n->kids[i], *v = n->kids[i + 1];
		struct pol_file *f = &p->files[p->files_count];

		p->files_count++;
		rc = get_path(k, "launch.files", &f->path, err);
		if (rc < 0)
			return rc;
		for (size_t j = 0; j + 1 < p->files_count; j++) {
			if (paths_overlap(p->files[j].path, f->path))
				return cas_policy_err(err, k, SHELTER_E_INVAL, "launch.files: a file "
						      "cannot lie under another file");
		}
		snprintf(where, sizeof(where), "launch.files.%.100s", k->str);
		rc = check_str(v, where, 0, CAS_POLICY_MAX_SCALAR, err);
		if (rc < 0)
			return rc;
		rc = cas_policy_tmpl_parse(p, v, where, &f->content, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_launch(struct cas_policy *p, const struct pnode *n, struct shelter_err *err)
{
	static const char *const keys[] = { "args", "host_args", "env", "host_env", "files",
					    NULL };
	const struct pnode *v;
	int rc = want(n, PNODE_MAP, "launch", err);

	if (rc < 0 || (rc = check_keys(n, "launch", keys, err)) < 0)
		return rc;
	if ((v = map_get(n, "args")) != NULL && (rc = parse_args(p, v, err)) < 0)
		return rc;
	if ((v = map_get(n, "host_args")) != NULL &&
	    (rc = get_bool(v, "launch.host_args", &p->host_args, err)) < 0)
		return rc;
	if ((v = map_get(n, "env")) != NULL && (rc = parse_env(p, v, err)) < 0)
		return rc;
	if ((v = map_get(n, "host_env")) != NULL && (rc = parse_host_env(p, v, err)) < 0)
		return rc;
	if ((v = map_get(n, "files")) != NULL && (rc = parse_files(p, v, err)) < 0)
		return rc;
	return 0;
}

static int parse_volume(struct pol_volume *vol, const struct pnode *n, const char *where,
			struct shelter_err *err)
{
	static const char *const keys[] = { "name", "path", NULL };
	char sub[WHERE_MAX];
	const struct pnode *v;
	int rc = want(n, PNODE_MAP, where, err);

	if (rc < 0 || (rc = check_keys(n, where, keys, err)) < 0)
		return rc;
	key_path(sub, where, "name");
	if ((rc = need(n, "name", where, &v, err)) < 0 || (rc = get_name(v, sub, &vol->name, err)) < 0)
		return rc;
	key_path(sub, where, "path");
	if ((rc = need(n, "path", where, &v, err)) < 0 || (rc = get_path(v, sub, &vol->path, err)) < 0)
		return rc;
	vol->pub.name = vol->name;
	vol->pub.path = vol->path;
	return 0;
}

static int parse_volumes(struct cas_policy *p, const struct pnode *n, struct shelter_err *err)
{
	char where[WHERE_MAX];
	int rc = want(n, PNODE_SEQ, "volumes", err);

	if (rc < 0 || n->kids_count == 0)
		return rc;
	if (n->kids_count > CAS_POLICY_MAX_VOLUMES)
		return cas_policy_err(err, n, SHELTER_E_INVAL, "volumes: more than %u",
				      CAS_POLICY_MAX_VOLUMES);
	p->volumes = calloc(n->kids_count, sizeof(*p->volumes));
	if (p->volumes == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	for (size_t i = 0; i < n->kids_count; i++) {
		struct pol_volume *vol = &p->volumes[i];

		snprintf(where, sizeof(where), "volumes[%zu]", i);
		p->volumes_count++;
		rc = parse_volume(vol, n->kids[i], where, err);
		if (rc < 0)
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(p->volumes[j].name, vol->name) == 0)
				return cas_policy_err(err, n->kids[i], SHELTER_E_INVAL,
						      "%s: duplicate volume name '%s'", where,
						      vol->name);
			/* §7: one volume per directory tree, so every file has one key */
			if (paths_overlap(p->volumes[j].path, vol->path))
				return cas_policy_err(err, n->kids[i], SHELTER_E_INVAL,
						      "%s: path overlaps volume '%s'", where,
						      p->volumes[j].name);
		}
	}
	return 0;
}

/* ---- parse, free ---- */

static int parse_root(struct cas_policy *p, const struct pnode *root, struct shelter_err *err)
{
	static const char *const keys[] = { "name", "accept", "secrets", "launch", "volumes",
					    NULL };
	const struct pnode *v;
	int rc = want(root, PNODE_MAP, "policy", err);

	if (rc < 0 || (rc = check_keys(root, "policy", keys, err)) < 0)
		return rc;
	if ((rc = need(root, "name", "policy", &v, err)) < 0 ||
	    (rc = get_name(v, "name", &p->name, err)) < 0)
		return rc;
	if ((rc = need(root, "accept", "policy", &v, err)) < 0 || (rc = parse_accept(p, v, err)) < 0)
		return rc;
	/* secrets before launch: placeholders resolve against them (§5.2) */
	if ((v = map_get(root, "secrets")) != NULL && (rc = parse_secrets(p, v, err)) < 0)
		return rc;
	if ((v = map_get(root, "launch")) != NULL && (rc = parse_launch(p, v, err)) < 0)
		return rc;
	if ((v = map_get(root, "volumes")) != NULL && (rc = parse_volumes(p, v, err)) < 0)
		return rc;
	return 0;
}

int cas_policy_parse(const char *yaml, size_t size, struct cas_policy **out,
		     struct shelter_err *err)
{
	struct pnode *root = NULL;
	struct cas_policy *p = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "policy: no output");
	rc = cas_policy_tree_load(yaml, size, &root, err);
	if (rc < 0)
		goto out;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
		goto out;
	}
	rc = parse_root(p, root, err);
	if (rc < 0)
		goto out;
	*out = p;
	p = NULL;
out:
	cas_policy_free(p);
	cas_policy_tree_free(root);
	return rc;
}

static void free_strv(char **v, size_t count)
{
	for (size_t i = 0; v != NULL && i < count; i++)
		free(v[i]);
	free(v);
}

void cas_policy_free(struct cas_policy *p)
{
	if (p == NULL)
		return;
	free(p->name);
	free(p->measurements);
	for (size_t i = 0; i < p->signers_count; i++)
		free(p->signers[i].product);
	free(p->signers);
	for (size_t i = 0; i < p->providers_count; i++) {
		free(p->providers[i].name);
		free(p->providers[i].pem);
	}
	free(p->providers);
	for (size_t i = 0; i < p->secrets_count; i++) {
		struct pol_secret *s = &p->secrets[i];

		free(s->name);
		if (s->value != NULL) {
			shelter_wipe(s->value, s->spec.value_size);
			free(s->value);
		}
		free(s->common_name);
		free_strv(s->dns, s->spec.dns_count);
		free_strv(s->ip, s->spec.ip_count);
	}
	free(p->secrets);
	for (size_t i = 0; i < p->args_count; i++)
		cas_policy_tmpl_clear(&p->args[i]);
	free(p->args);
	for (size_t i = 0; i < p->env_count; i++) {
		free(p->env[i].name);
		cas_policy_tmpl_clear(&p->env[i].value);
	}
	free(p->env);
	free_strv(p->host_env, p->host_env_count);
	for (size_t i = 0; i < p->files_count; i++) {
		free(p->files[i].path);
		cas_policy_tmpl_clear(&p->files[i].content);
	}
	free(p->files);
	for (size_t i = 0; i < p->volumes_count; i++) {
		free(p->volumes[i].name);
		free(p->volumes[i].path);
	}
	free(p->volumes);
	free(p);
}

/* ---- accessors ---- */

const char *cas_policy_name(const struct cas_policy *p)
{
	return p == NULL ? NULL : p->name;
}

size_t cas_policy_provider_count(const struct cas_policy *p)
{
	return p == NULL ? 0 : p->providers_count;
}

const struct cas_policy_provider *cas_policy_provider(const struct cas_policy *p, size_t index)
{
	return p == NULL || index >= p->providers_count ? NULL : &p->providers[index].pub;
}

size_t cas_policy_secret_count(const struct cas_policy *p)
{
	return p == NULL ? 0 : p->secrets_count;
}

const struct cas_secret_spec *cas_policy_secret(const struct cas_policy *p, size_t index)
{
	return p == NULL || index >= p->secrets_count ? NULL : &p->secrets[index].spec;
}

const struct cas_secret_spec *cas_policy_secret_find(const struct cas_policy *p, const char *name)
{
	for (size_t i = 0; p != NULL && name != NULL && i < p->secrets_count; i++) {
		if (strcmp(p->secrets[i].name, name) == 0)
			return &p->secrets[i].spec;
	}
	return NULL;
}

unsigned cas_policy_secret_fields(const struct cas_policy *p, size_t index)
{
	return p == NULL || index >= p->secrets_count ? 0 : p->secrets[index].fields;
}

size_t cas_policy_volume_count(const struct cas_policy *p)
{
	return p == NULL ? 0 : p->volumes_count;
}

const struct cas_volume_spec *cas_policy_volume(const struct cas_policy *p, size_t index)
{
	return p == NULL || index >= p->volumes_count ? NULL : &p->volumes[index].pub;
}

/* ---- accepts (§4) ---- */

/* The quote's product for a message: printable ASCII, at most 63 bytes. The quote
 * was verified but its product is whatever any tenant signed. */
static void product_text(const char *product, char out[SHELTER_PRODUCT_MAX])
{
	size_t i;

	for (i = 0; i < SHELTER_PRODUCT_MAX - 1 && product[i] != '\0'; i++)
		out[i] = product[i] >= 0x20 && product[i] <= 0x7e && product[i] != '\'' ?
				 product[i] : '?';
	out[i] = '\0';
}

static int identity_accepted(const struct cas_policy *p, const struct shelter_identity *id,
			     enum cas_accept_rule *rule, struct shelter_err *err)
{
	static const uint8_t zero[SHELTER_SIGNER_SIZE];
	const struct pol_signer *low = NULL;
	char mhex[2 * SHELTER_MEASUREMENT_SIZE + 1], shex[2 * SHELTER_SIGNER_SIZE + 1];
	char product[SHELTER_PRODUCT_MAX];
	int is_signed = CRYPTO_memcmp(id->signer, zero, sizeof(zero)) != 0;
	size_t plen = strnlen(id->product, SHELTER_PRODUCT_MAX);

	for (size_t i = 0; i < p->measurements_count; i++) {
		if (CRYPTO_memcmp(p->measurements[i], id->measurement, SHELTER_MEASUREMENT_SIZE) == 0)
			return 0;
	}
	/* §4.2: a signer rule needs the same key and product, and a version at least
	 * min_version; an unterminated product never matches */
	for (size_t i = 0; is_signed && plen < SHELTER_PRODUCT_MAX && i < p->signers_count; i++) {
		const struct pol_signer *s = &p->signers[i];

		if (CRYPTO_memcmp(s->signer, id->signer, SHELTER_SIGNER_SIZE) != 0 ||
		    strcmp(s->product, id->product) != 0)
			continue;
		if (id->version >= s->min_version)
			return 0;
		low = s;
	}
	shelter_hex(id->measurement, SHELTER_MEASUREMENT_SIZE, mhex);
	shelter_hex(id->signer, SHELTER_SIGNER_SIZE, shex);
	product_text(id->product, product);
	if (low != NULL) {
		*rule = CAS_ACCEPT_VERSION;
		return shelter_err_set(err, SHELTER_E_POLICY, "session '%s': signer %s product '%s' "
				       "version %u below minimum %u", p->name, shex, product,
				       id->version, low->min_version);
	}
	if (is_signed && p->signers_count > 0) {
		*rule = CAS_ACCEPT_SIGNER;
		return shelter_err_set(err, SHELTER_E_POLICY, "session '%s': measurement %s not "
				       "accepted and signer %s product '%s' not accepted", p->name,
				       mhex, shex, product);
	}
	*rule = CAS_ACCEPT_MEASUREMENT;
	return shelter_err_set(err, SHELTER_E_POLICY, "session '%s': measurement %s not accepted",
			       p->name, mhex);
}

/* §4.5: the order of the checks decides which rule a refusal names. */
int cas_policy_check(const struct cas_policy *p, const struct shelter_quote_info *qi,
		     enum cas_accept_rule *out_rule, struct shelter_err *err)
{
	const uint32_t known = SHELTER_TEE_FLAG_SIM | SHELTER_TEE_FLAG_DEBUG;
	enum cas_accept_rule rule_local = CAS_ACCEPT_OK, *rule = out_rule ? out_rule : &rule_local;
	const struct shelter_identity *id;
	char hex[2 * 32 + 1];
	int provider_ok = 0;

	*rule = CAS_ACCEPT_OK;
	if (p == NULL || qi == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "policy accepts: no policy or quote");
	id = &qi->id;
	/* fail closed on flags this code does not know: a future flag may weaken what
	 * the quote promises */
	if (id->flags & ~known) {
		*rule = CAS_ACCEPT_FLAGS;
		return shelter_err_set(err, SHELTER_E_POLICY, "session '%s': unknown identity "
				       "flags 0x%x", p->name, id->flags & ~known);
	}
	if (((id->flags & SHELTER_TEE_FLAG_SIM) || id->tee == SHELTER_TEE_SIM) && !p->allow_sim) {
		*rule = CAS_ACCEPT_SIM;
		return shelter_err_set(err, SHELTER_E_POLICY, "sim quotes not allowed by session "
				       "'%s'", p->name);
	}
	if ((id->flags & SHELTER_TEE_FLAG_DEBUG) && !p->allow_debug) {
		*rule = CAS_ACCEPT_DEBUG;
		return shelter_err_set(err, SHELTER_E_POLICY, "debug not allowed by session '%s'",
				       p->name);
	}
	for (size_t i = 0; i < p->providers_count; i++)
		provider_ok |= CRYPTO_memcmp(p->providers[i].pub.id, qi->provider, 32) == 0;
	if (!provider_ok) {
		*rule = CAS_ACCEPT_PROVIDER;
		shelter_hex(qi->provider, 32, hex);
		return shelter_err_set(err, SHELTER_E_POLICY, "session '%s': provider %s not "
				       "accepted", p->name, hex);
	}
	return identity_accepted(p, id, rule, err);
}

int cas_policy_accepts(const struct cas_policy *p, const struct shelter_quote_info *qi,
		       struct shelter_err *err)
{
	return cas_policy_check(p, qi, NULL, err);
}
