/* streamlog: the tamper-evident record of what administrators do (docs/streamlog.md).
 *
 *   streamlog serve   --store DIR --signing-key KEY --listen HOST:PORT --cert PEM
 *                     --key PEM [--origin NAME] [--client-ca PEM] [--anchor-file F]
 *                     [--anchor-ms N] [--publish-ms N] [--silence-ms N] [--max-conns N]
 *                     [--follow KIND:PATH]... audit|sudo|tlog|sudo-io files (§3.5)
 *                     [--freshness HOST:PORT --freshness-genesis HEX
 *                      --freshness-provider DIR [--freshness-accept-sim]
 *                      [--freshness-measurement HEX]]     anchor in the freshness service
 *   streamlog audisp  --to HOST:PORT [--ca PEM] [--cert PEM --key PEM]
 *                     auditd plugin: audit records on stdin to the daemon (docs/streamlog.md §3.5)
 *   streamlog keygen  --signing-key KEY [--origin NAME]     new key; prints its vkey
 *   streamlog vkey    --signing-key KEY [--origin NAME]     prints the verifier key
 *   streamlog verify  (--store DIR | --bundle FILE) (--vkey V | --vkey-file F)
 *                     [--checkpoint NOTE]
 *   streamlog query   --store DIR (--vkey V | --vkey-file F) [--checkpoint NOTE]
 *                     [--who U] [--what TEXT] [--host H] [--source KIND]
 *                     [--since T] [--until T] [--limit N] [--json]
 *   streamlog export  (query's options) --out FILE
 *   streamlog iolog   --store DIR (--vkey V | --vkey-file F) [--checkpoint NOTE]
 *                     --session ID-OR-DIR --out OUTDIR     a sudo I/O log session back
 *   streamlog view    --store DIR (--vkey V | --vkey-file F) --listen HOST:PORT
 *                     --cert PEM --key PEM [--max-conns N]     read-only web viewer
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelter/crypto.h"
#include "streamlog/audisp.h"
#include "streamlog/cli.h"
#include "streamlog/common.h"
#include "streamlog/follow_src.h"
#include "streamlog/serve.h"
#include "streamlog/view.h"

#define DEFAULT_ORIGIN "streamlog.localhost/log"

struct args {
	struct sl_serve_config serve;
	struct sl_filter filter;
	const char *bundle, *out;
	const char *to, *ca; /* audisp */
	const char *session; /* iolog */
};

enum {
	OPT_STORE = 256, OPT_SIGNING_KEY, OPT_LISTEN, OPT_CERT, OPT_KEY, OPT_ORIGIN,
	OPT_CLIENT_CA, OPT_ANCHOR_FILE, OPT_ANCHOR_MS, OPT_PUBLISH_MS, OPT_SILENCE_MS,
	OPT_MAX_CONNS, OPT_VKEY, OPT_VKEY_FILE, OPT_CHECKPOINT, OPT_BUNDLE, OPT_WHO, OPT_WHAT,
	OPT_HOST, OPT_SOURCE, OPT_SINCE, OPT_UNTIL, OPT_LIMIT, OPT_JSON, OPT_OUT,
	OPT_FRESHNESS, OPT_FRESH_GENESIS, OPT_FRESH_PROVIDER, OPT_FRESH_ACCEPT_SIM,
	OPT_FRESH_MEASUREMENT, OPT_FOLLOW, OPT_TO, OPT_CA, OPT_SESSION,
};

static const struct option OPTIONS[] = {
	{ "store", required_argument, NULL, OPT_STORE },
	{ "signing-key", required_argument, NULL, OPT_SIGNING_KEY },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "origin", required_argument, NULL, OPT_ORIGIN },
	{ "client-ca", required_argument, NULL, OPT_CLIENT_CA },
	{ "anchor-file", required_argument, NULL, OPT_ANCHOR_FILE },
	{ "anchor-ms", required_argument, NULL, OPT_ANCHOR_MS },
	{ "publish-ms", required_argument, NULL, OPT_PUBLISH_MS },
	{ "silence-ms", required_argument, NULL, OPT_SILENCE_MS },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "vkey", required_argument, NULL, OPT_VKEY },
	{ "vkey-file", required_argument, NULL, OPT_VKEY_FILE },
	{ "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
	{ "bundle", required_argument, NULL, OPT_BUNDLE },
	{ "who", required_argument, NULL, OPT_WHO },
	{ "what", required_argument, NULL, OPT_WHAT },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "freshness", required_argument, NULL, OPT_FRESHNESS },
	{ "freshness-genesis", required_argument, NULL, OPT_FRESH_GENESIS },
	{ "freshness-provider", required_argument, NULL, OPT_FRESH_PROVIDER },
	{ "freshness-accept-sim", no_argument, NULL, OPT_FRESH_ACCEPT_SIM },
	{ "freshness-measurement", required_argument, NULL, OPT_FRESH_MEASUREMENT },
	{ "follow", required_argument, NULL, OPT_FOLLOW },
	{ "to", required_argument, NULL, OPT_TO },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "session", required_argument, NULL, OPT_SESSION },
	{ NULL, 0, NULL, 0 },
};

static int usage(const char *why)
{
	fprintf(stderr, "streamlog: %s\nusage: streamlog serve|audisp|keygen|vkey|verify|query|"
			"export|iolog|view [options] (docs/streamlog.md §6, §7)\n", why);
	return SL_EXIT_USAGE;
}

/* A decimal in [1, max]. */
static int number(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v == 0 || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int option(struct args *a, int c, const char *v)
{
	unsigned n;

	switch (c) {
	case OPT_STORE: a->serve.store = a->filter.store = v; return 0;
	case OPT_SIGNING_KEY: a->serve.signing_key = v; return 0;
	case OPT_LISTEN: a->serve.listen = v; return 0;
	case OPT_CERT: a->serve.cert = v; return 0;
	case OPT_KEY: a->serve.tls_key = v; return 0;
	case OPT_ORIGIN: a->serve.origin = v; return 0;
	case OPT_CLIENT_CA: a->serve.client_ca = v; return 0;
	case OPT_ANCHOR_FILE: a->serve.anchor_path = v; return 0;
	case OPT_ANCHOR_MS: return number(v, 3600000, &a->serve.anchor_ms);
	case OPT_PUBLISH_MS: return number(v, 3600000, &a->serve.publish_ms);
	case OPT_SILENCE_MS: return strcmp(v, "0") == 0 ? (a->serve.silence_ms = 0, 0)
							: number(v, 86400000, &a->serve.silence_ms);
	case OPT_MAX_CONNS: return number(v, 100000, &a->serve.max_conns);
	case OPT_VKEY: a->filter.vkey = v; return 0;
	case OPT_VKEY_FILE: a->filter.vkey_file = v; return 0;
	case OPT_CHECKPOINT: a->filter.checkpoint = v; return 0;
	case OPT_BUNDLE: a->bundle = v; return 0;
	case OPT_WHO: a->filter.who = v; return 0;
	case OPT_WHAT: a->filter.what = v; return 0;
	case OPT_HOST: a->filter.host = v; return 0;
	case OPT_SOURCE: a->filter.source = v; return 0;
	case OPT_SINCE: return sl_time_parse(v, &a->filter.since);
	case OPT_UNTIL: return sl_time_parse(v, &a->filter.until);
	case OPT_LIMIT: return number(v, 100000000, &n) ? -1 : (a->filter.limit = n, 0);
	case OPT_JSON: a->filter.json = 1; return 0;
	case OPT_OUT: a->out = v; return 0;
	case OPT_FRESHNESS: a->serve.fresh.addr = v; return 0;
	case OPT_FRESH_GENESIS: a->serve.fresh.genesis = v; return 0;
	case OPT_FRESH_PROVIDER: a->serve.fresh.provider = v; return 0;
	case OPT_FRESH_ACCEPT_SIM: a->serve.fresh.accept_sim = 1; return 0;
	case OPT_FRESH_MEASUREMENT: a->serve.fresh.measurement = v; return 0;
	case OPT_FOLLOW:
		if (a->serve.follow_count >= SL_FOLLOW_MAX || sl_follow_spec_check(v) != NULL)
			return -1;
		a->serve.follow[a->serve.follow_count++] = v;
		return 0;
	case OPT_TO: a->to = v; return 0;
	case OPT_CA: a->ca = v; return 0;
	case OPT_SESSION: a->session = v; return 0;
	default: return -1;
	}
}

static int key_command(const struct args *a, int create)
{
	struct shelter_err err;
	uint8_t seed[32], pub[32];
	char vk[512];
	int rc;

	if (a->serve.signing_key == NULL)
		return usage("--signing-key is required");
	rc = create ? sl_key_create(a->serve.signing_key, seed, &err)
		    : sl_key_load(a->serve.signing_key, seed, &err);
	if (rc == 0)
		rc = shelter_ed25519_public(seed, pub, &err);
	shelter_wipe(seed, sizeof(seed));
	if (rc == 0)
		rc = shelter_log_verifier_format(a->serve.origin, pub, vk, sizeof(vk), &err);
	if (rc != 0)
		return sl_fail(create ? "keygen" : "vkey", &err);
	printf("%s\n", vk);
	return SL_EXIT_OK;
}

static int serve_command(struct args *a)
{
	struct sl_serve_config *c = &a->serve;
	const char *why;

	if (c->store == NULL || c->signing_key == NULL || c->listen == NULL || c->cert == NULL ||
	    c->tls_key == NULL)
		return usage("serve needs --store, --signing-key, --listen, --cert and --key");
	if ((why = sl_fresh_config_check(&c->fresh, c->anchor_path)) != NULL)
		return usage(why);
	return sl_serve(c);
}

/* The auditd plugin (docs/streamlog.md §3.5.7): --cert and --key are its client's. */
static int audisp_command(const struct args *a)
{
	struct sl_audisp_config c = {
		.to = a->to, .ca = a->ca, .cert = a->serve.cert, .key = a->serve.tls_key,
	};

	if (c.to == NULL)
		return usage("audisp needs --to HOST:PORT");
	if ((c.cert == NULL) != (c.key == NULL))
		return usage("audisp: give --cert and --key together");
	return sl_audisp(&c);
}

/* The viewer holds the log's public key only: no --signing-key (viewer spec §1). */
static int view_command(const struct args *a)
{
	struct sl_view_config c = {
		.store = a->filter.store, .vkey = a->filter.vkey, .vkey_file = a->filter.vkey_file,
		.listen = a->serve.listen, .cert = a->serve.cert, .tls_key = a->serve.tls_key,
		.max_conns = a->serve.max_conns,
	};

	if (c.store == NULL || c.listen == NULL || c.cert == NULL || c.tls_key == NULL)
		return usage("view needs --store, --listen, --cert and --key");
	if ((c.vkey == NULL) == (c.vkey_file == NULL))
		return usage("give --vkey or --vkey-file: the log's public key");
	if (a->serve.signing_key != NULL)
		return usage("view takes no --signing-key: it needs the public key only");
	return sl_view(&c);
}

int main(int argc, char **argv)
{
	struct args a;
	const char *cmd = argc > 1 ? argv[1] : "";
	int c;

	memset(&a, 0, sizeof(a));
	a.serve.origin = DEFAULT_ORIGIN;
	a.serve.anchor_ms = 1000;
	a.serve.publish_ms = 50;
	a.serve.silence_ms = 10000;
	a.serve.max_conns = 1024;
	a.filter.since = a.filter.until = INT64_MIN;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", OPTIONS, NULL)) != -1) {
		if (c == '?' || option(&a, c, optarg) != 0)
			return usage(c == '?' ? "unknown option" : "bad option value");
	}
	if (optind != argc)
		return usage("unexpected argument");
	if (strcmp(cmd, "serve") == 0)
		return serve_command(&a);
	if (strcmp(cmd, "audisp") == 0)
		return audisp_command(&a);
	if (strcmp(cmd, "view") == 0)
		return view_command(&a);
	if (strcmp(cmd, "keygen") == 0 || strcmp(cmd, "vkey") == 0)
		return key_command(&a, strcmp(cmd, "keygen") == 0);
	if (strcmp(cmd, "iolog") == 0) {
		if (a.filter.store == NULL || a.session == NULL || a.out == NULL)
			return usage("iolog needs --store, --session and --out");
		if ((a.filter.vkey == NULL) == (a.filter.vkey_file == NULL))
			return usage("give --vkey or --vkey-file: the log's public key");
		return sl_iolog_extract(&a.filter, a.session, a.out);
	}
	if (strcmp(cmd, "verify") == 0 || strcmp(cmd, "query") == 0 || strcmp(cmd, "export") == 0) {
		int store = a.filter.store != NULL, bundle = a.bundle != NULL;

		if (strcmp(cmd, "verify") == 0 ? store == bundle : !store || bundle)
			return usage("give --store (or, to verify, --bundle instead)");
		if (a.filter.vkey == NULL && a.filter.vkey_file == NULL)
			return usage("give --vkey or --vkey-file: the log's public key");
		if (strcmp(cmd, "query") == 0)
			return sl_query(&a.filter);
		if (strcmp(cmd, "export") == 0)
			return a.out != NULL ? sl_export(&a.filter, a.out) : usage("export needs --out");
		return a.bundle != NULL ? sl_verify_bundle(&a.filter, a.bundle)
					: sl_verify_store(&a.filter);
	}
	return usage(argc > 1 ? "unknown command" : "no command");
}
