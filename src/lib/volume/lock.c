/* Coordination between handles, threads and processes: docs/formats/volume.md §7.3.
 *
 * Processes exclude each other with a POSIX record lock on DIR/lock. Such a lock
 * belongs to the whole process and is dropped when the process closes *any* file
 * descriptor of that file, so all handles of one volume in a process share one
 * descriptor and one mutex (a lockref), and handles in one process exclude each
 * other through that mutex. fork() is made safe by pthread_atfork handlers that take
 * every volume and lock mutex first, so a child never inherits a mutex held by a
 * thread that does not exist in it. A child holds no record lock (POSIX locks are
 * not inherited), which is exactly right: it must lock before it writes. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "volume/internal.h"

struct vol_lockref {
	dev_t dev;
	ino_t ino;
	int fd;
	pthread_mutex_t mu;
	struct shelter_volume **vols;
	size_t nvols, cap;
	struct vol_lockref *next;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct vol_lockref *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	pthread_mutex_lock(&registry_mu);
	for (struct vol_lockref *r = registry; r != NULL; r = r->next) {
		for (size_t i = 0; i < r->nvols; i++)
			pthread_mutex_lock(&r->vols[i]->mu);
		pthread_mutex_lock(&r->mu);
	}
}

static void fork_release(void)
{
	for (struct vol_lockref *r = registry; r != NULL; r = r->next) {
		pthread_mutex_unlock(&r->mu);
		for (size_t i = 0; i < r->nvols; i++)
			pthread_mutex_unlock(&r->vols[i]->mu);
	}
	pthread_mutex_unlock(&registry_mu);
}

/* §2: the child must never draw the nonces the parent has buffered */
static void fork_child(void)
{
	for (struct vol_lockref *r = registry; r != NULL; r = r->next)
		for (size_t i = 0; i < r->nvols; i++)
			r->vols[i]->nonces.left = 0;
	fork_release();
}

static void install_atfork(void)
{
	(void)pthread_atfork(fork_prepare, fork_release, fork_child);
}

static int add_vol(struct vol_lockref *r, struct shelter_volume *v)
{
	if (r->nvols == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4;
		struct shelter_volume **n = realloc(r->vols, cap * sizeof(*n));

		if (n == NULL)
			return SHELTER_E_NOMEM;
		r->vols = n;
		r->cap = cap;
	}
	r->vols[r->nvols++] = v;
	return 0;
}

static struct vol_lockref *find(const struct stat *st)
{
	for (struct vol_lockref *r = registry; r != NULL; r = r->next)
		if (r->dev == st->st_dev && r->ino == st->st_ino)
			return r;
	return NULL;
}

/* Take ownership of fd, an open descriptor of DIR/lock, for handle v. */
int vol_lock_attach(struct shelter_volume *v, int fd, struct shelter_err *err)
{
	struct vol_lockref *r;
	struct stat st;
	int rc = 0;

	pthread_once(&atfork_once, install_atfork);
	if (fstat(fd, &st) < 0) {
		rc = shelter_err_errno(err, errno, "stat %s", VOL_LOCK_NAME);
		close(fd);
		return rc;
	}
	pthread_mutex_lock(&registry_mu);
	r = find(&st);
	if (r != NULL) {
		/* closing a descriptor drops the process's lock: only while nobody holds it */
		pthread_mutex_lock(&r->mu);
		close(fd);
		pthread_mutex_unlock(&r->mu);
	} else if ((r = calloc(1, sizeof(*r))) != NULL) {
		r->dev = st.st_dev;
		r->ino = st.st_ino;
		r->fd = fd;
		pthread_mutex_init(&r->mu, NULL);
		r->next = registry;
		registry = r;
	} else {
		close(fd);
	}
	if (r == NULL || add_vol(r, v) < 0)
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "lock: out of memory");
	else
		v->lref = r;
	pthread_mutex_unlock(&registry_mu);
	return rc;
}

void vol_lock_detach(struct shelter_volume *v)
{
	struct vol_lockref *r = v->lref, **pp;

	if (r == NULL)
		return;
	pthread_mutex_lock(&registry_mu);
	for (size_t i = 0; i < r->nvols; i++) {
		if (r->vols[i] == v) {
			r->vols[i] = r->vols[--r->nvols];
			break;
		}
	}
	if (r->nvols == 0) {
		for (pp = &registry; *pp != r; pp = &(*pp)->next)
			;
		*pp = r->next;
		close(r->fd);
		pthread_mutex_destroy(&r->mu);
		free(r->vols);
		free(r);
	}
	v->lref = NULL;
	pthread_mutex_unlock(&registry_mu);
}

int vol_lock(struct shelter_volume *v, int exclusive, struct shelter_err *err)
{
	struct flock fl = { .l_type = exclusive ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET };

	if (v->poisoned)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "volume '%s' failed an integrity check earlier; reopen it",
				       v->dir);
	if (v->lref == NULL)
		return 0;
	pthread_mutex_lock(&v->lref->mu);
	while (fcntl(v->lref->fd, F_SETLKW, &fl) < 0) {
		if (errno != EINTR) {
			int rc = shelter_err_errno(err, errno, "lock volume '%s'", v->dir);

			pthread_mutex_unlock(&v->lref->mu);
			return rc;
		}
	}
	return 0;
}

void vol_unlock(struct shelter_volume *v)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	if (v->lref == NULL)
		return;
	(void)fcntl(v->lref->fd, F_SETLK, &fl);
	pthread_mutex_unlock(&v->lref->mu);
}
