/* A freshness client's policy (client.h; docs/protocols/freshness.md §3.3) from the
 * inputs commands take: provider directories, endorser measurements, sim quotes.
 * Shared by `shelter freshness create|append|read` and StreamLog's anchor. */
#include <stdlib.h>
#include <string.h>

#include "freshness/client.h"
#include "tee/pki.h"

#define CA_MAX (1u << 16)
#define CRL_MAX (1u << 20)

/* A provider directory's CA and CRL into the trust (quote.md §4.3). */
static int add_provider(struct shelter_trust *t, const char *dir, struct shelter_err *err)
{
	char path[4096], *pem = NULL;
	size_t len = 0;
	int rc = pki_path(path, sizeof(path), dir, "ca.crt", err);

	if (rc == 0)
		rc = pki_read_file(path, CA_MAX, &pem, &len, err);
	if (rc == 0)
		rc = shelter_trust_add_provider(t, pem, len, NULL, err);
	free(pem);
	pem = NULL;
	if (rc == 0)
		rc = pki_path(path, sizeof(path), dir, "crl.pem", err);
	if (rc == 0)
		rc = pki_read_file(path, CRL_MAX, &pem, &len, err);
	if (rc == 0)
		rc = shelter_trust_add_crl(t, pem, len, err);
	free(pem);
	return rc < 0 ? shelter_err_wrap(err, rc, "provider '%s'", dir) : 0;
}

int fresh_policy_load(const struct fresh_policy_args *in, struct fresh_policy_loaded *out,
		      struct shelter_err *err)
{
	size_t n = in->nmeasurements > 0 ? in->nmeasurements : 1;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = shelter_trust_new(&out->trust, err);
	for (size_t i = 0; i < in->nproviders && rc == 0; i++)
		rc = add_provider(out->trust, in->providers[i], err);
	if (rc == 0 && (out->measurements = calloc(n, sizeof(*out->measurements))) == NULL)
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
	if (rc == 0 && in->nmeasurements > 0)
		memcpy(out->measurements, in->measurements, n * sizeof(*out->measurements));
	else if (rc == 0)
		rc = fresh_endorser_measurement_of(in->endorser_program != NULL
							   ? in->endorser_program
							   : "/proc/self/exe",
						   out->measurements[0], err);
	if (rc < 0) {
		fresh_policy_unload(out);
		return rc;
	}
	out->policy.trust = out->trust;
	out->policy.measurements = (const uint8_t (*)[SHELTER_MEASUREMENT_SIZE])out->measurements;
	out->policy.nmeasurements = n;
	out->policy.accept_sim = in->accept_sim;
	return 0;
}

void fresh_policy_unload(struct fresh_policy_loaded *p)
{
	if (p == NULL)
		return;
	shelter_trust_free(p->trust);
	free(p->measurements);
	memset(p, 0, sizeof(*p));
}
