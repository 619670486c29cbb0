/* libshelter crypto layer: thin, typed wrappers over OpenSSL 3; no home-made primitives.
 *
 * No home-made primitives: every function here calls OpenSSL. All functions return 0
 * or a negative enum shelter_code (SHELTER_E_CRYPTO on an OpenSSL failure,
 * SHELTER_E_INTEGRITY when an AEAD tag or a signature does not verify) and may fill
 * the optional err. Output buffers are caller-owned; functions never keep pointers
 * to their arguments after returning.
 */
#ifndef SHELTER_CRYPTO_H
#define SHELTER_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"

#define SHELTER_KEY_SIZE 32
#define SHELTER_SHA256_SIZE 32
#define SHELTER_GCM_NONCE_SIZE 12
#define SHELTER_GCM_TAG_SIZE 16
#define SHELTER_SIV_TAG_SIZE 16
#define SHELTER_ED25519_PUB_SIZE 32
#define SHELTER_ED25519_PRIV_SIZE 32
#define SHELTER_ED25519_SIG_SIZE 64

/* Cryptographically secure random bytes (OpenSSL RAND_bytes). */
SHELTER_API SHELTER_MUST_USE int shelter_random_bytes(void *buf, size_t size,
						      struct shelter_err *err);

/* Constant-time equality (CRYPTO_memcmp): 1 when equal, 0 otherwise. Use for every
 * MAC, tag, token and measurement comparison. */
SHELTER_API SHELTER_MUST_USE int shelter_ct_equal(const void *a, const void *b, size_t size);

/* Wipe memory so the compiler cannot elide it (OPENSSL_cleanse). NULL is a no-op. */
SHELTER_API void shelter_wipe(void *ptr, size_t size);

/* Secret memory: page-aligned, mlock()ed (best effort) and MADV_DONTDUMP. Returns
 * NULL on allocation failure. shelter_secret_free wipes, unlocks and frees; NULL is
 * a no-op. size must be the size given to shelter_secret_alloc. */
SHELTER_API void *shelter_secret_alloc(size_t size);
SHELTER_API void shelter_secret_free(void *ptr, size_t size);

/* SHA-256, one shot. */
SHELTER_API SHELTER_MUST_USE int shelter_sha256(const void *data, size_t size,
						uint8_t out[SHELTER_SHA256_SIZE],
						struct shelter_err *err);

/* SHA-256 over several pieces, as if concatenated; `count` pairs of (ptr, size). */
struct shelter_iov {
	const void *base;
	size_t size;
};
SHELTER_API SHELTER_MUST_USE int shelter_sha256_v(const struct shelter_iov *parts, size_t count,
						  uint8_t out[SHELTER_SHA256_SIZE],
						  struct shelter_err *err);

/* HMAC-SHA256, one shot. */
SHELTER_API SHELTER_MUST_USE int shelter_hmac_sha256(const uint8_t *key, size_t key_size,
						     const void *data, size_t size,
						     uint8_t out[SHELTER_SHA256_SIZE],
						     struct shelter_err *err);

/* HKDF-SHA256 (RFC 5869): extract with salt (may be NULL/0), expand with info into
 * out_size bytes (at most 255 * 32). */
SHELTER_API SHELTER_MUST_USE int shelter_hkdf_sha256(const uint8_t *ikm, size_t ikm_size,
						     const uint8_t *salt, size_t salt_size,
						     const uint8_t *info, size_t info_size,
						     uint8_t *out, size_t out_size,
						     struct shelter_err *err);

/* AES-256-GCM with a fixed key. The context copies the key into OpenSSL's key
 * schedule; the caller may wipe its copy after shelter_aead_new returns. A context is
 * not thread-safe: use one per thread or lock around it. */
struct shelter_aead;
SHELTER_API SHELTER_MUST_USE int shelter_aead_new(const uint8_t key[SHELTER_KEY_SIZE],
						  struct shelter_aead **out,
						  struct shelter_err *err);
/* Wipes and frees; NULL is a no-op. */
SHELTER_API void shelter_aead_free(struct shelter_aead *aead);
/* Encrypt size bytes of pt into ct (same size; may be the same buffer) and write
 * the 16-byte tag. aad may be NULL when aad_size is 0. */
SHELTER_API SHELTER_MUST_USE int shelter_aead_seal(struct shelter_aead *aead,
						   const uint8_t nonce[SHELTER_GCM_NONCE_SIZE],
						   const void *aad, size_t aad_size,
						   const void *pt, size_t size, void *ct,
						   uint8_t tag[SHELTER_GCM_TAG_SIZE],
						   struct shelter_err *err);
/* Decrypt and verify. On SHELTER_E_INTEGRITY the whole of pt is wiped, so no
 * unverified plaintext is ever released. pt may equal ct. */
SHELTER_API SHELTER_MUST_USE int shelter_aead_open(struct shelter_aead *aead,
						   const uint8_t nonce[SHELTER_GCM_NONCE_SIZE],
						   const void *aad, size_t aad_size,
						   const void *ct, size_t size,
						   const uint8_t tag[SHELTER_GCM_TAG_SIZE], void *pt,
						   struct shelter_err *err);

/* AES-SIV (RFC 5297), deterministic AEAD over one associated-data string. key_size
 * picks the variant: 32 bytes = AES-128-SIV (the RFC's own vectors), 64 bytes =
 * AES-256-SIV (SHELTER_SIV_KEY_SIZE); in both the first half is the S2V/CMAC key and
 * the second the CTR key. Any other size is SHELTER_E_INVAL. The AD is always exactly
 * one S2V component, so aad_size 0 means "one empty string", which RFC 5297
 * distinguishes from "no AD". size must be 1..INT_MAX: OpenSSL 3.0 cannot seal an
 * empty message (SHELTER_E_INVAL). ct receives size bytes and tag the 16-byte
 * synthetic IV; ct may equal pt. */
#define SHELTER_SIV_KEY_SIZE 64
SHELTER_API SHELTER_MUST_USE int shelter_siv_seal(const uint8_t *key, size_t key_size,
						  const void *aad, size_t aad_size,
						  const void *pt, size_t size, void *ct,
						  uint8_t tag[SHELTER_SIV_TAG_SIZE],
						  struct shelter_err *err);
/* Decrypt and verify. On SHELTER_E_INTEGRITY the whole of pt is wiped. pt may
 * equal ct. */
SHELTER_API SHELTER_MUST_USE int shelter_siv_open(const uint8_t *key, size_t key_size,
						  const void *aad, size_t aad_size,
						  const void *ct, size_t size,
						  const uint8_t tag[SHELTER_SIV_TAG_SIZE], void *pt,
						  struct shelter_err *err);

/* Ed25519 (RFC 8032). priv is the 32-byte seed. */
SHELTER_API SHELTER_MUST_USE int shelter_ed25519_keygen(uint8_t pub[SHELTER_ED25519_PUB_SIZE],
							uint8_t priv[SHELTER_ED25519_PRIV_SIZE],
							struct shelter_err *err);
SHELTER_API SHELTER_MUST_USE int shelter_ed25519_public(const uint8_t priv[SHELTER_ED25519_PRIV_SIZE],
							uint8_t pub[SHELTER_ED25519_PUB_SIZE],
							struct shelter_err *err);
SHELTER_API SHELTER_MUST_USE int shelter_ed25519_sign(const uint8_t priv[SHELTER_ED25519_PRIV_SIZE],
						      const void *msg, size_t size,
						      uint8_t sig[SHELTER_ED25519_SIG_SIZE],
						      struct shelter_err *err);
/* 0 when valid, SHELTER_E_INTEGRITY when not. */
SHELTER_API SHELTER_MUST_USE int shelter_ed25519_verify(const uint8_t pub[SHELTER_ED25519_PUB_SIZE],
							const void *msg, size_t size,
							const uint8_t sig[SHELTER_ED25519_SIG_SIZE],
							struct shelter_err *err);

/* Lowercase hex of size bytes into out (2*size+1 bytes, NUL-terminated). */
SHELTER_API void shelter_hex(const void *data, size_t size, char *out);
/* Parse exactly 2*size hex chars (either case) into out; SHELTER_E_INVAL otherwise. */
SHELTER_API SHELTER_MUST_USE int shelter_unhex(const char *hex, void *out, size_t size);

#endif
