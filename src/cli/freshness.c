/* shelter freshness: the freshness service (docs/protocols/freshness.md). One table
 * of subcommands; each is a function here or a file of its own when it grows. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "freshness/fresh.h"

static int endorser(int argc, char **argv);

struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct subcommand subcommands[] = {
	{ "endorser", endorser, "run one endorser: trusted, memory only (§4, §10)" },
	{ "init", fresh_cmd_init, "make the genesis view of endorsers in an empty store (§7.3)" },
	{ "serve", fresh_cmd_serve, "run a coordinator: untrusted, stateless (§5)" },
	{ "reconfigure", fresh_cmd_reconfigure, "replace endorsers of the current view (§7.1)" },
	{ "create", fresh_cmd_create, "create a handle with a first state (§6.1)" },
	{ "append", fresh_cmd_append, "append a state after the latest one (§6.1)" },
	{ "read", fresh_cmd_read, "read and check the latest state (§6.2, §6.3)" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: shelter freshness <command> [args]\n"
		     "\n"
		     "The freshness service (docs/protocols/freshness.md): endorsers that vouch for\n"
		     "the latest state of protected volumes, the CAS and audit logs, so a host\n"
		     "cannot roll them back.\n"
		     "\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-12s %s\n", subcommands[i].name, subcommands[i].help);
	fprintf(out, "\n'shelter freshness <command> --help' describes a command. Exit codes: 0 "
		     "success,\n1 failure, 2 usage error.\n");
}

int cmd_freshness(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].fn(argc - 1, argv + 1);
	return cli_usage("unknown freshness command '%s' (see 'shelter freshness --help')",
			 argv[1]);
}

/* ---- endorser ---- */

static const char endorser_help[] =
	"usage: shelter freshness endorser --listen HOST:PORT [--platform DIR]\n"
	"\n"
	"Run one endorser of the freshness service (docs/protocols/freshness.md §4, §10)\n"
	"until SIGTERM or SIGINT. It draws a new Ed25519 key at every start, quotes it on\n"
	"the sim platform, and answers coordinators over plain TCP (§8). It keeps its\n"
	"state in memory only: a restarted endorser is a new identity that serves again\n"
	"only once a reconfiguration names it (§7). Nothing is written to disk.\n"
	"\n"
	"  --listen HOST:PORT  address to listen on (PORT 0 picks a free port; the start\n"
	"                      line says which: \"listening on HOST:PORT\")\n"
	"  --platform DIR      the sim platform of this machine (default: $SHELTER_PLATFORM_DIR,\n"
	"                      as for 'shelter platform')\n"
	"\n"
	"Logs one line per event on stderr: start (public key, measurement, address), init\n"
	"and lock, connection errors, stats every 10 s of activity, stopped. Exit codes:\n"
	"0 clean shutdown, 1 failure to start, 2 usage error.\n";

static int endorser(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "platform", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fresh_endorser_config cfg = { .stop = &cli_stop_flag, .stop_fd = -1 };
	struct shelter_err err;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': cfg.listen = optarg; break;
		case 'p': cfg.platform_dir = optarg; break;
		case 'h': fputs(endorser_help, stdout); return CLI_OK;
		default: return cli_usage("see 'shelter freshness endorser --help'");
		}
	}
	if (optind != argc)
		return cli_usage("unexpected argument '%s'", argv[optind]);
	if (cfg.listen == NULL)
		return cli_usage("freshness endorser needs --listen HOST:PORT");
	if (cli_stop_install("freshness endorser") != CLI_OK)
		return CLI_FAIL;
	cfg.stop_fd = cli_stop_fd;
	shelter_err_clear(&err);
	c = fresh_endorser_serve(&cfg, &err);
	cli_stop_release();
	return c < 0 ? cli_fail("freshness endorser", &err) : CLI_OK;
}
