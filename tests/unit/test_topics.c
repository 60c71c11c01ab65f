/* Unit tests of the topic registry over a real storage in a temp folder:
 * create/find/delete/grow, config overrides applied to the logs and
 * persisted, ids stable across restarts, reconciliation of the registry
 * file with the logs, a corrupt registry, auto-creation and
 * meta.properties. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/topics.h"
#include "log_testutil.h"
#include "platform/net.h"

struct fx {
    char dir[64];
    struct ed_storage_config sc;
    ed_storage *st;
    ed_topics *t;
    struct ed_config *cfg;
};

static void fx_open(struct fx *f)
{
    assert_int_equal(ed_storage_open(&f->sc, &f->st), ED_OK);
    assert_int_equal(ed_topics_open_dir(f->st, f->dir, &f->sc.log, &f->t), ED_OK);
    ed_topics_set_broker_config(f->t, f->cfg);
}

static void fx_close(struct fx *f)
{
    ed_topics_close(f->t);
    ed_storage_close(f->st);
    f->t = NULL;
    f->st = NULL;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/eddy-test-topics-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(ed_config_new(&f->cfg), ED_OK);
    char why[256];
    assert_int_equal(ed_config_set(f->cfg, "log.dirs", f->dir, why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(f->cfg, "num.partitions", "2", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(f->cfg, "log.dir.min.free.bytes", "0", why, sizeof why), ED_OK);
    ed_config_storage(f->cfg, &f->sc);
    f->sc.use_flusher_thread = false;
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->t) fx_close(f);
    ed_config_free(f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void reopen(struct fx *f)
{
    fx_close(f);
    fx_open(f);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(ed_topics_valid_name("a"));
    assert_true(ed_topics_valid_name("metro.line-1_station"));
    assert_false(ed_topics_valid_name(""));
    assert_false(ed_topics_valid_name("."));
    assert_false(ed_topics_valid_name(".."));
    assert_false(ed_topics_valid_name("a b"));
    assert_false(ed_topics_valid_name("a/b"));
    char long_name[251];
    memset(long_name, 'x', 250);
    long_name[250] = '\0';
    assert_false(ed_topics_valid_name(long_name));
    long_name[249] = '\0';
    assert_true(ed_topics_valid_name(long_name));
}

static void test_create_find_restart(void **state)
{
    struct fx *f = *state;
    const char *why = NULL;
    const char *keys[] = {"retention.ms", "cleanup.policy"};
    const char *vals[] = {"60000", "compact"};
    ed_topic *a, *b;
    assert_int_equal(ed_topics_create(f->t, "beta", 3, keys, vals, 2, &why, &b), ED_OK);
    assert_int_equal(ed_topics_create(f->t, "alpha", 1, NULL, NULL, 0, &why, &a), ED_OK);
    assert_int_equal(ed_topics_count(f->t), 2);
    assert_ptr_equal(ed_topics_find(f->t, "beta"), b);
    assert_ptr_equal(ed_topics_find_k(f->t, (ed_kstr){"alphabet", 5}), a);
    assert_null(ed_topics_find(f->t, "gamma"));
    assert_null(ed_topics_find_k(f->t, (ed_kstr){NULL, -1}));
    assert_int_equal(ed_topic_n_partitions(b), 3);
    assert_null(ed_topic_partition(b, 3));
    assert_null(ed_topic_partition(b, -1));
    ed_partition *p2 = ed_topic_partition(b, 2);
    assert_non_null(p2);
    assert_int_equal(p2->index, 2);
    assert_ptr_equal(p2->topic, b);
    assert_true(ed_log_get_config(p2->log)->retention_ms == 60000);
    assert_true(ed_log_get_config(p2->log)->compact);
    assert_false(ed_log_get_config(p2->log)->delete_);
    static const uint8_t zero[16];
    assert_memory_not_equal(ed_topic_id(a), zero, 16);
    assert_memory_not_equal(ed_topic_id(a), ed_topic_id(b), 16);
    assert_ptr_equal(ed_topics_find_id(f->t, ed_topic_id(b)), b);
    uint8_t ida[16], idb[16];
    memcpy(ida, ed_topic_id(a), 16);
    memcpy(idb, ed_topic_id(b), 16);

    bool is_def;
    assert_string_equal(ed_topic_config_get(b, "retention.ms", &is_def), "60000");
    assert_false(is_def);
    assert_string_equal(ed_topic_config_get(a, "retention.ms", &is_def), "604800000");
    assert_true(is_def);
    assert_string_equal(ed_topic_config_get(a, "compression.type", &is_def), "producer");
    assert_string_equal(ed_topic_config_get(a, "min.insync.replicas", &is_def), "1");
    assert_null(ed_topic_config_get(a, "no.such", &is_def));

    assert_int_equal(ed_topics_create(f->t, "alpha", 1, NULL, NULL, 0, &why, NULL), ED_ERR_EXIST);
    assert_int_equal(ed_topics_create(f->t, "bad name", 1, NULL, NULL, 0, &why, NULL),
                     ED_ERR_INVAL);
    assert_int_equal(ed_topics_create(f->t, "zero", 0, NULL, NULL, 0, &why, NULL), ED_ERR_INVAL);
    const char *bk[] = {"retention.ms"}, *bv[] = {"soon"};
    assert_int_equal(ed_topics_create(f->t, "c", 1, bk, bv, 1, &why, NULL), ED_ERR_INVAL);
    assert_non_null(why);
    const char *mk[] = {"min.insync.replicas"}, *mv[] = {"2"};
    assert_int_equal(ed_topics_create(f->t, "c", 1, mk, mv, 1, &why, NULL), ED_ERR_INVAL);
    assert_non_null(strstr(why, "single node"));
    assert_null(ed_topics_find(f->t, "c"));

    reopen(f);
    assert_int_equal(ed_topics_count(f->t), 2);
    a = ed_topics_find(f->t, "alpha");
    b = ed_topics_find(f->t, "beta");
    assert_non_null(a);
    assert_non_null(b);
    assert_memory_equal(ed_topic_id(a), ida, 16);
    assert_memory_equal(ed_topic_id(b), idb, 16);
    assert_int_equal(ed_topic_n_partitions(b), 3);
    assert_string_equal(ed_topic_config_get(b, "cleanup.policy", &is_def), "compact");
    assert_true(ed_log_get_config(ed_topic_partition(b, 1)->log)->retention_ms == 60000);
}

struct order {
    char names[8][16];
    int n;
};
static void collect(void *arg, ed_topic *t)
{
    struct order *o = arg;
    snprintf(o->names[o->n++], 16, "%s", ed_topic_name(t));
}

static void test_each_sorted(void **state)
{
    struct fx *f = *state;
    static const char *const names[] = {"m", "b", "z", "a", "k"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(ed_topics_create(f->t, names[i], 1, NULL, NULL, 0, NULL, NULL), ED_OK);
    struct order o = {0};
    ed_topics_each(f->t, collect, &o);
    assert_int_equal(o.n, 5);
    assert_string_equal(o.names[0], "a");
    assert_string_equal(o.names[1], "b");
    assert_string_equal(o.names[2], "k");
    assert_string_equal(o.names[3], "m");
    assert_string_equal(o.names[4], "z");
}

static int n_removed;
static void on_removed(void *arg, ed_partition *p)
{
    (void)arg;
    assert_non_null(p->log);
    n_removed++;
}

static void test_delete_and_grow(void **state)
{
    struct fx *f = *state;
    ed_topic *t;
    assert_int_equal(ed_topics_create(f->t, "grow", 2, NULL, NULL, 0, NULL, &t), ED_OK);
    assert_int_equal(ed_topics_set_partitions(f->t, t, 1), ED_ERR_INVAL);
    assert_int_equal(ed_topics_set_partitions(f->t, t, 5), ED_OK);
    assert_int_equal(ed_topic_n_partitions(t), 5);
    assert_non_null(ed_topic_partition(t, 4));
    reopen(f);
    t = ed_topics_find(f->t, "grow");
    assert_int_equal(ed_topic_n_partitions(t), 5);

    n_removed = 0;
    assert_int_equal(ed_topics_add_remove_listener(f->t, on_removed, NULL), ED_OK);
    assert_int_equal(ed_topics_delete(f->t, t), ED_OK);
    assert_int_equal(n_removed, 5);
    assert_null(ed_topics_find(f->t, "grow"));
    char path[128];
    snprintf(path, sizeof path, "%s/grow-0", f->dir);
    assert_int_equal(access(path, F_OK), -1);
    reopen(f);
    assert_null(ed_topics_find(f->t, "grow"));
    assert_int_equal(ed_topics_count(f->t), 0);
}

static int n_appended[3];
static void on_appended(void *arg, ed_partition *p)
{
    assert_int_equal(p->index, 1);
    n_appended[*(int *)arg]++;
}

/* The fetch module's listener and the others' (the mirror's) all hear an
 * append; a removed one no longer does. */
static void test_append_listeners(void **state)
{
    struct fx *f = *state;
    ed_topic *t;
    assert_int_equal(ed_topics_create(f->t, "heard", 2, NULL, NULL, 0, NULL, &t), ED_OK);
    static int ids[3] = {0, 1, 2};
    memset(n_appended, 0, sizeof n_appended);
    ed_topics_set_append_listener(f->t, on_appended, &ids[0]);
    assert_int_equal(ed_topics_add_append_listener(f->t, on_appended, &ids[1]), ED_OK);
    assert_int_equal(ed_topics_add_append_listener(f->t, on_appended, &ids[2]), ED_OK);
    assert_int_equal(ed_topics_add_append_listener(f->t, on_appended, &ids[2]), ED_OK);
    ed_topics_appended(f->t, ed_topic_partition(t, 1));
    ed_topics_del_append_listener(f->t, on_appended, &ids[1]);
    ed_topics_appended(f->t, ed_topic_partition(t, 1));
    assert_int_equal(n_appended[0], 2);
    assert_int_equal(n_appended[1], 1);
    assert_int_equal(n_appended[2], 2);
}

static void test_config_set(void **state)
{
    struct fx *f = *state;
    ed_topic *t;
    const char *why;
    assert_int_equal(ed_topics_create(f->t, "cfg", 2, NULL, NULL, 0, NULL, &t), ED_OK);
    assert_int_equal(ed_topic_config_set(f->t, t, "retention.bytes", "1048576", &why), ED_OK);
    assert_int_equal(ed_topic_config_set(f->t, t, "segment.bytes", "100000", &why), ED_OK);
    assert_int_equal(ed_topic_config_set(f->t, t, "compression.type", "zstd", &why), ED_OK);
    assert_int_equal(ed_topic_config_set(f->t, t, "message.timestamp.type", "LogAppendTime", &why),
                     ED_OK);
    const struct ed_log_config *lc = ed_log_get_config(ed_topic_partition(t, 1)->log);
    assert_true(lc->retention_len == 1048576);
    assert_true(lc->segment_len == 100000);
    assert_int_equal(lc->compression, ED_COMPRESSION_ZSTD);
    assert_true(lc->log_append_time);
    assert_int_equal(ed_topic_config_set(f->t, t, "retention.bytes", "lots", &why), ED_ERR_INVAL);
    assert_int_equal(ed_topic_config_set(f->t, t, "segment.bytes", "1", &why), ED_ERR_INVAL);
    assert_int_equal(ed_topic_config_set(f->t, t, "nope", "1", &why), ED_ERR_INVAL);
    assert_int_equal(ed_topics_config_check("cleanup.policy", "compact,delete", &why), ED_OK);
    assert_int_equal(ed_topics_config_check("cleanup.policy", "sometimes", &why), ED_ERR_INVAL);
    assert_int_equal(ed_topics_config_check("min.cleanable.dirty.ratio", "0.2", &why), ED_OK);
    assert_int_equal(ed_topics_config_check("min.cleanable.dirty.ratio", "2", &why), ED_ERR_INVAL);
    assert_int_equal(ed_topics_config_check("preallocate", "maybe", &why), ED_ERR_INVAL);
    /* an override with a space survives the file's escaping */
    assert_int_equal(
        ed_topic_config_set(f->t, t, "leader.replication.throttled.replicas", "0:1, 1:1", &why),
        ED_OK);
    reopen(f);
    t = ed_topics_find(f->t, "cfg");
    bool d;
    assert_string_equal(ed_topic_config_get(t, "retention.bytes", &d), "1048576");
    assert_string_equal(ed_topic_config_get(t, "leader.replication.throttled.replicas", &d),
                        "0:1, 1:1");
    lc = ed_log_get_config(ed_topic_partition(t, 0)->log);
    assert_int_equal(lc->compression, ED_COMPRESSION_ZSTD);
    /* removing an override returns to the broker default */
    assert_int_equal(ed_topic_config_set(f->t, t, "retention.bytes", NULL, &why), ED_OK);
    assert_string_equal(ed_topic_config_get(t, "retention.bytes", &d), "-1");
    assert_true(d);
    lc = ed_log_get_config(ed_topic_partition(t, 0)->log);
    assert_true(lc->retention_len == -1);
    reopen(f);
    t = ed_topics_find(f->t, "cfg");
    assert_string_equal(ed_topic_config_get(t, "retention.bytes", &d), "-1");

    const char *const *keys = ed_topics_config_keys();
    int n = 0;
    for (; keys[n]; n++) {
        assert_non_null(ed_topic_config_get(t, keys[n], &d));
        assert_int_equal(ed_topics_config_check(keys[n], NULL, &why), ED_OK);
    }
    assert_true(n >= 25);
}

/* compression.zstd.level (KIP-390): Kafka's range -131072..22, the
 * broker's default 3 described, an override applied to the partitions
 * and kept across a restart. */
static void test_zstd_level(void **state)
{
    struct fx *f = *state;
    ed_topic *t;
    const char *why;
    bool d;
    assert_int_equal(ed_topics_create(f->t, "z", 2, NULL, NULL, 0, NULL, &t), ED_OK);
    assert_string_equal(ed_topic_config_get(t, "compression.zstd.level", &d), "3");
    assert_true(d);
    const char *bad[] = {"23", "-131073", "nineteen", "", "3.5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(ed_topic_config_set(f->t, t, "compression.zstd.level", bad[i], &why),
                         ED_ERR_INVAL);
    assert_int_equal(ed_topics_config_check("compression.zstd.level", "-131072", &why), ED_OK);
    assert_int_equal(ed_topics_config_check("compression.zstd.level", "22", &why), ED_OK);
    assert_int_equal(ed_topic_config_set(f->t, t, "compression.zstd.level", "19", &why), ED_OK);
    assert_int_equal(ed_log_get_config(ed_topic_partition(t, 1)->log)->zstd_level, 19);
    reopen(f);
    t = ed_topics_find(f->t, "z");
    assert_string_equal(ed_topic_config_get(t, "compression.zstd.level", &d), "19");
    assert_false(d);
    assert_int_equal(ed_log_get_config(ed_topic_partition(t, 0)->log)->zstd_level, 19);
    assert_int_equal(ed_topic_config_set(f->t, t, "compression.zstd.level", NULL, &why), ED_OK);
    assert_int_equal(ed_log_get_config(ed_topic_partition(t, 0)->log)->zstd_level, 3);
}

static void test_auto_create(void **state)
{
    struct fx *f = *state;
    ed_topic *t;
    char why[256];
    assert_int_equal(ed_topics_auto_create(f->t, "auto", &t), ED_OK);
    assert_int_equal(ed_topic_n_partitions(t), 2);
    assert_int_equal(ed_topics_auto_create(f->t, "bad/name", &t), ED_ERR_INVAL);
    assert_int_equal(ed_config_set(f->cfg, "auto.create.topics.enable", "false", why, sizeof why),
                     ED_OK);
    assert_int_equal(ed_topics_auto_create(f->t, "auto2", &t), ED_ERR_NOENT);
    assert_null(ed_topics_find(f->t, "auto2"));
}

/* Auto-creation (Metadata, MQTT) and growth stop at eddy.max.partitions and
 * eddy.max.topics without creating anything on disk; internal topics are
 * never refused. */
static void test_caps(void **state)
{
    struct fx *f = *state;
    char why[256];
    ed_topic *t = NULL;
    assert_int_equal(ed_config_set(f->cfg, "eddy.max.partitions", "3", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(f->cfg, "eddy.max.topics", "2", why, sizeof why), ED_OK);
    assert_int_equal(ed_topics_auto_create(f->t, "one", &t), ED_OK); /* 2 partitions */
    assert_int_equal(ed_topics_auto_create(f->t, "two", &t), ED_ERR_TOOBIG);
    assert_null(ed_topics_find(f->t, "two"));
    char path[128];
    snprintf(path, sizeof path, "%s/two-0", f->dir);
    assert_int_not_equal(access(path, F_OK), 0);
    const char *cwhy = NULL;
    assert_int_equal(ed_topics_create(f->t, "three", 2, NULL, NULL, 0, &cwhy, NULL), ED_ERR_TOOBIG);
    assert_non_null(strstr(cwhy, "eddy.max.partitions"));
    t = ed_topics_find(f->t, "one");
    assert_int_equal(ed_topics_set_partitions(f->t, t, 4), ED_ERR_TOOBIG);
    assert_int_equal(ed_topic_n_partitions(t), 2);
    assert_int_equal(ed_topics_set_partitions(f->t, t, 3), ED_OK);
    assert_int_equal(ed_topics_count_partitions(f->t), 3);
    assert_int_equal(ed_topics_create(f->t, "__consumer_offsets", 1, NULL, NULL, 0, &cwhy, NULL),
                     ED_OK);
    assert_int_equal(ed_config_set(f->cfg, "eddy.max.partitions", "100", why, sizeof why), ED_OK);
    assert_int_equal(ed_topics_create(f->t, "four", 1, NULL, NULL, 0, &cwhy, NULL), ED_ERR_TOOBIG);
    assert_non_null(strstr(cwhy, "eddy.max.topics"));
    /* Deleting makes room again. */
    assert_int_equal(ed_topics_delete(f->t, ed_topics_find(f->t, "one")), ED_OK);
    assert_int_equal(ed_topics_auto_create(f->t, "two", &t), ED_OK);
}

/* ---- deletion in steps ---- */

/* Another client's turn of the loop: the registry answers. */
static void check_turn(void *arg)
{
    struct fx *f = arg;
    assert_null(ed_topics_find(f->t, "wide"));
    assert_non_null(ed_topics_find(f->t, "other"));
}

/* With a loop, a deletion answers once recorded and removes its partitions
 * a bounded number per turn while the loop keeps serving. */
static void test_delete_in_steps(void **state)
{
    struct fx *f = *state;
    ed_topic *t;
    assert_int_equal(ed_topics_create(f->t, "wide", 100, NULL, NULL, 0, NULL, &t), ED_OK);
    assert_int_equal(ed_topics_create(f->t, "other", 1, NULL, NULL, 0, NULL, NULL), ED_OK);
    struct lt_turns s = {.st = f->st, .want = 1, .limit = 1000, .check = check_turn, .arg = f};
    assert_int_equal(ed_plat_loop_new(&s.loop), ED_OK);
    ed_topics_set_loop(f->t, s.loop);
    assert_int_equal(ed_topics_delete(f->t, t), ED_OK);
    /* Recorded and hidden at once; one step of files goes now, the rest
     * later. */
    assert_null(ed_topics_find(f->t, "wide"));
    assert_int_equal(ed_topics_count(f->t), 1);
    assert_int_equal(lt_count_logs(f->st), 101 - 16);
    const char *why = NULL;
    assert_int_equal(ed_topics_create(f->t, "wide", 1, NULL, NULL, 0, &why, NULL), ED_ERR_EXIST);
    assert_non_null(strstr(why, "marked for deletion"));
    assert_int_equal(lt_turns_run(&s), ED_OK);
    assert_int_equal(lt_count_logs(f->st), 1);
    assert_true(s.max_change > 0 && s.max_change <= 16);
    assert_true(s.n_turns >= 100 / 16 - 1);
    char path[128];
    snprintf(path, sizeof path, "%s/wide-0", f->dir);
    assert_int_not_equal(access(path, F_OK), 0);
    /* The registry forgot it: the name is free, and stays so on restart. */
    assert_int_equal(ed_topics_create(f->t, "wide", 1, NULL, NULL, 0, &why, NULL), ED_OK);
    assert_int_equal(ed_topics_delete(f->t, ed_topics_find(f->t, "wide")), ED_OK);
    fx_close(f);
    ed_plat_loop_free(s.loop);
    fx_open(f);
    assert_null(ed_topics_find(f->t, "wide"));
    assert_non_null(ed_topics_find(f->t, "other"));
}

static void test_reconcile(void **state)
{
    struct fx *f = *state;
    ed_topic *t;
    assert_int_equal(ed_topics_create(f->t, "gone", 2, NULL, NULL, 0, NULL, &t), ED_OK);
    assert_int_equal(ed_topics_create(f->t, "holey", 3, NULL, NULL, 0, NULL, &t), ED_OK);
    /* a log nobody registered: adopted at the next open */
    ed_log *log;
    assert_int_equal(ed_storage_create_log(f->st, "stray", 1, &f->sc.log, &log), ED_OK);
    fx_close(f);
    char cmd[256];
    /* "gone": a create that never made its logs; "holey": lost partition 1 */
    snprintf(cmd, sizeof cmd, "rm -rf %s/gone-0 %s/gone-1 %s/holey-1", f->dir, f->dir, f->dir);
    assert_int_equal(system(cmd), 0);
    fx_open(f);
    assert_null(ed_topics_find(f->t, "gone"));
    t = ed_topics_find(f->t, "holey");
    assert_non_null(t);
    assert_int_equal(ed_topic_n_partitions(t), 3);
    assert_non_null(ed_topic_partition(t, 1));
    t = ed_topics_find(f->t, "stray");
    assert_non_null(t);
    assert_int_equal(ed_topic_n_partitions(t), 2); /* partition 0 filled in */
    uint8_t id[16];
    memcpy(id, ed_topic_id(t), 16);
    reopen(f);
    t = ed_topics_find(f->t, "stray");
    assert_memory_equal(ed_topic_id(t), id, 16); /* the adoption was persisted */
}

static void test_corrupt_registry(void **state)
{
    struct fx *f = *state;
    assert_int_equal(ed_topics_create(f->t, "x", 1, NULL, NULL, 0, NULL, NULL), ED_OK);
    fx_close(f);
    char path[128];
    snprintf(path, sizeof path, "%s/eddy-topics.properties", f->dir);
    FILE *fp = fopen(path, "r+");
    assert_non_null(fp);
    fseek(fp, -3, SEEK_END);
    fputc('#', fp);
    fclose(fp);
    assert_int_equal(ed_storage_open(&f->sc, &f->st), ED_OK);
    assert_int_equal(ed_topics_open_dir(f->st, f->dir, &f->sc.log, &f->t), ED_ERR_CORRUPT);
    f->t = NULL;
    ed_storage_close(f->st);
    f->st = NULL;
    unlink(path);
    fx_open(f); /* without the file: logs adopted with defaults */
    assert_non_null(ed_topics_find(f->t, "x"));
}

static void test_memory_only(void **state)
{
    struct fx *f = *state;
    ed_topics *t2;
    /* Without a folder nothing is written; topics come from the logs. */
    assert_int_equal(ed_topics_create(f->t, "mem", 1, NULL, NULL, 0, NULL, NULL), ED_OK);
    ed_topics_close(f->t);
    f->t = NULL;
    assert_int_equal(ed_topics_open(f->st, &f->sc.log, &t2), ED_OK);
    assert_non_null(ed_topics_find(t2, "mem"));
    ed_topic *t;
    assert_int_equal(ed_topics_auto_create(t2, "off", &t), ED_ERR_NOENT);
    ed_topics_close(t2);
    ed_storage_close(f->st);
    f->st = NULL;
}

static void test_meta_properties(void **state)
{
    struct fx *f = *state;
    char id1[23], id2[23];
    assert_int_equal(ed_topics_meta_properties(f->dir, 3, id1), ED_OK);
    assert_int_equal(strlen(id1), 22);
    assert_int_equal(ed_topics_meta_properties(f->dir, 3, id2), ED_OK);
    assert_string_equal(id1, id2);
    assert_int_equal(ed_topics_meta_properties(f->dir, 4, id2), ED_ERR_INVAL);
    char path[128], buf[256];
    snprintf(path, sizeof path, "%s/meta.properties", f->dir);
    FILE *fp = fopen(path, "r");
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "version=1\n"));
    assert_non_null(strstr(buf, "node.id=3\n"));
    char want[64];
    snprintf(want, sizeof want, "cluster.id=%s\n", id1);
    assert_non_null(strstr(buf, want));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_create_find_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_listeners, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_grow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zstd_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_in_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_properties, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
