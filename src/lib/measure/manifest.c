/* Components of a measurement, the launch manifest's canonical form and the
 * measured TLV stream (docs/formats/measurement.md §3-§4).
 *
 * The digest must not depend on how a caller happened to order or spell the same
 * manifest, so every list that has no meaningful order is sorted bytewise and
 * deduplicated, and volume paths are normalised, before anything is encoded; lists
 * whose order matters (arguments, libraries in load order) are kept as given.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "measure/internal.h"
#include "shelter/crypto.h"
#include "util/buf.h"

#define READ_SIZE ((size_t)1 << 16)

int measure_report_add(struct shelter_measure_report *r, enum shelter_measure_kind kind,
		       const char *name, const char *path, const uint8_t *digest,
		       struct shelter_err *err)
{
	struct measure_comp *c;

	if (r->count == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct measure_comp *v = realloc(r->v, cap * sizeof(*v));

		if (v == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "measure: out of memory");
		r->v = v;
		r->cap = cap;
	}
	c = &r->v[r->count];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->name = strdup(name);
	c->path = path != NULL ? strdup(path) : NULL;
	if (c->name == NULL || (path != NULL && c->path == NULL)) {
		free(c->name);
		free(c->path);
		return shelter_err_set(err, SHELTER_E_NOMEM, "measure: out of memory");
	}
	if (digest != NULL) {
		c->has_digest = 1;
		memcpy(c->digest, digest, sizeof(c->digest));
	}
	r->count++;
	return 0;
}

/* ---- §3 the launch manifest ---- */

static int check_list(const char *what, const char *const *v, size_t count,
		      struct shelter_err *err)
{
	if (count > MEASURE_LIST_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "manifest: more than %d %s",
				       MEASURE_LIST_MAX, what);
	if (v == NULL && count != 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "manifest: %s: NULL list", what);
	for (size_t i = 0; i < count; i++) {
		if (v[i] == NULL)
			return shelter_err_set(err, SHELTER_E_INVAL, "manifest: %s %zu is NULL",
					       what, i);
		if (strlen(v[i]) > MEASURE_VALUE_MAX)
			return shelter_err_set(err, SHELTER_E_INVAL, "manifest: %s %zu is longer "
					       "than %zu bytes", what, i, MEASURE_VALUE_MAX);
	}
	return 0;
}

/* Bytewise order (strcmp compares as unsigned char), as `LC_ALL=C sort` does. */
static int cmp_bytes(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static size_t name_size(const char *entry)
{
	return strcspn(entry, "=");
}

/* §3.2: fixed entries sort by their name alone (the bytes before the first '='). */
static int cmp_names(const char *a, const char *b)
{
	size_t na = name_size(a), nb = name_size(b);
	int c = memcmp(a, b, na < nb ? na : nb);

	if (c != 0)
		return c;
	return na < nb ? -1 : na > nb;
}

static int cmp_fixed(const void *a, const void *b)
{
	return cmp_names(*(const char *const *)a, *(const char *const *)b);
}

int measure_volume_normalise(const char *path, char *out, size_t out_size,
			     struct shelter_err *err)
{
	size_t used = 0;
	const char *p = path;

	if (out_size < 2)
		return shelter_err_set(err, SHELTER_E_INVAL, "volume path: no room");
	if (path[0] != '/')
		return shelter_err_set(err, SHELTER_E_INVAL, "volume path '%s' is not absolute",
				       path);
	while (*p != '\0') {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.')) {
			p += n;
			continue;
		}
		/* ".." cannot be resolved without knowing which components are
		 * symbolic links inside the program's view: refuse, never guess */
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return shelter_err_set(err, SHELTER_E_INVAL, "volume path '%s': '..' is "
					       "not allowed", path);
		if (used + 1 + n + 1 > out_size)
			return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "volume path '%s' is "
					       "too long", path);
		out[used++] = '/';
		memcpy(out + used, p, n);
		used += n;
		p += n;
	}
	if (used == 0)
		out[used++] = '/';
	out[used] = '\0';
	return 0;
}

/* Sorted, deduplicated copy of a string list; the strings stay borrowed. */
static int sorted_copy(const char *const *v, size_t count,
		       int (*cmp)(const void *, const void *), const char ***out,
		       struct shelter_err *err)
{
	const char **c = malloc((count ? count : 1) * sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "manifest: out of memory");
	if (count > 0)
		memcpy(c, v, count * sizeof(*c));
	qsort(c, count, sizeof(*c), cmp);
	*out = c;
	return 0;
}

static int add_env_names(struct shelter_measure_report *r, const char *const *names,
			 size_t count, struct shelter_err *err)
{
	int rc;

	for (size_t i = 0; i < count; i++) {
		if (names[i][0] == '\0' || strchr(names[i], '=') != NULL)
			return shelter_err_set(err, SHELTER_E_INVAL, "manifest: environment name "
					       "'%s' is empty or contains '='", names[i]);
		if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
			continue;
		rc = measure_report_add(r, SHELTER_MEASURE_ENV_ALLOW, names[i], NULL, NULL, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* fixed is sorted by name and names bytewise (names hold no '=', so cmp_fixed orders
 * both alike). A name both fixed and allowed is ambiguous (which value does the
 * program see?), so it is refused. */
static int add_env_fixed(struct shelter_measure_report *r, const char *const *fixed,
			 size_t count, const char *const *names, size_t name_count,
			 struct shelter_err *err)
{
	int rc;

	for (size_t i = 0; i < count; i++) {
		size_t n = name_size(fixed[i]);

		if (fixed[i][n] != '=' || n == 0)
			return shelter_err_set(err, SHELTER_E_INVAL, "manifest: fixed environment "
					       "entry %zu is not NAME=VALUE", i);
		if (i > 0 && cmp_names(fixed[i], fixed[i - 1]) == 0) {
			if (strcmp(fixed[i], fixed[i - 1]) == 0)
				continue;
			return shelter_err_set(err, SHELTER_E_INVAL, "manifest: environment "
					       "variable '%.*s' is fixed to two values", (int)n,
					       fixed[i]);
		}
		if (name_count > 0 &&
		    bsearch(&fixed[i], names, name_count, sizeof(*names), cmp_fixed) != NULL)
			return shelter_err_set(err, SHELTER_E_INVAL, "manifest: environment "
					       "variable '%.*s' is both fixed and allowed from "
					       "the host", (int)n, fixed[i]);
		rc = measure_report_add(r, SHELTER_MEASURE_ENV_FIXED, fixed[i], NULL, NULL, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_volumes(struct shelter_measure_report *r, const char *const *volumes,
		       size_t count, struct shelter_err *err)
{
	char **norm = calloc(count ? count : 1, sizeof(*norm));
	size_t done = 0;
	int rc = 0;

	if (norm == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "manifest: out of memory");
	for (; done < count && rc == 0; done++) {
		size_t cap = strlen(volumes[done]) + 2;

		norm[done] = malloc(cap);
		if (norm[done] == NULL)
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "manifest: out of memory");
		else
			rc = measure_volume_normalise(volumes[done], norm[done], cap, err);
	}
	if (rc == 0)
		qsort(norm, count, sizeof(*norm), cmp_bytes);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		if (i > 0 && strcmp(norm[i], norm[i - 1]) == 0)
			continue;
		rc = measure_report_add(r, SHELTER_MEASURE_VOLUME, norm[i], NULL, NULL, err);
	}
	for (size_t i = 0; i < done; i++)
		free(norm[i]);
	free(norm);
	return rc;
}

/* §4.2: the binding's canonical value, kept in the report as hex (printable by
 * `shelter measure --verbose` like every other manifest entry). */
static int add_freshness(struct shelter_measure_report *r,
			 const struct shelter_measure_freshness *f, struct shelter_err *err)
{
	uint8_t v[SHELTER_MEASURE_FRESH_VALUE_MAX];
	char hex[2 * SHELTER_MEASURE_FRESH_VALUE_MAX + 1];
	size_t size = 0;
	int rc = shelter_measure_freshness_encode(f, v, sizeof(v), &size, err);

	if (rc < 0)
		return shelter_err_wrap(err, rc, "manifest");
	shelter_hex(v, size, hex);
	return measure_report_add(r, SHELTER_MEASURE_FRESHNESS, hex, NULL, NULL, err);
}

int measure_add_manifest(struct shelter_measure_report *r,
			 const struct shelter_measure_opts *opts, struct shelter_err *err)
{
	const char **names = NULL, **fixed = NULL;
	const char *argv0[1] = { opts->program };
	const char *const *argv = opts->argc ? opts->argv : argv0;
	size_t argc = opts->argc ? opts->argc : 1;
	int rc;

	rc = check_list("arguments", argv, argc, err);
	if (rc == 0)
		rc = check_list("environment names", opts->env_names, opts->env_names_count, err);
	if (rc == 0)
		rc = check_list("fixed environment entries", opts->env_fixed,
				opts->env_fixed_count, err);
	if (rc == 0)
		rc = check_list("volumes", opts->volumes, opts->volume_count, err);
	for (size_t i = 0; rc == 0 && i < argc; i++)
		rc = measure_report_add(r, SHELTER_MEASURE_ARG, argv[i], NULL, NULL, err);
	if (rc == 0)
		rc = sorted_copy(opts->env_names, opts->env_names_count, cmp_bytes, &names, err);
	if (rc == 0)
		rc = sorted_copy(opts->env_fixed, opts->env_fixed_count, cmp_fixed, &fixed, err);
	if (rc == 0)
		rc = add_env_names(r, names, opts->env_names_count, err);
	if (rc == 0)
		rc = add_env_fixed(r, fixed, opts->env_fixed_count, names, opts->env_names_count,
				   err);
	if (rc == 0)
		rc = add_volumes(r, opts->volumes, opts->volume_count, err);
	if (rc == 0 && opts->freshness != NULL)
		rc = add_freshness(r, opts->freshness, err);
	free(names);
	free(fixed);
	return rc;
}

/* ---- §4 the stream ---- */

static int is_file_kind(enum shelter_measure_kind k)
{
	return k == SHELTER_MEASURE_PROGRAM || k == SHELTER_MEASURE_INTERP ||
	       k == SHELTER_MEASURE_LIBRARY || k == SHELTER_MEASURE_SHIELD;
}

/* §4.1: the value of each record. */
static size_t value_size(const struct measure_comp *c)
{
	switch (c->kind) {
	case SHELTER_MEASURE_PROGRAM:
		return 32;
	case SHELTER_MEASURE_INTERP:
	case SHELTER_MEASURE_LIBRARY:
		return 32 + strlen(c->name);
	case SHELTER_MEASURE_SHIELD:
		return c->has_digest ? 32 : 0;
	case SHELTER_MEASURE_FRESHNESS:
		return strlen(c->name) / 2;
	default:
		return strlen(c->name);
	}
}

/* A FRESHNESS component holds the hex of a canonical value (§4.2), nothing else. */
static int check_freshness(const struct measure_comp *c, struct shelter_err *err)
{
	uint8_t v[SHELTER_MEASURE_FRESH_VALUE_MAX];
	struct shelter_measure_freshness f;
	size_t n = strlen(c->name);

	if (n % 2 != 0 || n / 2 > sizeof(v) || shelter_unhex(c->name, v, n / 2) != 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "freshness binding: not the hex of "
				       "a record value");
	return shelter_measure_freshness_parse(v, n / 2, &f, err);
}

static int check_order(const struct shelter_measure_report *r, struct shelter_err *err)
{
	size_t program = 0, interp = 0, shield = 0, args = 0, fresh = 0;

	for (size_t i = 0; i < r->count; i++) {
		const struct measure_comp *c = &r->v[i];

		if (i > 0 && c->kind < r->v[i - 1].kind)
			return shelter_err_set(err, SHELTER_E_INTERNAL, "measure: component %zu "
					       "out of order", i);
		if (is_file_kind(c->kind) && c->kind != SHELTER_MEASURE_SHIELD && !c->has_digest)
			return shelter_err_set(err, SHELTER_E_INTERNAL, "measure: component %zu "
					       "has no digest", i);
		if (value_size(c) > MEASURE_VALUE_MAX + 32)
			return shelter_err_set(err, SHELTER_E_INVAL, "measure: component %zu is "
					       "too long", i);
		if (c->kind == SHELTER_MEASURE_FRESHNESS && check_freshness(c, err) < 0)
			return shelter_err_wrap(err, SHELTER_E_INVAL, "measure: component %zu", i);
		fresh += c->kind == SHELTER_MEASURE_FRESHNESS;
		program += c->kind == SHELTER_MEASURE_PROGRAM;
		interp += c->kind == SHELTER_MEASURE_INTERP;
		shield += c->kind == SHELTER_MEASURE_SHIELD;
		args += c->kind == SHELTER_MEASURE_ARG;
	}
	if (program != 1 || interp != 1 || shield != 1 || args == 0)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "measure: need one program, "
				       "interpreter and shield record and an argv[0]");
	if (fresh > 1)
		return shelter_err_set(err, SHELTER_E_INVAL, "measure: %zu freshness bindings, "
				       "at most one", fresh);
	return 0;
}

int measure_encode(const struct shelter_measure_report *r, uint8_t **stream, size_t *size,
		   struct shelter_err *err)
{
	size_t total = sizeof(MEASURE_DOMAIN) - 1;
	struct shelter_wbuf w;
	uint8_t *buf;
	int rc;

	*stream = NULL;
	*size = 0;
	rc = check_order(r, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < r->count; i++)
		total += 6 + value_size(&r->v[i]);
	buf = malloc(total);
	if (buf == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "measure: out of memory");
	shelter_wbuf_init(&w, buf, total);
	shelter_wbuf_put_bytes(&w, MEASURE_DOMAIN, sizeof(MEASURE_DOMAIN) - 1);
	for (size_t i = 0; i < r->count; i++) {
		const struct measure_comp *c = &r->v[i];
		size_t vs = value_size(c);

		/* §4: type u16 || length u32 || value */
		shelter_wbuf_u16(&w, (uint16_t)c->kind);
		shelter_wbuf_u32(&w, (uint32_t)vs);
		if (is_file_kind(c->kind) && c->has_digest)
			shelter_wbuf_put_bytes(&w, c->digest, 32);
		if (c->kind == SHELTER_MEASURE_FRESHNESS) {
			uint8_t *v = shelter_wbuf_take(&w, vs);

			/* checked by check_order: the hex of vs bytes */
			if (v == NULL || shelter_unhex(c->name, v, vs) != 0)
				w.bad = 1;
		} else if (c->kind != SHELTER_MEASURE_PROGRAM && c->kind != SHELTER_MEASURE_SHIELD) {
			shelter_wbuf_put_bytes(&w, c->name, strlen(c->name));
		}
	}
	if (w.bad || w.used != total) {
		free(buf);
		return shelter_err_set(err, SHELTER_E_INTERNAL, "measure: encoding size mismatch");
	}
	*stream = buf;
	*size = total;
	return 0;
}

int measure_fd_digest(int fd, const char *what, uint8_t out[32], struct shelter_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int out_size = 0;
	uint8_t *buf = malloc(READ_SIZE);
	struct stat st;
	ssize_t n;
	int rc = 0;

	if (md == NULL || buf == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "digest '%s': out of memory", what);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = shelter_err_errno(err, errno, "stat '%s'", what);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = shelter_err_set(err, SHELTER_E_INVAL, "'%s' is not a regular file", what);
		goto out;
	}
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rc = shelter_err_set(err, SHELTER_E_CRYPTO, "digest '%s': SHA-256 init", what);
		goto out;
	}
	for (uint64_t off = 0;; off += (uint64_t)n) {
		n = pread(fd, buf, READ_SIZE, (off_t)off);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n < 0) {
			rc = shelter_err_errno(err, errno, "read '%s'", what);
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
			rc = shelter_err_set(err, SHELTER_E_CRYPTO, "digest '%s': SHA-256", what);
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(md, out, &out_size) != 1 || out_size != 32)
		rc = shelter_err_set(err, SHELTER_E_CRYPTO, "digest '%s': SHA-256 final", what);
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}
