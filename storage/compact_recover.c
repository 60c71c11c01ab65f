/* Finishing what a compaction pass left in a partition folder when the
 * process stopped (see compact.c): an unfinished <first>.<last>.cleaned
 * output is removed; a committed <first>.<last>.swap is completed the way
 * the live swap does it (old index files and segments of the range go,
 * then the swap file takes the first segment's name), so doing it again
 * after another stop is harmless. Runs at open, before the segments are
 * listed for recovery. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "compact"
#include "platform/log.h"
#include "storage/compact_int.h"
#include "storage/segdir.h"

/* "<20 digits>.<20 digits><suffix>" with first <= last. */
static bool parse_pair(const char *name, const char *suffix, int64_t *a, int64_t *b)
{
    size_t sn = strlen(suffix);
    if (strlen(name) != 2 * ED_SEG_DIGITS + 1 + sn || name[ED_SEG_DIGITS] != '.' ||
        strcmp(name + 2 * ED_SEG_DIGITS + 1, suffix) != 0)
        return false;
    char first[ED_SEG_DIGITS + 1], second[ED_SEG_DIGITS + 1];
    memcpy(first, name, ED_SEG_DIGITS);
    first[ED_SEG_DIGITS] = '\0';
    memcpy(second, name + ED_SEG_DIGITS + 1, ED_SEG_DIGITS);
    second[ED_SEG_DIGITS] = '\0';
    return ed_segdir_parse_name(first, "", a) && ed_segdir_parse_name(second, "", b) && *a <= *b;
}

/* Completes the committed swap named name, covering segments [a, b]. */
static int complete_swap(const char *dir, const struct ed_segdir *l, const char *name, int64_t a,
                         int64_t b)
{
    char p[ED_STORAGE_PATH_MAX];
    ED_LOG_WARN("%s/%s: completing an interrupted compaction swap", dir, name);
    for (uint32_t k = 0; k < l->n_bases; k++) {
        if (l->bases[k] < a || l->bases[k] > b) continue;
        if (ed_segdir_path(p, sizeof p, dir, l->bases[k], ".index") == ED_OK)
            ed_plat_path_unlink(p);
        if (ed_segdir_path(p, sizeof p, dir, l->bases[k], ".timeindex") == ED_OK)
            ed_plat_path_unlink(p);
    }
    for (uint32_t k = 0; k < l->n_bases; k++)
        if (l->bases[k] > a && l->bases[k] <= b &&
            ed_segdir_path(p, sizeof p, dir, l->bases[k], ".log") == ED_OK)
            ed_plat_path_unlink(p);
    char from[ED_STORAGE_PATH_MAX];
    snprintf(from, sizeof from, "%s/%s", dir, name);
    int rc = ed_segdir_path(p, sizeof p, dir, a, ".log");
    if (rc == ED_OK) rc = ed_plat_path_rename(from, p);
    if (rc != ED_OK)
        ED_LOG_ERR("cannot complete the compaction swap %s: %s", from, ed_strerror(rc));
    return rc;
}

int ed_compact_recover_dir(const char *dir)
{
    struct ed_segdir l;
    int rc = ed_segdir_list(dir, &l);
    bool changed = false;
    char p[ED_STORAGE_PATH_MAX];
    for (uint32_t i = l.n_segment_files; i < l.n_files && rc == ED_OK; i++) {
        int64_t a, b;
        if (!parse_pair(l.files[i].name, ".cleaned", &a, &b)) continue;
        snprintf(p, sizeof p, "%s/%s", dir, l.files[i].name);
        ED_LOG_WARN("%s: removing an unfinished compaction output", p);
        ed_plat_path_unlink(p);
        changed = true;
    }
    for (uint32_t i = l.n_segment_files; i < l.n_files && rc == ED_OK; i++) {
        int64_t a, b;
        if (!parse_pair(l.files[i].name, ".swap", &a, &b)) continue;
        rc = complete_swap(dir, &l, l.files[i].name, a, b);
        changed = true;
    }
    if (rc == ED_OK && changed) rc = ed_plat_dir_sync(dir);
    ed_segdir_free(&l);
    return rc;
}
