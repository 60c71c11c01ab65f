/* The Kafka API dispatch table: {min, max, flex_from, handler, name,
 * decoded} per API key, and the request's way through it: the body decoded
 * in full through the message schema before the handler runs, the response
 * encoded from its generated struct. The versions come from the message schema's API list
 * (tools/kafka-schema/gen.py, generated into core/kafka/msg_gen.h), which
 * also drives ApiVersions; a NULL handler is not advertised. Version ranges
 * follow docs/kafka-notes.md (keep minimums low for librdkafka). */
#define ED_LOG_MODULE "kapi"
#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_handlers.h"
#include "platform/log.h"

#include <stdint.h>
#include <string.h>

const struct ed_kapi_entry ed_kapi_table[ED_KAPI_N_KEYS] = {
    [ED_KMSG_PRODUCE] = {ED_KMSG_SERVES_PRODUCE, ed_kapi_produce, "Produce", true},
    [ED_KMSG_FETCH] = {ED_KMSG_SERVES_FETCH, ed_kapi_fetch, "Fetch", true},
    [ED_KMSG_LIST_OFFSETS] = {ED_KMSG_SERVES_LIST_OFFSETS, ed_kapi_list_offsets, "ListOffsets",
                              true},
    [ED_KMSG_METADATA] = {ED_KMSG_SERVES_METADATA, ed_kapi_metadata, "Metadata", true},
    [ED_KMSG_OFFSET_COMMIT] = {ED_KMSG_SERVES_OFFSET_COMMIT, ed_kapi_offset_commit, "OffsetCommit"},
    [ED_KMSG_OFFSET_FETCH] = {ED_KMSG_SERVES_OFFSET_FETCH, ed_kapi_offset_fetch, "OffsetFetch"},
    [ED_KMSG_FIND_COORDINATOR] = {ED_KMSG_SERVES_FIND_COORDINATOR, ed_kapi_find_coordinator,
                                  "FindCoordinator"},
    [ED_KMSG_JOIN_GROUP] = {ED_KMSG_SERVES_JOIN_GROUP, ed_kapi_join_group, "JoinGroup"},
    [ED_KMSG_HEARTBEAT] = {ED_KMSG_SERVES_HEARTBEAT, ed_kapi_heartbeat, "Heartbeat"},
    [ED_KMSG_LEAVE_GROUP] = {ED_KMSG_SERVES_LEAVE_GROUP, ed_kapi_leave_group, "LeaveGroup"},
    [ED_KMSG_SYNC_GROUP] = {ED_KMSG_SERVES_SYNC_GROUP, ed_kapi_sync_group, "SyncGroup"},
    [ED_KMSG_DESCRIBE_GROUPS] = {ED_KMSG_SERVES_DESCRIBE_GROUPS, ed_kapi_describe_groups,
                                 "DescribeGroups"},
    [ED_KMSG_LIST_GROUPS] = {ED_KMSG_SERVES_LIST_GROUPS, ed_kapi_list_groups, "ListGroups"},
    [ED_KMSG_API_VERSIONS] = {ED_KMSG_SERVES_API_VERSIONS, ed_kapi_api_versions, "ApiVersions",
                              true},
    [ED_KMSG_CREATE_TOPICS] = {ED_KMSG_SERVES_CREATE_TOPICS, ed_kapi_create_topics, "CreateTopics",
                               true},
    [ED_KMSG_DELETE_TOPICS] = {ED_KMSG_SERVES_DELETE_TOPICS, ed_kapi_delete_topics, "DeleteTopics",
                               true},
    [ED_KMSG_SASL_HANDSHAKE] = {ED_KMSG_SERVES_SASL_HANDSHAKE, ed_kapi_sasl_handshake,
                                "SaslHandshake"},
    [ED_KMSG_INIT_PRODUCER_ID] = {ED_KMSG_SERVES_INIT_PRODUCER_ID, ed_kapi_init_producer_id,
                                  "InitProducerId", true},
    [ED_KMSG_OFFSET_FOR_LEADER_EPOCH] = {ED_KMSG_SERVES_OFFSET_FOR_LEADER_EPOCH,
                                         ed_kapi_offset_for_leader_epoch, "OffsetForLeaderEpoch",
                                         true},
    [ED_KMSG_DESCRIBE_ACLS] = {ED_KMSG_SERVES_DESCRIBE_ACLS, ed_kapi_describe_acls, "DescribeAcls",
                               true},
    [ED_KMSG_CREATE_ACLS] = {ED_KMSG_SERVES_CREATE_ACLS, ed_kapi_create_acls, "CreateAcls", true},
    [ED_KMSG_DELETE_ACLS] = {ED_KMSG_SERVES_DELETE_ACLS, ed_kapi_delete_acls, "DeleteAcls", true},
    [ED_KMSG_DESCRIBE_CONFIGS] = {ED_KMSG_SERVES_DESCRIBE_CONFIGS, ed_kapi_describe_configs,
                                  "DescribeConfigs"},
    [ED_KMSG_ALTER_CONFIGS] = {ED_KMSG_SERVES_ALTER_CONFIGS, ed_kapi_alter_configs, "AlterConfigs"},
    [ED_KMSG_SASL_AUTHENTICATE] = {ED_KMSG_SERVES_SASL_AUTHENTICATE, ed_kapi_sasl_authenticate,
                                   "SaslAuthenticate"},
    [ED_KMSG_CREATE_PARTITIONS] = {ED_KMSG_SERVES_CREATE_PARTITIONS, ed_kapi_create_partitions,
                                   "CreatePartitions", true},
    [ED_KMSG_DELETE_GROUPS] = {ED_KMSG_SERVES_DELETE_GROUPS, ed_kapi_delete_groups, "DeleteGroups"},
    [ED_KMSG_INCREMENTAL_ALTER_CONFIGS] = {ED_KMSG_SERVES_INCREMENTAL_ALTER_CONFIGS,
                                           ed_kapi_incremental_alter_configs,
                                           "IncrementalAlterConfigs"},
    [ED_KMSG_OFFSET_DELETE] = {ED_KMSG_SERVES_OFFSET_DELETE, ed_kapi_offset_delete, "OffsetDelete"},
    [ED_KMSG_DESCRIBE_CLIENT_QUOTAS] = {ED_KMSG_SERVES_DESCRIBE_CLIENT_QUOTAS,
                                        ed_kapi_describe_client_quotas, "DescribeClientQuotas"},
    [ED_KMSG_DESCRIBE_USER_SCRAM_CREDENTIALS] = {ED_KMSG_SERVES_DESCRIBE_USER_SCRAM_CREDENTIALS,
                                                 ed_kapi_describe_user_scram_credentials,
                                                 "DescribeUserScramCredentials"},
    [ED_KMSG_ALTER_USER_SCRAM_CREDENTIALS] = {ED_KMSG_SERVES_ALTER_USER_SCRAM_CREDENTIALS,
                                              ed_kapi_alter_user_scram_credentials,
                                              "AlterUserScramCredentials"},
    [ED_KMSG_DESCRIBE_CLUSTER] = {ED_KMSG_SERVES_DESCRIBE_CLUSTER, ed_kapi_describe_cluster,
                                  "DescribeCluster", true},
};

int ed_kapi_serve(ed_kreq *req)
{
    const struct ed_kapi_entry *e = &ed_kapi_table[req->api_key];
    req->api = ed_kschema_api(req->api_key);
    if (!e->decoded || !req->api || req->api_version < e->min_version ||
        req->api_version > e->max_version)
        return e->fn(req);
    size_t len = ed_krd_left(&req->rd);
    size_t bound = len <= (SIZE_MAX - 4096) / ED_KAPI_DECODE_FACTOR
                       ? 4096 + len * ED_KAPI_DECODE_FACTOR
                       : SIZE_MAX;
    ed_karena_init_heap(&req->arena, bound);
    req->body = ed_karena_alloc(&req->arena, req->api->request->size);
    if (!req->body) return ED_KAPI_CLOSE;
    ed_krd rd = req->rd;
    int rc = ed_kschema_decode_request(req->api, req->api_version, &rd, &req->arena, req->body);
    if (rc != ED_OK) {
        ED_LOG_DBG("%s: malformed %s v%d request: %s", req->peer, e->name, req->api_version,
                   ed_strerror(rc));
        return ED_KAPI_CLOSE;
    }
    /* The response's arrays come from the same arena. */
    req->arena.limit =
        bound > SIZE_MAX - ED_KAPI_RESPONSE_MAX ? SIZE_MAX : bound + ED_KAPI_RESPONSE_MAX;
    return e->fn(req);
}

void ed_kreq_release(ed_kreq *req)
{
    ed_karena_free(&req->arena);
    req->body = NULL;
}

bool ed_kreq_array(ed_kreq *req, int32_t n, const struct ed_kstruct *s, int32_t *n_out,
                   void *arr_out)
{
    uint8_t *p = NULL;
    *n_out = n;
    if (n > 0) {
        if ((size_t)n <= SIZE_MAX / s->size) p = ed_karena_alloc(&req->arena, (size_t)n * s->size);
        if (!p) {
            if (req->out.err == ED_OK) req->out.err = ED_ERR_NOMEM;
            *n_out = 0;
            memcpy(arr_out, &p, sizeof p);
            return false;
        }
        for (int32_t i = 0; i < n; i++)
            ed_kschema_init(s, p + (size_t)i * s->size);
    }
    memcpy(arr_out, &p, sizeof p);
    return true;
}

ed_kstr ed_kreq_str(ed_kreq *req, const char *z)
{
    size_t len = strlen(z);
    char *p = ed_karena_alloc(&req->arena, len + 1);
    if (!p) {
        if (req->out.err == ED_OK) req->out.err = ED_ERR_NOMEM;
        return (ed_kstr){NULL, -1};
    }
    memcpy(p, z, len);
    return (ed_kstr){p, (int32_t)len};
}

void ed_kreq_respond(ed_kreq *req, const void *resp)
{
    ed_kreq_respond_spliced(req, resp, NULL);
}

void ed_kreq_respond_spliced(ed_kreq *req, const void *resp, const struct ed_ksplicer *sp)
{
    ed_kschema_encode_spliced(req->api->response, req->api_version,
                              ed_kschema_flexible(req->api, req->api_version), &req->out, resp, sp);
}
