/* libFuzzer target for the records of __mqtt_sessions as read back from
 * disk: persistent MQTT session records (bridge/mqtt_session.h) and
 * durable share group records (bridge/mqtt_group.h); each input is tried
 * as both. A record is either refused with a reason and nothing kept, or
 * decoded into one that encodes back to exactly the same bytes. Nothing
 * may crash or leak. */
#include <stdlib.h>
#include <string.h>

#include "bridge/mqtt_group.h"
#include "bridge/mqtt_session.h"
#include "platform/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether n bytes re-encoded by enc are data itself. */
static bool same(const uint8_t *data, size_t size, size_t n,
                 size_t (*enc)(const void *, uint8_t *, size_t), const void *r)
{
    if (n != size) return false;
    uint8_t *back = ed_malloc(n ? n : 1);
    if (!back) return true;
    bool ok = enc(r, back, n) == n && memcmp(back, data, n) == 0;
    ed_free(back);
    return ok;
}

static size_t enc_session(const void *r, uint8_t *out, size_t cap)
{
    return ed_mqtt_session_encode(r, out, cap);
}

static size_t enc_group(const void *r, uint8_t *out, size_t cap)
{
    return ed_mqtt_group_encode(r, out, cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ed_mqtt_sess_rec r;
    const char *why = NULL;
    if (ed_mqtt_session_decode(data, size, &r, &why) != ED_OK) {
        if (!why || r.subs || r.pos || r.in || r.out) abort();
    } else {
        if (!same(data, size, ed_mqtt_session_len(&r), enc_session, &r)) abort();
        ed_mqtt_session_free(&r);
    }
    struct ed_mqtt_grp_rec g;
    why = NULL;
    if (ed_mqtt_group_decode(data, size, &g, &why) != ED_OK) {
        if (!why || g.members || g.pos || g.fly) abort();
    } else {
        if (!same(data, size, ed_mqtt_group_len(&g), enc_group, &g)) abort();
        ed_mqtt_group_free(&g);
    }
    return 0;
}
