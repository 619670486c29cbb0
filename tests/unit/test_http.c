/* Unit tests for the HTTP/1.1 subset (src/lib/net/http.h, docs/api/http.md): every
 * refusal rule of the request and response parsers with its exact status and code,
 * then what they accept, pipelining, the byte-at-a-time property (a prefix of an input
 * never decides differently from the input), bit-flip and truncation sweeps, the
 * serializers (and that what they write parses back), percent-decoding, query
 * parameters and https URLs. Negative cases first (STYLE.md rule 16). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"
#include "../test.h"

#define RQ(s) (const uint8_t *)(s), sizeof(s) - 1
#define LIT(s) s, sizeof(s) - 1

static int parse_req(const char *s, size_t len, const struct http_limits *lim,
		     struct http_request *r, size_t *used)
{
	return http_parse_request((const uint8_t *)s, len, lim, r, used, NULL);
}

/* ---- the prefix property ------------------------------------------------------------ */

/* Every prefix of buf either asks for more or gives the whole buffer's answer: so a
 * server fed one byte at a time answers exactly as one fed everything at once. */
static int prefix_consistent(const uint8_t *buf, size_t len, const struct http_limits *lim,
			     int response, int head_request)
{
	struct http_request rq;
	struct http_response rs;
	size_t used_full = 0, used = 0;
	int rc_full, st_full, rc, st;

	if (response) {
		rc_full = http_parse_response(buf, len, lim, head_request, &rs, &used_full, NULL);
		st_full = rs.status;
	} else {
		rc_full = http_parse_request(buf, len, lim, &rq, &used_full, NULL);
		st_full = rq.status;
	}
	for (size_t k = 0; k < len; k++) {
		/* a copy of exactly k bytes, so ASan catches any read past the prefix */
		uint8_t *p = malloc(k + 1);

		if (p == NULL)
			return 0;
		memcpy(p, buf, k);
		if (response) {
			rc = http_parse_response(p, k, lim, head_request, &rs, &used, NULL);
			st = rs.status;
		} else {
			rc = http_parse_request(p, k, lim, &rq, &used, NULL);
			st = rq.status;
		}
		free(p);
		if (rc > 0)
			continue;
		if (rc != rc_full || st != st_full || used != used_full) {
			fprintf(stderr, "  prefix %zu of %zu: rc %d status %d used %zu, whole: "
				"rc %d status %d used %zu\n", k, len, rc, st, used, rc_full,
				st_full, used_full);
			return 0;
		}
	}
	return 1;
}

/* ---- request refusals: one row per rule --------------------------------------------- */

struct req_case {
	const char *name;
	const char *text;
	size_t len;           /* 0: strlen(text) */
	int rc;
	int status;
};

#define BAD(n, t, code, st) { n, t, 0, code, st }

static const struct req_case bad_requests[] = {
	/* framing: RFC 9112 §2.2 */
	BAD("bare_lf", "GET / HTTP/1.1\nHost: a\n\n", SHELTER_E_MALFORMED, 400),
	BAD("bare_lf_in_field", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("bare_cr", "GET / HTTP/1.1\rHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("ctl_in_value", "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("del_in_value", "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("empty_request_line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	/* request line: §3 */
	BAD("no_version", "GET /\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("double_space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("trailing_space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("tab_separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("method_not_token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("version_lowercase", "GET / http/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("version_garbage", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("version_2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", SHELTER_E_PROTO, 505),
	BAD("version_1_2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", SHELTER_E_PROTO, 505),
	BAD("version_0_9", "GET / HTTP/0.9\r\n\r\n", SHELTER_E_PROTO, 505),
	BAD("method_patch", "PATCH / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
	    SHELTER_E_PROTO, 501),
	BAD("method_lowercase", "get / HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_PROTO, 501),
	BAD("method_options_star", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_PROTO, 501),
	/* target: origin-form only (§3.2.1), RFC 3986 characters */
	BAD("target_absolute_form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
	    SHELTER_E_MALFORMED, 400),
	BAD("target_star", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("target_fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("target_quote", "GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("target_backslash", "GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("target_non_ascii", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("target_bad_percent", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("target_short_percent", "GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("target_percent_before_query", "GET /a%?x HTTP/1.1\r\nHost: a\r\n\r\n",
	    SHELTER_E_MALFORMED, 400),
	BAD("query_bad_byte", "GET /a?x=<y> HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	/* fields: RFC 9110 §5, RFC 9112 §5 */
	BAD("obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("obs_fold_tab", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n", SHELTER_E_MALFORMED,
	    400),
	BAD("space_before_first_field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", SHELTER_E_MALFORMED,
	    400),
	BAD("space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("tab_before_colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("no_colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("empty_name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("name_not_token", "GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", SHELTER_E_MALFORMED,
	    400),
	BAD("missing_host", "GET / HTTP/1.1\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("two_content_types", "POST / HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\n"
	    "Content-Type: c/d\r\nContent-Length: 0\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("two_authorizations", "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: x\r\n"
	    "Authorization: y\r\n\r\n", SHELTER_E_MALFORMED, 400),
	BAD("bad_connection", "GET / HTTP/1.1\r\nHost: a\r\nConnection: clo se\r\n\r\n",
	    SHELTER_E_MALFORMED, 400),
	/* Content-Length: RFC 9110 §8.6 */
	BAD("cl_different_twice", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\nab", SHELTER_E_MALFORMED, 400),
	BAD("cl_list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\na",
	    SHELTER_E_MALFORMED, 400),
	BAD("cl_plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\na",
	    SHELTER_E_MALFORMED, 400),
	BAD("cl_negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
	    SHELTER_E_MALFORMED, 400),
	BAD("cl_hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x1\r\n\r\na",
	    SHELTER_E_MALFORMED, 400),
	BAD("cl_inner_space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 1\r\n\r\n",
	    SHELTER_E_MALFORMED, 400),
	BAD("cl_empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
	    SHELTER_E_MALFORMED, 400),
	BAD("cl_huge", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
	    "99999999999999999999999999\r\n\r\n", SHELTER_E_FBIG, 413),
	BAD("cl_huge_twice", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
	    "99999999999999999999999999\r\nContent-Length: 18446744073709551615\r\n\r\n",
	    SHELTER_E_MALFORMED, 400),
	BAD("cl_above_limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n",
	    SHELTER_E_FBIG, 413),
	BAD("post_without_cl", "POST / HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_PROTO, 411),
	BAD("put_without_cl", "PUT / HTTP/1.1\r\nHost: a\r\n\r\n", SHELTER_E_PROTO, 411),
	BAD("chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1\r\na\r\n0\r\n\r\n", SHELTER_E_PROTO, 501),
	BAD("te_and_cl", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 1\r\n\r\na", SHELTER_E_PROTO, 501),
	BAD("te_identity", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
	    SHELTER_E_PROTO, 501),
};

static void request_refusals(void)
{
	int failed = 0;

	for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]); i++) {
		const struct req_case *t = &bad_requests[i];
		size_t len = t->len != 0 ? t->len : strlen(t->text), used = 99;
		struct http_request r;
		struct shelter_err e;
		int rc;

		shelter_err_clear(&e);
		rc = http_parse_request((const uint8_t *)t->text, len, NULL, &r, &used, &e);
		if (rc != t->rc || r.status != t->status || used != 0 || e.code != t->rc ||
		    e.msg[0] == '\0' || r.body != NULL || r.path.p != NULL) {
			fprintf(stderr, "  %s: rc %d status %d (want %d %d) err %d '%s'\n",
				t->name, rc, r.status, t->rc, t->status, e.code, e.msg);
			failed = 1;
		}
		if (!prefix_consistent((const uint8_t *)t->text, len, NULL, 0, 0)) {
			fprintf(stderr, "  %s: prefix property\n", t->name);
			failed = 1;
		}
	}
	CHECK(!failed);
}

static void request_error_message_names_cause(void)
{
	struct http_request r;
	struct shelter_err e;
	size_t used;

	shelter_err_clear(&e);
	CHECK_RC(http_parse_request(RQ("PATCH /x HTTP/1.1\r\nHost: a\r\n\r\n"), NULL, &r, &used,
				    &e), SHELTER_E_PROTO);
	CHECK(strstr(e.msg, "method 'PATCH' not implemented") != NULL);
	CHECK(strstr(e.msg, "501") != NULL);
	shelter_err_clear(&e);
	CHECK_RC(http_parse_request(RQ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
				       "Content-Length: 2\r\n\r\n"), NULL, &r, &used, &e),
		 SHELTER_E_MALFORMED);
	CHECK(strstr(e.msg, "two Content-Length fields with different values") != NULL);
	/* untrusted bytes are not echoed raw into messages */
	shelter_err_clear(&e);
	CHECK_RC(http_parse_request(RQ("GET / HTTP/1.1\r\nHost: a\r\nX\xff\xfe: 1\r\n\r\n"), NULL,
				    &r, &used, &e), SHELTER_E_MALFORMED);
	CHECK(strstr(e.msg, "X??") != NULL);
}

/* Limits: the target (414), the head (431), the field count (431), the body (413). */
static void request_limits(void)
{
	static char buf[12000];
	struct http_limits lim = { 0 };
	struct http_request r;
	size_t used, n;

	/* a target of exactly HTTP_MAX_TARGET bytes passes, one more is 414 */
	n = (size_t)snprintf(buf, sizeof(buf), "GET /%0*d HTTP/1.1\r\nHost: a\r\n\r\n",
			     (int)HTTP_MAX_TARGET - 1, 0);
	CHECK_OK(parse_req(buf, n, NULL, &r, &used));
	CHECK(r.target.len == HTTP_MAX_TARGET);
	n = (size_t)snprintf(buf, sizeof(buf), "GET /%0*d HTTP/1.1\r\nHost: a\r\n\r\n",
			     (int)HTTP_MAX_TARGET, 0);
	CHECK_RC(parse_req(buf, n, NULL, &r, &used), SHELTER_E_FBIG);
	CHECK(r.status == 414);
	/* a target longer than the whole head limit is still 414, not 431 */
	n = (size_t)snprintf(buf, sizeof(buf), "GET /%0*d HTTP/1.1\r\nHost: a\r\n\r\n",
			     10000, 0);
	CHECK_RC(parse_req(buf, n, NULL, &r, &used), SHELTER_E_FBIG);
	CHECK(r.status == 414);
	/* ... but a long line of garbage is a 400 */
	memset(buf, 'A', 9000);
	CHECK_RC(parse_req(buf, 9000, NULL, &r, &used), SHELTER_E_MALFORMED);
	CHECK(r.status == 400);
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1%09000d", 0);
	CHECK_RC(parse_req(buf, n, NULL, &r, &used), SHELTER_E_MALFORMED);
	CHECK(r.status == 400);
	/* head: fields past 8 KiB */
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: %08200d\r\n\r\n",
			     0);
	CHECK_RC(parse_req(buf, n, NULL, &r, &used), SHELTER_E_FBIG);
	CHECK(r.status == 431);
	/* a head of exactly max_head bytes passes */
	lim.max_head = 64;
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: %032d\r\n\r\n",
			     0);
	CHECK(n == 64);
	CHECK_OK(parse_req(buf, n, &lim, &r, &used));
	CHECK(used == 64 && r.head_size == 64);
	lim.max_head = 63;
	CHECK_RC(parse_req(buf, n, &lim, &r, &used), SHELTER_E_FBIG);
	CHECK(r.status == 431);
	CHECK(prefix_consistent((const uint8_t *)buf, n, &lim, 0, 0));
	/* fields: 64 pass, 65 are 431 */
	lim.max_head = 0;
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 63; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: %d\r\n", i, i);
	memcpy(buf + n, "\r\n", 2);
	CHECK_OK(parse_req(buf, n + 2, NULL, &r, &used));
	CHECK(r.h.extra_count == HTTP_MAX_EXTRA);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-last: 1\r\n\r\n");
	CHECK_RC(parse_req(buf, n, NULL, &r, &used), SHELTER_E_FBIG);
	CHECK(r.status == 431);
	lim.max_headers = 2;
	CHECK_RC(parse_req(LIT("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n"), &lim, &r,
			   &used), SHELTER_E_FBIG);
	/* body: exactly max_body passes, one more is 413 */
	lim.max_headers = 0;
	lim.max_body = 4;
	CHECK_OK(parse_req(LIT("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd"),
			   &lim, &r, &used));
	CHECK(r.body_size == 4);
	CHECK_RC(parse_req(LIT("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcde"),
			   &lim, &r, &used), SHELTER_E_FBIG);
	CHECK(r.status == 413);
	/* 413 is decided on the head alone: no need to wait for the body */
	CHECK_RC(parse_req(LIT("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"), &lim,
			   &r, &used), SHELTER_E_FBIG);
}

/* ---- what requests are accepted -------------------------------------------------------- */

static void request_get_fields(void)
{
	static const char req[] =
		"GET /v1/sessions/a%20b?nonce=1&x HTTP/1.1\r\n"
		"Host: cas.example:8443\r\n"
		"User-Agent: \t curl/7.88  \r\n"
		"Authorization: Bearer abc\r\n"
		"X-Obs: caf\xc3\xa9\r\n"
		"content-type: application/json\r\n"
		"\r\n";
	struct http_request r;
	struct http_str v;
	size_t used;

	CHECK_OK(http_parse_request(RQ(req), NULL, &r, &used, NULL));
	CHECK(used == sizeof(req) - 1 && r.head_size == used);
	CHECK(r.method == HTTP_GET && r.version_minor == 1 && r.status == 0);
	CHECK(http_str_eq(r.target, "/v1/sessions/a%20b?nonce=1&x"));
	CHECK(http_str_eq(r.path, "/v1/sessions/a%20b"));
	CHECK(http_str_eq(r.query, "nonce=1&x"));
	CHECK(http_str_eq(r.h.host, "cas.example:8443"));
	CHECK(http_str_eq(r.h.authorization, "Bearer abc"));
	CHECK(http_str_eq(r.h.content_type, "application/json"));
	CHECK(r.h.keep_alive == 1 && !r.h.has_content_length && !r.h.expect_continue);
	CHECK(r.body_size == 0);
	CHECK(r.h.extra_count == 2);
	CHECK_OK(http_field_get(&r.h, "USER-AGENT", &v));
	CHECK(http_str_eq(v, "curl/7.88")); /* OWS trimmed both sides */
	CHECK_OK(http_field_get(&r.h, "x-obs", &v));
	CHECK(http_str_eq(v, "caf\xc3\xa9")); /* obs-text is allowed in values */
	CHECK_RC(http_field_get(&r.h, "x-none", &v), SHELTER_E_NOENT);
	CHECK(v.p == NULL);
	/* the slices point into the caller's buffer */
	CHECK(r.path.p == req + 4);
}

static void request_methods_and_versions(void)
{
	struct http_request r;
	size_t used;

	CHECK_OK(http_parse_request(RQ("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"), NULL, &r, &used,
				    NULL));
	CHECK(r.method == HTTP_HEAD);
	CHECK_OK(http_parse_request(RQ("DELETE /s/x HTTP/1.1\r\nHost: a\r\n\r\n"), NULL, &r,
				    &used, NULL));
	CHECK(r.method == HTTP_DELETE);
	CHECK_OK(http_parse_request(RQ("PUT /s HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
				    NULL, &r, &used, NULL));
	CHECK(r.method == HTTP_PUT && r.h.has_content_length && r.body_size == 0);
	/* HTTP/1.0: no Host needed */
	CHECK_OK(http_parse_request(RQ("GET / HTTP/1.0\r\n\r\n"), NULL, &r, &used, NULL));
	CHECK(r.version_minor == 0 && r.h.host.p == NULL);
	/* a bare "?" is an empty query, no "?" no query */
	CHECK_OK(http_parse_request(RQ("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n"), NULL, &r, &used,
				    NULL));
	CHECK(http_str_eq(r.path, "/a") && r.query.p != NULL && r.query.len == 0);
	CHECK_OK(http_parse_request(RQ("GET /a/?b?c=/d HTTP/1.1\r\nHost: a\r\n\r\n"), NULL, &r,
				    &used, NULL));
	CHECK(http_str_eq(r.path, "/a/") && http_str_eq(r.query, "b?c=/d"));
	CHECK_OK(http_parse_request(RQ("GET /a HTTP/1.1\r\nHost: a\r\n\r\n"), NULL, &r, &used,
				    NULL));
	CHECK(r.query.p == NULL);
	/* every pchar class in the path */
	CHECK_OK(http_parse_request(RQ("GET /aZ09-._~!$&'()*+,;=:@%2F HTTP/1.1\r\nHost: a\r\n\r\n"),
				    NULL, &r, &used, NULL));
	/* a GET may carry a body when it says how long it is */
	CHECK_OK(http_parse_request(RQ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"),
				    NULL, &r, &used, NULL));
	CHECK(r.body_size == 2 && memcmp(r.body, "hi", 2) == 0);
	/* the same Content-Length twice is one value */
	CHECK_OK(http_parse_request(RQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 01\r\n"
				       "Content-Length: 1\r\n\r\nx"), NULL, &r, &used, NULL));
	CHECK(r.body_size == 1 && used == r.head_size + 1);
}

static void request_keep_alive(void)
{
	static const struct {
		const char *text;
		int keep_alive;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: ,\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_request r;
		size_t used;

		CHECK_OK(parse_req(cases[i].text, strlen(cases[i].text), NULL, &r, &used));
		CHECK(r.h.keep_alive == cases[i].keep_alive);
	}
}

static void request_need_more(void)
{
	static const char req[] = "POST /a HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
				  "Content-Length: 10\r\n\r\n0123456789";
	size_t head = sizeof(req) - 1 - 10, used = 7;
	struct http_request r;
	int rc;

	CHECK(parse_req(req, 0, NULL, &r, &used) == 1);
	CHECK(used == 0);
	CHECK(parse_req(req, 20, NULL, &r, &used) == 1);
	CHECK(r.head_size == 0 && r.path.p == NULL);
	/* head complete, body short: how many bytes are missing, and the head's fields */
	rc = parse_req(req, head + 3, NULL, &r, &used);
	CHECK(rc == 7);
	CHECK(r.head_size == head && r.h.expect_continue && r.h.content_length == 10);
	CHECK(r.body == NULL && used == 0);
	CHECK_OK(parse_req(req, sizeof(req) - 1, NULL, &r, &used));
	CHECK(used == sizeof(req) - 1);
}

static void request_pipelined(void)
{
	static const char two[] = "POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
				  "GET /two HTTP/1.1\r\nHost: a\r\n\r\n"
				  "GET /thr";
	const uint8_t *p = (const uint8_t *)two;
	size_t len = sizeof(two) - 1, used;
	struct http_request r;

	CHECK_OK(http_parse_request(p, len, NULL, &r, &used, NULL));
	CHECK(http_str_eq(r.path, "/one") && r.body_size == 3 && memcmp(r.body, "abc", 3) == 0);
	p += used;
	len -= used;
	CHECK_OK(http_parse_request(p, len, NULL, &r, &used, NULL));
	CHECK(http_str_eq(r.path, "/two") && used == strlen("GET /two HTTP/1.1\r\nHost: a\r\n\r\n"));
	p += used;
	len -= used;
	CHECK(http_parse_request(p, len, NULL, &r, &used, NULL) == 1);
	CHECK(len == 8);
}

/* One byte at a time: every accepted request and every refusal gives the same answer
 * as the whole buffer. */
static void request_prefix_property(void)
{
	static const char *ok[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a?b=c HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"PUT /x HTTP/1.0\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\nGET",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		CHECK(prefix_consistent((const uint8_t *)ok[i], strlen(ok[i]), NULL, 0, 0));
}

/* Flip every bit and cut at every length of a request: never a crash, never a
 * pointer outside the buffer, an answer from the documented set. */
static void request_flip_and_truncate_sweep(void)
{
	static const char base[] = "POST /v1/attest?x=1 HTTP/1.1\r\nHost: a:1\r\n"
				   "Content-Type: application/json\r\nConnection: close\r\n"
				   "Content-Length: 7\r\n\r\n{\"a\":1}";
	uint8_t buf[sizeof(base)];
	size_t len = sizeof(base) - 1;
	int bad = 0;

	for (size_t i = 0; i < len && !bad; i++) {
		for (int bit = 0; bit < 8 && !bad; bit++) {
			struct http_request r;
			size_t used;
			int rc;

			memcpy(buf, base, len);
			buf[i] ^= (uint8_t)(1u << bit);
			rc = http_parse_request(buf, len, NULL, &r, &used, NULL);
			if (rc == 0)
				bad = used > len || r.body + r.body_size > buf + len ||
				      r.path.p < (const char *)buf ||
				      r.path.p + r.path.len > (const char *)buf + len;
			else if (rc < 0)
				bad = r.status < 400 || r.status > 505;
			if (!bad)
				bad = !prefix_consistent(buf, len, NULL, 0, 0);
			if (bad)
				fprintf(stderr, "  flip byte %zu bit %d: rc %d\n", i, bit, rc);
		}
	}
	CHECK(!bad);
}

/* ---- responses ------------------------------------------------------------------------- */

static void response_refusals(void)
{
	static const struct {
		const char *name, *text;
		int head_request, rc;
	} cases[] = {
		{ "bare_lf", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", 0, SHELTER_E_MALFORMED },
		{ "version_2", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, SHELTER_E_PROTO },
		{ "version_garbage", "HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0,
		  SHELTER_E_MALFORMED },
		{ "status_two_digits", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", 0,
		  SHELTER_E_MALFORMED },
		{ "status_four_digits", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", 0,
		  SHELTER_E_MALFORMED },
		{ "status_600", "HTTP/1.1 600 X\r\nContent-Length: 0\r\n\r\n", 0, SHELTER_E_MALFORMED },
		{ "status_099", "HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n", 0, SHELTER_E_MALFORMED },
		{ "no_space", "HTTP/1.1200 OK\r\nContent-Length: 0\r\n\r\n", 0, SHELTER_E_MALFORMED },
		{ "interim", "HTTP/1.1 100 Continue\r\n\r\n", 0, SHELTER_E_PROTO },
		{ "no_content_length", "HTTP/1.1 200 OK\r\n\r\nbody", 0, SHELTER_E_PROTO },
		{ "chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0,
		  SHELTER_E_PROTO },
		{ "204_with_body", "HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\nhi", 0,
		  SHELTER_E_PROTO },
		{ "obs_fold", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n x\r\n\r\n", 0,
		  SHELTER_E_MALFORMED },
		{ "cl_twice", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		  0, SHELTER_E_MALFORMED },
		{ "cl_above_limit", "HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n", 0,
		  SHELTER_E_FBIG },
		{ "cl_huge", "HTTP/1.1 200 OK\r\nContent-Length: 184467440737095516150\r\n\r\n", 0,
		  SHELTER_E_FBIG },
	};
	int failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_response r;
		struct shelter_err e;
		size_t used = 5;
		int rc;

		shelter_err_clear(&e);
		rc = http_parse_response((const uint8_t *)cases[i].text, strlen(cases[i].text),
					 NULL, cases[i].head_request, &r, &used, &e);
		if (rc != cases[i].rc || used != 0 || r.body != NULL || e.code != rc ||
		    strncmp(e.msg, "response ", 9) != 0) {
			fprintf(stderr, "  %s: rc %d (want %d) '%s'\n", cases[i].name, rc,
				cases[i].rc, e.msg);
			failed = 1;
		}
		if (!prefix_consistent((const uint8_t *)cases[i].text, strlen(cases[i].text),
				       NULL, 1, cases[i].head_request))
			failed = 1;
	}
	CHECK(!failed);
}

static void response_accepts(void)
{
	static const char ok[] = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
				 "Content-Length: 4\r\nX-Request-Id: 7\r\n\r\n{ }\n";
	struct http_response r;
	struct http_str v;
	size_t used;

	CHECK_OK(http_parse_response(RQ(ok), NULL, 0, &r, &used, NULL));
	CHECK(r.status == 201 && http_str_eq(r.reason, "Created") && r.version_minor == 1);
	CHECK(http_str_eq(r.h.content_type, "application/json") && r.h.keep_alive);
	CHECK(r.body_size == 4 && memcmp(r.body, "{ }\n", 4) == 0 && used == sizeof(ok) - 1);
	CHECK_OK(http_field_get(&r.h, "x-request-id", &v));
	CHECK(http_str_eq(v, "7"));
	/* an empty reason, with or without its space */
	CHECK_OK(http_parse_response(RQ("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), NULL, 0, &r,
				     &used, NULL));
	CHECK(r.status == 200 && r.reason.len == 0);
	CHECK_OK(http_parse_response(RQ("HTTP/1.0 404 \r\nContent-Length: 0\r\n\r\n"), NULL, 0,
				     &r, &used, NULL));
	CHECK(r.status == 404 && r.reason.len == 0 && !r.h.keep_alive);
	/* no body: HEAD, 204, 304, whatever Content-Length says */
	CHECK_OK(http_parse_response(RQ("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), NULL,
				     1, &r, &used, NULL));
	CHECK(r.body_size == 0 && used == r.head_size && r.h.content_length == 100);
	CHECK_OK(http_parse_response(RQ("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n"),
				     NULL, 0, &r, &used, NULL));
	CHECK(r.body_size == 0);
	CHECK_OK(http_parse_response(RQ("HTTP/1.1 204 No Content\r\n\r\n"), NULL, 0, &r, &used,
				     NULL));
	CHECK(r.body_size == 0);
	CHECK_OK(http_parse_response(RQ("HTTP/1.1 200 OK\r\nConnection: close\r\n"
					"Content-Length: 0\r\n\r\n"), NULL, 0, &r, &used, NULL));
	CHECK(!r.h.keep_alive);
	/* need more: the missing body bytes */
	CHECK(http_parse_response((const uint8_t *)ok, sizeof(ok) - 3, NULL, 0, &r, &used,
				  NULL) == 2);
	CHECK(prefix_consistent((const uint8_t *)ok, sizeof(ok) - 1, NULL, 1, 0));
}

static void response_limits(void)
{
	struct http_limits lim = { .max_head = 40, .max_body = 3 };
	struct http_response r;
	size_t used;

	CHECK_RC(http_parse_response(RQ("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd"), &lim,
				     0, &r, &used, NULL), SHELTER_E_FBIG);
	CHECK(r.status == 200);
	CHECK_RC(http_parse_response(RQ("HTTP/1.1 200 OK\r\nX: 1\r\nContent-Length: 3\r\n\r\nabc"),
				     &lim, 0, &r, &used, NULL), SHELTER_E_FBIG);
	lim.max_head = 0;
	lim.max_headers = 1;
	CHECK_RC(http_parse_response(RQ("HTTP/1.1 200 OK\r\nX: 1\r\nContent-Length: 3\r\n\r\nabc"),
				     &lim, 0, &r, &used, NULL), SHELTER_E_FBIG);
}

/* ---- serializers --------------------------------------------------------------------- */

static void format_refuses(void)
{
	struct http_header bad_name = { { "X Y", 3 }, { "1", 1 } };
	struct http_header bad_value = { { "X", 1 }, { "a\r\nSet-Cookie: x", 17 } };
	char buf[512];
	size_t n = 99;

	CHECK_RC(http_format_response(99, NULL, 0, 1, NULL, 0, buf, sizeof(buf), &n, NULL),
		 SHELTER_E_INVAL);
	CHECK(n == 0);
	CHECK_RC(http_format_response(600, NULL, 0, 1, NULL, 0, buf, sizeof(buf), &n, NULL),
		 SHELTER_E_INVAL);
	CHECK_RC(http_format_response(204, NULL, 1, 1, NULL, 0, buf, sizeof(buf), &n, NULL),
		 SHELTER_E_INVAL);
	CHECK_RC(http_format_response(200, "text/plain\r\nX: y", 0, 1, NULL, 0, buf, sizeof(buf),
				      &n, NULL), SHELTER_E_INVAL);
	CHECK_RC(http_format_response(200, NULL, 0, 1, &bad_name, 1, buf, sizeof(buf), &n, NULL),
		 SHELTER_E_INVAL);
	CHECK_RC(http_format_response(200, NULL, 0, 1, &bad_value, 1, buf, sizeof(buf), &n,
				      NULL), SHELTER_E_INVAL);
	CHECK_RC(http_format_response(200, NULL, 0, 1, NULL, 0, buf, 20, &n, NULL),
		 SHELTER_E_NOSPC);
	CHECK_RC(http_format_request(HTTP_GET, "noslash", "h", NULL, 0, 1, NULL, 0, buf,
				     sizeof(buf), &n, NULL), SHELTER_E_INVAL);
	CHECK_RC(http_format_request(HTTP_GET, "/a b", "h", NULL, 0, 1, NULL, 0, buf,
				     sizeof(buf), &n, NULL), SHELTER_E_INVAL);
	CHECK_RC(http_format_request(HTTP_GET, "/a%2", "h", NULL, 0, 1, NULL, 0, buf,
				     sizeof(buf), &n, NULL), SHELTER_E_INVAL);
	CHECK_RC(http_format_request(HTTP_GET, "/a#b", "h", NULL, 0, 1, NULL, 0, buf,
				     sizeof(buf), &n, NULL), SHELTER_E_INVAL);
	CHECK_RC(http_format_request(HTTP_GET, "/", "h x", NULL, 0, 1, NULL, 0, buf,
				     sizeof(buf), &n, NULL), SHELTER_E_INVAL);
	CHECK_RC(http_format_request(HTTP_GET, "/", "h\r\nX: y", NULL, 0, 1, NULL, 0, buf,
				     sizeof(buf), &n, NULL), SHELTER_E_INVAL);
	CHECK_RC(http_format_request((enum http_method)99, "/", "h", NULL, 0, 1, NULL, 0, buf,
				     sizeof(buf), &n, NULL), SHELTER_E_INVAL);
	CHECK_RC(http_format_request(HTTP_GET, "/", "h", NULL, 0, 1, &bad_value, 1, buf,
				     sizeof(buf), &n, NULL), SHELTER_E_INVAL);
}

static void format_response_exact(void)
{
	struct http_header extra[] = { { { "Cache-Control", 13 }, { "no-store", 8 } } };
	static const char want[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				   "Content-Length: 2\r\nConnection: keep-alive\r\n"
				   "Cache-Control: no-store\r\n\r\n";
	char buf[512];
	struct http_response r;
	size_t n, used;

	CHECK_OK(http_format_response(200, "application/json", 2, 1, extra, 1, buf, sizeof(buf),
				      &n, NULL));
	CHECK(n == sizeof(want) - 1 && memcmp(buf, want, n) == 0);
	memcpy(buf + n, "{}", 2);
	CHECK_OK(http_parse_response((const uint8_t *)buf, n + 2, NULL, 0, &r, &used, NULL));
	CHECK(r.status == 200 && r.body_size == 2 && used == n + 2 && r.h.keep_alive);
	/* 204: no Content-Length; 1xx: status line only */
	CHECK_OK(http_format_response(204, NULL, 0, 0, NULL, 0, buf, sizeof(buf), &n, NULL));
	CHECK(n == strlen("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"));
	CHECK(memcmp(buf, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", n) == 0);
	CHECK_OK(http_format_response(100, NULL, 0, 1, NULL, 0, buf, sizeof(buf), &n, NULL));
	CHECK(n == 25 && memcmp(buf, "HTTP/1.1 100 Continue\r\n\r\n", n) == 0);
	/* every status the parsers answer with has its phrase */
	static const int statuses[] = { 400, 408, 411, 413, 414, 431, 501, 505 };
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		CHECK(strcmp(http_reason(statuses[i]), "Unknown") != 0);
	CHECK(strcmp(http_reason(299), "Unknown") == 0);
}

static void format_request_round_trip(void)
{
	static const char want[] = "POST /v1/attest?n=%20 HTTP/1.1\r\nHost: [::1]:8443\r\n"
				   "Content-Type: application/json\r\nContent-Length: 0\r\n"
				   "Connection: close\r\n\r\n";
	char buf[512];
	struct http_request r;
	size_t n, used;

	CHECK_OK(http_format_request(HTTP_POST, "/v1/attest?n=%20", "[::1]:8443",
				     "application/json", 0, 0, NULL, 0, buf, sizeof(buf), &n,
				     NULL));
	CHECK(n == sizeof(want) - 1 && memcmp(buf, want, n) == 0);
	CHECK_OK(http_parse_request((const uint8_t *)buf, n, NULL, &r, &used, NULL));
	CHECK(r.method == HTTP_POST && http_str_eq(r.query, "n=%20") && !r.h.keep_alive);
	/* a GET without a body says nothing about length; with one it does */
	CHECK_OK(http_format_request(HTTP_GET, "/", "h", NULL, 0, 1, NULL, 0, buf, sizeof(buf),
				     &n, NULL));
	CHECK(n == 27 && memcmp(buf, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", n) == 0);
	CHECK_OK(http_format_request(HTTP_DELETE, "/x", "h", NULL, 3, 1, NULL, 0, buf,
				     sizeof(buf), &n, NULL));
	memcpy(buf + n, "abc", 3);
	CHECK_OK(http_parse_request((const uint8_t *)buf, n + 3, NULL, &r, &used, NULL));
	CHECK(r.method == HTTP_DELETE && r.body_size == 3 && used == n + 3);
}

/* ---- percent-decoding, queries, URLs ---------------------------------------------------- */

static void percent_decode_cases(void)
{
	char out[16];
	size_t n = 9;

	CHECK_RC(http_percent_decode("a%00b", 5, out, sizeof(out), &n, NULL), SHELTER_E_MALFORMED);
	CHECK(n == 0);
	CHECK_RC(http_percent_decode("a%2", 3, out, sizeof(out), &n, NULL), SHELTER_E_MALFORMED);
	CHECK_RC(http_percent_decode("%g0", 3, out, sizeof(out), &n, NULL), SHELTER_E_MALFORMED);
	CHECK_RC(http_percent_decode("%", 1, out, sizeof(out), &n, NULL), SHELTER_E_MALFORMED);
	CHECK_RC(http_percent_decode("abcd", 4, out, 4, &n, NULL), SHELTER_E_NAMETOOLONG);
	CHECK_RC(http_percent_decode("a", 1, out, 0, &n, NULL), SHELTER_E_NAMETOOLONG);
	CHECK_OK(http_percent_decode("abc", 3, out, 4, &n, NULL));
	CHECK(n == 3 && strcmp(out, "abc") == 0);
	CHECK_OK(http_percent_decode("a%20b+%2f%2F%c3%A9", 18, out, sizeof(out), &n, NULL));
	CHECK(n == 8 && strcmp(out, "a b+//\xc3\xa9") == 0);
	CHECK_OK(http_percent_decode("", 0, out, 1, &n, NULL));
	CHECK(n == 0 && out[0] == '\0');
}

static void query_get_cases(void)
{
	struct http_str q = { "a=1&bb=2&c&d=&a=3&=x", 20 }, v, none = { NULL, 0 };

	CHECK_OK(http_query_get(q, "a", &v));
	CHECK(http_str_eq(v, "1"));
	CHECK_OK(http_query_get(q, "bb", &v));
	CHECK(http_str_eq(v, "2"));
	CHECK_OK(http_query_get(q, "c", &v));
	CHECK(v.len == 0 && v.p != NULL);
	CHECK_OK(http_query_get(q, "d", &v));
	CHECK(v.len == 0);
	CHECK_OK(http_query_get(q, "", &v));
	CHECK(http_str_eq(v, "x"));
	CHECK_RC(http_query_get(q, "b", &v), SHELTER_E_NOENT);
	CHECK(v.p == NULL);
	CHECK_RC(http_query_get(q, "e", &v), SHELTER_E_NOENT);
	CHECK_RC(http_query_get(none, "a", &v), SHELTER_E_NOENT);
}

static void url_refusals(void)
{
	static const char *bad[] = {
		"http://cas.example", "ftp://x", "https:/x", "https://", "https:///base",
		"https://:443", "https://h:0", "https://h:65536", "https://h:", "https://h:12a",
		"https://h:+1", "https://h:123456", "https://u@h", "https://u:p@h:1/",
		"https://h/?q", "https://h?q", "https://h/#f", "https://h#f", "https://[::1",
		"https://[zz]", "https://[::1]x", "https://[::1]:", "https://[]",
		"https://[fe80::1%25eth0]", "https://h_x", "https://-h", "https://h-",
		"https://a..b", "https://.a", "https://h/a b", "https://h/%zz", "https://h/a\\b",
		"https://h\n", "https://h /", "https://caf\xc3\xa9.example",
		"https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
	};
	int failed = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_url u;
		struct shelter_err e;
		int rc;

		shelter_err_clear(&e);
		rc = http_url_parse(bad[i], &u, &e);
		if (rc != SHELTER_E_INVAL || strncmp(e.msg, "URL '", 5) != 0) {
			fprintf(stderr, "  '%s' accepted (%d)\n", bad[i], rc);
			failed = 1;
		}
	}
	CHECK(!failed);
}

static void url_accepts(void)
{
	struct http_url u;

	CHECK_OK(http_url_parse("https://cas.example", &u, NULL));
	CHECK(strcmp(u.host, "cas.example") == 0 && u.port == 443 && u.base[0] == '\0');
	CHECK(strcmp(u.authority, "cas.example") == 0 && !u.ipv6);
	CHECK_OK(http_url_parse("HTTPS://Cas-1.Example:8443/", &u, NULL));
	CHECK(strcmp(u.host, "Cas-1.Example") == 0 && u.port == 8443 && u.base[0] == '\0');
	CHECK(strcmp(u.authority, "Cas-1.Example:8443") == 0);
	CHECK_OK(http_url_parse("https://127.0.0.1:1/v1/cas%20x//", &u, NULL));
	CHECK(strcmp(u.host, "127.0.0.1") == 0 && u.port == 1);
	CHECK(strcmp(u.base, "/v1/cas%20x") == 0);
	CHECK_OK(http_url_parse("https://[::1]:65535/b", &u, NULL));
	CHECK(strcmp(u.host, "::1") == 0 && u.ipv6 && u.port == 65535);
	CHECK(strcmp(u.authority, "[::1]:65535") == 0 && strcmp(u.base, "/b") == 0);
	CHECK_OK(http_url_parse("https://[2001:db8::a]", &u, NULL));
	CHECK(strcmp(u.authority, "[2001:db8::a]") == 0);
}

int main(void)
{
	test_binary = "test_http";
	RUN(request_refusals);
	RUN(request_error_message_names_cause);
	RUN(request_limits);
	RUN(request_get_fields);
	RUN(request_methods_and_versions);
	RUN(request_keep_alive);
	RUN(request_need_more);
	RUN(request_pipelined);
	RUN(request_prefix_property);
	RUN(request_flip_and_truncate_sweep);
	RUN(response_refusals);
	RUN(response_accepts);
	RUN(response_limits);
	RUN(format_refuses);
	RUN(format_response_exact);
	RUN(format_request_round_trip);
	RUN(percent_decode_cases);
	RUN(query_get_cases);
	RUN(url_refusals);
	RUN(url_accepts);
	return test_total_failed == 0 ? 0 : 1;
}
