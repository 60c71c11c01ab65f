/* The port contract for outgoing TCP connections used by Eddy's own Kafka
 * client (CLI tools; the upstream mirror drives the same codec from the
 * loop): blocking connect, write and read, each bounded by a timeout. */
#ifndef ED_PLATFORM_NETCLIENT_H
#define ED_PLATFORM_NETCLIENT_H

#include "platform/platform.h"
#include "platform/tls.h"

typedef struct ed_csock ed_csock;

/* Connects to host:port (numeric address or name; every address the name
 * resolves to is tried in turn) within timeout_ms. ED_ERR_NOENT when the
 * name does not resolve, ED_ERR_CLOSED when refused, ED_ERR_TIMEOUT. The
 * socket has TCP_NODELAY set. */
int ed_plat_csock_connect(const char *host, uint16_t port, uint32_t timeout_ms, ed_csock **out);
/* Writes all len bytes: ED_OK, ED_ERR_TIMEOUT, or ED_ERR_CLOSED when the
 * peer is gone. */
int ed_plat_csock_write(ed_csock *s, const void *buf, size_t len, uint32_t timeout_ms);
/* Reads exactly len bytes: ED_OK, ED_ERR_TIMEOUT (bytes already read are
 * lost: close the socket), ED_ERR_CLOSED at EOF or reset. */
int ed_plat_csock_read(ed_csock *s, void *buf, size_t len, uint32_t timeout_ms);
/* Runs a TLS client handshake on a connected socket with conf (the socket
 * takes a reference) and host as the server's name, within timeout_ms;
 * from then on reads and writes go through TLS. ED_OK, or an error with
 * why naming it (certificate verification, a name mismatch, a closed
 * connection, a timeout); the socket must then be closed. */
int ed_plat_csock_start_tls(ed_csock *s, ed_tls_conf *conf, const char *host, uint32_t timeout_ms,
                            char *why, size_t why_len);
/* Closes and frees s (NULL is a no-op). */
void ed_plat_csock_close(ed_csock *s);

#endif
