/* The file shield's core, linked straight into this test (docs/shield.md): the
 * interposed functions defined by src/shield replace libc's here exactly as they
 * do when preloaded, without the start-up (launch.c), which needs a TEE. A volume
 * is mounted at /prot by hand; every check goes through plain POSIX calls. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../files.h"
#include "shield/shield.h"
#include "../test.h"

static char root[64], host[PATH_MAX], outside[PATH_MAX];
static uint8_t key[SHELTER_VOLUME_KEY_SIZE];
/* calls of the tag hook; volatile: glibc declares syncfs and friends "leaf", so the
 * compiler may assume they never call back into this file and keep a stale copy */
static volatile int syncs;

int shield_tags_note_sync(struct shield_mount *m)
{
	(void)m;
	syncs++;
	return 0;
}

static int slurp_fd(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	return (int)n;
}

/* 1 when needle occurs in any file under dir (the host's view). */
static int host_contains(const char *dir, const char *needle)
{
	char cmd[PATH_MAX + 128];

	snprintf(cmd, sizeof(cmd), "grep -rqa -- '%s' '%s'", needle, dir);
	return system(cmd) == 0;
}

static void resolve_passes_unprotected_paths_unchanged(void)
{
	struct shield_path p;

	CHECK(shield_resolve(AT_FDCWD, "relative/x", &p) == 0 && strcmp(p.path, "relative/x") == 0);
	CHECK(shield_resolve(AT_FDCWD, "/protx/a", &p) == 0 && strcmp(p.path, "/protx/a") == 0);
	CHECK(shield_resolve(AT_FDCWD, "/prot/../etc/hosts", &p) == 0);
	CHECK(shield_resolve(AT_FDCWD, "", &p) == -1 && errno == ENOENT);
	CHECK(shield_resolve(AT_FDCWD, "//prot/./a/../b", &p) == 1 && strcmp(p.path, "b") == 0);
	CHECK(shield_resolve(AT_FDCWD, "/prot", &p) == 1 && strcmp(p.path, "") == 0);
	CHECK(shield_resolve(AT_FDCWD, "/../prot/x/", &p) == 1 && strcmp(p.path, "x") == 0);
}

static void open_errors_follow_posix(void)
{
	int fd;

	errno = 0;
	CHECK(open("/prot/none", O_RDONLY) == -1 && errno == ENOENT);
	CHECK(open("/prot/none/x", O_RDWR | O_CREAT, 0600) == -1 && errno == ENOENT);
	fd = open("/prot/e", O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK(close(fd) == 0);
	CHECK(open("/prot/e", O_RDWR | O_CREAT | O_EXCL, 0600) == -1 && errno == EEXIST);
	CHECK(open("/prot/e", O_RDONLY | O_DIRECTORY) == -1 && errno == ENOTDIR);
	CHECK(mkdir("/prot/d", 0700) == 0);
	CHECK(open("/prot/d", O_WRONLY) == -1 && errno == EISDIR);
	CHECK(mkdir("/prot/d", 0700) == -1 && errno == EEXIST);
	CHECK(open("/prot/e", O_RDWR | O_TMPFILE, 0600) == -1);
	fd = open("/prot/e", O_RDONLY);
	CHECK(fd >= 0);
	CHECK(write(fd, "x", 1) == -1 && errno == EBADF);
	CHECK(ftruncate(fd, 0) == -1 && errno == EINVAL);
	CHECK(close(fd) == 0);
	fd = open("/prot/e", O_WRONLY);
	char c;
	CHECK(read(fd, &c, 1) == -1 && errno == EBADF);
	CHECK(close(fd) == 0);
	CHECK(unlink("/prot/e") == 0 && rmdir("/prot/d") == 0);
}

static void data_round_trips_and_host_sees_ciphertext(void)
{
	char buf[256];
	struct stat st;
	int fd = open("/prot/f", O_RDWR | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK(write(fd, "canary-7f3a91 hello", 19) == 19);
	CHECK(lseek(fd, 0, SEEK_CUR) == 19);
	CHECK(pwrite(fd, "HELLO", 5, 14) == 5);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK(read(fd, buf, sizeof(buf)) == 19 && memcmp(buf, "canary-7f3a91 HELLO", 19) == 0);
	CHECK(read(fd, buf, sizeof(buf)) == 0);
	CHECK(pread(fd, buf, 5, 7) == 5 && memcmp(buf, "7f3a9", 5) == 0);
	/* a write past the end leaves a hole of zeros */
	CHECK(lseek(fd, 100, SEEK_SET) == 100 && write(fd, "z", 1) == 1);
	CHECK(fstat(fd, &st) == 0 && st.st_size == 101 && S_ISREG(st.st_mode));
	CHECK((st.st_mode & 0777) == (0644 & ~shield_umask()));
	CHECK(pread(fd, buf, 10, 50) == 10 && memcmp(buf, "\0\0\0\0\0\0\0\0\0\0", 10) == 0);
	CHECK(lseek(fd, 0, SEEK_END) == 101 && lseek(fd, -1, SEEK_SET) == -1 && errno == EINVAL);
	CHECK(lseek(fd, 0, SEEK_HOLE) == 101 && lseek(fd, 200, SEEK_DATA) == -1 && errno == ENXIO);
	CHECK(ftruncate(fd, 5) == 0 && fstat(fd, &st) == 0 && st.st_size == 5);
	int before = syncs;
	CHECK(fsync(fd) == 0 && fdatasync(fd) == 0 && syncs == before + 2);
	CHECK(close(fd) == 0);
	CHECK(stat("/prot/f", &st) == 0 && st.st_size == 5);
	CHECK(close(fd) == -1 && errno == EBADF);
	/* the plaintext never reaches the host directory */
	fd = open("/prot/g", O_WRONLY | O_CREAT | O_APPEND, 0600);
	CHECK(fd >= 0 && write(fd, "canary-c0ffee", 13) == 13 && fsync(fd) == 0 && close(fd) == 0);
	CHECK(!host_contains(host, "canary-c0ffee"));
	CHECK(!host_contains(host, "canary-7f3a9"));
}

static void append_and_vectored_io(void)
{
	struct iovec iov[3] = { { "ab", 2 }, { "", 0 }, { "cde", 3 } };
	char a[2], b[10];
	struct iovec rio[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	int fd = open("/prot/v", O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);

	CHECK(fd >= 0);
	CHECK(write(fd, "1", 1) == 1 && lseek(fd, 0, SEEK_SET) == 0);
	CHECK(writev(fd, iov, 3) == 5); /* appends regardless of the offset */
	CHECK(pwrite(fd, "X", 1, 0) == 1); /* Linux: O_APPEND appends pwrite too */
	CHECK(fcntl(fd, F_GETFL) & O_APPEND);
	CHECK(fcntl(fd, F_SETFL, 0) == 0 && !(fcntl(fd, F_GETFL) & O_APPEND));
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK(readv(fd, rio, 2) == 7 && memcmp(a, "1a", 2) == 0 && memcmp(b, "bcdeX", 5) == 0);
	CHECK(preadv(fd, rio, 2, 5) == 2 && memcmp(a, "eX", 2) == 0);
	CHECK(close(fd) == 0);
}

static void dup_shares_the_offset_and_close_keeps_the_other(void)
{
	char c;
	int fd = open("/prot/dup", O_RDWR | O_CREAT | O_TRUNC, 0600), d, e;

	CHECK(fd >= 0 && write(fd, "0123456789", 10) == 10 && lseek(fd, 2, SEEK_SET) == 2);
	d = dup(fd);
	CHECK(d >= 0 && read(d, &c, 1) == 1 && c == '2');
	CHECK(read(fd, &c, 1) == 1 && c == '3');
	e = fcntl(fd, F_DUPFD_CLOEXEC, 100);
	CHECK(e >= 100 && (fcntl(e, F_GETFD) & FD_CLOEXEC));
	CHECK(close(fd) == 0 && read(d, &c, 1) == 1 && c == '4');
	/* dup2 over a protected descriptor forgets it */
	int host_fd = open(outside, O_RDWR | O_CREAT, 0600);
	CHECK(host_fd >= 0);
	CHECK(dup2(host_fd, e) == e && write(e, "plain", 5) == 5);
	CHECK(dup3(d, host_fd, O_CLOEXEC) == host_fd && read(host_fd, &c, 1) == 1 && c == '5');
	CHECK(close(d) == 0 && close(e) == 0 && close(host_fd) == 0);
	char buf[16];
	int h = open(outside, O_RDONLY);
	CHECK(h >= 0 && slurp_fd(h, buf, sizeof(buf)) == 5 && memcmp(buf, "plain", 5) == 0);
	CHECK(close(h) == 0 && unlink(outside) == 0);
}

static void tree_operations_and_working_directory(void)
{
	char cwd[PATH_MAX], buf[PATH_MAX];
	struct stat st;
	int fd;

	CHECK(mkdir("/prot/a", 0755) == 0 && mkdir("/prot/a/b", 0755) == 0);
	CHECK(chdir("/prot/a") == 0);
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, "/prot/a") == 0);
	CHECK(getcwd(cwd, 3) == NULL && errno == ERANGE);
	fd = open("b/rel", O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && write(fd, "rel", 3) == 3 && close(fd) == 0);
	CHECK(stat("/prot/a/b/rel", &st) == 0 && st.st_size == 3);
	CHECK(rename("b/rel", "../moved") == 0 && access("/prot/moved", R_OK | W_OK) == 0);
	CHECK(access("b/rel", F_OK) == -1 && errno == ENOENT);
	CHECK(chmod("/prot/moved", 0400) == 0 && access("/prot/moved", X_OK) == -1);
	CHECK(rename("/prot/moved", outside) == -1 && errno == EXDEV);
	CHECK(rmdir("/prot/a") == -1 && errno == ENOTEMPTY);
	/* a protected directory descriptor anchors *at calls and fchdir */
	int dfd = open("/prot/a/b", O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0 && fstat(dfd, &st) == 0 && S_ISDIR(st.st_mode));
	fd = openat(dfd, "at", O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0 && close(fd) == 0);
	CHECK(fstatat(dfd, "at", &st, 0) == 0 && unlinkat(dfd, "at", 0) == 0);
	CHECK(read(dfd, buf, 1) == -1 && errno == EISDIR);
	CHECK(fchdir(dfd) == 0 && getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, "/prot/a/b") == 0);
	CHECK(close(dfd) == 0);
	CHECK(chdir("..") == 0 && getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, "/prot/a") == 0);
	CHECK(symlink("b", "link") == 0 && readlink("link", buf, sizeof(buf)) == 1 && buf[0] == 'b');
	CHECK(stat("link", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(lstat("link", &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(unlink("link") == 0 && link("b", "hard") == -1 && errno == EPERM);
	CHECK(realpath("b/../b", buf) != NULL && strcmp(buf, "/prot/a/b") == 0);
	/* leaving the mount gives the kernel its working directory back */
	CHECK(chdir(root) == 0 && getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, root) == 0);
	CHECK(rmdir("/prot/a/b") == 0 && rmdir("/prot/a") == 0 && unlink("/prot/moved") == 0);
}

static void record_locks_are_seen_by_another_process(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	int fd = open("/prot/lock", O_RDWR | O_CREAT, 0600), status = 0;
	pid_t pid;

	CHECK(fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0);
	pid = fork();
	if (pid == 0) {
		struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1 };
		int cfd = open("/prot/lock", O_RDWR);

		if (cfd < 0 || fcntl(cfd, F_GETLK, &q) < 0 || q.l_type != F_WRLCK || q.l_pid != getppid())
			_exit(1);
		q.l_type = F_WRLCK;
		_exit(fcntl(cfd, F_SETLK, &q) == -1 && (errno == EAGAIN || errno == EACCES) ? 0 : 2);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0 && flock(fd, LOCK_UN) == 0);
	CHECK(close(fd) == 0 && unlink("/prot/lock") == 0);
}

static void fork_child_writes_while_parent_appends(void)
{
	int fd = open("/prot/aof", O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600), status = 0;
	char buf[8192];
	struct stat st;
	pid_t pid;

	CHECK(fd >= 0);
	pid = fork();
	if (pid == 0) {
		int c = open("/prot/snap.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0600);

		for (int i = 0; c >= 0 && i < 200; i++)
			if (write(c, "snapshot-line\n", 14) != 14)
				_exit(1);
		_exit(c >= 0 && fsync(c) == 0 && close(c) == 0 && rename("/prot/snap.tmp", "/prot/snap") == 0 ? 0 : 3);
	}
	for (int i = 0; i < 200; i++)
		CHECK(write(fd, "append\n", 7) == 7);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(stat("/prot/snap", &st) == 0 && st.st_size == 2800);
	CHECK(fstat(fd, &st) == 0 && st.st_size == 1400);
	int s = open("/prot/snap", O_RDONLY);
	CHECK(s >= 0 && slurp_fd(s, buf, sizeof(buf)) == 2800 && memcmp(buf + 2786, "snapshot-line\n", 14) == 0);
	CHECK(close(s) == 0 && close(fd) == 0);
}

static void mappings_and_copies(void)
{
	int fd = open("/prot/m", O_RDWR | O_CREAT | O_TRUNC, 0600), p[2];
	char buf[64];
	char *map;
	off_t off = 2;

	CHECK(fd >= 0 && write(fd, "mapped bytes", 12) == 12);
	map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK(map != MAP_FAILED && memcmp(map, "mapped bytes\0", 13) == 0);
	CHECK(munmap(map, 4096) == 0);
	/* shared: stores reach the file at msync and munmap, never past its end */
	map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	memcpy(map, "MAPPED", 6);
	map[5000] = 'x';
	CHECK(pread(fd, buf, 6, 0) == 6 && memcmp(buf, "mapped", 6) == 0);
	/* another process cannot share that memory: refused, never a silent copy */
	pid_t pid = fork();
	if (pid == 0) {
		int cfd = open("/prot/m", O_RDWR);
		void *cm = cfd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_SHARED, cfd, 0);
		void *pm = cfd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, cfd, 0);

		_exit(cm == MAP_FAILED && errno == EBUSY && pm != MAP_FAILED ? 0 : 1);
	}
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(msync(map, 4096, MS_SYNC) == 0);
	CHECK(pread(fd, buf, 12, 0) == 12 && memcmp(buf, "MAPPED bytes", 12) == 0);
	map[7] = 'B';
	CHECK(munmap(map, 8192) == 0);
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && st.st_size == 12);
	CHECK(pread(fd, buf, 12, 0) == 12 && memcmp(buf, "MAPPED Bytes", 12) == 0);
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 1) == MAP_FAILED && errno == EINVAL);
	int ro = open("/prot/m", O_RDONLY);
	CHECK(ro >= 0 && mmap(NULL, 4096, PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED && errno == EACCES);
	CHECK(close(ro) == 0 && pwrite(fd, "mapped bytes", 12, 0) == 12);
	CHECK(pipe(p) == 0);
	CHECK(sendfile(p[1], fd, &off, 100) == 10 && off == 12);
	CHECK(read(p[0], buf, sizeof(buf)) == 10 && memcmp(buf, "pped bytes", 10) == 0);
	CHECK(lseek(fd, 7, SEEK_SET) == 7 && sendfile(p[1], fd, NULL, 3) == 3 && lseek(fd, 0, SEEK_CUR) == 10);
	CHECK(read(p[0], buf, sizeof(buf)) == 3 && memcmp(buf, "byt", 3) == 0);
	int h = open(outside, O_RDWR | O_CREAT | O_TRUNC, 0600);
	off_t in_off = 0;
	CHECK(h >= 0 && copy_file_range(fd, &in_off, h, NULL, 6, 0) == 6);
	CHECK(pread(h, buf, 6, 0) == 6 && memcmp(buf, "mapped", 6) == 0);
	CHECK(close(h) == 0 && unlink(outside) == 0 && close(p[0]) == 0 && close(p[1]) == 0);
	CHECK(close(fd) == 0);
}

static void temporary_names_stay_in_the_volume(void)
{
	char t[] = "/prot/tmp.XXXXXX", u[] = "/prot/tmp.XXXXXX.rdb", d[] = "/prot/dir.XXXXXX";
	struct stat st;
	int fd = mkstemp(t), fd2 = mkstemps(u, 4);

	CHECK(fd >= 0 && fd2 >= 0 && strcmp(t, "/prot/tmp.XXXXXX") != 0);
	CHECK(strncmp(u, "/prot/tmp.", 10) == 0 && strcmp(u + 16, ".rdb") == 0);
	CHECK(write(fd, "tmp", 3) == 3 && stat(t, &st) == 0 && st.st_size == 3 && (st.st_mode & 0777) == 0600);
	CHECK(mkdtemp(d) != NULL && stat(d, &st) == 0 && S_ISDIR(st.st_mode));
	char bad[] = "/prot/noX";
	CHECK(mkstemp(bad) == -1 && errno == EINVAL);
	CHECK(close(fd) == 0 && close(fd2) == 0 && unlink(t) == 0 && unlink(u) == 0 && rmdir(d) == 0);
}

static void writeback_hints_succeed(void)
{
	int fd = open("/prot/hint", O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0 && write(fd, "x", 1) == 1);
	CHECK(sync_file_range(fd, 0, 1, SYNC_FILE_RANGE_WRITE) == 0);
	CHECK(sync_file_range(fd, -1, 1, SYNC_FILE_RANGE_WRITE) == -1 && errno == EINVAL);
	int before = syncs;
	int r = syncfs(fd);
	CHECK(r == 0 && syncs == before + 1);
	CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
	CHECK(close(fd) == 0 && unlink("/prot/hint") == 0);
}

static void tampered_chunk_reads_as_eio(void)
{
	char seg[PATH_MAX + 32], big[65536], out[65536];
	struct stat st;
	int fd = open("/prot/t", O_RDWR | O_CREAT | O_TRUNC, 0600), sfd;
	ssize_t n;

	memset(big, 'A', sizeof(big));
	CHECK(fd >= 0 && write(fd, big, sizeof(big)) == (ssize_t)sizeof(big) && fsync(fd) == 0);
	snprintf(seg, sizeof(seg), "%s/log/0000000000000001.seg", host);
	sfd = open(seg, O_RDWR);
	CHECK(sfd >= 0 && fstat(sfd, &st) == 0 && st.st_size > 70000);
	/* the file's chunks are the newest records: flip a byte among them */
	unsigned char c;
	off_t at = st.st_size - 30000;
	CHECK(pread(sfd, &c, 1, at) == 1);
	c ^= 0x20;
	CHECK(pwrite(sfd, &c, 1, at) == 1 && close(sfd) == 0);
	errno = 0;
	n = pread(fd, out, sizeof(out), 0);
	CHECK(n == -1 && errno == EIO);
	CHECK(close(fd) == 0);
}

int main(void)
{
	struct shelter_volume *vol = NULL;
	struct shelter_err err;

	test_binary = "test_shield";
	snprintf(root, sizeof(root), "/tmp/shelter-test-shield.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 2;
	snprintf(host, sizeof(host), "%s/vol", root);
	snprintf(outside, sizeof(outside), "%s/outside", root);
	setenv("SHELTER_RUNTIME_DIR", root, 1);
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x50 + i);
	if (shelter_volume_create(host, key, &err) != 0 ||
	    shelter_volume_open(host, key, NULL, &vol, &err) != 0 ||
	    shield_mount_add("/prot/", "prot", host, vol, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return 2;
	}
	RUN(resolve_passes_unprotected_paths_unchanged);
	RUN(open_errors_follow_posix);
	RUN(data_round_trips_and_host_sees_ciphertext);
	RUN(append_and_vectored_io);
	RUN(dup_shares_the_offset_and_close_keeps_the_other);
	RUN(tree_operations_and_working_directory);
	RUN(record_locks_are_seen_by_another_process);
	RUN(fork_child_writes_while_parent_appends);
	RUN(mappings_and_copies);
	RUN(temporary_names_stay_in_the_volume);
	RUN(writeback_hints_succeed);
	RUN(tampered_chunk_reads_as_eio);
	test_rm_tree(root);
	return test_total_failed ? 1 : 0;
}
