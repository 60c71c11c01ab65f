/* libFuzzer target for ssl.principal.mapping.rules (core/sslmap.h): the
 * bytes before the first newline are the rules, the rest a certificate
 * subject. Parsing must refuse what it cannot read without crashing or
 * leaking; rules that parse are applied to the subject, whose matching
 * must stay within the step budget and the output buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/sslmap.h"
#include "platform/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *nl = memchr(text, '\n', size);
    const char *subject = "";
    if (nl) {
        *nl = '\0';
        subject = nl + 1;
    }
    ed_sslmap *m = NULL;
    char why[256];
    if (ed_sslmap_new(text, &m, why, sizeof why) == ED_OK) {
        char out[64];
        int rc = ed_sslmap_apply(m, subject, out, sizeof out);
        if (rc == ED_OK && strlen(out) >= sizeof out) abort();
        ed_sslmap_free(m);
    }
    free(text);
    return 0;
}
