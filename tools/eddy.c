/* The eddy command: dispatches to subcommands (serve, topics, produce,
 * consume, check, dump, ...). */
#include "tools/cmds.h"
#include "platform/base.h"

#include <stdio.h>
#include <string.h>

#ifndef ED_VERSION
#define ED_VERSION "0.1.0"
#endif

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} cmds[] = {
    {"serve", ed_cmd_serve, "run the broker (eddy serve --help lists every setting)"},
    {"version", ed_cmd_version, "print the version"},
    {"check", ed_cmd_check, "verify every batch and index of a data directory (offline)"},
    {"dump", ed_cmd_dump, "print the batches, records and index entries of segment files"},
    {"topics", ed_cmd_topics, "create, list, describe, delete or alter topics"},
    {"produce", ed_cmd_produce, "produce lines of standard input to a topic"},
    {"consume", ed_cmd_consume, "print records of a topic"},
    {"groups", ed_cmd_groups, "list, describe, reset offsets of or delete consumer groups"},
    {"mirror", ed_cmd_mirror, "the upstream mirror's state (eddy mirror status --data DIR)"},
    {"users", ed_cmd_users, "add, remove or list SASL/SCRAM users of a data directory (offline)"},
    {"tokens", ed_cmd_tokens,
     "add, list or revoke bearer tokens of the HTTP API (eddy tokens --help)"},
    {"status", ed_cmd_status,
     "flash wear: bytes written and days of life left (eddy status --data DIR)"},
};

int ed_cmd_version(int argc, char **argv)
{
    ED_UNUSED(argc);
    ED_UNUSED(argv);
    printf("eddy %s\n", ED_VERSION);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: eddy <command> [args]\n\ncommands:\n");
    for (size_t i = 0; i < ED_ARRAY_LEN(cmds); i++)
        fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < ED_ARRAY_LEN(cmds); i++)
        if (strcmp(argv[1], cmds[i].name) == 0) return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "eddy: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
