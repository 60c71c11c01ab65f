/* The broker: the context every request handler works in. It owns the event
 * loop, the storage, the topic registry, the idempotent-producer state and
 * the group coordinator, and starts/stops the listeners. */
#ifndef ED_CORE_BROKER_H
#define ED_CORE_BROKER_H

#include "platform/net.h"
#include "storage/log.h"
#include "core/conn.h"
#include "core/config.h"
#include "core/topics.h"

typedef struct ed_broker ed_broker;
typedef struct ed_groups ed_groups;
typedef struct ed_pids ed_pids;

struct ed_broker {
    ed_loop *loop;
    ed_storage *storage;
    ed_topics *topics;
    ed_groups *groups; /* consumer-group coordinator (NULL until built) */
    ed_pids *pids;     /* producer-id allocator (core/pidstate.h) */
    const struct ed_config *cfg;
    ed_conn_budget *budget; /* queued.max.request.bytes, shared by every listener (NULL: none) */
    int32_t node_id;        /* node.id / broker.id */
    char cluster_id[23];    /* base64 UUID, persisted in the data dir */
    char adv_host[256];     /* advertised host for Metadata */
    uint16_t adv_port;
};

#endif
