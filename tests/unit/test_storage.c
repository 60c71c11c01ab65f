/* The data directory: defaults, creating a nested log.dirs, finding
 * <topic>-<partition> folders again (topics with '-' and '.'), rejecting bad
 * names, deleting logs (rename to -delete, then removal; open slices stay
 * readable; waiters get ED_ERR_CLOSED), finishing interrupted deletions,
 * ignoring foreign folders, and a malformed start-offset checkpoint. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log_testutil.h"
#include "platform/mem.h"
#include "storage/log.h"

static void test_defaults(void **state)
{
    (void)state;
    struct ed_storage_config c;
    ed_storage_config_default(&c);
    assert_true(c.log.segment_len == 16u << 20);
    assert_true(c.log.retention_ms == 7LL * 24 * 3600 * 1000);
    assert_true(c.log.retention_len == -1);
    assert_true(c.log.index_interval_len == 4096);
    assert_true(c.log.flush_interval_messages == INT64_MAX);
    assert_true(c.log.flush_interval_ms == 1000);
    assert_true(c.log.max_message_len == 1048588);
    assert_true(c.log.delete_ && !c.log.compact);
    assert_true(c.use_flusher_thread);
    assert_true(c.disk_budget_len == 0 && c.disk_free_floor_len == 0);
    assert_string_equal(c.dir, "./eddy-data");
}

struct seen {
    char names[16][300];
    int n;
};

static void each(void *arg, const char *topic, int32_t p, ed_log *log)
{
    struct seen *s = arg;
    assert_non_null(log);
    snprintf(s->names[s->n++], sizeof s->names[0], "%s/%d", topic, (int)p);
}

static void put(ed_log *log)
{
    uint8_t buf[4096];
    size_t len = lt_batch(buf, sizeof buf, 3, 50, ed_plat_clock_wall_ms(), 1, 1);
    struct ed_append_result r;
    assert_int_equal(ed_log_append(log, buf, len, &r), ED_OK);
}

static void test_folders(void **state)
{
    (void)state;
    char *base = lt_tmpdir(), dir[512];
    snprintf(dir, sizeof dir, "%s/a/b/data", base);
    struct ed_storage_config c;
    lt_config(&c, dir, true);
    ed_storage *st;
    assert_int_equal(ed_storage_open(&c, &st), ED_OK);
    ed_log *l1, *l2, *l3, *x;
    assert_int_equal(ed_storage_create_log(st, "my-topic-x", 3, NULL, &l1), ED_OK);
    assert_int_equal(ed_storage_create_log(st, "sensors.t_1", 0, NULL, &l2), ED_OK);
    assert_int_equal(ed_storage_create_log(st, "my-topic-x", 12, NULL, &l3), ED_OK);
    assert_int_equal(ed_storage_create_log(st, "my-topic-x", 3, NULL, &x), ED_ERR_EXIST);
    assert_int_equal(ed_storage_create_log(st, "", 0, NULL, &x), ED_ERR_INVAL);
    assert_int_equal(ed_storage_create_log(st, "..", 0, NULL, &x), ED_ERR_INVAL);
    assert_int_equal(ed_storage_create_log(st, "a/b", 0, NULL, &x), ED_ERR_INVAL);
    assert_int_equal(ed_storage_create_log(st, "bad name", 0, NULL, &x), ED_ERR_INVAL);
    assert_int_equal(ed_storage_create_log(st, "t", -1, NULL, &x), ED_ERR_INVAL);
    char longname[300];
    memset(longname, 'a', 250);
    longname[250] = '\0';
    assert_int_equal(ed_storage_create_log(st, longname, 0, NULL, &x), ED_ERR_INVAL);
    longname[249] = '\0';
    assert_int_equal(ed_storage_create_log(st, longname, 0, NULL, &x), ED_OK);
    put(l1);
    put(l3);
    lt_wait_durable_all(st, l1);
    lt_wait_durable_all(st, l3);
    ed_storage_close(st);

    /* Foreign folders and files are left alone. */
    char p[1024];
    snprintf(p, sizeof p, "%s/lost+found", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/t-0-future", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/meta.properties", dir);
    close(open(p, O_CREAT | O_WRONLY, 0644));

    assert_int_equal(ed_storage_open(&c, &st), ED_OK);
    struct seen s = {0};
    ed_storage_each_log(st, each, &s);
    assert_int_equal(s.n, 4);
    char want[320];
    snprintf(want, sizeof want, "%s/0", longname);
    assert_string_equal(s.names[0], want);
    assert_string_equal(s.names[1], "my-topic-x/3");
    assert_string_equal(s.names[2], "my-topic-x/12");
    assert_string_equal(s.names[3], "sensors.t_1/0");
    l1 = lt_find_log(st, "my-topic-x", 3);
    assert_true(ed_log_end_offset(l1) == 3);
    ed_storage_close(st);
    snprintf(p, sizeof p, "%s/lost+found", dir);
    assert_true(lt_exists(p));
    snprintf(p, sizeof p, "%s/t-0-future", dir);
    assert_true(lt_exists(p));
    lt_rmtree(base);
    free(base);
}

static int n_entries(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, needle)) n++;
    closedir(d);
    return n;
}

static volatile bool closed_done;
static int closed_status;
static void on_durable(void *arg, int status)
{
    (void)arg;
    closed_done = true;
    closed_status = status;
}

static void delete_case(bool threaded)
{
    char *dir = lt_tmpdir();
    struct ed_storage_config c;
    lt_config(&c, dir, threaded);
    ed_storage *st;
    assert_int_equal(ed_storage_open(&c, &st), ED_OK);
    ed_log *a, *b;
    assert_int_equal(ed_storage_create_log(st, "doomed-topic", 0, NULL, &a), ED_OK);
    assert_int_equal(ed_storage_create_log(st, "kept", 0, NULL, &b), ED_OK);
    for (int i = 0; i < 5; i++)
        put(a);
    put(b);
    struct ed_log_slice sl;
    uint8_t before[4096], after[4096];
    assert_int_equal(ed_log_read(a, 0, sizeof before, &sl), ED_OK);
    assert_int_equal(ed_log_slice_copy(&sl, before, sizeof before), ED_OK);
    closed_done = false;
    put(a);
    assert_int_equal(ed_log_wait_durable(a, ed_log_end_offset(a) - 1, on_durable, NULL), ED_OK);
    /* Threaded, a flush job is probably in flight for it right now. */
    assert_int_equal(ed_storage_delete_log(st, a), ED_OK);
    assert_true(closed_done);
    assert_int_equal(closed_status, ED_ERR_CLOSED);
    assert_int_equal(ed_storage_delete_log(st, a), ED_ERR_NOENT);
    char p[1024];
    snprintf(p, sizeof p, "%s/doomed-topic-0", dir);
    assert_false(lt_exists(p));
    /* The slice taken before still reads the same bytes. */
    assert_int_equal(ed_log_slice_copy(&sl, after, sizeof after), ED_OK);
    assert_memory_equal(before, after, sl.len);
    ed_log_slice_release(&sl);
    lt_wait_durable_all(st, b);
    struct seen s = {0};
    ed_storage_each_log(st, each, &s);
    assert_int_equal(s.n, 1);
    ed_storage_close(st);
    assert_int_equal(n_entries(dir, "doomed"), 0);
    assert_int_equal(ed_storage_open(&c, &st), ED_OK);
    memset(&s, 0, sizeof s);
    ed_storage_each_log(st, each, &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.names[0], "kept/0");
    ed_storage_close(st);
    lt_rmtree(dir);
    free(dir);
}

static void test_delete_inline(void **state)
{
    (void)state;
    delete_case(false);
}

static void test_delete_threaded(void **state)
{
    (void)state;
    delete_case(true);
}

static void test_interrupted_delete(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    struct ed_storage_config c;
    lt_config(&c, dir, false);
    ed_storage *st;
    assert_int_equal(ed_storage_open(&c, &st), ED_OK);
    ed_log *a;
    assert_int_equal(ed_storage_create_log(st, "gone", 4, NULL, &a), ED_OK);
    put(a);
    lt_wait_durable_all(st, a);
    ed_storage_close(st);
    /* A crash right after the rename of a deletion. */
    char from[1024], to[1024];
    snprintf(from, sizeof from, "%s/gone-4", dir);
    snprintf(to, sizeof to, "%s/gone-4.0123456789abcdef0123456789abcdef-delete", dir);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(ed_storage_open(&c, &st), ED_OK);
    assert_false(lt_exists(to));
    struct seen s = {0};
    ed_storage_each_log(st, each, &s);
    assert_int_equal(s.n, 0);
    ed_storage_close(st);
    lt_rmtree(dir);
    free(dir);
}

static void test_bad_checkpoint(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    struct ed_storage_config c;
    lt_config(&c, dir, false);
    ed_storage *st;
    assert_int_equal(ed_storage_open(&c, &st), ED_OK);
    ed_log *a;
    assert_int_equal(ed_storage_create_log(st, "t", 0, NULL, &a), ED_OK);
    for (int i = 0; i < 4; i++)
        put(a);
    assert_int_equal(ed_log_truncate_before(a, 5), ED_OK);
    lt_wait_durable_all(st, a);
    ed_storage_close(st);
    char p[1024];
    snprintf(p, sizeof p, "%s/log-start-offset-checkpoint", dir);
    FILE *fp = fopen(p, "r");
    char text[256] = {0};
    assert_non_null(fp);
    assert_true(fread(text, 1, sizeof text - 1, fp) > 0);
    fclose(fp);
    assert_string_equal(text, "0\n1\nt 0 5\n");
    /* A mangled file: the start offset falls back to the first segment. */
    fp = fopen(p, "w");
    fputs("0\n1\nt zero 5\n", fp);
    fclose(fp);
    lt_capture_logs();
    assert_int_equal(ed_storage_open(&c, &st), ED_OK);
    assert_true(lt_log_contains("log-start-offset-checkpoint: unreadable or malformed"));
    lt_release_logs();
    a = lt_find_log(st, "t", 0);
    assert_true(ed_log_start_offset(a) == 0);
    assert_true(ed_log_end_offset(a) == 12);
    ed_storage_close(st);
    lt_rmtree(dir);
    free(dir);
}

static void test_no_leaks(void **state)
{
    (void)state;
    struct ed_mem_stats m;
    ed_mem_stats_get(&m);
    assert_int_equal(m.cur_len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),           cmocka_unit_test(test_folders),
        cmocka_unit_test(test_delete_inline),      cmocka_unit_test(test_delete_threaded),
        cmocka_unit_test(test_interrupted_delete), cmocka_unit_test(test_bad_checkpoint),
        cmocka_unit_test(test_no_leaks),
    };
    return cmocka_run_group_tests_name("storage", tests, NULL, NULL);
}
