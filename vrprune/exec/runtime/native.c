/* native.c -- the C core of vrprune's runtime: FIFOs and the actor loop for C actors.
 *
 * The FIFO and the firing loop are vrp_fifo.h's (shared with the runtime of generated programs;
 * read it, and vrprune/exec/_fifo.py and _runtime.py, first). Here: the ring lives in a buffer
 * owned by Python (numpy), the stop flag is a pointer, and this file exports what vrp_native.h
 * declares (vrprune/exec/_native.py hands cffi that header's declarations). vrp_actor_run is the whole
 * firing loop of one C actor, called once from its Python thread through cffi (which releases
 * the GIL for the whole run). Commits from Python (the exported vrp_fifo_*_end) are eager: they
 * wake a sleeper on its minimum need; the loop's are lazy (batched wake-ups, see vrp_fifo.h).
 */
#include <stdlib.h>

#include "vrp_fifo.h"
#include "vrp_native.h"

struct vrp_fifo { VRP_FIFO_FIELDS };


#define VRP_LOOP_STOPPED(a) VRP_LD((a)->stop)
#define VRP_LOOP_IS_SOURCE(a) ((a)->is_source)
#define VRP_LOOP_CHECK_ATR(a) ((a)->check_atr)
#define VRP_LOOP_REPLAY 1
#define VRP_LOOP_GREEDY(a) ((a)->greedy)
#define VRP_LOOP_FIRING(a, k) vrp_firing((a), (k))
static void vrp_firing(vrp_actor *a, int64_t k);
#define VRP_LOOP_TIMED(a, d)                     \
    do {                                         \
        if ((a)->timed) {                        \
            (a)->total_s += (d);                 \
            if ((d) < (a)->min_s) (a)->min_s = (d); \
            if ((d) > (a)->max_s) (a)->max_s = (d); \
        }                                        \
    } while (0)
#define VRP_FIFO_IMPLEMENTATION
#include "vrp_fifo.h"

#include <signal.h>
#include <unistd.h>

/* ------------------------------------------------------------------ crash reports
 * A C actor that crashes (SIGSEGV, SIGBUS, SIGFPE, SIGILL, abort()) would kill the process with
 * no word. The loop records, per thread, the actor under way (vrp_firing); the handler says
 * which actor and which firing crashed, on stderr with write(2) only (async-signal-safe), then
 * gives the signal back to the handler that was there before (the default: the process dies
 * of it, as before). */
static __thread vrp_actor *vrp_current;
static __thread const char *vrp_mark_name; /* a C actor fired by the Python loop (vrp_crash_mark) */
static __thread int64_t vrp_mark_k;
static struct sigaction vrp_old_action[32];
static const int vrp_crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

static void vrp_firing(vrp_actor *a, int64_t k) {
    VRP_ST(&a->in_fire, k);
    vrp_current = k ? a : NULL;
}

static size_t vrp_put(char *buf, size_t n, size_t cap, const char *s) {
    while (*s && n < cap) buf[n++] = *s++;
    return n;
}

static void vrp_on_crash(int sig, siginfo_t *info, void *ctx) {
    vrp_actor *a = vrp_current;
    const char *name = a ? a->name : vrp_mark_name;
    if (name) {
        char buf[512], num[24];
        size_t n = 0, cap = sizeof buf - 1;
        const char *what = sig == SIGSEGV ? "SIGSEGV (invalid memory access)" : sig == SIGBUS ? "SIGBUS (bus error)"
                           : sig == SIGFPE ? "SIGFPE (arithmetic error)" : sig == SIGILL ? "SIGILL (illegal instruction)"
                           : "SIGABRT (abort)";
        int64_t k = a ? VRP_LD(&a->in_fire) : vrp_mark_k;
        int i = (int)sizeof num;
        num[--i] = 0;
        do { num[--i] = (char)('0' + k % 10); k /= 10; } while (k > 0 && i > 0);
        n = vrp_put(buf, n, cap, "\nvrprune run: C actor '");
        n = vrp_put(buf, n, cap, name);
        n = vrp_put(buf, n, cap, "' crashed in firing ");
        n = vrp_put(buf, n, cap, num + i);
        n = vrp_put(buf, n, cap, ": ");
        n = vrp_put(buf, n, cap, what);
        n = vrp_put(buf, n, cap, "; `vrprune run --sanitize` finds where (reads or writes past a buffer)\n");
        ssize_t w = write(2, buf, n);
        (void)w;
    }
    struct sigaction *old = &vrp_old_action[sig];
    if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
        old->sa_sigaction(sig, info, ctx);
        return;
    }
    if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN && old->sa_handler) {
        old->sa_handler(sig);
        return;
    }
    sigaction(sig, old, NULL); /* the default again: returning re-runs the faulting instruction */
    if (sig == SIGABRT || !info || info->si_code <= 0) raise(sig);
}

/* A C actor that the Python loop fires (traced and slowed runs) marks its firing here, so that
 * a crash names it too: (name, k) before the call, (NULL, 0) after. */
void vrp_crash_mark(const char *name, int64_t k) {
    vrp_mark_name = name;
    vrp_mark_k = k;
}

/* Install the handler once (idempotent). */
void vrp_install_crash_handler(void) {
    static int done;
    if (__atomic_exchange_n(&done, 1, __ATOMIC_SEQ_CST)) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = vrp_on_crash;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof vrp_crash_signals / sizeof vrp_crash_signals[0]; i++)
        sigaction(vrp_crash_signals[i], &sa, &vrp_old_action[vrp_crash_signals[i]]);
}

/* ------------------------------------------------------------------ exported to Python */
vrp_fifo *vrp_fifo_new(void *buf, int64_t cap, int64_t tb, int64_t initial) {
    vrp_fifo *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->buf = buf; f->cap = cap; f->tb = tb;
    fifo_init(f, initial);
    return f;
}

void vrp_fifo_free(vrp_fifo *f) {
    if (!f) return;
    fifo_destroy(f);
    free(f);
}

/* [wr, rd, rneed, wneed, wclosed, rclosed, aborted, max_fill] */
void vrp_fifo_stat(vrp_fifo *f, int64_t *o) {
    pthread_mutex_lock(&f->mu);
    o[0] = VRP_LD(&f->wr); o[1] = VRP_LD(&f->rd); o[2] = VRP_LD(&f->rneed); o[3] = VRP_LD(&f->wneed);
    o[4] = VRP_LD(&f->wclosed); o[5] = VRP_LD(&f->rclosed); o[6] = VRP_LD(&f->aborted); o[7] = f->max_fill;
    pthread_mutex_unlock(&f->mu);
}

int64_t vrp_fifo_read_start(vrp_fifo *f, int64_t n) { return fifo_read_start(f, n); }
void vrp_fifo_read_end(vrp_fifo *f, int64_t n) { fifo_read_end(f, n, 1); }
int64_t vrp_fifo_write_start(vrp_fifo *f, int64_t n) { return fifo_write_start(f, n); }
void vrp_fifo_write_end(vrp_fifo *f, int64_t n) { fifo_write_end(f, n, 1); }
void vrp_fifo_close_write(vrp_fifo *f) { fifo_set(f, &f->wclosed); }
void vrp_fifo_close_read(vrp_fifo *f) { fifo_set(f, &f->rclosed); }
void vrp_fifo_abort(vrp_fifo *f) { fifo_set(f, &f->aborted); }

int vrp_actor_run(vrp_actor *a) { return actor_run(a); }
/* For a fire function that may wait outside the FIFOs (a socket): wake every sleeper whose
 * minimum need is met *before* it waits (vrprune/net/runtime/txrx.c calls it only when its
 * socket call would block, so a loop whose data is ready keeps its batched wake-ups). */
void vrp_actor_flush(void *a) { actor_flush((vrp_actor *)a); }
