/* Unit tests of letting go of start-up code pages: the read-only pages of
 * the program and its libraries leave the resident set, and code, constant
 * tables, relocated pointers and written data all still work afterwards. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/base.h"
#include "platform/platform.h"
#include "storage/crc32c.h"

/* The file-backed part of this process's resident set, in KiB (Linux). */
static long rss_file_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "RssFile:", 8) == 0) kib = strtol(line + 8, NULL, 10);
    fclose(f);
    assert_true(kib >= 0);
    return kib;
}

static void test_read_only_pages_leave_the_resident_set(void **state)
{
    (void)state;
    long before = rss_file_kib();
    size_t released = ed_plat_mem_release_code();
    long after = rss_file_kib();
    assert_true(released > 0);
    /* what reading the figure and returning here fault back in is a few
     * pages; start-up (cmocka, the sanitizers, libc) touched far more */
    assert_true(after < before);
}

/* Relocated pointers (RELRO), written data and constants stay intact. */
static const char *const names[] = {"alpha", "beta", "gamma"};
static int written = 41;

static void test_everything_works_after_release(void **state)
{
    (void)state;
    static const char nine[] = "123456789";
    uint32_t crc = ed_crc32c_sw(0, nine, 9);
    written++;
    char before[64];
    snprintf(before, sizeof before, "%s", ed_strerror(ED_ERR_CORRUPT));
    ed_plat_mem_release_code();
    assert_int_equal(written, 42);
    assert_string_equal(names[1], "beta");
    assert_int_equal(ed_crc32c_sw(0, nine, 9), crc);
    assert_int_equal(crc, 0xE3069283u); /* CRC-32C's check value */
    assert_string_equal(ed_strerror(ED_ERR_CORRUPT), before);
    char *p = malloc(100);
    assert_non_null(p);
    snprintf(p, 100, "%d-%s", written, names[2]);
    assert_string_equal(p, "42-gamma");
    free(p);
    ed_plat_mem_release_code(); /* twice is harmless */
    assert_int_equal(ed_crc32c_sw(0, nine, 9), crc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_only_pages_leave_the_resident_set),
        cmocka_unit_test(test_everything_works_after_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
