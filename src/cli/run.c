/* shelter run: start a program with the shield inside (docs/shield.md §1).
 *
 * The launcher is untrusted by design: it only prepares what the shield checks
 * for itself (the environment contract of src/shield/launch.h), creates the local
 * sim platform on first use, and execs the program, so the exit status is the
 * program's. Everything that decides keys happens in the shield.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/measure.h"
#include "shelter/crypto.h"
#include "shelter/measure.h"
#include "shelter/provider.h"
#include "shield/launch.h"

/* Exit codes of the launcher itself; once the program runs, its own. */
#define RUN_REFUSED 126
#define RUN_NOT_FOUND 127

static const char run_help[] =
	"usage: shelter run [--volume HOSTDIR:PATH]... [--adopt-volumes]\n"
	"                   [--platform DIR] [--state DIR] [--sigstruct FILE]\n"
	"                   [--session NAME [--cas URL] [--cas-cert FILE] [measure options]]\n"
	"                   -- PROGRAM [ARGS...]\n"
	"\n"
	"Start PROGRAM (a dynamically linked ELF executable, searched in PATH) with the\n"
	"shield preloaded. Before PROGRAM's main() runs, the shield measures it, opens its\n"
	"protected volumes and mounts each at PATH: everything PROGRAM stores under PATH\n"
	"is encrypted and authenticated in HOSTDIR. A volume found rolled back, tampered\n"
	"with or sealed to another program is refused and PROGRAM never runs.\n"
	"\n"
	"  --volume HOSTDIR:PATH  a protected volume (repeatable): HOSTDIR on the host, PATH\n"
	"                         (absolute) inside the program; created when HOSTDIR is\n"
	"                         missing or empty\n"
	"  --adopt-volumes        accept a volume that has no recorded tag (or a recorded\n"
	"                         tag but no volume) as it is now, and record it; logged as\n"
	"                         a security event\n"
	"  --platform DIR         the sim platform (default: as `shelter platform`)\n"
	"  --state DIR            sealed volume tags and the local provider (default: DIR\n"
	"                         'state' next to the platform directory)\n"
	"\n"
	"Without --session (embedded mode) volume keys are sealed to the measurement of\n"
	"PROGRAM, its libraries, the shield and the list of volume paths, on this\n"
	"platform; arguments and environment are the operator's and do not change the\n"
	"keys. On first use a local sim platform and provider are created.\n"
	"  --sigstruct FILE       seal the keys to the signer and product of this tenant\n"
	"                         signature over the measurement instead (`shelter sign\n"
	"                         --shield SHIELD --volume PATH... -- PROGRAM`), so that an\n"
	"                         upgrade the tenant signs for the same product keeps them\n"
	"  --freshness HOST:PORT  bind the volumes to a freshness service (docs/shield.md\n"
	"                         §6.6): each sync returns once its endorsers vouch for\n"
	"                         the volume's state, and a volume rolled back with all of\n"
	"                         the host's state is refused; needs the binding, which is\n"
	"                         measured (the address is not):\n"
	CLI_MEASURE_FRESH_USAGE
	"\n"
	"With --session NAME (CAS mode) the shield attests to the CAS and PROGRAM receives\n"
	"the session's arguments, environment, files (under /run/secrets, in memory) and\n"
	"volume keys; tags are kept by the CAS.\n"
	"  --session NAME         the CAS session\n"
	"  --cas URL              the CAS (default: $SHELTER_CAS_URL)\n"
	"  --cas-cert FILE        its pinned certificate (default: $SHELTER_CAS_CERT)\n"
	"  --env-allow NAME       as given to `shelter measure` (repeatable)\n"
	"  --env NAME=VALUE       as given to `shelter measure` (repeatable)\n"
	"  --sigstruct FILE       the tenant's signature over the measurement\n"
	"The session's measurement is `shelter measure --shield SHIELD --volume PATH...\n"
	"[--env-allow/--env ...] -- PROGRAM [ARGS...]` with the same PROGRAM as written.\n"
	"\n"
	"Each volume keeps up to $SHELTER_SHIELD_CACHE_MB MiB (default 64, 0 for none) of\n"
	"decrypted chunks in the program's memory, so re-reads cost a copy.\n"
	"The shield is ../lib/libshelter-shield.so next to this binary, or $SHELTER_SHIELD_LIB.\n"
	"Exit codes: PROGRAM's own once it runs; 126 refused (a program the shield cannot\n"
	"cover, a volume or attestation refused), 127 PROGRAM not found, 2 usage,\n"
	"1 other failures of the launcher.\n";

enum {
	OPT_VOLUME = 0x200,
	OPT_ADOPT,
	OPT_PLATFORM,
	OPT_STATE,
	OPT_CAS,
	OPT_CAS_CERT,
	OPT_SESSION,
	OPT_SIG,
	OPT_FRESHNESS,
};

struct ropts {
	struct cli_measure m; /* --env-allow and --env only */
	struct cli_cas cas;
	const char *session, *sigstruct, *platform, *state;
	const char *freshness; /* the service's address: --freshness HOST:PORT */
	int adopt;
	const char **volumes; /* HOSTDIR:PATH as given */
	size_t nvolumes;
};

static int parse_args(struct ropts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "volume", required_argument, NULL, OPT_VOLUME },
		{ "adopt-volumes", no_argument, NULL, OPT_ADOPT },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "cas", required_argument, NULL, OPT_CAS },
		{ "cas-cert", required_argument, NULL, OPT_CAS_CERT },
		{ "session", required_argument, NULL, OPT_SESSION },
		{ "sigstruct", required_argument, NULL, OPT_SIG },
		{ "env-allow", required_argument, NULL, CLI_MOPT_ENV_ALLOW },
		{ "env", required_argument, NULL, CLI_MOPT_ENV },
		{ "freshness", required_argument, NULL, OPT_FRESHNESS },
		CLI_MEASURE_FRESH_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	/* '+': stop at PROGRAM, so its own options are not taken for ours */
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (cli_measure_option(&o->m, c, optarg))
			continue;
		switch (c) {
		case OPT_VOLUME: o->volumes[o->nvolumes++] = optarg; break;
		case OPT_ADOPT: o->adopt = 1; break;
		case OPT_PLATFORM: o->platform = optarg; break;
		case OPT_STATE: o->state = optarg; break;
		case OPT_CAS: o->cas.url = optarg; break;
		case OPT_CAS_CERT: o->cas.cert_file = optarg; break;
		case OPT_SESSION: o->session = optarg; break;
		case OPT_SIG: o->sigstruct = optarg; break;
		case OPT_FRESHNESS: o->freshness = optarg; break;
		case 'h': fputs(run_help, stdout); return -1;
		default: return cli_usage("see 'shelter run --help'");
		}
	}
	if (optind >= argc)
		return cli_usage("usage: shelter run [options] -- PROGRAM [ARGS...] "
				 "(PROGRAM is missing)");
	if (o->session == NULL && (o->cas.url || o->cas.cert_file || o->m.any))
		return cli_usage("--cas, --cas-cert, --env-allow and --env need --session NAME");
	if ((o->freshness != NULL) != (o->m.any_fresh != 0))
		return cli_usage("--freshness HOST:PORT and --freshness-genesis HEX "
				 "--freshness-provider DIR go together");
	if (o->freshness != NULL && o->session != NULL)
		return cli_usage("--freshness binds embedded-mode volumes; with --session the CAS "
				 "keeps the tags");
	if (o->freshness != NULL && strchr(o->freshness, '\n') != NULL)
		return cli_usage("--freshness: a newline cannot be passed to the shield");
	for (size_t i = 0; i < o->m.env_fixed_count + o->m.env_names_count; i++) {
		const char *e = i < o->m.env_fixed_count ? o->m.env_fixed[i]
							 : o->m.env_names[i - o->m.env_fixed_count];

		if (strchr(e, '\n') != NULL)
			return cli_usage("--env/--env-allow '%s': a newline cannot be passed to the "
					 "shield", e);
	}
	return CLI_OK;
}

/* ---- volumes ---- */

/* dir made absolute without resolving it (it may not exist yet). */
static char *absolute(const char *dir)
{
	char cwd[PATH_MAX], *out = NULL;

	if (dir[0] == '/')
		return strdup(dir);
	if (getcwd(cwd, sizeof(cwd)) == NULL || asprintf(&out, "%s/%s", cwd, dir) < 0)
		return NULL;
	return out;
}

/* One HOSTDIR:PATH into the "PATH=HOSTDIR" line of SHELTER_SHIELD_VOLUMES. */
static int volume_line(const char *spec, char **out)
{
	const char *colon = strchr(spec, ':');
	char host[PATH_MAX], norm[PATH_MAX], *habs;
	struct shelter_err err;
	int n;

	*out = NULL;
	if (colon == NULL || colon == spec || colon[1] == '\0')
		return cli_usage("--volume '%s': use HOSTDIR:PATH", spec);
	if (colon[1] != '/')
		return cli_usage("--volume '%s': the mount path '%s' is not absolute", spec,
				 colon + 1);
	shelter_err_clear(&err);
	if (shelter_measure_normalise_volume(colon + 1, norm, sizeof(norm), &err) < 0)
		return cli_usage("--volume '%s': %s", spec, err.msg);
	if (strcmp(norm, "/") == 0 || strpbrk(norm, "=\n") != NULL)
		return cli_usage("--volume '%s': the mount path may not be '/' nor contain '=' or "
				 "a newline", spec);
	n = snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	if (n < 0 || (size_t)n >= sizeof(host) || strchr(host, '\n') != NULL)
		return cli_usage("--volume '%s': bad host directory", spec);
	habs = absolute(host);
	if (habs == NULL)
		return fprintf(stderr, "shelter: run: %s: %s\n", host, strerror(errno)), CLI_FAIL;
	n = asprintf(out, "%s=%s", norm, habs);
	free(habs);
	if (n < 0)
		return fprintf(stderr, "shelter: run: out of memory\n"), CLI_FAIL;
	return CLI_OK;
}

static int same_mount(const char *a, const char *b)
{
	size_t n = strcspn(a, "=");

	return n == strcspn(b, "=") && memcmp(a, b, n) == 0;
}

/* SHELTER_SHIELD_VOLUMES; duplicate mount paths are a usage error. */
static int volumes_env(const struct ropts *o, char **out)
{
	char **lines = calloc(o->nvolumes + 1, sizeof(*lines)), *all = NULL;
	size_t total = 1;
	int rc = lines != NULL ? CLI_OK : CLI_FAIL;

	for (size_t i = 0; rc == CLI_OK && i < o->nvolumes; i++) {
		rc = volume_line(o->volumes[i], &lines[i]);
		for (size_t j = 0; rc == CLI_OK && j < i; j++)
			if (same_mount(lines[i], lines[j]))
				rc = cli_usage("--volume: mount path %.*s is given twice",
					       (int)strcspn(lines[i], "="), lines[i]);
		if (rc == CLI_OK)
			total += strlen(lines[i]) + 1;
	}
	if (rc == CLI_OK && (all = calloc(1, total)) == NULL)
		rc = CLI_FAIL;
	for (size_t i = 0; rc == CLI_OK && i < o->nvolumes; i++) {
		strcat(all, lines[i]);
		strcat(all, "\n");
	}
	for (size_t i = 0; lines != NULL && i < o->nvolumes; i++)
		free(lines[i]);
	free(lines);
	*out = all;
	return rc;
}

/* ---- program and shield ---- */

/* The loader runs a program that gains privileges in secure mode, where it ignores
 * LD_PRELOAD: such a program would run without the shield. */
static int gains_privileges(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)) != 0)
		return 1;
	return getxattr(path, "security.capability", NULL, 0) >= 0;
}

static int find_program(const char *name, char **out)
{
	struct shelter_err err;

	shelter_err_clear(&err);
	if (cli_find_program(name, out, &err) < 0) {
		fprintf(stderr, "shelter: run: %s\n", err.msg);
		return RUN_NOT_FOUND;
	}
	if (shelter_measure_check_program(*out, &err) < 0) {
		fprintf(stderr, "shelter: run: '%s': the shield cannot cover it; refusing to run "
			"it unprotected: %s\n", *out, err.msg);
		return RUN_REFUSED;
	}
	if (gains_privileges(*out)) {
		fprintf(stderr, "shelter: run: '%s' is set-user-ID, set-group-ID or has file "
			"capabilities: the dynamic loader would not preload the shield into it; "
			"refusing to run it unprotected\n", *out);
		return RUN_REFUSED;
	}
	return CLI_OK;
}

/* ../lib/libshelter-shield.so next to this binary, or $SHELTER_SHIELD_LIB;
 * resolved, since the shield compares LD_PRELOAD with the path it was loaded by. */
static char *shield_candidate(void)
{
	const char *env = getenv("SHELTER_SHIELD_LIB");
	char self[PATH_MAX], *cand = NULL, *slash;
	ssize_t n;

	if (env != NULL && env[0] != '\0')
		return strdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash != NULL)
		*slash = '\0';
	return asprintf(&cand, "%s/../lib/libshelter-shield.so", self) < 0 ? NULL : cand;
}

static int find_shield(char **out)
{
	char *cand = shield_candidate();

	*out = cand != NULL ? realpath(cand, NULL) : NULL;
	if (*out == NULL)
		fprintf(stderr, "shelter: run: shield library '%s': %s (set SHELTER_SHIELD_LIB)\n",
			cand != NULL ? cand : "?", strerror(errno));
	free(cand);
	if (*out != NULL && strpbrk(*out, ": \t") != NULL) {
		fprintf(stderr, "shelter: run: shield path '%s' contains ':' or a blank, which "
			"LD_PRELOAD cannot hold\n", *out);
		free(*out);
		*out = NULL;
	}
	return *out != NULL ? CLI_OK : CLI_FAIL;
}

/* ---- the platform (embedded default, created on first use) ---- */

static int dirs(const struct ropts *o, char **plat, char **state)
{
	char buf[PATH_MAX];
	struct shelter_err err;

	shelter_err_clear(&err);
	*plat = *state = NULL;
	if (o->platform == NULL && shelter_platform_default_dir(buf, sizeof(buf), &err) < 0)
		return cli_fail("run", &err);
	*plat = absolute(o->platform != NULL ? o->platform : buf);
	if (*plat == NULL)
		return fprintf(stderr, "shelter: run: out of memory\n"), CLI_FAIL;
	if (o->state != NULL || getenv(SHIELD_ENV_STATE) != NULL) {
		*state = absolute(o->state != NULL ? o->state : getenv(SHIELD_ENV_STATE));
	} else {
		snprintf(buf, sizeof(buf), "%s", *plat);
		while (strlen(buf) > 1 && buf[strlen(buf) - 1] == '/')
			buf[strlen(buf) - 1] = '\0';
		*strrchr(buf, '/') = '\0';
		if (asprintf(state, "%s/state", buf) < 0)
			*state = NULL;
	}
	return *state != NULL ? CLI_OK : (fprintf(stderr, "shelter: run: out of memory\n"), CLI_FAIL);
}

/* A platform enrolled by a provider of its own, under the state directory: the
 * sim TEE needs a certificate to open, and nobody else vouches for this machine. */
static int create_platform(const char *plat, const char *state, struct shelter_err *err)
{
	char *csr = NULL, *cert = NULL, *prov = NULL;
	int rc;

	if (asprintf(&prov, "%s/provider", state) < 0)
		return shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	/* both create missing parent directories, private */
	rc = shelter_platform_init(plat, "local", &csr, err);
	if (rc == 0 && access(prov, F_OK) != 0)
		rc = shelter_provider_init(prov, "local", err);
	if (rc == 0)
		rc = shelter_provider_enroll(prov, csr, strlen(csr), 0, &cert, err);
	if (rc == 0)
		rc = shelter_platform_install_cert(plat, cert, strlen(cert), err);
	if (rc == 0)
		fprintf(stderr, "shelter: run: created a local sim platform in %s (provider in "
			"%s)\n", plat, prov);
	free(csr);
	free(cert);
	free(prov);
	return rc;
}

static int ensure_platform(const char *plat, const char *state)
{
	struct shelter_platform_info info;
	struct shelter_err err;
	int rc;

	shelter_err_clear(&err);
	rc = shelter_platform_info(plat, &info, &err);
	if (rc == 0 && info.enrolled)
		return CLI_OK;
	if (rc == 0)
		return fprintf(stderr, "shelter: run: platform %s is not enrolled: install its "
			       "certificate (shelter platform install-cert)\n", plat), CLI_FAIL;
	if (rc != SHELTER_E_NOENT)
		return cli_fail("run", &err);
	shelter_err_clear(&err);
	return create_platform(plat, state, &err) < 0 ? cli_fail("run: create platform", &err)
						       : CLI_OK;
}

/* ---- the environment contract (src/shield/launch.h) ---- */

static int put(const char *name, const char *value)
{
	if (value == NULL ? unsetenv(name) : setenv(name, value, 1)) {
		fprintf(stderr, "shelter: run: cannot set %s: %s\n", name, strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* measurement.md §2.2: the measured launch has a clean loader environment. */
static int clean_loader_env(void)
{
	static const char *const vars[] = {
		"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GLIBC_TUNABLES",
		"LD_ASSUME_KERNEL", "LD_HWCAP_MASK",
	};
	int rc = CLI_OK;

	for (size_t i = 0; rc == CLI_OK && i < sizeof(vars) / sizeof(vars[0]); i++) {
		if (getenv(vars[i]) != NULL)
			fprintf(stderr, "shelter: run: %s dropped: a measured launch has a clean "
				"loader environment\n", vars[i]);
		rc = put(vars[i], NULL);
	}
	return rc;
}

static char *joined(const char **v, size_t n)
{
	size_t total = 1;
	char *s;

	for (size_t i = 0; i < n; i++)
		total += strlen(v[i]) + 1;
	s = calloc(1, total);
	for (size_t i = 0; s != NULL && i < n; i++) {
		strcat(s, v[i]);
		strcat(s, "\n");
	}
	return s;
}

/* realpath of path into *out; reports the failure. */
static int resolve(const char *path, char **out)
{
	*out = realpath(path, NULL);
	if (*out == NULL)
		return fprintf(stderr, "shelter: run: '%s': %s\n", path, strerror(errno)), CLI_FAIL;
	return CLI_OK;
}

static int cas_env(struct ropts *o)
{
	char *allow = joined(o->m.env_names, o->m.env_names_count);
	char *fixed = joined(o->m.env_fixed, o->m.env_fixed_count);
	char *cert = NULL, *sig = NULL;
	int rc = cli_cas_defaults(&o->cas);

	if (rc == CLI_OK && (allow == NULL || fixed == NULL))
		rc = (fprintf(stderr, "shelter: run: out of memory\n"), CLI_FAIL);
	if (rc == CLI_OK)
		rc = resolve(o->cas.cert_file, &cert);
	if (rc == CLI_OK && o->sigstruct != NULL)
		rc = resolve(o->sigstruct, &sig);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_CAS_URL, o->cas.url);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_CAS_CERT, cert);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_SESSION, o->session);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_ENV_ALLOW, o->m.env_names_count ? allow : NULL);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_ENV_FIXED, o->m.env_fixed_count ? fixed : NULL);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_SIGSTRUCT, sig);
	free(allow);
	free(fixed);
	free(cert);
	free(sig);
	return rc;
}

/* The freshness binding (docs/shield.md §6.6): its record value in hex, which the
 * shield measures (so a binding changed here changes the keys), the provider's
 * directory (its ca.crt must be the one measured) and the address, not measured. */
static int fresh_env(struct ropts *o)
{
	struct shelter_measure_freshness f;
	struct shelter_err err;
	uint8_t v[SHELTER_MEASURE_FRESH_VALUE_MAX];
	char hex[2 * SHELTER_MEASURE_FRESH_VALUE_MAX + 1], *prov = NULL;
	size_t size = 0;
	int bound = 0, rc;

	shelter_err_clear(&err);
	if (cli_measure_binding(&o->m, &f, &bound, &err) < 0 ||
	    (bound && shelter_measure_freshness_encode(&f, v, sizeof(v), &size, &err) < 0))
		return cli_fail("run", &err);
	if (bound) {
		shelter_hex(v, size, hex);
		rc = resolve(o->m.fresh_provider, &prov);
	} else {
		rc = CLI_OK;
	}
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_FRESH_ADDR, bound ? o->freshness : NULL);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_FRESH_BINDING, bound ? hex : NULL);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_FRESH_PROVIDER, prov);
	free(prov);
	return rc;
}

/* Embedded mode: nothing of a CAS may reach the shield, or it would attest. A
 * sigstruct seals the keys to its signer and product instead of the exact
 * measurement (docs/shield.md §1.4). */
static int embedded_env(struct ropts *o)
{
	static const char *const vars[] = {
		SHIELD_ENV_CAS_URL, SHIELD_ENV_CAS_CERT, SHIELD_ENV_SESSION,
		SHIELD_ENV_ENV_ALLOW, SHIELD_ENV_ENV_FIXED,
	};
	char *sig = NULL;
	int rc = CLI_OK;

	for (size_t i = 0; rc == CLI_OK && i < sizeof(vars) / sizeof(vars[0]); i++)
		rc = put(vars[i], NULL);
	if (rc == CLI_OK && o->sigstruct != NULL)
		rc = resolve(o->sigstruct, &sig);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_SIGSTRUCT, sig);
	if (rc == CLI_OK)
		rc = fresh_env(o);
	free(sig);
	return rc;
}

static int launch_env(struct ropts *o, const char *shield, const char *vols, const char *plat,
		      const char *state)
{
	int rc = clean_loader_env();

	if (rc == CLI_OK)
		rc = o->session != NULL ? cas_env(o) : embedded_env(o);
	/* CAS mode: no binding of the host's may reach the shield (it refuses one) */
	if (rc == CLI_OK && o->session != NULL)
		rc = put(SHIELD_ENV_FRESH_ADDR, NULL);
	if (rc == CLI_OK && o->session != NULL)
		rc = put(SHIELD_ENV_FRESH_BINDING, NULL);
	if (rc == CLI_OK && o->session != NULL)
		rc = put(SHIELD_ENV_FRESH_PROVIDER, NULL);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_VOLUMES, vols);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_ADOPT, o->adopt ? "1" : NULL);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_PLATFORM, plat);
	if (rc == CLI_OK)
		rc = put(SHIELD_ENV_STATE, state);
	if (rc == CLI_OK)
		rc = put("LD_PRELOAD", shield);
	return rc;
}

/* ---- the command ---- */

static int prepare(struct ropts *o, char **argv, char **program)
{
	char *vols = NULL, *shield = NULL, *plat = NULL, *state = NULL;
	int rc = volumes_env(o, &vols);

	if (rc == CLI_OK)
		rc = find_program(argv[0], program);
	if (rc == CLI_OK)
		rc = find_shield(&shield);
	if (rc == CLI_OK)
		rc = dirs(o, &plat, &state);
	if (rc == CLI_OK && o->session == NULL)
		rc = ensure_platform(plat, state);
	if (rc == CLI_OK)
		rc = launch_env(o, shield, vols, plat, state);
	free(vols);
	free(shield);
	free(plat);
	free(state);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	struct ropts o;
	char *program = NULL;
	int rc;

	memset(&o, 0, sizeof(o));
	if (cli_measure_init(&o.m, argc) < 0 ||
	    (o.volumes = calloc((size_t)argc, sizeof(*o.volumes))) == NULL) {
		cli_measure_free(&o.m);
		return fprintf(stderr, "shelter: run: out of memory\n"), CLI_FAIL;
	}
	rc = parse_args(&o, argc, argv);
	if (rc == CLI_OK)
		rc = prepare(&o, argv + optind, &program);
	if (rc == CLI_OK) {
		fflush(NULL);
		execv(program, argv + optind);
		fprintf(stderr, "shelter: run: exec '%s': %s\n", program, strerror(errno));
		rc = errno == ENOENT ? RUN_NOT_FOUND : RUN_REFUSED;
	}
	free(program);
	free(o.volumes);
	cli_measure_free(&o.m);
	return rc < 0 ? CLI_OK : rc;
}
