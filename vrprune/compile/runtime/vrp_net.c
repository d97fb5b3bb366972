/* vrp_net.c -- TX/RX endpoints of generated programs (see vrp_net.h; the wire format: vrp_wire.h and vrprune/net/_wire.py).
 *
 * Handshake (TX connects, RX answers), little-endian:
 *   TX -> RX  HELLO  "VRPR", version u16, flags u16 (bit 0: PSK), edge u32, token_bytes u32,
 *                    rate u32, fingerprint 32 B, nonce_tx 16 B                       (68 B)
 *   RX -> TX  REPLY  "VRPR", version u16, status u8, pad, nonce_rx 16 B, mac_rx 32 B,
 *                    message length u16, message (refusals only)                     (58 B + msg)
 *   TX -> RX  AUTH   mac_tx 32 B
 *   RX -> TX  FINAL  status u8, message length u16, message                         (3 B + msg)
 * mac_rx = HMAC-SHA256(psk, "vrprune-rx" | HELLO | nonce_rx),
 * mac_tx = HMAC-SHA256(psk, "vrprune-tx" | HELLO | nonce_rx | mac_rx); zeros without a PSK.
 * Frames (TX -> RX): type u8 (1 DATA, 2 END, 3 ABORT), pad 3, atr u32, length u32, seq u64,
 * then `length` payload bytes; length = atr * token_bytes, atr = the edge's rate.
 */
#define _GNU_SOURCE
#include "vrp_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "vrp_rt.h"
#include "vrp_tls.h"
#include "vrp_wire.h"

#define LD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

enum { HEARTBEAT_S = 1, LINK_TIMEOUT_S = 15 };
#define HANDSHAKE_TIMEOUT_S 5

/* ------------------------------------------------------------------ SHA-256 / HMAC */
typedef struct { uint32_t h[8]; uint64_t n; uint8_t buf[64]; size_t used; } sha256_ctx;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(sha256_ctx *c, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g; g = f; f = e; e = d + t1; d = cc; cc = b; b = a; a = t1 + t2;
    }
    c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
    c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

static void sha256_init(sha256_ctx *c) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->n = 0;
    c->used = 0;
}

static void sha256_update(sha256_ctx *c, const uint8_t *p, size_t n) {
    c->n += n;
    while (n) {
        size_t k = 64 - c->used < n ? 64 - c->used : n;
        memcpy(c->buf + c->used, p, k);
        c->used += k; p += k; n -= k;
        if (c->used == 64) { sha256_block(c, c->buf); c->used = 0; }
    }
}

static void sha256_final(sha256_ctx *c, uint8_t out[32]) {
    uint64_t bits = c->n * 8;
    uint8_t pad = 0x80, zero = 0, len[8];
    sha256_update(c, &pad, 1);
    while (c->used != 56) sha256_update(c, &zero, 1);
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(c, len, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24); out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8); out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void vrp_sha256(const uint8_t *data, size_t n, uint8_t out[32]) {
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, data, n);
    sha256_final(&c, out);
}

void vrp_hmac_sha256(const uint8_t *key, size_t key_n, const uint8_t *const *parts, const size_t *sizes, int n_parts,
                     uint8_t out[32]) {
    uint8_t k[64] = {0}, pad[64], inner[32];
    if (key_n > 64) vrp_sha256(key, key_n, k);
    else memcpy(k, key, key_n);
    sha256_ctx c;
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
    sha256_init(&c);
    sha256_update(&c, pad, 64);
    for (int i = 0; i < n_parts; i++) sha256_update(&c, parts[i], sizes[i]);
    sha256_final(&c, inner);
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
    sha256_init(&c);
    sha256_update(&c, pad, 64);
    sha256_update(&c, inner, 32);
    sha256_final(&c, out);
}

/* ------------------------------------------------------------------ state */
static vrp_program *g_net_prog;
static const vrp_net_opts *g_opts;
static uint8_t g_psk[4096];
static size_t g_psk_n;
static int g_have_psk;
static volatile int32_t g_cancel;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

static void netlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void netlog(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&g_log_mu);
    fprintf(stderr, "%s [%s]: ", g_net_prog->graph, g_net_prog->host ? g_net_prog->host : "?");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&g_log_mu);
    va_end(ap);
}

static void label(const vrp_edge *e, char *buf, size_t n) {
    snprintf(buf, n, "edge '%s' (%s -> %s, port %d)", e->name, e->src_host, e->dst_host, e->port);
}

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void set_timeout(int s, double secs) {
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Socket buffers of TX and RX connections, set before connect / listen so that TCP's window
 * scale covers them: 4 MiB (the Python executor's default --socket-buffer; Linux caps it at
 * net.core.wmem_max / rmem_max). With 73,728-byte tokens the kernel's autotuned buffers start
 * small and make sender and receiver wait on each other. */
#define VRP_SOCKET_BUFFER (4 << 20)
static long kernel_cap(const char *path) { /* net.core.[wr]mem_max; LONG_MAX where unknown */
    FILE *f = fopen(path, "r");
    long v = LONG_MAX;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = LONG_MAX;
        fclose(f);
    }
    return v;
}
/* A size above the kernel's cap is not set: the kernel would cut it and turn autotuning off. */
static void set_buffers(int s) {
    int n = VRP_SOCKET_BUFFER;
    if (n <= kernel_cap("/proc/sys/net/core/wmem_max")) setsockopt(s, SOL_SOCKET, SO_SNDBUF, &n, sizeof n);
    if (n <= kernel_cap("/proc/sys/net/core/rmem_max")) setsockopt(s, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
}

static void tune(int s) {
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
#ifdef TCP_KEEPIDLE
    int idle = 5, intvl = 2, cnt = 3;
    setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
#endif
#ifdef TCP_USER_TIMEOUT
    unsigned int ut = 15000;
    setsockopt(s, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof ut);
#endif
}

/* 0: got n bytes; -1: error or end of stream (errno 0 at end of stream). */
static int recv_exact(int s, void *buf, size_t n) {
    if (vrp_tls_active(s)) return vrp_tls_recv_exact(s, buf, n);
    uint8_t *p = buf;
    while (n) {
        ssize_t k = recv(s, p, n, 0);
        if (k == 0) { errno = 0; return -1; }
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int send_all(int s, const void *buf, size_t n) {
    if (vrp_tls_active(s)) return vrp_tls_send_all(s, buf, n);
    const uint8_t *p = buf;
    while (n) {
        ssize_t k = send(s, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void mac(const uint8_t *label_, const uint8_t *hello, const uint8_t *nonce_rx, const uint8_t *mac_rx,
                uint8_t out[32]) {
    if (!g_have_psk) { memset(out, 0, 32); return; }
    const uint8_t *parts[4] = {label_, hello, nonce_rx, mac_rx};
    size_t sizes[4] = {10, VRP_WIRE_HELLO_N, 16, 32};
    vrp_hmac_sha256(g_psk, g_psk_n, parts, sizes, mac_rx ? 4 : 3, out);
}

static int ct_equal(const uint8_t *a, const uint8_t *b, size_t n) {
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) d |= a[i] ^ b[i];
    return d == 0;
}

static void random_bytes(uint8_t *p, size_t n) {
    while (n) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0) {
            if (errno == EINTR) continue;
            for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rand(); /* no entropy source: still a nonce */
            return;
        }
        p += k;
        n -= (size_t)k;
    }
}

/* A peer's message as it may be printed: every byte that is not printable ASCII (terminal
 * escapes, control characters, UTF-8) as \xNN, cut to PEER_TEXT_MAX characters (as _wire.peer_text). */
enum { PEER_TEXT_MAX = 200 };

static void recv_message(int s, uint32_t n, char *out, size_t cap) {
    char raw[VRP_WIRE_MAX_MESSAGE];
    if (n > VRP_WIRE_MAX_MESSAGE) n = VRP_WIRE_MAX_MESSAGE;
    if (recv_exact(s, raw, n)) n = 0;
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)raw[i];
        size_t w = c >= 0x20 && c < 0x7f ? 1 : 4;
        if (k + w > PEER_TEXT_MAX || k + w + 4 >= cap) {
            if (k + 4 < cap) { memcpy(out + k, "...", 3); k += 3; }
            break;
        }
        if (w == 1) out[k++] = (char)c;
        else { snprintf(out + k, cap - k, "\\x%02x", c); k += 4; }
    }
    out[k] = 0;
}

static const char NOT_TOLD[] = "; the RX tells the reason only after authentication, its log says it (different graph, "
                               "edge, token size or rate, --port-base, or a pre-shared key or certificate on one side only?)";

/* TX side. 0 ok; -1 refused or failed, with the reason in why. */
static int client_handshake(int s, const vrp_edge *e, char *why, size_t wn, int *beats) {
    uint8_t hello[VRP_WIRE_HELLO_N], reply[VRP_WIRE_REPLY_N], auth[32], final_[VRP_WIRE_FINAL_N], want[32];
    char msg[VRP_WIRE_MAX_MESSAGE + 1];
    memcpy(hello, VRP_WIRE_MAGIC, 4);
    vrp_put16(hello + 4, VRP_WIRE_VERSION);
    /* heartbeats on plain TCP only: inside TLS the TX's thread owns the connection */
    int ask = !vrp_tls_active(s);
    vrp_put16(hello + 6, (g_have_psk ? VRP_WIRE_FLAG_PSK : 0) | (ask ? VRP_WIRE_FLAG_HEARTBEAT : 0));
    vrp_put32(hello + 8, (uint32_t)e->index);
    vrp_put32(hello + 12, (uint32_t)e->token_bytes);
    vrp_put32(hello + 16, (uint32_t)e->rate);
    memcpy(hello + 20, g_net_prog->fingerprint, 32);
    random_bytes(hello + 52, 16);
    if (send_all(s, hello, sizeof hello) || recv_exact(s, reply, sizeof reply)) {
        snprintf(why, wn, "the RX closed the connection during the handshake (%s); see its log",
                 errno ? strerror(errno) : "end of stream");
        return -1;
    }
    if (memcmp(reply, VRP_WIRE_MAGIC, 4)) { snprintf(why, wn, "the peer is not a vrprune RX (bad magic in its reply)"); return -1; }
    if (reply[6] != VRP_WIRE_OK) {
        recv_message(s, vrp_get16(reply + 56), msg, sizeof msg);
        if (snprintf(why, wn, "refused by the peer: %s%s", msg, strcmp(msg, "refused") ? "" : NOT_TOLD) >= (int)wn)
            why[wn - 1] = 0; /* cut (a message is at most PEER_TEXT_MAX characters anyway) */
        return -1;
    }
    const uint8_t *nonce_rx = reply + 8, *mac_rx = reply + 24;
    mac((const uint8_t *)"vrprune-rx", hello, nonce_rx, NULL, want);
    if (g_have_psk && !ct_equal(want, mac_rx, 32)) {
        memset(auth, 0, sizeof auth);
        send_all(s, auth, sizeof auth);
        snprintf(why, wn, "the peer failed authentication: it does not hold our pre-shared key (wrong --psk-file?)");
        return -1;
    }
    mac((const uint8_t *)"vrprune-tx", hello, nonce_rx, mac_rx, auth);
    if (send_all(s, auth, sizeof auth) || recv_exact(s, final_, sizeof final_)) {
        snprintf(why, wn, "the RX closed the connection during the handshake; see its log");
        return -1;
    }
    if (final_[0] != VRP_WIRE_OK) {
        recv_message(s, vrp_get16(final_ + 1), msg, sizeof msg);
        if (snprintf(why, wn, "refused by the peer: %s%s", msg, strcmp(msg, "refused") ? "" : NOT_TOLD) >= (int)wn)
            why[wn - 1] = 0; /* cut (a message is at most PEER_TEXT_MAX characters anyway) */
        return -1;
    }
    *beats = ask && (reply[7] & VRP_WIRE_RX_HEARTBEAT);
    return 0;
}

static void refuse(int s, const char *why) {
    uint8_t reply[VRP_WIRE_REPLY_N + VRP_WIRE_MAX_MESSAGE];
    size_t n = strlen(why);
    if (n > VRP_WIRE_MAX_MESSAGE) n = VRP_WIRE_MAX_MESSAGE;
    memset(reply, 0, VRP_WIRE_REPLY_N);
    memcpy(reply, VRP_WIRE_MAGIC, 4);
    vrp_put16(reply + 4, VRP_WIRE_VERSION);
    reply[6] = VRP_WIRE_REFUSED;
    vrp_put16(reply + 56, (uint32_t)n);
    memcpy(reply + VRP_WIRE_REPLY_N, why, n);
    send_all(s, reply, VRP_WIRE_REPLY_N + n);
}

static void hex12(const uint8_t *fp, char *out) {
    for (int i = 0; i < 6; i++) sprintf(out + 2 * i, "%02x", fp[i]);
}

static void final_refusal(int s, const char *told) {
    uint8_t f[VRP_WIRE_FINAL_N + VRP_WIRE_MAX_MESSAGE];
    size_t n = strlen(told);
    if (n > VRP_WIRE_MAX_MESSAGE) n = VRP_WIRE_MAX_MESSAGE;
    f[0] = VRP_WIRE_REFUSED;
    vrp_put16(f + 1, (uint32_t)n);
    memcpy(f + 3, told, n);
    send_all(s, f, 3 + n);
}

/* RX side. 0 ok; -1 refused, with the reason in why (for the log). The peer is told the reason
 * only once authenticated (TLS verified its certificate; or its PSK MAC is checked, then in
 * FINAL); before that it is told just "refused" (as _wire.server_handshake). */
static int server_handshake(int s, const vrp_edge *e, char *why, size_t wn, int *beats) {
    uint8_t hello[VRP_WIRE_HELLO_N], reply[VRP_WIRE_REPLY_N], auth[32], want[32], final_[VRP_WIRE_FINAL_N];
    int authenticated = vrp_tls_active(s); /* the TLS handshake verified the TX's certificate */
    if (recv_exact(s, hello, sizeof hello)) {
        snprintf(why, wn, "connection closed during the handshake");
        return -1;
    }
    if (memcmp(hello, VRP_WIRE_MAGIC, 4)) { snprintf(why, wn, "not a vrprune TX (bad magic)"); return -1; }
    uint32_t version = vrp_get16(hello + 4), flags = vrp_get16(hello + 6), edge = vrp_get32(hello + 8);
    uint32_t tb = vrp_get32(hello + 12), rate = vrp_get32(hello + 16);
    const uint8_t *fp = hello + 20;
    char mismatch[1024] = "";
    why[0] = 0;
    vrp_tls_check_peer(s, e->src_host, why, wn); /* TLS: the TX's certificate names its host */
    if (why[0]) { refuse(s, why); return -1; }
    if (version != VRP_WIRE_VERSION)
        snprintf(why, wn, "protocol version mismatch: RX speaks %d, TX speaks %u", VRP_WIRE_VERSION, version);
    else if (flags & ~(uint32_t)(VRP_WIRE_FLAG_PSK | VRP_WIRE_FLAG_HEARTBEAT))
        snprintf(why, wn, "unknown HELLO flags 0x%04x (a newer or foreign TX?)", flags & ~(uint32_t)(VRP_WIRE_FLAG_PSK | VRP_WIRE_FLAG_HEARTBEAT));
    else if (!!(flags & VRP_WIRE_FLAG_PSK) != g_have_psk)
        snprintf(why, wn, "authentication mismatch: %s", g_have_psk
                 ? "RX requires a pre-shared key (--psk-file) and TX has none"
                 : "TX uses a pre-shared key but RX has none (--psk-file on both sides)");
    if (memcmp(fp, g_net_prog->fingerprint, 32)) {
        char a[13], b[13];
        hex12(g_net_prog->fingerprint, a);
        hex12(fp, b);
        snprintf(mismatch, sizeof mismatch, "graph fingerprint mismatch: RX runs graph %s\xe2\x80\xa6, TX runs %s\xe2\x80\xa6; "
                 "both sides must run the same application graph", a, b);
    } else if (edge != (uint32_t)e->index)
        snprintf(mismatch, sizeof mismatch, "edge mismatch: this port carries edge %d ('%s'), TX sends edge %u "
                 "(different --port-base or platform base_port?)", e->index, e->name, edge);
    else if (tb != (uint32_t)e->token_bytes || rate != (uint32_t)e->rate)
        snprintf(mismatch, sizeof mismatch, "edge '%s': token size/rate mismatch: RX expects %d x %lld B, TX sends %u x %u B",
                 e->name, e->rate, (long long)e->token_bytes, rate, tb);
    if (!why[0] && mismatch[0] && !g_have_psk) { /* no key to check first: refused at once */
        snprintf(why, wn, "%s", mismatch);
        mismatch[0] = 0;
    }
    if (why[0]) { refuse(s, authenticated ? why : "refused"); return -1; }
    memset(reply, 0, sizeof reply);
    memcpy(reply, VRP_WIRE_MAGIC, 4);
    vrp_put16(reply + 4, VRP_WIRE_VERSION);
    reply[6] = VRP_WIRE_OK;
    *beats = (flags & VRP_WIRE_FLAG_HEARTBEAT) && !vrp_tls_active(s); /* plain TCP only (see client_handshake) */
    reply[7] = *beats ? VRP_WIRE_RX_HEARTBEAT : 0;
    random_bytes(reply + 8, 16);
    mac((const uint8_t *)"vrprune-rx", hello, reply + 8, NULL, reply + 24);
    vrp_put16(reply + 56, 0);
    if (send_all(s, reply, sizeof reply) || recv_exact(s, auth, sizeof auth)) {
        snprintf(why, wn, "connection closed during the handshake");
        return -1;
    }
    mac((const uint8_t *)"vrprune-tx", hello, reply + 8, reply + 24, want);
    if (g_have_psk && !ct_equal(want, auth, 32)) {
        final_refusal(s, "authentication failed: wrong pre-shared key");
        snprintf(why, wn, "TX failed authentication: it does not hold our pre-shared key (wrong --psk-file?)");
        return -1;
    }
    if (mismatch[0]) { /* authenticated now: the reason may be told */
        final_refusal(s, mismatch);
        snprintf(why, wn, "%s", mismatch);
        return -1;
    }
    final_[0] = VRP_WIRE_OK;
    vrp_put16(final_ + 1, 0);
    if (send_all(s, final_, VRP_WIRE_FINAL_N)) { snprintf(why, wn, "connection closed during the handshake"); return -1; }
    return 0;
}

/* ------------------------------------------------------------------ connection set-up */
typedef struct {
    vrp_edge *e;
    int lsock;
    double deadline;
    int ok;
    char error[2000];
} job_t;

/* The handshakes of one edge's RX run concurrently, each on its own thread and each within
 * HANDSHAKE_TIMEOUT_S in all: the accepting thread shuts down a connection whose handshake is
 * past its deadline, whatever it waits for. Idle or trickling connections thus cannot delay the
 * real TX (as _txrx.accept_edge). */
enum { MAX_PENDING = 64 };
typedef struct {
    pthread_mutex_t mu;
    int fd[MAX_PENDING];       /* handshakes under way (-1: free slot) */
    double until[MAX_PENDING];
    int running;               /* handshake threads not yet ended */
    int won;                   /* a handshake completed: e->sock is set */
    int closed;                /* the accepting thread has stopped waiting: later winners close */
    char last[1200];
} hs_set;

typedef struct {
    job_t *j;
    hs_set *hs;
    int fd, slot;
    double until;
    char peer[96];
} hs_job;

static void *handshake_job(void *arg) {
    hs_job *h = arg;
    vrp_edge *e = h->j->e;
    char lab[256], why[1024];
    label(e, lab, sizeof lab);
    int c = h->fd;
    tune(c);
    double left = h->until - mono();
    set_timeout(c, left > 0.001 ? left : 0.001);
    int beats = 0;
    int bad = vrp_tls_server(c, why, sizeof why) || server_handshake(c, e, why, sizeof why, &beats);
    if (bad && mono() >= h->until) snprintf(why, sizeof why, "no complete handshake within %d s", HANDSHAKE_TIMEOUT_S);
    pthread_mutex_lock(&h->hs->mu);
    h->hs->fd[h->slot] = -1;
    int keep = !bad && !h->hs->won && !h->hs->closed;
    if (keep) {
        set_timeout(c, 0);
        e->last_beat = 0;
        ST(&e->heartbeats, beats);
        ST(&e->sock, c);
        snprintf(e->peer, sizeof e->peer, "%s", h->peer);
        h->hs->won = 1;
    } else if (bad) {
        snprintf(h->hs->last, sizeof h->hs->last, "%s: %s", h->peer, why);
    }
    pthread_mutex_unlock(&h->hs->mu);
    if (bad) netlog("%s: refused a connection from %s: %s", lab, h->peer, why);
    if (!keep) vrp_tls_close(c);
    pthread_mutex_lock(&h->hs->mu);
    h->hs->running--;
    pthread_mutex_unlock(&h->hs->mu);
    free(h);
    return NULL;
}

static void *accept_job(void *arg) {
    job_t *j = arg;
    vrp_edge *e = j->e;
    char lab[256];
    label(e, lab, sizeof lab);
    hs_set hs;
    memset(&hs, 0, sizeof hs);
    pthread_mutex_init(&hs.mu, NULL);
    for (int i = 0; i < MAX_PENDING; i++) hs.fd[i] = -1;
    while (!LD(&g_cancel)) {
        double now = mono();
        int slot = -1;
        pthread_mutex_lock(&hs.mu);
        if (hs.won) { pthread_mutex_unlock(&hs.mu); j->ok = 1; break; }
        for (int i = 0; i < MAX_PENDING; i++) {
            if (hs.fd[i] >= 0 && now >= hs.until[i]) shutdown(hs.fd[i], SHUT_RDWR); /* wakes its thread */
            if (hs.fd[i] < 0 && slot < 0) slot = i;
        }
        pthread_mutex_unlock(&hs.mu);
        if (now >= j->deadline) {
            pthread_mutex_lock(&hs.mu);
            snprintf(j->error, sizeof j->error, "%s: no TX connected within the connect timeout%s%s%s", lab,
                     hs.last[0] ? " (last refusal: " : "", hs.last, hs.last[0] ? ")" : "");
            pthread_mutex_unlock(&hs.mu);
            ST(&g_cancel, 1);
            break;
        }
        if (slot < 0) { /* every slot busy: the rest wait in the backlog */
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd pf = {j->lsock, POLLIN, 0};
        if (poll(&pf, 1, 50) <= 0) continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int c = accept(j->lsock, (struct sockaddr *)&ss, &sl);
        if (c < 0) continue;
        hs_job *h = calloc(1, sizeof *h);
        if (!h) { close(c); continue; }
        char host[64] = "?";
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, NULL, 0, NI_NUMERICHOST);
        snprintf(h->peer, sizeof h->peer, "%s:%d", host,
                 ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                         : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
        h->j = j, h->hs = &hs, h->fd = c, h->slot = slot, h->until = mono() + HANDSHAKE_TIMEOUT_S;
        pthread_mutex_lock(&hs.mu);
        hs.fd[slot] = c;
        hs.until[slot] = h->until;
        hs.running++;
        pthread_mutex_unlock(&hs.mu);
        pthread_t t;
        if (pthread_create(&t, NULL, handshake_job, h)) {
            pthread_mutex_lock(&hs.mu);
            hs.fd[slot] = -1;
            hs.running--;
            pthread_mutex_unlock(&hs.mu);
            close(c);
            free(h);
            continue;
        }
        pthread_detach(t);
    }
    /* stop waiting: cut every handshake still under way, and wait for their threads (they use hs) */
    for (;;) {
        pthread_mutex_lock(&hs.mu);
        hs.closed = 1;
        for (int i = 0; i < MAX_PENDING; i++)
            if (hs.fd[i] >= 0) shutdown(hs.fd[i], SHUT_RDWR);
        int running = hs.running;
        pthread_mutex_unlock(&hs.mu);
        if (!running) break;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    if (hs.won) j->ok = 1;
    pthread_mutex_destroy(&hs.mu);
    return NULL;
}

static void *connect_job(void *arg) {
    job_t *j = arg;
    vrp_edge *e = j->e;
    char lab[256], last[256] = "";
    label(e, lab, sizeof lab);
    double delay = 0.02;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", e->port);
    while (!LD(&g_cancel)) {
        double left = j->deadline - mono();
        if (left <= 0) {
            snprintf(j->error, sizeof j->error, "%s: cannot connect to %s:%d within the connect timeout (%s); "
                     "is the process of host '%s' running?", lab, e->address, e->port, last, e->dst_host);
            ST(&g_cancel, 1);
            return NULL;
        }
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        int gai = getaddrinfo(e->address, portstr, &hints, &ai);
        int s = -1;
        if (gai) {
            snprintf(last, sizeof last, "%s", gai_strerror(gai));
        } else {
            s = socket(ai->ai_family, SOCK_STREAM, 0);
            if (s >= 0) set_buffers(s);
            if (s >= 0 && connect(s, ai->ai_addr, ai->ai_addrlen)) {
                snprintf(last, sizeof last, "%s", strerror(errno));
                close(s);
                s = -1;
            }
            freeaddrinfo(ai);
        }
        if (s < 0) {
            double d = delay < left ? delay : left;
            struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
            nanosleep(&ts, NULL);
            delay = delay * 2 < 1.0 ? delay * 2 : 1.0;
            continue;
        }
        tune(s);
        set_timeout(s, HANDSHAKE_TIMEOUT_S);
        char why[1100];
        int beats = 0;
        if (vrp_tls_client(s, e->dst_host, why, sizeof why) || client_handshake(s, e, why, sizeof why, &beats)) {
            vrp_tls_close(s);
            snprintf(j->error, sizeof j->error, "%s: %s", lab, why);
            ST(&g_cancel, 1);
            return NULL;
        }
        set_timeout(s, 0);
        e->sock = s;
        e->heartbeats = beats;
        e->last_beat = mono();
#ifdef TCP_USER_TIMEOUT
        if (beats) { /* the heartbeats tell a dead RX; a full window may last (a slow RX) */
            unsigned int none = 0;
            setsockopt(s, IPPROTO_TCP, TCP_USER_TIMEOUT, &none, sizeof none);
        }
#endif
        snprintf(e->peer, sizeof e->peer, "%s:%d", e->address, e->port);
        j->ok = 1;
        return NULL;
    }
    return NULL;
}

/* A secret file that users other than its owner may read or write is refused unless
 * --insecure-key-perms (then a warning), as vrprune/net/_auth.check_private. */
static int check_private(const char *path, const char *what, int insecure) {
    struct stat st;
    if (stat(path, &st)) {
        netlog("error: cannot read %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    if (!(st.st_mode & (S_IRWXG | S_IRWXO))) return 0;
    if (!insecure) {
        netlog("error: %s %s is open to other users (mode %04o); run `chmod 600 %s`, or pass "
               "--insecure-key-perms to use it anyway", what, path, (unsigned)(st.st_mode & 07777), path);
        return -1;
    }
    netlog("warning: %s %s is open to other users (mode %04o); run `chmod 600 %s` (--insecure-key-perms)", what,
           path, (unsigned)(st.st_mode & 07777), path);
    return 0;
}

static int read_psk(const char *path, int insecure) {
    struct stat st;
    if (check_private(path, "pre-shared key file", insecure)) return -1;
    FILE *f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st)) {
        netlog("error: cannot read pre-shared key file %s: %s", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    uint8_t raw[4096];
    size_t n = fread(raw, 1, sizeof raw, f);
    fclose(f);
    size_t a = 0, b = n; /* strip whitespace, as Python's bytes.strip() */
    while (a < b && (raw[a] == ' ' || (raw[a] >= '\t' && raw[a] <= '\r'))) a++;
    while (b > a && (raw[b - 1] == ' ' || (raw[b - 1] >= '\t' && raw[b - 1] <= '\r'))) b--;
    int hex = (b - a) % 2 == 0;
    for (size_t i = a; i < b && hex; i++) {
        char c = (char)raw[i];
        hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }
    if (hex) {
        g_psk_n = 0;
        for (size_t i = a; i < b; i += 2) {
            unsigned v;
            char two[3] = {(char)raw[i], (char)raw[i + 1], 0};
            sscanf(two, "%x", &v);
            g_psk[g_psk_n++] = (uint8_t)v;
        }
    } else {
        g_psk_n = b - a;
        memcpy(g_psk, raw + a, g_psk_n);
    }
    if (g_psk_n < 16) {
        netlog("error: pre-shared key file %s holds %zu bytes; at least 16 are needed "
               "(write one with `vrprune keygen --psk %s`)", path, g_psk_n, path);
        return -1;
    }
    g_have_psk = 1;
    return 0;
}

/* The RX's heartbeats: a thread that, from the end of each RX's handshake until vrp_net_close,
 * sends the byte it owes every HEARTBEAT_S, whatever the actors do (a firing of minutes). */
static volatile int32_t g_beats_stop;
static pthread_t g_beats_thread;
static int g_beats_started;

static void *heartbeats_job(void *arg) {
    vrp_program *p = arg;
    static const char beat = 0;
    struct timespec tick = {0, 250 * 1000 * 1000};
    while (!LD(&g_beats_stop)) {
        double now = mono();
        for (int i = 0; i < p->n_edges; i++) {
            vrp_edge *e = p->edges[i];
            int fd = LD(&e->sock);
            if (e->is_tx || fd < 0 || !LD(&e->heartbeats) || now - e->last_beat < HEARTBEAT_S) continue;
            e->last_beat = now;
            ssize_t k = send(fd, &beat, 1, MSG_DONTWAIT | MSG_NOSIGNAL); /* a full buffer skips one */
            (void)k;
        }
        nanosleep(&tick, NULL);
    }
    return NULL;
}

int vrp_net_setup(vrp_program *p, const vrp_net_opts *o) {
    g_net_prog = p;
    g_opts = o;
    ST(&g_beats_stop, 0);
    g_beats_started = !pthread_create(&g_beats_thread, NULL, heartbeats_job, p);
    if (o->psk_file && read_psk(o->psk_file, o->insecure_key_perms)) return -1;
    if (o->tls_key && check_private(o->tls_key, "TLS key file", o->insecure_key_perms)) return -1;
    if (o->tls_cert || o->tls_key || o->tls_ca) {
        char why[1024];
        if (vrp_tls_setup(o->tls_cert, o->tls_key, o->tls_ca, why, sizeof why)) { netlog("error: %s", why); return -1; }
    }
    char fp[13];
    hex12(p->fingerprint, fp);
    int n_tx = 0;
    for (int i = 0; i < p->n_edges; i++) n_tx += p->edges[i]->is_tx;
    netlog("graph '%s' (fingerprint %s), %d local actors, %d TX, %d RX", p->graph, fp, p->n_actors, n_tx,
           p->n_edges - n_tx);
    job_t *jobs = calloc((size_t)p->n_edges, sizeof *jobs);
    pthread_t *th = calloc((size_t)p->n_edges, sizeof *th);
    if (!jobs || !th) { free(jobs); free(th); netlog("error: out of memory"); return -1; }
    double deadline = mono() + o->connect_timeout_s;
    int rc = 0;
    for (int i = 0; i < p->n_edges; i++) { /* listen first, so that peers' TX can connect at once */
        vrp_edge *e = p->edges[i];
        e->port = o->port_base + e->index;
        jobs[i].e = e;
        jobs[i].deadline = deadline;
        jobs[i].lsock = -1;
        if (e->is_tx) continue;
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
        char ps[16];
        snprintf(ps, sizeof ps, "%d", e->port);
        int s = -1, one = 1, err = 0;
        int gai = getaddrinfo(o->listen_addr, ps, &hints, &ai);
        if (!gai) {
            s = socket(ai->ai_family, SOCK_STREAM, 0);
            if (s >= 0) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (s >= 0) set_buffers(s); /* inherited by the accepted connections */
            if (s >= 0 && (bind(s, ai->ai_addr, ai->ai_addrlen) || listen(s, 4))) { err = errno; close(s); s = -1; }
            else if (s < 0) err = errno;
            freeaddrinfo(ai);
        }
        if (s < 0) {
            const char *hint = gai ? "" : err == EADDRINUSE ? " (another run still holds it? choose another --port-base)"
                               : err == EADDRNOTAVAIL && !o->listen_all
                                   ? " (the platform file gives this host that address, but it is not one of this "
                                     "machine's; fix the address, or pass --listen-all to listen on every interface "
                                     "(behind NAT, in a container))"
                                   : "";
            netlog("error: cannot listen on %s:%d: %s%s", o->listen_addr, e->port, gai ? gai_strerror(gai) : strerror(err),
                   hint);
            rc = -1;
            break;
        }
        jobs[i].lsock = s;
    }
    int started = 0;
    if (!rc) {
        for (; started < p->n_edges; started++)
            if (pthread_create(&th[started], NULL, p->edges[started]->is_tx ? connect_job : accept_job, &jobs[started])) {
                ST(&g_cancel, 1);
                break;
            }
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < p->n_edges; i++)
            if (!jobs[i].ok) {
                rc = -1;
                if (jobs[i].error[0]) netlog("error: %s", jobs[i].error);
            }
    }
    for (int i = 0; i < p->n_edges; i++)
        if (jobs[i].lsock >= 0) close(jobs[i].lsock);
    if (rc) {
        for (int i = 0; i < p->n_edges; i++)
            if (p->edges[i]->sock >= 0) { vrp_tls_close(p->edges[i]->sock); p->edges[i]->sock = -1; }
    } else {
        netlog("all links connected; running");
    }
    free(jobs);
    free(th);
    return rc;
}

/* ------------------------------------------------------------------ TX / RX actors */
/* On plain TCP a firing is the executor's (txrx.c, on e->link): a non-blocking try first, the
 * loop's wake-ups handed over only before a socket call that would wait, and greedy windows.
 * Inside TLS (decrypted bytes may sit in the TLS buffer, so a socket poll tells nothing) the
 * firings below hand them over before every call: the peer may be waiting for exactly those
 * tokens, through the other host (vrp_fifo.h's batched wake-ups). */
static void before_wait(vrp_edge *e) {
    if (e->link.actor) vrp__actor_flush(e->link.actor);
}

static void flush_actor(void *a) { vrp__actor_flush(a); }

void vrp_net_bind(vrp_edge *e, struct vrp_actor *a) {
    vrp_link *l = &e->link;
    l->fd = e->sock;
    l->kind = VRP_LINK_STATIC; /* compiled programs carry static-rate edges across hosts */
    l->rate = e->rate;
    l->tb = e->token_bytes;
    snprintf(l->peer_host, sizeof l->peer_host, "%s", e->is_tx ? e->dst_host : e->src_host);
    l->flush = flush_actor;
    l->actor = a;
    a->greedy = vrp_tls_active(e->sock) ? 0 : vrp_txrx_max_batch();
}

int vrp_tx_fire(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    vrp_edge *e = state;
    char lab[256];
    if (!vrp_tls_active(e->sock)) {
        int rc = vrp_txrx_tx_fire(&e->link, in, n_in, out, n_out, atr);
        if (rc == VRP_OK) return rc;
        if (LD(&vrp__stop)) return VRP__STOPPED;
        label(e, lab, sizeof lab);
        return vrp_error("%s: sending frame %llu failed: %s; the RX side on host '%s' has gone away", lab,
                         (unsigned long long)e->link.seq, e->link.err, e->dst_host); /* the first frame not sent */
    }
    (void)n_in; (void)out; (void)n_out; (void)atr;
    uint8_t hdr[VRP_WIRE_HEADER_N] = {0};
    size_t len = (size_t)in[0].count * (size_t)in[0].token_bytes;
    hdr[0] = VRP_WIRE_DATA;
    vrp_put32(hdr + 4, (uint32_t)e->rate);
    vrp_put32(hdr + 8, (uint32_t)len);
    vrp_put64(hdr + 12, e->link.seq);
    struct iovec iov[2] = {{hdr, VRP_WIRE_HEADER_N}, {in[0].data, len}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    size_t total = VRP_WIRE_HEADER_N + len;
    before_wait(e);
    while (total) {
        ssize_t k = vrp_tls_sendmsg(e->sock, &m);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (LD(&vrp__stop)) return VRP__STOPPED;
            label(e, lab, sizeof lab);
            return vrp_error("%s: sending frame %llu failed: %s; the RX side on host '%s' has gone away", lab,
                             (unsigned long long)e->link.seq, strerror(errno), e->dst_host);
        }
        total -= (size_t)k;
        while (k > 0 && m.msg_iovlen) { /* advance past what was sent */
            if ((size_t)k >= m.msg_iov[0].iov_len) {
                k -= (ssize_t)m.msg_iov[0].iov_len;
                m.msg_iov++;
                m.msg_iovlen--;
            } else {
                m.msg_iov[0].iov_base = (uint8_t *)m.msg_iov[0].iov_base + k;
                m.msg_iov[0].iov_len -= (size_t)k;
                k = 0;
            }
        }
    }
    e->link.seq++;
    ST(&e->link.frames, e->link.frames + 1);
    ST(&e->link.bytes, e->link.bytes + (int64_t)len);
    return VRP_OK;
}

void vrp_tx_finish(void *state) {
    vrp_edge *e = state;
    int aborted = LD(&vrp__stop);
    uint8_t hdr[VRP_WIRE_HEADER_N] = {0};
    hdr[0] = aborted ? VRP_WIRE_ABORT : VRP_WIRE_END;
    vrp_put64(hdr + 12, e->link.seq);
    if (aborted) set_timeout(e->sock, 0.5);
    if (send_all(e->sock, hdr, sizeof hdr) == 0 && !aborted) ST(&e->sent_end, 1);
    else if (!aborted) {
        char lab[256];
        label(e, lab, sizeof lab);
        netlog("error: %s: sending end of stream failed: %s", lab, strerror(errno));
    }
}

int vrp_rx_fire(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    vrp_edge *e = state;
    char lab[256];
    if (!vrp_tls_active(e->sock)) {
        int rc = vrp_txrx_rx_fire(&e->link, in, n_in, out, n_out, atr);
        if (rc == VRP_OK || rc == VRP_END) return rc;
        if (LD(&vrp__stop)) return VRP__STOPPED;
        label(e, lab, sizeof lab);
        return vrp_error("%s: %s", lab, e->link.err);
    }
    (void)in; (void)n_in; (void)n_out; (void)atr;
    uint8_t hdr[VRP_WIRE_HEADER_N];
    label(e, lab, sizeof lab);
    before_wait(e);
    if (vrp_tls_recv_exact(e->sock, hdr, sizeof hdr)) {
        if (LD(&vrp__stop)) return VRP__STOPPED;
        return vrp_error("%s: the TX side on host '%s' disconnected mid-stream after %llu frames (%s)", lab,
                         e->src_host, (unsigned long long)e->link.seq, errno ? strerror(errno) : "end of stream");
    }
    uint32_t typ = hdr[0], a = vrp_get32(hdr + 4), length = vrp_get32(hdr + 8);
    uint64_t seq = vrp_get64(hdr + 12);
    size_t want = (size_t)e->rate * (size_t)e->token_bytes;
    if (typ == VRP_WIRE_DATA) {
        if (a != (uint32_t)e->rate || length != want)
            return vrp_error("%s: malformed frame %llu: atr %u, length %u; expected atr %d, length %zu (%d x %lld B)",
                             lab, (unsigned long long)e->link.seq, a, length, e->rate, want, e->rate,
                             (long long)e->token_bytes);
        if (seq != e->link.seq)
            return vrp_error("%s: frame out of sequence: got %llu, expected %llu (a token was lost, duplicated or "
                             "reordered)", lab, (unsigned long long)seq, (unsigned long long)e->link.seq);
        if (vrp_tls_recv_exact(e->sock, out[0].data, want)) {
            if (LD(&vrp__stop)) return VRP__STOPPED;
            return vrp_error("%s: truncated frame %llu: the TX side disconnected mid-frame (%s)", lab,
                             (unsigned long long)e->link.seq, errno ? strerror(errno) : "end of stream");
        }
        e->link.seq++;
        ST(&e->link.frames, e->link.frames + 1);
        ST(&e->link.bytes, e->link.bytes + (int64_t)length);
        return VRP_OK;
    }
    if (typ == VRP_WIRE_END) {
        if (seq != e->link.seq)
            return vrp_error("%s: end of stream after %llu frames, but %llu arrived", lab, (unsigned long long)seq,
                             (unsigned long long)e->link.seq);
        return VRP_END;
    }
    if (typ == VRP_WIRE_ABORT)
        return vrp_error("%s: the TX side on host '%s' aborted its run after %llu frames", lab, e->src_host,
                         (unsigned long long)e->link.seq);
    return vrp_error("%s: malformed frame %llu: unknown frame type %u", lab, (unsigned long long)e->link.seq, typ);
}

/* ------------------------------------------------------------------ run-time control */
int vrp_net_failed(vrp_program *p, char *msg, size_t n) {
    for (int i = 0; i < p->n_edges; i++) {
        vrp_edge *e = p->edges[i];
        if (e->is_tx || !e->link.failed) continue;
        char lab[256];
        label(e, lab, sizeof lab);
        snprintf(msg, n, "%s: %s", lab, e->link.err);
        return 1;
    }
    return 0;
}

/* Whether the peer's host still acknowledges what this socket sends (TCP_INFO: fewer than two
 * unanswered retransmissions and window probes in a row): a stopped RX process sends no
 * heartbeats, but its kernel answers (as _txrx._kernel_answers). */
static int kernel_answers(int fd) {
#if defined(__linux__) && defined(TCP_INFO)
    struct tcp_info ti;
    socklen_t n = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &n)) return 0;
    return ti.tcpi_retransmits < 2 && ti.tcpi_probes < 2;
#else
    (void)fd;
    return 0;
#endif
}

/* Called every 50 ms by the main thread: a TX reads and drops the heartbeats of its RX and
 * tells whether the RX has gone (closed, reset, or silent for LINK_TIMEOUT_S: host down,
 * network cut, process frozen), as _txrx.peer_gone. */
int vrp_net_peer_gone(vrp_program *p, char *msg, size_t n) {
    double now = mono();
    for (int i = 0; i < p->n_edges; i++) {
        vrp_edge *e = p->edges[i];
        if (!e->is_tx || e->sock < 0 || LD(&e->sent_end)) continue;
        const char *why = NULL;
        struct pollfd pf = {e->sock, POLLIN, 0};
        if (poll(&pf, 1, 0) > 0) {
            char buf[4096];
            /* inside TLS the RX sends nothing after the handshake: readable = gone (as _txrx.peer_gone) */
            ssize_t k = vrp_tls_active(e->sock) ? 0
                        : e->heartbeats ? recv(e->sock, buf, sizeof buf, MSG_DONTWAIT)
                                        : recv(e->sock, buf, 1, MSG_PEEK | MSG_DONTWAIT);
            if (k > 0) e->last_beat = now;
            else if (!(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) why = "closed the connection";
        }
        if (!why && e->heartbeats && now - e->last_beat > LINK_TIMEOUT_S && !kernel_answers(e->sock))
            why = "sent no heartbeat for 15 s, and its host answers no TCP segment (down or cut off)";
        if (!why || LD(&e->sent_end)) continue;
        char lab[256];
        label(e, lab, sizeof lab);
        snprintf(msg, n, "%s: the RX side on host '%s' %s mid-stream after %lld frames", lab, e->dst_host, why,
                 (long long)LD(&e->link.frames));
        return 1;
    }
    return 0;
}

void vrp_net_shutdown(vrp_program *p) {
    for (int i = 0; i < p->n_edges; i++)
        if (p->edges[i]->sock >= 0 && !LD(&p->edges[i]->sent_end)) shutdown(p->edges[i]->sock, SHUT_RDWR);
}

void vrp_net_close(vrp_program *p) {
    if (g_beats_started) {
        ST(&g_beats_stop, 1);
        pthread_join(g_beats_thread, NULL);
        g_beats_started = 0;
    }
    for (int i = 0; i < p->n_edges; i++)
        if (p->edges[i]->sock >= 0) { vrp_tls_close(p->edges[i]->sock); p->edges[i]->sock = -1; }
}

void vrp_net_summary(vrp_program *p, FILE *to) {
    for (int i = 0; i < p->n_edges; i++) {
        vrp_edge *e = p->edges[i];
        fprintf(to, "  edge %s (port %d): %s %lld frames, %lld bytes\n", e->name, e->port,
                e->is_tx ? "sent" : "received", (long long)e->link.frames, (long long)e->link.bytes);
    }
}
