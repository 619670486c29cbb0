/* libFuzzer target: the verifiable log's store on a hostile DIR/log (docs/formats/
 * log.md §4 to §8; STYLE.md rule 17).
 *
 * The input is the whole of DIR/log. Once per process the harness makes a private
 * directory (fixture.h: /dev/shm, $TMPDIR or /tmp) with a store directory in it; each
 * input is written over DIR/log (DIR/checkpoint removed), then:
 *
 *   1. shelter_log_audit with the fuzz key's verifier and a signed checkpoint of the
 *      empty tree (size 0: only the header and the frames are checked, §8);
 *   2. shelter_log_open as a writer (the fuzz key, create = 0) with an anchor that
 *      never stored anything, so every valid frame counts and any invalid tail is
 *      cut (§6.3 step 4); when it opens: the root, a signed checkpoint, a few entries
 *      (shelter_log_get), inclusion proofs at two sizes and a consistency proof, one
 *      appended and synced entry, and close;
 *   3. shelter_log_audit again, with NULL: the store's own DIR/checkpoint, which the
 *      close wrote for the new size;
 *   4. when it opened: three more opens with an anchor holding a checkpoint signed
 *      with the fuzz key: at half the entries with the right root (opens), with a
 *      wrong root (INTEGRITY), one entry beyond the store (TRUNCATED).
 *
 * A reference parser here (independent of src/lib/log: its own reading of §4.1 and
 * §5, SHA-256 through shelter_sha256) decides what each call must answer. Properties
 * checked with abort():
 *   - the header alone decides whether audit and open succeed, and a refusal carries
 *     the §4.1 code (TRUNCATED, NOTVOLUME, VERSION, MALFORMED, INTEGRITY, POLICY);
 *   - audit and open count exactly the entries of the leading valid frames; open cuts
 *     the log file at the end of the last one (§6.3 step 4) and nowhere else;
 *   - the root, the checkpoint and every proof match the reference tree (RFC 9162
 *     MTH over the reference entries), every entry reads back byte for byte, an entry
 *     past the end is NOENT; the appended entry becomes the next index, reads back,
 *     and the audit of the closed store finds every entry under the store's own
 *     checkpoint; the anchored opens answer as step 4 says, a refusal with its
 *     "TAMPER ALARM";
 *   - no file descriptor outlives an input, nothing is left in the store directory
 *     but the store's own files (nothing grows across inputs).
 *
 * SHELTER_FUZZ_VERBOSE=1 prints each input's outcome (to check what a seed reaches).
 *
 * Seed generator: SHELTER_FUZZ_SEEDS=DIR ./fuzz_log_store writes logs made by the
 * library with the fuzz key (empty, one entry, several commits, 300 entries so that a
 * hash tile of height 8 exists), the same with torn tails, damaged frames and foreign
 * or malformed headers, and the golden store of tests/vectors/log/store (another key)
 * into DIR and exits (tests/fuzz/corpus/fuzz_log_store; run it from the top of the
 * tree). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/internal.h"
#include "shelter/crypto.h"
#include "shelter/log.h"
#include "util/buf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_log_store"
#include "fixture.h"

/* The fuzz log's key: the same as fuzz_log_note's. */
#define FZ_LOG_ORIGIN "fuzz.shelter.example/log"
static const uint8_t fz_log_seed[32] = "shelter-fuzz-log-key-32-bytes!!";

#define H SHELTER_LOG_HASH
#define APPENDED "appended by fuzz_log_store"

static char g_dir[300];  /* fz_base/store: the store each input lands in */
static char g_log[320];  /* g_dir/log */
static char g_ckpt[320]; /* g_dir/checkpoint */
static uint8_t g_pub[32];
static struct shelter_log_verifier g_v;
static char g_empty[1024]; /* a signed checkpoint of the empty tree */
static size_t g_empty_len;
static int g_verbose;

/* ---- the anchor that never held a checkpoint ---- */

static int none_load(void *ctx, char **out, size_t *len, struct shelter_err *err)
{
	(void)ctx;
	(void)err;
	*out = NULL;
	*len = 0;
	return 0;
}

static int none_store(void *ctx, const char *note, size_t len, struct shelter_err *err)
{
	(void)ctx;
	(void)note;
	(void)len;
	(void)err;
	return 0;
}

static const struct shelter_log_anchor g_none = { none_load, none_store, NULL };

/* An anchor holding g_note (step 4 below). */
static char g_note[1024];
static size_t g_note_len;

static int note_load(void *ctx, char **out, size_t *len, struct shelter_err *err)
{
	(void)ctx;
	*out = malloc(g_note_len);
	if (*out == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "anchor");
	memcpy(*out, g_note, g_note_len);
	*len = g_note_len;
	return 0;
}

static const struct shelter_log_anchor g_held = { note_load, none_store, NULL };

/* ---- files ---- */

static uint64_t file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		fz_die("stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}

/* Only the store's own files may be in the store directory. */
static void check_dir(void)
{
	DIR *d = opendir(g_dir);
	struct dirent *e;

	if (d == NULL)
		fz_die("open %s: %s", g_dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "log") == 0 ||
		    strcmp(n, "index") == 0 || strcmp(n, "lock") == 0 ||
		    strcmp(n, "checkpoint") == 0 ||
		    (strncmp(n, "tile-", 5) == 0 && n[5] >= '0' && n[5] <= '7' && n[6] == '\0'))
			continue;
		fz_die("the store directory holds '%s'", n);
	}
	closedir(d);
}

/* ---- the reference reading of §4.1 and §5 ---- */

struct ref {
	int code;      /* what the header makes audit and open answer (§4.1) */
	uint64_t end;  /* offset after the last valid frame */
	uint64_t n;    /* entries in the valid frames */
	const uint8_t **entry;
	size_t *size;
	size_t cap;
};

static int sha256_is(const uint8_t *p, size_t size, const uint8_t want[H])
{
	uint8_t h[H];

	if (shelter_sha256(p, size, h, NULL) != 0)
		fz_die("SHA-256");
	return memcmp(h, want, H) == 0;
}

/* §4.1, in the order a reader meets the fields; *start gets the header's size. */
static int ref_header(const uint8_t *d, size_t size, size_t *start)
{
	size_t o;

	if (size < 9)
		return SHELTER_E_TRUNCATED;
	if (memcmp(d, "SHLOG", 5) != 0)
		return SHELTER_E_NOTVOLUME;
	if (memcmp(d, "SHLOG\0\0\1", 8) != 0)
		return SHELTER_E_VERSION;
	o = d[8];
	if (o == 0)
		return SHELTER_E_MALFORMED;
	if (size < 9 + o + 32 + 32)
		return SHELTER_E_TRUNCATED;
	if (!sha256_is(d, 9 + o + 32, d + 9 + o + 32))
		return SHELTER_E_INTEGRITY;
	for (size_t i = 0; i < o; i++) {
		if (d[9 + i] <= ' ' || d[9 + i] >= 0x7f || d[9 + i] == '+')
			return SHELTER_E_MALFORMED;
	}
	if (o != strlen(FZ_LOG_ORIGIN) || memcmp(d + 9, FZ_LOG_ORIGIN, o) != 0 ||
	    memcmp(d + 9 + o, g_pub, 32) != 0)
		return SHELTER_E_POLICY;
	*start = 9 + o + 64;
	return 0;
}

static void ref_push(struct ref *r, const uint8_t *e, size_t size)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->entry = realloc(r->entry, r->cap * sizeof(*r->entry));
		r->size = realloc(r->size, r->cap * sizeof(*r->size));
		if (r->entry == NULL || r->size == NULL)
			fz_die("out of memory");
	}
	r->entry[r->n] = e;
	r->size[r->n++] = size;
}

/* One frame at d (avail bytes): its size when it is valid (§5), else 0. */
static size_t ref_frame(const uint8_t *d, size_t avail, uint64_t n, struct ref *r)
{
	uint32_t count, payload;
	size_t pos = 0, got = 0;

	if (avail < 20 || memcmp(d, "SLF1", 4) != 0)
		return 0;
	count = (uint32_t)shelter_load_be(d + 4, 4);
	payload = (uint32_t)shelter_load_be(d + 16, 4);
	if (count == 0 || count > 65536 || payload < 2ull * count || payload > (16u << 20) ||
	    shelter_load_be(d + 8, 8) != n || avail - 20 < (size_t)payload + 32)
		return 0;
	while (pos < payload && payload - pos >= 2 &&
	       payload - pos - 2 >= shelter_load_be(d + 20 + pos, 2)) {
		pos += 2 + (size_t)shelter_load_be(d + 20 + pos, 2);
		got++;
	}
	if (pos != payload || got != count || !sha256_is(d, 20 + (size_t)payload, d + 20 + payload))
		return 0;
	for (pos = 0; pos < payload;) {
		size_t size = (size_t)shelter_load_be(d + 20 + pos, 2);

		ref_push(r, d + 20 + pos + 2, size);
		pos += 2 + size;
	}
	return 20 + (size_t)payload + 32;
}

static void ref_parse(const uint8_t *d, size_t size, struct ref *r)
{
	size_t off = 0, f;

	r->n = 0;
	r->end = 0;
	r->code = ref_header(d, size, &off);
	if (r->code != 0)
		return;
	while (off < size && (f = ref_frame(d + off, size - off, r->n, r)) != 0)
		off += f;
	r->end = off;
}

/* RFC 9162 §2.1.1 MTH(D[a:b]) over the reference's entries (and the appended one). */
static void ref_mth(const struct ref *r, uint64_t a, uint64_t b, uint8_t out[H])
{
	uint8_t l[H + H + 1];
	uint64_t k = 1;

	if (b - a == 1) {
		if (shelter_log_leaf_hash(r->entry[a], r->size[a], out) != 0)
			fz_die("leaf hash");
		return;
	}
	while (k << 1 < b - a)
		k <<= 1;
	l[0] = 0x01;
	ref_mth(r, a, a + k, l + 1);
	ref_mth(r, a + k, b, l + 1 + H);
	if (shelter_sha256(l, sizeof(l), out, NULL) != 0)
		fz_die("SHA-256");
}

static void ref_root(const struct ref *r, uint64_t m, uint8_t out[H])
{
	if (m == 0) {
		if (shelter_sha256("", 0, out, NULL) != 0)
			fz_die("SHA-256");
		return;
	}
	ref_mth(r, 0, m, out);
}

/* ---- one input ---- */

static void check_refusal(const char *what, int rc, const struct ref *r,
			  const struct shelter_err *err)
{
	if (rc != r->code)
		fz_die("%s answered %d (%s), the header says %d", what, rc, rc ? err->msg : "",
		       r->code);
	if (rc != 0 && err->msg[0] == '\0')
		fz_die("%s refused (%d) without a message", what, rc);
}

static void check_audit(const char *what, const char *note, size_t len, const struct ref *r,
			uint64_t n)
{
	struct shelter_log_checkpoint cp;
	struct shelter_err err;
	uint64_t entries = 12345;
	int rc;

	shelter_err_clear(&err);
	rc = shelter_log_audit(g_dir, &g_v, note, len, &entries, &cp, &err);
	if (g_verbose)
		fprintf(stderr, "  %s: %d %s, %" PRIu64 " entries\n", what, rc, err.msg, entries);
	check_refusal(what, rc, r, &err);
	if (rc == 0 && (entries != n || cp.size != (note != NULL ? 0 : n)))
		fz_die("%s: %" PRIu64 " entries under a checkpoint of %" PRIu64 ", want %" PRIu64,
		       what, entries, cp.size, n);
	if (rc != 0 && entries != 0)
		fz_die("%s refused but counted %" PRIu64 " entries", what, entries);
}

/* Entry i reads back, and its inclusion proofs at sizes i+1 and n verify against
 * the reference roots; the consistency proof from i+1 to n too. */
static void check_entry(struct shelter_log *log, const struct ref *r, uint64_t i, uint64_t n)
{
	static uint8_t buf[SHELTER_LOG_ENTRY_MAX];
	uint8_t proof[SHELTER_LOG_PROOF_MAX][H], leaf[H], root_m[H], root_n[H];
	const uint8_t (*p)[H] = (const uint8_t (*)[H])proof;
	struct shelter_err err;
	size_t size, count;

	if (shelter_log_get(log, i, buf, sizeof(buf), &size, &err) != 0)
		fz_die("get %" PRIu64 " of %" PRIu64 ": %s", i, n, err.msg);
	if (size != r->size[i] || memcmp(buf, r->entry[i], size) != 0)
		fz_die("entry %" PRIu64 " reads back other bytes", i);
	if (shelter_log_leaf_hash(buf, size, leaf) != 0)
		fz_die("leaf hash");
	ref_root(r, i + 1, root_m);
	ref_root(r, n, root_n);
	for (int k = 0; k < 2; k++) {
		uint64_t at = k == 0 ? n : i + 1;

		if (shelter_log_prove_inclusion(log, i, at, proof, &count, &err) != 0)
			fz_die("inclusion of %" PRIu64 " at %" PRIu64 ": %s", i, at, err.msg);
		if (shelter_log_verify_inclusion(leaf, i, at, p, count, k == 0 ? root_n : root_m,
						 &err) != 0)
			fz_die("inclusion of %" PRIu64 " at %" PRIu64 " does not verify: %s", i, at,
			       err.msg);
	}
	if (shelter_log_prove_consistency(log, i + 1, n, proof, &count, &err) != 0 ||
	    shelter_log_verify_consistency(i + 1, n, p, count, root_m, root_n, &err) != 0)
		fz_die("consistency %" PRIu64 " -> %" PRIu64 ": %s", i + 1, n, err.msg);
}

static void check_writer(struct ref *r)
{
	struct shelter_log_options o = { .dir = g_dir, .origin = FZ_LOG_ORIGIN,
					 .priv = fz_log_seed, .create = 0, .anchor = &g_none };
	static char note[SHELTER_LOG_NOTE_MAX];
	struct shelter_log_checkpoint cp;
	struct shelter_log *log = NULL;
	struct shelter_err err;
	uint8_t root[H], want[H], buf[64];
	uint64_t n = r->n, idx, size;
	size_t got;
	int rc;

	shelter_err_clear(&err);
	rc = shelter_log_open(&o, &log, &err);
	if (g_verbose)
		fprintf(stderr, "  open: %d %s, size %" PRIu64 "\n", rc, err.msg,
			log ? shelter_log_size(log) : 0);
	check_refusal("open", rc, r, &err);
	if (rc != 0) {
		if (log != NULL)
			fz_die("open refused but gave a handle");
		return;
	}
	if (shelter_log_size(log) != n)
		fz_die("open: %" PRIu64 " entries, the valid frames hold %" PRIu64,
		       shelter_log_size(log), n);
	if (file_size(g_log) != r->end)
		fz_die("open left a log of %" PRIu64 " bytes, the valid frames end at %" PRIu64,
		       file_size(g_log), r->end);
	ref_root(r, n, want);
	if (shelter_log_root(log, n, root, &err) != 0 || memcmp(root, want, H) != 0)
		fz_die("root at %" PRIu64 " is not the reference's (%s)", n, err.msg);
	if (shelter_log_checkpoint(log, note, sizeof(note), &size, &err) != 0 ||
	    shelter_log_checkpoint_open(note, strlen(note), &g_v, &cp, &err) != 0 ||
	    size != n || cp.size != n || memcmp(cp.root, want, H) != 0)
		fz_die("the writer's checkpoint does not say (%" PRIu64 ", reference root): %s", n,
		       err.msg);
	if (n > 0) {
		uint64_t pick[4] = { 0, n / 2, n - 1, (n * 7) / 11 };

		for (int k = 0; k < 4; k++)
			check_entry(log, r, pick[k], n);
	}
	if (shelter_log_get(log, n, buf, sizeof(buf), &got, &err) != SHELTER_E_NOENT)
		fz_die("entry %" PRIu64 " past the end is not NOENT", n);
	/* after the cut, the log takes a commit */
	if (shelter_log_append(log, APPENDED, strlen(APPENDED), &idx, &err) != 0 ||
	    shelter_log_sync(log, idx, &err) != 0)
		fz_die("append after open: %s", err.msg);
	if (idx != n || shelter_log_size(log) != n + 1)
		fz_die("appended entry got index %" PRIu64 ", size %" PRIu64 ", want %" PRIu64, idx,
		       shelter_log_size(log), n);
	ref_push(r, (const uint8_t *)APPENDED, strlen(APPENDED));
	check_entry(log, r, n, n + 1);
	if (shelter_log_close(log, &err) != 0)
		fz_die("close: %s", err.msg);
	check_audit("audit of the closed store", NULL, 0, r, n + 1);
}

/* Open the store (now n entries, no torn tail) anchored at size m with root; want
 * the answer the anchor deserves (§6.3 steps 4 and 5). */
static void check_anchored(uint64_t m, const uint8_t root[H], uint64_t n, int want)
{
	struct shelter_log_options o = { .dir = g_dir, .origin = FZ_LOG_ORIGIN,
					 .priv = fz_log_seed, .create = 0, .anchor = &g_held };
	struct shelter_log *log = NULL;
	struct shelter_err err;
	int rc;

	if (lg_checkpoint_sign(FZ_LOG_ORIGIN, m, root, fz_log_seed, g_pub, g_note, sizeof(g_note),
			       &g_note_len, NULL) != 0)
		fz_die("sign an anchor");
	shelter_err_clear(&err);
	rc = shelter_log_open(&o, &log, &err);
	if (g_verbose)
		fprintf(stderr, "  open anchored at %" PRIu64 ": %d %s\n", m, rc, err.msg);
	if (rc != want || (rc == 0 && shelter_log_size(log) != n))
		fz_die("open of %" PRIu64 " entries anchored at %" PRIu64 ": %d (%s), want %d", n, m,
		       rc, err.msg, want);
	if (rc != 0 && (log != NULL || strstr(err.msg, "TAMPER ALARM") == NULL))
		fz_die("tamper alarm %d without its words or with a handle: %s", rc, err.msg);
	if (shelter_log_close(log, &err) != 0)
		fz_die("close: %s", err.msg);
}

/* After check_writer: the store holds r->n entries, all valid. An anchor at half of
 * them with the right root opens; with a wrong root it is INTEGRITY; one entry
 * beyond the store is TRUNCATED. */
static void check_anchors(const struct ref *r)
{
	uint8_t root[H];
	uint64_t m = r->n / 2;

	ref_root(r, m, root);
	check_anchored(m, root, r->n, 0);
	if (m > 0) {
		root[m % H] ^= 0x10;
		check_anchored(m, root, r->n, SHELTER_E_INTEGRITY);
	}
	ref_root(r, r->n, root);
	check_anchored(r->n + 1, root, r->n, SHELTER_E_TRUNCATED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ref r = { 0 };
	int fd0 = fz_lowest_free_fd();

	if (unlink(g_ckpt) != 0 && errno != ENOENT)
		fz_die("remove %s: %s", g_ckpt, strerror(errno));
	fz_write_file(g_log, data, size);
	ref_parse(data, size, &r);
	if (g_verbose)
		fprintf(stderr, "input of %zu bytes: header %d, %" PRIu64 " entries, valid to %" PRIu64
			"\n", size, r.code, r.n, r.end);
	check_audit("audit (empty checkpoint)", g_empty, g_empty_len, &r, r.n);
	check_writer(&r);
	if (r.code == 0)
		check_anchors(&r);
	check_dir();
	if (fz_lowest_free_fd() != fd0)
		fz_die("a file descriptor outlived the input (lowest free %d, was %d)",
		       fz_lowest_free_fd(), fd0);
	free(r.entry);
	free(r.size);
	return 0;
}

/* ---- seeds ---- */

static void put_seed(const char *dir, const char *name, const void *buf, size_t size)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fz_write_file(path, buf, size);
	if (chmod(path, 0644) != 0)
		fz_die("chmod %s: %s", path, strerror(errno));
}

/* A store made by the library: count entries of sizes from sizes[] (cycled), synced
 * every `every`; returns its log file (malloc'ed). */
static uint8_t *make_log(const char *name, int count, int every, const size_t *sizes,
			 size_t nsizes, size_t *out_size)
{
	struct shelter_log_options o = { .origin = FZ_LOG_ORIGIN, .priv = fz_log_seed,
					 .create = 1, .anchor = &g_none };
	static uint8_t e[SHELTER_LOG_ENTRY_MAX];
	struct shelter_log *log;
	struct shelter_err err;
	char dir[400], path[420];
	uint64_t idx = 0;

	snprintf(dir, sizeof(dir), "%s/%s", fz_base, name);
	o.dir = dir;
	if (shelter_log_open(&o, &log, &err) != 0)
		fz_die("generator: open %s: %s", dir, err.msg);
	for (int i = 0; i < count; i++) {
		size_t size = sizes[(size_t)i % nsizes];

		for (size_t j = 0; j < size; j++)
			e[j] = (uint8_t)('a' + (i + (int)j) % 26);
		if (shelter_log_append(log, e, size, &idx, &err) != 0 ||
		    ((i + 1) % every == 0 && shelter_log_sync(log, idx, &err) != 0))
			fz_die("generator: append: %s", err.msg);
	}
	if (shelter_log_close(log, &err) != 0)
		fz_die("generator: close: %s", err.msg);
	snprintf(path, sizeof(path), "%s/log", dir);
	return fz_read_file(path, out_size);
}

/* A header (§4.1) for origin bytes (o of them) and pub, with a correct hash. */
static size_t header(uint8_t *out, const char *origin, size_t o, const uint8_t pub[32])
{
	memcpy(out, "SHLOG\0\0\1", 8);
	out[8] = (uint8_t)o;
	memcpy(out + 9, origin, o);
	memcpy(out + 9 + o, pub, 32);
	if (shelter_sha256(out, 9 + o + 32, out + 9 + o + 32, NULL) != 0)
		fz_die("SHA-256");
	return 9 + o + 64;
}

static void generate(const char *dir)
{
	static const size_t small[] = { 5, 0, 17, 1 }, one[] = { 1 }, none[] = { 0 };
	static uint8_t buf[1 << 16];
	uint8_t *log, other[32];
	size_t size, hsize = 9 + strlen(FZ_LOG_ORIGIN) + 64, first;

	log = make_log("empty", 0, 1, small, 4, &size);
	put_seed(dir, "log-empty", log, size);
	free(log);
	log = make_log("one", 1, 1, none, 1, &size);
	put_seed(dir, "log-one-empty-entry", log, size);
	free(log);

	/* three commits: 3, 4, 5 entries */
	log = make_log("three", 12, 4, small, 4, &size);
	put_seed(dir, "log-three-commits", log, size);
	first = hsize + 20 + shelter_load_be(log + hsize + 16, 4) + 32; /* end of frame 1 */
	memcpy(buf, log, size);
	put_seed(dir, "torn-half-frame", buf, size - 30);
	put_seed(dir, "torn-head-only", buf, first + 20);
	memcpy(buf + size, "SLF1\0\0\0\1", 8);
	put_seed(dir, "torn-slf1-head", buf, size + 8);
	memset(buf + size, 0, 64);
	put_seed(dir, "torn-zeros", buf, size + 64);
	memcpy(buf, log, size);
	buf[first + 25] ^= 0x08; /* an entry of frame 2: frames 2 and 3 are cut */
	put_seed(dir, "frame-2-bitflip", buf, size);
	memcpy(buf, log, size);
	buf[first + 15] ^= 0x01; /* frame 2's first index */
	put_seed(dir, "frame-2-first-index", buf, size);
	memcpy(buf, log, size);
	buf[first + 7] ^= 0x03; /* frame 2's count */
	put_seed(dir, "frame-2-count", buf, size);
	memcpy(buf, log, size);
	buf[hsize + 18] = 0xff; /* frame 1's payload size, past the file */
	put_seed(dir, "frame-1-payload-huge", buf, size);
	/* frame 2 twice: the copy starts at the wrong index */
	memcpy(buf, log, size);
	memcpy(buf + size, log + first, size - first);
	put_seed(dir, "frame-replayed", buf, size + size - first);

	/* the header: another origin, another key, a NUL in the origin, version 2, cut */
	memcpy(buf, log, size);
	if (shelter_ed25519_public((const uint8_t *)"another key, not the fuzz log's!",
				   other, NULL) != 0)
		fz_die("generator: key");
	put_seed(dir, "header-other-key",
		 buf, header(buf, FZ_LOG_ORIGIN, strlen(FZ_LOG_ORIGIN), other));
	put_seed(dir, "header-other-origin", buf, header(buf, "other.example/log", 17, g_pub));
	put_seed(dir, "header-origin-nul", buf,
		 header(buf, FZ_LOG_ORIGIN "\0x", strlen(FZ_LOG_ORIGIN) + 2, g_pub));
	memcpy(buf, log, size);
	buf[7] = 2;
	put_seed(dir, "header-version-2", buf, size);
	put_seed(dir, "header-cut", log, hsize - 1);
	memcpy(buf, log, size);
	buf[hsize - 1] ^= 0x40;
	put_seed(dir, "header-hash", buf, size);
	free(log);

	/* 300 one-byte entries in three commits: tile-1 holds one hash (§6.2) */
	log = make_log("tiles", 300, 100, one, 1, &size);
	put_seed(dir, "log-300-entries", log, size);
	free(log);
	/* 257 empty entries in one frame */
	log = make_log("empties", 257, 257, none, 1, &size);
	put_seed(dir, "log-257-empty-entries", log, size);
	free(log);

	/* the golden store of docs/formats/log.md §10: another log's header */
	log = fz_read_file("tests/vectors/log/store/log", &size);
	put_seed(dir, "golden-store-other-key", log, size);
	free(log);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SHELTER_FUZZ_SEEDS");
	uint8_t empty[H];
	char vk[512];

	(void)argc;
	(void)argv;
	g_verbose = getenv("SHELTER_FUZZ_VERBOSE") != NULL;
	if (shelter_ed25519_public(fz_log_seed, g_pub, NULL) != 0 ||
	    shelter_log_verifier_format(FZ_LOG_ORIGIN, g_pub, vk, sizeof(vk), NULL) != 0 ||
	    shelter_log_verifier_parse(vk, strlen(vk), &g_v, NULL) != 0 ||
	    shelter_sha256("", 0, empty, NULL) != 0 ||
	    lg_checkpoint_sign(FZ_LOG_ORIGIN, 0, empty, fz_log_seed, g_pub, g_empty,
			       sizeof(g_empty), &g_empty_len, NULL) != 0)
		fz_die("the fuzz key's verifier and empty checkpoint");
	fz_make_base();
	if (dir != NULL) {
		generate(dir);
		exit(0);
	}
	snprintf(g_dir, sizeof(g_dir), "%s/store", fz_base);
	snprintf(g_log, sizeof(g_log), "%s/log", g_dir);
	snprintf(g_ckpt, sizeof(g_ckpt), "%s/checkpoint", g_dir);
	if (mkdir(g_dir, 0700) != 0)
		fz_die("mkdir %s: %s", g_dir, strerror(errno));
	return 0;
}
