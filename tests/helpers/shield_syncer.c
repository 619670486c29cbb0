/* A program that writes and syncs, run under the shield by
 * tests/integration/shield_fresh.sh (docs/shield.md §6.6: bound volumes).
 *
 * usage: shield_syncer write DIR N      append "rec I" to DIR/log and fsync it, for I
 *                                       from the next record to N (a tail after the
 *                                       records is cut first); print "acked I" once
 *                                       each fsync returned
 *        shield_syncer check DIR        print "records N": DIR/log starts with
 *                                       "rec 1".."rec N" in order (then "unsynced tail
 *                                       B bytes" when anything follows them)
 *        shield_syncer dump DIR         print DIR/log, other bytes as \\xNN
 *        shield_syncer threads DIR T N  T threads, each N writes of its own file each
 *                                       followed by fsync; print "threads ok"
 *        shield_syncer fork DIR N       a forked child and its parent, each N writes
 *                                       of its own file each followed by fsync, at
 *                                       once; print "fork ok"
 *        shield_syncer bench DIR N SIZE N writes of SIZE bytes, each followed by
 *                                       fsync; print "fsync_us N TOTAL_US"
 *
 * An fsync that fails prints "fsync failed: ERRNO-NAME" and exits 3. Plain POSIX:
 * nothing here knows about the shield. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *dir;

static void die(const char *what)
{
	printf("%s failed: %s\n", what, errno == EIO ? "EIO" : strerror(errno));
	fflush(stdout);
	exit(what[0] == 'f' ? 3 : 1);
}

/* The records in DIR/log: the count of the leading "rec 1".."rec N" lines, their
 * size in *end and what follows them in *tail (a write that was never synced may
 * have left a torn or zeroed tail after a crash); -1 when unreadable. */
static long count_records(long *end, long *tail)
{
	char path[4096], line[64];
	long n = 0, size = 0;
	FILE *f;

	*end = *tail = 0;
	snprintf(path, sizeof(path), "%s/log", dir);
	f = fopen(path, "r");
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char want[64];

		snprintf(want, sizeof(want), "rec %ld\n", n + 1);
		size += (long)strlen(line);
		if (strcmp(line, want) != 0) {
			*tail = 1;
			break;
		}
		n++;
		*end = size;
	}
	if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > *end)
		*tail = ftell(f) - *end;
	fclose(f);
	return n;
}

static int do_write(long upto)
{
	char path[4096], rec[64];
	long end, tail, i = count_records(&end, &tail);
	int fd;

	if (i < 0)
		die("read");
	snprintf(path, sizeof(path), "%s/log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		die("open");
	if (tail > 0 && ftruncate(fd, end) != 0) /* an unsynced tail of a crash */
		die("truncate");
	for (i = i + 1; i <= upto; i++) {
		int n = snprintf(rec, sizeof(rec), "rec %ld\n", i);

		if (write(fd, rec, (size_t)n) != n)
			die("write");
		if (fsync(fd) != 0)
			die("fsync");
		printf("acked %ld\n", i);
		fflush(stdout);
	}
	return close(fd) == 0 ? 0 : (die("close"), 1);
}

struct job {
	int id;
	long n;
	int failed;
};

static void *thread_main(void *arg)
{
	struct job *j = arg;
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/t%d", dir, j->id);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		j->failed = 1;
		return NULL;
	}
	for (long i = 0; i < j->n && !j->failed; i++)
		if (write(fd, "0123456789abcdef", 16) != 16 || fsync(fd) != 0)
			j->failed = 1;
	close(fd);
	return NULL;
}

static int do_threads(int t, long n)
{
	pthread_t th[64];
	struct job jobs[64];
	int failed = 0;

	if (t < 1 || t > 64)
		return 2;
	for (int i = 0; i < t; i++) {
		jobs[i] = (struct job){ .id = i, .n = n };
		if (pthread_create(&th[i], NULL, thread_main, &jobs[i]) != 0)
			return 1;
	}
	for (int i = 0; i < t; i++) {
		pthread_join(th[i], NULL);
		failed |= jobs[i].failed;
	}
	printf(failed ? "threads failed\n" : "threads ok\n");
	return failed;
}

static int do_fork(long n)
{
	struct job parent = { .id = 100, .n = n }, child = { .id = 101, .n = n };
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		thread_main(&child);
		exit(child.failed);
	}
	thread_main(&parent);
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	if (parent.failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("fork failed: parent %d, child status %d\n", parent.failed, status);
		return 1;
	}
	printf("fork ok\n");
	return 0;
}

static int do_bench(long n, size_t size)
{
	char path[4096], *buf = malloc(size ? size : 1);
	struct timespec a, b;
	int fd;

	snprintf(path, sizeof(path), "%s/bench", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || buf == NULL)
		die("open");
	memset(buf, 'b', size);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		if (write(fd, buf, size) != (ssize_t)size)
			die("write");
		if (fsync(fd) != 0)
			die("fsync");
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("fsync_us %ld %ld\n", n,
	       (long)((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000));
	free(buf);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	long n;

	if (argc < 3)
		goto usage;
	dir = argv[2];
	if (strcmp(argv[1], "write") == 0 && argc == 4)
		return do_write(atol(argv[3]));
	if (strcmp(argv[1], "check") == 0 && argc == 3) {
		long end, tail;

		n = count_records(&end, &tail);
		if (n < 0)
			die("read");
		printf("records %ld\n", n);
		if (tail > 0)
			printf("unsynced tail %ld bytes\n", tail);
		return 0;
	}
	if (strcmp(argv[1], "dump") == 0 && argc == 3) {
		char path[4096];
		FILE *f;
		int ch;

		snprintf(path, sizeof(path), "%s/log", dir);
		if ((f = fopen(path, "r")) == NULL)
			die("open");
		while ((ch = fgetc(f)) != EOF)
			ch == '\n' || (ch >= 0x20 && ch < 0x7f) ? putchar(ch) : printf("\\x%02x", ch);
		fclose(f);
		return 0;
	}
	if (strcmp(argv[1], "threads") == 0 && argc == 5)
		return do_threads(atoi(argv[3]), atol(argv[4]));
	if (strcmp(argv[1], "fork") == 0 && argc == 4)
		return do_fork(atol(argv[3]));
	if (strcmp(argv[1], "bench") == 0 && argc == 5)
		return do_bench(atol(argv[3]), (size_t)atol(argv[4]));
usage:
	fprintf(stderr, "usage: shield_syncer write|check|threads|bench DIR ...\n");
	return 2;
}
