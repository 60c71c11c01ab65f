/* Wall-clock times as text: RFC 3339 / ISO 8601 date-times to Unix
 * milliseconds and back, without the OS's time functions (proleptic
 * Gregorian calendar, UTC). */
#include "core/timefmt.h"

#include <stdio.h>

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SS[.sss][Z|+hh:mm|-hh:mm]" to epoch ms (UTC when no
 * zone is given, as Kafka's tool does). */
bool ed_timefmt_parse(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
    const char *p = s + n;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3) ms = ms * 10 + (*p - '0');
        if (digits == 0) return false;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    int64_t zone_min = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int zh, zm, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &zh, &zm, &k) != 2 || k != 5) return false;
        zone_min = (zh * 60 + zm) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p) return false;
    int64_t days = days_from_civil(y, mo, d);
    *out = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + ms - zone_min * 60000;
    return true;
}

void ed_timefmt_iso8601(int64_t ms, char out[48])
{
    int64_t s = ms / 1000, days = s / 86400, rem = s % 86400;
    /* civil from days (Howard Hinnant's algorithm) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100),
            mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    snprintf(out, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)(y + (m <= 2)), (int)m, (int)d,
             (int)(rem / 3600), (int)(rem % 3600 / 60), (int)(rem % 60), (int)(ms % 1000));
}
