/*
 * Promela model of the freshness service, docs/protocols/freshness.md, for its §9.
 * Checked by tests/model/check.sh with spin: safety only, by assertions.
 *
 * WHAT IS MODELLED. One handle. View 0 = endorsers 0, 1, 2 (n = 3, f = 1);
 * endorser 3 is the replacement that the one reconfiguration (§7) brings in; view 1
 * is {0, 1, 3}: it drops endorser 2, crashed or not (the three old members are
 * symmetric before the reconfiguration, so which one is dropped is no loss of
 * generality).
 *   - Endorsers (§4.1): phase UNINIT/ACTIVE/LOCKED, view, and the handle's (height,
 *     tail, certified); create, append, certify, lock, init and read (§4.2), with
 *     the certified-predecessor rule (§4.3). A crash loses the state for good (a
 *     restarted endorser is a new identity that only reconfiguration could bring
 *     in); its receipts stay usable; at most f dead per view.
 *   - One trusted writer (§6.1): stores the pending block (fresh digest), waits for
 *     f+1 receipts of a view of the ledger on the tail it computed itself, only then
 *     releases. It may crash in any state but during a read, losing everything but
 *     the store, and then recovers (§6.3): read latest (§6.2) with a fresh nonce;
 *     fail-stop if the block at the latest height is missing or does not chain;
 *     finish an uncertified latest (f+1 receipts); then, if the store serves a
 *     pending block at the next height whose parent is the latest tail, finish
 *     that too (f+1 receipts for it, the same digest); then write on from there
 *     with fresh digests. A pending block the store does not serve (or one that
 *     does not chain) is discarded.
 *   - The adversary (coordinators, network, hosts, store), free at every step to:
 *     deliver any request §4.2 allows to any endorser, in any order, as often as it
 *     likes or never (drop, delay, reorder, duplicate, replay); equivocate (any
 *     digest the writer ever made for height h, pending blocks of crashed
 *     incarnations included, to any endorser at h-1); withhold or present any
 *     certificate that exists; answer a read from any f+1 or more endorsers of the
 *     view it names, at any times; show the writer either view of the ledger as the
 *     current one (rollback of `current`); serve any block the store ever held or
 *     none (rollback); crash endorsers; start the reconfiguration at any time, lock
 *     any members, derive from any lock quorum (2 or 3 LOCK receipts, with or
 *     without a certificate in the proof) and init any subset of the new members,
 *     each from its own proof; stop appending at any time (appends simply cease
 *     to be delivered).
 *
 * ABSTRACTIONS.
 *   - Tails: the writer's digests packed 3 bits per height,
 *     tail_h = tail_{h-1} | d << 3h. Each write uses a fresh digest (1..MAXD) and
 *     the store keeps, per digest, its height and the parent tail in its
 *     associated data (§6.1 step 1), so a tail is an injective function of the
 *     history, as the hash chain of §3.1: equal histories give equal tails, a
 *     different digest or parent a different tail; forks are visible.
 *   - Unforgeable signatures: APPEND and INIT receipts are facts in sg[] (the tail
 *     endorser e signed at height h in view v), added only by an endorser step and
 *     never removed; the adversary may use any of them at any time, but not make
 *     one. A certificate (§3.4) of (h, tail) in view v exists iff f+1 members of v
 *     have that fact; certT[] and cvm record those formed. Receipts of certify are
 *     not recorded: certify needs a certificate of that very tail in that view,
 *     so they never form a new one. LOCK receipts are the states in lk*[]. READ
 *     receipts carry the read's nonce: a read collects only answers given after it
 *     began (a new read starts afresh), summarised as what §6.2 uses: U, its tail,
 *     disagreement at U, and C.
 *   - Atomicity: every endorser operation, client step and adversary decision is
 *     one atomic step; endorsers are single-threaded, and a batch of §4.2 is a
 *     sequence of such steps.
 *   - The ledger: view 0 always; view 1 once f+1 LOCK batches name it (its view
 *     record, §5; what a client checks, §8.2). The writer accepts receipts and
 *     certificates of any view the ledger reaches; certify takes a certificate of
 *     the endorser's own view (§4.2); append one of its view or the previous one
 *     (§4.2 does not say which; the wider reading). An init whose proof names the
 *     state by a certificate (§7.2, entries at U disagree) installs it certified.
 *   - A repeated create or append (idempotent, §4.2) answers a receipt already
 *     signed: it adds no fact, so it is not modelled.
 *   - A read by a live client is the same as the recovery read: crash + recovery
 *     covers it. A completed recovery releases the recovered state (the writer
 *     continues from it), so the ghost acknowledgement moves there too.
 *   - Fail-stop ends the run (nothing more can go wrong for that client); so the
 *     block at the latest height is always served (a missing one only fail-stops).
 *   - -DHONEST_STORE: the store serves the blocks it holds, the pending block at
 *     the next height included (no rollback or loss of blocks); the adversary keeps
 *     every other power, rollback of `current` included. An honest store holds one
 *     block per height (§5: compare-and-swap on absence); the assertion one_digest
 *     checks that the writer never needs a second.
 *   - An endorser crash adds no behaviour: a dead endorser acts as one the
 *     adversary never talks to again. The default run (MAXEC = 0) relies on this;
 *     --long includes crashes.
 *   - Symmetry reduction: endorsers 0 and 1 are interchangeable, and after every
 *     endorser step the two are put in a canonical order (canon(); -DNOSYM turns
 *     it off, as the mutant runs do, for trails with stable names).
 *
 * The spec as modelled includes the amendments found with this model (§9): a
 * LOCKED endorser's READ entries are flagged LOCKED and fail the read (§3.2, §6.2,
 * §7.1; without it: BUG_LOCKED_READ), §6.2 takes U <= C (a presented certificate
 * newer than every answer) as "the certified (C, tail)", and P3 is relative to
 * the states certified when the read began.
 *
 * PROPERTIES (assertions):
 *   p1_no_lost_ack  P1, at every successful read (recovery): height >= the highest
 *                   acknowledged height, and its tail at that height is the
 *                   acknowledged one (ghosts ackH/ackT);
 *   p2_one_tail     P2, whenever a certificate forms, in either view: no other tail
 *                   was ever certified at that height, in any view (ghost certT[]);
 *   p3_not_stale    P3, at every successful read (recovery): height >= the highest
 *                   height certified (in any view) when the read began, on that
 *                   tail (ghost snapH);
 *   and the spec's own claims: U <= C+1 (§6.2, §7.2); a CERTIFIED flag is backed by
 *   a certificate; one APPEND/INIT receipt per endorser, view and height (§4.3);
 *   one_digest      (-DHONEST_STORE only) whenever the writer draws a digest for
 *                   height h: it never drew one for h before (§6.3 step 4; drawing
 *                   and storing are one step, so every digest drawn may have reached
 *                   an endorser). Tails being injective, no two tails then exist
 *                   at one height, so entries at U never disagree: no read or
 *                   reconfiguration ends in CONFLICT (also asserted).
 *
 * BOUNDS (-D): MAXH highest height (heights 0..MAXH, MAXH <= 4), MAXD digests the
 * writer makes in all (MAXD <= 7), MAXWC writer crashes, MAXEC endorser crashes;
 * one reconfiguration. check.sh (default, `make check`; exhaustive: every state
 * stored, no bitstate):
 *   MAXH=2 MAXD=4 MAXWC=1 MAXEC=0,  MAXH=1 MAXD=3 MAXWC=2 MAXEC=0,
 *   and the latter with HONEST_STORE;
 * check.sh --long adds MAXH=2 MAXD=4 MAXWC=2 MAXEC=0 with HONEST_STORE (exhaustive)
 * and (bitstate, 1 GiB):
 *   MAXH=2 MAXD=4 MAXWC=1 MAXEC=1,  MAXH=1 MAXD=3 MAXWC=2 MAXEC=1,
 *   MAXH=3 MAXD=5 MAXWC=1 MAXEC=0,  MAXH=2 MAXD=5 MAXWC=2 MAXEC=1.
 * Each run also checks the smaller bounds: every run within them is a run here.
 *
 * MUTANTS (each must give an assertion violation; check.sh runs them with
 * MAXH=1 MAXD=3 MAXWC=2 MAXEC=0, the last with HONEST_STORE):
 *   BUG_NO_CERT_RULE  append without the certified-predecessor rule (§4.3)
 *   BUG_TAKE_MAX      §7.2 takes an entry at U when entries disagree, no CONFLICT
 *   BUG_ACK_EARLY     the writer releases after 1 receipt instead of f+1 (§6.1)
 *   BUG_LOCKED_READ   a LOCKED endorser answers reads like an active one (the spec
 *                     before the amendment): a store that shows the old view
 *                     makes the client read a state older than its release
 *   BUG_STALE_READ    a read also counts answers given to an earlier read (no
 *                     fresh nonce)
 *   BUG_DISCARD_PENDING  recovery discards the pending block at the next height
 *                     and draws a fresh digest (§6.3 step 4 before the fix): a
 *                     second tail at that height, which can wedge the handle in
 *                     CONFLICT
 */

#ifndef MAXH
#define MAXH 1
#endif
#ifndef MAXD
#define MAXD 3
#endif
#ifndef MAXWC
#define MAXWC 2
#endif
#ifndef MAXEC
#define MAXEC 0
#endif

#define NE 4            /* endorsers: 0,1,2 in view 0; 3 the replacement */
#define F 1
#define Q (F+1)
#define DROP 2          /* the old member view 1 leaves out */
#define NH (MAXH+1)
#define ND (MAXD+1)
#define TB 3            /* bits per digest in a tail: 3 x 5 heights fit a short */
#define TAIL short

#define SLOT(t,h)   (((t) >> (TB*(h))) & 7)
#define PFX(t,h)    ((t) & ((1 << (TB*((h)+1))) - 1))   /* its tail at height h; PFX(t,-1) = 0 */
#define EXT(p,h,d)  ((p) | ((d) << (TB*(h))))           /* tail_h from tail_{h-1}, h, digest */

/* one bit per endorser in a byte */
#define B(m,e)      (((m) >> (e)) & 1)
#define SET(m,e)    m = (m) | (1 << (e))
#define CLR(m,e)    m = (m) & ~(1 << (e))

#define UNINIT 0
#define ACTIVE 1
#define LOCKED 2

/* ---- endorsers (§4.1); heights are stored +1, 0 = handle absent ---- */
byte eph[NE];           /* phase */
byte eh[NE];
TAIL et[NE];
byte evm;               /* bit e: serves view 1 (else view 0) */
byte ecm;               /* bit e: certified */
byte deadm;             /* bit e: crashed */
byte ecr;               /* endorser crashes so far */
#define EV(e) B(evm, e)
#define EC(e) B(ecm, e)
#define DEAD(e) B(deadm, e)

/* LOCK receipts: the state each old member locked with (§7.1 step 2) */
byte lkm;               /* bit e: locked (has signed LOCK) */
byte lkh[3];
TAIL lkt[3];
byte lkcm;              /* bit e: its locked state was certified */

bit  rcf;               /* the reconfiguration has begun (view_body(1) written) */
bit  led1;              /* view 1 is in the ledger: f+1 LOCK receipts for it (§8.2) */

#define INV(e,v) ((v) == 0 && (e) < 3 || (v) == 1 && rcf && (e) != DROP)

/* ---- APPEND/INIT receipts: sg[FI(e,v,h)] = the tail e signed at height h in view v
 * (members only: 0,1,2 in view 0; 0,1,3 in view 1) ---- */
TAIL sg[6*NH];
#define FI(e,v,h) ((((v)*3 + (e) - ((e) == 3)) * NH) + (h))

/* certificates formed: certT[h] the tail (P2: the only one), cv bit v*NH+h: in view v */
TAIL certT[NH];
short cvm;
#define CV(v,h)     B(cvm, (v)*NH + (h))
#define CERT(v,h,t) (CV(v,h) && certT[h] == (t))
#define CERTL(h)    (CV(0,h) || led1 && CV(1,h))       /* in a view of the ledger */

/* ---- the writer (§6); its latest state is its last release, ackH/ackT below ---- */
#define W_IDLE   0
#define W_APPEND 1      /* block stored, waiting for f+1 receipts (§6.1 step 2) */
#define W_READ   2      /* recovery: read latest (§6.3 step 1) */
#define W_FINISH 3      /* recovery: finishing an uncertified latest (§6.3 step 3) */
#define W_STOP   4      /* fail-stop */
#define W_PEND   5      /* recovery: the store may serve a pending block on the recovered
                         * state (§6.3 step 4); which one, if any, is the adversary's */
#define W_FINPEND 6     /* recovery: finishing that pending block (§6.3 step 4) */
byte wst;
byte ph;                /* the state it waits for: height, tail */
TAIL pt;
byte nd;                /* digests made so far */
byte wcr;               /* writer crashes so far */
#define RUN (wst != W_STOP)

/* the store: every block ever written, digest -> height+1 and parent tail */
byte dh[ND];
TAIL dp[ND];

/* the read in progress (§6.2): view; who answered; highest height U, its tail,
 * disagreement at U; highest vouched height C (its tail is certT[C]) */
bit  rv;
byte rm;
short rU;
TAIL rTU;
bit  rX;
short rC;

/* ---- ghosts (and the writer's memory while it runs) ---- */
byte ackH;              /* last release: height+1 (0 none) and tail (P1) */
TAIL ackT;
byte snapH;             /* highest certified height+1 when the read began (P3; its tail
                         * is certT[snapH-1], certificates being unique and permanent) */

/* handed from an operation to endstep within one atomic step, 0 otherwise (so they
 * need no place in the state vector) */
hidden byte fe, fv, fh;
hidden TAIL ft;         /* != 0: endorser fe signed ft at height fh in view fv */
hidden byte ie, iq, iw; /* iq != 0: init endorser ie from the locks of iq, with a
                         * certificate in the proof if iw */

/* scratch: set before use and 0 between steps, so kept out of the state vector */
hidden byte k, n, xh;
hidden short C, U, hv;
hidden byte dok, xc, cf;
hidden TAIL xt;
hidden byte p1_no_lost_ack, p2_one_tail, p3_not_stale, one_digest;   /* named, so that a violation names them */

#define SIGN(e,v,h,t) fe = e; fv = v; fh = h; ft = t
#define NOHAND        ft = 0; iq = 0   /* every operation sets the hand-off afresh: a
                                        * search cut inside an atomic step (-m) can leave
                                        * hidden values behind */

/* record the receipt (fe, fv, fh, ft); does a certificate form? (P2) */
inline sign() {
	assert(sg[FI(fe, fv, fh)] == 0);        /* one per endorser, view and height */
	sg[FI(fe, fv, fh)] = ft;
	k = 0; n = 0;
	do
	:: k < NE ->
		if
		:: INV(k, fv) && sg[FI(k, fv, fh)] == ft -> n++
		:: else
		fi;
		k++
	:: else -> break
	od;
	if
	:: n >= Q ->
		p2_one_tail = (certT[fh] == 0 || certT[fh] == ft);
		assert(p2_one_tail);
		p2_one_tail = 0;
		certT[fh] = ft;
		SET(cvm, fv*NH + fh)
	:: else
	fi;
	k = 0; n = 0; fe = 0; fv = 0; fh = 0; ft = 0
}

/* Symmetry reduction: endorsers 0 and 1 play the same role everywhere (both in view
 * 0 and in view 1), so swapping their names maps runs to runs. After every endorser
 * step the one with the larger record takes the name 1. -DNOSYM turns this off
 * (mutant runs, for trails with stable names). */
#define CMP(a, b)   if :: !cf && (a) > (b) -> cf = 1; xc = 1 :: !cf && (a) < (b) -> cf = 1 :: else fi
#define SWP(a)      xt = a[0]; a[0] = a[1]; a[1] = xt
#define SWB(m)      m = ((m) & ~3) | (((m) & 1) << 1) | (((m) >> 1) & 1)
inline canon() {
#ifndef NOSYM
	cf = 0; xc = 0;
	CMP(eph[0], eph[1]); CMP(eh[0], eh[1]); CMP(et[0], et[1]);
	CMP(B(evm,0), B(evm,1)); CMP(B(ecm,0), B(ecm,1)); CMP(B(deadm,0), B(deadm,1));
	CMP(B(lkm,0), B(lkm,1)); CMP(lkh[0], lkh[1]); CMP(lkt[0], lkt[1]); CMP(B(lkcm,0), B(lkcm,1));
	CMP(B(rm,0), B(rm,1));
	k = 0;
	do
	:: k < NH -> CMP(sg[FI(0,0,k)], sg[FI(1,0,k)]); CMP(sg[FI(0,1,k)], sg[FI(1,1,k)]); k++
	:: else -> break
	od;
	if
	:: xc ->
		SWP(eph); SWP(eh); SWP(et); SWB(evm); SWB(ecm); SWB(deadm);
		SWB(lkm); SWP(lkh); SWP(lkt); SWB(lkcm);
		SWB(rm);
		k = 0;
		do
		:: k < NH ->
			xt = sg[FI(0,0,k)]; sg[FI(0,0,k)] = sg[FI(1,0,k)]; sg[FI(1,0,k)] = xt;
			xt = sg[FI(0,1,k)]; sg[FI(0,1,k)] = sg[FI(1,1,k)]; sg[FI(1,1,k)] = xt;
			k++
		:: else -> break
		od;
		printf("MSC: (endorsers 0 and 1 swap names)\n")
	:: else
	fi;
	k = 0; cf = 0; xc = 0; xt = 0
#else
	skip
#endif
}

/* ---- endorser operations (§4.2) ---- */
#define LIVE(e) (RUN && !DEAD(e) && eph[e] == ACTIVE)

inline op_create(e, dg) {
	d_step {
		dg <= MAXD && LIVE(e) && eh[e] == 0 && dh[dg] == 1 ->
		NOHAND;
		eh[e] = 1; et[e] = dg; CLR(ecm, e);
		printf("MSC: e%d view %d: create d%d -> (0, %d)\n", e, EV(e), dg, dg);
		SIGN(e, EV(e), 0, dg)
	}
}

#ifdef BUG_NO_CERT_RULE
#define PREDOK(e) 1
#else
/* §4.3: its state at h-1 is certified, or the request's certificate certifies it */
#define PREDOK(e) (EC(e) || CERT(0, eh[e]-1, et[e]) || EV(e) && CERT(1, eh[e]-1, et[e]))
#endif

inline op_append(e, dg) {
	d_step {
		dg <= MAXD && LIVE(e) && eh[e] > 0 && dh[dg] == eh[e] + 1 && PREDOK(e) ->
		NOHAND;
		SIGN(e, EV(e), eh[e], EXT(et[e], eh[e], dg));
		printf("MSC: e%d view %d: append d%d -> (%d, %d)\n", e, EV(e), dg, eh[e], ft);
		eh[e]++; et[e] = ft; CLR(ecm, e)
	}
}

inline op_certify(e, h) {
	d_step {
		h <= MAXH && LIVE(e) && CV(EV(e), h % NH) && h + 1 >= eh[e] &&
		!(eh[e] == h + 1 && EC(e) && et[e] == certT[h]) ->
		NOHAND;
		eh[e] = h + 1; et[e] = certT[h]; SET(ecm, e);
		printf("MSC: e%d view %d: certify -> (%d, %d, certified)\n", e, EV(e), h, et[e])
	}
}

inline op_lock(e) {
	d_step {
		RUN && rcf && !DEAD(e) && eph[e] == ACTIVE && !EV(e) ->
		NOHAND;
		eph[e] = LOCKED;
		SET(lkm, e); lkh[e] = eh[e]; lkt[e] = et[e];
		if :: EC(e) -> SET(lkcm, e) :: else fi;
		/* f+1 LOCK batches naming view 1: its view record, and the ledger reaches it */
		if :: B(lkm,0) + B(lkm,1) + B(lkm,2) >= Q -> led1 = 1 :: else fi;
		printf("MSC: e%d lock at (%d, %d, %d)\n", e, eh[e] - 1, et[e], EC(e))
	}
}

#ifdef BUG_LOCKED_READ
#define ANSWERS(e) (eph[e] == ACTIVE || eph[e] == LOCKED)
#else
/* the entry of a LOCKED endorser is flagged LOCKED and fails the read (§6.2): such a
 * read can only be retried, which is the same as the endorser not answering it */
#define ANSWERS(e) (eph[e] == ACTIVE)
#endif

inline op_answer(e) {
	d_step {
		wst == W_READ && !B(rm, e) && !DEAD(e) && ANSWERS(e) && EV(e) == rv ->
		NOHAND;
		SET(rm, e);
		if
		:: eh[e] > 0 ->
			hv = eh[e] - 1;
			assert(!EC(e) || certT[hv] == et[e]);   /* a CERTIFIED flag is true */
			if
			:: hv > rU -> rU = hv; rTU = et[e]; rX = 0
			:: hv == rU && !rX && rTU != et[e] -> rX = 1; rTU = 0
			:: else
			fi;
#ifdef HONEST_STORE
			assert(!rX);    /* one tail per height: entries never disagree (§6.3 step 4) */
#endif
			if
			:: EC(e) && hv > rC -> rC = hv
			:: !EC(e) && hv - 1 > rC -> rC = hv - 1
			:: else
			fi
		:: else
		fi;
		printf("MSC: e%d view %d: read answer (%d, %d, %d) phase %d\n", e, rv, eh[e] - 1, et[e], EC(e), eph[e]);
		hv = 0
	}
}

inline op_crash(e) {
	d_step {
		RUN && ecr < MAXEC && !DEAD(e) && (e < 3 || rcf) &&
		(e == 3 || B(deadm,0) + B(deadm,1) + B(deadm,2) < F) &&
		(!rcf || e == DROP || B(deadm,0) + B(deadm,1) + B(deadm,3) < F) ->
		NOHAND;
		ecr++; SET(deadm, e);
		eph[e] = UNINIT; CLR(evm, e); eh[e] = 0; et[e] = 0; CLR(ecm, e);
		printf("MSC: e%d crashes\n", e)
	}
}

/* §7.2 over the LOCK receipts of the members in iq, with (iw = 1) or without a
 * certificate in the proof: dok, and the state (xh, xt, xc) */
inline derive() {
	C = -1; U = -1; k = 0;
	do
	:: k < 3 ->
		if
		:: B(iq, k) && lkh[k] > 0 ->
			hv = lkh[k] - 1;
			if :: hv > U -> U = hv :: else fi;
			if
			:: B(lkcm, k) && hv > C -> C = hv
			:: !B(lkcm, k) && hv - 1 > C -> C = hv - 1
			:: else
			fi
		:: else
		fi;
		k++
	:: else -> break
	od;
	assert(U <= C + 1);     /* §7.2: by §4.3 */
	dok = 0; xh = 0; xt = 0; xc = 0; cf = 0; k = 0;
	if
	:: U == -1 -> dok = (iw == 0)            /* absent */
	:: U >= 0 && U == C ->                   /* the certified (C, tail) */
		do
		:: k < 3 ->
			if :: B(iq, k) && lkh[k] == C + 1 && B(lkcm, k) -> xt = lkt[k] :: else fi;
			k++
		:: else -> break
		od;
		dok = (iw == 0); xh = C + 1; xc = 1
	:: U >= 0 && U == C + 1 ->
		do
		:: k < 3 ->
			if
			:: B(iq, k) && lkh[k] == U + 1 && xt == 0 -> xt = lkt[k]
			:: B(iq, k) && lkh[k] == U + 1 && xt != lkt[k] -> cf = 1
			:: else
			fi;
			k++
		:: else -> break
		od;
		xh = U + 1;
#ifdef HONEST_STORE
		assert(!cf);    /* one tail per height: locked states never disagree */
#endif
		if
		:: !cf -> dok = (iw == 0)              /* all entries at U agree: uncertified */
		:: cf && iw ->                         /* disagree: the one a certificate names */
			xt = 0; k = 0;
			do
			:: k < 3 ->
				if
				:: B(iq, k) && lkh[k] == U + 1 && CERT(0, U, lkt[k]) -> xt = lkt[k]; dok = 1; xc = 1
				:: else
				fi;
				k++
			:: else -> break
			od
#ifdef BUG_TAKE_MAX
		:: cf && !iw -> dok = 1                /* the first entry at U, no ambiguity check */
#endif
		:: else                                /* ambiguous: CONFLICT */
		fi
	fi
}

/* init (§4.2, §7.1 step 4) of endorser ie, a member of view 1, from the proof (iq, iw) */
inline doinit() {
	derive();
	if
	:: dok ->
		eph[ie] = ACTIVE; SET(evm, ie); eh[ie] = xh; et[ie] = xt;
		if :: xc -> SET(ecm, ie) :: else -> CLR(ecm, ie) fi;
		printf("MSC: e%d init view 1 from the locks of %d (cert %d): (%d, %d, %d)\n", ie, iq, iw, xh - 1, xt, xc);
		if
		:: xh > 0 -> SIGN(ie, 1, xh - 1, xt)
		:: else
		fi;
		/* once every member of view 1 is initialised (or dead), the LOCK receipts
		 * are no longer needed */
		if
		:: (eph[0] == ACTIVE && EV(0) || DEAD(0)) && (eph[1] == ACTIVE && EV(1) || DEAD(1)) &&
		   (eph[3] == ACTIVE || DEAD(3)) ->
			lkm = 0; lkcm = 0; lkh[0] = 0; lkh[1] = 0; lkh[2] = 0; lkt[0] = 0; lkt[1] = 0; lkt[2] = 0
		:: else
		fi
	:: else                                      /* CONFLICT: the proof is refused */
	fi;
	k = 0; C = 0; U = 0; hv = 0; dok = 0; xh = 0; xt = 0; xc = 0; cf = 0;
	ie = 0; iq = 0; iw = 0
}

inline op_init(e, q, wc) {
	d_step {
		RUN && rcf && !DEAD(e) &&
		(e == 3 && eph[e] == UNINIT || e < 3 && e != DROP && eph[e] == LOCKED) &&
		(lkm & (q)) == (q) ->
		NOHAND;
		ie = e; iq = q; iw = wc
	}
}

/* the second half of every endorser step */
inline endstep() {
	d_step {
		if :: iq != 0 -> doinit() :: else fi;
		if :: ft != 0 -> sign() :: else fi;
		canon()
	}
}

/* ---- the writer ---- */

#ifdef BUG_ACK_EARLY
#define ACKOK(h,t) (sg[FI(0,0,h)] == (t) || sg[FI(1,0,h)] == (t) || sg[FI(2,0,h)] == (t) || \
	led1 && (sg[FI(0,1,h)] == (t) || sg[FI(1,1,h)] == (t) || sg[FI(3,1,h)] == (t)))
#else
/* §6.1 step 2: f+1 receipts of a view of the ledger on the tail it computed */
#define ACKOK(h,t) (CERT(0,h,t) || led1 && CERT(1,h,t))
#endif

/* §6.2: a fresh nonce; the store names the current view v (any view of the ledger) */
inline startread(v) {
	rv = v;
#ifndef BUG_STALE_READ
	rm = 0; rU = -1; rTU = 0; rX = 0; rC = -1;
#else
	if :: rm == 0 -> rU = -1; rC = -1 :: else fi;
#endif
	snapH = 0; k = 0;
	do
	:: k < NH -> if :: certT[k] != 0 -> snapH = k + 1 :: else fi; k++
	:: else -> break
	od;
	k = 0;
	printf("MSC: writer reads, view %d\n", v);
	wst = W_READ
}

#define POP(m) (B(m,0) + B(m,1) + B(m,2) + B(m,3))

/* §6.3 step 4 on the recovered state (ackH, ackT), certified: a pending block at the
 * next height whose parent is ackT is finished, not discarded (n: such a block) */
inline pend() {
	n = 0; k = 1;
	do
	:: k <= nd -> if :: dh[k] == ackH + 1 && dp[k] == ackT -> n = k :: else fi; k++
	:: else -> break
	od;
	if
#ifndef BUG_DISCARD_PENDING
#ifdef HONEST_STORE
	:: n != 0 ->                    /* the store serves the one block it holds there */
		ph = ackH; pt = EXT(ackT, ackH, n); wst = W_FINPEND;
		printf("MSC: writer finishes pending block d%d at %d, tail %d\n", n, ph, pt)
#else
	:: n != 0 -> wst = W_PEND
#endif
#endif
	:: else -> wst = W_IDLE         /* none: write on (BUG_DISCARD_PENDING: always) */
	fi;
	n = 0; k = 0
}

/* the store serves pending block dg at the height after the recovered state */
inline pendserve(dg) {
	d_step {
		wst == W_PEND && dg <= MAXD && dh[dg] == ackH + 1 && dp[dg] == ackT ->
		ph = ackH; pt = EXT(ackT, ackH, dg); wst = W_FINPEND;
		printf("MSC: writer finishes pending block d%d at %d, tail %d\n", dg, ph, pt)
	}
}

/* §6.2 over the answers, the coordinator presenting a certificate at height p (p = NH:
 * none), then §6.3 steps 2-4 */
inline conclude(p) {
	d_step {
		wst == W_READ && POP(rm) >= Q && (p == NH || p <= MAXH && CERTL(p % NH)) ->
		C = rC; U = rU;
		if :: p < NH && p > C -> C = p :: else fi;
		assert(U <= C + 1);     /* §6.2: by §4.3 */
		dok = 0; xh = 0; xt = 0; xc = 0;
		if
		:: U == -1 && C == -1 -> dok = 1                   /* absent everywhere */
		:: C >= 0 && U <= C ->                             /* the certified (C, tail) */
			xt = certT[C];          /* of a CERTIFIED entry at C (their flags are true) or of p */
			assert(xt != 0);
			dok = 1; xh = C + 1; xc = 1
		:: U >= 0 && U == C + 1 && !rX -> dok = 1; xh = U + 1; xt = rTU  /* uncertified */
		:: else                                            /* CONFLICT: no result */
		fi;
		printf("MSC: writer read result: ok %d (%d, %d, %d), U %d C %d, certificate presented at %d\n", dok, xh - 1, xt, xc, U, C, (p < NH -> p : -1));
		if
		:: dok ->
			/* P1: not older than the acknowledged state, and extends it */
			p1_no_lost_ack = (xh >= ackH && (ackH == 0 || PFX(xt, ackH - 1) == ackT));
			assert(p1_no_lost_ack);
			/* P3: not older than the certified state when the read began */
			p3_not_stale = (xh >= snapH && (snapH == 0 || PFX(xt, snapH - 1) == certT[snapH - 1]));
			assert(p3_not_stale);
			p1_no_lost_ack = 0; p3_not_stale = 0;
			if
			:: xh == 0 -> pend()            /* absent: finish a pending create (step 4), or create */
			:: xh > 0 && dh[SLOT(xt, xh - 1)] == xh && dp[SLOT(xt, xh - 1)] == PFX(xt, xh - 2) ->
				if                                              /* §6.3 step 2: it chains */
				:: xc -> ackH = xh; ackT = xt; pend()              /* step 4 */
				:: else -> ph = xh - 1; pt = xt; wst = W_FINISH    /* step 3 */
				fi
			:: else -> wst = W_STOP; printf("MSC: writer fail-stops\n")
			fi;
#ifndef BUG_STALE_READ
			rm = 0; rU = 0; rTU = 0; rX = 0; rC = 0;
#endif
			rv = 0; snapH = 0
		:: else
		fi;
		C = 0; U = 0; dok = 0; xh = 0; xt = 0; xc = 0
	}
}

init {
	eph[0] = ACTIVE; eph[1] = ACTIVE; eph[2] = ACTIVE;   /* genesis: view 0, handle absent */
end:	do
	/* §6.1 step 1: a fresh digest on its last released state, its block stored (one
	 * step: no digest is drawn that is not stored, and any stored block may reach an
	 * endorser) */
	:: d_step {
		wst == W_IDLE && ackH <= MAXH && nd < MAXD ->
#ifdef HONEST_STORE
		/* with an honest store the writer never draws a second digest at a height
		 * (§6.3 step 4) */
		one_digest = 1; k = 1;
		do
		:: k <= nd -> if :: dh[k] == ackH + 1 -> one_digest = 0 :: else fi; k++
		:: else -> break
		od;
		assert(one_digest);
		one_digest = 0; k = 0;
#endif
		nd++; dh[nd] = ackH + 1; dp[nd] = ackT;
		ph = ackH; pt = EXT(ackT, ackH, nd); wst = W_APPEND;
		printf("MSC: writer stores block d%d at %d, tail %d\n", nd, ph, pt)
	}
	/* §6.1 step 3, or §6.3 step 3 or 4 done: release (after step 3, step 4) */
	:: d_step {
		(wst == W_APPEND || wst == W_FINISH || wst == W_FINPEND) && ACKOK(ph, pt) ->
		ackH = ph + 1; ackT = pt;
		printf("MSC: writer releases (%d, %d)\n", ph, pt);
		ph = 0; pt = 0;
		if :: wst == W_FINISH -> pend() :: else -> wst = W_IDLE fi
	}
	/* §6.3 step 4: the store serves no pending block (or one that does not chain:
	 * discarded) and the writer writes on, or it serves one that chains */
	:: d_step { wst == W_PEND -> wst = W_IDLE; printf("MSC: the store serves no pending block\n") }
	:: pendserve(1) :: pendserve(2) :: pendserve(3) :: pendserve(4)
	:: pendserve(5) :: pendserve(6) :: pendserve(7)
	/* the writer crashes and begins recovery (§6.3) in the view the store shows */
	:: d_step {
		wcr < MAXWC && (wst == W_IDLE || wst == W_APPEND || wst == W_FINISH || wst == W_FINPEND) ->
		wcr++; ph = 0; pt = 0;
		printf("MSC: writer crashes\n");
		startread(0)
	}
	:: d_step {
		wcr < MAXWC && (wst == W_IDLE || wst == W_APPEND || wst == W_FINISH || wst == W_FINPEND) && led1 ->
		wcr++; ph = 0; pt = 0;
		printf("MSC: writer crashes\n");
		startread(1)
	}
	/* a new read with a fresh nonce (timeout, CONFLICT, LOCKED; the view may change) */
	:: d_step { wst == W_READ && (rm != 0 || rv != 0) -> startread(0) }
	:: d_step { wst == W_READ && led1 && (rm != 0 || rv != 1) -> startread(1) }
	:: conclude(NH)
	:: conclude(0) :: conclude(1) :: conclude(2) :: conclude(3) :: conclude(4)

	/* reconfiguration (§7.1), once: view_body(1) is written */
	:: d_step { RUN && !rcf -> rcf = 1; printf("MSC: reconfiguration to view 1 = {0, 1, 3} begins\n") }

	/* an endorser step: one operation, then endstep (receipt, init, symmetry) */
	:: atomic {
		if
		:: op_answer(0) :: op_answer(1) :: op_answer(2) :: op_answer(3)
		:: op_create(0,1) :: op_create(1,1) :: op_create(2,1) :: op_create(3,1)
		:: op_create(0,2) :: op_create(1,2) :: op_create(2,2) :: op_create(3,2)
		:: op_create(0,3) :: op_create(1,3) :: op_create(2,3) :: op_create(3,3)
		:: op_create(0,4) :: op_create(1,4) :: op_create(2,4) :: op_create(3,4)
		:: op_create(0,5) :: op_create(1,5) :: op_create(2,5) :: op_create(3,5)
		:: op_create(0,6) :: op_create(1,6) :: op_create(2,6) :: op_create(3,6)
		:: op_create(0,7) :: op_create(1,7) :: op_create(2,7) :: op_create(3,7)
		:: op_append(0,1) :: op_append(1,1) :: op_append(2,1) :: op_append(3,1)
		:: op_append(0,2) :: op_append(1,2) :: op_append(2,2) :: op_append(3,2)
		:: op_append(0,3) :: op_append(1,3) :: op_append(2,3) :: op_append(3,3)
		:: op_append(0,4) :: op_append(1,4) :: op_append(2,4) :: op_append(3,4)
		:: op_append(0,5) :: op_append(1,5) :: op_append(2,5) :: op_append(3,5)
		:: op_append(0,6) :: op_append(1,6) :: op_append(2,6) :: op_append(3,6)
		:: op_append(0,7) :: op_append(1,7) :: op_append(2,7) :: op_append(3,7)
		:: op_certify(0,0) :: op_certify(1,0) :: op_certify(2,0) :: op_certify(3,0)
		:: op_certify(0,1) :: op_certify(1,1) :: op_certify(2,1) :: op_certify(3,1)
		:: op_certify(0,2) :: op_certify(1,2) :: op_certify(2,2) :: op_certify(3,2)
		:: op_certify(0,3) :: op_certify(1,3) :: op_certify(2,3) :: op_certify(3,3)
		:: op_certify(0,4) :: op_certify(1,4) :: op_certify(2,4) :: op_certify(3,4)
		:: op_crash(0) :: op_crash(1) :: op_crash(2) :: op_crash(3)
		:: op_lock(0) :: op_lock(1) :: op_lock(2)
		/* init e from the locks of q (bit set: {0,1}, {0,2}, {1,2}, {0,1,2}), with a certificate? */
		:: op_init(0,3,0) :: op_init(0,5,0) :: op_init(0,6,0) :: op_init(0,7,0)
		:: op_init(1,3,0) :: op_init(1,5,0) :: op_init(1,6,0) :: op_init(1,7,0)
		:: op_init(3,3,0) :: op_init(3,5,0) :: op_init(3,6,0) :: op_init(3,7,0)
		:: op_init(0,3,1) :: op_init(0,5,1) :: op_init(0,6,1) :: op_init(0,7,1)
		:: op_init(1,3,1) :: op_init(1,5,1) :: op_init(1,6,1) :: op_init(1,7,1)
		:: op_init(3,3,1) :: op_init(3,5,1) :: op_init(3,6,1) :: op_init(3,7,1)
		fi;
		endstep()
	}
	od
}
