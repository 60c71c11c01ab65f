/* The position of a durable MQTT share group in one partition
 * (mqtt_group.h): what was read, what is in flight to which member, and
 * the lowest unacknowledged offset that follows from them. */
#include "bridge/mqtt_group.h"
#include "platform/mem.h"

int64_t ed_mqtt_gpos_position(const struct ed_mqtt_gpos *g)
{
    int64_t at = g->read;
    for (uint32_t i = 0; i < g->n_fly; i++)
        at = ED_MIN(at, g->fly[i].offset);
    return at;
}

void ed_mqtt_gpos_skip(struct ed_mqtt_gpos *g, int64_t offset)
{
    g->read = ED_MAX(g->read, offset + 1);
}

int ed_mqtt_gpos_sent(struct ed_mqtt_gpos *g, int64_t offset, const void *to, uint16_t id)
{
    for (uint32_t i = 0; i < g->n_fly; i++)
        if (g->fly[i].offset == offset) { /* sent again */
            g->fly[i].to = to;
            g->fly[i].id = id;
            return ED_OK;
        }
    if (g->n_fly >= ED_MQTT_GROUP_MAX_FLY) return ED_ERR_TOOBIG;
    if (g->n_fly == g->cap) {
        uint32_t cap = g->cap ? 2 * g->cap : 8;
        struct ed_mqtt_gfly *v = ed_realloc(g->fly, cap * sizeof *v);
        if (!v) return ED_ERR_NOMEM;
        g->fly = v;
        g->cap = cap;
    }
    g->fly[g->n_fly++] = (struct ed_mqtt_gfly){offset, to, id};
    ed_mqtt_gpos_skip(g, offset);
    return ED_OK;
}

/* The order of fly[] is kept (oldest first) so that deliveries going to
 * nobody are sent again in the order they were first sent. */
void ed_mqtt_gpos_done(struct ed_mqtt_gpos *g, uint32_t i)
{
    if (i >= g->n_fly) return;
    for (uint32_t j = i + 1; j < g->n_fly; j++)
        g->fly[j - 1] = g->fly[j];
    g->n_fly--;
}

uint32_t ed_mqtt_gpos_orphan(struct ed_mqtt_gpos *g, const void *to)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < g->n_fly; i++)
        if (to && g->fly[i].to == to) {
            g->fly[i].to = NULL;
            g->fly[i].id = 0;
            n++;
        }
    return n;
}

struct ed_mqtt_gfly *ed_mqtt_gpos_orphaned(struct ed_mqtt_gpos *g)
{
    struct ed_mqtt_gfly *best = NULL;
    for (uint32_t i = 0; i < g->n_fly; i++)
        if (!g->fly[i].to && (!best || g->fly[i].offset < best->offset)) best = &g->fly[i];
    return best;
}

uint64_t ed_mqtt_gpos_start_at(struct ed_mqtt_gpos *g, int64_t start)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < g->n_fly;)
        if (g->fly[i].offset < start) {
            ed_mqtt_gpos_done(g, i);
            n++;
        } else {
            i++;
        }
    if (g->read < start) {
        n += (uint64_t)(start - g->read);
        g->read = start;
    }
    return n;
}

void ed_mqtt_gpos_free(struct ed_mqtt_gpos *g)
{
    ed_free(g->fly);
    *g = (struct ed_mqtt_gpos){0};
}
