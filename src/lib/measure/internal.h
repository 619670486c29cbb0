/* Internal interfaces of the measurement module (docs/formats/measurement.md).
 *
 * elf.c       §2: the few ELF fields that decide how a program is loaded (pure
 *             parser over a caller-supplied read function).
 * ldlist.c    §2.2: runs the dynamic loader in list mode and parses what it prints.
 * manifest.c  §3-§4: components, manifest canonicalisation and the TLV stream.
 * measure.c   §2-§4: shelter_measure, tying the above together.
 * sigstruct.c §6: sigstructs and identities.
 *
 * Everything here is internal to libshelter (hidden symbols); the unit tests and the
 * fuzzer link the static library and call these directly.
 */
#ifndef SHELTER_MEASURE_INTERNAL_H
#define SHELTER_MEASURE_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"
#include "shelter/measure.h"

/* §1: the domain-separation string that starts every measured stream. */
#define MEASURE_DOMAIN "shelter-measurement-v1"
/* §4: the largest value of one record; larger arguments or names are refused. */
#define MEASURE_VALUE_MAX ((size_t)1 << 20)
/* §3: the most entries of each manifest list and libraries of a program. */
#define MEASURE_LIST_MAX 65536
/* §2.1: PT_INTERP including its NUL, and the program header table we read. */
#define MEASURE_INTERP_MAX PATH_MAX
#define MEASURE_PHDR_TABLE_MAX ((size_t)1 << 16)
/* §2.2: bounds on the loader child. */
#define MEASURE_LOADER_OUTPUT_MAX ((size_t)1 << 20)
#define MEASURE_LOADER_TIMEOUT_MS 30000

/* ---- elf.c ---- */

/* Reads exactly size bytes at off into buf; 0 or a negative shelter code. */
typedef int (*measure_read_fn)(void *ctx, uint64_t off, void *buf, size_t size,
			       struct shelter_err *err);

struct measure_elf {
	uint8_t elf_class;  /* ELFCLASS32 or ELFCLASS64 */
	uint8_t elf_data;   /* ELFDATA2LSB or ELFDATA2MSB */
	uint16_t type;      /* e_type: ET_EXEC or ET_DYN (others are refused) */
	uint16_t machine;   /* e_machine */
	int has_interp;     /* a PT_INTERP segment was present */
	char interp[MEASURE_INTERP_MAX]; /* its path, "" when none */
};

/* Inspect an ELF file of file_size bytes: SHELTER_E_INVAL ("not an ELF file") when
 * the magic is missing, SHELTER_E_MALFORMED when the header, the program header
 * table or PT_INTERP does not parse, or when e_type is not ET_EXEC or ET_DYN.
 * `what` names the file in messages. */
SHELTER_MUST_USE int measure_elf_inspect(measure_read_fn rd, void *ctx, uint64_t file_size,
					 const char *what, struct measure_elf *out,
					 struct shelter_err *err);

/* ---- ldlist.c ---- */

/* One object the loader listed. `path` is NULL for a line without "=>", where the
 * requested name is itself the path (the interpreter, a preloaded object, a
 * DT_NEEDED entry containing '/'). Both strings are owned by the list. */
struct measure_ldent {
	char *name;
	char *path;
};

struct measure_ldlist {
	struct measure_ldent *v;
	size_t count;
};

/* Parse the loader's list-mode output (§2.2). vDSO lines are dropped. A library
 * reported missing gives SHELTER_E_NOENT naming it; any other line that is not a
 * listed object gives SHELTER_E_PROTO quoting it. *out is owned by the caller
 * (measure_ldlist_free) and empty on failure. */
SHELTER_MUST_USE int measure_ldlist_parse(const char *text, size_t size,
					  struct measure_ldlist *out, struct shelter_err *err);
void measure_ldlist_free(struct measure_ldlist *list);

/* Run `interp [--preload shield] --list program` with an empty environment, stdin
 * from /dev/null, stdout and stderr into one pipe, no other descriptors, a timeout,
 * and parse its output into *out. */
SHELTER_MUST_USE int measure_ldlist_run(const char *interp, const char *program,
					const char *shield, struct measure_ldlist *out,
					struct shelter_err *err);

/* ---- manifest.c ---- */

struct measure_comp {
	enum shelter_measure_kind kind;
	char *name;
	char *path;   /* NULL for manifest entries and an absent shield */
	int has_digest;
	uint8_t digest[32];
};

struct shelter_measure_report {
	struct measure_comp *v;
	size_t count, cap;
};

/* Append a component (name and path are copied; path and digest may be NULL). */
SHELTER_MUST_USE int measure_report_add(struct shelter_measure_report *r,
					enum shelter_measure_kind kind, const char *name,
					const char *path, const uint8_t *digest,
					struct shelter_err *err);

/* Check and canonicalise the launch manifest of opts (§3) and append its ARG,
 * ENV_ALLOW, ENV_FIXED and VOLUME components, in that order. */
SHELTER_MUST_USE int measure_add_manifest(struct shelter_measure_report *r,
					  const struct shelter_measure_opts *opts,
					  struct shelter_err *err);

/* Normalise one volume path (§3.3) into out (out_size bytes). */
SHELTER_MUST_USE int measure_volume_normalise(const char *path, char *out, size_t out_size,
					      struct shelter_err *err);

/* Encode the components as the §4 stream: the domain string then one record per
 * component. Checks the §4 order and counts (SHELTER_E_INTERNAL when violated).
 * *stream is malloc'd, owned by the caller. */
SHELTER_MUST_USE int measure_encode(const struct shelter_measure_report *r, uint8_t **stream,
				    size_t *size, struct shelter_err *err);

/* SHA-256 of a regular file's content, read through an already open descriptor. */
SHELTER_MUST_USE int measure_fd_digest(int fd, const char *what, uint8_t out[32],
				       struct shelter_err *err);

#endif
