/* Measurement of a program and tenant signatures over it (docs/formats/measurement.md).
 *
 * A measurement is one SHA-256 digest over everything that decides a program's
 * behaviour under Shelter: the executable, its ELF interpreter, the shared libraries
 * the dynamic loader will load (by requested name and content, in load order), the
 * shield library, and the launch manifest (arguments, environment, protected
 * volumes). A tenant signs a measurement with an Ed25519 key into a sigstruct, so a
 * policy can accept "signer + product + minimum version" instead of one digest.
 *
 * Ownership: a struct shelter_measure_report is owned by the caller of
 * shelter_measure and freed with shelter_measure_report_free (NULL is a no-op);
 * pointers read from it (shelter_measure_component) are borrowed and live until the
 * report is freed. Options and their strings are borrowed for the duration of the
 * call only. Private keys are read, never kept; the caller wipes its copy.
 * Thread safety: every function is reentrant; shelter_measure spawns one child
 * process (the dynamic loader in list mode, never the program itself).
 */
#ifndef SHELTER_MEASURE_H
#define SHELTER_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"
#include "shelter/tee.h"

/* What to measure (measurement.md §3). Every array may be NULL when its count is 0. */
struct shelter_measure_opts {
	/* Path of the ELF executable (opened as given: no PATH search). */
	const char *program;
	/* argv as the program will see it, argv[0] included. argc 0 means
	 * { program }. */
	const char *const *argv;
	size_t argc;
	/* Environment names the host may pass through (sorted and deduplicated
	 * before measuring; no '=' allowed). */
	const char *const *env_names;
	size_t env_names_count;
	/* Fixed environment entries "NAME=VALUE" (sorted by name; one value per
	 * name; a name may not also be in env_names). */
	const char *const *env_fixed;
	size_t env_fixed_count;
	/* Protected volume mount paths: absolute; normalised ("//" and "." removed,
	 * ".." refused), sorted and deduplicated before measuring. */
	const char *const *volumes;
	size_t volume_count;
	/* The shield library (an ELF shared object, preloaded at launch), or NULL:
	 * recorded as absent. */
	const char *shield;
	/* The freshness service the volumes are bound to (measurement.md §4.2), or
	 * NULL: none (no FRESHNESS record). */
	const struct shelter_measure_freshness *freshness;
};

/* ---- the freshness binding (measurement.md §4.2, docs/shield.md §6.6) ---- */

#define SHELTER_MEASURE_FRESH_ENDORSERS_MAX 16
#define SHELTER_MEASURE_FRESH_ACCEPT_SIM 0x1u /* sim endorser quotes are accepted */
/* The largest record value: 70 bytes and 32 per endorser measurement. */
#define SHELTER_MEASURE_FRESH_VALUE_MAX (70 + 32 * SHELTER_MEASURE_FRESH_ENDORSERS_MAX)

/* Which freshness service a program's volumes are bound to, and which endorsers
 * it believes: the service's genesis view digest, the provider that enrolled the
 * endorsers' platforms (SHA-256 of its CA certificate, DER), the accepted endorser
 * measurements (1 to SHELTER_MEASURE_FRESH_ENDORSERS_MAX; any order, duplicates
 * allowed: the encoding sorts and deduplicates them) and SHELTER_MEASURE_FRESH_*
 * flags. The service's address is not part of it (it may move). */
struct shelter_measure_freshness {
	uint8_t genesis[32];
	uint8_t provider[32];
	uint32_t flags;
	size_t endorser_count;
	uint8_t endorsers[SHELTER_MEASURE_FRESH_ENDORSERS_MAX][32];
};

/* The canonical record value of a binding (§4.2) into out (cap bytes; at most
 * SHELTER_MEASURE_FRESH_VALUE_MAX are written), its size in *size. SHELTER_E_INVAL
 * for no endorser measurement, too many, or unknown flags. */
SHELTER_API SHELTER_MUST_USE int shelter_measure_freshness_encode(
	const struct shelter_measure_freshness *in, uint8_t *out, size_t cap, size_t *size,
	struct shelter_err *err);
/* Parse a record value: exactly the canonical encoding, else SHELTER_E_MALFORMED
 * naming what is wrong (length, count, flags, order). *out is cleared on entry,
 * filled on success. */
SHELTER_API SHELTER_MUST_USE int shelter_measure_freshness_parse(
	const uint8_t *buf, size_t size, struct shelter_measure_freshness *out,
	struct shelter_err *err);
/* The provider identity of a binding: SHA-256 of the DER of the certificate in
 * DIR/ca.crt (a provider directory, docs/formats/quote.md §5.4). Errors name the
 * file: SHELTER_E_NOENT when missing, SHELTER_E_MALFORMED when it holds no
 * certificate. */
SHELTER_API SHELTER_MUST_USE int shelter_measure_freshness_provider(const char *dir,
								    uint8_t out[32],
								    struct shelter_err *err);

/* Components of a measurement, in the order they are measured (measurement.md §4). */
enum shelter_measure_kind {
	SHELTER_MEASURE_PROGRAM = 1,
	SHELTER_MEASURE_INTERP = 2,
	SHELTER_MEASURE_LIBRARY = 3,
	SHELTER_MEASURE_SHIELD = 4, /* no digest when absent */
	SHELTER_MEASURE_ARG = 16,
	SHELTER_MEASURE_ENV_ALLOW = 17,
	SHELTER_MEASURE_ENV_FIXED = 18,
	SHELTER_MEASURE_VOLUME = 19,
	SHELTER_MEASURE_FRESHNESS = 20, /* name: the record value in hex */
};

/* One component, as borrowed views into a report. */
struct shelter_measure_component {
	enum shelter_measure_kind kind;
	/* PROGRAM: the path given; INTERP: PT_INTERP; LIBRARY: the name requested
	 * (DT_NEEDED); SHIELD: "absent" or the path given; ARG, ENV_*, VOLUME: the
	 * value measured (normalised). Never NULL. */
	const char *name;
	/* The file that was read (not measured: paths may differ across machines),
	 * NULL for manifest entries and an absent shield. */
	const char *path;
	/* SHA-256 of the file's content; NULL for manifest entries and an absent
	 * shield. */
	const uint8_t *digest;
};

struct shelter_measure_report;

/* Measure a program. On success writes the measurement to out (all zero on failure)
 * and, when report is not NULL, a new report listing every component (*report is
 * NULL on failure).
 * Errors: SHELTER_E_INVAL for a program that is not an ELF executable, a static
 * binary (no PT_INTERP: the shield is preloaded by the dynamic loader and cannot
 * cover it), an interpreter that is not a dynamic loader, a shield that is not an
 * ELF shared object, or a manifest that breaks a rule above; SHELTER_E_MALFORMED for an ELF file that does not parse;
 * SHELTER_E_NOENT for a library the loader cannot find (SHELTER_E_IO when it finds
 * but cannot open it); errno-derived codes for files we cannot read; SHELTER_E_PROTO
 * when the loader prints anything but its list (a warning, an error);
 * SHELTER_E_INTERNAL when the loader fails otherwise or times out. */
SHELTER_API SHELTER_MUST_USE int shelter_measure(const struct shelter_measure_opts *opts,
						 uint8_t out[SHELTER_MEASUREMENT_SIZE],
						 struct shelter_measure_report **report,
						 struct shelter_err *err);
/* Only the checks of measurement.md §2.1 on program and its ELF interpreter (what
 * shelter_measure refuses with SHELTER_E_INVAL or SHELTER_E_MALFORMED: not an ELF
 * executable, a static binary, an interpreter that is not a dynamic loader),
 * without running the loader or hashing. For launchers that refuse a program the
 * shield cannot cover before running it. */
SHELTER_API SHELTER_MUST_USE int shelter_measure_check_program(const char *program,
							       struct shelter_err *err);
/* Normalise a protected volume path as the measurement does (measurement.md §3.3):
 * SHELTER_E_INVAL when it is not absolute or has a ".." component,
 * SHELTER_E_NAMETOOLONG when the result does not fit out_size bytes. For launchers
 * that key volumes by the path the measurement names. */
SHELTER_API SHELTER_MUST_USE int shelter_measure_normalise_volume(const char *path, char *out,
								  size_t out_size,
								  struct shelter_err *err);
/* Number of components in a report (0 for NULL). */
SHELTER_API size_t shelter_measure_report_count(const struct shelter_measure_report *report);
/* Component i (0-based) of a report; SHELTER_E_INVAL when out of range. */
SHELTER_API SHELTER_MUST_USE int shelter_measure_report_get(
	const struct shelter_measure_report *report, size_t i,
	struct shelter_measure_component *out);
/* Frees a report; NULL is a no-op. */
SHELTER_API void shelter_measure_report_free(struct shelter_measure_report *report);
/* Static lowercase name of a kind ("program", "library", ...; "?" when unknown). */
SHELTER_API const char *shelter_measure_kind_str(int kind);

/* ---- sigstruct: a tenant's signature over a measurement (measurement.md §6) ---- */

#define SHELTER_SIGSTRUCT_SIZE 220
#define SHELTER_SIGSTRUCT_DEBUG 0x1u /* the signer allows a debuggable launch */

/* The signed fields. product is 1-63 characters of [A-Za-z0-9._-]. */
struct shelter_sigstruct {
	uint8_t measurement[SHELTER_MEASUREMENT_SIZE];
	char product[SHELTER_PRODUCT_MAX];
	uint32_t version; /* security version: policies accept >= a minimum */
	uint32_t flags;   /* SHELTER_SIGSTRUCT_* */
	uint64_t created; /* seconds since the Unix epoch, as the signer's clock said */
	/* Filled by shelter_sigstruct_parse_verify (ignored by _sign): */
	uint8_t public_key[32];
	uint8_t signer[SHELTER_SIGNER_SIZE]; /* SHA-256(public_key) */
};

/* Sign fields (measurement, product, version, flags, created) with the tenant's
 * Ed25519 private key (32-byte seed) into exactly SHELTER_SIGSTRUCT_SIZE bytes (all
 * zero on failure). SHELTER_E_INVAL for a bad product name or unknown flags. */
SHELTER_API SHELTER_MUST_USE int shelter_sigstruct_sign(const uint8_t key[32],
							const struct shelter_sigstruct *fields,
							uint8_t out[SHELTER_SIGSTRUCT_SIZE],
							struct shelter_err *err);

/* Parse and verify a sigstruct. SHELTER_E_MALFORMED when the bytes break the layout
 * (length, magic, reserved or padding bytes, flags, product); SHELTER_E_VERSION for
 * another format version; SHELTER_E_UNTRUSTED when the signature does not verify
 * under the embedded public key. Deciding whether that key is trusted is the
 * policy's job (it names the signer). *out is cleared on entry, filled on success. */
SHELTER_API SHELTER_MUST_USE int shelter_sigstruct_parse_verify(const uint8_t *bytes,
								size_t size,
								struct shelter_sigstruct *out,
								struct shelter_err *err);

/* The identity of a measured program: measurement, and when a sigstruct is given
 * (sigstruct NULL and size 0 = unsigned) its signer, product, version and DEBUG
 * flag, after checking it verifies (errors as shelter_sigstruct_parse_verify) and is
 * for exactly this measurement (SHELTER_E_POLICY naming both digests otherwise).
 * out->tee is 0: the TEE fills it. *out is cleared on entry, filled on success. */
SHELTER_API SHELTER_MUST_USE int shelter_measure_identity(
	const uint8_t measurement[SHELTER_MEASUREMENT_SIZE], const uint8_t *sigstruct,
	size_t size, struct shelter_identity *out, struct shelter_err *err);

#endif
