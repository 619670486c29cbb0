/* A small, strict HTTP/1.1 (RFC 9112 subset) for the CAS and its clients: parse and
 * format requests and responses. Internal to libshelter; docs/api/http.md lists what
 * both sides speak, the limits and the error statuses.
 *
 * Parsing is zero-copy: every http_str and body pointer in a parsed message points
 * into the caller's buffer and lives exactly as long as those bytes stay put. The
 * parsers keep no state between calls (a call re-reads the buffer from its start),
 * allocate nothing and are safe to call from any thread.
 *
 * No OS calls here: the TLS layer (net/tls.h) feeds bytes in and writes bytes out.
 */
#ifndef SHELTER_NET_HTTP_H
#define SHELTER_NET_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"

#define HTTP_MAX_TARGET 1024u        /* request-target bytes (path + "?" + query) */
#define HTTP_MAX_EXTRA 16u           /* header fields kept beyond the well-known ones */
#define HTTP_DEFAULT_MAX_HEAD 8192u
#define HTTP_DEFAULT_MAX_HEADERS 64u
#define HTTP_DEFAULT_MAX_BODY (1024u * 1024u)

enum http_method {
	HTTP_GET = 1,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
};

/* Every limit counts bytes of the message as received. A zero field means the
 * default above. */
struct http_limits {
	size_t max_head;     /* start line + header fields + the empty line */
	size_t max_headers;  /* header field lines */
	size_t max_body;     /* Content-Length */
};

/* A borrowed slice of a message: not NUL-terminated, p == NULL when absent. */
struct http_str {
	const char *p;
	size_t len;
};

struct http_header {
	struct http_str name;   /* as received (compare with http_str_ieq) */
	struct http_str value;  /* leading and trailing whitespace removed */
};

/* Fields the parsers keep by name. Other fields go to extra[] in arrival order, the
 * first HTTP_MAX_EXTRA of them; the rest still count against max_headers. */
struct http_fields {
	struct http_str host;
	struct http_str content_type;
	struct http_str authorization;
	int keep_alive;           /* Connection and version defaults, RFC 9112 §9.3 */
	int has_content_length;
	uint64_t content_length;
	int expect_continue;      /* request carried "Expect: 100-continue" */
	size_t extra_count;
	struct http_header extra[HTTP_MAX_EXTRA];
};

struct http_request {
	int status;               /* on a parse error: the status to answer with */
	enum http_method method;
	int version_minor;        /* 1 for HTTP/1.1, 0 for HTTP/1.0 */
	struct http_str target;   /* origin-form, as received */
	struct http_str path;     /* target up to "?", still percent-encoded */
	struct http_str query;    /* after "?" (p != NULL, len 0 for a bare "?") */
	struct http_fields h;
	size_t head_size;         /* bytes of the start line and fields, CRLF CRLF included */
	const uint8_t *body;      /* body_size bytes right after the head */
	size_t body_size;
};

struct http_response {
	int status;               /* 100..599 */
	int version_minor;
	struct http_str reason;
	struct http_fields h;
	size_t head_size;
	const uint8_t *body;
	size_t body_size;
};

/* Fill lim with the defaults (8 KiB head, 64 fields, 1 MiB body). */
void http_limits_default(struct http_limits *lim);

/* Parse one request from the start of buf[0..len).
 *
 * Returns 0 when a whole request is there: *consumed = head + body bytes, and the
 * bytes after that (a pipelined request) are untouched. Returns a positive count
 * when more bytes are needed: at least that many more (1 when unknown); if the head
 * was already complete, out->head_size != 0 and out's fields are valid (so a server
 * can answer "Expect: 100-continue"). Returns a negative code on a request to refuse,
 * with out->status set to the status to answer, and the connection must then be
 * closed (the framing of what follows is unknown):
 *   SHELTER_E_MALFORMED 400 syntax (request line, field, target, Host, Content-Length)
 *   SHELTER_E_FBIG      413 Content-Length above lim->max_body
 *                       414 target above HTTP_MAX_TARGET
 *                       431 head above lim->max_head, or more than lim->max_headers fields
 *   SHELTER_E_PROTO     411 POST or PUT without Content-Length
 *                       501 Transfer-Encoding, or a method other than GET, HEAD, POST,
 *                           PUT, DELETE
 *                       505 a version other than HTTP/1.1 and HTTP/1.0
 * The result depends only on the bytes: feeding a request one byte at a time gives
 * "need more" until the same answer the whole buffer gives. lim may be NULL
 * (defaults). out is cleared on entry. */
SHELTER_MUST_USE int http_parse_request(const uint8_t *buf, size_t len,
					const struct http_limits *lim,
					struct http_request *out, size_t *consumed,
					struct shelter_err *err);

/* Parse one response, as http_parse_request. head_request says the request was HEAD
 * (the response then has no body whatever its Content-Length). A body must be
 * delimited by Content-Length, except for 204, 304 and HEAD responses. Errors:
 * SHELTER_E_MALFORMED (syntax), SHELTER_E_FBIG (a limit), SHELTER_E_PROTO (1xx,
 * Transfer-Encoding, a body without Content-Length, another version); out->status is
 * then 0 unless the status line parsed. */
SHELTER_MUST_USE int http_parse_response(const uint8_t *buf, size_t len,
					 const struct http_limits *lim, int head_request,
					 struct http_response *out, size_t *consumed,
					 struct shelter_err *err);

/* Format a response head into buf: status line, Content-Type (unless NULL),
 * Content-Length: body_size, Connection: keep-alive or close, the extra fields, the
 * empty line. The body is not copied: write it after the head. *out_len = bytes
 * written. SHELTER_E_INVAL for a status outside 100..599, or a field name that is
 * not a token or a value with a control character (no header injection);
 * SHELTER_E_NOSPC when buf is too small. */
SHELTER_MUST_USE int http_format_response(int status, const char *content_type,
					  size_t body_size, int keep_alive,
					  const struct http_header *extra, size_t extra_count,
					  char *buf, size_t size, size_t *out_len,
					  struct shelter_err *err);

/* Format a request head into buf: request line (target must be a valid origin-form
 * target), Host: host (the URL's authority, e.g. "cas.example:8443"), Content-Type
 * (unless NULL), Content-Length (always for POST and PUT, else when body_size > 0),
 * "Connection: close" when !keep_alive, the extra fields, the empty line. Errors as
 * http_format_response. */
SHELTER_MUST_USE int http_format_request(enum http_method method, const char *target,
					 const char *host, const char *content_type,
					 size_t body_size, int keep_alive,
					 const struct http_header *extra, size_t extra_count,
					 char *buf, size_t size, size_t *out_len,
					 struct shelter_err *err);

/* Reason phrase of a status ("Not Found"); "Unknown" for statuses not used here.
 * Static string. */
const char *http_reason(int status);

/* "GET", ...; NULL for an invalid value. Static string. */
const char *http_method_name(enum http_method method);

/* 1 when s equals the NUL-terminated lit exactly / ASCII case-insensitively. */
int http_str_eq(struct http_str s, const char *lit);
int http_str_ieq(struct http_str s, const char *lit);

/* The first extra field named name (case-insensitive): 0 and *out, or SHELTER_E_NOENT. */
SHELTER_MUST_USE int http_field_get(const struct http_fields *h, const char *name,
				    struct http_str *out);

/* Percent-decode in[0..in_len) (RFC 3986 §2.1) into out, NUL-terminated; *out_len
 * excludes the NUL. '+' stays '+'. SHELTER_E_MALFORMED for a '%' not followed by two
 * hex digits or a decoded NUL; SHELTER_E_NAMETOOLONG when out (size bytes) is too
 * small. out may not overlap in. */
SHELTER_MUST_USE int http_percent_decode(const char *in, size_t in_len, char *out,
					 size_t size, size_t *out_len,
					 struct shelter_err *err);

/* The value of the first parameter called name in an "a=1&b=2" query, still
 * percent-encoded (a parameter without "=" has an empty value): 0 and *out
 * (borrowed from query), or SHELTER_E_NOENT. */
SHELTER_MUST_USE int http_query_get(struct http_str query, const char *name,
				    struct http_str *out);

/* https://HOST[:PORT][/base], parsed strictly: scheme https only (any case); HOST a
 * DNS name, an IPv4 address or an IPv6 address in brackets (no zone); PORT 1..65535
 * (default 443); base a path of RFC 3986 pchars and "/" (no query, no fragment, no
 * userinfo), stored without a trailing "/". */
#define HTTP_URL_HOST_MAX 253u
struct http_url {
	char host[HTTP_URL_HOST_MAX + 1];          /* without brackets */
	uint16_t port;
	int ipv6;
	char authority[HTTP_URL_HOST_MAX + 10];     /* Host field: "h", "h:p", "[v6]:p" */
	char base[HTTP_MAX_TARGET + 1];            /* "" or "/a/b" */
};
SHELTER_MUST_USE int http_url_parse(const char *url, struct http_url *out,
				    struct shelter_err *err);

#endif
