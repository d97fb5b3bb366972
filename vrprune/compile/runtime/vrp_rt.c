/* vrp_rt.c -- FIFOs, the firing loop and the program driver of generated programs.
 * See vrp_rt.h. The FIFO and the loop are vrprune/exec/runtime/native.c's, with the ring
 * owned here instead of by numpy.
 *
 * Batched wake-ups. A sleeper records its minimum need (rneed/wneed) and a wish (rwant/wwant:
 * at least half the capacity). Commits wake a sleeper only when the wish is met, so a fast
 * pipeline hands over several tokens per context switch instead of one. To stay deadlock-free,
 * an actor about to sleep, about to fire for long (its last firing took over 50 us, or it is a
 * TX/RX whose firing may wait on a socket: `blocking`), or ending first "flushes": it wakes every sleeper on its own FIFOs whose minimum need is met.
 */
#define _GNU_SOURCE
#include "vrp_rt.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vrp_net.h"

#define LD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

volatile int32_t vrp__stop;
static vrp_program *g_prog;

/* ------------------------------------------------------------------ FIFOs */
int vrp_fifo_open(vrp_fifo *f) {
    int64_t rows = f->cap + (f->window > 1 ? f->window - 1 : 0);
    f->buf = calloc((size_t)rows, (size_t)(f->tb > 0 ? f->tb : 1));
    if (!f->buf) return -1;
    f->wr = f->initial;
    f->max_fill = f->initial;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->rcv, NULL);
    pthread_cond_init(&f->wcv, NULL);
    return 0;
}

void vrp_fifo_close(vrp_fifo *f) {
    if (!f->buf) return;
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->rcv);
    pthread_cond_destroy(&f->wcv);
    free(f->buf);
    f->buf = NULL;
}

/* Wait for n readable tokens; returns the row of the window (>= 0), or -1 EOS, -2 aborted. */
static int64_t read_start(vrp_fifo *f, int64_t n) {
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

static void read_end(vrp_fifo *f, int64_t n) {
    ST(&f->rd, f->rd + n);
    wake_writer(f, 0);
}

/* Wait for room for n tokens; returns the row of the window, or -1 (reader gone, no room), -2 aborted. */
static int64_t write_start(vrp_fifo *f, int64_t n) {
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

static void write_end(vrp_fifo *f, int64_t n) {
    int64_t pos = f->wr % f->cap;
    if (pos + n > f->cap) /* wrote into the mirror tail: copy to the ring head */
        memcpy(f->buf, f->buf + f->cap * f->tb, (size_t)((pos + n - f->cap) * f->tb));
    int64_t wr = f->wr + n;
    ST(&f->wr, wr);
    int64_t fill = wr - LD(&f->rd);
    if (fill > f->max_fill) f->max_fill = fill;
    wake_reader(f, 0);
}

static void fifo_set(vrp_fifo *f, int32_t *flag) {
    pthread_mutex_lock(&f->mu);
    ST(flag, 1);
    ST(&f->rneed, 0);
    ST(&f->wneed, 0);
    pthread_cond_broadcast(&f->rcv);
    pthread_cond_broadcast(&f->wcv);
    pthread_mutex_unlock(&f->mu);
}
void vrp_fifo_abort(vrp_fifo *f) { fifo_set(f, &f->aborted); }

/* ------------------------------------------------------------------ the actor loop */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wake every sleeper on this actor's FIFOs whose minimum need is met. */
static void flush(vrp_actor *a) {
    for (int i = 0; i < a->n_in; i++) wake_writer(a->in[i], 1);
    if (a->cin) wake_writer(a->cin, 1);
    for (int i = 0; i < a->n_out; i++) wake_reader(a->out[i], 1);
    for (int i = 0; i < a->n_cout; i++) wake_reader(a->cout[i], 1);
}

static int would_block_read(vrp_fifo *f, int64_t n) { return LD(&f->wr) - f->rd < n; }
static int would_block_write(vrp_fifo *f, int64_t n) { return f->cap - (f->wr - LD(&f->rd)) < n; }

#define LONG_FIRE_S 50e-6
#define GRANT(expr)                                                   \
    do {                                                              \
        int64_t p_ = (expr);                                          \
        if (p_ < 0) return p_ == -1 ? VRP_A_EOS : VRP_A_ABORT;        \
        pos = p_;                                                     \
    } while (0)

static int actor_loop(vrp_actor *a) {
    int64_t k = 0;
    int32_t atr = -1;
    double last = 0;
    int is_source = a->n_in == 0 && a->cin == NULL;
    while (k != a->limit) {
        if (LD(&vrp__stop)) return VRP_A_ABORT;
        int64_t pos;
        if (a->cin) {
            if (would_block_read(a->cin, 1)) flush(a);
            GRANT(read_start(a->cin, 1));
            memcpy(&atr, a->cin->buf + pos * a->cin->tb, sizeof atr);
        }
        for (int i = 0; i < a->n_in; i++) {
            vrp_fifo *f = a->in[i];
            int64_t n = a->in_rate[i] ? a->in_rate[i] : atr;
            if (would_block_read(f, n)) flush(a);
            GRANT(read_start(f, n));
            a->inb[i].data = f->buf + pos * f->tb;
            a->inb[i].count = (int32_t)n;
            a->inb[i].token_bytes = (int32_t)f->tb;
        }
        for (int i = 0; i < a->n_out; i++) {
            vrp_fifo *f = a->out[i];
            int64_t n = a->out_rate[i] ? a->out_rate[i] : atr;
            if (would_block_write(f, n)) flush(a);
            GRANT(write_start(f, n));
            a->outb[i].data = f->buf + pos * f->tb;
            a->outb[i].count = (int32_t)n;
            a->outb[i].token_bytes = (int32_t)f->tb;
        }
        for (int i = 0; i < a->n_cout; i++) {
            if (would_block_write(a->cout[i], 1)) flush(a);
            GRANT(write_start(a->cout[i], 1));
        }
        k++;
        int32_t fatr = a->cin ? atr : -1;
        if (last > LONG_FIRE_S || a->blocking) flush(a);
        double t0 = now_s();
        int rc = a->fire(a->state, a->inb, a->n_in, a->outb, a->n_out, &fatr);
        last = now_s() - t0;
        if (rc == VRP_END && is_source) return VRP_A_END;
        if (rc != VRP_OK) {
            a->rc = rc;
            if (rc == VRP__STOPPED) return VRP_A_ABORT;
            return rc == VRP_END ? VRP_A_BAD_END : VRP_A_FIRE_ERROR;
        }
        if (a->is_ca) {
            int32_t chosen = fatr;
            if (chosen < 0) return VRP_A_NO_ATR;
            if (chosen < a->lo || chosen > a->hi) { a->bad_atr = chosen; return VRP_A_BAD_ATR; }
            for (int i = 0; i < a->n_cout; i++) {
                vrp_fifo *f = a->cout[i];
                memcpy(f->buf + (f->wr % f->cap) * f->tb, &chosen, sizeof chosen);
                write_end(f, 1);
            }
        }
        for (int i = 0; i < a->n_in; i++) read_end(a->in[i], a->inb[i].count);
        if (a->cin) read_end(a->cin, 1);
        for (int i = 0; i < a->n_out; i++) write_end(a->out[i], a->outb[i].count);
        ST(&a->firings, k);
    }
    return VRP_A_DONE;
}

/* ------------------------------------------------------------------ threads */
static pthread_barrier_t g_barrier;
static pthread_mutex_t g_fail_mu = PTHREAD_MUTEX_INITIALIZER;
static vrp_actor *g_failed[64];
static int g_n_failed;

void vrp__abort_all(void) {
    ST(&vrp__stop, 1);
    if (!g_prog) return;
    for (int i = 0; i < g_prog->n_fifos; i++)
        if (g_prog->fifos[i]->buf) vrp_fifo_abort(g_prog->fifos[i]);
    vrp_net_shutdown(g_prog);
}

static void fail(vrp_actor *a, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(vrp_actor *a, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error, sizeof a->error, fmt, ap);
    va_end(ap);
    a->status = status;
    pthread_mutex_lock(&g_fail_mu);
    if (g_n_failed < (int)(sizeof g_failed / sizeof g_failed[0])) g_failed[g_n_failed++] = a;
    pthread_mutex_unlock(&g_fail_mu);
    vrp__abort_all();
}

static void close_fifo_side(vrp_fifo *f, int32_t *flag) {
    pthread_mutex_lock(&f->mu);
    ST(flag, 1);
    ST(&f->rneed, 0);
    ST(&f->wneed, 0);
    pthread_cond_broadcast(&f->rcv);
    pthread_cond_broadcast(&f->wcv);
    pthread_mutex_unlock(&f->mu);
}

static void *actor_main(void *arg) {
    vrp_actor *a = arg;
#ifdef __linux__
    if (a->cpu >= 0 && a->cpu < CPU_SETSIZE) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(a->cpu, &set);
        (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
    }
#endif
    vrp__clear_error();
    a->inited = 1;
    if (a->init) {
        void *st = a->init(a->params, a->n_params);
        const char *msg = vrp__last_error();
        if (msg[0]) {
            a->inited = 0;
            fail(a, VRP_A_INIT_ERROR, "actor '%s' failed in init: init failed: %s", a->name, msg);
            vrp__clear_error();
        } else {
            a->state = st;
        }
    }
    pthread_barrier_wait(&g_barrier);
    if (a->inited && !LD(&vrp__stop)) {
        int st = actor_loop(a);
        flush(a);
        a->status = st;
        int64_t k = LD(&a->firings) + 1;
        const char *msg = vrp__last_error();
        switch (st) {
        case VRP_A_FIRE_ERROR:
            fail(a, st, "actor '%s' failed in firing %lld: %s returned %d%s%s", a->name, (long long)k, a->fire_name,
                 a->rc, msg[0] ? ": " : "", msg);
            break;
        case VRP_A_BAD_END:
            fail(a, st, "actor '%s' failed in firing %lld: returned VRP_END, but only a source (no data inputs) "
                        "may end the stream", a->name, (long long)k);
            break;
        case VRP_A_NO_ATR:
            fail(a, st, "actor '%s' failed in firing %lld: a configuration actor must write its atr into *atr",
                 a->name, (long long)k);
            break;
        case VRP_A_BAD_ATR:
            fail(a, st, "actor '%s' failed in firing %lld: returned atr %d, outside the DPG's rate range [%d, %d]",
                 a->name, (long long)k, a->bad_atr, a->lo, a->hi);
            break;
        default:
            break;
        }
    }
    for (int i = 0; i < a->n_out; i++) close_fifo_side(a->out[i], &a->out[i]->wclosed);
    for (int i = 0; i < a->n_cout; i++) close_fifo_side(a->cout[i], &a->cout[i]->wclosed);
    for (int i = 0; i < a->n_in; i++) close_fifo_side(a->in[i], &a->in[i]->rclosed);
    if (a->cin) close_fifo_side(a->cin, &a->cin->rclosed);
    if (a->inited && a->finish) a->finish(a->state);
    ST(&a->done, 1);
    return NULL;
}

/* ------------------------------------------------------------------ the program */
static void usage(const vrp_program *p, const char *argv0, FILE *to) {
    fprintf(to,
            "usage: %s [--iterations N] [--quiet]%s\n"
            "Graph '%s'%s%s, generated by `vrprune compile` from %s.\n"
            "  --iterations N   run N graph iterations (actor a fires q[a]*N times); default %s\n"
            "  --quiet, -q      no summary on stdout\n",
            argv0, p->n_edges ? " [--port-base P] [--listen-all] [--connect-timeout S] [--psk-file F] [--tls-cert PEM --tls-key PEM --tls-ca PEM]" : "",
            p->graph, p->host ? " on host " : "", p->host ? p->host : "", p->source,
            p->iterations >= 0 ? "as compiled" : "until the sources end");
    if (p->n_edges)
        fprintf(to, "  --port-base P    TCP port of edge 0 (edge i uses P+i); default %d\n"
                    "  --listen-all     RX sockets listen on all interfaces (default 127.0.0.1)\n"
                    "  --connect-timeout S  how long RX waits for its TX and TX retries its RX (default 30)\n"
                    "  --psk-file F     pre-shared key (`vrprune keygen --psk F`), the same on every host\n"
                    "  --tls-cert PEM --tls-key PEM --tls-ca PEM  TLS with mutual certificates (`vrprune keygen\n"
                    "                   --tls DIR`): this host's certificate and key, the CA of every host's\n",
                p->port_base);
    fprintf(to, "exit codes: 0 ok; 1 an actor or a link failed; 2 usage error; 130 interrupted.\n");
}

static int parse_long(const char *s, long long lo, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo) return -1;
    *out = v;
    return 0;
}

int vrp_main(vrp_program *p, int argc, char **argv) {
    vrp_net_opts net = {.port_base = p->port_base, .listen_addr = "127.0.0.1", .connect_timeout_s = 30.0};
    long long iterations = p->iterations;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long x;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(p, argv[0], stdout); return 0; }
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = 1;
        else if (!strcmp(a, "--iterations") && v && !parse_long(v, 0, &x)) { iterations = x; i++; }
        else if (p->n_edges && !strcmp(a, "--port-base") && v && !parse_long(v, 1, &x) && x < 65536) { net.port_base = (int)x; i++; }
        else if (p->n_edges && !strcmp(a, "--listen-all")) net.listen_addr = "0.0.0.0";
        else if (p->n_edges && !strcmp(a, "--connect-timeout") && v && atof(v) > 0) { net.connect_timeout_s = atof(v); i++; }
        else if (p->n_edges && !strcmp(a, "--psk-file") && v) { net.psk_file = v; i++; }
        else if (p->n_edges && !strcmp(a, "--tls-cert") && v) { net.tls_cert = v; i++; }
        else if (p->n_edges && !strcmp(a, "--tls-key") && v) { net.tls_key = v; i++; }
        else if (p->n_edges && !strcmp(a, "--tls-ca") && v) { net.tls_ca = v; i++; }
        else {
            fprintf(stderr, "%s: error: bad argument '%s'%s\n", p->graph, a,
                    v || a[0] != '-' ? "" : " (missing value?)");
            usage(p, argv[0], stderr);
            return 2;
        }
    }
    g_prog = p;
    /* SIGINT/SIGTERM go to the main thread's sigtimedwait below; no thread is interrupted. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < p->n_fifos; i++)
        if (vrp_fifo_open(p->fifos[i])) {
            fprintf(stderr, "%s: error: out of memory for fifo '%s' (%lld x %lld bytes)\n", p->graph,
                    p->fifos[i]->name, (long long)p->fifos[i]->cap, (long long)p->fifos[i]->tb);
            return 1;
        }
    int code = 0;
    if (p->n_edges) {
        if (vrp_net_setup(p, &net)) code = 1;
    }
    double t0 = now_s(), wall = 0;
    int interrupted = 0;
    char peer_error[512] = "";
    if (!code) {
        pthread_barrier_init(&g_barrier, NULL, (unsigned)p->n_actors + 1);
        int started = 0;
        for (int i = 0; i < p->n_actors; i++) {
            vrp_actor *a = p->actors[i];
            a->limit = iterations >= 0 ? a->q * iterations : -1;
            if (pthread_create(&a->thread, NULL, actor_main, a)) {
                fprintf(stderr, "%s: error: cannot start a thread for actor '%s'\n", p->graph, a->name);
                vrp__abort_all();
                break;
            }
            started++;
        }
        if (started < p->n_actors) {
            /* the barrier counts every actor: stand in for the ones that never started */
            for (int i = started; i < p->n_actors; i++) p->actors[i]->done = 1;
            code = 1;
        }
        for (int i = started; i < p->n_actors; i++) pthread_barrier_wait(&g_barrier);
        pthread_barrier_wait(&g_barrier);
        t0 = now_s();
        struct timespec tick = {0, 50 * 1000 * 1000};
        for (;;) {
            int all_done = 1;
            for (int i = 0; i < p->n_actors; i++)
                if (!LD(&p->actors[i]->done)) { all_done = 0; break; }
            if (all_done) break;
            int sig = sigtimedwait(&sigs, NULL, &tick);
            if (sig == SIGINT || sig == SIGTERM) {
                interrupted = sig;
                vrp__abort_all();
            }
            if (!LD(&vrp__stop) && p->n_edges && vrp_net_peer_gone(p, peer_error, sizeof peer_error))
                vrp__abort_all();
        }
        for (int i = 0; i < started; i++) pthread_join(p->actors[i]->thread, NULL);
        wall = now_s() - t0;
        pthread_barrier_destroy(&g_barrier);
    }
    vrp_net_close(p);

    const char *status = "ok";
    if (interrupted) {
        status = "interrupted";
        fprintf(stderr, "%s: interrupted\n", p->graph);
        code = 128 + interrupted;
    } else if (g_n_failed || peer_error[0] || code) {
        status = "error";
        if (peer_error[0]) fprintf(stderr, "error: %s\n", peer_error);
        for (int i = 0; i < g_n_failed; i++) fprintf(stderr, "error: %s\n", g_failed[i]->error);
        code = 1;
    }
    if (!quiet) {
        long long total = 0;
        size_t width = 0;
        for (int i = 0; i < p->n_actors; i++) {
            total += LD(&p->actors[i]->firings);
            if (strlen(p->actors[i]->name) > width) width = strlen(p->actors[i]->name);
        }
        char it[64] = "";
        if (iterations >= 0 && !strcmp(status, "ok")) snprintf(it, sizeof it, "%lld iterations, ", iterations);
        if (p->host)
            printf("graph %s on host %s: %s (%s%lld firings in %.3f s)\n", p->graph, p->host, status, it, total, wall);
        else
            printf("graph %s: %s (%s%lld firings in %.3f s)\n", p->graph, status, it, total, wall);
        for (int i = 0; i < p->n_actors; i++)
            printf("  %-*s  %lld firings\n", (int)width, p->actors[i]->name, (long long)LD(&p->actors[i]->firings));
        vrp_net_summary(p, stdout);
        fflush(stdout);
    }
    for (int i = 0; i < p->n_fifos; i++) vrp_fifo_close(p->fifos[i]);
    return code;
}
