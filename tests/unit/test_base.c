/* Unit tests of platform basics: error texts, big-endian helpers, counted
 * allocation with limits and fault injection, log levels, rate-limited
 * repeated warnings, the ring of recent warnings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "platform/base.h"
#include "platform/log.h"
#include "platform/mem.h"

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(ed_strerror(ED_OK), "ok");
    assert_string_equal(ed_strerror(ED_ERR_NOSPC), "no space left");
    assert_string_equal(ed_strerror(-1000), "unknown error");
    assert_string_equal(ed_strerror(5), "unknown error");
}

static void test_be(void **state)
{
    (void)state;
    uint8_t b[8];
    ed_put_be64(b, 0x0102030405060708ull);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[7], 8);
    assert_true(ed_get_be64(b) == 0x0102030405060708ull);
    ed_put_be32(b + 1, 0xdeadbeef);
    assert_int_equal(ed_get_be32(b + 1), 0xdeadbeef);
    ed_put_be16(b + 3, 0xfffe);
    assert_int_equal(ed_get_be16(b + 3), 0xfffe);
}

static void test_mem_counts(void **state)
{
    (void)state;
    struct ed_mem_stats s0, s1;
    ed_mem_stats_get(&s0);
    char *p = ed_malloc(1000);
    assert_non_null(p);
    ed_mem_stats_get(&s1);
    assert_int_equal(s1.cur_len, s0.cur_len + 1000);
    assert_true(s1.peak_len >= s1.cur_len);
    p = ed_realloc(p, 3000);
    assert_non_null(p);
    ed_mem_stats_get(&s1);
    assert_int_equal(s1.cur_len, s0.cur_len + 3000);
    ed_free(p);
    ed_mem_stats_get(&s1);
    assert_int_equal(s1.cur_len, s0.cur_len);
}

static void test_mem_limit_and_faults(void **state)
{
    (void)state;
    struct ed_mem_stats s;
    ed_mem_stats_get(&s);
    ed_mem_set_limit(s.cur_len + 100);
    assert_null(ed_malloc(200));
    void *ok = ed_malloc(50);
    assert_non_null(ok);
    ed_free(ok);
    ed_mem_set_limit(0);
    ed_mem_fail_nth(2);
    void *a = ed_malloc(8);
    void *b = ed_malloc(8);
    void *c = ed_malloc(8);
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    ed_free(a);
    ed_free(c);
    char *d = ed_strdup("hello");
    assert_string_equal(d, "hello");
    ed_free(d);
}

static int n_lines;
static char last[1024];
static void hook(int level, const char *line)
{
    (void)level;
    n_lines++;
    snprintf(last, sizeof last, "%s", line);
}

static void test_log_levels(void **state)
{
    (void)state;
    ed_log_set_hook(hook);
    assert_int_equal(ed_log_set_level(ED_LOG_LEVEL_WARN), ED_OK);
    n_lines = 0;
    ED_LOG_INFO("hidden %d", 1);
    assert_int_equal(n_lines, 0);
    ED_LOG_WARN("shown %d", 2);
    assert_int_equal(n_lines, 1);
    assert_non_null(strstr(last, "WARN"));
    assert_non_null(strstr(last, "shown 2"));
    assert_int_equal(ed_log_set_module_level("eddy", ED_LOG_LEVEL_DBG), ED_OK);
    ED_LOG_DBG("now visible");
    assert_int_equal(n_lines, 2);
    ed_log_set_module_level("eddy", -1);
    ED_LOG_DBG("hidden again");
    assert_int_equal(n_lines, 2);
    assert_int_equal(ed_log_level_parse("debug"), ED_LOG_LEVEL_DBG);
    assert_int_equal(ed_log_level_parse("loud"), -1);
    assert_int_equal(ed_log_set_level(9), ED_ERR_INVAL);
    ed_log_set_level(ED_LOG_LEVEL_INFO);
    ed_log_set_hook(NULL);
}

/* The ring the dashboard reads: the last ED_LOG_RECENT_N warning and
 * error lines, oldest first, nothing below WARN, long lines cut. */
static void test_log_recent_warnings(void **state)
{
    (void)state;
    ed_log_set_hook(hook);
    const int n_warn = ED_LOG_RECENT_N + 8;
    for (int i = 0; i < n_warn; i++) {
        ED_LOG_WARN("warning %d", i);
        ED_LOG_INFO("info %d", i);
    }
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ED_LOG_ERR("an error %s", big);
    struct ed_log_recent r[ED_LOG_RECENT_N + 4];
    assert_int_equal(ed_log_recent_get(r, ED_LOG_RECENT_N + 4), ED_LOG_RECENT_N);
    char want[64];
    for (int i = 0; i < ED_LOG_RECENT_N - 1; i++) {
        snprintf(want, sizeof want,
                 "[eddy] warning %d (test_base.c:", n_warn - (ED_LOG_RECENT_N - 1) + i);
        assert_memory_equal(r[i].line, want, strlen(want));
        assert_int_equal(r[i].level, ED_LOG_LEVEL_WARN);
        assert_true(r[i].time_ms > 0);
        assert_null(strchr(r[i].line, '\n'));
    }
    const struct ed_log_recent *e = &r[ED_LOG_RECENT_N - 1];
    assert_int_equal(e->level, ED_LOG_LEVEL_ERR);
    assert_int_equal(strlen(e->line), ED_LOG_RECENT_LEN - 1);
    assert_memory_equal(e->line, "[eddy] an error xxx", 19);
    assert_int_equal(ed_log_recent_get(r, 2), 2); /* the newest two */
    assert_int_equal(r[1].level, ED_LOG_LEVEL_ERR);
    snprintf(want, sizeof want, "[eddy] warning %d ", n_warn - 1);
    assert_memory_equal(r[0].line, want, strlen(want));
    ed_log_set_hook(NULL);
}

static void flood(int n)
{
    for (int i = 0; i < n; i++)
        ED_LOG_WARN_RL("bad request %d from a peer", i);
}

/* 10,000 repeated warnings from one site produce a bounded number of lines;
 * what was held back is counted and named on the next line let through. */
static void test_log_rate_limited(void **state)
{
    (void)state;
    ed_log_set_hook(hook);
    n_lines = 0;
    uint64_t before = ed_log_rl_suppressed_total();
    flood(10000);
    assert_true(n_lines >= 1 && n_lines <= ED_LOG_RL_BURST);
    assert_non_null(strstr(last, "bad request"));
    assert_true(ed_log_rl_suppressed_total() - before == (uint64_t)(10000 - n_lines));
    /* A different site is limited on its own. */
    ED_LOG_WARN_RL("another warning");
    assert_non_null(strstr(last, "another warning"));
    ed_log_set_hook(NULL);

    /* The limiter on a clock the test controls: a burst per window, then the
     * suppressed count arrives with the first line of the next window. */
    struct ed_log_rl rl = {0};
    uint64_t sup = 99, now = 1000;
    int passed = 0;
    for (int i = 0; i < 10000; i++)
        if (ed_log_rl_admit(&rl, now + (uint64_t)i / 100, &sup)) passed++;
    assert_int_equal(passed, ED_LOG_RL_BURST);
    assert_true(ed_log_rl_admit(&rl, now + ED_LOG_RL_WINDOW_MS, &sup));
    assert_true(sup == (uint64_t)(10000 - ED_LOG_RL_BURST));
    assert_true(ed_log_rl_admit(&rl, now + ED_LOG_RL_WINDOW_MS + 1, &sup));
    assert_true(sup == 0);

    char line[1024];
    ed_log_set_hook(hook);
    ed_log_emit_rl(ED_LOG_LEVEL_WARN, "eddy", __FILE__, __LINE__, 42, "disk full");
    snprintf(line, sizeof line, "%s", last);
    ed_log_set_hook(NULL);
    assert_non_null(strstr(line, "disk full (42 similar suppressed)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_be),
        cmocka_unit_test(test_mem_counts),
        cmocka_unit_test(test_mem_limit_and_faults),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_log_rate_limited),
        cmocka_unit_test(test_log_recent_warnings),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
