/* The shield's start-up (docs/shield.md §1) and the freshness of its volumes (§6).
 *
 * launch.c  __libc_start_main: reads the launch configuration `shelter run` left in
 *           the environment, measures the program, opens the TEE, gets the volume
 *           keys (sealed locally, or from the CAS after attestation), opens and
 *           mounts the volumes, then starts the program. Any failure is
 *           shield_die(): the program never runs unprotected.
 * tags.c    the last recorded tag of each volume: sealed in the state directory
 *           (embedded) or kept by the CAS; recorded after create, on sync (at most
 *           once a second per mount) and at exit.
 * secrets.c the in-memory protected volume at /run/secrets holding the files a CAS
 *           session releases.
 *
 * The environment variables below are the whole contract between `shelter run`
 * (src/cli/run.c) and the shield; both include this header for the names.
 * Everything here runs before main() unless said otherwise.
 */
#ifndef SHELTER_SHIELD_LAUNCH_H
#define SHELTER_SHIELD_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"
#include "shelter/tee.h"
#include "shelter/volume.h"

/* ---- the launch contract (docs/shield.md §1.2) ---- */

/* "MOUNTPATH=HOSTDIR" lines: both absolute, MOUNTPATH normalised as the
 * measurement normalises it (measurement.md §3.3), no '=' in MOUNTPATH. */
#define SHIELD_ENV_VOLUMES "SHELTER_SHIELD_VOLUMES"
/* "1": accept a volume without a recorded tag, or a recorded tag without a volume,
 * as it is now (logged as a security event), and record its tag. */
#define SHIELD_ENV_ADOPT "SHELTER_SHIELD_ADOPT"
/* The sim platform (read by shelter_platform_default_dir) and, embedded, the
 * directory of sealed tags. */
#define SHIELD_ENV_PLATFORM "SHELTER_PLATFORM_DIR"
#define SHIELD_ENV_STATE "SHELTER_STATE_DIR"
/* CAS mode: present together, or the launch is refused. */
#define SHIELD_ENV_CAS_URL "SHELTER_CAS_URL"
#define SHIELD_ENV_CAS_CERT "SHELTER_CAS_CERT"
#define SHIELD_ENV_SESSION "SHELTER_SESSION"
/* CAS mode, the rest of the measured manifest (as `shelter measure --env-allow`,
 * `--env` and `shelter attest --sigstruct` were given): newline-separated names,
 * newline-separated NAME=VALUE entries, a file. */
#define SHIELD_ENV_ENV_ALLOW "SHELTER_SHIELD_ENV_ALLOW"
#define SHIELD_ENV_ENV_FIXED "SHELTER_SHIELD_ENV"
#define SHIELD_ENV_SIGSTRUCT "SHELTER_SHIELD_SIGSTRUCT"
/* Embedded mode, the freshness binding (docs/shield.md §6.6), present together or
 * not at all: the service's address HOST:PORT (not measured: it may move), the
 * record value of measurement.md §4.2 in hex (measured: the keys depend on it) and
 * the provider directory whose ca.crt the binding names. */
#define SHIELD_ENV_FRESH_ADDR "SHELTER_SHIELD_FRESHNESS"
#define SHIELD_ENV_FRESH_BINDING "SHELTER_SHIELD_FRESHNESS_BINDING"
#define SHIELD_ENV_FRESH_PROVIDER "SHELTER_SHIELD_FRESHNESS_PROVIDER"
/* MiB of decrypted chunks each volume keeps in memory (docs/shield.md §4; default
 * SHIELD_CACHE_MB_DEFAULT, 0 for none, at most SHIELD_CACHE_MB_MAX). */
#define SHIELD_ENV_CACHE "SHELTER_SHIELD_CACHE_MB"
#define SHIELD_CACHE_MB_DEFAULT 64
#define SHIELD_CACHE_MB_MAX 16384

/* Where the CAS's files are delivered (a protected in-memory volume). */
#define SHIELD_SECRETS_PATH "/run/secrets"

/* The SHELTER_* and LD_PRELOAD entries the program was started with ("NAME=VALUE",
 * NULL-terminated; lives until exit). In CAS mode the program's own environment is
 * exactly the session's, so an exec that must stay shielded takes these from here. */
const char *const *shield_launch_env(void);

/* ---- tags.c (§6) ---- */

struct shield_mount;
struct shelter_tee;
struct shelter_attester;
struct shield_tagfile;

/* The sealed tag record of the volume in host_real (a realpath) mounted at mount:
 * STATE/tags/<hex SHA-256(host_real)>, under a key sealed by policy (to this
 * measurement, or to its signer and product) with the label "tag:" mount. */
int shield_tagfile_new(struct shelter_tee *tee, enum shelter_seal_policy policy,
		       const char *state_dir, const char *host_real, const char *mount,
		       struct shield_tagfile **out, struct shelter_err *err);
/* The same with K given (shield_tagfile_new's second half; tests and fuzzers use it
 * without a TEE). K is borrowed for the call; creates state_dir and STATE/tags. */
int shield_tagfile_new_from_key(const uint8_t k[32], const char *state_dir,
				const char *host_real, const char *mount,
				struct shield_tagfile **out, struct shelter_err *err);
void shield_tagfile_free(struct shield_tagfile *t);

/* What a tag file holds. */
enum shield_tagfile_state {
	SHIELD_TAG_NONE = 0,    /* no file: nothing was ever recorded */
	SHIELD_TAG_OK = 1,      /* *tag is the recorded tag */
	SHIELD_TAG_FOREIGN = 2, /* sealed under another key: another measurement or
				   platform recorded it */
};
/* Read the record: SHELTER_E_INTEGRITY when it does not authenticate under our key
 * (modified, truncated) and SHELTER_E_MALFORMED when it is not a tag file. */
int shield_tagfile_read(struct shield_tagfile *t, uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
			enum shield_tagfile_state *state, struct shelter_err *err);
/* The record's size (§6.2) and its two pure halves, without files. Parse: the
 * bytes of a record (size as read, up to SHIELD_TAGREC_SIZE + 1) with the codes of
 * shield_tagfile_read; *state is SHIELD_TAG_NONE on error, and *tag holds the
 * recorded tag only with SHIELD_TAG_OK (a record that does not authenticate wipes
 * it). Seal: the record of tag under nonce (shield_tagfile_write seals with a
 * random one). */
#define SHIELD_TAGREC_SIZE 84
int shield_tagrec_parse(const struct shield_tagfile *t, const uint8_t *buf, size_t size,
			uint8_t tag[SHELTER_VOLUME_TAG_SIZE], enum shield_tagfile_state *state,
			struct shelter_err *err);
int shield_tagrec_seal(const struct shield_tagfile *t, const uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
		       const uint8_t nonce[12], uint8_t buf[SHIELD_TAGREC_SIZE],
		       struct shelter_err *err);
/* Replace the record atomically (temporary file, fsync, rename, fsync of the
 * directory): a crash leaves the old record or the new one. */
int shield_tagfile_write(struct shield_tagfile *t, const uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
			 struct shelter_err *err);

/* Record m's tag from now on: into t (embedded; takes t), or with the CAS (a and
 * session are borrowed until exit). last is the tag recorded now, NULL when none. */
int shield_tags_track_sealed(struct shield_mount *m, struct shield_tagfile *t,
			     const uint8_t *last, struct shelter_err *err);
int shield_tags_track_cas(struct shield_mount *m, struct shelter_attester *a,
			  const char *session, const uint8_t *last, struct shelter_err *err);
/* Record m's current tag now (after it is made durable). */
int shield_tags_record(struct shield_mount *m, struct shelter_err *err);
/* Record every tracked mount's tag (atexit; the program is still there). */
void shield_tags_at_exit(void);

/* The volume's freshness handle (docs/shield.md §6.6): HKDF-SHA256(K, info
 * "shelter-shield freshness handle v1"), K the record's sealed key. */
void shield_tagfile_handle(const struct shield_tagfile *t, uint8_t out[32]);

/* Bind m (tracked) to the freshness service through b (taken; freed never: it
 * lives until exit): every sync of the volume then returns only once the service
 * endorsed its tag (shield_tags_note_sync), and each recording also writes it there.
 * last_endorsed is the tag the service holds now, NULL when none. */
struct shield_bound;
int shield_tags_bind(struct shield_mount *m, struct shield_bound *b,
		     const uint8_t *last_endorsed, struct shelter_err *err);

/* ---- bind.c: volumes bound to a freshness service (§6.6) ---- */

struct shelter_measure_freshness;
struct shield_binding;
/* The service of a run's binding: address (borrowed for the call), the measured
 * binding f, and the provider directory whose ca.crt must be the one f names
 * (SHELTER_E_POLICY otherwise). Lives until exit. */
int shield_binding_new(const char *addr, const struct shelter_measure_freshness *f,
		       const char *provider_dir, struct shield_binding **out,
		       struct shelter_err *err);
const char *shield_binding_addr(const struct shield_binding *b);
/* The volume of t at the service: reads the latest state (a fresh nonce) and parses
 * it with t into *tag and *state (SHIELD_TAG_NONE: the handle was never written;
 * FOREIGN: a record under another key). t is borrowed while *out lives. Errors:
 * the service unreachable or refused, a state that does not authenticate. */
int shield_bound_open(struct shield_binding *b, const struct shield_tagfile *t,
		      struct shield_bound **out, uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
		      enum shield_tagfile_state *state, struct shelter_err *err);
/* Write tag (sealed as a §6.2 record) as the handle's next state and return once
 * f + 1 endorsers certified it. A CONFLICT (another process wrote) is answered by
 * reading the latest and writing on it. */
int shield_bound_put(struct shield_bound *v, const uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
		     struct shelter_err *err);
/* In a forked child: forget the parent's connection. */
void shield_bound_after_fork(struct shield_bound *v);
void shield_bound_free(struct shield_bound *v);

/* ---- secrets.c ---- */

struct shelter_config;
/* Put the config's files into a new in-memory volume mounted at /run/secrets.
 * Nothing is mounted when the config has no files. SHELTER_E_POLICY for a file
 * outside /run/secrets: the shield has nowhere protected to put it. */
int shield_secrets_mount(const struct shelter_config *cfg, struct shelter_err *err);
/* Remove the in-memory volume's directory (atexit; only in the process that
 * created it, never in a forked child). */
void shield_secrets_at_exit(void);

#endif
