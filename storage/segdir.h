/* Listing a partition folder: its segment files (<20-digit base
 * offset>.log, .index, .timeindex) parsed and sorted by base offset, the
 * other files in it (left for each caller to judge: temporary files,
 * compaction outputs, strays) and its subfolders. Used by opening a log,
 * compaction recovery, deleting a folder, `eddy check` and `eddy dump`. */
#ifndef ED_STORAGE_SEGDIR_H
#define ED_STORAGE_SEGDIR_H

#include "platform/base.h"

#define ED_SEG_DIGITS       20   /* digits of the base offset in segment file names */
#define ED_STORAGE_PATH_MAX 1024 /* longest path of a storage file */

enum ed_segdir_kind {
    ED_SEGDIR_LOG,       /* <base>.log */
    ED_SEGDIR_INDEX,     /* <base>.index */
    ED_SEGDIR_TIMEINDEX, /* <base>.timeindex */
    ED_SEGDIR_OTHER,     /* any other file name */
};

struct ed_segdir_file {
    char *name;
    int64_t base; /* from the name; -1 for ED_SEGDIR_OTHER */
    enum ed_segdir_kind kind;
};

/* What ed_segdir_list found. All arrays are owned by the listing. */
struct ed_segdir {
    /* Every file: the segment files first, by base offset and then .log,
     * .index, .timeindex; then the others by name. */
    struct ed_segdir_file *files;
    uint32_t n_files;
    uint32_t n_segment_files; /* files[0 .. n_segment_files) are segment files */
    int64_t *bases;           /* base offsets of the .log files, ascending */
    uint32_t n_bases;
    char **dirs; /* subfolders, by name */
    uint32_t n_dirs;
};

/* Lists the folder dir. On an error (the folder's, or ED_ERR_NOMEM) out is
 * left empty; ed_segdir_free is safe on it either way. */
int ed_segdir_list(const char *dir, struct ed_segdir *out);
void ed_segdir_free(struct ed_segdir *l);
/* Removes the folder dir and the files in it (logged on failure). */
int ed_segdir_remove(const char *dir);
/* True when the listing holds <base>.log. */
bool ed_segdir_has_log(const struct ed_segdir *l, int64_t base);
/* Parses "<20 digits><suffix>" (a value up to INT64_MAX); false if name is
 * anything else. */
bool ed_segdir_parse_name(const char *name, const char *suffix, int64_t *base);
/* Builds "<dir>/<20-digit base><suffix>" into buf; ED_ERR_INVAL (buf
 * empty) when it does not fit. */
int ed_segdir_path(char *buf, size_t cap, const char *dir, int64_t base, const char *suffix);
/* The kind of a file name, and its base offset (-1 for ED_SEGDIR_OTHER). */
enum ed_segdir_kind ed_segdir_kind_of(const char *name, int64_t *base);

#endif
