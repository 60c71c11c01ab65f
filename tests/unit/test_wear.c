/* Flash wear accounting (core/wear.c): the rate and life-left estimate;
 * the status file counts this process's writes and adds them up across
 * restarts, keeping the first start; a damaged file restarts the count
 * instead of failing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/wear.h"
#include "log_testutil.h"
#include "platform/mem.h"
#include "platform/platform.h"

static void test_estimate(void **state)
{
    (void)state;
    struct ed_wear_status s = {.written_len = 1000000000000ull,  /* 1 TB so far */
                               .run_written_len = 3600000000ull, /* 3.6 GB in an hour */
                               .run_start_ms = 1000,
                               .updated_ms = 1000 + 3600000,
                               .endurance_len = 10000000000000ull};
    double per_hour, days;
    ed_wear_estimate(&s, &per_hour, &days);
    assert_true(per_hour > 3.599e9 && per_hour < 3.601e9);
    /* 9 TB left at 86.4 GB a day */
    assert_true(days > 104.1 && days < 104.2);
    s.endurance_len = 0;
    ed_wear_estimate(&s, &per_hour, &days);
    assert_true(days < 0);
    s.updated_ms = s.run_start_ms;
    ed_wear_estimate(&s, &per_hour, &days);
    assert_true(per_hour < 0 && days < 0);
    assert_int_equal(ed_wear_parse("{\"written_bytes\": 5}", &s), ED_ERR_CORRUPT);
}

/* Dirties len bytes of page cache in dir. */
static void write_some(const char *dir, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/junk", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    char *buf = calloc(1, len);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(buf);
    remove(path);
}

static void test_counts_across_restarts(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    ed_wear *w = NULL;
    assert_int_equal(ed_wear_open(dir, 5000, 1000, &w), ED_OK);
    write_some(dir, 1 << 20);
    ed_wear_tick(w, 2000); /* not due: nothing written yet */
    struct ed_wear_status s;
    assert_int_equal(ed_wear_read(dir, &s), ED_ERR_NOENT);
    ed_wear_tick(w, 1000 + ED_WEAR_SAVE_MS);
    assert_int_equal(ed_wear_read(dir, &s), ED_OK);
    assert_true(s.written_len >= 1 << 20);
    ed_wear_close(w, 1000 + ED_WEAR_SAVE_MS + 5);
    assert_int_equal(ed_wear_read(dir, &s), ED_OK);
    uint64_t first = s.written_len;
    assert_int_equal(s.since_ms, 1000);
    assert_int_equal(s.run_start_ms, 1000);
    assert_int_equal(s.endurance_len, 5000);

    /* The next run adds to the total and keeps the first start. */
    assert_int_equal(ed_wear_open(dir, 5000, 900000000, &w), ED_OK);
    write_some(dir, 1 << 20);
    ed_wear_close(w, 900000100);
    assert_int_equal(ed_wear_read(dir, &s), ED_OK);
    assert_true(s.written_len >= first + (1 << 20));
    assert_true(s.run_written_len >= 1 << 20 && s.run_written_len <= s.written_len - first);
    assert_int_equal(s.since_ms, 1000);
    assert_int_equal(s.run_start_ms, 900000000);
    assert_int_equal(s.updated_ms, 900000100);

    /* A damaged file: the count starts again. */
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, ED_WEAR_FILE);
    FILE *f = fopen(path, "wb");
    fputs("{\"written_bytes\": 12", f);
    fclose(f);
    assert_int_equal(ed_wear_open(dir, 0, 5, &w), ED_OK);
    ed_wear_close(w, 6);
    assert_int_equal(ed_wear_read(dir, &s), ED_OK);
    assert_int_equal(s.since_ms, 5);
    assert_true(s.written_len < first);
    ed_wear_close(NULL, 0);
    lt_rmtree(dir);
    free(dir);
}

static void probe(void *arg, struct ed_wear_status *s)
{
    const uint64_t *v = arg;
    s->run_compact_read_len = v[0];
    s->run_compact_written_len = v[1];
    s->run_n_compact_unchanged = v[2];
}

/* The compaction figures of the run go into the file with each write; a
 * file written before they existed still reads, with zeros. */
static void test_compaction_figures(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    ed_wear *w = NULL;
    uint64_t v[3] = {4096, 1024, 7};
    assert_int_equal(ed_wear_open(dir, 0, 1000, &w), ED_OK);
    ed_wear_set_probe(w, probe, v);
    ed_wear_tick(w, 1000 + ED_WEAR_SAVE_MS);
    struct ed_wear_status s;
    assert_int_equal(ed_wear_read(dir, &s), ED_OK);
    assert_int_equal(s.run_compact_read_len, 4096);
    assert_int_equal(s.run_compact_written_len, 1024);
    assert_int_equal(s.run_n_compact_unchanged, 7);
    v[2] = 9;
    ed_wear_close(w, 1000 + ED_WEAR_SAVE_MS + 1);
    assert_int_equal(ed_wear_read(dir, &s), ED_OK);
    assert_int_equal(s.run_n_compact_unchanged, 9);
    assert_int_equal(
        ed_wear_parse("{\"written_bytes\": 5, \"since_ms\": 1, \"run_written_bytes\": 5, "
                      "\"run_start_ms\": 1, \"updated_ms\": 2, \"endurance_bytes\": 0}",
                      &s),
        ED_OK);
    assert_int_equal(s.run_n_compact_unchanged, 0);
    assert_int_equal(s.written_len, 5);
    lt_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_estimate),
        cmocka_unit_test(test_counts_across_restarts),
        cmocka_unit_test(test_compaction_figures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
