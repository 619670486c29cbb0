/* The OpenSSL library context of Shelter's own TLS peers (net/tls.h tls_libctx).
 *
 * Why: OpenSSL 3.0 decodes the public key of every certificate it parses (the peer's
 * in every handshake, the RA-TLS certificate on both sides) through its decoder
 * framework, and each decode first builds a decoder context by enumerating every key
 * manager and every decoder of every provider in the library context: with the
 * default provider's 18 key managers and 40 decoders that set-up costs far more than
 * the decoding, about a third of an attester's instructions (bench/README.md,
 * bench/cas; openssl/openssl#17950, cached from 3.1 on). Shelter's TLS peers use
 * P-256, Ed25519 and X25519 keys (RSA stays possible for a server key), so their
 * connections run in a library context whose one provider is OpenSSL's default
 * provider seen through a filter that offers, per operation, only what TLS 1.3 with
 * those keys uses (the lists below). Every algorithm is still the default provider's
 * own code, called with its own provider context; only the lists the decoder set-up
 * walks are shorter.
 *
 * Made once per process, on first use, and never freed (like OpenSSL's own default
 * context). If it cannot be made, tls_libctx returns NULL and callers use the
 * default context: slower, same checks. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "net/tls.h"

#define FILTER_NAME "shelter-tls"
#define KEPT_MAX 128 /* per operation; the default provider of 3.0 has 115 encoders */

/* What TLS 1.3 with these keys uses, per operation (algorithm names as the default
 * provider registers them; any one alias matches). The decoder set-up also walks
 * every method fetched so far in the context, of every operation (in 3.0.19
 * EVP_KEYMGMT_do_all_provided copies the context's whole method store on each call:
 * trimming the other operations cut its cost sixfold), so the context offers
 * nothing else: the TLS 1.3 AEADs (and the session ticket cipher), the SHA-1/SHA-2
 * digests (SHA-1 for the certificate hash OpenSSL keeps), HMAC and the TLS KDFs,
 * ECDH/X25519/X448, the signatures of the kept key types, and every random
 * generator. "DER" names the structure-only decoders (PEM to DER,
 * SubjectPublicKeyInfo to its key type). */
static const char *const keys[] = { "EC", "X25519", "X448", "ED25519", "ED448", "RSA",
				    "RSA-PSS", NULL };
static const char *const decoders[] = { "EC", "X25519", "X448", "ED25519", "ED448", "RSA",
					"RSA-PSS", "DER", NULL };
static const char *const ciphers[] = { "AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305",
				       "AES-256-CBC" /* session tickets, when a server has them */,
				       NULL };
static const char *const digests[] = { "SHA1", "SHA224", "SHA256", "SHA384", "SHA512", NULL };
static const char *const macs[] = { "HMAC", NULL };
static const char *const kdfs[] = { "HKDF", "TLS13-KDF", "TLS1-PRF", NULL };
static const char *const kex[] = { "ECDH", "X25519", "X448", NULL };
static const char *const sigs[] = { "ECDSA", "ED25519", "ED448", "RSA", NULL };
static const char *const none[] = { NULL };

static const struct {
	int op;
	const char *const *names; /* NULL: every algorithm of the operation */
} ops[] = {
	{ OSSL_OP_DIGEST, digests },	  { OSSL_OP_CIPHER, ciphers },
	{ OSSL_OP_MAC, macs },		  { OSSL_OP_KDF, kdfs },
	{ OSSL_OP_RAND, NULL },		  { OSSL_OP_KEYMGMT, keys },
	{ OSSL_OP_KEYEXCH, kex },	  { OSSL_OP_SIGNATURE, sigs },
	{ OSSL_OP_ASYM_CIPHER, none },	  { OSSL_OP_KEM, none },
	{ OSSL_OP_ENCODER, keys },	  { OSSL_OP_DECODER, decoders },
	{ OSSL_OP_STORE, none },
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

static OSSL_LIB_CTX *inner_ctx;      /* holds the default provider the filter shows */
static OSSL_PROVIDER *inner_default;
static OSSL_ALGORITHM kept[NOPS][KEPT_MAX];
static OSSL_LIB_CTX *tls_ctx;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* 1 when one of the ':'-separated names is in list. */
static int name_kept(const char *names, const char *const *list)
{
	for (const char *p = names; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ':');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		for (size_t i = 0; list[i] != NULL; i++)
			if (strlen(list[i]) == len && strncasecmp(p, list[i], len) == 0)
				return 1;
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

/* Copy the kept algorithms of ops[i] into kept[i], terminated by an all-zero entry;
 * 0 on success. Decoders of a key type are kept for SubjectPublicKeyInfo only:
 * certificates carry public keys, and private keys are never decoded here. */
static int keep(size_t i)
{
	int no_cache = 0;
	const OSSL_ALGORITHM *a = OSSL_PROVIDER_query_operation(inner_default, ops[i].op,
								 &no_cache);
	size_t n = 0;

	for (; a != NULL && a->algorithm_names != NULL; a++) {
		const char *props = a->property_definition != NULL ? a->property_definition : "";

		if (ops[i].names != NULL && !name_kept(a->algorithm_names, ops[i].names))
			continue;
		if (ops[i].op == OSSL_OP_DECODER && strcmp(a->algorithm_names, "DER") != 0 &&
		    strstr(props, "structure=SubjectPublicKeyInfo") == NULL)
			continue;
		if (n + 1 >= KEPT_MAX)
			return -1;
		kept[i][n++] = *a;
	}
	memset(&kept[i][n], 0, sizeof(kept[i][n]));
	return ops[i].names == none || n > 0 ? 0 : -1;
}

static const OSSL_ALGORITHM *filter_query(void *provctx, int op, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	for (size_t i = 0; i < NOPS; i++)
		if (ops[i].op == op)
			return kept[i];
	return NULL; /* an operation this version of OpenSSL added: not offered */
}

/* The TLS groups and the like: libssl keeps those whose key manager it can fetch. */
static int filter_capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb,
			       void *arg)
{
	(void)provctx;
	return OSSL_PROVIDER_get_capabilities(inner_default, capability, cb, arg);
}

static const OSSL_DISPATCH filter_dispatch[] = {
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))filter_query },
	{ OSSL_FUNC_PROVIDER_GET_CAPABILITIES, (void (*)(void))filter_capabilities },
	{ 0, NULL },
};

/* The algorithms run with the default provider's own context, as they expect. */
static int filter_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
		       const OSSL_DISPATCH **out, void **provctx)
{
	(void)handle;
	(void)in;
	*provctx = OSSL_PROVIDER_get0_provider_ctx(inner_default);
	*out = filter_dispatch;
	return *provctx != NULL;
}

static void make(void)
{
	OSSL_LIB_CTX *inner = OSSL_LIB_CTX_new(), *outer = NULL;

	inner_default = inner != NULL ? OSSL_PROVIDER_load(inner, "default") : NULL;
	if (inner_default == NULL)
		goto fail;
	for (size_t i = 0; i < NOPS; i++)
		if (keep(i) < 0)
			goto fail;
	outer = OSSL_LIB_CTX_new();
	if (outer == NULL || OSSL_PROVIDER_add_builtin(outer, FILTER_NAME, filter_init) != 1 ||
	    OSSL_PROVIDER_load(outer, FILTER_NAME) == NULL)
		goto fail;
	inner_ctx = inner;
	tls_ctx = outer;
	ERR_clear_error();
	return;
fail:
	/* Nothing half-made is used: the default context serves instead. */
	OSSL_LIB_CTX_free(outer);
	if (inner_default != NULL)
		OSSL_PROVIDER_unload(inner_default);
	inner_default = NULL;
	OSSL_LIB_CTX_free(inner);
	ERR_clear_error();
}

OSSL_LIB_CTX *tls_libctx(void)
{
	if (pthread_once(&once, make) != 0)
		return NULL;
	return tls_ctx;
}
