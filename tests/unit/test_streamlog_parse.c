/* StreamLog's source parsers (docs/streamlog.md §3.1, §3.3,
 * §3.4): syslog framing (RFC 6587) and messages (RFC 5424, RFC 3164), sudo's JSON
 * event log, tlog messages. Negative cases first with their exact codes and the byte
 * offsets the messages name; then real-looking records with their canonical JSON
 * (docs/streamlog.md §2.2) byte for byte, written out here from an independent
 * rendering (python's json.dumps with sorted keys); then truncation and bit-flip
 * sweeps over every sample (STYLE.md rule 16). */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "streamlog/event.h"
#include "streamlog/sudo.h"
#include "streamlog/syslog.h"
#include "streamlog/tlog.h"

/* ---- samples: as the tools write them ---- */

static const char SYSLOG_5424[] =
	"<13>1 2026-11-23T04:40:01.123456+01:00 host1 sudo 4242 - [meta sequenceId=\"17\"] p"
	"am_unix(sudo:session): session opened for user root";

static const char SYSLOG_5424_JSON[] =
	"{\"raw\":\"<13>1 2026-11-23T04:40:01.123456+01:00 host1 sudo 4242 - [meta sequenceI"
	"d=\\\"17\\\"] pam_unix(sudo:session): session opened for user root\",\"recv\":17954"
	"05201500000000,\"src\":{\"kind\":\"syslog\",\"seq\":17},\"v\":1,\"what\":{\"action\""
	":\"user.notice sudo[4242]\",\"message\":\"pam_unix(sudo:session): session opened fo"
	"r user root\"},\"when\":1795405201123456000,\"where\":{\"host\":\"host1\"}}";

static const char SYSLOG_3164[] =
	"<85>Nov 23 04:41:07 host1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root "
	"; COMMAND=/usr/bin/systemctl restart nginx";

static const char SYSLOG_3164_JSON[] =
	"{\"raw\":\"<85>Nov 23 04:41:07 host1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ;"
	" USER=root ; COMMAND=/usr/bin/systemctl restart nginx\",\"recv\":179540886790000000"
	"0,\"src\":{\"kind\":\"syslog\"},\"v\":1,\"what\":{\"action\":\"authpriv.notice sudo"
	"\",\"message\":\"   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/"
	"bin/systemctl restart nginx\"},\"when\":1795408867000000000,\"where\":{\"host\":\"h"
	"ost1\"}}";

static const char SYSLOG_BAD[] =
	"<13>1 2026-13-01T00:00:00Z host1 app - - - hello";

static const char SYSLOG_BAD_JSON[] =
	"{\"raw\":\"<13>1 2026-13-01T00:00:00Z host1 app - - - hello\",\"recv\":179540520150"
	"0000000,\"src\":{\"kind\":\"syslog\"},\"v\":1,\"what\":{\"result\":\"unparsed\"}}";

static const char SUDO_FILE[] =
	"{\n    \"accept\": {\n        \"uuid\": \"0b9f0e25-3f4a-4a4f-9d1e-2b8e5c1a7d42\",\n"
	"        \"server_time\": {\n            \"seconds\": 1795408867,\n            \"nan"
	"oseconds\": 412345000,\n            \"iso8601\": \"20261123044107Z\",\n            "
	"\"localtime\": \"Nov 23 05:41:07\"\n        },\n        \"submit_time\": {\n       "
	"     \"seconds\": 1795408867,\n            \"nanoseconds\": 401234000,\n           "
	" \"iso8601\": \"20261123044107Z\",\n            \"localtime\": \"Nov 23 05:41:07\"\n"
	"        },\n        \"submituser\": \"alice\",\n        \"command\": \"/usr/bin/sys"
	"temctl\",\n        \"runuser\": \"root\",\n        \"runcwd\": \"/home/alice\",\n  "
	"      \"ttyname\": \"/dev/pts/0\",\n        \"submithost\": \"host1\",\n        \"s"
	"ubmitcwd\": \"/home/alice\",\n        \"runuid\": 0,\n        \"columns\": 120,\n  "
	"      \"lines\": 40,\n        \"runargv\": [\n            \"systemctl\",\n         "
	"   \"restart\",\n            \"nginx\"\n        ],\n        \"runenv\": [\n        "
	"    \"TERM=xterm-256color\",\n            \"PATH=/usr/local/sbin:/usr/local/bin:/us"
	"r/sbin:/usr/bin:/sbin:/bin\",\n            \"HOME=/root\",\n            \"SUDO_COMM"
	"AND=/usr/bin/systemctl restart nginx\",\n            \"SUDO_USER=alice\",\n        "
	"    \"SUDO_UID=1000\",\n            \"SUDO_GID=1000\"\n        ]\n    },\n    \"exi"
	"t\": {\n        \"uuid\": \"0b9f0e25-3f4a-4a4f-9d1e-2b8e5c1a7d42\",\n        \"serv"
	"er_time\": {\n            \"seconds\": 1795408869,\n            \"nanoseconds\": 20"
	"00000,\n            \"iso8601\": \"20261123044109Z\",\n            \"localtime\": \""
	"Nov 23 05:41:09\"\n        },\n        \"exit_time\": {\n            \"seconds\": 1"
	"795408868,\n            \"nanoseconds\": 981234000,\n            \"iso8601\": \"202"
	"61123044108Z\",\n            \"localtime\": \"Nov 23 05:41:08\"\n        },\n      "
	"  \"run_time\": {\n            \"seconds\": 1,\n            \"nanoseconds\": 580000"
	"000\n        },\n        \"exit_value\": 0\n    }\n}\n";

static const char SUDO_ACCEPT_JSON[] =
	"{\"from\":{\"tty\":\"/dev/pts/0\"},\"on\":\"/home/alice\",\"raw\":\"\\\"accept\\\":"
	" {\\n        \\\"uuid\\\": \\\"0b9f0e25-3f4a-4a4f-9d1e-2b8e5c1a7d42\\\",\\n        "
	"\\\"server_time\\\": {\\n            \\\"seconds\\\": 1795408867,\\n            \\\""
	"nanoseconds\\\": 412345000,\\n            \\\"iso8601\\\": \\\"20261123044107Z\\\","
	"\\n            \\\"localtime\\\": \\\"Nov 23 05:41:07\\\"\\n        },\\n        \\\""
	"submit_time\\\": {\\n            \\\"seconds\\\": 1795408867,\\n            \\\"nan"
	"oseconds\\\": 401234000,\\n            \\\"iso8601\\\": \\\"20261123044107Z\\\",\\n"
	"            \\\"localtime\\\": \\\"Nov 23 05:41:07\\\"\\n        },\\n        \\\"s"
	"ubmituser\\\": \\\"alice\\\",\\n        \\\"command\\\": \\\"/usr/bin/systemctl\\\""
	",\\n        \\\"runuser\\\": \\\"root\\\",\\n        \\\"runcwd\\\": \\\"/home/alic"
	"e\\\",\\n        \\\"ttyname\\\": \\\"/dev/pts/0\\\",\\n        \\\"submithost\\\":"
	" \\\"host1\\\",\\n        \\\"submitcwd\\\": \\\"/home/alice\\\",\\n        \\\"run"
	"uid\\\": 0,\\n        \\\"columns\\\": 120,\\n        \\\"lines\\\": 40,\\n        "
	"\\\"runargv\\\": [\\n            \\\"systemctl\\\",\\n            \\\"restart\\\",\\n"
	"            \\\"nginx\\\"\\n        ],\\n        \\\"runenv\\\": [\\n            \\\""
	"TERM=xterm-256color\\\",\\n            \\\"PATH=/usr/local/sbin:/usr/local/bin:/usr"
	"/sbin:/usr/bin:/sbin:/bin\\\",\\n            \\\"HOME=/root\\\",\\n            \\\""
	"SUDO_COMMAND=/usr/bin/systemctl restart nginx\\\",\\n            \\\"SUDO_USER=alic"
	"e\\\",\\n            \\\"SUDO_UID=1000\\\",\\n            \\\"SUDO_GID=1000\\\"\\n "
	"       ]\\n    }\",\"recv\":1795408867500000000,\"src\":{\"kind\":\"sudo\"},\"v\":1"
	",\"what\":{\"action\":\"/usr/bin/systemctl restart nginx\",\"result\":\"accept\"},\""
	"when\":1795408867401234000,\"where\":{\"host\":\"host1\"},\"who\":{\"run_as\":\"roo"
	"t\",\"session\":\"0b9f0e25-3f4a-4a4f-9d1e-2b8e5c1a7d42\",\"uid\":1000,\"user\":\"al"
	"ice\"}}";

static const char TLOG_LINE[] =
	"{\"ver\":\"2.3\",\"host\":\"host1.example.com\",\"rec\":\"9c1f3f54b0a94a0b8f8d63c3c"
	"4f8a5e2-2f3a-1b2c3d4\",\"user\":\"alice\",\"term\":\"xterm-256color\",\"session\":7"
	",\"id\":3,\"pos\":5012,\"time\":1795408867.412,\"timing\":\"=120x40+12>52\",\"in_tx"
	"t\":\"\",\"in_bin\":[],\"out_txt\":\"\\u001b[?2004h[alice@host1 ~]$ sudo systemctl "
	"restart nginx\\r\\n\",\"out_bin\":[]}";

static const char TLOG_JSON[] =
	"{\"from\":{\"tty\":\"xterm-256color\"},\"raw\":\"{\\\"ver\\\":\\\"2.3\\\",\\\"host\\\""
	":\\\"host1.example.com\\\",\\\"rec\\\":\\\"9c1f3f54b0a94a0b8f8d63c3c4f8a5e2-2f3a-1b"
	"2c3d4\\\",\\\"user\\\":\\\"alice\\\",\\\"term\\\":\\\"xterm-256color\\\",\\\"sessio"
	"n\\\":7,\\\"id\\\":3,\\\"pos\\\":5012,\\\"time\\\":1795408867.412,\\\"timing\\\":\\\""
	"=120x40+12>52\\\",\\\"in_txt\\\":\\\"\\\",\\\"in_bin\\\":[],\\\"out_txt\\\":\\\"\\\\u"
	"001b[?2004h[alice@host1 ~]$ sudo systemctl restart nginx\\\\r\\\\n\\\",\\\"out_bin\\\""
	":[]}\",\"recv\":1795408867600000000,\"src\":{\"kind\":\"tlog\",\"seq\":3},\"v\":1,\""
	"what\":{\"action\":\"tlog session output\",\"message\":\"\\u001b[?2004h[alice@host1"
	" ~]$ sudo systemctl restart nginx\\r\\n\"},\"when\":1795408867412000000,\"where\":{"
	"\"host\":\"host1.example.com\"},\"who\":{\"session\":\"9c1f3f54b0a94a0b8f8d63c3c4f8"
	"a5e2-2f3a-1b2c3d4\",\"user\":\"alice\"}}";

#define RECV_5424 INT64_C(1795405201500000000) /* 2026-11-23T03:40:01.5Z */
#define RECV_3164 INT64_C(1795408867900000000) /* 2026-11-23T04:41:07.9Z */
#define RECV_SUDO INT64_C(1795408867500000000)
#define RECV_TLOG INT64_C(1795408867600000000)

/* ---- helpers ---- */

static char g_scratch[1 << 18];
static char g_json[SL_EVENT_JSON_MAX];

static struct sl_scratch fresh(void)
{
	return (struct sl_scratch){ g_scratch, 0, sizeof(g_scratch) };
}

/* sl_event_json of e is exactly want (a mismatch is printed). */
static int json_is(const struct sl_event *e, const char *want)
{
	struct shelter_err err;
	size_t n = 0;

	if (sl_event_json(e, g_json, sizeof(g_json), &n, &err) != 0) {
		fprintf(stderr, "  sl_event_json: %s\n", err.msg);
		return 0;
	}
	if (n != strlen(want) || memcmp(g_json, want, n) != 0) {
		fprintf(stderr, "  got  %.*s\n  want %s\n", (int)n, g_json, want);
		return 0;
	}
	return 1;
}

/* The canonical JSON of e in g_json ("" when it does not serialize). */
static const char *to_json(const struct sl_event *e)
{
	size_t n = 0;

	if (sl_event_json(e, g_json, sizeof(g_json) - 1, &n, NULL) != 0)
		n = 0;
	g_json[n] = '\0';
	return g_json;
}

static int str_is(struct sl_str s, const char *want)
{
	if (want == NULL)
		return s.p == NULL;
	if (s.p != NULL && s.len == strlen(want) && memcmp(s.p, want, s.len) == 0)
		return 1;
	fprintf(stderr, "  got '%.*s', want '%s'\n", s.p ? (int)s.len : 6, s.p ? s.p : "(null)",
		want);
	return 0;
}

/* What every refusal leaves: an event as sl_event_init makes it. */
static int is_clear(const struct sl_event *e)
{
	struct sl_event z;

	sl_event_init(&z);
	return memcmp(&z, e, sizeof(z)) == 0;
}

static int says(const struct shelter_err *err, const char *part)
{
	if (strstr(err->msg, part) != NULL)
		return 1;
	fprintf(stderr, "  message '%s' does not say '%s'\n", err->msg, part);
	return 0;
}

enum kind { SYSLOG, SUDO, TLOG };

/* One parse with a fresh scratch; a refusal that leaves output or scratch used is
 * reported as SHELTER_E_INTERNAL (STYLE.md rule 12). */
static int parse_n(enum kind k, const char *in, size_t len, int64_t recv, struct sl_event *e,
		   struct shelter_err *err)
{
	struct sl_scratch s = fresh();
	int rc;

	shelter_err_clear(err);
	memset(e, 0x5a, sizeof(*e));
	if (k == SYSLOG)
		rc = sl_syslog_parse(in, len, recv, e, &s, err);
	else if (k == SUDO)
		rc = sl_sudo_parse(in, len, recv, e, &s, err);
	else
		rc = sl_tlog_parse(in, len, recv, e, &s, err);
	if (rc != 0 && (s.used != 0 || !is_clear(e) || err->msg[0] == '\0'))
		return SHELTER_E_INTERNAL;
	return rc;
}

static int parse(enum kind k, const char *in, int64_t recv, struct sl_event *e,
		 struct shelter_err *err)
{
	return parse_n(k, in, strlen(in), recv, e, err);
}

/* rc and a message naming part */
#define REFUSES(k, in, code, part)                                           \
	do {                                                                 \
		struct sl_event e_;                                          \
		struct shelter_err err_;                                     \
		CHECK_RC(parse(k, in, RECV_5424, &e_, &err_), code);         \
		CHECK(says(&err_, part));                                    \
	} while (0)

/* A reader of a stream fed chunk bytes at a time into a buffer of SL_FRAME_BUF(max):
 * the messages joined by '|', a cut one marked by '~'; "ERR" and stop on an error. */
static void frame_stream(const char *in, size_t len, size_t chunk, size_t max, char *out,
			 size_t cap)
{
	struct sl_framer f;
	size_t have = 0, fed = 0, cap_buf = SL_FRAME_BUF(max ? max : SL_FRAME_MAX_DEFAULT);
	char *buf = malloc(cap_buf);
	size_t used = 0;

	sl_framer_init(&f, max);
	out[0] = '\0';
	while (buf != NULL) {
		size_t consumed = 0, take = len - fed < chunk ? len - fed : chunk;
		struct sl_str msg;
		int rc;

		if (take > cap_buf - have)
			take = cap_buf - have;
		memcpy(buf + have, in + fed, take);
		have += take;
		fed += take;
		rc = sl_framer_next(&f, buf, have, &consumed, &msg, NULL);
		if (rc < 0 || consumed > have) {
			snprintf(out + used, cap - used, "ERR");
			break;
		}
		if (rc == 0)
			used += (size_t)snprintf(out + used, cap - used, "%s%.*s%s", used ? "|" : "",
						 (int)msg.len, msg.p, f.cut ? "~" : "");
		memmove(buf, buf + consumed, have - consumed);
		have -= consumed;
		if (rc == 1 && take == 0 && consumed == 0)
			break; /* everything fed, nothing more to frame */
	}
	free(buf);
}

/* ---- refusals: framing ---- */

static void framer_refuses_bad_lengths(void)
{
	static const struct {
		const char *in, *part;
		size_t frame; /* where the refused frame starts in the input */
	} bad[] = {
		{ "012 <13>1 - - - - - -", "MSG-LEN at byte 0 has a leading zero", 0 },
		{ "0 x", "MSG-LEN at byte 0 has a leading zero", 0 },
		{ "1234567890 x", "MSG-LEN at byte 0 has 10 digits, at most 9", 0 },
		{ "5 hello3 abc012 xyz", "MSG-LEN at byte 0 has a leading zero", 12 },
		{ "abc\n\n\n0 x", "MSG-LEN at byte 2 has a leading zero", 6 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sl_framer f;
		struct shelter_err err;
		struct sl_str msg;
		size_t at = 0, consumed, len = strlen(bad[i].in);
		int rc;

		sl_framer_init(&f, 0);
		shelter_err_clear(&err);
		while ((rc = sl_framer_next(&f, bad[i].in + at, len - at, &consumed, &msg, &err)) == 0)
			at += consumed;
		CHECK_RC(rc, SHELTER_E_MALFORMED);
		CHECK(msg.p == NULL && says(&err, bad[i].part));
		CHECK(at + consumed == bad[i].frame); /* what comes before it is consumed */
	}
}

/* ---- refusals: syslog ---- */

static void syslog_refuses_bad_pri(void)
{
	REFUSES(SYSLOG, "", SHELTER_E_MALFORMED, "PRI at byte 0: no '<'");
	REFUSES(SYSLOG, "13>1 - - - - - -", SHELTER_E_MALFORMED, "PRI at byte 0: no '<'");
	REFUSES(SYSLOG, "<>1 - - - - - -", SHELTER_E_MALFORMED, "PRI at byte 1: not 0 to 191");
	REFUSES(SYSLOG, "<192>1 - - - - - -", SHELTER_E_MALFORMED, "PRI at byte 4: not 0 to 191");
	REFUSES(SYSLOG, "<013>1 - - - - - -", SHELTER_E_MALFORMED, "without leading zeros");
	REFUSES(SYSLOG, "<1311>1 - - - - - -", SHELTER_E_MALFORMED, "PRI at byte 4: no '>'");
	REFUSES(SYSLOG, "<13", SHELTER_E_MALFORMED, "PRI at byte 3: no '>'");
	REFUSES(SYSLOG, "<999>Nov 23 04:41:07 host1 sudo: x", SHELTER_E_MALFORMED, "PRI at byte 4");
}

static void syslog_refuses_other_versions(void)
{
	REFUSES(SYSLOG, "<13>2 2026-11-23T04:40:01Z h a - - -", SHELTER_E_VERSION,
		"VERSION at byte 4: 2, want 1");
	REFUSES(SYSLOG, "<13>10 - - - - - -", SHELTER_E_VERSION, "VERSION at byte 4: 10");
}

static void syslog_refuses_bad_timestamps(void)
{
	static const struct {
		const char *ts, *part;
	} bad[] = {
		{ "2026-13-23T04:40:01Z", "TIMESTAMP at byte 16: no such date" },
		{ "2026-02-29T04:40:01Z", "no such date" }, /* 2026 is no leap year */
		{ "2026-11-31T04:40:01Z", "no such date" },
		{ "2026-11-00T04:40:01Z", "no such date" },
		{ "26-11-23T04:40:01Z", "TIMESTAMP at byte 8: not YYYY-MM-DD" },
		{ "2026-11-23 04:40:01Z", "no valid Thh:mm:ss" },
		{ "2026-11-23T24:00:00Z", "no valid Thh:mm:ss" },
		{ "2026-11-23T23:59:60Z", "no valid Thh:mm:ss" }, /* §6.2.3.1: no leap second */
		{ "2026-11-23T04:40:01.1234567Z", "fraction of 1 to 6 digits wanted" },
		{ "2026-11-23T04:40:01.Z", "fraction of 1 to 6 digits wanted" },
		{ "2026-11-23T04:40:01", "TIMESTAMP at byte 25: offset Z or +hh:mm wanted" },
		{ "2026-11-23T04:40:01+0100", "offset Z or +hh:mm wanted" },
		{ "2026-11-23T04:40:01+24:00", "offset Z or +hh:mm wanted" },
		{ "2026-11-23T04:40:01z", "offset Z or +hh:mm wanted" },
		{ "2300-01-01T00:00:00Z", "out of range" },
		{ "1677-01-01T00:00:00Z", "out of range" },
		{ "2026-11-23T04:40:01ZX", "TIMESTAMP at byte 26: no SP after it" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char msg[128];

		snprintf(msg, sizeof(msg), "<13>1 %s host1 app - - - hello", bad[i].ts);
		REFUSES(SYSLOG, msg, SHELTER_E_MALFORMED, bad[i].part);
	}
}

static void syslog_refuses_bad_header_fields(void)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "<13>1 - %0256d a - - -", 0);
	REFUSES(SYSLOG, msg, SHELTER_E_MALFORMED, "HOSTNAME at byte 8: 256 bytes, want 1 to 255");
	snprintf(msg, sizeof(msg), "<13>1 - h %049d - - -", 0);
	REFUSES(SYSLOG, msg, SHELTER_E_MALFORMED, "APP-NAME at byte 10: 49 bytes, want 1 to 48");
	snprintf(msg, sizeof(msg), "<13>1 - h a %0129d - -", 0);
	REFUSES(SYSLOG, msg, SHELTER_E_MALFORMED, "PROCID at byte 12: 129 bytes, want 1 to 128");
	snprintf(msg, sizeof(msg), "<13>1 - h a p %033d -", 0);
	REFUSES(SYSLOG, msg, SHELTER_E_MALFORMED, "MSGID at byte 14: 33 bytes, want 1 to 32");
	REFUSES(SYSLOG, "<13>1 - ho\x01st a p m -", SHELTER_E_MALFORMED,
		"HOSTNAME at byte 10: not printable US-ASCII");
	REFUSES(SYSLOG, "<13>1 - h\xc3\xa9 a p m -", SHELTER_E_MALFORMED, "not printable");
	REFUSES(SYSLOG, "<13>1 - h  a p m -", SHELTER_E_MALFORMED, "APP-NAME at byte 10: 0 bytes");
	REFUSES(SYSLOG, "<13>1 - h a p m", SHELTER_E_MALFORMED, "MSGID at byte 15: no SP after it");
	REFUSES(SYSLOG, "<13>1 -", SHELTER_E_MALFORMED, "TIMESTAMP at byte 7: no SP after it");
}

static void syslog_refuses_bad_structured_data(void)
{
	static const struct {
		const char *sd, *part;
	} bad[] = {
		{ "", "STRUCTURED-DATA at byte 20: not '-' or '['" },
		{ "x", "STRUCTURED-DATA at byte 20: not '-' or '['" },
		{ "[]", "SD-ID at byte 21: not 1 to 32" },
		{ "[0123456789012345678901234567890123]", "SD-ID at byte 21: not 1 to 32" },
		{ "[meta sequenceId=17]", "SD-PARAM at byte 37: no '=\"' after PARAM-NAME" },
		{ "[meta sequenceId=\"17]", "PARAM-VALUE at byte 41: no closing '\"'" },
		{ "[meta  sequenceId=\"1\"]", "PARAM-NAME at byte 26: not 1 to 32" },
		{ "[meta sequenceId=\"1\" ]", "PARAM-NAME at byte 41: not 1 to 32" },
		{ "[meta sequenceId=\"1\"", "SD-ELEMENT at byte 40: no ']' or SP SD-PARAM" },
		{ "[meta sequenceId=\"1\"]x", "STRUCTURED-DATA at byte 41: no SP before MSG" },
		{ "[meta sequenceId=\"0\"]", "SD-PARAM sequenceId at byte 38: not a number in "
					 "1..2147483647" },
		{ "[meta sequenceId=\"2147483648\"]", "SD-PARAM sequenceId at byte 38" },
		{ "[meta sequenceId=\"017\"]", "SD-PARAM sequenceId at byte 38" },
		{ "[meta sequenceId=\"+17\"]", "SD-PARAM sequenceId at byte 38" },
		{ "[meta sequenceId=\"\"]", "SD-PARAM sequenceId at byte 38" },
		{ "[meta sequenceId=\"1\" sequenceId=\"2\"]", "SD-PARAM sequenceId at byte 53: "
							   "repeated" },
		{ "[meta sequenceId=\"1\"][meta sysUpTime=\"2\"]", "SD-ID meta at byte 42: repeated" },
		{ "[streamlog@32473 uid=\"-1\"]", "SD-PARAM uid at byte 42: not a number in "
					       "0..4294967295" },
		{ "[streamlog@32473 uid=\"4294967296\"]", "SD-PARAM uid at byte 42" },
		{ "[streamlog@32473 user=\"a\" user=\"b\"]", "SD-PARAM user at byte 52: repeated" },
		{ "[streamlog@32473 user=\"a\"][streamlog@32473 tty=\"b\"]", "SD-ID streamlog@32473 "
									 "at byte 47: repeated" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char msg[256];

		snprintf(msg, sizeof(msg), "<13>1 - host1 a p m %s", bad[i].sd);
		REFUSES(SYSLOG, msg, SHELTER_E_MALFORMED, bad[i].part);
	}
}

static void syslog_refuses_small_scratch(void)
{
	static const char sd[] = "<13>1 - h a - - [streamlog@32473 user=\"0123456789abcdefg\"]";
	char buf[16];
	struct sl_scratch s = { buf, 3, sizeof(buf) };
	struct shelter_err err;
	struct sl_event e;

	CHECK_RC(sl_syslog_parse(SYSLOG_5424, strlen(SYSLOG_5424), RECV_5424, &e, &s, &err),
		 SHELTER_E_FBIG);
	CHECK(s.used == 3 && is_clear(&e) && says(&err, "scratch of 16 bytes is full"));
	/* an SD value that does not fit */
	s.used = 0;
	CHECK_RC(sl_syslog_parse(sd, strlen(sd), RECV_5424, &e, &s, &err), SHELTER_E_FBIG);
	CHECK(s.used == 0 && is_clear(&e));
}

/* ---- refusals: sudo ---- */

static void sudo_refuses_bad_records(void)
{
	REFUSES(SUDO, "", SHELTER_E_MALFORMED, "sudo: JSON at byte 0:");
	REFUSES(SUDO, "[]", SHELTER_E_MALFORMED, "not an object of one event");
	REFUSES(SUDO, "{}", SHELTER_E_MALFORMED, "not an object of one event");
	REFUSES(SUDO, "{\"accept\": {}, \"exit\": {}}", SHELTER_E_MALFORMED,
		"not an object of one event");
	REFUSES(SUDO, "\"accept\": []", SHELTER_E_MALFORMED, "\"accept\" is not an object");
	REFUSES(SUDO, "\"Accept\": {}", SHELTER_E_MALFORMED,
		"key at byte 0: not a lower-case event type");
	REFUSES(SUDO, "  \"acc\\u0065pt\": {}", SHELTER_E_MALFORMED, "key at byte 2");
	REFUSES(SUDO, "\"launch\": {}", SHELTER_E_MALFORMED, "event type \"launch\" unknown");
	REFUSES(SUDO, "{\"launch\": {}}", SHELTER_E_MALFORMED, "event type \"launch\" unknown");
	REFUSES(SUDO, "\"accept\" {}", SHELTER_E_MALFORMED, "byte 9: no ':'");
	REFUSES(SUDO, "\"accept\": {} x", SHELTER_E_MALFORMED, "sudo: JSON at byte");
	REFUSES(SUDO, "\"accept\": {\"submituser\": \"a\", \"submituser\": \"b\"}",
		SHELTER_E_MALFORMED, "duplicate object key");
	REFUSES(SUDO, "\"accept\": {\"submituser\": 7}", SHELTER_E_MALFORMED,
		"\"submituser\": not a string");
	REFUSES(SUDO, "\"accept\": {\"runargv\": \"ls\"}", SHELTER_E_MALFORMED,
		"\"runargv\": not an array");
	REFUSES(SUDO, "\"accept\": {\"runargv\": [\"ls\", 1]}", SHELTER_E_MALFORMED,
		"\"runargv\": an element is not a string");
	REFUSES(SUDO, "\"accept\": {\"command\": [\"ls\"]}", SHELTER_E_MALFORMED,
		"\"command\": not a string");
	REFUSES(SUDO, "\"accept\": {\"submit_time\": {\"seconds\": 1, \"nanoseconds\": 1000000000}}",
		SHELTER_E_MALFORMED, "\"submit_time\": out of range");
	REFUSES(SUDO, "\"accept\": {\"submit_time\": {\"seconds\": 9223372037}}",
		SHELTER_E_MALFORMED, "\"submit_time\": out of range");
	REFUSES(SUDO, "\"accept\": {\"submit_time\": {\"seconds\": 1e3}}", SHELTER_E_MALFORMED,
		"\"submit_time\": not {\"seconds\"");
	REFUSES(SUDO, "\"accept\": {\"server_time\": 5}", SHELTER_E_MALFORMED, "\"server_time\"");
	REFUSES(SUDO, "\"exit\": {\"exit_value\": \"0\"}", SHELTER_E_MALFORMED,
		"\"exit_value\": of the wrong type");
	REFUSES(SUDO, "\"exit\": {\"dumped_core\": 1}", SHELTER_E_MALFORMED, "\"dumped_core\"");
	REFUSES(SUDO, "\"reject\": {\"reason\": 1}", SHELTER_E_MALFORMED, "\"reason\": not a string");
	REFUSES(SUDO, "@cee:{\"sudo\":{}}", SHELTER_E_MALFORMED, "not an object of one event");
	REFUSES(SUDO, "@cee:{\"other\":{\"accept\":{}}}", SHELTER_E_MALFORMED,
		"@cee: object without \"sudo\"");
	REFUSES(SUDO, "@cee:", SHELTER_E_MALFORMED, "sudo: JSON at byte 5");
}

static void sudo_refuses_oversize_and_small_scratch(void)
{
	size_t n = SL_SUDO_MAX + 1;
	char *big = malloc(n), buf[8];
	struct sl_scratch s = { buf, 0, sizeof(buf) };
	struct shelter_err err;
	struct sl_event e;
	static const char rec[] = "\"accept\": {\"submituser\": \"alice\", \"command\": \"/bin/ls\"}";

	CHECK(big != NULL);
	memset(big, ' ', n);
	CHECK_RC(parse_n(SUDO, big, n, RECV_SUDO, &e, &err), SHELTER_E_FBIG);
	free(big);
	CHECK(says(&err, "1048577 bytes, at most 1048576"));
	CHECK_RC(sl_sudo_parse(rec, strlen(rec), RECV_SUDO, &e, &s, &err), SHELTER_E_FBIG);
	CHECK(s.used == 0 && is_clear(&e));
	s.cap = 5; /* the user fits, the command line does not */
	CHECK_RC(sl_sudo_parse(rec, strlen(rec), RECV_SUDO, &e, &s, &err), SHELTER_E_FBIG);
	CHECK(s.used == 0 && is_clear(&e));
}

static void sudo_split_refuses_other_layouts(void)
{
	static const struct {
		const char *in, *part;
	} bad[] = {
		{ "x", "sudo log: byte 0: 'x' where a member or '}' belongs" },
		{ "{\n    [1]", "sudo log: byte 6: '[' where a member or '}' belongs" },
		{ "{ \"accept\" 5}", "member at byte 2: no ':' after its key" },
		{ "{\"accept\": 5}", "member at byte 1: value is not an object" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sl_sudo_split sp;
		struct shelter_err err;
		struct sl_str m;
		size_t consumed;

		sl_sudo_split_init(&sp, 0);
		shelter_err_clear(&err);
		CHECK_RC(sl_sudo_next(&sp, bad[i].in, strlen(bad[i].in), &consumed, &m, &err),
			 SHELTER_E_MALFORMED);
		CHECK(m.p == NULL && says(&err, bad[i].part));
	}
	{
		struct sl_sudo_split sp;
		struct shelter_err err;
		struct sl_str m;
		size_t consumed;

		sl_sudo_split_init(&sp, 8);
		CHECK_RC(sl_sudo_next(&sp, "{\"a-very-long-key\": {}}", 23, &consumed, &m, &err),
			 SHELTER_E_MALFORMED);
		CHECK(says(&err, "member at byte 1: key over 8 bytes"));
	}
}

/* ---- refusals: tlog ---- */

#define TLOG_WITH(fields) \
	"{\"ver\":\"2.3\",\"host\":\"h\",\"rec\":\"r\",\"user\":\"u\",\"id\":1" fields "}"

static void tlog_refuses_bad_messages(void)
{
	REFUSES(TLOG, "", SHELTER_E_MALFORMED, "tlog: JSON at byte 0");
	REFUSES(TLOG, "[]", SHELTER_E_MALFORMED, "tlog: not a JSON object");
	REFUSES(TLOG, "{} {}", SHELTER_E_MALFORMED, "tlog: JSON at byte");
	REFUSES(TLOG, "{}", SHELTER_E_MALFORMED, "tlog: \"ver\": missing");
	REFUSES(TLOG, "{\"ver\":2}", SHELTER_E_MALFORMED, "\"ver\": not a string");
	REFUSES(TLOG, "{\"ver\":\"x\"}", SHELTER_E_MALFORMED, "\"ver\": not <major>[.<minor>]");
	REFUSES(TLOG, "{\"ver\":\"2.\"}", SHELTER_E_MALFORMED, "\"ver\": not <major>[.<minor>]");
	REFUSES(TLOG, "{\"ver\":\"2.3.1\"}", SHELTER_E_MALFORMED, "\"ver\": not <major>");
	REFUSES(TLOG, "{\"ver\":\"3.0\"}", SHELTER_E_VERSION, "\"ver\" 3.0, want 2.x");
	REFUSES(TLOG, "{\"ver\":\"1\"}", SHELTER_E_VERSION, "\"ver\" 1, want 2.x");
	REFUSES(TLOG, "{\"ver\":\"2.3\"}", SHELTER_E_MALFORMED, "\"host\": missing");
	REFUSES(TLOG, "{\"ver\":\"2.3\",\"host\":\"h\",\"user\":\"u\",\"id\":1}", SHELTER_E_MALFORMED,
		"\"rec\": missing");
	REFUSES(TLOG, "{\"ver\":\"2.3\",\"host\":\"h\",\"rec\":\"r\",\"id\":1}", SHELTER_E_MALFORMED,
		"\"user\": missing");
	REFUSES(TLOG, "{\"ver\":\"2.3\",\"host\":\"h\",\"rec\":\"r\",\"user\":\"u\"}",
		SHELTER_E_MALFORMED, "\"id\": missing");
	REFUSES(TLOG, "{\"ver\":\"2.3\",\"host\":\"h\",\"rec\":\"r\",\"user\":\"u\",\"id\":0}",
		SHELTER_E_MALFORMED, "\"id\": not a positive integer");
	REFUSES(TLOG, "{\"ver\":\"2.3\",\"host\":\"h\",\"rec\":\"r\",\"user\":\"u\",\"id\":\"3\"}",
		SHELTER_E_MALFORMED, "\"id\": not a positive integer");
	REFUSES(TLOG, "{\"ver\":\"2.3\",\"host\":\"h\",\"rec\":\"r\",\"user\":\"u\",\"id\":1.5}",
		SHELTER_E_MALFORMED, "\"id\": not a positive integer");
	REFUSES(TLOG, TLOG_WITH(",\"host\":\"h2\""), SHELTER_E_MALFORMED, "duplicate object key");
	REFUSES(TLOG, TLOG_WITH(",\"session\":0"), SHELTER_E_MALFORMED,
		"\"session\": not a positive integer");
	REFUSES(TLOG, TLOG_WITH(",\"pos\":-1"), SHELTER_E_MALFORMED, "\"pos\": not an integer >= 0");
	REFUSES(TLOG, TLOG_WITH(",\"time\":-1"), SHELTER_E_MALFORMED, "\"time\": out of range");
	REFUSES(TLOG, TLOG_WITH(",\"time\":1e300"), SHELTER_E_MALFORMED, "\"time\": out of range");
	REFUSES(TLOG, TLOG_WITH(",\"time\":\"now\""), SHELTER_E_MALFORMED, "\"time\": not a number");
	REFUSES(TLOG, TLOG_WITH(",\"term\":1"), SHELTER_E_MALFORMED, "\"term\": not a string");
	REFUSES(TLOG, TLOG_WITH(",\"timing\":[]"), SHELTER_E_MALFORMED, "\"timing\": not a string");
	REFUSES(TLOG, TLOG_WITH(",\"out_txt\":5"), SHELTER_E_MALFORMED, "\"out_txt\": not a string");
	REFUSES(TLOG, TLOG_WITH(",\"in_bin\":{}"), SHELTER_E_MALFORMED, "\"in_bin\": not an array");
}

static void tlog_refuses_oversize_and_small_scratch(void)
{
	size_t n = SL_TLOG_MAX + 1;
	char *big = malloc(n), buf[4];
	struct sl_scratch s = { buf, 0, sizeof(buf) };
	struct shelter_err err;
	struct sl_event e;

	CHECK(big != NULL);
	memset(big, ' ', n);
	CHECK_RC(parse_n(TLOG, big, n, RECV_TLOG, &e, &err), SHELTER_E_FBIG);
	free(big);
	CHECK_RC(sl_tlog_parse(TLOG_LINE, strlen(TLOG_LINE), RECV_TLOG, &e, &s, &err),
		 SHELTER_E_FBIG);
	CHECK(s.used == 0 && is_clear(&e) && says(&err, "scratch of 4 bytes is full"));
}

/* ---- framing ---- */

static void framer_splits_both_framings(void)
{
	/* octet counted; LF; CR LF; empty lines; NUL; a count over an LF; digits that are
	 * no MSG-LEN; rsyslog's octet-counted frame with its LF counted */
	static const char in[] = "5 hello"
				 "line one\n"
				 "line two\r\n"
				 "\n\r\n\n"
				 "line three\0"
				 "3 a\nb"
				 "12abc\n"
				 "0abc\n"
				 "4 abc\n";
	static const char want[] = "hello|line one|line two|line three|a\nb|12abc|0abc|abc\n";
	static const size_t chunks[] = { 1, 2, 3, 5, 8, 13, sizeof(in) };
	char got[512];

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		frame_stream(in, sizeof(in) - 1, chunks[i], 0, got, sizeof(got));
		CHECK(str_is(sl_str_c(got), want));
	}
}

static void framer_cuts_long_messages(void)
{
	/* max 16: a line of 40, an octet count of 20, lines of exactly 16 (+CR) and 17 */
	static const char in[] = "this line is longer than sixteen bytes\n"
				 "20 abcdefghijklmnopqrst"
				 "next\n"
				 "0123456789abcdef\r\n"
				 "0123456789abcdefg\n"
				 "16 0123456789abcdef"
				 "end\n";
	static const char want[] = "this line is lon~|abcdefghijklmnop~|next|0123456789abcdef|"
				   "0123456789abcdef~|0123456789abcdef|end";
	static const size_t chunks[] = { 1, 4, 7, 18, 26, 27, sizeof(in) };
	char got[512];

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		frame_stream(in, sizeof(in) - 1, chunks[i], 16, got, sizeof(got));
		CHECK(str_is(sl_str_c(got), want));
	}
}

static void framer_waits_for_whole_messages(void)
{
	struct sl_framer f;
	struct sl_str msg;
	size_t consumed = 99;

	sl_framer_init(&f, 0);
	CHECK(f.max == SL_FRAME_MAX_DEFAULT);
	CHECK_RC(sl_framer_next(&f, "", 0, &consumed, &msg, NULL), 1);
	CHECK(consumed == 0 && msg.p == NULL);
	CHECK_RC(sl_framer_next(&f, "5 hel", 5, &consumed, &msg, NULL), 1);
	CHECK(consumed == 0);
	CHECK_RC(sl_framer_next(&f, "12345", 5, &consumed, &msg, NULL), 1);
	CHECK(consumed == 0);
	CHECK_RC(sl_framer_next(&f, "<13>1 - - -", 11, &consumed, &msg, NULL), 1);
	CHECK(consumed == 0);
	/* empty lines are dropped even when nothing follows */
	CHECK_RC(sl_framer_next(&f, "\n\r\n\n", 4, &consumed, &msg, NULL), 1);
	CHECK(consumed == 4);
	/* an octet count over max is cut, then skipped over several calls */
	sl_framer_init(&f, 4);
	CHECK_RC(sl_framer_next(&f, "10 abcdefg", 10, &consumed, &msg, NULL), 0);
	CHECK(f.cut && consumed == 7 && str_is(msg, "abcd"));
	CHECK_RC(sl_framer_next(&f, "efg", 3, &consumed, &msg, NULL), 1);
	CHECK(consumed == 3 && f.skip == 3);
	CHECK_RC(sl_framer_next(&f, "hij2 ok", 7, &consumed, &msg, NULL), 0);
	CHECK(!f.cut && consumed == 7 && str_is(msg, "ok"));
	sl_framer_init(&f, 2000000000);
	CHECK(f.max == 999999999);
}

static void framer_then_parser(void)
{
	char stream[512];
	struct sl_framer f;
	struct sl_event e;
	struct sl_str msg;
	struct shelter_err err;
	struct sl_scratch s = fresh();
	size_t consumed;
	int n = snprintf(stream, sizeof(stream), "%zu %s\n", strlen(SYSLOG_5424) + 1, SYSLOG_5424);

	sl_framer_init(&f, 0);
	CHECK_OK(sl_framer_next(&f, stream, (size_t)n, &consumed, &msg, &err));
	CHECK(consumed == (size_t)n && msg.len == strlen(SYSLOG_5424) + 1);
	CHECK_OK(sl_syslog_parse(msg.p, msg.len, RECV_5424, &e, &s, &err));
	CHECK(str_is(e.message, "pam_unix(sudo:session): session opened for user root"));
	CHECK(e.raw.len == strlen(SYSLOG_5424) + 1); /* raw is the frame, its LF included */
}

/* ---- syslog ---- */

static void syslog_5424_rsyslog_line(void)
{
	struct shelter_err err;
	struct sl_event e;

	CHECK_OK(parse(SYSLOG, SYSLOG_5424, RECV_5424, &e, &err));
	CHECK(e.source == SL_SRC_SYSLOG && e.source_seq == 17);
	CHECK(e.time_ns == INT64_C(1795405201123456000));
	CHECK(str_is(e.host, "host1") && str_is(e.action, "user.notice sudo[4242]"));
	CHECK(e.user.p == NULL && e.uid == SL_NONE && e.result.p == NULL);
	CHECK(json_is(&e, SYSLOG_5424_JSON));
}

static void syslog_5424_streamlog_sd(void)
{
	static const char msg[] =
		"<86>1 2026-11-23T04:40:01.5-05:30 host2.example.org sshd 991 LOGIN "
		"[streamlog@32473 user=\"bob\" uid=\"1001\" auid=\"1000\" session=\"42\" "
		"run_as=\"root\" result=\"success\" tty=\"pts/3\" addr=\"192.0.2.7\" "
		"to=\"db1.example.org\" on=\"/srv/a\\]b \\\"c\\\" \\\\d\\q]e\" future=\"x\"]"
		"[origin ip=\"192.0.2.1\" software=\"x\\]y\"][meta sequenceId=\"2147483647\"] "
		"\xef\xbb\xbf" "Accepted publickey for bob from 192.0.2.7 port 52144 ssh2\r\n";
	struct shelter_err err;
	struct sl_event e;

	CHECK_OK(parse(SYSLOG, msg, RECV_5424, &e, &err));
	CHECK(e.time_ns == INT64_C(1795428601500000000));
	CHECK(str_is(e.action, "authpriv.info sshd[991] LOGIN"));
	CHECK(str_is(e.user, "bob") && e.uid == 1001 && e.auid == 1000);
	CHECK(str_is(e.session, "42") && str_is(e.run_as, "root") && str_is(e.result, "success"));
	CHECK(str_is(e.tty, "pts/3") && str_is(e.from_addr, "192.0.2.7"));
	CHECK(str_is(e.target, "db1.example.org"));
	CHECK(str_is(e.object, "/srv/a]b \"c\" \\d\\q]e")); /* §6.3.3 escapes; '\q' kept */
	CHECK(e.source_seq == 2147483647);
	CHECK(str_is(e.message, "Accepted publickey for bob from 192.0.2.7 port 52144 ssh2"));
	CHECK(e.raw.len == sizeof(msg) - 1);
}

static void syslog_5424_rfc_examples(void)
{
	struct shelter_err err;
	struct sl_event e;

	/* RFC 5424 §6.5, examples 1 to 4 */
	CHECK_OK(parse(SYSLOG, "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
			       "\xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8",
		       RECV_5424, &e, &err));
	CHECK(e.time_ns == INT64_C(1065910455003000000) && str_is(e.action, "auth.crit su ID47"));
	CHECK(str_is(e.host, "mymachine.example.com"));
	CHECK(str_is(e.message, "'su root' failed for lonvick on /dev/pts/8"));
	CHECK_OK(parse(SYSLOG, "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
			       "%% It's time to make the do-nuts.",
		       RECV_5424, &e, &err));
	CHECK(e.time_ns == INT64_C(1061727255000003000));
	CHECK(str_is(e.action, "local4.notice myproc[8710]") && str_is(e.host, "192.0.2.1"));
	CHECK(str_is(e.message, "%% It's time to make the do-nuts."));
	CHECK_OK(parse(SYSLOG, "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - "
			       "ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
			       "eventID=\"1011\"] \xef\xbb\xbf" "An application event log entry...",
		       RECV_5424, &e, &err));
	CHECK(str_is(e.action, "local4.notice evntslog ID47") && e.source_seq == SL_NONE);
	CHECK(str_is(e.message, "An application event log entry..."));
	CHECK_OK(parse(SYSLOG, "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - "
			       "ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
			       "eventID=\"1011\"][examplePriority@32473 class=\"high\"]",
		       RECV_5424, &e, &err));
	CHECK(e.message.p == NULL);
}

static void syslog_5424_nil_values(void)
{
	static const char nul[] = "<13>1 - - - - - [a b=\"]\"] y\0";
	struct shelter_err err;
	struct sl_event e;

	CHECK_OK(parse(SYSLOG, "<0>1 - - - - - -", RECV_5424, &e, &err));
	CHECK(e.time_ns == SL_NONE && e.host.p == NULL && e.message.p == NULL);
	CHECK(json_is(&e, "{\"raw\":\"<0>1 - - - - - -\",\"recv\":1795405201500000000,\"src\":"
			  "{\"kind\":\"syslog\"},\"v\":1,\"what\":{\"action\":\"kern.emerg -\"}}"));
	CHECK_OK(parse(SYSLOG, "<191>1 - - - 77 - - \n", RECV_5424, &e, &err));
	CHECK(str_is(e.action, "local7.debug -[77]") && e.message.p == NULL);
	CHECK_OK(parse(SYSLOG, "<13>1 2028-02-29T12:00:00Z - - - - - x", RECV_5424, &e, &err));
	CHECK(e.time_ns == INT64_C(1835438400000000000) && str_is(e.message, "x"));
	CHECK_OK(parse_n(SYSLOG, nul, sizeof(nul) - 1, RECV_5424, &e, &err));
	CHECK(str_is(e.message, "y"));
}

static void syslog_3164_rsyslog_line(void)
{
	struct shelter_err err;
	struct sl_event e;

	CHECK_OK(parse(SYSLOG, SYSLOG_3164, RECV_3164, &e, &err));
	CHECK(e.time_ns == INT64_C(1795408867000000000) && str_is(e.host, "host1"));
	CHECK(str_is(e.action, "authpriv.notice sudo") && e.source_seq == SL_NONE);
	CHECK(json_is(&e, SYSLOG_3164_JSON));
}

static void syslog_3164_lenient(void)
{
	struct shelter_err err;
	struct sl_event e;

	/* RFC 3164 §5.4 examples, the year from the receive time */
	CHECK_OK(parse(SYSLOG, "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick "
			       "on /dev/pts/8", RECV_3164, &e, &err));
	CHECK(e.time_ns == INT64_C(1791756855000000000) && str_is(e.host, "mymachine"));
	CHECK(str_is(e.action, "auth.crit su"));
	CHECK(str_is(e.message, "'su root' failed for lonvick on /dev/pts/8"));
	CHECK_OK(parse(SYSLOG, "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", RECV_3164, &e, &err));
	CHECK(e.time_ns == INT64_C(1770312738000000000) && str_is(e.host, "10.0.0.99"));
	CHECK(str_is(e.action, "user.notice -") && str_is(e.message, "Use the BFG!"));
	/* no timestamp (RFC 3164 §4.3.2): everything after PRI is MSG */
	CHECK_OK(parse(SYSLOG, "<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 "
			       "sched[0]: That's All Folks!", RECV_3164, &e, &err));
	CHECK(e.time_ns == SL_NONE && e.host.p == NULL && str_is(e.action, "kern.emerg -"));
	CHECK(str_is(e.message, "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 "
				"sched[0]: That's All Folks!"));
	CHECK_OK(parse(SYSLOG, "<13>", RECV_3164, &e, &err));
	CHECK(e.message.p == NULL && str_is(e.action, "user.notice -"));
	CHECK_OK(parse(SYSLOG, "<13>Nov 23 04:41:07", RECV_3164, &e, &err));
	CHECK(e.time_ns == SL_NONE && str_is(e.message, "Nov 23 04:41:07"));
	/* a TAG and no HOSTNAME; an RFC 3339 timestamp (RSYSLOG_ForwardFormat) */
	CHECK_OK(parse(SYSLOG, "<13>Nov 23 04:41:07 sudo[4242]: hi", RECV_3164, &e, &err));
	CHECK(e.host.p == NULL && str_is(e.action, "user.notice sudo[4242]"));
	CHECK(str_is(e.message, "hi"));
	CHECK_OK(parse(SYSLOG, "<13>2026-11-23T04:40:01.123456+01:00 host1 sudo[4242]: hi\n",
		       RECV_3164, &e, &err));
	CHECK(e.time_ns == INT64_C(1795405201123456000) && str_is(e.host, "host1"));
	CHECK(str_is(e.action, "user.notice sudo[4242]") && str_is(e.message, "hi"));
	/* a host and text without a TAG */
	CHECK_OK(parse(SYSLOG, "<13>Nov 23 04:41:07 host1 kernel message", RECV_3164, &e, &err));
	CHECK(str_is(e.host, "host1") && str_is(e.message, "kernel message"));
	CHECK(str_is(e.action, "user.notice -"));
}

static void syslog_3164_year_rollover(void)
{
	struct shelter_err err;
	struct sl_event e;

	/* read just after the new year: December is last year's */
	CHECK_OK(parse(SYSLOG, "<13>Dec 31 23:59:59 h t: x", INT64_C(1798761605000000000), &e,
		       &err));
	CHECK(e.time_ns == INT64_C(1798761599000000000));
	/* a sender a little ahead, read just before the new year: January is next year's */
	CHECK_OK(parse(SYSLOG, "<13>Jan  1 00:00:01 h t: x", INT64_C(1798761598000000000), &e,
		       &err));
	CHECK(e.time_ns == INT64_C(1798761601000000000));
	/* Feb 29 exists in 2028 only */
	CHECK_OK(parse(SYSLOG, "<13>Feb 29 12:00:00 h t: x", INT64_C(1835481600000000000), &e,
		       &err));
	CHECK(e.time_ns == INT64_C(1835438400000000000));
	CHECK_OK(parse(SYSLOG, "<13>Feb 29 12:00:00 h t: x", INT64_C(1781481600000000000), &e,
		       &err));
	CHECK(e.time_ns == SL_NONE && str_is(e.message, "Feb 29 12:00:00 h t: x"));
	/* received time unknown: still no crash, the time of the nearest year or none */
	CHECK_OK(parse(SYSLOG, "<13>Jan  1 00:00:01 h t: x", SL_NONE, &e, &err));
	CHECK(e.time_ns == SL_NONE);
}

static void syslog_unparsed_keeps_the_record(void)
{
	struct shelter_err err;
	struct sl_event e;

	CHECK_RC(parse(SYSLOG, SYSLOG_BAD, RECV_5424, &e, &err), SHELTER_E_MALFORMED);
	CHECK(says(&err, "TIMESTAMP at byte 16: no such date"));
	sl_event_unparsed(SL_SRC_SYSLOG, SYSLOG_BAD, strlen(SYSLOG_BAD), RECV_5424, &e);
	CHECK(json_is(&e, SYSLOG_BAD_JSON));
	sl_event_unparsed(SL_SRC_SUDO, "x", 1, 5, &e);
	CHECK(json_is(&e, "{\"raw\":\"x\",\"recv\":5,\"src\":{\"kind\":\"sudo\"},\"v\":1,"
			  "\"what\":{\"result\":\"unparsed\"}}"));
	sl_event_unparsed(SL_SRC_TLOG, "", 0, 5, &e);
	CHECK(json_is(&e, "{\"raw\":\"\",\"recv\":5,\"src\":{\"kind\":\"tlog\"},\"v\":1,"
			  "\"what\":{\"result\":\"unparsed\"}}"));
}

/* ---- sudo ---- */

/* The members of SUDO_FILE read chunk bytes at a time. */
static void sudo_split_file(void)
{
	static const size_t chunks[] = { 1, 7, 64, sizeof(SUDO_FILE) };
	const char *accept = strstr(SUDO_FILE, "\"accept\""), *exit_ = strstr(SUDO_FILE, "\"exit\"");
	size_t accept_len = (size_t)(strstr(accept, "\n    },") + 6 - accept);

	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct sl_sudo_split sp;
		struct sl_str got[3];
		size_t fed = 0, off = 0, n = 0, consumed;

		sl_sudo_split_init(&sp, 0);
		while (fed < sizeof(SUDO_FILE) - 1 || n < 3) {
			size_t take = sizeof(SUDO_FILE) - 1 - fed < chunks[c]
					      ? sizeof(SUDO_FILE) - 1 - fed : chunks[c];
			int rc;

			fed += take;
			rc = sl_sudo_next(&sp, SUDO_FILE + off, fed - off, &consumed, &got[n], NULL);
			CHECK(rc == 0 || rc == 1);
			off += consumed;
			if (rc == 0)
				n++;
			if (rc == 1 && take == 0)
				break;
		}
		CHECK(n == 2 && !sp.cut);
		CHECK(got[0].p == accept && got[0].len == accept_len);
		CHECK(got[1].p == exit_ && got[1].p[got[1].len - 1] == '}');
		/* the final '}' is left for sudo to overwrite */
		CHECK(strcmp(SUDO_FILE + off, "}\n") == 0);
	}
}

/* sudo appends by overwriting "\n}\n": a reader that re-reads from its offset sees it. */
static void sudo_split_follows_appends(void)
{
	const char *second = strstr(SUDO_FILE, ",\n    \"exit\"");
	size_t head = (size_t)(second - SUDO_FILE), consumed, off;
	char first[4096];
	struct sl_sudo_split sp;
	struct sl_str m;

	CHECK(head + 4 < sizeof(first));
	memcpy(first, SUDO_FILE, head);
	memcpy(first + head, "\n}\n", 4);
	sl_sudo_split_init(&sp, 0);
	CHECK_OK(sl_sudo_next(&sp, first, head + 3, &consumed, &m, NULL));
	off = consumed;
	CHECK_RC(sl_sudo_next(&sp, first + off, head + 3 - off, &consumed, &m, NULL), 1);
	off += consumed;
	CHECK(strcmp(first + off, "}\n") == 0);
	/* the file now: sudo wrote ",\n    "exit": {...}\n}\n" from offset head */
	CHECK_OK(sl_sudo_next(&sp, SUDO_FILE + off, strlen(SUDO_FILE) - off, &consumed, &m, NULL));
	CHECK(m.p == strstr(SUDO_FILE, "\"exit\""));
}

static void sudo_split_cuts_long_members(void)
{
	static const char in[] = "{\"accept\": {\"runargv\": [\"}\", \"x\\\"}\"]}, \"exit\": {}}";
	struct sl_sudo_split sp;
	struct sl_str m;
	size_t consumed, off;

	sl_sudo_split_init(&sp, 20);
	CHECK_RC(sl_sudo_next(&sp, in, 10, &consumed, &m, NULL), 1);
	CHECK(consumed == 1);
	off = consumed;
	CHECK_OK(sl_sudo_next(&sp, in + off, sizeof(in) - 1 - off, &consumed, &m, NULL));
	CHECK(sp.cut && m.len == 20 && m.p == in + 1 && consumed == 20);
	off += consumed;
	/* the rest of the member, strings with braces included, is dropped */
	CHECK_RC(sl_sudo_next(&sp, in + off, 5, &consumed, &m, NULL), 1);
	CHECK(consumed == 5 && sp.skipping);
	off += consumed;
	CHECK_OK(sl_sudo_next(&sp, in + off, sizeof(in) - 1 - off, &consumed, &m, NULL));
	CHECK(!sp.cut && str_is(m, "\"exit\": {}"));
}

static void sudo_accept_event(void)
{
	const char *accept = strstr(SUDO_FILE, "\"accept\"");
	size_t len = (size_t)(strstr(accept, "\n    },") + 6 - accept);
	struct shelter_err err;
	struct sl_event e;

	CHECK_OK(parse_n(SUDO, accept, len, RECV_SUDO, &e, &err));
	CHECK(e.source == SL_SRC_SUDO && e.source_seq == SL_NONE);
	CHECK(str_is(e.user, "alice") && e.uid == 1000 && str_is(e.run_as, "root"));
	CHECK(str_is(e.action, "/usr/bin/systemctl restart nginx") && str_is(e.result, "accept"));
	CHECK(e.time_ns == INT64_C(1795408867401234000));
	CHECK(json_is(&e, SUDO_ACCEPT_JSON));
	/* the same record as a file of one event, and in sudo's syslog form */
	CHECK_OK(parse(SUDO, "{\n    \"accept\": {\"submituser\": \"alice\", \"command\": "
			     "\"/usr/bin/id\", \"runargv\": [\"id\", \"-u\"]}\n}\n",
		       RECV_SUDO, &e, &err));
	CHECK(str_is(e.user, "alice") && str_is(e.action, "/usr/bin/id -u"));
	CHECK_OK(parse(SUDO, "@cee:{\"sudo\":{\"accept\":{\"uuid\":\"u1\",\"submituser\":\"alice\","
			     "\"command\":\"/usr/bin/id\",\"runargv\":[\"id\"]}}}",
		       RECV_SUDO, &e, &err));
	CHECK(str_is(e.session, "u1") && str_is(e.action, "/usr/bin/id"));
	CHECK(e.time_ns == SL_NONE && e.uid == SL_NONE);
}

static void sudo_exit_reject_alert(void)
{
	struct shelter_err err;
	struct sl_event e;

	CHECK_OK(parse_n(SUDO, strstr(SUDO_FILE, "\"exit\""),
			 strlen(strstr(SUDO_FILE, "\"exit\"")) - 3, RECV_SUDO, &e, &err));
	CHECK(str_is(e.result, "exit 0") && str_is(e.session, "0b9f0e25-3f4a-4a4f-9d1e-2b8e5c1a7d42"));
	CHECK(e.time_ns == INT64_C(1795408868981234000) && e.user.p == NULL && e.action.p == NULL);
	CHECK_OK(parse(SUDO, "\"exit\": {\"uuid\": \"u\", \"signal\": \"KILL\", \"dumped_core\": "
			     "true, \"exit_value\": 137}", RECV_SUDO, &e, &err));
	CHECK(str_is(e.result, "exit 137, signal KILL, core dumped"));
	CHECK_OK(parse(SUDO, "\"reject\": {\"uuid\": \"u2\", \"reason\": \"command not allowed\", "
			     "\"submit_time\": {\"seconds\": 1795408867, \"nanoseconds\": 100000000}, "
			     "\"submituser\": \"mallory\", \"command\": \"/bin/cat\", \"runuser\": "
			     "\"root\", \"runcwd\": \"/tmp\", \"ttyname\": \"/dev/pts/2\", "
			     "\"submithost\": \"host1\", \"runargv\": [\"cat\", \"/etc/shadow\"]}",
		       RECV_SUDO, &e, &err));
	CHECK(str_is(e.result, "reject: command not allowed") && str_is(e.user, "mallory"));
	CHECK(str_is(e.action, "/bin/cat /etc/shadow") && str_is(e.object, "/tmp"));
	CHECK(e.time_ns == INT64_C(1795408867100000000));
	CHECK_OK(parse(SUDO, "\"alert\": {\"reason\": \"unable to open audit system\", "
			     "\"alert_time\": {\"seconds\": 1795408867, \"nanoseconds\": 0}}",
		       RECV_SUDO, &e, &err));
	CHECK(str_is(e.result, "alert: unable to open audit system"));
	CHECK(e.time_ns == INT64_C(1795408867000000000));
	/* sudo 1.9.0's "timestamp", and server_time when nothing else says */
	CHECK_OK(parse(SUDO, "\"accept\": {\"timestamp\": {\"seconds\": 5}, \"server_time\": "
			     "{\"seconds\": 7}}", RECV_SUDO, &e, &err));
	CHECK(e.time_ns == INT64_C(5000000000));
	CHECK_OK(parse(SUDO, "\"accept\": {\"server_time\": {\"seconds\": 7}}", RECV_SUDO, &e, &err));
	CHECK(e.time_ns == INT64_C(7000000000));
}

static void sudo_command_line_quoting(void)
{
	static const char quoted[] = "/usr/bin/vi '/etc/my file' 'it'\\''s' '' 'a\nb' ok=1,2 "
				     "'\xc3\xa9' 'x\0y'";
	struct shelter_err err;
	struct sl_event e;
	char *big;
	size_t n = 0;

	CHECK_OK(parse(SUDO, "\"accept\": {\"command\": \"/usr/bin/vi\", \"runargv\": [\"vi\", "
			     "\"/etc/my file\", \"it's\", \"\", \"a\\nb\", \"ok=1,2\", \"\\u00e9\", "
			     "\"x\\u0000y\"]}", RECV_SUDO, &e, &err));
	CHECK(e.action.len == sizeof(quoted) - 1 && memcmp(e.action.p, quoted, sizeof(quoted) - 1) == 0);
	CHECK_OK(parse(SUDO, "\"accept\": {\"runargv\": [\"ls\", \"-l\"]}", RECV_SUDO, &e, &err));
	CHECK(str_is(e.action, "ls -l"));
	/* a command line over 4 KiB is cut there, and the entry says "trunc" */
	big = malloc(20000);
	CHECK(big != NULL);
	n = (size_t)sprintf(big, "\"accept\": {\"runargv\": [");
	for (int i = 0; i < 1000; i++)
		n += (size_t)sprintf(big + n, "%s\"arg%04d\"", i ? ", " : "", i);
	sprintf(big + n, "]}");
	CHECK_OK(parse(SUDO, big, RECV_SUDO, &e, &err));
	n = e.action.len;
	to_json(&e); /* raw points into big */
	free(big);
	CHECK(n == 4096 && strstr(g_json, "\"trunc\":true") != NULL);
}

/* ---- tlog ---- */

static void tlog_output_message(void)
{
	struct shelter_err err;
	struct sl_event e;

	CHECK_OK(parse(TLOG, TLOG_LINE, RECV_TLOG, &e, &err));
	CHECK(e.source == SL_SRC_TLOG && e.source_seq == 3);
	CHECK(e.time_ns == INT64_C(1795408867412000000));
	CHECK(str_is(e.action, "tlog session output"));
	CHECK(json_is(&e, TLOG_JSON));
}

static void tlog_file_of_lines(void)
{
	char file[2048], *id;
	struct sl_framer f;
	struct sl_scratch s;
	struct sl_event e;
	struct sl_str msg;
	size_t off = 0, consumed;
	int seq = 3;

	/* tlog's file writer: a line per message; the second has the next id */
	snprintf(file, sizeof(file), "%s\n%s\n", TLOG_LINE, TLOG_LINE);
	id = strstr(strchr(file, '\n'), "\"id\":3");
	CHECK(id != NULL);
	id[5] = '4';
	sl_framer_init(&f, 0);
	while (sl_framer_next(&f, file + off, strlen(file) - off, &consumed, &msg, NULL) == 0) {
		off += consumed;
		s = fresh();
		CHECK_OK(sl_tlog_parse(msg.p, msg.len, RECV_TLOG, &e, &s, NULL));
		CHECK(e.source_seq == seq++);
	}
	CHECK(seq == 5 && off == strlen(file));
}

static void tlog_input_and_versions(void)
{
	struct shelter_err err;
	struct sl_event e;

	/* tlog's doc/log_format.md example (format 2.1: no "time") */
	CHECK_OK(parse(TLOG, "{\"ver\": \"2.1\", \"host\": \"server.example.com\", \"rec\": "
			     "\"e843f15839e54e7d83bdc8c128978586-22c2-5d24f15\", \"user\": \"johndoe\", "
			     "\"term\": \"xterm\", \"session\": 324, \"id\": 23, \"pos\": 345349, "
			     "\"timing\": \"=80x24<5+1>6+3>30+6>20\", \"in_txt\": \"date\\r\", "
			     "\"in_bin\": [], \"out_txt\": \"date\\r\\nMon Nov 30 11:52:45 UTC "
			     "2015\\r\\n[johndoe@server ~]$ \", \"out_bin\": []}",
		       RECV_TLOG, &e, &err));
	CHECK(e.time_ns == SL_NONE && e.source_seq == 23 && str_is(e.tty, "xterm"));
	CHECK(str_is(e.action, "tlog session input and output"));
	CHECK(str_is(e.message, "in: date\r\nout: date\r\nMon Nov 30 11:52:45 UTC 2015\r\n"
				"[johndoe@server ~]$ "));
	CHECK_OK(parse(TLOG, TLOG_WITH(",\"ver2\":1,\"in_txt\":\"ls\\r\",\"out_txt\":\"\""),
		       RECV_TLOG, &e, &err));
	CHECK(str_is(e.action, "tlog session input") && str_is(e.message, "ls\r"));
	CHECK_OK(parse(TLOG, "{\"ver\":\"2\",\"host\":\"h\",\"rec\":\"r\",\"user\":\"u\",\"id\":9,"
			     "\"timing\":\"=100x30\",\"out_txt\":\"a\\u0000b\"}", RECV_TLOG, &e, &err));
	CHECK(str_is(e.action, "tlog session output") && e.message.len == 3);
	CHECK(strstr(to_json(&e), "\"message\":\"a\\u0000b\"") != NULL);
	CHECK_OK(parse(TLOG, TLOG_WITH(",\"timing\":\"=100x30\""), RECV_TLOG, &e, &err));
	CHECK(e.message.p == NULL && e.tty.p == NULL);
}

/* ---- sweeps: every prefix and every one-bit change of every sample ---- */

/* rc is 0 or a code the kind documents; a success gives valid JSON within 64 KiB */
static int sweep_one(enum kind k, const char *in, size_t len)
{
	struct shelter_err err;
	struct sl_event e;
	json_t *j;
	size_t n;
	int rc = parse_n(k, in, len, RECV_5424, &e, &err);

	if (rc == SHELTER_E_MALFORMED || rc == SHELTER_E_VERSION)
		return 1;
	if (rc != 0) {
		fprintf(stderr, "  rc %d on %zu bytes: %s\n", rc, len, err.msg);
		return 0;
	}
	if (sl_event_json(&e, g_json, sizeof(g_json), &n, &err) != 0)
		return 0;
	j = json_loadb(g_json, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	json_decref(j);
	return j != NULL && e.raw.p == in && e.raw.len == len;
}

static int sweep(enum kind k, const char *sample, size_t len)
{
	char *buf = malloc(len + 1);
	int ok = buf != NULL;

	for (size_t i = 0; ok && i <= len; i++) {
		memcpy(buf, sample, i); /* exactly i bytes: ASan sees a read past them */
		ok = sweep_one(k, buf, i);
	}
	for (size_t i = 0; ok && i < len * 8; i++) {
		memcpy(buf, sample, len);
		buf[i / 8] ^= (char)(1 << (i % 8));
		ok = sweep_one(k, buf, len);
	}
	free(buf);
	return ok;
}

static void sweeps(void)
{
	static const char sd[] = "<86>1 2026-11-23T04:40:01.5-05:30 h sshd 9 L [streamlog@32473 "
				 "user=\"b\\\"o\" uid=\"1\" on=\"x\"][meta sequenceId=\"4\"] "
				 "\xef\xbb\xbfm";
	static const char cee[] = "@cee:{\"sudo\":{\"reject\":{\"reason\":\"r\",\"submituser\":"
				  "\"a\",\"runargv\":[\"a b\"],\"submit_time\":{\"seconds\":1}}}}";
	const char *exit_ = strstr(SUDO_FILE, "\"exit\"");

	CHECK(sweep(SYSLOG, SYSLOG_5424, strlen(SYSLOG_5424)));
	CHECK(sweep(SYSLOG, SYSLOG_3164, strlen(SYSLOG_3164)));
	CHECK(sweep(SYSLOG, sd, strlen(sd)));
	CHECK(sweep(SUDO, exit_, strlen(exit_) - 3));
	CHECK(sweep(SUDO, cee, strlen(cee)));
	CHECK(sweep(TLOG, TLOG_LINE, strlen(TLOG_LINE)));
}

int main(void)
{
	test_binary = "test_streamlog_parse";

	RUN(framer_refuses_bad_lengths);
	RUN(syslog_refuses_bad_pri);
	RUN(syslog_refuses_other_versions);
	RUN(syslog_refuses_bad_timestamps);
	RUN(syslog_refuses_bad_header_fields);
	RUN(syslog_refuses_bad_structured_data);
	RUN(syslog_refuses_small_scratch);
	RUN(sudo_refuses_bad_records);
	RUN(sudo_refuses_oversize_and_small_scratch);
	RUN(sudo_split_refuses_other_layouts);
	RUN(tlog_refuses_bad_messages);
	RUN(tlog_refuses_oversize_and_small_scratch);

	RUN(framer_splits_both_framings);
	RUN(framer_cuts_long_messages);
	RUN(framer_waits_for_whole_messages);
	RUN(framer_then_parser);
	RUN(syslog_5424_rsyslog_line);
	RUN(syslog_5424_streamlog_sd);
	RUN(syslog_5424_rfc_examples);
	RUN(syslog_5424_nil_values);
	RUN(syslog_3164_rsyslog_line);
	RUN(syslog_3164_lenient);
	RUN(syslog_3164_year_rollover);
	RUN(syslog_unparsed_keeps_the_record);
	RUN(sudo_split_file);
	RUN(sudo_split_follows_appends);
	RUN(sudo_split_cuts_long_members);
	RUN(sudo_accept_event);
	RUN(sudo_exit_reject_alert);
	RUN(sudo_command_line_quoting);
	RUN(tlog_output_message);
	RUN(tlog_file_of_lines);
	RUN(tlog_input_and_versions);
	RUN(sweeps);
	return test_total_failed == 0 ? 0 : 1;
}
