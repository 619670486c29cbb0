/* File helpers of the platform and provider directories (pki.h; layouts in
 * docs/formats/quote.md §5.4-§5.5). Every durable write ends with fsync, and
 * replacements go through a temporary file, rename and a directory fsync so a crash
 * leaves the old or the new file, never a torn one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tee/pki.h"

int pki_path(char *buf, size_t size, const char *dir, const char *name,
	     struct shelter_err *err)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size)
		return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "path '%s/%s' is too long",
				       dir, name);
	return 0;
}

int pki_read_file(const char *path, size_t max, char **out, size_t *size,
		  struct shelter_err *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	*size = 0;
	if (fd < 0)
		return shelter_err_errno(err, errno, "open '%s'", path);
	if (fstat(fd, &st) < 0) {
		rc = shelter_err_errno(err, errno, "stat '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		rc = shelter_err_set(err, SHELTER_E_INVAL,
				     "'%s' is not a regular file of at most %zu bytes", path, max);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "read '%s': out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? shelter_err_errno(err, errno, "read '%s'", path)
				   : shelter_err_set(err, SHELTER_E_IO, "read '%s': file shrank",
						     path);
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*size = got;
	buf = NULL;
out:
	if (buf != NULL) {
		memset(buf, 0, (size_t)st.st_size + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

static int write_all(int fd, const void *data, size_t size)
{
	const char *p = data;

	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

static int write_fd(const char *path, int flags, mode_t mode, const void *data, size_t size,
		    struct shelter_err *err)
{
	int rc = 0, fd = open(path, flags | O_WRONLY | O_CREAT | O_CLOEXEC, mode);

	if (fd < 0)
		return shelter_err_errno(err, errno, "create '%s'", path);
	/* The mode must not depend on the umask being loose enough or tight enough. */
	if (fchmod(fd, mode) < 0 || write_all(fd, data, size) < 0 || fsync(fd) < 0)
		rc = shelter_err_errno(err, errno, "write '%s'", path);
	if (close(fd) < 0 && rc == 0)
		rc = shelter_err_errno(err, errno, "close '%s'", path);
	if (rc < 0)
		unlink(path);
	return rc;
}

int pki_write_new(const char *path, mode_t mode, const void *data, size_t size,
		  struct shelter_err *err)
{
	return write_fd(path, O_EXCL, mode, data, size, err);
}

int pki_fsync_dir(const char *dir, struct shelter_err *err)
{
	int rc = 0, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return shelter_err_errno(err, errno, "open directory '%s'", dir);
	if (fsync(fd) < 0)
		rc = shelter_err_errno(err, errno, "fsync directory '%s'", dir);
	close(fd);
	return rc;
}

int pki_write_atomic(const char *dir, const char *name, mode_t mode, const void *data,
		     size_t size, struct shelter_err *err)
{
	char path[4096], tmp[4096], tmpname[300];
	int rc;

	snprintf(tmpname, sizeof(tmpname), ".%s.tmp", name);
	rc = pki_path(path, sizeof(path), dir, name, err);
	if (rc == 0)
		rc = pki_path(tmp, sizeof(tmp), dir, tmpname, err);
	if (rc < 0)
		return rc;
	/* A leftover temporary file is debris of an interrupted replacement. */
	if (unlink(tmp) < 0 && errno != ENOENT)
		return shelter_err_errno(err, errno, "remove '%s'", tmp);
	rc = write_fd(tmp, O_EXCL, mode, data, size, err);
	if (rc < 0)
		return rc;
	if (rename(tmp, path) < 0) {
		rc = shelter_err_errno(err, errno, "rename '%s' to '%s'", tmp, path);
		unlink(tmp);
		return rc;
	}
	return pki_fsync_dir(dir, err);
}

int pki_mkdir(const char *dir, struct shelter_err *err)
{
	char parent[4096];
	struct stat st;
	char *slash;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno == ENOENT && strlen(dir) < sizeof(parent)) {
		/* Missing parents (the default platform directory's, say) are made
		 * private too: they lead only to key material. */
		strcpy(parent, dir);
		slash = strrchr(parent, '/');
		while (slash != NULL && slash > parent && slash[-1] == '/')
			slash--;
		if (slash != NULL && slash != parent) {
			int rc;

			*slash = '\0';
			rc = pki_mkdir(parent, err);
			if (rc < 0)
				return rc;
			if (mkdir(dir, 0700) == 0)
				return 0;
		}
	}
	if (errno != EEXIST)
		return shelter_err_errno(err, errno, "create directory '%s'", dir);
	if (stat(dir, &st) < 0)
		return shelter_err_errno(err, errno, "stat '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return shelter_err_set(err, SHELTER_E_NOTDIR, "'%s' is not a directory", dir);
	return 0;
}

int pki_refuse_existing(const char *dir, const char *const *names, size_t count,
			const char *what, struct shelter_err *err)
{
	char path[4096];

	for (size_t i = 0; i < count; i++) {
		int rc = pki_path(path, sizeof(path), dir, names[i], err);

		if (rc < 0)
			return rc;
		if (access(path, F_OK) == 0 || errno != ENOENT)
			return shelter_err_set(err, SHELTER_E_EXIST,
					       "'%s' already holds a %s (%s exists)", dir, what,
					       names[i]);
	}
	return 0;
}
