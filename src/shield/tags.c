/* The last recorded tag of each volume (docs/shield.md §6).
 *
 * A volume tag commits to the volume's whole state, and an open with an expected
 * tag refuses a volume whose history does not contain it (docs/formats/volume.md
 * §6). Recording a tag is therefore safe whenever the state it names is durable
 * (so a crash cannot leave the disk older than the record): tags are taken, then
 * the volume is synced, then the tag is recorded. An older record than the newest
 * is harmless (an open accepts any earlier point of the history); it only widens
 * the window in which a rollback goes unnoticed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "shelter/attest.h"
#include "shelter/crypto.h"
#include "shelter/tee.h"
#include "shield/launch.h"
#include "shield/shield.h"

/* ---- the tag file (§6.2) ----
 * magic 8 | key id 16 | nonce 12 | sealed tag 32 | GCM tag 16 = 84 bytes.
 * AAD = bytes 0..35 || host realpath || 0x00 || mount path. */
#define TAGFILE_MAGIC "SHLTTAG1"
#define TAGFILE_SIZE SHIELD_TAGREC_SIZE /* 84 */
#define TAGFILE_HDR 36

struct shield_tagfile {
	char *dir;          /* STATE/tags */
	char *path;         /* STATE/tags/<hex>.tag */
	char *aad_tail;     /* host realpath, NUL, mount path */
	size_t aad_tail_size;
	uint8_t key_id[16];
	uint8_t handle[32];  /* the freshness handle (§6.6) */
	struct shelter_aead *aead;
};

static int mkdir_private(const char *dir, struct shelter_err *err)
{
	if (REAL(mkdir)(dir, 0700) < 0 && errno != EEXIST)
		return shelter_err_errno(err, errno, "create directory '%s'", dir);
	return 0;
}

/* The two keys of a tag file come from one sealed key, separated by HKDF labels,
 * so neither use of the sealed key can be played against the other. */
static int tagfile_keys(const uint8_t k[32], struct shield_tagfile *t, struct shelter_err *err)
{
	static const char id_info[] = "shelter-shield tag file v1 key id";
	static const char enc_info[] = "shelter-shield tag file v1 aead";
	static const char handle_info[] = "shelter-shield freshness handle v1";
	uint8_t enc[32];
	int rc = shelter_hkdf_sha256(k, 32, NULL, 0, (const uint8_t *)id_info, sizeof(id_info) - 1,
				     t->key_id, sizeof(t->key_id), err);

	if (rc == 0)
		rc = shelter_hkdf_sha256(k, 32, NULL, 0, (const uint8_t *)handle_info,
					 sizeof(handle_info) - 1, t->handle, sizeof(t->handle), err);

	if (rc == 0)
		rc = shelter_hkdf_sha256(k, 32, NULL, 0, (const uint8_t *)enc_info,
					 sizeof(enc_info) - 1, enc, sizeof(enc), err);
	if (rc == 0)
		rc = shelter_aead_new(enc, &t->aead, err);
	OPENSSL_cleanse(enc, sizeof(enc));
	return rc;
}

static int tagfile_names(const char *state_dir, const char *host_real, const char *mount,
			 struct shield_tagfile *t, struct shelter_err *err)
{
	uint8_t h[32];
	char hex[65];
	size_t hn = strlen(host_real), mn = strlen(mount);
	int rc = shelter_sha256(host_real, hn, h, err);

	if (rc < 0)
		return rc;
	shelter_hex(h, sizeof(h), hex);
	t->aad_tail_size = hn + 1 + mn;
	t->aad_tail = malloc(t->aad_tail_size);
	if (t->aad_tail == NULL || asprintf(&t->dir, "%s/tags", state_dir) < 0 ||
	    asprintf(&t->path, "%s/%s.tag", t->dir, hex) < 0)
		return shelter_err_set(err, SHELTER_E_NOMEM, "tag file: out of memory");
	memcpy(t->aad_tail, host_real, hn + 1);
	memcpy(t->aad_tail + hn + 1, mount, mn);
	rc = mkdir_private(state_dir, err);
	return rc == 0 ? mkdir_private(t->dir, err) : rc;
}

int shield_tagfile_new_from_key(const uint8_t k[32], const char *state_dir,
				const char *host_real, const char *mount,
				struct shield_tagfile **out, struct shelter_err *err)
{
	struct shield_tagfile *t = calloc(1, sizeof(*t));
	int rc;

	*out = NULL;
	if (t == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "tag file: out of memory");
	rc = tagfile_names(state_dir, host_real, mount, t, err);
	if (rc == 0)
		rc = tagfile_keys(k, t, err);
	if (rc < 0) {
		shield_tagfile_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* K = the key sealed to this measurement (or signer and product) under "tag:"
 * mount (§6.2). */
int shield_tagfile_new(struct shelter_tee *tee, enum shelter_seal_policy policy,
		       const char *state_dir, const char *host_real, const char *mount,
		       struct shield_tagfile **out, struct shelter_err *err)
{
	uint8_t k[32];
	char label[8 + PATH_MAX];
	int rc;

	*out = NULL;
	snprintf(label, sizeof(label), "tag:%s", mount);
	rc = shelter_tee_seal_key(tee, policy, label, k, err);
	if (rc == 0)
		rc = shield_tagfile_new_from_key(k, state_dir, host_real, mount, out, err);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

void shield_tagfile_free(struct shield_tagfile *t)
{
	if (t == NULL)
		return;
	shelter_aead_free(t->aead);
	free(t->dir);
	free(t->path);
	free(t->aad_tail);
	OPENSSL_cleanse(t->key_id, sizeof(t->key_id));
	OPENSSL_cleanse(t->handle, sizeof(t->handle));
	free(t);
}

void shield_tagfile_handle(const struct shield_tagfile *t, uint8_t out[32])
{
	memcpy(out, t->handle, sizeof(t->handle));
}

/* AAD: the header (magic, key id, nonce) and where the volume is, so a record
 * copied to another host directory or mount path does not authenticate. */
static int tagfile_aad(const struct shield_tagfile *t, const uint8_t hdr[TAGFILE_HDR],
		       uint8_t **out, size_t *size, struct shelter_err *err)
{
	*size = TAGFILE_HDR + t->aad_tail_size;
	*out = malloc(*size);
	if (*out == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "tag file: out of memory");
	memcpy(*out, hdr, TAGFILE_HDR);
	memcpy(*out + TAGFILE_HDR, t->aad_tail, t->aad_tail_size);
	return 0;
}

static int read_all(const char *path, uint8_t *buf, size_t size, size_t *got,
		    struct shelter_err *err)
{
	int fd = REAL(open)(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = 0;

	*got = 0;
	if (fd < 0)
		return errno == ENOENT ? SHELTER_E_NOENT
				       : shelter_err_errno(err, errno, "open tag file '%s'", path);
	while (*got < size && (n = REAL(read)(fd, buf + *got, size - *got)) > 0)
		*got += (size_t)n;
	REAL(close)(fd);
	return n < 0 ? shelter_err_errno(err, errno, "read tag file '%s'", path) : 0;
}

/* §6.2, in wire order: magic, size, key id, then the AEAD over the rest. */
int shield_tagrec_parse(const struct shield_tagfile *t, const uint8_t *buf, size_t size,
			uint8_t tag[SHELTER_VOLUME_TAG_SIZE], enum shield_tagfile_state *state,
			struct shelter_err *err)
{
	uint8_t *aad = NULL;
	size_t aad_size;
	int rc;

	*state = SHIELD_TAG_NONE;
	if (size < 8 || memcmp(buf, TAGFILE_MAGIC, 8) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "tag file '%s' is not a tag "
				       "record", t->path);
	if (size != TAGFILE_SIZE)
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "tag file '%s' is %zu bytes, "
				       "not %d: truncated or extended", t->path, size, TAGFILE_SIZE);
	if (!shelter_ct_equal(buf + 8, t->key_id, sizeof(t->key_id))) {
		*state = SHIELD_TAG_FOREIGN;
		return 0;
	}
	rc = tagfile_aad(t, buf, &aad, &aad_size, err);
	if (rc == 0)
		rc = shelter_aead_open(t->aead, buf + 24, aad, aad_size, buf + TAGFILE_HDR,
				       SHELTER_VOLUME_TAG_SIZE, buf + TAGFILE_HDR + 32, tag, err);
	free(aad);
	if (rc < 0)
		return shelter_err_wrap(err, rc, "tag file '%s' does not authenticate (modified, "
					"or copied from another volume)", t->path);
	*state = SHIELD_TAG_OK;
	return 0;
}

int shield_tagfile_read(struct shield_tagfile *t, uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
			enum shield_tagfile_state *state, struct shelter_err *err)
{
	uint8_t buf[TAGFILE_SIZE + 1]; /* one more: an extended record is seen as such */
	size_t got;
	int rc = read_all(t->path, buf, sizeof(buf), &got, err);

	*state = SHIELD_TAG_NONE;
	if (rc == SHELTER_E_NOENT)
		return 0;
	if (rc < 0)
		return rc;
	return shield_tagrec_parse(t, buf, got, tag, state, err);
}

static int write_all(int fd, const uint8_t *buf, size_t size)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = REAL(write)(fd, buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

int shield_tagrec_seal(const struct shield_tagfile *t, const uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
		       const uint8_t nonce[SHELTER_GCM_NONCE_SIZE], uint8_t buf[SHIELD_TAGREC_SIZE],
		       struct shelter_err *err)
{
	uint8_t *aad = NULL;
	size_t aad_size;
	int rc;

	memcpy(buf, TAGFILE_MAGIC, 8);
	memcpy(buf + 8, t->key_id, sizeof(t->key_id));
	memcpy(buf + 24, nonce, SHELTER_GCM_NONCE_SIZE);
	rc = tagfile_aad(t, buf, &aad, &aad_size, err);
	if (rc == 0)
		rc = shelter_aead_seal(t->aead, buf + 24, aad, aad_size, tag,
				       SHELTER_VOLUME_TAG_SIZE, buf + TAGFILE_HDR,
				       buf + TAGFILE_HDR + 32, err);
	free(aad);
	return rc;
}

/* A fresh random nonce per write (§6.2). */
static int seal_record(const struct shield_tagfile *t, const uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
		       uint8_t buf[TAGFILE_SIZE], struct shelter_err *err)
{
	uint8_t nonce[SHELTER_GCM_NONCE_SIZE];
	int rc = shelter_random_bytes(nonce, sizeof(nonce), err);

	return rc == 0 ? shield_tagrec_seal(t, tag, nonce, buf, err) : rc;
}

/* A unique temporary name per process and call: a forked child may record the
 * same volume at the same moment. */
static int write_temp(const char *tmp, const uint8_t buf[TAGFILE_SIZE], struct shelter_err *err)
{
	int fd = REAL(open)(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int rc = 0;

	if (fd < 0)
		return shelter_err_errno(err, errno, "create '%s'", tmp);
	if (write_all(fd, buf, TAGFILE_SIZE) < 0 || REAL(fsync)(fd) < 0)
		rc = shelter_err_errno(err, errno, "write '%s'", tmp);
	if (REAL(close)(fd) < 0 && rc == 0)
		rc = shelter_err_errno(err, errno, "close '%s'", tmp);
	return rc;
}

static int sync_dir(const char *dir, struct shelter_err *err)
{
	int fd = REAL(open)(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return shelter_err_errno(err, errno, "open directory '%s'", dir);
	if (REAL(fsync)(fd) < 0)
		rc = shelter_err_errno(err, errno, "sync directory '%s'", dir);
	REAL(close)(fd);
	return rc;
}

int shield_tagfile_write(struct shield_tagfile *t, const uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
			 struct shelter_err *err)
{
	static _Atomic unsigned long seq;
	uint8_t buf[TAGFILE_SIZE];
	char *tmp = NULL;
	int rc = seal_record(t, tag, buf, err);

	if (rc == 0 && asprintf(&tmp, "%s.%ld.%lu.tmp", t->path, (long)getpid(), seq++) < 0) {
		tmp = NULL;
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "tag file: out of memory");
	}
	if (rc == 0)
		rc = write_temp(tmp, buf, err);
	if (rc == 0 && REAL(rename)(tmp, t->path) < 0)
		rc = shelter_err_errno(err, errno, "rename '%s'", tmp);
	if (rc == 0)
		rc = sync_dir(t->dir, err);
	if (rc < 0 && tmp != NULL)
		REAL(unlink)(tmp);
	free(tmp);
	return rc;
}

/* ---- the recorder: which mounts, and when (§6.3) ---- */

struct tagrec {
	struct shield_mount *m;
	pthread_mutex_t lock;   /* one recording at a time; the rest below */
	struct shield_tagfile *file; /* embedded */
	struct shelter_attester *cas; /* CAS mode */
	const char *session;
	uint8_t last[SHELTER_VOLUME_TAG_SIZE];
	int has_last;
	struct timespec when;   /* CLOCK_MONOTONIC of the last recording */
	int failed;             /* a failure was logged: log the next one only once */
	/* bound to a freshness service (§6.6): under lock, like last */
	struct shield_bound *bound;
	uint8_t endorsed[SHELTER_VOLUME_TAG_SIZE]; /* the tag the service holds */
	int has_endorsed;
	/* the syncs' group commit: one append serves every sync asked before it began */
	pthread_mutex_t gc_lock;
	pthread_cond_t gc_cond;
	uint64_t gc_asked, gc_ok, gc_failed; /* sync tickets: issued, endorsed, failed */
	int gc_leading;                      /* a thread is appending for the others */
};

/* Filled before main() only; read without a lock afterwards (launch.h). Each
 * record is allocated on its own: a mutex must not move once initialised. */
static struct tagrec **recs;
static size_t nrecs;

/* A forked child must not find a lock held by a thread it does not have. */
static void child_after_fork(void)
{
	for (size_t i = 0; i < nrecs; i++) {
		struct tagrec *r = recs[i];

		pthread_mutex_init(&r->lock, NULL);
		pthread_mutex_init(&r->gc_lock, NULL);
		pthread_cond_init(&r->gc_cond, NULL);
		r->gc_leading = 0;
		r->gc_ok = r->gc_failed = r->gc_asked;
		shield_bound_after_fork(r->bound);
	}
}

static int track(struct shield_mount *m, const uint8_t *last, struct tagrec **out,
		 struct shelter_err *err)
{
	struct tagrec **v = realloc(recs, (nrecs + 1) * sizeof(*recs));
	struct tagrec *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (v != NULL)
		recs = v;
	if (v == NULL || r == NULL) {
		free(r);
		return shelter_err_set(err, SHELTER_E_NOMEM, "tags: out of memory");
	}
	if (nrecs == 0 && pthread_atfork(NULL, NULL, child_after_fork) != 0) {
		free(r);
		return shelter_err_set(err, SHELTER_E_NOMEM, "tags: pthread_atfork failed");
	}
	r->m = m;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->gc_lock, NULL);
	pthread_cond_init(&r->gc_cond, NULL);
	if (last != NULL) {
		memcpy(r->last, last, sizeof(r->last));
		r->has_last = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &r->when);
	recs[nrecs++] = r;
	*out = r;
	return 0;
}

int shield_tags_track_sealed(struct shield_mount *m, struct shield_tagfile *t,
			     const uint8_t *last, struct shelter_err *err)
{
	struct tagrec *r;
	int rc = track(m, last, &r, err);

	if (rc < 0) {
		shield_tagfile_free(t);
		return rc;
	}
	r->file = t;
	return 0;
}

int shield_tags_track_cas(struct shield_mount *m, struct shelter_attester *a,
			  const char *session, const uint8_t *last, struct shelter_err *err)
{
	struct tagrec *r;
	int rc = track(m, last, &r, err);

	if (rc == 0) {
		r->cas = a;
		r->session = session;
	}
	return rc;
}

static struct tagrec *find(const struct shield_mount *m)
{
	for (size_t i = 0; i < nrecs; i++)
		if (recs[i]->m == m)
			return recs[i];
	return NULL;
}

int shield_tags_bind(struct shield_mount *m, struct shield_bound *b,
		     const uint8_t *last_endorsed, struct shelter_err *err)
{
	struct tagrec *r = find(m);

	if (r == NULL)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "volume %s: not tracked", m->path);
	r->bound = b;
	if (last_endorsed != NULL) {
		memcpy(r->endorsed, last_endorsed, sizeof(r->endorsed));
		r->has_endorsed = 1;
	}
	return 0;
}

/* The tag the CAS holds for r's volume now (has = 0: none), from a new fetch. */
static int cas_current(struct tagrec *r, uint8_t tag[SHELTER_VOLUME_TAG_SIZE], int *has,
		       struct shelter_err *err)
{
	struct shelter_config *cfg = NULL;
	uint8_t key[SHELTER_VOLUME_KEY_SIZE];
	int rc = shelter_attester_fetch(r->cas, r->session, NULL, 0, NULL, 0, &cfg, err);

	*has = 0;
	for (size_t i = 0; rc == 0 && i < shelter_config_volume_count(cfg); i++) {
		const char *name = NULL, *path = NULL;
		uint8_t t[SHELTER_VOLUME_TAG_SIZE];
		int h = 0;

		if (shelter_config_volume(cfg, i, &name, &path, key, t, &h) < 0)
			rc = shelter_err_set(err, SHELTER_E_INTERNAL, "configuration volume %zu", i);
		if (rc == 0 && strcmp(name, r->m->name) == 0) {
			memcpy(tag, t, sizeof(t));
			*has = h;
		}
	}
	OPENSSL_cleanse(key, sizeof(key));
	shelter_config_free(cfg);
	return rc;
}

/* Compare-and-swap from the last tag this process recorded. When another process
 * of the volume (a forked child, a daemon's parent) recorded one since, ours
 * replaces it: either is a point of the volume's history, so whichever is older
 * can only widen the rollback window, never make a good volume look stale. */
static int cas_put(struct tagrec *r, const uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
		   struct shelter_err *err)
{
	uint8_t cur[SHELTER_VOLUME_TAG_SIZE];
	int has = 0;
	int rc = shelter_attester_put_tag(r->cas, r->session, r->m->name, tag,
					  r->has_last ? r->last : NULL, err);

	if (rc != SHELTER_E_CONFLICT)
		return rc;
	shelter_err_clear(err);
	rc = cas_current(r, cur, &has, err);
	if (rc == 0)
		rc = shelter_attester_put_tag(r->cas, r->session, r->m->name, tag,
					      has ? cur : NULL, err);
	return rc;
}

/* Caller holds r->lock. The tag goes to the service of a bound volume (§6.6) and
 * becomes what it holds once f + 1 endorsers certified it. */
static int endorse_locked(struct tagrec *r, const uint8_t tag[SHELTER_VOLUME_TAG_SIZE],
			  struct shelter_err *err)
{
	int rc = shield_bound_put(r->bound, tag, err);

	if (rc == 0) {
		memcpy(r->endorsed, tag, sizeof(r->endorsed));
		r->has_endorsed = 1;
	}
	return rc;
}

/* Caller holds r->lock. Tag first, then sync: the sync makes at least the state
 * the tag names durable, so the record never runs ahead of the disk. The local
 * record is written; with remote, a bound volume's service too (first: the local
 * record then never names a state the service has not endorsed). */
static int record_locked(struct tagrec *r, int remote, struct shelter_err *err)
{
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];
	int rc = shelter_volume_tag(r->m->vol, tag, err), local;

	clock_gettime(CLOCK_MONOTONIC, &r->when);
	if (rc < 0)
		return rc;
	local = !(r->has_last && shelter_ct_equal(tag, r->last, sizeof(tag)));
	remote = remote && r->bound != NULL &&
		 !(r->has_endorsed && shelter_ct_equal(tag, r->endorsed, sizeof(tag)));
	if (!local && !remote)
		return 0;
	rc = shelter_volume_sync(r->m->vol, err);
	if (rc == 0 && remote)
		rc = endorse_locked(r, tag, err);
	if (rc == 0 && local && r->file != NULL)
		rc = shield_tagfile_write(r->file, tag, err);
	else if (rc == 0 && local)
		rc = cas_put(r, tag, err);
	if (rc == 0 && local) {
		memcpy(r->last, tag, sizeof(tag));
		r->has_last = 1;
		r->failed = 0;
	}
	return rc;
}

static int record(struct tagrec *r, struct shelter_err *err)
{
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = record_locked(r, 1, err);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int shield_tags_record(struct shield_mount *m, struct shelter_err *err)
{
	struct tagrec *r = find(m);

	if (r == NULL)
		return shelter_err_set(err, SHELTER_E_INTERNAL, "volume %s: not tracked", m->path);
	return record(r, err);
}

/* A failure to record is not the program's: its data is safe, only the rollback
 * window grows. Log it once per run of failures. */
static void report_failure(struct tagrec *r, int rc, const struct shelter_err *err)
{
	if (r->failed)
		return;
	r->failed = 1;
	shield_log("volume %s: cannot record its tag: %s (%s)", r->m->path,
		   shelter_code_str(rc), err->msg);
}

static int due(const struct tagrec *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > r->when.tv_sec + 1 ||
	       (now.tv_sec == r->when.tv_sec + 1 && now.tv_nsec >= r->when.tv_nsec);
}

/* The leader's append (§6.6): the tag now covers every write of the syncs that
 * took a ticket before it began. */
static int endorse_now(struct tagrec *r)
{
	uint8_t tag[SHELTER_VOLUME_TAG_SIZE];
	struct shelter_err err;
	int rc;

	shelter_err_clear(&err);
	pthread_mutex_lock(&r->lock);
	rc = shelter_volume_tag(r->m->vol, tag, &err);
	if (rc == 0 && !(r->has_endorsed && shelter_ct_equal(tag, r->endorsed, sizeof(tag)))) {
		rc = shelter_volume_sync(r->m->vol, &err);
		if (rc == 0)
			rc = endorse_locked(r, tag, &err);
	}
	pthread_mutex_unlock(&r->lock);
	/* a security event (shield_security's line, spelled out here: the tag-record
	 * fuzzer and unit test link tags.c alone and bring their own shield_log) */
	if (rc < 0)
		shield_log("security: volume %s: sync not endorsed by the freshness service, the "
			   "program gets EIO: %s (%s)", r->m->path, shelter_code_str(rc), err.msg);
	return rc;
}

/* Group commit, as src/lib/log/commit.c: a sync takes a ticket; the first thread
 * to find no append under way leads one for every ticket issued so far, the others
 * wait for it. A sync returns 0 once an append that began after its ticket was
 * certified, -1 when the one that covered it failed. */
static int bound_sync(struct tagrec *r)
{
	uint64_t me;
	int ok;

	pthread_mutex_lock(&r->gc_lock);
	me = ++r->gc_asked;
	while (r->gc_ok < me && r->gc_failed < me) {
		uint64_t batch = r->gc_asked;
		int rc;

		if (r->gc_leading) {
			pthread_cond_wait(&r->gc_cond, &r->gc_lock);
			continue;
		}
		r->gc_leading = 1;
		pthread_mutex_unlock(&r->gc_lock);
		rc = endorse_now(r);
		pthread_mutex_lock(&r->gc_lock);
		r->gc_leading = 0;
		if (rc == 0)
			r->gc_ok = batch;
		else
			r->gc_failed = batch;
		pthread_cond_broadcast(&r->gc_cond);
	}
	ok = r->gc_ok >= me;
	pthread_mutex_unlock(&r->gc_lock);
	return ok ? 0 : -1;
}

int shield_tags_note_sync(struct shield_mount *m)
{
	struct tagrec *r = find(m);
	struct shelter_err err;
	int rc, r_sync = 0;

	if (r == NULL)
		return 0;
	/* a bound volume: never acknowledge a sync the service has not endorsed */
	if (r->bound != NULL && bound_sync(r) < 0)
		r_sync = -1;
	/* the local record: at most once a second, and never wait for another thread */
	if (!due(r) || pthread_mutex_trylock(&r->lock) != 0)
		return r_sync;
	shelter_err_clear(&err);
	if (due(r) && (rc = record_locked(r, 0, &err)) < 0)
		report_failure(r, rc, &err);
	pthread_mutex_unlock(&r->lock);
	return r_sync;
}

void shield_tags_at_exit(void)
{
	for (size_t i = 0; i < nrecs; i++) {
		struct shelter_err err;
		int rc;

		shelter_err_clear(&err);
		recs[i]->failed = 0;
		rc = record(recs[i], &err);
		if (rc < 0)
			report_failure(recs[i], rc, &err);
	}
}
