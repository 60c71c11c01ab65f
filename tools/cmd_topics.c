/* `eddy topics create|list|describe|delete|alter`: topic administration
 * over the Kafka protocol, against Eddy or any Kafka broker. */
#include "tools/cli.h"
#include "tools/cmds.h"
#include "platform/mem.h"

#include <stdlib.h>
#include <string.h>

#define CMD "topics"

static const char usage_text[] =
    "usage: eddy topics <action> [options]\n"
    "\n"
    "actions:\n"
    "  create    create a topic\n"
    "  list      list topic names\n"
    "  describe  show partitions, leaders and non-default configs\n"
    "  delete    delete topics\n"
    "  alter     add partitions or change topic configs\n"
    "\n"
    "options:\n"
    "  -b, --bootstrap-server HOST:PORT  broker to talk to (default localhost:9092)\n"
    "  -t, --topic NAME                  the topic (repeatable for describe and delete)\n"
    "      --partitions N                create: partition count (default: the broker's\n"
    "                                    num.partitions); alter: the new, larger count\n"
    "      --replication-factor N        create: must be 1 on Eddy (default: broker's)\n"
    "      --config KEY=VALUE            create: a topic config (repeatable)\n"
    "      --add-config K=V[,K=V...]     alter: set configs; a list value goes in\n"
    "                                    brackets: cleanup.policy=[compact,delete]\n"
    "      --delete-config K[,K...]      alter: return configs to their defaults\n"
    "      --if-not-exists               create: succeed if the topic exists\n"
    "      --if-exists                   delete/alter: succeed if the topic is missing\n"
    "      --validate-only               create: check without creating\n"
    "      --exclude-internal            list/describe: leave out internal topics\n"
    "      --timeout MS                  request timeout (default 30000)\n"
    "  -h, --help                        this text\n"
    "\n"
    "examples:\n"
    "  eddy topics create -b localhost:9092 -t sensors --partitions 3 --config "
    "retention.ms=86400000\n"
    "  eddy topics describe -t sensors\n"
    "  eddy topics alter -t sensors --partitions 6 --add-config retention.bytes=1073741824\n";

struct args {
    const char *bootstrap, *timeout, *partitions, *rf;
    const char *topics[ED_CLI_MAX_MULTI];
    int n_topics;
    const char *configs[ED_CLI_MAX_MULTI];
    int n_configs;
    const char *add[ED_CLI_MAX_MULTI];
    int n_add;
    const char *del[ED_CLI_MAX_MULTI];
    int n_del;
    bool if_not_exists, if_exists, validate_only, exclude_internal, help;
};

static bool is_missing(int16_t err)
{
    return err == 3 /* UNKNOWN_TOPIC_OR_PARTITION */ || err == 100 /* UNKNOWN_TOPIC_ID */;
}

/* ---- create ---- */

static int do_create(ed_kclient *c, void *arg)
{
    struct args *a = arg;
    if (a->n_topics != 1) {
        fprintf(stderr, "eddy topics create: give exactly one --topic\n");
        return 2;
    }
    int64_t np = -1, rf = -1;
    if (a->partitions && !ed_cli_int(CMD, "--partitions", a->partitions, 1, INT32_MAX, &np))
        return 2;
    if (a->rf && !ed_cli_int(CMD, "--replication-factor", a->rf, 1, INT16_MAX, &rf)) return 2;
    struct ed_kc_kv kv[ED_CLI_MAX_MULTI];
    char *copies[ED_CLI_MAX_MULTI] = {0};
    int rc = 1;
    for (int i = 0; i < a->n_configs; i++) {
        copies[i] = ed_strdup(a->configs[i]);
        char *eq = copies[i] ? strchr(copies[i], '=') : NULL;
        if (!eq || eq == copies[i]) {
            fprintf(stderr, "eddy topics create: --config wants KEY=VALUE, not '%s'\n",
                    a->configs[i]);
            rc = 2;
            goto out;
        }
        *eq = '\0';
        kv[i] = (struct ed_kc_kv){copies[i], eq + 1};
    }
    if (!c) { /* arguments checked before connecting */
        rc = 0;
        goto out;
    }
    struct ed_kc_new_topic t = {a->topics[0], (int32_t)np, (int16_t)rf, a->n_configs, kv};
    struct ed_kc_create_topics res;
    if (ed_kclient_create_topics(c, &t, 1, a->validate_only, &res) != ED_OK) {
        fprintf(stderr, "eddy topics create: %s\n", ed_kclient_last_error(c));
        goto out;
    }
    if (res.n_topics != 1) {
        fprintf(stderr, "eddy topics create: the broker answered for %d topics\n",
                (int)res.n_topics);
    } else if (res.topics[0].error == 36 && a->if_not_exists) {
        rc = 0;
    } else if (res.topics[0].error) {
        char what[300];
        snprintf(what, sizeof what, "cannot create topic '%s'", a->topics[0]);
        ed_cli_kerr(stderr, CMD, what, res.topics[0].error, res.topics[0].message);
    } else {
        printf(a->validate_only ? "Topic %s can be created.\n" : "Created topic %s.\n",
               a->topics[0]);
        rc = 0;
    }
    ed_kc_free(&res.mem);
out:
    for (int i = 0; i < a->n_configs; i++)
        ed_free(copies[i]);
    return rc;
}

/* ---- list / describe ---- */

static int cmp_topic(const void *x, const void *y)
{
    const struct ed_kc_topic_md *a = x, *b = y;
    int n = a->name.len < b->name.len ? a->name.len : b->name.len;
    int c = memcmp(a->name.p, b->name.p, (size_t)(n > 0 ? n : 0));
    return c ? c : a->name.len - b->name.len;
}

static int cmp_part(const void *x, const void *y)
{
    const struct ed_kc_part_md *a = x, *b = y;
    return (a->index > b->index) - (a->index < b->index);
}

static int get_metadata(ed_kclient *c, struct args *a, struct ed_kc_metadata *md)
{
    if (ed_kclient_metadata(c, a->n_topics ? a->topics : NULL, a->n_topics, false, md) != ED_OK) {
        fprintf(stderr, "eddy topics: %s\n", ed_kclient_last_error(c));
        return 1;
    }
    qsort(md->topics, (size_t)md->n_topics, sizeof *md->topics, cmp_topic);
    return 0;
}

static int do_list(ed_kclient *c, void *arg)
{
    struct args *a = arg;
    struct ed_kc_metadata md;
    if (!c) return 0;
    a->n_topics = 0;
    if (get_metadata(c, a, &md)) return 1;
    for (int32_t i = 0; i < md.n_topics; i++) {
        const struct ed_kc_topic_md *t = &md.topics[i];
        if (t->error || (a->exclude_internal && t->internal)) continue;
        printf("%.*s\n", (int)t->name.len, t->name.p);
    }
    ed_kc_free(&md.mem);
    return 0;
}

static void print_ids(const int32_t *ids, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", (int)ids[i]);
}

static void print_configs(ed_kclient *c, const struct ed_kc_topic_md *t)
{
    char name[300];
    snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.p);
    struct ed_kc_describe_resource r = {ED_KC_RESOURCE_TOPIC, name, -1, NULL};
    struct ed_kc_describe_configs dc;
    if (ed_kclient_version(c, ED_KMSG_DESCRIBE_CONFIGS) < 0 ||
        ed_kclient_describe_configs(c, &r, 1, false, false, &dc) != ED_OK)
        return;
    int shown = 0;
    for (int32_t i = 0; i < dc.n; i++) {
        const struct ed_kc_config_resource *res = &dc.resources[i];
        for (int32_t k = 0; k < res->n_configs && !res->error; k++) {
            const struct ed_kc_config_entry *e = &res->configs[k];
            if (e->source >= 0 ? e->source != ED_KC_SRC_DYNAMIC_TOPIC : e->is_default) continue;
            printf("%s%.*s=%.*s", shown++ ? "," : "", (int)e->name.len, e->name.p,
                   e->value.len > 0 ? (int)e->value.len : 0, e->value.len > 0 ? e->value.p : "");
        }
    }
    ed_kc_free(&dc.mem);
}

static int do_describe(ed_kclient *c, void *arg)
{
    struct args *a = arg;
    struct ed_kc_metadata md;
    if (!c) return 0;
    if (get_metadata(c, a, &md)) return 1;
    int rc = 0;
    for (int32_t i = 0; i < md.n_topics; i++) {
        const struct ed_kc_topic_md *t = &md.topics[i];
        if (t->error) {
            char what[300];
            snprintf(what, sizeof what, "topic '%.*s'", (int)t->name.len, t->name.p);
            ed_cli_kerr(stderr, CMD, what, t->error, (ed_kstr){NULL, -1});
            rc = 1;
            continue;
        }
        if (a->exclude_internal && t->internal) continue;
        qsort(t->partitions, (size_t)t->n_partitions, sizeof *t->partitions, cmp_part);
        char id[23];
        ed_cli_uuid_text(t->id, id);
        int rf = t->n_partitions ? (int)t->partitions[0].n_replicas : 0;
        printf("Topic: %.*s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: ",
               (int)t->name.len, t->name.p, id, (int)t->n_partitions, rf);
        print_configs(c, t);
        printf("\n");
        for (int32_t k = 0; k < t->n_partitions; k++) {
            const struct ed_kc_part_md *p = &t->partitions[k];
            printf("\tTopic: %.*s\tPartition: %d\tLeader: %d\tReplicas: ", (int)t->name.len,
                   t->name.p, (int)p->index, (int)p->leader);
            print_ids(p->replicas, p->n_replicas);
            printf("\tIsr: ");
            print_ids(p->isr, p->n_isr);
            if (p->error) printf("\tError: %s", ed_kc_errname(p->error));
            printf("\n");
        }
    }
    ed_kc_free(&md.mem);
    return rc;
}

/* ---- delete ---- */

static int do_delete(ed_kclient *c, void *arg)
{
    struct args *a = arg;
    if (a->n_topics < 1) {
        fprintf(stderr, "eddy topics delete: give at least one --topic\n");
        return 2;
    }
    if (!c) return 0;
    struct ed_kc_items res;
    if (ed_kclient_delete_topics(c, a->topics, a->n_topics, &res) != ED_OK) {
        fprintf(stderr, "eddy topics delete: %s\n", ed_kclient_last_error(c));
        return 1;
    }
    int rc = 0;
    for (int32_t i = 0; i < res.n; i++) {
        const struct ed_kc_item_result *it = &res.items[i];
        char what[300];
        snprintf(what, sizeof what, "cannot delete topic '%.*s'",
                 it->name.len > 0 ? (int)it->name.len : 0, it->name.len > 0 ? it->name.p : "");
        if (it->error && !(a->if_exists && is_missing(it->error))) {
            ed_cli_kerr(stderr, CMD, what, it->error, it->message);
            rc = 1;
        } else if (!it->error) {
            printf("Deleted topic %.*s.\n", (int)it->name.len, it->name.p);
        }
    }
    if (res.n != a->n_topics) rc = 1;
    ed_kc_free(&res.mem);
    return rc;
}

/* ---- alter ---- */

/* Splits "k=v,k2=[a,b]" at commas outside brackets, in place. */
static int split_items(char *s, char **items, int max)
{
    int n = 0, depth = 0;
    char *start = s;
    for (char *p = s;; p++) {
        if (*p == '[') depth++;
        if (*p == ']' && depth) depth--;
        if ((*p == ',' && !depth) || !*p) {
            bool end = !*p;
            *p = '\0';
            if (*start) {
                if (n == max) return -1;
                items[n++] = start;
            }
            if (end) break;
            start = p + 1;
        }
    }
    return n;
}

static int do_alter(ed_kclient *c, void *arg)
{
    struct args *a = arg;
    if (a->n_topics != 1) {
        fprintf(stderr, "eddy topics alter: give exactly one --topic\n");
        return 2;
    }
    if (!a->partitions && !a->n_add && !a->n_del) {
        fprintf(stderr, "eddy topics alter: nothing to do (give --partitions, --add-config or "
                        "--delete-config)\n");
        return 2;
    }

    int rc = 0;
    int64_t np = 0;
    if (a->partitions && !ed_cli_int(CMD, "--partitions", a->partitions, 1, INT32_MAX, &np))
        return 2;
    struct ed_kc_alter_op_item ops[2 * ED_CLI_MAX_MULTI];
    char *copies[2 * ED_CLI_MAX_MULTI] = {0};
    int n_ops = 0, n_copies = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        int n = pass ? a->n_del : a->n_add;
        const char **src = pass ? a->del : a->add;
        for (int i = 0; i < n && rc == 0; i++) {
            char *s = copies[n_copies++] = ed_strdup(src[i]);
            char *items[2 * ED_CLI_MAX_MULTI];
            int k = s ? split_items(s, items, 2 * ED_CLI_MAX_MULTI - n_ops) : -1;
            if (k < 0) {
                fprintf(stderr, "eddy topics alter: too many configs\n");
                rc = 2;
                break;
            }
            for (int j = 0; j < k; j++) {
                char *key = items[j], *val = NULL;
                if (!pass) {
                    char *eq = strchr(key, '=');
                    if (!eq || eq == key) {
                        fprintf(stderr,
                                "eddy topics alter: --add-config wants KEY=VALUE, not '%s'\n", key);
                        rc = 2;
                        break;
                    }
                    *eq = '\0';
                    val = eq + 1;
                    size_t vl = strlen(val);
                    if (vl >= 2 && val[0] == '[' && val[vl - 1] == ']') {
                        val[vl - 1] = '\0';
                        val++;
                    }
                }
                ops[n_ops++] = (struct ed_kc_alter_op_item){
                    key, (int8_t)(pass ? ED_KC_OP_DELETE : ED_KC_OP_SET), val};
            }
        }
    }
    if (rc == 0 && !c) goto out; /* arguments checked before connecting */
    if (rc == 0 && a->partitions) {
        struct ed_kc_new_partitions p = {a->topics[0], (int32_t)np};
        struct ed_kc_items res;
        if (ed_kclient_create_partitions(c, &p, 1, false, &res) != ED_OK) {
            fprintf(stderr, "eddy topics alter: %s\n", ed_kclient_last_error(c));
            rc = 1;
            goto out;
        }
        if (res.n == 1 && res.items[0].error && !(a->if_exists && is_missing(res.items[0].error))) {
            char what[300];
            snprintf(what, sizeof what, "cannot add partitions to '%s'", a->topics[0]);
            ed_cli_kerr(stderr, CMD, what, res.items[0].error, res.items[0].message);
            rc = 1;
        } else if (res.n == 1 && !res.items[0].error) {
            printf("Topic %s now has %d partitions.\n", a->topics[0], (int)np);
        }
        ed_kc_free(&res.mem);
    }
    if (rc == 0 && n_ops) {
        struct ed_kc_alter_resource r = {ED_KC_RESOURCE_TOPIC, a->topics[0], n_ops, ops};
        struct ed_kc_items res;
        if (ed_kclient_incremental_alter_configs(c, &r, 1, false, &res) != ED_OK) {
            fprintf(stderr, "eddy topics alter: %s\n", ed_kclient_last_error(c));
            rc = 1;
        } else {
            if (res.n == 1 && res.items[0].error &&
                !(a->if_exists && is_missing(res.items[0].error))) {
                char what[300];
                snprintf(what, sizeof what, "cannot alter configs of '%s'", a->topics[0]);
                ed_cli_kerr(stderr, CMD, what, res.items[0].error, res.items[0].message);
                rc = 1;
            } else if (res.n == 1 && !res.items[0].error) {
                printf("Altered configs of topic %s.\n", a->topics[0]);
            } else if (res.n != 1) {
                rc = 1;
            }
            ed_kc_free(&res.mem);
        }
    }
out:
    for (int i = 0; i < n_copies; i++)
        ed_free(copies[i]);
    return rc;
}

int ed_cmd_topics(int argc, char **argv)
{
    struct args a;
    memset(&a, 0, sizeof a);
    const struct ed_cli_opt opts[] = {
        {"bootstrap-server", 'b', true, &a.bootstrap, NULL, NULL, NULL},
        {"topic", 't', true, NULL, NULL, a.topics, &a.n_topics},
        {"partitions", 0, true, &a.partitions, NULL, NULL, NULL},
        {"replication-factor", 0, true, &a.rf, NULL, NULL, NULL},
        {"config", 0, true, NULL, NULL, a.configs, &a.n_configs},
        {"add-config", 0, true, NULL, NULL, a.add, &a.n_add},
        {"delete-config", 0, true, NULL, NULL, a.del, &a.n_del},
        {"if-not-exists", 0, false, NULL, &a.if_not_exists, NULL, NULL},
        {"if-exists", 0, false, NULL, &a.if_exists, NULL, NULL},
        {"validate-only", 0, false, NULL, &a.validate_only, NULL, NULL},
        {"exclude-internal", 0, false, NULL, &a.exclude_internal, NULL, NULL},
        {"timeout", 0, true, &a.timeout, NULL, NULL, NULL},
        {"help", 'h', false, NULL, &a.help, NULL, NULL},
    };
    const char *pos[2];
    int n_pos = 0;
    if (!ed_cli_parse(CMD, argc, argv, 1, opts, (int)ED_ARRAY_LEN(opts), pos, 2, &n_pos)) return 2;
    int st = ed_cli_usage(a.help, n_pos < 1, usage_text);
    if (st >= 0) return st;
    /* `eddy topics create NAME` works too. */
    if (n_pos == 2) {
        if (a.n_topics >= ED_CLI_MAX_MULTI) return 2;
        a.topics[a.n_topics++] = pos[1];
    }
    static const struct ed_cli_action actions[] = {{"create", do_create},
                                                   {"list", do_list},
                                                   {"describe", do_describe},
                                                   {"delete", do_delete},
                                                   {"alter", do_alter}};
    return ed_cli_dispatch(CMD, pos[0], actions, (int)ED_ARRAY_LEN(actions), a.bootstrap, a.timeout,
                           &a);
}
