/* Directories of protected volumes (docs/shield.md §4).
 *
 * glibc's opendir opens with internal calls and its readdir fills the stream from
 * getdents64 on the descriptor; for a protected directory the descriptor is a
 * placeholder and the entries live in the volume. So for a protected directory the
 * shield opens it with its own interposed open (a placeholder whose ofd has
 * file == NULL), takes a snapshot of the listing from the volume, and hands out its
 * own struct shield_dir cast to DIR *. The registry (stdio.h) tells these handles
 * from glibc's in every function that takes a DIR *; glibc's go to libc unchanged.
 *
 * Entries: "." and ".." first, as the kernel lists them, then the volume's names
 * in name order; d_ino is the volume's inode number (what the shield's stat
 * reports), d_off the position of the next entry (telldir/seekdir use the same
 * positions). At the volume root ".." carries the root's own number, as at the
 * root of a chroot: what lies above the mount is not part of the volume.
 * The snapshot is taken at opendir and again at rewinddir (POSIX: rewinddir shows
 * the directory's current state); names created later are not seen before that.
 *
 * getdents64 on a protected directory descriptor is served from a fresh snapshot
 * each call, with the ofd's offset as the entry position (lseek(fd, 0, SEEK_SET)
 * starts again).
 *
 * Layout: on x86-64 (LP64) glibc's struct dirent and struct dirent64 are the same
 * structure (readdir64 is an alias of readdir); the asserts below hold the file
 * to that, so one struct dirent64 serves both families.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shield/shield.h"
#include "shield/stdio.h"

_Static_assert(sizeof(struct dirent) == sizeof(struct dirent64) &&
		       offsetof(struct dirent, d_ino) == offsetof(struct dirent64, d_ino) &&
		       offsetof(struct dirent, d_off) == offsetof(struct dirent64, d_off) &&
		       offsetof(struct dirent, d_reclen) == offsetof(struct dirent64, d_reclen) &&
		       offsetof(struct dirent, d_type) == offsetof(struct dirent64, d_type) &&
		       offsetof(struct dirent, d_name) == offsetof(struct dirent64, d_name),
	       "dir.c serves struct dirent and struct dirent64 from one layout (LP64 glibc)");
_Static_assert(SHELTER_VOLUME_NAME_MAX < sizeof(((struct dirent64 *)0)->d_name),
	       "every volume name fits d_name");

/* The kernel's record length (fs/readdir.c): header, name, NUL, 8-byte aligned. */
#define DIRENT_RECLEN(namelen) \
	((offsetof(struct dirent64, d_name) + (namelen) + 1 + 7) & ~(size_t)7)

struct dent {
	uint64_t ino;
	unsigned char type;
	char *name;
};

struct listing {
	struct dent *ents;
	size_t count;
	size_t cap;
};

struct shield_dir {
	pthread_mutex_t lock;  /* pos, list, cur: glibc locks its streams too */
	int fd;                /* owned: closedir closes it */
	struct shield_mount *m;
	char *path;            /* inside the volume */
	struct listing list;
	size_t pos;            /* next entry */
	struct dirent64 cur;   /* what readdir returned last (valid until the next) */
};

static struct shield_ptrmap dirs;

/* ---- listings ------------------------------------------------------------------- */

static unsigned char dirent_type(uint32_t type)
{
	switch (type) {
	case SHELTER_FT_REG:
		return DT_REG;
	case SHELTER_FT_DIR:
		return DT_DIR;
	case SHELTER_FT_LNK:
		return DT_LNK;
	default:
		return DT_UNKNOWN;
	}
}

static int listing_add(struct listing *l, const char *name, uint64_t ino, unsigned char type)
{
	char *copy;

	if (l->count == l->cap) {
		size_t cap = l->cap != 0 ? l->cap * 2 : 16;
		struct dent *ents = realloc(l->ents, cap * sizeof(*ents));

		if (ents == NULL)
			return -1;
		l->ents = ents;
		l->cap = cap;
	}
	copy = strdup(name);
	if (copy == NULL)
		return -1;
	l->ents[l->count++] = (struct dent){ .ino = ino, .type = type, .name = copy };
	return 0;
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->ents[i].name);
	free(l->ents);
	memset(l, 0, sizeof(*l));
}

static int listing_entry(void *ctx, const char *name, const struct shelter_stat *st)
{
	return listing_add(ctx, name, st->ino, dirent_type(st->type)) == 0 ? 0 : SHELTER_E_NOMEM;
}

/* The parent of a path inside the volume ("" for the root and its children). */
static void parent_path(const char *path, char *out, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash != NULL ? (size_t)(slash - path) : 0;

	if (len >= size)
		len = 0;
	memcpy(out, path, len);
	out[len] = '\0';
}

/* A snapshot of path's entries into out (empty on entry). 0 or an errno value. */
static int listing_load(struct shield_mount *m, const char *path, struct listing *out)
{
	struct shelter_err err;
	struct shelter_stat self, up;
	char parent[PATH_MAX];
	int rc, e = 0;

	shelter_err_clear(&err);
	rc = shelter_volume_stat(m->vol, path, &self, &err);
	if (rc == 0 && self.type != SHELTER_FT_DIR)
		rc = SHELTER_E_NOTDIR;
	if (rc == 0) {
		parent_path(path, parent, sizeof(parent));
		rc = shelter_volume_stat(m->vol, parent, &up, &err);
	}
	if (rc != 0)
		goto out;
	if (listing_add(out, ".", self.ino, DT_DIR) != 0 ||
	    listing_add(out, "..", path[0] != '\0' ? up.ino : self.ino, DT_DIR) != 0) {
		e = ENOMEM;
		goto out;
	}
	rc = shelter_volume_readdir(m->vol, path, listing_entry, out, &err);
out:
	if (rc != 0)
		e = shield_errno(rc, "readdir", m->path, path, &err);
	if (e != 0)
		listing_free(out);
	return e;
}

/* Entry i of l as the kernel would return it (name NUL-terminated, the rest of
 * d_name left as it was: readdir_r's caller may pass a shorter buffer). */
static void dent_fill(const struct listing *l, size_t i, struct dirent64 *out)
{
	const struct dent *e = &l->ents[i];
	size_t len = strlen(e->name);

	out->d_ino = e->ino;
	out->d_off = (off64_t)(i + 1);
	out->d_reclen = (unsigned short)DIRENT_RECLEN(len);
	out->d_type = e->type;
	memcpy(out->d_name, e->name, len + 1);
}

/* ---- handles -------------------------------------------------------------------- */

static void dir_free(struct shield_dir *d)
{
	if (d == NULL)
		return;
	listing_free(&d->list);
	pthread_mutex_destroy(&d->lock);
	free(d->path);
	free(d);
}

/* A handle over the protected directory descriptor fd (not registered; fd stays
 * the caller's until the handle is). NULL with errno. */
static struct shield_dir *dir_new(int fd)
{
	struct shield_ofd *o = shield_fd_get(fd);
	struct shield_dir *d = NULL, *ret = NULL;
	int e = 0;

	if (o == NULL) {
		e = EBADF;
		goto out;
	}
	if (o->flags & O_PATH) { /* the kernel's getdents64 refuses it too */
		e = EBADF;
		goto out;
	}
	if (o->file != NULL) {
		e = ENOTDIR;
		goto out;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		e = ENOMEM;
		goto out;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->fd = fd;
	d->m = o->m;
	d->path = strdup(o->path);
	if (d->path == NULL) {
		e = ENOMEM;
		goto out;
	}
	e = listing_load(d->m, d->path, &d->list);
	if (e == 0) {
		ret = d;
		d = NULL;
	}
out:
	if (o != NULL)
		shield_ofd_put(o);
	dir_free(d);
	if (ret == NULL)
		errno = e;
	return ret;
}

/* The DIR * for fd, registered; on failure fd stays the caller's. */
static DIR *dir_open_fd(int fd)
{
	struct shield_dir *d = dir_new(fd);

	if (d == NULL)
		return NULL;
	if (shield_ptrmap_put(&dirs, d, d) != 0) {
		dir_free(d);
		errno = ENOMEM;
		return NULL;
	}
	return (DIR *)d;
}

static void close_keep_errno(int fd)
{
	int saved = errno;

	(void)close(fd);
	errno = saved;
}

static struct shield_dir *dir_get(DIR *dirp)
{
	return dirp != NULL ? shield_ptrmap_get(&dirs, dirp) : NULL;
}

/* The next entry into out, or NULL at the end (errno untouched, as readdir(3)). */
static struct dirent64 *dir_next(struct shield_dir *d, struct dirent64 *out)
{
	struct dirent64 *e = NULL;

	pthread_mutex_lock(&d->lock);
	if (d->pos < d->list.count) {
		dent_fill(&d->list, d->pos++, out);
		e = out;
	}
	pthread_mutex_unlock(&d->lock);
	return e;
}

/* ---- the interposed functions ---------------------------------------------------- */

SHIELD_EXPORT DIR *opendir(const char *path)
{
	struct shield_path p;
	DIR *dirp;
	int r, fd;

	r = shield_resolve(AT_FDCWD, path, &p);
	if (r < 0)
		return NULL;
	if (r == 0)
		return REAL(opendir)(p.path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	dirp = dir_open_fd(fd);
	if (dirp == NULL)
		close_keep_errno(fd);
	return dirp;
}

SHIELD_EXPORT DIR *fdopendir(int fd)
{
	if (!shield_fd_is_protected(fd))
		return REAL(fdopendir)(fd);
	return dir_open_fd(fd);
}

SHIELD_EXPORT int closedir(DIR *dirp)
{
	struct shield_dir *d = shield_ptrmap_take(&dirs, dirp);
	int rc;

	if (d == NULL)
		return REAL(closedir)(dirp);
	rc = close(d->fd);
	dir_free(d);
	return rc;
}

SHIELD_EXPORT struct dirent *readdir(DIR *dirp)
{
	struct shield_dir *d = dir_get(dirp);

	if (d == NULL)
		return REAL(readdir)(dirp);
	return (struct dirent *)dir_next(d, &d->cur);
}

SHIELD_EXPORT struct dirent64 *readdir64(DIR *dirp)
{
	struct shield_dir *d = dir_get(dirp);

	if (d == NULL)
		return REAL(readdir64)(dirp);
	return dir_next(d, &d->cur);
}

/* readdir_r is deprecated in glibc's headers; programs still call it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
SHIELD_EXPORT int readdir_r(DIR *dirp, struct dirent *entry, struct dirent **result)
{
	struct shield_dir *d = dir_get(dirp);

	if (d == NULL)
		return REAL(readdir_r)(dirp, entry, result);
	*result = (struct dirent *)dir_next(d, (struct dirent64 *)entry);
	return 0;
}

SHIELD_EXPORT int readdir64_r(DIR *dirp, struct dirent64 *entry, struct dirent64 **result)
{
	struct shield_dir *d = dir_get(dirp);

	if (d == NULL)
		return REAL(readdir64_r)(dirp, entry, result);
	*result = dir_next(d, entry);
	return 0;
}
#pragma GCC diagnostic pop

SHIELD_EXPORT int dirfd(DIR *dirp)
{
	struct shield_dir *d = dir_get(dirp);

	return d != NULL ? d->fd : REAL(dirfd)(dirp);
}

/* A failed refresh keeps the old snapshot: rewinddir cannot report errors. */
SHIELD_EXPORT void rewinddir(DIR *dirp)
{
	struct shield_dir *d = dir_get(dirp);
	struct listing fresh = { 0 };
	int saved = errno, e;

	if (d == NULL) {
		REAL(rewinddir)(dirp);
		return;
	}
	e = listing_load(d->m, d->path, &fresh);
	errno = saved;
	pthread_mutex_lock(&d->lock);
	if (e == 0) {
		listing_free(&d->list);
		d->list = fresh;
	}
	d->pos = 0;
	pthread_mutex_unlock(&d->lock);
}

SHIELD_EXPORT long telldir(DIR *dirp)
{
	struct shield_dir *d = dir_get(dirp);
	long pos;

	if (d == NULL)
		return REAL(telldir)(dirp);
	pthread_mutex_lock(&d->lock);
	pos = (long)d->pos;
	pthread_mutex_unlock(&d->lock);
	return pos;
}

SHIELD_EXPORT void seekdir(DIR *dirp, long pos)
{
	struct shield_dir *d = dir_get(dirp);

	if (d == NULL) {
		REAL(seekdir)(dirp, pos);
		return;
	}
	pthread_mutex_lock(&d->lock);
	d->pos = pos < 0 ? 0 : (size_t)pos;
	pthread_mutex_unlock(&d->lock);
}

/* ---- scandir --------------------------------------------------------------------- */

typedef int (*filter_fn)(const struct dirent *);
typedef int (*filter64_fn)(const struct dirent64 *);
typedef int (*compar_fn)(const struct dirent **, const struct dirent **);
typedef int (*compar64_fn)(const struct dirent64 **, const struct dirent64 **);

/* The caller's functions, of one family or the other. */
struct scan_fns {
	filter_fn filter;
	filter64_fn filter64;
	compar_fn compar;
	compar64_fn compar64;
};

static int scan_keep(const struct scan_fns *f, const struct dirent64 *e)
{
	if (f->filter64 != NULL)
		return f->filter64(e);
	if (f->filter != NULL)
		return f->filter((const struct dirent *)e);
	return 1;
}

/* qsort_r calls this with pointers to array elements (struct dirent64 *). */
static int scan_cmp(const void *a, const void *b, void *arg)
{
	const struct scan_fns *f = arg;

	if (f->compar64 != NULL)
		return f->compar64((const struct dirent64 **)a, (const struct dirent64 **)b);
	return f->compar((const struct dirent **)a, (const struct dirent **)b);
}

static void scan_free(struct dirent64 **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* As glibc's scandir: every entry the filter keeps, each in its own malloc'd
 * struct (the caller frees each and the array), sorted by compar. */
static int scan_dir(struct shield_dir *d, const struct scan_fns *f, struct dirent64 ***out)
{
	struct dirent64 **v = NULL, ent;
	size_t n = 0, cap = 0;
	int e = errno, rc = -1; /* success leaves errno as it was, as glibc's */

	while (dir_next(d, &ent) != NULL) {
		if (!scan_keep(f, &ent))
			continue;
		if (n == cap) {
			size_t ncap = cap != 0 ? cap * 2 : 16;
			struct dirent64 **nv = realloc(v, ncap * sizeof(*nv));

			if (nv == NULL) {
				e = ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		v[n] = malloc(sizeof(**v));
		if (v[n] == NULL) {
			e = ENOMEM;
			goto out;
		}
		memcpy(v[n++], &ent, sizeof(ent));
	}
	if (n > INT_MAX) {
		e = EOVERFLOW;
		goto out;
	}
	if (f->compar != NULL || f->compar64 != NULL)
		qsort_r(v, n, sizeof(*v), scan_cmp, (void *)f);
	*out = v;
	v = NULL;
	rc = (int)n;
out:
	if (v != NULL)
		scan_free(v, n);
	errno = e;
	return rc;
}

static int scan_protected(int dirfd, const char *path, const struct scan_fns *f,
			  struct dirent64 ***out)
{
	struct shield_dir *d;
	int fd, n;

	fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = dir_new(fd);
	n = d != NULL ? scan_dir(d, f, out) : -1;
	dir_free(d);
	close_keep_errno(fd);
	return n;
}

SHIELD_EXPORT int scandirat(int dirfd, const char *path, struct dirent ***out,
			    filter_fn filter, compar_fn compar)
{
	struct scan_fns f = { .filter = filter, .compar = compar };
	struct shield_path p;
	int r = shield_resolve(dirfd, path, &p);

	if (r < 0)
		return -1;
	if (r == 0)
		return REAL(scandirat)(dirfd, p.path, out, filter, compar);
	return scan_protected(dirfd, path, &f, (struct dirent64 ***)out);
}

SHIELD_EXPORT int scandirat64(int dirfd, const char *path, struct dirent64 ***out,
			      filter64_fn filter, compar64_fn compar)
{
	struct scan_fns f = { .filter64 = filter, .compar64 = compar };
	struct shield_path p;
	int r = shield_resolve(dirfd, path, &p);

	if (r < 0)
		return -1;
	if (r == 0)
		return REAL(scandirat64)(dirfd, p.path, out, filter, compar);
	return scan_protected(dirfd, path, &f, out);
}

SHIELD_EXPORT int scandir(const char *path, struct dirent ***out, filter_fn filter,
			  compar_fn compar)
{
	struct scan_fns f = { .filter = filter, .compar = compar };
	struct shield_path p;
	int r = shield_resolve(AT_FDCWD, path, &p);

	if (r < 0)
		return -1;
	if (r == 0)
		return REAL(scandir)(p.path, out, filter, compar);
	return scan_protected(AT_FDCWD, path, &f, (struct dirent64 ***)out);
}

SHIELD_EXPORT int scandir64(const char *path, struct dirent64 ***out, filter64_fn filter,
			    compar64_fn compar)
{
	struct scan_fns f = { .filter64 = filter, .compar64 = compar };
	struct shield_path p;
	int r = shield_resolve(AT_FDCWD, path, &p);

	if (r < 0)
		return -1;
	if (r == 0)
		return REAL(scandir64)(p.path, out, filter, compar);
	return scan_protected(AT_FDCWD, path, &f, out);
}

/* ---- getdents64 ------------------------------------------------------------------ */

/* Records of l from *pos on into buf, as the kernel lays them out. */
static size_t dents_fill(const struct listing *l, uint64_t *pos, char *buf, size_t size)
{
	struct dirent64 rec;
	size_t used = 0;

	while (*pos < l->count) {
		size_t reclen = DIRENT_RECLEN(strlen(l->ents[*pos].name));

		if (reclen > size - used)
			break;
		memset(&rec, 0, sizeof(rec));
		dent_fill(l, (size_t)*pos, &rec);
		memcpy(buf + used, &rec, reclen); /* buf need not be aligned */
		used += reclen;
		(*pos)++;
	}
	return used;
}

static ssize_t getdents_protected(struct shield_ofd *o, void *buf, size_t size)
{
	struct listing l = { 0 };
	ssize_t n = -1;
	size_t used;
	int e;

	if ((o->flags & O_PATH) || o->file != NULL) {
		errno = (o->flags & O_PATH) ? EBADF : ENOTDIR;
		return -1;
	}
	e = listing_load(o->m, o->path, &l);
	if (e != 0) {
		errno = e;
		return -1;
	}
	pthread_mutex_lock(&o->lock);
	uint64_t pos = shield_ofd_off(o);
	used = dents_fill(&l, &pos, buf, size);
	shield_ofd_set_off(o, pos);
	if (used == 0 && pos < l.count)
		errno = EINVAL; /* the kernel's "result buffer is too small" */
	else
		n = (ssize_t)used;
	pthread_mutex_unlock(&o->lock);
	listing_free(&l);
	return n;
}

SHIELD_EXPORT ssize_t getdents64(int fd, void *buf, size_t size)
{
	struct shield_ofd *o = shield_fd_get(fd);
	ssize_t n;

	if (o == NULL)
		return REAL(getdents64)(fd, buf, size);
	n = getdents_protected(o, buf, size);
	shield_ofd_put(o);
	return n;
}
