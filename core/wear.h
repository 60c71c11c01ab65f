/* Flash wear accounting: the bytes the broker has written to storage over
 * its lifetime (the platform's count, added up across restarts) in a small
 * status file of the data directory, flash-wear.json, rewritten rarely
 * (every ED_WEAR_SAVE_MS and at close) so that it adds no wear of its own;
 * `eddy status --data DIR` reads it and estimates the card's life left. */
#ifndef ED_CORE_WEAR_H
#define ED_CORE_WEAR_H

#include "platform/base.h"

#include <stdint.h>

#define ED_WEAR_SAVE_MS (10 * 60 * 1000)
#define ED_WEAR_FILE    "flash-wear.json"

typedef struct ed_wear ed_wear;

/* What the file holds. */
struct ed_wear_status {
    uint64_t written_len;     /* all runs */
    int64_t since_ms;         /* wall clock of the first run counted */
    uint64_t run_written_len; /* this (or the last) run */
    int64_t run_start_ms;
    int64_t updated_ms;
    uint64_t endurance_len; /* flash.endurance.bytes */
    /* compaction in this (or the last) run: its own writes, and the
     * segments it left alone because a rewrite would not shrink them
     * (0 in a file from a version that did not write them) */
    uint64_t run_compact_read_len;
    uint64_t run_compact_written_len;
    uint64_t run_n_compact_unchanged;
};

/* Fills the run's compaction fields of s when the file is written. */
typedef void (*ed_wear_probe)(void *arg, struct ed_wear_status *s);

/* Starts counting for data directory dir: earlier runs' totals are read
 * from its file (a missing or unreadable one starts from zero).
 * ED_ERR_UNSUPPORTED when the platform counts no writes. */
int ed_wear_open(const char *dir, uint64_t endurance_len, int64_t now_ms, ed_wear **out);
/* The probe asked for the run's compaction figures at every write (NULL:
 * none, they stay 0). */
void ed_wear_set_probe(ed_wear *w, ed_wear_probe probe, void *arg);
/* Rewrites the file when ED_WEAR_SAVE_MS passed since it was last written. */
void ed_wear_tick(ed_wear *w, int64_t now_ms);
/* Writes the file a last time and frees w (NULL is fine). */
void ed_wear_close(ed_wear *w, int64_t now_ms);

/* Reads dir's file: ED_ERR_NOENT if there is none, ED_ERR_CORRUPT if a
 * field is missing. */
int ed_wear_read(const char *dir, struct ed_wear_status *out);
/* Parses the file's text; ED_ERR_CORRUPT when a field is missing. */
int ed_wear_parse(const char *text, struct ed_wear_status *out);
/* Bytes written per hour over the run, and days until the total reaches
 * the endurance at that rate (-1: no rate yet, or no endurance given). */
void ed_wear_estimate(const struct ed_wear_status *s, double *per_hour, double *days_left);

#endif
