/* vrp_tls.c -- TLS for TX/RX links (see vrp_tls.h). One SSL session per socket, used by one
 * thread at a time (the edge's TX or RX actor; connection set-up before that). */
#define _GNU_SOURCE
#include "vrp_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef VRP_NO_TLS

int vrp_tls_setup(const char *cert, const char *key, const char *ca, char *why, size_t wn) {
    (void)cert; (void)key; (void)ca;
    snprintf(why, wn, "this program was built without TLS (make TLS=0); rebuild it with OpenSSL (make TLS=1)");
    return -1;
}
int vrp_tls_enabled(void) { return 0; }
int vrp_tls_client(int fd, const char *server_host, char *why, size_t wn) { (void)fd; (void)server_host; (void)why; (void)wn; return 0; }
int vrp_tls_server(int fd, char *why, size_t wn) { (void)fd; (void)why; (void)wn; return 0; }
void vrp_tls_check_peer(int fd, const char *want_host, char *why, size_t wn) { (void)fd; (void)want_host; (void)why; (void)wn; }
int vrp_tls_active(int fd) { (void)fd; return 0; }
int vrp_tls_recv_exact(int fd, void *buf, size_t n) { (void)fd; (void)buf; (void)n; errno = EINVAL; return -1; }
int vrp_tls_send_all(int fd, const void *buf, size_t n) { (void)fd; (void)buf; (void)n; errno = EINVAL; return -1; }
long vrp_tls_sendmsg(int fd, const struct msghdr *m) { (void)fd; (void)m; errno = EINVAL; return -1; }
int vrp_tls_close(int fd) { return close(fd); }

#else

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define MAX_FD 4096
static SSL_CTX *g_server, *g_client;
static SSL *g_ssl[MAX_FD]; /* fd -> session */

static void ssl_reason(char *out, size_t n) {
    unsigned long e = ERR_get_error();
    if (e) ERR_error_string_n(e, out, n);
    else snprintf(out, n, "%s", errno ? strerror(errno) : "connection closed");
    ERR_clear_error();
}

static SSL_CTX *context(int server, const char *cert, const char *key, const char *ca, char *why, size_t wn) {
    SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    char r[256];
    if (!c) { ssl_reason(r, sizeof r); snprintf(why, wn, "TLS set-up failed: %s", r); return NULL; }
    SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1 || SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(c) != 1 || SSL_CTX_load_verify_locations(c, ca, NULL) != 1) {
        ssl_reason(r, sizeof r);
        snprintf(why, wn, "TLS set-up failed (%s, %s, %s): %s", cert, key, ca, r);
        SSL_CTX_free(c);
        return NULL;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_mode(c, SSL_MODE_AUTO_RETRY);
    if (server) SSL_CTX_set_num_tickets(c, 0); /* nothing flows RX -> TX after the handshake */
    return c;
}

int vrp_tls_setup(const char *cert, const char *key, const char *ca, char *why, size_t wn) {
    if (!cert || !key || !ca) {
        snprintf(why, wn, "TLS needs all three of --tls-cert, --tls-key and --tls-ca");
        return -1;
    }
    OPENSSL_init_ssl(0, NULL);
    if (!(g_server = context(1, cert, key, ca, why, wn))) return -1;
    if (!(g_client = context(0, cert, key, ca, why, wn))) return -1;
    return 0;
}

int vrp_tls_enabled(void) { return g_client != NULL; }

int vrp_tls_active(int fd) { return fd >= 0 && fd < MAX_FD && g_ssl[fd] != NULL; }

static int handshake(int fd, int server, const char *host, char *why, size_t wn) {
    if (!g_client) return 0;
    if (fd < 0 || fd >= MAX_FD) { snprintf(why, wn, "TLS: socket number %d too large", fd); return -1; }
    SSL *s = SSL_new(server ? g_server : g_client);
    char r[256];
    if (!s) { ssl_reason(r, sizeof r); snprintf(why, wn, "TLS: %s", r); return -1; }
    SSL_set_fd(s, fd);
    if (!server) {
        SSL_set_tlsext_host_name(s, host);
        SSL_set_hostflags(s, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        SSL_set1_host(s, host);
    }
    errno = 0;
    int rc = server ? SSL_accept(s) : SSL_connect(s);
    if (rc != 1) {
        long v = SSL_get_verify_result(s);
        ssl_reason(r, sizeof r);
        if (v != X509_V_OK)
            snprintf(why, wn, "TLS handshake failed: certificate verify failed: %s (%s)", X509_verify_cert_error_string(v), r);
        else
            snprintf(why, wn, "TLS handshake failed: %s", r);
        SSL_free(s);
        return -1;
    }
    g_ssl[fd] = s;
    return 0;
}

int vrp_tls_client(int fd, const char *server_host, char *why, size_t wn) { return handshake(fd, 0, server_host, why, wn); }
int vrp_tls_server(int fd, char *why, size_t wn) { return handshake(fd, 1, NULL, why, wn); }

void vrp_tls_check_peer(int fd, const char *want_host, char *why, size_t wn) {
    if (!vrp_tls_active(fd)) return;
    X509 *cert = SSL_get1_peer_certificate(g_ssl[fd]);
    char names[512] = "";
    int found = 0;
    if (cert) {
        GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
        for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
            if (g->type != GEN_DNS) continue;
            const char *n = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
            int len = ASN1_STRING_length(g->d.dNSName);
            if ((int)strlen(want_host) == len && !memcmp(n, want_host, (size_t)len)) found = 1;
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%.*s'", names[0] ? ", " : "", len, n);
        }
        GENERAL_NAMES_free(sans);
        char cn[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) {
            if (!strcmp(cn, want_host)) found = 1;
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%s'", names[0] ? ", " : "", cn);
        }
        X509_free(cert);
    }
    if (!found)
        snprintf(why, wn, "TLS certificate names [%s] do not include host '%s', where the mapping puts the TX of "
                 "this edge", names, want_host);
}

int vrp_tls_recv_exact(int fd, void *buf, size_t n) {
    SSL *s = g_ssl[fd];
    unsigned char *p = buf;
    while (n) {
        size_t got = 0;
        errno = 0;
        if (SSL_read_ex(s, p, n, &got) != 1) {
            int e = SSL_get_error(s, 0);
            ERR_clear_error();
            if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) errno = 0;
            else if (!errno) errno = EPROTO;
            return -1;
        }
        p += got;
        n -= got;
    }
    return 0;
}

int vrp_tls_send_all(int fd, const void *buf, size_t n) {
    SSL *s = g_ssl[fd];
    const unsigned char *p = buf;
    while (n) {
        size_t put = 0;
        errno = 0;
        if (SSL_write_ex(s, p, n, &put) != 1) {
            ERR_clear_error();
            if (!errno) errno = EPIPE;
            return -1;
        }
        p += put;
        n -= put;
    }
    return 0;
}

long vrp_tls_sendmsg(int fd, const struct msghdr *m) {
    long total = 0;
    for (size_t i = 0; i < (size_t)m->msg_iovlen; i++) {
        if (vrp_tls_send_all(fd, m->msg_iov[i].iov_base, m->msg_iov[i].iov_len)) return -1;
        total += (long)m->msg_iov[i].iov_len;
    }
    return total;
}

int vrp_tls_close(int fd) {
    if (vrp_tls_active(fd)) {
        SSL_free(g_ssl[fd]);
        g_ssl[fd] = NULL;
    }
    return close(fd);
}

#endif
