/* The StreamLog audit adapter: docs/streamlog.md §3.2. Refusals and
 * skipped input first (§3.2.1, §3.2.5), then the golden files of
 * tests/vectors/streamlog/audit/ (hand-written records, and records captured from
 * this kernel by a private auditd: README.md there), every split of a stream, the
 * W mapping (§3.2.3, §3.2.4) and the completion rules (§3.2.2). No auditd needed. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../files.h"
#include "../test.h"
#include "streamlog/audit.h"

#define VEC "tests/vectors/streamlog/audit/"
#define HOST "testhost"

/* What emit received: each event's canonical JSON and "\n", checked as JSON. */
struct sink {
	char *buf;
	size_t len, cap;
	int count, fail_first, bad_json;
	struct sl_audit *a; /* set: emit tries to re-enter, the code kept in reenter_rc */
	int reenter_rc;
};

static int collect(void *ctx, const struct sl_event *e, struct shelter_err *err)
{
	static char json[SL_EVENT_JSON_MAX];
	struct sink *s = ctx;
	json_t *j;
	size_t n;
	int rc;

	s->count++;
	if (s->a != NULL)
		s->reenter_rc = sl_audit_feed(s->a, "\n", 1, NULL);
	if (s->fail_first && s->count == 1)
		return shelter_err_set(err, SHELTER_E_IO, "disk full");
	rc = sl_event_json(e, json, sizeof(json), &n, err);
	if (rc != 0)
		return rc;
	j = json_loadb(json, n, JSON_REJECT_DUPLICATES, NULL);
	s->bad_json += j == NULL || n > SL_EVENT_JSON_MAX;
	json_decref(j);
	if (s->len + n + 1 > s->cap) {
		size_t cap = (s->len + n + 1) * 2;
		char *p = realloc(s->buf, cap);

		if (p == NULL)
			return SHELTER_E_NOMEM;
		s->buf = p;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, json, n);
	s->buf[s->len + n] = '\n';
	s->len += n + 1;
	return 0;
}

static void sink_free(struct sink *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

/* Feed text whole (pieces of `piece` bytes when non-zero), flush; 0 or first rc. */
static int run(struct sink *s, const char *text, size_t len, size_t piece,
	       struct sl_audit_stats *st, struct shelter_err *err)
{
	struct sl_audit *a = NULL;
	int rc, first = 0;

	rc = sl_audit_new(HOST, NULL, collect, s, &a, err);
	if (rc != 0)
		return rc;
	for (size_t off = 0; off < len;) {
		size_t n = piece == 0 || len - off < piece ? len - off : piece;

		rc = sl_audit_feed(a, text + off, n, err);
		first = first != 0 ? first : rc;
		off += n;
	}
	rc = sl_audit_flush(a, err);
	first = first != 0 ? first : rc;
	if (st != NULL)
		sl_audit_stats(a, st);
	sl_audit_free(a);
	return first;
}

static char *slurp_vec(const char *name, size_t *size)
{
	char *p = test_slurp_in(VEC, name, size);

	if (p == NULL) {
		fprintf(stderr, "missing vector %s%s\n", VEC, name);
		exit(2);
	}
	return p;
}

/* The i-th event's JSON (0-based) of s as a jansson object (caller decrefs). */
static json_t *event_at(const struct sink *s, int i)
{
	const char *p = s->buf, *end = s->buf + s->len;

	for (; i > 0 && p < end; i--)
		p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
	if (p >= end)
		return NULL;
	return json_loadb(p, (size_t)((const char *)memchr(p, '\n', (size_t)(end - p)) - p), 0,
			  NULL);
}

/* The first event whose src.seq is seq and whose what.action starts with prefix. */
static json_t *event_seq(const struct sink *s, json_int_t seq, const char *prefix)
{
	for (int i = 0; i < s->count; i++) {
		json_t *j = event_at(s, i);
		const char *act = json_string_value(json_object_get(json_object_get(j, "what"),
								    "action"));

		if (json_integer_value(json_object_get(json_object_get(j, "src"), "seq")) == seq &&
		    act != NULL && strncmp(act, prefix, strlen(prefix)) == 0)
			return j;
		json_decref(j);
	}
	return NULL;
}

static const char *str_at(json_t *j, const char *obj, const char *key)
{
	return json_string_value(json_object_get(obj ? json_object_get(j, obj) : j, key));
}

static json_int_t int_at(json_t *j, const char *obj, const char *key)
{
	json_t *v = json_object_get(obj ? json_object_get(j, obj) : j, key);

	return v != NULL ? json_integer_value(v) : -1;
}

#define GOOD "type=USER_AUTH msg=audit(1700000000.123:4567): pid=2345 uid=0 auid=4294967295 " \
	     "ses=4294967295 msg='op=PAM:authentication acct=\"bob\" exe=\"/usr/sbin/sshd\" "  \
	     "hostname=? addr=203.0.113.7 terminal=ssh res=failed'\n"

/* ---- refusals ---- */

static int nop(void *ctx, const struct sl_event *e, struct shelter_err *err)
{
	(void)ctx, (void)e, (void)err;
	return 0;
}

static void new_refuses_bad_arguments(void)
{
	char long_host[300];
	struct sl_audit *a = (struct sl_audit *)&a;
	struct shelter_err err;

	memset(long_host, 'h', 256);
	long_host[256] = '\0';
	CHECK_RC(sl_audit_new(NULL, NULL, nop, NULL, &a, &err), SHELTER_E_INVAL);
	CHECK(a == NULL);
	CHECK_RC(sl_audit_new("", NULL, nop, NULL, &a, &err), SHELTER_E_INVAL);
	CHECK_RC(sl_audit_new(long_host, NULL, nop, NULL, &a, &err), SHELTER_E_INVAL);
	CHECK_RC(sl_audit_new(HOST, NULL, NULL, NULL, &a, &err), SHELTER_E_INVAL);
	CHECK(strstr(err.msg, "audit: host name") != NULL);
	long_host[255] = '\0';
	CHECK_OK(sl_audit_new(long_host, "src", nop, NULL, &a, &err));
	sl_audit_free(a);
	sl_audit_free(NULL);
}

/* §3.2.1: each bad line is skipped and named; the good line after it still counts */
static void malformed_lines_are_skipped(void)
{
	static const struct {
		const char *line, *why;
	} bad[] = {
		{ "garbage", "no type=" },
		{ "type=USER_AUTH", "no msg=audit(" },
		{ "type=USER_AUTH msg=audit(1700000000.123:4567)", "timestamp" },
		{ "type=USER_AUTH msg=audit(1700000000.12:4567): x=1", "timestamp" },
		{ "type=USER_AUTH msg=audit(1700000000.1234:4567): x=1", "timestamp" },
		{ "type=USER_AUTH msg=audit(99999999999.123:4567): x=1", "timestamp" },
		{ "type=USER_AUTH msg=audit(9223372036.000:1): x=1", "timestamp" },
		{ "type=USER_AUTH msg=audit(1.000:1234567890123456789): x=1", "timestamp" },
		{ "type=USER_AUTH msg=audit(1.000:): x=1", "timestamp" },
		{ "type=USER_AUTH msg=audit(1.000:1):x=1", "no space after" },
		{ "type= msg=audit(1.000:1): x=1", "record type" },
		{ "type=USER AUTH msg=audit(1.000:1): x=1", "no msg=audit(" },
		{ "type=ABCDEFGHIJKLMNOPQRSTUVWXY msg=audit(1.000:1): x=1", "record type" },
		{ "node= type=USER_AUTH msg=audit(1.000:1): x=1", "node=" },
		{ "node=host", "node=" },
		{ " type=USER_AUTH msg=audit(1.000:1): x=1", "no type=" },
		{ "type=USER_AUTH msg=audit(1.000:1): a=\0b", "a NUL byte" },
		{ "type=CWD msg=audit(1.000:1): cwd=\"/a\" msg='cwd=\"/b\"'", "cwd= twice" },
		{ "type=1307 msg=audit(1.000:1): cwd=\"/a\" (cwd=\"/b\"", "cwd= twice" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sink s = { 0 };
		struct sl_audit_stats st;
		struct shelter_err err;
		char text[512], want[128];
		size_t n = strlen(bad[i].line);

		if (strstr(bad[i].why, "NUL") != NULL)
			n = 40;
		memcpy(text, bad[i].line, n);
		text[n] = '\n';
		memcpy(text + n + 1, GOOD, strlen(GOOD));
		shelter_err_clear(&err);
		CHECK_RC(run(&s, text, n + 1 + strlen(GOOD), 0, &st, &err), SHELTER_E_MALFORMED);
		snprintf(want, sizeof(want), "audit: line 1: ");
		CHECK(strncmp(err.msg, want, strlen(want)) == 0);
		CHECK(strstr(err.msg, bad[i].why) != NULL);
		CHECK(strstr(err.msg, ": skipped") != NULL);
		CHECK(s.count == 1 && st.malformed == 1 && st.lines == 2 && st.events == 1);
		sink_free(&s);
	}
}

/* §3.2.1: SL_AUDIT_LINE_MAX bytes are read; one more and the line is skipped, also
 * when it arrives in pieces; the next line is read */
static void long_lines_are_skipped(void)
{
	size_t big = 70000, n;
	char *text = malloc(big + 2 * SL_AUDIT_LINE_MAX + 1024);
	struct sl_audit_stats st;
	struct shelter_err err;
	struct sink s = { 0 };
	json_t *j;

	CHECK(text != NULL);
	/* a 70,000-byte record, then a good one, fed 1,000 bytes at a time */
	n = (size_t)sprintf(text, "type=USER_AUTH msg=audit(1700000000.100:1): text=");
	memset(text + n, 'x', big - n);
	text[big] = '\n';
	memcpy(text + big + 1, GOOD, strlen(GOOD));
	CHECK_RC(run(&s, text, big + 1 + strlen(GOOD), 1000, &st, &err), SHELTER_E_MALFORMED);
	CHECK(strcmp(err.msg, "audit: line 1: over SL_AUDIT_LINE_MAX (32768) bytes: skipped") == 0);
	CHECK(s.count == 1 && st.too_long == 1 && st.malformed == 0 && st.lines == 2);
	sink_free(&s);

	/* exactly SL_AUDIT_LINE_MAX bytes: read, and raw is cut to its budget */
	n = (size_t)sprintf(text, "type=USER_AUTH msg=audit(1700000000.100:1): res=success text=");
	memset(text + n, 'y', SL_AUDIT_LINE_MAX - n);
	text[SL_AUDIT_LINE_MAX] = '\n';
	CHECK_OK(run(&s, text, SL_AUDIT_LINE_MAX + 1, 0, &st, &err));
	CHECK(s.count == 1 && st.too_long == 0 && s.bad_json == 0);
	j = event_at(&s, 0);
	CHECK(json_is_true(json_object_get(j, "trunc")));
	CHECK(strlen(str_at(j, NULL, "raw")) == 16384);
	json_decref(j);
	sink_free(&s);

	/* one byte more: skipped */
	text[SL_AUDIT_LINE_MAX] = 'y';
	text[SL_AUDIT_LINE_MAX + 1] = '\n';
	CHECK_RC(run(&s, text, SL_AUDIT_LINE_MAX + 2, 0, &st, &err), SHELTER_E_MALFORMED);
	CHECK(s.count == 0 && st.too_long == 1);
	sink_free(&s);
	free(text);
}

/* §3.2.5: an unterminated last line is skipped at flush (it may be cut inside a
 * value: "uid=10" of "uid=1000"); an event cut short is emitted with what it has */
static void truncated_input(void)
{
	static const char cut[] = GOOD "type=USER_AUTH msg=audit(1700000000.200:4568): pid=23 uid=10";
	static const char cut_event[] =
		"type=SYSCALL msg=audit(1700000000.300:50): arch=c000003e syscall=59 success=yes "
		"exit=0 items=1 ppid=1 pid=2 auid=1000 uid=1000 euid=1000 tty=pts0 ses=3 "
		"comm=\"ls\" exe=\"/usr/bin/ls\" key=(null)\n"
		"type=EXECVE msg=audit(1700000000.300:50): argc=2 a0=\"ls\" a1=\"/tmp\"\n";
	struct sl_audit_stats st;
	struct shelter_err err;
	struct sink s = { 0 };
	json_t *j;

	CHECK_RC(run(&s, cut, strlen(cut), 7, &st, &err), SHELTER_E_TRUNCATED);
	CHECK(strcmp(err.msg, "audit: input ends inside line 2 (60 bytes, no LF): skipped") == 0);
	CHECK(s.count == 1 && st.truncated == 1 && st.lines == 1);
	sink_free(&s);

	CHECK_OK(run(&s, cut_event, strlen(cut_event), 0, &st, &err));
	CHECK(s.count == 1);
	j = event_at(&s, 0);
	CHECK(strcmp(str_at(j, "what", "action"), "ls /tmp") == 0);
	CHECK(strcmp(str_at(j, "what", "message"),
		     "types=SYSCALL,EXECVE syscall=execve exit=0 pid=2 ppid=1 exe=/usr/bin/ls "
		     "comm=ls") == 0);
	json_decref(j);
	sink_free(&s);
}

/* sl_audit_feed reports emit's first error with the event named; the next event
 * is still offered; emit cannot re-enter the adapter */
static void emit_errors_and_reentry(void)
{
	struct sl_audit_stats st;
	struct shelter_err err;
	struct sink s = { 0 };
	struct sl_audit *a = NULL;
	static const char two[] = GOOD "type=USER_ACCT msg=audit(1700000000.500:4569): pid=1 "
				       "uid=0 msg='op=PAM:accounting acct=\"bob\" res=success'\n";

	s.fail_first = 1;
	CHECK_RC(run(&s, two, strlen(two), 0, &st, &err), SHELTER_E_IO);
	CHECK(strcmp(err.msg, "audit: event 1700000000.123:4567: disk full") == 0);
	CHECK(s.count == 2 && st.events == 2 && st.emit_failed == 1);
	sink_free(&s);

	CHECK_OK(sl_audit_new(HOST, NULL, collect, &s, &a, &err));
	s.a = a;
	CHECK_OK(sl_audit_feed(a, GOOD, strlen(GOOD), &err));
	CHECK(s.count == 1 && s.reenter_rc == SHELTER_E_INVAL);
	s.a = NULL;
	CHECK_OK(sl_audit_flush(a, &err));
	sl_audit_free(a);
	sink_free(&s);
}

/* ---- golden files ---- */

static void check_golden(const char *log, const char *jsonl)
{
	size_t size, want_size;
	char *text = slurp_vec(log, &size), *want = slurp_vec(jsonl, &want_size);
	struct sl_audit_stats st;
	struct shelter_err err;
	struct sink s = { 0 };
	int rc = run(&s, text, size, 0, &st, &err);

	if (rc != 0 || s.len != want_size || memcmp(s.buf, want, want_size) != 0 ||
	    s.bad_json != 0 || st.malformed != 0) {
		fprintf(stderr, "  %s: rc %d, %zu bytes of JSON, want %zu as in %s\n", log, rc,
			s.len, want_size, jsonl);
		test_failed_now = 1;
	}
	sink_free(&s);
	free(text);
	free(want);
}

static void golden_files(void)
{
	check_golden("handwritten.log", "handwritten.jsonl");
	check_golden("captured-enriched.log", "captured-enriched.jsonl");
	check_golden("captured-raw.log", "captured-raw.jsonl");
}

/* docs/streamlog.md §2.2 byte for byte: sudo's execve, setuid (run_as "#0") */
static void one_event_byte_for_byte(void)
{
	static const char want[] =
		"{\"from\":{\"tty\":\"pts1\"},\"on\":\"/usr/bin/sudo\",\"raw\":\"node=web1 "
		"type=SYSCALL msg=audit(1700000002.790:4576): arch=c000003e syscall=59 "
		"success=yes exit=0 a0=55d0c0a1b2c0 a1=55d0c0a1b300 a2=55d0c0a1b340 a3=8 "
		"items=2 ppid=2399 pid=2400 auid=1000 uid=1000 gid=1000 euid=0 suid=0 fsuid=0 "
		"egid=1000 sgid=1000 fsgid=1000 tty=pts1 ses=7 comm=\\\"sudo\\\" "
		"exe=\\\"/usr/bin/sudo\\\" subj=unconfined key=\\\"priv\\\"\\nnode=web1 "
		"type=EXECVE msg=audit(1700000002.790:4576): argc=4 a0=\\\"sudo\\\" "
		"a1=\\\"ls\\\" a2=\\\"-la\\\" a3=2F726F6F742F697427732068657265\\nnode=web1 "
		"type=CWD msg=audit(1700000002.790:4576): cwd=\\\"/home/alice\\\"\\nnode=web1 "
		"type=PATH msg=audit(1700000002.790:4576): item=0 name=\\\"/usr/bin/sudo\\\" "
		"nametype=NORMAL\\nnode=web1 type=PROCTITLE msg=audit(1700000002.790:4576): "
		"proctitle=7375646F006C73002D6C61002F726F6F742F697427732068657265\","
		"\"src\":{\"kind\":\"audit\",\"seq\":4576},\"v\":1,\"what\":{\"action\":"
		"\"sudo ls -la '/root/it'\\\\''s here'\",\"message\":\"types=SYSCALL,EXECVE,"
		"CWD,PATH,PROCTITLE syscall=execve exit=0 pid=2400 ppid=2399 exe=/usr/bin/sudo "
		"comm=sudo cwd=/home/alice key=priv\",\"result\":\"success\"},\"when\":1700000002790000000,\"where\":"
		"{\"host\":\"web1\"},\"who\":{\"auid\":1000,\"run_as\":\"#0\",\"session\":\"7\","
		"\"uid\":1000}}\n";
	static const char text[] =
		"node=web1 type=SYSCALL msg=audit(1700000002.790:4576): arch=c000003e syscall=59 "
		"success=yes exit=0 a0=55d0c0a1b2c0 a1=55d0c0a1b300 a2=55d0c0a1b340 a3=8 items=2 "
		"ppid=2399 pid=2400 auid=1000 uid=1000 gid=1000 euid=0 suid=0 fsuid=0 egid=1000 "
		"sgid=1000 fsgid=1000 tty=pts1 ses=7 comm=\"sudo\" exe=\"/usr/bin/sudo\" "
		"subj=unconfined key=\"priv\"\n"
		"node=web1 type=EXECVE msg=audit(1700000002.790:4576): argc=4 a0=\"sudo\" a1=\"ls\" "
		"a2=\"-la\" a3=2F726F6F742F697427732068657265\n"
		"node=web1 type=CWD msg=audit(1700000002.790:4576): cwd=\"/home/alice\"\n"
		"node=web1 type=PATH msg=audit(1700000002.790:4576): item=0 name=\"/usr/bin/sudo\" "
		"nametype=NORMAL\n"
		"node=web1 type=PROCTITLE msg=audit(1700000002.790:4576): "
		"proctitle=7375646F006C73002D6C61002F726F6F742F697427732068657265\n";
	struct shelter_err err;
	struct sink s = { 0 };

	CHECK_OK(run(&s, text, strlen(text), 0, NULL, &err));
	CHECK(s.count == 1);
	CHECK(s.len == strlen(want));
	CHECK_MEM(s.buf, want, s.len);
	sink_free(&s);
}

/* The same events, byte for byte, whatever the split: every split point of the
 * hand-written file, and one byte at a time for a captured one. */
static void every_split_gives_the_same_events(void)
{
	size_t size, cap_size;
	char *text = slurp_vec("handwritten.log", &size);
	char *cap = slurp_vec("captured-enriched.log", &cap_size);
	struct shelter_err err;
	struct sink whole = { 0 }, s = { 0 };

	CHECK_OK(run(&whole, text, size, 0, NULL, &err));
	for (size_t cut = 0; cut <= size; cut++) {
		struct sl_audit *a = NULL;

		CHECK_OK(sl_audit_new(HOST, NULL, collect, &s, &a, &err));
		CHECK_OK(sl_audit_feed(a, text, cut, &err));
		CHECK_OK(sl_audit_feed(a, text + cut, size - cut, &err));
		CHECK_OK(sl_audit_flush(a, &err));
		sl_audit_free(a);
		if (s.len != whole.len || memcmp(s.buf, whole.buf, s.len) != 0) {
			fprintf(stderr, "  split at byte %zu differs\n", cut);
			test_failed_now = 1;
			break;
		}
		s.len = 0;
		s.count = 0;
	}
	sink_free(&whole);
	CHECK_OK(run(&whole, cap, cap_size, 0, NULL, &err));
	CHECK_OK(run(&s, cap, cap_size, 1, NULL, &err));
	CHECK(s.count == 36 && s.len == whole.len && memcmp(s.buf, whole.buf, s.len) == 0);
	sink_free(&s);
	sink_free(&whole);
	free(text);
	free(cap);
}

/* ---- §3.2.3 the W mapping, on records this kernel wrote ---- */

static void captured_execve_mapping(void)
{
	size_t size;
	char *text = slurp_vec("captured-enriched.log", &size);
	struct shelter_err err;
	struct sink s = { 0 };
	json_t *j;

	CHECK_OK(run(&s, text, size, 0, NULL, &err));
	/* the marker: argv as action, exe and key in the message, PATH item 0 as on */
	j = event_seq(&s, 6, "/bin/true");
	CHECK(j != NULL);
	CHECK(strcmp(str_at(j, "what", "action"), "/bin/true streamlog-marker-1") == 0);
	CHECK(strstr(str_at(j, "what", "message"), " exe=/usr/bin/true ") != NULL);
	CHECK(strstr(str_at(j, "what", "message"), " key=streamlog-test") != NULL);
	CHECK(int_at(j, "who", "uid") == 0 && int_at(j, "who", "auid") == 4294967295);
	CHECK(strcmp(str_at(j, "who", "user"), "root") == 0);
	CHECK(strcmp(str_at(j, NULL, "on"), "/bin/true") == 0);
	CHECK(strcmp(str_at(j, "where", "host"), "vm") == 0);
	CHECK(int_at(j, NULL, "when") == 1795409053955000000);
	json_decref(j);
	/* hex-encoded arguments decoded, and quoted for a shell */
	j = event_seq(&s, 7, "/bin/echo");
	CHECK(strcmp(str_at(j, "what", "action"), "/bin/echo 'two words' 'quote\"d' 'tab\there'") == 0);
	json_decref(j);
	/* a failed execve: no EXECVE record; the name it tried */
	j = event_seq(&s, 8, "execve");
	CHECK(strcmp(str_at(j, "what", "action"), "execve /usr/bin/bash") == 0);
	CHECK(strcmp(str_at(j, "what", "result"), "failure") == 0);
	CHECK(strcmp(str_at(j, NULL, "on"), "/nonexistent/cmd") == 0);
	json_decref(j);
	/* a 9,000-byte argument in a1[0..2] over three EXECVE records: cut, "trunc" */
	j = event_seq(&s, 24, "/bin/echo aaaa");
	CHECK(strlen(str_at(j, "what", "action")) == 1024);
	CHECK(json_is_true(json_object_get(j, "trunc")));
	json_decref(j);
	/* LOGIN completes at once in libauparse: its SYSCALL is a second event */
	j = event_seq(&s, 10, "LOGIN");
	CHECK(int_at(j, "who", "auid") == 1000);
	CHECK(strstr(str_at(j, "what", "message"), "auid_name=cloudsdk") != NULL);
	json_decref(j);
	j = event_seq(&s, 10, "write /usr/bin/dash");
	CHECK(j != NULL);
	json_decref(j);
	/* PAM through su: the target account as to */
	j = event_seq(&s, 31, "USER_START");
	CHECK(strcmp(str_at(j, "what", "action"), "USER_START op=PAM:session_open acct=nobody") == 0);
	CHECK(strcmp(str_at(j, NULL, "to"), "nobody") == 0);
	json_decref(j);
	j = event_seq(&s, 33, "/bin/true");
	CHECK(int_at(j, "who", "uid") == 65534 && strcmp(str_at(j, "who", "user"), "nobody") == 0);
	json_decref(j);
	sink_free(&s);
	free(text);
}

/* §3.2.4 values: quoted, hex (either case), hex with a NUL kept as written, odd or
 * non-hex runs as written, "(null)" absent; a relative name after the CWD */
static void value_rules(void)
{
	static const char text[] =
		"type=SYSCALL msg=audit(1700000030.000:80): arch=c000003e syscall=59 success=no "
		"exit=-13 items=2 ppid=1 pid=9 auid=1000 uid=1000 euid=1000 tty=(none) ses=3 "
		"comm=636F6D6D exe=\"/srv/app/run\" key=(null)\n"
		"type=EXECVE msg=audit(1700000030.000:80): argc=6 a0=\"./run\" a1=6c73 a2=610062 "
		"a3=ABC a4=(null) a5=2a\n"
		"type=CWD msg=audit(1700000030.000:80): cwd=2F7372762F617070\n"
		"type=PATH msg=audit(1700000030.000:80): item=0 name=\"./run\" nametype=NORMAL\n"
		"type=PROCTITLE msg=audit(1700000030.000:80): proctitle=2E2F72756E\n";
	struct shelter_err err;
	struct sink s = { 0 };
	json_t *j;

	CHECK_OK(run(&s, text, strlen(text), 0, NULL, &err));
	CHECK(s.count == 1 && s.bad_json == 0);
	j = event_at(&s, 0);
	CHECK(strcmp(str_at(j, "what", "action"), "./run ls 610062 ABC '' '*'") == 0);
	CHECK(strcmp(str_at(j, "what", "result"), "failure") == 0);
	CHECK(strcmp(str_at(j, NULL, "on"), "/srv/app/./run") == 0);
	CHECK(strcmp(str_at(j, "what", "message"),
		     "types=SYSCALL,EXECVE,CWD,PATH,PROCTITLE syscall=execve exit=-13 pid=9 ppid=1 "
		     "exe=/srv/app/run comm=comm cwd=/srv/app") == 0);
	CHECK(json_object_get(j, "from") == NULL); /* tty=(none) */
	CHECK(json_object_get(json_object_get(j, "who"), "run_as") == NULL);
	json_decref(j);
	sink_free(&s);
}

/* ---- §3.2.2 completion ---- */

#define LONE "type=SYSCALL msg=audit(1700000010.000:70): arch=c000003e syscall=90 " \
	     "success=yes exit=0 items=1 pid=5 uid=0 auid=0 ses=1 exe=\"/usr/bin/chmod\"\n"

static void tick_completes_idle_events(void)
{
	struct shelter_err err;
	struct sink s = { 0 };
	struct sl_audit *a = NULL;
	const int64_t t0 = 5000000000;

	CHECK_OK(sl_audit_new(HOST, NULL, collect, &s, &a, &err));
	CHECK_OK(sl_audit_feed(a, LONE, strlen(LONE), &err));
	CHECK(s.count == 0); /* libauparse waits for its PATH and PROCTITLE */
	CHECK_OK(sl_audit_tick(a, t0, &err));
	CHECK_OK(sl_audit_tick(a, t0 + SL_AUDIT_IDLE_NS - 1, &err));
	CHECK(s.count == 0);
	/* a partial line is new input for no one: it does not hold the event back */
	CHECK_OK(sl_audit_feed(a, "type=PATH", 9, &err));
	CHECK_OK(sl_audit_tick(a, t0 + SL_AUDIT_IDLE_NS, &err));
	CHECK(s.count == 1);
	/* a complete line restarts the idle time */
	CHECK_OK(sl_audit_feed(a, " msg=audit(1700000010.000:71): item=0\n", 38, &err));
	CHECK_OK(sl_audit_tick(a, t0 + 3 * SL_AUDIT_IDLE_NS, &err));
	CHECK(s.count == 1);
	CHECK_OK(sl_audit_tick(a, t0 + 4 * SL_AUDIT_IDLE_NS, &err));
	CHECK(s.count == 2);
	CHECK_OK(sl_audit_flush(a, &err));
	CHECK(s.count == 2);
	sl_audit_free(a);
	sink_free(&s);
}

/* SL_AUDIT_PENDING_LINES: 5,000 events that never complete do not pile up */
static void pending_records_are_bounded(void)
{
	size_t cap = 5000 * 128, len = 0;
	char *text = malloc(cap);
	struct sl_audit_stats st;
	struct shelter_err err;
	struct sink s = { 0 };

	CHECK(text != NULL);
	for (int i = 0; i < 5000; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"type=SYSCALL msg=audit(1700000020.000:%d): syscall=90 "
					"success=yes uid=0\n", 1000 + i);
	CHECK_OK(run(&s, text, len, 4096, &st, &err));
	CHECK(st.forced == 1 && s.count == 5000 && st.events == 5000);
	sink_free(&s);
	free(text);
}

int main(void)
{
	test_binary = "test_streamlog_audit";
	RUN(new_refuses_bad_arguments);
	RUN(malformed_lines_are_skipped);
	RUN(long_lines_are_skipped);
	RUN(truncated_input);
	RUN(emit_errors_and_reentry);
	RUN(golden_files);
	RUN(one_event_byte_for_byte);
	RUN(every_split_gives_the_same_events);
	RUN(captured_execve_mapping);
	RUN(value_rules);
	RUN(tick_completes_idle_events);
	RUN(pending_records_are_bounded);
	return test_total_failed ? 1 : 0;
}
