/* A counted string pointing into someone else's bytes (a name inside a
 * request frame or a packet; len -1 = null): a neutral type the wire codecs
 * and the broker domain share, so the domain needs no codec header. */
#ifndef ED_CORE_KSTR_H
#define ED_CORE_KSTR_H

#include "platform/base.h"

typedef struct ed_kstr {
    const char *p;
    int32_t len;
} ed_kstr;

#endif
