/* The content of sudo I/O log sessions (docs/streamlog.md §3.5.4, §3.5.5, §7.5).
 *
 * Follower side (iolog.c): a struct sl_iolog holds the open sessions of one
 * `--follow sudo-io:DIR`. Each pass copies the bytes every file of every open session
 * gained since the last pass into `iolog-data` events (at most SL_IOLOG_CHUNK bytes
 * each), records `iolog-altered` when a file shrinks, is replaced or removed, or its
 * copied prefix changed, and `iolog-end` when sudo marks the session complete (the
 * write bits of `timing` cleared), it went idle, or its directory is gone. It keeps
 * per file the offset copied and a running SHA-256 of the bytes copied, written to
 * and read back from the state file (§3.5.5) as "+" lines.
 *
 * Reader side (iolog_asm.c): struct sl_iolog_asm puts one session's files back
 * together from those events, as `streamlog iolog` reads them from a verified store.
 * It does no I/O: entries in, file bytes out.
 */
#ifndef STREAMLOG_IOLOG_H
#define STREAMLOG_IOLOG_H

#include <stddef.h>
#include <stdint.h>

#include "shelter/error.h"
#include "streamlog/event.h"

/* Bytes of one iolog-data event: their base64 (16 KiB) is the raw budget (§2.2). */
#define SL_IOLOG_CHUNK 12288
/* Files of one session that are copied (sudo 1.9.13 writes eight). */
#define SL_IOLOG_FILES_MAX 64
/* A file name copied: 1..64 bytes of [A-Za-z0-9._-], not "." or "..". */
#define SL_IOLOG_NAME_MAX 64
/* SHA-256 in lowercase hex, without the NUL. */
#define SL_IOLOG_HEX 64

/* 1 when name[0, len) is a file name StreamLog copies (SL_IOLOG_NAME_MAX). */
int sl_iolog_name_ok(const char *name, size_t len);

/* ---- follower side (iolog.c) ---- */

/* Where the events go: append records one event (0, or -1 when the log refused it);
 * source_id and host are copied into every event (borrowed for the call). */
struct sl_iolog_sink {
	int (*append)(void *ctx, const struct sl_event *e);
	void *ctx;
	const char *source_id, *host;
};

struct sl_iolog;

/* The sessions of the I/O log directory dir (borrowed: must outlive io).
 * *out set on success only; free with sl_iolog_free. Errors: SHELTER_E_NOMEM. */
int sl_iolog_new(const char *dir, struct sl_iolog **out, struct shelter_err *err) SHELTER_MUST_USE;
void sl_iolog_free(struct sl_iolog *io);

/* Follow the session in session_dir (a path under dir, as the scan found it) from
 * byte 0 of each file, unless it is open already. Errors: SHELTER_E_INVAL (not under
 * dir, or a newline in it: not followed), SHELTER_E_NOMEM. */
int sl_iolog_open(struct sl_iolog *io, const char *session_dir) SHELTER_MUST_USE;

/* One pass over the open sessions when one is due (every second) or force: copy what
 * they gained, record alterations and ends. Returns 1 when some file has more to copy
 * right away, 0, or -1 when an event could not be recorded. */
int sl_iolog_poll(struct sl_iolog *io, const struct sl_iolog_sink *sink, int64_t mono,
		  int force);

/* Sessions open now; 1 when no other can be opened (4,096: the scan waits). */
size_t sl_iolog_open_count(const struct sl_iolog *io);
int sl_iolog_full(const struct sl_iolog *io);

/* The state file (§3.5.5). sl_iolog_state_load reads one line after its "+ " (no LF):
 * "FLAGS INODE OFFSET SHA256 NAME SESSION". SHELTER_E_MALFORMED when it does not parse.
 * sl_iolog_state_text: the "+" lines of every open file into a malloc'd string the
 * caller frees (*out NULL and 0 when none); SHELTER_E_NOMEM. sl_iolog_state_dirty: 1
 * when the text changed since sl_iolog_state_saved. */
int sl_iolog_state_load(struct sl_iolog *io, const char *line, struct shelter_err *err) SHELTER_MUST_USE;
int sl_iolog_state_text(const struct sl_iolog *io, char **out, size_t *out_size) SHELTER_MUST_USE;
int sl_iolog_state_dirty(const struct sl_iolog *io);
void sl_iolog_state_saved(struct sl_iolog *io);

/* ---- reader side (iolog_asm.c) ---- */

/* One parsed iolog-data message "OFFSET LENGTH SHA256": 0, or SHELTER_E_MALFORMED. */
int sl_iolog_data_msg(const char *p, size_t len, uint64_t *out_off, uint64_t *out_len,
		      char out_hex[SL_IOLOG_HEX + 1]) SHELTER_MUST_USE;

struct sl_iolog_asm;

/* Put the session named by session back together: its id (the path relative to the
 * followed directory, who.session) or its directory (DIR/ID). session is copied.
 * Errors: SHELTER_E_NOMEM. */
int sl_iolog_asm_new(const char *session, struct sl_iolog_asm **out,
		     struct shelter_err *err) SHELTER_MUST_USE;
void sl_iolog_asm_free(struct sl_iolog_asm *a);

/* Take log entry index (size bytes, any entry: those not of the session are ignored).
 * Errors name the entry, the file and the offset: SHELTER_E_MALFORMED (an iolog event
 * that does not follow §3.5.4), SHELTER_E_CONFLICT (the session in two directories),
 * SHELTER_E_INTEGRITY (a chunk that repeats an offset with other bytes, or whose
 * digest is not that of the bytes before it), SHELTER_E_MISSING (a chunk after a gap),
 * SHELTER_E_FBIG (a file over 4 GiB), SHELTER_E_NOMEM. After an error the assembler
 * keeps what it had and takes further entries. */
int sl_iolog_asm_entry(struct sl_iolog_asm *a, uint64_t index, const char *entry, size_t size,
		       struct shelter_err *err) SHELTER_MUST_USE;

/* After the last entry: the files against the last iolog-end. 0 when the session ended
 * `complete` and every file is whole and matches; else the first problem:
 * SHELTER_E_NOENT (no event of the session), SHELTER_E_MISSING (no iolog-end, a file it
 * names never copied, or fewer bytes copied than it says), SHELTER_E_INTEGRITY (a digest
 * that differs, a file recorded altered), SHELTER_E_TRUNCATED (it ended incomplete). */
int sl_iolog_asm_finish(const struct sl_iolog_asm *a, struct shelter_err *err) SHELTER_MUST_USE;

/* Events of the session after an iolog-end that said complete or removed do not
 * change the files: they are compared with them. The first difference found (NULL when
 * none), and in *out_count how many events differed; borrowed from a. */
const char *sl_iolog_asm_note(const struct sl_iolog_asm *a, size_t *out_count);

/* What was put together: the session's id, its directory, and its files (i below
 * count) with their bytes (borrowed until sl_iolog_asm_free). */
const char *sl_iolog_asm_id(const struct sl_iolog_asm *a);
size_t sl_iolog_asm_count(const struct sl_iolog_asm *a);
const char *sl_iolog_asm_file(const struct sl_iolog_asm *a, size_t i, const uint8_t **out_bytes,
			      size_t *out_size);

#endif
