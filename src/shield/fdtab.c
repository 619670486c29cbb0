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
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shield/shield.h"
#include "shield/stdio.h"

#define FD_MAX (1 << 20)

static struct shield_ofd *_Atomic *_Atomic table;
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

/* ---- offsets shared with forked children ----
 *
 * A pool of offset slots in one MAP_SHARED anonymous mapping, made before any
 * fork that matters and so shared by the process and all its forked
 * descendants. A slot counts the ofds that use it in every process: a fork adds
 * one per live ofd (at_fork_child), and the last ofd to go frees it. The free
 * list's lock is a spinlock in the shared memory, held for a few instructions. */

#define SLOTS_MAX (1 << 20)

struct off_slot {
	_Atomic uint64_t off;
	atomic_int refs;
	int next_free; /* index + 1; 0 ends the list */
};

struct off_pool {
	atomic_flag lock;
	int free_head; /* index + 1; 0: empty */
	int bump;      /* slots [0, bump) were handed out at least once */
	struct off_slot slot[];
};

static struct off_pool *pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shield_ofd *live; /* every ofd of this process, for fork */

static void pool_init(void)
{
	void *p = mmap(NULL, sizeof(struct off_pool) + SLOTS_MAX * sizeof(struct off_slot),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p != MAP_FAILED)
		pool = p; /* zero-filled: unlocked, empty, nothing handed out */
}

static void pool_lock(void)
{
	while (atomic_flag_test_and_set_explicit(&pool->lock, memory_order_acquire))
		sched_yield();
}

static void pool_unlock(void)
{
	atomic_flag_clear_explicit(&pool->lock, memory_order_release);
}

static int slot_alloc(void)
{
	int i = -1;

	pthread_once(&pool_once, pool_init);
	if (pool == NULL) {
		errno = ENOMEM;
		return -1;
	}
	pool_lock();
	if (pool->free_head != 0) {
		i = pool->free_head - 1;
		pool->free_head = pool->slot[i].next_free;
	} else if (pool->bump < SLOTS_MAX) {
		i = pool->bump++;
	}
	pool_unlock();
	if (i < 0) {
		errno = ENFILE;
		return -1;
	}
	atomic_store(&pool->slot[i].off, 0);
	atomic_store(&pool->slot[i].refs, 1);
	return i;
}

static void slot_put(int i)
{
	if (atomic_fetch_sub(&pool->slot[i].refs, 1) != 1)
		return;
	pool_lock();
	pool->slot[i].next_free = pool->free_head;
	pool->free_head = i + 1;
	pool_unlock();
}

uint64_t shield_ofd_off(const struct shield_ofd *o)
{
	return atomic_load(&pool->slot[o->slot].off);
}

void shield_ofd_set_off(struct shield_ofd *o, uint64_t off)
{
	atomic_store(&pool->slot[o->slot].off, off);
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
	if ((o->slot = slot_alloc()) < 0) {
		free(o->path);
		free(o);
		return NULL;
	}
	atomic_init(&o->refs, 1);
	pthread_mutex_init(&o->lock, NULL);
	o->m = m;
	o->file = file;
	o->ino = ino;
	o->flags = flags;
	o->lockfd = -1;
	pthread_mutex_lock(&live_lock);
	o->next = live;
	if (live != NULL)
		live->prev = o;
	live = o;
	pthread_mutex_unlock(&live_lock);
	return o;
}

void shield_ofd_put(struct shield_ofd *o)
{
	if (o == NULL || atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_lock(&live_lock);
	if (o->prev != NULL)
		o->prev->next = o->next;
	else
		live = o->next;
	if (o->next != NULL)
		o->next->prev = o->prev;
	pthread_mutex_unlock(&live_lock);
	slot_put(o->slot);
	shelter_file_close(o->file);
	if (o->lockfd >= 0)
		REAL(close)(o->lockfd);
	pthread_mutex_destroy(&o->lock);
	free(o->path);
	free(o);
}

int shield_ofd_stat(struct shield_ofd *o, const char *what, struct shelter_stat *out)
{
	struct shelter_err err;
	int rc;

	shelter_err_clear(&err);
	rc = o->file != NULL ? shelter_file_stat(o->file, out, &err)
			     : shelter_volume_stat(o->m->vol, o->path, out, &err);
	if (rc != 0)
		return shield_fail(shield_errno(rc, what, o->m->path, o->path, &err));
	return 0;
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
	if (fd <= 2) /* stdin, stdout, stderr now stand for a protected file */
		shield_stdio_std_protected(fd);
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

/* A child must not inherit a lock held by a thread that does not exist in it.
 * The child holds its own copy of every live ofd, each one more user of its
 * offset slot. */
static void before_fork(void)
{
	pthread_mutex_lock(&table_lock);
	pthread_mutex_lock(&live_lock);
}

static void after_fork_parent(void)
{
	pthread_mutex_unlock(&live_lock);
	pthread_mutex_unlock(&table_lock);
}

static void after_fork_child(void)
{
	for (struct shield_ofd *o = live; o != NULL; o = o->next)
		atomic_fetch_add(&pool->slot[o->slot].refs, 1);
	after_fork_parent();
}

__attribute__((constructor)) static void fdtab_init(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
