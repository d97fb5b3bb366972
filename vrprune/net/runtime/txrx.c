/* txrx.c -- the firing functions of TX and RX actors on plain TCP sockets, in C.
 *
 * Why: a TX or RX firing driven from Python holds the GIL for a few microseconds around each
 * socket call, competing with the Python actors of its host; with 73,728-byte tokens that
 * overhead is a large share of one token's time on the wire. In C, a TX or RX runs its whole
 * loop in the runtime's native core (vrprune/exec/runtime/native.c) with the GIL released, as
 * C actors do. The wire format is vrprune/net/_wire.py's (20-byte little-endian header:
 * type u8, pad 3, atr u32, length u32, seq u64), and the checks are those of _txrx.py's
 * Python back-ends, which stay in use for TLS and for link-shaped TX.
 *
 * Greedy windows (vrprune/exec/runtime/vrp_fifo.h): on static-rate and control edges the loop
 * may hand a firing a window of several frames' worth of tokens (at most MAX_BATCH frames). The
 * TX sends them as that many frames in one sendmsg, as many as go without a wait (at least
 * one, as a single firing; see send_frames) and sets the window's count to those; the RX receives its first frame as a single
 * firing would (waiting if it must), then every further frame already complete in its socket
 * buffer (FIONREAD; never a wait), and sets the window's count to the frames it received. The
 * frames, their order and their checks are those of single firings; a bad frame after good ones
 * in the same window is reported by the next call, after the good ones are committed.
 *
 * Errors: fire returns VRP_ERROR with a message in the state's err (without the edge label,
 * which Python adds, after telling a stop of this process -- it shut the socket down on
 * purpose -- from a peer failure).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "vrp_txrx.h"
#include "vrp_wire.h"

enum { K_DATA = VRP_LINK_STATIC, K_VARIABLE = VRP_LINK_VARIABLE, K_CONTROL = VRP_LINK_CONTROL };

/* Before a socket call that would block: hand every committed token to its sleeping consumer
 * (and room to its producer). The peer may be waiting for exactly those, through the other
 * host; see the batched wake-ups of vrprune/exec/runtime/vrp_fifo.h. */
static void before_wait(vrp_link *l) {
    if (l->flush) l->flush(l->actor);
}

#define MAX_BATCH 64 /* the most frames one fire call sends or receives */

int vrp_txrx_max_batch(void) { return MAX_BATCH; }

static int fail(vrp_link *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(vrp_link *l, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, sizeof l->err, fmt, ap);
    va_end(ap);
    return VRP_ERROR;
}

/* Skip k bytes of iov[i..n): the index of the first iovec not done, that one advanced. */
static int iov_skip(struct iovec *iov, int i, int n, size_t k) {
    while (i < n && k >= iov[i].iov_len) { k -= iov[i].iov_len; i++; }
    if (i < n) { iov[i].iov_base = (char *)iov[i].iov_base + k; iov[i].iov_len -= k; }
    return i;
}

/* Send the iovecs completely (sendmsg may stop short on a full socket buffer); the first try
 * does not wait, and a wait comes after before_wait. */
static int send_iov(vrp_link *l, struct iovec *iov, int n) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    int i = 0, flags = MSG_NOSIGNAL | MSG_DONTWAIT;
    while (i < n) {
        m.msg_iov = iov + i;
        m.msg_iovlen = (size_t)(n - i);
        ssize_t k = sendmsg(l->fd, &m, flags);
        if (k < 0) {
            if (errno == EINTR) continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && (flags & MSG_DONTWAIT)) {
                before_wait(l);
                flags = MSG_NOSIGNAL;
                continue;
            }
            return -1;
        }
        i = iov_skip(iov, i, n, (size_t)k);
        if (i < n && (flags & MSG_DONTWAIT)) { before_wait(l); flags = MSG_NOSIGNAL; } /* stopped short: the rest may wait */
    }
    return 0;
}

/* Receive into the iovecs completely, the same way (a wait only after before_wait); 0, or -1
 * (errno set, 0 on an orderly close). */
static int recv_iov(vrp_link *l, struct iovec *iov, int n) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    int i = 0, flags = MSG_DONTWAIT;
    while (i < n) {
        m.msg_iov = iov + i;
        m.msg_iovlen = (size_t)(n - i);
        ssize_t k = recvmsg(l->fd, &m, flags);
        if (k < 0) {
            if (errno == EINTR) continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && flags) { before_wait(l); flags = 0; continue; }
            return -1;
        }
        if (k == 0) { errno = 0; return -1; }
        i = iov_skip(iov, i, n, (size_t)k);
    }
    return 0;
}

static int recv_exact(vrp_link *l, uint8_t *p, size_t n) {
    struct iovec v = {p, n};
    return n ? recv_iov(l, &v, 1) : 0;
}

/* Why a receive failed, worded as Python's OSError ("[Errno 104] Connection reset by peer"). */
static const char *why(void) {
    static __thread char buf[160];
    if (!errno) return "connection closed by the peer";
    snprintf(buf, sizeof buf, "[Errno %d] %s", errno, strerror(errno));
    return buf;
}

/* Frames of `a` tokens in one window: several in a greedy window (static-rate and control
 * edges), else one; 0 when the window is not whole frames. */
static int64_t frames_in(const vrp_link *l, int64_t count, int64_t a) {
    if (l->kind == K_VARIABLE || a <= 0) return 1;
    if (count % a || count / a < 1 || count / a > MAX_BATCH) return 0;
    return count / a;
}

static void put_header(uint8_t *h, int typ, uint32_t atr, uint32_t length, uint64_t seq) {
    memset(h, 0, VRP_WIRE_HEADER_N);
    h[0] = (uint8_t)typ;
    vrp_put32(h + 4, atr);
    vrp_put32(h + 8, length);
    vrp_put64(h + 12, seq);
}

/* Send up to nf frames of `per` iovecs each: every frame that goes without a wait, and the
 * first frame or the one begun, waiting for it if it must (after before_wait), as a single
 * firing would. A full socket thus never holds more than one frame of the window uncommitted:
 * the rest is the next call's, after the loop has handed the sent tokens' room back. Returns
 * the frames sent completely (>= 1), or -1 (errno set) with *sent the frames sent before. */
static int64_t send_frames(vrp_link *l, struct iovec *iov, int64_t nf, int per, int64_t *sent) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    int n = (int)(nf * per), i = 0; /* iov[i..n) remain to send, iov[i] perhaps in part */
    int64_t fb = 0, off = 0;        /* bytes per frame, bytes sent */
    for (int k = 0; k < per; k++) fb += (int64_t)iov[k].iov_len;
    for (;;) {
        m.msg_iov = iov + i;
        m.msg_iovlen = (size_t)(n - i);
        ssize_t k = sendmsg(l->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { *sent = off / fb; return -1; }
        if (k > 0) {
            off += k;
            i = iov_skip(iov, i, n, (size_t)k);
        }
        if (i == n) return nf;
        int64_t f = off / fb; /* the frame under way */
        if (f > 0 && off % fb == 0) return f;
        if (send_iov(l, iov + i, (int)((f + 1) * per) - i)) { *sent = f; return -1; }
        return f + 1;
    }
}

int vrp_txrx_tx_fire(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    (void)n_in; (void)out; (void)n_out; (void)atr;
    vrp_link *l = state;
    l->calls++;
    int64_t count = in[0].count, a = l->kind == K_VARIABLE ? count : l->rate;
    int64_t nf = frames_in(l, count, a);
    if (!nf)
        return fail(l, "internal error: a TX window of %lld tokens is not whole frames of %lld",
                    (long long)count, (long long)a);
    if (nf == 1) a = count;
    int64_t length = a * l->tb;
    uint8_t h[MAX_BATCH][VRP_WIRE_HEADER_N];
    struct iovec iov[2 * MAX_BATCH];
    int per = length ? 2 : 1, n = 0;
    for (int64_t i = 0; i < nf; i++) {
        put_header(h[i], VRP_WIRE_DATA, (uint32_t)a, (uint32_t)length, l->seq + (uint64_t)i);
        iov[n++] = (struct iovec){h[i], VRP_WIRE_HEADER_N};
        if (length) iov[n++] = (struct iovec){(uint8_t *)in[0].data + i * length, (size_t)length};
    }
    int64_t sent = 0, done = send_frames(l, iov, nf, per, &sent);
    if (done > 0) sent = done;
    l->seq += (uint64_t)sent;
    __atomic_store_n(&l->frames, l->frames + sent, __ATOMIC_RELAXED);
    __atomic_store_n(&l->bytes, l->bytes + sent * length, __ATOMIC_RELAXED);
    if (done < 0) return fail(l, "%s", strerror(errno));
    if (nf > 1) ((vrp_buf *)in)[0].count = (int32_t)(done * a); /* a greedy window: what went (vrp_fifo.h) */
    return VRP_OK;
}

/* A DATA frame's header against the frame expected next: 0, or VRP_ERROR (err set). */
static int check_data_header(vrp_link *l, const uint8_t *h, int64_t rate, int64_t want) {
    uint32_t fa = vrp_get32(h + 4), length = vrp_get32(h + 8);
    uint64_t seq = vrp_get64(h + 12);
    if ((int64_t)fa != rate || (int64_t)length != want)
        return fail(l, "malformed frame %llu: atr %u, length %u; expected atr %lld, length %lld "
                    "(%lld x %lld B)", (unsigned long long)l->seq, fa, length, (long long)rate,
                    (long long)want, (long long)rate, (long long)l->tb);
    if (seq != l->seq)
        return fail(l, "frame out of sequence: got %llu, expected %llu (a token was lost, duplicated "
                    "or reordered)", (unsigned long long)seq, (unsigned long long)l->seq);
    return 0;
}

/* A DATA frame's payload is in its slot: range-check a control token and count the frame. */
static int accept_data(vrp_link *l, const uint8_t *slot, int64_t length) {
    if (l->kind == K_CONTROL) {
        int32_t v;
        memcpy(&v, slot, sizeof v);
        if (v < l->lrl || v > l->url)
            return fail(l, "malformed frame %llu: control token atr %d outside the DPG's rate range "
                        "[%d, %d]", (unsigned long long)l->seq, v, l->lrl, l->url);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    l->t_last = ts.tv_sec + ts.tv_nsec * 1e-9;
    if (!l->frames) { l->t_first = l->t_last; l->b_first = length; }
    l->seq++;
    __atomic_store_n(&l->frames, l->frames + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&l->bytes, l->bytes + length, __ATOMIC_RELAXED);
    return 0;
}

/* After a firing's first frame: receive up to `most` further frames of `want` bytes into the
 * slots from `slots` on, only those already complete in the socket buffer (no wait). Returns
 * the good frames; a bad one sets `failed` (its error is the next call's). */
static int64_t rx_more(vrp_link *l, uint8_t *slots, int64_t rate, int64_t want, int64_t most) {
    int queued = 0;
    if (ioctl(l->fd, FIONREAD, &queued) < 0) return 0; /* no count: single frames */
    int64_t m = queued / (VRP_WIRE_HEADER_N + want);
    if (m > most) m = most;
    if (m <= 0) return 0;
    uint8_t h[MAX_BATCH][VRP_WIRE_HEADER_N];
    struct iovec iov[2 * MAX_BATCH];
    for (int64_t i = 0; i < m; i++) {
        iov[2 * i] = (struct iovec){h[i], VRP_WIRE_HEADER_N};
        iov[2 * i + 1] = (struct iovec){slots + i * want, (size_t)want};
    }
    if (recv_iov(l, iov, (int)(2 * m))) { /* they were there: only a reset takes them */
        fail(l, "the TX side on host '%s' disconnected mid-stream after %llu frames (%s)", l->peer_host,
             (unsigned long long)l->seq, why());
        l->failed = 1;
        return 0;
    }
    for (int64_t i = 0; i < m; i++) {
        int bad = h[i][0] != VRP_WIRE_DATA
                      ? fail(l, "malformed frame %llu: %lld bytes after a frame of type %d",
                             (unsigned long long)l->seq, (long long)want, h[i][0])
                      : check_data_header(l, h[i], rate, want) || accept_data(l, slots + i * want, want);
        if (bad) { l->failed = 1; return i; }
    }
    return m;
}

int vrp_txrx_rx_fire(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    (void)in; (void)n_in;
    vrp_link *l = state;
    l->calls++;
    if (l->failed) { l->failed = 0; return VRP_ERROR; } /* a bad frame of the last window, after its good ones */
    int variable = l->kind == K_VARIABLE;
    int64_t rate = variable ? *atr : l->rate, want = rate * l->tb;
    int64_t room = n_out < 1 ? 0 : variable ? 1 : frames_in(l, out[0].count, rate); /* frames the window holds */
    int64_t have = n_out < 1 ? 0 : (int64_t)out[0].count * out[0].token_bytes;
    if (rate < 0 || (want && (room < 1 || have != room * want)))
        return fail(l, "internal error: the RX's window holds %lld bytes, a frame %lld", (long long)have,
                    (long long)want);
    uint8_t h[VRP_WIRE_HEADER_N];
    uint8_t *slot = want ? out[0].data : NULL;
    size_t got = 0; /* payload bytes already in the slot */
    /* one scatter read: header into h, payload straight into the FIFO slot (at most the
     * expected length; rejected below if the header says otherwise) */
    struct iovec iov[2] = {{h, VRP_WIRE_HEADER_N}, {slot, (size_t)want}};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = want ? 2 : 1;
    ssize_t n;
    do n = recvmsg(l->fd, &m, MSG_DONTWAIT); while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { /* nothing there yet: this firing waits */
        before_wait(l);
        do n = recvmsg(l->fd, &m, 0); while (n < 0 && errno == EINTR);
    }
    if (n == 0) errno = 0;
    if (n <= 0 || (n < VRP_WIRE_HEADER_N && recv_exact(l, h + n, (size_t)(VRP_WIRE_HEADER_N - n))))
        return fail(l, "the TX side on host '%s' disconnected mid-stream after %llu frames (%s)",
                    l->peer_host, (unsigned long long)l->seq, why());
    if (n > VRP_WIRE_HEADER_N) got = (size_t)n - VRP_WIRE_HEADER_N;
    int typ = h[0];
    uint64_t seq = vrp_get64(h + 12);
    if (typ != VRP_WIRE_DATA && got)
        return fail(l, "malformed frame %llu: %zu bytes after a frame of type %d",
                    (unsigned long long)l->seq, got, typ);
    if (typ == VRP_WIRE_DATA) {
        if (check_data_header(l, h, rate, want)) return VRP_ERROR;
        if (got < (size_t)want && recv_exact(l, slot + got, (size_t)want - got))
            return fail(l, "truncated frame %llu: the TX side disconnected mid-frame (%s)",
                        (unsigned long long)l->seq, why());
        if (accept_data(l, slot, want)) return VRP_ERROR;
        if (room > 1) out[0].count = (int32_t)((1 + rx_more(l, slot + want, rate, want, room - 1)) * rate);
        return VRP_OK;
    }
    if (typ == VRP_WIRE_END) {
        if (seq != l->seq)
            return fail(l, "end of stream after %llu frames, but %llu arrived", (unsigned long long)seq,
                        (unsigned long long)l->seq);
        l->got_end = 1;
        if (variable)
            return fail(l, "end of stream after %llu frames while its control token asked for atr %lld",
                        (unsigned long long)seq, (long long)rate);
        return VRP_END;
    }
    if (typ == VRP_WIRE_ABORT)
        return fail(l, "the TX side on host '%s' aborted its run after %llu frames",
                    l->peer_host, (unsigned long long)l->seq);
    return fail(l, "malformed frame %llu: unknown frame type %d", (unsigned long long)l->seq, typ);
}
