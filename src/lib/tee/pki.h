/* Internal to libshelter: the PKI pieces shared by the TEE (quote verification,
 * the sim backend) and the provider and platform code (src/lib/provider/).
 *
 * docs/formats/quote.md §5 is the certificate profile these helpers enforce;
 * §4 the raw ECDSA signature encoding. Every function returns 0 or a negative
 * enum shelter_code and fills the optional err; none keeps pointers to its
 * arguments. OpenSSL objects returned through out-parameters are owned by the
 * caller (X509_free, EVP_PKEY_free, ...).
 */
#ifndef SHELTER_TEE_PKI_H
#define SHELTER_TEE_PKI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "shelter/error.h"

/* quote.md §5.2: the subject OU that marks a certificate as a platform
 * certificate. A provider may issue other certificates from the same CA; only
 * those carrying this marker may sign quotes. */
#define PKI_PLATFORM_OU "shelter-platform"
#define PKI_PROVIDER_OU "shelter-provider"
#define PKI_SERIAL_SIZE 16   /* quote.md §5.1: random, top bit clear */
#define PKI_SERIAL_HEX_MAX 41 /* hex of serials up to 20 bytes (RFC 5280 §4.1.2.2) + NUL */
#define PKI_NAME_MAX 64       /* SHELTER_PLATFORM_NAME_MAX: 63 characters + NUL */
#define PKI_SIG_SIZE 64       /* raw r || s, 32 bytes each */
#define PKI_FILE_MAX (1u << 20) /* keys, certificates and requests are far smaller */

/* OpenSSL failure: record code with "<formatted>: OpenSSL: <oldest reason>" and
 * drain OpenSSL's error queue so no later call sees a stale error. */
int pki_ossl(struct shelter_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Wrap err's message with "what: " and set its code to code (shelter_err_wrap keeps
 * the inner code); returns code, with or without err. */
int pki_rewrap(struct shelter_err *err, int code, const char *what);

/* 1 when name is 1-63 characters of [A-Za-z0-9._-] (quote.md §5.4). */
int pki_name_ok(const char *name);
/* SHELTER_E_INVAL naming `what` when !pki_name_ok(name). */
int pki_name_check(const char *what, const char *name, struct shelter_err *err);

/* 1 when key is an EC key on P-256 (the only key type quote.md allows). */
int pki_key_is_p256(const EVP_PKEY *key);
/* quote.md §3: SHA-256 of the key's SubjectPublicKeyInfo DER. */
int pki_key_id(const EVP_PKEY *key, uint8_t out[32], struct shelter_err *err);
/* quote.md §3: the same for a certificate's key, from the SubjectPublicKeyInfo as
 * the certificate encodes it (no re-encoding through the key object). */
int pki_cert_key_id(const X509 *cert, uint8_t out[32], struct shelter_err *err);
/* A fresh P-256 key pair. */
int pki_keygen(EVP_PKEY **out, struct shelter_err *err);

/* The certificate's single CN when it is a valid name (pki_name_ok); otherwise
 * SHELTER_E_UNTRUSTED. buf holds at least PKI_NAME_MAX bytes. */
int pki_subject_cn(const X509_NAME *subject, char *buf, struct shelter_err *err);
/* For messages about untrusted certificates: the CN when valid, else "?". */
void pki_display_cn(const X509 *cert, char buf[PKI_NAME_MAX]);
/* Lowercase hex of the serial's magnitude, padded to PKI_SERIAL_SIZE bytes; "?"
 * when it does not fit PKI_SERIAL_HEX_MAX. */
void pki_serial_hex(const ASN1_INTEGER *serial, char out[PKI_SERIAL_HEX_MAX]);

/* quote.md §5.2: v3, P-256 key, basicConstraints CA:FALSE, keyUsage
 * digitalSignature (and no certificate or CRL signing), subject holding exactly one
 * OU = PKI_PLATFORM_OU and one CN that is a valid name (copied to name_out, which
 * holds PKI_NAME_MAX bytes, when not NULL). SHELTER_E_UNTRUSTED otherwise. */
int pki_check_platform_cert(X509 *cert, char *name_out, struct shelter_err *err);
/* quote.md §5.1: v3, P-256 key, self-issued with a valid self-signature,
 * basicConstraints CA:TRUE, keyUsage keyCertSign + cRLSign, a CN that is a valid
 * name (copied to name_out as above). SHELTER_E_INVAL otherwise. */
int pki_check_ca_cert(X509 *cert, char *name_out, struct shelter_err *err);

/* Parse exactly one PEM certificate / CRL / private key / request from the first
 * block of pem[0..size). SHELTER_E_MALFORMED when there is none. */
int pki_cert_from_pem(const char *pem, size_t size, X509 **out, struct shelter_err *err);
int pki_crl_from_pem(const char *pem, size_t size, X509_CRL **out, struct shelter_err *err);
int pki_key_from_pem(const char *pem, size_t size, EVP_PKEY **out, struct shelter_err *err);
int pki_req_from_pem(const char *pem, size_t size, X509_REQ **out, struct shelter_err *err);
/* The PEM text of a certificate, CRL, request or private key (PKCS#8, unencrypted),
 * malloc'd and NUL-terminated (*size excludes the NUL). Key PEM is wiped by
 * pki_free_secret_pem. */
int pki_cert_to_pem(X509 *cert, char **out, size_t *size, struct shelter_err *err);
int pki_crl_to_pem(X509_CRL *crl, char **out, size_t *size, struct shelter_err *err);
int pki_req_to_pem(X509_REQ *req, char **out, size_t *size, struct shelter_err *err);
int pki_key_to_pem(EVP_PKEY *key, char **out, size_t *size, struct shelter_err *err);
void pki_free_secret_pem(char *pem, size_t size);

/* The CRL number extension (RFC 5280 §5.2.3) as a uint64; SHELTER_E_MALFORMED when
 * absent, negative or wider than 63 bits. */
int pki_crl_number(X509_CRL *crl, uint64_t *out, struct shelter_err *err);

/* quote.md §4: ECDSA P-256 over SHA-256(msg), encoded as raw r || s. Verification
 * returns SHELTER_E_UNTRUSTED when the signature does not verify. */
int pki_sign_raw(EVP_PKEY *key, const uint8_t *msg, size_t size, uint8_t sig[PKI_SIG_SIZE],
		 struct shelter_err *err);
int pki_verify_raw(EVP_PKEY *key, const uint8_t *msg, size_t size,
		   const uint8_t sig[PKI_SIG_SIZE], struct shelter_err *err);

/* Time as ASN1_TIME. */
int pki_set_time(ASN1_TIME *t, time_t when, struct shelter_err *err);

/* ---- files (quote.md §5.4-§5.5 layouts) ---- */

/* Read the whole of a regular file of at most max bytes into a malloc'd buffer with
 * a NUL appended (*size excludes it). SHELTER_E_NOENT when missing. */
int pki_read_file(const char *path, size_t max, char **out, size_t *size,
		  struct shelter_err *err);
/* Create path with mode (O_EXCL: SHELTER_E_EXIST when present), write, fsync. */
int pki_write_new(const char *path, mode_t mode, const void *data, size_t size,
		  struct shelter_err *err);
/* Replace dir/name atomically: write dir/.name.tmp, fsync, rename, fsync dir. */
int pki_write_atomic(const char *dir, const char *name, mode_t mode, const void *data,
		     size_t size, struct shelter_err *err);
int pki_fsync_dir(const char *dir, struct shelter_err *err);
/* SHELTER_E_EXIST naming the first of names that exists in dir ("'dir' already
 * holds a <what> (<name> exists)"); 0 when none does. */
int pki_refuse_existing(const char *dir, const char *const *names, size_t count,
			const char *what, struct shelter_err *err);
/* PEM password callback that never prompts: keys are unencrypted files protected
 * by their mode (quote.md §5.4), and a library has no terminal. */
int pki_no_passphrase(char *buf, int size, int rwflag, void *u);
/* dir/name into buf; SHELTER_E_NAMETOOLONG when it does not fit. */
int pki_path(char *buf, size_t size, const char *dir, const char *name,
	     struct shelter_err *err);
/* Create dir 0700 when missing, and its missing parents 0700; an existing
 * directory is accepted as is. */
int pki_mkdir(const char *dir, struct shelter_err *err);

#endif
