/* Error chain helpers: see include/shelter/error.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shelter/error.h"

void shelter_err_clear(struct shelter_err *err)
{
	if (err == NULL)
		return;
	err->code = SHELTER_OK;
	err->msg[0] = '\0';
}

__attribute__((format(printf, 3, 0)))
static void set_va(struct shelter_err *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int shelter_err_set(struct shelter_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	set_va(err, code, fmt, ap);
	va_end(ap);
	return code;
}

static int code_from_errno(int errnum)
{
	switch (errnum) {
	case ENOENT:
		return SHELTER_E_NOENT;
	case EEXIST:
		return SHELTER_E_EXIST;
	case ENOTDIR:
		return SHELTER_E_NOTDIR;
	case EISDIR:
		return SHELTER_E_ISDIR;
	case ENOSPC:
	case EDQUOT:
		return SHELTER_E_NOSPC;
	case ENOMEM:
		return SHELTER_E_NOMEM;
	case EACCES:
	case EPERM:
		return SHELTER_E_PERM;
	default:
		return SHELTER_E_IO;
	}
}

int shelter_err_errno(struct shelter_err *err, int errnum, const char *fmt, ...)
{
	int code = code_from_errno(errnum);
	va_list ap;
	size_t used;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	set_va(err, code, fmt, ap);
	va_end(ap);
	used = strlen(err->msg);
	snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", strerror(errnum));
	return code;
}

int shelter_err_wrap(struct shelter_err *err, int code, const char *fmt, ...)
{
	char old[SHELTER_ERR_MSG_SIZE];
	va_list ap;
	size_t used;

	if (err == NULL)
		return code;
	if (err->code == SHELTER_OK)
		err->code = code;
	memcpy(old, err->msg, sizeof(old));
	if (old[0] == '\0')
		snprintf(old, sizeof(old), "%s", shelter_code_str(err->code));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	used = strlen(err->msg);
	if (used + 2 < sizeof(err->msg)) {
		size_t room = sizeof(err->msg) - used - 3, n = strlen(old);

		memcpy(err->msg + used, ": ", 2);
		if (n > room)
			n = room;
		memcpy(err->msg + used + 2, old, n);
		err->msg[used + 2 + n] = '\0';
	}
	return err->code;
}

const char *shelter_code_str(int code)
{
	switch (code) {
	case SHELTER_OK: return "success";
	case SHELTER_E_INVAL: return "invalid argument";
	case SHELTER_E_NOENT: return "no such file or directory";
	case SHELTER_E_EXIST: return "already exists";
	case SHELTER_E_NOTDIR: return "not a directory";
	case SHELTER_E_ISDIR: return "is a directory";
	case SHELTER_E_NOTEMPTY: return "directory not empty";
	case SHELTER_E_NAMETOOLONG: return "name too long";
	case SHELTER_E_BADF: return "bad file handle";
	case SHELTER_E_FBIG: return "file too large";
	case SHELTER_E_PERM: return "permission denied";
	case SHELTER_E_CONFLICT: return "conflict";
	case SHELTER_E_IO: return "I/O error";
	case SHELTER_E_NOSPC: return "no space left";
	case SHELTER_E_NET: return "network error";
	case SHELTER_E_PROTO: return "protocol error";
	case SHELTER_E_INTEGRITY: return "modified";
	case SHELTER_E_TRUNCATED: return "truncated";
	case SHELTER_E_SWAPPED: return "swapped";
	case SHELTER_E_MISSING: return "missing";
	case SHELTER_E_UNEXPECTED: return "unexpected";
	case SHELTER_E_BADKEY: return "wrong key";
	case SHELTER_E_NOTVOLUME: return "not a volume";
	case SHELTER_E_VERSION: return "unsupported format version";
	case SHELTER_E_MALFORMED: return "malformed";
	case SHELTER_E_STALE: return "stale";
	case SHELTER_E_UNTRUSTED: return "untrusted";
	case SHELTER_E_REVOKED: return "revoked";
	case SHELTER_E_POLICY: return "refused by policy";
	case SHELTER_E_DENIED: return "not authorized";
	case SHELTER_E_EXPIRED: return "expired";
	case SHELTER_E_REPLAY: return "replayed";
	case SHELTER_E_NOMEM: return "out of memory";
	case SHELTER_E_CRYPTO: return "crypto library failure";
	case SHELTER_E_INTERNAL: return "internal error";
	default: return "unknown error";
	}
}

int shelter_code_to_errno(int code)
{
	switch (code) {
	case SHELTER_OK: return 0;
	case SHELTER_E_INVAL: return EINVAL;
	case SHELTER_E_NOENT: return ENOENT;
	case SHELTER_E_EXIST: return EEXIST;
	case SHELTER_E_NOTDIR: return ENOTDIR;
	case SHELTER_E_ISDIR: return EISDIR;
	case SHELTER_E_NOTEMPTY: return ENOTEMPTY;
	case SHELTER_E_NAMETOOLONG: return ENAMETOOLONG;
	case SHELTER_E_BADF: return EBADF;
	case SHELTER_E_FBIG: return EFBIG;
	case SHELTER_E_PERM: return EACCES;
	case SHELTER_E_NOSPC: return ENOSPC;
	case SHELTER_E_NOMEM: return ENOMEM;
	case SHELTER_E_BADKEY:
	case SHELTER_E_STALE:
	case SHELTER_E_UNTRUSTED:
	case SHELTER_E_REVOKED:
	case SHELTER_E_POLICY:
	case SHELTER_E_DENIED:
	case SHELTER_E_EXPIRED:
	case SHELTER_E_REPLAY: return EACCES;
	case SHELTER_E_CONFLICT: return EBUSY;
	case SHELTER_E_NET: return ECONNREFUSED;
	case SHELTER_E_PROTO: return EPROTO;
	default: return EIO;
	}
}
