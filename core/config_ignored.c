/* The Kafka broker settings Eddy accepts in server.properties and does not
 * use: exact names, then prefixes. */
#include "core/config.h"

#include <string.h>

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

bool ed_config_ignored(const char *key)
{
    for (size_t i = 0; i < ED_ARRAY_LEN(ignored); i++)
        if (strcmp(ignored[i], key) == 0) return true;
    for (size_t i = 0; i < ED_ARRAY_LEN(ignored_prefixes); i++)
        if (strncmp(ignored_prefixes[i], key, strlen(ignored_prefixes[i])) == 0) return true;
    return false;
}
