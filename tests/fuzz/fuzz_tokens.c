/* libFuzzer target for the bearer-token store's file parser: the input is
 * opened as the image of a token file. It either opens whole (every token
 * it lists has an id of hex digits and a valid user) or is refused with
 * ED_ERR_CORRUPT; verifying a token with each listed id runs the lookup;
 * nothing may crash or leak. */
#include <stdlib.h>
#include <string.h>

#include "core/tokens.h"
#include "core/users.h"
#include "platform/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    ed_tokens *t;
    int rc = ed_tokens_open_image("/nonexistent", data, size, &t);
    if (rc == ED_OK) {
        for (size_t i = 0; i < ed_tokens_count(t); i++) {
            struct ed_token_info ti = ed_tokens_get(t, i);
            if (strspn(ti.id, "0123456789abcdef") != ED_TOKEN_ID_LEN ||
                !ed_users_name_ok(ti.user, ti.user_len))
                abort();
            char tok[ED_TOKEN_LEN + 1], user[256];
            memset(tok, '0', ED_TOKEN_LEN);
            memcpy(tok, "eddy_", 5);
            memcpy(tok + 5, ti.id, ED_TOKEN_ID_LEN);
            tok[5 + ED_TOKEN_ID_LEN] = '_';
            tok[ED_TOKEN_LEN] = '\0';
            (void)ed_tokens_verify(t, tok, ED_TOKEN_LEN, 0, user, sizeof user);
        }
        ed_tokens_close(t);
    } else if (rc != ED_ERR_CORRUPT) {
        abort();
    }
    return 0;
}
