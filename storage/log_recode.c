/* A log's compression.type applied to a producer's batch before it is
 * appended: the choice of codec and level, the work done by the storage's
 * one recoder, and its cost counted in the storage statistics. */
#include "platform/platform.h"
#include "storage/log_int.h"

int ed_log_recode(ed_log *log, const uint8_t *buf, size_t len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    int codec = log->cfg.compression;
    if (codec < 0) return ED_OK; /* compression.type=producer */
    /* Too large as sent: the append refuses it (Kafka checks the batch as
     * sent before converting it), no work is spent on it. */
    if (len > (size_t)log->cfg.max_message_len) return ED_OK;
    int level =
        codec == ED_COMPRESSION_ZSTD ? ED_MIN(log->cfg.zstd_level, ED_RECODE_ZSTD_LEVEL_MAX) : 0;
    uint64_t t0 = ed_plat_clock_mono_ns();
    int rc = ed_recode_batch(&log->st->recoder, buf, len, codec, level, out, out_len);
    if (rc == ED_OK && *out) {
        struct ed_storage_stats *s = &log->st->stats;
        s->n_batches_recoded++;
        s->len_recoded_in += len;
        s->len_recoded_out += *out_len;
        s->ns_recoding += ed_plat_clock_mono_ns() - t0;
    }
    return rc;
}

void ed_log_recode_done(ed_log *log)
{
    ed_recode_trim(&log->st->recoder);
}
