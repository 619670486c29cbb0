/* tlog messages (docs/streamlog.md §3.4): the fields of
 * tlog's doc/log_format.md and lib/tlog/json_sink.c (format 2.3 adds "time"). */
#include <jansson.h>
#include <string.h>

#include "tlog.h"

static int bad(struct shelter_err *err, const char *key, const char *why)
{
	return shelter_err_set(err, SHELTER_E_MALFORMED, "tlog: \"%s\": %s", key, why);
}

static int full(struct sl_scratch *s, struct shelter_err *err)
{
	return shelter_err_set(err, SHELTER_E_FBIG, "tlog: scratch of %zu bytes is full", s->cap);
}

/* A string member: into the scratch when copy, else only checked; NULL when absent. */
static int get_str(json_t *o, const char *key, int required, struct sl_scratch *s,
		   struct sl_str *out, struct shelter_err *err)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return required ? bad(err, key, "missing") : 0;
	if (!json_is_string(v))
		return bad(err, key, "not a string");
	if (s == NULL) {
		*out = (struct sl_str){ json_string_value(v), json_string_length(v) };
		return 0;
	}
	*out = sl_scratch_put(s, json_string_value(v), json_string_length(v));
	return out->p == NULL ? full(s, err) : 0;
}

/* An integer member in [min, INT64_MAX]; *out untouched when absent and optional. */
static int get_int(json_t *o, const char *key, int required, int64_t min, int64_t *out,
		   struct shelter_err *err)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return required ? bad(err, key, "missing") : 0;
	if (!json_is_integer(v) || json_integer_value(v) < min)
		return bad(err, key, min > 0 ? "not a positive integer" : "not an integer >= 0");
	*out = json_integer_value(v);
	return 0;
}

/* "ver": "<major>[.<minor>]"; this reader knows major 2 (minor additions are
 * forward-compatible, doc/log_format.md). */
static int check_ver(json_t *o, struct shelter_err *err)
{
	struct sl_str v = { NULL, 0 };
	size_t i = 0, major;
	int rc = get_str(o, "ver", 1, NULL, &v, err);

	if (rc != 0)
		return rc;
	while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9')
		i++;
	major = i;
	if (i < v.len && v.p[i] == '.')
		for (i++; i < v.len && v.p[i] >= '0' && v.p[i] <= '9'; i++)
			;
	if (major == 0 || i != v.len || v.p[v.len - 1] == '.')
		return bad(err, "ver", "not <major>[.<minor>]");
	if (major != 1 || v.p[0] != '2')
		return shelter_err_set(err, SHELTER_E_VERSION, "tlog: \"ver\" %.*s, want 2.x",
				       v.len > 16 ? 16 : (int)v.len, v.p);
	return 0;
}

/* "time" (2.3): seconds since the epoch with milliseconds, written "%ld.%03ld"; read
 * as a double, rounded to the millisecond. */
static int get_time(json_t *o, int64_t *out, struct shelter_err *err)
{
	json_t *v = json_object_get(o, "time");
	double t;

	if (v == NULL)
		return 0;
	if (!json_is_number(v))
		return bad(err, "time", "not a number");
	t = json_number_value(v);
	if (!(t >= 0 && t < 9.2e9))
		return bad(err, "time", "out of range");
	*out = (int64_t)(t * 1000.0 + 0.5) * 1000000;
	return 0;
}

/* §3.4: the terminal text. Output alone as it is; input (logged only when tlog is
 * told to) alone as it is, or labelled "in: " and "\nout: " beside output. */
static int text(json_t *o, struct sl_event *e, struct sl_scratch *s, struct shelter_err *err)
{
	struct sl_str in = { NULL, 0 }, out = { NULL, 0 };
	size_t at = s->used;
	int rc;

	if ((rc = get_str(o, "in_txt", 0, NULL, &in, err)) != 0 ||
	    (rc = get_str(o, "out_txt", 0, NULL, &out, err)) != 0)
		return rc;
	if (in.len == 0) {
		e->action = sl_str_c("tlog session output");
		if (out.len > 0 && (e->message = sl_scratch_put(s, out.p, out.len)).p == NULL)
			return full(s, err);
		return 0;
	}
	if (out.len == 0) {
		e->action = sl_str_c("tlog session input");
		e->message = sl_scratch_put(s, in.p, in.len);
		return e->message.p == NULL ? full(s, err) : 0;
	}
	e->action = sl_str_c("tlog session input and output");
	if (sl_scratch_put(s, "in: ", 4).p == NULL || sl_scratch_put(s, in.p, in.len).p == NULL ||
	    sl_scratch_put(s, "\nout: ", 6).p == NULL || sl_scratch_put(s, out.p, out.len).p == NULL)
		return full(s, err);
	e->message = (struct sl_str){ s->p + at, s->used - at };
	return 0;
}

/* The fields of §3.4 into e; the others only checked for their JSON type. */
static int fill(json_t *o, struct sl_event *e, struct sl_scratch *s, struct shelter_err *err)
{
	static const char *const arrays[] = { "in_bin", "out_bin" };
	struct sl_str unused;
	int64_t n = 0;
	int rc;

	if ((rc = check_ver(o, err)) != 0 ||
	    (rc = get_str(o, "host", 1, s, &e->host, err)) != 0 ||
	    (rc = get_str(o, "rec", 1, s, &e->session, err)) != 0 ||
	    (rc = get_str(o, "user", 1, s, &e->user, err)) != 0 ||
	    (rc = get_str(o, "term", 0, s, &e->tty, err)) != 0 ||
	    (rc = get_str(o, "timing", 0, NULL, &unused, err)) != 0 ||
	    (rc = get_int(o, "id", 1, 1, &e->source_seq, err)) != 0 ||
	    (rc = get_int(o, "session", 0, 1, &n, err)) != 0 ||
	    (rc = get_int(o, "pos", 0, 0, &n, err)) != 0 ||
	    (rc = get_time(o, &e->time_ns, err)) != 0)
		return rc;
	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(o, arrays[i]);

		if (v != NULL && !json_is_array(v))
			return bad(err, arrays[i], "not an array");
	}
	return text(o, e, s, err);
}

int sl_tlog_parse(const char *json, size_t len, int64_t received_ns, struct sl_event *e,
		  struct sl_scratch *s, struct shelter_err *err)
{
	struct sl_event ev;
	json_error_t jerr;
	json_t *o = NULL;
	size_t scratch_at = s->used;
	int rc;

	sl_event_begin(SL_SRC_TLOG, json, len, received_ns, e, &ev);
	if (len > SL_TLOG_MAX) {
		rc = shelter_err_set(err, SHELTER_E_FBIG, "tlog: %zu bytes, at most %d", len,
				     SL_TLOG_MAX);
		goto out;
	}
	/* a repeated key could be read two ways: refused */
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (o == NULL) {
		rc = json_error_code(&jerr) == json_error_out_of_memory
			     ? shelter_err_set(err, SHELTER_E_NOMEM, "tlog: JSON: out of memory")
			     : shelter_err_set(err, SHELTER_E_MALFORMED, "tlog: JSON at byte %d: %s",
					       jerr.position, jerr.text);
		goto out;
	}
	if (!json_is_object(o)) {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "tlog: not a JSON object");
		goto out;
	}
	rc = fill(o, &ev, s, err);
out:
	json_decref(o);
	return sl_event_end(rc, &ev, s, scratch_at, e);
}

