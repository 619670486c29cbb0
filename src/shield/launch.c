/* The shield's start-up (docs/shield.md §1): everything between the dynamic
 * loader and the program's first instruction.
 *
 * glibc's __libc_start_main is interposed. The shield does its work before calling
 * the real one, so the program's own constructors already find the volumes
 * mounted, and registers its exit handler from a wrapper of main, so that it runs
 * while libcrypto and the program's volumes are still there. Any failure is
 * shield_die(): the program never runs unprotected (STYLE.md rule 10 does not
 * apply: there is no program yet to return an error to).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "shelter/attest.h"
#include "shelter/crypto.h"
#include "shelter/measure.h"
#include "shelter/tee.h"
#include "shield/launch.h"
#include "shield/shield.h"

#define PEM_MAX (64 * 1024)
#define SIGSTRUCT_MAX 4096

/* glibc's entry point (csu/libc-start.c); no public header declares it. */
int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv,
		      int (*init)(int, char **, char **), void (*fini)(void),
		      void (*rtld_fini)(void), void *stack_end);

struct vol_entry {
	const char *mount; /* normalised */
	const char *host;  /* absolute, as given */
};

/* The launch configuration (launch.h), read from the environment once. */
struct launch {
	struct vol_entry *vols;
	size_t nvols;
	const char **mounts; /* the mount paths again, for the measurement */
	const char **vol_lines; /* SHIELD_ENV_VOLUMES split (kept, as split_lines says) */
	int adopt;
	uint64_t cache_bytes; /* per volume, from SHIELD_ENV_CACHE */
	const char *platform, *state;
	const char *cas_url, *cas_cert, *session, *sigstruct;
	const char **env_allow, **env_fixed;
	size_t env_allow_count, env_fixed_count;
	char exe[PATH_MAX];
	const char *shield;
	struct shelter_tee *tee;
	/* embedded mode, volumes bound to a freshness service (§6.6) */
	int bound;
	struct shelter_measure_freshness fresh; /* measured */
	const char *fresh_addr, *fresh_provider;
	struct shield_binding *binding;
};

/* ---- the environment contract ---- */

/* Split a copy of s at newlines into a NULL-terminated array of borrowed
 * pointers into it (both live until exit). Empty lines are skipped. */
static const char **split_lines(const char *s, size_t *count)
{
	char *copy = strdup(s), *save = NULL, *line;
	const char **v = calloc(strlen(s) / 2 + 2, sizeof(*v));

	*count = 0;
	if (copy == NULL || v == NULL)
		shield_die("launch: out of memory");
	for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		v[(*count)++] = line;
	return v;
}

static void parse_volume(const char *line, struct vol_entry *out)
{
	char norm[PATH_MAX], *copy = strdup(line), *eq;
	struct shelter_err err;

	if (copy == NULL)
		shield_die("launch: out of memory");
	eq = strchr(copy, '=');
	if (eq == NULL)
		shield_die("launch: %s entry '%s' is not MOUNTPATH=HOSTDIR", SHIELD_ENV_VOLUMES, line);
	*eq = '\0';
	shelter_err_clear(&err);
	if (shelter_measure_normalise_volume(copy, norm, sizeof(norm), &err) < 0)
		shield_die("launch: %s", err.msg);
	/* the key is sealed to this exact string: refuse a second spelling of it */
	if (strcmp(norm, copy) != 0 || strcmp(norm, "/") == 0)
		shield_die("launch: mount path '%s' is not normalised (use '%s') or is '/'", copy,
			   norm);
	if (eq[1] != '/')
		shield_die("launch: volume %s: host directory '%s' is not absolute", copy, eq + 1);
	out->mount = copy;
	out->host = eq + 1;
}

static void read_volumes(struct launch *l, const char *value)
{
	const char **lines = l->vol_lines = split_lines(value, &l->nvols);

	l->vols = calloc(l->nvols + 1, sizeof(*l->vols));
	l->mounts = calloc(l->nvols + 1, sizeof(*l->mounts));
	if (l->vols == NULL || l->mounts == NULL)
		shield_die("launch: out of memory");
	for (size_t i = 0; i < l->nvols; i++) {
		parse_volume(lines[i], &l->vols[i]);
		l->mounts[i] = l->vols[i].mount;
		for (size_t j = 0; j < i; j++)
			if (strcmp(l->vols[j].mount, l->vols[i].mount) == 0)
				shield_die("launch: mount path %s is given twice", l->mounts[i]);
	}
}

/* §1.3: the loader environment must be the one the measurement describes
 * (measurement.md §2.2): nothing preloaded but the shield, no library path. A
 * library loaded from a path the host chose would run unmeasured code next to
 * the program's keys. */
static void check_loader_env(const struct launch *l)
{
	static const char *const forbidden[] = {
		"LD_LIBRARY_PATH", "LD_AUDIT", "GLIBC_TUNABLES", "LD_ASSUME_KERNEL",
		"LD_HWCAP_MASK",
	};
	const char *preload = getenv("LD_PRELOAD");

	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
		if (getenv(forbidden[i]) != NULL)
			shield_die("launch: %s is set: the dynamic loader may have loaded code the "
				   "measurement does not cover", forbidden[i]);
	if (preload == NULL || strcmp(preload, l->shield) != 0)
		shield_die("launch: LD_PRELOAD is '%s', not the shield '%s' alone: other "
			   "preloaded code would not be covered by the measurement",
			   preload != NULL ? preload : "", l->shield);
}

static void self_paths(struct launch *l)
{
	Dl_info info;
	ssize_t n = readlink("/proc/self/exe", l->exe, sizeof(l->exe) - 1);

	if (n <= 0 || (size_t)n >= sizeof(l->exe) - 1)
		shield_die("launch: cannot read /proc/self/exe: %s", strerror(errno));
	l->exe[n] = '\0';
	if (dladdr((void *)shield_launch_env, &info) == 0 || info.dli_fname == NULL)
		shield_die("launch: cannot find the shield's own file (dladdr)");
	l->shield = info.dli_fname;
}

static void read_cas_env(struct launch *l)
{
	const char *allow = getenv(SHIELD_ENV_ENV_ALLOW), *fixed = getenv(SHIELD_ENV_ENV_FIXED);

	l->cas_url = getenv(SHIELD_ENV_CAS_URL);
	l->cas_cert = getenv(SHIELD_ENV_CAS_CERT);
	if (l->cas_url == NULL || l->cas_cert == NULL)
		shield_die("launch: %s needs %s and %s", SHIELD_ENV_SESSION, SHIELD_ENV_CAS_URL,
			   SHIELD_ENV_CAS_CERT);
	if (allow != NULL)
		l->env_allow = split_lines(allow, &l->env_allow_count);
	if (fixed != NULL)
		l->env_fixed = split_lines(fixed, &l->env_fixed_count);
}

/* SHIELD_ENV_CACHE: whole MiB, nothing else, so a typo is not a silent default. */
static uint64_t read_cache_size(void)
{
	const char *s = getenv(SHIELD_ENV_CACHE);
	uint64_t mb = 0;

	if (s == NULL)
		return (uint64_t)SHIELD_CACHE_MB_DEFAULT << 20;
	size_t digits = strspn(s, "0123456789");

	for (size_t i = 0; i < digits && mb <= SHIELD_CACHE_MB_MAX; i++)
		mb = mb * 10 + (uint64_t)(s[i] - '0');
	if (digits == 0 || s[digits] != '\0' || mb > SHIELD_CACHE_MB_MAX)
		shield_die("launch: %s='%s': want a whole number of MiB from 0 to %d",
			   SHIELD_ENV_CACHE, s, SHIELD_CACHE_MB_MAX);
	return mb << 20;
}

/* §6.6: the binding comes whole or not at all, and only in embedded mode (a CAS
 * session keeps its volumes' tags itself). Its value is measured (open_tee), so a
 * host that changes it changes the keys and opens nothing. */
static void read_fresh_env(struct launch *l)
{
	const char *hex = getenv(SHIELD_ENV_FRESH_BINDING);
	uint8_t v[SHELTER_MEASURE_FRESH_VALUE_MAX];
	struct shelter_err err;
	size_t n;

	l->fresh_addr = getenv(SHIELD_ENV_FRESH_ADDR);
	l->fresh_provider = getenv(SHIELD_ENV_FRESH_PROVIDER);
	if (hex == NULL && l->fresh_addr == NULL && l->fresh_provider == NULL)
		return;
	if (hex == NULL || l->fresh_addr == NULL || l->fresh_provider == NULL)
		shield_die("launch: %s, %s and %s go together", SHIELD_ENV_FRESH_ADDR,
			   SHIELD_ENV_FRESH_BINDING, SHIELD_ENV_FRESH_PROVIDER);
	if (l->session != NULL)
		shield_die("launch: a freshness binding is for embedded mode; with %s the CAS "
			   "keeps the volumes' tags", SHIELD_ENV_SESSION);
	n = strlen(hex);
	shelter_err_clear(&err);
	if (n % 2 != 0 || n / 2 > sizeof(v) || shelter_unhex(hex, v, n / 2) != 0)
		shield_die("launch: %s is not the hex of a binding", SHIELD_ENV_FRESH_BINDING);
	if (shelter_measure_freshness_parse(v, n / 2, &l->fresh, &err) < 0)
		shield_die("launch: %s: %s", SHIELD_ENV_FRESH_BINDING, err.msg);
	l->bound = 1;
}

static void read_launch(struct launch *l)
{
	const char *vols = getenv(SHIELD_ENV_VOLUMES), *adopt = getenv(SHIELD_ENV_ADOPT);

	memset(l, 0, sizeof(*l));
	if (vols == NULL)
		shield_die("launch: %s is not set: start programs with `shelter run`",
			   SHIELD_ENV_VOLUMES);
	self_paths(l);
	check_loader_env(l);
	read_volumes(l, vols);
	/* an operator's decision for this start, not for the programs it execs */
	l->adopt = adopt != NULL && strcmp(adopt, "1") == 0;
	unsetenv(SHIELD_ENV_ADOPT);
	l->cache_bytes = read_cache_size();
	l->platform = getenv(SHIELD_ENV_PLATFORM);
	l->state = getenv(SHIELD_ENV_STATE);
	l->session = getenv(SHIELD_ENV_SESSION);
	l->sigstruct = getenv(SHIELD_ENV_SIGSTRUCT); /* both modes (§1.4, §1.5) */
	if (l->session != NULL)
		read_cas_env(l);
	else if (l->nvols > 0 && (l->state == NULL || l->state[0] != '/'))
		shield_die("launch: %s must name an absolute directory", SHIELD_ENV_STATE);
	read_fresh_env(l);
}

/* ---- the launch environment kept for exec ---- */

static const char **launch_env;

const char *const *shield_launch_env(void)
{
	static const char *const none[] = { NULL };

	return launch_env != NULL ? launch_env : none;
}

static int is_launch_var(const char *entry)
{
	return strncmp(entry, "SHELTER_", 8) == 0 || strncmp(entry, "LD_PRELOAD=", 11) == 0;
}

static void keep_launch_env(void)
{
	size_t n = 0;

	for (char **e = environ; e != NULL && *e != NULL; e++)
		n++;
	launch_env = calloc(n + 1, sizeof(*launch_env));
	if (launch_env == NULL)
		shield_die("launch: out of memory");
	n = 0;
	for (char **e = environ; e != NULL && *e != NULL; e++)
		if (is_launch_var(*e) && (launch_env[n++] = strdup(*e)) == NULL)
			shield_die("launch: out of memory");
}

/* ---- small file helpers (outside every mount: libc's own calls) ---- */

static int slurp(const char *path, size_t max, char **out, size_t *size, struct shelter_err *err)
{
	int fd = REAL(open)(path, O_RDONLY | O_CLOEXEC);
	char *buf = malloc(max + 1);
	ssize_t n = 0;

	*out = NULL;
	*size = 0;
	if (fd < 0 || buf == NULL) {
		int e = fd < 0 ? errno : ENOMEM;

		if (fd >= 0)
			REAL(close)(fd);
		free(buf);
		return shelter_err_errno(err, e, "read '%s'", path);
	}
	while (*size < max + 1 && (n = REAL(read)(fd, buf + *size, max + 1 - *size)) > 0)
		*size += (size_t)n;
	REAL(close)(fd);
	if (n < 0 || *size == 0 || *size > max) {
		free(buf);
		return n < 0 ? shelter_err_errno(err, errno, "read '%s'", path)
			     : shelter_err_set(err, SHELTER_E_INVAL, "'%s' is empty or over %zu bytes",
					       path, max);
	}
	buf[*size] = '\0';
	*out = buf;
	return 0;
}

/* 1 when dir has no entry but . and .., 0 when it has, -1 with errno. */
static int dir_is_empty(const char *dir)
{
	DIR *d = REAL(opendir)(dir);
	struct dirent *e;
	int empty = 1;

	if (d == NULL)
		return -1;
	while (empty && (e = REAL(readdir)(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	REAL(closedir)(d);
	return empty;
}

/* ---- measure, then open the TEE with that identity (§1.4) ---- */

static void open_tee(struct launch *l, int argc, char **argv)
{
	struct shelter_measure_opts mo = {
		.program = l->exe, .volumes = l->mounts, .volume_count = l->nvols,
		.shield = l->shield, .freshness = l->bound ? &l->fresh : NULL,
	};
	struct shelter_tee_opts to = { .backend = "sim", .platform_dir = l->platform };
	struct shelter_identity id;
	struct shelter_err err;
	uint8_t m[SHELTER_MEASUREMENT_SIZE];
	char *sig = NULL;
	size_t sig_size = 0;
	int rc;

	/* embedded: arguments and environment are the operator's, not bound to keys;
	 * CAS: exactly what `shelter attest` with the same options measures */
	if (l->session != NULL) {
		mo.argv = (const char *const *)argv;
		mo.argc = (size_t)argc;
		mo.env_names = l->env_allow;
		mo.env_names_count = l->env_allow_count;
		mo.env_fixed = l->env_fixed;
		mo.env_fixed_count = l->env_fixed_count;
	}
	shelter_err_clear(&err);
	rc = shelter_measure(&mo, m, NULL, &err);
	if (rc == 0 && l->sigstruct != NULL)
		rc = slurp(l->sigstruct, SIGSTRUCT_MAX, &sig, &sig_size, &err);
	if (rc == 0)
		rc = shelter_measure_identity(m, (const uint8_t *)sig, sig_size, &id, &err);
	to.launch = &id;
	if (rc == 0)
		rc = shelter_tee_open(&to, &l->tee, &err);
	free(sig);
	if (rc < 0)
		shield_die("launch: %s", err.msg);
}

/* ---- opening one volume (§1.4, §6.4) ---- */

struct volplan {
	const struct vol_entry *v;
	const char *name;
	char host[PATH_MAX]; /* realpath */
	int empty;
	int has_tag;         /* tag: the last recorded one */
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];
	int created;
};

/* A missing host directory is created (its parent must exist) and then named by
 * its real path: that is what the tag record is bound to. */
static void plan_host(struct volplan *p)
{
	const char *host = p->v->host;

	if (REAL(mkdir)(host, 0700) < 0 && errno != EEXIST)
		shield_die("volume %s: cannot create host directory '%s': %s", p->v->mount, host,
			   strerror(errno));
	if (realpath(host, p->host) == NULL)
		shield_die("volume %s: host directory '%s': %s", p->v->mount, host,
			   strerror(errno));
	p->empty = dir_is_empty(p->host);
	if (p->empty < 0)
		shield_die("volume %s: host directory '%s': %s", p->v->mount, p->host,
			   strerror(errno));
}

static _Noreturn void die_open(const struct volplan *p, int rc, const struct shelter_err *err)
{
	switch (rc) {
	case SHELTER_E_STALE:
		shield_die("volume %s (%s): rolled back: it is older than its last recorded "
			   "state: %s", p->v->mount, p->host, err->msg);
	case SHELTER_E_BADKEY:
		shield_die("volume %s (%s): wrong key: it belongs to another program or platform "
			   "(its key is sealed to another measurement): %s", p->v->mount, p->host,
			   err->msg);
	default:
		shield_die("volume %s (%s): %s: %s", p->v->mount, p->host, shelter_code_str(rc),
			   err->msg);
	}
}

/* Create an empty host directory's volume, or open an existing one at or after its
 * recorded tag. What has no recorded tag, or a tag but no volume, is refused: both
 * are what deleting the record or the volume to roll it back looks like. */
static struct shelter_volume *plan_open(const struct launch *l, struct volplan *p,
					const uint8_t key[SHELTER_VOLUME_KEY_SIZE])
{
	struct shelter_volume_options o = { .expected_tag = p->has_tag && !p->empty ? p->tag
										  : NULL,
					    .cache_bytes = l->cache_bytes };
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	int rc;

	if (p->empty && p->has_tag && !l->adopt)
		shield_die("volume %s (%s): a tag is recorded for it but the directory is empty: "
			   "the volume was deleted or rolled back; refused (--adopt-volumes "
			   "starts it anew)", p->v->mount, p->host);
	if (!p->empty && !p->has_tag && !l->adopt)
		shield_die("volume %s (%s): no recorded tag for an existing volume (its record "
			   "may have been deleted to allow a rollback); refused (--adopt-volumes "
			   "accepts it as it is)", p->v->mount, p->host);
	/* empty with a tag, or a volume without one: the two cases refused above */
	if (l->adopt && p->empty == p->has_tag)
		shield_security("volume %s (%s): adopted as it is (--adopt-volumes): %s",
				p->v->mount, p->host, p->empty ? "recorded tag but no volume"
							       : "no recorded tag");
	shelter_err_clear(&err);
	rc = p->empty ? shelter_volume_create(p->host, key, &err) : 0;
	if (rc == 0)
		rc = shelter_volume_open(p->host, key, &o, &vol, &err);
	if (rc < 0)
		die_open(p, rc, &err);
	p->created = p->empty;
	return vol;
}

static void plan_mount(struct volplan *p, struct shelter_volume *vol)
{
	struct shelter_err err;

	shelter_err_clear(&err);
	if (shield_mount_add(p->v->mount, p->name, p->host, vol, &err) < 0)
		shield_die("volume %s: %s", p->v->mount, err.msg);
}

/* The new tag of a volume just created or adopted is recorded before the program
 * runs: otherwise the next start would find a volume without a record. */
static void plan_record(struct volplan *p)
{
	struct shield_mount *m = shield_mount_get(shield_mount_count() - 1);
	struct shelter_err err;

	if (p->created)
		shield_log("volume %s: created in %s", p->v->mount, p->host);
	if (!p->created && p->has_tag)
		return;
	shelter_err_clear(&err);
	if (shield_tags_record(m, &err) < 0)
		shield_die("volume %s: cannot record its tag: %s", p->v->mount, err.msg);
}

/* ---- embedded mode (§1.4): keys and tags sealed to the measurement ---- */

/* §1.4: a tenant's sigstruct seals to its signer and product, so upgrades it
 * signs keep the keys; otherwise the exact measurement. */
static enum shelter_seal_policy seal_policy(const struct launch *l)
{
	return l->sigstruct != NULL ? SHELTER_SEAL_SIGNER : SHELTER_SEAL_MEASUREMENT;
}

static void embedded_tag(const struct launch *l, struct volplan *p, struct shield_tagfile **tf)
{
	enum shield_tagfile_state st;
	struct shelter_err err;

	shelter_err_clear(&err);
	if (shield_tagfile_new(l->tee, seal_policy(l), l->state, p->host, p->v->mount, tf, &err) < 0 ||
	    shield_tagfile_read(*tf, p->tag, &st, &err) < 0)
		shield_die("volume %s (%s): %s", p->v->mount, p->host, err.msg);
	if (st == SHIELD_TAG_FOREIGN && !l->adopt)
		shield_die("volume %s (%s): wrong key: its tag was recorded by another program or "
			   "platform (%s); refused", p->v->mount, p->host,
			   l->sigstruct != NULL ? "another signer or product"
						: "another measurement: program, libraries, shield "
						  "or volume list");
	p->has_tag = st == SHIELD_TAG_OK;
}

/* §6.6: a bound volume's recorded tag is the one the service holds (read with a
 * fresh nonce), not the local record's: the host can roll the state directory back
 * with the volume, not f + 1 endorsers. The decisions of §6.4 then apply to it. */
static struct shield_bound *bound_tag(const struct launch *l, struct volplan *p,
				      const struct shield_tagfile *tf)
{
	enum shield_tagfile_state st;
	struct shield_bound *b = NULL;
	struct shelter_err err;

	shelter_err_clear(&err);
	if (shield_bound_open(l->binding, tf, &b, p->tag, &st, &err) < 0)
		shield_die("volume %s (%s): %s; refusing to start without its endorsed state",
			   p->v->mount, p->host, err.msg);
	if (st == SHIELD_TAG_FOREIGN && !l->adopt)
		shield_die("volume %s (%s): wrong key: the state the freshness service holds "
			   "for it was recorded by another program or platform; refused",
			   p->v->mount, p->host);
	p->has_tag = st == SHIELD_TAG_OK;
	return b;
}

static void embedded_volume(const struct launch *l, const struct vol_entry *v)
{
	struct volplan p = { .v = v, .name = v->mount };
	uint8_t *key = shelter_secret_alloc(SHELTER_VOLUME_KEY_SIZE);
	struct shield_tagfile *tf = NULL;
	struct shield_bound *bound = NULL;
	struct shelter_volume *vol;
	struct shelter_err err;
	char label[8 + PATH_MAX];

	if (key == NULL)
		shield_die("volume %s: out of memory", v->mount);
	plan_host(&p);
	snprintf(label, sizeof(label), "volume:%s", v->mount);
	shelter_err_clear(&err);
	if (shelter_tee_seal_key(l->tee, seal_policy(l), label, key, &err) < 0)
		shield_die("volume %s: sealing key: %s", v->mount, err.msg);
	embedded_tag(l, &p, &tf);
	if (l->binding != NULL)
		bound = bound_tag(l, &p, tf);
	vol = plan_open(l, &p, key);
	shelter_secret_free(key, SHELTER_VOLUME_KEY_SIZE);
	plan_mount(&p, vol);
	/* the local record stays (§6.6): the service's tag is recorded there too */
	if (shield_tags_track_sealed(shield_mount_get(shield_mount_count() - 1), tf,
				     p.has_tag && bound == NULL ? p.tag : NULL, &err) < 0 ||
	    (bound != NULL && shield_tags_bind(shield_mount_get(shield_mount_count() - 1), bound,
					       p.has_tag ? p.tag : NULL, &err) < 0))
		shield_die("volume %s: %s", v->mount, err.msg);
	plan_record(&p);
}

static void embedded(struct launch *l)
{
	struct shelter_err err;

	/* nothing sealed, nothing to unseal: no TEE needed */
	if (l->nvols == 0)
		return;
	open_tee(l, 0, NULL);
	shelter_err_clear(&err);
	if (l->bound && shield_binding_new(l->fresh_addr, &l->fresh, l->fresh_provider,
					   &l->binding, &err) < 0)
		shield_die("launch: %s; refusing to start", err.msg);
	for (size_t i = 0; i < l->nvols; i++)
		embedded_volume(l, &l->vols[i]);
	/* every key is derived; the TEE's own secrets need not stay in memory */
	shelter_tee_close(l->tee);
	l->tee = NULL;
}

/* ---- CAS mode (§1.5): attest, then take what the session releases ---- */

static struct shelter_attester *attester;

static struct shelter_config *cas_fetch(struct launch *l, int argc, char **argv)
{
	struct shelter_attester_opts ao = { .cas_url = l->cas_url, .tee = l->tee };
	struct shelter_config *cfg = NULL;
	struct shelter_err err;
	const char **env;
	size_t n = 0, envc = 0;
	char *pem = NULL;
	int rc;

	for (char **e = environ; e != NULL && *e != NULL; e++)
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (env == NULL)
		shield_die("launch: out of memory");
	/* the host's environment, less the launch's own variables: the CAS keeps what
	 * the policy allows (policy.md §6.1) */
	for (char **e = environ; e != NULL && *e != NULL; e++)
		if (!is_launch_var(*e))
			env[envc++] = *e;
	shelter_err_clear(&err);
	rc = slurp(l->cas_cert, PEM_MAX, &pem, &ao.cas_cert_pem_size, &err);
	ao.cas_cert_pem = pem;
	if (rc == 0)
		rc = shelter_attester_new(&ao, &attester, &err);
	if (rc == 0)
		rc = shelter_attester_fetch(attester, l->session, (const char *const *)argv,
					    (size_t)argc, env, envc, &cfg, &err);
	free(pem);
	free(env);
	if (rc < 0)
		shield_die("attest to session %s at %s: %s", l->session, l->cas_url, err.msg);
	return cfg;
}

/* The session's volume at v's mount path: its key is the session's, its tag the
 * one the CAS keeps. A mount the session does not know is refused. */
static void cas_volume(const struct launch *l, const struct vol_entry *v,
		       const struct shelter_config *cfg)
{
	struct volplan p = { .v = v };
	uint8_t *key = shelter_secret_alloc(SHELTER_VOLUME_KEY_SIZE);
	struct shelter_volume *vol;
	struct shelter_err err;
	size_t i, count = shelter_config_volume_count(cfg);

	if (key == NULL)
		shield_die("volume %s: out of memory", v->mount);
	for (i = 0; i < count; i++) {
		const char *path = NULL;

		if (shelter_config_volume(cfg, i, &p.name, &path, key, p.tag, &p.has_tag) == 0 &&
		    strcmp(path, v->mount) == 0)
			break;
	}
	if (i == count)
		shield_die("volume %s: session %s has no volume at this path", v->mount,
			   l->session);
	plan_host(&p);
	vol = plan_open(l, &p, key);
	shelter_secret_free(key, SHELTER_VOLUME_KEY_SIZE);
	plan_mount(&p, vol);
	shelter_err_clear(&err);
	if (shield_tags_track_cas(shield_mount_get(shield_mount_count() - 1), attester,
				  l->session, p.has_tag ? p.tag : NULL, &err) < 0)
		shield_die("volume %s: %s", v->mount, err.msg);
	plan_record(&p);
}

/* Every volume of the session must be mounted: the program would otherwise write
 * its data in plaintext where it expects the volume. */
static void cas_all_mounted(const struct launch *l, const struct shelter_config *cfg)
{
	for (size_t i = 0; i < shelter_config_volume_count(cfg); i++) {
		const char *name = NULL, *path = NULL;
		uint8_t key[32], tag[32];
		int has_tag, found = 0;

		if (shelter_config_volume(cfg, i, &name, &path, key, tag, &has_tag) < 0)
			shield_die("session %s: volume %zu unreadable", l->session, i);
		OPENSSL_cleanse(key, sizeof(key));
		for (size_t j = 0; j < l->nvols; j++)
			found |= strcmp(l->vols[j].mount, path) == 0;
		if (!found)
			shield_die("session %s: volume '%s' at %s is not mounted (give --volume "
				   "HOSTDIR:%s)", l->session, name, path, path);
	}
}

/* The program's argv and environment become the session's (policy.md §6.1): the
 * host's reach it only through what the policy allows. */
static void cas_apply(const struct shelter_config *cfg, int *argc, char ***argv)
{
	size_t n = shelter_config_arg_count(cfg);
	char **v = calloc(n + 1, sizeof(*v));

	if (v == NULL)
		shield_die("launch: out of memory");
	for (size_t i = 0; i < n; i++)
		if ((v[i] = strdup(shelter_config_arg(cfg, i))) == NULL)
			shield_die("launch: out of memory");
	if (n > 0) {
		*argc = (int)n;
		*argv = v;
	} else {
		free(v);
	}
	if (clearenv() != 0)
		shield_die("launch: cannot clear the environment");
	for (size_t i = 0; i < shelter_config_env_count(cfg); i++) {
		const char *name, *value;

		shelter_config_env(cfg, i, &name, &value);
		if (name != NULL && setenv(name, value, 1) < 0)
			shield_die("launch: cannot set %s: %s", name, strerror(errno));
	}
	/* The launch variables stay, after the session's: a program this one execs
	 * (system(3) and popen(3) included, which use the environment as it is)
	 * starts shielded too (§1.7). They hold no secret. */
	for (const char *const *e = shield_launch_env(); *e != NULL; e++)
		if (putenv((char *)*e) != 0)
			shield_die("launch: cannot keep %s", *e);
}

static void cas_mode(struct launch *l, int *argc, char ***argv)
{
	struct shelter_config *cfg;
	struct shelter_err err;

	open_tee(l, *argc, *argv);
	cfg = cas_fetch(l, *argc, *argv);
	cas_all_mounted(l, cfg);
	for (size_t i = 0; i < l->nvols; i++)
		cas_volume(l, &l->vols[i], cfg);
	shelter_err_clear(&err);
	if (shield_secrets_mount(cfg, &err) < 0)
		shield_die("session %s: %s", l->session, err.msg);
	cas_apply(cfg, argc, argv);
	/* wiped: keys are in the volumes, files in /run/secrets, the rest copied */
	shelter_config_free(cfg);
	/* l->tee stays open: the attester quotes with it for every tag */
}

/* ---- the entry point ---- */

static int (*program_main)(int, char **, char **);
/* This process, kept by a fork handler: 0 until the program starts (shield_die
 * records nothing), and not our pid in a vfork child, which shares our memory and
 * must not record (posix_spawn's child runs no fork handlers). */
static pid_t self_pid;
static atomic_int exit_recorded;

static void child_after_fork(void)
{
	if (self_pid != 0)
		self_pid = getpid();
	atomic_store(&exit_recorded, 0);
}

/* Every process records at its exit, a forked child too (a daemon's parent exits
 * first): an older tag than another process recorded is harmless (§6.3). */
static void at_exit(void)
{
	if (self_pid == 0 || getpid() != self_pid || atomic_exchange(&exit_recorded, 1))
		return;
	shield_tags_at_exit();
	shield_secrets_at_exit();
}

/* Programs that end with _exit() (dash does, after flushing its output) skip
 * atexit handlers: record here too. glibc's own internal calls to _exit (the end
 * of exit()) do not come through here, and at_exit runs once anyway. */
SHIELD_EXPORT void _exit(int status)
{
	at_exit();
	REAL(_exit)(status);
	__builtin_unreachable();
}

SHIELD_EXPORT void _Exit(int status)
{
	at_exit();
	REAL(_Exit)(status);
	__builtin_unreachable();
}

static int main_wrapper(int argc, char **argv, char **envp)
{
	/* registered after libc's own handlers (rtld_fini) and the program's
	 * constructors, so it runs before them: libcrypto is still there */
	if (atexit(at_exit) != 0)
		shield_die("launch: atexit failed");
	return program_main(argc, argv, envp);
}

SHIELD_EXPORT int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv,
				    int (*init)(int, char **, char **), void (*fini)(void),
				    void (*rtld_fini)(void), void *stack_end)
{
	static struct launch l;

	read_launch(&l);
	keep_launch_env();
	if (l.session != NULL)
		cas_mode(&l, &argc, &argv);
	else
		embedded(&l);
	if (pthread_atfork(NULL, NULL, child_after_fork) != 0)
		shield_die("launch: pthread_atfork failed");
	program_main = main;
	self_pid = getpid();
	return REAL(__libc_start_main)(main_wrapper, argc, argv, init, fini, rtld_fini,
				       stack_end);
}
