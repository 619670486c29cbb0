/* In-memory volume state: docs/formats/volume.md §7. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelter/volume.h"
#include "volume/state.h"

static size_t slot_of(uint64_t ino, size_t cap)
{
	ino ^= ino >> 33;
	ino *= UINT64_C(0xff51afd7ed558ccd);
	ino ^= ino >> 33;
	return (size_t)ino & (cap - 1);
}

struct vs_inode *vs_get(const struct vs_state *s, uint64_t ino)
{
	size_t i = slot_of(ino, s->cap);

	while (s->slots[i] != NULL) {
		if (s->slots[i]->ino == ino)
			return s->slots[i];
		i = (i + 1) & (s->cap - 1);
	}
	return NULL;
}

static int table_grow(struct vs_state *s)
{
	size_t cap = s->cap * 2;
	struct vs_inode **slots = calloc(cap, sizeof(*slots));

	if (slots == NULL)
		return SHELTER_E_NOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		size_t j;

		if (s->slots[i] == NULL)
			continue;
		j = slot_of(s->slots[i]->ino, cap);
		while (slots[j] != NULL)
			j = (j + 1) & (cap - 1);
		slots[j] = s->slots[i];
	}
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

static int table_put(struct vs_state *s, struct vs_inode *n)
{
	size_t i;

	if ((s->count + 1) * 2 > s->cap && table_grow(s) < 0)
		return SHELTER_E_NOMEM;
	i = slot_of(n->ino, s->cap);
	while (s->slots[i] != NULL)
		i = (i + 1) & (s->cap - 1);
	s->slots[i] = n;
	s->count++;
	return 0;
}

/* Backward-shift deletion keeps linear probing chains intact. */
static void table_del(struct vs_state *s, uint64_t ino)
{
	size_t i = slot_of(ino, s->cap), j;

	while (s->slots[i] != NULL && s->slots[i]->ino != ino)
		i = (i + 1) & (s->cap - 1);
	if (s->slots[i] == NULL)
		return;
	s->slots[i] = NULL;
	s->count--;
	j = i;
	for (;;) {
		size_t k;

		j = (j + 1) & (s->cap - 1);
		if (s->slots[j] == NULL)
			return;
		k = slot_of(s->slots[j]->ino, s->cap);
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			s->slots[i] = s->slots[j];
			s->slots[j] = NULL;
			i = j;
		}
	}
}

static void inode_free(struct vs_inode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nents; i++)
		free(n->ents[i].name);
	free(n->ents);
	vs_cm_free(&n->chunks);
	free(n->target);
	free(n->name);
	free(n);
}

static struct vs_inode *inode_new(uint64_t ino, uint8_t type, uint32_t mode, int64_t t)
{
	struct vs_inode *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->ino = ino;
	n->type = type;
	n->mode = mode;
	n->mtime_ns = t;
	n->ctime_ns = t;
	return n;
}

int vs_init(struct vs_state *s, int64_t now_ns)
{
	struct vs_inode *root;

	memset(s, 0, sizeof(*s));
	s->cap = 64;
	s->slots = calloc(s->cap, sizeof(*s->slots));
	root = inode_new(VS_ROOT_INO, SHELTER_FT_DIR, 0755, now_ns);
	if (s->slots == NULL || root == NULL || table_put(s, root) < 0) {
		free(root);
		free(s->slots);
		s->slots = NULL;
		return SHELTER_E_NOMEM;
	}
	return 0;
}

void vs_free(struct vs_state *s)
{
	if (s->slots == NULL)
		return;
	for (size_t i = 0; i < s->cap; i++)
		inode_free(s->slots[i]);
	free(s->slots);
	s->slots = NULL;
}

static int name_cmp(const char *a, const char *b, size_t blen)
{
	size_t alen = strlen(a);
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Binary search; *pos receives the insertion point when absent. */
static struct vs_dirent *dir_search(const struct vs_inode *dir, const char *name, size_t len,
				    size_t *pos)
{
	size_t lo = 0, hi = dir->nents;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(dir->ents[mid].name, name, len);

		if (c == 0) {
			*pos = mid;
			return &dir->ents[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return NULL;
}

struct vs_dirent *vs_dir_find(const struct vs_inode *dir, const char *name, size_t len)
{
	size_t pos;

	return dir_search(dir, name, len, &pos);
}

static int dir_insert(struct vs_inode *dir, const char *name, size_t len, uint64_t ino)
{
	size_t pos;
	char *copy;

	if (dir_search(dir, name, len, &pos) != NULL)
		return SHELTER_E_EXIST;
	if (dir->nents == dir->cap_ents) {
		size_t cap = dir->cap_ents ? dir->cap_ents * 2 : 8;
		struct vs_dirent *e = realloc(dir->ents, cap * sizeof(*e));

		if (e == NULL)
			return SHELTER_E_NOMEM;
		dir->ents = e;
		dir->cap_ents = cap;
	}
	copy = strndup(name, len);
	if (copy == NULL)
		return SHELTER_E_NOMEM;
	memmove(&dir->ents[pos + 1], &dir->ents[pos], (dir->nents - pos) * sizeof(*dir->ents));
	dir->ents[pos].name = copy;
	dir->ents[pos].ino = ino;
	dir->nents++;
	return 0;
}

static void dir_remove(struct vs_inode *dir, struct vs_dirent *e)
{
	size_t pos = (size_t)(e - dir->ents);

	free(e->name);
	memmove(&dir->ents[pos], &dir->ents[pos + 1], (dir->nents - pos - 1) * sizeof(*e));
	dir->nents--;
}

static int set_link(struct vs_inode *n, uint64_t parent, const char *name, size_t len)
{
	char *copy = strndup(name, len);

	if (copy == NULL)
		return SHELTER_E_NOMEM;
	free(n->name);
	n->name = copy;
	n->parent = parent;
	return 0;
}

void vs_release(struct vs_state *s, struct vs_inode *n)
{
	if (n == NULL || n->parent != 0 || n->ino == VS_ROOT_INO || n->opens > 0)
		return;
	table_del(s, n->ino);
	inode_free(n);
}

/* An entry leaves the tree: the inode lives on while this process has it open. */
static void detach(struct vs_state *s, struct vs_inode *n)
{
	n->parent = 0;
	free(n->name);
	n->name = NULL;
	vs_release(s, n);
}

static struct vs_inode *dir_of(const struct vs_state *s, uint64_t ino)
{
	struct vs_inode *d = vs_get(s, ino);

	/* a directory that is still linked into the tree (the root always is) */
	return d != NULL && d->type == SHELTER_FT_DIR && (d->parent != 0 || ino == VS_ROOT_INO)
		       ? d
		       : NULL;
}

static int apply_create(struct vs_state *s, uint64_t seq, const struct vf_meta *m,
			struct shelter_err *err)
{
	struct vs_inode *dir = dir_of(s, m->parent), *n;
	uint64_t ino = seq + 1; /* §5.2: ino 1 is the root, so a node is its seq + 1 */
	int rc;

	if (dir == NULL || vs_get(s, ino) != NULL)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "record %llu: create in missing directory %llu",
				       (unsigned long long)seq, (unsigned long long)m->parent);
	n = inode_new(ino, m->type, m->mode, m->time_ns);
	if (n == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "record %llu: out of memory",
				       (unsigned long long)seq);
	if (m->type == SHELTER_FT_LNK) {
		n->target = strndup(m->target, m->target_len);
		n->size = m->target_len;
	}
	rc = (m->type == SHELTER_FT_LNK && n->target == NULL) ? SHELTER_E_NOMEM
							      : set_link(n, m->parent, m->name,
									 m->name_len);
	if (rc == 0)
		rc = dir_insert(dir, m->name, m->name_len, ino);
	if (rc == 0 && (rc = table_put(s, n)) < 0)
		dir_remove(dir, vs_dir_find(dir, m->name, m->name_len));
	if (rc < 0) {
		inode_free(n);
		return shelter_err_set(err, rc == SHELTER_E_EXIST ? SHELTER_E_INTEGRITY : rc,
				       "record %llu: create '%.*s': %s", (unsigned long long)seq,
				       (int)m->name_len, m->name, shelter_code_str(rc));
	}
	dir->mtime_ns = dir->ctime_ns = m->time_ns;
	return 0;
}

static int apply_unlink(struct vs_state *s, uint64_t seq, const struct vf_meta *m,
			struct shelter_err *err)
{
	struct vs_inode *dir = dir_of(s, m->parent), *n = NULL;
	struct vs_dirent *e = dir ? vs_dir_find(dir, m->name, m->name_len) : NULL;

	if (e != NULL)
		n = vs_get(s, e->ino);
	if (n == NULL || (n->type == SHELTER_FT_DIR && n->nents != 0))
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "record %llu: unlink of a missing or non-empty entry",
				       (unsigned long long)seq);
	dir_remove(dir, e);
	detach(s, n);
	return 0;
}

static int is_ancestor(const struct vs_state *s, uint64_t anc, uint64_t ino)
{
	for (int depth = 0; ino != 0 && depth < 4096; depth++) {
		struct vs_inode *n;

		if (ino == anc)
			return 1;
		if (ino == VS_ROOT_INO)
			return 0;
		n = vs_get(s, ino);
		ino = n ? n->parent : 0;
	}
	return 1; /* deeper than any legal tree: treat as a cycle */
}

static int apply_rename(struct vs_state *s, uint64_t seq, const struct vf_meta *m,
			struct shelter_err *err)
{
	struct vs_inode *src = dir_of(s, m->parent), *dst = dir_of(s, m->parent2);
	struct vs_dirent *e = src ? vs_dir_find(src, m->name, m->name_len) : NULL, *old;
	struct vs_inode *n = e ? vs_get(s, e->ino) : NULL, *victim = NULL;
	int rc;

	if (n == NULL || dst == NULL ||
	    (n->type == SHELTER_FT_DIR && is_ancestor(s, n->ino, dst->ino)))
		goto bad;
	old = vs_dir_find(dst, m->name2, m->name2_len);
	if (old != NULL && old->ino == n->ino)
		return 0; /* rename onto itself: POSIX says no-op */
	if (old != NULL) {
		victim = vs_get(s, old->ino);
		if (victim == NULL || (victim->type == SHELTER_FT_DIR) != (n->type == SHELTER_FT_DIR) ||
		    (victim->type == SHELTER_FT_DIR && victim->nents != 0))
			goto bad;
		dir_remove(dst, old);
	}
	dir_remove(src, vs_dir_find(src, m->name, m->name_len));
	rc = dir_insert(dst, m->name2, m->name2_len, n->ino);
	if (rc == 0)
		rc = set_link(n, dst->ino, m->name2, m->name2_len);
	if (rc < 0)
		return shelter_err_set(err, rc, "record %llu: rename: %s",
				       (unsigned long long)seq, shelter_code_str(rc));
	if (victim != NULL)
		detach(s, victim);
	return 0;
bad:
	return shelter_err_set(err, SHELTER_E_INTEGRITY, "record %llu: impossible rename",
			       (unsigned long long)seq);
}

static int apply_setattr(struct vs_state *s, uint64_t seq, const struct vf_meta *m,
			 struct shelter_err *err)
{
	struct vs_inode *n = vs_get(s, m->ino);

	if (n == NULL && m->ino <= seq)
		return 0; /* another process wrote to a file this one never saw alive */
	if (n == NULL)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "record %llu: attributes of a file created later",
				       (unsigned long long)seq);
	if (n->type != SHELTER_FT_REG && m->size != n->size)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "record %llu: size change of a non-file",
				       (unsigned long long)seq);
	/* §7.2: no chunk record survives beyond the end of file, so extending a file
	 * later can only ever expose zeros. */
	vs_cm_clear_from(&n->chunks, (m->size + VF_CHUNK - 1) / VF_CHUNK);
	n->size = m->size;
	n->mode = m->mode;
	n->mtime_ns = n->ctime_ns = m->time_ns;
	return 0;
}

int vs_carry_open(struct vs_state *old, struct vs_state *fresh)
{
	size_t opens = 0;

	/* make room first, so that once objects start moving nothing can fail */
	for (size_t i = 0; i < old->cap; i++)
		opens += old->slots[i] != NULL && old->slots[i]->opens > 0;
	while ((fresh->count + opens + 1) * 2 > fresh->cap)
		if (table_grow(fresh) < 0)
			return SHELTER_E_NOMEM;
	for (size_t i = 0; i < old->cap; i++) {
		struct vs_inode *o = old->slots[i], *n, tmp;

		if (o == NULL || o->opens == 0)
			continue;
		n = vs_get(fresh, o->ino);
		if (n != NULL) {
			/* o takes n's contents; n carries o's old ones away to be freed */
			tmp = *n;
			tmp.opens = o->opens;
			*n = *o;
			n->opens = 0;
			*o = tmp;
			table_del(fresh, o->ino);
			inode_free(n);
		} else {
			free(o->name);
			o->name = NULL;
			o->parent = 0;
		}
		(void)table_put(fresh, o); /* cannot fail: room was made above */
		old->slots[i] = NULL; /* now owned by fresh; the old table is only freed */
		old->count--;
	}
	return 0;
}

static int node_matches(const struct vs_inode *n, const struct vf_meta *m)
{
	if (n->type != m->type)
		return 0;
	if (m->ino == VS_ROOT_INO)
		return 1;
	return n->parent == m->parent && n->name != NULL && strlen(n->name) == m->name_len &&
	       memcmp(n->name, m->name, m->name_len) == 0;
}

int vs_apply_node(struct vs_state *s, const struct vf_meta *m, struct shelter_err *err)
{
	struct vs_inode *n = vs_get(s, m->ino), *dir;
	int rc;

	if (n == NULL) {
		dir = dir_of(s, m->parent);
		n = inode_new(m->ino, m->type, m->mode, m->time_ns);
		rc = (dir == NULL || n == NULL) ? SHELTER_E_INTEGRITY
						: set_link(n, m->parent, m->name, m->name_len);
		if (rc == 0 && m->type == SHELTER_FT_LNK &&
		    (n->target = strndup(m->target, m->target_len)) == NULL)
			rc = SHELTER_E_NOMEM;
		if (rc == 0)
			rc = dir_insert(dir, m->name, m->name_len, m->ino);
		if (rc == 0 && (rc = table_put(s, n)) < 0)
			dir_remove(dir, vs_dir_find(dir, m->name, m->name_len));
		if (rc < 0) {
			inode_free(n);
			return shelter_err_set(err, rc == SHELTER_E_NOMEM ? rc : SHELTER_E_INTEGRITY,
					       "checkpoint node %llu does not fit the tree",
					       (unsigned long long)m->ino);
		}
	} else if (!node_matches(n, m)) {
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "checkpoint node %llu differs from the replayed history",
				       (unsigned long long)m->ino);
	}
	n->mode = m->mode;
	n->size = m->type == SHELTER_FT_LNK ? m->target_len : m->size;
	n->mtime_ns = m->time_ns;
	n->ctime_ns = m->time2_ns;
	return 0;
}

int vs_apply_meta(struct vs_state *s, uint64_t seq, const struct vf_meta *m,
		  struct shelter_err *err)
{
	switch (m->op) {
	case VF_OP_CREATE:
		return apply_create(s, seq, m, err);
	case VF_OP_UNLINK:
		return apply_unlink(s, seq, m, err);
	case VF_OP_RENAME:
		return apply_rename(s, seq, m, err);
	case VF_OP_SETATTR:
		return apply_setattr(s, seq, m, err);
	case VF_OP_SEAL:
		return 0;
	default:
		return shelter_err_set(err, SHELTER_E_INTEGRITY, "record %llu: unknown operation",
				       (unsigned long long)seq);
	}
}

int vs_apply_data(struct vs_state *s, uint64_t ino, uint64_t chunk, struct vs_chunk loc,
		  struct shelter_err *err)
{
	struct vs_inode *n = vs_get(s, ino);

	if (n == NULL) {
		if (ino <= loc.seq)
			return 0; /* file unlinked before this process saw the write */
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "record %llu: data for a file created later",
				       (unsigned long long)loc.seq);
	}
	if (n->type != SHELTER_FT_REG || chunk >= (n->size + VF_CHUNK - 1) / VF_CHUNK)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "record %llu: data beyond the end of file %llu",
				       (unsigned long long)loc.seq, (unsigned long long)ino);
	if (vs_cm_set(&n->chunks, chunk, loc) < 0)
		return shelter_err_set(err, SHELTER_E_NOMEM, "chunk map: out of memory");
	return 0;
}

/* Split off the next component; skips empty and "." components. */
static const char *next_comp(const char *p, size_t *len)
{
	for (;;) {
		while (*p == '/')
			p++;
		*len = strcspn(p, "/");
		if (!(*len == 1 && p[0] == '.'))
			return p;
		p += 1;
	}
}

static int walk(const struct vs_state *s, const char *path, int stop_before_last,
		struct vs_inode **out, const char **leaf, size_t *leaf_len,
		struct shelter_err *err)
{
	struct vs_inode *cur = vs_get(s, VS_ROOT_INO);
	const char *p = path;
	size_t len;

	if (strlen(path) >= SHELTER_VOLUME_PATH_MAX)
		return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "path too long");
	for (p = next_comp(p, &len); *p != '\0'; p = next_comp(p + len, &len)) {
		const char *rest;
		size_t rlen;
		struct vs_dirent *e;

		if (len > SHELTER_VOLUME_NAME_MAX)
			return shelter_err_set(err, SHELTER_E_NAMETOOLONG, "name too long in '%s'", path);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return shelter_err_set(err, SHELTER_E_INVAL, "'..' in volume path '%s'", path);
		rest = next_comp(p + len, &rlen);
		if (stop_before_last && *rest == '\0') {
			*leaf = p;
			*leaf_len = len;
			break;
		}
		if (cur->type != SHELTER_FT_DIR)
			return shelter_err_set(err, SHELTER_E_NOTDIR, "'%s': not a directory", path);
		e = vs_dir_find(cur, p, len);
		if (e == NULL)
			return shelter_err_set(err, SHELTER_E_NOENT, "'%s': no such file or directory",
					       path);
		cur = vs_get(s, e->ino);
		if (cur == NULL)
			return shelter_err_set(err, SHELTER_E_INTERNAL, "'%s': dangling entry", path);
	}
	if (stop_before_last && *leaf == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "'%s' names the volume root", path);
	if (stop_before_last && cur->type != SHELTER_FT_DIR)
		return shelter_err_set(err, SHELTER_E_NOTDIR, "'%s': not a directory", path);
	*out = cur;
	return 0;
}

int vs_lookup(const struct vs_state *s, const char *path, struct vs_inode **out,
	      struct shelter_err *err)
{
	*out = NULL;
	return walk(s, path, 0, out, NULL, NULL, err);
}

int vs_lookup_parent(const struct vs_state *s, const char *path, struct vs_inode **parent,
		     const char **leaf, size_t *leaf_len, struct shelter_err *err)
{
	*parent = NULL;
	*leaf = NULL;
	*leaf_len = 0;
	return walk(s, path, 1, parent, leaf, leaf_len, err);
}

void vs_path(const struct vs_state *s, uint64_t ino, char *buf, size_t size)
{
	const char *parts[64];
	size_t n = 0, used = 0;
	struct vs_inode *cur = vs_get(s, ino);

	if (cur == NULL || (cur->parent == 0 && ino != VS_ROOT_INO)) {
		snprintf(buf, size, "(unlinked file %llu)", (unsigned long long)ino);
		return;
	}
	while (cur != NULL && cur->ino != VS_ROOT_INO && n < 64) {
		parts[n++] = cur->name;
		cur = vs_get(s, cur->parent);
	}
	buf[0] = '\0';
	if (n == 0)
		snprintf(buf, size, "/");
	while (n > 0 && used < size) {
		int w = snprintf(buf + used, size - used, "/%s", parts[--n]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}
