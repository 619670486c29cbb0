/* Secrets the CAS generates on first use (docs/policy.md, "secrets"; cas.md §4.4).
 *
 * A secret's value is a JSON object of named fields, stored in the secrets table
 * inside the protected store and never shown to a person:
 *   random   {"hex", "base64"}            size random bytes
 *   password {"value"}                    size characters of [A-Za-z0-9]
 *   ed25519  {"private_pem", "public_pem", "public_hex"}
 *   x509     {"cert", "key", "ca", "chain"} P-256 key, certificate issued by the
 *                                          session CA (itself generated on first use)
 *   value    {"value"}                    given in the policy
 * A stored value is reused while the secret's spec (kind and parameters) is
 * unchanged; a changed spec generates a new value.
 */
#ifndef SHELTER_CAS_SECRETS_H
#define SHELTER_CAS_SECRETS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "cas/policy.h"
#include "shelter/error.h"

/* The fields of secret spec of session, generating and storing them when absent
 * or when the spec changed. *fields is a new reference (json_decref; it holds
 * secrets: wipe with cas_json_wipe_decref). Committer thread only. */
int cas_secret_get(sqlite3 *db, const char *session, const struct cas_secret_spec *spec,
		   json_t **fields, struct shelter_err *err);

/* The 32-byte key of a session's volume, generated on first use. */
int cas_volume_key(sqlite3 *db, const char *session, const char *volume, uint8_t key[32],
		   uint8_t tag[32], int *has_tag, struct shelter_err *err);

/* An X.509 v3 certificate for key with CN cn, valid from a minute ago for days
 * days, signed with SHA-256 by ca_key: self-signed when ca is NULL. is_ca makes a
 * CA (CA:TRUE, keyCertSign) — with san, a self-signed server certificate that is
 * its own trust anchor; otherwise a TLS leaf (serverAuth, clientAuth) with the
 * subjectAltNames in san ("DNS:a,IP:1.2.3.4", or NULL). NULL on failure. */
X509 *cas_make_cert(EVP_PKEY *key, const char *cn, unsigned days, X509 *ca, EVP_PKEY *ca_key,
		    const char *san, int is_ca);
/* PEM text (malloc'd) of a private key / a certificate; NULL on failure. */
char *cas_pem_of_key(EVP_PKEY *key);
char *cas_pem_of_cert(X509 *cert);

/* Overwrite the string values of a JSON tree before dropping the reference. */
void cas_json_wipe_decref(json_t *json);

#endif
