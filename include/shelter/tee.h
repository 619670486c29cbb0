/* TEE interface: measure, quote, verify a quote, derive a sealing key.
 *
 * One small interface in front of every trusted execution environment
 * (docs/formats/quote.md). The `sim` backend keeps the whole protocol with a
 * platform attestation key held in software: its quotes carry SHELTER_TEE_FLAG_SIM
 * and a verifier's policy must opt in to accept them, as it must for a debug
 * enclave. Hardware backends (SGX DCAP; TDX and SEV-SNP through configfs-tsm) plug
 * in behind the same calls: callers never branch on the backend.
 *
 * Ownership: a struct shelter_tee is owned by the caller of shelter_tee_open and
 * freed by shelter_tee_close; quotes returned by shelter_tee_quote are malloc'd and
 * owned by the caller (free()). A struct shelter_trust is owned by its creator
 * (shelter_trust_free). No function keeps pointers to its arguments.
 * Thread safety: one shelter_tee may be used by several threads; a shelter_trust is
 * read-only once built and may be shared by threads verifying quotes (it keeps a
 * lock-guarded cache of parsed platform certificates, quote.md §4.4, never a
 * verdict); adding providers or CRLs must not run concurrently with verification.
 */
#ifndef SHELTER_TEE_H
#define SHELTER_TEE_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"

#define SHELTER_MEASUREMENT_SIZE 32
#define SHELTER_SIGNER_SIZE 32
#define SHELTER_REPORT_DATA_SIZE 64
#define SHELTER_PRODUCT_MAX 64 /* bytes including the terminating NUL */
#define SHELTER_PLATFORM_NAME_MAX 64

/* The TEE that produced a quote (quote.md §2). */
enum shelter_tee_type {
	SHELTER_TEE_SIM = 1,
	SHELTER_TEE_SGX_DCAP = 2,
	SHELTER_TEE_TDX = 3,
	SHELTER_TEE_SEV_SNP = 4,
};

/* Attribute flags of an identity (quote.md §3). */
#define SHELTER_TEE_FLAG_SIM 0x1u   /* produced by the sim backend: no memory isolation */
#define SHELTER_TEE_FLAG_DEBUG 0x2u /* debuggable: its memory can be read by the host */

/* What a TEE reports about the code it runs. */
struct shelter_identity {
	uint32_t tee;                                  /* enum shelter_tee_type */
	uint32_t flags;                                /* SHELTER_TEE_FLAG_* */
	uint8_t measurement[SHELTER_MEASUREMENT_SIZE]; /* measurement.md: the code and manifest */
	uint8_t signer[SHELTER_SIGNER_SIZE]; /* SHA-256 of the tenant's Ed25519 public key;
						all zero when the measurement is not signed */
	char product[SHELTER_PRODUCT_MAX];   /* signed product name, "" when unsigned */
	uint32_t version;                    /* signed security version, 0 when unsigned */
};

struct shelter_tee;

struct shelter_tee_opts {
	const char *backend;      /* "sim"; NULL means "sim" */
	const char *platform_dir; /* sim: the platform's key material (provider.h);
				     NULL means shelter_platform_default_dir() */
	/* sim: the identity the loader measured and, when signed, verified
	 * (measure.h). Its tee field is ignored and its SIM flag forced on; required
	 * (SHELTER_E_INVAL when NULL or breaking quote.md §3.1). A hardware backend
	 * ignores this and reports what the hardware measured. */
	const struct shelter_identity *launch;
};

/* Open the TEE. For sim, loads the platform's attestation key and certificate
 * from opts->platform_dir; fails with SHELTER_E_NOENT naming the directory when
 * the platform was never initialised or enrolled. */
SHELTER_API SHELTER_MUST_USE int shelter_tee_open(const struct shelter_tee_opts *opts,
						  struct shelter_tee **out,
						  struct shelter_err *err);
/* Wipes key material and frees; NULL is a no-op. */
SHELTER_API void shelter_tee_close(struct shelter_tee *tee);

/* Measure: the identity of the code running in this TEE. */
SHELTER_API SHELTER_MUST_USE int shelter_tee_identity(const struct shelter_tee *tee,
						      struct shelter_identity *out,
						      struct shelter_err *err);

/* Quote over 64 bytes of caller-chosen report data (for RA-TLS: a hash of the
 * ephemeral public key and the verifier's nonce, docs/api/cas.md). *quote is
 * malloc'd (caller frees), *size its length. */
SHELTER_API SHELTER_MUST_USE int shelter_tee_quote(struct shelter_tee *tee,
						   const uint8_t report_data[SHELTER_REPORT_DATA_SIZE],
						   uint8_t **quote, size_t *size,
						   struct shelter_err *err);

/* Sealing keys (quote.md §6): bound to this platform and to either the exact
 * measurement or the signer + product (so signed upgrades keep their keys), and
 * separated by label. */
enum shelter_seal_policy {
	SHELTER_SEAL_MEASUREMENT = 1,
	SHELTER_SEAL_SIGNER = 2, /* fails with SHELTER_E_INVAL for an unsigned identity */
};
SHELTER_API SHELTER_MUST_USE int shelter_tee_seal_key(struct shelter_tee *tee,
						      enum shelter_seal_policy policy,
						      const char *label, uint8_t key[32],
						      struct shelter_err *err);

/* Trust anchors of a verifier: the providers whose platforms it accepts, each a
 * CA certificate, and their certificate revocation lists. */
struct shelter_trust;
SHELTER_API SHELTER_MUST_USE int shelter_trust_new(struct shelter_trust **out,
						   struct shelter_err *err);
SHELTER_API void shelter_trust_free(struct shelter_trust *trust);
/* Add a provider CA (PEM). Its id (SHA-256 of its SubjectPublicKeyInfo DER) is
 * written to id_out when not NULL. */
SHELTER_API SHELTER_MUST_USE int shelter_trust_add_provider(struct shelter_trust *trust,
							    const char *ca_pem, size_t size,
							    uint8_t id_out[32],
							    struct shelter_err *err);
/* Add a CRL (PEM) issued by a provider already added. Fails with SHELTER_E_UNTRUSTED
 * when no added provider signed it, and SHELTER_E_STALE when it is older (lower CRL
 * number) than one already held, so revocations cannot be rolled back;
 * SHELTER_E_CONFLICT for a different CRL with the number held. Every provider needs
 * a CRL: quotes from a provider without one are refused (fail closed). */
SHELTER_API SHELTER_MUST_USE int shelter_trust_add_crl(struct shelter_trust *trust,
						       const char *crl_pem, size_t size,
						       struct shelter_err *err);

/* What a verified quote says. */
struct shelter_quote_info {
	struct shelter_identity id;
	uint8_t report_data[SHELTER_REPORT_DATA_SIZE];
	uint8_t provider[32]; /* id of the provider CA that enrolled the platform */
	uint8_t platform[32]; /* SHA-256 of the platform attestation key's SPKI DER */
	char platform_name[SHELTER_PLATFORM_NAME_MAX];
};

/* Verify a quote (quote.md §4.2): structure (SHELTER_E_MALFORMED, SHELTER_E_VERSION),
 * the key id naming the certificate's key (SHELTER_E_UNTRUSTED), the signature of
 * that key over the body (SHELTER_E_INTEGRITY: the quote was modified), platform
 * certificate chained
 * to a provider in trust (SHELTER_E_UNTRUSTED) and not revoked (SHELTER_E_REVOKED)
 * nor expired (SHELTER_E_EXPIRED). Policy (sim allowed? which measurements?) is the
 * caller's. *out is all zero unless it returns 0. */
SHELTER_API SHELTER_MUST_USE int shelter_quote_verify(const uint8_t *quote, size_t size,
						      const struct shelter_trust *trust,
						      struct shelter_quote_info *out,
						      struct shelter_err *err);

#endif
