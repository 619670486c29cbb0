/* The StreamLog viewer's answers (apps/streamlog/view_api.c, docs/api/streamlog-viewer.md §2 to §4),
 * without the network: a store written with the log's writer, a viewer following
 * it. Refusals first (405, 404, 400 with the reason, a store of another key), then
 * the answers' shapes checked with the log's own verifiers: the checkpoint note,
 * search results against the filter, inclusion and consistency proofs, the
 * checkpoints remembered, the page and its headers; last, an entry changed under
 * the viewer is a 409 tamper alarm that stays. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../files.h"
#include "../test.h"
#include "shelter/crypto.h"
#include "streamlog/cli.h"
#include "streamlog/view.h"
#include "util/b64.h"

#define ORIGIN "view.test/log"

static const uint8_t SEED[32] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
				  7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };
static char dir[4096];
static struct shelter_log *writer;
static struct sl_viewer *vw;
static struct shelter_log_verifier ver;

/* ---- fixtures ---- */

static void verifier_of(const uint8_t seed[32], struct shelter_log_verifier *v)
{
	uint8_t pub[32];
	char vk[512];

	if (shelter_ed25519_public(seed, pub, NULL) != 0 ||
	    shelter_log_verifier_format(ORIGIN, pub, vk, sizeof(vk), NULL) != 0 ||
	    shelter_log_verifier_parse(vk, strlen(vk), v, NULL) != 0)
		exit(2);
}

/* Event i: host h<i%3>, user u<i%2>, when 1000+i seconds. */
static void append_events(unsigned from, unsigned to)
{
	char e[256];
	uint64_t index = 0;

	for (unsigned i = from; i < to; i++) {
		int n = snprintf(e, sizeof(e),
				 "{\"src\":{\"kind\":\"syslog\"},\"v\":1,\"what\":{\"action\":"
				 "\"act %u\",\"message\":\"msg %u\"},\"when\":%u000000000,"
				 "\"where\":{\"host\":\"h%u\"},\"who\":{\"user\":\"u%u\"}}",
				 i, i, 1000 + i, i % 3, i % 2);

		if (shelter_log_append(writer, e, (size_t)n, &index, NULL) != 0)
			exit(2);
	}
	if (shelter_log_sync(writer, index, NULL) != 0 || shelter_log_anchor_now(writer, NULL) != 0)
		exit(2);
}

static void setup(void)
{
	struct shelter_log_options o = { .origin = ORIGIN, .priv = SEED, .create = 1 };
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	test_join(dir, sizeof(dir), tmp, "test_streamlog_view.XXXXXX");
	if (mkdtemp(dir) == NULL)
		exit(2);
	o.dir = dir;
	verifier_of(SEED, &ver);
	if (shelter_log_open(&o, &writer, NULL) != 0)
		exit(2);
	append_events(0, 20);
	if (sl_viewer_open(dir, &ver, &vw, NULL) != 0)
		exit(2);
}

static struct http_str S(const char *s)
{
	struct http_str r = { s, s != NULL ? strlen(s) : 0 };

	return r;
}

/* GET path?query (query NULL: none); the reply's JSON, or NULL for a page. */
static json_t *get(enum http_method m, const char *path, const char *query,
		   struct sl_view_reply *r)
{
	sl_viewer_answer(vw, m, S(path), S(query), r);
	return r->api ? json_loadb(r->body, r->size, 0, NULL) : NULL;
}

/* status and an "error" containing want */
static int refused(const char *path, const char *query, int status, const char *want)
{
	struct sl_view_reply r;
	json_t *j = get(HTTP_GET, path, query, &r);
	const char *e = json_string_value(json_object_get(j, "error"));
	int yes = r.status == status && e != NULL && strstr(e, want) != NULL;

	if (!yes)
		fprintf(stderr, "  %s?%s: %d %s\n", path, query ? query : "", r.status,
			e ? e : "(no error)");
	json_decref(j);
	sl_view_reply_free(&r);
	return yes;
}

static int hash_of(json_t *s, uint8_t out[SHELTER_LOG_HASH])
{
	size_t got;
	const char *t = json_string_value(s);

	return t != NULL && shelter_b64_decode(t, strlen(t), out, SHELTER_LOG_HASH, &got) == 0 &&
			       got == SHELTER_LOG_HASH
		       ? 0
		       : -1;
}

static size_t proof_of(json_t *arr, uint8_t (*out)[SHELTER_LOG_HASH])
{
	size_t n = json_array_size(arr);

	for (size_t i = 0; i < n && i < SHELTER_LOG_PROOF_MAX; i++)
		if (hash_of(json_array_get(arr, i), out[i]) != 0)
			return SIZE_MAX;
	return n;
}

static int open_note(json_t *note, struct shelter_log_checkpoint *cp)
{
	const char *t = json_string_value(note);

	return t != NULL ? shelter_log_checkpoint_open(t, strlen(t), &ver, cp, NULL) : -1;
}

/* ---- refusals ---- */

static void open_refuses_missing_and_foreign_stores(void)
{
	static const uint8_t other_seed[32] = { 9 };
	struct shelter_log_verifier other;
	struct sl_viewer *x = NULL;
	struct shelter_err err;

	verifier_of(other_seed, &other);
	CHECK(sl_viewer_open("/nonexistent/store", &ver, &x, &err) < 0 && x == NULL);
	CHECK_RC(sl_viewer_open(dir, &other, &x, &err), SHELTER_E_POLICY);
	CHECK(x == NULL);
}

static void only_get_405(void)
{
	static const enum http_method ms[] = { HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_DELETE };
	struct http_header h[16];

	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		struct sl_view_reply r;
		size_t n;
		int allow = 0;

		json_decref(get(ms[i], "/api/checkpoint", NULL, &r));
		n = sl_view_headers(&r, h, 16);
		for (size_t k = 0; k < n; k++)
			allow |= http_str_eq(h[k].name, "Allow") && http_str_eq(h[k].value, "GET");
		CHECK(r.status == 405 && allow && strstr(r.body, "read-only") != NULL);
		sl_view_reply_free(&r);
	}
}

static void unknown_paths_404(void)
{
	static const char *const paths[] = { "/nope", "/index.html", "/api", "/api/",
					     "/api/event/", "/api/events/1", "/api/checkpointx",
					     "/app.js/", "//", "/api/search/" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		CHECK(refused(paths[i], NULL, 404, "no such path"));
}

static void event_out_of_range_404(void)
{
	CHECK(refused("/api/event/20", NULL, 404, "no event 20 below the checkpoint's size 20"));
	CHECK(refused("/api/event/9223372036854775807", NULL, 404, "below"));
}

static void bad_parameters_400(void)
{
	static const struct {
		const char *path, *query, *want;
	} cases[] = {
		{ "/api/search", "bogus=1", "unknown parameter 'bogus'" },
		{ "/api/search", "who=a&who=b", "given twice" },
		{ "/api/search", "who=%zz", "bad percent-encoding" },
		{ "/api/search", "who=%00", "bad percent-encoding" },
		{ "/api/search", "limit=0", "limit: want 1 to 200" },
		{ "/api/search", "limit=201", "limit" },
		{ "/api/search", "limit=-1", "limit" },
		{ "/api/search", "limit=07", "limit" },
		{ "/api/search", "since=yesterday", "since: want RFC 3339" },
		{ "/api/search", "until=99999999999999999999", "until" },
		{ "/api/search", "since=2026-13-01T00:00:00Z", "since" },
		{ "/api/search", "before=x", "before" },
		{ "/api/event/x", NULL, "decimal index" },
		{ "/api/event/01", NULL, "decimal index" },
		{ "/api/event/-1", NULL, "decimal index" },
		{ "/api/event/18446744073709551616", NULL, "decimal index" },
		{ "/api/event/1", "x=1", "no parameters" },
		{ "/api/consistency", NULL, "want from=M&to=N" },
		{ "/api/consistency", "from=1", "want from=M&to=N" },
		{ "/api/consistency", "from=5&to=2", "from <= to <= 20" },
		{ "/api/consistency", "from=1&to=21", "from <= to <= 20" },
		{ "/api/consistency", "from=1&to=2&x=3", "unknown parameter 'x'" },
		{ "/api/checkpoint", "x=1", "no parameters" },
		{ "/api/checkpoints", "x", "no parameters" },
		{ "/api/search", "\x01\x80=1", "unknown parameter '?\?'" }, /* never echoed raw */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(refused(cases[i].path, cases[i].query, 400, cases[i].want));
}

/* The matching shared with `streamlog query` (cli.h). */
static void filter_and_time_refusals(void)
{
	struct sl_filter f = { .since = INT64_MIN, .until = INT64_MIN };
	int64_t t = 0;

	CHECK(sl_filter_match(&f, "not json", 8) == 0);
	CHECK(sl_filter_match(&f, "[1,2]", 5) == 0); /* JSON, but not an event */
	CHECK(sl_filter_match(&f, "{}", 2) == 1);
	f.host = "h1";
	CHECK(sl_filter_match(&f, "{}", 2) == 0);
	CHECK(sl_filter_match(&f, "{\"where\":{\"host\":\"h1\"}}", 23) == 1);
	CHECK(sl_time_parse("", &t) == -1 && sl_time_parse("1e3", &t) == -1);
	CHECK(sl_time_parse("9223372037", &t) == -1); /* past 2262 in ns */
	CHECK(sl_time_parse("-9223372037", &t) == -1);
	CHECK(sl_time_parse("2026-11-23T04:00:00", &t) == -1); /* UTC only: the Z */
	CHECK(sl_time_parse("9223372036", &t) == 0 && t == 9223372036000000000);
	CHECK(sl_time_parse("2026-11-23T04:00:00Z", &t) == 0 && t == 1795406400000000000);
}

/* ---- answers ---- */

static void checkpoint_answer_verifies(void)
{
	struct shelter_log_checkpoint cp;
	struct sl_view_reply r;
	uint8_t root[SHELTER_LOG_HASH];
	char vk[512];
	json_t *j = get(HTTP_GET, "/api/checkpoint", NULL, &r);

	CHECK(r.status == 200 && j != NULL);
	CHECK_OK(open_note(json_object_get(j, "note"), &cp));
	CHECK(cp.size == 20 && json_integer_value(json_object_get(j, "size")) == 20);
	CHECK(hash_of(json_object_get(j, "root"), root) == 0);
	CHECK_MEM(root, cp.root, SHELTER_LOG_HASH);
	CHECK_OK(shelter_log_verifier_format(ver.name, ver.pub, vk, sizeof(vk), NULL));
	CHECK(strcmp(json_string_value(json_object_get(j, "vkey")), vk) == 0);
	CHECK(json_object_get(j, "alarm") == NULL);
	json_decref(j);
	sl_view_reply_free(&r);
}

/* indexes of a search answer, newest first, as "19,16,..." */
static void search_indexes(const char *query, char *out, size_t cap, int *more)
{
	struct sl_view_reply r;
	json_t *j = get(HTTP_GET, "/api/search", query, &r), *ev;
	size_t i, n = 0;

	out[0] = '\0';
	*more = json_is_true(json_object_get(j, "more"));
	json_array_foreach(json_object_get(j, "events"), i, ev)
		n += (size_t)snprintf(out + n, cap - n, "%s%lld", i ? "," : "",
				      (long long)json_integer_value(json_object_get(ev, "index")));
	json_decref(j);
	sl_view_reply_free(&r);
}

static void search_selects_newest_first(void)
{
	char got[512];
	int more;

	search_indexes("host=h1", got, sizeof(got), &more);
	CHECK(strcmp(got, "19,16,13,10,7,4,1") == 0 && !more);
	search_indexes("host=h1&who=u0&what=act", got, sizeof(got), &more);
	CHECK(strcmp(got, "16,10,4") == 0);
	search_indexes("what=msg%201", got, sizeof(got), &more); /* "msg 1", "msg 10".. */
	CHECK(strcmp(got, "19,18,17,16,15,14,13,12,11,10,1") == 0);
	search_indexes("since=1005&until=1008", got, sizeof(got), &more);
	CHECK(strcmp(got, "7,6,5") == 0);
	search_indexes("since=1970-01-01T00:16:45Z&limit=2", got, sizeof(got), &more);
	CHECK(strcmp(got, "19,18") == 0 && more);
	search_indexes("before=18&limit=2", got, sizeof(got), &more); /* the next page */
	CHECK(strcmp(got, "17,16") == 0 && more);
	search_indexes("host=&who=&source=syslog&before=2", got, sizeof(got), &more);
	CHECK(strcmp(got, "1,0") == 0 && !more); /* empty fields: no filter */
	search_indexes("host=nobody", got, sizeof(got), &more);
	CHECK(strcmp(got, "") == 0 && !more);
}

static void search_entries_are_the_exact_bytes(void)
{
	struct sl_view_reply r;
	json_t *j = get(HTTP_GET, "/api/search", "host=h2&limit=1", &r);
	json_t *ev = json_array_get(json_object_get(j, "events"), 0);
	char want[65536];
	size_t size;

	CHECK(ev != NULL && json_integer_value(json_object_get(ev, "index")) == 17);
	CHECK_OK(shelter_log_get(writer, 17, want, sizeof(want), &size, NULL));
	CHECK(json_string_length(json_object_get(ev, "entry")) == size);
	CHECK_MEM(json_string_value(json_object_get(ev, "entry")), want, size);
	CHECK(json_integer_value(json_object_get(j, "size")) == 20);
	json_decref(j);
	sl_view_reply_free(&r);
}

static void event_proof_verifies(void)
{
	uint8_t proof[SHELTER_LOG_PROOF_MAX][SHELTER_LOG_HASH], leaf[SHELTER_LOG_HASH];
	struct shelter_log_checkpoint cp;
	struct sl_view_reply r;
	json_t *j = get(HTTP_GET, "/api/event/5", NULL, &r), *entry;
	size_t count;

	CHECK(r.status == 200 && j != NULL);
	CHECK(json_integer_value(json_object_get(j, "index")) == 5);
	CHECK(json_integer_value(json_object_get(j, "size")) == 20);
	CHECK_OK(open_note(json_object_get(j, "note"), &cp));
	entry = json_object_get(j, "entry");
	CHECK(strstr(json_string_value(entry), "\"act 5\"") != NULL);
	CHECK_OK(shelter_log_leaf_hash(json_string_value(entry), json_string_length(entry), leaf));
	count = proof_of(json_object_get(j, "proof"), proof);
	CHECK(count != SIZE_MAX);
	CHECK_OK(shelter_log_verify_inclusion(leaf, 5, cp.size,
					      (const uint8_t (*)[SHELTER_LOG_HASH])proof, count,
					      cp.root, NULL));
	json_decref(j);
	sl_view_reply_free(&r);
}

static void checkpoints_remembered_and_consistent(void)
{
	uint8_t proof[SHELTER_LOG_PROOF_MAX][SHELTER_LOG_HASH];
	struct shelter_log_checkpoint a, b;
	struct sl_view_reply r;
	json_t *j, *list;
	size_t count;

	append_events(20, 27);
	sl_viewer_refresh(vw, 1);
	CHECK(sl_viewer_size(vw) == 27);
	j = get(HTTP_GET, "/api/checkpoints", NULL, &r);
	list = json_object_get(j, "checkpoints");
	CHECK(json_array_size(list) == 2);
	CHECK_OK(open_note(json_object_get(json_array_get(list, 0), "note"), &b));
	CHECK_OK(open_note(json_object_get(json_array_get(list, 1), "note"), &a));
	CHECK(a.size == 20 && b.size == 27);
	json_decref(j);
	sl_view_reply_free(&r);

	j = get(HTTP_GET, "/api/consistency", "from=20&to=27", &r);
	CHECK(r.status == 200 && json_is_string(json_object_get(j, "note_from")));
	count = proof_of(json_object_get(j, "proof"), proof);
	CHECK(count != SIZE_MAX && count > 0);
	/* with the roots of the signed notes, not the answer's root_from/root_to */
	CHECK_OK(shelter_log_verify_consistency(20, 27, (const uint8_t (*)[SHELTER_LOG_HASH])proof,
						count, a.root, b.root, NULL));
	json_decref(j);
	sl_view_reply_free(&r);

	j = get(HTTP_GET, "/api/consistency", "from=0&to=27", &r);
	CHECK(r.status == 200 && json_array_size(json_object_get(j, "proof")) == 0);
	CHECK(json_is_null(json_object_get(j, "note_from")));
	json_decref(j);
	sl_view_reply_free(&r);
}

static void page_and_headers(void)
{
	struct http_header h[16];
	struct sl_view_reply r;
	size_t n;
	int csp = 0, nosniff = 0, cache = 0;

	get(HTTP_GET, "/", "vkey=anything", &r); /* the page ignores its query: the JS reads it */
	CHECK(r.status == 200 && strncmp(r.type, "text/html", 9) == 0 && !r.api);
	CHECK(strstr(r.body, "<script src=\"/app.js\"") != NULL && strstr(r.body, "<script>") == NULL);
	n = sl_view_headers(&r, h, 16);
	for (size_t i = 0; i < n; i++) {
		csp |= http_str_eq(h[i].name, "Content-Security-Policy") &&
		       memmem(h[i].value.p, h[i].value.len, "script-src 'self'", 17) != NULL;
		nosniff |= http_str_eq(h[i].name, "X-Content-Type-Options");
		cache |= http_str_eq(h[i].name, "Cache-Control") && http_str_eq(h[i].value, "no-cache");
	}
	CHECK(csp && nosniff && cache);
	sl_view_reply_free(&r);
	get(HTTP_GET, "/app.js", NULL, &r);
	CHECK(r.status == 200 && strncmp(r.type, "text/javascript", 15) == 0);
	CHECK(strstr(r.body, "verifyInclusion") != NULL);
	sl_view_reply_free(&r);
	json_decref(get(HTTP_GET, "/api/checkpoint", NULL, &r));
	n = sl_view_headers(&r, h, 16);
	cache = 0;
	for (size_t i = 0; i < n; i++)
		cache |= http_str_eq(h[i].name, "Cache-Control") && http_str_eq(h[i].value, "no-store");
	CHECK(cache && strcmp(r.type, "application/json") == 0);
	sl_view_reply_free(&r);
}

/* Last: it changes the store. docs/api/streamlog-viewer.md §4: a 409, and the alarm stays. */
static void changed_entry_is_a_tamper_alarm(void)
{
	char path[4096], *log;
	struct sl_view_reply r;
	size_t size;
	char *at;
	json_t *j;
	FILE *f;

	test_join(path, sizeof(path), dir, "log");
	log = test_slurp(path, &size);
	CHECK(log != NULL);
	at = memmem(log, size, "\"act 3\"", 7);
	CHECK(at != NULL);
	f = fopen(path, "r+b");
	CHECK(f != NULL);
	fseek(f, (long)(at - log) + 5, SEEK_SET);
	fputc('9', f);
	fclose(f);
	free(log);
	CHECK(refused("/api/event/3", NULL, 409, "changed"));
	CHECK(refused("/api/search", "host=h0", 409, "changed")); /* it reads entry 3 too */
	j = get(HTTP_GET, "/api/checkpoint", NULL, &r);
	CHECK(strstr(json_string_value(json_object_get(j, "alarm")), "entry 3") != NULL);
	json_decref(j);
	sl_view_reply_free(&r);
	j = get(HTTP_GET, "/api/event/4", NULL, &r); /* the others still answer, alarm aside */
	CHECK(r.status == 200);
	json_decref(j);
	sl_view_reply_free(&r);
}

int main(void)
{
	test_binary = "test_streamlog_view";
	setup();
	RUN(open_refuses_missing_and_foreign_stores);
	RUN(only_get_405);
	RUN(unknown_paths_404);
	RUN(event_out_of_range_404);
	RUN(bad_parameters_400);
	RUN(filter_and_time_refusals);
	RUN(checkpoint_answer_verifies);
	RUN(search_selects_newest_first);
	RUN(search_entries_are_the_exact_bytes);
	RUN(event_proof_verifies);
	RUN(checkpoints_remembered_and_consistent);
	RUN(page_and_headers);
	RUN(changed_entry_is_a_tamper_alarm);
	sl_viewer_close(vw);
	if (shelter_log_close(writer, NULL) != 0)
		test_total_failed++;
	test_rm_tree(dir);
	return test_total_failed ? 1 : 0;
}
