/* libFuzzer target for the user store's file parser: the input is opened
 * as the image of a store file. It either opens whole (and every
 * credential it lists can be looked up) or is refused with ED_ERR_CORRUPT;
 * nothing may crash or leak. */
#include <stdlib.h>

#include "core/users.h"
#include "platform/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    ed_users *u;
    int rc = ed_users_open_image("/nonexistent", data, size, &u);
    if (rc == ED_OK) {
        for (size_t i = 0; i < ed_users_count(u); i++) {
            const char *name;
            size_t nl;
            enum ed_sasl_mech m;
            uint32_t it;
            struct ed_scram_cred c;
            ed_users_get(u, i, &name, &nl, &m, &it);
            if (ed_users_lookup(u, name, nl, m, &c) != ED_OK || c.iterations != it) abort();
        }
        ed_users_close(u);
    } else if (rc != ED_ERR_CORRUPT) {
        abort();
    }
    return 0;
}
