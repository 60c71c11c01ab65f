/* Listener sets with Kafka's and MQTT's names (see listeners.h). */
#include "core/listeners.h"

#include <stdio.h>
#include <string.h>

_Static_assert(sizeof((struct ed_listeners_spec *)0)->name ==
                   sizeof((struct ed_config_listener *)0)->name,
               "listener names are copied whole");
_Static_assert(sizeof((struct ed_listeners_spec *)0)->host ==
                   sizeof((struct ed_config_listener *)0)->host,
               "listener hosts are copied whole");

static const char *const sec_names[] = {
    [ED_SEC_PLAINTEXT] = "PLAINTEXT",           [ED_SEC_SSL] = "SSL",
    [ED_SEC_SASL_PLAINTEXT] = "SASL_PLAINTEXT", [ED_SEC_SASL_SSL] = "SASL_SSL",
    [ED_SEC_CONTROLLER] = "CONTROLLER",
};

const char *ed_listeners_sec_name(enum ed_listeners_sec sec)
{
    return sec_names[sec];
}

static bool sec_of(const char *name, enum ed_listeners_sec *out)
{
    for (size_t i = 0; i < ED_ARRAY_LEN(sec_names); i++)
        if (strcmp(sec_names[i], name) == 0) {
            *out = (enum ed_listeners_sec)i;
            return true;
        }
    return false;
}

/* The protocol of listener name: from map (NAME:PROTOCOL,...) first, else
 * the name itself when it is a protocol's. */
static int map_find(const char *map, const char *name, enum ed_listeners_sec *out, char *why,
                    size_t why_len)
{
    const char *p = map;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char item[80];
        if (len >= sizeof item) len = sizeof item - 1;
        memcpy(item, p, len);
        item[len] = '\0';
        char *colon = strchr(item, ':');
        if (len > 0) {
            if (!colon) {
                snprintf(why, why_len,
                         "listener.security.protocol.map entry '%s' is not NAME:PROTOCOL", item);
                return ED_ERR_INVAL;
            }
            *colon = '\0';
            char *proto = colon + 1;
            while (*proto == ' ')
                proto++;
            proto[strcspn(proto, " ")] = '\0';
            enum ed_listeners_sec sec;
            if (!sec_of(proto, &sec)) {
                snprintf(why, why_len, "listener.security.protocol.map: unknown protocol '%s'",
                         proto);
                return ED_ERR_INVAL;
            }
            if (strcmp(item, name) == 0) {
                *out = sec;
                return ED_OK;
            }
        }
        p = e ? e + 1 : NULL;
    }
    if (sec_of(name, out)) return ED_OK;
    snprintf(why, why_len,
             "listener %s has no security protocol (name one of PLAINTEXT, SSL, SASL_PLAINTEXT, "
             "SASL_SSL, or map it in listener.security.protocol.map)",
             name);
    return ED_ERR_INVAL;
}

int ed_listeners_parse(const char *value, const char *map, struct ed_listeners_spec *out, int max,
                       int *n, char *why, size_t why_len)
{
    struct ed_config_listener ls[ED_CONFIG_MAX_LISTENERS];
    *n = 0;
    int k = 0;
    int rc = ed_config_listeners(value, ls, ED_CONFIG_MAX_LISTENERS, &k, why, why_len);
    if (rc != ED_OK) return rc;
    if (k > max) {
        snprintf(why, why_len, "too many listeners in '%s'", value);
        return ED_ERR_INVAL;
    }
    for (int i = 0; i < k; i++) {
        struct ed_listeners_spec *s = &out[i];
        memset(s, 0, sizeof *s);
        memcpy(s->name, ls[i].name, sizeof s->name);
        memcpy(s->host, ls[i].host, sizeof s->host);
        s->port = ls[i].port;
        rc = map_find(map, s->name, &s->sec, why, why_len);
        if (rc != ED_OK) return rc;
        for (int j = 0; j < i; j++)
            if (strcmp(out[j].name, s->name) == 0) {
                snprintf(why, why_len, "listener name %s appears twice", s->name);
                return ED_ERR_INVAL;
            }
    }
    *n = k;
    return ED_OK;
}

static bool ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a;
        char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b + 32) : *b;
        if (x != y) return false;
    }
    return *a == *b;
}

/* Whether an entry ends with :port (after a bracketed IPv6 host). */
static bool has_port(const char *entry, size_t len)
{
    const char *hp = strstr(entry, "://");
    if (!hp || (size_t)(hp - entry) >= len) return true; /* malformed: the parser says why */
    hp += 3;
    const char *end = entry + len;
    if (hp < end && *hp == '[') {
        const char *rb = memchr(hp, ']', (size_t)(end - hp));
        return !rb || (rb + 1 < end && rb[1] == ':');
    }
    return memchr(hp, ':', (size_t)(end - hp)) != NULL;
}

/* A scheme pair of a bridge's listeners: mqtt:// and mqtts://, coap://
 * and coaps://. */
struct scheme {
    const char *plain, *secure;        /* "mqtt", "mqtts" */
    const char *plain_port, *sec_port; /* ":1883", ":8883" */
    const char *what, *key;            /* "MQTT", "mqtt.listeners" */
};

/* Whether entry starts with scheme:// (any case, blanks first). */
static bool has_scheme(const char *entry, const char *scheme)
{
    entry += strspn(entry, " ");
    size_t n = strlen(scheme);
    char head[16];
    if (n + 3 >= sizeof head || strncmp(entry + n, "://", 3) != 0) return false;
    memcpy(head, entry, n);
    head[n] = '\0';
    return ieq(head, scheme);
}

static int parse_scheme(const struct scheme *sc, const char *value, struct ed_listeners_spec *out,
                        int max, int *n, char *why, size_t why_len)
{
    /* Entries without a port get the scheme's first. */
    char full[1024];
    size_t w = 0;
    const char *p = value;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        size_t tl = len;
        while (tl > 0 && p[tl - 1] == ' ')
            tl--;
        bool tls = has_scheme(p, sc->secure);
        const char *add = tl > 0 && !has_port(p, tl) ? (tls ? sc->sec_port : sc->plain_port) : "";
        int k = snprintf(full + w, sizeof full - w, "%.*s%s%s", (int)tl, p, add, e ? "," : "");
        if (k < 0 || (size_t)k >= sizeof full - w) {
            snprintf(why, why_len, "%s is too long", sc->key);
            return ED_ERR_INVAL;
        }
        w += (size_t)k;
        if (!e) break;
        p = e + 1;
    }
    full[w] = '\0';
    struct ed_config_listener ls[ED_CONFIG_MAX_LISTENERS];
    *n = 0;
    int k = 0;
    int rc = ed_config_listeners(full, ls, ED_CONFIG_MAX_LISTENERS, &k, why, why_len);
    if (rc != ED_OK) return rc;
    if (k > max) {
        snprintf(why, why_len, "too many %s listeners", sc->what);
        return ED_ERR_INVAL;
    }
    for (int i = 0; i < k; i++) {
        struct ed_listeners_spec *s = &out[i];
        memset(s, 0, sizeof *s);
        if (ieq(ls[i].name, sc->plain)) {
            s->sec = ED_SEC_PLAINTEXT;
        } else if (ieq(ls[i].name, sc->secure)) {
            s->sec = ED_SEC_SSL;
        } else {
            snprintf(why, why_len,
                     "%s listener %s:// is not supported (use %s://host:port or %s://host:port)",
                     sc->what, ls[i].name, sc->plain, sc->secure);
            return ED_ERR_INVAL;
        }
        snprintf(s->name, sizeof s->name, "%s", s->sec == ED_SEC_SSL ? sc->secure : sc->plain);
        memcpy(s->host, ls[i].host, sizeof s->host);
        s->port = ls[i].port;
    }
    *n = k;
    return ED_OK;
}

int ed_listeners_parse_mqtt(const char *value, struct ed_listeners_spec *out, int max, int *n,
                            char *why, size_t why_len)
{
    static const struct scheme mqtt = {"mqtt", "mqtts", ":1883", ":8883", "MQTT", "mqtt.listeners"};
    return parse_scheme(&mqtt, value, out, max, n, why, why_len);
}

int ed_listeners_parse_coap(const char *value, struct ed_listeners_spec *out, int max, int *n,
                            char *why, size_t why_len)
{
    static const struct scheme coap = {"coap", "coaps", ":5683", ":5684", "CoAP", "coap.listeners"};
    return parse_scheme(&coap, value, out, max, n, why, why_len);
}

int ed_listeners_parse_http(const char *value, struct ed_listeners_spec *out, int max, int *n,
                            char *why, size_t why_len)
{
    static const struct scheme http = {"http", "https", ":8080", ":8443", "HTTP", "http.listeners"};
    return parse_scheme(&http, value, out, max, n, why, why_len);
}

bool ed_listeners_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

bool ed_listeners_any(const char *host)
{
    return !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}
