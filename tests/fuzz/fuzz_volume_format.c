/* libFuzzer target: every pure parser of the volume format (docs/formats/volume.md
 * §3-§5.2; STYLE.md rule 17) on one input.
 *
 *   - §3 volume header: vf_header_peek, then vf_header_verify with keys derived from
 *     a fixed master key and the peeked salt; a header that verifies must re-encode
 *     to the same 128 bytes.
 *   - §4 segment header: vf_seghdr_decode; one that decodes must re-encode exactly.
 *   - §5 records: vf_rec_parse walking the input record by record (from offset 0, and
 *     from offset 96 when the input starts with a segment header), vf_rec_open of each
 *     parsed record under a fixed AES-GCM key, the §6 chain over them, and
 *     vf_meta_decode of every authenticated metadata plaintext.
 *   - §5.2/§10.2 metadata (CREATE ... SEAL, and the checkpoint's NODE and INDEX):
 *     vf_meta_decode on the input itself.
 *   - §10.3 checkpoint END: vf_ckpt_end_decode on the input itself and on every
 *     authenticated checkpoint metadata record.
 *
 * Properties checked with abort(): vf_meta_encode(vf_meta_decode(x)) == x (zero
 * padded) and vf_ckpt_end_encode(vf_ckpt_end_decode(x)) == x; a failed vf_rec_open
 * leaves no plaintext behind (crypto.h contract); vf_rec_parse never points outside
 * the bytes it was given.
 *
 * The fixed key, volume id and salts below are the ones fuzz_volume_open uses, so
 * records from either corpus authenticate here (segment 1 of that volume).
 *
 * Seed generator: SHELTER_FUZZ_SEEDS=DIR ./fuzz_volume_format writes seeds made by
 * the real encoders into DIR and exits (tests/fuzz/corpus/fuzz_volume_format). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shelter/crypto.h"
#include "util/buf.h"
#include "volume/format.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_NAME "fuzz_volume_format"
#include "fixture.h"

static struct vf_keys g_keys;            /* from fz_key and fz_salt */
static struct vf_header g_hdr;
static struct vf_seghdr g_seghdr;
static struct shelter_aead *g_aead;      /* segment 1 of that volume */

static void setup(void)
{
	uint8_t seg_key[SHELTER_KEY_SIZE];

	g_hdr.version = VF_VERSION;
	g_hdr.chunk_size = VF_CHUNK;
	g_hdr.created_ns = FZ_CREATED_NS;
	memcpy(g_hdr.volume_id, fz_volume_id, VF_ID_SIZE);
	memcpy(g_hdr.salt, fz_salt, VF_SALT_SIZE);
	g_seghdr.segno = 1;
	g_seghdr.first_seq = 1;
	memcpy(g_seghdr.volume_id, fz_volume_id, VF_ID_SIZE);
	memcpy(g_seghdr.salt, fz_seg_salt, VF_SALT_SIZE);
	if (vf_keys_derive(fz_key, fz_salt, &g_keys, NULL) < 0 ||
	    vf_segment_key(&g_keys, &g_hdr, &g_seghdr, seg_key, NULL) < 0 ||
	    shelter_aead_new(seg_key, &g_aead, NULL) < 0)
		fz_die("setup: key derivation failed");
	shelter_wipe(seg_key, sizeof(seg_key));
}

/* §5.2: decode then encode must give back the input, zero padded to VF_META_ALIGN
 * (decode accepts only the minimal padding, so there is exactly one encoding). */
static void meta_roundtrip(const uint8_t *pt, size_t len, const struct vf_meta *m)
{
	static uint8_t out[VF_META_MAX];
	size_t n = vf_meta_encode(m, out, sizeof(out)), end;

	if (n == 0)
		fz_die("vf_meta_encode refused an operation vf_meta_decode accepted");
	if (n % VF_META_ALIGN != 0)
		fz_die("vf_meta_encode returned an unpadded size");
	end = n > len ? n : len;
	for (size_t i = 0; i < end; i++) {
		uint8_t a = i < n ? out[i] : 0, b = i < len ? pt[i] : 0;

		if (a != b)
			fz_die("vf_meta_encode(vf_meta_decode(x)) != x");
	}
}

static void meta_check(const uint8_t *pt, size_t len)
{
	struct vf_meta m;

	if (vf_meta_decode(pt, len, &m) == 0)
		meta_roundtrip(pt, len, &m);
}

/* §10.3: the END record's plaintext has one encoding too. */
static void ckpt_end_check(const uint8_t *pt, size_t len)
{
	static struct vf_ckpt_end e;
	static uint8_t out[VF_CKPT_END_PT];

	if (vf_ckpt_end_decode(pt, len, &e) != 0)
		return;
	if (len != VF_CKPT_END_PT)
		fz_die("vf_ckpt_end_decode accepted %zu bytes", len);
	vf_ckpt_end_encode(&e, out);
	if (memcmp(out, pt, VF_CKPT_END_PT) != 0)
		fz_die("vf_ckpt_end_encode(vf_ckpt_end_decode(x)) != x");
}

/* §3: peek, derive the keys from the salt the header names, verify. */
static void header_check(const uint8_t *data, size_t size)
{
	struct vf_header h;
	struct vf_keys k;
	uint8_t again[VF_HDR_SIZE], genesis[SHELTER_SHA256_SIZE];
	int peek = vf_header_peek(data, size, &h, NULL);

	if (size < VF_HDR_SIZE) {
		if (peek == 0)
			fz_die("vf_header_peek accepted a short header");
		return;
	}
	if (vf_chain_genesis(data, genesis, NULL) < 0)
		fz_die("vf_chain_genesis failed");
	if (peek != 0 && peek != SHELTER_E_INTEGRITY)
		return;
	if (vf_keys_derive(fz_key, h.salt, &k, NULL) < 0)
		fz_die("vf_keys_derive failed");
	if (vf_header_verify(data, &k, NULL) == 0 && peek == 0) {
		vf_header_encode(&h, &k, again);
		if (memcmp(again, data, VF_HDR_SIZE) != 0)
			fz_die("a verified volume header does not re-encode to itself");
	}
	shelter_wipe(&k, sizeof(k));
}

/* §4 */
static void seghdr_check(const uint8_t *data, size_t size)
{
	struct vf_seghdr s;
	uint8_t again[VF_SEGHDR_SIZE];

	if (vf_seghdr_decode(data, size, &g_keys, &s, NULL) != 0)
		return;
	vf_seghdr_encode(&s, &g_keys, again);
	if (memcmp(again, data, VF_SEGHDR_SIZE) != 0)
		fz_die("a verified segment header does not re-encode to itself");
}

/* §5.1: open one parsed record. The plaintext buffer is exactly the ciphertext size
 * so ASan sees any overrun; on failure it must come back wiped. */
static void record_open(const struct vf_rec *rec)
{
	size_t ctlen = rec->len - VF_REC_OVERHEAD;
	uint8_t *pt = malloc(ctlen);
	int rc;

	if (pt == NULL)
		fz_die("out of memory");
	memset(pt, 0xa5, ctlen);
	rc = vf_rec_open(g_aead, fz_volume_id, 1, rec, pt, NULL);
	if (rc == 0 && (rec->kind == VF_KIND_META || rec->kind == VF_KIND_CKPT_META)) {
		meta_check(pt, ctlen);
		ckpt_end_check(pt, ctlen);
	} else if (rc != 0) {
		for (size_t i = 0; i < ctlen; i++)
			if (pt[i] != 0)
				fz_die("vf_rec_open released unverified plaintext");
	}
	free(pt);
}

/* §5: walk records back to back, as replay does. */
static void records_walk(const uint8_t *p, size_t left)
{
	uint8_t chain[SHELTER_SHA256_SIZE] = { 0 };

	while (left > 0) {
		struct vf_rec rec;
		int rc = vf_rec_parse(p, left, &rec);

		if (rc != 0) {
			if (rc != SHELTER_E_TRUNCATED && rc != SHELTER_E_INTEGRITY)
				fz_die("vf_rec_parse returned an unexpected code");
			return;
		}
		if (rec.len < VF_REC_OVERHEAD || rec.len > left || rec.len > VF_REC_MAX ||
		    rec.hdr != p || rec.ct != p + VF_REC_HDR ||
		    rec.tag != p + rec.len - SHELTER_GCM_TAG_SIZE)
			fz_die("vf_rec_parse accepted a record outside its buffer");
		record_open(&rec);
		if (vf_chain_next(chain, &rec, NULL) < 0)
			fz_die("vf_chain_next failed");
		p += rec.len;
		left -= rec.len;
	}
}

/* ---- seed generator (SHELTER_FUZZ_SEEDS=DIR) ---- */

static void put_seed(const char *dir, const char *name, const uint8_t *buf, size_t size)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, size) != (ssize_t)size || close(fd) < 0) {
		fprintf(stderr, "write %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

struct stream {
	uint8_t buf[64 * 1024];
	size_t len;
	uint64_t seq;
};

static void seal_raw(struct stream *s, uint8_t kind, uint8_t flags, uint64_t ino,
		     uint64_t chunk, const uint8_t *pt, size_t n)
{
	uint8_t nonce[SHELTER_GCM_NONCE_SIZE];

	if (s->len + n + VF_REC_OVERHEAD > sizeof(s->buf) ||
	    shelter_random_bytes(nonce, sizeof(nonce), NULL) < 0 ||
	    vf_rec_seal(g_aead, fz_volume_id, 1, kind, flags, s->seq++, ino, chunk, nonce, pt, n,
			s->buf + s->len, NULL) < 0)
		fz_die("generator: seal");
	s->len += n + VF_REC_OVERHEAD;
}

/* Seal m as a record of kind (META or CKPT_META); save its plaintext as seed name. */
static void seal_meta(struct stream *s, uint8_t kind, const struct vf_meta *m, int last,
		      const char *dir, const char *name)
{
	uint8_t pt[VF_META_MAX];
	size_t n = vf_meta_encode(m, pt, sizeof(pt));

	if (n == 0)
		fz_die("generator: encode");
	if (name != NULL)
		put_seed(dir, name, pt, n);
	seal_raw(s, kind, last ? VF_FLAG_END : 0, 0, 0, pt, n);
}

static void seal_data(struct stream *s, uint8_t kind, uint64_t ino, uint64_t chunk, int last)
{
	uint8_t pt[VF_CHUNK];

	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 31 + chunk);
	seal_raw(s, kind, last ? VF_FLAG_END : 0, ino, chunk, pt, sizeof(pt));
}

static void put_segment(const char *dir, const char *name, const struct vf_seghdr *h,
			const struct stream *s)
{
	static uint8_t seg[VF_SEGHDR_SIZE + sizeof(s->buf)];

	vf_seghdr_encode(h, &g_keys, seg);
	memcpy(seg + VF_SEGHDR_SIZE, s->buf, s->len);
	put_seed(dir, name, seg, VF_SEGHDR_SIZE + s->len);
}

/* §10: a checkpoint of the state the log stream below leaves (before its unlink). */
static void generate_checkpoint(const char *dir, const char *target)
{
	static struct stream s = { .seq = 1 };
	static struct vf_ckpt_end e;
	static uint8_t end_pt[VF_CKPT_END_PT];
	uint8_t chunks[16];
	struct vf_seghdr ck = g_seghdr;
	struct vf_meta m;

	seal_data(&s, VF_KIND_CKPT_DATA, 3, 0, 0);                           /* index 1 */
	seal_data(&s, VF_KIND_CKPT_DATA, 3, 1, 0);                           /* index 2 */
	m = (struct vf_meta){ .op = VF_OP_NODE, .ino = 1, .type = 2, .mode = 0755,
			      .time_ns = FZ_CREATED_NS, .time2_ns = FZ_CREATED_NS };
	seal_meta(&s, VF_KIND_CKPT_META, &m, 0, dir, "meta-node-root");
	m = (struct vf_meta){ .op = VF_OP_NODE, .ino = 2, .parent = 1, .type = 2, .mode = 0755,
			      .time_ns = 1, .time2_ns = 2, .name = "dir", .name_len = 3 };
	seal_meta(&s, VF_KIND_CKPT_META, &m, 0, dir, NULL);
	m = (struct vf_meta){ .op = VF_OP_NODE, .ino = 3, .parent = 2, .type = 1, .mode = 0644,
			      .size = 5000, .time_ns = 3, .time2_ns = 4, .name = "file",
			      .name_len = 4 };
	seal_meta(&s, VF_KIND_CKPT_META, &m, 0, dir, "meta-node-file");
	m = (struct vf_meta){ .op = VF_OP_NODE, .ino = 7, .parent = 1, .type = 3, .mode = 0777,
			      .time_ns = -5, .time2_ns = -6, .name = "link", .name_len = 4,
			      .target = target, .target_len = (uint16_t)strlen(target) };
	seal_meta(&s, VF_KIND_CKPT_META, &m, 0, dir, "meta-node-symlink");
	shelter_store_be(chunks, 0, 8);
	shelter_store_be(chunks + 8, 1, 8);
	m = (struct vf_meta){ .op = VF_OP_INDEX, .ino = 3, .first_index = 1, .count = 2,
			      .chunks = chunks };
	seal_meta(&s, VF_KIND_CKPT_META, &m, 0, dir, "meta-index");
	e.data_count = 2;
	e.meta_count = 5;
	e.next_seq = 9;
	memset(e.chain_before, 0xc7, sizeof(e.chain_before));
	e.recent_count = 3;
	for (uint32_t i = 0; i < e.recent_count; i++)
		memset(e.recent[i], (int)(0x10 + i), SHELTER_SHA256_SIZE);
	vf_ckpt_end_encode(&e, end_pt);
	put_seed(dir, "ckpt-end", end_pt, sizeof(end_pt));
	seal_raw(&s, VF_KIND_CKPT_META, VF_FLAG_END, 0, 0, end_pt, sizeof(end_pt));
	put_seed(dir, "ckpt-records", s.buf, s.len);
	ck.flags = VF_SEG_CHECKPOINT;
	put_segment(dir, "ckpt-segment", &ck, &s);
}

static void generate(const char *dir)
{
	static struct stream s = { .seq = 1 };
	char long_name[256], target[2001];
	uint8_t hdr[VF_HDR_SIZE], sh[VF_SEGHDR_SIZE], bad[VF_REC_HDR + 16];
	struct vf_meta m;

	memset(long_name, 'n', 255);
	long_name[255] = '\0';
	memset(target, 't', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';

	vf_header_encode(&g_hdr, &g_keys, hdr);
	put_seed(dir, "header-v1", hdr, sizeof(hdr));
	put_seed(dir, "header-short", hdr, 60);
	vf_seghdr_encode(&g_seghdr, &g_keys, sh);
	put_seed(dir, "seghdr", sh, sizeof(sh));

	/* one record stream covering every operation; ino of a CREATE is its seq + 1 */
	m = (struct vf_meta){ .op = VF_OP_CREATE, .type = 2, .mode = 0755, .parent = 1,
			      .time_ns = FZ_CREATED_NS, .name = "dir", .name_len = 3 };
	seal_meta(&s, VF_KIND_META, &m, 1, dir, "meta-create-dir");          /* seq 1 */
	m = (struct vf_meta){ .op = VF_OP_CREATE, .type = 1, .mode = 0644, .parent = 2,
			      .time_ns = FZ_CREATED_NS, .name = "file", .name_len = 4 };
	seal_meta(&s, VF_KIND_META, &m, 1, dir, "meta-create-reg");          /* seq 2 */
	m = (struct vf_meta){ .op = VF_OP_SETATTR, .ino = 3, .size = 5000, .mode = 0644,
			      .time_ns = FZ_CREATED_NS };
	seal_meta(&s, VF_KIND_META, &m, 0, dir, "meta-setattr");             /* seq 3 */
	seal_data(&s, VF_KIND_DATA, 3, 0, 0);
	seal_data(&s, VF_KIND_DATA, 3, 1, 1);
	m = (struct vf_meta){ .op = VF_OP_CREATE, .type = 3, .mode = 0777, .parent = 1,
			      .time_ns = FZ_CREATED_NS, .name = "link", .name_len = 4,
			      .target = "dir/file", .target_len = 8 };
	seal_meta(&s, VF_KIND_META, &m, 1, dir, "meta-create-symlink");      /* seq 6 */
	m = (struct vf_meta){ .op = VF_OP_RENAME, .parent = 2, .name = "file", .name_len = 4,
			      .parent2 = 1, .name2 = long_name, .name2_len = 255 };
	seal_meta(&s, VF_KIND_META, &m, 1, dir, "meta-rename-longname");
	m = (struct vf_meta){ .op = VF_OP_UNLINK, .parent = 1, .name = "link", .name_len = 4 };
	seal_meta(&s, VF_KIND_META, &m, 1, dir, "meta-unlink");
	m = (struct vf_meta){ .op = VF_OP_SEAL, .next_segno = 2 };
	seal_meta(&s, VF_KIND_META, &m, 1, dir, "meta-seal");
	put_seed(dir, "records", s.buf, s.len);
	put_segment(dir, "segment", &g_seghdr, &s);

	generate_checkpoint(dir, target);

	/* edge cases */
	m = (struct vf_meta){ .op = VF_OP_CREATE, .type = 3, .mode = 0777, .parent = 1,
			      .time_ns = -1, .name = "l", .name_len = 1, .target = target,
			      .target_len = (uint16_t)strlen(target) };
	s.len = 0;
	seal_meta(&s, VF_KIND_META, &m, 1, dir, "meta-symlink-long-target");
	put_seed(dir, "record-symlink-long-target", s.buf, s.len);
	memset(bad, 0, sizeof(bad));
	shelter_store_be(bad, 0xffffffffu, 4); /* length beyond everything */
	bad[4] = VF_KIND_META;
	bad[15] = 1;
	put_seed(dir, "record-huge-len", bad, sizeof(bad));
	shelter_store_be(bad, VF_REC_OVERHEAD - 1, 4); /* length below the overhead */
	put_seed(dir, "record-tiny-len", bad, sizeof(bad));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("SHELTER_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	setup();
	if (dir != NULL) {
		generate(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t seg_magic[8] = { 'S', 'H', 'E', 'L', 'T', 'S', 'E', 'G' };

	header_check(data, size);
	seghdr_check(data, size);
	records_walk(data, size);
	if (size >= VF_SEGHDR_SIZE && memcmp(data, seg_magic, sizeof(seg_magic)) == 0)
		records_walk(data + VF_SEGHDR_SIZE, size - VF_SEGHDR_SIZE);
	meta_check(data, size);
	ckpt_end_check(data, size);
	return 0;
}
