/* Internals shared by the files of log compaction (compact.c drives the
 * passes, compact_map.c holds the offset map, compact_out.c writes the
 * cleaned output, compact_recover.c finishes interrupted swaps at open):
 * the compactor's state and the calls they make on each other. */
#ifndef ED_STORAGE_COMPACT_INT_H
#define ED_STORAGE_COMPACT_INT_H

#include "storage/codec.h"
#include "storage/compact.h"
#include "storage/flush.h"
#include "storage/log_int.h"

#define WBUF_LEN    (256u << 10)             /* output is written in chunks of this size */
#define RBUF_LEN    (256u << 10)             /* input is read in windows of at least this size */
#define N_PIDS      256                      /* producers tracked to keep their last batch */
#define REBUILD_MAX ED_BATCH_RECORDS_MAX_LEN /* what Produce takes, the cleaner reads */

enum phase { P_IDLE = 0, P_MAP, P_SCAN, P_COPY };

struct pid_last {
    int64_t pid;
    int64_t last_base; /* base offset of the producer's last batch in the pass */
};

struct ed_compactor {
    struct ed_compact_limits lim;
    int crash_point;
    bool crashed;
    struct ed_compact_swap *swap; /* the group's swap, handed to a flush job (compact_swap.c) */
    uint32_t next_log;            /* round robin */
    int passes_done;

    /* the pass */
    ed_log *log;
    enum phase phase;
    int64_t now_ms;
    ed_segment **segs; /* closed segments of the pass (referenced), from the log start */
    uint32_t n_segs;
    /* offset map */
    uint64_t *mh;
    int64_t *mo;
    uint32_t cap, n, limit;
    int64_t map_end; /* records below are covered by the map */
    uint32_t mi;     /* map cursor: segment, position */
    uint64_t mpos;
    struct pid_last pids[N_PIDS];
    int n_pids;
    bool pids_overflow;
    /* scan: which segments below the covered end a rewrite would change */
    uint32_t n_rewrite; /* segments [0, n_rewrite) are candidates */
    uint8_t *changes;   /* per segment of the pass: 1 if its rewrite drops or changes a record */
    uint32_t si;        /* scan cursor: segment, position */
    uint64_t spos;
    /* copy */
    uint32_t gi, gj; /* the group being written */
    uint32_t ci;     /* copy cursor: segment, position */
    uint64_t cpos;
    ed_file *out;
    uint64_t out_len;
    char out_path[ED_STORAGE_PATH_MAX];
    int64_t min_horizon;
    /* buffers */
    uint8_t *wbuf;
    size_t wlen;
    uint8_t *rbuf;
    size_t rcap, rlen;
    ed_segment *rseg; /* what rbuf holds: [rpos, rpos + rlen) of rseg */
    uint64_t rpos;
    uint8_t *obuf, *zbuf;
    size_t ocap, zcap;
    uint8_t *pbuf; /* the batch held back (see emit) */
    size_t pcap, pend_len;
    int64_t expect; /* the offset the next batch of the output must start at */
    struct ed_batch_iter it;
    struct ed_codec codec;
};

/* ---- driving passes (compact.c), finishing swaps (compact_recover.c) ---- */
/* Does a bounded step of compaction work; returns the ms until it wants
 * the next step (small while a pass runs). */
uint32_t ed_compact_tick(ed_storage *st, int64_t now_ms);
/* Drops any pass over log (being deleted). */
void ed_compact_forget(ed_storage *st, ed_log *log);
void ed_compact_free(ed_storage *st);
/* At open of a partition folder, before its segments are listed: removes
 * unfinished .cleaned files and completes committed .swap files. */
int ed_compact_recover_dir(const char *dir);

/* ---- the offset map (compact_map.c) ---- */
/* Empties the map, allocating it at the first pass. */
int ed_compact_map_init(struct ed_compactor *c);
/* Records offset for the key; false when a new key finds the map full. */
bool ed_compact_map_put(struct ed_compactor *c, const uint8_t *key, int32_t key_len,
                        int64_t offset);
/* The latest offset recorded for the key, -1 if none. */
int64_t ed_compact_map_latest(const struct ed_compactor *c, const uint8_t *key, int32_t key_len);
/* Remembers the batch as its producer's last one seen so far in the pass. */
void ed_compact_note_pid(struct ed_compactor *c, const struct ed_batch_info *b);
/* Must an emptied batch stay (as a header) to keep its producer's last
 * sequence number for the idempotence state rebuilt at open? */
bool ed_compact_keep_empty(const struct ed_compactor *c, const struct ed_batch_info *b);

/* ---- the cleaned output (compact_out.c) ---- */
/* Decides and writes one batch: the bytes as they are, a rebuilt batch
 * with fewer records (or a delete horizon), or nothing. */
int ed_compact_copy_batch(ed_storage *st, struct ed_compactor *c, const uint8_t *bp,
                          const struct ed_batch_info *b);
/* Would ed_compact_copy_batch write the batch other than as it is (a
 * record dropped, a delete horizon to set)? 1 yes, 0 no (a batch it cannot
 * read stays as it is), negative on an error that ends the pass. Notes the
 * delete horizon of tombstones that stay, as copying would. */
int ed_compact_batch_changes(ed_storage *st, struct ed_compactor *c, const uint8_t *bp,
                             const struct ed_batch_info *b);
/* Writes the batch held back and the buffered bytes to the output file. */
int ed_compact_out_finish(struct ed_compactor *c);

/* ---- swapping a group in (compact_swap.c) ---- */
/* Hands the written group [gi, gj) to the log's next flush job: sync,
 * commit and swap on the flusher, the new segment put in on the loop.
 * ED_ERR_BUSY if a segment of the group is held by a flush. */
int ed_compact_swap_start(ed_storage *st, struct ed_compactor *c);
/* The pass ends: a swap not yet handed to the flusher is withdrawn (its
 * output removed); one in a flush job finishes on its own. */
void ed_compact_swap_drop(struct ed_compactor *c);

/* ---- compact.c ---- */
/* Ends the pass; a half-written group's file is removed. */
void ed_compact_end_pass(ed_storage *st, struct ed_compactor *c, bool aborted);
/* "<dir>/<first base>.<last base><sfx>": a group's files while swapped. */
int ed_compact_pair_name(char *buf, size_t cap, const char *dir, int64_t a, int64_t b,
                         const char *sfx);
/* A batch whose records cannot be read is kept as it is and logged once;
 * false for errors that are not the batch's fault (they end the pass). */
bool ed_compact_skip_unreadable(ed_storage *st, struct ed_compactor *c,
                                const struct ed_batch_info *b, int rc);

#endif
