/* shelter session: owners create, change and read CAS sessions (docs/api/cas.md §3). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attest/ratls.h"
#include "cas/audit.h"
#include "cli/cli.h"
#include "shelter/crypto.h"

#define POLICY_MAX (256 * 1024)

static const char session_help[] =
	"usage: shelter session <verb> ... [--cas URL --cas-cert FILE] [--owner-key KEY]\n"
	"\n"
	"  keygen KEY                 make an owner key (Ed25519, PEM, 0600); prints the owner id\n"
	"  apply FILE [--predecessor HASH]\n"
	"                             create the session FILE describes (docs/policy.md), or\n"
	"                             replace the version whose hash is HASH\n"
	"  show NAME [--json]         the current version, its policy and volume tags\n"
	"  history NAME               every version with the hash it replaced\n"
	"  audit NAME [--verify]      the session's audit trail; --verify checks every link\n"
	"\n"
	"The CAS certificate is pinned: --cas-cert FILE (or SHELTER_CAS_CERT) is the\n"
	"DATA/cas.crt the CAS wrote. The owner is the key: only it reads or changes its\n"
	"sessions. Exit codes: 0 success, 1 failure or a broken trail, 2 usage error.\n";

struct sopts {
	struct cli_cas cas;
	const char *predecessor;
	int json, verify;
	char *args[2];
	int nargs;
};

static int parse(int argc, char **argv, struct sopts *o)
{
	static const struct option longopts[] = {
		{ "cas", required_argument, NULL, 'c' },
		{ "cas-cert", required_argument, NULL, 'C' },
		{ "owner-key", required_argument, NULL, 'k' },
		{ "predecessor", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "verify", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->cas.url = optarg; break;
		case 'C': o->cas.cert_file = optarg; break;
		case 'k': o->cas.owner_key = optarg; break;
		case 'p': o->predecessor = optarg; break;
		case 'j': o->json = 1; break;
		case 'v': o->verify = 1; break;
		case 'h': fputs(session_help, stdout); return 1;
		default: return -1;
		}
	}
	for (; optind < argc; optind++) {
		if (o->nargs == 2)
			return -1;
		o->args[o->nargs++] = argv[optind];
	}
	return 0;
}

static int keygen(const char *path)
{
	struct shelter_err err;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	uint8_t id[32];
	char hex[65];
	int rc;

	shelter_err_clear(&err);
	if (key == NULL)
		return fprintf(stderr, "shelter: session keygen: key generation failed\n"), CLI_FAIL;
	rc = ratls_key_save_pem(key, path, &err);
	if (rc == 0)
		rc = ratls_key_spki_sha256(key, id, &err);
	EVP_PKEY_free(key);
	if (rc < 0)
		return cli_fail("session keygen", &err);
	shelter_hex(id, 32, hex);
	printf("%s\n", hex);
	return CLI_OK;
}

static int apply(struct sopts *o)
{
	struct shelter_err err;
	char *text = NULL, name[128], target[256];
	size_t size;
	json_t *body = NULL, *ans = NULL;
	const char *p;
	int rc;

	shelter_err_clear(&err);
	rc = cli_read_file(o->args[1], POLICY_MAX, &text, &size, &err);
	if (rc < 0)
		return cli_fail("session apply", &err);
	/* The session's name is the policy's top-level name (a line of its own, not
	 * indented); the CAS checks that it matches (cas.md §3.1). */
	for (p = strstr(text, "name:"); p != NULL && p != text && p[-1] != '\n';
	     p = strstr(p + 1, "name:"))
		;
	if (p == NULL || sscanf(p + 5, " %127[A-Za-z0-9._-]", name) != 1) {
		free(text);
		return cli_usage("'%s': no top-level 'name:' line", o->args[1]);
	}
	snprintf(target, sizeof(target), "/v1/sessions/%s", name);
	body = json_pack("{s:s%, s:o}", "policy", text, size, "predecessor",
			 o->predecessor ? json_string(o->predecessor) : json_null());
	rc = body ? cli_cas_call(&o->cas, "PUT", target, body, &ans, &err)
		  : shelter_err_set(&err, SHELTER_E_INVAL, "'%s' is not UTF-8", o->args[1]);
	if (rc == 0)
		printf("session %s version %lld hash %s\n", name,
		       (long long)json_integer_value(json_object_get(ans, "version")),
		       json_string_value(json_object_get(ans, "hash")));
	free(text);
	json_decref(body);
	json_decref(ans);
	return rc < 0 ? cli_fail("session apply", &err) : CLI_OK;
}

static void print_session(json_t *s)
{
	size_t i;
	json_t *v;

	printf("session  %s\nversion  %lld\nhash     %s\nowner    %s\nupdated  %s\n",
	       json_string_value(json_object_get(s, "name")),
	       (long long)json_integer_value(json_object_get(s, "version")),
	       json_string_value(json_object_get(s, "hash")),
	       json_string_value(json_object_get(s, "owner")),
	       json_string_value(json_object_get(s, "updated")));
	json_array_foreach(json_object_get(s, "volumes"), i, v) {
		const char *tag = json_string_value(json_object_get(v, "tag"));

		printf("volume   %s tag %s\n", json_string_value(json_object_get(v, "name")),
		       tag ? tag : "(none yet)");
	}
	printf("--- policy\n%s", json_string_value(json_object_get(s, "policy")));
}

static int show(struct sopts *o, const char *what)
{
	struct shelter_err err;
	char target[256];
	json_t *ans = NULL, *v;
	size_t i;
	int rc;

	shelter_err_clear(&err);
	snprintf(target, sizeof(target), "/v1/sessions/%s%s%s", o->args[1], what[0] ? "/" : "",
		 what);
	rc = cli_cas_call(&o->cas, "GET", target, NULL, &ans, &err);
	if (rc < 0)
		return cli_fail("session", &err);
	if (o->json) {
		char *text = json_dumps(ans, JSON_INDENT(2));

		printf("%s\n", text ? text : "null");
		free(text);
	} else if (what[0] == 0) {
		print_session(ans);
	} else {
		json_array_foreach(json_object_get(ans, "versions"), i, v) {
			const char *pred = json_string_value(json_object_get(v, "predecessor"));

			printf("%lld %s %s replaces %s\n",
			       (long long)json_integer_value(json_object_get(v, "version")),
			       json_string_value(json_object_get(v, "time")),
			       json_string_value(json_object_get(v, "hash")), pred ? pred : "-");
		}
	}
	json_decref(ans);
	return CLI_OK;
}

/* Fetch the whole chain page by page; with --verify, check every link (cas.md §7). */
static int audit(struct sopts *o)
{
	struct shelter_err err;
	json_t *all = json_array(), *ans = NULL, *v;
	long long after = 0;
	char target[256];
	size_t i;
	int rc = 0;

	shelter_err_clear(&err);
	for (;;) {
		size_t n;

		snprintf(target, sizeof(target), "/v1/sessions/%s/audit?after=%lld", o->args[1],
			 after);
		rc = cli_cas_call(&o->cas, "GET", target, NULL, &ans, &err);
		if (rc < 0)
			goto out;
		n = json_array_size(json_object_get(ans, "entries"));
		json_array_extend(all, json_object_get(ans, "entries"));
		json_decref(ans);
		ans = NULL;
		if (n == 0)
			break;
		after = json_integer_value(json_object_get(json_array_get(all, json_array_size(all) - 1),
							   "seq"));
	}
	json_array_foreach(all, i, v)
		printf("%s\n", json_string_value(json_object_get(v, "entry")));
	if (o->verify) {
		rc = cas_audit_verify(all, NULL, &err);
		if (rc == 0)
			fprintf(stderr, "audit trail of '%s': %zu entries, every link verified\n",
				o->args[1], json_array_size(all));
	}
out:
	json_decref(all);
	return rc < 0 ? cli_fail("session audit", &err) : CLI_OK;
}

int cmd_session(int argc, char **argv)
{
	struct sopts o;
	const char *verb;
	int rc;

	if (argc < 2)
		return fputs(session_help, stderr), CLI_USAGE;
	verb = argv[1]; /* getopt permutes argv */
	rc = parse(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? CLI_OK : cli_usage("see 'shelter session --help'");
	if (strcmp(verb, "keygen") == 0)
		return o.nargs == 2 ? keygen(o.args[1]) : cli_usage("session keygen KEY");
	if (o.nargs != 2 || strcmp(o.args[0], verb) != 0)
		return cli_usage("see 'shelter session --help'");
	if (cli_cas_defaults(&o.cas) != CLI_OK)
		return CLI_USAGE;
	if (o.cas.owner_key == NULL && (o.cas.owner_key = getenv("SHELTER_OWNER_KEY")) == NULL)
		return cli_usage("needs --owner-key KEY (or SHELTER_OWNER_KEY)");
	if (strcmp(verb, "apply") == 0)
		return apply(&o);
	if (strcmp(verb, "show") == 0)
		return show(&o, "");
	if (strcmp(verb, "history") == 0)
		return show(&o, "history");
	if (strcmp(verb, "audit") == 0)
		return audit(&o);
	return cli_usage("unknown session command '%s'", verb);
}
