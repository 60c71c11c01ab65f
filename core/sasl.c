/* SASL mechanisms PLAIN and SCRAM-SHA-256/512, server and client step
 * functions, and SCRAM credential derivation (see core/sasl.h). Every
 * client or server message is parsed through a bounded cursor; nothing is
 * allocated per message. */
#include "core/sasl.h"

#include "platform/mem.h"
#include "platform/platform.h"

#include <string.h>

#define NONCE_RAND_LEN 18  /* random bytes of a nonce: 24 base64 characters */
#define MAX_NONCE      255 /* characters of a nonce (client or combined) */
#define GS2_MAX        (ED_SASL_MAX_NAME * 3 + 8)

/* Exchange states; a client waits in ST_FIRST for the server-first message
 * and in ST_FINAL for the server's last answer. */
enum { ST_START = 0, ST_FIRST, ST_FINAL, ST_DONE, ST_FAILED };

/* Kafka's own texts for a wrong password or an unknown user. */
static const char R_PLAIN_INVALID[] = "Authentication failed: Invalid username or password";
static const char R_SCRAM256_INVALID[] = "Authentication failed during authentication due to "
                                         "invalid credentials with SASL mechanism SCRAM-SHA-256";
static const char R_SCRAM512_INVALID[] = "Authentication failed during authentication due to "
                                         "invalid credentials with SASL mechanism SCRAM-SHA-512";
static const char R_MALFORMED[] = "Authentication failed: malformed SASL message";

enum ed_sasl_mech ed_sasl_mech_parse(const char *name, size_t len)
{
    static const struct {
        const char *name;
        enum ed_sasl_mech m;
    } names[] = {{"PLAIN", ED_SASL_PLAIN},
                 {"SCRAM-SHA-256", ED_SASL_SCRAM_SHA_256},
                 {"SCRAM-SHA-512", ED_SASL_SCRAM_SHA_512}};
    for (size_t i = 0; i < ED_ARRAY_LEN(names); i++)
        if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0)
            return names[i].m;
    return 0;
}

int ed_sasl_mech_list_parse(const char *list)
{
    int mechs = 0;
    const char *v = list;
    while (*v) {
        while (*v == ' ' || *v == ',')
            v++;
        size_t n = strcspn(v, ", ");
        if (!n) break;
        enum ed_sasl_mech m = ed_sasl_mech_parse(v, n);
        if (!m) return -1;
        mechs |= (int)m;
        v += n;
    }
    return mechs;
}

const char *ed_sasl_mech_name(enum ed_sasl_mech m)
{
    switch (m) {
    case ED_SASL_PLAIN:
        return "PLAIN";
    case ED_SASL_SCRAM_SHA_256:
        return "SCRAM-SHA-256";
    case ED_SASL_SCRAM_SHA_512:
        return "SCRAM-SHA-512";
    }
    return "?";
}

enum ed_hash ed_sasl_mech_hash(enum ed_sasl_mech m)
{
    if (m == ED_SASL_SCRAM_SHA_256) return ED_HASH_SHA256;
    if (m == ED_SASL_SCRAM_SHA_512) return ED_HASH_SHA512;
    return 0;
}

/* ---- credentials ---- */

int ed_scram_cred_from_salted(enum ed_sasl_mech m, const uint8_t *salted, const uint8_t *salt,
                              size_t salt_len, uint32_t iterations, struct ed_scram_cred *out)
{
    enum ed_hash h = ed_sasl_mech_hash(m);
    size_t hl = ed_plat_crypto_hash_len(h);
    if (!hl || salt_len == 0 || salt_len > ED_SCRAM_MAX_SALT || iterations < ED_SCRAM_MIN_ITER ||
        iterations > ED_SCRAM_MAX_ITER)
        return ED_ERR_INVAL;
    struct ed_scram_cred c;
    memset(&c, 0, sizeof c);
    c.iterations = iterations;
    c.salt_len = (uint8_t)salt_len;
    memcpy(c.salt, salt, salt_len);
    uint8_t client_key[ED_HASH_MAX_LEN];
    int rc = ed_plat_crypto_hmac(h, salted, hl, "Client Key", 10, client_key);
    if (!rc) rc = ed_plat_crypto_hash(h, client_key, hl, c.stored_key);
    if (!rc) rc = ed_plat_crypto_hmac(h, salted, hl, "Server Key", 10, c.server_key);
    if (rc) return rc;
    *out = c;
    return ED_OK;
}

int ed_scram_cred_make(enum ed_sasl_mech m, const void *pw, size_t pw_len, const uint8_t *salt,
                       size_t salt_len, uint32_t iterations, struct ed_scram_cred *out)
{
    enum ed_hash h = ed_sasl_mech_hash(m);
    if (!h || salt_len == 0 || salt_len > ED_SCRAM_MAX_SALT || iterations < ED_SCRAM_MIN_ITER ||
        iterations > ED_SCRAM_MAX_ITER)
        return ED_ERR_INVAL;
    uint8_t salted[ED_HASH_MAX_LEN];
    int rc = ed_plat_crypto_pbkdf2(h, pw, pw_len, salt, salt_len, iterations, salted);
    if (rc) return rc;
    return ed_scram_cred_from_salted(m, salted, salt, salt_len, iterations, out);
}

int ed_scram_cred_check(enum ed_sasl_mech m, const struct ed_scram_cred *cred, const void *pw,
                        size_t pw_len)
{
    struct ed_scram_cred c;
    int rc = ed_scram_cred_make(m, pw, pw_len, cred->salt, cred->salt_len, cred->iterations, &c);
    if (rc) return rc;
    size_t hl = ed_plat_crypto_hash_len(ed_sasl_mech_hash(m));
    return ed_plat_crypto_equal(c.stored_key, cred->stored_key, hl) ? ED_OK : ED_ERR_PERM;
}

/* ---- message parsing: a bounded cursor over "k=v,k=v" ---- */

struct cur {
    const char *p;
    size_t len;
    size_t pos;
    bool bad; /* sticky */
};

/* Takes "k=" and returns the value up to the next ',' (or the end). */
static bool attr(struct cur *c, char key, const char **val, size_t *val_len)
{
    if (c->bad || c->len - c->pos < 2 || c->p[c->pos] != key || c->p[c->pos + 1] != '=') {
        c->bad = true;
        return false;
    }
    size_t start = c->pos + 2;
    size_t end = start;
    while (end < c->len && c->p[end] != ',')
        end++;
    *val = c->p + start;
    *val_len = end - start;
    c->pos = end;
    return true;
}

/* Takes the ',' between attributes; false at the end. */
static bool comma(struct cur *c)
{
    if (c->bad || c->pos >= c->len) return false;
    if (c->p[c->pos] != ',') {
        c->bad = true;
        return false;
    }
    c->pos++;
    return true;
}

/* Attribute names (and so optional extensions) are single letters. */
static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool printable_nonce(const char *s, size_t n)
{
    if (n == 0 || n > MAX_NONCE) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e || s[i] == ',') return false;
    return true;
}

/* Sets a test's fixed nonce (dst holds MAX_NONCE + 1 bytes). */
static int set_nonce(char *dst, const char *nonce)
{
    size_t n = strlen(nonce);
    if (!printable_nonce(nonce, n)) return ED_ERR_INVAL;
    memcpy(dst, nonce, n + 1);
    return ED_OK;
}

/* RFC 5802 saslname -> name: "=2C" is ',', "=3D" is '=', any other '='
 * and any NUL or control byte is refused. */
static bool unescape_name(const char *s, size_t n, char *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if ((unsigned char)ch < 0x20 || ch == 0x7f) return false;
        if (ch == '=') {
            if (n - i < 3) return false;
            if (s[i + 1] == '2' && s[i + 2] == 'C')
                ch = ',';
            else if (s[i + 1] == '3' && s[i + 2] == 'D')
                ch = '=';
            else
                return false;
            i += 2;
        }
        if (o >= ED_SASL_MAX_NAME) return false;
        out[o++] = ch;
    }
    if (o == 0) return false;
    out[o] = '\0';
    *out_len = o;
    return true;
}

static size_t escape_name(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = name; *p; p++) {
        const char *rep = *p == ',' ? "=2C" : *p == '=' ? "=3D" : NULL;
        size_t n = rep ? 3 : 1;
        if (o + n >= cap) return 0;
        if (rep)
            memcpy(out + o, rep, 3);
        else
            out[o] = *p;
        o += n;
    }
    out[o] = '\0';
    return o;
}

static int make_nonce(char *out, size_t cap)
{
    uint8_t raw[NONCE_RAND_LEN];
    size_t n;
    ed_plat_random(raw, sizeof raw);
    return ed_plat_crypto_b64_encode(raw, sizeof raw, out, cap, &n);
}

static bool append(char *buf, size_t cap, size_t *len, const void *p, size_t n)
{
    if (n > cap - *len) return false;
    memcpy(buf + *len, p, n);
    *len += n;
    return true;
}

/* ---- server ---- */

struct ed_sasl_server {
    enum ed_sasl_mech mech;
    ed_sasl_lookup_fn lookup;
    void *arg;
    int state;
    const char *reason;
    char user[ED_SASL_MAX_NAME + 1];
    size_t user_len;
    struct ed_scram_cred cred;
    char snonce[MAX_NONCE + 1]; /* empty: draw one at the first message */
    char gs2[GS2_MAX];          /* the client's GS2 header, e.g. "n,," */
    size_t gs2_len;
    char nonce[MAX_NONCE * 2 + 1]; /* client nonce + server nonce */
    size_t nonce_len;
    char auth[ED_SASL_MAX_MSG * 3 + 2]; /* AuthMessage being built */
    size_t auth_len;
    uint8_t out[ED_SASL_MAX_MSG];
    size_t out_len;
};

int ed_sasl_server_new(enum ed_sasl_mech m, ed_sasl_lookup_fn lookup, void *arg,
                       ed_sasl_server **out)
{
    if (m != ED_SASL_PLAIN && m != ED_SASL_SCRAM_SHA_256 && m != ED_SASL_SCRAM_SHA_512)
        return ED_ERR_INVAL;
    ed_sasl_server *s = ed_calloc(1, sizeof *s);
    if (!s) return ED_ERR_NOMEM;
    s->mech = m;
    s->lookup = lookup;
    s->arg = arg;
    *out = s;
    return ED_OK;
}

void ed_sasl_server_free(ed_sasl_server *s)
{
    if (!s) return;
    /* the stored keys are secrets of the store: do not leave them behind */
    memset(&s->cred, 0, sizeof s->cred);
    ed_free(s);
}

int ed_sasl_server_set_nonce(ed_sasl_server *s, const char *nonce)
{
    return set_nonce(s->snonce, nonce);
}

const char *ed_sasl_server_user(const ed_sasl_server *s)
{
    return s->state == ST_DONE ? s->user : "";
}

const char *ed_sasl_server_reason(const ed_sasl_server *s)
{
    return s->reason ? s->reason : "";
}

static enum ed_sasl_status fail(ed_sasl_server *s, const char *why)
{
    s->state = ST_FAILED;
    s->reason = why;
    s->out_len = 0;
    return ED_SASL_FAILED;
}

static const char *scram_invalid(const ed_sasl_server *s)
{
    return s->mech == ED_SASL_SCRAM_SHA_512 ? R_SCRAM512_INVALID : R_SCRAM256_INVALID;
}

/* PLAIN: [authzid] NUL authcid NUL passwd, checked against the user's
 * SCRAM credential (SCRAM-SHA-256 first, else SCRAM-SHA-512). */
static enum ed_sasl_status plain_step(ed_sasl_server *s, const uint8_t *in, size_t n)
{
    const uint8_t *z1 = memchr(in, 0, n);
    if (!z1) return fail(s, R_MALFORMED);
    const uint8_t *cid = z1 + 1;
    const uint8_t *z2 = memchr(cid, 0, n - (size_t)(cid - in));
    if (!z2) return fail(s, R_MALFORMED);
    const uint8_t *pw = z2 + 1;
    size_t zid_len = (size_t)(z1 - in);
    size_t cid_len = (size_t)(z2 - cid);
    size_t pw_len = n - (size_t)(pw - in);
    if (memchr(pw, 0, pw_len) || cid_len == 0 || cid_len > ED_SASL_MAX_NAME || pw_len == 0 ||
        pw_len > ED_SASL_MAX_PASSWORD)
        return fail(s, R_MALFORMED);
    if (zid_len && (zid_len != cid_len || memcmp(in, cid, cid_len) != 0))
        return fail(s, "Authentication failed: authorization id differs from user name");
    memcpy(s->user, cid, cid_len);
    s->user[cid_len] = '\0';
    s->user_len = cid_len;
    enum ed_sasl_mech m = ED_SASL_SCRAM_SHA_256;
    int rc = s->lookup(s->arg, s->user, cid_len, m, &s->cred);
    if (rc == ED_ERR_NOENT) {
        m = ED_SASL_SCRAM_SHA_512;
        rc = s->lookup(s->arg, s->user, cid_len, m, &s->cred);
    }
    if (rc == ED_OK) rc = ed_scram_cred_check(m, &s->cred, pw, pw_len);
    if (rc) return fail(s, R_PLAIN_INVALID);
    s->state = ST_DONE;
    s->out_len = 0;
    return ED_SASL_DONE;
}

static enum ed_sasl_status scram_first(ed_sasl_server *s, const char *msg, size_t n)
{
    struct cur c = {msg, n, 0, false};
    /* gs2-header: cbind-flag "," [ "a=" saslname ] "," */
    if (n < 3) return fail(s, R_MALFORMED);
    if (msg[0] == 'p') return fail(s, "Authentication failed: channel binding is not supported");
    if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') return fail(s, R_MALFORMED);
    c.pos = 2;
    char authzid[ED_SASL_MAX_NAME + 1];
    size_t authzid_len = 0;
    if (msg[2] == 'a') {
        const char *v;
        size_t vl;
        if (!attr(&c, 'a', &v, &vl) || !unescape_name(v, vl, authzid, &authzid_len))
            return fail(s, R_MALFORMED);
    }
    if (c.pos >= n || msg[c.pos] != ',') return fail(s, R_MALFORMED);
    c.pos++;
    s->gs2_len = c.pos;
    memcpy(s->gs2, msg, c.pos);
    size_t bare = c.pos;
    /* client-first-message-bare: "n=" saslname ",r=" nonce ["," ext]* */
    if (c.pos < n && msg[c.pos] == 'm')
        return fail(s, "Authentication failed: unsupported mandatory extension");
    const char *v;
    size_t vl;
    if (!attr(&c, 'n', &v, &vl) || !unescape_name(v, vl, s->user, &s->user_len))
        return fail(s, R_MALFORMED);
    const char *cn;
    size_t cn_len;
    if (!comma(&c) || !attr(&c, 'r', &cn, &cn_len) || !printable_nonce(cn, cn_len))
        return fail(s, R_MALFORMED);
    while (comma(&c)) {
        if (c.pos >= n || !is_alpha(msg[c.pos]) || !attr(&c, msg[c.pos], &v, &vl))
            return fail(s, R_MALFORMED);
    }
    if (c.bad) return fail(s, R_MALFORMED);
    if (authzid_len && (authzid_len != s->user_len || memcmp(authzid, s->user, s->user_len) != 0))
        return fail(s, "Authentication failed: authorization id differs from user name");
    if (s->lookup(s->arg, s->user, s->user_len, s->mech, &s->cred) != ED_OK)
        return fail(s, scram_invalid(s));
    if (!s->snonce[0] && make_nonce(s->snonce, sizeof s->snonce) != ED_OK)
        return fail(s, "Authentication failed: internal error");
    s->nonce_len = 0;
    size_t sn_len = strlen(s->snonce);
    if (!append(s->nonce, sizeof s->nonce - 1, &s->nonce_len, cn, cn_len) ||
        !append(s->nonce, sizeof s->nonce - 1, &s->nonce_len, s->snonce, sn_len))
        return fail(s, R_MALFORMED);
    /* server-first-message: r=nonce,s=salt,i=iterations */
    char salt64[ED_SCRAM_MAX_SALT * 2];
    size_t salt64_len;
    if (ed_plat_crypto_b64_encode(s->cred.salt, s->cred.salt_len, salt64, sizeof salt64,
                                  &salt64_len))
        return fail(s, "Authentication failed: internal error");
    char iter[16];
    size_t il = 0;
    char digits[12];
    size_t nd = 0;
    for (uint32_t it = s->cred.iterations; it || nd == 0; it /= 10)
        digits[nd++] = (char)('0' + it % 10);
    while (nd)
        iter[il++] = digits[--nd];
    char *o = (char *)s->out;
    size_t ol = 0;
    size_t cap = sizeof s->out;
    bool ok = append(o, cap, &ol, "r=", 2) && append(o, cap, &ol, s->nonce, s->nonce_len) &&
              append(o, cap, &ol, ",s=", 3) && append(o, cap, &ol, salt64, salt64_len) &&
              append(o, cap, &ol, ",i=", 3) && append(o, cap, &ol, iter, il);
    s->auth_len = 0;
    ok = ok && append(s->auth, sizeof s->auth, &s->auth_len, msg + bare, n - bare) &&
         append(s->auth, sizeof s->auth, &s->auth_len, ",", 1) &&
         append(s->auth, sizeof s->auth, &s->auth_len, o, ol) &&
         append(s->auth, sizeof s->auth, &s->auth_len, ",", 1);
    if (!ok) return fail(s, R_MALFORMED);
    s->out_len = ol;
    s->state = ST_FINAL;
    return ED_SASL_CONTINUE;
}

static enum ed_sasl_status scram_final(ed_sasl_server *s, const char *msg, size_t n)
{
    enum ed_hash h = ed_sasl_mech_hash(s->mech);
    size_t hl = ed_plat_crypto_hash_len(h);
    struct cur c = {msg, n, 0, false};
    const char *cb, *r, *v, *p = NULL;
    size_t cb_len, r_len, vl, p_len = 0, without_proof = 0;
    if (!attr(&c, 'c', &cb, &cb_len) || !comma(&c) || !attr(&c, 'r', &r, &r_len))
        return fail(s, R_MALFORMED);
    while (comma(&c)) {
        if (c.pos >= n || !is_alpha(msg[c.pos])) return fail(s, R_MALFORMED);
        if (msg[c.pos] == 'p') {
            without_proof = c.pos - 1;
            if (!attr(&c, 'p', &p, &p_len)) return fail(s, R_MALFORMED);
            break;
        }
        if (!attr(&c, msg[c.pos], &v, &vl)) return fail(s, R_MALFORMED);
    }
    if (c.bad || !p || c.pos != n) return fail(s, R_MALFORMED);
    uint8_t gs2[GS2_MAX];
    size_t gs2_len;
    if (ed_plat_crypto_b64_decode(cb, cb_len, gs2, sizeof gs2, &gs2_len) || gs2_len != s->gs2_len ||
        memcmp(gs2, s->gs2, gs2_len) != 0)
        return fail(s, "Authentication failed: channel binding data differs");
    /* Kafka accepts a nonce that ends with the server-first one, and
     * librdkafka relies on it (it sends its client nonce twice); the
     * AuthMessage is built from the bytes the client sent either way. */
    if (r_len < s->nonce_len || memcmp(r + r_len - s->nonce_len, s->nonce, s->nonce_len) != 0)
        return fail(s, "Authentication failed: nonce differs");
    uint8_t proof[ED_HASH_MAX_LEN + 3];
    size_t proof_len;
    if (ed_plat_crypto_b64_decode(p, p_len, proof, sizeof proof, &proof_len) || proof_len != hl)
        return fail(s, R_MALFORMED);
    if (!append(s->auth, sizeof s->auth, &s->auth_len, msg, without_proof))
        return fail(s, R_MALFORMED);
    /* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); H(ClientKey)
     * must be StoredKey. */
    uint8_t sig[ED_HASH_MAX_LEN], key[ED_HASH_MAX_LEN], stored[ED_HASH_MAX_LEN];
    int rc = ed_plat_crypto_hmac(h, s->cred.stored_key, hl, s->auth, s->auth_len, sig);
    for (size_t i = 0; i < hl; i++)
        key[i] = proof[i] ^ sig[i];
    if (!rc) rc = ed_plat_crypto_hash(h, key, hl, stored);
    if (rc || !ed_plat_crypto_equal(stored, s->cred.stored_key, hl))
        return fail(s, scram_invalid(s));
    rc = ed_plat_crypto_hmac(h, s->cred.server_key, hl, s->auth, s->auth_len, sig);
    char *o = (char *)s->out;
    size_t b64_len;
    if (rc || ed_plat_crypto_b64_encode(sig, hl, o + 2, sizeof s->out - 2, &b64_len))
        return fail(s, "Authentication failed: internal error");
    memcpy(o, "v=", 2);
    s->out_len = 2 + b64_len;
    s->state = ST_DONE;
    return ED_SASL_DONE;
}

enum ed_sasl_status ed_sasl_server_step(ed_sasl_server *s, const uint8_t *in, size_t in_len,
                                        const uint8_t **out, size_t *out_len)
{
    *out = s->out;
    *out_len = 0;
    enum ed_sasl_status st;
    if (s->state == ST_DONE || s->state == ST_FAILED)
        st = fail(s, "Authentication failed: exchange already finished");
    else if (in_len == 0 || in_len > ED_SASL_MAX_MSG || (!in && in_len))
        st = fail(s, R_MALFORMED);
    else if (s->mech == ED_SASL_PLAIN)
        st = plain_step(s, in, in_len);
    else if (memchr(in, 0, in_len))
        st = fail(s, R_MALFORMED);
    else if (s->state == ST_START)
        st = scram_first(s, (const char *)in, in_len);
    else
        st = scram_final(s, (const char *)in, in_len);
    *out_len = s->out_len;
    if (st != ED_SASL_CONTINUE) memset(&s->cred, 0, sizeof s->cred);
    return st;
}

/* ---- client ---- */

struct ed_sasl_client {
    enum ed_sasl_mech mech;
    int state;
    const char *reason;
    char name[ED_SASL_MAX_NAME + 1];
    char pw[ED_SASL_MAX_PASSWORD + 1];
    size_t pw_len;
    char cnonce[MAX_NONCE + 1];
    char auth[ED_SASL_MAX_MSG * 3 + 2];
    size_t auth_len;
    uint8_t server_sig[ED_HASH_MAX_LEN];
    uint8_t out[ED_SASL_MAX_MSG];
};

int ed_sasl_client_new(enum ed_sasl_mech m, const char *name, const char *password,
                       ed_sasl_client **out)
{
    size_t nl = strlen(name), pl = strlen(password);
    if (m != ED_SASL_PLAIN && m != ED_SASL_SCRAM_SHA_256 && m != ED_SASL_SCRAM_SHA_512)
        return ED_ERR_INVAL;
    if (nl == 0 || nl > ED_SASL_MAX_NAME || pl == 0 || pl > ED_SASL_MAX_PASSWORD)
        return ED_ERR_INVAL;
    ed_sasl_client *c = ed_calloc(1, sizeof *c);
    if (!c) return ED_ERR_NOMEM;
    c->mech = m;
    memcpy(c->name, name, nl + 1);
    memcpy(c->pw, password, pl + 1);
    c->pw_len = pl;
    *out = c;
    return ED_OK;
}

void ed_sasl_client_free(ed_sasl_client *c)
{
    if (!c) return;
    memset(c, 0, sizeof *c);
    ed_free(c);
}

int ed_sasl_client_set_nonce(ed_sasl_client *c, const char *nonce)
{
    return set_nonce(c->cnonce, nonce);
}

const char *ed_sasl_client_reason(const ed_sasl_client *c)
{
    return c->reason ? c->reason : "";
}

static enum ed_sasl_status cfail(ed_sasl_client *c, const char *why)
{
    c->state = ST_FAILED;
    c->reason = why;
    return ED_SASL_FAILED;
}

static enum ed_sasl_status client_first(ed_sasl_client *c, size_t *out_len)
{
    char *o = (char *)c->out;
    size_t ol = 0;
    if (c->mech == ED_SASL_PLAIN) {
        size_t nl = strlen(c->name);
        o[ol++] = '\0';
        memcpy(o + ol, c->name, nl);
        ol += nl;
        o[ol++] = '\0';
        memcpy(o + ol, c->pw, c->pw_len);
        *out_len = ol + c->pw_len;
        c->state = ST_FINAL;
        return ED_SASL_CONTINUE;
    }
    if (!c->cnonce[0] && make_nonce(c->cnonce, sizeof c->cnonce) != ED_OK)
        return cfail(c, "cannot make a nonce");
    char esc[ED_SASL_MAX_NAME * 3 + 1];
    size_t el = escape_name(c->name, esc, sizeof esc);
    size_t cap = sizeof c->out;
    bool ok = append(o, cap, &ol, "n,,n=", 5) && append(o, cap, &ol, esc, el) &&
              append(o, cap, &ol, ",r=", 3) && append(o, cap, &ol, c->cnonce, strlen(c->cnonce));
    c->auth_len = 0;
    ok = ok && append(c->auth, sizeof c->auth, &c->auth_len, o + 3, ol - 3);
    if (!ok) return cfail(c, "user name too long");
    *out_len = ol;
    c->state = ST_FIRST;
    return ED_SASL_CONTINUE;
}

static bool parse_u32(const char *s, size_t n, uint32_t *out)
{
    if (n == 0 || n > 9) return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static enum ed_sasl_status client_final(ed_sasl_client *c, const char *msg, size_t n,
                                        size_t *out_len)
{
    enum ed_hash h = ed_sasl_mech_hash(c->mech);
    size_t hl = ed_plat_crypto_hash_len(h);
    struct cur cu = {msg, n, 0, false};
    const char *r, *s64, *it, *v;
    size_t r_len, s64_len, it_len, vl;
    if (n && msg[0] == 'm') return cfail(c, "server sent a mandatory extension");
    if (!attr(&cu, 'r', &r, &r_len) || !comma(&cu) || !attr(&cu, 's', &s64, &s64_len) ||
        !comma(&cu) || !attr(&cu, 'i', &it, &it_len))
        return cfail(c, "malformed server-first message");
    while (comma(&cu))
        if (cu.pos >= n || !is_alpha(msg[cu.pos]) || !attr(&cu, msg[cu.pos], &v, &vl))
            return cfail(c, "malformed server-first message");
    size_t cl = strlen(c->cnonce);
    if (cu.bad || !printable_nonce(r, r_len) || r_len <= cl || memcmp(r, c->cnonce, cl) != 0)
        return cfail(c, "server nonce does not extend the client nonce");
    uint8_t salt[ED_SCRAM_MAX_SALT + 3];
    size_t salt_len;
    uint32_t iter;
    if (ed_plat_crypto_b64_decode(s64, s64_len, salt, sizeof salt, &salt_len) || salt_len == 0 ||
        salt_len > ED_SCRAM_MAX_SALT)
        return cfail(c, "bad salt from the server");
    if (!parse_u32(it, it_len, &iter) || iter < ED_SCRAM_MIN_ITER || iter > ED_SCRAM_MAX_ITER)
        return cfail(c, "iteration count from the server out of range");
    uint8_t salted[ED_HASH_MAX_LEN], ckey[ED_HASH_MAX_LEN], stored[ED_HASH_MAX_LEN];
    uint8_t sig[ED_HASH_MAX_LEN], skey[ED_HASH_MAX_LEN];
    int rc = ed_plat_crypto_pbkdf2(h, c->pw, c->pw_len, salt, salt_len, iter, salted);
    if (!rc) rc = ed_plat_crypto_hmac(h, salted, hl, "Client Key", 10, ckey);
    if (!rc) rc = ed_plat_crypto_hash(h, ckey, hl, stored);
    if (!rc) rc = ed_plat_crypto_hmac(h, salted, hl, "Server Key", 10, skey);
    char *o = (char *)c->out;
    size_t ol = 0, cap = sizeof c->out;
    bool ok = !rc && append(o, cap, &ol, "c=biws,r=", 9) && append(o, cap, &ol, r, r_len) &&
              append(c->auth, sizeof c->auth, &c->auth_len, ",", 1) &&
              append(c->auth, sizeof c->auth, &c->auth_len, msg, n) &&
              append(c->auth, sizeof c->auth, &c->auth_len, ",", 1) &&
              append(c->auth, sizeof c->auth, &c->auth_len, o, ol);
    if (!ok) return cfail(c, "server-first message too long");
    rc = ed_plat_crypto_hmac(h, stored, hl, c->auth, c->auth_len, sig);
    if (!rc) rc = ed_plat_crypto_hmac(h, skey, hl, c->auth, c->auth_len, c->server_sig);
    for (size_t i = 0; i < hl; i++)
        ckey[i] ^= sig[i];
    size_t b64_len;
    if (rc || !append(o, cap, &ol, ",p=", 3) ||
        ed_plat_crypto_b64_encode(ckey, hl, o + ol, cap - ol, &b64_len))
        return cfail(c, "cannot build the client-final message");
    memset(salted, 0, sizeof salted);
    *out_len = ol + b64_len;
    c->state = ST_FINAL;
    return ED_SASL_CONTINUE;
}

static enum ed_sasl_status client_done(ed_sasl_client *c, const char *msg, size_t n)
{
    if (c->mech == ED_SASL_PLAIN) {
        c->state = ST_DONE;
        return ED_SASL_DONE;
    }
    size_t hl = ed_plat_crypto_hash_len(ed_sasl_mech_hash(c->mech));
    if (n >= 2 && msg[0] == 'e' && msg[1] == '=') return cfail(c, "the server refused");
    struct cur cu = {msg, n, 0, false};
    const char *v;
    size_t vl;
    uint8_t sig[ED_HASH_MAX_LEN + 3];
    size_t sig_len;
    if (!attr(&cu, 'v', &v, &vl) || ed_plat_crypto_b64_decode(v, vl, sig, sizeof sig, &sig_len) ||
        sig_len != hl || !ed_plat_crypto_equal(sig, c->server_sig, hl))
        return cfail(c, "the server's signature is wrong");
    c->state = ST_DONE;
    return ED_SASL_DONE;
}

enum ed_sasl_status ed_sasl_client_step(ed_sasl_client *c, const uint8_t *in, size_t in_len,
                                        const uint8_t **out, size_t *out_len)
{
    *out = c->out;
    *out_len = 0;
    if (c->state == ST_DONE || c->state == ST_FAILED) return cfail(c, "exchange already finished");
    if (c->state == ST_START) return client_first(c, out_len);
    if (in_len && !in) return cfail(c, "malformed server message");
    if (!in_len) in = (const uint8_t *)"";
    if (in_len > ED_SASL_MAX_MSG || memchr(in, 0, in_len))
        return cfail(c, "malformed server message");
    if (c->state == ST_FINAL) return client_done(c, (const char *)in, in_len);
    return client_final(c, (const char *)in, in_len, out_len);
}
