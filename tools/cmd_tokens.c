/* `eddy tokens add|list|revoke --data DIR`: management of the bearer-token
 * store (core/tokens.h) of a data directory, for the HTTP API's writing
 * endpoints. `add` prints the new token once (only its hash is kept); the
 * running broker reads the store on each request that presents a token,
 * so an addition or a revocation takes effect at once. Exit 0 done, 1
 * refused (unknown user or token, bad store), 2 usage. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/tokens.h"
#include "core/users.h"
#include "platform/platform.h"
#include "tools/cli.h"
#include "tools/cmds.h"

#define CMD "eddy tokens"

static const char usage_text[] =
    "usage: eddy tokens add USER --data DIR [--expires N(s|m|h|d)]\n"
    "       eddy tokens list --data DIR\n"
    "       eddy tokens revoke ID --data DIR\n"
    "  --data DIR        the broker's data directory (log.dirs)\n"
    "  --expires N       the token stops working after N seconds, minutes, hours\n"
    "                    or days (default: never)\n"
    "USER must be a user of the user store (eddy users add). The token is printed\n"
    "once; keep it like a password. A running broker sees changes at once.\n";

/* "30d" into milliseconds: false when malformed. */
static bool duration_ms(const char *s, int64_t *out)
{
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};
    size_t n = strlen(s);
    for (size_t i = 0; n >= 2 && i < ED_ARRAY_LEN(units); i++) {
        char num[24];
        int64_t v;
        if (s[n - 1] != units[i].unit || n - 1 >= sizeof num) continue;
        memcpy(num, s, n - 1);
        num[n - 1] = '\0';
        if (!ed_cli_int(CMD, "--expires", num, 1, INT64_C(3650) * 86400000 / units[i].ms, &v))
            return false;
        *out = v * units[i].ms;
        return true;
    }
    fprintf(stderr, "%s: --expires takes a number and s, m, h or d (30d)\n", CMD);
    return false;
}

static void utc(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    const struct tm *tm = ms ? gmtime(&s) : NULL;
    if (!tm || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", tm)) snprintf(out, 32, "never");
}

static int do_add(ed_tokens *t, const char *data, const char *user, const char *expires)
{
    int64_t ttl = 0, now = ed_plat_clock_wall_ms();
    if (expires && !duration_ms(expires, &ttl)) return 2;
    ed_users *u;
    int rc = ed_users_open(data, &u);
    if (rc) {
        fprintf(stderr, "%s: cannot open the user store of %s: %s\n", CMD, data, ed_strerror(rc));
        return 1;
    }
    bool known = false;
    for (size_t i = 0; i < ed_users_count(u) && !known; i++) {
        struct ed_user_info ui = ed_users_get(u, i);
        known = ui.name_len == strlen(user) && memcmp(ui.name, user, ui.name_len) == 0;
    }
    ed_users_close(u);
    if (!known) {
        fprintf(stderr, "%s: no user %s (add it first with eddy users add)\n", CMD, user);
        return 1;
    }
    char token[ED_TOKEN_LEN + 1], when[32];
    rc = ed_tokens_add(t, user, strlen(user), now, ttl ? now + ttl : 0, token);
    if (rc) {
        fprintf(stderr, "%s: cannot store a token for %s: %s\n", CMD, user, ed_strerror(rc));
        return 1;
    }
    utc(ttl ? now + ttl : 0, when);
    fprintf(stderr, "Token %.*s for user %s, expires: %s. It is shown only now.\n", ED_TOKEN_ID_LEN,
            token + 5, user, when);
    printf("%s\n", token);
    memset(token, 0, sizeof token);
    return 0;
}

static int do_list(const ed_tokens *t)
{
    int64_t now = ed_plat_clock_wall_ms();
    for (size_t i = 0; i < ed_tokens_count(t); i++) {
        struct ed_token_info ti = ed_tokens_get(t, i);
        char made[32], until[32];
        utc(ti.created_ms, made);
        utc(ti.expires_ms, until);
        printf("%s\t%.*s\tcreated=%s\texpires=%s%s\n", ti.id, (int)ti.user_len, ti.user, made,
               until, ti.expires_ms && ti.expires_ms <= now ? " (expired)" : "");
    }
    return 0;
}

static int do_revoke(ed_tokens *t, const char *id)
{
    int rc = ed_tokens_revoke(t, id, strlen(id));
    if (rc == ED_ERR_NOENT) {
        fprintf(stderr, "%s: no token %s\n", CMD, id);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "%s: cannot revoke token %s: %s\n", CMD, id, ed_strerror(rc));
        return 1;
    }
    printf("Token %s revoked.\n", id);
    return 0;
}

int ed_cmd_tokens(int argc, char **argv)
{
    const char *data = NULL, *expires = NULL;
    bool help = false;
    const struct ed_cli_opt opts[] = {
        {"data", 0, true, &data, NULL, NULL, NULL},
        {"expires", 0, true, &expires, NULL, NULL, NULL},
        {"help", 'h', false, NULL, &help, NULL, NULL},
    };
    const char *pos[3];
    int n_pos = 0;
    if (!ed_cli_parse(CMD, argc, argv, 1, opts, (int)ED_ARRAY_LEN(opts), pos, 3, &n_pos)) return 2;
    bool list = n_pos == 1 && strcmp(pos[0], "list") == 0;
    bool add = n_pos == 2 && strcmp(pos[0], "add") == 0;
    bool revoke = n_pos == 2 && strcmp(pos[0], "revoke") == 0;
    int early = ed_cli_usage(help, (!list && !add && !revoke) || !data, usage_text);
    if (early >= 0) return early;
    if (!add && expires) {
        fprintf(stderr, "%s: --expires goes with add\n", CMD);
        return 2;
    }
    if (!ed_cli_data_dir(CMD, data, false)) return 1;
    ed_tokens *t;
    int rc = ed_tokens_open(data, &t);
    if (rc) {
        fprintf(stderr, "%s: cannot open the token store of %s: %s\n", CMD, data, ed_strerror(rc));
        return 1;
    }
    int status = add      ? do_add(t, data, pos[1], expires)
                 : revoke ? do_revoke(t, pos[1])
                          : do_list(t);
    ed_tokens_close(t);
    return status;
}
