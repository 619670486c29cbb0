/* CAS sessions: policies in YAML that say which code may get which configuration.
 *
 * The user-facing reference, with the schema, every limit and complete examples, is
 * docs/policy.md; section numbers (§N) below point there. A policy is parsed once,
 * strictly (§2: a YAML subset without anchors, aliases, tags or second documents;
 * unknown or duplicate keys, wrong types and dangling placeholders are errors), so
 * the owner learns about every mistake at `session apply`, not at attestation.
 *
 * Three jobs, three calls:
 *   - cas_policy_parse: YAML text -> struct cas_policy (read-only afterwards);
 *   - cas_policy_accepts: does a verified quote satisfy the session's accept rules (§4);
 *   - cas_policy_render: the configuration one attested launch receives (§6): final
 *     args, env, files and volumes, with secret placeholders filled in through a
 *     caller-supplied lookup (the CAS generates secrets on first use, §5).
 *
 * Errors: 0 or a negative enum shelter_code. SHELTER_E_MALFORMED means the bytes are
 * not a YAML document Shelter reads (syntax, anchors, tags, limits); SHELTER_E_INVAL a
 * document that is not a valid policy (keys, types, values, references); messages
 * start with "policy line L col C: ". SHELTER_E_POLICY is a quote the policy refuses.
 * No message ever contains a secret value (§9).
 *
 * Ownership: a struct cas_policy is owned by the caller of cas_policy_parse and freed
 * (and wiped: it may hold given secret values) by cas_policy_free. Every pointer an
 * accessor returns borrows from the policy and lives until cas_policy_free. A struct
 * cas_launch is owned by the caller of cas_policy_render and freed and wiped by
 * cas_launch_free. No function keeps pointers to its arguments.
 * Thread safety: a parsed policy is immutable; several threads may call accepts and
 * render on one policy at the same time.
 */
#ifndef SHELTER_CAS_POLICY_H
#define SHELTER_CAS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "shelter/error.h"
#include "shelter/tee.h"

/* §8 limits. */
#define CAS_POLICY_MAX_SIZE (256u * 1024)   /* bytes of YAML */
#define CAS_POLICY_MAX_SCALAR (64u * 1024)  /* bytes of one value */
#define CAS_POLICY_MAX_DEPTH 8              /* nested mappings and sequences */
#define CAS_POLICY_MAX_ITEMS 256            /* entries of one mapping or sequence */
#define CAS_POLICY_MAX_SECRETS 256
#define CAS_POLICY_MAX_PROVIDERS 16
#define CAS_POLICY_MAX_VOLUMES 64
#define CAS_POLICY_MAX_SANS 64              /* dns and ip entries, each */
#define CAS_POLICY_NAME_MAX 63              /* session, secret, volume, provider names */
#define CAS_POLICY_PATH_MAX 4095            /* file and volume paths */
#define CAS_LAUNCH_MAX_SIZE (4u * 1024 * 1024) /* one rendered configuration */
#define CAS_LAUNCH_MAX_HOST_ARGS 4096

/* §5: characters of a generated password (kind: password). Letters and digits
 * only, so a password is safe unquoted in argv, shell, URLs and config files; 32 of
 * them carry 190 bits. */
#define CAS_PASSWORD_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

enum cas_secret_kind {
	CAS_SECRET_RANDOM = 1,  /* size random bytes */
	CAS_SECRET_PASSWORD = 2,/* size characters of CAS_PASSWORD_ALPHABET */
	CAS_SECRET_ED25519 = 3, /* an Ed25519 key pair */
	CAS_SECRET_X509 = 4,    /* a P-256 key and a certificate from the session CA */
	CAS_SECRET_VALUE = 5,   /* a value the owner gives in the policy */
};

/* §5.1: what a placeholder {{NAME.FIELD}} asks of a secret. The exact byte format of
 * each field, which the lookup must produce, is in docs/policy.md §5.1. */
enum cas_secret_field {
	CAS_FIELD_HEX = 0,     /* random: lowercase hex */
	CAS_FIELD_BASE64,      /* random: standard base64 with padding, one line */
	CAS_FIELD_VALUE,       /* password, value: the text itself */
	CAS_FIELD_PRIVATE_PEM, /* ed25519: PKCS#8 PEM */
	CAS_FIELD_PUBLIC_PEM,  /* ed25519: SubjectPublicKeyInfo PEM */
	CAS_FIELD_PUBLIC_HEX,  /* ed25519: 64 hex digits of the raw public key */
	CAS_FIELD_CERT,        /* x509: the certificate, PEM */
	CAS_FIELD_KEY,         /* x509: its P-256 private key, PKCS#8 PEM */
	CAS_FIELD_CA,          /* x509: the session CA certificate, PEM */
	CAS_FIELD_CHAIN,       /* x509: cert followed by ca, PEM */
	CAS_FIELD_COUNT
};
#define CAS_FIELD_BIT(f) (1u << (unsigned)(f))

/* One secret as the policy declares it (§5). Fields that do not apply to the kind
 * are 0 / NULL. Borrowed from the policy. */
struct cas_secret_spec {
	const char *name;
	enum cas_secret_kind kind;
	uint32_t size;               /* random: bytes; password: characters */
	const uint8_t *value;        /* value: the owner's bytes, NUL-terminated as well */
	size_t value_size;
	const char *common_name;     /* x509 */
	const char *const *dns;      /* x509: DNS subjectAltNames, validated */
	size_t dns_count;
	const char *const *ip;       /* x509: IP subjectAltNames as written (inet_pton-valid) */
	size_t ip_count;
	uint32_t days;               /* x509: validity in days */
};

/* A provider CA whose platforms the session accepts (§4.3). */
struct cas_policy_provider {
	const char *name;
	const char *ca_pem;  /* the certificate exactly as written, NUL-terminated */
	size_t ca_pem_size;  /* bytes before the NUL */
	uint8_t id[32];      /* SHA-256 of its SubjectPublicKeyInfo DER: tee.h's provider id */
};

struct cas_volume_spec {
	const char *name;
	const char *path;    /* absolute and normalised */
};

struct cas_policy;

/* Parse and validate a policy (§2-§7). yaml need not be NUL-terminated; size at most
 * CAS_POLICY_MAX_SIZE. On success *out owns a new policy; on failure *out is NULL. */
SHELTER_MUST_USE int cas_policy_parse(const char *yaml, size_t size, struct cas_policy **out,
				      struct shelter_err *err);
/* Wipes and frees; NULL is a no-op. */
void cas_policy_free(struct cas_policy *policy);

const char *cas_policy_name(const struct cas_policy *policy);

size_t cas_policy_provider_count(const struct cas_policy *policy);
/* NULL when index is out of range. */
const struct cas_policy_provider *cas_policy_provider(const struct cas_policy *policy,
						      size_t index);

size_t cas_policy_secret_count(const struct cas_policy *policy);
/* NULL when index is out of range. */
const struct cas_secret_spec *cas_policy_secret(const struct cas_policy *policy, size_t index);
/* The secret called name, or NULL. */
const struct cas_secret_spec *cas_policy_secret_find(const struct cas_policy *policy,
						     const char *name);
/* The fields of secret `index` that the launch section references, as a mask of
 * CAS_FIELD_BIT(); 0 when the launch never uses the secret (so the CAS need not
 * generate it for a launch). */
unsigned cas_policy_secret_fields(const struct cas_policy *policy, size_t index);

size_t cas_policy_volume_count(const struct cas_policy *policy);
const struct cas_volume_spec *cas_policy_volume(const struct cas_policy *policy, size_t index);

/* §4.5: the rule a refusal names, for machine-readable codes (do not parse the
 * message: it quotes the session name and the quote's product). */
enum cas_accept_rule {
	CAS_ACCEPT_OK = 0,
	CAS_ACCEPT_FLAGS = 1,       /* identity flags this version does not know */
	CAS_ACCEPT_SIM = 2,         /* a sim quote, allow_sim is false */
	CAS_ACCEPT_DEBUG = 3,       /* a debug TEE, allow_debug is false */
	CAS_ACCEPT_PROVIDER = 4,    /* the platform's provider is not listed */
	CAS_ACCEPT_VERSION = 5,     /* signer and product listed, version below min_version */
	CAS_ACCEPT_SIGNER = 6,      /* signed; neither the measurement nor signer+product listed */
	CAS_ACCEPT_MEASUREMENT = 7, /* the measurement is not listed (no signer rule applies) */
};

/* §4: 0 when the verified quote qi satisfies every accept rule; SHELTER_E_POLICY
 * with the rule that failed ("sim quotes not allowed by session 'x'", "session 'x':
 * measurement <hex> not accepted", ...) otherwise. qi must come from
 * shelter_quote_verify: this checks policy, not signatures. */
SHELTER_MUST_USE int cas_policy_accepts(const struct cas_policy *policy,
					const struct shelter_quote_info *qi,
					struct shelter_err *err);
/* The same, and *out_rule (when not NULL) set to the rule that refused, or
 * CAS_ACCEPT_OK. SHELTER_E_INVAL (rule CAS_ACCEPT_OK) for NULL arguments. */
SHELTER_MUST_USE int cas_policy_check(const struct cas_policy *policy,
				      const struct shelter_quote_info *qi,
				      enum cas_accept_rule *out_rule, struct shelter_err *err);

/* Supplies the bytes of one field of one secret (§5.1 formats). On success sets
 * *out_value to a malloc'd buffer (NULL allowed when *out_size is 0) that render
 * takes over, wipes and frees; returns 0 or a negative shelter_code with err set.
 * Called at most once per (secret, field) per render. */
typedef int (*cas_secret_lookup_fn)(void *ctx, const struct cas_secret_spec *secret,
				    enum cas_secret_field field, uint8_t **out_value,
				    size_t *out_size, struct shelter_err *err);

struct cas_launch_env {
	char *name;
	char *value;
};

struct cas_launch_file {
	char *path;
	uint8_t *data;
	size_t size;
};

struct cas_launch_volume {
	char *name;
	char *path;
};

/* The configuration of one launch (§6). Holds secrets: free with cas_launch_free. */
struct cas_launch {
	char *session;
	char **args;                     /* argv, args[0] first */
	size_t args_count;
	struct cas_launch_env *env;      /* unique names, policy entries first */
	size_t env_count;
	struct cas_launch_file *files;
	size_t files_count;
	struct cas_launch_volume *volumes;
	size_t volumes_count;
};

/* §6: render the launch. host_args is the argv the host started the program with
 * (host_args[0] is the program; n may be 0); host_env holds "NAME=VALUE" strings (m of
 * them; entries without '=' are ignored). Host strings are copied verbatim, never
 * searched for placeholders. lookup is called for each referenced (secret, field).
 * On success *out owns a new launch; on failure *out is NULL and every secret byte
 * fetched so far is wiped. */
SHELTER_MUST_USE int cas_policy_render(const struct cas_policy *policy,
				       const char *const *host_args, size_t n,
				       const char *const *host_env, size_t m,
				       cas_secret_lookup_fn lookup, void *ctx,
				       struct cas_launch **out, struct shelter_err *err);
/* Wipes every string and file and frees; NULL is a no-op. */
void cas_launch_free(struct cas_launch *launch);

/* §6.2: the configuration JSON {"session", "args", "env", "files" (base64),
 * "volumes"}. *out is a new reference owned by the caller (json_decref). It holds
 * secrets and jansson does not wipe on free: dump it into a buffer you wipe and
 * decref it at once. SHELTER_E_INVAL when a string is not UTF-8 (JSON cannot carry it;
 * possible only for host-given strings and secret values). */
SHELTER_MUST_USE int cas_launch_to_json(const struct cas_launch *launch, json_t **out,
					struct shelter_err *err);

/* Static names for messages and logs: "random", "password", ...; "hex", "cert", ...
 * "?" for a value out of range. */
const char *cas_secret_kind_name(enum cas_secret_kind kind);
const char *cas_secret_field_name(enum cas_secret_field field);

#endif
