/* Hardware TEE backends this build does not include (docs/formats/quote.md §2).
 * Each is a placeholder with the name callers use; a build for the hardware links
 * the backend's own file (sgx.c, tdx.c, sev_snp.c) in place of this one, defining
 * the same symbol, and tee.c's table picks it up unchanged. */
#include "tee/internal.h"

const struct tee_backend tee_backend_sgx = {
	.name = "sgx",
	.tee = SHELTER_TEE_SGX_DCAP,
	.unavailable = "this build has no SGX DCAP backend (needs /dev/sgx_enclave and "
		       "the DCAP quoting library)",
};

const struct tee_backend tee_backend_tdx = {
	.name = "tdx",
	.tee = SHELTER_TEE_TDX,
	.unavailable = "this build has no TDX backend (needs a TDX guest with "
		       "/sys/kernel/config/tsm/report)",
};

const struct tee_backend tee_backend_sev_snp = {
	.name = "sev-snp",
	.tee = SHELTER_TEE_SEV_SNP,
	.unavailable = "this build has no SEV-SNP backend (needs an SNP guest with "
		       "/sys/kernel/config/tsm/report)",
};
