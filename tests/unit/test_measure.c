/* Unit tests for measurements and sigstructs (include/shelter/measure.h,
 * docs/formats/measurement.md): refusals first (non-ELF, static, malformed ELF,
 * bad interpreters, bad manifests, bad loader output), then the known-answer vectors
 * of tests/vectors/measurement/ (computed there with printf, sha256sum and openssl),
 * the sensitivity of the digest to every input and its insensitivity to order and
 * spelling where §3 says so, and sigstruct tamper and truncation sweeps.
 *
 * Run from the repository root (tests/run.sh does): the vectors are read from
 * tests/vectors/measurement/. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "measure/internal.h"
#include "shelter/crypto.h"
#include "shelter/measure.h"
#include "../test.h"

#define VEC_DIR "tests/vectors/measurement/"
#define TRUE_BIN "/bin/true"

static char tmp[256];

static void tmp_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmp, name);
}

static int write_file(const char *path, const void *data, size_t size, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, data, size) == (ssize_t)size;
	close(fd);
	return ok ? 0 : -1;
}

/* Read a whole (small) file; malloc'd, caller frees. */
static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	*size = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*size = (size_t)n;
	}
	fclose(f);
	return buf;
}

static int copy_file(const char *from, const char *to, const char *append)
{
	size_t size;
	uint8_t *buf = read_file(from, &size);
	int rc;

	if (buf == NULL)
		return -1;
	rc = write_file(to, buf, size, 0755);
	free(buf);
	if (rc == 0 && append != NULL) {
		int fd = open(to, O_WRONLY | O_APPEND | O_CLOEXEC);

		rc = fd >= 0 && write(fd, append, strlen(append)) == (ssize_t)strlen(append) ? 0 : -1;
		if (fd >= 0)
			close(fd);
	}
	return rc;
}

/* A hand-made ELF64 little-endian x86-64 file: one PT_LOAD, and PT_INTERP segments
 * naming interp (NULL: none) interp_count times. interp_size overrides p_filesz
 * when not 0. Returns the file size. */
static size_t make_elf(uint8_t *buf, size_t cap, uint16_t type, const char *interp,
		       int interp_count, size_t interp_size)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	size_t phnum = 1 + (interp != NULL ? (size_t)interp_count : 0);
	size_t str_off = sizeof(eh) + phnum * sizeof(ph);
	size_t size = str_off + (interp != NULL ? strlen(interp) + 1 : 0);

	if (size > cap)
		return 0;
	memset(buf, 0, cap);
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = type;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = (uint16_t)phnum;
	memcpy(buf, &eh, sizeof(eh));
	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_LOAD;
	ph.p_filesz = ph.p_memsz = size;
	memcpy(buf + sizeof(eh), &ph, sizeof(ph));
	for (size_t i = 1; i < phnum; i++) {
		ph.p_type = PT_INTERP;
		ph.p_offset = str_off;
		ph.p_filesz = ph.p_memsz = interp_size ? interp_size : strlen(interp) + 1;
		memcpy(buf + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
	}
	if (interp != NULL)
		memcpy(buf + str_off, interp, strlen(interp) + 1);
	return size;
}

/* Measure program with argv {argv0} and the given shield. */
static int measure_simple(const char *program, const char *argv0, const char *shield,
			  uint8_t out[32], struct shelter_err *err)
{
	const char *argv[1] = { argv0 };
	struct shelter_measure_opts o = { .program = program, .argv = argv, .argc = 1,
					  .shield = shield };

	return shelter_measure(&o, out, NULL, err);
}

static int msg_has(const struct shelter_err *err, const char *s)
{
	if (strstr(err->msg, s) != NULL)
		return 1;
	fprintf(stderr, "  message '%s' lacks '%s'\n", err->msg, s);
	return 0;
}

/* ---- refusals: arguments and programs ---- */

static void measure_rejects_null(void)
{
	struct shelter_measure_opts o = { 0 };
	struct shelter_measure_report *r = (void *)1;
	uint8_t d[32];

	CHECK_RC(shelter_measure(NULL, d, NULL, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_measure(&o, d, &r, NULL), SHELTER_E_INVAL);
	CHECK(r == NULL);
	o.program = TRUE_BIN;
	CHECK_RC(shelter_measure(&o, NULL, NULL, NULL), SHELTER_E_INVAL);
}

static void measure_refuses_missing_program(void)
{
	struct shelter_err err;
	char p[512];
	uint8_t d[32];

	tmp_path(p, sizeof(p), "no-such-program");
	shelter_err_clear(&err);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_NOENT);
	CHECK(msg_has(&err, "no-such-program"));
}

static void measure_refuses_non_elf(void)
{
	static const char script[] = "#!/bin/sh\nexit 0\n";
	struct shelter_err err;
	char p[512];
	uint8_t d[32];

	tmp_path(p, sizeof(p), "script.sh");
	CHECK(write_file(p, script, strlen(script), 0755) == 0);
	shelter_err_clear(&err);
	CHECK_RC(measure_simple(p, "script.sh", NULL, d, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "not an ELF file"));
	tmp_path(p, sizeof(p), "empty");
	CHECK(write_file(p, "", 0, 0755) == 0);
	CHECK_RC(measure_simple(p, "empty", NULL, d, &err), SHELTER_E_INVAL);
	CHECK_RC(measure_simple(tmp, "dir", NULL, d, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "not a regular file"));
}

static void measure_refuses_static(void)
{
	uint8_t elf[512];
	struct shelter_err err;
	char p[512];
	uint8_t d[32];
	size_t n;

	tmp_path(p, sizeof(p), "static");
	n = make_elf(elf, sizeof(elf), ET_EXEC, NULL, 0, 0);
	CHECK(n > 0 && write_file(p, elf, n, 0755) == 0);
	shelter_err_clear(&err);
	CHECK_RC(measure_simple(p, "static", NULL, d, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "static binary"));
	CHECK(msg_has(&err, "shield"));
	/* static-pie, or a shared library: ET_DYN without PT_INTERP */
	n = make_elf(elf, sizeof(elf), ET_DYN, NULL, 0, 0);
	CHECK(n > 0 && write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "static", NULL, d, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "no ELF interpreter"));
}

static void measure_refuses_malformed_elf(void)
{
	uint8_t elf[512];
	struct shelter_err err;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
	char p[512];
	uint8_t d[32];
	size_t n;

	tmp_path(p, sizeof(p), "bad-elf");
	shelter_err_clear(&err);
	/* every truncation of a valid header, from just past the magic */
	n = make_elf(elf, sizeof(elf), ET_EXEC, "/lib64/ld-linux-x86-64.so.2", 1, 0);
	CHECK(n > 0);
	for (size_t cut = SELFMAG; cut < n; cut++) {
		CHECK(write_file(p, elf, cut, 0755) == 0);
		CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_MALFORMED);
	}
	/* PT_INTERP without its NUL, with an interior NUL, twice, and too long */
	n = make_elf(elf, sizeof(elf), ET_EXEC, "/lib64/ld-linux-x86-64.so.2", 1,
		     strlen("/lib64/ld-linux-x86-64.so.2"));
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_MALFORMED);
	CHECK(msg_has(&err, "PT_INTERP"));
	n = make_elf(elf, sizeof(elf), ET_EXEC, "/lib64/ld-linux-x86-64.so.2", 1, 0);
	elf[n - 5] = '\0';
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_MALFORMED);
	n = make_elf(elf, sizeof(elf), ET_EXEC, "/lib64/ld-linux-x86-64.so.2", 2, 0);
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_MALFORMED);
	CHECK(msg_has(&err, "more than one PT_INTERP"));
	n = make_elf(elf, sizeof(elf), ET_EXEC, "/x", 1, 1u << 20);
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_MALFORMED);
	/* header fields: class, byte order, phentsize, phnum, phoff, type */
	n = make_elf(elf, sizeof(elf), ET_EXEC, "/lib64/ld-linux-x86-64.so.2", 1, 0);
	elf[EI_CLASS] = 7;
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_MALFORMED);
	elf[EI_CLASS] = ELFCLASS64;
	elf[EI_DATA] = 9;
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_MALFORMED);
	elf[EI_DATA] = ELFDATA2LSB;
	eh->e_phentsize = 55;
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_MALFORMED);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 0;
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_MALFORMED);
	eh->e_phnum = 2;
	eh->e_phoff = UINT64_MAX - 8;
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_MALFORMED);
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_type = ET_REL;
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "not an executable"));
}

static void measure_refuses_bad_interpreter(void)
{
	uint8_t elf[512];
	struct shelter_err err;
	char p[512];
	uint8_t d[32];
	size_t n;

	tmp_path(p, sizeof(p), "bad-interp");
	shelter_err_clear(&err);
	n = make_elf(elf, sizeof(elf), ET_EXEC, "/nonexistent/ld.so", 1, 0);
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_NOENT);
	CHECK(msg_has(&err, "/nonexistent/ld.so"));
	n = make_elf(elf, sizeof(elf), ET_EXEC, "lib/ld.so", 1, 0);
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "not an absolute path"));
	/* an executable is not a loader: it is never run in its place */
	n = make_elf(elf, sizeof(elf), ET_EXEC, TRUE_BIN, 1, 0);
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "not a dynamic loader"));
	n = make_elf(elf, sizeof(elf), ET_EXEC, "/etc/passwd", 1, 0);
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "not an ELF file"));
}

static void measure_refuses_bad_shield(void)
{
	struct shelter_err err;
	char p[512];
	uint8_t d[32];

	shelter_err_clear(&err);
	tmp_path(p, sizeof(p), "no-such-shield.so");
	CHECK_RC(measure_simple(TRUE_BIN, "true", p, d, &err), SHELTER_E_NOENT);
	CHECK(msg_has(&err, "shield"));
	tmp_path(p, sizeof(p), "shield.txt");
	CHECK(write_file(p, "not a library\n", 14, 0644) == 0);
	CHECK_RC(measure_simple(TRUE_BIN, "true", p, d, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "not an ELF file"));
	tmp_path(p, sizeof(p), "shield:colon.so");
	CHECK(copy_file(TRUE_BIN, p, NULL) == 0);
	CHECK_RC(measure_simple(TRUE_BIN, "true", p, d, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "preload list"));
	/* a PIE executable is ET_DYN but cannot be preloaded: the loader says so and
	 * that output is refused, never ignored */
	CHECK_RC(measure_simple(TRUE_BIN, "true", TRUE_BIN, d, &err), SHELTER_E_PROTO);
	CHECK(msg_has(&err, "dynamic loader"));
}

static void manifest_refusals(void)
{
	const char *argv[2] = { "true", NULL };
	const char *bad_name[1] = { "A=B" }, *empty_name[1] = { "" };
	const char *bad_fixed[1] = { "NOEQUALS" }, *empty_fixed_name[1] = { "=v" };
	const char *twice[2] = { "K=1", "K=2" }, *names[1] = { "K" }, *fixed[1] = { "K=1" };
	const char *rel[1] = { "data" }, *dotdot[1] = { "/data/../etc" };
	struct shelter_measure_opts o = { .program = TRUE_BIN, .argv = argv, .argc = 1 };
	struct shelter_err err;
	uint8_t d[32];

	shelter_err_clear(&err);
	o.argc = 2; /* argv[1] is NULL */
	CHECK_RC(shelter_measure(&o, d, NULL, &err), SHELTER_E_INVAL);
	o.argc = 1;
	o.env_names = bad_name;
	o.env_names_count = 1;
	CHECK_RC(shelter_measure(&o, d, NULL, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "contains '='"));
	o.env_names = empty_name;
	CHECK_RC(shelter_measure(&o, d, NULL, &err), SHELTER_E_INVAL);
	o.env_names = NULL;
	CHECK_RC(shelter_measure(&o, d, NULL, &err), SHELTER_E_INVAL); /* NULL list, count 1 */
	o.env_names_count = 0;
	o.env_fixed = bad_fixed;
	o.env_fixed_count = 1;
	CHECK_RC(shelter_measure(&o, d, NULL, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "NAME=VALUE"));
	o.env_fixed = empty_fixed_name;
	CHECK_RC(shelter_measure(&o, d, NULL, &err), SHELTER_E_INVAL);
	o.env_fixed = twice;
	o.env_fixed_count = 2;
	CHECK_RC(shelter_measure(&o, d, NULL, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "'K' is fixed to two values"));
	o.env_fixed = fixed;
	o.env_fixed_count = 1;
	o.env_names = names;
	o.env_names_count = 1;
	CHECK_RC(shelter_measure(&o, d, NULL, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "both fixed and allowed"));
	o.env_names_count = 0;
	o.env_fixed_count = 0;
	o.volumes = rel;
	o.volume_count = 1;
	CHECK_RC(shelter_measure(&o, d, NULL, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "not absolute"));
	o.volumes = dotdot;
	CHECK_RC(shelter_measure(&o, d, NULL, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "'..'"));
}

/* ---- the loader's output (§2.2) ---- */

static void ldlist_refusals(void)
{
	static const struct {
		const char *text;
		int want;
		const char *msg;
	} cases[] = {
		{ "\tlibfoo.so => not found\n", SHELTER_E_NOENT, "library 'libfoo.so'" },
		{ "./p: error while loading shared libraries: libbar.so.2: cannot open shared "
		  "object file: No such file or directory\n", SHELTER_E_NOENT, "'libbar.so.2'" },
		{ "./p: error while loading shared libraries: libbaz.so: cannot open shared "
		  "object file: Permission denied\n", SHELTER_E_IO,
		  "library 'libbaz.so': the dynamic loader cannot open it: Permission denied" },
		{ "\tlibc.so.6 => /lib/libc.so.6 (0x00007f)", SHELTER_E_PROTO, "unterminated" },
		{ "\tlibc.so.6 => /lib/libc.so.6 (0x7fZZ)\n", SHELTER_E_PROTO, "unexpected" },
		{ "\tlibc.so.6 => /lib/libc.so.6\n", SHELTER_E_PROTO, "unexpected" },
		{ "\tlibc.so.6 => /lib/libc.so.6 (0x)\n", SHELTER_E_PROTO, "unexpected" },
		{ "\t => /lib/libc.so.6 (0x1)\n", SHELTER_E_PROTO, "unexpected" },
		{ "\tlibc.so.6 =>  (0x1)\n", SHELTER_E_PROTO, "unexpected" },
		{ "\tlibc.so.6 (0x1)\n", SHELTER_E_PROTO, "unexpected" },
		{ "\t (0x1)\n", SHELTER_E_PROTO, "unexpected" },
		{ "ERROR: ld.so: object 'x' from --preload cannot be preloaded: ignored.\n",
		  SHELTER_E_PROTO, "ERROR: ld.so" },
		{ "\tstatically linked\n", SHELTER_E_PROTO, "unexpected" },
		{ "\tlib\001.so => /a (0x1)\n\tlibz => /z\n", SHELTER_E_PROTO, "libz" },
	};
	struct measure_ldlist l;
	struct shelter_err err;
	static const char nul[] = "\t/lib/a\0b (0x1)\n";

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		shelter_err_clear(&err);
		CHECK_RC(measure_ldlist_parse(cases[i].text, strlen(cases[i].text), &l, &err),
			 cases[i].want);
		CHECK(l.count == 0 && l.v == NULL);
		CHECK(msg_has(&err, cases[i].msg));
	}
	CHECK_RC(measure_ldlist_parse(nul, sizeof(nul) - 1, &l, &err), SHELTER_E_PROTO);
	CHECK(msg_has(&err, "NUL"));
	CHECK_RC(measure_ldlist_parse(NULL, 1, &l, &err), SHELTER_E_INVAL);
}

static void ldlist_parses_objects(void)
{
	static const char text[] =
		"\tlinux-vdso.so.1 (0x00007ffd1b5f2000)\n"
		"\t/opt/shield/libshield.so (0x00007f19e35bf000)\n"
		"\tlibfoo.so => /tmp/x/./libfoo.so (0x00007f19e35bf000)\n"
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f19e33d2000)\n"
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f19e35d3000)\n";
	struct measure_ldlist l;

	CHECK_OK(measure_ldlist_parse(text, strlen(text), &l, NULL));
	CHECK(l.count == 4);
	CHECK(strcmp(l.v[0].name, "/opt/shield/libshield.so") == 0 && l.v[0].path == NULL);
	CHECK(strcmp(l.v[1].name, "libfoo.so") == 0 &&
	      strcmp(l.v[1].path, "/tmp/x/./libfoo.so") == 0);
	CHECK(strcmp(l.v[2].name, "libc.so.6") == 0);
	CHECK(strcmp(l.v[3].name, "/lib64/ld-linux-x86-64.so.2") == 0 && l.v[3].path == NULL);
	measure_ldlist_free(&l);
	CHECK(l.count == 0 && l.v == NULL);
	CHECK_OK(measure_ldlist_parse("", 0, &l, NULL));
	CHECK(l.count == 0);
	measure_ldlist_free(&l);
	measure_ldlist_free(NULL);
}

/* ---- §3.3 volume paths ---- */

static void volume_normalisation(void)
{
	static const char *const cases[][2] = {
		{ "/", "/" },           { "//", "/" },           { "/./", "/" },
		{ "/data", "/data" },   { "/data/", "/data" },   { "//data//x/", "/data/x" },
		{ "/a/./b/.", "/a/b" }, { "/a/.b/..c", "/a/.b/..c" },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_OK(measure_volume_normalise(cases[i][0], out, sizeof(out), NULL));
		CHECK(strcmp(out, cases[i][1]) == 0);
	}
	CHECK_RC(measure_volume_normalise("/a/..", out, sizeof(out), NULL), SHELTER_E_INVAL);
	CHECK_RC(measure_volume_normalise("a/b", out, sizeof(out), NULL), SHELTER_E_INVAL);
	CHECK_RC(measure_volume_normalise("", out, sizeof(out), NULL), SHELTER_E_INVAL);
	CHECK_RC(measure_volume_normalise("/abcdef", out, 4, NULL), SHELTER_E_NAMETOOLONG);
}

/* The public launcher checks: the same refusals as shelter_measure, no loader run. */
static void check_program_refusals(void)
{
	uint8_t elf[512];
	struct shelter_err err;
	char p[512], out[64];
	size_t n;

	CHECK_RC(shelter_measure_check_program(NULL, NULL), SHELTER_E_INVAL);
	tmp_path(p, sizeof(p), "check-script");
	CHECK(write_file(p, "#!/bin/sh\n", 10, 0755) == 0);
	shelter_err_clear(&err);
	CHECK_RC(shelter_measure_check_program(p, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "not an ELF file"));
	tmp_path(p, sizeof(p), "check-static");
	n = make_elf(elf, sizeof(elf), ET_EXEC, NULL, 0, 0);
	CHECK(n > 0 && write_file(p, elf, n, 0755) == 0);
	CHECK_RC(shelter_measure_check_program(p, &err), SHELTER_E_INVAL);
	CHECK(msg_has(&err, "static binary"));
	CHECK_RC(shelter_measure_check_program(tmp, &err), SHELTER_E_INVAL);
	CHECK_OK(shelter_measure_check_program("/bin/true", &err));
	CHECK_RC(shelter_measure_normalise_volume(NULL, out, sizeof(out), NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_measure_normalise_volume("/a/../b", out, sizeof(out), NULL),
		 SHELTER_E_INVAL);
	CHECK(out[0] == '\0');
	CHECK_OK(shelter_measure_normalise_volume("//data/./x/", out, sizeof(out), NULL));
	CHECK(strcmp(out, "/data/x") == 0);
}

/* ---- known-answer vectors (tests/vectors/measurement/make-vectors.sh) ---- */

static int file_digest(const char *path, uint8_t out[32])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = measure_fd_digest(fd, path, out, NULL);
	close(fd);
	return rc;
}

/* Compare the encoding of r with VEC_DIR name.stream and name.sha256. */
static int check_vector(const struct shelter_measure_report *r, const char *name)
{
	char path[256], hex[65];
	uint8_t *stream = NULL, *want = NULL, *want_hex = NULL, d[32];
	size_t size = 0, want_size = 0, hex_size = 0;
	int ok = 0;

	snprintf(path, sizeof(path), VEC_DIR "%s.stream", name);
	want = read_file(path, &want_size);
	snprintf(path, sizeof(path), VEC_DIR "%s.sha256", name);
	want_hex = read_file(path, &hex_size);
	if (want == NULL || want_hex == NULL || hex_size < 64) {
		fprintf(stderr, "  vector %s missing: run from the repository root\n", name);
		goto out;
	}
	if (measure_encode(r, &stream, &size, NULL) != 0 ||
	    shelter_sha256(stream, size, d, NULL) != 0)
		goto out;
	shelter_hex(d, 32, hex);
	if (size != want_size || memcmp(stream, want, size) != 0) {
		for (size_t i = 0; i < size && i < want_size; i++) {
			if (stream[i] != want[i]) {
				fprintf(stderr, "  %s: stream differs at byte %zu\n", name, i);
				break;
			}
		}
		fprintf(stderr, "  %s: %zu bytes, want %zu\n", name, size, want_size);
		goto out;
	}
	ok = memcmp(hex, want_hex, 64) == 0;
out:
	free(stream);
	free(want);
	free(want_hex);
	return ok;
}

static void vector_v1_basic(void)
{
	/* the manifest as a caller might give it: unsorted, duplicated, unnormalised */
	const char *argv[4] = { "redis-server", "--port", "6379", "" };
	const char *names[3] = { "LANG", "HOME", "LANG" };
	const char *fixed[4] = { "TZ=UTC", "A=1", "A-B=2", "A=1" };
	const char *vols[3] = { "/var//lib/./redis/", "/data", "/data/" };
	struct shelter_measure_opts o = {
		.program = "unused", .argv = argv, .argc = 4, .env_names = names,
		.env_names_count = 3, .env_fixed = fixed, .env_fixed_count = 4,
		.volumes = vols, .volume_count = 3,
	};
	struct shelter_measure_report *r = calloc(1, sizeof(*r));
	uint8_t dp[32], di[32], dfoo[32], dc[32];
	int ok;

	CHECK(r != NULL);
	ok = file_digest(VEC_DIR "inputs/program.bin", dp) == 0 &&
	     file_digest(VEC_DIR "inputs/interp.bin", di) == 0 &&
	     file_digest(VEC_DIR "inputs/libfoo.bin", dfoo) == 0 &&
	     file_digest(VEC_DIR "inputs/libc.bin", dc) == 0 &&
	     measure_report_add(r, SHELTER_MEASURE_PROGRAM, "p", NULL, dp, NULL) == 0 &&
	     measure_report_add(r, SHELTER_MEASURE_INTERP, "/lib64/ld-linux-x86-64.so.2", NULL, di,
				NULL) == 0 &&
	     measure_report_add(r, SHELTER_MEASURE_LIBRARY, "libfoo.so.1", "/x", dfoo, NULL) == 0 &&
	     measure_report_add(r, SHELTER_MEASURE_LIBRARY, "libc.so.6", "/y", dc, NULL) == 0 &&
	     measure_report_add(r, SHELTER_MEASURE_SHIELD, "absent", NULL, NULL, NULL) == 0 &&
	     measure_add_manifest(r, &o, NULL) == 0 && check_vector(r, "v1-basic");
	shelter_measure_report_free(r);
	CHECK(ok);
}

static void vector_v1_shield(void)
{
	struct shelter_measure_opts o = { .program = "/usr/bin/prog" }; /* argc 0: {program} */
	struct shelter_measure_report *r = calloc(1, sizeof(*r));
	uint8_t dp[32], di[32], ds[32];
	int ok;

	CHECK(r != NULL);
	ok = file_digest(VEC_DIR "inputs/program.bin", dp) == 0 &&
	     file_digest(VEC_DIR "inputs/interp.bin", di) == 0 &&
	     file_digest(VEC_DIR "inputs/shield.bin", ds) == 0 &&
	     measure_report_add(r, SHELTER_MEASURE_PROGRAM, "p", NULL, dp, NULL) == 0 &&
	     measure_report_add(r, SHELTER_MEASURE_INTERP, "/lib64/ld-linux-x86-64.so.2", NULL, di,
				NULL) == 0 &&
	     measure_report_add(r, SHELTER_MEASURE_SHIELD, "s", "/s", ds, NULL) == 0 &&
	     measure_add_manifest(r, &o, NULL) == 0 && check_vector(r, "v1-shield");
	shelter_measure_report_free(r);
	CHECK(ok);
}

/* the binding of v1-fresh, as a caller might give it: unsorted, one twice */
static void fresh_fixture(struct shelter_measure_freshness *f)
{
	memset(f, 0, sizeof(*f));
	memset(f->genesis, 0x11, 32);
	memset(f->provider, 0x22, 32);
	f->flags = SHELTER_MEASURE_FRESH_ACCEPT_SIM;
	f->endorser_count = 3;
	memset(f->endorsers[0], 0xbb, 32);
	memset(f->endorsers[1], 0xaa, 32);
	memset(f->endorsers[2], 0xbb, 32);
}

static void vector_v1_fresh(void)
{
	const char *vols[1] = { "/data/" };
	struct shelter_measure_freshness f;
	struct shelter_measure_opts o = { .program = "/usr/bin/prog", .volumes = vols,
					  .volume_count = 1, .freshness = &f };
	struct shelter_measure_report *r = calloc(1, sizeof(*r));
	uint8_t dp[32], di[32], ds[32];
	int ok;

	fresh_fixture(&f);
	CHECK(r != NULL);
	ok = file_digest(VEC_DIR "inputs/program.bin", dp) == 0 &&
	     file_digest(VEC_DIR "inputs/interp.bin", di) == 0 &&
	     file_digest(VEC_DIR "inputs/shield.bin", ds) == 0 &&
	     measure_report_add(r, SHELTER_MEASURE_PROGRAM, "p", NULL, dp, NULL) == 0 &&
	     measure_report_add(r, SHELTER_MEASURE_INTERP, "/lib64/ld-linux-x86-64.so.2", NULL, di,
				NULL) == 0 &&
	     measure_report_add(r, SHELTER_MEASURE_SHIELD, "s", "/s", ds, NULL) == 0 &&
	     measure_add_manifest(r, &o, NULL) == 0 && check_vector(r, "v1-fresh");
	shelter_measure_report_free(r);
	CHECK(ok);
}

/* §4.2: encoding refusals, then every way the parser must refuse bytes, then the
 * round trip of a canonical value. */
static void freshness_binding_refusals(void)
{
	struct shelter_measure_freshness f, g;
	uint8_t v[SHELTER_MEASURE_FRESH_VALUE_MAX + 32], bad[SHELTER_MEASURE_FRESH_VALUE_MAX + 32];
	size_t size = 1;

	fresh_fixture(&f);
	f.endorser_count = 0;
	CHECK_RC(shelter_measure_freshness_encode(&f, v, sizeof(v), &size, NULL), SHELTER_E_INVAL);
	CHECK(size == 0);
	f.endorser_count = SHELTER_MEASURE_FRESH_ENDORSERS_MAX + 1;
	CHECK_RC(shelter_measure_freshness_encode(&f, v, sizeof(v), &size, NULL), SHELTER_E_INVAL);
	fresh_fixture(&f);
	f.flags = 2;
	CHECK_RC(shelter_measure_freshness_encode(&f, v, sizeof(v), &size, NULL), SHELTER_E_INVAL);
	fresh_fixture(&f);
	CHECK_RC(shelter_measure_freshness_encode(&f, v, 70 + 63, &size, NULL), SHELTER_E_INVAL);
	CHECK_OK(shelter_measure_freshness_encode(&f, v, sizeof(v), &size, NULL));
	CHECK(size == 70 + 64);
	/* every truncation and an extension */
	for (size_t n = 0; n < size; n++) {
		memset(&g, 0x5a, sizeof(g));
		CHECK_RC(shelter_measure_freshness_parse(v, n, &g, NULL), SHELTER_E_MALFORMED);
		CHECK(g.endorser_count == 0 && g.flags == 0 && g.genesis[0] == 0);
	}
	CHECK_RC(shelter_measure_freshness_parse(v, size + 1, &g, NULL), SHELTER_E_MALFORMED);
	/* unknown flags, no measurement, too many, unsorted, a duplicate */
	memcpy(bad, v, size);
	bad[67] |= 2;
	CHECK_RC(shelter_measure_freshness_parse(bad, size, &g, NULL), SHELTER_E_MALFORMED);
	memcpy(bad, v, size);
	bad[69] = 0;
	CHECK_RC(shelter_measure_freshness_parse(bad, 70, &g, NULL), SHELTER_E_MALFORMED);
	memcpy(bad, v, size);
	bad[68] = 0;
	bad[69] = SHELTER_MEASURE_FRESH_ENDORSERS_MAX + 1;
	CHECK_RC(shelter_measure_freshness_parse(bad, sizeof(bad), &g, NULL), SHELTER_E_MALFORMED);
	memcpy(bad, v, size);
	memcpy(bad + 70, v + 102, 32);
	memcpy(bad + 102, v + 70, 32);
	CHECK_RC(shelter_measure_freshness_parse(bad, size, &g, NULL), SHELTER_E_MALFORMED);
	memcpy(bad + 70, v + 70, 32);
	memcpy(bad + 102, v + 70, 32);
	CHECK_RC(shelter_measure_freshness_parse(bad, size, &g, NULL), SHELTER_E_MALFORMED);
	/* the canonical value: sorted, deduplicated, and it encodes back to itself */
	CHECK_OK(shelter_measure_freshness_parse(v, size, &g, NULL));
	CHECK(g.endorser_count == 2 && g.flags == SHELTER_MEASURE_FRESH_ACCEPT_SIM);
	CHECK(g.endorsers[0][0] == 0xaa && g.endorsers[1][0] == 0xbb);
	CHECK_MEM(g.genesis, f.genesis, 32);
	CHECK_MEM(g.provider, f.provider, 32);
	CHECK_OK(shelter_measure_freshness_encode(&g, bad, sizeof(bad), &size, NULL));
	CHECK(size == 70 + 64 && memcmp(bad, v, size) == 0);
}

/* §4.2: at most one binding per stream, and never one that does not parse. */
static void encode_refuses_bad_bindings(void)
{
	struct shelter_measure_freshness f;
	struct shelter_measure_opts o = { .program = "p", .freshness = &f };
	struct shelter_measure_report *r = calloc(1, sizeof(*r));
	uint8_t d[32] = { 0 }, *s = NULL;
	size_t size = 0;
	int rc_two = -999, rc_bad = -999, rc_opts = -999;

	CHECK(r != NULL);
	fresh_fixture(&f);
	if (measure_report_add(r, SHELTER_MEASURE_PROGRAM, "p", NULL, d, NULL) == 0 &&
	    measure_report_add(r, SHELTER_MEASURE_INTERP, "i", NULL, d, NULL) == 0 &&
	    measure_report_add(r, SHELTER_MEASURE_SHIELD, "absent", NULL, NULL, NULL) == 0 &&
	    measure_add_manifest(r, &o, NULL) == 0 && measure_encode(r, &s, &size, NULL) == 0) {
		free(s);
		s = NULL;
		/* a second binding */
		if (measure_report_add(r, SHELTER_MEASURE_FRESHNESS, r->v[r->count - 1].name, NULL,
				       NULL, NULL) == 0)
			rc_two = measure_encode(r, &s, &size, NULL);
		/* one again, replaced by bytes that are not a binding */
		free(r->v[--r->count].name);
		free(r->v[r->count - 1].name);
		r->v[r->count - 1].name = strdup("00ff");
		rc_bad = measure_encode(r, &s, &size, NULL);
	}
	f.endorser_count = 0;
	rc_opts = measure_add_manifest(r, &o, NULL);
	shelter_measure_report_free(r);
	CHECK_RC(rc_two, SHELTER_E_INVAL);
	CHECK_RC(rc_bad, SHELTER_E_INVAL);
	CHECK_RC(rc_opts, SHELTER_E_INVAL);
	CHECK(s == NULL && size == 0);
}

static void encode_checks_order(void)
{
	struct shelter_measure_report *r = calloc(1, sizeof(*r));
	uint8_t d[32] = { 0 }, *s = NULL;
	size_t size = 0;
	int rc1, rc2;

	CHECK(r != NULL);
	/* no program, interpreter or argv[0] */
	rc1 = measure_report_add(r, SHELTER_MEASURE_SHIELD, "absent", NULL, NULL, NULL) == 0
		      ? measure_encode(r, &s, &size, NULL) : -999;
	/* out of order */
	rc2 = measure_report_add(r, SHELTER_MEASURE_PROGRAM, "p", NULL, d, NULL) == 0
		      ? measure_encode(r, &s, &size, NULL) : -999;
	shelter_measure_report_free(r);
	CHECK_RC(rc1, SHELTER_E_INTERNAL);
	CHECK_RC(rc2, SHELTER_E_INTERNAL);
	CHECK(s == NULL && size == 0);
}

/* ---- whole measurements of real programs ---- */

static int report_find(const struct shelter_measure_report *r, int kind, const char *name,
		       struct shelter_measure_component *out)
{
	for (size_t i = 0; i < shelter_measure_report_count(r); i++) {
		if (shelter_measure_report_get(r, i, out) == 0 && (int)out->kind == kind &&
		    (name == NULL || strcmp(out->name, name) == 0))
			return 1;
	}
	return 0;
}

static void measure_true_is_stable(void)
{
	const char *argv[1] = { "true" };
	struct shelter_measure_opts o = { .program = TRUE_BIN, .argv = argv, .argc = 1 };
	struct shelter_measure_report *r = NULL;
	struct shelter_measure_component c;
	struct shelter_err err;
	uint8_t d1[32], d2[32], want[32], *stream = NULL, *content;
	size_t size = 0, n;
	int rc;

	shelter_err_clear(&err);
	rc = shelter_measure(&o, d1, &r, &err);
	if (rc != 0)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK_OK(rc);
	rc = shelter_measure(&o, d2, NULL, &err);
	if (rc == 0)
		rc = measure_encode(r, &stream, &size, NULL);
	if (rc == 0)
		rc = shelter_sha256(stream, size, want, NULL);
	free(stream);
	if (rc != 0) {
		shelter_measure_report_free(r);
		CHECK_OK(rc);
	}
	rc = memcmp(d1, d2, 32) == 0 && memcmp(d1, want, 32) == 0;
	/* the program's digest is the SHA-256 of its bytes */
	content = read_file(TRUE_BIN, &n);
	rc = rc && content != NULL && shelter_sha256(content, n, want, NULL) == 0;
	free(content);
	rc = rc && report_find(r, SHELTER_MEASURE_PROGRAM, TRUE_BIN, &c) && c.digest != NULL &&
	     memcmp(c.digest, want, 32) == 0;
	rc = rc && report_find(r, SHELTER_MEASURE_INTERP, NULL, &c) && c.name[0] == '/';
	rc = rc && report_find(r, SHELTER_MEASURE_LIBRARY, "libc.so.6", &c) && c.path != NULL;
	rc = rc && !report_find(r, SHELTER_MEASURE_LIBRARY, "linux-vdso.so.1", &c);
	rc = rc && report_find(r, SHELTER_MEASURE_SHIELD, "absent", &c) && c.digest == NULL &&
	     c.path == NULL;
	rc = rc && report_find(r, SHELTER_MEASURE_ARG, "true", &c) && c.digest == NULL;
	rc = rc && shelter_measure_report_get(r, shelter_measure_report_count(r), &c) ==
			   SHELTER_E_INVAL;
	shelter_measure_report_free(r);
	shelter_measure_report_free(NULL);
	CHECK(rc);
	CHECK(shelter_measure_report_count(NULL) == 0);
	CHECK(strcmp(shelter_measure_kind_str(SHELTER_MEASURE_LIBRARY), "library") == 0);
	CHECK(strcmp(shelter_measure_kind_str(99), "?") == 0);
}

/* The path of the libcrypto this test runs with: a real shared object to use as a
 * stand-in shield. */
static const char *libcrypto_path(void)
{
	Dl_info info;

	if (dladdr((void *)EVP_sha256, &info) == 0 || info.dli_fname == NULL)
		return NULL;
	return info.dli_fname;
}

static int digest_of(const struct shelter_measure_opts *o, uint8_t out[32])
{
	struct shelter_err err;
	int rc;

	shelter_err_clear(&err);
	rc = shelter_measure(o, out, NULL, &err);
	if (rc != 0)
		fprintf(stderr, "  measure: %s\n", err.msg);
	return rc;
}

/* Every input changes the digest; the program's path does not (§1). */
static void measure_is_sensitive(void)
{
	const char *argv[2] = { "true", "x" }, *names[1] = { "HOME" };
	const char *fixed[1] = { "TZ=UTC" }, *vols[1] = { "/data" };
	struct shelter_measure_opts o = { .program = TRUE_BIN, .argv = argv, .argc = 1 };
	const char *crypto = libcrypto_path();
	char copy[512], grown[512], shield1[512], shield2[512];
	uint8_t base[32], d[32];

	CHECK(crypto != NULL);
	tmp_path(copy, sizeof(copy), "true-copy");
	tmp_path(grown, sizeof(grown), "true-grown");
	tmp_path(shield1, sizeof(shield1), "shield1.so");
	tmp_path(shield2, sizeof(shield2), "shield2.so");
	CHECK(copy_file(TRUE_BIN, copy, NULL) == 0 && copy_file(TRUE_BIN, grown, "!") == 0);
	CHECK(copy_file(crypto, shield1, NULL) == 0 && copy_file(crypto, shield2, "!") == 0);
	CHECK_OK(digest_of(&o, base));
	/* same bytes elsewhere: same measurement */
	o.program = copy;
	CHECK_OK(digest_of(&o, d));
	CHECK(memcmp(d, base, 32) == 0);
	/* one more byte of program */
	o.program = grown;
	CHECK_OK(digest_of(&o, d));
	CHECK(memcmp(d, base, 32) != 0);
	o.program = TRUE_BIN;
	/* argv[0], an extra argument */
	argv[0] = "/bin/true";
	CHECK_OK(digest_of(&o, d));
	CHECK(memcmp(d, base, 32) != 0);
	argv[0] = "true";
	o.argc = 2;
	CHECK_OK(digest_of(&o, d));
	CHECK(memcmp(d, base, 32) != 0);
	o.argc = 1;
	/* an allowed name, a fixed entry, a volume */
	o.env_names = names;
	o.env_names_count = 1;
	CHECK_OK(digest_of(&o, d));
	CHECK(memcmp(d, base, 32) != 0);
	o.env_names_count = 0;
	o.env_fixed = fixed;
	o.env_fixed_count = 1;
	CHECK_OK(digest_of(&o, d));
	CHECK(memcmp(d, base, 32) != 0);
	o.env_fixed_count = 0;
	o.volumes = vols;
	o.volume_count = 1;
	CHECK_OK(digest_of(&o, d));
	CHECK(memcmp(d, base, 32) != 0);
	o.volume_count = 0;
	/* a shield, and a shield with one more byte */
	o.shield = shield1;
	CHECK_OK(digest_of(&o, d));
	CHECK(memcmp(d, base, 32) != 0);
	memcpy(base, d, 32);
	o.shield = shield2;
	CHECK_OK(digest_of(&o, d));
	CHECK(memcmp(d, base, 32) != 0);
	CHECK_OK(digest_of(&o, base));
	CHECK(memcmp(d, base, 32) == 0);
}

/* The shield is measured in its own record and its dependencies as libraries. */
static void measure_reports_shield(void)
{
	const char *crypto = libcrypto_path();
	struct shelter_measure_opts o = { .program = TRUE_BIN, .shield = crypto };
	struct shelter_measure_report *r = NULL;
	struct shelter_measure_component c;
	struct shelter_err err;
	uint8_t d[32], want[32];
	int ok;

	CHECK(crypto != NULL);
	shelter_err_clear(&err);
	CHECK_OK(shelter_measure(&o, d, &r, &err));
	ok = file_digest(crypto, want) == 0 &&
	     report_find(r, SHELTER_MEASURE_SHIELD, crypto, &c) && c.digest != NULL &&
	     memcmp(c.digest, want, 32) == 0 &&
	     /* not also listed as a library */
	     !report_find(r, SHELTER_MEASURE_LIBRARY, crypto, &c) &&
	     /* argc 0: argv is { program } */
	     report_find(r, SHELTER_MEASURE_ARG, TRUE_BIN, &c);
	shelter_measure_report_free(r);
	CHECK(ok);
}

/* §3: order and spelling that carry no meaning do not change the digest. */
static void manifest_is_canonical(void)
{
	const char *argv[1] = { "true" };
	const char *n1[2] = { "B", "A" }, *n2[3] = { "A", "B", "A" };
	const char *f1[2] = { "Y=2", "X=1" }, *f2[3] = { "X=1", "Y=2", "X=1" };
	const char *v1[2] = { "/b", "/a/x" }, *v2[3] = { "//a/./x/", "/b/", "/b" };
	const char *args1[2] = { "true", "a" }, *args2[2] = { "a", "true" };
	struct shelter_measure_opts o = { .program = TRUE_BIN, .argv = argv, .argc = 1 };
	uint8_t a[32], b[32];

	o.env_names = n1;
	o.env_names_count = 2;
	o.env_fixed = f1;
	o.env_fixed_count = 2;
	o.volumes = v1;
	o.volume_count = 2;
	CHECK_OK(digest_of(&o, a));
	o.env_names = n2;
	o.env_names_count = 3;
	o.env_fixed = f2;
	o.env_fixed_count = 3;
	o.volumes = v2;
	o.volume_count = 3;
	CHECK_OK(digest_of(&o, b));
	CHECK(memcmp(a, b, 32) == 0);
	/* arguments keep their order */
	o.argv = args1;
	o.argc = 2;
	CHECK_OK(digest_of(&o, a));
	o.argv = args2;
	CHECK_OK(digest_of(&o, b));
	CHECK(memcmp(a, b, 32) != 0);
	/* a name moved from allowed to fixed is a different manifest */
	o.argv = argv;
	o.argc = 1;
	o.env_names = n1;
	o.env_names_count = 1; /* "B" */
	o.env_fixed_count = 0;
	o.volume_count = 0;
	CHECK_OK(digest_of(&o, a));
	o.env_names_count = 0;
	o.env_fixed = (const char *[]){ "B=" };
	o.env_fixed_count = 1;
	CHECK_OK(digest_of(&o, b));
	CHECK(memcmp(a, b, 32) != 0);
}

static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

/* Every path through the loader child closes what it opened. */
static void measure_leaks_no_fds(void)
{
	uint8_t elf[512], d[32];
	char p[512];
	int before = lowest_free_fd();
	size_t n;

	CHECK_OK(measure_simple(TRUE_BIN, "true", NULL, d, NULL));
	CHECK_RC(measure_simple(TRUE_BIN, "true", TRUE_BIN, d, NULL), SHELTER_E_PROTO);
	tmp_path(p, sizeof(p), "bad-interp");
	n = make_elf(elf, sizeof(elf), ET_EXEC, TRUE_BIN, 1, 0);
	CHECK(write_file(p, elf, n, 0755) == 0);
	CHECK_RC(measure_simple(p, "x", NULL, d, NULL), SHELTER_E_INVAL);
	CHECK(lowest_free_fd() == before);
}

/* ---- sigstructs (§6) ---- */

static const uint8_t test_seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};

static void golden_fields(struct shelter_sigstruct *f)
{
	size_t n = 0;
	uint8_t *hex = read_file(VEC_DIR "v1-basic.sha256", &n);

	memset(f, 0, sizeof(*f));
	if (hex != NULL && n >= 64) {
		hex[64] = '\0';
		if (shelter_unhex((char *)hex, f->measurement, 32) != 0)
			memset(f->measurement, 0, 32);
	}
	free(hex);
	strcpy(f->product, "redis");
	f->version = 7;
	f->created = 1700000000;
}

static void sigstruct_sign_rejects(void)
{
	struct shelter_sigstruct f;
	uint8_t out[SHELTER_SIGSTRUCT_SIZE];

	golden_fields(&f);
	CHECK_RC(shelter_sigstruct_sign(NULL, &f, out, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_sigstruct_sign(test_seed, NULL, out, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_sigstruct_sign(test_seed, &f, NULL, NULL), SHELTER_E_INVAL);
	f.product[0] = '\0';
	CHECK_RC(shelter_sigstruct_sign(test_seed, &f, out, NULL), SHELTER_E_INVAL);
	memset(f.product, 'a', sizeof(f.product)); /* 64 characters, no NUL */
	CHECK_RC(shelter_sigstruct_sign(test_seed, &f, out, NULL), SHELTER_E_INVAL);
	f.product[63] = '\0'; /* 63 is the most */
	CHECK_OK(shelter_sigstruct_sign(test_seed, &f, out, NULL));
	strcpy(f.product, "red is");
	CHECK_RC(shelter_sigstruct_sign(test_seed, &f, out, NULL), SHELTER_E_INVAL);
	strcpy(f.product, "redis/x");
	CHECK_RC(shelter_sigstruct_sign(test_seed, &f, out, NULL), SHELTER_E_INVAL);
	strcpy(f.product, "redis");
	f.flags = 2;
	CHECK_RC(shelter_sigstruct_sign(test_seed, &f, out, NULL), SHELTER_E_INVAL);
}

static void sigstruct_golden(void)
{
	struct shelter_sigstruct f, got;
	uint8_t out[SHELTER_SIGSTRUCT_SIZE], pub[32], signer[32], *want;
	size_t n = 0;
	int same;

	golden_fields(&f);
	want = read_file(VEC_DIR "sigstruct-v1.bin", &n);
	CHECK(want != NULL);
	CHECK_OK(shelter_sigstruct_sign(test_seed, &f, out, NULL));
	same = n == sizeof(out) && memcmp(out, want, n) == 0;
	free(want);
	CHECK(same);
	CHECK_OK(shelter_sigstruct_parse_verify(out, sizeof(out), &got, NULL));
	CHECK_OK(shelter_ed25519_public(test_seed, pub, NULL));
	CHECK_OK(shelter_sha256(pub, 32, signer, NULL));
	CHECK_MEM(got.measurement, f.measurement, 32);
	CHECK(strcmp(got.product, "redis") == 0 && got.version == 7 && got.flags == 0 &&
	      got.created == 1700000000);
	CHECK_MEM(got.public_key, pub, 32);
	CHECK_MEM(got.signer, signer, 32);
}

/* The code a one-bit change at byte i is refused with, 0 when either of
 * MALFORMED and UNTRUSTED may apply (a product character that stays in the
 * charset, or a length change). Layout in measurement.md §6.1. */
static int flip_want(size_t i, uint8_t bit, size_t product_len)
{
	if (i < 8)
		return SHELTER_E_MALFORMED;
	if (i < 10)
		return SHELTER_E_VERSION;
	if (i < 12)
		return SHELTER_E_MALFORMED;
	if (i < 16)
		return i == 15 && bit == 1 ? SHELTER_E_UNTRUSTED : SHELTER_E_MALFORMED;
	if (i < 60)
		return SHELTER_E_UNTRUSTED;
	if (i < 61 + product_len)
		return 0;
	if (i < 124)
		return SHELTER_E_MALFORMED;
	return SHELTER_E_UNTRUSTED;
}

static void sigstruct_bit_flips_refused(void)
{
	struct shelter_sigstruct f, got;
	uint8_t s[SHELTER_SIGSTRUCT_SIZE];

	golden_fields(&f);
	CHECK_OK(shelter_sigstruct_sign(test_seed, &f, s, NULL));
	for (size_t i = 0; i < sizeof(s); i++) {
		for (int b = 0; b < 8; b++) {
			uint8_t bit = (uint8_t)(1u << b);
			int want = flip_want(i, bit, strlen(f.product)), rc;

			s[i] ^= bit;
			rc = shelter_sigstruct_parse_verify(s, sizeof(s), &got, NULL);
			s[i] ^= bit;
			if (want != 0)
				CHECK_RC(rc, want);
			CHECK(rc == SHELTER_E_MALFORMED || rc == SHELTER_E_UNTRUSTED ||
			      rc == SHELTER_E_VERSION);
			CHECK(got.version == 0 && got.product[0] == '\0');
		}
	}
	CHECK_OK(shelter_sigstruct_parse_verify(s, sizeof(s), &got, NULL));
}

static void sigstruct_truncations_refused(void)
{
	struct shelter_sigstruct f, got;
	uint8_t s[SHELTER_SIGSTRUCT_SIZE + 1];
	struct shelter_err err;

	golden_fields(&f);
	CHECK_OK(shelter_sigstruct_sign(test_seed, &f, s, NULL));
	for (size_t n = 0; n < SHELTER_SIGSTRUCT_SIZE; n++)
		CHECK_RC(shelter_sigstruct_parse_verify(s, n, &got, NULL), SHELTER_E_MALFORMED);
	s[SHELTER_SIGSTRUCT_SIZE] = 0;
	shelter_err_clear(&err);
	CHECK_RC(shelter_sigstruct_parse_verify(s, sizeof(s), &got, &err), SHELTER_E_MALFORMED);
	CHECK(msg_has(&err, "221 bytes"));
	CHECK_RC(shelter_sigstruct_parse_verify(NULL, 0, &got, NULL), SHELTER_E_MALFORMED);
	CHECK_RC(shelter_sigstruct_parse_verify(NULL, 5, &got, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_sigstruct_parse_verify(s, 220, NULL, NULL), SHELTER_E_INVAL);
	/* a future version is told apart from garbage, whatever its length */
	s[9] = 2;
	CHECK_RC(shelter_sigstruct_parse_verify(s, 40, &got, &err), SHELTER_E_VERSION);
	CHECK(msg_has(&err, "version 2"));
}

/* Another tenant's public key in place of the signer's: the signature is refused. */
static void sigstruct_key_swap_refused(void)
{
	struct shelter_sigstruct f, got;
	uint8_t s[SHELTER_SIGSTRUCT_SIZE], pub[32], priv[32];
	struct shelter_err err;

	golden_fields(&f);
	CHECK_OK(shelter_sigstruct_sign(test_seed, &f, s, NULL));
	CHECK_OK(shelter_ed25519_keygen(pub, priv, NULL));
	shelter_wipe(priv, sizeof(priv));
	memcpy(s + 124, pub, 32);
	shelter_err_clear(&err);
	CHECK_RC(shelter_sigstruct_parse_verify(s, sizeof(s), &got, &err), SHELTER_E_UNTRUSTED);
	CHECK(msg_has(&err, "does not verify"));
}

static void identity_unsigned_and_signed(void)
{
	struct shelter_sigstruct f;
	struct shelter_identity id;
	uint8_t s[SHELTER_SIGSTRUCT_SIZE], zero[32] = { 0 }, pub[32], signer[32];

	golden_fields(&f);
	CHECK_RC(shelter_measure_identity(NULL, NULL, 0, &id, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_measure_identity(f.measurement, NULL, 0, NULL, NULL), SHELTER_E_INVAL);
	CHECK_RC(shelter_measure_identity(f.measurement, NULL, 3, &id, NULL), SHELTER_E_INVAL);
	CHECK_OK(shelter_measure_identity(f.measurement, NULL, 0, &id, NULL));
	CHECK_MEM(id.measurement, f.measurement, 32);
	CHECK_MEM(id.signer, zero, 32);
	CHECK(id.product[0] == '\0' && id.version == 0 && id.flags == 0 && id.tee == 0);
	f.flags = SHELTER_SIGSTRUCT_DEBUG;
	CHECK_OK(shelter_sigstruct_sign(test_seed, &f, s, NULL));
	CHECK_OK(shelter_measure_identity(f.measurement, s, sizeof(s), &id, NULL));
	CHECK_OK(shelter_ed25519_public(test_seed, pub, NULL));
	CHECK_OK(shelter_sha256(pub, 32, signer, NULL));
	CHECK_MEM(id.measurement, f.measurement, 32);
	CHECK_MEM(id.signer, signer, 32);
	CHECK(strcmp(id.product, "redis") == 0 && id.version == 7);
	CHECK(id.flags == SHELTER_TEE_FLAG_DEBUG && id.tee == 0);
}

static void identity_refusals(void)
{
	struct shelter_sigstruct f;
	struct shelter_identity id;
	struct shelter_err err;
	uint8_t s[SHELTER_SIGSTRUCT_SIZE], other[32];
	char hex[65];

	golden_fields(&f);
	CHECK_OK(shelter_sigstruct_sign(test_seed, &f, s, NULL));
	memcpy(other, f.measurement, 32);
	other[31] ^= 1;
	shelter_err_clear(&err);
	CHECK_RC(shelter_measure_identity(other, s, sizeof(s), &id, &err), SHELTER_E_POLICY);
	shelter_hex(f.measurement, 32, hex);
	CHECK(msg_has(&err, hex));
	shelter_hex(other, 32, hex);
	CHECK(msg_has(&err, hex));
	CHECK(id.version == 0 && id.product[0] == '\0');
	s[100] ^= 1; /* product padding */
	CHECK_RC(shelter_measure_identity(f.measurement, s, sizeof(s), &id, NULL),
		 SHELTER_E_MALFORMED);
	s[100] ^= 1;
	s[200] ^= 1; /* signature */
	CHECK_RC(shelter_measure_identity(f.measurement, s, sizeof(s), &id, NULL),
		 SHELTER_E_UNTRUSTED);
	s[200] ^= 1;
	CHECK_RC(shelter_measure_identity(f.measurement, s, sizeof(s) - 1, &id, NULL),
		 SHELTER_E_MALFORMED);
}

static void remove_tmp(void)
{
	static const char *const names[] = {
		"script.sh", "empty", "static", "bad-elf", "bad-interp", "shield.txt",
		"shield:colon.so", "true-copy", "true-grown", "shield1.so", "shield2.so",
	};
	char p[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tmp_path(p, sizeof(p), names[i]);
		unlink(p);
	}
	rmdir(tmp);
}

int main(void)
{
	test_binary = "test_measure";
	snprintf(tmp, sizeof(tmp), "%s/shelter-test-measure-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}

	RUN(measure_rejects_null);
	RUN(measure_refuses_missing_program);
	RUN(measure_refuses_non_elf);
	RUN(measure_refuses_static);
	RUN(measure_refuses_malformed_elf);
	RUN(measure_refuses_bad_interpreter);
	RUN(measure_refuses_bad_shield);
	RUN(manifest_refusals);
	RUN(ldlist_refusals);
	RUN(ldlist_parses_objects);
	RUN(volume_normalisation);
	RUN(check_program_refusals);

	RUN(vector_v1_basic);
	RUN(vector_v1_shield);
	RUN(freshness_binding_refusals);
	RUN(vector_v1_fresh);
	RUN(encode_refuses_bad_bindings);
	RUN(encode_checks_order);

	RUN(measure_true_is_stable);
	RUN(measure_is_sensitive);
	RUN(measure_reports_shield);
	RUN(manifest_is_canonical);
	RUN(measure_leaks_no_fds);

	RUN(sigstruct_sign_rejects);
	RUN(sigstruct_golden);
	RUN(sigstruct_bit_flips_refused);
	RUN(sigstruct_truncations_refused);
	RUN(sigstruct_key_swap_refused);
	RUN(identity_unsigned_and_signed);
	RUN(identity_refusals);

	remove_tmp();
	return test_total_failed ? 1 : 0;
}
