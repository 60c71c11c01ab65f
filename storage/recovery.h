/* Opening a partition folder and scanning segments batch by batch
 * (recovery.c). */
#ifndef ED_STORAGE_RECOVERY_H
#define ED_STORAGE_RECOVERY_H

#include "storage/cleanstop.h"

struct ed_scan_result {
    uint64_t valid_len;   /* bytes of valid batches from position 0 */
    uint64_t dropped_len; /* bytes after them, unless all are zeros (then 0) */
    uint64_t ahead_len;   /* bytes after them when all are zeros: written ahead, not data */
    uint64_t n_batches;
    uint64_t n_records; /* sum of the batches' record counts */
    const char *why;    /* first failed check, NULL if the file is whole (or only zeros
                         * follow the last batch) */
};
/* Validates every batch of seg from position 0 up to the file's size
 * (framing, offsets following on from the base and below limit_offset,
 * CRC32C), rebuilding seg->idx; seg->len becomes the end of the last valid
 * batch. Batches ending below trusted_below (the recovery point) are
 * only framed: their CRC is not computed. With truncate, cuts the file at
 * the first bad batch and logs it, except that zeros alone after the last
 * batch (blocks written ahead) stay in an active segment and are cut
 * without a word from a sealed one. buf is a scratch buffer of buf_len
 * bytes. */
int ed_recovery_scan(ed_segment *seg, int64_t limit_offset, int64_t trusted_below,
                     uint32_t interval, bool truncate, uint8_t *buf, size_t buf_len,
                     struct ed_scan_result *res);
/* Opens the partition folder dir: removes segments wholly below start_hint,
 * trusts sealed segments with sane index files, takes the active segment
 * from clean (the log's clean-shutdown entry, NULL if none; its indexes
 * are taken) when its base and size match the file, scans the rest (CRC32C
 * only past recovery_point), truncates torn tails. */
int ed_recovery_open_log(ed_storage *st, const char *dir, const char *topic, int32_t partition,
                         const struct ed_log_config *cfg, int64_t start_hint,
                         int64_t recovery_point, struct ed_cleanstop_log *clean, ed_log **out);

#endif
