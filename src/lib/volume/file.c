/* Open files of a protected volume: docs/formats/volume.md §7.2. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "shelter/crypto.h"
#include "volume/internal.h"

struct shelter_file {
	struct shelter_volume *vol;
	struct vs_inode *n;   /* kept alive by n->opens while the handle exists */
	int flags;
};

static int open_node(struct shelter_volume *v, const char *path, int flags, uint32_t mode,
		     struct vs_inode **out, struct shelter_err *err)
{
	uint64_t ino = 0;
	int rc = vs_lookup(&v->st, path, out, NULL);

	if (rc == SHELTER_E_NOENT && (flags & SHELTER_O_CREAT)) {
		rc = vol_create_node(v, path, SHELTER_FT_REG, mode, NULL, &ino, err);
		*out = rc == 0 ? vs_get(&v->st, ino) : NULL;
		return rc;
	}
	if (rc < 0)
		return vs_lookup(&v->st, path, out, err);
	if ((flags & SHELTER_O_CREAT) && (flags & SHELTER_O_EXCL))
		return shelter_err_set(err, SHELTER_E_EXIST, "'%s': already exists", path);
	if ((*out)->type == SHELTER_FT_DIR)
		return shelter_err_set(err, SHELTER_E_ISDIR, "'%s': is a directory", path);
	if ((*out)->type != SHELTER_FT_REG)
		return shelter_err_set(err, SHELTER_E_INVAL, "'%s': is a symbolic link", path);
	if ((flags & SHELTER_O_TRUNC) && (flags & SHELTER_O_ACCMODE) != SHELTER_O_RDONLY &&
	    (*out)->size != 0)
		return vol_set_size(v, *out, 0, err);
	return 0;
}

int shelter_file_open(struct shelter_volume *vol, const char *path, int flags, uint32_t mode,
		      struct shelter_file **out, struct shelter_err *err)
{
	struct shelter_file *f;
	struct vs_inode *n = NULL;
	int rc;

	*out = NULL;
	if ((flags & SHELTER_O_ACCMODE) == SHELTER_O_ACCMODE)
		return shelter_err_set(err, SHELTER_E_INVAL, "'%s': bad access mode", path);
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "'%s': out of memory", path);
	rc = vol_enter(vol, (flags & (SHELTER_O_CREAT | SHELTER_O_TRUNC)) != 0, err);
	if (rc < 0) {
		free(f);
		return rc;
	}
	rc = open_node(vol, path, flags, mode, &n, err);
	if (rc == 0)
		n->opens++;
	vol_leave(vol);
	if (rc < 0) {
		free(f);
		return rc;
	}
	f->vol = vol;
	f->n = n;
	f->flags = flags;
	*out = f;
	return 0;
}

void shelter_file_close(struct shelter_file *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->vol->mu);
	f->n->opens--;
	vs_release(&f->vol->st, f->n);
	pthread_mutex_unlock(&f->vol->mu);
	free(f);
}

uint64_t shelter_file_ino(const struct shelter_file *f)
{
	return f->n->ino; /* fixed for the life of the inode: no lock needed */
}

void shelter_file_set_append(struct shelter_file *f, int on)
{
	/* under the handle's mutex, which every pwrite holds while it reads the flag */
	pthread_mutex_lock(&f->vol->mu);
	f->flags = on ? (f->flags | SHELTER_O_APPEND) : (f->flags & ~SHELTER_O_APPEND);
	pthread_mutex_unlock(&f->vol->mu);
}

/* Whole chunks go straight into buf, in runs (vol_read_chunks); a partial head or
 * tail chunk through tmp. */
static int read_range(struct shelter_volume *v, struct vs_inode *n, uint8_t *buf,
		      uint64_t off, size_t size, struct shelter_err *err)
{
	uint8_t tmp[VF_CHUNK];
	size_t done = 0;
	int rc = 0;

	while (done < size && rc == 0) {
		uint64_t pos = off + done, chunk = pos / VF_CHUNK;
		size_t lo = (size_t)(pos % VF_CHUNK), len = VF_CHUNK - lo;

		if (lo == 0 && size - done >= VF_CHUNK) {
			size_t whole = (size - done) / VF_CHUNK;

			rc = vol_read_chunks(v, n, chunk, whole, buf + done, err);
			done += whole * VF_CHUNK;
			continue;
		}
		if (len > size - done)
			len = size - done;
		rc = vol_read_chunk(v, n, chunk, tmp, err);
		if (rc == 0)
			memcpy(buf + done, tmp + lo, len);
		done += len;
	}
	shelter_wipe(tmp, sizeof(tmp));
	return rc;
}

int shelter_file_pread(struct shelter_file *f, void *buf, size_t size, uint64_t off,
		       size_t *out_read, struct shelter_err *err)
{
	struct shelter_volume *v = f->vol;
	int rc;

	*out_read = 0;
	if ((f->flags & SHELTER_O_ACCMODE) == SHELTER_O_WRONLY)
		return shelter_err_set(err, SHELTER_E_BADF, "file not open for reading");
	rc = vol_enter(v, 0, err);
	if (rc < 0)
		return rc;
	if (off < f->n->size) {
		if (size > f->n->size - off)
			size = (size_t)(f->n->size - off);
		rc = read_range(v, f->n, buf, off, size, err);
		if (rc == 0)
			*out_read = size;
	}
	vol_leave(v);
	return rc;
}

/* One group (§5.3): SETATTR with the new size first, so every DATA record that
 * follows lies inside the file when it is applied, then the chunks. */
static int write_group(struct shelter_volume *v, struct vs_inode *n, const uint8_t *src,
		       uint64_t pos, size_t len, struct shelter_err *err)
{
	uint64_t first = pos / VF_CHUNK, last = (pos + len - 1) / VF_CHUNK;
	uint64_t new_size = pos + len > n->size ? pos + len : n->size;
	struct vf_meta m = { .op = VF_OP_SETATTR, .ino = n->ino, .size = new_size,
			     .mode = n->mode, .time_ns = vol_now_ns() };
	uint8_t tmp[VF_CHUNK];
	int rc = vol_begin(v, (size_t)(last - first) + 2, err);

	if (rc == 0)
		rc = vol_emit_meta(v, &m, 0, err);
	for (uint64_t c = first; c <= last && rc == 0; c++) {
		uint64_t cs = c * VF_CHUNK;
		uint64_t lo = pos > cs ? pos - cs : 0;
		uint64_t hi = pos + len < cs + VF_CHUNK ? pos + len - cs : VF_CHUNK;
		const uint8_t *pt = src + (cs + lo - pos);

		if (lo != 0 || hi != VF_CHUNK) {
			rc = vol_read_chunk(v, n, c, tmp, err);
			memcpy(tmp + lo, pt, hi - lo);
			pt = tmp;
		}
		/* §7.2: room in the chunk map first, so applying after the write cannot fail */
		if (rc == 0 && vs_cm_reserve(&n->chunks, c) < 0)
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "chunk map: out of memory");
		if (rc == 0)
			rc = vol_emit_data(v, n->ino, c, pt, c == last, err);
	}
	if (rc == 0)
		rc = vol_commit(v, err);
	shelter_wipe(tmp, sizeof(tmp));
	return rc;
}

int shelter_file_pwrite(struct shelter_file *f, const void *buf, size_t size, uint64_t off,
			uint64_t *out_off, struct shelter_err *err)
{
	struct shelter_volume *v = f->vol;
	const uint8_t *src = buf;
	size_t done = 0;
	int rc;

	if ((f->flags & SHELTER_O_ACCMODE) == SHELTER_O_RDONLY)
		return shelter_err_set(err, SHELTER_E_BADF, "file not open for writing");
	rc = vol_enter(v, 1, err);
	if (rc < 0)
		return rc;
	if (f->flags & SHELTER_O_APPEND)
		off = f->n->size;
	if (off > (UINT64_C(1) << 52) || size > (UINT64_C(1) << 52) - off)
		rc = shelter_err_set(err, SHELTER_E_FBIG, "write beyond the maximum file size");
	while (rc == 0 && done < size) {
		/* §5.3: each MiB is one atomic group (at most 257 chunks + SETATTR) */
		size_t len = size - done < VOL_WRITE_GROUP ? size - done : VOL_WRITE_GROUP;

		rc = write_group(v, f->n, src + done, off + done, len, err);
		done += len;
	}
	if (rc == 0 && out_off != NULL)
		*out_off = off;
	vol_leave(v);
	return rc;
}

int shelter_file_truncate(struct shelter_file *f, uint64_t size, struct shelter_err *err)
{
	int rc;

	if ((f->flags & SHELTER_O_ACCMODE) == SHELTER_O_RDONLY)
		return shelter_err_set(err, SHELTER_E_BADF, "file not open for writing");
	rc = vol_enter(f->vol, 1, err);
	if (rc < 0)
		return rc;
	rc = vol_set_size(f->vol, f->n, size, err);
	vol_leave(f->vol);
	return rc;
}

int shelter_file_stat(struct shelter_file *f, struct shelter_stat *out, struct shelter_err *err)
{
	int rc = vol_enter(f->vol, 0, err);

	if (rc < 0)
		return rc;
	vol_fill_stat(f->n, out);
	vol_leave(f->vol);
	return 0;
}

int shelter_file_sync(struct shelter_file *f, struct shelter_err *err)
{
	return shelter_volume_sync(f->vol, err);
}
