/* The measure options shared by `shelter measure` and `shelter sign` (src/cli/measure.c). */
#ifndef SHELTER_CLI_MEASURE_H
#define SHELTER_CLI_MEASURE_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"
#include "shelter/measure.h"

/* getopt codes of the measure options (outside the range of short options) */
enum {
	CLI_MOPT_SHIELD = 0x100,
	CLI_MOPT_ENV_ALLOW,
	CLI_MOPT_ENV,
	CLI_MOPT_VOLUME,
	CLI_MOPT_FRESH_GENESIS,
	CLI_MOPT_FRESH_PROVIDER,
	CLI_MOPT_FRESH_MEASUREMENT,
	CLI_MOPT_FRESH_ACCEPT_SIM,
};

#define CLI_MEASURE_LONGOPTS                                                         \
	{ "shield", required_argument, NULL, CLI_MOPT_SHIELD },                     \
	{ "env-allow", required_argument, NULL, CLI_MOPT_ENV_ALLOW },               \
	{ "env", required_argument, NULL, CLI_MOPT_ENV },                           \
	{ "volume", required_argument, NULL, CLI_MOPT_VOLUME }

/* The freshness binding (measurement.md §4.2): `shelter measure`, `sign` and `run`. */
#define CLI_MEASURE_FRESH_LONGOPTS                                                    \
	{ "freshness-genesis", required_argument, NULL, CLI_MOPT_FRESH_GENESIS },     \
	{ "freshness-provider", required_argument, NULL, CLI_MOPT_FRESH_PROVIDER },   \
	{ "freshness-endorser-measurement", required_argument, NULL,                  \
	  CLI_MOPT_FRESH_MEASUREMENT },                                               \
	{ "freshness-accept-sim", no_argument, NULL, CLI_MOPT_FRESH_ACCEPT_SIM }

#define CLI_MEASURE_FRESH_USAGE                                                               \
	"  --freshness-genesis HEX   bind the volumes to the freshness service with this\n"     \
	"                            genesis (64 hex digits; needs --freshness-provider)\n"    \
	"  --freshness-provider DIR  the provider that enrolled its endorsers' platforms\n"    \
	"                            (its ca.crt is measured, not the path)\n"                  \
	"  --freshness-endorser-measurement HEX  an accepted endorser measurement\n"           \
	"                            (repeatable; default: `shelter freshness endorser` of\n"  \
	"                            this shelter)\n"                                           \
	"  --freshness-accept-sim    accept endorsers on sim platforms\n"

#define CLI_MEASURE_USAGE                                                             \
	"  --shield PATH       the shield library the program runs with (default: none)\n" \
	"  --env-allow NAME    an environment variable the host may pass (repeatable)\n"   \
	"  --env NAME=VALUE    a fixed environment entry (repeatable)\n"                   \
	"  --volume PATH       a protected volume's path inside the program (repeatable)\n" \
	"PROGRAM without a '/' is searched in PATH; argv[0] is PROGRAM as written.\n"

/* Options collected from the command line; the strings are borrowed from argv. */
struct cli_measure {
	const char *shield;
	const char **env_names, **env_fixed, **volumes;
	size_t env_names_count, env_fixed_count, volume_count;
	int any; /* at least one measure option was given */
	/* the freshness binding's options (any_fresh: at least one was given) */
	const char *fresh_genesis, *fresh_provider;
	const char **fresh_measurements;
	size_t fresh_measurement_count;
	int fresh_accept_sim, any_fresh;
	char *program; /* the resolved program path, owned */
};

/* Prepare for a command line of argc words; -1 when out of memory. */
int cli_measure_init(struct cli_measure *m, int argc);
/* Record option c (a CLI_MOPT_* code) with its argument; 0 when c is not one. */
int cli_measure_option(struct cli_measure *m, int c, const char *arg);
/* The freshness binding the options describe into *out (*bound = 0 and out cleared
 * when none was given): SHELTER_E_INVAL naming the option at fault. */
int cli_measure_binding(const struct cli_measure *m, struct shelter_measure_freshness *out,
			int *bound, struct shelter_err *err);
/* PROGRAM without a '/' is looked up in PATH as execvp(3) would; *out is malloc'd
 * (the name itself when it has a '/'). Shared with `shelter run`. */
int cli_find_program(const char *name, char **out, struct shelter_err *err);
/* Measure argv[0] (searched in PATH when it has no '/') with argv as its arguments. */
int cli_measure_run(struct cli_measure *m, int argc, char **argv,
		    uint8_t out[SHELTER_MEASUREMENT_SIZE], struct shelter_measure_report **report,
		    struct shelter_err *err);
void cli_measure_free(struct cli_measure *m);

#endif
