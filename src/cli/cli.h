/* Shared helpers of the shelter command (one source file per subcommand). */
#ifndef SHELTER_CLI_H
#define SHELTER_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"

/* Exit codes of every subcommand: a contract for scripts. */
#define CLI_OK 0
#define CLI_FAIL 1   /* the operation failed or found problems */
#define CLI_USAGE 2  /* the command line was wrong */

int cmd_volume(int argc, char **argv);
int cmd_cas(int argc, char **argv);
int cmd_freshness(int argc, char **argv);
int cmd_session(int argc, char **argv);
int cmd_attest(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_platform(int argc, char **argv);
int cmd_provider(int argc, char **argv);
/* shelter freshness subcommands of the coordinator and the client (fresh_service.c,
 * fresh_client.c), dispatched by freshness.c */
int fresh_cmd_serve(int argc, char **argv);
int fresh_cmd_init(int argc, char **argv);
int fresh_cmd_reconfigure(int argc, char **argv);
int fresh_cmd_create(int argc, char **argv);
int fresh_cmd_append(int argc, char **argv);
int fresh_cmd_read(int argc, char **argv);

/* Print "shelter: <what>: <err->msg>" to stderr; returns CLI_FAIL. */
int cli_fail(const char *what, const struct shelter_err *err);
/* Print a usage error to stderr; returns CLI_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Load a 32-byte key file into secret memory (*out, free with cli_key_free).
 * With create, a missing file is created with 32 random bytes, mode 0600. */
int cli_key_load(const char *path, int create, uint8_t **out, struct shelter_err *err);
void cli_key_free(uint8_t *key);

/* Read a whole small file (or standard input for "-") into a NUL-terminated
 * malloc'd buffer; refuses an empty file or one over max bytes. */
int cli_read_file(const char *path, size_t max, char **out, size_t *size,
		  struct shelter_err *err);

/* A connection to a CAS for owner and attestation commands (casclient.c): the URL
 * and the pinned certificate come from --cas/--cas-cert or SHELTER_CAS_URL /
 * SHELTER_CAS_CERT. */
struct cli_cas {
	const char *url;
	const char *cert_file;
	const char *owner_key; /* PEM private key file of the owner, or NULL */
};
/* Send method target with an optional JSON body as the owner; *out is the parsed
 * JSON answer of a 2xx status. A refusal is an error naming the CAS's code and
 * reason. */
struct json_t;
int cli_cas_call(const struct cli_cas *c, const char *method, const char *target,
		 struct json_t *body, struct json_t **out, struct shelter_err *err);
/* Fill url/cert_file defaults from the environment; CLI_USAGE when still missing. */
int cli_cas_defaults(struct cli_cas *c);

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

/* Daemons: SIGTERM and SIGINT set *cli_stop_flag and make cli_stop_fd readable (a
 * self-pipe, for poll loops); SIGPIPE is ignored. cli_stop_install returns CLI_OK,
 * or CLI_FAIL with a message naming what; cli_stop_release closes the pipe. */
extern volatile sig_atomic_t cli_stop_flag;
extern int cli_stop_fd;
int cli_stop_install(const char *what);
void cli_stop_release(void);

#endif
