/* vrp_native.h -- what the executor's C core (native.c) shares with Python: the actor's loop
 * state and the exported functions. vrprune/exec/_native.py hands cffi the declarations between
 * the cdef markers (plain C: no #, no macros), so both sides read one definition. */
#ifndef VRP_NATIVE_H
#define VRP_NATIVE_H

#include <stdint.h>

#include "vrprune.h"

/* cdef begin */
typedef struct vrp_fifo vrp_fifo; /* opaque to Python; native.c defines it (vrp_fifo.h's fields) */
vrp_fifo *vrp_fifo_new(void *buf, int64_t cap, int64_t tb, int64_t initial);
void vrp_fifo_free(vrp_fifo *f);
void vrp_fifo_stat(vrp_fifo *f, int64_t *o);
int64_t vrp_fifo_read_start(vrp_fifo *f, int64_t n);
void vrp_fifo_read_end(vrp_fifo *f, int64_t n);
int64_t vrp_fifo_write_start(vrp_fifo *f, int64_t n);
void vrp_fifo_write_end(vrp_fifo *f, int64_t n);
void vrp_fifo_close_write(vrp_fifo *f);
void vrp_fifo_close_read(vrp_fifo *f);
void vrp_fifo_abort(vrp_fifo *f);

/* The actor: one C actor's loop state, shared with Python (vrprune/exec/_native.py). */
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
    int32_t greedy;                     /* the most firings per fire call (vrp_fifo.h's greedy windows); 0: one */
    int64_t in_fire;                    /* atomic: the firing under way (1-based), 0 between firings; the watchdog reads it */
    const char *name;                   /* the actor's name, for the crash report */
} vrp_actor;

int vrp_actor_run(vrp_actor *a);
void vrp_actor_flush(void *a);
void vrp_install_crash_handler(void);
void vrp_crash_mark(const char *name, int64_t k);
/* cdef end */

#endif /* VRP_NATIVE_H */
