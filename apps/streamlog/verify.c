/* streamlog verify: a store, or an exported bundle, against a checkpoint, offline,
 * with only the public key (docs/streamlog.md §7.2, §7.3). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shelter/crypto.h"
#include "streamlog/cli.h"
#include "streamlog/common.h"
#include "util/b64.h"

int sl_checkpoint_text(const struct sl_filter *f, char *out, size_t cap)
{
	struct shelter_err err;
	char path[4096], *text = NULL;
	size_t size;

	if (f->checkpoint != NULL)
		snprintf(path, sizeof(path), "%s", f->checkpoint);
	else
		snprintf(path, sizeof(path), "%s/checkpoint", f->store);
	if (sl_read_file(path, cap - 1, &text, &size, &err) != 0)
		return sl_fail("checkpoint", &err);
	memcpy(out, text, size + 1);
	free(text);
	return 0;
}

int sl_vkey_text(const struct sl_filter *f, char *out, size_t cap)
{
	struct shelter_err err;
	char *text = NULL;
	size_t size;

	if (f->vkey != NULL) {
		snprintf(out, cap, "%s", f->vkey);
		return 0;
	}
	if (f->vkey_file == NULL || sl_read_file(f->vkey_file, cap - 1, &text, &size, &err) != 0)
		return f->vkey_file == NULL ? SL_EXIT_FAIL : sl_fail("verifier key", &err);
	text[strcspn(text, "\r\n")] = '\0';
	snprintf(out, cap, "%s", text);
	free(text);
	return 0;
}

int sl_verify_store(const struct sl_filter *f)
{
	struct shelter_log_verifier v;
	struct shelter_log_checkpoint cp;
	struct shelter_err err;
	char *note = NULL, root[2 * SHELTER_LOG_HASH + 1];
	size_t len = 0;
	uint64_t n = 0;
	int rc;

	if (sl_verifier_load(f->vkey, f->vkey_file, &v, &err) != 0)
		return sl_fail("verifier key", &err);
	if (f->checkpoint != NULL &&
	    sl_read_file(f->checkpoint, SHELTER_LOG_NOTE_MAX, &note, &len, &err) != 0)
		return sl_fail("checkpoint", &err);
	rc = shelter_log_audit(f->store, &v, note, len, &n, &cp, &err);
	free(note);
	if (rc != 0) {
		printf("NOT VERIFIED: %s\n", err.msg);
		return SL_EXIT_FAIL;
	}
	shelter_hex(cp.root, SHELTER_LOG_HASH, root);
	printf("VERIFIED: %" PRIu64 " events; the checkpoint of %s at size %" PRIu64
	       " (root %s) covers the first %" PRIu64 "\n", n, cp.origin, cp.size, root, cp.size);
	return 0;
}

/* One bundle line: {"index":N,"entry":"...","proof":["b64",...]} (§7.3). */
static int bundle_event(json_t *line, const struct shelter_log_checkpoint *cp, uint64_t *index,
			struct shelter_err *err)
{
	uint8_t proof[SHELTER_LOG_PROOF_MAX][SHELTER_LOG_HASH], leaf[SHELTER_LOG_HASH];
	json_t *idx = json_object_get(line, "index"), *entry = json_object_get(line, "entry");
	json_t *arr = json_object_get(line, "proof");
	size_t count = json_array_size(arr), got;

	if (!json_is_integer(idx) || json_integer_value(idx) < 0 || !json_is_string(entry) ||
	    !json_is_array(arr) || count > SHELTER_LOG_PROOF_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "not an event line");
	*index = (uint64_t)json_integer_value(idx);
	for (size_t i = 0; i < count; i++) {
		const char *h = json_string_value(json_array_get(arr, i));

		if (h == NULL || shelter_b64_decode(h, strlen(h), proof[i], SHELTER_LOG_HASH, &got) ||
		    got != SHELTER_LOG_HASH)
			return shelter_err_set(err, SHELTER_E_MALFORMED, "proof hash %zu", i);
	}
	if (shelter_log_leaf_hash(json_string_value(entry), json_string_length(entry), leaf) != 0)
		return shelter_err_set(err, SHELTER_E_CRYPTO, "SHA-256");
	return shelter_log_verify_inclusion(leaf, *index, cp->size,
					    (const uint8_t (*)[SHELTER_LOG_HASH])proof, count,
					    cp->root, err);
}

static int bundle_head(json_t *head, const struct shelter_log_verifier *v,
		       struct shelter_log_checkpoint *cp, struct shelter_err *err)
{
	json_t *kind = json_object_get(head, "bundle"), *note = json_object_get(head, "checkpoint");

	if (!json_is_string(kind) || strcmp(json_string_value(kind), "streamlog/1") != 0 ||
	    !json_is_string(note))
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "line 1: not a streamlog/1 bundle header");
	return shelter_log_checkpoint_open(json_string_value(note), json_string_length(note), v,
					   cp, err);
}

int sl_verify_bundle(const struct sl_filter *f, const char *bundle)
{
	struct shelter_log_verifier v;
	struct shelter_log_checkpoint cp;
	struct shelter_err err;
	FILE *in = fopen(bundle, "r");
	char *line = NULL;
	size_t cap = 0, events = 0, line_no = 0;
	int rc = 0;

	if (in == NULL) {
		sl_log("bundle '%s': cannot open", bundle);
		return SL_EXIT_FAIL;
	}
	if (sl_verifier_load(f->vkey, f->vkey_file, &v, &err) != 0) {
		fclose(in);
		return sl_fail("verifier key", &err);
	}
	while (rc == 0 && getline(&line, &cap, in) > 0) {
		json_t *j = json_loads(line, JSON_ALLOW_NUL, NULL);
		uint64_t index = 0;

		line_no++;
		if (j == NULL)
			rc = shelter_err_set(&err, SHELTER_E_MALFORMED, "not JSON");
		else if (line_no == 1)
			rc = bundle_head(j, &v, &cp, &err);
		else if ((rc = bundle_event(j, &cp, &index, &err)) == 0)
			events++;
		json_decref(j);
	}
	free(line);
	fclose(in);
	if (rc == 0 && line_no == 0)
		rc = shelter_err_set(&err, SHELTER_E_MALFORMED, "empty");
	if (rc != 0) {
		printf("NOT VERIFIED: bundle '%s' line %zu: %s\n", bundle, line_no, err.msg);
		return SL_EXIT_FAIL;
	}
	printf("VERIFIED: %zu events of %s, each included in the checkpoint at size %" PRIu64 "\n",
	       events, cp.origin, cp.size);
	return 0;
}
