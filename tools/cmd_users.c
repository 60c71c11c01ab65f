/* `eddy users add|remove|list --data DIR`: offline management of the user
 * store (core/users.h) of a data directory. `add` stores both SCRAM
 * mechanisms for a password given by --password or the first line of
 * --password-file. Exit 0 done, 1 refused (unknown user, bad store), 2
 * usage. */
#include <stdio.h>
#include <string.h>

#include "core/users.h"
#include "platform/platform.h"
#include "tools/cli.h"
#include "tools/cmds.h"

#define CMD "eddy users"

static const char usage_text[] =
    "usage: eddy users add NAME (--password PASS | --password-file FILE) --data DIR\n"
    "                      [--iterations N]\n"
    "       eddy users remove NAME --data DIR [--mechanism SCRAM-SHA-256|SCRAM-SHA-512]\n"
    "       eddy users list --data DIR\n"
    "  --data DIR        the broker's data directory (log.dirs)\n"
    "  --password-file   the password is the file's first line (without its newline)\n"
    "  --iterations N    SCRAM iterations, 4096..16384 (default 4096)\n"
    "The broker reads the store when it starts; change users of a running broker\n"
    "with kafka-configs.sh (AlterUserScramCredentials) instead.\n";

static bool read_password(const char *file, char *pw, size_t cap)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot read %s\n", CMD, file);
        return false;
    }
    size_t n = fread(pw, 1, cap - 1, f);
    bool more = n == cap - 1 && fgetc(f) != EOF;
    fclose(f);
    pw[n] = '\0';
    char *nl = strpbrk(pw, "\r\n");
    if (nl)
        *nl = '\0';
    else if (more) {
        fprintf(stderr, "%s: %s: password longer than %d bytes\n", CMD, file, ED_SASL_MAX_PASSWORD);
        return false;
    }
    return true;
}

static int do_add(ed_users *u, const char *name, const char *pw, uint32_t iterations)
{
    size_t pl = strlen(pw);
    if (pl == 0 || pl > ED_SASL_MAX_PASSWORD) {
        fprintf(stderr, "%s: the password must have 1..%d bytes\n", CMD, ED_SASL_MAX_PASSWORD);
        return 2;
    }
    int rc = ed_users_set_password(u, name, strlen(name), pw, pl, iterations);
    if (rc) {
        fprintf(stderr, "%s: cannot store user %s: %s\n", CMD, name, ed_strerror(rc));
        return 1;
    }
    printf("User %s stored (SCRAM-SHA-256, SCRAM-SHA-512, %u iterations).\n", name,
           (unsigned)iterations);
    return 0;
}

static int do_remove(ed_users *u, const char *name, const char *mech)
{
    enum ed_sasl_mech m = 0;
    if (mech) {
        m = ed_sasl_mech_parse(mech, strlen(mech));
        if (m != ED_SASL_SCRAM_SHA_256 && m != ED_SASL_SCRAM_SHA_512) {
            fprintf(stderr, "%s: --mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512\n", CMD);
            return 2;
        }
    }
    int rc = ed_users_delete(u, name, strlen(name), m);
    if (rc == ED_ERR_NOENT) {
        fprintf(stderr, "%s: no user %s%s%s\n", CMD, name, mech ? " with " : "", mech ? mech : "");
        return 1;
    }
    if (rc) {
        fprintf(stderr, "%s: cannot remove user %s: %s\n", CMD, name, ed_strerror(rc));
        return 1;
    }
    printf("User %s removed%s%s.\n", name, mech ? ": " : "", mech ? mech : "");
    return 0;
}

static int do_list(const ed_users *u)
{
    size_t n = ed_users_count(u);
    for (size_t i = 0; i < n; i++) {
        struct ed_user_info ui = ed_users_get(u, i);
        printf("%.*s\t%s\titerations=%u\n", (int)ui.name_len, ui.name, ed_sasl_mech_name(ui.mech),
               (unsigned)ui.iterations);
    }
    return 0;
}

int ed_cmd_users(int argc, char **argv)
{
    const char *data = NULL, *password = NULL, *password_file = NULL, *iter_s = NULL, *mech = NULL;
    bool help = false;
    const struct ed_cli_opt opts[] = {
        {"data", 0, true, &data, NULL, NULL, NULL},
        {"password", 0, true, &password, NULL, NULL, NULL},
        {"password-file", 0, true, &password_file, NULL, NULL, NULL},
        {"iterations", 0, true, &iter_s, NULL, NULL, NULL},
        {"mechanism", 0, true, &mech, NULL, NULL, NULL},
        {"help", 'h', false, NULL, &help, NULL, NULL},
    };
    const char *pos[3];
    int n_pos = 0;
    if (!ed_cli_parse(CMD, argc, argv, 1, opts, (int)ED_ARRAY_LEN(opts), pos, 3, &n_pos)) return 2;
    if (help) {
        fputs(usage_text, stdout);
        return 0;
    }
    bool list = n_pos == 1 && strcmp(pos[0], "list") == 0;
    bool add = n_pos == 2 && strcmp(pos[0], "add") == 0;
    bool remove = n_pos == 2 && strcmp(pos[0], "remove") == 0;
    if ((!list && !add && !remove) || !data) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (!add && (password || password_file || iter_s)) {
        fprintf(stderr, "%s: --password, --password-file and --iterations go with add\n", CMD);
        return 2;
    }
    if (!remove && mech) {
        fprintf(stderr, "%s: --mechanism goes with remove\n", CMD);
        return 2;
    }
    int64_t iterations = ED_SCRAM_DEFAULT_ITER;
    if (iter_s &&
        !ed_cli_int(CMD, "--iterations", iter_s, ED_SCRAM_MIN_ITER, ED_SCRAM_MAX_ITER, &iterations))
        return 2;
    char pw[ED_SASL_MAX_PASSWORD + 2];
    if (add) {
        if (!password == !password_file) {
            fprintf(stderr, "%s: add needs one of --password and --password-file\n", CMD);
            return 2;
        }
        if (password_file && !read_password(password_file, pw, sizeof pw)) return 2;
        if (password) snprintf(pw, sizeof pw, "%s", password);
        if (password && strlen(password) > ED_SASL_MAX_PASSWORD) pw[0] = '\0';
    }
    const char *name = n_pos == 2 ? pos[1] : "";
    if ((add || remove) && !ed_users_name_ok(name, strlen(name))) {
        fprintf(stderr, "%s: a user name has 1..%d bytes and no control characters\n", CMD,
                ED_SASL_MAX_NAME);
        return 2;
    }
    if (!ed_cli_data_dir(CMD, data, add)) return 1;
    ed_users *u;
    int rc = ed_users_open(data, &u);
    if (rc) {
        fprintf(stderr, "%s: cannot open the user store of %s: %s\n", CMD, data, ed_strerror(rc));
        return 1;
    }
    int status = add      ? do_add(u, name, pw, (uint32_t)iterations)
                 : remove ? do_remove(u, name, mech)
                          : do_list(u);
    memset(pw, 0, sizeof pw);
    ed_users_close(u);
    return status;
}
