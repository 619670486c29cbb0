/* libFuzzer target: the parsers of the measurement module (docs/formats/
 * measurement.md; STYLE.md rule 17), each run on every input:
 *
 *   - §6 sigstruct: shelter_sigstruct_parse_verify, then shelter_measure_identity.
 *   - §2.1 ELF: measure_elf_inspect over the input as a file.
 *   - §2.2 loader output: measure_ldlist_parse over the input as text.
 *   - §3.3 volume paths: measure_volume_normalise over the input up to its first NUL.
 *   - §4.2 freshness binding: shelter_measure_freshness_parse, then the binding as a
 *     FRESHNESS record of a measured stream (measure_encode), once and twice.
 *
 * Properties checked with abort(): a sigstruct that verifies has exactly the §6.1
 * shape, its signer is SHA-256(public key), its identity is accepted for its own
 * measurement and refused (POLICY) for any other, and, when it carries the fuzz
 * key, signing its fields again gives back the input byte for byte (one encoding per
 * set of fields); refusals use only the documented codes and leave the output
 * zeroed; the ELF parser never asks to read outside the file and fills a
 * NUL-terminated interpreter path only with has_interp; every listed object has a
 * non-empty name and, without "=>", a name holding a '/'; a normalised volume path
 * is absolute, has no empty, "." or ".." component, and normalises to itself; an
 * accepted binding has 1 to 16 sorted, distinct measurements and known flags and
 * encodes back to the input byte for byte, a stream accepts its record exactly when
 * the parser accepts it, and a stream with two of them is refused (INVAL).
 *
 * Seed generator: SHELTER_FUZZ_SEEDS=DIR ./fuzz_sigstruct writes seeds made by the
 * real encoders (and a few hand-made ELF headers and loader outputs) into DIR and
 * exits (tests/fuzz/corpus/fuzz_sigstruct). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "measure/internal.h"
#include "shelter/crypto.h"
#include "shelter/measure.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_sigstruct"
#include "fixture.h"

/* RFC 8032 §7.1 test 1, as in tests/vectors/measurement/sigstruct-v1.key.hex */
static const uint8_t fz_sign_key[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};
static uint8_t fz_sign_pub[32];

static int all_zero(const void *p, size_t size)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < size; i++) {
		if (b[i] != 0)
			return 0;
	}
	return 1;
}

/* ---- §6 sigstruct ---- */

static void check_sigstruct(const uint8_t *data, size_t size)
{
	static const char charset[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				      "0123456789._-";
	struct shelter_sigstruct s;
	struct shelter_identity id;
	struct shelter_err err;
	uint8_t signer[32], other[32], again[SHELTER_SIGSTRUCT_SIZE];
	size_t n;
	int rc;

	shelter_err_clear(&err);
	rc = shelter_sigstruct_parse_verify(data, size, &s, &err);
	if (rc != 0) {
		if (rc != SHELTER_E_MALFORMED && rc != SHELTER_E_VERSION && rc != SHELTER_E_UNTRUSTED)
			fz_die("sigstruct refused with undocumented code %d", rc);
		if (!all_zero(&s, sizeof(s)) || err.msg[0] == '\0')
			fz_die("refused sigstruct left fields behind or no message");
		return;
	}
	n = strlen(s.product);
	if (size != SHELTER_SIGSTRUCT_SIZE || n == 0 || n > 63 || strspn(s.product, charset) != n ||
	    (s.flags & ~SHELTER_SIGSTRUCT_DEBUG) != 0)
		fz_die("accepted sigstruct breaks the §6.1 shape");
	if (shelter_sha256(s.public_key, 32, signer, NULL) != 0 || memcmp(signer, s.signer, 32) != 0)
		fz_die("signer is not SHA-256(public key)");
	if (shelter_measure_identity(s.measurement, data, size, &id, NULL) != 0 ||
	    memcmp(id.signer, s.signer, 32) != 0 || id.version != s.version ||
	    strcmp(id.product, s.product) != 0 ||
	    id.flags != ((s.flags & SHELTER_SIGSTRUCT_DEBUG) ? SHELTER_TEE_FLAG_DEBUG : 0u))
		fz_die("identity of an accepted sigstruct differs from its fields");
	memcpy(other, s.measurement, 32);
	other[0] ^= 0x80;
	if (shelter_measure_identity(other, data, size, &id, NULL) != SHELTER_E_POLICY)
		fz_die("identity accepted a sigstruct for another measurement");
	if (memcmp(s.public_key, fz_sign_pub, 32) == 0 &&
	    (shelter_sigstruct_sign(fz_sign_key, &s, again, NULL) != 0 ||
	     memcmp(again, data, SHELTER_SIGSTRUCT_SIZE) != 0))
		fz_die("re-signing the fields of an accepted sigstruct gave other bytes");
}

/* ---- §2.1 ELF ---- */

struct mem {
	const uint8_t *p;
	size_t size;
};

static int mem_read(void *ctx, uint64_t off, void *buf, size_t size, struct shelter_err *err)
{
	const struct mem *m = ctx;

	(void)err;
	if (off > m->size || size > m->size - off)
		fz_die("ELF parser read %zu bytes at %llu of a %zu-byte file", size,
		       (unsigned long long)off, m->size);
	memcpy(buf, m->p + off, size);
	return 0;
}

static void check_elf(const uint8_t *data, size_t size)
{
	static struct measure_elf e;
	struct mem m = { data, size };
	int rc = measure_elf_inspect(mem_read, &m, size, "fuzz", &e, NULL);

	if (rc != 0) {
		if (rc != SHELTER_E_INVAL && rc != SHELTER_E_MALFORMED)
			fz_die("ELF refused with undocumented code %d", rc);
		if (!all_zero(&e, sizeof(e)))
			fz_die("refused ELF left fields behind");
		return;
	}
	if (e.type != ET_EXEC && e.type != ET_DYN)
		fz_die("accepted ELF of type %u", e.type);
	if (memchr(e.interp, '\0', sizeof(e.interp)) == NULL)
		fz_die("interpreter path not NUL-terminated");
	if (e.has_interp ? e.interp[0] == '\0' : e.interp[0] != '\0')
		fz_die("has_interp disagrees with the interpreter path");
}

/* ---- §2.2 loader output ---- */

static void check_ldlist(const uint8_t *data, size_t size)
{
	struct measure_ldlist l;
	int rc = measure_ldlist_parse((const char *)data, size, &l, NULL);

	if (rc != 0) {
		if (rc != SHELTER_E_NOENT && rc != SHELTER_E_IO && rc != SHELTER_E_PROTO)
			fz_die("loader output refused with undocumented code %d", rc);
		if (l.count != 0 || l.v != NULL)
			fz_die("refused loader output left a list behind");
		return;
	}
	for (size_t i = 0; i < l.count; i++) {
		const struct measure_ldent *e = &l.v[i];

		if (e->name[0] == '\0' || (e->path != NULL && e->path[0] == '\0'))
			fz_die("listed object %zu has an empty name or path", i);
		if (e->path == NULL && strchr(e->name, '/') == NULL)
			fz_die("object %zu without a path has no '/' in its name", i);
		if (strchr(e->name, '\n') != NULL || (e->path && strchr(e->path, '\n') != NULL))
			fz_die("listed object %zu spans lines", i);
	}
	measure_ldlist_free(&l);
}

/* ---- §3.3 volume paths ---- */

static void check_volume(const uint8_t *data, size_t size)
{
	static char in[4096], out[4098], again[4098];
	size_t n = strnlen((const char *)data, size < sizeof(in) - 1 ? size : sizeof(in) - 1);

	memcpy(in, data, n);
	in[n] = '\0';
	if (measure_volume_normalise(in, out, sizeof(out), NULL) != 0)
		return;
	if (out[0] != '/' || strstr(out, "//") != NULL || strstr(out, "/./") != NULL ||
	    strstr(out, "/../") != NULL || (strlen(out) > 1 && out[strlen(out) - 1] == '/'))
		fz_die("normalised volume path '%s' is not normal", out);
	if (strlen(out) >= 2 && (strcmp(out + strlen(out) - 2, "/.") == 0 ||
				 (strlen(out) >= 3 && strcmp(out + strlen(out) - 3, "/..") == 0)))
		fz_die("normalised volume path '%s' ends in . or ..", out);
	if (measure_volume_normalise(out, again, sizeof(again), NULL) != 0 ||
	    strcmp(out, again) != 0)
		fz_die("normalising '%s' again changed it", out);
}

/* ---- §4.2 freshness binding ---- */

/* A stream of the smallest measurement with count copies of the binding value. */
static int encode_with(const uint8_t *v, size_t size, int count)
{
	static char hex[2 * SHELTER_MEASURE_FRESH_VALUE_MAX + 3];
	struct shelter_measure_report r = { 0 };
	uint8_t d[32] = { 0 }, *stream = NULL;
	size_t n = 0;
	int rc = 0;

	if (size > SHELTER_MEASURE_FRESH_VALUE_MAX + 1)
		size = SHELTER_MEASURE_FRESH_VALUE_MAX + 1;
	shelter_hex(v, size, hex);
	if (measure_report_add(&r, SHELTER_MEASURE_PROGRAM, "p", NULL, d, NULL) != 0 ||
	    measure_report_add(&r, SHELTER_MEASURE_INTERP, "i", NULL, d, NULL) != 0 ||
	    measure_report_add(&r, SHELTER_MEASURE_SHIELD, "absent", NULL, NULL, NULL) != 0 ||
	    measure_report_add(&r, SHELTER_MEASURE_ARG, "p", NULL, NULL, NULL) != 0)
		fz_die("report setup");
	for (int i = 0; i < count; i++)
		if (measure_report_add(&r, SHELTER_MEASURE_FRESHNESS, hex, NULL, NULL, NULL) != 0)
			fz_die("report setup");
	rc = measure_encode(&r, &stream, &n, NULL);
	if (rc == 0 && n != 22 + 4 * 6 + 32 + 33 + 1 + count * (6 + size))
		fz_die("stream of %zu bytes for a %zu-byte binding", n, size);
	free(stream);
	for (size_t i = 0; i < r.count; i++) {
		free(r.v[i].name);
		free(r.v[i].path);
	}
	free(r.v);
	return rc;
}

static void check_freshness(const uint8_t *data, size_t size)
{
	static struct shelter_measure_freshness f;
	uint8_t again[SHELTER_MEASURE_FRESH_VALUE_MAX];
	size_t n = 0;
	int rc = shelter_measure_freshness_parse(data, size, &f, NULL), enc;

	enc = encode_with(data, size, 1);
	if (rc != 0) {
		if (rc != SHELTER_E_MALFORMED)
			fz_die("binding refused with undocumented code %d", rc);
		if (!all_zero(&f, sizeof(f)))
			fz_die("refused binding left fields behind");
		if (enc != SHELTER_E_INVAL)
			fz_die("stream took a binding the parser refuses (%d)", enc);
		return;
	}
	if (f.endorser_count == 0 || f.endorser_count > SHELTER_MEASURE_FRESH_ENDORSERS_MAX ||
	    (f.flags & ~SHELTER_MEASURE_FRESH_ACCEPT_SIM) != 0)
		fz_die("accepted binding breaks the §4.2 shape");
	for (size_t i = 1; i < f.endorser_count; i++)
		if (memcmp(f.endorsers[i - 1], f.endorsers[i], 32) >= 0)
			fz_die("accepted binding's measurements are not sorted and distinct");
	if (shelter_measure_freshness_encode(&f, again, sizeof(again), &n, NULL) != 0 ||
	    n != size || memcmp(again, data, size) != 0)
		fz_die("an accepted binding encodes to other bytes");
	if (enc != 0)
		fz_die("stream refused a binding the parser accepts (%d)", enc);
	if (encode_with(data, size, 2) != SHELTER_E_INVAL)
		fz_die("stream took two bindings");
}

/* ---- seeds ---- */

static void seed(const char *dir, const char *name, const void *data, size_t size)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		fz_die("write seed '%s': %s", path, strerror(errno));
	close(fd);
}

static void put(uint8_t *p, uint64_t v, size_t n, int be)
{
	for (size_t i = 0; i < n; i++)
		p[be ? n - 1 - i : i] = (uint8_t)(v >> (8 * i));
}

/* A minimal ELF of the given class and byte order with a PT_INTERP (or none). */
static size_t elf_seed(uint8_t *buf, int is64, int be, const char *interp)
{
	size_t eh = is64 ? 64 : 52, ph = is64 ? 56 : 32, phnum = interp ? 2 : 1;
	size_t str = eh + phnum * ph, size = str + (interp ? strlen(interp) + 1 : 0);
	size_t w = is64 ? 8 : 4;

	memset(buf, 0, size);
	memcpy(buf, ELFMAG, SELFMAG);
	buf[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	buf[EI_DATA] = be ? ELFDATA2MSB : ELFDATA2LSB;
	buf[EI_VERSION] = EV_CURRENT;
	put(buf + 16, ET_DYN, 2, be);
	put(buf + 18, is64 ? EM_X86_64 : EM_PPC, 2, be);
	put(buf + 20, EV_CURRENT, 4, be);
	put(buf + (is64 ? 32 : 28), eh, w, be);
	put(buf + (is64 ? 54 : 42), ph, 2, be);
	put(buf + (is64 ? 56 : 44), phnum, 2, be);
	put(buf + eh, PT_LOAD, 4, be);
	if (interp != NULL) {
		uint8_t *p = buf + eh + ph;

		put(p, PT_INTERP, 4, be);
		put(p + (is64 ? 8 : 4), str, w, be);
		put(p + (is64 ? 32 : 16), strlen(interp) + 1, w, be);
		memcpy(buf + str, interp, strlen(interp) + 1);
	}
	return size;
}

static void generate(const char *dir)
{
	static const char list[] =
		"\tlinux-vdso.so.1 (0x00007ffd1b5f2000)\n"
		"\t/opt/shield/libshield.so (0x00007f19e35bf000)\n"
		"\tlibfoo.so => /tmp/x/libfoo.so (0x00007f19e35bf000)\n"
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f19e33d2000)\n"
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f19e35d3000)\n";
	static const char missing[] =
		"\tlibx.so => not found\n./p: error while loading shared libraries: liby.so: "
		"cannot open shared object file: Permission denied\n";
	static const char volume[] = "//data/./x//y/";
	struct shelter_sigstruct f;
	uint8_t s[SHELTER_SIGSTRUCT_SIZE], elf[256];

	memset(&f, 0, sizeof(f));
	memset(f.measurement, 0xab, sizeof(f.measurement));
	strcpy(f.product, "redis");
	f.version = 7;
	f.created = 1700000000;
	if (shelter_sigstruct_sign(fz_sign_key, &f, s, NULL) != 0)
		fz_die("sign seed");
	seed(dir, "sig-valid", s, sizeof(s));
	memset(f.product, 'p', 63);
	f.flags = SHELTER_SIGSTRUCT_DEBUG;
	f.version = UINT32_MAX;
	if (shelter_sigstruct_sign(fz_sign_key, &f, s, NULL) != 0)
		fz_die("sign seed");
	seed(dir, "sig-debug-long-product", s, sizeof(s));
	s[9] = 2;
	seed(dir, "sig-version-2", s, 64);
	seed(dir, "elf64-interp", elf, elf_seed(elf, 1, 0, "/lib64/ld-linux-x86-64.so.2"));
	seed(dir, "elf32be-interp", elf, elf_seed(elf, 0, 1, "/lib/ld.so.1"));
	seed(dir, "elf64-static", elf, elf_seed(elf, 1, 0, NULL));
	seed(dir, "ldlist", list, sizeof(list) - 1);
	seed(dir, "ldlist-missing", missing, sizeof(missing) - 1);
	seed(dir, "volume", volume, sizeof(volume) - 1);
	{
		struct shelter_measure_freshness b = { .flags = SHELTER_MEASURE_FRESH_ACCEPT_SIM,
						       .endorser_count = 3 };
		uint8_t v[SHELTER_MEASURE_FRESH_VALUE_MAX];
		size_t n = 0;

		memset(b.genesis, 0x11, 32);
		memset(b.provider, 0x22, 32);
		memset(b.endorsers[0], 0xbb, 32);
		memset(b.endorsers[1], 0xaa, 32);
		memset(b.endorsers[2], 0xcc, 32);
		if (shelter_measure_freshness_encode(&b, v, sizeof(v), &n, NULL) != 0)
			fz_die("binding seed");
		seed(dir, "freshness-binding", v, n);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SHELTER_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	if (shelter_ed25519_public(fz_sign_key, fz_sign_pub, NULL) != 0)
		fz_die("setup: Ed25519 public key");
	if (dir != NULL) {
		generate(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_sigstruct(data, size);
	check_elf(data, size);
	check_ldlist(data, size);
	check_volume(data, size);
	check_freshness(data, size);
	return 0;
}
