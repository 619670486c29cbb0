/* The ELF fields that decide how a program is loaded (docs/formats/measurement.md
 * §2.1): class, byte order, type, machine and the PT_INTERP path.
 *
 * A pure parser: bytes come through the caller's read function, every offset is
 * checked against the file size before it is read, and nothing is trusted from
 * the file beyond what the Linux kernel itself accepts (load_elf_binary): one
 * program header table of at most 64 KiB, a NUL-terminated PT_INTERP.
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "measure/internal.h"
#include "util/buf.h"

/* ELF64 and ELF32 header offsets we read (the System V gABI, "ELF Header"). */
struct elf_layout {
	size_t ehdr_size;
	size_t phoff_at, phoff_size;
	size_t phentsize_at, phnum_at;
	size_t phent_size;
	/* within one program header */
	size_t p_offset_at, p_filesz_at, word_size;
};

static const struct elf_layout layout64 = {
	.ehdr_size = 64, .phoff_at = 32, .phoff_size = 8, .phentsize_at = 54,
	.phnum_at = 56, .phent_size = 56, .p_offset_at = 8, .p_filesz_at = 32,
	.word_size = 8,
};

static const struct elf_layout layout32 = {
	.ehdr_size = 52, .phoff_at = 28, .phoff_size = 4, .phentsize_at = 42,
	.phnum_at = 44, .phent_size = 32, .p_offset_at = 4, .p_filesz_at = 16,
	.word_size = 4,
};

static uint64_t load(const uint8_t *p, size_t n, int big_endian)
{
	uint64_t v = 0;

	if (big_endian)
		return shelter_load_be(p, n);
	for (size_t i = n; i > 0; i--)
		v = (v << 8) | p[i - 1];
	return v;
}

static int malformed(struct shelter_err *err, const char *what, const char *why)
{
	return shelter_err_set(err, SHELTER_E_MALFORMED, "'%s': malformed ELF file: %s", what,
			       why);
}

/* §2.1: PT_INTERP holds a NUL-terminated path; the kernel refuses one whose last
 * byte is not NUL, and an interior NUL would make the path we read differ from
 * the one the kernel opens, so it is refused too. */
static int read_interp(measure_read_fn rd, void *ctx, uint64_t file_size, uint64_t off,
		       uint64_t size, const char *what, struct measure_elf *out,
		       struct shelter_err *err)
{
	int rc;

	if (size < 2 || size > MEASURE_INTERP_MAX)
		return malformed(err, what, "PT_INTERP size out of range");
	if (off > file_size || size > file_size - off)
		return malformed(err, what, "PT_INTERP lies beyond the end of the file");
	rc = rd(ctx, off, out->interp, (size_t)size, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "'%s': read PT_INTERP", what);
	if (out->interp[size - 1] != '\0' || strlen(out->interp) != size - 1) {
		memset(out->interp, 0, sizeof(out->interp));
		return malformed(err, what, "PT_INTERP is not one NUL-terminated path");
	}
	out->has_interp = 1;
	return 0;
}

static int scan_phdrs(measure_read_fn rd, void *ctx, uint64_t file_size,
		      const struct elf_layout *l, int be, uint64_t phoff, size_t phnum,
		      const char *what, struct measure_elf *out, struct shelter_err *err)
{
	uint8_t *tab = NULL;
	size_t table_size = phnum * l->phent_size;
	int rc = 0;

	if (table_size > MEASURE_PHDR_TABLE_MAX)
		return malformed(err, what, "program header table larger than 64 KiB");
	if (phoff > file_size || table_size > file_size - phoff)
		return malformed(err, what, "program header table lies beyond the end of the file");
	tab = malloc(table_size);
	if (tab == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "'%s': out of memory", what);
	rc = rd(ctx, phoff, tab, table_size, err);
	if (rc < 0) {
		rc = shelter_err_wrap(err, rc, "'%s': read program headers", what);
		goto out;
	}
	for (size_t i = 0; i < phnum; i++) {
		const uint8_t *ph = tab + i * l->phent_size;

		if (load(ph, 4, be) != PT_INTERP)
			continue;
		if (out->has_interp) {
			rc = malformed(err, what, "more than one PT_INTERP");
			goto out;
		}
		rc = read_interp(rd, ctx, file_size, load(ph + l->p_offset_at, l->word_size, be),
				 load(ph + l->p_filesz_at, l->word_size, be), what, out, err);
		if (rc < 0)
			goto out;
	}
out:
	free(tab);
	return rc;
}

int measure_elf_inspect(measure_read_fn rd, void *ctx, uint64_t file_size, const char *what,
			struct measure_elf *out, struct shelter_err *err)
{
	uint8_t eh[64];
	const struct elf_layout *l;
	size_t phentsize, phnum;
	int rc, be;

	memset(out, 0, sizeof(*out));
	if (file_size < SELFMAG)
		return shelter_err_set(err, SHELTER_E_INVAL, "'%s' is not an ELF file (%llu bytes)",
				       what, (unsigned long long)file_size);
	rc = rd(ctx, 0, eh, SELFMAG, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "'%s': read ELF header", what);
	if (memcmp(eh, ELFMAG, SELFMAG) != 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "'%s' is not an ELF file", what);
	if (file_size < EI_NIDENT)
		return malformed(err, what, "truncated ELF header");
	rc = rd(ctx, 0, eh, EI_NIDENT, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "'%s': read ELF header", what);
	if (eh[EI_CLASS] != ELFCLASS32 && eh[EI_CLASS] != ELFCLASS64)
		return malformed(err, what, "unknown ELF class");
	if (eh[EI_DATA] != ELFDATA2LSB && eh[EI_DATA] != ELFDATA2MSB)
		return malformed(err, what, "unknown ELF byte order");
	if (eh[EI_VERSION] != EV_CURRENT)
		return malformed(err, what, "unknown ELF version");
	l = eh[EI_CLASS] == ELFCLASS64 ? &layout64 : &layout32;
	be = eh[EI_DATA] == ELFDATA2MSB;
	if (file_size < l->ehdr_size)
		return malformed(err, what, "truncated ELF header");
	rc = rd(ctx, 0, eh, l->ehdr_size, err);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "'%s': read ELF header", what);
	out->elf_class = eh[EI_CLASS];
	out->elf_data = eh[EI_DATA];
	out->type = (uint16_t)load(eh + 16, 2, be);
	out->machine = (uint16_t)load(eh + 18, 2, be);
	if (out->type != ET_EXEC && out->type != ET_DYN) {
		rc = shelter_err_set(err, SHELTER_E_INVAL,
				     "'%s' is an ELF file of type %u, not an executable or "
				     "shared object", what, out->type);
		goto out;
	}
	phentsize = (size_t)load(eh + l->phentsize_at, 2, be);
	phnum = (size_t)load(eh + l->phnum_at, 2, be);
	/* PN_XNUM (extended numbering) is for core files; the kernel refuses it too. */
	if (phnum == 0 || phnum == PN_XNUM) {
		rc = malformed(err, what, "no usable program header table");
		goto out;
	}
	if (phentsize != l->phent_size) {
		rc = malformed(err, what, "wrong program header size");
		goto out;
	}
	rc = scan_phdrs(rd, ctx, file_size, l, be, load(eh + l->phoff_at, l->phoff_size, be),
			phnum, what, out, err);
out:
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}
