/* Internal to libshelter: the provider directory (docs/formats/quote.md §5.5), the
 * certificates and CRLs a provider issues (§5.1-§5.3) and its hash-chained
 * inventory (§7). */
#ifndef SHELTER_PROVIDER_INTERNAL_H
#define SHELTER_PROVIDER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "shelter/provider.h"
#include "tee/pki.h"

#define PROV_KEY_FILE "ca.key"        /* PKCS#8 PEM, 0600 */
#define PROV_CERT_FILE "ca.crt"       /* the provider CA certificate */
#define PROV_CRL_FILE "crl.pem"       /* the newest CRL */
#define PROV_INVENTORY_FILE "inventory.log"

#define PROV_CA_DAYS 7300             /* §5.1: 20 years */
#define PROV_PLATFORM_DAYS 825        /* §5.2: default platform validity */
#define PROV_DAYS_MAX 36500
#define PROV_BACKDATE 3600            /* §5.2: notBefore one hour early, for clock skew */
#define PROV_REASON_MAX 256
#define PROV_TIME_SIZE 21             /* "YYYY-MM-DDTHH:MM:SSZ" + NUL */

/* ---- issue.c: X.509 objects (quote.md §5) ---- */

/* §5.1: the self-signed provider CA certificate. */
int prov_issue_ca(EVP_PKEY *key, const char *name, time_t now, X509 **out,
		  struct shelter_err *err);
/* §5.2: a platform certificate for key, named name, valid [not_before, not_after];
 * serial_out receives the PKI_SERIAL_SIZE-byte serial. */
int prov_issue_platform(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *key, const char *name,
			time_t not_before, time_t not_after, X509 **out,
			uint8_t serial_out[PKI_SERIAL_SIZE], struct shelter_err *err);
/* §5.3: a CRL numbered number revoking count serials (hex, PKI_SERIAL_SIZE bytes)
 * at the given times. */
struct prov_revoked {
	const char *serial_hex;
	time_t when;
};
int prov_issue_crl(X509 *ca, EVP_PKEY *ca_key, uint64_t number, time_t now,
		   const struct prov_revoked *revoked, size_t count, X509_CRL **out,
		   struct shelter_err *err);

/* ---- provider.c ---- */

/* shelter_provider_enroll with an explicit validity window: tests issue
 * certificates that have expired or are not yet valid. */
int prov_enroll_window(const char *dir, const char *csr_pem, size_t size, time_t not_before,
		       time_t not_after, char **cert_pem, struct shelter_err *err);

/* ---- inventory.c (quote.md §7) ---- */

struct inv_platform {
	char name[PKI_NAME_MAX];
	char serial[PKI_SERIAL_HEX_MAX];
	uint8_t key_id[32];
	char enrolled[PROV_TIME_SIZE];
	char revoked[PROV_TIME_SIZE]; /* "" while enrolled */
	char reason[PROV_REASON_MAX + 1];
	uint64_t enroll_line, revoke_line; /* 1-based; revoke_line 0 while enrolled */
};

struct inv {
	int fd;                         /* O_APPEND, flock()ed exclusively when writable */
	char path[4096];
	uint64_t count;                 /* lines (entries) */
	uint8_t head[32];               /* SHA-256 of the last line; zero when empty */
	struct inv_platform *platforms; /* in enrolment order */
	size_t nplatforms;
};

/* Open dir's inventory, read it and check the whole chain (SHELTER_E_INTEGRITY
 * naming the first broken line). With writable, the file is locked against other
 * writers until inv_close. */
int inv_open(const char *dir, int writable, struct inv *inv, struct shelter_err *err);
void inv_close(struct inv *inv);
/* Create an empty inventory in dir (O_EXCL). */
int inv_create(const char *dir, struct shelter_err *err);
/* Append one event ("enroll" or "revoke") and fsync it before returning (§7.2). */
int inv_append(struct inv *inv, const char *event, const char *name, const char *serial_hex,
	       const uint8_t key_id[32], const char *reason, time_t when,
	       struct shelter_err *err);
/* The platform a revocation target names: its name (while enrolled), certificate
 * serial or key id, in hex. NULL when none; SHELTER_E_INVAL for an ambiguous one. */
int inv_find(const struct inv *inv, const char *target, struct inv_platform **out,
	     struct shelter_err *err);
/* RFC 3339 UTC time. */
void inv_format_time(time_t when, char out[PROV_TIME_SIZE]);
int inv_parse_time(const char *text, time_t *out);

#endif
