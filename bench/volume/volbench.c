/* volbench: the same file workloads against plain files, a Shelter protected volume
 * and (through its mount point) gocryptfs, interleaved per workload so that every
 * system sees the same disk, the same offsets and the same cache state.
 *
 *   volbench [--size-mb N] [--rand-mb N] [--rand-ops N] [--appends N] [--repeat N]
 *            [--workloads LIST] [--no-drop] [--diskstat /sys/block/DEV/stat]
 *            [--plain DIR] [--volume DIR] [--gocryptfs DIR]
 *
 * --plain and --gocryptfs name existing directories used through POSIX calls
 * (open/pwrite/pread/fsync); --volume names a directory that must be absent or empty,
 * where a volume is created and used through shelter_file_*. Any subset may be given.
 * LIST is a comma-separated subset of seqwrite,seqread,randread,randwrite,append,reopen.
 * --repeat runs every workload N times (rounds interleaved, the order of the systems
 * rotated each round); the summary shows, for each workload and system, the round
 * with the median time. --no-drop keeps the page
 * cache warm (for profiling CPU cost only; not how the comparison is run). With
 * --diskstat, each measurement also shows the bytes the disk read and wrote meanwhile
 * (whole-disk counters: anything else using the disk is counted too).
 *
 * Before every measurement the page cache is dropped (sync; echo 3 >
 * /proc/sys/vm/drop_caches), for every system alike. Nothing here asserts a timing:
 * the exit status only reports errors (including data that read back wrong).
 * See bench/README.md. Built by bench/volume/run.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shelter/error.h"
#include "shelter/volume.h"

#define MIB (UINT64_C(1) << 20)
#define BLK 4096u
#define SEQ_IO MIB
#define SEED UINT64_C(0x5eedb0a75eedb0a7)

enum { SYS_PLAIN, SYS_VOLUME, SYS_GOCRYPTFS, NSYS };
static const char *const sys_name[NSYS] = { "plain", "volume", "gocryptfs" };

enum { W_SEQWRITE, W_SEQREAD, W_RANDREAD, W_RANDWRITE, W_APPEND, NWORK };
static const char *const work_name[NWORK] = { "seqwrite", "seqread", "randread", "randwrite",
					      "append" };
static const char *const work_title[NWORK] = {
	"seq write 1 MiB + fsync", "seq read 1 MiB (cold)", "rand read 4 KiB (cold)",
	"rand write 4 KiB + fsync", "append 4 KiB + fsync each",
};
/* Targets from the issue; 0 means none stated. */
static const double target_vs_plain[NWORK] = { 0.5, 0.5, 0, 0, 0.5 };
static const double target_vs_gocryptfs[NWORK] = { 2.0, 2.0, 0, 3.0, 0 };

struct sys {
	const char *dir;
	struct shelter_volume *vol;
	int have_seq, have_rand; /* files created (by a measurement or untimed setup) */
};

struct bfile {
	int kind;
	int fd;
	struct shelter_file *sf;
};

struct result {
	int done;
	double secs;
	double cpu; /* user+sys seconds of this process (not of the gocryptfs daemon) */
	int have_disk;
	uint64_t disk_rd, disk_wr; /* bytes the disk read and wrote meanwhile */
	uint64_t bytes;
	uint64_t ops;
	double p50_us, p99_us;
};

#define MAX_ROUNDS 16

static struct sys systems[NSYS];
static struct result rounds[MAX_ROUNDS][NWORK][NSYS];
static struct result results[NWORK][NSYS]; /* the median round of each */
static int nrounds = 1;
static uint8_t vol_key[SHELTER_VOLUME_KEY_SIZE];
static int caches_dropped = 1;

static uint64_t size_bytes = 1024 * MIB, rand_bytes = 256 * MIB;
static uint64_t rand_ops = 20000, appends = 2000;
static uint64_t *read_offs, *write_offs;
static uint8_t *iobuf;
static double *lat;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "volbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int no_drop;

static void drop_caches(void)
{
	int fd;

	if (no_drop) {
		sync();
		return;
	}
	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "3\n", 2) != 2) {
		if (caches_dropped)
			fprintf(stderr, "volbench: warning: cannot drop the page cache (%s); "
				"read results are NOT cold\n", strerror(errno));
		caches_dropped = 0;
	}
	if (fd >= 0)
		close(fd);
}

/* ---- one file API over POSIX and Shelter ---- */

#define BF_CREATE 1 /* create or truncate, write only */
#define BF_APPEND 2 /* with BF_CREATE: O_APPEND */
#define BF_READ 4
#define BF_RDWR 8

static void bf_open(int kind, const char *name, int how, struct bfile *f)
{
	struct sys *s = &systems[kind];
	struct shelter_err err;

	f->kind = kind;
	f->fd = -1;
	f->sf = NULL;
	if (kind == SYS_VOLUME) {
		int fl = how & BF_READ ? SHELTER_O_RDONLY : how & BF_RDWR ? SHELTER_O_RDWR
									 : SHELTER_O_WRONLY;

		if (how & BF_CREATE)
			fl |= SHELTER_O_CREAT | SHELTER_O_TRUNC;
		if (how & BF_APPEND)
			fl |= SHELTER_O_APPEND;
		if (shelter_file_open(s->vol, name, fl, 0600, &f->sf, &err) < 0)
			die("volume: open %s: %s", name, err.msg);
	} else {
		char path[4096];
		int fl = how & BF_READ ? O_RDONLY : how & BF_RDWR ? O_RDWR : O_WRONLY;

		if (how & BF_CREATE)
			fl |= O_CREAT | O_TRUNC;
		if (how & BF_APPEND)
			fl |= O_APPEND;
		snprintf(path, sizeof(path), "%s/%s", s->dir, name);
		f->fd = open(path, fl | O_CLOEXEC, 0600);
		if (f->fd < 0)
			die("%s: open %s: %s", sys_name[kind], path, strerror(errno));
	}
}

static void bf_pwrite(struct bfile *f, const void *buf, size_t size, uint64_t off)
{
	struct shelter_err err;

	if (f->sf != NULL) {
		if (shelter_file_pwrite(f->sf, buf, size, off, NULL, &err) < 0)
			die("volume: write at %" PRIu64 ": %s", off, err.msg);
		return;
	}
	for (size_t done = 0; done < size;) {
		ssize_t n = pwrite(f->fd, (const uint8_t *)buf + done, size - done,
				   (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("%s: write at %" PRIu64 ": %s", sys_name[f->kind], off,
			    n < 0 ? strerror(errno) : "short write");
		done += (size_t)n;
	}
}

/* Appends: write(2) on an O_APPEND descriptor; the volume handle has O_APPEND. */
static void bf_append(struct bfile *f, const void *buf, size_t size)
{
	struct shelter_err err;

	if (f->sf != NULL) {
		if (shelter_file_pwrite(f->sf, buf, size, 0, NULL, &err) < 0)
			die("volume: append: %s", err.msg);
		return;
	}
	for (size_t done = 0; done < size;) {
		ssize_t n = write(f->fd, (const uint8_t *)buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("%s: append: %s", sys_name[f->kind], n < 0 ? strerror(errno) : "short");
		done += (size_t)n;
	}
}

static size_t bf_pread(struct bfile *f, void *buf, size_t size, uint64_t off)
{
	struct shelter_err err;
	size_t done = 0;

	if (f->sf != NULL) {
		if (shelter_file_pread(f->sf, buf, size, off, &done, &err) < 0)
			die("volume: read at %" PRIu64 ": %s", off, err.msg);
		return done;
	}
	while (done < size) {
		ssize_t n = pread(f->fd, (uint8_t *)buf + done, size - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("%s: read at %" PRIu64 ": %s", sys_name[f->kind], off, strerror(errno));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return done;
}

static void bf_sync(struct bfile *f)
{
	struct shelter_err err;

	if (f->sf != NULL) {
		if (shelter_file_sync(f->sf, &err) < 0)
			die("volume: sync: %s", err.msg);
	} else if (fsync(f->fd) < 0) {
		die("%s: fsync: %s", sys_name[f->kind], strerror(errno));
	}
}

static void bf_close(struct bfile *f)
{
	if (f->sf != NULL)
		shelter_file_close(f->sf);
	else if (close(f->fd) < 0)
		die("%s: close: %s", sys_name[f->kind], strerror(errno));
}

/* ---- data: every 4 KiB block starts with its own offset, so reads can be checked */

static void stamp(uint8_t *buf, size_t size, uint64_t off)
{
	for (size_t b = 0; b < size; b += BLK) {
		uint64_t v = off + b;

		memcpy(buf + b, &v, sizeof(v));
	}
}

static void check(int kind, const uint8_t *buf, size_t size, uint64_t off)
{
	for (size_t b = 0; b < size; b += BLK) {
		uint64_t v;

		memcpy(&v, buf + b, sizeof(v));
		if (v != off + b)
			die("%s: data read back wrong at offset %" PRIu64 " (found %#" PRIx64 ")",
			    sys_name[kind], off + b, v);
	}
}

/* Sequential fill in 1 MiB writes, then sync. */
static void fill_file(struct bfile *f, uint64_t total)
{
	for (uint64_t off = 0; off < total; off += SEQ_IO) {
		size_t n = total - off < SEQ_IO ? (size_t)(total - off) : SEQ_IO;

		stamp(iobuf, n, off);
		bf_pwrite(f, iobuf, n, off);
	}
	bf_sync(f);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void percentiles(struct result *r, uint64_t n)
{
	qsort(lat, n, sizeof(*lat), cmp_double);
	r->p50_us = lat[n / 2] * 1e6;
	r->p99_us = lat[n * 99 / 100] * 1e6;
}

/* ---- workloads ---- */

static double cpu_start;
static const char *diskstat; /* /sys/block/DEV/stat of the disk under test, or NULL */
static uint64_t disk_start[2];

/* Sectors read and sectors written (Documentation/block/stat.rst). */
static int disk_now(uint64_t out[2])
{
	unsigned long long f[7];
	FILE *fp;
	int n;

	if (diskstat == NULL || (fp = fopen(diskstat, "r")) == NULL)
		return 0;
	n = fscanf(fp, "%llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2], &f[3], &f[4],
		   &f[5], &f[6]);
	fclose(fp);
	if (n != 7)
		return 0;
	out[0] = f[2];
	out[1] = f[6];
	return 1;
}

static double start_clock(void)
{
	(void)disk_now(disk_start);
	cpu_start = cpu_now();
	return now();
}

static void stop_clock(struct result *r, double t0)
{
	uint64_t d[2];

	r->secs = now() - t0;
	r->cpu = cpu_now() - cpu_start;
	r->have_disk = disk_now(d);
	if (r->have_disk) {
		r->disk_rd = (d[0] - disk_start[0]) * 512;
		r->disk_wr = (d[1] - disk_start[1]) * 512;
	}
}

static void w_seqwrite(int kind, struct result *r)
{
	struct bfile f;
	double t0;

	drop_caches();
	t0 = start_clock();
	bf_open(kind, "seq.dat", BF_CREATE, &f);
	fill_file(&f, size_bytes);
	stop_clock(r, t0);
	bf_close(&f);
	r->bytes = size_bytes;
	r->ops = size_bytes / SEQ_IO;
	systems[kind].have_seq = 1;
}

static void w_seqread(int kind, struct result *r)
{
	struct bfile f;
	uint64_t off = 0;
	double t0;

	if (!systems[kind].have_seq) {
		bf_open(kind, "seq.dat", BF_CREATE, &f); /* untimed setup */
		fill_file(&f, size_bytes);
		bf_close(&f);
		systems[kind].have_seq = 1;
	}
	drop_caches();
	t0 = start_clock();
	bf_open(kind, "seq.dat", BF_READ, &f);
	for (;;) {
		size_t n = bf_pread(&f, iobuf, SEQ_IO, off);

		if (n == 0)
			break;
		check(kind, iobuf, n & ~(size_t)(BLK - 1), off);
		off += n;
	}
	stop_clock(r, t0);
	bf_close(&f);
	if (off != size_bytes)
		die("%s: read %" PRIu64 " bytes of %" PRIu64, sys_name[kind], off, size_bytes);
	r->bytes = off;
	r->ops = off / SEQ_IO;
}

static void ensure_rand_file(int kind)
{
	struct bfile f;

	if (systems[kind].have_rand)
		return;
	bf_open(kind, "rand.dat", BF_CREATE, &f); /* untimed setup */
	fill_file(&f, rand_bytes);
	bf_close(&f);
	systems[kind].have_rand = 1;
}

static void w_randread(int kind, struct result *r)
{
	struct bfile f;
	double t0, t;

	ensure_rand_file(kind);
	drop_caches();
	t0 = start_clock();
	bf_open(kind, "rand.dat", BF_READ, &f);
	t = now();
	for (uint64_t i = 0; i < rand_ops; i++) {
		double t1;

		if (bf_pread(&f, iobuf, BLK, read_offs[i]) != BLK)
			die("%s: short read at %" PRIu64, sys_name[kind], read_offs[i]);
		t1 = now();
		lat[i] = t1 - t;
		t = t1;
		check(kind, iobuf, BLK, read_offs[i]);
	}
	stop_clock(r, t0);
	bf_close(&f);
	r->bytes = rand_ops * BLK;
	r->ops = rand_ops;
	percentiles(r, rand_ops);
}

static void w_randwrite(int kind, struct result *r)
{
	struct bfile f;
	double t0, t;

	ensure_rand_file(kind);
	drop_caches();
	t0 = start_clock();
	bf_open(kind, "rand.dat", BF_RDWR, &f);
	t = now();
	for (uint64_t i = 0; i < rand_ops; i++) {
		double t1;

		stamp(iobuf, BLK, write_offs[i]);
		bf_pwrite(&f, iobuf, BLK, write_offs[i]);
		t1 = now();
		lat[i] = t1 - t;
		t = t1;
	}
	bf_sync(&f);
	stop_clock(r, t0);
	bf_close(&f);
	r->bytes = rand_ops * BLK;
	r->ops = rand_ops;
	percentiles(r, rand_ops);
}

static void w_append(int kind, struct result *r)
{
	struct bfile f;
	double t0, t;

	drop_caches();
	t0 = start_clock();
	bf_open(kind, "append.dat", BF_CREATE | BF_APPEND, &f);
	t = now();
	for (uint64_t i = 0; i < appends; i++) {
		double t1;

		stamp(iobuf, BLK, i * BLK);
		bf_append(&f, iobuf, BLK);
		bf_sync(&f);
		t1 = now();
		lat[i] = t1 - t;
		t = t1;
	}
	stop_clock(r, t0);
	bf_close(&f);
	r->bytes = appends * BLK;
	r->ops = appends;
	percentiles(r, appends);
}

static void (*const work_fn[NWORK])(int, struct result *) = {
	w_seqwrite, w_seqread, w_randread, w_randwrite, w_append,
};

/* Informational: how long reopening the volume (replaying its log) takes, cold. */
static void volume_reopen(void)
{
	struct shelter_err err;
	double t0, secs;

	shelter_volume_close(systems[SYS_VOLUME].vol);
	systems[SYS_VOLUME].vol = NULL;
	drop_caches();
	t0 = now();
	if (shelter_volume_open(systems[SYS_VOLUME].dir, vol_key, NULL,
				&systems[SYS_VOLUME].vol, &err) < 0)
		die("volume: reopen: %s", err.msg);
	secs = now() - t0;
	printf("  %-10s %-10s shelter_volume_open after the runs above (cold cache): %.3f s\n",
	       "reopen", "volume", secs);
}

static void print_result(int w, int kind, const struct result *r)
{
	double mibs = (double)r->bytes / (double)MIB / r->secs;

	printf("  %-10s %-10s %7.1f MiB in %7.3f s (cpu %6.3f s) %8.1f MiB/s", work_name[w],
	       sys_name[kind], (double)r->bytes / (double)MIB, r->secs, r->cpu, mibs);
	if (r->have_disk)
		printf("  disk r %6.1f w %6.1f MiB", (double)r->disk_rd / (double)MIB,
		       (double)r->disk_wr / (double)MIB);
	if (w >= W_RANDREAD)
		printf("  %9.0f ops/s  p50 %7.1f us  p99 %8.1f us", (double)r->ops / r->secs,
		       r->p50_us, r->p99_us);
	printf("\n");
	fflush(stdout);
}

/* For each workload and system, the round whose time is the median (lower median). */
static void pick_medians(void)
{
	for (int w = 0; w < NWORK; w++)
		for (int k = 0; k < NSYS; k++) {
			int order[MAX_ROUNDS];

			for (int r = 0; r < nrounds; r++)
				order[r] = r;
			for (int i = 1; i < nrounds; i++)
				for (int j = i; j > 0 && rounds[order[j]][w][k].secs <
							      rounds[order[j - 1]][w][k].secs; j--) {
					int t = order[j];

					order[j] = order[j - 1];
					order[j - 1] = t;
				}
			results[w][k] = rounds[order[(nrounds - 1) / 2]][w][k];
		}
}

static double rate(int w, int kind)
{
	const struct result *r = &results[w][kind];

	return r->done ? (double)r->bytes / r->secs : 0;
}

static void fmt_ratio(char *buf, size_t size, int w, int other, double target)
{
	double v = rate(w, SYS_VOLUME), o = rate(w, other);
	char t[32] = "";

	if (target > 0)
		snprintf(t, sizeof(t), " (>=%.1fx %s)", target,
			 v > 0 && o > 0 ? (v / o >= target ? "met" : "MISSED") : "?");
	if (v > 0 && o > 0)
		snprintf(buf, size, "%6.2fx%s", v / o, t);
	else
		snprintf(buf, size, "%6s%s", "n/a", t);
}

static void print_table(void)
{
	printf("\nSummary%s (MiB/s; ops/s for random and append; ratios are volume/peer, "
	       "higher is better for the volume)\n",
	       nrounds > 1 ? ", median round of each" : "");
	printf("%-26s %-20s %-20s %-20s %-22s %-22s\n", "workload", "plain", "volume",
	       "gocryptfs", "volume/plain", "volume/gocryptfs");
	for (int w = 0; w < NWORK; w++) {
		char cell[NSYS][32], rp[48], rg[48];
		int any = 0;

		for (int k = 0; k < NSYS; k++) {
			const struct result *r = &results[w][k];

			any |= r->done;
			if (!r->done)
				snprintf(cell[k], sizeof(cell[k]), "-");
			else if (w >= W_RANDREAD)
				snprintf(cell[k], sizeof(cell[k]), "%.1f (%.0f/s)", rate(w, k) / MIB,
					 (double)r->ops / r->secs);
			else
				snprintf(cell[k], sizeof(cell[k]), "%.1f", rate(w, k) / MIB);
		}
		if (!any)
			continue;
		fmt_ratio(rp, sizeof(rp), w, SYS_PLAIN, target_vs_plain[w]);
		fmt_ratio(rg, sizeof(rg), w, SYS_GOCRYPTFS, target_vs_gocryptfs[w]);
		printf("%-26s %-20s %-20s %-20s %-22s %-22s\n", work_title[w], cell[0], cell[1],
		       cell[2], rp, rg);
	}
	printf("Targets (from the issue): seq read and write >= 0.5x plain and >= 2x gocryptfs; "
	       "random 4 KiB writes >= 3x gocryptfs;\n  fsync'd appends >= 0.5x plain with "
	       "fsync. Random reads have no target. \"met\"/\"MISSED\" is this run only: "
	       "compare several runs.\n");
	if (!caches_dropped)
		printf("WARNING: the page cache could not be dropped; results are not cold.\n");
}

static uint64_t num_arg(const char *opt, const char *v)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || *v == '\0' || *end != '\0' || n == 0)
		die("%s: expected a positive integer, got '%s'", opt, v);
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: volbench [--size-mb N] [--rand-mb N] [--rand-ops N] "
		"[--appends N] [--repeat N] [--workloads LIST] [--no-drop]\n"
		"                [--diskstat /sys/block/DEV/stat] [--plain DIR] [--volume DIR] "
		"[--gocryptfs DIR]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int want[NWORK + 1] = { 1, 1, 1, 1, 1, 1 }; /* last: reopen */
	struct shelter_err err;
	uint64_t st;

	for (int i = 1; i < argc;) {
		const char *a = argv[i++], *v;

		if (strcmp(a, "--no-drop") == 0) {
			no_drop = 1; /* profiling the CPU cost only: warm page cache */
			continue;
		}
		if (i >= argc)
			usage();
		v = argv[i++]; /* every other option takes a value */
		if (strcmp(a, "--size-mb") == 0) {
			size_bytes = num_arg(a, v) * MIB;
		} else if (strcmp(a, "--rand-mb") == 0) {
			rand_bytes = num_arg(a, v) * MIB;
		} else if (strcmp(a, "--rand-ops") == 0) {
			rand_ops = num_arg(a, v);
		} else if (strcmp(a, "--appends") == 0) {
			appends = num_arg(a, v);
		} else if (strcmp(a, "--repeat") == 0) {
			if (num_arg(a, v) > MAX_ROUNDS)
				die("--repeat: at most %d", MAX_ROUNDS);
			nrounds = (int)num_arg(a, v);
		} else if (strcmp(a, "--diskstat") == 0) {
			diskstat = v;
		} else if (strcmp(a, "--plain") == 0) {
			systems[SYS_PLAIN].dir = v;
		} else if (strcmp(a, "--volume") == 0) {
			systems[SYS_VOLUME].dir = v;
		} else if (strcmp(a, "--gocryptfs") == 0) {
			systems[SYS_GOCRYPTFS].dir = v;
		} else if (strcmp(a, "--workloads") == 0) {
			char *list = strdup(v), *save = NULL;

			if (list == NULL)
				die("out of memory");
			memset(want, 0, sizeof(want));
			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				int found = 0;

				for (int w = 0; w < NWORK; w++)
					if (strcmp(t, work_name[w]) == 0)
						want[w] = found = 1;
				if (strcmp(t, "reopen") == 0)
					want[NWORK] = found = 1;
				if (!found)
					die("unknown workload '%s'", t);
			}
			free(list);
		} else {
			usage();
		}
	}
	if (!systems[0].dir && !systems[1].dir && !systems[2].dir)
		usage();

	/* Same offsets for every system: fixed seed, 4 KiB aligned, inside the file. */
	read_offs = calloc(rand_ops, sizeof(*read_offs));
	write_offs = calloc(rand_ops, sizeof(*write_offs));
	lat = calloc(rand_ops > appends ? rand_ops : appends, sizeof(*lat));
	if (posix_memalign((void **)&iobuf, 4096, SEQ_IO) != 0 || !read_offs || !write_offs ||
	    !lat)
		die("out of memory");
	st = SEED;
	for (size_t i = 0; i < SEQ_IO; i += 8) {
		uint64_t x = splitmix64(&st);

		memcpy(iobuf + i, &x, 8);
	}
	st = SEED;
	for (uint64_t i = 0; i < rand_ops; i++)
		read_offs[i] = splitmix64(&st) % (rand_bytes / BLK) * BLK;
	st = SEED ^ UINT64_C(0xffff);
	for (uint64_t i = 0; i < rand_ops; i++)
		write_offs[i] = splitmix64(&st) % (rand_bytes / BLK) * BLK;
	for (size_t i = 0; i < sizeof(vol_key); i++)
		vol_key[i] = (uint8_t)(0xa5 ^ i); /* a benchmark key, not a secret */

	if (systems[SYS_VOLUME].dir != NULL) {
		if (shelter_volume_create(systems[SYS_VOLUME].dir, vol_key, &err) < 0 ||
		    shelter_volume_open(systems[SYS_VOLUME].dir, vol_key, NULL,
					&systems[SYS_VOLUME].vol, &err) < 0)
			die("volume %s: %s", systems[SYS_VOLUME].dir, err.msg);
	}

	printf("volbench: seq %" PRIu64 " MiB in 1 MiB I/Os; random file %" PRIu64
	       " MiB, %" PRIu64 " random 4 KiB reads and %" PRIu64 " writes (seed %#" PRIx64
	       "); %" PRIu64 " appends of 4 KiB\n",
	       size_bytes / MIB, rand_bytes / MIB, rand_ops, rand_ops, SEED, appends);
	if (no_drop)
		printf("--no-drop: page cache NOT dropped (warm: for profiling CPU cost)\n");
	else
		printf("page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every "
		       "measurement, for every system\n");
	printf("timed: seqwrite open..fsync; seqread open..EOF; randread the reads; randwrite "
	       "the writes + one final fsync;\n       append each write followed by fsync "
	       "(volume: shelter_file_sync)\n\n");
	for (int r = 0; r < nrounds; r++) {
		if (nrounds > 1)
			printf("round %d of %d\n", r + 1, nrounds);
		for (int w = 0; w < NWORK; w++) {
			if (!want[w])
				continue;
			for (int j = 0; j < NSYS; j++) {
				/* rotate the order each round: no system always goes first */
				int k = (j + r) % NSYS;

				if (systems[k].dir == NULL)
					continue;
				work_fn[w](k, &rounds[r][w][k]);
				rounds[r][w][k].done = 1;
				print_result(w, k, &rounds[r][w][k]);
			}
		}
	}
	pick_medians();
	if (want[NWORK] && systems[SYS_VOLUME].vol != NULL)
		volume_reopen();
	print_table();
	shelter_volume_close(systems[SYS_VOLUME].vol);
	free(read_offs);
	free(write_offs);
	free(lat);
	free(iobuf);
	return 0;
}
