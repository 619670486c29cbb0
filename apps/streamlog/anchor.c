/* StreamLog's freshness anchor (anchor.h; docs/streamlog.md §5, docs/formats/log.md
 * §7.2). The state kept is the signed checkpoint note exactly as the log hands it
 * over: it is public and signed by the log's key, so it needs no sealing; what the
 * service adds is that an older note is never taken for the latest (freshness.md
 * §2.2 P1, P3), which is what a host that rolls back the store and DIR/anchor
 * together cannot get past. Called by the log from one thread at a time (log.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "freshness/client.h"
#include "shelter/crypto.h"
#include "streamlog/anchor.h"

struct sl_anchor {
	char addr[256];
	char what[400];
	uint8_t genesis[FR_HASH];
	uint8_t handle[FR_HASH];
	struct fresh_policy_loaded policy;
	struct fresh_client *client; /* NULL until first used, and after a failure */
	int have;                    /* the handle holds a state: height and tail are its latest */
	uint64_t height;
	uint8_t tail[FR_HASH];
	char *pending; /* a note whose write failed: it may have reached the service */
	size_t pending_len;
};

static int hex32(const char *s, uint8_t out[32])
{
	return s != NULL && strlen(s) == 64 && shelter_unhex(s, out, 32) == 0 ? 0 : -1;
}

const char *sl_fresh_config_check(const struct sl_fresh_config *cfg, const char *anchor_path)
{
	uint8_t x[32];

	if (cfg->addr == NULL)
		return cfg->genesis != NULL || cfg->provider != NULL || cfg->measurement != NULL ||
			       cfg->accept_sim
		       ? "the --freshness-* options need --freshness HOST:PORT"
		       : NULL;
	if (cfg->genesis == NULL || cfg->provider == NULL)
		return "--freshness needs --freshness-genesis HEX (the service's genesis, pinned) "
		       "and --freshness-provider DIR (who enrolled the endorsers' platforms)";
	if (hex32(cfg->genesis, x) != 0)
		return "--freshness-genesis: want 64 hex digits";
	if (cfg->measurement != NULL && hex32(cfg->measurement, x) != 0)
		return "--freshness-measurement: want 64 hex digits";
	if (anchor_path != NULL)
		return "--anchor-file and --freshness exclude each other: the checkpoint is "
		       "anchored in one place";
	return NULL;
}

void sl_anchor_handle(const char *origin, uint8_t out[32])
{
	uint8_t buf[sizeof(SL_ANCHOR_LABEL) + SHELTER_LOG_ORIGIN_MAX];
	size_t n = strnlen(origin, SHELTER_LOG_ORIGIN_MAX);

	memcpy(buf, SL_ANCHOR_LABEL, sizeof(SL_ANCHOR_LABEL)); /* with its NUL */
	memcpy(buf + sizeof(SL_ANCHOR_LABEL), origin, n);
	SHA256(buf, sizeof(SL_ANCHOR_LABEL) + n, out);
}

/* The shelter executable beside this one: the endorsers run the same release. */
static int shelter_beside(char *out, size_t cap, struct shelter_err *err)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return shelter_err_set(err, SHELTER_E_IO, "cannot find this executable");
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL ||
	    snprintf(out, cap, "%.*s/shelter", (int)(slash - self), self) >= (int)cap)
		return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "path of this executable");
	return access(out, X_OK) == 0
		       ? 0
		       : shelter_err_set(err, SHELTER_E_NOENT, "no --freshness-measurement, and no "
					 "'%s' to measure the endorsers' code from", out);
}

static int load_policy(struct sl_anchor *a, const struct sl_fresh_config *cfg,
		       struct shelter_err *err)
{
	const char *providers[1] = { cfg->provider };
	uint8_t m[1][SHELTER_MEASUREMENT_SIZE];
	char program[PATH_MAX];
	struct fresh_policy_args in = {
		.providers = providers, .nproviders = 1,
		.measurements = (const uint8_t (*)[SHELTER_MEASUREMENT_SIZE])m,
		.accept_sim = cfg->accept_sim,
	};
	int rc = 0;

	if (cfg->measurement != NULL && hex32(cfg->measurement, m[0]) != 0)
		return shelter_err_set(err, SHELTER_E_INVAL, "--freshness-measurement: want 64 hex "
				       "digits");
	if (cfg->measurement != NULL)
		in.nmeasurements = 1;
	else if ((rc = shelter_beside(program, sizeof(program), err)) == 0)
		in.endorser_program = program;
	if (rc == 0)
		rc = fresh_policy_load(&in, &a->policy, err);
	return rc;
}

/* ---- talking to the service ---- */

/* Connected, or connect now. Any failure of the open is a failure, a NOENT too (a
 * service that shows no genesis): only a read's NOENT says "never created". */
static int connected(struct sl_anchor *a, struct shelter_err *err)
{
	if (a->client != NULL)
		return 0;
	return fresh_client_open(a->addr, a->genesis, &a->policy.policy, &a->client, err);
}

/* After a call that returned rc on attempt: 1 to try once more. A failed call leaves
 * the connection in an unknown state (an answer half read): it is dropped either
 * way, and only a network error is worth a second connection at once. */
static int again(struct sl_anchor *a, int rc, int attempt)
{
	if (rc == 0)
		return 0;
	fresh_client_close(a->client);
	a->client = NULL;
	return attempt == 0 && (rc == SHELTER_E_NET || rc == SHELTER_E_IO);
}

static int read_latest(struct sl_anchor *a, struct fresh_state *st, int *absent,
		       struct shelter_err *err)
{
	int rc;

	*absent = 0;
	for (int attempt = 0;; attempt++) {
		rc = connected(a, err);
		if (rc == 0) {
			rc = fresh_client_read(a->client, a->handle, st, err);
			if (rc == SHELTER_E_NOENT) { /* f + 1 endorsers: never created */
				*absent = 1;
				return 0;
			}
		}
		if (!again(a, rc, attempt))
			return rc;
	}
}

/* The note as the handle's next state: create at the first, else append at
 * height + 1 on the tail (freshness.md §6.1). Writing the same bytes again at the
 * same height is answered as done when the first write got through (§4.2). */
static int write_note(struct sl_anchor *a, const char *note, size_t len, struct shelter_err *err)
{
	uint8_t tail[FR_HASH];
	int rc;

	for (int attempt = 0;; attempt++) {
		rc = connected(a, err);
		if (rc == 0 && a->have)
			rc = fresh_client_append(a->client, a->handle, a->height + 1, a->tail,
						 (const uint8_t *)note, len, tail, err);
		else if (rc == 0)
			rc = fresh_client_create(a->client, a->handle, (const uint8_t *)note, len,
						 tail, err);
		if (!again(a, rc, attempt))
			break;
	}
	if (rc != 0)
		return rc;
	a->height = a->have ? a->height + 1 : 0;
	a->have = 1;
	memcpy(a->tail, tail, FR_HASH);
	return 0;
}

/* Connect now: a service that is down, shows another genesis or endorsers the policy
 * refuses stops the start before the store is touched. */
static int connect_at_start(struct sl_anchor *a, struct shelter_err *err)
{
	int rc;

	for (int attempt = 0;; attempt++) {
		rc = connected(a, err);
		if (!again(a, rc, attempt))
			break;
	}
	return rc != 0 ? shelter_err_wrap(err, rc, "refusing to start unanchored") : 0;
}

/* ---- set-up ---- */

int sl_anchor_new(const struct sl_fresh_config *cfg, const char *origin, struct sl_anchor **out,
		  struct shelter_err *err)
{
	struct sl_anchor *a = calloc(1, sizeof(*a));
	char hex[2 * FR_HASH + 1];
	int rc;

	*out = NULL;
	if (a == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "freshness anchor: out of memory");
	snprintf(a->addr, sizeof(a->addr), "%s", cfg->addr);
	sl_anchor_handle(origin, a->handle);
	shelter_hex(a->handle, FR_HASH, hex);
	snprintf(a->what, sizeof(a->what), "freshness service %s, handle %s", a->addr, hex);
	rc = hex32(cfg->genesis, a->genesis) == 0
		     ? load_policy(a, cfg, err)
		     : shelter_err_set(err, SHELTER_E_INVAL, "--freshness-genesis: want 64 hex "
				       "digits");
	if (rc == 0)
		rc = connect_at_start(a, err);
	if (rc != 0) {
		sl_anchor_free(a);
		return shelter_err_wrap(err, rc, "freshness anchor");
	}
	*out = a;
	return 0;
}

void sl_anchor_free(struct sl_anchor *a)
{
	if (a == NULL)
		return;
	fresh_client_close(a->client);
	fresh_policy_unload(&a->policy);
	free(a->pending);
	free(a);
}

const char *sl_anchor_describe(const struct sl_anchor *a)
{
	return a->what;
}

/* ---- the log's anchor (log.h, log.md §7) ---- */

static int anchor_load(void *ctx, char **out, size_t *len, struct shelter_err *err)
{
	struct sl_anchor *a = ctx;
	struct fresh_state st = { 0 };
	char *note = NULL;
	int absent = 0, rc = read_latest(a, &st, &absent, err);

	*out = NULL;
	*len = 0;
	if (rc == 0 && st.len > SHELTER_LOG_NOTE_MAX)
		rc = shelter_err_set(err, SHELTER_E_MALFORMED, "the state at height %llu is %zu "
				     "bytes: not a checkpoint note", (unsigned long long)st.height,
				     st.len);
	if (rc == 0 && !absent && (note = malloc(st.len + 1)) == NULL)
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "out of memory");
	if (rc != 0) {
		free(st.state);
		return shelter_err_wrap(err, rc, "freshness anchor: refusing to start unanchored");
	}
	a->have = !absent;
	if (absent) {
		shelter_err_clear(err);
		return 0;
	}
	memcpy(note, st.state, st.len);
	note[st.len] = '\0';
	free(st.state);
	a->height = st.height;
	memcpy(a->tail, st.tail, FR_HASH);
	*out = note;
	*len = st.len;
	return 0;
}

static int anchor_store(void *ctx, const char *note, size_t len, struct shelter_err *err)
{
	struct sl_anchor *a = ctx;
	int rc = 0;

	/* A write that failed may have got through in part (its block stored, a step
	 * at an endorser: freshness.md §6.3 step 4). Writing another note at that
	 * height could then never be certified; the same one finishes it. */
	if (a->pending != NULL) {
		rc = write_note(a, a->pending, a->pending_len, err);
		if (rc != 0)
			return shelter_err_wrap(err, rc, "freshness anchor");
		free(a->pending);
		a->pending = NULL;
	}
	rc = write_note(a, note, len, err);
	if (rc != 0) {
		a->pending = malloc(len);
		if (a->pending != NULL) {
			memcpy(a->pending, note, len);
			a->pending_len = len;
		}
		return shelter_err_wrap(err, rc, "freshness anchor");
	}
	return 0;
}

void sl_anchor_hooks(struct sl_anchor *a, struct shelter_log_anchor *out)
{
	out->load = anchor_load;
	out->store = anchor_store;
	out->ctx = a;
}
