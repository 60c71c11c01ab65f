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
