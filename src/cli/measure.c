/* shelter measure: print the measurement of a program (docs/formats/measurement.md). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/measure.h"
#include "freshness/client.h"
#include "shelter/crypto.h"
#include "shelter/measure.h"

static const char measure_help[] =
	"usage: shelter measure [options] [--verbose] [--json] -- PROGRAM [ARGS...]\n"
	"\n"
	"Print the measurement of PROGRAM launched with ARGS: one SHA-256 digest over the\n"
	"executable, its ELF interpreter, the shared libraries the dynamic loader resolves\n"
	"for it (run in list mode with an empty environment; the program is not run), the\n"
	"shield library and the launch manifest below.\n"
	"\n" CLI_MEASURE_USAGE CLI_MEASURE_FRESH_USAGE
	"  --verbose           also print each component: kind, name, file, SHA-256\n"
	"  --json              print a JSON object instead\n"
	"\n"
	"Exit codes: 0 success, 1 failure, 2 usage error.\n";

int cli_measure_init(struct cli_measure *m, int argc)
{
	size_t n = argc > 0 ? (size_t)argc : 1;

	memset(m, 0, sizeof(*m));
	m->env_names = calloc(n, sizeof(*m->env_names));
	m->env_fixed = calloc(n, sizeof(*m->env_fixed));
	m->volumes = calloc(n, sizeof(*m->volumes));
	m->fresh_measurements = calloc(n, sizeof(*m->fresh_measurements));
	if (m->env_names == NULL || m->env_fixed == NULL || m->volumes == NULL ||
	    m->fresh_measurements == NULL) {
		cli_measure_free(m);
		return -1;
	}
	return 0;
}

void cli_measure_free(struct cli_measure *m)
{
	free(m->env_names);
	free(m->env_fixed);
	free(m->volumes);
	free(m->fresh_measurements);
	free(m->program);
	memset(m, 0, sizeof(*m));
}

int cli_measure_option(struct cli_measure *m, int c, const char *arg)
{
	switch (c) {
	case CLI_MOPT_SHIELD:
		m->shield = arg;
		break;
	case CLI_MOPT_ENV_ALLOW:
		m->env_names[m->env_names_count++] = arg;
		break;
	case CLI_MOPT_ENV:
		m->env_fixed[m->env_fixed_count++] = arg;
		break;
	case CLI_MOPT_VOLUME:
		m->volumes[m->volume_count++] = arg;
		break;
	case CLI_MOPT_FRESH_GENESIS:
		m->fresh_genesis = arg;
		break;
	case CLI_MOPT_FRESH_PROVIDER:
		m->fresh_provider = arg;
		break;
	case CLI_MOPT_FRESH_MEASUREMENT:
		m->fresh_measurements[m->fresh_measurement_count++] = arg;
		break;
	case CLI_MOPT_FRESH_ACCEPT_SIM:
		m->fresh_accept_sim = 1;
		break;
	default:
		return 0;
	}
	if (c >= CLI_MOPT_FRESH_GENESIS)
		m->any_fresh = 1;
	else
		m->any = 1;
	return 1;
}

static int hex32(const char *s, uint8_t out[32])
{
	return strlen(s) == 64 && shelter_unhex(s, out, 32) == 0 ? 0 : -1;
}

int cli_measure_binding(const struct cli_measure *m, struct shelter_measure_freshness *out,
			int *bound, struct shelter_err *err)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	*bound = 0;
	if (!m->any_fresh)
		return 0;
	if (m->fresh_genesis == NULL || m->fresh_provider == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "a freshness binding needs "
				       "--freshness-genesis HEX and --freshness-provider DIR");
	if (hex32(m->fresh_genesis, out->genesis) != 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "--freshness-genesis: want 64 hex "
				       "digits");
	if (m->fresh_measurement_count > SHELTER_MEASURE_FRESH_ENDORSERS_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "--freshness-endorser-measurement: "
				       "at most %d", SHELTER_MEASURE_FRESH_ENDORSERS_MAX);
	for (size_t i = 0; i < m->fresh_measurement_count; i++)
		if (hex32(m->fresh_measurements[i], out->endorsers[i]) != 0)
			return shelter_err_set(err, SHELTER_E_INVAL, "--freshness-endorser-"
					       "measurement '%s': want 64 hex digits",
					       m->fresh_measurements[i]);
	out->endorser_count = m->fresh_measurement_count;
	/* the endorsers run this release by default, as `shelter freshness` assumes */
	if (out->endorser_count == 0) {
		rc = fresh_endorser_measurement(out->endorsers[0], err);
		out->endorser_count = 1;
	}
	if (rc == 0)
		rc = shelter_measure_freshness_provider(m->fresh_provider, out->provider, err);
	out->flags = m->fresh_accept_sim ? SHELTER_MEASURE_FRESH_ACCEPT_SIM : 0;
	if (rc < 0)
		return shelter_err_wrap(err, rc, "freshness binding");
	*bound = 1;
	return 0;
}

int cli_find_program(const char *name, char **out, struct shelter_err *err)
{
	const char *path = getenv("PATH"), *p;
	struct stat st;

	*out = NULL;
	if (strchr(name, '/') != NULL) {
		*out = strdup(name);
		return *out != NULL ? 0 : shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	}
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p++) {
		size_t n = strcspn(p, ":");
		char *cand;

		if (asprintf(&cand, "%.*s/%s", (int)(n ? n : 1), n ? p : ".", name) < 0)
			return shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
			*out = cand;
			return 0;
		}
		free(cand);
		p += n;
		if (*p == '\0')
			break;
	}
	return shelter_err_set(err, SHELTER_E_NOENT, "program '%s' not found in PATH", name);
}

int cli_measure_run(struct cli_measure *m, int argc, char **argv,
		    uint8_t out[SHELTER_MEASUREMENT_SIZE], struct shelter_measure_report **report,
		    struct shelter_err *err)
{
	struct shelter_measure_freshness fresh;
	struct shelter_measure_opts o;
	int bound = 0, rc = cli_measure_binding(m, &fresh, &bound, err);

	if (rc == 0)
		rc = cli_find_program(argv[0], &m->program, err);
	if (rc < 0)
		return rc;
	memset(&o, 0, sizeof(o));
	o.program = m->program;
	o.argv = (const char *const *)argv;
	o.argc = (size_t)argc;
	o.env_names = m->env_names;
	o.env_names_count = m->env_names_count;
	o.env_fixed = m->env_fixed;
	o.env_fixed_count = m->env_fixed_count;
	o.volumes = m->volumes;
	o.volume_count = m->volume_count;
	o.shield = m->shield;
	o.freshness = bound ? &fresh : NULL;
	return shelter_measure(&o, out, report, err);
}

/* Text output: one component per line, tab-separated; bytes that would break the
 * line format (controls, tab, backslash, non-ASCII) are written as \xNN. */
static void put_escaped(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p >= 0x7f || *p == '\\')
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
}

static void print_text(const uint8_t digest[32], const struct shelter_measure_report *r)
{
	char hex[65];

	shelter_hex(digest, 32, hex);
	printf("%s\n", hex);
	for (size_t i = 0; i < shelter_measure_report_count(r); i++) {
		struct shelter_measure_component c;

		if (shelter_measure_report_get(r, i, &c) != 0)
			continue;
		printf("%s\t", shelter_measure_kind_str(c.kind));
		put_escaped(c.name);
		putchar('\t');
		if (c.path != NULL)
			put_escaped(c.path);
		else
			putchar('-');
		if (c.digest != NULL) {
			shelter_hex(c.digest, 32, hex);
			printf("\t%s\n", hex);
		} else {
			printf("\t-\n");
		}
	}
}

/* JSON strings must be UTF-8; anything else is given escaped as in text output. */
static json_t *jstr(const char *s)
{
	json_t *j;
	char *esc, *w;

	if (s == NULL)
		return json_null();
	j = json_string(s);
	if (j != NULL)
		return j;
	esc = malloc(4 * strlen(s) + 1);
	if (esc == NULL)
		return NULL;
	w = esc;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		w += (*p >= 0x80 || *p == '\\') ? sprintf(w, "\\x%02x", *p) : sprintf(w, "%c", *p);
	j = json_string(esc);
	free(esc);
	return j;
}

static int print_json(const uint8_t digest[32], const struct shelter_measure_report *r,
		      const char *program)
{
	json_t *root = json_object(), *comps = json_array();
	char hex[65];
	int rc = -1;

	if (root == NULL || comps == NULL)
		goto out;
	shelter_hex(digest, 32, hex);
	if (json_object_set_new(root, "measurement", json_string(hex)) < 0 ||
	    json_object_set_new(root, "program", jstr(program)) < 0)
		goto out;
	for (size_t i = 0; i < shelter_measure_report_count(r); i++) {
		struct shelter_measure_component c;
		json_t *o;

		if (shelter_measure_report_get(r, i, &c) != 0)
			goto out;
		o = json_object();
		if (c.digest != NULL)
			shelter_hex(c.digest, 32, hex);
		if (o == NULL || json_array_append_new(comps, o) < 0 ||
		    json_object_set_new(o, "kind", json_string(shelter_measure_kind_str(c.kind))) < 0 ||
		    json_object_set_new(o, "name", jstr(c.name)) < 0 ||
		    json_object_set_new(o, "path", jstr(c.path)) < 0 ||
		    json_object_set_new(o, "digest", c.digest ? json_string(hex) : json_null()) < 0)
			goto out;
	}
	if (json_object_set(root, "components", comps) < 0 ||
	    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
		goto out;
	putchar('\n');
	rc = 0;
out:
	json_decref(comps);
	json_decref(root);
	return rc;
}

int cmd_measure(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_MEASURE_LONGOPTS,
		CLI_MEASURE_FRESH_LONGOPTS,
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct shelter_measure_report *report = NULL;
	struct shelter_err err;
	struct cli_measure m;
	uint8_t digest[32];
	int c, verbose = 0, json = 0, rc;

	if (cli_measure_init(&m, argc) < 0) {
		fprintf(stderr, "shelter: measure: out of memory\n");
		return CLI_FAIL;
	}
	optind = 1;
	/* '+': stop at PROGRAM, so its own options are not taken for ours */
	while ((c = getopt_long(argc, argv, "+vjh", longopts, NULL)) != -1) {
		if (cli_measure_option(&m, c, optarg))
			continue;
		switch (c) {
		case 'v':
			verbose = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(measure_help, stdout);
			cli_measure_free(&m);
			return CLI_OK;
		default:
			cli_measure_free(&m);
			return cli_usage("usage: shelter measure [options] -- PROGRAM [ARGS...] "
					 "(see --help)");
		}
	}
	if (optind >= argc) {
		cli_measure_free(&m);
		return cli_usage("usage: shelter measure [options] -- PROGRAM [ARGS...] "
				 "(PROGRAM is missing)");
	}
	shelter_err_clear(&err);
	rc = cli_measure_run(&m, argc - optind, argv + optind, digest,
			     verbose || json ? &report : NULL, &err);
	if (rc < 0) {
		rc = cli_fail("measure", &err);
	} else if (json) {
		rc = print_json(digest, report, m.program) < 0 ? CLI_FAIL : CLI_OK;
		if (rc != CLI_OK)
			fprintf(stderr, "shelter: measure: cannot write JSON\n");
	} else {
		print_text(digest, report);
		rc = CLI_OK;
	}
	shelter_measure_report_free(report);
	cli_measure_free(&m);
	return rc;
}
