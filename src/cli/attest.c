/* shelter attest: attest a program to a CAS and print what it would receive
 * (docs/api/cas.md §4), for debugging sessions before running them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/measure.h"
#include "shelter/attest.h"
#include "shelter/crypto.h"
#include "shelter/measure.h"
#include "shelter/tee.h"

#define PEM_MAX (64 * 1024)
#define SIG_MAX 4096

static const char attest_help[] =
	"usage: shelter attest --session NAME [--cas URL --cas-cert FILE] [options]\n"
	"                      -- PROGRAM [ARGS...]\n"
	"\n"
	"Measure PROGRAM as `shelter measure` does, start it in the TEE of this platform\n"
	"(not actually running it), attest it to the CAS and print the configuration the\n"
	"CAS releases to it: arguments, environment, files and volumes, secrets included.\n"
	"Use it to check a session before running the program under the shield.\n"
	"\n" CLI_MEASURE_USAGE
	"  --sigstruct FILE    the tenant's signature over the measurement (shelter sign)\n"
	"  --platform DIR      this machine's sim platform (default: shelter platform's)\n"
	"  --host-env NAME     pass this variable of the environment as the host would\n"
	"                      (repeatable; the CAS keeps only what the policy allows)\n"
	"\n"
	"ARGS are passed as the host's arguments; the CAS ignores them unless the policy\n"
	"allows host arguments. Exit codes: 0 attested, 1 refused or failed, 2 usage.\n";

enum { OPT_CAS = 0x200, OPT_CAS_CERT, OPT_SESSION, OPT_SIG, OPT_PLATFORM, OPT_HOST_ENV };

struct aopts {
	struct cli_measure m;
	struct cli_cas cas;
	const char *session, *sigstruct, *platform;
	const char **host_env;
	size_t host_envc;
};

static int identity(struct aopts *o, int argc, char **argv, struct shelter_identity *id,
		    struct shelter_err *err)
{
	uint8_t m[SHELTER_MEASUREMENT_SIZE];
	char *sig = NULL;
	size_t sig_size = 0;
	int rc = cli_measure_run(&o->m, argc, argv, m, NULL, err);

	if (rc == 0 && o->sigstruct != NULL)
		rc = cli_read_file(o->sigstruct, SIG_MAX, &sig, &sig_size, err);
	if (rc == 0)
		rc = shelter_measure_identity(m, (const uint8_t *)sig, sig_size, id, err);
	free(sig);
	return rc;
}

static void print_config(const struct shelter_config *c)
{
	puts(shelter_config_json(c));
}

static int run(struct aopts *o, int argc, char **argv)
{
	struct shelter_tee_opts to = { .backend = "sim", .platform_dir = o->platform };
	struct shelter_attester_opts ao = { .cas_url = o->cas.url };
	struct shelter_attester *a = NULL;
	struct shelter_config *cfg = NULL;
	struct shelter_tee *tee = NULL;
	struct shelter_identity id;
	struct shelter_err err;
	char *pem = NULL, **env = NULL;
	size_t pem_size = 0;
	int rc;

	shelter_err_clear(&err);
	rc = identity(o, argc, argv, &id, &err);
	to.launch = &id;
	if (rc == 0)
		rc = shelter_tee_open(&to, &tee, &err);
	if (rc == 0)
		rc = cli_read_file(o->cas.cert_file, PEM_MAX, &pem, &pem_size, &err);
	if (rc < 0)
		goto out;
	ao.cas_cert_pem = pem;
	ao.cas_cert_pem_size = pem_size;
	ao.tee = tee;
	rc = shelter_attester_new(&ao, &a, &err);
	env = calloc(o->host_envc + 1, sizeof(*env));
	for (size_t i = 0; rc == 0 && env != NULL && i < o->host_envc; i++) {
		const char *v = getenv(o->host_env[i]);

		if (v != NULL && asprintf(&env[i], "%s=%s", o->host_env[i], v) < 0)
			env[i] = NULL;
	}
	if (rc == 0) {
		size_t n = 0;

		for (size_t i = 0; env != NULL && i < o->host_envc; i++)
			if (env[i] != NULL)
				env[n++] = env[i];
		rc = shelter_attester_fetch(a, o->session, (const char *const *)argv, (size_t)argc,
					    (const char *const *)env, n, &cfg, &err);
	}
	if (rc == 0)
		print_config(cfg);
out:
	for (size_t i = 0; env != NULL && i < o->host_envc; i++)
		free(env[i]);
	free(env);
	free(pem);
	shelter_config_free(cfg);
	shelter_attester_free(a);
	shelter_tee_close(tee);
	return rc < 0 ? cli_fail("attest", &err) : CLI_OK;
}

int cmd_attest(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_MEASURE_LONGOPTS,
		{ "cas", required_argument, NULL, OPT_CAS },
		{ "cas-cert", required_argument, NULL, OPT_CAS_CERT },
		{ "session", required_argument, NULL, OPT_SESSION },
		{ "sigstruct", required_argument, NULL, OPT_SIG },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "host-env", required_argument, NULL, OPT_HOST_ENV },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct aopts o;
	int c, rc;

	memset(&o, 0, sizeof(o));
	if (cli_measure_init(&o.m, argc) < 0 ||
	    (o.host_env = calloc((size_t)argc, sizeof(*o.host_env))) == NULL) {
		cli_measure_free(&o.m);
		return fprintf(stderr, "shelter: attest: out of memory\n"), CLI_FAIL;
	}
	optind = 1;
	rc = CLI_OK;
	while (rc == CLI_OK && (c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (cli_measure_option(&o.m, c, optarg))
			continue;
		switch (c) {
		case OPT_CAS: o.cas.url = optarg; break;
		case OPT_CAS_CERT: o.cas.cert_file = optarg; break;
		case OPT_SESSION: o.session = optarg; break;
		case OPT_SIG: o.sigstruct = optarg; break;
		case OPT_PLATFORM: o.platform = optarg; break;
		case OPT_HOST_ENV: o.host_env[o.host_envc++] = optarg; break;
		case 'h': fputs(attest_help, stdout); rc = -1; break;
		default: rc = cli_usage("see 'shelter attest --help'");
		}
	}
	if (rc == CLI_OK && (o.session == NULL || optind >= argc))
		rc = cli_usage("attest needs --session NAME and -- PROGRAM [ARGS...]");
	if (rc == CLI_OK)
		rc = cli_cas_defaults(&o.cas);
	if (rc == CLI_OK)
		rc = run(&o, argc - optind, argv + optind);
	cli_measure_free(&o.m);
	free(o.host_env);
	return rc < 0 ? CLI_OK : rc;
}
