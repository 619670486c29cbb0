/* Shared by the freshness bench's load generators (freshbench.c, tpmcount.c,
 * rpcfloor.c): the clock, and the one line each prints for run.sh (bench/README.md). */
#ifndef SHELTER_BENCH_LATENCY_H
#define SHELTER_BENCH_LATENCY_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* "LABEL CLIENTS OPS OPS/S P50_MS P99_MS MAX_MS" of the n latencies (ms) in lat, which
 * it sorts. */
static inline void bench_print_line(const char *label, unsigned clients, double *lat, size_t n,
				    double seconds)
{
	qsort(lat, n, sizeof(*lat), bench_cmp_double);
	printf("%s %u %zu %.1f %.2f %.2f %.2f\n", label, clients, n, (double)n / seconds,
	       n ? lat[n / 2] : 0.0, n ? lat[(size_t)((double)n * 0.99)] : 0.0,
	       n ? lat[n - 1] : 0.0);
}

#endif
