/* Mounts, path resolution and the working directory (docs/shield.md §2).
 *
 * A path is protected when, made absolute and with "." and ".." applied
 * lexically, it is a mount path or lies below one. The kernel never sees a
 * protected path, so it cannot resolve symbolic links on the way; resolving
 * lexically is what the program's own view of the tree (a mount it chdir()ed
 * into, a protected directory descriptor) needs, and a host symlink that points
 * into a mount path is not followed into the volume (§2.2).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shield/shield.h"

#define MOUNTS_MAX 64
/* A base directory (< PATH_MAX) joined with a relative path (< PATH_MAX) fits
 * here before ".." shortens it: the result is classified first and only then
 * held to PATH_MAX, so a host path the kernel accepts is never refused. */
#define JOIN_MAX (2 * PATH_MAX + 2)

static struct shield_mount mounts[MOUNTS_MAX];
static size_t nmounts;

/* The working directory. Only chdir/fchdir change it, and the shield interposes
 * both, so the kernel's is cached here instead of asked for on every relative
 * path; vcwd is set while the program's working directory is inside a mount. */
static pthread_rwlock_t cwd_lock = PTHREAD_RWLOCK_INITIALIZER;
static char kcwd[PATH_MAX];
static int kcwd_known;
static char vcwd[PATH_MAX];
static int vcwd_set;

/* Append component [c, c+n) to the normalised absolute path out (length *len). */
static int push(char *out, size_t *len, const char *c, size_t n)
{
	if (n == 0 || (n == 1 && c[0] == '.'))
		return 0;
	if (n == 2 && c[0] == '.' && c[1] == '.') {
		while (*len > 0 && out[*len - 1] != '/')
			(*len)--;
		if (*len > 0)
			(*len)--; /* the '/' before it; "/.." stays "/" */
		out[*len] = '\0';
		return 0;
	}
	if (*len + 1 + n >= JOIN_MAX)
		return -1;
	out[(*len)++] = '/';
	memcpy(out + *len, c, n);
	*len += n;
	out[*len] = '\0';
	return 0;
}

/* out (JOIN_MAX bytes) = base + "/" + rel, normalised; base absolute (or "" for
 * the root). */
static int join(const char *base, const char *rel, char *out)
{
	size_t len = 0;
	const char *parts[2] = { base, rel };

	out[0] = '\0';
	for (int i = 0; i < 2; i++) {
		const char *p = parts[i];

		while (*p != '\0') {
			const char *e = strchrnul(p, '/');

			if (push(out, &len, p, (size_t)(e - p)) < 0)
				return -1;
			p = *e == '/' ? e + 1 : e;
		}
	}
	return 0;
}

int shield_mount_add(const char *path, const char *name, const char *host,
		     struct shelter_volume *vol, struct shelter_err *err)
{
	char norm[JOIN_MAX];
	struct shield_mount *m;
	struct stat st;

	if (path[0] != '/' || join("", path, norm) < 0 || norm[0] == '\0' || strlen(norm) >= PATH_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "mount path '%s': must be absolute and not '/'", path);
	for (size_t i = 0; i < nmounts; i++)
		if (strcmp(mounts[i].path, norm) == 0)
			return shelter_err_set(err, SHELTER_E_EXIST, "mount path '%s': mounted twice",
					       norm);
	if (nmounts == MOUNTS_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "mount path '%s': more than %d mounts",
				       norm, MOUNTS_MAX);
	m = &mounts[nmounts];
	m->placeholder_dir = REAL(open)(host, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (m->placeholder_dir < 0 || fstat(m->placeholder_dir, &st) < 0)
		return shelter_err_errno(err, errno, "mount '%s': host directory '%s'", norm, host);
	m->path = strdup(norm);
	m->name = strdup(name);
	m->host = strdup(host);
	if (m->path == NULL || m->name == NULL || m->host == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "mount '%s'", norm);
	m->len = strlen(norm);
	m->dev = st.st_dev;
	m->vol = vol;
	nmounts++;
	return 0;
}

size_t shield_mount_count(void)
{
	return nmounts;
}

struct shield_mount *shield_mount_get(size_t i)
{
	return i < nmounts ? &mounts[i] : NULL;
}

/* The mount abs lies in (the longest match), with *inner pointing at the rest. */
static struct shield_mount *match(const char *abs, const char **inner)
{
	struct shield_mount *best = NULL;

	for (size_t i = 0; i < nmounts; i++) {
		struct shield_mount *m = &mounts[i];

		if (strncmp(abs, m->path, m->len) == 0 &&
		    (abs[m->len] == '\0' || abs[m->len] == '/') && (best == NULL || m->len > best->len))
			best = m;
	}
	if (best != NULL)
		*inner = abs[best->len] == '/' ? abs + best->len + 1 : abs + best->len;
	return best;
}

static int kernel_cwd(char *out)
{
	int rc = 0;

	pthread_rwlock_rdlock(&cwd_lock);
	if (kcwd_known)
		memcpy(out, kcwd, strlen(kcwd) + 1);
	pthread_rwlock_unlock(&cwd_lock);
	if (kcwd_known)
		return 0;
	pthread_rwlock_wrlock(&cwd_lock);
	if (REAL(getcwd)(kcwd, sizeof(kcwd)) == NULL) {
		rc = -1;
	} else {
		kcwd_known = 1;
		memcpy(out, kcwd, strlen(kcwd) + 1);
	}
	pthread_rwlock_unlock(&cwd_lock);
	return rc;
}

/* The absolute directory a relative path starts from; 1 when it is a virtual
 * (protected) one, 0 for the kernel's, -1 with errno. */
static int base_of(int dirfd, char *base)
{
	if (dirfd == AT_FDCWD) {
		int virt;

		pthread_rwlock_rdlock(&cwd_lock);
		virt = vcwd_set;
		if (virt)
			memcpy(base, vcwd, strlen(vcwd) + 1);
		pthread_rwlock_unlock(&cwd_lock);
		if (virt)
			return 1;
		return kernel_cwd(base) < 0 ? 2 : 0; /* deleted or too deep: the kernel's */
	}
	struct shield_ofd *o = shield_fd_get(dirfd);
	if (o != NULL) {
		int rc = join(o->m->path, o->path, base);

		shield_ofd_put(o);
		if (rc < 0)
			errno = ENAMETOOLONG;
		return rc < 0 ? -1 : 1;
	}
	/* A host directory: its path, when the kernel can tell it. When it cannot
	 * (deeper than PATH_MAX, not a directory, not open), the path is left to the
	 * kernel, which answers exactly as it would without the shield. */
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	ssize_t n = readlink(link, base, PATH_MAX - 1);
	if (n <= 0 || n >= PATH_MAX - 1 || base[0] != '/')
		return 2;
	base[n] = '\0';
	return 0;
}

int shield_resolve(int dirfd, const char *path, struct shield_path *out)
{
	char base[JOIN_MAX], abs[JOIN_MAX];
	const char *inner;
	int virt = 0;

	out->m = NULL;
	if (path == NULL) {
		errno = EFAULT;
		return -1;
	}
	if (path[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (nmounts == 0)
		goto unprotected;
	if (path[0] == '/') {
		base[0] = '\0';
	} else {
		virt = base_of(dirfd, base);
		if (virt < 0)
			return -1;
		if (virt == 2)
			goto unprotected;
	}
	if (join(base, path, abs) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	out->m = match(abs, &inner);
	if (out->m != NULL || virt) {
		/* protected, or relative to a protected directory but outside every
		 * mount: the path the caller gets must fit */
		const char *res = out->m != NULL ? inner : abs[0] != '\0' ? abs : "/";

		if (strlen(res) >= sizeof(out->path)) {
			out->m = NULL;
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(out->path, res, strlen(res) + 1);
		return out->m != NULL;
	}
unprotected:
	if (strlen(path) >= sizeof(out->path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out->path, path, strlen(path) + 1);
	return 0;
}

int shield_chdir(const struct shield_path *p)
{
	char abs[JOIN_MAX];

	if (p->m == NULL) { /* the kernel's changed: forget the cache */
		pthread_rwlock_wrlock(&cwd_lock);
		vcwd_set = 0;
		kcwd_known = 0;
		pthread_rwlock_unlock(&cwd_lock);
		return 0;
	}
	if (join(p->m->path, p->path, abs) < 0 || strlen(abs) >= sizeof(vcwd)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	pthread_rwlock_wrlock(&cwd_lock);
	memcpy(vcwd, abs, strlen(abs) + 1);
	vcwd_set = 1;
	pthread_rwlock_unlock(&cwd_lock);
	return 0;
}

char *shield_getcwd_virtual(char *buf, size_t size)
{
	char *r = NULL;

	pthread_rwlock_rdlock(&cwd_lock);
	if (!vcwd_set)
		errno = ENOENT;
	else if (strlen(vcwd) + 1 > size)
		errno = ERANGE;
	else
		r = memcpy(buf, vcwd, strlen(vcwd) + 1);
	pthread_rwlock_unlock(&cwd_lock);
	return r;
}

int shield_cwd_is_virtual(void)
{
	int v;

	pthread_rwlock_rdlock(&cwd_lock);
	v = vcwd_set;
	pthread_rwlock_unlock(&cwd_lock);
	return v;
}
