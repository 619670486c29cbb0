/* libshelter crypto layer over OpenSSL 3: the contract is include/shelter/crypto.h.
 *
 * Every primitive is OpenSSL's; this file only checks arguments, feeds OpenSSL's
 * int-sized APIs, translates failures into shelter codes once (SHELTER_E_CRYPTO with
 * the operation and OpenSSL's reason, SHELTER_E_INTEGRITY for a bad tag or
 * signature) and wipes what it writes on every failure path.
 */
#include <limits.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "shelter/crypto.h"
#include "crypto/signer.h"

/* EVP update calls take an int length: larger buffers go in pieces of this size. */
#define CHUNK_SIZE ((size_t)1 << 30)

/* A valid pointer for empty inputs: OpenSSL reads a NULL key or message as
 * "not given" rather than "zero bytes long" in places (HMAC, HKDF). */
static const uint8_t empty_input[1];

struct shelter_aead {
	EVP_CIPHER_CTX *ctx; /* AES-256-GCM, keyed once in shelter_aead_new */
};

static int bad_buf(const void *ptr, size_t size)
{
	return ptr == NULL && size != 0;
}

static const void *nonnull(const void *ptr)
{
	return ptr != NULL ? ptr : empty_input;
}

static int inval(struct shelter_err *err, const char *op, const char *what)
{
	return shelter_err_set(err, SHELTER_E_INVAL, "%s: %s", op, what);
}

/* Translate the oldest queued OpenSSL error (the root cause) and drain the queue,
 * so a later caller never sees a stale error. */
static int ossl_fail(struct shelter_err *err, const char *op)
{
	unsigned long e = ERR_get_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	if (reason != NULL)
		return shelter_err_set(err, SHELTER_E_CRYPTO, "%s: OpenSSL: %s", op, reason);
	return shelter_err_set(err, SHELTER_E_CRYPTO, "%s: OpenSSL error %#lx", op, e);
}

static int auth_fail(struct shelter_err *err, const char *op)
{
	ERR_clear_error();
	return shelter_err_set(err, SHELTER_E_INTEGRITY, "%s: authentication failed", op);
}

int shelter_random_bytes(void *buf, size_t size, struct shelter_err *err)
{
	uint8_t *p = buf;

	if (bad_buf(buf, size))
		return inval(err, "random bytes", "NULL buffer");
	while (size > 0) {
		size_t n = size < CHUNK_SIZE ? size : CHUNK_SIZE;

		if (RAND_bytes(p, (int)n) != 1)
			return ossl_fail(err, "random bytes");
		p += n;
		size -= n;
	}
	return 0;
}

int shelter_ct_equal(const void *a, const void *b, size_t size)
{
	return CRYPTO_memcmp(a, b, size) == 0;
}

void shelter_wipe(void *ptr, size_t size)
{
	if (ptr != NULL)
		OPENSSL_cleanse(ptr, size);
}

/* Bytes actually mapped for a secret of size bytes: whole pages, 0 on overflow. */
static size_t secret_map_size(size_t size)
{
	long page = sysconf(_SC_PAGESIZE);

	if (size == 0 || page <= 0 || size > SIZE_MAX - (size_t)page)
		return 0;
	return (size + (size_t)page - 1) / (size_t)page * (size_t)page;
}

void *shelter_secret_alloc(size_t size)
{
	size_t len = secret_map_size(size);
	void *p;

	if (len == 0)
		return NULL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* STYLE.md rule 13: keys never reach a core dump. Fail closed if the kernel
	 * cannot promise that. */
	if (madvise(p, len, MADV_DONTDUMP) != 0) {
		munmap(p, len);
		return NULL;
	}
	/* Best effort: RLIMIT_MEMLOCK is often 64 KiB for unprivileged users, and an
	 * unlocked key is still better than no key. */
	(void)mlock(p, len);
	return p;
}

void shelter_secret_free(void *ptr, size_t size)
{
	size_t len = secret_map_size(size);

	if (ptr == NULL || len == 0)
		return;
	OPENSSL_cleanse(ptr, len);
	(void)munlock(ptr, len);
	(void)munmap(ptr, len);
}

int shelter_sha256(const void *data, size_t size, uint8_t out[SHELTER_SHA256_SIZE],
		   struct shelter_err *err)
{
	struct shelter_iov part = { .base = data, .size = size };

	if (out == NULL || bad_buf(data, size))
		return inval(err, "SHA-256", "NULL argument");
	return shelter_sha256_v(&part, 1, out, err); /* its digest is fetched once */
}

static int check_iov(const struct shelter_iov *parts, size_t count)
{
	if (bad_buf(parts, count))
		return 0;
	for (size_t i = 0; i < count; i++) {
		if (bad_buf(parts[i].base, parts[i].size))
			return 0;
	}
	return 1;
}

/* Fetched once: an implicit fetch by name on every call costs as much as hashing
 * a record header (the volume chain hashes one per record). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int shelter_sha256_v(const struct shelter_iov *parts, size_t count,
		     uint8_t out[SHELTER_SHA256_SIZE], struct shelter_err *err)
{
	EVP_MD_CTX *md = NULL;
	int rc = 0;

	if (out == NULL || !check_iov(parts, count))
		return inval(err, "SHA-256", "NULL argument");
	pthread_once(&sha256_once, sha256_fetch);
	md = EVP_MD_CTX_new();
	if (md == NULL || sha256_md == NULL || EVP_DigestInit_ex(md, sha256_md, NULL) != 1) {
		rc = ossl_fail(err, "SHA-256");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		if (EVP_DigestUpdate(md, nonnull(parts[i].base), parts[i].size) != 1) {
			rc = ossl_fail(err, "SHA-256");
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(md, out, NULL) != 1)
		rc = ossl_fail(err, "SHA-256");
out:
	EVP_MD_CTX_free(md);
	return rc;
}

int shelter_hmac_sha256(const uint8_t *key, size_t key_size, const void *data, size_t size,
			uint8_t out[SHELTER_SHA256_SIZE], struct shelter_err *err)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	size_t out_size = 0;
	int rc = 0;

	if (out == NULL || bad_buf(key, key_size) || bad_buf(data, size))
		return inval(err, "HMAC-SHA256", "NULL argument");
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	if (ctx == NULL || EVP_MAC_init(ctx, nonnull(key), key_size, params) != 1 ||
	    EVP_MAC_update(ctx, nonnull(data), size) != 1 ||
	    EVP_MAC_final(ctx, out, &out_size, SHELTER_SHA256_SIZE) != 1 ||
	    out_size != SHELTER_SHA256_SIZE) {
		OPENSSL_cleanse(out, SHELTER_SHA256_SIZE);
		rc = ossl_fail(err, "HMAC-SHA256");
	}
	EVP_MAC_CTX_free(ctx); /* frees the keyed HMAC state with OPENSSL_clear_free */
	EVP_MAC_free(mac);
	return rc;
}

int shelter_hkdf_sha256(const uint8_t *ikm, size_t ikm_size, const uint8_t *salt,
			size_t salt_size, const uint8_t *info, size_t info_size, uint8_t *out,
			size_t out_size, struct shelter_err *err)
{
	/* RFC 5869 §2.2: "if not provided, [salt] is set to a string of HashLen
	 * zeros". Passing that explicitly gives the same PRK as an empty HMAC key
	 * and does not depend on how an OpenSSL version reads an absent salt. */
	static const uint8_t zero_salt[SHELTER_SHA256_SIZE];
	OSSL_PARAM params[5], *p = params;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *ctx = NULL;
	int rc = 0;

	if (out == NULL || bad_buf(ikm, ikm_size) || bad_buf(salt, salt_size) ||
	    bad_buf(info, info_size))
		return inval(err, "HKDF-SHA256", "NULL argument");
	if (out_size == 0 || out_size > 255 * SHELTER_SHA256_SIZE) /* RFC 5869 §2.3 */
		return inval(err, "HKDF-SHA256", "output size must be 1..8160 bytes");
	if (salt_size == 0) {
		salt = zero_salt;
		salt_size = sizeof(zero_salt);
	}
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)nonnull(ikm),
						 ikm_size);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_size);
	if (info_size > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
							 info_size);
	*p = OSSL_PARAM_construct_end();
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	if (ctx == NULL || EVP_KDF_derive(ctx, out, out_size, params) != 1) {
		OPENSSL_cleanse(out, out_size);
		rc = ossl_fail(err, "HKDF-SHA256");
	}
	EVP_KDF_CTX_free(ctx); /* clears its copies of ikm, salt and info */
	EVP_KDF_free(kdf);
	return rc;
}

/* Feed size bytes through EVP_CipherUpdate in int-sized pieces; out == NULL feeds
 * associated data. Returns 1 on success, 0 on an OpenSSL failure. */
static int cipher_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t size)
{
	while (size > 0) {
		size_t n = size < CHUNK_SIZE ? size : CHUNK_SIZE;
		int done = 0;

		if (EVP_CipherUpdate(ctx, out, &done, in, (int)n) != 1 || done != (int)n)
			return 0;
		in += n;
		if (out != NULL)
			out += n;
		size -= n;
	}
	return 1;
}

int shelter_aead_new(const uint8_t key[SHELTER_KEY_SIZE], struct shelter_aead **out,
		     struct shelter_err *err)
{
	struct shelter_aead *aead = NULL;
	EVP_CIPHER *cipher = NULL;
	int rc = 0;

	if (out == NULL)
		return inval(err, "AES-256-GCM key setup", "NULL argument");
	*out = NULL;
	if (key == NULL)
		return inval(err, "AES-256-GCM key setup", "NULL argument");
	aead = calloc(1, sizeof(*aead));
	if (aead == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "AES-256-GCM key setup: out of memory");
	/* The context keeps its own reference to the cipher, so ours goes at out. */
	cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	aead->ctx = EVP_CIPHER_CTX_new();
	if (cipher == NULL || aead->ctx == NULL ||
	    EVP_EncryptInit_ex(aead->ctx, cipher, NULL, key, NULL) != 1 ||
	    EVP_CIPHER_CTX_get_iv_length(aead->ctx) != SHELTER_GCM_NONCE_SIZE) {
		rc = ossl_fail(err, "AES-256-GCM key setup");
		goto out;
	}
	*out = aead;
	aead = NULL;
out:
	EVP_CIPHER_free(cipher);
	shelter_aead_free(aead);
	return rc;
}

void shelter_aead_free(struct shelter_aead *aead)
{
	if (aead == NULL)
		return;
	EVP_CIPHER_CTX_free(aead->ctx); /* the provider clears the key schedule */
	free(aead);
}

static int aead_args_ok(const struct shelter_aead *aead, const uint8_t *nonce,
			const uint8_t *tag, const void *aad, size_t aad_size, const void *in,
			const void *out, size_t size)
{
	return aead != NULL && nonce != NULL && tag != NULL && !bad_buf(aad, aad_size) &&
	       !bad_buf(in, size) && !bad_buf(out, size);
}

/* Hot path of the volume format: the key schedule stays in aead->ctx and each call
 * only installs a new IV, so no allocation happens here. */
int shelter_aead_seal(struct shelter_aead *aead, const uint8_t nonce[SHELTER_GCM_NONCE_SIZE],
		      const void *aad, size_t aad_size, const void *pt, size_t size, void *ct,
		      uint8_t tag[SHELTER_GCM_TAG_SIZE], struct shelter_err *err)
{
	uint8_t last[16]; /* GCM's final writes nothing, but takes a buffer */
	int last_size = 0;

	if (!aead_args_ok(aead, nonce, tag, aad, aad_size, pt, ct, size))
		return inval(err, "AES-256-GCM seal", "NULL argument");
	if (EVP_EncryptInit_ex(aead->ctx, NULL, NULL, NULL, nonce) != 1 ||
	    !cipher_update(aead->ctx, NULL, aad, aad_size) ||
	    !cipher_update(aead->ctx, ct, pt, size) ||
	    EVP_EncryptFinal_ex(aead->ctx, last, &last_size) != 1 ||
	    EVP_CIPHER_CTX_ctrl(aead->ctx, EVP_CTRL_AEAD_GET_TAG, SHELTER_GCM_TAG_SIZE, tag) != 1) {
		OPENSSL_cleanse(tag, SHELTER_GCM_TAG_SIZE);
		return ossl_fail(err, "AES-256-GCM seal");
	}
	return 0;
}

int shelter_aead_open(struct shelter_aead *aead, const uint8_t nonce[SHELTER_GCM_NONCE_SIZE],
		      const void *aad, size_t aad_size, const void *ct, size_t size,
		      const uint8_t tag[SHELTER_GCM_TAG_SIZE], void *pt, struct shelter_err *err)
{
	uint8_t last[16];
	int last_size = 0;
	int rc = 0;

	if (!aead_args_ok(aead, nonce, tag, aad, aad_size, ct, pt, size)) {
		rc = inval(err, "AES-256-GCM open", "NULL argument");
		goto out;
	}
	if (EVP_DecryptInit_ex(aead->ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_CIPHER_CTX_ctrl(aead->ctx, EVP_CTRL_AEAD_SET_TAG, SHELTER_GCM_TAG_SIZE,
				(void *)tag) != 1 ||
	    !cipher_update(aead->ctx, NULL, aad, aad_size) ||
	    !cipher_update(aead->ctx, pt, ct, size)) {
		rc = ossl_fail(err, "AES-256-GCM open");
		goto out;
	}
	/* GCM checks the tag in Final and nothing else can fail there. */
	if (EVP_DecryptFinal_ex(aead->ctx, last, &last_size) != 1)
		rc = auth_fail(err, "AES-256-GCM open");
out:
	/* pt already holds unverified plaintext: it never leaves on failure. */
	if (rc != 0)
		shelter_wipe(pt, size);
	return rc;
}

static const char *siv_cipher_name(size_t key_size)
{
	switch (key_size) {
	case 32:
		return "AES-128-SIV";
	case 64:
		return "AES-256-SIV";
	default:
		return NULL;
	}
}

static int siv_args(const char *op, const uint8_t *key, size_t key_size, const void *aad,
		    size_t aad_size, const void *in, const void *out, size_t size,
		    const uint8_t *tag, struct shelter_err *err)
{
	if (key == NULL || tag == NULL || in == NULL || out == NULL || bad_buf(aad, aad_size))
		return inval(err, op, "NULL argument");
	if (siv_cipher_name(key_size) == NULL)
		return inval(err, op, "key must be 32 or 64 bytes");
	/* OpenSSL 3.0's SIV fails Final on an empty message, and takes the whole
	 * message in one int-sized update (S2V needs it all before CTR starts). */
	if (size == 0 || size > INT_MAX)
		return inval(err, op, "message must be 1..INT_MAX bytes");
	return 0;
}

/* Key a SIV context and feed the AD as exactly one S2V component: an AAD update of
 * length 0 still counts, so an empty AD differs from none (RFC 5297 §2.4, §3). For
 * decryption the expected tag is installed first. */
static int siv_start(EVP_CIPHER_CTX **out, const char *op, const uint8_t *key,
		     size_t key_size, int enc, const uint8_t *tag, const void *aad,
		     size_t aad_size, struct shelter_err *err)
{
	EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, siv_cipher_name(key_size), NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int done = 0;
	int rc = 0;

	if (cipher == NULL || ctx == NULL ||
	    EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, enc) != 1 ||
	    (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SHELTER_SIV_TAG_SIZE,
					 (void *)tag) != 1) ||
	    EVP_CipherUpdate(ctx, NULL, &done, nonnull(aad), (int)aad_size) != 1) {
		rc = ossl_fail(err, op);
		goto out;
	}
	*out = ctx;
	ctx = NULL;
out:
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(cipher);
	return rc;
}

int shelter_siv_seal(const uint8_t *key, size_t key_size, const void *aad, size_t aad_size,
		     const void *pt, size_t size, void *ct, uint8_t tag[SHELTER_SIV_TAG_SIZE],
		     struct shelter_err *err)
{
	const char *op = "AES-SIV seal";
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t last[16];
	int done = 0;
	int rc;

	rc = siv_args(op, key, key_size, aad, aad_size, pt, ct, size, tag, err);
	if (rc == 0 && aad_size > INT_MAX)
		rc = inval(err, op, "associated data over INT_MAX bytes");
	if (rc == 0)
		rc = siv_start(&ctx, op, key, key_size, 1, NULL, aad, aad_size, err);
	if (rc != 0)
		goto out;
	if (EVP_EncryptUpdate(ctx, ct, &done, pt, (int)size) != 1 ||
	    EVP_EncryptFinal_ex(ctx, last, &done) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SHELTER_SIV_TAG_SIZE, tag) != 1)
		rc = ossl_fail(err, op);
out:
	if (rc != 0 && tag != NULL)
		OPENSSL_cleanse(tag, SHELTER_SIV_TAG_SIZE);
	EVP_CIPHER_CTX_free(ctx); /* clears both subkeys */
	return rc;
}

int shelter_siv_open(const uint8_t *key, size_t key_size, const void *aad, size_t aad_size,
		     const void *ct, size_t size, const uint8_t tag[SHELTER_SIV_TAG_SIZE],
		     void *pt, struct shelter_err *err)
{
	const char *op = "AES-SIV open";
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t last[16];
	int done = 0;
	int rc;

	rc = siv_args(op, key, key_size, aad, aad_size, ct, pt, size, tag, err);
	if (rc == 0 && aad_size > INT_MAX)
		rc = inval(err, op, "associated data over INT_MAX bytes");
	if (rc == 0)
		rc = siv_start(&ctx, op, key, key_size, 0, tag, aad, aad_size, err);
	if (rc != 0)
		goto out;
	/* SIV decrypts, recomputes S2V over the result and compares it with the tag
	 * inside the update (OpenSSL clears pt on a mismatch); the context is keyed
	 * and allocated already, so a failure here is the tag. */
	if (EVP_DecryptUpdate(ctx, pt, &done, ct, (int)size) != 1 ||
	    EVP_DecryptFinal_ex(ctx, last, &done) != 1)
		rc = auth_fail(err, op);
out:
	if (rc != 0)
		shelter_wipe(pt, size);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

static EVP_PKEY *ed25519_private_key(const uint8_t priv[SHELTER_ED25519_PRIV_SIZE])
{
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv,
					    SHELTER_ED25519_PRIV_SIZE);
}

int shelter_ed25519_keygen(uint8_t pub[SHELTER_ED25519_PUB_SIZE],
			   uint8_t priv[SHELTER_ED25519_PRIV_SIZE], struct shelter_err *err)
{
	int rc;

	if (pub == NULL || priv == NULL)
		return inval(err, "Ed25519 keygen", "NULL argument");
	/* RFC 8032 §5.1.5: the private key is 32 random bytes. */
	rc = shelter_random_bytes(priv, SHELTER_ED25519_PRIV_SIZE, err);
	if (rc == 0)
		rc = shelter_ed25519_public(priv, pub, err);
	if (rc != 0) {
		OPENSSL_cleanse(priv, SHELTER_ED25519_PRIV_SIZE);
		OPENSSL_cleanse(pub, SHELTER_ED25519_PUB_SIZE);
	}
	return rc;
}

int shelter_ed25519_public(const uint8_t priv[SHELTER_ED25519_PRIV_SIZE],
			   uint8_t pub[SHELTER_ED25519_PUB_SIZE], struct shelter_err *err)
{
	EVP_PKEY *pkey = NULL;
	size_t pub_size = SHELTER_ED25519_PUB_SIZE;
	int rc = 0;

	if (priv == NULL || pub == NULL)
		return inval(err, "Ed25519 public key", "NULL argument");
	pkey = ed25519_private_key(priv);
	if (pkey == NULL || EVP_PKEY_get_raw_public_key(pkey, pub, &pub_size) != 1 ||
	    pub_size != SHELTER_ED25519_PUB_SIZE) {
		OPENSSL_cleanse(pub, SHELTER_ED25519_PUB_SIZE);
		rc = ossl_fail(err, "Ed25519 public key");
	}
	EVP_PKEY_free(pkey); /* ECX keys keep the private half in secure, cleared memory */
	return rc;
}

int shelter_ed25519_sign(const uint8_t priv[SHELTER_ED25519_PRIV_SIZE], const void *msg,
			 size_t size, uint8_t sig[SHELTER_ED25519_SIG_SIZE],
			 struct shelter_err *err)
{
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	size_t sig_size = SHELTER_ED25519_SIG_SIZE;
	int rc = 0;

	if (priv == NULL || sig == NULL || bad_buf(msg, size))
		return inval(err, "Ed25519 sign", "NULL argument");
	pkey = ed25519_private_key(priv);
	md = EVP_MD_CTX_new();
	/* Pure Ed25519 takes no digest name and signs the message in one call. */
	if (pkey == NULL || md == NULL || EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(md, sig, &sig_size, nonnull(msg), size) != 1 ||
	    sig_size != SHELTER_ED25519_SIG_SIZE) {
		OPENSSL_cleanse(sig, SHELTER_ED25519_SIG_SIZE);
		rc = ossl_fail(err, "Ed25519 sign");
	}
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return rc;
}

struct shelter_signer {
	EVP_PKEY *pkey; /* ECX keys keep the private half in secure, cleared memory */
	uint8_t pub[SHELTER_ED25519_PUB_SIZE];
};

int shelter_signer_new(const uint8_t priv[SHELTER_ED25519_PRIV_SIZE], struct shelter_signer **out,
		       struct shelter_err *err)
{
	struct shelter_signer *s;
	size_t pub_size = SHELTER_ED25519_PUB_SIZE;

	*out = NULL;
	if (priv == NULL)
		return inval(err, "Ed25519 signer", "NULL argument");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "Ed25519 signer: out of memory");
	s->pkey = ed25519_private_key(priv);
	if (s->pkey == NULL || EVP_PKEY_get_raw_public_key(s->pkey, s->pub, &pub_size) != 1 ||
	    pub_size != SHELTER_ED25519_PUB_SIZE) {
		shelter_signer_free(s);
		return ossl_fail(err, "Ed25519 signer");
	}
	*out = s;
	return 0;
}

void shelter_signer_free(struct shelter_signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->pkey);
	free(s);
}

void shelter_signer_public(const struct shelter_signer *s, uint8_t pub[SHELTER_ED25519_PUB_SIZE])
{
	memcpy(pub, s->pub, SHELTER_ED25519_PUB_SIZE);
}

int shelter_signer_sign(struct shelter_signer *s, const void *msg, size_t size,
			uint8_t sig[SHELTER_ED25519_SIG_SIZE], struct shelter_err *err)
{
	EVP_MD_CTX *md;
	size_t sig_size = SHELTER_ED25519_SIG_SIZE;
	int rc = 0;

	if (s == NULL || sig == NULL || bad_buf(msg, size))
		return inval(err, "Ed25519 sign", "NULL argument");
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestSignInit(md, NULL, NULL, NULL, s->pkey) != 1 ||
	    EVP_DigestSign(md, sig, &sig_size, nonnull(msg), size) != 1 ||
	    sig_size != SHELTER_ED25519_SIG_SIZE) {
		OPENSSL_cleanse(sig, SHELTER_ED25519_SIG_SIZE);
		rc = ossl_fail(err, "Ed25519 sign");
	}
	EVP_MD_CTX_free(md);
	return rc;
}

int shelter_ed25519_verify(const uint8_t pub[SHELTER_ED25519_PUB_SIZE], const void *msg,
			   size_t size, const uint8_t sig[SHELTER_ED25519_SIG_SIZE],
			   struct shelter_err *err)
{
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	int ok;
	int rc = 0;

	if (pub == NULL || sig == NULL || bad_buf(msg, size))
		return inval(err, "Ed25519 verify", "NULL argument");
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
					   SHELTER_ED25519_PUB_SIZE);
	md = EVP_MD_CTX_new();
	if (pkey == NULL || md == NULL || EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) != 1) {
		rc = ossl_fail(err, "Ed25519 verify");
		goto out;
	}
	/* 1 valid, 0 invalid (including a public key that is not a curve point),
	 * anything else an OpenSSL failure. */
	ok = EVP_DigestVerify(md, sig, SHELTER_ED25519_SIG_SIZE, nonnull(msg), size);
	if (ok == 0)
		rc = auth_fail(err, "Ed25519 verify");
	else if (ok != 1)
		rc = ossl_fail(err, "Ed25519 verify");
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return rc;
}

/* Hex digits without table lookups or branches on the data (libsodium's
 * sodium_bin2hex/sodium_hex2bin approach): hex strings often carry keys. */
static char hex_digit(unsigned int v)
{
	/* v < 10: 87 + v + 0xd9 wraps to '0' + v; v >= 10: 87 + v = 'a' + v - 10 */
	return (char)(unsigned char)(87U + v + (((v - 10U) >> 8) & ~38U));
}

void shelter_hex(const void *data, size_t size, char *out)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < size; i++) {
		out[2 * i] = hex_digit(p[i] >> 4);
		out[2 * i + 1] = hex_digit(p[i] & 0xfU);
	}
	out[2 * size] = '\0';
}

/* Value of one hex digit; *bad gets a nonzero bit when c is not a hex digit. */
static unsigned int hex_value(unsigned char c, unsigned int *bad)
{
	unsigned int num = c ^ 48U; /* '0'..'9' -> 0..9 */
	unsigned int num_ok = (num - 10U) >> 8; /* all ones below 10 */
	unsigned int alpha = (c & ~32U) - 55U; /* 'a'..'f', 'A'..'F' -> 10..15 */
	unsigned int alpha_ok = ((alpha - 10U) ^ (alpha - 16U)) >> 8;

	*bad |= ~(num_ok | alpha_ok) & 1U;
	return ((num_ok & num) | (alpha_ok & alpha)) & 0xfU;
}

int shelter_unhex(const char *hex, void *out, size_t size)
{
	uint8_t *p = out;
	unsigned int bad = 0;

	if (hex == NULL || bad_buf(out, size) || size > SIZE_MAX / 2 ||
	    strnlen(hex, 2 * size + 1) != 2 * size)
		return SHELTER_E_INVAL;
	for (size_t i = 0; i < size; i++) {
		unsigned int hi = hex_value((unsigned char)hex[2 * i], &bad);
		unsigned int lo = hex_value((unsigned char)hex[2 * i + 1], &bad);

		p[i] = (uint8_t)(hi << 4 | lo);
	}
	if (bad != 0) {
		shelter_wipe(out, size);
		return SHELTER_E_INVAL;
	}
	return 0;
}
