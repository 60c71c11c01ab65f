/* The Kafka API dispatch table: {min, max, flex_from, handler, name} per API
 * key. The versions come from the message schema's API list
 * (tools/kafka-schema/gen.py, generated into core/kafka/msg_gen.h), which
 * also drives ApiVersions; a NULL handler is not advertised. Version ranges
 * follow docs/kafka-notes.md (keep minimums low for librdkafka). */
#include "core/kafka/msg_gen.h"
#include "core/kapi.h"
#include "core/kapi_handlers.h"

const struct ed_kapi_entry ed_kapi_table[ED_KAPI_N_KEYS] = {
    [ED_KMSG_PRODUCE] = {ED_KMSG_SERVES_PRODUCE, ed_kapi_produce, "Produce"},
    [ED_KMSG_FETCH] = {ED_KMSG_SERVES_FETCH, ed_kapi_fetch, "Fetch"},
    [ED_KMSG_LIST_OFFSETS] = {ED_KMSG_SERVES_LIST_OFFSETS, ed_kapi_list_offsets, "ListOffsets"},
    [ED_KMSG_METADATA] = {ED_KMSG_SERVES_METADATA, ed_kapi_metadata, "Metadata"},
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
    [ED_KMSG_SASL_HANDSHAKE] = {ED_KMSG_SERVES_SASL_HANDSHAKE, ed_kapi_sasl_handshake,
                                "SaslHandshake"},
    [ED_KMSG_API_VERSIONS] = {ED_KMSG_SERVES_API_VERSIONS, ed_kapi_api_versions, "ApiVersions"},
    [ED_KMSG_CREATE_TOPICS] = {ED_KMSG_SERVES_CREATE_TOPICS, ed_kapi_create_topics, "CreateTopics"},
    [ED_KMSG_DELETE_TOPICS] = {ED_KMSG_SERVES_DELETE_TOPICS, ed_kapi_delete_topics, "DeleteTopics"},
    [ED_KMSG_INIT_PRODUCER_ID] = {ED_KMSG_SERVES_INIT_PRODUCER_ID, ed_kapi_init_producer_id,
                                  "InitProducerId"},
    [ED_KMSG_OFFSET_FOR_LEADER_EPOCH] = {ED_KMSG_SERVES_OFFSET_FOR_LEADER_EPOCH,
                                         ed_kapi_offset_for_leader_epoch, "OffsetForLeaderEpoch"},
    [ED_KMSG_DESCRIBE_CONFIGS] = {ED_KMSG_SERVES_DESCRIBE_CONFIGS, ed_kapi_describe_configs,
                                  "DescribeConfigs"},
    [ED_KMSG_ALTER_CONFIGS] = {ED_KMSG_SERVES_ALTER_CONFIGS, ed_kapi_alter_configs, "AlterConfigs"},
    [ED_KMSG_SASL_AUTHENTICATE] = {ED_KMSG_SERVES_SASL_AUTHENTICATE, ed_kapi_sasl_authenticate,
                                   "SaslAuthenticate"},
    [ED_KMSG_CREATE_PARTITIONS] = {ED_KMSG_SERVES_CREATE_PARTITIONS, ed_kapi_create_partitions,
                                   "CreatePartitions"},
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
                                  "DescribeCluster"},
};
