/* Retention: deleting whole segments, oldest first, never the active one.
 * Per log by retention.ms (measured on the segment's largest timestamp) and
 * retention.bytes; for the whole data directory by the disk guard, which
 * keeps all logs under disk_budget_len and the file system above
 * disk_free_floor_len. Deleting acknowledged data is the operator's choice
 * (disk_full_delete, log.dir.full.policy=delete-oldest): then the guard
 * deletes the oldest sealed segments across partitions, logging and
 * counting each range; by default it refuses appends instead. The retention
 * hook (the upstream mirror) is asked first and may keep a segment; the
 * guard deletes a kept one only when it has no other segment left and the
 * drop hook, told of it first, agrees (mirror.on.full=drop-oldest). */
#include <inttypes.h>

#define ED_LOG_MODULE "retention"
#include "platform/log.h"
#include "storage/log_roll.h"
#include "storage/retention.h"

/* The age of a segment: its largest timestamp, or when Eddy first saw it
 * if its batches carry none. */
static int64_t seg_time(const ed_segment *seg)
{
    return seg->max_ts >= 0 ? seg->max_ts : seg->created_ms;
}

/* The oldest segment can go: not active, not being flushed. */
static bool oldest_deletable(const ed_log *log)
{
    return log->n_segs > 1 && !log->segs[0]->in_job && log->segs[0]->sealed;
}

static bool hook_allows(ed_storage *st, ed_log *log, bool guard)
{
    if (!st->hook) return true;
    return st->hook(st->hook_arg, log, log->segs[1]->base_offset - 1, guard);
}

static void retain_log(ed_storage *st, ed_log *log, int64_t now_ms)
{
    const struct ed_log_config *c = &log->cfg;
    if (c->compact && !c->delete_) return;
    while (c->retention_ms >= 0 && oldest_deletable(log) &&
           now_ms - seg_time(log->segs[0]) > c->retention_ms && hook_allows(st, log, false)) {
        ED_LOG_INFO("%s: deleting segment %" PRId64 " past retention.ms (newest record %" PRId64
                    " ms old)",
                    log->dir, log->segs[0]->base_offset, now_ms - seg_time(log->segs[0]));
        ed_log_drop_oldest(log);
        st->stats.n_segments_deleted_retention++;
    }
    while (c->retention_len >= 0 && oldest_deletable(log) &&
           log->size - log->segs[0]->len >= (uint64_t)c->retention_len &&
           hook_allows(st, log, false)) {
        ED_LOG_INFO("%s: deleting segment %" PRId64 " over retention.bytes (%" PRIu64
                    " bytes in the log)",
                    log->dir, log->segs[0]->base_offset, log->size);
        ed_log_drop_oldest(log);
        st->stats.n_segments_deleted_retention++;
    }
}

uint64_t ed_retention_guard(ed_storage *st, uint64_t need_len)
{
    uint64_t freed = 0;
    while (freed < need_len) {
        ed_log *best = NULL, *forced = NULL;
        for (uint32_t i = 0; i < st->n_logs; i++) {
            ed_log *log = st->logs[i];
            if (!oldest_deletable(log)) continue;
            int64_t t = seg_time(log->segs[0]);
            if (!forced || t < seg_time(forced->segs[0])) forced = log;
            if ((!best || t < seg_time(best->segs[0])) && hook_allows(st, log, true)) best = log;
        }
        bool override = false;
        if (!best && forced && (!st->hook || st->drop_hook)) {
            best = forced;
            override = st->hook != NULL;
        }
        if (!best) {
            ED_LOG_WARN_RL("disk guard: %" PRIu64 " more bytes needed but only %s segments "
                           "are left",
                           need_len - freed, forced ? "active or unmirrored" : "active");
            st->guard_kept = forced != NULL;
            return freed;
        }
        uint64_t len = best->segs[0]->len;
        int64_t first = best->segs[0]->base_offset, last = best->segs[1]->base_offset - 1;
        if (override && st->drop_hook(st->hook_arg, best, first, last) != ED_OK) {
            ED_LOG_WARN_RL("disk guard: %s-%d offsets %" PRId64 "..%" PRId64
                           " kept: the drop could not be recorded",
                           best->topic, (int)best->partition, first, last);
            break;
        }
        ED_LOG_WARN("disk guard (log.dir.full.policy=delete-oldest): deleting %s-%d offsets "
                    "%" PRId64 "..%" PRId64 " (%" PRIu64 " bytes)%s",
                    best->topic, (int)best->partition, first, last, len,
                    override ? " although the retention hook wants them kept" : "");
        ed_log_drop_oldest(best);
        freed += len;
        st->stats.n_segments_deleted_guard++;
        st->stats.len_deleted_guard += len;
        st->stats.n_offsets_deleted_guard += (uint64_t)(last - first + 1);
    }
    st->guard_kept = false;
    return freed;
}

/* Measures free space; under the refuse policy records whether it is below
 * the floor and says so when that changes. Returns how many bytes short of
 * the floor the file system is (0 if not, or if it cannot be measured). */
static uint64_t check_free(ed_storage *st)
{
    uint64_t free_len = 0, total = 0;
    if (ed_plat_fs_space(st->dir, &free_len, &total) != ED_OK) return 0;
    uint64_t floor = st->cfg.disk_free_floor_len;
    st->fs_known = true;
    st->fs_free_len = free_len;
    bool low = free_len < floor;
    if (!st->cfg.disk_full_delete && low != st->space_low) {
        if (low)
            ED_LOG_WARN_RL("free space on %s is %" PRIu64
                           " bytes, below log.dir.min.free.bytes (%" PRIu64
                           "): refusing new data (log.dir.full.policy=refuse)",
                           st->dir, free_len, floor);
        else
            ED_LOG_INFO_RL("free space on %s is back to %" PRIu64 " bytes: accepting new data",
                           st->dir, free_len);
    }
    st->space_low = low;
    return low ? floor - free_len : 0;
}

int ed_retention_admit(ed_storage *st, const ed_log *log, size_t len)
{
    const struct ed_storage_config *c = &st->cfg;
    if (c->disk_budget_len && st->total_len + len > c->disk_budget_len) {
        if (c->disk_full_delete) ed_retention_guard(st, st->total_len + len - c->disk_budget_len);
        if (st->total_len + len > c->disk_budget_len) {
            st->stats.n_appends_refused_full++;
            ED_LOG_WARN_RL("%s-%d: append of %zu bytes refused: log.dir.budget.bytes (%" PRIu64
                           ") reached%s",
                           log->topic, (int)log->partition, len, c->disk_budget_len,
                           !c->disk_full_delete ? " (log.dir.full.policy=refuse)"
                           : st->guard_kept     ? " and the rest is not mirrored yet"
                                                : " and nothing left to delete");
            return ED_ERR_NOSPC;
        }
    }
    /* under delete-oldest the guard keeps the floor, unless what is left
     * is kept for the mirror: then the floor refuses as under refuse */
    if (!c->disk_free_floor_len || (c->disk_full_delete && !st->guard_kept)) return ED_OK;
    /* Measure when nothing is known yet, or when the estimate says this
     * append would cross the floor; while below it, the tick measures. */
    if (!st->fs_known || (!st->space_low && st->fs_free_len < c->disk_free_floor_len + len))
        check_free(st);
    bool crosses = st->fs_known && st->fs_free_len < c->disk_free_floor_len + len;
    if (st->space_low || crosses) {
        st->stats.n_appends_refused_full++;
        ED_LOG_WARN_RL("%s-%d: append of %zu bytes refused: free space below "
                       "log.dir.min.free.bytes (%" PRIu64 ", %s)",
                       log->topic, (int)log->partition, len, c->disk_free_floor_len,
                       c->disk_full_delete ? "the rest is not mirrored yet"
                                           : "log.dir.full.policy=refuse");
        return ED_ERR_NOSPC;
    }
    if (st->fs_known) st->fs_free_len -= len;
    return ED_OK;
}

void ed_retention_run(ed_storage *st, int64_t now_ms, bool check_space)
{
    if (now_ms >= st->next_retention_ms) {
        for (uint32_t i = 0; i < st->n_logs; i++)
            retain_log(st, st->logs[i], now_ms);
        st->next_retention_ms = now_ms + st->cfg.retention_check_ms;
    }
    uint64_t need = 0;
    if (st->cfg.disk_budget_len && st->total_len > st->cfg.disk_budget_len)
        need = st->total_len - st->cfg.disk_budget_len;
    if (st->cfg.disk_free_floor_len && (check_space || st->guard_now)) {
        uint64_t short_len = check_free(st);
        if (short_len > need) need = short_len;
    }
    st->guard_now = false;
    if (need && st->cfg.disk_full_delete) ed_retention_guard(st, need);
}
