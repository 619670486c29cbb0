/* Full verification with one report per problem: docs/formats/volume.md §9. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "volume/internal.h"

struct seglist {
	uint64_t *no;
	size_t count, cap;
};

static void seglist_add(struct seglist *l, uint64_t no)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint64_t *n = realloc(l->no, cap * sizeof(*n));

		if (n == NULL)
			return;
		l->no = n;
		l->cap = cap;
	}
	l->no[l->count++] = no;
}

static void report(struct vol_report *r, int kind, const char *where, const char *detail)
{
	if (kind != 0 && r->first == 0)
		r->first = kind;
	if (r->fn != NULL)
		r->fn(r->ctx, kind, where, detail);
}

/* §9: only VOLUME, lock, log/ and log/<16 hex>.seg belong in a volume; leftovers of
 * an interrupted create or rollover (".tmp-*") are ignored, as open ignores them. */
static void check_names(const char *dir, struct vol_report *r, struct seglist *segs)
{
	char path[4096];
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, VOL_HEADER_NAME) == 0 || strcmp(e->d_name, VOL_LOCK_NAME) == 0 ||
		    strcmp(e->d_name, VOL_LOG_DIR) == 0 || strncmp(e->d_name, ".tmp-", 5) == 0)
			continue;
		report(r, SHELTER_E_UNEXPECTED, e->d_name, "file does not belong to the volume");
	}
	if (d != NULL)
		closedir(d);
	snprintf(path, sizeof(path), "%s/%s", dir, VOL_LOG_DIR);
	d = opendir(path);
	while (d != NULL && (e = readdir(d)) != NULL) {
		uint64_t no;
		char where[300];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strncmp(e->d_name, ".tmp-", 5) == 0)
			continue;
		snprintf(where, sizeof(where), "log/%s", e->d_name);
		if (!vol_parse_seg_name(e->d_name, &no)) {
			report(r, SHELTER_E_UNEXPECTED, where, "file does not belong to the volume");
			continue;
		}
		seglist_add(segs, no);
	}
	if (d != NULL)
		closedir(d);
}

/* The open's message without its "open volume 'DIR': " prefix, which verify's own
 * output already implies. */
static const char *strip_prefix(const char *msg, const char *dir)
{
	char prefix[4200];
	size_t n;

	snprintf(prefix, sizeof(prefix), "open volume '%s': ", dir);
	n = strlen(prefix);
	return strncmp(msg, prefix, n) == 0 ? msg + n : msg;
}

/* §9: the live log is contiguous from its first segment to the last present;
 * segments below it were replaced by a checkpoint and are left for a writer. */
static void check_segments(struct vol_report *r, const struct seglist *segs,
			   const struct shelter_volume *v)
{
	uint64_t base = v != NULL ? v->base_segno : UINT64_MAX, lo = UINT64_MAX, hi = 0;
	uint64_t live = 0, old = 0, old_lo = UINT64_MAX;
	char detail[200];

	for (size_t i = 0; i < segs->count; i++) {
		uint64_t no = segs->no[i];

		if (v != NULL && no < base) {
			old++;
			old_lo = no < old_lo ? no : old_lo;
			continue;
		}
		live++;
		lo = no < lo ? no : lo;
		hi = no > hi ? no : hi;
	}
	if (live > 0 && live != hi - lo + 1) {
		snprintf(detail, sizeof(detail), "%" PRIu64 " of segments %" PRIu64 "..%" PRIu64
			 " present", live, lo, hi);
		report(r, SHELTER_E_MISSING, "log", detail);
	}
	if (old > 0) {
		snprintf(detail, sizeof(detail), "%" PRIu64 " segments from %" PRIu64 " are "
			 "superseded by the checkpoint in segment %" PRIu64 " (the next writer "
			 "removes them)", old, old_lo, base);
		report(r, 0, "log", detail);
	}
	if (v != NULL && live > 0 && v->segs[v->nsegs - 1].segno < hi) {
		snprintf(detail, sizeof(detail), "segments after %" PRIu64 " are not reachable",
			 v->segs[v->nsegs - 1].segno);
		report(r, SHELTER_E_UNEXPECTED, "log", detail);
	}
}

int shelter_volume_verify(const char *dir, const uint8_t key[SHELTER_VOLUME_KEY_SIZE],
			  const uint8_t *expected_tag, shelter_volume_problem_fn fn, void *ctx,
			  struct shelter_err *err)
{
	struct vol_report r = { .fn = fn, .ctx = ctx };
	struct shelter_volume_options opts = { .expected_tag = expected_tag };
	struct seglist segs = { 0 };
	struct shelter_volume *v = NULL;
	struct shelter_err e;
	int rc;

	shelter_err_clear(&e);
	rc = vol_open_common(dir, key, &opts, 1, &r, &v, &e);
	if (rc == SHELTER_E_BADKEY || rc == SHELTER_E_NOTVOLUME || rc == SHELTER_E_VERSION ||
	    rc == SHELTER_E_NOMEM || rc == SHELTER_E_IO || rc == SHELTER_E_PERM ||
	    rc == SHELTER_E_NOENT) {
		if (err != NULL)
			*err = e;
		return rc;
	}
	if (rc < 0 && !r.error_reported)
		report(&r, rc, rc == SHELTER_E_STALE ? "volume" : "log", strip_prefix(e.msg, dir));
	/* read the directory under the lock, so writers do not move it meanwhile */
	if (v != NULL && vol_lock(v, 0, NULL) == 0) {
		check_names(dir, &r, &segs);
		vol_unlock(v);
	} else {
		check_names(dir, &r, &segs);
	}
	check_segments(&r, &segs, v);
	free(segs.no);
	if (rc == 0 && expected_tag != NULL && memcmp(v->chain, expected_tag, 32) != 0)
		report(&r, 0, "volume", "newer than the expected tag (operations were added after it)");
	shelter_volume_close(v);
	if (r.first != 0)
		return shelter_err_set(err, r.first, "volume '%s': %s", dir,
				       shelter_code_str(r.first));
	return 0;
}
