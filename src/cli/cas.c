/* shelter cas: run the configuration and attestation service (docs/api/cas.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cas/cas.h"
#include "cli/cli.h"

#define MAX_HOSTNAMES 16

static const char cas_help[] =
	"usage: shelter cas serve --listen HOST:PORT --data DIR [options]\n"
	"\n"
	"Serve the CAS API (docs/api/cas.md) over HTTPS (TLS 1.3) until SIGTERM or SIGINT.\n"
	"State lives in DIR/volume, a protected volume sealed to this CAS's measurement on\n"
	"its platform; DIR/cas.crt is the certificate clients pin, DIR/cas.addr the\n"
	"address it listens on (PORT 0 picks a free port).\n"
	"\n"
	"  --platform DIR    the sim platform of this machine (default: shelter platform's)\n"
	"  --hostname NAME   also name NAME in a new certificate (repeatable)\n"
	"  --workers N       connection threads (default 128)\n"
	"  --nonce-ttl SECS  how long an attestation nonce stays valid (default 60)\n"
	"\n"
	"Logs one line per event on stderr. Exit codes: 0 clean shutdown, 1 failure,\n"
	"2 usage error.\n";

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "data", required_argument, NULL, 'd' },
		{ "platform", required_argument, NULL, 'p' },
		{ "hostname", required_argument, NULL, 'n' },
		{ "workers", required_argument, NULL, 'w' },
		{ "nonce-ttl", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hostnames[MAX_HOSTNAMES];
	struct cas_config cfg = { .hostnames = hostnames, .stop = &cli_stop_flag };
	struct shelter_err err;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': cfg.listen = optarg; break;
		case 'd': cfg.data_dir = optarg; break;
		case 'p': cfg.platform_dir = optarg; break;
		case 'n':
			if (cfg.hostname_count == MAX_HOSTNAMES)
				return cli_usage("at most %d --hostname", MAX_HOSTNAMES);
			hostnames[cfg.hostname_count++] = optarg;
			break;
		case 'w':
			if (parse_uint(optarg, 4096, &cfg.workers) < 0 || cfg.workers == 0)
				return cli_usage("--workers: expected 1..4096, got '%s'", optarg);
			break;
		case 't':
			if (parse_uint(optarg, 3600, &cfg.nonce_ttl) < 0 || cfg.nonce_ttl == 0)
				return cli_usage("--nonce-ttl: expected 1..3600, got '%s'", optarg);
			break;
		case 'h': fputs(cas_help, stdout); return CLI_OK;
		default: return cli_usage("see 'shelter cas --help'");
		}
	}
	if (optind != argc)
		return cli_usage("unexpected argument '%s'", argv[optind]);
	if (cfg.listen == NULL || cfg.data_dir == NULL)
		return cli_usage("cas serve needs --listen HOST:PORT and --data DIR");
	if (cli_stop_install("cas") != CLI_OK)
		return CLI_FAIL;
	cfg.stop_fd = cli_stop_fd;
	shelter_err_clear(&err);
	c = cas_serve(&cfg, &err);
	cli_stop_release();
	if (c < 0)
		return cli_fail("cas serve", &err);
	return CLI_OK;
}

int cmd_cas(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(cas_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "serve") == 0)
		return serve(argc - 1, argv + 1);
	return cli_usage("unknown cas command '%s' (see 'shelter cas --help')", argv[1]);
}
