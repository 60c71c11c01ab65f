/* MQTT topic filters, the route table and the partitioner (see mqtt_route.h). */
#include "bridge/mqtt_route.h"
#include "core/topics.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

struct route {
    char *filter;
    size_t filter_len;
    char topic[ED_TOPIC_NAME_MAX + 1];
};

struct ed_mqtt_routes {
    int n;
    struct route v[ED_MQTT_ROUTES_MAX];
};

bool ed_mqtt_topic_name_ok(const uint8_t *p, size_t len)
{
    if (len == 0 || len > 65535) return false;
    return !memchr(p, '+', len) && !memchr(p, '#', len);
}

bool ed_mqtt_filter_ok(const uint8_t *p, size_t len)
{
    if (len == 0 || len > 65535) return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '+' && p[i] != '#') continue;
        bool starts = i == 0 || p[i - 1] == '/';
        bool ends = i + 1 == len || p[i + 1] == '/';
        if (!starts || !ends) return false;
        if (p[i] == '#' && i + 1 != len) return false;
    }
    return true;
}

bool ed_mqtt_filter_match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen)
{
    if (tlen > 0 && t[0] == '$' && flen > 0 && (f[0] == '+' || f[0] == '#')) return false;
    size_t fi = 0, ti = 0;
    for (;;) {
        /* at the start of a level in both */
        if (fi < flen && f[fi] == '#') return true; /* matches the rest, parent included */
        size_t fe = fi, te = ti;
        while (fe < flen && f[fe] != '/')
            fe++;
        while (te < tlen && t[te] != '/')
            te++;
        bool plus = fe - fi == 1 && f[fi] == '+';
        if (!plus && (fe - fi != te - ti || memcmp(f + fi, t + ti, fe - fi) != 0)) return false;
        bool f_end = fe == flen, t_end = te == tlen;
        if (f_end && t_end) return true;
        if (t_end) {
            /* "a/#" matches "a": the filter's next level must be a final '#'. */
            return fe + 2 == flen && f[fe + 1] == '#';
        }
        if (f_end) return false;
        fi = fe + 1;
        ti = te + 1;
    }
}

static void say(char *why, size_t why_len, const char *entry, size_t len, const char *what)
{
    if (why && why_len)
        snprintf(why, why_len, "mqtt.routes: route '%.*s': %s", (int)len, entry, what);
}

int ed_mqtt_routes_parse(const char *spec, ed_mqtt_routes **out, char *why, size_t why_len)
{
    ed_mqtt_routes *r = ed_calloc(1, sizeof *r);
    if (!r) return ED_ERR_NOMEM;
    const char *p = spec ? spec : "";
    while (*p) {
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        p = e ? e + 1 : p + len;
        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len == 0) continue;
        const char *arrow = NULL;
        for (size_t i = 0; i + 1 < len; i++)
            if (s[i] == '=' && s[i + 1] == '>') {
                arrow = s + i;
                break;
            }
        if (!arrow) {
            say(why, why_len, s, len, "expected FILTER=>KAFKA_TOPIC");
            goto fail;
        }
        size_t flen = (size_t)(arrow - s);
        while (flen > 0 && (s[flen - 1] == ' ' || s[flen - 1] == '\t'))
            flen--;
        const char *t = arrow + 2;
        size_t tlen = len - (size_t)(t - s);
        while (tlen > 0 && (*t == ' ' || *t == '\t')) {
            t++;
            tlen--;
        }
        if (!ed_mqtt_filter_ok((const uint8_t *)s, flen)) {
            say(why, why_len, s, len,
                "bad MQTT topic filter ('+' and '#' must fill a whole level, '#' only last)");
            goto fail;
        }
        if (r->n == ED_MQTT_ROUTES_MAX) {
            say(why, why_len, s, len, "too many routes (at most 64)");
            goto fail;
        }
        struct route *rt = &r->v[r->n];
        if (tlen == 0 || tlen > ED_TOPIC_NAME_MAX) {
            say(why, why_len, s, len, "Kafka topic name must have 1..249 characters");
            goto fail;
        }
        memcpy(rt->topic, t, tlen);
        rt->topic[tlen] = '\0';
        if (!ed_topics_valid_name(rt->topic)) {
            say(why, why_len, s, len, "Kafka topic names use only [a-zA-Z0-9._-]");
            goto fail;
        }
        rt->filter = ed_strndup(s, flen);
        if (!rt->filter) goto nomem;
        rt->filter_len = flen;
        r->n++;
    }
    *out = r;
    return ED_OK;
nomem:
    ed_mqtt_routes_free(r);
    return ED_ERR_NOMEM;
fail:
    ed_mqtt_routes_free(r);
    return ED_ERR_INVAL;
}

void ed_mqtt_routes_free(ed_mqtt_routes *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++)
        ed_free(r->v[i].filter);
    ed_free(r);
}

int ed_mqtt_routes_count(const ed_mqtt_routes *r)
{
    return r ? r->n : 0;
}

int ed_mqtt_routes_resolve(const ed_mqtt_routes *r, const uint8_t *t, size_t tlen, char *out,
                           size_t out_len, const char **why)
{
    for (int i = 0; r && i < r->n; i++) {
        const struct route *rt = &r->v[i];
        if (ed_mqtt_filter_match((const uint8_t *)rt->filter, rt->filter_len, t, tlen)) {
            snprintf(out, out_len, "%s", rt->topic);
            return ED_OK;
        }
    }
    if (tlen > ED_TOPIC_NAME_MAX || tlen >= out_len) {
        *why = "MQTT topic longer than a Kafka topic name may be (249 characters)";
        return ED_ERR_INVAL;
    }
    for (size_t i = 0; i < tlen; i++) {
        uint8_t c = t[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out[i] = c == '/' ? '.' : ok ? (char)c : '_';
    }
    out[tlen] = '\0';
    if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0) {
        *why = "MQTT topic maps to '.' or '..', which Kafka does not allow";
        return ED_ERR_INVAL;
    }
    return ED_OK;
}
