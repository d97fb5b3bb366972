/* vrp_net.h -- TX/RX socket FIFOs of generated programs, speaking the wire protocol of
 * vrprune's Python executor (vrprune/net/_wire.py): the same handshake (magic, version,
 * graph fingerprint, edge id, token size, rate, optional pre-shared-key HMAC-SHA256
 * challenge-response) and the same 20-byte frame headers. A compiled endpoint talks to a
 * Python-run server and the other way round.
 *
 * A TX is a built-in sink actor (one DATA frame per firing, END or ABORT at the end); an RX
 * is a built-in source actor (one frame per firing, received straight into its output window;
 * VRP_END on an END frame, so end of stream crosses hosts like any other). On plain TCP their
 * firings are the executor's (txrx.c, with its greedy windows: several frames per call where
 * tokens wait); inside TLS, vrp_net.c's own.
 */
#ifndef VRP_NET_H
#define VRP_NET_H

#include <stdint.h>
#include <stdio.h>

#include "vrprune.h"
#include "vrp_txrx.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vrp_program;
struct vrp_actor;

/* fire() of a built-in actor returns this when the run is stopping (not a failure). */
#define VRP__STOPPED 0x7fff0001

typedef struct vrp_edge {
    /* set by the generated program */
    int32_t index;            /* position of the fifo in the application graph: port = base + index */
    const char *name;         /* the application fifo's name */
    int32_t is_tx;            /* 1: this host sends (TX), 0: receives (RX) */
    const char *src_host, *dst_host;
    const char *address;      /* TX: the RX host's address */
    int64_t token_bytes;
    int32_t rate;             /* tokens per frame: the source port's rate */
    /* run time */
    int sock, port;
    int32_t sent_end;         /* atomic */
    int32_t heartbeats;       /* RX: sends a heartbeat byte a second; TX: reads them (plain TCP only) */
    double last_beat;         /* RX: when the last was sent; TX: when the last was heard (monotonic) */
    char peer[128];
    /* the frame counters of both kinds of firing (seq; frames and bytes, atomics) and the state
     * of the plain-TCP ones (the executor's txrx.c), set before the threads start */
    vrp_link link;
} vrp_edge;

#define VRP_EDGE(INDEX, NAME, IS_TX, SRC, DST, ADDRESS, TB, RATE)                                        \
    { .index = (INDEX), .name = (NAME), .is_tx = (IS_TX), .src_host = (SRC), .dst_host = (DST),          \
      .address = (ADDRESS), .token_bytes = (TB), .rate = (RATE), .sock = -1 }

typedef struct {
    int port_base;
    const char *listen_addr;
    int listen_all;           /* --listen-all: listen_addr is the wildcard */
    double connect_timeout_s;
    const char *psk_file;
    const char *tls_cert, *tls_key, *tls_ca; /* TLS with mutual certificates (vrp_tls.h), or NULL */
    int insecure_key_perms;   /* --insecure-key-perms: use key files that other users may read */
} vrp_net_opts;

int vrp_tx_fire(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr);
void vrp_tx_finish(void *state);
int vrp_rx_fire(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr);
/* Before the threads start, after vrp_net_setup: the edge's TX or RX actor `a` (its plain-TCP
 * firings flush a's loop before a socket wait; greedy windows unless inside TLS). */
void vrp_net_bind(vrp_edge *e, struct vrp_actor *a);
/* After the run: 1 and the message when an RX saw a bad frame that no later firing reported
 * (it came behind good ones in a greedy window, and then the consumer ended). */
int vrp_net_failed(struct vrp_program *p, char *msg, size_t n);

/* Listen for every RX edge, then connect every TX and accept every RX (in parallel), each
 * through the handshake. 0: all connected; -1: failed (the reason is printed). */
int vrp_net_setup(struct vrp_program *p, const vrp_net_opts *o);
/* A TX whose RX closed its connection mid-stream: 1 and a message. */
int vrp_net_peer_gone(struct vrp_program *p, char *msg, size_t n);
void vrp_net_shutdown(struct vrp_program *p); /* wake threads blocked in socket calls */
void vrp_net_close(struct vrp_program *p);
void vrp_net_summary(struct vrp_program *p, FILE *to);

/* SHA-256 and HMAC-SHA256 (the handshake's MACs). */
void vrp_sha256(const uint8_t *data, size_t n, uint8_t out[32]);
void vrp_hmac_sha256(const uint8_t *key, size_t key_n, const uint8_t *const *parts, const size_t *sizes,
                     int n_parts, uint8_t out[32]);

#ifdef __cplusplus
}
#endif
#endif /* VRP_NET_H */
