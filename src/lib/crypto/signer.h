/* An Ed25519 private key held ready to sign (internal to libshelter and its static
 * users; not exported). shelter_ed25519_sign takes the raw seed and rebuilds the key,
 * its public half included, at every call: two scalar multiplications more than the
 * signature itself. A signer pays that once: for a service that signs every round
 * (the freshness endorser, docs/protocols/freshness.md §4).
 *
 * Ownership: the signer is owned by its creator (shelter_signer_free); it keeps its
 * own copy of the key in OpenSSL's secure heap, wiped when freed. One thread at a
 * time per signer. */
#ifndef SHELTER_CRYPTO_SIGNER_H
#define SHELTER_CRYPTO_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/crypto.h"

struct shelter_signer;

/* A signer for the 32-byte seed priv (the caller may wipe priv afterwards). */
int shelter_signer_new(const uint8_t priv[SHELTER_ED25519_PRIV_SIZE], struct shelter_signer **out,
		       struct shelter_err *err);
void shelter_signer_free(struct shelter_signer *s);
void shelter_signer_public(const struct shelter_signer *s, uint8_t pub[SHELTER_ED25519_PUB_SIZE]);
/* Pure Ed25519 (RFC 8032) of msg: the same signature shelter_ed25519_sign gives. */
int shelter_signer_sign(struct shelter_signer *s, const void *msg, size_t size,
			uint8_t sig[SHELTER_ED25519_SIG_SIZE], struct shelter_err *err);

#endif
