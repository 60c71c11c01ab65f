/* Counted allocation on top of the C library's malloc. Each block carries a
 * 16-byte header holding its size so frees can be counted. */
#include "platform/mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16u

static atomic_size_t cur_len;
static atomic_size_t peak_len;
static atomic_size_t limit_len;
static atomic_uint_fast64_t n_allocs;
static atomic_uint_fast64_t n_fails;
static atomic_uint_fast64_t fail_countdown;

static bool admit(size_t len)
{
    uint_fast64_t c = atomic_load(&fail_countdown);
    while (c > 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1)) {
            if (c == 1) return false;
            break;
        }
    }
    size_t lim = atomic_load(&limit_len);
    if (lim && atomic_load(&cur_len) + len > lim) return false;
    return true;
}

static void account(size_t add, size_t sub)
{
    size_t now = atomic_fetch_add(&cur_len, add) + add;
    atomic_fetch_sub(&cur_len, sub);
    now -= sub;
    size_t peak = atomic_load(&peak_len);
    while (now > peak && !atomic_compare_exchange_weak(&peak_len, &peak, now)) {
    }
}

void *ed_malloc(size_t len)
{
    if (len > SIZE_MAX - HDR || !admit(len)) {
        atomic_fetch_add(&n_fails, 1);
        return NULL;
    }
    unsigned char *p = malloc(len + HDR);
    if (!p) {
        atomic_fetch_add(&n_fails, 1);
        return NULL;
    }
    memcpy(p, &len, sizeof len);
    account(len, 0);
    atomic_fetch_add(&n_allocs, 1);
    return p + HDR;
}

void *ed_calloc(size_t n, size_t len)
{
    if (len && n > SIZE_MAX / len) return NULL;
    void *p = ed_malloc(n * len);
    if (p) memset(p, 0, n * len);
    return p;
}

void *ed_realloc(void *p, size_t len)
{
    if (!p) return ed_malloc(len);
    unsigned char *base = (unsigned char *)p - HDR;
    size_t old;
    memcpy(&old, base, sizeof old);
    if (len > SIZE_MAX - HDR || (len > old && !admit(len - old))) {
        atomic_fetch_add(&n_fails, 1);
        return NULL;
    }
    unsigned char *q = realloc(base, len + HDR);
    if (!q) {
        atomic_fetch_add(&n_fails, 1);
        return NULL;
    }
    memcpy(q, &len, sizeof len);
    account(len, old);
    atomic_fetch_add(&n_allocs, 1);
    return q + HDR;
}

void *ed_mem_grow(void *p, int32_t *cap, int32_t max, size_t elem)
{
    if (*cap >= max) return NULL;
    int32_t n = *cap ? (*cap > max / 2 ? max : *cap * 2) : (max < 4 ? max : 4);
    if (elem && (size_t)n > SIZE_MAX / elem) return NULL;
    void *q = ed_realloc(p, (size_t)n * elem);
    if (q) *cap = n;
    return q;
}

void ed_free(void *p)
{
    if (!p) return;
    unsigned char *base = (unsigned char *)p - HDR;
    size_t old;
    memcpy(&old, base, sizeof old);
    atomic_fetch_sub(&cur_len, old);
    free(base);
}

char *ed_strndup(const char *s, size_t len)
{
    char *d = ed_malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *ed_strdup(const char *s)
{
    return ed_strndup(s, strlen(s));
}

void ed_mem_stats_get(struct ed_mem_stats *out)
{
    out->cur_len = atomic_load(&cur_len);
    out->peak_len = atomic_load(&peak_len);
    out->limit_len = atomic_load(&limit_len);
    out->n_allocs = atomic_load(&n_allocs);
    out->n_fails = atomic_load(&n_fails);
}

void ed_mem_set_limit(size_t len)
{
    atomic_store(&limit_len, len);
}

void ed_mem_fail_nth(uint64_t n)
{
    atomic_store(&fail_countdown, n);
}
