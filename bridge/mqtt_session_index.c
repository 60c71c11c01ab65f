/* The index of persistent MQTT sessions: per client id where its latest
 * record of __mqtt_sessions is (or a lower bound) and when it expires, in a
 * hash table keyed by the murmur2 of the id. */
#include "bridge/mqtt_session_int.h"
#include "core/partitioner.h"
#include "platform/mem.h"

#include <string.h>

static uint32_t hash_of(const char *id, size_t len)
{
    return (uint32_t)ed_partitioner_murmur2((const uint8_t *)id, len);
}

static struct sent **slot(ed_mqtt_sessions *s, const char *id, size_t len, uint32_t h)
{
    struct sent **pp = &s->b[h & (s->n_buckets - 1)];
    while (*pp &&
           !((*pp)->hash == h && strlen((*pp)->id) == len && memcmp((*pp)->id, id, len) == 0))
        pp = &(*pp)->next;
    return pp;
}

struct sent *ed_mqtt_session_index_find(ed_mqtt_sessions *s, const char *id, size_t len)
{
    return s->n_buckets ? *slot(s, id, len, hash_of(id, len)) : NULL;
}

static int grow(ed_mqtt_sessions *s)
{
    uint32_t nb = s->n_buckets ? s->n_buckets * 2 : 64;
    struct sent **b = ed_calloc(nb, sizeof *b);
    if (!b) return ED_ERR_NOMEM;
    for (uint32_t i = 0; i < s->n_buckets; i++)
        while (s->b[i]) {
            struct sent *e = s->b[i];
            s->b[i] = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    ed_free(s->b);
    s->b = b;
    s->n_buckets = nb;
    return ED_OK;
}

struct sent *ed_mqtt_session_index_put(ed_mqtt_sessions *s, const char *id, size_t len,
                                       int64_t from, bool exact, int64_t deadline_ms)
{
    if ((s->n_buckets == 0 || s->n >= s->n_buckets) && grow(s) != ED_OK) return NULL;
    uint32_t h = hash_of(id, len);
    struct sent **pp = slot(s, id, len, h);
    struct sent *e = *pp;
    if (!e) {
        e = ed_malloc(sizeof *e + len + 1);
        if (!e) return NULL;
        e->hash = h;
        memcpy(e->id, id, len);
        e->id[len] = 0;
        e->next = s->b[h & (s->n_buckets - 1)];
        s->b[h & (s->n_buckets - 1)] = e;
        s->n++;
    }
    e->from = from;
    e->exact = exact;
    e->deadline_ms = deadline_ms;
    return e;
}

void ed_mqtt_session_index_del(ed_mqtt_sessions *s, const char *id, size_t len)
{
    if (!s->n_buckets) return;
    struct sent **pp = slot(s, id, len, hash_of(id, len));
    struct sent *e = *pp;
    if (!e) return;
    *pp = e->next;
    ed_free(e);
    s->n--;
}

int64_t ed_mqtt_session_deadline_of(int64_t from_ms, uint32_t expiry_s)
{
    return from_ms + (int64_t)expiry_s * 1000;
}
