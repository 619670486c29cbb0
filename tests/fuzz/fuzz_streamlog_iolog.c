/* libFuzzer target: what `streamlog iolog` parses from a store, and the state lines of
 * open sudo I/O log sessions (docs/streamlog.md §3.5.4, §3.5.5, §7.5; STYLE.md
 * rule 17). The input is lines: each is a log entry handed to sl_iolog_asm_entry for
 * session "00/00/01" (events of the canonical JSON of §2.2 with what.result
 * iolog-data, iolog-end, iolog-altered, and anything else), then to
 * sl_iolog_data_msg as a message and to sl_iolog_state_load as a state line.
 *
 * Properties checked with abort():
 *   - every refusal is one of the documented codes, with a message;
 *   - a file put together never exceeds what the entries could carry, and its name is
 *     one sl_iolog_name_ok takes;
 *   - sl_iolog_asm_finish returns 0 only when an entry of the session was taken;
 *   - a data message that parses has 1..SL_IOLOG_CHUNK bytes and 64 hex digits.
 *
 * Run: build/fuzz/fuzz/fuzz_streamlog_iolog <scratch dir> tests/fuzz/corpus/fuzz_streamlog_iolog */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streamlog/iolog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_streamlog_iolog"
#include "streamlog_check.h"

static void check_entry_rc(int rc, const struct shelter_err *err)
{
	if (rc == 0)
		return;
	if (rc != SHELTER_E_MALFORMED && rc != SHELTER_E_CONFLICT && rc != SHELTER_E_INTEGRITY &&
	    rc != SHELTER_E_MISSING && rc != SHELTER_E_FBIG && rc != SHELTER_E_NOMEM &&
	    rc != SHELTER_E_CRYPTO)
		fz_die("entry refused with undocumented code %d: %s", rc, err->msg);
	if (err->msg[0] == '\0')
		fz_die("entry refused (%d) without a message", rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shelter_err err;
	struct sl_iolog_asm *a = NULL;
	struct sl_iolog *io = NULL;
	const char *p = (const char *)data, *end = p + size;
	size_t total = 0;
	int rc;

	if (sl_iolog_asm_new("00/00/01", &a, &err) != 0 ||
	    sl_iolog_new("/nonexistent-fuzz", &io, &err) != 0)
		fz_die("out of memory at start");
	for (uint64_t index = 0; p < end; index++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = strndup(p, n);
		char hex[SL_IOLOG_HEX + 1];
		uint64_t off = 0, len = 0;

		if (line == NULL)
			fz_die("out of memory");
		memset(&err, 0, sizeof(err));
		check_entry_rc(sl_iolog_asm_entry(a, index, p, n, &err), &err);
		total += n;
		if (sl_iolog_data_msg(p, n, &off, &len, hex) == 0 &&
		    (len == 0 || len > SL_IOLOG_CHUNK || strlen(hex) != SL_IOLOG_HEX))
			fz_die("data message taken with %llu bytes, digest '%s'",
			       (unsigned long long)len, hex);
		memset(&err, 0, sizeof(err));
		rc = sl_iolog_state_load(io, line, &err);
		if (rc != 0 && rc != SHELTER_E_MALFORMED && rc != SHELTER_E_NOMEM)
			fz_die("state line refused with %d", rc);
		if (rc != 0 && err.msg[0] == '\0')
			fz_die("state line refused without a message");
		free(line);
		p += n + (nl != NULL);
	}
	for (size_t i = 0; i < sl_iolog_asm_count(a); i++) {
		const uint8_t *bytes;
		size_t n;
		const char *name = sl_iolog_asm_file(a, i, &bytes, &n);

		if (name == NULL || !sl_iolog_name_ok(name, strlen(name)))
			fz_die("file %zu has name '%s'", i, name != NULL ? name : "(null)");
		if (n > total)
			fz_die("file %s: %zu bytes from %zu bytes of input", name, n, total);
	}
	memset(&err, 0, sizeof(err));
	rc = sl_iolog_asm_finish(a, &err);
	if (rc == 0 && sl_iolog_asm_id(a) == NULL)
		fz_die("finished a session it did not take");
	if (rc != 0 && err.msg[0] == '\0')
		fz_die("finish refused (%d) without a message", rc);
	if (sl_iolog_open_count(io) > 0) {
		char *text = NULL;
		size_t tn = 0;

		if (sl_iolog_state_text(io, &text, &tn) == 0 && (text == NULL || tn == 0))
			fz_die("open sessions without state text");
		free(text);
	}
	sl_iolog_asm_free(a);
	sl_iolog_free(io);
	return 0;
}
