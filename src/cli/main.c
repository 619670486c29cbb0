/* shelter: one command for users. Subcommands live in one file each (src/cli/<name>.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define SHELTER_VERSION "0.1.0"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{ "volume", cmd_volume, "protected volumes: create, import, export, put, cat, ls, tag, verify" },
	{ "cas", cmd_cas, "the configuration and attestation service: serve" },
	{ "freshness", cmd_freshness, "the freshness service against rollback: endorser" },
	{ "session", cmd_session, "CAS sessions of an owner: keygen, apply, show, history, audit" },
	{ "run", cmd_run, "start a program with the shield: protected volumes, attestation" },
	{ "attest", cmd_attest, "attest a program to a CAS and print what it would receive" },
	{ "measure", cmd_measure, "print the measurement of a program and its launch manifest" },
	{ "sign", cmd_sign, "tenant signing keys and sigstructs: keygen, sign, show" },
	{ "platform", cmd_platform, "this machine's attestation identity: init, install-cert, show" },
	{ "provider", cmd_provider, "a provider CA and its platforms: init, enroll, revoke, list, verify" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: shelter <command> [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "  %-10s %s\n", "version", "print the version");
	fprintf(out, "\n'shelter <command> --help' describes a command. Exit codes: 0 success, "
		     "1 failure or problems found, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr), CLI_USAGE;
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return usage(stdout), CLI_OK;
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("shelter %s\n", SHELTER_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "shelter: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_USAGE;
}
