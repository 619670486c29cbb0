/* libFuzzer target: CAS policies (docs/policy.md; STYLE.md rule 17), the YAML
 * parser and everything a parsed policy feeds: accessors, the accept rules and the
 * render path through to the configuration JSON.
 *
 * Input: YAML, optionally followed by a NUL byte and NUL-separated host strings;
 * those with '=' become the host environment, the others the host argv. (A NUL
 * cannot occur in a YAML document libyaml accepts, so seeds made from plain policy
 * files exercise the parser unchanged.)
 *
 * Properties checked with abort():
 *   - a refused policy yields NULL, SHELTER_E_MALFORMED or SHELTER_E_INVAL (or
 *     SHELTER_E_NOMEM), and a message starting with "policy";
 *   - a parsed policy accepts a quote carrying its first measurement from its first
 *     provider, and a quote signed by its first signer at exactly min_version; it
 *     refuses the same quotes from an unknown provider, or marked sim when
 *     allow_sim is false;
 *   - render succeeds unless the configuration would exceed CAS_LAUNCH_MAX_SIZE,
 *     asks only for fields cas_policy_secret_fields announced, yields exactly the
 *     policy's volumes and unique environment names; the JSON builds whenever every
 *     host string is ASCII.
 *
 * Run: build/fuzz/fuzz/fuzz_policy -dict=tests/fuzz/corpus/fuzz_policy.dict \
 *        CORPUS tests/fuzz/corpus/fuzz_policy
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cas/policy.h"
#include "cas/policy_internal.h" /* white box: measurements and signers */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_HOST 64

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_policy: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static const char fake_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBmzCCAUGgAwIBAgIUKN0mkOdV5XH5hI7+1Ozn1Knt3nowCgYIKoZIzj0EAwIw\n"
	"GzEZMBcGA1UEAwwQYWNtZSBwcm92aWRlciBDQTAeFw0yNjExMjIyMDUyMjRaFw0z\n"
	"-----END CERTIFICATE-----\n";

struct fz_ctx {
	const struct cas_policy *p;
	int bad_field; /* a field was asked that the policy did not announce */
};

static int fz_lookup(void *ctx, const struct cas_secret_spec *s, enum cas_secret_field field,
		     uint8_t **out, size_t *out_size, struct shelter_err *err)
{
	struct fz_ctx *c = ctx;
	const char *v;
	size_t i;

	for (i = 0; i < cas_policy_secret_count(c->p); i++) {
		if (cas_policy_secret(c->p, i) == s)
			break;
	}
	if (i == cas_policy_secret_count(c->p) ||
	    !(cas_policy_secret_fields(c->p, i) & CAS_FIELD_BIT(field)))
		c->bad_field = 1;
	switch (field) {
	case CAS_FIELD_HEX:
	case CAS_FIELD_PUBLIC_HEX:
		v = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
		break;
	case CAS_FIELD_BASE64:
		v = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=";
		break;
	case CAS_FIELD_VALUE:
		v = s->kind == CAS_SECRET_VALUE ? (const char *)s->value : "Passw0rdPassw0rd";
		break;
	default:
		v = fake_pem;
		break;
	}
	if (field == CAS_FIELD_BASE64 && s->size == 7)
		return shelter_err_set(err, SHELTER_E_IO, "lookup failure path"); /* sometimes */
	*out_size = strlen(v);
	*out = malloc(*out_size + 1);
	if (*out == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "lookup");
	memcpy(*out, v, *out_size + 1);
	return 0;
}

static void check_accepts(const struct cas_policy *p)
{
	enum cas_accept_rule rule = CAS_ACCEPT_OK;
	struct shelter_quote_info qi;
	int rc;

	memset(&qi, 0, sizeof(qi));
	qi.id.tee = SHELTER_TEE_SGX_DCAP;
	memcpy(qi.provider, cas_policy_provider(p, 0)->id, 32);
	if (p->measurements_count > 0) {
		memcpy(qi.id.measurement, p->measurements[0], 32);
		if ((rc = cas_policy_accepts(p, &qi, NULL)) != 0)
			die("listed measurement refused: %d", rc);
		qi.id.flags = SHELTER_TEE_FLAG_SIM;
		rc = cas_policy_check(p, &qi, &rule, NULL);
		if ((rc == 0) != (p->allow_sim != 0) || (rc == 0) != (rule == CAS_ACCEPT_OK) ||
		    (rc != 0 && rule != CAS_ACCEPT_SIM))
			die("sim quote: %d rule %d with allow_sim %d", rc, (int)rule, p->allow_sim);
		qi.id.flags = 0;
	}
	if (p->signers_count > 0) {
		const struct pol_signer *s = &p->signers[0];
		int listed = 0;

		memset(qi.id.measurement, 0xa5, 32);
		for (size_t i = 0; i < p->measurements_count; i++)
			listed |= memcmp(p->measurements[i], qi.id.measurement, 32) == 0;
		memcpy(qi.id.signer, s->signer, 32);
		snprintf(qi.id.product, sizeof(qi.id.product), "%s", s->product);
		qi.id.version = s->min_version;
		if ((rc = cas_policy_accepts(p, &qi, NULL)) != 0)
			die("signer at min_version refused: %d", rc);
		if (s->min_version > 0 && !listed) {
			int other = 0;

			/* another rule for the same signer and product could allow it */
			for (size_t i = 1; i < p->signers_count; i++)
				other |= memcmp(p->signers[i].signer, s->signer, 32) == 0 &&
					 strcmp(p->signers[i].product, s->product) == 0;
			qi.id.version = s->min_version - 1;
			if (!other && cas_policy_accepts(p, &qi, NULL) != SHELTER_E_POLICY)
				die("signer below min_version accepted");
		}
	}
	/* a provider id no CA hashes to in practice */
	memset(qi.provider, 0, sizeof(qi.provider));
	if (cas_policy_check(p, &qi, &rule, NULL) != SHELTER_E_POLICY ||
	    rule != CAS_ACCEPT_PROVIDER)
		die("unknown provider accepted, or refused for rule %d", (int)rule);
}

static void check_render(const struct cas_policy *p, const char *const *args, size_t n,
			 const char *const *env, size_t m, int host_ascii)
{
	struct fz_ctx c = { .p = p };
	struct cas_launch *l = NULL;
	struct shelter_err err;
	json_t *j = NULL;
	int rc;

	shelter_err_clear(&err);
	rc = cas_policy_render(p, args, n, env, m, fz_lookup, &c, &l, &err);
	if (c.bad_field)
		die("lookup asked for an unannounced field");
	if (rc != 0) {
		if (l != NULL)
			die("render failed but returned a launch");
		if (!(rc == SHELTER_E_INVAL && strstr(err.msg, "exceeds") != NULL) &&
		    !(rc == SHELTER_E_IO && strstr(err.msg, "lookup failure path") != NULL))
			die("render: %d %s", rc, err.msg);
		return;
	}
	if (l->volumes_count != cas_policy_volume_count(p))
		die("render: %zu volumes, policy has %zu", l->volumes_count,
		    cas_policy_volume_count(p));
	for (size_t i = 0; i < l->env_count; i++) {
		for (size_t k = 0; k < i; k++) {
			if (strcmp(l->env[i].name, l->env[k].name) == 0)
				die("render: env %s twice", l->env[i].name);
		}
	}
	rc = cas_launch_to_json(l, &j, &err);
	if (rc != 0 && (host_ascii || rc != SHELTER_E_INVAL))
		die("to_json: %d %s", rc, err.msg);
	json_decref(j);
	cas_launch_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *yaml = (const char *)data, *args[FZ_MAX_HOST], *env[FZ_MAX_HOST];
	const uint8_t *nul = memchr(data, '\0', size);
	size_t yaml_size = nul != NULL ? (size_t)(nul - data) : size, n = 0, m = 0;
	struct cas_policy *p = (struct cas_policy *)&p;
	struct shelter_err err;
	char *host = NULL;
	int rc, host_ascii = 1;

	shelter_err_clear(&err);
	rc = cas_policy_parse(yaml, yaml_size, &p, &err);
	if (rc != 0) {
		if (p != NULL)
			die("refused policy returned non-NULL");
		if (rc != SHELTER_E_MALFORMED && rc != SHELTER_E_INVAL && rc != SHELTER_E_NOMEM)
			die("unexpected code %d: %s", rc, err.msg);
		if (err.code != rc || strncmp(err.msg, "policy", 6) != 0)
			die("bad message for %d: %s", rc, err.msg);
		return 0;
	}
	if (cas_policy_name(p) == NULL || cas_policy_provider_count(p) == 0)
		die("parsed policy without name or provider");
	/* the host strings after the NUL, as a copy with a terminating NUL */
	if (nul != NULL) {
		size_t rest = size - yaml_size - 1;

		host = malloc(rest + 1);
		if (host == NULL)
			return 0;
		memcpy(host, nul + 1, rest);
		host[rest] = '\0';
		for (char *s = host; s <= host + rest && n < FZ_MAX_HOST && m < FZ_MAX_HOST;
		     s += strlen(s) + 1) {
			for (const char *c = s; *c != '\0'; c++)
				host_ascii &= (unsigned char)*c < 0x80;
			if (strchr(s, '=') != NULL)
				env[m++] = s;
			else
				args[n++] = s;
		}
	}
	check_accepts(p);
	check_render(p, args, n, env, m, host_ascii);
	free(host);
	cas_policy_free(p);
	return 0;
}
