/* Where a bridged record lands (MQTT publishes, CoAP requests): the Kafka
 * topic of a name the bridge's routes chose, found or auto-created
 * (auto.create.topics.enable), never an internal topic, and written only
 * with the principal's WRITE permission on it (the ACLs). The partition is
 * the bridge's choice (Kafka's partitioner on the key, core/partitioner.h). */
#ifndef ED_BRIDGE_TARGET_H
#define ED_BRIDGE_TARGET_H

#include "core/broker.h"

/* The topic named name for a record from user (NULL: User:ANONYMOUS) at
 * peer ("host:port"): ED_OK with *out, or with *why (static text):
 * ED_ERR_PERM not authorized, ED_ERR_NOENT no such topic and
 * auto-creation off, ED_ERR_INVAL a name Kafka does not allow or an
 * internal topic, ED_ERR_TOOBIG the broker's topic or partition limit,
 * another error when it could not be created. */
int ed_target_topic(ed_broker *b, const char *user, const char *peer, const char *name,
                    ed_topic **out, const char **why);

#endif
