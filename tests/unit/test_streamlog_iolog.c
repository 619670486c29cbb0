/* The content of sudo I/O log sessions (docs/streamlog.md §3.5.4, §3.5.5, §7.5):
 * the follower side (iolog.c) on a session directory written here as sudo writes one,
 * its events in canonical JSON fed to the reader side (iolog_asm.c). Negative cases
 * first with their exact codes: messages and end lines that do not parse, gaps,
 * conflicting repeats, digests that differ, sessions that did not end complete,
 * alterations of the host's files, state lines; then the round trips. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test.h"
#include "streamlog/event.h"
#include "streamlog/iolog.h"

#define ENTRIES_MAX 256

/* The log, as the sink appends to it: canonical JSON entries. */
struct log {
	char *e[ENTRIES_MAX];
	size_t size[ENTRIES_MAX];
	size_t count;
};

static int sink_append(void *ctx, const struct sl_event *e)
{
	struct log *l = ctx;
	static char json[SL_EVENT_JSON_MAX];
	struct shelter_err err;
	size_t n = 0;

	if (l->count >= ENTRIES_MAX || sl_event_json(e, json, sizeof(json), &n, &err) != 0)
		return -1;
	l->e[l->count] = strndup(json, n);
	l->size[l->count++] = n;
	return 0;
}

static void log_free(struct log *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->e[i]);
	l->count = 0;
}

static size_t count_result(const struct log *l, const char *result)
{
	char want[64];
	size_t n = 0;

	snprintf(want, sizeof(want), "\"result\":\"%s\"", result);
	for (size_t i = 0; i < l->count; i++)
		n += strstr(l->e[i], want) != NULL;
	return n;
}

/* A scratch I/O log directory with one session "00/00/01". */
struct dir {
	char root[64], sess[128];
};

static void put(const struct dir *d, const char *name, const void *p, size_t n, int append)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", d->sess, name);
	fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0600);
	if (fd < 0 || (n > 0 && write(fd, p, n) != (ssize_t)n)) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static void dir_make(struct dir *d)
{
	char p[128];

	snprintf(d->root, sizeof(d->root), "/tmp/test_streamlog_iolog.XXXXXX");
	if (mkdtemp(d->root) == NULL)
		exit(2);
	snprintf(p, sizeof(p), "%s/00", d->root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/00/00", d->root);
	mkdir(p, 0700);
	snprintf(d->sess, sizeof(d->sess), "%s/00/00/01", d->root);
	mkdir(d->sess, 0700);
	put(d, "log.json", "{\"command\":\"/bin/sh\"}", 21, 0);
	put(d, "timing", "", 0, 0);
	put(d, "stdout", "", 0, 0);
}

static void dir_end(const struct dir *d)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/timing", d->sess);
	chmod(path, 0400); /* what sudo does when the session ends */
}

static void dir_free(const struct dir *d)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d->root);
}

static int poll_now(struct sl_iolog *io, struct log *l, const char *root)
{
	char src[128];
	struct sl_iolog_sink k = { sink_append, l, src, "h1" };

	snprintf(src, sizeof(src), "file:%s", root);
	return sl_iolog_poll(io, &k, 0, 1);
}

/* Feed the log to a new assembler for session; the first entry error (0 if none) and
 * the finish code. */
static void assemble(const struct log *l, const char *session, int *entry_rc, int *finish_rc,
		     struct sl_iolog_asm **out)
{
	struct shelter_err err;
	struct sl_iolog_asm *a = NULL;

	*entry_rc = 0;
	if (sl_iolog_asm_new(session, &a, &err) != 0)
		exit(2);
	for (size_t i = 0; i < l->count; i++) {
		int rc = sl_iolog_asm_entry(a, i, l->e[i], l->size[i], &err);

		if (rc != 0 && *entry_rc == 0) {
			*entry_rc = rc;
			fprintf(stderr, "  (entry %zu: %s)\n", i, err.msg);
		}
	}
	*finish_rc = sl_iolog_asm_finish(a, &err);
	*out = a;
}

static const uint8_t *file_bytes(const struct sl_iolog_asm *a, const char *name, size_t *size)
{
	for (size_t i = 0; i < sl_iolog_asm_count(a); i++) {
		const uint8_t *p;
		const char *n = sl_iolog_asm_file(a, i, &p, size);

		if (strcmp(n, name) == 0)
			return p;
	}
	*size = 0;
	return NULL;
}

/* A session of three growing passes (one over a chunk) that ends: its log. */
static void session_log(struct dir *d, struct log *l, uint8_t *big, size_t big_size)
{
	struct shelter_err err;
	struct sl_iolog *io = NULL;

	dir_make(d);
	if (sl_iolog_new(d->root, &io, &err) != 0 || sl_iolog_open(io, d->sess) != 0)
		exit(2);
	for (size_t i = 0; i < big_size; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 8));
	(void)poll_now(io, l, d->root);
	put(d, "stdout", "canary-1\n", 9, 1);
	put(d, "timing", "1 0.1 9\n", 8, 1);
	(void)poll_now(io, l, d->root);
	put(d, "stdout", big, big_size, 1);
	dir_end(d);
	(void)poll_now(io, l, d->root);
	sl_iolog_free(io);
}

/* ---- negative cases ---- */

static void data_msg_refuses(void)
{
	static const char *const bad[] = {
		"", "0", "0 1", "0 1 ", "x 1 " "0000000000000000000000000000000000000000000000000000000000000000",
		"0 0 0000000000000000000000000000000000000000000000000000000000000000",
		"0 12289 0000000000000000000000000000000000000000000000000000000000000000",
		"00 1 0000000000000000000000000000000000000000000000000000000000000000",
		"0 1 000000000000000000000000000000000000000000000000000000000000000",
		"0 1 00000000000000000000000000000000000000000000000000000000000000000",
		"0 1 000000000000000000000000000000000000000000000000000000000000000A",
		"18446744073709551616 1 0000000000000000000000000000000000000000000000000000000000000000",
		"0  1 0000000000000000000000000000000000000000000000000000000000000000",
	};
	char hex[SL_IOLOG_HEX + 1];
	uint64_t off, n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_RC(sl_iolog_data_msg(bad[i], strlen(bad[i]), &off, &n, hex), SHELTER_E_MALFORMED);
	static const char good[] =
		"7 12288 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	CHECK_OK(sl_iolog_data_msg(good, strlen(good), &off, &n, hex));
	CHECK(off == 7 && n == 12288 && hex[0] == '0');
}

static void names_refused(void)
{
	CHECK(!sl_iolog_name_ok("", 0));
	CHECK(!sl_iolog_name_ok(".", 1));
	CHECK(!sl_iolog_name_ok("..", 2));
	CHECK(!sl_iolog_name_ok("a/b", 3));
	CHECK(!sl_iolog_name_ok("a b", 3));
	CHECK(!sl_iolog_name_ok("a\nb", 3));
	CHECK(!sl_iolog_name_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 65));
	CHECK(sl_iolog_name_ok("log.json", 8));
	CHECK(sl_iolog_name_ok("ttyout", 6));
}

static void state_lines_refused(void)
{
	static const char *const bad[] = {
		"", "0 1 2", "4 1 2 " "0000000000000000000000000000000000000000000000000000000000000000 stdout 00/00/01",
		"0 1 2 000000000000000000000000000000000000000000000000000000000000000 stdout 00/00/01",
		"0 1 2 0000000000000000000000000000000000000000000000000000000000000000 std/out 00/00/01",
		"0 1 2 0000000000000000000000000000000000000000000000000000000000000000 stdout",
		"0 1 2 0000000000000000000000000000000000000000000000000000000000000000 stdout ",
		"0 x 2 0000000000000000000000000000000000000000000000000000000000000000 stdout 00/00/01",
	};
	struct shelter_err err;
	struct sl_iolog *io = NULL;

	CHECK_OK(sl_iolog_new("/nonexistent", &io, &err));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = sl_iolog_state_load(io, bad[i], &err);

		if (rc != SHELTER_E_MALFORMED) {
			sl_iolog_free(io);
			CHECK_RC(rc, SHELTER_E_MALFORMED);
		}
	}
	CHECK_OK(sl_iolog_state_load(io, "0 1 2 0000000000000000000000000000000000000000000000000000000000000000 stdout 00/00/01", &err));
	CHECK_RC(sl_iolog_state_load(io, "0 1 2 0000000000000000000000000000000000000000000000000000000000000000 stdout 00/00/01", &err), SHELTER_E_MALFORMED);
	CHECK_RC(sl_iolog_open(io, "/elsewhere/00/00/01"), SHELTER_E_INVAL);
	sl_iolog_free(io);
}

/* Drop, repeat or alter one iolog-data entry of a good log. */
static void gaps_and_conflicts_refused(void)
{
	static uint8_t big[3 * SL_IOLOG_CHUNK + 100];
	struct dir d;
	struct log l = { 0 };
	struct sl_iolog_asm *a = NULL;
	int erc, frc;
	size_t first = 0;
	char *save;

	session_log(&d, &l, big, sizeof(big));
	dir_free(&d);
	/* the first chunk of stdout: "canary-1\n" at offset 0 */
	while (first < l.count && strstr(l.e[first], "\"message\":\"0 9 ") == NULL)
		first++;
	CHECK(first + 2 < l.count && strstr(l.e[first], "\"action\":\"stdout\"") != NULL);
	/* a gap: that chunk left out */
	save = l.e[first];
	l.e[first] = (char *)"{}";
	l.size[first] = 2;
	assemble(&l, "00/00/01", &erc, &frc, &a);
	l.e[first] = save;
	l.size[first] = strlen(save);
	sl_iolog_asm_free(a);
	CHECK_RC(erc, SHELTER_E_MISSING);
	CHECK_RC(frc, SHELTER_E_MISSING);
	/* the same offset again with the same bytes, before the end: a visible repeat */
	l.e[l.count] = l.e[l.count - 1];
	l.size[l.count] = l.size[l.count - 1];
	l.e[l.count - 1] = strdup(l.e[first]);
	l.size[l.count - 1] = l.size[first];
	l.count++;
	assemble(&l, "00/00/01", &erc, &frc, &a);
	sl_iolog_asm_free(a);
	CHECK_OK(erc);
	CHECK_OK(frc);
	/* ... with other bytes: a conflict */
	{
		char *r = strstr(l.e[l.count - 2], "\"raw\":\"") + 7;

		r[0] = r[0] == 'A' ? 'B' : 'A';
	}
	assemble(&l, "00/00/01", &erc, &frc, &a);
	sl_iolog_asm_free(a);
	CHECK_RC(erc, SHELTER_E_INTEGRITY);
	CHECK_RC(frc, SHELTER_E_INTEGRITY);
	/* ... after the end (the session recorded again): noted, the files as they were */
	{
		char *tmp = l.e[l.count - 1];
		size_t ts = l.size[l.count - 1], late = 0;
		const uint8_t *p;
		size_t n;

		l.e[l.count - 1] = l.e[l.count - 2];
		l.size[l.count - 1] = l.size[l.count - 2];
		l.e[l.count - 2] = tmp;
		l.size[l.count - 2] = ts;
		assemble(&l, "00/00/01", &erc, &frc, &a);
		p = file_bytes(a, "stdout", &n);
		CHECK(p != NULL && memcmp(p, "canary-1\n", 9) == 0);
		CHECK(sl_iolog_asm_note(a, &late) != NULL && late == 1);
		sl_iolog_asm_free(a);
		CHECK_OK(erc);
		CHECK_OK(frc);
	}
	free(l.e[--l.count]);
	/* a digest that is not that of the bytes */
	{
		char *m = strstr(l.e[first], "\"message\":\"") + 11;

		char c;

		m = strchr(strchr(m, ' ') + 1, ' ') + 1;
		c = m[0];
		m[0] = c == '0' ? '1' : '0';
		assemble(&l, "00/00/01", &erc, &frc, &a);
		m[0] = c;
	}
	sl_iolog_asm_free(a);
	CHECK_RC(erc, SHELTER_E_INTEGRITY);
	/* a message that does not parse */
	{
		char *m = strstr(l.e[first], "\"message\":\"") + 11;
		char c = m[0];

		m[0] = 'x';
		assemble(&l, "00/00/01", &erc, &frc, &a);
		m[0] = c;
	}
	sl_iolog_asm_free(a);
	CHECK_RC(erc, SHELTER_E_MALFORMED);
	/* no end */
	l.count--;
	assemble(&l, "00/00/01", &erc, &frc, &a);
	sl_iolog_asm_free(a);
	l.count++;
	CHECK_OK(erc);
	CHECK_RC(frc, SHELTER_E_MISSING);
	/* another session, and one in two directories */
	assemble(&l, "00/00/02", &erc, &frc, &a);
	sl_iolog_asm_free(a);
	CHECK_RC(frc, SHELTER_E_NOENT);
	{
		char *s = strstr(l.e[first], "\"id\":\"file:") + 11;

		s[1] = s[1] == 'x' ? 'y' : 'x';
		assemble(&l, "00/00/01", &erc, &frc, &a);
		s[1] = s[1] == 'x' ? 'y' : 'x';
	}
	sl_iolog_asm_free(a);
	CHECK(erc == SHELTER_E_CONFLICT || frc != 0);
	log_free(&l);
}

/* The host's files altered while the session is followed: recorded, and the
 * assembler says so while keeping the bytes copied. */
static void alterations_recorded(void)
{
	struct shelter_err err;
	struct sl_iolog *io = NULL;
	struct sl_iolog_asm *a = NULL;
	struct dir d;
	struct log l = { 0 };
	const uint8_t *p;
	size_t n;
	int erc, frc;
	char path[256];

	dir_make(&d);
	CHECK_OK(sl_iolog_new(d.root, &io, &err));
	CHECK_OK(sl_iolog_open(io, d.sess));
	put(&d, "stdout", "canary-2\n", 9, 1);
	CHECK(poll_now(io, &l, d.root) == 0);
	put(&d, "stdout", "XX", 2, 0); /* shorter, then other bytes */
	CHECK(poll_now(io, &l, d.root) == 0);
	CHECK(count_result(&l, "iolog-altered") == 1);
	put(&d, "stdout", "XXnary-2\nmore\n", 14, 0);
	snprintf(path, sizeof(path), "%s/ttyout", d.sess);
	CHECK(symlink("/etc/passwd", path) == 0); /* never followed */
	snprintf(path, sizeof(path), "%s/log.json", d.sess);
	CHECK(unlink(path) == 0 && symlink("/etc/passwd", path) == 0); /* nor that one */
	dir_end(&d);
	CHECK(poll_now(io, &l, d.root) == 0);
	CHECK(sl_iolog_open_count(io) == 0);
	CHECK(count_result(&l, "iolog-end") == 1);
	/* the shrink, log.json replaced, then stdout's prefix at the end */
	CHECK(count_result(&l, "iolog-altered") == 3);
	assemble(&l, "00/00/01", &erc, &frc, &a);
	p = file_bytes(a, "stdout", &n);
	CHECK(p != NULL && n == 14 && memcmp(p, "canary-2\nmore\n", 14) == 0);
	CHECK(file_bytes(a, "ttyout", &n) == NULL);
	p = file_bytes(a, "log.json", &n);
	CHECK(p != NULL && n == 21 && memcmp(p, "{\"command\"", 10) == 0);
	sl_iolog_asm_free(a);
	CHECK_RC(frc, SHELTER_E_INTEGRITY);
	/* the directory removed: the session ends "removed" */
	log_free(&l);
	dir_free(&d);
	sl_iolog_free(io);
	dir_make(&d);
	CHECK_OK(sl_iolog_new(d.root, &io, &err));
	CHECK_OK(sl_iolog_open(io, d.sess));
	put(&d, "stdout", "canary-3\n", 9, 1);
	CHECK(poll_now(io, &l, d.root) == 0);
	dir_free(&d);
	CHECK(poll_now(io, &l, d.root) == 0);
	CHECK(sl_iolog_open_count(io) == 0);
	assemble(&l, "00/00/01", &erc, &frc, &a);
	p = file_bytes(a, "stdout", &n);
	CHECK(p != NULL && n == 9 && memcmp(p, "canary-3\n", 9) == 0);
	sl_iolog_asm_free(a);
	CHECK_RC(frc, SHELTER_E_INTEGRITY);
	sl_iolog_free(io);
	log_free(&l);
}

/* ---- round trips ---- */

static void session_put_back(void)
{
	static uint8_t big[3 * SL_IOLOG_CHUNK + 100];
	struct sl_iolog_asm *a = NULL;
	struct dir d;
	struct log l = { 0 };
	const uint8_t *p;
	size_t n;
	int erc, frc;

	session_log(&d, &l, big, sizeof(big));
	dir_free(&d);
	CHECK(count_result(&l, "iolog-data") == 1 + 1 + 4 + 1); /* log.json, canary, big, timing */
	CHECK(count_result(&l, "iolog-end") == 1);
	for (size_t i = 0; i < l.count; i++)
		CHECK(strstr(l.e[i], "\"trunc\"") == NULL && l.size[i] < 65536);
	assemble(&l, "00/00/01", &erc, &frc, &a);
	CHECK(strcmp(sl_iolog_asm_id(a), "00/00/01") == 0);
	p = file_bytes(a, "stdout", &n);
	CHECK(p != NULL && n == 9 + sizeof(big) && memcmp(p, "canary-1\n", 9) == 0 &&
	      memcmp(p + 9, big, sizeof(big)) == 0);
	p = file_bytes(a, "timing", &n);
	CHECK(p != NULL && n == 8);
	sl_iolog_asm_free(a);
	CHECK_OK(erc);
	CHECK_OK(frc);
	/* by its directory too */
	assemble(&l, d.sess, &erc, &frc, &a);
	sl_iolog_asm_free(a);
	CHECK_OK(frc);
	log_free(&l);
}

/* The state of an open session, written and read back by a new follower (a restart):
 * the copy goes on at the offset reached, nothing twice; a prefix changed while
 * stopped is recorded altered. */
static void state_restart(void)
{
	struct shelter_err err;
	struct sl_iolog *io = NULL, *io2 = NULL;
	struct sl_iolog_asm *a = NULL;
	struct dir d;
	struct log l = { 0 };
	char *text = NULL, *line;
	size_t size = 0, before;
	int erc, frc;

	dir_make(&d);
	CHECK_OK(sl_iolog_new(d.root, &io, &err));
	CHECK_OK(sl_iolog_open(io, d.sess));
	put(&d, "stdout", "canary-4\n", 9, 1);
	CHECK(poll_now(io, &l, d.root) == 0);
	CHECK(sl_iolog_state_dirty(io));
	CHECK_OK(sl_iolog_state_text(io, &text, &size));
	sl_iolog_state_saved(io);
	CHECK(!sl_iolog_state_dirty(io));
	sl_iolog_free(io);
	CHECK(text != NULL && strstr(text, " 9 ") != NULL && strstr(text, " stdout 00/00/01\n"));
	CHECK_OK(sl_iolog_new(d.root, &io2, &err));
	for (line = text; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n');

		*nl = '\0';
		CHECK(line[0] == '+' && line[1] == ' ');
		CHECK_OK(sl_iolog_state_load(io2, line + 2, &err));
		line = nl + 1;
	}
	free(text);
	CHECK(sl_iolog_open_count(io2) == 1);
	CHECK_OK(sl_iolog_open(io2, d.sess)); /* seen again by the scan: already open */
	CHECK(sl_iolog_open_count(io2) == 1);
	before = l.count;
	put(&d, "stdout", "after\n", 6, 1);
	dir_end(&d);
	CHECK(poll_now(io2, &l, d.root) == 0);
	CHECK(count_result(&l, "iolog-altered") == 0);
	CHECK(l.count == before + 2); /* "after", the end */
	assemble(&l, "00/00/01", &erc, &frc, &a);
	sl_iolog_asm_free(a);
	CHECK_OK(erc);
	CHECK_OK(frc);
	sl_iolog_free(io2);
	log_free(&l);
	dir_free(&d);
}

int main(void)
{
	test_binary = "test_streamlog_iolog";

	RUN(data_msg_refuses);
	RUN(names_refused);
	RUN(state_lines_refused);
	RUN(gaps_and_conflicts_refused);
	RUN(alterations_recorded);

	RUN(session_put_back);
	RUN(state_restart);
	return test_total_failed == 0 ? 0 : 1;
}
