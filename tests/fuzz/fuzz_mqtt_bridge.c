/* libFuzzer target for the MQTT pull bridge: arbitrary bytes from its
 * source broker over the simulated network, into a real storage and topic
 * registry in a temporary folder (every message routed to one topic).
 * Byte 0: bit 0 a valid CONNACK first, bit 1 a SUBACK after it, bit 2 MQTT
 * 5 instead of 3.1.1, bit 3 a flush after the first chunk; byte 1 is the
 * chunk size (0 = all at once). Each run appends what is gathered,
 * completes the flush and frees the bridge. */
#define _GNU_SOURCE /* mkdtemp, in fuzz_broker.h */
#include <string.h>

#include "bridge/mqtt_bridge.h"
#include "fuzz_broker.h"
#include "platform/memnet.h"

static struct {
    ed_stream *peer;
    ed_timer t;
    ed_dial_cb cb;
    void *cb_arg;
} S;
static struct ed_config *cfg[2]; /* 3.1.1 and 5 */

static void dialled(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ED_UNUSED(arg);
    S.cb(S.cb_arg, ED_OK);
}

static int dial_mem(void *arg, ed_loop *l, const char *host, uint16_t port, ed_dial_cb cb,
                    void *cb_arg, ed_stream **out)
{
    ED_UNUSED(arg);
    ED_UNUSED(host);
    ED_UNUSED(port);
    ed_plat_stream_close(S.peer); /* a reconnect: the old source end goes */
    if (ed_memnet_pair(l, 1u << 16, "source:1883", "eddy:40000", out, &S.peer) != ED_OK)
        return ED_ERR_NOMEM;
    S.cb = cb;
    S.cb_arg = cb_arg;
    ed_plat_timer_start(l, &S.t, 0, dialled, NULL);
    return ED_OK;
}

static void init(void)
{
    static const char *const sets[] = {"mqtt.routes",
                                       "#=>fuzz",
                                       "mqtt.max.packet.bytes",
                                       "70000",
                                       "mqtt.bridge.f.address",
                                       "source:1883",
                                       "mqtt.bridge.f.topics",
                                       "#:2",
                                       "mqtt.bridge.f.max.inflight",
                                       "4",
                                       "eddy.flush.gather.ms",
                                       "0"};
    fuzz_broker_open("mqtt-bridge", sets, 12);
    cfg[0] = FB.cfg;
    char why[256];
    if (ed_config_new(&cfg[1])) abort();
    for (size_t i = 0; i + 1 < ED_ARRAY_LEN(sets); i += 2)
        if (ed_config_set(cfg[1], sets[i], sets[i + 1], why, sizeof why)) abort();
    if (ed_config_set(cfg[1], "log.dirs", FB.dir, why, sizeof why) ||
        ed_config_set(cfg[1], "mqtt.bridge.f.protocol", "5", why, sizeof why))
        abort();
}

static void pump(void)
{
    for (int i = 0; i < 4; i++)
        ed_plat_loop_run_once(FB.loop, 0);
    uint8_t sink[4096];
    size_t n = 0;
    while (S.peer && ed_memnet_pending(S.peer) &&
           ed_plat_stream_read(S.peer, sink, sizeof sink, &n) == ED_OK)
        ;
}

static void say(const uint8_t *p, size_t n)
{
    struct ed_iovec v = {(void *)(uintptr_t)p, n};
    size_t k = 0;
    if (S.peer) ed_plat_stream_writev(S.peer, &v, 1, &k);
    pump();
}

static void sync_disk(ed_mqtt_bridges *br)
{
    ed_mqtt_bridge_flush(br);
    ed_storage_tick(FB.st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(FB.st);
    pump();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    if (!cfg[0]) init();
    FB.b.cfg = cfg[(data[0] & 4) ? 1 : 0];
    ed_mqtt_bridges *br = NULL;
    char why[256];
    if (ed_mqtt_bridge_new(&FB.b, dial_mem, NULL, &br, why, sizeof why) || !br) abort();
    pump();
    if (data[0] & 1) say((const uint8_t *)"\x20\x02\x00\x00", 4);
    if (data[0] & 2) say((const uint8_t *)"\x90\x03\x00\x01\x02", 5);
    size_t chunk = data[1] ? data[1] : size;
    for (size_t pos = 2; pos < size;) {
        size_t n = ED_MIN(chunk, size - pos);
        say(data + pos, n);
        pos += n;
        if ((data[0] & 8) && pos - 2 == n) sync_disk(br);
    }
    sync_disk(br);
    ed_mqtt_bridge_free(br);
    ed_plat_timer_stop(FB.loop, &S.t);
    ed_plat_stream_close(S.peer);
    S.peer = NULL;
    pump();
    return 0;
}
