/* `eddy status --data DIR`: the flash wear the running broker last wrote
 * (DIR/flash-wear.json, every 10 minutes and at shutdown): bytes written in
 * all and per hour, and the days of life left at that rate for the card's
 * endurance (flash.endurance.bytes). Offline: reads one small file. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/wear.h"
#include "platform/platform.h"
#include "tools/cmds.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: eddy status --data DIR\n"
                 "  --data DIR  the broker's data directory (log.dirs)\n");
}

int ed_cmd_status(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            dir = argv[++i];
            continue;
        }
        usage(stderr);
        return 2;
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }
    struct ed_wear_status s;
    int rc = ed_wear_read(dir, &s);
    if (rc != ED_OK) {
        fprintf(stderr,
                "eddy status: cannot read %s/%s: %s (the broker writes it 10 minutes "
                "after start and at shutdown)\n",
                dir, ED_WEAR_FILE, ed_strerror(rc));
        return 1;
    }
    double per_hour, days;
    ed_wear_estimate(&s, &per_hour, &days);
    int64_t age_s = (ed_plat_clock_wall_ms() - s.updated_ms) / 1000;
    printf("written to storage: %.3f GB since the first start (%.1f days ago)\n",
           (double)s.written_len / 1e9, (double)(s.updated_ms - s.since_ms) / 86400000.0);
    if (per_hour >= 0)
        printf("rate of the last run: %.1f MB per hour (%.2f GB per day)\n", per_hour / 1e6,
               per_hour * 24 / 1e9);
    if (s.endurance_len == 0)
        printf("flash endurance: unknown (set flash.endurance.bytes)\n");
    else
        printf("flash endurance: %.1f TB, %.2f %% used\n", (double)s.endurance_len / 1e12,
               100.0 * (double)s.written_len / (double)s.endurance_len);
    if (days >= 0) printf("life left at this rate: %.0f days (%.1f years)\n", days, days / 365.25);
    printf("compaction in the last run: %.3f MB read, %.3f MB written, %" PRIu64
           " segments left alone (a rewrite would not shrink them)\n",
           (double)s.run_compact_read_len / 1e6, (double)s.run_compact_written_len / 1e6,
           s.run_n_compact_unchanged);
    printf("figures written %lld s ago\n", (long long)age_s);
    return 0;
}
