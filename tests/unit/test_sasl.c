/* Unit tests of the SASL mechanisms: RFC 7677's SCRAM-SHA-256 exchange
 * byte for byte on both sides, SCRAM-SHA-512 between Eddy's client and
 * server, user-name escaping, PLAIN parsing, and refusals of malformed or
 * wrong messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/sasl.h"
#include "platform/crypto.h"

/* RFC 7677 section 3 */
#define V_CFIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define V_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define V_SFIRST                                                                                   \
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define V_CFINAL_NP "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define V_CFINAL    V_CFINAL_NP ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define V_SFINAL    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/* the proof of a client-final message with the client nonce repeated */
#define REPEATED_PROOF "1Y75+q7XaCGJj/r6vyQWwoNxSzV5ksS8xhp5Lqyriec="

struct user {
    const char *name;
    const char *pw;
    enum ed_sasl_mech mechs;
};
static const struct user users[] = {
    {"user", "pencil", ED_SASL_SCRAM_SHA_256 | ED_SASL_SCRAM_SHA_512},
    {"a,b=c", "s3cret", ED_SASL_SCRAM_SHA_256},
    {"only512", "pw512", ED_SASL_SCRAM_SHA_512},
};

static int lookup(void *arg, const char *name, size_t name_len, enum ed_sasl_mech m,
                  struct ed_scram_cred *out)
{
    int *n_calls = arg;
    (*n_calls)++;
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        if (strlen(users[i].name) != name_len || memcmp(users[i].name, name, name_len) != 0)
            continue;
        if (!(users[i].mechs & m)) return ED_ERR_NOENT;
        uint8_t salt[16];
        size_t salt_len;
        assert_int_equal(
            ed_plat_crypto_b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt, sizeof salt, &salt_len),
            ED_OK);
        return ed_scram_cred_make(m, users[i].pw, strlen(users[i].pw), salt, salt_len, 4096, out);
    }
    return ED_ERR_NOENT;
}

static enum ed_sasl_status sstep(ed_sasl_server *s, const char *msg, size_t len, char *out)
{
    const uint8_t *o;
    size_t ol;
    enum ed_sasl_status st = ed_sasl_server_step(s, (const uint8_t *)msg, len, &o, &ol);
    memcpy(out, o, ol);
    out[ol] = '\0';
    return st;
}

static enum ed_sasl_status cstep(ed_sasl_client *c, const char *msg, char *out, size_t *out_len)
{
    const uint8_t *o;
    size_t ol;
    enum ed_sasl_status st =
        ed_sasl_client_step(c, (const uint8_t *)msg, msg ? strlen(msg) : 0, &o, &ol);
    memcpy(out, o, ol);
    out[ol] = '\0';
    if (out_len) *out_len = ol;
    return st;
}

static void test_rfc7677_server(void **state)
{
    (void)state;
    int n = 0;
    ed_sasl_server *s;
    char out[ED_SASL_MAX_MSG + 1];
    assert_int_equal(ed_sasl_server_new(ED_SASL_SCRAM_SHA_256, lookup, &n, &s), ED_OK);
    assert_int_equal(ed_sasl_server_set_nonce(s, V_SNONCE), ED_OK);
    assert_int_equal(sstep(s, V_CFIRST, strlen(V_CFIRST), out), ED_SASL_CONTINUE);
    assert_string_equal(out, V_SFIRST);
    assert_string_equal(ed_sasl_server_user(s), "");
    assert_int_equal(sstep(s, V_CFINAL, strlen(V_CFINAL), out), ED_SASL_DONE);
    assert_string_equal(out, V_SFINAL);
    assert_string_equal(ed_sasl_server_user(s), "user");
    /* nothing after the end */
    assert_int_equal(sstep(s, V_CFINAL, strlen(V_CFINAL), out), ED_SASL_FAILED);
    ed_sasl_server_free(s);
}

/* librdkafka sends its client nonce again in front of the combined one;
 * Kafka accepts a final nonce that ends with the server-first nonce, and the
 * proof is over the bytes the client sent. */
static void test_repeated_client_nonce(void **state)
{
    (void)state;
    int n = 0;
    ed_sasl_server *s;
    char out[ED_SASL_MAX_MSG + 1];
    assert_int_equal(ed_sasl_server_new(ED_SASL_SCRAM_SHA_256, lookup, &n, &s), ED_OK);
    assert_int_equal(ed_sasl_server_set_nonce(s, V_SNONCE), ED_OK);
    assert_int_equal(sstep(s, V_CFIRST, strlen(V_CFIRST), out), ED_SASL_CONTINUE);
    /* the proof for this message, computed with Python's hashlib/hmac from
     * RFC 7677's password, salt and iterations */
    static const char final[] =
        "c=biws,r=rOprNGfwEbeRWgbNEkqOrOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=" REPEATED_PROOF;
    assert_int_equal(sstep(s, final, strlen(final), out), ED_SASL_DONE);
    ed_sasl_server_free(s);
    /* a nonce that does not end with the server's is still refused */
    assert_int_equal(ed_sasl_server_new(ED_SASL_SCRAM_SHA_256, lookup, &n, &s), ED_OK);
    assert_int_equal(ed_sasl_server_set_nonce(s, V_SNONCE), ED_OK);
    assert_int_equal(sstep(s, V_CFIRST, strlen(V_CFIRST), out), ED_SASL_CONTINUE);
    static const char bad[] = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0x,"
                              "p=" REPEATED_PROOF;
    assert_int_equal(sstep(s, bad, strlen(bad), out), ED_SASL_FAILED);
    ed_sasl_server_free(s);
}

static void test_rfc7677_client(void **state)
{
    (void)state;
    ed_sasl_client *c;
    char out[ED_SASL_MAX_MSG + 1];
    assert_int_equal(ed_sasl_client_new(ED_SASL_SCRAM_SHA_256, "user", "pencil", &c), ED_OK);
    assert_int_equal(ed_sasl_client_set_nonce(c, "rOprNGfwEbeRWgbNEkqO"), ED_OK);
    assert_int_equal(cstep(c, NULL, out, NULL), ED_SASL_CONTINUE);
    assert_string_equal(out, V_CFIRST);
    assert_int_equal(cstep(c, V_SFIRST, out, NULL), ED_SASL_CONTINUE);
    assert_string_equal(out, V_CFINAL);
    assert_int_equal(cstep(c, V_SFINAL, out, NULL), ED_SASL_DONE);
    ed_sasl_client_free(c);

    /* a server that cannot prove it knows the ServerKey is refused */
    assert_int_equal(ed_sasl_client_new(ED_SASL_SCRAM_SHA_256, "user", "pencil", &c), ED_OK);
    assert_int_equal(ed_sasl_client_set_nonce(c, "rOprNGfwEbeRWgbNEkqO"), ED_OK);
    assert_int_equal(cstep(c, NULL, out, NULL), ED_SASL_CONTINUE);
    assert_int_equal(cstep(c, V_SFIRST, out, NULL), ED_SASL_CONTINUE);
    assert_int_equal(cstep(c, "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", out, NULL),
                     ED_SASL_FAILED);
    ed_sasl_client_free(c);
    /* a server nonce that does not extend the client's */
    assert_int_equal(ed_sasl_client_new(ED_SASL_SCRAM_SHA_256, "user", "pencil", &c), ED_OK);
    assert_int_equal(ed_sasl_client_set_nonce(c, "abc"), ED_OK);
    assert_int_equal(cstep(c, NULL, out, NULL), ED_SASL_CONTINUE);
    assert_int_equal(cstep(c, "r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", out, NULL),
                     ED_SASL_FAILED);
    ed_sasl_client_free(c);
}

/* Runs Eddy's client against Eddy's server; returns the server's verdict. */
static enum ed_sasl_status exchange(enum ed_sasl_mech m, const char *name, const char *pw,
                                    char *user_out)
{
    int n = 0;
    ed_sasl_server *s;
    ed_sasl_client *c;
    assert_int_equal(ed_sasl_server_new(m, lookup, &n, &s), ED_OK);
    assert_int_equal(ed_sasl_client_new(m, name, pw, &c), ED_OK);
    const uint8_t *co, *so;
    size_t col, sol;
    enum ed_sasl_status cs = ed_sasl_client_step(c, NULL, 0, &co, &col);
    enum ed_sasl_status ss = ED_SASL_CONTINUE;
    while (cs == ED_SASL_CONTINUE) {
        ss = ed_sasl_server_step(s, co, col, &so, &sol);
        if (ss == ED_SASL_FAILED) break;
        cs = ed_sasl_client_step(c, so, sol, &co, &col);
        if (ss == ED_SASL_DONE) break;
    }
    if (ss == ED_SASL_DONE) assert_int_equal(cs, ED_SASL_DONE);
    strcpy(user_out, ed_sasl_server_user(s));
    ed_sasl_client_free(c);
    ed_sasl_server_free(s);
    return ss;
}

static void test_round_trips(void **state)
{
    (void)state;
    char user[ED_SASL_MAX_NAME + 1];
    enum ed_sasl_mech ms[] = {ED_SASL_PLAIN, ED_SASL_SCRAM_SHA_256, ED_SASL_SCRAM_SHA_512};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(exchange(ms[i], "user", "pencil", user), ED_SASL_DONE);
        assert_string_equal(user, "user");
        assert_int_equal(exchange(ms[i], "user", "pencil2", user), ED_SASL_FAILED);
        assert_string_equal(user, "");
        assert_int_equal(exchange(ms[i], "nobody", "pencil", user), ED_SASL_FAILED);
    }
    /* ',' and '=' in a name travel as =2C and =3D */
    assert_int_equal(exchange(ED_SASL_SCRAM_SHA_256, "a,b=c", "s3cret", user), ED_SASL_DONE);
    assert_string_equal(user, "a,b=c");
    /* a user without SCRAM-SHA-256 still logs in with PLAIN (via -512) */
    assert_int_equal(exchange(ED_SASL_PLAIN, "only512", "pw512", user), ED_SASL_DONE);
    assert_int_equal(exchange(ED_SASL_SCRAM_SHA_256, "only512", "pw512", user), ED_SASL_FAILED);
}

static enum ed_sasl_status plain(const char *msg, size_t len, const char **reason)
{
    int n = 0;
    ed_sasl_server *s;
    char out[ED_SASL_MAX_MSG + 1];
    assert_int_equal(ed_sasl_server_new(ED_SASL_PLAIN, lookup, &n, &s), ED_OK);
    enum ed_sasl_status st = sstep(s, msg, len, out);
    *reason = ed_sasl_server_reason(s);
    ed_sasl_server_free(s);
    return st;
}

#define PLAIN(lit, why) plain(lit, sizeof lit - 1, why)

static void test_plain_parsing(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(PLAIN("\0user\0pencil", &why), ED_SASL_DONE);
    assert_int_equal(PLAIN("user\0user\0pencil", &why), ED_SASL_DONE);
    assert_int_equal(PLAIN("admin\0user\0pencil", &why), ED_SASL_FAILED);
    assert_non_null(strstr(why, "authorization id"));
    assert_int_equal(PLAIN("\0user\0wrong", &why), ED_SASL_FAILED);
    assert_string_equal(why, "Authentication failed: Invalid username or password");
    assert_int_equal(PLAIN("\0nobody\0pencil", &why), ED_SASL_FAILED);
    assert_string_equal(why, "Authentication failed: Invalid username or password");
    assert_int_equal(PLAIN("\0user\0pencil\0", &why), ED_SASL_FAILED);
    assert_non_null(strstr(why, "malformed"));
    assert_int_equal(PLAIN("\0userpencil", &why), ED_SASL_FAILED);
    assert_int_equal(PLAIN("user\0pencil", &why), ED_SASL_FAILED);
    assert_int_equal(PLAIN("\0user\0", &why), ED_SASL_FAILED);
    assert_int_equal(PLAIN("\0\0pencil", &why), ED_SASL_FAILED);
    assert_int_equal(PLAIN("", &why), ED_SASL_FAILED);
    char big[600];
    memset(big, 'x', sizeof big);
    big[0] = '\0';
    big[300] = '\0';
    assert_int_equal(plain(big, sizeof big, &why), ED_SASL_FAILED); /* name > 255 */
}

/* client-first messages the server must refuse without asking the store
 * (or, for a valid shape, after one lookup) */
static void test_scram_refusals(void **state)
{
    (void)state;
    static const char *const bad_first[] = {
        "p=tls-unique,,n=user,r=abc", /* channel binding */
        "n,,m=ext,n=user,r=abc",      /* mandatory extension */
        "n,,n=us=3er,r=abc",          /* bad escape */
        "n,,n=us=2,r=abc",            /* short escape */
        "n,,n=,r=abc",                /* empty name */
        "n,,n=user",                  /* no nonce */
        "n,,n=user,r=",               /* empty nonce */
        "n,,n=user,r=a b",            /* space in nonce */
        "n,,r=abc,n=user",            /* order */
        "x,,n=user,r=abc",            /* bad flag */
        "n,a=other,n=user,r=abc",     /* authzid differs */
        "n,,n=user,r=abc,",           /* trailing comma */
        "n,,n=user,r=abc,1=x",        /* extension name not a letter */
        "n,",
        "n,,n=user,r=ab\x01",
    };
    char out[ED_SASL_MAX_MSG + 1];
    for (size_t i = 0; i < sizeof bad_first / sizeof bad_first[0]; i++) {
        int n = 0;
        ed_sasl_server *s;
        assert_int_equal(ed_sasl_server_new(ED_SASL_SCRAM_SHA_256, lookup, &n, &s), ED_OK);
        assert_int_equal(sstep(s, bad_first[i], strlen(bad_first[i]), out), ED_SASL_FAILED);
        assert_string_equal(out, "");
        assert_int_equal(n, 0);
        ed_sasl_server_free(s);
    }
    /* an accepted authzid equal to the name and an ignored extension */
    int n = 0;
    ed_sasl_server *s;
    assert_int_equal(ed_sasl_server_new(ED_SASL_SCRAM_SHA_256, lookup, &n, &s), ED_OK);
    const char *ok = "y,a=user,n=user,r=abc,x=tokenauth";
    assert_int_equal(sstep(s, ok, strlen(ok), out), ED_SASL_CONTINUE);
    ed_sasl_server_free(s);

    /* client-final messages against RFC 7677's first exchange */
    static const char *const bad_final[] = {
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA", /* short proof */
        "c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+"
        "Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        V_CFINAL_NP,                                                   /* no proof */
        V_CFINAL ",x=1",                                               /* proof not last */
        V_CFINAL_NP ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVq=", /* wrong proof */
        V_CFINAL_NP ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",  /* not base64 */
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,c=biws",
    };
    for (size_t i = 0; i < sizeof bad_final / sizeof bad_final[0]; i++) {
        assert_int_equal(ed_sasl_server_new(ED_SASL_SCRAM_SHA_256, lookup, &n, &s), ED_OK);
        assert_int_equal(ed_sasl_server_set_nonce(s, V_SNONCE), ED_OK);
        assert_int_equal(sstep(s, V_CFIRST, strlen(V_CFIRST), out), ED_SASL_CONTINUE);
        assert_int_equal(sstep(s, bad_final[i], strlen(bad_final[i]), out), ED_SASL_FAILED);
        assert_string_equal(ed_sasl_server_user(s), "");
        ed_sasl_server_free(s);
    }
}

static void test_creds(void **state)
{
    (void)state;
    struct ed_scram_cred c;
    uint8_t salt[4] = {1, 2, 3, 4};
    assert_int_equal(ed_scram_cred_make(ED_SASL_SCRAM_SHA_256, "pw", 2, salt, 4, 4095, &c),
                     ED_ERR_INVAL);
    assert_int_equal(ed_scram_cred_make(ED_SASL_SCRAM_SHA_256, "pw", 2, salt, 0, 4096, &c),
                     ED_ERR_INVAL);
    assert_int_equal(ed_scram_cred_make(ED_SASL_PLAIN, "pw", 2, salt, 4, 4096, &c), ED_ERR_INVAL);
    assert_int_equal(ed_scram_cred_make(ED_SASL_SCRAM_SHA_512, "pw", 2, salt, 4, 4096, &c), ED_OK);
    assert_int_equal(ed_scram_cred_check(ED_SASL_SCRAM_SHA_512, &c, "pw", 2), ED_OK);
    assert_int_equal(ed_scram_cred_check(ED_SASL_SCRAM_SHA_512, &c, "pW", 2), ED_ERR_PERM);
    assert_int_equal(ed_sasl_mech_parse("SCRAM-SHA-512", 13), ED_SASL_SCRAM_SHA_512);
    assert_int_equal(ed_sasl_mech_parse("GSSAPI", 6), 0);
    ed_sasl_client *cl;
    assert_int_equal(ed_sasl_client_new(ED_SASL_PLAIN, "", "x", &cl), ED_ERR_INVAL);
    assert_int_equal(ed_sasl_client_new(ED_SASL_PLAIN, "x", "", &cl), ED_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7677_server), cmocka_unit_test(test_repeated_client_nonce),
        cmocka_unit_test(test_rfc7677_client), cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_plain_parsing),  cmocka_unit_test(test_scram_refusals),
        cmocka_unit_test(test_creds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
