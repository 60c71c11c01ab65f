/* Shared pieces of the admin subcommands: option parsing (--name value,
 * --name=value, -x value, flags), repeated options collected in lists, and
 * connecting to the broker named by --bootstrap-server with a one-line
 * error, with the client settings given as -X key=value (librdkafka's
 * names: security.protocol, ssl.ca.location, ssl.certificate.location,
 * ssl.key.location, ssl.endpoint.identification.algorithm). */
#ifndef ED_TOOLS_CLI_H
#define ED_TOOLS_CLI_H

#include "core/kafka/kclient.h"

#include <stdio.h>

#define ED_CLI_MAX_MULTI 64

struct ed_cli_opt {
    const char *name;   /* long name without dashes */
    char short_name;    /* 0 = none */
    bool has_arg;       /* false: a flag */
    const char **value; /* single-valued: last wins */
    bool *flag;         /* flags */
    const char **multi; /* repeatable: collected here (ED_CLI_MAX_MULTI) */
    int *n_multi;
};

/* Parses argv[first..argc): options from opts, anything else into
 * positional (up to max_pos). On error prints "eddy <cmd>: ..." to stderr
 * and returns false. */
bool ed_cli_parse(const char *cmd, int argc, char **argv, int first, const struct ed_cli_opt *opts,
                  int n_opts, const char **positional, int max_pos, int *n_pos);
/* The start of a subcommand of options only, one of them required:
 * parses argv[1..argc) with opts (2 on error); then with *help, usage to
 * stdout and 0; without the required option (*value NULL), "eddy <cmd>:
 * --<opt> is required" and 2; else -1 (go on). */
int ed_cli_start(const char *cmd, int argc, char **argv, const struct ed_cli_opt *opts, int n_opts,
                 const char *usage, const bool *help, const char *opt, const char *const *value);
/* What follows ed_cli_parse in a subcommand with actions: with help,
 * usage to stdout and 0; without an action, usage to stderr and 2; else -1
 * (go on). */
int ed_cli_usage(bool help, bool no_action, const char *usage);
/* An action of a subcommand: fn(NULL, args) checks the options (nonzero:
 * the exit code), fn(client, args) runs it against the broker. */
struct ed_cli_action {
    const char *name;
    int (*fn)(ed_kclient *c, void *args);
};
/* Runs the action called name: checks its options, connects to bootstrap
 * and runs it. An unknown name: "eddy <cmd>: unknown action" with the
 * list, and 2. */
int ed_cli_dispatch(const char *cmd, const char *name, const struct ed_cli_action *acts, int n,
                    const char *bootstrap, const char *timeout_ms, void *args);
/* Whether dir is a directory (made when missing and create is true);
 * prints "CMD: DIR: why" otherwise. */
bool ed_cli_data_dir(const char *cmd, const char *dir, bool create);
/* Parses a decimal integer in [min, max]; prints the error naming opt. */
bool ed_cli_int(const char *cmd, const char *opt, const char *s, int64_t min, int64_t max,
                int64_t *out);
/* Connects to the bootstrap server (NULL = localhost:9092); prints the
 * error and returns NULL on failure. */
ed_kclient *ed_cli_connect(const char *cmd, const char *bootstrap, const char *timeout_ms);
/* Kafka's text form of a topic id: URL-safe base64 without padding. */
void ed_cli_uuid_text(const uint8_t id[16], char out[23]);
/* "NAME: message" for a Kafka error of an item, or NAME alone. */
void ed_cli_kerr(FILE *f, const char *cmd, const char *what, int16_t err, ed_kstr msg);

#endif
