/* The eddy command's subcommands; each lives in tools/cmd_<name>.c and
 * returns the process exit status. */
#ifndef ED_TOOLS_CMDS_H
#define ED_TOOLS_CMDS_H

#include <stdio.h>

int ed_cmd_version(int argc, char **argv);
int ed_cmd_check(int argc, char **argv);
int ed_cmd_dump(int argc, char **argv);
/* The arguments of the offline commands (check, dump) besides their
 * options: -h or --help (usage on stdout, status 0) and one path (a second
 * one or an unknown option: usage on stderr, status 2). Returns -1 when
 * arg became *path, else the exit status; arg NULL (the end, no path seen)
 * gives the usage error. In tools/cmd_check.c. */
int ed_cmd_path_arg(const char *cmd, const char *arg, const char **path,
                    void (*print_usage)(FILE *out));
int ed_cmd_serve(int argc, char **argv);
int ed_cmd_topics(int argc, char **argv);  /* tools/cmd_topics.c */
int ed_cmd_produce(int argc, char **argv); /* tools/cmd_produce.c */
int ed_cmd_consume(int argc, char **argv); /* tools/cmd_consume.c */
int ed_cmd_groups(int argc, char **argv);  /* tools/cmd_groups.c */
int ed_cmd_mirror(int argc, char **argv);  /* tools/cmd_mirror.c */
int ed_cmd_users(int argc, char **argv);   /* tools/cmd_users.c */
int ed_cmd_tokens(int argc, char **argv);  /* tools/cmd_tokens.c */
int ed_cmd_status(int argc, char **argv);  /* tools/cmd_status.c */

#endif
