/* Linux audit records as events: docs/streamlog.md §3.2.
 *
 * Lines are checked here (§3.2.1) before libauparse sees them, so every line it
 * gets has a header it parses and none can grow its buffer without bound; it groups
 * them into events (§3.2.2) and calls on_event, which reads each event's records
 * through its cursor and copies what the event needs into the adapter's scratch
 * (auparse's strings live only as long as its event) before calling emit. */
#include <auparse.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

/* docs/streamlog.md §2.2 budgets (event.c), in output bytes. A string is copied
 * with at most budget + 1 bytes: each input byte is at least one output byte, so
 * sl_event_json cuts it, and marks the event "trunc", exactly as it would the
 * whole string. */
#define BUDGET_RAW 16384
#define BUDGET_MESSAGE 24576
#define BUDGET_FIELD 1024
#define CAP(budget) ((size_t)(budget) + 1)
/* raw, message, and at most 11 strings of 1 KiB: the syscall name, user, session,
 * run_as, action, result, host, tty, from_addr, target, object */
#define SCRATCH_SIZE (CAP(BUDGET_RAW) + CAP(BUDGET_MESSAGE) + 11 * CAP(BUDGET_FIELD))

/* §3.2.1 header limits: they keep the header inside the 80 bytes (340 after a
 * node= prefix) that libauparse's extract_timestamp copies before parsing it */
#define NODE_MAX 255
#define TYPE_MAX 24
#define SEC_MAX 9223372035LL /* SEC * 10^9 + 999 * 10^6 stays below INT64_MAX */

struct sl_audit {
	auparse_state_t *au;
	sl_audit_emit_fn emit;
	void *ctx;
	char *host, *source_id;
	/* the line being read (§3.2.1) */
	char *line;
	size_t line_len;
	int skipping; /* discarding the rest of a line over SL_AUDIT_LINE_MAX */
	/* records libauparse holds in incomplete events (§3.2.2) */
	uint64_t pending_bytes, pending_lines;
	/* sl_audit_tick: the line count it last saw and when it changed */
	uint64_t tick_lines;
	int64_t tick_ns;
	int ticked;
	int busy; /* inside auparse_feed: emit must not re-enter */
	/* the current call's outcome: emit's first error; the first skipped line */
	int rc, bad_rc;
	struct shelter_err err, bad_err;
	struct sl_scratch scratch;
	char arg[CAP(BUDGET_FIELD)]; /* the argument being joined (§3.2.3) */
	struct sl_audit_stats st;
};

/* ---- §3.2.1 lines ---- */

/* Up to max decimal digits at p[*i]; their count (0 when more follow). */
static size_t digits(const char *p, size_t n, size_t *i, size_t max, int64_t *out)
{
	size_t start = *i;
	int64_t v = 0;

	while (*i < n && p[*i] >= '0' && p[*i] <= '9' && *i - start < max) {
		v = v * 10 + (p[*i] - '0');
		(*i)++;
	}
	*out = v;
	if (*i < n && p[*i] >= '0' && p[*i] <= '9')
		return 0;
	return *i - start;
}

static int lit(const char *p, size_t n, size_t *i, const char *s)
{
	size_t k = strlen(s);

	if (n - *i < k || memcmp(p + *i, s, k) != 0)
		return 0;
	*i += k;
	return 1;
}

static int type_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '[' || c == ']';
}

/* Fields named cwd in p[0, n): tokens between spaces that start with "cwd=", after
 * the "msg='" and "(" libauparse strips from names (ellist.c parse_up_record).
 * libauparse before 3.1.1 (upstream 3f0cf4e1) leaks the first of two in a CWD
 * record; no real record has two. */
static int cwd_fields(const char *p, size_t n)
{
	int count = 0;

	for (size_t i = 0; i < n; i++) {
		size_t k = i;

		if (i > 0 && p[i - 1] != ' ')
			continue;
		if (n - k >= 5 && memcmp(p + k, "msg='", 5) == 0)
			k += 5;
		if (k < n && p[k] == '(')
			k++;
		count += n - k >= 4 && memcmp(p + k, "cwd=", 4) == 0;
	}
	return count;
}

/* NULL when p[0, n) is a record line: [node=NODE ]type=TYPE msg=audit(S.MMM:N):
 * followed by a space or the end; else why it is not. */
static const char *check_line(const char *p, size_t n)
{
	size_t i = 0, t;
	int64_t sec, ms, serial;

	if (memchr(p, '\0', n) != NULL)
		return "a NUL byte";
	if (lit(p, n, &i, "node=")) {
		while (i < n && p[i] != ' ')
			i++;
		if (i == 5 || i - 5 > NODE_MAX || !lit(p, n, &i, " "))
			return "node= empty, over 255 bytes or alone";
	}
	if (!lit(p, n, &i, "type="))
		return "no type=";
	for (t = i; i < n && type_char(p[i]); i++)
		;
	if (i == t || i - t > TYPE_MAX)
		return "record type empty, over 24 bytes or not [A-Za-z0-9_[]]";
	if (!lit(p, n, &i, " msg=audit("))
		return "no msg=audit( after the type";
	/* the kernel writes "%llu.%03lu:%u" (kernel/audit.c audit_log_start) */
	if (digits(p, n, &i, 10, &sec) == 0 || sec > SEC_MAX || !lit(p, n, &i, ".") ||
	    digits(p, n, &i, 3, &ms) != 3 || !lit(p, n, &i, ":") ||
	    digits(p, n, &i, 18, &serial) == 0 || !lit(p, n, &i, "):"))
		return "timestamp not SECONDS.MMM:SERIAL (10 and 18 digits at most)";
	if (i < n && p[i] != ' ')
		return "no space after the timestamp";
	if (cwd_fields(p + i, n - i) > 1)
		return "cwd= twice (libauparse 3.0.9 leaks it)";
	return NULL;
}

/* Keep the first skipped line's reason (the adapter goes on, §3.2.5). */
static void skipped(struct sl_audit *a, const char *why)
{
	if (a->bad_rc == 0)
		a->bad_rc = shelter_err_set(&a->bad_err, SHELTER_E_MALFORMED,
					    "audit: line %" PRIu64 ": %s: skipped", a->st.lines, why);
}

static void set_rc(struct sl_audit *a, int rc, const char *what)
{
	if (a->rc == 0)
		a->rc = shelter_err_set(&a->err, rc, "audit: %s", what);
}

/* §3.2.2: bound what libauparse holds; resynchronise when it holds nothing */
static void check_pending(struct sl_audit *a)
{
	if (!auparse_feed_has_data(a->au)) {
		a->pending_bytes = a->pending_lines = 0;
		return;
	}
	if (a->pending_bytes <= SL_AUDIT_PENDING_BYTES && a->pending_lines <= SL_AUDIT_PENDING_LINES)
		return;
	a->st.forced++;
	auparse_flush_feed(a->au);
	a->pending_bytes = a->pending_lines = 0;
}

/* A complete line (its LF not included; a->line has room for one). */
static void take_line(struct sl_audit *a)
{
	const char *why;

	a->st.lines++;
	if (a->skipping) {
		a->st.too_long++;
		a->skipping = 0;
		skipped(a, "over SL_AUDIT_LINE_MAX (32768) bytes");
		return;
	}
	if (a->line_len == 0)
		return;
	why = check_line(a->line, a->line_len);
	if (why != NULL) {
		a->st.malformed++;
		skipped(a, why);
		return;
	}
	a->line[a->line_len] = '\n';
	if (auparse_feed(a->au, a->line, a->line_len + 1) != 0)
		set_rc(a, SHELTER_E_NOMEM, "libauparse could not take a line");
	a->pending_bytes += a->line_len + 1;
	a->pending_lines++;
	check_pending(a);
}

/* ---- §3.2.4 values ---- */

/* A field value as the record spells it, and how its bytes decode. */
struct val {
	const char *p;
	size_t len;
	int hex; /* p holds 2 * len hex digits */
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* §3.2.4: "(null)", "(none)", "?" and "" are absent (0); "..." is what is between
 * the quotes; in a field the kernel or libaudit encodes (enc), an even run of hex
 * digits is the bytes it encodes unless one of them is NUL; anything else is
 * itself. So no decoded value holds a NUL (lines have none, §3.2.1). */
static int val_of(struct sl_str s, int enc, struct val *v)
{
	size_t i;

	*v = (struct val){ s.p, s.len, 0 };
	if (s.p == NULL || s.len == 0 || (s.len == 1 && s.p[0] == '?') ||
	    (s.len == 6 && (memcmp(s.p, "(null)", 6) == 0 || memcmp(s.p, "(none)", 6) == 0)))
		return 0;
	if (s.len >= 2 && s.p[0] == '"' && s.p[s.len - 1] == '"') {
		v->p = s.p + 1;
		v->len = s.len - 2;
		return 1;
	}
	if (!enc || s.len % 2 != 0)
		return 1;
	for (i = 0; i < s.len && hexval(s.p[i]) >= 0; i++) {
		if (i % 2 == 1 && s.p[i - 1] == '0' && s.p[i] == '0')
			return 1; /* a NUL: no C string the kernel encodes has one */
	}
	if (i == s.len) {
		v->hex = 1;
		v->len = s.len / 2;
	}
	return 1;
}

static unsigned char val_at(const struct val *v, size_t i)
{
	if (!v->hex)
		return (unsigned char)v->p[i];
	return (unsigned char)(hexval(v->p[2 * i]) << 4 | hexval(v->p[2 * i + 1]));
}

/* §3.2.4 quoting: bytes a POSIX shell reads as themselves stay bare */
static int bare(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("_@%+=:,./-", c) != NULL);
}

/* A string built at the end of the scratch, at most cap bytes (then cut). */
struct sb {
	struct sl_scratch *s;
	size_t len, cap;
};

static void sb_open(struct sb *b, struct sl_scratch *s, size_t budget)
{
	b->s = s;
	b->len = 0;
	b->cap = s->cap - s->used < CAP(budget) ? s->cap - s->used : CAP(budget);
}

static void sb_put(struct sb *b, const void *p, size_t n)
{
	if (n > b->cap - b->len)
		n = b->cap - b->len;
	if (n > 0)
		memcpy(b->s->p + b->s->used + b->len, p, n);
	b->len += n;
}

static void sb_str(struct sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static int sb_full(const struct sb *b)
{
	return b->len == b->cap;
}

/* The string built; absent when nothing was written. */
static struct sl_str sb_close(struct sb *b)
{
	struct sl_str r = { NULL, 0 };

	if (b->len > 0) {
		r.p = b->s->p + b->s->used;
		r.len = b->len;
		b->s->used += b->len;
	}
	return r;
}

/* n bytes, shell-quoted (§3.2.4) when needq */
static void sb_quoted(struct sb *b, const unsigned char *p, size_t n, int needq)
{
	if (!needq) {
		sb_put(b, p, n);
		return;
	}
	sb_put(b, "'", 1);
	for (size_t i = 0; i < n && !sb_full(b); i++) {
		if (p[i] == '\'')
			sb_str(b, "'\\''");
		else
			sb_put(b, p + i, 1);
	}
	sb_put(b, "'", 1);
}

/* A decoded value, shell-quoted; up to CAP(BUDGET_FIELD) of it is enough (§2.2). */
static void sb_val(struct sb *b, const struct val *v, char *tmp)
{
	size_t n = v->len < CAP(BUDGET_FIELD) ? v->len : CAP(BUDGET_FIELD);
	int needq = v->len == 0;

	for (size_t i = 0; i < v->len; i++) {
		unsigned char c = val_at(v, i);

		needq |= !bare(c);
		if (i < n)
			tmp[i] = (char)c;
	}
	sb_quoted(b, (const unsigned char *)tmp, n, needq);
}

/* A decoded value as it is (no quoting), into its own event string. */
static struct sl_str put_val(struct sl_scratch *s, const struct val *v, size_t budget)
{
	struct sb b;

	sb_open(&b, s, budget);
	for (size_t i = 0; i < v->len && !sb_full(&b); i++) {
		unsigned char c = val_at(v, i);

		sb_put(&b, &c, 1);
	}
	return sb_close(&b);
}

/* ---- §3.2.3 records ---- */

enum fid {
	F_UID, F_AUID, F_SES, F_EUID, F_TTY, F_TERMINAL, F_ADDR, F_HOSTNAME, F_OP, F_ACCT,
	F_ID, F_CMD, F_RES, F_SUCCESS, F_EXIT, F_SYSCALL, F_EXE, F_COMM, F_PID, F_PPID,
	F_KEY, F_CWD, F_NAME, F_NAMETYPE, F_COUNT
};

/* The fields read, and whether the kernel or libaudit may hex-encode them
 * (kernel audit_log_untrustedstring, libaudit audit_encode_nv_string). */
static const struct {
	const char *name;
	int enc;
} fields[F_COUNT] = {
	[F_UID] = { "uid", 0 },       [F_AUID] = { "auid", 0 },   [F_SES] = { "ses", 0 },
	[F_EUID] = { "euid", 0 },     [F_TTY] = { "tty", 0 },     [F_TERMINAL] = { "terminal", 0 },
	[F_ADDR] = { "addr", 0 },     [F_HOSTNAME] = { "hostname", 0 }, [F_OP] = { "op", 0 },
	[F_ACCT] = { "acct", 1 },     [F_ID] = { "id", 0 },       [F_CMD] = { "cmd", 1 },
	[F_RES] = { "res", 0 },       [F_SUCCESS] = { "success", 0 }, [F_EXIT] = { "exit", 0 },
	[F_SYSCALL] = { "syscall", 0 }, [F_EXE] = { "exe", 1 },   [F_COMM] = { "comm", 1 },
	[F_PID] = { "pid", 0 },       [F_PPID] = { "ppid", 0 },   [F_KEY] = { "key", 1 },
	[F_CWD] = { "cwd", 1 },       [F_NAME] = { "name", 1 },   [F_NAMETYPE] = { "nametype", 0 },
};

/* What one record says: the first value of each field, pointing into auparse's
 * copy of the record (valid during on_event). */
struct rec {
	struct sl_str type;    /* the type= token as written */
	struct sl_str f[F_COUNT];
	const char *interp;    /* the enriched part after 0x1d, or NULL */
	struct sl_str syscall; /* the syscall's name (interpreted), in the scratch */
	unsigned num;          /* its index in the event (auparse_goto_record_num) */
};

/* The type= token of a record line (§3.2.1: "[node=NODE ]type=TYPE msg=..."). */
static struct sl_str type_of(const char *text)
{
	struct sl_str r = { NULL, 0 };

	if (text == NULL)
		return r;
	if (strncmp(text, "node=", 5) == 0)
		text = strchr(text, ' ') != NULL ? strchr(text, ' ') + 1 : "";
	if (strncmp(text, "type=", 5) != 0)
		return r;
	r.p = text + 5;
	while (r.p[r.len] != '\0' && r.p[r.len] != ' ')
		r.len++;
	return r;
}

/* The node= of a record line, or absent. */
static struct sl_str node_of(const char *text)
{
	struct sl_str r = { NULL, 0 };

	if (text == NULL || strncmp(text, "node=", 5) != 0)
		return r;
	r.p = text + 5;
	while (r.p[r.len] != '\0' && r.p[r.len] != ' ')
		r.len++;
	return r;
}

static int is(struct sl_str s, const char *lit_)
{
	return s.p != NULL && s.len == strlen(lit_) && memcmp(s.p, lit_, s.len) == 0;
}

/* The record under the cursor, read once: text, type, fields, and the syscall's
 * name when want_syscall (once per event: names go into the scratch). */
static void scan(struct sl_audit *a, struct rec *r, int want_syscall)
{
	const char *text = auparse_get_record_text(a->au);

	memset(r, 0, sizeof(*r));
	if (text == NULL) /* every line fed has a header (§3.2.1): cannot happen */
		return;
	r->type = type_of(text);
	r->num = auparse_get_record_num(a->au);
	r->interp = auparse_get_record_interpretations(a->au);
	if (auparse_first_field(a->au) <= 0)
		return;
	do {
		const char *name = auparse_get_field_name(a->au);
		const char *v = auparse_get_field_str(a->au);

		for (int i = 0; name != NULL && v != NULL && i < F_COUNT; i++) {
			if (r->f[i].p != NULL || strcmp(name, fields[i].name) != 0)
				continue;
			r->f[i] = sl_str_c(v);
			if (i == F_SYSCALL && want_syscall && is(r->type, "SYSCALL")) {
				/* libaudit's table for the record's arch, or the enriched
				 * SYSCALL= (AUPARSE_ESC_RAW: unescaped) */
				struct sl_str s = sl_str_c(auparse_interpret_field(a->au));
				struct val sv = { s.p, s.len, 0 };

				if (s.p != NULL)
					r->syscall = put_val(&a->scratch, &sv, BUDGET_FIELD);
			}
			break;
		}
	} while (auparse_next_field(a->au) > 0);
}

/* §3.2.3: NAME="value" of the record's enriched part (auditd log_format=ENRICHED,
 * the names the source host resolved when it wrote the record). */
static struct sl_str enriched(const struct rec *r, const char *name)
{
	struct sl_str v = { NULL, 0 };
	size_t k = strlen(name);

	for (const char *p = r->interp; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ' ');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

		if (n > k && memcmp(p, name, k) == 0 && p[k] == '=') {
			v.p = p + k + 1;
			v.len = n - k - 1;
			if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"') {
				v.p++;
				v.len -= 2;
			}
			return v;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return v;
}

/* A decimal integer field; SL_NONE when absent or not one. */
static int64_t num(struct sl_str s)
{
	int64_t v = 0;

	if (s.p == NULL || s.len == 0 || s.len > 18)
		return SL_NONE;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return SL_NONE;
		v = v * 10 + (s.p[i] - '0');
	}
	return v;
}

/* ---- §3.2.3 the event ---- */

/* What on_event gathers in its first pass over the records. */
struct view {
	struct rec prim;   /* the first record: what the event is */
	struct rec sys;    /* the first SYSCALL record (prim itself when first) */
	int has_sys, has_execve;
	struct sl_str cwd; /* of the first CWD record */
	struct sl_str path, path_any; /* the first PATH name not PARENT; the first one */
};

static void gather(struct sl_audit *a, struct view *v)
{
	int first = 1;

	memset(v, 0, sizeof(*v));
	if (auparse_first_record(a->au) <= 0)
		return;
	do {
		struct rec r;
		struct val nv;

		scan(a, &r, !v->has_sys);
		if (first)
			v->prim = r;
		first = 0;
		if (is(r.type, "SYSCALL") && !v->has_sys) {
			v->sys = r;
			v->has_sys = 1;
		} else if (is(r.type, "EXECVE")) {
			v->has_execve = 1;
		} else if (is(r.type, "CWD") && v->cwd.p == NULL) {
			v->cwd = r.f[F_CWD];
		} else if (is(r.type, "PATH") && val_of(r.f[F_NAME], 1, &nv)) {
			if (v->path_any.p == NULL)
				v->path_any = r.f[F_NAME];
			if (v->path.p == NULL && !is(r.f[F_NAMETYPE], "PARENT"))
				v->path = r.f[F_NAME];
		}
	} while (auparse_next_record(a->au) > 0);
}

/* The record that has field f: the first record, else the SYSCALL record. */
static const struct rec *pick(const struct view *v, enum fid f)
{
	if (v->prim.f[f].p != NULL)
		return &v->prim;
	if (v->has_sys && v->sys.f[f].p != NULL)
		return &v->sys;
	return NULL;
}

static struct sl_str pick_val(const struct view *v, enum fid f)
{
	const struct rec *r = pick(v, f);
	struct sl_str none = { NULL, 0 };

	return r != NULL ? r->f[f] : none;
}

/* A copy of s (bytes as they are) in the scratch. */
static struct sl_str copy(struct sl_scratch *s, struct sl_str v, size_t budget)
{
	struct val x = { v.p, v.len, 0 };

	return v.p != NULL ? put_val(s, &x, budget) : v;
}

/* a<N> or a<N>[K] of an EXECVE record: N; -1 for argc, a<N>_len and the rest */
static long arg_index(const char *name)
{
	char *end;
	long n;

	if (name[0] != 'a' || name[1] < '0' || name[1] > '9')
		return -1;
	n = strtol(name + 1, &end, 10);
	if (n < 0 || n > 1000000 || (*end != '\0' && *end != '['))
		return -1;
	return n;
}

struct argv_state {
	long cur;        /* the argument being read, -1 before the first */
	size_t n, total; /* bytes kept in a->arg; bytes it has */
	int needq;
};

static void argv_flush(struct sl_audit *a, struct sb *b, struct argv_state *st)
{
	if (st->cur < 0)
		return;
	if (b->len > 0)
		sb_put(b, " ", 1);
	sb_quoted(b, (const unsigned char *)a->arg, st->n, st->needq || st->total == 0);
	st->cur = -1;
}

static void argv_field(struct sl_audit *a, struct sb *b, struct argv_state *st, long idx,
		       const char *value)
{
	struct val v;

	if (idx != st->cur) {
		argv_flush(a, b, st);
		*st = (struct argv_state){ idx, 0, 0, 0 };
	}
	if (!val_of(sl_str_c(value), 1, &v))
		return;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = val_at(&v, i);

		st->needq |= !bare(c);
		if (st->n < sizeof(a->arg))
			a->arg[st->n++] = (char)c;
	}
	st->total += v.len;
}

/* §3.2.3 what, for execve: the arguments of the EXECVE records in their order,
 * a<N>[K] pieces joined, shell-quoted, separated by one space. */
static struct sl_str action_argv(struct sl_audit *a)
{
	struct argv_state st = { -1, 0, 0, 0 };
	struct sb b;

	sb_open(&b, &a->scratch, BUDGET_FIELD);
	if (auparse_first_record(a->au) <= 0)
		return sb_close(&b);
	do {
		if (!is(type_of(auparse_get_record_text(a->au)), "EXECVE") ||
		    auparse_first_field(a->au) <= 0)
			continue;
		do {
			const char *name = auparse_get_field_name(a->au);
			const char *value = auparse_get_field_str(a->au);
			long idx = name != NULL && value != NULL ? arg_index(name) : -1;

			if (idx >= 0)
				argv_field(a, &b, &st, idx, value);
		} while (!sb_full(&b) && auparse_next_field(a->au) > 0);
	} while (!sb_full(&b) && auparse_next_record(a->au) > 0);
	argv_flush(a, &b, &st);
	return sb_close(&b);
}

/* §3.2.3 what, for other syscalls: "<syscall name> <exe>"; for every other event:
 * "<TYPE>" then " op=", " acct=", " cmd=" with their values when present. */
static struct sl_str action_of(struct sl_audit *a, const struct view *v)
{
	static const enum fid extra[] = { F_OP, F_ACCT, F_CMD };
	struct sb b;
	struct val x;

	if (v->has_sys && is(v->prim.type, "SYSCALL")) {
		if (v->has_execve)
			return action_argv(a);
		sb_open(&b, &a->scratch, BUDGET_FIELD);
		sb_put(&b, v->sys.syscall.p != NULL ? v->sys.syscall.p : v->sys.f[F_SYSCALL].p,
		       v->sys.syscall.p != NULL ? v->sys.syscall.len : v->sys.f[F_SYSCALL].len);
		if (val_of(v->sys.f[F_EXE], 1, &x)) {
			sb_put(&b, " ", 1);
			sb_val(&b, &x, a->arg);
		}
		return sb_close(&b);
	}
	sb_open(&b, &a->scratch, BUDGET_FIELD);
	sb_put(&b, v->prim.type.p, v->prim.type.len);
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		if (!val_of(v->prim.f[extra[i]], fields[extra[i]].enc, &x))
			continue;
		sb_put(&b, " ", 1);
		sb_str(&b, fields[extra[i]].name);
		sb_put(&b, "=", 1);
		sb_val(&b, &x, a->arg);
	}
	return sb_close(&b);
}

/* §3.2.3 result: res= of the first record, else success= */
static struct sl_str result_of(const struct view *v)
{
	struct sl_str r = v->prim.f[F_RES];

	if (r.p == NULL)
		r = pick_val(v, F_SUCCESS);
	if (is(r, "success") || is(r, "yes") || is(r, "1"))
		return sl_str_c("success");
	if (is(r, "failed") || is(r, "no") || is(r, "0"))
		return sl_str_c("failure");
	return r; /* anything else as written (copied by the caller) */
}

/* §3.2.3 to: acct= of the first record, else its id= by enriched name or "#id" */
static struct sl_str target_of(struct sl_audit *a, const struct view *v)
{
	struct val x;
	struct sb b;
	struct sl_str name;

	if (val_of(v->prim.f[F_ACCT], 1, &x))
		return put_val(&a->scratch, &x, BUDGET_FIELD);
	if (!val_of(v->prim.f[F_ID], 0, &x))
		return (struct sl_str){ NULL, 0 };
	name = enriched(&v->prim, "ID");
	if (name.p != NULL)
		return copy(&a->scratch, name, BUDGET_FIELD);
	sb_open(&b, &a->scratch, BUDGET_FIELD);
	sb_put(&b, "#", 1);
	sb_put(&b, x.p, x.len);
	return sb_close(&b);
}

/* §3.2.3 on: the chosen PATH name, after the CWD when it is relative */
static struct sl_str object_of(struct sl_audit *a, const struct view *v)
{
	struct sl_str name = v->path.p != NULL ? v->path : v->path_any;
	struct val n, c;
	struct sb b;

	if (!val_of(name, 1, &n))
		return (struct sl_str){ NULL, 0 };
	sb_open(&b, &a->scratch, BUDGET_FIELD);
	if ((n.len == 0 || val_at(&n, 0) != '/') && val_of(v->cwd, 1, &c)) {
		for (size_t i = 0; i < c.len && !sb_full(&b); i++) {
			unsigned char ch = val_at(&c, i);

			sb_put(&b, &ch, 1);
		}
		sb_put(&b, "/", 1);
	}
	for (size_t i = 0; i < n.len && !sb_full(&b); i++) {
		unsigned char ch = val_at(&n, i);

		sb_put(&b, &ch, 1);
	}
	return sb_close(&b);
}

/* §3.2.3 run_as: the euid when it is not the uid, by enriched name or "#euid" */
static struct sl_str run_as_of(struct sl_audit *a, const struct view *v, int64_t uid)
{
	const struct rec *r = pick(v, F_EUID);
	struct sl_str name;
	struct sb b;

	if (r == NULL || num(r->f[F_EUID]) == SL_NONE || num(r->f[F_EUID]) == uid)
		return (struct sl_str){ NULL, 0 };
	name = enriched(r, "EUID");
	if (name.p != NULL)
		return copy(&a->scratch, name, BUDGET_FIELD);
	sb_open(&b, &a->scratch, BUDGET_FIELD);
	sb_put(&b, "#", 1);
	sb_put(&b, r->f[F_EUID].p, r->f[F_EUID].len);
	return sb_close(&b);
}

/* The first of the fields that is present, as a value (absent markers skipped). */
static struct sl_str first_of(const struct sl_str *cands, size_t n)
{
	struct val x;

	for (size_t i = 0; i < n; i++) {
		if (val_of(cands[i], 0, &x))
			return (struct sl_str){ x.p, x.len };
	}
	return (struct sl_str){ NULL, 0 };
}

/* " name=value" into the message: the n bytes of a->arg, shell-quoted. */
static void msg_arg(struct sl_audit *a, struct sb *b, const char *name, size_t n, size_t total,
		    int needq)
{
	sb_put(b, " ", 1);
	sb_str(b, name);
	sb_put(b, "=", 1);
	sb_quoted(b, (const unsigned char *)a->arg, n, needq || total == 0);
}

/* " name=value" into the message, the value decoded and shell-quoted. */
static void msg_field(struct sl_audit *a, struct sb *b, const char *name, struct sl_str s,
		      int enc)
{
	struct val x;
	size_t n = 0;
	int needq = 0;

	if (!val_of(s, enc, &x))
		return;
	for (size_t i = 0; i < x.len; i++) {
		unsigned char c = val_at(&x, i);

		needq |= !bare(c);
		if (n < sizeof(a->arg))
			a->arg[n++] = (char)c;
	}
	msg_arg(a, b, name, n, x.len, needq);
}

/* " key=K1,K2" into the message: every key= of record r (libauparse splits the
 * kernel's 0x01-separated keys into one field each), in order. */
static void msg_keys(struct sl_audit *a, struct sb *b, const struct rec *r)
{
	size_t n = 0, total = 0;
	int needq = 0, any = 0;

	if (r == NULL || auparse_goto_record_num(a->au, r->num) <= 0 ||
	    auparse_first_field(a->au) <= 0)
		return;
	do {
		const char *name = auparse_get_field_name(a->au);
		struct val x;

		if (name == NULL || strcmp(name, "key") != 0 ||
		    !val_of(sl_str_c(auparse_get_field_str(a->au)), 1, &x))
			continue;
		for (size_t i = any ? 0 : 1; i <= x.len; i++) {
			unsigned char c = i == 0 ? ',' : val_at(&x, i - 1);

			needq |= !bare(c);
			if (n < sizeof(a->arg))
				a->arg[n++] = (char)c;
			total++;
		}
		any = 1;
	} while (auparse_next_field(a->au) > 0);
	if (any)
		msg_arg(a, b, "key", n, total, needq);
}

/* §3.2.3 message: "types=T1,T2,..." then the context fields that are present. */
static struct sl_str message_of(struct sl_audit *a, const struct view *v)
{
	const struct rec *ra = pick(v, F_AUID);
	struct sl_str cwd = v->cwd.p != NULL ? v->cwd : v->prim.f[F_CWD];
	struct sl_str sys = v->sys.syscall.p != NULL ? v->sys.syscall : v->sys.f[F_SYSCALL];
	struct sb b;
	int first = 1;

	sb_open(&b, &a->scratch, BUDGET_MESSAGE);
	sb_str(&b, "types=");
	if (auparse_first_record(a->au) > 0) {
		do {
			if (!first)
				sb_put(&b, ",", 1);
			first = 0;
			struct sl_str t = type_of(auparse_get_record_text(a->au));

			sb_put(&b, t.p, t.len);
		} while (!sb_full(&b) && auparse_next_record(a->au) > 0);
	}
	if (v->has_sys) {
		msg_field(a, &b, "syscall", sys, 0);
		msg_field(a, &b, "exit", v->sys.f[F_EXIT], 0);
	}
	msg_field(a, &b, "pid", pick_val(v, F_PID), 0);
	msg_field(a, &b, "ppid", pick_val(v, F_PPID), 0);
	msg_field(a, &b, "exe", pick_val(v, F_EXE), 1);
	msg_field(a, &b, "comm", pick_val(v, F_COMM), 1);
	msg_field(a, &b, "cwd", cwd, 1);
	msg_keys(a, &b, v->has_sys ? &v->sys : v->prim.f[F_KEY].p != NULL ? &v->prim : NULL);
	if (ra != NULL)
		msg_field(a, &b, "auid_name", enriched(ra, "AUID"), 0);
	return sb_close(&b);
}

/* §3.2.3 raw: the event's lines joined by "\n" (the enriched part after its 0x1d);
 * also their size, for the pending count (§3.2.2). */
static struct sl_str raw_of(struct sl_audit *a, uint64_t *size)
{
	struct sb b;

	*size = 0;
	sb_open(&b, &a->scratch, BUDGET_RAW);
	if (auparse_first_record(a->au) <= 0)
		return sb_close(&b);
	do {
		const char *text = auparse_get_record_text(a->au);
		const char *interp = auparse_get_record_interpretations(a->au);
		size_t n = text != NULL ? strlen(text) : 0, k = interp != NULL ? strlen(interp) : 0;

		if (*size > 0)
			sb_put(&b, "\n", 1);
		sb_put(&b, text, n);
		if (interp != NULL) {
			sb_put(&b, "\x1d", 1);
			sb_put(&b, interp, k);
		}
		*size += n + (interp != NULL ? k + 1 : 0) + 1;
	} while (auparse_next_record(a->au) > 0);
	return sb_close(&b);
}

/* Fill e from the event under auparse's cursor; strings in a's scratch. */
static void build(struct sl_audit *a, struct sl_event *e, uint64_t *size)
{
	const au_event_t *ts = auparse_get_timestamp(a->au);
	struct view v;
	const struct rec *r;
	struct sl_str tty[3], from[2], node;

	a->scratch.used = 0;
	sl_event_init(e);
	gather(a, &v);
	e->source = SL_SRC_AUDIT;
	e->source_id = sl_str_c(a->source_id);
	if (ts != NULL) {
		/* §3.2.1 bounds sec and the serial, so neither overflows */
		e->time_ns = (int64_t)ts->sec * 1000000000 + (int64_t)ts->milli * 1000000;
		e->source_seq = (int64_t)ts->serial;
	}
	r = pick(&v, F_UID);
	if (r != NULL) {
		e->uid = num(r->f[F_UID]);
		e->user = copy(&a->scratch, enriched(r, "UID"), BUDGET_FIELD);
	}
	e->auid = num(pick_val(&v, F_AUID));
	e->session = copy(&a->scratch, first_of((struct sl_str[]){ pick_val(&v, F_SES) }, 1),
			  BUDGET_FIELD);
	e->run_as = run_as_of(a, &v, e->uid);
	e->action = action_of(a, &v);
	e->result = copy(&a->scratch, result_of(&v), BUDGET_FIELD);
	node = node_of(auparse_first_record(a->au) > 0 ? auparse_get_record_text(a->au) : NULL);
	e->host = node.p != NULL ? copy(&a->scratch, node, BUDGET_FIELD) : sl_str_c(a->host);
	tty[0] = v.prim.f[F_TERMINAL];
	tty[1] = v.prim.f[F_TTY];
	tty[2] = v.sys.f[F_TTY];
	e->tty = copy(&a->scratch, first_of(tty, 3), BUDGET_FIELD);
	from[0] = v.prim.f[F_ADDR];
	from[1] = v.prim.f[F_HOSTNAME];
	e->from_addr = copy(&a->scratch, first_of(from, 2), BUDGET_FIELD);
	e->target = target_of(a, &v);
	e->object = object_of(a, &v);
	e->message = message_of(a, &v);
	e->raw = raw_of(a, size);
}

/* libauparse's AUPARSE_CB_EVENT_READY: one complete event (§3.2.2). */
static void on_event(auparse_state_t *au, auparse_cb_event_t type, void *ctx)
{
	struct sl_audit *a = ctx;
	struct shelter_err err;
	struct sl_event e;
	uint64_t size;
	int rc;

	(void)au;
	if (type != AUPARSE_CB_EVENT_READY)
		return;
	build(a, &e, &size);
	a->pending_bytes -= size < a->pending_bytes ? size : a->pending_bytes;
	a->pending_lines -= auparse_get_num_records(a->au) < a->pending_lines ?
				    auparse_get_num_records(a->au) : a->pending_lines;
	a->st.events++;
	shelter_err_clear(&err);
	rc = a->emit(a->ctx, &e, &err);
	if (rc == 0)
		return;
	a->st.emit_failed++;
	if (a->rc != 0)
		return;
	a->err = err;
	(void)shelter_err_wrap(&a->err, rc, "audit: event %" PRId64 ".%03" PRId64 ":%" PRId64,
			       e.time_ns / 1000000000, e.time_ns % 1000000000 / 1000000,
			       e.source_seq);
	a->rc = a->err.code = rc; /* emit's return value is the code */
}

/* ---- the adapter ---- */

int sl_audit_new(const char *host, const char *source_id, sl_audit_emit_fn emit, void *ctx,
		 struct sl_audit **out, struct shelter_err *err)
{
	struct sl_audit *a = NULL;
	int rc = 0;

	*out = NULL;
	if (host == NULL || host[0] == '\0' || strlen(host) > NODE_MAX || emit == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "audit: host name (1..255 bytes) "
					    "and emit are required");
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		goto nomem;
	a->host = strdup(host);
	a->source_id = source_id != NULL ? strdup(source_id) : NULL;
	a->line = malloc(SL_AUDIT_LINE_MAX + 1);
	a->scratch.p = malloc(SCRATCH_SIZE);
	a->scratch.cap = SCRATCH_SIZE;
	if (a->host == NULL || (source_id != NULL && a->source_id == NULL) || a->line == NULL ||
	    a->scratch.p == NULL)
		goto nomem;
	a->au = auparse_init(AUSOURCE_FEED, NULL);
	if (a->au == NULL)
		goto nomem;
	/* auparse_init read end_of_event_timeout from auditd.conf: §3.2.2 fixes it */
	auparse_set_eoe_timeout(SL_AUDIT_IDLE_NS / 1000000000);
	auparse_set_escape_mode(a->au, AUPARSE_ESC_RAW);
	auparse_add_callback(a->au, on_event, a, NULL);
	a->emit = emit;
	a->ctx = ctx;
	*out = a;
	a = NULL;
	goto out;
nomem:
	rc = shelter_err_set(err, SHELTER_E_NOMEM, "audit: out of memory (or libauparse "
				  "initialisation failed)");
out:
	sl_audit_free(a);
	return rc;
}

void sl_audit_free(struct sl_audit *a)
{
	if (a == NULL)
		return;
	if (a->au != NULL)
		auparse_destroy(a->au);
	free(a->scratch.p);
	free(a->line);
	free(a->source_id);
	free(a->host);
	free(a);
}

/* Start a call: clear its outcome; refuse re-entry from emit. */
static int begin(struct sl_audit *a, struct shelter_err *err)
{
	if (a->busy)
		return shelter_err_set(err, SHELTER_E_INVAL, "audit: called from emit");
	a->busy = 1;
	a->rc = a->bad_rc = 0;
	shelter_err_clear(&a->err);
	shelter_err_clear(&a->bad_err);
	return 0;
}

/* End a call: emit's (or NOMEM) first, then a skipped line. */
static int finish(struct sl_audit *a, struct shelter_err *err)
{
	const struct shelter_err *src = a->rc != 0 ? &a->err : &a->bad_err;
	int rc = a->rc != 0 ? a->rc : a->bad_rc;

	a->busy = 0;
	if (rc != 0 && err != NULL)
		*err = *src;
	return rc;
}

int sl_audit_feed(struct sl_audit *a, const char *buf, size_t len, struct shelter_err *err)
{
	int rc = begin(a, err);

	if (rc != 0)
		return rc;
	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - buf) : len;

		if (!a->skipping && n > SL_AUDIT_LINE_MAX - a->line_len) {
			a->skipping = 1; /* §3.2.1: too long, dropped up to its LF */
			a->line_len = 0;
		}
		if (!a->skipping) {
			memcpy(a->line + a->line_len, buf, n);
			a->line_len += n;
		}
		buf += n;
		len -= n;
		if (nl == NULL)
			break;
		take_line(a);
		a->line_len = 0;
		buf++;
		len--;
	}
	return finish(a, err);
}

int sl_audit_flush(struct sl_audit *a, struct shelter_err *err)
{
	int rc = begin(a, err);

	if (rc != 0)
		return rc;
	if (a->line_len > 0 || a->skipping) {
		a->st.truncated++;
		a->bad_rc = shelter_err_set(&a->bad_err, SHELTER_E_TRUNCATED,
					    "audit: input ends inside line %" PRIu64
					    " (%zu bytes, no LF): skipped",
					    a->st.lines + 1, a->line_len);
		a->line_len = 0;
		a->skipping = 0;
	}
	auparse_flush_feed(a->au);
	a->pending_bytes = a->pending_lines = 0;
	return finish(a, err);
}

int sl_audit_tick(struct sl_audit *a, int64_t now_ns, struct shelter_err *err)
{
	int rc = begin(a, err);

	if (rc != 0)
		return rc;
	/* §3.2.2: idle since the first tick that saw the line count as it is */
	if (!a->ticked || a->st.lines != a->tick_lines) {
		a->ticked = 1;
		a->tick_lines = a->st.lines;
		a->tick_ns = now_ns;
	} else if (now_ns - a->tick_ns >= SL_AUDIT_IDLE_NS && auparse_feed_has_data(a->au)) {
		auparse_flush_feed(a->au);
		a->pending_bytes = a->pending_lines = 0;
	}
	return finish(a, err);
}

void sl_audit_stats(const struct sl_audit *a, struct sl_audit_stats *out)
{
	*out = a->st;
}

int sl_audit_holding(struct sl_audit *a)
{
	return a->line_len > 0 || a->skipping || auparse_feed_has_data(a->au) ? 1 : 0;
}
