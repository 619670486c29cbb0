/* YAML bytes -> a small tree, the strict subset of docs/policy.md §2.
 *
 * libyaml's event parser (not its composer: the composer resolves aliases, which is
 * how billion-laughs documents multiply) feeds an iterative builder with an explicit
 * stack, so hostile nesting costs no C stack. Everything a policy has no use for is
 * refused here, before any schema check: anchors, aliases, tags, %TAG directives, a
 * second document, complex keys, duplicate keys, NUL bytes, oversized values.
 *
 * Known gap (§9): libyaml keeps its own copies of the input in buffers it frees
 * without wiping; a given secret value (kind: value) may remain in freed heap.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "cas/policy_internal.h"
#include "shelter/crypto.h"

int cas_policy_err(struct shelter_err *err, const struct pnode *node, int code,
		   const char *fmt, ...)
{
	char msg[SHELTER_ERR_MSG_SIZE];
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (node == NULL)
		return shelter_err_set(err, code, "policy: %s", msg);
	return shelter_err_set(err, code, "policy line %u col %u: %s", node->line, node->col,
			       msg);
}

const char *cas_policy_token(const struct pnode *n)
{
	if (n == NULL || n->type != PNODE_SCALAR || n->size == 0 || n->size > 64)
		return "(value)";
	for (size_t i = 0; i < n->size; i++) {
		char c = n->str[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return "(value)";
	}
	return n->str;
}

void cas_policy_tree_free(struct pnode *node)
{
	/* Recursion is bounded: the builder refuses trees deeper than
	 * CAS_POLICY_MAX_DEPTH collections. */
	if (node == NULL)
		return;
	for (size_t i = 0; i < node->kids_count; i++)
		cas_policy_tree_free(node->kids[i]);
	free(node->kids);
	if (node->str != NULL) {
		shelter_wipe(node->str, node->size);
		free(node->str);
	}
	free(node);
}

/* Position error at a libyaml mark (0-based). */
__attribute__((format(printf, 4, 5)))
static int mark_err(struct shelter_err *err, yaml_mark_t mark, int code, const char *fmt, ...)
{
	char msg[SHELTER_ERR_MSG_SIZE];
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return shelter_err_set(err, code, "policy line %zu col %zu: %s", mark.line + 1,
			       mark.column + 1, msg);
}

/* The line and column of a byte offset, for reader errors that only know offsets. */
static yaml_mark_t offset_mark(const char *yaml, size_t size, size_t offset)
{
	yaml_mark_t m = { .index = offset, .line = 0, .column = 0 };

	if (offset > size)
		offset = size;
	for (size_t i = 0; i < offset; i++) {
		if (yaml[i] == '\n') {
			m.line++;
			m.column = 0;
		} else {
			m.column++;
		}
	}
	return m;
}

static int parser_err(const yaml_parser_t *p, const char *yaml, size_t size,
		      struct shelter_err *err)
{
	const char *problem = p->problem != NULL ? p->problem : "syntax error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory in the YAML parser");
	case YAML_READER_ERROR:
		return mark_err(err, offset_mark(yaml, size, p->problem_offset), SHELTER_E_MALFORMED,
				"%s", problem);
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (p->context != NULL)
			return mark_err(err, p->problem_mark, SHELTER_E_MALFORMED,
					"%s %s (line %zu)", problem, p->context,
					p->context_mark.line + 1);
		return mark_err(err, p->problem_mark, SHELTER_E_MALFORMED, "%s", problem);
	default:
		return mark_err(err, p->problem_mark, SHELTER_E_MALFORMED, "%s", problem);
	}
}

static struct pnode *node_new(enum pnode_type type, yaml_mark_t mark)
{
	struct pnode *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->type = type;
	n->line = (unsigned)mark.line + 1;
	n->col = (unsigned)mark.column + 1;
	return n;
}

/* Append kid to parent, enforcing key rules for mappings. On failure kid is not
 * taken (the caller frees it). */
static int node_attach(struct pnode *parent, struct pnode *kid, struct shelter_err *err)
{
	int is_map = parent->type == PNODE_MAP;
	int is_key = is_map && parent->kids_count % 2 == 0;
	size_t entries = is_map ? parent->kids_count / 2 : parent->kids_count;

	if (is_key && kid->type != PNODE_SCALAR)
		return cas_policy_err(err, kid, SHELTER_E_MALFORMED,
				      "mapping keys must be strings, not sequences or mappings");
	if (is_key || !is_map) {
		if (entries >= CAS_POLICY_MAX_ITEMS)
			return cas_policy_err(err, kid, SHELTER_E_MALFORMED,
					      "more than %u entries in one %s",
					      CAS_POLICY_MAX_ITEMS, is_map ? "mapping" : "sequence");
	}
	if (is_key) {
		/* §2: a duplicate key would let a reviewer read one value while the CAS
		 * uses the other. */
		for (size_t i = 0; i < parent->kids_count; i += 2) {
			const struct pnode *k = parent->kids[i];

			if (k->size == kid->size && memcmp(k->str, kid->str, k->size) == 0)
				return cas_policy_err(err, kid, SHELTER_E_MALFORMED,
						      "duplicate key '%s' (first at line %u)",
						      cas_policy_token(kid), k->line);
		}
	}
	if (parent->kids_count == parent->kids_cap) {
		size_t cap = parent->kids_cap == 0 ? 8 : parent->kids_cap * 2;
		struct pnode **k = realloc(parent->kids, cap * sizeof(*k));

		if (k == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
		parent->kids = k;
		parent->kids_cap = cap;
	}
	parent->kids[parent->kids_count++] = kid;
	return 0;
}

static int check_props(const yaml_event_t *ev, const yaml_char_t *anchor, const yaml_char_t *tag,
		       struct shelter_err *err)
{
	/* §2: anchors and aliases are how one small document expands into a huge one;
	 * tags would change how a value is typed behind the reader's back. */
	if (anchor != NULL)
		return mark_err(err, ev->start_mark, SHELTER_E_MALFORMED,
				"anchors (&) are not allowed");
	if (tag != NULL)
		return mark_err(err, ev->start_mark, SHELTER_E_MALFORMED,
				"tags (!) are not allowed");
	return 0;
}

static struct pnode *scalar_node(const yaml_event_t *ev, struct shelter_err *err, int *rc)
{
	size_t len = ev->data.scalar.length;
	struct pnode *n;

	if (len > CAS_POLICY_MAX_SCALAR) {
		*rc = mark_err(err, ev->start_mark, SHELTER_E_MALFORMED,
			       "value of %zu bytes, more than %u", len, CAS_POLICY_MAX_SCALAR);
		return NULL;
	}
	if (memchr(ev->data.scalar.value, '\0', len) != NULL) {
		*rc = mark_err(err, ev->start_mark, SHELTER_E_MALFORMED,
			       "value contains a NUL byte");
		return NULL;
	}
	n = node_new(PNODE_SCALAR, ev->start_mark);
	if (n == NULL || (n->str = malloc(len + 1)) == NULL) {
		free(n);
		*rc = shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
		return NULL;
	}
	memcpy(n->str, ev->data.scalar.value, len);
	n->str[len] = '\0';
	n->size = len;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return n;
}

struct builder {
	struct pnode *root;
	struct pnode *stack[CAS_POLICY_MAX_DEPTH];
	size_t depth;
	int documents;
	int done;
};

/* Attach a new node to the open collection (or make it the root). Takes n. */
static int place(struct builder *b, struct pnode *n, struct shelter_err *err)
{
	int rc;

	if (b->depth == 0) {
		if (b->root != NULL) {
			cas_policy_tree_free(n);
			return shelter_err_set(err, SHELTER_E_INTERNAL, "policy: second root");
		}
		b->root = n;
		return 0;
	}
	rc = node_attach(b->stack[b->depth - 1], n, err);
	if (rc < 0)
		cas_policy_tree_free(n);
	return rc;
}

static int on_event(struct builder *b, const yaml_event_t *ev, struct shelter_err *err)
{
	struct pnode *n;
	int rc = 0;

	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_DOCUMENT_END_EVENT:
		return 0;
	case YAML_STREAM_END_EVENT:
		b->done = 1;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++b->documents > 1)
			return mark_err(err, ev->start_mark, SHELTER_E_MALFORMED,
					"more than one document (a policy is one document)");
		if (ev->data.document_start.tag_directives.start !=
		    ev->data.document_start.tag_directives.end)
			return mark_err(err, ev->start_mark, SHELTER_E_MALFORMED,
					"%%TAG directives are not allowed");
		return 0;
	case YAML_ALIAS_EVENT:
		return mark_err(err, ev->start_mark, SHELTER_E_MALFORMED,
				"aliases (*) are not allowed");
	case YAML_SCALAR_EVENT:
		rc = check_props(ev, ev->data.scalar.anchor, ev->data.scalar.tag, err);
		if (rc < 0)
			return rc;
		n = scalar_node(ev, err, &rc);
		return n == NULL ? rc : place(b, n, err);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (ev->type == YAML_SEQUENCE_START_EVENT)
			rc = check_props(ev, ev->data.sequence_start.anchor,
					 ev->data.sequence_start.tag, err);
		else
			rc = check_props(ev, ev->data.mapping_start.anchor,
					 ev->data.mapping_start.tag, err);
		if (rc < 0)
			return rc;
		if (b->depth >= CAS_POLICY_MAX_DEPTH)
			return mark_err(err, ev->start_mark, SHELTER_E_MALFORMED,
					"nested deeper than %u levels", CAS_POLICY_MAX_DEPTH);
		n = node_new(ev->type == YAML_SEQUENCE_START_EVENT ? PNODE_SEQ : PNODE_MAP,
			     ev->start_mark);
		if (n == NULL)
			return shelter_err_set(err, SHELTER_E_NOMEM, "policy: out of memory");
		rc = place(b, n, err);
		if (rc < 0)
			return rc;
		b->stack[b->depth++] = n;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth == 0)
			return shelter_err_set(err, SHELTER_E_INTERNAL, "policy: unbalanced events");
		b->depth--;
		return 0;
	case YAML_NO_EVENT:
	default:
		return mark_err(err, ev->start_mark, SHELTER_E_MALFORMED, "unexpected YAML event");
	}
}

int cas_policy_tree_load(const char *yaml, size_t size, struct pnode **out,
			 struct shelter_err *err)
{
	struct builder b = { 0 };
	yaml_parser_t parser;
	int rc = 0, parser_ready = 0;

	if (out != NULL)
		*out = NULL;
	if (yaml == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "policy: no input");
	if (size > CAS_POLICY_MAX_SIZE) {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED,
				     "policy: %zu bytes, more than the limit of %u", size,
				     CAS_POLICY_MAX_SIZE);
		goto out;
	}
	if (!yaml_parser_initialize(&parser)) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "policy: cannot start the YAML parser");
		goto out;
	}
	parser_ready = 1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, size);
	while (!b.done) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			rc = parser_err(&parser, yaml, size, err);
			goto out;
		}
		rc = on_event(&b, &ev, err);
		yaml_event_delete(&ev);
		if (rc < 0)
			goto out;
	}
	if (b.root == NULL) {
		rc = shelter_err_set(err, SHELTER_E_INVAL, "policy: empty document");
		goto out;
	}
	*out = b.root;
	b.root = NULL;
out:
	if (parser_ready)
		yaml_parser_delete(&parser);
	cas_policy_tree_free(b.root);
	return rc;
}
