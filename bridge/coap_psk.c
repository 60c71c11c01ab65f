/* The pre-shared keys file of coaps:// listeners: reading, checking and
 * looking identities up (see coap_psk.h). */
#include "bridge/coap_psk.h"
#include "platform/mem.h"
#include "platform/platform.h"

#include <stdio.h>
#include <string.h>

struct psk {
    uint8_t identity[ED_COAP_PSK_IDENTITY_MAX];
    uint8_t key[ED_COAP_PSK_KEY_MAX];
    uint8_t id_len, key_len;
};

struct ed_coap_psks {
    struct psk *e;
    int n, cap;
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The key of one line's text after ':' into e: NULL, or what is wrong. */
static const char *parse_key(const char *k, size_t n, struct psk *e)
{
    if (n > 2 && k[0] == '0' && (k[1] == 'x' || k[1] == 'X')) {
        k += 2;
        n -= 2;
        if (n % 2 != 0) return "a hex key (0x...) needs an even number of digits";
        if (n / 2 > ED_COAP_PSK_KEY_MAX) return "key longer than 64 bytes";
        for (size_t i = 0; i < n; i += 2) {
            int hi = hexval(k[i]), lo = hexval(k[i + 1]);
            if (hi < 0 || lo < 0) return "a hex key (0x...) holds a character that is no digit";
            e->key[i / 2] = (uint8_t)(hi << 4 | lo);
        }
        e->key_len = (uint8_t)(n / 2);
        return NULL;
    }
    if (n == 0) return "empty key";
    if (n > ED_COAP_PSK_KEY_MAX) return "key longer than 64 bytes";
    memcpy(e->key, k, n);
    e->key_len = (uint8_t)n;
    return NULL;
}

/* One line (no end of line) into e: NULL, or what is wrong. */
static const char *parse_line(const char *p, size_t n, struct psk *e)
{
    const char *colon = memchr(p, ':', n);
    if (!colon) return "no ':' between identity and key";
    size_t id_len = (size_t)(colon - p);
    if (id_len == 0) return "empty identity";
    if (id_len > ED_COAP_PSK_IDENTITY_MAX) return "identity longer than 64 bytes";
    for (size_t i = 0; i < id_len; i++)
        if (p[i] <= ' ' || p[i] > '~') return "identity holds a blank or a non-ASCII byte";
    memcpy(e->identity, p, id_len);
    e->id_len = (uint8_t)id_len;
    return parse_key(colon + 1, n - id_len - 1, e);
}

static struct psk *lookup(const ed_coap_psks *t, const uint8_t *id, size_t len)
{
    for (int i = 0; i < t->n; i++)
        if (t->e[i].id_len == len && memcmp(t->e[i].identity, id, len) == 0) return &t->e[i];
    return NULL;
}

static int add(ed_coap_psks *t, const struct psk *e)
{
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        struct psk *ne = ed_realloc(t->e, (size_t)cap * sizeof *ne);
        if (!ne) return ED_ERR_NOMEM;
        t->e = ne;
        t->cap = cap;
    }
    t->e[t->n++] = *e;
    return ED_OK;
}

int ed_coap_psk_parse(const char *text, size_t len, ed_coap_psks **out, char *why, size_t why_len)
{
    ed_coap_psks *t = ed_calloc(1, sizeof *t);
    if (!t) return ED_ERR_NOMEM;
    size_t pos = 0;
    int line = 0;
    while (pos < len) {
        const char *p = text + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;
        pos += n + (nl != NULL);
        line++;
        if (n > 0 && p[n - 1] == '\r') n--;
        if (n == 0 || p[0] == '#') continue;
        struct psk e;
        const char *bad = parse_line(p, n, &e);
        if (!bad && lookup(t, e.identity, e.id_len)) bad = "identity named twice";
        if (bad) {
            snprintf(why, why_len, "line %d: %s", line, bad);
            ed_coap_psk_free(t);
            return ED_ERR_INVAL;
        }
        if (add(t, &e) != ED_OK) {
            ed_coap_psk_free(t);
            return ED_ERR_NOMEM;
        }
    }
    *out = t;
    return ED_OK;
}

int ed_coap_psk_load(const char *path, ed_coap_psks **out, char *why, size_t why_len)
{
    int rc = ed_plat_path_private(path);
    if (rc == ED_ERR_PERM) {
        snprintf(why, why_len, "%s is readable or writable by group or others (chmod 600 it)",
                 path);
        return ED_ERR_PERM;
    }
    uint64_t size = 0;
    if (rc == ED_OK) rc = ed_plat_path_stat(path, NULL, &size);
    if (rc != ED_OK) {
        snprintf(why, why_len, "%s: %s", path, ed_strerror(rc));
        return rc;
    }
    if (size > ED_COAP_PSK_FILE_MAX) {
        snprintf(why, why_len, "%s is larger than 1 MiB", path);
        return ED_ERR_TOOBIG;
    }
    char *buf = ed_malloc(size ? (size_t)size : 1);
    if (!buf) return ED_ERR_NOMEM;
    ed_file *f = NULL;
    size_t got = 0;
    rc = ed_plat_file_open(path, ED_FILE_READ, &f);
    if (rc == ED_OK) rc = ed_plat_file_pread(f, buf, (size_t)size, 0, &got);
    ed_plat_file_close(f);
    if (rc != ED_OK) {
        snprintf(why, why_len, "%s: %s", path, ed_strerror(rc));
        ed_free(buf);
        return rc;
    }
    char inner[128];
    rc = ed_coap_psk_parse(buf, got, out, inner, sizeof inner);
    ed_free(buf);
    if (rc == ED_ERR_INVAL) snprintf(why, why_len, "%s, %s", path, inner);
    return rc;
}

bool ed_coap_psk_find(const ed_coap_psks *t, const uint8_t *identity, size_t len,
                      const uint8_t **key, size_t *key_len)
{
    const struct psk *e = t ? lookup(t, identity, len) : NULL;
    if (!e) return false;
    *key = e->key;
    *key_len = e->key_len;
    return true;
}

int ed_coap_psk_count(const ed_coap_psks *t)
{
    return t ? t->n : 0;
}

void ed_coap_psk_free(ed_coap_psks *t)
{
    if (!t) return;
    ed_free(t->e);
    ed_free(t);
}
