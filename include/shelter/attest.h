/* Attestation client: prove this program to a CAS and fetch its configuration.
 *
 * The exchange of docs/api/cas.md §4 on one TLS 1.3 connection: ask the CAS for a
 * nonce, make an ephemeral key, quote over SHA-256(its public key) || nonce with the
 * TEE, present the quote in an RA-TLS certificate (docs/formats/ra-tls.md) through
 * post-handshake authentication, and receive the session's configuration. The CAS
 * is authenticated by its pinned certificate; nothing is trusted on first use.
 *
 * Ownership: a struct shelter_attester is owned by its creator
 * (shelter_attester_free) and borrows opts->tee, which must outlive it. A struct
 * shelter_config holds secrets: free it with shelter_config_free, which wipes it.
 * Strings and bytes read from a config are borrowed and live until it is freed.
 * Thread safety: one attester may serve several threads at once; a config is
 * read-only.
 *
 * Errors: SHELTER_E_NET / SHELTER_E_EXPIRED for the connection, SHELTER_E_UNTRUSTED
 * when the CAS's certificate is not the pinned one, and for a refusal the code
 * matching the CAS's reason (SHELTER_E_POLICY, SHELTER_E_REVOKED, SHELTER_E_REPLAY,
 * SHELTER_E_NOENT for an unknown session, ...) with the CAS's code and reason in
 * the message.
 */
#ifndef SHELTER_ATTEST_H
#define SHELTER_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"
#include "shelter/tee.h"

struct shelter_attester_opts {
	const char *cas_url;     /* https://HOST[:PORT] */
	const char *cas_cert_pem;/* the CAS's certificate (DATA/cas.crt), pinned */
	size_t cas_cert_pem_size;
	struct shelter_tee *tee; /* quotes come from here */
	int timeout_ms;          /* per step; 0 = 10000 */
};

struct shelter_attester;
struct shelter_config;

SHELTER_API SHELTER_MUST_USE int shelter_attester_new(const struct shelter_attester_opts *opts,
						      struct shelter_attester **out,
						      struct shelter_err *err);
SHELTER_API void shelter_attester_free(struct shelter_attester *a);

/* Attest to session and fetch its configuration. host_args (argv, argc may be 0)
 * and host_env ("NAME=VALUE") are what the host asks for; the CAS ignores what the
 * policy does not allow. */
SHELTER_API SHELTER_MUST_USE int shelter_attester_fetch(struct shelter_attester *a,
							const char *session,
							const char *const *host_args, size_t argc,
							const char *const *host_env, size_t envc,
							struct shelter_config **out,
							struct shelter_err *err);

/* Attest to session, then record a volume's new tag (cas.md §5): compare-and-swap
 * from predecessor (NULL: the volume has no tag yet); SHELTER_E_CONFLICT when the
 * CAS holds another tag. */
SHELTER_API SHELTER_MUST_USE int shelter_attester_put_tag(struct shelter_attester *a,
							  const char *session, const char *volume,
							  const uint8_t tag[32],
							  const uint8_t *predecessor,
							  struct shelter_err *err);

/* Wipes and frees; NULL is a no-op. */
SHELTER_API void shelter_config_free(struct shelter_config *c);
/* The configuration as the CAS sent it (JSON text, cas.md §4.4). Holds secrets. */
SHELTER_API const char *shelter_config_json(const struct shelter_config *c);
SHELTER_API size_t shelter_config_arg_count(const struct shelter_config *c);
SHELTER_API const char *shelter_config_arg(const struct shelter_config *c, size_t i);
SHELTER_API size_t shelter_config_env_count(const struct shelter_config *c);
/* NULL name when i is out of range. */
SHELTER_API void shelter_config_env(const struct shelter_config *c, size_t i, const char **name,
				    const char **value);
SHELTER_API size_t shelter_config_file_count(const struct shelter_config *c);
SHELTER_API void shelter_config_file(const struct shelter_config *c, size_t i, const char **path,
				     const uint8_t **data, size_t *size);
SHELTER_API size_t shelter_config_volume_count(const struct shelter_config *c);
/* has_tag is 0 for a volume the CAS holds no tag for yet. SHELTER_E_INVAL out of
 * range. */
SHELTER_API SHELTER_MUST_USE int shelter_config_volume(const struct shelter_config *c, size_t i,
						       const char **name, const char **path,
						       uint8_t key[32], uint8_t tag[32],
						       int *has_tag);

#endif
