/* The Kafka API dispatch table: {min, max, flex_from, handler, name} per API
 * key. ApiVersions is generated from it; a NULL handler is not advertised.
 * Version ranges follow docs/kafka-notes.md (keep minimums low for librdkafka). */
#include "core/kapi.h"
#include "core/kapi_handlers.h"

const struct ed_kapi_entry ed_kapi_table[ED_KAPI_N_KEYS] = {
    [ED_KAPI_PRODUCE] = {0, 11, 9, ed_kapi_produce, "Produce"},
    [ED_KAPI_FETCH] = {4, 17, 12, ed_kapi_fetch, "Fetch"},
    [ED_KAPI_LIST_OFFSETS] = {0, 7, 6, ed_kapi_list_offsets, "ListOffsets"},
    [ED_KAPI_METADATA] = {0, 12, 9, ed_kapi_metadata, "Metadata"},
    [8] = {0, 9, 8, ed_kapi_offset_commit, "OffsetCommit"},
    [9] = {0, 9, 6, ed_kapi_offset_fetch, "OffsetFetch"},
    [10] = {0, 4, 3, ed_kapi_find_coordinator, "FindCoordinator"},
    [11] = {0, 9, 6, ed_kapi_join_group, "JoinGroup"},
    [12] = {0, 4, 4, ed_kapi_heartbeat, "Heartbeat"},
    [13] = {0, 5, 4, ed_kapi_leave_group, "LeaveGroup"},
    [14] = {0, 5, 4, ed_kapi_sync_group, "SyncGroup"},
    [15] = {0, 5, 5, ed_kapi_describe_groups, "DescribeGroups"},
    [16] = {0, 5, 3, ed_kapi_list_groups, "ListGroups"},
    [ED_KAPI_API_VERSIONS] = {0, 4, 3, ed_kapi_api_versions, "ApiVersions"},
    [ED_KAPI_CREATE_TOPICS] = {0, 7, 5, ed_kapi_create_topics, "CreateTopics"},
    [20] = {0, 6, 4, ed_kapi_delete_topics, "DeleteTopics"},
    [ED_KAPI_INIT_PRODUCER_ID] = {0, 5, 2, ed_kapi_init_producer_id, "InitProducerId"},
    [23] = {0, 4, 4, ed_kapi_offset_for_leader_epoch, "OffsetForLeaderEpoch"},
    [32] = {0, 4, 4, ed_kapi_describe_configs, "DescribeConfigs"},
    [33] = {0, 2, 2, ed_kapi_alter_configs, "AlterConfigs"},
    [37] = {0, 3, 2, ed_kapi_create_partitions, "CreatePartitions"},
    [42] = {0, 2, 2, ed_kapi_delete_groups, "DeleteGroups"},
    [44] = {0, 1, 1, ed_kapi_incremental_alter_configs, "IncrementalAlterConfigs"},
    [47] = {0, 0, -1, ed_kapi_offset_delete, "OffsetDelete"},
    [60] = {0, 1, 0, ed_kapi_describe_cluster, "DescribeCluster"},
};
