/* libFuzzer target for the MQTT listener: arbitrary bytes fed to a
 * connection over the simulated network (tests/unit/tconn.h), over a real storage and topic
 * registry in a temporary folder (every publish routed to one topic). Input: byte 0 picks a prelude
 * (bit 0: a valid MQTT 3.1.1 CONNECT first, bit 1: an MQTT 5 one) and whether a second connection
 * subscribed to '#' watches (bit 2), and whether the topic every publish goes to is deleted after
 * the first chunk, as a Kafka admin may do while publishes gather (bit 3); byte 1 is the chunk size
 * the rest is fed in (0 = all at once). Each run ends with the
 * gathered batches appended, the flush completed and every connection
 * closed. */
#define _GNU_SOURCE /* mkdtemp, in fuzz_broker.h */
#include <string.h>

#include "bridge/mqtt.h"
#include "fuzz_broker.h"
#include "tconn.h"

static ed_mqtt *M;

static void init(void)
{
    static const char *const sets[] = {
        "mqtt.routes",       "#=>fuzz", "mqtt.max.packet.bytes",         "70000",
        "mqtt.max.inflight", "4",       "mqtt.retained.max.total.bytes", "1048576"};
    char why[256];
    if (ed_mqtt_new(fuzz_broker_open("mqtt", sets, 8), why, sizeof why, &M)) abort();
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
    if (!M) init();
    struct tconn *watch = NULL, *c;
    if (data[0] & 4) {
        watch = tc_open(FB.loop, adopt, M);
        tc_feed(watch, connect4, sizeof connect4);
        tc_feed(watch, subscribe4, sizeof subscribe4);
    }
    c = tc_open(FB.loop, adopt, M);
    if (data[0] & 1) tc_feed(c, connect4, sizeof connect4);
    if (data[0] & 2) tc_feed(c, connect5, sizeof connect5);
    size_t chunk = data[1] ? data[1] : size;
    for (size_t pos = 2; pos < size;) {
        size_t n = ED_MIN(chunk, size - pos);
        if (tc_feed(c, data + pos, n) != ED_OK) break;
        pos += n;
        if ((data[0] & 8) && pos - 2 == n) {
            ed_topic *t = ed_topics_find(FB.topics, "fuzz");
            if (t) ed_topics_delete(FB.topics, t);
        }
        tc_output_clear(c);
        if (watch) tc_output_clear(watch);
    }
    ed_mqtt_flush(M);
    ed_storage_tick(FB.st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(FB.st);
    ed_mqtt_shutdown(M);
    ed_storage_tick(FB.st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(FB.st);
    tc_close_all();
    ed_mqtt_reap(M);
    return 0;
}
