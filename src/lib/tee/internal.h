/* Internal to libshelter: the TEE backend interface, the sim quote wire format
 * (docs/formats/quote.md §2-§4) and the verifier's trust store.
 *
 * A backend is one file (sim.c; hardware backends in files of their own, see the
 * table in tee.c) exporting one const struct tee_backend. tee.c dispatches every
 * shelter_tee_* call through it, so callers never branch on the backend (STYLE.md
 * rule 3).
 */
#ifndef SHELTER_TEE_INTERNAL_H
#define SHELTER_TEE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "shelter/tee.h"

struct tee_backend {
	const char *name;     /* opts->backend value: "sim", "sgx", ... */
	uint32_t tee;         /* enum shelter_tee_type it produces */
	/* Why the backend cannot run on this build or machine; NULL when it can. */
	const char *unavailable;
	int (*open)(const struct shelter_tee_opts *opts, void **state, struct shelter_err *err);
	void (*close)(void *state);
	int (*identity)(const void *state, struct shelter_identity *out, struct shelter_err *err);
	int (*quote)(void *state, const uint8_t report_data[SHELTER_REPORT_DATA_SIZE],
		     uint8_t **quote, size_t *size, struct shelter_err *err);
	int (*seal_key)(void *state, enum shelter_seal_policy policy, const char *label,
			uint8_t key[32], struct shelter_err *err);
};

extern const struct tee_backend tee_backend_sim;
/* Hardware backends this build does not include (unavailable.c). A build with
 * SGX DCAP support links sgx.c instead, which defines the same symbol. */
extern const struct tee_backend tee_backend_sgx;
extern const struct tee_backend tee_backend_tdx;
extern const struct tee_backend tee_backend_sev_snp;

/* ---- quote wire format, version 1 (quote.md §3) ---- */

#define TEE_QUOTE_MAGIC "SHQT"
#define TEE_QUOTE_VERSION 1
#define TEE_QUOTE_BODY_SIZE 240 /* magic .. report_data: the signed bytes */
#define TEE_QUOTE_FIXED_SIZE (TEE_QUOTE_BODY_SIZE + 64 + 2) /* + signature + cert length */
#define TEE_QUOTE_CERT_MAX 4096
#define TEE_QUOTE_MAX (TEE_QUOTE_FIXED_SIZE + TEE_QUOTE_CERT_MAX)
#define TEE_FLAGS_KNOWN (SHELTER_TEE_FLAG_SIM | SHELTER_TEE_FLAG_DEBUG)

/* A parsed quote; cert points into the parsed bytes. */
struct tee_quote {
	struct shelter_identity id;
	uint8_t key_id[32];
	uint8_t report_data[SHELTER_REPORT_DATA_SIZE];
	uint8_t sig[64];
	const uint8_t *cert;
	size_t cert_size;
};

/* quote.md §3: strict parse (exact sizes, reserved bits zero, product NUL-padded).
 * SHELTER_E_MALFORMED or SHELTER_E_VERSION. */
int tee_quote_parse(const uint8_t *quote, size_t size, struct tee_quote *out,
		    struct shelter_err *err);
/* quote.md §3: encode the signed body (TEE_QUOTE_BODY_SIZE bytes). */
void tee_quote_encode_body(const struct shelter_identity *id, const uint8_t key_id[32],
			   const uint8_t report_data[SHELTER_REPORT_DATA_SIZE],
			   uint8_t body[TEE_QUOTE_BODY_SIZE]);
/* quote.md §3.1: the identity rules shared by the quote parser and the sim
 * backend's launch identity (flags, product padding, unsigned => empty product). */
int tee_identity_check(const struct shelter_identity *id, struct shelter_err *err);

/* shelter_quote_verify at a given time (0: now). Tests and vectors use it to check
 * validity windows without waiting for them. */
int tee_quote_verify_at(const uint8_t *quote, size_t size, const struct shelter_trust *trust,
			time_t at, struct shelter_quote_info *out, struct shelter_err *err);

/* ---- trust (trust.c) ---- */

struct tee_provider {
	X509 *ca;
	uint8_t id[32];
	char name[SHELTER_PLATFORM_NAME_MAX];
	X509_CRL *crl;       /* newest CRL held; NULL until one is added */
	uint64_t crl_number;
};

/* A platform certificate that verified once, parsed (quote.md §4.4): what its
 * bytes say (the parsed object, key id, name) and which provider's CA signed it.
 * That signature and the chain's structure depend only on these bytes and on the
 * providers, so they hold until the trust changes (generation); revocation and
 * validity times are checked at every verification. */
#define TEE_CERT_CACHE_SLOTS 64
struct tee_cert_slot {
	uint8_t *der;               /* the certificate's DER: the key of the slot */
	size_t size;
	X509 *cert;
	uint8_t key_id[32];
	char name[SHELTER_PLATFORM_NAME_MAX];
	size_t provider;            /* index of the provider whose CA signed it */
	uint64_t generation;        /* the trust's generation when the chain verified */
};

struct shelter_trust {
	X509_STORE *store;          /* the provider CAs, nothing else */
	STACK_OF(X509_CRL) *crls;   /* the newest CRL of each provider (borrowed) */
	struct tee_provider *providers;
	size_t count;
	pthread_mutex_t lock;       /* guards cache, which verifications share */
	struct tee_cert_slot cache[TEE_CERT_CACHE_SLOTS];
	uint64_t generation;        /* bumped by every provider or CRL added */
};

/* The parsed certificate cached for exactly these DER bytes: 1 with *cert up-ref'd
 * (the caller frees it), key_id and name filled, and *provider the provider whose
 * CA signed it when that still holds for this trust (else NULL); 0 when none. */
int tee_cert_cache_get(const struct shelter_trust *trust, const uint8_t *der, size_t size,
		       X509 **cert, uint8_t key_id[32], char *name,
		       const struct tee_provider **provider);
/* Remember a platform certificate whose chain to provider verified (best effort:
 * no error). name is a SHELTER_PLATFORM_NAME_MAX-byte buffer. */
void tee_cert_cache_put(const struct shelter_trust *trust, const uint8_t *der, size_t size,
			X509 *cert, const uint8_t key_id[32], const char *name,
			const struct tee_provider *provider);

/* X509_STORE check_crl hook (quote.c, §4.3): accepts exactly the CRL the trust
 * holds for the certificate's issuer, whose signature was checked when added. */
int tee_check_crl(X509_STORE_CTX *ctx, X509_CRL *crl);
/* The provider whose CA is ca (pointer from a verified chain); NULL if none. */
const struct tee_provider *tee_trust_find(const struct shelter_trust *trust, const X509 *ca);

#endif
