/* Protected volume: create, open, namespace operations. docs/formats/volume.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shelter/crypto.h"
#include "volume/internal.h"

int64_t vol_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int read_header(int dirfd, uint8_t buf[VF_HDR_SIZE + 1], size_t *got,
		       struct shelter_err *err)
{
	int fd = openat(dirfd, VOL_HEADER_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	*got = 0;
	if (fd < 0)
		return errno == ENOENT ? shelter_err_set(err, SHELTER_E_NOTVOLUME,
							 "no %s file: not a volume",
							 VOL_HEADER_NAME)
				       : shelter_err_errno(err, errno, "open %s", VOL_HEADER_NAME);
	n = pread(fd, buf, VF_HDR_SIZE + 1, 0);
	close(fd);
	if (n < 0)
		return shelter_err_errno(err, errno, "read %s", VOL_HEADER_NAME);
	*got = (size_t)n;
	return 0;
}

static void vol_free(struct shelter_volume *v)
{
	if (v == NULL)
		return;
	vol_segs_free(v);
	vs_free(&v->st);
	if (v->keys != NULL)
		shelter_secret_free(v->keys, sizeof(*v->keys));
	vol_lock_detach(v);
	if (v->logfd >= 0)
		close(v->logfd);
	if (v->dirfd >= 0)
		close(v->dirfd);
	free(v->wbuf);
	free(v->grp);
	vol_cache_free(&v->cache);
	free(v->window);
	free(v->scratch);
	free(v->dir);
	pthread_mutex_destroy(&v->mu);
	free(v);
}

static struct shelter_volume *vol_alloc(const char *dir)
{
	struct shelter_volume *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->dirfd = v->logfd = -1;
	pthread_mutex_init(&v->mu, NULL);
	v->dir = strdup(dir);
	v->keys = shelter_secret_alloc(sizeof(*v->keys));
	v->grp = malloc(sizeof(*v->grp));
	v->window = malloc(VOL_WINDOW);
	v->scratch = malloc(VF_META_MAX + VF_CHUNK);
	v->next_seq = 1;
	v->segment_size = VOL_SEG_DEFAULT;
	if (v->dir == NULL || v->keys == NULL || v->grp == NULL || v->window == NULL ||
	    v->scratch == NULL || vs_init(&v->st, 0) < 0) {
		vol_free(v);
		return NULL;
	}
	return v;
}

/* §3: header, keys and the chain's genesis. */
static int load_header(struct shelter_volume *v, const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
		       struct shelter_err *err)
{
	uint8_t raw[VF_HDR_SIZE + 1];
	size_t got;
	int rc = read_header(v->dirfd, raw, &got, err);

	if (rc == 0)
		rc = vf_header_peek(raw, got, &v->hdr, err);
	if (rc == 0 && got > VF_HDR_SIZE)
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY, "%s is longer than %u bytes",
				     VOL_HEADER_NAME, VF_HDR_SIZE);
	if (rc == 0)
		memcpy(v->hdr_raw, raw, VF_HDR_SIZE);
	if (rc == 0)
		rc = vf_keys_derive(key, v->hdr.salt, v->keys, err);
	if (rc == 0)
		rc = vf_header_verify(v->hdr_raw, v->keys, err);
	if (rc == 0)
		rc = vf_chain_genesis(v->hdr_raw, v->chain, err);
	return rc;
}

static int open_files(struct shelter_volume *v, const char *dir, struct shelter_err *err)
{
	int fd;

	v->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->dirfd < 0)
		return shelter_err_errno(err, errno, "open directory");
	v->logfd = openat(v->dirfd, VOL_LOG_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (v->logfd < 0 && errno != ENOENT)
		return shelter_err_errno(err, errno, "open %s/", VOL_LOG_DIR);
	/* §7.3: the lock file carries no data, only the record lock */
	fd = openat(v->dirfd, VOL_LOCK_NAME,
		    (v->readonly ? O_RDWR : O_RDWR | O_CREAT) | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && v->readonly && (errno == EACCES || errno == EROFS))
		fd = openat(v->dirfd, VOL_LOCK_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && !(v->readonly && errno == ENOENT))
		return shelter_err_errno(err, errno, "open %s", VOL_LOCK_NAME);
	if (fd >= 0)
		return vol_lock_attach(v, fd, err);
	return 0;
}

int vol_open_common(const char *dir, const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
		    const struct shelter_volume_options *opts, int readonly,
		    struct vol_report *report, struct shelter_volume **out,
		    struct shelter_err *err)
{
	struct shelter_volume *v = vol_alloc(dir);
	int rc;

	*out = NULL;
	if (v == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "open volume '%s': out of memory", dir);
	v->readonly = readonly;
	v->report = report;
	if (opts != NULL && opts->segment_size != 0)
		v->segment_size = opts->segment_size < VOL_SEG_MIN   ? VOL_SEG_MIN
				  : opts->segment_size > VOL_SEG_MAX ? VOL_SEG_MAX
								     : opts->segment_size;
	v->expect = opts ? opts->expected_tag : NULL;
	rc = opts != NULL && !readonly ? vol_cache_init(&v->cache, opts->cache_bytes) : 0;
	if (rc < 0)
		rc = shelter_err_set(err, rc, "plaintext cache of %" PRIu64 " bytes: out of memory",
				     opts->cache_bytes);
	if (rc == 0)
		rc = open_files(v, dir, err);
	if (rc == 0)
		rc = load_header(v, key, err);
	if (rc == 0 && v->logfd < 0)
		rc = shelter_err_set(err, SHELTER_E_MISSING, "log directory missing");
	if (rc == 0)
		vol_recent_push(v, v->chain); /* genesis: an ancestor of every state */
	if (rc == 0)
		rc = vol_lock(v, !readonly, err);
	if (rc == 0) {
		rc = vol_find_start(v, err);
		/* replay without repairing first, so that an open refused as stale or
		 * damaged changes nothing on disk; then let a writer cut a torn tail */
		if (rc == 0)
			rc = vol_catch_up(v, 0, err);
		if (rc == 0 && v->expect != NULL && !v->expect_seen)
			rc = shelter_err_set(err, SHELTER_E_STALE,
					     "stale: the expected tag is not in the volume's history "
					     "(rolled back or replaced)");
		if (rc == 0 && !readonly)
			rc = vol_catch_up(v, 1, err);
		/* §8.1: a segment that ends without its seal must be the last one */
		if (rc == 0 && !v->segs[v->nsegs - 1].sealed &&
		    vol_higher_segment_exists(v, v->segs[v->nsegs - 1].segno))
			rc = shelter_err_set(err, SHELTER_E_TRUNCATED,
					     "segment %" PRIu64 " ends without its seal but later "
					     "segments exist", v->segs[v->nsegs - 1].segno);
		if (rc == 0 && !readonly)
			rc = vol_cleanup(v, err);
		/* best effort: a volume that cannot be compacted (say a damaged chunk in
		 * a file nobody reads) still opens; compact reports the cause */
		if (rc == 0 && !readonly && vol_should_compact(v) && vol_compact(v, NULL) < 0)
			rc = vol_catch_up(v, 1, err);
		vol_unlock(v);
	}
	v->expect = NULL;
	if (rc < 0) {
		vol_free(v);
		return shelter_err_wrap(err, rc, "open volume '%s'", dir);
	}
	v->poisoned = 0;
	*out = v;
	return rc;
}

int shelter_volume_open(const char *dir, const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
			const struct shelter_volume_options *opts, struct shelter_volume **out,
			struct shelter_err *err)
{
	return vol_open_common(dir, key, opts, 0, NULL, out, err);
}

void shelter_volume_close(struct shelter_volume *vol)
{
	vol_free(vol);
}

/* fsync the directory holding path, so a new entry in it is durable (§8.2). */
static int sync_parent(const char *path)
{
	char *copy = strdup(path), *slash;
	int fd, rc = -1;

	if (copy == NULL)
		return -1;
	for (size_t n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
		copy[n - 1] = '\0';
	slash = strrchr(copy, '/');
	if (slash == copy)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	fd = open(slash ? copy : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

static int make_dir(const char *dir, struct shelter_err *err)
{
	DIR *d;
	struct dirent *e;
	int empty = 1;

	if (mkdir(dir, 0700) == 0)
		return sync_parent(dir) < 0 ? shelter_err_errno(err, errno, "sync parent directory")
					    : 0;
	if (errno != EEXIST)
		return shelter_err_errno(err, errno, "create directory");
	d = opendir(dir);
	if (d == NULL)
		return shelter_err_errno(err, errno, "open directory");
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	if (!empty)
		return shelter_err_set(err, SHELTER_E_EXIST, "directory is not empty");
	return 0;
}

static int write_header(struct shelter_volume *v, struct shelter_err *err)
{
	const char *tmp = ".tmp-" VOL_HEADER_NAME;
	int fd = openat(v->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = 0;

	if (fd < 0)
		return shelter_err_errno(err, errno, "create %s", VOL_HEADER_NAME);
	/* §8.2: the header is renamed into place last; a volume without one is not a
	 * volume, so a crash during create never leaves a half-made volume usable */
	if (pwrite(fd, v->hdr_raw, VF_HDR_SIZE, 0) != VF_HDR_SIZE || fsync(fd) < 0 ||
	    renameat(v->dirfd, tmp, v->dirfd, VOL_HEADER_NAME) < 0 || fsync(v->dirfd) < 0)
		rc = shelter_err_errno(err, errno, "write %s", VOL_HEADER_NAME);
	close(fd);
	return rc;
}

static int create_in(struct shelter_volume *v, const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
		     struct shelter_err *err)
{
	int rc, lfd;

	v->hdr.version = VF_VERSION;
	v->hdr.chunk_size = VF_CHUNK;
	v->hdr.created_ns = vol_now_ns();
	rc = shelter_random_bytes(v->hdr.volume_id, VF_ID_SIZE, err);
	if (rc == 0)
		rc = shelter_random_bytes(v->hdr.salt, VF_SALT_SIZE, err);
	if (rc == 0)
		rc = vf_keys_derive(key, v->hdr.salt, v->keys, err);
	if (rc < 0)
		return rc;
	vf_header_encode(&v->hdr, v->keys, v->hdr_raw);
	if (mkdirat(v->dirfd, VOL_LOG_DIR, 0700) < 0)
		return shelter_err_errno(err, errno, "create %s/", VOL_LOG_DIR);
	v->logfd = openat(v->dirfd, VOL_LOG_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->logfd < 0)
		return shelter_err_errno(err, errno, "open %s/", VOL_LOG_DIR);
	rc = vol_new_segment(v, 1, 1, v->logfd, err);
	if (rc < 0)
		return rc;
	lfd = openat(v->dirfd, VOL_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		return shelter_err_errno(err, errno, "create %s", VOL_LOCK_NAME);
	close(lfd);
	return write_header(v, err);
}

int shelter_volume_create(const char *dir, const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
			  struct shelter_err *err)
{
	struct shelter_volume *v;
	int rc;

	rc = make_dir(dir, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "create volume '%s'", dir);
	v = vol_alloc(dir);
	if (v == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "create volume '%s': out of memory", dir);
	v->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = v->dirfd < 0 ? shelter_err_errno(err, errno, "open directory") : create_in(v, key, err);
	vol_free(v);
	return rc < 0 ? shelter_err_wrap(err, rc, "create volume '%s'", dir) : 0;
}

/* §7.3: nothing was appended since this handle's last catch-up when the last
 * segment is still linked, unsealed, and exactly as long as the groups replayed
 * from it. Records are never rewritten in place and a segment is only ever
 * extended, sealed or unlinked, so the replayed state is then current. */
static int log_unchanged(struct shelter_volume *v)
{
	const struct vol_seg *s;
	struct stat st;

	if (v->poisoned || v->report != NULL || v->nsegs == 0)
		return 0;
	s = &v->segs[v->nsegs - 1];
	return !s->sealed && !s->checkpoint && fstat(s->fd, &st) == 0 && st.st_nlink > 0 &&
	       (uint64_t)st.st_size == s->end;
}

/* Every public operation runs as: mutex, record lock, catch up, work, unlock;
 * a read of an unchanged log skips the record lock and the catch-up (§7.3). */
int vol_enter(struct shelter_volume *v, int exclusive, struct shelter_err *err)
{
	int rc;

	pthread_mutex_lock(&v->mu);
	if (!exclusive && log_unchanged(v)) {
		v->unlocked = 1;
		return 0;
	}
	rc = vol_lock(v, exclusive, err);
	if (rc == 0) {
		rc = vol_catch_up(v, exclusive, err);
		if (rc < 0)
			vol_unlock(v);
	}
	if (rc < 0)
		pthread_mutex_unlock(&v->mu);
	return rc;
}

void vol_leave(struct shelter_volume *v)
{
	if (v->unlocked)
		v->unlocked = 0;
	else
		vol_unlock(v);
	pthread_mutex_unlock(&v->mu);
}

int shelter_volume_tag(struct shelter_volume *vol, uint8_t out[SHELTER_VOLUME_TAG_SIZE],
		       struct shelter_err *err)
{
	int rc = vol_enter(vol, 0, err);

	if (rc < 0)
		return rc;
	memcpy(out, vol->chain, SHELTER_VOLUME_TAG_SIZE);
	vol_leave(vol);
	return 0;
}

int shelter_volume_compact(struct shelter_volume *vol, struct shelter_err *err)
{
	int rc = vol_enter(vol, 1, err);

	if (rc < 0)
		return rc;
	rc = vol_compact(vol, err);
	vol_leave(vol);
	return rc;
}

int shelter_volume_sync(struct shelter_volume *vol, struct shelter_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&vol->mu);
	if (fdatasync(vol->segs[vol->nsegs - 1].fd) < 0)
		rc = shelter_err_errno(err, errno, "sync volume '%s'", vol->dir);
	pthread_mutex_unlock(&vol->mu);
	return rc;
}

void vol_fill_stat(const struct vs_inode *n, struct shelter_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->ino = n->ino;
	st->type = n->type;
	st->mode = n->mode;
	st->size = n->size;
	st->blocks = n->chunks.stored * (VF_CHUNK / 512);
	st->mtime_ns = n->mtime_ns;
	st->ctime_ns = n->ctime_ns;
	st->nlink = n->type == SHELTER_FT_DIR ? 2 : (n->parent != 0 || n->ino == VS_ROOT_INO);
}

int shelter_volume_stat(struct shelter_volume *vol, const char *path, struct shelter_stat *out,
			struct shelter_err *err)
{
	struct vs_inode *n;
	int rc = vol_enter(vol, 0, err);

	if (rc < 0)
		return rc;
	rc = vs_lookup(&vol->st, path, &n, err);
	if (rc == 0)
		vol_fill_stat(n, out);
	vol_leave(vol);
	return rc;
}

/* Emit one metadata operation as a group of its own. */
static int one_op(struct shelter_volume *v, const struct vf_meta *m, struct shelter_err *err)
{
	int rc = vol_begin(v, 1, err);

	if (rc == 0)
		rc = vol_emit_meta(v, m, 1, err);
	if (rc == 0)
		rc = vol_commit(v, err);
	return rc;
}

int vol_create_node(struct shelter_volume *v, const char *path, uint8_t type, uint32_t mode,
		       const char *target, uint64_t *out_ino, struct shelter_err *err)
{
	struct vs_inode *dir;
	const char *leaf;
	size_t len;
	struct vf_meta m = { .op = VF_OP_CREATE, .type = type, .mode = mode & 07777 };
	int rc = vs_lookup_parent(&v->st, path, &dir, &leaf, &len, err);

	if (rc < 0)
		return rc;
	if (!vf_name_ok(leaf, len))
		return shelter_err_set(err, len > 255 ? SHELTER_E_NAMETOOLONG : SHELTER_E_INVAL,
				       "'%s': invalid name", path);
	if (vs_dir_find(dir, leaf, len) != NULL)
		return shelter_err_set(err, SHELTER_E_EXIST, "'%s': already exists", path);
	m.parent = dir->ino;
	m.name = leaf;
	m.name_len = (uint16_t)len;
	m.time_ns = vol_now_ns();
	if (target != NULL) {
		m.target = target;
		m.target_len = (uint16_t)strlen(target);
	}
	rc = vol_begin(v, 1, err); /* may seal the segment, which takes a seq */
	if (rc == 0 && out_ino != NULL)
		*out_ino = v->next_seq + 1; /* §5.2 */
	if (rc == 0)
		rc = vol_emit_meta(v, &m, 1, err);
	if (rc == 0)
		rc = vol_commit(v, err);
	return rc;
}

int shelter_volume_mkdir(struct shelter_volume *vol, const char *path, uint32_t mode,
			 struct shelter_err *err)
{
	int rc = vol_enter(vol, 1, err);

	if (rc < 0)
		return rc;
	rc = vol_create_node(vol, path, SHELTER_FT_DIR, mode, NULL, NULL, err);
	vol_leave(vol);
	return rc;
}

int shelter_volume_mkdirs(struct shelter_volume *vol, const char *path, uint32_t mode,
			  struct shelter_err *err)
{
	char buf[SHELTER_VOLUME_PATH_MAX];
	size_t len = strlen(path);
	int rc;

	if (len >= sizeof(buf))
		return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "path too long");
	rc = vol_enter(vol, 1, err);
	if (rc < 0)
		return rc;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len && rc == 0; i++) {
		struct vs_inode *n;

		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (vs_lookup(&vol->st, buf, &n, NULL) == 0) {
			if (n->type != SHELTER_FT_DIR)
				rc = shelter_err_set(err, SHELTER_E_NOTDIR, "'%s': not a directory", buf);
		} else if (buf[i - 1] != '/') {
			rc = vol_create_node(vol, buf, SHELTER_FT_DIR, mode, NULL, NULL, err);
		}
		buf[i] = path[i];
	}
	vol_leave(vol);
	return rc;
}

int shelter_volume_symlink(struct shelter_volume *vol, const char *target, const char *path,
			   struct shelter_err *err)
{
	int rc;

	if (target[0] == '\0')
		return shelter_err_set(err, SHELTER_E_INVAL, "symlink target empty");
	if (strlen(target) >= SHELTER_VOLUME_PATH_MAX)
		return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "symlink target too long");
	rc = vol_enter(vol, 1, err);
	if (rc < 0)
		return rc;
	rc = vol_create_node(vol, path, SHELTER_FT_LNK, 0777, target, NULL, err);
	vol_leave(vol);
	return rc;
}

static int remove_entry(struct shelter_volume *vol, const char *path, int want_dir,
			struct shelter_err *err)
{
	struct vs_inode *dir, *n;
	struct vs_dirent *e;
	const char *leaf;
	size_t len;
	struct vf_meta m = { .op = VF_OP_UNLINK };
	int rc = vs_lookup_parent(&vol->st, path, &dir, &leaf, &len, err);

	if (rc < 0)
		return rc;
	e = vs_dir_find(dir, leaf, len);
	if (e == NULL)
		return shelter_err_set(err, SHELTER_E_NOENT, "'%s': no such file or directory", path);
	n = vs_get(&vol->st, e->ino);
	if (want_dir && n->type != SHELTER_FT_DIR)
		return shelter_err_set(err, SHELTER_E_NOTDIR, "'%s': not a directory", path);
	if (!want_dir && n->type == SHELTER_FT_DIR)
		return shelter_err_set(err, SHELTER_E_ISDIR, "'%s': is a directory", path);
	if (want_dir && n->nents != 0)
		return shelter_err_set(err, SHELTER_E_NOTEMPTY, "'%s': directory not empty", path);
	m.parent = dir->ino;
	m.name = leaf;
	m.name_len = (uint16_t)len;
	return one_op(vol, &m, err);
}

int shelter_volume_unlink(struct shelter_volume *vol, const char *path, struct shelter_err *err)
{
	int rc = vol_enter(vol, 1, err);

	if (rc < 0)
		return rc;
	rc = remove_entry(vol, path, 0, err);
	vol_leave(vol);
	return rc;
}

int shelter_volume_rmdir(struct shelter_volume *vol, const char *path, struct shelter_err *err)
{
	int rc = vol_enter(vol, 1, err);

	if (rc < 0)
		return rc;
	rc = remove_entry(vol, path, 1, err);
	vol_leave(vol);
	return rc;
}

static int rename_check(struct shelter_volume *vol, const struct vs_inode *n,
			const struct vs_inode *ddir, const char *leaf, size_t len,
			const char *to, struct shelter_err *err)
{
	struct vs_dirent *old = vs_dir_find(ddir, leaf, len);
	struct vs_inode *victim = old ? vs_get(&vol->st, old->ino) : NULL;

	if (!vf_name_ok(leaf, len))
		return shelter_err_set(err, SHELTER_E_INVAL, "'%s': invalid name", to);
	if (n->type == SHELTER_FT_DIR) {
		for (uint64_t p = ddir->ino; p != 0; p = vs_get(&vol->st, p)->parent) {
			if (p == n->ino)
				return shelter_err_set(err, SHELTER_E_INVAL,
						       "'%s': a directory cannot move into itself", to);
			if (p == VS_ROOT_INO)
				break;
		}
	}
	if (victim == NULL || victim == n)
		return 0;
	if (victim->type == SHELTER_FT_DIR && n->type != SHELTER_FT_DIR)
		return shelter_err_set(err, SHELTER_E_ISDIR, "'%s': is a directory", to);
	if (victim->type != SHELTER_FT_DIR && n->type == SHELTER_FT_DIR)
		return shelter_err_set(err, SHELTER_E_NOTDIR, "'%s': not a directory", to);
	if (victim->type == SHELTER_FT_DIR && victim->nents != 0)
		return shelter_err_set(err, SHELTER_E_NOTEMPTY, "'%s': directory not empty", to);
	return 0;
}

int shelter_volume_rename(struct shelter_volume *vol, const char *from, const char *to,
			  struct shelter_err *err)
{
	struct vs_inode *sdir, *ddir, *n;
	struct vs_dirent *e;
	const char *sleaf, *dleaf;
	size_t slen, dlen;
	struct vf_meta m = { .op = VF_OP_RENAME };
	int rc = vol_enter(vol, 1, err);

	if (rc < 0)
		return rc;
	rc = vs_lookup_parent(&vol->st, from, &sdir, &sleaf, &slen, err);
	if (rc == 0)
		rc = vs_lookup_parent(&vol->st, to, &ddir, &dleaf, &dlen, err);
	if (rc == 0 && (e = vs_dir_find(sdir, sleaf, slen)) == NULL)
		rc = shelter_err_set(err, SHELTER_E_NOENT, "'%s': no such file or directory", from);
	if (rc == 0) {
		n = vs_get(&vol->st, e->ino);
		rc = rename_check(vol, n, ddir, dleaf, dlen, to, err);
	}
	if (rc == 0) {
		m.parent = sdir->ino;
		m.name = sleaf;
		m.name_len = (uint16_t)slen;
		m.parent2 = ddir->ino;
		m.name2 = dleaf;
		m.name2_len = (uint16_t)dlen;
		rc = one_op(vol, &m, err);
	}
	vol_leave(vol);
	return rc;
}

int shelter_volume_readlink(struct shelter_volume *vol, const char *path, char *buf, size_t size,
			    struct shelter_err *err)
{
	struct vs_inode *n;
	int rc = vol_enter(vol, 0, err);

	if (rc < 0)
		return rc;
	rc = vs_lookup(&vol->st, path, &n, err);
	if (rc == 0 && n->type != SHELTER_FT_LNK)
		rc = shelter_err_set(err, SHELTER_E_INVAL, "'%s': not a symbolic link", path);
	if (rc == 0 && size > 0)
		snprintf(buf, size, "%s", n->target);
	vol_leave(vol);
	return rc;
}

/* SETATTR for an inode the caller holds under the lock (§5.2). */
static int set_attr(struct shelter_volume *v, const struct vs_inode *n, uint64_t size,
		    uint32_t mode, int last, struct shelter_err *err)
{
	struct vf_meta m = { .op = VF_OP_SETATTR, .ino = n->ino, .size = size,
			     .mode = mode & 07777, .time_ns = vol_now_ns() };

	return vol_emit_meta(v, &m, last, err);
}

int shelter_volume_chmod(struct shelter_volume *vol, const char *path, uint32_t mode,
			 struct shelter_err *err)
{
	struct vs_inode *n;
	int rc = vol_enter(vol, 1, err);

	if (rc < 0)
		return rc;
	rc = vs_lookup(&vol->st, path, &n, err);
	if (rc == 0)
		rc = vol_begin(vol, 1, err);
	if (rc == 0)
		rc = set_attr(vol, n, n->size, mode, 1, err);
	if (rc == 0)
		rc = vol_commit(vol, err);
	vol_leave(vol);
	return rc;
}

int shelter_volume_truncate(struct shelter_volume *vol, const char *path, uint64_t size,
			    struct shelter_err *err)
{
	struct vs_inode *n;
	int rc = vol_enter(vol, 1, err);

	if (rc < 0)
		return rc;
	rc = vs_lookup(&vol->st, path, &n, err);
	if (rc == 0 && n->type != SHELTER_FT_REG)
		rc = shelter_err_set(err, n->type == SHELTER_FT_DIR ? SHELTER_E_ISDIR : SHELTER_E_INVAL,
				     "'%s': not a regular file", path);
	if (rc == 0)
		rc = vol_set_size(vol, n, size, err);
	vol_leave(vol);
	return rc;
}

/* §5.2/§7.2: shrinking to the middle of a chunk rewrites that chunk with zeros past
 * the new end first, so bytes beyond the end of a file are always zero on disk. */
int vol_set_size(struct shelter_volume *v, struct vs_inode *n, uint64_t size,
		 struct shelter_err *err)
{
	uint8_t buf[VF_CHUNK];
	uint64_t chunk = size / VF_CHUNK;
	int partial = size < n->size && size % VF_CHUNK != 0 &&
		      vs_cm_get(&n->chunks, chunk) != NULL;
	int rc;

	if (size > (UINT64_C(1) << 52))
		return shelter_err_set(err, SHELTER_E_FBIG, "size %" PRIu64 " too large", size);
	rc = vol_begin(v, 2, err);
	if (rc == 0 && partial) {
		rc = vol_read_chunk(v, n, chunk, buf, err);
		if (rc == 0) {
			memset(buf + size % VF_CHUNK, 0, VF_CHUNK - size % VF_CHUNK);
			rc = vol_emit_data(v, n->ino, chunk, buf, 0, err);
		}
	}
	if (rc == 0)
		rc = set_attr(v, n, size, n->mode, 1, err);
	if (rc == 0)
		rc = vol_commit(v, err);
	shelter_wipe(buf, sizeof(buf));
	return rc;
}

struct listing {
	char *name;
	struct shelter_stat st;
};

/* Snapshot the directory under the lock, so the callback may call back into the
 * volume (a recursive export does). */
static int snapshot_dir(struct shelter_volume *vol, const char *path, struct listing **out,
			size_t *out_count, struct shelter_err *err)
{
	struct listing *l = NULL;
	struct vs_inode *d;
	size_t i = 0;
	int rc = vs_lookup(&vol->st, path, &d, err);

	if (rc == 0 && d->type != SHELTER_FT_DIR)
		rc = shelter_err_set(err, SHELTER_E_NOTDIR, "'%s': not a directory", path);
	if (rc == 0 && d->nents > 0 && (l = calloc(d->nents, sizeof(*l))) == NULL)
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "list '%s': out of memory", path);
	for (; rc == 0 && i < d->nents; i++) {
		vol_fill_stat(vs_get(&vol->st, d->ents[i].ino), &l[i].st);
		l[i].name = strdup(d->ents[i].name);
		if (l[i].name == NULL)
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "list '%s': out of memory", path);
	}
	*out = l;
	*out_count = i;
	return rc;
}

int shelter_volume_readdir(struct shelter_volume *vol, const char *path,
			   shelter_volume_dirent_fn fn, void *ctx, struct shelter_err *err)
{
	struct listing *l = NULL;
	size_t count = 0;
	int rc = vol_enter(vol, 0, err);

	if (rc < 0)
		return rc;
	rc = snapshot_dir(vol, path, &l, &count, err);
	vol_leave(vol);
	for (size_t i = 0; i < count; i++) {
		if (rc == 0)
			rc = fn(ctx, l[i].name, &l[i].st);
		free(l[i].name);
	}
	free(l);
	return rc;
}
