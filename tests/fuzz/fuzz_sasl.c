/* libFuzzer target for the SASL mechanisms: byte 0 picks the side and
 * mechanism; the rest is one or two messages separated by the first '\n'
 * (after the separator: the second message). Server: a PLAIN message, or a
 * SCRAM client-first then client-final against a store with user "u"
 * (password "p"). Client: a SCRAM server-first then server-final. Nothing
 * may crash, read out of bounds or leak, and a server that says DONE must
 * name a user of the store. */
#include <stdlib.h>
#include <string.h>

#include "core/sasl.h"
#include "platform/log.h"

static struct ed_scram_cred cred[2];
static bool ready;

static int lookup(void *arg, const char *name, size_t name_len, enum ed_sasl_mech m,
                  struct ed_scram_cred *out)
{
    (void)arg;
    if (name_len != 1 || name[0] != 'u') return ED_ERR_NOENT;
    *out = cred[m == ED_SASL_SCRAM_SHA_512];
    return ED_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    if (!ready) {
        static const uint8_t salt[4] = {1, 2, 3, 4};
        ed_scram_cred_make(ED_SASL_SCRAM_SHA_256, "p", 1, salt, 4, 4096, &cred[0]);
        ed_scram_cred_make(ED_SASL_SCRAM_SHA_512, "p", 1, salt, 4, 4096, &cred[1]);
        ready = true;
    }
    static const enum ed_sasl_mech ms[] = {ED_SASL_PLAIN, ED_SASL_SCRAM_SHA_256,
                                           ED_SASL_SCRAM_SHA_512};
    enum ed_sasl_mech m = ms[data[0] % 3];
    bool client = (data[0] / 3) % 2 == 1;
    const uint8_t *a = data + 1;
    size_t a_len = size - 1;
    const uint8_t *b = NULL;
    size_t b_len = 0;
    const uint8_t *nl = memchr(a, '\n', a_len);
    if (nl) {
        b = nl + 1;
        b_len = a_len - (size_t)(b - a);
        a_len = (size_t)(nl - a);
    }
    const uint8_t *out;
    size_t out_len;
    if (!client) {
        ed_sasl_server *s;
        if (ed_sasl_server_new(m, lookup, NULL, &s)) return 0;
        ed_sasl_server_set_nonce(s, "SNONCE");
        enum ed_sasl_status st = ed_sasl_server_step(s, a, a_len, &out, &out_len);
        if (st == ED_SASL_CONTINUE && b) st = ed_sasl_server_step(s, b, b_len, &out, &out_len);
        if (st == ED_SASL_DONE && strcmp(ed_sasl_server_user(s), "u") != 0) abort();
        ed_sasl_server_free(s);
        return 0;
    }
    if (m == ED_SASL_PLAIN) return 0;
    ed_sasl_client *c;
    if (ed_sasl_client_new(m, "u", "p", &c)) return 0;
    ed_sasl_client_set_nonce(c, "CNONCE");
    enum ed_sasl_status st = ed_sasl_client_step(c, NULL, 0, &out, &out_len);
    if (st == ED_SASL_CONTINUE) st = ed_sasl_client_step(c, a, a_len, &out, &out_len);
    if (st == ED_SASL_CONTINUE && b) ed_sasl_client_step(c, b, b_len, &out, &out_len);
    ed_sasl_client_free(c);
    return 0;
}
