/* Shared by the StreamLog source-parser harnesses (fuzz_streamlog_syslog, _sudo,
 * _tlog): the properties every parser of docs/streamlog.md
 * keeps, checked with abort() so libFuzzer keeps the input. */
#ifndef SHELTER_FUZZ_STREAMLOG_CHECK_H
#define SHELTER_FUZZ_STREAMLOG_CHECK_H

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamlog/event.h"

#ifndef FZ_NAME
#error "define FZ_NAME before including streamlog_check.h"
#endif

static inline __attribute__((format(printf, 1, 2), noreturn)) void fz_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, FZ_NAME ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* A refusal: one of the documented codes, with a message, nothing left behind. */
static inline void fz_refusal(int rc, int code1, int code2, const struct sl_event *e,
			      size_t scratch_used, const struct shelter_err *err)
{
	struct sl_event z;

	sl_event_init(&z);
	if (rc != code1 && rc != code2 && rc != SHELTER_E_NOMEM)
		fz_die("refused with undocumented code %d: %s", rc, err->msg);
	if (err->msg[0] == '\0')
		fz_die("refused (%d) without a message", rc);
	if (memcmp(&z, e, sizeof(z)) != 0 || scratch_used != 0)
		fz_die("refusal (%d) left an event or used scratch", rc);
}

static inline int fz_inside(struct sl_str v, const char *p, size_t n)
{
	return v.p >= p && v.len <= n && (size_t)(v.p - p) <= n - v.len;
}

/* Every string of e points into in[0, len), the used scratch, or nowhere (the
 * action is skipped when skip_action: tlog's is a constant). */
static inline void fz_strings_inside(const struct sl_event *e, const char *in, size_t len,
				     const struct sl_scratch *s, int skip_action)
{
	const struct sl_str all[] = {
		e->source_id, e->user, e->session, e->run_as, e->action, e->result, e->host,
		e->tty,       e->from_addr, e->target, e->object, e->message, e->raw,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (all[i].p == NULL || (skip_action && i == 4))
			continue;
		if (!fz_inside(all[i], in, len) && !fz_inside(all[i], s->p, s->used))
			fz_die("event string %zu (%zu bytes) outside the input and the scratch", i,
			       all[i].len);
	}
}

/* The canonical JSON: always made, valid JSON, an object with "v":1, within the limit. */
static char fz_json_out[SL_EVENT_JSON_MAX]; /* a global: ASan sees a write past it */

static inline void fz_json_ok(const struct sl_event *e)
{
	char *out = fz_json_out;
	struct shelter_err err;
	json_error_t jerr;
	json_t *j;
	size_t n = 0;

	if (sl_event_json(e, out, SL_EVENT_JSON_MAX, &n, &err) != 0)
		fz_die("sl_event_json: %s", err.msg);
	if (n > SL_EVENT_JSON_MAX)
		fz_die("entry of %zu bytes", n);
	j = json_loadb(out, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (j == NULL)
		fz_die("entry is not JSON (%s at %d): %.*s", jerr.text, jerr.position, (int)n, out);
	if (!json_is_object(j) || json_integer_value(json_object_get(j, "v")) != 1)
		fz_die("entry is not an object with \"v\":1");
	json_decref(j);
}

#endif
