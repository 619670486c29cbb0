/* Character classes of HTTP (RFC 9110 §5.6.2 tchar, §5.5 field values) and URIs
 * (RFC 3986 §2, §3.3 pchar), as one table. Internal to net/http*.c. */
#ifndef SHELTER_NET_HTTP_CHARS_H
#define SHELTER_NET_HTTP_CHARS_H

#include <stdint.h>

#define HC_TCHAR 0x01u  /* token character */
#define HC_PCHAR 0x02u  /* unreserved / sub-delims / ":" / "@" (no "%": checked apart) */
#define HC_CTL 0x04u    /* CTL other than HTAB, and DEL: never in a head */
#define HC_ALNUM 0x08u

/* GNU range designators: gcc and clang, which the Makefile uses, both take them. */
static const uint8_t hc_table[256] = {
	[0x00 ... 0x08] = HC_CTL,
	[0x0a ... 0x1f] = HC_CTL,
	[0x7f] = HC_CTL,
	['0' ... '9'] = HC_TCHAR | HC_PCHAR | HC_ALNUM,
	['A' ... 'Z'] = HC_TCHAR | HC_PCHAR | HC_ALNUM,
	['a' ... 'z'] = HC_TCHAR | HC_PCHAR | HC_ALNUM,
	/* tchar and pchar both */
	['!'] = HC_TCHAR | HC_PCHAR, ['$'] = HC_TCHAR | HC_PCHAR, ['&'] = HC_TCHAR | HC_PCHAR,
	['\''] = HC_TCHAR | HC_PCHAR, ['*'] = HC_TCHAR | HC_PCHAR, ['+'] = HC_TCHAR | HC_PCHAR,
	['-'] = HC_TCHAR | HC_PCHAR, ['.'] = HC_TCHAR | HC_PCHAR, ['_'] = HC_TCHAR | HC_PCHAR,
	['~'] = HC_TCHAR | HC_PCHAR,
	/* tchar only */
	['#'] = HC_TCHAR, ['%'] = HC_TCHAR, ['^'] = HC_TCHAR, ['`'] = HC_TCHAR, ['|'] = HC_TCHAR,
	/* pchar only */
	['('] = HC_PCHAR, [')'] = HC_PCHAR, [','] = HC_PCHAR, [';'] = HC_PCHAR, ['='] = HC_PCHAR,
	[':'] = HC_PCHAR, ['@'] = HC_PCHAR,
};

static inline int hc_is_tchar(uint8_t c) { return (hc_table[c] & HC_TCHAR) != 0; }
static inline int hc_is_pchar(uint8_t c) { return (hc_table[c] & HC_PCHAR) != 0; }
static inline int hc_is_ctl(uint8_t c) { return (hc_table[c] & HC_CTL) != 0; }
static inline int hc_is_alnum(uint8_t c) { return (hc_table[c] & HC_ALNUM) != 0; }
static inline int hc_is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static inline uint8_t hc_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static inline int hc_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
