/* Scratch files for the unit tests: paths, whole-file reads, tree removal. A path
 * that does not fit is a broken test, not a result: it exits 2. */
#ifndef SHELTER_TEST_FILES_H
#define SHELTER_TEST_FILES_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* out = a/b */
static inline void test_join(char *out, size_t size, const char *a, const char *b)
{
	int n = snprintf(out, size, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "test path too long\n");
		exit(2);
	}
}

/* The whole file, NUL-terminated (*size excludes the NUL); NULL when unreadable. */
static inline char *test_slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	*size = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf != NULL) {
		buf[n] = '\0';
		*size = (size_t)n;
	}
	return buf;
}

/* dir/file, read whole. */
static inline char *test_slurp_in(const char *dir, const char *file, size_t *size)
{
	char path[4096];

	test_join(path, sizeof(path), dir, file);
	return test_slurp(path, size);
}

static inline int test_rm_entry(const char *path, const struct stat *st, int flag,
				struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* rm -rf path, best effort. */
static inline void test_rm_tree(const char *path)
{
	nftw(path, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
