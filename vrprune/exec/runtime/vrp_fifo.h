/* vrp_fifo.h -- the FIFO core and the firing loop of C actors, one source for both runtimes:
 * the executor's C core (vrprune/exec/runtime/native.c) and the runtime library of generated
 * programs (vrprune/compile/runtime/vrp_rt.c; `vrprune compile` copies this file into the
 * program's runtime/ folder). Same semantics as vrprune/exec/_fifo.py and _runtime.py.
 *
 * A FIFO is a ring of `cap` token rows plus a mirror tail, so every window is contiguous; one
 * reader and one writer thread. The fast path is an atomic load of the other side's count; a
 * thread that must sleep records its need under the FIFO mutex, re-checks and waits on a
 * condition variable; the other side, after publishing its count (seq_cst), signals only when
 * a need is recorded. Who owns the ring differs (native.c: numpy; vrp_rt.c: malloc), so each
 * includer sets `buf` itself.
 *
 * Batched wake-ups (C loops only). A sleeper records its minimum need (rneed/wneed: the window
 * it waits for) and a wish (rwant/wwant: at least half the capacity). The loop's commits are
 * lazy: they wake a sleeper only when the wish is met, so a fast pipeline hands over several
 * tokens per context switch instead of one. To stay deadlock-free, an actor about to sleep,
 * about to fire for long (its last firing took over LONG_FIRE_S), or ending first "flushes";
 * a firing that may wait outside the FIFOs (TX and RX, on a socket: the executor's txrx.c and
 * the compiled programs' vrp_net.c) flushes its loop itself just before a call that would
 * block (actor_flush through the runtime's exported hook). A flush wakes every sleeper
 * on its own FIFOs whose *minimum* need is met. Hence when every thread sleeps, no sleeper's
 * minimum need is met: a real deadlock. Eager commits (native.c's exported vrp_fifo_*_end,
 * called from Python) wake on the minimum.
 *
 * How to use it. This file has two parts:
 *
 *   1. (always) VRP_FIFO_FIELDS, the fields of the FIFO core, for the includer's struct
 *      vrp_fifo (typedef'd to vrp_fifo), the loop's result codes VRP_A_*, VRP_LD/VRP_ST;
 *   2. (where VRP_FIFO_IMPLEMENTATION is defined, in one .c file, after vrp_fifo and
 *      vrp_actor are complete types) the FIFO operations and the loop as static functions:
 *      fifo_init/_destroy, fifo_read_start/_end, fifo_write_start/_end (their `eager` flag:
 *      see above), fifo_set (close a side, abort), actor_flush, actor_loop, actor_run.
 *      Plain `static`, not `inline`: the compiler inlines as it did when each runtime had its
 *      own copy (same machine code); an includer uses them all (-Wall -Wextra -Werror clean).
 *
 * vrp_actor must have: n_in, n_out, n_cout, in, in_rate, out, out_rate, cin, cout, fire, state,
 * inb, outb, limit, is_ca, lo, hi, firings, rc, bad_atr (see native.c). Hooks, macros
 * the includer may define before part 2:
 *
 *   VRP_LOOP_STOPPED(a)    (required) nonzero when the run is being stopped
 *   VRP_LOOP_IS_SOURCE(a)  the actor may end the stream; default: no data or control input
 *   VRP_LOOP_CHECK_ATR(a)  check a CA's atr against [lo, hi]; default 1
 *   VRP_LOOP_REPLAY        1: the actor has `replay`/`n_replay` (a CA's atr sequence to replay
 *                          instead of its own, unchecked); default 0
 *   VRP_LOOP_TIMED(a, d)   a statement run after every firing, d its seconds; default none
 *   VRP_LOOP_GREEDY(a)     the most firings one call of `fire` may do (a "greedy window"); default 0
 *   VRP_LOOP_FIRING(a, k)  a statement run just before firing k (1-based) and with k = 0 just after
 *                          (the executor's watchdog reads it); default none
 *   VRP__STOPPED           a fire's return code meaning "saw the stop flag" (vrp_net.h): the
 *                          run is aborted (rc kept), not failed
 *
 * Greedy windows (the executor's C TX and RX, vrprune/net/runtime/txrx.c). An actor with one
 * static-rate data port and nothing else (no control port, not a CA) whose fire can do several
 * firings in one call gets, once its one-firing window is granted, the whole contiguous window
 * that is ready -- every token its input holds, or all the room of its output, in whole
 * firings, at most VRP_LOOP_GREEDY(a) and at most the firings left -- and sets the window's
 * count to what it did (at least one firing); the loop commits that and counts those firings
 * (VRP_LOOP_TIMED gets each an equal share of the call's time). A TX then sends the waiting
 * tokens in one sendmsg, an RX receives every frame already in its socket into the free slots:
 * one wake-up moves several tokens. The order and the tokens are those of single firings.
 */
#ifndef VRP_FIFO_H
#define VRP_FIFO_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "vrprune.h"

#define VRP_LD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define VRP_ST(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

/* The FIFO core; `buf` holds cap + (largest window - 1) rows of tb bytes. */
#define VRP_FIFO_FIELDS                                                            \
    uint8_t *buf;                                                                  \
    int64_t cap, tb;        /* capacity in tokens, bytes per token */              \
    int64_t wr, rd;         /* tokens written / read; atomics */                   \
    int64_t rneed, wneed;   /* sleeping side's need (0: awake); atomics */         \
    int64_t rwant, wwant;   /* what the sleeper wishes to be woken for (>= need) */ \
    int32_t wclosed, rclosed, aborted;                                             \
    int64_t max_fill;                                                              \
    pthread_mutex_t mu;                                                            \
    pthread_cond_t rcv, wcv;

/* How an actor's run ended (vrprune/exec/_native.py's A_* mirror these). */
enum { VRP_A_DONE = 0, VRP_A_END, VRP_A_EOS, VRP_A_ABORT, VRP_A_FIRE_ERROR, VRP_A_BAD_ATR, VRP_A_NO_ATR,
       VRP_A_BAD_END };

#endif /* VRP_FIFO_H */

/* ================================================================== part 2: the implementation */
#if defined(VRP_FIFO_IMPLEMENTATION) && !defined(VRP_FIFO_IMPLEMENTED)
#define VRP_FIFO_IMPLEMENTED

#ifndef VRP_LOOP_STOPPED
#error "define VRP_LOOP_STOPPED(a) before including vrp_fifo.h with VRP_FIFO_IMPLEMENTATION"
#endif
#ifndef VRP_LOOP_IS_SOURCE
#define VRP_LOOP_IS_SOURCE(a) ((a)->n_in == 0 && (a)->cin == NULL)
#endif
#ifndef VRP_LOOP_CHECK_ATR
#define VRP_LOOP_CHECK_ATR(a) 1
#endif
#ifndef VRP_LOOP_REPLAY
#define VRP_LOOP_REPLAY 0
#endif
#ifndef VRP_LOOP_TIMED
#define VRP_LOOP_TIMED(a, d) ((void)0)
#endif
#ifndef VRP_LOOP_GREEDY
#define VRP_LOOP_GREEDY(a) 0
#endif
#ifndef VRP_LOOP_FIRING
#define VRP_LOOP_FIRING(a, k) ((void)0)
#endif

/* ------------------------------------------------------------------ FIFOs */
static void fifo_init(vrp_fifo *f, int64_t initial) {
    f->wr = initial;
    f->max_fill = initial;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->rcv, NULL);
    pthread_cond_init(&f->wcv, NULL);
}

static void fifo_destroy(vrp_fifo *f) {
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->rcv);
    pthread_cond_destroy(&f->wcv);
}

/* Wait for n readable tokens; returns the row of the window (>= 0), or -1 EOS, -2 aborted. */
static int64_t fifo_read_start(vrp_fifo *f, int64_t n) {
    if (VRP_LD(&f->wr) - f->rd < n) {
        pthread_mutex_lock(&f->mu);
        for (;;) {
            if (VRP_LD(&f->wr) - f->rd >= n) break;
            if (VRP_LD(&f->aborted)) { pthread_mutex_unlock(&f->mu); return -2; }
            if (VRP_LD(&f->wclosed)) { pthread_mutex_unlock(&f->mu); return -1; }
            VRP_ST(&f->rwant, n > f->cap / 2 ? n : f->cap / 2);
            VRP_ST(&f->rneed, n);
            if (VRP_LD(&f->wr) - f->rd >= n) { VRP_ST(&f->rneed, 0); break; }
            pthread_cond_wait(&f->rcv, &f->mu);
        }
        VRP_ST(&f->rneed, 0);
        pthread_mutex_unlock(&f->mu);
    }
    int64_t pos = f->rd % f->cap;
    if (pos + n > f->cap) /* wraps: head rows into the mirror tail */
        memcpy(f->buf + f->cap * f->tb, f->buf, (size_t)((pos + n - f->cap) * f->tb));
    return pos;
}

/* Wake the writer if it sleeps and its room need (eager) or wish (lazy) is met. */
static void fifo_wake_writer(vrp_fifo *f, int eager) {
    int64_t need = VRP_LD(&f->wneed);
    if (need) {
        int64_t room = f->cap - (VRP_LD(&f->wr) - VRP_LD(&f->rd));
        if (room < need) return;
        if (!eager && room < VRP_LD(&f->wwant)) return;
        pthread_mutex_lock(&f->mu);
        need = VRP_LD(&f->wneed);
        if (need && f->cap - (VRP_LD(&f->wr) - VRP_LD(&f->rd)) >= need) {
            VRP_ST(&f->wneed, 0);
            pthread_cond_signal(&f->wcv);
        }
        pthread_mutex_unlock(&f->mu);
    }
}

/* Wake the reader if it sleeps and its fill need (eager) or wish (lazy) is met. */
static void fifo_wake_reader(vrp_fifo *f, int eager) {
    int64_t need = VRP_LD(&f->rneed);
    if (need) {
        int64_t fill = VRP_LD(&f->wr) - VRP_LD(&f->rd);
        if (fill < need) return;
        if (!eager && fill < VRP_LD(&f->rwant)) return;
        pthread_mutex_lock(&f->mu);
        need = VRP_LD(&f->rneed);
        if (need && VRP_LD(&f->wr) - VRP_LD(&f->rd) >= need) {
            VRP_ST(&f->rneed, 0);
            pthread_cond_signal(&f->rcv);
        }
        pthread_mutex_unlock(&f->mu);
    }
}

static void fifo_read_end(vrp_fifo *f, int64_t n, int eager) {
    VRP_ST(&f->rd, f->rd + n);
    fifo_wake_writer(f, eager);
}

/* Wait for room for n tokens; returns the row of the window, or -1 (reader gone, no room), -2 aborted. */
static int64_t fifo_write_start(vrp_fifo *f, int64_t n) {
    if (f->cap - (f->wr - VRP_LD(&f->rd)) < n) {
        pthread_mutex_lock(&f->mu);
        for (;;) {
            if (VRP_LD(&f->aborted)) { pthread_mutex_unlock(&f->mu); return -2; }
            if (f->cap - (f->wr - VRP_LD(&f->rd)) >= n) break; /* room: write even if the reader ended */
            if (VRP_LD(&f->rclosed)) { pthread_mutex_unlock(&f->mu); return -1; }
            VRP_ST(&f->wwant, n > f->cap / 2 ? n : f->cap / 2);
            VRP_ST(&f->wneed, n);
            if (f->cap - (f->wr - VRP_LD(&f->rd)) >= n) { VRP_ST(&f->wneed, 0); break; }
            pthread_cond_wait(&f->wcv, &f->mu);
        }
        VRP_ST(&f->wneed, 0);
        pthread_mutex_unlock(&f->mu);
    }
    return f->wr % f->cap;
}

static void fifo_write_end(vrp_fifo *f, int64_t n, int eager) {
    int64_t pos = f->wr % f->cap;
    if (pos + n > f->cap) /* wrote into the mirror tail: copy to the ring head */
        memcpy(f->buf, f->buf + f->cap * f->tb, (size_t)((pos + n - f->cap) * f->tb));
    int64_t wr = f->wr + n;
    VRP_ST(&f->wr, wr);
    int64_t fill = wr - VRP_LD(&f->rd);
    if (fill > f->max_fill) f->max_fill = fill;
    fifo_wake_reader(f, eager);
}

/* Raise one of the FIFO's flags (wclosed, rclosed, aborted) and wake both sides. */
static void fifo_set(vrp_fifo *f, int32_t *flag) {
    pthread_mutex_lock(&f->mu);
    VRP_ST(flag, 1);
    VRP_ST(&f->rneed, 0);
    VRP_ST(&f->wneed, 0);
    pthread_cond_broadcast(&f->rcv);
    pthread_cond_broadcast(&f->wcv);
    pthread_mutex_unlock(&f->mu);
}

/* ------------------------------------------------------------------ the actor loop */
static double vrp_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wake every sleeper on this actor's FIFOs whose minimum need is met (see the top). */
static void actor_flush(vrp_actor *a) {
    for (int i = 0; i < a->n_in; i++) fifo_wake_writer(a->in[i], 1);
    if (a->cin) fifo_wake_writer(a->cin, 1);
    for (int i = 0; i < a->n_out; i++) fifo_wake_reader(a->out[i], 1);
    for (int i = 0; i < a->n_cout; i++) fifo_wake_reader(a->cout[i], 1);
}

static int fifo_would_block_read(vrp_fifo *f, int64_t n) { return VRP_LD(&f->wr) - f->rd < n; }
static int fifo_would_block_write(vrp_fifo *f, int64_t n) { return f->cap - (f->wr - VRP_LD(&f->rd)) < n; }

/* Take the n-token window of one data input (read) or output (!read) into *b, flushing first
 * when it must wait; returns fifo_read_start's / fifo_write_start's result. */
static int64_t actor_window(vrp_actor *a, vrp_fifo *f, int64_t n, int read, vrp_buf *b) {
    if (read ? fifo_would_block_read(f, n) : fifo_would_block_write(f, n)) actor_flush(a);
    int64_t pos = read ? fifo_read_start(f, n) : fifo_write_start(f, n);
    if (pos >= 0) {
        b->data = f->buf + pos * f->tb;
        b->count = (int32_t)n;
        b->token_bytes = (int32_t)f->tb;
    }
    return pos;
}

#define LONG_FIRE_S 50e-6

#define VRP_GRANT(expr)                                               \
    do {                                                              \
        int64_t p_ = (expr);                                          \
        if (p_ < 0) return p_ == -1 ? VRP_A_EOS : VRP_A_ABORT;        \
        pos = p_;                                                     \
    } while (0)

/* The firing loop: `limit` firings (-1: until end of stream); returns VRP_A_*. */
static int actor_loop(vrp_actor *a) {
    int64_t k = 0;
    int32_t atr = -1;
    double last = 0;
    int is_source = VRP_LOOP_IS_SOURCE(a);
    /* a greedy window: the one data port, its rate and its window (see the top) */
    int64_t greedy = VRP_LOOP_GREEDY(a), grate = 0;
    vrp_buf *gb = NULL;
    if (greedy > 1 && a->n_in + a->n_out == 1 && !a->cin && !a->n_cout && !a->is_ca) {
        grate = a->n_in ? a->in_rate[0] : a->out_rate[0];
        gb = a->n_in ? &a->inb[0] : &a->outb[0];
    }
    if (grate <= 0) greedy = 0;
    while (k != a->limit) {
        if (VRP_LOOP_STOPPED(a)) return VRP_A_ABORT;
        int64_t pos;
        if (a->cin) {
            if (fifo_would_block_read(a->cin, 1)) actor_flush(a);
            VRP_GRANT(fifo_read_start(a->cin, 1));
            memcpy(&atr, a->cin->buf + pos * a->cin->tb, sizeof atr);
        }
        for (int i = 0; i < a->n_in; i++)
            VRP_GRANT(actor_window(a, a->in[i], a->in_rate[i] ? a->in_rate[i] : atr, 1, &a->inb[i]));
        for (int i = 0; i < a->n_out; i++)
            VRP_GRANT(actor_window(a, a->out[i], a->out_rate[i] ? a->out_rate[i] : atr, 0, &a->outb[i]));
        for (int i = 0; i < a->n_cout; i++) {
            if (fifo_would_block_write(a->cout[i], 1)) actor_flush(a);
            VRP_GRANT(fifo_write_start(a->cout[i], 1));
        }
        int64_t most = 1; /* firings this call may do */
        if (greedy) {
            vrp_fifo *f = a->n_in ? a->in[0] : a->out[0];
            int64_t ready = a->n_in ? VRP_LD(&f->wr) - f->rd : f->cap - (f->wr - VRP_LD(&f->rd));
            int64_t row = (a->n_in ? f->rd : f->wr) % f->cap;
            if (ready > f->cap - row) ready = f->cap - row; /* contiguous: not into the mirror tail */
            most = ready / grate;
            if (most > greedy) most = greedy;
            if (a->limit >= 0 && most > a->limit - k) most = a->limit - k;
            if (most < 1) most = 1; /* the one-firing window (it may wrap into the mirror tail) */
            gb->count = (int32_t)(most * grate);
        }
        k++;
        int32_t fatr = a->cin ? atr : -1;
        if (last > LONG_FIRE_S) actor_flush(a);
        VRP_LOOP_FIRING(a, k);
        double t0 = vrp_now_s();
        int rc = a->fire(a->state, a->inb, a->n_in, a->outb, a->n_out, &fatr);
        double d = vrp_now_s() - t0;
        VRP_LOOP_FIRING(a, 0);
        int64_t did = 1;
        if (greedy && rc == VRP_OK) {
            did = gb->count / grate;
            if (gb->count % grate || did < 1 || did > most) { a->rc = VRP_ERROR; return VRP_A_FIRE_ERROR; }
            k += did - 1;
            d /= (double)did;
        }
        last = d;
        for (int64_t i = 0; i < did; i++) VRP_LOOP_TIMED(a, d);
        if (rc == VRP_END && is_source) return VRP_A_END;
        if (rc != VRP_OK) {
            a->rc = rc;
#ifdef VRP__STOPPED
            if (rc == VRP__STOPPED) return VRP_A_ABORT;
#endif
            return rc == VRP_END ? VRP_A_BAD_END : VRP_A_FIRE_ERROR;
        }
        if (a->is_ca) {
            int32_t chosen = fatr;
#if VRP_LOOP_REPLAY
            if (a->n_replay) chosen = a->replay[k - 1 < a->n_replay ? k - 1 : a->n_replay - 1];
            else
#endif
            if (chosen < 0) return VRP_A_NO_ATR;
            else if (VRP_LOOP_CHECK_ATR(a) && (chosen < a->lo || chosen > a->hi)) { a->bad_atr = chosen; return VRP_A_BAD_ATR; }
            for (int i = 0; i < a->n_cout; i++) {
                vrp_fifo *f = a->cout[i];
                memcpy(f->buf + (f->wr % f->cap) * f->tb, &chosen, sizeof chosen);
                fifo_write_end(f, 1, 0);
            }
        }
        for (int i = 0; i < a->n_in; i++) fifo_read_end(a->in[i], a->inb[i].count, 0);
        if (a->cin) fifo_read_end(a->cin, 1, 0);
        for (int i = 0; i < a->n_out; i++) fifo_write_end(a->out[i], a->outb[i].count, 0);
        VRP_ST(&a->firings, k);
    }
    return VRP_A_DONE;
}

/* The loop, then a last flush (the actor ends: wake whom it can); returns VRP_A_*. */
static int actor_run(vrp_actor *a) {
    int rc = actor_loop(a);
    actor_flush(a);
    return rc;
}

#endif /* VRP_FIFO_IMPLEMENTATION */
