/* Config values: the parsers shared by broker and topic keys (integers,
 * booleans, cleanup.policy, compression.type, listeners, per-address
 * limits), the check functions the key table names, and the check of a
 * value against a key's type, bounds and choices. */
#include "core/config.h"
#include "core/config_int.h"
#include "core/listeners.h"
#include "core/sasl.h"
#include "core/sslmap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ed_config_parse_int(const char *s, int64_t *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s) return false;
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    if (*p < '0' || *p > '9') return false;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    /* Java longs may carry an L suffix in some hand-written files. */
    if ((*p == 'L' || *p == 'l') && p[1] == '\0') p++;
    if (*p) return false;
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool ed_config_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
        if (x != y) return false;
    }
    return *a == *b;
}

bool ed_config_parse_bool(const char *s, bool *out)
{
    if (ed_config_ieq(s, "true"))
        *out = true;
    else if (ed_config_ieq(s, "false"))
        *out = false;
    else
        return false;
    return true;
}

bool ed_config_parse_cleanup(const char *s, bool *compact, bool *delete_)
{
    bool c = false, d = false;
    const char *p = s;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t n = (size_t)(e - p);
        if (n == 6 && strncmp(p, "delete", 6) == 0)
            d = true;
        else if (n == 7 && strncmp(p, "compact", 7) == 0)
            c = true;
        else
            return false;
        while (*e == ' ')
            e++;
        if (!*e) break;
        if (*e != ',') return false;
        p = e + 1;
    }
    *compact = c;
    *delete_ = d;
    return true;
}

bool ed_config_parse_compression(const char *s, int *out)
{
    static const struct {
        const char *name;
        int c;
    } m[] = {{"producer", ED_CONFIG_COMPRESSION_PRODUCER},
             {"none", ED_COMPRESSION_NONE},
             {"uncompressed", ED_COMPRESSION_NONE},
             {"gzip", ED_COMPRESSION_GZIP},
             {"snappy", ED_COMPRESSION_SNAPPY},
             {"lz4", ED_COMPRESSION_LZ4},
             {"zstd", ED_COMPRESSION_ZSTD}};
    for (size_t i = 0; i < ED_ARRAY_LEN(m); i++)
        if (strcmp(s, m[i].name) == 0) {
            *out = m[i].c;
            return true;
        }
    return false;
}

void ed_config_say(char *why, size_t why_len, const char *fmt, const char *a, const char *b)
{
    if (why && why_len) snprintf(why, why_len, fmt, a, b);
}

/* ---- listeners ---- */

int ed_config_listeners(const char *value, struct ed_config_listener *out, int max, int *n,
                        char *why, size_t why_len)
{
    *n = 0;
    const char *p = value;
    while (*p == ' ')
        p++;
    if (!*p) return ED_OK;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char item[300];
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0 || len >= sizeof item) {
            ed_config_say(why, why_len, "bad listener entry in '%s'%s", value, "");
            return ED_ERR_INVAL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (*n >= max) {
            ed_config_say(why, why_len, "too many listeners in '%s'%s", value, "");
            return ED_ERR_INVAL;
        }
        struct ed_config_listener *l = &out[*n];
        memset(l, 0, sizeof *l);
        char *sep = strstr(item, "://");
        if (!sep || sep == item || (size_t)(sep - item) >= sizeof l->name) {
            ed_config_say(why, why_len, "listener '%s' is not NAME://host:port%s", item, "");
            return ED_ERR_INVAL;
        }
        for (char *c = item; c < sep; c++) {
            bool ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-';
            if (!ok) {
                ed_config_say(why, why_len, "listener '%s' has a bad name%s", item, "");
                return ED_ERR_INVAL;
            }
        }
        memcpy(l->name, item, (size_t)(sep - item));
        char *hp = sep + 3;
        char *colon;
        if (*hp == '[') {
            char *rb = strchr(hp, ']');
            if (!rb || rb[1] != ':') {
                ed_config_say(why, why_len, "listener '%s' has a bad [IPv6]:port%s", item, "");
                return ED_ERR_INVAL;
            }
            *rb = '\0';
            snprintf(l->host, sizeof l->host, "%s", hp + 1);
            colon = rb + 1;
        } else {
            colon = strrchr(hp, ':');
            if (!colon) {
                ed_config_say(why, why_len, "listener '%s' has no port%s", item, "");
                return ED_ERR_INVAL;
            }
            *colon = '\0';
            if (strchr(hp, ':') || strlen(hp) >= sizeof l->host) {
                ed_config_say(why, why_len, "listener '%s' has a bad host%s", item, "");
                return ED_ERR_INVAL;
            }
            snprintf(l->host, sizeof l->host, "%s", hp);
        }
        int64_t port;
        if (!ed_config_parse_int(colon + 1, &port) || port < 0 || port > 65535) {
            ed_config_say(why, why_len, "listener '%s' has a bad port '%s'", item, colon + 1);
            return ED_ERR_INVAL;
        }
        l->port = (uint16_t)port;
        (*n)++;
        if (!e) break;
        p = e + 1;
        while (*p == ' ')
            p++;
    }
    return ED_OK;
}

static bool check_listener_list(const char *v, bool advertised, char *why, size_t why_len)
{
    struct ed_config_listener ls[ED_CONFIG_MAX_LISTENERS];
    int n;
    if (ed_config_listeners(v, ls, ED_CONFIG_MAX_LISTENERS, &n, why, why_len) != ED_OK)
        return false;
    /* Security protocols are checked at start, with the protocol map. */
    int served = 0;
    for (int i = 0; i < n; i++)
        served += strcmp(ls[i].name, "CONTROLLER") != 0;
    if (!advertised && served == 0) {
        ed_config_say(why, why_len, "no listener to serve in '%s'%s", v, "");
        return false;
    }
    return true;
}

bool ed_config_check_listeners(const char *v, char *why, size_t why_len)
{
    return check_listener_list(v, false, why, why_len);
}

bool ed_config_check_advertised(const char *v, char *why, size_t why_len)
{
    return check_listener_list(v, true, why, why_len);
}

bool ed_config_check_dirs(const char *v, char *why, size_t why_len)
{
    if (!*v) {
        ed_config_say(why, why_len, "must name a directory%s%s", "", "");
        return false;
    }
    if (strchr(v, ',')) {
        ed_config_say(why, why_len, "Eddy uses one data directory, got '%s'%s", v, "");
        return false;
    }
    return true;
}

bool ed_config_check_cleanup(const char *v, char *why, size_t why_len)
{
    bool c, d;
    if (ed_config_parse_cleanup(v, &c, &d)) return true;
    ed_config_say(why, why_len, "'%s' is not delete, compact or delete,compact%s", v, "");
    return false;
}

bool ed_config_check_mqtt_listeners(const char *v, char *why, size_t why_len)
{
    struct ed_listeners_spec ls[ED_CONFIG_MAX_LISTENERS];
    int n;
    if (ed_listeners_parse_mqtt(v, ls, ED_CONFIG_MAX_LISTENERS, &n, why, why_len) != ED_OK)
        return false;
    if (n > 0 && !ED_WITH_MQTT) {
        ed_config_say(why, why_len, "%s%s", "this eddy was built without MQTT (WITH_MQTT=0)", "");
        return false;
    }
    return true;
}

bool ed_config_check_coap_listeners(const char *v, char *why, size_t why_len)
{
    struct ed_listeners_spec ls[ED_CONFIG_MAX_LISTENERS];
    int n;
    if (ed_listeners_parse_coap(v, ls, ED_CONFIG_MAX_LISTENERS, &n, why, why_len) != ED_OK)
        return false;
    if (n > 0 && !ED_WITH_COAP) {
        ed_config_say(why, why_len, "%s%s", "this eddy was built without CoAP (WITH_COAP=0)", "");
        return false;
    }
    return true;
}

bool ed_config_check_http_listeners(const char *v, char *why, size_t why_len)
{
    struct ed_listeners_spec ls[ED_CONFIG_MAX_LISTENERS];
    int n;
    return ed_listeners_parse_http(v, ls, ED_CONFIG_MAX_LISTENERS, &n, why, why_len) == ED_OK;
}

/* host:count,... (max.connections.per.ip.overrides) */
bool ed_config_check_overrides(const char *v, char *why, size_t why_len)
{
    struct ed_config_host_limit l[ED_CONFIG_MAX_HOST_LIMITS];
    int n;
    return ed_config_host_limits(v, l, ED_CONFIG_MAX_HOST_LIMITS, &n, why, why_len) == ED_OK;
}
bool ed_config_check_text(const char *v, char *why, size_t why_len)
{
    if (strlen(v) < 4096) return true;
    ed_config_say(why, why_len, "too long%s%s", "", "");
    return false;
}

static bool parse_double(const char *s, double *out)
{
    if (!*s) return false;
    char *end;
    *out = strtod(s, &end);
    return *end == '\0';
}

void ed_config_unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 't' ? '\t' : *r == 'n' ? '\n' : *r == 's' ? ' ' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

bool ed_config_list_has(const char *choices, const char *v, size_t len)
{
    const char *p = choices;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == len && strncmp(p, v, len) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

const char *ed_config_list_item(const char **p, size_t *n)
{
    const char *s = *p;
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    while (len && *s == ' ')
        s++, len--;
    while (len && s[len - 1] == ' ')
        len--;
    *p = e ? e + 1 : NULL;
    *n = len;
    return s;
}

/* Each comma-separated item of v (blanks around items ignored) is one of
 * choices. */
static bool list_ok(const char *choices, const char *v)
{
    for (const char *p = v; p;) {
        size_t n;
        const char *item = ed_config_list_item(&p, &n);
        if (!ed_config_list_has(choices, item, n)) return false;
    }
    return true;
}

bool ed_config_key_check(const struct ed_config_key *k, bool topic, const char *v, char *why,
                         size_t why_len)
{
    char tmp[160];
    int64_t min = k->min, max = k->max;
    if (topic && (k->tmin || k->tmax)) {
        min = k->tmin;
        max = k->tmax;
    }
    switch (k->type) {
    case ED_CFG_INT: {
        int64_t n = 0;
        if (!ed_config_parse_int(v, &n)) {
            ed_config_say(why, why_len, "'%s' is not an integer%s", v, "");
            return false;
        }
        if (n < min || n > max) {
            snprintf(tmp, sizeof tmp, "%%s is out of range [%" PRId64 ", %" PRId64 "]%%s", min,
                     max);
            ed_config_say(why, why_len, tmp, v,
                          min == 1 && max == 1 ? ": Eddy is a single node, only 1 is valid" : "");
            return false;
        }
        break;
    }
    case ED_CFG_DOUBLE: {
        double d;
        if (!parse_double(v, &d) || d < (double)min || d > (double)max) {
            snprintf(tmp, sizeof tmp, "'%%s' is not a number in [%" PRId64 ", %" PRId64 "]%%s", min,
                     max);
            ed_config_say(why, why_len, tmp, v, "");
            return false;
        }
        break;
    }
    case ED_CFG_BOOL: {
        bool b;
        if (!ed_config_parse_bool(v, &b)) {
            ed_config_say(why, why_len, "'%s' is not true or false%s", v, "");
            return false;
        }
        break;
    }
    case ED_CFG_ENUM:
        if (!ed_config_list_has(k->choices, v, strlen(v))) {
            ed_config_say(why, why_len, "'%s' is not one of %s", v, k->choices);
            return false;
        }
        break;
    case ED_CFG_LIST:
        if (k->choices && !list_ok(k->choices, v)) {
            ed_config_say(why, why_len, "'%s' is not a list of %s", v, k->choices);
            return false;
        }
        break;
    case ED_CFG_STRING:
        break;
    }
    return !k->check || k->check(v, why, why_len);
}

int ed_config_host_limits(const char *str, struct ed_config_host_limit *out, int max, int *n_out,
                          char *why, size_t why_len)
{
    int n_lim = 0;
    const char *p = str ? str : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char item[80];
        if (n >= sizeof item) {
            snprintf(why, why_len, "override too long: %.*s", (int)ED_MIN(n, 40), p);
            return ED_ERR_INVAL;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        char *colon = strrchr(item, ':');
        char *num_end = NULL;
        long v = colon ? strtol(colon + 1, &num_end, 10) : -1;
        if (n > 0 && (!colon || colon == item || !num_end || *num_end || colon[1] == '\0' ||
                      v < 0 || v > INT32_MAX || (size_t)(colon - item) >= sizeof out[0].host)) {
            snprintf(why, why_len, "bad override '%s' (want host:count)", item);
            return ED_ERR_INVAL;
        }
        if (n > 0) {
            if (n_lim == max) {
                snprintf(why, why_len, "more than %d overrides", max);
                return ED_ERR_INVAL;
            }
            *colon = '\0';
            /* "[v6]" without brackets, as peers are compared */
            char *host = item;
            size_t hl = strlen(host);
            if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
                host[hl - 1] = '\0';
                host++;
            }
            snprintf(out[n_lim].host, sizeof out[0].host, "%.47s", host);
            out[n_lim++].n_max = (int32_t)v;
        }
        p += n;
        if (*p == ',') p++;
    }
    *n_out = n_lim;
    return ED_OK;
}

bool ed_config_check_sasl_mechs(const char *v, char *why, size_t why_len)
{
    if (ed_sasl_mech_list_parse(v) > 0) return true;
    snprintf(why, why_len, "'%s' is not a list of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", v);
    return false;
}

bool ed_config_check_sslmap(const char *v, char *why, size_t why_len)
{
    ed_sslmap *m = NULL;
    int rc = ed_sslmap_new(v, &m, why, why_len);
    ed_sslmap_free(m);
    if (rc == ED_ERR_NOMEM) snprintf(why, why_len, "out of memory");
    return rc == ED_OK;
}

bool ed_config_check_authorizer(const char *v, char *why, size_t why_len)
{
    if (!*v || strcmp(v, ED_CONFIG_AUTHORIZER) == 0 ||
        strcmp(v, "kafka.security.authorizer.AclAuthorizer") == 0)
        return true;
    snprintf(why, why_len, "authorizer '%s' is not offered: leave it empty or use %s", v,
             ED_CONFIG_AUTHORIZER);
    return false;
}
