/* libFuzzer target: the client-coordinator encodings of the freshness service
 * (docs/protocols/freshness.md §8.2, src/lib/freshness/service.c). The coordinator
 * parses requests from any client and the client parses answers from an untrusted
 * coordinator, so every decoder gets hostile bytes. The first byte picks it:
 *   0 create request, 1 append request, 2 receipts answer, 3 block, 4 view record.
 * Properties checked with abort(): a decoder either fails with a code and a message
 * or succeeds within the input's bounds; what decodes encodes back to the same bytes
 * (the encodings are canonical); nothing leaks (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "freshness/service.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_fresh_service: %s\n", what);
	abort();
}

static void same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, const char *what)
{
	if (alen != blen || memcmp(a, b, alen) != 0)
		fail(what);
}

static void check_err(int rc, const struct shelter_err *err)
{
	if (rc < 0 && err->msg[0] == '\0')
		fail("a refusal without a message");
}

static void write_req(uint8_t type, const uint8_t *in, size_t len)
{
	struct shelter_err err;
	struct fs_write w;
	uint8_t *out = NULL;
	size_t olen = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fs_write_decode(type, in, len, &w, &err);
	check_err(rc, &err);
	if (rc < 0)
		return;
	if (w.blob + w.blob_len > in + len)
		fail("state outside the input");
	if (fs_write_encode(type, &w, &out, &olen, NULL) < 0)
		fail("re-encode a request");
	same(in, len, out, olen, "request round trip");
	free(out);
}

static void receipts(const uint8_t *in, size_t len)
{
	struct shelter_err err;
	struct fs_receipts a;
	uint8_t *out = NULL;
	size_t olen = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fs_receipts_decode(in, len, &a, &err);
	check_err(rc, &err);
	if (rc == 0) {
		if (fs_receipts_encode(&a, &out, &olen, NULL) < 0)
			fail("re-encode receipts");
		same(in, len, out, olen, "receipts round trip");
		for (size_t i = 0; i < a.count; i++) /* hostile receipts are only refused */
			(void)fr_receipt_verify(&a.r[i], NULL);
		free(out);
	}
	fs_receipts_free(&a);
}

static void block(const uint8_t *in, size_t len)
{
	struct shelter_err err;
	struct fs_write w;
	uint8_t *out = NULL;
	size_t olen = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fs_block_decode(in, len, &w, &err);
	check_err(rc, &err);
	if (rc < 0)
		return;
	if (fs_block_encode(&w, &out, &olen, NULL) < 0)
		fail("re-encode a block");
	same(in, len, out, olen, "block round trip");
	free(out);
}

static void view_rec(const uint8_t *in, size_t len)
{
	struct shelter_err err;
	struct fs_view_rec v;
	struct fr_view view;
	uint8_t *out = NULL;
	size_t olen = 0, used = 0;
	int rc;

	shelter_err_clear(&err);
	rc = fs_view_rec_decode(in, len, &used, &v, &err);
	check_err(rc, &err);
	if (rc == 0) {
		if (used > len)
			fail("view record used more than the input");
		if (fs_view_rec_encode(&v, &out, &olen, NULL) < 0)
			fail("re-encode a view record");
		same(in, used, out, olen, "view record round trip");
		(void)fr_view_decode(v.view, v.view_len, &view, NULL);
		for (size_t i = 0; i < v.nlocks; i++)
			(void)fr_batch_verify(&v.locks[i], NULL);
		free(out);
	}
	fs_view_rec_free(&v);
}

/* ---- seeds: SHELTER_FUZZ_SEEDS=DIR ./fuzz_fresh_service writes one valid input of
 * each kind into DIR and exits (tests/fuzz/corpus/fuzz_fresh_service) ---- */

static void seed(const char *dir, const char *name, uint8_t sel, const uint8_t *body, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(&sel, 1, 1, f) != 1 || fwrite(body, 1, len, f) != len ||
	    fclose(f) != 0)
		fail("write a seed");
}

static void make_seeds(const char *dir)
{
	static const uint8_t state[] = "a state of six words, as a client keeps";
	uint8_t priv[32], *out = NULL, tail[FR_HASH];
	struct fr_entry e = { .height = 3, .flags = FR_FLAG_CERTIFIED };
	struct fr_batch b = { .kind = FR_KIND_LOCK, .count = 1, .entries = &e };
	struct fs_write w = { .height = 3, .blob = state, .blob_len = sizeof(state) };
	struct fr_receipt r;
	struct fs_receipts rs = { .r = &r, .count = 1, .cert = &r, .cert_count = 1 };
	struct fr_view v = { .n = 1 };
	struct fs_view_rec vr = { .locks = &b, .nlocks = 1 };
	uint8_t *body = NULL;
	size_t len = 0, blen = 0;

	memset(e.handle, 0x11, FR_HASH);
	memset(e.tail, 0x22, FR_HASH);
	memcpy(w.handle, e.handle, FR_HASH);
	memset(w.digest, 0x33, FR_HASH);
	memset(w.prev, 0x44, FR_HASH);
	if (shelter_ed25519_keygen(v.keys[0], priv, NULL) < 0 || fr_batch_sign(&b, priv, NULL) < 0 ||
	    fr_batch_receipt(&b, 0, &r, NULL) < 0 || fr_tail_genesis(e.handle, w.digest, tail) < 0)
		fail("make seed material");
	v.quotes[0] = state;
	v.quote_len[0] = sizeof(state);
	if (fs_write_encode(FS_CREATE, &w, &out, &len, NULL) < 0)
		fail("seed");
	seed(dir, "create", 0, out, len);
	free(out);
	if (fs_write_encode(FS_APPEND, &w, &out, &len, NULL) < 0)
		fail("seed");
	seed(dir, "append", 1, out, len);
	free(out);
	if (fs_receipts_encode(&rs, &out, &len, NULL) < 0)
		fail("seed");
	seed(dir, "receipts", 2, out, len);
	free(out);
	if (fs_block_encode(&w, &out, &len, NULL) < 0)
		fail("seed");
	seed(dir, "block", 3, out, len);
	free(out);
	if (fr_view_encode(&v, &body, &blen, NULL) < 0)
		fail("seed");
	vr.view = body;
	vr.view_len = blen;
	if (fs_view_rec_encode(&vr, &out, &len, NULL) < 0)
		fail("seed");
	seed(dir, "view", 4, out, len);
	free(out);
	free(body);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SHELTER_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	if (dir != NULL) {
		make_seeds(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0: write_req(FS_CREATE, data + 1, size - 1); break;
	case 1: write_req(FS_APPEND, data + 1, size - 1); break;
	case 2: receipts(data + 1, size - 1); break;
	case 3: block(data + 1, size - 1); break;
	default: view_rec(data + 1, size - 1); break;
	}
	return 0;
}
