/* TLS streams in a build without TLS (WITH_TLS=0): every configuration is
 * refused with a reason, so callers need no build switches of their own. */
#include "platform/tls.h"

#include <stdio.h>

int ed_plat_tls_conf_new(const struct ed_tls_settings *st, ed_tls_conf **out, char *why,
                         size_t why_len)
{
    ED_UNUSED(st);
    *out = NULL;
    if (why && why_len) snprintf(why, why_len, "this eddy was built without TLS (WITH_TLS=0)");
    return ED_ERR_UNSUPPORTED;
}

void ed_plat_tls_conf_ref(ed_tls_conf *c)
{
    ED_UNUSED(c);
}

void ed_plat_tls_conf_unref(ed_tls_conf *c)
{
    ED_UNUSED(c);
}
