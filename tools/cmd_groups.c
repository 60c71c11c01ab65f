/* `eddy groups list|describe|reset-offsets|delete`: consumer-group
 * administration over the Kafka protocol (FindCoordinator, ListGroups,
 * DescribeGroups, OffsetFetch, ListOffsets, OffsetCommit, DeleteGroups),
 * against Eddy or any Kafka broker, with the output and the dry-run default
 * of Kafka's kafka-consumer-groups. */
#include "core/kafka/kclient_group.h"
#include "platform/mem.h"
#include "core/timefmt.h"
#include "tools/cli.h"
#include "tools/cmds.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define CMD "groups"

static const char usage_text[] =
    "usage: eddy groups <action> [options]\n"
    "\n"
    "actions:\n"
    "  list           list consumer groups (with --state: and their states)\n"
    "  describe       members, committed offsets and lag of groups\n"
    "  reset-offsets  move a group's committed offsets (dry run unless --execute)\n"
    "  delete         delete groups that have no members\n"
    "\n"
    "options:\n"
    "  -b, --bootstrap-server HOST:PORT  broker to talk to (default localhost:9092)\n"
    "  -g, --group NAME                  the group (repeatable for describe, delete)\n"
    "      --state [STATE]               list: show states; filter by STATE (Stable, Empty,\n"
    "                                    PreparingRebalance, CompletingRebalance)\n"
    "  -t, --topic NAME[:P,P...]         reset-offsets: a topic, or some of its partitions\n"
    "      --all-topics                  reset-offsets: every topic the group committed\n"
    "      --to-earliest | --to-latest | --to-offset N | --shift-by N |\n"
    "      --to-datetime YYYY-MM-DDTHH:MM:SS[.sss][Z|+hh:mm]\n"
    "                                    reset-offsets: where to (times default to UTC)\n"
    "      --execute                     reset-offsets: commit (default: only show)\n"
    "      --timeout MS                  request timeout (default 30000)\n"
    "  -h, --help                        this text\n"
    "\n"
    "examples:\n"
    "  eddy groups list --state\n"
    "  eddy groups describe -g dashboards\n"
    "  eddy groups reset-offsets -g dashboards -t sensors --to-earliest --execute\n";

struct args {
    const char *bootstrap, *timeout, *to_offset, *shift_by, *to_datetime;
    const char *groups[ED_CLI_MAX_MULTI];
    int n_groups;
    const char *topics[ED_CLI_MAX_MULTI];
    int n_topics;
    const char *states[ED_CLI_MAX_MULTI];
    int n_states;
    bool state, all_topics, to_earliest, to_latest, execute, help;
};

static bool kis(ed_kstr s, const char *z)
{
    return s.len == (int32_t)strlen(z) && (s.len == 0 || memcmp(s.p, z, (size_t)s.len) == 0);
}

/* ---- connecting to the group's coordinator ---- */

/* The connection to use for group: c itself, or a new one to the
 * coordinator if another broker is (on a Kafka cluster). NULL on error. */
static ed_kclient *coordinator(ed_kclient *c, struct args *a, const char *group)
{
    struct ed_kc_find_coordinator fc;
    if (ed_kclient_find_coordinator(c, 0, group, &fc) != ED_OK) {
        fprintf(stderr, "eddy groups: %s\n", ed_kclient_last_error(c));
        return NULL;
    }
    ed_kclient *out = NULL;
    if (fc.n < 1 || fc.coordinators[0].error) {
        char what[300];
        snprintf(what, sizeof what, "no coordinator for group '%s'", group);
        ed_cli_kerr(stderr, CMD, what, fc.n ? fc.coordinators[0].error : -1,
                    fc.n ? fc.coordinators[0].message : (ed_kstr){NULL, -1});
    } else {
        char hp[300];
        const struct ed_kc_coordinator *k = &fc.coordinators[0];
        snprintf(hp, sizeof hp, "%.*s:%d", (int)k->host.len, k->host.p, (int)k->port);
        const char *bs = a->bootstrap ? a->bootstrap : "localhost:9092";
        out = strcmp(hp, bs) == 0 ? c : ed_cli_connect(CMD, hp, a->timeout);
        /* a coordinator advertising an unreachable name: stay where we are */
        if (!out) out = c;
    }
    ed_kc_free(&fc.mem);
    return out;
}

static void done_with(ed_kclient *c, ed_kclient *k)
{
    if (k && k != c) ed_kclient_close(k);
}

/* ---- list ---- */

static int do_list(ed_kclient *c, void *arg)
{
    struct args *a = arg;
    if (!c) return 0;
    struct ed_kc_list_groups_req q = {a->n_states, a->states, 0, NULL};
    struct ed_kc_list_groups l;
    if (a->n_states > 0 && ed_kclient_version(c, ED_KMSG_LIST_GROUPS) < 4) {
        fprintf(stderr, "eddy groups: the broker cannot filter groups by state\n");
        return 1;
    }
    if (ed_kclient_list_groups(c, &q, &l) != ED_OK) {
        fprintf(stderr, "eddy groups list: %s\n", ed_kclient_last_error(c));
        return 1;
    }
    int rc = 0;
    if (l.error) {
        ed_cli_kerr(stderr, CMD, "cannot list groups", l.error, (ed_kstr){NULL, -1});
        rc = 1;
    } else if (a->state) {
        printf("%-40s %s\n", "GROUP", "STATE");
        for (int32_t i = 0; i < l.n; i++)
            printf("%-40.*s %.*s\n", (int)l.groups[i].group.len, l.groups[i].group.p,
                   (int)l.groups[i].state.len, l.groups[i].state.p);
    } else {
        for (int32_t i = 0; i < l.n; i++)
            printf("%.*s\n", (int)l.groups[i].group.len, l.groups[i].group.p);
    }
    ed_kc_free(&l.mem);
    return rc;
}

/* ---- describe ---- */

/* One line of the table: a partition the group committed or owns. */
struct row {
    char topic[250];
    int32_t partition;
    int64_t committed; /* -1 none */
    int64_t end;       /* -1 unknown */
    const struct ed_kc_group_member *owner;
};

struct rows {
    struct row *v;
    int n, cap;
};

static struct row *row_get(struct rows *r, ed_kstr topic, int32_t partition)
{
    for (int i = 0; i < r->n; i++)
        if (r->v[i].partition == partition && kis(topic, r->v[i].topic)) return &r->v[i];
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 32;
        struct row *p = ed_realloc(r->v, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        r->v = p;
        r->cap = cap;
    }
    struct row *w = &r->v[r->n++];
    memset(w, 0, sizeof *w);
    snprintf(w->topic, sizeof w->topic, "%.*s", (int)topic.len, topic.p);
    w->partition = partition;
    w->committed = -1;
    w->end = -1;
    return w;
}

struct owner_ctx {
    struct rows *rows;
    const struct ed_kc_group_member *m;
};

static void note_owner(void *arg, ed_kstr topic, int32_t partition)
{
    struct owner_ctx *o = arg;
    struct row *r = row_get(o->rows, topic, partition);
    if (r) r->owner = o->m;
}

static int cmp_rows(const void *x, const void *y)
{
    const struct row *a = x, *b = y;
    int c = strcmp(a->topic, b->topic);
    return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static void fill_ends(ed_kclient *c, struct rows *rows)
{
    if (rows->n == 0) return;
    struct ed_kc_list_part *lp = ed_calloc((size_t)rows->n, sizeof *lp);
    if (!lp) return;
    for (int i = 0; i < rows->n; i++)
        lp[i] = (struct ed_kc_list_part){rows->v[i].topic, rows->v[i].partition, ED_KC_LATEST};
    struct ed_kc_list_offsets lo;
    if (ed_kclient_list_offsets(c, lp, rows->n, &lo) == ED_OK) {
        for (int32_t i = 0; i < lo.n; i++) {
            if (lo.parts[i].error) continue;
            for (int k = 0; k < rows->n; k++)
                if (rows->v[k].partition == lo.parts[i].partition &&
                    kis(lo.parts[i].topic, rows->v[k].topic))
                    rows->v[k].end = lo.parts[i].offset;
        }
        ed_kc_free(&lo.mem);
    }
    ed_free(lp);
}

static int describe_one(ed_kclient *c, ed_kclient *k, const char *group)
{
    const char *names[1] = {group};
    struct ed_kc_describe_groups_req q = {1, names, false};
    struct ed_kc_describe_groups d;
    if (ed_kclient_describe_groups(k, &q, &d) != ED_OK) {
        fprintf(stderr, "eddy groups describe: %s\n", ed_kclient_last_error(k));
        return 1;
    }
    struct ed_kc_offset_fetch of;
    memset(&of, 0, sizeof of);
    struct ed_kc_fetch_group fg = {group, -1, NULL};
    int rc = 0;
    struct rows rows = {0};
    if (d.n != 1 || d.groups[0].error) {
        ed_cli_kerr(stderr, CMD, "cannot describe the group", d.n ? d.groups[0].error : -1,
                    (ed_kstr){NULL, -1});
        rc = 1;
        goto out;
    }
    const struct ed_kc_described_group *g = &d.groups[0];
    if (kis(g->state, "Dead")) {
        fprintf(stderr, "eddy groups: consumer group '%s' does not exist.\n", group);
        rc = 1;
        goto out;
    }
    if (ed_kclient_offset_fetch(k, &fg, 1, &of) != ED_OK) {
        fprintf(stderr, "eddy groups describe: %s\n", ed_kclient_last_error(k));
        rc = 1;
        goto out;
    }
    for (int32_t gi = 0; gi < of.n_groups; gi++)
        for (int32_t i = 0; i < of.groups[gi].n; i++) {
            const struct ed_kc_committed *p = &of.groups[gi].parts[i];
            struct row *r = row_get(&rows, p->topic, p->partition);
            if (r && p->offset >= 0) r->committed = p->offset;
        }
    bool consumer = kis(g->protocol_type, "consumer");
    for (int32_t i = 0; consumer && i < g->n_members; i++) {
        struct owner_ctx o = {&rows, &g->members[i]};
        ed_kc_consumer_assignment_each(g->members[i].assignment.p, g->members[i].assignment.len,
                                       note_owner, &o);
    }
    fill_ends(c, &rows);
    if (rows.n > 1) qsort(rows.v, (size_t)rows.n, sizeof *rows.v, cmp_rows);
    printf("Group %s: %.*s, protocol %.*s, %d member%s\n\n", group, (int)g->state.len, g->state.p,
           g->protocol.len > 0 ? (int)g->protocol.len : 1,
           g->protocol.len > 0 ? g->protocol.p : "-", (int)g->n_members,
           g->n_members == 1 ? "" : "s");
    printf("%-24s %-24s %9s %15s %15s %8s %-40s %-16s %s\n", "GROUP", "TOPIC", "PARTITION",
           "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID");
    for (int i = 0; i < rows.n; i++) {
        const struct row *r = &rows.v[i];
        char cur[24] = "-", end[24] = "-", lag[24] = "-";
        if (r->committed >= 0) snprintf(cur, sizeof cur, "%" PRId64, r->committed);
        if (r->end >= 0) snprintf(end, sizeof end, "%" PRId64, r->end);
        if (r->committed >= 0 && r->end >= 0)
            snprintf(lag, sizeof lag, "%" PRId64, ED_MAX(r->end - r->committed, 0));
        const struct ed_kc_group_member *m = r->owner;
        printf("%-24s %-24s %9d %15s %15s %8s %-40.*s %-16.*s %.*s\n", group, r->topic,
               (int)r->partition, cur, end, lag, m ? (int)m->member_id.len : 1,
               m ? m->member_id.p : "-", m ? (int)m->client_host.len : 1,
               m ? m->client_host.p : "-", m ? (int)m->client_id.len : 1, m ? m->client_id.p : "-");
    }
    if (g->n_members > 0 && rows.n == 0) {
        for (int32_t i = 0; i < g->n_members; i++)
            printf("member %.*s (%.*s, %.*s): nothing assigned\n", (int)g->members[i].member_id.len,
                   g->members[i].member_id.p, (int)g->members[i].client_id.len,
                   g->members[i].client_id.p, (int)g->members[i].client_host.len,
                   g->members[i].client_host.p);
    }
    printf("\n");
out:
    ed_free(rows.v);
    ed_kc_free(&of.mem);
    ed_kc_free(&d.mem);
    return rc;
}

/* Runs one at the coordinator of each --group; 1 if any failed, 2 (with a
 * line naming the subcommand) without --group. */
static int each_group(ed_kclient *c, struct args *a, const char *sub,
                      int (*one)(ed_kclient *c, ed_kclient *k, const char *group))
{
    if (a->n_groups < 1) {
        fprintf(stderr, "eddy groups %s: give --group\n", sub);
        return 2;
    }
    if (!c) return 0;
    int rc = 0;
    for (int i = 0; i < a->n_groups; i++) {
        ed_kclient *k = coordinator(c, a, a->groups[i]);
        if (!k || one(c, k, a->groups[i])) rc = 1;
        if (k) done_with(c, k);
    }
    return rc;
}

static int do_describe(ed_kclient *c, void *arg)
{
    struct args *a = arg;
    return each_group(c, a, "describe", describe_one);
}

/* ---- reset-offsets ---- */

struct target {
    char topic[250];
    int32_t partition;
    int64_t offset;
};

/* The (topic, partition) pairs named by --topic / --all-topics. */
static int collect_parts(ed_kclient *c, ed_kclient *k, struct args *a, const char *group,
                         struct target **out, int *n_out)
{
    struct target *t = NULL;
    int n = 0, cap = 0;
#define PUSH(tp, p)                                                                                \
    do {                                                                                           \
        if (n == cap) {                                                                            \
            cap = cap ? cap * 2 : 32;                                                              \
            struct target *x = ed_realloc(t, (size_t)cap * sizeof *x);                             \
            if (!x) {                                                                              \
                ed_free(t);                                                                        \
                return 1;                                                                          \
            }                                                                                      \
            t = x;                                                                                 \
        }                                                                                          \
        snprintf(t[n].topic, sizeof t[n].topic, "%s", (tp));                                       \
        t[n].partition = (p);                                                                      \
        t[n].offset = -1;                                                                          \
        n++;                                                                                       \
    } while (0)
    if (a->all_topics) {
        struct ed_kc_fetch_group fg = {group, -1, NULL};
        struct ed_kc_offset_fetch of;
        if (ed_kclient_offset_fetch(k, &fg, 1, &of) != ED_OK) {
            fprintf(stderr, "eddy groups reset-offsets: %s\n", ed_kclient_last_error(k));
            return 1;
        }
        for (int32_t gi = 0; gi < of.n_groups; gi++)
            for (int32_t i = 0; i < of.groups[gi].n; i++) {
                char name[250];
                snprintf(name, sizeof name, "%.*s", (int)of.groups[gi].parts[i].topic.len,
                         of.groups[gi].parts[i].topic.p);
                PUSH(name, of.groups[gi].parts[i].partition);
            }
        ed_kc_free(&of.mem);
    }
    for (int i = 0; i < a->n_topics; i++) {
        char name[250];
        snprintf(name, sizeof name, "%s", a->topics[i]);
        char *colon = strchr(name, ':');
        if (colon) {
            *colon = '\0';
            for (char *p = colon + 1; *p;) {
                char *end;
                long v = strtol(p, &end, 10);
                if (end == p || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
                    fprintf(stderr, "eddy groups: bad partition list in --topic %s\n",
                            a->topics[i]);
                    ed_free(t);
                    return 2;
                }
                PUSH(name, (int32_t)v);
                p = *end ? end + 1 : end;
            }
            continue;
        }
        const char *names[1] = {name};
        struct ed_kc_metadata md;
        if (ed_kclient_metadata(c, names, 1, false, &md) != ED_OK) {
            fprintf(stderr, "eddy groups reset-offsets: %s\n", ed_kclient_last_error(c));
            ed_free(t);
            return 1;
        }
        int rc = 0;
        if (md.n_topics != 1 || md.topics[0].error) {
            fprintf(stderr, "eddy groups: topic '%s' does not exist\n", name);
            rc = 1;
        } else {
            for (int32_t p = 0; p < md.topics[0].n_partitions; p++)
                PUSH(name, md.topics[0].partitions[p].index);
        }
        ed_kc_free(&md.mem);
        if (rc) {
            ed_free(t);
            return rc;
        }
    }
#undef PUSH
    *out = t;
    *n_out = n;
    return 0;
}

/* ListOffsets of every target at ts (earliest, latest or a time). */
static int list_at(ed_kclient *c, struct target *t, int n, int64_t ts, int64_t *res)
{
    struct ed_kc_list_part *lp = ed_calloc((size_t)n, sizeof *lp);
    if (!lp) return 1;
    /* ListOffsets wants one topic's partitions adjacent: targets are sorted */
    for (int i = 0; i < n; i++) {
        lp[i] = (struct ed_kc_list_part){t[i].topic, t[i].partition, ts};
        res[i] = -2;
    }
    struct ed_kc_list_offsets lo;
    int rc = ed_kclient_list_offsets(c, lp, n, &lo);
    ed_free(lp);
    if (rc != ED_OK) {
        fprintf(stderr, "eddy groups reset-offsets: %s\n", ed_kclient_last_error(c));
        return 1;
    }
    for (int32_t i = 0; i < lo.n; i++)
        for (int k = 0; k < n; k++)
            if (t[k].partition == lo.parts[i].partition && kis(lo.parts[i].topic, t[k].topic))
                res[k] = lo.parts[i].error ? -2 : lo.parts[i].offset;
    ed_kc_free(&lo.mem);
    for (int k = 0; k < n; k++)
        if (res[k] == -2) {
            fprintf(stderr, "eddy groups: no offsets for %s-%d\n", t[k].topic, (int)t[k].partition);
            return 1;
        }
    return 0;
}

static int cmp_targets(const void *x, const void *y)
{
    const struct target *a = x, *b = y;
    int c = strcmp(a->topic, b->topic);
    return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static int reset_one(ed_kclient *c, ed_kclient *k, struct args *a, const char *group)
{
    struct target *t = NULL;
    int n = 0;
    int rc = collect_parts(c, k, a, group, &t, &n);
    if (rc) return rc;
    if (n == 0) {
        fprintf(stderr, "eddy groups reset-offsets: no partitions to reset in group '%s'\n", group);
        ed_free(t);
        return 1;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_targets);
    int64_t *lo = ed_calloc((size_t)n, sizeof *lo), *hi = ed_calloc((size_t)n, sizeof *hi);
    rc = !lo || !hi;
    if (!rc) rc = list_at(c, t, n, ED_KC_EARLIEST, lo);
    if (!rc) rc = list_at(c, t, n, ED_KC_LATEST, hi);
    if (!rc && a->to_datetime) {
        int64_t ts;
        if (!ed_timefmt_parse(a->to_datetime, &ts)) {
            fprintf(stderr,
                    "eddy groups: --to-datetime wants YYYY-MM-DDTHH:MM:SS[.sss][Z|+hh:mm]\n");
            rc = 2;
        } else {
            int64_t *at = ed_calloc((size_t)n, sizeof *at);
            rc = at ? list_at(c, t, n, ts, at) : 1;
            for (int i = 0; !rc && i < n; i++)
                t[i].offset = at[i] >= 0 ? at[i] : hi[i]; /* nothing that late: the end */
            ed_free(at);
        }
    } else if (!rc && a->shift_by) {
        int64_t by;
        struct ed_kc_fetch_group fg = {group, -1, NULL};
        struct ed_kc_offset_fetch of;
        if (!ed_cli_int(CMD, "--shift-by", a->shift_by, INT64_MIN / 2, INT64_MAX / 2, &by)) {
            rc = 2;
        } else if (ed_kclient_offset_fetch(k, &fg, 1, &of) != ED_OK) {
            fprintf(stderr, "eddy groups reset-offsets: %s\n", ed_kclient_last_error(k));
            rc = 1;
        } else {
            for (int i = 0; i < n; i++) {
                int64_t cur = hi[i];
                for (int32_t gi = 0; gi < of.n_groups; gi++)
                    for (int32_t p = 0; p < of.groups[gi].n; p++)
                        if (of.groups[gi].parts[p].partition == t[i].partition &&
                            kis(of.groups[gi].parts[p].topic, t[i].topic) &&
                            of.groups[gi].parts[p].offset >= 0)
                            cur = of.groups[gi].parts[p].offset;
                t[i].offset = cur + by;
            }
            ed_kc_free(&of.mem);
        }
    } else if (!rc) {
        int64_t to = -1;
        if (a->to_offset && !ed_cli_int(CMD, "--to-offset", a->to_offset, 0, INT64_MAX, &to))
            rc = 2;
        for (int i = 0; !rc && i < n; i++)
            t[i].offset = a->to_earliest ? lo[i] : a->to_latest ? hi[i] : to;
    }
    /* like Kafka's tool: offsets outside the log are clamped to it */
    for (int i = 0; !rc && i < n; i++)
        t[i].offset = ED_MIN(ED_MAX(t[i].offset, lo[i]), hi[i]);
    if (!rc) {
        printf("%-24s %-24s %9s %15s\n", "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET");
        for (int i = 0; i < n; i++)
            printf("%-24s %-24s %9d %15" PRId64 "\n", group, t[i].topic, (int)t[i].partition,
                   t[i].offset);
    }
    if (!rc && a->execute) {
        struct ed_kc_commit_part *cp = ed_calloc((size_t)n, sizeof *cp);
        struct ed_kc_part_errors res;
        rc = !cp;
        for (int i = 0; !rc && i < n; i++)
            cp[i] = (struct ed_kc_commit_part){t[i].topic, t[i].partition, t[i].offset, -1, ""};
        struct ed_kc_commit_req q = {group, -1, "", NULL, n, cp};
        if (!rc && ed_kclient_offset_commit(k, &q, &res) != ED_OK) {
            fprintf(stderr, "eddy groups reset-offsets: %s\n", ed_kclient_last_error(k));
            rc = 1;
        } else if (!rc) {
            for (int32_t i = 0; i < res.n; i++) {
                if (!res.parts[i].error) continue;
                if (res.parts[i].error == 25 || res.parts[i].error == 27) {
                    fprintf(stderr, "eddy groups: group '%s' has active members: stop them first\n",
                            group);
                    rc = 1;
                    break;
                }
                char what[300];
                snprintf(what, sizeof what, "cannot commit %.*s-%d", (int)res.parts[i].topic.len,
                         res.parts[i].topic.p, (int)res.parts[i].partition);
                ed_cli_kerr(stderr, CMD, what, res.parts[i].error, (ed_kstr){NULL, -1});
                rc = 1;
            }
            ed_kc_free(&res.mem);
        }
        ed_free(cp);
    } else if (!rc) {
        printf("(dry run: add --execute to commit these offsets)\n");
    }
    ed_free(lo);
    ed_free(hi);
    ed_free(t);
    return rc;
}

static int do_reset(ed_kclient *c, void *arg)
{
    struct args *a = arg;
    int n_how = a->to_earliest + a->to_latest + (a->to_offset != NULL) + (a->shift_by != NULL) +
                (a->to_datetime != NULL);
    if (a->n_groups != 1 || n_how != 1 || (a->n_topics == 0 && !a->all_topics)) {
        fprintf(stderr, "eddy groups reset-offsets: give one --group, --topic or --all-topics, "
                        "and one of --to-earliest, --to-latest, --to-offset, --shift-by, "
                        "--to-datetime\n");
        return 2;
    }
    int64_t ts;
    if (a->to_datetime && !ed_timefmt_parse(a->to_datetime, &ts)) {
        fprintf(stderr, "eddy groups: --to-datetime wants YYYY-MM-DDTHH:MM:SS[.sss][Z|+hh:mm]\n");
        return 2;
    }
    if (!c) return 0;
    ed_kclient *k = coordinator(c, a, a->groups[0]);
    if (!k) return 1;
    int rc = reset_one(c, k, a, a->groups[0]);
    done_with(c, k);
    return rc;
}

/* ---- delete ---- */

static int delete_one(ed_kclient *c, ed_kclient *k, const char *group)
{
    ED_UNUSED(c);
    const char *names[1] = {group};
    struct ed_kc_names q = {1, names};
    struct ed_kc_items res;
    if (ed_kclient_delete_groups(k, &q, &res) != ED_OK) {
        fprintf(stderr, "eddy groups delete: %s\n", ed_kclient_last_error(k));
        return 1;
    }
    int rc = 0;
    if (res.n != 1 || res.items[0].error) {
        char what[300];
        snprintf(what, sizeof what, "cannot delete group '%s'", group);
        if (res.n == 1 && res.items[0].error == 68)
            fprintf(stderr, "eddy groups: group '%s' has active members: stop them first\n", group);
        else
            ed_cli_kerr(stderr, CMD, what, res.n ? res.items[0].error : -1, (ed_kstr){NULL, -1});
        rc = 1;
    } else {
        printf("Deleted group %s.\n", group);
    }
    ed_kc_free(&res.mem);
    return rc;
}

static int do_delete(ed_kclient *c, void *arg)
{
    struct args *a = arg;
    return each_group(c, a, "delete", delete_one);
}

int ed_cmd_groups(int argc, char **argv)
{
    struct args a;
    memset(&a, 0, sizeof a);
    const struct ed_cli_opt opts[] = {
        {"bootstrap-server", 'b', true, &a.bootstrap, NULL, NULL, NULL},
        {"group", 'g', true, NULL, NULL, a.groups, &a.n_groups},
        {"topic", 't', true, NULL, NULL, a.topics, &a.n_topics},
        {"state", 0, false, NULL, &a.state, NULL, NULL},
        {"all-topics", 0, false, NULL, &a.all_topics, NULL, NULL},
        {"to-earliest", 0, false, NULL, &a.to_earliest, NULL, NULL},
        {"to-latest", 0, false, NULL, &a.to_latest, NULL, NULL},
        {"to-offset", 0, true, &a.to_offset, NULL, NULL, NULL},
        {"shift-by", 0, true, &a.shift_by, NULL, NULL, NULL},
        {"to-datetime", 0, true, &a.to_datetime, NULL, NULL, NULL},
        {"execute", 0, false, NULL, &a.execute, NULL, NULL},
        {"timeout", 0, true, &a.timeout, NULL, NULL, NULL},
        {"help", 'h', false, NULL, &a.help, NULL, NULL},
    };
    const char *pos[ED_CLI_MAX_MULTI];
    int n_pos = 0;
    if (!ed_cli_parse(CMD, argc, argv, 1, opts, (int)ED_ARRAY_LEN(opts), pos, ED_CLI_MAX_MULTI,
                      &n_pos))
        return 2;
    int st = ed_cli_usage(a.help, n_pos < 1, usage_text);
    if (st >= 0) return st;
    /* `eddy groups list --state Stable`: a state after --state */
    if (strcmp(pos[0], "list") == 0) {
        for (int i = 1; i < n_pos; i++)
            a.states[a.n_states++] = pos[i];
        if (a.n_states) a.state = true;
    } else {
        /* `eddy groups describe NAME...` works too */
        for (int i = 1; i < n_pos && a.n_groups < ED_CLI_MAX_MULTI; i++)
            a.groups[a.n_groups++] = pos[i];
    }
    static const struct ed_cli_action actions[] = {{"list", do_list},
                                                   {"describe", do_describe},
                                                   {"reset-offsets", do_reset},
                                                   {"delete", do_delete}};
    return ed_cli_dispatch(CMD, pos[0], actions, (int)ED_ARRAY_LEN(actions), a.bootstrap, a.timeout,
                           &a);
}
