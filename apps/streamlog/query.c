/* streamlog query and export: read a store offline, check it against its checkpoint
 * with the public key only, select events (docs/streamlog.md §7). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "streamlog/cli.h"
#include "streamlog/common.h"
#include "util/b64.h"

struct reader {
	const struct sl_filter *f;
	struct shelter_log_tree *tree; /* export: every leaf, for proofs */
	uint64_t *hits;                 /* indexes selected */
	char **entries;                 /* their bytes (NUL-terminated) */
	size_t count, cap;
	int rc;
};

/* The string at a.b in the entry, or "". */
static const char *field(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);

	if (b != NULL)
		v = json_object_get(v, b);
	return json_is_string(v) ? json_string_value(v) : "";
}

/* docs/streamlog.md §7.1: every filter given must hold. */
static int matches(const struct sl_filter *f, json_t *j)
{
	json_t *when = json_object_get(j, "when");
	int64_t t = json_is_integer(when) ? json_integer_value(when) : INT64_MIN;

	if (f->who != NULL && strcmp(field(j, "who", "user"), f->who) != 0 &&
	    strcmp(field(j, "who", "run_as"), f->who) != 0)
		return 0;
	if (f->host != NULL && strcmp(field(j, "where", "host"), f->host) != 0)
		return 0;
	if (f->source != NULL && strcmp(field(j, "src", "kind"), f->source) != 0)
		return 0;
	if (f->what != NULL && strstr(field(j, "what", "action"), f->what) == NULL &&
	    strstr(field(j, "what", "message"), f->what) == NULL)
		return 0;
	if (f->since != INT64_MIN && (t == INT64_MIN || t < f->since))
		return 0;
	if (f->until != INT64_MIN && (t == INT64_MIN || t >= f->until))
		return 0;
	return 1;
}

int sl_filter_match(const struct sl_filter *f, const void *entry, size_t size)
{
	json_error_t jerr;
	json_t *j = json_loadb(entry, size, JSON_ALLOW_NUL, &jerr);
	int yes;

	if (j == NULL) /* not an event: a store of another program, or damage */
		return 0;
	yes = json_is_object(j) && matches(f, j);
	json_decref(j);
	return yes;
}

int sl_time_parse(const char *s, int64_t *out)
{
	struct tm tm;
	char *end;
	long long secs;

	errno = 0;
	secs = strtoll(s, &end, 10);
	if (*s != '\0' && *end == '\0') {
		/* in ns, the range of int64_t: years 1678 to 2262 */
		if (errno != 0 || secs > INT64_MAX / 1000000000 || secs < INT64_MIN / 1000000000 + 1)
			return -1;
		*out = (int64_t)secs * 1000000000;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	secs = (long long)timegm(&tm);
	if (secs > INT64_MAX / 1000000000 || secs < INT64_MIN / 1000000000 + 1)
		return -1;
	*out = (int64_t)secs * 1000000000;
	return 0;
}

static int keep(struct reader *r, uint64_t index, const char *entry, size_t size)
{
	if (r->count == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		uint64_t *h = realloc(r->hits, cap * sizeof(*h));
		char **e = h != NULL ? realloc(r->entries, cap * sizeof(*e)) : NULL;

		if (h != NULL)
			r->hits = h;
		if (e == NULL)
			return SHELTER_E_NOMEM;
		r->entries = e;
		r->cap = cap;
	}
	r->entries[r->count] = strndup(entry, size);
	if (r->entries[r->count] == NULL)
		return SHELTER_E_NOMEM;
	r->hits[r->count++] = index;
	return 0;
}

static int on_entry(void *ctx, uint64_t index, const void *entry, size_t size)
{
	struct reader *r = ctx;

	if (r->tree != NULL) {
		uint8_t leaf[SHELTER_LOG_HASH];

		if (shelter_log_leaf_hash(entry, size, leaf) != 0 ||
		    shelter_log_tree_add(r->tree, leaf, NULL) != 0)
			return SHELTER_E_NOMEM;
	}
	if (r->f->limit > 0 && r->count >= r->f->limit)
		return 0;
	return sl_filter_match(r->f, entry, size) ? keep(r, index, entry, size) : 0;
}

static void reader_free(struct reader *r)
{
	for (size_t i = 0; i < r->count; i++)
		free(r->entries[i]);
	free(r->entries);
	free(r->hits);
	shelter_log_tree_free(r->tree);
}

/* Read and check the store; fill r with the events selected below the checkpoint. */
static int read_store(const struct sl_filter *f, struct reader *r,
		      struct shelter_log_checkpoint *cp, uint64_t *entries)
{
	struct shelter_log_verifier v;
	struct shelter_err err;
	char *note = NULL;
	size_t note_len = 0;
	int rc;

	if (sl_verifier_load(f->vkey, f->vkey_file, &v, &err) != 0)
		return sl_fail("verifier key", &err);
	if (f->checkpoint != NULL &&
	    sl_read_file(f->checkpoint, SHELTER_LOG_NOTE_MAX, &note, &note_len, &err) != 0)
		return sl_fail("checkpoint", &err);
	rc = shelter_log_read(f->store, &v, note, note_len, on_entry, r, entries, cp, &err);
	free(note);
	if (rc != 0)
		return sl_fail("the store does not verify", &err);
	/* Entries above the checkpoint are not vouched for: leave them out. */
	while (r->count > 0 && r->hits[r->count - 1] >= cp->size) {
		free(r->entries[--r->count]);
	}
	return 0;
}

static void print_time(int64_t ns, char *out, size_t size)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;

	if (ns == INT64_MIN || gmtime_r(&s, &tm) == NULL)
		snprintf(out, size, "-");
	else
		strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_row(uint64_t index, const char *entry)
{
	json_t *j = json_loads(entry, JSON_ALLOW_NUL, NULL), *when = json_object_get(j, "when");
	char t[32];

	print_time(json_is_integer(when) ? json_integer_value(when) : INT64_MIN, t, sizeof(t));
	printf("%-8" PRIu64 " %-20s %-16.16s %-12.12s %-10.10s %.60s\n", index, t,
	       field(j, "where", "host"), field(j, "who", "user"), field(j, "what", "result"),
	       *field(j, "what", "action") ? field(j, "what", "action")
					   : field(j, "what", "message"));
	json_decref(j);
}

int sl_query(const struct sl_filter *f)
{
	struct shelter_log_checkpoint cp;
	struct reader r = { .f = f };
	uint64_t entries = 0;
	int rc = read_store(f, &r, &cp, &entries);

	if (rc == 0) {
		if (!f->json)
			printf("%-8s %-20s %-16s %-12s %-10s %s\n", "INDEX", "WHEN (UTC)", "HOST",
			       "USER", "RESULT", "WHAT");
		for (size_t i = 0; i < r.count; i++) {
			if (f->json)
				printf("{\"index\":%" PRIu64 ",\"event\":%s}\n", r.hits[i],
				       r.entries[i]);
			else
				print_row(r.hits[i], r.entries[i]);
		}
		fflush(stdout); /* the rows before the summary on stderr */
		sl_log("%zu events match; verified against the checkpoint of size %" PRIu64
		       "%s", r.count, cp.size,
		       entries > cp.size ? " (newer events are not covered yet)" : "");
	}
	reader_free(&r);
	return rc;
}

/* ---- export: a bundle of events with inclusion proofs (§7.3) ---- */

static int write_event(FILE *out, struct shelter_log_tree *tree, uint64_t index,
		       const char *entry, uint64_t size)
{
	uint8_t proof[SHELTER_LOG_PROOF_MAX][SHELTER_LOG_HASH];
	char h64[SHELTER_B64_SIZE(SHELTER_LOG_HASH) + 1];
	size_t count;
	json_t *line, *arr;
	char *text;
	int rc;

	if (shelter_log_tree_prove_inclusion(tree, index, size, proof, &count, NULL) != 0)
		return SL_EXIT_FAIL;
	arr = json_array();
	for (size_t i = 0; i < count; i++) {
		shelter_b64_encode(proof[i], SHELTER_LOG_HASH, h64);
		json_array_append_new(arr, json_string(h64));
	}
	line = json_pack("{s:I, s:s, s:o}", "index", (json_int_t)index, "entry", entry, "proof",
			 arr);
	text = line != NULL ? json_dumps(line, JSON_COMPACT) : NULL;
	rc = text != NULL && fprintf(out, "%s\n", text) > 0 ? 0 : SL_EXIT_FAIL;
	free(text);
	json_decref(line);
	return rc;
}

int sl_export(const struct sl_filter *f, const char *out_path)
{
	struct shelter_log_checkpoint cp;
	struct shelter_err err;
	struct reader r = { .f = f };
	char vk[512], note[SHELTER_LOG_NOTE_MAX];
	uint64_t entries = 0;
	FILE *out = NULL;
	json_t *head = NULL;
	char *text = NULL;
	int rc;

	if (shelter_log_tree_new(&r.tree, &err) != 0)
		return sl_fail("export", &err);
	rc = read_store(f, &r, &cp, &entries);
	if (rc != 0)
		goto out;
	rc = SL_EXIT_FAIL;
	out = fopen(out_path, "wx");
	if (out == NULL) {
		sl_log("export: cannot create '%s' (it must not exist)", out_path);
		goto out;
	}
	/* the checkpoint the store verified against: its own, or the one given */
	if (sl_checkpoint_text(f, note, sizeof(note)) != 0 ||
	    sl_vkey_text(f, vk, sizeof(vk)) != 0)
		goto out;
	head = json_pack("{s:s, s:s, s:s}", "bundle", "streamlog/1", "vkey", vk, "checkpoint",
			 note);
	text = head != NULL ? json_dumps(head, JSON_COMPACT) : NULL;
	if (text == NULL || fprintf(out, "%s\n", text) < 0)
		goto out;
	for (size_t i = 0; i < r.count; i++)
		if (write_event(out, r.tree, r.hits[i], r.entries[i], cp.size) != 0)
			goto out;
	if (fflush(out) != 0 || fsync(fileno(out)) != 0)
		goto out;
	rc = 0;
	sl_log("exported %zu events with inclusion proofs at size %" PRIu64 " to '%s'", r.count,
	       cp.size, out_path);
out:
	if (out != NULL && fclose(out) != 0)
		rc = SL_EXIT_FAIL;
	free(text);
	json_decref(head);
	reader_free(&r);
	return rc;
}
