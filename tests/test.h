/* Minimal unit-test harness (STYLE.md rule 16): negative cases first, exact errors.
 * Each test binary prints one "PASS|FAIL <binary>:<test>" line per test; tests/run.sh
 * counts them into the closing "N passed, N failed" line. */
#ifndef SHELTER_TEST_H
#define SHELTER_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelter/error.h"

static int test_failed_now;
static int test_total_failed;
static const char *test_binary = "test";

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__,     \
				__LINE__, #cond);                                    \
			test_failed_now = 1;                                         \
			return;                                                      \
		}                                                                    \
	} while (0)

/* expr must return exactly `want` (0 or a shelter_code). */
#define CHECK_RC(expr, want)                                                         \
	do {                                                                         \
		int rc_ = (expr);                                                    \
		if (rc_ != (want)) {                                                 \
			fprintf(stderr, "  %s:%d: %s returned %d (%s), want %d (%s)\n", \
				__FILE__, __LINE__, #expr, rc_, shelter_code_str(rc_), \
				(int)(want), shelter_code_str(want));                 \
			test_failed_now = 1;                                         \
			return;                                                      \
		}                                                                    \
	} while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

static inline void test_run(const char *name, void (*fn)(void))
{
	test_failed_now = 0;
	fn();
	printf("%s %s:%s\n", test_failed_now ? "FAIL" : "PASS", test_binary, name);
	fflush(stdout);
	if (test_failed_now)
		test_total_failed++;
}

#define RUN(fn) test_run(#fn, fn)

static inline int test_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode a hex literal from a test vector; aborts the binary on a malformed vector. */
static inline size_t test_unhex(const char *hex, unsigned char *out, size_t cap)
{
	size_t n = strlen(hex) / 2;

	if (strlen(hex) % 2 != 0 || n > cap) {
		fprintf(stderr, "bad test vector hex\n");
		exit(2);
	}
	for (size_t i = 0; i < n; i++) {
		int hi = test_hexval(hex[2 * i]), lo = test_hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			fprintf(stderr, "bad test vector hex\n");
			exit(2);
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return n;
}

#endif
