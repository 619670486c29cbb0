/* Internals shared by the policy files (src/cas/policy*.c); not for other code.
 *
 *   policy_yaml.c   YAML bytes -> a small tree (docs/policy.md §2), refusing what
 *                   a policy must not contain; the tree owns copies of every scalar.
 *   policy.c        tree -> struct cas_policy (§3-§5, §7), accessors, accepts (§4).
 *   policy_render.c placeholders (§5.2), render (§6), the configuration JSON (§6.2).
 */
#ifndef SHELTER_CAS_POLICY_INTERNAL_H
#define SHELTER_CAS_POLICY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cas/policy.h"

/* ---- the YAML tree (policy_yaml.c) ---- */

enum pnode_type {
	PNODE_SCALAR = 1,
	PNODE_SEQ = 2,
	PNODE_MAP = 3,
};

struct pnode {
	enum pnode_type type;
	unsigned line, col;   /* 1-based, of the node's first character */
	int plain;            /* scalar written without quotes or block indicator */
	char *str;            /* scalar: NUL-terminated, no NUL inside */
	size_t size;          /* scalar: bytes before the NUL */
	struct pnode **kids;  /* seq: items; map: key, value, key, value, ... */
	size_t kids_count;    /* map: twice the number of pairs */
	size_t kids_cap;
};

/* Load yaml into a tree whose root is *out (any node type). Refuses (MALFORMED) YAML
 * errors, anchors, aliases, tags, %TAG directives, a second document, non-scalar or
 * duplicate keys, scalars holding NUL or longer than CAS_POLICY_MAX_SCALAR, more than
 * CAS_POLICY_MAX_ITEMS entries in a collection and nesting beyond
 * CAS_POLICY_MAX_DEPTH. *out is owned by the caller (cas_policy_tree_free). */
int cas_policy_tree_load(const char *yaml, size_t size, struct pnode **out,
			 struct shelter_err *err);
/* Wipes every scalar and frees; NULL is a no-op. */
void cas_policy_tree_free(struct pnode *node);

/* Set err to "policy line L col C: <fmt>" (node may be NULL: no position). */
int cas_policy_err(struct shelter_err *err, const struct pnode *node, int code,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- templates: strings with placeholders (policy_render.c, §5.2) ---- */

struct pol_seg {
	size_t off, size;  /* literal: bytes [off, off+size) of the template's text */
	int secret;        /* -1 for a literal, else the index of the secret */
	enum cas_secret_field field;
};

struct pol_tmpl {
	char *text;        /* the literal parts, escapes resolved */
	size_t text_size;
	struct pol_seg *segs;
	size_t segs_count;
};

/* ---- the parsed policy ---- */

struct pol_signer {
	uint8_t signer[SHELTER_SIGNER_SIZE];
	char *product;
	uint32_t min_version;
};

struct pol_provider {
	struct cas_policy_provider pub;
	char *name;
	char *pem;
};

struct pol_secret {
	struct cas_secret_spec spec;
	char *name;
	uint8_t *value;
	char *common_name;
	char **dns;
	char **ip;
	unsigned fields;   /* CAS_FIELD_BIT()s referenced by the launch section */
};

struct pol_env {
	char *name;
	struct pol_tmpl value;
};

struct pol_file {
	char *path;
	struct pol_tmpl content;
};

struct pol_volume {
	struct cas_volume_spec pub;
	char *name;
	char *path;
};

struct cas_policy {
	char *name;
	uint8_t (*measurements)[SHELTER_MEASUREMENT_SIZE];
	size_t measurements_count;
	struct pol_signer *signers;
	size_t signers_count;
	struct pol_provider *providers;
	size_t providers_count;
	int allow_sim;
	int allow_debug;
	struct pol_secret *secrets;
	size_t secrets_count;
	struct pol_tmpl *args;
	size_t args_count;
	int host_args;
	struct pol_env *env;
	size_t env_count;
	char **host_env;
	size_t host_env_count;
	struct pol_file *files;
	size_t files_count;
	struct pol_volume *volumes;
	size_t volumes_count;
};

/* Parse the template in scalar node n (where names the key for messages), resolving
 * secret names against policy->secrets and marking the fields used. */
int cas_policy_tmpl_parse(struct cas_policy *policy, const struct pnode *n, const char *where,
			  struct pol_tmpl *out, struct shelter_err *err);
/* Wipes and frees the template's contents (not t itself). */
void cas_policy_tmpl_clear(struct pol_tmpl *t);

/* A short printable rendering of a scalar for messages: the text itself when it is
 * at most 64 bytes of [A-Za-z0-9._-], else "(value)", so an error can never echo a
 * secret the owner mistyped into the wrong key. */
const char *cas_policy_token(const struct pnode *n);

#endif
