/* Crash-test checker for protected volumes: docs/formats/volume.md §8.
 *
 * usage: crash_check [--fork] [--verbose] [--progress FILE] VOLDIR KEYFILE SEED OPS
 *                    ACKED [ACKED_C]
 *
 * Run after crash_writer (same VOLDIR, KEYFILE, SEED, OPS) was killed; ACKED is the
 * last "ack N" it printed (0 if none; with --fork, ACKED is the parent's "ack P N"
 * and ACKED_C the child's "ack C N"). Checks, in this order:
 *  1. shelter_volume_verify on the volume as the crash left it reports nothing but
 *     notes (kind 0: a torn tail that open will cut off, or segments a compaction
 *     superseded but did not get to delete);
 *  2. shelter_volume_open succeeds (and repairs);
 *  3. the whole tree (every path, type, mode, size, content, symlink target) under
 *     each stream's base equals the writer's model after exactly k operations for
 *     some ACKED <= k <= OPS (the first such k is reported), and the root holds
 *     nothing but the stream bases; with the writer's --progress file, k must also
 *     not exceed the last operation the writer started, and the report says whether
 *     the kill landed inside an operation and which states in [ACKED, started]
 *     match (the in-flight operation either took effect or left no trace);
 *  4. the volume still works: each stream continues for a few more operations, a
 *     new file is written and synced, the volume is closed, verified (no notes
 *     left: open repaired the tail) and reopened, and everything reads back.
 * Prints "RESULT ok torn=T superseded=U S:ACKED:K:KLAST:STARTED:COMPLETED ..." (T, U:
 * 0 or 1, whether verify noted a torn tail or superseded segments; stream S is "s",
 * "p" or "c"; K and KLAST the first and last matching k up to STARTED; STARTED and
 * COMPLETED are 0 without --progress) or "RESULT fail ..." with the reason above
 * it. Exit 0 ok, 1 check failed, 2 usage.
 */
#define CRASH_MODEL_ONLY
#include "crash_writer.c"

#define POST_OPS 30
#define POST_FILE "post-check"
#define POST_SIZE 100000u
#define POST_OFF 12345u

struct sent {
	char *path;
	uint32_t type, mode;
	uint64_t size;
	uint8_t *data;
	char *target;
};

struct snap {
	struct sent *e;
	size_t n, cap;
};

static int verbose;

static void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL) {
		fprintf(stderr, "crash_check: out of memory\n");
		exit(4);
	}
	return p;
}

static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->e[i].path);
		free(s->e[i].data);
		free(s->e[i].target);
	}
	free(s->e);
	memset(s, 0, sizeof(*s));
}

struct listing {
	char **names;
	size_t n, cap;
};

static int collect(void *ctx, const char *name, const struct shelter_stat *st)
{
	struct listing *l = ctx;

	(void)st;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->names = realloc(l->names, l->cap * sizeof(*l->names));
		if (l->names == NULL)
			exit(4);
	}
	l->names[l->n++] = strdup(name);
	return 0;
}

static int read_file(struct shelter_volume *vol, const char *path, uint64_t size,
		     uint8_t **out, struct shelter_err *err)
{
	struct shelter_file *f;
	uint8_t *buf = xmalloc((size_t)size + 1);
	size_t got = 0;
	int rc = shelter_file_open(vol, path, SHELTER_O_RDONLY, 0, &f, err);

	if (rc == 0) {
		rc = shelter_file_pread(f, buf, (size_t)size + 1, 0, &got, err);
		shelter_file_close(f);
	}
	if (rc == 0 && got != size)
		rc = shelter_err_set(err, SHELTER_E_INTERNAL,
				     "'%s': read %zu bytes, stat says %" PRIu64, path, got, size);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

/* Append every entry under dir (volume path; "" is the root) to s. */
static int snap_dir(struct shelter_volume *vol, const char *dir, struct snap *s,
		    struct shelter_err *err)
{
	struct listing l = { 0 };
	int rc = shelter_volume_readdir(vol, dir[0] ? dir : "/", collect, &l, err);

	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		struct shelter_stat st;
		struct sent *e;
		size_t plen = strlen(dir) + strlen(l.names[i]) + 2;
		char *path = xmalloc(plen);

		snprintf(path, plen, "%s%s%s", dir, dir[0] ? "/" : "", l.names[i]);
		rc = shelter_volume_stat(vol, path, &st, err);
		if (rc < 0) {
			free(path);
			break;
		}
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 32;
			s->e = realloc(s->e, s->cap * sizeof(*s->e));
			if (s->e == NULL)
				exit(4);
		}
		e = &s->e[s->n++];
		memset(e, 0, sizeof(*e));
		e->path = path;
		e->type = st.type;
		e->mode = st.mode;
		e->size = st.size;
		if (st.type == SHELTER_FT_REG) {
			rc = read_file(vol, path, st.size, &e->data, err);
		} else if (st.type == SHELTER_FT_LNK) {
			e->target = xmalloc(SHELTER_VOLUME_PATH_MAX + 1);
			rc = shelter_volume_readlink(vol, path, e->target, SHELTER_VOLUME_PATH_MAX + 1,
						     err);
		} else if (st.type == SHELTER_FT_DIR) {
			rc = snap_dir(vol, path, s, err);
		}
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.names[i]);
	free(l.names);
	return rc;
}

static const struct sent *snap_find(const struct snap *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].path, path) == 0)
			return &s->e[i];
	return NULL;
}

static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* Differences between the stream's subtree in s and model m (0: equal). */
static int compare(const struct snap *s, const struct model *m, int print)
{
	int diffs = 0;

	for (int i = 0; i < CW_NODES; i++) {
		const struct mnode *n = &m->n[i];
		const struct sent *e;

		if (!n->used || n->path[0] == '\0')
			continue;
		e = snap_find(s, n->path);
		if (e == NULL) {
			diffs++;
			if (print)
				printf("  diff: '%s' (type %u) missing from the volume\n", n->path, n->type);
			continue;
		}
		if (e->type != n->type || e->mode != n->mode) {
			diffs++;
			if (print)
				printf("  diff: '%s': type %u mode %o, model type %u mode %o\n", n->path,
				       e->type, e->mode, n->type, n->mode);
			continue;
		}
		if (n->type == SHELTER_FT_REG &&
		    (e->size != n->size || (n->size > 0 && memcmp(e->data, n->data, n->size) != 0))) {
			diffs++;
			if (print)
				printf("  diff: '%s': size %" PRIu64 ", model %zu, first differing byte %zu\n",
				       n->path, e->size, n->size,
				       first_diff(e->data, n->data, e->size < n->size ? e->size : n->size));
		}
		if (n->type == SHELTER_FT_LNK &&
		    (e->size != n->size || strcmp(e->target, n->target) != 0)) {
			diffs++;
			if (print)
				printf("  diff: '%s': symlink target differs (%" PRIu64 " vs %zu bytes)\n",
				       n->path, e->size, n->size);
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		const char *p = s->e[i].path;

		if ((strcmp(p, m->base) == 0 || is_under(p, m->base)) && node_find(m, p) < 0) {
			diffs++;
			if (print)
				printf("  diff: '%s' (type %u) in the volume, not in the model\n", p,
				       s->e[i].type);
		}
	}
	return diffs;
}

struct check_stream {
	struct stream st;    /* model, op PRNG and handle, as in the writer */
	const char *name;    /* "s", "p", "c" */
	uint64_t seed, acked;
	int have_progress;
	struct progress prog; /* the writer's last started and completed op */
	uint64_t k, k_last;  /* first and last matching k (k_last: up to prog.started) */
};

static void stream_start(struct check_stream *cs)
{
	model_init(&cs->st.m, cs->name);
	cs->st.ops.s = cs->seed;
	cs->st.h = NULL;
}

static void replay_to(struct check_stream *cs, uint64_t k, struct op *op)
{
	model_free(&cs->st.m);
	stream_start(cs);
	for (uint64_t n = 1; n <= k; n++) {
		gen_op(&cs->st.m, &cs->st.ops, n, op);
		model_apply(&cs->st.m, op);
	}
}

/* Replay the model, comparing against the volume at each k >= acked; on a match
 * the stream's model and PRNG are left at the first matching k. Returns 0 on a
 * match. */
static int find_match(const struct snap *s, struct check_stream *cs, uint64_t total,
		      struct op *op)
{
	uint64_t best_k = 0;
	int best = -1, found = 0;

	stream_start(cs);
	for (uint64_t k = 0; k <= total; k++) {
		int d;

		if (k > 0) {
			gen_op(&cs->st.m, &cs->st.ops, k, op);
			model_apply(&cs->st.m, op);
		}
		if (found && (!cs->have_progress || k > cs->prog.started))
			break;
		if (k < cs->acked)
			continue;
		d = compare(s, &cs->st.m, 0);
		if (d == 0) {
			if (!found)
				cs->k = k;
			cs->k_last = k;
			found = 1;
			continue;
		}
		/* on a tie, prefer the state nearest the operation the kill interrupted */
		if (best < 0 || d < best ||
		    (d == best && cs->have_progress && k <= cs->prog.started)) {
			best = d;
			best_k = k;
		}
	}
	if (found) {
		replay_to(cs, cs->k, op);
		return 0;
	}
	printf("stream %s: no k in [%" PRIu64 ", %" PRIu64 "] matches the volume; closest "
	       "is k=%" PRIu64 " with %d difference(s)\n", cs->name, cs->acked, total, best_k,
	       best);
	/* was acknowledged work lost? look for the latest match before the ack */
	model_free(&cs->st.m);
	stream_start(cs);
	for (uint64_t k = 0, lost = UINT64_MAX; k < cs->acked; k++) {
		if (k > 0) {
			gen_op(&cs->st.m, &cs->st.ops, k, op);
			model_apply(&cs->st.m, op);
		}
		if (compare(s, &cs->st.m, 0) == 0)
			lost = k;
		if (k + 1 == cs->acked && lost != UINT64_MAX)
			printf("stream %s: LOST ACKNOWLEDGED WRITES: the volume is the state after op "
			       "%" PRIu64 ", but op %" PRIu64 " was acknowledged\n", cs->name, lost,
			       cs->acked);
	}
	printf("stream %s: differences from the closest state, k=%" PRIu64 ":\n", cs->name,
	       best_k);
	model_free(&cs->st.m);
	stream_start(cs);
	for (uint64_t k = 1; k <= best_k; k++) {
		char desc[160];

		gen_op(&cs->st.m, &cs->st.ops, k, op);
		if (k + 3 > best_k || verbose) {
			op_describe(op, desc, sizeof(desc));
			printf("  op %" PRIu64 ": %s\n", k, desc);
		}
		model_apply(&cs->st.m, op);
	}
	(void)compare(s, &cs->st.m, 1);
	if (best_k < total) {
		char desc[160];

		gen_op(&cs->st.m, &cs->st.ops, best_k + 1, op);
		op_describe(op, desc, sizeof(desc));
		printf("  next op %" PRIu64 ": %s\n", best_k + 1, desc);
	}
	return -1;
}

struct vreport {
	int notes, problems;
	int torn;       /* notes of a discarded torn tail (§8.1) */
	int superseded; /* notes of segments an interrupted compaction left behind (§10) */
	const char *when;
};

static void on_problem(void *ctx, int kind, const char *where, const char *detail)
{
	struct vreport *r = ctx;

	if (kind == 0) {
		r->notes++;
		r->torn += strstr(detail, "discarded") != NULL;
		r->superseded += strstr(detail, "superseded") != NULL;
	} else {
		r->problems++;
	}
	printf("verify (%s): %s: %s: %s\n", r->when, kind == 0 ? "note" : shelter_code_str(kind),
	       where, detail);
}

static int verify(const char *dir, const uint8_t *key, const char *when, int allow_notes,
		  struct vreport *out)
{
	struct vreport r = { .when = when };
	struct shelter_err err;
	int rc;

	shelter_err_clear(&err);
	rc = shelter_volume_verify(dir, key, NULL, on_problem, &r, &err);
	if (out != NULL)
		*out = r;
	if (rc != 0 || r.problems != 0 || (!allow_notes && r.notes != 0)) {
		printf("verify (%s) failed: rc %d (%s), %d problem(s), %d note(s): %s\n", when, rc,
		       shelter_code_str(rc), r.problems, r.notes, err.msg);
		return -1;
	}
	return 0;
}

static int open_vol(const char *dir, const uint8_t *key, struct shelter_volume **out)
{
	struct shelter_volume_options opts = { .segment_size = CW_SEGMENT_SIZE };
	struct shelter_err err;

	shelter_err_clear(&err);
	if (shelter_volume_open(dir, key, &opts, out, &err) < 0) {
		printf("open failed: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int take_snapshot(struct shelter_volume *vol, struct snap *s)
{
	struct shelter_err err;

	shelter_err_clear(&err);
	if (snap_dir(vol, "", s, &err) < 0) {
		printf("reading the tree failed: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* Only the stream bases (and, after step 4, the post-check file) live in the root. */
static int check_root(const struct snap *s, struct check_stream *cs, int ns, int post)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *p = s->e[i].path;
		int ok = strchr(p, '/') != NULL || (post && strcmp(p, POST_FILE) == 0);

		for (int j = 0; j < ns && !ok; j++)
			ok = strcmp(p, cs[j].name) == 0;
		if (!ok) {
			printf("unexpected entry '%s' in the volume root\n", p);
			return -1;
		}
	}
	return 0;
}

/* Step 4: keep using the volume as the writer would have, then write one file. */
static int post_writes(struct shelter_volume *vol, struct check_stream *cs, int ns,
		       struct op *op, uint8_t *post)
{
	struct shelter_file *f = NULL;
	struct shelter_err err;
	int rc = 0;

	shelter_err_clear(&err);
	for (int j = 0; j < ns && rc == 0; j++) {
		struct op close_handle = { .kind = OP_HANDLE };

		/* the writer's handle died with it; an unlinked file it held is gone */
		model_apply(&cs[j].st.m, &close_handle);
		for (uint64_t n = cs[j].k + 1; n <= cs[j].k + POST_OPS && rc == 0; n++) {
			gen_op(&cs[j].st.m, &cs[j].st.ops, n, op);
			rc = apply_op(vol, &cs[j].st, op, &err);
			if (rc == 0)
				model_apply(&cs[j].st.m, op);
		}
		shelter_file_close(cs[j].st.h);
		cs[j].st.h = NULL;
	}
	fill_data(UINT64_C(0x9057c4ec), post, POST_SIZE);
	if (rc == 0)
		rc = shelter_file_open(vol, POST_FILE, SHELTER_O_RDWR | SHELTER_O_CREAT, 0600, &f,
				       &err);
	if (rc == 0)
		rc = shelter_file_pwrite(f, post, POST_SIZE, POST_OFF, NULL, &err);
	if (rc == 0)
		rc = shelter_file_sync(f, &err);
	shelter_file_close(f);
	if (rc == 0)
		rc = shelter_volume_sync(vol, &err);
	if (rc < 0)
		printf("writing after the crash failed: %s (%s)\n", shelter_code_str(rc), err.msg);
	return rc;
}

static int check_post_file(const struct snap *s, const uint8_t *post)
{
	const struct sent *e = snap_find(s, POST_FILE);
	static uint8_t zeros[POST_OFF];

	if (e == NULL || e->type != SHELTER_FT_REG || e->size != POST_OFF + POST_SIZE ||
	    memcmp(e->data, zeros, POST_OFF) != 0 || memcmp(e->data + POST_OFF, post, POST_SIZE) != 0) {
		printf("'%s' did not read back as written\n", POST_FILE);
		return -1;
	}
	return 0;
}

static int run(const char *dir, const uint8_t *key, struct check_stream *cs, int ns,
	       uint64_t total)
{
	struct shelter_volume *vol = NULL;
	struct snap s = { 0 };
	struct op *op = xmalloc(sizeof(*op));
	uint8_t *post = xmalloc(POST_SIZE);
	struct vreport vr = { 0 };
	int rc, j;
	char when[96];

	/* 1-2: verify the volume as the crash left it, then open it */
	rc = verify(dir, key, "as left by the crash", 1, &vr);
	if (rc == 0)
		rc = open_vol(dir, key, &vol);
	/* 3: the tree is the model after some k in [acked, total] */
	if (rc == 0)
		rc = take_snapshot(vol, &s);
	if (rc == 0)
		rc = check_root(&s, cs, ns, 0);
	for (j = 0; j < ns && rc == 0; j++) {
		rc = find_match(&s, &cs[j], total, op);
		if (!cs[j].have_progress)
			snprintf(when, sizeof(when), "no progress file");
		else if (cs[j].prog.started > cs[j].prog.completed)
			snprintf(when, sizeof(when), "killed during op %" PRIu64, cs[j].prog.started);
		else
			snprintf(when, sizeof(when), "killed after op %" PRIu64 " completed",
				 cs[j].prog.completed);
		if (rc == 0)
			printf("stream %s: acked %" PRIu64 ", %s; volume is the state after op %" PRIu64
			       " (k - acked = %" PRIu64 "; states up to op %" PRIu64 " match)\n",
			       cs[j].name, cs[j].acked, when, cs[j].k, cs[j].k - cs[j].acked,
			       cs[j].k_last);
		if (rc == 0 && cs[j].have_progress && cs[j].k > cs[j].prog.started) {
			printf("stream %s: the volume holds operations the writer never started\n",
			       cs[j].name);
			rc = -1;
		}
	}
	snap_free(&s);
	/* 4: the volume takes new writes, survives a reopen and reads back */
	if (rc == 0)
		rc = post_writes(vol, cs, ns, op, post);
	shelter_volume_close(vol);
	vol = NULL;
	if (rc == 0)
		rc = verify(dir, key, "after repair and new writes", 0, NULL);
	if (rc == 0)
		rc = open_vol(dir, key, &vol);
	if (rc == 0)
		rc = take_snapshot(vol, &s);
	if (rc == 0)
		rc = check_root(&s, cs, ns, 1);
	if (rc == 0)
		rc = check_post_file(&s, post);
	for (j = 0; j < ns && rc == 0; j++) {
		if (compare(&s, &cs[j].st.m, 0) != 0) {
			printf("stream %s: after %d more operations and a reopen, the volume does not "
			       "match the model:\n", cs[j].name, POST_OPS);
			(void)compare(&s, &cs[j].st.m, 1);
			rc = -1;
		}
	}
	snap_free(&s);
	shelter_volume_close(vol);
	for (j = 0; j < ns; j++)
		model_free(&cs[j].st.m);
	free(op);
	free(post);
	printf("RESULT %s torn=%d superseded=%d", rc == 0 ? "ok" : "fail", vr.torn > 0,
	       vr.superseded > 0);
	for (j = 0; j < ns; j++)
		printf(" %s:%" PRIu64 ":%" PRIu64 ":%" PRIu64 ":%" PRIu64 ":%" PRIu64, cs[j].name,
		       cs[j].acked, rc == 0 ? cs[j].k : 0, rc == 0 ? cs[j].k_last : 0,
		       cs[j].prog.started, cs[j].prog.completed);
	printf("\n");
	return rc == 0 ? 0 : 1;
}

static int read_progress(const char *path, struct check_stream *cs, int ns)
{
	struct progress p[PROGRESS_SLOTS];
	FILE *f = fopen(path, "rb");
	size_t got = f != NULL ? fread(p, sizeof(p[0]), PROGRESS_SLOTS, f) : 0;

	if (f != NULL)
		fclose(f);
	if (got != PROGRESS_SLOTS) {
		fprintf(stderr, "crash_check: progress file '%s' unreadable\n", path);
		return -1;
	}
	for (int j = 0; j < ns; j++) {
		cs[j].have_progress = 1;
		cs[j].prog = p[j];
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct check_stream cs[2];
	uint8_t key[SHELTER_VOLUME_KEY_SIZE];
	const char *progress = NULL;
	int fork_mode = 0, ns;
	uint64_t seed, total;

	while (argc > 1 && strncmp(argv[1], "--", 2) == 0) {
		if (strcmp(argv[1], "--fork") == 0) {
			fork_mode = 1;
		} else if (strcmp(argv[1], "--verbose") == 0) {
			verbose = 1;
		} else if (strcmp(argv[1], "--progress") == 0 && argc > 2) {
			progress = argv[2];
			argv++;
			argc--;
		} else {
			break;
		}
		argv++;
		argc--;
	}
	if (argc != 6 + fork_mode) {
		fprintf(stderr, "usage: crash_check [--fork] [--verbose] [--progress FILE] VOLDIR "
				"KEYFILE SEED OPS ACKED [ACKED_C]\n");
		return 2;
	}
	if (read_key(argv[2], key) < 0)
		return 2;
	seed = strtoull(argv[3], NULL, 0);
	total = strtoull(argv[4], NULL, 0);
	cs[0].name = fork_mode ? "p" : "s";
	cs[0].seed = seed;
	cs[0].acked = strtoull(argv[5], NULL, 0);
	cs[1].name = "c";
	cs[1].seed = child_seed(seed);
	cs[1].acked = fork_mode ? strtoull(argv[6], NULL, 0) : 0;
	ns = fork_mode ? 2 : 1;
	if (progress != NULL && read_progress(progress, cs, ns) < 0)
		return 2;
	for (int j = 0; j < ns; j++) {
		cs[j].st.tag = cs[j].name;
		if (cs[j].acked > total) {
			fprintf(stderr, "crash_check: acked %" PRIu64 " > ops %" PRIu64 "\n",
				cs[j].acked, total);
			return 2;
		}
	}
	return run(argv[1], key, cs, ns, total);
}
