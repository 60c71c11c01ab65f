/* Log compaction (cleanup.policy=compact, or compact,delete): closed
 * segments of a compacted log are rewritten keeping only the latest record
 * per key; offsets never change (batches keep their base offset and last
 * offset delta), the active segment is never touched, tombstones (null
 * values) stay for delete.retention.ms after the pass that first kept
 * them (Kafka's delete horizon in the batch header, KIP-534) and then go.
 * Memory is bounded by an offset map of fixed size (several passes when
 * a log has more keys than fit); writes are sequential; the swap of
 * cleaned files is crash-safe (docs/format.md, "Compaction").
 *
 * The storage drives it from ed_storage_tick with a byte budget per tick;
 * these calls are for tests and tools. */
#ifndef ED_STORAGE_COMPACT_H
#define ED_STORAGE_COMPACT_H

#include "storage/log.h"

#ifndef ED_COMPACT_MAP_LEN
#define ED_COMPACT_MAP_LEN (1u << 20) /* bytes of the offset map (16 per key) */
#endif
#ifndef ED_COMPACT_ZSTD_LEVEL_MAX
/* Rebuilt zstd batches take the topic's compression.zstd.level up to this:
 * a rebuild runs inside a loop step, and level 19 compresses about 2 MB/s
 * (half a second for a 1 MiB batch) */
#define ED_COMPACT_ZSTD_LEVEL_MAX 3
#endif
#ifndef ED_COMPACT_STEP_LEN
#define ED_COMPACT_STEP_LEN (1u << 20) /* bytes read per storage tick */
#endif

struct ed_compact_limits {
    size_t map_len;         /* offset map bytes: at most map_len / 16 * 3/4 keys per pass */
    size_t step_len;        /* bytes read per tick */
    double min_dirty_ratio; /* Kafka's min.cleanable.dirty.ratio (0.5) */
};
void ed_compact_set_limits(ed_storage *st, const struct ed_compact_limits *lim);

/* Runs compaction steps until no compacted log has dirty closed segments
 * or due tombstones (whatever min_dirty_ratio says), or max_steps ticks'
 * worth of work were done. Returns the passes completed. */
int ed_compact_run(ed_storage *st, int64_t now_ms, int max_steps);

/* Test hook: the compactor stops dead at a point of the swap, as if the
 * process died there, leaving the files as they are. */
enum ed_compact_crash {
    ED_COMPACT_CRASH_NONE = 0,
    ED_COMPACT_CRASH_CLEANED,  /* the .cleaned file is written and synced */
    ED_COMPACT_CRASH_SWAP,     /* renamed to .swap: the commit point */
    ED_COMPACT_CRASH_MID_SWAP, /* old index files and one old segment removed */
};
void ed_compact_set_crash_point(ed_storage *st, int point);

#endif
