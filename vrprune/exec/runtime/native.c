/* native.c -- the C core of vrprune's runtime: FIFOs and the actor loop for C actors.
 *
 * Same semantics as vrprune/exec/_fifo.py and _runtime.py (read that first): a ring of
 * `cap` token rows plus a mirror tail, in a buffer owned by Python (numpy); one reader and
 * one writer thread per FIFO; the fast path is an atomic load of the other side's count;
 * a thread that must sleep records its need under the FIFO mutex, re-checks and waits on a
 * condition variable; the other side, after publishing its count (seq_cst), signals only
 * when a need is recorded. vrp_actor_run is the whole firing loop of one C actor, called
 * once from its Python thread through cffi (which releases the GIL for the whole run).
 *
 * Batched wake-ups (C loops only). A sleeper records its minimum need (rneed/wneed: the
 * window it waits for) and a wish (rwant/wwant: at least half the capacity). The C loop's
 * commits wake a sleeper only when the wish is met, so a fast pipeline hands over several
 * tokens per context switch instead of one. To stay deadlock-free, a C actor about to sleep,
 * about to fire for long (its last firing took over 50 us, or its firings may wait on a socket:
 * `blocking`, the TX and RX actors), or ending first "flushes": it
 * wakes every sleeper on its own FIFOs whose *minimum* need is met. Hence when every thread
 * sleeps, no sleeper's minimum need is met: a real deadlock, which the watchdog reports.
 * Commits from Python (the exported vrp_fifo_*_end) are eager: they wake on the minimum.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "vrprune.h"

#define LD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

enum { R_OK = 0, R_EOS = 1, R_ABORT = 2 };

typedef struct vrp_fifo {
    uint8_t *buf;
    int64_t cap, tb;
    int64_t wr, rd;         /* tokens written / read; atomics */
    int64_t rneed, wneed;   /* sleeping side's need (0: awake); atomics */
    int64_t rwant, wwant;   /* what the sleeper wishes to be woken for (>= need) */
    int32_t wclosed, rclosed, aborted;
    int64_t max_fill;
    pthread_mutex_t mu;
    pthread_cond_t rcv, wcv;
} vrp_fifo;

vrp_fifo *vrp_fifo_new(void *buf, int64_t cap, int64_t tb, int64_t initial) {
    vrp_fifo *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->buf = buf; f->cap = cap; f->tb = tb; f->wr = initial; f->max_fill = initial;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->rcv, NULL);
    pthread_cond_init(&f->wcv, NULL);
    return f;
}

void vrp_fifo_free(vrp_fifo *f) {
    if (!f) return;
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->rcv);
    pthread_cond_destroy(&f->wcv);
    free(f);
}

/* [wr, rd, rneed, wneed, wclosed, rclosed, aborted, max_fill] */
void vrp_fifo_stat(vrp_fifo *f, int64_t *o) {
    pthread_mutex_lock(&f->mu);
    o[0] = LD(&f->wr); o[1] = LD(&f->rd); o[2] = LD(&f->rneed); o[3] = LD(&f->wneed);
    o[4] = LD(&f->wclosed); o[5] = LD(&f->rclosed); o[6] = LD(&f->aborted); o[7] = f->max_fill;
    pthread_mutex_unlock(&f->mu);
}

/* Wait for n readable tokens; returns the row of the window (>= 0), or -1 EOS, -2 aborted. */
int64_t vrp_fifo_read_start(vrp_fifo *f, int64_t n) {
    if (LD(&f->wr) - f->rd < n) {
        pthread_mutex_lock(&f->mu);
        for (;;) {
            if (LD(&f->wr) - f->rd >= n) break;
            if (LD(&f->aborted)) { pthread_mutex_unlock(&f->mu); return -2; }
            if (LD(&f->wclosed)) { pthread_mutex_unlock(&f->mu); return -1; }
            ST(&f->rwant, n > f->cap / 2 ? n : f->cap / 2);
            ST(&f->rneed, n);
            if (LD(&f->wr) - f->rd >= n) { ST(&f->rneed, 0); break; }
            pthread_cond_wait(&f->rcv, &f->mu);
        }
        ST(&f->rneed, 0);
        pthread_mutex_unlock(&f->mu);
    }
    int64_t pos = f->rd % f->cap;
    if (pos + n > f->cap) /* wraps: head rows into the mirror tail */
        memcpy(f->buf + f->cap * f->tb, f->buf, (size_t)((pos + n - f->cap) * f->tb));
    return pos;
}

/* Wake the writer if it sleeps and its room need (eager) or wish (lazy) is met. */
static void wake_writer(vrp_fifo *f, int eager) {
    int64_t need = LD(&f->wneed);
    if (need) {
        int64_t room = f->cap - (LD(&f->wr) - LD(&f->rd));
        if (room < need) return;
        if (!eager && room < LD(&f->wwant)) return;
        pthread_mutex_lock(&f->mu);
        need = LD(&f->wneed);
        if (need && f->cap - (LD(&f->wr) - LD(&f->rd)) >= need) { ST(&f->wneed, 0); pthread_cond_signal(&f->wcv); }
        pthread_mutex_unlock(&f->mu);
    }
}

static void wake_reader(vrp_fifo *f, int eager) {
    int64_t need = LD(&f->rneed);
    if (need) {
        int64_t fill = LD(&f->wr) - LD(&f->rd);
        if (fill < need) return;
        if (!eager && fill < LD(&f->rwant)) return;
        pthread_mutex_lock(&f->mu);
        need = LD(&f->rneed);
        if (need && LD(&f->wr) - LD(&f->rd) >= need) { ST(&f->rneed, 0); pthread_cond_signal(&f->rcv); }
        pthread_mutex_unlock(&f->mu);
    }
}

static void read_end(vrp_fifo *f, int64_t n, int eager) {
    ST(&f->rd, f->rd + n);
    wake_writer(f, eager);
}
void vrp_fifo_read_end(vrp_fifo *f, int64_t n) { read_end(f, n, 1); }

/* Wait for room for n tokens; returns the row of the window, or -1 (reader gone, no room), -2 aborted. */
int64_t vrp_fifo_write_start(vrp_fifo *f, int64_t n) {
    if (f->cap - (f->wr - LD(&f->rd)) < n) {
        pthread_mutex_lock(&f->mu);
        for (;;) {
            if (LD(&f->aborted)) { pthread_mutex_unlock(&f->mu); return -2; }
            if (f->cap - (f->wr - LD(&f->rd)) >= n) break; /* room: write even if the reader ended */
            if (LD(&f->rclosed)) { pthread_mutex_unlock(&f->mu); return -1; }
            ST(&f->wwant, n > f->cap / 2 ? n : f->cap / 2);
            ST(&f->wneed, n);
            if (f->cap - (f->wr - LD(&f->rd)) >= n) { ST(&f->wneed, 0); break; }
            pthread_cond_wait(&f->wcv, &f->mu);
        }
        ST(&f->wneed, 0);
        pthread_mutex_unlock(&f->mu);
    }
    return f->wr % f->cap;
}

static void write_end(vrp_fifo *f, int64_t n, int eager) {
    int64_t pos = f->wr % f->cap;
    if (pos + n > f->cap) /* wrote into the mirror tail: copy to the ring head */
        memcpy(f->buf, f->buf + f->cap * f->tb, (size_t)((pos + n - f->cap) * f->tb));
    int64_t wr = f->wr + n;
    ST(&f->wr, wr);
    int64_t fill = wr - LD(&f->rd);
    if (fill > f->max_fill) f->max_fill = fill;
    wake_reader(f, eager);
}
void vrp_fifo_write_end(vrp_fifo *f, int64_t n) { write_end(f, n, 1); }

static void fifo_set(vrp_fifo *f, int32_t *flag) {
    pthread_mutex_lock(&f->mu);
    ST(flag, 1);
    ST(&f->rneed, 0); ST(&f->wneed, 0);
    pthread_cond_broadcast(&f->rcv);
    pthread_cond_broadcast(&f->wcv);
    pthread_mutex_unlock(&f->mu);
}
void vrp_fifo_close_write(vrp_fifo *f) { fifo_set(f, &f->wclosed); }
void vrp_fifo_close_read(vrp_fifo *f) { fifo_set(f, &f->rclosed); }
void vrp_fifo_abort(vrp_fifo *f) { fifo_set(f, &f->aborted); }

/* ------------------------------------------------------------------ the actor loop */
typedef struct {
    int32_t n_in, n_out, n_cout;
    vrp_fifo **in; int32_t *in_rate;    /* rate 0: atr */
    vrp_fifo **out; int32_t *out_rate;
    vrp_fifo *cin; vrp_fifo **cout;
    vrp_fire_fn fire; void *state;
    vrp_buf *inb, *outb;
    int64_t limit;                      /* -1: until end of stream */
    int32_t is_ca, is_source, check_atr, lo, hi;
    int32_t *replay; int64_t n_replay;
    int32_t timed;
    int32_t *stop;
    int64_t firings;                    /* atomic; read by the watchdog */
    double total_s, min_s, max_s;
    int32_t rc, bad_atr;                /* fire's return code / the CA's out-of-range atr */
    int32_t blocking;                   /* fire may wait on the outside world (a socket): flush first */
} vrp_actor;

enum { A_DONE = 0, A_END = 1, A_EOS = 2, A_ABORT = 3, A_FIRE_ERROR = 4, A_BAD_ATR = 5, A_NO_ATR = 6, A_BAD_END = 7 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Wake every sleeper on this actor's FIFOs whose minimum need is met (see the top). */
static void flush(vrp_actor *a) {
    for (int i = 0; i < a->n_in; i++) wake_writer(a->in[i], 1);
    if (a->cin) wake_writer(a->cin, 1);
    for (int i = 0; i < a->n_out; i++) wake_reader(a->out[i], 1);
    for (int i = 0; i < a->n_cout; i++) wake_reader(a->cout[i], 1);
}

static int would_block_read(vrp_fifo *f, int64_t n) { return LD(&f->wr) - f->rd < n; }
static int would_block_write(vrp_fifo *f, int64_t n) { return f->cap - (f->wr - LD(&f->rd)) < n; }

#define LONG_FIRE_S 50e-6

#define GRANT(expr) do { int64_t p_ = (expr); if (p_ < 0) return p_ == -1 ? A_EOS : A_ABORT; pos = p_; } while (0)

static int actor_loop(vrp_actor *a) {
    int64_t k = 0;
    int32_t atr = -1;
    double last = 0;
    while (k != a->limit) {
        if (LD(a->stop)) return A_ABORT;
        int64_t pos;
        if (a->cin) {
            if (would_block_read(a->cin, 1)) flush(a);
            GRANT(vrp_fifo_read_start(a->cin, 1));
            memcpy(&atr, a->cin->buf + pos * a->cin->tb, sizeof atr);
        }
        for (int i = 0; i < a->n_in; i++) {
            vrp_fifo *f = a->in[i];
            int64_t n = a->in_rate[i] ? a->in_rate[i] : atr;
            if (would_block_read(f, n)) flush(a);
            GRANT(vrp_fifo_read_start(f, n));
            a->inb[i].data = f->buf + pos * f->tb;
            a->inb[i].count = (int32_t)n;
        }
        for (int i = 0; i < a->n_out; i++) {
            vrp_fifo *f = a->out[i];
            int64_t n = a->out_rate[i] ? a->out_rate[i] : atr;
            if (would_block_write(f, n)) flush(a);
            GRANT(vrp_fifo_write_start(f, n));
            a->outb[i].data = f->buf + pos * f->tb;
            a->outb[i].count = (int32_t)n;
        }
        for (int i = 0; i < a->n_cout; i++) {
            if (would_block_write(a->cout[i], 1)) flush(a);
            GRANT(vrp_fifo_write_start(a->cout[i], 1));
        }
        k++;
        int32_t fatr = a->cin ? atr : -1;
        if (last > LONG_FIRE_S || a->blocking) flush(a);
        double t0 = now_s();
        int rc = a->fire(a->state, a->inb, a->n_in, a->outb, a->n_out, &fatr);
        double d = now_s() - t0;
        last = d;
        if (a->timed) {
            a->total_s += d;
            if (d < a->min_s) a->min_s = d;
            if (d > a->max_s) a->max_s = d;
        }
        if (rc == VRP_END && a->is_source) return A_END;
        if (rc != VRP_OK) { a->rc = rc; return rc == VRP_END ? A_BAD_END : A_FIRE_ERROR; }
        if (a->is_ca) {
            int32_t chosen = fatr;
            if (a->n_replay) chosen = a->replay[k - 1 < a->n_replay ? k - 1 : a->n_replay - 1];
            else if (chosen < 0) return A_NO_ATR;
            else if (a->check_atr && (chosen < a->lo || chosen > a->hi)) { a->bad_atr = chosen; return A_BAD_ATR; }
            for (int i = 0; i < a->n_cout; i++) {
                vrp_fifo *f = a->cout[i];
                memcpy(f->buf + (f->wr % f->cap) * f->tb, &chosen, sizeof chosen);
                write_end(f, 1, 0);
            }
        }
        for (int i = 0; i < a->n_in; i++) read_end(a->in[i], a->inb[i].count, 0);
        if (a->cin) read_end(a->cin, 1, 0);
        for (int i = 0; i < a->n_out; i++) write_end(a->out[i], a->outb[i].count, 0);
        ST(&a->firings, k);
    }
    return A_DONE;
}

int vrp_actor_run(vrp_actor *a) {
    int rc = actor_loop(a);
    flush(a);
    return rc;
}
