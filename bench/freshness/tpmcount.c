/* The hardware-counter peer of bench/freshness/run.sh (bench/README.md): increments of
 * a TPM 2.0 NV counter through libtss2 (ESYS over the swtpm TCTI), the anchor the
 * freshness service replaces (issue: a real TPM takes 34-82 ms per increment and wears
 * out after about 10^5; swtpm, a software TPM, has neither limit: it shows the
 * protocol's and the TPM stack's cost, not the chip's).
 *
 *   tpmcount --tcti swtpm:host=127.0.0.1,port=P --seconds S [--index 0x01500100]
 *
 * Defines the counter index (owner hierarchy, empty auth; an index left by an earlier
 * run is undefined first), increments it one call after the other for one untimed
 * second and then S timed seconds, reads it back and checks that it counted every
 * increment. Prints one line like freshbench: "tpm-nv 1 ops ops/s p50_ms p99_ms
 * max_ms". Exit 1 with a message naming the TPM call on any failure. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "latency.h"

static int check(TSS2_RC rc, const char *what)
{
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	fprintf(stderr, "tpmcount: %s: %s (0x%x)\n", what, Tss2_RC_Decode(rc), (unsigned)rc);
	return -1;
}

/* The counter index, defined afresh: TPM2_NT_COUNTER, written and read with its own
 * (empty) authorization. */
static int define_counter(ESYS_CONTEXT *ctx, TPMI_RH_NV_INDEX index, ESYS_TR *nv)
{
	TPM2B_NV_PUBLIC pub = {
		.nvPublic = {
			.nvIndex = index,
			.nameAlg = TPM2_ALG_SHA256,
			.attributes = (TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT) |
				      TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA,
			.dataSize = 8,
		},
	};
	TPM2B_AUTH auth = { .size = 0 };
	ESYS_TR old;

	/* an index left by an interrupted run: undefine it, then start from scratch */
	if (Esys_TR_FromTPMPublic(ctx, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				  &old) == TSS2_RC_SUCCESS &&
	    check(Esys_NV_UndefineSpace(ctx, ESYS_TR_RH_OWNER, old, ESYS_TR_PASSWORD,
					ESYS_TR_NONE, ESYS_TR_NONE),
		  "NV_UndefineSpace of the old index") < 0)
		return -1;
	return check(Esys_NV_DefineSpace(ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					 ESYS_TR_NONE, &auth, &pub, nv),
		     "NV_DefineSpace");
}

static int read_counter(ESYS_CONTEXT *ctx, ESYS_TR nv, uint64_t *value)
{
	TPM2B_MAX_NV_BUFFER *data = NULL;
	int rc = check(Esys_NV_Read(ctx, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				    8, 0, &data),
		       "NV_Read");

	if (rc == 0 && data->size != 8) {
		fprintf(stderr, "tpmcount: NV_Read: %u bytes, want 8\n", (unsigned)data->size);
		rc = -1;
	}
	if (rc == 0) {
		*value = 0;
		for (int i = 0; i < 8; i++) /* big-endian, TPM 2.0 Part 2 §13.4 */
			*value = *value << 8 | data->buffer[i];
	}
	Esys_Free(data);
	return rc;
}

int main(int argc, char **argv)
{
	const char *tcti = NULL;
	unsigned seconds = 5;
	TPMI_RH_NV_INDEX index = 0x01500100;
	TSS2_TCTI_CONTEXT *tc = NULL;
	ESYS_CONTEXT *ctx = NULL;
	ESYS_TR nv = ESYS_TR_NONE;
	double *lat = NULL, start, stop, t0;
	size_t n = 0, cap = 0, total = 0;
	uint64_t first = 0, last = 0;
	int rc = 1, opt;
	static const struct option opts[] = { { "tcti", 1, 0, 't' }, { "seconds", 1, 0, 's' },
					      { "index", 1, 0, 'i' }, { 0, 0, 0, 0 } };

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 't')
			tcti = optarg;
		else if (opt == 's')
			seconds = (unsigned)strtoul(optarg, NULL, 10);
		else if (opt == 'i')
			index = (TPMI_RH_NV_INDEX)strtoul(optarg, NULL, 0);
		else
			return 2;
	}
	if (tcti == NULL || seconds == 0) {
		fprintf(stderr, "usage: tpmcount --tcti CONF --seconds S [--index N]\n");
		return 2;
	}
	/* quiet the stack's own logging: the probe for an old index fails by design, and
	 * every real failure is reported by check() */
	setenv("TSS2_LOG", "all+none", 0);
	if (check(Tss2_TctiLdr_Initialize(tcti, &tc), tcti) < 0 ||
	    check(Esys_Initialize(&ctx, tc, NULL), "Esys_Initialize") < 0)
		goto out;
	{
		TSS2_RC s = Esys_Startup(ctx, TPM2_SU_CLEAR);

		/* a TPM started already (swtpm --flags startup-clear) says so: fine */
		if (s != TPM2_RC_INITIALIZE && check(s, "Startup") < 0)
			goto out;
	}
	if (define_counter(ctx, index, &nv) < 0)
		goto out;
	start = bench_now() + 1.0;
	stop = start + seconds;
	for (t0 = bench_now(); t0 < stop; t0 = bench_now()) {
		double t1;

		if (check(Esys_NV_Increment(ctx, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					    ESYS_TR_NONE),
			  "NV_Increment") < 0)
			goto out;
		t1 = bench_now();
		total++;
		if (total == 1 && read_counter(ctx, nv, &first) < 0)
			goto out;
		if (t1 < start || t1 > stop)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			if ((lat = realloc(lat, cap * sizeof(*lat))) == NULL)
				goto out;
		}
		lat[n++] = (t1 - t0) * 1000.0;
	}
	/* a counter that did not count every increment would make the figure a lie */
	if (read_counter(ctx, nv, &last) < 0)
		goto out;
	if (last - first != total - 1) {
		fprintf(stderr, "tpmcount: counter moved %llu for %zu increments\n",
			(unsigned long long)(last - first), total - 1);
		goto out;
	}
	if (n == 0) {
		fprintf(stderr, "tpmcount: no increment finished in the timed window\n");
		goto out;
	}
	bench_print_line("tpm-nv", 1, lat, n, seconds);
	rc = 0;
out:
	if (nv != ESYS_TR_NONE)
		(void)Esys_NV_UndefineSpace(ctx, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD,
					    ESYS_TR_NONE, ESYS_TR_NONE);
	free(lat);
	if (ctx != NULL)
		Esys_Finalize(&ctx);
	if (tc != NULL)
		Tss2_TctiLdr_Finalize(&tc);
	return rc;
}
