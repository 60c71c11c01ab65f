/* Wall-clock times as text: RFC 3339 / ISO 8601 date-times to Unix
 * milliseconds and back (UTC, proleptic Gregorian), for the command line
 * and the HTTP API. */
#ifndef ED_CORE_TIMEFMT_H
#define ED_CORE_TIMEFMT_H

#include <stdbool.h>
#include <stdint.h>

/* "YYYY-MM-DDTHH:MM:SS[.sss][Z|+hh:mm|-hh:mm]" to epoch milliseconds (UTC
 * when no zone is given, as Kafka's tools do); false when malformed. */
bool ed_timefmt_parse(const char *s, int64_t *out);
/* ms as "YYYY-MM-DDTHH:MM:SS.sssZ" (NUL-terminated). */
void ed_timefmt_iso8601(int64_t ms, char out[48]);

#endif
