/* The broker object: start-up and shutdown order (see broker.h).
 *
 * Order matters in both directions. At open: the storage before the
 * registry that lists its logs, the registry before the producer state and
 * groups that read internal topics, the loop wake-up before any flush can
 * complete. At close: services first (the Kafka server cancels parked group
 * requests, MQTT lets go of its durable waits), then the groups, the
 * producer state, the budget every listener charged, the registry, and the
 * storage last, which flushes everything. */
#define ED_LOG_MODULE "broker"
#include "core/broker.h"
#include "core/group.h"
#include "core/pidstate.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

#define MAX_SERVICES 8
#define MAX_BOUND    32

struct ed_broker_own {
    struct ed_storage_config sc;
    ed_wakeup *wake;
    ed_timer tick;
    ed_timer watchdog;
    uint64_t watchdog_ms;
    struct ed_broker_service svc[MAX_SERVICES];
    int n_svc;
    char bound[MAX_BOUND][300];
    int n_bound;
    bool stopping;
};

/* ---- storage plumbing: completions from the flusher thread ---- */

static void storage_notify(void *arg)
{
    ed_plat_wakeup_signal(arg); /* any thread */
}

static void on_wake(void *arg)
{
    ed_broker *b = arg;
    ed_storage_run_completions(b->storage);
}

static void on_tick(ed_timer *t, void *arg)
{
    ed_broker *b = arg;
    ed_storage_run_completions(b->storage); /* belt and braces: see log.h */
    uint32_t next = ed_storage_tick(b->storage, ed_plat_clock_wall_ms());
    ed_plat_timer_start(b->loop, t, ED_MAX(next, 1u), on_tick, b);
}

/* systemd's watchdog: alive as long as the loop turns. */
static void on_watchdog(ed_timer *t, void *arg)
{
    ed_broker *b = arg;
    ed_plat_notify("WATCHDOG=1");
    ed_plat_timer_start(b->loop, t, (uint32_t)ED_MAX(b->own->watchdog_ms / 2, 1), on_watchdog, b);
}

static void on_signal(void *arg)
{
    ed_broker_shutdown(arg);
}

/* ---- open and close ---- */

int ed_broker_open(const struct ed_config *cfg, ed_broker **out, char *why, size_t why_len)
{
    ed_broker *b = ed_calloc(1, sizeof *b);
    struct ed_broker_own *o = ed_calloc(1, sizeof *o);
    if (!b || !o) {
        ed_free(b);
        ed_free(o);
        snprintf(why, why_len, "out of memory");
        return ED_ERR_NOMEM;
    }
    b->own = o;
    b->cfg = cfg;
    ed_config_storage(cfg, &o->sc);
    const char *dir = o->sc.dir;
    int rc = ed_plat_loop_new(&b->loop);
    if (rc != ED_OK) {
        snprintf(why, why_len, "cannot start the event loop: %s", ed_strerror(rc));
        goto fail;
    }
    rc = ed_storage_open(&o->sc, &b->storage);
    if (rc != ED_OK) {
        snprintf(why, why_len, "cannot open the data directory %s: %s", dir, ed_strerror(rc));
        goto fail;
    }
    b->node_id = (int32_t)ed_config_int(cfg, "node.id");
    rc = ed_topics_meta_properties(dir, b->node_id, b->cluster_id);
    if (rc != ED_OK) {
        snprintf(why, why_len, "%s/meta.properties: %s", dir, ed_strerror(rc));
        goto fail;
    }
    rc = ed_topics_open_dir(b->storage, dir, &o->sc.log, &b->topics);
    if (rc != ED_OK) {
        snprintf(why, why_len, "cannot open the topic registry in %s: %s", dir, ed_strerror(rc));
        goto fail;
    }
    ed_topics_set_broker_config(b->topics, cfg);
    ed_topics_set_loop(b->topics, b->loop); /* big creations and deletions go in steps */
    rc = ed_pids_open(dir, &b->pids);
    if (rc != ED_OK) {
        snprintf(why, why_len, "cannot open %s/%s: %s", dir, ED_PIDS_FILE, ed_strerror(rc));
        goto fail;
    }
    rc = ed_plat_wakeup_new(b->loop, on_wake, b, &o->wake);
    if (rc != ED_OK) {
        snprintf(why, why_len, "cannot make the loop's wake-up: %s", ed_strerror(rc));
        goto fail;
    }
    /* Flushes that the open started and that already finished are
     * announced by set_notify itself (a wake-up of the loop). */
    ed_storage_set_notify(b->storage, storage_notify, o->wake);
    struct ed_groups_config gc;
    ed_groups_config_from(cfg, &gc);
    rc = ed_groups_open(b, &gc, &b->groups);
    if (rc != ED_OK) {
        snprintf(why, why_len, "cannot load the consumer groups from %s: %s", dir, ed_strerror(rc));
        goto fail;
    }
    int64_t queued_max = ed_config_int(cfg, "queued.max.request.bytes");
    if (queued_max > 0) {
        rc = ed_conn_budget_new((size_t)queued_max, &b->budget);
        if (rc != ED_OK) {
            snprintf(why, why_len, "out of memory");
            goto fail;
        }
    }
    rc = ed_plat_loop_on_signal(b->loop, on_signal, b);
    if (rc != ED_OK) {
        snprintf(why, why_len, "cannot take SIGTERM: %s", ed_strerror(rc));
        goto fail;
    }
    /* the first tick (retention among others) from the loop: services
     * registered after the open, the mirror's retention hook, are in place */
    ed_plat_timer_start(b->loop, &o->tick, 0, on_tick, b);
    *out = b;
    return ED_OK;
fail:
    ed_broker_close(b);
    return rc;
}

int ed_broker_add_service(ed_broker *b, const struct ed_broker_service *svc)
{
    struct ed_broker_own *o = b->own;
    if (o->n_svc == MAX_SERVICES) {
        svc->free(svc->obj);
        return ED_ERR_TOOBIG;
    }
    o->svc[o->n_svc++] = *svc;
    return ED_OK;
}

void ed_broker_note_bound(ed_broker *b, const char *name, const char *host, uint16_t port)
{
    struct ed_broker_own *o = b->own;
    if (o->n_bound < MAX_BOUND)
        snprintf(o->bound[o->n_bound++], sizeof o->bound[0], "%s=%s:%u", name, host, port);
}

int ed_broker_n_bound(const ed_broker *b)
{
    return b->own->n_bound;
}

const char *ed_broker_bound(const ed_broker *b, int i)
{
    return b->own->bound[i];
}

int ed_broker_run(ed_broker *b)
{
    /* Pinged from the first turn of the loop on (after READY). */
    b->own->watchdog_ms = ed_plat_watchdog_interval_ms();
    if (b->own->watchdog_ms > 0) on_watchdog(&b->own->watchdog, b);
    return ed_plat_loop_run(b->loop);
}

void ed_broker_shutdown(ed_broker *b)
{
    struct ed_broker_own *o = b->own;
    if (o->stopping) return;
    o->stopping = true;
    ED_LOG_INFO("shutting down");
    ed_plat_notify("STOPPING=1");
    /* Stop taking work and let clients go; what was appended is flushed
     * when the storage closes. */
    for (int i = 0; i < o->n_svc; i++)
        if (o->svc[i].shutdown) o->svc[i].shutdown(o->svc[i].obj);
    ed_plat_loop_stop(b->loop);
}

void ed_broker_close(ed_broker *b)
{
    if (!b) return;
    struct ed_broker_own *o = b->own;
    if (b->loop) {
        ed_plat_timer_stop(b->loop, &o->tick);
        ed_plat_timer_stop(b->loop, &o->watchdog);
    }
    while (o->n_svc > 0) {
        struct ed_broker_service *s = &o->svc[--o->n_svc];
        s->free(s->obj);
    }
    ed_groups_close(b->groups);
    ed_pids_close(b->pids);
    ed_conn_budget_free(b->budget);
    ed_topics_close(b->topics);
    if (b->storage) {
        uint64_t t1 = ed_plat_clock_mono_ns();
        ed_storage_close(b->storage); /* flushes everything */
        ED_LOG_INFO("storage closed in %.1f ms", (double)(ed_plat_clock_mono_ns() - t1) / 1e6);
    }
    ed_plat_wakeup_free(o->wake);
    ed_plat_loop_free(b->loop);
    ed_free(o);
    ed_free(b);
}
