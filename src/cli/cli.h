/* Shared helpers of the shelter command (one source file per subcommand). */
#ifndef SHELTER_CLI_H
#define SHELTER_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"

/* Exit codes of every subcommand: a contract for scripts. */
#define CLI_OK 0
#define CLI_FAIL 1   /* the operation failed or found problems */
#define CLI_USAGE 2  /* the command line was wrong */

int cmd_volume(int argc, char **argv);

/* Print "shelter: <what>: <err->msg>" to stderr; returns CLI_FAIL. */
int cli_fail(const char *what, const struct shelter_err *err);
/* Print a usage error to stderr; returns CLI_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Load a 32-byte key file into secret memory (*out, free with cli_key_free).
 * With create, a missing file is created with 32 random bytes, mode 0600. */
int cli_key_load(const char *path, int create, uint8_t **out, struct shelter_err *err);
void cli_key_free(uint8_t *key);

/* Progress on stderr for long operations: at most one line a second, and only
 * once the operation has run for a second. */
struct cli_progress {
	const char *verb;
	uint64_t total_bytes, done_bytes;
	uint64_t total_items, done_items;
	double start, last;
	int shown;
};
void cli_progress_start(struct cli_progress *p, const char *verb, uint64_t items,
			uint64_t bytes);
void cli_progress_step(struct cli_progress *p, uint64_t items, uint64_t bytes);
void cli_progress_end(struct cli_progress *p);

#endif
