/* libFuzzer target for persistent MQTT session records
 * (bridge/mqtt_session.h), as read back from __mqtt_sessions: a record is
 * either refused with a reason and nothing kept, or decoded into one that
 * encodes back to exactly the same bytes. Nothing may crash or leak. */
#include <stdlib.h>
#include <string.h>

#include "bridge/mqtt_session.h"
#include "platform/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ed_mqtt_sess_rec r;
    const char *why = NULL;
    int rc = ed_mqtt_session_decode(data, size, &r, &why);
    if (rc != ED_OK) {
        if (!why || r.subs || r.pos || r.in || r.out) abort();
        return 0;
    }
    size_t n = ed_mqtt_session_len(&r);
    uint8_t *back = ed_malloc(n ? n : 1);
    if (back) {
        if (n != size || ed_mqtt_session_encode(&r, back, n) != n || memcmp(back, data, n) != 0)
            abort();
        ed_free(back);
    }
    ed_mqtt_session_free(&r);
    return 0;
}
