/* The libraries a program will load, as the system's dynamic loader resolves them
 * (docs/formats/measurement.md §2.2).
 *
 * We ask the loader itself (`INTERP --list PROGRAM`, glibc's list mode) instead of
 * reimplementing its search rules (DT_RUNPATH, $ORIGIN, ld.so.cache, glibc-hwcaps
 * subdirectories, ...): whatever it lists is what it loads. The program itself is
 * never run; the loader maps its dependencies, prints them and exits before any
 * initialiser. It runs with an empty environment so that nothing of ours
 * (LD_LIBRARY_PATH, LD_PRELOAD, LD_AUDIT, GLIBC_TUNABLES, ...) changes the answer,
 * with stdin from /dev/null, no inherited descriptors beyond its output pipe, and a
 * deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "measure/internal.h"

#define QUOTE_MAX 160

/* A printable copy of an untrusted line for an error message. */
static void quote(const char *p, size_t n, char out[QUOTE_MAX + 4])
{
	size_t i;

	for (i = 0; i < n && i < QUOTE_MAX; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
	if (i < n) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

static int has_prefix(const char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && memcmp(p, prefix, k) == 0;
}

static int has_suffix(const char *p, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(p + n - k, suffix, k) == 0;
}

/* memmem for a NUL-terminated needle */
static const char *find(const char *p, size_t n, const char *needle)
{
	return memmem(p, n, needle, strlen(needle));
}

void measure_ldlist_free(struct measure_ldlist *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->count; i++) {
		free(list->v[i].name);
		free(list->v[i].path);
	}
	free(list->v);
	list->v = NULL;
	list->count = 0;
}

static int add(struct measure_ldlist *l, const char *name, size_t name_size, const char *path,
	       size_t path_size, struct shelter_err *err)
{
	struct measure_ldent *v, *e;

	if (l->count >= MEASURE_LIST_MAX)
		return shelter_err_set(err, SHELTER_E_PROTO, "dynamic loader listed more than %d "
				       "objects", MEASURE_LIST_MAX);
	v = realloc(l->v, (l->count + 1) * sizeof(*v));
	if (v == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "loader list: out of memory");
	l->v = v;
	e = &v[l->count];
	e->name = strndup(name, name_size);
	e->path = path != NULL ? strndup(path, path_size) : NULL;
	if (e->name == NULL || (path != NULL && e->path == NULL)) {
		free(e->name);
		free(e->path);
		return shelter_err_set(err, SHELTER_E_NOMEM, "loader list: out of memory");
	}
	l->count++;
	return 0;
}

/* "PROG: error while loading shared libraries: NAME: cannot open shared object
 * file: REASON" is what list mode prints (to stderr, exit 127) when a library cannot
 * be loaded; ldd's trace mode prints "\tNAME => not found" instead. */
static int missing(const char *line, size_t n, struct shelter_err *err)
{
	static const char lead[] = ": error while loading shared libraries: ";
	static const char cannot[] = ": cannot open shared object file";
	const char *a = find(line, n, lead), *b, *end = line + n, *why;
	char q[QUOTE_MAX + 4], r[QUOTE_MAX + 4];

	if (a == NULL)
		return 0;
	a += sizeof(lead) - 1;
	b = find(a, (size_t)(end - a), cannot);
	if (b == NULL)
		return 0;
	quote(a, (size_t)(b - a), q);
	why = b + sizeof(cannot) - 1;
	if (why < end && *why == ':')
		why++;
	while (why < end && *why == ' ')
		why++;
	if (find(why, (size_t)(end - why), "No such file") != NULL)
		return shelter_err_set(err, SHELTER_E_NOENT, "library '%s': not found by the "
				       "dynamic loader", q);
	quote(why, (size_t)(end - why), r);
	return shelter_err_set(err, SHELTER_E_IO, "library '%s': the dynamic loader cannot "
			       "open it: %s", q, r);
}

/* One "\t..." line: "NAME => PATH (0xADDR)", "PATH (0xADDR)" or "NAME => not found". */
static int parse_object(const char *p, size_t n, struct measure_ldlist *l,
			struct shelter_err *err)
{
	const char *addr, *arrow;
	char q[QUOTE_MAX + 4];
	size_t i;

	if (has_suffix(p, n, " => not found")) {
		quote(p, n - strlen(" => not found"), q);
		return shelter_err_set(err, SHELTER_E_NOENT, "library '%s': not found by the "
				       "dynamic loader", q);
	}
	/* the load address: " (0x" hex digits ")" at the end */
	addr = NULL;
	for (i = n; i >= 4; i--) {
		if (memcmp(p + i - 4, " (0x", 4) == 0) {
			addr = p + i - 4;
			break;
		}
	}
	if (addr == NULL || n - (size_t)(addr - p) < 6 || p[n - 1] != ')')
		goto bad;
	for (const char *h = addr + 4; h < p + n - 1; h++)
		if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
			goto bad;
	n = (size_t)(addr - p);
	arrow = find(p, n, " => ");
	if (arrow != NULL) {
		size_t name_size = (size_t)(arrow - p), path_size = n - name_size - 4;

		if (name_size == 0 || path_size == 0)
			goto bad;
		return add(l, p, name_size, arrow + 4, path_size, err);
	}
	if (n == 0)
		goto bad;
	if (memchr(p, '/', n) != NULL)
		return add(l, p, n, NULL, 0, err);
	/* the kernel's vDSO has no file: not a library we can or need to measure */
	if (has_prefix(p, n, "linux-vdso") || has_prefix(p, n, "linux-gate"))
		return 0;
bad:
	quote(p, n, q);
	return shelter_err_set(err, SHELTER_E_PROTO, "unexpected line from the dynamic "
			       "loader: '%s'", q);
}

int measure_ldlist_parse(const char *text, size_t size, struct measure_ldlist *out,
			 struct shelter_err *err)
{
	size_t off = 0;
	char q[QUOTE_MAX + 4];
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (text == NULL && size != 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "loader list: NULL text");
	while (rc == 0 && off < size) {
		const char *line = text + off, *nl = memchr(line, '\n', size - off);
		size_t n;

		if (nl == NULL) {
			quote(line, size - off, q);
			rc = shelter_err_set(err, SHELTER_E_PROTO, "unterminated line from the "
					     "dynamic loader: '%s'", q);
			break;
		}
		n = (size_t)(nl - line);
		off += n + 1;
		if (memchr(line, '\0', n) != NULL) {
			rc = shelter_err_set(err, SHELTER_E_PROTO, "NUL byte in the dynamic "
					     "loader's output");
		} else if (n > 0 && line[0] == '\t') {
			rc = parse_object(line + 1, n - 1, out, err);
		} else {
			rc = missing(line, n, err);
			if (rc == 0) {
				quote(line, n, q);
				rc = shelter_err_set(err, SHELTER_E_PROTO, "unexpected line from "
						     "the dynamic loader: '%s'", q);
			}
		}
	}
	if (rc < 0)
		measure_ldlist_free(out);
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read the child's output until EOF, the size cap or the deadline. */
static int collect(int fd, char *buf, size_t cap, size_t *size, const char *interp,
		   struct shelter_err *err)
{
	int64_t deadline = now_ms() + MEASURE_LOADER_TIMEOUT_MS;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	*size = 0;
	for (;;) {
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return shelter_err_set(err, SHELTER_E_INTERNAL, "dynamic loader '%s': no "
					       "answer within %d s", interp,
					       MEASURE_LOADER_TIMEOUT_MS / 1000);
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return shelter_err_errno(err, errno, "dynamic loader '%s': poll", interp);
		if (r == 0)
			continue;
		n = read(fd, buf + *size, cap - *size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return shelter_err_errno(err, errno, "dynamic loader '%s': read", interp);
		if (n == 0)
			return 0;
		*size += (size_t)n;
		if (*size == cap)
			return shelter_err_set(err, SHELTER_E_INTERNAL, "dynamic loader '%s': more "
					       "than %zu bytes of output", interp, cap - 1);
	}
}

static int spawn(const char *interp, char *const argv[], int wfd, pid_t *pid,
		 struct shelter_err *err)
{
	static char *const envp[] = { NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int rc, e;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return shelter_err_set(err, SHELTER_E_NOMEM, "spawn loader: out of memory");
	if (posix_spawnattr_init(&at) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return shelter_err_set(err, SHELTER_E_NOMEM, "spawn loader: out of memory");
	}
	sigemptyset(&none);
	sigfillset(&all);
	/* dup2 first: the pipe may have been given descriptor 0 */
	e = posix_spawn_file_actions_adddup2(&fa, wfd, STDOUT_FILENO);
	if (e == 0)
		e = posix_spawn_file_actions_adddup2(&fa, wfd, STDERR_FILENO);
	if (e == 0)
		e = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (e == 0)
		e = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	if (e == 0)
		e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (e == 0)
		e = posix_spawnattr_setsigmask(&at, &none);
	if (e == 0)
		e = posix_spawnattr_setsigdefault(&at, &all);
	if (e == 0)
		e = posix_spawn(pid, interp, &fa, &at, argv, envp);
	rc = e == 0 ? 0 : shelter_err_errno(err, e, "run dynamic loader '%s'", interp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

static int reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

int measure_ldlist_run(const char *interp, const char *program, const char *shield,
		       struct measure_ldlist *out, struct shelter_err *err)
{
	char *argv[6];
	char *buf = NULL, first[QUOTE_MAX + 4];
	size_t size = 0, argc = 0;
	int pfd[2] = { -1, -1 }, status = 0, rc;
	pid_t pid = -1;

	memset(out, 0, sizeof(*out));
	argv[argc++] = (char *)interp;
	if (shield != NULL) {
		/* §2.2: preloaded as at launch, so its dependencies are listed too */
		argv[argc++] = (char *)"--preload";
		argv[argc++] = (char *)shield;
	}
	argv[argc++] = (char *)"--list";
	argv[argc++] = (char *)program;
	argv[argc] = NULL;
	buf = malloc(MEASURE_LOADER_OUTPUT_MAX + 1);
	if (buf == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "loader output: out of memory");
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rc = shelter_err_errno(err, errno, "run dynamic loader: pipe");
		goto out;
	}
	rc = spawn(interp, argv, pfd[1], &pid, err);
	close(pfd[1]);
	pfd[1] = -1;
	if (rc < 0)
		goto out;
	rc = collect(pfd[0], buf, MEASURE_LOADER_OUTPUT_MAX + 1, &size, interp, err);
	if (rc < 0)
		kill(pid, SIGKILL);
	/* no status, no answer: a caller that ignores SIGCHLD gets ECHILD here */
	if (reap(pid, &status) < 0 && rc == 0)
		rc = shelter_err_errno(err, errno, "dynamic loader '%s': wait%s", interp,
				       errno == ECHILD ? " (is SIGCHLD ignored?)" : "");
	if (rc < 0)
		goto out;
	rc = measure_ldlist_parse(buf, size, out, err);
	if (rc < 0) {
		rc = shelter_err_wrap(err, rc, "list libraries of '%s'", program);
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *nl = memchr(buf, '\n', size);

		quote(buf, nl != NULL ? (size_t)(nl - buf) : size, first);
		rc = shelter_err_set(err, SHELTER_E_INTERNAL, "list libraries of '%s': dynamic "
				     "loader '%s' %s %d: '%s'", program, interp,
				     WIFEXITED(status) ? "exited with status" : "killed by signal",
				     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
				     first);
		measure_ldlist_free(out);
	}
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	free(buf);
	return rc;
}
