/* Unit tests of the broker configuration: defaults, typed setting and
 * validation, aliases, knowingly ignored Kafka keys, Kafka's retention
 * precedence, listeners parsing, server.properties loading and --help. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/listeners.h"
#include "platform/log.h"

static struct ed_config *cfg(void)
{
    struct ed_config *c = NULL;
    assert_int_equal(ed_config_new(&c), ED_OK);
    return c;
}

static void test_defaults(void **state)
{
    (void)state;
    struct ed_config *c = cfg();
    assert_string_equal(ed_config_str(c, "listeners"), "PLAINTEXT://127.0.0.1:9092");
    assert_string_equal(ed_config_str(c, "advertised.listeners"), "");
    assert_string_equal(ed_config_str(c, "log.dirs"), "./eddy-data");
    assert_int_equal(ed_config_int(c, "node.id"), 1);
    assert_int_equal(ed_config_int(c, "num.partitions"), 1);
    assert_int_equal(ed_config_int(c, "default.replication.factor"), 1);
    assert_true(ed_config_bool(c, "auto.create.topics.enable"));
    assert_int_equal(ed_config_int(c, "message.max.bytes"), 1048588);
    assert_int_equal(ed_config_int(c, "socket.request.max.bytes"), 16 * 1024 * 1024);
    assert_int_equal(ed_config_int(c, "group.initial.rebalance.delay.ms"), 3000);
    assert_string_equal(ed_config_str(c, "compression.type"), "producer");
    assert_string_equal(ed_config_str(c, "log.level"), "info");
    assert_false(ed_config_is_set(c, "log.retention.ms"));
    assert_true(ed_config_retention_ms(c) == 168LL * 3600 * 1000);
    assert_true(ed_config_roll_ms(c) == 168LL * 3600 * 1000);
    ed_config_free(c);
}

static void test_set_and_validate(void **state)
{
    (void)state;
    struct ed_config *c = cfg();
    char why[256];
    assert_int_equal(ed_config_set(c, "num.partitions", "3", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_int(c, "num.partitions"), 3);
    assert_true(ed_config_is_set(c, "num.partitions"));

    assert_int_equal(ed_config_set(c, "num.partitions", "0", why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, "num.partitions"));
    assert_non_null(strstr(why, "out of range"));
    assert_int_equal(ed_config_int(c, "num.partitions"), 3); /* unchanged */

    assert_int_equal(ed_config_set(c, "num.partitions", "3x", why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, "not an integer"));
    assert_int_equal(ed_config_set(c, "num.partitions", "", why, sizeof why), ED_ERR_INVAL);
    assert_int_equal(
        ed_config_set(c, "log.retention.bytes", "99999999999999999999", why, sizeof why),
        ED_ERR_INVAL);
    assert_int_equal(ed_config_set(c, "log.retention.bytes", "1073741824", why, sizeof why), ED_OK);
    assert_true(ed_config_int(c, "log.retention.bytes") == 1073741824LL);

    assert_int_equal(ed_config_set(c, "default.replication.factor", "3", why, sizeof why),
                     ED_ERR_INVAL);
    assert_non_null(strstr(why, "default.replication.factor"));

    assert_int_equal(ed_config_set(c, "auto.create.topics.enable", "FALSE", why, sizeof why),
                     ED_OK);
    assert_false(ed_config_bool(c, "auto.create.topics.enable"));
    assert_int_equal(ed_config_set(c, "auto.create.topics.enable", "yes", why, sizeof why),
                     ED_ERR_INVAL);
    assert_non_null(strstr(why, "auto.create.topics.enable"));

    assert_int_equal(ed_config_set(c, "compression.type", "zstd", why, sizeof why), ED_OK);
    assert_string_equal(ed_config_str(c, "compression.type"), "zstd");
    assert_int_equal(ed_config_set(c, "compression.type", "brotli", why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, "compression.type"));
    assert_non_null(strstr(why, "brotli"));

    assert_int_equal(ed_config_set(c, "log.cleanup.policy", "compact, delete", why, sizeof why),
                     ED_OK);
    assert_int_equal(ed_config_set(c, "log.cleanup.policy", "compactt", why, sizeof why),
                     ED_ERR_INVAL);
    assert_int_equal(ed_config_set(c, "log.dirs", "/a,/b", why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, "log.dirs"));
    assert_int_equal(ed_config_set(c, "log.level", "debug", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(c, "log.level", "trace", why, sizeof why), ED_ERR_INVAL);
    ed_config_free(c);
}

static void test_aliases(void **state)
{
    (void)state;
    struct ed_config *c = cfg();
    char why[256];
    assert_int_equal(ed_config_set(c, "broker.id", "7", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_int(c, "node.id"), 7);
    assert_int_equal(ed_config_set(c, "log.dir", "/tmp/x", why, sizeof why), ED_OK);
    assert_string_equal(ed_config_str(c, "log.dirs"), "/tmp/x");
    assert_int_equal(ed_config_set(c, "connections.max", "10", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_int(c, "max.connections"), 10);
    ed_config_free(c);
}

static int n_warn;
static char last_warn[512];
static void hook(int level, const char *line)
{
    if (level == ED_LOG_LEVEL_WARN) {
        n_warn++;
        snprintf(last_warn, sizeof last_warn, "%s", line);
    }
}

static void test_unknown_and_ignored(void **state)
{
    (void)state;
    struct ed_config *c = cfg();
    char why[256];
    ed_log_set_hook(hook);
    n_warn = 0;
    assert_int_equal(ed_config_set(c, "zookeeper.connect", "localhost:2181", why, sizeof why),
                     ED_OK);
    assert_int_equal(n_warn, 1);
    assert_non_null(strstr(last_warn, "zookeeper.connect"));
    assert_int_equal(ed_config_set(c, "num.network.threads", "3", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(c, "offsets.topic.replication.factor", "1", why, sizeof why),
                     ED_OK);
    assert_int_equal(ed_config_set(c, "transaction.state.log.min.isr", "1", why, sizeof why),
                     ED_OK);
    assert_int_equal(n_warn, 4);
    ed_log_set_hook(NULL);

    assert_int_equal(ed_config_set(c, "no.such.key", "1", why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, "no.such.key"));
    assert_int_equal(ed_config_set(c, "log.retention.hour", "1", why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, "did you mean 'log.retention.hours'"));
    /* a topic-level name is not a broker key */
    assert_int_equal(ed_config_set(c, "retention.ms", "1", why, sizeof why), ED_ERR_INVAL);
    ed_config_free(c);
}

static void test_precedence(void **state)
{
    (void)state;
    struct ed_config *c = cfg();
    char why[256];
    assert_int_equal(ed_config_set(c, "log.retention.hours", "2", why, sizeof why), ED_OK);
    assert_true(ed_config_retention_ms(c) == 2 * 3600000LL);
    assert_int_equal(ed_config_set(c, "log.retention.minutes", "5", why, sizeof why), ED_OK);
    assert_true(ed_config_retention_ms(c) == 5 * 60000LL);
    assert_int_equal(ed_config_set(c, "log.retention.ms", "1234", why, sizeof why), ED_OK);
    assert_true(ed_config_retention_ms(c) == 1234);
    assert_int_equal(ed_config_set(c, "log.retention.ms", "-1", why, sizeof why), ED_OK);
    assert_true(ed_config_retention_ms(c) == -1);
    assert_int_equal(ed_config_set(c, "log.roll.hours", "1", why, sizeof why), ED_OK);
    assert_true(ed_config_roll_ms(c) == 3600000LL);
    assert_int_equal(ed_config_set(c, "log.roll.ms", "60000", why, sizeof why), ED_OK);
    assert_true(ed_config_roll_ms(c) == 60000);

    struct ed_log_config lc;
    assert_int_equal(ed_config_set(c, "log.segment.bytes", "1048576", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(c, "message.max.bytes", "200000", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(c, "log.cleanup.policy", "compact", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(c, "compression.type", "lz4", why, sizeof why), ED_OK);
    assert_int_equal(
        ed_config_set(c, "log.message.timestamp.type", "LogAppendTime", why, sizeof why), ED_OK);
    ed_config_log_defaults(c, &lc);
    assert_true(lc.segment_len == 1048576);
    assert_true(lc.segment_ms == 60000);
    assert_true(lc.retention_ms == -1);
    assert_true(lc.retention_len == -1);
    assert_int_equal(lc.max_message_len, 200000);
    assert_true(lc.compact);
    assert_false(lc.delete_);
    assert_true(lc.log_append_time);
    assert_int_equal(lc.compression, ED_COMPRESSION_LZ4);
    assert_int_equal(lc.index_interval_len, 4096);

    struct ed_storage_config sc;
    assert_int_equal(ed_config_set(c, "log.dir.budget.bytes", "1000000000", why, sizeof why),
                     ED_OK);
    ed_config_storage(c, &sc);
    assert_string_equal(sc.dir, "./eddy-data");
    assert_true(sc.disk_budget_len == 1000000000ULL);
    assert_true(sc.disk_free_floor_len == 64ULL << 20);
    assert_true(sc.retention_check_ms == 300000);
    /* Deleting acknowledged data at the budget or floor is opt-in. */
    assert_false(sc.disk_full_delete);
    assert_int_equal(ed_config_set(c, "log.dir.full.policy", "delete-oldest", why, sizeof why),
                     ED_OK);
    ed_config_storage(c, &sc);
    assert_true(sc.disk_full_delete);
    assert_int_equal(ed_config_set(c, "log.dir.full.policy", "drop", why, sizeof why),
                     ED_ERR_INVAL);
    assert_non_null(strstr(why, "log.dir.full.policy"));
    ed_config_free(c);
}

static void test_listeners(void **state)
{
    (void)state;
    struct ed_config_listener l[ED_CONFIG_MAX_LISTENERS];
    int n;
    char why[256];
    assert_int_equal(ed_config_listeners("PLAINTEXT://:9092,CONTROLLER://localhost:9093", l,
                                         ED_CONFIG_MAX_LISTENERS, &n, why, sizeof why),
                     ED_OK);
    assert_int_equal(n, 2);
    assert_string_equal(l[0].name, "PLAINTEXT");
    assert_string_equal(l[0].host, "");
    assert_int_equal(l[0].port, 9092);
    assert_string_equal(l[1].name, "CONTROLLER");
    assert_string_equal(l[1].host, "localhost");
    assert_int_equal(l[1].port, 9093);
    assert_int_equal(ed_config_listeners("PLAINTEXT://[::1]:19092", l, ED_CONFIG_MAX_LISTENERS, &n,
                                         why, sizeof why),
                     ED_OK);
    assert_int_equal(n, 1);
    assert_string_equal(l[0].host, "::1");
    assert_int_equal(l[0].port, 19092);
    assert_int_equal(ed_config_listeners("", l, ED_CONFIG_MAX_LISTENERS, &n, why, sizeof why),
                     ED_OK);
    assert_int_equal(n, 0);
    static const char *const bad[] = {
        "localhost:9092",   "PLAINTEXT://host",      "PLAINTEXT://h:99999",     "PLAINTEXT://h:x",
        "PLAIN TEXT://h:1", "PLAINTEXT://[::1:9092", "PLAINTEXT://h:1,,X://h:2"};
    for (size_t i = 0; i < ED_ARRAY_LEN(bad); i++)
        assert_int_equal(
            ed_config_listeners(bad[i], l, ED_CONFIG_MAX_LISTENERS, &n, why, sizeof why),
            ED_ERR_INVAL);

    struct ed_config *c = cfg();
    /* Security protocols are checked with the protocol map, at start. */
    assert_int_equal(ed_config_set(c, "listeners", "SSL://:9093", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(c, "listeners", "CONTROLLER://:9093", why, sizeof why),
                     ED_ERR_INVAL);
    assert_int_equal(ed_config_set(c, "listeners", "PLAINTEXT://127.0.0.1:0", why, sizeof why),
                     ED_OK);
    /* port 0 in an advertised listener: the port its listener bound */
    assert_int_equal(
        ed_config_set(c, "advertised.listeners", "PLAINTEXT://gw.local:0", why, sizeof why), ED_OK);
    assert_int_equal(
        ed_config_set(c, "advertised.listeners", "PLAINTEXT://gw.local:9092", why, sizeof why),
        ED_OK);
    ed_config_free(c);
}

/* listener.name.<name>.ssl.*: per listener, checked like the key itself,
 * names without regard to case; the broker-wide value otherwise. */
static void test_listener_keys(void **state)
{
    (void)state;
    char why[256];
    struct ed_config *c = cfg();
    assert_int_equal(ed_config_set(c, "ssl.keystore.location", "/all.pem", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(c, "listener.name.internal.ssl.keystore.location", "/in.pem",
                                   why, sizeof why),
                     ED_OK);
    assert_int_equal(ed_config_set(c, "listener.name.internal.ssl.keystore.location", "/in2.pem",
                                   why, sizeof why),
                     ED_OK);
    assert_int_equal(
        ed_config_set(c, "listener.name.internal.ssl.client.auth", "required", why, sizeof why),
        ED_OK);
    assert_string_equal(ed_config_listener_str(c, "INTERNAL", "ssl.keystore.location"), "/in2.pem");
    assert_string_equal(ed_config_listener_str(c, "INTERNAL", "ssl.client.auth"), "required");
    assert_string_equal(ed_config_listener_str(c, "SSL", "ssl.keystore.location"), "/all.pem");
    assert_string_equal(ed_config_listener_str(c, "SSL", "ssl.client.auth"), "none");
    assert_string_equal(ed_config_listener_str(c, "INTERNAL", "ssl.truststore.location"), "");
    /* a bad value, a key Eddy does not take per listener, a bad shape */
    assert_int_equal(
        ed_config_set(c, "listener.name.internal.ssl.client.auth", "maybe", why, sizeof why),
        ED_ERR_INVAL);
    assert_non_null(strstr(why, "listener.name.internal.ssl.client.auth"));
    assert_string_equal(ed_config_listener_str(c, "INTERNAL", "ssl.client.auth"), "required");
    assert_int_equal(ed_config_set(c, "listener.name.internal.sasl.enabled.mechanisms", "PLAIN",
                                   why, sizeof why),
                     ED_ERR_INVAL);
    assert_non_null(strstr(why, "only ssl.* keys"));
    assert_int_equal(
        ed_config_set(c, "listener.name.internal.ssl.keystore.lcation", "/x", why, sizeof why),
        ED_OK); /* an ssl.* key Eddy ignores anyway: warned about */
    assert_int_equal(ed_config_set(c, "listener.name.internal.nonsense", "1", why, sizeof why),
                     ED_ERR_INVAL);
    assert_int_equal(ed_config_set(c, "listener.name..ssl.client.auth", "none", why, sizeof why),
                     ED_ERR_INVAL);
    /* ssl.principal.mapping.rules are parsed when set, per listener too */
    assert_int_equal(
        ed_config_set(c, "ssl.principal.mapping.rules", "RULE:^CN=(.*)$/$1/X", why, sizeof why),
        ED_ERR_INVAL);
    assert_string_equal(why, "ssl.principal.mapping.rules: rule 'RULE:^CN=(.*)$/$1/X': "
                             "unexpected 'X' after it");
    assert_int_equal(ed_config_set(c, "listener.name.internal.ssl.principal.mapping.rules",
                                   "RULE:(?i)cn/x/", why, sizeof why),
                     ED_ERR_INVAL);
    assert_int_equal(ed_config_set(c, "listener.name.internal.ssl.principal.mapping.rules",
                                   "RULE:^CN=(.*)$/$1/L,DEFAULT", why, sizeof why),
                     ED_OK);
    assert_string_equal(ed_config_listener_str(c, "SSL", "ssl.principal.mapping.rules"), "DEFAULT");
    /* Kafka's per-mechanism JAAS keys are Kafka's business */
    assert_int_equal(ed_config_set(c, "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config",
                                   "x required ;", why, sizeof why),
                     ED_OK);
    ed_config_free(c);
}

static void test_listener_protocols(void **state)
{
    (void)state;
    struct ed_listeners_spec l[ED_CONFIG_MAX_LISTENERS];
    int n;
    char why[256];
    assert_int_equal(ed_listeners_parse("PLAINTEXT://127.0.0.1:0,SSL://:9093,SASL_SSL://h:1,"
                                        "INTERNAL://h:2,CONTROLLER://h:3",
                                        "INTERNAL:SASL_PLAINTEXT", l, ED_CONFIG_MAX_LISTENERS, &n,
                                        why, sizeof why),
                     ED_OK);
    assert_int_equal(n, 5);
    assert_int_equal(l[0].sec, ED_SEC_PLAINTEXT);
    assert_int_equal(l[1].sec, ED_SEC_SSL);
    assert_true(ed_listeners_tls(l[1].sec) && !ed_listeners_sasl(l[1].sec));
    assert_int_equal(l[2].sec, ED_SEC_SASL_SSL);
    assert_true(ed_listeners_tls(l[2].sec) && ed_listeners_sasl(l[2].sec));
    assert_int_equal(l[3].sec, ED_SEC_SASL_PLAINTEXT);
    assert_int_equal(l[4].sec, ED_SEC_CONTROLLER);
    /* a custom name needs the map; the map names known protocols only */
    assert_int_equal(
        ed_listeners_parse("INTERNAL://h:2", "", l, ED_CONFIG_MAX_LISTENERS, &n, why, sizeof why),
        ED_ERR_INVAL);
    assert_non_null(strstr(why, "listener.security.protocol.map"));
    assert_int_equal(ed_listeners_parse("INTERNAL://h:2", "INTERNAL:TLS", l,
                                        ED_CONFIG_MAX_LISTENERS, &n, why, sizeof why),
                     ED_ERR_INVAL);
    assert_int_equal(ed_listeners_parse("SSL://h:2,SSL://h:3", "", l, ED_CONFIG_MAX_LISTENERS, &n,
                                        why, sizeof why),
                     ED_ERR_INVAL);
    /* MQTT: default ports by scheme */
    assert_int_equal(ed_listeners_parse_mqtt("mqtts://0.0.0.0, mqtt://127.0.0.1,mqtt://[::1]:0", l,
                                             ED_CONFIG_MAX_LISTENERS, &n, why, sizeof why),
                     ED_OK);
    assert_int_equal(n, 3);
    assert_int_equal(l[0].sec, ED_SEC_SSL);
    assert_int_equal(l[0].port, 8883);
    assert_string_equal(l[0].name, "mqtts");
    assert_int_equal(l[1].sec, ED_SEC_PLAINTEXT);
    assert_int_equal(l[1].port, 1883);
    assert_string_equal(l[2].host, "::1");
    assert_int_equal(l[2].port, 0);
    assert_int_equal(
        ed_listeners_parse_mqtt("ws://h:1", l, ED_CONFIG_MAX_LISTENERS, &n, why, sizeof why),
        ED_ERR_INVAL);
    assert_true(ed_listeners_loopback("127.0.0.1") && ed_listeners_loopback("::1") &&
                ed_listeners_loopback("localhost"));
    assert_false(ed_listeners_loopback("0.0.0.0") || ed_listeners_loopback("") ||
                 ed_listeners_loopback("10.0.0.1"));
}

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/eddy-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* Apache Kafka's KRaft sample server.properties, trimmed of comments. */
static const char kafka_sample[] =
    "# Licensed to the Apache Software Foundation\n"
    "process.roles=broker,controller\n"
    "node.id=1\n"
    "controller.quorum.voters=1@localhost:9093\n"
    "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n"
    "inter.broker.listener.name=PLAINTEXT\n"
    "advertised.listeners=PLAINTEXT://localhost:9092\n"
    "controller.listener.names=CONTROLLER\n"
    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL\n"
    "num.network.threads=3\n"
    "num.io.threads=8\n"
    "socket.send.buffer.bytes=102400\n"
    "socket.receive.buffer.bytes=102400\n"
    "socket.request.max.bytes=104857600\n"
    "log.dirs=/tmp/kraft-combined-logs\n"
    "num.partitions=1\n"
    "num.recovery.threads.per.data.dir=1\n"
    "offsets.topic.replication.factor=1\n"
    "transaction.state.log.replication.factor=1\n"
    "transaction.state.log.min.isr=1\n"
    "#log.flush.interval.messages=10000\n"
    "#log.flush.interval.ms=1000\n"
    "log.retention.hours=168\n"
    "#log.retention.bytes=1073741824\n"
    "log.segment.bytes=1073741824\n"
    "log.retention.check.interval.ms=300000\n";

static void test_load_kafka_file(void **state)
{
    (void)state;
    struct ed_config *c = cfg();
    char why[256] = "";
    char *p = write_tmp(kafka_sample);
    assert_int_equal(ed_config_load(c, p, why, sizeof why), ED_OK);
    unlink(p);
    assert_string_equal(ed_config_str(c, "listeners"), "PLAINTEXT://:9092,CONTROLLER://:9093");
    assert_string_equal(ed_config_str(c, "log.dirs"), "/tmp/kraft-combined-logs");
    assert_int_equal(ed_config_int(c, "socket.request.max.bytes"), 104857600);
    assert_true(ed_config_int(c, "log.segment.bytes") == 1073741824LL);
    ed_config_free(c);
}

static void test_load_syntax(void **state)
{
    (void)state;
    struct ed_config *c = cfg();
    char why[256] = "";
    char *p = write_tmp("  # comment\n"
                        "! also a comment\n"
                        "\n"
                        "num.partitions = 4\r\n"
                        "log.retention.ms:5000\n"
                        "log.dirs   /data/eddy\n"
                        "listeners=PLAINTEXT://127.0.0.1:9092,\\\n"
                        "          CONTROLLER://:9093\n"
                        "log.cleanup.policy=delete\\,compact\n"
                        "log.level=warn");
    assert_int_equal(ed_config_load(c, p, why, sizeof why), ED_OK);
    unlink(p);
    assert_int_equal(ed_config_int(c, "num.partitions"), 4);
    assert_true(ed_config_retention_ms(c) == 5000);
    assert_string_equal(ed_config_str(c, "log.dirs"), "/data/eddy");
    assert_string_equal(ed_config_str(c, "listeners"),
                        "PLAINTEXT://127.0.0.1:9092,CONTROLLER://:9093");
    assert_string_equal(ed_config_str(c, "log.cleanup.policy"), "delete,compact");
    assert_string_equal(ed_config_str(c, "log.level"), "warn");

    p = write_tmp("num.partitions=2\n\nlog.retention.hourz=5\nnum.partitions=9\n");
    assert_int_equal(ed_config_load(c, p, why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, p));
    assert_non_null(strstr(why, ":3:"));
    assert_non_null(strstr(why, "log.retention.hourz"));
    unlink(p);

    p = write_tmp("message.max.bytes=lots\n");
    assert_int_equal(ed_config_load(c, p, why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, ":1:"));
    assert_non_null(strstr(why, "message.max.bytes"));
    unlink(p);

    assert_int_equal(ed_config_load(c, "/nonexistent/eddy.properties", why, sizeof why),
                     ED_ERR_NOENT);
    assert_non_null(strstr(why, "/nonexistent/eddy.properties"));
    ed_config_free(c);
}

static int n_help;
static bool saw_listeners, saw_budget;
static void help_line(void *arg, const char *line)
{
    (void)arg;
    n_help++;
    if (strstr(line, "listeners") && strstr(line, "PLAINTEXT://127.0.0.1:9092"))
        saw_listeners = true;
    if (strstr(line, "log.dir.budget.bytes")) saw_budget = true;
}

static void test_help(void **state)
{
    (void)state;
    ed_config_help(help_line, NULL);
    assert_true(n_help >= 60);
    assert_true(saw_listeners);
    assert_true(saw_budget);
}

static void test_parsers(void **state)
{
    (void)state;
    int64_t v;
    assert_true(ed_config_parse_int("-1", &v) && v == -1);
    assert_true(ed_config_parse_int("9223372036854775807", &v) && v == INT64_MAX);
    assert_true(ed_config_parse_int("-9223372036854775808", &v) && v == INT64_MIN);
    assert_false(ed_config_parse_int("9223372036854775808", &v));
    assert_false(ed_config_parse_int("1e3", &v));
    assert_false(ed_config_parse_int("-", &v));
    bool comp, del;
    assert_true(ed_config_parse_cleanup("delete", &comp, &del) && del && !comp);
    assert_true(ed_config_parse_cleanup("compact,delete", &comp, &del) && del && comp);
    assert_false(ed_config_parse_cleanup("", &comp, &del));
    assert_false(ed_config_parse_cleanup("delete,", &comp, &del));
    int cc;
    assert_true(ed_config_parse_compression("zstd", &cc) && cc == ED_COMPRESSION_ZSTD);
    assert_true(ed_config_parse_compression("producer", &cc) &&
                cc == ED_CONFIG_COMPRESSION_PRODUCER);
    assert_true(ed_config_parse_compression("none", &cc) && cc == ED_COMPRESSION_NONE);
    assert_false(ed_config_parse_compression("ZSTD", &cc));
}

/* Every key of the table: a default within its own bounds (and, for a
 * broker default with a topic override, within the topic key's bounds
 * too), one typed field per broker key, documentation for each scope. */
static void test_table_defaults(void **state)
{
    (void)state;
    struct ed_config *c = cfg();
    char why[256];
    assert_true(ed_config_n_keys <= ED_CONFIG_MAX_KEYS);
    for (int i = 0; i < ed_config_n_keys; i++) {
        const struct ed_config_key *k = &ed_config_keys[i];
        const char *name = k->name ? k->name : k->topic;
        assert_non_null(name);
        bool unset = k->type == ED_CFG_INT && !*k->def;
        if (k->name && !unset && !ed_config_key_check(k, false, k->def, why, sizeof why))
            fail_msg("%s: default '%s' refused: %s", name, k->def, why);
        if (k->topic && !unset && !ed_config_key_check(k, true, k->def, why, sizeof why))
            fail_msg("%s: default '%s' refused for the topic: %s", k->topic, k->def, why);
        if (k->type == ED_CFG_ENUM || k->type == ED_CFG_LIST) assert_true(k->choices || k->check);
        if (k->name) {
            assert_non_null(k->doc);
            assert_true(k->off >= 0 && (size_t)k->off < offsetof(struct ed_config, set));
            for (int j = 0; j < i; j++)
                if (ed_config_keys[j].name && ed_config_keys[j].off == k->off)
                    fail_msg("%s and %s fill the same field", ed_config_keys[j].name, k->name);
            assert_ptr_equal(ed_config_key_find(k->name), k);
            /* the typed field holds the default */
            char buf[24];
            const char *v;
            bool dflt;
            ed_config_value(c, k, buf, sizeof buf, &v, &dflt);
            assert_true(dflt);
            if (!unset) assert_string_equal(v, k->def);
        } else {
            assert_int_equal(k->off, -1);
        }
        if (k->topic) {
            assert_non_null(k->tdoc);
            assert_ptr_equal(ed_config_topic_key_find(k->topic), k);
        }
    }
    assert_null(ed_config_key_find("retention.ms")); /* a topic key is no broker key */
    assert_null(ed_config_topic_key_find("log.retention.ms"));
    ed_config_free(c);
}

/* Kafka's synonyms: a broker alias sets its key; a topic key names the
 * broker key that holds its default. */
static void test_table_synonyms(void **state)
{
    (void)state;
    int n_alias = 0, n_both = 0;
    for (int i = 0; i < ed_config_n_keys; i++) {
        const struct ed_config_key *k = &ed_config_keys[i];
        if (k->alias) {
            n_alias++;
            assert_ptr_equal(ed_config_key_find(k->alias), k);
        }
        if (k->name && k->topic) n_both++;
    }
    assert_int_equal(n_alias, 4);
    assert_true(n_both >= 10);
    assert_string_equal(ed_config_topic_key_find("retention.ms")->name, "log.retention.ms");
    assert_string_equal(ed_config_topic_key_find("segment.ms")->name, "log.roll.ms");
    assert_string_equal(ed_config_topic_key_find("max.message.bytes")->name, "message.max.bytes");
    assert_null(ed_config_topic_key_find("min.insync.replicas")->name);

    struct ed_config *c = cfg();
    char why[256];
    assert_int_equal(ed_config_set(c, "delete.retention.ms", "5", why, sizeof why), ED_OK);
    assert_int_equal(c->log_cleaner_delete_retention_ms, 5);
    assert_true(ed_config_is_set(c, "log.cleaner.delete.retention.ms"));
    /* typed fields and the getters by name agree */
    assert_int_equal(ed_config_set(c, "mqtt.max.inflight", "7", why, sizeof why), ED_OK);
    assert_int_equal(c->mqtt_max_inflight, 7);
    assert_int_equal(ed_config_int(c, "mqtt.max.inflight"), 7);
    assert_ptr_equal(c->log_dirs, ed_config_str(c, "log.dirs"));
    ed_config_free(c);
}

/* A typo'd key is refused with a hint, in either scope. */
static void test_table_typo(void **state)
{
    (void)state;
    struct ed_config *c = cfg();
    char why[256];
    assert_int_equal(ed_config_set(c, "mqtt.max.inflite", "7", why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, "did you mean 'mqtt.max.inflight'"));
    assert_int_equal(c->mqtt_max_inflight, 64);
    /* a topic key is not a broker key */
    assert_int_equal(ed_config_set(c, "retention.ms", "1", why, sizeof why), ED_ERR_INVAL);
    assert_null(ed_config_topic_key_find("retention.msec"));
    ed_config_free(c);
}

/* docs/operations.md lists every key of the table (a row "| `key` |"). */
static void test_docs_list_every_key(void **state)
{
    (void)state;
    FILE *fp = fopen("docs/operations.md", "rb");
    if (!fp) fail_msg("docs/operations.md not found: run from the project's root");
    static char doc[256 * 1024];
    size_t n = fread(doc, 1, sizeof doc - 1, fp);
    fclose(fp);
    doc[n] = '\0';
    int missing = 0;
    for (int i = 0; i < ed_config_n_keys; i++) {
        const char *names[2] = {ed_config_keys[i].name, ed_config_keys[i].topic};
        for (int j = 0; j < 2; j++) {
            if (!names[j]) continue;
            char row[128];
            snprintf(row, sizeof row, "| `%s` |", names[j]);
            if (!strstr(doc, row)) {
                print_message("docs/operations.md lacks a row for %s\n", names[j]);
                missing++;
            }
        }
    }
    assert_int_equal(missing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set_and_validate),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_unknown_and_ignored),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_listeners),
        cmocka_unit_test(test_listener_protocols),
        cmocka_unit_test(test_listener_keys),
        cmocka_unit_test(test_load_kafka_file),
        cmocka_unit_test(test_load_syntax),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_table_defaults),
        cmocka_unit_test(test_table_synonyms),
        cmocka_unit_test(test_table_typo),
        cmocka_unit_test(test_docs_list_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
