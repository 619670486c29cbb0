/* A verifier's trust anchors: provider CAs and their newest CRLs
 * (docs/formats/quote.md §4.3). Everything a verification needs is parsed and
 * checked once, here, so shelter_quote_verify only parses the quote's own
 * certificate. The trust holds no verdicts about platforms: revocation and validity
 * are decided afresh on every verification. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "tee/internal.h"
#include "tee/pki.h"

#define TRUST_PROVIDERS_MAX 1024

int shelter_trust_new(struct shelter_trust **out, struct shelter_err *err)
{
	struct shelter_trust *t;

	if (out == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "trust: NULL argument");
	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return shelter_err_set(err, SHELTER_E_NOMEM, "trust: out of memory");
	t->store = X509_STORE_new();
	t->crls = sk_X509_CRL_new_null();
	if (t->store == NULL || t->crls == NULL) {
		shelter_trust_free(t);
		return pki_ossl(err, SHELTER_E_NOMEM, "trust: new X509 store");
	}
	/* quote.c: CRLs were verified when added; do not verify them per quote. */
	X509_STORE_set_check_crl(t->store, tee_check_crl);
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		X509_STORE_free(t->store);
		sk_X509_CRL_free(t->crls);
		free(t);
		return shelter_err_set(err, SHELTER_E_NOMEM, "trust: mutex");
	}
	*out = t;
	return 0;
}

void shelter_trust_free(struct shelter_trust *trust)
{
	if (trust == NULL)
		return;
	for (size_t i = 0; i < trust->count; i++) {
		X509_free(trust->providers[i].ca);
		X509_CRL_free(trust->providers[i].crl);
	}
	for (size_t i = 0; i < TEE_CERT_CACHE_SLOTS; i++) {
		free(trust->cache[i].der);
		X509_free(trust->cache[i].cert);
	}
	free(trust->providers);
	sk_X509_CRL_free(trust->crls); /* borrowed pointers, freed above */
	X509_STORE_free(trust->store);
	if (trust->store != NULL && trust->crls != NULL)
		pthread_mutex_destroy(&trust->lock);
	free(trust);
}

/* ---- parsed platform certificates (quote.md §4.4) ---- */

/* FNV-1a: spreads certificates over slots; collisions only cost a parse. */
static size_t slot_of(const uint8_t *der, size_t size)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < size; i++)
		h = (h ^ der[i]) * 16777619u;
	return h % TEE_CERT_CACHE_SLOTS;
}

int tee_cert_cache_get(const struct shelter_trust *trust, const uint8_t *der, size_t size,
		       X509 **cert, uint8_t key_id[32], char *name,
		       const struct tee_provider **provider)
{
	struct shelter_trust *t = (struct shelter_trust *)trust; /* the cache is mutable */
	struct tee_cert_slot *s = &t->cache[slot_of(der, size)];
	int hit = 0;

	*cert = NULL;
	*provider = NULL;
	pthread_mutex_lock(&t->lock);
	if (s->cert != NULL && s->size == size && memcmp(s->der, der, size) == 0 &&
	    X509_up_ref(s->cert) == 1) {
		*cert = s->cert;
		memcpy(key_id, s->key_id, 32);
		memcpy(name, s->name, sizeof(s->name));
		if (s->generation == t->generation && s->provider < t->count)
			*provider = &t->providers[s->provider];
		hit = 1;
	}
	pthread_mutex_unlock(&t->lock);
	return hit;
}

void tee_cert_cache_put(const struct shelter_trust *trust, const uint8_t *der, size_t size,
			X509 *cert, const uint8_t key_id[32], const char *name,
			const struct tee_provider *provider)
{
	struct shelter_trust *t = (struct shelter_trust *)trust;
	struct tee_cert_slot *s = &t->cache[slot_of(der, size)];
	uint8_t *copy = malloc(size);
	X509 *old = NULL;
	uint8_t *old_der = NULL;

	if (copy == NULL || X509_up_ref(cert) != 1) {
		free(copy);
		return;
	}
	memcpy(copy, der, size);
	pthread_mutex_lock(&t->lock);
	old = s->cert;
	old_der = s->der;
	s->cert = cert;
	s->der = copy;
	s->size = size;
	memcpy(s->key_id, key_id, 32);
	memcpy(s->name, name, sizeof(s->name)); /* whole buffers, as the get copies them */
	s->provider = (size_t)(provider - t->providers);
	s->generation = t->generation;
	pthread_mutex_unlock(&t->lock);
	X509_free(old);
	free(old_der);
}

const struct tee_provider *tee_trust_find(const struct shelter_trust *trust, const X509 *ca)
{
	if (ca == NULL)
		return NULL;
	for (size_t i = 0; i < trust->count; i++) {
		if (trust->providers[i].ca == ca || X509_cmp(trust->providers[i].ca, ca) == 0)
			return &trust->providers[i];
	}
	return NULL;
}

int shelter_trust_add_provider(struct shelter_trust *trust, const char *ca_pem, size_t size,
			       uint8_t id_out[32], struct shelter_err *err)
{
	struct tee_provider p, *grown;
	int rc;

	memset(&p, 0, sizeof(p));
	if (id_out != NULL)
		memset(id_out, 0, 32);
	if (trust == NULL || ca_pem == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "trust: NULL argument");
	if (trust->count >= TRUST_PROVIDERS_MAX)
		return shelter_err_set(err, SHELTER_E_INVAL, "trust: more than %d providers",
				       TRUST_PROVIDERS_MAX);
	rc = pki_cert_from_pem(ca_pem, size, &p.ca, err);
	if (rc == 0)
		rc = pki_check_ca_cert(p.ca, p.name, err);
	if (rc == 0)
		rc = pki_cert_key_id(p.ca, p.id, err);
	if (rc < 0) {
		shelter_err_wrap(err, rc, "trust: add provider");
		goto out;
	}
	/* One provider per name: CRLs and certificates find their issuer by name. */
	for (size_t i = 0; i < trust->count; i++) {
		if (memcmp(trust->providers[i].id, p.id, 32) == 0 ||
		    strcmp(trust->providers[i].name, p.name) == 0) {
			rc = shelter_err_set(err, SHELTER_E_EXIST,
					     "trust: a provider named '%s' is already trusted",
					     p.name);
			goto out;
		}
	}
	grown = realloc(trust->providers, (trust->count + 1) * sizeof(*grown));
	if (grown == NULL) {
		rc = shelter_err_set(err, SHELTER_E_NOMEM, "trust: out of memory");
		goto out;
	}
	trust->providers = grown;
	if (X509_STORE_add_cert(trust->store, p.ca) != 1) {
		rc = pki_ossl(err, SHELTER_E_CRYPTO, "trust: add provider '%s'", p.name);
		goto out;
	}
	if (id_out != NULL)
		memcpy(id_out, p.id, 32);
	trust->providers[trust->count++] = p;
	trust->generation++; /* provider pointers moved: cached chains are void */
	p.ca = NULL;
out:
	X509_free(p.ca);
	return rc;
}

/* The added provider that issued and signed crl. */
static int crl_provider(struct shelter_trust *trust, X509_CRL *crl, struct tee_provider **out,
			struct shelter_err *err)
{
	const X509_NAME *issuer = X509_CRL_get_issuer(crl);

	*out = NULL;
	for (size_t i = 0; i < trust->count; i++) {
		struct tee_provider *p = &trust->providers[i];

		if (X509_NAME_cmp(issuer, X509_get_subject_name(p->ca)) != 0)
			continue;
		if (X509_CRL_verify(crl, X509_get0_pubkey(p->ca)) != 1) {
			ERR_clear_error();
			return shelter_err_set(err, SHELTER_E_UNTRUSTED,
					       "CRL names provider '%s' as issuer but its "
					       "signature does not verify", p->name);
		}
		*out = p;
		return 0;
	}
	return shelter_err_set(err, SHELTER_E_UNTRUSTED,
			       "CRL issuer is not a trusted provider");
}

/* §5.3: providers issue CRLs without critical extensions; one with any would be
 * refused by every verification, so refuse it once, here. */
static int has_critical_ext(const X509_CRL *crl)
{
	STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED((X509_CRL *)crl);

	for (int i = 0; i < X509_CRL_get_ext_count(crl); i++) {
		if (X509_EXTENSION_get_critical(X509_CRL_get_ext(crl, i)))
			return 1;
	}
	for (int i = 0; revoked != NULL && i < sk_X509_REVOKED_num(revoked); i++) {
		const X509_REVOKED *r = sk_X509_REVOKED_value(revoked, i);

		for (int j = 0; j < X509_REVOKED_get_ext_count(r); j++) {
			if (X509_EXTENSION_get_critical(X509_REVOKED_get_ext(r, j)))
				return 1;
		}
	}
	return 0;
}

static int same_der(X509_CRL *a, X509_CRL *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la = i2d_X509_CRL(a, &da), lb = i2d_X509_CRL(b, &db);
	int same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;

	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}

int shelter_trust_add_crl(struct shelter_trust *trust, const char *crl_pem, size_t size,
			  struct shelter_err *err)
{
	struct tee_provider *p = NULL;
	X509_CRL *crl = NULL;
	uint64_t number = 0;
	int rc;

	if (trust == NULL || crl_pem == NULL)
		return shelter_err_set(err, SHELTER_E_INVAL, "trust: NULL argument");
	rc = pki_crl_from_pem(crl_pem, size, &crl, err);
	if (rc < 0)
		goto wrap;
	if (X509_CRL_get_version(crl) != X509_CRL_VERSION_2 || has_critical_ext(crl)) {
		rc = shelter_err_set(err, SHELTER_E_MALFORMED,
				     "not a v2 CRL without critical extensions");
		goto wrap;
	}
	rc = crl_provider(trust, crl, &p, err);
	if (rc == 0)
		rc = pki_crl_number(crl, &number, err);
	if (rc < 0)
		goto wrap;
	/* §4.3: revocations cannot be rolled back by offering an older CRL, and one
	 * number names one CRL. */
	if (p->crl != NULL && number < p->crl_number) {
		rc = shelter_err_set(err, SHELTER_E_STALE,
				     "trust: CRL number %llu of provider '%s' is older than the "
				     "held CRL number %llu", (unsigned long long)number, p->name,
				     (unsigned long long)p->crl_number);
		goto out;
	}
	if (p->crl != NULL && number == p->crl_number) {
		if (!same_der(crl, p->crl))
			rc = shelter_err_set(err, SHELTER_E_CONFLICT,
					     "trust: provider '%s' issued two different CRLs "
					     "numbered %llu", p->name, (unsigned long long)number);
		goto out;
	}
	X509_CRL_free(p->crl);
	p->crl = crl;
	p->crl_number = number;
	crl = NULL;
	trust->generation++;
	sk_X509_CRL_zero(trust->crls);
	for (size_t i = 0; i < trust->count; i++) {
		if (trust->providers[i].crl != NULL &&
		    sk_X509_CRL_push(trust->crls, trust->providers[i].crl) <= 0) {
			rc = shelter_err_set(err, SHELTER_E_NOMEM, "trust: out of memory");
			goto out;
		}
	}
	goto out;
wrap:
	shelter_err_wrap(err, rc, "trust: add CRL");
out:
	X509_CRL_free(crl);
	return rc;
}
