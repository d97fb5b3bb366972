/* vrp_wire.h -- the wire format between vrprune hosts, in one place for both C runtimes: the
 * executor's TX/RX firings (vrprune/net/runtime/txrx.c) and the compiled programs' endpoints
 * (vrprune/compile/runtime/vrp_net.c). vrprune/net/_wire.py speaks the same format in Python and
 * documents it; tests/net/test_dist_split.py holds these numbers against it.
 *
 * All integers are little-endian. A connection starts with a handshake (HELLO from the TX, REPLY
 * from the RX, the TX's AUTH with a pre-shared key, FINAL from the RX), then carries frames:
 * a 20-byte header (type u8, pad 3, atr u32, payload length u32, sequence number u64) and the
 * payload. */
#ifndef VRP_WIRE_H
#define VRP_WIRE_H

#include <stdint.h>

#define VRP_WIRE_MAGIC "VRPR" /* the first 4 bytes of HELLO and REPLY */

enum {
    VRP_WIRE_VERSION = 1,
    VRP_WIRE_FLAG_PSK = 1,       /* HELLO flags: the TX authenticates with a pre-shared key */
    VRP_WIRE_FLAG_HEARTBEAT = 2, /* HELLO flags: the TX reads heartbeats */
    VRP_WIRE_RX_HEARTBEAT = 1,   /* REPLY's flags byte (offset 7): this RX sends heartbeats */
    VRP_WIRE_HELLO_N = 68,       /* bytes of HELLO, REPLY, FINAL and a frame header */
    VRP_WIRE_REPLY_N = 58,
    VRP_WIRE_FINAL_N = 3,
    VRP_WIRE_HEADER_N = 20,
    VRP_WIRE_MAX_MESSAGE = 1024, /* the longest message a refusal carries */
};

enum { VRP_WIRE_DATA = 1, VRP_WIRE_END = 2, VRP_WIRE_ABORT = 3 }; /* frame types */
enum { VRP_WIRE_OK = 0, VRP_WIRE_REFUSED = 1 };                   /* REPLY / FINAL status */

static inline void vrp_put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void vrp_put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void vrp_put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint32_t vrp_get16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static inline uint32_t vrp_get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static inline uint64_t vrp_get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

#endif
