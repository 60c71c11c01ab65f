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
            struct ed_scram_cred c;
            struct ed_user_info ui = ed_users_get(u, i);
            if (ed_users_lookup(u, ui.name, ui.name_len, ui.mech, &c) != ED_OK ||
                c.iterations != ui.iterations)
                abort();
        }
        ed_users_close(u);
    } else if (rc != ED_ERR_CORRUPT) {
        abort();
    }
    return 0;
}
