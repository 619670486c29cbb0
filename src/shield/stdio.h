/* The shield's registries of the streams and directory handles it created
 * (stdio.c, dir.c; docs/shield.md §4).
 *
 * glibc's FILE and DIR are opaque, and the shield's own streams (fopencookie) and
 * directory handles (its own structure cast to DIR *) cannot be told from glibc's by
 * looking inside them. So every pointer the shield hands out is recorded in a map
 * keyed by the pointer itself, and every interposed function that takes a FILE * or
 * DIR * asks the map first. A pointer is never dereferenced to find out whose it is.
 *
 * Thread safety: one lock for all maps, held only for a bucket walk, and taken
 * around fork() (pthread_atfork) so a child never inherits it held. Lookups in an
 * empty map take no lock (the fast path of a program with no protected streams).
 * Ownership: the map stores the pointers it is given and owns neither.
 */
#ifndef SHELTER_SHIELD_STDIO_H
#define SHELTER_SHIELD_STDIO_H

#include <stdatomic.h>
#include <stddef.h>

#define SHIELD_PTRMAP_BUCKETS 256

struct shield_ptrmap_node;

struct shield_ptrmap {
	atomic_size_t count;
	struct shield_ptrmap_node *buckets[SHIELD_PTRMAP_BUCKETS];
};

/* Record key -> val. key must not be in the map. 0, or -1 with errno ENOMEM. */
int shield_ptrmap_put(struct shield_ptrmap *map, const void *key, void *val);
/* The value recorded for key, or NULL. */
void *shield_ptrmap_get(struct shield_ptrmap *map, const void *key);
/* Remove key and return its value, or NULL when it was not there. */
void *shield_ptrmap_take(struct shield_ptrmap *map, const void *key);

/* fd (0, 1 or 2) now stands for a protected file: point stdin, stdout or stderr
 * (GNU libc lets a program assign them, and so the shield) at a cookie stream over
 * fd. glibc's own stream would go on writing through its internal write to the
 * placeholder (EBADF): `sort -o FILE` and daemons that redirect their output with
 * dup2(fd, 1) or close(1); open(...) and then use printf. Output still buffered in
 * the old stream moves to the new one, as it would have gone to the new file.
 * Nothing happens when the program's stream is not glibc's stream on fd. To be
 * called by the shield after any call that made fd protected (shield_fd_set),
 * with no shield lock held. */
void shield_stdio_std_protected(int fd);

#endif
