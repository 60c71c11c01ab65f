/* libFuzzer target for the ACL store's file parser: the input is opened as
 * the image of an ACL file. It either opens whole (every binding it lists
 * is valid and matches itself as a filter, and the authorizer answers for
 * it) or is refused with ED_ERR_CORRUPT; nothing may crash or leak. */
#include <stdlib.h>

#include "core/acl.h"
#include "platform/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    ed_acl *a;
    int rc = ed_acl_open_image("/nonexistent", data, size, &a);
    if (rc == ED_OK) {
        for (size_t i = 0; i < ed_acl_count(a); i++) {
            struct ed_acl_binding b;
            const char *why;
            ed_acl_get(a, i, &b);
            if (!ed_acl_binding_ok(&b, &why) || !ed_acl_filter_matches(&b, &b)) abort();
            (void)ed_acl_authorize(a, "User:alice", "127.0.0.1", (enum ed_acl_op)b.op,
                                   (enum ed_acl_res)b.res_type, b.name, b.name_len);
        }
        ed_acl_close(a);
    } else if (rc != ED_ERR_CORRUPT) {
        abort();
    }
    return 0;
}
