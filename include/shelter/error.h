/* Shelter error convention (STYLE.md rules 8-10).
 *
 * Every fallible function returns 0 or one negative code from enum shelter_code,
 * and may fill an optional struct shelter_err with a message chain such as
 * "open volume 'data': segment 3: record 17: MAC mismatch". Libraries never exit.
 */
#ifndef SHELTER_ERROR_H
#define SHELTER_ERROR_H

#include <stddef.h>

#define SHELTER_API __attribute__((visibility("default")))
#define SHELTER_MUST_USE __attribute__((warn_unused_result))

/* Codes are grouped by kind; the group is the tens digit block. */
enum shelter_code {
	SHELTER_OK = 0,
	/* usage: the caller asked for something impossible */
	SHELTER_E_INVAL = -1,
	SHELTER_E_NOENT = -2,
	SHELTER_E_EXIST = -3,
	SHELTER_E_NOTDIR = -4,
	SHELTER_E_ISDIR = -5,
	SHELTER_E_NOTEMPTY = -6,
	SHELTER_E_NAMETOOLONG = -7,
	SHELTER_E_BADF = -8,
	SHELTER_E_FBIG = -9,
	SHELTER_E_PERM = -10,
	SHELTER_E_CONFLICT = -11,    /* a change named a predecessor that is not current */
	/* I/O: the host's storage failed */
	SHELTER_E_IO = -20,
	SHELTER_E_NOSPC = -21,
	SHELTER_E_NET = -22,         /* connect, send or receive failed; TLS handshake failed */
	SHELTER_E_PROTO = -23,       /* the peer answered outside the protocol */
	/* integrity: data was modified, moved or cut */
	SHELTER_E_INTEGRITY = -40,
	SHELTER_E_TRUNCATED = -41,
	SHELTER_E_SWAPPED = -42,
	SHELTER_E_MISSING = -43,
	SHELTER_E_UNEXPECTED = -44,
	SHELTER_E_BADKEY = -45,
	SHELTER_E_NOTVOLUME = -46,
	SHELTER_E_VERSION = -47,
	SHELTER_E_MALFORMED = -48,   /* bytes that do not parse: quote, certificate, message */
	/* freshness: valid but older state */
	SHELTER_E_STALE = -60,
	/* attestation and authorization: well-formed evidence or request, refused */
	SHELTER_E_UNTRUSTED = -80,   /* no chain to a trusted provider; bad signature */
	SHELTER_E_REVOKED = -81,     /* the platform's certificate was revoked */
	SHELTER_E_POLICY = -82,      /* valid evidence the policy does not accept */
	SHELTER_E_DENIED = -83,      /* the caller is not the owner of the object */
	SHELTER_E_EXPIRED = -84,     /* nonce or certificate outside its validity */
	SHELTER_E_REPLAY = -85,      /* evidence or nonce seen before */
	/* internal: resources and bugs */
	SHELTER_E_NOMEM = -100,
	SHELTER_E_CRYPTO = -101,
	SHELTER_E_INTERNAL = -102,
};

#define SHELTER_ERR_MSG_SIZE 1024

/* Optional error object. Callers may pass NULL everywhere an err is taken. */
struct shelter_err {
	int code;
	char msg[SHELTER_ERR_MSG_SIZE];
};

/* Reset to "no error". */
SHELTER_API void shelter_err_clear(struct shelter_err *err);

/* Record code and a formatted cause; returns code so callers can
 * `return shelter_err_set(err, SHELTER_E_IO, "read '%s': %s", ...)`. */
SHELTER_API int shelter_err_set(struct shelter_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like shelter_err_set, with strerror(errnum) appended and the code chosen from
 * errnum (ENOENT -> SHELTER_E_NOENT, ENOSPC -> SHELTER_E_NOSPC, else SHELTER_E_IO). */
SHELTER_API int shelter_err_errno(struct shelter_err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix context to the message chain ("ctx: previous"); returns the code kept
 * in err (or `code` if err is NULL). */
SHELTER_API int shelter_err_wrap(struct shelter_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Static, human-readable name of a code ("MAC mismatch", "stale", ...). */
SHELTER_API const char *shelter_code_str(int code);

/* The errno a shielded program should see for a code (EIO, EACCES, ENOENT...). */
SHELTER_API int shelter_code_to_errno(int code);

#endif
