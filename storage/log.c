/* A partition log as an object: its configuration, its list of segments
 * (ascending base offsets, the last one active) and its offsets; making,
 * freeing and removing one. Rolling and dropping segments are in
 * log_roll.c, reads in log_read.c, appends in log_append.c. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "log"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log_int.h"

void ed_log_config_default(struct ed_log_config *c)
{
    memset(c, 0, sizeof *c);
    c->segment_len = 16u << 20;             /* flash-sized, not Kafka's 1 GiB */
    c->segment_ms = 7LL * 24 * 3600 * 1000; /* Kafka's log.roll.ms default */
    c->retention_ms = 7LL * 24 * 3600 * 1000;
    c->retention_len = -1;
    c->index_interval_len = 4096;
    /* Durability comes from durable waiters (acks=all, QoS >= 1, CON), each
     * covered by a shared fdatasync. For data nobody waits on, a count bound
     * would only add syncs (flash wear) without a promise to anyone, so it is
     * off (Kafka's own default); flush.ms = 1 s bounds how much un-awaited
     * data a power cut can take. */
    c->flush_interval_messages = INT64_MAX;
    c->flush_interval_ms = 1000;
    c->max_message_len = 1048588; /* Kafka's message.max.bytes: 1 MiB + overhead */
    c->compact = false;
    c->delete_ = true;
    c->log_append_time = false;
    c->compression = ED_COMPRESSION_NONE;
    c->delete_retention_ms = 24LL * 3600 * 1000;
}

void ed_log_clamp_config(struct ed_log_config *c)
{
    /* Index positions are int32: a segment never grows past INT32_MAX. */
    if (c->segment_len < 64) c->segment_len = 64;
    if (c->segment_len > INT32_MAX) c->segment_len = INT32_MAX;
    if (c->segment_ms < 1) c->segment_ms = 1;
    if (c->flush_interval_messages < 1) c->flush_interval_messages = 1;
    if (c->flush_interval_ms < 0) c->flush_interval_ms = 0;
    if (c->max_message_len < 0) c->max_message_len = 0;
    if (c->index_interval_len > INT32_MAX) c->index_interval_len = INT32_MAX;
}

int ed_log_new(ed_storage *st, const char *dir, const char *topic, int32_t partition,
               const struct ed_log_config *cfg, ed_log **out)
{
    ed_log *log = ed_calloc(1, sizeof *log);
    if (!log) return ED_ERR_NOMEM;
    log->st = st;
    log->partition = partition;
    log->topic = ed_strdup(topic);
    log->dir = ed_strdup(dir);
    if (!log->topic || !log->dir) {
        ed_log_free(log);
        return ED_ERR_NOMEM;
    }
    log->cfg = *cfg;
    ed_log_clamp_config(&log->cfg);
    log->unflushed_since_ms = -1;
    log->last_sync_ms = INT64_MIN;
    *out = log;
    return ED_OK;
}

void ed_log_free(ed_log *log)
{
    if (!log) return;
    for (uint32_t i = 0; i < log->n_segs; i++) {
        ed_fdcache_detach(log->segs[i]);
        ed_segment_unref(log->segs[i]);
    }
    ed_free(log->segs);
    ed_free(log->job.segs);
    ed_free(log->job2.segs);
    ed_free(log->topic);
    ed_free(log->dir);
    ed_free(log->delete_dir);
    ed_free(log);
}

int ed_log_push_segment(ed_log *log, ed_segment *seg)
{
    if (log->n_segs == log->cap_segs) {
        uint32_t cap = log->cap_segs ? log->cap_segs * 2 : 8;
        ed_segment **p = ed_realloc(log->segs, cap * sizeof *p);
        if (!p) return ED_ERR_NOMEM;
        log->segs = p;
        log->cap_segs = cap;
    }
    log->segs[log->n_segs++] = seg;
    log->size += seg->len;
    log->st->total_len += seg->len;
    ed_fdcache_attach(&log->st->fdc, seg);
    return ED_OK;
}

uint32_t ed_log_find_segment(const ed_log *log, int64_t offset)
{
    uint32_t lo = 0, hi = log->n_segs, found = 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base_offset <= offset) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return found;
}

int64_t ed_log_start_offset(const ed_log *log)
{
    return log->start_offset;
}

int64_t ed_log_end_offset(const ed_log *log)
{
    return log->end_offset;
}

const char *ed_log_dir(const ed_log *log)
{
    return log->dir;
}

int64_t ed_log_active_base(const ed_log *log)
{
    return log->n_segs ? log->segs[log->n_segs - 1]->base_offset : log->end_offset;
}

int64_t ed_log_durable_offset(const ed_log *log)
{
    return log->durable_offset;
}

uint64_t ed_log_size(const ed_log *log)
{
    return log->size;
}

void ed_log_set_config(ed_log *log, const struct ed_log_config *cfg)
{
    log->cfg = *cfg;
    ed_log_clamp_config(&log->cfg);
}

const struct ed_log_config *ed_log_get_config(const ed_log *log)
{
    return &log->cfg;
}

void ed_log_remove(ed_log *log)
{
    ed_segdir_remove(log->delete_dir ? log->delete_dir : log->dir);
    ed_log_free(log);
}
