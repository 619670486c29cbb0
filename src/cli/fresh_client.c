/* shelter freshness create | append | read: the client of §6 from the command line.
 * The state is the bytes of a file, stored as given (a program seals its own; the
 * command is for operators and tests). */
#include <errno.h>
#include <getopt.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "freshness/client.h"
#include "shelter/tee.h"

#define STATE_MAX (8u << 20)

#define MAX_PROVIDERS 8
#define MAX_MEASUREMENTS 8

struct fresh_args {
	const char *service;
	const char *genesis_hex;
	const char *handle_arg;
	const char *out;
	uint8_t genesis[FR_HASH];
	uint8_t handle[FR_HASH];
	const char *providers[MAX_PROVIDERS];
	size_t nproviders;
	uint8_t measurements[MAX_MEASUREMENTS][SHELTER_MEASUREMENT_SIZE];
	size_t nmeasurements;
	int accept_sim;
	struct fresh_policy_loaded policy;
};

#define POLICY_USAGE                                                                         \
	"Endorsers are believed only with quotes that verify against --provider DIR (its\n"  \
	"ca.crt and crl.pem; repeatable) and show --endorser-measurement HEX (repeatable;\n"  \
	"default: `shelter freshness endorser` of this build); sim quotes need --accept-sim.\n"

static int make_policy(struct fresh_args *a, struct shelter_err *err)
{
	const struct fresh_policy_args in = {
		.providers = a->providers, .nproviders = a->nproviders,
		.measurements = (const uint8_t (*)[SHELTER_MEASUREMENT_SIZE])a->measurements,
		.nmeasurements = a->nmeasurements, .accept_sim = a->accept_sim,
	};

	return fresh_policy_load(&in, &a->policy, err);
}

/* --handle: 64 hex digits as they are, or a name hashed into a handle. */
static int parse_handle(const char *arg, uint8_t out[FR_HASH])
{
	static const char domain[] = "shelter-fresh-handle";
	size_t n = strlen(arg);
	uint8_t *buf;

	if (n == 2 * FR_HASH && shelter_unhex(arg, out, FR_HASH) == 0)
		return 0;
	buf = malloc(sizeof(domain) + n);
	if (buf == NULL)
		return -1;
	memcpy(buf, domain, sizeof(domain));
	memcpy(buf + sizeof(domain), arg, n);
	SHA256(buf, sizeof(domain) + n, out);
	free(buf);
	return 0;
}

static int parse(int argc, char **argv, struct fresh_args *a, const char *usage)
{
	static const struct option longopts[] = {
		{ "service", required_argument, NULL, 's' },
		{ "genesis", required_argument, NULL, 'g' },
		{ "handle", required_argument, NULL, 'H' },
		{ "out", required_argument, NULL, 'o' },
		{ "provider", required_argument, NULL, 'p' },
		{ "endorser-measurement", required_argument, NULL, 'm' },
		{ "accept-sim", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (o) {
		case 's': a->service = optarg; break;
		case 'g': a->genesis_hex = optarg; break;
		case 'H': a->handle_arg = optarg; break;
		case 'o': a->out = optarg; break;
		case 'p':
			if (a->nproviders == MAX_PROVIDERS)
				return cli_usage("at most %d --provider", MAX_PROVIDERS);
			a->providers[a->nproviders++] = optarg;
			break;
		case 'm':
			if (a->nmeasurements == MAX_MEASUREMENTS || strlen(optarg) != 64 ||
			    shelter_unhex(optarg, a->measurements[a->nmeasurements], 32) < 0)
				return cli_usage("--endorser-measurement: want 64 hex digits (at most "
						 "%d), got '%s'", MAX_MEASUREMENTS, optarg);
			a->nmeasurements++;
			break;
		case 'S': a->accept_sim = 1; break;
		case 'h': printf("%s\n\n%s", usage, POLICY_USAGE); return CLI_OK + 100;
		default: return cli_usage("see 'shelter freshness --help'");
		}
	}
	if (a->service == NULL || a->handle_arg == NULL || a->nproviders == 0)
		return cli_usage("%s (and at least one --provider DIR)", usage);
	if (a->genesis_hex != NULL && (strlen(a->genesis_hex) != 2 * FR_HASH ||
				       shelter_unhex(a->genesis_hex, a->genesis, FR_HASH) < 0))
		return cli_usage("--genesis: want 64 hex digits, got '%s'", a->genesis_hex);
	if (parse_handle(a->handle_arg, a->handle) < 0)
		return cli_usage("--handle: out of memory");
	return 0;
}

static int connect_service(struct fresh_args *a, struct fresh_client **c, struct shelter_err *err)
{
	char hex[2 * FR_HASH + 1];
	int rc = make_policy(a, err);

	if (rc == 0)
		rc = fresh_client_open(a->service, a->genesis_hex ? a->genesis : NULL,
				       &a->policy.policy, c, err);
	if (rc == 0 && a->genesis_hex == NULL) {
		fresh_client_genesis(*c, a->genesis);
		shelter_hex(a->genesis, FR_HASH, hex);
		fprintf(stderr, "shelter: freshness: trusting the service's genesis %s on first use; "
				"pass --genesis to pin it\n", hex);
	}
	return rc;
}

static void print_state(const char *verb, uint64_t height, const uint8_t tail[FR_HASH])
{
	char hex[2 * FR_HASH + 1];

	shelter_hex(tail, FR_HASH, hex);
	printf("%s height %llu tail %s\n", verb, (unsigned long long)height, hex);
}

/* create FILE, or append FILE after the latest state. */
static int write_cmd(int argc, char **argv, int create)
{
	struct fresh_args a = { 0 };
	struct fresh_client *c = NULL;
	struct fresh_state latest = { 0 };
	struct shelter_err err;
	uint8_t tail[FR_HASH];
	char *data = NULL;
	size_t len = 0;
	int rc = parse(argc, argv, &a, create ? "usage: shelter freshness create --service HOST:PORT "
						  "[--genesis HEX] --handle H --provider DIR [--accept-sim] FILE"
					      : "usage: shelter freshness append --service HOST:PORT "
						  "[--genesis HEX] --handle H --provider DIR [--accept-sim] FILE");

	if (rc != 0)
		return rc == CLI_OK + 100 ? CLI_OK : rc;
	if (optind + 1 != argc)
		return cli_usage("give the FILE holding the state (- for standard input)");
	shelter_err_clear(&err);
	rc = cli_read_file(argv[optind], STATE_MAX, &data, &len, &err);
	if (rc == 0)
		rc = connect_service(&a, &c, &err);
	if (rc == 0 && create)
		rc = fresh_client_create(c, a.handle, (uint8_t *)data, len, tail, &err);
	if (rc == 0 && !create)
		rc = fresh_client_read(c, a.handle, &latest, &err);
	if (rc == 0 && !create)
		rc = fresh_client_append(c, a.handle, latest.height + 1, latest.tail, (uint8_t *)data,
					 len, tail, &err);
	if (rc == 0)
		print_state(create ? "created" : "appended", create ? 0 : latest.height + 1, tail);
	free(latest.state);
	free(data);
	fresh_client_close(c);
	fresh_policy_unload(&a.policy);
	return rc < 0 ? cli_fail(create ? "freshness create" : "freshness append", &err) : CLI_OK;
}

int fresh_cmd_create(int argc, char **argv)
{
	return write_cmd(argc, argv, 1);
}

int fresh_cmd_append(int argc, char **argv)
{
	return write_cmd(argc, argv, 0);
}

int fresh_cmd_read(int argc, char **argv)
{
	struct fresh_args a = { 0 };
	struct fresh_client *c = NULL;
	struct fresh_state st = { 0 };
	struct shelter_err err;
	FILE *f = NULL;
	int rc = parse(argc, argv, &a, "usage: shelter freshness read --service HOST:PORT "
				       "[--genesis HEX] --handle H --provider DIR [--accept-sim] [--out FILE]");

	if (rc != 0)
		return rc == CLI_OK + 100 ? CLI_OK : rc;
	if (optind != argc)
		return cli_usage("unexpected argument '%s'", argv[optind]);
	shelter_err_clear(&err);
	rc = connect_service(&a, &c, &err);
	if (rc == 0)
		rc = fresh_client_read(c, a.handle, &st, &err);
	if (rc == 0) {
		print_state("latest", st.height, st.tail);
		f = a.out != NULL ? fopen(a.out, "wb") : NULL;
		if (a.out != NULL && (f == NULL || fwrite(st.state, 1, st.len, f) != st.len))
			rc = shelter_err_errno(&err, errno, "write '%s'", a.out);
		if (f != NULL && fclose(f) != 0 && rc == 0)
			rc = shelter_err_errno(&err, errno, "write '%s'", a.out);
	}
	free(st.state);
	fresh_client_close(c);
	fresh_policy_unload(&a.policy);
	return rc < 0 ? cli_fail("freshness read", &err) : CLI_OK;
}
