/* The eddy command's subcommands; each lives in tools/cmd_<name>.c and
 * returns the process exit status. */
#ifndef ED_TOOLS_CMDS_H
#define ED_TOOLS_CMDS_H

int ed_cmd_version(int argc, char **argv);
int ed_cmd_check(int argc, char **argv);
int ed_cmd_dump(int argc, char **argv);
int ed_cmd_serve(int argc, char **argv);
int ed_cmd_topics(int argc, char **argv);  /* tools/cmd_topics.c */
int ed_cmd_produce(int argc, char **argv); /* tools/cmd_produce.c */
int ed_cmd_consume(int argc, char **argv); /* tools/cmd_consume.c */
int ed_cmd_groups(int argc, char **argv);  /* tools/cmd_groups.c */
int ed_cmd_mirror(int argc, char **argv);  /* tools/cmd_mirror.c */

#endif
