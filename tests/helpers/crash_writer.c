/* Crash-test writer for protected volumes: docs/formats/volume.md §8.
 *
 * usage: crash_writer [--fork] [--trace] [--progress FILE] VOLDIR KEYFILE SEED OPS
 *
 * Runs a pseudo-random sequence of OPS volume operations derived only from SEED
 * (writes of 1 B to 300 KiB at random offsets, chunk-aligned writes, appends, rare
 * unaligned writes of up to 1 MiB, truncates, creates, unlinks, renames that replace,
 * mkdir/rmdir, symlinks, chmod, a long-lived handle that keeps writing to a file
 * after it is renamed or unlinked, and the odd shelter_volume_compact, which must
 * leave the tree as it was) on a handful of files in a couple of directories
 * under one base directory. Every few operations (again chosen by the PRNG) it syncs
 * and then prints "ack N" (N = operations completed) and flushes stdout, so a test
 * that kills it with SIGKILL knows which prefix of the sequence must have survived.
 * Segments are 64 KiB so that the log rolls over every few operations.
 *
 * --fork: after opening the volume, fork a child that runs an independent stream
 * (seed derived from SEED, base directory "c") on the inherited handle while the
 * parent runs its own (base "p"), like redis writing a snapshot from a BGSAVE child
 * while the parent appends. Lines are then "ack P N" / "ack C N"; the parent prints
 * "child PID" first. Without --fork the base is "s" and lines carry no stream letter.
 * At the end "done [P|C] N" is printed.
 *
 * --progress FILE: keep, in a shared mapping of FILE (which survives SIGKILL), the
 * number of the operation each stream last started and last completed (struct
 * progress), so the checker can tell whether the kill landed inside an API call.
 *
 * Exit: 0 done, 2 usage, 3 an operation failed (the message names the op).
 *
 * crash_check.c includes this file with CRASH_MODEL_ONLY defined: the op generator
 * and the in-memory model are one piece of code, so the writer and the checker can
 * never disagree about what operation N was.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shelter/volume.h"
#include "../rng.h"

/* ---- PRNG: splitmix64 ------------------------------------------------------------ */


/* Roughly log-uniform in [1, max]. */
static uint64_t rng_size(struct rng *r, uint64_t max)
{
	uint64_t bits = 1 + rng_below(r, 19), lim = UINT64_C(1) << bits;

	if (lim > max)
		lim = max;
	return 1 + rng_below(r, lim);
}

/* ---- model ------------------------------------------------------------------------ */

#define CW_CHUNK 4096u
#define CW_MAX_WRITE (300u * 1024u)
#define CW_BIG_WRITE (1024u * 1024u)
#define CW_MAX_FILE (2u * 1024u * 1024u)
#define CW_NODES 64
#define CW_PATH 64
#define CW_TARGET 4096
#define CW_MAX_DIRS 4   /* directories besides the base */
#define CW_MAX_DEPTH 2  /* directory levels below the base */
#define CW_SEGMENT_SIZE 65536

static const char *const file_names[] = { "a", "b", "c", "d", "e" };
static const char *const dir_names[] = { "d0", "d1", "d2" };
#define NFILE_NAMES (sizeof(file_names) / sizeof(file_names[0]))
#define NDIR_NAMES (sizeof(dir_names) / sizeof(dir_names[0]))

struct mnode {
	int used;
	uint8_t type;          /* enum shelter_file_type */
	uint32_t mode;
	char path[CW_PATH];    /* "" once unlinked (kept while the handle holds it) */
	uint8_t *data;         /* regular files */
	size_t size, cap;
	char target[CW_TARGET]; /* symlinks */
};

struct model {
	char base[8];
	struct mnode n[CW_NODES];
	int handle;        /* node the long-lived handle writes to, -1 when closed */
	int handle_append; /* handle opened with O_APPEND */
};

enum op_kind {
	OP_BASE = 1, /* mkdir of the stream's base directory: always operation 1 */
	OP_WRITE,
	OP_TRUNC,
	OP_CREATE,
	OP_UNLINK,
	OP_RENAME,
	OP_MKDIR,
	OP_RMDIR,
	OP_SYMLINK,
	OP_CHMOD,
	OP_HANDLE, /* close the long-lived handle and maybe open another file */
	OP_COMPACT, /* shelter_volume_compact: changes nothing visible */
};

static const char *const op_names[] = {
	"?", "base", "write", "truncate", "create", "unlink", "rename",
	"mkdir", "rmdir", "symlink", "chmod", "handle", "compact",
};

/* How the operation reaches the volume. */
enum op_via {
	VIA_PATH = 0,   /* open by path, call, close */
	VIA_APPEND,     /* write: open by path with O_APPEND */
	VIA_HANDLE,     /* write/truncate through the long-lived handle */
	VIA_VOLUME,     /* truncate: shelter_volume_truncate */
	VIA_TRUNC,      /* create: O_CREAT|O_TRUNC on an existing file */
};

struct op {
	int kind;
	int via;
	char path[CW_PATH], path2[CW_PATH];
	uint64_t off, len;   /* write: offset and length; truncate: len = new size */
	uint32_t mode;       /* create, mkdir, chmod; handle: open flags */
	const uint8_t *data; /* write: len bytes (a static buffer reused by every op) */
	char target[CW_TARGET]; /* symlink; last, so gen_op need not clear it */
};

static uint8_t op_buf[CW_BIG_WRITE];

static void model_init(struct model *m, const char *base)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->base, sizeof(m->base), "%s", base);
	m->handle = -1;
}

static void model_free(struct model *m)
{
	for (int i = 0; i < CW_NODES; i++)
		free(m->n[i].data);
	memset(m, 0, sizeof(*m));
}

static int node_find(const struct model *m, const char *path)
{
	for (int i = 0; i < CW_NODES; i++)
		if (m->n[i].used && m->n[i].path[0] != '\0' && strcmp(m->n[i].path, path) == 0)
			return i;
	return -1;
}

static int node_new(struct model *m, uint8_t type, uint32_t mode, const char *path)
{
	for (int i = 0; i < CW_NODES; i++) {
		if (m->n[i].used)
			continue;
		memset(&m->n[i], 0, sizeof(m->n[i]));
		m->n[i].used = 1;
		m->n[i].type = type;
		m->n[i].mode = mode & 07777;
		snprintf(m->n[i].path, CW_PATH, "%s", path);
		return i;
	}
	fprintf(stderr, "crash model: out of nodes\n");
	exit(4);
}

static void node_drop(struct model *m, int i)
{
	free(m->n[i].data);
	memset(&m->n[i], 0, sizeof(m->n[i]));
}

/* An entry leaves the tree; the node survives while the handle refers to it. */
static void node_unlink(struct model *m, int i)
{
	if (m->handle == i)
		m->n[i].path[0] = '\0';
	else
		node_drop(m, i);
}

static void node_resize(struct mnode *n, size_t size)
{
	if (size > n->cap) {
		size_t cap = n->cap ? n->cap : 4096;
		uint8_t *d;

		while (cap < size)
			cap *= 2;
		d = realloc(n->data, cap);
		if (d == NULL) {
			fprintf(stderr, "crash model: out of memory\n");
			exit(4);
		}
		n->data = d;
		n->cap = cap;
	}
	if (size > n->size)
		memset(n->data + n->size, 0, size - n->size);
	n->size = size;
}

/* Directory levels below the base ("s" is 0, "s/d0" is 1). */
static int path_depth(const char *path)
{
	int d = 0;

	for (; *path != '\0'; path++)
		d += *path == '/';
	return d;
}

static int is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static int dir_empty(const struct model *m, const char *dir)
{
	for (int i = 0; i < CW_NODES; i++)
		if (m->n[i].used && is_under(m->n[i].path, dir))
			return 0;
	return 1;
}

static int count_dirs(const struct model *m)
{
	int c = 0;

	for (int i = 0; i < CW_NODES; i++)
		c += m->n[i].used && m->n[i].type == SHELTER_FT_DIR && m->n[i].path[0] != '\0';
	return c - 1; /* the base */
}

/* Deepest directory level in the subtree at dir, relative to dir itself. */
static int subtree_height(const struct model *m, const char *dir)
{
	int h = 0, base = path_depth(dir);

	for (int i = 0; i < CW_NODES; i++)
		if (m->n[i].used && m->n[i].type == SHELTER_FT_DIR && is_under(m->n[i].path, dir) &&
		    path_depth(m->n[i].path) - base > h)
			h = path_depth(m->n[i].path) - base;
	return h;
}

/* A uniformly chosen used, linked node whose type is in mask (1 << type); the base
 * is only eligible with with_base. Returns -1 when there is none. */
static int pick_node(const struct model *m, struct rng *r, unsigned mask, int with_base)
{
	int cand[CW_NODES], nc = 0;

	for (int i = 0; i < CW_NODES; i++) {
		const struct mnode *n = &m->n[i];

		if (!n->used || n->path[0] == '\0' || !(mask & (1u << n->type)))
			continue;
		if (!with_base && strcmp(n->path, m->base) == 0)
			continue;
		cand[nc++] = i;
	}
	return nc == 0 ? -1 : cand[rng_below(r, (uint64_t)nc)];
}

#define T_REG (1u << SHELTER_FT_REG)
#define T_DIR (1u << SHELTER_FT_DIR)
#define T_LNK (1u << SHELTER_FT_LNK)

/* A directory to hold a new entry, at most max_depth levels below the base. */
static const char *pick_dir(const struct model *m, struct rng *r, int max_depth)
{
	int cand[CW_NODES], nc = 0;

	for (int i = 0; i < CW_NODES; i++)
		if (m->n[i].used && m->n[i].type == SHELTER_FT_DIR && m->n[i].path[0] != '\0' &&
		    path_depth(m->n[i].path) <= max_depth)
			cand[nc++] = i;
	return m->n[cand[rng_below(r, (uint64_t)nc)]].path;
}

static void join(char out[CW_PATH], const char *dir, const char *name)
{
	snprintf(out, CW_PATH, "%s/%s", dir, name);
}

static void fill_data(uint64_t seed, uint8_t *buf, size_t len)
{
	struct rng d = { seed };
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t x = rng_next(&d);

		memcpy(buf + i, &x, 8);
	}
	if (i < len) {
		uint64_t x = rng_next(&d);

		memcpy(buf + i, &x, len - i);
	}
}

static int gen_write(const struct model *m, struct rng *r, struct op *op)
{
	int use_handle = m->handle >= 0 && rng_below(r, 3) == 0;
	int i = use_handle ? m->handle : pick_node(m, r, T_REG, 0);
	uint64_t size, style = rng_below(r, 100);

	if (i < 0)
		return 0;
	size = m->n[i].size;
	op->via = use_handle ? VIA_HANDLE : VIA_PATH;
	snprintf(op->path, CW_PATH, "%s", m->n[i].path);
	if (use_handle && m->handle_append) {
		op->len = rng_size(r, CW_MAX_WRITE);
		op->off = size;
	} else if (style < 15) { /* small, anywhere up to a little past the end */
		op->len = 1 + rng_below(r, 512);
		op->off = rng_below(r, size + 8192);
	} else if (style < 35) { /* append */
		op->len = rng_size(r, CW_MAX_WRITE);
		op->off = size;
		if (!use_handle && rng_below(r, 2) == 0)
			op->via = VIA_APPEND;
	} else if (style < 55) { /* whole chunks, chunk-aligned */
		op->len = CW_CHUNK * (1 + rng_below(r, rng_below(r, 4) == 0 ? 75 : 4));
		op->off = CW_CHUNK * rng_below(r, size / CW_CHUNK + 3);
	} else if (style < 90) { /* anything */
		op->len = rng_size(r, CW_MAX_WRITE);
		op->off = rng_below(r, size + 65536);
	} else {
		/* Up to 1 MiB at an odd offset: the crash guarantee this test holds the
		 * library to makes one pwrite of at most 1 MiB one atomic operation. Such a
		 * write mostly touches 257 chunks; the library (and docs/formats/volume.md §5.3,
		 * §8.1 as of this writing) splits writes after 256 chunks, so a kill between
		 * its two groups leaves half of it: that is reported, not tolerated. */
		op->len = CW_BIG_WRITE - rng_below(r, 8192);
		op->off = rng_below(r, size + 1) | 1;
	}
	if (op->off + op->len > CW_MAX_FILE) {
		op->off = rng_below(r, CW_MAX_FILE - op->len + 1);
		if (op->via == VIA_APPEND)
			op->via = VIA_PATH;
		if (use_handle && m->handle_append)
			return 0; /* an O_APPEND handle cannot choose its offset */
	}
	fill_data(rng_next(r), op_buf, op->len);
	op->data = op_buf;
	return 1;
}

static int gen_trunc(const struct model *m, struct rng *r, struct op *op)
{
	int use_handle = m->handle >= 0 && rng_below(r, 3) == 0;
	int i = use_handle ? m->handle : pick_node(m, r, T_REG, 0);
	uint64_t size, style = rng_below(r, 4);

	if (i < 0)
		return 0;
	size = m->n[i].size;
	op->via = use_handle ? VIA_HANDLE : rng_below(r, 2) ? VIA_VOLUME : VIA_PATH;
	snprintf(op->path, CW_PATH, "%s", m->n[i].path);
	if (style == 0 && size > 0) /* shrink, usually mid-chunk */
		op->len = rng_below(r, size);
	else if (style == 1 && size > CW_CHUNK) /* shrink to a chunk boundary */
		op->len = CW_CHUNK * rng_below(r, size / CW_CHUNK);
	else if (style == 2) /* extend */
		op->len = size + rng_size(r, 200 * 1024);
	else
		op->len = rng_below(r, size + 100 * 1024);
	if (op->len > CW_MAX_FILE)
		op->len = CW_MAX_FILE;
	return 1;
}

static int gen_create(const struct model *m, struct rng *r, struct op *op)
{
	static const uint32_t modes[] = { 0600, 0644, 0640, 0755, 04755, 0 };
	int i;

	join(op->path, pick_dir(m, r, CW_MAX_DEPTH), file_names[rng_below(r, NFILE_NAMES)]);
	op->mode = modes[rng_below(r, sizeof(modes) / sizeof(modes[0]))];
	i = node_find(m, op->path);
	if (i < 0) {
		op->via = VIA_PATH;
		return 1;
	}
	if (m->n[i].type != SHELTER_FT_REG)
		return 0;
	op->via = VIA_TRUNC;
	return 1;
}

static int gen_rename(const struct model *m, struct rng *r, struct op *op)
{
	int i = pick_node(m, r, rng_below(r, 5) == 0 ? T_DIR : T_REG | T_LNK, 0), j;

	if (i < 0)
		return 0;
	snprintf(op->path, CW_PATH, "%s", m->n[i].path);
	if (m->n[i].type != SHELTER_FT_DIR) {
		join(op->path2, pick_dir(m, r, CW_MAX_DEPTH), file_names[rng_below(r, NFILE_NAMES)]);
		j = node_find(m, op->path2);
		return j != i && (j < 0 || m->n[j].type != SHELTER_FT_DIR);
	}
	join(op->path2, pick_dir(m, r, CW_MAX_DEPTH - 1), dir_names[rng_below(r, NDIR_NAMES)]);
	j = node_find(m, op->path2);
	if (j == i || strcmp(op->path2, op->path) == 0 || is_under(op->path2, op->path))
		return 0;
	if (j >= 0 && (m->n[j].type != SHELTER_FT_DIR || !dir_empty(m, op->path2)))
		return 0;
	return path_depth(op->path2) - path_depth(m->base) + subtree_height(m, op->path) <=
	       CW_MAX_DEPTH;
}

static void gen_target(struct rng *r, char *out)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789._-/";
	size_t len = rng_below(r, 8) == 0 ? 1000 + rng_below(r, 3000) : 1 + rng_below(r, 60);

	for (size_t k = 0; k < len; k++)
		out[k] = alphabet[rng_below(r, sizeof(alphabet) - 1)];
	out[len] = '\0';
}

/* Draw the next operation for the model's current state. */
static void gen_op(const struct model *m, struct rng *r, uint64_t n, struct op *op)
{
	memset(op, 0, offsetof(struct op, target));
	op->target[0] = '\0';
	if (n == 1) {
		op->kind = OP_BASE;
		snprintf(op->path, CW_PATH, "%s", m->base);
		op->mode = 0755;
		return;
	}
	for (;;) {
		uint64_t w = rng_below(r, 100);
		int ok = 0, i;

		memset(op, 0, offsetof(struct op, target)); /* nothing left from a rejected draw */
		if (w < 45) {
			op->kind = OP_WRITE;
			ok = gen_write(m, r, op);
		} else if (w < 55) {
			op->kind = OP_TRUNC;
			ok = gen_trunc(m, r, op);
		} else if (w < 65) {
			op->kind = OP_CREATE;
			ok = gen_create(m, r, op);
		} else if (w < 70) {
			op->kind = OP_UNLINK;
			i = pick_node(m, r, T_REG | T_LNK, 0);
			if ((ok = i >= 0))
				snprintf(op->path, CW_PATH, "%s", m->n[i].path);
		} else if (w < 79) {
			op->kind = OP_RENAME;
			ok = gen_rename(m, r, op);
		} else if (w < 83) {
			op->kind = OP_MKDIR;
			join(op->path, pick_dir(m, r, CW_MAX_DEPTH - 1),
			     dir_names[rng_below(r, NDIR_NAMES)]);
			op->mode = 0700 | (uint32_t)rng_below(r, 0100);
			ok = count_dirs(m) < CW_MAX_DIRS && node_find(m, op->path) < 0;
		} else if (w < 86) {
			op->kind = OP_RMDIR;
			i = pick_node(m, r, T_DIR, 0);
			if ((ok = i >= 0 && dir_empty(m, m->n[i].path)))
				snprintf(op->path, CW_PATH, "%s", m->n[i].path);
		} else if (w < 91) {
			op->kind = OP_SYMLINK;
			join(op->path, pick_dir(m, r, CW_MAX_DEPTH),
			     file_names[rng_below(r, NFILE_NAMES)]);
			gen_target(r, op->target);
			ok = node_find(m, op->path) < 0;
		} else if (w < 94) {
			op->kind = OP_CHMOD;
			i = pick_node(m, r, T_REG | T_DIR, 1);
			op->mode = (uint32_t)rng_below(r, 010000);
			if ((ok = i >= 0))
				snprintf(op->path, CW_PATH, "%s", m->n[i].path);
		} else if (w < 95) {
			op->kind = OP_COMPACT;
			ok = 1;
		} else {
			static const int flags[] = { SHELTER_O_RDWR, SHELTER_O_WRONLY | SHELTER_O_APPEND,
						     SHELTER_O_RDWR | SHELTER_O_APPEND };

			op->kind = OP_HANDLE;
			i = rng_below(r, 5) == 0 ? -1 : pick_node(m, r, T_REG, 0);
			op->mode = (uint32_t)flags[rng_below(r, 3)];
			if (i >= 0)
				snprintf(op->path, CW_PATH, "%s", m->n[i].path);
			ok = 1;
		}
		if (ok)
			return;
	}
}

static void model_write(struct mnode *n, uint64_t off, const uint8_t *data, uint64_t len)
{
	if (off + len > n->size)
		node_resize(n, (size_t)(off + len));
	memcpy(n->data + off, data, (size_t)len);
}

static void model_apply(struct model *m, const struct op *op)
{
	int i = op->via == VIA_HANDLE ? m->handle : node_find(m, op->path), j;

	switch (op->kind) {
	case OP_BASE:
	case OP_MKDIR:
		node_new(m, SHELTER_FT_DIR, op->mode, op->path);
		break;
	case OP_WRITE:
		model_write(&m->n[i], op->off, op->data, op->len);
		break;
	case OP_TRUNC:
		node_resize(&m->n[i], (size_t)op->len);
		break;
	case OP_CREATE:
		if (op->via == VIA_TRUNC)
			node_resize(&m->n[i], 0);
		else
			node_new(m, SHELTER_FT_REG, op->mode, op->path);
		break;
	case OP_UNLINK:
	case OP_RMDIR:
		node_unlink(m, i);
		break;
	case OP_RENAME:
		j = node_find(m, op->path2);
		if (j >= 0)
			node_unlink(m, j);
		if (m->n[i].type == SHELTER_FT_DIR) {
			size_t old = strlen(op->path);

			for (int k = 0; k < CW_NODES; k++) {
				char tmp[CW_PATH];

				if (!m->n[k].used || !is_under(m->n[k].path, op->path))
					continue;
				snprintf(tmp, sizeof(tmp), "%s%s", op->path2, m->n[k].path + old);
				memcpy(m->n[k].path, tmp, CW_PATH);
			}
		}
		snprintf(m->n[i].path, CW_PATH, "%s", op->path2);
		break;
	case OP_SYMLINK:
		i = node_new(m, SHELTER_FT_LNK, 0777, op->path);
		snprintf(m->n[i].target, CW_TARGET, "%s", op->target);
		m->n[i].size = strlen(op->target);
		break;
	case OP_CHMOD:
		m->n[i].mode = op->mode & 07777;
		break;
	case OP_HANDLE:
		if (m->handle >= 0 && m->n[m->handle].path[0] == '\0')
			node_drop(m, m->handle);
		m->handle = op->path[0] != '\0' ? i : -1;
		m->handle_append = (op->mode & SHELTER_O_APPEND) != 0;
		break;
	case OP_COMPACT:
		break;
	default:
		fprintf(stderr, "crash model: bad op kind %d\n", op->kind);
		exit(4);
	}
}

static void op_describe(const struct op *op, char *buf, size_t size)
{
	switch (op->kind) {
	case OP_WRITE:
		snprintf(buf, size, "write %s off %" PRIu64 " len %" PRIu64 " via %d", op->path,
			 op->off, op->len, op->via);
		break;
	case OP_TRUNC:
		snprintf(buf, size, "truncate %s to %" PRIu64 " via %d", op->path, op->len, op->via);
		break;
	case OP_RENAME:
		snprintf(buf, size, "rename %s -> %s", op->path, op->path2);
		break;
	case OP_SYMLINK:
		snprintf(buf, size, "symlink %s (target %zu bytes)", op->path, strlen(op->target));
		break;
	default:
		snprintf(buf, size, "%s %s mode %o via %d", op_names[op->kind], op->path, op->mode,
			 op->via);
		break;
	}
}

/* ---- shared helpers ----------------------------------------------------------------- */

static int read_key(const char *path, uint8_t key[SHELTER_VOLUME_KEY_SIZE])
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "key file '%s': %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(key, 1, SHELTER_VOLUME_KEY_SIZE, f);
	fclose(f);
	if (n != SHELTER_VOLUME_KEY_SIZE) {
		fprintf(stderr, "key file '%s': need %d bytes\n", path, SHELTER_VOLUME_KEY_SIZE);
		return -1;
	}
	return 0;
}

static uint64_t child_seed(uint64_t seed)
{
	struct rng r = { seed ^ UINT64_C(0x5eed0fc41d5eed00) };

	return rng_next(&r);
}

/* ---- applying an operation to the volume --------------------------------------------- */

/* --progress: one slot per stream (0: single or parent, 1: child). */
struct progress {
	uint64_t started, completed;
};

#define PROGRESS_SLOTS 2

struct stream {
	const char *tag;   /* "" (single), "P " or "C " */
	volatile struct progress *progress; /* NULL without --progress */
	struct model m;
	struct rng ops;
	struct rng sync;
	struct shelter_file *h;
	int trace;
};

static int apply_write(struct shelter_volume *vol, struct stream *s, const struct op *op,
		       struct shelter_err *err)
{
	struct shelter_file *f = s->h;
	uint64_t at = UINT64_MAX;
	int rc = 0;

	if (op->via != VIA_HANDLE)
		rc = shelter_file_open(vol, op->path,
				       op->via == VIA_APPEND ? SHELTER_O_WRONLY | SHELTER_O_APPEND
							     : SHELTER_O_RDWR,
				       0, &f, err);
	if (rc == 0)
		rc = shelter_file_pwrite(f, op->data, (size_t)op->len, op->off, &at, err);
	if (rc == 0 && at != op->off)
		rc = shelter_err_set(err, SHELTER_E_INTERNAL,
				     "write landed at %" PRIu64 ", model says %" PRIu64, at, op->off);
	if (op->via != VIA_HANDLE)
		shelter_file_close(f);
	return rc;
}

static int apply_trunc(struct shelter_volume *vol, struct stream *s, const struct op *op,
		       struct shelter_err *err)
{
	struct shelter_file *f = NULL;
	int rc;

	if (op->via == VIA_VOLUME)
		return shelter_volume_truncate(vol, op->path, op->len, err);
	if (op->via == VIA_HANDLE)
		return shelter_file_truncate(s->h, op->len, err);
	rc = shelter_file_open(vol, op->path, SHELTER_O_WRONLY, 0, &f, err);
	if (rc == 0)
		rc = shelter_file_truncate(f, op->len, err);
	shelter_file_close(f);
	return rc;
}

static int apply_op(struct shelter_volume *vol, struct stream *s, const struct op *op,
		    struct shelter_err *err)
{
	struct shelter_file *f = NULL;
	int rc;

	switch (op->kind) {
	case OP_BASE:
	case OP_MKDIR:
		return shelter_volume_mkdir(vol, op->path, op->mode, err);
	case OP_WRITE:
		return apply_write(vol, s, op, err);
	case OP_TRUNC:
		return apply_trunc(vol, s, op, err);
	case OP_CREATE:
		rc = shelter_file_open(vol, op->path,
				       SHELTER_O_RDWR | SHELTER_O_CREAT |
					       (op->via == VIA_TRUNC ? SHELTER_O_TRUNC : SHELTER_O_EXCL),
				       op->mode, &f, err);
		shelter_file_close(f);
		return rc;
	case OP_UNLINK:
		return shelter_volume_unlink(vol, op->path, err);
	case OP_RMDIR:
		return shelter_volume_rmdir(vol, op->path, err);
	case OP_RENAME:
		return shelter_volume_rename(vol, op->path, op->path2, err);
	case OP_SYMLINK:
		return shelter_volume_symlink(vol, op->target, op->path, err);
	case OP_CHMOD:
		return shelter_volume_chmod(vol, op->path, op->mode, err);
	case OP_HANDLE:
		shelter_file_close(s->h);
		s->h = NULL;
		if (op->path[0] == '\0')
			return 0;
		return shelter_file_open(vol, op->path, (int)op->mode, 0, &s->h, err);
	case OP_COMPACT:
		return shelter_volume_compact(vol, err);
	default:
		return shelter_err_set(err, SHELTER_E_INTERNAL, "bad op kind %d", op->kind);
	}
}

#ifndef CRASH_MODEL_ONLY

/* The sync/ack schedule has its own PRNG, so the model never depends on it. */
static uint64_t sync_seed(uint64_t seed)
{
	struct rng r = { seed ^ UINT64_C(0xac4ac4ac4ac4ac4a) };

	return rng_next(&r);
}

static int sync_now(struct shelter_volume *vol, struct stream *s, struct shelter_err *err)
{
	if (s->h != NULL && rng_below(&s->sync, 2) == 0)
		return shelter_file_sync(s->h, err);
	return shelter_volume_sync(vol, err);
}

static int run_stream(struct shelter_volume *vol, struct stream *s, uint64_t count)
{
	struct shelter_err err;
	char desc[160];
	struct op *op = malloc(sizeof(*op));
	uint64_t n;
	int rc = 0;

	if (op == NULL)
		return 3;
	for (n = 1; n <= count; n++) {
		shelter_err_clear(&err);
		gen_op(&s->m, &s->ops, n, op);
		if (s->trace) {
			op_describe(op, desc, sizeof(desc));
			fprintf(stderr, "%sop %" PRIu64 ": %s\n", s->tag, n, desc);
		}
		if (s->progress != NULL)
			s->progress->started = n;
		rc = apply_op(vol, s, op, &err);
		if (s->progress != NULL && rc == 0)
			s->progress->completed = n;
		if (rc < 0)
			break;
		model_apply(&s->m, op);
		/* every few operations: sync, then acknowledge everything completed */
		if (rng_below(&s->sync, 4) == 0 || n == count) {
			rc = sync_now(vol, s, &err);
			if (rc < 0)
				break;
			printf("ack %s%" PRIu64 "\n", s->tag, n);
			fflush(stdout);
		}
	}
	if (rc < 0) {
		op_describe(op, desc, sizeof(desc));
		fprintf(stderr, "crash_writer: stream %s op %" PRIu64 " (%s) failed: %s (%s)\n",
			s->tag, n, desc, shelter_code_str(rc), err.msg);
		rc = 3;
	} else {
		printf("done %s%" PRIu64 "\n", s->tag, count);
		fflush(stdout);
	}
	shelter_file_close(s->h);
	s->h = NULL;
	model_free(&s->m);
	free(op);
	return rc;
}

static volatile struct progress *map_progress(const char *path)
{
	size_t size = PROGRESS_SLOTS * sizeof(struct progress);
	void *p;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		fprintf(stderr, "crash_writer: progress file '%s': %s\n", path, strerror(errno));
		exit(2);
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "crash_writer: map '%s': %s\n", path, strerror(errno));
		exit(2);
	}
	memset(p, 0, size);
	return p;
}

int main(int argc, char **argv)
{
	static struct stream s; /* large: the model holds symlink targets inline */
	volatile struct progress *prog = NULL;
	uint8_t key[SHELTER_VOLUME_KEY_SIZE];
	struct shelter_volume_options opts = { .segment_size = CW_SEGMENT_SIZE };
	struct shelter_volume *vol = NULL;
	struct shelter_err err;
	int fork_mode = 0, trace = 0, rc, status;
	uint64_t seed, count;
	pid_t child;

	while (argc > 1 && strncmp(argv[1], "--", 2) == 0) {
		if (strcmp(argv[1], "--fork") == 0) {
			fork_mode = 1;
		} else if (strcmp(argv[1], "--trace") == 0) {
			trace = 1;
		} else if (strcmp(argv[1], "--progress") == 0 && argc > 2) {
			prog = map_progress(argv[2]);
			argv++;
			argc--;
		} else {
			break;
		}
		argv++;
		argc--;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: crash_writer [--fork] [--trace] [--progress FILE] VOLDIR "
				"KEYFILE SEED OPS\n");
		return 2;
	}
	seed = strtoull(argv[3], NULL, 0);
	count = strtoull(argv[4], NULL, 0);
	if (read_key(argv[2], key) < 0)
		return 2;
	shelter_err_clear(&err);
	if (shelter_volume_open(argv[1], key, &opts, &vol, &err) < 0) {
		fprintf(stderr, "crash_writer: %s\n", err.msg);
		return 3;
	}
	s.trace = trace;
	s.progress = prog;
	s.sync.s = sync_seed(seed);
	if (!fork_mode) {
		s.tag = "";
		s.ops.s = seed;
		model_init(&s.m, "s");
		rc = run_stream(vol, &s, count);
		shelter_volume_close(vol);
		return rc;
	}
	fflush(stdout);
	child = fork();
	if (child < 0) {
		perror("fork");
		return 3;
	}
	if (child == 0) {
		/* never outlive the parent, whatever killed it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(3);
		s.tag = "C ";
		s.progress = prog != NULL ? prog + 1 : NULL;
		s.ops.s = child_seed(seed);
		s.sync.s = sync_seed(child_seed(seed));
		model_init(&s.m, "c");
		rc = run_stream(vol, &s, count);
		shelter_volume_close(vol);
		fflush(stdout);
		_exit(rc);
	}
	printf("child %ld\n", (long)child);
	fflush(stdout);
	s.tag = "P ";
	s.ops.s = seed;
	model_init(&s.m, "p");
	rc = run_stream(vol, &s, count);
	shelter_volume_close(vol);
	if (waitpid(child, &status, 0) == child && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		fprintf(stderr, "crash_writer: child stream failed (status %d)\n", status);
		if (rc == 0)
			rc = 3;
	}
	return rc;
}

#endif /* CRASH_MODEL_ONLY */
