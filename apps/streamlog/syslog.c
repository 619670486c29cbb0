/* Syslog over TLS (docs/streamlog.md §3.1): RFC 6587 §3.4.1
 * octet counting (the framing RFC 5425 §4.3 requires) and §3.4.2 non-transparent
 * framing (what rsyslog sends by default), RFC 5424 §6 messages read strictly and
 * RFC 3164 §4.1 messages read leniently. Every read goes through one bounded cursor. */
#include <stddef.h>
#include <string.h>

#include "syslog.h"

/* ---- §3.1.1 framing ---- */

enum { FRAME_MSG = 0, FRAME_NEED = 1, FRAME_EMPTY = 2, FRAME_LINE = 3, FRAME_COUNTED = 4 };

void sl_framer_init(struct sl_framer *f, size_t max)
{
	memset(f, 0, sizeof(*f));
	f->max = max == 0 ? SL_FRAME_MAX_DEFAULT : max;
	if (f->max > 999999999) /* the largest MSG-LEN of SL_FRAME_LEN_DIGITS digits */
		f->max = 999999999;
}

static int is_end(char c)
{
	return c == '\n' || c == '\0'; /* RFC 6587 §3.4.2: LF, or NUL from older senders */
}

/* Bytes of buf dropped for a message over max (the rest of its count, or of its line). */
static size_t frame_skip(struct sl_framer *f, const char *buf, size_t len)
{
	size_t n = 0;

	if (f->skip > 0) {
		n = f->skip < len ? (size_t)f->skip : len;
		f->skip -= n;
		return n;
	}
	if (f->skip_line) {
		while (n < len && !is_end(buf[n]))
			n++;
		if (n < len) {
			f->skip_line = 0;
			n++;
		}
	}
	return n;
}

/* §3.1.1: "MSG-LEN SP" starts a frame when MSG-LEN is 1 to 9 digits without a leading
 * zero; any other digit run followed by SP is an error, anything else a line. */
static int frame_kind(const char *buf, size_t len, size_t window, size_t at, size_t *out_digits,
		      uint64_t *out_n, struct shelter_err *err)
{
	size_t i = 0;
	uint64_t v = 0;

	while (i < len && i < window && buf[i] >= '0' && buf[i] <= '9') {
		if (i < SL_FRAME_LEN_DIGITS)
			v = v * 10 + (uint64_t)(buf[i] - '0');
		i++;
	}
	if (i == 0)
		return len == 0 ? FRAME_NEED : FRAME_LINE;
	if (i == len && i < window)
		return FRAME_NEED;
	if (i == window || buf[i] != ' ')
		return FRAME_LINE;
	if (buf[0] == '0')
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "syslog frame: MSG-LEN at byte %zu has a leading zero", at);
	if (i > SL_FRAME_LEN_DIGITS)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "syslog frame: MSG-LEN at byte %zu has %zu digits, at most %d",
				       at, i, SL_FRAME_LEN_DIGITS);
	*out_digits = i;
	*out_n = v;
	return FRAME_COUNTED;
}

/* RFC 6587 §3.4.2: a line up to LF or NUL, without a CR just before it. */
static int frame_line(struct sl_framer *f, const char *buf, size_t len, size_t *used,
		      struct sl_str *msg)
{
	size_t window = f->max + 2, n = len < window ? len : window, i = 0;

	while (i < n && !is_end(buf[i]))
		i++;
	if (i == n && len < window)
		return FRAME_NEED;
	if (i == n) { /* no end within max + CR LF: cut, and drop the rest as it comes */
		*used = f->max;
		f->skip_line = 1;
		i = f->max;
		f->cut = 1;
	} else {
		*used = i + 1;
		if (i > 0 && buf[i - 1] == '\r')
			i--;
		if (i > f->max) {
			i = f->max;
			f->cut = 1;
		}
	}
	if (i == 0)
		return FRAME_EMPTY;
	*msg = (struct sl_str){ buf, i };
	return FRAME_MSG;
}

/* RFC 6587 §3.4.1: n bytes after "MSG-LEN SP"; over max, the first max and a skip. */
static int frame_counted(struct sl_framer *f, const char *buf, size_t len, size_t digits,
			 uint64_t n, size_t *used, struct sl_str *msg)
{
	size_t head = digits + 1, take = n > f->max ? f->max : (size_t)n;

	if (len - head < take)
		return FRAME_NEED;
	*msg = (struct sl_str){ buf + head, take };
	*used = head + take;
	if (n > take) {
		f->skip = n - take;
		f->cut = 1;
	}
	return FRAME_MSG;
}

int sl_framer_next(struct sl_framer *f, const char *buf, size_t len, size_t *consumed,
		   struct sl_str *msg, struct shelter_err *err)
{
	size_t pos = 0, used, digits = 0;
	uint64_t n = 0;
	int rc;

	*consumed = 0;
	*msg = (struct sl_str){ NULL, 0 };
	f->cut = 0;
	do {
		pos += frame_skip(f, buf + pos, len - pos);
		if (f->skip > 0 || f->skip_line) {
			rc = FRAME_NEED;
			break;
		}
		used = 0;
		rc = frame_kind(buf + pos, len - pos, f->max + 2, pos, &digits, &n, err);
		if (rc == FRAME_LINE)
			rc = frame_line(f, buf + pos, len - pos, &used, msg);
		else if (rc == FRAME_COUNTED)
			rc = frame_counted(f, buf + pos, len - pos, digits, n, &used, msg);
		pos += used;
	} while (rc == FRAME_EMPTY);
	*consumed = pos;
	return rc;
}

/* ---- a bounded cursor over one message ---- */

struct cur {
	const char *p;
	size_t len, pos;
};

static int peek(const struct cur *c)
{
	return c->pos < c->len ? (unsigned char)c->p[c->pos] : -1;
}

static int eat(struct cur *c, char ch)
{
	if (peek(c) != (unsigned char)ch)
		return 0;
	c->pos++;
	return 1;
}

static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* Exactly n decimal digits (n <= 9) as a number, or -1 (the cursor left where they fail). */
static int64_t num(struct cur *c, size_t n)
{
	int64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (!is_digit(peek(c)))
			return -1;
		v = v * 10 + (peek(c) - '0');
		c->pos++;
	}
	return v;
}

/* A token up to SP or the end: its length (the cursor after it). */
static size_t token(struct cur *c)
{
	size_t start = c->pos;

	while (c->pos < c->len && c->p[c->pos] != ' ')
		c->pos++;
	return c->pos - start;
}

/* ---- time ---- */

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int64_t year_of_days(int64_t z)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	return yoe + era * 400 + (mp >= 10);
}

static int mday_ok(int64_t y, int64_t m, int64_t d)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] && (m != 2 || d < 29 || leap);
}

/* Seconds since the epoch and ns to ns since the epoch; 0 when it does not fit. */
static int to_ns(int64_t secs, int64_t frac_ns, int64_t *out)
{
	int64_t ns;

	if (__builtin_mul_overflow(secs, INT64_C(1000000000), &ns) ||
	    __builtin_add_overflow(ns, frac_ns, &ns) || ns == SL_NONE)
		return 0;
	*out = ns;
	return 1;
}

/* "hh:mm:ss" (RFC 5424 TIME-SECOND is 00-59: no leap second, §6.2.3); -1 or seconds. */
static int64_t clock_time(struct cur *c)
{
	int64_t h = num(c, 2), m, s;

	if (h < 0 || !eat(c, ':') || (m = num(c, 2)) < 0 || !eat(c, ':') || (s = num(c, 2)) < 0 ||
	    h > 23 || m > 59 || s > 59)
		return -1;
	return h * 3600 + m * 60 + s;
}

/* RFC 5424 §6.2.3 TIMESTAMP (RFC 3339 with at most 6 fraction digits) to ns in UTC;
 * NULL, or what is wrong (the cursor at the fault). */
static const char *rfc3339(struct cur *c, int64_t *out_ns)
{
	int64_t y = num(c, 4), mo, d, secs, frac = 0, scale = 100000000, off = 0;
	size_t nfrac = 0;

	if (y < 0 || !eat(c, '-') || (mo = num(c, 2)) < 0 || !eat(c, '-') || (d = num(c, 2)) < 0)
		return "not YYYY-MM-DD";
	if (!mday_ok(y, mo, d))
		return "no such date";
	if (!eat(c, 'T') || (secs = clock_time(c)) < 0)
		return "no valid Thh:mm:ss";
	if (eat(c, '.')) {
		for (; is_digit(peek(c)); c->pos++, nfrac++, scale /= 10)
			frac += (peek(c) - '0') * scale;
		if (nfrac < 1 || nfrac > 6)
			return "fraction of 1 to 6 digits wanted";
	}
	if (!eat(c, 'Z')) {
		int sign = eat(c, '+') ? 1 : eat(c, '-') ? -1 : 0;
		int64_t oh, om;

		if (sign == 0 || (oh = num(c, 2)) < 0 || !eat(c, ':') || (om = num(c, 2)) < 0 ||
		    oh > 23 || om > 59)
			return "offset Z or +hh:mm wanted";
		off = sign * (oh * 3600 + om * 60);
	}
	if (!to_ns(days_from_civil(y, mo, d) * 86400 + secs - off, frac, out_ns))
		return "out of range";
	return NULL;
}

/* RFC 3164 §4.1.2 "Mmm dd hh:mm:ss" in UTC (the message names no zone), in the latest
 * of the year of received_ns, the one after and the one before that is at most a day
 * after received_ns: a December message read in January is last year's, a January
 * one read on December 31 by a sender ahead of us is next year's (§3.1.3). 0 when it
 * is not such a timestamp or no such day exists in those years (Feb 29). */
#define BSD_AHEAD 86400 /* a sender's local time read as UTC is at most 14 h ahead */

static int bsd_time(struct cur *c, int64_t received_ns, int64_t *out_ns)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int64_t recv_s = received_ns / 1000000000, y, d, secs;
	int mo = 0;

	if (c->len - c->pos < 15)
		return 0;
	for (int i = 0; i < 12 && mo == 0; i++)
		if (memcmp(c->p + c->pos, months + 3 * i, 3) == 0)
			mo = i + 1;
	if (mo == 0 || c->p[c->pos + 3] != ' ')
		return 0;
	c->pos += 4;
	if (eat(c, ' '))
		d = num(c, 1); /* "Nov  3" */
	else
		d = num(c, 2);
	if (d < 1 || !eat(c, ' ') || (secs = clock_time(c)) < 0)
		return 0;
	y = year_of_days(recv_s / 86400 - (recv_s % 86400 < 0));
	for (int64_t cy = y + 1; cy >= y - 1; cy--) {
		int64_t t = days_from_civil(cy, mo, d) * 86400 + secs;

		if (mday_ok(cy, mo, d) && t <= recv_s + BSD_AHEAD)
			return to_ns(t, 0, out_ns);
	}
	return 0;
}

/* ---- §3.1.4 the action: "<facility>.<severity> <tag>[ <msgid>]" ---- */

static const char *const facilities[24] = {
	"kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
	"uucp",   "cron",   "authpriv", "ftp",  "ntp",    "audit",  "alert",  "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
};
static const char *const severities[8] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

/* The parts of a message the action is made of, and the scratch it is written to. */
struct action {
	int pri;
	struct sl_str app, procid, msgid; /* 3164: app is the whole TAG, no procid/msgid */
};

static int put(struct sl_scratch *s, const char *p, size_t n)
{
	if (s->cap - s->used < n)
		return -1;
	if (n > 0)
		memcpy(s->p + s->used, p, n);
	s->used += n;
	return 0;
}

static int make_action(const struct action *a, struct sl_scratch *s, struct sl_str *out,
		       struct shelter_err *err)
{
	const char *fac = facilities[a->pri / 8], *sev = severities[a->pri % 8];
	size_t start = s->used;
	int bad;

	bad = put(s, fac, strlen(fac)) | put(s, ".", 1) | put(s, sev, strlen(sev)) |
	      put(s, " ", 1);
	if (a->app.p != NULL)
		bad |= put(s, a->app.p, a->app.len);
	else
		bad |= put(s, "-", 1);
	if (a->procid.p != NULL)
		bad |= put(s, "[", 1) | put(s, a->procid.p, a->procid.len) | put(s, "]", 1);
	if (a->msgid.p != NULL)
		bad |= put(s, " ", 1) | put(s, a->msgid.p, a->msgid.len);
	if (bad)
		return shelter_err_set(err, SHELTER_E_FBIG, "syslog: scratch of %zu bytes is full",
				       s->cap);
	*out = (struct sl_str){ s->p + start, s->used - start };
	return 0;
}

/* ---- §3.1.2 RFC 5424 ---- */

#define MALFORMED(err, c, what, why) \
	shelter_err_set(err, SHELTER_E_MALFORMED, "syslog: %s at byte %zu: %s", what, (c)->pos, why)

/* RFC 5424 §6.2.1 PRI "<" PRIVAL ">", 0 to 191, no leading zero (RFC 3164 §4.1.1 too). */
static int parse_pri(struct cur *c, int *out, struct shelter_err *err)
{
	size_t start = c->pos + 1;
	int v = 0;

	if (!eat(c, '<'))
		return MALFORMED(err, c, "PRI", "no '<'");
	while (is_digit(peek(c)) && c->pos - start < 3)
		v = v * 10 + (c->p[c->pos++] - '0');
	if (c->pos == start || (c->p[start] == '0' && c->pos - start > 1) || v > 191)
		return MALFORMED(err, c, "PRI", "not 0 to 191 without leading zeros");
	if (!eat(c, '>'))
		return MALFORMED(err, c, "PRI", "no '>'");
	*out = v;
	return 0;
}

/* An RFC 5424 §6.2 header field: NILVALUE "-" (absent) or 1 to max PRINTUSASCII. */
static int header_field(struct cur *c, const char *what, size_t max, struct sl_str *out,
			struct shelter_err *err)
{
	size_t start = c->pos, n;

	for (; c->pos < c->len && c->p[c->pos] != ' '; c->pos++) {
		unsigned char ch = (unsigned char)c->p[c->pos];

		if (ch < 33 || ch > 126)
			return MALFORMED(err, c, what, "not printable US-ASCII");
	}
	n = c->pos - start;
	if (n == 0 || n > max) {
		c->pos = start;
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "syslog: %s at byte %zu: %zu bytes, want 1 to %zu", what,
				       start, n, max);
	}
	if (!eat(c, ' '))
		return MALFORMED(err, c, what, "no SP after it");
	*out = (n == 1 && c->p[start] == '-') ? (struct sl_str){ NULL, 0 }
					      : (struct sl_str){ c->p + start, n };
	return 0;
}

/* Known SD-PARAMs (§3.1.5): the SD-ID "meta" of RFC 5424 §7.3 and StreamLog's own. */
#define SD_META 0
#define SD_STREAMLOG 1
#define SL_SD_ID "streamlog@32473"

struct sd_param {
	int sd;
	const char *name;
	size_t str_off; /* offsetof the sl_str in struct sl_event, or 0 for a number */
	size_t num_off; /* offsetof the int64_t for numbers */
	int64_t min, max;
};

#define STR(f) offsetof(struct sl_event, f), 0, 0, 0
#define NUM(f, lo, hi) 0, offsetof(struct sl_event, f), lo, hi
static const struct sd_param sd_params[] = {
	{ SD_META, "sequenceId", NUM(source_seq, 1, 2147483647) }, /* RFC 5424 §7.3.1 */
	{ SD_STREAMLOG, "user", STR(user) },
	{ SD_STREAMLOG, "uid", NUM(uid, 0, 4294967295) },
	{ SD_STREAMLOG, "auid", NUM(auid, 0, 4294967295) },
	{ SD_STREAMLOG, "session", STR(session) },
	{ SD_STREAMLOG, "run_as", STR(run_as) },
	{ SD_STREAMLOG, "result", STR(result) },
	{ SD_STREAMLOG, "tty", STR(tty) },
	{ SD_STREAMLOG, "addr", STR(from_addr) },
	{ SD_STREAMLOG, "to", STR(target) },
	{ SD_STREAMLOG, "on", STR(object) },
};
#undef STR
#undef NUM
#define SD_PARAMS (sizeof(sd_params) / sizeof(sd_params[0]))

/* RFC 5424 §6.3.2 SD-NAME: 1 to 32 PRINTUSASCII except '=', SP, ']' and '"'. */
static int sd_name(struct cur *c, const char *what, struct sl_str *out, struct shelter_err *err)
{
	size_t start = c->pos;

	for (; c->pos < c->len; c->pos++) {
		unsigned char ch = (unsigned char)c->p[c->pos];

		if (ch < 33 || ch > 126 || ch == '=' || ch == ']' || ch == '"')
			break;
	}
	if (c->pos == start || c->pos - start > 32) {
		c->pos = start;
		return MALFORMED(err, c, what, "not 1 to 32 printable US-ASCII");
	}
	*out = (struct sl_str){ c->p + start, c->pos - start };
	return 0;
}

static int str_is(struct sl_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* RFC 5424 §6.3.3 PARAM-VALUE up to its closing '"'; decoded into the scratch when
 * keep is set ('\"', '\\' and '\]' stand for the character, any other '\' for
 * itself). An unescaped ']' is accepted: the quotes delimit the value. */
static int sd_value(struct cur *c, int keep, struct sl_scratch *s, struct sl_str *out,
		    struct shelter_err *err)
{
	size_t start = s->used;
	char byte;

	for (;;) {
		int ch = peek(c);

		if (ch < 0)
			return MALFORMED(err, c, "PARAM-VALUE", "no closing '\"'");
		c->pos++;
		if (ch == '"')
			break;
		if (ch == '\\' && (peek(c) == '"' || peek(c) == '\\' || peek(c) == ']'))
			ch = c->p[c->pos++];
		byte = (char)ch;
		if (keep && put(s, &byte, 1) != 0)
			return shelter_err_set(err, SHELTER_E_FBIG,
					       "syslog: scratch of %zu bytes is full", s->cap);
	}
	*out = (struct sl_str){ s->p + start, s->used - start };
	return 0;
}

/* A decimal number without sign or leading zero, in [min, max]. */
static int sd_number(struct sl_str v, int64_t min, int64_t max, int64_t *out)
{
	int64_t n = 0;

	if (v.len == 0 || v.len > 10 || (v.p[0] == '0' && v.len > 1))
		return 0;
	for (size_t i = 0; i < v.len; i++) {
		if (!is_digit((unsigned char)v.p[i]))
			return 0;
		n = n * 10 + (v.p[i] - '0');
	}
	if (n < min || n > max)
		return 0;
	*out = n;
	return 1;
}

static const struct sd_param *sd_lookup(int sd, struct sl_str name)
{
	for (size_t i = 0; i < SD_PARAMS; i++)
		if (sd_params[i].sd == sd && str_is(name, sd_params[i].name))
			return &sd_params[i];
	return NULL;
}

/* One SD-PARAM of an element whose SD-ID is sd (-1 unknown): known ones go into e,
 * each at most once (seen: a bit per sd_params entry). */
static int sd_param(struct cur *c, int sd, unsigned *seen, struct sl_event *e,
		    struct sl_scratch *s, struct shelter_err *err)
{
	const struct sd_param *k;
	struct sl_str name, v;
	size_t at;
	int rc;

	if ((rc = sd_name(c, "PARAM-NAME", &name, err)) != 0)
		return rc;
	if (!eat(c, '=') || !eat(c, '"'))
		return MALFORMED(err, c, "SD-PARAM", "no '=\"' after PARAM-NAME");
	at = c->pos;
	k = sd < 0 ? NULL : sd_lookup(sd, name);
	if ((rc = sd_value(c, k != NULL, s, &v, err)) != 0 || k == NULL)
		return rc;
	if (*seen & 1u << (k - sd_params))
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "syslog: SD-PARAM %s at byte %zu: repeated", k->name, at);
	*seen |= 1u << (k - sd_params);
	if (k->str_off != 0) {
		*(struct sl_str *)((char *)e + k->str_off) = v;
		return 0;
	}
	s->used -= v.len; /* numbers are not kept as text */
	if (!sd_number(v, k->min, k->max, (int64_t *)((char *)e + k->num_off)))
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "syslog: SD-PARAM %s at byte %zu: not a number in %lld..%lld",
				       k->name, at, (long long)k->min, (long long)k->max);
	return 0;
}

/* RFC 5424 §6.3 STRUCTURED-DATA: NILVALUE or SD-ELEMENTs; an SD-ID we read at most once
 * (§6.3.2: the same SD-ID MUST NOT exist more than once in a message). */
static int structured_data(struct cur *c, struct sl_event *e, struct sl_scratch *s,
			   struct shelter_err *err)
{
	unsigned seen_ids = 0, seen = 0;
	struct sl_str id;
	int rc, sd;

	if (eat(c, '-'))
		return 0;
	if (peek(c) != '[')
		return MALFORMED(err, c, "STRUCTURED-DATA", "not '-' or '['");
	while (eat(c, '[')) {
		size_t at = c->pos;

		if ((rc = sd_name(c, "SD-ID", &id, err)) != 0)
			return rc;
		sd = str_is(id, "meta") ? SD_META : str_is(id, SL_SD_ID) ? SD_STREAMLOG : -1;
		if (sd >= 0 && (seen_ids & 1u << sd))
			return shelter_err_set(err, SHELTER_E_MALFORMED,
					       "syslog: SD-ID %.*s at byte %zu: repeated",
					       (int)id.len, id.p, at);
		if (sd >= 0)
			seen_ids |= 1u << sd;
		while (eat(c, ' '))
			if ((rc = sd_param(c, sd, &seen, e, s, err)) != 0)
				return rc;
		if (!eat(c, ']'))
			return MALFORMED(err, c, "SD-ELEMENT", "no ']' or SP SD-PARAM");
	}
	return 0;
}

/* The MSG from the cursor on: without a leading UTF-8 BOM (RFC 5424 §6.4) and without
 * the LF, CR LF or NUL a sender may end it with; absent when empty. */
static struct sl_str rest(const struct cur *c, int bom)
{
	const char *p = c->p + c->pos;
	size_t n = c->len - c->pos;

	if (bom && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3, n -= 3;
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == '\0'))
		n--;
	return n > 0 ? (struct sl_str){ p, n } : (struct sl_str){ NULL, 0 };
}

/* After PRI and "VERSION SP": RFC 5424 §6 HEADER SP STRUCTURED-DATA [SP MSG]. */
static int rfc5424(struct cur *c, struct action *a, struct sl_event *e, struct sl_scratch *s,
		   struct shelter_err *err)
{
	const char *why;
	int rc;

	if (eat(c, '-')) {
		e->time_ns = SL_NONE;
	} else if ((why = rfc3339(c, &e->time_ns)) != NULL) {
		return MALFORMED(err, c, "TIMESTAMP", why);
	}
	if (!eat(c, ' '))
		return MALFORMED(err, c, "TIMESTAMP", "no SP after it");
	if ((rc = header_field(c, "HOSTNAME", 255, &e->host, err)) != 0 ||
	    (rc = header_field(c, "APP-NAME", 48, &a->app, err)) != 0 ||
	    (rc = header_field(c, "PROCID", 128, &a->procid, err)) != 0 ||
	    (rc = header_field(c, "MSGID", 32, &a->msgid, err)) != 0)
		return rc;
	if ((rc = structured_data(c, e, s, err)) != 0)
		return rc;
	if (c->pos < c->len && !eat(c, ' '))
		return MALFORMED(err, c, "STRUCTURED-DATA", "no SP before MSG");
	e->message = rest(c, 1);
	return 0;
}

/* ---- §3.1.3 RFC 3164, leniently ---- */

/* After PRI: TIMESTAMP SP HOSTNAME SP TAG ":" SP MSG (RFC 3164 §4.1.2, §4.1.3), or an
 * RFC 3339 TIMESTAMP (rsyslog's RSYSLOG_ForwardFormat). Without a timestamp it is
 * all MSG (§4.3.2); a token ending in ':' after the timestamp is a TAG without HOSTNAME. */
static void rfc3164(struct cur *c, int64_t received_ns, struct action *a, struct sl_event *e)
{
	size_t start = c->pos, n;
	int ok;

	if (is_digit(peek(c)))
		ok = rfc3339(c, &e->time_ns) == NULL;
	else
		ok = bsd_time(c, received_ns, &e->time_ns);
	if (!ok || !eat(c, ' ')) {
		e->time_ns = SL_NONE;
		c->pos = start;
		e->message = rest(c, 0);
		return;
	}
	start = c->pos;
	n = token(c);
	if (n > 0 && c->p[c->pos - 1] != ':' && memchr(c->p + start, '[', n) == NULL) {
		e->host = (struct sl_str){ c->p + start, n };
		eat(c, ' ');
		start = c->pos;
		n = token(c);
	}
	if (n > 1 && c->p[c->pos - 1] == ':') {
		a->app = (struct sl_str){ c->p + start, n - 1 };
		eat(c, ' ');
	} else {
		c->pos = start;
	}
	e->message = rest(c, 0);
}

/* ---- the event ---- */

int sl_syslog_parse(const char *msg, size_t len, int64_t received_ns, struct sl_event *e,
		    struct sl_scratch *s, struct shelter_err *err)
{
	struct cur c = { msg, len, 0 };
	struct action a = { 0 };
	struct sl_event ev;
	size_t scratch_at = s->used, vstart;
	int64_t version = 0;
	int rc;

	sl_event_init(e);
	sl_event_init(&ev);
	ev.source = SL_SRC_SYSLOG;
	ev.received_ns = received_ns;
	ev.raw = (struct sl_str){ msg, len };
	if ((rc = parse_pri(&c, &a.pri, err)) != 0)
		goto out;
	/* RFC 5424 §6.2.2 VERSION: NONZERO-DIGIT 0*2DIGIT, then SP; otherwise RFC 3164 */
	vstart = c.pos;
	while (is_digit(peek(&c)) && c.pos - vstart < 3)
		version = version * 10 + (msg[c.pos++] - '0');
	if (c.pos > vstart && msg[vstart] != '0' && eat(&c, ' ')) {
		if (version != 1) {
			rc = shelter_err_set(err, SHELTER_E_VERSION,
					     "syslog: VERSION at byte %zu: %lld, want 1", vstart,
					     (long long)version);
			goto out;
		}
		rc = rfc5424(&c, &a, &ev, s, err);
	} else {
		c.pos = vstart;
		rfc3164(&c, received_ns, &a, &ev);
	}
	if (rc == 0)
		rc = make_action(&a, s, &ev.action, err);
out:
	if (rc != 0) {
		s->used = scratch_at;
		return rc;
	}
	*e = ev;
	return 0;
}

