/* Internal to libshelter: the sim platform directory (docs/formats/quote.md §5.4),
 * read by the sim backend (sim.c) and written by the platform commands
 * (src/lib/provider/platform.c). */
#ifndef SHELTER_TEE_SIM_H
#define SHELTER_TEE_SIM_H

#include <openssl/evp.h>

#include "shelter/error.h"

#define SIM_KEY_FILE "attestation.key"  /* PKCS#8 PEM, 0600: the attestation key (AK) */
#define SIM_SEAL_FILE "seal.secret"     /* 32 random bytes, 0600: sealing-key root */
#define SIM_CSR_FILE "platform.csr"     /* PKCS#10 PEM: the enrolment request */
#define SIM_CERT_FILE "platform.crt"    /* PEM: the platform certificate */
#define SIM_PROVIDER_FILE "provider.crt" /* PEM: the CA that issued it, when given */
#define SIM_NAME_FILE "name"            /* the platform name and a newline */
#define SIM_SEAL_SIZE 32

/* Load the attestation key of the platform in dir. SHELTER_E_NOENT (saying to run
 * `shelter platform init`) when there is none; SHELTER_E_PERM when the key file
 * can be read by other users. *out is owned by the caller (EVP_PKEY_free). */
int sim_load_key(const char *dir, EVP_PKEY **out, struct shelter_err *err);
/* The platform name recorded in dir/name (PKI_NAME_MAX bytes). */
int sim_load_name(const char *dir, char *name, struct shelter_err *err);

#endif
