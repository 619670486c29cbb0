/* Shared by the volume fuzz harnesses: a volume made with this key and these header
 * fields has the same segment 1 key in every run, so committed records stay valid. */
#ifndef SHELTER_FUZZ_FIXTURE_H
#define SHELTER_FUZZ_FIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shelter/crypto.h"
#include "volume/format.h"

/* Each harness defines FZ_NAME ("fuzz_volume_open", ...) before including this. */
#ifndef FZ_NAME
#error "define FZ_NAME before including fixture.h"
#endif

static const uint8_t fz_key[SHELTER_KEY_SIZE] = "shelter-fuzz-volume-key-32bytes!";
static const uint8_t fz_volume_id[VF_ID_SIZE] = "fuzz-volume-id01";
static const uint8_t fz_salt[VF_SALT_SIZE] = "fuzz-volume-salt-0123456789abcde";
static const uint8_t fz_seg_salt[VF_SALT_SIZE] = "fuzz-segment-salt-0123456789abcd";
#define FZ_CREATED_NS INT64_C(1700000000000000000)

static char fz_base[256]; /* the harness's private temporary directory, if it made one */

/* Remove everything under path (the harness's own directory, a few levels deep). */
static inline void fz_remove_tree(const char *path, int self)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[4096];

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (unlink(sub) < 0 && (errno == EISDIR || errno == EPERM))
			fz_remove_tree(sub, 1);
	}
	if (d != NULL)
		closedir(d);
	if (self)
		(void)rmdir(path);
}

static inline void fz_cleanup(void)
{
	if (fz_base[0] != '\0')
		fz_remove_tree(fz_base, 1);
	fz_base[0] = '\0';
}

/* A failed property: say why and crash, so libFuzzer keeps the input. */
static inline __attribute__((format(printf, 1, 2), noreturn)) void fz_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, FZ_NAME ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fz_cleanup(); /* libFuzzer's crash path skips atexit */
	abort();
}

/* Make fz_base: /dev/shm first (fast), then $TMPDIR, then /tmp. */
static inline void fz_make_base(void)
{
	const char *roots[3] = { "/dev/shm", getenv("TMPDIR"), "/tmp" };

	for (int i = 0; i < 3; i++) {
		if (roots[i] == NULL || access(roots[i], W_OK) != 0)
			continue;
		snprintf(fz_base, sizeof(fz_base), "%s/shelter-" FZ_NAME "-XXXXXX", roots[i]);
		if (mkdtemp(fz_base) != NULL) {
			atexit(fz_cleanup);
			return;
		}
	}
	fz_die("no writable temporary directory");
}

/* Write or read a whole file; any failure ends the run (fz_die). fz_read_file's
 * buffer is malloc'd, one byte longer than the file. */
static inline void fz_write_file(const char *path, const uint8_t *buf, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;

	if (fd < 0)
		fz_die("create %s: %s", path, strerror(errno));
	while (done < size) {
		ssize_t n = write(fd, buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fz_die("write %s: %s", path, strerror(errno));
		done += (size_t)n;
	}
	close(fd);
}

static inline uint8_t *fz_read_file(const char *path, size_t *out_size)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		fz_die("open %s: %s", path, strerror(errno));
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL || read(fd, buf, (size_t)st.st_size) != st.st_size)
		fz_die("read %s", path);
	close(fd);
	*out_size = (size_t)st.st_size;
	return buf;
}

/* The lowest free descriptor, to catch descriptors an input leaks. */
static inline int fz_lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

#endif
