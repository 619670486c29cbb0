/* shelter_measure: the program, its interpreter, its libraries, the shield and the
 * launch manifest, in one digest (docs/formats/measurement.md §2-§4).
 *
 * Every file is opened once and hashed through that descriptor; the ELF checks read
 * the same descriptor, so what we check is what we hash. The loader child opens the
 * files again by path: the measuring machine is the tenant's own, and a file
 * replaced between the two opens changes the digest, never the checks (§7).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "measure/internal.h"
#include "shelter/crypto.h"

struct file {
	int fd;
	struct stat st;
	const char *what;
};

static void file_close(struct file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

static int file_open(const char *path, const char *what, struct file *f,
		     struct shelter_err *err)
{
	f->what = what;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return shelter_err_errno(err, errno, "open %s '%s'", what, path);
	if (fstat(f->fd, &f->st) < 0) {
		int e = errno;

		file_close(f);
		return shelter_err_errno(err, e, "stat %s '%s'", what, path);
	}
	if (!S_ISREG(f->st.st_mode)) {
		file_close(f);
		return shelter_err_set(err, SHELTER_E_INVAL, "%s '%s' is not a regular file",
				       what, path);
	}
	return 0;
}

static int file_read(void *ctx, uint64_t off, void *buf, size_t size, struct shelter_err *err)
{
	struct file *f = ctx;
	size_t done = 0;

	while (done < size) {
		ssize_t n = pread(f->fd, (uint8_t *)buf + done, size - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return shelter_err_errno(err, errno, "read %s", f->what);
		if (n == 0)
			return shelter_err_set(err, SHELTER_E_IO, "%s shrank while being read",
					       f->what);
		done += (size_t)n;
	}
	return 0;
}

static int inspect(struct file *f, const char *path, struct measure_elf *elf,
		   struct shelter_err *err)
{
	return measure_elf_inspect(file_read, f, (uint64_t)f->st.st_size, path, elf, err);
}

/* §2.1: the program must be dynamically linked: the shield reaches it only through
 * the dynamic loader (it is preloaded), so a static binary would run unshielded. */
static int check_program(const char *path, const struct measure_elf *elf,
			 struct shelter_err *err)
{
	if (!elf->has_interp)
		return shelter_err_set(err, SHELTER_E_INVAL, "'%s' has no ELF interpreter "
				       "(PT_INTERP): a static binary%s cannot be covered by the "
				       "shield, which the dynamic loader preloads; link it "
				       "dynamically", path,
				       elf->type == ET_DYN ? " or a shared library" : "");
	/* a relative interpreter would be looked up from the working directory */
	if (elf->interp[0] != '/')
		return shelter_err_set(err, SHELTER_E_INVAL, "'%s': ELF interpreter '%s' is not "
				       "an absolute path", path, elf->interp);
	return 0;
}

/* §2.2: we execute the interpreter (in list mode), so it must at least look like a
 * dynamic loader: a self-contained shared object for the program's machine. This
 * keeps a PT_INTERP naming /bin/sh or the like from being run. */
static int check_interp(const char *path, const struct measure_elf *prog,
			const struct measure_elf *elf, struct shelter_err *err)
{
	if (elf->type != ET_DYN || elf->has_interp)
		return shelter_err_set(err, SHELTER_E_INVAL, "ELF interpreter '%s' is not a "
				       "dynamic loader (a shared object without an interpreter "
				       "of its own)", path);
	if (elf->elf_class != prog->elf_class || elf->elf_data != prog->elf_data ||
	    elf->machine != prog->machine)
		return shelter_err_set(err, SHELTER_E_INVAL, "ELF interpreter '%s' is for another "
				       "machine than the program", path);
	return 0;
}

struct ctx {
	const struct shelter_measure_opts *opts;
	struct shelter_measure_report *r;
	char *prog_real, *shield_real;
	struct measure_elf elf;
	struct stat interp_st, shield_st;
	uint8_t shield_digest[32];
	int shield_seen;
};

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int add_program_and_interp(struct ctx *c, struct shelter_err *err)
{
	struct file f = { .fd = -1 }, fi = { .fd = -1 };
	struct measure_elf ielf;
	uint8_t d[32];
	int rc;

	rc = file_open(c->opts->program, "program", &f, err);
	if (rc == 0)
		rc = inspect(&f, c->opts->program, &c->elf, err);
	if (rc == 0)
		rc = check_program(c->opts->program, &c->elf, err);
	if (rc == 0)
		rc = measure_fd_digest(f.fd, c->opts->program, d, err);
	if (rc == 0)
		rc = measure_report_add(c->r, SHELTER_MEASURE_PROGRAM, c->opts->program,
					c->prog_real, d, err);
	if (rc == 0)
		rc = file_open(c->elf.interp, "ELF interpreter", &fi, err);
	if (rc == 0)
		rc = inspect(&fi, c->elf.interp, &ielf, err);
	if (rc == 0)
		rc = check_interp(c->elf.interp, &c->elf, &ielf, err);
	if (rc == 0)
		rc = measure_fd_digest(fi.fd, c->elf.interp, d, err);
	if (rc == 0)
		rc = measure_report_add(c->r, SHELTER_MEASURE_INTERP, c->elf.interp, c->elf.interp,
					d, err);
	if (rc == 0)
		c->interp_st = fi.st;
	file_close(&f);
	file_close(&fi);
	return rc;
}

static int prepare_shield(struct ctx *c, struct shelter_err *err)
{
	struct file f = { .fd = -1 };
	struct measure_elf elf;
	int rc;

	if (c->opts->shield == NULL)
		return 0;
	c->shield_real = realpath(c->opts->shield, NULL);
	if (c->shield_real == NULL)
		return shelter_err_errno(err, errno, "shield '%s'", c->opts->shield);
	/* the loader splits its preload list at ':' and ' ' */
	if (strpbrk(c->shield_real, ": \t") != NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "shield path '%s' contains ':' or "
				       "a blank, which the dynamic loader's preload list cannot "
				       "hold", c->shield_real);
	rc = file_open(c->shield_real, "shield", &f, err);
	if (rc == 0 && (rc = inspect(&f, c->opts->shield, &elf, err)) < 0)
		rc = shelter_err_wrap(err, rc, "shield");
	if (rc == 0 && elf.type != ET_DYN)
		rc = shelter_err_set(err, SHELTER_E_INVAL, "shield '%s' is not an ELF shared "
				     "object", c->opts->shield);
	if (rc == 0)
		rc = measure_fd_digest(f.fd, c->opts->shield, c->shield_digest, err);
	if (rc == 0)
		c->shield_st = f.st;
	file_close(&f);
	return rc;
}

/* §2.2: every listed object but the interpreter (already measured) and the shield
 * (measured in its own record), by requested name and content, in load order. */
static int add_library(struct ctx *c, const struct measure_ldent *e, struct shelter_err *err)
{
	const char *path = e->path != NULL ? e->path : e->name;
	struct file f = { .fd = -1 };
	uint8_t d[32];
	int rc;

	rc = file_open(path, "library", &f, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "library '%s'", e->name);
	if (same_file(&f.st, &c->interp_st)) {
		rc = 0;
	} else if (c->shield_real != NULL && same_file(&f.st, &c->shield_st)) {
		c->shield_seen = 1;
	} else {
		rc = measure_fd_digest(f.fd, path, d, err);
		if (rc == 0)
			rc = measure_report_add(c->r, SHELTER_MEASURE_LIBRARY, e->name, path, d, err);
	}
	file_close(&f);
	return rc;
}

static int add_libraries(struct ctx *c, struct shelter_err *err)
{
	struct measure_ldlist list;
	int rc;

	rc = measure_ldlist_run(c->elf.interp, c->prog_real, c->shield_real, &list, err);
	for (size_t i = 0; rc == 0 && i < list.count; i++)
		rc = add_library(c, &list.v[i], err);
	if (rc == 0 && c->shield_real != NULL && !c->shield_seen)
		rc = shelter_err_set(err, SHELTER_E_INTERNAL, "the dynamic loader did not list "
				     "the shield '%s' it was asked to preload", c->shield_real);
	if (rc == 0)
		rc = measure_report_add(c->r, SHELTER_MEASURE_SHIELD,
					c->opts->shield != NULL ? c->opts->shield : "absent",
					c->shield_real,
					c->opts->shield != NULL ? c->shield_digest : NULL, err);
	measure_ldlist_free(&list);
	return rc;
}

int shelter_measure(const struct shelter_measure_opts *opts,
		    uint8_t out[SHELTER_MEASUREMENT_SIZE], struct shelter_measure_report **report,
		    struct shelter_err *err)
{
	struct ctx c;
	uint8_t *stream = NULL;
	size_t size = 0;
	int rc;

	if (report != NULL)
		*report = NULL;
	if (out != NULL)
		memset(out, 0, SHELTER_MEASUREMENT_SIZE);
	if (opts == NULL || opts->program == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "measure: NULL argument");
	memset(&c, 0, sizeof(c));
	c.opts = opts;
	c.r = calloc(1, sizeof(*c.r));
	if (c.r == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "measure: out of memory");
	/* the loader gets the resolved path: never mistaken for an option, and its
	 * $ORIGIN is the one the kernel reports for the running program */
	c.prog_real = realpath(opts->program, NULL);
	if (c.prog_real == NULL) {
		rc = shelter_err_errno(err, errno, "program '%s'", opts->program);
		goto out;
	}
	rc = add_program_and_interp(&c, err);
	if (rc == 0)
		rc = prepare_shield(&c, err);
	if (rc == 0)
		rc = add_libraries(&c, err);
	if (rc == 0)
		rc = measure_add_manifest(c.r, opts, err);
	if (rc == 0)
		rc = measure_encode(c.r, &stream, &size, err);
	if (rc == 0)
		rc = shelter_sha256(stream, size, out, err);
	if (rc < 0) {
		memset(out, 0, SHELTER_MEASUREMENT_SIZE);
		goto out;
	}
	if (report != NULL) {
		*report = c.r;
		c.r = NULL;
	}
out:
	if (rc < 0)
		rc = shelter_err_wrap(err, rc, "measure '%s'", opts->program);
	shelter_measure_report_free(c.r);
	free(c.prog_real);
	free(c.shield_real);
	free(stream);
	return rc;
}

/* The §2.1 checks alone, for a launcher that must refuse a program before it runs
 * it (`shelter run`): the same code as shelter_measure, without the loader child. */
int shelter_measure_check_program(const char *program, struct shelter_err *err)
{
	struct file f = { .fd = -1 }, fi = { .fd = -1 };
	struct measure_elf elf, ielf;
	int rc;

	if (program == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "check program: NULL argument");
	rc = file_open(program, "program", &f, err);
	if (rc == 0)
		rc = inspect(&f, program, &elf, err);
	if (rc == 0)
		rc = check_program(program, &elf, err);
	if (rc == 0)
		rc = file_open(elf.interp, "ELF interpreter", &fi, err);
	if (rc == 0)
		rc = inspect(&fi, elf.interp, &ielf, err);
	if (rc == 0)
		rc = check_interp(elf.interp, &elf, &ielf, err);
	file_close(&f);
	file_close(&fi);
	return rc;
}

int shelter_measure_normalise_volume(const char *path, char *out, size_t out_size,
				     struct shelter_err *err)
{
	int rc;

	if (out != NULL && out_size > 0)
		out[0] = '\0';
	if (path == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "volume path: NULL argument");
	rc = measure_volume_normalise(path, out, out_size, err);
	if (rc < 0 && out_size > 0)
		out[0] = '\0'; /* set on success only */
	return rc;
}

size_t shelter_measure_report_count(const struct shelter_measure_report *report)
{
	return report != NULL ? report->count : 0;
}

int shelter_measure_report_get(const struct shelter_measure_report *report, size_t i,
			       struct shelter_measure_component *out)
{
	const struct measure_comp *c;

	if (out == NULL)
		return SHELTER_E_INVAL;
	memset(out, 0, sizeof(*out));
	if (report == NULL || i >= report->count)
		return SHELTER_E_INVAL;
	c = &report->v[i];
	out->kind = c->kind;
	out->name = c->name;
	out->path = c->path;
	out->digest = c->has_digest ? c->digest : NULL;
	return 0;
}

void shelter_measure_report_free(struct shelter_measure_report *report)
{
	if (report == NULL)
		return;
	for (size_t i = 0; i < report->count; i++) {
		free(report->v[i].name);
		free(report->v[i].path);
	}
	free(report->v);
	free(report);
}

const char *shelter_measure_kind_str(int kind)
{
	switch (kind) {
	case SHELTER_MEASURE_PROGRAM:
		return "program";
	case SHELTER_MEASURE_INTERP:
		return "interpreter";
	case SHELTER_MEASURE_LIBRARY:
		return "library";
	case SHELTER_MEASURE_SHIELD:
		return "shield";
	case SHELTER_MEASURE_ARG:
		return "arg";
	case SHELTER_MEASURE_ENV_ALLOW:
		return "env-allow";
	case SHELTER_MEASURE_ENV_FIXED:
		return "env";
	case SHELTER_MEASURE_VOLUME:
		return "volume";
	case SHELTER_MEASURE_FRESHNESS:
		return "freshness";
	default:
		return "?";
	}
}
