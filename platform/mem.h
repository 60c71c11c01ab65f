/* Counted allocation: every heap byte of Eddy goes through here, so usage and
 * high-water marks are known, a limit can be enforced and the Nth allocation
 * can be made to fail in tests. Thread-safe. */
#ifndef ED_PLATFORM_MEM_H
#define ED_PLATFORM_MEM_H

#include "platform/base.h"

void *ed_malloc(size_t len);
void *ed_calloc(size_t n, size_t len);
void *ed_realloc(void *p, size_t len); /* on failure p is untouched */
void ed_free(void *p);                 /* NULL is a no-op */
/* Grows the array p of *cap elements of elem bytes: to 4 elements first,
 * then twice as many, never above max. Returns the new array and updates
 * *cap; NULL when *cap is already max or memory is short (p and *cap are
 * untouched). */
void *ed_mem_grow(void *p, int32_t *cap, int32_t max, size_t elem);
char *ed_strdup(const char *s);
char *ed_strndup(const char *s, size_t len);

struct ed_mem_stats {
    size_t cur_len;    /* bytes in use now */
    size_t peak_len;   /* high-water mark */
    size_t limit_len;  /* 0 = unlimited */
    uint64_t n_allocs; /* successful allocations */
    uint64_t n_fails;  /* refused or failed allocations */
};
void ed_mem_stats_get(struct ed_mem_stats *out);
/* Refuse allocations that would take cur_len above limit_len (0 = none). */
void ed_mem_set_limit(size_t limit_len);
/* Fault injection: the n-th allocation from now fails (n >= 1); 0 disables. */
void ed_mem_fail_nth(uint64_t n);

#endif
