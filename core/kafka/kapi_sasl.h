/* Kafka SASL on a connection: the authentication state the server keeps per
 * Kafka connection (principal, mechanism, exchange in progress, session
 * expiry), the gate that lets only ApiVersions, SaslHandshake and
 * SaslAuthenticate through before authentication, and the raw token
 * exchange that follows a SaslHandshake v0. The handlers of SaslHandshake,
 * SaslAuthenticate, DescribeUserScramCredentials and
 * AlterUserScramCredentials are in core/kafka/kapi_handlers.h. */
#ifndef ED_CORE_KAPI_SASL_H
#define ED_CORE_KAPI_SASL_H

#include "core/kafka/kapi.h"
#include "core/sasl.h"

#define ED_KAUTH_PRINCIPAL_MAX (5 + ED_SASL_MAX_NAME + 1)

struct ed_kauth {
    bool required;              /* the listener requires SASL (SASL_PLAINTEXT) */
    bool authenticated;         /* an exchange succeeded (principal is the user) */
    bool raw;                   /* after SaslHandshake v0: frames are raw SASL tokens */
    bool close_after;           /* close the connection once the current answer is out */
    enum ed_sasl_mech mech;     /* chosen by the last SaslHandshake (0: none) */
    ed_sasl_server *sasl;       /* the exchange in progress (NULL: none) */
    uint64_t expires_ms;        /* monotonic ms when the session ends (0: never) */
    uint64_t reauth_started_ms; /* monotonic ms of the last re-authentication start (0: none) */
    char principal[ED_KAUTH_PRINCIPAL_MAX]; /* "User:NAME", "User:ANONYMOUS" */
};

/* cert_subject: the verified TLS client certificate's subject, or NULL;
 * it names the principal ("User:CN=...", as Kafka's default principal
 * builder) until SASL authenticates someone. */
void ed_kauth_init(struct ed_kauth *a, bool required, const char *cert_subject);
void ed_kauth_fini(struct ed_kauth *a);
/* Whether a request of api_key may be served now; false with why set when
 * the connection must be closed instead (not authenticated, or the session
 * expired without re-authentication, as Kafka does). */
bool ed_kauth_allows(const struct ed_kauth *a, int16_t api_key, uint64_t now_ms, const char **why);
/* One raw token after SaslHandshake v0: runs the exchange and appends the
 * answer token to out (the caller frames it with a size prefix). Returns
 * the SASL status; on ED_SASL_FAILED nothing is to be sent and the
 * connection is to be closed. */
enum ed_sasl_status ed_kauth_raw_token(struct ed_kauth *a, ed_broker *b, const char *peer,
                                       const uint8_t *in, size_t in_len, ed_kwr *out);

#endif
