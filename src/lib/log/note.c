/* C2SP signed notes and tlog checkpoints (docs/formats/log.md §3). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log/internal.h"
#include "shelter/crypto.h"
#include "util/b64.h"

#define EM_DASH "\xe2\x80\x94 " /* U+2014 and a space: a signature line (§3.2) */
#define EM_DASH_SIZE 4
#define SIG_LINES_MAX 100
#define ALG_ED25519 0x01

int lg_origin_check(const char *origin, struct shelter_err *err)
{
	size_t len = origin != NULL ? strlen(origin) : 0;

	if (len == 0 || len > SHELTER_LOG_ORIGIN_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL,
				       "log: origin must be 1 to %d bytes, not %zu",
				       SHELTER_LOG_ORIGIN_MAX, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)origin[i];

		if (c <= ' ' || c >= 0x7f || c == '+')
			return shelter_err_set(err, SHELTER_E_INVAL,
					       "log: origin byte %zu (0x%02x): printable ASCII "
					       "without space or '+' only (§3.1)", i, c);
	}
	return 0;
}

void lg_key_id(const char *name, const uint8_t pub[32], uint8_t out[4])
{
	uint8_t alg = ALG_ED25519, nl = '\n', h[32];
	struct shelter_iov parts[] = {
		{ name, strlen(name) }, { &nl, 1 }, { &alg, 1 }, { pub, 32 },
	};

	if (shelter_sha256_v(parts, 4, h, NULL) != 0)
		memset(h, 0, sizeof(h)); /* never matches a real id by more than chance */
	memcpy(out, h, 4);
}

int lg_checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[LG_HASH],
		       const uint8_t priv[32], const uint8_t pub[32], char *out, size_t cap,
		       size_t *out_len, struct shelter_err *err)
{
	char root64[SHELTER_B64_SIZE(LG_HASH) + 1], sig64[SHELTER_B64_SIZE(68) + 1];
	uint8_t sig[68];
	int body, n, rc;

	*out_len = 0;
	shelter_b64_encode(root, LG_HASH, root64);
	body = snprintf(out, cap, "%s\n%" PRIu64 "\n%s\n", origin, size, root64);
	if (body < 0 || (size_t)body >= cap)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: checkpoint over %zu bytes", cap);
	lg_key_id(origin, pub, sig);
	rc = shelter_ed25519_sign(priv, out, (size_t)body, sig + 4, err);
	if (rc != 0)
		return rc;
	shelter_b64_encode(sig, sizeof(sig), sig64);
	n = snprintf(out + body, cap - (size_t)body, "\n" EM_DASH "%s %s\n", origin, sig64);
	if (n < 0 || (size_t)n >= cap - (size_t)body)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: checkpoint over %zu bytes", cap);
	*out_len = (size_t)body + (size_t)n;
	return 0;
}

int shelter_log_verifier_format(const char *origin, const uint8_t pub[32], char *out,
				size_t cap, struct shelter_err *err)
{
	uint8_t id[4], key[33];
	char id_hex[9], key64[SHELTER_B64_SIZE(33) + 1];
	int n, rc;

	if (pub == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	if ((rc = lg_origin_check(origin, err)) != 0)
		return rc;
	lg_key_id(origin, pub, id);
	shelter_hex(id, 4, id_hex);
	key[0] = ALG_ED25519;
	memcpy(key + 1, pub, 32);
	shelter_b64_encode(key, sizeof(key), key64);
	n = snprintf(out, cap, "%s+%s+%s", origin, id_hex, key64);
	if (n < 0 || (size_t)n >= cap)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: verifier key over %zu bytes", cap);
	return 0;
}

int shelter_log_verifier_parse(const char *text, size_t len, struct shelter_log_verifier *out,
			       struct shelter_err *err)
{
	const char *p1, *p2;
	uint8_t key[34], id[4];
	char id_hex[9] = { 0 };
	size_t name_len, key_size;

	if (text == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	memset(out, 0, sizeof(*out));
	p1 = memchr(text, '+', len);
	p2 = p1 != NULL ? memchr(p1 + 1, '+', len - (size_t)(p1 + 1 - text)) : NULL;
	if (p2 == NULL)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "verifier key: want <name>+<id>+<key> (§3.2)");
	name_len = (size_t)(p1 - text);
	if (name_len == 0 || name_len > SHELTER_LOG_ORIGIN_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "verifier key: name of %zu bytes",
				       name_len);
	memcpy(out->name, text, name_len);
	if (strlen(out->name) != name_len || lg_origin_check(out->name, NULL) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "verifier key: name '%s' is not a log origin (§3.1)",
				       out->name);
	memcpy(id_hex, p1 + 1, p2 - p1 - 1 == 8 ? 8 : 0);
	if (p2 - p1 - 1 != 8 || shelter_unhex(id_hex, out->id, 4) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "verifier key: key id must be 8 hex digits");
	if (shelter_b64_decode(p2 + 1, len - (size_t)(p2 + 1 - text), key, sizeof(key),
			       &key_size) != 0 || key_size != 33)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "verifier key: key must be base64 of 33 bytes");
	if (key[0] != ALG_ED25519)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "verifier key: signature type %u, only Ed25519 (1)", key[0]);
	memcpy(out->pub, key + 1, 32);
	lg_key_id(out->name, out->pub, id);
	if (memcmp(id, out->id, 4) != 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "verifier key: key id does not match the name and key");
	return 0;
}

/* One signature line "— name base64\n" from p (line_len bytes, without "\n").
 * Returns 1 when it is v's and verifies, 0 when it is another key's. */
static int sig_line(const char *p, size_t line_len, const struct shelter_log_verifier *v,
		    const char *body, size_t body_len, size_t line_no, struct shelter_err *err)
{
	const char *sp;
	uint8_t sig[4 + 64 + 1];
	size_t name_len, sig_size;

	if (line_len < EM_DASH_SIZE || memcmp(p, EM_DASH, EM_DASH_SIZE) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "note: signature line %zu does not start with an em dash",
				       line_no);
	p += EM_DASH_SIZE;
	line_len -= EM_DASH_SIZE;
	sp = memchr(p, ' ', line_len);
	if (sp == NULL || sp == p)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "note: signature line %zu has no key name", line_no);
	name_len = (size_t)(sp - p);
	if (shelter_b64_decode(sp + 1, line_len - name_len - 1, sig, sizeof(sig), &sig_size) != 0 ||
	    sig_size < 5)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "note: signature line %zu: bad base64 signature", line_no);
	if (name_len != strlen(v->name) || memcmp(p, v->name, name_len) != 0 ||
	    memcmp(sig, v->id, 4) != 0)
		return 0;
	if (sig_size != 68 || shelter_ed25519_verify(v->pub, body, body_len, sig + 4, NULL) != 0)
		return shelter_err_set(err, SHELTER_E_INTEGRITY,
				       "note: the signature of %s does not verify", v->name);
	return 1;
}

/* §3.2: split at the last "\n\n", check every signature line. */
static int note_verify(const char *note, size_t len, const struct shelter_log_verifier *v,
		       size_t *out_body, struct shelter_err *err)
{
	size_t body = 0, pos, lines = 0;
	int found = 0, rc;

	if (len == 0 || len > SHELTER_LOG_NOTE_MAX || note[len - 1] != '\n')
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "note: %zu bytes, want 1..%d ending in a newline", len,
				       SHELTER_LOG_NOTE_MAX);
	for (size_t i = len - 1; i > 0; i--) {
		if (note[i] == '\n' && note[i - 1] == '\n') {
			body = i;
			break;
		}
	}
	if (body == 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "note: no blank line before "
				       "the signatures");
	for (pos = body + 1; pos < len; lines++) {
		const char *nl = memchr(note + pos, '\n', len - pos);

		if (lines == SIG_LINES_MAX)
			return shelter_err_set(err, SHELTER_E_MALFORMED,
					       "note: more than %d signatures", SIG_LINES_MAX);
		rc = sig_line(note + pos, (size_t)(nl - note) - pos, v, note, body, lines + 1, err);
		if (rc < 0)
			return rc;
		found |= rc;
		pos = (size_t)(nl - note) + 1;
	}
	if (lines == 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "note: no signature line");
	if (!found)
		return shelter_err_set(err, SHELTER_E_UNTRUSTED,
				       "note: not signed by %s (key id %02x%02x%02x%02x)", v->name,
				       v->id[0], v->id[1], v->id[2], v->id[3]);
	*out_body = body;
	return 0;
}

/* §3.1: "<origin>\n<size>\n<base64 root>\n[extensions]" of len bytes. */
static int checkpoint_parse(const char *body, size_t len, struct shelter_log_checkpoint *cp,
			    struct shelter_err *err)
{
	const char *line[3];
	size_t line_len[3], pos = 0, root_size;
	uint64_t size = 0;

	for (int i = 0; i < 3; i++) {
		const char *nl = memchr(body + pos, '\n', len - pos);

		if (nl == NULL)
			return shelter_err_set(err, SHELTER_E_MALFORMED,
					       "checkpoint: %d lines, want at least 3", i);
		line[i] = body + pos;
		line_len[i] = (size_t)(nl - line[i]);
		pos += line_len[i] + 1;
	}
	if (line_len[0] == 0 || line_len[0] > SHELTER_LOG_ORIGIN_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "checkpoint: origin of %zu bytes",
				       line_len[0]);
	memcpy(cp->origin, line[0], line_len[0]);
	cp->origin[line_len[0]] = '\0';
	if (strlen(cp->origin) != line_len[0] || lg_origin_check(cp->origin, NULL) != 0)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "checkpoint: bad origin line");
	if (line_len[1] == 0 || line_len[1] > 19 || (line[1][0] == '0' && line_len[1] > 1))
		return shelter_err_set(err, SHELTER_E_MALFORMED, "checkpoint: bad size line");
	for (size_t i = 0; i < line_len[1]; i++) {
		if (line[1][i] < '0' || line[1][i] > '9')
			return shelter_err_set(err, SHELTER_E_MALFORMED,
					       "checkpoint: size is not a decimal number");
		size = size * 10 + (uint64_t)(line[1][i] - '0');
	}
	if (size > INT64_MAX)
		return shelter_err_set(err, SHELTER_E_MALFORMED, "checkpoint: size over 2^63");
	if (shelter_b64_decode(line[2], line_len[2], cp->root, LG_HASH, &root_size) != 0 ||
	    root_size != LG_HASH)
		return shelter_err_set(err, SHELTER_E_MALFORMED,
				       "checkpoint: root must be base64 of 32 bytes");
	cp->size = size;
	return 0;
}

int shelter_log_checkpoint_open(const char *note, size_t len,
				const struct shelter_log_verifier *v,
				struct shelter_log_checkpoint *out, struct shelter_err *err)
{
	struct shelter_log_checkpoint cp;
	size_t body = 0;
	int rc;

	if (note == NULL || v == NULL || out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "log: NULL argument");
	memset(out, 0, sizeof(*out));
	memset(&cp, 0, sizeof(cp));
	if ((rc = note_verify(note, len, v, &body, err)) != 0)
		return rc;
	if ((rc = checkpoint_parse(note, body, &cp, err)) != 0)
		return rc;
	if (strcmp(cp.origin, v->name) != 0)
		return shelter_err_set(err, SHELTER_E_POLICY,
				       "checkpoint: origin '%s' is not the key's name '%s'",
				       cp.origin, v->name);
	*out = cp;
	return 0;
}
