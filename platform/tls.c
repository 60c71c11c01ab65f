/* TLS streams on mbedtls (see tls.h); the only file that includes mbedtls.
 *
 * Sending. mbedtls writes records through send_cb, which hands them to the
 * inner stream and keeps what it does not take in the session's own
 * ciphertext queue; while that queue holds bytes the stream takes no new
 * plaintext. mbedtls therefore never sees "would block" on sending and
 * never has to be called again with the same arguments, and the queue
 * holds at most one record (or one handshake flight).
 *
 * Reading. mbedtls decrypts whole records and may keep decrypted bytes
 * after a read that the inner stream will never announce again: after a
 * read that leaves some, the owner is told "readable" once more from a
 * zero-delay timer, for as long as it wants to read.
 *
 * Closing from inside a callback. The owner may close the stream from its
 * own callback; freeing then waits until the callback has returned. */
#define ED_LOG_MODULE "tls"
#include "platform/tls.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#define CHUNK_LEN      16384 /* plaintext per record */
#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define PRINCIPAL_LEN  256
#define DN_MAX_ATTRS   32 /* attributes of a subject named as a principal */

/* TLS 1.2 suites: ECDHE key exchange (forward secrecy) with an AEAD, in
 * the order a server picks them (mbedtls follows its own order).
 * ChaCha20-Poly1305 first: mbedtls 2.28 runs GCM 16 bytes per call even
 * with AES-NI and has no ARMv8 AES at all, and seals records about 1.7
 * times faster with ChaCha20-Poly1305 on the x86 build machine
 * (tests/bench/cipher_bench.c, docs/benchmarks.md); far more on a
 * Raspberry Pi 4, whose cores lack AES instructions. */
static const int suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    0,
};

struct ed_tls_conf {
    int refs;
    bool server, verify_host, has_cert;
    enum ed_tls_client_auth client_auth;
    mbedtls_ssl_config ssl;
    mbedtls_x509_crt chain, ca;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

struct tls_stream {
    ed_stream base;
    ed_stream *inner;
    ed_loop *loop;
    ed_tls_conf *conf;
    mbedtls_ssl_context ssl;
    struct ed_stream_cbs cbs;
    void *arg;
    ed_timer again; /* re-announces decrypted bytes held inside */
    uint8_t *q;     /* ciphertext the inner stream has not taken yet */
    size_t q_pos, q_len, q_cap;
    bool started, want_read, want_write, done, failed, dead;
    bool ip_host; /* host is an IPv4 literal: checked against the certificate's addresses */
    uint8_t ip[4];
    int depth; /* owner callbacks running */
    char *principal;
    char *reason; /* why the handshake failed */
};

static struct ed_log_rl fail_rl;

#define TLS(st) ((struct tls_stream *)(void *)(st))

static void say_mbed(char *why, size_t why_len, const char *what, const char *name, int rc)
{
    char e[160];
    mbedtls_strerror(rc, e, sizeof e);
    if (why && why_len) snprintf(why, why_len, "%s%s%s: %s", what, *name ? " " : "", name, e);
}

/* ---- configurations ---- */

static bool set(const char *s)
{
    return s && *s;
}

/* Parses inline PEM text (mbedtls wants the terminating NUL counted). */
static int parse_crt_pem(mbedtls_x509_crt *crt, const char *pem)
{
    return mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, strlen(pem) + 1);
}

static int load_own(ed_tls_conf *c, const struct ed_tls_settings *st, char *why, size_t why_len)
{
    int rc;
    if (set(st->cert_file)) {
        rc = mbedtls_x509_crt_parse_file(&c->chain, st->cert_file);
        if (rc != 0) {
            say_mbed(why, why_len, "certificate chain", st->cert_file, rc);
            return ED_ERR_INVAL;
        }
    } else if (set(st->cert_pem)) {
        rc = parse_crt_pem(&c->chain, st->cert_pem);
        if (rc != 0) {
            say_mbed(why, why_len, "inline certificate chain", "", rc);
            return ED_ERR_INVAL;
        }
    } else {
        return ED_OK;
    }
    const char *key_file = set(st->key_file) ? st->key_file : NULL;
    if (!key_file && !set(st->key_pem)) key_file = st->cert_file;
    if (key_file) {
        rc = mbedtls_pk_parse_keyfile(&c->key, key_file, NULL);
        if (rc != 0) {
            say_mbed(why, why_len, "private key", key_file, rc);
            return ED_ERR_INVAL;
        }
    } else {
        rc = mbedtls_pk_parse_key(&c->key, (const unsigned char *)st->key_pem,
                                  strlen(st->key_pem) + 1, NULL, 0);
        if (rc != 0) {
            say_mbed(why, why_len, "inline private key", "", rc);
            return ED_ERR_INVAL;
        }
    }
    rc = mbedtls_pk_check_pair(&c->chain.pk, &c->key);
    if (rc != 0) {
        say_mbed(why, why_len, "the private key does not match the certificate",
                 key_file ? key_file : "", rc);
        return ED_ERR_INVAL;
    }
    rc = mbedtls_ssl_conf_own_cert(&c->ssl, &c->chain, &c->key);
    if (rc != 0) {
        say_mbed(why, why_len, "certificate", "", rc);
        return ED_ERR_INVAL;
    }
    c->has_cert = true;
    return ED_OK;
}

static int load_ca(ed_tls_conf *c, const struct ed_tls_settings *st, char *why, size_t why_len)
{
    const char *file = st->ca_file;
    int rc;
    if (!set(file) && set(st->ca_pem)) {
        file = "(inline)";
        rc = parse_crt_pem(&c->ca, st->ca_pem);
    } else {
        if (!set(file)) {
            if (st->server) return ED_OK;
            file = SYSTEM_CA_FILE;
        }
        rc = mbedtls_x509_crt_parse_file(&c->ca, file);
    }
    if (rc < 0) {
        say_mbed(why, why_len, "trust store", file, rc);
        return ED_ERR_INVAL;
    }
    if (c->ca.version == 0) {
        if (why && why_len) snprintf(why, why_len, "trust store %s: no certificate in it", file);
        return ED_ERR_INVAL;
    }
    mbedtls_ssl_conf_ca_chain(&c->ssl, &c->ca, NULL);
    return ED_OK;
}

int ed_plat_tls_conf_new(const struct ed_tls_settings *st, ed_tls_conf **out, char *why,
                         size_t why_len)
{
    ed_tls_conf *c = ed_calloc(1, sizeof *c);
    if (!c) return ED_ERR_NOMEM;
    c->refs = 1;
    c->server = st->server;
    c->client_auth = st->client_auth;
    c->verify_host = st->verify_host && !st->no_verify;
    mbedtls_ssl_config_init(&c->ssl);
    mbedtls_x509_crt_init(&c->chain);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_pk_init(&c->key);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    int err = ED_ERR_INVAL;
    static const char pers[] = "eddy tls";
    int rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                   (const unsigned char *)pers, sizeof pers - 1);
    if (rc == 0)
        rc = mbedtls_ssl_config_defaults(&c->ssl,
                                         st->server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) {
        say_mbed(why, why_len, "TLS set-up", "", rc);
        goto fail;
    }
    mbedtls_ssl_conf_rng(&c->ssl, mbedtls_ctr_drbg_random, &c->drbg);
    mbedtls_ssl_conf_min_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&c->ssl, suites);
    if (load_own(c, st, why, why_len) != ED_OK) goto fail;
    if (st->server && !c->has_cert) {
        if (why && why_len) snprintf(why, why_len, "a TLS listener needs a certificate and key");
        goto fail;
    }
    bool want_ca = !st->server || st->client_auth != ED_TLS_AUTH_NONE;
    if (want_ca && !st->no_verify && load_ca(c, st, why, why_len) != ED_OK) goto fail;
    if (st->server && st->client_auth != ED_TLS_AUTH_NONE && c->ca.version == 0) {
        if (why && why_len)
            snprintf(why, why_len, "client certificates need a trust store to check them with");
        goto fail;
    }
    int mode = MBEDTLS_SSL_VERIFY_REQUIRED;
    if (st->server)
        mode = st->client_auth == ED_TLS_AUTH_REQUIRED    ? MBEDTLS_SSL_VERIFY_REQUIRED
               : st->client_auth == ED_TLS_AUTH_REQUESTED ? MBEDTLS_SSL_VERIFY_OPTIONAL
                                                          : MBEDTLS_SSL_VERIFY_NONE;
    else if (st->no_verify)
        mode = MBEDTLS_SSL_VERIFY_NONE;
    mbedtls_ssl_conf_authmode(&c->ssl, mode);
    *out = c;
    return ED_OK;
fail:
    c->refs = 1;
    ed_plat_tls_conf_unref(c);
    return err;
}

void ed_plat_tls_conf_ref(ed_tls_conf *c)
{
    c->refs++;
}

void ed_plat_tls_conf_unref(ed_tls_conf *c)
{
    if (!c || --c->refs > 0) return;
    mbedtls_ssl_config_free(&c->ssl);
    mbedtls_x509_crt_free(&c->chain);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_pk_free(&c->key);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    ed_free(c);
}

/* ---- moving ciphertext ---- */

/* Sends queued ciphertext: ED_OK (maybe some left), ED_ERR_CLOSED. */
static int push(struct tls_stream *s)
{
    while (s->q_pos < s->q_len) {
        struct ed_iovec v = {s->q + s->q_pos, s->q_len - s->q_pos};
        size_t n = 0;
        int rc = ed_plat_stream_writev(s->inner, &v, 1, &n);
        if (rc != ED_OK) return rc;
        if (n == 0) return ED_OK;
        s->q_pos += n;
    }
    /* Drained: an idle session keeps no queue. */
    ed_free(s->q);
    s->q = NULL;
    s->q_pos = s->q_len = s->q_cap = 0;
    return ED_OK;
}

static int send_cb(void *ctx, const unsigned char *buf, size_t len)
{
    struct tls_stream *s = ctx;
    size_t n = 0;
    if (s->q_len == s->q_pos) {
        struct ed_iovec v = {buf, len};
        if (ed_plat_stream_writev(s->inner, &v, 1, &n) != ED_OK) return MBEDTLS_ERR_NET_CONN_RESET;
        if (n == len) return (int)len;
    }
    size_t rest = len - n;
    if (s->q_cap - s->q_len < rest) {
        if (s->q_pos > 0) {
            memmove(s->q, s->q + s->q_pos, s->q_len - s->q_pos);
            s->q_len -= s->q_pos;
            s->q_pos = 0;
        }
        if (s->q_cap - s->q_len < rest) {
            size_t cap = s->q_len + rest;
            uint8_t *nq = ed_realloc(s->q, cap);
            if (!nq) return MBEDTLS_ERR_SSL_ALLOC_FAILED;
            s->q = nq;
            s->q_cap = cap;
        }
    }
    memcpy(s->q + s->q_len, buf + n, rest);
    s->q_len += rest;
    return (int)len;
}

static int recv_cb(void *ctx, unsigned char *buf, size_t len)
{
    struct tls_stream *s = ctx;
    size_t n = 0;
    int rc = ed_plat_stream_read(s->inner, buf, len, &n);
    if (rc == ED_ERR_AGAIN) return MBEDTLS_ERR_SSL_WANT_READ;
    if (rc != ED_OK) return MBEDTLS_ERR_NET_CONN_RESET;
    return (int)n;
}

static bool queued(const struct tls_stream *s)
{
    return s->q_len > s->q_pos;
}

/* The inner stream's interest follows the session's: reading while the
 * handshake runs or the owner reads; writing while ciphertext waits or the
 * owner wants to write. */
static void update_inner(struct tls_stream *s)
{
    if (!s->started || s->dead) return;
    ed_plat_stream_want_read(s->inner, s->want_read || (!s->done && !s->failed));
    ed_plat_stream_want_write(s->inner, queued(s) || (s->want_write && s->done));
}

/* ---- the handshake ---- */

static bool ipv4_literal(const char *h, uint8_t ip[4])
{
    unsigned a, b, c, d;
    char tail;
    if (sscanf(h, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4) return false;
    if (a > 255 || b > 255 || c > 255 || d > 255) return false;
    ip[0] = (uint8_t)a;
    ip[1] = (uint8_t)b;
    ip[2] = (uint8_t)c;
    ip[3] = (uint8_t)d;
    return true;
}

/* mbedtls 2.28 matches names only: an address is looked up among the
 * certificate's iPAddress alternative names here. */
static bool cert_has_ip(const mbedtls_x509_crt *crt, const uint8_t ip[4])
{
    for (const mbedtls_x509_sequence *n = &crt->subject_alt_names; n && n->buf.p; n = n->next) {
        if (n->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && n->buf.len == 4 &&
            memcmp(n->buf.p, ip, 4) == 0)
            return true;
    }
    return false;
}

/* The RFC 2253 keywords (as Java's X500Principal writes them); any other
 * attribute is written as its dotted OID and the hex of its DER value. */
static const struct {
    const char *oid;
    const char *name;
} dn_keywords[] = {
    {MBEDTLS_OID_AT_CN, "CN"},
    {MBEDTLS_OID_AT_COUNTRY, "C"},
    {MBEDTLS_OID_AT_LOCALITY, "L"},
    {MBEDTLS_OID_AT_STATE, "ST"},
    {MBEDTLS_OID_AT_ORGANIZATION, "O"},
    {MBEDTLS_OID_AT_ORG_UNIT, "OU"},
    {MBEDTLS_OID_AT "\x09", "STREET"},
    {MBEDTLS_OID_DOMAIN_COMPONENT, "DC"},
    {"\x09\x92\x26\x89\x93\xF2\x2C\x64\x01\x01", "UID"},
};

struct dn_out {
    char *p;
    size_t cap, len;
    bool full;
};

static void dn_put(struct dn_out *o, const char *bytes, size_t n)
{
    if (o->len + n >= o->cap) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, bytes, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void dn_hex(struct dn_out *o, unsigned v)
{
    char h[3];
    snprintf(h, sizeof h, "%02x", v & 0xffu);
    dn_put(o, h, 2);
}

/* One attribute: TYPE=value, the value escaped as RFC 2253 says. */
static void dn_attr(struct dn_out *o, const mbedtls_x509_name *a)
{
    const char *kw = NULL;
    for (size_t i = 0; i < sizeof dn_keywords / sizeof dn_keywords[0] && !kw; i++)
        if (strlen(dn_keywords[i].oid) == a->oid.len &&
            memcmp(dn_keywords[i].oid, a->oid.p, a->oid.len) == 0)
            kw = dn_keywords[i].name;
    if (!kw) {
        char num[64];
        int n = mbedtls_oid_get_numeric_string(num, sizeof num, &a->oid);
        dn_put(o, num, n > 0 ? (size_t)n : 0);
        dn_put(o, "=#", 2);
        dn_hex(o, (unsigned)a->val.tag);
        if (a->val.len >= 0x80) {
            int nb = a->val.len > 0xffff ? 3 : a->val.len > 0xff ? 2 : 1;
            dn_hex(o, 0x80u | (unsigned)nb);
            for (int k = nb - 1; k >= 0; k--)
                dn_hex(o, (unsigned)(a->val.len >> (8 * k)));
        } else {
            dn_hex(o, (unsigned)a->val.len);
        }
        for (size_t i = 0; i < a->val.len; i++)
            dn_hex(o, a->val.p[i]);
        return;
    }
    dn_put(o, kw, strlen(kw));
    dn_put(o, "=", 1);
    for (size_t i = 0; i < a->val.len; i++) {
        char ch = (char)a->val.p[i];
        bool edge = (i == 0 && (ch == ' ' || ch == '#')) || (i + 1 == a->val.len && ch == ' ');
        if (edge || strchr(",+\"\\<>;", ch) != NULL || ch == '\0') dn_put(o, "\\", 1);
        dn_put(o, &ch, 1);
    }
}

/* The subject as Kafka names an SSL client (Java's RFC 2253 form: the
 * most specific name first, "," between names, "+" inside one). False if
 * it does not fit out. */
static bool dn_rfc2253(const mbedtls_x509_name *dn, char *out, size_t cap)
{
    const mbedtls_x509_name *attrs[DN_MAX_ATTRS];
    size_t n = 0;
    for (const mbedtls_x509_name *a = dn; a; a = a->next) {
        if (n == DN_MAX_ATTRS) return false;
        attrs[n++] = a;
    }
    struct dn_out o = {out, cap, 0, cap == 0};
    if (cap) out[0] = '\0';
    /* RDNs from the last to the first; the attributes of one in order */
    size_t end = n;
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && attrs[start - 1]->next_merged)
            start--;
        if (end != n) dn_put(&o, ",", 1);
        for (size_t i = start; i < end; i++) {
            if (i != start) dn_put(&o, "+", 1);
            dn_attr(&o, attrs[i]);
        }
        end = start;
    }
    return !o.full && o.len > 0;
}

/* After a successful handshake: the peer's certificate, if any, must have
 * verified (a requested client certificate may be absent, not bad), and
 * its subject becomes the principal. */
static int accept_peer(struct tls_stream *s, char *why, size_t why_len)
{
    const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&s->ssl);
    uint32_t flags = mbedtls_ssl_get_verify_result(&s->ssl);
    if (crt && flags != 0 && s->conf->ssl.authmode != MBEDTLS_SSL_VERIFY_NONE) {
        char info[200];
        mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
        info[strcspn(info, "\n")] = '\0';
        if (why && why_len) snprintf(why, why_len, "peer certificate refused: %s", info);
        return ED_ERR_PERM;
    }
    if (s->ip_host && (!crt || !cert_has_ip(crt, s->ip))) {
        if (why && why_len)
            snprintf(why, why_len, "server certificate does not name address %u.%u.%u.%u", s->ip[0],
                     s->ip[1], s->ip[2], s->ip[3]);
        return ED_ERR_PERM;
    }
    if (crt && s->conf->server && flags == 0) {
        char dn[PRINCIPAL_LEN];
        if (dn_rfc2253(&crt->subject, dn, sizeof dn)) {
            size_t len = strlen(dn) + 1;
            s->principal = ed_malloc(len);
            if (s->principal) memcpy(s->principal, dn, len);
        }
    }
    return ED_OK;
}

static int step(struct tls_stream *s, char *why, size_t why_len)
{
    if (s->failed) {
        if (why && why_len) snprintf(why, why_len, "%s", s->reason ? s->reason : "closed");
        return ED_ERR_CLOSED;
    }
    if (s->done) return ED_OK;
    char reason[256] = "";
    int rc = mbedtls_ssl_handshake(&s->ssl);
    int err = ED_OK;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        err = ED_ERR_AGAIN;
    } else if (rc != 0) {
        say_mbed(reason, sizeof reason, "handshake failed", "", rc);
        if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
            char info[200];
            mbedtls_x509_crt_verify_info(info, sizeof info, "",
                                         mbedtls_ssl_get_verify_result(&s->ssl));
            info[strcspn(info, "\n")] = '\0';
            snprintf(reason, sizeof reason, "certificate verification failed: %s", info);
        }
        err = rc == MBEDTLS_ERR_NET_CONN_RESET ? ED_ERR_CLOSED : ED_ERR_PERM;
    } else {
        err = accept_peer(s, reason, sizeof reason);
        if (err == ED_OK) s->done = true;
    }
    if (err == ED_ERR_AGAIN || err == ED_OK) {
        if (push(s) != ED_OK) {
            snprintf(reason, sizeof reason, "connection closed during the handshake");
            err = ED_ERR_CLOSED;
        }
    }
    if (err != ED_OK && err != ED_ERR_AGAIN) {
        s->failed = true;
        if (err != ED_ERR_CLOSED && s->conf->server)
            ED_LOG_WARN_RL_AT(&fail_rl, "TLS from %s: %s", ed_plat_stream_peer(s->inner), reason);
        if (why && why_len) snprintf(why, why_len, "%s", reason);
        size_t len = strlen(reason) + 1;
        s->reason = ed_malloc(len);
        if (s->reason) memcpy(s->reason, reason, len);
        /* A fatal alert, if mbedtls made one, goes out if the socket takes it. */
        (void)push(s);
    }
    update_inner(s);
    return err;
}

/* ---- the owner's callbacks ---- */

static void free_stream(struct tls_stream *s)
{
    if (s->loop) ed_plat_timer_stop(s->loop, &s->again);
    mbedtls_ssl_free(&s->ssl);
    ed_plat_tls_conf_unref(s->conf);
    ed_free(s->q);
    ed_free(s->principal);
    ed_free(s->reason);
    ed_free(s);
}

/* Calls an owner callback; false when the owner closed the stream in it
 * (it is freed then, do not touch s). */
static bool call(struct tls_stream *s, void (*cb)(void *arg))
{
    if (!cb || s->dead) return !s->dead;
    s->depth++;
    cb(s->arg);
    s->depth--;
    if (s->dead && s->depth == 0) {
        free_stream(s);
        return false;
    }
    return !s->dead;
}

static void on_again(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    struct tls_stream *s = arg;
    if (s->want_read || s->failed) call(s, s->cbs.on_readable);
}

static void announce_held(struct tls_stream *s)
{
    if (s->loop && s->want_read && !s->dead && mbedtls_ssl_get_bytes_avail(&s->ssl) > 0 &&
        !ed_plat_timer_armed(&s->again))
        ed_plat_timer_start(s->loop, &s->again, 0, on_again, s);
}

static void inner_readable(void *arg)
{
    struct tls_stream *s = arg;
    if (!s->done && !s->failed) {
        int rc = step(s, NULL, 0);
        if (rc == ED_ERR_AGAIN) return;
        /* Done: the owner may have waited to write; failed: its read says so. */
        if (rc == ED_OK && s->want_write && !call(s, s->cbs.on_writable)) return;
    }
    call(s, s->cbs.on_readable);
}

static void inner_writable(void *arg)
{
    struct tls_stream *s = arg;
    if (push(s) != ED_OK) {
        s->failed = true;
        call(s, s->cbs.on_readable); /* its read reports the close */
        return;
    }
    if (!s->done && !s->failed) {
        int rc = step(s, NULL, 0);
        if (rc == ED_ERR_AGAIN) return;
        if (rc != ED_OK) {
            call(s, s->cbs.on_readable);
            return;
        }
    }
    if (!queued(s) && s->want_write && !call(s, s->cbs.on_writable)) return;
    update_inner(s);
}

/* ---- stream operations ---- */

static void tls_set_cbs(ed_stream *st, const struct ed_stream_cbs *cbs, void *arg)
{
    struct tls_stream *s = TLS(st);
    s->cbs = *cbs;
    s->arg = arg;
    s->want_read = true;
    s->started = true;
    static const struct ed_stream_cbs inner_cbs = {inner_readable, inner_writable};
    ed_plat_stream_set_cbs(s->inner, &inner_cbs, s);
    /* A client speaks first. A failure is reported from the loop, not
     * from inside this call. */
    if (!s->conf->server && step(s, NULL, 0) == ED_ERR_CLOSED && s->loop)
        ed_plat_timer_start(s->loop, &s->again, 0, on_again, s);
    update_inner(s);
}

static int tls_read(ed_stream *st, void *buf, size_t len, size_t *n)
{
    struct tls_stream *s = TLS(st);
    *n = 0;
    int rc = step(s, NULL, 0);
    if (rc != ED_OK) return rc == ED_ERR_AGAIN ? ED_ERR_AGAIN : ED_ERR_CLOSED;
    int r = mbedtls_ssl_read(&s->ssl, buf, len);
    if (r > 0) {
        *n = (size_t)r;
        announce_held(s);
        return ED_OK;
    }
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
        if (push(s) != ED_OK) return ED_ERR_CLOSED;
        update_inner(s);
        return ED_ERR_AGAIN;
    }
    if (r != 0 && r != MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY && r != MBEDTLS_ERR_NET_CONN_RESET) {
        char e[160];
        mbedtls_strerror(r, e, sizeof e);
        ED_LOG_DBG("TLS read from %s: %s", ed_plat_stream_peer(s->inner), e);
    }
    s->failed = true;
    return ED_ERR_CLOSED;
}

static int write_plain(struct tls_stream *s, const uint8_t *p, size_t len, size_t *n)
{
    while (len > 0 && !queued(s)) {
        int r = mbedtls_ssl_write(&s->ssl, p, ED_MIN(len, (size_t)CHUNK_LEN));
        if (r < 0) {
            s->failed = true;
            return ED_ERR_CLOSED;
        }
        p += r;
        len -= (size_t)r;
        *n += (size_t)r;
    }
    return ED_OK;
}

static int tls_writev(ed_stream *st, const struct ed_iovec *iov, int n_iov, size_t *n)
{
    struct tls_stream *s = TLS(st);
    *n = 0;
    int rc = step(s, NULL, 0);
    if (rc == ED_ERR_AGAIN) return ED_OK;
    if (rc != ED_OK || push(s) != ED_OK) return ED_ERR_CLOSED;
    for (int i = 0; i < n_iov && !queued(s); i++) {
        rc = write_plain(s, iov[i].base, iov[i].len, n);
        if (rc != ED_OK) return rc;
    }
    update_inner(s);
    return ED_OK;
}

/* No zero-copy through encryption: file bytes are read and written as any
 * other. */
static int tls_sendfile(ed_stream *st, ed_file *f, uint64_t pos, size_t len, size_t *n)
{
    struct tls_stream *s = TLS(st);
    *n = 0;
    int rc = step(s, NULL, 0);
    if (rc == ED_ERR_AGAIN) return ED_OK;
    if (rc != ED_OK || push(s) != ED_OK) return ED_ERR_CLOSED;
    uint8_t buf[CHUNK_LEN];
    while (len > 0 && !queued(s)) {
        size_t got = 0;
        rc = ed_plat_file_pread(f, buf, ED_MIN(len, sizeof buf), pos, &got);
        if (rc != ED_OK) return rc;
        if (got == 0) return ED_ERR_IO;
        size_t k = 0;
        rc = write_plain(s, buf, got, &k);
        *n += k;
        if (rc != ED_OK) return rc;
        pos += k;
        len -= k;
    }
    update_inner(s);
    return ED_OK;
}

static void tls_want_write(ed_stream *st, bool on)
{
    struct tls_stream *s = TLS(st);
    s->want_write = on;
    update_inner(s);
}

static void tls_want_read(ed_stream *st, bool on)
{
    struct tls_stream *s = TLS(st);
    s->want_read = on;
    update_inner(s);
    announce_held(s);
}

static const char *tls_peer(const ed_stream *st)
{
    return ed_plat_stream_peer(TLS(st)->inner);
}

static void tls_close(ed_stream *st)
{
    struct tls_stream *s = TLS(st);
    if (s->done && !s->failed) {
        (void)mbedtls_ssl_close_notify(&s->ssl); /* best effort */
        (void)push(s);
    }
    ed_plat_stream_close(s->inner);
    s->inner = NULL;
    s->dead = true;
    if (s->loop) ed_plat_timer_stop(s->loop, &s->again);
    if (s->depth == 0) free_stream(s);
}

static bool tls_busy(const ed_stream *st)
{
    const struct tls_stream *s = TLS(st);
    /* in_left: bytes of a record received so far (mbedtls 2.28 keeps the
     * field public; check_pending does not count them in stream mode). */
    return !s->done || s->ssl.in_left > 0 || mbedtls_ssl_check_pending(&s->ssl);
}

static const char *tls_principal(const ed_stream *st)
{
    return TLS(st)->principal;
}

static void tls_set_quickack(ed_stream *st, bool on)
{
    ed_plat_stream_set_quickack(TLS(st)->inner, on);
}

static const struct ed_stream_ops tls_ops = {
    .set_cbs = tls_set_cbs,
    .read = tls_read,
    .writev = tls_writev,
    .sendfile = tls_sendfile,
    .want_write = tls_want_write,
    .want_read = tls_want_read,
    .peer = tls_peer,
    .close = tls_close,
    .busy = tls_busy,
    .principal = tls_principal,
    .set_quickack = tls_set_quickack,
};

static int wrap(ed_loop *loop, ed_tls_conf *conf, ed_stream *inner, const char *host,
                ed_stream **out)
{
    struct tls_stream *s = ed_calloc(1, sizeof *s);
    if (!s) {
        ed_plat_stream_close(inner);
        return ED_ERR_NOMEM;
    }
    s->base.ops = &tls_ops;
    s->inner = inner;
    s->loop = loop;
    s->conf = conf;
    ed_plat_tls_conf_ref(conf);
    mbedtls_ssl_init(&s->ssl);
    int rc = mbedtls_ssl_setup(&s->ssl, &conf->ssl);
    /* A name is sent as SNI and checked by mbedtls; an address (mbedtls
     * 2.28 matches names only) is checked after the handshake. */
    if (rc == 0 && !conf->server && host && conf->verify_host) {
        if (ipv4_literal(host, s->ip))
            s->ip_host = true;
        else
            rc = mbedtls_ssl_set_hostname(&s->ssl, host);
    }
    if (rc != 0) {
        ed_plat_stream_close(inner);
        s->inner = NULL;
        free_stream(s);
        return rc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? ED_ERR_NOMEM : ED_ERR_INVAL;
    }
    mbedtls_ssl_set_bio(&s->ssl, s, send_cb, recv_cb, NULL);
    *out = &s->base;
    return ED_OK;
}

int ed_plat_tls_server(ed_loop *loop, ed_tls_conf *conf, ed_stream *inner, ed_stream **out)
{
    ED_ASSERT(conf->server);
    return wrap(loop, conf, inner, NULL, out);
}

int ed_plat_tls_client(ed_loop *loop, ed_tls_conf *conf, ed_stream *inner, const char *host,
                       ed_stream **out)
{
    ED_ASSERT(!conf->server);
    return wrap(loop, conf, inner, host, out);
}

int ed_plat_tls_handshake(ed_stream *st, char *why, size_t why_len)
{
    return step(TLS(st), why, why_len);
}

bool ed_plat_tls_wants_write(const ed_stream *st)
{
    return queued(TLS(st));
}

int ed_plat_tls_flush(ed_stream *st)
{
    return push(TLS(st));
}

size_t ed_plat_tls_pending(const ed_stream *st)
{
    return mbedtls_ssl_get_bytes_avail(&TLS(st)->ssl);
}
