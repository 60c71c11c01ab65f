/* The pre-shared keys of coaps:// listeners (DTLS-PSK): a file of lines
 * "identity:key" read whole at start, each identity a client (and its
 * principal User:identity for the ACLs). A key is text, or hex after
 * "0x"; blank lines and lines starting with '#' are skipped. The file must
 * not be readable by group or others; anything wrong in it refuses all of
 * it, naming the line (never a key). */
#ifndef ED_BRIDGE_COAP_PSK_H
#define ED_BRIDGE_COAP_PSK_H

#include "platform/base.h"
#include "platform/coap.h"

/* Largest file read. */
#define ED_COAP_PSK_FILE_MAX (1024 * 1024)

typedef struct ed_coap_psks ed_coap_psks;

/* The keys of text (len bytes): ED_OK with *out, or ED_ERR_INVAL with why
 * naming the line (ED_ERR_NOMEM). */
int ed_coap_psk_parse(const char *text, size_t len, ed_coap_psks **out, char *why, size_t why_len);
/* The keys of the file at path: ED_OK with *out, or an error with why
 * (missing, readable by others, too large, a bad line). */
int ed_coap_psk_load(const char *path, ed_coap_psks **out, char *why, size_t why_len);
/* The key of identity (len bytes): false when no line names it. */
bool ed_coap_psk_find(const ed_coap_psks *t, const uint8_t *identity, size_t len,
                      const uint8_t **key, size_t *key_len);
int ed_coap_psk_count(const ed_coap_psks *t);
void ed_coap_psk_free(ed_coap_psks *t);

#endif
