/* vrp_tls.h -- TLS with mutual certificate authentication for the TX/RX links of generated
 * programs (OpenSSL's libssl), interoperable with vrprune/net/_auth.py:
 *
 *   TLS 1.3 at least; both sides present a certificate signed by the CA (--tls-ca) and verify
 *   the peer's; the TX checks that the RX's certificate names the RX's host (SNI and host name
 *   verification against the platform's host name, as Python's server_hostname); the RX checks
 *   that the TX's certificate (DNS subject alternative names or common name) names the host
 *   the mapping puts the edge's TX on, and refuses in the wire handshake otherwise. The wire
 *   protocol's handshake and frames then run inside TLS (vrp_net.c), unchanged.
 *
 * Built with -DVRP_NO_TLS (programs without links, or `make TLS=0`) it needs no OpenSSL, and a
 * program given --tls-* says it was built without TLS.
 */
#ifndef VRP_TLS_H
#define VRP_TLS_H

#include <stddef.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Load the certificate, key and CA: 0 ok; -1 with a message in why. */
int vrp_tls_setup(const char *cert, const char *key, const char *ca, char *why, size_t wn);
int vrp_tls_enabled(void);
/* Handshakes on a connected socket; they do nothing (0) while TLS is off. 0 ok; -1 with why. */
int vrp_tls_client(int fd, const char *server_host, char *why, size_t wn);
int vrp_tls_server(int fd, char *why, size_t wn);
/* RX: a refusal reason in why (unchanged when fine, or TLS is off) unless the peer's
 * certificate names want_host. */
void vrp_tls_check_peer(int fd, const char *want_host, char *why, size_t wn);
/* I/O on a socket with a TLS session: as recv_exact/send_all (0 ok; -1, errno 0 at end of
 * stream); sendmsg: every iovec in turn, returns the bytes sent or -1. */
int vrp_tls_active(int fd);
int vrp_tls_recv_exact(int fd, void *buf, size_t n);
int vrp_tls_send_all(int fd, const void *buf, size_t n);
long vrp_tls_sendmsg(int fd, const struct msghdr *m);
/* Free the fd's TLS session (if any) and close it. */
int vrp_tls_close(int fd);

#ifdef __cplusplus
}
#endif
#endif /* VRP_TLS_H */
