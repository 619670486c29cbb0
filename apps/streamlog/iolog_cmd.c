/* streamlog iolog: one sudo I/O log session back out of a verified store, as files
 * sudoreplay reads (docs/streamlog.md §7.5). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "streamlog/cli.h"
#include "streamlog/common.h"
#include "streamlog/iolog.h"

struct kept {
	uint64_t index;
	char *entry;
	size_t size;
};

struct collect {
	struct kept *k;
	size_t count, cap;
};

/* Entries that may be iolog events: kept until the checkpoint's size is known. */
static int on_entry(void *ctx, uint64_t index, const void *entry, size_t size)
{
	struct collect *c = ctx;

	if (size < 7 || memmem(entry, size, "\"iolog-", 7) == NULL)
		return 0;
	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct kept *k = realloc(c->k, cap * sizeof(*k));

		if (k == NULL)
			return SHELTER_E_NOMEM;
		c->k = k;
		c->cap = cap;
	}
	c->k[c->count].entry = malloc(size);
	if (c->k[c->count].entry == NULL)
		return SHELTER_E_NOMEM;
	memcpy(c->k[c->count].entry, entry, size);
	c->k[c->count].size = size;
	c->k[c->count++].index = index;
	return 0;
}

/* An id from the log becomes a path under OUTDIR: relative, no "." or ".." part. */
static int id_ok(const char *id)
{
	const char *p = id;

	if (strcmp(id, ".") == 0)
		return 1;
	if (*p == '/' || *p == '\0')
		return 0;
	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				return 0;
		p += n;
		if (*p == '/')
			p++;
	}
	return 1;
}

/* OUTDIR/ID, created: its parents as needed, itself new (or empty when ID is "."). */
static int make_dir(const char *outdir, const char *id, char *path, size_t cap)
{
	size_t n;

	if ((size_t)snprintf(path, cap, "%s/%s", outdir, id) >= cap)
		return -1;
	if (strcmp(id, ".") == 0)
		snprintf(path, cap, "%s", outdir);
	if (mkdir(outdir, 0700) != 0 && errno != EEXIST)
		return -1;
	n = strlen(outdir);
	for (size_t i = n + 1; path[i] != '\0'; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return -1;
		path[i] = '/';
	}
	if (strcmp(id, ".") != 0 && mkdir(path, 0700) != 0) {
		sl_log("iolog: cannot create '%s': %s (it must not exist)", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_files(const struct sl_iolog_asm *a, const char *dir, int complete)
{
	for (size_t i = 0; i < sl_iolog_asm_count(a); i++) {
		const uint8_t *p;
		size_t size, at = 0;
		const char *name = sl_iolog_asm_file(a, i, &p, &size);
		int fd = openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), out;

		if (fd < 0)
			return -1;
		/* sudo leaves a finished session's timing read-only (§3.5.4) */
		out = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			     complete && strcmp(name, "timing") == 0 ? 0400 : 0600);
		close(fd);
		if (out < 0) {
			sl_log("iolog: cannot create '%s/%s': %s", dir, name, strerror(errno));
			return -1;
		}
		while (at < size) {
			ssize_t n = write(out, p + at, size - at);

			if (n <= 0)
				break;
			at += (size_t)n;
		}
		if (at < size || fsync(out) != 0 || close(out) != 0) {
			sl_log("iolog: cannot write '%s/%s'", dir, name);
			return -1;
		}
	}
	return 0;
}

int sl_iolog_extract(const struct sl_filter *f, const char *session, const char *outdir)
{
	struct shelter_log_verifier v;
	struct shelter_log_checkpoint cp;
	struct shelter_err err;
	struct collect c = { NULL, 0, 0 };
	struct sl_iolog_asm *a = NULL;
	char *note = NULL, path[8192];
	size_t note_len = 0, problems = 0, bytes = 0;
	uint64_t entries = 0;
	int rc = SL_EXIT_FAIL, done;

	if (sl_verifier_load(f->vkey, f->vkey_file, &v, &err) != 0)
		return sl_fail("verifier key", &err);
	if (f->checkpoint != NULL &&
	    sl_read_file(f->checkpoint, SHELTER_LOG_NOTE_MAX, &note, &note_len, &err) != 0)
		return sl_fail("checkpoint", &err);
	if (shelter_log_read(f->store, &v, note, note_len, on_entry, &c, &entries, &cp, &err) != 0) {
		sl_fail("the store does not verify", &err);
		goto out;
	}
	if (sl_iolog_asm_new(session, &a, &err) != 0) {
		sl_fail("iolog", &err);
		goto out;
	}
	/* only what the checkpoint covers is vouched for */
	for (size_t i = 0; i < c.count && c.k[i].index < cp.size; i++) {
		if (sl_iolog_asm_entry(a, c.k[i].index, c.k[i].entry, c.k[i].size, &err) != 0) {
			sl_log("iolog: %s", err.msg);
			problems++;
		}
	}
	done = sl_iolog_asm_finish(a, &err);
	{
		size_t late = 0;
		const char *why = sl_iolog_asm_note(a, &late);

		if (why != NULL)
			sl_log("iolog: warning: %zu events of the session after its end differ from "
			       "what was recorded, the first: %s", late, why);
	}
	if (done == SHELTER_E_NOENT) {
		sl_log("iolog: %s below the checkpoint of size %" PRIu64, err.msg, cp.size);
		goto out;
	}
	if (!id_ok(sl_iolog_asm_id(a))) {
		sl_log("iolog: session id '%.100s' cannot name a directory under OUTDIR",
		       sl_iolog_asm_id(a));
		goto out;
	}
	if (make_dir(outdir, sl_iolog_asm_id(a), path, sizeof(path)) != 0 ||
	    write_files(a, path, done == 0) != 0)
		goto out;
	for (size_t i = 0; i < sl_iolog_asm_count(a); i++) {
		const uint8_t *p;
		size_t size;

		(void)sl_iolog_asm_file(a, i, &p, &size);
		bytes += size;
	}
	if (done != 0) {
		sl_log("iolog: %s", err.msg);
		problems++;
	}
	sl_log("session %s: %zu files, %zu bytes written to '%s'; verified against the checkpoint "
	       "of size %" PRIu64 "%s", sl_iolog_asm_id(a), sl_iolog_asm_count(a), bytes, path,
	       cp.size, problems == 0 ? "; complete, every digest matches"
				       : "; NOT WHOLE: see the problems above");
	rc = problems == 0 ? SL_EXIT_OK : SL_EXIT_FAIL;
out:
	for (size_t i = 0; i < c.count; i++)
		free(c.k[i].entry);
	free(c.k);
	free(note);
	sl_iolog_asm_free(a);
	return rc;
}
