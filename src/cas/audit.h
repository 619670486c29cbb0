/* The CAS audit trail: per-session hash chains of decisions (docs/api/cas.md §7).
 *
 * Every decision (attestation accepted or refused and why, secret released,
 * session changed, CRL installed, platform first seen) is appended inside the same
 * group-commit transaction as the action it records, and that transaction is
 * durable before the action takes effect (store.h). Chain "" holds events that
 * belong to no session (an attestation naming an unknown session, say).
 */
#ifndef SHELTER_CAS_AUDIT_H
#define SHELTER_CAS_AUDIT_H

#include <jansson.h>
#include <sqlite3.h>

#include "shelter/error.h"

/* Append one entry to chain (a session name or ""). detail is borrowed (not
 * stolen). Committer thread only (a store job). */
int cas_audit_append(sqlite3 *db, const char *chain, const char *event, json_t *detail,
		     struct shelter_err *err);

/* Entries of chain with seq > after, oldest first, at most limit: a JSON array of
 * {"seq","entry","hash"} where entry is the exact hashed text. */
int cas_audit_list(sqlite3 *db, const char *chain, long long after, int limit, json_t **out,
		   struct shelter_err *err);

/* Check a list as returned by cas_audit_list (or by the API) links up from its
 * first entry: each hash is SHA-256(entry) and each entry's prev is the previous
 * hash. Used by the CLI; names the first bad seq. */
int cas_audit_verify(json_t *entries, const char *first_prev_hex, struct shelter_err *err);

/* RFC 3339 UTC time with milliseconds into buf (at least 32 bytes). */
void cas_now_rfc3339(char *buf, size_t size);

#endif
