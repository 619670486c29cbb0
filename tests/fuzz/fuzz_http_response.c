/* libFuzzer target: what the attestation client and the CLI parse from a server they
 * may not trust yet (src/lib/net/http.h, docs/api/http.md; STYLE.md rule 17): the
 * HTTP/1.1 response parser, and the https URL parser on the same bytes.
 *
 * The first input byte picks the options (bit 0: tiny limits; bit 1: the response
 * answers a HEAD request); the rest is the response bytes, and also, up to its first
 * NUL, a URL.
 *
 * Properties checked with abort():
 *   - an accepted response: consumed == head_size + body_size <= len, the body and
 *     every slice lie inside the input, status 200..599, the body fits max_body and is
 *     empty for HEAD, 204 and 304;
 *   - a refusal: MALFORMED, FBIG or PROTO, nothing consumed;
 *   - prefixes (len - 1, len / 2, one picked by the input) either need more or give
 *     the whole input's answer;
 *   - http_format_response of an accepted response parses back to the same status,
 *     body length and keep-alive;
 *   - an accepted URL: a host without brackets, a port, a base without a trailing
 *     "/", and "https://" + authority + base parses back to the same URL.
 *
 * Seeds: tests/fuzz/corpus/fuzz_http_response (a leading byte, then a response). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_http_response"
#include "fixture.h"

static int in_buf(const void *p, size_t n, const uint8_t *buf, size_t len)
{
	const uint8_t *q = p;

	return p == NULL ? n == 0 : q >= buf && q + n <= buf + len;
}

static void check_accepted(const struct http_response *r, const uint8_t *buf, size_t len,
			   size_t used, const struct http_limits *lim, int head_request)
{
	if (used > len || used != r->head_size + r->body_size)
		fz_die("consumed %zu of %zu (head %zu body %zu)", used, len, r->head_size,
		       r->body_size);
	if (r->body_size > 0 && r->body != buf + r->head_size)
		fz_die("body does not follow the head");
	if (r->status < 200 || r->status > 599)
		fz_die("status %d accepted", r->status);
	if ((head_request || r->status == 204 || r->status == 304) && r->body_size != 0)
		fz_die("a body where there is none");
	if (lim->max_body != 0 && r->body_size > lim->max_body)
		fz_die("max_body not enforced");
	if (!in_buf(r->reason.p, r->reason.len, buf, len) ||
	    !in_buf(r->h.content_type.p, r->h.content_type.len, buf, len))
		fz_die("a slice points outside the input");
	for (size_t i = 0; i < r->h.extra_count; i++) {
		if (!in_buf(r->h.extra[i].name.p, r->h.extra[i].name.len, buf, len) ||
		    !in_buf(r->h.extra[i].value.p, r->h.extra[i].value.len, buf, len))
			fz_die("a field points outside the input");
	}
}

static void check_prefix(const uint8_t *buf, size_t len, size_t k,
			 const struct http_limits *lim, int head_request, int rc_full,
			 size_t used_full)
{
	struct http_response r;
	uint8_t *p;
	size_t used;
	int rc;

	if (k >= len)
		return;
	p = malloc(k + 1);
	if (p == NULL)
		fz_die("out of memory");
	memcpy(p, buf, k);
	rc = http_parse_response(p, k, lim, head_request, &r, &used, NULL);
	free(p);
	if (rc > 0)
		return;
	if (rc != rc_full || used != used_full)
		fz_die("prefix %zu of %zu: rc %d, whole input: rc %d", k, len, rc, rc_full);
}

static void round_trip(const struct http_response *r, int head_request)
{
	static char out[HTTP_DEFAULT_MAX_HEAD * 2];
	char *ctype = NULL;
	struct http_response back;
	size_t n = 0, used;
	int rc;

	if (r->h.content_type.len > 0) {
		ctype = malloc(r->h.content_type.len + 1);
		if (ctype == NULL)
			fz_die("out of memory");
		memcpy(ctype, r->h.content_type.p, r->h.content_type.len);
		ctype[r->h.content_type.len] = '\0';
	}
	rc = http_format_response(r->status, ctype, r->body_size, r->h.keep_alive, NULL, 0,
				  out, sizeof(out), &n, NULL);
	if (rc != 0)
		fz_die("http_format_response refused an accepted response (%d)", rc);
	rc = http_parse_response((const uint8_t *)out, n, NULL, head_request, &back, &used,
				 NULL);
	if (rc < 0 || (rc == 0 && used != n) || (rc > 0 && back.head_size != n))
		fz_die("a formatted response does not parse back (%d)", rc);
	if (back.status != r->status || back.h.keep_alive != r->h.keep_alive ||
	    (rc > 0 && back.h.content_length != r->body_size))
		fz_die("a formatted response parses back different");
	free(ctype);
}

static void url_check(const uint8_t *data, size_t len)
{
	char text[600], again[600];
	struct http_url u, v;
	size_t n = len < sizeof(text) - 1 ? len : sizeof(text) - 1;

	memcpy(text, data, n);
	text[n] = '\0';
	if (http_url_parse(text, &u, NULL) != 0)
		return;
	if (u.host[0] == '\0' || strchr(u.host, '[') != NULL || u.port == 0)
		fz_die("URL accepted with host '%s' port %u", u.host, (unsigned)u.port);
	n = strlen(u.base);
	if (n > 0 && (u.base[0] != '/' || u.base[n - 1] == '/'))
		fz_die("URL base '%s'", u.base);
	snprintf(again, sizeof(again), "https://%s%s", u.authority, u.base);
	if (http_url_parse(again, &v, NULL) != 0 || strcmp(u.host, v.host) != 0 ||
	    u.port != v.port || strcmp(u.base, v.base) != 0 || u.ipv6 != v.ipv6)
		fz_die("URL '%s' does not parse back the same", again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits tiny = { .max_head = 80, .max_headers = 3, .max_body = 16 };
	struct http_limits dflt = { 0 };
	const struct http_limits *lim;
	struct http_response r;
	size_t len, used = 0;
	int rc, head_request;

	if (size == 0)
		return 0;
	lim = (data[0] & 1) ? &tiny : &dflt;
	head_request = (data[0] & 2) != 0;
	data++;
	len = size - 1;
	rc = http_parse_response(data, len, lim, head_request, &r, &used, NULL);
	if (rc == 0) {
		check_accepted(&r, data, len, used, lim, head_request);
		round_trip(&r, head_request);
	} else if (rc < 0) {
		if (rc != SHELTER_E_MALFORMED && rc != SHELTER_E_FBIG && rc != SHELTER_E_PROTO)
			fz_die("refusal with code %d", rc);
		if (used != 0 || r.body != NULL)
			fz_die("a refusal consumed bytes");
	} else if (used != 0) {
		fz_die("need more consumed bytes");
	}
	check_prefix(data, len, len - (len > 0), lim, head_request, rc, used);
	check_prefix(data, len, len / 2, lim, head_request, rc, used);
	if (len > 2)
		check_prefix(data, len, (data[len - 1] * 31u + data[1]) % len, lim, head_request,
			     rc, used);
	url_check(data, len);
	return 0;
}
