/* Placeholders (docs/policy.md §5.2), rendering a launch (§6) and the configuration
 * JSON the workload receives (§6.2).
 *
 * Templates are split into literal and placeholder segments once, at parse time, so
 * every placeholder is known to name an existing secret and field before a session
 * is stored. Rendering only concatenates. Strings the host supplies are copied as
 * they are and never scanned for placeholders: a host must not be able to ask for a
 * secret by passing "{{key.key}}" as an argument.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cas/policy_internal.h"
#include "shelter/crypto.h"

/* ---- fields per kind (§5.1) ---- */

static const char *const field_names[CAS_FIELD_COUNT] = {
	[CAS_FIELD_HEX] = "hex",
	[CAS_FIELD_BASE64] = "base64",
	[CAS_FIELD_VALUE] = "value",
	[CAS_FIELD_PRIVATE_PEM] = "private_pem",
	[CAS_FIELD_PUBLIC_PEM] = "public_pem",
	[CAS_FIELD_PUBLIC_HEX] = "public_hex",
	[CAS_FIELD_CERT] = "cert",
	[CAS_FIELD_KEY] = "key",
	[CAS_FIELD_CA] = "ca",
	[CAS_FIELD_CHAIN] = "chain",
};

const char *cas_secret_field_name(enum cas_secret_field field)
{
	return (unsigned)field < CAS_FIELD_COUNT ? field_names[field] : "?";
}

/* The fields a kind has, and the one {{NAME}} means (-1: a field must be named,
 * because no single one is the obvious meaning of a key pair or a certificate). */
static unsigned kind_fields(enum cas_secret_kind kind, int *default_field)
{
	switch (kind) {
	case CAS_SECRET_RANDOM:
		*default_field = CAS_FIELD_HEX;
		return CAS_FIELD_BIT(CAS_FIELD_HEX) | CAS_FIELD_BIT(CAS_FIELD_BASE64);
	case CAS_SECRET_PASSWORD:
	case CAS_SECRET_VALUE:
		*default_field = CAS_FIELD_VALUE;
		return CAS_FIELD_BIT(CAS_FIELD_VALUE);
	case CAS_SECRET_ED25519:
		*default_field = -1;
		return CAS_FIELD_BIT(CAS_FIELD_PRIVATE_PEM) | CAS_FIELD_BIT(CAS_FIELD_PUBLIC_PEM) |
		       CAS_FIELD_BIT(CAS_FIELD_PUBLIC_HEX);
	case CAS_SECRET_X509:
		*default_field = -1;
		return CAS_FIELD_BIT(CAS_FIELD_CERT) | CAS_FIELD_BIT(CAS_FIELD_KEY) |
		       CAS_FIELD_BIT(CAS_FIELD_CA) | CAS_FIELD_BIT(CAS_FIELD_CHAIN);
	default:
		*default_field = -1;
		return 0;
	}
}

static void fields_text(unsigned mask, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned f = 0; f < CAS_FIELD_COUNT && used < size; f++) {
		if (mask & CAS_FIELD_BIT(f))
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
						 field_names[f]);
	}
}

/* ---- templates (§5.2) ---- */

void cas_policy_tmpl_clear(struct pol_tmpl *t)
{
	if (t == NULL)
		return;
	if (t->text != NULL) {
		shelter_wipe(t->text, t->text_size);
		free(t->text);
	}
	free(t->segs);
	memset(t, 0, sizeof(*t));
}

static int ref_char(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && ((c >= '0' && c <= '9') || c == '-'));
}

/* Resolve "NAME" or "NAME.FIELD" (ref[0, size)) into a segment. */
static int resolve(struct cas_policy *p, const struct pnode *n, const char *where, size_t at,
		   const char *ref, size_t size, struct pol_seg *seg, struct shelter_err *err)
{
	const char *dot = memchr(ref, '.', size);
	size_t name_size = dot != NULL ? (size_t)(dot - ref) : size;
	struct pol_secret *s = NULL;
	char fields[160];
	int def;
	unsigned mask;

	/* the reference itself is only echoed once it is known to be name characters,
	 * so a mistyped secret value can never end up in an error message or log */
	for (size_t i = 0; i < size; i++) {
		if (!ref_char(ref[i], i == 0 || (dot != NULL && ref + i == dot + 1)) &&
		    ref + i != dot)
			return cas_policy_err(err, n, SHELTER_E_INVAL,
					      "%s: byte %zu: '{{' must start a placeholder "
					      "{{NAME}} or {{NAME.FIELD}} (write {{{{ for a literal "
					      "{{)", where, at);
	}
	if (name_size == 0 || name_size > CAS_POLICY_NAME_MAX ||
	    (dot != NULL && (size_t)(ref + size - dot - 1) == 0))
		return cas_policy_err(err, n, SHELTER_E_INVAL, "%s: byte %zu: empty or overlong "
				      "placeholder name", where, at);
	for (size_t i = 0; i < p->secrets_count; i++) {
		if (strlen(p->secrets[i].name) == name_size &&
		    memcmp(p->secrets[i].name, ref, name_size) == 0)
			s = &p->secrets[i];
	}
	if (s == NULL)
		return cas_policy_err(err, n, SHELTER_E_INVAL, "%s: placeholder {{%.*s}}: unknown "
				      "secret '%.*s'", where, (int)size, ref, (int)name_size, ref);
	mask = kind_fields(s->spec.kind, &def);
	seg->secret = (int)(s - p->secrets);
	if (dot == NULL) {
		fields_text(mask, fields, sizeof(fields));
		if (def < 0)
			return cas_policy_err(err, n, SHELTER_E_INVAL, "%s: placeholder {{%s}}: a "
					      "%s secret needs a field: %s", where, s->name,
					      cas_secret_kind_name(s->spec.kind), fields);
		seg->field = (enum cas_secret_field)def;
	} else {
		const char *f = dot + 1;
		size_t fsize = size - name_size - 1;
		int found = -1;

		for (unsigned i = 0; i < CAS_FIELD_COUNT; i++) {
			if ((mask & CAS_FIELD_BIT(i)) && strlen(field_names[i]) == fsize &&
			    memcmp(field_names[i], f, fsize) == 0)
				found = (int)i;
		}
		if (found < 0) {
			fields_text(mask, fields, sizeof(fields));
			return cas_policy_err(err, n, SHELTER_E_INVAL, "%s: placeholder {{%.*s}}: "
					      "a %s secret has no field '%.*s' (fields: %s)", where,
					      (int)size, ref, cas_secret_kind_name(s->spec.kind),
					      (int)fsize, f, fields);
		}
		seg->field = (enum cas_secret_field)found;
	}
	s->fields |= CAS_FIELD_BIT(seg->field);
	return 0;
}

/* Append a literal segment for text[start, t->text_size) when it is not empty. */
static void close_literal(struct pol_tmpl *t, size_t start)
{
	if (t->text_size > start)
		t->segs[t->segs_count++] = (struct pol_seg){ .off = start,
							     .size = t->text_size - start,
							     .secret = -1 };
}

/* §5.2: "{{{{" is a literal "{{"; any other "{{" opens a placeholder that the next
 * "}}" closes; "}}" outside a placeholder is literal. */
int cas_policy_tmpl_parse(struct cas_policy *p, const struct pnode *n, const char *where,
			  struct pol_tmpl *out, struct shelter_err *err)
{
	const char *s = n->str;
	size_t size = n->size, start = 0;
	struct pol_tmpl t = { 0 };
	int rc = 0;

	memset(out, 0, sizeof(*out));
	/* at most one segment per 2 input bytes plus one: "{{x}}" is 5 bytes, literals
	 * alternate with placeholders */
	t.text = malloc(size + 1);
	t.segs = calloc(size / 2 + 2, sizeof(*t.segs));
	if (t.text == NULL || t.segs == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
		goto out;
	}
	for (size_t i = 0; i < size;) {
		const char *close;

		if (s[i] != '{' || i + 1 >= size || s[i + 1] != '{') {
			t.text[t.text_size++] = s[i++];
			continue;
		}
		if (i + 3 < size && s[i + 2] == '{' && s[i + 3] == '{') {
			t.text[t.text_size++] = '{';
			t.text[t.text_size++] = '{';
			i += 4;
			continue;
		}
		close = NULL;
		for (size_t j = i + 2; j + 1 < size && close == NULL; j++) {
			if (s[j] == '}' && s[j + 1] == '}')
				close = s + j;
		}
		if (close == NULL) {
			rc = cas_policy_err(err, n, SHELTER_E_INVAL, "%s: byte %zu: '{{' without "
					    "'}}' (write {{{{ for a literal {{)", where, i);
			goto out;
		}
		close_literal(&t, start);
		rc = resolve(p, n, where, i, s + i + 2, (size_t)(close - s) - i - 2,
			     &t.segs[t.segs_count], err);
		if (rc < 0)
			goto out;
		t.segs_count++;
		start = t.text_size;
		i = (size_t)(close - s) + 2;
	}
	close_literal(&t, start);
	t.text[t.text_size] = '\0';
	if (t.segs_count > 0) {
		/* a parsed policy may stay cached for long: keep only what is used */
		struct pol_seg *fit = realloc(t.segs, t.segs_count * sizeof(*t.segs));

		if (fit != NULL)
			t.segs = fit;
	}
	*out = t;
	memset(&t, 0, sizeof(t));
out:
	cas_policy_tmpl_clear(&t);
	return rc;
}

/* ---- render (§6) ---- */

struct cached {
	uint8_t *value[CAS_FIELD_COUNT];
	size_t size[CAS_FIELD_COUNT];
	unsigned have;
};

struct render {
	const struct cas_policy *p;
	cas_secret_lookup_fn lookup;
	void *ctx;
	struct cached *cache;  /* one per secret */
	size_t total;          /* bytes of the configuration so far */
	struct shelter_err *err;
};

static int account(struct render *r, size_t size, const char *what)
{
	if (size > CAS_LAUNCH_MAX_SIZE - r->total)
		return shelter_err_set(r->err, SHELTER_E_INVAL, "render session '%s': %s: the "
				       "configuration exceeds %u bytes", r->p->name, what,
				       CAS_LAUNCH_MAX_SIZE);
	r->total += size;
	return 0;
}

static int fetch(struct render *r, int secret, enum cas_secret_field field, const char *what)
{
	struct cached *c = &r->cache[secret];
	const struct pol_secret *s = &r->p->secrets[secret];
	uint8_t *value = NULL;
	size_t size = 0;
	int rc;

	if (c->have & CAS_FIELD_BIT(field))
		return 0;
	if (r->lookup == NULL)
		return shelter_err_set(r->err, SHELTER_E_INVAL, "render session '%s': no secret "
				       "lookup", r->p->name);
	rc = r->lookup(r->ctx, &s->spec, field, &value, &size, r->err);
	if (rc < 0)
		return shelter_err_wrap(r->err, rc, "render session '%s': %s: secret '%s' field "
					"'%s'", r->p->name, what, s->name, field_names[field]);
	if (rc > 0 || (value == NULL && size > 0)) {
		if (value != NULL) {
			shelter_wipe(value, size);
			free(value);
		}
		return shelter_err_set(r->err, SHELTER_E_INTERNAL, "render session '%s': secret "
				       "'%s' field '%s': lookup broke its contract", r->p->name,
				       s->name, field_names[field]);
	}
	c->value[field] = value;
	c->size[field] = size;
	c->have |= CAS_FIELD_BIT(field);
	return 0;
}

/* Render t into a new NUL-terminated buffer. Text destined for argv or the
 * environment (text != 0) cannot hold a NUL byte. */
static int render_tmpl(struct render *r, const struct pol_tmpl *t, int text, const char *what,
		       uint8_t **out, size_t *out_size)
{
	size_t size = 0, used = 0;
	uint8_t *buf = NULL;
	int rc = 0;

	*out = NULL;
	*out_size = 0;
	for (size_t i = 0; i < t->segs_count; i++) {
		const struct pol_seg *g = &t->segs[i];
		size_t piece;

		if (g->secret >= 0) {
			rc = fetch(r, g->secret, g->field, what);
			if (rc < 0)
				return rc;
			piece = r->cache[g->secret].size[g->field];
			if (text && piece > 0 &&
			    memchr(r->cache[g->secret].value[g->field], '\0', piece) != NULL)
				return shelter_err_set(r->err, SHELTER_E_INVAL, "render session '%s': "
						       "%s: secret '%s' field '%s' holds a NUL byte",
						       r->p->name, what, r->p->secrets[g->secret].name,
						       field_names[g->field]);
		} else {
			piece = g->size;
		}
		rc = account(r, piece, what);
		if (rc < 0)
			return rc;
		size += piece;
	}
	buf = malloc(size + 1);
	if (buf == NULL)
		return shelter_err_set(r->err, SHELTER_E_NOMEM, "render: out of memory");
	for (size_t i = 0; i < t->segs_count; i++) {
		const struct pol_seg *g = &t->segs[i];
		const uint8_t *src;
		size_t piece;

		if (g->secret >= 0) {
			src = r->cache[g->secret].value[g->field];
			piece = r->cache[g->secret].size[g->field];
		} else {
			src = (const uint8_t *)t->text + g->off;
			piece = g->size;
		}
		if (piece > 0)
			memcpy(buf + used, src, piece);
		used += piece;
	}
	buf[used] = '\0';
	*out = buf;
	*out_size = used;
	return 0;
}

static int dup_host(struct render *r, const char *s, const char *what, char **out)
{
	size_t size = strlen(s);
	int rc = account(r, size, what);

	*out = NULL;
	if (rc < 0)
		return rc;
	*out = strdup(s);
	if (*out == NULL)
		return shelter_err_set(r->err, SHELTER_E_NOMEM, "render: out of memory");
	return 0;
}

/* §6.1 args: the policy's args (or the host's argv[0] when it has none), then the
 * host's argv[1..] only when host_args is true. */
static int render_args(struct render *r, struct cas_launch *l, const char *const *host, size_t n)
{
	const struct cas_policy *p = r->p;
	size_t extra = p->host_args && n > 1 ? n - 1 : 0;
	size_t base = p->args_count > 0 ? p->args_count : (n > 0 ? 1 : 0);
	char what[48];
	int rc = 0;

	if (n > CAS_LAUNCH_MAX_HOST_ARGS)
		return shelter_err_set(r->err, SHELTER_E_INVAL, "render session '%s': the host "
				       "gave %zu arguments, at most %u", p->name, n,
				       CAS_LAUNCH_MAX_HOST_ARGS);
	if (base + extra == 0)
		return 0;
	l->args = calloc(base + extra, sizeof(*l->args));
	if (l->args == NULL)
		return shelter_err_set(r->err, SHELTER_E_NOMEM, "render: out of memory");
	for (size_t i = 0; i < p->args_count; i++) {
		uint8_t *v;
		size_t size;

		snprintf(what, sizeof(what), "args[%zu]", i);
		rc = render_tmpl(r, &p->args[i], 1, what, &v, &size);
		if (rc < 0)
			return rc;
		l->args[l->args_count++] = (char *)v;
	}
	if (p->args_count == 0 && n > 0) {
		if (host[0] == NULL)
			return shelter_err_set(r->err, SHELTER_E_INVAL, "render: host argument 0 "
					       "is NULL");
		rc = dup_host(r, host[0], "host argument 0", &l->args[l->args_count]);
		if (rc < 0)
			return rc;
		l->args_count++;
	}
	for (size_t i = 1; i <= extra; i++) {
		if (host[i] == NULL)
			return shelter_err_set(r->err, SHELTER_E_INVAL, "render: host argument %zu "
					       "is NULL", i);
		snprintf(what, sizeof(what), "host argument %zu", i);
		rc = dup_host(r, host[i], what, &l->args[l->args_count]);
		if (rc < 0)
			return rc;
		l->args_count++;
	}
	return 0;
}

static int env_has(const struct cas_launch *l, const char *name, size_t size)
{
	for (size_t i = 0; i < l->env_count; i++) {
		if (strncmp(l->env[i].name, name, size) == 0 && l->env[i].name[size] == '\0')
			return 1;
	}
	return 0;
}

/* The host_env entry naming name[0, size), or NULL. */
static const char *host_env_allowed(const struct cas_policy *p, const char *name, size_t size)
{
	for (size_t i = 0; i < p->host_env_count; i++) {
		if (strncmp(p->host_env[i], name, size) == 0 && p->host_env[i][size] == '\0')
			return p->host_env[i];
	}
	return NULL;
}

/* §6.1 env: the policy's entries, then each host_env name the host set (its first
 * "NAME=" entry) unless the policy sets it too: the policy wins. */
static int render_env(struct render *r, struct cas_launch *l, const char *const *host, size_t m)
{
	const struct cas_policy *p = r->p;
	size_t cap = p->env_count + p->host_env_count;
	char what[300];
	int rc = 0;

	if (cap == 0)
		return 0;
	l->env = calloc(cap, sizeof(*l->env));
	if (l->env == NULL)
		return shelter_err_set(r->err, SHELTER_E_NOMEM, "render: out of memory");
	for (size_t i = 0; i < p->env_count; i++) {
		struct cas_launch_env *e = &l->env[l->env_count];
		uint8_t *v;
		size_t size;

		snprintf(what, sizeof(what), "env %s", p->env[i].name);
		e->name = strdup(p->env[i].name);
		if (e->name == NULL)
			return shelter_err_set(r->err, SHELTER_E_NOMEM, "render: out of memory");
		l->env_count++;
		rc = render_tmpl(r, &p->env[i].value, 1, what, &v, &size);
		if (rc < 0)
			return rc;
		e->value = (char *)v;
	}
	for (size_t i = 0; i < m && l->env_count < cap; i++) {
		const char *kv = host[i], *eq = kv != NULL ? strchr(kv, '=') : NULL;
		const char *name;
		struct cas_launch_env *e = &l->env[l->env_count];

		if (eq == NULL || (name = host_env_allowed(p, kv, (size_t)(eq - kv))) == NULL ||
		    env_has(l, kv, (size_t)(eq - kv)))
			continue;
		snprintf(what, sizeof(what), "host env %s", name);
		e->name = strdup(name);
		if (e->name == NULL)
			return shelter_err_set(r->err, SHELTER_E_NOMEM, "render: out of memory");
		l->env_count++;
		rc = dup_host(r, eq + 1, what, &e->value);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int render_files(struct render *r, struct cas_launch *l)
{
	const struct cas_policy *p = r->p;
	char what[CAS_POLICY_PATH_MAX + 8];
	int rc = 0;

	if (p->files_count == 0)
		return 0;
	l->files = calloc(p->files_count, sizeof(*l->files));
	if (l->files == NULL)
		return shelter_err_set(r->err, SHELTER_E_NOMEM, "render: out of memory");
	for (size_t i = 0; i < p->files_count; i++) {
		struct cas_launch_file *f = &l->files[l->files_count];

		snprintf(what, sizeof(what), "file %s", p->files[i].path);
		f->path = strdup(p->files[i].path);
		if (f->path == NULL)
			return shelter_err_set(r->err, SHELTER_E_NOMEM, "render: out of memory");
		l->files_count++;
		rc = render_tmpl(r, &p->files[i].content, 0, what, &f->data, &f->size);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int render_volumes(struct render *r, struct cas_launch *l)
{
	const struct cas_policy *p = r->p;

	if (p->volumes_count == 0)
		return 0;
	l->volumes = calloc(p->volumes_count, sizeof(*l->volumes));
	if (l->volumes == NULL)
		return shelter_err_set(r->err, SHELTER_E_NOMEM, "render: out of memory");
	for (size_t i = 0; i < p->volumes_count; i++) {
		struct cas_launch_volume *v = &l->volumes[l->volumes_count++];

		v->name = strdup(p->volumes[i].name);
		v->path = strdup(p->volumes[i].path);
		if (v->name == NULL || v->path == NULL)
			return shelter_err_set(r->err, SHELTER_E_NOMEM, "render: out of memory");
	}
	return 0;
}

int cas_policy_render(const struct cas_policy *p, const char *const *host_args, size_t n,
		      const char *const *host_env, size_t m, cas_secret_lookup_fn lookup, void *ctx,
		      struct cas_launch **out, struct shelter_err *err)
{
	struct render r = { .p = p, .lookup = lookup, .ctx = ctx, .err = err };
	struct cas_launch *l = NULL;
	int rc = 0;

	if (out != NULL)
		*out = NULL;
	if (p == NULL || out == NULL || (host_args == NULL && n > 0) ||
	    (host_env == NULL && m > 0))
		return shelter_err_set(err, SHELTER_E_INVAL, "render: bad arguments");
	if (p->secrets_count > 0) {
		r.cache = calloc(p->secrets_count, sizeof(*r.cache));
		if (r.cache == NULL) {
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "render: out of memory");
			goto out;
		}
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL || (l->session = strdup(p->name)) == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "render: out of memory");
		goto out;
	}
	if ((rc = render_args(&r, l, host_args, n)) < 0 ||
	    (rc = render_env(&r, l, host_env, m)) < 0 || (rc = render_files(&r, l)) < 0 ||
	    (rc = render_volumes(&r, l)) < 0)
		goto out;
	*out = l;
	l = NULL;
out:
	cas_launch_free(l);
	for (size_t i = 0; r.cache != NULL && i < p->secrets_count; i++) {
		for (unsigned f = 0; f < CAS_FIELD_COUNT; f++) {
			if (r.cache[i].value[f] == NULL)
				continue;
			shelter_wipe(r.cache[i].value[f], r.cache[i].size[f]);
			free(r.cache[i].value[f]);
		}
	}
	free(r.cache);
	return rc;
}

static void free_str(char *s)
{
	if (s == NULL)
		return;
	shelter_wipe(s, strlen(s));
	free(s);
}

void cas_launch_free(struct cas_launch *l)
{
	if (l == NULL)
		return;
	free(l->session);
	for (size_t i = 0; i < l->args_count; i++)
		free_str(l->args[i]);
	free(l->args);
	for (size_t i = 0; i < l->env_count; i++) {
		free(l->env[i].name);
		free_str(l->env[i].value);
	}
	free(l->env);
	for (size_t i = 0; i < l->files_count; i++) {
		free(l->files[i].path);
		if (l->files[i].data != NULL) {
			shelter_wipe(l->files[i].data, l->files[i].size);
			free(l->files[i].data);
		}
	}
	free(l->files);
	for (size_t i = 0; i < l->volumes_count; i++) {
		free(l->volumes[i].name);
		free(l->volumes[i].path);
	}
	free(l->volumes);
	free(l);
}

/* ---- the configuration JSON (§6.2) ---- */

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF (what
 * jansson accepts), so a refusal can say "not UTF-8" rather than guess. */
static int utf8_ok(const uint8_t *s, size_t size)
{
	for (size_t i = 0; i < size;) {
		uint8_t c = s[i];
		size_t len;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (size - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

static int str_ok(const char *s)
{
	return utf8_ok((const uint8_t *)s, strlen(s));
}

/* Overwrite the strings of the configuration before releasing it on a failure path:
 * jansson frees without wiping. Depth is at most 3 (root, volumes, volume). */
static void wipe_json(json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_string(j)) {
		shelter_wipe((char *)json_string_value(j), json_string_length(j));
	} else if (json_is_object(j)) {
		json_object_foreach(j, key, v)
			wipe_json(v);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			wipe_json(v);
	}
}

/* Take a new reference into obj (key) or arr (key == NULL); 0 or -1. jansson's
 * *_set_new and *_append_new release value even when they fail. */
static int put(json_t *obj, const char *key, json_t *value)
{
	if (value == NULL)
		return -1;
	return key != NULL ? json_object_set_new(obj, key, value) : json_array_append_new(obj, value);
}

static json_t *base64_string(const uint8_t *data, size_t size)
{
	size_t b64_size = 4 * ((size + 2) / 3);
	char *b64 = malloc(b64_size + 1);
	json_t *s = NULL;

	if (b64 == NULL || size > INT32_MAX)
		goto out;
	EVP_EncodeBlock((unsigned char *)b64, data, (int)size);
	s = json_stringn(b64, b64_size);
out:
	if (b64 != NULL) {
		shelter_wipe(b64, b64_size);
		free(b64);
	}
	return s;
}

/* Fill root with the configuration; -1 when jansson runs out of memory. */
static int build_json(const struct cas_launch *l, json_t *root)
{
	json_t *args, *env, *files, *vols;

	if (put(root, "session", json_string(l->session)) < 0 ||
	    put(root, "args", args = json_array()) < 0 || put(root, "env", env = json_object()) < 0 ||
	    put(root, "files", files = json_object()) < 0 ||
	    put(root, "volumes", vols = json_array()) < 0)
		return -1;
	for (size_t i = 0; i < l->args_count; i++) {
		if (put(args, NULL, json_string(l->args[i])) < 0)
			return -1;
	}
	for (size_t i = 0; i < l->env_count; i++) {
		if (put(env, l->env[i].name, json_string(l->env[i].value)) < 0)
			return -1;
	}
	for (size_t i = 0; i < l->files_count; i++) {
		if (put(files, l->files[i].path,
			base64_string(l->files[i].data, l->files[i].size)) < 0)
			return -1;
	}
	for (size_t i = 0; i < l->volumes_count; i++) {
		json_t *v = json_object();

		if (put(vols, NULL, v) < 0 || put(v, "name", json_string(l->volumes[i].name)) < 0 ||
		    put(v, "path", json_string(l->volumes[i].path)) < 0)
			return -1;
	}
	return 0;
}

int cas_launch_to_json(const struct cas_launch *l, json_t **out, struct shelter_err *err)
{
	json_t *root = NULL;
	const char *bad = NULL;
	size_t bad_index = 0;
	int rc = 0;

	if (out != NULL)
		*out = NULL;
	if (l == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "configuration JSON: bad arguments");
	/* JSON carries UTF-8 only (RFC 8259 §8.1): say which string is not, without
	 * quoting it, since it may be a secret */
	for (size_t i = 0; i < l->args_count && bad == NULL; i++) {
		if (!str_ok(l->args[i]))
			bad = "args", bad_index = i;
	}
	for (size_t i = 0; i < l->env_count && bad == NULL; i++) {
		if (!str_ok(l->env[i].name) || !str_ok(l->env[i].value))
			bad = "env", bad_index = i;
	}
	if (bad != NULL || !str_ok(l->session)) {
		rc = shelter_err_set(err, SHELTER_E_INVAL, "configuration JSON of session '%s': "
				     "%s[%zu] is not valid UTF-8", str_ok(l->session) ?
				     l->session : "?", bad != NULL ? bad : "session", bad_index);
		goto out;
	}
	root = json_object();
	if (root == NULL || build_json(l, root) < 0) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "configuration JSON of session '%s': "
				     "out of memory", l->session);
		goto out;
	}
	*out = root;
	root = NULL;
out:
	if (root != NULL) {
		wipe_json(root);
		json_decref(root);
	}
	return rc;
}
