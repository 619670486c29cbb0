/* The provider's inventory (docs/formats/quote.md §7): one JSON line per enrolment
 * or revocation, each naming the SHA-256 of the line before it. A line is appended
 * and fsync'd before the certificate or CRL it records leaves the library, so
 * everything a provider ever issued is on record (§7.2). Reading checks the whole
 * chain and the rules of §7.3 and names the first line that breaks them. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "provider/internal.h"
#include "shelter/crypto.h"

#define INV_FILE_MAX ((size_t)256 << 20)
#define INV_LINE_MAX 4096
#define INV_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)
#define INV_KEYS 8 /* seq, time, event, platform, serial, key_id, reason, prev */

void inv_format_time(time_t when, char out[PROV_TIME_SIZE])
{
	struct tm tm;

	if (gmtime_r(&when, &tm) == NULL ||
	    strftime(out, PROV_TIME_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm) != PROV_TIME_SIZE - 1)
		snprintf(out, PROV_TIME_SIZE, "0000-00-00T00:00:00Z");
}

int inv_parse_time(const char *text, time_t *out)
{
	struct tm tm;
	char again[PROV_TIME_SIZE];
	const char *end;

	memset(&tm, 0, sizeof(tm));
	*out = 0;
	if (strlen(text) != PROV_TIME_SIZE - 1)
		return -1;
	end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*out = timegm(&tm);
	inv_format_time(*out, again);
	return strcmp(again, text) == 0 ? 0 : -1; /* one spelling per instant */
}

/* ---- reading and checking (§7.3) ---- */

static int lower_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

/* The reason as stored: at most PROV_REASON_MAX bytes, no control characters
 * (it is printed by `shelter provider list`). */
static int reason_ok(const char *reason)
{
	size_t n = strlen(reason);

	if (n > PROV_REASON_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
			return 0;
	}
	return 1;
}

struct fields {
	json_int_t seq;
	const char *time, *event, *name, *serial, *key_id, *reason, *prev;
};

static const char *str_field(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int get_fields(json_t *o, struct fields *f)
{
	json_t *seq = json_object_get(o, "seq");

	if (!json_is_object(o) || json_object_size(o) != INV_KEYS || !json_is_integer(seq))
		return -1;
	f->seq = json_integer_value(seq);
	f->time = str_field(o, "time");
	f->event = str_field(o, "event");
	f->name = str_field(o, "platform");
	f->serial = str_field(o, "serial");
	f->key_id = str_field(o, "key_id");
	f->reason = str_field(o, "reason");
	f->prev = str_field(o, "prev");
	return f->time && f->event && f->name && f->serial && f->key_id && f->reason && f->prev
		       ? 0
		       : -1;
}

static struct inv_platform *by_serial(struct inv *inv, const char *serial)
{
	for (size_t i = 0; i < inv->nplatforms; i++) {
		if (strcmp(inv->platforms[i].serial, serial) == 0)
			return &inv->platforms[i];
	}
	return NULL;
}

/* §7.3 rules 4-5: what an enrolment or revocation may follow. */
static int apply(struct inv *inv, const struct fields *f, const uint8_t key_id[32],
		 uint64_t n, struct shelter_err *err)
{
	struct inv_platform *p = by_serial(inv, f->serial), *grown;

	if (strcmp(f->event, "revoke") == 0) {
		if (p == NULL || strcmp(p->name, f->name) != 0 ||
		    memcmp(p->key_id, key_id, 32) != 0)
			return shelter_err_set(err, SHELTER_E_INTEGRITY,
					       "inventory line %llu: revokes a platform no "
					       "enrolment records", (unsigned long long)n);
		if (p->revoke_line != 0)
			return shelter_err_set(err, SHELTER_E_INTEGRITY,
					       "inventory line %llu: revokes '%s' again (first "
					       "on line %llu)", (unsigned long long)n, p->name,
					       (unsigned long long)p->revoke_line);
		p->revoke_line = n;
		snprintf(p->revoked, sizeof(p->revoked), "%s", f->time);
		snprintf(p->reason, sizeof(p->reason), "%s", f->reason);
		return 0;
	}
	if (f->reason[0] != '\0')
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "inventory line %llu: enrolment with a reason",
				       (unsigned long long)n);
	for (size_t i = 0; i < inv->nplatforms; i++) {
		const struct inv_platform *q = &inv->platforms[i];

		if (strcmp(q->serial, f->serial) == 0 || memcmp(q->key_id, key_id, 32) == 0 ||
		    (q->revoke_line == 0 && strcmp(q->name, f->name) == 0))
			return shelter_err_set(err, SHELTER_E_INTEGRITY,
					       "inventory line %llu: enrols a serial, key or "
					       "name already enrolled on line %llu",
					       (unsigned long long)n,
					       (unsigned long long)q->enroll_line);
	}
	grown = realloc(inv->platforms, (inv->nplatforms + 1) * sizeof(*grown));
	if (grown == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "inventory: out of memory");
	inv->platforms = grown;
	p = &inv->platforms[inv->nplatforms++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", f->name);
	snprintf(p->serial, sizeof(p->serial), "%s", f->serial);
	memcpy(p->key_id, key_id, 32);
	snprintf(p->enrolled, sizeof(p->enrolled), "%s", f->time);
	p->enroll_line = n;
	return 0;
}

/* One line (without its newline), number n. */
static int check_line(struct inv *inv, const char *line, size_t len, uint64_t n,
		      struct shelter_err *err)
{
	json_error_t jerr;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	struct fields f;
	char *again = NULL, head_hex[65];
	uint8_t key_id[32];
	time_t t;
	int rc = 0;

	if (o == NULL || get_fields(o, &f) < 0) {
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
				     "inventory line %llu: not an inventory entry (%s)",
				     (unsigned long long)n, o == NULL ? jerr.text : "fields");
		goto out;
	}
	again = json_dumps(o, INV_JSON_FLAGS);
	if (again == NULL || strlen(again) != len || memcmp(again, line, len) != 0) {
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
				     "inventory line %llu: not in canonical form",
				     (unsigned long long)n);
		goto out;
	}
	/* §7.3 rule 2: the chain */
	shelter_hex(inv->head, sizeof(inv->head), head_hex);
	if (strcmp(f.prev, head_hex) != 0) {
		if (n == 1)
			rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
					     "inventory line 1: prev is not 64 zeros (lines were "
					     "removed from the start)");
		else
			rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
					     "inventory line %llu: prev does not match the hash "
					     "of line %llu (line %llu was changed, or lines were "
					     "removed or inserted)", (unsigned long long)n,
					     (unsigned long long)(n - 1),
					     (unsigned long long)(n - 1));
		goto out;
	}
	/* §7.3 rule 3: fields */
	if (f.seq < 0 || (uint64_t)f.seq != n || inv_parse_time(f.time, &t) < 0 ||
	    (strcmp(f.event, "enroll") != 0 && strcmp(f.event, "revoke") != 0) ||
	    !pki_name_ok(f.name) || !lower_hex(f.serial, 2 * PKI_SERIAL_SIZE) ||
	    !lower_hex(f.key_id, 64) || shelter_unhex(f.key_id, key_id, 32) < 0 ||
	    !reason_ok(f.reason)) {
		rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
				     "inventory line %llu: a field is out of range (seq must be "
				     "%llu)", (unsigned long long)n, (unsigned long long)n);
		goto out;
	}
	rc = apply(inv, &f, key_id, n, err);
out:
	free(again);
	json_decref(o);
	return rc;
}

static int read_all(struct inv *inv, char **out, size_t *size, struct shelter_err *err)
{
	struct stat st;
	char *buf;
	size_t got = 0;

	*out = NULL;
	*size = 0;
	if (fstat(inv->fd, &st) < 0)
		return shelter_err_errno(err, errno, "stat '%s'", inv->path);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > INV_FILE_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "'%s' is not a regular file of at most %zu bytes",
				       inv->path, INV_FILE_MAX);
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "read '%s': out of memory",
				       inv->path);
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(inv->fd, buf + got, (size_t)st.st_size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n < 0 ? shelter_err_errno(err, errno, "read '%s'", inv->path)
				     : shelter_err_set(err, SHELTER_E_IO, "read '%s': file shrank",
						       inv->path);
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*size = got;
	return 0;
}

static int load(struct inv *inv, struct shelter_err *err)
{
	char *buf = NULL;
	size_t size = 0, pos = 0;
	int rc = read_all(inv, &buf, &size, err);

	while (rc == 0 && pos < size) {
		char *nl = memchr(buf + pos, '\n', size - pos);
		size_t len = nl != NULL ? (size_t)(nl - (buf + pos)) : size - pos;
		uint64_t n = inv->count + 1;

		if (nl == NULL)
			rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
					     "inventory line %llu: cut short (no newline): an "
					     "interrupted append, or the file was cut",
					     (unsigned long long)n);
		else if (len == 0 || len > INV_LINE_MAX)
			rc = shelter_err_set(err, SHELTER_E_INTEGRITY,
					     "inventory line %llu: empty or longer than %d bytes",
					     (unsigned long long)n, INV_LINE_MAX);
		else
			rc = check_line(inv, buf + pos, len, n, err);
		if (rc == 0)
			rc = shelter_sha256(buf + pos, len, inv->head, err);
		if (rc == 0)
			inv->count = n;
		pos += len + 1;
	}
	free(buf);
	return rc;
}

int inv_open(const char *dir, int writable, struct inv *inv, struct shelter_err *err)
{
	int rc;

	memset(inv, 0, sizeof(*inv));
	inv->fd = -1;
	rc = pki_path(inv->path, sizeof(inv->path), dir, PROV_INVENTORY_FILE, err);
	if (rc < 0)
		return rc;
	inv->fd = open(inv->path, (writable ? O_RDWR | O_APPEND : O_RDONLY) | O_CLOEXEC);
	if (inv->fd < 0)
		return shelter_err_errno(err, errno, "open inventory '%s'", inv->path);
	/* Writers exclude each other and readers; a reader never sees half a line. */
	if (flock(inv->fd, writable ? LOCK_EX : LOCK_SH) < 0) {
		rc = shelter_err_errno(err, errno, "lock inventory '%s'", inv->path);
		goto fail;
	}
	rc = load(inv, err);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	inv_close(inv);
	return rc;
}

void inv_close(struct inv *inv)
{
	if (inv->fd >= 0)
		close(inv->fd); /* releases the lock */
	inv->fd = -1;
	free(inv->platforms);
	inv->platforms = NULL;
	inv->nplatforms = 0;
}

int inv_create(const char *dir, struct shelter_err *err)
{
	char path[4096];
	int rc = pki_path(path, sizeof(path), dir, PROV_INVENTORY_FILE, err);

	return rc < 0 ? rc : pki_write_new(path, 0644, "", 0, err);
}

/* ---- appending (§7.1-§7.2) ---- */

static char *format_line(const struct inv *inv, const char *event, const char *name,
			 const char *serial_hex, const char *key_hex, const char *reason,
			 const char *when)
{
	char prev[65];
	json_t *o = json_object();
	char *line = NULL;

	shelter_hex(inv->head, sizeof(inv->head), prev);
	if (o != NULL &&
	    json_object_set_new(o, "seq", json_integer((json_int_t)(inv->count + 1))) == 0 &&
	    json_object_set_new(o, "time", json_string(when)) == 0 &&
	    json_object_set_new(o, "event", json_string(event)) == 0 &&
	    json_object_set_new(o, "platform", json_string(name)) == 0 &&
	    json_object_set_new(o, "serial", json_string(serial_hex)) == 0 &&
	    json_object_set_new(o, "key_id", json_string(key_hex)) == 0 &&
	    json_object_set_new(o, "reason", json_string(reason)) == 0 &&
	    json_object_set_new(o, "prev", json_string(prev)) == 0)
		line = json_dumps(o, INV_JSON_FLAGS);
	json_decref(o);
	return line;
}

int inv_append(struct inv *inv, const char *event, const char *name, const char *serial_hex,
	       const uint8_t key_id[32], const char *reason, time_t when,
	       struct shelter_err *err)
{
	char key_hex[65], time_text[PROV_TIME_SIZE], *line = NULL;
	struct stat st;
	size_t len, done = 0;
	int rc = 0;
	json_t *utf8 = json_string(reason); /* NULL unless valid UTF-8 */

	json_decref(utf8);
	if (utf8 == NULL || !reason_ok(reason))
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "reason: at most %d bytes of UTF-8 without control "
				       "characters", PROV_REASON_MAX);
	shelter_hex(key_id, 32, key_hex);
	inv_format_time(when, time_text);
	line = format_line(inv, event, name, serial_hex, key_hex, reason, time_text);
	if (line == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "inventory: format entry");
	len = strlen(line);
	line[len] = '\n'; /* json_dumps' NUL becomes the newline; the length is known */
	if (fstat(inv->fd, &st) < 0) {
		rc = shelter_err_errno(err, errno, "stat '%s'", inv->path);
		goto out;
	}
	while (done < len + 1) {
		ssize_t n = write(inv->fd, line + done, len + 1 - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = shelter_err_errno(err, n < 0 ? errno : EIO, "append to '%s'", inv->path);
			break;
		}
		done += (size_t)n;
	}
	if (rc == 0 && fsync(inv->fd) < 0)
		rc = shelter_err_errno(err, errno, "fsync '%s'", inv->path);
	if (rc < 0) {
		/* Take back a partial line so the chain stays readable; nothing was
		 * issued for it. */
		if (ftruncate(inv->fd, st.st_size) == 0)
			(void)fsync(inv->fd);
		goto out;
	}
	line[len] = '\0';
	rc = check_line(inv, line, len, inv->count + 1, err);
	if (rc == 0)
		rc = shelter_sha256(line, len, inv->head, err);
	if (rc == 0)
		inv->count++;
out:
	free(line);
	return rc;
}

int inv_find(const struct inv *inv, const char *target, struct inv_platform **out,
	     struct shelter_err *err)
{
	struct inv_platform *found[3] = { NULL, NULL, NULL }, *one = NULL;
	char lower[80];
	size_t n = strlen(target);

	*out = NULL;
	for (size_t i = 0; i < n && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)target[i]);
	lower[n < sizeof(lower) ? n : sizeof(lower) - 1] = '\0';
	for (size_t i = 0; i < inv->nplatforms; i++) {
		struct inv_platform *p = &inv->platforms[i];
		char key_hex[65];

		/* by name: the enrolled platform of that name, else the newest revoked */
		if (strcmp(p->name, target) == 0 &&
		    (found[0] == NULL || found[0]->revoke_line != 0))
			found[0] = p;
		if (strcmp(p->serial, lower) == 0)
			found[1] = p;
		shelter_hex(p->key_id, 32, key_hex);
		if (strcmp(key_hex, lower) == 0)
			found[2] = p;
	}
	for (int k = 0; k < 3; k++) {
		if (found[k] == NULL)
			continue;
		if (one != NULL && one != found[k])
			return shelter_err_set(err, SHELTER_E_INVAL,
					       "'%s' names more than one platform (a name and a "
					       "serial or key id): give the serial", target);
		one = found[k];
	}
	*out = one;
	return 0;
}
