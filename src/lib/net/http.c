/* HTTP/1.1 message parsers (net/http.h, docs/api/http.md): RFC 9112 §2-§6 and the
 * field rules of RFC 9110 §5, §8.6, §7.6.1, without chunked coding.
 *
 * A parse runs in two phases so that its answer depends only on the bytes and never
 * on how they were split across reads:
 *   1. scan_head() finds CRLF CRLF within the first max_head bytes and refuses any
 *      byte that can never appear in a head (CTL other than HTAB, bare CR, bare LF).
 *      It decides on a prefix only what every longer input would decide too.
 *   2. Once the whole head is there, the start line and the fields are parsed line by
 *      line; the body is then counted from Content-Length.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "net/http.h"
#include "net/http_chars.h"

void http_limits_default(struct http_limits *lim)
{
	lim->max_head = HTTP_DEFAULT_MAX_HEAD;
	lim->max_headers = HTTP_DEFAULT_MAX_HEADERS;
	lim->max_body = HTTP_DEFAULT_MAX_BODY;
}

static void limits_resolve(const struct http_limits *in, struct http_limits *out)
{
	http_limits_default(out);
	if (in == NULL)
		return;
	if (in->max_head != 0)
		out->max_head = in->max_head;
	if (in->max_headers != 0)
		out->max_headers = in->max_headers;
	if (in->max_body != 0)
		out->max_body = in->max_body;
}

/* ---- phase 1 ---------------------------------------------------------------------- */

enum scan_result { SCAN_DONE, SCAN_MORE, SCAN_BAD_BYTE, SCAN_TOO_LARGE };

/* RFC 9112 §2.2: lines end in CRLF; a bare CR is invalid and we do not accept a bare
 * LF either. RFC 9110 §5.5: field values hold no CTL but HTAB. The decision about byte
 * i uses bytes up to i+1 only, and the scan never looks past max_head, so a prefix of
 * an input never decides differently from the input. */
static enum scan_result scan_head(const uint8_t *buf, size_t len, size_t max_head,
				  size_t *head_end, size_t *bad_at)
{
	size_t n = len < max_head ? len : max_head;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = buf[i];

		if (c == '\n') {
			if (i == 0 || buf[i - 1] != '\r') {
				*bad_at = i;
				return SCAN_BAD_BYTE;
			}
			if (i >= 3 && buf[i - 2] == '\n') {
				*head_end = i + 1;
				return SCAN_DONE;
			}
		} else if (c == '\r') {
			if (i + 1 < n && buf[i + 1] != '\n') {
				*bad_at = i;
				return SCAN_BAD_BYTE;
			}
		} else if (hc_is_ctl(c)) {
			*bad_at = i;
			return SCAN_BAD_BYTE;
		}
	}
	return len < max_head ? SCAN_MORE : SCAN_TOO_LARGE;
}

/* ---- small helpers ---------------------------------------------------------------- */

/* Copy at most 40 bytes of untrusted text into out for an error message, replacing
 * anything but printable ASCII with '?'. */
static const char *quote(const char *p, size_t len, char out[48])
{
	size_t n = len > 40 ? 40 : len, i;

	for (i = 0; i < n; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
	if (len > n) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

int http_str_eq(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.p != NULL && s.len == n && memcmp(s.p, lit, n) == 0;
}

int http_str_ieq(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);

	if (s.p == NULL || s.len != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (hc_lower((uint8_t)s.p[i]) != hc_lower((uint8_t)lit[i]))
			return 0;
	}
	return 1;
}

int http_field_get(const struct http_fields *h, const char *name, struct http_str *out)
{
	out->p = NULL;
	out->len = 0;
	for (size_t i = 0; i < h->extra_count; i++) {
		if (http_str_ieq(h->extra[i].name, name)) {
			*out = h->extra[i].value;
			return 0;
		}
	}
	return SHELTER_E_NOENT;
}

static struct http_str mkstr(const uint8_t *p, size_t len)
{
	struct http_str s = { (const char *)p, len };

	return s;
}

static int all_tchar(const uint8_t *p, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!hc_is_tchar(p[i]))
			return 0;
	}
	return 1;
}

/* RFC 3986 §3.3, §3.4: path = *( pchar / "/" ), query = *( pchar / "/" / "?" ), with
 * every "%" followed by two hex digits. Returns the offset of the first bad byte, or
 * len when all are good. */
static size_t bad_uri_byte(const uint8_t *p, size_t len, int query)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];

		if (c == '%') {
			if (i + 2 >= len)
				return i;
			if (hc_hex(p[i + 1]) < 0 || hc_hex(p[i + 2]) < 0)
				return i;
			i += 2;
		} else if (!hc_is_pchar(c) && c != '/' && !(query && c == '?')) {
			return i;
		}
	}
	return len;
}

/* ---- fields, RFC 9110 §5 and RFC 9112 §5 ------------------------------------------ */

struct field_state {
	int is_request;
	int te;                /* Transfer-Encoding seen */
	int conn_close;
	int conn_keep_alive;
	int cl_huge;           /* Content-Length above UINT64_MAX / 10 */
	size_t count;
};

/* RFC 9110 §8.6: Content-Length = 1*DIGIT. A comma list ("5, 5") is refused rather
 * than collapsed; the same value on two lines is accepted (§8.6 allows either). */
static int parse_content_length(const uint8_t *p, size_t len, uint64_t *out, int *huge)
{
	uint64_t v = 0;

	*huge = 0;
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			*huge = 1;
		else
			v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = *huge ? UINT64_MAX : v;
	return 0;
}

/* RFC 9110 §7.6.1: Connection = #connection-option; empty list elements allowed. */
static int parse_connection(const uint8_t *p, size_t len, struct field_state *st)
{
	size_t i = 0;

	while (i < len) {
		size_t start, end;

		while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
			i++;
		start = i;
		while (i < len && hc_is_tchar(p[i]))
			i++;
		end = i;
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i < len && p[i] != ',')
			return -1;
		if (http_str_ieq(mkstr(p + start, end - start), "close"))
			st->conn_close = 1;
		else if (http_str_ieq(mkstr(p + start, end - start), "keep-alive"))
			st->conn_keep_alive = 1;
	}
	return 0;
}

static int set_once(struct http_str *slot, struct http_str v)
{
	if (slot->p != NULL)
		return -1;
	*slot = v;
	return 0;
}

/* Keep a field we know by name (RFC 9110 §8.6, §7.6.1, RFC 9112 §3.2) or, room
 * permitting, in extra[]. Returns 0 or 400. */
static int store_field(struct http_str name, struct http_str value, struct http_fields *h,
		       struct field_state *st, struct shelter_err *err)
{
	const uint8_t *v = (const uint8_t *)value.p;
	char q[48];

	if (http_str_ieq(name, "content-length")) {
		uint64_t cl = 0;
		int huge;

		if (parse_content_length(v, value.len, &cl, &huge) < 0) {
			shelter_err_set(err, SHELTER_E_MALFORMED, "invalid Content-Length '%s'",
					quote(value.p, value.len, q));
			return 400;
		}
		if (h->has_content_length && (h->content_length != cl || huge || st->cl_huge)) {
			shelter_err_set(err, SHELTER_E_MALFORMED,
					"two Content-Length fields with different values");
			return 400;
		}
		h->has_content_length = 1;
		h->content_length = cl;
		st->cl_huge = huge;
	} else if (http_str_ieq(name, "transfer-encoding")) {
		st->te = 1;
	} else if (http_str_ieq(name, "connection")) {
		if (parse_connection(v, value.len, st) < 0) {
			shelter_err_set(err, SHELTER_E_MALFORMED, "invalid Connection '%s'",
					quote(value.p, value.len, q));
			return 400;
		}
	} else if (http_str_ieq(name, "host") || http_str_ieq(name, "content-type") ||
		   http_str_ieq(name, "authorization")) {
		/* two Hosts are a 400 (§3.2); two credentials or media types would leave it
		 * to chance which one is checked */
		struct http_str *slot = http_str_ieq(name, "host") ? &h->host :
					http_str_ieq(name, "content-type") ? &h->content_type :
					&h->authorization;

		if (set_once(slot, value) < 0) {
			shelter_err_set(err, SHELTER_E_MALFORMED, "two %.*s fields",
					(int)name.len, name.p);
			return 400;
		}
	} else if (st->is_request && http_str_ieq(name, "expect")) {
		if (http_str_ieq(value, "100-continue"))
			h->expect_continue = 1;
	} else if (h->extra_count < HTTP_MAX_EXTRA) {
		h->extra[h->extra_count].name = name;
		h->extra[h->extra_count].value = value;
		h->extra_count++;
	}
	return 0;
}

/* One field line (no CRLF), RFC 9112 §5: field-name ":" OWS field-value OWS.
 * Returns 0, or the status to refuse with (400, 431). */
static int parse_field(const uint8_t *line, size_t len, const struct http_limits *lim,
		       struct http_fields *h, struct field_state *st, struct shelter_err *err)
{
	const uint8_t *colon, *v;
	size_t vlen;
	char q[48];

	if (++st->count > lim->max_headers) {
		shelter_err_set(err, SHELTER_E_FBIG, "more than %zu header fields",
				lim->max_headers);
		return 431;
	}
	/* §5.2: obs-fold, and §2.2 whitespace before the first field */
	if (line[0] == ' ' || line[0] == '\t') {
		shelter_err_set(err, SHELTER_E_MALFORMED,
				"field %zu: line folding or leading whitespace", st->count);
		return 400;
	}
	colon = memchr(line, ':', len);
	if (colon == NULL) {
		shelter_err_set(err, SHELTER_E_MALFORMED, "field %zu '%s': no colon", st->count,
				quote((const char *)line, len, q));
		return 400;
	}
	/* §5.1: no whitespace between the name and the colon */
	if (!all_tchar(line, (size_t)(colon - line))) {
		shelter_err_set(err, SHELTER_E_MALFORMED, "field %zu '%s': invalid name",
				st->count, quote((const char *)line, (size_t)(colon - line), q));
		return 400;
	}
	v = colon + 1;
	vlen = len - (size_t)(v - line);
	while (vlen > 0 && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	return store_field(mkstr(line, (size_t)(colon - line)), mkstr(v, vlen), h, st, err);
}

/* Parse the field lines of head[from..head_end - 2) (the final CRLF excluded). */
static int parse_fields(const uint8_t *buf, size_t from, size_t head_end,
			const struct http_limits *lim, struct http_fields *h,
			struct field_state *st, struct shelter_err *err)
{
	size_t pos = from;

	while (pos < head_end - 2) {
		/* scan_head guarantees every CR in the head is followed by LF */
		const uint8_t *cr = memchr(buf + pos, '\r', head_end - pos);
		size_t len = (size_t)(cr - (buf + pos));
		int status = parse_field(buf + pos, len, lim, h, st, err);

		if (status != 0)
			return status;
		pos += len + 2;
	}
	return 0;
}

/* ---- requests, RFC 9112 §3 --------------------------------------------------------- */

static const struct {
	const char *name;
	enum http_method method;
} methods[] = {
	{ "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST },
	{ "PUT", HTTP_PUT }, { "DELETE", HTTP_DELETE },
};

const char *http_method_name(enum http_method method)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (methods[i].method == method)
			return methods[i].name;
	}
	return NULL;
}

/* HTTP-version = "HTTP/" DIGIT "." DIGIT (§2.3, case-sensitive): 0 or 1 minor version,
 * -505 for another valid version, -400 otherwise. */
static int parse_version(const uint8_t *p, size_t len)
{
	if (len != 8 || memcmp(p, "HTTP/", 5) != 0 || !hc_is_digit(p[5]) || p[6] != '.' ||
	    !hc_is_digit(p[7]))
		return -400;
	if (p[5] == '1' && (p[7] == '0' || p[7] == '1'))
		return p[7] - '0';
	return -505;
}

/* Origin-form target (§3.2.1): absolute-path [ "?" query ]. Returns 0 or a status. */
static int parse_target(const uint8_t *t, size_t len, struct http_request *out,
			struct shelter_err *err)
{
	const uint8_t *qm;
	size_t plen, bad;
	char q[48];

	if (len > HTTP_MAX_TARGET) {
		shelter_err_set(err, SHELTER_E_FBIG, "request target of %zu bytes (limit %u)",
				len, HTTP_MAX_TARGET);
		return 414;
	}
	if (len == 0 || t[0] != '/') {
		shelter_err_set(err, SHELTER_E_MALFORMED,
				"request target '%s' is not an absolute path",
				quote((const char *)t, len, q));
		return 400;
	}
	qm = memchr(t, '?', len);
	plen = qm != NULL ? (size_t)(qm - t) : len;
	bad = bad_uri_byte(t, plen, 0);
	if (bad == plen && qm != NULL)
		bad = plen + 1 + bad_uri_byte(qm + 1, len - plen - 1, 1);
	if (bad < len) {
		shelter_err_set(err, SHELTER_E_MALFORMED,
				"request target '%s': invalid byte 0x%02x at offset %zu",
				quote((const char *)t, len, q), t[bad], bad);
		return 400;
	}
	out->target = mkstr(t, len);
	out->path = mkstr(t, plen);
	if (qm != NULL)
		out->query = mkstr(qm + 1, len - plen - 1);
	return 0;
}

/* request-line = method SP request-target SP HTTP-version (§3). Returns 0 or a status. */
static int parse_request_line(const uint8_t *line, size_t len, struct http_request *out,
			      struct shelter_err *err)
{
	const uint8_t *sp1, *sp2;
	size_t mlen;
	int v;
	char q[48];

	sp1 = memchr(line, ' ', len);
	sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line)) : NULL;
	if (sp2 == NULL || !all_tchar(line, (size_t)(sp1 - line))) {
		shelter_err_set(err, SHELTER_E_MALFORMED, "request line '%s' is not "
				"METHOD SP TARGET SP VERSION", quote((const char *)line, len, q));
		return 400;
	}
	v = parse_version(sp2 + 1, len - (size_t)(sp2 + 1 - line));
	if (v == -400) {
		shelter_err_set(err, SHELTER_E_MALFORMED, "request line '%s': invalid version",
				quote((const char *)line, len, q));
		return 400;
	}
	if (v == -505) {
		shelter_err_set(err, SHELTER_E_PROTO, "HTTP version '%s' not supported",
				quote((const char *)sp2 + 1, 8, q));
		return 505;
	}
	out->version_minor = v;
	mlen = (size_t)(sp1 - line);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strlen(methods[i].name) == mlen && memcmp(methods[i].name, line, mlen) == 0)
			out->method = methods[i].method;
	}
	if (out->method == 0) {
		shelter_err_set(err, SHELTER_E_PROTO, "method '%s' not implemented",
				quote((const char *)line, mlen, q));
		return 501;
	}
	return parse_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), out, err);
}

/* A request line that does not end within max_head: 414 when it is the target that
 * runs past HTTP_MAX_TARGET, else 400. Looks only at buf[0..n). */
static int classify_long_request_line(const uint8_t *buf, size_t n)
{
	const uint8_t *sp1 = memchr(buf, ' ', n), *sp2;
	size_t tlen;

	if (sp1 == NULL || !all_tchar(buf, (size_t)(sp1 - buf)))
		return 400;
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - buf));
	tlen = sp2 != NULL ? (size_t)(sp2 - sp1 - 1) : n - (size_t)(sp1 + 1 - buf);
	return tlen > HTTP_MAX_TARGET ? 414 : 400;
}

static int status_code(int status)
{
	switch (status) {
	case 400:
		return SHELTER_E_MALFORMED;
	case 413:
	case 414:
	case 431:
		return SHELTER_E_FBIG;
	case 411:
	case 501:
	case 505:
		return SHELTER_E_PROTO;
	default:
		return SHELTER_E_INTERNAL;
	}
}

static int need_more(size_t have, size_t want)
{
	size_t n = want > have ? want - have : 1;

	return n > INT_MAX ? INT_MAX : (int)n;
}

static int request_refuse(struct http_request *out, int status, struct shelter_err *err)
{
	out->status = status;
	return shelter_err_wrap(err, status_code(status), "request refused with %d", status);
}

/* §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive". */
static int keep_alive(int version_minor, const struct field_state *st)
{
	if (st->conn_close)
		return 0;
	return version_minor == 1 || st->conn_keep_alive;
}

static int request_head(const uint8_t *buf, size_t head_end, const struct http_limits *lim,
			struct http_request *out, struct shelter_err *err)
{
	const uint8_t *cr = memchr(buf, '\r', head_end);
	size_t line_len = (size_t)(cr - buf);
	struct field_state st = { .is_request = 1 };
	int status;

	status = parse_request_line(buf, line_len, out, err);
	if (status == 0)
		status = parse_fields(buf, line_len + 2, head_end, lim, &out->h, &st, err);
	if (status != 0)
		return status;
	out->h.keep_alive = keep_alive(out->version_minor, &st);
	if (out->version_minor == 1 && out->h.host.p == NULL) {
		shelter_err_set(err, SHELTER_E_MALFORMED, "HTTP/1.1 request without Host");
		return 400;
	}
	/* §6.1: we implement no transfer coding, so none is understood */
	if (st.te) {
		shelter_err_set(err, SHELTER_E_PROTO, "Transfer-Encoding not implemented");
		return 501;
	}
	if (out->h.has_content_length && out->h.content_length > lim->max_body) {
		if (st.cl_huge)
			shelter_err_set(err, SHELTER_E_FBIG, "body of 2^64 bytes or more "
					"(limit %zu)", lim->max_body);
		else
			shelter_err_set(err, SHELTER_E_FBIG, "body of %llu bytes (limit %zu)",
					(unsigned long long)out->h.content_length,
					lim->max_body);
		return 413;
	}
	if ((out->method == HTTP_POST || out->method == HTTP_PUT) &&
	    !out->h.has_content_length) {
		shelter_err_set(err, SHELTER_E_PROTO, "%s without Content-Length",
				http_method_name(out->method));
		return 411;
	}
	return 0;
}

int http_parse_request(const uint8_t *buf, size_t len, const struct http_limits *lim_in,
		       struct http_request *out, size_t *consumed, struct shelter_err *err)
{
	struct http_limits lim;
	size_t head_end = 0, bad_at = 0, body;
	int status = 0, rc = 0;

	memset(out, 0, sizeof(*out));
	*consumed = 0;
	limits_resolve(lim_in, &lim);
	switch (scan_head(buf, len, lim.max_head, &head_end, &bad_at)) {
	case SCAN_MORE:
		rc = 1;
		goto out;
	case SCAN_BAD_BYTE:
		shelter_err_set(err, SHELTER_E_MALFORMED, "byte 0x%02x at offset %zu of the "
				"head is not allowed there", buf[bad_at], bad_at);
		status = 400;
		goto out;
	case SCAN_TOO_LARGE:
		if (memchr(buf, '\n', lim.max_head) == NULL)
			status = classify_long_request_line(buf, lim.max_head);
		else
			status = 431;
		if (status == 414)
			shelter_err_set(err, SHELTER_E_FBIG, "request target longer than %u bytes",
					HTTP_MAX_TARGET);
		else
			shelter_err_set(err, status_code(status), "%s longer than %zu bytes",
					status == 431 ? "head" : "request line", lim.max_head);
		goto out;
	case SCAN_DONE:
		break;
	default:
		status = 400;
		goto out;
	}
	status = request_head(buf, head_end, &lim, out, err);
	if (status != 0)
		goto out;
	out->head_size = head_end;
	body = (size_t)out->h.content_length;
	if (len - head_end < body) {
		rc = need_more(len - head_end, body);
		goto out;
	}
	out->body = buf + head_end;
	out->body_size = body;
	*consumed = head_end + body;
out:
	if (status != 0) {
		struct http_request keep = { .status = status };

		*out = keep;
		rc = request_refuse(out, status, err);
	}
	return rc;
}

/* ---- responses, RFC 9112 §4 -------------------------------------------------------- */

static int response_fail(struct shelter_err *err, int code, const char *what)
{
	return shelter_err_wrap(err, code, "response %s", what);
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ]; we also take a
 * status line without the second SP, which some servers send when the reason is
 * empty. */
static int parse_status_line(const uint8_t *line, size_t len, struct http_response *out,
			     struct shelter_err *err)
{
	int v;
	char q[48];

	v = len >= 8 ? parse_version(line, 8) : -400;
	if (v == -505)
		return shelter_err_set(err, SHELTER_E_PROTO, "HTTP version '%s' not supported",
				       quote((const char *)line, 8, q));
	if (v < 0 || len < 12 || line[8] != ' ' || !hc_is_digit(line[9]) ||
	    !hc_is_digit(line[10]) || !hc_is_digit(line[11]) || (len > 12 && line[12] != ' '))
		return shelter_err_set(err, SHELTER_E_MALFORMED, "status line '%s' is not "
				       "VERSION SP 3DIGIT SP REASON",
				       quote((const char *)line, len, q));
	out->version_minor = v;
	out->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	if (out->status < 100 || out->status > 599)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "status code %d",
				       out->status);
	out->reason = len > 12 ? mkstr(line + 13, len - 13) : mkstr(line + 12, 0);
	/* we never send Expect or Upgrade, so an interim response is out of protocol */
	if (out->status < 200)
		return shelter_err_set(err, SHELTER_E_PROTO, "interim status %d",
				       out->status);
	return 0;
}

static int response_head(const uint8_t *buf, size_t head_end, const struct http_limits *lim,
			 int head_request, struct http_response *out, size_t *body,
			 struct shelter_err *err)
{
	const uint8_t *cr = memchr(buf, '\r', head_end);
	size_t line_len = (size_t)(cr - buf);
	struct field_state st = { .is_request = 0 };
	int rc, status;

	rc = parse_status_line(buf, line_len, out, err);
	if (rc < 0)
		return rc;
	status = parse_fields(buf, line_len + 2, head_end, lim, &out->h, &st, err);
	if (status != 0)
		return status == 431 ? SHELTER_E_FBIG : SHELTER_E_MALFORMED;
	out->h.keep_alive = keep_alive(out->version_minor, &st);
	*body = 0;
	if (st.te)
		return shelter_err_set(err, SHELTER_E_PROTO, "Transfer-Encoding not supported");
	if (out->status == 204 && out->h.content_length != 0)
		return shelter_err_set(err, SHELTER_E_PROTO, "204 with a body");
	if (head_request || out->status == 204 || out->status == 304)
		return 0;
	/* RFC 9112 §6.3 rule 8 would read to the end of the connection; we refuse instead */
	if (!out->h.has_content_length)
		return shelter_err_set(err, SHELTER_E_PROTO, "body without Content-Length");
	if (out->h.content_length > lim->max_body)
		return shelter_err_set(err, SHELTER_E_FBIG, "body of %llu bytes (limit %zu)",
				       (unsigned long long)out->h.content_length,
				       lim->max_body);
	*body = (size_t)out->h.content_length;
	return 0;
}

int http_parse_response(const uint8_t *buf, size_t len, const struct http_limits *lim_in,
			int head_request, struct http_response *out, size_t *consumed,
			struct shelter_err *err)
{
	struct http_limits lim;
	size_t head_end = 0, bad_at = 0, body = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	*consumed = 0;
	limits_resolve(lim_in, &lim);
	switch (scan_head(buf, len, lim.max_head, &head_end, &bad_at)) {
	case SCAN_MORE:
		return 1;
	case SCAN_BAD_BYTE:
		shelter_err_set(err, SHELTER_E_MALFORMED, "byte 0x%02x at offset %zu of the "
				"head is not allowed there", buf[bad_at], bad_at);
		return response_fail(err, SHELTER_E_MALFORMED, "malformed");
	case SCAN_TOO_LARGE:
		shelter_err_set(err, SHELTER_E_FBIG, "head longer than %zu bytes", lim.max_head);
		return response_fail(err, SHELTER_E_FBIG, "too large");
	case SCAN_DONE:
		break;
	default:
		return SHELTER_E_INTERNAL;
	}
	rc = response_head(buf, head_end, &lim, head_request, out, &body, err);
	if (rc < 0) {
		int status = out->status;

		memset(out, 0, sizeof(*out));
		out->status = status;
		return response_fail(err, rc, "refused");
	}
	out->head_size = head_end;
	if (len - head_end < body)
		return need_more(len - head_end, body);
	out->body = buf + head_end;
	out->body_size = body;
	*consumed = head_end + body;
	return 0;
}
