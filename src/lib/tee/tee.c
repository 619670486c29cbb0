/* The TEE interface (include/shelter/tee.h): one dispatch table over the backends
 * (docs/formats/quote.md §2). Callers never branch on the backend; a backend is a
 * whole file exporting one struct tee_backend (STYLE.md rule 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/internal.h"

struct shelter_tee {
	const struct tee_backend *backend;
	void *state;
};

/* Where backends plug in: sim runs everywhere; the hardware entries come from
 * unavailable.c in this build and from their own files (sgx.c, tdx.c, sev_snp.c)
 * in a build for that hardware, without a change here or in any caller. */
static const struct tee_backend *const backends[] = {
	&tee_backend_sim,     /* SHELTER_TEE_SIM: quote.md §3 */
	&tee_backend_sgx,     /* SHELTER_TEE_SGX_DCAP: SGX DCAP ECDSA quotes */
	&tee_backend_tdx,     /* SHELTER_TEE_TDX: TD quotes through configfs-tsm */
	&tee_backend_sev_snp, /* SHELTER_TEE_SEV_SNP: attestation reports via configfs-tsm */
};

#define BACKEND_COUNT (sizeof(backends) / sizeof(backends[0]))

static int unknown_backend(const char *name, struct shelter_err *err)
{
	char known[128] = "";
	size_t used = 0;

	for (size_t i = 0; i < BACKEND_COUNT; i++) {
		int n = snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "",
				 backends[i]->name);
		if (n < 0 || (size_t)n >= sizeof(known) - used)
			break;
		used += (size_t)n;
	}
	return shelter_err_set(err, SHELTER_E_INVAL, "TEE backend '%.64s' is unknown (known: %s)",
			       name, known);
}

int shelter_tee_open(const struct shelter_tee_opts *opts, struct shelter_tee **out,
		     struct shelter_err *err)
{
	const char *name = opts != NULL && opts->backend != NULL ? opts->backend : "sim";
	const struct tee_backend *be = NULL;
	struct shelter_tee *tee;
	int rc;

	if (out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "TEE: NULL argument");
	*out = NULL;
	for (size_t i = 0; i < BACKEND_COUNT && be == NULL; i++) {
		if (strcmp(backends[i]->name, name) == 0)
			be = backends[i];
	}
	if (be == NULL)
		return unknown_backend(name, err);
	if (be->unavailable != NULL)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "TEE backend '%s' is not available on this machine: %s",
				       be->name, be->unavailable);
	tee = calloc(1, sizeof(*tee));
	if (tee == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "TEE: out of memory");
	tee->backend = be;
	rc = be->open(opts, &tee->state, err);
	if (rc < 0) {
		free(tee);
		return rc;
	}
	*out = tee;
	return 0;
}

void shelter_tee_close(struct shelter_tee *tee)
{
	if (tee == NULL)
		return;
	tee->backend->close(tee->state);
	free(tee);
}

int shelter_tee_identity(const struct shelter_tee *tee, struct shelter_identity *out,
			 struct shelter_err *err)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (tee == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "TEE identity: NULL argument");
	return tee->backend->identity(tee->state, out, err);
}

int shelter_tee_quote(struct shelter_tee *tee,
		      const uint8_t report_data[SHELTER_REPORT_DATA_SIZE], uint8_t **quote,
		      size_t *size, struct shelter_err *err)
{
	if (quote != NULL)
		*quote = NULL;
	if (size != NULL)
		*size = 0;
	if (tee == NULL || report_data == NULL || quote == NULL || size == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "TEE quote: NULL argument");
	return tee->backend->quote(tee->state, report_data, quote, size, err);
}

int shelter_tee_seal_key(struct shelter_tee *tee, enum shelter_seal_policy policy,
			 const char *label, uint8_t key[32], struct shelter_err *err)
{
	int rc;

	if (tee == NULL || key == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "TEE seal key: NULL argument");
	rc = tee->backend->seal_key(tee->state, policy, label, key, err);
	if (rc < 0)
		memset(key, 0, 32);
	return rc;
}
