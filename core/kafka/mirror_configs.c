/* The mirror's check of the upstream topics' timestamp settings, the
 * DescribeConfigs step after Metadata: a topic with
 * message.timestamp.type=LogAppendTime is refused (the broker would
 * replace the records' CreateTime), and a message.timestamp.before.max.ms
 * (or difference.max.ms) below the age of the backlog is reported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "mirror"
#include "platform/log.h"
#include "core/kafka/mirror_int.h"

static const char *const ts_keys[] = {"message.timestamp.type", "message.timestamp.before.max.ms",
                                      "message.timestamp.difference.max.ms"};

void ed_mirror_enc_configs(ed_kwr *w, int16_t ver, const void *arg)
{
    const ed_mirror *m = arg;
    struct ed_kc_describe_resource res[256];
    int n = 0;
    for (int i = 0; i < m->n_ut && n < 256; i++)
        if (i != m->ck_ut && m->ut[i].n_parts)
            res[n++] = (struct ed_kc_describe_resource){2, m->ut[i].name, 3, ts_keys};
    ed_kc_enc_describe_configs(w, ver, res, n, false, false);
}

/* The oldest unmirrored record of the partitions copied to upstream topic
 * ui, as an age in ms. */
static int64_t topic_backlog_age(ed_mirror *m, int ui)
{
    int64_t age = 0;
    for (int i = 0; i < m->n_mp; i++)
        if (m->mp[i].ut == ui) age = ED_MAX(age, ed_mirror_backlog_age_ms(m, &m->mp[i]));
    return age;
}

/* One topic's settings: LogAppendTime would replace the records'
 * CreateTime, so the topic is refused; a timestamp window smaller than the
 * backlog's age would make the broker reject its oldest records: said. */
static void check_ts_configs(ed_mirror *m, int ui, const struct ed_kc_config_resource *r)
{
    struct utopic *u = &m->ut[ui];
    bool was = u->refused;
    u->refused = false;
    int64_t before_max = -1;
    const char *which = NULL;
    for (int32_t k = 0; k < r->n_configs; k++) {
        const struct ed_kc_config_entry *e = &r->configs[k];
        char name[64], value[64];
        if (!ed_kstr_copy(e->name, name, sizeof name) ||
            !ed_kstr_copy(e->value, value, sizeof value))
            continue;
        if (strcmp(name, ts_keys[0]) == 0) {
            u->refused = strcmp(value, "LogAppendTime") == 0;
        } else if ((strcmp(name, ts_keys[1]) == 0 || (!which && strcmp(name, ts_keys[2]) == 0))) {
            before_max = strtoll(value, NULL, 10);
            which = strcmp(name, ts_keys[1]) == 0 ? ts_keys[1] : ts_keys[2];
        }
    }
    if (u->refused) {
        if (!was)
            ED_LOG_ERR("upstream topic %s has message.timestamp.type=LogAppendTime: the broker "
                       "would replace the records' CreateTime; not mirrored",
                       u->name);
        snprintf(m->topic_problem, sizeof m->topic_problem,
                 "upstream topic %s has message.timestamp.type=LogAppendTime (the broker would "
                 "replace the records' CreateTime): not mirrored; set it to CreateTime",
                 u->name);
        return;
    }
    int64_t age = topic_backlog_age(m, ui);
    if (which && before_max >= 0 && age > before_max) {
        char what[128];
        snprintf(what, sizeof what, "%s=%lld is below the age of the backlog (%lld ms)", which,
                 (long long)before_max, (long long)age);
        ED_LOG_WARN("upstream topic %s: %s: the broker will reject its oldest records "
                    "(INVALID_TIMESTAMP)",
                    u->name, what);
        snprintf(m->topic_problem, sizeof m->topic_problem,
                 "upstream topic %s: %s: the broker will reject its oldest records", u->name, what);
    }
}

void ed_mirror_on_configs(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ED_UNUSED(key);
    ed_mirror *m = arg;
    if (m->phase != P_CONFIGS) return;
    struct ed_kc_describe_configs dc;
    memset(&dc, 0, sizeof dc);
    if (ed_kc_dec_describe_configs(r, ver, &dc) != ED_OK) {
        ed_kc_free(&dc.mem);
        ed_mirror_restart(m, "malformed DescribeConfigs response");
        return;
    }
    m->topic_problem[0] = 0;
    for (int32_t i = 0; i < dc.n; i++) {
        const struct ed_kc_config_resource *res = &dc.resources[i];
        char name[ED_TOPIC_NAME_MAX + 1];
        int ui = ed_kstr_copy(res->name, name, sizeof name) ? ed_mirror_find_ut(m, name) : -1;
        if (ui < 0) continue;
        if (res->error) { /* not allowed to look: nothing is checked */
            ED_LOG_WARN_RL("cannot read the settings of upstream topic %s: %s", name,
                           ed_kc_errname(res->error));
            continue;
        }
        check_ts_configs(m, ui, res);
    }
    ed_kc_free(&dc.mem);
    m->phase = P_COORD;
    ed_mirror_step(m);
}
