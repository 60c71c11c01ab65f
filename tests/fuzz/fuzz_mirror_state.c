/* libFuzzer target for the parser of the mirror's local marks file
 * (mirror.state, versions 1 and 2): the input is the file's image. It
 * either parses whole, every entry well formed, or is refused with
 * ED_ERR_CORRUPT and nothing returned; nothing may crash or leak. */
#include <stdlib.h>
#include <string.h>

#include "core/kafka/mirror_int.h"
#include "platform/log.h"
#include "platform/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    struct ed_mirror_state_entry *e = NULL;
    uint32_t n = 0;
    char why[128];
    int rc = ed_mirror_state_parse(data, size, &e, &n, why, sizeof why);
    if (rc == ED_OK) {
        for (uint32_t i = 0; i < n; i++)
            if (e[i].partition < 0 || e[i].map_n < 0 || e[i].remap_from < -1 ||
                strlen(e[i].topic) == 0 || strlen(e[i].topic) > ED_TOPIC_NAME_MAX)
                abort();
        ed_free(e);
    } else if (rc != ED_ERR_CORRUPT && rc != ED_ERR_NOMEM) {
        abort();
    } else if (e || n) {
        abort();
    }
    return 0;
}
