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
#include "core/metrics.h"
#include "core/pidstate.h"
#include "core/users.h"
#include "core/wear.h"
#include "core/acl.h"
#include "core/sslmap.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

#define MAX_SERVICES 8
#define MAX_BOUND    32
#define MAX_TLS      16
#define MAX_ADV      16

/* The address advertised to the clients of one listener. */
struct adv {
    char name[32];
    char host[256];
    uint16_t port;
};

/* A TLS listener, for reloading its certificates. */
struct tls_listener {
    ed_conn_set *set;
    char name[32];
    bool mqtt;      /* mqtt.ssl.* overrides apply */
    ed_sslmap *map; /* Kafka: its ssl.principal.mapping.rules; NULL: DEFAULT */
};

struct ed_broker_own {
    struct ed_storage_config sc;
    ed_wakeup *wake;
    ed_timer tick;
    ed_wear *wear; /* NULL where the platform counts no writes */
    ed_timer watchdog;
    uint64_t watchdog_ms;
    struct ed_broker_service svc[MAX_SERVICES];
    int n_svc;
    char bound[MAX_BOUND][300];
    int n_bound;
    struct tls_listener tls[MAX_TLS];
    int n_tls;
    struct adv adv[MAX_ADV];
    int n_adv;
    bool stopping;
    ed_broker_config_fn read_config; /* SIGHUP: the configuration again */
    void *read_config_arg;
};

/* ---- storage plumbing: completions from the flusher thread ---- */

/* Every flush round, for /metrics. */
static void on_flushed(void *arg, uint64_t len, uint64_t ns)
{
    ED_UNUSED(arg);
    ed_metrics_flush(len, ns);
}

static void storage_notify(void *arg)
{
    ed_plat_wakeup_signal(arg); /* any thread */
}

static void on_wake(void *arg)
{
    ed_broker *b = arg;
    ed_storage_run_completions(b->storage);
}

/* The compaction figures eddy status shows beside the bytes written. */
static void wear_probe(void *arg, struct ed_wear_status *s)
{
    ed_broker *b = arg;
    if (!b->storage) return;
    struct ed_storage_stats ss;
    ed_storage_stats_get(b->storage, &ss);
    s->run_compact_read_len = ss.len_compacted_read;
    s->run_compact_written_len = ss.len_compacted_written;
    s->run_n_compact_unchanged = ss.n_compact_unchanged;
}

static void on_tick(ed_timer *t, void *arg)
{
    ed_broker *b = arg;
    ed_storage_run_completions(b->storage); /* belt and braces: see log.h */
    uint32_t next = ed_storage_tick(b->storage, ed_plat_clock_wall_ms());
    ed_wear_tick(b->own->wear, ed_plat_clock_wall_ms());
    ed_plat_timer_start(b->loop, t, ED_MAX(next, 1u), on_tick, b);
}

/* A gathering flush is due before the tick timer fires. */
static void on_tick_request(void *arg, uint32_t in_ms)
{
    ed_broker *b = arg;
    ed_plat_timer_start(b->loop, &b->own->tick, ED_MAX(in_ms, 1u), on_tick, b);
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

/* SIGHUP: the listeners' certificates, then what each service takes from
 * the configuration read again; a configuration that no longer reads
 * changes nothing else. */
static void on_reload(void *arg)
{
    ed_broker *b = arg;
    struct ed_broker_own *o = b->own;
    ed_broker_tls_reload(b);
    if (!o->read_config) return;
    struct ed_config *fresh = NULL;
    char why[512];
    if (o->read_config(o->read_config_arg, &fresh, why, sizeof why) != ED_OK) {
        ED_LOG_ERR("SIGHUP: configuration not reloaded: %s", why);
        return;
    }
    for (int i = 0; i < o->n_svc; i++)
        if (o->svc[i].reload) o->svc[i].reload(o->svc[i].obj, fresh);
    ed_config_free(fresh);
}

void ed_broker_set_config_reader(ed_broker *b, ed_broker_config_fn fn, void *arg)
{
    b->own->read_config = fn;
    b->own->read_config_arg = arg;
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
    ed_storage_set_flush_hook(b->storage, on_flushed, NULL);
    b->node_id = (int32_t)cfg->node_id;
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
    rc = ed_users_open(dir, &b->users);
    if (rc != ED_OK) {
        snprintf(why, why_len, "cannot open the user store %s/%s: %s", dir, ED_USERS_FILE,
                 ed_strerror(rc));
        goto fail;
    }
    if (*cfg->authorizer_class_name) {
        rc = ed_acl_open(dir, &b->acl);
        if (rc == ED_OK)
            rc = ed_acl_configure(b->acl, cfg->super_users, cfg->allow_everyone_if_no_acl_found);
        if (rc != ED_OK) {
            snprintf(why, why_len, "cannot open the ACL store %s/%s: %s", dir, ED_ACL_FILE,
                     ed_strerror(rc));
            goto fail;
        }
        ED_LOG_INFO("ACLs enforced: %zu bindings, super.users '%s', %s when no ACL is found",
                    ed_acl_count(b->acl), cfg->super_users,
                    cfg->allow_everyone_if_no_acl_found ? "allowed" : "refused");
    }
    rc = ed_plat_wakeup_new(b->loop, on_wake, b, &o->wake);
    if (rc != ED_OK) {
        snprintf(why, why_len, "cannot make the loop's wake-up: %s", ed_strerror(rc));
        goto fail;
    }
    /* Flushes that the open started and that already finished are
     * announced by set_notify itself (a wake-up of the loop). */
    ed_storage_set_notify(b->storage, storage_notify, o->wake);
    ed_storage_set_tick_request(b->storage, on_tick_request, b);
    int wrc =
        ed_wear_open(dir, (uint64_t)cfg->flash_endurance_bytes, ed_plat_clock_wall_ms(), &o->wear);
    if (wrc != ED_OK) ED_LOG_INFO("no wear figures for eddy status: %s", ed_strerror(wrc));
    ed_wear_set_probe(o->wear, wear_probe, b);
    struct ed_groups_config gc;
    ed_groups_config_from(cfg, &gc);
    rc = ed_groups_open(b, &gc, &b->groups);
    if (rc != ED_OK) {
        snprintf(why, why_len, "cannot load the consumer groups from %s: %s", dir, ed_strerror(rc));
        goto fail;
    }
    int64_t queued_max = cfg->queued_max_request_bytes;
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
    rc = ed_plat_loop_on_reload(b->loop, on_reload, b);
    if (rc != ED_OK) {
        snprintf(why, why_len, "cannot take SIGHUP: %s", ed_strerror(rc));
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

void *ed_broker_service_obj(const ed_broker *b, const char *name)
{
    const struct ed_broker_own *o = b->own;
    for (int i = 0; o && i < o->n_svc; i++)
        if (strcmp(o->svc[i].name, name) == 0) return o->svc[i].obj;
    return NULL;
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
    for (int i = 0; i < o->n_tls; i++)
        ed_sslmap_free(o->tls[i].map);
    ed_groups_close(b->groups);
    ed_pids_close(b->pids);
    ed_users_close(b->users);
    ed_acl_close(b->acl);
    ed_conn_budget_free(b->budget);
    ed_topics_close(b->topics);
    ed_wear_close(o->wear, ed_plat_clock_wall_ms());
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

/* ---- listeners ---- */

#if ED_WITH_TLS
/* An ssl.* value for a TLS listener: a Kafka listener's
 * listener.name.<name>.ssl.* when set, else the broker-wide one; for MQTT
 * listeners the mqtt.ssl.* override when set. */
static const char *ssl_value(const struct ed_config *c, const char *listener, const char *key,
                             const char *mqtt_v)
{
    if (!listener) return *mqtt_v ? mqtt_v : ed_config_str(c, key);
    return ed_config_listener_str(c, listener, key);
}

/* listener: the Kafka listener's name, NULL for MQTT's. */
static int tls_load(const ed_broker *b, const char *listener, ed_tls_conf **out, char *why,
                    size_t why_len)
{
    const struct ed_config *c = b->cfg;
    const char *auth = ssl_value(c, listener, "ssl.client.auth", c->mqtt_ssl_client_auth);
    struct ed_tls_settings st = {
        .server = true,
        .cert_file = ssl_value(c, listener, "ssl.keystore.location", c->mqtt_ssl_keystore_location),
        .cert_pem = ssl_value(c, listener, "ssl.keystore.certificate.chain", ""),
        .key_pem = ssl_value(c, listener, "ssl.keystore.key", ""),
        .ca_file =
            ssl_value(c, listener, "ssl.truststore.location", c->mqtt_ssl_truststore_location),
        .client_auth = strcmp(auth, "required") == 0    ? ED_TLS_AUTH_REQUIRED
                       : strcmp(auth, "requested") == 0 ? ED_TLS_AUTH_REQUESTED
                                                        : ED_TLS_AUTH_NONE,
    };
    if (!*st.cert_file && !*st.cert_pem) {
        snprintf(why, why_len,
                 "a TLS listener needs ssl.keystore.location (or ssl.keystore.key and "
                 "ssl.keystore.certificate.chain)");
        return ED_ERR_INVAL;
    }
    return ed_plat_tls_conf_new(&st, out, why, why_len);
}
#endif

void ed_broker_tls_reload(ed_broker *b)
{
#if ED_WITH_TLS
    struct ed_broker_own *o = b->own;
    for (int i = 0; i < o->n_tls; i++) {
        struct tls_listener *t = &o->tls[i];
        ed_tls_conf *conf;
        char why[256];
        if (tls_load(b, t->mqtt ? NULL : t->name, &conf, why, sizeof why) != ED_OK) {
            ED_LOG_ERR("listener %s keeps its certificates: %s", t->name, why);
            continue;
        }
        ed_conn_set_tls_swap(t->set, t->name, conf);
        ed_plat_tls_conf_unref(conf);
        ED_LOG_INFO("listener %s: certificates reloaded (new connections use them)", t->name);
    }
#else
    ED_UNUSED(b);
#endif
}

const char *ed_broker_listen_host(const struct ed_listeners_spec *l)
{
    return ed_listeners_any(l->host) ? (*l->host ? l->host : "0.0.0.0") : l->host;
}

int ed_broker_check_public(const ed_broker *b, const char *what, const struct ed_listeners_spec *l,
                           char *why, size_t why_len)
{
    const char *host = ed_broker_listen_host(l);
    if (l->sec != ED_SEC_PLAINTEXT || ed_listeners_loopback(host)) return ED_OK;
    if (!b->cfg->allow_plaintext_on_public_listeners) {
        snprintf(why, why_len,
                 "%s listener %s://%s:%u would serve anyone on the network without "
                 "authentication: bind it to 127.0.0.1, use a TLS listener, or set "
                 "allow.plaintext.on.public.listeners=true",
                 what, l->name, host, l->port);
        return ED_ERR_PERM;
    }
    ED_LOG_WARN("%s listener %s://%s:%u serves anyone on the network without "
                "authentication (allow.plaintext.on.public.listeners=true)",
                what, l->name, host, l->port);
    return ED_OK;
}

int ed_broker_listen(ed_broker *b, ed_conn_set *set, const char *what,
                     const struct ed_listeners_spec *ls, int n, bool mqtt, uint16_t *bound,
                     char *why, size_t why_len)
{
#if ED_WITH_TLS
    struct ed_broker_own *o = b->own;
#else
    ED_UNUSED(mqtt);
#endif
    for (int i = 0; i < n; i++) {
        const struct ed_listeners_spec *l = &ls[i];
        bound[i] = 0;
        if (l->sec == ED_SEC_CONTROLLER) {
            ED_LOG_WARN("skipping listener %s://%s:%u (Eddy has no controller quorum)", l->name,
                        l->host, l->port);
            continue;
        }
        const char *host = ed_broker_listen_host(l);
        int prc = ed_broker_check_public(b, what, l, why, why_len);
        if (prc != ED_OK) return prc;
        struct ed_conn_listen how = {host, l->port, l->name, NULL, ed_listeners_sasl(l->sec)};
        if (ed_listeners_tls(l->sec)) {
#if ED_WITH_TLS
            if (o->n_tls == MAX_TLS) {
                snprintf(why, why_len, "too many TLS listeners");
                return ED_ERR_TOOBIG;
            }
            char inner[256];
            int rc = tls_load(b, mqtt ? NULL : l->name, &how.tls, inner, sizeof inner);
            if (rc != ED_OK) {
                snprintf(why, why_len, "%s listener %s: %s", what, l->name, inner);
                return rc;
            }
            struct tls_listener *t = &o->tls[o->n_tls++];
            t->set = set;
            t->mqtt = mqtt;
            t->map = NULL;
            snprintf(t->name, sizeof t->name, "%s", l->name);
            const char *rules =
                ed_config_listener_str(b->cfg, l->name, "ssl.principal.mapping.rules");
            rc = mqtt ? ED_OK : ed_sslmap_new(rules, &t->map, inner, sizeof inner);
            if (rc != ED_OK) { /* checked with the config: only out of memory */
                ed_plat_tls_conf_unref(how.tls);
                snprintf(why, why_len, "%s listener %s: ssl.principal.mapping.rules: %s", what,
                         l->name, inner);
                return rc;
            }
            if (t->map && ed_sslmap_is_default(t->map)) {
                ed_sslmap_free(t->map);
                t->map = NULL;
            }
#else
            snprintf(why, why_len, "%s listener %s: this eddy was built without TLS (WITH_TLS=0)",
                     what, l->name);
            return ED_ERR_UNSUPPORTED;
#endif
        }
        int rc = ed_conn_set_listen_on(set, &how, &bound[i]);
#if ED_WITH_TLS
        ed_plat_tls_conf_unref(how.tls); /* the set holds its own reference */
#endif
        if (rc != ED_OK) {
            snprintf(why, why_len, "cannot listen on %s:%u (%s %s): %s", host, l->port, what,
                     l->name, ed_strerror(rc));
            return rc;
        }
        /* "(PLAINTEXT)", "(EDGE, SSL)", "(MQTT)", "(MQTT, TLS)" */
        const char *sec = ed_listeners_sec_name(l->sec);
        if (mqtt)
            ED_LOG_INFO("listening on %s:%u (MQTT%s)", host, bound[i],
                        ed_listeners_tls(l->sec) ? ", TLS" : "");
        else if (strcmp(l->name, sec) == 0)
            ED_LOG_INFO("listening on %s:%u (%s)", host, bound[i], l->name);
        else
            ED_LOG_INFO("listening on %s:%u (%s, %s)", host, bound[i], l->name, sec);
        ed_broker_note_bound(b, l->name, host, bound[i]);
    }
    return ED_OK;
}

void ed_broker_advertise(ed_broker *b, const char *name, const char *host, uint16_t port)
{
    struct ed_broker_own *o = b->own;
    if (o->n_adv == MAX_ADV) return;
    struct adv *a = &o->adv[o->n_adv++];
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->host, sizeof a->host, "%s", host);
    a->port = port;
}

static const struct adv *adv_of(const ed_broker *b, const char *name)
{
    if (!b->own || !name) return NULL;
    for (int i = 0; i < b->own->n_adv; i++)
        if (strcmp(b->own->adv[i].name, name) == 0) return &b->own->adv[i];
    return NULL;
}

const char *ed_broker_adv_host(const ed_broker *b, const char *name)
{
    const struct adv *a = adv_of(b, name);
    return a ? a->host : b->adv_host;
}

uint16_t ed_broker_adv_port(const ed_broker *b, const char *name)
{
    const struct adv *a = adv_of(b, name);
    return a ? a->port : b->adv_port;
}

const ed_sslmap *ed_broker_sslmap(const ed_broker *b, const char *listener)
{
    const struct ed_broker_own *o = b->own;
    for (int i = 0; listener && i < o->n_tls; i++)
        if (!o->tls[i].mqtt && strcmp(o->tls[i].name, listener) == 0) return o->tls[i].map;
    return NULL;
}
