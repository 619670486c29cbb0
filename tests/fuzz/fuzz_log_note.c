/* libFuzzer target: the text parsers of the verifiable log (docs/formats/log.md §3;
 * STYLE.md rule 17), each run on every input:
 *
 *   - §3.2 verifier keys: shelter_log_verifier_parse over the whole input;
 *   - §3.2/§3.1 signed checkpoints: shelter_log_checkpoint_open over the whole input
 *     with the fuzz key's verifier (made once with shelter_log_verifier_format and
 *     parsed back), and, when the input's first line parses as a verifier key, over
 *     the rest of the input with that key (so a seed "vkey\nnote" reaches the
 *     signature path of any key, the golden vectors' for one);
 *   - strict base64 (src/lib/util/b64.h): shelter_b64_decode over the whole input
 *     with several output capacities, each into a buffer of exactly that size.
 *
 * Properties checked with abort():
 *   - every refusal uses a documented code, carries a message, and leaves the
 *     checkpoint output zeroed (set on success only, STYLE.md rule 12);
 *   - an accepted verifier key has a valid origin as its name, a key id that is the
 *     key's (§3.2), and formats back to the input (up to the case of the hex id);
 *   - an accepted checkpoint names the verifier's origin, a size below 2^63, and its
 *     note starts with exactly the canonical body "<origin>\n<size>\n<base64 root>\n"
 *     (no leading zero, one base64 spelling: the signed text is unique);
 *   - base64 decodes exactly the canonical encodings (an independent reference
 *     decoder here says which), to the reference's bytes, within the capacity only,
 *     and whatever decodes encodes back to the input byte for byte.
 *
 * SHELTER_FUZZ_VERBOSE=1 prints each call's outcome (to check what a seed reaches).
 *
 * Seed generator: SHELTER_FUZZ_SEEDS=DIR ./fuzz_log_note writes checkpoints signed
 * with the fuzz key (plain, cosigned, with an extension line, and signed-but-invalid
 * bodies that pass the signature and fail the body checks), damaged notes, verifier
 * keys and base64 strings into DIR and exits (tests/fuzz/corpus/fuzz_log_note). The
 * seeds "vkey-golden-checkpoint" and "vkey-c2sp-note" pair the verifier keys of
 * tests/vectors/log/ with their notes (run the generator from the top of the tree). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/internal.h"
#include "shelter/crypto.h"
#include "shelter/log.h"
#include "util/b64.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_log_note"
#include "fixture.h"

/* The fuzz log's key: fuzz_log_store uses the same seed and origin. */
#define FZ_LOG_ORIGIN "fuzz.shelter.example/log"
static const uint8_t fz_log_seed[32] = "shelter-fuzz-log-key-32-bytes!!";
static uint8_t g_pub[32];
static struct shelter_log_verifier g_v;
static int g_verbose; /* SHELTER_FUZZ_VERBOSE=1: one line per call (what a seed reaches) */

static int all_zero(const void *p, size_t size)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < size; i++) {
		if (b[i] != 0)
			return 0;
	}
	return 1;
}

/* ---- base64: an independent reference ---- */

static int ref_value(uint8_t c)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != 0 ? strchr(alphabet, c) : NULL;

	return p != NULL ? (int)(p - alphabet) : -1;
}

/* RFC 4648 §4 with padding, strict (§3 of log.md): 1 and the bytes when in is the
 * canonical encoding of something, 0 otherwise. out holds len / 4 * 3 bytes. */
static int ref_decode(const uint8_t *in, size_t len, uint8_t *out, size_t *out_size)
{
	size_t n = 0;

	*out_size = 0;
	if (len % 4 != 0)
		return 0;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		uint32_t bits = 0;

		for (int j = 0; j < 4; j++) {
			v[j] = ref_value(in[i + j]);
			if (in[i + j] == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (v[j] < 0 || pad > 0) {
				return 0; /* not base64, or data after a '=' */
			}
		}
		for (int j = 0; j < 4; j++)
			bits = bits << 6 | (uint32_t)v[j];
		/* the bits the pad characters stand for and the data does not use are 0 */
		if ((pad == 1 && (bits & 0xff) != 0) || (pad == 2 && (bits & 0xffff) != 0))
			return 0;
		out[n++] = (uint8_t)(bits >> 16);
		if (pad < 2)
			out[n++] = (uint8_t)(bits >> 8);
		if (pad < 1)
			out[n++] = (uint8_t)bits;
	}
	*out_size = n;
	return 1;
}

static void check_b64_cap(const uint8_t *data, size_t size, const uint8_t *want, size_t want_size,
			  int canonical, size_t cap)
{
	/* exactly cap bytes (1 for 0: malloc(0) may be NULL): ASan catches a write past it */
	uint8_t *out = malloc(cap ? cap : 1);
	char *again;
	size_t got = 12345;
	int rc;

	if (out == NULL)
		fz_die("out of memory");
	rc = shelter_b64_decode((const char *)data, size, out, cap, &got);
	if (rc != 0 && rc != -1)
		fz_die("b64 decode returned %d", rc);
	if (rc != 0) {
		if (got != 0)
			fz_die("b64 refusal left a size of %zu", got);
		if (canonical && want_size <= cap)
			fz_die("b64 refused a canonical encoding of %zu bytes (cap %zu)", want_size,
			       cap);
		free(out);
		return;
	}
	if (!canonical)
		fz_die("b64 accepted a non-canonical string of %zu characters", size);
	if (want_size > cap || got != want_size || memcmp(out, want, got) != 0)
		fz_die("b64 decoded %zu bytes (cap %zu), the reference %zu other bytes", got, cap,
		       want_size);
	again = malloc(SHELTER_B64_SIZE(got) + 1);
	if (again == NULL)
		fz_die("out of memory");
	if (shelter_b64_encode(out, got, again) != size || memcmp(again, data, size) != 0 ||
	    again[size] != '\0')
		fz_die("b64: what decoded does not encode back to the input");
	free(again);
	free(out);
}

static void check_b64(const uint8_t *data, size_t size)
{
	/* the capacities the log uses: root 32, verifier key 34, signature 69 */
	static const size_t caps[] = { 0, 1, 2, 3, 31, 32, 33, 34, 68, 69 };
	uint8_t *want = malloc(size / 4 * 3 + 1);
	size_t want_size = 0;
	int canonical;

	if (want == NULL)
		fz_die("out of memory");
	canonical = ref_decode(data, size, want, &want_size);
	check_b64_cap(data, size, want, want_size, canonical, size / 4 * 3);
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		check_b64_cap(data, size, want, want_size, canonical, caps[i]);
	if (canonical && want_size > 0) /* one byte short of what it needs */
		check_b64_cap(data, size, want, want_size, canonical, want_size - 1);
	free(want);
}

/* ---- §3.2 verifier keys ---- */

static int check_verifier(const uint8_t *data, size_t size, struct shelter_log_verifier *out)
{
	struct shelter_err err;
	uint8_t id[4];
	char again[SHELTER_LOG_ORIGIN_MAX + 80];
	size_t n;
	int rc;

	shelter_err_clear(&err);
	rc = shelter_log_verifier_parse((const char *)data, size, out, &err);
	if (g_verbose)
		fprintf(stderr, "  verifier key: %d %s\n", rc, err.msg);
	if (rc != 0) {
		if (rc != SHELTER_E_MALFORMED && rc != SHELTER_E_INTEGRITY)
			fz_die("verifier key refused with undocumented code %d: %s", rc, err.msg);
		if (err.msg[0] == '\0')
			fz_die("verifier key refused without a message");
		return rc;
	}
	if (lg_origin_check(out->name, NULL) != 0)
		fz_die("accepted verifier key has the name '%s', not an origin", out->name);
	lg_key_id(out->name, out->pub, id);
	if (memcmp(id, out->id, 4) != 0)
		fz_die("accepted verifier key has another key's id");
	if (shelter_log_verifier_format(out->name, out->pub, again, sizeof(again), &err) != 0)
		fz_die("accepted verifier key does not format: %s", err.msg);
	n = strlen(again);
	/* "<name>+<8 hex>+<base64>": the hex id may be in either case (shelter_unhex) */
	if (n != size || strncasecmp(again, (const char *)data, n) != 0 ||
	    memcmp(again, data, strlen(out->name) + 1) != 0 ||
	    memcmp(again + strlen(out->name) + 9, data + strlen(out->name) + 9,
		   n - strlen(out->name) - 9) != 0)
		fz_die("accepted verifier key formats back to '%s', not the input", again);
	return 0;
}

/* ---- §3 signed checkpoints ---- */

static void check_checkpoint(const char *note, size_t len, const struct shelter_log_verifier *v)
{
	struct shelter_log_checkpoint cp;
	struct shelter_err err;
	char body[SHELTER_LOG_ORIGIN_MAX + 80], root64[SHELTER_B64_SIZE(SHELTER_LOG_HASH) + 1];
	int rc, n;

	memset(&cp, 0xa5, sizeof(cp));
	shelter_err_clear(&err);
	rc = shelter_log_checkpoint_open(note, len, v, &cp, &err);
	if (g_verbose)
		fprintf(stderr, "  checkpoint (key %s): %d %s\n", v->name, rc, err.msg);
	if (rc != 0) {
		switch (rc) {
		case SHELTER_E_MALFORMED:
		case SHELTER_E_UNTRUSTED:
		case SHELTER_E_INTEGRITY:
		case SHELTER_E_POLICY:
			break;
		default:
			fz_die("checkpoint refused with undocumented code %d: %s", rc, err.msg);
		}
		if (err.msg[0] == '\0' || !all_zero(&cp, sizeof(cp)))
			fz_die("checkpoint refusal (%d) without a message or with output left", rc);
		return;
	}
	if (strcmp(cp.origin, v->name) != 0 || cp.size > INT64_MAX)
		fz_die("accepted checkpoint of '%s' size %" PRIu64 " for key '%s'", cp.origin,
		       cp.size, v->name);
	shelter_b64_encode(cp.root, SHELTER_LOG_HASH, root64);
	n = snprintf(body, sizeof(body), "%s\n%" PRIu64 "\n%s\n", cp.origin, cp.size, root64);
	if (n < 0 || (size_t)n >= sizeof(body) || (size_t)n > len ||
	    memcmp(note, body, (size_t)n) != 0)
		fz_die("accepted checkpoint does not start with its canonical body");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shelter_log_verifier own;
	const uint8_t *nl;

	check_b64(data, size);
	(void)check_verifier(data, size, &own);
	check_checkpoint((const char *)data, size, &g_v);
	nl = size > 0 ? memchr(data, '\n', size) : NULL;
	if (nl != NULL && check_verifier(data, (size_t)(nl - data), &own) == 0)
		check_checkpoint((const char *)nl + 1, size - (size_t)(nl - data) - 1, &own);
	return 0;
}

/* ---- seeds ---- */

static void put_seed(const char *dir, const char *name, const void *buf, size_t size)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, size) != (ssize_t)size)
		fz_die("write %s: %s", path, strerror(errno));
	close(fd);
}

static void put_str(const char *dir, const char *name, const char *s)
{
	put_seed(dir, name, s, strlen(s));
}

/* A signature line "— <key name> <base64(id || sig)>\n" over body by the fuzz key,
 * whose id is computed for id_name (normally key_name). */
static void sig_line_n(char *out, size_t cap, const char *body, size_t body_len,
		       const char *key_name, const char *id_name, const uint8_t seed[32])
{
	uint8_t sig[68], pub[32];
	char sig64[SHELTER_B64_SIZE(68) + 1];

	if (shelter_ed25519_public(seed, pub, NULL) != 0 ||
	    shelter_ed25519_sign(seed, body, body_len, sig + 4, NULL) != 0)
		fz_die("generator: sign");
	lg_key_id(id_name, pub, sig);
	shelter_b64_encode(sig, sizeof(sig), sig64);
	snprintf(out, cap, "\xe2\x80\x94 %s %s\n", key_name, sig64);
}

static void sig_line(char *out, size_t cap, const char *body, const char *key_name,
		     const char *id_name, const uint8_t seed[32])
{
	sig_line_n(out, cap, body, strlen(body), key_name, id_name, seed);
}

/* body (body_len bytes), blank line, the fuzz key's signature line */
static void put_signed_n(const char *dir, const char *name, const char *body, size_t body_len)
{
	char note[2048], line[256];

	sig_line_n(line, sizeof(line), body, body_len, FZ_LOG_ORIGIN, FZ_LOG_ORIGIN, fz_log_seed);
	if (body_len + 1 + strlen(line) > sizeof(note))
		fz_die("generator: note too long");
	memcpy(note, body, body_len);
	note[body_len] = '\n';
	memcpy(note + body_len + 1, line, strlen(line));
	put_seed(dir, name, note, body_len + 1 + strlen(line));
}

static void put_signed(const char *dir, const char *name, const char *body)
{
	put_signed_n(dir, name, body, strlen(body));
}

static char *slurp(const char *path)
{
	char *buf = calloc(1, 1 << 16);
	FILE *f = fopen(path, "r");

	if (buf == NULL || f == NULL)
		fz_die("generator: read %s", path);
	if (fread(buf, 1, (1 << 16) - 1, f) == 0)
		fz_die("generator: %s is empty", path);
	fclose(f);
	return buf;
}

/* tests/vectors/log/<name>: "# comment" lines, the verifier key, then the note */
static void put_vector(const char *dir, const char *name, const char *vector)
{
	char *text = slurp(vector), *p = text;

	while (*p == '#')
		p = strchr(p, '\n') + 1;
	put_str(dir, name, p);
	free(text);
}

static void generate(const char *dir)
{
	static const uint8_t witness[32] = "a witness key, not the log's..!";
	uint8_t root[32], zero[32] = { 0 };
	char root64[64], body[512], note[4096], line[256], line2[256], vk[512];
	size_t len;

	memset(root, 0x5a, sizeof(root));
	root[31] = 0x01;
	shelter_b64_encode(root, 32, root64);

	/* valid: the library's own signer */
	if (lg_checkpoint_sign(FZ_LOG_ORIGIN, 5, root, fz_log_seed, g_pub, note, sizeof(note),
			       &len, NULL) != 0)
		fz_die("generator: lg_checkpoint_sign");
	put_seed(dir, "cp-valid-5", note, len);
	if (shelter_sha256("", 0, zero, NULL) != 0 ||
	    lg_checkpoint_sign(FZ_LOG_ORIGIN, 0, zero, fz_log_seed, g_pub, note, sizeof(note),
			       &len, NULL) != 0)
		fz_die("generator: lg_checkpoint_sign");
	put_seed(dir, "cp-valid-empty-tree", note, len);
	if (lg_checkpoint_sign(FZ_LOG_ORIGIN, INT64_MAX, root, fz_log_seed, g_pub, note,
			       sizeof(note), &len, NULL) != 0)
		fz_die("generator: lg_checkpoint_sign");
	put_seed(dir, "cp-valid-max-size", note, len);

	/* valid: an extension line; a witness cosignature before and after ours */
	snprintf(body, sizeof(body), FZ_LOG_ORIGIN "\n42\n%s\nextension: anything\n", root64);
	put_signed(dir, "cp-valid-extension", body);
	snprintf(body, sizeof(body), FZ_LOG_ORIGIN "\n42\n%s\n", root64);
	sig_line(line, sizeof(line), body, FZ_LOG_ORIGIN, FZ_LOG_ORIGIN, fz_log_seed);
	sig_line(line2, sizeof(line2), body, "witness.example/w", "witness.example/w", witness);
	snprintf(note, sizeof(note), "%s\n%s%s", body, line2, line);
	put_str(dir, "cp-valid-cosigned", note);
	snprintf(note, sizeof(note), "%s\n%s%s", body, line, line2);
	put_str(dir, "cp-valid-cosigned-after", note);

	/* refused by the signature checks */
	snprintf(note, sizeof(note), "%s\n%s", body, line2);
	put_str(dir, "cp-witness-only", note); /* UNTRUSTED */
	snprintf(note, sizeof(note), "%s\n%s", body, line);
	note[strlen(note) - 10] ^= 0x01; /* a base64 character of the signature */
	put_str(dir, "cp-bad-signature", note);
	snprintf(note, sizeof(note), "%s\n%s", body, line);
	note[3] ^= 0x20; /* the body, under a signature that covered the original */
	put_str(dir, "cp-body-changed", note);
	sig_line(line2, sizeof(line2), body, FZ_LOG_ORIGIN, "another.example/log", fz_log_seed);
	snprintf(note, sizeof(note), "%s\n%s", body, line2);
	put_str(dir, "cp-other-key-id", note); /* same name, another id: UNTRUSTED */

	/* signed by the fuzz key, refused by the body checks of §3.1 */
	snprintf(body, sizeof(body), "other.example/log\n42\n%s\n", root64);
	put_signed(dir, "cp-signed-other-origin", body); /* POLICY */
	snprintf(body, sizeof(body), FZ_LOG_ORIGIN "\n042\n%s\n", root64);
	put_signed(dir, "cp-signed-leading-zero", body);
	snprintf(body, sizeof(body), FZ_LOG_ORIGIN "\n9223372036854775808\n%s\n", root64);
	put_signed(dir, "cp-signed-size-2p63", body);
	put_signed(dir, "cp-signed-root-31-bytes",
		   FZ_LOG_ORIGIN "\n7\nWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWg==\n");
	snprintf(body, sizeof(body), FZ_LOG_ORIGIN "\n7\n%s", root64);
	body[strlen(body) - 2] = 'F'; /* "...AQ=" -> "...AF=": non-zero pad bits */
	strcat(body, "\n");
	put_signed(dir, "cp-signed-root-pad-bits", body);
	put_signed(dir, "cp-signed-two-lines", FZ_LOG_ORIGIN "\n7\n");
	/* an origin line with a NUL: strlen would see the fuzz origin (accepted before
	 * the length checks in note.c) */
	len = (size_t)snprintf(body, sizeof(body), FZ_LOG_ORIGIN "#x\n7\n%s\n", root64);
	body[strlen(FZ_LOG_ORIGIN)] = '\0';
	put_signed_n(dir, "cp-signed-origin-nul", body, len);

	/* layout */
	put_str(dir, "note-no-blank-line", FZ_LOG_ORIGIN "\n7\nroot\n\xe2\x80\x94 x AAAA\n");
	put_str(dir, "note-no-final-newline", FZ_LOG_ORIGIN "\n7\nroot\n\n\xe2\x80\x94 x AAAAAA==");
	put_str(dir, "note-sig-line-no-dash", FZ_LOG_ORIGIN "\n7\nroot\n\n- x AAAAAA==\n");
	put_str(dir, "note-sig-line-no-name", FZ_LOG_ORIGIN "\n7\nroot\n\n\xe2\x80\x94  AAAAAA==\n");
	{
		size_t n = (size_t)snprintf(note, sizeof(note), "%s\n", body);

		for (int i = 0; i < 101 && n + 24 < sizeof(note); i++)
			n += (size_t)snprintf(note + n, sizeof(note) - n,
					      "\xe2\x80\x94 w%d AAAAAAA=\n", i % 10);
		put_seed(dir, "note-101-signatures", note, n);
	}

	/* verifier keys, and a key line before a note */
	if (shelter_log_verifier_format(FZ_LOG_ORIGIN, g_pub, vk, sizeof(vk), NULL) != 0)
		fz_die("generator: verifier_format");
	put_str(dir, "vkey-fuzz", vk);
	memcpy(note, vk, strlen(vk));
	memcpy(note + strlen(FZ_LOG_ORIGIN), "\0x", 2); /* a NUL in the name */
	memcpy(note + strlen(FZ_LOG_ORIGIN) + 2, vk + strlen(FZ_LOG_ORIGIN), strlen(vk) -
	       strlen(FZ_LOG_ORIGIN));
	put_seed(dir, "vkey-name-nul", note, strlen(vk) + 2);
	vk[strlen(FZ_LOG_ORIGIN) + 3] = 'X';
	put_str(dir, "vkey-bad-hex", vk);
	put_str(dir, "vkey-c2sp-unknown-type", "example.com/foo+530d903a+AgyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2kA");
	put_vector(dir, "vkey-golden-checkpoint", "tests/vectors/log/checkpoint.txt");
	put_vector(dir, "vkey-c2sp-note", "tests/vectors/log/note.txt");

	/* base64 */
	put_str(dir, "b64-one-byte", "AA==");
	put_str(dir, "b64-pad-bits", "AB==");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SHELTER_FUZZ_SEEDS");
	char vk[512];

	(void)argc;
	(void)argv;
	g_verbose = getenv("SHELTER_FUZZ_VERBOSE") != NULL;
	if (shelter_ed25519_public(fz_log_seed, g_pub, NULL) != 0 ||
	    shelter_log_verifier_format(FZ_LOG_ORIGIN, g_pub, vk, sizeof(vk), NULL) != 0 ||
	    shelter_log_verifier_parse(vk, strlen(vk), &g_v, NULL) != 0)
		fz_die("the fuzz key's verifier");
	if (dir != NULL) {
		generate(dir);
		exit(0);
	}
	return 0;
}
