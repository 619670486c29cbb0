/* Descriptors that stand for protected files (docs/shield.md §3).
 *
 * The table is indexed by descriptor number. It is reserved once (8 MiB of
 * address space for 2^20 descriptors, touched only where used) so that the
 * question every interposed call asks first, "is this descriptor protected?", is
 * one atomic load with no lock: sockets and host files pay nothing else. Taking a
 * reference to an entry and removing one take table_lock, so an ofd is never freed
 * under a thread that just found it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shield/shield.h"

#define FD_MAX (1 << 20)

static struct shield_ofd *_Atomic *table;
static atomic_int top = -1; /* highest descriptor ever set: bounds range clears */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static int table_ready(void)
{
	void *p;

	if (atomic_load_explicit(&table, memory_order_acquire) != NULL)
		return 0;
	pthread_mutex_lock(&table_lock);
	if (table == NULL) {
		p = mmap(NULL, FD_MAX * sizeof(*table), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p != MAP_FAILED)
			atomic_store_explicit(&table, p, memory_order_release);
	}
	pthread_mutex_unlock(&table_lock);
	return table == NULL ? -1 : 0;
}

struct shield_ofd *shield_ofd_new(struct shield_mount *m, struct shelter_file *file,
				  const char *path, uint64_t ino, int flags)
{
	struct shield_ofd *o = calloc(1, sizeof(*o));

	if (o == NULL || (o->path = strdup(path)) == NULL) {
		free(o);
		errno = ENOMEM;
		return NULL;
	}
	atomic_init(&o->refs, 1);
	pthread_mutex_init(&o->lock, NULL);
	o->m = m;
	o->file = file;
	o->ino = ino;
	o->flags = flags;
	o->lockfd = -1;
	return o;
}

void shield_ofd_put(struct shield_ofd *o)
{
	if (o == NULL || atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1)
		return;
	shelter_file_close(o->file);
	if (o->lockfd >= 0)
		REAL(close)(o->lockfd);
	pthread_mutex_destroy(&o->lock);
	free(o->path);
	free(o);
}

int shield_placeholder(struct shield_mount *m, int cloexec)
{
	return REAL(fcntl)(m->placeholder_dir, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
}

void shield_fd_set(int fd, struct shield_ofd *o)
{
	struct shield_ofd *old;

	if (fd < 0 || fd >= FD_MAX || table_ready() < 0)
		return; /* never: placeholders come from RLIMIT_NOFILE, checked at start */
	atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
	pthread_mutex_lock(&table_lock);
	if (fd > atomic_load(&top))
		atomic_store(&top, fd);
	old = atomic_exchange_explicit(&table[fd], o, memory_order_release);
	pthread_mutex_unlock(&table_lock);
	shield_ofd_put(old);
}

struct shield_ofd *shield_fd_get(int fd)
{
	struct shield_ofd *_Atomic *t = atomic_load_explicit(&table, memory_order_acquire);
	struct shield_ofd *o;

	if (fd < 0 || fd >= FD_MAX || t == NULL ||
	    atomic_load_explicit(&t[fd], memory_order_relaxed) == NULL)
		return NULL;
	pthread_mutex_lock(&table_lock);
	o = atomic_load_explicit(&t[fd], memory_order_relaxed);
	if (o != NULL)
		atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&table_lock);
	return o;
}

int shield_fd_is_protected(int fd)
{
	struct shield_ofd *_Atomic *t = atomic_load_explicit(&table, memory_order_acquire);

	return fd >= 0 && fd < FD_MAX && t != NULL &&
	       atomic_load_explicit(&t[fd], memory_order_relaxed) != NULL;
}

void shield_fd_clear(int fd)
{
	struct shield_ofd *_Atomic *t = atomic_load_explicit(&table, memory_order_acquire);
	struct shield_ofd *o;

	if (fd < 0 || fd >= FD_MAX || t == NULL ||
	    atomic_load_explicit(&t[fd], memory_order_relaxed) == NULL)
		return;
	pthread_mutex_lock(&table_lock);
	o = atomic_exchange_explicit(&t[fd], NULL, memory_order_acq_rel);
	pthread_mutex_unlock(&table_lock);
	shield_ofd_put(o);
}

void shield_fd_clear_range(unsigned int first, unsigned int last)
{
	unsigned int hi = (unsigned int)atomic_load(&top);

	if (atomic_load(&top) < 0)
		return;
	for (unsigned int fd = first; fd <= last && fd <= hi; fd++)
		shield_fd_clear((int)fd);
}

/* A child must not inherit table_lock held by a thread that does not exist in it. */
static void before_fork(void)
{
	pthread_mutex_lock(&table_lock);
}

static void after_fork(void)
{
	pthread_mutex_unlock(&table_lock);
}

__attribute__((constructor)) static void fdtab_init(void)
{
	pthread_atfork(before_fork, after_fork, after_fork);
}
