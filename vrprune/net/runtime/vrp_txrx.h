/* vrp_txrx.h -- the state and entry points of the C TX and RX firings (txrx.c) on plain TCP.
 * Used by the executor (vrprune/net/_native.py hands cffi the declarations between the "cdef"
 * markers below, so Python and C share one definition of vrp_link) and
 * by compiled programs (vrprune/compile/runtime/vrp_net.c; `vrprune compile` copies txrx.c and
 * this file into the program's runtime/ folder). */
#ifndef VRP_TXRX_H
#define VRP_TXRX_H

#include <stdint.h>

#include "vrprune.h"

/* cdef begin: plain declarations only (no #, no macros): cffi reads them from here */
/* what a crossing edge carries: vrprune/net/_split.py's STATIC, VARIABLE, CONTROL */
enum { VRP_LINK_STATIC = 0, VRP_LINK_VARIABLE = 1, VRP_LINK_CONTROL = 2 };

typedef struct {
    int32_t fd, kind, rate, lrl, url;
    int64_t tb;
    uint64_t seq;           /* DATA frames sent / received so far */
    int64_t frames, bytes;
    int64_t calls;          /* fire calls (fewer than frames where greedy windows moved several) */
    int32_t got_end;        /* RX: the END frame arrived */
    int32_t failed;         /* RX: err holds a bad frame's error, not yet reported (the next fire call does) */
    char err[512];
    char peer_host[128];    /* the other end's host name, for messages */
    double t_first, t_last; /* RX: CLOCK_MONOTONIC when the first / latest DATA frame was complete */
    int64_t b_first;        /* RX: payload bytes of the first DATA frame */
    void (*flush)(void *);  /* the loop's actor flush, or NULL (no loop: a test's direct call) */
    void *actor;
} vrp_link;
/* cdef end */

int vrp_txrx_tx_fire(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr);
int vrp_txrx_rx_fire(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr);
int vrp_txrx_max_batch(void); /* the most frames one fire call sends or receives */

#endif /* VRP_TXRX_H */
