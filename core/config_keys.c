/* The one table of config keys: every broker and topic key with its scope,
 * type, bounds, default, Kafka synonym, documentation and the typed field
 * it fills, and the lookup of a key by name. The rows of each area are in
 * a file of their own, included here at their place in --help order:
 * config_keys_security.inc (listener security, TLS, SASL, ACLs),
 * config_keys_log.inc (the partition log), config_keys_mqtt.inc,
 * config_keys_coap.inc, config_keys_http.inc, config_keys_mirror.inc and
 * config_keys_topic.inc (topic keys without a broker key); the broker's own
 * rows (listeners, topics and connections, groups, the disk guard, memory
 * and logging) are inline. The Kafka keys Eddy knowingly ignores are in
 * core/config_ignored.c, the MQTT pull bridges' keys in core/config_bridge.c.
 *
 * Adding a key: one row in its area (designated initializers, any order of
 * fields) and, for a broker key, one field in struct ed_config
 * (core/config.h) named after the key with '_' for '.'; read it as
 * cfg->that_field. A topic key that changes a partition's behaviour also
 * names the ed_log_config field it fills (enum ed_topic_field and
 * apply_value in core/topic_config.c). docs/operations.md lists every key
 * (tests/unit/test_config.c checks it). */
#include "core/config.h"
#include "core/config_int.h"

#include <stddef.h>
#include <string.h>

#define KB   1024LL
#define MB   (1024LL * 1024)
#define I32  2147483647LL
#define I64  INT64_MAX
#define B(f) ((int)offsetof(struct ed_config, f))

/* Broker keys first (--help order), then topic keys without a broker key.
 * Sizes and times follow Kafka's units (bytes, ms); edge defaults differ
 * from Kafka's where a gateway needs it, and say so. */
const struct ed_config_key ed_config_keys[] = {
    {.name = "listeners",
     .type = ED_CFG_STRING,
     .def = "PLAINTEXT://127.0.0.1:9092",
     .check = ed_config_check_listeners,
     .off = B(listeners),
     .doc = "Kafka listeners, NAME://host:port,... (empty host = all interfaces; port 0 = one "
            "the OS picks, see --port-file). NAME is the security protocol (PLAINTEXT, SSL, "
            "SASL_PLAINTEXT, SASL_SSL) or mapped to one by listener.security.protocol.map; a "
            "CONTROLLER listener is skipped. The default serves this machine only"},
    {.name = "advertised.listeners",
     .type = ED_CFG_STRING,
     .def = "",
     .check = ed_config_check_advertised,
     .off = B(advertised_listeners),
     .doc = "addresses given to clients in Metadata; empty = derived from listeners (0.0.0.0 "
            "becomes this machine's host name, or 127.0.0.1 if it does not resolve); port 0 = "
            "the port the listener of that name bound"},
#include "core/config_keys_security.inc"
    /* ---- the broker: data directory, topics, requests and connections ---- */
    {.name = "log.dirs",
     .alias = "log.dir",
     .type = ED_CFG_STRING,
     .def = "./eddy-data",
     .check = ed_config_check_dirs,
     .off = B(log_dirs),
     .doc = "the data directory (one); alias log.dir"},
    {.name = "node.id",
     .alias = "broker.id",
     .type = ED_CFG_INT,
     .min = 0,
     .max = I32,
     .def = "1",
     .off = B(node_id),
     .doc = "this broker's id (alias broker.id); kept in meta.properties"},
    {.name = "num.partitions",
     .type = ED_CFG_INT,
     .min = 1,
     .max = 100000,
     .def = "1",
     .off = B(num_partitions),
     .doc = "partitions of auto-created topics"},
    {.name = "default.replication.factor",
     .type = ED_CFG_INT,
     .min = 1,
     .max = 1,
     .def = "1",
     .off = B(default_replication_factor),
     .doc = "Eddy is a single node: only 1"},
    {.name = "auto.create.topics.enable",
     .type = ED_CFG_BOOL,
     .def = "true",
     .off = B(auto_create_topics_enable),
     .doc = "create unknown topics named in Metadata requests"},
    {.name = "delete.topic.enable",
     .type = ED_CFG_BOOL,
     .def = "true",
     .off = B(delete_topic_enable),
     .doc = "allow DeleteTopics"},
    {.name = "eddy.max.topics",
     .type = ED_CFG_INT,
     .min = 1,
     .max = 100000,
     .def = "1000",
     .off = B(eddy_max_topics),
     .doc = "Eddy: most topics the broker holds; CreateTopics beyond it answers POLICY_VIOLATION, "
            "auto-creation (Metadata, MQTT) fails"},
    {.name = "eddy.max.partitions",
     .type = ED_CFG_INT,
     .min = 1,
     .max = 100000,
     .def = "1000",
     .off = B(eddy_max_partitions),
     .doc = "Eddy: most partitions of all topics together (each holds open files and memory); "
            "CreateTopics/CreatePartitions beyond it answer POLICY_VIOLATION, auto-creation fails"},
    {.name = "eddy.max.open.segments",
     .type = ED_CFG_INT,
     .min = 16,
     .max = 1000000,
     .def = "2000",
     .off = B(eddy_max_open_segments),
     .doc =
         "Eddy: soft bound on segments whose files are open (up to 3 descriptors each: .log, "
         ".index, .timeindex); beyond it the least recently used idle sealed segments are closed "
         "and reopened on use. Active segments and segments being read stay open"},
    {.name = "eddy.max.partitions.per.request",
     .type = ED_CFG_INT,
     .min = 1,
     .max = 100000,
     .def = "500",
     .off = B(eddy_max_partitions_per_request),
     .doc =
         "Eddy: most partitions one CreateTopics or CreatePartitions request may add (bounds the "
         "time one request holds the broker); more answer INVALID_PARTITIONS"},
    {.name = "message.max.bytes",
     .topic = "max.message.bytes",
     .type = ED_CFG_INT,
     .min = 64,
     .max = I32,
     .tmin = 0,
     .tmax = I32,
     .def = "1048588",
     .off = B(message_max_bytes),
     .tfield = ED_TF_MAX_MESSAGE,
     .doc = "largest record batch accepted (topic: max.message.bytes)",
     .tdoc = "Largest record batch accepted for this topic."},
    {.name = "socket.request.max.bytes",
     .type = ED_CFG_INT,
     .min = 1 * KB,
     .max = I32,
     .def = "16777216",
     .off = B(socket_request_max_bytes),
     .doc = "largest request frame; bigger frames close the connection (Kafka: 100 MiB; "
            "Eddy: 16 MiB to bound memory on small boards)"},
    {.name = "max.connections",
     .alias = "connections.max",
     .type = ED_CFG_INT,
     .min = 1,
     .max = 1000000,
     .def = "512",
     .off = B(max_connections),
     .doc = "client connections served at once; more are closed at accept (alias connections.max)"},
    {.name = "connections.max.idle.ms",
     .type = ED_CFG_INT,
     .min = 0,
     .max = I64,
     .def = "600000",
     .off = B(connections_max_idle_ms),
     .doc = "close connections idle this long (0 = never)"},
    {.name = "max.connections.per.ip",
     .type = ED_CFG_INT,
     .min = 0,
     .max = 1000000,
     .def = "128",
     .off = B(max_connections_per_ip),
     .doc = "Kafka connections from one address (0 = no limit; Kafka: no limit; Eddy: 128 so one "
            "client cannot take every slot)"},
    {.name = "max.connections.per.ip.overrides",
     .type = ED_CFG_STRING,
     .def = "",
     .check = ed_config_check_overrides,
     .off = B(max_connections_per_ip_overrides),
     .doc = "per-address exceptions to max.connections.per.ip, host:count,..."},
    {.name = "socket.request.timeout.ms",
     .type = ED_CFG_INT,
     .min = 0,
     .max = I64,
     .def = "30000",
     .off = B(socket_request_timeout_ms),
     .doc = "Eddy: close a connection that has begun a request and not finished sending it within "
            "this time (0 = never); time Eddy itself holds a connection back does not count"},
    {.name = "queued.max.request.bytes",
     .type = ED_CFG_INT,
     .min = 0,
     .max = I64,
     .def = "67108864",
     .off = B(queued_max_request_bytes),
     .doc = "request bytes all connections (Kafka and MQTT) may hold while being read or served; "
            "past it reading pauses (0 = no limit; Kafka: no limit; Eddy: 64 MiB for small boards; "
            "a request larger than this is still taken when nothing else is held)"},
#include "core/config_keys_log.inc"
    /* ---- consumer groups and committed offsets ---- */
    {.name = "group.initial.rebalance.delay.ms",
     .type = ED_CFG_INT,
     .min = 0,
     .max = I32,
     .def = "3000",
     .off = B(group_initial_rebalance_delay_ms),
     .doc = "wait for more members before the first rebalance of a group"},
    {.name = "offsets.retention.minutes",
     .type = ED_CFG_INT,
     .min = 1,
     .max = I32,
     .def = "10080",
     .off = B(offsets_retention_minutes),
     .doc = "keep committed offsets of empty groups this long"},
    {.name = "offsets.retention.check.interval.ms",
     .type = ED_CFG_INT,
     .min = 1,
     .max = I64,
     .def = "600000",
     .off = B(offsets_retention_check_interval_ms),
     .doc = "how often expired committed offsets are looked for"},
    {.name = "offset.metadata.max.bytes",
     .type = ED_CFG_INT,
     .min = 0,
     .max = I32,
     .def = "4096",
     .off = B(offset_metadata_max_bytes),
     .doc = "largest metadata string of a committed offset"},
    {.name = "group.min.session.timeout.ms",
     .type = ED_CFG_INT,
     .min = 1,
     .max = I32,
     .def = "6000",
     .off = B(group_min_session_timeout_ms),
     .doc = "shortest session timeout a group member may ask for"},
    {.name = "group.max.session.timeout.ms",
     .type = ED_CFG_INT,
     .min = 1,
     .max = I32,
     .def = "1800000",
     .off = B(group_max_session_timeout_ms),
     .doc = "longest session timeout a group member may ask for"},
    {.name = "group.max.size",
     .type = ED_CFG_INT,
     .min = 1,
     .max = I32,
     .def = "2147483647",
     .off = B(group_max_size),
     .doc = "most members of one consumer group"},
    /* ---- the disk guard ---- */
    {.name = "log.dir.budget.bytes",
     .type = ED_CFG_INT,
     .min = 0,
     .max = I64,
     .def = "0",
     .off = B(log_dir_budget_bytes),
     .doc =
         "Eddy disk guard: most bytes all logs may take; at the limit log.dir.full.policy applies "
         "(0 = no limit)"},
    {.name = "log.dir.min.free.bytes",
     .type = ED_CFG_INT,
     .min = 0,
     .max = I64,
     .def = "67108864",
     .off = B(log_dir_min_free_bytes),
     .doc = "Eddy disk guard: free space to keep on the data file system; below it "
            "log.dir.full.policy applies (0 = off)"},
    {.name = "log.dir.full.policy",
     .type = ED_CFG_ENUM,
     .def = "refuse",
     .choices = "refuse,delete-oldest",
     .off = B(log_dir_full_policy),
     .doc =
         "Eddy disk guard, at log.dir.budget.bytes or log.dir.min.free.bytes: refuse new data "
         "(Kafka KAFKA_STORAGE_ERROR, retried by clients; MQTT 5 PUBACK 0x97) or delete the oldest "
         "closed segments of any partition, acknowledged or not (each range logged and counted)"},
#include "core/config_keys_mqtt.inc"
#include "core/config_keys_coap.inc"
#include "core/config_keys_http.inc"
#include "core/config_keys_mirror.inc"
    /* ---- the process: memory and logging ---- */
    {.name = "memory.max.bytes",
     .type = ED_CFG_INT,
     .min = 0,
     .max = I64,
     .def = "268435456",
     .off = B(memory_max_bytes),
     .doc = "Eddy: most heap memory the broker may hold (0 = no limit); past it requests fail "
            "with an out-of-memory error instead of the board running out"},
    {.name = "log.level",
     .type = ED_CFG_ENUM,
     .def = "info",
     .choices = "error,warn,info,debug",
     .off = B(log_level),
     .doc = "Eddy log level"},
#include "core/config_keys_topic.inc"
};
const int ed_config_n_keys = (int)ED_ARRAY_LEN(ed_config_keys);
_Static_assert(ED_ARRAY_LEN(ed_config_keys) <= ED_CONFIG_MAX_KEYS,
               "the config table outgrew ED_CONFIG_MAX_KEYS (core/config.h)");

const struct ed_config_key *ed_config_key_find(const char *name)
{
    for (int i = 0; i < ed_config_n_keys; i++) {
        const struct ed_config_key *k = &ed_config_keys[i];
        if (k->name && (strcmp(k->name, name) == 0 || (k->alias && strcmp(k->alias, name) == 0)))
            return k;
    }
    return NULL;
}

const struct ed_config_key *ed_config_topic_key_find(const char *topic)
{
    for (int i = 0; i < ed_config_n_keys; i++)
        if (ed_config_keys[i].topic && strcmp(ed_config_keys[i].topic, topic) == 0)
            return &ed_config_keys[i];
    return NULL;
}
