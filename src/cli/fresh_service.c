/* shelter freshness serve | init | reconfigure: the coordinator and the operator's
 * procedures (docs/protocols/freshness.md §5, §7). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "freshness/coordinator.h"

#define MAX_ADDRS FR_VIEW_MAX

static int open_coord(const char *store_spec, struct fresh_coord **c, struct shelter_err *err)
{
	struct fresh_store *st = NULL;
	int rc = fresh_store_open(store_spec, &st, err);

	return rc == 0 ? fresh_coord_new(st, c, err) : rc;
}

int fresh_cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = NULL, *store = NULL;
	struct fresh_coord *c = NULL;
	struct shelter_err err;
	int o, rc;

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (o) {
		case 'l': listen = optarg; break;
		case 's': store = optarg; break;
		case 'h':
			puts("usage: shelter freshness serve --listen HOST:PORT "
			     "--store sqlite:PATH|etcd:http://HOST:PORT[,...]");
			return CLI_OK;
		default: return cli_usage("see 'shelter freshness --help'");
		}
	}
	if (optind != argc || listen == NULL || store == NULL)
		return cli_usage("freshness serve needs --listen HOST:PORT and --store "
				 "sqlite:PATH or etcd:URL");
	if (cli_stop_install("freshness serve") != CLI_OK)
		return CLI_FAIL;
	shelter_err_clear(&err);
	rc = open_coord(store, &c, &err);
	if (rc == 0)
		rc = fresh_coord_serve(c, listen, &cli_stop_flag, cli_stop_fd, &err);
	fresh_coord_free(c);
	cli_stop_release();
	return rc < 0 ? cli_fail("freshness serve", &err) : CLI_OK;
}

int fresh_cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "endorser", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *store = NULL, *addrs[MAX_ADDRS];
	struct fresh_coord *c = NULL;
	struct shelter_err err;
	uint8_t genesis[FR_HASH];
	char hex[2 * FR_HASH + 1];
	size_t n = 0;
	int o, rc;

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (o) {
		case 's': store = optarg; break;
		case 'e':
			if (n == MAX_ADDRS)
				return cli_usage("at most %d --endorser", MAX_ADDRS);
			addrs[n++] = optarg;
			break;
		case 'h':
			puts("usage: shelter freshness init --store STORE --endorser HOST:PORT...");
			return CLI_OK;
		default: return cli_usage("see 'shelter freshness --help'");
		}
	}
	if (optind != argc || store == NULL || n == 0)
		return cli_usage("freshness init needs --store and an odd number of --endorser");
	shelter_err_clear(&err);
	rc = open_coord(store, &c, &err);
	if (rc == 0)
		rc = fresh_coord_genesis(c, addrs, n, genesis, &err);
	fresh_coord_free(c);
	if (rc < 0)
		return cli_fail("freshness init", &err);
	shelter_hex(genesis, FR_HASH, hex);
	printf("%s\n", hex); /* the genesis clients pin (§3.3) */
	return CLI_OK;
}

int fresh_cmd_reconfigure(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "remove", required_argument, NULL, 'r' },
		{ "add", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *store = NULL, *add[MAX_ADDRS];
	uint8_t drop[MAX_ADDRS][FR_PUB];
	struct fresh_coord *c = NULL;
	struct shelter_err err;
	size_t nadd = 0, ndrop = 0;
	uint64_t number = 0;
	int o, rc;

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (o) {
		case 's': store = optarg; break;
		case 'r':
			if (ndrop == MAX_ADDRS || strlen(optarg) != 2 * FR_PUB ||
			    shelter_unhex(optarg, drop[ndrop], FR_PUB) < 0)
				return cli_usage("--remove: want an endorser's public key in hex, got "
						 "'%s'", optarg);
			ndrop++;
			break;
		case 'a':
			if (nadd == MAX_ADDRS)
				return cli_usage("at most %d --add", MAX_ADDRS);
			add[nadd++] = optarg;
			break;
		case 'h':
			puts("usage: shelter freshness reconfigure --store STORE "
			     "[--remove PUBKEY]... [--add HOST:PORT]...");
			return CLI_OK;
		default: return cli_usage("see 'shelter freshness --help'");
		}
	}
	if (optind != argc || store == NULL || nadd + ndrop == 0)
		return cli_usage("freshness reconfigure needs --store and --remove or --add");
	shelter_err_clear(&err);
	rc = open_coord(store, &c, &err);
	if (rc == 0)
		rc = fresh_coord_reconfigure(c, (const uint8_t (*)[FR_PUB])drop, ndrop, add, nadd,
					     &number, &err);
	fresh_coord_free(c);
	if (rc < 0)
		return cli_fail("freshness reconfigure", &err);
	printf("view %llu\n", (unsigned long long)number);
	return CLI_OK;
}
