/* What a quorum's entries say is a handle's latest state: the rule shared by reads
 * (docs/protocols/freshness.md §6.2) and reconfiguration (§7.2). */
#include <inttypes.h>
#include <string.h>

#include "freshness/format.h"

/* Does one of the certificates certify (handle, height, tail) in view v? */
static int certified(const struct fr_view *v, const struct fr_receipt *const *certs,
		     const size_t *cert_lens, size_t ncerts, const struct fr_entry *e)
{
	for (size_t i = 0; i < ncerts; i++)
		if (fr_cert_check(v, certs[i], cert_lens[i], e->handle, e->height, e->tail,
				  NULL) == 0)
			return 1;
	return 0;
}

int fr_decide(const struct fr_entry *const *entries, size_t n, const struct fr_view *v,
	      const struct fr_receipt *const *certs, const size_t *cert_lens, size_t ncerts,
	      struct fr_entry *out, struct shelter_err *err)
{
	const struct fr_entry *top = NULL, *cert = NULL;
	int64_t c = -1; /* the highest certified height an entry vouches for (§6.2) */
	uint64_t u = 0;
	int any = 0, tails = 0;

	memset(out, 0, sizeof(*out));
	out->height = FR_ABSENT;
	for (size_t i = 0; i < n; i++) {
		const struct fr_entry *e = entries[i];
		int64_t vouched;

		if (e->height == FR_ABSENT)
			continue;
		if (e->height > INT64_MAX - 1)
			return shelter_err_set(err, SHELTER_E_INTEGRITY, "height %" PRIu64
					       " out of range", e->height);
		vouched = (e->flags & FR_FLAG_CERTIFIED) ? (int64_t)e->height
							 : (int64_t)e->height - 1;
		if ((e->flags & FR_FLAG_CERTIFIED) && cert != NULL && cert->height == e->height &&
		    memcmp(cert->tail, e->tail, FR_HASH) != 0)
			return shelter_err_set(err, SHELTER_E_INTEGRITY, "two tails certified at "
					       "height %" PRIu64, e->height);
		if ((e->flags & FR_FLAG_CERTIFIED) && (cert == NULL || e->height > cert->height))
			cert = e;
		if (vouched > c)
			c = vouched;
		if (!any || e->height > u)
			u = e->height;
		any = 1;
	}
	/* a certificate newer than every answer (collected after they were given) names
	 * the latest state: U < C (§6.2). Only one of this handle: reconfiguration
	 * passes the certificates of every handle (§7.2) */
	for (size_t i = 0; v != NULL && n > 0 && i < ncerts; i++) {
		const struct fr_entry *ce = cert_lens[i] > 0 ? &certs[i][0].entry : NULL;

		if (ce != NULL && memcmp(ce->handle, entries[0]->handle, FR_HASH) == 0 &&
		    ce->height != FR_ABSENT && (!any || ce->height > u) &&
		    fr_cert_check(v, certs[i], cert_lens[i], ce->handle, ce->height, ce->tail,
				  NULL) == 0) {
			*out = *ce;
			out->flags = FR_FLAG_CERTIFIED;
			return 0;
		}
	}
	if (!any)
		return 0;
	/* the entry at u vouches for u - 1 at least, so u <= c + 1 (§4.3) */
	if ((int64_t)u == c) {
		/* the top is certified: an entry at u that is not flagged may still carry
		 * the certified tail, but the flagged one is the one we know */
		if (cert == NULL || cert->height != u)
			return shelter_err_set(err, SHELTER_E_INTEGRITY, "height %" PRIu64
					       " certified by no entry", u);
		*out = *cert;
		return 0;
	}
	/* u == c + 1: every entry at u is an uncertified step on the tail certified at c */
	for (size_t i = 0; i < n; i++) {
		const struct fr_entry *e = entries[i];

		if (e->height != u)
			continue;
		if (top == NULL || memcmp(top->tail, e->tail, FR_HASH) != 0)
			tails++;
		if (top == NULL)
			top = e;
		if (v != NULL && certified(v, certs, cert_lens, ncerts, e)) {
			*out = *e;
			out->flags = FR_FLAG_CERTIFIED;
			return 0;
		}
	}
	if (tails > 1)
		return shelter_err_set(err, SHELTER_E_CONFLICT, "ambiguous: different tails at "
				       "height %" PRIu64 " and no certificate names one", u);
	*out = *top;
	out->flags = 0;
	return 0;
}
