/* libFuzzer target for the parser of the mirror's gap file (mirror.gaps):
 * the input is the file's image. It either parses whole, every range
 * well formed, or is refused with ED_ERR_CORRUPT; nothing may crash or
 * leak. */
#include <stdlib.h>
#include <string.h>

#include "core/kafka/mirror_int.h"
#include "platform/log.h"
#include "platform/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    struct ed_mirror_gap *g = NULL;
    int n = 0;
    int rc = ed_mirror_gap_parse("mirror.gaps", data, size, &g, &n);
    if (rc == ED_OK) {
        for (int i = 0; i < n; i++)
            if (g[i].first < 0 || g[i].last < g[i].first || g[i].n_below > g[i].n_records ||
                strlen(g[i].topic) > ED_TOPIC_NAME_MAX)
                abort();
        ed_free(g);
    } else if (rc != ED_ERR_CORRUPT && rc != ED_ERR_NOMEM) {
        abort();
    }
    return 0;
}
