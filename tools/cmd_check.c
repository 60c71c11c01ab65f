/* `eddy check DIR|FILE [--truncate] [--quiet]`: offline verification of
 * every batch and index of a data directory, a partition folder or a
 * segment file; optionally cuts torn tails. Exit 0 clean, 1 problems left,
 * 2 usage or I/O error. */
#include <stdio.h>
#include <string.h>

#include "storage/check.h"
#include "tools/cmds.h"

static bool quiet;

static void print_line(void *arg, bool problem, const char *line)
{
    (void)arg;
    if (problem)
        printf("PROBLEM: %s\n", line);
    else if (!quiet)
        printf("%s\n", line);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: eddy check DIR|FILE [--truncate] [--quiet]\n"
                 "  DIR      a data directory (log.dirs), or one <topic>-<partition> folder\n"
                 "  FILE     one <offset>.log segment file\n"
                 "  --truncate  cut each segment at its first invalid batch (torn tail) and\n"
                 "              remove its index files; never while a broker uses DIR\n"
                 "  --quiet  print problems and the summary only\n");
}

int ed_cmd_path_arg(const char *cmd, const char *arg, const char **path,
                    void (*print_usage)(FILE *out))
{
    if (arg && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)) {
        print_usage(stdout);
        return 0;
    }
    if (arg && arg[0] != '-' && !*path) {
        *path = arg;
        return -1;
    }
    if (arg) fprintf(stderr, "eddy %s: unexpected argument '%s'\n", cmd, arg);
    print_usage(stderr);
    return 2;
}

int ed_cmd_check(int argc, char **argv)
{
    const char *path = NULL;
    bool truncate = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--truncate") == 0) {
            truncate = true;
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            quiet = true;
        } else {
            int status = ed_cmd_path_arg("check", argv[i], &path, usage);
            if (status >= 0) return status;
        }
    }
    if (!path) return ed_cmd_path_arg("check", NULL, &path, usage);
    struct ed_check_report r;
    int rc = ed_check_path(path, truncate, print_line, NULL, &r);
    printf("checked %llu partitions, %llu segments, %llu batches, %llu records, %llu bytes: "
           "%llu problems, %llu warnings",
           (unsigned long long)r.n_partitions, (unsigned long long)r.n_segments,
           (unsigned long long)r.n_batches, (unsigned long long)r.n_records,
           (unsigned long long)r.len, (unsigned long long)r.n_problems,
           (unsigned long long)r.n_warnings);
    if (r.n_truncated)
        printf(", %llu segments truncated (%llu bytes)", (unsigned long long)r.n_truncated,
               (unsigned long long)r.len_truncated);
    printf("\n");
    if (rc != ED_OK) {
        fprintf(stderr, "eddy check: %s: %s\n", path, ed_strerror(rc));
        return 2;
    }
    return r.n_problems ? 1 : 0;
}
