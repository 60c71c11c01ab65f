/* Topic filters, the route table with its captures and templates, and the
 * default mapping (see mqtt_route.h). */
#include "bridge/mqtt_route.h"
#include "bridge/mqtt_codec.h"
#include "core/topics.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

/* Wildcard levels a route's filter may have, and the longest template. */
#define WILD_MAX 32
#define TPL_MAX  4096

enum { PART_LIT, PART_CAP, PART_TOPIC, PART_KEY };

/* One piece of a template: literal text (off, len into the template's
 * text) or a capture (the index of its wildcard in the filter) or the
 * whole topic. */
struct part {
    uint8_t kind;
    uint8_t wild;
    uint16_t off, len;
};

struct tpl {
    char *text;
    int n;
    struct part v[ED_MQTT_ROUTE_PARTS_MAX];
};

struct route {
    char *filter; /* capture names removed: an ordinary filter */
    size_t filter_len;
    struct tpl topic, key;
    bool has_key;
};

struct ed_mqtt_routes {
    int n;
    bool have_keys;
    bool reverse; /* publish routes: Kafka topic pattern => MQTT topic template */
    struct route *v[ED_MQTT_ROUTES_MAX];
};

/* A wildcard's match in the topic. */
struct span {
    size_t off, len;
};

static bool kafka_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool ed_mqtt_topic_name_ok(const uint8_t *p, size_t len)
{
    if (len == 0 || len > 65535) return false;
    return !memchr(p, '+', len) && !memchr(p, '#', len);
}

/* A filter whose levels are separated by sep ('/' in MQTT, '.' in Kafka
 * topic patterns). */
static bool filter_ok(const uint8_t *p, size_t len, uint8_t sep)
{
    if (len == 0 || len > 65535) return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '+' && p[i] != '#') continue;
        bool starts = i == 0 || p[i - 1] == sep;
        bool ends = i + 1 == len || p[i + 1] == sep;
        if (!starts || !ends) return false;
        if (p[i] == '#' && i + 1 != len) return false;
    }
    return true;
}

bool ed_mqtt_filter_ok(const uint8_t *p, size_t len)
{
    return filter_ok(p, len, '/');
}

/* Matches topic t against filter f, levels separated by sep; with spans,
 * records what each wildcard level matched, in filter order (at most
 * n_spans). */
static bool match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen, struct span *spans,
                  int n_spans, uint8_t sep)
{
    if (tlen > 0 && t[0] == '$' && flen > 0 && (f[0] == '+' || f[0] == '#')) return false;
    size_t fi = 0, ti = 0;
    int w = 0;
    for (;;) {
        /* at the start of a level in both */
        if (fi < flen && f[fi] == '#') { /* matches the rest, parent included */
            if (spans && w < n_spans) spans[w] = (struct span){ti, tlen - ti};
            return true;
        }
        size_t fe = fi, te = ti;
        while (fe < flen && f[fe] != sep)
            fe++;
        while (te < tlen && t[te] != sep)
            te++;
        bool plus = fe - fi == 1 && f[fi] == '+';
        if (!plus && (fe - fi != te - ti || memcmp(f + fi, t + ti, fe - fi) != 0)) return false;
        if (plus && spans && w < n_spans) spans[w] = (struct span){ti, te - ti};
        w += plus;
        bool f_end = fe == flen, t_end = te == tlen;
        if (f_end && t_end) return true;
        if (t_end) {
            /* "a/#" matches "a": the filter's next level must be a final '#'. */
            if (fe + 2 != flen || f[fe + 1] != '#') return false;
            if (spans && w < n_spans) spans[w] = (struct span){tlen, 0};
            return true;
        }
        if (f_end) return false;
        fi = fe + 1;
        ti = te + 1;
    }
}

bool ed_mqtt_filter_match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen)
{
    return match(f, flen, t, tlen, NULL, 0, '/');
}

/* ---- parsing ---- */

struct parse {
    const char *key_name;
    const char *entry;
    size_t entry_len;
    char *why;
    size_t why_len;
    /* the filter's capture names, by wildcard index (len 0: unnamed) */
    const char *names[WILD_MAX];
    size_t name_lens[WILD_MAX];
    int n_wild;
    bool reverse; /* a publish route (see struct ed_mqtt_routes) */
};

static int say(struct parse *ps, const char *what)
{
    if (ps->why && ps->why_len)
        snprintf(ps->why, ps->why_len, "%s: route '%.*s': %s", ps->key_name,
                 (int)ED_MIN(ps->entry_len, 200), ps->entry, what);
    return ED_ERR_INVAL;
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Reads a filter with capture names into rt->filter (names removed) and
 * ps->names. */
static int parse_filter(struct parse *ps, const char *s, size_t len, struct route *rt)
{
    char *f = ed_malloc(len + 1);
    if (!f) return ED_ERR_NOMEM;
    size_t n = 0;
    char sep = ps->reverse ? '.' : '/';
    for (size_t i = 0; i <= len;) {
        size_t e = i;
        while (e < len && s[e] != sep)
            e++;
        bool wild = e > i && (s[i] == '+' || s[i] == '#');
        if (wild) {
            if (ps->n_wild == WILD_MAX) {
                ed_free(f);
                return say(ps, "too many wildcard levels (at most 32)");
            }
            const char *nm = s + i + 1;
            size_t nl = e - i - 1;
            for (size_t k = 0; k < nl; k++)
                if (!name_char(nm[k])) {
                    ed_free(f);
                    return say(ps, "bad MQTT topic filter ('+' and '#' must fill a whole level, "
                                   "'#' only last; a capture name after them uses [A-Za-z0-9_-])");
                }
            if (nl == 5 && memcmp(nm, "topic", 5) == 0) {
                ed_free(f);
                return say(ps, "capture name 'topic' is reserved for the whole topic");
            }
            for (int k = 0; nl > 0 && k < ps->n_wild; k++)
                if (ps->name_lens[k] == nl && memcmp(ps->names[k], nm, nl) == 0) {
                    ed_free(f);
                    return say(ps, "capture name used twice");
                }
            ps->names[ps->n_wild] = nm;
            ps->name_lens[ps->n_wild] = nl;
            ps->n_wild++;
            f[n++] = s[i];
        } else {
            memcpy(f + n, s + i, e - i);
            n += e - i;
        }
        if (e < len) f[n++] = sep;
        i = e + 1;
    }
    f[n] = '\0';
    if (!filter_ok((const uint8_t *)f, n, (uint8_t)sep)) {
        ed_free(f);
        return say(ps,
                   "bad MQTT topic filter ('+' and '#' must fill a whole level, '#' only last)");
    }
    rt->filter = f;
    rt->filter_len = n;
    return ED_OK;
}

/* Reads a template; is_topic: its literal text must be legal in a Kafka
 * topic name (in a publish route: in an MQTT topic name, and {key} names
 * the record's key). */
static int parse_tpl(struct parse *ps, const char *s, size_t len, bool is_topic, struct tpl *tp)
{
    const char *what = ps->reverse ? "MQTT_TOPIC" : is_topic ? "TOPIC" : "KEY";
    bool mqtt = ps->reverse;
    if (mqtt) is_topic = false;
    char msg[160];
    if (len == 0) {
        snprintf(msg, sizeof msg, "%s is empty", what);
        return say(ps, msg);
    }
    if (len > TPL_MAX) {
        snprintf(msg, sizeof msg, "%s template longer than %d characters", what, TPL_MAX);
        return say(ps, msg);
    }
    tp->text = ed_strndup(s, len);
    if (!tp->text) return ED_ERR_NOMEM;
    size_t literal_len = 0;
    for (size_t i = 0; i < len;) {
        if (tp->n == ED_MQTT_ROUTE_PARTS_MAX) {
            snprintf(msg, sizeof msg, "%s template has more than %d parts", what,
                     ED_MQTT_ROUTE_PARTS_MAX);
            return say(ps, msg);
        }
        struct part *pt = &tp->v[tp->n];
        if (s[i] == '{') {
            const char *close = memchr(s + i, '}', len - i);
            if (!close) {
                snprintf(msg, sizeof msg, "%s template has '{' without '}'", what);
                return say(ps, msg);
            }
            const char *nm = s + i + 1;
            size_t nl = (size_t)(close - nm);
            if (nl == 5 && memcmp(nm, "topic", 5) == 0) {
                pt->kind = PART_TOPIC;
            } else if (mqtt && nl == 3 && memcmp(nm, "key", 3) == 0) {
                pt->kind = PART_KEY;
            } else {
                int k = 0;
                while (k < ps->n_wild &&
                       !(ps->name_lens[k] == nl && nl > 0 && memcmp(ps->names[k], nm, nl) == 0))
                    k++;
                if (k == ps->n_wild) {
                    snprintf(msg, sizeof msg,
                             "%s template names {%.*s}, which is neither {topic}%s nor a "
                             "capture of the filter",
                             what, (int)ED_MIN(nl, 64), nm, mqtt ? ", {key}" : "");
                    return say(ps, msg);
                }
                pt->kind = PART_CAP;
                pt->wild = (uint8_t)k;
            }
            i = (size_t)(close - s) + 1;
        } else {
            size_t e = i;
            while (e < len && s[e] != '{' && s[e] != '}')
                e++;
            if (e < len && s[e] == '}') {
                snprintf(msg, sizeof msg, "%s template has '}' without '{'", what);
                return say(ps, msg);
            }
            for (size_t k = i; is_topic && k < e; k++)
                if (!kafka_char((uint8_t)s[k]))
                    return say(ps, "Kafka topic names use only [a-zA-Z0-9._-]");
            for (size_t k = i; mqtt && k < e; k++)
                if (s[k] == '+' || s[k] == '#')
                    return say(ps, "an MQTT topic name has no '+' or '#'");
            pt->kind = PART_LIT;
            pt->off = (uint16_t)i;
            pt->len = (uint16_t)(e - i);
            literal_len += e - i;
            i = e;
        }
        tp->n++;
    }
    if (is_topic && literal_len > ED_TOPIC_NAME_MAX)
        return say(ps, "Kafka topic name must have 1..249 characters");
    if (is_topic && tp->n == 1 && tp->v[0].kind == PART_LIT && !ed_topics_valid_name(tp->text))
        return say(ps, "Kafka topic name may not be '.' or '..'");
    return ED_OK;
}

static void route_free(struct route *rt)
{
    if (!rt) return;
    ed_free(rt->filter);
    ed_free(rt->topic.text);
    ed_free(rt->key.text);
    ed_free(rt);
}

/* One entry FILTER=>TOPIC[|KEY], trimmed. */
static int parse_entry(struct parse *ps, const char *s, size_t len, struct route **out)
{
    const char *arrow = NULL;
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == '=' && s[i + 1] == '>') {
            arrow = s + i;
            break;
        }
    if (!arrow)
        return say(ps, ps->reverse ? "expected KAFKA_TOPIC_PATTERN=>MQTT_TOPIC"
                                   : "expected FILTER=>KAFKA_TOPIC or FILTER=>KAFKA_TOPIC|KEY");
    const char *f = s;
    size_t flen = (size_t)(arrow - s);
    trim(&f, &flen);
    const char *t = arrow + 2;
    size_t tlen = len - (size_t)(t - s);
    const char *bar = ps->reverse ? NULL : memchr(t, '|', tlen);
    const char *k = NULL;
    size_t klen = 0;
    if (bar) {
        k = bar + 1;
        klen = tlen - (size_t)(k - t);
        tlen = (size_t)(bar - t);
        trim(&k, &klen);
    }
    trim(&t, &tlen);
    struct route *rt = ed_calloc(1, sizeof *rt);
    if (!rt) return ED_ERR_NOMEM;
    int rc = parse_filter(ps, f, flen, rt);
    if (rc == ED_OK) rc = parse_tpl(ps, t, tlen, true, &rt->topic);
    if (rc == ED_OK && bar) rc = parse_tpl(ps, k, klen, false, &rt->key);
    if (rc != ED_OK) {
        route_free(rt);
        return rc;
    }
    rt->has_key = bar != NULL;
    *out = rt;
    return ED_OK;
}

static int parse_routes(const char *key_name, bool reverse, const char *spec, ed_mqtt_routes **out,
                        char *why, size_t why_len)
{
    ed_mqtt_routes *r = ed_calloc(1, sizeof *r);
    if (!r) return ED_ERR_NOMEM;
    r->reverse = reverse;
    const char *p = spec ? spec : "";
    int rc = ED_OK;
    while (*p && rc == ED_OK) {
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        p = e ? e + 1 : p + len;
        trim(&s, &len);
        if (len == 0) continue;
        struct parse ps = {.key_name = key_name,
                           .entry = s,
                           .entry_len = len,
                           .why = why,
                           .why_len = why_len,
                           .reverse = reverse};
        if (r->n == ED_MQTT_ROUTES_MAX) {
            rc = say(&ps, "too many routes (at most 64)");
            break;
        }
        rc = parse_entry(&ps, s, len, &r->v[r->n]);
        if (rc == ED_OK) r->have_keys |= r->v[r->n++]->has_key;
    }
    if (rc != ED_OK) {
        ed_mqtt_routes_free(r);
        return rc;
    }
    *out = r;
    return ED_OK;
}

int ed_mqtt_routes_parse_as(const char *key_name, const char *spec, ed_mqtt_routes **out, char *why,
                            size_t why_len)
{
    return parse_routes(key_name, false, spec, out, why, why_len);
}

int ed_mqtt_publish_routes_parse(const char *spec, ed_mqtt_routes **out, char *why, size_t why_len)
{
    return parse_routes("mqtt.publish.routes", true, spec, out, why, why_len);
}

int ed_mqtt_routes_parse(const char *spec, ed_mqtt_routes **out, char *why, size_t why_len)
{
    return ed_mqtt_routes_parse_as("mqtt.routes", spec, out, why, why_len);
}

void ed_mqtt_routes_free(ed_mqtt_routes *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++)
        route_free(r->v[i]);
    ed_free(r);
}

int ed_mqtt_routes_count(const ed_mqtt_routes *r)
{
    return r ? r->n : 0;
}

bool ed_mqtt_routes_have_keys(const ed_mqtt_routes *r)
{
    return r && r->have_keys;
}

/* ---- applying ---- */

/* Expands template tp into out (at most cap bytes): its length, or
 * SIZE_MAX when it does not fit. */
static size_t expand(const struct tpl *tp, const struct span *spans, const uint8_t *t, size_t tlen,
                     struct ed_mqtt_bytes key, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < tp->n; i++) {
        const struct part *pt = &tp->v[i];
        const uint8_t *src = pt->kind == PART_LIT   ? (const uint8_t *)tp->text + pt->off
                             : pt->kind == PART_CAP ? t + spans[pt->wild].off
                             : pt->kind == PART_KEY ? key.p
                                                    : t;
        size_t len = pt->kind == PART_LIT   ? pt->len
                     : pt->kind == PART_CAP ? spans[pt->wild].len
                     : pt->kind == PART_KEY ? key.len
                                            : tlen;
        if (len > cap - n) return SIZE_MAX;
        if (len) memcpy(out + n, src, len);
        n += len;
    }
    return n;
}

/* The default mapping: '/' -> '.', other characters Kafka does not allow
 * -> '_'. */
static int default_topic(const uint8_t *t, size_t tlen, char *out, size_t out_len, const char **why)
{
    if (tlen == 0) {
        *why = "empty topic";
        return ED_ERR_INVAL;
    }
    if (tlen > ED_TOPIC_NAME_MAX || tlen >= out_len) {
        *why = "MQTT topic longer than a Kafka topic name may be (249 characters)";
        return ED_ERR_INVAL;
    }
    for (size_t i = 0; i < tlen; i++) {
        uint8_t c = t[i];
        out[i] = c == '/' ? '.' : kafka_char(c) ? (char)c : '_';
    }
    out[tlen] = '\0';
    if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0) {
        *why = "MQTT topic maps to '.' or '..', which Kafka does not allow";
        return ED_ERR_INVAL;
    }
    return ED_OK;
}

/* The first route of r whose filter matches t (levels separated by sep),
 * with its wildcards' spans; NULL when none does. */
static const struct route *find(const ed_mqtt_routes *r, const uint8_t *t, size_t tlen,
                                struct span *spans, uint8_t sep)
{
    for (int i = 0; r && i < r->n; i++)
        if (match((const uint8_t *)r->v[i]->filter, r->v[i]->filter_len, t, tlen, spans, WILD_MAX,
                  sep))
            return r->v[i];
    return NULL;
}

int ed_mqtt_routes_apply(const ed_mqtt_routes *r, const uint8_t *t, size_t tlen, char *topic,
                         size_t topic_len, uint8_t *key_buf, size_t key_cap, const uint8_t **key,
                         size_t *key_len, const char **why)
{
    const struct ed_mqtt_bytes no_key = {NULL, 0};
    struct span spans[WILD_MAX];
    const struct route *rt = find(r, t, tlen, spans, '/');
    if (!rt) {
        int rc = default_topic(t, tlen, topic, topic_len, why);
        if (rc == ED_OK && key_buf) {
            *key = t;
            *key_len = tlen;
        }
        return rc;
    }
    size_t cap = ED_MIN((size_t)ED_TOPIC_NAME_MAX, topic_len - 1);
    size_t n = expand(&rt->topic, spans, t, tlen, no_key, (uint8_t *)topic, cap);
    if (n == SIZE_MAX) {
        *why = "the route's TOPIC template gives a name longer than 249 characters";
        return ED_ERR_INVAL;
    }
    topic[n] = '\0';
    if (!ed_topics_valid_name(topic)) {
        *why = "the route's TOPIC template gives a name Kafka does not allow "
               "(empty, '.', '..' or a character outside [a-zA-Z0-9._-])";
        return ED_ERR_INVAL;
    }
    if (!key_buf) return ED_OK;
    if (!rt->has_key) {
        *key = t;
        *key_len = tlen;
        return ED_OK;
    }
    n = expand(&rt->key, spans, t, tlen, no_key, key_buf, key_cap);
    if (n == SIZE_MAX) {
        *why = "the route's KEY template gives a key longer than 65535 bytes";
        return ED_ERR_TOOBIG;
    }
    *key = key_buf;
    *key_len = n;
    return ED_OK;
}

int ed_mqtt_routes_resolve(const ed_mqtt_routes *r, const uint8_t *t, size_t tlen, char *out,
                           size_t out_len, const char **why)
{
    return ed_mqtt_routes_apply(r, t, tlen, out, out_len, NULL, 0, NULL, NULL, why);
}

size_t ed_mqtt_publish_routes_apply(const ed_mqtt_routes *r, const char *ktopic,
                                    const uint8_t *key_p, size_t key_len, uint8_t *out, size_t cap,
                                    const char **why)
{
    const struct ed_mqtt_bytes key = {key_p, key_len};
    size_t tlen = strlen(ktopic);
    const uint8_t *t = (const uint8_t *)ktopic;
    struct span spans[WILD_MAX];
    const struct route *rt = find(r, t, tlen, spans, '.');
    size_t n;
    if (rt) {
        n = expand(&rt->topic, spans, t, tlen, key, out, ED_MIN(cap, (size_t)65535));
    } else {
        /* the inverse of the default mapping: '.' -> '/' */
        n = tlen <= cap ? tlen : SIZE_MAX;
        for (size_t i = 0; n != SIZE_MAX && i < tlen; i++)
            out[i] = t[i] == '.' ? '/' : t[i];
    }
    if (n == SIZE_MAX) {
        *why = "the MQTT topic would be longer than 65535 bytes";
        return SIZE_MAX;
    }
    if (!ed_mqtt_topic_name_ok(out, n) || memchr(out, 0, n) || !ed_mqtt_utf8_ok(out, n)) {
        *why = "the MQTT topic would be empty, hold '+', '#' or NUL, or not be UTF-8";
        return SIZE_MAX;
    }
    return n;
}
