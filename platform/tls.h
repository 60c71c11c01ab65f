/* TLS streams: a server or client TLS session (TLS 1.2 and later, AEAD
 * suites with forward secrecy only) layered on any other stream, itself
 * presenting the same stream operations, so that the connection engine
 * and the protocols above it never notice. Certificates, keys and trust
 * anchors are PEM (files or inline text). A configuration is shared by
 * reference: a listener swaps in a reloaded one while open sessions keep
 * the one they started with. */
#ifndef ED_PLATFORM_TLS_H
#define ED_PLATFORM_TLS_H

#include "platform/net.h"

typedef struct ed_tls_conf ed_tls_conf;

enum ed_tls_client_auth {
    ED_TLS_AUTH_NONE,      /* never ask for a client certificate */
    ED_TLS_AUTH_REQUESTED, /* ask; a client without one is served, a bad one refused */
    ED_TLS_AUTH_REQUIRED,  /* a client without a valid certificate is refused */
};

struct ed_tls_settings {
    bool server;
    /* Own certificate chain and key, as file names or inline PEM text
     * (either may be NULL or ""). The key may sit in the chain's file:
     * key_file NULL or "" then reads the key from cert_file. A client
     * needs neither unless the server asks for a certificate. */
    const char *cert_file, *key_file;
    const char *cert_pem, *key_pem;
    /* Trust anchors (PEM file): a server checks client certificates with
     * them, a client the server's. A client without one uses the
     * system's store. */
    const char *ca_file;
    const char *ca_pem;                  /* inline alternative to ca_file */
    enum ed_tls_client_auth client_auth; /* server side */
    bool verify_host; /* client side: the server's name must match its certificate */
    bool no_verify;   /* client side: accept any server certificate (testing only) */
};

/* Loads a configuration: ED_OK, or an error with a one-line reason naming
 * the file and what is wrong with it. The caller holds one reference. */
int ed_plat_tls_conf_new(const struct ed_tls_settings *st, ed_tls_conf **out, char *why,
                         size_t why_len);
void ed_plat_tls_conf_ref(ed_tls_conf *c);
/* Drops a reference; the last one frees it (NULL is a no-op). */
void ed_plat_tls_conf_unref(ed_tls_conf *c);

/* Wraps inner (taking ownership: closing the TLS stream closes it) in a
 * server or client session. loop may be NULL for a stream driven without
 * callbacks (blocking clients). host: the server's name for SNI and, when
 * the configuration says so, certificate name checking. The handshake runs
 * as bytes arrive; reads return ED_ERR_AGAIN until it is done, and
 * ED_ERR_CLOSED when it failed (logged, rate-limited). */
int ed_plat_tls_server(ed_loop *loop, ed_tls_conf *conf, ed_stream *inner, ed_stream **out);
int ed_plat_tls_client(ed_loop *loop, ed_tls_conf *conf, ed_stream *inner, const char *host,
                       ed_stream **out);
/* Drives the handshake of a stream from ed_plat_tls_*: ED_OK once done,
 * ED_ERR_AGAIN while it waits for the peer (see ed_plat_tls_wants_write),
 * another error when it failed (why says what, may be NULL). */
int ed_plat_tls_handshake(ed_stream *s, char *why, size_t why_len);
/* Whether the session has bytes to send before it can go on (a blocking
 * caller waits for the socket to take them, then calls
 * ed_plat_tls_flush). */
bool ed_plat_tls_wants_write(const ed_stream *s);
int ed_plat_tls_flush(ed_stream *s);
/* Decrypted bytes held inside the session, readable without the socket. */
size_t ed_plat_tls_pending(const ed_stream *s);

#endif
