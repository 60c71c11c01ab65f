/* The metrics registry (see metrics.h): one static structure, topics found
 * by a linear probe over a small open-addressed table of names. */
#include "core/metrics.h"

#include <string.h>

static struct ed_metrics M;
static bool inited;
/* Slot of each topic by hash (index + 1; 0 = empty). */
static uint16_t slots[ED_METRICS_MAX_TOPICS * 2];

static const uint64_t flush_ns_bounds[] = {
    250000ULL,   500000ULL,    1000000ULL,   2500000ULL,   5000000ULL,    10000000ULL,  25000000ULL,
    50000000ULL, 100000000ULL, 250000000ULL, 500000000ULL, 1000000000ULL, 2500000000ULL};
static const uint64_t flush_len_bounds[] = {512,    4096,    16384,   65536,
                                            262144, 1048576, 4194304, 16777216};

static void hist_init(struct ed_metrics_hist *h, const uint64_t *b, int n)
{
    memset(h, 0, sizeof *h);
    h->n_bounds = n;
    memcpy(h->bounds, b, (size_t)n * sizeof *b);
}

static void init(void)
{
    if (inited) return;
    inited = true;
    hist_init(&M.flush_ns, flush_ns_bounds, (int)(sizeof flush_ns_bounds / sizeof(uint64_t)));
    hist_init(&M.flush_len, flush_len_bounds, (int)(sizeof flush_len_bounds / sizeof(uint64_t)));
}

void ed_metrics_reset(void)
{
    memset(&M, 0, sizeof M);
    memset(slots, 0, sizeof slots);
    inited = false;
    init();
}

const struct ed_metrics *ed_metrics_get(void)
{
    init();
    return &M;
}

static const char *const proto_names[ED_METRICS_N_PROTO] = {"other", "kafka", "mqtt", "http",
                                                            "coap"};

const char *ed_metrics_proto_name(enum ed_metrics_proto p)
{
    return (unsigned)p < ED_METRICS_N_PROTO ? proto_names[p] : "other";
}

enum ed_metrics_proto ed_metrics_proto_of(const char *name)
{
    for (int i = 1; i < ED_METRICS_N_PROTO; i++) {
        const char *a = proto_names[i], *b = name;
        while (*a && *b && (*b | 0x20) == *a) {
            a++;
            b++;
        }
        if (!*a && !*b) return (enum ed_metrics_proto)i;
    }
    return ED_METRICS_OTHER;
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The counters of topic: its own slot, or "_other" once the table is full. */
static struct ed_metrics_topic *topic_of(const char *name)
{
    init();
    size_t n = strlen(name);
    if (n >= sizeof M.topics[0].name) n = sizeof M.topics[0].name - 1;
    uint32_t cap = (uint32_t)(sizeof slots / sizeof slots[0]);
    uint32_t i = hash(name) % cap;
    for (uint32_t k = 0; k < cap; k++, i = (i + 1) % cap) {
        if (slots[i] == 0) break;
        struct ed_metrics_topic *t = &M.topics[slots[i] - 1];
        if (strncmp(t->name, name, n) == 0 && t->name[n] == '\0') return t;
    }
    if (M.n_topics < ED_METRICS_MAX_TOPICS - 1) {
        struct ed_metrics_topic *t = &M.topics[M.n_topics++];
        memcpy(t->name, name, n);
        t->name[n] = '\0';
        slots[i] = (uint16_t)M.n_topics;
        return t;
    }
    struct ed_metrics_topic *o = &M.topics[ED_METRICS_MAX_TOPICS - 1];
    if (!o->name[0]) {
        memcpy(o->name, "_other", 7);
        M.n_topics = ED_METRICS_MAX_TOPICS;
    }
    return o;
}

static unsigned proto_ix(enum ed_metrics_proto p)
{
    return (unsigned)p < ED_METRICS_N_PROTO ? (unsigned)p : 0;
}

void ed_metrics_in(enum ed_metrics_proto p, const char *topic, uint64_t n, uint64_t len)
{
    struct ed_metrics_topic *t = topic_of(topic);
    t->n_in[proto_ix(p)] += n;
    t->len_in[proto_ix(p)] += len;
}

void ed_metrics_out(enum ed_metrics_proto p, const char *topic, uint64_t n, uint64_t len)
{
    struct ed_metrics_topic *t = topic_of(topic);
    t->n_out[proto_ix(p)] += n;
    t->len_out[proto_ix(p)] += len;
}

void ed_metrics_request(enum ed_metrics_proto p, int api, bool error)
{
    int a = api < 0 ? 0 : api >= ED_METRICS_MAX_API ? ED_METRICS_MAX_API - 1 : api;
    M.n_requests[proto_ix(p)][a]++;
    if (error) M.n_errors[proto_ix(p)][a]++;
}

void ed_metrics_conn(enum ed_metrics_proto p, int delta)
{
    if (delta > 0) M.n_conns_accepted[proto_ix(p)]++;
    M.n_conns_open[proto_ix(p)] += delta;
}

void ed_metrics_bad_input(enum ed_metrics_proto p)
{
    M.n_bad_input[proto_ix(p)]++;
}

static void hist_add(struct ed_metrics_hist *h, uint64_t v)
{
    int i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void ed_metrics_flush(uint64_t len, uint64_t ns)
{
    init();
    M.n_flushes++;
    M.len_flushed += len;
    hist_add(&M.flush_ns, ns);
    hist_add(&M.flush_len, len);
}
