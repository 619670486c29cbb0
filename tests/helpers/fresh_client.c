/* fresh_client: a coordinator's side of the endorser wire protocol
 * (docs/protocols/freshness.md §8), for tests/integration/freshness_endorser.sh.
 * It trusts nothing it receives: every answer is checked with fr_batch_verify,
 * every certificate with fr_cert_check, every quote with shelter_quote_verify.
 *
 *   fresh_client identity ADDR               pubkey, measurement, quote checks
 *   fresh_client genesis DIR ADDR...         view 0 of these endorsers, init each
 *   fresh_client create DIR NAME DIGEST      create on every member; certificate
 *   fresh_client append DIR NAME DIGEST [--no-cert]
 *   fresh_client read DIR NAME               §6.2 with a fresh nonce; replay check
 *   fresh_client reconfig DIR LOCK,LOCK NEW,NEW,NEW
 *                                            lock, derive and init the next view
 *   fresh_client probe ADDR identity|batch|read|lock
 *   fresh_client raw ADDR garbage|huge|zero|truncated|unknown|trailing
 *
 * DIR keeps the client's view of the service: current (the view number), view-N
 * (its body), addr-N (one "pubkey-hex HOST:PORT" per member, in key order), and
 * cert-NAME (the latest certificate of handle NAME: handle, u64 height, tail, §8
 * cert). NAME and DIGEST are strings; the handle and digest are SHA-256 of
 * "handle:NAME" and "digest:DIGEST". With FRESH_CA and FRESH_CRL set (a provider's
 * ca.crt and crl.pem), quotes are verified against them; sim quotes are accepted.
 * Exit status: 0 when the operation did what was asked, 1 when it was refused or
 * an answer did not verify, 2 on a usage or local error. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "freshness/endorser.h"
#include "freshness/format.h"
#include "freshness/wire.h"
#include "shelter/crypto.h"
#include "shelter/tee.h"
#include "util/buf.h"

#define TIMEOUT_S 10
#define MAX_MEMBERS FR_VIEW_MAX

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fresh_client: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static __attribute__((noreturn, format(printf, 1, 2))) void refused(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(1);
}

static char *hex(const uint8_t *p, size_t n)
{
	static char buf[4][2 * 64 + 1];
	static int k;

	k = (k + 1) % 4;
	shelter_hex(p, n < 64 ? n : 64, buf[k]);
	return buf[k];
}

static void name_hash(const char *prefix, const char *name, uint8_t out[FR_HASH])
{
	char s[512];

	snprintf(s, sizeof(s), "%s:%s", prefix, name);
	if (shelter_sha256(s, strlen(s), out, NULL) < 0)
		die("sha256");
}

/* ---- files ---- */

static uint8_t *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(FW_FRAME_MAX);

	if (f == NULL || buf == NULL)
		die("read %s: %s", path, strerror(errno));
	*size = fread(buf, 1, FW_FRAME_MAX, f);
	fclose(f);
	return buf;
}

static void spit(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		die("write %s", path);
}

/* ---- the wire ---- */

/* A connection to spec, or -1 (with errno) when nothing answers there. */
static int dial_soft(const char *spec)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	char host[256];
	const char *colon = strrchr(spec, ':');
	int fd = -1, one = 1;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host))
		die("address '%s': want HOST:PORT", spec);
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		die("resolve %s", spec);
	for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int dial(const char *spec)
{
	int fd = dial_soft(spec);

	if (fd < 0)
		die("connect %s: %s", spec, strerror(errno));
	return fd;
}

struct answer {
	uint8_t type;
	uint8_t *body;
	size_t len;
	int code; /* of an error frame */
	char msg[FW_MESSAGE_MAX + 1];
};

/* Send one request and read its answer; an error frame is decoded into code/msg.
 * Returns 0 for the expected answer type, the error code for an error frame. */
static int call(int fd, uint8_t type, const uint8_t *body, size_t len, struct answer *a)
{
	struct shelter_err err;

	memset(a, 0, sizeof(*a));
	shelter_err_clear(&err);
	if (fw_send(fd, type, body, len, &err) < 0 || fw_recv(fd, &a->type, &a->body, &a->len,
							      &err) < 0)
		die("request 0x%02x: %s", type, err.msg);
	if (a->type == FW_ERROR) {
		if (fw_error_decode(a->body, a->len, &a->code, a->msg, sizeof(a->msg)) < 0)
			die("a malformed error frame");
		return a->code;
	}
	if (a->type != (type | FW_ANSWER))
		die("answer type 0x%02x to request 0x%02x", a->type, type);
	return 0;
}

/* A batch answer (init, read, lock) checked: it parses whole, it is signed by pub
 * over its entries, of this kind, view and nonce. */
static void check_batch(const struct answer *a, uint8_t kind, const uint8_t *pub,
			const uint8_t view[FR_HASH], const uint8_t nonce[FR_HASH], struct fr_batch *b)
{
	static const uint8_t zero[FR_HASH];
	struct shelter_err err;
	size_t used;

	shelter_err_clear(&err);
	if (fr_batch_decode(a->body, a->len, FR_BATCH_MAX, b, &used, &err) < 0 || used != a->len)
		refused("answer does not parse: %s", err.msg);
	if (fr_batch_verify(b, &err) < 0)
		refused("answer does not verify: %s", err.msg);
	if (b->kind != kind || (pub != NULL && memcmp(b->pub, pub, FR_PUB) != 0) ||
	    (view != NULL && memcmp(b->view, view, FR_HASH) != 0) ||
	    memcmp(b->nonce, nonce != NULL ? nonce : zero, FR_HASH) != 0)
		refused("answer of kind %u from %s is not the one asked for", b->kind,
			hex(b->pub, 8));
}

/* ---- identities (§3.3) ---- */

static struct shelter_trust *trust(void)
{
	static struct shelter_trust *t;
	const char *ca = getenv("FRESH_CA"), *crl = getenv("FRESH_CRL");
	struct shelter_err err;
	uint8_t *pem;
	size_t size;

	if (t != NULL || ca == NULL || crl == NULL)
		return t;
	shelter_err_clear(&err);
	if (shelter_trust_new(&t, &err) < 0)
		die("trust: %s", err.msg);
	pem = slurp(ca, &size);
	if (shelter_trust_add_provider(t, (char *)pem, size, NULL, &err) < 0)
		die("trust %s: %s", ca, err.msg);
	free(pem);
	pem = slurp(crl, &size);
	if (shelter_trust_add_crl(t, (char *)pem, size, &err) < 0)
		die("trust %s: %s", crl, err.msg);
	free(pem);
	return t;
}

struct ident {
	uint8_t pub[FR_PUB];
	uint8_t *quote; /* malloc'd */
	size_t quote_len;
	uint8_t measurement[32];
	int verified;
};

/* Ask addr for its identity; refuse a quote that does not bind the key. */
static void identity_of(const char *addr, struct ident *id)
{
	struct shelter_quote_info info;
	struct shelter_err err;
	struct answer a;
	const uint8_t *q;
	uint8_t rd[64];
	int fd = dial(addr);

	memset(id, 0, sizeof(*id));
	shelter_err_clear(&err);
	if (call(fd, FW_IDENTITY, NULL, 0, &a) != 0)
		refused("identity: error %d: %s", a.code, a.msg);
	if (fw_identity_decode(a.body, a.len, id->pub, &q, &id->quote_len, &err) < 0)
		refused("identity: %s", err.msg);
	id->quote = malloc(id->quote_len);
	memcpy(id->quote, q, id->quote_len);
	if (fr_endorser_report_data(id->pub, rd) < 0)
		die("report data");
	if (trust() != NULL) {
		if (shelter_quote_verify(id->quote, id->quote_len, trust(), &info, &err) < 0)
			refused("identity of %s: quote: %s", addr, err.msg);
		if (!shelter_ct_equal(info.report_data, rd, sizeof(rd)))
			refused("identity of %s: the quote does not bind key %s", addr,
				hex(id->pub, FR_PUB));
		memcpy(id->measurement, info.id.measurement, 32);
		id->verified = 1;
	}
	free(a.body);
	close(fd);
}

static int cmd_identity(char **argv)
{
	struct ident id;

	identity_of(argv[0], &id);
	printf("pubkey=%s measurement=%s quote=%zu %s\n", hex(id.pub, FR_PUB),
	       id.verified ? hex(id.measurement, 32) : "-", id.quote_len,
	       id.verified ? "verified report_data=bound" : "unverified");
	free(id.quote);
	return 0;
}

/* ---- the client's view of the service (DIR) ---- */

struct world {
	const char *dir;
	uint64_t number;
	uint8_t *body; /* view-N; v.quotes point into it */
	size_t body_len;
	struct fr_view v;
	char addrs[MAX_MEMBERS][128]; /* by member index */
};

static void world_load(struct world *w, const char *dir)
{
	char path[4096], line[512];
	struct shelter_err err;
	FILE *f;

	memset(w, 0, sizeof(*w));
	w->dir = dir;
	snprintf(path, sizeof(path), "%s/current", dir);
	f = fopen(path, "r");
	if (f == NULL || fscanf(f, "%" SCNu64, &w->number) != 1)
		die("%s: no current view", path);
	fclose(f);
	snprintf(path, sizeof(path), "%s/view-%" PRIu64, dir, w->number);
	w->body = slurp(path, &w->body_len);
	shelter_err_clear(&err);
	if (fr_view_decode(w->body, w->body_len, &w->v, &err) < 0)
		die("%s: %s", path, err.msg);
	snprintf(path, sizeof(path), "%s/addr-%" PRIu64, dir, w->number);
	f = fopen(path, "r");
	for (unsigned i = 0; f != NULL && i < w->v.n && fgets(line, sizeof(line), f); i++)
		if (sscanf(line, "%*s %127s", w->addrs[i]) != 1)
			die("%s: line %u", path, i);
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	fclose(f);
}

static int by_key(const void *a, const void *b)
{
	return memcmp(((const struct ident *)a)->pub, ((const struct ident *)b)->pub, FR_PUB);
}

/* Write view `number` of these members (sorted by key here) and its addresses. */
static void world_new_view(struct world *w, const char *dir, uint64_t number,
			   const uint8_t *prev, struct ident *ids, char (*addrs)[128], size_t n)
{
	char path[4096];
	struct shelter_err err;
	FILE *f;

	for (size_t i = 0; i < n; i++) /* carry each address with its key through the sort */
		memcpy(ids[i].measurement, &i, sizeof(i));
	qsort(ids, n, sizeof(*ids), by_key);
	memset(w, 0, sizeof(*w));
	w->dir = dir;
	w->number = w->v.number = number;
	if (prev != NULL)
		memcpy(w->v.prev, prev, FR_HASH);
	w->v.n = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		size_t from;

		memcpy(&from, ids[i].measurement, sizeof(from));
		memcpy(w->v.keys[i], ids[i].pub, FR_PUB);
		w->v.quotes[i] = ids[i].quote;
		w->v.quote_len[i] = (uint32_t)ids[i].quote_len;
		snprintf(w->addrs[i], sizeof(w->addrs[i]), "%s", addrs[from]);
	}
	shelter_err_clear(&err);
	if (fr_view_encode(&w->v, &w->body, &w->body_len, &err) < 0)
		die("view: %s", err.msg);
	if (fr_view_decode(w->body, w->body_len, &w->v, &err) < 0) /* quotes into body */
		die("view: %s", err.msg);
	snprintf(path, sizeof(path), "%s/view-%" PRIu64, dir, number);
	spit(path, w->body, w->body_len);
	snprintf(path, sizeof(path), "%s/addr-%" PRIu64, dir, number);
	f = fopen(path, "w");
	for (size_t i = 0; f != NULL && i < n; i++)
		fprintf(f, "%s %s\n", hex(w->v.keys[i], FR_PUB), w->addrs[i]);
	if (f == NULL || fclose(f) != 0)
		die("write %s", path);
}

static void world_commit(const struct world *w)
{
	char path[4096], num[32];

	snprintf(path, sizeof(path), "%s/current", w->dir);
	snprintf(num, sizeof(num), "%" PRIu64 "\n", w->number);
	spit(path, num, strlen(num));
}

/* ---- certificates on file ---- */

struct cert {
	uint8_t handle[FR_HASH];
	uint64_t height;
	uint8_t tail[FR_HASH];
	struct fr_receipt rs[MAX_MEMBERS];
	size_t n;
};

static void cert_save(const struct world *w, const char *name, const struct cert *c)
{
	uint8_t buf[FR_HASH + 8 + FR_HASH + 1 + MAX_MEMBERS * FR_RECEIPT_MAX], one[FR_RECEIPT_MAX];
	struct shelter_wbuf b;
	char path[4096];

	shelter_wbuf_init(&b, buf, sizeof(buf));
	shelter_wbuf_put_bytes(&b, c->handle, FR_HASH);
	shelter_wbuf_u64(&b, c->height);
	shelter_wbuf_put_bytes(&b, c->tail, FR_HASH);
	shelter_wbuf_u8(&b, c->n);
	for (size_t i = 0; i < c->n; i++)
		shelter_wbuf_put_bytes(&b, one, fr_receipt_encode(&c->rs[i], one));
	snprintf(path, sizeof(path), "%s/cert-%s", w->dir, name);
	spit(path, buf, b.used);
}

/* 0 with *c, -1 when there is none */
static int cert_load(const struct world *w, const char *name, struct cert *c)
{
	struct shelter_rbuf b;
	char path[4096];
	uint8_t *buf;
	size_t size, used;

	snprintf(path, sizeof(path), "%s/cert-%s", w->dir, name);
	if (access(path, F_OK) != 0)
		return -1;
	buf = slurp(path, &size);
	memset(c, 0, sizeof(*c));
	shelter_rbuf_init(&b, buf, size);
	shelter_rbuf_get_bytes(&b, c->handle, FR_HASH);
	c->height = shelter_rbuf_u64(&b);
	shelter_rbuf_get_bytes(&b, c->tail, FR_HASH);
	c->n = shelter_rbuf_u8(&b);
	for (size_t i = 0; i < c->n && i < MAX_MEMBERS && !b.bad; i++) {
		if (fr_receipt_decode(b.p, b.left, &c->rs[i], &used, NULL) < 0)
			die("%s: receipt %zu", path, i);
		shelter_rbuf_take(&b, used);
	}
	if (b.bad)
		die("%s: cut short", path);
	free(buf);
	return 0;
}

/* ---- genesis (§7.3) ---- */

static void init_member(struct world *w, unsigned i, const uint8_t *req, size_t len,
			struct fr_batch *out)
{
	struct answer a;
	int fd = dial(w->addrs[i]);

	if (call(fd, FW_INIT, req, len, &a) != 0)
		refused("init of %s: error %d: %s", w->addrs[i], a.code, a.msg);
	check_batch(&a, FR_KIND_INIT, w->v.keys[i], w->v.digest, NULL, out);
	free(a.body);
	close(fd);
}

static int cmd_genesis(const char *dir, char **addrs, int n)
{
	struct ident ids[MAX_MEMBERS];
	char a[MAX_MEMBERS][128];
	struct fw_init_req r = { 0 };
	struct shelter_err err;
	struct world w;
	uint8_t *req;
	size_t len;

	if (n < 1 || n > MAX_MEMBERS || n % 2 == 0)
		die("a view of %d endorsers (want an odd number up to %d)", n, MAX_MEMBERS);
	for (int i = 0; i < n; i++) {
		identity_of(addrs[i], &ids[i]);
		snprintf(a[i], sizeof(a[i]), "%s", addrs[i]);
	}
	world_new_view(&w, dir, 0, NULL, ids, a, (size_t)n);
	r.view = w.body;
	r.view_len = w.body_len;
	shelter_err_clear(&err);
	if (fw_init_encode(&r, &req, &len, &err) < 0)
		die("init: %s", err.msg);
	for (unsigned i = 0; i < w.v.n; i++) {
		struct fr_batch b;

		init_member(&w, i, req, len, &b);
		if (b.count != 0)
			refused("genesis state of %u handles", b.count);
		fr_batch_free(&b);
	}
	world_commit(&w);
	printf("view=0 digest=%s members=%u\n", hex(w.v.digest, FR_HASH), w.v.n);
	free(req);
	free(w.body);
	for (int i = 0; i < n; i++)
		free(ids[i].quote);
	return 0;
}

/* ---- create and append (§6.1) ---- */

/* One item to every member; the receipts of those that took it make the new
 * certificate (f + 1 needed). Prints each refusal. */
static int round_trip(struct world *w, const struct endorser_item *it, struct cert *out)
{
	struct shelter_err err;
	uint8_t *req;
	size_t len;
	int got = 0;

	shelter_err_clear(&err);
	if (fw_batch_encode(it, 1, &req, &len, &err) < 0)
		die("batch: %s", err.msg);
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < w->v.n; i++) {
		struct fr_batch b = { 0 };
		struct answer a;
		int32_t *st = NULL;
		size_t count;
		int fd = dial_soft(w->addrs[i]);

		memset(&a, 0, sizeof(a));
		if (fd < 0) {
			printf("member=%u unreachable\n", i);
		} else if (call(fd, FW_BATCH, req, len, &a) != 0) {
			printf("member=%u error=%d (%s)\n", i, a.code, a.msg);
		} else if (fw_batch_answer_decode(a.body, a.len, &st, &count, &b, &err) < 0 ||
			   count != 1) {
			refused("batch answer: %s", err.msg);
		} else if (st[0] != 0) {
			printf("member=%u status=%d (%s)\n", i, st[0], shelter_code_str(st[0]));
		} else {
			if (fr_batch_verify(&b, &err) < 0 || b.kind != FR_KIND_APPEND ||
			    memcmp(b.view, w->v.digest, FR_HASH) != 0 ||
			    memcmp(b.pub, w->v.keys[i], FR_PUB) != 0 || b.count != 1)
				refused("member %u: APPEND answer does not verify", i);
			if (fr_batch_receipt(&b, 0, &out->rs[out->n], &err) < 0)
				die("receipt: %s", err.msg);
			out->n++;
			got++;
		}
		fr_batch_free(&b);
		free(st);
		free(a.body);
		if (fd >= 0)
			close(fd);
	}
	free(req);
	return got;
}

static int certify_and_save(struct world *w, const char *name, struct cert *c)
{
	struct shelter_err err;

	if (c->n == 0)
		refused("refused by every member");
	memcpy(c->handle, c->rs[0].entry.handle, FR_HASH);
	c->height = c->rs[0].entry.height;
	memcpy(c->tail, c->rs[0].entry.tail, FR_HASH);
	shelter_err_clear(&err);
	if (fr_cert_check(&w->v, c->rs, c->n, c->handle, c->height, c->tail, &err) < 0)
		refused("no certificate: %s", err.msg);
	cert_save(w, name, c);
	printf("height=%" PRIu64 " tail=%s receipts=%zu certified\n", c->height,
	       hex(c->tail, FR_HASH), c->n);
	return 0;
}

static int cmd_write(const char *dir, const char *name, const char *digest, int append,
		     int with_cert)
{
	struct endorser_item it = { .op = append ? ENDORSER_APPEND : ENDORSER_CREATE };
	struct cert prev, next;
	struct world w;
	uint8_t expect[FR_HASH];
	int rc;

	world_load(&w, dir);
	name_hash("handle", name, it.handle);
	name_hash("digest", digest, it.value);
	if (append) {
		if (cert_load(&w, name, &prev) < 0)
			die("no certificate of '%s' on file", name);
		it.height = prev.height + 1;
		if (with_cert) {
			it.cert = prev.rs;
			it.cert_count = prev.n;
		}
		if (fr_tail_next(prev.tail, it.height, it.value, expect) < 0)
			die("tail");
	} else if (fr_tail_genesis(it.handle, it.value, expect) < 0) {
		die("tail");
	}
	rc = round_trip(&w, &it, &next);
	if (rc < (int)fr_view_f(&w.v) + 1)
		refused("%d of %u members took it", rc, w.v.n);
	/* §6.1 step 2: the client computes the tail itself */
	if (memcmp(next.rs[0].entry.tail, expect, FR_HASH) != 0)
		refused("the endorsers signed another tail");
	rc = certify_and_save(&w, name, &next);
	free(w.body);
	return rc;
}

/* ---- read (§6.2) ---- */

/* READ batches of the handle from every member under nonce; entries into e. */
static unsigned read_all(struct world *w, const uint8_t handle[FR_HASH],
			 const uint8_t nonce[FR_HASH], struct fr_batch *bs)
{
	struct shelter_err err;
	uint8_t *req;
	size_t len;
	unsigned got = 0;

	shelter_err_clear(&err);
	if (fw_read_encode(nonce, (const uint8_t (*)[FR_HASH])handle, 1, &req, &len, &err) < 0)
		die("read: %s", err.msg);
	for (unsigned i = 0; i < w->v.n; i++) {
		struct answer a = { 0 };
		int fd = dial_soft(w->addrs[i]);

		if (fd < 0) {
			printf("member=%u unreachable\n", i);
			continue;
		}
		if (call(fd, FW_READ, req, len, &a) != 0) {
			printf("member=%u error=%d (%s)\n", i, a.code, a.msg);
		} else {
			check_batch(&a, FR_KIND_READ, w->v.keys[i], w->v.digest, nonce, &bs[got]);
			if (bs[got].count != 1 || memcmp(bs[got].entries[0].handle, handle, FR_HASH))
				refused("member %u answered for another handle", i);
			got++;
		}
		free(a.body);
		close(fd);
	}
	free(req);
	return got;
}

static int cmd_read(const char *dir, const char *name)
{
	struct fr_batch first[MAX_MEMBERS], again[MAX_MEMBERS];
	const struct fr_entry *es[MAX_MEMBERS];
	uint8_t handle[FR_HASH], n1[FR_HASH], n2[FR_HASH];
	struct shelter_err err;
	struct fr_entry top;
	struct world w;
	unsigned got, got2;

	world_load(&w, dir);
	name_hash("handle", name, handle);
	if (shelter_random_bytes(n1, FR_HASH, NULL) < 0 ||
	    shelter_random_bytes(n2, FR_HASH, NULL) < 0)
		die("random");
	got = read_all(&w, handle, n1, first);
	if (got < fr_view_f(&w.v) + 1)
		refused("%u of %u members answered", got, w.v.n);
	for (unsigned i = 0; i < got; i++)
		es[i] = &first[i].entries[0];
	shelter_err_clear(&err);
	if (fr_decide(es, got, &w.v, NULL, NULL, 0, &top, &err) < 0)
		refused("decide: %s", err.msg);
	/* §6.2: the answer binds the nonce; the same answer under a new nonce fails */
	got2 = read_all(&w, handle, n2, again);
	for (unsigned i = 0; i < got; i++) {
		memcpy(first[i].nonce, n2, FR_HASH);
		if (fr_batch_verify(&first[i], NULL) == 0)
			refused("an answer to an old nonce verifies under a new one");
		fr_batch_free(&first[i]);
	}
	for (unsigned i = 0; i < got2; i++)
		fr_batch_free(&again[i]);
	if (top.height == FR_ABSENT)
		printf("absent replay=refused\n");
	else
		printf("height=%" PRIu64 " tail=%s certified=%d replay=refused\n", top.height,
		       hex(top.tail, FR_HASH), !!(top.flags & FR_FLAG_CERTIFIED));
	free(w.body);
	return 0;
}

/* ---- reconfiguration (§7.1) ---- */

static size_t split(char *list, char (*out)[128], size_t max)
{
	size_t n = 0;

	for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ","))
		if (n < max)
			snprintf(out[n++], sizeof(out[0]), "%s", tok);
	return n;
}

/* LOCK batches of the old view for the new one, from each address in lockers. */
static size_t lock_all(const struct world *old, const struct world *next, char (*lockers)[128],
		       size_t n, struct fr_batch *locks)
{
	for (size_t i = 0; i < n; i++) {
		struct answer a;
		int fd = dial(lockers[i]);

		if (call(fd, FW_LOCK, next->v.digest, FR_HASH, &a) != 0)
			refused("lock %s: error %d: %s", lockers[i], a.code, a.msg);
		check_batch(&a, FR_KIND_LOCK, NULL, old->v.digest, next->v.digest, &locks[i]);
		if (fr_view_member(&old->v, locks[i].pub) < 0)
			refused("lock %s: not a member of view %" PRIu64, lockers[i], old->number);
		free(a.body);
		close(fd);
	}
	return n;
}

/* Every certificate on file of the old view (consulted by §7.2 on disagreement). */
static size_t old_certs(const struct world *old, struct cert *certs, char (*names)[128],
			size_t max)
{
	DIR *d = opendir(old->dir);
	struct dirent *de;
	size_t n = 0;

	while (d != NULL && (de = readdir(d)) != NULL && n < max) {
		if (strncmp(de->d_name, "cert-", 5) != 0 || cert_load(old, de->d_name + 5,
								       &certs[n]) < 0)
			continue;
		snprintf(names[n], sizeof(names[0]), "%s", de->d_name + 5);
		n++;
	}
	if (d != NULL)
		closedir(d);
	return n;
}

/* The new view's certificates: f + 1 INIT receipts of each handle on file. */
static void init_certs(struct world *next, struct fr_batch *inits, struct cert *certs,
		       char (*names)[128], size_t ncerts)
{
	for (size_t k = 0; k < ncerts; k++) {
		struct cert c = { 0 };

		for (unsigned i = 0; i < next->v.n; i++)
			for (uint32_t j = 0; j < inits[i].count; j++)
				if (memcmp(inits[i].entries[j].handle, certs[k].handle, FR_HASH) == 0 &&
				    fr_batch_receipt(&inits[i], j, &c.rs[c.n++], NULL) < 0)
					die("receipt");
		if (c.n > 0)
			certify_and_save(next, names[k], &c);
	}
}

#define MAX_CERTS 64

static int cmd_reconfig(const char *dir, char *lock_list, char *member_list)
{
	char lockers[MAX_MEMBERS][128], addrs[MAX_MEMBERS][128], names[MAX_CERTS][128];
	struct fr_batch locks[MAX_MEMBERS], inits[MAX_MEMBERS];
	static struct cert certs[MAX_CERTS];
	const struct fr_receipt *cp[MAX_CERTS];
	size_t lens[MAX_CERTS], nl, nm, nc, len;
	struct ident ids[MAX_MEMBERS];
	struct world old, next;
	struct fw_init_req r;
	struct shelter_err err;
	uint8_t *req;

	world_load(&old, dir);
	nl = split(lock_list, lockers, MAX_MEMBERS);
	nm = split(member_list, addrs, MAX_MEMBERS);
	for (size_t i = 0; i < nm; i++)
		identity_of(addrs[i], &ids[i]);
	world_new_view(&next, dir, old.number + 1, old.v.digest, ids, addrs, nm);
	lock_all(&old, &next, lockers, nl, locks);
	nc = old_certs(&old, certs, names, MAX_CERTS);
	for (size_t i = 0; i < nc; i++) {
		cp[i] = certs[i].rs;
		lens[i] = certs[i].n;
	}
	r = (struct fw_init_req){ .view = next.body, .view_len = next.body_len, .prev = old.body,
				  .prev_len = old.body_len, .locks = locks, .nlocks = nl,
				  .certs = (struct fr_receipt **)cp, .cert_lens = lens,
				  .ncerts = nc };
	shelter_err_clear(&err);
	if (fw_init_encode(&r, &req, &len, &err) < 0)
		die("init: %s", err.msg);
	for (unsigned i = 0; i < next.v.n; i++) {
		init_member(&next, i, req, len, &inits[i]);
		if (inits[i].count != inits[0].count ||
		    memcmp(inits[i].entries, inits[0].entries,
			   inits[0].count * sizeof(*inits[0].entries)) != 0)
			refused("members derived different states");
	}
	init_certs(&next, inits, certs, names, nc);
	world_commit(&next);
	printf("view=%" PRIu64 " digest=%s members=%u handles=%u locks=%zu\n", next.number,
	       hex(next.v.digest, FR_HASH), next.v.n, inits[0].count, nl);
	for (unsigned i = 0; i < next.v.n; i++)
		fr_batch_free(&inits[i]);
	for (size_t i = 0; i < nl; i++)
		fr_batch_free(&locks[i]);
	for (size_t i = 0; i < nm; i++)
		free(ids[i].quote);
	free(req);
	free(old.body);
	free(next.body);
	return 0;
}

/* ---- single requests and malformed frames ---- */

static int cmd_probe(const char *addr, const char *op)
{
	struct endorser_item it = { .op = ENDORSER_CREATE };
	uint8_t rnd[FR_HASH], *req = NULL;
	size_t len = 0;
	struct answer a;
	int fd, rc;

	if (shelter_random_bytes(rnd, sizeof(rnd), NULL) < 0)
		die("random");
	memcpy(it.handle, rnd, FR_HASH);
	if (strcmp(op, "batch") == 0)
		rc = fw_batch_encode(&it, 1, &req, &len, NULL);
	else if (strcmp(op, "read") == 0)
		rc = fw_read_encode(rnd, (const uint8_t (*)[FR_HASH])rnd, 1, &req, &len, NULL);
	else if (strcmp(op, "lock") == 0 || strcmp(op, "identity") == 0)
		rc = 0;
	else
		die("probe: unknown op '%s'", op);
	if (rc < 0)
		die("probe: encode");
	fd = dial(addr);
	rc = strcmp(op, "batch") == 0   ? call(fd, FW_BATCH, req, len, &a)
	     : strcmp(op, "read") == 0 ? call(fd, FW_READ, req, len, &a)
	     : strcmp(op, "lock") == 0 ? call(fd, FW_LOCK, rnd, FR_HASH, &a)
					: call(fd, FW_IDENTITY, NULL, 0, &a);
	if (rc == 0)
		printf("ok\n");
	else
		printf("error=%d msg=%s\n", a.code, a.msg);
	free(a.body);
	free(req);
	close(fd);
	return 0;
}

/* What a malformed frame gets: an error frame or none, then the end of the stream. */
static void raw_answer(int fd)
{
	struct shelter_err err;
	uint8_t type, *body = NULL;
	size_t len;
	char msg[FW_MESSAGE_MAX + 1];
	int code, rc;

	shelter_err_clear(&err);
	rc = fw_recv(fd, &type, &body, &len, &err);
	if (rc == 0 && type == FW_ERROR && fw_error_decode(body, len, &code, msg, sizeof(msg)) == 0)
		printf("error=%d msg=%s", code, msg);
	else if (rc == 0)
		printf("answer=0x%02x", type);
	else
		printf("no-answer (%s)", err.msg);
	free(body);
	body = NULL;
	rc = fw_recv(fd, &type, &body, &len, &err);
	printf(" %s", rc == SHELTER_E_NOENT || (rc < 0 && strstr(err.msg, "reset")) ? "closed"
										 : "open");
	free(body);
}

static int cmd_raw(const char *addr, const char *mode)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: endorser\r\n\r\n";
	uint8_t buf[128] = { 0 }, *req = NULL;
	int other = dial(addr), fd = dial(addr);
	size_t n = 0, len;
	struct answer a;

	if (strcmp(mode, "garbage") == 0) {
		memcpy(buf, http, n = sizeof(http) - 1);
	} else if (strcmp(mode, "huge") == 0) {
		memcpy(buf, "\xff\xff\xff\xff\x01", n = 5);
	} else if (strcmp(mode, "zero") == 0) {
		n = 4;
	} else if (strcmp(mode, "truncated") == 0) { /* 100 bytes declared, 10 sent */
		memcpy(buf, "\x00\x00\x00\x64\x03", 5);
		n = 15;
	} else if (strcmp(mode, "unknown") == 0) {
		memcpy(buf, "\x00\x00\x00\x01\x77", n = 5);
	} else if (strcmp(mode, "trailing") == 0) { /* a read of one handle, one byte more */
		if (fw_read_encode(buf, (const uint8_t (*)[FR_HASH])buf, 1, &req, &len, NULL) < 0)
			die("encode");
		shelter_store_be(buf, len + 2, 4);
		buf[4] = FW_READ;
		memcpy(buf + 5, req, len);
		n = 5 + len + 1;
		free(req);
	} else {
		die("raw: unknown mode '%s'", mode);
	}
	if (write(fd, buf, n) != (ssize_t)n)
		die("raw: write");
	if (strcmp(mode, "truncated") == 0)
		shutdown(fd, SHUT_WR);
	raw_answer(fd);
	close(fd);
	/* the daemon goes on serving its other connections */
	printf(" other=%s\n", call(other, FW_IDENTITY, NULL, 0, &a) == 0 ? "ok" : "refused");
	free(a.body);
	close(other);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (strcmp(cmd, "identity") == 0 && argc == 3)
		return cmd_identity(argv + 2);
	if (strcmp(cmd, "genesis") == 0 && argc >= 4)
		return cmd_genesis(argv[2], argv + 3, argc - 3);
	if (strcmp(cmd, "create") == 0 && argc == 5)
		return cmd_write(argv[2], argv[3], argv[4], 0, 0);
	if (strcmp(cmd, "append") == 0 && (argc == 5 || (argc == 6 &&
							 strcmp(argv[5], "--no-cert") == 0)))
		return cmd_write(argv[2], argv[3], argv[4], 1, argc == 5);
	if (strcmp(cmd, "read") == 0 && argc == 4)
		return cmd_read(argv[2], argv[3]);
	if (strcmp(cmd, "reconfig") == 0 && argc == 5)
		return cmd_reconfig(argv[2], argv[3], argv[4]);
	if (strcmp(cmd, "probe") == 0 && argc == 4)
		return cmd_probe(argv[2], argv[3]);
	if (strcmp(cmd, "raw") == 0 && argc == 4)
		return cmd_raw(argv[2], argv[3]);
	die("usage: see the comment at the top of tests/helpers/fresh_client.c");
}
