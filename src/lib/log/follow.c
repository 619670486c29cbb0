/* A follower: a read-only reader of a live store that keeps up with its writer
 * (docs/formats/log.md §8.1). It reads new frames as they appear, keeps the tree in
 * memory (tree.c) and every entry's offset, and takes a checkpoint only after its
 * signature and its root at its size check out against what it has read. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log/store.h"
#include "util/buf.h"

struct shelter_log_follower {
	struct shelter_log_verifier v;
	int dirfd, logfd;
	struct lg_hasher hasher;
	struct lg_scan scan;
	struct shelter_log_tree *tree;
	uint64_t *off;
	size_t off_cap;
	char note[SHELTER_LOG_NOTE_MAX + 1];
	size_t note_len;
	struct shelter_log_checkpoint cp;
};

static int follow_at(void *ctx, uint64_t index, uint64_t off, const uint8_t leaf[LG_HASH],
		     struct shelter_err *err)
{
	struct shelter_log_follower *f = ctx;

	if (index >= f->off_cap) {
		size_t cap = f->off_cap ? f->off_cap * 2 : 4096;
		uint64_t *p = realloc(f->off, cap * sizeof(*p));

		if (p == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "follow: %zu offsets", cap);
		f->off = p;
		f->off_cap = cap;
	}
	f->off[index] = off;
	return shelter_log_tree_add(f->tree, leaf, err);
}

void shelter_log_follower_close(struct shelter_log_follower *f)
{
	if (f == NULL)
		return;
	if (f->logfd >= 0)
		close(f->logfd);
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->scan.buf);
	free(f->off);
	shelter_log_tree_free(f->tree);
	lg_hasher_free(&f->hasher);
	free(f);
}

int shelter_log_follower_open(const char *dir, const struct shelter_log_verifier *v,
			      struct shelter_log_follower **out, struct shelter_err *err)
{
	struct shelter_log_follower *f;
	uint8_t head[LG_HEADER_MAX], pub[32];
	char origin[SHELTER_LOG_ORIGIN_MAX + 1];
	size_t start = 0;
	ssize_t n;
	int rc;

	if (out == NULL || dir == NULL || v == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "follow: NULL argument");
	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "follow");
	f->v = *v;
	f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->logfd = f->dirfd >= 0 ? openat(f->dirfd, "log", O_RDONLY | O_CLOEXEC) : -1;
	if (f->logfd < 0) {
		rc = shelter_err_errno(err, errno, "follow: open '%s/log'", dir);
		goto out;
	}
	n = pread(f->logfd, head, sizeof(head), 0);
	rc = n < 0 ? shelter_err_errno(err, errno, "follow: read '%s/log'", dir)
		   : lg_header_decode(head, (size_t)n, origin, pub, &start, err);
	if (rc == 0 && (strcmp(origin, v->name) != 0 || memcmp(pub, v->pub, 32) != 0))
		rc = shelter_err_set(err, SHELTER_E_POLICY, "follow: '%s/log' is the log of '%s'%s",
				     dir, origin,
				     memcmp(pub, v->pub, 32) != 0 ? " with another key" : "");
	if (rc == 0)
		rc = lg_hasher_init(&f->hasher, err);
	if (rc == 0)
		rc = shelter_log_tree_new(&f->tree, err);
	if (rc != 0)
		goto out;
	f->scan.hasher = &f->hasher;
	f->scan.what = "store's";
	f->scan.at = follow_at;
	f->scan.cb_ctx = f;
	f->scan.end = start;
	*out = f;
	f = NULL;
out:
	shelter_log_follower_close(f);
	return rc;
}

/* The store's checkpoint, if it verifies; *len = 0 when there is none yet. */
static int read_checkpoint(struct shelter_log_follower *f, char *note, size_t *len,
			   struct shelter_log_checkpoint *cp, struct shelter_err *err)
{
	int fd = openat(f->dirfd, "checkpoint", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : shelter_err_errno(err, errno, "follow: checkpoint");
	n = read(fd, note, SHELTER_LOG_NOTE_MAX);
	close(fd);
	if (n < 0)
		return shelter_err_errno(err, errno, "follow: read the checkpoint");
	*len = (size_t)n;
	note[n] = '\0';
	return shelter_log_checkpoint_open(note, *len, &f->v, cp, err);
}

int shelter_log_follower_update(struct shelter_log_follower *f,
				struct shelter_log_checkpoint *out, struct shelter_err *err)
{
	struct shelter_log_checkpoint cp;
	struct shelter_err why;
	char *note = malloc(SHELTER_LOG_NOTE_MAX + 1);
	uint8_t root[LG_HASH];
	struct stat st;
	size_t len = 0;
	int rc;

	if (note == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "follow");
	/* The checkpoint first: the writer replaces it only after the frames it covers
	 * are durable, so reading the log after it sees all of them. */
	rc = read_checkpoint(f, note, &len, &cp, err);
	if (rc == 0 && fstat(f->logfd, &st) != 0)
		rc = shelter_err_errno(err, errno, "follow: stat the log");
	/* A frame being written is not valid yet: stop there, quietly, and come back. */
	if (rc == 0 && (uint64_t)st.st_size > f->scan.end) {
		shelter_err_clear(&why);
		rc = lg_scan_run(&f->scan, f->logfd, f->scan.end, (uint64_t)st.st_size, &why);
		if (rc != 0)
			rc = shelter_err_set(err, rc, "follow: %s", why.msg);
	}
	if (rc == 0 && len > 0) {
		if (cp.size > f->scan.frontier.n)
			rc = shelter_err_set(err, SHELTER_E_TRUNCATED,
					     "follow: TAMPER ALARM: the checkpoint names %llu "
					     "entries, the log holds %llu",
					     (unsigned long long)cp.size,
					     (unsigned long long)f->scan.frontier.n);
		else if ((rc = shelter_log_tree_root(f->tree, cp.size, root, err)) == 0 &&
			 CRYPTO_memcmp(root, cp.root, LG_HASH) != 0)
			rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
					     "follow: TAMPER ALARM: the entries below the checkpoint "
					     "of size %llu are not the ones it signed",
					     (unsigned long long)cp.size);
		else if (cp.size < f->cp.size)
			rc = shelter_err_set(err, SHELTER_E_STALE,
					     "follow: the checkpoint went back from %llu to %llu",
					     (unsigned long long)f->cp.size,
					     (unsigned long long)cp.size);
		if (rc == 0) {
			memcpy(f->note, note, len + 1);
			f->note_len = len;
			f->cp = cp;
		}
	}
	free(note);
	if (rc == 0 && out != NULL)
		*out = f->cp;
	return rc;
}

uint64_t shelter_log_follower_size(const struct shelter_log_follower *f)
{
	return f != NULL ? f->scan.frontier.n : 0;
}

int shelter_log_follower_note(const struct shelter_log_follower *f, char *out, size_t cap)
{
	if (f == NULL || out == NULL || cap <= f->note_len)
		return SHELTER_E_INVAL;
	memcpy(out, f->note, f->note_len + 1);
	return 0;
}

struct shelter_log_tree *shelter_log_follower_tree(struct shelter_log_follower *f)
{
	return f != NULL ? f->tree : NULL;
}

int shelter_log_follower_get(struct shelter_log_follower *f, uint64_t index, void *out,
			     size_t cap, size_t *out_size, struct shelter_err *err)
{
	uint8_t len[2], leaf[LG_HASH], want[LG_HASH];
	size_t size;
	int rc;

	if (out_size != NULL)
		*out_size = 0;
	if (f == NULL || out_size == NULL || (out == NULL && cap > 0))
		return shelter_err_set(err, SHELTER_E_INVAL, "follow: NULL argument");
	if (index >= f->scan.frontier.n)
		return shelter_err_set(err, SHELTER_E_NOENT, "follow: no entry %llu",
				       (unsigned long long)index);
	if (lg_pread_all(f->logfd, len, 2, f->off[index]) != 0)
		return shelter_err_errno(err, errno ? errno : EIO, "follow: read entry %llu",
					 (unsigned long long)index);
	size = (size_t)shelter_load_be(len, 2);
	if (size > cap)
		return shelter_err_set(err, SHELTER_E_INVAL, "follow: entry %llu has %zu bytes",
				       (unsigned long long)index, size);
	if (size > 0 && lg_pread_all(f->logfd, out, size, f->off[index] + 2) != 0)
		return shelter_err_errno(err, errno ? errno : EIO, "follow: read entry %llu",
					 (unsigned long long)index);
	/* the leaf hashed when the frame was read: the bytes must not have changed */
	rc = 0;
	if (lg_leaf(&f->hasher, out, size, leaf) != 0 || lg_tree_leaf(f->tree, index, want) != 0 ||
	    CRYPTO_memcmp(leaf, want, LG_HASH) != 0)
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
				     "follow: entry %llu changed after it was read",
				     (unsigned long long)index);
	if (rc == 0)
		*out_size = size;
	return rc;
}
