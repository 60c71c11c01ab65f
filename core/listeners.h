/* Listener sets as Kafka and MQTT name them: `listeners` entries
 * NAME://host:port whose security protocol is the name itself
 * (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) or what
 * `listener.security.protocol.map` maps a custom name to; MQTT entries
 * mqtt://host:port and mqtts://host:port (port 1883 / 8883 when left
 * out); CoAP entries coap://host:port (5683); HTTP entries http:// and https://
 * (8080 / 8443). Also the rule of safe defaults: which listeners would
 * serve unauthenticated plaintext beyond this machine. */
#ifndef ED_CORE_LISTENERS_H
#define ED_CORE_LISTENERS_H

#include "core/config.h"

enum ed_listeners_sec {
    ED_SEC_PLAINTEXT,
    ED_SEC_SSL,
    ED_SEC_SASL_PLAINTEXT,
    ED_SEC_SASL_SSL,
    ED_SEC_CONTROLLER, /* Kafka's controller listener: not served by Eddy */
};

struct ed_listeners_spec {
    char name[32];  /* "PLAINTEXT", "INTERNAL", "mqtts" */
    char host[256]; /* "" = every interface */
    uint16_t port;  /* 0 = one the OS picks */
    enum ed_listeners_sec sec;
};

/* Parses a Kafka `listeners` (or `advertised.listeners`) value with the
 * given `listener.security.protocol.map` ("" = the standard names only).
 * ED_ERR_INVAL with why for a bad entry or a name with no protocol. */
int ed_listeners_parse(const char *value, const char *map, struct ed_listeners_spec *out, int max,
                       int *n, char *why, size_t why_len);
/* Parses `mqtt.listeners`. */
int ed_listeners_parse_mqtt(const char *value, struct ed_listeners_spec *out, int max, int *n,
                            char *why, size_t why_len);
/* Parses `coap.listeners`: coap://host:port (UDP, port 5683 when left
 * out); coaps:// (DTLS, 5684) parses but no build serves it yet. */
int ed_listeners_parse_coap(const char *value, struct ed_listeners_spec *out, int max, int *n,
                            char *why, size_t why_len);
/* Parses `http.listeners`: http://host:port and https://host:port (port
 * 8080 / 8443 when left out). */
int ed_listeners_parse_http(const char *value, struct ed_listeners_spec *out, int max, int *n,
                            char *why, size_t why_len);
static inline bool ed_listeners_tls(enum ed_listeners_sec sec)
{
    return sec == ED_SEC_SSL || sec == ED_SEC_SASL_SSL;
}
static inline bool ed_listeners_sasl(enum ed_listeners_sec sec)
{
    return sec == ED_SEC_SASL_PLAINTEXT || sec == ED_SEC_SASL_SSL;
}
const char *ed_listeners_sec_name(enum ed_listeners_sec sec);
/* Whether host means every interface ("", 0.0.0.0, ::). */
bool ed_listeners_any(const char *host);
/* Whether host only reaches this machine (127.0.0.0/8, ::1, localhost). */
bool ed_listeners_loopback(const char *host);

#endif
