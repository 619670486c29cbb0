/* libFuzzer target: the shield's path resolution, shield_resolve (docs/shield.md §2;
 * src/shield/mount.c; contract in src/shield/shield.h; STYLE.md rule 17).
 *
 * Input: byte 0 picks where a relative path starts (table `bases` below: the
 * kernel's working directory, a virtual one inside a mount, host directory
 * descriptors short and deep, protected directory descriptors, a closed
 * descriptor, a regular file); the rest, up to its first NUL, is the path, copied
 * into a buffer of exactly its size so ASan sees any read beyond it.
 *
 * Each result is compared with a reference resolver written here (no fixed buffer:
 * components on a stack), and checked with abort():
 *   - "" is ENOENT; a relative path from a closed descriptor is EBADF;
 *   - a protected result names the longest mount that is a prefix of the lexical
 *     path at a component boundary, and its inner path is the rest: no leading or
 *     trailing '/', no empty, "." or ".." component;
 *   - an unprotected path from the kernel's view (absolute, or relative to the
 *     kernel's working directory or a host descriptor) is given back unchanged;
 *     one from a protected base (virtual working directory, protected
 *     descriptor) is made absolute ("/" for the root);
 *   - ENAMETOOLONG exactly when the lexical path reaches JOIN_MAX on the way
 *     (mount.c's join), when the path handed back (inner path, or an absolute
 *     path from a protected base) does not fit PATH_MAX, or when an unprotected
 *     path given back unchanged does not fit; never for anything else;
 *   - a relative path from a host descriptor whose path mount.c cannot learn
 *     (closed, or PATH_MAX or more deep) goes to the kernel unchanged.
 *
 * Mounts are registered with a NULL volume (nothing here opens a file in them).
 * Only mount.o and real.o are linked: the descriptor table (fdtab.c) is replaced
 * by the two functions mount.c calls, over the harness's own protected directory
 * descriptors, and every reference mount.c takes must be dropped again. (fdtab.c
 * and log.c do not build with clang -Werror today, and launch.o must never be
 * linked: it defines __libc_start_main.)
 *
 * Seed generator: SHELTER_FUZZ_SEEDS=DIR ./fuzz_shield_path writes seeds into DIR
 * and exits (tests/fuzz/corpus/fuzz_shield_path). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shield/shield.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- protected directory descriptors: fdtab.c's two functions mount.c calls ---- */

#define JOIN_MAX (2 * PATH_MAX + 2) /* as mount.c */
#define NPROT 2
static struct shield_ofd g_ofd[NPROT];
static int g_ofd_fd[NPROT] = { -1, -1 };
static long g_refs; /* taken by shield_fd_get, not yet dropped */

struct shield_ofd *shield_fd_get(int fd)
{
	for (int i = 0; i < NPROT; i++) {
		if (fd >= 0 && g_ofd_fd[i] == fd) {
			g_refs++;
			return &g_ofd[i];
		}
	}
	return NULL;
}

void shield_ofd_put(struct shield_ofd *o)
{
	if (o == NULL)
		return;
	if (o < g_ofd || o >= g_ofd + NPROT || g_refs <= 0)
		abort(); /* not one of ours, or dropped twice */
	g_refs--;
}

/* ---- scratch directory, with host directories deeper than PATH_MAX ---- */

#define DEEP_COMPONENT 250
#define DEEP_LEVELS 24

static char g_base[256];          /* the harness's temporary directory */
static char g_deep[DEEP_LEVELS * (DEEP_COMPONENT + 1) + 300]; /* path of the deepest */
static int g_level_fd[DEEP_LEVELS + 1]; /* [0] = g_base, [i] = level i */
static int g_levels;
static char g_component[DEEP_COMPONENT + 1];

static void cleanup(void)
{
	if (g_base[0] == '\0')
		return;
	for (int i = g_levels; i > 0; i--) {
		unlinkat(g_level_fd[i - 1], g_component, AT_REMOVEDIR);
		close(g_level_fd[i]);
	}
	g_levels = 0;
	{
		char f[300];

		snprintf(f, sizeof(f), "%s/file", g_base);
		unlink(f);
	}
	rmdir(g_base);
	g_base[0] = '\0';
}

static __attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_shield_path: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup(); /* libFuzzer's crash path skips atexit */
	abort();
}

static void make_base(void)
{
	const char *roots[3] = { "/dev/shm", getenv("TMPDIR"), "/tmp" };

	for (int i = 0; i < 3; i++) {
		if (roots[i] == NULL || access(roots[i], W_OK) != 0)
			continue;
		snprintf(g_base, sizeof(g_base), "%s/shelter-fuzz_shield_path-XXXXXX", roots[i]);
		if (mkdtemp(g_base) != NULL) {
			atexit(cleanup);
			return;
		}
	}
	g_base[0] = '\0';
	die("no writable temporary directory");
}

/* Host directories DEEP_COMPONENT-byte components deep, from g_base; the
 * descriptor of the deepest whose path is shorter than limit, and the path in out. */
static int deep_dir(size_t limit, char *out)
{
	int best = -1;
	size_t len;

	if (g_levels == 0) {
		memset(g_component, 'd', DEEP_COMPONENT);
		g_level_fd[0] = open(g_base, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (g_level_fd[0] < 0)
			die("open %s", g_base);
		for (int i = 1; i <= DEEP_LEVELS; i++) {
			if (mkdirat(g_level_fd[i - 1], g_component, 0700) < 0 ||
			    (g_level_fd[i] = openat(g_level_fd[i - 1], g_component,
						    O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
				die("deep directory level %d: %s", i, strerror(errno));
			g_levels = i;
		}
	}
	strcpy(out, g_base);
	len = strlen(out);
	for (int i = 1; i <= DEEP_LEVELS; i++) {
		if (len + 1 + DEEP_COMPONENT >= limit)
			break;
		out[len++] = '/';
		memcpy(out + len, g_component, DEEP_COMPONENT);
		len += DEEP_COMPONENT;
		out[len] = '\0';
		best = g_level_fd[i];
	}
	if (best < 0)
		die("deep directory: base too long");
	return best;
}

/* ---- the fixture: mounts and the bases a relative path can start from ---- */

/* registered as given, expected normalised as in the second column */
static const char *const mounts[][2] = {
	{ "//data/", "/data" },
	{ "/data/sub/./deep", "/data/sub/deep" },
	{ "/m", "/m" },
	{ "/mx/../mx/y", "/mx/y" },
	{ "/a/b/c", "/a/b/c" },
};
#define NMOUNTS (sizeof(mounts) / sizeof(mounts[0]))

enum base_kind {
	BASE_KERNEL,    /* AT_FDCWD, the kernel's working directory */
	BASE_VIRTUAL,   /* AT_FDCWD, a virtual working directory inside a mount */
	BASE_HOST_FD,   /* a host directory descriptor: the kernel's view */
	BASE_PROT_FD,   /* a protected directory descriptor */
	BASE_BAD_FD,    /* a closed descriptor */
	BASE_TOO_DEEP,  /* a host directory whose path is PATH_MAX or longer */
};

struct base {
	enum base_kind kind;
	int fd;
	size_t mount;   /* BASE_VIRTUAL: the mount, and inner its path inside */
	char *inner;
	char *path;     /* the absolute directory (reference), NULL for BAD_FD */
};

static struct base bases[10];
#define NBASES (sizeof(bases) / sizeof(bases[0]))


static char *dupe(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		die("out of memory");
	return d;
}

static char *joined(const char *a, const char *b)
{
	char *s = NULL;

	if (asprintf(&s, "%s%s%s", a, b[0] != '\0' ? "/" : "", b) < 0)
		die("out of memory");
	return s;
}

/* Protected directory descriptor k: mount i at inner (a real descriptor number,
 * as a placeholder is). */
static int protected_dir(int k, size_t i, const char *inner)
{
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die("open /: %s", strerror(errno));
	g_ofd[k].m = shield_mount_get(i);
	g_ofd[k].path = dupe(inner);
	g_ofd[k].flags = O_RDONLY | O_DIRECTORY;
	g_ofd_fd[k] = fd;
	return fd;
}

static void setup(void)
{
	static char cwd[PATH_MAX], deep[sizeof(g_deep)], longer[PATH_MAX];
	struct shelter_err err;
	size_t n;
	int fd;

	for (size_t i = 0; i < NMOUNTS; i++) {
		shelter_err_clear(&err);
		if (shield_mount_add(mounts[i][0], mounts[i][1], "/tmp", NULL, &err) != 0)
			die("mount %s: %s", mounts[i][0], err.msg);
		if (strcmp(shield_mount_get(i)->path, mounts[i][1]) != 0)
			die("mount %s normalised to %s", mounts[i][0], shield_mount_get(i)->path);
	}
	if (shield_mount_add("/data/", "x", "/tmp", NULL, &err) != SHELTER_E_EXIST ||
	    shield_mount_add("/..", "x", "/tmp", NULL, &err) != SHELTER_E_INVAL ||
	    shield_mount_add("rel", "x", "/tmp", NULL, &err) != SHELTER_E_INVAL)
		die("shield_mount_add accepted a twice-mounted, root or relative path");

	make_base();
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		die("getcwd");

	bases[0] = (struct base){ BASE_KERNEL, AT_FDCWD, 0, NULL, dupe(cwd) };
	bases[1] = (struct base){ BASE_VIRTUAL, AT_FDCWD, 0, dupe("sub"), dupe("/data/sub") };
	bases[2] = (struct base){ BASE_VIRTUAL, AT_FDCWD, 2, dupe(""), dupe("/m") };
	fd = open(g_base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bases[3] = (struct base){ BASE_HOST_FD, fd, 0, NULL, dupe(g_base) };
	/* a path of ~PATH_MAX - 150: short relative paths go past PATH_MAX */
	fd = deep_dir(PATH_MAX - 150, deep);
	bases[4] = (struct base){ BASE_HOST_FD, fd, 0, NULL, dupe(deep) };
	bases[5] = (struct base){ BASE_PROT_FD, protected_dir(0, 0, "sub/dir"), 0, NULL,
				  dupe("/data/sub/dir") };
	/* inside /m, ~PATH_MAX - 100 long */
	n = 0;
	while (n + 11 < PATH_MAX - 100) {
		memcpy(longer + n, "long-name/", 10);
		n += 10;
	}
	longer[n - 1] = '\0';
	bases[6] = (struct base){ BASE_PROT_FD, protected_dir(1, 2, longer), 0, NULL,
				  joined("/m", longer) };
	fd = 1 << 19; /* far above anything open here */
	if (fcntl(fd, F_GETFD) != -1)
		die("descriptor %d is open", fd);
	bases[7] = (struct base){ BASE_BAD_FD, fd, 0, NULL, NULL };
	fd = deep_dir(sizeof(g_deep), g_deep);
	if (strlen(g_deep) < PATH_MAX)
		die("deepest directory is only %zu bytes", strlen(g_deep));
	bases[8] = (struct base){ BASE_TOO_DEEP, fd, 0, NULL, dupe(g_deep) };
	{
		char f[300];

		snprintf(f, sizeof(f), "%s/file", g_base);
		fd = open(f, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		/* a regular file: /proc names it; the kernel then says ENOTDIR */
		bases[9] = (struct base){ BASE_HOST_FD, fd, 0, NULL, dupe(f) };
	}
	for (size_t i = 0; i < NBASES; i++)
		if (bases[i].kind != BASE_BAD_FD && bases[i].kind != BASE_VIRTUAL &&
		    bases[i].fd < 0 && bases[i].fd != AT_FDCWD)
			die("base %zu: no descriptor", i);
}

/* ---- the reference resolver ---- */

/* base, then rel, lexically, with no length limit: the normalised path ("" for
 * the root; malloc'ed) and in *peak the longest it was on the way. */
static char *ref_norm(const char *base, const char *rel, size_t *peak)
{
	size_t cap = strlen(base) + strlen(rel) + 2, len = 0, depth = 0;
	char *out = malloc(cap);
	size_t *starts = malloc(cap * sizeof(*starts));
	const char *parts[2] = { base, rel };

	if (out == NULL || starts == NULL)
		die("out of memory");
	*peak = 0;
	for (int i = 0; i < 2; i++) {
		for (const char *p = parts[i]; *p != '\0';) {
			const char *e;
			size_t n;

			while (*p == '/')
				p++;
			for (e = p; *e != '\0' && *e != '/'; e++)
				;
			n = (size_t)(e - p);
			if (n == 0 || (n == 1 && p[0] == '.')) {
				/* nothing */
			} else if (n == 2 && p[0] == '.' && p[1] == '.') {
				if (depth > 0)
					len = starts[--depth];
			} else {
				starts[depth++] = len;
				out[len++] = '/';
				memcpy(out + len, p, n);
				len += n;
				if (len > *peak)
					*peak = len;
			}
			p = e;
		}
	}
	out[len] = '\0';
	free(starts);
	return out;
}

/* The longest mount path that is abs or a component-wise prefix of it; -1: none. */
static int ref_mount(const char *abs)
{
	int best = -1;

	for (size_t i = 0; i < NMOUNTS; i++) {
		const char *m = mounts[i][1];
		size_t n = strlen(m);

		if (strncmp(abs, m, n) == 0 && (abs[n] == '\0' || abs[n] == '/') &&
		    (best < 0 || n > strlen(mounts[best][1])))
			best = (int)i;
	}
	return best;
}

static void check_inner(const char *in)
{
	size_t n = strlen(in);

	if (n == 0)
		return;
	if (in[0] == '/' || in[n - 1] == '/' || strstr(in, "//") != NULL)
		die("inner path '%s' has an empty component", in);
	for (const char *p = in; *p != '\0';) {
		const char *e = strchrnul(p, '/');
		size_t c = (size_t)(e - p);

		if ((c == 1 && p[0] == '.') || (c == 2 && p[0] == '.' && p[1] == '.'))
			die("inner path '%s' has a '.' or '..' component", in);
		p = *e == '/' ? e + 1 : e;
	}
}

/* ---- the target ---- */

static void check(const struct base *b, const char *path)
{
	static struct shield_path out;
	size_t peak = 0, plen = strlen(path);
	int rel = path[0] != '/' && path[0] != '\0';
	int virt = rel && (b->kind == BASE_VIRTUAL || b->kind == BASE_PROT_FD);
	char *abs = NULL;
	int rc, e, mi;

	memset(&out, 0x5a, sizeof(out));
	errno = 0;
	rc = shield_resolve(b->fd, path, &out);
	e = errno;
	if (g_refs != 0)
		die("'%s': %ld descriptor reference(s) not dropped", path, g_refs);

	if (path[0] == '\0') {
		if (rc != -1 || e != ENOENT)
			die("\"\" gave %d errno %d, not ENOENT", rc, e);
		return;
	}
	if (rel && (b->kind == BASE_BAD_FD || b->kind == BASE_TOO_DEEP)) {
		/* mount.c cannot learn where the descriptor points (closed, or a
		 * directory PATH_MAX or more deep): the path goes to the kernel as it
		 * is, which answers exactly as it would without the shield */
		if (plen < PATH_MAX ? rc != 0 || out.m != NULL || strcmp(out.path, path) != 0
				    : rc != -1 || e != ENAMETOOLONG)
			die("relative path from an unknown host directory gave %d errno %d", rc, e);
		return;
	}
	abs = ref_norm(rel ? b->path : "", path, &peak);
	mi = ref_mount(abs);

	if (peak >= JOIN_MAX) {
		/* mount.c's join holds a base and a relative path (each under PATH_MAX)
		 * before ".." shortens them; only a path of PATH_MAX or more gets here */
		if (rc != -1 || e != ENAMETOOLONG)
			die("lexical path of %zu bytes gave %d errno %d, not ENAMETOOLONG", peak,
			    rc, e);
		free(abs);
		return;
	}
	if (mi >= 0 && strlen(abs + strlen(mounts[mi][1]) + (abs[strlen(mounts[mi][1])] == '/')) >=
			       PATH_MAX) {
		if (rc != -1 || e != ENAMETOOLONG)
			die("protected inner path too long gave %d errno %d", rc, e);
		free(abs);
		return;
	}
	if (mi < 0 && virt && strlen(abs) >= PATH_MAX) {
		if (rc != -1 || e != ENAMETOOLONG)
			die("absolute path from a protected base too long gave %d errno %d", rc, e);
		free(abs);
		return;
	}
	if (mi >= 0) {
		size_t n = strlen(mounts[mi][1]);
		const char *inner = abs[n] == '/' ? abs + n + 1 : abs + n;

		if (rc != 1 || out.m != shield_mount_get((size_t)mi))
			die("'%s' (lexically %s) gave %d, mount %s, not mount %s", path, abs, rc,
			    rc == 1 ? out.m->path : "-", mounts[mi][1]);
		if (strcmp(out.path, inner) != 0)
			die("'%s' in %s: inner path '%s', want '%s'", path, mounts[mi][1], out.path,
			    inner);
		check_inner(out.path);
	} else if (virt) {
		const char *want = abs[0] != '\0' ? abs : "/";

		if (rc != 0 || out.m != NULL || strcmp(out.path, want) != 0)
			die("'%s' from protected %s gave %d '%s', want 0 '%s'", path, b->path, rc,
			    rc == 0 ? out.path : "", want);
	} else if (plen >= PATH_MAX) {
		if (rc != -1 || e != ENAMETOOLONG)
			die("unprotected path of %zu bytes gave %d errno %d", plen, rc, e);
	} else {
		if (rc != 0 || out.m != NULL || strcmp(out.path, path) != 0)
			die("unprotected '%s' gave %d '%s', not itself", path, rc,
			    rc == 0 ? out.path : "");
	}
	free(abs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct base *b;
	struct shield_path p;
	size_t n;
	char *path;

	if (size == 0)
		return 0;
	b = &bases[data[0] % NBASES];
	n = strnlen((const char *)data + 1, size - 1);
	path = malloc(n + 1); /* exactly the path: ASan sees a read past it */
	if (path == NULL)
		die("out of memory");
	memcpy(path, data + 1, n);
	path[n] = '\0';
	if (b->kind == BASE_VIRTUAL) {
		p.m = shield_mount_get(b->mount);
		strcpy(p.path, b->inner);
		if (shield_chdir(&p) != 0)
			die("chdir into %s", b->path);
	}
	check(b, path);
	if (b->kind == BASE_VIRTUAL) {
		p.m = NULL; /* back to the kernel's working directory */
		shield_chdir(&p);
	}
	free(path);
	return 0;
}

/* ---- seeds ---- */

static void seed(const char *dir, const char *name, int base, const char *path)
{
	char file[4096];
	FILE *f;

	snprintf(file, sizeof(file), "%s/%s", dir, name);
	f = fopen(file, "wb");
	if (f == NULL || fputc(base, f) == EOF || fputs(path, f) == EOF || fclose(f) != 0)
		die("write seed %s", file);
}

static void generate(const char *dir)
{
	static const char *const paths[] = {
		"/data/x", "//data/./x//y/", "/data/sub/deep/z", "/data/sub/deeper", "/mx",
		"/mx/y/../y/q", "/m/../data/..", "/../../m", "/a/b", "/a/b/c/d/e/",
		"x/y", "../../..", "./deep/a", "../sub/deep/../deep/k", "..", ".", "a//b/./c/..",
		"../../../../../../../../../../data/q", "sub/deep", "/data\0/x",
	};
	char name[64], *big;
	size_t bn = PATH_MAX + 200;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		snprintf(name, sizeof(name), "p%02zu", i);
		seed(dir, name, (int)(i % NBASES), paths[i]);
	}
	/* longer than PATH_MAX: a long absolute one that shrinks, and one that does not */
	big = malloc(bn + 1);
	if (big == NULL)
		die("out of memory");
	memset(big, '/', bn);
	memcpy(big, "/data", 5);
	memcpy(big + bn - 2, "/z", 2);
	big[bn] = '\0';
	seed(dir, "long-slashes", 0, big);
	memset(big, 'a', bn);
	big[0] = '/';
	seed(dir, "long-name", 0, big);
	for (size_t i = 0; i + 3 < bn; i += 3)
		memcpy(big + i, "../", 3);
	seed(dir, "long-dotdot", 4, big);
	free(big);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SHELTER_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	if (dir != NULL) {
		generate(dir);
		exit(0);
	}
	setup();
	return 0;
}
