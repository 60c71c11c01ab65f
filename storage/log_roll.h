/* A partition log over time (log_roll.c): rolling to a new active
 * segment, dropping the oldest one, the tick's age check. */
#ifndef ED_STORAGE_LOG_ROLL_H
#define ED_STORAGE_LOG_ROLL_H

#include "storage/log_int.h"

/* Seals the active segment and starts a new one at the end offset. */
int ed_log_roll(ed_log *log, int64_t now_ms);
/* Removes the oldest segment (never the active one): files gone, reference
 * dropped, start offset moved. */
void ed_log_drop_oldest(ed_log *log);
/* True when the active segment is old enough (wall clock since it was
 * created) to roll by segment.ms from the tick. */
bool ed_log_roll_due(const ed_log *log, int64_t now_ms);

#endif
