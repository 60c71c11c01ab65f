/* The broker's configuration table and its parser: defaults, validation,
 * server.properties loading, Kafka's precedence rules, and --help. */
#define ED_LOG_MODULE "config"
#include "core/config.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KB  1024LL
#define MB  (1024LL * 1024)
#define I32 2147483647LL
#define I64 INT64_MAX

typedef bool (*check_fn)(const char *v, char *why, size_t why_len);

struct row {
    const char *name;
    enum ed_config_type type;
    int64_t min, max;
    const char *def;     /* default, as text */
    const char *choices; /* ENUM: comma-separated */
    check_fn check;      /* STRING: optional validation */
    const char *doc;
};

static bool check_listeners(const char *v, char *why, size_t why_len);
static bool check_advertised(const char *v, char *why, size_t why_len);
static bool check_dirs(const char *v, char *why, size_t why_len);
static bool check_cleanup(const char *v, char *why, size_t why_len);
static bool check_mqtt_listeners(const char *v, char *why, size_t why_len);

/* host:count,... (max.connections.per.ip.overrides) */
static bool check_overrides(const char *v, char *why, size_t why_len)
{
    struct ed_config_host_limit l[ED_CONFIG_MAX_HOST_LIMITS];
    int n;
    return ed_config_host_limits(v, l, ED_CONFIG_MAX_HOST_LIMITS, &n, why, why_len) == ED_OK;
}
/* A build without MQTT (WITH_MQTT=0) has no listener by default and refuses
 * one in the config. */
#if ED_WITH_MQTT
#define ED_MQTT_DEFAULT_LISTENERS "mqtt://0.0.0.0:1883"
#else
#define ED_MQTT_DEFAULT_LISTENERS ""
#endif

/* Sizes and times follow Kafka's units (bytes, ms); edge defaults differ
 * from Kafka's where a gateway needs it, and say so. */
static const struct row rows[] = {
    {"listeners", ED_CFG_STRING, 0, 0, "PLAINTEXT://0.0.0.0:9092", NULL, check_listeners,
     "Kafka listeners, NAME://host:port,... (empty host = all interfaces; port 0 = one "
     "the OS picks, see --port-file). PLAINTEXT listeners are served; a CONTROLLER "
     "listener is skipped"},
    {"advertised.listeners", ED_CFG_STRING, 0, 0, "", NULL, check_advertised,
     "addresses given to clients in Metadata; empty = derived from listeners (0.0.0.0 "
     "becomes this machine's host name, or 127.0.0.1 if it does not resolve); port 0 = "
     "the port the listener of that name bound"},
    {"log.dirs", ED_CFG_STRING, 0, 0, "./eddy-data", NULL, check_dirs,
     "the data directory (one); alias log.dir"},
    {"node.id", ED_CFG_INT, 0, I32, "1", NULL, NULL,
     "this broker's id (alias broker.id); kept in meta.properties"},
    {"num.partitions", ED_CFG_INT, 1, 100000, "1", NULL, NULL, "partitions of auto-created topics"},
    {"default.replication.factor", ED_CFG_INT, 1, 1, "1", NULL, NULL,
     "Eddy is a single node: only 1"},
    {"auto.create.topics.enable", ED_CFG_BOOL, 0, 0, "true", NULL, NULL,
     "create unknown topics named in Metadata requests"},
    {"delete.topic.enable", ED_CFG_BOOL, 0, 0, "true", NULL, NULL, "allow DeleteTopics"},
    {"eddy.max.topics", ED_CFG_INT, 1, 100000, "1000", NULL, NULL,
     "Eddy: most topics the broker holds; CreateTopics beyond it answers POLICY_VIOLATION, "
     "auto-creation (Metadata, MQTT) fails"},
    {"eddy.max.partitions", ED_CFG_INT, 1, 100000, "1000", NULL, NULL,
     "Eddy: most partitions of all topics together (each holds open files and memory); "
     "CreateTopics/CreatePartitions beyond it answer POLICY_VIOLATION, auto-creation fails"},
    {"eddy.max.open.segments", ED_CFG_INT, 16, 1000000, "2000", NULL, NULL,
     "Eddy: soft bound on segments whose files are open (up to 3 descriptors each: .log, "
     ".index, .timeindex); beyond it the least recently used idle sealed segments are closed "
     "and reopened on use. Active segments and segments being read stay open"},
    {"eddy.max.partitions.per.request", ED_CFG_INT, 1, 100000, "500", NULL, NULL,
     "Eddy: most partitions one CreateTopics or CreatePartitions request may add (bounds the "
     "time one request holds the broker); more answer INVALID_PARTITIONS"},
    {"message.max.bytes", ED_CFG_INT, 64, I32, "1048588", NULL, NULL,
     "largest record batch accepted (topic: max.message.bytes)"},
    {"socket.request.max.bytes", ED_CFG_INT, 1 * KB, I32, "16777216", NULL, NULL,
     "largest request frame; bigger frames close the connection (Kafka: 100 MiB; "
     "Eddy: 16 MiB to bound memory on small boards)"},
    {"max.connections", ED_CFG_INT, 1, 1000000, "512", NULL, NULL,
     "client connections served at once; more are closed at accept (alias connections.max)"},
    {"connections.max.idle.ms", ED_CFG_INT, 0, I64, "600000", NULL, NULL,
     "close connections idle this long (0 = never)"},
    {"max.connections.per.ip", ED_CFG_INT, 0, 1000000, "128", NULL, NULL,
     "Kafka connections from one address (0 = no limit; Kafka: no limit; Eddy: 128 so one "
     "client cannot take every slot)"},
    {"max.connections.per.ip.overrides", ED_CFG_STRING, 0, 0, "", NULL, check_overrides,
     "per-address exceptions to max.connections.per.ip, host:count,..."},
    {"socket.request.timeout.ms", ED_CFG_INT, 0, I64, "30000", NULL, NULL,
     "Eddy: close a connection that has begun a request and not finished sending it within "
     "this time (0 = never); time Eddy itself holds a connection back does not count"},
    {"queued.max.request.bytes", ED_CFG_INT, 0, I64, "67108864", NULL, NULL,
     "request bytes all connections (Kafka and MQTT) may hold while being read or served; "
     "past it reading pauses (0 = no limit; Kafka: no limit; Eddy: 64 MiB for small boards; "
     "a request larger than this is still taken when nothing else is held)"},
    {"log.segment.bytes", ED_CFG_INT, 1 * KB, I32, "16777216", NULL, NULL,
     "segment file size before rolling (Kafka: 1 GiB; Eddy: 16 MiB so retention frees "
     "flash in small steps)"},
    {"log.roll.ms", ED_CFG_INT, 1, I64, "", NULL, NULL,
     "roll a segment this old (ms); unset = log.roll.hours"},
    {"log.roll.hours", ED_CFG_INT, 1, I32, "168", NULL, NULL, "roll a segment this old (hours)"},
    {"log.retention.ms", ED_CFG_INT, -1, I64, "", NULL, NULL,
     "delete segments older than this (ms, -1 = forever); wins over .minutes and .hours"},
    {"log.retention.minutes", ED_CFG_INT, -1, I32, "", NULL, NULL,
     "retention in minutes; wins over .hours"},
    {"log.retention.hours", ED_CFG_INT, -1, I32, "168", NULL, NULL, "retention in hours"},
    {"log.retention.bytes", ED_CFG_INT, -1, I64, "-1", NULL, NULL,
     "per-partition size limit (-1 = none)"},
    {"log.retention.check.interval.ms", ED_CFG_INT, 1, I64, "300000", NULL, NULL,
     "how often retention runs"},
    {"log.flush.offset.checkpoint.interval.ms", ED_CFG_INT, 1, I64, "60000", NULL, NULL,
     "how often the recovery points are written; a crash costs a check of what was "
     "flushed since"},
    {"log.flush.interval.ms", ED_CFG_INT, 0, I64, "1000", NULL, NULL,
     "longest time appended data may stay unflushed (acks=all always waits for the flush)"},
    {"log.flush.interval.messages", ED_CFG_INT, 1, I64, "9223372036854775807", NULL, NULL,
     "flush after this many messages (default: no count trigger)"},
    {"log.index.interval.bytes", ED_CFG_INT, 0, I32, "4096", NULL, NULL,
     "bytes between offset-index entries"},
    {"compression.type", ED_CFG_ENUM, 0, 0, "producer",
     "producer,uncompressed,none,gzip,snappy,lz4,zstd", NULL,
     "codec of batches Eddy builds (bridges); producers' batches are stored as sent"},
    {"log.cleanup.policy", ED_CFG_STRING, 0, 0, "delete", NULL, check_cleanup,
     "delete, compact, or delete,compact"},
    {"log.message.timestamp.type", ED_CFG_ENUM, 0, 0, "CreateTime", "CreateTime,LogAppendTime",
     NULL, "record timestamps: as sent, or stamped by the broker"},
    {"log.cleaner.delete.retention.ms", ED_CFG_INT, 0, I64, "86400000", NULL, NULL,
     "how long tombstones are kept in compacted topics (alias delete.retention.ms)"},
    {"group.initial.rebalance.delay.ms", ED_CFG_INT, 0, I32, "3000", NULL, NULL,
     "wait for more members before the first rebalance of a group"},
    {"offsets.retention.minutes", ED_CFG_INT, 1, I32, "10080", NULL, NULL,
     "keep committed offsets of empty groups this long"},
    {"offsets.retention.check.interval.ms", ED_CFG_INT, 1, I64, "600000", NULL, NULL,
     "how often expired committed offsets are looked for"},
    {"offset.metadata.max.bytes", ED_CFG_INT, 0, I32, "4096", NULL, NULL,
     "largest metadata string of a committed offset"},
    {"group.min.session.timeout.ms", ED_CFG_INT, 1, I32, "6000", NULL, NULL,
     "shortest session timeout a group member may ask for"},
    {"group.max.session.timeout.ms", ED_CFG_INT, 1, I32, "1800000", NULL, NULL,
     "longest session timeout a group member may ask for"},
    {"group.max.size", ED_CFG_INT, 1, I32, "2147483647", NULL, NULL,
     "most members of one consumer group"},
    {"log.dir.budget.bytes", ED_CFG_INT, 0, I64, "0", NULL, NULL,
     "Eddy disk guard: most bytes all logs may take; at the limit log.dir.full.policy applies "
     "(0 = no limit)"},
    {"log.dir.min.free.bytes", ED_CFG_INT, 0, I64, "67108864", NULL, NULL,
     "Eddy disk guard: free space to keep on the data file system; below it "
     "log.dir.full.policy applies (0 = off)"},
    {"log.dir.full.policy", ED_CFG_ENUM, 0, 0, "refuse", "refuse,delete-oldest", NULL,
     "Eddy disk guard, at log.dir.budget.bytes or log.dir.min.free.bytes: refuse new data "
     "(Kafka KAFKA_STORAGE_ERROR, retried by clients; MQTT 5 PUBACK 0x97) or delete the oldest "
     "closed segments of any partition, acknowledged or not (each range logged and counted)"},
    {"mqtt.listeners", ED_CFG_STRING, 0, 0, ED_MQTT_DEFAULT_LISTENERS, NULL, check_mqtt_listeners,
     "MQTT 3.1.1/5 listeners, mqtt://host:port,... (empty = no MQTT)"},
    {"mqtt.max.packet.bytes", ED_CFG_INT, 64, 268435455, "1048576", NULL, NULL,
     "largest MQTT packet accepted; bigger packets close the connection"},
    {"mqtt.max.connections", ED_CFG_INT, 1, 1000000, "1024", NULL, NULL,
     "MQTT connections served at once; more are closed at accept"},
    {"mqtt.max.inflight", ED_CFG_INT, 1, 65535, "64", NULL, NULL,
     "QoS 1/2 publishes of one connection awaiting their acknowledgement (MQTT 5 Receive "
     "Maximum); reading pauses at the limit. Also caps QoS 1/2 deliveries in flight to a "
     "subscriber"},
    {"mqtt.max.queued.messages", ED_CFG_INT, 0, 1000000, "1000", NULL, NULL,
     "QoS 1/2 deliveries held for one subscriber whose window (Receive Maximum, "
     "mqtt.max.inflight) is full; beyond this they are dropped, counted and logged"},
    {"mqtt.max.queued.bytes", ED_CFG_INT, 0, I32, "1048576", NULL, NULL,
     "bytes (topics, properties, payloads) of the deliveries held for one subscriber; "
     "beyond this they are dropped, counted and logged"},
    {"mqtt.routes", ED_CFG_STRING, 0, 0, "", NULL, NULL,
     "MQTT topic filter to Kafka topic routes, FILTER=>TOPIC;... (first match wins; "
     "unmatched topics map '/' to '.')"},
    {"mqtt.linger.ms", ED_CFG_INT, 0, 1000, "2", NULL, NULL,
     "how long publishes gather per partition before their batch is appended"},
    {"mqtt.batch.bytes", ED_CFG_INT, 1 * KB, 16 * MB, "65536", NULL, NULL,
     "a partition's gathered publishes are appended once they reach this size"},
    {"mqtt.connect.timeout.ms", ED_CFG_INT, 100, I32, "10000", NULL, NULL,
     "close connections that send no CONNECT within this time"},
    {"mqtt.max.connections.per.ip", ED_CFG_INT, 0, 1000000, "256", NULL, NULL,
     "MQTT connections from one address (0 = no limit)"},
    {"mqtt.max.connections.per.ip.overrides", ED_CFG_STRING, 0, 0, "", NULL, check_overrides,
     "per-address exceptions to mqtt.max.connections.per.ip, host:count,..."},
    {"mqtt.packet.timeout.ms", ED_CFG_INT, 0, I64, "30000", NULL, NULL,
     "close a connection that has begun a packet and not finished sending it within this "
     "time (0 = never)"},
    /* the upstream mirror (docs/mirror.md) */
    {"site.id", ED_CFG_STRING, 0, 0, "", NULL, NULL,
     "this site's name, unique across the fleet: names upstream topics, the mirror's "
     "transactional id and its checkpoints"},
    {"mirror.bootstrap.servers", ED_CFG_STRING, 0, 0, "", NULL, NULL,
     "upstream Apache Kafka brokers, host:port,... (empty = no mirror)"},
    {"mirror.topics", ED_CFG_STRING, 0, 0, "", NULL, NULL,
     "local topics to mirror, comma list; each a name or a regex of whole names"},
    {"mirror.topic.template", ED_CFG_STRING, 0, 0, "{site}.{topic}", NULL, NULL,
     "upstream topic name; {site} and {topic} are replaced"},
    {"mirror.create.topics", ED_CFG_BOOL, 0, 0, "true", NULL, NULL,
     "create missing upstream topics with the source's partition count (false = report "
     "and wait)"},
    {"mirror.checkpoint.topic", ED_CFG_STRING, 0, 0, "__eddy_mirror_checkpoints", NULL, NULL,
     "compacted upstream topic holding each source partition's resume point"},
    {"mirror.transaction.max.bytes", ED_CFG_INT, 1 * KB, 256 * MB, "4194304", NULL, NULL,
     "record bytes in one upstream transaction"},
    {"mirror.transaction.max.ms", ED_CFG_INT, 1000, 900000, "60000", NULL, NULL,
     "transaction timeout asked of the upstream coordinator (keep below its "
     "transaction.max.timeout.ms)"},
    {"mirror.linger.ms", ED_CFG_INT, 0, 60000, "100", NULL, NULL,
     "how long new local data waits to gather before a transaction starts"},
    {"mirror.batch.bytes", ED_CFG_INT, 1 * KB, 16 * MB, "1048576", NULL, NULL,
     "largest record batch sent upstream"},
    {"mirror.request.timeout.ms", ED_CFG_INT, 1000, I32, "30000", NULL, NULL,
     "no answer from upstream within this time = the link is dead: reconnect"},
    {"memory.max.bytes", ED_CFG_INT, 0, I64, "268435456", NULL, NULL,
     "Eddy: most heap memory the broker may hold (0 = no limit); past it requests fail "
     "with an out-of-memory error instead of the board running out"},
    {"log.level", ED_CFG_ENUM, 0, 0, "info", "error,warn,info,debug", NULL, "Eddy log level"},
};
#define N_ROWS ((int)ED_ARRAY_LEN(rows))

static const struct {
    const char *alias, *name;
} aliases[] = {
    {"broker.id", "node.id"},
    {"log.dir", "log.dirs"},
    {"connections.max", "max.connections"},
    {"delete.retention.ms", "log.cleaner.delete.retention.ms"},
};

/* Kafka settings Eddy accepts and does not use: exact names, then prefixes. */
static const char *const ignored[] = {
    "num.network.threads",
    "num.io.threads",
    "num.recovery.threads.per.data.dir",
    "num.replica.fetchers",
    "num.replica.alter.log.dirs.threads",
    "background.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "socket.listen.backlog.size",
    "queued.max.requests",
    "request.timeout.ms",
    "max.connection.creation.rate",
    "process.roles",
    "inter.broker.listener.name",
    "inter.broker.protocol.version",
    "listener.security.protocol.map",
    "log.message.format.version",
    "log.preallocate",
    "log.segment.delete.delay.ms",
    "log.flush.scheduler.interval.ms",
    "log.flush.offset.checkpoint.interval.ms",
    "log.flush.start.offset.checkpoint.interval.ms",
    "log.index.size.max.bytes",
    "log.roll.jitter.ms",
    "log.roll.jitter.hours",
    "log.local.retention.ms",
    "log.local.retention.bytes",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "auto.leader.rebalance.enable",
    "broker.rack",
    "reserved.broker.max.id",
    "broker.id.generation.enable",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "super.users",
    "authorizer.class.name",
    "allow.everyone.if.no.acl.found",
    "metric.reporters",
    "node.id.generation.enable",
};
static const char *const ignored_prefixes[] = {
    "zookeeper.",
    "controller.",
    "transaction.state.log.",
    "transaction.",
    "offsets.topic.",
    "offsets.commit.",
    "offsets.load.",
    "replica.",
    "share.coordinator.",
    "group.share.",
    "group.consumer.",
    "group.coordinator.",
    "leader.imbalance.",
    "log.cleaner.",
    "ssl.",
    "sasl.",
    "security.",
    "metrics.",
    "kafka.metrics.",
    "confluent.",
    "metadata.",
    "quota.",
    "remote.log.",
    "delegation.token.",
    "password.encoder.",
    "producer.id.",
    "connection.failed.",
    "fetch.",
    "kafka.",
    "unstable.",
    "early.start.listeners",
    "eligible.leader.",
    "initial.broker.",
    "server.",
    "client.quota.",
    "alter.",
    "create.topic.",
    "config.providers",
    "log.initial.task.",
};

struct val {
    int64_t i;
    char *s; /* STRING/ENUM, owned */
    bool set;
};

struct ed_config {
    struct val v[N_ROWS];
};

/* ---- parsing helpers ---- */

bool ed_config_parse_int(const char *s, int64_t *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s) return false;
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    if (*p < '0' || *p > '9') return false;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    /* Java longs may carry an L suffix in some hand-written files. */
    if ((*p == 'L' || *p == 'l') && p[1] == '\0') p++;
    if (*p) return false;
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static bool ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
        if (x != y) return false;
    }
    return *a == *b;
}

bool ed_config_parse_bool(const char *s, bool *out)
{
    if (ieq(s, "true"))
        *out = true;
    else if (ieq(s, "false"))
        *out = false;
    else
        return false;
    return true;
}

bool ed_config_parse_cleanup(const char *s, bool *compact, bool *delete_)
{
    bool c = false, d = false;
    const char *p = s;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t n = (size_t)(e - p);
        if (n == 6 && strncmp(p, "delete", 6) == 0)
            d = true;
        else if (n == 7 && strncmp(p, "compact", 7) == 0)
            c = true;
        else
            return false;
        while (*e == ' ')
            e++;
        if (!*e) break;
        if (*e != ',') return false;
        p = e + 1;
    }
    *compact = c;
    *delete_ = d;
    return true;
}

bool ed_config_parse_compression(const char *s, int *out)
{
    static const struct {
        const char *name;
        int c;
    } m[] = {{"producer", ED_COMPRESSION_NONE},     {"none", ED_COMPRESSION_NONE},
             {"uncompressed", ED_COMPRESSION_NONE}, {"gzip", ED_COMPRESSION_GZIP},
             {"snappy", ED_COMPRESSION_SNAPPY},     {"lz4", ED_COMPRESSION_LZ4},
             {"zstd", ED_COMPRESSION_ZSTD}};
    for (size_t i = 0; i < ED_ARRAY_LEN(m); i++)
        if (strcmp(s, m[i].name) == 0) {
            *out = m[i].c;
            return true;
        }
    return false;
}

static void say(char *why, size_t why_len, const char *fmt, const char *a, const char *b)
{
    if (why && why_len) snprintf(why, why_len, fmt, a, b);
}

/* ---- listeners ---- */

int ed_config_listeners(const char *value, struct ed_config_listener *out, int max, int *n,
                        char *why, size_t why_len)
{
    *n = 0;
    const char *p = value;
    while (*p == ' ')
        p++;
    if (!*p) return ED_OK;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char item[300];
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0 || len >= sizeof item) {
            say(why, why_len, "bad listener entry in '%s'%s", value, "");
            return ED_ERR_INVAL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (*n >= max) {
            say(why, why_len, "too many listeners in '%s'%s", value, "");
            return ED_ERR_INVAL;
        }
        struct ed_config_listener *l = &out[*n];
        memset(l, 0, sizeof *l);
        char *sep = strstr(item, "://");
        if (!sep || sep == item || (size_t)(sep - item) >= sizeof l->name) {
            say(why, why_len, "listener '%s' is not NAME://host:port%s", item, "");
            return ED_ERR_INVAL;
        }
        for (char *c = item; c < sep; c++) {
            bool ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-';
            if (!ok) {
                say(why, why_len, "listener '%s' has a bad name%s", item, "");
                return ED_ERR_INVAL;
            }
        }
        memcpy(l->name, item, (size_t)(sep - item));
        char *hp = sep + 3;
        char *colon;
        if (*hp == '[') {
            char *rb = strchr(hp, ']');
            if (!rb || rb[1] != ':') {
                say(why, why_len, "listener '%s' has a bad [IPv6]:port%s", item, "");
                return ED_ERR_INVAL;
            }
            *rb = '\0';
            snprintf(l->host, sizeof l->host, "%s", hp + 1);
            colon = rb + 1;
        } else {
            colon = strrchr(hp, ':');
            if (!colon) {
                say(why, why_len, "listener '%s' has no port%s", item, "");
                return ED_ERR_INVAL;
            }
            *colon = '\0';
            if (strchr(hp, ':') || strlen(hp) >= sizeof l->host) {
                say(why, why_len, "listener '%s' has a bad host%s", item, "");
                return ED_ERR_INVAL;
            }
            snprintf(l->host, sizeof l->host, "%s", hp);
        }
        int64_t port;
        if (!ed_config_parse_int(colon + 1, &port) || port < 0 || port > 65535) {
            say(why, why_len, "listener '%s' has a bad port '%s'", item, colon + 1);
            return ED_ERR_INVAL;
        }
        l->port = (uint16_t)port;
        (*n)++;
        if (!e) break;
        p = e + 1;
        while (*p == ' ')
            p++;
    }
    return ED_OK;
}

static bool check_listener_list(const char *v, bool advertised, char *why, size_t why_len)
{
    struct ed_config_listener ls[ED_CONFIG_MAX_LISTENERS];
    int n;
    if (ed_config_listeners(v, ls, ED_CONFIG_MAX_LISTENERS, &n, why, why_len) != ED_OK)
        return false;
    int served = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = ls[i].name;
        if (strcmp(nm, "SSL") == 0 || strcmp(nm, "SASL_SSL") == 0 ||
            strcmp(nm, "SASL_PLAINTEXT") == 0) {
            say(why, why_len, "listener %s: security protocol %s is not supported yet", nm, nm);
            return false;
        }
        if (strcmp(nm, "CONTROLLER") != 0) served++;
    }
    if (!advertised && served == 0) {
        say(why, why_len, "no PLAINTEXT listener in '%s'%s", v, "");
        return false;
    }
    return true;
}

static bool check_listeners(const char *v, char *why, size_t why_len)
{
    return check_listener_list(v, false, why, why_len);
}

static bool check_advertised(const char *v, char *why, size_t why_len)
{
    return check_listener_list(v, true, why, why_len);
}

static bool check_dirs(const char *v, char *why, size_t why_len)
{
    if (!*v) {
        say(why, why_len, "must name a directory%s%s", "", "");
        return false;
    }
    if (strchr(v, ',')) {
        say(why, why_len, "Eddy uses one data directory, got '%s'%s", v, "");
        return false;
    }
    return true;
}

static bool check_cleanup(const char *v, char *why, size_t why_len)
{
    bool c, d;
    if (ed_config_parse_cleanup(v, &c, &d)) return true;
    say(why, why_len, "'%s' is not delete, compact or delete,compact%s", v, "");
    return false;
}

static bool check_mqtt_listeners(const char *v, char *why, size_t why_len)
{
    struct ed_config_listener ls[ED_CONFIG_MAX_LISTENERS];
    int n;
    if (ed_config_listeners(v, ls, ED_CONFIG_MAX_LISTENERS, &n, why, why_len) != ED_OK)
        return false;
    if (n > 0 && !ED_WITH_MQTT) {
        say(why, why_len, "%s%s", "this eddy was built without MQTT (WITH_MQTT=0)", "");
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!ieq(ls[i].name, "mqtt")) {
            say(why, why_len, "MQTT listener %s:// is not supported (use mqtt://host:port)%s",
                ls[i].name, "");
            return false;
        }
    }
    return true;
}

/* ---- the table ---- */

static int find(const char *key)
{
    for (int i = 0; i < N_ROWS; i++)
        if (strcmp(rows[i].name, key) == 0) return i;
    for (size_t i = 0; i < ED_ARRAY_LEN(aliases); i++)
        if (strcmp(aliases[i].alias, key) == 0) return find(aliases[i].name);
    return -1;
}

static int must_find(const char *key, enum ed_config_type t1, enum ed_config_type t2)
{
    int i = find(key);
    ED_ASSERT(i >= 0);
    ED_ASSERT(rows[i].type == t1 || rows[i].type == t2);
    return i;
}

static bool is_ignored(const char *key)
{
    for (size_t i = 0; i < ED_ARRAY_LEN(ignored); i++)
        if (strcmp(ignored[i], key) == 0) return true;
    for (size_t i = 0; i < ED_ARRAY_LEN(ignored_prefixes); i++)
        if (strncmp(ignored_prefixes[i], key, strlen(ignored_prefixes[i])) == 0) return true;
    return false;
}

/* Edit distance, bounded, for "did you mean" hints. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            c = ED_MIN(c, d[i - 1][j] + 1);
            d[i][j] = ED_MIN(c, d[i][j - 1] + 1);
        }
    return d[la][lb];
}

static bool choice_ok(const char *choices, const char *v, const char **canon)
{
    const char *p = choices;
    size_t n = strlen(v);
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) {
            *canon = p;
            return true;
        }
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* Validates and stores v into slot i; the default path passes set=false. */
static int assign(struct ed_config *c, int i, const char *v, bool set, char *why, size_t why_len)
{
    const struct row *r = &rows[i];
    struct val *x = &c->v[i];
    char tmp[160];
    switch (r->type) {
    case ED_CFG_INT: {
        int64_t n = 0;
        if (!set && !*v) { /* no default: unset */
            x->i = 0;
            x->set = false;
            return ED_OK;
        }
        if (!ed_config_parse_int(v, &n)) {
            snprintf(tmp, sizeof tmp, "%s: '%%s' is not an integer%%s", r->name);
            say(why, why_len, tmp, v, "");
            return ED_ERR_INVAL;
        }
        if (n < r->min || n > r->max) {
            snprintf(tmp, sizeof tmp, "%s: %%s is out of range [%" PRId64 ", %" PRId64 "]%%s",
                     r->name, r->min, r->max);
            say(why, why_len, tmp, v, "");
            return ED_ERR_INVAL;
        }
        x->i = n;
        break;
    }
    case ED_CFG_BOOL: {
        bool b;
        if (!ed_config_parse_bool(v, &b)) {
            snprintf(tmp, sizeof tmp, "%s: '%%s' is not true or false%%s", r->name);
            say(why, why_len, tmp, v, "");
            return ED_ERR_INVAL;
        }
        x->i = b;
        break;
    }
    case ED_CFG_ENUM: {
        const char *canon;
        if (!choice_ok(r->choices, v, &canon)) {
            snprintf(tmp, sizeof tmp, "%s: '%%s' is not one of %%s", r->name);
            say(why, why_len, tmp, v, r->choices);
            return ED_ERR_INVAL;
        }
        char *s = ed_strdup(v);
        if (!s) return ED_ERR_NOMEM;
        ed_free(x->s);
        x->s = s;
        break;
    }
    case ED_CFG_STRING: {
        char inner[200];
        if (r->check && !r->check(v, inner, sizeof inner)) {
            snprintf(tmp, sizeof tmp, "%s: %%s%%s", r->name);
            say(why, why_len, tmp, inner, "");
            return ED_ERR_INVAL;
        }
        char *s = ed_strdup(v);
        if (!s) return ED_ERR_NOMEM;
        ed_free(x->s);
        x->s = s;
        break;
    }
    }
    x->set = set;
    return ED_OK;
}

int ed_config_new(struct ed_config **out)
{
    struct ed_config *c = ed_calloc(1, sizeof *c);
    if (!c) return ED_ERR_NOMEM;
    for (int i = 0; i < N_ROWS; i++) {
        char why[256];
        int rc = assign(c, i, rows[i].def, false, why, sizeof why);
        if (rc != ED_OK) {
            ED_ASSERT(rc == ED_ERR_NOMEM); /* the table's defaults are valid */
            ed_config_free(c);
            return rc;
        }
    }
    *out = c;
    return ED_OK;
}

void ed_config_free(struct ed_config *c)
{
    if (!c) return;
    for (int i = 0; i < N_ROWS; i++)
        ed_free(c->v[i].s);
    ed_free(c);
}

int ed_config_set(struct ed_config *c, const char *key, const char *value, char *why,
                  size_t why_len)
{
    int i = find(key);
    if (i < 0) {
        if (is_ignored(key)) {
            ED_LOG_WARN("ignoring Kafka setting %s (not used by Eddy)", key);
            return ED_OK;
        }
        const char *best = NULL;
        int bd = 4;
        for (int k = 0; k < N_ROWS; k++) {
            int d = distance(key, rows[k].name);
            if (d < bd) {
                bd = d;
                best = rows[k].name;
            }
        }
        if (best)
            say(why, why_len, "unknown config key '%s' (did you mean '%s'?)", key, best);
        else
            say(why, why_len, "unknown config key '%s'%s", key, "");
        return ED_ERR_INVAL;
    }
    return assign(c, i, value, true, why, why_len);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\f')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Java properties escapes that occur in real files: \\, \=, \:, \ , \t, \n. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 't' ? '\t' : *r == 'n' ? '\n' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

static int parse_line(struct ed_config *c, const char *path, int line_no, char *line, char *why,
                      size_t why_len)
{
    char *s = trim(line);
    if (!*s || *s == '#' || *s == '!') return ED_OK;
    char *sep = s;
    while (*sep && *sep != '=' && *sep != ':' && *sep != ' ' && *sep != '\t') {
        if (*sep == '\\' && sep[1]) sep++;
        sep++;
    }
    char *value;
    if (*sep) {
        char *k_end = sep;
        while (*sep == ' ' || *sep == '\t')
            sep++;
        if (*sep == '=' || *sep == ':') sep++;
        *k_end = '\0';
        value = trim(sep);
    } else {
        value = sep; /* key alone: empty value */
    }
    unescape(s);
    unescape(value);
    char inner[300];
    int rc = ed_config_set(c, s, value, inner, sizeof inner);
    if (rc != ED_OK && why && why_len) snprintf(why, why_len, "%s:%d: %s", path, line_no, inner);
    return rc;
}

int ed_config_load(struct ed_config *c, const char *path, char *why, size_t why_len)
{
    ed_file *f;
    int rc = ed_plat_file_open(path, ED_FILE_READ, &f);
    if (rc != ED_OK) {
        if (why && why_len) snprintf(why, why_len, "%s: %s", path, ed_strerror(rc));
        return rc;
    }
    uint64_t size = 0;
    rc = ed_plat_file_size(f, &size);
    if (rc == ED_OK && size > 1024 * 1024) rc = ED_ERR_TOOBIG;
    char *buf = rc == ED_OK ? ed_malloc((size_t)size + 1) : NULL;
    if (rc == ED_OK && !buf) rc = ED_ERR_NOMEM;
    size_t got = 0;
    if (rc == ED_OK) rc = ed_plat_file_pread(f, buf, (size_t)size, 0, &got);
    ed_plat_file_close(f);
    if (rc != ED_OK) {
        if (why && why_len) snprintf(why, why_len, "%s: %s", path, ed_strerror(rc));
        ed_free(buf);
        return rc;
    }
    buf[got] = '\0';
    if (memchr(buf, '\0', got)) {
        if (why && why_len) snprintf(why, why_len, "%s: not a text file", path);
        ed_free(buf);
        return ED_ERR_INVAL;
    }
    /* Logical lines: a line ending in an odd number of backslashes
     * continues on the next one (leading blanks of which are dropped). */
    char *p = buf;
    int line_no = 0;
    while (*p && rc == ED_OK) {
        line_no++;
        int first = line_no;
        char *w = p, *start = p;
        for (;;) {
            char *nl = strchr(p, '\n');
            char *end = nl ? nl : p + strlen(p);
            size_t n = (size_t)(end - p);
            if (n > 0 && p[n - 1] == '\r') n--;
            size_t bs = 0;
            while (bs < n && p[n - 1 - bs] == '\\')
                bs++;
            bool cont = (bs % 2) == 1 && nl;
            memmove(w, p, cont ? n - 1 : n);
            w += cont ? n - 1 : n;
            p = nl ? nl + 1 : end;
            if (!cont) break;
            line_no++;
            while (*p == ' ' || *p == '\t')
                p++;
        }
        *w = '\0';
        rc = parse_line(c, path, first, start, why, why_len);
    }
    ed_free(buf);
    return rc;
}

int64_t ed_config_int(const struct ed_config *c, const char *key)
{
    return c->v[must_find(key, ED_CFG_INT, ED_CFG_INT)].i;
}

bool ed_config_bool(const struct ed_config *c, const char *key)
{
    return c->v[must_find(key, ED_CFG_BOOL, ED_CFG_BOOL)].i != 0;
}

const char *ed_config_str(const struct ed_config *c, const char *key)
{
    return c->v[must_find(key, ED_CFG_STRING, ED_CFG_ENUM)].s;
}

bool ed_config_is_set(const struct ed_config *c, const char *key)
{
    int i = find(key);
    ED_ASSERT(i >= 0);
    return c->v[i].set;
}

void ed_config_help(void (*print)(void *arg, const char *line), void *arg)
{
    char line[512];
    for (int i = 0; i < N_ROWS; i++) {
        const struct row *r = &rows[i];
        char kind[96];
        switch (r->type) {
        case ED_CFG_INT:
            if (r->max == I64)
                snprintf(kind, sizeof kind, "int >= %" PRId64, r->min);
            else
                snprintf(kind, sizeof kind, "int %" PRId64 "..%" PRId64, r->min, r->max);
            break;
        case ED_CFG_BOOL:
            snprintf(kind, sizeof kind, "true|false");
            break;
        case ED_CFG_ENUM:
            snprintf(kind, sizeof kind, "%s", r->choices);
            for (char *k = kind; *k; k++)
                if (*k == ',') *k = '|';
            break;
        case ED_CFG_STRING:
            snprintf(kind, sizeof kind, "string");
            break;
        }
        snprintf(line, sizeof line, "  %-34s %s; default %s", r->name, kind,
                 *r->def ? r->def : "(unset)");
        print(arg, line);
        snprintf(line, sizeof line, "  %-34s   %s", "", r->doc);
        print(arg, line);
    }
}

/* ---- derived ---- */

int64_t ed_config_retention_ms(const struct ed_config *c)
{
    int64_t v;
    if (ed_config_is_set(c, "log.retention.ms"))
        v = ed_config_int(c, "log.retention.ms");
    else if (ed_config_is_set(c, "log.retention.minutes"))
        v = ed_config_int(c, "log.retention.minutes") * 60000;
    else
        v = ed_config_int(c, "log.retention.hours") * 3600000;
    return v < 0 ? -1 : v;
}

int64_t ed_config_roll_ms(const struct ed_config *c)
{
    if (ed_config_is_set(c, "log.roll.ms")) return ed_config_int(c, "log.roll.ms");
    return ed_config_int(c, "log.roll.hours") * 3600000;
}

void ed_config_log_defaults(const struct ed_config *c, struct ed_log_config *out)
{
    /* Every field comes from the table, so the defaults live in one place. */
    memset(out, 0, sizeof *out);
    out->segment_len = (uint64_t)ed_config_int(c, "log.segment.bytes");
    out->segment_ms = ed_config_roll_ms(c);
    out->retention_ms = ed_config_retention_ms(c);
    out->retention_len = ed_config_int(c, "log.retention.bytes");
    if (out->retention_len < 0) out->retention_len = -1;
    out->index_interval_len = (uint32_t)ed_config_int(c, "log.index.interval.bytes");
    out->flush_interval_messages = ed_config_int(c, "log.flush.interval.messages");
    out->flush_interval_ms = ed_config_int(c, "log.flush.interval.ms");
    out->max_message_len = (int32_t)ed_config_int(c, "message.max.bytes");
    bool compact = false, del = true;
    ed_config_parse_cleanup(ed_config_str(c, "log.cleanup.policy"), &compact, &del);
    out->compact = compact;
    out->delete_ = del;
    out->log_append_time =
        strcmp(ed_config_str(c, "log.message.timestamp.type"), "LogAppendTime") == 0;
    int comp = ED_COMPRESSION_NONE;
    ed_config_parse_compression(ed_config_str(c, "compression.type"), &comp);
    out->compression = comp;
    out->delete_retention_ms = ed_config_int(c, "log.cleaner.delete.retention.ms");
}

void ed_config_storage(const struct ed_config *c, struct ed_storage_config *out)
{
    memset(out, 0, sizeof *out);
    out->use_flusher_thread = ed_plat_has_threads();
    out->dir = ed_config_str(c, "log.dirs");
    ed_config_log_defaults(c, &out->log);
    out->disk_budget_len = (uint64_t)ed_config_int(c, "log.dir.budget.bytes");
    out->disk_free_floor_len = (uint64_t)ed_config_int(c, "log.dir.min.free.bytes");
    out->disk_full_delete = strcmp(ed_config_str(c, "log.dir.full.policy"), "delete-oldest") == 0;
    out->retention_check_ms = ed_config_int(c, "log.retention.check.interval.ms");
    out->recovery_checkpoint_ms = ed_config_int(c, "log.flush.offset.checkpoint.interval.ms");
    out->max_open_segments = (uint32_t)ed_config_int(c, "eddy.max.open.segments");
}

void ed_config_each(const struct ed_config *c,
                    void (*cb)(void *arg, const struct ed_config_item *item), void *arg)
{
    for (int i = 0; i < N_ROWS; i++) {
        const struct row *r = &rows[i];
        const struct val *x = &c->v[i];
        char num[24];
        struct ed_config_item it = {r->name, NULL, !x->set, false, r->type, r->doc};
        it.sensitive = strstr(r->name, "password") || strstr(r->name, "secret");
        switch (r->type) {
        case ED_CFG_INT:
            if (x->set || *r->def) {
                snprintf(num, sizeof num, "%" PRId64, x->i);
                it.value = num;
            }
            break;
        case ED_CFG_BOOL:
            it.value = x->i ? "true" : "false";
            break;
        default:
            it.value = x->s;
            break;
        }
        cb(arg, &it);
    }
}

int ed_config_host_limits(const char *str, struct ed_config_host_limit *out, int max, int *n_out,
                          char *why, size_t why_len)
{
    int n_lim = 0;
    const char *p = str ? str : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char item[80];
        if (n >= sizeof item) {
            snprintf(why, why_len, "override too long: %.*s", (int)ED_MIN(n, 40), p);
            return ED_ERR_INVAL;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        char *colon = strrchr(item, ':');
        char *num_end = NULL;
        long v = colon ? strtol(colon + 1, &num_end, 10) : -1;
        if (n > 0 && (!colon || colon == item || !num_end || *num_end || colon[1] == '\0' ||
                      v < 0 || v > INT32_MAX || (size_t)(colon - item) >= sizeof out[0].host)) {
            snprintf(why, why_len, "bad override '%s' (want host:count)", item);
            return ED_ERR_INVAL;
        }
        if (n > 0) {
            if (n_lim == max) {
                snprintf(why, why_len, "more than %d overrides", max);
                return ED_ERR_INVAL;
            }
            *colon = '\0';
            /* "[v6]" without brackets, as peers are compared */
            char *host = item;
            size_t hl = strlen(host);
            if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
                host[hl - 1] = '\0';
                host++;
            }
            snprintf(out[n_lim].host, sizeof out[0].host, "%.47s", host);
            out[n_lim++].n_max = (int32_t)v;
        }
        p += n;
        if (*p == ',') p++;
    }
    *n_out = n_lim;
    return ED_OK;
}
