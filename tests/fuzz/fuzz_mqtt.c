/* libFuzzer target for the MQTT listener: arbitrary bytes fed to a
 * connection over the simulated network (tests/unit/tconn.h), over a real storage and topic
 * registry in a temporary folder (every publish routed to one topic). Input: byte 0 picks a prelude
 * (bit 0: a valid MQTT 3.1.1 CONNECT first, bit 1: an MQTT 5 one) and whether a second connection
 * subscribed to '#' watches (bit 2), and whether the topic every publish goes to is deleted after
 * the first chunk, as a Kafka admin may do while publishes gather (bit 3); byte 1 is the chunk size
 * the rest is fed in (0 = all at once). Each run ends with the
 * gathered batches appended, the flush completed and every connection
 * closed. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/mqtt.h"
#include "core/config.h"
#include "core/topics.h"
#include "platform/log.h"
#include "storage/log.h"
#include "tconn.h"

static struct {
    char dir[64];
    struct ed_config *cfg;
    ed_storage *st;
    ed_topics *topics;
    ed_loop *loop;
    ed_broker b;
    ed_mqtt *m;
} G;

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", G.dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_mqtt: could not remove %s\n", G.dir);
}

static void init(void)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    snprintf(G.dir, sizeof G.dir, "/tmp/eddy-fuzz-mqtt-XXXXXX");
    if (!mkdtemp(G.dir)) abort();
    atexit(cleanup);
    char why[256];
    if (ed_config_new(&G.cfg) || ed_config_set(G.cfg, "log.dirs", G.dir, why, sizeof why) ||
        ed_config_set(G.cfg, "mqtt.routes", "#=>fuzz", why, sizeof why) ||
        ed_config_set(G.cfg, "mqtt.max.packet.bytes", "70000", why, sizeof why) ||
        ed_config_set(G.cfg, "mqtt.max.inflight", "4", why, sizeof why) ||
        ed_config_set(G.cfg, "mqtt.retained.max.total.bytes", "1048576", why, sizeof why))
        abort();
    struct ed_storage_config sc;
    ed_config_storage(G.cfg, &sc);
    sc.use_flusher_thread = false;
    sc.disk_free_floor_len = 0;
    if (ed_storage_open(&sc, &G.st) || ed_topics_open(G.st, &sc.log, &G.topics)) abort();
    ed_topics_set_broker_config(G.topics, G.cfg);
    if (ed_plat_loop_new(&G.loop)) abort();
    G.b.loop = G.loop;
    G.b.storage = G.st;
    G.b.topics = G.topics;
    G.b.cfg = G.cfg;
    if (ed_mqtt_new(&G.b, why, sizeof why, &G.m)) abort();
}

static void adopt(void *arg, ed_stream *s)
{
    ed_mqtt_adopt(arg, s);
}

static const uint8_t connect4[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 'a'};
static const uint8_t connect5[] = {0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0, 1, 'b'};
static const uint8_t subscribe4[] = {0x82, 6, 0, 1, 0, 1, '#', 2};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    if (!G.m) init();
    struct tconn *watch = NULL, *c;
    if (data[0] & 4) {
        watch = tc_open(G.loop, adopt, G.m);
        tc_feed(watch, connect4, sizeof connect4);
        tc_feed(watch, subscribe4, sizeof subscribe4);
    }
    c = tc_open(G.loop, adopt, G.m);
    if (data[0] & 1) tc_feed(c, connect4, sizeof connect4);
    if (data[0] & 2) tc_feed(c, connect5, sizeof connect5);
    size_t chunk = data[1] ? data[1] : size;
    for (size_t pos = 2; pos < size;) {
        size_t n = ED_MIN(chunk, size - pos);
        if (tc_feed(c, data + pos, n) != ED_OK) break;
        pos += n;
        if ((data[0] & 8) && pos - 2 == n) {
            ed_topic *t = ed_topics_find(G.topics, "fuzz");
            if (t) ed_topics_delete(G.topics, t);
        }
        tc_output_clear(c);
        if (watch) tc_output_clear(watch);
    }
    ed_mqtt_flush(G.m);
    ed_storage_tick(G.st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(G.st);
    ed_mqtt_shutdown(G.m);
    ed_storage_tick(G.st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(G.st);
    tc_close_all();
    ed_mqtt_reap(G.m);
    return 0;
}
