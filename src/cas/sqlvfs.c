/* SQLite VFS over a protected volume: src/cas/sqlvfs.h, docs/formats/cas-store.md §3.
 *
 * Three kinds of object:
 *  - struct sqlvfs: one registered sqlite3_vfs, bound to one open volume, with its
 *    write-behind run (§3.4): consecutive writes to one file, held back and written
 *    as one volume operation before anything else touches the volume;
 *  - struct vfile: one file SQLite opened, either a volume file (a shelter_file
 *    handle plus a lock node) or a private in-memory temporary file;
 *  - struct lock_node: the SQLite lock state of one volume path, shared by every
 *    connection of this process that has the path open (§3.3).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "cas/sqlvfs.h"
#include "shelter/crypto.h"
#include "shelter/volume.h"

#define SQLVFS_NAME_MAX 63
/* Longest path SQLite may hand us, "-journal" and super-journal suffixes included;
 * well inside the volume's SHELTER_VOLUME_PATH_MAX. */
#define SQLVFS_PATH_MAX 512
/* Largest in-memory temporary file: 2^31 bytes keeps every size in an int64 and a
 * size_t on 32-bit hosts too; SQLite's own limit on a database is far above what a
 * CAS keeps, and beyond this a temp file fails with SQLITE_FULL. */
#define SQLVFS_MEM_MAX ((size_t)1 << 31)
/* The write-behind run: at most one volume write, which is atomic up to 1 MiB at
 * any alignment (volume.h, volume.md §5.3). */
#define SQLVFS_RUN_MAX ((size_t)1 << 20)

struct vfile;

struct sqlvfs {
	sqlite3_vfs base; /* first: SQLite hands us &base */
	struct shelter_volume *vol;
	char name[SQLVFS_NAME_MAX + 1];
	pthread_mutex_t mu; /* guards nopen and the run */
	long nopen;         /* open files, for unregister */
	/* §3.4 write-behind: bytes [run_off, run_off + run_len) of run_owner's file
	 * that SQLite wrote and the volume has not yet; run_owner NULL when empty */
	struct vfile *run_owner;
	uint64_t run_off;
	size_t run_len;
	uint8_t *run;
};

struct lock_node {
	struct shelter_volume *vol;
	char *path;
	int refs;    /* open vfiles on this path */
	int nshared; /* connections holding SHARED or more */
	int level;   /* highest SQLITE_LOCK_* held; above SHARED only by one connection */
	struct lock_node *next;
};

enum vfile_kind { VF_VOLUME = 1, VF_MEMORY = 2 };

struct vfile {
	sqlite3_file base; /* first: SQLite hands us &base */
	struct sqlvfs *vfs;
	int kind;
	int flags; /* SQLITE_OPEN_* as opened */
	int level; /* this connection's SQLITE_LOCK_* */
	/* SQLite code of a failed write-behind flush: the file fails closed. Set under
	 * the VFS's mu, possibly by another connection's thread, hence atomic. */
	_Atomic int broken;
	/* VF_VOLUME */
	struct shelter_file *f;
	struct lock_node *node;
	char *path;
	/* VF_MEMORY */
	uint8_t *mem;
	size_t mem_size, mem_cap;
};

/* Lock nodes of every VFS, keyed by (volume, path): two VFS names over one volume
 * still share the locks of a path. */
static pthread_mutex_t lock_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lock_node *lock_nodes;

/* §3.2: the calling thread's last failure, for cas_sqlvfs_last_error. */
static _Thread_local struct shelter_err tl_err;

static const sqlite3_io_methods volume_io;
static const sqlite3_io_methods memory_io;

const char *cas_sqlvfs_last_error(void)
{
	return tl_err.msg;
}

int cas_sqlvfs_last_code(void)
{
	return tl_err.code;
}

void cas_sqlvfs_clear_error(void)
{
	shelter_err_clear(&tl_err);
}

static int is_integrity_code(int code)
{
	return code <= SHELTER_E_INTEGRITY && code >= SHELTER_E_STALE;
}

/* §3.2: map a volume failure to a SQLite code. Integrity failures (a MAC mismatch,
 * a swapped or cut record) become SQLITE_IOERR_DATA, the code SQLite's checksum VFS
 * uses for a page that fails its check, so they are never taken for a short read or
 * an ordinary I/O error; op_ioerr names the operation for every other failure. */
static int map_code(int code, int op_ioerr)
{
	if (is_integrity_code(code))
		return SQLITE_IOERR_DATA;
	switch (code) {
	case SHELTER_E_NOSPC:
		return SQLITE_FULL;
	case SHELTER_E_NOMEM:
		return SQLITE_IOERR_NOMEM;
	default:
		return op_ioerr;
	}
}

/* Record the failure e (from a volume call that returned rc) with context, in the
 * thread's error, and return the SQLite code for it. */
__attribute__((format(printf, 5, 6)))
static int fail(const struct sqlvfs *v, struct shelter_err *e, int rc, int op_ioerr,
		const char *fmt, ...)
{
	char ctx[SQLVFS_PATH_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (e->code == SHELTER_OK)
		e->code = rc;
	(void)shelter_err_wrap(e, rc, "sqlvfs '%s': %s", v->name, ctx);
	tl_err = *e;
	return map_code(e->code, op_ioerr);
}

/* --- paths (§3.1) --- */

/* Canonical in-volume path: "/" then the non-empty, non-"." components of name
 * joined by "/". ".." is refused, as the volume refuses it. */
static int canonical_path(const char *name, char *out, size_t size)
{
	size_t used = 0;
	const char *p = name;

	while (*p != '\0') {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return SQLITE_CANTOPEN;
		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (used + 1 + len + 1 > size)
				return SQLITE_CANTOPEN;
			out[used++] = '/';
			memcpy(out + used, p, len);
			used += len;
		}
		p = *end == '/' ? end + 1 : end;
	}
	if (used == 0)
		return SQLITE_CANTOPEN; /* the root is a directory, never a database */
	out[used] = '\0';
	return SQLITE_OK;
}

/* --- lock nodes (§3.3) --- */

static struct lock_node *node_get(struct shelter_volume *vol, const char *path)
{
	struct lock_node *n;

	pthread_mutex_lock(&lock_mu);
	for (n = lock_nodes; n != NULL; n = n->next)
		if (n->vol == vol && strcmp(n->path, path) == 0)
			break;
	if (n == NULL) {
		n = calloc(1, sizeof(*n));
		if (n != NULL && (n->path = strdup(path)) == NULL) {
			free(n);
			n = NULL;
		}
		if (n != NULL) {
			n->vol = vol;
			n->next = lock_nodes;
			lock_nodes = n;
		}
	}
	if (n != NULL)
		n->refs++;
	pthread_mutex_unlock(&lock_mu);
	return n;
}

static void node_put(struct lock_node *n)
{
	struct lock_node **pp;

	pthread_mutex_lock(&lock_mu);
	if (--n->refs == 0) {
		for (pp = &lock_nodes; *pp != n; pp = &(*pp)->next)
			;
		*pp = n->next;
		free(n->path);
		free(n);
	}
	pthread_mutex_unlock(&lock_mu);
}

/* --- the write-behind run (§3.4) --- */

/* Write the run out as one volume operation; caller holds v->mu. On failure the
 * run is dropped and its file marked broken: every later call on that handle
 * fails, so SQLite cannot sync or commit over the lost bytes. */
static int run_flush_locked(struct sqlvfs *v)
{
	struct vfile *f = v->run_owner;
	struct shelter_err e;
	int vrc;

	if (f == NULL)
		return SQLITE_OK;
	shelter_err_clear(&e);
	vrc = shelter_file_pwrite(f->f, v->run, v->run_len, v->run_off, NULL, &e);
	v->run_owner = NULL;
	if (vrc < 0) {
		f->broken = fail(v, &e, vrc, SQLITE_IOERR_WRITE, "write '%s' at %llu (%zu bytes)",
				 f->path, (unsigned long long)v->run_off, v->run_len);
		return f->broken;
	}
	return SQLITE_OK;
}

/* Before any operation that changes the volume or looks at names and sizes: the
 * run goes first, so the volume sees every change in SQLite's order. */
static int run_flush(struct sqlvfs *v)
{
	int rc;

	pthread_mutex_lock(&v->mu);
	rc = run_flush_locked(v);
	pthread_mutex_unlock(&v->mu);
	return rc;
}

/* Before reading a path (through any handle on it): its own pending bytes. Reads
 * of other files need not wait, since reading changes nothing. */
static int run_flush_node(struct sqlvfs *v, const struct lock_node *n)
{
	int rc = SQLITE_OK;

	pthread_mutex_lock(&v->mu);
	if (v->run_owner != NULL && v->run_owner->node == n)
		rc = run_flush_locked(v);
	pthread_mutex_unlock(&v->mu);
	return rc;
}

/* Take the write into the run when it continues or overwrites it within 1 MiB,
 * else flush the run and start a new one. Returns 1 when taken, 0 when the caller
 * must write directly (over 1 MiB), or a SQLite error code. */
static int run_take(struct vfile *f, const void *buf, size_t amt, uint64_t off)
{
	struct sqlvfs *v = f->vfs;
	int rc = 1;

	pthread_mutex_lock(&v->mu);
	if (v->run_owner == f && off >= v->run_off && off <= v->run_off + v->run_len &&
	    off + amt - v->run_off <= SQLVFS_RUN_MAX) {
		memcpy(v->run + (off - v->run_off), buf, amt);
		if (off + amt - v->run_off > v->run_len)
			v->run_len = (size_t)(off + amt - v->run_off);
		goto out;
	}
	rc = run_flush_locked(v);
	if (rc != SQLITE_OK)
		goto out;
	if (amt > SQLVFS_RUN_MAX) {
		rc = 0;
		goto out;
	}
	memcpy(v->run, buf, amt);
	v->run_owner = f;
	v->run_off = off;
	v->run_len = amt;
	rc = 1;
out:
	pthread_mutex_unlock(&v->mu);
	return rc;
}

/* SQLite's lock levels among the connections of this process (§3.3), with the
 * rules of os_unix.c minus the fcntl part: SHARED is refused while anyone holds
 * PENDING or EXCLUSIVE; RESERVED while another holds RESERVED or more; EXCLUSIVE
 * goes through PENDING, which it keeps when other readers remain (SQLite retries). */
static int lock_acquire(struct vfile *f, int want)
{
	struct lock_node *n = f->node;
	int rc = SQLITE_OK;

	pthread_mutex_lock(&lock_mu);
	switch (want) {
	case SQLITE_LOCK_SHARED:
		if (n->level >= SQLITE_LOCK_PENDING) {
			rc = SQLITE_BUSY;
			break;
		}
		n->nshared++;
		if (n->level < SQLITE_LOCK_SHARED)
			n->level = SQLITE_LOCK_SHARED;
		f->level = SQLITE_LOCK_SHARED;
		/* a new transaction: earlier failures are not its own (sqlvfs.h) */
		shelter_err_clear(&tl_err);
		break;
	case SQLITE_LOCK_RESERVED:
		if (f->level != SQLITE_LOCK_SHARED) {
			rc = SQLITE_IOERR_LOCK;
			break;
		}
		if (n->level >= SQLITE_LOCK_RESERVED) {
			rc = SQLITE_BUSY;
			break;
		}
		n->level = f->level = SQLITE_LOCK_RESERVED;
		break;
	case SQLITE_LOCK_EXCLUSIVE:
		if (f->level < SQLITE_LOCK_SHARED) {
			rc = SQLITE_IOERR_LOCK;
			break;
		}
		if (f->level < SQLITE_LOCK_RESERVED && n->level >= SQLITE_LOCK_RESERVED) {
			rc = SQLITE_BUSY; /* another connection is writing */
			break;
		}
		n->level = f->level = SQLITE_LOCK_PENDING;
		if (n->nshared > 1) {
			rc = SQLITE_BUSY; /* readers left; PENDING keeps new ones out */
			break;
		}
		n->level = f->level = SQLITE_LOCK_EXCLUSIVE;
		break;
	default:
		rc = SQLITE_IOERR_LOCK; /* SQLite never asks for PENDING itself */
		break;
	}
	pthread_mutex_unlock(&lock_mu);
	return rc;
}

static void lock_release(struct vfile *f, int to)
{
	struct lock_node *n = f->node;

	pthread_mutex_lock(&lock_mu);
	if (f->level > SQLITE_LOCK_SHARED) {
		/* this connection was the only one above SHARED */
		n->level = f->level = SQLITE_LOCK_SHARED;
	}
	if (to == SQLITE_LOCK_NONE && f->level == SQLITE_LOCK_SHARED) {
		if (--n->nshared == 0)
			n->level = SQLITE_LOCK_NONE;
		f->level = SQLITE_LOCK_NONE;
	}
	pthread_mutex_unlock(&lock_mu);
}

static int io_lock(sqlite3_file *pf, int want)
{
	struct vfile *f = (struct vfile *)pf;

	if (f->level >= want)
		return SQLITE_OK;
	if (f->kind == VF_MEMORY) {
		f->level = want; /* private to one connection: nothing to exclude */
		return SQLITE_OK;
	}
	return lock_acquire(f, want);
}

/* Before another connection may take the lock, it must be able to read what this
 * one wrote (with synchronous=OFF no xSync flushed the run). */
static int io_unlock(sqlite3_file *pf, int to)
{
	struct vfile *f = (struct vfile *)pf;
	int rc = SQLITE_OK;

	if (f->level <= to)
		return SQLITE_OK;
	if (f->kind == VF_MEMORY) {
		f->level = to;
		return SQLITE_OK;
	}
	if (run_flush_node(f->vfs, f->node) != SQLITE_OK)
		rc = SQLITE_IOERR_UNLOCK;
	lock_release(f, to);
	return rc;
}

static int io_check_reserved(sqlite3_file *pf, int *out)
{
	struct vfile *f = (struct vfile *)pf;

	if (f->kind == VF_MEMORY) {
		*out = f->level >= SQLITE_LOCK_RESERVED;
		return SQLITE_OK;
	}
	pthread_mutex_lock(&lock_mu);
	*out = f->node->level >= SQLITE_LOCK_RESERVED;
	pthread_mutex_unlock(&lock_mu);
	return SQLITE_OK;
}

/* --- volume files --- */

static int vol_close(sqlite3_file *pf)
{
	struct vfile *f = (struct vfile *)pf;
	struct sqlvfs *v = f->vfs;
	struct shelter_err e;
	int rc = SQLITE_OK, vrc;

	shelter_err_clear(&e);
	/* the run may be ours: out it goes (close errors are all SQLite can get) */
	if (run_flush(v) != SQLITE_OK)
		rc = SQLITE_IOERR_CLOSE;
	lock_release(f, SQLITE_LOCK_NONE);
	node_put(f->node);
	shelter_file_close(f->f);
	if (f->flags & SQLITE_OPEN_DELETEONCLOSE) {
		vrc = shelter_volume_unlink(v->vol, f->path, &e);
		if (vrc < 0 && vrc != SHELTER_E_NOENT && rc == SQLITE_OK)
			rc = fail(v, &e, vrc, SQLITE_IOERR_DELETE, "delete-on-close '%s'", f->path);
	}
	free(f->path);
	pthread_mutex_lock(&v->mu);
	v->nopen--;
	pthread_mutex_unlock(&v->mu);
	memset(f, 0, sizeof(*f));
	return rc;
}

/* xRead: a read past the end of the file is short; SQLite wants the rest zeroed
 * and SQLITE_IOERR_SHORT_READ. A chunk that fails authentication yields no byte. */
static int vol_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off)
{
	struct vfile *f = (struct vfile *)pf;
	struct shelter_err e;
	size_t got = 0;
	int vrc;

	shelter_err_clear(&e);
	if (amt < 0 || off < 0)
		return SQLITE_IOERR_READ;
	vrc = f->broken ? f->broken : run_flush_node(f->vfs, f->node);
	if (vrc != SQLITE_OK) {
		memset(buf, 0, (size_t)amt);
		return vrc;
	}
	vrc = shelter_file_pread(f->f, buf, (size_t)amt, (uint64_t)off, &got, &e);
	if (vrc < 0) {
		memset(buf, 0, (size_t)amt);
		return fail(f->vfs, &e, vrc, SQLITE_IOERR_READ, "read '%s' at %lld (%d bytes)",
			    f->path, (long long)off, amt);
	}
	if (got < (size_t)amt) {
		memset((uint8_t *)buf + got, 0, (size_t)amt - got);
		return SQLITE_IOERR_SHORT_READ;
	}
	return SQLITE_OK;
}

static int vol_write(sqlite3_file *pf, const void *buf, int amt, sqlite3_int64 off)
{
	struct vfile *f = (struct vfile *)pf;
	struct shelter_err e;
	int vrc;

	shelter_err_clear(&e);
	if (amt < 0 || off < 0)
		return SQLITE_IOERR_WRITE;
	if (f->broken)
		return f->broken;
	if (!(f->flags & SQLITE_OPEN_READWRITE)) {
		(void)shelter_err_set(&tl_err, SHELTER_E_BADF, "sqlvfs '%s': write '%s': opened "
				      "read-only", f->vfs->name, f->path);
		return SQLITE_IOERR_WRITE;
	}
	vrc = run_take(f, buf, (size_t)amt, (uint64_t)off);
	if (vrc == 1)
		return SQLITE_OK;
	if (vrc != 0)
		return vrc;
	vrc = shelter_file_pwrite(f->f, buf, (size_t)amt, (uint64_t)off, NULL, &e);
	if (vrc < 0)
		return fail(f->vfs, &e, vrc, SQLITE_IOERR_WRITE, "write '%s' at %lld (%d bytes)",
			    f->path, (long long)off, amt);
	return SQLITE_OK;
}

static int vol_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	struct vfile *f = (struct vfile *)pf;
	struct shelter_err e;
	int vrc;

	shelter_err_clear(&e);
	if (size < 0)
		return SQLITE_IOERR_TRUNCATE;
	vrc = f->broken ? f->broken : run_flush(f->vfs);
	if (vrc != SQLITE_OK)
		return vrc;
	vrc = shelter_file_truncate(f->f, (uint64_t)size, &e);
	if (vrc < 0)
		return fail(f->vfs, &e, vrc, SQLITE_IOERR_TRUNCATE, "truncate '%s' to %lld",
			    f->path, (long long)size);
	return SQLITE_OK;
}

/* §3.4: every SQLITE_SYNC_* flavour is the volume's one sync, an fdatasync of its
 * log, which makes every earlier operation on every file of the volume durable:
 * at least as strong as NORMAL, FULL and DATAONLY ask. */
static int vol_sync(sqlite3_file *pf, int flags)
{
	struct vfile *f = (struct vfile *)pf;
	struct shelter_err e;
	int vrc;

	(void)flags;
	shelter_err_clear(&e);
	vrc = f->broken ? f->broken : run_flush(f->vfs);
	if (vrc != SQLITE_OK)
		return vrc;
	vrc = shelter_file_sync(f->f, &e);
	if (vrc < 0)
		return fail(f->vfs, &e, vrc, SQLITE_IOERR_FSYNC, "sync '%s'", f->path);
	return SQLITE_OK;
}

static int vol_file_size(sqlite3_file *pf, sqlite3_int64 *out)
{
	struct vfile *f = (struct vfile *)pf;
	struct shelter_stat st;
	struct shelter_err e;
	int vrc;

	shelter_err_clear(&e);
	*out = 0;
	vrc = f->broken ? f->broken : run_flush_node(f->vfs, f->node);
	if (vrc != SQLITE_OK)
		return vrc;
	vrc = shelter_file_stat(f->f, &st, &e);
	if (vrc < 0)
		return fail(f->vfs, &e, vrc, SQLITE_IOERR_FSTAT, "size of '%s'", f->path);
	*out = (sqlite3_int64)st.size;
	return SQLITE_OK;
}

/* SQLITE_FCNTL_HAS_MOVED: the path no longer names the file this handle has open
 * (it was unlinked or replaced), so SQLite refuses to write to a lost database. */
static int vol_has_moved(struct vfile *f, int *out)
{
	struct shelter_stat mine, there;
	struct shelter_err e;
	int vrc;

	shelter_err_clear(&e);
	vrc = shelter_file_stat(f->f, &mine, &e);
	if (vrc < 0)
		return fail(f->vfs, &e, vrc, SQLITE_IOERR_FSTAT, "stat '%s'", f->path);
	vrc = shelter_volume_stat(f->vfs->vol, f->path, &there, &e);
	if (vrc == SHELTER_E_NOENT) {
		*out = 1;
		return SQLITE_OK;
	}
	if (vrc < 0)
		return fail(f->vfs, &e, vrc, SQLITE_IOERR_FSTAT, "stat '%s'", f->path);
	*out = mine.ino != there.ino;
	return SQLITE_OK;
}

static int io_file_control(sqlite3_file *pf, int op, void *arg)
{
	struct vfile *f = (struct vfile *)pf;

	switch (op) {
	case SQLITE_FCNTL_LOCKSTATE:
		*(int *)arg = f->level;
		return SQLITE_OK;
	case SQLITE_FCNTL_VFSNAME:
		*(char **)arg = sqlite3_mprintf("%s", f->vfs->name);
		return SQLITE_OK;
	case SQLITE_FCNTL_COMMIT_PHASETWO:
		/* §3.4: a committed transaction is in the volume before COMMIT returns,
		 * whatever the synchronous level, so it survives the process's death */
		return f->kind == VF_VOLUME ? run_flush(f->vfs) : SQLITE_OK;
	case SQLITE_FCNTL_HAS_MOVED:
		if (f->kind == VF_MEMORY) {
			*(int *)arg = 0;
			return SQLITE_OK;
		}
		return vol_has_moved(f, (int *)arg);
	default:
		return SQLITE_NOTFOUND;
	}
}

/* §3.4: the volume rewrites a partial chunk as a whole new record, atomically, so
 * no write ever disturbs bytes outside its range: the smallest sector SQLite knows
 * of is honest. */
static int io_sector_size(sqlite3_file *pf)
{
	(void)pf;
	return 512;
}

/* §3.4 justifies each bit. Not ATOMIC (a write over 1 MiB is split), not
 * UNDELETABLE_WHEN_OPEN (the volume unlinks open files), not BATCH_ATOMIC. */
static int vol_device_characteristics(sqlite3_file *pf)
{
	(void)pf;
	return SQLITE_IOCAP_ATOMIC512 | SQLITE_IOCAP_ATOMIC1K | SQLITE_IOCAP_ATOMIC2K |
	       SQLITE_IOCAP_ATOMIC4K | SQLITE_IOCAP_ATOMIC8K | SQLITE_IOCAP_ATOMIC16K |
	       SQLITE_IOCAP_ATOMIC32K | SQLITE_IOCAP_ATOMIC64K | SQLITE_IOCAP_SAFE_APPEND |
	       SQLITE_IOCAP_SEQUENTIAL | SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

static const sqlite3_io_methods volume_io = {
	.iVersion = 1,
	.xClose = vol_close,
	.xRead = vol_read,
	.xWrite = vol_write,
	.xTruncate = vol_truncate,
	.xSync = vol_sync,
	.xFileSize = vol_file_size,
	.xLock = io_lock,
	.xUnlock = io_unlock,
	.xCheckReservedLock = io_check_reserved,
	.xFileControl = io_file_control,
	.xSectorSize = io_sector_size,
	.xDeviceCharacteristics = vol_device_characteristics,
};

/* --- in-memory temporary files (§3.1) --- */

static int mem_close(sqlite3_file *pf)
{
	struct vfile *f = (struct vfile *)pf;
	struct sqlvfs *v = f->vfs;

	/* temp files hold table and index contents in the clear: wipe them */
	if (f->mem != NULL)
		shelter_wipe(f->mem, f->mem_cap);
	free(f->mem);
	pthread_mutex_lock(&v->mu);
	v->nopen--;
	pthread_mutex_unlock(&v->mu);
	memset(f, 0, sizeof(*f));
	return SQLITE_OK;
}

static int mem_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off)
{
	struct vfile *f = (struct vfile *)pf;
	size_t got = 0;

	if (amt < 0 || off < 0)
		return SQLITE_IOERR_READ;
	if ((uint64_t)off < f->mem_size) {
		got = f->mem_size - (size_t)off;
		if (got > (size_t)amt)
			got = (size_t)amt;
		memcpy(buf, f->mem + off, got);
	}
	if (got < (size_t)amt) {
		memset((uint8_t *)buf + got, 0, (size_t)amt - got);
		return SQLITE_IOERR_SHORT_READ;
	}
	return SQLITE_OK;
}

/* Grow the buffer to hold size bytes; new bytes read as zeros. The old buffer is
 * wiped before it is freed, so no copy of temp contents is left in the heap. */
static int mem_reserve(struct vfile *f, size_t size)
{
	size_t cap = f->mem_cap ? f->mem_cap : 65536;
	uint8_t *p;

	if (size <= f->mem_cap)
		return SQLITE_OK;
	if (size > SQLVFS_MEM_MAX)
		return SQLITE_FULL;
	while (cap < size)
		cap *= 2;
	p = calloc(1, cap);
	if (p == NULL)
		return SQLITE_IOERR_NOMEM;
	if (f->mem != NULL) {
		memcpy(p, f->mem, f->mem_size);
		shelter_wipe(f->mem, f->mem_cap);
		free(f->mem);
	}
	f->mem = p;
	f->mem_cap = cap;
	return SQLITE_OK;
}

static int mem_write(sqlite3_file *pf, const void *buf, int amt, sqlite3_int64 off)
{
	struct vfile *f = (struct vfile *)pf;
	int rc;

	if (amt < 0 || off < 0 || (uint64_t)off > SQLVFS_MEM_MAX)
		return SQLITE_FULL;
	if (amt == 0)
		return SQLITE_OK;
	rc = mem_reserve(f, (size_t)off + (size_t)amt);
	if (rc != SQLITE_OK)
		return rc;
	memcpy(f->mem + off, buf, (size_t)amt);
	if ((size_t)off + (size_t)amt > f->mem_size)
		f->mem_size = (size_t)off + (size_t)amt;
	return SQLITE_OK;
}

static int mem_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	struct vfile *f = (struct vfile *)pf;
	int rc;

	if (size < 0 || (uint64_t)size > SQLVFS_MEM_MAX)
		return SQLITE_IOERR_TRUNCATE;
	if ((size_t)size < f->mem_size) {
		/* keep the invariant that bytes past the end are zero */
		shelter_wipe(f->mem + size, f->mem_size - (size_t)size);
		f->mem_size = (size_t)size;
		return SQLITE_OK;
	}
	rc = mem_reserve(f, (size_t)size);
	if (rc == SQLITE_OK)
		f->mem_size = (size_t)size;
	return rc;
}

static int mem_sync(sqlite3_file *pf, int flags)
{
	(void)pf;
	(void)flags;
	return SQLITE_OK; /* nothing outlives the process: there is nothing to sync */
}

static int mem_file_size(sqlite3_file *pf, sqlite3_int64 *out)
{
	*out = (sqlite3_int64)((struct vfile *)pf)->mem_size;
	return SQLITE_OK;
}

static int mem_device_characteristics(sqlite3_file *pf)
{
	(void)pf;
	return SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_SEQUENTIAL |
	       SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

static const sqlite3_io_methods memory_io = {
	.iVersion = 1,
	.xClose = mem_close,
	.xRead = mem_read,
	.xWrite = mem_write,
	.xTruncate = mem_truncate,
	.xSync = mem_sync,
	.xFileSize = mem_file_size,
	.xLock = io_lock,
	.xUnlock = io_unlock,
	.xCheckReservedLock = io_check_reserved,
	.xFileControl = io_file_control,
	.xSectorSize = io_sector_size,
	.xDeviceCharacteristics = mem_device_characteristics,
};

/* --- the VFS methods --- */

static void count_open(struct sqlvfs *v)
{
	pthread_mutex_lock(&v->mu);
	v->nopen++;
	pthread_mutex_unlock(&v->mu);
}

/* §3.1: a named file is a volume file at that path; a file without a name (temp
 * databases, temp journals, sort and statement spills) lives in memory. */
static int vfs_open(sqlite3_vfs *pvfs, const char *name, sqlite3_file *pf, int flags,
		    int *out_flags)
{
	struct sqlvfs *v = (struct sqlvfs *)pvfs;
	struct vfile *f = (struct vfile *)pf;
	char path[SQLVFS_PATH_MAX];
	struct shelter_err e;
	int vflags, vrc, rc = SQLITE_OK;

	memset(f, 0, sizeof(*f));
	f->vfs = v;
	f->flags = flags;
	shelter_err_clear(&e);
	if (name == NULL) {
		f->kind = VF_MEMORY;
		f->base.pMethods = &memory_io;
		goto out;
	}
	rc = canonical_path(name, path, sizeof(path));
	if (rc != SQLITE_OK) {
		(void)shelter_err_set(&tl_err, SHELTER_E_INVAL,
				      "sqlvfs '%s': open '%.300s': not a volume path", v->name,
				      name);
		goto out;
	}
	vflags = (flags & SQLITE_OPEN_READWRITE) ? SHELTER_O_RDWR : SHELTER_O_RDONLY;
	if (flags & SQLITE_OPEN_CREATE)
		vflags |= SHELTER_O_CREAT;
	if (flags & SQLITE_OPEN_EXCLUSIVE)
		vflags |= SHELTER_O_EXCL;
	f->kind = VF_VOLUME;
	rc = run_flush(v); /* a create is an operation: after the writes before it */
	if (rc != SQLITE_OK)
		goto out;
	f->path = strdup(path);
	f->node = f->path != NULL ? node_get(v->vol, path) : NULL;
	if (f->node == NULL) {
		rc = SQLITE_NOMEM;
		goto out;
	}
	vrc = shelter_file_open(v->vol, path, vflags, 0600, &f->f, &e);
	if (vrc < 0) {
		rc = fail(v, &e, vrc, SQLITE_CANTOPEN, "open '%s'", path);
		if (rc != SQLITE_IOERR_DATA && rc != SQLITE_IOERR_NOMEM)
			rc = SQLITE_CANTOPEN;
		goto out;
	}
	f->base.pMethods = &volume_io;
out:
	if (rc != SQLITE_OK) {
		if (f->node != NULL)
			node_put(f->node);
		free(f->path);
		memset(f, 0, sizeof(*f)); /* pMethods NULL: SQLite will not call xClose */
		return rc;
	}
	count_open(v);
	if (out_flags != NULL)
		*out_flags = flags;
	return SQLITE_OK;
}

/* xDelete; dir_sync asks for the removal itself to be durable (SQLite sets it with
 * synchronous=EXTRA): the volume's sync covers the unlink like any operation. */
static int vfs_delete(sqlite3_vfs *pvfs, const char *name, int dir_sync)
{
	struct sqlvfs *v = (struct sqlvfs *)pvfs;
	char path[SQLVFS_PATH_MAX];
	struct shelter_err e;
	int vrc;

	shelter_err_clear(&e);
	if (canonical_path(name, path, sizeof(path)) != SQLITE_OK)
		return SQLITE_IOERR_DELETE;
	vrc = run_flush(v);
	if (vrc != SQLITE_OK)
		return vrc;
	vrc = shelter_volume_unlink(v->vol, path, &e);
	if (vrc == SHELTER_E_NOENT)
		return SQLITE_IOERR_DELETE_NOENT;
	if (vrc < 0)
		return fail(v, &e, vrc, SQLITE_IOERR_DELETE, "delete '%s'", path);
	if (dir_sync) {
		vrc = shelter_volume_sync(v->vol, &e);
		if (vrc < 0)
			return fail(v, &e, vrc, SQLITE_IOERR_DIR_FSYNC, "sync after delete '%s'",
				    path);
	}
	return SQLITE_OK;
}

/* xAccess, as os_unix.c answers it: an empty regular file does not "exist", which
 * spares SQLite opening a journal that a TRUNCATE commit left empty. Every file of
 * the volume is readable and writable by its one owner. */
static int vfs_access(sqlite3_vfs *pvfs, const char *name, int flags, int *out)
{
	struct sqlvfs *v = (struct sqlvfs *)pvfs;
	char path[SQLVFS_PATH_MAX];
	struct shelter_stat st;
	struct shelter_err e;
	int vrc;

	*out = 0;
	shelter_err_clear(&e);
	if (canonical_path(name, path, sizeof(path)) != SQLITE_OK)
		return SQLITE_OK;
	vrc = run_flush(v); /* sizes must include pending bytes */
	if (vrc != SQLITE_OK)
		return vrc;
	vrc = shelter_volume_stat(v->vol, path, &st, &e);
	if (vrc == SHELTER_E_NOENT || vrc == SHELTER_E_NOTDIR)
		return SQLITE_OK;
	if (vrc < 0)
		return fail(v, &e, vrc, SQLITE_IOERR_ACCESS, "access '%s'", path);
	if (flags == SQLITE_ACCESS_EXISTS)
		*out = st.type != SHELTER_FT_REG || st.size > 0;
	else
		*out = 1;
	return SQLITE_OK;
}

static int vfs_full_pathname(sqlite3_vfs *pvfs, const char *name, int size, char *out)
{
	struct sqlvfs *v = (struct sqlvfs *)pvfs;

	if (size <= 0 || canonical_path(name, out, (size_t)size) != SQLITE_OK) {
		(void)shelter_err_set(&tl_err, SHELTER_E_INVAL,
				      "sqlvfs '%s': '%.300s': not a volume path (no '..', at "
				      "most %d bytes)", v->name, name, SQLVFS_PATH_MAX - 1);
		return SQLITE_CANTOPEN;
	}
	return SQLITE_OK;
}

static int vfs_randomness(sqlite3_vfs *pvfs, int size, char *out)
{
	(void)pvfs;
	if (size <= 0)
		return 0;
	if (RAND_bytes((unsigned char *)out, size) != 1) {
		memset(out, 0, (size_t)size);
		return 0;
	}
	return size;
}

static int vfs_sleep(sqlite3_vfs *pvfs, int us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	(void)pvfs;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	return us;
}

/* Julian day number in milliseconds, as os_unix.c computes it. */
static int vfs_current_time_int64(sqlite3_vfs *pvfs, sqlite3_int64 *out)
{
	static const sqlite3_int64 unix_epoch = 24405875 * (sqlite3_int64)8640000;
	struct timespec ts;

	(void)pvfs;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return SQLITE_ERROR;
	*out = unix_epoch + 1000 * (sqlite3_int64)ts.tv_sec + ts.tv_nsec / 1000000;
	return SQLITE_OK;
}

static int vfs_current_time(sqlite3_vfs *pvfs, double *out)
{
	sqlite3_int64 ms = 0;
	int rc = vfs_current_time_int64(pvfs, &ms);

	*out = (double)ms / 86400000.0;
	return rc;
}

static int vfs_get_last_error(sqlite3_vfs *pvfs, int size, char *out)
{
	(void)pvfs;
	if (size > 0)
		snprintf(out, (size_t)size, "%s", tl_err.msg);
	return shelter_code_to_errno(tl_err.code);
}

/* --- registration --- */

int cas_sqlvfs_register(const char *vfs_name, struct shelter_volume *vol,
			struct shelter_err *err)
{
	struct sqlvfs *v = NULL;
	size_t len = vfs_name != NULL ? strlen(vfs_name) : 0;
	int rc = 0;

	if (len == 0 || len > SQLVFS_NAME_MAX || vol == NULL) {
		rc = shelter_err_set(err, SHELTER_E_INVAL,
				     "sqlvfs: name must be 1 to %d bytes and a volume given",
				     SQLVFS_NAME_MAX);
		goto out;
	}
	if (sqlite3_vfs_find(vfs_name) != NULL) {
		rc = shelter_err_set(err, SHELTER_E_EXIST, "sqlvfs '%s': already registered",
				     vfs_name);
		goto out;
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "sqlvfs '%s': out of memory", vfs_name);
		goto out;
	}
	v->run = malloc(SQLVFS_RUN_MAX);
	if (v->run == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "sqlvfs '%s': out of memory", vfs_name);
		goto out;
	}
	memcpy(v->name, vfs_name, len + 1);
	v->vol = vol;
	pthread_mutex_init(&v->mu, NULL);
	v->base = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct vfile),
		.mxPathname = SQLVFS_PATH_MAX,
		.zName = v->name,
		.pAppData = v,
		.xOpen = vfs_open,
		.xDelete = vfs_delete,
		.xAccess = vfs_access,
		.xFullPathname = vfs_full_pathname,
		.xRandomness = vfs_randomness,
		.xSleep = vfs_sleep,
		.xCurrentTime = vfs_current_time,
		.xGetLastError = vfs_get_last_error,
		.xCurrentTimeInt64 = vfs_current_time_int64,
	};
	if (sqlite3_vfs_register(&v->base, 0) != SQLITE_OK) {
		rc = shelter_err_set(err, SHELTER_E_INTERNAL, "sqlvfs '%s': SQLite refused it",
				     vfs_name);
		goto out;
	}
	v = NULL;
out:
	if (v != NULL) {
		if (v->vol != NULL)
			pthread_mutex_destroy(&v->mu);
		free(v->run);
		free(v);
	}
	return rc;
}

int cas_sqlvfs_unregister(const char *vfs_name)
{
	sqlite3_vfs *base = vfs_name != NULL ? sqlite3_vfs_find(vfs_name) : NULL;
	struct sqlvfs *v;
	long nopen;

	if (base == NULL || base->xOpen != vfs_open)
		return SHELTER_E_NOENT;
	v = base->pAppData;
	pthread_mutex_lock(&v->mu);
	nopen = v->nopen;
	pthread_mutex_unlock(&v->mu);
	if (nopen != 0)
		return SHELTER_E_INVAL;
	sqlite3_vfs_unregister(base);
	pthread_mutex_destroy(&v->mu);
	/* the run held database pages in the clear */
	shelter_wipe(v->run, SQLVFS_RUN_MAX);
	free(v->run);
	free(v);
	return 0;
}
