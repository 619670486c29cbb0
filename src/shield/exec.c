/* Interposed exec and spawn: a program started from a shielded one is shielded
 * too (docs/shield.md §1.7).
 *
 * The launch variables (LD_PRELOAD naming the shield, SHELTER_*) are put back into
 * every environment handed to execve, execveat, fexecve and posix_spawn[p], in
 * place of any the program changed or removed, so the new program starts its own
 * shield, is measured as itself, and attests or unseals for itself. glibc's own
 * internal exec calls (execvp, execl*, system, popen) use the process's
 * environment, which keeps the launch variables from the start (launch.c); the
 * execvp and execl families are wrapped here as well so that an environment the
 * program passes explicitly cannot drop them.
 */
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shield/launch.h"
#include "shield/shield.h"

#define ARGS_MAX 4096
#define ENV_MAX 8192 /* entries; the array lives on the stack (see below) */

static int is_launch_var(const char *e)
{
	return strncmp(e, "SHELTER_", 8) == 0 || strncmp(e, "LD_PRELOAD=", 11) == 0;
}

/* Fill out with envp less its launch variables, then ours, NULL-terminated.
 * No malloc: execve may run in a vfork()ed child, where another thread of the
 * parent may hold the allocator's lock. 0, or -1 with errno E2BIG. */
static int with_launch_env(char *const envp[], char **out)
{
	const char *const *ours = shield_launch_env();
	size_t k = 0;

	for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
		if (is_launch_var(envp[i]))
			continue;
		if (k == ENV_MAX - 1)
			return errno = E2BIG, -1;
		out[k++] = envp[i];
	}
	for (size_t i = 0; ours[i] != NULL; i++) {
		if (k == ENV_MAX - 1)
			return errno = E2BIG, -1;
		out[k++] = (char *)ours[i];
	}
	out[k] = NULL;
	return 0;
}

SHIELD_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	char *env[ENV_MAX];

	if (with_launch_env(envp, env) < 0)
		return -1;
	return REAL(execve)(path, argv, env);
}

SHIELD_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
			   int flags)
{
	char *env[ENV_MAX];

	if (with_launch_env(envp, env) < 0)
		return -1;
	return REAL(execveat)(dirfd, path, argv, env, flags);
}

SHIELD_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	char *env[ENV_MAX];

	if (shield_fd_is_protected(fd))
		return errno = EACCES, -1; /* the kernel cannot run what it cannot read */
	if (with_launch_env(envp, env) < 0)
		return -1;
	return REAL(fexecve)(fd, argv, env);
}

SHIELD_EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

/* execvpe's search: each PATH directory in turn; EACCES is remembered and
 * reported when nothing else ran, as glibc does. */
SHIELD_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	const char *path = getenv("PATH");
	char buf[4096];
	int saw_eacces = 0;

	if (file[0] == '\0')
		return errno = ENOENT, -1;
	if (strchr(file, '/') != NULL)
		return execve(file, argv, envp);
	if (path == NULL)
		path = "/bin:/usr/bin";
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		int n = end == p ? snprintf(buf, sizeof(buf), "%s", file)
				 : snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), p, file);

		if (n > 0 && (size_t)n < sizeof(buf)) {
			execve(buf, argv, envp);
			if (errno == EACCES)
				saw_eacces = 1;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE)
				return -1;
		}
		if (*end == '\0')
			break;
		p = end;
	}
	errno = saw_eacces ? EACCES : ENOENT;
	return -1;
}

SHIELD_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* Collect execl's variable arguments (arg0 first, NULL last); with envp, the
 * pointer after the NULL is the environment (execle). */
#define COLLECT_ARGS(arg0, argv, envp_out)                                              \
	do {                                                                            \
		va_list ap_;                                                            \
		size_t n_ = 0;                                                          \
		va_start(ap_, arg0);                                                    \
		argv[n_++] = (char *)(arg0);                                            \
		while (argv[n_ - 1] != NULL && n_ < ARGS_MAX)                           \
			argv[n_++] = va_arg(ap_, char *);                               \
		if (argv[n_ - 1] != NULL) {                                             \
			va_end(ap_);                                                    \
			return errno = E2BIG, -1;                                       \
		}                                                                       \
		if (envp_out != NULL)                                                   \
			*(char ***)(envp_out) = va_arg(ap_, char **);                   \
		va_end(ap_);                                                            \
	} while (0)

SHIELD_EXPORT int execl(const char *path, const char *arg, ...)
{
	char *argv[ARGS_MAX];

	COLLECT_ARGS(arg, argv, (char ***)NULL);
	return execve(path, argv, environ);
}

SHIELD_EXPORT int execlp(const char *file, const char *arg, ...)
{
	char *argv[ARGS_MAX];

	COLLECT_ARGS(arg, argv, (char ***)NULL);
	return execvpe(file, argv, environ);
}

SHIELD_EXPORT int execle(const char *path, const char *arg, ...)
{
	char *argv[ARGS_MAX], **envp = NULL;

	COLLECT_ARGS(arg, argv, &envp);
	return execve(path, argv, envp);
}

static int spawn(int search, pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	char *env[ENV_MAX];

	if (with_launch_env(envp, env) < 0)
		return E2BIG;
	return search ? REAL(posix_spawnp)(pid, path, fa, attr, argv, env)
		      : REAL(posix_spawn)(pid, path, fa, attr, argv, env);
}

SHIELD_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			      const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn(0, pid, path, fa, attr, argv, envp);
}

SHIELD_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn(1, pid, file, fa, attr, argv, envp);
}
