/* shelter platform: this machine's attestation identity (docs/formats/quote.md
 * §5.4): create the attestation key and an enrolment request, install the
 * certificate a provider issued, show what the platform directory holds. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "shelter/crypto.h"
#include "shelter/provider.h"

#define CERT_FILE_MAX (1u << 20)

static const char platform_help[] =
	"usage: shelter platform <verb> [--dir DIR] ...\n"
	"\n"
	"  init --name NAME        create this machine's attestation key, sealing secret\n"
	"                          and an enrolment request (DIR/platform.csr)\n"
	"  install-cert CERT.pem   install the certificate a provider issued for it\n"
	"  show                    print name, key id, enrolment and provider\n"
	"\n"
	"DIR defaults to $SHELTER_PLATFORM_DIR, else /var/lib/shelter/platform for root,\n"
	"else $XDG_DATA_HOME/shelter/platform (~/.local/share/shelter/platform).\n"
	"Names are 1-63 characters from A-Z a-z 0-9 . _ -\n"
	"Exit codes: 0 success, 1 failure, 2 usage error.\n";

struct popts {
	const char *dir, *name;
	char *args[2];
	int nargs;
};

static int parse(int argc, char **argv, struct popts *o)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->dir = optarg;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'h':
			fputs(platform_help, stdout);
			return 1;
		default:
			return -1;
		}
	}
	for (; optind < argc; optind++) {
		if (o->nargs == 2)
			return -1;
		o->args[o->nargs++] = argv[optind];
	}
	return 0;
}

static void format_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "?");
}

static int do_init(const char *dir, const char *name)
{
	struct shelter_platform_info info;
	struct shelter_err err;
	char *csr = NULL, key[65];

	shelter_err_clear(&err);
	if (shelter_platform_init(dir, name, &csr, &err) < 0)
		return cli_fail("platform init", &err);
	free(csr);
	if (shelter_platform_info(dir, &info, &err) < 0)
		return cli_fail("platform init", &err);
	shelter_hex(info.key_id, sizeof(info.key_id), key);
	printf("platform '%s' created in %s\n", info.name, dir);
	printf("key id: %s\n", key);
	printf("enrolment request written to %s/platform.csr\n", dir);
	printf("next: the provider runs `shelter provider enroll PROVIDER_DIR %s/platform.csr "
	       "--out CERT.pem`, then `shelter platform install-cert CERT.pem` here\n", dir);
	return CLI_OK;
}

static int do_install(const char *dir, const char *cert_file)
{
	struct shelter_platform_info info;
	struct shelter_err err;
	char *pem = NULL, until[32];
	size_t size = 0;
	int rc;

	shelter_err_clear(&err);
	rc = cli_read_file(cert_file, CERT_FILE_MAX, &pem, &size, &err);
	if (rc == 0)
		rc = shelter_platform_install_cert(dir, pem, size, &err);
	free(pem);
	if (rc == 0)
		rc = shelter_platform_info(dir, &info, &err);
	if (rc < 0)
		return cli_fail("platform install-cert", &err);
	format_time(info.not_after, until);
	printf("installed the certificate of platform '%s' (provider '%s', serial %s, valid "
	       "until %s)\n", info.name, info.provider, info.serial, until);
	if (info.not_after < (int64_t)time(NULL))
		fprintf(stderr, "shelter: warning: this certificate has expired: quotes will be "
				"refused\n");
	return CLI_OK;
}

static int do_show(const char *dir)
{
	struct shelter_platform_info info;
	struct shelter_err err;
	char key[65], from[32], until[32];

	shelter_err_clear(&err);
	if (shelter_platform_info(dir, &info, &err) < 0)
		return cli_fail("platform show", &err);
	shelter_hex(info.key_id, sizeof(info.key_id), key);
	printf("directory: %s\n", dir);
	printf("name:      %s\n", info.name);
	printf("key id:    %s\n", key);
	if (!info.enrolled) {
		printf("enrolled:  no (install a certificate with `shelter platform "
		       "install-cert`)\n");
		return CLI_OK;
	}
	format_time(info.not_before, from);
	format_time(info.not_after, until);
	printf("enrolled:  yes\n");
	printf("provider:  %s\n", info.provider);
	printf("serial:    %s\n", info.serial);
	printf("valid:     %s to %s%s\n", from, until,
	       info.not_after < (int64_t)time(NULL) ? " (expired)" : "");
	return CLI_OK;
}

int cmd_platform(int argc, char **argv)
{
	struct shelter_err err;
	struct popts o;
	char dir[4096];
	const char *verb;
	int rc;

	if (argc < 2)
		return fputs(platform_help, stderr), CLI_USAGE;
	verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0)
		return fputs(platform_help, stdout), CLI_OK;
	rc = parse(argc - 1, argv + 1, &o);
	if (rc > 0)
		return CLI_OK;
	if (rc < 0)
		return cli_usage("usage: shelter platform %s ... (see --help)", verb);
	shelter_err_clear(&err);
	if (o.dir == NULL) {
		if (shelter_platform_default_dir(dir, sizeof(dir), &err) < 0)
			return cli_fail("platform", &err);
		o.dir = dir;
	}
	if (strcmp(verb, "init") == 0) {
		if (o.nargs != 0 || o.name == NULL)
			return cli_usage("usage: shelter platform init [--dir DIR] --name NAME");
		return do_init(o.dir, o.name);
	}
	if (o.name != NULL)
		return cli_usage("--name applies to init only");
	if (strcmp(verb, "install-cert") == 0) {
		if (o.nargs != 1)
			return cli_usage("usage: shelter platform install-cert [--dir DIR] "
					 "CERT.pem");
		return do_install(o.dir, o.args[0]);
	}
	if (strcmp(verb, "show") == 0) {
		if (o.nargs != 0)
			return cli_usage("usage: shelter platform show [--dir DIR]");
		return do_show(o.dir);
	}
	return cli_usage("unknown verb '%s' (init, install-cert, show)", verb);
}
