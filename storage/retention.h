/* Retention by time and size and the disk guard (retention.c). */
#ifndef ED_STORAGE_RETENTION_H
#define ED_STORAGE_RETENTION_H

#include "storage/log_int.h"

/* Retention by time and size of every log, then the disk guard. */
void ed_retention_run(ed_storage *st, int64_t now_ms, bool check_space);
/* Frees at least need_len bytes by deleting the oldest sealed segments
 * across logs; returns the bytes freed. */
uint64_t ed_retention_guard(ed_storage *st, uint64_t need_len);
/* May len more bytes be appended to log? ED_OK, or ED_ERR_NOSPC (logged,
 * counted) at the disk budget or below the free-space floor; under
 * disk_full_delete the guard first deletes what it must. */
int ed_retention_admit(ed_storage *st, const ed_log *log, size_t len);

#endif
