/* The content of sudo I/O log sessions, reader side: one session's files put back
 * together from its iolog-data events, checked against its iolog-end
 * (docs/streamlog.md §3.5.4, §7.5; iolog.h). No I/O: entries in, bytes out. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "streamlog/iolog.h"
#include "util/b64.h"

#define FILE_MAX (UINT64_C(1) << 32) /* 4 GiB a file: memory, not the format */

struct asm_file {
	char name[SL_IOLOG_NAME_MAX + 1];
	uint8_t *p;
	size_t size, cap;
	EVP_MD_CTX *md;     /* SHA-256 of p[0, size) */
	int bad;            /* a problem was reported (one per file) */
	int code;           /* its code, for sl_iolog_asm_finish */
	char why[512];
	int altered;        /* an iolog-altered names it */
};

struct end_line {
	char name[SL_IOLOG_NAME_MAX + 1];
	uint64_t copied, size;
	char copied_hex[SL_IOLOG_HEX + 1];
	char status[16];
};

struct sl_iolog_asm {
	char *want;         /* the session asked for: an id or a directory */
	char *id, *dir;     /* the session found */
	struct asm_file f[SL_IOLOG_FILES_MAX];
	size_t count;
	int seen;
	/* the last iolog-end; closed: one said complete or removed (an idle one may be
	 * followed by more of the session) */
	int ended, closed;
	/* events of the session after it closed: a re-recording, compared only */
	size_t late;
	char late_why[512];
	uint64_t end_index;
	char how[16];
	struct end_line end[SL_IOLOG_FILES_MAX];
	size_t end_count;
};

int sl_iolog_asm_new(const char *session, struct sl_iolog_asm **out, struct shelter_err *err)
{
	struct sl_iolog_asm *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (a == NULL || (a->want = strdup(session)) == NULL) {
		free(a);
		return shelter_err_set(err, SHELTER_E_NOMEM, "iolog: out of memory");
	}
	*out = a;
	return 0;
}

void sl_iolog_asm_free(struct sl_iolog_asm *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->count; i++) {
		free(a->f[i].p);
		EVP_MD_CTX_free(a->f[i].md);
	}
	free(a->want);
	free(a->id);
	free(a->dir);
	free(a);
}

const char *sl_iolog_asm_id(const struct sl_iolog_asm *a)
{
	return a->id;
}

size_t sl_iolog_asm_count(const struct sl_iolog_asm *a)
{
	return a->count;
}

const char *sl_iolog_asm_file(const struct sl_iolog_asm *a, size_t i, const uint8_t **out_bytes,
			      size_t *out_size)
{
	*out_bytes = NULL;
	*out_size = 0;
	if (i >= a->count)
		return NULL;
	*out_bytes = a->f[i].p;
	*out_size = a->f[i].size;
	return a->f[i].name;
}

/* ---- messages ---- */

static int dec(const char **p, const char *end, char stop, uint64_t *out)
{
	const char *q = *p;
	uint64_t v = 0;

	while (q < end && *q >= '0' && *q <= '9' && q - *p < 20) {
		if (v > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*q++ - '0');
	}
	if (q == *p || (q - *p > 1 && **p == '0') || q >= end || *q != stop)
		return -1;
	*p = q + 1;
	*out = v;
	return 0;
}

/* 64 lowercase hex digits then stop (or the end of the text when stop is 0). */
static int hex64(const char **p, const char *end, char stop, char out[SL_IOLOG_HEX + 1])
{
	const char *q = *p;

	if (end - q < SL_IOLOG_HEX)
		return -1;
	for (int i = 0; i < SL_IOLOG_HEX; i++)
		if (!((q[i] >= '0' && q[i] <= '9') || (q[i] >= 'a' && q[i] <= 'f')))
			return -1;
	q += SL_IOLOG_HEX;
	if (stop == 0 ? q != end : (q >= end || *q != stop))
		return -1;
	memcpy(out, *p, SL_IOLOG_HEX);
	out[SL_IOLOG_HEX] = '\0';
	*p = q + (stop != 0);
	return 0;
}

int sl_iolog_data_msg(const char *p, size_t len, uint64_t *out_off, uint64_t *out_len,
		      char out_hex[SL_IOLOG_HEX + 1])
{
	const char *end = p + len;
	uint64_t off = 0, n = 0;

	*out_off = *out_len = 0;
	out_hex[0] = '\0';
	if (dec(&p, end, ' ', &off) != 0 || dec(&p, end, ' ', &n) != 0 || n == 0 ||
	    n > SL_IOLOG_CHUNK || off > FILE_MAX || hex64(&p, end, 0, out_hex) != 0) {
		out_hex[0] = '\0';
		return SHELTER_E_MALFORMED;
	}
	*out_off = off;
	*out_len = n;
	return 0;
}

/* One line of iolog-end: "NAME COPIED COPIED_SHA SIZE SHA STATUS". */
static int end_line(const char *p, const char *end, struct end_line *l)
{
	const char *sp = memchr(p, ' ', (size_t)(end - p));
	char now[SL_IOLOG_HEX + 1];
	size_t st;

	memset(l, 0, sizeof(*l));
	if (sp == NULL || !sl_iolog_name_ok(p, (size_t)(sp - p)))
		return -1;
	memcpy(l->name, p, (size_t)(sp - p));
	p = sp + 1;
	if (dec(&p, end, ' ', &l->copied) != 0 || hex64(&p, end, ' ', l->copied_hex) != 0 ||
	    dec(&p, end, ' ', &l->size) != 0)
		return -1;
	if (end - p >= 2 && p[0] == '-' && p[1] == ' ')
		p += 2;
	else if (hex64(&p, end, ' ', now) != 0)
		return -1;
	st = (size_t)(end - p);
	if (!((st == 5 && memcmp(p, "match", 5) == 0) || (st == 7 && memcmp(p, "altered", 7) == 0) ||
	      (st == 7 && memcmp(p, "missing", 7) == 0)))
		return -1;
	memcpy(l->status, p, st);
	return 0;
}

/* ---- entries ---- */

static const char *str_at(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);

	if (b != NULL)
		v = json_object_get(v, b);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int hex_of(EVP_MD_CTX *md, char out[SL_IOLOG_HEX + 1])
{
	static const char x[] = "0123456789abcdef";
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t d[32];
	unsigned n = 0;
	int ok = c != NULL && EVP_MD_CTX_copy_ex(c, md) == 1 && EVP_DigestFinal_ex(c, d, &n) == 1;

	EVP_MD_CTX_free(c);
	if (!ok)
		return -1;
	for (int i = 0; i < 32; i++) {
		out[2 * i] = x[d[i] >> 4];
		out[2 * i + 1] = x[d[i] & 15];
	}
	out[SL_IOLOG_HEX] = '\0';
	return 0;
}

/* The SHA-256 of p[0, n), in hex. */
static int hex_bytes(const uint8_t *p, size_t n, char out[SL_IOLOG_HEX + 1])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
				 EVP_DigestUpdate(md, p, n) == 1 ? hex_of(md, out) : -1;

	EVP_MD_CTX_free(md);
	return rc;
}

static struct asm_file *file_of(struct sl_iolog_asm *a, const char *name)
{
	struct asm_file *f;

	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->f[i].name, name) == 0)
			return &a->f[i];
	if (a->count >= SL_IOLOG_FILES_MAX)
		return NULL;
	f = &a->f[a->count];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->md = EVP_MD_CTX_new();
	if (f->md == NULL || EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(f->md);
		return NULL;
	}
	a->count++;
	return f;
}

/* A problem with file f: reported (as err) the first time only. */
static int problem(struct asm_file *f, struct shelter_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int problem(struct asm_file *f, struct shelter_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (f->bad)
		return 0;
	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	f->bad = 1;
	f->code = code;
	return shelter_err_set(err, code, "%s", f->why);
}

static int grow(struct asm_file *f, size_t need)
{
	size_t cap = f->cap ? f->cap : 65536;
	uint8_t *p;

	if (need <= f->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	p = realloc(f->p, cap);
	if (p == NULL)
		return -1;
	f->p = p;
	f->cap = cap;
	return 0;
}

/* One iolog-data event: bytes[0, n) of file name at off, the digest hex of [0, off+n). */
static int take_data(struct sl_iolog_asm *a, uint64_t index, const char *name, uint64_t off,
		     const uint8_t *bytes, size_t n, const char *hex, struct shelter_err *err)
{
	struct asm_file *f = file_of(a, name);
	char have[SL_IOLOG_HEX + 1];
	uint64_t end = off + n;

	if (f == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "entry %" PRIu64 ": file %s: too many "
				       "files or out of memory", index, name);
	if (off > f->size)
		return problem(f, err, SHELTER_E_MISSING, "file %s: bytes %zu to %" PRIu64 " were "
			       "never recorded (the next chunk, entry %" PRIu64 ", starts at byte %"
			       PRIu64 ")", name, f->size, off, index, off);
	if (end > FILE_MAX)
		return problem(f, err, SHELTER_E_FBIG, "file %s: over 4 GiB at entry %" PRIu64, name,
			       index);
	if (off < f->size &&
	    memcmp(f->p + off, bytes, (size_t)(end < f->size ? end : f->size) - (size_t)off) != 0)
		return problem(f, err, SHELTER_E_INTEGRITY, "file %s: entry %" PRIu64 " records "
			       "other bytes at offset %" PRIu64 " than an earlier chunk", name,
			       index, off);
	if (end > f->size) {
		size_t skip = f->size - (size_t)off;

		if (grow(f, (size_t)end) != 0)
			return shelter_err_set(err, SHELTER_E_NOMEM, "file %s: out of memory", name);
		memcpy(f->p + f->size, bytes + skip, n - skip);
		if (EVP_DigestUpdate(f->md, bytes + skip, n - skip) != 1)
			return shelter_err_set(err, SHELTER_E_CRYPTO, "SHA-256");
		f->size = (size_t)end;
	}
	/* a duplicate (after a crash, §3.5.5) names a shorter prefix: hashed again */
	if ((end == f->size ? hex_of(f->md, have) : hex_bytes(f->p, (size_t)end, have)) != 0)
		return shelter_err_set(err, SHELTER_E_CRYPTO, "SHA-256");
	if (CRYPTO_memcmp(have, hex, SL_IOLOG_HEX) != 0)
		return problem(f, err, SHELTER_E_INTEGRITY, "file %s: the digest entry %" PRIu64
			       " gives for bytes 0 to %" PRIu64 " is not that of the bytes recorded "
			       "(the file was altered on the host before StreamLog read on)", name,
			       index, end);
	return 0;
}

static int take_end(struct sl_iolog_asm *a, uint64_t index, const char *how, const char *msg,
		    struct shelter_err *err)
{
	const char *p = msg, *end = msg + strlen(msg);
	size_t count = 0;

	if (strcmp(how, "complete") != 0 && strcmp(how, "idle") != 0 && strcmp(how, "removed") != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "entry %" PRIu64 ": iolog-end "
				       "what.action '%.20s'", index, how);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;

		if (count >= SL_IOLOG_FILES_MAX || end_line(p, le, &a->end[count]) != 0)
			return shelter_err_set(err, SHELTER_E_MALFORMED, "entry %" PRIu64 ": iolog-end "
					       "line %zu does not parse", index, count + 1);
		for (size_t i = 0; i < count; i++)
			if (strcmp(a->end[i].name, a->end[count].name) == 0)
				return shelter_err_set(err, SHELTER_E_MALFORMED, "entry %" PRIu64
						       ": iolog-end names %s twice", index,
						       a->end[i].name);
		count++;
		p = nl != NULL ? nl + 1 : end;
	}
	for (size_t i = 0; i < count; i++)
		if (file_of(a, a->end[i].name) == NULL) /* empty files have no chunk */
			return shelter_err_set(err, SHELTER_E_NOMEM, "iolog: out of memory");
	a->ended = 1;
	a->closed = strcmp(how, "idle") != 0;
	a->end_index = index;
	a->end_count = count;
	snprintf(a->how, sizeof(a->how), "%s", how);
	return 0;
}

/* An event of the session after it closed (§7.5): the session seen again by the
 * follower (its log.json changed on the host, or a restart after a crash copied it
 * again). The files keep what was recorded before; a re-recording with other bytes
 * is noted. */
static void late(struct sl_iolog_asm *a, uint64_t index, const char *result, const char *name,
		 const char *msg, const char *raw)
{
	uint8_t bytes[SL_IOLOG_CHUNK];
	char hex[SL_IOLOG_HEX + 1];
	uint64_t off = 0, n = 0;
	size_t got = 0;
	const struct asm_file *f = NULL;
	const char *why = NULL;

	if (strcmp(result, "iolog-data") != 0) {
		if (strcmp(result, "iolog-altered") == 0)
			why = "recorded altered after its end";
	} else if (sl_iolog_data_msg(msg, strlen(msg), &off, &n, hex) != 0 || raw == NULL ||
		   shelter_b64_decode(raw, strlen(raw), bytes, sizeof(bytes), &got) != 0 || got != n) {
		why = "an iolog-data after the end that does not parse";
	} else {
		for (size_t i = 0; i < a->count && f == NULL; i++)
			if (strcmp(a->f[i].name, name) == 0)
				f = &a->f[i];
		if (f == NULL || off + n > f->size)
			why = "recorded again after its end with bytes past those recorded before";
		else if (memcmp(f->p + off, bytes, (size_t)n) != 0)
			why = "recorded again after its end with other bytes";
	}
	if (why == NULL)
		return;
	if (a->late++ == 0)
		snprintf(a->late_why, sizeof(a->late_why), "file %s: %s (entry %" PRIu64 ", the "
			 "session ended at entry %" PRIu64 "): the host's copy changed after the end; "
			 "the files here are those recorded up to the end", name, why, index,
			 a->end_index);
}

const char *sl_iolog_asm_note(const struct sl_iolog_asm *a, size_t *out_count)
{
	*out_count = a->late;
	return a->late > 0 ? a->late_why : NULL;
}

/* Is this event of the session asked for? 1 yes, 0 no, or an error. */
static int ours(struct sl_iolog_asm *a, uint64_t index, json_t *j, struct shelter_err *err)
{
	const char *src = str_at(j, "src", "id"), *id = str_at(j, "who", "session");
	char *dir;
	int yes;

	if (src == NULL || strncmp(src, "file:", 5) != 0 || id == NULL || id[0] == '\0')
		return shelter_err_set(err, SHELTER_E_MALFORMED, "entry %" PRIu64 ": an iolog event "
				       "without src.id file:DIR or who.session", index);
	if (asprintf(&dir, "%s/%s", src + 5, id) < 0)
		return shelter_err_set(err, SHELTER_E_NOMEM, "iolog: out of memory");
	if (strcmp(id, ".") == 0)
		snprintf(dir, strlen(dir) + 1, "%s", src + 5);
	yes = strcmp(a->want, id) == 0 || strcmp(a->want, dir) == 0;
	if (yes && a->dir == NULL) {
		a->dir = dir;
		dir = NULL;
		a->id = strdup(id);
		if (a->id == NULL) {
			free(dir);
			return shelter_err_set(err, SHELTER_E_NOMEM, "iolog: out of memory");
		}
	} else if (yes && strcmp(a->dir, dir) != 0) {
		int rc = shelter_err_set(err, SHELTER_E_CONFLICT, "entry %" PRIu64 ": session %s is in "
					 "%s and in %s: name it by its directory", index, a->want,
					 a->dir, dir);

		free(dir);
		return rc;
	}
	free(dir);
	return yes;
}

int sl_iolog_asm_entry(struct sl_iolog_asm *a, uint64_t index, const char *entry, size_t size,
		       struct shelter_err *err)
{
	const char *result, *name, *msg, *raw;
	json_t *j;
	int rc = 0;

	if (size < 7 || memmem(entry, size, "\"iolog-", 7) == NULL)
		return 0;
	j = json_loadb(entry, size, JSON_ALLOW_NUL, NULL);
	result = str_at(j, "what", "result");
	if (!json_is_object(j) || result == NULL || strncmp(result, "iolog-", 6) != 0 ||
	    str_at(j, "src", "kind") == NULL || strcmp(str_at(j, "src", "kind"), "sudo") != 0 ||
	    (strcmp(result, "iolog-data") != 0 && strcmp(result, "iolog-end") != 0 &&
	     strcmp(result, "iolog-altered") != 0))
		goto out;
	rc = ours(a, index, j, err);
	if (rc <= 0)
		goto out;
	rc = 0;
	a->seen = 1;
	name = str_at(j, "what", "action");
	msg = str_at(j, "what", "message");
	raw = str_at(j, "raw", NULL);
	if (name == NULL || msg == NULL) {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "entry %" PRIu64 ": %s without "
				     "what.action or what.message", index, result);
	} else if (a->closed) {
		late(a, index, result, name, msg, raw);
	} else if (strcmp(result, "iolog-end") == 0) {
		rc = take_end(a, index, name, msg, err);
	} else if (!sl_iolog_name_ok(name, strlen(name))) {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "entry %" PRIu64 ": %s of file "
				     "'%.64s'", index, result, name);
	} else if (strcmp(result, "iolog-altered") == 0) {
		struct asm_file *f = file_of(a, name);

		if (f == NULL)
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "iolog: out of memory");
		else
			f->altered = 1;
	} else {
		uint8_t bytes[SL_IOLOG_CHUNK];
		char hex[SL_IOLOG_HEX + 1];
		uint64_t off = 0, n = 0;
		size_t got = 0;

		if (sl_iolog_data_msg(msg, strlen(msg), &off, &n, hex) != 0 || raw == NULL ||
		    shelter_b64_decode(raw, strlen(raw), bytes, sizeof(bytes), &got) != 0 ||
		    got != n || json_object_get(j, "trunc") != NULL)
			rc = shelter_err_set(err, SHELTER_E_MALFORMED, "entry %" PRIu64 ": iolog-data "
					     "of %s: want what.message 'OFFSET LENGTH SHA256' and "
					     "raw the LENGTH bytes in base64", index, name);
		else
			rc = take_data(a, index, name, off, bytes, (size_t)n, hex, err);
	}
out:
	json_decref(j);
	return rc;
}

int sl_iolog_asm_finish(const struct sl_iolog_asm *a, struct shelter_err *err)
{
	if (!a->seen)
		return shelter_err_set(err, SHELTER_E_NOENT, "no event of session %s", a->want);
	for (size_t i = 0; i < a->count; i++)
		if (a->f[i].bad)
			return shelter_err_set(err, a->f[i].code, "%s", a->f[i].why);
	if (!a->ended)
		return shelter_err_set(err, SHELTER_E_MISSING, "session %s: no iolog-end: it had not "
				       "ended when the checkpoint was made, or was not followed to "
				       "its end; the files hold what was recorded", a->dir);
	for (size_t i = 0; i < a->end_count; i++) {
		const struct end_line *l = &a->end[i];
		const struct asm_file *f = NULL;
		char have[SL_IOLOG_HEX + 1];

		for (size_t k = 0; k < a->count && f == NULL; k++)
			if (strcmp(a->f[k].name, l->name) == 0)
				f = &a->f[k];
		if (f == NULL || f->size != l->copied)
			return shelter_err_set(err, SHELTER_E_MISSING, "file %s: the iolog-end (entry %"
					       PRIu64 ") says %" PRIu64 " bytes were copied, %zu were "
					       "recorded", l->name, a->end_index, l->copied,
					       f != NULL ? f->size : 0);
		if (hex_bytes(f->p, f->size, have) != 0)
			return shelter_err_set(err, SHELTER_E_CRYPTO, "SHA-256");
		if (CRYPTO_memcmp(have, l->copied_hex, SL_IOLOG_HEX) != 0)
			return shelter_err_set(err, SHELTER_E_INTEGRITY, "file %s: the bytes recorded "
					       "are not those the iolog-end (entry %" PRIu64
					       ") has a digest of", l->name, a->end_index);
		if (strcmp(l->status, "match") != 0 || f->altered)
			return shelter_err_set(err, SHELTER_E_INTEGRITY, "file %s was %s on the host "
					       "(iolog-altered, iolog-end entry %" PRIu64 "): the "
					       "files here hold the %" PRIu64 " bytes StreamLog copied",
					       l->name, strcmp(l->status, "missing") == 0 ? "removed"
					       : "altered", a->end_index, l->copied);
	}
	if (strcmp(a->how, "complete") != 0)
		return shelter_err_set(err, SHELTER_E_TRUNCATED, "session %s ended %s (entry %" PRIu64
				       "), not complete", a->dir, a->how, a->end_index);
	return 0;
}
