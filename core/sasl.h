/* SASL for every listener and for Eddy's own client, protocol-neutral:
 * the mechanisms PLAIN (RFC 4616) and SCRAM-SHA-256 / SCRAM-SHA-512
 * (RFC 5802, RFC 7677) as step functions (bytes in -> bytes out, done with a
 * user name, or failed with a reason), SCRAM credentials and their
 * derivation from a password. The caller frames the bytes (Kafka's
 * SaslAuthenticate or raw v0 tokens) and looks credentials up through a
 * callback, so this module holds no store and does no I/O.
 *
 * Like Apache Kafka, Eddy applies no SASLprep: names and passwords are
 * compared as the UTF-8 bytes the client sends. */
#ifndef ED_CORE_SASL_H
#define ED_CORE_SASL_H

#include "platform/crypto.h"

enum ed_sasl_mech {
    ED_SASL_PLAIN = 1,
    ED_SASL_SCRAM_SHA_256 = 2,
    ED_SASL_SCRAM_SHA_512 = 4,
};
#define ED_SASL_ALL_MECHS (ED_SASL_PLAIN | ED_SASL_SCRAM_SHA_256 | ED_SASL_SCRAM_SHA_512)

#define ED_SASL_MAX_NAME      255   /* bytes of a user name */
#define ED_SASL_MAX_PASSWORD  255   /* bytes of a password */
#define ED_SASL_MAX_MSG       1024  /* bytes of one client or server message */
#define ED_SCRAM_MIN_ITER     4096  /* RFC 7677's floor, Kafka's minimum */
#define ED_SCRAM_MAX_ITER     16384 /* Kafka's maximum */
#define ED_SCRAM_DEFAULT_ITER 4096
#define ED_SCRAM_SALT_LEN     32 /* salt of credentials Eddy makes */
#define ED_SCRAM_MAX_SALT     64 /* longest salt accepted */

/* Kafka's mechanism names; 0 for an unknown one. */
enum ed_sasl_mech ed_sasl_mech_parse(const char *name, size_t len);
/* A comma-separated list of mechanism names as a bit set of ed_sasl_mech;
 * -1 when a name is unknown, 0 for an empty list. */
int ed_sasl_mech_list_parse(const char *list);
const char *ed_sasl_mech_name(enum ed_sasl_mech m);
/* The digest of a SCRAM mechanism; 0 for PLAIN. */
enum ed_hash ed_sasl_mech_hash(enum ed_sasl_mech m);

/* One user's SCRAM credential for one mechanism: never the password. */
struct ed_scram_cred {
    uint32_t iterations;
    uint8_t salt_len;
    uint8_t salt[ED_SCRAM_MAX_SALT];
    uint8_t stored_key[ED_HASH_MAX_LEN]; /* H(HMAC(SaltedPassword, "Client Key")) */
    uint8_t server_key[ED_HASH_MAX_LEN]; /* HMAC(SaltedPassword, "Server Key") */
};

/* StoredKey and ServerKey from a salted password (hash_len bytes), as
 * Kafka's AlterUserScramCredentials carries it. */
int ed_scram_cred_from_salted(enum ed_sasl_mech m, const uint8_t *salted, const uint8_t *salt,
                              size_t salt_len, uint32_t iterations, struct ed_scram_cred *out);
/* Hi(password, salt, iterations) then as above. ED_ERR_INVAL for an
 * iteration count or salt outside the limits. */
int ed_scram_cred_make(enum ed_sasl_mech m, const void *pw, size_t pw_len, const uint8_t *salt,
                       size_t salt_len, uint32_t iterations, struct ed_scram_cred *out);
/* ED_OK when pw derives cred's StoredKey; ED_ERR_PERM when not. */
int ed_scram_cred_check(enum ed_sasl_mech m, const struct ed_scram_cred *cred, const void *pw,
                        size_t pw_len);

/* Credential lookup for the server: for PLAIN the server asks for any SCRAM
 * mechanism the user has (SCRAM-SHA-256 first). Returns ED_OK with *out
 * filled, ED_ERR_NOENT for no such user or mechanism. */
typedef int (*ed_sasl_lookup_fn)(void *arg, const char *name, size_t name_len, enum ed_sasl_mech m,
                                 struct ed_scram_cred *out);

enum ed_sasl_status {
    ED_SASL_CONTINUE = 1, /* send the output and wait for the next client message */
    ED_SASL_DONE = 2,     /* authenticated; send the output (may be empty) */
    ED_SASL_FAILED = 3,   /* refused; ed_sasl_reason() says why */
};

/* ---- server side ---- */
typedef struct ed_sasl_server ed_sasl_server;

/* ED_ERR_NOMEM, or ED_ERR_INVAL for a mechanism outside ED_SASL_ALL_MECHS. */
int ed_sasl_server_new(enum ed_sasl_mech m, ed_sasl_lookup_fn lookup, void *arg,
                       ed_sasl_server **out);
void ed_sasl_server_free(ed_sasl_server *s);
/* Feeds one client message. The answer in *out, *out_len (valid until the next call or
 * free) is the answer for CONTINUE and DONE. After DONE or FAILED every
 * further step fails. */
enum ed_sasl_status ed_sasl_server_step(ed_sasl_server *s, const uint8_t *in, size_t in_len,
                                        const uint8_t **out, size_t *out_len);
/* Tests: use nonce (printable, no ',') instead of a random one. */
int ed_sasl_server_set_nonce(ed_sasl_server *s, const char *nonce);
/* The authenticated user name (NUL-terminated) after DONE, else "". */
const char *ed_sasl_server_user(const ed_sasl_server *s);
/* Why the exchange failed (a constant string, suitable for a client). */
const char *ed_sasl_server_reason(const ed_sasl_server *s);

/* ---- client side (Eddy's Kafka client, the mirror) ---- */
typedef struct ed_sasl_client ed_sasl_client;

/* Copies name and password. ED_ERR_INVAL for an empty or too long name or
 * password, or for a name with a NUL byte. */
int ed_sasl_client_new(enum ed_sasl_mech m, const char *name, const char *password,
                       ed_sasl_client **out);
void ed_sasl_client_free(ed_sasl_client *c);
/* The first call takes in == NULL and returns the client's first message;
 * each later call takes the server's message. CONTINUE: send *out; DONE:
 * the server proved itself (SCRAM) or accepted (PLAIN), nothing to send. */
enum ed_sasl_status ed_sasl_client_step(ed_sasl_client *c, const uint8_t *in, size_t in_len,
                                        const uint8_t **out, size_t *out_len);
const char *ed_sasl_client_reason(const ed_sasl_client *c);
/* Tests: use nonce (printable, no ',') instead of a random one. */
int ed_sasl_client_set_nonce(ed_sasl_client *c, const char *nonce);

#endif
