/*
 * wakeup.pml: the futex wait/wake protocol of shmring (ring/wait.go), as a
 * Promela model for the Spin model checker; with BELL, the same protocol
 * with the sleeper blocked on an eventfd doorbell instead of the futex (THE
 * DOORBELL below). model/model_test.go runs every configuration below;
 * model/README.md says how to run one by hand.
 *
 * WHAT IS MODELLED
 *
 * One producer and one consumer process over a ring of SLOTS slots carrying
 * MSGS messages (defaults 2 and 3). Message i is the number i, written in
 * slot i%SLOTS, so the consumer can check order and that no slot was
 * overwritten before it was released. Every access to shared memory is one
 * Spin step, in the order the Go code makes it. With ASYM (the default, as
 * the ring's default, flagAsymmetric) the cursor stores go through a store
 * buffer, as on x86; everything else is sequentially consistent (MEMORY
 * MODEL below).
 *
 *   Go (grep for the quoted text; line numbers move)     here
 *   -----------------------------------------------      ----
 *   ring/producer.go publishCursor: "s.store(cursor, v)"  atomic { h++; PUBLISH(head..) } (C)
 *     store: fence.Store64 (relaxed) or StoreFull64       into the buffer, or through it
 *     then "s.peer.sleeping.Load() != 0" -> settle        wakePeer(dataSeq, ...)         (D)
 *   the consumer's release: the same publishCursor        PUBLISH(tail, tnew, t)         (C')
 *     on its own cursor, then its flag check              wakePeer(spaceSeq, ...)        (D')
 *   producer.go / consumer.go poll                        ppoll() / cpoll()
 *   ring/wait.go, the waiter: wait's sleep loop
 *     "if ok, err := p.poll(); ok || err != nil"          first poll of the inner do
 *     "w.check(ctx, p)": checkPeer when the schedule      "if :: due ->" block
 *       is due, then the final poll
 *   ring/wait.go waiter.sleep:
 *     "s := seq.Load()"                                   s = dataSeq / s = spaceSeq
 *     "fence.StoreFull32(sleeping, 1) // (A)"             atomic { DRAIN(own); flag = 1 } (A)
 *     "if w.asym && w.own.fenced.Load() == 0" Heavy       MEMBARRIER: DRAIN(peer's)      (M)
 *     "p.poll(); ok || err != nil { // (B)"               second poll                    (B)
 *     "futex.Wait(word(seq), s, deadline)"                futex_wait(...)
 *     "sleeping.Store(0)"                                 ...Sleeping = 0 (buffer empty)
 *   ring/producer.go wakePeer: "sleeping.Load() != 0"     if :: flag != 0 ->             (D)
 *     wakeSleeper: "s.relaxed && w.wantsFence.Load()"     relaxed && wants -> (handshake)
 *       "s.relaxed = false", "fence.StoreFull32(w.fenced, 1)" relaxed = 0; DRAIN; fenced = 1
 *     "w.sleeping.Swap(0) != 0" (locked: drains)          atomic { DRAIN; flag != 0 -> flag = 0 }
 *     wake: "seq.Add(1)", "futex.Wake(word(seq), 1)"      wake(): word++; futex_wake
 *   ring/wait.go waiter.claim: "own.wantsFence.Store(want)" consumerWantsFence, producerWantsFence
 *   ring/ring.go closeSide: state.Or(bit) (locked),       atomic { DRAIN(own); pclosed/cclosed = 1 },
 *     s.owner.Store(0), wake(&dataSeq), wake(&spaceSeq)    powner/cowner = 0, two wake()s
 *   ring/wait.go checkPeer: owner 0 -> nil, dead -> err   "powner && pdead"
 *  with BELL (ring/doorbell.go; conn/bell.go, bell_linux.go; conn/conn.go)
 *   ring.Doorbell, package conn's eventfd bell            dataBell, spaceBell
 *   "Doorbell.Ring": write(2) of 1                        bell_ring(), in wake()
 *   "Doorbell.Wait" (deadline): read(2), netpoller        bell_wait(), for futex_wait
 *   waiter.check: gone ("Doorbell.Err"), final poll       "if :: producerGone ->" block
 *   conn's watcher: socket EOF -> gone, then ring         killer, after the death: WATCH
 *   ctxWake with a bell: a ring when ctx ends             canceller
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
 * was: its flag may stay raised, its role stays held (owner != 0). With
 * BELL the killer then plays the survivor's watcher (THE DOORBELL).
 * Close: the producer closes after its last message; the consumer drains and
 * reads EOF, then closes too. With CCLOSE the consumer may instead close at
 * any Recv; the producer, blocked on a full ring or not, must end with
 * ErrClosed (or finish its messages first).
 *
 * MEMORY MODEL (ASYM=1; internal/platform/fence's package comment has the argument)
 *
 * x86 is TSO: a store waits in its CPU's FIFO store buffer, and a later
 * load of another address may be satisfied before the store is visible
 * (store->load reordering, the only one). With asymmetric fences the waker
 * publishes its cursor with a release store (a MOV) and then loads the
 * peer's flag (D), so D may pass the cursor store (C): the Dekker pair
 * C-then-D / A-then-B breaks unless the sleeper's membarrier (M) drains the
 * waker's buffer between A and B. The model:
 *   - Each side's cursor stores go through its store buffer: hnew (tnew) is
 *     the side's last store, head (tail) the value in memory, which the
 *     peer reads. Each publication moves the cursor by one, so the buffer
 *     holds exactly the stores head+1 .. hnew, in order: an unbounded FIFO
 *     in two bytes (it never holds more than SLOTS stores: the producer
 *     cannot get more than SLOTS ahead of a tail the consumer released
 *     after seeing head). The side itself reads its own stores through its
 *     local h (t), as store forwarding does.
 *   - A drain may happen at any moment: the process drainer makes the
 *     oldest store visible (head++). Under weak fairness (property (c)) it
 *     runs, so a buffer drains eventually.
 *   - DRAIN (all of a side's buffer) is forced by: the side's own locked
 *     instructions and sequentially consistent stores, which on x86 drain
 *     the buffer before they execute (raising its flag (A), the Swap in
 *     wakeSleeper, whether it finds the flag or not, state.Or in closeSide,
 *     the answer fenced.Store(1)); the peer's membarrier (M); and the
 *     side's death (a killed process passes through the kernel, a full
 *     barrier, before /proc shows it dead: the killer drains and kills in
 *     one step).
 *   - The remaining sequentially consistent stores find the buffer empty
 *     (the flag cleared after futex_wait or after a successful re-check,
 *     seq.Add after the Swap or the Or, owner.Store(0) after the Or) and
 *     have no DRAIN: it would change nothing.
 *   - The slots are written at once. On x86 the producer's slot stores
 *     precede its cursor store in the same FIFO buffer, so they are
 *     visible before it; the consumer reads a slot only after it saw the
 *     cursor past it, so it cannot tell. (A slot write that showed early
 *     could only make the overwrite assertion fail sooner.) Loads are not
 *     reordered with loads, nor with later stores, nor with locked
 *     instructions, so the polls and the snapshot s keep their order.
 *   - Why not a one-entry buffer in which a store waits for the previous
 *     one to drain: that model cannot hold a whole ring of publications in
 *     the buffer, and the lost wake-up below needs it. With a blocking
 *     one-entry buffer MUT_NO_MEMBARRIER gives no counterexample at SLOTS=2
 *     (only at SLOTS=1), where a real CPU (or one batched publication)
 *     holds both. The FIFO costs about nothing over it.
 * ASYM=0 is the ring with Config.SymmetricFences: every cursor store is
 * sequentially consistent, no buffer, no membarrier; the model as it was
 * before asymmetric fences.
 *
 * THE HANDSHAKE (FENCEREQ, with ASYM)
 *
 * A WaitFutex sleeper asks the waker for full fences (wantsFence, set at
 * claim). The waker answers at its next wake (wakeSleeper): from then on it
 * publishes with sequentially consistent stores, and it says so with a
 * sequentially consistent store of fenced = 1, which drains everything it
 * published before. A sleeper that reads fenced = 1 after raising its flag
 * skips the membarrier. FENCEREQ=1: both sides ask; FENCEREQ=2: each side
 * asks or not (both wait modes, chosen at the start); 0 (default): no side
 * asks (the Adaptive, Spin and Yield modes, whose waits end in the same
 * code as WaitFutex's after the polling phases). A new holder of the waker's
 * role clears fenced at claim: role takeover is not modelled.
 *
 * THE DOORBELL (BELL)
 *
 * Issue 21's package conn serves many idle connections without a thread
 * each, so a sleeper there does not futex_wait (a blocked thread): it
 * reads an eventfd through Go's netpoller (a parked goroutine), "Doorbell.Wait".
 * The four bells of a connection (data and space of each of its two rings)
 * are created by the server and passed to the client over the Unix socket
 * (SCM_RIGHTS). The waker rings instead of futex_wake ("Doorbell.Ring");
 * everything else is unchanged: the flags, A, M, B, C, D, the handshake.
 *   - The bell is an eventfd without EFD_SEMAPHORE: a ring adds 1 to its
 *     counter; a wait blocks until the counter is not 0, then takes it and
 *     leaves 0, in one step. A bit holds it exactly (a read takes the whole
 *     count, so only 0 or not matters). It is sticky: a ring before the
 *     wait makes the wait return at once, where the futex needed the
 *     compare with s; several rings give one return; a ring left over
 *     from earlier gives a spurious return, and the sleeper polls again.
 *   - No wait compares the word any more. The Go code still reads s and
 *     bumps the word (the waiter serves both kinds of ring); the model
 *     leaves both out under BELL, as its value decides nothing and would
 *     only multiply the states (by about 3). So MUT_NO_SEQ_BUMP
 *     and MUT_SPLIT_WORD (no key either) change nothing under BELL.
 *   - Other rings of the same bell: a side's own context, when it ends,
 *     rings its bell (ctxWake with the bell), whether the side sleeps or
 *     not: the process canceller, SPURIOUS rings in all, of either bell,
 *     at any moment.
 *   - Death (DEATH): the kernel closes the dead process's end of the Unix
 *     socket, and the watcher in the survivor's process reads EOF; it sets
 *     the survivor's gone flag, then rings the bell the survivor sleeps
 *     on. The killer does both after the death, as two further steps. The
 *     sleeper looks at gone ("Doorbell.Err") in check, after every poll
 *     that found nothing, so after every wake: if set, the final poll
 *     (THE FINAL POLL below), then ErrPeerDead. Gone is set after the
 *     death, so that poll sees all the dead side published. It needs no
 *     timeout: with TIMEOUTS=0 and DEATH=1 the survivor ends by the ring
 *     alone. With TIMEOUTS=1 the liveness check after a timeout runs as
 *     well, and whichever sees the death first ends the wait.
 *   - A side's process also exits after it finished, and its socket's EOF
 *     then sets gone and rings as well: with DEATH the killer may, instead
 *     of killing, watch a side that finished. The final poll after gone
 *     then finds the closed bit (closeSide set it, a locked instruction,
 *     before the exit), so the survivor ends with EOF or ErrClosed:
 *     assert(pdead) (assert(cdead)) where a side reports ErrPeerDead.
 * Not modelled with the bell: the bells' handover on the socket (they are
 * there from the start), several connections, and a gone flag the watcher
 * sets for a peer that lives (it sets it only on the socket's EOF).
 *
 * Left out, because they do not touch the protocol: the spin and yield
 * phases (they only poll; the model is WaitFutex), batching (one cursor
 * store and one wakePeer per batch, as here per message; a batch is a
 * cursor store of several messages, which the FIFO covers: stores drained
 * together), Peek/Release, ErrCorrupt checks, context cancellation (a bump
 * and wake from a third party: one more kind of spurious return; with
 * BELL, its ring is modelled), stopped
 * peers (ErrPeerUnresponsive), role takeover, Ring.Close's wait for the
 * waits to leave (enter/leave, a Dekker pair inside one process), and
 * wrap-around of the 32-bit words.
 *
 * CONFIGURATIONS (-D macros, all optional)
 *   MSGS=n, SLOTS=n  messages and ring size (3 and 2)
 *   TIMEOUTS=0|1     futex waits may time out (0)
 *   DEATH=0|1        one side may die at any step (0)
 *   SPURIOUS=n       spurious returns allowed in all (1)
 *   CCLOSE=0|1       the consumer may close early (1)
 *   ASYM=0|1         asymmetric fences: store buffers, membarrier (1)
 *   FENCEREQ=0|1|2   the handshake: nobody, both, either side asks (0)
 *   BELL=0|1         doorbells instead of the futex (0); combines with
 *                    all of the above (SPURIOUS: context rings)
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
 *      any interleaving and (ASYM) any timing of the store buffers. (The
 *      LTL claim below also holds there.)
 *  (c) The survivor terminates. With TIMEOUTS=1 and DEATH=1, the LTL claim
 *      "terminates" (<> (pfin && cfin)), checked with weak fairness (pan -a
 *      -f), says every fair run ends with both sides finished, the dead one
 *      included: a survivor never sleeps or loops for ever. It gets out by
 *      poll (data, space, EOF, ErrClosed) or by the liveness check after a
 *      timeout reporting the peer dead. Weak fairness only excludes runs in
 *      which a process that could move is never scheduled.
 *  (d) With BELL the survivor ends without timeouts. With TIMEOUTS=0 and
 *      DEATH=1 a survivor asleep can only be woken by a ring, so a death
 *      the watcher's ring does not end is a side blocked for ever (an
 *      invalid end state, safety) or a loop (the LTL claim of (c)); with
 *      CHECK_DRAIN the survivor has read all the dead side published, and
 *      ErrPeerDead comes only from a dead peer (assert(pdead)).
 *      (a) and (b) hold with the bell as with the futex.
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
 *  MUT_NO_MEMBARRIER (ASYM) the sleeper skips the membarrier (M): (b)
 *                   fails, invalid end state. Both sides end asleep: the
 *                   producer publishes until the ring is full, its cursor
 *                   stores still in its buffer, its flag loads (D) finding
 *                   the consumer awake; the consumer raises its flag and
 *                   re-checks the stale head (empty) and sleeps; the
 *                   producer raises its flag (its buffer drains, too late),
 *                   re-checks (full) and sleeps. A lost wake-up of one side
 *                   alone is rescued by the peer's next publication or its
 *                   Close (its Swap finds the flag, or its bump moves the
 *                   word); it hangs only when the peer then sleeps too, on
 *                   a full ring: MSGS > SLOTS (the default 3 > 2; at
 *                   MSGS=2 the search finds no error). With TIMEOUTS the
 *                   timeout rescues both (no error either): a wait of a
 *                   liveness interval instead of a hang.
 *  MUT_NO_FENCE_SWITCH (FENCEREQ) the waker answers the request (fenced =
 *                   1) but goes on publishing with release stores; the
 *                   sleeper, seeing the answer, skips the membarrier: (b)
 *                   fails. It needs a wake before the mutual sleep above,
 *                   so more traffic than the default: SLOTS=1 (or MSGS=4).
 *  With BELL (each gives an invalid end state, at TIMEOUTS=0):
 *  MUT_BELL_NOT_STICKY a ring finds the reader blocked or is lost, like a
 *                   condition variable's signal: (b) fails. The consumer
 *                   closes early while the producer, its flag raised and
 *                   its re-check (full) done, is not yet in its read: the
 *                   ring is lost and the producer reads for ever. The
 *                   futex's compare with s, and the eventfd's counter,
 *                   each keep that wake.
 *  MUT_BELL_NO_GONE_RING (DEATH) the watcher sets gone and does not ring:
 *                   (d) fails. The producer dies; the consumer polls
 *                   (empty), looks at gone (not yet), the watcher sets it,
 *                   and the consumer sleeps with nobody left to ring.
 *                   With TIMEOUTS the liveness check rescues it: a wait
 *                   of a liveness interval instead of a hang.
 *  MUT_BELL_GONE_LATE (DEATH) the watcher rings, then sets gone: (d) fails.
 *                   The ring wakes the consumer, which polls, finds gone
 *                   not yet set and sleeps again; gone comes with no
 *                   ring. The flag must be set before the ring that
 *                   tells of it, as the cursor before the wake.
 *  Under BELL MUT_NO_RECHECK, MUT_NO_MEMBARRIER, MUT_NO_FENCE_SWITCH
 *  and MUT_NO_FINAL_POLL fail as without it: the bell takes the futex's
 *  place, not the flag's Dekker pair's. MUT_NO_FINAL_POLL also fails on
 *  assert(pdead): the producer closes and exits after the consumer's
 *  poll (empty, open), and gone alone reads as a death.
 *
 * THE FINAL POLL (found by this model)
 *  CHECK_DRAIN adds assert(head == t) where the consumer reports the
 *  producer dead: "ErrPeerDead if the producer's process died while the
 *  ring was empty" (consumer.go, Recv). An earlier waitFor failed it: the
 *  consumer polls (empty), the producer publishes one more message and
 *  dies, the liveness check finds it dead, and Recv returned ErrPeerDead
 *  with that message unread. waiter.check now polls once more after checkPeer
 *  reports death (a dead process publishes nothing more, so that poll is
 *  final). MUT_NO_FINAL_POLL removes that poll: CHECK_DRAIN fails. With
 *  ASYM the assertion also needs the dead producer's buffer drained before
 *  it is seen dead (above): head is then everything it published.
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
#ifndef ASYM
#define ASYM 1
#endif
#ifndef FENCEREQ
#define FENCEREQ 0
#endif
#ifndef BELL
#define BELL 0
#endif

#if ASYM && FENCEREQ
#define HANDSHAKE 1
#else
#define HANDSHAKE 0
#endif

/* The store buffers (see MEMORY MODEL above). With ASYM, head and tail are
 * the cursors in memory, what the peer reads; hnew and tnew each side's
 * last cursor store. The buffer holds the values between: head+1 .. hnew.
 * DRAIN empties a buffer (a locked instruction, a membarrier, a death);
 * the drainer process empties it one store at a time. PUBLISH is a cursor
 * store: a release store goes into the buffer; a sequentially consistent
 * one (with the handshake, once the side has answered) drains the buffer
 * and writes memory. Without ASYM: no buffer, every store goes to memory. */
#if ASYM
#define DRAIN(mem, buf) mem = buf
#if HANDSHAKE
#define PUBLISH(mem, buf, v) if :: relaxed -> buf = v :: else -> buf = v; mem = v fi
#else
#define PUBLISH(mem, buf, v) buf = v
#endif
#else
#define DRAIN(mem, buf) skip
#define PUBLISH(mem, buf, v) mem = v
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
byte head, tail;                        /* cursors in memory: published, released */
byte hnew, tnew;                        /* the same, with the store buffers (ASYM) */
bit consumerWantsFence = HANDSHAKE, producerWantsFence = HANDSHAKE; /* requests */
bit producerFenced, consumerFenced;     /* the wakers' answers */
byte slot[SLOTS];
bit pclosed, cclosed;                   /* state: stateProducerClosed, stateConsumerClosed */
bit powner = 1, cowner = 1;             /* roles held (side.owner != 0) */
byte dataSeq, spaceSeq;                 /* futex words */
bit consumerSleeping, producerSleeping; /* the flags */

/* The kernel and the world. */
byte dataQ, spaceQ;                     /* wait queues of the two words: key, 0 none */
byte spur = SPURIOUS;                   /* spurious returns left (BELL: rings by a context) */
bit pdead, cdead;                       /* process died */
#if BELL
/* The doorbells (THE DOORBELL above): the eventfd counters, 0 or not (a
 * read takes the whole count, so nothing else matters); dataQ and spaceQ
 * are then only MUT_BELL_NOT_STICKY's "blocked in the read". The gone
 * flags belong to the survivor's process, not to the segment:
 * producerGone is the consumer's watcher's "the producer's process is gone". */
bit dataBell, spaceBell;                /* the consumer's bell, the producer's */
bit producerGone, consumerGone;
#else
#define dataBell  0                     /* wake's argument, unused with the futex */
#define spaceBell 0
#endif

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

/* "Doorbell.Ring": one write(2) of 1 to the eventfd, which adds to its
 * counter whether anyone reads or not: a ring before the wait is kept.
 * MUT_BELL_NOT_STICKY keeps it only if the reader is blocked in its read
 * (q != 0), as a condition variable's signal. */
inline bell_ring(bell, q) {
	atomic {
#ifdef MUT_BELL_NOT_STICKY
		if
		:: q != 0 -> bell = 1
		:: else -> skip
		fi
#else
		bell = 1
#endif
	}
}

/* "Doorbell.Wait(deadline)": a read(2) of the eventfd, parked in the
 * netpoller until the counter is not 0; the read takes the count and
 * leaves 0, in one step. No compare with a word: a ring that came first
 * makes it return at once, several give one return, a stale one a
 * spurious return. With TIMEOUTS the deadline may pass at any moment. */
inline bell_wait(bell, q, res) {
#ifdef MUT_BELL_NOT_STICKY
	q = 1;
#endif
	if
	:: atomic { bell != 0 -> bell = 0; q = 0; res = WOKEN }
	:: atomic { TIMEOUTS -> q = 0; res = TIMEDOUT }
	fi
}

/* Package conn's watcher, on the socket's EOF: gone, then the ring.
 * MUT_BELL_NO_GONE_RING does not ring; MUT_BELL_GONE_LATE rings first. */
#if defined(MUT_BELL_NO_GONE_RING)
#define WATCH(gone, bell, q) gone = 1
#elif defined(MUT_BELL_GONE_LATE)
#define WATCH(gone, bell, q) bell_ring(bell, q); gone = 1
#else
#define WATCH(gone, bell, q) gone = 1; bell_ring(bell, q)
#endif

/* ring/wait.go wake: bump the word, then wake the sleeper on it; with
 * BELL, ring its bell instead ("Doorbell.Ring"). With the bell no wait
 * compares the word, so the model neither bumps nor reads it (THE
 * DOORBELL). */
inline wake(word, q, key, bell) {
#if BELL
	bell_ring(bell, q)
#else
#ifndef MUT_NO_SEQ_BUMP
	word++;
#endif
	futex_wake(q, key)
#endif
}

/* ring/producer.go wakePeer and wakeSleeper: a load, then (with the
 * handshake) the answer to a request for full fences, then a swap. The swap
 * and the answer are locked instructions: they drain the waker's own store
 * buffer (mem, buf) first, whatever they find. */
inline wakePeer(word, flag, q, key, bell, mem, buf, wants, fenced) {
	if
	:: flag != 0 ->                                 /* (D) */
#if HANDSHAKE
		if
		:: relaxed && wants ->
#ifndef MUT_NO_FENCE_SWITCH
			relaxed = 0;
#endif
			atomic { DRAIN(mem, buf); fenced = 1 }
		:: else -> skip
		fi;
#endif
		if
		:: atomic { flag != 0 -> DRAIN(mem, buf); flag = 0 }; wake(word, q, key, bell)
		:: atomic { flag == 0 -> DRAIN(mem, buf) }
		fi
	:: else -> skip
	fi
}

/* ring/wait.go waiter.sleep: "if w.asym && w.own.fenced.Load() == 0 { fence.Heavy() }",
 * the sleeper's membarrier (M) between raising its flag and the re-check. A
 * full barrier on the CPU running the peer drains the peer's buffer (mem,
 * buf). With the handshake it is skipped once the peer has answered. Used
 * only with ASYM and without MUT_NO_MEMBARRIER. */
#if HANDSHAKE
#define MEMBARRIER(mem, buf, fenced) if :: fenced == 0 -> DRAIN(mem, buf) :: else -> skip fi
#else
#define MEMBARRIER(mem, buf, fenced) DRAIN(mem, buf)
#endif

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
#if HANDSHAKE
	bit relaxed = 1; /* slots.relaxed: release stores until asked */
#endif
#if HANDSHAKE && FENCEREQ == 2
	/* The sides' wait modes, at claim: a WaitFutex sleeper asks for full
	 * fences, another does not. (Nobody reads a request before this.) */
	atomic {
		if :: consumerWantsFence = 0 :: skip fi;
		if :: producerWantsFence = 0 :: skip fi
	};
#endif
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
#if BELL && DEATH
				if
				:: producerGone ->                      /* "Doorbell.Err" */
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
				fi;
#endif
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
#if !BELL
				s = dataSeq;
#endif
				atomic { DRAIN(tail, tnew); consumerSleeping = 1 }; /* (A) */
#if ASYM && !defined(MUT_NO_MEMBARRIER)
				MEMBARRIER(head, hnew, producerFenced); /* (M) */
#endif
#ifndef MUT_NO_RECHECK
				cpoll();                                /* (B) */
				if
				:: pr != NONE -> consumerSleeping = 0; break
				:: else -> skip
				fi;
#endif
#if BELL
				bell_wait(dataBell, dataQ, res);
#else
				futex_wait(dataSeq, dataQ, s, KEY(CKEY), res);
#endif
				consumerSleeping = 0;
				d_step { due = (res == TIMEDOUT); res = WOKEN; s = 0 }
			od;
			if
			:: pr == ENDED -> assert(t == MSGS); cresult = GOT_EOF; break
			:: else -> skip
			fi;
			assert(slot[t % SLOTS] == t);
			t++;
			atomic { PUBLISH(tail, tnew, t) };             /* (C') */
			wakePeer(spaceSeq, producerSleeping, spaceQ, KEY(CKEY), spaceBell, tail, tnew, producerWantsFence, consumerFenced)
		od;
		/* Consumer.Close -> closeSide */
		atomic { DRAIN(tail, tnew); cclosed = 1 };
		cowner = 0;
		wake(dataSeq, dataQ, KEY(CKEY), dataBell);
		wake(spaceSeq, spaceQ, KEY(CKEY), spaceBell);
		goto cdone;
peerdead:
		cresult = PEER_DEAD;
#if BELL
		assert(pdead);  /* not an exit after Close */
#endif
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
#if HANDSHAKE
	bit relaxed = 1;
#endif
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
#if BELL && DEATH
				if
				:: consumerGone ->                      /* "Doorbell.Err" */
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
				fi;
#endif
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
#if !BELL
				s = spaceSeq;
#endif
				atomic { DRAIN(head, hnew); producerSleeping = 1 }; /* (A) */
#if ASYM && !defined(MUT_NO_MEMBARRIER)
				MEMBARRIER(tail, tnew, consumerFenced); /* (M) */
#endif
#ifndef MUT_NO_RECHECK
				ppoll();                                /* (B) */
				if
				:: pr != NONE -> producerSleeping = 0; break
				:: else -> skip
				fi;
#endif
#if BELL
				bell_wait(spaceBell, spaceQ, res);
#else
				futex_wait(spaceSeq, spaceQ, s, KEY(PKEY), res);
#endif
				producerSleeping = 0;
				d_step { due = (res == TIMEDOUT); res = WOKEN; s = 0 }
			od;
			if
			:: pr == ENDED -> assert(cclosed); presult = GOT_CLOSED; break
			:: else -> skip
			fi;
			slot[h % SLOTS] = h;
			atomic { h++; PUBLISH(head, hnew, h) };         /* (C) */
			wakePeer(dataSeq, consumerSleeping, dataQ, KEY(PKEY), dataBell, head, hnew, consumerWantsFence, producerFenced)
		od;
		/* Producer.Close -> closeSide */
		atomic { DRAIN(head, hnew); pclosed = 1 };
		powner = 0;
		wake(dataSeq, dataQ, KEY(PKEY), dataBell);
		wake(spaceSeq, spaceQ, KEY(PKEY), spaceBell);
		goto pdone;
peerdead:
		presult = PEER_DEAD;
#if BELL
		assert(cdead);
#endif
pdone:
		pfin = 1
	} unless {
		pdead -> spaceQ = 0; presult = DIED; pfin = 1
	}
}

#if DEATH
/* At most one death, at any moment, of a side that has not finished.
 * With BELL the process goes on as package conn's watcher in the
 * survivor's process: the kernel closes the dead process's end of the Unix
 * socket after the death, the watcher's read reports EOF, and it sets gone,
 * then rings the bell its side sleeps on, in two steps. (One process for
 * the killing and the watching is exact: the watcher acts only after the
 * death, and its steps interleave with the survivor's as a thread's.) */
active proctype killer() {
	if
	:: !pfin -> atomic { DRAIN(head, hnew); pdead = 1 }
#if BELL
		; WATCH(producerGone, dataBell, dataQ)
#endif
	:: !cfin -> atomic { DRAIN(tail, tnew); cdead = 1 }
#if BELL
		; WATCH(consumerGone, spaceBell, spaceQ)
	/* No death: a side that finished exits, and its socket's EOF is seen
	 * the same way. */
	:: pfin -> WATCH(producerGone, dataBell, dataQ)
	:: cfin -> WATCH(consumerGone, spaceBell, spaceQ)
#endif
	:: skip
	fi
}
#endif

#if BELL && SPURIOUS
/* Context cancellations: a side's context, when it ends, rings the side's
 * own bell (the Go code's ctxWake, with the bell), while the side sleeps
 * or not: a ring from a third party, which may wake a wait or be left in
 * the counter for a later one. SPURIOUS of them in all; the process may
 * also stop ringing (so that weak fairness never forces a ring). */
active proctype canceller() {
end:
	do
	:: atomic { spur > 0 -> spur--; bell_ring(dataBell, dataQ) }
	:: atomic { spur > 0 -> spur--; bell_ring(spaceBell, spaceQ) }
	:: atomic { spur > 0 -> spur = 0 }
	od
}
#endif

#if ASYM
/* The store buffers drain on their own, at any moment. */
active proctype drainer() {
end:
	do
	:: atomic { head != hnew -> head++ }
	:: atomic { tail != tnew -> tail++ }
	od
}
#endif

/* (c); compile pan.c without -DSAFETY and run ./pan -a -f to check it. */
ltl terminates { <> (pfin && cfin) }
