/* Providers and platforms: transparent group attestation and server ownership.
 *
 * A provider runs machines and vouches for them: its CA (an ECDSA P-256 key and a
 * self-signed certificate) enrols each platform by signing the platform's
 * attestation key into a platform certificate, and revokes platforms through a CRL.
 * A verifier that trusts a provider (shelter_trust_add_provider, tee.h) accepts
 * quotes from any platform that provider enrolled and has not revoked, wherever the
 * workload runs. Every enrolment and revocation is appended to the provider's
 * hash-chained inventory. Layouts and formats: docs/formats/quote.md §5.
 *
 * Directories hold private keys: they are created 0700, keys 0600. Returned strings
 * are malloc'd and owned by the caller (free()).
 */
#ifndef SHELTER_PROVIDER_H
#define SHELTER_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"

/* The platform directory used when none is given: $SHELTER_PLATFORM_DIR, else
 * /var/lib/shelter/platform for root, else $XDG_DATA_HOME (or ~/.local/share)
 * /shelter/platform. Fails with SHELTER_E_NAMETOOLONG when it does not fit. */
SHELTER_API SHELTER_MUST_USE int shelter_platform_default_dir(char *buf, size_t size,
							      struct shelter_err *err);

/* Create this machine's platform identity in dir (created if missing; must not
 * already hold one): an attestation key, a sealing secret, and an enrolment
 * request (a PKCS#10 CSR signed by the attestation key, subject CN = name) written
 * to dir/platform.csr and returned in *csr_pem. */
SHELTER_API SHELTER_MUST_USE int shelter_platform_init(const char *dir, const char *name,
						       char **csr_pem,
						       struct shelter_err *err);

/* What a platform directory holds, for `shelter platform show`. */
struct shelter_platform_info {
	char name[64];         /* SHELTER_PLATFORM_NAME_MAX (tee.h) */
	uint8_t key_id[32];    /* SHA-256 of the attestation key's SPKI DER */
	int enrolled;          /* 1 once a platform certificate is installed */
	char provider[64];     /* the issuing provider's name; "" when not enrolled */
	char serial[41];       /* certificate serial in hex; "" when not enrolled */
	int64_t not_before;    /* certificate validity, Unix seconds; 0 when not enrolled */
	int64_t not_after;
};
/* Describe the platform in dir (added for the CLI; reads, never writes). */
SHELTER_API SHELTER_MUST_USE int shelter_platform_info(const char *dir,
						       struct shelter_platform_info *out,
						       struct shelter_err *err);

/* Install the platform certificate a provider issued (PEM, optionally followed by
 * the provider CA certificate). Refuses a certificate for another key. */
SHELTER_API SHELTER_MUST_USE int shelter_platform_install_cert(const char *dir,
							       const char *cert_pem,
							       size_t size,
							       struct shelter_err *err);

/* Create a provider in dir (must not already hold one): CA key, self-signed CA
 * certificate (dir/ca.crt), an empty CRL (dir/crl.pem) and the inventory. */
SHELTER_API SHELTER_MUST_USE int shelter_provider_init(const char *dir, const char *name,
						       struct shelter_err *err);

/* Enrol a platform: check the request's self-signature, issue a platform
 * certificate (valid `days` days; 0 means 825), record it in the inventory before
 * returning it in *cert_pem (the certificate followed by the CA certificate).
 * Refuses a key ever enrolled (even if revoked since) and a name currently enrolled
 * (SHELTER_E_EXIST). */
SHELTER_API SHELTER_MUST_USE int shelter_provider_enroll(const char *dir, const char *csr_pem,
							 size_t size, unsigned days,
							 char **cert_pem,
							 struct shelter_err *err);

/* Revoke a platform named by its name, its certificate serial (hex) or its key id
 * (hex SHA-256 of the SPKI): record it in the inventory, then issue a new CRL with
 * a higher CRL number. */
SHELTER_API SHELTER_MUST_USE int shelter_provider_revoke(const char *dir, const char *platform,
							 const char *reason,
							 struct shelter_err *err);

/* One platform of a provider's inventory, for `shelter provider list`. */
struct shelter_provider_platform {
	char name[64];
	char serial[41];       /* hex */
	uint8_t key_id[32];
	char enrolled[21];     /* RFC 3339 UTC time of enrolment */
	char revoked[21];      /* time of revocation; "" while enrolled */
	char reason[257];      /* the revocation's reason; "" when none */
};
/* The platforms a provider enrolled, in enrolment order (checks the inventory as
 * shelter_provider_verify_inventory does). *out is malloc'd (caller frees, NULL when
 * *count is 0). Added for the CLI. */
SHELTER_API SHELTER_MUST_USE int shelter_provider_list(const char *dir,
						       struct shelter_provider_platform **out,
						       size_t *count, struct shelter_err *err);

/* Check the provider's inventory chain from its first entry, and that crl.pem
 * (signed by the provider's CA) revokes exactly the platforms the inventory records
 * as revoked; on success *entries is the number of entries. SHELTER_E_INTEGRITY
 * names the first broken entry. */
SHELTER_API SHELTER_MUST_USE int shelter_provider_verify_inventory(const char *dir,
								   uint64_t *entries,
								   struct shelter_err *err);

#endif
