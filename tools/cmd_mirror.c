/* `eddy mirror status --data DIR [--json]`: shows the upstream mirror's
 * state as the running broker last wrote it (DIR/mirror-status.json, at
 * most a second old while the broker runs): the link and its throughput,
 * each partition's mirrored offset, lag in records and bytes, the age of
 * its oldest unmirrored record, throughput and state, and the last
 * error. Exit 0
 * when mirroring, 1 when the mirror is stopped (error, fenced) or the file
 * is stale, 2 on usage or a missing file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kafka/mirror.h"
#include "platform/mem.h"
#include "platform/platform.h"
#include "tools/cmds.h"

#define STALE_MS 5000

static void usage(FILE *out)
{
    fprintf(out, "usage: eddy mirror status --data DIR [--json]\n"
                 "  --data DIR  the broker's data directory (log.dirs)\n"
                 "  --json      print the status file as it is\n");
}

/* The value of "key" in one line of the status file (string without its
 * quotes, or the number), into out; false if absent. */
static bool field(const char *line, const char *key, char *out, size_t out_len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    if (!p) return false;
    p += strlen(pat);
    size_t o = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"' && o + 1 < out_len; p++) {
            if (*p == '\\' && p[1]) p++;
            out[o++] = *p;
        }
    } else {
        for (; *p && *p != ',' && *p != '}' && o + 1 < out_len; p++)
            out[o++] = *p;
    }
    out[o] = 0;
    return true;
}

static char *read_file(const char *path, size_t *len_out)
{
    bool is_dir = false;
    uint64_t size = 0;
    if (ed_plat_path_stat(path, &is_dir, &size) != ED_OK || is_dir || size > (64u << 20))
        return NULL;
    char *buf = ed_malloc((size_t)size + 1);
    if (!buf) return NULL;
    ed_file *f = NULL;
    size_t got = 0;
    int rc = ed_plat_file_open(path, ED_FILE_READ, &f);
    if (rc == ED_OK) rc = ed_plat_file_pread(f, buf, (size_t)size, 0, &got);
    if (f) ed_plat_file_close(f);
    if (rc != ED_OK) {
        ed_free(buf);
        return NULL;
    }
    buf[got] = 0;
    *len_out = got;
    return buf;
}

/* A duration in ms as a short text ("-" for none): 45s, 12m, 30h. */
static void age_text(const char *ms, char *out, size_t out_len)
{
    long long s = strtoll(ms, NULL, 10) / 1000;
    if (!ms[0] || strtoll(ms, NULL, 10) <= 0)
        snprintf(out, out_len, "-");
    else if (s < 120)
        snprintf(out, out_len, "%llds", s);
    else if (s < 120 * 60)
        snprintf(out, out_len, "%lldm", s / 60);
    else
        snprintf(out, out_len, "%lldh", s / 3600);
}

/* Ends the line at s and returns the next one (NULL after the last). */
static char *next_line(char *s)
{
    char *nl = strchr(s, '\n');
    if (!nl) return NULL;
    *nl = 0;
    return nl[1] ? nl + 1 : NULL;
}

/* A line about ranges dropped before they were mirrored (drop-oldest):
 * the totals, or one range (a header before the first). */
static bool show_dropped(const char *line, bool *header)
{
    char a[32] = "", z[32] = "", n[32] = "", topic[256] = "", part[16] = "", ann[16] = "";
    if (field(line, "dropped_ranges", a, sizeof a)) {
        field(line, "dropped_records", n, sizeof n);
        if (strcmp(a, "0") != 0)
            printf("dropped before mirrored since start: %s ranges, %s records\n", a, n);
        return true;
    }
    if (!field(line, "first", a, sizeof a)) return false;
    field(line, "last", z, sizeof z);
    field(line, "records", n, sizeof n);
    field(line, "topic", topic, sizeof topic);
    field(line, "partition", part, sizeof part);
    field(line, "announced", ann, sizeof ann);
    if (!*header)
        printf("%-32s %9s %25s %10s  %s\n", "DROPPED TOPIC", "PARTITION", "OFFSETS", "RECORDS",
               "GAP RECORD");
    *header = true;
    char range[80];
    snprintf(range, sizeof range, "%s..%s", a, z);
    printf("%-32s %9s %25s %10s  %s\n", topic, part, range, n,
           strcmp(ann, "true") == 0 ? "upstream" : "waiting");
    return true;
}

static int show(char *text, bool json)
{
    if (json) {
        fputs(text, stdout);
        return 0;
    }
    char *line = text;
    char *next = next_line(line);
    char site[256] = "?", up[300] = "?", state[64] = "?", link[64] = "?", err[1100] = "",
         txns[32] = "0", upd[32] = "0", bps[32] = "0";
    field(line, "site", site, sizeof site);
    field(line, "upstream", up, sizeof up);
    field(line, "state", state, sizeof state);
    field(line, "link", link, sizeof link);
    field(line, "last_error", err, sizeof err);
    field(line, "transactions", txns, sizeof txns);
    field(line, "updated_ms", upd, sizeof upd);
    field(line, "bytes_per_sec", bps, sizeof bps);
    int64_t age = ed_plat_clock_wall_ms() - strtoll(upd, NULL, 10);
    printf("site %s -> %s: %s (link %s), %s transactions committed, %s bytes/s\n", site, up, state,
           link, txns, bps);
    bool stale = age > STALE_MS;
    if (stale)
        printf("status not updated for %lld s: is the broker running?\n", (long long)(age / 1000));
    if (err[0]) printf("last error: %s\n", err);
    printf("%-32s %9s %12s %12s %10s %12s %7s %9s  %s\n", "TOPIC", "PARTITION", "MIRRORED", "END",
           "LAG", "LAG-BYTES", "AGE", "RECORDS/S", "STATE");
    bool gaps = false;
    while ((line = next)) {
        next = next_line(line);
        char topic[256], part[16] = "", mirrored[32] = "", end[32] = "", lag[32] = "",
                         pstate[64] = "", lagb[32] = "", oldest[32] = "", rps[32] = "", aget[32];
        if (show_dropped(line, &gaps)) continue;
        if (!field(line, "topic", topic, sizeof topic)) continue;
        field(line, "partition", part, sizeof part);
        field(line, "mirrored", mirrored, sizeof mirrored);
        field(line, "end", end, sizeof end);
        field(line, "lag", lag, sizeof lag);
        field(line, "state", pstate, sizeof pstate);
        field(line, "lag_bytes", lagb, sizeof lagb);
        field(line, "oldest_unmirrored_ms", oldest, sizeof oldest);
        field(line, "records_per_sec", rps, sizeof rps);
        age_text(oldest, aget, sizeof aget);
        printf("%-32s %9s %12s %12s %10s %12s %7s %9s  %s\n", topic, part, mirrored, end, lag, lagb,
               aget, rps, pstate);
    }
    return stale || strcmp(state, "error") == 0 || strcmp(state, "fenced") == 0 ? 1 : 0;
}

int ed_cmd_mirror(int argc, char **argv)
{
    const char *dir = NULL;
    bool json = false;
    if (argc < 2 || strcmp(argv[1], "status") != 0) {
        usage(argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) ? stdout
                                                                                          : stderr);
        return argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) ? 0 : 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, ED_MIRROR_STATUS_FILE);
    size_t len = 0;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr,
                "eddy mirror status: cannot read %s (no mirror configured, or the broker has not "
                "started it yet)\n",
                path);
        return 2;
    }
    int rc = show(text, json);
    ed_free(text);
    return rc;
}
