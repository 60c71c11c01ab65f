/* libFuzzer target for the Kafka client's response decoders (bytes from a
 * broker): byte 0 picks the API, byte 1 the version within the client's
 * range, the rest is the response body. Every decoder must reject or
 * accept without crashing or leaking. */
#include <stdlib.h>
#include <string.h>

#include "core/kafka/kclient.h"
#include "platform/log.h"

static const int16_t keys[] = {ED_KMSG_API_VERSIONS,
                               ED_KMSG_METADATA,
                               ED_KMSG_CREATE_TOPICS,
                               ED_KMSG_DELETE_TOPICS,
                               ED_KMSG_CREATE_PARTITIONS,
                               ED_KMSG_DESCRIBE_CONFIGS,
                               ED_KMSG_INCREMENTAL_ALTER_CONFIGS,
                               ED_KMSG_PRODUCE,
                               ED_KMSG_FETCH,
                               ED_KMSG_LIST_OFFSETS};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    int16_t key = keys[data[0] % (sizeof keys / sizeof keys[0])];
    int16_t mn, mx;
    if (!ed_kc_api_range(key, &mn, &mx)) abort();
    int16_t v = (int16_t)(mn + data[1] % (mx - mn + 1));
    ed_krd r;
    ed_krd_init(&r, data + 2, size - 2);
    union {
        struct ed_kc_api_versions av;
        struct ed_kc_metadata md;
        struct ed_kc_create_topics ct;
        struct ed_kc_items it;
        struct ed_kc_describe_configs dc;
        struct ed_kc_produce pr;
        struct ed_kc_fetch fe;
        struct ed_kc_list_offsets lo;
    } u;
    memset(&u, 0, sizeof u);
    struct ed_kc_mem *mem = NULL;
    switch (key) {
    case ED_KMSG_API_VERSIONS:
        ed_kc_dec_api_versions(&r, v, &u.av);
        mem = &u.av.mem;
        break;
    case ED_KMSG_METADATA:
        ed_kc_dec_metadata(&r, v, &u.md);
        mem = &u.md.mem;
        break;
    case ED_KMSG_CREATE_TOPICS:
        ed_kc_dec_create_topics(&r, v, &u.ct);
        mem = &u.ct.mem;
        break;
    case ED_KMSG_DELETE_TOPICS:
        ed_kc_dec_delete_topics(&r, v, &u.it);
        mem = &u.it.mem;
        break;
    case ED_KMSG_CREATE_PARTITIONS:
        ed_kc_dec_create_partitions(&r, v, &u.it);
        mem = &u.it.mem;
        break;
    case ED_KMSG_DESCRIBE_CONFIGS:
        ed_kc_dec_describe_configs(&r, v, &u.dc);
        mem = &u.dc.mem;
        break;
    case ED_KMSG_INCREMENTAL_ALTER_CONFIGS:
        ed_kc_dec_alter_configs(&r, key, v, &u.it);
        mem = &u.it.mem;
        break;
    case ED_KMSG_PRODUCE:
        ed_kc_dec_produce(&r, v, &u.pr);
        mem = &u.pr.mem;
        break;
    case ED_KMSG_FETCH:
        ed_kc_dec_fetch(&r, v, &u.fe);
        mem = &u.fe.mem;
        break;
    default:
        ed_kc_dec_list_offsets(&r, v, &u.lo);
        mem = &u.lo.mem;
        break;
    }
    ed_kc_free(mem);
    return 0;
}
