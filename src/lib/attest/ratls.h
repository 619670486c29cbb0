/* RA-TLS evidence certificates (docs/formats/ra-tls.md). Internal to libshelter.
 *
 * A workload proves itself to the CAS with a TLS client certificate for a fresh
 * ephemeral key that carries a TEE quote in one X.509 extension, the TCG DICE
 * tagged-evidence extension (OID 2.23.133.5.4.9): a CBOR tag naming the evidence
 * format around a byte string holding the quote. The quote's 64 bytes of report
 * data are SHA-256(SubjectPublicKeyInfo DER of the certificate) || the verifier's
 * 32-byte nonce (ra-tls.md §3), so the quote is bound to this key and this
 * connection. The same file holds the owners' plain self-signed certificates
 * (Ed25519 or P-256, for mTLS to the CAS) and PEM private-key files.
 *
 * Errors: 0 or a negative enum shelter_code, with a message in the optional err.
 * Untrusted bytes that do not parse are SHELTER_E_MALFORMED naming what was wrong;
 * an OpenSSL failure is SHELTER_E_CRYPTO; bad arguments are SHELTER_E_INVAL.
 * Ownership: every X509 and EVP_PKEY returned in *out belongs to the caller
 * (X509_free, EVP_PKEY_free). Out-parameters are cleared on entry and set on
 * success only. No function keeps a pointer to its arguments, except the quote
 * pointer of ratls_evidence_extract/decode, which borrows the certificate's (or
 * the caller's) bytes. Every function is safe to call from several threads at
 * once on different objects, and on one shared const X509.
 */
#ifndef SHELTER_ATTEST_RATLS_H
#define SHELTER_ATTEST_RATLS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "shelter/error.h"

#define RATLS_NONCE_SIZE 32
#define RATLS_REPORT_DATA_SIZE 64
#define RATLS_SPKI_HASH_SIZE 32
#define RATLS_EVIDENCE_OID "2.23.133.5.4.9" /* tcg-dice-conceptual-message-wrapper */
#define RATLS_CN "shelter-ratls"

/* Evidence formats, named by the CBOR tag around the quote (ra-tls.md §4).
 * RATLS_TAG_SHELTER_SIM: a Shelter quote (docs/formats/quote.md) in a byte string;
 * a tag number from the first-come-first-served range (RFC 8949 §9.2), not
 * registered, private to Shelter ("SHLT" in ASCII). RATLS_TAG_INTEL_TEE_QUOTE:
 * the Interoperable RA-TLS tag for SGX/TDX quotes, reserved for the hardware
 * backends; its content is a [quote, claims] array, not a bare quote, so this
 * version refuses it (ra-tls.md §4.2). */
#define RATLS_TAG_SHELTER_SIM UINT64_C(0x53484c54)
#define RATLS_TAG_INTEL_TEE_QUOTE UINT64_C(60000)

#define RATLS_QUOTE_MAX 16384u                       /* bytes in the byte string */
#define RATLS_EVIDENCE_MAX (9u + 9u + RATLS_QUOTE_MAX) /* two longest heads + quote */
#define RATLS_CERT_MAX 65536u                        /* DER given to ratls_cert_from_der */

/* ---- the attester (workload) side ---- */

/* A fresh ephemeral ECDSA P-256 key (ra-tls.md §2), made in tls_libctx (net/tls.h),
 * where the connection that presents it signs with it. */
SHELTER_MUST_USE int ratls_key_new(EVP_PKEY **out, struct shelter_err *err);

/* SHA-256 of the key's SubjectPublicKeyInfo DER (for an owner key: its owner id). */
SHELTER_MUST_USE int ratls_key_spki_sha256(const EVP_PKEY *key,
					   uint8_t out[RATLS_SPKI_HASH_SIZE],
					   struct shelter_err *err);

/* Report data for the quote (ra-tls.md §3): SHA-256(SPKI DER of key) || nonce. */
SHELTER_MUST_USE int ratls_report_data(const EVP_PKEY *key,
				       const uint8_t nonce[RATLS_NONCE_SIZE],
				       uint8_t out[RATLS_REPORT_DATA_SIZE],
				       struct shelter_err *err);

/* The evidence certificate (ra-tls.md §2): X.509 v3, self-signed by key with
 * SHA-256 (key is P-256 as ratls_key_new makes; an Ed25519 key is also accepted),
 * random serial, CN "shelter-ratls", valid from now - 1 min to now + 10 min, and
 * one non-critical evidence extension holding tag(quote). The tag must be one this
 * version decodes (SHELTER_E_INVAL otherwise), and quote_size 1..RATLS_QUOTE_MAX.
 * Made in tls_libctx (net/tls.h); for a P-256 or Ed25519 key, *out is the signed
 * certificate parsed back from its DER (ra-tls.md §6). */
SHELTER_MUST_USE int ratls_cert_create(EVP_PKEY *key, uint64_t evidence_tag,
				       const uint8_t *quote, size_t quote_size, X509 **out,
				       struct shelter_err *err);

/* ---- the verifier (CAS) side ---- */

/* Parse untrusted DER (at most RATLS_CERT_MAX bytes) into a certificate, in
 * tls_libctx as libssl parses a client certificate for the CAS; anything but exactly
 * one DER certificate with no trailing byte is SHELTER_E_MALFORMED. */
SHELTER_MUST_USE int ratls_cert_from_der(const uint8_t *der, size_t size, X509 **out,
					 struct shelter_err *err);

/* Find exactly one evidence extension and decode it (ratls_evidence_decode).
 * *quote points into cert's extension value and lives as long as cert is neither
 * freed nor modified: copy it to keep it. No extension, two or more, or a value
 * that does not decode is SHELTER_E_MALFORMED. Criticality is not checked. */
SHELTER_MUST_USE int ratls_evidence_extract(const X509 *cert, uint64_t *tag,
					    const uint8_t **quote, size_t *quote_size,
					    struct shelter_err *err);

/* Check that report_data (from a verified quote) binds this certificate's key and
 * this connection's nonce (ra-tls.md §3), comparing in constant time:
 * SHELTER_E_UNTRUSTED when its first half is not SHA-256 of cert's SPKI DER (the
 * quote was made for another key), else SHELTER_E_REPLAY when its second half is
 * not nonce (the quote was made for another connection). */
SHELTER_MUST_USE int ratls_check_binding(const X509 *cert,
					 const uint8_t report_data[RATLS_REPORT_DATA_SIZE],
					 const uint8_t nonce[RATLS_NONCE_SIZE],
					 struct shelter_err *err);

/* SHELTER_E_EXPIRED when now is before notBefore or after notAfter;
 * SHELTER_E_MALFORMED when a validity time cannot be read. Optional for RA-TLS
 * (the nonce already proves freshness, ra-tls.md §5); useful for owner certs. */
SHELTER_MUST_USE int ratls_cert_check_time(const X509 *cert, time_t now,
					   struct shelter_err *err);

/* SHA-256 of the certificate's SubjectPublicKeyInfo DER: the owner id of an owner
 * certificate, the first half of an RA-TLS report data. */
SHELTER_MUST_USE int ratls_spki_sha256(const X509 *cert, uint8_t out[RATLS_SPKI_HASH_SIZE],
				       struct shelter_err *err);

/* ---- the evidence value itself (ra-tls.md §4), for tests and fuzzers ---- */

/* Bytes ratls_evidence_encode writes: the tag head, the byte string head, the quote. */
size_t ratls_evidence_size(uint64_t evidence_tag, size_t quote_size);

/* Encode tag(bytes(quote)) with libcbor's shortest heads into out (cap bytes);
 * SHELTER_E_INVAL when cap is too small or the tag or size is not allowed. */
SHELTER_MUST_USE int ratls_evidence_encode(uint64_t evidence_tag, const uint8_t *quote,
					   size_t quote_size, uint8_t *out, size_t cap,
					   size_t *out_size, struct shelter_err *err);

/* Strictly decode an evidence extension value: exactly one CBOR item, a known tag
 * in its shortest head, around one definite-length byte string of 1..RATLS_QUOTE_MAX
 * bytes in its shortest head, and no trailing byte; anything else is
 * SHELTER_E_MALFORMED. *quote points into value. */
SHELTER_MUST_USE int ratls_evidence_decode(const uint8_t *value, size_t size,
					   uint64_t *tag, const uint8_t **quote,
					   size_t *quote_size, struct shelter_err *err);

/* ---- owners' certificates and key files ---- */

/* A self-signed X.509 v3 certificate for key (Ed25519, signed with no digest, or
 * P-256, signed with SHA-256), subject = issuer = CN cn (1..64 bytes), random
 * serial, valid from now - 1 min for days days (1..36500). */
SHELTER_MUST_USE int ratls_selfsigned_cert(EVP_PKEY *key, const char *cn, unsigned days,
					   X509 **out, struct shelter_err *err);

/* Write key (Ed25519 or P-256) to path as an unencrypted PKCS#8 PEM file, mode
 * 0600. Refuses to overwrite (SHELTER_E_EXIST). Crash-safe: the key is written to
 * a temporary file in the same directory, synced, then linked to path, so path
 * either holds the whole key or does not exist; a crash may leave a 0600
 * ".NAME.tmp-XXXXXX" file behind. */
SHELTER_MUST_USE int ratls_key_save_pem(const EVP_PKEY *key, const char *path,
					struct shelter_err *err);

/* Read an unencrypted PEM private key (Ed25519 or P-256). Refuses a file that group
 * or others may read or write (SHELTER_E_PERM, as OpenSSH does), one over 16 KiB
 * or not a PEM private key (SHELTER_E_MALFORMED), an encrypted one (never
 * prompts; SHELTER_E_MALFORMED), and another key type (SHELTER_E_BADKEY). */
SHELTER_MUST_USE int ratls_key_load_pem(const char *path, EVP_PKEY **out,
					struct shelter_err *err);

#endif
