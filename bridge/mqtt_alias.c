/* MQTT 5 topic aliases from a client (see mqtt_alias.h): a table indexed
 * by alias number, each entry a copy of its topic name. */
#include "bridge/mqtt_alias.h"
#include "platform/mem.h"

#include <string.h>

struct alias {
    uint8_t *topic; /* NULL: not set */
    uint16_t len;
};

struct ed_mqtt_aliases {
    uint32_t cap; /* entries allocated: aliases 1..cap */
    uint32_t n_set;
    struct alias *e;
};

uint32_t ed_mqtt_alias_count(const ed_mqtt_aliases *tab)
{
    return tab ? tab->n_set : 0;
}

void ed_mqtt_alias_free(ed_mqtt_aliases *tab)
{
    if (!tab) return;
    for (uint32_t i = 0; i < tab->cap; i++)
        ed_free(tab->e[i].topic);
    ed_free(tab->e);
    ed_free(tab);
}

/* Room for alias a (1..max): the table grows by doubling, never past max. */
static struct alias *slot(ed_mqtt_aliases **tab, uint16_t max, uint16_t a)
{
    if (!*tab) {
        *tab = ed_calloc(1, sizeof **tab);
        if (!*tab) return NULL;
    }
    ed_mqtt_aliases *t = *tab;
    if (a > t->cap) {
        uint32_t cap = t->cap ? t->cap : 16;
        while (cap < a)
            cap *= 2;
        if (cap > max) cap = max;
        struct alias *e = ed_realloc(t->e, cap * sizeof *e);
        if (!e) return NULL;
        memset(e + t->cap, 0, (cap - t->cap) * sizeof *e);
        t->e = e;
        t->cap = cap;
    }
    return &t->e[a - 1];
}

/* pk->props without the Topic Alias property: the block shrinks in place
 * when the property is first or last, else is copied into *scratch. */
static int strip_alias(struct ed_mqtt_publish *pk, uint8_t **scratch)
{
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    ed_mqtt_prop_iter_init(&it, pk->props);
    const uint8_t *start = pk->props.p, *end = pk->props.p + pk->props.len;
    for (const uint8_t *at = it.p; ed_mqtt_prop_next(&it, &pr); at = it.p) {
        if (pr.id != ED_MQTT_PROP_TOPIC_ALIAS) continue;
        size_t n = (size_t)(it.p - at);
        if (at == start) {
            pk->props.p = it.p;
        } else if (it.p != end) {
            uint8_t *b = ed_malloc(pk->props.len - n);
            if (!b) return ED_ERR_NOMEM;
            memcpy(b, start, (size_t)(at - start));
            memcpy(b + (at - start), it.p, (size_t)(end - it.p));
            *scratch = b;
            pk->props.p = b;
        }
        pk->props.len -= n;
        return ED_OK;
    }
    return ED_OK;
}

int ed_mqtt_alias_resolve(ed_mqtt_aliases **tab, uint16_t max, struct ed_mqtt_publish *pk,
                          uint8_t **scratch, const char **why)
{
    *scratch = NULL;
    if (!pk->has_topic_alias) return ED_OK;
    uint16_t a = pk->topic_alias;
    if (a == 0 || a > max) {
        *why = max == 0 ? "topic alias used (Topic Alias Maximum is 0)"
               : a == 0 ? "topic alias 0"
                        : "topic alias above the Topic Alias Maximum";
        return ED_MQTT_RC_TOPIC_ALIAS_INVALID;
    }
    if (pk->topic.len == 0) {
        const struct alias *e = *tab && a <= (*tab)->cap ? &(*tab)->e[a - 1] : NULL;
        if (!e || !e->topic) {
            *why = "empty topic with a topic alias that was never set";
            return ED_MQTT_RC_PROTOCOL_ERROR;
        }
        pk->topic.p = e->topic;
        pk->topic.len = e->len;
    } else {
        struct alias *e = slot(tab, max, a);
        uint8_t *t = e ? ed_malloc(pk->topic.len) : NULL;
        if (!t) {
            *why = "out of memory for a topic alias";
            return ED_MQTT_RC_UNSPECIFIED;
        }
        memcpy(t, pk->topic.p, pk->topic.len);
        if (e->topic)
            ed_free(e->topic);
        else
            (*tab)->n_set++;
        e->topic = t;
        e->len = (uint16_t)pk->topic.len;
        pk->topic.p = t;
    }
    if (strip_alias(pk, scratch) != ED_OK) {
        *why = "out of memory for a topic alias";
        return ED_MQTT_RC_UNSPECIFIED;
    }
    return ED_OK;
}
