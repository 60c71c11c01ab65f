/* libFuzzer target for the table-driven Kafka message codec: byte 0 picks
 * an API of the schema, byte 1 its version within the described range,
 * byte 2 request, response or header; the rest is decoded. Whatever
 * decodes must re-encode, decode again and re-encode to the same bytes
 * (the first encoding drops unknown tagged fields and normalises bools). */
#include <stdlib.h>
#include <string.h>

#include "core/kafka/msg_gen.h"
#include "platform/log.h"

static _Alignas(max_align_t) uint8_t arena1[1 << 20], arena2[1 << 20];
static _Alignas(max_align_t) uint8_t msg1[4096], msg2[4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    const struct ed_kmsg_api *api = &ed_kmsg_apis[data[0] % ED_KMSG_N_APIS];
    int16_t v = (int16_t)(api->min + data[1] % (api->max - api->min + 1));
    bool flex = ed_kschema_flexible(api, v);
    const struct ed_kstruct *s;
    switch (data[2] % 4) {
    case 0:
        s = api->request;
        break;
    case 1:
        s = api->response;
        break;
    case 2:
        s = &ed_kmsg_request_header_desc;
        v = ed_kschema_request_header_version(api, v);
        flex = v >= 2;
        break;
    default:
        s = &ed_kmsg_response_header_desc;
        v = ed_kschema_response_header_version(api, v);
        flex = v >= 1;
        break;
    }
    if (s->size > sizeof msg1) abort();
    ed_krd r;
    ed_krd_init(&r, data + 3, size - 3);
    ed_karena a;
    ed_karena_init(&a, arena1, sizeof arena1);
    if (ed_kschema_decode(s, v, flex, &r, &a, msg1) != ED_OK) return 0;
    ed_kwr w1, w2;
    ed_kwr_init(&w1, 1 << 22);
    ed_kwr_init(&w2, 1 << 22);
    ed_kschema_encode(s, v, flex, &w1, msg1);
    if (!ed_kwr_ok(&w1)) abort(); /* whatever decoded is encodable */
    static const uint8_t none[1]; /* an empty encoding has no buffer */
    ed_krd_init(&r, w1.len ? w1.buf : none, w1.len);
    ed_karena_init(&a, arena2, sizeof arena2);
    if (ed_kschema_decode(s, v, flex, &r, &a, msg2) != ED_OK || ed_krd_left(&r)) abort();
    ed_kschema_encode(s, v, flex, &w2, msg2);
    if (!ed_kwr_ok(&w2) || w1.len != w2.len || (w1.len && memcmp(w1.buf, w2.buf, w1.len))) abort();
    ed_kwr_free(&w1);
    ed_kwr_free(&w2);
    return 0;
}
