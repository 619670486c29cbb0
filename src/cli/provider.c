/* shelter provider: a provider's CA, its platforms and their inventory
 * (docs/formats/quote.md §5, §7). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "shelter/crypto.h"
#include "shelter/provider.h"

#define REQ_FILE_MAX (1u << 20)
#define DAYS_MAX 36500

static const char provider_help[] =
	"usage: shelter provider <verb> DIR ...\n"
	"\n"
	"  init DIR --name NAME                 create a provider CA in DIR\n"
	"  enroll DIR REQ.csr [--out CERT.pem] [--days N]\n"
	"                                       issue a platform certificate for a request\n"
	"                                       (to standard output without --out;\n"
	"                                       N defaults to 825 days)\n"
	"  revoke DIR PLATFORM [--reason TEXT]  revoke a platform by name, serial or key id\n"
	"                                       and issue a new DIR/crl.pem\n"
	"  list DIR                             the platforms enrolled, with their status\n"
	"  verify DIR                           check the inventory chain and crl.pem\n"
	"  publish DIR [--cas URL --cas-cert F] give DIR/crl.pem to a CAS (docs/api/cas.md §6)\n"
	"\n"
	"Verifiers trust a provider through DIR/ca.crt and DIR/crl.pem. Every enrolment\n"
	"and revocation is recorded in DIR/inventory.log before it takes effect.\n"
	"Exit codes: 0 success, 1 failure or problems found, 2 usage error.\n";

struct vopts {
	const char *name, *out, *reason;
	struct cli_cas cas;
	unsigned days;
	int days_bad;
	char *args[3];
	int nargs;
};

static int parse(int argc, char **argv, struct vopts *o)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "out", required_argument, NULL, 'o' },
		{ "days", required_argument, NULL, 'D' },
		{ "reason", required_argument, NULL, 'r' },
		{ "cas", required_argument, NULL, 'c' },
		{ "cas-cert", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	unsigned long v;
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:o:D:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->name = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'D':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] < '1' || optarg[0] > '9' ||
			    v > DAYS_MAX)
				o->days_bad = 1;
			else
				o->days = (unsigned)v;
			break;
		case 'r':
			o->reason = optarg;
			break;
		case 'c':
			o->cas.url = optarg;
			break;
		case 'C':
			o->cas.cert_file = optarg;
			break;
		case 'h':
			fputs(provider_help, stdout);
			return 1;
		default:
			return -1;
		}
	}
	for (; optind < argc; optind++) {
		if (o->nargs == 3)
			return -1;
		o->args[o->nargs++] = argv[optind];
	}
	return 0;
}

static int write_output(const char *path, const char *text, struct shelter_err *err)
{
	size_t size = strlen(text), done = 0;
	int rc = 0, fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return shelter_err_errno(err, errno, "create '%s'", path);
	while (done < size && rc == 0) {
		ssize_t n = write(fd, text + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = shelter_err_errno(err, n < 0 ? errno : EIO, "write '%s'", path);
		else
			done += (size_t)n;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = shelter_err_errno(err, errno, "fsync '%s'", path);
	close(fd);
	return rc;
}

static int do_enroll(const struct vopts *o)
{
	struct shelter_provider_platform *list = NULL;
	struct shelter_err err;
	char *csr = NULL, *cert = NULL;
	size_t size = 0, count = 0;
	int rc;

	shelter_err_clear(&err);
	rc = cli_read_file(o->args[1], REQ_FILE_MAX, &csr, &size, &err);
	if (rc == 0)
		rc = shelter_provider_enroll(o->args[0], csr, size, o->days, &cert, &err);
	free(csr);
	if (rc < 0)
		return cli_fail("provider enroll", &err);
	/* The certificate is on record already (quote.md §7.2); deliver it. */
	if (o->out != NULL)
		rc = write_output(o->out, cert, &err);
	else if (fputs(cert, stdout) < 0 || fflush(stdout) != 0)
		rc = shelter_err_set(&err, SHELTER_E_IO, "write the certificate to standard output");
	free(cert);
	if (rc < 0)
		return cli_fail("provider enroll", &err);
	if (shelter_provider_list(o->args[0], &list, &count, &err) == 0 && count > 0)
		fprintf(stderr, "enrolled platform '%s' (serial %s)%s%s\n", list[count - 1].name,
			list[count - 1].serial, o->out ? ": certificate written to " : "",
			o->out ? o->out : "");
	free(list);
	return CLI_OK;
}

static int do_list(const char *dir)
{
	struct shelter_provider_platform *list = NULL;
	struct shelter_err err;
	size_t count = 0;
	int width = 4;

	shelter_err_clear(&err);
	if (shelter_provider_list(dir, &list, &count, &err) < 0)
		return cli_fail("provider list", &err);
	for (size_t i = 0; i < count; i++) {
		int n = (int)strlen(list[i].name);

		width = n > width ? n : width;
	}
	printf("%-*s  %-8s  %-32s  %-64s  %-20s  %-20s  %s\n", width, "NAME", "STATUS", "SERIAL",
	       "KEY ID", "ENROLLED", "REVOKED", "REASON");
	for (size_t i = 0; i < count; i++) {
		const struct shelter_provider_platform *p = &list[i];
		char key[65];

		shelter_hex(p->key_id, sizeof(p->key_id), key);
		printf("%-*s  %-8s  %-32s  %-64s  %-20s  %-20s  %s\n", width, p->name,
		       p->revoked[0] ? "revoked" : "enrolled", p->serial, key, p->enrolled,
		       p->revoked[0] ? p->revoked : "-", p->reason);
	}
	free(list);
	return CLI_OK;
}

/* Upload DIR/crl.pem; any client may, the CAS checks the CA's signature and that
 * the CRL number grows (cas.md §6). */
static int do_publish(struct vopts *o)
{
	struct shelter_err err;
	char path[4096], *pem = NULL;
	size_t size;
	json_t *body = NULL, *ans = NULL;
	int rc;

	if (cli_cas_defaults(&o->cas) != CLI_OK)
		return CLI_USAGE;
	shelter_err_clear(&err);
	snprintf(path, sizeof(path), "%s/crl.pem", o->args[0]);
	rc = cli_read_file(path, REQ_FILE_MAX, &pem, &size, &err);
	if (rc == 0) {
		body = json_pack("{s:s%}", "crl", pem, size);
		rc = cli_cas_call(&o->cas, "PUT", "/v1/crls", body, &ans, &err);
	}
	if (rc == 0)
		printf("CAS holds CRL number %s of provider %s\n",
		       json_string_value(json_object_get(ans, "number")),
		       json_string_value(json_object_get(ans, "provider")));
	free(pem);
	json_decref(body);
	json_decref(ans);
	return rc < 0 ? cli_fail("provider publish", &err) : CLI_OK;
}

int cmd_provider(int argc, char **argv)
{
	struct shelter_err err;
	uint64_t entries = 0;
	struct vopts o;
	const char *verb;
	int rc;

	if (argc < 2)
		return fputs(provider_help, stderr), CLI_USAGE;
	verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0)
		return fputs(provider_help, stdout), CLI_OK;
	rc = parse(argc - 1, argv + 1, &o);
	if (rc > 0)
		return CLI_OK;
	if (rc < 0)
		return cli_usage("usage: shelter provider %s ... (see --help)", verb);
	if (o.days_bad)
		return cli_usage("--days takes a number of days from 1 to %d", DAYS_MAX);
	if ((o.name != NULL) != (strcmp(verb, "init") == 0))
		return cli_usage("--name NAME is required by init and applies to it only");
	if ((o.out != NULL || o.days != 0) && strcmp(verb, "enroll") != 0)
		return cli_usage("--out and --days apply to enroll only");
	if (o.reason != NULL && strcmp(verb, "revoke") != 0)
		return cli_usage("--reason applies to revoke only");
	if ((o.cas.url != NULL || o.cas.cert_file != NULL) && strcmp(verb, "publish") != 0)
		return cli_usage("--cas and --cas-cert apply to publish only");
	shelter_err_clear(&err);
	if (strcmp(verb, "init") == 0) {
		if (o.nargs != 1)
			return cli_usage("usage: shelter provider init DIR --name NAME");
		if (shelter_provider_init(o.args[0], o.name, &err) < 0)
			return cli_fail("provider init", &err);
		printf("provider '%s' created in %s\n", o.name, o.args[0]);
		printf("verifiers trust it through %s/ca.crt and %s/crl.pem\n", o.args[0],
		       o.args[0]);
		return CLI_OK;
	}
	if (strcmp(verb, "enroll") == 0) {
		if (o.nargs != 2)
			return cli_usage("usage: shelter provider enroll DIR REQ.csr [--out CERT.pem] "
					 "[--days N]");
		return do_enroll(&o);
	}
	if (strcmp(verb, "revoke") == 0) {
		if (o.nargs != 2)
			return cli_usage("usage: shelter provider revoke DIR PLATFORM "
					 "[--reason TEXT]");
		if (shelter_provider_revoke(o.args[0], o.args[1], o.reason, &err) < 0)
			return cli_fail("provider revoke", &err);
		printf("revoked '%s'; new CRL in %s/crl.pem (give it to every verifier)\n",
		       o.args[1], o.args[0]);
		return CLI_OK;
	}
	if (strcmp(verb, "list") == 0 || strcmp(verb, "verify") == 0) {
		if (o.nargs != 1)
			return cli_usage("usage: shelter provider %s DIR", verb);
		if (verb[0] == 'l')
			return do_list(o.args[0]);
		if (shelter_provider_verify_inventory(o.args[0], &entries, &err) < 0)
			return cli_fail("provider verify", &err);
		printf("inventory: %llu entries, chain intact; crl.pem matches the revocations\n",
		       (unsigned long long)entries);
		return CLI_OK;
	}
	if (strcmp(verb, "publish") == 0) {
		if (o.nargs != 1)
			return cli_usage("usage: shelter provider publish DIR [--cas URL --cas-cert FILE]");
		return do_publish(&o);
	}
	return cli_usage("unknown verb '%s' (init, enroll, revoke, list, verify, publish)", verb);
}
