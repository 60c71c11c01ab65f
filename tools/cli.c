/* Option parsing, broker connection and error printing shared by the admin
 * subcommands (see cli.h). */
#include "tools/cli.h"

#include "platform/platform.h"

#include <stdlib.h>
#include <string.h>

/* -X key=value client settings (librdkafka's names), for ed_cli_connect. */
static const char *x_settings[ED_CLI_MAX_MULTI];
static int n_x_settings;

static const struct ed_cli_opt *find_long(const struct ed_cli_opt *opts, int n, const char *name,
                                          size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) return &opts[i];
    return NULL;
}

static bool store(const char *cmd, const struct ed_cli_opt *o, const char *v)
{
    if (o->multi) {
        if (*o->n_multi >= ED_CLI_MAX_MULTI) {
            fprintf(stderr, "eddy %s: too many --%s options (at most %d)\n", cmd, o->name,
                    ED_CLI_MAX_MULTI);
            return false;
        }
        o->multi[(*o->n_multi)++] = v;
    } else {
        *o->value = v;
    }
    return true;
}

bool ed_cli_parse(const char *cmd, int argc, char **argv, int first, const struct ed_cli_opt *opts,
                  int n_opts, const char **positional, int max_pos, int *n_pos)
{
    *n_pos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        const struct ed_cli_opt *o = NULL;
        const char *inline_v = NULL;
        if (a[0] == '-' && a[1] == 'X') {
            const char *kv = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (!kv || !strchr(kv, '=') || n_x_settings >= ED_CLI_MAX_MULTI) {
                fprintf(stderr, "eddy %s: -X needs key=value\n", cmd);
                return false;
            }
            x_settings[n_x_settings++] = kv;
            continue;
        }
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            o = find_long(opts, n_opts, a + 2, len);
            if (eq) inline_v = eq + 1;
        } else if (a[0] == '-' && a[1] && a[1] != '-' && !a[2]) {
            for (int k = 0; k < n_opts; k++)
                if (opts[k].short_name == a[1]) o = &opts[k];
        } else {
            if (*n_pos >= max_pos) {
                fprintf(stderr, "eddy %s: unexpected argument '%s'\n", cmd, a);
                return false;
            }
            positional[(*n_pos)++] = a;
            continue;
        }
        if (!o) {
            fprintf(stderr, "eddy %s: unknown option '%s' (see eddy %s --help)\n", cmd, a, cmd);
            return false;
        }
        if (!o->has_arg) {
            if (inline_v) {
                fprintf(stderr, "eddy %s: option --%s takes no value\n", cmd, o->name);
                return false;
            }
            *o->flag = true;
            continue;
        }
        if (!inline_v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "eddy %s: option %s needs a value\n", cmd, a);
                return false;
            }
            inline_v = argv[++i];
        }
        if (!store(cmd, o, inline_v)) return false;
    }
    return true;
}

bool ed_cli_data_dir(const char *cmd, const char *dir, bool create)
{
    bool is_dir = false;
    int rc = ed_plat_path_stat(dir, &is_dir, NULL);
    if (rc == ED_ERR_NOENT && create) rc = ed_plat_dir_make(dir), is_dir = rc == ED_OK;
    if (rc || !is_dir) {
        fprintf(stderr, "%s: %s: %s\n", cmd, dir, rc ? ed_strerror(rc) : "not a directory");
        return false;
    }
    return true;
}

bool ed_cli_int(const char *cmd, const char *opt, const char *s, int64_t min, int64_t max,
                int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < min || v > max) {
        fprintf(stderr, "eddy %s: %s must be an integer in [%lld, %lld], not '%s'\n", cmd, opt,
                (long long)min, (long long)max, s);
        return false;
    }
    *out = v;
    return true;
}

/* Case-insensitive equality: 0 when equal (as strcasecmp). */
static int ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a;
        char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b + 32) : *b;
        if (x != y) return 1;
    }
    return *a != *b;
}

/* Applies the -X settings (librdkafka's names): security.protocol
 * (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), ssl.ca.location,
 * ssl.certificate.location, ssl.key.location,
 * ssl.endpoint.identification.algorithm, sasl.mechanism (alias
 * sasl.mechanisms), sasl.username, sasl.password. False (printed) for an
 * unknown key or value. */
static bool client_settings(const char *cmd, struct ed_kclient_opts *o, struct ed_kclient_tls *t)
{
    const char *protocol = "PLAINTEXT", *mech = NULL;
    for (int i = 0; i < n_x_settings; i++) {
        const char *kv = x_settings[i];
        const char *v = strchr(kv, '=') + 1;
        size_t kl = (size_t)(v - 1 - kv);
#define KEY_IS(k) (kl == strlen(k) && strncmp(kv, k, kl) == 0)
        if (KEY_IS("security.protocol")) {
            protocol = v;
        } else if (KEY_IS("ssl.ca.location")) {
            t->ca_file = v;
        } else if (KEY_IS("ssl.certificate.location")) {
            t->cert_file = v;
        } else if (KEY_IS("ssl.key.location")) {
            t->key_file = v;
        } else if (KEY_IS("ssl.endpoint.identification.algorithm")) {
            if (ieq(v, "none") != 0 && ieq(v, "https") != 0) {
                fprintf(stderr, "eddy %s: ssl.endpoint.identification.algorithm is https or none\n",
                        cmd);
                return false;
            }
            t->no_host_check = ieq(v, "none") == 0;
        } else if (KEY_IS("sasl.mechanism") || KEY_IS("sasl.mechanisms")) {
            mech = v;
        } else if (KEY_IS("sasl.username")) {
            o->sasl_username = v;
        } else if (KEY_IS("sasl.password")) {
            o->sasl_password = v;
        } else {
            fprintf(stderr, "eddy %s: -X %.*s: unknown client setting\n", cmd, (int)kl, kv);
            return false;
        }
#undef KEY_IS
    }
    bool ssl = ieq(protocol, "SSL") == 0 || ieq(protocol, "SASL_SSL") == 0;
    bool sasl = ieq(protocol, "SASL_PLAINTEXT") == 0 || ieq(protocol, "SASL_SSL") == 0;
    if (!ssl && !sasl && ieq(protocol, "PLAINTEXT") != 0) {
        fprintf(stderr,
                "eddy %s: security.protocol=%s is not supported (PLAINTEXT, SSL, SASL_PLAINTEXT, "
                "SASL_SSL)\n",
                cmd, protocol);
        return false;
    }
    o->tls = ssl ? t : NULL;
    if (sasl) o->sasl_mechanism = mech ? mech : "PLAIN"; /* librdkafka's default */
    return true;
}

ed_kclient *ed_cli_connect(const char *cmd, const char *bootstrap, const char *timeout_ms)
{
    struct ed_kclient_opts o = {"eddy-cli", 30000, 0, NULL, NULL, NULL, NULL};
    struct ed_kclient_tls tls = {0};
    if (!client_settings(cmd, &o, &tls)) return NULL;
    if (timeout_ms) {
        int64_t t;
        if (!ed_cli_int(cmd, "--timeout", timeout_ms, 1, 3600000, &t)) return NULL;
        o.timeout_ms = (uint32_t)t;
    }
    const char *b = bootstrap ? bootstrap : "localhost:9092";
    /* Only the first of a comma-separated list is used: Eddy is one node. */
    char first[300];
    snprintf(first, sizeof first, "%s", b);
    char *comma = strchr(first, ',');
    if (comma) *comma = '\0';
    ed_kclient *c = NULL;
    char why[400];
    if (ed_kclient_connect(first, &o, &c, why, sizeof why) != ED_OK) {
        fprintf(stderr, "eddy %s: %s\n", cmd, why);
        return NULL;
    }
    return c;
}

void ed_cli_uuid_text(const uint8_t id[16], char out[23])
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int o = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)id[i] << 16;
        if (i + 1 < 16) v |= (uint32_t)id[i + 1] << 8;
        if (i + 2 < 16) v |= id[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < 16) out[o++] = tbl[(v >> 6) & 63];
        if (i + 2 < 16) out[o++] = tbl[v & 63];
    }
    out[o] = '\0';
}

int ed_cli_start(const char *cmd, int argc, char **argv, const struct ed_cli_opt *opts, int n_opts,
                 const char *usage, const bool *help, const char *opt, const char *const *value)
{
    const char *pos[1];
    int n_pos;
    if (!ed_cli_parse(cmd, argc, argv, 1, opts, n_opts, pos, 0, &n_pos)) return 2;
    if (*help) {
        fputs(usage, stdout);
        return 0;
    }
    if (!*value) {
        fprintf(stderr, "eddy %s: --%s is required (see eddy %s --help)\n", cmd, opt, cmd);
        return 2;
    }
    return -1;
}

int ed_cli_usage(bool help, bool no_action, const char *usage)
{
    if (help || no_action) {
        fputs(usage, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    return -1;
}

int ed_cli_dispatch(const char *cmd, const char *name, const struct ed_cli_action *acts, int n,
                    const char *bootstrap, const char *timeout_ms, void *args)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(name, acts[i].name) != 0) continue;
        int rc = acts[i].fn(NULL, args);
        if (rc) return rc;
        ed_kclient *c = ed_cli_connect(cmd, bootstrap, timeout_ms);
        if (!c) return 1;
        rc = acts[i].fn(c, args);
        ed_kclient_close(c);
        return rc;
    }
    fprintf(stderr, "eddy %s: unknown action '%s' (", cmd, name);
    for (int i = 0; i < n; i++)
        fprintf(stderr, "%s%s", i ? ", " : "", acts[i].name);
    fprintf(stderr, ")\n");
    return 2;
}

void ed_cli_kerr(FILE *f, const char *cmd, const char *what, int16_t err, ed_kstr msg)
{
    if (msg.len > 0)
        fprintf(f, "eddy %s: %s: %.*s (%s)\n", cmd, what, (int)msg.len, msg.p, ed_kc_errname(err));
    else
        fprintf(f, "eddy %s: %s: %s\n", cmd, what, ed_kc_errname(err));
}
