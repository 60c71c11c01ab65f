/* The Kafka topic a bridged record lands in (see target.h). */
#define ED_LOG_MODULE "bridge"
#include "bridge/target.h"
#include "core/acl.h"
#include "core/topics.h"
#include "platform/log.h"

#include <string.h>

int ed_target_topic(ed_broker *b, const char *user, const char *peer, const char *name,
                    ed_topic **out, const char **why)
{
    *out = NULL;
    if (!ed_acl_authorize_user(b->acl, user, peer, ED_ACL_OP_WRITE, ED_ACL_RES_TOPIC, name,
                               strlen(name))) {
        *why = "not authorized: no WRITE on the Kafka topic";
        return ED_ERR_PERM;
    }
    ed_topic *topic = ed_topics_find(b->topics, name);
    if (!topic) {
        int rc = ed_topics_auto_create(b->topics, name, &topic);
        if (rc == ED_ERR_EXIST) topic = ed_topics_find(b->topics, name);
        if (!topic) {
            *why = rc == ED_ERR_NOENT    ? "Kafka topic does not exist and "
                                           "auto.create.topics.enable is off"
                   : rc == ED_ERR_INVAL  ? "Kafka topic name is not valid"
                   : rc == ED_ERR_TOOBIG ? "Kafka topic not created: the broker's topic or "
                                           "partition limit is reached"
                   : rc == ED_ERR_EXIST  ? "a Kafka topic of that name is still being deleted"
                                         : "Kafka topic could not be created";
            return rc == ED_OK ? ED_ERR_IO : rc == ED_ERR_EXIST ? ED_ERR_BUSY : rc;
        }
        ED_LOG_DBG("created topic %s (%d partition%s)", name, (int)ed_topic_n_partitions(topic),
                   ed_topic_n_partitions(topic) == 1 ? "" : "s");
    }
    if (ed_topic_is_internal(topic)) {
        *why = "cannot write to an internal topic";
        return ED_ERR_INVAL;
    }
    if (ed_topic_n_partitions(topic) < 1) {
        *why = "topic has no partitions";
        return ED_ERR_IO;
    }
    *out = topic;
    return ED_OK;
}
