/* Protected volume library: include/shelter/volume.h, docs/formats/volume.md.
 * Negative cases first, each asserting the exact error code. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"
#include "shelter/crypto.h"
#include "shelter/volume.h"
#include "volume/internal.h" /* the cache's hit counters (§7.4) */

static uint8_t key[32], other_key[32];
static char root[256];
static int counter;

static const char *fresh_dir(void)
{
	static char path[300];

	snprintf(path, sizeof(path), "%s/v%d", root, counter++);
	return path;
}

static struct shelter_volume *fresh_volume(const struct shelter_volume_options *opts)
{
	struct shelter_volume *v = NULL;
	const char *dir = fresh_dir();

	if (shelter_volume_create(dir, key, NULL) < 0 ||
	    shelter_volume_open(dir, key, opts, &v, NULL) < 0)
		return NULL;
	return v;
}

static int put(struct shelter_volume *v, const char *path, const void *data, size_t size)
{
	struct shelter_file *f;
	int rc = shelter_file_open(v, path, SHELTER_O_WRONLY | SHELTER_O_CREAT | SHELTER_O_TRUNC,
				   0644, &f, NULL);

	if (rc < 0)
		return rc;
	rc = shelter_file_pwrite(f, data, size, 0, NULL, NULL);
	shelter_file_close(f);
	return rc;
}

/* Read the whole file into a malloc'd buffer (*out, *size). */
static int get(struct shelter_volume *v, const char *path, uint8_t **out, size_t *size,
	       struct shelter_err *err)
{
	struct shelter_file *f;
	struct shelter_stat st;
	size_t got = 0;
	int rc = shelter_file_open(v, path, SHELTER_O_RDONLY, 0, &f, err);

	*out = NULL;
	if (rc < 0)
		return rc;
	rc = shelter_file_stat(f, &st, err);
	if (rc == 0) {
		*out = malloc(st.size + 1);
		rc = shelter_file_pread(f, *out, st.size + 1, 0, &got, err);
	}
	*size = got;
	shelter_file_close(f);
	return rc;
}

static void patch_byte(const char *dir, const char *file, long off, uint8_t xor_mask)
{
	char path[512];
	uint8_t b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDWR);
	if (fd < 0 || pread(fd, &b, 1, off) != 1)
		exit(3);
	b ^= xor_mask;
	if (pwrite(fd, &b, 1, off) != 1)
		exit(3);
	close(fd);
}

/* ---- negative cases -------------------------------------------------------------- */

static void open_rejects_non_volumes(void)
{
	struct shelter_volume *v = NULL;
	struct shelter_err err;
	char dir[300];

	snprintf(dir, sizeof(dir), "%s/plain", root);
	mkdir(dir, 0700);
	CHECK_RC(shelter_volume_open(dir, key, NULL, &v, &err), SHELTER_E_NOTVOLUME);
	CHECK(strstr(err.msg, "not a volume") != NULL);
	CHECK(v == NULL);
	snprintf(dir, sizeof(dir), "%s/does-not-exist", root);
	CHECK_RC(shelter_volume_open(dir, key, NULL, &v, &err), SHELTER_E_NOENT);
	CHECK(strstr(err.msg, "does-not-exist") != NULL);
}

static void create_refuses_non_empty_dir(void)
{
	char dir[300], file[320];
	int fd;

	snprintf(dir, sizeof(dir), "%s/nonempty", root);
	mkdir(dir, 0700);
	snprintf(file, sizeof(file), "%s/x", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK_RC(shelter_volume_create(dir, key, NULL), SHELTER_E_EXIST);
}

static void open_tells_wrong_key_from_damage(void)
{
	struct shelter_volume *v = NULL;
	struct shelter_err err;
	const char *dir = fresh_dir();

	CHECK_OK(shelter_volume_create(dir, key, NULL));
	CHECK_RC(shelter_volume_open(dir, other_key, NULL, &v, &err), SHELTER_E_BADKEY);
	CHECK(strstr(err.msg, "wrong key") != NULL);
	patch_byte(dir, "VOLUME", 50, 0x01); /* salt: covered by the MAC, not the key id */
	CHECK_RC(shelter_volume_open(dir, key, NULL, &v, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "header modified") != NULL);
	patch_byte(dir, "VOLUME", 50, 0x01);
	patch_byte(dir, "VOLUME", 85, 0x80); /* key id */
	CHECK_RC(shelter_volume_open(dir, key, NULL, &v, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "key id modified") != NULL);
	patch_byte(dir, "VOLUME", 85, 0x80);
	CHECK_OK(shelter_volume_open(dir, key, NULL, &v, &err));
	shelter_volume_close(v);
}

static void open_refuses_newer_version_and_short_header(void)
{
	struct shelter_volume *v = NULL;
	struct shelter_err err;
	const char *dir = fresh_dir();
	char path[400];

	CHECK_OK(shelter_volume_create(dir, key, NULL));
	patch_byte(dir, "VOLUME", 11, 0x03); /* version 1 -> 2 */
	CHECK_RC(shelter_volume_open(dir, key, NULL, &v, &err), SHELTER_E_VERSION);
	CHECK(strstr(err.msg, "version 2 is newer") != NULL);
	patch_byte(dir, "VOLUME", 11, 0x03);
	snprintf(path, sizeof(path), "%s/VOLUME", dir);
	CHECK(truncate(path, 100) == 0);
	CHECK_RC(shelter_volume_open(dir, key, NULL, &v, &err), SHELTER_E_TRUNCATED);
}

static void namespace_errors_are_exact(void)
{
	struct shelter_volume *v = fresh_volume(NULL);
	char longname[300];

	CHECK(v != NULL);
	memset(longname, 'a', 256);
	longname[256] = '\0';
	CHECK_OK(shelter_volume_mkdir(v, "d", 0755, NULL));
	CHECK_OK(put(v, "d/f", "x", 1));
	CHECK_RC(shelter_volume_mkdir(v, "d", 0755, NULL), SHELTER_E_EXIST);
	CHECK_RC(shelter_volume_mkdir(v, "missing/sub", 0755, NULL), SHELTER_E_NOENT);
	CHECK_RC(shelter_volume_mkdir(v, "d/f/sub", 0755, NULL), SHELTER_E_NOTDIR);
	CHECK_RC(shelter_volume_mkdir(v, "d/../x", 0755, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_volume_mkdir(v, longname, 0755, NULL), SHELTER_E_NAMETOOLONG);
	CHECK_RC(shelter_volume_mkdir(v, "/", 0755, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_volume_rmdir(v, "d", NULL), SHELTER_E_NOTEMPTY);
	CHECK_RC(shelter_volume_rmdir(v, "d/f", NULL), SHELTER_E_NOTDIR);
	CHECK_RC(shelter_volume_unlink(v, "d", NULL), SHELTER_E_ISDIR);
	CHECK_RC(shelter_volume_unlink(v, "nope", NULL), SHELTER_E_NOENT);
	CHECK_RC(shelter_volume_rename(v, "d", "d/inside", NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_volume_rename(v, "nope", "x", NULL), SHELTER_E_NOENT);
	CHECK_OK(shelter_volume_mkdir(v, "e", 0755, NULL));
	CHECK_RC(shelter_volume_rename(v, "d/f", "e", NULL), SHELTER_E_ISDIR);
	CHECK_RC(shelter_volume_rename(v, "e", "d/f", NULL), SHELTER_E_NOTDIR);
	CHECK_RC(shelter_volume_rename(v, "e", "d", NULL), SHELTER_E_NOTEMPTY);
	CHECK_RC(shelter_volume_readlink(v, "d/f", longname, sizeof(longname), NULL),
		 SHELTER_E_INVAL);
	CHECK_RC(shelter_volume_symlink(v, "", "l", NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_volume_truncate(v, "d", 0, NULL), SHELTER_E_ISDIR);
	shelter_volume_close(v);
}

static void file_errors_are_exact(void)
{
	struct shelter_volume *v = fresh_volume(NULL);
	struct shelter_file *f = NULL;
	uint8_t buf[16];
	size_t got;

	CHECK(v != NULL);
	CHECK_OK(put(v, "f", "abc", 3));
	CHECK_OK(shelter_volume_symlink(v, "f", "l", NULL));
	CHECK_OK(shelter_volume_mkdir(v, "d", 0755, NULL));
	CHECK_RC(shelter_file_open(v, "nope", SHELTER_O_RDONLY, 0, &f, NULL), SHELTER_E_NOENT);
	CHECK_RC(shelter_file_open(v, "f", SHELTER_O_CREAT | SHELTER_O_EXCL | SHELTER_O_RDWR, 0644,
				   &f, NULL), SHELTER_E_EXIST);
	CHECK_RC(shelter_file_open(v, "d", SHELTER_O_RDONLY, 0, &f, NULL), SHELTER_E_ISDIR);
	CHECK_RC(shelter_file_open(v, "l", SHELTER_O_RDONLY, 0, &f, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_file_open(v, "f", 3, 0, &f, NULL), SHELTER_E_INVAL);
	CHECK(f == NULL);
	CHECK_OK(shelter_file_open(v, "f", SHELTER_O_RDONLY, 0, &f, NULL));
	CHECK_RC(shelter_file_pwrite(f, "x", 1, 0, NULL, NULL), SHELTER_E_BADF);
	CHECK_RC(shelter_file_truncate(f, 0, NULL), SHELTER_E_BADF);
	CHECK_RC(shelter_file_pwrite(f, "x", 1, UINT64_C(1) << 53, NULL, NULL), SHELTER_E_BADF);
	shelter_file_close(f);
	CHECK_OK(shelter_file_open(v, "f", SHELTER_O_WRONLY, 0, &f, NULL));
	CHECK_RC(shelter_file_pread(f, buf, sizeof(buf), 0, &got, NULL), SHELTER_E_BADF);
	CHECK_RC(shelter_file_pwrite(f, "x", 1, UINT64_C(1) << 53, NULL, NULL), SHELTER_E_FBIG);
	shelter_file_close(f);
	shelter_volume_close(v);
}

static void tampered_chunk_refused_naming_file(void)
{
	struct shelter_volume *v = fresh_volume(NULL);
	struct shelter_err err;
	uint8_t data[3 * 4096];
	char vdir[300], seg[400];
	struct stat st;

	CHECK(v != NULL);
	snprintf(vdir, sizeof(vdir), "%s/v%d", root, counter - 1);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	CHECK_OK(put(v, "secret.db", data, sizeof(data)));
	shelter_volume_close(v);
	/* flip a ciphertext byte of the last chunk record: open authenticates every
	 * record it replays, so it refuses the volume and names the file */
	snprintf(seg, sizeof(seg), "%s/log/0000000000000001.seg", vdir);
	CHECK(stat(seg, &st) == 0);
	patch_byte(vdir, "log/0000000000000001.seg", st.st_size - 2000, 0x10);
	CHECK_RC(shelter_volume_open(vdir, key, NULL, &v, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "secret.db") != NULL);
	CHECK(strstr(err.msg, "modified") != NULL);
}

static void stale_tag_is_refused(void)
{
	struct shelter_volume *v = fresh_volume(NULL), *v2 = NULL;
	uint8_t tag0[32], tag1[32], bogus[32] = { 0 };
	struct shelter_volume_options opts = { 0 };
	char vdir[300];

	CHECK(v != NULL);
	snprintf(vdir, sizeof(vdir), "%s/v%d", root, counter - 1);
	CHECK_OK(put(v, "a", "1", 1));
	CHECK_OK(shelter_volume_tag(v, tag0, NULL));
	CHECK_OK(put(v, "b", "2", 1));
	CHECK_OK(shelter_volume_tag(v, tag1, NULL));
	CHECK(memcmp(tag0, tag1, 32) != 0);
	shelter_volume_close(v);
	opts.expected_tag = bogus;
	CHECK_RC(shelter_volume_open(vdir, key, &opts, &v2, NULL), SHELTER_E_STALE);
	opts.expected_tag = tag1;
	CHECK_OK(shelter_volume_open(vdir, key, &opts, &v2, NULL));
	shelter_volume_close(v2);
	opts.expected_tag = tag0; /* an earlier point of the same history is accepted */
	CHECK_OK(shelter_volume_open(vdir, key, &opts, &v2, NULL));
	shelter_volume_close(v2);
}

/* ---- positive cases -------------------------------------------------------------- */

/* Golden volumes of format version 1 (tests/vectors/volume/make-v1.sh): every later
 * shelter must read them, with or without a checkpoint. */
static void check_golden(const char *name, int compacted)
{
	struct shelter_volume *v = NULL;
	struct shelter_volume_options opts = { 0 };
	uint8_t gkey[32], tag[32], got_tag[32], *data = NULL;
	char hex[80], cmd[600], dir[300], link[64], path[300];
	struct shelter_stat st;
	size_t size;
	FILE *fp;

	for (int i = 0; i < 32; i++)
		gkey[i] = (uint8_t)i;
	snprintf(path, sizeof(path), "tests/vectors/volume/%s.tag", name);
	fp = fopen(path, "r");
	CHECK(fp != NULL);
	CHECK(fgets(hex, sizeof(hex), fp) != NULL);
	fclose(fp);
	hex[64] = '\0';
	CHECK_OK(shelter_unhex(hex, tag, 32));
	snprintf(dir, sizeof(dir), "%s/golden-%s", root, name);
	snprintf(cmd, sizeof(cmd), "cp -a tests/vectors/volume/%s %s", name, dir);
	CHECK(system(cmd) == 0);
	opts.expected_tag = tag;
	CHECK_OK(shelter_volume_open(dir, gkey, &opts, &v, NULL));
	CHECK_OK(shelter_volume_tag(v, got_tag, NULL));
	CHECK_MEM(got_tag, tag, 32);
	CHECK_OK(get(v, "hello.txt", &data, &size, NULL));
	CHECK(size == 9 && memcmp(data, "replaced\n", 9) == 0);
	free(data);
	CHECK_OK(get(v, "dir/nested/data.txt", &data, &size, NULL));
	CHECK(size == 10000 && memcmp(data, "00000001", 8) == 0 &&
	      memcmp(data + 9996, "2499", 4) == 0);
	free(data);
	CHECK_OK(shelter_volume_readlink(v, "link", link, sizeof(link), NULL));
	CHECK(strcmp(link, "dir/nested/data.txt") == 0);
	CHECK_OK(shelter_volume_stat(v, "empty", &st, NULL));
	CHECK(st.type == SHELTER_FT_DIR);
	CHECK_RC(shelter_volume_stat(v, "tmp.txt", &st, NULL), SHELTER_E_NOENT);
	CHECK_RC(shelter_volume_stat(v, "dir/after.txt", &st, NULL),
		 compacted ? 0 : SHELTER_E_NOENT);
	shelter_volume_close(v);
	CHECK_OK(shelter_volume_verify(dir, gkey, tag, NULL, NULL, NULL));
}

static void golden_v1_volume_reads_back(void)
{
	check_golden("v1", 0);
}

static void golden_v1_compacted_volume_reads_back(void)
{
	check_golden("v1-compacted", 1);
}

static void writes_reads_sparse_and_truncate(void)
{
	struct shelter_volume *v = fresh_volume(NULL);
	struct shelter_file *f = NULL;
	struct shelter_stat st;
	uint8_t buf[20000], want[20000];
	size_t got;

	CHECK(v != NULL);
	CHECK_OK(shelter_file_open(v, "s", SHELTER_O_RDWR | SHELTER_O_CREAT, 0600, &f, NULL));
	CHECK_OK(shelter_file_pwrite(f, "tail", 4, 100000, NULL, NULL));
	CHECK_OK(shelter_file_stat(f, &st, NULL));
	CHECK(st.size == 100004 && st.blocks == 8); /* one chunk stored, the rest a hole */
	CHECK_OK(shelter_file_pread(f, buf, sizeof(buf), 90000, &got, NULL));
	memset(want, 0, sizeof(want));
	memcpy(want + 10000, "tail", 4);
	CHECK(got == 10004 && memcmp(buf, want, got) == 0);
	/* shrink into the middle of a chunk, then extend: the cut bytes read as zeros */
	CHECK_OK(shelter_file_pwrite(f, "ABCDEFGH", 8, 5000, NULL, NULL));
	CHECK_OK(shelter_file_truncate(f, 5003, NULL));
	CHECK_OK(shelter_file_truncate(f, 9000, NULL));
	CHECK_OK(shelter_file_pread(f, buf, sizeof(buf), 5000, &got, NULL));
	CHECK(got == 4000 && memcmp(buf, "ABC\0\0\0\0\0", 8) == 0);
	CHECK_OK(shelter_file_pread(f, buf, 10, 9000, &got, NULL));
	CHECK(got == 0);
	shelter_file_close(f);
	/* O_APPEND writes at the end whatever the offset says */
	CHECK_OK(shelter_file_open(v, "s", SHELTER_O_WRONLY | SHELTER_O_APPEND, 0, &f, NULL));
	{
		uint64_t at = 0;

		CHECK_OK(shelter_file_pwrite(f, "++", 2, 0, &at, NULL));
		CHECK(at == 9000);
	}
	shelter_file_close(f);
	CHECK_OK(shelter_volume_stat(v, "s", &st, NULL));
	CHECK(st.size == 9002 && st.type == SHELTER_FT_REG && st.mode == 0600);
	CHECK_OK(shelter_volume_chmod(v, "s", 0640, NULL));
	CHECK_OK(shelter_volume_stat(v, "s", &st, NULL));
	CHECK(st.mode == 0640 && st.size == 9002);
	shelter_volume_close(v);
}

static void rename_replaces_and_unlinked_open_file_lives(void)
{
	struct shelter_volume *v = fresh_volume(NULL);
	struct shelter_file *f = NULL;
	uint8_t buf[16], *data = NULL;
	size_t got, size;

	CHECK(v != NULL);
	CHECK_OK(put(v, "dump.rdb", "old", 3));
	CHECK_OK(put(v, "temp.rdb", "new!", 4));
	CHECK_OK(shelter_file_open(v, "dump.rdb", SHELTER_O_RDONLY, 0, &f, NULL));
	CHECK_OK(shelter_volume_rename(v, "temp.rdb", "dump.rdb", NULL));
	CHECK_OK(get(v, "dump.rdb", &data, &size, NULL));
	CHECK(size == 4 && memcmp(data, "new!", 4) == 0);
	free(data);
	CHECK_RC(shelter_volume_unlink(v, "temp.rdb", NULL), SHELTER_E_NOENT);
	/* the replaced file is still readable through the handle opened before */
	CHECK_OK(shelter_file_pread(f, buf, sizeof(buf), 0, &got, NULL));
	CHECK(got == 3 && memcmp(buf, "old", 3) == 0);
	shelter_file_close(f);
	CHECK_OK(shelter_volume_rename(v, "dump.rdb", "dump.rdb", NULL));
	CHECK_OK(shelter_volume_mkdir(v, "a", 0755, NULL));
	CHECK_OK(shelter_volume_mkdir(v, "b", 0755, NULL));
	CHECK_OK(shelter_volume_rename(v, "a", "b", NULL)); /* empty dir over empty dir */
	CHECK_OK(shelter_volume_rename(v, "dump.rdb", "b/moved", NULL));
	CHECK_OK(get(v, "b/moved", &data, &size, NULL));
	CHECK(size == 4);
	free(data);
	shelter_volume_close(v);
}

static void reopen_after_rollover_keeps_everything(void)
{
	struct shelter_volume_options opts = { .segment_size = 65536 };
	struct shelter_volume *v = fresh_volume(&opts);
	uint8_t data[50000], *back = NULL, tag[32], tag2[32];
	char vdir[300], name[32];
	size_t size;

	CHECK(v != NULL);
	snprintf(vdir, sizeof(vdir), "%s/v%d", root, counter - 1);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "file%02d", i);
		CHECK_OK(put(v, name, data, sizeof(data) - (size_t)i * 1000));
	}
	CHECK_OK(shelter_volume_sync(v, NULL));
	CHECK_OK(shelter_volume_tag(v, tag, NULL));
	shelter_volume_close(v);
	opts.expected_tag = tag;
	CHECK_OK(shelter_volume_open(vdir, key, &opts, &v, NULL));
	CHECK_OK(shelter_volume_tag(v, tag2, NULL));
	CHECK_MEM(tag, tag2, 32);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "file%02d", i);
		CHECK_OK(get(v, name, &back, &size, NULL));
		CHECK(size == sizeof(data) - (size_t)i * 1000 && memcmp(back, data, size) == 0);
		free(back);
	}
	shelter_volume_close(v);
	CHECK_OK(shelter_volume_verify(vdir, key, tag, NULL, NULL, NULL));
	{
		char seg[400];
		struct stat st;

		snprintf(seg, sizeof(seg), "%s/log/0000000000000009.seg", vdir);
		CHECK(stat(seg, &st) == 0); /* 600 KB over 64 KiB segments */
	}
}

static void forked_child_writes_are_seen_by_parent(void)
{
	struct shelter_volume *v = fresh_volume(NULL);
	uint8_t *data = NULL, t1[32], t2[32];
	size_t size;
	int status, p[2];
	pid_t pid;

	CHECK(v != NULL);
	CHECK(pipe(p) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* the child inherits the handle, as redis's BGSAVE child does */
		int ok = put(v, "temp-1.rdb", "snapshot", 8) == 0 &&
			 shelter_volume_rename(v, "temp-1.rdb", "dump.rdb", NULL) == 0 &&
			 shelter_volume_tag(v, t1, NULL) == 0;

		if (write(p[1], t1, 32) != 32)
			ok = 0;
		_exit(ok ? 0 : 1);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(read(p[0], t1, 32) == 32);
	close(p[0]);
	close(p[1]);
	CHECK_OK(get(v, "dump.rdb", &data, &size, NULL));
	CHECK(size == 8 && memcmp(data, "snapshot", 8) == 0);
	free(data);
	CHECK_OK(shelter_volume_tag(v, t2, NULL));
	CHECK_MEM(t1, t2, 32);
	shelter_volume_close(v);
}

static uint64_t log_bytes(const char *vdir, int *files)
{
	char cmd[400];
	unsigned long long total = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -1 %s/log | wc -l; cat %s/log/*.seg | wc -c", vdir, vdir);
	p = popen(cmd, "r");
	if (p == NULL || fscanf(p, "%d %llu", files, &total) != 2)
		total = 0;
	if (p != NULL)
		pclose(p);
	return total;
}

static void compaction_reclaims_space_and_keeps_the_tag(void)
{
	struct shelter_volume_options opts = { .segment_size = 65536 };
	struct shelter_volume *v = fresh_volume(&opts), *v2 = NULL;
	struct shelter_file *orphan = NULL;
	uint8_t data[30000], *back = NULL, tag[32], tag2[32], first_tag[32];
	char vdir[300];
	size_t size, got;
	int files_before, files_after;
	uint64_t before, after;

	CHECK(v != NULL);
	snprintf(vdir, sizeof(vdir), "%s/v%d", root, counter - 1);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	CHECK_OK(put(v, "keep", "kept", 4));
	CHECK_OK(shelter_volume_tag(v, first_tag, NULL));
	for (int round = 0; round < 130; round++) /* push first_tag out of the window */
		CHECK_OK(shelter_volume_chmod(v, "keep", 0600 + (round & 7), NULL));
	for (int round = 0; round < 20; round++)
		CHECK_OK(put(v, "churn", data, sizeof(data)));
	CHECK_OK(put(v, "doomed", data, 5000));
	CHECK_OK(shelter_file_open(v, "doomed", SHELTER_O_RDONLY, 0, &orphan, NULL));
	CHECK_OK(shelter_volume_unlink(v, "doomed", NULL));
	CHECK_OK(shelter_volume_symlink(v, "keep", "sym", NULL));
	CHECK_OK(shelter_volume_mkdirs(v, "a/b/c", 0700, NULL));
	CHECK_OK(shelter_volume_tag(v, tag, NULL));
	before = log_bytes(vdir, &files_before);
	CHECK_OK(shelter_volume_compact(v, NULL));
	after = log_bytes(vdir, &files_after);
	CHECK(after < before / 5 && files_after == 2);
	CHECK_OK(shelter_volume_tag(v, tag2, NULL));
	CHECK(memcmp(tag, tag2, 32) != 0); /* the seal before the checkpoint is history */
	/* the unlinked-but-open file still reads through its handle */
	CHECK_OK(shelter_file_pread(orphan, data, 5000, 0, &got, NULL));
	CHECK(got == 5000 && data[4999] == (uint8_t)(4999 * 13));
	shelter_file_close(orphan);
	CHECK_OK(put(v, "after", "x", 1));
	shelter_volume_close(v);
	opts.expected_tag = tag;
	CHECK_OK(shelter_volume_open(vdir, key, &opts, &v, NULL));
	CHECK_OK(get(v, "churn", &back, &size, NULL));
	CHECK(size == sizeof(data) && back[29999] == (uint8_t)(29999 * 13));
	free(back);
	CHECK_OK(get(v, "keep", &back, &size, NULL));
	CHECK(size == 4 && memcmp(back, "kept", 4) == 0);
	free(back);
	CHECK_OK(shelter_volume_readlink(v, "sym", (char *)data, 16, NULL));
	CHECK(strcmp((char *)data, "keep") == 0);
	{
		struct shelter_stat st;

		CHECK_RC(shelter_volume_stat(v, "doomed", &st, NULL), SHELTER_E_NOENT);
	}
	CHECK_OK(shelter_volume_compact(v, NULL)); /* a checkpoint over a checkpoint */
	shelter_volume_close(v);
	CHECK_OK(shelter_volume_verify(vdir, key, NULL, NULL, NULL, NULL));
	/* history older than the recent window kept in the checkpoint is gone */
	opts.expected_tag = first_tag;
	CHECK_RC(shelter_volume_open(vdir, key, &opts, &v2, NULL), SHELTER_E_STALE);
}

static void compaction_by_another_process_is_followed(void)
{
	struct shelter_volume *v = fresh_volume(NULL), *mine = NULL;
	uint8_t *back = NULL;
	char vdir[300];
	size_t size;
	int status;
	pid_t pid;

	CHECK(v != NULL);
	snprintf(vdir, sizeof(vdir), "%s/v%d", root, counter - 1);
	CHECK_OK(put(v, "f", "version-1", 9));
	CHECK_OK(put(v, "f", "version-2", 9));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* an independent open in another process compacts and writes on */
		int ok = shelter_volume_open(vdir, key, NULL, &mine, NULL) == 0 &&
			 shelter_volume_compact(mine, NULL) == 0 &&
			 put(mine, "g", "from-child", 10) == 0;

		shelter_volume_close(mine);
		_exit(ok ? 0 : 1);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_OK(get(v, "f", &back, &size, NULL));
	CHECK(size == 9 && memcmp(back, "version-2", 9) == 0);
	free(back);
	CHECK_OK(get(v, "g", &back, &size, NULL));
	CHECK(size == 10 && memcmp(back, "from-child", 10) == 0);
	free(back);
	CHECK_OK(put(v, "h", "parent", 6));
	shelter_volume_close(v);
	CHECK_OK(shelter_volume_verify(vdir, key, NULL, NULL, NULL, NULL));
}

/* A process idle while another compacts twice finds its next segments gone and
 * resyncs from the newest checkpoint, keeping its open handles (§10.4). */
static void lagging_process_resyncs_after_two_compactions(void)
{
	struct shelter_volume *v = fresh_volume(NULL), *other = NULL;
	struct shelter_file *keep = NULL, *gone = NULL;
	uint8_t *back = NULL, buf[16];
	char vdir[300];
	size_t size, got;
	int status;
	pid_t pid;

	CHECK(v != NULL);
	snprintf(vdir, sizeof(vdir), "%s/v%d", root, counter - 1);
	CHECK_OK(put(v, "kept", "kept-data", 9));
	CHECK_OK(put(v, "doomed", "doomed-data", 11));
	CHECK_OK(shelter_file_open(v, "kept", SHELTER_O_RDWR, 0, &keep, NULL));
	CHECK_OK(shelter_file_open(v, "doomed", SHELTER_O_RDONLY, 0, &gone, NULL));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int ok = shelter_volume_open(vdir, key, NULL, &other, NULL) == 0 &&
			 shelter_volume_unlink(other, "doomed", NULL) == 0 &&
			 shelter_volume_compact(other, NULL) == 0 &&
			 put(other, "second", "2", 1) == 0 &&
			 shelter_volume_compact(other, NULL) == 0 &&
			 put(other, "third", "3", 1) == 0;

		shelter_volume_close(other);
		_exit(ok ? 0 : 1);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_OK(get(v, "third", &back, &size, NULL));
	CHECK(size == 1 && back[0] == '3');
	free(back);
	CHECK_OK(shelter_file_pread(keep, buf, sizeof(buf), 0, &got, NULL));
	CHECK(got == 9 && memcmp(buf, "kept-data", 9) == 0);
	CHECK_OK(shelter_file_pwrite(keep, "K", 1, 0, NULL, NULL));
	/* the file unlinked by the other process still reads through the old handle */
	CHECK_OK(shelter_file_pread(gone, buf, sizeof(buf), 0, &got, NULL));
	CHECK(got == 11 && memcmp(buf, "doomed-data", 11) == 0);
	shelter_file_close(gone);
	shelter_file_close(keep);
	CHECK_OK(get(v, "kept", &back, &size, NULL));
	CHECK(size == 9 && back[0] == 'K');
	free(back);
	shelter_volume_close(v);
	CHECK_OK(shelter_volume_verify(vdir, key, NULL, NULL, NULL, NULL));
}

static void tampered_checkpoint_is_refused(void)
{
	struct shelter_volume *v = fresh_volume(NULL);
	struct shelter_err err;
	uint8_t data[8192], *back = NULL;
	char vdir[300], seg[400];
	struct stat st;
	size_t size;

	CHECK(v != NULL);
	snprintf(vdir, sizeof(vdir), "%s/v%d", root, counter - 1);
	memset(data, 0x5a, sizeof(data));
	CHECK_OK(put(v, "data.bin", data, sizeof(data)));
	CHECK_OK(shelter_volume_compact(v, NULL));
	shelter_volume_close(v);
	snprintf(seg, sizeof(seg), "%s/log/0000000000000002.seg", vdir);
	CHECK(stat(seg, &st) == 0);
	/* a chunk inside the checkpoint: open succeeds (chunks are checked when read),
	 * the read fails naming the file, and verify reports it */
	patch_byte(vdir, "log/0000000000000002.seg", 96 + 100, 0x01);
	CHECK_OK(shelter_volume_open(vdir, key, NULL, &v, NULL));
	CHECK_RC(get(v, "data.bin", &back, &size, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "data.bin") != NULL);
	free(back);
	shelter_volume_close(v);
	CHECK_RC(shelter_volume_verify(vdir, key, NULL, NULL, NULL, NULL), SHELTER_E_INTEGRITY);
	patch_byte(vdir, "log/0000000000000002.seg", 96 + 100, 0x01);
	/* compacting over the damaged chunk fails and leaves the log as it was */
	{
		uint8_t t1[32], t2[32];
		int before, after;

		patch_byte(vdir, "log/0000000000000002.seg", 96 + 100, 0x01);
		log_bytes(vdir, &before);
		CHECK_OK(shelter_volume_open(vdir, key, NULL, &v, NULL));
		CHECK_OK(shelter_volume_tag(v, t1, NULL));
		CHECK_RC(shelter_volume_compact(v, &err), SHELTER_E_INTEGRITY);
		CHECK_OK(shelter_volume_tag(v, t2, NULL));
		CHECK_MEM(t1, t2, 32);
		CHECK_OK(put(v, "still-writable", "y", 1));
		shelter_volume_close(v);
		log_bytes(vdir, &after);
		CHECK(after == before);
		patch_byte(vdir, "log/0000000000000002.seg", 96 + 100, 0x01);
	}
	/* the end record: the checkpoint cannot be used at all */
	patch_byte(vdir, "log/0000000000000002.seg", st.st_size - 100, 0x01);
	CHECK_RC(shelter_volume_open(vdir, key, NULL, &v, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "checkpoint") != NULL);
}

static void huge_sparse_offset_costs_little(void)
{
	struct shelter_volume *v = fresh_volume(NULL);
	struct shelter_file *f = NULL;
	struct shelter_stat st;
	uint64_t far = (UINT64_C(1) << 51) - 3;
	uint8_t buf[8];
	size_t got;
	char vdir[300];

	CHECK(v != NULL);
	snprintf(vdir, sizeof(vdir), "%s/v%d", root, counter - 1);
	CHECK_OK(shelter_file_open(v, "sparse", SHELTER_O_RDWR | SHELTER_O_CREAT, 0600, &f, NULL));
	CHECK_OK(shelter_file_pwrite(f, "abcdef", 6, far, NULL, NULL));
	CHECK_OK(shelter_file_pwrite(f, "0", 1, 0, NULL, NULL));
	CHECK_OK(shelter_file_stat(f, &st, NULL));
	CHECK(st.size == far + 6 && st.blocks == 3 * 8);
	CHECK_OK(shelter_file_pread(f, buf, sizeof(buf), far - 1, &got, NULL));
	CHECK(got == 7 && memcmp(buf, "\0abcdef", 7) == 0);
	CHECK_OK(shelter_file_truncate(f, 1, NULL));
	CHECK_OK(shelter_file_stat(f, &st, NULL));
	CHECK(st.size == 1 && st.blocks == 8);
	shelter_file_close(f);
	shelter_volume_close(v);
	CHECK_OK(shelter_volume_open(vdir, key, NULL, &v, NULL));
	shelter_volume_close(v);
}

struct thread_arg {
	const char *dir;
	int id;
	int ok;
};

static void *thread_writer(void *p)
{
	struct thread_arg *a = p;
	struct shelter_volume *v = NULL;
	char name[32], data[100];

	a->ok = shelter_volume_open(a->dir, key, NULL, &v, NULL) == 0;
	for (int i = 0; a->ok && i < 40; i++) {
		struct shelter_file *f = NULL;
		uint64_t at;

		snprintf(name, sizeof(name), "t%d-%d", a->id, i % 5);
		memset(data, 'a' + a->id, sizeof(data));
		a->ok = put(v, name, data, sizeof(data)) == 0 &&
			shelter_file_open(v, "shared", SHELTER_O_WRONLY | SHELTER_O_CREAT | SHELTER_O_APPEND,
					  0600, &f, NULL) == 0 &&
			shelter_file_pwrite(f, data, 10, 0, &at, NULL) == 0;
		shelter_file_close(f);
	}
	shelter_volume_close(v);
	return NULL;
}

/* Handles of one process exclude each other even though POSIX record locks are
 * per process (lock.c). */
/* §7.4: fill chunks of a file with a pattern byte per chunk, through handle v. */
static int fill(struct shelter_volume *v, const char *path, uint64_t first, uint64_t count,
		uint8_t base)
{
	static uint8_t buf[4096];
	struct shelter_file *f;
	int rc = shelter_file_open(v, path, SHELTER_O_RDWR | SHELTER_O_CREAT, 0644, &f, NULL);

	for (uint64_t c = first; rc == 0 && c < first + count; c++) {
		memset(buf, (uint8_t)(base + c), sizeof(buf));
		rc = shelter_file_pwrite(f, buf, sizeof(buf), c * 4096, NULL, NULL);
	}
	if (rc == 0)
		shelter_file_close(f);
	return rc;
}

/* 1 when chunk c of the whole-file image holds base + c (or, from first_new on for
 * count_new chunks, newbase + c). */
static int image_ok(const uint8_t *data, size_t size, uint8_t base, uint64_t first_new,
		    uint64_t count_new, uint8_t newbase)
{
	for (size_t i = 0; i < size; i++) {
		uint64_t c = i / 4096;
		uint8_t want = (uint8_t)((c >= first_new && c < first_new + count_new ? newbase
										  : base) + c);

		if (data[i] != want)
			return 0;
	}
	return 1;
}

static void plaintext_cache_follows_every_writer(void)
{
	struct shelter_volume_options opts = { .cache_bytes = 16 * 4096 }; /* 16 slots */
	struct shelter_volume *a = fresh_volume(&opts), *b = NULL;
	struct shelter_err err;
	uint8_t *data = NULL;
	char vdir[300];
	size_t size = 0;
	uint64_t hits;

	CHECK(a != NULL);
	snprintf(vdir, sizeof(vdir), "%s/v%d", root, counter - 1);
	CHECK_OK(shelter_volume_open(vdir, key, NULL, &b, NULL)); /* another process, in effect */
	CHECK(a->cache.mask == 15);
	/* 12 chunks, read twice: the second read is served from the cache */
	CHECK_OK(fill(a, "f", 0, 12, 1));
	CHECK_OK(get(a, "f", &data, &size, NULL));
	CHECK(size == 12 * 4096 && image_ok(data, size, 1, 0, 0, 0));
	free(data);
	hits = a->cache.hits;
	CHECK_OK(get(a, "f", &data, &size, NULL));
	CHECK(image_ok(data, size, 1, 0, 0, 0));
	CHECK(a->cache.hits >= hits + 12);
	free(data);
	/* the other handle rewrites three chunks: a reads them, not its cached copies */
	CHECK_OK(fill(b, "f", 3, 3, 100));
	CHECK_OK(get(a, "f", &data, &size, NULL));
	CHECK(image_ok(data, size, 1, 3, 3, 100));
	free(data);
	/* a second file whose chunks share slots with the first evicts, never mixes */
	CHECK_OK(fill(a, "g", 0, 16, 50));
	CHECK_OK(get(a, "g", &data, &size, NULL));
	CHECK(size == 16 * 4096 && image_ok(data, size, 50, 0, 0, 0));
	free(data);
	CHECK_OK(get(a, "f", &data, &size, NULL));
	CHECK(image_ok(data, size, 1, 3, 3, 100));
	free(data);
	/* a compaction by the other handle moves every record to a new segment */
	CHECK_OK(shelter_volume_compact(b, NULL));
	CHECK_OK(get(a, "f", &data, &size, NULL));
	CHECK(image_ok(data, size, 1, 3, 3, 100));
	free(data);
	/* unlink and re-create: a new inode, new contents */
	CHECK_OK(shelter_volume_unlink(b, "f", NULL));
	CHECK_OK(fill(b, "f", 0, 12, 7));
	CHECK_OK(get(a, "f", &data, &size, NULL));
	CHECK(image_ok(data, size, 7, 0, 0, 0));
	free(data);
	/* a record tampered with after this handle replayed it, but before it cached
	 * it, is still refused when read */
	CHECK_OK(fill(b, "h", 0, 2, 9));
	{
		uint8_t tag[32];

		CHECK_OK(shelter_volume_tag(a, tag, NULL)); /* a catches up */
	}
	{
		char seg[64], path[400];
		struct stat st;

		snprintf(seg, sizeof(seg), "log/%016llx.seg",
			 (unsigned long long)b->segs[b->nsegs - 1].segno);
		snprintf(path, sizeof(path), "%s/%s", vdir, seg);
		CHECK(stat(path, &st) == 0);
		patch_byte(vdir, seg, st.st_size - 100, 0x04);
	}
	CHECK_RC(get(a, "h", &data, &size, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "MAC mismatch") != NULL);
	free(data);
	shelter_volume_close(b);
	shelter_volume_close(a);
}

static void handles_in_threads_of_one_process(void)
{
	struct shelter_volume *v = fresh_volume(NULL);
	struct thread_arg args[4];
	pthread_t t[4];
	struct shelter_stat st;
	char vdir[300];

	CHECK(v != NULL);
	snprintf(vdir, sizeof(vdir), "%s/v%d", root, counter - 1);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ .dir = vdir, .id = i };
		CHECK(pthread_create(&t[i], NULL, thread_writer, &args[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK(args[i].ok);
	}
	CHECK_OK(shelter_volume_stat(v, "shared", &st, NULL));
	CHECK(st.size == 4 * 40 * 10);
	shelter_volume_close(v);
	CHECK_OK(shelter_volume_verify(vdir, key, NULL, NULL, NULL, NULL));
}

int main(void)
{
	test_binary = "test_volume";
	snprintf(root, sizeof(root), "/tmp/shelter-test-volume.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 2;
	for (int i = 0; i < 32; i++) {
		key[i] = (uint8_t)(0xA0 + i);
		other_key[i] = (uint8_t)(0x50 + i);
	}
	RUN(open_rejects_non_volumes);
	RUN(create_refuses_non_empty_dir);
	RUN(open_tells_wrong_key_from_damage);
	RUN(open_refuses_newer_version_and_short_header);
	RUN(namespace_errors_are_exact);
	RUN(file_errors_are_exact);
	RUN(tampered_chunk_refused_naming_file);
	RUN(stale_tag_is_refused);
	RUN(golden_v1_volume_reads_back);
	RUN(golden_v1_compacted_volume_reads_back);
	RUN(writes_reads_sparse_and_truncate);
	RUN(rename_replaces_and_unlinked_open_file_lives);
	RUN(reopen_after_rollover_keeps_everything);
	RUN(forked_child_writes_are_seen_by_parent);
	RUN(compaction_reclaims_space_and_keeps_the_tag);
	RUN(compaction_by_another_process_is_followed);
	RUN(tampered_checkpoint_is_refused);
	RUN(lagging_process_resyncs_after_two_compactions);
	RUN(huge_sparse_offset_costs_little);
	RUN(handles_in_threads_of_one_process);
	RUN(plaintext_cache_follows_every_writer);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd) != 0)
			return 2;
	}
	return test_total_failed ? 1 : 0;
}
