/* Helpers shared by the subcommands: errors, key files, progress. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "shelter/crypto.h"

#define KEY_SIZE 32

int cli_fail(const char *what, const struct shelter_err *err)
{
	fprintf(stderr, "shelter: %s: %s\n", what, err->msg[0] ? err->msg : shelter_code_str(err->code));
	return CLI_FAIL;
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shelter: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return CLI_USAGE;
}

static int key_create(const char *path, uint8_t *key, struct shelter_err *err)
{
	int fd, rc = shelter_random_bytes(key, KEY_SIZE, err);

	if (rc < 0)
		return rc;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return shelter_err_errno(err, errno, "create key file '%s'", path);
	if (write(fd, key, KEY_SIZE) != KEY_SIZE || fsync(fd) < 0)
		rc = shelter_err_errno(err, errno, "write key file '%s'", path);
	close(fd);
	if (rc < 0)
		unlink(path);
	else
		fprintf(stderr, "shelter: created key file '%s' (keep it safe: without it the "
				"volume cannot be read)\n", path);
	return rc;
}

static int key_read(const char *path, uint8_t *key, struct shelter_err *err)
{
	uint8_t extra;
	struct stat st;
	ssize_t n;
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return shelter_err_errno(err, errno, "key file '%s'", path);
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
		rc = shelter_err_set(err, SHELTER_E_INVAL, "key file '%s' is not a regular file", path);
	n = rc == 0 ? read(fd, key, KEY_SIZE) : 0;
	if (rc == 0 && n != KEY_SIZE)
		rc = shelter_err_set(err, SHELTER_E_INVAL,
				     "key file '%s' is %zd bytes, expected exactly %d", path,
				     n < 0 ? (ssize_t)0 : n, KEY_SIZE);
	if (rc == 0 && read(fd, &extra, 1) != 0)
		rc = shelter_err_set(err, SHELTER_E_INVAL,
				     "key file '%s' is longer than %d bytes", path, KEY_SIZE);
	if (rc == 0 && (st.st_mode & 077) != 0)
		fprintf(stderr, "shelter: warning: key file '%s' is readable by other users "
				"(chmod 600 it)\n", path);
	close(fd);
	return rc;
}

int cli_key_load(const char *path, int create, uint8_t **out, struct shelter_err *err)
{
	uint8_t *key = shelter_secret_alloc(KEY_SIZE);
	int rc;

	*out = NULL;
	if (key == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "key: out of memory");
	if (create && access(path, F_OK) != 0 && errno == ENOENT)
		rc = key_create(path, key, err);
	else
		rc = key_read(path, key, err);
	if (rc < 0) {
		shelter_secret_free(key, KEY_SIZE);
		return rc;
	}
	*out = key;
	return 0;
}

void cli_key_free(uint8_t *key)
{
	shelter_secret_free(key, KEY_SIZE);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_start(struct cli_progress *p, const char *verb, uint64_t items,
			uint64_t bytes)
{
	memset(p, 0, sizeof(*p));
	p->verb = verb;
	p->total_items = items;
	p->total_bytes = bytes;
	p->start = p->last = now_s();
}

static void progress_line(struct cli_progress *p, double t)
{
	double mib = (double)p->done_bytes / 1048576.0;
	double rate = t > p->start ? mib / (t - p->start) : 0;

	fprintf(stderr, "%s: %llu/%llu files, %.1f/%.1f MiB (%.0f%%), %.1f MiB/s\n", p->verb,
		(unsigned long long)p->done_items, (unsigned long long)p->total_items, mib,
		(double)p->total_bytes / 1048576.0,
		p->total_bytes ? 100.0 * (double)p->done_bytes / (double)p->total_bytes : 100.0,
		rate);
	p->shown = 1;
	p->last = t;
}

void cli_progress_step(struct cli_progress *p, uint64_t items, uint64_t bytes)
{
	double t;

	p->done_items += items;
	p->done_bytes += bytes;
	t = now_s();
	if (t - p->last >= 1.0 && t - p->start >= 1.0)
		progress_line(p, t);
}

void cli_progress_end(struct cli_progress *p)
{
	if (p->shown)
		progress_line(p, now_s());
}

int cli_read_file(const char *path, size_t max, char **out, size_t *size,
		  struct shelter_err *err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t n;
	int rc = 0;

	*out = NULL;
	*size = 0;
	if (f == NULL)
		return shelter_err_errno(err, errno, "open '%s'", path);
	buf = malloc(max + 1);
	if (buf == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "read '%s'", path);
		goto out;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		rc = shelter_err_errno(err, errno, "read '%s'", path);
	} else if (n > max) {
		rc = shelter_err_set(err, SHELTER_E_FBIG, "'%s' is larger than %zu bytes", path, max);
	} else if (n == 0) {
		rc = shelter_err_set(err, SHELTER_E_INVAL, "'%s' is empty", path);
	} else {
		buf[n] = '\0';
		*out = buf;
		*size = n;
		buf = NULL;
	}
out:
	free(buf);
	if (f != NULL && f != stdin)
		fclose(f);
	return rc;
}

/* ---- daemons' stop signals ---- */

volatile sig_atomic_t cli_stop_flag;
int cli_stop_fd = -1;
static int stop_write_fd = -1;

static void on_stop_signal(int sig)
{
	int saved = errno;

	(void)sig;
	cli_stop_flag = 1;
	if (write(stop_write_fd, "x", 1) < 0) {
		/* the flag alone still stops a loop that polls with a timeout */
	}
	errno = saved;
}

int cli_stop_install(const char *what)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	int fds[2];

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
		fprintf(stderr, "shelter: %s: pipe: %s\n", what, strerror(errno));
		return CLI_FAIL;
	}
	cli_stop_fd = fds[0];
	stop_write_fd = fds[1];
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return CLI_OK;
}

void cli_stop_release(void)
{
	if (cli_stop_fd >= 0)
		close(cli_stop_fd);
	if (stop_write_fd >= 0)
		close(stop_write_fd);
	cli_stop_fd = stop_write_fd = -1;
}
