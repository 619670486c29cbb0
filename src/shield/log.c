/* The shield's log: one line per event on stderr (docs/shield.md §8). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shield/shield.h"

/* One write(2) per line, so lines of several threads and processes never
 * interleave. Goes around stdio: the program's stderr may be redirected or
 * buffered, and this must not call back into the shield's interposed write. */
__attribute__((format(printf, 2, 0))) static void emit(const char *kind, const char *fmt,
							 va_list ap)
{
	char line[2048];
	int saved = errno;
	int n = snprintf(line, sizeof(line), "shelter-shield[%ld]: %s", (long)getpid(), kind);

	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(line)) {
		int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		n = m < 0 ? n : n + m;
	}
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t ignored = REAL(write)(2, line, (size_t)n);
	(void)ignored;
	errno = saved;
}

void shield_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("", fmt, ap);
	va_end(ap);
}

void shield_security(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("security: ", fmt, ap);
	va_end(ap);
}

_Noreturn void shield_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("refused: ", fmt, ap);
	va_end(ap);
	_exit(SHIELD_EXIT_REFUSED);
}

int shield_errno(int code, const char *what, const char *mount, const char *path,
		 const struct shelter_err *err)
{
	int e = shelter_code_to_errno(code);

	if (code <= SHELTER_E_INTEGRITY && code >= SHELTER_E_STALE)
		shield_security("%s %s/%s: %s (%s)", what, mount, path, shelter_code_str(code),
				err != NULL && err->msg[0] != '\0' ? err->msg : "no detail");
	return e;
}
