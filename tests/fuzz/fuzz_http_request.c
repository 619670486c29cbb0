/* libFuzzer target: the HTTP/1.1 request parser the CAS runs on every byte a client
 * sends (src/lib/net/http.h, docs/api/http.md; STYLE.md rule 17), and the helpers a
 * server applies to what it accepted (percent-decoding, query parameters).
 *
 * The first input byte picks the limits (bit 0: tiny limits, so that the 413/414/431
 * paths are reached with small inputs); the rest is the request bytes.
 *
 * Properties checked with abort():
 *   - an accepted request: consumed == head_size + body_size <= len, the body and
 *     every slice lie inside the input, the target is origin-form within
 *     HTTP_MAX_TARGET, the method is one of the five, the body fits max_body;
 *   - a refusal carries a status from the documented set and the matching code;
 *   - "need more" consumes nothing;
 *   - prefixes (len - 1, len / 2, one picked by the input) either need more or give
 *     the whole input's answer (the byte-at-a-time property);
 *   - http_format_request of an accepted request parses back to the same method,
 *     target, body length and keep-alive;
 *   - percent-decoding never grows the text and never yields a NUL.
 *
 * Seeds: tests/fuzz/corpus/fuzz_http_request (a leading byte, then a request). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_http_request"
#include "fixture.h"

static int in_buf(const void *p, size_t n, const uint8_t *buf, size_t len)
{
	const uint8_t *q = p;

	return p == NULL ? n == 0 : q >= buf && q + n <= buf + len;
}

static void check_str(struct http_str s, const uint8_t *buf, size_t len, const char *what)
{
	if (!in_buf(s.p, s.len, buf, len))
		fz_die("%s points outside the input", what);
}

static void check_accepted(const struct http_request *r, const uint8_t *buf, size_t len,
			   size_t used, const struct http_limits *lim)
{
	if (used > len || used != r->head_size + r->body_size || r->status != 0)
		fz_die("consumed %zu of %zu (head %zu body %zu)", used, len, r->head_size,
		       r->body_size);
	if (r->body_size > 0 && r->body != buf + r->head_size)
		fz_die("body does not follow the head");
	if ((lim->max_body != 0 && r->body_size > lim->max_body) ||
	    (lim->max_head != 0 && r->head_size > lim->max_head))
		fz_die("a limit was not enforced");
	if (http_method_name(r->method) == NULL || r->version_minor < 0 || r->version_minor > 1)
		fz_die("method or version out of range");
	if (r->target.len == 0 || r->target.len > HTTP_MAX_TARGET || r->target.p[0] != '/' ||
	    r->path.p != r->target.p || r->path.len > r->target.len)
		fz_die("target not origin-form");
	if (r->version_minor == 1 && r->h.host.p == NULL)
		fz_die("HTTP/1.1 without Host accepted");
	check_str(r->target, buf, len, "target");
	check_str(r->query, buf, len, "query");
	check_str(r->h.host, buf, len, "Host");
	check_str(r->h.content_type, buf, len, "Content-Type");
	check_str(r->h.authorization, buf, len, "Authorization");
	for (size_t i = 0; i < r->h.extra_count; i++) {
		check_str(r->h.extra[i].name, buf, len, "field name");
		check_str(r->h.extra[i].value, buf, len, "field value");
	}
}

static void check_refused(int rc, int status)
{
	int want;

	switch (status) {
	case 400:
		want = SHELTER_E_MALFORMED;
		break;
	case 413:
	case 414:
	case 431:
		want = SHELTER_E_FBIG;
		break;
	case 411:
	case 501:
	case 505:
		want = SHELTER_E_PROTO;
		break;
	default:
		fz_die("refusal with status %d", status);
	}
	if (rc != want)
		fz_die("status %d with code %d", status, rc);
}

static void check_prefix(const uint8_t *buf, size_t len, size_t k,
			 const struct http_limits *lim, int rc_full, int st_full,
			 size_t used_full)
{
	struct http_request r;
	uint8_t *p;
	size_t used;
	int rc;

	if (k >= len)
		return;
	p = malloc(k + 1); /* exactly k bytes of input: ASan sees any read past them */
	if (p == NULL)
		fz_die("out of memory");
	memcpy(p, buf, k);
	rc = http_parse_request(p, k, lim, &r, &used, NULL);
	free(p);
	if (rc > 0)
		return;
	if (rc != rc_full || r.status != st_full || used != used_full)
		fz_die("prefix %zu of %zu: rc %d status %d, whole input: rc %d status %d", k,
		       len, rc, r.status, rc_full, st_full);
}

static char *dup_str(struct http_str s)
{
	char *p = malloc(s.len + 1);

	if (p == NULL)
		fz_die("out of memory");
	memcpy(p, s.p, s.len);
	p[s.len] = '\0';
	return p;
}

/* What the client side writes for an accepted request parses back the same. */
static void round_trip(const struct http_request *r)
{
	static char out[HTTP_DEFAULT_MAX_HEAD * 2];
	char *target = dup_str(r->target);
	char *host = r->h.host.p != NULL ? dup_str(r->h.host) : NULL;
	char *ctype = r->h.content_type.len > 0 ? dup_str(r->h.content_type) : NULL;
	struct http_request back;
	size_t n = 0, used;
	int rc;

	rc = http_format_request(r->method, target, host != NULL && host[0] ? host : "h", ctype,
				 r->body_size, r->h.keep_alive, NULL, 0, out, sizeof(out), &n,
				 NULL);
	/* a Host with a space is a valid field value but not something we send */
	if (rc != 0 && (rc != SHELTER_E_INVAL || host == NULL || strchr(host, ' ') == NULL))
		fz_die("http_format_request refused an accepted request (%d)", rc);
	if (rc == 0) {
		struct http_limits big = { .max_body = r->body_size + 1,
					   .max_head = sizeof(out) };

		rc = http_parse_request((const uint8_t *)out, n, &big, &back, &used, NULL);
		if (rc <= 0 && (rc != 0 || used != n))
			fz_die("a formatted request does not parse back (%d)", rc);
		if (rc > 0 && (back.head_size != n || back.h.content_length != r->body_size))
			fz_die("a formatted request's head does not parse back");
		if (back.method != r->method || back.target.len != r->target.len ||
		    memcmp(back.target.p, r->target.p, r->target.len) != 0 ||
		    back.h.keep_alive != r->h.keep_alive)
			fz_die("a formatted request parses back different");
	}
	free(target);
	free(host);
	free(ctype);
}

static void decode_check(struct http_str s)
{
	static char out[HTTP_MAX_TARGET + 1];
	size_t n = 0;

	if (s.p == NULL)
		return;
	if (http_percent_decode(s.p, s.len, out, sizeof(out), &n, NULL) == 0 &&
	    (n > s.len || strlen(out) != n))
		fz_die("percent-decoding grew the text or let a NUL through");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits tiny = { .max_head = 96, .max_headers = 4, .max_body = 24 };
	struct http_limits dflt = { 0 };
	const struct http_limits *lim;
	struct http_request r;
	struct http_str v;
	size_t len, used = 0;
	int rc;

	if (size == 0)
		return 0;
	lim = (data[0] & 1) ? &tiny : &dflt;
	data++;
	len = size - 1;
	rc = http_parse_request(data, len, lim, &r, &used, NULL);
	if (rc == 0) {
		check_accepted(&r, data, len, used, lim);
		round_trip(&r);
		decode_check(r.path);
		decode_check(r.query);
		if (http_query_get(r.query, "nonce", &v) == 0)
			check_str(v, data, len, "query value");
	} else if (rc < 0) {
		check_refused(rc, r.status);
		if (used != 0)
			fz_die("a refusal consumed bytes");
	} else if (used != 0) {
		fz_die("need more consumed bytes");
	}
	check_prefix(data, len, len - (len > 0), lim, rc, r.status, used);
	check_prefix(data, len, len / 2, lim, rc, r.status, used);
	if (len > 2)
		check_prefix(data, len, (data[len - 1] * 31u + data[1]) % len, lim, rc, r.status,
			     used);
	return 0;
}
