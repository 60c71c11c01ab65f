/* Tests of the simulated port itself: POSIX-like path semantics, the
 * durability model at power cuts (synced data and folder entries survive,
 * unsynced ones are kept, dropped or torn), fault injection, the disk limit,
 * counters, clock, randomness, threads and the log sink. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "simtest"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"
#include "platform/sim/sim.h"

static int setup(void **state)
{
    (void)state;
    ed_sim_reset(1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ed_sim_shutdown();
    return 0;
}

static ed_file *open_w(const char *path)
{
    ed_file *f = NULL;
    assert_int_equal(ed_plat_file_open(path, ED_FILE_WRITE | ED_FILE_CREATE, &f), ED_OK);
    return f;
}

static void put(ed_file *f, const char *s, uint64_t off)
{
    assert_int_equal(ed_plat_file_pwrite(f, s, strlen(s), off), ED_OK);
}

static bool content_is(const char *path, const char *want)
{
    size_t len = 0;
    uint8_t *p = ed_sim_file_get(path, &len);
    bool ok = p && len == strlen(want) && memcmp(p, want, len) == 0;
    free(p);
    return ok;
}

static bool exists(const char *path)
{
    return ed_plat_path_stat(path, NULL, NULL) == ED_OK;
}

static void test_files(void **state)
{
    (void)state;
    ed_file *f = NULL;
    assert_int_equal(ed_plat_file_open("a", ED_FILE_READ, &f), ED_ERR_NOENT);
    assert_int_equal(ed_plat_file_open("nodir/a", ED_FILE_WRITE | ED_FILE_CREATE, &f),
                     ED_ERR_NOENT);
    f = open_w("a");
    put(f, "hello", 0);
    struct ed_iovec v[2] = {{" wor", 4}, {"ld", 2}};
    assert_int_equal(ed_plat_file_pwritev(f, v, 2, 5), ED_OK);
    uint64_t size = 0;
    assert_int_equal(ed_plat_file_size(f, &size), ED_OK);
    assert_int_equal(size, 11);
    char buf[32];
    size_t n = 0;
    assert_int_equal(ed_plat_file_pread(f, buf, sizeof buf, 6, &n), ED_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(ed_plat_file_pread(f, buf, 4, 100, &n), ED_OK);
    assert_int_equal(n, 0);
    /* a write past the end leaves a hole of zeros */
    put(f, "x", 20);
    assert_int_equal(ed_plat_file_pread(f, buf, sizeof buf, 10, &n), ED_OK);
    assert_int_equal(n, 11);
    assert_int_equal(buf[1], 0);
    assert_int_equal(buf[10], 'x');
    assert_int_equal(ed_plat_file_truncate(f, 3), ED_OK);
    assert_true(content_is("a", "hel"));
    assert_int_equal(ed_plat_file_handle(f), -1);
    assert_int_equal(ed_plat_file_close(f), ED_OK);
    assert_int_equal(ed_plat_file_close(NULL), ED_OK);

    ed_file *g = NULL;
    assert_int_equal(ed_plat_file_open("a", ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_EXCL, &g),
                     ED_ERR_EXIST);
    assert_int_equal(ed_plat_file_open("a", ED_FILE_READ, &g), ED_OK);
    assert_int_equal(ed_plat_file_pwrite(g, "z", 1, 0), ED_ERR_IO); /* read-only */
    assert_int_equal(ed_plat_file_close(g), ED_OK);
    assert_int_equal(ed_plat_file_open("/a", ED_FILE_WRITE | ED_FILE_TRUNC, &g), ED_OK);
    assert_int_equal(ed_plat_file_size(g, &size), ED_OK);
    assert_int_equal(size, 0);
    ed_plat_file_close(g);
}

static int collect(void *arg, const char *name, bool is_dir)
{
    char *out = arg;
    strcat(out, name);
    strcat(out, is_dir ? "/ " : " ");
    return 0;
}

static int stop_at_first(void *arg, const char *name, bool is_dir)
{
    (void)name;
    (void)is_dir;
    ++*(int *)arg;
    return 7;
}

static void test_folders(void **state)
{
    (void)state;
    assert_int_equal(ed_plat_dir_make("d"), ED_OK);
    assert_int_equal(ed_plat_dir_make("d"), ED_OK);
    assert_int_equal(ed_plat_dir_make("x/y"), ED_ERR_NOENT);
    assert_int_equal(ed_plat_dir_make("/d/e"), ED_OK);
    ed_plat_file_close(open_w("d/f1"));
    ed_plat_file_close(open_w("d/./e/../f2"));
    assert_int_equal(ed_plat_dir_make("d/f1"), ED_ERR_EXIST);
    bool is_dir = false;
    uint64_t size = 1;
    assert_int_equal(ed_plat_path_stat("d/e", &is_dir, NULL), ED_OK);
    assert_true(is_dir);
    assert_int_equal(ed_plat_path_stat("d/f2", &is_dir, &size), ED_OK);
    assert_false(is_dir);
    assert_int_equal(size, 0);
    assert_int_equal(ed_plat_path_stat("d/nope", NULL, NULL), ED_ERR_NOENT);
    assert_int_equal(ed_plat_path_stat("d/f1/x", NULL, NULL), ED_ERR_NOENT);

    char names[256] = "";
    assert_int_equal(ed_plat_dir_list("d", collect, names), ED_OK);
    assert_non_null(strstr(names, "f1 "));
    assert_non_null(strstr(names, "f2 "));
    assert_non_null(strstr(names, "e/ "));
    assert_int_equal(strlen(names), strlen("f1 f2 e/ "));
    int calls = 0;
    assert_int_equal(ed_plat_dir_list("d", stop_at_first, &calls), 7);
    assert_int_equal(calls, 1);
    assert_int_equal(ed_plat_dir_list("d/f1", collect, names), ED_ERR_NOENT);

    assert_int_equal(ed_plat_dir_remove("d"), ED_ERR_EXIST);
    assert_int_equal(ed_plat_path_unlink("d/e"), ED_ERR_IO);
    assert_int_equal(ed_plat_dir_remove("d/f1"), ED_ERR_NOENT);
    assert_int_equal(ed_plat_path_unlink("d/f1"), ED_OK);
    assert_int_equal(ed_plat_path_unlink("d/f1"), ED_ERR_NOENT);

    /* rename replaces atomically; folders cannot move into themselves */
    ed_file *f = open_w("d/tmp");
    put(f, "new", 0);
    ed_plat_file_close(f);
    assert_int_equal(ed_plat_path_rename("d/tmp", "d/f2"), ED_OK);
    assert_false(exists("d/tmp"));
    assert_true(content_is("d/f2", "new"));
    assert_int_equal(ed_plat_path_rename("d", "d/e/d"), ED_ERR_INVAL);
    assert_int_equal(ed_plat_path_rename("d/f2", "d/e"), ED_ERR_IO);
    assert_int_equal(ed_plat_path_rename("d/missing", "d/x"), ED_ERR_NOENT);
    assert_int_equal(ed_plat_path_rename("d/e", "e2"), ED_OK);
    assert_int_equal(ed_plat_dir_remove("e2"), ED_OK);
    assert_int_equal(ed_plat_dir_sync("d"), ED_OK);
    assert_int_equal(ed_plat_dir_sync("d/f2"), ED_ERR_NOENT);
    assert_int_equal(ed_plat_dir_sync("nope"), ED_ERR_NOENT);

    uint64_t free_len = 0, total_len = 0;
    assert_int_equal(ed_plat_fs_space("d", &free_len, &total_len), ED_OK);
    assert_true(total_len > 0 && free_len <= total_len);
}

/* Only what was synced survives DROP_ALL; everything survives KEEP_ALL. */
static void test_crash_extremes(void **state)
{
    (void)state;
    assert_int_equal(ed_plat_dir_make("d"), ED_OK);
    ed_file *f = open_w("d/log");
    put(f, "durable", 0);
    assert_int_equal(ed_plat_file_datasync(f), ED_OK);
    put(f, "+volatile", 7);
    ed_sim_set_crash_mode(ED_SIM_CRASH_DROP_ALL);
    ed_sim_crash_now();
    assert_true(ed_sim_crashed());
    assert_int_equal(ed_plat_path_stat("d", NULL, NULL), ED_ERR_IO); /* machine is down */
    assert_int_equal(ed_plat_file_close(f), ED_OK);
    ed_sim_reboot();
    /* the file's data was synced, but no folder entry was: all gone */
    assert_false(exists("d"));

    assert_int_equal(ed_plat_dir_make("d"), ED_OK);
    assert_int_equal(ed_plat_dir_sync("."), ED_OK);
    f = open_w("d/log");
    put(f, "durable", 0);
    assert_int_equal(ed_plat_file_datasync(f), ED_OK);
    assert_int_equal(ed_plat_dir_sync("d"), ED_OK);
    put(f, "+volatile", 7);
    ed_file *g = open_w("d/unsynced");
    ed_sim_crash_now();
    assert_int_equal(ed_plat_file_close(g), ED_OK);
    ed_sim_reboot();
    assert_true(content_is("d/log", "durable"));
    assert_false(exists("d/unsynced"));
    /* the handle from before the crash stays dead */
    char b[4];
    size_t n;
    assert_int_equal(ed_plat_file_pread(f, b, 4, 0, &n), ED_ERR_IO);
    assert_int_equal(ed_plat_file_pwrite(f, "x", 1, 0), ED_ERR_IO);
    assert_int_equal(ed_plat_file_datasync(f), ED_ERR_IO);
    assert_int_equal(ed_plat_file_close(f), ED_OK);

    /* replace by rename: only durable after the folder sync */
    ed_file *t = open_w("d/tmp");
    put(t, "v2", 0);
    assert_int_equal(ed_plat_file_datasync(t), ED_OK);
    ed_plat_file_close(t);
    assert_int_equal(ed_plat_path_rename("d/tmp", "d/log"), ED_OK);
    ed_sim_crash_now();
    ed_sim_reboot();
    assert_true(content_is("d/log", "durable"));
    assert_false(exists("d/tmp"));
    t = open_w("d/tmp");
    put(t, "v2", 0);
    assert_int_equal(ed_plat_file_datasync(t), ED_OK);
    ed_plat_file_close(t);
    assert_int_equal(ed_plat_path_rename("d/tmp", "d/log"), ED_OK);
    assert_int_equal(ed_plat_dir_sync("d"), ED_OK);
    ed_sim_crash_now();
    ed_sim_reboot();
    assert_true(content_is("d/log", "v2"));

    /* a clean reboot keeps everything, synced or not */
    ed_sim_set_crash_mode(ED_SIM_CRASH_KEEP_ALL);
    ed_file *k = open_w("d/kept");
    put(k, "all of it", 0);
    assert_int_equal(ed_plat_path_unlink("d/log"), ED_OK);
    ed_sim_crash_now();
    ed_plat_file_close(k);
    ed_sim_reboot();
    assert_true(content_is("d/kept", "all of it"));
    assert_false(exists("d/log"));
}

/* Random power cuts: synced bytes are always intact; unsynced bytes are
 * sometimes kept, sometimes dropped, sometimes garbled; a replacing rename is
 * all or nothing. */
static void test_crash_random(void **state)
{
    (void)state;
    uint8_t synced[3000], tail[5000];
    int n_kept = 0, n_dropped = 0, n_garbled = 0, n_longer_zero = 0;
    int n_old = 0, n_new = 0;
    for (uint64_t seed = 1; seed <= 400; seed++) {
        ed_sim_reset(seed);
        for (size_t i = 0; i < sizeof synced; i++)
            synced[i] = (uint8_t)(ed_sim_random_u64() | 1);
        for (size_t i = 0; i < sizeof tail; i++)
            tail[i] = (uint8_t)(ed_sim_random_u64() | 1);
        assert_int_equal(ed_sim_file_put("old", "OLD", 3), ED_OK);
        ed_file *f = open_w("seg");
        assert_int_equal(ed_plat_file_pwrite(f, synced, sizeof synced, 0), ED_OK);
        assert_int_equal(ed_plat_file_datasync(f), ED_OK);
        assert_int_equal(ed_plat_dir_sync("/"), ED_OK);
        /* three unsynced appends */
        for (int i = 0; i < 3; i++)
            assert_int_equal(
                ed_plat_file_pwrite(f, tail + i * 1500, 1500, sizeof synced + (uint64_t)i * 1500),
                ED_OK);
        ed_file *t = open_w("tmp");
        put(t, "NEW", 0);
        assert_int_equal(ed_plat_file_datasync(t), ED_OK);
        ed_plat_file_close(t);
        assert_int_equal(ed_plat_path_rename("tmp", "old"), ED_OK);
        ed_sim_crash_now();
        ed_plat_file_close(f);
        ed_sim_reboot();

        size_t len = 0;
        uint8_t *p = ed_sim_file_get("seg", &len);
        assert_non_null(p);
        assert_true(len >= sizeof synced);
        assert_true(len <= sizeof synced + 4500);
        assert_memory_equal(p, synced, sizeof synced);
        size_t extra = len - sizeof synced;
        bool same = memcmp(p + sizeof synced, tail, extra) == 0;
        bool zeros = true;
        for (size_t i = 0; i < extra; i++)
            zeros = zeros && p[sizeof synced + i] == 0;
        if (extra == 4500 && same)
            n_kept++;
        else if (extra == 0)
            n_dropped++;
        else if (extra > 0 && zeros)
            n_longer_zero++;
        else if (!same)
            n_garbled++;
        free(p);

        bool is_old = content_is("old", "OLD"), is_new = content_is("old", "NEW");
        assert_true(is_old || is_new);
        n_old += is_old;
        n_new += is_new;
        if (is_new) assert_false(exists("tmp"));
    }
    print_message("kept %d dropped %d garbled %d zero %d old %d new %d\n", n_kept, n_dropped,
                  n_garbled, n_longer_zero, n_old, n_new);
    assert_true(n_kept > 10);
    assert_true(n_dropped > 10);
    assert_true(n_garbled > 10);
    assert_true(n_longer_zero > 0);
    assert_true(n_old > 10 && n_new > 10);
}

/* The armed crash point cuts power just before the nth mutating call. */
static void test_crash_at(void **state)
{
    (void)state;
    ed_sim_set_crash_mode(ED_SIM_CRASH_KEEP_ALL);
    ed_file *f = open_w("f"); /* op 1 */
    uint64_t before = ed_sim_op_count();
    assert_int_equal(before, 1);
    ed_sim_crash_at(3);
    put(f, "a", 0); /* 2 */
    put(f, "b", 1); /* 3 */
    assert_int_equal(ed_plat_file_pwrite(f, "c", 1, 2), ED_ERR_IO);
    assert_true(ed_sim_crashed());
    assert_int_equal(ed_plat_file_pwrite(f, "c", 1, 2), ED_ERR_IO);
    ed_plat_file_close(f);
    ed_sim_reboot();
    assert_true(content_is("f", "ab"));
    struct ed_sim_stats st;
    ed_sim_stats_get(&st);
    assert_int_equal(st.n_crashes, 1);
    assert_int_equal(st.n_writes, 2);
    assert_int_equal(st.len_written, 2);
    /* disarmed after firing */
    f = open_w("f");
    for (int i = 0; i < 10; i++)
        put(f, "z", (uint64_t)i);
    assert_false(ed_sim_crashed());
    ed_plat_file_close(f);
}

/* A killed process loses its handles, not its unsynced writes; they stay
 * unsynced and a later power cut may still take them. */
static void test_kill(void **state)
{
    (void)state;
    ed_sim_set_crash_mode(ED_SIM_CRASH_DROP_ALL);
    ed_file *f = open_w("f");
    assert_int_equal(ed_plat_dir_sync("."), ED_OK);
    put(f, "synced", 0);
    assert_int_equal(ed_plat_file_datasync(f), ED_OK);
    put(f, "+cache", 6);
    ed_sim_kill();
    assert_true(ed_sim_crashed());
    assert_int_equal(ed_plat_file_datasync(f), ED_ERR_IO);
    ed_plat_file_close(f);
    ed_sim_reboot();
    assert_true(content_is("f", "synced+cache"));
    ed_sim_crash_now();
    ed_sim_reboot();
    assert_true(content_is("f", "synced"));
}

static void test_faults(void **state)
{
    (void)state;
    ed_sim_set_crash_mode(ED_SIM_CRASH_DROP_ALL);
    ed_file *f = open_w("f");
    ed_sim_fail_nth(ED_SIM_OP_WRITE, 2, ED_ERR_NOSPC, false);
    put(f, "1", 0);
    assert_int_equal(ed_plat_file_pwrite(f, "2", 1, 1), ED_ERR_NOSPC);
    put(f, "3", 1);
    ed_sim_fail_nth(ED_SIM_OP_DATASYNC, 1, ED_ERR_IO, true);
    assert_int_equal(ed_plat_file_datasync(f), ED_ERR_IO);
    assert_int_equal(ed_plat_file_datasync(f), ED_ERR_IO);
    assert_int_equal(ed_plat_dir_sync("."), ED_OK);
    ed_sim_crash_now();
    ed_plat_file_close(f);
    ed_sim_reboot();
    /* the failed syncs made nothing durable */
    assert_true(content_is("f", ""));
    ed_sim_fail_clear();
    /* after a failed datasync the next one succeeds without the lost writes */
    f = open_w("f");
    put(f, "abc", 0);
    ed_sim_fail_nth(ED_SIM_OP_DATASYNC, 1, ED_ERR_IO, false);
    assert_int_equal(ed_plat_file_datasync(f), ED_ERR_IO);
    put(f, "d", 3);
    assert_int_equal(ed_plat_file_datasync(f), ED_OK);
    assert_true(content_is("f", "abcd"));
    ed_sim_crash_now();
    ed_plat_file_close(f);
    ed_sim_reboot();
    size_t len = 0;
    uint8_t *p = ed_sim_file_get("f", &len);
    assert_int_equal(len, 4);
    assert_memory_equal(p, "\0\0\0d", 4);
    free(p);
    f = open_w("f");
    assert_int_equal(ed_plat_file_datasync(f), ED_OK);
    ed_plat_file_close(f);

    ed_sim_fail_nth(ED_SIM_OP_OPEN, 1, ED_ERR_IO, false);
    assert_int_equal(ed_plat_file_open("g", ED_FILE_WRITE | ED_FILE_CREATE, &f), ED_ERR_IO);
    assert_false(exists("g"));
    ed_sim_fail_nth(ED_SIM_OP_RESERVE, 1, ED_ERR_NOSPC, false);
    f = open_w("g");
    assert_int_equal(ed_plat_file_reserve(f, 0, 100), ED_ERR_NOSPC);
    assert_int_equal(ed_plat_file_reserve(f, 0, 100), ED_OK);
    ed_plat_file_close(f);
    ed_sim_fail_nth(ED_SIM_OP_RENAME, 1, ED_ERR_IO, false);
    assert_int_equal(ed_plat_path_rename("g", "h"), ED_ERR_IO);
    assert_true(exists("g"));
    ed_sim_fail_nth(ED_SIM_OP_DIRSYNC, 1, ED_ERR_IO, false);
    assert_int_equal(ed_plat_dir_sync("."), ED_ERR_IO);
    struct ed_sim_stats st;
    ed_sim_stats_get(&st);
    assert_int_equal(st.n_faults, 8);
}

/* A failed write may leave any prefix of its bytes behind. */
static void test_fault_partial(void **state)
{
    (void)state;
    int n_partial = 0;
    for (int i = 0; i < 50; i++) {
        ed_file *f = open_w("p");
        ed_sim_fail_nth(ED_SIM_OP_WRITE, 1, ED_ERR_IO, false);
        assert_int_equal(ed_plat_file_pwrite(f, "abcdefgh", 8, 0), ED_ERR_IO);
        uint64_t size = 0;
        ed_plat_file_size(f, &size);
        assert_true(size <= 8);
        n_partial += size > 0;
        assert_int_equal(ed_plat_file_truncate(f, 0), ED_OK);
        ed_plat_file_close(f);
    }
    assert_true(n_partial > 0 && n_partial < 50);
}

static void test_disk_limit(void **state)
{
    (void)state;
    static uint8_t block[4096];
    ed_sim_set_disk_limit(4 * 4096);
    ed_file *f = open_w("a");
    for (int i = 0; i < 3; i++)
        assert_int_equal(ed_plat_file_pwrite(f, block, sizeof block, (uint64_t)i * 4096), ED_OK);
    assert_int_equal(ed_sim_disk_usage(), 3 * 4096);
    uint64_t free_len = 0;
    assert_int_equal(ed_plat_fs_space(".", &free_len, NULL), ED_OK);
    assert_int_equal(free_len, 4096);
    ed_file *g = open_w("b");
    assert_int_equal(ed_plat_file_reserve(g, 0, 4096), ED_OK);
    assert_int_equal(ed_plat_file_reserve(g, 0, 8192), ED_ERR_NOSPC);
    assert_int_equal(ed_plat_file_pwrite(f, block, 1, 3 * 4096), ED_ERR_NOSPC);
    uint64_t size = 0;
    ed_plat_file_size(f, &size);
    assert_int_equal(size, 3 * 4096);
    /* the reservation holds: writes inside it succeed on a full disk */
    assert_int_equal(ed_plat_file_pwrite(g, block, 4096, 0), ED_OK);
    ed_plat_file_size(g, &size);
    assert_int_equal(size, 4096);
    assert_int_equal(ed_plat_file_pwrite(g, block, 1, 4096), ED_ERR_NOSPC);
    /* an unlinked file keeps its space while open */
    assert_int_equal(ed_plat_path_unlink("a"), ED_OK);
    assert_int_equal(ed_sim_disk_usage(), 4 * 4096);
    ed_plat_file_close(f);
    assert_int_equal(ed_sim_disk_usage(), 4096);
    assert_int_equal(ed_plat_file_pwrite(g, block, 4096, 4096), ED_OK);
    ed_plat_file_close(g);
    struct ed_sim_stats st;
    ed_sim_stats_get(&st);
    assert_int_equal(st.n_nospc, 3);
}

/* A write that does not fit may write what fits, never more. */
static void test_disk_limit_partial(void **state)
{
    (void)state;
    static uint8_t data[10000];
    ed_sim_set_disk_limit(8192);
    int n_partial = 0;
    for (int i = 0; i < 40; i++) {
        ed_file *f = open_w("a");
        assert_int_equal(ed_plat_file_pwrite(f, data, sizeof data, 0), ED_ERR_NOSPC);
        uint64_t size = 0;
        ed_plat_file_size(f, &size);
        assert_true(size == 0 || size == 8192);
        n_partial += size == 8192;
        ed_plat_file_truncate(f, 0);
        ed_plat_file_close(f);
    }
    assert_true(n_partial > 0 && n_partial < 40);
}

static void test_counters(void **state)
{
    (void)state;
    ed_file *f = open_w("a");
    put(f, "12345", 0);
    put(f, "678", 5);
    ed_plat_file_datasync(f);
    ed_plat_dir_sync(".");
    ed_plat_file_close(f);
    struct ed_sim_stats st;
    ed_sim_stats_get(&st);
    assert_int_equal(st.n_writes, 2);
    assert_int_equal(st.len_written, 8);
    assert_int_equal(st.n_datasyncs, 1);
    assert_int_equal(st.n_dirsyncs, 1);
    assert_int_equal(st.n_ops, 5);
}

static void test_clock_random(void **state)
{
    (void)state;
    int64_t w = ed_plat_clock_wall_ms();
    uint64_t m = ed_plat_clock_mono_ns();
    assert_int_equal(ed_plat_clock_wall_ms(), w); /* frozen unless advanced */
    ed_sim_clock_advance_ms(1500);
    assert_int_equal(ed_plat_clock_wall_ms(), w + 1500);
    assert_int_equal(ed_plat_clock_mono_ns(), m + 1500000000ull);
    assert_int_equal(ed_plat_clock_mono_ms(), (m + 1500000000ull) / 1000000u);
    ed_sim_clock_set_wall_ms(42);
    assert_int_equal(ed_plat_clock_wall_ms(), 42);

    uint8_t a[37], b[37];
    ed_sim_reset(99);
    ed_plat_random(a, sizeof a);
    ed_sim_reset(99);
    ed_plat_random(b, sizeof b);
    assert_memory_equal(a, b, sizeof a);
    ed_sim_reset(100);
    ed_plat_random(b, sizeof b);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_threads(void **state)
{
    (void)state;
    assert_false(ed_plat_has_threads());
    ed_thread *t = NULL;
    assert_int_equal(ed_plat_thread_start(&t, NULL, NULL), ED_ERR_UNSUPPORTED);
    ed_plat_thread_join(NULL);
    ed_mutex *m = NULL;
    ed_cond *c = NULL;
    assert_int_equal(ed_plat_mutex_new(&m), ED_OK);
    assert_int_equal(ed_plat_cond_new(&c), ED_OK);
    ed_plat_mutex_lock(m);
    ed_plat_cond_signal(c);
    ed_plat_cond_broadcast(c);
    int64_t w = ed_plat_clock_wall_ms();
    assert_int_equal(ed_plat_cond_timedwait(c, m, 250), ED_ERR_TIMEOUT);
    assert_int_equal(ed_plat_clock_wall_ms(), w + 250);
    ed_plat_mutex_unlock(m);
    ed_plat_cond_free(c);
    ed_plat_mutex_free(m);
}

static void test_log_sink(void **state)
{
    (void)state;
    ed_sim_log_to(ED_SIM_LOG_BUFFER);
    ED_LOG_ERR("something %d broke", 42);
    assert_non_null(strstr(ed_sim_log_text(), "something 42 broke"));
    assert_non_null(strstr(ed_sim_log_text(), "[simtest]"));
    ed_sim_log_clear();
    assert_string_equal(ed_sim_log_text(), "");
    ed_sim_log_to(ED_SIM_LOG_NONE);
    ED_LOG_ERR("dropped");
    assert_string_equal(ed_sim_log_text(), "");
    assert_string_equal(ed_plat_last_os_error(), "simulated");
}

/* Many files created and deleted: memory is reclaimed (LSan checks the rest). */
static void test_churn(void **state)
{
    (void)state;
    char name[32];
    static uint8_t data[2048];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "f%d", i);
        ed_file *f = open_w(name);
        assert_int_equal(ed_plat_file_pwrite(f, data, sizeof data, 0), ED_OK);
        ed_plat_file_close(f);
        if (i % 7 == 0) ed_plat_dir_sync(".");
        assert_int_equal(ed_plat_path_unlink(name), ED_OK);
    }
    assert_int_equal(ed_sim_disk_usage(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_extremes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_limit_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_sink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_churn, setup, teardown),
    };
    return cmocka_run_group_tests_name("sim", tests, NULL, NULL);
}
