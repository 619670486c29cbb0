/* shelter sign: tenant signing keys and sigstructs (docs/formats/measurement.md §5-§6). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/measure.h"
#include "tee/pki.h"
#include "shelter/crypto.h"
#include "shelter/measure.h"

#define SIGFILE_MAX 4096

static const char sign_help[] =
	"usage: shelter sign keygen KEYFILE\n"
	"       shelter sign [--debug] --key KEYFILE --product NAME --version N --out SIGFILE\n"
	"                    (--measurement HEX | [measure options] -- PROGRAM [ARGS...])\n"
	"       shelter sign show SIGFILE\n"
	"\n"
	"keygen creates a tenant signing key (32-byte Ed25519 private key, mode 0600; it\n"
	"refuses to overwrite) and prints the signer id: the SHA-256 of its public key,\n"
	"which policies name. The second form signs a measurement, given in hex or\n"
	"computed as `shelter measure` does, into a sigstruct: product NAME is 1-63\n"
	"characters of A-Z a-z 0-9 . _ -, N the security version (0-4294967295), and\n"
	"--debug allows a debuggable launch. show prints a sigstruct's fields and checks\n"
	"its signature.\n"
	"\nmeasure options:\n" CLI_MEASURE_USAGE CLI_MEASURE_FRESH_USAGE
	"\nExit codes: 0 success, 1 failure (or a signature that does not verify), 2 usage "
	"error.\n";

static int do_keygen(int argc, char **argv)
{
	uint8_t pub[SHELTER_ED25519_PUB_SIZE], signer[32];
	uint8_t *priv = shelter_secret_alloc(SHELTER_ED25519_PRIV_SIZE);
	struct shelter_err err;
	char hex[65];
	int rc;

	shelter_err_clear(&err);
	if (argc != 2 || argv[1][0] == '-') {
		shelter_secret_free(priv, SHELTER_ED25519_PRIV_SIZE);
		return cli_usage("usage: shelter sign keygen KEYFILE");
	}
	if (priv == NULL) {
		fprintf(stderr, "shelter: sign keygen: out of memory\n");
		return CLI_FAIL;
	}
	/* §5: the key file is the raw 32-byte RFC 8032 private key, created 0600 and
	 * never overwritten (losing a signing key cannot be undone) */
	rc = shelter_ed25519_keygen(pub, priv, &err);
	if (rc == 0)
		rc = pki_write_new(argv[1], 0600, priv, SHELTER_ED25519_PRIV_SIZE, &err);
	shelter_secret_free(priv, SHELTER_ED25519_PRIV_SIZE);
	if (rc == 0)
		rc = shelter_sha256(pub, sizeof(pub), signer, &err);
	if (rc < 0)
		return cli_fail("sign keygen", &err);
	shelter_hex(signer, sizeof(signer), hex);
	fprintf(stderr, "shelter: created tenant signing key '%s' (keep it secret; policies "
			"name its signer id, printed below)\n", argv[1]);
	printf("%s\n", hex);
	return CLI_OK;
}

static int read_small(const char *path, uint8_t *buf, size_t cap, size_t *size,
		      struct shelter_err *err)
{
	FILE *f = fopen(path, "rbe");
	size_t n;

	*size = 0;
	if (f == NULL)
		return shelter_err_errno(err, errno, "open '%s'", path);
	n = fread(buf, 1, cap, f);
	if (ferror(f)) {
		fclose(f);
		return shelter_err_errno(err, EIO, "read '%s'", path);
	}
	fclose(f);
	if (n == cap)
		return shelter_err_set(err, SHELTER_E_INVAL, "'%s' is larger than %zu bytes: not "
				       "a sigstruct", path, cap - 1);
	*size = n;
	return 0;
}

static int do_show(int argc, char **argv)
{
	uint8_t buf[SIGFILE_MAX];
	struct shelter_sigstruct s;
	struct shelter_err err;
	char hex[65], when[64];
	struct tm tm;
	time_t t;
	size_t size;
	int rc;

	if (argc != 2 || argv[1][0] == '-')
		return cli_usage("usage: shelter sign show SIGFILE");
	shelter_err_clear(&err);
	rc = read_small(argv[1], buf, sizeof(buf), &size, &err);
	if (rc == 0)
		rc = shelter_sigstruct_parse_verify(buf, size, &s, &err);
	if (rc < 0) {
		if (rc == SHELTER_E_UNTRUSTED)
			printf("signature: INVALID\n");
		return cli_fail(argv[1], &err);
	}
	shelter_hex(s.measurement, sizeof(s.measurement), hex);
	printf("measurement: %s\n", hex);
	printf("product:     %s\n", s.product);
	printf("version:     %" PRIu32 "\n", s.version);
	printf("debug:       %s\n", (s.flags & SHELTER_SIGSTRUCT_DEBUG) ? "yes" : "no");
	t = (time_t)s.created;
	if (s.created <= (uint64_t)INT64_MAX && gmtime_r(&t, &tm) != NULL &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		printf("created:     %s (%" PRIu64 ")\n", when, s.created);
	else
		printf("created:     %" PRIu64 "\n", s.created);
	shelter_hex(s.signer, sizeof(s.signer), hex);
	printf("signer:      %s\n", hex);
	shelter_hex(s.public_key, sizeof(s.public_key), hex);
	printf("public key:  %s\n", hex);
	printf("signature:   valid\n");
	return CLI_OK;
}

struct sopts {
	const char *key, *product, *version, *out, *measurement;
	int debug;
};

/* measurement.md §6.1; checked here too so that a bad name is a usage error */
static int product_ok(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n >= SHELTER_PRODUCT_MAX)
		return 0;
	return strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int parse_version(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int sign_write(const struct sopts *o, const struct shelter_sigstruct *f)
{
	uint8_t sig[SHELTER_SIGSTRUCT_SIZE], *key = NULL;
	struct shelter_sigstruct check;
	struct shelter_err err;
	char hex[65], shex[65], *tmp = NULL;
	int rc;

	shelter_err_clear(&err);
	rc = cli_key_load(o->key, 0, &key, &err);
	if (rc == 0) {
		rc = shelter_sigstruct_sign(key, f, sig, &err);
		cli_key_free(key);
	}
	/* read back what we wrote, as a verifier will */
	if (rc == 0)
		rc = shelter_sigstruct_parse_verify(sig, sizeof(sig), &check, &err);
	if (rc < 0)
		return cli_fail("sign", &err);
	/* a sigstruct is public: replace any earlier one, atomically */
	if (asprintf(&tmp, "%s.tmp-%ld", o->out, (long)getpid()) < 0) {
		fprintf(stderr, "shelter: sign: out of memory\n");
		return CLI_FAIL;
	}
	rc = pki_write_new(tmp, 0644, sig, sizeof(sig), &err);
	if (rc == 0 && rename(tmp, o->out) < 0) {
		rc = shelter_err_errno(&err, errno, "rename '%s' to '%s'", tmp, o->out);
		unlink(tmp);
	}
	free(tmp);
	if (rc < 0)
		return cli_fail("sign", &err);
	shelter_hex(f->measurement, 32, hex);
	shelter_hex(check.signer, 32, shex);
	printf("signed %s version %" PRIu32 "%s for measurement %s by signer %s\n", f->product,
	       f->version, (f->flags & SHELTER_SIGSTRUCT_DEBUG) ? " (debug)" : "", hex, shex);
	return CLI_OK;
}

static int do_sign(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_MEASURE_LONGOPTS,
		CLI_MEASURE_FRESH_LONGOPTS,
		{ "key", required_argument, NULL, 'k' },
		{ "product", required_argument, NULL, 'p' },
		{ "version", required_argument, NULL, 'V' },
		{ "out", required_argument, NULL, 'o' },
		{ "measurement", required_argument, NULL, 'm' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct shelter_sigstruct f;
	struct shelter_err err;
	struct cli_measure m;
	struct sopts o;
	int c, rc = CLI_OK;

	memset(&o, 0, sizeof(o));
	memset(&f, 0, sizeof(f));
	if (cli_measure_init(&m, argc) < 0) {
		fprintf(stderr, "shelter: sign: out of memory\n");
		return CLI_FAIL;
	}
	optind = 1;
	while (rc == CLI_OK && (c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (cli_measure_option(&m, c, optarg))
			continue;
		switch (c) {
		case 'k':
			o.key = optarg;
			break;
		case 'p':
			o.product = optarg;
			break;
		case 'V':
			o.version = optarg;
			break;
		case 'o':
			o.out = optarg;
			break;
		case 'm':
			o.measurement = optarg;
			break;
		case 'd':
			o.debug = 1;
			break;
		case 'h':
			fputs(sign_help, stdout);
			cli_measure_free(&m);
			return CLI_OK;
		default:
			rc = cli_usage("usage: shelter sign --key KEYFILE --product NAME --version "
				       "N --out SIGFILE ... (see --help)");
		}
	}
	if (rc == CLI_OK && (o.key == NULL || o.product == NULL || o.version == NULL ||
			     o.out == NULL))
		rc = cli_usage("sign: --key, --product, --version and --out are required");
	if (rc == CLI_OK && o.measurement != NULL && (optind < argc || m.any || m.any_fresh))
		rc = cli_usage("sign: give either --measurement HEX or a program to measure, "
			       "not both");
	if (rc == CLI_OK && o.measurement == NULL && optind >= argc)
		rc = cli_usage("sign: give --measurement HEX or -- PROGRAM [ARGS...]");
	if (rc == CLI_OK && parse_version(o.version, &f.version) < 0)
		rc = cli_usage("sign: --version takes a number from 0 to 4294967295");
	if (rc == CLI_OK && !product_ok(o.product))
		rc = cli_usage("sign: --product is 1-63 characters of A-Z a-z 0-9 . _ -");
	if (rc == CLI_OK && o.measurement != NULL &&
	    (strlen(o.measurement) != 64 ||
	     shelter_unhex(o.measurement, f.measurement, sizeof(f.measurement)) < 0))
		rc = cli_usage("sign: --measurement takes 64 hex characters");
	if (rc != CLI_OK)
		goto out;
	strcpy(f.product, o.product);
	f.flags = o.debug ? SHELTER_SIGSTRUCT_DEBUG : 0;
	f.created = (uint64_t)time(NULL);
	if (o.measurement == NULL) {
		shelter_err_clear(&err);
		if (cli_measure_run(&m, argc - optind, argv + optind, f.measurement, NULL,
				    &err) < 0) {
			rc = cli_fail("sign", &err);
			goto out;
		}
	}
	rc = sign_write(&o, &f);
out:
	cli_measure_free(&m);
	return rc;
}

int cmd_sign(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return do_keygen(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return do_show(argc - 1, argv + 1);
	if (argc < 2)
		return cli_usage("usage: shelter sign keygen KEYFILE | show SIGFILE | --key ... "
				 "(see --help)");
	return do_sign(argc, argv);
}
