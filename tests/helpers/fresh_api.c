/* Drives the public freshness client (include/shelter/freshness.h), with nothing but
 * public headers, for tests/integration/freshness_service.sh:
 *
 *   fresh_api ADDR GENESIS_HEX PROVIDER_DIR MEASUREMENT_HEX N
 *
 * creates a handle of its own, appends N states (each "state <i>"), reads the latest
 * back and checks height, tail and bytes, checks that an append at a taken height is a
 * CONFLICT, then prints "ok <N> <tail hex>". Any failure: a message and exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelter/crypto.h"
#include "shelter/freshness.h"

static int fail(const char *what, const struct shelter_err *err)
{
	fprintf(stderr, "fresh_api: %s: %s\n", what, err->msg);
	return 1;
}

int main(int argc, char **argv)
{
	uint8_t genesis[32], m[1][32], handle[32], tail[32], prev[32];
	struct shelter_freshness *c = NULL;
	struct shelter_freshness_state st = { 0 };
	struct shelter_err err;
	const char *providers[1];
	char buf[64], hex[65];
	long n;
	int rc = 1;

	if (argc != 6 || shelter_unhex(argv[2], genesis, 32) < 0 ||
	    shelter_unhex(argv[4], m[0], 32) < 0 || (n = atol(argv[5])) < 1) {
		fprintf(stderr, "usage: fresh_api ADDR GENESIS PROVIDER MEASUREMENT N\n");
		return 2;
	}
	providers[0] = argv[3];
	struct shelter_freshness_trust trust = { .providers = providers, .nproviders = 1,
						 .measurements = (const uint8_t (*)[32])m,
						 .nmeasurements = 1, .accept_sim = 1 };
	shelter_err_clear(&err);
	if (shelter_random_bytes(handle, sizeof(handle), &err) < 0 ||
	    shelter_freshness_open(argv[1], genesis, &trust, &c, &err) < 0)
		return fail("open", &err);
	if (shelter_freshness_create(c, handle, "state 0", 7, tail, &err) < 0) {
		rc = fail("create", &err);
		goto out;
	}
	for (long i = 1; i <= n; i++) {
		int len = snprintf(buf, sizeof(buf), "state %ld", i);

		memcpy(prev, tail, 32);
		if (shelter_freshness_append(c, handle, (uint64_t)i, prev, buf, (size_t)len, tail,
					     &err) < 0) {
			rc = fail("append", &err);
			goto out;
		}
	}
	if (shelter_freshness_read(c, handle, &st, &err) < 0) {
		rc = fail("read", &err);
		goto out;
	}
	if (st.height != (uint64_t)n || memcmp(st.tail, tail, 32) != 0 ||
	    st.len != strlen(buf) || memcmp(st.state, buf, st.len) != 0) {
		fprintf(stderr, "fresh_api: read height %llu, not the last write\n",
			(unsigned long long)st.height);
		goto out;
	}
	/* the height just written is taken: another state there is a CONFLICT */
	if (shelter_freshness_append(c, handle, (uint64_t)n, prev, "other", 5, NULL, &err) !=
	    SHELTER_E_CONFLICT) {
		fprintf(stderr, "fresh_api: a second state at height %ld was not a CONFLICT: %s\n",
			n, err.msg);
		goto out;
	}
	shelter_hex(tail, 32, hex);
	printf("ok %ld %s\n", n, hex);
	rc = 0;
out:
	shelter_freshness_state_free(&st);
	shelter_freshness_close(c);
	return rc;
}
