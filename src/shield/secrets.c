/* /run/secrets: the files a CAS session releases (docs/shield.md §1.5).
 *
 * They live in a protected volume like any other, under a random key that exists
 * only in this process, in a directory in memory (/dev/shm, else $TMPDIR): the
 * host sees ciphertext it can never decrypt, even from a copy of the memory file
 * system taken while the program runs, and nothing outlives the process but that
 * ciphertext. The directory is removed by the last process that has it mounted
 * (a daemon's parent exits long before the daemon does), told apart by a shared
 * flock(2) on the directory that forked children inherit with the descriptor.
 * Processes that all die by a signal leave it behind (ciphertext under a key that
 * died with them): the next launch removes such directories once they are a
 * minute old and nobody holds them (sweep_stale).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "shelter/attest.h"
#include "shelter/crypto.h"
#include "shield/launch.h"
#include "shield/shield.h"

static char secrets_dir[PATH_MAX];
static int hold_fd = -1; /* LOCK_SH on secrets_dir, inherited by fork, not by exec */

static void remove_tree(int parent, const char *name);

#define STALE_SECONDS 60

/* Remove base/shelter-secrets-* directories of ours that no process holds. A
 * directory younger than a minute may belong to a launch that has created it but
 * not yet taken its hold, so it is left alone. */
static void sweep_stale(const char *base)
{
	int dfd = REAL(open)(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? REAL(fdopendir)(dfd) : NULL;
	struct dirent *e;

	if (d == NULL) {
		if (dfd >= 0)
			REAL(close)(dfd);
		return;
	}
	while ((e = REAL(readdir)(d)) != NULL) {
		struct stat st;
		int fd;

		if (strncmp(e->d_name, "shelter-secrets-", 16) != 0 ||
		    REAL(fstatat)(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
		    st.st_mtime > time(NULL) - STALE_SECONDS)
			continue;
		fd = REAL(openat)(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
			shield_log("secrets: removing %s/%s, left behind by processes killed by a signal",
				   base, e->d_name);
			remove_tree(dfd, e->d_name);
		}
		if (fd >= 0)
			REAL(close)(fd);
	}
	REAL(closedir)(d);
}

static int make_dir(struct shelter_err *err)
{
	const char *tmp = getenv("TMPDIR");
	const char *bases[] = { "/dev/shm", tmp != NULL && tmp[0] == '/' ? tmp : "/tmp" };

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		sweep_stale(bases[i]);
		snprintf(secrets_dir, sizeof(secrets_dir), "%s/shelter-secrets-XXXXXX", bases[i]);
		if (mkdtemp(secrets_dir) != NULL)
			return 0;
	}
	secrets_dir[0] = '\0';
	return shelter_err_errno(err, errno, "secrets: cannot create a directory in /dev/shm "
				 "or %s", bases[1]);
}

/* The path inside the volume: the file's path below /run/secrets. */
static int inner_path(const char *path, const char **out, struct shelter_err *err)
{
	size_t n = strlen(SHIELD_SECRETS_PATH);

	if (strncmp(path, SHIELD_SECRETS_PATH, n) != 0 || path[n] != '/' || path[n + 1] == '\0')
		return shelter_err_set(err, SHELTER_E_POLICY, "the session's file '%s' is not "
				       "under %s, the only place the shield delivers files",
				       path, SHIELD_SECRETS_PATH);
	*out = path + n + 1;
	return 0;
}

static int put_file(struct shelter_volume *vol, const char *path, const uint8_t *data,
		    size_t size, struct shelter_err *err)
{
	struct shelter_file *f = NULL;
	const char *inner = NULL, *slash;
	char parent[PATH_MAX];
	int rc = inner_path(path, &inner, err);

	slash = rc == 0 ? strrchr(inner, '/') : NULL;
	if (slash != NULL) {
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - inner), inner);
		rc = shelter_volume_mkdirs(vol, parent, 0700, err);
	}
	if (rc == 0)
		rc = shelter_file_open(vol, inner, SHELTER_O_WRONLY | SHELTER_O_CREAT |
				       SHELTER_O_TRUNC, 0400, &f, err);
	if (rc == 0)
		rc = shelter_file_pwrite(f, data, size, 0, NULL, err);
	shelter_file_close(f);
	return rc < 0 ? shelter_err_wrap(err, rc, "secrets: file '%s'", path) : 0;
}

static int fill(const struct shelter_config *cfg, const uint8_t *key, struct shelter_err *err)
{
	struct shelter_volume *vol = NULL;
	int rc = shelter_volume_create(secrets_dir, key, err);

	if (rc == 0)
		rc = shelter_volume_open(secrets_dir, key, NULL, &vol, err);
	for (size_t i = 0; rc == 0 && i < shelter_config_file_count(cfg); i++) {
		const uint8_t *data;
		const char *path;
		size_t size;

		shelter_config_file(cfg, i, &path, &data, &size);
		rc = put_file(vol, path, data, size, err);
	}
	if (rc == 0)
		rc = shield_mount_add(SHIELD_SECRETS_PATH, "secrets", secrets_dir, vol, err);
	else
		shelter_volume_close(vol);
	return rc;
}

static void hold(struct shelter_err *err, int *rc)
{
	hold_fd = REAL(open)(secrets_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (hold_fd < 0 || flock(hold_fd, LOCK_SH) < 0)
		*rc = shelter_err_errno(err, errno, "secrets: lock '%s'", secrets_dir);
}

/* Remove dir's entries and dir itself; only volume files are there (no links to
 * follow: unlinkat never follows one). */
static void remove_tree(int parent, const char *name)
{
	int fd = REAL(openat)(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? REAL(fdopendir)(fd) : NULL;
	struct dirent *e;

	if (d == NULL) {
		if (fd >= 0)
			REAL(close)(fd);
		return;
	}
	while ((e = REAL(readdir)(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (e->d_type == DT_DIR)
			remove_tree(fd, e->d_name);
		else
			REAL(unlinkat)(fd, e->d_name, 0);
	}
	REAL(closedir)(d);
	REAL(unlinkat)(parent, name, AT_REMOVEDIR);
}

int shield_secrets_mount(const struct shelter_config *cfg, struct shelter_err *err)
{
	uint8_t *key;
	int rc;

	if (shelter_config_file_count(cfg) == 0)
		return 0;
	key = shelter_secret_alloc(SHELTER_VOLUME_KEY_SIZE);
	if (key == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "secrets: out of memory");
	rc = shelter_random_bytes(key, SHELTER_VOLUME_KEY_SIZE, err);
	if (rc == 0)
		rc = make_dir(err);
	if (rc == 0)
		rc = fill(cfg, key, err);
	if (rc == 0)
		hold(err, &rc);
	/* the volume keeps its own copy; this one is never stored anywhere */
	shelter_secret_free(key, SHELTER_VOLUME_KEY_SIZE);
	if (rc < 0 && secrets_dir[0] != '\0')
		remove_tree(AT_FDCWD, secrets_dir);
	return rc;
}

/* Drop this process's hold; when no other process holds the directory any more,
 * an exclusive lock on a fresh descriptor succeeds and the directory goes. */
void shield_secrets_at_exit(void)
{
	int fd;

	if (hold_fd < 0)
		return;
	REAL(close)(hold_fd);
	hold_fd = -1;
	fd = REAL(open)(secrets_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		remove_tree(AT_FDCWD, secrets_dir);
	REAL(close)(fd);
}
