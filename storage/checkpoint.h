/* The data directory's checkpoint files in Kafka's text format
 * (checkpoint.c): log-start-offset-checkpoint (DeleteRecords) and
 * recovery-point-offset-checkpoint (offsets below were fdatasynced),
 * each replaced by tmp file, fdatasync, rename and folder sync. */
#ifndef ED_STORAGE_CHECKPOINT_H
#define ED_STORAGE_CHECKPOINT_H

#include "storage/log_int.h"

#define ED_CHECKPOINT_START    "log-start-offset-checkpoint"
#define ED_CHECKPOINT_RECOVERY "recovery-point-offset-checkpoint"
#define ED_TOPIC_MAX           249 /* Kafka's longest topic name */

struct ed_checkpoint_entry {
    char topic[ED_TOPIC_MAX + 1];
    int32_t partition;
    int64_t offset;
};

/* Kafka's rule for topic names: 1 to 249 of [a-zA-Z0-9._-], not "." or
 * "..". */
bool ed_checkpoint_topic_valid(const char *t);
/* Reads <data dir>/name; a missing or damaged file gives no entries
 * (logged). *out is freed by the caller. */
void ed_checkpoint_read(ed_storage *st, const char *name, struct ed_checkpoint_entry **out,
                        uint32_t *n_out);
/* Writes the log-start-offset checkpoint of every log (DeleteRecords). */
int ed_checkpoint_write_start_offsets(ed_storage *st);
/* Writes the recovery-point-offset-checkpoint of every log. */
int ed_checkpoint_write_recovery_points(ed_storage *st);
/* Replaces <data dir>/name with len bytes of buf: tmp file, fdatasync,
 * rename, folder sync (logged on failure). */
int ed_checkpoint_replace(ed_storage *st, const char *name, const void *buf, size_t len);

#endif
