/* The verifiable log: docs/formats/log.md. RFC 9162 and C2SP vectors, the golden
 * store of tests/vectors/log/ (made by gen.py, an independent implementation), group
 * commit from several threads, and every tamper alarm of §7.3 with its exact code. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../files.h"
#include "../test.h"
#include "log/internal.h"
#include "shelter/crypto.h"
#include "shelter/log.h"
#include "util/b64.h"

#define VEC "tests/vectors/log/"
#define H SHELTER_LOG_HASH

/* ---- an in-memory tree for the merkle layer ---- */

struct mem_tree {
	uint8_t (*leaf)[H];
	uint64_t n;
	struct lg_hasher h;
};

static int mem_node(void *ctx, unsigned height, uint64_t k, uint8_t out[H],
		    struct shelter_err *err)
{
	struct mem_tree *t = ctx;
	uint64_t width = 1ull << height, start = k * width;
	uint8_t l[H], r[H];

	(void)err;
	if (start + width > t->n)
		return SHELTER_E_INTERNAL;
	if (height == 0) {
		memcpy(out, t->leaf[start], H);
		return 0;
	}
	if (mem_node(ctx, height - 1, 2 * k, l, err) || mem_node(ctx, height - 1, 2 * k + 1, r, err))
		return SHELTER_E_INTERNAL;
	return lg_node(&t->h, l, r, out);
}

static char *next_line(char **cur)
{
	char *line = *cur, *nl;

	if (line == NULL || *line == '\0')
		return NULL;
	nl = strchr(line, '\n');
	if (nl != NULL) {
		*nl = '\0';
		*cur = nl + 1;
	} else {
		*cur = line + strlen(line);
	}
	return line;
}

/* "-" or comma-separated hex hashes */
static size_t parse_hashes(const char *s, uint8_t (*out)[H])
{
	size_t n = 0;
	char buf[2 * H + 1];

	if (strcmp(s, "-") == 0)
		return 0;
	while (*s) {
		memcpy(buf, s, 2 * H);
		buf[2 * H] = '\0';
		test_unhex(buf, out[n++], H);
		s += 2 * H;
		if (*s == ',')
			s++;
	}
	return n;
}

static void rfc9162_vectors(void)
{
	uint8_t leaves[8][H], got[SHELTER_LOG_PROOF_MAX][H], want[SHELTER_LOG_PROOF_MAX][H];
	uint8_t roots[9][H], root[H];
	struct mem_tree t = { leaves, 8, { 0 } };
	struct lg_tree_src src = { mem_node, &t, &t.h };
	size_t size, count, checked = 0;
	char *text = test_slurp(VEC "rfc9162.txt", &size), *cur = text, *line;

	CHECK(text != NULL);
	CHECK_OK(lg_hasher_init(&t.h, NULL));
	while ((line = next_line(&cur)) != NULL) {
		unsigned long long a, b;
		char hex[4096];
		uint8_t e[64];

		if (sscanf(line, "leaf %llu %4095s", &a, hex) == 2) {
			size_t n = strcmp(hex, "-") ? test_unhex(hex, e, sizeof(e)) : 0;

			CHECK_OK(shelter_log_leaf_hash(e, n, leaves[a]));
		} else if (sscanf(line, "root %llu %4095s", &a, hex) == 2) {
			test_unhex(hex, roots[a], H);
			CHECK_OK(lg_root(&src, a, root, NULL));
			CHECK_MEM(root, roots[a], H);
			checked++;
		} else if (sscanf(line, "inclusion %llu %llu %4095s", &a, &b, hex) == 3) {
			size_t n = parse_hashes(hex, want);

			CHECK_OK(lg_prove_inclusion(&src, a, b, got, &count, NULL));
			CHECK(count == n && memcmp(got, want, n * H) == 0);
			CHECK_OK(shelter_log_verify_inclusion(leaves[a], a, b,
							      (const uint8_t (*)[H])want, n,
							      roots[b], NULL));
			if (n > 0) { /* one bit, one hash too few, too many */
				want[n - 1][7] ^= 4;
				CHECK_RC(shelter_log_verify_inclusion(leaves[a], a, b,
								      (const uint8_t (*)[H])want,
								      n, roots[b], NULL),
					 SHELTER_E_INTEGRITY);
				CHECK_RC(shelter_log_verify_inclusion(leaves[a], a, b,
								      (const uint8_t (*)[H])want,
								      n - 1, roots[b], NULL),
					 SHELTER_E_MALFORMED);
			}
			CHECK_RC(shelter_log_verify_inclusion(leaves[a], a, b,
							      (const uint8_t (*)[H])want, n + 1,
							      roots[b], NULL),
				 SHELTER_E_MALFORMED);
			checked++;
		} else if (sscanf(line, "consistency %llu %llu %4095s", &a, &b, hex) == 3) {
			size_t n = parse_hashes(hex, want);

			CHECK_OK(lg_prove_consistency(&src, a, b, got, &count, NULL));
			CHECK(count == n && memcmp(got, want, n * H) == 0);
			CHECK_OK(shelter_log_verify_consistency(a, b, (const uint8_t (*)[H])want, n,
								roots[a], roots[b], NULL));
			if (n > 0) {
				want[0][0] ^= 1;
				CHECK_RC(shelter_log_verify_consistency(
						 a, b, (const uint8_t (*)[H])want, n, roots[a],
						 roots[b], NULL),
					 SHELTER_E_INTEGRITY);
			}
			if (a > 0 && a < b) /* the new root must be the one proved */
				CHECK_RC(shelter_log_verify_consistency(
						 a, b, (const uint8_t (*)[H])got, count, roots[a],
						 roots[b - 1], NULL),
					 SHELTER_E_INTEGRITY);
			checked++;
		}
	}
	CHECK(checked == 9 + 36 + 45);
	CHECK_RC(shelter_log_verify_inclusion(leaves[0], 8, 8, NULL, 0, roots[8], NULL),
		 SHELTER_E_INVAL);
	CHECK_RC(shelter_log_verify_consistency(5, 4, NULL, 0, roots[5], roots[4], NULL),
		 SHELTER_E_INVAL);
	CHECK_RC(shelter_log_verify_consistency(4, 4, NULL, 0, roots[4], roots[5], NULL),
		 SHELTER_E_INTEGRITY);
	lg_hasher_free(&t.h);
	free(text);
}

/* Every proof of every tree up to 100 leaves verifies; the compact range agrees. */
static void proofs_of_every_small_tree(void)
{
	uint8_t leaves[100][H], proof[SHELTER_LOG_PROOF_MAX][H], roots[101][H], f_root[H];
	struct mem_tree t = { leaves, 100, { 0 } };
	struct lg_tree_src src = { mem_node, &t, &t.h };
	struct lg_frontier f;
	size_t count;

	memset(&f, 0, sizeof(f));
	CHECK_OK(lg_hasher_init(&t.h, NULL));
	for (uint64_t n = 0; n <= 100; n++) {
		CHECK_OK(lg_root(&src, n, roots[n], NULL));
		CHECK_OK(lg_frontier_root(&f, &t.h, f_root));
		CHECK_MEM(f_root, roots[n], H);
		if (n < 100) {
			uint8_t e = (uint8_t)n;

			CHECK_OK(shelter_log_leaf_hash(&e, 1, leaves[n]));
			CHECK_OK(lg_frontier_push(&f, &t.h, leaves[n], NULL, NULL, NULL));
		}
	}
	/* the public in-memory tree gives the same roots and proofs */
	{
		struct shelter_log_tree *tree = NULL;
		uint8_t got[SHELTER_LOG_PROOF_MAX][H], r[H];
		size_t got_count;

		CHECK_OK(shelter_log_tree_new(&tree, NULL));
		for (uint64_t n = 0; n < 100; n++)
			CHECK_OK(shelter_log_tree_add(tree, leaves[n], NULL));
		CHECK(shelter_log_tree_size(tree) == 100);
		for (uint64_t n = 0; n <= 100; n += 7) {
			CHECK_OK(shelter_log_tree_root(tree, n, r, NULL));
			CHECK_MEM(r, roots[n], H);
			for (uint64_t i = 0; i < n; i += 3) {
				CHECK_OK(shelter_log_tree_prove_inclusion(tree, i, n, got, &got_count,
									  NULL));
				CHECK_OK(lg_prove_inclusion(&src, i, n, proof, &count, NULL));
				CHECK(got_count == count && memcmp(got, proof, count * H) == 0);
				CHECK_OK(shelter_log_tree_prove_consistency(tree, i, n, got,
									    &got_count, NULL));
				CHECK_OK(lg_prove_consistency(&src, i, n, proof, &count, NULL));
				CHECK(got_count == count && memcmp(got, proof, count * H) == 0);
			}
		}
		CHECK_RC(shelter_log_tree_root(tree, 101, r, NULL), SHELTER_E_INVAL);
		shelter_log_tree_free(tree);
	}
	for (uint64_t n = 1; n <= 100; n++) {
		for (uint64_t i = 0; i < n; i++) {
			CHECK_OK(lg_prove_inclusion(&src, i, n, proof, &count, NULL));
			CHECK_OK(shelter_log_verify_inclusion(leaves[i], i, n,
							      (const uint8_t (*)[H])proof, count,
							      roots[n], NULL));
		}
		for (uint64_t m = 0; m <= n; m++) {
			CHECK_OK(lg_prove_consistency(&src, m, n, proof, &count, NULL));
			CHECK_OK(shelter_log_verify_consistency(m, n, (const uint8_t (*)[H])proof,
								count, roots[m], roots[n], NULL));
		}
	}
	lg_hasher_free(&t.h);
}

/* ---- notes (§3) ---- */

static void notes_and_verifier_keys(void)
{
	struct shelter_log_verifier v, other;
	struct shelter_log_checkpoint cp;
	struct shelter_err err;
	size_t size;
	char *text = test_slurp(VEC "note.txt", &size), *nl, *note, *bad;
	const char *vk;

	CHECK(text != NULL);
	vk = strchr(text, '\n') + 1;
	nl = strchr(vk, '\n');
	note = nl + 1;
	CHECK_OK(shelter_log_verifier_parse(vk, (size_t)(nl - vk), &v, NULL));
	CHECK(strcmp(v.name, "example.com/foo") == 0);
	/* The example note is no checkpoint, but its signature verifies first. */
	CHECK_RC(shelter_log_checkpoint_open(note, strlen(note), &v, &cp, &err),
		 SHELTER_E_MALFORMED);
	CHECK(strstr(err.msg, "checkpoint") != NULL);
	bad = strdup(note);
	bad[5] ^= 1; /* the signed text changed */
	CHECK_RC(shelter_log_checkpoint_open(bad, strlen(bad), &v, &cp, NULL), SHELTER_E_INTEGRITY);
	free(bad);
	other = v;
	other.id[0] ^= 1; /* only another key's signature */
	CHECK_RC(shelter_log_checkpoint_open(note, strlen(note), &other, &cp, NULL),
		 SHELTER_E_UNTRUSTED);
	/* verifier keys: each part wrong */
	CHECK_RC(shelter_log_verifier_parse("example.com/foo+530d903a", 24, &v, NULL),
		 SHELTER_E_MALFORMED);
	CHECK_RC(shelter_log_verifier_parse(
			 "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", 69,
			 &v, NULL),
		 SHELTER_E_INTEGRITY);
	CHECK_RC(shelter_log_verifier_parse(
			 "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2l", 69,
			 &v, NULL),
		 SHELTER_E_INTEGRITY); /* another key under the same id */
	CHECK_RC(shelter_log_verifier_parse(
			 "exa mple+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", 62, &v,
			 NULL),
		 SHELTER_E_MALFORMED);
	free(text);
}

/* Strict base64 (§ conventions): one encoding per byte string. */
static void base64_is_canonical(void)
{
	uint8_t out[8];
	size_t n;

	CHECK(shelter_b64_decode("AA==", 4, out, sizeof(out), &n) == 0 && n == 1 && out[0] == 0);
	CHECK(shelter_b64_decode("AB==", 4, out, sizeof(out), &n) == -1); /* pad bits set */
	CHECK(shelter_b64_decode("AAB=", 4, out, sizeof(out), &n) == -1);
	CHECK(shelter_b64_decode("AAA", 3, out, sizeof(out), &n) == -1);
	CHECK(shelter_b64_decode("AA A", 4, out, sizeof(out), &n) == -1);
	CHECK(shelter_b64_decode("A===", 4, out, sizeof(out), &n) == -1);
	CHECK(shelter_b64_decode("AAAAAAAA", 8, out, 5, &n) == -1); /* 6 bytes, room for 5 */
	CHECK(shelter_b64_decode("", 0, out, sizeof(out), &n) == 0 && n == 0);
}

/* Notes that are not well formed, each with the exact code (§3.2). */
static void notes_refuse_bad_layouts(void)
{
	static const char *const bad[] = {
		"",
		"no newline at the end",
		"body\n",                            /* no blank line */
		"body\n\n",                          /* no signature line */
		"body\n\n-- x AAAA\n",               /* not an em dash */
		"body\n\n\xe2\x80\x94 x !!!!\n",     /* bad base64 */
		"body\n\n\xe2\x80\x94 x AAAA\n",     /* shorter than a key id */
		"body\n\n\xe2\x80\x94  AAAAAAAA\n",  /* empty name */
	};
	struct shelter_log_verifier v;
	struct shelter_log_checkpoint cp;
	uint8_t seed[32] = { 1 }, pub[32];
	char note[1024], big[SHELTER_LOG_NOTE_MAX + 2];
	size_t len;

	CHECK_OK(shelter_ed25519_public(seed, pub, NULL));
	memset(&v, 0, sizeof(v));
	strcpy(v.name, "x");
	memcpy(v.pub, pub, 32);
	lg_key_id("x", pub, v.id);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_RC(shelter_log_checkpoint_open(bad[i], strlen(bad[i]), &v, &cp, NULL),
			 SHELTER_E_MALFORMED);
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	CHECK_RC(shelter_log_checkpoint_open(big, sizeof(big), &v, &cp, NULL), SHELTER_E_MALFORMED);
	/* a good checkpoint, then its body lines broken one by one and re-signed */
	CHECK_OK(lg_checkpoint_sign("x", 12, pub, seed, pub, note, sizeof(note), &len, NULL));
	CHECK_OK(shelter_log_checkpoint_open(note, len, &v, &cp, NULL));
	CHECK(cp.size == 12 && memcmp(cp.root, pub, 32) == 0 && strcmp(cp.origin, "x") == 0);
	/* origin other than the key's name: sign "y"'s body with key "x" */
	{
		const char *body = "y\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
		uint8_t sig[68];
		char sig64[200], msg[400];

		memcpy(sig, v.id, 4);
		CHECK_OK(shelter_ed25519_sign(seed, body, strlen(body), sig + 4, NULL));
		CHECK(EVP_EncodeBlock((unsigned char *)sig64, sig, 68) > 0);
		snprintf(msg, sizeof(msg), "%s\n\xe2\x80\x94 x %s\n", body, sig64);
		CHECK_RC(shelter_log_checkpoint_open(msg, strlen(msg), &v, &cp, NULL),
			 SHELTER_E_POLICY);
		body = "x\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
		CHECK_OK(shelter_ed25519_sign(seed, body, strlen(body), sig + 4, NULL));
		CHECK(EVP_EncodeBlock((unsigned char *)sig64, sig, 68) > 0);
		snprintf(msg, sizeof(msg), "%s\n\xe2\x80\x94 x %s\n", body, sig64);
		CHECK_RC(shelter_log_checkpoint_open(msg, strlen(msg), &v, &cp, NULL),
			 SHELTER_E_MALFORMED); /* leading zero in the size */
	}
}

/* ---- the store (§4 to §8) ---- */

static const uint8_t SEED[32] = { 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
				  11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
				  22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };
#define ORIGIN "vectors.shelter.example/log"

static char tmp_root[256];

static void scratch(char *out, size_t size, const char *name)
{
	test_join(out, size, tmp_root, name);
	test_rm_tree(out);
}

static void copy_file(const char *from, const char *to)
{
	size_t size;
	char *data = test_slurp(from, &size);
	FILE *f = fopen(to, "wb");

	if (data == NULL || f == NULL || fwrite(data, 1, size, f) != size) {
		fprintf(stderr, "cannot copy %s\n", from);
		exit(2);
	}
	fclose(f);
	free(data);
}

static int open_log(const char *dir, int create, struct shelter_log **out, struct shelter_err *err)
{
	struct shelter_log_options o = { .dir = dir, .origin = ORIGIN, .priv = SEED,
					 .create = create };

	return shelter_log_open(&o, out, err);
}

static void own_verifier(struct shelter_log_verifier *v)
{
	uint8_t pub[32];
	char vk[512];

	if (shelter_ed25519_public(SEED, pub, NULL) != 0 ||
	    shelter_log_verifier_format(ORIGIN, pub, vk, sizeof(vk), NULL) != 0 ||
	    shelter_log_verifier_parse(vk, strlen(vk), v, NULL) != 0)
		exit(2);
}

static void golden_store_reads_and_extends(void)
{
	static const char *const want[] = { "first", "", "alpha", "beta" };
	struct shelter_log_verifier v;
	struct shelter_log_checkpoint cp;
	struct shelter_log *log = NULL;
	char dir[512], path[600], vk[512], note[SHELTER_LOG_NOTE_MAX];
	uint8_t buf[400], root[H];
	size_t size, vsize, golden_size;
	uint64_t entries, index, cp_size;
	char *vec = test_slurp(VEC "checkpoint.txt", &vsize), *golden, *now;
	char *line = strchr(strchr(vec, '\n') + 1, '\n') + 1, *nl = strchr(line, '\n');

	scratch(dir, sizeof(dir), "golden");
	CHECK(mkdir(dir, 0700) == 0);
	test_join(path, sizeof(path), dir, "log");
	copy_file(VEC "store/log", path);
	test_join(path, sizeof(path), dir, "checkpoint");
	copy_file(VEC "store/checkpoint", path);
	CHECK_OK(shelter_log_verifier_parse(line, (size_t)(nl - line), &v, NULL));
	/* gen.py's verifier key is the one this library makes for the same seed */
	CHECK_OK(open_log(dir, 0, &log, NULL));
	CHECK_OK(shelter_log_vkey(log, vk, sizeof(vk), NULL));
	CHECK(strlen(vk) == (size_t)(nl - line) && memcmp(vk, line, strlen(vk)) == 0);
	CHECK(shelter_log_size(log) == 7);
	CHECK_OK(shelter_log_audit(dir, &v, nl + 1, strlen(nl + 1), &entries, &cp, NULL));
	CHECK(entries == 7 && cp.size == 7);
	CHECK_OK(shelter_log_root(log, 7, root, NULL));
	CHECK_MEM(root, cp.root, H);
	for (uint64_t i = 0; i < 4; i++) {
		CHECK_OK(shelter_log_get(log, i, buf, sizeof(buf), &size, NULL));
		CHECK(size == strlen(want[i]) && memcmp(buf, want[i], size) == 0);
	}
	CHECK_OK(shelter_log_get(log, 5, buf, sizeof(buf), &size, NULL));
	CHECK(size == 300 && buf[0] == 'x' && buf[299] == 'x');
	CHECK_RC(shelter_log_get(log, 5, buf, 10, &size, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_log_get(log, 7, buf, sizeof(buf), &size, NULL), SHELTER_E_NOENT);
	/* extend it: the golden bytes stay the prefix (append-only) */
	CHECK_OK(shelter_log_append(log, "eighth", 6, &index, NULL));
	CHECK(index == 7);
	CHECK_OK(shelter_log_sync(log, index, NULL));
	CHECK_OK(shelter_log_checkpoint(log, note, sizeof(note), &cp_size, NULL));
	CHECK(cp_size == 8);
	CHECK_OK(shelter_log_close(log, NULL));
	golden = test_slurp(VEC "store/log", &golden_size);
	test_join(path, sizeof(path), dir, "log");
	now = test_slurp(path, &size);
	CHECK(size > golden_size && memcmp(golden, now, golden_size) == 0);
	CHECK_OK(shelter_log_audit(dir, &v, note, strlen(note), &entries, &cp, NULL));
	CHECK(entries == 8 && cp.size == 8);
	CHECK_OK(shelter_log_audit(dir, &v, NULL, 0, &entries, &cp, NULL)); /* its own */
	CHECK(cp.size == 8);
	free(golden);
	free(now);
	free(vec);
}

struct writer_arg {
	struct shelter_log *log;
	int id, count, rc;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;
	char e[64];

	for (int i = 0; i < a->count && a->rc == 0; i++) {
		uint64_t index;
		int n = snprintf(e, sizeof(e), "writer %d entry %d", a->id, i);

		a->rc = shelter_log_append(a->log, e, (size_t)n, &index, NULL);
		if (a->rc == 0 && i % 7 == 6)
			a->rc = shelter_log_sync(a->log, index, NULL);
	}
	return NULL;
}

/* Four threads append and sync; every entry lands once, proofs hold at every size
 * (across tile-1: more than 256 entries), a reopen sees the same tree. */
static void group_commit_from_threads(void)
{
	struct writer_arg a[4];
	pthread_t t[4];
	struct shelter_log *log = NULL;
	struct shelter_log_verifier v;
	uint8_t proof[SHELTER_LOG_PROOF_MAX][H], root[H], root2[H], leaf[H], buf[64];
	char dir[512];
	size_t count, size;
	int seen[4][700];
	uint64_t last;

	memset(seen, 0, sizeof(seen));
	own_verifier(&v);
	scratch(dir, sizeof(dir), "threads");
	CHECK_RC(open_log(dir, 0, &log, NULL), SHELTER_E_NOENT);
	CHECK_OK(open_log(dir, 1, &log, NULL));
	for (int i = 0; i < 4; i++) {
		a[i] = (struct writer_arg){ log, i, 700, 0 };
		CHECK(pthread_create(&t[i], NULL, writer, &a[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_OK(a[i].rc);
	}
	CHECK_OK(shelter_log_sync(log, 2799, NULL));
	CHECK(shelter_log_size(log) == 2800);
	CHECK_RC(shelter_log_sync(log, 2800, NULL), SHELTER_E_INVAL);
	for (uint64_t i = 0; i < 2800; i++) {
		int w, e;

		CHECK_OK(shelter_log_get(log, i, buf, sizeof(buf) - 1, &size, NULL));
		buf[size] = '\0';
		CHECK(sscanf((char *)buf, "writer %d entry %d", &w, &e) == 2);
		CHECK(w >= 0 && w < 4 && e >= 0 && e < 700 && !seen[w][e]);
		seen[w][e] = 1;
	}
	CHECK_OK(shelter_log_root(log, 2800, root, NULL));
	for (uint64_t n = 1; n <= 2800; n += 97) {
		uint64_t i = (n * 31) % n;

		CHECK_OK(shelter_log_root(log, n, root2, NULL));
		CHECK_OK(shelter_log_prove_inclusion(log, i, n, proof, &count, NULL));
		CHECK_OK(shelter_log_get(log, i, buf, sizeof(buf), &size, NULL));
		CHECK_OK(shelter_log_leaf_hash(buf, size, leaf));
		CHECK_OK(shelter_log_verify_inclusion(leaf, i, n, (const uint8_t (*)[H])proof,
						      count, root2, NULL));
		CHECK_OK(shelter_log_prove_consistency(log, n, 2800, proof, &count, NULL));
		CHECK_OK(shelter_log_verify_consistency(n, 2800, (const uint8_t (*)[H])proof,
							count, root2, root, NULL));
	}
	CHECK_RC(shelter_log_prove_inclusion(log, 0, 2801, proof, &count, NULL), SHELTER_E_INVAL);
	CHECK_OK(shelter_log_close(log, NULL));
	CHECK_OK(open_log(dir, 0, &log, NULL));
	CHECK(shelter_log_size(log) == 2800);
	CHECK_OK(shelter_log_root(log, 2800, root2, NULL));
	CHECK_MEM(root, root2, H);
	CHECK_OK(shelter_log_append(log, "x", 1, &last, NULL));
	CHECK_OK(shelter_log_close(log, NULL)); /* close syncs what was appended */
	CHECK_OK(shelter_log_audit(dir, &v, NULL, 0, &last, NULL, NULL));
	CHECK(last == 2801);
}

/* A store of 100 entries in 10 commits, anchored; returns the log's size. */
static void make_store(const char *dir)
{
	struct shelter_log *log = NULL;
	uint64_t index = 0;
	char e[32];

	test_rm_tree(dir);
	if (open_log(dir, 1, &log, NULL) != 0)
		exit(2);
	for (int i = 0; i < 100; i++) {
		int n = snprintf(e, sizeof(e), "entry %03d", i);

		if (shelter_log_append(log, e, (size_t)n, &index, NULL) != 0 ||
		    (i % 10 == 9 && shelter_log_sync(log, index, NULL) != 0))
			exit(2);
	}
	if (shelter_log_close(log, NULL) != 0)
		exit(2);
}

static long file_size(const char *dir, const char *name)
{
	char path[600];
	struct stat st;

	test_join(path, sizeof(path), dir, name);
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Read-modify-write n bytes of dir/name at off (negative: from the end). */
static void patch(const char *dir, const char *name, long off, const void *bytes, size_t n)
{
	char path[600];
	int fd;

	test_join(path, sizeof(path), dir, name);
	fd = open(path, O_WRONLY);
	if (off < 0)
		off += file_size(dir, name);
	if (fd < 0 || pwrite(fd, bytes, n, off) != (ssize_t)n) {
		fprintf(stderr, "cannot patch %s\n", path);
		exit(2);
	}
	close(fd);
}

static void xor_byte(const char *dir, const char *name, long off)
{
	char path[600];
	uint8_t b;
	int fd;

	test_join(path, sizeof(path), dir, name);
	fd = open(path, O_RDWR);
	if (off < 0)
		off += file_size(dir, name);
	if (fd < 0 || pread(fd, &b, 1, off) != 1)
		exit(2);
	b ^= 0x10;
	if (pwrite(fd, &b, 1, off) != 1)
		exit(2);
	close(fd);
}

/* Frame k (0-based) of dir/log: its offset. */
static long frame_at(const char *dir, int k)
{
	char path[600];
	uint8_t head[20];
	long off;
	int fd;

	test_join(path, sizeof(path), dir, "log");
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, head, 9, 0) != 9)
		exit(2);
	off = 9 + head[8] + 32 + 32;
	for (int i = 0; i < k; i++) {
		if (pread(fd, head, 20, off) != 20)
			exit(2);
		off += 20 + (long)((uint32_t)head[16] << 24 | (uint32_t)head[17] << 16 |
				   (uint32_t)head[18] << 8 | head[19]) + 32;
	}
	close(fd);
	return off;
}

/* Recompute frame k's hash after an edit: what a careful attacker does (§5). */
static void reseal_frame(const char *dir, int k)
{
	char path[600];
	uint8_t *buf = malloc(1 << 20), head[20];
	struct lg_hasher h;
	long off = frame_at(dir, k);
	uint32_t payload;
	int fd;

	test_join(path, sizeof(path), dir, "log");
	fd = open(path, O_RDWR);
	if (buf == NULL || fd < 0 || pread(fd, head, 20, off) != 20 || lg_hasher_init(&h, NULL))
		exit(2);
	payload = (uint32_t)head[16] << 24 | (uint32_t)head[17] << 16 | (uint32_t)head[18] << 8 |
		  head[19];
	if (pread(fd, buf, 20 + payload, off) != (ssize_t)(20 + payload) ||
	    lg_frame_seal(&h, buf, payload) != 0 ||
	    pwrite(fd, buf + 20 + payload, 32, off + 20 + payload) != 32)
		exit(2);
	lg_hasher_free(&h);
	close(fd);
	free(buf);
}

static int reopen(const char *dir, struct shelter_err *err)
{
	struct shelter_log *log = NULL;
	int rc = open_log(dir, 0, &log, err);

	if (rc == 0)
		shelter_log_close(log, NULL);
	return rc;
}

/* §7.3, each row: the store is changed behind the writer's back. */
static void tamper_alarms_on_open(void)
{
	struct shelter_log_verifier v;
	struct shelter_err err;
	char dir[512], path[600], old[600];
	uint64_t n;

	own_verifier(&v);
	scratch(dir, sizeof(dir), "tamper");
	/* an entry edited, frame hash left: TRUNCATED (an invalid frame below A) */
	make_store(dir);
	xor_byte(dir, "log", frame_at(dir, 3) + 25);
	CHECK_RC(reopen(dir, &err), SHELTER_E_TRUNCATED);
	CHECK(strstr(err.msg, "TAMPER ALARM") != NULL && strstr(err.msg, "entry 30") != NULL);
	CHECK_RC(shelter_log_audit(dir, &v, NULL, 0, &n, NULL, NULL), SHELTER_E_TRUNCATED);
	/* ... and with the frame hash recomputed: INTEGRITY (the root at A) */
	make_store(dir);
	xor_byte(dir, "log", frame_at(dir, 3) + 25);
	reseal_frame(dir, 3);
	CHECK_RC(reopen(dir, &err), SHELTER_E_INTEGRITY);
	CHECK(strstr(err.msg, "TAMPER ALARM") != NULL);
	CHECK_RC(shelter_log_audit(dir, &v, NULL, 0, &n, NULL, NULL), SHELTER_E_INTEGRITY);
	/* two entries swapped within a frame (same sizes), resealed */
	make_store(dir);
	{
		long f = frame_at(dir, 2) + 20;
		char a[11], b[11];

		test_join(path, sizeof(path), dir, "log");
		int fd = open(path, O_RDWR);
		CHECK(fd >= 0 && pread(fd, a, 11, f) == 11 && pread(fd, b, 11, f + 11) == 11);
		CHECK(pwrite(fd, b, 11, f) == 11 && pwrite(fd, a, 11, f + 11) == 11);
		close(fd);
	}
	reseal_frame(dir, 2);
	CHECK_RC(reopen(dir, NULL), SHELTER_E_INTEGRITY);
	/* the last frames cut off */
	make_store(dir);
	test_join(path, sizeof(path), dir, "log");
	CHECK(truncate(path, frame_at(dir, 9)) == 0);
	CHECK_RC(reopen(dir, &err), SHELTER_E_TRUNCATED);
	CHECK(strstr(err.msg, "90 entries") != NULL);
	CHECK_RC(shelter_log_audit(dir, &v, NULL, 0, &n, NULL, NULL), SHELTER_E_TRUNCATED);
	/* the log replaced by an older copy of itself */
	make_store(dir);
	test_join(old, sizeof(old), tmp_root, "old-log");
	copy_file(path, old);
	{
		struct shelter_log *log = NULL;
		uint64_t i;

		CHECK_OK(open_log(dir, 0, &log, NULL));
		CHECK_OK(shelter_log_append(log, "more", 4, &i, NULL));
		CHECK_OK(shelter_log_close(log, NULL));
	}
	copy_file(old, path);
	CHECK_RC(reopen(dir, &err), SHELTER_E_TRUNCATED);
	/* the log removed while an anchor exists */
	CHECK(unlink(path) == 0);
	CHECK_RC(reopen(dir, NULL), SHELTER_E_MISSING);
	/* the anchor forged: signed by another key */
	make_store(dir);
	{
		uint8_t other[32] = { 9 }, pub[32], root[32] = { 0 };
		char note[1024];
		size_t len;

		CHECK_OK(shelter_ed25519_public(other, pub, NULL));
		CHECK_OK(lg_checkpoint_sign(ORIGIN, 3, root, other, pub, note, sizeof(note), &len,
					    NULL));
		test_join(path, sizeof(path), dir, "anchor");
		CHECK(truncate(path, 0) == 0);
		patch(dir, "anchor", 0, note, len);
		CHECK_RC(reopen(dir, NULL), SHELTER_E_UNTRUSTED);
		test_join(path, sizeof(path), dir, "checkpoint");
		CHECK(truncate(path, 0) == 0);
		patch(dir, "checkpoint", 0, note, len);
		CHECK_RC(shelter_log_audit(dir, &v, NULL, 0, &n, NULL, NULL), SHELTER_E_UNTRUSTED);
	}
	/* the header names another log */
	make_store(dir);
	xor_byte(dir, "log", 12);
	CHECK_RC(reopen(dir, NULL), SHELTER_E_INTEGRITY);
	xor_byte(dir, "log", 12);
	patch(dir, "log", 0, "SHLOG\0\0\2", 8);
	CHECK_RC(reopen(dir, NULL), SHELTER_E_VERSION);
}

/* Not tampering: a torn tail above the anchor is cut; a second writer is refused;
 * another key is refused. */
static void torn_tails_and_refusals(void)
{
	struct shelter_log *log = NULL, *second = NULL;
	struct shelter_log_options o = { .origin = ORIGIN, .priv = SEED };
	uint8_t other[32] = { 7 };
	char dir[512];
	long size;

	scratch(dir, sizeof(dir), "torn");
	make_store(dir);
	size = file_size(dir, "log");
	patch(dir, "log", size, "SLF1\0\0\0\1garbage", 15);
	CHECK_OK(open_log(dir, 0, &log, NULL));
	CHECK(shelter_log_size(log) == 100 && file_size(dir, "log") == size);
	CHECK_RC(open_log(dir, 0, &second, NULL), SHELTER_E_CONFLICT);
	CHECK_OK(shelter_log_close(log, NULL));
	o.dir = dir;
	o.priv = other;
	CHECK_RC(shelter_log_open(&o, &log, NULL), SHELTER_E_UNTRUSTED); /* its anchor */
	{
		char path[600];

		test_join(path, sizeof(path), dir, "anchor");
		CHECK(unlink(path) == 0);
	}
	CHECK_RC(shelter_log_open(&o, &log, NULL), SHELTER_E_POLICY); /* its header */
	o.priv = SEED;
	o.origin = "bad origin";
	CHECK_RC(shelter_log_open(&o, &log, NULL), SHELTER_E_INVAL);
	CHECK(log == NULL);
}

/* §6.4: files changed under a running writer are caught when served. */
static void running_writer_checks_what_it_serves(void)
{
	struct shelter_log *log = NULL;
	uint8_t proof[SHELTER_LOG_PROOF_MAX][H], buf[64];
	char dir[512];
	size_t count, size;

	scratch(dir, sizeof(dir), "running");
	make_store(dir);
	CHECK_OK(open_log(dir, 0, &log, NULL));
	CHECK_OK(shelter_log_get(log, 42, buf, sizeof(buf), &size, NULL));
	xor_byte(dir, "tile-0", 42 * 32 + 3);
	CHECK_RC(shelter_log_prove_inclusion(log, 42, 100, proof, &count, NULL),
		 SHELTER_E_INTEGRITY);
	CHECK_RC(shelter_log_prove_inclusion(log, 40, 90, proof, &count, NULL),
		 SHELTER_E_INTEGRITY);
	xor_byte(dir, "tile-0", 42 * 32 + 3);
	CHECK_OK(shelter_log_prove_inclusion(log, 42, 100, proof, &count, NULL));
	xor_byte(dir, "log", frame_at(dir, 4) + 20 + 2 + 11 * 2 + 3); /* entry 42 */
	CHECK_RC(shelter_log_get(log, 42, buf, sizeof(buf), &size, NULL), SHELTER_E_INTEGRITY);
	CHECK(size == 0);
	CHECK_OK(shelter_log_get(log, 41, buf, sizeof(buf), &size, NULL));
	shelter_log_close(log, NULL);
}

/* §8.1: a follower keeps up with a live writer and takes only checkpoints that
 * match what it read. */
static void follower_keeps_up_and_checks(void)
{
	struct shelter_log_verifier v;
	struct shelter_log_checkpoint cp;
	struct shelter_log_follower *f = NULL, *g = NULL;
	struct shelter_log *log = NULL;
	uint8_t proof[SHELTER_LOG_PROOF_MAX][H], leaf[H], buf[64];
	char dir[512], note[SHELTER_LOG_NOTE_MAX];
	size_t count, size;
	uint64_t index;

	own_verifier(&v);
	scratch(dir, sizeof(dir), "follow");
	make_store(dir);
	CHECK_OK(shelter_log_follower_open(dir, &v, &f, NULL));
	CHECK_OK(shelter_log_follower_update(f, &cp, NULL));
	CHECK(cp.size == 100 && shelter_log_follower_size(f) == 100);
	CHECK_OK(open_log(dir, 0, &log, NULL));
	for (int i = 0; i < 50; i++)
		CHECK_OK(shelter_log_append(log, "more", 4, &index, NULL));
	CHECK_OK(shelter_log_sync(log, index, NULL));
	CHECK_OK(shelter_log_follower_update(f, &cp, NULL)); /* entries before checkpoint */
	CHECK(cp.size == 100 && shelter_log_follower_size(f) == 150);
	CHECK_OK(shelter_log_anchor_now(log, NULL));
	CHECK_OK(shelter_log_follower_update(f, &cp, NULL));
	CHECK(cp.size == 150);
	CHECK_OK(shelter_log_follower_note(f, note, sizeof(note)));
	CHECK(strstr(note, "\n150\n") != NULL);
	CHECK_OK(shelter_log_follower_get(f, 120, buf, sizeof(buf), &size, NULL));
	CHECK(size == 4 && memcmp(buf, "more", 4) == 0);
	CHECK_OK(shelter_log_tree_prove_inclusion(shelter_log_follower_tree(f), 120, 150, proof,
						  &count, NULL));
	CHECK_OK(shelter_log_leaf_hash(buf, size, leaf));
	CHECK_OK(shelter_log_verify_inclusion(leaf, 120, 150, (const uint8_t (*)[H])proof, count,
					      cp.root, NULL));
	CHECK_OK(shelter_log_close(log, NULL));
	/* an entry changed under the follower, then for a new one */
	xor_byte(dir, "log", frame_at(dir, 4) + 20 + 2 + 11 * 2 + 3); /* entry 42 */
	CHECK_RC(shelter_log_follower_get(f, 42, buf, sizeof(buf), &size, NULL),
		 SHELTER_E_INTEGRITY);
	CHECK_OK(shelter_log_follower_open(dir, &v, &g, NULL));
	CHECK_RC(shelter_log_follower_update(g, &cp, NULL), SHELTER_E_TRUNCATED);
	shelter_log_follower_close(g);
	reseal_frame(dir, 4);
	CHECK_OK(shelter_log_follower_open(dir, &v, &g, NULL));
	CHECK_RC(shelter_log_follower_update(g, &cp, NULL), SHELTER_E_INTEGRITY);
	shelter_log_follower_close(g);
	shelter_log_follower_close(f);
}

int main(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	test_binary = "test_log";
	snprintf(tmp_root, sizeof(tmp_root), "%s/test_log.%d", base, (int)getpid());
	if (mkdir(tmp_root, 0700) != 0)
		return 2;
	RUN(rfc9162_vectors);
	RUN(proofs_of_every_small_tree);
	RUN(notes_and_verifier_keys);
	RUN(notes_refuse_bad_layouts);
	RUN(base64_is_canonical);
	RUN(golden_store_reads_and_extends);
	RUN(group_commit_from_threads);
	RUN(tamper_alarms_on_open);
	RUN(torn_tails_and_refusals);
	RUN(running_writer_checks_what_it_serves);
	RUN(follower_keeps_up_and_checks);
	test_rm_tree(tmp_root);
	return test_total_failed ? 1 : 0;
}
