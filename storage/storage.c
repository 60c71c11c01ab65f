/* The data directory (log.dirs): one <topic>-<partition> folder per log,
 * found and recovered at open; creating and deleting logs (a deleted log's
 * folder is first renamed to <topic>-<partition>.<id>-delete, so a crash
 * half-way never brings it back); the log-start-offset-checkpoint file
 * (Kafka's format) for DeleteRecords; the periodic tick; statistics. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "storage"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/checkpoint.h"
#include "storage/cleanstop.h"
#include "storage/compact_int.h"
#include "storage/flush.h"
#include "storage/log_roll.h"
#include "storage/recovery.h"
#include "storage/retention.h"

#define DATA_DIR_MAX   600 /* leaves room for topic, partition and file names */
#define SPACE_CHECK_MS 1000
#define TICK_MAX_MS    1000

void ed_storage_config_default(struct ed_storage_config *c)
{
    memset(c, 0, sizeof *c);
    c->dir = "./eddy-data";
    ed_log_config_default(&c->log);
    c->disk_budget_len = 0;
    c->disk_free_floor_len = 0;
    c->retention_check_ms = 300000;    /* Kafka's log.retention.check.interval.ms */
    c->recovery_checkpoint_ms = 60000; /* Kafka's log.flush.offset.checkpoint.interval.ms */
    c->use_flusher_thread = true;
    c->max_open_segments = 2000; /* eddy.max.partitions' active segments and as many more */
}

/* "<topic>-<partition>": the partition follows the last '-'. */
static bool parse_partition_dir(const char *name, char *topic, size_t cap, int32_t *partition)
{
    const char *dash = strrchr(name, '-');
    if (!dash || dash == name || !dash[1] || strlen(dash + 1) > 10) return false;
    int64_t p = 0;
    for (const char *c = dash + 1; *c; c++) {
        if (*c < '0' || *c > '9') return false;
        p = p * 10 + (*c - '0');
    }
    size_t tn = (size_t)(dash - name);
    if (p > INT32_MAX || tn >= cap) return false;
    memcpy(topic, name, tn);
    topic[tn] = '\0';
    if (!ed_checkpoint_topic_valid(topic)) return false;
    *partition = (int32_t)p;
    return true;
}

/* Syncs the folder that holds the last component of p ("." for a bare name). */
static int sync_parent(char *p)
{
    char *slash = strrchr(p, '/');
    if (!slash) return ed_plat_dir_sync(".");
    if (slash == p) return ed_plat_dir_sync("/");
    *slash = '\0';
    int rc = ed_plat_dir_sync(p);
    *slash = '/';
    return rc;
}

/* Creates the missing levels of path. Every folder created, and the data
 * directory itself, is made durable in its parent: without that a power cut
 * may take the whole directory, acknowledged data and all, with it. */
static int make_dirs(const char *path)
{
    char p[ED_STORAGE_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p) return ED_ERR_INVAL;
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (i < n && p[i] != '/') continue;
        p[i] = '\0';
        bool is_dir = false;
        bool existed = ed_plat_path_stat(p, &is_dir, NULL) == ED_OK && is_dir;
        int rc = existed ? ED_OK : ed_plat_dir_make(p);
        if (rc == ED_OK && !existed) rc = sync_parent(p);
        if (rc == ED_OK && existed && i == n && sync_parent(p) != ED_OK)
            ED_LOG_WARN("cannot sync the folder holding %s", p);
        if (i < n) p[i] = '/';
        if (rc != ED_OK && (i == n || rc != ED_ERR_EXIST)) return rc;
    }
    return ED_OK;
}

/* ---- open / close ---- */

/* A folder of the data directory left by an interrupted delete. */
static bool is_deleted_dir(const char *name)
{
    size_t n = strlen(name);
    return n > 7 && strcmp(name + n - 7, "-delete") == 0;
}

static int cmp_logs(const void *a, const void *b)
{
    const ed_log *x = *(ed_log *const *)a, *y = *(ed_log *const *)b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static int add_log(ed_storage *st, ed_log *log)
{
    if (st->n_logs == st->cap_logs) {
        uint32_t cap = st->cap_logs ? st->cap_logs * 2 : 16;
        ed_log **p = ed_realloc(st->logs, cap * sizeof *p);
        if (!p) return ED_ERR_NOMEM;
        st->logs = p;
        st->cap_logs = cap;
    }
    st->logs[st->n_logs++] = log;
    qsort(st->logs, st->n_logs, sizeof *st->logs, cmp_logs);
    return ED_OK;
}

static ed_log *find_log(const ed_storage *st, const char *topic, int32_t partition)
{
    for (uint32_t i = 0; i < st->n_logs; i++)
        if (st->logs[i]->partition == partition && strcmp(st->logs[i]->topic, topic) == 0)
            return st->logs[i];
    return NULL;
}

static void free_all(ed_storage *st)
{
    for (uint32_t i = 0; i < st->n_logs; i++)
        ed_log_free(st->logs[i]);
    for (uint32_t i = 0; i < st->n_zombies; i++)
        ed_log_free(st->zombies[i]);
    ed_free(st->logs);
    ed_free(st->zombies);
    while (st->free_waiters) {
        struct ed_waiter *w = st->free_waiters;
        st->free_waiters = w->next;
        ed_free(w);
    }
    ed_free(st->scan_buf);
    ed_batch_validator_release(&st->validator);
    ed_recode_release(&st->recoder);
    ed_free(st->dir);
    ed_free(st);
}

int ed_storage_open(const struct ed_storage_config *cfg, ed_storage **out)
{
    if (!cfg || !cfg->dir || !*cfg->dir) return ED_ERR_INVAL;
    if (strlen(cfg->dir) > DATA_DIR_MAX) {
        ED_LOG_ERR("log.dirs: path longer than %d bytes: %s", DATA_DIR_MAX, cfg->dir);
        return ED_ERR_INVAL;
    }
    uint64_t t0 = ed_plat_clock_mono_ns();
    ed_storage *st = ed_calloc(1, sizeof *st);
    if (!st) return ED_ERR_NOMEM;
    st->cfg = *cfg;
    st->fdc.max_open = cfg->max_open_segments;
    st->dir = ed_strdup(cfg->dir);
    st->scan_buf = ed_malloc(ED_SCAN_BUF_LEN);
    ed_batch_validator_init(&st->validator, ED_BATCH_RECORDS_MAX_LEN);
    ed_recode_init(&st->recoder, ED_BATCH_RECORDS_MAX_LEN);
    if (!st->dir || !st->scan_buf) {
        free_all(st);
        return ED_ERR_NOMEM;
    }
    st->cfg.dir = st->dir;
    ed_log_clamp_config(&st->cfg.log);
    if (st->cfg.retention_check_ms < 1) st->cfg.retention_check_ms = 1;
    if (st->cfg.recovery_checkpoint_ms < 1) st->cfg.recovery_checkpoint_ms = 60000;

    struct ed_segdir l = {0};
    struct ed_checkpoint_entry *starts = NULL, *points = NULL;
    uint32_t n_starts = 0, n_points = 0;
    struct ed_cleanstop clean = {0};
    int rc = make_dirs(st->dir);
    if (rc != ED_OK) {
        ED_LOG_ERR("log.dirs: cannot create %s: %s", st->dir, ed_strerror(rc));
        goto fail;
    }
    rc = ed_segdir_list(st->dir, &l);
    if (rc != ED_OK) goto fail;
    ed_checkpoint_read(st, ED_CHECKPOINT_START, &starts, &n_starts);
    ed_checkpoint_read(st, ED_CHECKPOINT_RECOVERY, &points, &n_points);
    rc = ed_cleanstop_read(st, &clean);
    if (rc != ED_OK) goto fail;
    bool rp_rewrite = false;
    for (uint32_t i = 0; i < l.n_dirs && rc == ED_OK; i++) {
        char path[ED_STORAGE_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", st->dir, l.dirs[i]);
        if (is_deleted_dir(l.dirs[i])) {
            ED_LOG_INFO("finishing the deletion of %s", path);
            ed_segdir_remove(path);
            continue;
        }
        char topic[ED_TOPIC_MAX + 1];
        int32_t part = 0;
        if (!parse_partition_dir(l.dirs[i], topic, sizeof topic, &part)) {
            ED_LOG_WARN("ignoring folder %s in the data directory: not <topic>-<partition>",
                        l.dirs[i]);
            continue;
        }
        int64_t hint = 0;
        for (uint32_t k = 0; k < n_starts; k++)
            if (starts[k].partition == part && strcmp(starts[k].topic, topic) == 0)
                hint = starts[k].offset;
        int64_t point = 0;
        for (uint32_t k = 0; k < n_points; k++)
            if (points[k].partition == part && strcmp(points[k].topic, topic) == 0)
                point = points[k].offset;
        ed_log *log;
        rc = ed_recovery_open_log(st, path, topic, part, &st->cfg.log, hint, point,
                                  ed_cleanstop_find(&clean, topic, part), &log);
        if (rc == ED_OK && log->recovery_point < point) rp_rewrite = true;
        if (rc == ED_OK) {
            rc = add_log(st, log);
            if (rc != ED_OK) ed_log_free(log);
        }
    }
    /* A recovery point past a log's recovered end must not survive into
     * the next start, where it would cover bytes appended from now on. */
    if (rc == ED_OK && rp_rewrite) rc = ed_checkpoint_write_recovery_points(st);
    /* The marker describes the files as the clean stop left them: gone,
     * durably, before anything is appended, so that a crash from here on
     * never finds it describing files that have changed since. */
    if (rc == ED_OK && clean.present) rc = ed_cleanstop_remove(st);
    if (rc != ED_OK) goto fail;
    st->next_rp_ms = ed_plat_clock_wall_ms() + st->cfg.recovery_checkpoint_ms;
    rc = ed_flush_start(st);
    if (rc != ED_OK) goto fail;
    for (uint32_t i = 0; i < st->n_logs; i++)
        ed_flush_request(st->logs[i]);
    ED_LOG_INFO("opened %s: %" PRIu32 " logs (%" PRIu64 " from the clean-shutdown marker), %" PRIu64
                " bytes, %" PRIu64 " scanned, %" PRIu64 " dropped by recovery, %" PRIu64 " ms",
                st->dir, st->n_logs, st->stats.n_clean_opens, st->total_len,
                st->stats.len_scanned_recovery, st->stats.len_truncated_recovery,
                (ed_plat_clock_mono_ns() - t0) / 1000000u);
    ed_segdir_free(&l);
    ed_free(starts);
    ed_free(points);
    ed_cleanstop_free(&clean);
    *out = st;
    return ED_OK;
fail:
    ed_segdir_free(&l);
    ed_free(starts);
    ed_free(points);
    ed_cleanstop_free(&clean);
    free_all(st);
    return rc;
}

void ed_storage_close(ed_storage *st)
{
    if (!st) return;
    ed_compact_free(st);
    /* Every segment is exactly its batches after a clean stop (the last
     * flush cuts off what was written ahead). */
    for (uint32_t i = 0; i < st->n_logs; i++) {
        ed_log *log = st->logs[i];
        if (log->n_segs > 0 && ed_log_active(log)->file_len > ed_log_active(log)->len)
            ed_log_active(log)->trim_pending = true;
    }
    ed_flush_all_now(st);
    /* Everything synced by the last flushes: the next open checks nothing
     * of it again (a failure only costs that open a longer check). */
    if (st->rp_dirty) ed_checkpoint_write_recovery_points(st);
    /* Last, after every sync: the next open takes the active segments from
     * it instead of reading them. */
    if (!st->rp_dirty) ed_cleanstop_write(st);
    for (uint32_t i = 0; i < st->n_zombies; i++) {
        ed_log *log = st->zombies[i];
        ed_log_remove(log);
    }
    st->n_zombies = 0;
    free_all(st);
}

/* ---- logs ---- */

int ed_storage_create_log(ed_storage *st, const char *topic, int32_t partition,
                          const struct ed_log_config *cfg, ed_log **out)
{
    if (!ed_checkpoint_topic_valid(topic) || partition < 0) {
        ED_LOG_WARN("cannot create log: invalid topic name or partition (%s, %d)",
                    topic ? topic : "", (int)partition);
        return ED_ERR_INVAL;
    }
    if (find_log(st, topic, partition)) return ED_ERR_EXIST;
    char path[ED_STORAGE_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s-%d", st->dir, topic, (int)partition);
    int rc = ed_plat_dir_make(path);
    if (rc == ED_OK) rc = ed_plat_dir_sync(st->dir);
    if (rc != ED_OK) {
        ED_LOG_ERR("cannot create %s: %s", path, ed_strerror(rc));
        return rc;
    }
    ed_log *log;
    rc = ed_recovery_open_log(st, path, topic, partition, cfg ? cfg : &st->cfg.log, 0, 0, NULL,
                              &log);
    if (rc != ED_OK) return rc;
    rc = add_log(st, log);
    if (rc != ED_OK) {
        st->total_len -= log->size;
        ed_log_free(log);
        return rc;
    }
    ed_flush_request(log);
    *out = log;
    return ED_OK;
}

int ed_storage_write_checkpoints(ed_storage *st)
{
    int crc = ed_checkpoint_write_recovery_points(st);
    int src = ed_checkpoint_write_start_offsets(st);
    return crc != ED_OK ? crc : src;
}

/* Takes one log out of the storage and removes its folder (renamed to
 * <topic>-<partition>.<id>-delete first, so a crash half-way never brings
 * it back). */
static void drop_log(ed_storage *st, ed_log *log)
{
    ed_compact_forget(st, log);
    st->total_len -= log->size;
    log->deleted = true;
    ed_flush_fail_waiters(log, ED_ERR_CLOSED);

    uint8_t id[16];
    char del[ED_STORAGE_PATH_MAX];
    ed_plat_random(id, sizeof id);
    int n = snprintf(del, sizeof del, "%s/%s-%d.", st->dir, log->topic, (int)log->partition);
    for (size_t k = 0; k < sizeof id && n > 0 && (size_t)n + 3 < sizeof del; k++)
        n += snprintf(del + n, sizeof del - (size_t)n, "%02x", id[k]);
    snprintf(del + n, sizeof del - (size_t)n, "-delete");
    int rc = ed_plat_path_rename(log->dir, del);
    if (rc == ED_OK) {
        ed_plat_dir_sync(st->dir);
        log->delete_dir = ed_strdup(del);
        if (!log->delete_dir) /* remove it under the old name */
            ED_LOG_WARN("out of memory: removing %s under its old name", del);
    } else {
        ED_LOG_ERR("cannot rename %s for deletion: %s; removing it in place", log->dir,
                   ed_strerror(rc));
    }
    if (log->job_busy) {
        /* The flusher still works on its files: remove them when it is done. */
        if (st->n_zombies == st->cap_zombies) {
            uint32_t cap = st->cap_zombies ? st->cap_zombies * 2 : 4;
            ed_log **p = ed_realloc(st->zombies, cap * sizeof *p);
            if (p) {
                st->zombies = p;
                st->cap_zombies = cap;
            }
        }
        if (st->n_zombies < st->cap_zombies) {
            st->zombies[st->n_zombies++] = log;
            return;
        }
        /* Out of memory: the log stays allocated and its files stay until
         * the next open finishes the deletion. */
        ED_LOG_ERR("out of memory: %s is removed at the next start", log->dir);
        return;
    }
    ed_log_remove(log);
}

int ed_storage_remove_logs(ed_storage *st, ed_log *const *logs, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = 0;
        while (i < st->n_logs && st->logs[i] != logs[k])
            i++;
        if (i == st->n_logs) return ED_ERR_NOENT;
    }
    /* Free first, then record: the folders go before the checkpoints are
     * rewritten, so a full disk can always be freed. Until the rewrite has
     * succeeded the checkpoints may still name the logs; the caller keeps a
     * new log of the same name from being created until then (a log
     * created later under the name must not inherit the start offset or
     * the recovery point, which would skip checking its unsynced bytes). */
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = 0;
        while (i < st->n_logs && st->logs[i] != logs[k])
            i++;
        if (i == st->n_logs) continue; /* named twice */
        memmove(st->logs + i, st->logs + i + 1, (st->n_logs - i - 1) * sizeof *st->logs);
        st->n_logs--;
        drop_log(st, logs[k]);
    }
    return ED_OK;
}

int ed_storage_delete_logs(ed_storage *st, ed_log *const *logs, uint32_t n)
{
    int rc = ed_storage_remove_logs(st, logs, n);
    if (rc != ED_OK) return rc;
    rc = ed_storage_write_checkpoints(st);
    if (rc != ED_OK) ED_LOG_ERR("checkpoints not rewritten after deleting %" PRIu32 " logs", n);
    return rc;
}

int ed_storage_delete_log(ed_storage *st, ed_log *log)
{
    return ed_storage_delete_logs(st, &log, 1);
}

void ed_storage_each_log(ed_storage *st, ed_storage_log_cb cb, void *arg)
{
    for (uint32_t i = 0; i < st->n_logs; i++) {
        ed_log *log = st->logs[i];
        cb(arg, log->topic, log->partition, log);
    }
}

void ed_storage_stats_get(const ed_storage *st, struct ed_storage_stats *out)
{
    *out = st->stats;
    out->n_open_segments = st->fdc.n_open;
    out->n_segment_files_closed = st->fdc.n_closed;
    out->n_segment_files_reopened = st->fdc.n_reopened;
    out->n_segment_reopen_failed = st->fdc.n_reopen_failed;
    out->n_segment_open_over_bound = st->fdc.n_over_bound;
}

void ed_storage_set_flush_hook(ed_storage *st, ed_flush_hook hook, void *arg)
{
    st->flush_hook = hook;
    st->flush_hook_arg = arg;
}

void ed_storage_set_retention_hook(ed_storage *st, ed_retention_hook hook, void *arg)
{
    st->hook = hook;
    st->hook_arg = arg;
}

void ed_storage_set_drop_hook(ed_storage *st, ed_retention_drop_hook drop)
{
    st->drop_hook = drop;
}

uint32_t ed_storage_tick(ed_storage *st, int64_t now_ms)
{
    for (uint32_t i = 0; i < st->n_logs; i++) {
        ed_log *log = st->logs[i];
        if (log->broken || !ed_log_roll_due(log, now_ms)) continue;
        int rc = ed_log_roll(log, now_ms);
        if (rc != ED_OK)
            ED_LOG_WARN_RL("%s: cannot roll by segment.ms: %s", log->dir, ed_strerror(rc));
    }
    bool space = now_ms >= st->next_space_ms;
    if (space) st->next_space_ms = now_ms + SPACE_CHECK_MS;
    ed_retention_run(st, now_ms, space);
    int64_t next = ed_flush_tick(st, now_ms);
    if (st->rp_dirty) {
        if (now_ms >= st->next_rp_ms) {
            st->next_rp_ms = now_ms + st->cfg.recovery_checkpoint_ms;
            ed_checkpoint_write_recovery_points(st);
        } else if (st->next_rp_ms - now_ms < next) {
            next = st->next_rp_ms - now_ms;
        }
    }
    /* Segments that became idle since (synced, slices sent) may close. */
    ed_fdcache_trim(&st->fdc);
    uint32_t cnext = ed_compact_tick(st, now_ms);
    if (cnext < next) next = cnext;
    if (st->next_retention_ms - now_ms < next) next = st->next_retention_ms - now_ms;
    if (next > TICK_MAX_MS) next = TICK_MAX_MS;
    if (next < 0) next = 0;
    st->tick_at_ms = now_ms + next;
    return (uint32_t)next;
}
