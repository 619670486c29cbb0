/* sudo's JSON event log (docs/streamlog.md §3.3): the layout
 * of the file is sudo 1.9's lib/eventlog/eventlog.c (do_logfile_json, format_json,
 * eventlog_store_json); jansson reads each event. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "sudo.h"

/* ---- §3.3.1 splitting the file ---- */

void sl_sudo_split_init(struct sl_sudo_split *sp, size_t max)
{
	memset(sp, 0, sizeof(*sp));
	sp->max = max == 0 ? SL_SUDO_MAX : max;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Through buf with the bracket state of sp: the index after the bracket that closes
 * depth 1, or len when buf ends first. */
static size_t scan_value(struct sl_sudo_split *sp, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];

		if (sp->in_str) {
			if (sp->esc)
				sp->esc = 0;
			else if (ch == '\\')
				sp->esc = 1;
			else if (ch == '"')
				sp->in_str = 0;
		} else if (ch == '"') {
			sp->in_str = 1;
		} else if (ch == '{' || ch == '[') {
			sp->depth++;
		} else if ((ch == '}' || ch == ']') && --sp->depth <= 0) {
			return i + 1;
		}
	}
	return len;
}

/* `"key"` ws ':' ws at buf: the index of the '{' after it, 0 when buf ends first. */
static int member_head(const char *buf, size_t len, size_t at, size_t *out_brace,
		       struct shelter_err *err)
{
	size_t i = 1;

	while (i < len && buf[i] != '"')
		i += buf[i] == '\\' ? 2 : 1;
	for (i++; i < len && is_ws(buf[i]); i++)
		;
	if (i < len && buf[i++] != ':')
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "sudo log: member at byte %zu: no ':' after its key", at);
	for (; i < len && is_ws(buf[i]); i++)
		;
	if (i < len && buf[i] != '{')
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "sudo log: member at byte %zu: value is not an object", at);
	*out_brace = i < len ? i : 0;
	return 0;
}

/* One member at buf (its key's '"'): 0 and its size, 1 when incomplete within max. */
static int member(struct sl_sudo_split *sp, const char *buf, size_t len, size_t at,
		  size_t *out_size, struct shelter_err *err)
{
	size_t n = len < sp->max ? len : sp->max, brace = 0, end;
	int rc = member_head(buf, n, at, &brace, err);

	if (rc != 0)
		return rc;
	if (brace == 0) {
		if (n == sp->max)
			return shelter_err_set(err, SHELTER_E_MALFORMED,
					       "sudo log: member at byte %zu: key over %zu bytes",
					       at, sp->max);
		return 1;
	}
	sp->depth = 0;
	sp->in_str = sp->esc = 0;
	end = brace + scan_value(sp, buf + brace, n - brace);
	if (sp->depth <= 0) {
		*out_size = end;
		return 0;
	}
	if (n < sp->max)
		return 1;
	sp->skipping = 1; /* over max: deliver max bytes, drop the rest as it comes */
	sp->cut = 1;
	*out_size = sp->max;
	return 0;
}

int sl_sudo_next(struct sl_sudo_split *sp, const char *buf, size_t len, size_t *consumed,
		 struct sl_str *out, struct shelter_err *err)
{
	size_t pos = 0, size = 0;
	int rc = 1;

	*consumed = 0;
	*out = (struct sl_str){ NULL, 0 };
	sp->cut = 0;
	if (sp->skipping) {
		pos = scan_value(sp, buf, len);
		if (sp->depth > 0) {
			*consumed = len;
			return 1;
		}
		sp->skipping = 0;
	}
	while (pos < len && (is_ws(buf[pos]) || buf[pos] == ',' || buf[pos] == '{'))
		pos++;
	if (pos < len && buf[pos] == '"') {
		rc = member(sp, buf + pos, len - pos, pos, &size, err);
		if (rc == 0)
			*out = (struct sl_str){ buf + pos, size };
	} else if (pos < len && buf[pos] != '}') {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED,
				     "sudo log: byte %zu: '%c' where a member or '}' belongs", pos,
				     buf[pos] >= 0x20 && buf[pos] < 0x7f ? buf[pos] : '?');
	}
	*consumed = pos + size;
	return rc;
}

/* ---- §3.3.2 one event ---- */

/* Event types (format_json): the result's first word, and the key of their own time. */
static const struct {
	const char *type, *time;
} types[] = {
	{ "accept", "submit_time" },
	{ "reject", "submit_time" },
	{ "exit", "exit_time" },
	{ "alert", "alert_time" },
};

static int bad(struct shelter_err *err, const char *key, const char *why)
{
	return shelter_err_set(err, SHELTER_E_MALFORMED, "sudo: \"%s\": %s", key, why);
}

static int full(struct sl_scratch *s, struct shelter_err *err)
{
	return shelter_err_set(err, SHELTER_E_FBIG, "sudo: scratch of %zu bytes is full", s->cap);
}

/* A string member copied into the scratch; absent stays absent. */
static int get_str(json_t *o, const char *key, struct sl_scratch *s, struct sl_str *out,
		   struct shelter_err *err)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return bad(err, key, "not a string");
	*out = sl_scratch_put(s, json_string_value(v), json_string_length(v));
	return out->p == NULL ? full(s, err) : 0;
}

/* {"seconds": n, "nanoseconds": n} (json_add_timestamp) to ns; absent leaves *out. */
static int get_time(json_t *o, const char *key, int64_t *out, struct shelter_err *err)
{
	json_t *t = json_object_get(o, key), *sec, *nsec;
	int64_t ns, n = 0;

	if (t == NULL)
		return 0;
	sec = json_object_get(t, "seconds");
	nsec = json_object_get(t, "nanoseconds");
	if (!json_is_object(t) || !json_is_integer(sec) || (nsec != NULL && !json_is_integer(nsec)))
		return bad(err, key, "not {\"seconds\": integer, \"nanoseconds\": integer}");
	if (nsec != NULL)
		n = json_integer_value(nsec);
	if (n < 0 || n > 999999999 ||
	    __builtin_mul_overflow((int64_t)json_integer_value(sec), INT64_C(1000000000), &ns) ||
	    __builtin_add_overflow(ns, n, &ns) || ns == SL_NONE)
		return bad(err, key, "out of range");
	*out = ns;
	return 0;
}

/* Python's shlex.quote: a word of [A-Za-z0-9_@%+=:,./-] as it is, anything else in
 * single quotes with each ' written '\'' (§3.3.3: the command line reads as typed). */
static int safe(const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("_@%+=:,./-", c) != NULL) || c == '\0')
			return 0;
	}
	return n > 0;
}

#define ACTION_MAX 4096 /* over the 1 KiB output budget: a cut action is marked "trunc" */

struct line {
	char *p;
	size_t used, cap;
	int over; /* some bytes did not fit */
};

static void line_put(struct line *l, const char *p, size_t n)
{
	if (n > l->cap - l->used) {
		n = l->cap - l->used;
		l->over = 1;
	}
	memcpy(l->p + l->used, p, n);
	l->used += n;
}

static void line_word(struct line *l, const char *w, size_t n)
{
	if (l->used > 0)
		line_put(l, " ", 1);
	if (safe(w, n)) {
		line_put(l, w, n);
		return;
	}
	line_put(l, "'", 1);
	for (size_t i = 0; i < n; i++) {
		if (w[i] == '\'')
			line_put(l, "'\\''", 4);
		else
			line_put(l, w + i, 1);
	}
	line_put(l, "'", 1);
}

/* The command line: "command" and runargv[1..] as sudo logs COMMAND=, each word
 * quoted; runargv alone when there is no command. */
static int get_action(json_t *o, struct sl_scratch *s, struct sl_str *out,
		      struct shelter_err *err)
{
	json_t *cmd = json_object_get(o, "command"), *argv = json_object_get(o, "runargv"), *w;
	struct line l = { s->p + s->used, 0, s->cap - s->used, 0 };
	size_t i;

	if (l.cap > ACTION_MAX)
		l.cap = ACTION_MAX;
	if (cmd != NULL && !json_is_string(cmd))
		return bad(err, "command", "not a string");
	if (argv != NULL && !json_is_array(argv))
		return bad(err, "runargv", "not an array");
	json_array_foreach(argv, i, w) {
		if (!json_is_string(w))
			return bad(err, "runargv", "an element is not a string");
	}
	if (cmd == NULL && argv == NULL)
		return 0;
	if (cmd != NULL)
		line_word(&l, json_string_value(cmd), json_string_length(cmd));
	json_array_foreach(argv, i, w) {
		if (cmd == NULL || i > 0)
			line_word(&l, json_string_value(w), json_string_length(w));
	}
	if (l.over && l.cap < ACTION_MAX)
		return full(s, err);
	*out = (struct sl_str){ l.p, l.used };
	s->used += l.used;
	return 0;
}

/* SUDO_UID=<n> of runenv: the uid of submituser, which sudo puts in the command's
 * environment (§3.3.3); left unknown when absent or not a uid. */
static void get_uid(json_t *o, int64_t *out)
{
	json_t *env = json_object_get(o, "runenv"), *v;
	size_t i;

	json_array_foreach(env, i, v) {
		const char *p = json_string_value(v);
		size_t n = json_string_length(v);
		int64_t uid = 0;

		if (p == NULL || n < 10 || n > 19 || memcmp(p, "SUDO_UID=", 9) != 0)
			continue;
		for (size_t k = 9; k < n && uid >= 0; k++)
			uid = p[k] >= '0' && p[k] <= '9' ? uid * 10 + (p[k] - '0') : -1;
		if (uid >= 0 && uid <= 4294967295)
			*out = uid;
		return;
	}
}

/* "accept", "reject: <reason>", "alert: <reason>", "exit <n>[, signal <name>][, core
 * dumped]" (§3.3.3). */
static int get_result(json_t *o, const char *type, struct sl_scratch *s, struct sl_str *out,
		      struct shelter_err *err)
{
	json_t *reason = json_object_get(o, "reason"), *ev = json_object_get(o, "exit_value");
	json_t *sig = json_object_get(o, "signal"), *core = json_object_get(o, "dumped_core");
	char num[32] = "";
	size_t at = s->used;
	struct sl_str parts[6] = { sl_str_c(type) };

	if ((reason != NULL && !json_is_string(reason)) || (sig != NULL && !json_is_string(sig)))
		return bad(err, reason != NULL && !json_is_string(reason) ? "reason" : "signal",
			   "not a string");
	if ((ev != NULL && !json_is_integer(ev)) || (core != NULL && !json_is_boolean(core)))
		return bad(err, ev != NULL && !json_is_integer(ev) ? "exit_value" : "dumped_core",
			   "of the wrong type");
	if (reason != NULL) {
		parts[1] = sl_str_c(": ");
		parts[2] = (struct sl_str){ json_string_value(reason), json_string_length(reason) };
	} else if (ev != NULL) {
		snprintf(num, sizeof(num), " %" PRId64, (int64_t)json_integer_value(ev));
		parts[1] = sl_str_c(num);
	}
	if (sig != NULL) {
		parts[3] = sl_str_c(", signal ");
		parts[4] = (struct sl_str){ json_string_value(sig), json_string_length(sig) };
	}
	if (json_is_true(core))
		parts[5] = sl_str_c(", core dumped");
	for (size_t i = 0; i < 6; i++)
		if (parts[i].p != NULL && sl_scratch_put(s, parts[i].p, parts[i].len).p == NULL)
			return full(s, err);
	*out = (struct sl_str){ s->p + at, s->used - at };
	return 0;
}

/* The fields of one event object of type t into e (§3.3.3). */
static int fill(json_t *o, size_t t, struct sl_event *e, struct sl_scratch *s,
		struct shelter_err *err)
{
	int rc;

	if ((rc = get_str(o, "submituser", s, &e->user, err)) != 0 ||
	    (rc = get_str(o, "runuser", s, &e->run_as, err)) != 0 ||
	    (rc = get_str(o, "uuid", s, &e->session, err)) != 0 ||
	    (rc = get_str(o, "submithost", s, &e->host, err)) != 0 ||
	    (rc = get_str(o, "ttyname", s, &e->tty, err)) != 0 ||
	    (rc = get_str(o, "runcwd", s, &e->object, err)) != 0 ||
	    (rc = get_action(o, s, &e->action, err)) != 0 ||
	    (rc = get_result(o, types[t].type, s, &e->result, err)) != 0)
		return rc;
	/* the event's own time, else sudo 1.9.0's "timestamp", else when it was written */
	if ((rc = get_time(o, "server_time", &e->time_ns, err)) != 0 ||
	    (rc = get_time(o, "timestamp", &e->time_ns, err)) != 0 ||
	    (rc = get_time(o, types[t].time, &e->time_ns, err)) != 0)
		return rc;
	get_uid(o, &e->uid);
	return 0;
}

static int load(const char *p, size_t n, size_t base, json_t **out, struct shelter_err *err)
{
	json_error_t jerr;

	*out = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (*out != NULL)
		return 0;
	if (json_error_code(&jerr) == json_error_out_of_memory)
		return shelter_err_set(err, SHELTER_E_NOMEM, "sudo: JSON: out of memory");
	return shelter_err_set(err, SHELTER_E_MALFORMED, "sudo: JSON at byte %zu: %s",
			       base + (size_t)jerr.position, jerr.text);
}

/* The index in types[] of an event type, or MALFORMED. */
static int type_index(struct sl_str type, size_t *out, struct shelter_err *err)
{
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		if (type.len == strlen(types[t].type) && memcmp(type.p, types[t].type, type.len) == 0) {
			*out = t;
			return 0;
		}
	}
	return shelter_err_set(err, SHELTER_E_MALFORMED, "sudo: event type \"%.*s\" unknown",
			       type.len > 64 ? 64 : (int)type.len, type.p);
}

/* The member `"type": {...}`: the type from its key, the object loaded. */
static int load_member(const char *json, size_t len, size_t at, size_t *out_t, json_t **out,
		       struct shelter_err *err)
{
	size_t i = at + 1;
	int rc;

	while (i < len && json[i] >= 'a' && json[i] <= 'z')
		i++;
	if (i >= len || json[i] != '"')
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "sudo: key at byte %zu: not a lower-case event type", at);
	if ((rc = type_index((struct sl_str){ json + at + 1, i - at - 1 }, out_t, err)) != 0)
		return rc;
	for (i++; i < len && is_ws(json[i]); i++)
		;
	if (i >= len || json[i] != ':')
		return shelter_err_set(err, SHELTER_E_MALFORMED, "sudo: byte %zu: no ':'", i);
	return load(json + i + 1, len - i - 1, i + 1, out, err);
}

/* The single member of object o: its value (a reference the caller drops) and, when
 * out_t is not NULL, its key as an event type; when it is NULL the key must be key. */
static int only_member(json_t *o, const char *key, size_t *out_t, json_t **out,
		       struct shelter_err *err)
{
	const char *k;
	json_t *v;
	int rc = 0;

	if (!json_is_object(o) || json_object_size(o) != 1)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "sudo: not an object of one event (a file of several is "
				       "split with sl_sudo_next)");
	json_object_foreach(o, k, v) {
		if (out_t == NULL && strcmp(k, key) != 0)
			return shelter_err_set(err, SHELTER_E_MALFORMED,
					       "sudo: @cee: object without \"%s\"", key);
		if (out_t != NULL)
			rc = type_index(sl_str_c(k), out_t, err);
		if (rc == 0)
			*out = json_incref(v);
	}
	return rc;
}

/* The event object and its type from any of the three forms sl_sudo_parse reads. */
static int unwrap(const char *json, size_t len, size_t *out_t, json_t **out,
		  struct shelter_err *err)
{
	json_t *root = NULL, *inner = NULL;
	size_t i = 0, at;
	int cee, rc;

	while (i < len && is_ws(json[i]))
		i++;
	if (i < len && json[i] == '"')
		return load_member(json, len, i, out_t, out, err);
	/* sudo's syslog form (do_syslog_json): "@cee:" and {"sudo": {<type>: {...}}} */
	cee = len - i >= 5 && memcmp(json + i, "@cee:", 5) == 0;
	at = cee ? i + 5 : i;
	if ((rc = load(json + at, len - at, at, &root, err)) != 0)
		goto out;
	if (cee && (rc = only_member(root, "sudo", NULL, &inner, err)) != 0)
		goto out;
	rc = only_member(cee ? inner : root, NULL, out_t, out, err);
out:
	json_decref(inner);
	json_decref(root);
	return rc;
}

int sl_sudo_parse(const char *json, size_t len, int64_t received_ns, struct sl_event *e,
		  struct sl_scratch *s, struct shelter_err *err)
{
	struct sl_event ev;
	json_t *o = NULL;
	size_t scratch_at = s->used, t = 0;
	int rc;

	sl_event_begin(SL_SRC_SUDO, json, len, received_ns, e, &ev);
	if (len > SL_SUDO_MAX) {
		rc = shelter_err_set(err, SHELTER_E_FBIG, "sudo: %zu bytes, at most %d", len,
				     SL_SUDO_MAX);
		goto out;
	}
	if ((rc = unwrap(json, len, &t, &o, err)) != 0)
		goto out;
	if (!json_is_object(o)) {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "sudo: \"%s\" is not an object",
				     types[t].type);
		goto out;
	}
	rc = fill(o, t, &ev, s, err);
out:
	json_decref(o);
	return sl_event_end(rc, &ev, s, scratch_at, e);
}

