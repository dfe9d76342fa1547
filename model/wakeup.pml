/*
 * wakeup.pml: the futex wait/wake protocol of shmring (ring/wait.go), as a
 * Promela model for the Spin model checker. model/model_test.go runs every
 * configuration below; model/README.md says how to run one by hand.
 *
 * WHAT IS MODELLED
 *
 * One producer and one consumer process over a ring of SLOTS slots carrying
 * MSGS messages (defaults 2 and 3). Message i is the number i, written in
 * slot i%SLOTS, so the consumer can check order and that no slot was
 * overwritten before it was released. Every access to shared memory is one
 * Spin step, in the order the Go code makes it (Go's sync/atomic is
 * sequentially consistent, and Spin's interleaving is exactly that).
 *
 *   Go (grep for the quoted text; line numbers move)     here
 *   -----------------------------------------------      ----
 *   ring/producer.go publish: p.h.head.Store(p.head)      atomic { h++; head = h }      (C)
 *     then wakePeer(&p.h.dataSeq, &p.h.consumerSleeping)  wakePeer(dataSeq, ...)       (D)
 *   ring/consumer.go release: c.h.tail.Store(c.tail)      tail = t                      (C')
 *     then wakePeer(&c.h.spaceSeq, &c.h.producerSleeping) wakePeer(spaceSeq, ...)      (D')
 *   producer.go / consumer.go poll                        ppoll() / cpoll()
 *   ring/wait.go waitFor, the loop:
 *     "if ok, err := p.poll(); ok || err != nil"          first poll of the inner do
 *     "checkPeer(peer, &stopped)" (when nextCheck passed)  "if :: due ->" block
 *     "s := seq.Load()"                                   s = dataSeq / s = spaceSeq
 *     "sleeping.Store(1)"                                 ...Sleeping = 1               (A)
 *     "if ok, err := p.poll()" (the re-check)             second poll                   (B)
 *     "futex.Wait(word(seq), s, deadline)"                futex_wait(...)
 *     "sleeping.Store(0)"                                 ...Sleeping = 0
 *   ring/wait.go wakePeer: "sleeping.Load() != 0"         if :: flag != 0 ->            (D)
 *     wakeSleeper: "sleeping.Swap(0) != 0"                atomic { flag != 0 -> flag = 0 }
 *     wake: "seq.Add(1)", "futex.Wake(word(seq), 1)"      wake(): word++; futex_wake
 *   ring/ring.go closeSide: state.Or(bit),                pclosed/cclosed = 1,
 *     s.owner.Store(0), wake(&dataSeq), wake(&spaceSeq)    powner/cowner = 0, two wake()s
 *   ring/wait.go checkPeer: owner 0 -> nil, dead -> err   "powner && pdead"
 *
 * The futex is the kernel's, not an idealised one:
 *   - futex_wait compares the word with the expected value and queues the
 *     waiter in one atomic step; if they differ it returns at once (EAGAIN);
 *   - futex_wake wakes a waiter queued on that same word, and only one queued
 *     under the same key (dataQ and spaceQ are the two words' wait queues;
 *     each holds the key its waiter is queued under, 0 for none);
 *   - a queued waiter may return spuriously (a signal, EINTR): SPURIOUS such
 *     returns in all, shared by both sides;
 *   - with TIMEOUTS, a queued waiter may time out at any moment (the
 *     deadline is nextCheck, so a timeout makes the liveness check due);
 *   - a process that dies is taken off the queue it sleeps in.
 * Death: with DEATH, a third process (killer) may kill either side once, at
 * any step (the "unless" around each body). A dead side leaves memory as it
 * was: its flag may stay raised, its role stays held (owner != 0).
 * Close: the producer closes after its last message; the consumer drains and
 * reads EOF, then closes too. With CCLOSE the consumer may instead close at
 * any Recv; the producer, blocked on a full ring or not, must end with
 * ErrClosed (or finish its messages first).
 *
 * Left out, because they do not touch the protocol: the spin and yield
 * phases (they only poll; the model is WaitFutex), batching (one cursor
 * store and one wakePeer per batch, as here per message), Peek/Release,
 * ErrCorrupt checks, context cancellation (a bump and wake from a third
 * party: one more kind of spurious return), stopped peers
 * (ErrPeerUnresponsive), role takeover, and wrap-around of the 32-bit words.
 *
 * CONFIGURATIONS (-D macros, all optional)
 *   MSGS=n, SLOTS=n  messages and ring size (3 and 2)
 *   TIMEOUTS=0|1     futex waits may time out (0)
 *   DEATH=0|1        one side may die at any step (0)
 *   SPURIOUS=n       spurious returns allowed in all (1)
 *   CCLOSE=0|1       the consumer may close early (1)
 *
 * PROPERTIES
 *  (a) Delivery and no deadlock. assert(slot[t % SLOTS] == t): every message
 *      is received once, in order, from a slot not yet reused; at EOF
 *      assert(t == MSGS): nothing is lost; the producer's ErrClosed comes
 *      only from a closed consumer. No invalid end state (pan's deadlock
 *      check): every run ends with both processes at their end.
 *  (b) No lost wake-up without the timeout. With TIMEOUTS=0 and DEATH=0 a
 *      side in futex_wait can only be woken by its peer (or by one spurious
 *      return), so a lost wake-up leaves it blocked for ever: an invalid end
 *      state. The safety search finding none is the proof that the wakes in
 *      publish/release (wakePeer) and close (closeSide) are never lost, at
 *      any interleaving. (The LTL claim below also holds there.)
 *  (c) The survivor terminates. With TIMEOUTS=1 and DEATH=1, the LTL claim
 *      "terminates" (<> (pfin && cfin)), checked with weak fairness (pan -a
 *      -f), says every fair run ends with both sides finished, the dead one
 *      included: a survivor never sleeps or loops for ever. It gets out by
 *      poll (data, space, EOF, ErrClosed) or by the liveness check after a
 *      timeout reporting the peer dead. Weak fairness only excludes runs in
 *      which a process that could move is never scheduled.
 *
 * MUTATIONS (each must give a counterexample; model_test.go checks it)
 *  MUT_NO_RECHECK   the sleeper does not re-check (B) after raising its flag
 *                   (A): (b) fails, invalid end state.
 *  MUT_NO_SEQ_BUMP  wake() does not bump the word before futex_wake (in Go:
 *                   no seq.Add(1)): (b) fails, invalid end state.
 *  MUT_SPLIT_WORD   FUTEX_PRIVATE_FLAG across two processes: the word's
 *                   value is the same memory, but each process queues and
 *                   wakes under its own key, so a wake never finds the
 *                   other process's waiter: (b) fails, invalid end state.
 *  MUT_NO_LIVENESS  a timed-out side never checks its peer: (c) fails, an
 *                   acceptance cycle (the survivor times out for ever).
 *
 * THE FINAL POLL (found by this model)
 *  CHECK_DRAIN adds assert(head == t) where the consumer reports the
 *  producer dead: "ErrPeerDead if the producer's process died while the
 *  ring was empty" (consumer.go, Recv). An earlier waitFor failed it: the
 *  consumer polls (empty), the producer publishes one more message and
 *  dies, the liveness check finds it dead, and Recv returned ErrPeerDead
 *  with that message unread. waitFor now polls once more after checkPeer
 *  reports death (a dead process publishes nothing more, so that poll is
 *  final). MUT_NO_FINAL_POLL removes that poll: CHECK_DRAIN fails.
 */

#ifndef MSGS
#define MSGS 3
#endif
#ifndef SLOTS
#define SLOTS 2
#endif
#ifndef TIMEOUTS
#define TIMEOUTS 0
#endif
#ifndef DEATH
#define DEATH 0
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif
#ifndef CCLOSE
#define CCLOSE 1
#endif

/* What a poll found. */
#define NONE  0 /* keep waiting */
#define READY 1 /* data (consumer) or space (producer) */
#define ENDED 2 /* EOF (consumer) or ErrClosed (producer) */

/* How futex_wait returned. */
#define WOKEN    0 /* woken, or a spurious return: nil in Go */
#define AGAIN    1 /* the word had moved: EAGAIN, nil in Go */
#define TIMEDOUT 2 /* os.ErrDeadlineExceeded */

/* Futex keys. A shared futex is keyed by the memory; a private one by the
 * process's address space, so each process has its own. */
#define SHARED 1
#define PKEY   2
#define CKEY   3
#ifdef MUT_SPLIT_WORD
#define KEY(k) (k)
#else
#define KEY(k) SHARED
#endif

mtype = { RUNNING, GOT_EOF, CLOSED_EARLY, GOT_CLOSED, SENT_ALL, PEER_DEAD, DIED };

/* The segment. */
byte head, tail;                        /* cursors: published, released */
byte slot[SLOTS];
bit pclosed, cclosed;                   /* state: stateProducerClosed, stateConsumerClosed */
bit powner = 1, cowner = 1;             /* roles held (side.owner != 0) */
byte dataSeq, spaceSeq;                 /* futex words */
bit consumerSleeping, producerSleeping; /* the flags */

/* The kernel and the world. */
byte dataQ, spaceQ;                     /* wait queues of the two words: key, 0 none */
byte spur = SPURIOUS;                   /* spurious returns left */
bit pdead, cdead;                       /* process died */

/* Observation only. */
bit pfin, cfin;                         /* side finished, in any way */
mtype presult = RUNNING, cresult = RUNNING;

/* futex(word, FUTEX_WAIT, expected): compare and queue in one step. */
inline futex_wait(word, q, expected, key, res) {
	atomic {
		if
		:: word != expected -> res = AGAIN
		:: else -> q = key; res = WOKEN
		fi
	};
	if
	:: res == WOKEN ->
		if
		:: atomic { q == 0 }                                      /* a wake took it off */
		:: atomic { q != 0 && spur > 0 -> q = 0; spur-- }          /* EINTR */
		:: atomic { TIMEOUTS && q != 0 -> q = 0; res = TIMEDOUT }  /* deadline */
		fi
	:: else -> skip
	fi
}

/* futex(word, FUTEX_WAKE, 1): finds a waiter queued on this word under this key. */
inline futex_wake(q, key) {
	atomic {
		if
		:: q == key -> q = 0
		:: else -> skip
		fi
	}
}

/* ring/wait.go wake. */
inline wake(word, q, key) {
#ifndef MUT_NO_SEQ_BUMP
	word++;
#endif
	futex_wake(q, key)
}

/* ring/wait.go wakePeer and wakeSleeper: a load, then a swap. */
inline wakePeer(word, flag, q, key) {
	if
	:: flag != 0 ->                                 /* (D) */
		if
		:: atomic { flag != 0 -> flag = 0 }; wake(word, q, key)
		:: atomic { flag == 0 }
		fi
	:: else -> skip
	fi
}

/* Consumer.poll: refresh, then the producer's closed bit, then refresh again. */
inline cpoll() {
	if
	:: head != t -> pr = READY
	:: else ->
		if
		:: pclosed ->
			if
			:: head != t -> pr = READY
			:: else -> pr = ENDED
			fi
		:: else -> pr = NONE
		fi
	fi
}

/* Producer.poll: the consumer's cursor, then (full) its closed bit. */
inline ppoll() {
	if
	:: h - tail < SLOTS -> pr = READY
	:: else ->
		if
		:: cclosed -> pr = ENDED
		:: else -> pr = NONE
		fi
	fi
}

active proctype consumer() {
	byte t;    /* next message to read; all before it are released */
	byte s;    /* the futex snapshot */
	byte res, pr;
	bit due;   /* the liveness check is due (a wait timed out) */
	{
		do
		:: CCLOSE && t < MSGS -> cresult = CLOSED_EARLY; break
		:: true ->
			/* Recv: waitData / waitFor */
			do
			:: cpoll();
				if
				:: pr != NONE -> break
				:: else -> skip
				fi;
				if
				:: due ->
					due = 0;
#ifndef MUT_NO_LIVENESS
					if
					:: powner && pdead ->
#ifndef MUT_NO_FINAL_POLL
						cpoll();
						if
						:: pr != NONE -> break
						:: else -> goto peerdead
						fi
#else
						goto peerdead
#endif
					:: else -> skip
					fi
#else
					skip
#endif
				:: else -> skip
				fi;
				s = dataSeq;
				consumerSleeping = 1;                   /* (A) */
#ifndef MUT_NO_RECHECK
				cpoll();                                /* (B) */
				if
				:: pr != NONE -> consumerSleeping = 0; break
				:: else -> skip
				fi;
#endif
				futex_wait(dataSeq, dataQ, s, KEY(CKEY), res);
				consumerSleeping = 0;
				d_step { due = (res == TIMEDOUT); res = WOKEN; s = 0 }
			od;
			if
			:: pr == ENDED -> assert(t == MSGS); cresult = GOT_EOF; break
			:: else -> skip
			fi;
			assert(slot[t % SLOTS] == t);
			t++;
			tail = t;                                       /* (C') */
			wakePeer(spaceSeq, producerSleeping, spaceQ, KEY(CKEY))
		od;
		/* Consumer.Close -> closeSide */
		cclosed = 1;
		cowner = 0;
		wake(dataSeq, dataQ, KEY(CKEY));
		wake(spaceSeq, spaceQ, KEY(CKEY));
		goto cdone;
peerdead:
		cresult = PEER_DEAD;
#ifdef CHECK_DRAIN
		assert(head == t);
#endif
cdone:
		cfin = 1
	} unless {
		cdead -> dataQ = 0; cresult = DIED; cfin = 1
	}
}

active proctype producer() {
	byte h;    /* messages published */
	byte s;
	byte res, pr;
	bit due;
	{
		do
		:: h == MSGS -> presult = SENT_ALL; break
		:: else ->
			/* Send: waitSpace / waitFor */
			do
			:: ppoll();
				if
				:: pr != NONE -> break
				:: else -> skip
				fi;
				if
				:: due ->
					due = 0;
#ifndef MUT_NO_LIVENESS
					if
					:: cowner && cdead ->
#ifndef MUT_NO_FINAL_POLL
						ppoll();
						if
						:: pr != NONE -> break
						:: else -> goto peerdead
						fi
#else
						goto peerdead
#endif
					:: else -> skip
					fi
#else
					skip
#endif
				:: else -> skip
				fi;
				s = spaceSeq;
				producerSleeping = 1;                   /* (A) */
#ifndef MUT_NO_RECHECK
				ppoll();                                /* (B) */
				if
				:: pr != NONE -> producerSleeping = 0; break
				:: else -> skip
				fi;
#endif
				futex_wait(spaceSeq, spaceQ, s, KEY(PKEY), res);
				producerSleeping = 0;
				d_step { due = (res == TIMEDOUT); res = WOKEN; s = 0 }
			od;
			if
			:: pr == ENDED -> assert(cclosed); presult = GOT_CLOSED; break
			:: else -> skip
			fi;
			slot[h % SLOTS] = h;
			atomic { h++; head = h };                       /* (C) */
			wakePeer(dataSeq, consumerSleeping, dataQ, KEY(PKEY))
		od;
		/* Producer.Close -> closeSide */
		pclosed = 1;
		powner = 0;
		wake(dataSeq, dataQ, KEY(PKEY));
		wake(spaceSeq, spaceQ, KEY(PKEY));
		goto pdone;
peerdead:
		presult = PEER_DEAD;
pdone:
		pfin = 1
	} unless {
		pdead -> spaceQ = 0; presult = DIED; pfin = 1
	}
}

#if DEATH
/* At most one death, at any moment, of a side that has not finished. */
active proctype killer() {
	if
	:: !pfin -> pdead = 1
	:: !cfin -> cdead = 1
	:: skip
	fi
}
#endif

/* (c); compile pan.c without -DSAFETY and run ./pan -a -f to check it. */
ltl terminates { <> (pfin && cfin) }
