/* HTTP/1.1 serializers, reason phrases, percent-decoding, query parameters and the
 * https URL parser (net/http.h, docs/api/http.md). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "net/http.h"
#include "net/http_chars.h"

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* ---- serializers ------------------------------------------------------------------- */

struct out_buf {
	char *p;
	size_t size;
	size_t used;
	int full;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out_buf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->used, o->size - o->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->used)
		o->full = 1;
	else
		o->used += (size_t)n;
}

/* A value we send: no CTL (so no CR or LF: no header injection), not empty. */
static int value_ok(const char *v)
{
	if (v[0] == '\0')
		return 0;
	for (const char *c = v; *c != '\0'; c++) {
		if (hc_is_ctl((uint8_t)*c))
			return 0;
	}
	return 1;
}

static int name_ok(struct http_str n)
{
	if (n.p == NULL || n.len == 0)
		return 0;
	for (size_t i = 0; i < n.len; i++) {
		if (!hc_is_tchar((uint8_t)n.p[i]))
			return 0;
	}
	return 1;
}

static int str_value_ok(struct http_str v)
{
	if (v.p == NULL)
		return 0;
	for (size_t i = 0; i < v.len; i++) {
		if (hc_is_ctl((uint8_t)v.p[i]))
			return 0;
	}
	return 1;
}

static int put_extra(struct out_buf *o, const struct http_header *extra, size_t count,
		     struct shelter_err *err)
{
	for (size_t i = 0; i < count; i++) {
		if (!name_ok(extra[i].name) || !str_value_ok(extra[i].value))
			return shelter_err_set(err, SHELTER_E_INVAL,
					       "extra header field %zu is not a token and a "
					       "value without control characters", i);
		put(o, "%.*s: %.*s\r\n", (int)extra[i].name.len, extra[i].name.p,
		    (int)extra[i].value.len, extra[i].value.p);
	}
	return 0;
}

static int finish(struct out_buf *o, size_t *out_len, const char *what,
		  struct shelter_err *err)
{
	put(o, "\r\n");
	if (o->full)
		return shelter_err_set(err, SHELTER_E_NOSPC, "%s head does not fit in %zu bytes",
				       what, o->size);
	*out_len = o->used;
	return 0;
}

int http_format_response(int status, const char *content_type, size_t body_size,
			 int keep_alive, const struct http_header *extra, size_t extra_count,
			 char *buf, size_t size, size_t *out_len, struct shelter_err *err)
{
	struct out_buf o = { buf, size, 0, size == 0 };
	int rc;

	*out_len = 0;
	if (status < 100 || status > 599)
		return shelter_err_set(err, SHELTER_E_INVAL, "response status %d", status);
	/* RFC 9110 §8.6: no Content-Length in 1xx and 204, and they carry no body */
	if ((status < 200 || status == 204) && body_size != 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "status %d with a body", status);
	if (content_type != NULL && !value_ok(content_type))
		return shelter_err_set(err, SHELTER_E_INVAL, "invalid Content-Type");
	put(&o, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
	if (status < 200)
		return finish(&o, out_len, "response", err);
	if (content_type != NULL)
		put(&o, "Content-Type: %s\r\n", content_type);
	if (status != 204)
		put(&o, "Content-Length: %zu\r\n", body_size);
	put(&o, "Connection: %s\r\n", keep_alive ? "keep-alive" : "close");
	rc = put_extra(&o, extra, extra_count, err);
	if (rc < 0)
		return rc;
	return finish(&o, out_len, "response", err);
}

int http_format_request(enum http_method method, const char *target, const char *host,
			const char *content_type, size_t body_size, int keep_alive,
			const struct http_header *extra, size_t extra_count, char *buf,
			size_t size, size_t *out_len, struct shelter_err *err)
{
	struct out_buf o = { buf, size, 0, size == 0 };
	const char *name = http_method_name(method);
	size_t tlen = target != NULL ? strlen(target) : 0;
	int rc;

	*out_len = 0;
	if (name == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "request method %d", (int)method);
	if (host == NULL || !value_ok(host) || strchr(host, ' ') != NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "invalid Host");
	if (content_type != NULL && !value_ok(content_type))
		return shelter_err_set(err, SHELTER_E_INVAL, "invalid Content-Type");
	/* the same rules the server applies (http.c parse_target) */
	if (tlen == 0 || tlen > HTTP_MAX_TARGET || target[0] != '/')
		return shelter_err_set(err, SHELTER_E_INVAL, "request target is not an "
				       "absolute path of at most %u bytes", HTTP_MAX_TARGET);
	for (size_t i = 0; i < tlen; i++) {
		uint8_t c = (uint8_t)target[i];

		if (c == '%' && (i + 2 >= tlen || hc_hex((uint8_t)target[i + 1]) < 0 ||
				 hc_hex((uint8_t)target[i + 2]) < 0))
			return shelter_err_set(err, SHELTER_E_INVAL, "request target: bad '%%'");
		if (c != '%' && c != '/' && c != '?' && !hc_is_pchar(c))
			return shelter_err_set(err, SHELTER_E_INVAL,
					       "request target: byte 0x%02x at %zu", c, i);
	}
	put(&o, "%s %s HTTP/1.1\r\nHost: %s\r\n", name, target, host);
	if (content_type != NULL)
		put(&o, "Content-Type: %s\r\n", content_type);
	if (method == HTTP_POST || method == HTTP_PUT || body_size > 0)
		put(&o, "Content-Length: %zu\r\n", body_size);
	if (!keep_alive)
		put(&o, "Connection: close\r\n");
	rc = put_extra(&o, extra, extra_count, err);
	if (rc < 0)
		return rc;
	return finish(&o, out_len, "request", err);
}

/* ---- percent-decoding and queries, RFC 3986 §2.1 ---------------------------------- */

int http_percent_decode(const char *in, size_t in_len, char *out, size_t size,
			size_t *out_len, struct shelter_err *err)
{
	size_t o = 0;

	*out_len = 0;
	if (size == 0)
		return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "no room to decode into");
	out[0] = '\0';
	for (size_t i = 0; i < in_len; i++) {
		int c = (uint8_t)in[i];

		if (c == '%') {
			int hi = i + 2 < in_len ? hc_hex((uint8_t)in[i + 1]) : -1;
			int lo = i + 2 < in_len ? hc_hex((uint8_t)in[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return shelter_err_set(err, SHELTER_E_MALFORMED,
						       "'%%' at offset %zu is not followed by "
						       "two hex digits", i);
			c = hi << 4 | lo;
			i += 2;
		}
		/* a decoded NUL would cut C strings short where the caller compares them */
		if (c == 0)
			return shelter_err_set(err, SHELTER_E_MALFORMED, "NUL at offset %zu", i);
		if (o + 1 >= size) {
			out[0] = '\0';
			return shelter_err_set(err, SHELTER_E_NAMETOOLONG,
					       "decoded text longer than %zu bytes", size - 1);
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	*out_len = o;
	return 0;
}

int http_query_get(struct http_str query, const char *name, struct http_str *out)
{
	size_t nlen = strlen(name), i = 0;

	out->p = NULL;
	out->len = 0;
	while (query.p != NULL && i <= query.len) {
		const char *param = query.p + i;
		const char *amp = memchr(param, '&', query.len - i);
		size_t plen = amp != NULL ? (size_t)(amp - param) : query.len - i;
		const char *eq = memchr(param, '=', plen);
		size_t klen = eq != NULL ? (size_t)(eq - param) : plen;

		if (klen == nlen && memcmp(param, name, nlen) == 0) {
			out->p = eq != NULL ? eq + 1 : param + plen;
			out->len = eq != NULL ? plen - klen - 1 : 0;
			return 0;
		}
		i += plen + 1;
	}
	return SHELTER_E_NOENT;
}

/* ---- https URLs, RFC 3986 §3.2 ----------------------------------------------------- */

/* reg-name as a DNS name: labels of letters, digits and '-', not starting or ending
 * with '-', separated by single dots; an IPv4 address passes too. */
static int dns_name_ok(const char *h, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > HTTP_URL_HOST_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return 0;
			label = 0;
		} else if (hc_is_alnum(c) || (c == '-' && label > 0)) {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0 && h[len - 1] != '-';
}

static int url_fail(struct shelter_err *err, const char *url, const char *why)
{
	char q[64];
	size_t n = strlen(url), i;

	n = n > 60 ? 60 : n;
	for (i = 0; i < n; i++)
		q[i] = (url[i] >= 0x20 && url[i] < 0x7f) ? url[i] : '?';
	q[i] = '\0';
	return shelter_err_set(err, SHELTER_E_INVAL, "URL '%s%s': %s", q,
			       strlen(url) > n ? "..." : "", why);
}

static int parse_host(const char *url, const char *h, size_t hlen, struct http_url *out,
		      struct shelter_err *err)
{
	unsigned char addr[16];

	if (hlen > 0 && h[0] == '[') {
		if (hlen < 3 || h[hlen - 1] != ']' || hlen - 2 > 45)
			return url_fail(err, url, "bad IPv6 literal");
		memcpy(out->host, h + 1, hlen - 2);
		out->host[hlen - 2] = '\0';
		if (inet_pton(AF_INET6, out->host, addr) != 1)
			return url_fail(err, url, "bad IPv6 literal");
		out->ipv6 = 1;
		return 0;
	}
	if (!dns_name_ok(h, hlen))
		return url_fail(err, url, "host is not a DNS name or IPv4 address");
	memcpy(out->host, h, hlen);
	out->host[hlen] = '\0';
	return 0;
}

static int parse_port(const char *url, const char *p, size_t len, uint16_t *out,
		      struct shelter_err *err)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return url_fail(err, url, "port must be 1 to 65535");
	for (size_t i = 0; i < len; i++) {
		if (!hc_is_digit((uint8_t)p[i]))
			return url_fail(err, url, "port must be 1 to 65535");
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return url_fail(err, url, "port must be 1 to 65535");
	*out = (uint16_t)v;
	return 0;
}

int http_url_parse(const char *url, struct http_url *out, struct shelter_err *err)
{
	const char *auth, *end, *colon = NULL, *path;
	size_t alen, plen;
	int rc;

	memset(out, 0, sizeof(*out));
	out->port = 443;
	if (strncasecmp(url, "https://", 8) != 0)
		return url_fail(err, url, "scheme must be https://");
	auth = url + 8;
	end = auth + strcspn(auth, "/?#");
	if (*end == '?' || *end == '#' || strchr(end, '?') != NULL || strchr(end, '#') != NULL)
		return url_fail(err, url, "query and fragment are not allowed");
	alen = (size_t)(end - auth);
	if (memchr(auth, '@', alen) != NULL)
		return url_fail(err, url, "user information is not allowed");
	/* the port separator is the last ':' after a bracketed literal, if any */
	if (alen > 0 && auth[0] == '[') {
		const char *rb = memchr(auth, ']', alen);

		if (rb == NULL)
			return url_fail(err, url, "bad IPv6 literal");
		if (rb + 1 < end && rb[1] != ':')
			return url_fail(err, url, "bytes after the IPv6 literal");
		if (rb + 1 < end)
			colon = rb + 1;
	} else {
		colon = memchr(auth, ':', alen);
	}
	rc = parse_host(url, auth, colon != NULL ? (size_t)(colon - auth) : alen, out, err);
	if (rc == 0 && colon != NULL)
		rc = parse_port(url, colon + 1, (size_t)(end - colon - 1), &out->port, err);
	if (rc < 0)
		return rc;
	path = end;
	plen = strlen(path);
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	if (plen > HTTP_MAX_TARGET - 1)
		return url_fail(err, url, "base path too long");
	for (size_t i = 0; i < plen; i++) {
		uint8_t c = (uint8_t)path[i];

		if (c == '%' && (i + 2 >= plen || hc_hex((uint8_t)path[i + 1]) < 0 ||
				 hc_hex((uint8_t)path[i + 2]) < 0))
			return url_fail(err, url, "bad '%' in the path");
		if (c != '%' && c != '/' && !hc_is_pchar(c))
			return url_fail(err, url, "invalid byte in the path");
	}
	memcpy(out->base, path, plen);
	out->base[plen] = '\0';
	if (out->port == 443)
		snprintf(out->authority, sizeof(out->authority), out->ipv6 ? "[%s]" : "%s",
			 out->host);
	else
		snprintf(out->authority, sizeof(out->authority),
			 out->ipv6 ? "[%s]:%u" : "%s:%u", out->host, (unsigned)out->port);
	return 0;
}
